/*
 * test_swap_slots.c - the swap device's slot allocator and its swap cache.
 *
 * Slots: 16 threads, each on a CPU of its own, allocate and free slots
 * (a fixed seed each, a bounded count of operations) on a device that
 * each of them fills alone and on one with many clusters:
 * no slot is handed out twice, every slot comes back, the validator's
 * invariants hold (cluster counts, lists, nr_free).  An allocation looks at
 * a bounded number of slots however full and fragmented the device is
 * (si->scan_max), where a next-fit scan looked at up to all of them.
 *
 * Swap cache: a clean page read back keeps its slot, and reclaiming it
 * again writes nothing (neither a zswap store nor a swap file write); a
 * page written after it came back is written again, and reads back with
 * its new contents.
 */
#define _GNU_SOURCE
#include <pthread.h>

#include "anonutil.h"

#define MIB (1ull << 20)
#define BASE (1ull << 30)
#define NR_THREADS 16
#define HELD_MAX 512	/* slots a thread holds at most */
#define ROUNDS 16	/* of HELD_MAX allocations at most: bounded, under TSan too */

struct slot_node {
	struct test_node t;
	struct swap_io *io;
	struct lruvec *lv;
};

static void slot_node_init(struct slot_node *n, uint64_t swap_bytes,
			   void (*tweak)(struct anon_config *))
{
	const char *dir = getenv("TMPDIR");
	struct anon_config cfg;

	memset(n, 0, sizeof(*n));
	test_node_init(&n->t, 64 * MIB, NR_THREADS);
	assert_int_equal(swap_file_create(dir ? dir : "/tmp", swap_bytes, &n->io), 0);
	anon_config_init(&cfg);
	cfg.swap = n->io;
	cfg.kswapd = false;
	if (getenv("GMM_TEST_ZPOOL")) {
		cfg.zswap_cfg.zpool = zpool_driver_find(getenv("GMM_TEST_ZPOOL"));
		assert_non_null(cfg.zswap_cfg.zpool);
	}
	if (tweak)
		tweak(&cfg);
	assert_int_equal(anon_init(n->t.pgdat, &cfg), 0);
	n->lv = n->t.pgdat->lruvec;
}

static void slot_node_fini(struct slot_node *n)
{
	uint64_t managed = node_managed_pages(n->t.pgdat);

	anon_fini(n->t.pgdat);
	drain_all_pages(n->t.pgdat);
	assert_int_equal(pgdat_free_pages(n->t.pgdat), managed);
	swap_file_destroy(n->io);
	test_node_fini(&n->t);
}

/* ---- slots under 16 threads ---- */

struct slot_run {
	struct slot_node *n;
	_Atomic uint32_t *holder; /* per slot: 0, or the thread that has it + 1 */
	atomic_uint_least64_t twice, allocs, full;
	pthread_barrier_t start; /* all at once, or they run one after the other */
};

struct slot_thread {
	struct slot_run *run;
	unsigned int id;
	pthread_t tid;
};

/* Frame that stands for the thread's slots in the cache: each slot its own page. */
static struct page *slot_page(struct slot_node *n)
{
	struct page *page = alloc_pages(n->t.pgdat, 0, 0);

	assert_non_null(page);
	atomic_store(&page_ext_of(n->t.pgdat, page)->refcount, 1);
	page_flag_set(page, PG_anon);
	return page;
}

static void slot_release(struct slot_run *r, unsigned int id, struct page *page)
{
	struct lruvec *lv = r->n->lv;
	uint32_t slot = page_ext_of(lv->pgdat, page)->swap_slot;
	uint32_t me = id + 1;

	/* Ours until it goes back: nobody else may have been given it. */
	if (!atomic_compare_exchange_strong(&r->holder[slot], &me, 0))
		atomic_fetch_add(&r->twice, 1);
	lock_page(page);
	spin_lock(&lv->si.lock);
	delete_from_swap_cache_locked(lv, page);
	spin_unlock(&lv->si.lock);
	unlock_page(page);
}

/*
 * Rounds of: take a slot for every page that has none (until the device
 * is full), then give back about half.  A thread alone can fill the small
 * device, so the full path runs however the threads are scheduled.
 */
