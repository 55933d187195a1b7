/*
 * test_frontend.c - the vhost-user frontend against our balloon backend.
 *
 * Each test runs a fresh server on its own thread (the vhost_user_server_run
 * loop) with one balloon socket, and drives it through the frontend module
 * alone: negotiate REPORTING, share a memfd as guest RAM, run the reporting
 * queue with the virtqueue driver half in that memfd, and check with the
 * host's own accounting (the memfd's st_blocks) that a reported range left
 * memory and reads back as zeros.  Config space goes both ways (a target
 * set by the host arrives on the backend channel).  Finally the server is
 * destroyed under a connected frontend, which must see -EPIPE on every
 * path and never SIGPIPE.
 *
 * Waits are bounded (WAIT_MS) and only for an event; nothing is timed.
 */
#ifndef _GNU_SOURCE
#define _GNU_SOURCE
#endif
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <cmocka.h>

#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <poll.h>
#include <pthread.h>
#include <signal.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/un.h>
#include <unistd.h>

#include "guest/vhost_user_frontend.h"
#include "host/balloon.h"
#include "host/vhost_user.h"
#include "virtio/vhost_user.h"
#include "virtio/virtqueue.h"

#include "stderr_capture.h"

/*
 * sendmsg() wrapped (-Wl,--wrap=sendmsg): on the thread in @enobufs_thread,
 * the next @enobufs_left calls fail with ENOBUFS, as the kernel's do when
 * the sender's memory cgroup is at its limit and the message's buffer
 * cannot be charged.
 */
ssize_t __real_sendmsg(int fd, const struct msghdr *mh, int flags);
static pthread_t enobufs_thread;
static atomic_int enobufs_left;

ssize_t __wrap_sendmsg(int fd, const struct msghdr *mh, int flags);
ssize_t __wrap_sendmsg(int fd, const struct msghdr *mh, int flags)
{
	if (atomic_load(&enobufs_left) > 0 &&
	    pthread_equal(pthread_self(), enobufs_thread) &&
	    atomic_fetch_sub(&enobufs_left, 1) > 0) {
		errno = ENOBUFS;
		return -1;
	}
	return __real_sendmsg(fd, mh, flags);
}

#define WAIT_MS 5000
#define MIB (1024u * 1024u)
#define MEM_SIZE (16u * MIB)
#define MEM_GPA (1ull << 32) /* not 0: offsets must be done right */
#define RING_AREA (1u * MIB) /* rings live in [0, RING_AREA) of RAM */
#define DATA_OFF (8u * MIB)
#define REPORT_LEN (4u * MIB)
#define QNUM 64 /* >= 32, the reporting queue's minimum */

#define F(bit) (UINT64_C(1) << (bit))
#define WANT                                                                   \
	(F(VIRTIO_F_VERSION_1) | F(VIRTIO_RING_F_EVENT_IDX) |                  \
	 F(VIRTIO_BALLOON_F_REPORTING))

struct server {
	struct vhost_user_server *srv;
	struct balloon_dev *balloon;
	char dir[64];
	char path[108];
	pthread_t thread;
	atomic_bool stop;
	/* test_stalled_reply: the loop stops for @stall_ms (set by the test,
	 * cleared by the loop), and says so in @stalled before it sleeps. */
	atomic_int stall_ms;
	atomic_bool stalled;
};

/* A process guest: its RAM, its frontend and its reporting queue. */
struct guest {
	struct vhost_user_frontend *fe;
	int memfd;
	uint8_t *mem;
	uint64_t features;
	unsigned int q;
	struct virtqueue_config cfg;
	struct virtqueue vq;
	struct virtqueue_desc_state state[QNUM];
};

static atomic_int sigpipes;

static void on_sigpipe(int sig)
{
	(void)sig;
	atomic_fetch_add(&sigpipes, 1);
}

static int count_fds(void)
{
	DIR *d = opendir("/proc/self/fd");
	struct dirent *e;
	int n = 0;

	assert_non_null(d);
	while ((e = readdir(d)))
		n += e->d_name[0] != '.';
	closedir(d);
	return n - 1; /* the DIR's own */
}

