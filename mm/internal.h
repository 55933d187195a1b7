/*
 * internal.h - what page_alloc.c and page_reporting.c share.
 */
#ifndef GUESTMM_MM_INTERNAL_H
#define GUESTMM_MM_INTERNAL_H

#include "mm/gfp.h"
#include "mm/page_reporting.h"
#include "mm/page_hinting.h"
#include "mm/free_bitmap.h"

#define MM_ASSERT_HELD(lock)                                                   \
	do {                                                                   \
		if (!spin_is_held(lock))                                       \
			platform_bad_state("%s: lock %s not held", __func__,   \
					   #lock);                             \
	} while (0)

/*
 * zone_free_block_locked - put a free block on the free lists, merging it
 * with free buddies.  The result is Reported only when @reported and every
 * buddy it absorbed were.  @notify: the block was just freed, so it is
 * free-stamped now and an unreported result may request reporting; without
 * it (back from reporting, or at boot) the block keeps its stamps.
 */
void zone_free_block_locked(struct zone *zone, uint32_t pfn, unsigned int order,
			    bool reported, bool notify);

/* Take a free block off its list (any position); clears Reported. */
void zone_del_free_block_locked(struct zone *zone, uint32_t pfn,
				unsigned int order);

void page_reporting_request(struct zone *zone);

/*
 * Page poisoning (page_poison.c): page_poison_fill() writes the node's
 * poison over a block being freed; page_poison_check() reads a block being
 * handed out, and reports the first byte that differs, naming @who.
 * Return (check): true when the block still holds the poison.  The
 * wrappers are what the paths call: one test of a read-mostly bool while
 * poisoning is off.
 */
void page_poison_fill(struct pglist_data *pgdat, uint32_t pfn,
		      unsigned int order);
bool page_poison_check(struct pglist_data *pgdat, uint32_t pfn,
		       unsigned int order, const char *who);

static inline void page_poison_free(struct pglist_data *pgdat, uint32_t pfn,
				    unsigned int order)
{
	if (__builtin_expect(pgdat->page_poison, 0))
		page_poison_fill(pgdat, pfn, order);
}

/* Return: true when the block is known to read zero (a zero poison, intact). */
static inline bool page_poison_alloc(struct pglist_data *pgdat, uint32_t pfn,
				     unsigned int order, const char *who)
{
	if (__builtin_expect(!pgdat->page_poison, 1))
		return false;
	return page_poison_check(pgdat, pfn, order, who) &&
	       pgdat->page_poison_val == 0;
}

/*
 * Set the type byte of @pfn's pageblock; its zone's lock is held.  Free
 * blocks stay on the lists they are on: the caller moves them
 * (page_isolation.c).
 */
void set_pageblock_migratetype(struct pglist_data *pgdat, uint32_t pfn,
			       enum migratetype mt);

/*
 * try_to_compact_pages - an allocation of @order found nothing: compact the
 * node's zones until a block of @order is free (compaction.c).  Called by
 * alloc_pages() holding no lock.  Return: true when it may now succeed.
 */
bool try_to_compact_pages(struct pglist_data *pgdat, unsigned int order);
void compact_node_init(struct compact_node *cn);
/*
 * A compaction or contiguous allocation may follow pgdat->lruvec to zswap
 * and its pool with nothing else holding them: it runs between
 * compact_users_enter() (false: anon_fini() is under way, do nothing) and
 * compact_users_exit(), and anon_fini() calls compact_users_close() - no
 * new one, and every one under way finished - before it frees any of them.
 * anon_init() opens the node again (compact_users_open()).
 */
bool compact_users_enter(struct pglist_data *pgdat);
void compact_users_exit(struct pglist_data *pgdat);
void compact_users_close(struct pglist_data *pgdat);
void compact_users_open(struct pglist_data *pgdat);

/*
 * zones_lock_barrier - take and drop every zone lock of @pgdat.  A hook the
 * free lists call under a zone lock (hinting, the bitmap, free timing) that
 * loaded a pointer before the caller cleared it has returned once this
 * does: after it, nobody uses what the pointer pointed to.
 */
static inline void zones_lock_barrier(struct pglist_data *pgdat)
{
	for (unsigned int z = 0; z < pgdat->nr_zones; z++) {
		spin_lock(&pgdat->node_zones[z].lock);
		spin_unlock(&pgdat->node_zones[z].lock);
	}
}

/*
 * The hooks of the other strategies, called only once the free path's
 * order test (pgdat->hinting_order, ->bitmap_order) has passed:
 *   page_hinting_free_locked   a block of @order was just freed at @pfn
 *                              (after merging): record it (page_hinting.c);
 *   free_bitmap_add_locked     a block of @order went on a free list;
 *   free_bitmap_del_locked     one came off (allocated, merged, moved);
 *   free_bitmap_alloc_wait     an allocation got @pfn: wait while a hint
 *                              over it is in flight (no lock held).
 */
void page_hinting_free_locked(struct zone *zone, uint32_t pfn, unsigned int order);
void free_bitmap_add_locked(struct zone *zone, uint32_t pfn, unsigned int order);
void free_bitmap_del_locked(struct zone *zone, uint32_t pfn, unsigned int order);
void free_bitmap_alloc_wait(struct free_bitmap *fb, uint32_t pfn,
			    unsigned int order);

/*
 * Time one zone_free_block_locked() call into @ft when it is a sampled one
 * (see struct mm_free_timing); @merge does the work and returns the order
 * the block ended at.
 */
typedef unsigned int (*zone_merge_fn)(struct zone *zone, uint32_t pfn,
				      unsigned int order, bool reported,
				      bool notify);
void mm_free_timing_call_locked(struct mm_free_timing *ft, struct zone *zone,
				uint32_t pfn, unsigned int order, bool reported,
				zone_merge_fn merge);

/*
 * The flags of a frame this thread may not own: see page_flags_set().
 * Acquire, because anonymous memory's owner flags (PG_lru, PG_locked, ...)
 * are read with it (mm/swap.h); the free path's readers need only the
 * atomicity.
 */
static inline uint16_t page_flags_read(const struct page *page)
{
	return __atomic_load_n(&page->flags, __ATOMIC_ACQUIRE);
}

/*
 * zone_find_free_block_locked - the free block, of at least @min_order,
 * that frame @pfn lies in now.  A frame lies in at most one free block, and
 * that block's head is @pfn rounded down to the block's order, so the
 * candidates are the MAX_ORDER - @min_order heads @pfn rounds down to: two
 * loads each, not a walk over the frames (seed 003's objection).
 * Return: the head, with *@order set, or PFN_NONE.
 */
static inline uint32_t zone_find_free_block_locked(struct zone *zone,
						   uint32_t pfn,
						   unsigned int min_order,
						   unsigned int *order)
{
	struct pglist_data *pgdat = zone->zone_pgdat;

	MM_ASSERT_HELD(&zone->lock);
	for (unsigned int o = min_order; o < MAX_ORDER; o++) {
		uint32_t head = pfn & ~((1u << o) - 1);
		const struct page *page;

		if (head < zone->zone_start_pfn ||
		    (uint64_t)head + (1ull << o) >
			    (uint64_t)zone->zone_start_pfn + zone->spanned_pages)
			break;
		page = pfn_to_page(pgdat, head);
		/* PG_buddy changes only under the lock held here. */
		if ((page_flags_read(page) & PG_buddy) && page->order == o) {
			*order = o;
			return head;
		}
	}
	return PFN_NONE;
}

/* The worker's zone-lock holds into @st, or with @reset, zeroed. */
void page_reporting_zone_lock_stats(struct page_reporting_dev_info *prdev,
				    struct lock_stats *st, bool reset);

struct lruvec;
/*
 * The anonymous-memory lock classes (LRU, page tables, swap, zswap, zbud)
 * added into @out, or with @reset, zeroed (vmscan.c).
 */
void lruvec_lock_stats(struct lruvec *lruvec,
		       struct lock_stats out[NR_MM_LOCK_CLASSES], bool reset);

/* The clock free blocks are stamped with: ~1.05 ms ticks, wrapping. */
static inline uint32_t page_reporting_now(void)
{
	return (uint32_t)(platform_now_ns() >> 20);
}

/*
 * The free path's test, cheap by design: no lock beyond the zone lock its
 * caller holds, an order compare, a flag test and a subtraction.
 */
static inline void page_reporting_notify_free(struct zone *zone,
					      unsigned int order)
{
	struct pglist_data *pgdat = zone->zone_pgdat;

	if (order < atomic_load_explicit(&pgdat->reporting_order,
					 memory_order_relaxed))
		return;
	if (zone_flag_test(zone, ZONE_REPORTING_REQUESTED))
		return;
	if (zone->free_area[order].nr_free - zone->reported_blocks[order] <=
	    atomic_load_explicit(&pgdat->reporting_hwm, memory_order_relaxed))
		return;
	page_reporting_request(zone);
}

#endif
