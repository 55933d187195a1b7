/*
 * loop_transport.h - a virtio transport (virtio/virtio_transport.h) whose
 * device is a host device model (host/virtio_device.h) in this very
 * process: the driver's ops call the device's ops directly, as a
 * virtio-mmio register access traps into a VMM's device model.  For the
 * driver's tests, the second transport beside vhost-user (the guest
 * kernel's virtio-mmio runs only inside QEMU).
 *
 * The device context is @dev_lock: every device op runs under it, from the
 * driver's threads (config, queue setup, notify) or from the loop's own
 * thread, which runs the device's poll() when the device asks (a target
 * set by the test), when its deadline comes (the stats timer, hint
 * commands), and after every op of the driver's, as a VMM's device thread
 * services its device after each round of events (the op may have moved
 * the deadline: a stats buffer the device now holds).
 * Notifications from the device set event bits that wait() takes.  The
 * device sees the guest's RAM through a guest_memory over the guest's memfd.
 *
 * Knobs for the tests: what the device offers can be masked, its ID
 * changed, its queue sizes capped, and the device "unplugged" (every op
 * fails with -EPIPE, as a vhost-user backend that went away).
 */
#ifndef GUESTMM_TESTS_LOOP_TRANSPORT_H
#define GUESTMM_TESTS_LOOP_TRANSPORT_H

#include <errno.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdlib.h>
#include <time.h>
#include <unistd.h>

#include "host/guest_memory.h"
#include "host/virtio_device.h"
#include "virtio/virtio_transport.h"

/*
 * @dev_lock: the device context, and @events, @queue_cfg, @status,
 * @features.  @wake_lock: @wake_pending (the device's wake() may come from
 * any thread, the device context included, so it has a lock of its own,
 * taken inside @dev_lock and never around it).
 */
struct loop_transport {
	struct virtio_transport vt;
	struct virtio_device *vdev;
	struct guest_memory mem;
	pthread_mutex_t dev_lock;
	pthread_cond_t ev_cond; /* with dev_lock: events or stop or dead */
	uint32_t events;
	uint8_t status;
	bool stopped;
	atomic_bool dead;
	/* Knobs, set before the driver probes. */
	uint64_t offer_mask;
	unsigned int queue_max_cap; /* 0: the device's own */
	uint32_t absent_queues; /* event bits of queues that read size 0 */
	/* The device's poll thread. */
	pthread_t thread;
	pthread_mutex_t wake_lock;
	pthread_cond_t wake_cond;
	bool wake_pending;
	bool quit;
	/* Counters for the tests. */
	atomic_uint notifies, resets;
};

#define LOOP_QUEUES 8

static struct loop_transport *loop_of(struct virtio_transport *t)
{
	return (struct loop_transport *)((char *)t -
					 offsetof(struct loop_transport, vt));
}

static uint64_t loop_now_ns(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (uint64_t)ts.tv_sec * 1000000000u + (uint64_t)ts.tv_nsec;
}

/* ---- the device's side: its transport callbacks ---- */

static void loop_dev_notify_used(struct virtio_device *vdev, unsigned int q)
{
	struct loop_transport *lt = vdev->transport_priv;

	/* Device context: dev_lock is held. */
	lt->events |= VIRTIO_EVENT_QUEUE(q);
	pthread_cond_broadcast(&lt->ev_cond);
}

static void loop_dev_notify_config(struct virtio_device *vdev)
{
	struct loop_transport *lt = vdev->transport_priv;

	lt->events |= VIRTIO_EVENT_CONFIG;
	pthread_cond_broadcast(&lt->ev_cond);
}

static void loop_dev_wake(struct virtio_device *vdev)
{
	struct loop_transport *lt = vdev->transport_priv;

	pthread_mutex_lock(&lt->wake_lock);
	lt->wake_pending = true;
	pthread_cond_signal(&lt->wake_cond);
	pthread_mutex_unlock(&lt->wake_lock);
}

/* After a driver op in the device context: poll() again soon. */
static void loop_serviced(struct loop_transport *lt)
{
	loop_dev_wake(lt->vdev);
}

