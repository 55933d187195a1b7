/*
 * test_buddy.c - the buddy allocator against a reference model: split and
 * merge over long random sequences, migratetype fallback and pageblock
 * stealing, per-CPU lists.
 */
#include "testutil.h"
#include "mm/swap.h"

#define MIB (1ull << 20)

struct blk {
	struct page *page;
	unsigned int order;
};

/* Free blocks per order, for comparing the lists' shape before and after. */
static void snapshot(struct pglist_data *pgdat, uint64_t out[MAX_NR_ZONES][MAX_ORDER])
{
	for (unsigned int z = 0; z < pgdat->nr_zones; z++)
		for (unsigned int o = 0; o < MAX_ORDER; o++)
			out[z][o] = pgdat->node_zones[z].free_area[o].nr_free;
}

static void test_random_against_model(void **state)
{
	struct test_node t;
	uint64_t seed = test_seed(), rng = seed;
	uint64_t before[MAX_NR_ZONES][MAX_ORDER], after[MAX_NR_ZONES][MAX_ORDER];
	struct blk *live = calloc(100000, sizeof(*live));
	size_t n = 0;
	uint64_t managed;

	test_node_init(&t, 64 * MIB, 2);
	managed = node_managed_pages(t.pgdat);
	snapshot(t.pgdat, before);
	assert_int_equal(buddy_check(t.pgdat), 0);
	for (unsigned long step = 0; step < 40000; step++) {
		uint64_t r = test_rand(&rng);

		platform_set_cpu_id((unsigned int)(r >> 40) % 2);
		if (n == 0 || (r % 100 < 55 && n < 100000)) {
			unsigned int order = (r >> 8) % 100 < 80 ? (r >> 16) % 4
								 : (r >> 16) % MAX_ORDER;
			unsigned int gfp = (unsigned int)((r >> 24) % 3);
			struct page *page = alloc_pages(t.pgdat, gfp == 2 ? GFP_RECLAIMABLE : gfp, order);

			if (page) {
				CHECK_SEED((page->flags & PG_head) && page->order == order, seed, step);
				model_alloc(&t, page, order);
				live[n++] = (struct blk){ page, order };
			}
		} else if (r % 100 < 98) {
			size_t k = (r >> 8) % n;

			CHECK_SEED(free_pages(t.pgdat, live[k].page, live[k].order) == 0, seed, step);
			model_free(&t, live[k].page, live[k].order);
			live[k] = live[--n];
		} else {
			drain_all_pages(t.pgdat);
		}
		if (step % 16 == 0 || step < 2000) {
			CHECK_SEED(buddy_check(t.pgdat) == 0, seed, step);
			CHECK_SEED(pgdat_free_pages(t.pgdat) + node_pcp_pages(t.pgdat) +
					   model_allocated_pages(&t) == managed,
				   seed, step);
		}
	}
	while (n) {
		n--;
		assert_int_equal(free_pages(t.pgdat, live[n].page, live[n].order), 0);
		model_free(&t, live[n].page, live[n].order);
	}
	drain_all_pages(t.pgdat);
	assert_int_equal(buddy_check(t.pgdat), 0);
	assert_int_equal(pgdat_free_pages(t.pgdat), managed);
	/* Everything merged back into the blocks it started as. */
	snapshot(t.pgdat, after);
	assert_memory_equal(before, after, sizeof(before));
	free(live);
	test_node_fini(&t);
}

static void test_exhaust_and_watermarks(void **state)
{
	struct test_node t;
	struct blk *live = calloc(64 * MIB / PAGE_SIZE, sizeof(*live));
	size_t n = 0;
	struct page *page;

	test_node_init(&t, 64 * MIB, 1);
	while ((page = alloc_pages(t.pgdat, GFP_MOVABLE, 0))) {
		model_alloc(&t, page, 0);
		live[n++] = (struct blk){ page, 0 };
	}
	/* Allocation stops at the min watermark of every zone, not before. */
	for (unsigned int z = 0; z < t.pgdat->nr_zones; z++) {
		struct zone *zone = &t.pgdat->node_zones[z];

		assert_true(zone_free_pages(zone) < zone->watermark[WMARK_MIN] + 1);
	}
	assert_true(n > (60 * MIB / PAGE_SIZE) * 9 / 10);
	assert_null(alloc_pages(t.pgdat, 0, MAX_ORDER));
	while (n) {
		n--;
		assert_int_equal(free_pages(t.pgdat, live[n].page, 0), 0);
	}
	drain_all_pages(t.pgdat);
	assert_int_equal(buddy_check(t.pgdat), 0);
	assert_int_equal(pgdat_free_pages(t.pgdat), node_managed_pages(t.pgdat));
	free(live);
	test_node_fini(&t);
}

/* Let a test drain a node to nothing: watermarks to 0. */
static void zero_watermarks(struct pglist_data *pgdat)
{
	for (unsigned int z = 0; z < pgdat->nr_zones; z++)
		for (unsigned int w = 0; w < NR_WMARK; w++)
			pgdat->node_zones[z].watermark[w] = 0;
}

static int cmp_blk(const void *a, const void *b)
{
	const struct blk *x = a, *y = b;

	return (x->page > y->page) - (x->page < y->page);
}

