/*
 * test_vhost_user.c - the vhost-user backend against frontends in the test.
 *
 * The server runs on its own thread with two balloon sockets.  A
 * well-behaved frontend follows user-mode Linux's message sequence, puts
 * its rings in a shared memfd with the virtqueue driver half, reports free
 * ranges and checks that the memfd's st_blocks fell; it also drives the
 * target (config change on the backend channel), inflate and statistics.
 * Hostile frontends then do one bad thing each against the live backend,
 * which must refuse it as the protocol says, keep serving, and accept the
 * next frontend on the same socket; at the end no descriptor and no mapping
 * of a frontend's memory is left behind, and a well-behaved frontend works.
 *
 * Hostile descriptors and memory follow: notification descriptors whose
 * shared O_NONBLOCK the frontend cleared (a full call pipe, a saturated call
 * eventfd, a kick eventfd the frontend races us to read), descriptors that
 * are neither pipes nor eventfds, a kick that stays readable forever, a
 * memory file shrunk under the backend's mapping, a kick descriptor
 * replaced in the same batch as its predecessor's hang-up, and a ring whose
 * discard work must be spread over rounds.  For the last two the test
 * pauses the server thread and runs rounds itself, to put chosen events in
 * one batch.
 *
 * Then issue 7's five cases, each against the live backend: a refused
 * memory table must withdraw the old one; a hugetlbfs file with no huge
 * page free (its own ctest entry, skipped where it cannot be made); a
 * fault storm that must end at the first fault; a descriptor whose last
 * close sleeps (a lingering TCP socket) must not hold up the device; and
 * regions that are not page-aligned.  Last, containment: one frontend runs
 * every attack on one device while another reports on the other, and each
 * of its round trips must come back within 100 ms, with no byte of its
 * memory touched that it did not report.
 *
 * The suite runs against a server with a thread per device (the default)
 * and against the single loop ("single"), where two tests pause the loop's
 * thread to put chosen events in one batch.
 *
 * Waits are bounded (WAIT_MS) and only for an event; the one timed check
 * is the containment test's 100 ms bound, which the issue asks for.
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
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <arpa/inet.h>
#include <linux/sockios.h>
#include <netinet/in.h>
#include <sys/eventfd.h>
#include <linux/userfaultfd.h>
#include <sys/ioctl.h>
#include <sys/syscall.h>
#include <sys/mman.h>
#include <sys/resource.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/un.h>
#include <time.h>
#include <unistd.h>

#include "host/balloon.h"
#include "host/fd_reaper.h"
#include "host/vhost_user.h"
#include "host/vhost_user_msg.h"
#include "virtio/virtqueue.h"

#include "stderr_capture.h"

#define WAIT_MS 5000
#define MIB (1024u * 1024u)
#define MEM_SIZE (16u * MIB)
#define DATA_OFF (8u * MIB) /* reportable pages live above this */
#define QNUM 256 /* what UML asks for */
#define NQ 4 /* inflate, deflate, stats, reporting */
#define Q_INFLATE 0
#define Q_STATS 2
#define Q_REPORT 3

#define F(bit) (UINT64_C(1) << (bit))
#define PF_REPLY_ACK F(VHOST_USER_PROTOCOL_F_REPLY_ACK)
#define PF_BACKEND F(VHOST_USER_PROTOCOL_F_BACKEND_REQ)
#define PF_CONFIG F(VHOST_USER_PROTOCOL_F_CONFIG)

static struct vhost_user_server *srv;
/* How the server under test serves its devices: a thread each (the
 * default), or one loop that server_main() runs ("single" on the command
 * line), where the test can also stop it and run rounds itself. */
static enum vhost_user_threads threads = VHOST_USER_THREAD_PER_DEVICE;
/* [2]: attack7 adds it; [3]: test_low_limit_said_once, a device that has
 * logged nothing yet. */
static struct balloon_dev *balloon[4];
static char sock_path[4][108];
static char tmpdir[64];
static pthread_t server_thread;
static atomic_bool server_stop;
static int baseline_fds;
/* server_pause(): @pause_lock covers @pause_want and @paused. */
static pthread_mutex_t pause_lock = PTHREAD_MUTEX_INITIALIZER;
static pthread_cond_t pause_cond = PTHREAD_COND_INITIALIZER;
static bool pause_want, paused;

/* ---- helpers ---- */

static uint64_t ms_now(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (uint64_t)ts.tv_sec * 1000 + (uint64_t)ts.tv_nsec / 1000000;
}

static bool wait_readable(int fd)
{
	struct pollfd p = { .fd = fd, .events = POLLIN };

	return poll(&p, 1, WAIT_MS) == 1;
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

/* Every descriptor the test gave the backend is closed: by its reaper
 * thread, so perhaps a moment after the frontend was dropped (bounded). */
static void expect_baseline_fds(void)
{
	uint64_t end = ms_now() + WAIT_MS;

	while (count_fds() != baseline_fds && ms_now() < end)
		usleep(1000);
	assert_int_equal(count_fds(), baseline_fds);
}

/* Mappings of files whose name contains @name. */
static int count_maps(const char *name)
{
	FILE *f = fopen("/proc/self/maps", "r");
	char line[512];
	int n = 0;

	assert_non_null(f);
	while (fgets(line, sizeof(line), f))
		n += strstr(line, name) != NULL;
	fclose(f);
	return n;
}

static struct balloon_stats bstats(int dev)
{
	struct balloon_stats st;

	balloon_get_stats(balloon[dev], &st);
	return st;
}

static struct vhost_user_counters counters(int dev)
{
	struct vhost_user_counters c;

	assert_int_equal(vhost_user_server_get_counters(srv, sock_path[dev], &c),
			 0);
	return c;
}

/* Wait (bounded) until the backend has no frontend on @dev. */
static void wait_disconnected(int dev)
{
	uint64_t end = ms_now() + WAIT_MS;

	while (bstats(dev).connected) {
		if (ms_now() > end)
			fail_msg("backend still connected");
		usleep(1000);
	}
}

/* ---- a frontend ---- */

struct fe {
	int dev;
	int sock;
	int memfd;
	uint8_t *mem;
	uint64_t uaddr; /* the user address we claim for gpa 0 */
	uint64_t protocol;
	uint64_t features;
	int backend[2]; /* [0] ours, [1] handed over */
	int call[NQ][2];
	int kick[NQ];
	uint64_t brk;
	struct virtqueue_config cfg[NQ];
	struct virtqueue vq[NQ];
	struct virtqueue_desc_state state[NQ][QNUM];
};

static void *fe_translate(void *ctx, uint64_t gpa, uint64_t len, bool write)
{
	struct fe *fe = ctx;

	(void)write;
	if (gpa >= MEM_SIZE || len > MEM_SIZE - gpa)
		return NULL;
	return fe->mem + gpa;
}

static int fe_connect(int dev)
{
	struct sockaddr_un sun = { .sun_family = AF_UNIX };
	int fd = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);

	assert_true(fd >= 0);
	strcpy(sun.sun_path, sock_path[dev]);
	assert_int_equal(connect(fd, (struct sockaddr *)&sun, sizeof(sun)), 0);
	return fd;
}

static struct fe *fe_new(int dev)
{
	struct fe *fe = calloc(1, sizeof(*fe));

	assert_non_null(fe);
	fe->dev = dev;
	fe->sock = fe_connect(dev);
	fe->memfd = -1;
	fe->backend[0] = fe->backend[1] = -1;
	for (int q = 0; q < NQ; q++)
		fe->call[q][0] = fe->call[q][1] = fe->kick[q] = -1;
	return fe;
}

static void fe_free(struct fe *fe)
{
	close(fe->sock);
	if (fe->mem)
		munmap(fe->mem, MEM_SIZE);
	if (fe->memfd >= 0)
		close(fe->memfd);
	for (int i = 0; i < 2; i++)
		if (fe->backend[i] >= 0)
			close(fe->backend[i]);
	for (int q = 0; q < NQ; q++) {
		if (fe->call[q][0] >= 0)
			close(fe->call[q][0]);
		if (fe->call[q][1] >= 0)
			close(fe->call[q][1]);
		if (fe->kick[q] >= 0)
			close(fe->kick[q]);
	}
	wait_disconnected(fe->dev);
	free(fe);
}

static int send_raw(int sock, const void *buf, size_t len, const int *fds,
		    unsigned int nfds)
{
	union {
		struct cmsghdr align;
		char buf[CMSG_SPACE(sizeof(int) * 32)];
	} ctl;
	struct iovec iov = { (void *)buf, len };
	struct msghdr mh = { .msg_iov = &iov, .msg_iovlen = 1 };

	if (nfds) {
		struct cmsghdr *c;

		mh.msg_control = ctl.buf;
		mh.msg_controllen = CMSG_SPACE(sizeof(int) * nfds);
		c = CMSG_FIRSTHDR(&mh);
		c->cmsg_level = SOL_SOCKET;
		c->cmsg_type = SCM_RIGHTS;
		c->cmsg_len = CMSG_LEN(sizeof(int) * nfds);
		memcpy(CMSG_DATA(c), fds, sizeof(int) * nfds);
	}
	return sendmsg(sock, &mh, MSG_NOSIGNAL) == (ssize_t)len ? 0 : -errno;
}

static void fe_send(struct fe *fe, uint32_t req, uint32_t flags,
		    const void *payload, uint32_t size, const int *fds,
		    unsigned int nfds)
{
	uint8_t buf[VHOST_USER_HDR_SIZE + 512];
	struct vhost_user_hdr hdr = { req, VHOST_USER_VERSION | flags, size };

	assert_true(size <= 512);
	memcpy(buf, &hdr, sizeof(hdr));
	if (size)
		memcpy(buf + sizeof(hdr), payload, size);
	assert_int_equal(send_raw(fe->sock, buf, sizeof(hdr) + size, fds, nfds),
			 0);
}

static bool read_full(int fd, void *buf, size_t len)
{
	size_t got = 0;

	while (got < len) {
		ssize_t n;

		if (!wait_readable(fd))
			return false;
		n = read(fd, (uint8_t *)buf + got, len - got);
		if (n <= 0)
			return false;
		got += (size_t)n;
	}
	return true;
}

/* Receive a reply to @req; returns its payload size. */
static uint32_t fe_recv(struct fe *fe, uint32_t req, void *payload,
			uint32_t max)
{
	struct vhost_user_hdr hdr;

	if (!read_full(fe->sock, &hdr, sizeof(hdr)))
		fail_msg("no reply to request %u", req);
	assert_int_equal(hdr.request, req);
	assert_int_equal(hdr.flags & 0x7,
			 VHOST_USER_VERSION | VHOST_USER_FLAG_REPLY);
	assert_true(hdr.size <= max);
	if (hdr.size)
		assert_true(read_full(fe->sock, payload, hdr.size));
	return hdr.size;
}

static uint64_t fe_get_u64(struct fe *fe, uint32_t req)
{
	uint64_t v;

	fe_send(fe, req, 0, NULL, 0, NULL, 0);
	assert_int_equal(fe_recv(fe, req, &v, sizeof(v)), sizeof(v));
	return v;
}

/* A request without a reply of its own: the ack's value when REPLY_ACK is
 * on, else 0 after a GET_FEATURES barrier (what UML does). */
static uint64_t fe_set(struct fe *fe, uint32_t req, const void *payload,
		       uint32_t size, const int *fds, unsigned int nfds)
{
	uint64_t ack;

	if (fe->protocol & PF_REPLY_ACK) {
		fe_send(fe, req, VHOST_USER_FLAG_NEED_REPLY, payload, size, fds,
			nfds);
		assert_int_equal(fe_recv(fe, req, &ack, sizeof(ack)), 8);
		return ack;
	}
	fe_send(fe, req, 0, payload, size, fds, nfds);
	fe_get_u64(fe, VHOST_USER_GET_FEATURES);
	return 0;
}

static void fe_set_ok(struct fe *fe, uint32_t req, const void *payload,
		      uint32_t size, const int *fds, unsigned int nfds)
{
	assert_int_equal(fe_set(fe, req, payload, size, fds, nfds), 0);
}

static void fe_expect_dropped(struct fe *fe)
{
	char c;

	if (!wait_readable(fe->sock))
		fail_msg("backend did not drop the connection");
	assert_int_equal(read(fe->sock, &c, 1), 0);
	wait_disconnected(fe->dev);
}

static void fe_expect_alive(struct fe *fe)
{
	assert_true(fe_get_u64(fe, VHOST_USER_GET_FEATURES) &
		    F(VHOST_USER_F_PROTOCOL_FEATURES));
}

/* The start of UML's sequence: owner, features, protocol features. */
static void fe_hello(struct fe *fe, uint64_t protocol)
{
	uint64_t f, pf;

	fe_send(fe, VHOST_USER_SET_OWNER, 0, NULL, 0, NULL, 0);
	f = fe_get_u64(fe, VHOST_USER_GET_FEATURES);
	assert_true(f & F(VHOST_USER_F_PROTOCOL_FEATURES));
	assert_true(f & F(VIRTIO_F_VERSION_1));
	assert_true(f & F(VIRTIO_BALLOON_F_REPORTING));
	assert_true(f & F(VIRTIO_BALLOON_F_STATS_VQ));
	assert_false(f & F(VIRTIO_F_RING_PACKED));
	fe->features = f;
	pf = fe_get_u64(fe, VHOST_USER_GET_PROTOCOL_FEATURES);
	assert_true(pf & PF_REPLY_ACK);
	assert_true(pf & PF_BACKEND);
	assert_true(pf & PF_CONFIG);
	fe_send(fe, VHOST_USER_SET_PROTOCOL_FEATURES, 0, &protocol,
		sizeof(protocol), NULL, 0);
	fe->protocol = protocol;
}

static void fe_mem(struct fe *fe, const char *name)
{
	fe->memfd = memfd_create(name, MFD_CLOEXEC);
	assert_true(fe->memfd >= 0);
	assert_int_equal(ftruncate(fe->memfd, MEM_SIZE), 0);
}

/* SET_MEM_TABLE as UML sends it: room for two regions, one used. */
static uint64_t fe_set_mem(struct fe *fe, uint64_t gpa, uint64_t size,
			   uint64_t uaddr, uint64_t off, int fd)
{
	struct {
		uint32_t n, pad;
		struct vhost_user_mem_region r[2];
	} m = { 1, 0, { { gpa, size, uaddr, off }, { 0 } } };

	return fe_set(fe, VHOST_USER_SET_MEM_TABLE, &m, sizeof(m), &fd, 1);
}

static uint64_t fe_alloc(struct fe *fe, uint64_t size, uint64_t align)
{
	uint64_t gpa = (fe->brk + align - 1) & ~(align - 1);

	fe->brk = gpa + size;
	assert_true(fe->brk <= DATA_OFF);
	return gpa;
}

static void fe_vring_fd(struct fe *fe, uint32_t req, unsigned int q, int fd)
{
	uint64_t arg = q | (fd < 0 ? VHOST_USER_VRING_NOFD : 0);

	fe_set_ok(fe, req, &arg, sizeof(arg), &fd, fd < 0 ? 0 : 1);
}

static void fe_vring_state(struct fe *fe, uint32_t req, unsigned int q,
			   unsigned int num)
{
	struct vhost_user_vring_state s = { q, num };

	fe_set_ok(fe, req, &s, sizeof(s), NULL, 0);
}

