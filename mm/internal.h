/*
 * internal.h - what page_alloc.c and page_reporting.c share.
 */
#ifndef GUESTMM_MM_INTERNAL_H
#define GUESTMM_MM_INTERNAL_H

#include "mm/gfp.h"
#include "mm/page_reporting.h"

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
