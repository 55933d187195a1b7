/*
 * free_timing.c - sampled timing of the zone's free path, so that `guestmm
 * bench strategies` can say what each hinting strategy's hook adds to a free
 * (struct mm_free_timing in gfp.h).  Off, it costs the free path one load.
 */
#include "mm/internal.h"

void mm_free_timing_call_locked(struct mm_free_timing *ft, struct zone *zone,
				uint32_t pfn, unsigned int order, bool reported,
				zone_merge_fn merge)
{
	unsigned int z = (unsigned int)(zone - zone->zone_pgdat->node_zones);
	uint64_t t0, dt;
	unsigned int end;

	MM_ASSERT_HELD(&zone->lock);
	if (ft->zone[z].calls++ % ft->every) {
		merge(zone, pfn, order, reported, true);
		return;
	}
	t0 = platform_now_ns();
	end = merge(zone, pfn, order, reported, true);
	dt = platform_now_ns() - t0;
	if (end >= ft->min_order && ft->zone[z].n < MM_FREE_TIMING_SAMPLES)
		ft->zone[z].ns[ft->zone[z].n++] =
			dt > UINT32_MAX ? UINT32_MAX : (uint32_t)dt;
}

void mm_free_timing_start(struct pglist_data *pgdat, struct mm_free_timing *ft)
{
	for (unsigned int z = 0; z < MAX_NR_ZONES; z++) {
		ft->zone[z].calls = 0;
		ft->zone[z].n = 0;
	}
	if (!ft->every)
		ft->every = 1;
	atomic_store_explicit(&pgdat->free_timing, ft, memory_order_release);
}

void mm_free_timing_stop(struct pglist_data *pgdat)
{
	atomic_store(&pgdat->free_timing, NULL);
	/* A free that loaded @ft does its timing under its zone lock. */
	zones_lock_barrier(pgdat);
}
