/*
 * test_atk_control.c - the control socket (host/control.c) attacked in one
 * process, against a live vhost-user balloon (host/vhost_user.c) that a
 * frontend in the test drives, so that ASan and TSan see every thread.
 *
 * - A storm of commands from several clients while a frontend reconnects
 *   and replaces its memory table over and over: the control thread reads
 *   the table (ram, resident) while the device thread swaps it.  Every
 *   answer must be a return or one of the errors the protocol names, and
 *   every RAM it reports one the frontend really shared (or 0).
 * - Many connects and disconnects: no descriptor is left behind.
 * - `balloon` with values that are not a size of the guest's RAM.
 * - A client that sends a megabyte without a newline, one that never
 *   reads, and one that half-closes: the others are answered, the
 *   half-closed one gets its answers.
 *
 * Waits are bounded (WAIT_MS) and only for an event; nothing is timed.
 * GUESTMM_ATK_OPS sets the storm's command count (CI's default is small).
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
#include <fcntl.h>
#include <signal.h>
#include <sys/wait.h>
#include <errno.h>
#include <json-c/json.h>
#include <poll.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <time.h>
#include <unistd.h>

#include "guest/vhost_user_frontend.h"
#include "host/balloon.h"
#include "host/control.h"
#include "host/vhost_user.h"
#include "virtio/virtio_ring.h"

#define WAIT_MS 10000
#define MIB (UINT64_C(1) << 20)
#define STORM_CLIENTS 3

/* The tables the frontend shares, in turn. */
static const uint64_t mem_sizes[] = { 16 * MIB, 32 * MIB, 8 * MIB };
#define MEM_MAX (32 * MIB)

static struct vhost_user_server *srv;
static struct balloon_dev *bal;
static struct control *ctl;
static char dir[80], dev_path[108], ctl_path[108];

static long now_ms(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

static unsigned int env_ops(unsigned int dflt)
{
	const char *s = getenv("GUESTMM_ATK_OPS");

	return s && atoi(s) > 0 ? (unsigned int)atoi(s) : dflt;
}

static int count_fds(void)
{
	DIR *d = opendir("/proc/self/fd");
	struct dirent *e;
	int n = 0;

	assert_non_null(d);
	while ((e = readdir(d)))
		if (e->d_name[0] != '.')
			n++;
	closedir(d);
	return n - 1; /* the DIR's own */
}

/* ---- a control client ---- */

struct cl {
	int fd;
	size_t used;
	char buf[1 << 17];
	char line[1 << 17];
	unsigned int events;
};

static int cl_connect(void)
{
	struct sockaddr_un sa = { .sun_family = AF_UNIX };
	int fd = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);

	assert_true(fd >= 0);
	snprintf(sa.sun_path, sizeof(sa.sun_path), "%s", ctl_path);
	assert_int_equal(connect(fd, (struct sockaddr *)&sa, sizeof(sa)), 0);
	return fd;
}

/* The next line, or NULL when the server closed. */
static const char *cl_line(struct cl *c)
{
	long end = now_ms() + WAIT_MS;

	for (;;) {
		char *nl = memchr(c->buf, '\n', c->used);
		struct pollfd p = { c->fd, POLLIN, 0 };
		ssize_t r;

		if (nl) {
			size_t n = (size_t)(nl - c->buf);

			memcpy(c->line, c->buf, n);
			c->line[n] = 0;
			memmove(c->buf, nl + 1, c->used - n - 1);
			c->used -= n + 1;
			return c->line;
		}
		assert_true(c->used < sizeof(c->buf));
		assert_true(now_ms() < end);
		if (poll(&p, 1, 100) <= 0)
			continue;
		r = read(c->fd, c->buf + c->used, sizeof(c->buf) - c->used);
		if (r <= 0)
			return NULL;
		c->used += (size_t)r;
	}
}

static void cl_send(struct cl *c, const char *s)
{
	size_t n = strlen(s);

	assert_int_equal(send(c->fd, s, n, MSG_NOSIGNAL), (ssize_t)n);
}

