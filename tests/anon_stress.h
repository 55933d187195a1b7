/*
 * anon_stress.h - the background threads the anonymous-memory stress tests
 * (swap_stress, compaction_stress, attack10_stress) run beside their
 * workers: a reclaimer and an unuser, each until the workers are done.
 */
#ifndef GUESTMM_TESTS_ANON_STRESS_H
#define GUESTMM_TESTS_ANON_STRESS_H

#include "anonutil.h"

struct stress_bg {
	struct pglist_data *pgdat;
	atomic_int *workers_left; /* the thread stops when it reaches 0 */
	uint64_t seed;
	unsigned int cpu;	  /* the CPU id the thread runs as */
};

/* Shrink the node, 64 pages at a time. */
static inline void *stress_reclaim_fn(void *arg)
{
	const struct stress_bg *bg = arg;

	platform_set_cpu_id(bg->cpu);
	while (atomic_load(bg->workers_left))
		shrink_node(bg->pgdat->lruvec, 64);
	return NULL;
}

/* Empty zbud pages found by walking the memmap (reclaim_pages: unuse or
 * migrate, the pool's policy) and unuse swap slots at random. */
static inline void *stress_unuse_fn(void *arg)
{
	const struct stress_bg *bg = arg;
	struct pglist_data *pgdat = bg->pgdat;
	struct zswap *zs = pgdat->lruvec->zswap;
	const struct zpool_driver *drv = zswap_zpool_driver(zs);
	uint64_t rng = bg->seed * 3;
	uint32_t pfn = 0;

	platform_set_cpu_id(bg->cpu);
	while (atomic_load(bg->workers_left)) {
		struct page *batch[8];
		unsigned int n = 0, freed;

		for (unsigned int scanned = 0; scanned < 4096 && n < 8; scanned++) {
			struct page *page;

			pfn = (pfn + 1) % (uint32_t)pgdat->node_spanned_pages;
			page = pfn_to_page(pgdat, pfn);
			if (drv->owns_page(zswap_pool(zs), page))
				batch[n++] = page;
		}
		drv->reclaim_pages(zswap_pool(zs), batch, n, &freed);
		try_to_unuse_swp_entry(pgdat->lruvec,
				       (uint32_t)(test_rand(&rng) % pgdat->lruvec->si.nr_slots));
	}
	return NULL;
}

#endif
