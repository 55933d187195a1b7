/*
 * anon_stress.h - the background threads the anonymous-memory stress tests
 * (swap_stress, compaction_stress, attack10_stress) run beside their
 * workers: a reclaimer, an unuser and a compactor, each until the workers
 * are done.
 */
#ifndef GUESTMM_TESTS_ANON_STRESS_H
#define GUESTMM_TESTS_ANON_STRESS_H

#include "anonutil.h"

#include "mm/compaction.h"

struct stress_bg {
	struct pglist_data *pgdat;
	atomic_int *workers_left; /* the thread stops when it reaches 0 */
	uint64_t seed;
	unsigned int cpu;	  /* the CPU id the thread runs as */
	/*
	 * Called before each round, holding nothing (test_torture pauses its
	 * threads there for a checkpoint); NULL: none.
	 */
	void (*step)(struct stress_bg *bg);
};

/* Shrink the node, 64 pages at a time. */
static inline void *stress_reclaim_fn(void *arg)
{
	struct stress_bg *bg = arg;

	platform_set_cpu_id(bg->cpu);
	while (atomic_load(bg->workers_left)) {
		if (bg->step)
			bg->step(bg);
		shrink_node(bg->pgdat->lruvec, 64);
	}
	return NULL;
}

/* Empty zbud pages found by walking the memmap (reclaim_pages: unuse or
 * migrate, the pool's policy) and unuse swap slots at random. */
static inline void *stress_unuse_fn(void *arg)
{
	struct stress_bg *bg = arg;
	struct pglist_data *pgdat = bg->pgdat;
	struct zswap *zs = pgdat->lruvec->zswap;
	const struct zpool_driver *drv = zswap_zpool_driver(zs);
	uint64_t rng = bg->seed * 3;
	uint32_t pfn = 0;

	platform_set_cpu_id(bg->cpu);
	while (atomic_load(bg->workers_left)) {
		struct page *batch[8];
		unsigned int n = 0, freed;

		if (bg->step)
			bg->step(bg);
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

struct stress_compact {
	struct stress_bg bg;
	uint32_t start;		/* the contiguous range taken: one MAX_ORDER block */
	unsigned int gfp;	/* the order-9 requests' flags */
	atomic_uint_fast64_t contig_ok, contig_busy, high_ok;
};

/* In turn: a full compaction, the contiguous range taken, written and
 * given back, and an order-9 block asked for (compaction from the
 * allocation path). */
static inline void *stress_compact_fn(void *arg)
{
	struct stress_compact *sc = arg;
	struct pglist_data *pgdat = sc->bg.pgdat;
	uint32_t end = sc->start + MAX_ORDER_NR_PAGES;
	uint64_t seed = sc->bg.seed;
	unsigned int round = 0;

	platform_set_cpu_id(sc->bg.cpu);
	while (atomic_load(sc->bg.workers_left)) {
		struct compact_result res = { 0 };
		struct page *page;
		int err;

		switch (round++ % 3) {
		case 0:
			CHECK_SEED(compact_node(pgdat, -1, &res) == 0, seed, round);
			break;
		case 1:
			err = alloc_contig_range(pgdat, sc->start, end, &res);
			CHECK_SEED(err == 0 || err == -GMM_EBUSY || err == -GMM_ENOMEM,
				   seed, round);
			if (!err) {
				memset(page_address(pgdat, pfn_to_page(pgdat, sc->start)),
				       0x5a, MAX_ORDER_NR_PAGES * PAGE_SIZE);
				CHECK_SEED(free_contig_range(pgdat, sc->start, end) == 0,
					   seed, round);
				atomic_fetch_add(&sc->contig_ok, 1);
			} else {
				atomic_fetch_add(&sc->contig_busy, 1);
			}
			break;
		default:
			page = alloc_pages(pgdat, sc->gfp, PAGEBLOCK_ORDER);
			if (page) {
				free_pages(pgdat, page, PAGEBLOCK_ORDER);
				atomic_fetch_add(&sc->high_ok, 1);
			}
			break;
		}
	}
	return NULL;
}

#endif