/* The answer to @cmd (events before it counted and skipped). */
static struct json_object *cl_call(struct cl *c, const char *cmd)
{
	cl_send(c, cmd);
	for (;;) {
		const char *l = cl_line(c);
		struct json_object *o, *v;

		assert_non_null(l);
		o = json_tokener_parse(l);
		assert_non_null(o);
		if (json_object_object_get_ex(o, "event", &v)) {
			c->events++;
			json_object_put(o);
			continue;
		}
		return o;
	}
}

static struct cl *cl_open(void)
{
	struct cl *c = calloc(1, sizeof(*c));
	struct json_object *o;

	assert_non_null(c);
	c->fd = cl_connect();
	assert_non_null(strstr(cl_line(c), "\"QMP\""));
	o = cl_call(c, "{\"execute\":\"qmp_capabilities\"}\n");
	assert_true(json_object_object_get_ex(o, "return", NULL));
	json_object_put(o);
	return c;
}

static void cl_close(struct cl *c)
{
	close(c->fd);
	free(c);
}

static const char *err_class(struct json_object *o)
{
	struct json_object *e, *cls;

	if (!json_object_object_get_ex(o, "error", &e) ||
	    !json_object_object_get_ex(e, "class", &cls))
		return NULL;
	return json_object_get_string(cls);
}

/* ---- setup ---- */

static int setup(void **state)
{
	const char *t = getenv("TMPDIR");

	(void)state;
	snprintf(dir, sizeof(dir), "%s/atkctl.XXXXXX", t ? t : "/tmp");
	assert_non_null(mkdtemp(dir));
	snprintf(dev_path, sizeof(dev_path), "%s/dev.sock", dir);
	snprintf(ctl_path, sizeof(ctl_path), "%s/ctl.sock", dir);
	srv = vhost_user_server_create(VHOST_USER_THREAD_PER_DEVICE);
	assert_non_null(srv);
	assert_int_equal(vhost_user_server_add_balloon(srv, dev_path, &bal), 0);
	assert_int_equal(control_start(ctl_path, &ctl), 0);
	assert_int_equal(control_guest_add(ctl, "g", bal, 0), 0);
	return 0;
}

static int teardown(void **state)
{
	(void)state;
	control_stop(ctl);
	assert_int_equal(vhost_user_server_destroy(srv), 0);
	rmdir(dir);
	return 0;
}

/* ---- the storm ---- */

static atomic_bool storm_done;
static atomic_uint fe_errors;
static atomic_int fe_last_error;
static unsigned int storm_ops;

static bool ram_shared(uint64_t ram)
{
	if (!ram)
		return true;
	for (size_t i = 0; i < sizeof(mem_sizes) / sizeof(mem_sizes[0]); i++)
		if (ram == mem_sizes[i])
			return true;
	return false;
}

static void *storm_main(void *arg)
{
	struct cl *c = cl_open();
	uint64_t ram = 0;
	char cmd[160];

	(void)arg;
	for (unsigned int i = 0; i < storm_ops; i++) {
		struct json_object *o, *r, *v;
		const char *cls;

		switch (i % 4) {
		case 0:
			o = cl_call(c, "{\"execute\":\"query-guests\"}\n");
			assert_true(json_object_object_get_ex(o, "return", &r));
			v = json_object_array_get_idx(r, 0);
			assert_true(json_object_object_get_ex(v, "ram", &v));
			ram = json_object_get_uint64(v);
			assert_true(ram_shared(ram));
			break;
		case 1:
			o = cl_call(c, "{\"execute\":\"query-balloon\"}\n");
			if (json_object_object_get_ex(o, "return", &r)) {
				assert_true(json_object_object_get_ex(r, "ram", &v));
				assert_true(ram_shared(json_object_get_uint64(v)));
				assert_true(json_object_get_uint64(v) != 0);
			} else {
				assert_string_equal(err_class(o), "DeviceNotActive");
			}
			break;
		case 2:
			snprintf(cmd, sizeof(cmd),
				 "{\"execute\":\"balloon\",\"arguments\":{\"value\":%llu}}\n",
				 (unsigned long long)(ram ? ram / 2 : 4096));
			o = cl_call(c, cmd);
			/* The table may shrink between the two reads. */
			cls = err_class(o);
			if (cls && strcmp(cls, "DeviceNotActive"))
				assert_string_equal(cls, "GenericError");
			else if (!cls)
				assert_true(json_object_object_get_ex(o, "return", NULL));
			break;
		default:
			o = cl_call(c, "{\"execute\":\"query-balloon-stats\"}\n");
			assert_true(json_object_object_get_ex(o, "return", NULL));
			break;
		}
		json_object_put(o);
	}
	cl_close(c);
	return NULL;
}

