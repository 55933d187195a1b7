/*
 * fuzz_vhost_user_session.c - stateful libFuzzer target: whole vhost-user
 * sessions against the real server, its dispatcher and the balloon.
 *
 * The server runs one balloon in VHOST_USER_THREAD_ONE mode, so that its
 * rounds run on the fuzzer's thread between the session's steps and a
 * session replays exactly.  Each input is one session: the fuzzer connects
 * to the device's socket as the frontend (the server accepts it as it would
 * any frontend), then reads steps from the input:
 *
 *   - a raw message: any request code, flags, payload, and any subset of a
 *     pool of descriptors (two memory files, an eventfd, both ends of a
 *     pipe, a socketpair end, /dev/null, a listening socket);
 *   - helpers that say something sensible, so that sessions get deep:
 *     a memory table of one or two page-aligned regions over the memory
 *     files, and a whole ring set up (num, base, addr, call, kick, enable)
 *     at chosen guest addresses;
 *   - ring contents: bytes written anywhere in a memory file (through
 *     pwrite, so that the fuzzer itself never touches a mapping);
 *   - a kick (eventfd or pipe); truncating or regrowing a memory file
 *     under the backend's mappings; asking for statistics.
 *
 * After every step the server runs a round (without waiting) and the
 * replies are read and thrown away.  At the end the connection is closed
 * and the server must let go of everything: the device disconnected, no
 * mapping of the memory files left, and, once the device's reaper has
 * closed what it was given, exactly the descriptors there were before the
 * session.  Any breach traps; so does anything the sanitizers see, and a
 * guest memory fault that escapes the backend kills the process.
 */
#ifndef _GNU_SOURCE
#define _GNU_SOURCE
#endif
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/eventfd.h>
#include <sys/mman.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <time.h>
#include <unistd.h>

#include "host/balloon.h"
#include "host/vhost_user.h"
#include "virtio/vhost_user.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

#define MEM_BYTES (256u * 1024) /* each memory file */
#define MAX_STEPS 64
#define UADDR_BASE 0x7f0000000000ull /* what we claim to map them at */
/* A little more than any request takes, to be refused for it. */
#define RAW_PAYLOAD_MAX (VHOST_USER_PAYLOAD_MAX + 16)

enum pool_fd {
	P_MEM0, P_MEM1, P_KICK_EVENTFD, P_CALL_PIPE_W, P_KICK_PIPE_R,
	P_SOCKPAIR, P_DEVNULL, P_LISTENER, P_NR,
};

static struct vhost_user_server *srv;
static struct balloon_dev *balloon;
static char dir[64], path[108];
static int pool[P_NR];
static int call_pipe_r, kick_pipe_w, sockpair_peer;
static int baseline_fds; /* before the session (libFuzzer opens some of
			   * its own between inputs: a symbolizer's pipes) */

static int count_fds(void)
{
	DIR *d = opendir("/proc/self/fd");
	struct dirent *e;
	int n = 0;

	if (!d)
		abort();
	while ((e = readdir(d)))
		n += e->d_name[0] != '.';
	closedir(d);
	return n - 1;
}

static bool mapped_anywhere(void)
{
	FILE *f = fopen("/proc/self/maps", "r");
	char line[512];
	bool found = false;

	if (!f)
		abort();
	while (fgets(line, sizeof(line), f))
		found |= strstr(line, "fuzz_session_mem") != NULL;
	fclose(f);
	return found;
}

static void setup(void)
{
	struct sockaddr_un sun = { .sun_family = AF_UNIX };
	int p[2];

	snprintf(dir, sizeof(dir), "/tmp/fuzz-vhost-session.XXXXXX");
	if (!mkdtemp(dir))
		abort();
	snprintf(path, sizeof(path), "%s/b.sock", dir);
	srv = vhost_user_server_create(VHOST_USER_THREAD_ONE);
	if (!srv || vhost_user_server_add_balloon(srv, path, &balloon))
		abort();
	balloon_set_stats_interval(balloon, 0);

	pool[P_MEM0] = memfd_create("fuzz_session_mem0", MFD_CLOEXEC);
	pool[P_MEM1] = memfd_create("fuzz_session_mem1", MFD_CLOEXEC);
	pool[P_KICK_EVENTFD] = eventfd(0, EFD_CLOEXEC | EFD_NONBLOCK);
	if (pipe2(p, O_CLOEXEC | O_NONBLOCK))
		abort();
	call_pipe_r = p[0];
	pool[P_CALL_PIPE_W] = p[1];
	if (pipe2(p, O_CLOEXEC | O_NONBLOCK))
		abort();
	pool[P_KICK_PIPE_R] = p[0];
	kick_pipe_w = p[1];
	if (socketpair(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC | SOCK_NONBLOCK, 0,
		       p))
		abort();
	pool[P_SOCKPAIR] = p[0];
	sockpair_peer = p[1];
	pool[P_DEVNULL] = open("/dev/null", O_RDWR | O_CLOEXEC);
	pool[P_LISTENER] = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
	strcpy(sun.sun_path + 1, "fuzz_session_listener"); /* abstract */
	if (bind(pool[P_LISTENER], (struct sockaddr *)&sun, sizeof(sun)) ||
	    listen(pool[P_LISTENER], 1))
		abort();
	for (int i = 0; i < P_NR; i++)
		if (pool[i] < 0)
			abort();
}

