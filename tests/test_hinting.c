/*
 * test_hinting.c - the two strategies beside reporting (issue 9): page
 * hinting's per-CPU arrays (mm/page_hinting.c) and the free bitmap
 * (mm/free_bitmap.c).  Random operation sequences with a fixed seed, each
 * strategy's validator and buddy_check() after every step; a device that
 * fails the test when it is handed an allocated frame; the free path's
 * record found in the larger block a later free merged it into; blocks out
 * for hinting never handed to an allocation; an allocation on a chunk in
 * flight waits for the ack and is counted; bad acks refused with the bitmap
 * untouched.
 */
#include "testutil.h"
#include "guestmm/guest.h"

#include <errno.h>
#include <pthread.h>
#include <unistd.h>

#define MIB (1ull << 20)
#define STEPS 3000
#define MAX_HELD 512

struct hint_dev {
	struct page_reporting_dev_info prdev; /* first: container_of is a cast */
	struct test_node *t;
	unsigned int reports;
	uint64_t pages;
	uint32_t last_pfn[PAGE_REPORTING_CAPACITY_MAX];
	unsigned int last_order[PAGE_REPORTING_CAPACITY_MAX];
	unsigned int last_n;
	/* report() allocates while its batch is out, to show it cannot get it */
	bool alloc_inside;
	unsigned int inside_allocs;
};

static int hint_report(struct page_reporting_dev_info *prdev,
		       struct scatterlist *sg, unsigned int nents)
{
	struct hint_dev *d = (struct hint_dev *)prdev;
	struct test_node *t = d->t;

	for (unsigned int i = 0; i < nents; i++) {
		uint32_t pfn = page_to_pfn(t->pgdat, sg[i].page);
		uint32_t nr = sg[i].length >> PAGE_SHIFT;

		if (sg[i].page->flags != PG_isolated)
			fail_msg("pfn %#x reported with flags %#x", pfn,
				 sg[i].page->flags);
		for (uint32_t p = pfn; p < pfn + nr; p++)
			if (t->allocated[p])
				fail_msg("pfn %#x reported while allocated", p);
		d->last_pfn[i] = pfn;
		d->last_order[i] = sg[i].page->order;
		d->pages += nr;
	}
	d->last_n = nents;
	d->reports++;
	if (d->alloc_inside) {
		/* Everything else may go; the batch may not. */
		for (int k = 0; k < 64; k++) {
			struct page *page = alloc_pages(t->pgdat, GFP_MOVABLE,
							PAGEBLOCK_ORDER);
			uint32_t pfn;

			if (!page)
				break;
			pfn = page_to_pfn(t->pgdat, page);
			for (unsigned int i = 0; i < nents; i++) {
				uint32_t b = page_to_pfn(t->pgdat, sg[i].page);

				if (pfn + PAGEBLOCK_NR_PAGES > b &&
				    pfn < b + (sg[i].length >> PAGE_SHIFT))
					fail_msg("pfn %#x allocated while out for hinting (block %#x)",
						 pfn, b);
			}
			model_alloc(t, page, PAGEBLOCK_ORDER);
			d->inside_allocs++;
		}
	}
	return 0;
}

static void hint_dev_init(struct hint_dev *d, struct test_node *t)
{
	memset(d, 0, sizeof(*d));
	page_reporting_dev_info_init(&d->prdev);
	d->prdev.report = hint_report;
	d->prdev.capacity = 8;
	d->t = t;
}

struct held {
	struct page *page;
	unsigned int order;
};

static unsigned int random_order(uint64_t *rng)
{
	uint64_t r = test_rand(rng) % 16;

	return r < 8 ? 0 : r < 12 ? (unsigned int)(r - 7) : (unsigned int)(r - 4);
}

/* ---- percpu ---- */

