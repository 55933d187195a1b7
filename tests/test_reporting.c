/*
 * test_reporting.c - free page reporting's invariants after every step of
 * random sequences: Reported blocks together at the tail of every list,
 * counters equal to a recount (buddy_check), no block reported twice while it
 * stays free, merges and allocations clearing the mark; and the trigger, the
 * gate and failed reports.  The device is a fake in manual mode: the test
 * runs the worker's pass itself, and the fake's report() allocates and frees
 * while the zone lock is dropped, as vCPUs would.
 */
#include "testutil.h"

#include <pthread.h>
#include <sched.h>

#define MIB (1ull << 20)
#define MAX_LIVE 4096

struct blk {
	struct page *page;
	unsigned int order;
};

struct fake {
	struct page_reporting_dev_info prdev; /* first: container_of is a cast */
	struct test_node *t;
	int fail_with;		/* report() returns this when non-zero */
	unsigned int calls;
	unsigned int max_nents;	/* the largest report seen */
	unsigned int normal_blocks; /* blocks of ZONE_NORMAL reported */
	uint64_t seed, rng;
	unsigned long step;
	struct blk live[MAX_LIVE];
	size_t nr_live;
	bool ops_in_report;	/* allocate/free inside report() */
	/* Blocks known to be Reported: (pfn, order) while they stay intact. */
	uint8_t *known;		/* per frame: order + 1 of a known block at its head */
	uint32_t *heads;	/* the frames with known[] set */
	size_t nr_heads;
	int (*free_inside)(struct fake *f, struct scatterlist *sg);
};

static struct fake *to_fake(struct page_reporting_dev_info *prdev)
{
	return (struct fake *)prdev;
}

/*
 * Drop known blocks that did not stay intact (allocated, merged or split);
 * an intact one must still carry the mark.  Then learn every block that is
 * marked now, walking each list from its boundary.
 */
static void known_update(struct fake *f)
{
	struct pglist_data *pgdat = f->t->pgdat;

	for (size_t i = 0; i < f->nr_heads;) {
		uint32_t pfn = f->heads[i];
		struct page *page = pfn_to_page(pgdat, pfn);
		bool intact = (page->flags & PG_buddy) && page->order == f->known[pfn] - 1;

		if (intact && !(page->flags & PG_reported))
			fail_msg("pfn %#x order %u lost its Reported mark while free (GUESTMM_SEED=%#llx step %lu)",
				 pfn, page->order, (unsigned long long)f->seed, f->step);
		if (intact) {
			i++;
			continue;
		}
		f->known[pfn] = 0;
		f->heads[i] = f->heads[--f->nr_heads];
	}
	for (unsigned int z = 0; z < pgdat->nr_zones; z++) {
		struct zone *zone = &pgdat->node_zones[z];

		for (unsigned int o = 0; o < MAX_ORDER; o++)
			for (unsigned int mt = 0; mt < MIGRATE_TYPES; mt++)
				for (uint32_t p = zone->free_area[o].free_list[mt].boundary;
				     p != PFN_NONE; p = pfn_to_page(pgdat, p)->next) {
					if (f->known[p])
						continue;
					f->known[p] = (uint8_t)(o + 1);
					f->heads[f->nr_heads++] = p;
				}
	}
}

/* A known block overlaps [pfn, pfn + 2^order): inside it, or around it. */
static bool known_overlaps(struct fake *f, uint32_t pfn, unsigned int order)
{
	for (uint32_t p = pfn; p < pfn + (1u << order); p++)
		if (f->known[p])
			return true;
	for (unsigned int o = order + 1; o < MAX_ORDER; o++) {
		uint32_t head = pfn & ~((1u << o) - 1);

		if (f->known[head] && f->known[head] - 1u >= o)
			return true;
	}
	return false;
}

static void random_op(struct fake *f)
{
	struct pglist_data *pgdat = f->t->pgdat;
	uint64_t r = test_rand(&f->rng);

	f->step++;
	if (f->nr_live == 0 || (r % 100 < 50 && f->nr_live < MAX_LIVE)) {
		unsigned int order = (r >> 8) % 100 < 60 ? (r >> 16) % 3
							 : (r >> 16) % MAX_ORDER;
		struct page *page = alloc_pages(pgdat, GFP_MOVABLE, order);

		if (page) {
			model_alloc(f->t, page, order);
			f->live[f->nr_live++] = (struct blk){ page, order };
		}
	} else if (r % 100 < 97) {
		size_t k = (r >> 8) % f->nr_live;

		CHECK_SEED(free_pages(pgdat, f->live[k].page, f->live[k].order) == 0,
			   f->seed, f->step);
		model_free(f->t, f->live[k].page, f->live[k].order);
		f->live[k] = f->live[--f->nr_live];
	} else {
		drain_all_pages(pgdat);
	}
	CHECK_SEED(buddy_check(pgdat) == 0, f->seed, f->step);
	known_update(f);
}

static int fake_report(struct page_reporting_dev_info *prdev,
		       struct scatterlist *sg, unsigned int nents)
{
	struct fake *f = to_fake(prdev);
	struct pglist_data *pgdat = f->t->pgdat;

	f->calls++;
	assert_true(nents >= 1 && nents <= prdev->capacity);
	if (nents > f->max_nents)
		f->max_nents = nents;
	for (unsigned int i = 0; i < nents; i++) {
		struct page *page = sg[i].page;
		uint32_t pfn = page_to_pfn(pgdat, page);

		assert_int_equal(page->flags, PG_isolated);
		assert_int_equal(sg[i].length, PAGE_SIZE << page->order);
		assert_true(page->order >= prdev->order);
		if (page_zone(pgdat, pfn) == &pgdat->node_zones[ZONE_NORMAL])
			f->normal_blocks++;
		/* Nothing in a report may overlap a block reported and still free. */
		if (known_overlaps(f, pfn, page->order))
			fail_msg("pfn %#x order %u reported twice while free (GUESTMM_SEED=%#llx step %lu)",
				 pfn, page->order, (unsigned long long)f->seed, f->step);
		/* and nothing allocated is ever reported. */
		for (uint32_t p = pfn; p < pfn + (1u << page->order); p++)
			if (f->t->allocated[p])
				fail_msg("pfn %#x reported while allocated", p);
	}
	if (f->free_inside)
		return f->free_inside(f, sg);
	if (f->ops_in_report)
		for (int i = 0; i < 8; i++)
			random_op(f);
	return f->fail_with;
}

