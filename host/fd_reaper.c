/*
 * fd_reaper.c - a thread that closes descriptors; see fd_reaper.h.
 *
 * Invariant: @count <= FD_REAPER_SLOTS; the descriptors queued are
 * fds[(head + i) % FD_REAPER_SLOTS] for i < @count, each owned by the
 * reaper.  The reaper takes one descriptor out under the lock and closes
 * it with the lock dropped, so a close that sleeps never holds up a
 * caller of fd_reaper_close(); the slot is free from the moment it is
 * taken out.
 */
#ifndef _GNU_SOURCE
#define _GNU_SOURCE
#endif
#include "host/fd_reaper.h"

#include <errno.h>
#include <string.h>
#include <unistd.h>

#include "platform/platform.h"

static void *fd_reaper_main(void *arg)
{
	struct fd_reaper *r = arg;

	pthread_mutex_lock(&r->lock);
	for (;;) {
		bool call = false;
		int fd;

		while (!r->count && !r->stop)
			pthread_cond_wait(&r->cond, &r->lock);
		if (!r->count)
			break; /* stopped, and nothing left */
		fd = r->fds[r->head];
		r->head = (r->head + 1) % FD_REAPER_SLOTS;
		r->count--;
		if (r->want_room &&
		    FD_REAPER_SLOTS - r->count >= FD_REAPER_RESERVE) {
			r->want_room = false;
			call = true;
		}
		pthread_mutex_unlock(&r->lock);
		close(fd); /* may sleep: that is what this thread is for */
		if (call && r->room)
			r->room(r->ctx);
		pthread_mutex_lock(&r->lock);
	}
	pthread_mutex_unlock(&r->lock);
	return NULL;
}

/*
 * fd_reaper_start - an empty reaper and its thread; @room(@ctx) is called
 * from that thread when room the owner asked for is back.
 * Return: 0; -EAGAIN when no thread can be made.
 */
int fd_reaper_start(struct fd_reaper *r, void (*room)(void *ctx), void *ctx)
{
	memset(r, 0, sizeof(*r));
	pthread_mutex_init(&r->lock, NULL);
	pthread_cond_init(&r->cond, NULL);
	r->room = room;
	r->ctx = ctx;
	if (pthread_create(&r->thread, NULL, fd_reaper_main, r)) {
		pthread_cond_destroy(&r->cond);
		pthread_mutex_destroy(&r->lock);
		return -EAGAIN;
	}
	return 0;
}

/* Close everything queued (waiting as long as those closes take), then
 * end the thread. */
void fd_reaper_stop(struct fd_reaper *r)
{
	pthread_mutex_lock(&r->lock);
	r->stop = true;
	pthread_cond_signal(&r->cond);
	pthread_mutex_unlock(&r->lock);
	pthread_join(r->thread, NULL);
	pthread_cond_destroy(&r->cond);
	pthread_mutex_destroy(&r->lock);
}

/*
 * fd_reaper_close - close @fd (ignored when negative) on the reaper's
 * thread; never waits for the close.  The caller kept to the rule in
 * fd_reaper.h, so there is a slot; should there not be, the descriptor is
 * closed here after all, and said so, rather than leaked.
 */
void fd_reaper_close(struct fd_reaper *r, int fd)
{
	bool full;

	if (fd < 0)
		return;
	pthread_mutex_lock(&r->lock);
	full = r->count == FD_REAPER_SLOTS;
	if (!full) {
		r->fds[(r->head + r->count) % FD_REAPER_SLOTS] = fd;
		r->count++;
		pthread_cond_signal(&r->cond);
	}
	pthread_mutex_unlock(&r->lock);
	if (full) {
		platform_log("fd reaper: queue full (a caller broke the room rule); closing inline");
		close(fd);
	}
}

/* Free slots now. */
unsigned int fd_reaper_room(struct fd_reaper *r)
{
	unsigned int room;

	pthread_mutex_lock(&r->lock);
	room = FD_REAPER_SLOTS - r->count;
	pthread_mutex_unlock(&r->lock);
	return room;
}

/* Have @room called once FD_REAPER_RESERVE slots are free: from the
 * reaper's thread when it frees them, or at once from the caller's when
 * they already are. */
void fd_reaper_want_room(struct fd_reaper *r)
{
	bool now;

	pthread_mutex_lock(&r->lock);
	now = FD_REAPER_SLOTS - r->count >= FD_REAPER_RESERVE;
	r->want_room = !now;
	pthread_mutex_unlock(&r->lock);
	if (now && r->room)
		r->room(r->ctx);
}