/* A frontend that connects, shares a table, replaces it, goes; again. */
static void *frontend_main(void *arg)
{
	unsigned int *rounds = arg;
	int memfd = memfd_create("atk_control", MFD_CLOEXEC);
	void *map;

	if (memfd < 0 || ftruncate(memfd, (off_t)MEM_MAX)) {
		fe_errors++;
		return NULL;
	}
	map = mmap(NULL, MEM_MAX, PROT_READ | PROT_WRITE, MAP_SHARED, memfd, 0);
	if (map == MAP_FAILED) {
		fe_errors++;
		close(memfd);
		return NULL;
	}
	for (unsigned int i = 0; !atomic_load(&storm_done); i++) {
		struct vhost_user_frontend *fe;
		uint64_t features;
		int err;

		/* Off the test's thread: a failure is counted, not asserted
		 * (cmocka's assertions belong to the test's thread). */
		err = vhost_user_frontend_connect(dev_path, &fe);
		if (err) {
			fe_errors++;
			atomic_store(&fe_last_error, err);
			continue;
		}
		err = vhost_user_frontend_negotiate(
			fe, UINT64_C(1) << VIRTIO_F_VERSION_1, &features);
		/* The backend may drop a frontend whose old tables' files it
		 * has not closed yet (its reaper's bound): then it goes. */
		for (unsigned int k = 0; !err && k < 3; k++)
			err = vhost_user_frontend_set_mem(fe, memfd, map, 0,
							  mem_sizes[(i + k) % 3]);
		if (err && err != -EPIPE) {
			fe_errors++;
			atomic_store(&fe_last_error, err);
		}
		vhost_user_frontend_close(fe);
		(*rounds)++;
	}
	munmap(map, MEM_MAX);
	close(memfd);
	return NULL;
}

static void test_storm_against_reconnects(void **state)
{
	pthread_t storm[STORM_CLIENTS], fe;
	unsigned int rounds = 0;

	(void)state;
	storm_ops = env_ops(2000);
	atomic_store(&storm_done, false);
	assert_int_equal(pthread_create(&fe, NULL, frontend_main, &rounds), 0);
	for (int i = 0; i < STORM_CLIENTS; i++)
		assert_int_equal(pthread_create(&storm[i], NULL, storm_main, NULL), 0);
	for (int i = 0; i < STORM_CLIENTS; i++)
		pthread_join(storm[i], NULL);
	atomic_store(&storm_done, true);
	pthread_join(fe, NULL);
	print_message("storm: %u commands by %d clients against %u frontend rounds\n",
		      storm_ops * STORM_CLIENTS, STORM_CLIENTS, rounds);
	if (atomic_load(&fe_errors))
		fail_msg("the frontend failed %u times, last: %s", atomic_load(&fe_errors),
			 strerror(-atomic_load(&fe_last_error)));
	assert_true(rounds > 0);
}

/* ---- descriptors ---- */

/* Clients that come and go (some mid-greeting, some after a command)
 * leave no descriptor behind once the server has seen them go. */