static void fake_init(struct fake *f, struct test_node *t, uint64_t bytes)
{
	memset(f, 0, sizeof(*f));
	test_node_init(t, bytes, 2);
	f->t = t;
	f->seed = f->rng = test_seed();
	f->known = calloc(t->pgdat->node_spanned_pages, 1);
	f->heads = calloc(t->pgdat->node_spanned_pages, sizeof(*f->heads));
	page_reporting_dev_info_init(&f->prdev);
	f->prdev.report = fake_report;
	f->prdev.manual = true;
	f->prdev.capacity = 4;
	f->prdev.hwm = 2;
	f->prdev.min_age_ms = 0; /* the tests free and report at once */
	assert_int_equal(page_reporting_register(t->pgdat, &f->prdev), 0);
}

static void fake_fini(struct fake *f)
{
	page_reporting_unregister(&f->prdev);
	free(f->known);
	free(f->heads);
	test_node_fini(f->t);
}

static uint64_t reported_pages(struct pglist_data *pgdat)
{
	uint64_t n = 0;

	for (unsigned int z = 0; z < pgdat->nr_zones; z++)
		for (unsigned int o = 0; o < MAX_ORDER; o++)
			n += pgdat->node_zones[z].reported_blocks[o] << o;
	return n;
}

static void test_random_sequences(void **state)
{
	struct test_node t;
	struct fake *f = calloc(1, sizeof(*f));

	fake_init(f, &t, 128 * MIB);
	f->ops_in_report = true;
	for (int round = 0; round < 400; round++) {
		for (int i = 0; i < 20; i++)
			random_op(f);
		assert_int_equal(page_reporting_process(&f->prdev), 0);
		CHECK_SEED(buddy_check(t.pgdat) == 0, f->seed, f->step);
		known_update(f);
	}
	assert_true(f->calls > 10);
	assert_true(atomic_load(&f->prdev.reported_pages) > 0);
	while (f->nr_live) {
		f->nr_live--;
		assert_int_equal(free_pages(t.pgdat, f->live[f->nr_live].page,
					    f->live[f->nr_live].order), 0);
	}
	fake_fini(f);
	free(f);
}

static void test_everything_free_is_reported_once(void **state)
{
	struct test_node t;
	struct fake *f = calloc(1, sizeof(*f));
	unsigned int calls;

	fake_init(f, &t, 128 * MIB);
	/* Registration asks for the boot-time report. */
	assert_true(zone_flag_test(&t.pgdat->node_zones[ZONE_NORMAL], ZONE_REPORTING_REQUESTED));
	assert_int_equal(page_reporting_process(&f->prdev), 0);
	known_update(f);
	assert_int_equal(buddy_check(t.pgdat), 0);
	/* All of Normal above the gate is reported, in order >= 9 blocks. */
	struct zone *normal = &t.pgdat->node_zones[ZONE_NORMAL];
	uint64_t gate = normal->watermark[WMARK_LOW] + (4ull << PAGE_REPORTING_ORDER);
	assert_true(reported_pages(t.pgdat) + gate + MAX_ORDER_NR_PAGES >= zone_free_pages(normal));
	assert_false(zone_flag_test(normal, ZONE_REPORTING_REQUESTED));
	/* A second pass finds nothing to report. */
	calls = f->calls;
	zone_flag_set(normal, ZONE_REPORTING_REQUESTED);
	assert_int_equal(page_reporting_process(&f->prdev), 0);
	assert_int_equal(f->calls, calls);
	fake_fini(f);
	free(f);
}

/* Find two order-9 blocks that are buddies among many allocated. */
static void alloc_buddy_pair(struct pglist_data *pgdat, struct page **a, struct page **b,
			     struct page **rest, size_t *nrest)
{
	*nrest = 0;
	for (;;) {
		struct page *p = alloc_pages(pgdat, GFP_MOVABLE, 9);

		assert_non_null(p);
		for (size_t i = 0; i < *nrest; i++) {
			if ((page_to_pfn(pgdat, rest[i]) ^ page_to_pfn(pgdat, p)) == 512) {
				*a = rest[i];
				*b = p;
				rest[i] = rest[--*nrest];
				return;
			}
		}
		rest[(*nrest)++] = p;
	}
}

