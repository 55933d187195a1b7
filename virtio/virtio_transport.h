/*
 * virtio_transport.h - what a virtio driver needs of the transport that
 * carries its device: the driver half of Linux's virtio_config_ops.
 *
 * A driver (guest/balloon_driver.c) knows nothing of how its device is
 * reached; a transport knows nothing of the device behind it.  The
 * transport is a static const struct virtio_config_ops plus a struct
 * virtio_transport it embeds (container_of() finds the rest), as Linux's
 * virtio_mmio and virtio_pci sit under every driver.  Two implement it:
 * the vhost-user frontend of a process guest (guest/vhost_user_transport.c:
 * config space through GET/SET_CONFIG, notifications on eventfds) and
 * virtio-mmio in a guest kernel (registers, an interrupt line).  The host's
 * device-side counterpart is host/virtio_device.h.
 *
 * The driver's sequence is the spec's (3.1.1) and Linux's virtio_dev_probe:
 * reset; status ACKNOWLEDGE, then DRIVER; get_features; finalize_features
 * with what it accepts, then status FEATURES_OK and read it back (a device
 * that refuses the set clears the bit); queue_setup per queue; status
 * DRIVER_OK.  Config space may be read and written at any time after
 * FEATURES_OK; a multi-field read is consistent when the generation read
 * before and after it agree (virtio_cread()).
 *
 * Ring memory is the driver's: it places the three areas of each queue in
 * guest RAM and hands their guest-physical addresses to queue_setup; the
 * transport tells the device (QueueDesc... registers, SET_VRING_ADDR).
 *
 * Notifications the other way (used buffers, config changes) are events a
 * driver thread waits for with wait(): a bit per queue index, and
 * VIRTIO_EVENT_CONFIG.  An event that happens while nobody waits is kept
 * until a wait that asks for it takes it; several threads may wait at
 * once for disjoint sets (a queue belongs to one thread).  An event may be
 * spurious (a used buffer already collected, a config unchanged): the
 * driver always looks at the ring or the config itself.  A transport that
 * cannot be told of config changes reports CONFIG every
 * VIRTIO_CONFIG_POLL_MS instead.
 *
 * Threads: every op may be called from any thread; the transport
 * serialises whatever its device needs serialised (a vhost-user socket
 * carries one request at a time; MMIO registers need nothing, save
 * QueueSel with queue_setup, which the driver calls from one thread).
 *
 * Errors: ops return 0 or a negative errno.  A transport whose device is
 * gone (the vhost-user backend closed its socket) returns -GMM_EPIPE from
 * then on; a wait after stop() returns -GMM_ESHUTDOWN.  Freestanding: this
 * header and the driver above it use no libc.
 */
#ifndef GUESTMM_VIRTIO_VIRTIO_TRANSPORT_H
#define GUESTMM_VIRTIO_VIRTIO_TRANSPORT_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "virtio/virtqueue.h"

/* Device status bits (virtio 1.2 2.1; Linux's names). */
#define VIRTIO_CONFIG_S_ACKNOWLEDGE 1
#define VIRTIO_CONFIG_S_DRIVER 2
#define VIRTIO_CONFIG_S_DRIVER_OK 4
#define VIRTIO_CONFIG_S_FEATURES_OK 8
#define VIRTIO_CONFIG_S_NEEDS_RESET 0x40
#define VIRTIO_CONFIG_S_FAILED 0x80

/* Events of wait(): bit q is a used-buffer notification of queue q. */
#define VIRTIO_EVENT_QUEUE(q) (UINT32_C(1) << (q))
#define VIRTIO_EVENT_CONFIG (UINT32_C(1) << 31)
#define VIRTIO_EVENT_MAX_QUEUES 31

/* How often a transport without config-change notifications says CONFIG. */
#define VIRTIO_CONFIG_POLL_MS 1000

struct virtio_transport;

