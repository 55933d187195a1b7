/*
 * fd_reaper.c - a thread that closes descriptors; see fd_reaper.h.
 *
 * Invariant: @count <= FD_REAPER_SLOTS; the descriptors queued are
 * fds[(head + i) % FD_REAPER_SLOTS] for i < @count, each owned by the
 * reaper; @held == @count + (1 while a close is in progress).  The reaper
 * takes one descriptor out under the lock and closes it with the lock
 * dropped, so a close that sleeps never holds up a caller of
 * fd_reaper_close(); the slot is free from the moment it is taken out, but
 * the descriptor counts in @held (and @fd_reaper_held_total) until its
 * close returns, because until then it is in the process's table.
 *
 * @fd_reaper_held_total == the sum of every reaper's @held (each update is
 * made under that reaper's lock, so it may lag a reader by one update).
 */
#ifndef _GNU_SOURCE
#define _GNU_SOURCE
#endif
#include "host/fd_reaper.h"

#include <errno.h>
#include <stdatomic.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <unistd.h>

#include "platform/platform.h"

static _Atomic unsigned long fd_reaper_held_total;

static void fd_reaper_free(struct fd_reaper *r)
{
	pthread_cond_destroy(&r->cond);
	pthread_mutex_destroy(&r->lock);
	free(r);
}

static void *fd_reaper_main(void *arg)
{
	struct fd_reaper *r = arg;
	bool detached;

	pthread_mutex_lock(&r->lock);
	for (;;) {
		void (*room)(void *ctx) = NULL;
		void *ctx = NULL;
		int fd;

		while (!r->count && !r->stop)
			pthread_cond_wait(&r->cond, &r->lock);
		if (!r->count)
			break; /* stopped, and nothing left */
		fd = r->fds[r->head];
		r->head = (r->head + 1) % FD_REAPER_SLOTS;
		r->count--;
		r->closing_since_ns = platform_now_ns();
		pthread_mutex_unlock(&r->lock);
		close(fd); /* may sleep: that is what this thread is for */
		pthread_mutex_lock(&r->lock);
		r->closing_since_ns = 0;
		r->held--;
		atomic_fetch_sub(&fd_reaper_held_total, 1);
		if (r->want_room && r->held <= FD_REAPER_SHARE && r->room) {
			r->want_room = false;
			room = r->room;
			ctx = r->ctx;
		}
		if (room) {
			/* fd_reaper_stop() waits for this call (it is short:
			 * the owner only wakes its loop). */
			r->in_room = true;
			pthread_mutex_unlock(&r->lock);
			room(ctx);
			pthread_mutex_lock(&r->lock);
			r->in_room = false;
			pthread_cond_broadcast(&r->cond);
		}
	}
	detached = r->detached;
	pthread_mutex_unlock(&r->lock);
	if (detached)
		fd_reaper_free(r);
	return NULL;
}

/*
 * fd_reaper_start - an empty reaper and its thread; @room(@ctx) is called
 * from that thread when room the owner asked for is back.
 * Return: 0 with *@out set; -ENOMEM; -EAGAIN when no thread can be made.
 */
int fd_reaper_start(struct fd_reaper **out, void (*room)(void *ctx),
		    void *ctx)
{
	struct fd_reaper *r = calloc(1, sizeof(*r));

	if (!r)
		return -ENOMEM;
	pthread_mutex_init(&r->lock, NULL);
	pthread_cond_init(&r->cond, NULL);
	r->room = room;
	r->ctx = ctx;
	if (pthread_create(&r->thread, NULL, fd_reaper_main, r)) {
		fd_reaper_free(r);
		return -EAGAIN;
	}
	*out = r;
	return 0;
}

/*
 * fd_reaper_stop - end the reaper without waiting for a close: an idle one
 * is joined and freed; one that still holds descriptors closes them on its
 * own, detached, and frees itself.  @r is the caller's no more either way,
 * and @room is not called again once this returns.
 */
void fd_reaper_stop(struct fd_reaper *r)
{
	pthread_t thread = r->thread;
	uint64_t since;
	unsigned int held;

	pthread_mutex_lock(&r->lock);
	r->stop = true;
	r->room = NULL;
	while (r->in_room)
		pthread_cond_wait(&r->cond, &r->lock);
	held = r->held;
	since = r->closing_since_ns;
	r->detached = held != 0;
	pthread_cond_broadcast(&r->cond);
	pthread_mutex_unlock(&r->lock);
	if (held) {
		uint64_t slept = since ? platform_now_ns() - since : 0;

		/* Closes left by a frontend that just went are no news. */
		if (slept >= FD_REAPER_SLOW_MS * UINT64_C(1000000))
			platform_log("fd reaper: a close has not returned for %.1f s; %u descriptor(s) left to close detached",
				     (double)slept / 1e9, held);
		pthread_detach(thread);
		return;
	}
	pthread_join(thread, NULL);
	fd_reaper_free(r);
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
		r->held++;
		atomic_fetch_add(&fd_reaper_held_total, 1);
		pthread_cond_broadcast(&r->cond);
	}
	pthread_mutex_unlock(&r->lock);
	if (full) {
		platform_log("fd reaper: queue full (a caller broke the room rule); closing inline");
		close(fd);
	}
}