static void test_percpu_random(void **state)
{
	struct test_node t;
	struct hint_dev d;
	struct page_hinting ph;
	struct held held[MAX_HELD];
	unsigned int n = 0;
	uint64_t seed = test_seed(), rng = seed;

	test_node_init(&t, 64 * MIB, 2);
	hint_dev_init(&d, &t);
	page_hinting_init(&ph);
	ph.dev = &d.prdev;
	ph.entries = 16;
	ph.manual = true;
	assert_int_equal(page_hinting_register(t.pgdat, &ph), 0);
	for (unsigned long step = 0; step < STEPS; step++) {
		uint64_t r = test_rand(&rng);

		platform_set_cpu_id((unsigned int)(r >> 40) % 2);
		if (n < MAX_HELD && (r % 3 || !n)) {
			unsigned int order = random_order(&rng);
			struct page *page = alloc_pages(t.pgdat, GFP_MOVABLE, order);

			if (page) {
				model_alloc(&t, page, order);
				held[n++] = (struct held){ page, order };
			}
		} else {
			unsigned int k = (unsigned int)(r >> 8) % n;

			model_free(&t, held[k].page, held[k].order);
			CHECK_SEED(free_pages(t.pgdat, held[k].page,
					      held[k].order) == 0, seed, step);
			held[k] = held[--n];
		}
		if (step % 97 == 0) {
			if (step % 2)
				drain_all_pages(t.pgdat);
			CHECK_SEED(page_hinting_process(&ph) == 0, seed, step);
		}
		CHECK_SEED(page_hinting_check(&ph) == 0, seed, step);
		if (step % 16 == 0)
			CHECK_SEED(buddy_check(t.pgdat) == 0, seed, step);
	}
	platform_set_cpu_id(0);
	assert_true(d.reports > 0);
	assert_int_equal(atomic_load(&ph.isolated), atomic_load(&ph.returned));
	page_hinting_unregister(&ph);
	while (n--)
		free_pages(t.pgdat, held[n].page, held[n].order);
	drain_all_pages(t.pgdat);
	assert_int_equal(buddy_check(t.pgdat), 0);
	test_node_fini(&t);
}

/* Allocate every order-9 block of @t into @v; return how many. */
static unsigned int take_all(struct test_node *t, struct page **v, unsigned int max)
{
	unsigned int n = 0;
	struct page *page;

	drain_all_pages(t->pgdat);
	while (n < max &&
	       (page = alloc_pages(t->pgdat, GFP_MOVABLE, PAGEBLOCK_ORDER)))
		v[n++] = page;
	return n;
}

/* Free @page and push it through the per-CPU lists to the zone. */
static void free_to_zone(struct test_node *t, struct page *page)
{
	assert_int_equal(free_pages(t->pgdat, page, PAGEBLOCK_ORDER), 0);
	drain_all_pages(t->pgdat);
}

/*
 * A frame recorded as an order-9 block, then absorbed into an order-10 block
 * by its buddy's free, is hinted as that order-10 block, once; the entry of
 * the second free finds it out already.  A block allocated since it was
 * recorded is stale and not hinted; nothing is hinted before a pass; a full
 * array drops frees and counts them.
 */
