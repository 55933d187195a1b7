/*
 * test_zdense.c - the dense pool: every size class round-trips, objects
 * across a page boundary, handles that stay valid across page migration and
 * pool compaction (by the pool's shrinker and by compact_node()), forged and
 * stale handles refused, random operations against a model with
 * zdense_check() after each, concurrent store/load/free/migrate/compact
 * (bounded, for ThreadSanitizer), and no page left behind after a drain.
 */
#include "anonutil.h"

#include <pthread.h>
#include <sched.h>

#include "mm/compaction.h"
#include "mm/migrate.h"
#include "mm/zdense.h"

#define MIB (1ull << 20)
#define BASE (1ull << 30)

struct obj {
	uint64_t handle;
	size_t size;
	uint64_t seed;
};

/* An object's bytes: a function of its seed and position. */
static void obj_bytes(uint8_t *p, size_t size, uint64_t seed)
{
	uint64_t s = seed | 1;

	for (size_t i = 0; i < size; i++)
		p[i] = (uint8_t)(test_rand(&s) >> 24);
}

static void obj_store(struct zdense_pool *pool, struct obj *o)
{
	uint8_t buf[PAGE_SIZE];

	assert_int_equal(zdense_malloc(pool, o->size, &o->handle), 0);
	obj_bytes(buf, o->size, o->seed);
	assert_int_equal(zdense_write(pool, o->handle, buf, o->size), 0);
}

/* Return: 0 when the object reads back as stored, else the first bad byte + 1. */
static size_t obj_differs(struct zdense_pool *pool, const struct obj *o)
{
	uint8_t want[PAGE_SIZE], local[PAGE_SIZE];
	uint8_t *p;
	size_t bad = 0;

	if (zdense_map(pool, o->handle, local, (void **)&p))
		return SIZE_MAX;
	obj_bytes(want, o->size, o->seed);
	for (size_t i = 0; i < o->size && !bad; i++)
		if (p[i] != want[i])
			bad = i + 1;
	zdense_unmap(pool, o->handle);
	return bad;
}

static void obj_check(struct zdense_pool *pool, const struct obj *o)
{
	size_t bad = obj_differs(pool, o);

	if (bad)
		fail_msg("handle %#llx (%zu bytes): %s", (unsigned long long)o->handle, o->size,
			 bad == SIZE_MAX ? "does not map" : "differs");
}

/* A node with page_ext; *@free_before: its free pages before any pool. */
static void plain_node(struct test_node *t, uint64_t bytes, uint64_t *free_before)
{
	test_node_init(t, bytes, 2);
	assert_int_equal(page_ext_init(t->pgdat), 0);
	drain_all_pages(t->pgdat);
	*free_before = pgdat_free_pages(t->pgdat);
}

/* Destroy the empty pool; every frame it took is free again. */
static void pool_gone(struct test_node *t, struct zdense_pool *pool, uint64_t free_before)
{
	assert_int_equal(zdense_get_pool_size(pool), 0);
	zdense_destroy_pool(pool);
	drain_all_pages(t->pgdat);
	assert_int_equal(pgdat_free_pages(t->pgdat), free_before);
	assert_int_equal(buddy_check(t->pgdat), 0);
}

/*
 * Every class: objects of its smallest and largest size, enough for more
 * than two spans, each written and read back, the validator after; the
 * classes are what the design says (16-byte steps, spans of 1-16 pages,
 * merged only where nothing more is wasted).
 */
static void test_every_class_round_trips(void **state)
{
	struct test_node t;
	struct zdense_pool *pool;
	uint64_t free_before;
	unsigned int n = zdense_nr_classes(), prev_size = 8;
	static struct obj objs[4096];

	plain_node(&t, 64 * MIB, &free_before);
	assert_int_equal(zdense_create_pool(t.pgdat, 0, 8192, NULL, NULL, &pool), 0);
	assert_true(n > 64 && n <= PAGE_SIZE / 16);
	for (unsigned int c = 0; c < n; c++) {
		unsigned int size, pages, objs_per, nr = 0;

		zdense_class_info(c, &size, &pages, &objs_per);
		assert_true(size % 16 == 0 && size > prev_size && pages >= 1 && pages <= 16);
		assert_int_equal(objs_per, pages * PAGE_SIZE / size);
		/* The smallest and the largest size of the class land in it. */
		assert_int_equal(zdense_size_class(prev_size - 8 + 1), c);
		assert_int_equal(zdense_size_class(size - 8), c);
		for (unsigned int k = 0; k < 2 * objs_per + 1 && nr < 4096; k++) {
			struct obj *o = &objs[nr++];

			o->size = k % 2 ? size - 8 : prev_size - 8 + 1;
			o->seed = (uint64_t)c << 32 | k;
			obj_store(pool, o);
		}
		assert_true(zdense_get_pool_size(pool) >= 2 * pages);
		assert_int_equal(zdense_check(pool), 0);
		for (unsigned int k = 0; k < nr; k++) {
			obj_check(pool, &objs[k]);
			assert_int_equal(zdense_free(pool, objs[k].handle), 0);
		}
		assert_int_equal(zdense_get_pool_size(pool), 0);
		prev_size = size;
	}
	assert_int_equal(prev_size, PAGE_SIZE);
	assert_int_equal(zdense_malloc(pool, ZDENSE_MAX_ALLOC + 1, &objs[0].handle), -GMM_ENOSPC);
	pool_gone(&t, pool, free_before);
	page_ext_fini(t.pgdat);
	test_node_fini(&t);
}