static void test_merge_and_alloc_clear_the_mark(void **state)
{
	struct test_node t;
	struct fake *f = calloc(1, sizeof(*f));
	struct page *a, *b, *rest[256];
	size_t nrest;
	struct zone *normal;
	uint32_t pa, pb;

	fake_init(f, &t, 128 * MIB);
	normal = &t.pgdat->node_zones[ZONE_NORMAL];
	atomic_store(&t.pgdat->reporting_hwm, 0);
	assert_int_equal(page_reporting_process(&f->prdev), 0);
	alloc_buddy_pair(t.pgdat, &a, &b, rest, &nrest);
	pa = page_to_pfn(t.pgdat, a);
	pb = page_to_pfn(t.pgdat, b);
	/* a goes back and is reported on its own (past the per-CPU list). */
	assert_int_equal(free_pages(t.pgdat, a, 9), 0);
	drain_all_pages(t.pgdat);
	assert_true(zone_flag_test(normal, ZONE_REPORTING_REQUESTED));
	assert_int_equal(page_reporting_process(&f->prdev), 0);
	assert_int_equal(pfn_to_page(t.pgdat, pa)->flags, PG_buddy | PG_reported);
	/* b merges with it: the order-10 result is unreported. */
	assert_int_equal(free_pages(t.pgdat, b, 9), 0);
	drain_all_pages(t.pgdat);
	struct page *head = pfn_to_page(t.pgdat, pa < pb ? pa : pb);
	assert_int_equal(head->flags, PG_buddy);
	assert_int_equal(head->order, 10);
	assert_int_equal(buddy_check(t.pgdat), 0);
	/* Reported again as a whole, then allocation of it clears the mark. */
	assert_int_equal(page_reporting_process(&f->prdev), 0);
	assert_int_equal(head->flags, PG_buddy | PG_reported);
	uint64_t before = normal->reported_blocks[10];
	for (size_t i = 0; i < nrest; i++)
		assert_int_equal(free_pages(t.pgdat, rest[i], 9), 0);
	assert_int_equal(page_reporting_process(&f->prdev), 0);
	before = normal->reported_blocks[10];
	struct page *p = alloc_pages(t.pgdat, GFP_MOVABLE, 10);
	assert_non_null(p);
	assert_int_equal(p->flags, PG_head);
	assert_int_equal(normal->reported_blocks[10], before - 1);
	assert_int_equal(buddy_check(t.pgdat), 0);
	/* A split keeps the halves that are still discarded marked. */
	struct page *q = alloc_pages(t.pgdat, GFP_MOVABLE, 8);
	assert_non_null(q);
	uint32_t qb = page_to_pfn(t.pgdat, q) ^ 256;
	assert_int_equal(pfn_to_page(t.pgdat, qb)->flags, PG_buddy); /* order 8 < 9 */
	uint32_t half9 = (page_to_pfn(t.pgdat, q) & ~511u) ^ 512;
	assert_int_equal(pfn_to_page(t.pgdat, half9)->flags, PG_buddy | PG_reported);
	assert_int_equal(buddy_check(t.pgdat), 0);
	assert_int_equal(free_pages(t.pgdat, q, 8), 0);
	assert_int_equal(free_pages(t.pgdat, p, 10), 0);
	fake_fini(f);
	free(f);
}

static void test_trigger_at_high_water_mark(void **state)
{
	struct test_node t;
	struct fake *f = calloc(1, sizeof(*f));
	struct page *blocks[64];
	struct zone *normal;

	fake_init(f, &t, 512 * MIB);
	normal = &t.pgdat->node_zones[ZONE_NORMAL];
	atomic_store(&t.pgdat->reporting_hwm, PAGE_REPORTING_HWM);
	assert_int_equal(page_reporting_process(&f->prdev), 0);
	assert_false(zone_flag_test(normal, ZONE_REPORTING_REQUESTED));
	for (int i = 0; i < 64; i++)
		assert_non_null(blocks[i] = alloc_pages(t.pgdat, GFP_MOVABLE, 10));
	/* Frees of reported-then-allocated blocks come back unreported. */
	for (int i = 0; i < PAGE_REPORTING_HWM; i++) {
		assert_int_equal(free_pages(t.pgdat, blocks[i], 10), 0);
		assert_false(zone_flag_test(normal, ZONE_REPORTING_REQUESTED));
	}
	assert_int_equal(normal->free_area[10].nr_free - normal->reported_blocks[10],
			 PAGE_REPORTING_HWM);
	assert_int_equal(free_pages(t.pgdat, blocks[PAGE_REPORTING_HWM], 10), 0);
	assert_true(zone_flag_test(normal, ZONE_REPORTING_REQUESTED));
	assert_int_equal(atomic_load(&f->prdev.state), PAGE_REPORTING_REQUESTED);
	for (int i = PAGE_REPORTING_HWM + 1; i < 64; i++)
		assert_int_equal(free_pages(t.pgdat, blocks[i], 10), 0);
	assert_int_equal(page_reporting_process(&f->prdev), 0);
	assert_int_equal(atomic_load(&f->prdev.state), PAGE_REPORTING_IDLE);
	assert_int_equal(normal->free_area[10].nr_free, normal->reported_blocks[10]);
	fake_fini(f);
	free(f);
}

static void test_failed_report_backs_off(void **state)
{
	struct test_node t;
	struct fake *f = calloc(1, sizeof(*f));

	fake_init(f, &t, 128 * MIB);
	f->fail_with = -GMM_EIO;
	assert_int_equal(page_reporting_process(&f->prdev), -GMM_EIO);
	assert_int_equal(atomic_load(&f->prdev.failures), 1);
	assert_int_equal(reported_pages(t.pgdat), 0);
	assert_int_equal(buddy_check(t.pgdat), 0);
	assert_true(zone_flag_test(&t.pgdat->node_zones[ZONE_NORMAL], ZONE_REPORTING_REQUESTED));
	assert_int_equal(f->prdev.backoff_ms, 2 * PAGE_REPORTING_BACKOFF_MS);
	/* The retry succeeds and resets the backoff. */
	f->fail_with = 0;
	assert_int_equal(page_reporting_process(&f->prdev), 0);
	assert_true(reported_pages(t.pgdat) > 0);
	assert_int_equal(f->prdev.backoff_ms, PAGE_REPORTING_BACKOFF_MS);
	fake_fini(f);
	free(f);
}

/*
 * The gate keeps the zone's low watermark plus one batch free, and a batch
 * is the device's capacity but never more than an eighth of the zone: with
 * Linux's 32 blocks of 2 MiB the gate of a 64 MiB guest was 64 MiB above
 * its watermark, and it never reported anything (issue 16).
 */