static void test_percpu_finds_the_block(void **state)
{
	static struct page *v[64];
	struct test_node t;
	struct hint_dev d;
	struct page_hinting ph;
	unsigned int n, lo = 0, hi = 0;
	uint32_t plo = 0;
	uint64_t stale;
	bool found = false;

	test_node_init(&t, 32 * MIB, 1);
	hint_dev_init(&d, &t);
	page_hinting_init(&ph);
	ph.dev = &d.prdev;
	ph.entries = 4;
	ph.manual = true;
	n = take_all(&t, v, 64);
	assert_true(n >= 4);
	/* Two buddies whose order-10 block lies in the Normal zone. */
	for (unsigned int i = 0; i < n && !found; i++)
		for (unsigned int j = 0; j < n && !found; j++) {
			uint32_t a = page_to_pfn(t.pgdat, v[i]);
			uint32_t b = page_to_pfn(t.pgdat, v[j]);

			if (!(a & PAGEBLOCK_NR_PAGES) && b == a + PAGEBLOCK_NR_PAGES &&
			    a >= t.pgdat->node_zones[ZONE_NORMAL].zone_start_pfn) {
				lo = i, hi = j, plo = a;
				found = true;
			}
		}
	assert_true(found);
	/*
	 * Room above the gate (the low watermark plus a batch): eight other
	 * blocks go back before recording starts.
	 */
	d.prdev.capacity = 1;
	for (unsigned int i = 0, k = 0; i < n && k < 8; i++) {
		if (i == lo || i == hi || !v[i])
			continue;
		free_to_zone(&t, v[i]);
		v[i] = NULL;
		k++;
	}
	assert_int_equal(page_hinting_register(t.pgdat, &ph), 0);
	free_to_zone(&t, v[hi]);
	assert_int_equal(ph.cpu[0].nr[ZONE_NORMAL], 1);
	assert_int_equal(ph.cpu[0].pfn[ZONE_NORMAL][0], plo + PAGEBLOCK_NR_PAGES);
	free_to_zone(&t, v[lo]);
	assert_int_equal(ph.cpu[0].nr[ZONE_NORMAL], 2);
	assert_int_equal(d.reports, 0); /* manual: nothing until a pass */
	stale = atomic_load(&ph.stale);
	assert_int_equal(page_hinting_process(&ph), 0);
	assert_int_equal(d.reports, 1);
	assert_int_equal(d.last_n, 1);
	assert_int_equal(d.last_pfn[0], plo);
	assert_int_equal(d.last_order[0], PAGEBLOCK_ORDER + 1);
	/* The other entry lies in the block just hinted: not again. */
	assert_int_equal(atomic_load(&ph.stale), stale + 1);
	assert_int_equal(page_hinting_check(&ph), 0);

	/* Recorded, then allocated before the pass: stale, not hinted. */
	v[lo] = alloc_pages(t.pgdat, GFP_MOVABLE, PAGEBLOCK_ORDER);
	v[hi] = alloc_pages(t.pgdat, GFP_MOVABLE, PAGEBLOCK_ORDER);
	assert_non_null(v[lo]);
	assert_non_null(v[hi]);
	free_to_zone(&t, v[lo]);
	assert_int_equal(ph.cpu[0].nr[ZONE_NORMAL], 1);
	v[lo] = alloc_pages(t.pgdat, GFP_MOVABLE, PAGEBLOCK_ORDER);
	assert_non_null(v[lo]);
	d.reports = 0;
	stale = atomic_load(&ph.stale);
	assert_int_equal(page_hinting_process(&ph), 0);
	assert_int_equal(d.reports, 0);
	assert_int_equal(atomic_load(&ph.stale), stale + 1);

	for (unsigned int i = 0; i < n; i++)
		if (v[i])
			free_to_zone(&t, v[i]);
	assert_int_equal(page_hinting_check(&ph), 0);

	/* Full: frees beyond @entries are dropped, and counted. */
	page_hinting_unregister(&ph);
	ph.entries = 1;
	assert_int_equal(page_hinting_register(t.pgdat, &ph), 0);
	v[0] = alloc_pages(t.pgdat, GFP_MOVABLE, PAGEBLOCK_ORDER);
	v[1] = alloc_pages(t.pgdat, GFP_MOVABLE, PAGEBLOCK_ORDER);
	assert_non_null(v[0]);
	assert_non_null(v[1]);
	free_to_zone(&t, v[0]);
	free_to_zone(&t, v[1]);
	assert_int_equal(ph.cpu[0].nr[ZONE_NORMAL] + ph.cpu[0].nr[ZONE_LOW], 1);
	assert_true(atomic_load(&ph.dropped) >= 1);
	assert_int_equal(page_hinting_check(&ph), 0);
	page_hinting_unregister(&ph);
	assert_int_equal(buddy_check(t.pgdat), 0);
	test_node_fini(&t);
}