/*
 * Objects of 1528 bytes (class 1536: 8 objects in 3 pages, nothing wasted)
 * straddle pages: the 3rd starts at byte 3072 and ends in the second page.
 * A straddling object maps into the caller's buffer, and not without one;
 * one within a page maps in place.  Writes across the boundary land in both
 * pages.
 */
static void test_objects_across_pages(void **state)
{
	struct test_node t;
	struct zdense_pool *pool;
	uint64_t free_before;
	struct obj o[8];
	unsigned int size, pages, objs, straddling = 0;
	uint8_t local[PAGE_SIZE];

	plain_node(&t, 32 * MIB, &free_before);
	assert_int_equal(zdense_create_pool(t.pgdat, 0, 64, NULL, NULL, &pool), 0);
	zdense_class_info(zdense_size_class(1528), &size, &pages, &objs);
	assert_int_equal(size, 1536);
	assert_int_equal(pages, 3);
	assert_int_equal(objs, 8);
	for (unsigned int k = 0; k < 8; k++) {
		o[k] = (struct obj){ .size = 1528, .seed = 77 + k };
		obj_store(pool, &o[k]);
	}
	/* One span: 3 pages for 8 objects where zbud would take 8. */
	assert_int_equal(zdense_get_pool_size(pool), 3);
	for (unsigned int k = 0; k < 8; k++) {
		uint32_t off = k * 1536;
		bool across = (off % PAGE_SIZE) + 1536 > PAGE_SIZE;
		void *p;

		assert_int_equal(zdense_map(pool, o[k].handle, local, &p), 0);
		zdense_unmap(pool, o[k].handle);
		if (across) {
			straddling++;
			assert_ptr_equal(p, local);
			assert_int_equal(zdense_map(pool, o[k].handle, NULL, &p), -GMM_EINVAL);
		} else {
			assert_ptr_not_equal(p, local);
			assert_int_equal((uintptr_t)p % 8, 0);
		}
		obj_check(pool, &o[k]);
	}
	assert_int_equal(straddling, 2); /* objects 2 and 5 */
	assert_int_equal(zdense_check(pool), 0);
	for (unsigned int k = 0; k < 8; k++)
		assert_int_equal(zdense_free(pool, o[k].handle), 0);
	pool_gone(&t, pool, free_before);
	page_ext_fini(t.pgdat);
	test_node_fini(&t);
}

static void test_bad_handles(void **state)
{
	struct test_node t;
	struct zdense_pool *pool;
	uint64_t free_before, h, h2;
	unsigned long bad = platform_bad_state_count();
	uint8_t local[PAGE_SIZE];
	void *p;

	plain_node(&t, 32 * MIB, &free_before);
	assert_int_equal(zdense_create_pool(t.pgdat, 0, 64, NULL, NULL, &pool), 0);
	assert_int_equal(zdense_malloc(pool, 0, &h), -GMM_EINVAL);
	assert_int_equal(zdense_malloc(pool, ZDENSE_MAX_ALLOC + 1, &h), -GMM_ENOSPC);
	assert_int_equal(zdense_malloc(pool, 100, &h), 0);
	assert_int_equal(zdense_malloc(pool, 100, &h2), 0);
	assert_int_equal(zdense_write(pool, h, "x", 1), 0);
	/* Longer than its class. */
	assert_int_equal(zdense_write(pool, h, local, 200), -GMM_EINVAL);

	assert_int_equal(zdense_free(pool, 0), -GMM_EINVAL);
	/* Forged: a class out of range, an index beyond the table, a generation. */
	assert_int_equal(zdense_free(pool, 0xffull << 32 | 1), -GMM_EINVAL);
	assert_int_equal(zdense_free(pool, (h & ~0xffffffffull) | 0x7fffffff), -GMM_EINVAL);
	assert_int_equal(zdense_free(pool, h ^ (1ull << 40)), -GMM_EINVAL);
	/* The right index under another class. */
	assert_int_equal(zdense_map(pool, h ^ (1ull << 32), local, &p), -GMM_EINVAL);
	assert_int_equal(zdense_free(pool, h), 0);
	/* Stale: the same index, an old generation. */
	assert_int_equal(zdense_free(pool, h), -GMM_EINVAL);
	assert_int_equal(zdense_map(pool, h, local, &p), -GMM_EINVAL);
	assert_int_equal(zdense_write(pool, h, "x", 1), -GMM_EINVAL);
	zdense_unmap(pool, h); /* ignored */
	/* The index is reused with a new generation: the old handle stays dead. */
	{
		uint64_t h3;

		assert_int_equal(zdense_malloc(pool, 100, &h3), 0);
		assert_true((h3 & 0xffffffffu) == (h & 0xffffffffu) && h3 != h);
		assert_int_equal(zdense_map(pool, h, local, &p), -GMM_EINVAL);
		assert_int_equal(zdense_free(pool, h3), 0);
	}
	/* Logged: the frees of 0, of the three forged and of the stale handle. */
	assert_int_equal(platform_bad_state_count(), bad + 5);
	assert_int_equal(zdense_check(pool), 0);
	assert_int_equal(zdense_free(pool, h2), 0);
	pool_gone(&t, pool, free_before);
	page_ext_fini(t.pgdat);
	test_node_fini(&t);
}

