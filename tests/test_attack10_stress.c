/*
 * test_attack10_stress.c - the attacker's stress run of anonymous memory:
 * what the two existing stress tests leave out, at once.  Many threads on
 * the machine's two cores (vCPU overcommit: GUESTMM_A10_WORKERS, default
 * 10, plus seven more), each worker with a space of its own that it now and
 * then destroys and creates again while unuse may be mapping into it; a
 * zswap pool limited to 2 % of RAM, so that LRU writeback (evict) runs all
 * the time (the other stress tests end with "written back 0"); the zbud
 * policy unuse by default (GUESTMM_A10_POLICY=migrate for the other), so
 * compaction empties pool pages through try_to_unuse_swp_entry() while
 * reclaim, faults, writeback and frees race it; the allocation-triggered
 * compaction path through order-9 requests; two threads that create and
 * destroy small spaces back to back (a stream of order-0 frees from every
 * CPU id while the contiguous range is being isolated).  At the end every page is
 * verified, and once every space is gone every swap slot must be free.
 * CI runs it under ThreadSanitizer (label "concurrency").
 */
#include "anon_stress.h"

#include <pthread.h>


#define MIB (1ull << 20)
#define RANGE_PAGES 1024 /* 4 MiB a worker */
#define BASE_ADDR (1ull << 30)
#define MAX_WORKERS 32

static struct anon_node node;
static atomic_int workers_left;
static uint64_t seed;
static unsigned long steps;
static uint64_t zero_sum;

struct worker {
	unsigned int id;
	struct mm_space *mm;
	uint64_t sums[RANGE_PAGES];
	atomic_uint_fast64_t rebirths;
};

static struct worker workers[MAX_WORKERS];

static void worker_space_new(struct worker *w)
{
	CHECK_SEED(mm_space_create(node.t.pgdat, &w->mm) == 0, seed, w->id);
	CHECK_SEED(mm_mmap(w->mm, BASE_ADDR, RANGE_PAGES * PAGE_SIZE) == 0, seed, w->id);
	for (uint64_t k = 0; k < RANGE_PAGES; k++)
		w->sums[k] = zero_sum;
}

static void *worker_fn(void *arg)
{
	struct worker *w = arg;
	uint64_t rng = (seed ^ (w->id + 1) * 0xbf58476d1ce4e5b9ull) | 1; /* never 0 */

	platform_set_cpu_id(w->id);
	for (unsigned long step = 0; step < steps; step++) {
		uint64_t r = test_rand(&rng);
		uint64_t i = (r >> 8) % RANGE_PAGES;
		uint64_t addr = BASE_ADDR + i * PAGE_SIZE;

		if (r % 3001 == 0) {
			/* The whole space goes, its swap entries with it. */
			mm_space_destroy(w->mm);
			worker_space_new(w);
			atomic_fetch_add(&w->rebirths, 1);
		} else if (r % 1499 == 0) {
			CHECK_SEED(mm_munmap(w->mm, BASE_ADDR, RANGE_PAGES * PAGE_SIZE) == 0,
				   seed, step);
			CHECK_SEED(mm_mmap(w->mm, BASE_ADDR, RANGE_PAGES * PAGE_SIZE) == 0,
				   seed, step);
			for (uint64_t k = 0; k < RANGE_PAGES; k++)
				w->sums[k] = zero_sum;
		} else if (r % 3 == 0) {
			w->sums[i] = write_page(w->mm, addr, i, step);
		} else {
			uint64_t got = read_page_sum(w->mm, addr);

			if (got != w->sums[i])
				fail_msg("worker %u page %llu step %lu came back different "
					 "(GUESTMM_SEED=%#llx)", w->id, (unsigned long long)i,
					 step, (unsigned long long)seed);
		}
	}
	atomic_fetch_sub(&workers_left, 1);
	return NULL;
}

/*
 * Spaces born and killed as fast as they go: many order-0 frees (pages,
 * page tables, the space itself) from every CPU id, racing the isolation
 * of the contiguous range.
 */
static void *churn_fn(void *arg)
{
	unsigned int id = (unsigned int)(uintptr_t)arg;

	platform_set_cpu_id(id);
	while (atomic_load(&workers_left)) {
		struct mm_space *mm;

		CHECK_SEED(mm_space_create(node.t.pgdat, &mm) == 0, seed, id);
		CHECK_SEED(mm_mmap(mm, BASE_ADDR, 16 * PAGE_SIZE) == 0, seed, id);
		for (uint64_t k = 0; k < 16; k++)
			write_page(mm, BASE_ADDR + k * PAGE_SIZE, k, id);
		mm_space_destroy(mm);
	}
	return NULL;
}

static enum zpool_movable policy;
static void tweak(struct anon_config *c)
{
	c->kswapd = true;
	c->zswap_cfg.max_pool_percent = 2;
	c->zswap_cfg.movable = policy;
}