/* Wait (bounded) until the backend let go of its frontend. */
static void wait_disconnected(struct server *s)
{
	struct balloon_stats st;

	for (int i = 0; i < WAIT_MS; i++) {
		balloon_get_stats(s->balloon, &st);
		if (!st.connected)
			return;
		usleep(1000);
	}
	fail_msg("backend still connected");
}

static void *server_main(void *arg)
{
	struct server *s = arg;

	while (!atomic_load(&s->stop)) {
		int stall = atomic_exchange(&s->stall_ms, 0);

		if (stall) {
			atomic_store(&s->stalled, true);
			usleep((useconds_t)stall * 1000);
			atomic_store(&s->stalled, false);
		}
		assert_int_equal(vhost_user_server_run(s->srv, 100), 0);
	}
	return NULL;
}

static void server_stop(struct server *s)
{
	if (!s->srv)
		return;
	atomic_store(&s->stop, true);
	vhost_user_server_wake(s->srv);
	pthread_join(s->thread, NULL);
	vhost_user_server_destroy(s->srv);
	s->srv = NULL;
}

static int setup(void **state)
{
	struct server *s = calloc(1, sizeof(*s));

	/* A failed test_send_enobufs leaves none for the next. */
	atomic_store(&enobufs_left, 0);

	if (!s)
		return -1;
	snprintf(s->dir, sizeof(s->dir), "/tmp/test_frontend.XXXXXX");
	if (!mkdtemp(s->dir))
		return -1;
	snprintf(s->path, sizeof(s->path), "%s/balloon.sock", s->dir);
	s->srv = vhost_user_server_create(VHOST_USER_THREAD_ONE);
	if (!s->srv ||
	    vhost_user_server_add_balloon(s->srv, s->path, &s->balloon))
		return -1;
	balloon_set_stats_interval(s->balloon, 0);
	if (pthread_create(&s->thread, NULL, server_main, s))
		return -1;
	*state = s;
	return 0;
}

static int teardown(void **state)
{
	struct server *s = *state;

	server_stop(s);
	rmdir(s->dir);
	free(s);
	return 0;
}

static uint64_t file_bytes(int fd)
{
	struct stat st;

	assert_int_equal(fstat(fd, &st), 0);
	return (uint64_t)st.st_blocks * 512;
}

/* Connect, negotiate, share RAM, start the reporting queue. */
static struct guest *guest_start(struct server *s)
{
	struct guest *g = calloc(1, sizeof(*g));
	int q;

	assert_non_null(g);
	assert_int_equal(vhost_user_frontend_connect(s->path, &g->fe), 0);
	assert_int_equal(vhost_user_frontend_negotiate(g->fe, WANT,
						       &g->features),
			 0);
	assert_int_equal(g->features, WANT); /* all offered, bit 30 not here */
	assert_int_equal(vhost_user_frontend_negotiate(g->fe, WANT,
						       &g->features),
			 -EBUSY);
	assert_int_equal(vhost_user_frontend_protocol_features(g->fe),
			 F(VHOST_USER_PROTOCOL_F_REPLY_ACK) |
				 F(VHOST_USER_PROTOCOL_F_BACKEND_REQ) |
				 F(VHOST_USER_PROTOCOL_F_CONFIG));

	g->memfd = memfd_create("test_frontend", MFD_CLOEXEC);
	assert_true(g->memfd >= 0);
	assert_int_equal(ftruncate(g->memfd, MEM_SIZE), 0);
	g->mem = mmap(NULL, MEM_SIZE, PROT_READ | PROT_WRITE, MAP_SHARED,
		      g->memfd, 0);
	assert_true(g->mem != MAP_FAILED);
	assert_int_equal(vhost_user_frontend_set_mem(g->fe, g->memfd, g->mem,
						     MEM_GPA, MEM_SIZE),
			 0);

