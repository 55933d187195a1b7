/*
 * test_zbud.c - zbud against a model: random allocations and frees with
 * zbud_check() after every step and every object's bytes verified; both
 * reclaim entry points, the reference count that keeps a page alive under
 * reclaim, PageZbud, and bad handles.
 */
#include "anonutil.h"

#define MIB (1ull << 20)

struct obj {
	uint64_t handle;
	size_t size;
	uint8_t fill;
};

static struct pglist_data *zb_pgdat(struct test_node *t)
{
	assert_int_equal(page_ext_init(t->pgdat), 0);
	return t->pgdat;
}

static void check_obj(struct zbud_pool *pool, const struct obj *o)
{
	uint8_t *p;

	assert_int_equal(zbud_map(pool, o->handle, (void **)&p), 0);
	for (size_t i = 0; i < o->size; i++)
		if (p[i] != o->fill)
			fail_msg("handle %#llx byte %zu: %#x, want %#x",
				 (unsigned long long)o->handle, i, p[i], o->fill);
	zbud_unmap(pool, o->handle);
}

static void test_random_against_model(void **state)
{
	struct test_node t;
	struct zbud_pool *pool;
	uint64_t seed = test_seed(), rng = seed;
	struct obj live[2000];
	size_t n = 0;
	uint64_t free_before;

	test_node_init(&t, 64 * MIB, 1);
	zb_pgdat(&t);
	free_before = pgdat_free_pages(t.pgdat);
	assert_int_equal(zbud_create_pool(t.pgdat, 0, 4096, NULL, NULL, &pool), 0);
	for (unsigned long step = 0; step < 20000; step++) {
		uint64_t r = test_rand(&rng);

		if (n == 0 || (r % 100 < 55 && n < 2000)) {
			struct obj o = { .size = 1 + (r >> 8) % 3000, .fill = (uint8_t)(r >> 32) };
			uint8_t *p;

			CHECK_SEED(zbud_alloc(pool, o.size, &o.handle) == 0, seed, step);
			CHECK_SEED(zbud_map(pool, o.handle, (void **)&p) == 0, seed, step);
			memset(p, o.fill, o.size);
			zbud_unmap(pool, o.handle);
			live[n++] = o;
		} else {
			size_t k = (r >> 8) % n;

			check_obj(pool, &live[k]);
			CHECK_SEED(zbud_free(pool, live[k].handle) == 0, seed, step);
			live[k] = live[--n];
		}
		CHECK_SEED(zbud_check(pool) == 0, seed, step);
		/* Two objects a page at most, one at least. */
		CHECK_SEED(zbud_get_pool_size(pool) <= n && 2 * zbud_get_pool_size(pool) >= n,
			   seed, step);
	}
	for (size_t k = 0; k < n; k++) {
		check_obj(pool, &live[k]);
		assert_int_equal(zbud_free(pool, live[k].handle), 0);
	}
	assert_int_equal(zbud_get_pool_size(pool), 0);
	zbud_destroy_pool(pool);
	page_ext_fini(t.pgdat);
	drain_all_pages(t.pgdat);
	assert_int_equal(pgdat_free_pages(t.pgdat), free_before +
			 (node_managed_pages(t.pgdat) - free_before));
	test_node_fini(&t);
}

static void test_sizes_and_bad_handles(void **state)
{
	struct test_node t;
	struct zbud_pool *pool;
	uint64_t h, h2;
	unsigned long bad = platform_bad_state_count();
	void *p;

	test_node_init(&t, 32 * MIB, 1);
	zb_pgdat(&t);
	assert_int_equal(zbud_create_pool(t.pgdat, 0, 64, NULL, NULL, &pool), 0);
	assert_int_equal(zbud_alloc(pool, 0, &h), -GMM_EINVAL);
	assert_int_equal(zbud_alloc(pool, PAGE_SIZE - 64, &h), -GMM_ENOSPC);
	assert_int_equal(zbud_alloc(pool, PAGE_SIZE - 128, &h), 0);
	/* One chunk left: a two-chunk object needs a new page. */
	assert_int_equal(zbud_alloc(pool, 65, &h2), 0);
	assert_int_equal(zbud_get_pool_size(pool), 2);
	assert_true(PageZbud(virt_to_page(t.pgdat, (zbud_map(pool, h, &p), p))));

	assert_int_equal(zbud_free(pool, 0), -GMM_EINVAL);
	assert_int_equal(zbud_free(pool, 0xdeadbeefull << 32 | 7), -GMM_EINVAL);
	assert_int_equal(zbud_map(pool, 12345678, &p), -GMM_EINVAL);
	assert_int_equal(zbud_free(pool, h), 0);
	/* Stale: the same index, an old generation. */
	assert_int_equal(zbud_free(pool, h), -GMM_EINVAL);
	assert_int_equal(zbud_map(pool, h, &p), -GMM_EINVAL);
	assert_int_equal(platform_bad_state_count(), bad + 3);
	assert_int_equal(zbud_check(pool), 0);
	assert_int_equal(zbud_free(pool, h2), 0);
	assert_int_equal(zbud_get_pool_size(pool), 0);
	zbud_destroy_pool(pool);
	page_ext_fini(t.pgdat);
	test_node_fini(&t);
}