/* Random allocations and frees against a model, the validator after each. */
static void test_random_against_model(void **state)
{
	struct test_node t;
	struct zdense_pool *pool;
	uint64_t seed = test_seed(), rng = seed, free_before;
	static struct obj live[3000];
	size_t n = 0;

	plain_node(&t, 64 * MIB, &free_before);
	assert_int_equal(zdense_create_pool(t.pgdat, 0, 4096, NULL, NULL, &pool), 0);
	for (unsigned long step = 0; step < 12000; step++) {
		uint64_t r = test_rand(&rng);

		if (n == 0 || (r % 100 < 55 && n < 3000)) {
			struct obj o = { .size = 1 + (r >> 8) % ZDENSE_MAX_ALLOC, .seed = r };

			if (r % 3)	/* zswap's sizes are mostly well under a page */
				o.size = 1 + (r >> 8) % 2000;
			obj_store(pool, &o);
			live[n++] = o;
		} else {
			size_t k = (r >> 8) % n;

			CHECK_SEED(obj_differs(pool, &live[k]) == 0, seed, step);
			CHECK_SEED(zdense_free(pool, live[k].handle) == 0, seed, step);
			live[k] = live[--n];
		}
		if (step % 16 == 0 || n < 50)
			CHECK_SEED(zdense_check(pool) == 0, seed, step);
	}
	for (size_t k = 0; k < n; k++) {
		obj_check(pool, &live[k]);
		assert_int_equal(zdense_free(pool, live[k].handle), 0);
	}
	pool_gone(&t, pool, free_before);
	page_ext_fini(t.pgdat);
	test_node_fini(&t);
}

/*
 * The pool holds at most max_pages pages whatever its span length: 1000-byte
 * objects (16-page spans) until the pool refuses, with max_pages 64 and
 * 1000; then the same for 2000-byte ones (2 per page, 1-page spans).
 */
static void test_max_pages_is_pages(void **state)
{
	static const unsigned int sizes[] = { 1000, 2040 };
	static const uint64_t limits[] = { 64, 1000 };
	struct test_node t;
	uint64_t free_before;
	static uint64_t h[20000];

	plain_node(&t, 128 * MIB, &free_before);
	for (unsigned int l = 0; l < 2; l++)
		for (unsigned int k = 0; k < 2; k++) {
			struct zdense_pool *pool;
			unsigned int n = 0, size, pages, objs;
			int err = 0;

			zdense_class_info(zdense_size_class(sizes[k]), &size, &pages, &objs);
			assert_int_equal(zdense_create_pool(t.pgdat, 0, limits[l], NULL, NULL, &pool), 0);
			while (n < 20000 && !(err = zdense_malloc(pool, sizes[k], &h[n])))
				n++;
			print_message("max_pages %llu, %u-byte objects (%u-page spans): %u stored in %llu pages\n",
				      (unsigned long long)limits[l], sizes[k], pages, n,
				      (unsigned long long)zdense_get_pool_size(pool));
			assert_int_equal(err, -GMM_ENOMEM);
			assert_true(zdense_get_pool_size(pool) <= limits[l]);
			/* Within a span of the limit: it was not refused early. */
			assert_true(zdense_get_pool_size(pool) + pages > limits[l]);
			assert_int_equal(zdense_check(pool), 0);
			while (n--)
				assert_int_equal(zdense_free(pool, h[n]), 0);
			pool_gone(&t, pool, free_before);
		}
	page_ext_fini(t.pgdat);
	test_node_fini(&t);
}

/* ---- migration ---- */

struct plain_target {
	struct migrate_target t;
	struct pglist_data *pgdat;
};

static struct page *plain_alloc(struct migrate_target *t)
{
	return alloc_pages(((struct plain_target *)t)->pgdat, GFP_MOVABLE, 0);
}

static void plain_free(struct migrate_target *t, struct page *page)
{
	free_pages(((struct plain_target *)t)->pgdat, page, 0);
}

static bool pool_page(struct pglist_data *pgdat, struct zdense_pool *pool, struct page *page)
{
	return zdense_zpool_driver.owns_page(pool, page);
}

static void dense_tweak(struct anon_config *c) { c->zswap_cfg.zpool = &zdense_zpool_driver; }

/*
 * A pool of a node with anonymous memory (migration needs the node's
 * lruvec), its pages movable: every pool page, one at a time, is isolated
 * and moved to another frame, and every object still reads back through
 * its old handle.  A mapped object keeps its span's pages put.
 */