	/* Without STATS_VQ the reporting queue is the third. */
	q = balloon_queue_index(g->features, BALLOON_VQ_REPORTING);
	assert_int_equal(q, 2);
	g->q = (unsigned int)q;
	assert_true(vhost_user_frontend_ring_bytes(QNUM) <= RING_AREA);
	assert_int_equal(vhost_user_frontend_ring_place(&g->cfg, QNUM,
							MEM_GPA + 8, 16),
			 -EINVAL);
	assert_int_equal(vhost_user_frontend_ring_place(&g->cfg, QNUM, MEM_GPA,
							64),
			 -ENOSPC);
	assert_int_equal(vhost_user_frontend_ring_place(&g->cfg, QNUM, MEM_GPA,
							RING_AREA),
			 0);
	g->cfg.features = g->features;
	g->cfg.translate = vhost_user_frontend_translate;
	g->cfg.ctx = g->fe;
	g->cfg.state = g->state;
	assert_int_equal(virtqueue_init(&g->vq, &g->cfg), 0);
	assert_int_equal(vhost_user_frontend_queue_start(g->fe, g->q, &g->cfg),
			 0);
	assert_int_equal(vhost_user_frontend_queue_start(g->fe, g->q, &g->cfg),
			 -EBUSY);
	assert_true(vhost_user_frontend_call_fd(g->fe, g->q) >= 0);
	return g;
}

static void guest_free(struct guest *g)
{
	vhost_user_frontend_close(g->fe);
	munmap(g->mem, MEM_SIZE);
	close(g->memfd);
	free(g);
}

/* Queue one report of [gpa, gpa + len) in 4 MiB entries and kick. */
static void guest_report(struct guest *g, uint64_t off, uint64_t len)
{
	struct vring_sg sg[8];
	unsigned int n = 0;

	for (uint64_t o = 0; o < len; o += 4 * MIB, n++) {
		assert_true(n < 8);
		sg[n] = (struct vring_sg){ MEM_GPA + off + o, 4 * MIB };
	}
	assert_int_equal(virtqueue_add(&g->vq, sg, 0, n, g), 0);
	if (virtqueue_kick_prepare(&g->vq))
		assert_int_equal(vhost_user_frontend_kick(g->fe, g->q), 0);
}

static void guest_wait_used(struct guest *g)
{
	void *token;
	uint32_t len;

	assert_int_equal(vhost_user_frontend_wait_call(g->fe, g->q, WAIT_MS),
			 0);
	assert_int_equal(virtqueue_get_used(&g->vq, &token, &len), 0);
	assert_ptr_equal(token, g);
	assert_int_equal(len, 0);
}

static void test_report(void **state)
{
	struct server *s = *state;
	int fds = count_fds();
	struct balloon_stats st0, st;
	struct guest *g = guest_start(s);
	uint64_t before, after;

	/* Nothing queued: the wait ends by its timeout. */
	assert_int_equal(vhost_user_frontend_wait_call(g->fe, g->q, 10),
			 -ETIMEDOUT);
	balloon_get_stats(s->balloon, &st0);
	assert_true(st0.connected);
	assert_int_equal(st0.features & WANT, WANT);

	memset(g->mem + DATA_OFF, 0x5a, REPORT_LEN);
	before = file_bytes(g->memfd);
	guest_report(g, DATA_OFF, REPORT_LEN);
	guest_wait_used(g);
	after = file_bytes(g->memfd);
	if (before - after < REPORT_LEN)
		fail_msg("st_blocks fell by %llu of %u bytes",
			 (unsigned long long)(before - after), REPORT_LEN);
	/* Reading a hole allocates again: check the contents after. */
	for (uint64_t i = 0; i < REPORT_LEN; i++)
		if (g->mem[DATA_OFF + i])
			fail_msg("byte %llu of the report is %#x",
				 (unsigned long long)i, g->mem[DATA_OFF + i]);
	balloon_get_stats(s->balloon, &st);
	assert_int_equal(st.reports - st0.reports, 1);
	assert_int_equal(st.discarded_bytes - st0.discarded_bytes, REPORT_LEN);

	/* A second round trip over the same ring, two entries. */
	memset(g->mem + DATA_OFF, 0x11, 2 * REPORT_LEN);
	guest_report(g, DATA_OFF, 2 * REPORT_LEN);
	guest_wait_used(g);
	assert_int_equal(g->mem[DATA_OFF + REPORT_LEN], 0);

	/* Taken back: the backend resumes where the driver is. */
	{
		uint16_t base = 0xffff;

		assert_int_equal(vhost_user_frontend_queue_stop(g->fe, g->q,
								&base),
				 0);
		assert_int_equal(base, g->vq.avail_idx);
		assert_int_equal(vhost_user_frontend_kick(g->fe, g->q),
				 -EINVAL);
	}
	guest_free(g);
	wait_disconnected(s);
	/* The backend's reaper thread closes its copies, a moment later. */
	for (int i = 0; i < WAIT_MS && count_fds() != fds; i++)
		usleep(1000);
	assert_int_equal(count_fds(), fds);
}