static void test_gate_keeps_low_watermark_plus_batch(void **state)
{
	struct test_node t;
	struct fake *f = calloc(1, sizeof(*f));
	struct zone *normal;
	struct page *p[64];
	uint64_t eighth, gate;
	int n = 0;

	fake_init(f, &t, 128 * MIB);
	normal = &t.pgdat->node_zones[ZONE_NORMAL];
	f->prdev.capacity = 32; /* 64 MiB: more than an eighth of Normal */
	eighth = (zone_managed_pages(normal) / 8) >> f->prdev.order;
	assert_true(eighth >= 2 && eighth < f->prdev.capacity);
	gate = normal->watermark[WMARK_LOW] + (eighth << f->prdev.order);
	/* Hold all of Normal but a little under its gate. */
	while (zone_free_pages(normal) >= gate)
		assert_non_null(p[n++] = alloc_pages(t.pgdat, GFP_MOVABLE, 9));
	assert_int_equal(page_reporting_process(&f->prdev), 0);
	assert_int_equal(f->normal_blocks, 0);
	assert_true(atomic_load(&f->prdev.gated) > 0);
	/* Normal stays requested. */
	assert_true(zone_flag_test(normal, ZONE_REPORTING_REQUESTED));
	/*
	 * With room again, the same zone reports, an eighth of it at a time
	 * although the device takes 32 blocks, and never below the gate.
	 */
	while (n)
		assert_int_equal(free_pages(t.pgdat, p[--n], 9), 0);
	zone_flag_set(normal, ZONE_REPORTING_REQUESTED);
	assert_int_equal(page_reporting_process(&f->prdev), 0);
	assert_true(f->normal_blocks > eighth);
	assert_int_equal(f->max_nents, eighth);
	assert_true(zone_free_pages(normal) >= normal->watermark[WMARK_LOW]);
	assert_int_equal(buddy_check(t.pgdat), 0);
	fake_fini(f);
	free(f);
}

static int free_isolated_inside(struct fake *f, struct scatterlist *sg)
{
	unsigned long bad = platform_bad_state_count();

	/* The block is out for reporting: freeing it is refused. */
	assert_int_equal(free_pages(f->t->pgdat, sg[0].page, sg[0].page->order), -GMM_EINVAL);
	assert_int_equal(platform_bad_state_count(), bad + 1);
	f->free_inside = NULL;
	return 0;
}

static void test_free_of_block_out_for_reporting(void **state)
{
	struct test_node t;
	struct fake *f = calloc(1, sizeof(*f));

	fake_init(f, &t, 128 * MIB);
	f->free_inside = free_isolated_inside;
	assert_int_equal(page_reporting_process(&f->prdev), 0);
	assert_null(f->free_inside);
	assert_int_equal(buddy_check(t.pgdat), 0);
	fake_fini(f);
	free(f);
}

static void test_register_errors(void **state)
{
	struct test_node t;
	struct fake *f = calloc(1, sizeof(*f));
	struct page_reporting_dev_info other;

	fake_init(f, &t, 128 * MIB);
	page_reporting_dev_info_init(&other);
	other.manual = true;
	assert_int_equal(page_reporting_register(t.pgdat, &other), -GMM_EINVAL);
	other.report = fake_report;
	assert_int_equal(page_reporting_register(t.pgdat, &other), -GMM_EBUSY);
	other.capacity = PAGE_REPORTING_CAPACITY_MAX + 1;
	assert_int_equal(page_reporting_register(t.pgdat, &other), -GMM_EINVAL);
	other.capacity = 4;
	other.order = MAX_ORDER;
	assert_int_equal(page_reporting_register(t.pgdat, &other), -GMM_EINVAL);
	other.order = PAGE_REPORTING_ORDER;
	/* Refusals, a second registration of the same device, and the
	 * unregistration of a device that is not registered leave the
	 * registered one working. */
	assert_int_equal(page_reporting_register(t.pgdat, &f->prdev), -GMM_EBUSY);
	other.pgdat = t.pgdat;
	page_reporting_unregister(&other);
	assert_ptr_equal(atomic_load(&t.pgdat->prdev), &f->prdev);
	assert_int_equal(atomic_load(&t.pgdat->reporting_order), PAGE_REPORTING_ORDER);
	assert_int_equal(page_reporting_process(&f->prdev), 0);
	assert_true(f->calls > 0);
	assert_true(reported_pages(t.pgdat) > 0);
	/* Unregistering twice is harmless. */
	page_reporting_unregister(&f->prdev);
	page_reporting_unregister(&f->prdev);
	assert_null(atomic_load(&t.pgdat->prdev));
	fake_fini(f);
	free(f);
}

static void test_gate_tries_smaller_orders(void **state)
{
	struct test_node t;
	struct fake *f = calloc(1, sizeof(*f));
	struct page *a, *b, *x, *rest[256];
	size_t nrest;
	struct zone *normal;
	uint64_t gate_pages = 4ull << PAGE_REPORTING_ORDER;

	fake_init(f, &t, 128 * MIB);
	normal = &t.pgdat->node_zones[ZONE_NORMAL];
	assert_int_equal(page_reporting_process(&f->prdev), 0);
	/* One unreported order-9 block (its buddy held) and one order-10. */
	alloc_buddy_pair(t.pgdat, &a, &b, rest, &nrest);
	x = alloc_pages(t.pgdat, GFP_MOVABLE, 10);
	assert_non_null(x);
	assert_int_equal(free_pages(t.pgdat, a, 9), 0);
	assert_int_equal(free_pages(t.pgdat, x, 10), 0);
	drain_all_pages(t.pgdat);
	uint64_t r9 = normal->reported_blocks[9], r10 = normal->reported_blocks[10];
	/* Room above the gate for the order-9 block, not the order-10 one. */
	normal->watermark[WMARK_LOW] = zone_free_pages(normal) - gate_pages - 700;
	zone_flag_set(normal, ZONE_REPORTING_REQUESTED);
	assert_int_equal(page_reporting_process(&f->prdev), 0);
	assert_int_equal(normal->reported_blocks[9], r9 + 1);
	assert_int_equal(normal->reported_blocks[10], r10);
	assert_true(atomic_load(&f->prdev.gated) > 0);
	assert_int_equal(buddy_check(t.pgdat), 0);
	fake_fini(f);
	free(f);
}