/* While a batch is out, allocation takes other memory, never the batch. */
static void test_percpu_isolated_not_allocatable(void **state)
{
	struct test_node t;
	struct hint_dev d;
	struct page_hinting ph;
	struct page *blocks[16];

	test_node_init(&t, 64 * MIB, 1);
	hint_dev_init(&d, &t);
	page_hinting_init(&ph);
	ph.dev = &d.prdev;
	ph.manual = true;
	assert_int_equal(page_hinting_register(t.pgdat, &ph), 0);
	for (int i = 0; i < 16; i++)
		assert_non_null(blocks[i] = alloc_pages(t.pgdat, GFP_MOVABLE,
							PAGEBLOCK_ORDER));
	for (int i = 0; i < 16; i++)
		assert_int_equal(free_pages(t.pgdat, blocks[i], PAGEBLOCK_ORDER), 0);
	drain_all_pages(t.pgdat);
	d.alloc_inside = true;
	assert_int_equal(page_hinting_process(&ph), 0);
	assert_true(d.reports > 0);
	assert_true(d.inside_allocs > 0);
	assert_int_equal(page_hinting_check(&ph), 0);
	assert_int_equal(buddy_check(t.pgdat), 0);
	page_hinting_unregister(&ph);
	test_node_fini(&t);
}

static void test_percpu_exclusive(void **state)
{
	struct test_node t;
	struct hint_dev d, d2;
	struct page_hinting ph;

	test_node_init(&t, 64 * MIB, 1);
	hint_dev_init(&d, &t);
	hint_dev_init(&d2, &t);
	d2.prdev.manual = true;
	page_hinting_init(&ph);
	ph.dev = &d.prdev;
	ph.manual = true;
	ph.entries = 0;
	assert_int_equal(page_hinting_register(t.pgdat, &ph), -GMM_EINVAL);
	ph.entries = PAGE_HINTING_ENTRIES;
	assert_int_equal(page_hinting_register(t.pgdat, &ph), 0);
	/* Twice: refused, and the registration still works. */
	assert_int_equal(page_hinting_register(t.pgdat, &ph), -GMM_EBUSY);
	assert_int_equal(page_hinting_check(&ph), 0);
	/* One strategy at a time. */
	assert_int_equal(page_reporting_register(t.pgdat, &d2.prdev), -GMM_EBUSY);
	page_hinting_unregister(&ph);
	assert_int_equal(page_reporting_register(t.pgdat, &d2.prdev), 0);
	assert_int_equal(page_hinting_register(t.pgdat, &ph), -GMM_EBUSY);
	page_reporting_unregister(&d2.prdev);
	assert_int_equal(buddy_check(t.pgdat), 0);
	test_node_fini(&t);
}

/* ---- bitmap ---- */

static struct free_bitmap *bitmap_new(struct test_node *t, unsigned int order)
{
	struct free_bitmap *fb = calloc(1, free_bitmap_size(t->bytes >> PAGE_SHIFT,
							    order));

	assert_non_null(fb);
	fb->order = order;
	assert_int_equal(free_bitmap_register(t->pgdat, fb), 0);
	return fb;
}

/* The runs handed over are free memory, and stay so until the ack. */
static void check_runs_free(struct test_node *t, const struct free_page_hint_run *runs,
			    unsigned int nr, uint64_t seed, unsigned long step)
{
	for (unsigned int i = 0; i < nr; i++)
		for (uint32_t p = runs[i].pfn; p < runs[i].pfn + runs[i].nr_pages; p++)
			CHECK_SEED(!t->allocated[p], seed, step);
}