/* The whole UML sequence, with every queue set up and enabled. */
static void fe_start(struct fe *fe, uint64_t protocol, const char *memname)
{
	uint64_t feat;
	unsigned int q;

	fe_hello(fe, protocol);
	assert_int_equal(socketpair(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0,
				    fe->backend),
			 0);
	fe_set_ok(fe, VHOST_USER_SET_BACKEND_REQ_FD, NULL, 0, &fe->backend[1],
		  1);
	close(fe->backend[1]);
	fe->backend[1] = -1;
	feat = fe->features; /* accept everything, bit 30 included */
	fe_set_ok(fe, VHOST_USER_SET_FEATURES, &feat, sizeof(feat), NULL, 0);

	fe_mem(fe, memname);
	fe->mem = mmap(NULL, MEM_SIZE, PROT_READ | PROT_WRITE, MAP_SHARED,
		       fe->memfd, 0);
	assert_true(fe->mem != MAP_FAILED);
	fe->uaddr = (uint64_t)(uintptr_t)fe->mem;
	assert_int_equal(fe_set_mem(fe, 0, MEM_SIZE, fe->uaddr, 0, fe->memfd),
			 0);

	for (q = 0; q < NQ; q++) {
		struct vhost_user_vring_addr a = { .index = q };
		uint64_t desc = fe_alloc(fe, vring_desc_size(QNUM) +
						     vring_avail_size(QNUM),
					 4096);

		fe->cfg[q] = (struct virtqueue_config){
			.num = QNUM,
			.features = feat,
			.desc = desc,
			.avail = desc + vring_desc_size(QNUM),
			.used = fe_alloc(fe, vring_used_size(QNUM), 4096),
			.translate = fe_translate,
			.ctx = fe,
			.state = fe->state[q],
		};
		assert_int_equal(virtqueue_init(&fe->vq[q], &fe->cfg[q]), 0);
		assert_int_equal(pipe2(fe->call[q], O_CLOEXEC), 0);
		fe_vring_fd(fe, VHOST_USER_SET_VRING_CALL, q, fe->call[q][1]);
		fe_vring_state(fe, VHOST_USER_SET_VRING_NUM, q, QNUM);
		fe_vring_state(fe, VHOST_USER_SET_VRING_BASE, q, 0);
		a.desc = fe->uaddr + fe->cfg[q].desc;
		a.avail = fe->uaddr + fe->cfg[q].avail;
		a.used = fe->uaddr + fe->cfg[q].used;
		fe_set_ok(fe, VHOST_USER_SET_VRING_ADDR, &a, sizeof(a), NULL, 0);
	}
	for (q = 0; q < NQ; q++) {
		fe->kick[q] = eventfd(0, EFD_CLOEXEC);
		assert_true(fe->kick[q] >= 0);
		fe_vring_fd(fe, VHOST_USER_SET_VRING_KICK, q, fe->kick[q]);
		fe_vring_state(fe, VHOST_USER_SET_VRING_ENABLE, q, 1);
	}
}

static uint32_t fe_get_config32(struct fe *fe, uint32_t offset)
{
	struct vhost_user_config c = { .offset = 0, .size = offset + 4 };
	uint32_t v;

	fe_send(fe, VHOST_USER_GET_CONFIG, 0, &c,
		VHOST_USER_CONFIG_HDR_SIZE + c.size, NULL, 0);
	assert_int_equal(fe_recv(fe, VHOST_USER_GET_CONFIG, &c, sizeof(c)),
			 VHOST_USER_CONFIG_HDR_SIZE + offset + 4);
	assert_int_equal(c.size, offset + 4);
	memcpy(&v, c.payload + offset, 4);
	return le32_to_cpu(v);
}

static void fe_set_config32(struct fe *fe, uint32_t offset, uint32_t v)
{
	struct vhost_user_config c = { .offset = offset, .size = 4 };

	v = cpu_to_le32(v);
	memcpy(c.payload, &v, 4);
	fe_set_ok(fe, VHOST_USER_SET_CONFIG, &c, VHOST_USER_CONFIG_HDR_SIZE + 4,
		  NULL, 0);
}

static void fe_kick(struct fe *fe, unsigned int q)
{
	uint64_t one = 1;

	if (virtqueue_kick_prepare(&fe->vq[q]))
		assert_int_equal(write(fe->kick[q], &one, 8), 8);
}

/* Wait for the call pipe of @q, then collect one used chain. */
static void fe_wait_used(struct fe *fe, unsigned int q)
{
	uint8_t buf[64];
	void *token;
	uint32_t len;

	if (!wait_readable(fe->call[q][0]))
		fail_msg("no notification on queue %u", q);
	assert_true(read(fe->call[q][0], buf, sizeof(buf)) >= 8);
	assert_int_equal(virtqueue_get_used(&fe->vq[q], &token, &len), 0);
	assert_ptr_equal(token, fe);
	assert_int_equal(len, 0);
}

static uint64_t fe_file_bytes(struct fe *fe)
{
	struct stat st;

	assert_int_equal(fstat(fe->memfd, &st), 0);
	return (uint64_t)st.st_blocks * 512;
}

static void fe_report(struct fe *fe, uint64_t gpa, uint64_t len)
{
	struct vring_sg sg[2] = { { gpa, (uint32_t)(len / 2) },
				  { gpa + len / 2, (uint32_t)(len / 2) } };
	uint64_t before;

	memset(fe->mem + gpa, 0x11, len);
	/* Adding writes descriptors, which may allocate a page: measure
	 * after. */
	assert_int_equal(virtqueue_add(&fe->vq[Q_REPORT], sg, 0, 2, fe), 0);
	before = fe_file_bytes(fe);
	fe_kick(fe, Q_REPORT);
	fe_wait_used(fe, Q_REPORT);
	if (before - fe_file_bytes(fe) < len)
		fail_msg("st_blocks fell by %llu of %llu bytes",
			 (unsigned long long)(before - fe_file_bytes(fe)),
			 (unsigned long long)len);
	assert_int_equal(fe->mem[gpa], 0);
}

/* ---- the well-behaved frontend ---- */

static void run_good(int dev, uint64_t protocol)
{
	struct fe *fe = fe_new(dev);
	struct balloon_stats st0 = bstats(dev), st;

	fe_start(fe, protocol, "vu_good");
	assert_true(bstats(dev).connected);
	assert_int_equal(fe_get_config32(fe, 0), st0.num_pages);
	fe_report(fe, DATA_OFF, 4 * MIB);
	fe_report(fe, DATA_OFF + 4 * MIB, 2 * MIB);
	st = bstats(dev);
	assert_int_equal(st.reports - st0.reports, 2);
	assert_int_equal(st.discarded_bytes - st0.discarded_bytes, 6 * MIB);
	assert_int_equal(st.memory_bytes, MEM_SIZE);
	assert_true(st.resident_bytes <= fe_file_bytes(fe));
	fe_free(fe);
}

static void test_uml_sequence(void **unused)
{
	(void)unused;
	/* What UML negotiates, with and without REPLY_ACK. */
	run_good(0, PF_BACKEND | PF_CONFIG);
	run_good(0, PF_REPLY_ACK | PF_BACKEND | PF_CONFIG);
	assert_int_equal(count_maps("vu_good"), 0);
}

static void test_target_inflate_stats(void **unused)
{
	struct fe *fe = fe_new(1);
	struct vhost_user_hdr hdr;
	uint64_t arr, sbuf, before;
	uint32_t pfn[8];
	uint8_t stat[2 * VIRTIO_BALLOON_STAT_SIZE];
	uint16_t tag;
	uint64_t val;
	struct vring_sg sg;
	uint64_t end;

	(void)unused;
	fe_start(fe, PF_REPLY_ACK | PF_BACKEND | PF_CONFIG, "vu_target");

	/* The host sets a target: a config change on the backend channel. */
	assert_int_equal(balloon_set_target(balloon[1], 8), 0);
	assert_true(read_full(fe->backend[0], &hdr, sizeof(hdr)));
	assert_int_equal(hdr.request, VHOST_USER_BACKEND_CONFIG_CHANGE_MSG);
	assert_int_equal(hdr.flags & VHOST_USER_VERSION_MASK,
			 VHOST_USER_VERSION);
	assert_int_equal(hdr.size, 0);
	assert_int_equal(fe_get_config32(fe, 0), 8);

	/* Inflate 8 pages, then say so. */
	arr = fe_alloc(fe, sizeof(pfn), 4);
	for (unsigned int i = 0; i < 8; i++)
		pfn[i] = cpu_to_le32((DATA_OFF >> 12) + 2 * i);
	memcpy(fe->mem + arr, pfn, sizeof(pfn));
	memset(fe->mem + DATA_OFF, 0x22, 16 * 4096);
	sg = (struct vring_sg){ arr, sizeof(pfn) };
	assert_int_equal(virtqueue_add(&fe->vq[Q_INFLATE], &sg, 1, 0, fe), 0);
	before = fe_file_bytes(fe);
	fe_kick(fe, Q_INFLATE);
	fe_wait_used(fe, Q_INFLATE);
	assert_true(before - fe_file_bytes(fe) >= 8 * 4096);
	assert_int_equal(fe->mem[DATA_OFF + 4096], 0x22);
	assert_int_equal(fe->mem[DATA_OFF + 2 * 4096], 0);
	fe_set_config32(fe, 4, 8);
	assert_int_equal(bstats(1).actual, 8);
	assert_int_equal(bstats(1).num_pages, 8);

	/* Statistics: prime the queue, then the host asks for fresh ones. */
	sbuf = fe_alloc(fe, sizeof(stat), 8);
	tag = cpu_to_le16(VIRTIO_BALLOON_S_MEMFREE);
	val = cpu_to_le64(123456);
	memcpy(stat, &tag, 2);
	memcpy(stat + 2, &val, 8);
	tag = cpu_to_le16(VIRTIO_BALLOON_S_MEMTOT);
	val = cpu_to_le64(MEM_SIZE);
	memcpy(stat + 10, &tag, 2);
	memcpy(stat + 12, &val, 8);
	memcpy(fe->mem + sbuf, stat, sizeof(stat));
	sg = (struct vring_sg){ sbuf, sizeof(stat) };
	assert_int_equal(virtqueue_add(&fe->vq[Q_STATS], &sg, 1, 0, fe), 0);
	fe_kick(fe, Q_STATS);
	end = ms_now() + WAIT_MS;
	while (bstats(1).guest_stats_updates == 0) {
		if (ms_now() > end)
			fail_msg("stats never arrived");
		usleep(1000);
	}
	assert_int_equal(bstats(1).guest_stats[VIRTIO_BALLOON_S_MEMFREE],
			 123456);
	assert_int_equal(bstats(1).guest_stats[VIRTIO_BALLOON_S_MEMTOT],
			 MEM_SIZE);
	balloon_request_stats(balloon[1]);
	fe_wait_used(fe, Q_STATS);

	/* Shutdown as UML does it: actual 0, rings disabled in reverse. */
	fe_set_config32(fe, 4, 0);
	for (int q = NQ - 1; q >= 0; q--)
		fe_vring_state(fe, VHOST_USER_SET_VRING_ENABLE, (unsigned int)q,
			       0);
	fe_expect_alive(fe);
	/* GET_VRING_BASE stops a ring and tells where it stopped. */
	{
		struct vhost_user_vring_state s = { Q_INFLATE, 0 };

		fe_send(fe, VHOST_USER_GET_VRING_BASE, 0, &s, sizeof(s), NULL, 0);
		assert_int_equal(fe_recv(fe, VHOST_USER_GET_VRING_BASE, &s,
					 sizeof(s)),
				 sizeof(s));
		assert_int_equal(s.index, Q_INFLATE);
		assert_int_equal(s.num, 1);
	}
	assert_int_equal(balloon_set_target(balloon[1], 0), 0);
	fe_free(fe);
	assert_int_equal(bstats(1).actual, 0);
}

/* Two frontends on two sockets at once. */
static void test_two_devices(void **unused)
{
	struct fe *a = fe_new(0), *b = fe_new(1);

	(void)unused;
	fe_start(a, PF_BACKEND | PF_CONFIG, "vu_two_a");
	fe_start(b, PF_REPLY_ACK | PF_BACKEND | PF_CONFIG, "vu_two_b");
	fe_report(a, DATA_OFF, 2 * MIB);
	fe_report(b, DATA_OFF, 2 * MIB);
	fe_report(a, DATA_OFF + 2 * MIB, 2 * MIB);
	fe_free(a);
	fe_free(b);
}

/* ---- hostile frontends ---- */

static void test_hostile_protocol(void **unused)
{
	uint8_t junk[16] = { 0 };
	uint64_t v = 0, ack, dropped = counters(0).dropped;
	struct fe *fe;

	(void)unused;
	/* Unknown request, no REPLY_ACK: dropped. */
	fe = fe_new(0);
	fe_send(fe, 99, 0, NULL, 0, NULL, 0);
	fe_expect_dropped(fe);
	fe_free(fe);
	assert_int_equal(counters(0).dropped, dropped + 1);

	/* With REPLY_ACK the same is answered with an error instead. */
	fe = fe_new(0);
	fe_hello(fe, PF_REPLY_ACK | PF_BACKEND | PF_CONFIG);
	ack = fe_set(fe, 99, NULL, 0, NULL, 0);
	assert_int_equal(ack, ENOSYS);
	/* Wrong payload sizes. */
	assert_int_equal(fe_set(fe, VHOST_USER_SET_FEATURES, &v, 4, NULL, 0),
			 EMSGSIZE);
	assert_int_equal(fe_set(fe, VHOST_USER_SET_OWNER, &v, 8, NULL, 0),
			 EMSGSIZE);
	assert_int_equal(fe_set(fe, VHOST_USER_SET_VRING_NUM, junk, 12, NULL,
				0),
			 EMSGSIZE);
	/* Features that were not offered. */
	v = F(VIRTIO_F_RING_PACKED);
	assert_int_equal(fe_set(fe, VHOST_USER_SET_FEATURES, &v, 8, NULL, 0),
			 EINVAL);
	v = F(20);
	assert_int_equal(fe_set(fe, VHOST_USER_SET_PROTOCOL_FEATURES, &v, 8,
				NULL, 0),
			 EINVAL);
	/* Config outside the config space. */
	{
		struct vhost_user_config c = { .offset = 12, .size = 8 };

		assert_int_equal(fe_set(fe, VHOST_USER_SET_CONFIG, &c,
					VHOST_USER_CONFIG_HDR_SIZE + 8, NULL,
					0),
				 EINVAL);
		fe_send(fe, VHOST_USER_GET_CONFIG, 0, &c,
			VHOST_USER_CONFIG_HDR_SIZE + 8, NULL, 0);
		assert_int_equal(fe_recv(fe, VHOST_USER_GET_CONFIG, &c,
					 sizeof(c)),
				 0);
	}
	fe_expect_alive(fe);
	/* A GET with a wrong size cannot be answered: dropped. */
	fe_send(fe, VHOST_USER_GET_FEATURES, 0, &v, 8, NULL, 0);
	fe_expect_dropped(fe);
	fe_free(fe);

	/* A payload larger than any request: dropped. */
	fe = fe_new(0);
	{
		struct vhost_user_hdr h = { VHOST_USER_SET_CONFIG,
					    VHOST_USER_VERSION, 4096 };

		assert_int_equal(send_raw(fe->sock, &h, sizeof(h), NULL, 0), 0);
	}
	fe_expect_dropped(fe);
	fe_free(fe);

	/* A bad version: dropped. */
	fe = fe_new(0);
	{
		struct vhost_user_hdr h = { VHOST_USER_GET_FEATURES, 2, 0 };

		assert_int_equal(send_raw(fe->sock, &h, sizeof(h), NULL, 0), 0);
	}
	fe_expect_dropped(fe);
	fe_free(fe);
	expect_baseline_fds();
	run_good(0, PF_BACKEND | PF_CONFIG);
}