static const struct virtio_transport_ops loop_dev_transport = {
	.notify_used = loop_dev_notify_used,
	.notify_config = loop_dev_notify_config,
	.wake = loop_dev_wake,
};

static void *loop_poll_thread(void *arg)
{
	struct loop_transport *lt = arg;
	uint64_t deadline = 0;

	pthread_mutex_lock(&lt->wake_lock);
	while (!lt->quit) {
		if (!lt->wake_pending && deadline != UINT64_MAX) {
			struct timespec ts;
			uint64_t now = loop_now_ns();

			if (deadline > now) {
				clock_gettime(CLOCK_REALTIME, &ts);
				uint64_t at = (uint64_t)ts.tv_sec * 1000000000u +
					       (uint64_t)ts.tv_nsec +
					       (deadline - now);

				ts.tv_sec = (time_t)(at / 1000000000u);
				ts.tv_nsec = (long)(at % 1000000000u);
				pthread_cond_timedwait(&lt->wake_cond,
						       &lt->wake_lock, &ts);
				continue;
			}
		} else if (!lt->wake_pending) {
			pthread_cond_wait(&lt->wake_cond, &lt->wake_lock);
			continue;
		}
		lt->wake_pending = false;
		pthread_mutex_unlock(&lt->wake_lock);
		pthread_mutex_lock(&lt->dev_lock);
		deadline = lt->vdev->ops->poll(lt->vdev, loop_now_ns());
		pthread_mutex_unlock(&lt->dev_lock);
		pthread_mutex_lock(&lt->wake_lock);
	}
	pthread_mutex_unlock(&lt->wake_lock);
	return NULL;
}

/* ---- the driver's side: virtio_config_ops ---- */

static void loop_reset(struct virtio_transport *t)
{
	struct loop_transport *lt = loop_of(t);

	pthread_mutex_lock(&lt->dev_lock);
	if (!atomic_load(&lt->dead))
		lt->vdev->ops->reset(lt->vdev);
	lt->status = 0;
	lt->events = 0;
	atomic_fetch_add(&lt->resets, 1);
	pthread_mutex_unlock(&lt->dev_lock);
}

static uint8_t loop_get_status(struct virtio_transport *t)
{
	struct loop_transport *lt = loop_of(t);
	uint8_t s;

	pthread_mutex_lock(&lt->dev_lock);
	s = lt->status;
	pthread_mutex_unlock(&lt->dev_lock);
	return s;
}

static int loop_set_status(struct virtio_transport *t, uint8_t status)
{
	struct loop_transport *lt = loop_of(t);

	if (atomic_load(&lt->dead))
		return -EPIPE;
	pthread_mutex_lock(&lt->dev_lock);
	lt->status = status;
	pthread_mutex_unlock(&lt->dev_lock);
	return 0;
}

static uint64_t loop_get_features(struct virtio_transport *t)
{
	struct loop_transport *lt = loop_of(t);
	uint64_t f;

	pthread_mutex_lock(&lt->dev_lock);
	f = lt->vdev->ops->get_features(lt->vdev) & lt->offer_mask;
	pthread_mutex_unlock(&lt->dev_lock);
	return f;
}

static int loop_finalize_features(struct virtio_transport *t, uint64_t f)
{
	struct loop_transport *lt = loop_of(t);
	int err;

	if (atomic_load(&lt->dead))
		return -EPIPE;
	pthread_mutex_lock(&lt->dev_lock);
	err = (f & ~lt->offer_mask) ? -EINVAL
				    : lt->vdev->ops->set_features(lt->vdev, f);
	pthread_mutex_unlock(&lt->dev_lock);
	loop_serviced(lt);
	return err;
}

static uint32_t loop_generation(struct virtio_transport *t)
{
	(void)t;
	return 0;
}