/* The input, read front to back; zeros once it runs out. */
struct reader {
	const uint8_t *p;
	size_t left;
};

static uint8_t rd8(struct reader *r)
{
	if (!r->left)
		return 0;
	r->left--;
	return *r->p++;
}

static uint16_t rd16(struct reader *r)
{
	return (uint16_t)(rd8(r) | rd8(r) << 8);
}

static uint32_t rd32(struct reader *r)
{
	return (uint32_t)rd16(r) | (uint32_t)rd16(r) << 16;
}

static void drain(int fd)
{
	uint8_t buf[4096];

	while (recv(fd, buf, sizeof(buf), MSG_DONTWAIT) > 0)
		;
}

/* A message with @nfds descriptors; the backend may have gone: ignored. */
static void send_msg(int sock, uint32_t req, uint32_t flags,
		     const void *payload, uint32_t size, const int *fds,
		     unsigned int nfds)
{
	union {
		struct cmsghdr align;
		char buf[CMSG_SPACE(sizeof(int) * P_NR)];
	} ctl;
	uint8_t buf[VHOST_USER_HDR_SIZE + RAW_PAYLOAD_MAX];
	struct vhost_user_hdr hdr = { req, flags, size };
	struct iovec iov = { buf, VHOST_USER_HDR_SIZE + size };
	struct msghdr mh = { .msg_iov = &iov, .msg_iovlen = 1 };

	if (size > RAW_PAYLOAD_MAX)
		return;
	memcpy(buf, &hdr, sizeof(hdr));
	memcpy(buf + VHOST_USER_HDR_SIZE, payload, size);
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
	(void)sendmsg(sock, &mh, MSG_NOSIGNAL | MSG_DONTWAIT);
}

static void step_raw(struct reader *r, int sock)
{
	uint8_t payload[RAW_PAYLOAD_MAX];
	uint32_t req = rd8(r) % 32, flags = rd8(r);
	uint32_t size = rd16(r) % (RAW_PAYLOAD_MAX + 1);
	uint8_t mask = rd8(r);
	int fds[P_NR];
	unsigned int nfds = 0;

	/* Mostly a well-formed header: version 1, perhaps NEED_REPLY. */
	if (!(flags & 0x80))
		flags = VHOST_USER_VERSION | (flags & VHOST_USER_FLAG_NEED_REPLY);
	for (uint32_t i = 0; i < size; i++)
		payload[i] = rd8(r);
	for (int i = 0; i < P_NR; i++)
		if (mask & (1u << i))
			fds[nfds++] = pool[i];
	send_msg(sock, req, flags, payload, size, fds, nfds);
}

static void step_mem_table(struct reader *r, int sock)
{
	struct {
		uint32_t n, pad;
		struct vhost_user_mem_region reg[2];
	} m = { 0 };
	int fds[2];
	uint8_t ctl = rd8(r);

	m.n = 1 + (ctl & 1);
	for (uint32_t i = 0; i < m.n; i++) {
		uint64_t off = (uint64_t)(rd8(r) % 64) * 4096;
		uint64_t len = (uint64_t)(1 + rd8(r) % 64) * 4096;

		m.reg[i] = (struct vhost_user_mem_region){
			.guest_phys_addr = (uint64_t)i << 30,
			.memory_size = len,
			.userspace_addr = UADDR_BASE + ((uint64_t)i << 30),
			.mmap_offset = off,
		};
		fds[i] = pool[(ctl >> (1 + i)) & 1 ? P_MEM1 : P_MEM0];
	}
	if (ctl & 0x80) /* sometimes bend one coordinate */
		m.reg[0].mmap_offset += rd8(r);
	send_msg(sock, VHOST_USER_SET_MEM_TABLE,
		 VHOST_USER_VERSION | VHOST_USER_FLAG_NEED_REPLY, &m,
		 (uint32_t)(8 + m.n * sizeof(m.reg[0])), fds, m.n);
}

