/*
 * vhost_user.c - the backend side of vhost-user, over an epoll loop.
 *
 * Each device has a listening socket and at most one connection.  Messages
 * are read without blocking into a per-connection buffer (a frontend that
 * sends half a message and stops stalls only itself), validated whole by
 * vhost_user_msg_parse() and then handled.  The frontend's descriptors
 * travel with the message; a handler keeps the ones it takes by setting
 * them to -1 in the message, and the dispatcher closes the rest.
 *
 * A refused message is answered with an error when REPLY_ACK is negotiated
 * and the frontend asked for a reply; otherwise a *structural* breach (the
 * parser's verdict: unknown request, wrong size, wrong descriptors) drops
 * the connection, because the frontend may be waiting for a reply we cannot
 * give, and a *semantic* one (a vring index beyond the device's queues,
 * rings before memory, a size the queue refuses) is logged once and
 * ignored.  A request that must reply (GET_*) and cannot drops the
 * connection, except GET_CONFIG, which answers with an empty payload as
 * libvhost-user does.
 *
 * A ring is handed to the device when it is complete (size, addresses,
 * memory, kick descriptor) and enabled; SET_VRING_NUM/ADDR/BASE and
 * GET_VRING_BASE stop it, and it restarts at the next kick or enable.
 * A ring the device finds broken stays stopped (and the frontend's error
 * descriptor is signalled) until the frontend reconfigures it.
 *
 * Kick, call and error descriptors must be FIFOs or eventfds (user-mode
 * Linux sends pipes).  They share their open file description with the
 * frontend, which may clear O_NONBLOCK whenever it likes, so every read and
 * write on them goes through fdio.c, which bounds each one whatever the
 * flags say.  Notifications are 8-byte writes: a full pipe or counter
 * loses nothing from a sane frontend (its reader has a wakeup pending), so
 * it is skipped and counted; a closed one must not kill us (SIGPIPE is
 * ignored).  Kick descriptors are edge-triggered and drained a bounded
 * number of reads per event, so one that stays readable (a semaphore
 * eventfd holding 2^64-2) cannot keep the loop turning; a read error is a
 * hang-up.  Config changes go to the frontend on the backend request
 * channel.
 *
 * Each epoll source remembers the round its descriptor was registered in:
 * an event of the batch being served that names a source re-registered in
 * the same round belongs to the descriptor it replaced, and is ignored.
 *
 * Containment.  Whatever a frontend can make block or die must stop its
 * own device only.  So each device is served by a loop of its own (epoll
 * set, wake eventfd, rounds) on a thread of its own; VHOST_USER_THREAD_ONE
 * keeps the single loop for every device, run by the caller, which is what
 * the server was before and is kept to measure against.  Within a loop:
 *
 *  - Guest memory faults (the frontend shrinks its file, or gives a
 *    hugetlbfs file with no huge page free) end the event or deferred work
 *    in progress at the first fault: all of it runs in a fault scope
 *    (vu_guarded(), guest_memory.h), and a fault resets the device and
 *    drops its frontend.
 *  - A frontend's descriptors (everything received, and the connection)
 *    are closed by the device's reaper thread (fd_reaper.h), never by the
 *    loop: a last close can sleep as long as the frontend likes.  The loop
 *    reads the connection, and accepts one, only while its reaper holds no
 *    more than its share and the process's budget has room for what that
 *    can bring (fd_reaper_may_take()).  A frontend whose descriptors take
 *    its reaper past its share is dropped; otherwise the loop stops
 *    listening to that source and retries when the reaper says there is
 *    room, or on a timer (VHOST_USER_THROTTLE_MS: another device's reaper
 *    holds the budget, or accept() found the descriptor table full).
 *  - Descriptors are inspected without calling into their file systems
 *    (fdio_check_notifier(); guest_memory.c for memory files).
 *
 * A refused SET_MEM_TABLE, by the parser or when mapping, withdraws the
 * table in force: every ring stops and stays stopped (a ring starts only
 * over mapped memory) until a valid table arrives, so no guest memory is
 * touched through regions the frontend meant to replace.
 *
 * Discard work (the balloon's fallocate calls) is bounded per device per
 * round by a budget in its guest memory, which kicks, restarts and
 * deferred work share; a ring the budget cut short stays pending and is
 * served again in the next round, without waiting for a kick.
 *
 * Lock coverage: none needed inside a loop; each device's state belongs to
 * the thread of its loop.  Shared between threads: the counters (atomics),
 * each loop's wake eventfd and stop flag (any thread writes them), the
 * server's device list (written only while adding, by the owner, before
 * the device's thread starts; read by get_counters and destroy), and each
 * reaper's queue (its own lock, fd_reaper.h).
 */
#ifndef _GNU_SOURCE
#define _GNU_SOURCE
#endif
#include "host/vhost_user.h"

#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <pthread.h>
#include <setjmp.h>
#include <signal.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/epoll.h>
#include <sys/resource.h>
#include <sys/eventfd.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/un.h>
#include <time.h>
#include <unistd.h>

#include "host/balloon.h"
#include "host/fd_reaper.h"
#include "host/fdio.h"
#include "host/guest_memory.h"
#include "host/unix_socket.h"
#include "host/vhost_user_msg.h"
#include "host/virtio_device.h"
#include "platform/platform.h"

#define VHOST_USER_MAX_QUEUES 8
/* Room to receive more descriptors than allowed, so as to tell. */
#define VHOST_USER_RX_FDS (2 * VHOST_USER_MAX_FDS)
/* The most descriptors one message can carry (the kernel's SCM_MAX_FD):
 * the control buffer has room for them all, and a receive offers as much
 * of it as the reapers' budget allows (fd_reaper_recv_max()): those that
 * do not fit are closed by the kernel in the receiving thread, and such a
 * close can sleep (fd_reaper.h).  Beyond VHOST_USER_RX_FDS they go to the
 * reaper. */
#define VHOST_USER_SCM_MAX_FD 253
_Static_assert(VHOST_USER_SCM_MAX_FD == FD_REAPER_RECV_MAX &&
		       VHOST_USER_RX_FDS <= FD_REAPER_RECV_MIN,
	       "a receive's room is the reaper's to give");
/* Between two checks of the reaper's room (before each recvmsg and each
 * accept) a device hands it at most every descriptor it holds (3 per
 * vring, the regions', the backend channel, the connection, a message
 * being received and one being handled) and one recvmsg's worth. */
_Static_assert(3 * VHOST_USER_MAX_QUEUES + VHOST_USER_MAX_REGIONS + 2 +
		       VHOST_USER_RX_FDS + VHOST_USER_MAX_FDS <=
	       FD_REAPER_HELD_MAX,
	       "what a device holds fits the reaper's reserve");
/* Messages handled per connection per round: fairness between devices. */
#define VHOST_USER_MSGS_PER_ROUND 64
#define VHOST_USER_EVENTS 32
/* Retry a config notification the frontend has no room for. */
#define VHOST_USER_RETRY_MS 10
/* Retry a throttled connection or listener (see the top): often enough to
 * resume promptly, seldom enough to cost nothing while it waits. */
#define VHOST_USER_THROTTLE_MS 50
/* How long destroy waits for a device's thread (a round is bounded by its
 * budgets: milliseconds) before it leaves it; see vu_loop_stop(). */
#define VHOST_USER_STOP_MS 2000
/* Reads of one kick descriptor per event: a real kick needs one, a pipe
 * with a backlog a few; more only feeds a frontend that wants us busy. */
#define VHOST_USER_KICK_READS 16
/* Discard calls a device may start per round, with one chain's worth
 * (1024 PFNs) of overshoot: a few milliseconds of fallocate, against the
 * 256K a full inflate ring could ask for in one kick. */
#define VHOST_USER_DISCARDS_PER_ROUND 2048

#define VHOST_USER_PROTOCOL_FEATURES                                           \
	((UINT64_C(1) << VHOST_USER_PROTOCOL_F_REPLY_ACK) |                    \
	 (UINT64_C(1) << VHOST_USER_PROTOCOL_F_BACKEND_REQ) |                  \
	 (UINT64_C(1) << VHOST_USER_PROTOCOL_F_CONFIG))
#define VHOST_USER_F_PROTOCOL (UINT64_C(1) << VHOST_USER_F_PROTOCOL_FEATURES)