static int loop_config_get(struct virtio_transport *t, uint32_t offset,
			   void *buf, uint32_t len)
{
	struct loop_transport *lt = loop_of(t);
	int err;

	if (atomic_load(&lt->dead))
		return -EPIPE;
	pthread_mutex_lock(&lt->dev_lock);
	err = lt->vdev->ops->config_read(lt->vdev, offset, buf, len);
	pthread_mutex_unlock(&lt->dev_lock);
	return err;
}

static int loop_config_set(struct virtio_transport *t, uint32_t offset,
			   const void *buf, uint32_t len)
{
	struct loop_transport *lt = loop_of(t);
	int err;

	if (atomic_load(&lt->dead))
		return -EPIPE;
	pthread_mutex_lock(&lt->dev_lock);
	err = lt->vdev->ops->config_write(lt->vdev, offset, buf, len);
	pthread_mutex_unlock(&lt->dev_lock);
	loop_serviced(lt);
	return err;
}

/* The largest power of two the device takes for @q (0: no such queue). */
static unsigned int loop_queue_max(struct virtio_transport *t, unsigned int q)
{
	struct loop_transport *lt = loop_of(t);
	unsigned int max = 0;

	if (q >= LOOP_QUEUES || (lt->absent_queues & VIRTIO_EVENT_QUEUE(q)))
		return 0;
	pthread_mutex_lock(&lt->dev_lock);
	for (unsigned int n = VIRTQUEUE_MAX_SIZE; n && !max; n /= 2)
		if (lt->vdev->ops->queue_check(lt->vdev, q, n) == 0)
			max = n;
	pthread_mutex_unlock(&lt->dev_lock);
	if (lt->queue_max_cap && max > lt->queue_max_cap)
		max = lt->queue_max_cap;
	return max;
}

static int loop_queue_setup(struct virtio_transport *t, unsigned int q,
			    const struct virtqueue_config *cfg)
{
	struct loop_transport *lt = loop_of(t);
	struct virtqueue_config dc = {
		.num = cfg->num,
		.desc = cfg->desc,
		.avail = cfg->avail,
		.used = cfg->used,
		.translate = guest_memory_translate,
		.ctx = &lt->mem,
	};
	int err;

	if (atomic_load(&lt->dead))
		return -EPIPE;
	if (q >= LOOP_QUEUES)
		return -ERANGE;
	pthread_mutex_lock(&lt->dev_lock);
	err = lt->vdev->ops->queue_start(lt->vdev, q, &dc);
	pthread_mutex_unlock(&lt->dev_lock);
	loop_serviced(lt);
	return err;
}

static int loop_notify(struct virtio_transport *t, unsigned int q)
{
	struct loop_transport *lt = loop_of(t);
	int err;

	if (atomic_load(&lt->dead))
		return -EPIPE;
	atomic_fetch_add(&lt->notifies, 1);
	pthread_mutex_lock(&lt->dev_lock);
	do
		err = lt->vdev->ops->queue_notify(lt->vdev, q);
	while (err == -EAGAIN);
	pthread_mutex_unlock(&lt->dev_lock);
	loop_serviced(lt);
	return 0; /* a broken queue is the device's to report, not the kick's */
}

static int loop_wait(struct virtio_transport *t, uint32_t mask,
		     int timeout_ms, uint32_t *events)
{
	struct loop_transport *lt = loop_of(t);
	struct timespec ts;
	int err = 0;

	clock_gettime(CLOCK_REALTIME, &ts);
	if (timeout_ms >= 0) {
		ts.tv_sec += timeout_ms / 1000;
		ts.tv_nsec += (long)(timeout_ms % 1000) * 1000000;
		if (ts.tv_nsec >= 1000000000) {
			ts.tv_sec++;
			ts.tv_nsec -= 1000000000;
		}
	}
	pthread_mutex_lock(&lt->dev_lock);
	for (;;) {
		if (lt->stopped) {
			err = -ESHUTDOWN;
			break;
		}
		if (atomic_load(&lt->dead)) {
			err = -EPIPE;
			break;
		}
		if (lt->events & mask) {
			*events = lt->events & mask;
			lt->events &= ~mask;
			break;
		}
		if (timeout_ms < 0) {
			pthread_cond_wait(&lt->ev_cond, &lt->dev_lock);
		} else if (pthread_cond_timedwait(&lt->ev_cond, &lt->dev_lock,
						  &ts) == ETIMEDOUT) {
			err = -ETIMEDOUT;
			break;
		}
	}
	pthread_mutex_unlock(&lt->dev_lock);
	return err;
}