static void test_config(void **state)
{
	struct server *s = *state;
	struct guest *g = guest_start(s);
	struct virtio_balloon_config c;
	unsigned int changes = 7;
	uint32_t v;

	assert_int_equal(vhost_user_frontend_backend_poll(g->fe, 0, &changes),
			 0);
	assert_int_equal(changes, 0);
	assert_int_equal(vhost_user_frontend_get_config(g->fe, 0, &c,
							sizeof(c)),
			 0);
	assert_int_equal(le32_to_cpu(c.num_pages), 0);

	/* The host sets a target: a config change on the backend channel. */
	assert_int_equal(balloon_set_target(s->balloon, 8), 0);
	assert_int_equal(vhost_user_frontend_backend_poll(g->fe, WAIT_MS,
							  &changes),
			 0);
	assert_int_equal(changes, 1);
	assert_int_equal(vhost_user_frontend_get_config(g->fe, 0, &v, 4), 0);
	assert_int_equal(le32_to_cpu(v), 8);

	/* The guest answers; the backend has it when set_config returns. */
	v = cpu_to_le32(8);
	assert_int_equal(vhost_user_frontend_set_config(
				 g->fe, offsetof(struct virtio_balloon_config,
						 actual),
				 &v, 4),
			 0);
	{
		struct balloon_stats st;

		balloon_get_stats(s->balloon, &st);
		assert_int_equal(st.actual, 8);
	}

	/* Refusals leave the connection usable. */
	assert_int_equal(vhost_user_frontend_get_config(g->fe, 250, &c, 16),
			 -EINVAL);
	assert_int_equal(vhost_user_frontend_get_config(g->fe, 64, &v, 4),
			 -EINVAL); /* past the balloon's 16 bytes */
	assert_int_equal(vhost_user_frontend_queue_start(g->fe, 7, &g->cfg),
			 -ERANGE); /* no such balloon queue: refused */
	assert_int_equal(vhost_user_frontend_queue_start(
				 g->fe, VHOST_USER_FRONTEND_MAX_QUEUES, &g->cfg),
			 -ERANGE);
	assert_int_equal(vhost_user_frontend_get_config(g->fe, 0, &v, 4), 0);
	assert_int_equal(le32_to_cpu(v), 8);
	guest_free(g);
}

/*
 * No kernel memory for a message for a while (ENOBUFS: a guest whose
 * memory cgroup is at its limit while the host makes room) is not the end
 * of the connection: the request goes out once there is, and the
 * connection lives on.
 */
static void test_send_enobufs(void **state)
{
	struct server *s = *state;
	struct guest *g = guest_start(s);
	uint32_t v = 0;

	assert_int_equal(balloon_set_target(s->balloon, 5), 0);
	enobufs_thread = pthread_self();
	atomic_store(&enobufs_left, 3);
	assert_int_equal(vhost_user_frontend_get_config(g->fe, 0, &v, 4), 0);
	assert_int_equal(atomic_load(&enobufs_left), 0);
	assert_int_equal(le32_to_cpu(v), 5);
	/* And the next. */
	v = cpu_to_le32(5);
	assert_int_equal(vhost_user_frontend_set_config(
				 g->fe, offsetof(struct virtio_balloon_config,
						 actual),
				 &v, 4),
			 0);
	guest_free(g);
}

