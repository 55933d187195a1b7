/*
 * vhost_user_frontend.c - the frontend side of vhost-user for a guest in
 * this process.
 *
 * The frontend is a client of one unix socket, and every exchange on it is
 * synchronous: send a request, and when the request has a reply (GET_*) or
 * an ack was asked for (REPLY_ACK negotiated, NEED_REPLY set on every
 * request that has no reply of its own), read exactly that reply before
 * anything else is sent.  So nothing arrives on the socket unasked; a
 * readable socket while no request is out is the backend hanging up (or
 * breaking the protocol).  Without REPLY_ACK a backend cannot say no, so
 * every public call that changes backend state ends with a GET_FEATURES
 * round trip (as user-mode Linux does): when it returns, the backend has
 * processed everything sent before, and a backend that dropped us for a
 * request it refused is noticed there.
 *
 * The sequence is QEMU's and user-mode Linux's: SET_OWNER, GET_FEATURES,
 * GET/SET_PROTOCOL_FEATURES, SET_BACKEND_REQ_FD, SET_FEATURES,
 * SET_MEM_TABLE, then per queue SET_VRING_NUM, _BASE, _ADDR, _CALL, _KICK
 * and _ENABLE.  The call descriptor goes before the kick descriptor
 * because the backend starts a ring when its kick descriptor arrives, and
 * a started ring must be able to interrupt.
 *
 * Failures split in two: the backend refusing a request (a non-zero ack,
 * an empty GET_CONFIG reply) is returned and the connection stays usable;
 * a transport failure (the peer gone, a short or malformed reply) leaves
 * the stream at an unknown position, so it kills the connection: @dead
 * keeps the error and every later request returns -EPIPE.  Sends use
 * MSG_NOSIGNAL, so a dead backend is -EPIPE and never SIGPIPE.
 *
 * A reply is waited for as long as the connection lives, as a driver waits
 * for its used buffers: a backend that is slow or stopped for a while (a
 * host under SIGSTOP, a host busy for seconds) is not a dead one, and
 * giving up on it would lose the device for good.  What ends a wait is the
 * end of the connection (end of stream, a reset), which the kernel reports
 * at once; a send that finds the backend's buffer full waits the same way.
 * A wait that lasts VUF_QUIET_MS is said once on stderr, so a silent
 * backend does not hold a guest without a word.
 */
#ifndef _GNU_SOURCE
#define _GNU_SOURCE
#endif
#include "guest/vhost_user_frontend.h"

#include <errno.h>
#include <poll.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/eventfd.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <time.h>
#include <unistd.h>

#include "virtio/vhost_user.h"

#define VUF_F_PROTOCOL (UINT64_C(1) << VHOST_USER_F_PROTOCOL_FEATURES)
#define VUF_PF(bit) (UINT64_C(1) << (bit))
/* The protocol features this frontend implements. */
#define VUF_PROTOCOL_FEATURES                                                  \
	(VUF_PF(VHOST_USER_PROTOCOL_F_REPLY_ACK) |                             \
	 VUF_PF(VHOST_USER_PROTOCOL_F_BACKEND_REQ) |                           \
	 VUF_PF(VHOST_USER_PROTOCOL_F_CONFIG))

/* The largest ack a backend can mean: an errno. */
#define VUF_ACK_MAX 4095

/* SET_MEM_TABLE with one region: the wire table cut short, as the
 * payload size says how many regions follow. */
struct vuf_mem_table {
	uint32_t nregions;
	uint32_t padding;
	struct vhost_user_mem_region region;
};
_Static_assert(offsetof(struct vuf_mem_table, region) ==
		       offsetof(struct vhost_user_memory, regions),
	       "one region laid out as in the wire table");

/* One queue; part of the frontend, covered by its rule below. */
struct vuf_queue {
	int kick_fd; /* eventfd, -1 when the queue is stopped */
	int call_fd; /* eventfd, -1 when the queue is stopped */
	bool started;
};

/*
 * Lock coverage: none; the caller serialises all calls on a frontend.
 * Invariants: started queues imply mem_set; mem_set implies negotiated;
 * negotiated implies hello;
 * backend_fd >= 0 only with BACKEND_REQ in @protocol.
 */
struct vhost_user_frontend {
	int sock;
	int backend_fd; /* our end of the backend request channel, or -1 */
	int dead; /* 0, or the transport error that ended the connection */
	int quiet_ms; /* a reply waited for this long is said once (>0) */
	bool hello; /* SET_OWNER and the protocol features done */
	bool negotiated; /* SET_FEATURES acked */
	uint64_t offered; /* GET_FEATURES, bit 30 included */
	uint64_t features; /* what SET_FEATURES acked, bit 30 included */
	uint64_t protocol; /* negotiated protocol features */
	bool mem_set;
	uint8_t *map; /* our mapping of guest RAM: gpa maps to map[0] */
	uint64_t gpa, size;
	struct vuf_queue queues[VHOST_USER_FRONTEND_MAX_QUEUES];
};