static void test_many_clients_no_fd_leak(void **state)
{
	unsigned int n = env_ops(2000) * 5;
	int before, after = -1;
	long end;

	(void)state;
	before = count_fds();
	for (unsigned int i = 0; i < n; i++) {
		int fd = cl_connect();

		if (i % 3 == 1) {
			static const char cmd[] = "{\"execute\":\"qmp_capabilities\"}\n";

			assert_int_equal(send(fd, cmd, sizeof(cmd) - 1, MSG_NOSIGNAL),
					 (ssize_t)sizeof(cmd) - 1);
		} else if (i % 3 == 2) {
			shutdown(fd, SHUT_WR);
		}
		close(fd);
	}
	/* The server lets them go a round after their hang-up.  Fewer than
	 * before is no leak: the last test's device may still have had
	 * descriptors on their way to its reaper's close(). */
	end = now_ms() + WAIT_MS;
	while (now_ms() < end && (after = count_fds()) > before)
		usleep(10000);
	print_message("%u connects: %d descriptors before, %d after\n", n, before, after);
	assert_true(after <= before);
	/* And it still serves. */
	cl_close(cl_open());
}

/* ---- hostile values ---- */

static void expect_refused(const char *line, const char *needle)
{
	char out[1024];
	struct json_object *o;

	control_handle_line(ctl, line, strlen(line), out, sizeof(out));
	o = json_tokener_parse(out);
	assert_non_null(o);
	if (!err_class(o) || (needle && !strstr(out, needle)))
		fail_msg("'%s' answered '%s' (wanted an error with '%s')", line, out,
			 needle ? needle : "");
	json_object_put(o);
}

static void expect_ok(const char *line)
{
	char out[1024];

	control_handle_line(ctl, line, strlen(line), out, sizeof(out));
	if (strcmp(out, "{\"return\":{}}"))
		fail_msg("'%s' answered '%s'", line, out);
}

#define BAL(v) "{\"execute\":\"balloon\",\"arguments\":{\"guest\":\"r\",\"value\":" v "}}"

static void test_balloon_hostile_values(void **state)
{
	struct balloon_stats st;

	(void)state;
	/* A guest whose RAM the host knows: 64 MiB. */
	assert_int_equal(control_guest_add(ctl, "r", bal, 64 * MIB), 1);
	expect_refused(BAL("-1"), "unsigned integer");
	expect_refused(BAL("-9223372036854775808"), "unsigned integer");
	expect_refused(BAL("1.5"), "unsigned integer");
	expect_refused(BAL("4096.0"), "unsigned integer");
	expect_refused(BAL("1e9"), "unsigned integer");
	expect_refused(BAL("\"4096\""), "unsigned integer");
	expect_refused(BAL("true"), "unsigned integer");
	expect_refused(BAL("null"), "unsigned integer");
	expect_refused(BAL("[4096]"), "unsigned integer");
	expect_refused(BAL("{}"), "unsigned integer");
	expect_refused(BAL("NaN"), NULL);
	expect_refused(BAL("0x1000"), "parse error");
	expect_refused(BAL("18446744073709551615"), "more than");
	expect_refused(BAL("18446744073709551616"), NULL);
	expect_refused(BAL("99999999999999999999999999999"), NULL);
	expect_refused(BAL("0"), "none of");
	expect_refused(BAL("4097"), "multiple");
	expect_refused(BAL("67112960"), "more than"); /* RAM + 4096 */
	expect_refused("{\"execute\":\"balloon\",\"arguments\":{\"guest\":\"r\"}}",
		       "missing");
	expect_refused("{\"execute\":\"balloon\",\"arguments\":{\"guest\":\"r\",\"value\":4096,\"value\":1.5}}",
		       NULL);
	/* Depth bombs: refused by the tokener, whatever they nest. */
	expect_refused(BAL("[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[1]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]"),
		       "parse error");
	expect_refused("{\"execute\":\"balloon\",\"arguments\":{\"a\":{\"a\":{\"a\":{\"a\":{\"a\":{\"a\":{\"a\":{\"a\":{}}}}}}}}}}",
		       "parse error");
	/* Nothing above moved the target. */
	balloon_get_stats(bal, &st);
	assert_int_equal(st.num_pages, 0);
	expect_ok(BAL("67108864"));
	expect_ok(BAL("33554432"));
	balloon_get_stats(bal, &st);
	assert_int_equal(st.num_pages, 8192);
	expect_ok(BAL("4096"));
	balloon_get_stats(bal, &st);
	assert_int_equal(st.num_pages, 16383);
}

