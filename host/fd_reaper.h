/*
 * fd_reaper.h - closing a frontend's descriptors off the serving thread.
 *
 * The last close() of a descriptor can sleep for as long as whoever made it
 * likes: a TCP socket with SO_LINGER waits for its unsent data, a FUSE file
 * for its daemon's answer to FLUSH, a unix socket for the descriptors still
 * queued in it, which are closed with it.  So a thread that serves a device
 * never does the last close of anything a frontend gave it (every
 * descriptor received by SCM_RIGHTS, and the connection itself): it hands
 * it to the device's reaper, a thread that only closes.  A close that
 * sleeps then holds up that one device's later closes, nothing else.
 *
 * The queue is a fixed ring.  The serving thread keeps to one rule: it
 * takes in more descriptors (receives a message, accepts a connection) only
 * while fd_reaper_room() is at least what it could hand over before it
 * checks again (FD_REAPER_RESERVE).  So the ring never overflows, and a
 * frontend whose closes sleep fills its own device's ring and then waits:
 * it cannot make the process run out of descriptors.  When room comes back
 * the reaper calls the owner's @room callback (from its own thread) once
 * per fd_reaper_want_room().
 */
#ifndef GUESTMM_HOST_FD_REAPER_H
#define GUESTMM_HOST_FD_REAPER_H

#include <pthread.h>
#include <stdbool.h>

/* What the serving thread may hand over between two checks: one message's
 * descriptors as the kernel can pass them (SCM_MAX_FD, 253) and a device
 * reset (3 per vring, 8 regions, the backend channel, the connection, a
 * message's worth still held); rounded up. */
#define FD_REAPER_RESERVE 320
#define FD_REAPER_SLOTS 1024
_Static_assert(FD_REAPER_SLOTS >= 2 * FD_REAPER_RESERVE,
	       "the ring holds two reserves");

struct fd_reaper {
	/* @lock protects @fds, @head, @count, @stop and @want_room. */
	pthread_mutex_t lock;
	pthread_cond_t cond; /* signalled when @count or @stop changes */
	int fds[FD_REAPER_SLOTS]; /* ring: @count entries from @head */
	unsigned int head, count;
	bool stop;
	bool want_room; /* the owner waits for FD_REAPER_RESERVE free */
	void (*room)(void *ctx); /* constant */
	void *ctx;
	pthread_t thread;
};

int fd_reaper_start(struct fd_reaper *r, void (*room)(void *ctx), void *ctx);
void fd_reaper_stop(struct fd_reaper *r);
void fd_reaper_close(struct fd_reaper *r, int fd);
unsigned int fd_reaper_room(struct fd_reaper *r);
void fd_reaper_want_room(struct fd_reaper *r);

#endif