static void test_migration_keeps_handles(void **state)
{
	struct anon_node n;
	struct pglist_data *pgdat;
	struct zdense_pool *pool;
	struct plain_target pt;
	static struct obj objs[1500];
	uint64_t moved = 0, seed = 5;
	struct migrate_result res = { 0 };
	struct migrate_item item;
	struct page *pinned = NULL;
	uint8_t local[PAGE_SIZE];
	void *p;

	anon_node_init_cfg(&n, 64 * MIB, 16 * MIB, dense_tweak);
	pgdat = n.t.pgdat;
	pt = (struct plain_target){ { plain_alloc, plain_free }, pgdat };
	assert_int_equal(zdense_create_pool(pgdat, 0, 4096, NULL, NULL, &pool), 0);
	assert_int_equal(zdense_set_movable(pool, ZPOOL_MOVABLE_MIGRATE), 0);
	for (unsigned int k = 0; k < 1500; k++) {
		objs[k] = (struct obj){ .size = 1 + test_rand(&seed) % 3000, .seed = k + 1 };
		obj_store(pool, &objs[k]);
	}
	assert_int_equal(zdense_set_movable(pool, ZPOOL_MOVABLE_NONE), -GMM_EBUSY);
	for (uint32_t pfn = 0; pfn < pgdat->node_spanned_pages; pfn++) {
		struct page *page = pfn_to_page(pgdat, pfn);

		if (!pool_page(pgdat, pool, page))
			continue;
		assert_true(page_flags_read(page) & PG_movable);
		if (!isolate_movable_page(pgdat, page, &item))
			continue;
		res = (struct migrate_result){ 0 };
		assert_int_equal(migrate_pages(pgdat, &item, 1, &pt.t, &res), 0);
		assert_int_equal(res.moved, 1);
		assert_ptr_not_equal(item.page, page);
		assert_true(pool_page(pgdat, pool, item.page));
		assert_false(pool_page(pgdat, pool, page));
		moved++;
	}
	assert_true(moved >= zdense_get_pool_size(pool));
	assert_int_equal(zdense_check(pool), 0);
	for (unsigned int k = 0; k < 1500; k++)
		obj_check(pool, &objs[k]);

	/* Mapped: the pages of its span do not move until it is unmapped. */
	assert_int_equal(zdense_map(pool, objs[0].handle, local, &p), 0);
	for (uint32_t pfn = 0; pfn < pgdat->node_spanned_pages && !pinned; pfn++) {
		struct page *page = pfn_to_page(pgdat, pfn);

		if (p != local && pool_page(pgdat, pool, page) &&
		    (char *)p >= (char *)page_address(pgdat, page) &&
		    (char *)p < (char *)page_address(pgdat, page) + PAGE_SIZE)
			pinned = page;
	}
	assert_non_null(pinned);
	assert_true(isolate_movable_page(pgdat, pinned, &item));
	res = (struct migrate_result){ 0 };
	assert_int_equal(migrate_pages(pgdat, &item, 1, &pt.t, &res), 0);
	assert_int_equal(res.failed, 1);
	assert_ptr_equal(item.page, pinned);
	zdense_unmap(pool, objs[0].handle);
	assert_true(isolate_movable_page(pgdat, pinned, &item));
	res = (struct migrate_result){ 0 };
	assert_int_equal(migrate_pages(pgdat, &item, 1, &pt.t, &res), 0);
	assert_int_equal(res.moved, 1);

	/* Freed while isolated: the putback frees the span. */
	{
		struct obj one = { .size = 4000, .seed = 99 };
		struct page *page = NULL;
		uint64_t before;

		obj_store(pool, &one);
		before = zdense_get_pool_size(pool);
		assert_int_equal(zdense_map(pool, one.handle, local, &p), 0);
		page = virt_to_page(pgdat, p);
		zdense_unmap(pool, one.handle);
		assert_true(isolate_movable_page(pgdat, page, &item));
		assert_int_equal(zdense_free(pool, one.handle), 0);
		assert_int_equal(zdense_get_pool_size(pool), before);
		res = (struct migrate_result){ 0 };
		assert_int_equal(migrate_pages(pgdat, &item, 1, &pt.t, &res), 0);
		assert_int_equal(res.failed, 1);
		assert_int_equal(zdense_get_pool_size(pool), before - 1);
	}
	assert_int_equal(zdense_check(pool), 0);
	for (unsigned int k = 0; k < 1500; k++) {
		obj_check(pool, &objs[k]);
		assert_int_equal(zdense_free(pool, objs[k].handle), 0);
	}
	assert_int_equal(zdense_get_pool_size(pool), 0);
	zdense_destroy_pool(pool);
	anon_node_fini(&n);
}

/* ---- pool compaction ---- */

static atomic_int evicted;
static int count_evict(void *owner, uint64_t handle)
{
	(void)owner;
	(void)handle;
	atomic_fetch_add(&evicted, 1);
	return -GMM_EAGAIN;
}

static const struct zpool_ops counting_ops = { .evict = count_evict };

/*
 * Spans left sparse by frees are emptied by compaction, by the pool's
 * shrinker before it writes anything back: fewer pages, every handle still
 * valid, nothing evicted.
 */