static void step_ring(struct reader *r, int sock)
{
	uint32_t q = rd8(r) % 5, num = 1u << (rd8(r) % 11);
	struct vhost_user_vring_state st = { q, num };
	struct vhost_user_vring_addr a = { .index = q };
	uint64_t region = (uint64_t)(rd8(r) & 1) << 30;
	uint64_t arg = q;
	int kick = pool[rd8(r) & 1 ? P_KICK_PIPE_R : P_KICK_EVENTFD];
	uint32_t f = VHOST_USER_VERSION | VHOST_USER_FLAG_NEED_REPLY;

	a.desc = UADDR_BASE + region + (rd16(r) & ~15u);
	a.avail = UADDR_BASE + region + (rd16(r) & ~1u);
	a.used = UADDR_BASE + region + (rd16(r) & ~3u);
	send_msg(sock, VHOST_USER_SET_VRING_CALL, f, &arg, 8,
		 &pool[P_CALL_PIPE_W], 1);
	send_msg(sock, VHOST_USER_SET_VRING_NUM, f, &st, 8, NULL, 0);
	st.num = rd16(r);
	send_msg(sock, VHOST_USER_SET_VRING_BASE, f, &st, 8, NULL, 0);
	send_msg(sock, VHOST_USER_SET_VRING_ADDR, f, &a, sizeof(a), NULL, 0);
	send_msg(sock, VHOST_USER_SET_VRING_KICK, f, &arg, 8, &kick, 1);
	st.num = 1;
	send_msg(sock, VHOST_USER_SET_VRING_ENABLE, f, &st, 8, NULL, 0);
}

static void step_write(struct reader *r)
{
	int fd = pool[rd8(r) & 1 ? P_MEM1 : P_MEM0];
	uint32_t off = rd32(r) % MEM_BYTES, len = rd8(r);
	uint8_t buf[256];

	for (uint32_t i = 0; i < len; i++)
		buf[i] = rd8(r);
	if (len > MEM_BYTES - off)
		len = MEM_BYTES - off;
	(void)pwrite(fd, buf, len, off);
}

static void step_kick(struct reader *r)
{
	uint64_t one = 1;

	if (rd8(r) & 1)
		(void)write(kick_pipe_w, &one, sizeof(one));
	else
		(void)write(pool[P_KICK_EVENTFD], &one, sizeof(one));
}

static void step_truncate(struct reader *r)
{
	int fd = pool[rd8(r) & 1 ? P_MEM1 : P_MEM0];

	(void)ftruncate(fd, (off_t)(rd8(r) % 65) * 4096);
}

static void reset_pool(void)
{
	uint64_t v;
	uint8_t buf[4096];

	if (ftruncate(pool[P_MEM0], 0) || ftruncate(pool[P_MEM0], MEM_BYTES) ||
	    ftruncate(pool[P_MEM1], 0) || ftruncate(pool[P_MEM1], MEM_BYTES))
		abort();
	(void)read(pool[P_KICK_EVENTFD], &v, sizeof(v));
	while (read(call_pipe_r, buf, sizeof(buf)) > 0)
		;
	while (read(pool[P_KICK_PIPE_R], buf, sizeof(buf)) > 0)
		;
	drain(sockpair_peer);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	struct sockaddr_un sun = { .sun_family = AF_UNIX };
	struct reader r = { data, size };
	struct balloon_stats st;
	int sock, i;

	if (!srv)
		setup();
	reset_pool();
	baseline_fds = count_fds();
	sock = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
	strcpy(sun.sun_path, path);
	if (sock < 0 || connect(sock, (struct sockaddr *)&sun, sizeof(sun)))
		abort();
	vhost_user_server_run(srv, 0); /* accept */

	for (i = 0; i < MAX_STEPS && r.left; i++) {
		switch (rd8(&r) % 8) {
		case 0:
		case 1:
			step_raw(&r, sock);
			break;
		case 2:
			step_mem_table(&r, sock);
			break;
		case 3:
			step_ring(&r, sock);
			break;
		case 4:
			step_write(&r);
			break;
		case 5:
			step_kick(&r);
			break;
		case 6:
			step_truncate(&r);
			break;
		default:
			balloon_request_stats(balloon);
			break;
		}
		vhost_user_server_run(srv, 0);
		drain(sock);
	}

	/* The frontend leaves: the backend must let go of everything. */
	close(sock);
	for (i = 0; i < 100; i++) {
		vhost_user_server_run(srv, 0);
		balloon_get_stats(balloon, &st);
		if (!st.connected)
			break;
	}
	if (st.connected || mapped_anywhere())
		__builtin_trap();
	/* The reaper closes on its own thread: give it a moment. */
	for (i = 0; i < 2000 && count_fds() != baseline_fds; i++) {
		struct timespec ms = { 0, 1000000 };

		nanosleep(&ms, NULL);
	}
	if (count_fds() != baseline_fds) {
		fprintf(stderr, "descriptors: %d, %d before the session\n",
			count_fds(), baseline_fds);
		__builtin_trap();
	}
	return 0;
}
