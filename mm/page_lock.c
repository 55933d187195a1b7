/*
 * page_lock.c - the page lock's waiters sleep.
 *
 * The page lock (PG_locked, mm/swap.h) is held across swap I/O, a zswap
 * store's compression, a migration's copy: for microseconds to tens of
 * milliseconds.  A waiter that spins and yields for that long burns the
 * core the holder needs when vCPU threads outnumber cores (attack10: 15
 * waiters burned 24-46 ms of CPU per 40 ms hold).  So, as Linux's
 * folio_wait_bit_common() does, a waiter spins briefly and then sleeps:
 *
 *   - it sets PG_waiters beside PG_locked and parks (platform_park(), a
 *     futex) on the sequence word of a bucket of a small hashed table, as
 *     Linux hashes pages onto its page_wait_table: struct page stays 16
 *     bytes, and a page nobody waits for costs nothing;
 *   - unlock_page() clears both bits in one atomic, and only when
 *     PG_waiters was set bumps the bucket's sequence and wakes everything
 *     parked on it.  Every sleeper on the bucket wakes, those of other
 *     pages too (a collision, rare with 256 buckets for the few pages
 *     waited on at a time), and each tries again: one takes the lock, the
 *     others set PG_waiters again and park.  Waking one would leave the
 *     others asleep behind a cleared PG_waiters.
 *
 * The lost wake-up, and why it cannot happen: a waiter reads the bucket's
 * sequence, then sets PG_waiters with a compare-and-swap that sees PG_locked
 * set, then parks while the sequence is unchanged.  Its swap is a
 * read-modify-write of the flags word, so the unlock's fetch_and comes after
 * it in that word's modification order and sees PG_waiters; the unlock bumps
 * the sequence after its fetch_and.  All four are sequentially consistent,
 * so the waiter's read of the sequence precedes the bump in their single
 * total order: either the park finds the sequence changed and returns, or it
 * sleeps before the wake that follows the bump.  The waiter does the swap
 * even when PG_waiters is already set (writing the same word), for this
 * ordering: a plain load of a set PG_waiters would not give it.
 */
#include <limits.h>

#include "mm/swap.h"

/*
 * Spins before parking, in pause instructions (~28 ns each here): ~7 us,
 * a short hold (a migration's copy of a page, a same-filled store).  The
 * holds that matter (I/O, compression, a writeback batch) are longer by
 * orders of magnitude, and a futex sleep and wake-up costs some tens of
 * microseconds: spinning longer pays only when the holder is running and
 * about to unlock.  Pauses only, never a yield: a waiter that would yield
 * had better sleep.
 */
#define PAGE_LOCK_SPINS 256

#define PAGE_WAIT_TABLE_BITS 8

/* A cache line each, so that unrelated pages' wake-ups do not share one. */
struct page_wait_bucket {
	atomic_uint seq; /* bumped by each unlock that finds PG_waiters set */
} __attribute__((aligned(64)));

static struct page_wait_bucket page_wait_table[1u << PAGE_WAIT_TABLE_BITS];

static struct page_wait_bucket *page_wait_bucket_of(const struct page *page)
{
	/* struct page is 16 bytes: the bits above those are the frame's. */
	uint64_t h = ((uintptr_t)page >> 4) * 0x9e3779b97f4a7c15ull;

	return &page_wait_table[h >> (64 - PAGE_WAIT_TABLE_BITS)];
}

void lock_page_wait(struct page *page)
{
	struct page_wait_bucket *b = page_wait_bucket_of(page);

	for (unsigned int spins = 0; spins < PAGE_LOCK_SPINS; spins++) {
		platform_cpu_relax(0);
		if (!(page_flags_read(page) & PG_locked) && trylock_page(page))
			return;
	}
	for (;;) {
		unsigned int seq = atomic_load(&b->seq);
		uint16_t old = __atomic_load_n(&page->flags, __ATOMIC_RELAXED);

		if (!(old & PG_locked)) {
			if (__atomic_compare_exchange_n(&page->flags, &old,
							(uint16_t)(old | PG_locked),
							false, __ATOMIC_ACQUIRE,
							__ATOMIC_RELAXED))
				return;
			continue;
		}
		if (!__atomic_compare_exchange_n(&page->flags, &old,
						 (uint16_t)(old | PG_waiters), false,
						 __ATOMIC_SEQ_CST, __ATOMIC_RELAXED))
			continue; /* the flags changed: look again */
		platform_park(&b->seq, seq);
	}
}

void unlock_page_wake(struct page *page)
{
	struct page_wait_bucket *b = page_wait_bucket_of(page);

	atomic_fetch_add(&b->seq, 1);
	platform_wake(&b->seq, INT_MAX);
}