static void test_pool_compaction_keeps_handles(void **state)
{
	struct test_node t;
	struct zdense_pool *pool;
	uint64_t free_before, seed = 11, full, sparse;
	static struct obj objs[4000], keep[4000];
	unsigned int nkeep = 0;

	plain_node(&t, 64 * MIB, &free_before);
	assert_int_equal(zdense_create_pool(t.pgdat, 0, 4096, &counting_ops, NULL, &pool), 0);
	for (unsigned int k = 0; k < 4000; k++) {
		objs[k] = (struct obj){ .size = 200 + test_rand(&seed) % 1400, .seed = 3 * k + 1 };
		obj_store(pool, &objs[k]);
	}
	full = zdense_get_pool_size(pool);
	/* Three of four freed, at random: every span keeps about a quarter. */
	for (unsigned int k = 0; k < 4000; k++) {
		if (test_rand(&seed) % 4 == 0)
			keep[nkeep++] = objs[k];
		else
			assert_int_equal(zdense_free(pool, objs[k].handle), 0);
	}
	sparse = zdense_get_pool_size(pool);
	print_message("%llu pages full, %llu after freeing 3/4 of the objects\n",
		      (unsigned long long)full, (unsigned long long)sparse);
	assert_true(sparse > full / 2);
	assert_int_equal(zdense_shrink(pool, 1), 0);
	assert_int_equal(atomic_load(&evicted), 0);
	print_message("%llu pages after the shrinker's compaction\n",
		      (unsigned long long)zdense_get_pool_size(pool));
	/* As few spans as the objects need: ceil(objects / per span) a class. */
	{
		static unsigned int per_class[PAGE_SIZE / 16];
		uint64_t least = 0;

		for (unsigned int k = 0; k < nkeep; k++)
			per_class[zdense_size_class(keep[k].size)]++;
		for (unsigned int c = 0; c < zdense_nr_classes(); c++) {
			unsigned int size, pages, objs;

			zdense_class_info(c, &size, &pages, &objs);
			least += (per_class[c] + objs - 1) / objs * pages;
		}
		assert_int_equal(zdense_get_pool_size(pool), least);
		assert_true(least < sparse * 2 / 3);
	}
	assert_int_equal(zdense_check(pool), 0);
	/* Nothing left to gain: a second compaction frees nothing. */
	assert_int_equal(zdense_compact(pool), 0);
	for (unsigned int k = 0; k < nkeep; k++)
		obj_check(pool, &keep[k]);
	/* Nothing to compact: the shrinker evicts (and here, is refused). */
	assert_int_equal(zdense_shrink(pool, 2), -GMM_EAGAIN);
	assert_true(atomic_load(&evicted) > 0);
	for (unsigned int k = 0; k < nkeep; k++) {
		obj_check(pool, &keep[k]);
		assert_int_equal(zdense_free(pool, keep[k].handle), 0);
	}
	pool_gone(&t, pool, free_before);
	page_ext_fini(t.pgdat);
	test_node_fini(&t);
}

/*
 * zswap over the dense pool: pages of two spaces stored alternately, one
 * space torn down (its objects freed across every span), then
 * compact_node() compacts the pool first: fewer pool pages, and every page
 * of the other space reads back.
 */
static void test_compact_node_compacts_pool(void **state)
{
	struct anon_node n;
	struct pglist_data *pgdat;
	struct mm_space *a, *b;
	struct compact_result res = { 0 };
	struct zswap_stats st;
	uint64_t pages = 3000, *sums, before;

	anon_node_init_cfg(&n, 64 * MIB, 64 * MIB, dense_tweak);
	pgdat = n.t.pgdat;
	assert_ptr_equal(zswap_zpool_driver(pgdat->lruvec->zswap), &zdense_zpool_driver);
	sums = calloc(pages, sizeof(*sums));
	assert_int_equal(mm_space_create(pgdat, &a), 0);
	assert_int_equal(mm_space_create(pgdat, &b), 0);
	assert_int_equal(mm_mmap(a, BASE, pages * PAGE_SIZE), 0);
	assert_int_equal(mm_mmap(b, BASE, pages * PAGE_SIZE), 0);
	for (uint64_t i = 0; i < pages; i++) {
		/* Kinds 1 and 2 (motif, half random): they compress into the pool. */
		uint64_t v = (i % 2) ? 1 : 2;

		sums[i] = write_page(a, BASE + i * PAGE_SIZE, i, v + 4 - (i % 4));
		write_page(b, BASE + i * PAGE_SIZE, i, v + 4 - (i % 4));
	}
	assert_true(shrink_node(pgdat->lruvec, 2 * pages) > 0);
	zswap_get_stats(pgdat->lruvec->zswap, &st);
	assert_true(st.stored_pages - st.same_filled_pages > pages);
	mm_space_destroy(b);
	before = zdense_get_pool_size(zswap_pool(pgdat->lruvec->zswap));
	assert_int_equal(compact_node(pgdat, -1, &res), 0);
	zswap_get_stats(pgdat->lruvec->zswap, &st);
	print_message("pool %llu pages before compact_node(), %llu after\n",
		      (unsigned long long)before,
		      (unsigned long long)(st.pool_total_size >> PAGE_SHIFT));
	assert_true(st.pool_total_size >> PAGE_SHIFT < before * 3 / 4);
	assert_int_equal(zdense_check(zswap_pool(pgdat->lruvec->zswap)), 0);
	for (uint64_t i = 0; i < pages; i++)
		if (read_page_sum(a, BASE + i * PAGE_SIZE) != sums[i])
			fail_msg("page %llu came back different", (unsigned long long)i);
	mm_space_destroy(a);
	free(sums);
	anon_node_fini(&n);
}