static void test_bitmap_random(void **state)
{
	struct test_node t;
	struct free_bitmap *fb;
	struct held held[MAX_HELD];
	struct free_page_hint_run runs[16];
	unsigned int n = 0, nr = 0;
	uint32_t cmd = 2, in_flight = 0;
	uint64_t seed = test_seed(), rng = seed, hinted = 0;

	test_node_init(&t, 64 * MIB, 2);
	fb = bitmap_new(&t, PAGEBLOCK_ORDER);
	for (unsigned long step = 0; step < STEPS; step++) {
		uint64_t r = test_rand(&rng);

		platform_set_cpu_id((unsigned int)(r >> 40) % 2);
		switch (r % 8) {
		case 0: /* the host asks */
			if (in_flight) {
				CHECK_SEED(free_bitmap_request_hints(fb, cmd, runs, 16, 0, &nr) ==
						   -GMM_EBUSY, seed, step);
				break;
			}
			CHECK_SEED(free_bitmap_request_hints(fb, cmd, runs, 16, 0, &nr) == 0,
				   seed, step);
			check_runs_free(&t, runs, nr, seed, step);
			if (nr) {
				in_flight = cmd;
				hinted += nr;
			}
			cmd++;
			break;
		case 1: /* the host acknowledges */
			if (in_flight) {
				CHECK_SEED(free_bitmap_ack(fb, in_flight) == 0, seed, step);
				in_flight = 0;
			} else {
				CHECK_SEED(free_bitmap_ack(fb, cmd - 1) == -GMM_EINVAL,
					   seed, step);
			}
			break;
		case 2: case 3: case 4: /* allocate: never while a hint is out */
			if (in_flight || n == MAX_HELD)
				break;
			{
				unsigned int order = random_order(&rng);
				struct page *page = alloc_pages(t.pgdat, GFP_MOVABLE, order);

				if (page) {
					model_alloc(&t, page, order);
					held[n++] = (struct held){ page, order };
				}
			}
			break;
		default: /* free: allowed any time */
			if (!n)
				break;
			{
				unsigned int k = (unsigned int)(r >> 8) % n;

				model_free(&t, held[k].page, held[k].order);
				CHECK_SEED(free_pages(t.pgdat, held[k].page,
						      held[k].order) == 0, seed, step);
				held[k] = held[--n];
			}
			if (step % 5 == 0)
				drain_all_pages(t.pgdat);
		}
		CHECK_SEED(free_bitmap_check(fb) == 0, seed, step);
		if (in_flight)
			check_runs_free(&t, fb->runs, fb->nr_runs, seed, step);
		if (step % 16 == 0)
			CHECK_SEED(buddy_check(t.pgdat) == 0, seed, step);
	}
	platform_set_cpu_id(0);
	assert_true(hinted > 0);
	if (in_flight)
		assert_int_equal(free_bitmap_ack(fb, in_flight), 0);
	free_bitmap_unregister(fb);
	while (n--)
		free_pages(t.pgdat, held[n].page, held[n].order);
	assert_int_equal(buddy_check(t.pgdat), 0);
	free(fb);
	test_node_fini(&t);
}

