/*
 * test_attack10.c - reproducers from the attacker review of anonymous
 * memory, zswap, zbud, swap and compaction (branch attack10).  Each test
 * names the defect it shows; docs/results.md is not involved.
 */
#include "anonutil.h"

#include <pthread.h>
#include <unistd.h>

#include "mm/compaction.h"
#include "mm/free_bitmap.h"

#define MIB (1ull << 20)
#define BASE (1ull << 30)
#define BASE_B (2ull << 30)

/* Migration targets straight from the allocator. */
struct plain_target {
	struct migrate_target t;
	struct pglist_data *pgdat;
};

static struct page *plain_get(struct migrate_target *t)
{
	return alloc_pages(((struct plain_target *)t)->pgdat, GFP_MOVABLE, 0);
}

static void plain_put(struct migrate_target *t, struct page *page)
{
	free_pages(((struct plain_target *)t)->pgdat, page, 0);
}

/* ---- 1. the bitmap strategy: chunks in flight taken by compaction ---- */

/*
 * The host's side of the bitmap strategy, as guest/hint_host.c plays it: it
 * has claimed runs (free_bitmap_request_hints()) and discards them - here
 * the bytes are zeroed, as MADV_DONTNEED leaves anonymous memory - then
 * acknowledges.  It discards once the guest says it is done with its step,
 * or after a second if the guest is (rightly) waiting for the ack.
 */
struct fake_host {
	struct pglist_data *pgdat;
	struct free_bitmap *fb;
	uint32_t cmd;
	struct free_page_hint_run runs[FREE_BITMAP_RUNS_MAX];
	unsigned int nr;
	atomic_bool guest_done;
	atomic_bool discarded;
};

static void *fake_host_fn(void *arg)
{
	struct fake_host *h = arg;

	for (int i = 0; i < 1000 && !atomic_load(&h->guest_done); i++)
		usleep(1000);
	for (unsigned int i = 0; i < h->nr; i++)
		memset(page_address(h->pgdat, pfn_to_page(h->pgdat, h->runs[i].pfn)), 0,
		       (size_t)h->runs[i].nr_pages * PAGE_SIZE);
	atomic_store(&h->discarded, true);
	assert_int_equal(free_bitmap_ack(h->fb, h->cmd), 0);
	return NULL;
}

static struct free_bitmap *bitmap_on(struct pglist_data *pgdat, unsigned int order)
{
	struct free_bitmap *fb = calloc(1, free_bitmap_size(pgdat->node_spanned_pages, order));

	assert_non_null(fb);
	fb->order = order;
	assert_int_equal(free_bitmap_register(pgdat, fb), 0);
	return fb;
}

static void host_claim(struct fake_host *h, struct pglist_data *pgdat,
		       struct free_bitmap *fb)
{
	memset(h, 0, sizeof(*h));
	h->pgdat = pgdat;
	h->fb = fb;
	h->cmd = 2;
	assert_int_equal(free_bitmap_request_hints(fb, h->cmd, h->runs,
						   FREE_BITMAP_RUNS_MAX, 0, &h->nr), 0);
	assert_true(h->nr > 0);
}

/*
 * alloc_contig_range() takes the range's free blocks off the lists and
 * hands the range out, but - unlike alloc_pages() - never waits for a chunk
 * the host has claimed: the caller writes the range, the host's discard
 * lands on it, and the caller's data is gone.
 */
static void test_contig_range_waits_for_bitmap_ack(void **state)
{
	struct anon_node n;
	struct pglist_data *pgdat;
	struct free_bitmap *fb;
	struct fake_host h;
	pthread_t host;
	uint32_t start = 0, end;
	unsigned char *p;
	int err;

	anon_node_init_cfg(&n, 64 * MIB, 64 * MIB, NULL);
	pgdat = n.t.pgdat;
	fb = bitmap_on(pgdat, PAGEBLOCK_ORDER);
	host_claim(&h, pgdat, fb);
	/* A 4 MiB range wholly inside a run the host now holds. */
	for (unsigned int i = 0; i < h.nr && !start; i++) {
		uint32_t s = (h.runs[i].pfn + MAX_ORDER_NR_PAGES - 1) &
			     ~(uint32_t)(MAX_ORDER_NR_PAGES - 1);

		if (s >= pgdat->reserved_pages &&
		    s + MAX_ORDER_NR_PAGES <= h.runs[i].pfn + h.runs[i].nr_pages)
			start = s;
	}
	assert_true(start != 0);
	end = start + MAX_ORDER_NR_PAGES;
	assert_int_equal(pthread_create(&host, NULL, fake_host_fn, &h), 0);
	err = alloc_contig_range(pgdat, start, end, NULL);
	assert_int_equal(err, 0);
	/* Ours: write it whole, as any user of the range does. */
	p = page_address(pgdat, pfn_to_page(pgdat, start));
	memset(p, 0xa5, (size_t)MAX_ORDER_NR_PAGES * PAGE_SIZE);
	atomic_store(&h.guest_done, true);
	pthread_join(host, NULL);
	for (size_t i = 0; i < (size_t)MAX_ORDER_NR_PAGES * PAGE_SIZE; i++)
		if (p[i] != 0xa5)
			fail_msg("byte %zu of the contiguous range [%#x, %#x) is %#x after "
				 "the host's discard: the range was handed out while the host "
				 "held it", i, start, end, p[i]);
	assert_int_equal(free_contig_range(pgdat, start, end), 0);
	assert_int_equal(free_bitmap_check(fb), 0);
	free_bitmap_unregister(fb);
	anon_node_fini(&n);
	free(fb);
}