static void test_fallback_and_steal(void **state)
{
	struct test_node t;
	struct blk *live = calloc(64 * MIB / PAGE_SIZE, sizeof(*live));
	size_t n = 0;
	struct page *page;
	struct pglist_data *pgdat;
	uint32_t pfn;

	test_node_init(&t, 64 * MIB, 1);
	pgdat = t.pgdat;
	/* This allocator's first rule; Linux's is test_fallback_claim_*(). */
	pgdat->fallback_rule = FALLBACK_LEGACY;
	zero_watermarks(pgdat);

	/* A big fallback steals: the first unmovable request claims a pageblock. */
	page = alloc_pages(pgdat, 0, 0);
	assert_non_null(page);
	pfn = page_to_pfn(pgdat, page);
	if (pfn >= pgdat->node_zones[ZONE_NORMAL].zone_start_pfn)
		assert_int_equal(get_pageblock_migratetype(pgdat, pfn), MIGRATE_UNMOVABLE);
	assert_int_equal(free_pages(pgdat, page, 0), 0);
	drain_all_pages(pgdat);

	/* Fill memory with movable order-3 blocks, then the order-0 rest. */
	while ((page = alloc_pages(pgdat, GFP_MOVABLE, 3)))
		live[n++] = (struct blk){ page, 3 };
	for (;;) {
		while ((page = alloc_pages(pgdat, GFP_MOVABLE, 0)))
			live[n++] = (struct blk){ page, 0 };
		drain_all_pages(pgdat);
		if (pgdat_free_pages(pgdat) == 0)
			break;
	}
	/* ...and the unmovable ones too, which came from stolen pageblocks. */
	for (;;) {
		while ((page = alloc_pages(pgdat, 0, 0)))
			live[n++] = (struct blk){ page, 0 };
		drain_all_pages(pgdat);
		if (pgdat_free_pages(pgdat) == 0)
			break;
	}
	assert_null(alloc_pages(pgdat, 0, 0));
	qsort(live, n, sizeof(*live), cmp_blk);

	/* Find four movable order-3 blocks that make one order-5 block. */
	size_t group = n;
	for (size_t i = 0; i + 3 < n && group == n; i++) {
		uint32_t p = page_to_pfn(pgdat, live[i].page);

		if ((p & 31) || live[i].order != 3 ||
		    get_pageblock_migratetype(pgdat, p) != MIGRATE_MOVABLE ||
		    p < pgdat->node_zones[ZONE_NORMAL].zone_start_pfn)
			continue;
		if (live[i + 1].order == 3 && live[i + 2].order == 3 && live[i + 3].order == 3 &&
		    page_to_pfn(pgdat, live[i + 3].page) == p + 24)
			group = i;
	}
	assert_true(group < n);
	uint32_t base = page_to_pfn(pgdat, live[group].page);

	/* A small fallback (order 3 < pageblock_order / 2) does not steal. */
	assert_int_equal(free_pages(pgdat, live[group].page, 3), 0);
	page = alloc_pages(pgdat, 0, 0);
	assert_non_null(page);
	assert_true(page_to_pfn(pgdat, page) >= base && page_to_pfn(pgdat, page) < base + 8);
	assert_int_equal(get_pageblock_migratetype(pgdat, base), MIGRATE_MOVABLE);
	assert_int_equal(buddy_check(pgdat), 0);
	/* The rest of the split block stayed on the movable lists. */
	assert_int_equal(pgdat->node_zones[ZONE_NORMAL].free_area[0].free_list[MIGRATE_UNMOVABLE].nr, 0);
	assert_true(pgdat->node_zones[ZONE_NORMAL].free_area[0].free_list[MIGRATE_MOVABLE].nr +
		    pgdat->node_zones[ZONE_NORMAL].pcp[0].count > 0);
	live[group].page = page;
	live[group].order = 0;
	drain_all_pages(pgdat);

	/* Free the other three: with the pcp'd frames they form an order-5 block
	 * less what we hold; a request now finds an order >= 4 block and steals. */
	for (size_t i = 1; i < 4; i++)
		assert_int_equal(free_pages(pgdat, live[group + i].page, 3), 0);
	drain_all_pages(pgdat);
	assert_true(pgdat->node_zones[ZONE_NORMAL].free_area[4].free_list[MIGRATE_MOVABLE].nr >= 1);
	page = alloc_pages(pgdat, GFP_RECLAIMABLE, 1);
	assert_non_null(page);
	assert_int_equal(get_pageblock_migratetype(pgdat, base), MIGRATE_RECLAIMABLE);
	/* Stealing moved the pageblock's free blocks to the new type's lists. */
	for (unsigned int o = 0; o < MAX_ORDER; o++)
		assert_int_equal(pgdat->node_zones[ZONE_NORMAL].free_area[o].free_list[MIGRATE_MOVABLE].nr, 0);
	assert_int_equal(buddy_check(pgdat), 0);
	free(live);
	test_node_fini(&t);
}

/* ---- Linux's fallback claiming rule (FALLBACK_CLAIM) ---- */

/*
 * A 64 MiB node, one CPU, watermarks at 0, every frame held as a movable
 * order-0 allocation.  Return: the frames by pfn (NULL: not held), and in
 * *@pb a movable pageblock of the normal zone, all of it held.
 */
static struct page **hold_every_frame(struct test_node *t, uint32_t *pb)
{
	struct pglist_data *pgdat;
	struct page **held, *page;
	uint32_t start;

	test_node_init(t, 64 * MIB, 1);
	pgdat = t->pgdat;
	zero_watermarks(pgdat);
	held = calloc(pgdat->node_spanned_pages, sizeof(*held));
	assert_non_null(held);
	for (;;) {
		while ((page = alloc_pages(pgdat, GFP_MOVABLE | GFP_NORETRY, 0)))
			held[page_to_pfn(pgdat, page)] = page;
		drain_all_pages(pgdat);
		if (pgdat_free_pages(pgdat) == 0)
			break;
	}
	start = pgdat->node_zones[ZONE_NORMAL].zone_start_pfn;
	for (*pb = start; *pb < pgdat->node_spanned_pages; *pb += PAGEBLOCK_NR_PAGES)
		if (get_pageblock_migratetype(pgdat, *pb) == MIGRATE_MOVABLE)
			break;
	assert_true(*pb < pgdat->node_spanned_pages);
	for (uint32_t i = 0; i < PAGEBLOCK_NR_PAGES; i++)
		assert_non_null(held[*pb + i]);
	return held;
}

/* Free the frames of [@pfn, @pfn + 2^@order): one block once drained. */
static void free_hole(struct pglist_data *pgdat, struct page **held, uint32_t pfn,
		      unsigned int order)
{
	for (uint32_t i = 0; i < (1u << order); i++) {
		assert_int_equal(free_pages(pgdat, held[pfn + i], 0), 0);
		held[pfn + i] = NULL;
	}
}