/* The evict callback of these tests: frees (or refuses) what it is given. */
struct evictor {
	struct zbud_pool *pool;
	struct pglist_data *pgdat;
	bool refuse;
	unsigned int calls;
	bool page_alive_after_free; /* PageZbud held after the last free */
};

static int evict_cb(void *owner, uint64_t handle)
{
	struct evictor *e = owner;
	void *p;

	e->calls++;
	if (e->refuse)
		return -GMM_EBUSY;
	assert_int_equal(zbud_map(e->pool, handle, &p), 0);
	assert_int_equal(zbud_free(e->pool, handle), 0);
	/* Reclaim's reference keeps the page a zbud page under us. */
	e->page_alive_after_free = PageZbud(virt_to_page(e->pgdat, p));
	return 0;
}

static const struct zpool_ops evict_ops = { .evict = evict_cb, .unuse = evict_cb };

static void test_reclaim_entry_points(void **state)
{
	struct test_node t;
	struct zbud_pool *pool;
	struct evictor e = { 0 };
	uint64_t h[6];
	struct page *pages[3];
	unsigned int freed;
	void *p;

	test_node_init(&t, 32 * MIB, 1);
	e.pgdat = zb_pgdat(&t);
	assert_int_equal(zbud_create_pool(t.pgdat, 0, 64, &evict_ops, &e, &pool), 0);
	e.pool = pool;
	assert_int_equal(zbud_reclaim_page(pool, 4), -GMM_EINVAL); /* empty */
	for (int i = 0; i < 6; i++)
		assert_int_equal(zbud_alloc(pool, 1500, &h[i]), 0);
	assert_int_equal(zbud_get_pool_size(pool), 3);

	/* An evictor that refuses: every page kept, back on the lists. */
	e.refuse = true;
	assert_int_equal(zbud_reclaim_page(pool, 3), -GMM_EAGAIN);
	assert_int_equal(e.calls, 6);
	assert_int_equal(zbud_get_pool_size(pool), 3);
	assert_int_equal(zbud_check(pool), 0);

	/* LRU tail: the oldest page, h[0] and h[1]. */
	e.refuse = false;
	assert_int_equal(zbud_reclaim_page(pool, 1), 0);
	assert_true(e.page_alive_after_free);
	assert_int_equal(zbud_get_pool_size(pool), 2);
	assert_int_equal(zbud_map(pool, h[0], &p), -GMM_EINVAL);
	assert_int_equal(zbud_check(pool), 0);

	/* The given-pages entry point, with a non-zbud page among them. */
	assert_int_equal(zbud_map(pool, h[2], &p), 0);
	pages[0] = virt_to_page(t.pgdat, p);
	assert_int_equal(zbud_map(pool, h[4], &p), 0);
	pages[1] = virt_to_page(t.pgdat, p);
	pages[2] = alloc_pages(t.pgdat, 0, 0);
	assert_int_equal(zbud_reclaim_pages(pool, pages, 3, &freed), -GMM_EAGAIN);
	assert_int_equal(freed, 2);
	assert_false(PageZbud(pages[0]));
	assert_int_equal(zbud_get_pool_size(pool), 0);
	assert_int_equal(zbud_check(pool), 0);
	free_pages(t.pgdat, pages[2], 0);
	zbud_destroy_pool(pool);
	page_ext_fini(t.pgdat);
	test_node_fini(&t);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_random_against_model),
		cmocka_unit_test(test_sizes_and_bad_handles),
		cmocka_unit_test(test_reclaim_entry_points),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
