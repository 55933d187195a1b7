/*
 * backend.c - a balloon backend on its own thread.  The vhost-user server
 * belongs to that thread (create, add and run happen there or before it
 * starts); the balloon's API is thread-safe, so the owner reads stats and
 * sets targets from its own thread.
 */
#ifndef _GNU_SOURCE
#define _GNU_SOURCE
#endif
#include "host/backend.h"

#include <errno.h>
#include <string.h>

#include "host/balloon.h"
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
	int err;

	memset(be, 0, sizeof(*be));
	atomic_init(&be->stop, false);
	atomic_init(&be->err, 0);
	be->srv = vhost_user_server_create();
	if (!be->srv)
		return -ENOMEM;
	err = balloon_create(features, &be->balloon);
	if (err)
		goto undo_server;
	err = vhost_user_server_add_device(be->srv, socket_path,
					   balloon_virtio_device(be->balloon));
	if (err) {
		platform_log("cannot serve %s: %s", socket_path, strerror(-err));
		goto undo_balloon;
	}
	if (pthread_create(&be->thread, NULL, balloon_backend_main, be)) {
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
	pthread_join(be->thread, NULL);
	vhost_user_server_destroy(be->srv);
	balloon_destroy(be->balloon);
}
