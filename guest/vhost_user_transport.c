/*
 * vhost_user_transport.c - the vhost-user frontend as a virtio transport.
 *
 * The frontend is synchronous and single-threaded (its caller serialises
 * every call); a transport is called from the driver thread and the core's
 * reporting worker at once.  So every frontend call is made under @lock,
 * save the waits: a wait polls descriptors the frontend handed out (the
 * queues' call eventfds, the backend request channel), which stay valid
 * until reset, and takes @lock only to read a message on the channel.
 */
#ifndef _GNU_SOURCE
#define _GNU_SOURCE
#endif
#include "guest/vhost_user_transport.h"

#include <errno.h>
#include <poll.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdlib.h>
#include <sys/eventfd.h>
#include <time.h>
#include <unistd.h>

#include "guest/vhost_user_frontend.h"
#include "virtio/vhost_user.h"
#include "virtio/virtio_transport.h"

#define container_of(ptr, type, member)                                        \
	((type *)((char *)(ptr)-offsetof(type, member)))

_Static_assert(VHOST_USER_FRONTEND_MAX_QUEUES <= VIRTIO_EVENT_MAX_QUEUES,
	       "every queue has an event bit");

/*
 * @lock protects @fe (every frontend call), @status and @config_poll_ms.
 * @stop_fd is an eventfd, readable for ever once stop() wrote it.
 */
struct vhost_user_transport {
	struct virtio_transport vt;
	pthread_mutex_t lock;
	struct vhost_user_frontend *fe;
	int memfd;
	void *map;
	uint64_t gpa, size;
	uint8_t status;
	int64_t config_poll_ms; /* next periodic CONFIG, without a channel */
	int stop_fd;
};

static struct vhost_user_transport *vut(struct virtio_transport *t)
{
	return container_of(t, struct vhost_user_transport, vt);
}