/* The frames still held in @pb become LRU pages: movable, for the rule's count. */
static void mark_rest_lru(struct page **held, uint32_t pb)
{
	for (uint32_t i = 0; i < PAGEBLOCK_NR_PAGES; i++)
		if (held[pb + i])
			page_flag_set(held[pb + i], PG_lru);
}

static void release_all(struct test_node *t, struct page **held)
{
	struct pglist_data *pgdat = t->pgdat;

	for (uint64_t pfn = 0; pfn < pgdat->node_spanned_pages; pfn++) {
		if (!held[pfn])
			continue;
		page_flag_clear(held[pfn], PG_lru);
		assert_int_equal(free_pages(pgdat, held[pfn], 0), 0);
	}
	drain_all_pages(pgdat);
	assert_int_equal(pgdat_free_pages(pgdat), node_managed_pages(pgdat));
	assert_int_equal(buddy_check(pgdat), 0);
	free(held);
	test_node_fini(t);
}

static uint64_t free_blocks_of(struct pglist_data *pgdat, unsigned int order,
			       enum migratetype mt)
{
	return pgdat->node_zones[ZONE_NORMAL].free_area[order].free_list[mt].nr;
}

/*
 * An unmovable request that falls back into a movable pageblock half of
 * which is free claims it, though the hole it takes is small (order 2, where
 * the first rule claimed from half a pageblock up only): the pageblock turns
 * unmovable and every free block in it goes to the unmovable lists.
 */
static void test_fallback_claim_half_free(void **state)
{
	struct test_node t;
	uint32_t pb;
	struct page **held = hold_every_frame(&t, &pb);
	struct pglist_data *pgdat = t.pgdat;
	struct page *page;
	uint32_t pfn;

	/* 64 holes of order 2, every other one of 8 frames: 256 frames free. */
	for (uint32_t i = 0; i < PAGEBLOCK_NR_PAGES; i += 8)
		free_hole(pgdat, held, pb + i, 2);
	mark_rest_lru(held, pb);
	drain_all_pages(pgdat);
	assert_int_equal(free_blocks_of(pgdat, 2, MIGRATE_MOVABLE), 64);
	assert_int_equal(pgdat_free_pages(pgdat), PAGEBLOCK_NR_PAGES / 2);

	page = alloc_pages(pgdat, GFP_NORETRY, 1);
	assert_non_null(page);
	pfn = page_to_pfn(pgdat, page);
	assert_true(pfn >= pb && pfn < pb + PAGEBLOCK_NR_PAGES);
	if (get_pageblock_migratetype(pgdat, pb) != MIGRATE_UNMOVABLE)
		fail_msg("an unmovable order-1 fallback into pageblock %#x, 256 of 512 frames "
			 "free, left it %s: a block half free is claimed",
			 pb, migratetype_names[get_pageblock_migratetype(pgdat, pb)]);
	/* The free blocks went with it: 63 of order 2 and the split's order 1. */
	for (unsigned int o = 0; o < MAX_ORDER; o++)
		assert_int_equal(free_blocks_of(pgdat, o, MIGRATE_MOVABLE), 0);
	assert_int_equal(free_blocks_of(pgdat, 2, MIGRATE_UNMOVABLE), 63);
	assert_int_equal(free_blocks_of(pgdat, 1, MIGRATE_UNMOVABLE), 1);
	assert_int_equal(buddy_check(pgdat), 0);
	/* The next unmovable requests are served from the claimed block. */
	assert_int_equal(free_pages(pgdat, page, 1), 0);
	page = alloc_pages(pgdat, GFP_NORETRY, 2);
	assert_non_null(page);
	assert_true(page_to_pfn(pgdat, page) >= pb && page_to_pfn(pgdat, page) < pb + PAGEBLOCK_NR_PAGES);
	assert_int_equal(free_pages(pgdat, page, 2), 0);
	release_all(&t, held);
}

/*
 * Less than half free (and the rest movable): the pageblock is not claimed,
 * though the largest hole is of order 4 (half a pageblock's order, from
 * which the first rule claimed whatever the rest held), and the request
 * takes the smallest hole that fits, leaving the rest where it was.
 */
static void test_fallback_claim_less_than_half(void **state)
{
	struct test_node t;
	uint32_t pb;
	struct page **held = hold_every_frame(&t, &pb);
	struct pglist_data *pgdat = t.pgdat;
	struct page *page;
	uint32_t pfn;

	/* One hole of order 4 and 28 of order 2: 128 frames free. */
	free_hole(pgdat, held, pb, 4);
	for (uint32_t i = 32; i < 32 + 28 * 16; i += 16)
		free_hole(pgdat, held, pb + i, 2);
	mark_rest_lru(held, pb);
	drain_all_pages(pgdat);
	assert_int_equal(pgdat_free_pages(pgdat), 128);
	assert_int_equal(free_blocks_of(pgdat, 4, MIGRATE_MOVABLE), 1);

	page = alloc_pages(pgdat, GFP_NORETRY, 1);
	assert_non_null(page);
	pfn = page_to_pfn(pgdat, page);
	if (get_pageblock_migratetype(pgdat, pb) != MIGRATE_MOVABLE)
		fail_msg("an unmovable order-1 fallback into pageblock %#x, 128 of 512 frames "
			 "free and the rest movable, claimed it (%s)", pb,
			 migratetype_names[get_pageblock_migratetype(pgdat, pb)]);
	if (pfn < pb + 32 || free_blocks_of(pgdat, 4, MIGRATE_MOVABLE) != 1)
		fail_msg("an unmovable order-1 fallback took pfn %#x, splitting the order-4 "
			 "hole at %#x: without a claim it takes the smallest hole that fits", pfn, pb);
	/* One order-2 hole split: its other half stays movable. */
	assert_int_equal(free_blocks_of(pgdat, 2, MIGRATE_MOVABLE), 27);
	assert_int_equal(free_blocks_of(pgdat, 1, MIGRATE_MOVABLE), 1);
	for (unsigned int o = 0; o < MAX_ORDER; o++)
		assert_int_equal(free_blocks_of(pgdat, o, MIGRATE_UNMOVABLE), 0);
	assert_int_equal(buddy_check(pgdat), 0);
	assert_int_equal(free_pages(pgdat, page, 1), 0);
	release_all(&t, held);
}