/* ---- hostile clients ---- */

struct flood {
	int fd;
	size_t bytes;
};

static void *flood_main(void *arg)
{
	struct flood *f = arg;
	char chunk[4096];
	size_t done = 0;

	memset(chunk, 'x', sizeof(chunk));
	while (done < f->bytes) {
		ssize_t w = send(f->fd, chunk, sizeof(chunk), MSG_NOSIGNAL);

		if (w <= 0)
			break;
		done += (size_t)w;
	}
	f->bytes = done;
	return NULL;
}

/* A megabyte with no newline is skipped with one error; meanwhile another
 * client is answered, and the flooder's next line is too. */
static void test_megabyte_line(void **state)
{
	struct cl *a = cl_open(), *b = cl_open();
	struct flood f = { .fd = a->fd, .bytes = 1 << 20 };
	struct json_object *o;
	pthread_t t;

	(void)state;
	assert_int_equal(pthread_create(&t, NULL, flood_main, &f), 0);
	for (int i = 0; i < 20; i++) {
		o = cl_call(b, "{\"execute\":\"query-guests\"}\n");
		assert_true(json_object_object_get_ex(o, "return", NULL));
		json_object_put(o);
	}
	pthread_join(t, NULL);
	assert_int_equal(f.bytes, 1 << 20);
	cl_send(a, "\n");
	o = cl_call(a, "{\"execute\":\"query-guests\"}\n");
	assert_non_null(strstr(json_object_to_json_string(o), "longer than"));
	json_object_put(o);
	o = cl_call(a, "{\"execute\":\"query-guests\"}\n");
	assert_true(json_object_object_get_ex(o, "return", NULL));
	json_object_put(o);
	cl_close(a);
	cl_close(b);
}

/* Commands, then a half-close: every answer still comes, then the end. */
static void test_half_close(void **state)
{
	struct cl *c = cl_open();
	unsigned int answers = 0;
	const char *l;

	(void)state;
	for (int i = 0; i < 100; i++)
		cl_send(c, "{\"execute\":\"query-commands\",\"id\":1}\n");
	assert_int_equal(shutdown(c->fd, SHUT_WR), 0);
	while ((l = cl_line(c)))
		if (strstr(l, "\"return\""))
			answers++;
	assert_int_equal(answers, 100);
	cl_close(c);
}

/* ---- events ---- */

/* The last BALLOON_CHANGE's actual a watcher saw (UINT64_MAX: none). */
static uint64_t watch_actual(struct cl *w, unsigned int *events, bool block)
{
	uint64_t last = UINT64_MAX;

	for (;;) {
		struct pollfd p = { w->fd, POLLIN, 0 };
		struct json_object *o, *d, *v;
		const char *l;

		if (!block && !memchr(w->buf, '\n', w->used) && poll(&p, 1, 0) <= 0)
			return last;
		l = cl_line(w);
		assert_non_null(l);
		o = json_tokener_parse(l);
		assert_non_null(o);
		if (json_object_object_get_ex(o, "event", &v) &&
		    !strcmp(json_object_get_string(v), "BALLOON_CHANGE")) {
			(*events)++;
			assert_true(json_object_object_get_ex(o, "data", &d));
			assert_true(json_object_object_get_ex(d, "actual", &v));
			last = json_object_get_uint64(v);
		}
		json_object_put(o);
		if (block && last != UINT64_MAX)
			return last;
	}
}

