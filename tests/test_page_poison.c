/*
 * test_page_poison.c - page poisoning (mm/page_poison.c): freed memory
 * holds the poison, a write to free memory is reported when the frame is
 * allocated again (naming the frame), a discarded Reported block passes
 * the check with a zero poison and fails it with any other, and nothing
 * is written or checked while poisoning is off.
 */
#include "testutil.h"

#include <sys/mman.h>

#define MIB (1ull << 20)

struct poison_node {
	void *ram;
	uint64_t bytes;
	struct pglist_data *pgdat;
};

/*
 * A node over anonymous memory filled with 0x5c first, so that memory
 * the boot did not poison shows.  @zeroed: tell mm_init() the RAM reads
 * zero (then it is zeroed here instead).
 */
static void poison_node_init(struct poison_node *n, uint64_t bytes,
			     bool poison, uint8_t val, bool zeroed)
{
	struct mm_boot_params p = { 0 };

	n->bytes = bytes;
	n->ram = mmap(NULL, bytes, PROT_READ | PROT_WRITE,
		      MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
	assert_true(n->ram != MAP_FAILED);
	if (!zeroed)
		memset(n->ram, 0x5c, bytes);
	p.ram = n->ram;
	p.ram_bytes = bytes;
	p.nr_cpus = 1;
	p.page_poison = poison;
	p.poison_val = val;
	p.ram_zeroed = zeroed;
	assert_int_equal(mm_init(&p, &n->pgdat), 0);
	platform_set_cpu_id(0);
}

static void poison_node_fini(struct poison_node *n)
{
	munmap(n->ram, n->bytes);
}

static bool block_reads(struct pglist_data *pgdat, struct page *page,
			unsigned int order, uint8_t val)
{
	const uint8_t *b = page_address(pgdat, page);

	for (size_t i = 0; i < (PAGE_SIZE << order); i++)
		if (b[i] != val)
			return false;
	return true;
}

/* Boot poisons what it frees; a free poisons; an allocation checks. */
static void test_free_poisons_and_alloc_checks(void **state)
{
	struct poison_node n;
	struct page *a, *b;
	unsigned long bad = platform_bad_state_count();

	(void)state;
	poison_node_init(&n, 32 * MIB, true, 0xaa, false);
	assert_non_null(a = alloc_pages(n.pgdat, GFP_MOVABLE, 0));
	assert_true(block_reads(n.pgdat, a, 0, 0xaa));
	assert_non_null(b = alloc_pages(n.pgdat, GFP_MOVABLE, 3));
	assert_true(block_reads(n.pgdat, b, 3, 0xaa));
	assert_int_equal(platform_bad_state_count(), bad);

	memset(page_address(n.pgdat, a), 0x11, PAGE_SIZE);
	memset(page_address(n.pgdat, b), 0x22, PAGE_SIZE << 3);
	assert_int_equal(free_pages(n.pgdat, a, 0), 0);
	assert_int_equal(free_pages(n.pgdat, b, 3), 0);
	assert_true(block_reads(n.pgdat, a, 0, 0xaa));
	assert_true(block_reads(n.pgdat, b, 3, 0xaa));
	/* A GFP_ZERO allocation is zeroed over the (checked) poison. */
	assert_non_null(a = alloc_pages(n.pgdat, GFP_MOVABLE | GFP_ZERO, 0));
	assert_true(block_reads(n.pgdat, a, 0, 0));
	assert_int_equal(free_pages(n.pgdat, a, 0), 0);
	assert_int_equal(platform_bad_state_count(), bad);
	assert_int_equal(buddy_check(n.pgdat), 0);
	poison_node_fini(&n);
}

/*
 * A use after free: one byte of a freed frame written, and the frame
 * allocated again (the per-CPU list hands the last frame freed back
 * first).  The check reports it once; the allocation still succeeds.
 */
static void use_after_free(uint8_t val, unsigned int gfp)
{
	struct poison_node n;
	struct page *a, *again;
	unsigned long bad;

	poison_node_init(&n, 32 * MIB, true, val, val == 0);
	assert_non_null(a = alloc_pages(n.pgdat, GFP_MOVABLE, 0));
	assert_int_equal(free_pages(n.pgdat, a, 0), 0);
	bad = platform_bad_state_count();
	((volatile uint8_t *)page_address(n.pgdat, a))[0x123] = 0x42;
	assert_non_null(again = alloc_pages(n.pgdat, GFP_MOVABLE | gfp, 0));
	assert_ptr_equal(again, a);
	assert_int_equal(platform_bad_state_count(), bad + 1);
	if (gfp & GFP_ZERO)
		assert_true(block_reads(n.pgdat, again, 0, 0));
	assert_int_equal(free_pages(n.pgdat, again, 0), 0);
	/* Freed again, it holds the poison again: the next allocation is clean. */
	assert_non_null(again = alloc_pages(n.pgdat, GFP_MOVABLE, 0));
	assert_int_equal(platform_bad_state_count(), bad + 1);
	assert_int_equal(free_pages(n.pgdat, again, 0), 0);
	poison_node_fini(&n);
}

static void test_use_after_free_is_reported(void **state)
{
	(void)state;
	use_after_free(0xaa, 0);
	use_after_free(0xaa, GFP_ZERO);
	use_after_free(0, 0);
	/* Zero poison skips the memset of a checked block: not this one. */
	use_after_free(0, GFP_ZERO);
}

/* A write inside a large free block, found when any of it is allocated. */
static void test_corrupt_inside_large_block(void **state)
{
	struct poison_node n;
	struct page *b;
	unsigned long bad;
	uint32_t pfn;

	(void)state;
	poison_node_init(&n, 32 * MIB, true, 0xaa, false);
	assert_non_null(b = alloc_pages(n.pgdat, GFP_MOVABLE, 4));
	pfn = page_to_pfn(n.pgdat, b);
	assert_int_equal(free_pages(n.pgdat, b, 4), 0);
	bad = platform_bad_state_count();
	((volatile uint8_t *)page_address(n.pgdat, b))[(7 << PAGE_SHIFT) + 9] = 0;
	assert_non_null(b = alloc_pages(n.pgdat, GFP_MOVABLE, 4));
	assert_int_equal(page_to_pfn(n.pgdat, b), pfn);
	assert_int_equal(platform_bad_state_count(), bad + 1);
	assert_int_equal(free_pages(n.pgdat, b, 4), 0);
	poison_node_fini(&n);
}

/* Off: nothing written at free, nothing checked at allocation. */
static void test_off_writes_and_checks_nothing(void **state)
{
	struct poison_node n;
	struct page *a, *again;
	unsigned long bad = platform_bad_state_count();

	(void)state;
	poison_node_init(&n, 32 * MIB, false, 0xaa, false);
	assert_false(n.pgdat->page_poison);
	assert_non_null(a = alloc_pages(n.pgdat, GFP_MOVABLE, 0));
	assert_true(block_reads(n.pgdat, a, 0, 0x5c));
	memset(page_address(n.pgdat, a), 0x11, PAGE_SIZE);
	assert_int_equal(free_pages(n.pgdat, a, 0), 0);
	assert_true(block_reads(n.pgdat, a, 0, 0x11));
	assert_non_null(again = alloc_pages(n.pgdat, GFP_MOVABLE, 0));
	assert_ptr_equal(again, a);
	assert_int_equal(platform_bad_state_count(), bad);
	assert_int_equal(free_pages(n.pgdat, again, 0), 0);
	poison_node_fini(&n);
}

/*
 * Zero poison over RAM that reads zero: the boot writes nothing (the pages
 * stay unpopulated: mincore() says so), and allocations pass.
 */
static void test_zero_poison_boot_writes_nothing(void **state)
{
	struct poison_node n;
	unsigned char vec[64];
	unsigned long bad = platform_bad_state_count();
	struct page *a;
	char *tail;

	(void)state;
	poison_node_init(&n, 32 * MIB, true, 0, true);
	tail = (char *)n.ram + n.bytes - sizeof(vec) * PAGE_SIZE;
	assert_int_equal(mincore(tail, sizeof(vec) * PAGE_SIZE, vec), 0);
	for (size_t i = 0; i < sizeof(vec); i++)
		assert_int_equal(vec[i] & 1, 0);
	assert_non_null(a = alloc_pages(n.pgdat, GFP_MOVABLE | GFP_ZERO, 5));
	assert_true(block_reads(n.pgdat, a, 5, 0));
	assert_int_equal(platform_bad_state_count(), bad);
	assert_int_equal(free_pages(n.pgdat, a, 5), 0);
	poison_node_fini(&n);
}

/* A reporting device that discards what it is given, as a host does. */
struct discarding {
	struct page_reporting_dev_info prdev; /* first: container_of is a cast */
	struct pglist_data *pgdat;
	uint64_t discarded;
};

static int discard_report(struct page_reporting_dev_info *prdev,
			  struct scatterlist *sg, unsigned int nents)
{
	struct discarding *d = (struct discarding *)prdev;

	for (unsigned int i = 0; i < nents; i++) {
		assert_int_equal(madvise(page_address(d->pgdat, sg[i].page),
					 sg[i].length, MADV_DONTNEED),
				 0);
		d->discarded += sg[i].length >> PAGE_SHIFT;
	}
	return 0;
}

/*
 * Report (and discard) everything free, then allocate it all back.
 * Return: the bad states the allocations raised.
 */
static unsigned long report_then_allocate(uint8_t val, uint64_t *discarded)
{
	struct poison_node n;
	struct discarding d = { 0 };
	struct page **pages;
	size_t nr = 0, max;
	unsigned long bad;

	poison_node_init(&n, 32 * MIB, true, val, false);
	page_reporting_dev_info_init(&d.prdev);
	d.prdev.report = discard_report;
	d.prdev.manual = true;
	d.prdev.min_age_ms = 0;
	d.pgdat = n.pgdat;
	assert_int_equal(page_reporting_register(n.pgdat, &d.prdev), 0);
	/* Dirtied and freed: the freed blocks hold the poison, written. */
	max = n.bytes >> (PAGE_SHIFT + PAGEBLOCK_ORDER);
	pages = calloc(max, sizeof(*pages));
	while (nr < max && (pages[nr] = alloc_pages(n.pgdat, GFP_MOVABLE,
						    PAGEBLOCK_ORDER)))
		memset(page_address(n.pgdat, pages[nr++]), 0x77,
		       PAGE_SIZE << PAGEBLOCK_ORDER);
	while (nr)
		assert_int_equal(free_pages(n.pgdat, pages[--nr], PAGEBLOCK_ORDER), 0);
	drain_all_pages(n.pgdat);
	assert_int_equal(page_reporting_process(&d.prdev), 0);
	page_reporting_unregister(&d.prdev);
	*discarded = d.discarded;

	bad = platform_bad_state_count();
	while (nr < max && (pages[nr] = alloc_pages(n.pgdat, GFP_MOVABLE,
						    PAGEBLOCK_ORDER)))
		nr++;
	bad = platform_bad_state_count() - bad;
	while (nr)
		assert_int_equal(free_pages(n.pgdat, pages[--nr], PAGEBLOCK_ORDER), 0);
	free(pages);
	poison_node_fini(&n);
	return bad;
}

static void test_discarded_reported_blocks(void **state)
{
	uint64_t discarded;
	unsigned long bad;

	(void)state;
	/* init_on_free: a discarded block reads zero, which is the poison. */
	assert_int_equal(report_then_allocate(0, &discarded), 0);
	assert_true(discarded >= 8 * PAGEBLOCK_NR_PAGES);
	/*
	 * A non-zero poison that a device discarded anyway (one not told the
	 * poison: what PAGE_POISON prevents) is caught on every block.
	 */
	bad = report_then_allocate(0xaa, &discarded);
	assert_true(discarded >= 8 * PAGEBLOCK_NR_PAGES);
	/* All but what the watermarks keep from the allocations. */
	assert_true(bad >= discarded / PAGEBLOCK_NR_PAGES - 2);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_free_poisons_and_alloc_checks),
		cmocka_unit_test(test_use_after_free_is_reported),
		cmocka_unit_test(test_corrupt_inside_large_block),
		cmocka_unit_test(test_off_writes_and_checks_nothing),
		cmocka_unit_test(test_zero_poison_boot_writes_nothing),
		cmocka_unit_test(test_discarded_reported_blocks),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