/*
 * A movable request (order < half a pageblock) never claims, whatever is
 * free: movable memory in an unmovable pageblock is what compaction can
 * move out again.
 */
static void test_fallback_claim_movable_steals_only(void **state)
{
	struct test_node t;
	uint32_t pb;
	struct page **held = hold_every_frame(&t, &pb);
	struct pglist_data *pgdat = t.pgdat;
	struct page *page;

	/* The pageblock turned unmovable, half of it free in order-3 holes. */
	spin_lock(&pgdat->node_zones[ZONE_NORMAL].lock);
	set_pageblock_migratetype(pgdat, pb, MIGRATE_UNMOVABLE);
	spin_unlock(&pgdat->node_zones[ZONE_NORMAL].lock);
	for (uint32_t i = 0; i < PAGEBLOCK_NR_PAGES; i += 32) {
		free_hole(pgdat, held, pb + i, 3);
		free_hole(pgdat, held, pb + i + 16, 3);
	}
	drain_all_pages(pgdat);
	assert_int_equal(free_blocks_of(pgdat, 3, MIGRATE_UNMOVABLE), 32);
	page = alloc_pages(pgdat, GFP_MOVABLE | GFP_NORETRY, 2);
	assert_non_null(page);
	assert_int_equal(get_pageblock_migratetype(pgdat, pb), MIGRATE_UNMOVABLE);
	assert_int_equal(free_blocks_of(pgdat, 3, MIGRATE_UNMOVABLE), 31);
	assert_int_equal(buddy_check(pgdat), 0);
	assert_int_equal(free_pages(pgdat, page, 2), 0);
	release_all(&t, held);
}

/*
 * Mixed-type fragmentation under a bounded workload (a fixed seed, 60000
 * operations on a 64 MiB node mostly full): unmovable allocations (a few
 * percent of the memory, some long-lived) among movable ones.  Counted at
 * the end: the pageblocks holding any unmovable frame, which compaction and
 * contiguous ranges can never empty.  Linux's rule keeps them in fewer
 * pageblocks than the first rule did, run by run on the same operations.
 */
struct frag_blk {
	struct page *page;
	unsigned int order;
	bool unmovable;
};

static uint64_t polluted_pageblocks(enum fallback_rule rule, uint64_t seed)
{
	struct test_node t;
	struct pglist_data *pgdat;
	struct frag_blk *live = calloc(20000, sizeof(*live));
	uint64_t rng = seed, polluted = 0;
	uint8_t *dirty;
	size_t n = 0;

	test_node_init(&t, 64 * MIB, 2);
	pgdat = t.pgdat;
	pgdat->fallback_rule = rule;
	for (unsigned long step = 0; step < 60000; step++) {
		uint64_t r = test_rand(&rng);
		bool unmov = (r >> 20) % 100 < 8;

		platform_set_cpu_id((unsigned int)(r >> 40) % 2);
		/* Grow to ~90 % of the node, then churn around it. */
		if (n < 20000 && (pgdat_free_pages(pgdat) > node_managed_pages(pgdat) / 10 ||
				  r % 100 < 48)) {
			unsigned int order = unmov ? (r >> 8) % 3 : (r >> 8) % 4;
			struct page *page = alloc_pages(pgdat, (unmov ? 0 : GFP_MOVABLE) | GFP_NORETRY,
							order);

			if (page)
				live[n++] = (struct frag_blk){ page, order, unmov };
		} else if (n) {
			size_t k = (r >> 8) % n;

			/* Unmovable memory lives longer: freed a quarter as often. */
			if (live[k].unmovable && (r >> 32) % 4)
				continue;
			CHECK_SEED(free_pages(pgdat, live[k].page, live[k].order) == 0, seed, step);
			live[k] = live[--n];
		}
		if (step % 1024 == 0)
			CHECK_SEED(buddy_check(pgdat) == 0, seed, step);
	}
	dirty = calloc(pgdat->node_spanned_pages >> PAGEBLOCK_ORDER, 1);
	for (size_t i = 0; i < n; i++)
		if (live[i].unmovable)
			dirty[page_to_pfn(pgdat, live[i].page) >> PAGEBLOCK_ORDER] = 1;
	for (uint64_t b = 0; b < pgdat->node_spanned_pages >> PAGEBLOCK_ORDER; b++)
		polluted += dirty[b];
	while (n--)
		assert_int_equal(free_pages(pgdat, live[n].page, live[n].order), 0);
	drain_all_pages(pgdat);
	assert_int_equal(pgdat_free_pages(pgdat), node_managed_pages(pgdat));
	assert_int_equal(buddy_check(pgdat), 0);
	free(dirty);
	free(live);
	test_node_fini(&t);
	return polluted;
}

static void test_fallback_claim_fragmentation(void **state)
{
	uint64_t seed = test_seed();
	uint64_t claim = polluted_pageblocks(FALLBACK_CLAIM, seed);
	uint64_t legacy = polluted_pageblocks(FALLBACK_LEGACY, seed);

	print_message("pageblocks with unmovable frames (of 32): claim %llu, legacy %llu "
		      "(seed %#llx)\n", (unsigned long long)claim, (unsigned long long)legacy,
		      (unsigned long long)seed);
	if (claim > legacy)
		fail_msg("Linux's claiming rule left unmovable frames in %llu pageblocks, the "
			 "first rule in %llu (seed %#llx)", (unsigned long long)claim,
			 (unsigned long long)legacy, (unsigned long long)seed);
}