static void *slot_worker(void *arg)
{
	struct slot_thread *th = arg;
	struct slot_run *r = th->run;
	struct lruvec *lv = r->n->lv;
	struct page *pages[HELD_MAX];
	bool held[HELD_MAX] = { false };
	uint64_t seed = 0x9e3779b97f4a7c15ull * (th->id + 1);

	platform_set_cpu_id(th->id);
	for (unsigned int i = 0; i < HELD_MAX; i++)
		pages[i] = slot_page(r->n);
	pthread_barrier_wait(&r->start);
	for (unsigned int round = 0; round < ROUNDS; round++) {
		for (unsigned int i = 0; i < HELD_MAX; i++) {
			uint32_t slot, none = 0;

			if (held[i])
				continue;
			lock_page(pages[i]);
			if (add_to_swap(lv, pages[i])) {
				atomic_fetch_add(&r->full, 1);
				unlock_page(pages[i]);
				break;
			}
			unlock_page(pages[i]);
			held[i] = true;
			atomic_fetch_add(&r->allocs, 1);
			slot = page_ext_of(lv->pgdat, pages[i])->swap_slot;
			if (slot >= lv->si.nr_slots ||
			    !atomic_compare_exchange_strong(&r->holder[slot], &none,
							    th->id + 1))
				atomic_fetch_add(&r->twice, 1);
		}
		for (unsigned int i = 0; i < HELD_MAX; i++) {
			seed ^= seed << 13, seed ^= seed >> 7, seed ^= seed << 17;
			if (held[i] && (seed & 1)) {
				slot_release(r, th->id, pages[i]);
				held[i] = false;
			}
		}
	}
	for (unsigned int i = 0; i < HELD_MAX; i++) {
		if (held[i])
			slot_release(r, th->id, pages[i]);
		atomic_store(&page_ext_of(lv->pgdat, pages[i])->refcount, 0);
		page_flag_clear(pages[i], PG_anon);
		free_pages(lv->pgdat, pages[i], 0);
	}
	return NULL;
}

static void slots_16_threads(uint64_t swap_bytes, bool expect_full)
{
	struct slot_node n;
	struct slot_run r = { .n = &n };
	struct slot_thread th[NR_THREADS];
	struct swap_info *si;

	slot_node_init(&n, swap_bytes, NULL);
	si = &n.lv->si;
	r.holder = calloc(si->nr_slots, sizeof(*r.holder));
	assert_non_null(r.holder);
	pthread_barrier_init(&r.start, NULL, NR_THREADS);
	for (unsigned int i = 0; i < NR_THREADS; i++) {
		th[i] = (struct slot_thread){ .run = &r, .id = i };
		assert_int_equal(pthread_create(&th[i].tid, NULL, slot_worker, &th[i]), 0);
	}
	for (unsigned int i = 0; i < NR_THREADS; i++)
		pthread_join(th[i].tid, NULL);
	print_message("%llu slots: %llu allocations, %llu found it full, "
		      "at most %llu slots looked at by one\n",
		      (unsigned long long)si->nr_slots, (unsigned long long)r.allocs,
		      (unsigned long long)r.full, (unsigned long long)si->scan_max);
	assert_int_equal(r.twice, 0);
	assert_true(r.allocs > 0);
	if (expect_full)
		assert_true(r.full > 0); /* the device was full: that path ran */
	for (uint64_t s = 0; s < si->nr_slots; s++)
		if (atomic_load(&r.holder[s]))
			fail_msg("slot %llu still held by thread %u", (unsigned long long)s,
				 atomic_load(&r.holder[s]) - 1);
	assert_int_equal(si->nr_free, si->nr_slots);
	assert_true(swap_info_check(si));
	free(r.holder);
	pthread_barrier_destroy(&r.start);
	slot_node_fini(&n);
}

/* 16 threads, each able to fill the 300 slots alone. */
static void test_slots_threads_near_full(void **state)
{
	(void)state;
	slots_16_threads(300 * PAGE_SIZE, true);
}

/* The same on 64 MiB (64 clusters): never full, each thread in clusters of its own. */
static void test_slots_threads_clusters(void **state)
{
	(void)state;
	slots_16_threads(64 * MIB, false);
}

/*
 * An allocation's cost does not grow with the device: 256 MiB (65536
 * slots) all taken but one in 1000, then all but one, and the slots the
 * allocations looked at stay within two clusters (the CPU's own, then one
 * from a list), where a next-fit scan walks up to the whole device.
 */
