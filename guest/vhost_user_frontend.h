/*
 * vhost_user_frontend.h - the frontend side of vhost-user, for a guest that
 * lives in this process (a "process guest", docs/architecture.md): it
 * shares its RAM (one memfd) with a backend over a unix socket, places its
 * rings in that RAM, and notifies and is notified through eventfds.
 *
 * The module is the transport only.  Rings are driven by the virtqueue
 * driver half (virtio/virtqueue.h) over the same guest RAM; a queue is
 * started with the struct virtqueue_config the driver half was initialised
 * with, so both sides agree on its size and addresses by construction.
 *
 * Order of use: connect, negotiate (or hello, then set_features), set_mem,
 * queue_start per queue; then
 * kick / wait_call, get_config / set_config and backend_poll in any order;
 * close.  Errors are negative errnos.  A backend that went away gives -EPIPE
 * (never SIGPIPE), one that breaks the protocol -EPROTO; after either the
 * connection is dead and every later request returns -EPIPE.  A backend
 * that is slow to answer (stopped, busy) is waited for as long as the
 * connection lives: a reply is as certain as a used buffer.
 *
 * Threads: a frontend belongs to one thread at a time; the caller
 * serialises all calls on it.
 */
#ifndef GUESTMM_GUEST_VHOST_USER_FRONTEND_H
#define GUESTMM_GUEST_VHOST_USER_FRONTEND_H

#include <stdbool.h>
#include <stdint.h>

#include "virtio/virtqueue.h"

/* Queues a frontend can drive: as many as the backend serves (8). */
#define VHOST_USER_FRONTEND_MAX_QUEUES 8

struct vhost_user_frontend;

int vhost_user_frontend_connect(const char *path,
				struct vhost_user_frontend **out);
void vhost_user_frontend_close(struct vhost_user_frontend *fe);
void vhost_user_frontend_set_quiet_ms(struct vhost_user_frontend *fe, int ms);

int vhost_user_frontend_hello(struct vhost_user_frontend *fe);
int vhost_user_frontend_set_features(struct vhost_user_frontend *fe,
				     uint64_t want, uint64_t *features);
int vhost_user_frontend_negotiate(struct vhost_user_frontend *fe,
				  uint64_t want, uint64_t *features);
uint64_t vhost_user_frontend_offered(const struct vhost_user_frontend *fe);
uint64_t vhost_user_frontend_protocol_features(
	const struct vhost_user_frontend *fe);

int vhost_user_frontend_set_mem(struct vhost_user_frontend *fe, int memfd,
				void *map, uint64_t gpa, uint64_t size);
void *vhost_user_frontend_translate(void *ctx, uint64_t gpa, uint64_t len,
				    bool write);

uint64_t vhost_user_frontend_ring_bytes(unsigned int num);
int vhost_user_frontend_ring_place(struct virtqueue_config *cfg,
				   unsigned int num, uint64_t gpa,
				   uint64_t len);

int vhost_user_frontend_queue_start(struct vhost_user_frontend *fe,
				    unsigned int q,
				    const struct virtqueue_config *cfg);
int vhost_user_frontend_queue_stop(struct vhost_user_frontend *fe,
				   unsigned int q, uint16_t *base);
int vhost_user_frontend_kick(struct vhost_user_frontend *fe, unsigned int q);
int vhost_user_frontend_wait_call(struct vhost_user_frontend *fe,
				  unsigned int q, int timeout_ms);
int vhost_user_frontend_call_fd(const struct vhost_user_frontend *fe,
				unsigned int q);

int vhost_user_frontend_get_config(struct vhost_user_frontend *fe,
				   uint32_t offset, void *buf, uint32_t len);
int vhost_user_frontend_set_config(struct vhost_user_frontend *fe,
				   uint32_t offset, const void *buf,
				   uint32_t len);
int vhost_user_frontend_backend_poll(struct vhost_user_frontend *fe,
				     int timeout_ms,
				     unsigned int *config_changes);
int vhost_user_frontend_backend_fd(const struct vhost_user_frontend *fe);

#endif