static void test_pcp_lists(void **state)
{
	struct test_node t;
	struct page *pages[2000];
	uint64_t free0;

	test_node_init(&t, 64 * MIB, 2);
	platform_set_cpu_id(1);
	free0 = pgdat_free_pages(t.pgdat);
	for (int i = 0; i < 10; i++)
		assert_non_null(pages[i] = alloc_pages(t.pgdat, GFP_MOVABLE, 0));
	/* A refill takes a whole batch from the zone. */
	assert_int_equal(free0 - pgdat_free_pages(t.pgdat), t.pgdat->node_zones[ZONE_NORMAL].pcp[1].batch);
	for (int i = 0; i < 10; i++)
		assert_int_equal(free_pages(t.pgdat, pages[i], 0), 0);
	assert_int_equal(t.pgdat->node_zones[ZONE_NORMAL].pcp[1].count,
			 t.pgdat->node_zones[ZONE_NORMAL].pcp[1].batch);
	assert_int_equal(t.pgdat->node_zones[ZONE_NORMAL].pcp[0].count, 0);
	/* More frees than high flush batches back. */
	for (int i = 0; i < 2000; i++)
		assert_non_null(pages[i] = alloc_pages(t.pgdat, GFP_MOVABLE, 0));
	for (int i = 0; i < 2000; i++)
		assert_int_equal(free_pages(t.pgdat, pages[i], 0), 0);
	assert_true(t.pgdat->node_zones[ZONE_NORMAL].pcp[1].count <
		    t.pgdat->node_zones[ZONE_NORMAL].pcp[1].high);
	assert_true(t.pgdat->node_zones[ZONE_NORMAL].pcp[1].count > 0);
	drain_all_pages(t.pgdat);
	assert_int_equal(t.pgdat->node_zones[ZONE_NORMAL].pcp[1].count, 0);
	assert_int_equal(pgdat_free_pages(t.pgdat), free0);
	assert_int_equal(buddy_check(t.pgdat), 0);
	platform_set_cpu_id(0);
	test_node_fini(&t);
}


static uint64_t zone_lock_acquisitions(struct zone *zone)
{
	struct lock_stats st = { 0 };

	spin_lock_stats_add(&zone->lock, &st);
	return st.acquisitions;
}

/* Pageblock-order blocks cycle through this CPU's list, not the zone. */
static void test_pcp_pageblocks(void **state)
{
	struct test_node t;
	struct zone *normal;
	struct page *page, *held[4];
	uint64_t acq;

	test_node_init(&t, 256 * MIB, 2); /* big enough to keep 2 pageblocks */
	normal = &t.pgdat->node_zones[ZONE_NORMAL];
	assert_int_equal(normal->pcp_pageblock_high, 2);
	platform_set_cpu_id(1);
	page = alloc_pages(t.pgdat, GFP_MOVABLE, PAGEBLOCK_ORDER);
	assert_non_null(page);
	assert_int_equal(free_pages(t.pgdat, page, PAGEBLOCK_ORDER), 0);
	assert_int_equal(normal->pcp[1].nr_pageblocks, 1);
	assert_int_equal(page->flags, PG_pcp);
	acq = zone_lock_acquisitions(normal);
	for (int i = 0; i < 1000; i++) {
		struct page *p = alloc_pages(t.pgdat, GFP_MOVABLE, PAGEBLOCK_ORDER);

		assert_ptr_equal(p, page);
		assert_int_equal(p->flags, PG_head);
		assert_int_equal(free_pages(t.pgdat, p, PAGEBLOCK_ORDER), 0);
	}
	assert_int_equal(zone_lock_acquisitions(normal), acq);
	/* A double free of a block on the list is caught. */
	assert_int_equal(free_pages(t.pgdat, page, PAGEBLOCK_ORDER), -GMM_EINVAL);
	/* The list holds at most PCP_PAGEBLOCK_HIGH; the rest goes to the zone. */
	for (int i = 0; i < 4; i++)
		assert_non_null(held[i] = alloc_pages(t.pgdat, GFP_MOVABLE, PAGEBLOCK_ORDER));
	for (int i = 0; i < 4; i++)
		assert_int_equal(free_pages(t.pgdat, held[i], PAGEBLOCK_ORDER), 0);
	assert_true(normal->pcp[1].nr_pageblocks >= 1 && normal->pcp[1].nr_pageblocks <= 2);
	assert_int_equal(buddy_check(t.pgdat), 0);
	drain_all_pages(t.pgdat);
	assert_int_equal(normal->pcp[1].nr_pageblocks, 0);
	assert_int_equal(buddy_check(t.pgdat), 0);
	platform_set_cpu_id(0);
	test_node_fini(&t);
}

/*
 * A flush merges the batch's frames among themselves before it takes the
 * zone lock, and a refill takes whole blocks: one lock round trip each, and
 * the lists come out as if every frame had been freed one by one.
 */
static void test_pcp_batches_merge(void **state)
{
	struct test_node t;
	struct zone *normal;
	struct per_cpu_pages *pcp;
	struct page *pages[1024];
	uint64_t free0, acq;
	unsigned int n;

	test_node_init(&t, 64 * MIB, 1);
	normal = &t.pgdat->node_zones[ZONE_NORMAL];
	pcp = &normal->pcp[0];
	free0 = pgdat_free_pages(t.pgdat);
	acq = zone_lock_acquisitions(normal);
	n = pcp->batch;
	for (unsigned int i = 0; i < n; i++)
		assert_non_null(pages[i] = alloc_pages(t.pgdat, GFP_MOVABLE, 0));
	assert_int_equal(zone_lock_acquisitions(normal), acq + 1);
	/* One batch of frames, in ascending order from one block. */
	for (unsigned int i = 1; i < n; i++)
		assert_int_equal(page_to_pfn(t.pgdat, pages[i]),
				 page_to_pfn(t.pgdat, pages[i - 1]) + 1);
	for (unsigned int i = 0; i < n; i++)
		assert_int_equal(free_pages(t.pgdat, pages[i], 0), 0);
	drain_all_pages(t.pgdat);
	assert_int_equal(pgdat_free_pages(t.pgdat), free0);
	/* Everything merged back: no order-0 block is left on the lists. */
	for (unsigned int mt = 0; mt < MIGRATE_TYPES; mt++)
		assert_int_equal(normal->free_area[0].free_list[mt].nr, 0);
	assert_int_equal(buddy_check(t.pgdat), 0);
	test_node_fini(&t);
}