static void test_young_blocks_wait(void **state)
{
	struct test_node t;
	struct fake *f = calloc(1, sizeof(*f));
	struct zone *normal;
	struct page *p[8];
	unsigned int calls;

	fake_init(f, &t, 128 * MIB);
	normal = &t.pgdat->node_zones[ZONE_NORMAL];
	/* Memory free since boot is old: reported at once. */
	f->prdev.min_age_ms = 60000;
	assert_int_equal(page_reporting_process(&f->prdev), 0);
	assert_true(f->calls > 0);
	for (int i = 0; i < 8; i++)
		assert_non_null(p[i] = alloc_pages(t.pgdat, GFP_MOVABLE, 10));
	for (int i = 0; i < 8; i++)
		assert_int_equal(free_pages(t.pgdat, p[i], 10), 0);
	/* Just freed: left for a later pass, which is asked for. */
	calls = f->calls;
	zone_flag_set(normal, ZONE_REPORTING_REQUESTED);
	assert_int_equal(page_reporting_process(&f->prdev), 0);
	assert_int_equal(f->calls, calls);
	assert_true(atomic_load(&f->prdev.young) >= 8);
	assert_true(zone_flag_test(normal, ZONE_REPORTING_REQUESTED));
	assert_int_equal(atomic_load(&f->prdev.state), PAGE_REPORTING_REQUESTED);
	assert_true(normal->free_area[10].nr_free - normal->reported_blocks[10] >= 8);
	/* Once old enough (here: the bar lowered), the same blocks go. */
	f->prdev.min_age_ms = 0;
	assert_int_equal(page_reporting_process(&f->prdev), 0);
	assert_true(f->calls > calls);
	assert_int_equal(normal->free_area[10].nr_free, normal->reported_blocks[10]);
	assert_int_equal(buddy_check(t.pgdat), 0);
	fake_fini(f);
	free(f);
}

static void sleep_ms(long ms)
{
	struct timespec ts = { ms / 1000, (ms % 1000) * 1000 * 1000 };

	nanosleep(&ts, NULL);
}

/*
 * A block free for min-age is reported within a pass, whatever its buddy
 * does: here the lower half of an order-10 block is allocated and freed
 * every 10 ms while its upper half stays free.
 */
static void test_block_beside_recycled_buddy_ages(void **state)
{
	struct test_node t;
	struct fake *f = calloc(1, sizeof(*f));
	struct zone *normal;
	struct page *p, *upper;
	uint32_t head;
	bool reported = false;
	int i;

	fake_init(f, &t, 128 * MIB);
	normal = &t.pgdat->node_zones[ZONE_NORMAL];
	atomic_store(&t.pgdat->reporting_hwm, 0);
	assert_int_equal(page_reporting_process(&f->prdev), 0);
	/* Normal is all order-10 blocks: an order-9 request splits one. */
	assert_int_equal(normal->free_area[9].nr_free, 0);
	assert_non_null(p = alloc_pages(t.pgdat, GFP_MOVABLE, 10));
	head = page_to_pfn(t.pgdat, p);
	assert_ptr_equal(page_zone(t.pgdat, head), normal);
	assert_int_equal(free_pages(t.pgdat, p, 10), 0);
	upper = pfn_to_page(t.pgdat, head + PAGEBLOCK_NR_PAGES);
	f->prdev.min_age_ms = 100;
	for (i = 0; i < 100 && !reported; i++) {
		assert_non_null(p = alloc_pages(t.pgdat, GFP_MOVABLE, 9));
		assert_int_equal(page_to_pfn(t.pgdat, p), head);
		assert_int_equal(page_reporting_process(&f->prdev), 0);
		reported = upper->flags == (PG_buddy | PG_reported);
		assert_int_equal(free_pages(t.pgdat, p, 9), 0);
		sleep_ms(10);
	}
	if (!reported)
		fail_msg("the upper half, free for %d rounds of 10 ms, was never reported", i);
	assert_int_equal(buddy_check(t.pgdat), 0);
	fake_fini(f);
	free(f);
}

static void test_backoff_is_capped(void **state)
{
	struct test_node t;
	struct fake *f = calloc(1, sizeof(*f));

	fake_init(f, &t, 128 * MIB);
	f->fail_with = -GMM_EIO;
	for (int i = 0; i < 12; i++) {
		zone_flag_set(&t.pgdat->node_zones[ZONE_NORMAL], ZONE_REPORTING_REQUESTED);
		assert_int_equal(page_reporting_process(&f->prdev), -GMM_EIO);
		assert_true(f->prdev.backoff_ms <= PAGE_REPORTING_BACKOFF_MAX_MS);
	}
	assert_int_equal(f->prdev.backoff_ms, PAGE_REPORTING_BACKOFF_MAX_MS);
	fake_fini(f);
	free(f);
}

static bool held_has(struct page **held, size_t n, uint32_t pfn, struct pglist_data *pgdat)
{
	for (size_t i = 0; i < n; i++)
		if (held[i] && page_to_pfn(pgdat, held[i]) == pfn)
			return true;
	return false;
}

/*
 * A zone the gate stopped stays requested: blocks freed before are reported
 * once the zone has room again, even when the frees that made the room do
 * not pass the high-water mark themselves.  hwm 2: three order-9 frees ask,
 * the pass is gated; two order-10 frees lift the zone above the gate.
 */
