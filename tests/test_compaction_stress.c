/*
 * test_compaction_stress.c - compaction, contiguous allocation, reclaim,
 * swap-in, unuse and frees at once, on several threads, over one space: two
 * workers write and verify their own ranges and now and then unmap and
 * remap them (frees); a reclaimer shrinks the node; an unuser empties zbud
 * pages through reclaim_pages and unuses swap slots at random; a compactor
 * runs full compactions, takes and gives back a contiguous range, and asks
 * for order-9 blocks (the allocation-triggered path); kswapd runs too.  The
 * zbud pool is movable (policy migrate), so compaction moves pool pages
 * while zswap maps and frees their objects.  At the end every page is
 * verified and the validators run.  CI runs it under ThreadSanitizer (label
 * "concurrency").
 */
#include "anon_stress.h"

#include <pthread.h>


#define MIB (1ull << 20)
#define RANGE_PAGES (10 * MIB / PAGE_SIZE)
#define NR_WORKERS 2

static struct anon_node node;
static struct mm_space *space;
static atomic_int workers_left;
static uint64_t seed;

struct worker {
	unsigned int id;
	uint64_t base;
	uint64_t sums[RANGE_PAGES];
	uint64_t zero_sum;
};

static struct worker workers[NR_WORKERS];

static void *worker_fn(void *arg)
{
	struct worker *w = arg;
	uint64_t rng = (seed ^ (w->id + 1) * 0xbf58476d1ce4e5b9ull) | 1; /* never 0 */
	unsigned long steps = getenv("GUESTMM_STRESS_STEPS")
				      ? strtoul(getenv("GUESTMM_STRESS_STEPS"), NULL, 0)
				      : 40000;

	platform_set_cpu_id(w->id);
	for (unsigned long step = 0; step < steps; step++) {
		uint64_t r = test_rand(&rng);
		uint64_t i = (r >> 8) % RANGE_PAGES;
		uint64_t addr = w->base + i * PAGE_SIZE;

		if (r % 2000 == 0) {
			CHECK_SEED(mm_munmap(space, w->base, RANGE_PAGES * PAGE_SIZE) == 0, seed, step);
			CHECK_SEED(mm_mmap(space, w->base, RANGE_PAGES * PAGE_SIZE) == 0, seed, step);
			for (uint64_t k = 0; k < RANGE_PAGES; k++)
				w->sums[k] = w->zero_sum;
		} else if (r % 3 == 0) {
			w->sums[i] = write_page(space, addr, i, step);
		} else {
			CHECK_SEED(read_page_sum(space, addr) == w->sums[i], seed, step);
		}
	}
	atomic_fetch_sub(&workers_left, 1);
	return NULL;
}

static void kswapd_on(struct anon_config *c) { c->kswapd = true; }

static void test_compaction_reclaim_swapin_unuse_free(void **state)
{
	pthread_t w[NR_WORKERS], rec, unu, cmp;
	static struct stress_compact cmp_bg;
	struct stress_bg rec_bg, unu_bg;
	struct mm_space *mm;
	struct anon_stats st;
	struct compact_stats cs;
	uint64_t zero[PAGE_SIZE / 8] = { 0 };

	seed = test_seed();
	platform_bad_state_fatal(true);
	anon_node_init_cfg(&node, 32 * MIB, 64 * MIB, kswapd_on);
	assert_int_equal(mm_space_create(node.t.pgdat, &mm), 0);
	space = mm;
	atomic_store(&workers_left, NR_WORKERS);
	for (unsigned int i = 0; i < NR_WORKERS; i++) {
		workers[i].id = i;
		workers[i].base = (1ull << 30) + i * (1ull << 30);
		workers[i].zero_sum = page_checksum(zero);
		for (uint64_t k = 0; k < RANGE_PAGES; k++)
			workers[i].sums[k] = workers[i].zero_sum;
		assert_int_equal(mm_mmap(mm, workers[i].base, RANGE_PAGES * PAGE_SIZE), 0);
	}
	for (unsigned int i = 0; i < NR_WORKERS; i++)
		assert_int_equal(pthread_create(&w[i], NULL, worker_fn, &workers[i]), 0);
	rec_bg = (struct stress_bg){ node.t.pgdat, &workers_left, seed, 0, NULL };
	unu_bg = (struct stress_bg){ node.t.pgdat, &workers_left, seed, 1, NULL };
	assert_int_equal(pthread_create(&rec, NULL, stress_reclaim_fn, &rec_bg), 0);
	assert_int_equal(pthread_create(&unu, NULL, stress_unuse_fn, &unu_bg), 0);
	cmp_bg = (struct stress_compact){
		.bg = { node.t.pgdat, &workers_left, seed, 0 },
		.start = (uint32_t)(20 * MIB / PAGE_SIZE), .gfp = 0,
	};
	assert_int_equal(pthread_create(&cmp, NULL, stress_compact_fn, &cmp_bg), 0);
	for (unsigned int i = 0; i < NR_WORKERS; i++)
		pthread_join(w[i], NULL);
	pthread_join(rec, NULL);
	pthread_join(unu, NULL);
	pthread_join(cmp, NULL);

	for (unsigned int i = 0; i < NR_WORKERS; i++)
		for (uint64_t k = 0; k < RANGE_PAGES; k++)
			if (read_page_sum(mm, workers[i].base + k * PAGE_SIZE) != workers[i].sums[k])
				fail_msg("worker %u page %llu lost (GUESTMM_SEED=%#llx)", i,
					 (unsigned long long)k, (unsigned long long)seed);
	st = anon_stats_of(&node);
	compact_get_stats(node.t.pgdat, &cs);
	print_message("pgsteal %llu pgmajfault %llu unuse %llu; pgmigrate %llu failed %llu "
		      "released %llu; contig ok %llu busy %llu; order-9 ok %llu; "
		      "compact stall %llu\n",
		      (unsigned long long)st.events[PGSTEAL],
		      (unsigned long long)st.events[PGMAJFAULT],
		      (unsigned long long)st.events[SWAP_UNUSE],
		      (unsigned long long)cs.events[PGMIGRATE_SUCCESS],
		      (unsigned long long)cs.events[PGMIGRATE_FAIL],
		      (unsigned long long)cs.events[PGMIGRATE_RELEASED],
		      (unsigned long long)atomic_load(&cmp_bg.contig_ok),
		      (unsigned long long)atomic_load(&cmp_bg.contig_busy),
		      (unsigned long long)atomic_load(&cmp_bg.high_ok),
		      (unsigned long long)cs.events[COMPACT_STALL]);
	assert_true(st.events[PGSTEAL] > 0 && st.events[PGMAJFAULT] > 0);
	assert_true(cs.events[PGMIGRATE_SUCCESS] > 0);
	assert_int_equal(zswap_pool_check(node.t.pgdat->lruvec->zswap), 0);
	mm_space_destroy(mm);
	st = anon_stats_of(&node);
	assert_int_equal(st.swap_free, st.swap_slots);
	anon_node_fini(&node);
	platform_bad_state_fatal(false);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_compaction_reclaim_swapin_unuse_free),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
