/*
 * backend.c - a balloon backend on a thread of its own.  By default the
 * vhost-user server serves the device on its per-device thread; with
 * VHOST_USER_THREAD_ONE (kept for benchmarks) the backend's own thread runs
 * the server's single loop, as every device was served before.  The
 * balloon's API is thread-safe, so the owner reads stats and sets targets
 * from its own thread.
 */
#ifndef _GNU_SOURCE
#define _GNU_SOURCE
#endif
#include "host/backend.h"

#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include "host/balloon.h"
#include "host/unix_socket.h"
#include "host/vhost_user.h"
#include "platform/platform.h"

/* One epoll round at most this long, so that a stop is seen promptly. */
#define BACKEND_ROUND_MS 100

static void *balloon_backend_main(void *arg)
{
	struct balloon_backend *be = arg;

	while (!atomic_load(&be->stop)) {
		int err = vhost_user_server_run(be->srv, BACKEND_ROUND_MS);

		if (err && err != -EINTR) {
			atomic_store(&be->err, err);
			break;
		}
	}
	return NULL;
}

int balloon_backend_start(struct balloon_backend *be, const char *socket_path,
			  uint64_t features)
{
	return balloon_backend_start_threads(be, socket_path, features,
					     VHOST_USER_THREAD_PER_DEVICE);
}

int balloon_backend_start_threads(struct balloon_backend *be,
				  const char *socket_path, uint64_t features,
				  enum vhost_user_threads threads)
{
	int err;

	memset(be, 0, sizeof(*be));
	atomic_init(&be->stop, false);
	atomic_init(&be->err, 0);
	be->srv = vhost_user_server_create(threads);
	if (!be->srv)
		return errno ? -errno : -ENOMEM;
	be->threaded = threads == VHOST_USER_THREAD_ONE;
	err = balloon_create(features, &be->balloon);
	if (err)
		goto undo_server;
	err = vhost_user_server_add_device(be->srv, socket_path,
					   balloon_virtio_device(be->balloon));
	if (err) {
		platform_log("cannot serve %s: %s", socket_path,
			     unix_socket_strerror(err));
		goto undo_balloon;
	}
	if (be->threaded &&
	    pthread_create(&be->thread, NULL, balloon_backend_main, be)) {
		err = -EAGAIN;
		goto undo_balloon;
	}
	return 0;

undo_balloon:
	/* The server first: it may hold the device until it is gone. */
	vhost_user_server_destroy(be->srv);
	balloon_destroy(be->balloon);
	return err;
undo_server:
	vhost_user_server_destroy(be->srv);
	return err;
}

void balloon_backend_stop(struct balloon_backend *be)
{
	atomic_store(&be->stop, true);
	vhost_user_server_wake(be->srv);
	if (be->threaded)
		pthread_join(be->thread, NULL);
	/* A serving thread left running still uses the balloon: it goes
	 * with the process (vhost_user_server_destroy()). */
	if (vhost_user_server_destroy(be->srv) == 0)
		balloon_destroy(be->balloon);
}