static void test_gated_zone_stays_requested(void **state)
{
	struct test_node t;
	struct fake *f = calloc(1, sizeof(*f));
	struct zone *normal;
	struct page *x[2], *held[64];
	uint32_t freed[3];
	size_t n = 0, nfreed = 0;
	unsigned int calls;

	fake_init(f, &t, 128 * MIB); /* hwm 2, capacity 4 */
	normal = &t.pgdat->node_zones[ZONE_NORMAL];
	assert_int_equal(page_reporting_process(&f->prdev), 0);
	for (int i = 0; i < 2; i++) {
		assert_non_null(x[i] = alloc_pages(t.pgdat, GFP_MOVABLE, 10));
		assert_ptr_equal(page_zone(t.pgdat, page_to_pfn(t.pgdat, x[i])), normal);
	}
	/* Hold Normal in order-9 blocks down to 1..2 blocks above its low mark. */
	while (zone_free_pages(normal) >= normal->watermark[WMARK_LOW] + 2 * PAGEBLOCK_NR_PAGES) {
		assert_true(n < 64);
		assert_non_null(held[n] = alloc_pages(t.pgdat, GFP_MOVABLE, 9));
		assert_ptr_equal(page_zone(t.pgdat, page_to_pfn(t.pgdat, held[n])), normal);
		n++;
	}
	/* Free three whose buddies stay held, so they stay order-9 blocks. */
	for (size_t i = 0; i < n && nfreed < 3; i++) {
		uint32_t pfn = page_to_pfn(t.pgdat, held[i]);

		if (!held_has(held, n, pfn ^ PAGEBLOCK_NR_PAGES, t.pgdat))
			continue;
		assert_int_equal(free_pages(t.pgdat, held[i], 9), 0);
		held[i] = NULL;
		freed[nfreed++] = pfn;
	}
	assert_int_equal(nfreed, 3);
	drain_all_pages(t.pgdat); /* past the per-CPU list */
	assert_true(zone_flag_test(normal, ZONE_REPORTING_REQUESTED));
	calls = f->calls;
	assert_int_equal(page_reporting_process(&f->prdev), 0);
	assert_int_equal(f->calls, calls);
	assert_true(atomic_load(&f->prdev.gated) > 0);

	for (int i = 0; i < 2; i++)
		assert_int_equal(free_pages(t.pgdat, x[i], 10), 0);
	assert_int_equal(page_reporting_process(&f->prdev), 0);
	assert_true(f->calls > calls);
	for (size_t i = 0; i < 3; i++)
		assert_int_equal(pfn_to_page(t.pgdat, freed[i])->flags, PG_buddy | PG_reported);
	assert_int_equal(buddy_check(t.pgdat), 0);
	for (size_t i = 0; i < n; i++)
		if (held[i])
			assert_int_equal(free_pages(t.pgdat, held[i], 9), 0);
	fake_fini(f);
	free(f);
}


/*
 * Memory on a per-CPU list is not free to the buddy lists, so it is never
 * reported while there; a list unused for a whole pass is given back, and
 * its memory reported.  A list in use is left alone, and the worker comes
 * back for it.
 */
static void test_idle_pcp_lists_are_reported(void **state)
{
	struct test_node t;
	struct fake *f = calloc(1, sizeof(*f));
	struct zone *normal;
	struct page *p;
	uint32_t pfn;

	fake_init(f, &t, 128 * MIB);
	normal = &t.pgdat->node_zones[ZONE_NORMAL];
	atomic_store(&t.pgdat->reporting_hwm, 0); /* one block asks */
	assert_int_equal(page_reporting_process(&f->prdev), 0);
	platform_set_cpu_id(1);
	p = alloc_pages(t.pgdat, GFP_MOVABLE, PAGEBLOCK_ORDER);
	assert_non_null(p);
	pfn = page_to_pfn(t.pgdat, p);
	assert_int_equal(free_pages(t.pgdat, p, PAGEBLOCK_ORDER), 0);
	platform_set_cpu_id(0);
	assert_int_equal(normal->pcp[1].nr_pageblocks, 1);
	/* Used since the last pass: kept, and the next pass is wanted. */
	assert_int_equal(page_reporting_process(&f->prdev), 0);
	assert_int_equal(pfn_to_page(t.pgdat, pfn)->flags, PG_pcp);
	assert_int_equal(normal->pcp[1].nr_pageblocks, 1);
	/* Unused for a pass: back to the zone, merged, and reported. */
	assert_int_equal(page_reporting_process(&f->prdev), 0);
	assert_int_equal(normal->pcp[1].nr_pageblocks, 0);
	assert_false(pfn_to_page(t.pgdat, pfn)->flags & PG_pcp);
	for (uint32_t o = 0; o < MAX_ORDER; o++) {
		struct page *head = pfn_to_page(t.pgdat, pfn & ~((1u << o) - 1));

		if ((head->flags & PG_buddy) && head->order == o) {
			assert_true(head->flags & PG_reported);
			break;
		}
		assert_true(o + 1 < MAX_ORDER);
	}
	assert_int_equal(buddy_check(t.pgdat), 0);
	fake_fini(f);
	free(f);
}

/* ---- unregister waits for a pass an owner is running ---- */

static atomic_int slow_phase; /* 1: inside report(), 2: report() returned */

static int slow_report(struct page_reporting_dev_info *prdev,
		       struct scatterlist *sg, unsigned int nents)
{
	struct timespec ts = { 0, 200 * 1000 * 1000 };

	atomic_store(&slow_phase, 1);
	nanosleep(&ts, NULL);
	atomic_store(&slow_phase, 2);
	return 0;
}

static void *run_pass(void *arg)
{
	page_reporting_process(arg);
	return NULL;
}