/*
 * Compaction's free scanner takes free frames as migration targets straight
 * off the lists (take_free_block_locked()) and copies pages into them; with
 * the bitmap strategy at an order below the pageblock's (--hinting bitmap
 * --report-order 6), those frames may be in a chunk the host is discarding.
 */
static void test_compaction_target_waits_for_bitmap_ack(void **state)
{
	struct anon_node n;
	struct pglist_data *pgdat;
	struct free_bitmap *fb;
	struct mm_space *keep, *junk;
	struct compact_result res = { 0 };
	struct fake_host h;
	pthread_t host;
	uint64_t pages = 8192, *sums = calloc(pages, sizeof(*sums));
	uint64_t bad = 0;

	anon_node_init_cfg(&n, 128 * MIB, 64 * MIB, NULL);
	pgdat = n.t.pgdat;
	/*
	 * Runs of 128 pages, alternately kept and thrown away: holes of order
	 * 6 and more between pages that compaction moves.
	 */
	assert_int_equal(mm_space_create(pgdat, &keep), 0);
	assert_int_equal(mm_space_create(pgdat, &junk), 0);
	assert_int_equal(mm_mmap(keep, BASE, pages * PAGE_SIZE), 0);
	assert_int_equal(mm_mmap(junk, BASE_B, pages * PAGE_SIZE), 0);
	for (uint64_t i = 0; i < pages; i += 128) {
		for (uint64_t k = i; k < i + 128; k++)
			sums[k] = write_page(keep, BASE + k * PAGE_SIZE, k, 1);
		for (uint64_t k = i; k < i + 128; k++)
			write_page(junk, BASE_B + k * PAGE_SIZE, k, 2);
	}
	mm_space_destroy(junk);
	drain_all_pages(pgdat);
	fb = bitmap_on(pgdat, 6);
	host_claim(&h, pgdat, fb);
	assert_int_equal(pthread_create(&host, NULL, fake_host_fn, &h), 0);
	assert_int_equal(compact_node(pgdat, -1, &res), 0);
	atomic_store(&h.guest_done, true);
	pthread_join(host, NULL);
	print_message("compaction moved %llu pages; the host held %u runs\n",
		      (unsigned long long)res.migrate.moved, h.nr);
	assert_true(res.migrate.moved > 0);
	for (uint64_t i = 0; i < pages; i++)
		bad += read_page_sum(keep, BASE + i * PAGE_SIZE) != sums[i];
	if (bad)
		fail_msg("%llu of %llu pages came back different after compaction: "
			 "moved into chunks the host discarded",
			 (unsigned long long)bad, (unsigned long long)pages);
	assert_int_equal(free_bitmap_check(fb), 0);
	mm_space_destroy(keep);
	free_bitmap_unregister(fb);
	anon_node_fini(&n);
	free(fb);
	free(sums);
}

/* ---- 2. a free racing the isolation of its pageblock ---- */

/*
 * The executable is linked with -Wl,--wrap=spin_trylock: a thread that
 * arms pause_next_trylock runs pause_hook() just before its next trylock,
 * which is where free_pages() stood between reading the pageblock's type
 * and taking the per-CPU lock - the window this test holds open.
 */
bool __real_spin_trylock(struct spinlock *lock);
bool __wrap_spin_trylock(struct spinlock *lock);
static _Thread_local bool pause_next_trylock;
static void (*pause_hook)(void);

bool __wrap_spin_trylock(struct spinlock *lock)
{
	if (pause_next_trylock) {
		pause_next_trylock = false;
		pause_hook();
	}
	return __real_spin_trylock(lock);
}