/* What is logged once per device. */
enum vu_log {
	VU_LOG_REFUSED = 1u << 0,
	VU_LOG_DROPPED = 1u << 1,
	VU_LOG_CALL = 1u << 2,
	VU_LOG_KICK = 1u << 3,
	VU_LOG_BACKEND = 1u << 4,
	VU_LOG_RING = 1u << 5,
	VU_LOG_NOTIFY_FULL = 1u << 6,
	VU_LOG_FAULT = 1u << 7,
	VU_LOG_NOFILE = 1u << 8,
	VU_LOG_FDS_CUT = 1u << 9,
};

enum vu_source_kind { VU_SRC_WAKE, VU_SRC_LISTEN, VU_SRC_CONN, VU_SRC_KICK };

/* What an epoll event points at. */
struct vu_source {
	enum vu_source_kind kind;
	struct vhost_user_dev *dev;
	unsigned int q;
	uint64_t round; /* when its descriptor was registered (see the top) */
};

/* One epoll loop: a device's own, or (VHOST_USER_THREAD_ONE) everyone's. */
struct vu_loop {
	uint64_t round; /* epoll_wait calls so far; 0 before the first */
	int epfd;
	int wake_fd; /* eventfd: any thread may write it */
	struct vu_source wake_src;
	struct vhost_user_dev *devs; /* served here, linked by loop_next */
	/* Its own thread (per-device loops only); @stop: any thread. */
	bool threaded;
	atomic_bool stop;
	pthread_t thread;
};

struct vu_vring {
	struct vu_source kick_src;
	unsigned int num; /* 0: not set */
	uint64_t desc, avail, used; /* frontend user addresses */
	bool addr_set;
	uint16_t base; /* where the device resumes popping */
	int kick_fd, call_fd, err_fd; /* owned, -1 when absent */
	bool enabled; /* SET_VRING_ENABLE; matters with PROTOCOL_FEATURES */
	bool started; /* handed to the device */
	bool broken; /* the device refused it: needs reconfiguring */
	bool pending; /* the device has more to do without a kick */
};

struct vhost_user_dev {
	struct vhost_user_server *srv;
	struct vhost_user_dev *next; /* the server's list */
	struct vu_loop *loop; /* that serves it */
	struct vhost_user_dev *loop_next; /* the loop's list */
	struct fd_reaper *reaper; /* closes what the frontend gave us */
	bool throttled; /* listen/conn source off until the reaper has room */
	uint64_t retry_ns; /* a throttled device's next try */
	atomic_bool room; /* the reaper called back: try at once */
	struct virtio_device *vdev;
	struct balloon_dev *balloon; /* owned when added as a balloon */
	char path[sizeof(((struct sockaddr_un *)0)->sun_path)];
	struct unix_socket_id sock_id; /* the file listen_fd was bound at */
	int listen_fd;
	int conn_fd; /* -1: listening */
	int backend_fd; /* backend request channel, -1 when none */
	struct vu_source listen_src, conn_src;
	struct guest_memory mem;
	uint64_t features; /* acked by SET_FEATURES, bit 30 included */
	uint64_t protocol_features;
	bool owner;
	bool config_retry; /* a config notification is still to be sent */
	uint64_t deadline_ns; /* the device's next poll */
	struct vu_vring vrings[VHOST_USER_MAX_QUEUES];
	/* The message being received. */
	uint8_t rx[VHOST_USER_HDR_SIZE + VHOST_USER_PAYLOAD_MAX];
	size_t rx_len;
	int rx_fds[VHOST_USER_RX_FDS];
	unsigned int rx_nfds;
	bool rx_fds_lost; /* more descriptors than rx_fds holds */
	bool rx_fds_cut;  /* the kernel could not install them (MSG_CTRUNC) */
	/* The message being handled: its descriptors not yet taken are
	 * closed after it, or by vu_fault() should a fault cut it short. */
	struct vhost_user_msg msg;
	unsigned int logged; /* enum vu_log bits */
	_Atomic uint64_t connections, messages, refused, dropped;
	_Atomic uint64_t notify_skipped, throttled_count;
};

struct vhost_user_server {
	enum vhost_user_threads threads;
	struct vu_loop *one; /* VHOST_USER_THREAD_ONE: the loop */
	struct vhost_user_dev *devs; /* see "Lock coverage" at the top */
	uint64_t mem_max; /* each device's guest-RAM limit (owner's thread) */
};

static uint64_t now_ns(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (uint64_t)ts.tv_sec * 1000000000u + (uint64_t)ts.tv_nsec;
}

/* A descriptor the frontend gave us (or could have filled): to the reaper. */
static void vu_reap(struct vhost_user_dev *d, int *fd)
{
	fd_reaper_close(d->reaper, *fd);
	*fd = -1;
}

/* guest_memory's closer for the table's files. */
static void vu_reap_mem_fd(void *ctx, int fd)
{
	struct vhost_user_dev *d = ctx;

	fd_reaper_close(d->reaper, fd);
}

static void vu_loop_wake(struct vu_loop *l)
{
	uint64_t one = 1;

	if (write(l->wake_fd, &one, sizeof(one)) < 0)
		(void)one; /* EAGAIN: a wake is already pending */
}

static void vu_log_once(struct vhost_user_dev *d, enum vu_log what,
			const char *fmt, ...) __attribute__((format(printf, 3, 4)));

static void vu_log_once(struct vhost_user_dev *d, enum vu_log what,
			const char *fmt, ...)
{
	char line[256];
	va_list ap;

	if (d->logged & what)
		return;
	d->logged |= what;
	va_start(ap, fmt);
	vsnprintf(line, sizeof(line), fmt, ap);
	va_end(ap);
	platform_log("vhost-user %s: %s (logged once)", d->path, line);
}

/* Notify through an eventfd or a pipe, never blocking (fdio.h). */
static void vu_signal(struct vhost_user_dev *d, int fd)
{
	int err;

	if (fd < 0)
		return;
	err = fdio_notify(fd);
	if (!err)
		return;
	atomic_fetch_add(&d->notify_skipped, 1);
	/* EAGAIN: full, which already wakes a sane reader.  EPIPE: it
	 * stopped listening; SIGPIPE is ignored. */
	if (err == -EAGAIN)
		vu_log_once(d, VU_LOG_NOTIFY_FULL,
			    "notification skipped: descriptor full");
	else
		vu_log_once(d, VU_LOG_CALL, "notification failed: %s",
			    strerror(-err));
}

/* ---- the transport as the device sees it ---- */

static void vu_notify_used(struct virtio_device *vdev, unsigned int q)
{
	struct vhost_user_dev *d = vdev->transport_priv;

	if (q < VHOST_USER_MAX_QUEUES)
		vu_signal(d, d->vrings[q].call_fd);
}

static void vu_send_config_change(struct vhost_user_dev *d)
{
	struct vhost_user_hdr hdr = {
		.request = VHOST_USER_BACKEND_CONFIG_CHANGE_MSG,
		.flags = VHOST_USER_VERSION,
		.size = 0,
	};
	ssize_t n;

	d->config_retry = false;
	if (d->backend_fd < 0 ||
	    !(d->protocol_features &
	      (UINT64_C(1) << VHOST_USER_PROTOCOL_F_BACKEND_REQ)))
		return;
	n = send(d->backend_fd, &hdr, sizeof(hdr), MSG_NOSIGNAL | MSG_DONTWAIT);
	if (n == (ssize_t)sizeof(hdr))
		return;
	if (n < 0 && (errno == EAGAIN || errno == EINTR)) {
		d->config_retry = true;
		return;
	}
	/* A short send leaves the channel mid-message: give it up. */
	vu_log_once(d, VU_LOG_BACKEND, "backend channel failed: %s",
		    n < 0 ? strerror(errno) : "short send");
	vu_reap(d, &d->backend_fd);
}

static void vu_notify_config(struct virtio_device *vdev)
{
	vu_send_config_change(vdev->transport_priv);
}

static void vu_wake(struct virtio_device *vdev)
{
	struct vhost_user_dev *d = vdev->transport_priv;

	vu_loop_wake(d->loop);
}

static const struct virtio_transport_ops vu_transport_ops = {
	.notify_used = vu_notify_used,
	.notify_config = vu_notify_config,
	.wake = vu_wake,
};

/* ---- rings ---- */

static struct vu_vring *vu_vring_get(struct vhost_user_dev *d, uint32_t index)
{
	unsigned int n = d->vdev->ops->num_queues(d->vdev);

	if (index >= n || index >= VHOST_USER_MAX_QUEUES)
		return NULL;
	return &d->vrings[index];
}