/*
 * A guest that writes its actual over and over (hostile, or a driver
 * looping) while a client keeps the server busy: watchers get at most one
 * BALLOON_CHANGE a second, as QEMU throttles it, and then the last value.
 * Unthrottled, every round the busy client causes sends one to every
 * watcher, and a watcher reading at a human pace is dropped at
 * CONTROL_OUT_MAX.
 */
static void test_balloon_change_throttled(void **state)
{
	struct vhost_user_frontend *fe;
	struct cl *w, *busy;
	unsigned int events = 0, toggles = 400;
	uint64_t features, last = UINT64_MAX, want;
	int memfd = memfd_create("atk_change", MFD_CLOEXEC);
	long t0, secs;
	void *map;

	(void)state;
	assert_true(memfd >= 0);
	assert_int_equal(ftruncate(memfd, (off_t)(16 * MIB)), 0);
	map = mmap(NULL, 16 * MIB, PROT_READ | PROT_WRITE, MAP_SHARED, memfd, 0);
	assert_true(map != MAP_FAILED);
	assert_int_equal(vhost_user_frontend_connect(dev_path, &fe), 0);
	assert_int_equal(vhost_user_frontend_negotiate(
				 fe, UINT64_C(1) << VIRTIO_F_VERSION_1, &features),
			 0);
	assert_int_equal(vhost_user_frontend_set_mem(fe, memfd, map, 0, 16 * MIB), 0);
	w = cl_open();
	busy = cl_open();
	t0 = now_ms();
	for (unsigned int i = 1; i <= toggles; i++) {
		uint32_t actual = i % 2 ? 100 : 200;
		struct json_object *o;

		assert_int_equal(vhost_user_frontend_set_config(fe, 4, &actual, 4), 0);
		o = cl_call(busy, "{\"execute\":\"query-guests\"}\n");
		json_object_put(o);
		last = watch_actual(w, &events, false);
		(void)last;
	}
	secs = (now_ms() - t0) / 1000;
	/* It ended on 200 pages: the watcher hears of it. */
	want = 16 * MIB - 200 * 4096;
	while (last != want)
		last = watch_actual(w, &events, true);
	print_message("%u toggles in %ld s: %u BALLOON_CHANGE events\n", toggles,
		      secs, events);
	if (events > (unsigned int)secs + 3)
		fail_msg("%u BALLOON_CHANGE events for %u toggles in %ld s (QEMU: at most one a second)",
			 events, toggles, secs);
	cl_close(busy);
	cl_close(w);
	vhost_user_frontend_close(fe);
	munmap(map, 16 * MIB);
	close(memfd);
}

/* ---- guestmm ctl against servers that are not a host ---- */

/* A stand-in server: greets with @greeting (NULL: silence), then answers
 * each line it reads with the next of @says (NULL ends: it then reads on
 * and never answers).  @accept false: it listens and never accepts. */
struct fake {
	const char *greeting;
	const char *const *says;
	bool accept;
	int listen_fd;
	char path[108];
	pthread_t thread;
	atomic_bool stop;
};

static void *fake_main(void *arg)
{
	struct fake *f = arg;
	const char *const *s = f->says;
	int fd = -1;
	char c;

	while (!atomic_load(&f->stop)) {
		struct pollfd p = { fd < 0 ? f->listen_fd : fd, POLLIN, 0 };

		if (poll(&p, 1, 50) <= 0)
			continue;
		if (fd < 0) {
			fd = accept(f->listen_fd, NULL, NULL);
			if (fd >= 0 && f->greeting)
				(void)!write(fd, f->greeting, strlen(f->greeting));
			continue;
		}
		if (read(fd, &c, 1) != 1) {
			close(fd);
			fd = -1;
			s = f->says;
			continue;
		}
		if (c == '\n' && s && *s)
			(void)!write(fd, *s, strlen(*s)), s++;
	}
	if (fd >= 0)
		close(fd);
	return NULL;
}