static void test_unregister_waits_for_a_pass(void **state)
{
	struct test_node t;
	struct page_reporting_dev_info prdev;
	pthread_t thread;

	test_node_init(&t, 128 * MIB, 1);
	page_reporting_dev_info_init(&prdev);
	prdev.report = slow_report;
	prdev.manual = true;
	assert_int_equal(page_reporting_register(t.pgdat, &prdev), 0);
	atomic_store(&slow_phase, 0);
	assert_int_equal(pthread_create(&thread, NULL, run_pass, &prdev), 0);
	while (atomic_load(&slow_phase) == 0)
		sched_yield();
	page_reporting_unregister(&prdev);
	/* The pass finished its batch before unregister returned, and stopped. */
	assert_int_equal(atomic_load(&slow_phase), 2);
	assert_int_equal(atomic_load(&prdev.reports), 1);
	pthread_join(thread, NULL);
	assert_int_equal(atomic_load(&prdev.reports), 1);
	assert_int_equal(buddy_check(t.pgdat), 0);
	test_node_fini(&t);
}

/* ---- registration ---- */

/* A device that only counts what it is given. */
struct counting_dev {
	struct page_reporting_dev_info prdev; /* first: container_of is a cast */
	atomic_uint calls;
};

static int counting_report(struct page_reporting_dev_info *prdev,
			   struct scatterlist *sg, unsigned int nents)
{
	atomic_fetch_add(&((struct counting_dev *)prdev)->calls, 1);
	return 0;
}

static void counting_dev_init(struct counting_dev *d)
{
	page_reporting_dev_info_init(&d->prdev);
	d->prdev.report = counting_report;
	d->prdev.manual = true;
	d->prdev.capacity = 4;
	d->prdev.min_age_ms = 0;
	atomic_init(&d->calls, 0);
}

struct register_call {
	struct pglist_data *pgdat;
	struct page_reporting_dev_info *prdev;
	int err;
};

static void *run_register(void *arg)
{
	struct register_call *c = arg;

	c->err = page_reporting_register(c->pgdat, c->prdev);
	return NULL;
}

static void *run_unregister(void *arg)
{
	page_reporting_unregister(arg);
	return NULL;
}

/*
 * A registration that comes while an unregistration is tearing down must
 * wait for it, not be half undone by it: here the teardown is held on
 * Normal's zone lock after it has cleared Low.
 */
static void test_register_during_unregister(void **state)
{
	struct test_node t;
	struct fake *f = calloc(1, sizeof(*f));
	struct counting_dev b;
	struct zone *low, *normal;
	struct register_call rc;
	pthread_t unreg, reg;
	void *early;

	fake_init(f, &t, 128 * MIB);
	low = &t.pgdat->node_zones[ZONE_LOW];
	normal = &t.pgdat->node_zones[ZONE_NORMAL];
	counting_dev_init(&b);
	b.prdev.order = 7;
	b.prdev.hwm = 5;
	assert_true(zone_flag_test(low, ZONE_REPORTING_REQUESTED));

	spin_lock(&normal->lock);
	assert_int_equal(pthread_create(&unreg, NULL, run_unregister, &f->prdev), 0);
	while (atomic_load(&t.pgdat->prdev) || zone_flag_test(low, ZONE_REPORTING_REQUESTED))
		sched_yield();
	rc = (struct register_call){ t.pgdat, &b.prdev, 1 };
	assert_int_equal(pthread_create(&reg, NULL, run_register, &rc), 0);
	/* Give the registration every chance to land (50 tries of 1 ms). */
	for (int i = 0; i < 50 && !atomic_load(&t.pgdat->prdev); i++)
		sleep_ms(1);
	early = atomic_load(&t.pgdat->prdev);
	spin_unlock(&normal->lock);
	pthread_join(unreg, NULL);
	pthread_join(reg, NULL);

	assert_null(early);
	assert_int_equal(rc.err, 0);
	/* B's registration is whole: device, order, hwm and both requests. */
	assert_ptr_equal(atomic_load(&t.pgdat->prdev), &b.prdev);
	assert_int_equal(atomic_load(&t.pgdat->reporting_order), 7);
	assert_int_equal(atomic_load(&t.pgdat->reporting_hwm), 5);
	assert_true(zone_flag_test(low, ZONE_REPORTING_REQUESTED));
	assert_true(zone_flag_test(normal, ZONE_REPORTING_REQUESTED));
	assert_int_equal(page_reporting_process(&b.prdev), 0);
	assert_true(atomic_load(&b.calls) > 0);
	assert_int_equal(buddy_check(t.pgdat), 0);
	page_reporting_unregister(&b.prdev);
	fake_fini(f);
	free(f);
}

/*
 * A device whose first report() has another thread unregister it and then,
 * once that teardown is done (the unregistration is left waiting for this
 * pass), registers device B.
 */
struct handoff_dev {
	struct page_reporting_dev_info prdev; /* first: container_of is a cast */
	struct pglist_data *pgdat;
	struct counting_dev *b;
	pthread_t unreg;
	atomic_uint calls;
	int first_zone;
	int register_err;
};

static int handoff_report(struct page_reporting_dev_info *prdev,
			  struct scatterlist *sg, unsigned int nents)
{
	struct handoff_dev *d = (struct handoff_dev *)prdev;
	struct pglist_data *pgdat = d->pgdat;
	struct zone *normal = &pgdat->node_zones[ZONE_NORMAL];

	if (atomic_fetch_add(&d->calls, 1))
		return 0;
	d->first_zone = (int)(page_zone(pgdat, page_to_pfn(pgdat, sg[0].page)) -
			      pgdat->node_zones);
	if (pthread_create(&d->unreg, NULL, run_unregister, prdev))
		return 0;
	while (atomic_load(&pgdat->prdev) ||
	       atomic_load(&pgdat->reporting_order) != MAX_ORDER ||
	       zone_flag_test(normal, ZONE_REPORTING_REQUESTED))
		sched_yield();
	d->register_err = page_reporting_register(pgdat, &d->b->prdev);
	return 0;
}