static unsigned int vu_vring_index(struct vhost_user_dev *d,
				   const struct vu_vring *v)
{
	return (unsigned int)(v - d->vrings);
}

static void vu_vring_break(struct vhost_user_dev *d, struct vu_vring *v,
			   int err)
{
	v->broken = true;
	v->pending = false;
	vu_log_once(d, VU_LOG_RING, "vring %u stopped: %s",
		    vu_vring_index(d, v), strerror(-err));
	vu_signal(d, v->err_fd);
}

static void vu_vring_stop(struct vhost_user_dev *d, struct vu_vring *v)
{
	if (v->started)
		v->base = d->vdev->ops->queue_stop(d->vdev, vu_vring_index(d, v));
	v->started = false;
	v->pending = false;
}

static void vu_vring_process(struct vhost_user_dev *d, struct vu_vring *v)
{
	int err;

	if (!v->started || v->broken)
		return;
	err = d->vdev->ops->queue_notify(d->vdev, vu_vring_index(d, v));
	v->pending = err == -EAGAIN;
	if (err && err != -EAGAIN) {
		vu_vring_stop(d, v);
		vu_vring_break(d, v, err);
	}
}

/* Hand the ring to the device if it is complete and enabled. */
static void vu_vring_try_start(struct vhost_user_dev *d, struct vu_vring *v)
{
	struct virtqueue_config cfg = {
		.num = v->num,
		.translate = guest_memory_translate,
		.ctx = &d->mem,
		.avail_base = v->base,
	};
	int err;

	if (v->started || v->broken || !guest_memory_mapped(&d->mem) ||
	    !v->num || !v->addr_set || v->kick_fd < 0)
		return;
	if ((d->features & VHOST_USER_F_PROTOCOL) && !v->enabled)
		return;
	/* The table may have changed since SET_VRING_ADDR. */
	err = guest_memory_uaddr_to_gpa(&d->mem, v->desc, &cfg.desc);
	if (!err)
		err = guest_memory_uaddr_to_gpa(&d->mem, v->avail, &cfg.avail);
	if (!err)
		err = guest_memory_uaddr_to_gpa(&d->mem, v->used, &cfg.used);
	if (!err)
		err = d->vdev->ops->queue_start(d->vdev, vu_vring_index(d, v),
						&cfg);
	if (err) {
		vu_vring_break(d, v, err);
		return;
	}
	v->started = true;
	/* Buffers may have been made available before the ring started. */
	vu_vring_process(d, v);
}

static void vu_vring_close_kick(struct vhost_user_dev *d, struct vu_vring *v)
{
	/* Always unregister first: the frontend holds the same file open, so
	 * closing our descriptor alone would leave it in the epoll set. */
	if (v->kick_fd >= 0)
		epoll_ctl(d->loop->epfd, EPOLL_CTL_DEL, v->kick_fd, NULL);
	vu_reap(d, &v->kick_fd);
}

static void vu_vring_reset(struct vhost_user_dev *d, struct vu_vring *v)
{
	vu_vring_stop(d, v);
	vu_vring_close_kick(d, v);
	vu_reap(d, &v->call_fd);
	vu_reap(d, &v->err_fd);
	v->num = 0;
	v->desc = v->avail = v->used = 0;
	v->addr_set = false;
	v->base = 0;
	v->enabled = false;
	v->broken = false;
}

/* Back to the state of a fresh connection; the connection itself stays. */
static void vu_dev_reset(struct vhost_user_dev *d)
{
	unsigned int q;

	for (q = 0; q < VHOST_USER_MAX_QUEUES; q++)
		vu_vring_reset(d, &d->vrings[q]);
	d->vdev->ops->reset(d->vdev);
	guest_memory_unmap(&d->mem);
	vu_reap(d, &d->backend_fd);
	d->features = 0;
	d->protocol_features = 0;
	d->owner = false;
	d->config_retry = false;
	for (q = 0; q < d->rx_nfds; q++)
		vu_reap(d, &d->rx_fds[q]);
	d->rx_nfds = 0;
	d->rx_len = 0;
	d->rx_fds_lost = false;
	d->rx_fds_cut = false;
}

/* ---- replies ---- */

/*
 * Return: 0; -ECONNRESET when the frontend has closed its end (it left:
 * one that ends may close right after a request whose reply it no longer
 * waits for); -ECONNABORTED when the reply cannot be sent whole otherwise.
 */
static int vu_reply(struct vhost_user_dev *d, uint32_t request,
		    const void *payload, uint32_t size)
{
	uint8_t buf[VHOST_USER_HDR_SIZE + VHOST_USER_PAYLOAD_MAX];
	struct vhost_user_hdr hdr = {
		.request = request,
		.flags = VHOST_USER_VERSION | VHOST_USER_FLAG_REPLY,
		.size = size,
	};
	size_t len = VHOST_USER_HDR_SIZE + size;
	ssize_t n;

	memcpy(buf, &hdr, sizeof(hdr));
	memcpy(buf + VHOST_USER_HDR_SIZE, payload, size);
	n = send(d->conn_fd, buf, len, MSG_NOSIGNAL | MSG_DONTWAIT);
	if (n == (ssize_t)len)
		return 0;
	if (n < 0 && (errno == EPIPE || errno == ECONNRESET))
		return -ECONNRESET;
	/* A frontend that does not read its replies is dropped rather than
	 * waited for. */
	return -ECONNABORTED;
}

static int vu_reply_u64(struct vhost_user_dev *d, uint32_t request,
			uint64_t v)
{
	return vu_reply(d, request, &v, sizeof(v));
}

static bool vu_wants_ack(const struct vhost_user_dev *d, uint32_t flags)
{
	return (d->protocol_features &
		(UINT64_C(1) << VHOST_USER_PROTOCOL_F_REPLY_ACK)) &&
	       (flags & VHOST_USER_FLAG_NEED_REPLY);
}

/* ---- request handlers: 0, a refusal errno, -ECONNABORTED or -ECONNRESET ---- */

static int vu_set_features(struct vhost_user_dev *d, uint64_t features)
{
	struct virtio_device *vdev = d->vdev;
	uint64_t offered = vdev->ops->get_features(vdev) | VHOST_USER_F_PROTOCOL;
	int err;

	if (features & ~offered)
		return -EINVAL;
	err = vdev->ops->set_features(vdev, features & ~VHOST_USER_F_PROTOCOL);
	if (!err)
		d->features = features;
	return err;
}

/*
 * A SET_MEM_TABLE was refused: the frontend meant to replace the table, so
 * the old one must not be used either.  Every ring stops (and cannot start
 * again without memory) and the table is unmapped.
 */
static void vu_mem_withdraw(struct vhost_user_dev *d)
{
	unsigned int q;

	for (q = 0; q < VHOST_USER_MAX_QUEUES; q++)
		vu_vring_stop(d, &d->vrings[q]);
	guest_memory_unmap(&d->mem);
}

static int vu_set_mem_table(struct vhost_user_dev *d, struct vhost_user_msg *m)
{
	const struct vhost_user_memory *mt = &m->payload.memory;
	struct guest_memory_layout layout[VHOST_USER_MAX_REGIONS];
	bool restart[VHOST_USER_MAX_QUEUES];
	unsigned int i, q;
	int err;

	for (i = 0; i < mt->nregions; i++)
		layout[i] = (struct guest_memory_layout){
			.gpa = mt->regions[i].guest_phys_addr,
			.size = mt->regions[i].memory_size,
			.uaddr = mt->regions[i].userspace_addr,
			.fd_offset = mt->regions[i].mmap_offset,
		};
	/* The device must not touch the old mappings while they change. */
	for (q = 0; q < VHOST_USER_MAX_QUEUES; q++) {
		restart[q] = d->vrings[q].started;
		vu_vring_stop(d, &d->vrings[q]);
	}
	err = guest_memory_map(&d->mem, layout, m->fds, mt->nregions);
	if (err) {
		vu_mem_withdraw(d);
		return err;
	}
	for (i = 0; i < mt->nregions; i++)
		m->fds[i] = -1; /* the table owns them now */
	for (q = 0; q < VHOST_USER_MAX_QUEUES; q++)
		if (restart[q])
			vu_vring_try_start(d, &d->vrings[q]);
	return 0;
}