static void fake_start(struct fake *f)
{
	struct sockaddr_un sa = { .sun_family = AF_UNIX };

	snprintf(f->path, sizeof(f->path), "%s/fake.sock", dir);
	unlink(f->path);
	snprintf(sa.sun_path, sizeof(sa.sun_path), "%s", f->path);
	f->listen_fd = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
	assert_true(f->listen_fd >= 0);
	assert_int_equal(bind(f->listen_fd, (struct sockaddr *)&sa, sizeof(sa)), 0);
	assert_int_equal(listen(f->listen_fd, 1), 0);
	atomic_store(&f->stop, false);
	if (f->accept)
		assert_int_equal(pthread_create(&f->thread, NULL, fake_main, f), 0);
}

static void fake_stop(struct fake *f)
{
	atomic_store(&f->stop, true);
	if (f->accept)
		pthread_join(f->thread, NULL);
	close(f->listen_fd);
	unlink(f->path);
}

static const char *ctl_stdout = "/dev/null";

/*
 * Run `guestmm ctl @sock @what... --timeout 1`; it must end by itself
 * (within WAIT_MS), by exit(@want_rc), not by a signal, with at most one
 * line on stderr, which contains @needle.
 */
static void ctl_expect(const char *sock, const char *what, const char *arg,
		       int want_rc, const char *needle)
{
	char errpath[200], err[2048] = "";
	long end = now_ms() + WAIT_MS;
	int status, lines = 0;
	pid_t pid;
	FILE *fp;

	snprintf(errpath, sizeof(errpath), "%s/ctl.err", dir);
	pid = fork();
	assert_true(pid >= 0);
	if (!pid) {
		int fd = open(errpath, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0600);
		int nul = open(ctl_stdout, O_WRONLY | O_CLOEXEC);

		dup2(fd, 2);
		dup2(nul, 1);
		if (arg)
			execl(GUESTMM_BIN, "guestmm", "ctl", sock, what, arg,
			      "--timeout", "1", (char *)NULL);
		execl(GUESTMM_BIN, "guestmm", "ctl", sock, what, "--timeout", "1",
		      (char *)NULL);
		_exit(127);
	}
	while (waitpid(pid, &status, WNOHANG) == 0) {
		if (now_ms() > end) {
			kill(pid, SIGKILL);
			waitpid(pid, &status, 0);
			fail_msg("guestmm ctl %s %s: still running after %d ms", sock,
				 what, WAIT_MS);
		}
		usleep(10000);
	}
	fp = fopen(errpath, "r");
	assert_non_null(fp);
	while (fgets(err + strlen(err), (int)(sizeof(err) - strlen(err)), fp))
		lines++;
	fclose(fp);
	if (!WIFEXITED(status))
		fail_msg("guestmm ctl %s: killed by signal %d; stderr: %s", what,
			 WTERMSIG(status), err);
	if (WEXITSTATUS(status) != want_rc || lines > 1 || !strstr(err, needle))
		fail_msg("guestmm ctl %s: exit %d, stderr (%d lines): '%s' (wanted exit %d and '%s')",
			 what, WEXITSTATUS(status), lines, err, want_rc, needle);
}

/* Results a full disk swallowed are an error, not a success. */
static void test_ctl_stdout_full(void **state)
{
	(void)state;
	ctl_stdout = "/dev/full";
	ctl_expect(ctl_path, "guests", NULL, 1, "standard output");
	ctl_stdout = "/dev/null";
}

#define QMP_HELLO "{\"QMP\":{\"version\":{},\"capabilities\":[]}}\n"