/* Acks the guest never asked for, or twice, change nothing. */
static void test_bitmap_bad_acks(void **state)
{
	struct test_node t;
	struct free_bitmap *fb;
	struct free_page_hint_run runs[FREE_BITMAP_RUNS_MAX];
	unsigned int nr;
	size_t bytes;
	void *before;

	test_node_init(&t, 64 * MIB, 1);
	fb = bitmap_new(&t, PAGEBLOCK_ORDER);
	bytes = 2 * fb->nr_words * sizeof(uint64_t);
	before = malloc(bytes);
	assert_non_null(before);

	/* Nothing in flight: any ack is refused, bits untouched. */
	memcpy(before, (void *)fb->bits, bytes);
	assert_int_equal(free_bitmap_ack(fb, 0x80000000u), -GMM_EINVAL);
	assert_int_equal(free_bitmap_ack(fb, 0), -GMM_EINVAL);
	assert_memory_equal(before, (void *)fb->bits, bytes);
	/* Reserved ids (STOP, DONE) and bad sizes are refused. */
	assert_int_equal(free_bitmap_request_hints(fb, 0, runs, 8, 0, &nr), -GMM_EINVAL);
	assert_int_equal(free_bitmap_request_hints(fb, 1, runs, 8, 0, &nr), -GMM_EINVAL);
	assert_int_equal(free_bitmap_request_hints(fb, 7, runs, 0, 0, &nr), -GMM_EINVAL);
	assert_int_equal(free_bitmap_request_hints(fb, 7, runs,
						   FREE_BITMAP_RUNS_MAX + 1, 0, &nr),
			 -GMM_EINVAL);

	assert_int_equal(free_bitmap_request_hints(fb, 7, runs, 8, 0, &nr), 0);
	assert_true(nr > 0);
	assert_int_equal(free_bitmap_check(fb), 0);
	/* Another command while one is in flight: refused. */
	assert_int_equal(free_bitmap_request_hints(fb, 8, runs, 8, 0, &nr), -GMM_EBUSY);
	/* Wrong id: refused, in flight as before. */
	memcpy(before, (void *)fb->bits, bytes);
	assert_int_equal(free_bitmap_ack(fb, 8), -GMM_EINVAL);
	assert_int_equal(free_bitmap_ack(fb, 6), -GMM_EINVAL);
	assert_memory_equal(before, (void *)fb->bits, bytes);
	assert_int_equal(free_bitmap_check(fb), 0);
	/* The right one, then the same again. */
	assert_int_equal(free_bitmap_ack(fb, 7), 0);
	memcpy(before, (void *)fb->bits, bytes);
	assert_int_equal(free_bitmap_ack(fb, 7), -GMM_EINVAL);
	assert_memory_equal(before, (void *)fb->bits, bytes);
	assert_int_equal(free_bitmap_check(fb), 0);
	assert_int_equal(atomic_load(&fb->bad_acks), 5);
	assert_int_equal(atomic_load(&fb->acks), 1);
	free_bitmap_unregister(fb);
	assert_int_equal(buddy_check(t.pgdat), 0);
	free(before);
	free(fb);
	test_node_fini(&t);
}

struct waiter {
	struct pglist_data *pgdat;
	struct page *page;
	atomic_bool done;
};

static void *waiter_thread(void *p)
{
	struct waiter *w = p;

	platform_set_cpu_id(0);
	w->page = alloc_pages(w->pgdat, GFP_MOVABLE, PAGEBLOCK_ORDER);
	atomic_store(&w->done, true);
	return NULL;
}

/*
 * With every free chunk in flight, an allocation of a chunk has to wait for
 * the ack: it gets its memory only after it, and the wait is counted.
 */
static void test_bitmap_alloc_waits_for_ack(void **state)
{
	struct test_node t;
	struct free_bitmap *fb;
	struct free_page_hint_run runs[FREE_BITMAP_RUNS_MAX];
	struct waiter w = { 0 };
	pthread_t th;
	unsigned int nr;

	test_node_init(&t, 64 * MIB, 1);
	fb = bitmap_new(&t, PAGEBLOCK_ORDER);
	drain_all_pages(t.pgdat);
	assert_int_equal(free_bitmap_request_hints(fb, 2, runs, FREE_BITMAP_RUNS_MAX,
						   0, &nr), 0);
	assert_true(nr > 0);
	w.pgdat = t.pgdat;
	assert_int_equal(pthread_create(&th, NULL, waiter_thread, &w), 0);
	/* Until the ack, it cannot be done; give it time to get stuck. */
	for (int i = 0; i < 50 && !atomic_load(&w.done); i++)
		usleep(2000);
	assert_false(atomic_load(&w.done));
	assert_int_equal(free_bitmap_ack(fb, 2), 0);
	pthread_join(th, NULL);
	assert_non_null(w.page);
	assert_int_equal(atomic_load(&fb->alloc_waits), 1);
	assert_true(atomic_load(&fb->alloc_wait_ns) > 0);
	assert_int_equal(free_bitmap_check(fb), 0);
	/* Its chunk is allocated: not free, not hinted again. */
	assert_int_equal(free_bitmap_request_hints(fb, 3, runs, FREE_BITMAP_RUNS_MAX,
						   0, &nr), 0);
	for (unsigned int i = 0; i < nr; i++) {
		uint32_t p = page_to_pfn(t.pgdat, w.page);

		assert_false(p >= runs[i].pfn && p < runs[i].pfn + runs[i].nr_pages);
	}
	if (nr)
		assert_int_equal(free_bitmap_ack(fb, 3), 0);
	assert_int_equal(free_pages(t.pgdat, w.page, PAGEBLOCK_ORDER), 0);
	free_bitmap_unregister(fb);
	assert_int_equal(buddy_check(t.pgdat), 0);
	free(fb);
	test_node_fini(&t);
}