/*
 * A refill takes a batch for one order-0 request that passed the watermark
 * check, so it must stop where that request would: at the mark.  A batch is
 * up to 511 frames; the Low zone of a 64 MiB node keeps a reserve of 62 (Linux's
 * batch for a zone that small is 1).
 */
static void test_pcp_refill_stops_at_watermark(void **state)
{
	struct test_node t;

	test_node_init(&t, 64 * MIB, 1);
	for (unsigned int z = 0; z < t.pgdat->nr_zones; z++) {
		struct zone *zone = &t.pgdat->node_zones[z];
		unsigned int gfp = z == ZONE_LOW ? GFP_LOW : 0;
		/* One frame above every watermark. */
		uint64_t mark = zone_free_pages(zone) - 1;

		for (unsigned int w = 0; w < NR_WMARK; w++)
			zone->watermark[w] = mark;
		assert_non_null(alloc_pages(t.pgdat, gfp, 0));
		assert_int_equal(zone_free_pages(zone), mark);
		assert_int_equal(zone->pcp[0].count, 0);
		if (z == ZONE_LOW)
			assert_null(alloc_pages(t.pgdat, gfp, 0));
		assert_int_equal(zone_free_pages(zone), mark);
	}
	assert_int_equal(buddy_check(t.pgdat), 0);
	test_node_fini(&t);
}

/*
 * Free memory on per-CPU lists is not in a zone's free count.  An allocation
 * that finds too little must give the lists back and look again before it
 * fails, as Linux's slow path does: here order-0 frames on another CPU's
 * list, and two buddy pageblocks on this CPU's list when an order-10 request
 * finds no block.
 */
static void test_alloc_drains_pcp_lists_before_failing(void **state)
{
	struct test_node t;
	struct page **pages = calloc(64 * MIB / PAGE_SIZE, sizeof(*pages));
	struct page *page, *block, *a, *b;
	struct zone *low;
	size_t n = 0;

	test_node_init(&t, 64 * MIB, 2);
	low = &t.pgdat->node_zones[ZONE_LOW];
	/* CPU 0 takes the Low zone down to its reserve... */
	while ((page = alloc_pages(t.pgdat, GFP_LOW, 0)))
		pages[n++] = page;
	assert_true(n > 1000);
	/* ...and CPU 1 frees what its list keeps (high less one). */
	platform_set_cpu_id(1);
	for (unsigned int i = 0; i + 1 < low->pcp[1].high; i++)
		assert_int_equal(free_pages(t.pgdat, pages[--n], 0), 0);
	assert_int_equal(low->pcp[1].count, low->pcp[1].high - 1);
	assert_true(low->pcp[1].count > 100);
	platform_set_cpu_id(0);
	assert_non_null(page = alloc_pages(t.pgdat, GFP_LOW, 0));
	pages[n++] = page;
	assert_int_equal(buddy_check(t.pgdat), 0);
	test_node_fini(&t);

	test_node_init(&t, 128 * MIB, 1); /* big enough to keep 2 pageblocks */
	zero_watermarks(t.pgdat);
	n = 0;
	while ((page = alloc_pages(t.pgdat, GFP_MOVABLE, MAX_ORDER - 1)))
		pages[n++] = page;
	/* The first came from the Normal zone, the only one now free there. */
	block = pages[0];
	assert_true(page_to_pfn(t.pgdat, block) >=
		    t.pgdat->node_zones[ZONE_NORMAL].zone_start_pfn);
	assert_int_equal(free_pages(t.pgdat, block, MAX_ORDER - 1), 0);
	/* Its halves, allocated and freed: both stay on this CPU's list. */
	assert_ptr_equal(a = alloc_pages(t.pgdat, GFP_MOVABLE, PAGEBLOCK_ORDER), block);
	assert_ptr_equal(b = alloc_pages(t.pgdat, GFP_MOVABLE, PAGEBLOCK_ORDER),
			 block + PAGEBLOCK_NR_PAGES);
	assert_int_equal(free_pages(t.pgdat, a, PAGEBLOCK_ORDER), 0);
	assert_int_equal(free_pages(t.pgdat, b, PAGEBLOCK_ORDER), 0);
	assert_int_equal(t.pgdat->node_zones[ZONE_NORMAL].pcp[0].nr_pageblocks, 2);
	assert_ptr_equal(alloc_pages(t.pgdat, GFP_MOVABLE, MAX_ORDER - 1), block);
	assert_int_equal(buddy_check(t.pgdat), 0);
	free(pages);
	test_node_fini(&t);
}

/*
 * A batch is one pageblock: a refill from a zone of whole blocks takes one
 * and splits nothing on the free lists (511 took nine blocks of orders 8
 * to 0, leaving split remainders behind), and a flush of those frames, used
 * and freed together, merges back into whole blocks with no order-0 to 8
 * pieces left over.
 */