static struct pglist_data *race_pgdat;
static uint32_t race_start, race_end, race_frame;
static atomic_bool race_seen, in_window;

/* Inside free_pages(): wait for the isolation, and its drain, to be over. */
static void wait_for_isolation(void)
{
	atomic_store(&in_window, true);
	for (int i = 0; i < 200000 &&
	     get_pageblock_migratetype(race_pgdat, race_frame) != MIGRATE_ISOLATE; i++)
		usleep(10);
	drain_all_pages(race_pgdat); /* what start_isolate's caller does next */
}

static void *racing_free_fn(void *arg)
{
	struct page *page;

	platform_set_cpu_id(1);
	pause_hook = wait_for_isolation;
	pause_next_trylock = true;
	assert_int_equal(free_pages(race_pgdat, pfn_to_page(race_pgdat, race_frame), 0), 0);
	pause_next_trylock = false;
	/* The next allocation on this CPU: from inside the isolated range? */
	page = alloc_pages(race_pgdat, GFP_MOVABLE, 0);
	if (page) {
		uint32_t pfn = page_to_pfn(race_pgdat, page);

		if (pfn >= race_start && pfn < race_end &&
		    get_pageblock_migratetype(race_pgdat, pfn) == MIGRATE_ISOLATE)
			atomic_store(&race_seen, true);
		free_pages(race_pgdat, page, 0);
	}
	return NULL;
}

/*
 * free_pages() read the pageblock's type before it took the per-CPU lock:
 * a frame freed across alloc_contig_range()'s isolation and drain went onto
 * a per-CPU list as MOVABLE, and the next allocation on that CPU took it
 * from inside the isolated range (in the attack10 stress run: "contig:
 * target pfn inside the isolated range", a migration target of the range's
 * own emptying).  An unmovable frame keeps the range isolated meanwhile.
 */
static void test_free_racing_isolation(void **state)
{
	struct anon_node n;
	struct page *pin, *held[4096];
	unsigned int nheld = 0;
	pthread_t t;
	int attempts;

	anon_node_init_cfg(&n, 64 * MIB, 64 * MIB, NULL);
	race_pgdat = n.t.pgdat;
	/*
	 * The pin: a frame allocated and never marked by an owner, which
	 * alloc_contig_range() finds unmovable on two passes and gives up
	 * (-EBUSY).  A pinned anonymous page would hold the range for all
	 * 64 passes, minutes on a loaded machine; the unmovable tables that
	 * used to share its 4 MiB ended it after two passes as this does.
	 */
	pin = alloc_pages(race_pgdat, GFP_MOVABLE, 0);
	assert_non_null(pin);
	race_start = page_to_pfn(race_pgdat, pin) & ~(uint32_t)(MAX_ORDER_NR_PAGES - 1);
	race_end = race_start + MAX_ORDER_NR_PAGES;
	assert_true(race_start >= race_pgdat->reserved_pages);
	for (attempts = 0; attempts < 20 && !atomic_load(&race_seen); attempts++) {
		struct page *f = NULL;

		/* A frame of the range, ours to free. */
		while (nheld < 4096 && !f) {
			struct page *p = alloc_pages(race_pgdat, GFP_MOVABLE, 0);
			uint32_t pfn;

			assert_non_null(p);
			pfn = page_to_pfn(race_pgdat, p);
			if (pfn >= race_start && pfn < race_end)
				f = p;
			else
				held[nheld++] = p;
		}
		assert_non_null(f);
		race_frame = page_to_pfn(race_pgdat, f);
		atomic_store(&in_window, false);
		assert_int_equal(pthread_create(&t, NULL, racing_free_fn, NULL), 0);
		/* Isolate once the free has read the type, or would have. */
		for (int i = 0; i < 200000 && !atomic_load(&in_window); i++)
			usleep(10);
		/* The pin keeps the range from being taken: -EBUSY in the end. */
		assert_int_equal(alloc_contig_range(race_pgdat, race_start, race_end, NULL),
				 -GMM_EBUSY);
		pthread_join(t, NULL);
	}
	free_pages(race_pgdat, pin, 0);
	while (nheld)
		free_pages(race_pgdat, held[--nheld], 0);
	if (atomic_load(&race_seen))
		fail_msg("an allocation took a frame of an isolated pageblock from a per-CPU "
			 "list after the isolation's drain (attempt %d)", attempts);
	anon_node_fini(&n);
}

/* ---- 3. a zap that meets a locked swap cache page leaves it behind ---- */

/*
 * Linked with -Wl,--wrap=spin_lock too: a thread that arms pause_at_lock
 * runs pause_lock_hook() just before it takes that lock.
 */
