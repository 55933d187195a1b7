/*
 * backend.h - one balloon on a vhost-user socket, served by a thread of its
 * own: the device context the vhost-user server needs, for programs (the
 * guestmm command, tests, benchmarks) whose own thread drives a guest.
 */
#ifndef GUESTMM_HOST_BACKEND_H
#define GUESTMM_HOST_BACKEND_H

#include <pthread.h>
#include <stdatomic.h>
#include <stdbool.h>
#include <stdint.h>

#include "host/vhost_user.h"

struct balloon_backend {
	struct vhost_user_server *srv;
	struct balloon_dev *balloon; /* its API may be used from any thread */
	bool threaded; /* @thread runs the server (VHOST_USER_THREAD_ONE) */
	pthread_t thread;
	atomic_bool stop;
	atomic_int err; /* the server loop's error; 0 while it serves */
};

/*
 * Create a balloon offering @features, listen on @socket_path and start the
 * serving thread.
 * Return: 0; -ENOMEM, -EAGAIN (no thread), or the server's errors for the
 * socket (the reason is logged).
 */
int balloon_backend_start(struct balloon_backend *be, const char *socket_path,
			  uint64_t features);
/* The same, served as @threads says (vhost_user.h); the above is
 * VHOST_USER_THREAD_PER_DEVICE. */
int balloon_backend_start_threads(struct balloon_backend *be,
				  const char *socket_path, uint64_t features,
				  enum vhost_user_threads threads);

/* Stop the thread, close the socket and every connection, free the device. */
void balloon_backend_stop(struct balloon_backend *be);

#endif