static void test_hostile_fds(void **unused)
{
	int fds[24], n;
	uint64_t arg = 0;
	struct fe *fe;

	(void)unused;
	for (n = 0; n < 24; n++) {
		fds[n] = eventfd(0, EFD_CLOEXEC);
		assert_true(fds[n] >= 0);
	}
	fe = fe_new(0);
	fe_hello(fe, PF_REPLY_ACK | PF_BACKEND | PF_CONFIG);
	/* Too many descriptors: 9 and 20 (more than the backend takes in). */
	assert_int_equal(fe_set(fe, VHOST_USER_SET_VRING_CALL, &arg, 8, fds, 9),
			 E2BIG);
	assert_int_equal(fe_set(fe, VHOST_USER_SET_VRING_CALL, &arg, 8, fds,
				20),
			 E2BIG);
	/* A descriptor where none belongs, none where one does. */
	assert_int_equal(fe_set(fe, VHOST_USER_SET_OWNER, NULL, 0, fds, 1),
			 EBADF);
	assert_int_equal(fe_set(fe, VHOST_USER_SET_VRING_CALL, &arg, 8, NULL,
				0),
			 EBADF);
	arg = VHOST_USER_VRING_NOFD;
	assert_int_equal(fe_set(fe, VHOST_USER_SET_VRING_CALL, &arg, 8, fds, 1),
			 EBADF);
	assert_int_equal(fe_set(fe, VHOST_USER_SET_BACKEND_REQ_FD, NULL, 0,
				NULL, 0),
			 EBADF);
	/* Reserved bits in a vring descriptor request. */
	arg = 1u << 12;
	assert_int_equal(fe_set(fe, VHOST_USER_SET_VRING_KICK, &arg, 8, fds, 1),
			 EINVAL);
	fe_expect_alive(fe);
	/* Without REPLY_ACK, too many descriptors drop the frontend. */
	fe->protocol = 0;
	fe_send(fe, VHOST_USER_SET_PROTOCOL_FEATURES, 0, &fe->protocol, 8,
		NULL, 0);
	arg = 0;
	fe_send(fe, VHOST_USER_SET_VRING_CALL, 0, &arg, 8, fds, 12);
	fe_expect_dropped(fe);
	fe_free(fe);
	for (n = 0; n < 24; n++)
		close(fds[n]);
	/* Every descriptor sent was closed by the backend. */
	expect_baseline_fds();
	run_good(0, PF_REPLY_ACK | PF_BACKEND | PF_CONFIG);
}

static void test_hostile_memory(void **unused)
{
	const char *name = "vu_hostile_mem";
	struct fe *fe = fe_new(0);
	int pipefd[2], ro, fds[9];
	char path[64];
	struct {
		uint32_t n, pad;
		struct vhost_user_mem_region r[9];
	} m;
	unsigned int i;

	(void)unused;
	fe_hello(fe, PF_REPLY_ACK | PF_BACKEND | PF_CONFIG);
	fe_mem(fe, name);
	assert_int_equal(pipe2(pipefd, O_CLOEXEC), 0);
	snprintf(path, sizeof(path), "/proc/self/fd/%d", fe->memfd);
	ro = open(path, O_RDONLY | O_CLOEXEC);
	assert_true(ro >= 0);

	/* Rings before memory. */
	{
		struct vhost_user_vring_addr a = { .index = 0, .desc = 4096 };

		assert_int_equal(fe_set(fe, VHOST_USER_SET_VRING_ADDR, &a,
					sizeof(a), NULL, 0),
				 EINVAL);
	}
	/* Size 0, wrapping, beyond the file, not a file, read-only. */
	assert_int_equal(fe_set_mem(fe, 0, 0, 0, 0, fe->memfd), EINVAL);
	assert_int_equal(fe_set_mem(fe, UINT64_MAX - 4095, 8192, 0, 0,
				    fe->memfd),
			 EOVERFLOW);
	assert_int_equal(fe_set_mem(fe, 0, 8192, UINT64_MAX - 4095, 0,
				    fe->memfd),
			 EOVERFLOW);
	assert_int_equal(fe_set_mem(fe, 0, MEM_SIZE, 0, 4096, fe->memfd),
			 ERANGE);
	assert_int_equal(fe_set_mem(fe, 0, 2 * MEM_SIZE, 0, 0, fe->memfd),
			 ERANGE);
	assert_int_equal(fe_set_mem(fe, 0, 4096, 0, 0, pipefd[0]), EINVAL);
	assert_int_equal(fe_set_mem(fe, 0, MEM_SIZE, 0, 0, ro), EACCES);

	/* Two regions: overlapping; and a good one then a bad one, after
	 * which the good one must be unmapped again. */
	memset(&m, 0, sizeof(m));
	m.n = 2;
	m.r[0] = (struct vhost_user_mem_region){ 0, MIB, 0, 0 };
	m.r[1] = (struct vhost_user_mem_region){ MIB / 2, MIB, 4 * MIB, 0 };
	fds[0] = fds[1] = fe->memfd;
	assert_int_equal(fe_set(fe, VHOST_USER_SET_MEM_TABLE, &m, 8 + 2 * 32,
				fds, 2),
			 EEXIST);
	m.r[1] = (struct vhost_user_mem_region){ 4 * MIB, MIB, 4 * MIB, 0 };
	fds[1] = pipefd[0];
	assert_int_equal(fe_set(fe, VHOST_USER_SET_MEM_TABLE, &m, 8 + 2 * 32,
				fds, 2),
			 EINVAL);
	/* Overlap in user addresses only. */
	m.r[1] = (struct vhost_user_mem_region){ 4 * MIB, MIB, MIB / 2, 0 };
	fds[1] = fe->memfd;
	assert_int_equal(fe_set(fe, VHOST_USER_SET_MEM_TABLE, &m, 8 + 2 * 32,
				fds, 2),
			 EEXIST);
	/* Descriptor count mismatch; too many regions; none; short. */
	assert_int_equal(fe_set(fe, VHOST_USER_SET_MEM_TABLE, &m, 8 + 2 * 32,
				fds, 1),
			 EBADF);
	m.n = 9;
	for (i = 0; i < 9; i++) {
		m.r[i] = (struct vhost_user_mem_region){ i * MIB, MIB, i * MIB,
							 0 };
		fds[i] = fe->memfd;
	}
	assert_int_equal(fe_set(fe, VHOST_USER_SET_MEM_TABLE, &m, 8 + 8 * 32,
				fds, 8),
			 E2BIG);
	m.n = 0;
	assert_int_equal(fe_set(fe, VHOST_USER_SET_MEM_TABLE, &m, 8, NULL, 0),
			 EINVAL);
	m.n = 2;
	assert_int_equal(fe_set(fe, VHOST_USER_SET_MEM_TABLE, &m, 8 + 32, fds,
				2),
			 EMSGSIZE);
	/* None of this left a mapping behind. */
	assert_int_equal(count_maps(name), 0);

	/* A good table maps; a bad one after it withdraws it (issue 7). */
	assert_int_equal(fe_set_mem(fe, 0, MEM_SIZE, 0x10000000, 0, fe->memfd),
			 0);
	assert_int_equal(count_maps(name), 1);
	assert_int_equal(bstats(0).memory_bytes, MEM_SIZE);
	assert_int_equal(fe_set_mem(fe, 0, 4096, 0, 0, pipefd[0]), EINVAL);
	assert_int_equal(count_maps(name), 0);
	assert_int_equal(bstats(0).memory_bytes, 0);
	assert_int_equal(fe_set_mem(fe, 0, MEM_SIZE, 0x10000000, 0, fe->memfd),
			 0);
	/* Ring addresses that are not in any region's user range. */
	{
		struct vhost_user_vring_addr a = { .index = 0, .desc = 4096,
						   .avail = 0x10000000,
						   .used = 0x10001000 };

		assert_int_equal(fe_set(fe, VHOST_USER_SET_VRING_ADDR, &a,
					sizeof(a), NULL, 0),
				 EFAULT);
	}
	fe_free(fe);
	close(pipefd[0]);
	close(pipefd[1]);
	close(ro);
	/* The connection's end unmapped the guest and closed its files. */
	assert_int_equal(count_maps(name), 0);
	expect_baseline_fds();
	run_good(0, PF_REPLY_ACK | PF_BACKEND | PF_CONFIG);
}

static void test_hostile_vrings(void **unused)
{
	struct fe *fe = fe_new(0);
	struct vhost_user_vring_state s;
	uint64_t arg;
	int fd = eventfd(0, EFD_CLOEXEC);

	(void)unused;
	fe_hello(fe, PF_REPLY_ACK | PF_BACKEND | PF_CONFIG);
	arg = F(VHOST_USER_F_PROTOCOL_FEATURES) | fe->features;
	fe_set_ok(fe, VHOST_USER_SET_FEATURES, &arg, 8, NULL, 0);
	/* Index out of range. */
	s = (struct vhost_user_vring_state){ 4, 256 };
	assert_int_equal(fe_set(fe, VHOST_USER_SET_VRING_NUM, &s, 8, NULL, 0),
			 ERANGE);
	s = (struct vhost_user_vring_state){ UINT32_MAX, 256 };
	assert_int_equal(fe_set(fe, VHOST_USER_SET_VRING_BASE, &s, 8, NULL, 0),
			 ERANGE);
	s.num = 1;
	assert_int_equal(fe_set(fe, VHOST_USER_SET_VRING_ENABLE, &s, 8, NULL,
				0),
			 ERANGE);
	arg = 200;
	assert_int_equal(fe_set(fe, VHOST_USER_SET_VRING_CALL, &arg, 8, &fd, 1),
			 ERANGE);
	/* Bad queue sizes; reporting needs 32 at least. */
	s = (struct vhost_user_vring_state){ 0, 0 };
	assert_int_equal(fe_set(fe, VHOST_USER_SET_VRING_NUM, &s, 8, NULL, 0),
			 EINVAL);
	s.num = 3;
	assert_int_equal(fe_set(fe, VHOST_USER_SET_VRING_NUM, &s, 8, NULL, 0),
			 EINVAL);
	s.num = 65536;
	assert_int_equal(fe_set(fe, VHOST_USER_SET_VRING_NUM, &s, 8, NULL, 0),
			 EINVAL);
	s = (struct vhost_user_vring_state){ Q_REPORT, 16 };
	assert_int_equal(fe_set(fe, VHOST_USER_SET_VRING_NUM, &s, 8, NULL, 0),
			 EINVAL);
	s = (struct vhost_user_vring_state){ 0, 70000 };
	assert_int_equal(fe_set(fe, VHOST_USER_SET_VRING_BASE, &s, 8, NULL, 0),
			 EINVAL);
	s = (struct vhost_user_vring_state){ 0, 2 };
	assert_int_equal(fe_set(fe, VHOST_USER_SET_VRING_ENABLE, &s, 8, NULL,
				0),
			 EINVAL);
	fe_expect_alive(fe);
	/* GET_VRING_BASE of a ring that does not exist: no answer to give. */
	s = (struct vhost_user_vring_state){ 9, 0 };
	fe_send(fe, VHOST_USER_GET_VRING_BASE, 0, &s, 8, NULL, 0);
	fe_expect_dropped(fe);
	fe_free(fe);
	close(fd);
	expect_baseline_fds();
	run_good(0, PF_BACKEND | PF_CONFIG);
}

/* A frontend whose call pipe is full and whose kick pipe hung up. */
static void test_hostile_notifiers(void **unused)
{
	struct fe *fe = fe_new(0);
	struct vring_sg sg = { DATA_OFF, 2 * MIB };
	uint8_t junk[4096] = { 0 };
	uint64_t one = 1, end;
	int kp[2];

	(void)unused;
	fe_start(fe, PF_REPLY_ACK | PF_BACKEND | PF_CONFIG, "vu_notifiers");
	/* Fill the reporting call pipe (we kept its write end). */
	assert_int_equal(fcntl(fe->call[Q_REPORT][1], F_SETFL, O_NONBLOCK), 0);
	for (size_t chunk = sizeof(junk); chunk; chunk /= 8)
		while (write(fe->call[Q_REPORT][1], junk, chunk) > 0)
			;
	memset(fe->mem + DATA_OFF, 0x33, 2 * MIB);
	assert_int_equal(virtqueue_add(&fe->vq[Q_REPORT], &sg, 0, 1, fe), 0);
	assert_int_equal(write(fe->kick[Q_REPORT], &one, 8), 8);
	/* The backend completes the report and does not block on the pipe. */
	end = ms_now() + WAIT_MS;
	while (vring_load_acquire(&fe->vq[Q_REPORT].vr.used->idx) != 1) {
		if (ms_now() > end)
			fail_msg("report not completed");
		usleep(1000);
	}
	fe_expect_alive(fe);
	assert_int_equal(fe->mem[DATA_OFF], 0);
	{
		void *token;
		uint32_t len;

		assert_int_equal(virtqueue_get_used(&fe->vq[Q_REPORT], &token,
						    &len),
				 0);
	}

	/* A kick descriptor that hangs up (a pipe whose writer closed). */
	assert_int_equal(pipe2(kp, O_CLOEXEC), 0);
	fe_vring_fd(fe, VHOST_USER_SET_VRING_KICK, Q_INFLATE, kp[0]);
	close(kp[0]);
	close(kp[1]);
	fe_expect_alive(fe);
	fe_expect_alive(fe);

	/* A broken ring: its error eventfd is signalled, the others work. */
	{
		int err = eventfd(0, EFD_CLOEXEC);
		struct vring *vr = &fe->vq[Q_STATS].vr;

		fe_vring_fd(fe, VHOST_USER_SET_VRING_ERR, Q_STATS, err);
		vr->desc[0] = (struct vring_desc){
			.addr = cpu_to_le64(MEM_SIZE), .len = cpu_to_le32(16),
		};
		vr->avail->ring[0] = 0;
		vring_store_release(&vr->avail->idx, 1);
		assert_int_equal(write(fe->kick[Q_STATS], &one, 8), 8);
		if (!wait_readable(err))
			fail_msg("error eventfd not signalled");
		close(err);
		/* Drain the pipe we filled. */
		assert_int_equal(fcntl(fe->call[Q_REPORT][0], F_SETFL,
				       O_NONBLOCK),
				 0);
		while (read(fe->call[Q_REPORT][0], junk, sizeof(junk)) > 0)
			;
		fe_report(fe, DATA_OFF + 2 * MIB, 2 * MIB);
	}
	fe_free(fe);
	expect_baseline_fds();
}

/* Frontends that go away in the middle of a message. */
static void test_hostile_disconnects(void **unused)
{
	struct vhost_user_hdr h = { VHOST_USER_SET_MEM_TABLE, VHOST_USER_VERSION,
				    72 };
	uint64_t conns = counters(0).connections;
	struct fe *fe;
	int memfd;

	(void)unused;
	fe = fe_new(0);
	assert_int_equal(send_raw(fe->sock, &h, 6, NULL, 0), 0);
	fe_free(fe);

	memfd = memfd_create("vu_midway", MFD_CLOEXEC);
	assert_true(memfd >= 0);
	fe = fe_new(0);
	assert_int_equal(send_raw(fe->sock, &h, sizeof(h), &memfd, 1), 0);
	assert_int_equal(send_raw(fe->sock, "0123456789", 10, NULL, 0), 0);
	fe_free(fe);
	close(memfd);

	/* Gone after setting everything up, with rings live. */
	fe = fe_new(0);
	fe_start(fe, PF_BACKEND | PF_CONFIG, "vu_midway2");
	fe_free(fe);
	assert_int_equal(count_maps("vu_midway"), 0);
	expect_baseline_fds();
	assert_int_equal(counters(0).connections, conns + 3);
	run_good(0, PF_REPLY_ACK | PF_BACKEND | PF_CONFIG);
}