static int64_t vuf_now_ms(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

/* A reply waited for this long is said once (each wait). */
#define VUF_QUIET_MS 10000

/* The requests whose replies we wait for, by name. */
static const char *vuf_request_name(uint32_t request)
{
	switch (request) {
	case VHOST_USER_GET_FEATURES:
		return "GET_FEATURES";
	case VHOST_USER_GET_PROTOCOL_FEATURES:
		return "GET_PROTOCOL_FEATURES";
	case VHOST_USER_GET_QUEUE_NUM:
		return "GET_QUEUE_NUM";
	case VHOST_USER_GET_VRING_BASE:
		return "GET_VRING_BASE";
	case VHOST_USER_GET_CONFIG:
		return "GET_CONFIG";
	case VHOST_USER_SET_CONFIG:
		return "SET_CONFIG";
	case VHOST_USER_SET_MEM_TABLE:
		return "SET_MEM_TABLE";
	default:
		return "a request";
	}
}

/* Milliseconds left until @deadline (-1: none), for poll(). */
static int vuf_left_ms(int64_t deadline)
{
	int64_t left;

	if (deadline < 0)
		return -1;
	left = deadline - vuf_now_ms();
	return left < 0 ? 0 : left > INT32_MAX ? INT32_MAX : (int)left;
}

/* A transport failure: the connection is over. */
static int vuf_kill(struct vhost_user_frontend *fe, int err)
{
	if (!fe->dead)
		fe->dead = err;
	return err;
}

/* The errno of a failed send or receive, as this module reports it. */
/* ENOBUFS from sendmsg(): try again after this, and say so after this
 * many tries. */
#define VUF_NOBUFS_WAIT_MS 10
#define VUF_NOBUFS_SAY 100

static int vuf_io_errno(int err)
{
	switch (err) {
	case EPIPE:
	case ECONNRESET:
	case ENOTCONN:
		return -EPIPE;
	default:
		return -err;
	}
}

/*
 * Read exactly @len bytes from @fd, waiting as long as the connection
 * lives; a wait of @quiet_ms (> 0) is said once, naming @request's reply.
 * Return: 0; -EPIPE at end of stream or a reset; another negative errno
 * from poll or recv.
 */
static int vuf_read_full_said(int fd, void *buf, size_t len, int quiet_ms,
			      uint32_t request)
{
	size_t got = 0;

	while (got < len) {
		struct pollfd p = { .fd = fd, .events = POLLIN };
		ssize_t n;
		int r = poll(&p, 1, quiet_ms > 0 ? quiet_ms : -1);

		if (r < 0 && errno == EINTR)
			continue;
		if (r < 0)
			return -errno;
		if (r == 0) {
			fprintf(stderr,
				"guestmm: vhost-user: no reply to %s for %g s; still waiting (the connection lives)\n",
				vuf_request_name(request), quiet_ms / 1000.0);
			quiet_ms = -1;
			continue;
		}
		n = recv(fd, (uint8_t *)buf + got, len - got, MSG_DONTWAIT);
		if (n == 0)
			return -EPIPE;
		if (n < 0) {
			if (errno == EINTR || errno == EAGAIN)
				continue;
			return vuf_io_errno(errno);
		}
		got += (size_t)n;
	}
	return 0;
}

/* vuf_read_full_said() without a word: the backend's own requests. */
static int vuf_read_full(int fd, void *buf, size_t len)
{
	return vuf_read_full_said(fd, buf, len, -1, 0);
}

/*
 * Send one message: header, @size bytes of @payload, @nfds descriptors.
 * Return: 0; -EPIPE when the backend is gone; another negative errno from
 * sendmsg but ENOBUFS and ENOMEM, which are waited out.  Any failure kills
 * the connection (part of the message may be out).
 */
static int vuf_send(struct vhost_user_frontend *fe, uint32_t request,
		    uint32_t flags, const void *payload, uint32_t size,
		    const int *fds, unsigned int nfds)
{
	uint8_t buf[VHOST_USER_HDR_SIZE + VHOST_USER_PAYLOAD_MAX];
	struct vhost_user_hdr hdr = {
		.request = request,
		.flags = VHOST_USER_VERSION | flags,
		.size = size,
	};
	union {
		struct cmsghdr align;
		char buf[CMSG_SPACE(sizeof(int) * VHOST_USER_MAX_FDS)];
	} ctl;
	size_t len = VHOST_USER_HDR_SIZE + size, sent = 0;
	unsigned int nobufs = 0;

	if (size > VHOST_USER_PAYLOAD_MAX || nfds > VHOST_USER_MAX_FDS)
		return -EINVAL;
	memcpy(buf, &hdr, sizeof(hdr));
	if (size)
		memcpy(buf + VHOST_USER_HDR_SIZE, payload, size);
	while (sent < len) {
		struct iovec iov = { buf + sent, len - sent };
		struct msghdr mh = { .msg_iov = &iov, .msg_iovlen = 1 };
		ssize_t n;

		/* The descriptors ride on the first byte only. */
		if (nfds && sent == 0) {
			struct cmsghdr *c;

			memset(&ctl, 0, sizeof(ctl));
			mh.msg_control = ctl.buf;
			mh.msg_controllen = CMSG_SPACE(sizeof(int) * nfds);
			c = CMSG_FIRSTHDR(&mh);
			c->cmsg_level = SOL_SOCKET;
			c->cmsg_type = SCM_RIGHTS;
			c->cmsg_len = CMSG_LEN(sizeof(int) * nfds);
			memcpy(CMSG_DATA(c), fds, sizeof(int) * nfds);
		}
		n = sendmsg(fe->sock, &mh, MSG_NOSIGNAL);
		if (n < 0 && errno == EINTR)
			continue;
		if (n < 0 && (errno == ENOBUFS || errno == ENOMEM)) {
			/*
			 * No kernel memory for the message: a guest whose
			 * memory cgroup is at its limit, until the host
			 * makes room (a balloon elsewhere inflates, or it
			 * kills a guest).  Not the connection's end: wait
			 * and send again, as long as it takes, said once.
			 */
			struct timespec ts = { 0, VUF_NOBUFS_WAIT_MS * 1000000L };

			if (++nobufs == VUF_NOBUFS_SAY)
				fprintf(stderr,
					"guestmm: vhost-user: no kernel memory to send %s for %d ms (%s); still trying\n",
					vuf_request_name(request),
					VUF_NOBUFS_SAY * VUF_NOBUFS_WAIT_MS, strerror(errno));
			nanosleep(&ts, NULL);
			continue;
		}
		if (n < 0)
			return vuf_kill(fe, vuf_io_errno(errno));
		sent += (size_t)n;
	}
	return 0;
}

/*
 * Read the reply to @request into @payload (at most @max bytes), as long
 * as it takes.
 * Return: 0 with *@size set; -EPROTO for a reply that is not the one
 * asked for; -EPIPE.  Any failure kills the connection.
 */
static int vuf_recv_reply(struct vhost_user_frontend *fe, uint32_t request,
			  void *payload, uint32_t max, uint32_t *size)
{
	struct vhost_user_hdr hdr;
	int err;

	err = vuf_read_full_said(fe->sock, &hdr, sizeof(hdr), fe->quiet_ms,
				 request);
	if (err)
		return vuf_kill(fe, err);
	if (hdr.request != request ||
	    (hdr.flags & (VHOST_USER_VERSION_MASK | VHOST_USER_FLAG_REPLY)) !=
		    (VHOST_USER_VERSION | VHOST_USER_FLAG_REPLY) ||
	    hdr.size > max)
		return vuf_kill(fe, -EPROTO);
	if (hdr.size) {
		err = vuf_read_full_said(fe->sock, payload, hdr.size,
					 fe->quiet_ms, request);
		if (err)
			return vuf_kill(fe, err);
	}
	*size = hdr.size;
	return 0;
}

/*
 * A request with a reply of its own (GET_*): send it, read the reply.
 * Return: 0 with *@size set; -EPIPE; -EPROTO.
 */
static int vuf_call(struct vhost_user_frontend *fe, uint32_t request,
		    const void *payload, uint32_t size, void *reply,
		    uint32_t max, uint32_t *reply_size)
{
	int err;

	if (fe->dead)
		return -EPIPE;
	err = vuf_send(fe, request, 0, payload, size, NULL, 0);
	if (err)
		return err;
	return vuf_recv_reply(fe, request, reply, max, reply_size);
}

/* Return: 0 with *@v set; -EPIPE; -EPROTO (not 8 bytes). */
static int vuf_get_u64(struct vhost_user_frontend *fe, uint32_t request,
		       uint64_t *v)
{
	uint32_t size;
	int err = vuf_call(fe, request, NULL, 0, v, sizeof(*v), &size);

	if (!err && size != sizeof(*v))
		return vuf_kill(fe, -EPROTO);
	return err;
}

/*
 * A request without a reply of its own.  With REPLY_ACK, ask for the ack
 * and return the backend's verdict; without it, the backend cannot refuse
 * (see vuf_sync()).
 * Return: 0; the backend's refusal as a negative errno; -EPIPE; -EPROTO
 * (an ack that is no errno).
 */
static int vuf_request(struct vhost_user_frontend *fe, uint32_t request,
		       const void *payload, uint32_t size, const int *fds,
		       unsigned int nfds)
{
	bool ack = fe->protocol & VUF_PF(VHOST_USER_PROTOCOL_F_REPLY_ACK);
	uint64_t v;
	uint32_t got;
	int err;

	if (fe->dead)
		return -EPIPE;
	err = vuf_send(fe, request,
		       ack ? VHOST_USER_FLAG_NEED_REPLY : 0, payload, size, fds,
		       nfds);
	if (err || !ack)
		return err;
	err = vuf_recv_reply(fe, request, &v, sizeof(v), &got);
	if (err)
		return err;
	if (got != sizeof(v) || v > VUF_ACK_MAX)
		return vuf_kill(fe, -EPROTO);
	return -(int)v;
}

/*
 * Without REPLY_ACK: a GET_FEATURES round trip, so that everything sent
 * before has been processed when it returns.  With REPLY_ACK every request
 * was already acknowledged.
 * Return: 0; -EPIPE; -EPROTO.
 */
static int vuf_sync(struct vhost_user_frontend *fe)
{
	uint64_t v;

	if (fe->dead)
		return -EPIPE;
	if (fe->protocol & VUF_PF(VHOST_USER_PROTOCOL_F_REPLY_ACK))
		return 0;
	return vuf_get_u64(fe, VHOST_USER_GET_FEATURES, &v);
}

static void vuf_close_fd(int *fd)
{
	if (*fd >= 0)
		close(*fd);
	*fd = -1;
}

/*
 * vhost_user_frontend_connect - connect to the backend listening on @path.
 * Return: 0 with *@out set; -ENAMETOOLONG for a path that does not fit a
 * socket address; -ENOMEM; connect()'s errno (-ENOENT, -ECONNREFUSED ...).
 */
int vhost_user_frontend_connect(const char *path,
				struct vhost_user_frontend **out)
{
	struct sockaddr_un sun = { .sun_family = AF_UNIX };
	struct vhost_user_frontend *fe;
	unsigned int q;
	int err;

	if (strlen(path) >= sizeof(sun.sun_path))
		return -ENAMETOOLONG;
	strcpy(sun.sun_path, path);
	fe = calloc(1, sizeof(*fe));
	if (!fe)
		return -ENOMEM;
	fe->backend_fd = -1;
	for (q = 0; q < VHOST_USER_FRONTEND_MAX_QUEUES; q++)
		fe->queues[q].kick_fd = fe->queues[q].call_fd = -1;
	fe->quiet_ms = VUF_QUIET_MS;
	fe->sock = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
	if (fe->sock < 0) {
		err = -errno;
		goto undo_alloc;
	}
	while (connect(fe->sock, (struct sockaddr *)&sun, sizeof(sun)) < 0) {
		if (errno != EINTR) {
			err = -errno;
			goto undo_socket;
		}
	}
	*out = fe;
	return 0;

undo_socket:
	close(fe->sock);
undo_alloc:
	free(fe);
	return err;
}

/* Closes every descriptor the frontend holds; the backend sees a hang-up
 * and resets its device.  The caller's memfd and mapping stay its own. */
void vhost_user_frontend_close(struct vhost_user_frontend *fe)
{
	unsigned int q;

	if (!fe)
		return;
	for (q = 0; q < VHOST_USER_FRONTEND_MAX_QUEUES; q++) {
		vuf_close_fd(&fe->queues[q].kick_fd);
		vuf_close_fd(&fe->queues[q].call_fd);
	}
	vuf_close_fd(&fe->backend_fd);
	vuf_close_fd(&fe->sock);
	free(fe);
}

/* Hand the backend one end of a new backend request channel. */
static int vuf_backend_channel(struct vhost_user_frontend *fe)
{
	int sv[2], err;

	if (socketpair(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0, sv) < 0)
		return -errno;
	err = vuf_request(fe, VHOST_USER_SET_BACKEND_REQ_FD, NULL, 0, &sv[1],
			  1);
	close(sv[1]); /* the backend has its own copy now */
	if (err) {
		close(sv[0]);
		return err;
	}
	fe->backend_fd = sv[0];
	return 0;
}

/*
 * vhost_user_frontend_hello - take ownership of the backend and learn what
 * it offers (vhost_user_frontend_offered()); agree on the protocol
 * features REPLY_ACK, BACKEND_REQ and CONFIG, each when offered.  With
 * BACKEND_REQ a backend request channel is set up, read with
 * vhost_user_frontend_backend_poll().
 * Return: 0; -EBUSY when already negotiated; the backend's refusal
 * (-EINVAL ...); -EPIPE; -EPROTO; -EMFILE and friends from
 * socketpair().
 */
int vhost_user_frontend_hello(struct vhost_user_frontend *fe)
{
	uint64_t pf;
	int err;

	if (fe->hello)
		return -EBUSY;
	err = vuf_request(fe, VHOST_USER_SET_OWNER, NULL, 0, NULL, 0);
	if (err)
		return err;
	err = vuf_get_u64(fe, VHOST_USER_GET_FEATURES, &fe->offered);
	if (err)
		return err;
	if (fe->offered & VUF_F_PROTOCOL) {
		err = vuf_get_u64(fe, VHOST_USER_GET_PROTOCOL_FEATURES, &pf);
		if (err)
			return err;
		pf &= VUF_PROTOCOL_FEATURES;
		/* Sent without NEED_REPLY, as QEMU does: whether a backend
		 * acks this very message is not settled by the spec. */
		err = vuf_send(fe, VHOST_USER_SET_PROTOCOL_FEATURES, 0,
			       &pf, sizeof(pf), NULL, 0);
		if (err)
			return err;
		fe->protocol = pf;
	}
	if (fe->protocol & VUF_PF(VHOST_USER_PROTOCOL_F_BACKEND_REQ)) {
		err = vuf_backend_channel(fe);
		if (err) {
			fe->protocol = 0;
			return err;
		}
	}
	fe->hello = true;
	return 0;
}

/*
 * vhost_user_frontend_set_features - after hello, agree on the virtio
 * features: @want & what the backend offers (returned in *@features, bit
 * 30 excluded: it is vhost-user's own).
 * Return: 0; -EINVAL before hello; -EBUSY when done already; the
 * backend's refusal; -EPIPE; -ETIMEDOUT; -EPROTO.
 */
int vhost_user_frontend_set_features(struct vhost_user_frontend *fe,
				     uint64_t want, uint64_t *features)
{
	uint64_t acked;
	int err;

	if (!fe->hello)
		return -EINVAL;
	if (fe->negotiated)
		return -EBUSY;
	acked = (want & fe->offered & ~VUF_F_PROTOCOL) |
		(fe->offered & VUF_F_PROTOCOL);
	err = vuf_request(fe, VHOST_USER_SET_FEATURES, &acked, sizeof(acked),
			  NULL, 0);
	if (!err)
		err = vuf_sync(fe);
	if (err)
		return err;
	fe->features = acked;
	fe->negotiated = true;
	*features = acked & ~VUF_F_PROTOCOL;
	return 0;
}

/*
 * vhost_user_frontend_negotiate - hello, then set_features(@want), in one
 * call.  A failure of the second step closes the backend request channel
 * the first made.
 * Return: 0; -EBUSY when already negotiated; the errors of the two steps.
 */
int vhost_user_frontend_negotiate(struct vhost_user_frontend *fe,
				  uint64_t want, uint64_t *features)
{
	int err;

	if (fe->hello)
		return -EBUSY;
	err = vhost_user_frontend_hello(fe);
	if (err)
		return err;
	err = vhost_user_frontend_set_features(fe, want, features);
	if (err) {
		vuf_close_fd(&fe->backend_fd);
		fe->protocol = 0;
	}
	return err;
}

/* The virtio features the backend offered (bit 30 excluded); 0 before
 * negotiation. */
uint64_t vhost_user_frontend_offered(const struct vhost_user_frontend *fe)
{
	return fe->offered & ~VUF_F_PROTOCOL;
}

uint64_t vhost_user_frontend_protocol_features(
	const struct vhost_user_frontend *fe)
{
	return fe->protocol;
}

/*
 * vhost_user_frontend_set_mem - share guest RAM: [@gpa, @gpa + @size) is
 * @memfd from offset 0, which we have mapped shared at @map.  The backend
 * gets its own descriptor; @memfd and @map stay the caller's, and must
 * outlive the frontend.  One region; a second call replaces it.
 * Return: 0; -EINVAL before negotiation, for a size of 0 or a range that
 * wraps; -EBUSY while a queue is started (its rings live in the old
 * table); the backend's refusal; -EPIPE; -EPROTO.
 */
int vhost_user_frontend_set_mem(struct vhost_user_frontend *fe, int memfd,
				void *map, uint64_t gpa, uint64_t size)
{
	struct vuf_mem_table table = {
		.nregions = 1,
		.region = {
			.guest_phys_addr = gpa,
			.memory_size = size,
			.userspace_addr = (uint64_t)(uintptr_t)map,
			.mmap_offset = 0,
		},
	};
	unsigned int q;
	int err;

	if (!fe->negotiated || memfd < 0 || !map || size == 0 ||
	    gpa + size < gpa)
		return -EINVAL;
	for (q = 0; q < VHOST_USER_FRONTEND_MAX_QUEUES; q++)
		if (fe->queues[q].started)
			return -EBUSY;
	err = vuf_request(fe, VHOST_USER_SET_MEM_TABLE, &table, sizeof(table),
			  &memfd, 1);
	if (!err)
		err = vuf_sync(fe);
	if (err)
		return err;
	fe->map = map;
	fe->gpa = gpa;
	fe->size = size;
	fe->mem_set = true;
	return 0;
}

/*
 * vhost_user_frontend_translate - a vring_translate_fn over the guest RAM
 * given to vhost_user_frontend_set_mem(); @ctx is the frontend.
 * Return: our address of @gpa, or NULL unless [@gpa, @gpa + @len) is RAM.
 */
void *vhost_user_frontend_translate(void *ctx, uint64_t gpa, uint64_t len,
				    bool write)
{
	struct vhost_user_frontend *fe = ctx;

	(void)write;
	if (!fe->mem_set || gpa < fe->gpa || gpa - fe->gpa > fe->size ||
	    len > fe->size - (gpa - fe->gpa))
		return NULL;
	return fe->map + (gpa - fe->gpa);
}

static bool vuf_num_valid(unsigned int num)
{
	return num && num <= VIRTQUEUE_MAX_SIZE && !(num & (num - 1));
}

/*
 * vhost_user_frontend_ring_bytes, vhost_user_frontend_ring_place - the
 * layout every transport takes (virtqueue_ring_bytes(),
 * virtqueue_ring_place()), kept under these names for callers that drive
 * the frontend alone.
 */
uint64_t vhost_user_frontend_ring_bytes(unsigned int num)
{
	return virtqueue_ring_bytes(num);
}

int vhost_user_frontend_ring_place(struct virtqueue_config *cfg,
				   unsigned int num, uint64_t gpa,
				   uint64_t len)
{
	return virtqueue_ring_place(cfg, num, gpa, len);
}

static int vuf_vring_state(struct vhost_user_frontend *fe, uint32_t request,
			   unsigned int q, unsigned int num)
{
	struct vhost_user_vring_state s = { .index = q, .num = num };

	return vuf_request(fe, request, &s, sizeof(s), NULL, 0);
}

static int vuf_vring_fd(struct vhost_user_frontend *fe, uint32_t request,
			unsigned int q, int fd)
{
	uint64_t arg = q;

	return vuf_request(fe, request, &arg, sizeof(arg), &fd, 1);
}

/* Our user address of a guest-physical ring area the caller validated. */
static uint64_t vuf_uaddr(const struct vhost_user_frontend *fe, uint64_t gpa)
{
	return (uint64_t)(uintptr_t)(fe->map + (gpa - fe->gpa));
}

/* Stop ring @q in the backend: it closes its kick descriptor and says
 * where it stopped. */
static int vuf_vring_stop(struct vhost_user_frontend *fe, unsigned int q,
			  uint16_t *base)
{
	struct vhost_user_vring_state s = { .index = q };
	uint32_t size;
	int err;

	if (fe->features & VUF_F_PROTOCOL) {
		err = vuf_vring_state(fe, VHOST_USER_SET_VRING_ENABLE, q, 0);
		if (err)
			return err;
	}
	err = vuf_call(fe, VHOST_USER_GET_VRING_BASE, &s, sizeof(s), &s,
		       sizeof(s), &size);
	if (err)
		return err;
	if (size != sizeof(s) || s.index != q || s.num > UINT16_MAX)
		return vuf_kill(fe, -EPROTO);
	*base = (uint16_t)s.num;
	return 0;
}

/*
 * vhost_user_frontend_queue_start - hand queue @q to the backend: its size
 * and ring addresses from @cfg (the configuration the virtqueue driver half
 * was initialised with; the driver must be fresh, avail index 0), new call
 * and kick eventfds, and the enable when PROTOCOL_FEATURES was acked.
 * Return: 0; -ERANGE for @q beyond VHOST_USER_FRONTEND_MAX_QUEUES;
 * -EINVAL before set_mem or for an invalid queue size; -EFAULT for a ring
 * area outside guest RAM; -EBUSY when @q is started; the backend's refusal
 * (the ring is then stopped again); -EPIPE; -EPROTO; -EMFILE
 * and friends from eventfd().
 */
int vhost_user_frontend_queue_start(struct vhost_user_frontend *fe,
				    unsigned int q,
				    const struct virtqueue_config *cfg)
{
	struct vuf_queue *vq;
	struct vhost_user_vring_addr a;
	unsigned int num = cfg->num;
	uint16_t base;
	int err;

	if (q >= VHOST_USER_FRONTEND_MAX_QUEUES)
		return -ERANGE;
	if (!fe->mem_set || !vuf_num_valid(num))
		return -EINVAL;
	if (!vhost_user_frontend_translate(fe, cfg->desc, vring_desc_size(num),
					   true) ||
	    !vhost_user_frontend_translate(fe, cfg->avail,
					   vring_avail_size(num), true) ||
	    !vhost_user_frontend_translate(fe, cfg->used, vring_used_size(num),
					   true))
		return -EFAULT;
	vq = &fe->queues[q];
	if (vq->started)
		return -EBUSY;
	if (fe->dead)
		return -EPIPE;

	vq->call_fd = eventfd(0, EFD_CLOEXEC | EFD_NONBLOCK);
	if (vq->call_fd < 0)
		return -errno;
	vq->kick_fd = eventfd(0, EFD_CLOEXEC | EFD_NONBLOCK);
	if (vq->kick_fd < 0) {
		err = -errno;
		goto undo_call;
	}
	a = (struct vhost_user_vring_addr){
		.index = q,
		.desc = vuf_uaddr(fe, cfg->desc),
		.avail = vuf_uaddr(fe, cfg->avail),
		.used = vuf_uaddr(fe, cfg->used),
	};
	err = vuf_vring_state(fe, VHOST_USER_SET_VRING_NUM, q, num);
	if (err)
		goto undo_kick; /* the backend has nothing of the ring */
	err = vuf_vring_state(fe, VHOST_USER_SET_VRING_BASE, q, 0);
	if (!err)
		err = vuf_request(fe, VHOST_USER_SET_VRING_ADDR, &a, sizeof(a),
				  NULL, 0);
	if (!err)
		err = vuf_vring_fd(fe, VHOST_USER_SET_VRING_CALL, q,
				   vq->call_fd);
	if (!err)
		err = vuf_vring_fd(fe, VHOST_USER_SET_VRING_KICK, q,
				   vq->kick_fd);
	if (!err && (fe->features & VUF_F_PROTOCOL))
		err = vuf_vring_state(fe, VHOST_USER_SET_VRING_ENABLE, q, 1);
	if (!err)
		err = vuf_sync(fe);
	if (err)
		goto undo_backend;
	vq->started = true;
	return 0;

undo_backend:
	/* A refusal leaves the connection up: stop what was set up. */
	if (!fe->dead)
		vuf_vring_stop(fe, q, &base);
undo_kick:
	vuf_close_fd(&vq->kick_fd);
undo_call:
	vuf_close_fd(&vq->call_fd);
	return err;
}

/*
 * vhost_user_frontend_queue_stop - disable queue @q and take it back: the
 * backend stops processing it and says in *@base the avail index it will
 * resume from (with Linux's devices, the driver's avail index once every
 * chain was used).  The queue's eventfds are closed.
 * Return: 0; -ERANGE; -EINVAL when @q is not started; -EPIPE; -EPROTO;
 * the backend's refusal of the disable.
 */
int vhost_user_frontend_queue_stop(struct vhost_user_frontend *fe,
				   unsigned int q, uint16_t *base)
{
	struct vuf_queue *vq;
	int err;

	if (q >= VHOST_USER_FRONTEND_MAX_QUEUES)
		return -ERANGE;
	vq = &fe->queues[q];
	if (!vq->started)
		return -EINVAL;
	err = vuf_vring_stop(fe, q, base);
	if (err)
		return err;
	vuf_close_fd(&vq->kick_fd);
	vuf_close_fd(&vq->call_fd);
	vq->started = false;
	return 0;
}

/*
 * vhost_user_frontend_kick - notify the backend that queue @q has new
 * buffers.  Call it when virtqueue_kick_prepare() says so.
 * Return: 0; -ERANGE; -EINVAL when @q is not started; -EPIPE when the
 * connection is dead.
 */
int vhost_user_frontend_kick(struct vhost_user_frontend *fe, unsigned int q)
{
	uint64_t one = 1;

	if (q >= VHOST_USER_FRONTEND_MAX_QUEUES)
		return -ERANGE;
	if (!fe->queues[q].started)
		return -EINVAL;
	if (fe->dead)
		return -EPIPE;
	for (;;) {
		if (write(fe->queues[q].kick_fd, &one, sizeof(one)) ==
		    (ssize_t)sizeof(one))
			return 0;
		/* EAGAIN: the counter is saturated, a kick is pending. */
		if (errno == EAGAIN)
			return 0;
		if (errno != EINTR)
			return -errno;
	}
}

/* The socket became readable or hung up while no request was out. */
static int vuf_unsolicited(struct vhost_user_frontend *fe)
{
	char c;
	ssize_t n = recv(fe->sock, &c, 1, MSG_PEEK | MSG_DONTWAIT);

	if (n > 0)
		return vuf_kill(fe, -EPROTO);
	if (n < 0 && (errno == EAGAIN || errno == EINTR))
		return 0;
	return vuf_kill(fe, n == 0 ? -EPIPE : vuf_io_errno(errno));
}

/*
 * vhost_user_frontend_wait_call - wait up to @timeout_ms (-1: for ever)
 * until the backend notifies queue @q, and consume the notification.  Then
 * collect used buffers with virtqueue_get_used().  Watching the socket too,
 * it notices a backend that went away.
 * Return: 0; -ETIMEDOUT; -ERANGE; -EINVAL when @q is not started; -EPIPE
 * when the backend is gone; -EPROTO when it sent something unasked.
 */
int vhost_user_frontend_wait_call(struct vhost_user_frontend *fe,
				  unsigned int q, int timeout_ms)
{
	int64_t deadline = timeout_ms < 0 ? -1 : vuf_now_ms() + timeout_ms;
	struct vuf_queue *vq;
	uint64_t v;

	if (q >= VHOST_USER_FRONTEND_MAX_QUEUES)
		return -ERANGE;
	vq = &fe->queues[q];
	if (!vq->started)
		return -EINVAL;
	for (;;) {
		struct pollfd p[2] = {
			{ .fd = vq->call_fd, .events = POLLIN },
			{ .fd = fe->sock, .events = POLLIN | POLLRDHUP },
		};
		int r, err;

		if (fe->dead)
			return -EPIPE;
		r = poll(p, 2, vuf_left_ms(deadline));
		if (r < 0 && errno != EINTR)
			return -errno;
		if (r == 0)
			return -ETIMEDOUT;
		if (r < 0)
			continue;
		/* A notification counts even when the backend left since. */
		if (p[0].revents &&
		    read(vq->call_fd, &v, sizeof(v)) == (ssize_t)sizeof(v))
			return 0;
		if (p[1].revents) {
			err = vuf_unsolicited(fe);
			if (err)
				return err;
		}
	}
}

/*
 * vhost_user_frontend_call_fd - the eventfd the backend notifies queue @q
 * on, for a caller with its own poll loop (read 8 bytes to consume).
 * Return: the descriptor; -ERANGE; -EINVAL when @q is not started.
 */
int vhost_user_frontend_call_fd(const struct vhost_user_frontend *fe,
				unsigned int q)
{
	if (q >= VHOST_USER_FRONTEND_MAX_QUEUES)
		return -ERANGE;
	return fe->queues[q].started ? fe->queues[q].call_fd : -EINVAL;
}

static int vuf_config_check(const struct vhost_user_frontend *fe,
			    uint32_t offset, uint32_t len)
{
	if (!(fe->protocol & VUF_PF(VHOST_USER_PROTOCOL_F_CONFIG)))
		return -EOPNOTSUPP;
	if (len == 0 || len > VHOST_USER_CONFIG_MAX ||
	    offset > VHOST_USER_CONFIG_MAX - len)
		return -EINVAL;
	return 0;
}

/*
 * vhost_user_frontend_get_config - read @len bytes of the device's config
 * space at @offset into @buf.
 * Return: 0; -EOPNOTSUPP without the CONFIG protocol feature; -EINVAL for
 * a range past 256 bytes, or one the backend refused (empty reply);
 * -EPIPE; -EPROTO.
 */
int vhost_user_frontend_get_config(struct vhost_user_frontend *fe,
				   uint32_t offset, void *buf, uint32_t len)
{
	struct vhost_user_config c = { .offset = offset, .size = len };
	uint32_t size;
	int err = vuf_config_check(fe, offset, len);

	if (err)
		return err;
	err = vuf_call(fe, VHOST_USER_GET_CONFIG, &c,
		       (uint32_t)VHOST_USER_CONFIG_HDR_SIZE + len, &c, sizeof(c),
		       &size);
	if (err)
		return err;
	if (size == 0)
		return -EINVAL;
	if (size != VHOST_USER_CONFIG_HDR_SIZE + len || c.offset != offset ||
	    c.size != len)
		return vuf_kill(fe, -EPROTO);
	memcpy(buf, c.payload, len);
	return 0;
}

/*
 * vhost_user_frontend_set_config - write @len bytes of @buf to the
 * device's config space at @offset.
 * Return: 0; -EOPNOTSUPP without the CONFIG protocol feature; -EINVAL for
 * a range past 256 bytes; the backend's refusal; -EPIPE; -EPROTO.
 */
int vhost_user_frontend_set_config(struct vhost_user_frontend *fe,
				   uint32_t offset, const void *buf,
				   uint32_t len)
{
	struct vhost_user_config c = { .offset = offset, .size = len };
	int err = vuf_config_check(fe, offset, len);

	if (err)
		return err;
	memcpy(c.payload, buf, len);
	err = vuf_request(fe, VHOST_USER_SET_CONFIG, &c,
			  (uint32_t)VHOST_USER_CONFIG_HDR_SIZE + len, NULL, 0);
	return err ? err : vuf_sync(fe);
}

/* Answer a backend request that asked for a reply: @v is an errno or 0. */
static int vuf_backend_ack(struct vhost_user_frontend *fe,
			   const struct vhost_user_hdr *req, uint64_t v)
{
	uint8_t buf[VHOST_USER_HDR_SIZE + sizeof(v)];
	struct vhost_user_hdr hdr = {
		.request = req->request,
		.flags = VHOST_USER_VERSION | VHOST_USER_FLAG_REPLY,
		.size = sizeof(v),
	};

	if (!(req->flags & VHOST_USER_FLAG_NEED_REPLY) ||
	    !(fe->protocol & VUF_PF(VHOST_USER_PROTOCOL_F_REPLY_ACK)))
		return 0;
	memcpy(buf, &hdr, sizeof(hdr));
	memcpy(buf + sizeof(hdr), &v, sizeof(v));
	if (send(fe->backend_fd, buf, sizeof(buf), MSG_NOSIGNAL) !=
	    (ssize_t)sizeof(buf))
		return -EPIPE;
	return 0;
}

/* Read and answer one message on the backend channel. */
static int vuf_backend_one(struct vhost_user_frontend *fe,
			   unsigned int *config_changes)
{
	uint8_t payload[VHOST_USER_PAYLOAD_MAX];
	struct vhost_user_hdr hdr;
	int err;

	/* A message that stops half way is waited for as a reply is. */
	err = vuf_read_full(fe->backend_fd, &hdr, sizeof(hdr));
	if (err)
		return err;
	if ((hdr.flags & (VHOST_USER_VERSION_MASK | VHOST_USER_FLAG_REPLY)) !=
		    VHOST_USER_VERSION ||
	    hdr.size > sizeof(payload))
		return -EPROTO;
	if (hdr.size) {
		err = vuf_read_full(fe->backend_fd, payload, hdr.size);
		if (err)
			return err;
	}
	if (hdr.request == VHOST_USER_BACKEND_CONFIG_CHANGE_MSG) {
		(*config_changes)++;
		return vuf_backend_ack(fe, &hdr, 0);
	}
	/* Requests we do not serve (IOTLB, host notifiers ...). */
	return vuf_backend_ack(fe, &hdr, ENOSYS);
}

/*
 * vhost_user_frontend_backend_poll - read what the backend sent on its
 * request channel: wait up to @timeout_ms (0: do not wait; -1: for ever)
 * for the first message, then take every message already there.  Config
 * changes are counted in *@config_changes (re-read the config with
 * vhost_user_frontend_get_config()); other requests are refused.
 * Return: 0 (also when nothing came); -EOPNOTSUPP without a channel;
 * -EPIPE when the backend closed it; -EPROTO for a malformed message.  A
 * message that stops half way is waited for as long as the channel lives.
 * After an error the channel is closed.
 */
int vhost_user_frontend_backend_poll(struct vhost_user_frontend *fe,
				     int timeout_ms,
				     unsigned int *config_changes)
{
	int wait = timeout_ms;

	*config_changes = 0;
	if (fe->backend_fd < 0)
		return -EOPNOTSUPP;
	for (;;) {
		struct pollfd p = { .fd = fe->backend_fd, .events = POLLIN };
		int r = poll(&p, 1, wait), err;

		if (r < 0 && errno == EINTR)
			continue;
		if (r < 0)
			return -errno;
		if (r == 0)
			return 0;
		err = vuf_backend_one(fe, config_changes);
		if (err) {
			vuf_close_fd(&fe->backend_fd);
			return err;
		}
		wait = 0;
	}
}

/*
 * vhost_user_frontend_backend_fd - our end of the backend request channel,
 * for a caller with its own poll loop (then call backend_poll with 0).
 * Return: the descriptor; -EOPNOTSUPP when there is none.
 */
int vhost_user_frontend_backend_fd(const struct vhost_user_frontend *fe)
{
	return fe->backend_fd >= 0 ? fe->backend_fd : -EOPNOTSUPP;
}

/*
 * vhost_user_frontend_set_quiet_ms - say a wait for a reply once it has
 * lasted @ms (default 10 s; 0: never say it).  The wait goes on either
 * way, as long as the connection lives.
 */
void vhost_user_frontend_set_quiet_ms(struct vhost_user_frontend *fe, int ms)
{
	fe->quiet_ms = ms > 0 ? ms : -1;
}
