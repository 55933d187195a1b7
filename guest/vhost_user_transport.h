/*
 * vhost_user_transport.h - the vhost-user frontend (vhost_user_frontend.h)
 * as a virtio transport (virtio/virtio_transport.h), so that a driver that
 * knows only that interface (guest/balloon_driver.c) drives a device served
 * by a vhost-user backend: our host's, or any other.
 *
 * How each op maps onto the protocol:
 *   get_features       GET_FEATURES (read at create, after SET_OWNER and
 *                      the protocol features)
 *   finalize_features  SET_FEATURES, then SET_MEM_TABLE with the guest's
 *                      RAM (the backend maps it once it knows the features)
 *   status             kept here: vhost-user has no status without
 *                      PROTOCOL_F_STATUS; FEATURES_OK sticks once
 *                      SET_FEATURES was acked
 *   config_get/_set    GET_CONFIG/SET_CONFIG (PROTOCOL_F_CONFIG, required);
 *                      generation 0: each GET_CONFIG is one snapshot
 *   queue_max          VIRTQUEUE_MAX_SIZE: the protocol cannot ask; the
 *                      backend refuses a size it does not take
 *   queue_setup        SET_VRING_NUM, _BASE, _ADDR, _CALL, _KICK, _ENABLE
 *   notify             a write to the queue's kick eventfd
 *   wait               poll on the queues' call eventfds and the backend
 *                      request channel (CONFIG_CHANGE_MSG); without the
 *                      channel CONFIG comes every VIRTIO_CONFIG_POLL_MS; the
 *                      channel closing is the backend gone (-EPIPE)
 *   reset              every started queue stopped (GET_VRING_BASE: the
 *                      backend answers once it no longer touches the ring)
 *
 * A connection is negotiated once: a second probe needs a new transport.
 */
#ifndef GUESTMM_GUEST_VHOST_USER_TRANSPORT_H
#define GUESTMM_GUEST_VHOST_USER_TRANSPORT_H

#include <stdint.h>

struct vhost_user_transport;
struct virtio_transport;

/*
 * vhost_user_transport_create - connect to the backend on @socket_path,
 * serving a device of virtio ID @device_id, and say hello; guest RAM
 * [@gpa, @gpa + @size) is @memfd, mapped here at @map (shared once the
 * features are set).
 * Return: 0 with *@out set; -ENODEV when the backend has no config space
 * (PROTOCOL_F_CONFIG); -ENOMEM; the frontend's errors (-ENOENT,
 * -ECONNREFUSED, -EPIPE, -ETIMEDOUT, -EPROTO ...); eventfd()'s.
 */
int vhost_user_transport_create(const char *socket_path, uint32_t device_id,
				int memfd, void *map, uint64_t gpa,
				uint64_t size,
				struct vhost_user_transport **out);

/* Close the connection (the backend resets its device) and free. */
void vhost_user_transport_destroy(struct vhost_user_transport *vt);

struct virtio_transport *vhost_user_transport_virtio(
	struct vhost_user_transport *vt);

#endif