/*
 * A pass whose device is unregistered while it reports one zone must not go
 * on to the next zone: that zone's request is the new device's.
 */
static void test_pass_stops_when_its_device_is_replaced(void **state)
{
	struct test_node t;
	struct handoff_dev a = { 0 };
	struct counting_dev b;
	struct zone *low, *normal;

	test_node_init(&t, 128 * MIB, 1);
	low = &t.pgdat->node_zones[ZONE_LOW];
	normal = &t.pgdat->node_zones[ZONE_NORMAL];
	page_reporting_dev_info_init(&a.prdev);
	a.prdev.report = handoff_report;
	a.prdev.manual = true;
	a.prdev.capacity = 1;
	a.prdev.min_age_ms = 0;
	a.pgdat = t.pgdat;
	a.b = &b;
	a.register_err = 1;
	counting_dev_init(&b);
	assert_int_equal(page_reporting_register(t.pgdat, &a.prdev), 0);
	assert_true(zone_flag_test(normal, ZONE_REPORTING_REQUESTED));

	assert_int_equal(page_reporting_process(&a.prdev), 0);
	assert_int_equal(atomic_load(&a.calls), 1);
	pthread_join(a.unreg, NULL);
	/* The pass was in Low, Normal comes next: it stopped instead. */
	assert_int_equal(a.first_zone, ZONE_LOW);
	assert_int_equal(a.register_err, 0);
	assert_int_equal(atomic_load(&a.calls), 1);
	assert_int_equal(atomic_load(&a.prdev.reports), 1);
	/* B's requests are intact, and B reports Normal. */
	assert_ptr_equal(atomic_load(&t.pgdat->prdev), &b.prdev);
	assert_true(zone_flag_test(low, ZONE_REPORTING_REQUESTED));
	assert_true(zone_flag_test(normal, ZONE_REPORTING_REQUESTED));
	assert_int_equal(page_reporting_process(&b.prdev), 0);
	assert_true(atomic_load(&b.calls) > 0);
	assert_true(normal->reported_blocks[MAX_ORDER - 1] > 0);
	assert_int_equal(buddy_check(t.pgdat), 0);
	page_reporting_unregister(&b.prdev);
	test_node_fini(&t);
}

/* A pass of a device that was never registered has nothing to do. */
static void test_process_unregistered_device(void **state)
{
	struct counting_dev d;

	counting_dev_init(&d);
	assert_int_equal(page_reporting_process(&d.prdev), 0);
	assert_int_equal(atomic_load(&d.calls), 0);
	page_reporting_unregister(&d.prdev);
}

/*
 * A worker whose delay is below min-age must not come straight back to a
 * zone whose blocks are all too young: it waits until the youngest can be
 * old enough.  Counted: the passes that found the block young.
 */
static void test_young_blocks_do_not_spin_the_worker(void **state)
{
	struct test_node t;
	struct counting_dev d;
	struct page *p;
	uint64_t young;
	int i;

	test_node_init(&t, 128 * MIB, 1);
	counting_dev_init(&d);
	d.prdev.manual = false;
	d.prdev.delay_ms = 0;
	d.prdev.min_age_ms = 200;
	d.prdev.hwm = 0;
	assert_int_equal(page_reporting_register(t.pgdat, &d.prdev), 0);
	/* Memory free since boot is old: reported, then the worker idles. */
	for (i = 0; i < 5000 && atomic_load(&d.prdev.state) != PAGE_REPORTING_IDLE; i++)
		sleep_ms(1);
	assert_int_equal(atomic_load(&d.prdev.state), PAGE_REPORTING_IDLE);
	assert_true(atomic_load(&d.calls) > 0);

	young = atomic_load(&d.prdev.young);
	assert_non_null(p = alloc_pages(t.pgdat, GFP_MOVABLE, 10));
	assert_int_equal(free_pages(t.pgdat, p, 10), 0);
	/* The worker writes the flags: read them as the allocator does. */
	for (i = 0; i < 5000 && __atomic_load_n(&p->flags, __ATOMIC_RELAXED) !=
				       (PG_buddy | PG_reported); i++)
		sleep_ms(1);
	assert_int_equal(__atomic_load_n(&p->flags, __ATOMIC_RELAXED),
			 PG_buddy | PG_reported);
	young = atomic_load(&d.prdev.young) - young;
	print_message("%llu passes found the block young\n", (unsigned long long)young);
	assert_true(young >= 1 && young <= 4);
	page_reporting_unregister(&d.prdev);
	assert_int_equal(buddy_check(t.pgdat), 0);
	test_node_fini(&t);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_random_sequences),
		cmocka_unit_test(test_everything_free_is_reported_once),
		cmocka_unit_test(test_merge_and_alloc_clear_the_mark),
		cmocka_unit_test(test_trigger_at_high_water_mark),
		cmocka_unit_test(test_failed_report_backs_off),
		cmocka_unit_test(test_gate_keeps_low_watermark_plus_batch),
		cmocka_unit_test(test_free_of_block_out_for_reporting),
		cmocka_unit_test(test_register_errors),
		cmocka_unit_test(test_gate_tries_smaller_orders),
		cmocka_unit_test(test_young_blocks_wait),
		cmocka_unit_test(test_backoff_is_capped),
		cmocka_unit_test(test_gated_zone_stays_requested),
		cmocka_unit_test(test_idle_pcp_lists_are_reported),
		cmocka_unit_test(test_block_beside_recycled_buddy_ages),
		cmocka_unit_test(test_unregister_waits_for_a_pass),
		cmocka_unit_test(test_register_during_unregister),
		cmocka_unit_test(test_pass_stops_when_its_device_is_replaced),
		cmocka_unit_test(test_process_unregistered_device),
		cmocka_unit_test(test_young_blocks_do_not_spin_the_worker),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