static int vu_set_vring_addr(struct vhost_user_dev *d,
			     const struct vhost_user_vring_addr *a)
{
	struct vu_vring *v = vu_vring_get(d, a->index);
	uint64_t gpa;

	if (!v)
		return -ERANGE;
	if (!guest_memory_mapped(&d->mem))
		return -EINVAL; /* rings before memory */
	if (guest_memory_uaddr_to_gpa(&d->mem, a->desc, &gpa) ||
	    guest_memory_uaddr_to_gpa(&d->mem, a->avail, &gpa) ||
	    guest_memory_uaddr_to_gpa(&d->mem, a->used, &gpa))
		return -EFAULT;
	vu_vring_stop(d, v);
	v->desc = a->desc;
	v->avail = a->avail;
	v->used = a->used;
	v->addr_set = true;
	v->broken = false;
	return 0;
}

static int vu_set_vring_fd(struct vhost_user_dev *d, struct vhost_user_msg *m)
{
	uint64_t arg = m->payload.u64;
	struct vu_vring *v = vu_vring_get(d, arg & VHOST_USER_VRING_IDX_MASK);
	int fd = (arg & VHOST_USER_VRING_NOFD) ? -1 : m->fds[0];
	/* Edge-triggered: see vu_kick_event(). */
	struct epoll_event ev = { .events = EPOLLIN | EPOLLET };
	int err;

	if (!v)
		return -ERANGE;
	if (fd >= 0) {
		err = fdio_check_notifier(fd);
		if (err)
			return err;
	}
	switch (m->hdr.request) {
	case VHOST_USER_SET_VRING_KICK:
		vu_vring_close_kick(d, v);
		if (fd < 0) {
			vu_log_once(d, VU_LOG_KICK,
				    "vring %u: polling without a kick descriptor is not supported",
				    vu_vring_index(d, v));
			return 0;
		}
		ev.data.ptr = &v->kick_src;
		if (epoll_ctl(d->loop->epfd, EPOLL_CTL_ADD, fd, &ev) < 0)
			return -errno;
		v->kick_src.round = d->loop->round;
		v->kick_fd = fd;
		break;
	case VHOST_USER_SET_VRING_CALL:
		vu_reap(d, &v->call_fd);
		v->call_fd = fd;
		break;
	default: /* SET_VRING_ERR */
		vu_reap(d, &v->err_fd);
		v->err_fd = fd;
		break;
	}
	if (fd >= 0)
		m->fds[0] = -1;
	if (m->hdr.request == VHOST_USER_SET_VRING_KICK)
		vu_vring_try_start(d, v);
	return 0;
}

static int vu_get_config(struct vhost_user_dev *d,
			 const struct vhost_user_config *req)
{
	struct vhost_user_config c = {
		.offset = req->offset,
		.size = req->size,
		.flags = req->flags,
	};
	int err = d->vdev->ops->config_read(d->vdev, c.offset, c.payload,
					    c.size);

	if (err) {
		vu_log_once(d, VU_LOG_REFUSED, "GET_CONFIG %u+%u: %s", c.offset,
			    c.size, strerror(-err));
		atomic_fetch_add(&d->refused, 1);
		/* libvhost-user's convention: an empty reply is an error. */
		return vu_reply(d, VHOST_USER_GET_CONFIG, &c, 0);
	}
	return vu_reply(d, VHOST_USER_GET_CONFIG, &c,
			(uint32_t)(VHOST_USER_CONFIG_HDR_SIZE + c.size));
}

static int vu_handle(struct vhost_user_dev *d, struct vhost_user_msg *m)
{
	struct virtio_device *vdev = d->vdev;
	union vhost_user_payload *p = &m->payload;
	struct vu_vring *v;
	uint32_t req = m->hdr.request;
	int err;

	switch (req) {
	case VHOST_USER_GET_FEATURES:
		return vu_reply_u64(d, req, vdev->ops->get_features(vdev) |
						    VHOST_USER_F_PROTOCOL);
	case VHOST_USER_SET_FEATURES:
		return vu_set_features(d, p->u64);
	case VHOST_USER_SET_OWNER:
		d->owner = true;
		return 0;
	case VHOST_USER_RESET_OWNER:
		vu_dev_reset(d);
		return 0;
	case VHOST_USER_GET_PROTOCOL_FEATURES:
		return vu_reply_u64(d, req, VHOST_USER_PROTOCOL_FEATURES);
	case VHOST_USER_SET_PROTOCOL_FEATURES:
		if (p->u64 & ~VHOST_USER_PROTOCOL_FEATURES)
			return -EINVAL;
		d->protocol_features = p->u64;
		return 0;
	case VHOST_USER_GET_QUEUE_NUM:
		return vu_reply_u64(d, req, vdev->ops->num_queues(vdev));
	case VHOST_USER_SET_MEM_TABLE:
		return vu_set_mem_table(d, m);
	case VHOST_USER_SET_VRING_NUM:
		v = vu_vring_get(d, p->state.index);
		if (!v)
			return -ERANGE;
		err = vdev->ops->queue_check(vdev, p->state.index,
					     p->state.num);
		if (err)
			return err;
		vu_vring_stop(d, v);
		v->num = p->state.num;
		v->broken = false;
		return 0;
	case VHOST_USER_SET_VRING_ADDR:
		return vu_set_vring_addr(d, &p->addr);
	case VHOST_USER_SET_VRING_BASE:
		v = vu_vring_get(d, p->state.index);
		if (!v)
			return -ERANGE;
		vu_vring_stop(d, v);
		v->base = (uint16_t)p->state.num;
		v->broken = false;
		return 0;
	case VHOST_USER_GET_VRING_BASE:
		v = vu_vring_get(d, p->state.index);
		if (!v)
			return -ECONNABORTED; /* no reply we could give */
		vu_vring_stop(d, v);
		vu_vring_close_kick(d, v);
		v->enabled = false;
		v->broken = false;
		p->state.num = v->base;
		return vu_reply(d, req, &p->state, sizeof(p->state));
	case VHOST_USER_SET_VRING_KICK:
	case VHOST_USER_SET_VRING_CALL:
	case VHOST_USER_SET_VRING_ERR:
		return vu_set_vring_fd(d, m);
	case VHOST_USER_SET_VRING_ENABLE:
		v = vu_vring_get(d, p->state.index);
		if (!v)
			return -ERANGE;
		v->enabled = p->state.num;
		if (v->enabled)
			vu_vring_try_start(d, v);
		else
			vu_vring_stop(d, v);
		return 0;
	case VHOST_USER_SET_BACKEND_REQ_FD:
		vu_reap(d, &d->backend_fd);
		d->backend_fd = m->fds[0];
		m->fds[0] = -1;
		return 0;
	case VHOST_USER_GET_CONFIG:
		return vu_get_config(d, &p->config);
	case VHOST_USER_SET_CONFIG:
		return vdev->ops->config_write(vdev, p->config.offset,
					       p->config.payload,
					       p->config.size);
	default:
		return -ENOSYS; /* the parser let through a request we lack */
	}
}

/* ---- the connection ---- */

static void vu_take_fds(struct vhost_user_dev *d, struct msghdr *mh)
{
	struct cmsghdr *c;

	if (mh->msg_flags & MSG_CTRUNC)
		d->rx_fds_cut = true;
	for (c = CMSG_FIRSTHDR(mh); c; c = CMSG_NXTHDR(mh, c)) {
		size_t i, n;
		int fd;

		if (c->cmsg_level != SOL_SOCKET || c->cmsg_type != SCM_RIGHTS)
			continue;
		n = (c->cmsg_len - CMSG_LEN(0)) / sizeof(int);
		for (i = 0; i < n; i++) {
			memcpy(&fd, CMSG_DATA(c) + i * sizeof(int), sizeof(fd));
			if (d->rx_nfds < VHOST_USER_RX_FDS) {
				d->rx_fds[d->rx_nfds++] = fd;
			} else {
				vu_reap(d, &fd);
				d->rx_fds_lost = true;
			}
		}
	}
}

/*
 * Read what has arrived of the current message, without blocking.
 * Return: 1 when a whole message is in d->rx; 0 when more must arrive;
 * -ENOBUFS when the process's reaper budget lacks room for what another
 * recvmsg may bring, -EMFILE when the device's reaper holds more than its
 * share (fd_reaper.h); -ECONNRESET at the end of the stream; -EMSGSIZE for a
 * payload larger than any request takes; or recvmsg's errno.
 */