/* ---- descriptors and memory the frontend turns against us ---- */

/* Stop the server thread between two rounds; the test may run rounds.
 * Only a single-loop server runs on a thread the test controls. */
static void server_pause(void)
{
	pthread_mutex_lock(&pause_lock);
	pause_want = true;
	pthread_mutex_unlock(&pause_lock);
	vhost_user_server_wake(srv);
	pthread_mutex_lock(&pause_lock);
	while (!paused)
		pthread_cond_wait(&pause_cond, &pause_lock);
	pthread_mutex_unlock(&pause_lock);
}

static void server_resume(void)
{
	pthread_mutex_lock(&pause_lock);
	pause_want = false;
	pthread_cond_broadcast(&pause_cond);
	pthread_mutex_unlock(&pause_lock);
}

/* Device @i at "$tmpdir/balloon@i.sock", added to the running server.
 * Adding is the owner's, between rounds of a single loop. */
static void server_add_device(unsigned int i)
{
	snprintf(sock_path[i], sizeof(sock_path[i]), "%s/balloon%u.sock", tmpdir, i);
	if (threads == VHOST_USER_THREAD_ONE)
		server_pause();
	assert_int_equal(vhost_user_server_add_balloon(srv, sock_path[i],
						       &balloon[i]),
			 0);
	if (threads == VHOST_USER_THREAD_ONE)
		server_resume();
}

static void set_blocking(int fd)
{
	int fl = fcntl(fd, F_GETFL);

	assert_true(fl >= 0);
	assert_int_equal(fcntl(fd, F_SETFL, fl & ~O_NONBLOCK), 0);
}

/* Put one inflate chain of one PFN (the page at DATA_OFF) on the ring. */
static void fe_inflate_one(struct fe *fe, uint64_t pfn_gpa)
{
	uint32_t pfn = cpu_to_le32(DATA_OFF >> VIRTIO_BALLOON_PFN_SHIFT);
	struct vring_sg sg = { pfn_gpa, 4 };

	memcpy(fe->mem + pfn_gpa, &pfn, sizeof(pfn));
	assert_int_equal(virtqueue_add(&fe->vq[Q_INFLATE], &sg, 1, 0, fe), 0);
}

/* Wait (bounded) until the backend has used @n chains of @q, then collect
 * the last (which, with EVENT_IDX, asks for the next interrupt). */
static void fe_wait_used_idx(struct fe *fe, unsigned int q, uint16_t n)
{
	uint64_t end = ms_now() + WAIT_MS;
	void *token;
	uint32_t len;

	while (vring_load_acquire(&fe->vq[q].vr.used->idx) != n) {
		if (ms_now() > end)
			fail_msg("queue %u: %u chains not used", q, n);
		usleep(1000);
	}
	assert_int_equal(virtqueue_get_used(&fe->vq[q], &token, &len), 0);
}

/* Only pipes, eventfds and connected unix sockets may notify: a listening
 * socket or a file is refused. */
static void test_hostile_descriptor_types(void **unused)
{
	struct sockaddr_un sun = { .sun_family = AF_UNIX };
	int lsn, conn, sp[2], memfd, p[2], e;
	uint64_t arg = 0;
	struct fe *fe;

	(void)unused;
	lsn = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
	assert_true(lsn >= 0);
	strcpy(sun.sun_path + 1, "vu_kick_listener"); /* abstract */
	assert_int_equal(bind(lsn, (struct sockaddr *)&sun, sizeof(sun)), 0);
	assert_int_equal(listen(lsn, 1), 0);
	/* A pending connection: the listener reads as ready forever. */
	conn = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
	assert_int_equal(connect(conn, (struct sockaddr *)&sun, sizeof(sun)),
			 0);
	assert_int_equal(socketpair(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0, sp),
			 0);
	memfd = memfd_create("vu_notify_file", MFD_CLOEXEC);
	assert_true(memfd >= 0);
	assert_int_equal(pipe2(p, O_CLOEXEC), 0);
	e = eventfd(0, EFD_CLOEXEC);
	assert_true(e >= 0);

	fe = fe_new(0);
	fe_hello(fe, PF_REPLY_ACK | PF_BACKEND | PF_CONFIG);
	assert_int_equal(fe_set(fe, VHOST_USER_SET_VRING_KICK, &arg, 8, &lsn,
				1),
			 EINVAL);
	assert_int_equal(fe_set(fe, VHOST_USER_SET_VRING_CALL, &arg, 8,
				&memfd, 1),
			 EINVAL);
	/* What user-mode Linux (socketpairs) and QEMU send is taken. */
	assert_int_equal(fe_set(fe, VHOST_USER_SET_VRING_ERR, &arg, 8, &sp[0],
				1),
			 0);
	assert_int_equal(fe_set(fe, VHOST_USER_SET_VRING_KICK, &arg, 8, &p[0],
				1),
			 0);
	assert_int_equal(fe_set(fe, VHOST_USER_SET_VRING_CALL, &arg, 8, &e, 1),
			 0);
	fe_expect_alive(fe);
	fe_free(fe);
	close(lsn);
	close(conn);
	close(sp[0]);
	close(sp[1]);
	close(memfd);
	close(p[0]);
	close(p[1]);
	close(e);
	expect_baseline_fds();
}

/* Call descriptors the frontend made blocking and filled (C1). */
static void test_hostile_blocking_call(void **unused)
{
	struct fe *fe = fe_new(0);
	uint64_t one = 1, full = UINT64_MAX - 1, pfn_gpa, skipped;
	uint8_t junk[4096] = { 0 };
	int e;

	(void)unused;
	fe_start(fe, PF_REPLY_ACK | PF_BACKEND | PF_CONFIG, "vu_blockcall");
	pfn_gpa = fe_alloc(fe, 4096, 4096);
	skipped = counters(0).notify_skipped;

	/* A full pipe whose (shared) file is blocking again. */
	assert_int_equal(fcntl(fe->call[Q_INFLATE][1], F_SETFL, O_NONBLOCK),
			 0);
	for (size_t chunk = sizeof(junk); chunk; chunk /= 8)
		while (write(fe->call[Q_INFLATE][1], junk, chunk) > 0)
			;
	set_blocking(fe->call[Q_INFLATE][1]);
	fe_inflate_one(fe, pfn_gpa);
	assert_int_equal(write(fe->kick[Q_INFLATE], &one, 8), 8);
	fe_wait_used_idx(fe, Q_INFLATE, 1);
	fe_expect_alive(fe);
	assert_true(counters(0).notify_skipped > skipped);

	/* A blocking eventfd holding the most it can: a write would wait. */
	e = eventfd(0, EFD_CLOEXEC);
	assert_true(e >= 0);
	fe_vring_fd(fe, VHOST_USER_SET_VRING_CALL, Q_INFLATE, e);
	assert_int_equal(write(e, &full, 8), 8);
	skipped = counters(0).notify_skipped;
	fe_inflate_one(fe, pfn_gpa);
	assert_int_equal(write(fe->kick[Q_INFLATE], &one, 8), 8);
	fe_wait_used_idx(fe, Q_INFLATE, 2);
	fe_expect_alive(fe);
	assert_true(counters(0).notify_skipped > skipped);
	assert_true(bstats(0).inflated_pages >= 2);
	close(e);
	fe_free(fe);
	expect_baseline_fds();
}

static atomic_bool kick_thief_stop, kick_thief_done;

/* Reads the frontend's own kicks from a blocking eventfd. */
static void *kick_thief(void *arg)
{
	int fd = *(int *)arg;
	uint64_t v;

	while (!atomic_load(&kick_thief_stop))
		if (read(fd, &v, sizeof(v)) < 0)
			break;
	atomic_store(&kick_thief_done, true);
	return NULL;
}

/* A blocking kick eventfd the frontend empties in a race with us (C2). */
static void test_hostile_kick_race(void **unused)
{
	struct fe *fe = fe_new(0);
	uint64_t one = 1;
	pthread_t t;
	int i, k;

	(void)unused;
	fe_start(fe, PF_REPLY_ACK | PF_BACKEND | PF_CONFIG, "vu_kickrace");
	set_blocking(fe->kick[Q_INFLATE]);
	atomic_store(&kick_thief_stop, false);
	atomic_store(&kick_thief_done, false);
	assert_int_equal(pthread_create(&t, NULL, kick_thief,
					&fe->kick[Q_INFLATE]),
			 0);
	/* Every request is answered: the backend never waits for a kick. */
	for (i = 0; i < 1000; i++) {
		for (k = 0; k < 200; k++)
			assert_int_equal(write(fe->kick[Q_INFLATE], &one, 8),
					 8);
		fe_expect_alive(fe);
	}
	atomic_store(&kick_thief_stop, true);
	/* The backend may take the kick meant to wake the thief: repeat. */
	for (i = 0; i < WAIT_MS && !atomic_load(&kick_thief_done); i++) {
		assert_int_equal(write(fe->kick[Q_INFLATE], &one, 8), 8);
		usleep(1000);
	}
	assert_true(atomic_load(&kick_thief_done));
	pthread_join(t, NULL);
	fe_free(fe);
	expect_baseline_fds();
}

/* The counter of an eventfd we hold, from its fdinfo. */
static uint64_t eventfd_count(int fd)
{
	char path[64], line[128];
	uint64_t v = 0;
	bool found = false;
	FILE *f;

	snprintf(path, sizeof(path), "/proc/self/fdinfo/%d", fd);
	f = fopen(path, "r");
	assert_non_null(f);
	while (fgets(line, sizeof(line), f))
		if (!strncmp(line, "eventfd-count:", 14)) {
			v = strtoull(line + 14, NULL, 16);
			found = true;
		}
	fclose(f);
	assert_true(found);
	return v;
}

/* A kick that stays readable forever is read a bounded number of times,
 * not once per round (C4). */
static void test_hostile_kick_forever(void **unused)
{
	struct fe *fe = fe_new(0);
	uint64_t big = UINT64_MAX - 1;
	int sem, i;

	(void)unused;
	fe_start(fe, PF_REPLY_ACK | PF_BACKEND | PF_CONFIG, "vu_kicksem");
	sem = eventfd(0, EFD_SEMAPHORE | EFD_CLOEXEC);
	assert_true(sem >= 0);
	fe_vring_fd(fe, VHOST_USER_SET_VRING_KICK, 1, sem);
	assert_int_equal(write(sem, &big, 8), 8);
	/* Each request and reply is at least one more round. */
	for (i = 0; i < 200; i++)
		fe_expect_alive(fe);
	/* One edge, one bounded drain: far fewer reads than rounds. */
	assert_true(big - eventfd_count(sem) <= 64);
	close(sem);
	fe_free(fe);
	expect_baseline_fds();
}

/* The frontend shrinks its memory file under the backend's mapping: the
 * backend survives, drops it and serves the next one (C3). */
static void test_hostile_shrunk_memory(void **unused)
{
	struct fe *fe = fe_new(0);
	uint64_t one = 1, dropped = counters(0).dropped;

	(void)unused;
	fe_start(fe, PF_REPLY_ACK | PF_BACKEND | PF_CONFIG, "vu_shrunk");
	fe_inflate_one(fe, fe_alloc(fe, 4096, 4096));
	/* From here on neither side may touch the rings in fe->mem. */
	assert_int_equal(ftruncate(fe->memfd, 0), 0);
	assert_int_equal(write(fe->kick[Q_INFLATE], &one, 8), 8);
	fe_expect_dropped(fe);
	assert_int_equal(counters(0).dropped, dropped + 1);
	fe_free(fe);
	assert_int_equal(count_maps("vu_shrunk"), 0);
	expect_baseline_fds();
	run_good(0, PF_REPLY_ACK | PF_BACKEND | PF_CONFIG);
}

/* SET_VRING_KICK and the old kick descriptor's hang-up in one batch: the
 * hang-up must not close the new descriptor (S2). */
static void test_stale_kick_event(void **unused)
{
	struct fe *fe = fe_new(0);
	uint64_t arg = Q_INFLATE, ack;
	int kp[2], fresh;

	(void)unused;
	if (threads != VHOST_USER_THREAD_ONE) {
		fe_free(fe);
		skip();
	}
	fe_start(fe, PF_REPLY_ACK | PF_BACKEND | PF_CONFIG, "vu_stalekick");
	assert_int_equal(pipe2(kp, O_CLOEXEC), 0);
	fe_vring_fd(fe, VHOST_USER_SET_VRING_KICK, Q_INFLATE, kp[0]);
	close(kp[0]);
	fresh = eventfd(0, EFD_CLOEXEC);
	assert_true(fresh >= 0);

	server_pause();
	/* Ready in this order: the request, then the old pipe's hang-up. */
	fe_send(fe, VHOST_USER_SET_VRING_KICK, VHOST_USER_FLAG_NEED_REPLY,
		&arg, 8, &fresh, 1);
	close(kp[1]);
	server_resume();
	assert_int_equal(fe_recv(fe, VHOST_USER_SET_VRING_KICK, &ack, 8), 8);
	assert_int_equal(ack, 0);

	close(fe->kick[Q_INFLATE]);
	fe->kick[Q_INFLATE] = fresh;
	fe_inflate_one(fe, fe_alloc(fe, 4096, 4096));
	fe_kick(fe, Q_INFLATE);
	fe_wait_used(fe, Q_INFLATE);
	fe_free(fe);
	expect_baseline_fds();
}

/* A ring of QNUM chains of BALLOON's 1024 PFNs each is discarded over many
 * rounds, a request in the same batch is answered within the first, and
 * the rest is done without another kick; a restart shares the budget (S4). */
static void test_discard_budget(void **unused)
{
	const uint64_t total = (uint64_t)QNUM * 1024;
	struct vhost_user_vring_state base0 = { Q_INFLATE, 0 };
	struct vhost_user_vring_state enable = { Q_INFLATE, 1 };
	struct fe *fe = fe_new(0);
	struct vring_sg sg;
	uint64_t one = 1, before, f, pfn_gpa;
	uint32_t *pfns;
	unsigned int i;

	(void)unused;
	if (threads != VHOST_USER_THREAD_ONE) {
		fe_free(fe);
		skip();
	}
	fe_start(fe, PF_REPLY_ACK | PF_BACKEND | PF_CONFIG, "vu_budget");
	pfn_gpa = fe_alloc(fe, 4096, 4096);
	pfns = (uint32_t *)(fe->mem + pfn_gpa);
	for (i = 0; i < 1024; i++) /* not contiguous: one discard each */
		pfns[i] = cpu_to_le32((DATA_OFF >> VIRTIO_BALLOON_PFN_SHIFT) +
				      2 * i);
	sg = (struct vring_sg){ pfn_gpa, 4096 };
	for (i = 0; i < QNUM; i++)
		assert_int_equal(virtqueue_add(&fe->vq[Q_INFLATE], &sg, 1, 0,
					       fe),
				 0);
	before = bstats(0).inflated_pages;

	server_pause();
	/* The kick, then a request: both in the next round's batch. */
	assert_int_equal(write(fe->kick[Q_INFLATE], &one, 8), 8);
	fe_send(fe, VHOST_USER_GET_FEATURES, 0, NULL, 0, NULL, 0);
	assert_int_equal(vhost_user_server_run(srv, WAIT_MS), 0);
	assert_true(bstats(0).inflated_pages - before < total / 4);
	assert_int_equal(fe_recv(fe, VHOST_USER_GET_FEATURES, &f, 8), 8);
	/* No more kicks: the leftover work goes on by itself. */
	for (i = 0; i < 10000 && bstats(0).inflated_pages - before < total;
	     i++)
		assert_int_equal(vhost_user_server_run(srv, WAIT_MS), 0);
	assert_int_equal(bstats(0).inflated_pages - before, total);

	/* Rewind and restart in one batch: bounded again. */
	before = bstats(0).inflated_pages;
	vring_store_release(&fe->vq[Q_INFLATE].vr.used->idx, 0);
	fe_send(fe, VHOST_USER_SET_VRING_BASE, 0, &base0, 8, NULL, 0);
	fe_send(fe, VHOST_USER_SET_VRING_ENABLE, 0, &enable, 8, NULL, 0);
	fe_send(fe, VHOST_USER_GET_FEATURES, 0, NULL, 0, NULL, 0);
	assert_int_equal(vhost_user_server_run(srv, WAIT_MS), 0);
	assert_int_equal(fe_recv(fe, VHOST_USER_GET_FEATURES, &f, 8), 8);
	assert_true(bstats(0).inflated_pages - before > 0);
	assert_true(bstats(0).inflated_pages - before < total / 4);
	server_resume();
	fe_free(fe);
	expect_baseline_fds();
}