void __real_spin_lock(struct spinlock *lock);
void __wrap_spin_lock(struct spinlock *lock);
static _Thread_local struct spinlock *pause_at_lock;
static void (*pause_lock_hook)(void);

void __wrap_spin_lock(struct spinlock *lock)
{
	if (pause_at_lock && lock == pause_at_lock) {
		pause_at_lock = NULL;
		pause_lock_hook();
	}
	__real_spin_lock(lock);
}

static struct mm_space *zap_mm;
static struct swap_info *zap_si;
static struct swap_slot *zap_slot;
static pthread_t zap_thread;

static uint32_t zap_slot_count(void)
{
	uint32_t c;

	spin_lock(&zap_si->lock);
	c = zap_slot->count;
	spin_unlock(&zap_si->lock);
	return c;
}

static void *zap_fn(void *arg)
{
	assert_int_equal(mm_munmap(zap_mm, BASE, PAGE_SIZE), 0);
	return NULL;
}

/*
 * Migration holds the page lock here: the space unmaps its page meanwhile.
 * Once the zap has dropped the PTE's hold on the slot, it either gives the
 * page up at once (trylock) or waits for our lock: a moment for the former.
 */
static void unmap_meanwhile(void)
{
	assert_int_equal(pthread_create(&zap_thread, NULL, zap_fn, NULL), 0);
	for (int i = 0; i < 200000 && zap_slot_count() != SWAP_HAS_CACHE; i++)
		usleep(10);
	usleep(20000);
}

/*
 * zap_pte() drops the slot of a swap PTE and, when only the swap cache
 * holds the slot then, frees the cache page - if trylock_page() gets it:
 * "a locked page is left: its holder rechecks the slot's count".
 * migrate_anon_page() holds the page lock of a swap cache page and never
 * rechecks; nor does try_to_unuse_swp_entry() when the owner is dying.
 * The page and its slot stay taken with no PTE left, until reclaim
 * happens to scan the page.  Here: a page kept in the swap cache by
 * reclaim (it was pinned), unmapped while compaction migrates it.
 */
static void test_zap_meets_locked_swapcache_page(void **state)
{
	struct anon_node n;
	struct pglist_data *pgdat;
	struct plain_target pt;
	struct migrate_result res = { 0 };
	struct migrate_item item;
	struct anon_stats st;
	struct page *page;

	anon_node_init_cfg(&n, 32 * MIB, 64 * MIB, NULL);
	pgdat = n.t.pgdat;
	assert_int_equal(mm_space_create(pgdat, &zap_mm), 0);
	assert_int_equal(mm_mmap(zap_mm, BASE, PAGE_SIZE), 0);
	/* Pinned across reclaim: unmapped, given a slot, kept in the cache. */
	assert_int_equal(access_page(zap_mm, BASE, true, &page), 0);
	pattern_fill(page_address(pgdat, page), 1, 1);
	for (int i = 0; i < 4 && !(page_flags_read(page) & PG_swapcache); i++)
		shrink_node(pgdat->lruvec, 64);
	assert_true(page_flags_read(page) & PG_swapcache);
	put_page(pgdat, page);
	assert_true(page_flags_read(page) & PG_lru);
	assert_true(isolate_movable_page(pgdat, page, &item));
	pt.pgdat = pgdat;
	pt.t.get = plain_get;
	pt.t.put = plain_put;
	zap_si = &pgdat->lruvec->si;
	zap_slot = mm_array_at(&zap_si->slots, page_ext_of(pgdat, page)->swap_slot);
	pause_lock_hook = unmap_meanwhile;
	pause_at_lock = &pgdat->lruvec->si.lock;
	assert_int_equal(migrate_pages(pgdat, &item, 1, &pt.t, &res), 0);
	pause_at_lock = NULL;
	pthread_join(zap_thread, NULL);
	/* Moved, or (the zap's reference seen) put back: either is right. */
	assert_int_equal(res.moved + res.failed, 1);
	/* No mapping is left: its slot must be free. */
	st = anon_stats_of(&n);
	if (st.swap_free != st.swap_slots)
		fail_msg("%llu swap slot(s) still taken after the only mapping went "
			 "(a swap cache page nobody maps)",
			 (unsigned long long)(st.swap_slots - st.swap_free));
	mm_space_destroy(zap_mm);
	anon_node_fini(&n);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_contig_range_waits_for_bitmap_ack),
		cmocka_unit_test(test_compaction_target_waits_for_bitmap_ack),
		cmocka_unit_test(test_free_racing_isolation),
		cmocka_unit_test(test_zap_meets_locked_swapcache_page),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