static void test_connect_errors(void **state)
{
	struct server *s = *state;
	struct vhost_user_frontend *fe;
	char path[200];

	snprintf(path, sizeof(path), "%s/nobody.sock", s->dir);
	assert_int_equal(vhost_user_frontend_connect(path, &fe), -ENOENT);
	memset(path, 'x', sizeof(path) - 1);
	path[sizeof(path) - 1] = 0;
	assert_int_equal(vhost_user_frontend_connect(path, &fe),
			 -ENAMETOOLONG);
	/* Out of order. */
	assert_int_equal(vhost_user_frontend_connect(s->path, &fe), 0);
	assert_int_equal(vhost_user_frontend_set_mem(fe, 0, &fe, 0, 4096),
			 -EINVAL);
	vhost_user_frontend_close(fe);
}

static void test_dead_backend(void **state)
{
	struct server *s = *state;
	struct sigaction sa = { .sa_handler = on_sigpipe }, old;
	struct guest *g = guest_start(s);
	uint32_t v;

	/* The server ignores SIGPIPE when it starts; catch it instead, so
	 * that a send without MSG_NOSIGNAL would show. */
	sigemptyset(&sa.sa_mask);
	assert_int_equal(sigaction(SIGPIPE, &sa, &old), 0);
	atomic_store(&sigpipes, 0);

	server_stop(s);
	assert_int_equal(vhost_user_frontend_wait_call(g->fe, g->q, WAIT_MS),
			 -EPIPE);
	assert_int_equal(vhost_user_frontend_get_config(g->fe, 0, &v, 4),
			 -EPIPE);
	assert_int_equal(vhost_user_frontend_kick(g->fe, g->q), -EPIPE);
	{
		unsigned int changes;

		assert_int_equal(vhost_user_frontend_backend_poll(
					 g->fe, WAIT_MS, &changes),
				 -EPIPE);
	}
	guest_free(g);

	/* Straight to a send, with no receive first to notice the end. */
	rmdir(s->dir);
	free(s);
	assert_int_equal(setup(state), 0);
	s = *state;
	g = guest_start(s);
	server_stop(s);
	assert_int_equal(vhost_user_frontend_set_config(g->fe, 4, &v, 4),
			 -EPIPE);
	guest_free(g);

	assert_int_equal(atomic_load(&sigpipes), 0);
	assert_int_equal(sigaction(SIGPIPE, &old, NULL), 0);
}

/*
 * issue 16 #4: a backend that stalls longer than the frontend's old 5 s
 * reply timeout (a host stopped by SIGSTOP, a host busy for 6 s) used to
 * kill the connection (-ETIMEDOUT) and the guest with it.  A reply is
 * waited for as long as the connection lives: the GET_CONFIG sent while
 * the loop sleeps 6 s is answered when it wakes, and the connection goes on.
 */
static void test_stalled_reply(void **state)
{
	struct server *s = *state;
	struct guest *g = guest_start(s);
	struct stderr_capture cap;
	char text[4096];
	const char *line;
	uint32_t v = 0;

	assert_int_equal(balloon_set_target(s->balloon, 77), 0);
	/* Attack (atk-host silent_backend.sh): the wait said nothing, for
	 * ever.  Once past the quiet interval (10 s; 100 ms here, well
	 * inside the 6 s stall) it says so once and goes on waiting. */
	vhost_user_frontend_set_quiet_ms(g->fe, 100);
	stderr_capture_begin(&cap, s->dir, "stderr");
	atomic_store(&s->stall_ms, 6000);
	for (int i = 0; i < WAIT_MS && !atomic_load(&s->stalled); i++)
		usleep(1000);
	assert_true(atomic_load(&s->stalled));
	assert_int_equal(vhost_user_frontend_get_config(g->fe, 0, &v, 4), 0);
	stderr_capture_end(&cap, text, sizeof(text));
	line = strstr(text, "no reply to GET_CONFIG for 0.1 s; still waiting (the connection lives)\n");
	if (!line || strstr(line + 1, "no reply"))
		fail_msg("a 6 s stall: stderr '%s'", text);
	/* Only an answer after the stall: the loop was asleep until then. */
	assert_false(atomic_load(&s->stalled));
	assert_int_equal(le32_to_cpu(v), 77);
	/* Still a live connection: a report's round trip. */
	memset(g->mem + DATA_OFF, 0x5a, REPORT_LEN);
	guest_report(g, DATA_OFF, REPORT_LEN);
	guest_wait_used(g);
	assert_int_equal(g->mem[DATA_OFF], 0);
	guest_free(g);
}