static void test_ctl_against_impostors(void **state)
{
	static const char *const guests_not_array[] = {
		"{\"return\":{}}\n", "{\"return\":5}\n", NULL,
	};
	static const char *const stats_not_object[] = {
		"{\"return\":{}}\n", "{\"return\":{\"ram\":4096}}\n",
		"{\"return\":{\"stats\":5,\"guest\":\"g\"}}\n", NULL,
	};
	static const char *const stats_return_array[] = {
		"{\"return\":{}}\n", "{\"return\":{\"ram\":4096}}\n",
		"{\"return\":[1]}\n", NULL,
	};
	static const char *const guests_bad_members[] = {
		"{\"return\":{}}\n", "{\"return\":[5,\"x\",{\"name\":7,\"ram\":-3}]}\n", NULL,
	};
	static const char *const silent[] = { "{\"return\":{}}\n", NULL };
	static const char *const not_json[] = { "{\"return\":{}}\n", "{\"return\":}\n", NULL };
	struct fake f = { .greeting = QMP_HELLO, .accept = true };

	(void)state;
	f.says = guests_not_array;
	fake_start(&f);
	ctl_expect(f.path, "guests", NULL, 1, "guestmm: ctl:");
	fake_stop(&f);

	f.says = stats_not_object;
	fake_start(&f);
	ctl_expect(f.path, "stats", NULL, 1, "guestmm: ctl:");
	fake_stop(&f);

	f.says = stats_return_array;
	fake_start(&f);
	ctl_expect(f.path, "stats", "--json", 1, "guestmm: ctl:");
	fake_stop(&f);

	/* Members of the wrong type print as unknown ("?", "-"). */
	f.says = guests_bad_members;
	fake_start(&f);
	ctl_expect(f.path, "guests", NULL, 0, "");
	fake_stop(&f);

	f.says = silent;
	fake_start(&f);
	ctl_expect(f.path, "stats", NULL, 1, "did not answer in time");
	fake_stop(&f);

	f.says = not_json;
	fake_start(&f);
	ctl_expect(f.path, "guests", NULL, 1, "not an answer of the control protocol");
	fake_stop(&f);

	f.greeting = "HTTP/1.1 400 Bad Request\r\n\r\n";
	f.says = silent;
	fake_start(&f);
	ctl_expect(f.path, "guests", NULL, 1, "not a control socket");
	fake_stop(&f);

	f.greeting = NULL;
	fake_start(&f);
	ctl_expect(f.path, "guests", NULL, 1, "no host answers there");
	fake_stop(&f);
}

/* A host whose listener is full and never accepts (hung): --timeout still
 * bounds the wait, where a blocking connect() would wait forever. */
static void test_ctl_full_backlog(void **state)
{
	struct fake f = { .accept = false };
	int fds[8];

	(void)state;
	fake_start(&f);
	/* Fill the backlog (listen(1) holds two) with connects that do not
	 * wait. */
	for (int i = 0; i < 8; i++) {
		struct sockaddr_un sa = { .sun_family = AF_UNIX };

		fds[i] = socket(AF_UNIX, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
		assert_true(fds[i] >= 0);
		snprintf(sa.sun_path, sizeof(sa.sun_path), "%s", f.path);
		(void)!connect(fds[i], (struct sockaddr *)&sa, sizeof(sa));
	}
	ctl_expect(f.path, "guests", NULL, 1, "no host answers there");
	for (int i = 0; i < 8; i++)
		close(fds[i]);
	fake_stop(&f);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test_setup_teardown(test_storm_against_reconnects, setup, teardown),
		cmocka_unit_test_setup_teardown(test_many_clients_no_fd_leak, setup, teardown),
		cmocka_unit_test_setup_teardown(test_balloon_hostile_values, setup, teardown),
		cmocka_unit_test_setup_teardown(test_megabyte_line, setup, teardown),
		cmocka_unit_test_setup_teardown(test_half_close, setup, teardown),
		cmocka_unit_test_setup_teardown(test_balloon_change_throttled, setup, teardown),
		cmocka_unit_test_setup_teardown(test_ctl_against_impostors, setup, teardown),
		cmocka_unit_test_setup_teardown(test_ctl_full_backlog, setup, teardown),
		cmocka_unit_test_setup_teardown(test_ctl_stdout_full, setup, teardown),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