/* ---- issue 7: five ways a frontend stopped or misled the host ---- */

/* Set up ring @q with @num entries at guest addresses @desc, @avail and
 * @used, its call pipe and kick eventfd, and enable it unless @enable is
 * false (the caller sends that itself when it must not wait for the ack). */
static void fe_raw_ring(struct fe *fe, unsigned int q, unsigned int num,
			uint64_t desc, uint64_t avail, uint64_t used, bool enable)
{
	struct vhost_user_vring_addr a = {
		.index = q,
		.desc = fe->uaddr + desc,
		.avail = fe->uaddr + avail,
		.used = fe->uaddr + used,
	};

	if (fe->call[q][0] < 0)
		assert_int_equal(pipe2(fe->call[q], O_CLOEXEC), 0);
	fe_vring_fd(fe, VHOST_USER_SET_VRING_CALL, q, fe->call[q][1]);
	fe_vring_state(fe, VHOST_USER_SET_VRING_NUM, q, num);
	fe_vring_state(fe, VHOST_USER_SET_VRING_BASE, q, 0);
	fe_set_ok(fe, VHOST_USER_SET_VRING_ADDR, &a, sizeof(a), NULL, 0);
	if (fe->kick[q] < 0) {
		fe->kick[q] = eventfd(0, EFD_CLOEXEC);
		assert_true(fe->kick[q] >= 0);
	}
	fe_vring_fd(fe, VHOST_USER_SET_VRING_KICK, q, fe->kick[q]);
	if (enable)
		fe_vring_state(fe, VHOST_USER_SET_VRING_ENABLE, q, 1);
}

/* SET_VRING_ENABLE(1) without waiting for an answer. */
static void fe_enable_nowait(struct fe *fe, unsigned int q)
{
	struct vhost_user_vring_state s = { q, 1 };

	fe_send(fe, VHOST_USER_SET_VRING_ENABLE, 0, &s, sizeof(s), NULL, 0);
}

struct table2 {
	uint32_t n, pad;
	struct vhost_user_mem_region r[2];
};

/*
 * Send the @variant'th kind of table the backend must refuse.
 * Return: the ack (an errno), or 0 when it was accepted.
 */
static uint64_t fe_refused_table(struct fe *fe, unsigned int variant,
				 int badfd)
{
	struct table2 m = { 0 };
	int fds[2] = { fe->memfd, fe->memfd };

	switch (variant) {
	case 0: /* no regions */
		return fe_set(fe, VHOST_USER_SET_MEM_TABLE, &m, 8, NULL, 0);
	case 1: /* two regions overlapping in guest-physical addresses */
		m.n = 2;
		m.r[0] = (struct vhost_user_mem_region){ 0, MEM_SIZE, fe->uaddr,
							 0 };
		m.r[1] = (struct vhost_user_mem_region){ MIB, MIB,
							 fe->uaddr + 2 * MEM_SIZE,
							 0 };
		return fe_set(fe, VHOST_USER_SET_MEM_TABLE, &m,
			      8 + 2 * sizeof(m.r[0]), fds, 2);
	case 2: /* a descriptor that is no memory file */
		return fe_set_mem(fe, 0, MEM_SIZE, fe->uaddr, 0, badfd);
	default: /* a size the file cannot back */
		return fe_set_mem(fe, 0, 2 * MEM_SIZE, fe->uaddr, 0, fe->memfd);
	}
}

/*
 * Case 1: a refused SET_MEM_TABLE leaves no table.  After each kind of
 * refusal a kick must not be served (no used entry, no discard) until a
 * valid table arrives; then it is.
 */
static void test_refused_table_withdraws(void **unused)
{
	struct fe *fe = fe_new(0);
	uint64_t one = 1, pfn_gpa;
	uint16_t used = 0;
	unsigned int variant;
	int pipefd[2];

	(void)unused;
	fe_start(fe, PF_REPLY_ACK | PF_BACKEND | PF_CONFIG, "vu_withdrawn");
	pfn_gpa = fe_alloc(fe, 4096, 4096);
	assert_int_equal(pipe2(pipefd, O_CLOEXEC), 0);
	for (variant = 0; variant < 4; variant++) {
		assert_int_not_equal(fe_refused_table(fe, variant, pipefd[0]), 0);
		/* Only the frontend's own mapping is left. */
		assert_int_equal(count_maps("vu_withdrawn"), 1);
		assert_int_equal(bstats(0).memory_bytes, 0);

		memset(fe->mem + DATA_OFF, 0x44, 4096);
		fe_inflate_one(fe, pfn_gpa);
		assert_int_equal(write(fe->kick[Q_INFLATE], &one, 8), 8);
		/* Two more rounds of the device after the kick. */
		fe_expect_alive(fe);
		fe_expect_alive(fe);
		if (vring_load_acquire(&fe->vq[Q_INFLATE].vr.used->idx) != used)
			fail_msg("variant %u: a kick was served through a refused table",
				 variant);
		assert_int_equal(fe->mem[DATA_OFF], 0x44);

		/* A valid table brings the ring back. */
		assert_int_equal(fe_set_mem(fe, 0, MEM_SIZE, fe->uaddr, 0,
					    fe->memfd),
				 0);
		assert_int_equal(write(fe->kick[Q_INFLATE], &one, 8), 8);
		fe_wait_used_idx(fe, Q_INFLATE, ++used);
		assert_int_equal(fe->mem[DATA_OFF], 0);
	}
	fe_free(fe);
	close(pipefd[0]);
	close(pipefd[1]);
	assert_int_equal(count_maps("vu_withdrawn"), 0);
	expect_baseline_fds();
}

/* HugePages_Free of the default size, or -1 when unknown. */
static long hugepages_free(void)
{
	FILE *f = fopen("/proc/meminfo", "r");
	char line[128];
	long n = -1;

	if (!f)
		return -1;
	while (fgets(line, sizeof(line), f))
		if (sscanf(line, "HugePages_Free: %ld", &n) == 1)
			break;
	fclose(f);
	return n;
}

/*
 * A hugetlbfs memfd of one huge page whose first touch raises SIGBUS,
 * because no huge page is free.
 * Return: the descriptor with *@page its page size; -1 with *@why set when
 * this machine cannot give one.
 */
static int hugetlb_memfd_that_faults(size_t *page, const char **why)
{
	struct stat st;
	int fd;

	if (hugepages_free() != 0) {
		*why = "huge pages are free here (or unknown): no fault to provoke";
		return -1;
	}
	fd = memfd_create("vu_hugetlb", MFD_CLOEXEC | MFD_HUGETLB);
	if (fd < 0) {
		*why = "memfd_create(MFD_HUGETLB) failed: no hugetlbfs";
		return -1;
	}
	if (fstat(fd, &st) || ftruncate(fd, st.st_blksize)) {
		*why = "cannot size a hugetlbfs memfd";
		close(fd);
		return -1;
	}
	*page = (size_t)st.st_blksize;
	return fd;
}

/* The hugetlb attack on @dev: returns once the frontend was dropped. */
static void attack_hugetlb(int dev, int hfd, size_t page)
{
	struct fe *fe = fe_new(dev);
	uint64_t feat;

	fe_hello(fe, PF_REPLY_ACK | PF_BACKEND | PF_CONFIG);
	feat = fe->features;
	fe_set_ok(fe, VHOST_USER_SET_FEATURES, &feat, sizeof(feat), NULL, 0);
	fe->uaddr = 0x40000000;
	/* Accepted: a hugetlbfs file is memory as good as tmpfs. */
	assert_int_equal(fe_set_mem(fe, 0, page, fe->uaddr, 0, hfd), 0);
	/* Starting the ring reads used->idx: the first touch. */
	fe_raw_ring(fe, Q_INFLATE, QNUM, 0, 4096, 8192, false);
	fe_enable_nowait(fe, Q_INFLATE);
	fe_expect_dropped(fe);
	fe_free(fe);
}

/* Case 2: a hugetlbfs memory file with no huge page free. */
static void test_hugetlb_memory(void **unused)
{
	uint64_t dropped = counters(0).dropped;
	const char *why;
	size_t page;
	int hfd = hugetlb_memfd_that_faults(&page, &why);

	(void)unused;
	if (hfd < 0)
		fail_msg("%s", why); /* main() skips before this */
	attack_hugetlb(0, hfd, page);
	close(hfd);
	assert_int_equal(counters(0).dropped, dropped + 1);
	assert_int_equal(count_maps("vu_hugetlb"), 0);
	expect_baseline_fds();
	run_good(0, PF_REPLY_ACK | PF_BACKEND | PF_CONFIG);
}

#define STORM_CHAINS 40
#define STORM_BUFS 1024 /* BALLOON_PFNS_MAX, and the ring's size */
#define STORM_B_GPA (1ull << 30)
/* Every other page, so that patched pages could not merge into one mapping. */
#define STORM_STRIDE 8192
#define STORM_B_SIZE ((uint64_t)STORM_CHAINS * STORM_BUFS * STORM_STRIDE)

/*
 * The fault storm on @dev: rings in region A, buffers in region B, B
 * truncated, then 40 chains of 1024 indirect 4-byte buffers, each on its
 * own page of B (every other page), on the deflate queue.  Returns once the frontend was
 * dropped.
 */
static void attack_fault_storm(int dev)
{
	const uint64_t desc = 0x10000, avail = 0x14000, used = 0x15000;
	const uint64_t tables = 0x100000;
	struct fe *fe = fe_new(dev);
	struct table2 m = { 0 };
	struct vring_desc *d;
	struct vring_avail *av;
	uint64_t feat, one = 1;
	int fds[2], bfd;
	unsigned int c, i;

	fe_hello(fe, PF_REPLY_ACK | PF_BACKEND | PF_CONFIG);
	feat = fe->features;
	fe_set_ok(fe, VHOST_USER_SET_FEATURES, &feat, sizeof(feat), NULL, 0);
	fe_mem(fe, "vu_storm_a");
	fe->mem = mmap(NULL, MEM_SIZE, PROT_READ | PROT_WRITE, MAP_SHARED,
		       fe->memfd, 0);
	assert_true(fe->mem != MAP_FAILED);
	fe->uaddr = (uint64_t)(uintptr_t)fe->mem;
	bfd = memfd_create("vu_storm_b", MFD_CLOEXEC);
	assert_true(bfd >= 0);
	assert_int_equal(ftruncate(bfd, (off_t)STORM_B_SIZE), 0);
	m.n = 2;
	m.r[0] = (struct vhost_user_mem_region){ 0, MEM_SIZE, fe->uaddr, 0 };
	m.r[1] = (struct vhost_user_mem_region){ STORM_B_GPA, STORM_B_SIZE,
						 fe->uaddr + STORM_B_GPA, 0 };
	fds[0] = fe->memfd;
	fds[1] = bfd;
	assert_int_equal(fe_set(fe, VHOST_USER_SET_MEM_TABLE, &m,
				8 + 2 * sizeof(m.r[0]), fds, 2),
			 0);
	fe_raw_ring(fe, 1, STORM_BUFS, desc, avail, used, true);

	d = (struct vring_desc *)(fe->mem + desc);
	av = (struct vring_avail *)(fe->mem + avail);
	for (c = 0; c < STORM_CHAINS; c++) {
		struct vring_desc *t = (struct vring_desc *)(fe->mem + tables) +
				       (size_t)c * STORM_BUFS;

		for (i = 0; i < STORM_BUFS; i++)
			t[i] = (struct vring_desc){
				.addr = cpu_to_le64(STORM_B_GPA +
						    ((uint64_t)c * STORM_BUFS + i) *
							    STORM_STRIDE),
				.len = cpu_to_le32(4),
				.flags = cpu_to_le16(i + 1 < STORM_BUFS ?
							     VRING_DESC_F_NEXT :
							     0),
				.next = cpu_to_le16((uint16_t)(i + 1)),
			};
		d[c] = (struct vring_desc){
			.addr = cpu_to_le64(tables + (uint64_t)c * STORM_BUFS *
							     sizeof(*t)),
			.len = cpu_to_le32(STORM_BUFS * sizeof(*t)),
			.flags = cpu_to_le16(VRING_DESC_F_INDIRECT),
		};
		av->ring[c] = cpu_to_le16((uint16_t)c);
	}
	vring_store_release(&av->idx, cpu_to_le16(STORM_CHAINS));
	assert_int_equal(ftruncate(bfd, 0), 0);
	assert_int_equal(write(fe->kick[1], &one, 8), 8);
	fe_expect_dropped(fe);
	close(bfd);
	fe_free(fe);
}

/* Case 3: the first fault ends the event; no mapping is left behind. */
static void test_fault_storm(void **unused)
{
	uint64_t dropped = counters(0).dropped;
	uint64_t deflated = bstats(0).deflated_pages;

	(void)unused;
	attack_fault_storm(0);
	assert_int_equal(counters(0).dropped, dropped + 1);
	/* Not one PFN was read as the zeros of a patched page. */
	assert_int_equal(bstats(0).deflated_pages, deflated);
	assert_int_equal(count_maps("vu_storm"), 0);
	expect_baseline_fds();
	run_good(0, PF_REPLY_ACK | PF_BACKEND | PF_CONFIG);
}

/*
 * A loopback TCP socket with SO_LINGER {1, 30 s} and data its peer will
 * not read: its last close() sleeps until the data is gone or 30 s pass.
 * *@peer is the accepted end; closing it resets the connection, which
 * ends the linger.
 */