/* A backend of the test's own on @path: answers nothing, and closes the
 * connection after reading @keep bytes of it (0: at once, with the
 * request unread, which the frontend sees as a reset). */
struct mute_backend {
	char path[108];
	int listen_fd;
	size_t keep;
	pthread_t thread;
};

static void *mute_backend_main(void *arg)
{
	struct mute_backend *b = arg;
	int c = accept4(b->listen_fd, NULL, NULL, SOCK_CLOEXEC);
	char buf[64];
	size_t got = 0;

	assert_true(c >= 0);
	while (got < b->keep) {
		ssize_t n = read(c, buf, b->keep - got < sizeof(buf)
						 ? b->keep - got : sizeof(buf));

		if (n <= 0)
			break;
		got += (size_t)n;
	}
	if (!b->keep) {
		/* Wait until the request is there, unread: the close resets. */
		struct pollfd p = { .fd = c, .events = POLLIN };

		assert_int_equal(poll(&p, 1, WAIT_MS), 1);
	}
	close(c);
	return NULL;
}

static void mute_backend_start(struct mute_backend *b, const char *dir,
			       size_t keep)
{
	struct sockaddr_un sun = { .sun_family = AF_UNIX };

	snprintf(b->path, sizeof(b->path), "%s/mute.sock", dir);
	strcpy(sun.sun_path, b->path);
	b->keep = keep;
	b->listen_fd = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
	assert_true(b->listen_fd >= 0);
	assert_int_equal(bind(b->listen_fd, (struct sockaddr *)&sun,
			      sizeof(sun)), 0);
	assert_int_equal(listen(b->listen_fd, 1), 0);
	assert_int_equal(pthread_create(&b->thread, NULL, mute_backend_main, b),
			 0);
}

static void mute_backend_stop(struct mute_backend *b)
{
	pthread_join(b->thread, NULL);
	close(b->listen_fd);
	unlink(b->path);
}

/* A dead connection still ends a wait at once: end of stream after the
 * request was read (SET_OWNER and GET_FEATURES, two headers), and a reset
 * with it unread.  The watchdog makes a wait that never ends a failure. */
static void test_dead_while_waiting(void **state)
{
	struct server *s = *state;
	static const size_t keep[] = { 2 * VHOST_USER_HDR_SIZE, 0 };

	for (unsigned int i = 0; i < 2; i++) {
		struct vhost_user_frontend *fe;
		struct mute_backend b;
		uint64_t features;

		mute_backend_start(&b, s->dir, keep[i]);
		assert_int_equal(vhost_user_frontend_connect(b.path, &fe), 0);
		alarm(60);
		assert_int_equal(vhost_user_frontend_negotiate(fe, WANT,
							       &features),
				 -EPIPE);
		alarm(0);
		vhost_user_frontend_close(fe);
		mute_backend_stop(&b);
	}
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test_setup_teardown(test_report, setup, teardown),
		cmocka_unit_test_setup_teardown(test_config, setup, teardown),
		cmocka_unit_test_setup_teardown(test_send_enobufs, setup, teardown),
		cmocka_unit_test_setup_teardown(test_connect_errors, setup,
						teardown),
		cmocka_unit_test_setup_teardown(test_dead_backend, setup,
						teardown),
		cmocka_unit_test_setup_teardown(test_stalled_reply, setup,
						teardown),
		cmocka_unit_test_setup_teardown(test_dead_while_waiting, setup,
						teardown),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