/* ---- a full pool under alloc_contig_range ---- */

static enum zpool_movable full_policy;
static void dense_full_tweak(struct anon_config *c)
{
	c->zswap_cfg.zpool = &zdense_zpool_driver;
	c->zswap_cfg.movable = full_policy;
}

/* Does [@start, @start + 4 MiB) hold a page of @pool? */
static bool range_has_pool_page(struct pglist_data *pgdat, struct zdense_pool *pool,
				uint32_t start)
{
	for (uint32_t pfn = start; pfn < start + MAX_ORDER_NR_PAGES; pfn++)
		if (pool_page(pgdat, pool, pfn_to_page(pgdat, pfn)))
			return true;
	return false;
}

/*
 * Is every allocated page of the range one that may move (an LRU page or
 * one with movable operations: the pool's)?  Others - page tables, the
 * node's and zswap's tables - make a range fail whatever the pool does.
 */
static bool range_movable(struct pglist_data *pgdat, uint32_t start)
{
	for (uint32_t pfn = start; pfn < start + MAX_ORDER_NR_PAGES; pfn++) {
		uint16_t f = page_flags_read(pfn_to_page(pgdat, pfn));

		if ((f & PG_reserved) || ((f & PG_head) && !(f & (PG_lru | PG_movable))))
			return false;
	}
	return true;
}

/*
 * zswap over the dense pool, filled to its limit (stores past it written
 * back), then every 4 MiB range of the node that holds a pool page (and
 * nothing unmovable but the pool's) taken by alloc_contig_range() and
 * given back, one after another: each one
 * succeeds, no pool page is left in it, the validator passes after each,
 * and at the end every page of the space - in the pool, in the swap file
 * or in memory - reads back as written.  Issue 19 asks for it.
 */
static void full_pool_contig(enum zpool_movable policy)
{
	struct anon_node n;
	struct pglist_data *pgdat;
	struct mm_space *mm;
	struct zswap_stats st;
	struct zdense_pool *pool;
	uint64_t pages = 20000, *sums, taken = 0, skipped = 0, before;
	uint32_t top;

	full_policy = policy;
	anon_node_init_cfg(&n, 64 * MIB, 128 * MIB, dense_full_tweak);
	pgdat = n.t.pgdat;
	pool = zswap_pool(pgdat->lruvec->zswap);
	sums = calloc(pages, sizeof(*sums));
	assert_int_equal(mm_space_create(pgdat, &mm), 0);
	assert_int_equal(mm_mmap(mm, BASE, pages * PAGE_SIZE), 0);
	for (uint64_t i = 0; i < pages; i++)
		sums[i] = write_page(mm, BASE + i * PAGE_SIZE, i, 5 + i % 3);
	shrink_node(pgdat->lruvec, pages);
	zswap_get_stats(pgdat->lruvec->zswap, &st);
	before = st.pool_total_size >> PAGE_SHIFT;
	print_message("%s: pool %llu pages of %llu, stored %llu, limit hit %llu, written back %llu\n",
		      zpool_movable_names[policy], (unsigned long long)before,
		      (unsigned long long)(st.pool_limit_bytes >> PAGE_SHIFT),
		      (unsigned long long)st.stored_pages,
		      (unsigned long long)st.events[ZSWAP_POOL_LIMIT_HIT],
		      (unsigned long long)st.events[ZSWAP_WRITTEN_BACK_PAGES]);
	/* Full: the limit was hit, and the pool is within a span of it. */
	assert_true(st.events[ZSWAP_POOL_LIMIT_HIT] > 0);
	assert_true(before + 64 >= (st.pool_limit_bytes >> PAGE_SHIFT) * 9 / 10);
	top = (uint32_t)(pgdat->node_spanned_pages & ~(uint64_t)(MAX_ORDER_NR_PAGES - 1));
	for (uint32_t start = top; start >= MAX_ORDER_NR_PAGES;) {
		struct compact_result res = { 0 };
		int err;

		start -= MAX_ORDER_NR_PAGES;
		if (start < pgdat->reserved_pages || !range_has_pool_page(pgdat, pool, start))
			continue;
		if (!range_movable(pgdat, start)) {
			skipped++;
			continue;
		}
		err = alloc_contig_range(pgdat, start, start + MAX_ORDER_NR_PAGES, &res);
		if (err)
			fail_msg("%s: alloc_contig_range(%#x) of a range holding pool pages: %d "
				 "(moved %llu released %llu failed %llu)",
				 zpool_movable_names[policy], start, err,
				 (unsigned long long)res.migrate.moved,
				 (unsigned long long)res.migrate.released,
				 (unsigned long long)res.migrate.failed);
		assert_false(range_has_pool_page(pgdat, pool, start));
		assert_int_equal(free_contig_range(pgdat, start, start + MAX_ORDER_NR_PAGES), 0);
		assert_int_equal(zdense_check(pool), 0);
		taken++;
	}
	print_message("%s: %llu ranges with pool pages taken and given back, %llu skipped "
		      "(other unmovable pages in them)\n", zpool_movable_names[policy],
		      (unsigned long long)taken, (unsigned long long)skipped);
	assert_true(taken >= 2);
	drain_all_pages(pgdat);
	assert_int_equal(buddy_check(pgdat), 0);
	for (uint64_t i = 0; i < pages; i++)
		if (read_page_sum(mm, BASE + i * PAGE_SIZE) != sums[i])
			fail_msg("%s: page %llu came back different", zpool_movable_names[policy],
				 (unsigned long long)i);
	mm_space_destroy(mm);
	free(sums);
	anon_node_fini(&n);
}