static int vu_recv(struct vhost_user_dev *d)
{
	for (;;) {
		union {
			struct cmsghdr align;
			char buf[CMSG_SPACE(sizeof(int) * VHOST_USER_SCM_MAX_FD)];
		} ctl;
		size_t want = VHOST_USER_HDR_SIZE;
		unsigned int room = 0;
		struct iovec iov;
		struct msghdr mh = { 0 };
		ssize_t n;

		if (d->rx_len >= VHOST_USER_HDR_SIZE) {
			struct vhost_user_hdr hdr;

			memcpy(&hdr, d->rx, sizeof(hdr));
			if (hdr.size > VHOST_USER_PAYLOAD_MAX)
				return -EMSGSIZE;
			want += hdr.size;
		}
		if (d->rx_len == want)
			return 1;
		n = fd_reaper_may_take(d->reaper, &room);
		if (n)
			return (int)n;
		iov = (struct iovec){ d->rx + d->rx_len, want - d->rx_len };
		mh.msg_iov = &iov;
		mh.msg_iovlen = 1;
		mh.msg_control = ctl.buf;
		mh.msg_controllen = CMSG_SPACE(sizeof(int) * room);
		n = recvmsg(d->conn_fd, &mh, MSG_DONTWAIT | MSG_CMSG_CLOEXEC);
		if (n < 0) {
			if (errno == EINTR)
				continue;
			if (errno == EAGAIN || errno == EWOULDBLOCK)
				return 0;
			return -errno;
		}
		vu_take_fds(d, &mh);
		if (n == 0)
			return -ECONNRESET;
		d->rx_len += (size_t)n;
	}
}

/* Handle the message in d->rx.  Return: 0, or an errno to drop with. */
static int vu_dispatch(struct vhost_user_dev *d)
{
	struct vhost_user_msg *msg = &d->msg;
	struct vhost_user_hdr raw;
	unsigned int i;
	int err;

	memcpy(&raw, d->rx, sizeof(raw));
	/* Descriptors the kernel could not install (our table full, or
	 * more than a receive holds) are lost: named as descriptors. */
	err = d->rx_fds_cut  ? -EMFILE :
	      d->rx_fds_lost ? -E2BIG :
			       vhost_user_msg_parse(msg, d->rx, d->rx_len,
						    d->rx_fds, d->rx_nfds);
	if (d->rx_fds_cut)
		vu_log_once(d, VU_LOG_FDS_CUT,
			    "refused %s (%u): its descriptors did not arrive (MSG_CTRUNC: the descriptor table is full or the receive too small)",
			    vhost_user_request_name(raw.request), raw.request);
	if (err)
		for (i = 0; i < d->rx_nfds; i++)
			vu_reap(d, &d->rx_fds[i]);
	d->rx_len = 0;
	d->rx_nfds = 0;
	d->rx_fds_lost = false;
	d->rx_fds_cut = false;
	atomic_fetch_add(&d->messages, 1);

	if (err) {
		msg->nfds = 0;
		atomic_fetch_add(&d->refused, 1);
		vu_log_once(d, VU_LOG_REFUSED, "refused %s (%u): %s",
			    vhost_user_request_name(raw.request), raw.request,
			    strerror(-err));
		if (raw.request == VHOST_USER_SET_MEM_TABLE)
			vu_mem_withdraw(d);
		if (!vhost_user_request_replies(raw.request) &&
		    vu_wants_ack(d, raw.flags))
			return vu_reply_u64(d, raw.request, (uint64_t)-err);
		return err;
	}

	err = vu_handle(d, msg);
	for (i = 0; i < msg->nfds; i++)
		vu_reap(d, &msg->fds[i]);
	msg->nfds = 0;
	if (err == -ECONNABORTED || err == -ECONNRESET)
		return err;
	if (err) {
		atomic_fetch_add(&d->refused, 1);
		vu_log_once(d, VU_LOG_REFUSED, "refused %s: %s",
			    vhost_user_request_name(raw.request),
			    strerror(-err));
	}
	if (!vhost_user_request_replies(raw.request) &&
	    vu_wants_ack(d, raw.flags))
		return vu_reply_u64(d, raw.request, err ? (uint64_t)-err : 0);
	return 0;
}

static void vu_listen_arm(struct vhost_user_dev *d)
{
	struct epoll_event ev = { .events = EPOLLIN,
				  .data.ptr = &d->listen_src };

	d->listen_src.round = d->loop->round;
	epoll_ctl(d->loop->epfd, EPOLL_CTL_ADD, d->listen_fd, &ev);
}

/* @why: -ECONNRESET when the frontend left; otherwise it is dropped, and
 * logged here unless the caller logged the reason already (-EFAULT). */
static void vu_disconnect(struct vhost_user_dev *d, int why)
{
	if (why != -ECONNRESET) {
		atomic_fetch_add(&d->dropped, 1);
		if (why != -EFAULT)
			vu_log_once(d, VU_LOG_DROPPED, "frontend dropped: %s",
				    strerror(-why));
	}
	vu_dev_reset(d);
	if (!d->throttled)
		epoll_ctl(d->loop->epfd, EPOLL_CTL_DEL, d->conn_fd, NULL);
	/* The frontend learns now, not when the reaper gets to the close;
	 * shutdown() of our own unix socket never sleeps. */
	shutdown(d->conn_fd, SHUT_RDWR);
	/* Its queue may hold descriptors whose last close this is. */
	vu_reap(d, &d->conn_fd);
	atomic_store(&d->vdev->connected, false);
	if (d->throttled)
		return; /* vu_unthrottle() arms the listener */
	vu_listen_arm(d);
}

/* The soft descriptor limit, for what is logged (0: none). */
static unsigned long vu_nofile(void)
{
	struct rlimit rl;

	if (getrlimit(RLIMIT_NOFILE, &rl) || rl.rlim_cur == RLIM_INFINITY)
		return 0;
	return (unsigned long)rl.rlim_cur;
}

/*
 * Stop reading the connection (or accepting one) until it may take in
 * descriptors again (fd_reaper_may_take() said @why; -ENFILE when accept
 * found no descriptor); vu_service_dev() retries after
 * VHOST_USER_THROTTLE_MS, or once the reaper is back within its share.
 * The source is taken out of the epoll set: it is level-triggered and
 * would otherwise report itself every round.  Want of descriptors is said
 * once per device, not per try.
 */
static void vu_throttle(struct vhost_user_dev *d, int why)
{
	const char *what = d->conn_fd >= 0 ? "not reading its frontend"
					   : "not accepting a frontend";
	unsigned long budget = fd_reaper_budget();

	if (!d->throttled)
		epoll_ctl(d->loop->epfd, EPOLL_CTL_DEL,
			  d->conn_fd >= 0 ? d->conn_fd : d->listen_fd, NULL);
	d->throttled = true;
	atomic_fetch_add(&d->throttled_count, 1);
	d->retry_ns = now_ns() + VHOST_USER_THROTTLE_MS * UINT64_C(1000000);
	if (why == -ENOBUFS)
		vu_log_once(d, VU_LOG_NOFILE,
			    "%s for want of descriptors: it takes in up to %lu at a time and %lu wait to be closed, beyond the budget of %lu (3/4 of RLIMIT_NOFILE %lu); retrying",
			    what, fd_reaper_reserve(budget), fd_reaper_total(),
			    budget, vu_nofile());
	/* Only the share has a callback; a full table has only the timer
	 * (the reaper would call back at once, and we would spin). */
	if (why == -EMFILE && fd_reaper_held(d->reaper) > FD_REAPER_SHARE)
		fd_reaper_want_room(d->reaper);
}

static void vu_unthrottle(struct vhost_user_dev *d)
{
	struct epoll_event ev = { .events = EPOLLIN, .data.ptr = &d->conn_src };
	int err = fd_reaper_may_take(d->reaper, NULL);

	if (err) {
		vu_throttle(d, err);
		return;
	}
	d->throttled = false;
	if (d->conn_fd < 0) {
		vu_listen_arm(d);
		return;
	}
	d->conn_src.round = d->loop->round;
	if (epoll_ctl(d->loop->epfd, EPOLL_CTL_ADD, d->conn_fd, &ev) < 0)
		vu_disconnect(d, -errno);
}

/* The reaper has room again (its thread). */
static void vu_reaper_room(void *ctx)
{
	struct vhost_user_dev *d = ctx;

	atomic_store(&d->room, true);
	vu_loop_wake(d->loop);
}

static void vu_conn_event(struct vhost_user_dev *d)
{
	unsigned int i;
	int err = 0;

	for (i = 0; i < VHOST_USER_MSGS_PER_ROUND; i++) {
		err = vu_recv(d);
		if (err == -ENOBUFS) {
			vu_throttle(d, err);
			return;
		}
		if (err == -EMFILE) {
			vu_log_once(d, VU_LOG_DROPPED,
				    "frontend dropped: %u of its descriptors wait for closes that do not return",
				    fd_reaper_held(d->reaper));
			vu_disconnect(d, -EFAULT); /* logged */
			return;
		}
		if (err <= 0)
			break;
		err = vu_dispatch(d);
		if (err)
			break;
	}
	if (err < 0)
		vu_disconnect(d, err);
}