static void test_slots_scan_bounded(void **state)
{
	static const uint64_t every[] = { 1000, 0 };
	struct slot_node n;
	struct swap_info *si;
	uint64_t nr;

	(void)state;
	slot_node_init(&n, 256 * MIB, NULL);
	si = &n.lv->si;
	nr = si->nr_slots;
	for (unsigned int k = 0; k < 2; k++) {
		struct page *page = slot_page(&n);
		uint64_t freed = 0, got = 0;

		/* Fill: one page stands for every slot (only the slot matters). */
		lock_page(page);
		for (uint64_t s = 0; s < nr; s++) {
			assert_int_equal(add_to_swap(n.lv, page), 0);
		}
		assert_int_equal(add_to_swap(n.lv, page), -GMM_ENOSPC);
		/* Free one slot in every[k] (one alone in the middle). */
		for (uint64_t s = 0; s < nr; s++) {
			bool free = every[k] ? s % every[k] == 0 : s == nr / 2;

			if (free) {
				swapcache_release(n.lv, (uint32_t)s);
				freed++;
			}
		}
		spin_lock(&si->lock);
		si->scan_max = 0;
		spin_unlock(&si->lock);
		while (add_to_swap(n.lv, page) == 0)
			got++;
		assert_int_equal(got, freed);
		print_message("free 1 in %s: %llu allocations, at most %llu slots looked at\n",
			      every[k] ? "1000" : "all", (unsigned long long)got,
			      (unsigned long long)si->scan_max);
		assert_true(si->scan_max <= 2 * SWAP_CLUSTER_SLOTS);
		/* Everything back. */
		for (uint64_t s = 0; s < nr; s++)
			swapcache_release(n.lv, (uint32_t)s);
		assert_int_equal(si->nr_free, nr);
		assert_true(swap_info_check(si));
		unlock_page(page);
		atomic_store(&page_ext_of(n.t.pgdat, page)->refcount, 0);
		page_flag_clear(page, PG_anon | PG_swapcache);
		free_pages(n.t.pgdat, page, 0);
		atomic_store(&n.t.pgdat->nr_swapcache, 0);
	}
	slot_node_fini(&n);
}

/* ---- the swap cache ---- */

#define CACHE_PAGES 2048 /* 8 MiB through a 64 MiB node */

static uint64_t cache_sums[CACHE_PAGES];

static uint64_t writes_of(struct lruvec *lv)
{
	uint64_t ev[NR_VM_EVENTS], cached;

	node_get_vm_events(lv->pgdat, ev, &cached);
	return ev[PSWPOUT] + ev[ZSWPOUT];
}

static uint64_t event_of(struct lruvec *lv, enum vm_event e)
{
	uint64_t ev[NR_VM_EVENTS], cached;

	node_get_vm_events(lv->pgdat, ev, &cached);
	return ev[e];
}

static uint64_t rss_of(struct mm_space *mm)
{
	uint64_t rss;

	spin_lock(&mm->ptl);
	rss = mm->rss;
	spin_unlock(&mm->ptl);
	return rss;
}

/* Reclaim until none of @mm's pages is in memory (a few passes: second chances). */
static void reclaim_all(struct slot_node *n, struct mm_space *mm)
{
	for (unsigned int pass = 0; pass < 8 && rss_of(mm); pass++)
		shrink_node(n->lv, CACHE_PAGES * 2);
	assert_int_equal(rss_of(mm), 0);
}

static void no_zswap(struct anon_config *c) { c->zswap = false; }

/*
 * Written, reclaimed, read back (not written), reclaimed again: the second
 * reclaim frees every page and writes none (neither zswap nor the file),
 * and the pages read back as they were.  Then @dirty of them are written
 * with new contents: reclaimed, exactly those are written again, and all
 * read back with their latest contents.
 */
