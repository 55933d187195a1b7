/*
 * virtio_device.h - what a host device model and its transport know of each
 * other.
 *
 * A device model (balloon.c) knows nothing of how the guest reaches it: it
 * offers features, a config space and queues through a static const
 * struct virtio_device_ops.  A transport (vhost_user.c; a virtio-mmio model
 * later) knows nothing of the device: it negotiates, hands over queues once
 * their rings are configured, forwards kicks and config accesses, and
 * delivers the device's notifications through struct virtio_transport_ops.
 *
 * Threads: every ops call, and every transport call the device makes from
 * one, happens in the *device context*: the one thread that runs the
 * transport at a time.  Only transport->wake() may be called from any
 * thread; the device uses it to have deferred work (a config change asked
 * for by another thread) done in its context via ops->poll().
 *
 * Queue numbers are transport-level indices (vhost-user vring index, MMIO
 * QueueSel); the device maps them to its own queues from the negotiated
 * features.
 */
#ifndef GUESTMM_HOST_VIRTIO_DEVICE_H
#define GUESTMM_HOST_VIRTIO_DEVICE_H

#include <stdatomic.h>
#include <stdbool.h>
#include <stdint.h>

#include "host/guest_memory.h"
#include "virtio/virtqueue.h"

struct virtio_device;

struct virtio_transport_ops {
	/* A used-buffer notification for queue @q. */
	void (*notify_used)(struct virtio_device *vdev, unsigned int q);
	/* A configuration-change notification. */
	void (*notify_config)(struct virtio_device *vdev);
	/* Any thread: call ops->poll() in the device context soon. */
	void (*wake)(struct virtio_device *vdev);
};

struct virtio_device_ops {
	/* The features the device offers; constant for its life. */
	uint64_t (*get_features)(struct virtio_device *vdev);
	/* Return: 0, or -EINVAL for a bit that was not offered. */
	int (*set_features)(struct virtio_device *vdev, uint64_t features);
	/* The most queues the driver can use, given the offered features. */
	unsigned int (*num_queues)(struct virtio_device *vdev);
	/*
	 * Could queue @q be started with @num entries?
	 * Return: 0; -ERANGE for a queue that does not exist; -EINVAL for a
	 * size the queue does not accept.
	 */
	int (*queue_check)(struct virtio_device *vdev, unsigned int q,
			   unsigned int num);
	/*
	 * Start queue @q over the rings @cfg describes (num, desc, avail, used,
	 * translate, ctx, avail_base; the device fills in features and
	 * num_max).  The rings are untrusted: any error leaves the queue
	 * stopped.
	 * Return: 0; -ERANGE, -EINVAL as queue_check(); -EBUSY when it is
	 * already started; -ENOMEM; or virtqueue_device_init()'s errors.
	 */
	int (*queue_start)(struct virtio_device *vdev, unsigned int q,
			   const struct virtqueue_config *cfg);
	/*
	 * Stop queue @q (no-op if it is not started).
	 * Return: the avail index to resume at (vhost-user GET_VRING_BASE).
	 */
	uint16_t (*queue_stop)(struct virtio_device *vdev, unsigned int q);
	/*
	 * The driver kicked queue @q: process what it made available, a
	 * bounded amount per call.
	 * Return: 0 when the queue is drained (or not started); -EAGAIN when
	 * the bound was reached with chains still pending, so the transport
	 * must call again without waiting for a kick; or the errno of the
	 * violation that broke the queue (it stays broken until reset, and
	 * the device has logged it).
	 */
	int (*queue_notify)(struct virtio_device *vdev, unsigned int q);
	/*
	 * Config space access, @len bytes at @offset.
	 * Return: 0, or -EINVAL for a range outside the config space.
	 */
	int (*config_read)(struct virtio_device *vdev, uint32_t offset,
			   void *buf, uint32_t len);
	int (*config_write)(struct virtio_device *vdev, uint32_t offset,
			    const void *buf, uint32_t len);
	/*
	 * Deferred and timed work.  @now_ns is CLOCK_MONOTONIC.
	 * Return: when to be polled next at the latest (UINT64_MAX: only
	 * after a wake).
	 */
	uint64_t (*poll)(struct virtio_device *vdev, uint64_t now_ns);
	/* Reset to the state before feature negotiation; synchronous. */
	void (*reset)(struct virtio_device *vdev);
};

struct virtio_device {
	uint32_t device_id;
	const struct virtio_device_ops *ops;
	/*
	 * Set by the transport once, before it runs the device, and never
	 * changed: the device may call them from its context (wake from any
	 * thread).  @mem is the guest's RAM; its table changes only in the
	 * device context, between ops calls.
	 */
	const struct virtio_transport_ops *transport;
	void *transport_priv;
	struct guest_memory *mem;
	/* A driver is attached (vhost-user: a frontend is connected). */
	atomic_bool connected;
};

#endif