static void vu_listen_event(struct vhost_user_dev *d)
{
	struct epoll_event ev = { .events = EPOLLIN, .data.ptr = &d->conn_src };
	int fd, err;

	if (d->conn_fd >= 0 || d->throttled)
		return;
	err = fd_reaper_may_take(d->reaper, NULL);
	if (err) {
		vu_throttle(d, err);
		return;
	}
	fd = accept4(d->listen_fd, NULL, NULL, SOCK_NONBLOCK | SOCK_CLOEXEC);
	if (fd < 0) {
		/* No descriptor or memory for it: the listener stays
		 * readable, so off it goes, for a while. */
		int e = errno;

		if (e == EMFILE || e == ENFILE || e == ENOBUFS || e == ENOMEM) {
			vu_log_once(d, VU_LOG_NOFILE,
				    "not accepting a frontend for want of descriptors: accept: %s (RLIMIT_NOFILE %lu); retrying",
				    strerror(e), vu_nofile());
			vu_throttle(d, -ENFILE);
		}
		return;
	}
	if (epoll_ctl(d->loop->epfd, EPOLL_CTL_ADD, fd, &ev) < 0) {
		vu_reap(d, &fd);
		return;
	}
	/* One frontend at a time: the next one waits in the backlog. */
	epoll_ctl(d->loop->epfd, EPOLL_CTL_DEL, d->listen_fd, NULL);
	d->conn_src.round = d->loop->round;
	d->conn_fd = fd;
	atomic_fetch_add(&d->connections, 1);
	atomic_store(&d->vdev->connected, true);
}

/*
 * A kick.  The descriptor is edge-triggered, so reading it is only to keep
 * a pipe from filling up: a bounded drain, and whatever is left needs no
 * event of its own (the ring is served now, and the frontend's next write
 * makes a new edge).
 */
static void vu_kick_event(struct vhost_user_dev *d, struct vu_vring *v,
			  uint32_t events)
{
	bool hup = events & (EPOLLHUP | EPOLLERR);
	int err = 0;

	if (v->kick_fd < 0)
		return; /* closed earlier in this round */
	if (events & EPOLLIN) {
		err = fdio_drain(v->kick_fd, VHOST_USER_KICK_READS);
		if (err)
			hup = true;
	}
	if (hup) {
		vu_log_once(d, VU_LOG_KICK, "vring %u: kick descriptor %s",
			    vu_vring_index(d, v),
			    err && err != -EPIPE ? strerror(-err) : "hung up");
		vu_vring_close_kick(d, v);
	}
	if (v->started)
		vu_vring_process(d, v);
	else
		vu_vring_try_start(d, v);
}

/* A touch of guest memory faulted in the middle of the device's work
 * (vu_guarded()): drop the frontend.  Nothing here touches guest memory. */
static void vu_fault(struct vhost_user_dev *d)
{
	unsigned int i;

	for (i = 0; i < d->msg.nfds; i++)
		vu_reap(d, &d->msg.fds[i]);
	d->msg.nfds = 0;
	if (d->conn_fd < 0) {
		vu_dev_reset(d); /* cannot be: no memory without a frontend */
		return;
	}
	vu_log_once(d, VU_LOG_FAULT,
		    "frontend dropped: its guest memory faulted (file shrunk under a region, or no page to back it)");
	vu_disconnect(d, -EFAULT);
}

/* What a loop does for a device: an event, or its deferred work. */
struct vu_work {
	struct vu_source *src; /* NULL: deferred work */
	uint32_t events;
	uint64_t now_ns;
};

/* Deferred work of one device after the events of a round. */
static void vu_service_dev(struct vhost_user_dev *d, uint64_t now)
{
	unsigned int q;

	for (q = 0; q < VHOST_USER_MAX_QUEUES; q++)
		if (d->vrings[q].pending)
			vu_vring_process(d, &d->vrings[q]);
	if (d->config_retry)
		vu_send_config_change(d);
	d->deadline_ns = d->vdev->ops->poll(d->vdev, now);
	if (d->throttled &&
	    (atomic_exchange(&d->room, false) || now >= d->retry_ns))
		vu_unthrottle(d);
}

static void vu_work_do(struct vhost_user_dev *d, const struct vu_work *w)
{
	if (!w->src) {
		vu_service_dev(d, w->now_ns);
		return;
	}
	switch (w->src->kind) {
	case VU_SRC_LISTEN:
		vu_listen_event(d);
		break;
	case VU_SRC_CONN:
		if (d->conn_fd >= 0 && !d->throttled)
			vu_conn_event(d);
		break;
	case VU_SRC_KICK:
		vu_kick_event(d, &d->vrings[w->src->q], w->events);
		break;
	case VU_SRC_WAKE:
		break;
	}
}

/*
 * Do @w for @d in a fault scope: a guest memory fault anywhere in it ends
 * it there (siglongjmp back here) and drops the frontend.  Everything the
 * work may leave half done is either device state that the reset that
 * follows puts back, or a descriptor in d->msg, which vu_fault() reaps.
 */
static void vu_guarded(struct vhost_user_dev *d, const struct vu_work *w)
{
	struct guest_memory_fault_scope scope;

	if (sigsetjmp(scope.env, 0)) {
		vu_fault(d);
		return;
	}
	guest_memory_fault_arm(&scope, &d->mem);
	vu_work_do(d, w);
	guest_memory_fault_disarm();
}

static int vu_timeout(struct vu_loop *l, int timeout_ms)
{
	uint64_t now = now_ns(), first = UINT64_MAX, ms;
	struct vhost_user_dev *d;
	unsigned int q;

	for (d = l->devs; d; d = d->loop_next) {
		for (q = 0; q < VHOST_USER_MAX_QUEUES; q++)
			if (d->vrings[q].pending)
				return 0;
		if (d->config_retry && first > now + VHOST_USER_RETRY_MS * 1000000u)
			first = now + VHOST_USER_RETRY_MS * 1000000u;
		if (d->deadline_ns < first)
			first = d->deadline_ns;
		if (d->throttled && d->retry_ns < first)
			first = d->retry_ns;
	}
	if (first == UINT64_MAX)
		return timeout_ms;
	ms = first > now ? (first - now + 999999) / 1000000 : 0;
	if (timeout_ms < 0 || ms < (uint64_t)timeout_ms)
		return ms > INT_MAX ? INT_MAX : (int)ms;
	return timeout_ms;
}

/*
 * One round of loop @l: wait up to @timeout_ms (-1: until something
 * happens, bounded by the devices' timers) and serve what came.
 * Return: 0; or epoll_wait's errno other than EINTR.
 */
static int vu_loop_run(struct vu_loop *l, int timeout_ms)
{
	struct epoll_event evs[VHOST_USER_EVENTS];
	struct vhost_user_dev *d;
	struct vu_work w = { 0 };
	uint64_t drain;
	int i, n;

	n = epoll_wait(l->epfd, evs, VHOST_USER_EVENTS,
		       vu_timeout(l, timeout_ms));
	/* Everything registered from here on is newer than this batch. */
	l->round++;
	if (n < 0)
		return errno == EINTR ? 0 : -errno;
	for (d = l->devs; d; d = d->loop_next)
		guest_memory_set_discard_budget(&d->mem,
						VHOST_USER_DISCARDS_PER_ROUND);
	for (i = 0; i < n; i++) {
		struct vu_source *src = evs[i].data.ptr;

		if (src->round == l->round)
			continue; /* its descriptor's predecessor's event */
		if (src->kind == VU_SRC_WAKE) {
			if (read(l->wake_fd, &drain, sizeof(drain)) < 0)
				(void)drain; /* EAGAIN: another round drained it */
			continue;
		}
		w = (struct vu_work){ .src = src, .events = evs[i].events };
		vu_guarded(src->dev, &w);
	}
	w = (struct vu_work){ .src = NULL, .now_ns = now_ns() };
	for (d = l->devs; d; d = d->loop_next)
		vu_guarded(d, &w);
	return 0;
}