static int lingering_socket(int *peer)
{
	struct sockaddr_in sin = { .sin_family = AF_INET,
				   .sin_addr.s_addr = htonl(INADDR_LOOPBACK) };
	struct linger lg = { 1, 30 };
	socklen_t len = sizeof(sin);
	int lsn, c, small = 4096, queued = 0;
	char junk[4096] = { 0 };

	lsn = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
	assert_true(lsn >= 0);
	assert_int_equal(setsockopt(lsn, SOL_SOCKET, SO_RCVBUF, &small,
				    sizeof(small)),
			 0);
	assert_int_equal(bind(lsn, (struct sockaddr *)&sin, sizeof(sin)), 0);
	assert_int_equal(listen(lsn, 1), 0);
	assert_int_equal(getsockname(lsn, (struct sockaddr *)&sin, &len), 0);
	c = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
	assert_true(c >= 0);
	assert_int_equal(setsockopt(c, SOL_SOCKET, SO_SNDBUF, &small,
				    sizeof(small)),
			 0);
	assert_int_equal(connect(c, (struct sockaddr *)&sin, sizeof(sin)), 0);
	*peer = accept4(lsn, NULL, NULL, SOCK_CLOEXEC);
	assert_true(*peer >= 0);
	close(lsn);
	assert_int_equal(fcntl(c, F_SETFL, O_NONBLOCK), 0);
	while (send(c, junk, sizeof(junk), MSG_NOSIGNAL) > 0)
		;
	assert_int_equal(setsockopt(c, SOL_SOCKET, SO_LINGER, &lg, sizeof(lg)),
			 0);
	assert_int_equal(ioctl(c, SIOCOUTQ, &queued), 0);
	assert_true(queued > 0);
	return c;
}

/*
 * Send a lingering socket with the @variant'th kind of message and close
 * our copy: the backend holds the last reference.
 * Return: the ack.
 */
static uint64_t fe_send_lingering(struct fe *fe, unsigned int variant,
				  int *peer)
{
	struct table2 m = { 1, 0, { { 0, MEM_SIZE, 0, 0 }, { 0 } } };
	int s = lingering_socket(peer);
	uint8_t buf[VHOST_USER_HDR_SIZE + sizeof(m)];
	struct vhost_user_hdr hdr = { 0, VHOST_USER_VERSION |
					     VHOST_USER_FLAG_NEED_REPLY, 0 };
	uint64_t arg = Q_INFLATE, ack;

	switch (variant) {
	case 0: /* a notifier of a kind that is refused */
		hdr.request = VHOST_USER_SET_VRING_CALL;
		hdr.size = sizeof(arg);
		memcpy(buf + sizeof(hdr), &arg, sizeof(arg));
		break;
	case 1: /* a descriptor where none belongs: the parser refuses */
		hdr.request = VHOST_USER_SET_OWNER;
		break;
	default: /* as a memory file */
		hdr.request = VHOST_USER_SET_MEM_TABLE;
		hdr.size = sizeof(m);
		memcpy(buf + sizeof(hdr), &m, sizeof(m));
		break;
	}
	memcpy(buf, &hdr, sizeof(hdr));
	/* The descriptor with the first bytes, the rest once our copy is
	 * closed: the backend's is the last when it handles the message. */
	assert_int_equal(send_raw(fe->sock, buf, 4, &s, 1), 0);
	close(s);
	assert_int_equal(send_raw(fe->sock, buf + 4,
				  sizeof(hdr) + hdr.size - 4, NULL, 0),
			 0);
	assert_int_equal(fe_recv(fe, hdr.request, &ack, sizeof(ack)),
			 sizeof(ack));
	return ack;
}

/* Case 4: the backend's close of a frontend's descriptor never holds up a
 * reply (the wait is bounded by WAIT_MS, the linger is 30 s). */
static void test_blocking_close(void **unused)
{
	struct fe *fe = fe_new(0);
	unsigned int variant;

	(void)unused;
	fe_hello(fe, PF_REPLY_ACK | PF_BACKEND | PF_CONFIG);
	for (variant = 0; variant < 3; variant++) {
		int peer;

		assert_int_not_equal(fe_send_lingering(fe, variant, &peer), 0);
		fe_expect_alive(fe);
		close(peer); /* a reset: the backend's close returns */
	}
	fe_free(fe);
	run_good(0, PF_REPLY_ACK | PF_BACKEND | PF_CONFIG);
}

/*
 * A frontend that asks for a reply and closes its socket at once has left,
 * as one that ended cleanly does: the reply's send fails (EPIPE), and that
 * is no drop ("frontend dropped: Software caused connection abort" after
 * guests that ended normally).  On the single loop the server is held
 * while the frontend sends and closes, so the reply always finds the
 * socket closed; per device, twenty tries make the race likely.
 */
static void test_closed_before_reply(void **unused)
{
	uint64_t dropped = counters(0).dropped, conns = counters(0).connections;
	bool single = threads == VHOST_USER_THREAD_ONE;
	unsigned int tries = single ? 1 : 20;

	(void)unused;
	for (unsigned int i = 0; i < tries; i++) {
		int fd = fe_connect(0);
		struct vhost_user_hdr h = { VHOST_USER_GET_FEATURES,
					    VHOST_USER_VERSION, 0 };

		if (single)
			server_pause();
		assert_int_equal(send_raw(fd, &h, sizeof(h), NULL, 0), 0);
		close(fd);
		if (single)
			server_resume();
		while (counters(0).connections < conns + i + 1 || bstats(0).connected)
			usleep(1000);
	}
	if (counters(0).dropped != dropped)
		fail_msg("%llu of %u frontends that closed before their reply counted as dropped",
			 (unsigned long long)(counters(0).dropped - dropped), tries);
	run_good(0, PF_REPLY_ACK | PF_BACKEND | PF_CONFIG);
}

/*
 * fd_reaper_stop() of a reaper with closes left: quiet while they are
 * young (a guest that ended cleanly leaves its descriptors to the reaper a
 * moment before the host stops, and "fd reaper: N descriptor(s) still to
 * close at stop" ended normal runs), one line once a close has slept
 * FD_REAPER_SLOW_MS.
 */
static void test_reaper_stop_quiet(void **unused)
{
	char log[4096] = "";
	struct fd_reaper *r;
	int peer, saved, tmp;
	ssize_t n;

	(void)unused;
	tmp = open(".", O_TMPFILE | O_RDWR, 0600);
	if (tmp < 0)
		tmp = fileno(tmpfile());
	assert_true(tmp >= 0);
	saved = dup(2);
	assert_int_equal(dup2(tmp, 2), 2);
	/* A close that sleeps until @peer resets, then fifty quick ones. */
	assert_int_equal(fd_reaper_start(&r, NULL, NULL), 0);
	fd_reaper_close(r, lingering_socket(&peer));
	for (int i = 0; i < 50; i++)
		fd_reaper_close(r, eventfd(0, EFD_CLOEXEC));
	fd_reaper_stop(r);
	fflush(stderr);
	n = pread(tmp, log, sizeof(log) - 1, 0);
	close(peer);
	if (n > 0) {
		dup2(saved, 2);
		fail_msg("a stop with young closes logged: '%s'", log);
	}
	/* The same close, asleep for longer than FD_REAPER_SLOW_MS. */
	assert_int_equal(fd_reaper_start(&r, NULL, NULL), 0);
	fd_reaper_close(r, lingering_socket(&peer));
	usleep((FD_REAPER_SLOW_MS + 500) * 1000);
	fd_reaper_stop(r);
	fflush(stderr);
	n = pread(tmp, log, sizeof(log) - 1, 0);
	close(peer);
	dup2(saved, 2);
	close(saved);
	close(tmp);
	assert_true(n > 0);
	log[n] = 0;
	if (!strstr(log, "fd reaper: a close has not returned for ") ||
	    strchr(log, '\n') != log + n - 1)
		fail_msg("a stop with a sleeping close: '%s'", log);
}

/*
 * A frontend whose descriptors' last closes sleep fills its own device's
 * reaper up to its share (FD_REAPER_SHARE), and is then dropped: the
 * device holds at most a share and two reserves of the process's
 * descriptors, accepts nobody until its closes return, and then serves the
 * next frontend.
 */
static void test_reaper_backpressure(void **unused)
{
	const unsigned int msgs = 130; /* 1040 descriptors: beyond the queue */
	struct {
		uint32_t n, pad;
		struct vhost_user_mem_region r[VHOST_USER_MAX_REGIONS];
	} m = { VHOST_USER_MAX_REGIONS, 0, { { 0 } } };
	uint8_t buf[VHOST_USER_HDR_SIZE + sizeof(m)];
	struct fe *fe = fe_new(0);
	int peer, e, fl, fds[VHOST_USER_MAX_REGIONS];
	uint64_t messages, dropped;
	unsigned int i;
	struct vhost_user_hdr hdr = { VHOST_USER_SET_MEM_TABLE,
				      VHOST_USER_VERSION, sizeof(m) };
	char c;

	(void)unused;
	fe_hello(fe, PF_REPLY_ACK | PF_BACKEND | PF_CONFIG);
	messages = counters(0).messages;
	dropped = counters(0).dropped;
	/* The reaper sleeps in this close until the peer resets. */
	assert_int_not_equal(fe_send_lingering(fe, 0, &peer), 0);

	/* Tables of eventfds: each refused, its 8 descriptors to the reaper. */
	e = eventfd(0, EFD_CLOEXEC);
	assert_true(e >= 0);
	for (i = 0; i < VHOST_USER_MAX_REGIONS; i++) {
		m.r[i] = (struct vhost_user_mem_region){ i * 4096, 4096,
							 i * 4096, 0 };
		fds[i] = e;
	}
	memcpy(buf, &hdr, sizeof(hdr));
	memcpy(buf + sizeof(hdr), &m, sizeof(m));
	fl = fcntl(fe->sock, F_GETFL);
	fcntl(fe->sock, F_SETFL, fl | O_NONBLOCK);
	for (i = 0; i < msgs; i++)
		if (send_raw(fe->sock, buf, sizeof(buf), fds,
			     VHOST_USER_MAX_REGIONS))
			break; /* dropped already */
	close(e);

	/* The device drops the frontend once past its share ... */
	fcntl(fe->sock, F_SETFL, fl);
	{
		struct pollfd p = { .fd = fe->sock, .events = POLLIN };

		assert_int_equal(poll(&p, 1, WAIT_MS), 1);
		assert_true(recv(fe->sock, &c, 1, MSG_DONTWAIT) <= 0);
	}
	assert_true(counters(0).dropped == dropped + 1);
	assert_true(counters(0).messages - messages < 1 + msgs);
	assert_true(count_fds() <= baseline_fds + FD_REAPER_SHARE +
					   2 * FD_REAPER_RESERVE_MAX + 16);
	/* ... and serves the next frontend once the sleeping close returns. */
	close(peer);
	fe_free(fe);
	expect_baseline_fds();
	run_good(0, PF_REPLY_ACK | PF_BACKEND | PF_CONFIG);
}

/*
 * attack7 #1: the reaper's bound is per device, the descriptor table is
 * the process's.  One frontend whose first close sleeps makes its device
 * hold ~1000 descriptors (test_reaper_backpressure shows the bound is
 * FD_REAPER_SLOTS, per device).  Under RLIMIT_NOFILE 1024, the soft
 * default of a Debian login or systemd service, that is the whole table:
 * the *other* device then refuses its healthy frontend's descriptors
 * (MSG_CTRUNC, E2BIG) and cannot accept a new frontend (EMFILE), while
 * its level-triggered listener turns its thread in a loop.
 * Everything the test's own frontends need is made before the attack
 * (they share the process's table); checks are recorded, cleanup runs,
 * then the asserts.
 */
static bool reply_within(int sock, uint32_t req, uint64_t *v, int ms)
{
	struct pollfd p = { .fd = sock, .events = POLLIN };
	struct vhost_user_hdr hdr;

	if (poll(&p, 1, ms) != 1 || read(sock, &hdr, sizeof(hdr)) != sizeof(hdr) ||
	    hdr.request != req || hdr.size != 8)
		return false;
	return read(sock, v, 8) == 8;
}

static double cpu_s(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_PROCESS_CPUTIME_ID, &ts);
	return (double)ts.tv_sec + ts.tv_nsec / 1e9;
}

static void test_reaper_fills_process_fd_table(void **unused)
{
	const unsigned int msgs = 130;
	struct {
		uint32_t n, pad;
		struct vhost_user_mem_region r[VHOST_USER_MAX_REGIONS];
	} m = { VHOST_USER_MAX_REGIONS, 0, { { 0 } } };
	uint8_t buf[VHOST_USER_HDR_SIZE + sizeof(m)];
	struct vhost_user_hdr hdr = { VHOST_USER_SET_MEM_TABLE,
				      VHOST_USER_VERSION, sizeof(m) };
	struct vhost_user_hdr get = { VHOST_USER_GET_FEATURES,
				      VHOST_USER_VERSION, 0 };
	struct rlimit old, lim;
	struct fe *good, *bad[2];
	DIR *fddir;
	int fill[64], nfill;
	struct dirent *de;
	int peer[2], e, callfd, newcomer, fds[VHOST_USER_MAX_REGIONS];
	uint64_t ack = 0, arg = Q_INFLATE | 0, f = 0;
	bool call_acked, newcomer_served;
	int held;
	double cpu0, cpu;
	struct sockaddr_un sun = { .sun_family = AF_UNIX };
	unsigned int i;

	(void)unused;
	/* A third device, for the second attacker. */
	server_add_device(2);
	baseline_fds = count_fds();
	/* The healthy guest on device 1, fully up, and what it will need. */
	good = fe_new(1);
	fe_start(good, PF_REPLY_ACK | PF_BACKEND | PF_CONFIG, "vu_good");
	fddir = opendir("/proc/self/fd");
	assert_non_null(fddir);
	callfd = eventfd(0, EFD_CLOEXEC);
	newcomer = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
	assert_true(callfd >= 0 && newcomer >= 0);

	assert_int_equal(getrlimit(RLIMIT_NOFILE, &old), 0);
	lim = old;
	lim.rlim_cur = 1024;
	assert_int_equal(setrlimit(RLIMIT_NOFILE, &lim), 0);

	/* The attack, from two frontends (devices 0 and 2): one sleeping
	 * close each, then eventfds behind it.  Each device stops at its own
	 * bound (~710 here); two of them fill a 1024 table. */
	for (int a = 0; a < 2; a++) {
		bad[a] = fe_new(a ? 2 : 0);
		fe_hello(bad[a], PF_REPLY_ACK | PF_BACKEND | PF_CONFIG);
		assert_int_not_equal(fe_send_lingering(bad[a], 0, &peer[a]), 0);
	}
	e = eventfd(0, EFD_CLOEXEC);
	assert_true(e >= 0);
	for (i = 0; i < VHOST_USER_MAX_REGIONS; i++) {
		m.r[i] = (struct vhost_user_mem_region){ i * 4096, 4096,
							 i * 4096, 0 };
		fds[i] = e;
	}
	memcpy(buf, &hdr, sizeof(hdr));
	memcpy(buf + sizeof(hdr), &m, sizeof(m));
	for (int a = 0; a < 2; a++) {
		int fl = fcntl(bad[a]->sock, F_GETFL);

		fcntl(bad[a]->sock, F_SETFL, fl | O_NONBLOCK);
		for (i = 0; i < msgs; i++)
			if (send_raw(bad[a]->sock, buf, sizeof(buf), fds,
				     VHOST_USER_MAX_REGIONS))
				break;
		send_raw(bad[a]->sock, &get, sizeof(get), NULL, 0);
	}
	close(e);
	usleep(300 * 1000);
	held = 0;
	rewinddir(fddir);
	while ((de = readdir(fddir)))
		held += de->d_name[0] != '.';

	/* The healthy frontend on the other device replaces a call fd. */
	fe_send(good, VHOST_USER_SET_VRING_CALL, VHOST_USER_FLAG_NEED_REPLY,
		&arg, sizeof(arg), &callfd, 1);
	call_acked = reply_within(good->sock, VHOST_USER_SET_VRING_CALL, &ack,
				  1000);
	close(callfd);
	/* It goes away; the next guest comes to device 1. */
	close(good->sock);
	good->sock = -1;
	usleep(200 * 1000);
	/* What the reset of device 1 gave back is taken again (by anyone:
	 * the table is the process's). */
	for (nfill = 0; nfill < 64; nfill++) {
		fill[nfill] = open("/dev/null", O_RDONLY | O_CLOEXEC);
		if (fill[nfill] < 0)
			break;
	}
	strcpy(sun.sun_path, sock_path[1]);
	assert_int_equal(connect(newcomer, (struct sockaddr *)&sun, sizeof(sun)),
			 0);
	cpu0 = cpu_s();
	send_raw(newcomer, &get, sizeof(get), NULL, 0);
	newcomer_served = reply_within(newcomer, VHOST_USER_GET_FEATURES, &f,
				       1000);
	cpu = cpu_s() - cpu0;
	while (nfill--)
		close(fill[nfill]);

	/* Cleanup: the linger ends, the reaper drains, the limit returns. */
	close(peer[0]);
	close(peer[1]);
	close(newcomer);
	usleep(300 * 1000);
	setrlimit(RLIMIT_NOFILE, &old);
	closedir(fddir);
	print_message("attack7: %d descriptors held; healthy SET_VRING_CALL %s (ack %llu); new frontend %s; %.2f s CPU in 1 s\n",
		      held, call_acked ? "answered" : "unanswered",
		      (unsigned long long)ack,
		      newcomer_served ? "served" : "not served", cpu);
	fe_free(bad[0]);
	fe_free(bad[1]);
	good->sock = open("/dev/null", O_RDONLY);
	fe_free(good);

	assert_true(call_acked);
	assert_int_equal(ack, 0); /* not E2BIG: it was the other device's table */
	assert_true(newcomer_served);
	assert_true(cpu < 0.5); /* no device thread spins on accept */
}