static int64_t vut_now_ms(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

static void vut_reset(struct virtio_transport *t)
{
	struct vhost_user_transport *vt = vut(t);

	pthread_mutex_lock(&vt->lock);
	for (unsigned int q = 0; q < VHOST_USER_FRONTEND_MAX_QUEUES; q++) {
		uint16_t base;

		/* A queue not started is -EINVAL; a dead connection's
		 * backend has reset already. */
		vhost_user_frontend_queue_stop(vt->fe, q, &base);
	}
	vt->status = 0;
	pthread_mutex_unlock(&vt->lock);
}

static uint8_t vut_get_status(struct virtio_transport *t)
{
	struct vhost_user_transport *vt = vut(t);
	uint8_t s;

	pthread_mutex_lock(&vt->lock);
	s = vt->status;
	pthread_mutex_unlock(&vt->lock);
	return s;
}

static int vut_set_status(struct virtio_transport *t, uint8_t status)
{
	struct vhost_user_transport *vt = vut(t);

	pthread_mutex_lock(&vt->lock);
	/* FEATURES_OK holds only once SET_FEATURES and SET_MEM_TABLE were
	 * acked (finalize_features() set it). */
	vt->status = (uint8_t)((status & ~VIRTIO_CONFIG_S_FEATURES_OK) |
			       (vt->status & VIRTIO_CONFIG_S_FEATURES_OK));
	pthread_mutex_unlock(&vt->lock);
	return 0;
}

static uint64_t vut_get_features(struct virtio_transport *t)
{
	struct vhost_user_transport *vt = vut(t);
	uint64_t f;

	pthread_mutex_lock(&vt->lock);
	f = vhost_user_frontend_offered(vt->fe);
	pthread_mutex_unlock(&vt->lock);
	return f;
}

static int vut_finalize_features(struct virtio_transport *t,
				 uint64_t features)
{
	struct vhost_user_transport *vt = vut(t);
	uint64_t acked;
	int err;

	pthread_mutex_lock(&vt->lock);
	if (features & ~vhost_user_frontend_offered(vt->fe)) {
		err = -EINVAL;
		goto out;
	}
	err = vhost_user_frontend_set_features(vt->fe, features, &acked);
	if (err)
		goto out;
	err = vhost_user_frontend_set_mem(vt->fe, vt->memfd, vt->map, vt->gpa,
					  vt->size);
	if (!err)
		vt->status |= VIRTIO_CONFIG_S_FEATURES_OK;
out:
	pthread_mutex_unlock(&vt->lock);
	return err;
}

static uint32_t vut_generation(struct virtio_transport *t)
{
	(void)t;
	return 0;
}

static int vut_config_get(struct virtio_transport *t, uint32_t offset,
			  void *buf, uint32_t len)
{
	struct vhost_user_transport *vt = vut(t);
	int err;

	pthread_mutex_lock(&vt->lock);
	err = vhost_user_frontend_get_config(vt->fe, offset, buf, len);
	pthread_mutex_unlock(&vt->lock);
	return err;
}

static int vut_config_set(struct virtio_transport *t, uint32_t offset,
			  const void *buf, uint32_t len)
{
	struct vhost_user_transport *vt = vut(t);
	int err;

	pthread_mutex_lock(&vt->lock);
	err = vhost_user_frontend_set_config(vt->fe, offset, buf, len);
	pthread_mutex_unlock(&vt->lock);
	return err;
}

static unsigned int vut_queue_max(struct virtio_transport *t, unsigned int q)
{
	(void)t;
	return q < VHOST_USER_FRONTEND_MAX_QUEUES ? VIRTQUEUE_MAX_SIZE : 0;
}

static int vut_queue_setup(struct virtio_transport *t, unsigned int q,
			   const struct virtqueue_config *cfg)
{
	struct vhost_user_transport *vt = vut(t);
	int err;

	pthread_mutex_lock(&vt->lock);
	err = vhost_user_frontend_queue_start(vt->fe, q, cfg);
	pthread_mutex_unlock(&vt->lock);
	return err;
}

static int vut_notify(struct virtio_transport *t, unsigned int q)
{
	struct vhost_user_transport *vt = vut(t);
	int err;

	pthread_mutex_lock(&vt->lock);
	err = vhost_user_frontend_kick(vt->fe, q);
	pthread_mutex_unlock(&vt->lock);
	return err;
}

/* Read what the backend channel holds.  Return: 0 with *@config set when a
 * config change came; -EPIPE when the backend closed it (it is gone). */
static int vut_backend_read(struct vhost_user_transport *vt, bool *config)
{
	unsigned int changes = 0;
	int err;

	pthread_mutex_lock(&vt->lock);
	err = vhost_user_frontend_backend_poll(vt->fe, 0, &changes);
	pthread_mutex_unlock(&vt->lock);
	if (err)
		return err == -EPROTO || err == -ETIMEDOUT ? err : -EPIPE;
	*config = changes != 0;
	return 0;
}

static int vut_wait(struct virtio_transport *t, uint32_t mask, int timeout_ms,
		    uint32_t *events)
{
	struct vhost_user_transport *vt = vut(t);
	struct pollfd p[2 + VHOST_USER_FRONTEND_MAX_QUEUES];
	unsigned int qidx[VHOST_USER_FRONTEND_MAX_QUEUES];
	int64_t deadline = timeout_ms < 0 ? -1 : vut_now_ms() + timeout_ms;
	unsigned int n = 0, nq = 0;
	int backend_fd = -1;
	bool config_poll = false;

	p[n++] = (struct pollfd){ .fd = vt->stop_fd, .events = POLLIN };
	pthread_mutex_lock(&vt->lock);
	for (unsigned int q = 0; q < VHOST_USER_FRONTEND_MAX_QUEUES; q++) {
		int fd;

		if (!(mask & VIRTIO_EVENT_QUEUE(q)))
			continue;
		fd = vhost_user_frontend_call_fd(vt->fe, q);
		if (fd < 0)
			continue;
		qidx[nq++] = q;
		p[n++] = (struct pollfd){ .fd = fd, .events = POLLIN };
	}
	if (mask & VIRTIO_EVENT_CONFIG) {
		backend_fd = vhost_user_frontend_backend_fd(vt->fe);
		if (backend_fd >= 0) {
			p[n++] = (struct pollfd){ .fd = backend_fd,
						  .events = POLLIN };
		} else {
			config_poll = true;
			if (!vt->config_poll_ms)
				vt->config_poll_ms =
					vut_now_ms() + VIRTIO_CONFIG_POLL_MS;
		}
	}
	pthread_mutex_unlock(&vt->lock);

	for (;;) {
		int64_t now = vut_now_ms(), until = deadline;
		int r, left;
		uint32_t ev = 0;

		if (config_poll) {
			pthread_mutex_lock(&vt->lock);
			if (now >= vt->config_poll_ms) {
				vt->config_poll_ms = now + VIRTIO_CONFIG_POLL_MS;
				ev |= VIRTIO_EVENT_CONFIG;
			}
			if (until < 0 || vt->config_poll_ms < until)
				until = vt->config_poll_ms;
			pthread_mutex_unlock(&vt->lock);
		}
		left = until < 0 ? -1 : until <= now ? 0 : (int)(until - now);
		r = poll(p, n, ev ? 0 : left);
		if (r < 0 && errno != EINTR)
			return -errno;
		if (r > 0 && p[0].revents)
			return -ESHUTDOWN;
		for (unsigned int i = 0; r > 0 && i < nq; i++) {
			uint64_t v;

			if (p[1 + i].revents &&
			    read(p[1 + i].fd, &v, sizeof(v)) ==
				    (ssize_t)sizeof(v))
				ev |= VIRTIO_EVENT_QUEUE(qidx[i]);
		}
		if (r > 0 && backend_fd >= 0 && p[1 + nq].revents) {
			bool config = false;
			int err = vut_backend_read(vt, &config);

			if (err)
				return err;
			if (config)
				ev |= VIRTIO_EVENT_CONFIG;
		}
		if (ev) {
			*events = ev;
			return 0;
		}
		if (r == 0 && deadline >= 0 && vut_now_ms() >= deadline)
			return -ETIMEDOUT;
	}
}

static void vut_stop(struct virtio_transport *t)
{
	struct vhost_user_transport *vt = vut(t);
	uint64_t one = 1;

	/* The counter only grows; a full counter is readable already. */
	(void)!write(vt->stop_fd, &one, sizeof(one));
}

static const struct virtio_config_ops vut_ops = {
	.reset = vut_reset,
	.get_status = vut_get_status,
	.set_status = vut_set_status,
	.get_features = vut_get_features,
	.finalize_features = vut_finalize_features,
	.generation = vut_generation,
	.config_get = vut_config_get,
	.config_set = vut_config_set,
	.queue_max = vut_queue_max,
	.queue_setup = vut_queue_setup,
	.notify = vut_notify,
	.wait = vut_wait,
	.stop = vut_stop,
};

int vhost_user_transport_create(const char *socket_path, uint32_t device_id,
				int memfd, void *map, uint64_t gpa,
				uint64_t size,
				struct vhost_user_transport **out)
{
	struct vhost_user_transport *vt = calloc(1, sizeof(*vt));
	int err;

	if (!vt)
		return -ENOMEM;
	vt->vt = (struct virtio_transport){ .ops = &vut_ops,
					    .device_id = device_id };
	vt->memfd = memfd;
	vt->map = map;
	vt->gpa = gpa;
	vt->size = size;
	vt->stop_fd = eventfd(0, EFD_CLOEXEC | EFD_NONBLOCK);
	if (vt->stop_fd < 0) {
		err = -errno;
		goto undo_alloc;
	}
	err = pthread_mutex_init(&vt->lock, NULL);
	if (err) {
		err = -err;
		goto undo_eventfd;
	}
	err = vhost_user_frontend_connect(socket_path, &vt->fe);
	if (err)
		goto undo_lock;
	err = vhost_user_frontend_hello(vt->fe);
	if (err)
		goto undo_connect;
	/* The driver lives in config space (num_pages, actual). */
	if (!(vhost_user_frontend_protocol_features(vt->fe) &
	      (UINT64_C(1) << VHOST_USER_PROTOCOL_F_CONFIG))) {
		err = -ENODEV;
		goto undo_connect;
	}
	*out = vt;
	return 0;

undo_connect:
	vhost_user_frontend_close(vt->fe);
undo_lock:
	pthread_mutex_destroy(&vt->lock);
undo_eventfd:
	close(vt->stop_fd);
undo_alloc:
	free(vt);
	return err;
}

void vhost_user_transport_destroy(struct vhost_user_transport *vt)
{
	if (!vt)
		return;
	vhost_user_frontend_close(vt->fe);
	pthread_mutex_destroy(&vt->lock);
	close(vt->stop_fd);
	free(vt);
}

struct virtio_transport *vhost_user_transport_virtio(
	struct vhost_user_transport *vt)
{
	return &vt->vt;
}