/*
 * fd_reaper_budget - how many descriptors all reapers may hold together:
 * three quarters of the soft RLIMIT_NOFILE as it is now (read each time:
 * the owner may change it), leaving the rest to the serving threads and
 * everything else the process does.
 */
unsigned long fd_reaper_budget(void)
{
	struct rlimit rl;

	if (getrlimit(RLIMIT_NOFILE, &rl) || rl.rlim_cur == RLIM_INFINITY ||
	    rl.rlim_cur > (rlim_t)(1ul << 30))
		return 3ul << 28;
	return (unsigned long)rl.rlim_cur / 4 * 3;
}

/* Descriptors all reapers hold now. */
unsigned long fd_reaper_total(void)
{
	return atomic_load(&fd_reaper_held_total);
}

/* Raise the soft descriptor limit to the hard one (best effort). */
void fd_reaper_raise_nofile(void)
{
	struct rlimit rl;

	if (getrlimit(RLIMIT_NOFILE, &rl) == 0 && rl.rlim_cur < rl.rlim_max) {
		rl.rlim_cur = rl.rlim_max;
		setrlimit(RLIMIT_NOFILE, &rl);
	}
}

/*
 * fd_reaper_recv_max - room for descriptors in one receive under @budget
 * (fd_reaper_budget()): what half of it leaves beside a device's hold,
 * from FD_REAPER_RECV_MIN to FD_REAPER_RECV_MAX (fd_reaper.h).
 */
unsigned int fd_reaper_recv_max(unsigned long budget)
{
	unsigned long half = budget / 2;

	if (half < FD_REAPER_HELD_MAX + FD_REAPER_RECV_MIN)
		return FD_REAPER_RECV_MIN;
	if (half - FD_REAPER_HELD_MAX > FD_REAPER_RECV_MAX)
		return FD_REAPER_RECV_MAX;
	return (unsigned int)(half - FD_REAPER_HELD_MAX);
}

/* What a device may hand its reaper between two checks under @budget. */
unsigned long fd_reaper_reserve(unsigned long budget)
{
	return FD_REAPER_HELD_MAX + fd_reaper_recv_max(budget);
}

/*
 * fd_reaper_nofile_min - the least soft RLIMIT_NOFILE whose budget (three
 * quarters, in whole quarters: see fd_reaper_budget()) holds the least
 * reserve; below it no device could ever take a descriptor in.
 */
unsigned long fd_reaper_nofile_min(void)
{
	unsigned long least = FD_REAPER_HELD_MAX + FD_REAPER_RECV_MIN;

	return (least + 2) / 3 * 4;
}

/*
 * fd_reaper_may_take - may the owner take in more descriptors: its reserve
 * (fd_reaper_reserve()) before it asks again?  On 0, *@recv_max (unless
 * NULL) is the room its next receive may give descriptors.
 * Return: 0; -EMFILE when this reaper holds more than its share (its
 * frontend's closes sleep: drop it); -ENOBUFS when the process's budget has
 * no reserve left (wait: a reaper, this one or another device's, is
 * behind).
 */
int fd_reaper_may_take(struct fd_reaper *r, unsigned int *recv_max)
{
	unsigned int held = fd_reaper_held(r);
	unsigned long budget = fd_reaper_budget();

	if (held > FD_REAPER_SHARE)
		return -EMFILE;
	if (fd_reaper_total() + fd_reaper_reserve(budget) > budget)
		return -ENOBUFS;
	if (recv_max)
		*recv_max = fd_reaper_recv_max(budget);
	return 0;
}

/* Descriptors this reaper holds: queued, or in a close. */
unsigned int fd_reaper_held(struct fd_reaper *r)
{
	unsigned int held;

	pthread_mutex_lock(&r->lock);
	held = r->held;
	pthread_mutex_unlock(&r->lock);
	return held;
}

/* Have @room called once this reaper holds FD_REAPER_SHARE or fewer: from
 * the reaper's thread when its closes get there, or at once from the
 * caller's when they already have. */
void fd_reaper_want_room(struct fd_reaper *r)
{
	bool now;

	pthread_mutex_lock(&r->lock);
	now = r->held <= FD_REAPER_SHARE;
	r->want_room = !now;
	pthread_mutex_unlock(&r->lock);
	if (now && r->room)
		r->room(r->ctx);
}