struct virtio_config_ops {
	/*
	 * Reset the device, synchronously: when it returns, the device
	 * touches no ring and no buffer the driver gave it.  Every queue is
	 * stopped, the status is 0.
	 */
	void (*reset)(struct virtio_transport *t);
	uint8_t (*get_status)(struct virtio_transport *t);
	/*
	 * Set the status byte to @status (bits are only ever added, save by
	 * reset()).  FEATURES_OK asks the device to accept the features of
	 * finalize_features(): read the status back to see whether it did.
	 * Return: 0; -GMM_EPIPE.
	 */
	int (*set_status)(struct virtio_transport *t, uint8_t status);
	/* The features the device offers (all 64 bits). */
	uint64_t (*get_features)(struct virtio_transport *t);
	/*
	 * Tell the device the features the driver accepts, a subset of
	 * get_features(); before FEATURES_OK.
	 * Return: 0; -GMM_EINVAL for a bit not offered; -GMM_EPIPE; the
	 * transport's own refusal (vhost-user: the backend's).
	 */
	int (*finalize_features)(struct virtio_transport *t,
				 uint64_t features);
	/* Config space generation: changes when a read may have torn. */
	uint32_t (*generation)(struct virtio_transport *t);
	/*
	 * Read or write @len bytes of the device's config space at @offset,
	 * little-endian as the device keeps it.  Fields are accessed whole
	 * (the driver passes one field, or a run of 32-bit fields).
	 * Return: 0; -GMM_EINVAL for a range outside the config space;
	 * -GMM_EPIPE; -GMM_ETIMEDOUT.
	 */
	int (*config_get)(struct virtio_transport *t, uint32_t offset,
			  void *buf, uint32_t len);
	int (*config_set)(struct virtio_transport *t, uint32_t offset,
			  const void *buf, uint32_t len);
	/*
	 * The largest size queue @q accepts (QueueNumMax); 0 when the device
	 * has no such queue or the transport cannot tell (then the driver's
	 * own numbering from the features decides, and any size up to
	 * VIRTQUEUE_MAX_SIZE is taken).
	 */
	unsigned int (*queue_max)(struct virtio_transport *t, unsigned int q);
	/*
	 * Hand queue @q to the device: @cfg's num and the guest-physical
	 * addresses of its three areas (the virtqueue driver half was made
	 * from the same @cfg, so both sides agree by construction), then
	 * enable it.  Between FEATURES_OK and DRIVER_OK.
	 * Return: 0; -GMM_ERANGE for a queue index the transport cannot
	 * carry; -GMM_EINVAL for a size above queue_max(); -GMM_EBUSY when
	 * @q is set up already; -GMM_EPIPE; the device's refusal.
	 */
	int (*queue_setup)(struct virtio_transport *t, unsigned int q,
			   const struct virtqueue_config *cfg);
	/*
	 * Notify the device that queue @q has new buffers (call it when
	 * virtqueue_kick_prepare() says so).
	 * Return: 0; -GMM_EINVAL when @q is not set up; -GMM_EPIPE.
	 */
	int (*notify)(struct virtio_transport *t, unsigned int q);
	/*
	 * Wait up to @timeout_ms (-1: no limit) for one of the events in
	 * @mask, and take the ones that happened.
	 * Return: 0 with *@events a non-empty subset of @mask;
	 * -GMM_ETIMEDOUT; -GMM_ESHUTDOWN once stop() was called; -GMM_EPIPE
	 * when the device is gone.
	 */
	int (*wait)(struct virtio_transport *t, uint32_t mask, int timeout_ms,
		    uint32_t *events);
	/*
	 * End every wait, now and later, with -GMM_ESHUTDOWN: the driver
	 * stops, or its device failed.  Any thread, any context.
	 */
	void (*stop)(struct virtio_transport *t);
};

/*
 * One device as a transport presents it.  @device_id is virtio's (5 for
 * the balloon).  The transport embeds it and sets both fields once.
 */
struct virtio_transport {
	const struct virtio_config_ops *ops;
	uint32_t device_id;
};

/*
 * virtio_cread - a consistent read of @len bytes at @offset: read until
 * the generation before and after agree, as Linux's virtio_cread() does.
 * Return: 0, or config_get()'s error.
 */
static inline int virtio_cread(struct virtio_transport *t, uint32_t offset,
			       void *buf, uint32_t len)
{
	uint32_t gen, again;
	int err;

	do {
		gen = t->ops->generation(t);
		err = t->ops->config_get(t, offset, buf, len);
		if (err)
			return err;
		again = t->ops->generation(t);
	} while (gen != again);
	return 0;
}

#endif
