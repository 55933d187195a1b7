/*
 * free_bitmap.h - the bitmap strategy (seed 002's counter-proposal): a global
 * bitmap of free memory at the hinting granularity, which the host polls.
 *
 * The host's side is two calls, made by whatever carries the host's requests
 * (the in-process driver in guest/hint_host.c, or the balloon driver of a
 * process guest answering the device's free page hint commands,
 * guest/balloon_driver.c):
 *
 *	free_bitmap_request_hints(fb, cmd_id, runs, max, max_pages, &nr)
 *		the host asks, under a command id; the guest hands over runs
 *		of free chunks, at most @max_pages frames of them, and marks
 *		them in flight;
 *	free_bitmap_ack(fb, cmd_id)
 *		the host has discarded them; the guest takes them back.
 *
 * One command is in flight at a time, as with the virtio free page hint
 * queue, whose ids 0 (STOP) and 1 (DONE) are reserved and refused here too.
 */
#ifndef GUESTMM_MM_FREE_BITMAP_H
#define GUESTMM_MM_FREE_BITMAP_H

#include "mm/mmzone.h"

#define FREE_BITMAP_CMD_ID_STOP 0u
#define FREE_BITMAP_CMD_ID_DONE 1u
/* Runs one command hands over, at most. */
#define FREE_BITMAP_RUNS_MAX 256

struct free_page_hint_run {
	uint32_t pfn;	   /* first frame, aligned to the granularity */
	uint32_t nr_pages; /* a multiple of the granularity */
};

/*
 * Two bits per chunk of 2^@order frames, in two bitmaps of @nr_words words:
 *
 *	F (@bits[0 .. nr_words))  the chunk is wholly inside a free-list block
 *				  of order >= @order, and not in flight;
 *	I (@bits[nr_words ..))    the chunk was handed to the host under the
 *				  command in flight.
 *
 * Invariant: F => the chunk is free and !I.  F is set and cleared only under
 * the zone lock of the chunk, by the free lists' add and delete (so it
 * mirrors them, whatever path - allocation, merge, split, steal - moves a
 * block), and taken from F to I by the host's request without any zone lock:
 * the request sets I first and then claims F with an atomic and-not, the
 * allocator clears F and then reads I, so one of them sees the other
 * (sequentially consistent atomics).  An allocation that got a chunk in
 * flight waits, after the zone lock is dropped, until the ack clears I.
 *
 * Cost: the free lists touch the bitmap only for blocks of @order or more -
 * once a pageblock at the default, never per frame - with one atomic OR or
 * AND on a word shared by all CPUs (atomic because the host claims without
 * the zone lock and a word spans both zones).  Every allocation reads one I
 * word: a shared line, written only when a command starts and ends.
 *
 * @cmd_lock: the command: @cmd_id, @nr_runs, @runs, @cursor, and
 * @accepting (registered, and no unregistration begun: new commands are
 * taken); the host's calls take it first, then (the ack) zone locks.
 * @ack_seq changes whenever I bits clear; allocations wait on it.
 *
 * Lifetime: the first registration binds the struct to its node.  The
 * geometry (@order, @pgdat, @nr_chunks, @nr_words), @cmd_lock and @ack_seq
 * are set then and never written again: an allocation of one registration
 * may still read them, or sleep on @ack_seq, while the next registration
 * is made, and @ack_seq only ever counts up, so a waiter that read it
 * before an ack always sees it changed.
 */
struct free_bitmap {
	/* Set before the first free_bitmap_register(); never changed after. */
	unsigned int order;

	/* Owned by free_bitmap.c from the first registration on. */
	struct pglist_data *pgdat;
	uint32_t nr_chunks;
	uint32_t nr_words;
	struct spinlock cmd_lock;
	uint32_t cmd_id; /* in flight; 0 when none */
	unsigned int nr_runs;
	uint32_t cursor; /* the chunk the next request starts at */
	bool accepting;
	struct free_page_hint_run runs[FREE_BITMAP_RUNS_MAX];
	atomic_uint ack_seq;

