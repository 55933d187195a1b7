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
 * What a reaper holds (queued, or being closed) is still in the process's
 * descriptor table, and that table is the process's, not the device's.  So
 * there are two bounds, both checked by fd_reaper_may_take() before the
 * serving thread takes in more descriptors (receives a message, accepts a
 * connection):
 *
 *  - a device's share: a reaper holding more than FD_REAPER_SHARE means
 *    its frontend's closes do not return; the owner drops that frontend
 *    and takes nothing more (no accept) until the share is back;
 *  - the process's budget: all reapers together, plus what the asking
 *    device could take in before it checks again (its reserve,
 *    fd_reaper_reserve()), stay within fd_reaper_budget(), three quarters
 *    of the descriptor limit as it is now (fd_reaper_raise_nofile() raises
 *    the soft limit to the hard one when the server starts).  Beyond it
 *    every device waits (retrying on a timer) rather than fail with an
 *    empty table.
 *
 * The reserve scales with the limit.  What a device holds and hands over
 * in a reset is fixed (FD_REAPER_HELD_MAX); what one receive may take in
 * is not: the receive's room for descriptors (fd_reaper_recv_max()) is
 * what is left of half the budget, from FD_REAPER_RECV_MIN (more than a
 * message may carry, so that one carrying too many is told) up to the
 * kernel's SCM_MAX_FD (from a limit of 1024 on).  Half, so that one
 * device's reserve leaves the others room while its reaper works.  A
 * frontend that sends more descriptors than the receive has room for has
 * its message refused (MSG_CTRUNC), and the kernel closes the rest in the
 * receiving thread: that is the device's own, so a close that sleeps
 * there stalls only its device.  Below fd_reaper_nofile_min(), whose
 * budget does not hold even the least reserve, a server refuses to start.
 *
 * So a device whose frontend's closes sleep holds at most FD_REAPER_SHARE
 * plus two reserves (what came with the message that took it over the
 * share, and its reset), and as long as the budget has room for that for
 * each such device and a reserve more, the other devices go on.  The ring
 * is sized to that bound, so it never overflows.  When the share is back
 * the reaper calls the owner's @room callback (from its own thread) once
 * per fd_reaper_want_room().
 *
 * Stopping never waits for a close: fd_reaper_stop() joins a reaper that
 * is idle, and otherwise leaves it to finish its queue on its own,
 * detached, and free itself (the owner may go; @room is no longer called);
 * it says so only when a close has slept FD_REAPER_SLOW_MS (a frontend
 * that ended cleanly leaves a few closes, which need no word).
 * At process exit such a thread is killed with the others, and the kernel
 * closes what it held without the linger (a close at exit does not wait
 * for a socket's unsent data); nothing of the owner's is touched by it.
 */
#ifndef GUESTMM_HOST_FD_REAPER_H
#define GUESTMM_HOST_FD_REAPER_H

#include <pthread.h>
#include <stdbool.h>
#include <stdint.h>

/* What a device may hold of its frontend's descriptors, all of which a
 * reset hands over at once: 3 per vring, 8 regions, the backend channel,
 * the connection, a message being received and one being handled (the
 * owner asserts its sum, vhost_user.c). */
#define FD_REAPER_HELD_MAX 58
/* Room for descriptors in one receive: at least this (more than the 8 a
 * message may carry), at most the kernel's SCM_MAX_FD. */
#define FD_REAPER_RECV_MIN 16
#define FD_REAPER_RECV_MAX 253
/* The largest reserve: a device's hold and the most one receive takes. */
#define FD_REAPER_RESERVE_MAX (FD_REAPER_HELD_MAX + FD_REAPER_RECV_MAX)
/* A device's share: a healthy frontend's descriptors are closed as fast as
 * they come (a handful at a time), so 64 held means closes that sleep. */
#define FD_REAPER_SHARE 64
#define FD_REAPER_SLOTS 1024
/* A close that has not returned after this long at fd_reaper_stop() is
 * said (one line): a close that does not sleep takes microseconds, and the
 * last close of a guest's memory file, its pages freed, tens of ms. */
#define FD_REAPER_SLOW_MS 1000
_Static_assert(FD_REAPER_SLOTS >= FD_REAPER_SHARE + 2 * FD_REAPER_RESERVE_MAX,
	       "the ring holds a share and two reserves");

struct fd_reaper {
	/* @lock protects every field below but @thread. */
	pthread_mutex_t lock;
	pthread_cond_t cond; /* broadcast when @count, @stop or @in_room change */
	int fds[FD_REAPER_SLOTS]; /* ring: @count entries from @head */
	unsigned int head, count;
	unsigned int held; /* @count, and the one being closed */
	bool stop;
	bool want_room; /* the owner waits for @held <= FD_REAPER_SHARE */
	bool detached; /* stopped while busy: the thread frees the reaper */
	bool in_room; /* the thread is calling @room */
	uint64_t closing_since_ns; /* platform_now_ns() when the close in
				      progress began; 0: none */
	void (*room)(void *ctx); /* NULL once stopped */
	void *ctx;
	pthread_t thread;
};

int fd_reaper_start(struct fd_reaper **out, void (*room)(void *ctx),
		    void *ctx);
void fd_reaper_stop(struct fd_reaper *r);
void fd_reaper_close(struct fd_reaper *r, int fd);
int fd_reaper_may_take(struct fd_reaper *r, unsigned int *recv_max);
unsigned int fd_reaper_held(struct fd_reaper *r);
void fd_reaper_want_room(struct fd_reaper *r);
unsigned long fd_reaper_budget(void);
unsigned int fd_reaper_recv_max(unsigned long budget);
unsigned long fd_reaper_reserve(unsigned long budget);
unsigned long fd_reaper_nofile_min(void);
unsigned long fd_reaper_total(void);
void fd_reaper_raise_nofile(void);

#endif