static void test_pcp_batch_is_one_block(void **state)
{
	struct test_node t;
	struct zone *normal;
	uint64_t before[MAX_ORDER];
	struct page *p[PAGEBLOCK_NR_PAGES];

	test_node_init(&t, 64 * MIB, 1);
	normal = &t.pgdat->node_zones[ZONE_NORMAL];
	assert_int_equal(normal->pcp[0].batch, PAGEBLOCK_NR_PAGES);
	for (unsigned int o = 0; o < MAX_ORDER; o++)
		before[o] = normal->free_area[o].nr_free;
	for (unsigned int i = 0; i < PAGEBLOCK_NR_PAGES; i++) {
		p[i] = alloc_pages(t.pgdat, GFP_MOVABLE, 0);
		assert_non_null(p[i]);
	}
	assert_int_equal(normal->pcp[0].count, 0);
	for (unsigned int o = 0; o < PAGEBLOCK_ORDER; o++)
		assert_int_equal(normal->free_area[o].nr_free, 0);
	/* One pageblock out: one fewer order-10 block, one order-9 half. */
	assert_int_equal(normal->free_area[MAX_ORDER - 1].nr_free,
			 before[MAX_ORDER - 1] - 1);
	assert_int_equal(normal->free_area[PAGEBLOCK_ORDER].nr_free,
			 before[PAGEBLOCK_ORDER] + 1);
	/* Free them to the list, then flush it (the same bulk free as
	 * going over high): they go back as whole blocks. */
	for (unsigned int i = 0; i < PAGEBLOCK_NR_PAGES; i++)
		assert_int_equal(free_pages(t.pgdat, p[i], 0), 0);
	assert_int_equal(normal->pcp[0].count, PAGEBLOCK_NR_PAGES);
	drain_all_pages(t.pgdat);
	for (unsigned int o = 0; o < MAX_ORDER; o++)
		assert_int_equal(normal->free_area[o].nr_free, before[o]);
	assert_int_equal(buddy_check(t.pgdat), 0);
	test_node_fini(&t);
}

/*
 * A per-CPU list whose lock is taken (a thread sharing the CPU id, maybe
 * preempted) is passed by: allocation and free go to the zone instead of
 * waiting.  Holding the lock here makes the trylock fail deterministically.
 */
static void test_busy_pcp_list_is_passed_by(void **state)
{
	struct test_node t;
	struct zone *normal;
	struct page *p0, *p9;
	uint64_t acq;

	test_node_init(&t, 64 * MIB, 1);
	normal = &t.pgdat->node_zones[ZONE_NORMAL];
	spin_lock(&normal->pcp[0].lock);
	acq = zone_lock_acquisitions(normal);
	p0 = alloc_pages(t.pgdat, GFP_MOVABLE, 0);
	p9 = alloc_pages(t.pgdat, GFP_MOVABLE, PAGEBLOCK_ORDER);
	assert_non_null(p0);
	assert_non_null(p9);
	assert_int_equal(normal->pcp[0].count, 0);
	assert_int_equal(free_pages(t.pgdat, p0, 0), 0);
	assert_int_equal(free_pages(t.pgdat, p9, PAGEBLOCK_ORDER), 0);
	/* Four trips to the zone, none to the list. */
	assert_int_equal(zone_lock_acquisitions(normal), acq + 4);
	assert_int_equal(normal->pcp[0].count, 0);
	assert_int_equal(normal->pcp[0].nr_pageblocks, 0);
	assert_false(p0->flags & PG_pcp);
	spin_unlock(&normal->pcp[0].lock);
	assert_int_equal(buddy_check(t.pgdat), 0);
	test_node_fini(&t);
}

/* Per-CPU lists hold at most an eighth of a zone, a sixteenth in pageblocks. */
static void test_pcp_sizes_scale_with_zone(void **state)
{
	struct test_node t;

	test_node_init(&t, 64 * MIB, 64);
	for (unsigned int z = 0; z < MAX_NR_ZONES; z++) {
		struct zone *zone = &t.pgdat->node_zones[z];
		uint64_t frames = (uint64_t)zone->pcp[0].high * 64;

		assert_true(frames <= zone->managed_pages / 8 + 64);
		assert_true(zone->pcp[0].batch >= 1 &&
			    zone->pcp[0].batch <= zone->pcp[0].high);
		/* A power of two: a refill takes one aligned block. */
		assert_int_equal(zone->pcp[0].batch & (zone->pcp[0].batch - 1), 0);
		assert_int_equal(zone->pcp_pageblock_high, 0);
	}
	test_node_fini(&t);
	test_node_init(&t, 1024 * MIB, 2);
	assert_int_equal(t.pgdat->node_zones[ZONE_NORMAL].pcp[0].batch, 512);
	assert_int_equal(t.pgdat->node_zones[ZONE_NORMAL].pcp_pageblock_high, 2);
	test_node_fini(&t);
}

/*
 * An order-0 request this CPU's list can serve is served from it though the
 * zones are under their watermarks: those frames are out of the zones'
 * free counts already, so taking one lowers no reserve.  Before, the
 * watermark refused it and every CPU's lists were drained to let it in.
 */
static void test_pcp_frames_pass_the_watermark(void **state)
{
	struct test_node t;
	struct page *pages[1024], *page;
	struct zone_stats before, after;
	struct zone *normal;

	test_node_init(&t, 64 * MIB, 2);
	normal = &t.pgdat->node_zones[ZONE_NORMAL];
	platform_set_cpu_id(0);
	for (unsigned int i = 0; i < 1024; i++)
		assert_non_null(pages[i] = alloc_pages(t.pgdat, GFP_MOVABLE, 0));
	for (unsigned int i = 0; i < 1024; i++)
		assert_int_equal(free_pages(t.pgdat, pages[i], 0), 0);
	zone_get_stats(normal, &before);
	assert_true(before.pcp_pages >= 512);
	/* Every watermark of every zone just above its free count. */
	for (unsigned int z = 0; z < t.pgdat->nr_zones; z++)
		for (unsigned int w = 0; w < NR_WMARK; w++)
			t.pgdat->node_zones[z].watermark[w] =
				zone_free_pages(&t.pgdat->node_zones[z]);
	page = alloc_pages(t.pgdat, GFP_MOVABLE | GFP_NORETRY, 0);
	assert_non_null(page);
	zone_get_stats(normal, &after);
	if (after.pcp_pages != before.pcp_pages - 1)
		fail_msg("an order-0 allocation under the watermarks, %llu frames on its CPU's "
			 "list, left %llu there (the zone's free count %llu -> %llu): it drained "
			 "the lists instead of taking one",
			 (unsigned long long)before.pcp_pages, (unsigned long long)after.pcp_pages,
			 (unsigned long long)before.free_pages, (unsigned long long)after.free_pages);
	assert_int_equal(after.free_pages, before.free_pages);
	assert_int_equal(free_pages(t.pgdat, page, 0), 0);
	assert_int_equal(buddy_check(t.pgdat), 0);
	test_node_fini(&t);
}