	/*
	 * Statistics of the registration, read racily (an allocation that
	 * waited across a re-registration counts in the new one).
	 */
	atomic_uint_fast64_t requests;	  /* commands that handed over runs */
	atomic_uint_fast64_t hinted_pages;
	atomic_uint_fast64_t acks;
	atomic_uint_fast64_t bad_acks;	  /* refused: not the command in flight */
	atomic_uint_fast64_t alloc_waits; /* allocations that waited */
	atomic_uint_fast64_t alloc_wait_ns;
	atomic_uint_fast64_t lost_claims; /* chunks a request saw but lost */

	_Atomic uint64_t bits[]; /* F, then I: see above */
};

/*
 * The bytes a struct free_bitmap needs for @nr_pages frames at @order; the
 * caller allocates them (zeroed) and keeps them for as long as the node:
 * an allocation may still read the I bits after unregistration.
 */
uint64_t free_bitmap_size(uint64_t nr_pages, unsigned int order);

/*
 * free_bitmap_register - start tracking @pgdat's free chunks in @fb, which
 * was allocated free_bitmap_size() bytes (zeroed) for @pgdat and
 * @fb->order.  @fb may be registered again after free_bitmap_unregister(),
 * on the same node with the same order.
 * Return: 0; -EBUSY when a reporting device or another strategy is
 * registered (or @fb's unregistration still waits for an ack); -EINVAL for
 * an order out of range, or a struct registered before on another node or
 * with another order.
 */
int free_bitmap_register(struct pglist_data *pgdat, struct free_bitmap *fb);

/*
 * Stop tracking.  New hint requests are refused from the start (-ENOENT).
 * A command in flight must be acknowledged first: this waits for the ack
 * (the host may be discarding those chunks right now), and until it comes
 * the bitmap stays registered for the allocation paths, so an allocation
 * that lands on a chunk in flight still waits for the ack.  A second
 * unregistration while one waits returns at once.
 */
void free_bitmap_unregister(struct free_bitmap *fb);

/*
 * free_bitmap_request_hints - the host asks for hints under @cmd_id; up to
 * @max runs of free chunks, of at most @max_pages frames in all (0: no cap;
 * a cap below one chunk still hands one), are claimed (F to I) and written
 * to @runs, the count to *@nr.  The cap bounds what an allocation can find
 * in flight, and so its wait: the host discards it all before the ack.
 * With runs handed over, the command is in flight until
 * free_bitmap_ack(); with none (*@nr 0) nothing is in flight.
 * Return: 0; -EINVAL for a reserved @cmd_id (0, 1) or @max 0 or above
 * FREE_BITMAP_RUNS_MAX; -ENOENT when @fb is not registered or its
 * unregistration has begun; -EBUSY while another command is in flight.
 */
int free_bitmap_request_hints(struct free_bitmap *fb, uint32_t cmd_id,
			      struct free_page_hint_run *runs, unsigned int max,
			      uint64_t max_pages, unsigned int *nr);

/*
 * free_bitmap_ack - the host has discarded the runs of @cmd_id: clear their
 * I bits, set F again for the chunks still free, wake waiting allocations.
 * Return: 0; -EINVAL when @cmd_id is not the command in flight (never
 * asked, acknowledged already, or another id), leaving the bitmap as it
 * was.
 */
int free_bitmap_ack(struct free_bitmap *fb, uint32_t cmd_id);

/*
 * free_bitmap_check - the validator: under every zone lock and the command
 * lock, each F bit is a chunk wholly free and not in flight; each I bit is a
 * chunk of the command in flight, and none is set without one.
 * Return: 0, or -EUCLEAN after logging the first broken invariant.
 */
int free_bitmap_check(struct free_bitmap *fb);

#endif