/* A per-device loop's thread. */
static void *vu_loop_main(void *arg)
{
	struct vu_loop *l = arg;

	while (!atomic_load(&l->stop)) {
		int err = vu_loop_run(l, -1);

		if (err) {
			platform_log("vhost-user %s: serving stopped: %s",
				     l->devs->path, strerror(-err));
			break;
		}
	}
	return NULL;
}

/*
 * vhost_user_server_run - one round of a VHOST_USER_THREAD_ONE server's
 * loop, on the caller's thread: wait up to @timeout_ms (-1: until
 * something happens, bounded by the devices' timers) and serve what came.
 * Return: 0; -EINVAL for a server whose devices have threads of their own;
 * or epoll_wait's errno other than EINTR.
 */
int vhost_user_server_run(struct vhost_user_server *srv, int timeout_ms)
{
	if (!srv->one)
		return -EINVAL;
	return vu_loop_run(srv->one, timeout_ms);
}

/* Any thread: end the current (or next) wait of every loop early. */
void vhost_user_server_wake(struct vhost_user_server *srv)
{
	struct vhost_user_dev *d;

	if (srv->one) {
		vu_loop_wake(srv->one);
		return;
	}
	for (d = srv->devs; d; d = d->next)
		vu_loop_wake(d->loop);
}

/* ---- setup ---- */

/*
 * Stop a loop's thread, waiting for it at most VHOST_USER_STOP_MS.
 * Return: true when it ended (or never ran); false when it is still in
 * there (a device's work waits in the kernel on something its frontend
 * holds: test_containment's inode lock), and then the loop, its devices and
 * everything they use are the thread's for good: the caller must free none
 * of it.  What that leaks (the loop, the device, its guest memory mappings
 * and descriptors, and the virtio device it serves) is bounded by the
 * number of such devices and is released by the process's exit, which
 * kills the thread with the others; a thread blocked in the kernel runs no
 * more user code once the exit has begun, so nothing freed is touched.
 */
static bool vu_loop_stop(struct vu_loop *l)
{
	struct timespec until;

	if (!l || !l->threaded)
		return true;
	atomic_store(&l->stop, true);
	vu_loop_wake(l);
	clock_gettime(CLOCK_REALTIME, &until);
	until.tv_sec += VHOST_USER_STOP_MS / 1000;
	until.tv_nsec += (VHOST_USER_STOP_MS % 1000) * 1000000L;
	if (until.tv_nsec >= 1000000000L) {
		until.tv_sec++;
		until.tv_nsec -= 1000000000L;
	}
	if (pthread_timedjoin_np(l->thread, NULL, &until)) {
		platform_log("vhost-user %s: the serving thread did not stop in %d ms; left running (its device is not freed)",
			     l->devs->path, VHOST_USER_STOP_MS);
		pthread_detach(l->thread);
		return false;
	}
	l->threaded = false;
	return true;
}

static void vu_loop_destroy(struct vu_loop *l)
{
	if (!l || !vu_loop_stop(l))
		return;
	close(l->wake_fd);
	close(l->epfd);
	free(l);
}

/* Return: a loop with no devices, or NULL with errno set. */
static struct vu_loop *vu_loop_create(void)
{
	struct epoll_event ev = { .events = EPOLLIN };
	struct vu_loop *l = calloc(1, sizeof(*l));
	int err;

	if (!l)
		return NULL;
	atomic_init(&l->stop, false);
	l->epfd = epoll_create1(EPOLL_CLOEXEC);
	if (l->epfd < 0)
		goto undo_alloc;
	l->wake_fd = eventfd(0, EFD_NONBLOCK | EFD_CLOEXEC);
	if (l->wake_fd < 0)
		goto undo_epoll;
	l->wake_src.kind = VU_SRC_WAKE;
	ev.data.ptr = &l->wake_src;
	if (epoll_ctl(l->epfd, EPOLL_CTL_ADD, l->wake_fd, &ev) < 0)
		goto undo_eventfd;
	return l;

undo_eventfd:
	err = errno;
	close(l->wake_fd);
	errno = err;
undo_epoll:
	err = errno;
	close(l->epfd);
	errno = err;
undo_alloc:
	err = errno;
	free(l);
	errno = err;
	return NULL;
}

/*
 * vhost_user_nofile_min - the least descriptor limit (soft RLIMIT_NOFILE)
 * a server can serve at: below it the reapers' budget does not hold what
 * one device may take in between two checks (fd_reaper.h).
 */
unsigned long vhost_user_nofile_min(void)
{
	return fd_reaper_nofile_min();
}

/*
 * vhost_user_nofile_need - the least descriptor limit for a host running
 * @guests guests: the device's least (vhost_user_nofile_min()) and what
 * each guest holds (VHOST_USER_NOFILE_PER_GUEST).
 */
unsigned long vhost_user_nofile_need(unsigned int guests)
{
	return vhost_user_nofile_min() +
	       (unsigned long)guests * VHOST_USER_NOFILE_PER_GUEST;
}

/*
 * vhost_user_nofile_check - raise the soft descriptor limit to the hard one
 * (best effort, as a daemon does) and check it against
 * vhost_user_nofile_min(); on failure, say why in @why (unless NULL) as
 * one line: the limit, and the one needed.
 * Return: 0; -EMFILE when the limit is below the least.
 */
int vhost_user_nofile_check(char *why, size_t len)
{
	return vhost_user_nofile_check_guests(0, why, len);
}

/*
 * vhost_user_nofile_check_guests - vhost_user_nofile_check() for a host
 * that runs @guests guests (0: a device alone): the limit, the soft one
 * raised to the hard one, against vhost_user_nofile_need(@guests); @why
 * names the limit, the guests and the need.
 * Return: 0; -EMFILE when the limit is below the need.
 */
int vhost_user_nofile_check_guests(unsigned int guests, char *why, size_t len)
{
	unsigned long need = vhost_user_nofile_need(guests);
	struct rlimit rl;

	fd_reaper_raise_nofile();
	if (getrlimit(RLIMIT_NOFILE, &rl) || rl.rlim_cur == RLIM_INFINITY ||
	    rl.rlim_cur >= need)
		return 0;
	if (!why)
		return -EMFILE;
	if (guests)
		snprintf(why, len,
			 "the descriptor limit (RLIMIT_NOFILE) is %lu%s: %u guest%s need%s at least %lu descriptors (%lu for the device, %u per guest) (ulimit -n %lu)",
			 (unsigned long)rl.rlim_cur,
			 rl.rlim_max == rl.rlim_cur ? ", hard limit too" : "",
			 guests, guests == 1 ? "" : "s", guests == 1 ? "s" : "",
			 need, vhost_user_nofile_min(),
			 VHOST_USER_NOFILE_PER_GUEST, need);
	else
		snprintf(why, len,
			 "the descriptor limit (RLIMIT_NOFILE) is %lu%s: serving a vhost-user device needs at least %lu (ulimit -n %lu)",
			 (unsigned long)rl.rlim_cur,
			 rl.rlim_max == rl.rlim_cur ? ", hard limit too" : "",
			 need, need);
	return -EMFILE;
}

/*
 * vhost_user_server_create - a server with no devices yet, whose devices
 * are served by a thread each (VHOST_USER_THREAD_PER_DEVICE), or all by
 * the caller's thread through vhost_user_server_run()
 * (VHOST_USER_THREAD_ONE).
 * Return: the server, or NULL with errno set (EINVAL for another @threads;
 * EMFILE when the descriptor limit is below vhost_user_nofile_min(), the
 * soft limit raised to the hard one; EBUSY when the process already
 * handles FDIO_GUARD_SIGNAL; ENOMEM;
 * epoll_create1's or eventfd's errno).
 */
struct vhost_user_server *vhost_user_server_create(enum vhost_user_threads threads)
{
	struct vhost_user_server *srv;
	struct sigaction sa;
	int err;

	if (threads != VHOST_USER_THREAD_PER_DEVICE &&
	    threads != VHOST_USER_THREAD_ONE) {
		errno = EINVAL;
		return NULL;
	}
	/* The reapers' budget is a share of it (fd_reaper.h). */
	err = vhost_user_nofile_check(NULL, 0);
	if (err) {
		errno = -err;
		return NULL;
	}
	err = fdio_guard_init();
	if (err) {
		errno = -err;
		return NULL;
	}
	srv = calloc(1, sizeof(*srv));
	if (!srv)
		return NULL;
	srv->threads = threads;
	srv->mem_max = GUEST_MEMORY_DEFAULT_MAX;
	if (threads == VHOST_USER_THREAD_ONE) {
		srv->one = vu_loop_create();
		if (!srv->one) {
			err = errno;
			free(srv);
			errno = err;
			return NULL;
		}
	}
	if (sigaction(SIGPIPE, NULL, &sa) == 0 && sa.sa_handler == SIG_DFL) {
		sa.sa_handler = SIG_IGN;
		sigaction(SIGPIPE, &sa, NULL);
	}
	return srv;
}

