/*
 * test_badinput.c - frees that are wrong get a clear error naming the frame
 * and change nothing: a double free (from the buddy lists and from a per-CPU
 * list), a frame inside a block, the wrong order, an order out of range, a
 * reserved frame, a pointer that is no page; and boot parameters that cannot
 * work.
 */
#include "testutil.h"

#define MIB (1ull << 20)

static void expect_refused(struct test_node *t, struct page *page, unsigned int order)
{
	unsigned long bad = platform_bad_state_count();
	uint64_t free = pgdat_free_pages(t->pgdat);

	assert_int_equal(free_pages(t->pgdat, page, order), -GMM_EINVAL);
	assert_int_equal(platform_bad_state_count(), bad + 1);
	assert_int_equal(pgdat_free_pages(t->pgdat), free);
	assert_int_equal(buddy_check(t->pgdat), 0);
}

static void test_bad_frees(void **state)
{
	struct test_node t;
	struct page *big, *small, *other;

	test_node_init(&t, 64 * MIB, 1);
	big = alloc_pages(t.pgdat, GFP_MOVABLE, 4);
	small = alloc_pages(t.pgdat, GFP_MOVABLE, 0);
	other = alloc_pages(t.pgdat, GFP_MOVABLE, 2);
	assert_non_null(big);
	assert_non_null(small);
	assert_non_null(other);

	expect_refused(&t, big + 1, 0);		/* a frame inside a block */
	expect_refused(&t, big, 3);		/* the wrong order */
	expect_refused(&t, big, MAX_ORDER);	/* out of range */
	expect_refused(&t, big, 200);
	expect_refused(&t, pfn_to_page(t.pgdat, 0), 0); /* reserved metadata */
	expect_refused(&t, t.pgdat->memmap + t.pgdat->node_spanned_pages, 0);
	expect_refused(&t, (struct page *)&t, 0);	/* not a page at all */

	assert_int_equal(free_pages(t.pgdat, big, 4), 0);
	expect_refused(&t, big, 4);		/* double free, buddy lists */
	assert_int_equal(free_pages(t.pgdat, small, 0), 0);
	expect_refused(&t, small, 0);		/* double free, per-CPU list */
	drain_all_pages(t.pgdat);
	expect_refused(&t, small, 0);		/* and after the drain */

	/* The block that was not touched by any of it still frees cleanly. */
	assert_int_equal(free_pages(t.pgdat, other, 2), 0);
	drain_all_pages(t.pgdat);
	assert_int_equal(pgdat_free_pages(t.pgdat), node_managed_pages(t.pgdat));
	assert_null(alloc_pages(t.pgdat, 0, MAX_ORDER));
	test_node_fini(&t);
}

static void test_bad_boot(void **state)
{
	struct mm_boot_params p = { 0 };
	struct pglist_data *pgdat;
	void *ram;

	assert_int_equal(posix_memalign(&ram, PAGE_SIZE, 64 * MIB), 0);
	p.ram = ram;
	p.ram_bytes = 64 * MIB;
	p.nr_cpus = 0;
	assert_int_equal(mm_init(&p, &pgdat), -GMM_EINVAL);
	p.nr_cpus = MAX_NR_CPUS + 1;
	assert_int_equal(mm_init(&p, &pgdat), -GMM_EINVAL);
	p.nr_cpus = 1;
	p.ram = (char *)ram + 8;
	assert_int_equal(mm_init(&p, &pgdat), -GMM_EINVAL);
	p.ram = ram;
	p.ram_bytes = 64 * MIB - 100;
	assert_int_equal(mm_init(&p, &pgdat), -GMM_EINVAL);
	p.ram_bytes = 4 * MIB; /* no room for metadata and one max-order block */
	assert_int_equal(mm_init(&p, &pgdat), -GMM_EINVAL);
	p.ram_bytes = 64 * MIB;
	p.low_zone_bytes = 48 * MIB; /* more than half */
	assert_int_equal(mm_init(&p, &pgdat), -GMM_EINVAL);
	p.low_zone_bytes = 0;
	assert_int_equal(mm_init(&p, &pgdat), 0);
	assert_int_equal(buddy_check(pgdat), 0);
	free(ram);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_bad_frees),
		cmocka_unit_test(test_bad_boot),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