static void loop_stop(struct virtio_transport *t)
{
	struct loop_transport *lt = loop_of(t);

	pthread_mutex_lock(&lt->dev_lock);
	lt->stopped = true;
	pthread_cond_broadcast(&lt->ev_cond);
	pthread_mutex_unlock(&lt->dev_lock);
}

static const struct virtio_config_ops loop_ops = {
	.reset = loop_reset,
	.get_status = loop_get_status,
	.set_status = loop_set_status,
	.get_features = loop_get_features,
	.finalize_features = loop_finalize_features,
	.generation = loop_generation,
	.config_get = loop_config_get,
	.config_set = loop_config_set,
	.queue_max = loop_queue_max,
	.queue_setup = loop_queue_setup,
	.notify = loop_notify,
	.wait = loop_wait,
	.stop = loop_stop,
};

/*
 * loop_transport_create - @vdev (device ID @vdev->device_id) behind a
 * transport, its guest RAM @memfd at guest-physical 0, @size bytes.
 * Return: 0; a negative errno (nothing left made).
 */
static int loop_transport_create(struct virtio_device *vdev, int memfd,
				 uint64_t size, struct loop_transport **out)
{
	struct guest_memory_layout layout = {
		.gpa = 0, .size = size, .uaddr = 0x7f0000000000ull,
	};
	struct loop_transport *lt = calloc(1, sizeof(*lt));
	int fd, err;

	if (!lt)
		return -ENOMEM;
	lt->vt = (struct virtio_transport){ .ops = &loop_ops,
					    .device_id = vdev->device_id };
	lt->vdev = vdev;
	lt->offer_mask = UINT64_MAX;
	pthread_mutex_init(&lt->dev_lock, NULL);
	pthread_cond_init(&lt->ev_cond, NULL);
	pthread_mutex_init(&lt->wake_lock, NULL);
	pthread_cond_init(&lt->wake_cond, NULL);
	guest_memory_init(&lt->mem);
	fd = dup(memfd);
	if (fd < 0) {
		err = -errno;
		goto undo;
	}
	err = guest_memory_map(&lt->mem, &layout, &fd, 1);
	if (err) {
		close(fd);
		goto undo;
	}
	vdev->transport = &loop_dev_transport;
	vdev->transport_priv = lt;
	vdev->mem = &lt->mem;
	atomic_store(&vdev->connected, true);
	if (pthread_create(&lt->thread, NULL, loop_poll_thread, lt)) {
		err = -EAGAIN;
		goto undo_mem;
	}
	*out = lt;
	return 0;

undo_mem:
	atomic_store(&vdev->connected, false);
	guest_memory_destroy(&lt->mem);
undo:
	free(lt);
	return err;
}

/* The device is gone: every op from now on fails with -EPIPE. */
static void loop_transport_unplug(struct loop_transport *lt)
{
	pthread_mutex_lock(&lt->dev_lock);
	atomic_store(&lt->dead, true);
	pthread_cond_broadcast(&lt->ev_cond);
	pthread_mutex_unlock(&lt->dev_lock);
}

static void loop_transport_destroy(struct loop_transport *lt)
{
	if (!lt)
		return;
	pthread_mutex_lock(&lt->wake_lock);
	lt->quit = true;
	pthread_cond_signal(&lt->wake_cond);
	pthread_mutex_unlock(&lt->wake_lock);
	pthread_join(lt->thread, NULL);
	pthread_mutex_lock(&lt->dev_lock);
	lt->vdev->ops->reset(lt->vdev);
	atomic_store(&lt->vdev->connected, false);
	pthread_mutex_unlock(&lt->dev_lock);
	guest_memory_destroy(&lt->mem);
	free(lt);
}

#endif