/*
 * accept() with the descriptor table full (EMFILE): the listener leaves the
 * epoll set and is retried on a timer, so the device's thread does not turn
 * on a level-triggered listener; once a descriptor is free the waiting
 * frontend is served.
 */
static void test_accept_emfile(void **unused)
{
	struct vhost_user_hdr get = { VHOST_USER_GET_FEATURES,
				      VHOST_USER_VERSION, 0 };
	struct sockaddr_un sun = { .sun_family = AF_UNIX };
	struct rlimit old, lim;
	int fill[4096], nfill, nfill0, s;
	uint64_t f = 0;
	double cpu0, cpu;
	bool served;

	(void)unused;
	s = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
	assert_true(s >= 0);
	assert_int_equal(getrlimit(RLIMIT_NOFILE, &old), 0);
	lim = old;
	/* Large enough that the reapers' budget (3/4 of it) has a reserve:
	 * what is refused is accept's descriptor, not the budget. */
	lim.rlim_cur = 512;
	assert_true(count_fds() < 448);
	assert_int_equal(setrlimit(RLIMIT_NOFILE, &lim), 0);
	for (nfill = 0; nfill < 4096; nfill++) {
		fill[nfill] = open("/dev/null", O_RDONLY | O_CLOEXEC);
		if (fill[nfill] < 0)
			break;
	}
	nfill0 = nfill;
	strcpy(sun.sun_path, sock_path[1]);
	assert_int_equal(connect(s, (struct sockaddr *)&sun, sizeof(sun)), 0);
	send_raw(s, &get, sizeof(get), NULL, 0);
	cpu0 = cpu_s();
	usleep(500 * 1000);
	cpu = cpu_s() - cpu0;
	while (nfill--)
		close(fill[nfill]);
	setrlimit(RLIMIT_NOFILE, &old);
	served = reply_within(s, VHOST_USER_GET_FEATURES, &f, WAIT_MS);
	close(s);
	print_message("accept at EMFILE (%d descriptors taken to fill the table): %.3f s CPU in 0.5 s; then %s\n",
		      nfill0, cpu, served ? "served" : "not served");
	/* A spinning listener took 0.1 s of it at nice 19 on a busy machine,
	 * 0.3 s on an idle one; a waiting one takes ~1 ms. */
	assert_true(cpu < 0.03);
	assert_true(served);
	expect_baseline_fds();
}

/*
 * issue 16 #3: a device that cannot take in descriptors (here the soft
 * limit is lowered under a running server, below the least it can serve
 * at) puts its listener off and retries; it says so once, not per try,
 * with the limit, and serves the waiting frontend once the limit is back.
 */
static void test_low_limit_said_once(void **unused)
{
	struct vhost_user_hdr get = { VHOST_USER_GET_FEATURES,
				      VHOST_USER_VERSION, 0 };
	struct sockaddr_un sun = { .sun_family = AF_UNIX };
	unsigned long low = vhost_user_nofile_min() - 1;
	struct stderr_capture cap;
	char text[8192], want[96];
	struct rlimit old, lim;
	uint64_t throttled0, f = 0;
	int s, lines = 0;
	bool served;

	(void)unused;
	server_add_device(3);
	baseline_fds = count_fds();
	stderr_capture_begin(&cap, tmpdir, "stderr");
	s = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
	assert_true(s >= 0);
	assert_true(count_fds() + 4 < (int)low);
	throttled0 = counters(3).throttled;
	assert_int_equal(getrlimit(RLIMIT_NOFILE, &old), 0);
	lim = old;
	lim.rlim_cur = low;
	assert_int_equal(setrlimit(RLIMIT_NOFILE, &lim), 0);
	strcpy(sun.sun_path, sock_path[3]);
	assert_int_equal(connect(s, (struct sockaddr *)&sun, sizeof(sun)), 0);
	send_raw(s, &get, sizeof(get), NULL, 0);
	/* Put off, and tried again, and again. */
	for (uint64_t end = ms_now() + WAIT_MS;
	     counters(3).throttled < throttled0 + 3 && ms_now() < end;)
		usleep(1000);
	setrlimit(RLIMIT_NOFILE, &old);
	served = reply_within(s, VHOST_USER_GET_FEATURES, &f, WAIT_MS);
	close(s);
	wait_disconnected(3);
	stderr_capture_end(&cap, text, sizeof(text));
	print_message("at RLIMIT_NOFILE %lu: %llu tries put off; stderr: %s",
		      low, (unsigned long long)(counters(3).throttled - throttled0),
		      text);
	assert_true(counters(3).throttled >= throttled0 + 3);
	assert_true(served);
	snprintf(want, sizeof(want), "RLIMIT_NOFILE %lu", low);
	for (const char *l = text; (l = strstr(l, "for want of descriptors")); l++)
		lines++;
	assert_int_equal(lines, 1);
	assert_non_null(strstr(text, "not accepting a frontend for want of descriptors"));
	assert_non_null(strstr(text, want));
	expect_baseline_fds();
}

/*
 * Attack (atk-host fleet_nofile.sh): a message whose descriptors the
 * kernel could not install (the table full: MSG_CTRUNC) was refused with
 * "Argument list too long", which names no descriptor.  It says
 * descriptors, as EMFILE does.
 */
static void test_ctrunc_names_descriptors(void **unused)
{
	struct stderr_capture cap;
	char text[8192];
	struct rlimit old, lim;
	uint64_t refused0, arg = 0;
	int efd, n_dups = 0, dups[4096];
	struct fe *fe;

	(void)unused;
	fe = fe_new(0);
	/* Accepted and served before the table fills. */
	fe_send(fe, VHOST_USER_GET_FEATURES, 0, NULL, 0, NULL, 0);
	assert_int_equal(fe_recv(fe, VHOST_USER_GET_FEATURES, &arg, 8), 8);
	arg = 0;
	efd = eventfd(0, EFD_CLOEXEC);
	assert_true(efd >= 0);
	refused0 = counters(0).refused;
	stderr_capture_begin(&cap, tmpdir, "stderr");
	assert_int_equal(getrlimit(RLIMIT_NOFILE, &old), 0);
	lim = old;
	lim.rlim_cur = (rlim_t)count_fds() + 64;
	if (lim.rlim_cur < vhost_user_nofile_min())
		lim.rlim_cur = vhost_user_nofile_min();
	assert_int_equal(setrlimit(RLIMIT_NOFILE, &lim), 0);
	/* The table full: the device's receive cannot install the eventfd. */
	while (n_dups < 4096) {
		int d = dup(efd);

		if (d < 0)
			break;
		dups[n_dups++] = d;
	}
	fe_send(fe, VHOST_USER_SET_VRING_CALL, 0, &arg, 8, &efd, 1);
	for (uint64_t end = ms_now() + WAIT_MS;
	     counters(0).refused == refused0 && ms_now() < end;)
		usleep(1000);
	while (n_dups)
		close(dups[--n_dups]);
	setrlimit(RLIMIT_NOFILE, &old);
	stderr_capture_end(&cap, text, sizeof(text));
	close(efd);
	fe_free(fe);
	if (counters(0).refused == refused0 || !strstr(text, "descriptors") ||
	    strstr(text, "Argument list too long"))
		fail_msg("a truncated SCM_RIGHTS message: refused %llu, stderr: %s",
			 (unsigned long long)(counters(0).refused - refused0),
			 text);
	expect_baseline_fds();
}

/*
 * attack7 #6: one frontend takes the process's address space.  Nothing
 * bounds a region but its file, a memfd can be sized 64 TiB for nothing
 * (sparse), and MAP_NORESERVE shared mappings carry no commit charge: eight
 * regions fill the 128 TiB of user address space, and the *other* device
 * can no longer map its healthy guest's 16 MiB (nor can the host mmap,
 * malloc big, or start a thread).  Sizes are found by bisection, a fresh
 * connection per try (a table is mapped before the old one goes).
 */
static uint64_t try_huge_table(int memfd, const uint64_t *sizes,
			       unsigned int n, struct fe **keep)
{
	struct {
		uint32_t n, pad;
		struct vhost_user_mem_region r[VHOST_USER_MAX_REGIONS];
	} m = { n, 0, { { 0 } } };
	int fds[VHOST_USER_MAX_REGIONS];
	uint64_t base = 0, ack;
	struct fe *fe = fe_new(0);

	for (unsigned int i = 0; i < n; i++) {
		m.r[i] = (struct vhost_user_mem_region){ base, sizes[i], base, 0 };
		base += sizes[i];
		fds[i] = memfd;
	}
	fe_hello(fe, PF_REPLY_ACK);
	ack = fe_set(fe, VHOST_USER_SET_MEM_TABLE, &m,
		     8 + n * sizeof(m.r[0]), fds, n);
	if (keep && !ack) {
		*keep = fe;
		return 0;
	}
	fe_free(fe);
	return ack;
}

static void test_address_space(void **unused)
{
	const uint64_t gran = 2 * MIB;
	uint64_t sizes[VHOST_USER_MAX_REGIONS], total = 0, ack, healthy;
	struct fe *bad = NULL, *good;
	int memfd = memfd_create("vaspace", MFD_CLOEXEC);
	unsigned int k;

	(void)unused;
	assert_true(memfd >= 0);
	assert_int_equal(ftruncate(memfd, 1ull << 46), 0); /* 64 TiB */
	for (k = 0; k < VHOST_USER_MAX_REGIONS; k++) {
		uint64_t lo = gran, hi = 1ull << 46;

		while (hi - lo > gran) {
			sizes[k] = (lo + hi) / 2 / gran * gran;
			if (try_huge_table(memfd, sizes, k + 1, NULL))
				hi = sizes[k];
			else
				lo = sizes[k];
		}
		sizes[k] = lo;
		total += lo;
	}
	/* Slack for what the host maps meanwhile: 8 MiB off the largest. */
	sizes[0] -= 8 * MIB;
	ack = try_huge_table(memfd, sizes, VHOST_USER_MAX_REGIONS, &bad);
	good = fe_new(1);
	fe_hello(good, PF_REPLY_ACK);
	fe_mem(good, "vu_good");
	healthy = fe_set_mem(good, 0, MEM_SIZE, 0x10000000, 0, good->memfd);
	print_message("attack7: device 0 maps %.1f TiB (ack %llu); device 1's 16 MiB table: ack %llu (%s)\n",
		      total / (double)(1ull << 40), (unsigned long long)ack,
		      (unsigned long long)healthy,
		      healthy ? strerror((int)healthy) : "mapped");
	fe_free(good);
	if (bad)
		fe_free(bad);
	close(memfd);
	assert_int_equal(healthy, 0);
}

/* Case 5: regions must be page-aligned in every coordinate. */
static void test_misaligned_regions(void **unused)
{
	struct fe *fe = fe_new(0);
	const uint64_t ua = 0x10000000;

	(void)unused;
	fe_hello(fe, PF_REPLY_ACK | PF_BACKEND | PF_CONFIG);
	fe_mem(fe, "vu_misaligned");
	assert_int_equal(fe_set_mem(fe, 1, MEM_SIZE - 4096, ua, 0, fe->memfd),
			 EINVAL);
	assert_int_equal(fe_set_mem(fe, 0, MEM_SIZE - 1, ua, 0, fe->memfd),
			 EINVAL);
	assert_int_equal(fe_set_mem(fe, 0, MEM_SIZE - 4096, ua + 1, 0,
				    fe->memfd),
			 EINVAL);
	assert_int_equal(fe_set_mem(fe, 0, MEM_SIZE - 4096, ua, 1, fe->memfd),
			 EINVAL);
	assert_int_equal(fe_set_mem(fe, 0, MEM_SIZE - 4096, ua, 2048,
				    fe->memfd),
			 EINVAL);
	assert_int_equal(count_maps("vu_misaligned"), 0);
	assert_int_equal(fe_set_mem(fe, 4096, MEM_SIZE - 4096, ua, 4096,
				    fe->memfd),
			 0);
	fe_expect_alive(fe);
	fe_free(fe);
	assert_int_equal(count_maps("vu_misaligned"), 0);
	expect_baseline_fds();
}

/* ---- containment: one frontend attacks, the other keeps being served ---- */

/*
 * The 100 ms, beyond what the machine itself took from this
 * process: a canary thread sleeps 1 ms at a time through each attack and
 * records how late it wakes; a healthy round trip may take 100 ms plus
 * twice the canary's worst lateness in the same window.  A stall the
 * attack causes blocks the device, not the process's threads (the canary
 * wakes on time), so it still fails the bound: the single loop stalls for
 * the whole hold (300 ms) or for good.  What this discounts is only a
 * machine that did not run this process (it once measured 1013 ms with
 * load 30 and a nice -20 benchmark against our nice 19).
 */
#define HEALTHY_BOUND_NS 100000000ull
#define HEALTHY_PAGES 256 /* reportable pages the healthy guest cycles */
#define ATTACK_HOLD_MS 300 /* the attack's state is kept this long */

/* The healthy frontend's thread: report round trips, each timed. */
struct healthy {
	struct fe *fe;
	pthread_t thread;
	atomic_bool stop;
	_Atomic uint64_t trips; /* round trips completed */
	_Atomic uint64_t max_ns; /* the slowest */
	_Atomic uint64_t window_max_ns; /* the slowest since the window began */
	_Atomic uint64_t canary_late_ns; /* the canary's worst, same window */
	pthread_t canary;
	_Atomic int error; /* what went wrong, 0 while all is well */
	uint8_t reported[HEALTHY_PAGES]; /* 1: the page was reported */
	uint64_t reported_bytes;
};

static uint64_t ns_now(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (uint64_t)ts.tv_sec * 1000000000u + (uint64_t)ts.tv_nsec;
}

/* One 4 KiB report of page @i; no cmocka here (not the main thread).
 * Return: 0 or a positive code for the main thread to report. */