/* A command hands over at most the cap (at least one chunk), in order, and
 * the next command goes on from where the cap stopped it. */
static void test_bitmap_cap(void **state)
{
	struct test_node t;
	struct free_bitmap *fb;
	struct free_page_hint_run runs[FREE_BITMAP_RUNS_MAX];
	const uint64_t chunk = 1u << PAGEBLOCK_ORDER;
	uint64_t total = 0, got;
	unsigned int nr;
	uint32_t cmd = 2, last_end = 0;

	(void)state;
	test_node_init(&t, 64 * MIB, 1);
	fb = bitmap_new(&t, PAGEBLOCK_ORDER);
	drain_all_pages(t.pgdat);
	/* Below one chunk: one chunk. */
	assert_int_equal(free_bitmap_request_hints(fb, cmd, runs,
						   FREE_BITMAP_RUNS_MAX, 1, &nr), 0);
	assert_int_equal(nr, 1);
	assert_int_equal(runs[0].nr_pages, chunk);
	assert_int_equal(free_bitmap_ack(fb, cmd++), 0);
	/* Three chunks a command: never more than the cap, and each command
	 * goes on past the last one's chunks (the ack sets them free again,
	 * so without the cursor the same chunks would be handed over). */
	for (unsigned int k = 0; k < 4; k++) {
		uint32_t first = UINT32_MAX, end = 0;

		got = 0;
		assert_int_equal(free_bitmap_request_hints(fb, cmd, runs,
							   FREE_BITMAP_RUNS_MAX,
							   3 * chunk, &nr), 0);
		assert_true(nr > 0);
		for (unsigned int i = 0; i < nr; i++) {
			got += runs[i].nr_pages;
			if (runs[i].pfn < first)
				first = runs[i].pfn;
			if (runs[i].pfn + runs[i].nr_pages > end)
				end = runs[i].pfn + runs[i].nr_pages;
		}
		assert_int_equal(got, 3 * chunk);
		assert_true(first >= last_end);
		last_end = end;
		total += got;
		assert_int_equal(free_bitmap_check(fb), 0);
		assert_int_equal(free_bitmap_ack(fb, cmd++), 0);
	}
	assert_int_equal(total, 12 * chunk);
	free_bitmap_unregister(fb);
	assert_int_equal(buddy_check(t.pgdat), 0);
	free(fb);
	test_node_fini(&t);
}

/*
 * gmm_guest_set_hinting(): each strategy in turn on one in-process guest,
 * each one really giving memory back (the memfd's blocks, not a counter),
 * through the same device; with reporting off the choice waits for it.
 */