static void test_overcommit_writeback_unuse_rebirth(void **state)
{
	const char *pol = getenv("GUESTMM_A10_POLICY");
	const char *nw = getenv("GUESTMM_A10_WORKERS");
	unsigned int nr_workers = nw ? (unsigned int)strtoul(nw, NULL, 0) : 10;
	pthread_t w[MAX_WORKERS], rec[2], churn[2], unu, cmp;
	static struct stress_compact cmp_bg;
	struct stress_bg rec_bg[2], unu_bg;
	uint64_t zero[PAGE_SIZE / 8] = { 0 }, rebirths = 0;
	struct anon_stats st;
	struct compact_stats cs;

	if (nr_workers == 0 || nr_workers > MAX_WORKERS)
		nr_workers = 10;
	policy = pol && !strcmp(pol, "migrate") ? ZPOOL_MOVABLE_MIGRATE : ZPOOL_MOVABLE_UNUSE;
	steps = getenv("GUESTMM_STRESS_STEPS") ? strtoul(getenv("GUESTMM_STRESS_STEPS"), NULL, 0)
					       : 40000;
	seed = test_seed();
	zero_sum = page_checksum(zero);
	platform_bad_state_fatal(true);
	/* 40 MiB of pages in 10 spaces over 32 MiB of RAM: always reclaiming. */
	anon_node_init_cfg(&node, 32 * MIB, 256 * MIB, tweak);
	atomic_store(&workers_left, (int)nr_workers);
	for (unsigned int i = 0; i < nr_workers; i++) {
		workers[i].id = i;
		worker_space_new(&workers[i]);
	}
	for (unsigned int i = 0; i < nr_workers; i++)
		assert_int_equal(pthread_create(&w[i], NULL, worker_fn, &workers[i]), 0);
	for (unsigned int i = 0; i < 2; i++) {
		rec_bg[i] = (struct stress_bg){ node.t.pgdat, &workers_left, seed, i, NULL };
		assert_int_equal(pthread_create(&rec[i], NULL, stress_reclaim_fn,
						&rec_bg[i]), 0);
	}
	for (unsigned int i = 0; i < 2; i++)
		assert_int_equal(pthread_create(&churn[i], NULL, churn_fn, (void *)(uintptr_t)i), 0);
	unu_bg = (struct stress_bg){ node.t.pgdat, &workers_left, seed, 1, NULL };
	assert_int_equal(pthread_create(&unu, NULL, stress_unuse_fn, &unu_bg), 0);
	cmp_bg = (struct stress_compact){
		.bg = { node.t.pgdat, &workers_left, seed, 0 },
		.start = (uint32_t)(16 * MIB / PAGE_SIZE), .gfp = GFP_MOVABLE,
	};
	assert_int_equal(pthread_create(&cmp, NULL, stress_compact_fn, &cmp_bg), 0);
	for (unsigned int i = 0; i < nr_workers; i++)
		pthread_join(w[i], NULL);
	for (unsigned int i = 0; i < 2; i++) {
		pthread_join(rec[i], NULL);
		pthread_join(churn[i], NULL);
	}
	pthread_join(unu, NULL);
	pthread_join(cmp, NULL);

	for (unsigned int i = 0; i < nr_workers; i++) {
		for (uint64_t k = 0; k < RANGE_PAGES; k++)
			if (read_page_sum(workers[i].mm, BASE_ADDR + k * PAGE_SIZE) !=
			    workers[i].sums[k])
				fail_msg("worker %u page %llu lost (GUESTMM_SEED=%#llx)", i,
					 (unsigned long long)k, (unsigned long long)seed);
		rebirths += atomic_load(&workers[i].rebirths);
	}
	st = anon_stats_of(&node);
	compact_get_stats(node.t.pgdat, &cs);
	print_message("%s, %u workers: pgsteal %llu pgmajfault %llu unuse %llu zswap unused %llu "
		      "written back %llu limit hits %llu reject_reclaim_fail %llu pswpout %llu; "
		      "spaces reborn %llu; pgmigrate %llu released %llu; contig ok %llu; "
		      "order-9 ok %llu; compact stall %llu\n",
		      zpool_movable_names[policy], nr_workers,
		      (unsigned long long)st.events[PGSTEAL],
		      (unsigned long long)st.events[PGMAJFAULT],
		      (unsigned long long)st.events[SWAP_UNUSE],
		      (unsigned long long)st.zswap.events[ZSWAP_UNUSED_PAGES],
		      (unsigned long long)st.zswap.events[ZSWAP_WRITTEN_BACK_PAGES],
		      (unsigned long long)st.zswap.events[ZSWAP_POOL_LIMIT_HIT],
		      (unsigned long long)st.zswap.events[ZSWAP_REJECT_RECLAIM_FAIL],
		      (unsigned long long)st.events[PSWPOUT], (unsigned long long)rebirths,
		      (unsigned long long)cs.events[PGMIGRATE_SUCCESS],
		      (unsigned long long)cs.events[PGMIGRATE_RELEASED],
		      (unsigned long long)atomic_load(&cmp_bg.contig_ok),
		      (unsigned long long)atomic_load(&cmp_bg.high_ok),
		      (unsigned long long)cs.events[COMPACT_STALL]);
	assert_true(st.zswap.events[ZSWAP_WRITTEN_BACK_PAGES] > 0);
	assert_int_equal(zswap_pool_check(node.t.pgdat->lruvec->zswap), 0);
	for (unsigned int i = 0; i < nr_workers; i++)
		mm_space_destroy(workers[i].mm);
	/* No space left: every slot must be free, with no reclaim to help. */
	st = anon_stats_of(&node);
	if (st.swap_free != st.swap_slots)
		fail_msg("%llu swap slots still taken with every space gone "
			 "(GUESTMM_SEED=%#llx)",
			 (unsigned long long)(st.swap_slots - st.swap_free),
			 (unsigned long long)seed);
	assert_int_equal(st.zswap.stored_pages, 0);
	anon_node_fini(&node);
	platform_bad_state_fatal(false);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_overcommit_writeback_unuse_rebirth),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