static int healthy_report(struct healthy *h, unsigned int i)
{
	struct fe *fe = h->fe;
	struct vring_sg sg = { DATA_OFF + (uint64_t)i * 4096, 4096 };
	struct pollfd p = { .fd = fe->call[Q_REPORT][0], .events = POLLIN };
	uint64_t one = 1, t0, dt, seen;
	uint8_t buf[64];
	void *token;
	uint32_t len;

	if (virtqueue_add(&fe->vq[Q_REPORT], &sg, 0, 1, fe))
		return 1;
	t0 = ns_now();
	if (virtqueue_kick_prepare(&fe->vq[Q_REPORT]) &&
	    write(fe->kick[Q_REPORT], &one, 8) != 8)
		return 2;
	for (;;) {
		if (virtqueue_get_used(&fe->vq[Q_REPORT], &token, &len) == 0)
			break;
		if (poll(&p, 1, WAIT_MS) != 1)
			return 3;
		if (read(fe->call[Q_REPORT][0], buf, sizeof(buf)) < 8)
			return 4;
	}
	dt = ns_now() - t0;
	seen = atomic_load(&h->max_ns);
	while (dt > seen && !atomic_compare_exchange_weak(&h->max_ns, &seen, dt))
		;
	seen = atomic_load(&h->window_max_ns);
	while (dt > seen &&
	       !atomic_compare_exchange_weak(&h->window_max_ns, &seen, dt))
		;
	h->reported[i] = 1;
	h->reported_bytes += 4096;
	atomic_fetch_add(&h->trips, 1);
	return 0;
}

/* How late this process's threads are woken: see HEALTHY_BOUND_NS. */
static void *canary_main(void *arg)
{
	struct healthy *h = arg;

	while (!atomic_load(&h->stop)) {
		uint64_t t0 = ns_now(), late, seen;

		usleep(1000);
		late = ns_now() - t0;
		late = late > 1000000 ? late - 1000000 : 0;
		seen = atomic_load(&h->canary_late_ns);
		while (late > seen &&
		       !atomic_compare_exchange_weak(&h->canary_late_ns, &seen,
						     late))
			;
	}
	return NULL;
}

static void *healthy_main(void *arg)
{
	struct healthy *h = arg;
	unsigned int i = 0;

	while (!atomic_load(&h->stop)) {
		int err = healthy_report(h, i++ % HEALTHY_PAGES);

		if (err) {
			atomic_store(&h->error, err);
			break;
		}
		usleep(200);
	}
	return NULL;
}

/* Keep the attack's state while the healthy device must go on; then
 * check that it did, each round trip since the last check (the attack's
 * setup included) within the bound. */
static void healthy_check_during(struct healthy *h, const char *attack)
{
	uint64_t trips = atomic_load(&h->trips), end = ms_now() + WAIT_MS;
	uint64_t worst, late;

	usleep(ATTACK_HOLD_MS * 1000);
	/* At least one round trip during the attack (bounded wait). */
	while (atomic_load(&h->trips) == trips && !atomic_load(&h->error) &&
	       ms_now() < end)
		usleep(1000);
	if (atomic_load(&h->error))
		fail_msg("%s: healthy frontend failed (%d)", attack,
			 atomic_load(&h->error));
	if (atomic_load(&h->trips) == trips)
		fail_msg("%s: healthy device not served", attack);
	worst = atomic_load(&h->window_max_ns);
	late = atomic_load(&h->canary_late_ns);
	if (worst >= HEALTHY_BOUND_NS + 2 * late)
		fail_msg("%s: a healthy round trip took %.1f ms (the machine delayed this process by at most %.1f ms meanwhile)",
			 attack, worst / 1e6, late / 1e6);
	/* The next window runs from here through the next attack's setup
	 * and hold: every round trip is in one. */
	atomic_store(&h->window_max_ns, 0);
	atomic_store(&h->canary_late_ns, 0);
}

/*
 * The stall no check can prevent: the frontend holds its memory file's
 * inode lock (a write() into the memfd from a buffer whose page fault a
 * userfaultfd never answers), so the backend's next fallocate on that file
 * waits as long as the frontend likes.  Only the attacker's device may
 * stall.  Return: false when this process cannot use userfaultfd.
 */
struct lock_holder {
	int memfd, uffd;
	void *page;
	pthread_t writer;
};

static void *lock_holder_write(void *arg)
{
	struct lock_holder *l = arg;

	/* Takes the inode lock, then faults on l->page and waits. */
	if (pwrite(l->memfd, l->page, 4096, DATA_OFF + 64 * 4096) < 0)
		(void)l;
	return NULL;
}

static bool lock_holder_start(struct lock_holder *l, int memfd)
{
	struct uffdio_api api = { .api = UFFD_API };
	struct uffdio_register reg = { .mode = UFFDIO_REGISTER_MODE_MISSING };

	l->memfd = memfd;
	l->uffd = (int)syscall(SYS_userfaultfd, O_CLOEXEC | O_NONBLOCK);
	if (l->uffd < 0)
		return false;
	l->page = mmap(NULL, 4096, PROT_READ | PROT_WRITE,
		       MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
	assert_true(l->page != MAP_FAILED);
	reg.range = (struct uffdio_range){ (uintptr_t)l->page, 4096 };
	if (ioctl(l->uffd, UFFDIO_API, &api) ||
	    ioctl(l->uffd, UFFDIO_REGISTER, &reg)) {
		munmap(l->page, 4096);
		close(l->uffd);
		return false;
	}
	assert_int_equal(pthread_create(&l->writer, NULL, lock_holder_write, l),
			 0);
	/* The fault is pending once the uffd is readable. */
	if (!wait_readable(l->uffd))
		fail_msg("the writer never faulted on its buffer");
	return true;
}

static void lock_holder_release(struct lock_holder *l)
{
	struct uffdio_zeropage z = {
		.range = { (uintptr_t)l->page, 4096 },
	};

	assert_int_equal(ioctl(l->uffd, UFFDIO_ZEROPAGE, &z), 0);
	pthread_join(l->writer, NULL);
	munmap(l->page, 4096);
	close(l->uffd);
}

static void test_containment(void **unused)
{
	struct healthy *h = calloc(1, sizeof(*h));
	struct balloon_stats st0;
	const char *why;
	size_t page;
	int hfd, variant;
	unsigned int i;

	(void)unused;
	if (threads != VHOST_USER_THREAD_PER_DEVICE) {
		free(h);
		skip(); /* containment is what a thread per device gives */
	}
	assert_non_null(h);
	h->fe = fe_new(0);
	fe_start(h->fe, PF_REPLY_ACK | PF_BACKEND | PF_CONFIG, "vu_healthy");
	/* Everything the healthy guest does not report keeps this. */
	memset(h->fe->mem + DATA_OFF, 0x5a, MEM_SIZE - DATA_OFF);
	st0 = bstats(0);
	assert_int_equal(pthread_create(&h->thread, NULL, healthy_main, h), 0);
	assert_int_equal(pthread_create(&h->canary, NULL, canary_main, h), 0);

	/* 1: refused tables, a kick after each. */
	{
		struct fe *fe = fe_new(1);
		uint64_t one = 1;
		int pipefd[2];

		fe_start(fe, PF_REPLY_ACK | PF_BACKEND | PF_CONFIG, "vu_attack1");
		assert_int_equal(pipe2(pipefd, O_CLOEXEC), 0);
		fe_inflate_one(fe, fe_alloc(fe, 4096, 4096));
		for (variant = 0; variant < 4; variant++) {
			assert_int_not_equal(fe_refused_table(fe, (unsigned int)variant,
							      pipefd[0]),
					     0);
			assert_int_equal(write(fe->kick[Q_INFLATE], &one, 8), 8);
		}
		healthy_check_during(h, "refused table");
		fe_free(fe);
		close(pipefd[0]);
		close(pipefd[1]);
	}
	/* 2: hugetlb memory that faults, when this machine can make it. */
	hfd = hugetlb_memfd_that_faults(&page, &why);
	if (hfd >= 0) {
		attack_hugetlb(1, hfd, page);
		close(hfd);
		healthy_check_during(h, "hugetlb");
	} else {
		print_message("containment: hugetlb attack skipped: %s\n", why);
	}
	/* 3: the fault storm. */
	attack_fault_storm(1);
	healthy_check_during(h, "fault storm");
	/* 4: lingering sockets, held while the healthy device is checked. */
	{
		struct fe *fe = fe_new(1);
		int peer[3];

		fe_hello(fe, PF_REPLY_ACK | PF_BACKEND | PF_CONFIG);
		for (variant = 0; variant < 3; variant++)
			fe_send_lingering(fe, (unsigned int)variant, &peer[variant]);
		healthy_check_during(h, "blocking close");
		for (variant = 0; variant < 3; variant++)
			close(peer[variant]);
		fe_free(fe);
	}
	/* The frontend holds its file's inode lock while the backend must
	 * discard: that device waits, the other must not. */
	{
		struct fe *fe = fe_new(1);
		struct lock_holder l;
		uint64_t one = 1;

		fe_start(fe, PF_REPLY_ACK | PF_BACKEND | PF_CONFIG, "vu_attack_lock");
		if (lock_holder_start(&l, fe->memfd)) {
			fe_inflate_one(fe, fe_alloc(fe, 4096, 4096));
			assert_int_equal(write(fe->kick[Q_INFLATE], &one, 8), 8);
			healthy_check_during(h, "inode lock held");
			lock_holder_release(&l);
			fe_wait_used_idx(fe, Q_INFLATE, 1);
		} else {
			print_message("containment: inode-lock attack skipped: no userfaultfd (%s)\n",
				      strerror(errno));
		}
		fe_free(fe);
	}
	/* 5: misaligned regions. */
	{
		struct fe *fe = fe_new(1);

		fe_hello(fe, PF_REPLY_ACK | PF_BACKEND | PF_CONFIG);
		fe_mem(fe, "vu_attack5");
		fe_set_mem(fe, 1, MEM_SIZE - 4096, 0x10000000, 1, fe->memfd);
		healthy_check_during(h, "misaligned region");
		fe_free(fe);
	}

	atomic_store(&h->stop, true);
	pthread_join(h->thread, NULL);
	pthread_join(h->canary, NULL);
	assert_int_equal(atomic_load(&h->error), 0);
	/* The backend discarded exactly what the healthy guest reported ... */
	assert_int_equal(bstats(0).discarded_bytes - st0.discarded_bytes,
			 h->reported_bytes);
	/* ... and touched nothing else of its memory. */
	for (i = 0; i < (MEM_SIZE - DATA_OFF) / 4096; i++) {
		uint8_t want = i < HEALTHY_PAGES && h->reported[i] ? 0 : 0x5a;
		const uint8_t *pg = h->fe->mem + DATA_OFF + (size_t)i * 4096;

		for (size_t k = 0; k < 4096; k++)
			if (pg[k] != want)
				fail_msg("healthy page %u byte %zu: %#x, not %#x",
					 i, k, pg[k], want);
	}
	print_message("containment: %llu healthy round trips, slowest %.2f ms\n",
		      (unsigned long long)atomic_load(&h->trips),
		      atomic_load(&h->max_ns) / 1e6);
	fe_free(h->fe);
	free(h);
	expect_baseline_fds();
}

/* ---- setup ---- */

static void *server_main(void *arg)
{
	(void)arg;
	while (!atomic_load(&server_stop)) {
		pthread_mutex_lock(&pause_lock);
		if (pause_want) {
			paused = true;
			pthread_cond_broadcast(&pause_cond);
			while (pause_want)
				pthread_cond_wait(&pause_cond, &pause_lock);
			paused = false;
		}
		pthread_mutex_unlock(&pause_lock);
		assert_int_equal(vhost_user_server_run(srv, 50), 0);
	}
	return NULL;
}

static int setup(void **unused)
{
	(void)unused;
	snprintf(tmpdir, sizeof(tmpdir), "/tmp/test_vhost_user.XXXXXX");
	if (!mkdtemp(tmpdir))
		return -1;
	srv = vhost_user_server_create(threads);
	if (!srv)
		return -1;
	for (int i = 0; i < 2; i++) {
		snprintf(sock_path[i], sizeof(sock_path[i]), "%s/balloon%d.sock",
			 tmpdir, i);
		if (vhost_user_server_add_balloon(srv, sock_path[i], &balloon[i]))
			return -1;
		balloon_set_stats_interval(balloon[i], 0);
	}
	baseline_fds = count_fds();
	atomic_store(&server_stop, false);
	if (threads != VHOST_USER_THREAD_ONE)
		return 0;
	return pthread_create(&server_thread, NULL, server_main, NULL);
}

static int teardown(void **unused)
{
	(void)unused;
	if (threads == VHOST_USER_THREAD_ONE) {
		atomic_store(&server_stop, true);
		vhost_user_server_wake(srv);
		pthread_join(server_thread, NULL);
	}
	vhost_user_server_destroy(srv);
	rmdir(tmpdir);
	return 0;
}

int main(int argc, char **argv)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_uml_sequence),
		cmocka_unit_test(test_target_inflate_stats),
		cmocka_unit_test(test_two_devices),
		cmocka_unit_test(test_hostile_protocol),
		cmocka_unit_test(test_hostile_fds),
		cmocka_unit_test(test_hostile_memory),
		cmocka_unit_test(test_hostile_vrings),
		cmocka_unit_test(test_hostile_notifiers),
		cmocka_unit_test(test_hostile_disconnects),
		cmocka_unit_test(test_hostile_descriptor_types),
		cmocka_unit_test(test_hostile_blocking_call),
		cmocka_unit_test(test_hostile_kick_race),
		cmocka_unit_test(test_hostile_kick_forever),
		cmocka_unit_test(test_hostile_shrunk_memory),
		cmocka_unit_test(test_stale_kick_event),
		cmocka_unit_test(test_discard_budget),
		cmocka_unit_test(test_refused_table_withdraws),
		cmocka_unit_test(test_fault_storm),
		cmocka_unit_test(test_blocking_close),
		cmocka_unit_test(test_reaper_backpressure),
		cmocka_unit_test(test_closed_before_reply),
		cmocka_unit_test(test_reaper_stop_quiet),
		cmocka_unit_test(test_misaligned_regions),
		cmocka_unit_test(test_containment),
		cmocka_unit_test(test_reaper_fills_process_fd_table),
		cmocka_unit_test(test_accept_emfile),
		cmocka_unit_test(test_low_limit_said_once),
		cmocka_unit_test(test_ctrunc_names_descriptors),
		cmocka_unit_test(test_address_space),
	};
	/* Its own ctest entry, so that a machine that cannot provoke the
	 * fault skips it visibly (77) without hiding the others. */
	const struct CMUnitTest hugetlb[] = {
		cmocka_unit_test(test_hugetlb_memory),
	};

	/* GUESTMM_TEST=pattern runs only the tests whose names match. */
	if (getenv("GUESTMM_TEST"))
		cmocka_set_test_filter(getenv("GUESTMM_TEST"));
	if (argc > 1 && !strcmp(argv[1], "single"))
		threads = VHOST_USER_THREAD_ONE;
	if (argc > 1 && !strcmp(argv[1], "hugetlb")) {
		const char *why;
		size_t page;
		int fd = hugetlb_memfd_that_faults(&page, &why);

		if (fd < 0) {
			printf("SKIP: %s\n", why);
			return 77;
		}
		close(fd);
		return cmocka_run_group_tests(hugetlb, setup, teardown);
	}
	return cmocka_run_group_tests(tests, setup, teardown);
}