static void test_guest_switches_strategy(void **state)
{
	static const enum gmm_hinting order[] = {
		GMM_HINTING_PERCPU, GMM_HINTING_BITMAP, GMM_HINTING_REPORT,
		GMM_HINTING_OFF, GMM_HINTING_BITMAP,
	};
	struct gmm_guest_config c;
	struct gmm_guest_stats st;
	struct gmm_guest *g;

	(void)state;
	gmm_guest_config_init(&c);
	c.mem_bytes = 64 * MIB;
	c.cpus = 1;
	c.report_delay_ms = 0;
	c.report_hwm = 0;
	c.hint_entries = 64;
	c.report_capacity = 2; /* the gate: low watermark + 2 blocks */
	c.hint_poll_ms = 1000; /* the test asks: gmm_guest_report_now() */
	assert_int_equal(gmm_guest_create(&c, &g), 0);
	assert_int_equal(gmm_guest_set_hinting(g, GMM_NR_HINTING), -EINVAL);
	assert_int_equal(gmm_guest_set_hinting(g, (enum gmm_hinting)-1), -EINVAL);
	for (unsigned int i = 0; i < sizeof(order) / sizeof(order[0]); i++) {
		struct pglist_data *pgdat = gmm_guest_pgdat(g);
		struct page *p[8];

		assert_int_equal(gmm_guest_set_hinting(g, order[i]), 0);
		if (i && order[i - 1] == GMM_HINTING_OFF) {
			/* No strategy on: remembered, started by the switch. */
			gmm_guest_get_stats(g, &st);
			assert_int_equal(st.hinting, GMM_HINTING_OFF);
			assert_int_equal(gmm_guest_set_reporting(g, true), 0);
		}
		gmm_guest_get_stats(g, &st);
		assert_int_equal(st.hinting, order[i]);
		if (order[i] == GMM_HINTING_OFF) {
			assert_int_equal(gmm_guest_report_now(g), -EINVAL);
			continue;
		}
		/* 16 MiB written and freed: the strategy returns it. */
		for (unsigned int k = 0; k < 8; k++) {
			p[k] = alloc_pages(pgdat, GFP_MOVABLE, PAGEBLOCK_ORDER);
			assert_non_null(p[k]);
			memset(page_address(pgdat, p[k]), 0x5a, 2 * MIB);
		}
		uint64_t peak = gmm_guest_host_resident_bytes(g);

		for (unsigned int k = 0; k < 8; k++)
			assert_int_equal(free_pages(pgdat, p[k], PAGEBLOCK_ORDER), 0);
		drain_all_pages(pgdat);
		for (int k = 0; k < 4; k++)
			assert_int_equal(gmm_guest_report_now(g), 0);
		if (gmm_guest_host_resident_bytes(g) + 12 * MIB > peak)
			fail_msg("%s: %llu MiB resident of %llu at the peak",
				 gmm_hinting_names[order[i]],
				 (unsigned long long)(gmm_guest_host_resident_bytes(g) >> 20),
				 (unsigned long long)(peak >> 20));
		assert_int_equal(gmm_guest_validate(g), 0);
	}
	/* Reporting off: the choice is kept for when it comes back on. */
	assert_int_equal(gmm_guest_set_reporting(g, false), 0);
	assert_int_equal(gmm_guest_set_hinting(g, GMM_HINTING_PERCPU), 0);
	gmm_guest_get_stats(g, &st);
	assert_int_equal(st.hinting, GMM_HINTING_OFF);
	assert_int_equal(gmm_guest_set_reporting(g, true), 0);
	gmm_guest_get_stats(g, &st);
	assert_int_equal(st.hinting, GMM_HINTING_PERCPU);
	gmm_guest_destroy(g);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_percpu_random),
		cmocka_unit_test(test_percpu_finds_the_block),
		cmocka_unit_test(test_percpu_isolated_not_allocatable),
		cmocka_unit_test(test_percpu_exclusive),
		cmocka_unit_test(test_bitmap_random),
		cmocka_unit_test(test_bitmap_bad_acks),
		cmocka_unit_test(test_bitmap_alloc_waits_for_ack),
		cmocka_unit_test(test_bitmap_cap),
		cmocka_unit_test(test_guest_switches_strategy),
	};

	platform_bad_state_fatal(true);
	return cmocka_run_group_tests(tests, NULL, NULL);
}