static void clean_then_dirty(void (*tweak)(struct anon_config *), unsigned int dirty)
{
	struct slot_node n;
	struct mm_space *mm;
	uint64_t w0, steal0;

	slot_node_init(&n, 64 * MIB, tweak);
	assert_int_equal(mm_space_create(n.t.pgdat, &mm), 0);
	assert_int_equal(mm_mmap(mm, BASE, CACHE_PAGES * PAGE_SIZE), 0);
	for (uint64_t i = 0; i < CACHE_PAGES; i++)
		cache_sums[i] = write_page(mm, BASE + i * PAGE_SIZE, i, 1);
	reclaim_all(&n, mm);
	for (uint64_t i = 0; i < CACHE_PAGES; i++)
		assert_int_equal(read_page_sum(mm, BASE + i * PAGE_SIZE), cache_sums[i]);

	w0 = writes_of(n.lv);
	steal0 = event_of(n.lv, PGSTEAL);
	reclaim_all(&n, mm);
	print_message("clean re-reclaim: %llu pages freed, %llu written\n",
		      (unsigned long long)(event_of(n.lv, PGSTEAL) - steal0),
		      (unsigned long long)(writes_of(n.lv) - w0));
	assert_true(event_of(n.lv, PGSTEAL) - steal0 >= CACHE_PAGES);
	assert_int_equal(writes_of(n.lv) - w0, 0);
	for (uint64_t i = 0; i < CACHE_PAGES; i++)
		assert_int_equal(read_page_sum(mm, BASE + i * PAGE_SIZE), cache_sums[i]);

	/* Every third page of the first 3 * @dirty written anew. */
	for (uint64_t k = 0; k < dirty; k++)
		cache_sums[3 * k] = write_page(mm, BASE + 3 * k * PAGE_SIZE, 3 * k, 2);
	w0 = writes_of(n.lv);
	reclaim_all(&n, mm);
	print_message("after %u pages written: %llu written\n", dirty,
		      (unsigned long long)(writes_of(n.lv) - w0));
	assert_int_equal(writes_of(n.lv) - w0, dirty);
	for (uint64_t i = 0; i < CACHE_PAGES; i++)
		if (read_page_sum(mm, BASE + i * PAGE_SIZE) != cache_sums[i])
			fail_msg("page %llu came back different", (unsigned long long)i);
	assert_true(swap_info_check(&n.lv->si));
	mm_space_destroy(mm);
	assert_int_equal(n.lv->si.nr_free, n.lv->si.nr_slots);
	slot_node_fini(&n);
}

static void test_cache_clean_rereclaim_zswap(void **state)
{
	(void)state;
	clean_then_dirty(NULL, 300);
}

static void test_cache_clean_rereclaim_file(void **state)
{
	(void)state;
	clean_then_dirty(no_zswap, 300);
}

/*
 * A page written in the same access that faults it back (a write fault)
 * leaves the swap cache at once: its slot is freed, and reclaim writes it
 * again with the new contents.
 */
static void test_cache_write_fault(void **state)
{
	struct slot_node n;
	struct mm_space *mm;
	uint64_t w0;

	(void)state;
	slot_node_init(&n, 64 * MIB, NULL);
	assert_int_equal(mm_space_create(n.t.pgdat, &mm), 0);
	assert_int_equal(mm_mmap(mm, BASE, CACHE_PAGES * PAGE_SIZE), 0);
	for (uint64_t i = 0; i < CACHE_PAGES; i++)
		cache_sums[i] = write_page(mm, BASE + i * PAGE_SIZE, i, 1);
	reclaim_all(&n, mm);
	for (uint64_t i = 0; i < CACHE_PAGES; i++)
		cache_sums[i] = write_page(mm, BASE + i * PAGE_SIZE, i, 3);
	/* Nothing kept: no page in the cache, every slot free. */
	assert_int_equal(n.lv->si.nr_free, n.lv->si.nr_slots);
	w0 = writes_of(n.lv);
	reclaim_all(&n, mm);
	assert_int_equal(writes_of(n.lv) - w0, CACHE_PAGES);
	for (uint64_t i = 0; i < CACHE_PAGES; i++)
		assert_int_equal(read_page_sum(mm, BASE + i * PAGE_SIZE), cache_sums[i]);
	mm_space_destroy(mm);
	assert_int_equal(n.lv->si.nr_free, n.lv->si.nr_slots);
	slot_node_fini(&n);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_slots_scan_bounded),
		cmocka_unit_test(test_slots_threads_near_full),
		cmocka_unit_test(test_slots_threads_clusters),
		cmocka_unit_test(test_cache_clean_rereclaim_zswap),
		cmocka_unit_test(test_cache_clean_rereclaim_file),
		cmocka_unit_test(test_cache_write_fault),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