static void test_full_pool_contig_migrate(void **state) { full_pool_contig(ZPOOL_MOVABLE_MIGRATE); }
static void test_full_pool_contig_unuse(void **state) { full_pool_contig(ZPOOL_MOVABLE_UNUSE); }

/* ---- compaction while zswap goes away ---- */

/*
 * The dense pool with its compaction held at a gate, and a check in its
 * free and destroy: a pool torn down while a compaction is inside it is
 * what the test catches (the compaction is then let go, and waited for,
 * before the pool really goes, so the unfixed code fails cleanly).
 */
static struct zpool_driver gated_dense;
static struct {
	struct pglist_data *pgdat;
	atomic_bool inside, go, torn;
} gate;

static uint64_t gated_compact(void *pool)
{
	uint64_t freed;

	atomic_store(&gate.inside, true);
	/* Let go by a teardown that found us (the bug) or by anon_fini() waiting. */
	while (!atomic_load(&gate.go) && !atomic_load(&gate.pgdat->compact.closing))
		sched_yield();
	freed = zdense_zpool_driver.compact(pool);
	atomic_store(&gate.inside, false);
	return freed;
}

static void gate_teardown(void)
{
	if (!atomic_load(&gate.inside))
		return;
	atomic_store(&gate.torn, true);
	atomic_store(&gate.go, true);
	while (atomic_load(&gate.inside))
		sched_yield();
}

static int gated_free(void *pool, uint64_t handle)
{
	gate_teardown();
	return zdense_zpool_driver.free(pool, handle);
}

static void gated_destroy(void *pool)
{
	gate_teardown();
	zdense_zpool_driver.destroy(pool);
}

static void gated_tweak(struct anon_config *c)
{
	gated_dense = zdense_zpool_driver;
	gated_dense.compact = gated_compact;
	gated_dense.free = gated_free;
	gated_dense.destroy = gated_destroy;
	c->zswap_cfg.zpool = &gated_dense;
}

static void *compact_node_fn(void *arg)
{
	struct compact_result res = { 0 };

	compact_node(arg, -1, &res);
	return NULL;
}

/*
 * compact_node() in one thread, held inside the pool's compaction, while
 * anon_fini() takes zswap down in another: anon_fini() must wait for the
 * compaction (which found the pool through pgdat->lruvec->zswap with
 * nothing holding it) before it frees the pool.  Deterministic: the
 * compaction is known to be inside before anon_fini() starts.
 */
static void test_compaction_during_zswap_destroy(void **state)
{
	struct anon_node n;
	struct pglist_data *pgdat;
	struct mm_space *mm;
	uint64_t pages = 3000;
	pthread_t t;

	anon_node_init_cfg(&n, 64 * MIB, 32 * MIB, gated_tweak);
	pgdat = n.t.pgdat;
	gate.pgdat = pgdat;
	atomic_store(&gate.go, false);
	atomic_store(&gate.torn, false);
	assert_int_equal(mm_space_create(pgdat, &mm), 0);
	assert_int_equal(mm_mmap(mm, BASE, pages * PAGE_SIZE), 0);
	for (uint64_t i = 0; i < pages; i++)
		write_page(mm, BASE + i * PAGE_SIZE, i, 1 + i % 3);
	assert_true(shrink_node(pgdat->lruvec, pages) > 0);
	assert_true(zdense_get_pool_size(zswap_pool(pgdat->lruvec->zswap)) > 0);
	mm_space_destroy(mm);
	assert_int_equal(pthread_create(&t, NULL, compact_node_fn, pgdat), 0);
	while (!atomic_load(&gate.inside))
		sched_yield();
	anon_fini(pgdat);
	pthread_join(t, NULL);
	if (atomic_load(&gate.torn))
		fail_msg("anon_fini() tore the dense pool down while compact_node() was "
			 "inside its compaction");
	/* A compaction after the teardown finds no pool; every frame came back. */
	{
		struct compact_result res = { 0 };

		assert_int_equal(compact_node(pgdat, -1, &res), 0);
	}
	anon_node_fini(&n);
}

/* ---- concurrency ---- */

#define NR_WORKERS 3
#define WORKER_OPS 6000
#define WORKER_LIVE 400

struct stress {
	struct pglist_data *pgdat;
	struct zdense_pool *pool;
	atomic_bool stop;
	atomic_ulong moved, compacted;
};

struct worker {
	struct stress *s;
	uint64_t seed;
	struct obj live[WORKER_LIVE];
	unsigned int n;
	unsigned long bad;
};