/*
 * pgdat_pcp_pages() counts every CPU's order-0 frames and pageblocks, so the
 * watermark tests above the allocator (kswapd) can see them.
 */
static void test_pcp_pages_counted(void **state)
{
	struct test_node t;
	struct page *pages[600], *block;

	test_node_init(&t, 128 * MIB, 2);
	assert_int_equal(pgdat_pcp_pages(t.pgdat), 0);
	platform_set_cpu_id(1);
	for (unsigned int i = 0; i < 600; i++)
		assert_non_null(pages[i] = alloc_pages(t.pgdat, GFP_MOVABLE, 0));
	for (unsigned int i = 0; i < 600; i++)
		assert_int_equal(free_pages(t.pgdat, pages[i], 0), 0);
	assert_non_null(block = alloc_pages(t.pgdat, GFP_MOVABLE, PAGEBLOCK_ORDER));
	assert_int_equal(free_pages(t.pgdat, block, PAGEBLOCK_ORDER), 0);
	platform_set_cpu_id(0);
	{
		uint64_t sum = 0;

		for (unsigned int z = 0; z < t.pgdat->nr_zones; z++) {
			struct zone_stats st;

			zone_get_stats(&t.pgdat->node_zones[z], &st);
			sum += st.pcp_pages;
		}
		assert_true(sum >= 600 + PAGEBLOCK_NR_PAGES);
		assert_int_equal(pgdat_pcp_pages(t.pgdat), sum);
	}
	drain_all_pages(t.pgdat);
	assert_int_equal(pgdat_pcp_pages(t.pgdat), 0);
	test_node_fini(&t);
}

static void test_zones(void **state)
{
	struct test_node t;
	struct page *page;

	test_node_init(&t, 64 * MIB, 1);
	assert_int_equal(t.pgdat->node_zones[ZONE_LOW].zone_start_pfn, 0);
	assert_int_equal(t.pgdat->node_zones[ZONE_NORMAL].zone_start_pfn, (16 * MIB) >> PAGE_SHIFT);
	page = alloc_pages(t.pgdat, GFP_LOW, 2);
	assert_non_null(page);
	assert_true(page_to_pfn(t.pgdat, page) < (16 * MIB) >> PAGE_SHIFT);
	page = alloc_pages(t.pgdat, 0, 4);
	assert_true(page_to_pfn(t.pgdat, page) >= (16 * MIB) >> PAGE_SHIFT);
	/* Watermarks are ordered and scale with zone size. */
	for (unsigned int z = 0; z < MAX_NR_ZONES; z++) {
		struct zone *zone = &t.pgdat->node_zones[z];

		assert_true(zone->watermark[WMARK_MIN] < zone->watermark[WMARK_LOW]);
		assert_true(zone->watermark[WMARK_LOW] < zone->watermark[WMARK_HIGH]);
	}
	assert_true(t.pgdat->node_zones[ZONE_NORMAL].watermark[WMARK_MIN] >
		    t.pgdat->node_zones[ZONE_LOW].watermark[WMARK_MIN]);
	test_node_fini(&t);
}

/*
 * A pointer into the memmap that is not on a struct page boundary is no
 * page: free_pages() must refuse it, not round it down to the frame it lies
 * in.  Here it lies in the head of a free order-1 block, 12 bytes in, where
 * ->private (the owner's before the free) reads as PG_head and order 1.
 */
static void test_free_misaligned_page_pointer(void **state)
{
	struct test_node t;
	struct page *a, *b, *inside;
	unsigned long bad;
	uint64_t free;

	test_node_init(&t, 64 * MIB, 1);
	/* Two order-1 buddies: with b held, a stays an order-1 free block. */
	assert_non_null(a = alloc_pages(t.pgdat, GFP_MOVABLE, 1));
	assert_non_null(b = alloc_pages(t.pgdat, GFP_MOVABLE, 1));
	assert_int_equal(page_to_pfn(t.pgdat, a) ^ page_to_pfn(t.pgdat, b), 2);
	a->private = PG_head | (1u << 16);
	assert_int_equal(free_pages(t.pgdat, a, 1), 0);
	assert_int_equal(a->flags, PG_buddy);

	inside = (struct page *)((char *)a + offsetof(struct page, private));
	bad = platform_bad_state_count();
	free = pgdat_free_pages(t.pgdat);
	assert_int_equal(free_pages(t.pgdat, inside, 1), -GMM_EINVAL);
	assert_int_equal(platform_bad_state_count(), bad + 1);
	assert_int_equal(pgdat_free_pages(t.pgdat), free);
	assert_int_equal(buddy_check(t.pgdat), 0);
	assert_int_equal(free_pages(t.pgdat, b, 1), 0);
	assert_int_equal(buddy_check(t.pgdat), 0);
	test_node_fini(&t);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_random_against_model),
		cmocka_unit_test(test_exhaust_and_watermarks),
		cmocka_unit_test(test_fallback_and_steal),
		cmocka_unit_test(test_fallback_claim_half_free),
		cmocka_unit_test(test_fallback_claim_less_than_half),
		cmocka_unit_test(test_fallback_claim_movable_steals_only),
		cmocka_unit_test(test_fallback_claim_fragmentation),
		cmocka_unit_test(test_pcp_lists),
		cmocka_unit_test(test_pcp_pageblocks),
		cmocka_unit_test(test_pcp_batches_merge),
		cmocka_unit_test(test_pcp_batch_is_one_block),
		cmocka_unit_test(test_busy_pcp_list_is_passed_by),
		cmocka_unit_test(test_pcp_sizes_scale_with_zone),
		cmocka_unit_test(test_pcp_refill_stops_at_watermark),
		cmocka_unit_test(test_alloc_drains_pcp_lists_before_failing),
		cmocka_unit_test(test_pcp_frames_pass_the_watermark),
		cmocka_unit_test(test_pcp_pages_counted),
		cmocka_unit_test(test_zones),
		cmocka_unit_test(test_free_misaligned_page_pointer),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