static int vu_dev_add(struct vhost_user_server *srv, const char *path,
		      struct virtio_device *vdev, struct vhost_user_dev **out)
{
	struct vhost_user_dev *d;
	struct vu_loop *l = srv->one;
	unsigned int q;
	int err;

	if (vdev->transport)
		return -EBUSY;
	d = calloc(1, sizeof(*d));
	if (!d)
		return -ENOMEM;
	d->srv = srv;
	d->vdev = vdev;
	d->conn_fd = -1;
	d->backend_fd = -1;
	snprintf(d->path, sizeof(d->path), "%s", path);
	atomic_init(&d->room, false);
	d->listen_src = (struct vu_source){ VU_SRC_LISTEN, d, 0, 0 };
	d->conn_src = (struct vu_source){ VU_SRC_CONN, d, 0, 0 };
	for (q = 0; q < VHOST_USER_MAX_QUEUES; q++) {
		struct vu_vring *v = &d->vrings[q];

		v->kick_src = (struct vu_source){ VU_SRC_KICK, d, q, 0 };
		v->kick_fd = v->call_fd = v->err_fd = -1;
	}
	guest_memory_init(&d->mem);
	guest_memory_set_closer(&d->mem, vu_reap_mem_fd, d);
	guest_memory_set_max_bytes(&d->mem, srv->mem_max);
	err = fd_reaper_start(&d->reaper, vu_reaper_room, d);
	if (err)
		goto undo_mem;
	if (!l) {
		l = vu_loop_create();
		if (!l) {
			err = -errno;
			goto undo_reaper;
		}
	}
	d->loop = l;

	/* A stale socket is replaced; a live one is another host's. */
	d->listen_fd = unix_socket_listen(path, 4, SOCK_NONBLOCK | SOCK_CLOEXEC,
					  &d->sock_id);
	if (d->listen_fd < 0) {
		err = d->listen_fd;
		goto undo_loop;
	}
	vdev->transport = &vu_transport_ops;
	vdev->transport_priv = d;
	vdev->mem = &d->mem;
	vu_listen_arm(d);
	d->loop_next = l->devs;
	l->devs = d;
	if (!srv->one) {
		/* From here on the device belongs to its thread. */
		l->threaded = true;
		if (pthread_create(&l->thread, NULL, vu_loop_main, l)) {
			l->threaded = false;
			err = -EAGAIN;
			goto undo_listen;
		}
	}
	d->next = srv->devs;
	srv->devs = d;
	*out = d;
	return 0;

undo_listen:
	l->devs = d->loop_next;
	epoll_ctl(l->epfd, EPOLL_CTL_DEL, d->listen_fd, NULL);
	vdev->transport = NULL;
	vdev->transport_priv = NULL;
	vdev->mem = NULL;
	unix_socket_unlink(d->path, &d->sock_id); /* still listening */
	close(d->listen_fd);
undo_loop:
	if (!srv->one)
		vu_loop_destroy(l);
undo_reaper:
	fd_reaper_stop(d->reaper);
undo_mem:
	guest_memory_destroy(&d->mem);
	free(d);
	return err;
}

/*
 * vhost_user_server_add_device - serve @vdev on a new socket at
 * @socket_path (a stale socket there is replaced, a live one refused:
 * unix_socket_listen()); with VHOST_USER_THREAD_PER_DEVICE its thread
 * starts serving at once.  The caller keeps @vdev, which must outlive the
 * server.  The socket is removed with the device, if it is still ours.
 * Return: 0; -EBUSY when @vdev already has a transport; -EADDRINUSE when
 * another process listens on @socket_path; -EEXIST when it is not a
 * socket; -ENAMETOOLONG; -ENOMEM; -EAGAIN when no thread can be made; or
 * socket's, connect's, bind's, listen's, epoll_create1's or eventfd's
 * errno.
 */
int vhost_user_server_add_device(struct vhost_user_server *srv,
				 const char *socket_path,
				 struct virtio_device *vdev)
{
	struct vhost_user_dev *d;

	return vu_dev_add(srv, socket_path, vdev, &d);
}

/*
 * vhost_user_server_add_balloon - a balloon offering every feature it
 * supports, served at @socket_path, owned by the server.
 * Return: 0 with *@out set; or vhost_user_server_add_device()'s errors.
 */
int vhost_user_server_add_balloon(struct vhost_user_server *srv,
				  const char *socket_path,
				  struct balloon_dev **out)
{
	struct vhost_user_dev *d;
	struct balloon_dev *b;
	int err;

	err = balloon_create(BALLOON_FEATURES_DEFAULT, &b);
	if (err)
		return err;
	err = vu_dev_add(srv, socket_path, balloon_virtio_device(b), &d);
	if (err) {
		balloon_destroy(b);
		return err;
	}
	d->balloon = b;
	*out = b;
	return 0;
}

/*
 * vhost_user_server_set_guest_mem_max - from now on every device, and every
 * device added later, refuses a memory table larger than @bytes in all
 * (the tables in force stay).  The owner's thread.
 */
void vhost_user_server_set_guest_mem_max(struct vhost_user_server *srv,
					 uint64_t bytes)
{
	struct vhost_user_dev *d;

	srv->mem_max = bytes;
	for (d = srv->devs; d; d = d->next)
		guest_memory_set_max_bytes(&d->mem, bytes);
}

/*
 * vhost_user_server_get_counters - the counters of the device at
 * @socket_path.  Any thread, as long as no device is being added.
 * Return: 0; -ENOENT when no device listens there.
 */
int vhost_user_server_get_counters(struct vhost_user_server *srv,
				   const char *socket_path,
				   struct vhost_user_counters *out)
{
	struct vhost_user_dev *d;

	for (d = srv->devs; d; d = d->next) {
		if (strcmp(d->path, socket_path))
			continue;
		*out = (struct vhost_user_counters){
			.connections = atomic_load(&d->connections),
			.messages = atomic_load(&d->messages),
			.refused = atomic_load(&d->refused),
			.dropped = atomic_load(&d->dropped),
			.notify_skipped = atomic_load(&d->notify_skipped),
			.throttled = atomic_load(&d->throttled_count),
		};
		return 0;
	}
	return -ENOENT;
}

/*
 * vhost_user_server_destroy - stop every serving thread (not the caller's,
 * for THREAD_ONE: it must have stopped calling run), close every
 * connection, free every device added as a balloon.  Waits for no close
 * (the reapers finish theirs detached, fd_reaper_stop()), and for a
 * device's thread at most VHOST_USER_STOP_MS: a thread still busy then is
 * left with its device, which is not freed (vu_loop_stop()).
 * Return: 0; -EBUSY when a device was left so: the virtio devices the
 * caller gave (vhost_user_server_add_device()) may then still be in use,
 * and the caller must not free them either (they go with the process).
 */
int vhost_user_server_destroy(struct vhost_user_server *srv)
{
	struct vhost_user_dev *d, *next;
	int err = 0;

	if (!srv)
		return 0;
	if (!srv->one)
		for (d = srv->devs; d; d = d->next)
			if (!vu_loop_stop(d->loop))
				err = -EBUSY;
	if (err) {
		/* A thread left running may use any device's state through
		 * the devices it serves; keep them all, unlink the sockets. */
		for (d = srv->devs; d; d = d->next)
			unix_socket_unlink(d->path, &d->sock_id);
		return err;
	}
	for (d = srv->devs; d; d = next) {
		next = d->next;
		vu_dev_reset(d);
		vu_reap(d, &d->conn_fd);
		/* Removed while it still listens: nobody finds it stale. */
		unix_socket_unlink(d->path, &d->sock_id);
		close(d->listen_fd);
		guest_memory_destroy(&d->mem);
		/* Before the loop goes: a room callback wakes it. */
		fd_reaper_stop(d->reaper);
		if (!srv->one)
			vu_loop_destroy(d->loop);
		d->vdev->transport = NULL;
		d->vdev->transport_priv = NULL;
		d->vdev->mem = NULL;
		atomic_store(&d->vdev->connected, false);
		balloon_destroy(d->balloon);
		free(d);
	}
	vu_loop_destroy(srv->one);
	free(srv);
	return 0;
}