static void *worker_fn(void *arg)
{
	struct worker *w = arg;
	uint64_t rng = w->seed;

	for (unsigned int op = 0; op < WORKER_OPS; op++) {
		uint64_t r = test_rand(&rng);

		if (w->n == 0 || (r % 100 < 50 && w->n < WORKER_LIVE)) {
			struct obj o = { .size = 1 + (r >> 8) % 3000, .seed = r };
			uint8_t buf[PAGE_SIZE];

			if (zdense_malloc(w->s->pool, o.size, &o.handle)) {
				w->bad++;
				continue;
			}
			obj_bytes(buf, o.size, o.seed);
			if (zdense_write(w->s->pool, o.handle, buf, o.size))
				w->bad++;
			w->live[w->n++] = o;
		} else {
			unsigned int k = (unsigned int)((r >> 8) % w->n);

			if (obj_differs(w->s->pool, &w->live[k]))
				w->bad++;
			if (r % 3 == 0) {
				if (zdense_free(w->s->pool, w->live[k].handle))
					w->bad++;
				w->live[k] = w->live[--w->n];
			}
		}
	}
	return NULL;
}

/* Isolate and migrate every pool page it finds, round after round. */
static void *migrator_fn(void *arg)
{
	struct stress *s = arg;
	struct plain_target pt = { { plain_alloc, plain_free }, s->pgdat };

	while (!atomic_load(&s->stop)) {
		for (uint32_t pfn = 0; pfn < s->pgdat->node_spanned_pages; pfn++) {
			struct page *page = pfn_to_page(s->pgdat, pfn);
			struct migrate_result res = { 0 };
			struct migrate_item item;

			if (!(page_flags_read(page) & PG_movable) ||
			    !isolate_movable_page(s->pgdat, page, &item))
				continue;
			migrate_pages(s->pgdat, &item, 1, &pt.t, &res);
			atomic_fetch_add(&s->moved, res.moved);
		}
	}
	return NULL;
}

static void *compactor_fn(void *arg)
{
	struct stress *s = arg;

	while (!atomic_load(&s->stop))
		atomic_fetch_add(&s->compacted, zdense_compact(s->pool));
	return NULL;
}

static void test_concurrent(void **state)
{
	struct anon_node n;
	static struct stress s;
	static struct worker w[NR_WORKERS];
	pthread_t tw[NR_WORKERS], tm, tc;
	uint64_t free_pool;

	anon_node_init_cfg(&n, 64 * MIB, 16 * MIB, dense_tweak);
	s = (struct stress){ .pgdat = n.t.pgdat };
	drain_all_pages(n.t.pgdat);
	free_pool = pgdat_free_pages(n.t.pgdat);
	assert_int_equal(zdense_create_pool(n.t.pgdat, 0, 4096, NULL, NULL, &s.pool), 0);
	assert_int_equal(zdense_set_movable(s.pool, ZPOOL_MOVABLE_MIGRATE), 0);
	for (unsigned int i = 0; i < NR_WORKERS; i++) {
		w[i] = (struct worker){ .s = &s, .seed = test_seed() + i };
		assert_int_equal(pthread_create(&tw[i], NULL, worker_fn, &w[i]), 0);
	}
	assert_int_equal(pthread_create(&tm, NULL, migrator_fn, &s), 0);
	assert_int_equal(pthread_create(&tc, NULL, compactor_fn, &s), 0);
	for (unsigned int i = 0; i < NR_WORKERS; i++)
		pthread_join(tw[i], NULL);
	atomic_store(&s.stop, true);
	pthread_join(tm, NULL);
	pthread_join(tc, NULL);
	print_message("pages moved %lu, freed by compaction %lu\n",
		      atomic_load(&s.moved), atomic_load(&s.compacted));
	assert_int_equal(zdense_check(s.pool), 0);
	for (unsigned int i = 0; i < NR_WORKERS; i++) {
		assert_int_equal(w[i].bad, 0);
		for (unsigned int k = 0; k < w[i].n; k++) {
			obj_check(s.pool, &w[i].live[k]);
			assert_int_equal(zdense_free(s.pool, w[i].live[k].handle), 0);
		}
	}
	assert_int_equal(zdense_get_pool_size(s.pool), 0);
	zdense_destroy_pool(s.pool);
	drain_all_pages(n.t.pgdat);
	assert_int_equal(pgdat_free_pages(n.t.pgdat), free_pool);
	anon_node_fini(&n);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_every_class_round_trips),
		cmocka_unit_test(test_objects_across_pages),
		cmocka_unit_test(test_bad_handles),
		cmocka_unit_test(test_random_against_model),
		cmocka_unit_test(test_max_pages_is_pages),
		cmocka_unit_test(test_migration_keeps_handles),
		cmocka_unit_test(test_pool_compaction_keeps_handles),
		cmocka_unit_test(test_compact_node_compacts_pool),
		cmocka_unit_test(test_full_pool_contig_migrate),
		cmocka_unit_test(test_full_pool_contig_unuse),
		cmocka_unit_test(test_compaction_during_zswap_destroy),
		cmocka_unit_test(test_concurrent),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
