/*
 * test_compaction.c - migration, compaction, contiguous ranges, memory block
 * offline/online, and zbud's movable-page policies.  Every page that moves
 * is checked: single migrations compare the new frame with a snapshot of
 * the old one, and every test ends by reading each page of the workload back
 * through access_page() (from memory, zswap or swap) against its checksum.
 */
#include "anonutil.h"

#include <unistd.h>

#include "mm/compaction.h"
#include "mm/list.h"
#include "mm/page_reporting.h"

#define MIB (1ull << 20)
#define BASE (1ull << 30)
#define BASE_B (2ull << 30)

static uint64_t *sums;

static void fill(struct mm_space *mm, uint64_t base, uint64_t n, uint64_t v)
{
	for (uint64_t i = 0; i < n; i++)
		sums[i] = write_page(mm, base + i * PAGE_SIZE, i, v);
}

static void verify(struct mm_space *mm, uint64_t base, uint64_t n)
{
	for (uint64_t i = 0; i < n; i++)
		if (read_page_sum(mm, base + i * PAGE_SIZE) != sums[i])
			fail_msg("page %llu came back different", (unsigned long long)i);
}

static enum zpool_movable tweak_policy;
static void policy_tweak(struct anon_config *c) { c->zswap_cfg.movable = tweak_policy; }

static void node_init(struct anon_node *n, uint64_t ram, enum zpool_movable policy)
{
	tweak_policy = policy;
	anon_node_init_cfg(n, ram, 256 * MIB, policy_tweak);
}

static struct compact_stats cstats(struct anon_node *n)
{
	struct compact_stats st;

	compact_get_stats(n->t.pgdat, &st);
	return st;
}

static void check_all(struct anon_node *n)
{
	drain_all_pages(n->t.pgdat);
	assert_int_equal(buddy_check(n->t.pgdat), 0);
	assert_int_equal(zbud_check(zswap_pool(n->t.pgdat->lruvec->zswap)), 0);
}

/* Free blocks of order >= 9 over every zone and list. */
static uint64_t high_order_free(struct pglist_data *pgdat)
{
	uint64_t n = 0;

	drain_all_pages(pgdat);
	for (unsigned int z = 0; z < pgdat->nr_zones; z++) {
		struct zone_stats st;

		zone_get_stats(&pgdat->node_zones[z], &st);
		for (unsigned int o = PAGEBLOCK_ORDER; o < MAX_ORDER; o++)
			for (unsigned int mt = 0; mt < MIGRATE_TYPES; mt++)
				n += st.free_blocks[o][mt] << (o - PAGEBLOCK_ORDER);
	}
	return n;
}

/*
 * Fault @n pages into @keep and @n into a second space, alternately, then
 * destroy the second: @keep's pages are left scattered with holes between.
 */
static void fragment(struct anon_node *n, struct mm_space *keep, uint64_t pages)
{
	struct mm_space *junk;

	assert_int_equal(mm_space_create(n->t.pgdat, &junk), 0);
	assert_int_equal(mm_mmap(junk, BASE_B, pages * PAGE_SIZE), 0);
	for (uint64_t i = 0; i < pages; i++) {
		sums[i] = write_page(keep, BASE + i * PAGE_SIZE, i, 7);
		write_page(junk, BASE_B + i * PAGE_SIZE, i, 9);
	}
	mm_space_destroy(junk);
}

/* A migration target straight from the allocator. */
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

/*
 * Every movable page of the node, one at a time: snapshot it, migrate it,
 * compare the new frame with the snapshot at once.  Anonymous pages and
 * zbud pages both move; afterwards every page reads back right, so zswap
 * found its objects through handles that now point elsewhere.
 */
static void test_migrate_each_page_verified(void **state)
{
	struct anon_node n;
	struct mm_space *mm;
	struct pglist_data *pgdat;
	struct plain_target pt;
	uint64_t pages = 6000, moved_anon = 0, moved_zbud = 0;
	static uint64_t snap[PAGE_SIZE / 8];

	node_init(&n, 64 * MIB, ZPOOL_MOVABLE_MIGRATE);
	pgdat = n.t.pgdat;
	pt = (struct plain_target){ { plain_alloc, plain_free }, pgdat };
	sums = calloc(pages, sizeof(*sums));
	assert_int_equal(mm_space_create(pgdat, &mm), 0);
	assert_int_equal(mm_mmap(mm, BASE, pages * PAGE_SIZE), 0);
	fill(mm, BASE, pages, 1);
	/* Half of it into zswap: zbud pages to move as well. */
	assert_true(shrink_node(pgdat->lruvec, pages / 2) > 0);
	for (uint32_t pfn = 0; pfn < pgdat->node_spanned_pages; pfn++) {
		struct page *page = pfn_to_page(pgdat, pfn);
		struct migrate_result res = { 0 };
		struct migrate_item item;
		bool zbud;

		if (!(page_flags_read(page) & (PG_lru | PG_movable)))
			continue;
		zbud = PageZbud(page);
		memcpy(snap, page_address(pgdat, page), PAGE_SIZE);
		if (!isolate_movable_page(pgdat, page, &item))
			continue;
		assert_int_equal(migrate_pages(pgdat, &item, 1, &pt.t, &res), 0);
		if (!res.moved)
			continue;
		assert_ptr_not_equal(item.page, page);
		/* A zbud header's list links are reset: the rest is the data. */
		if (memcmp((char *)snap + (zbud ? 32 : 0),
			   (char *)page_address(pgdat, item.page) + (zbud ? 32 : 0),
			   PAGE_SIZE - (zbud ? 32 : 0)))
			fail_msg("pfn %#x -> %#x: contents differ after migration", pfn,
				 page_to_pfn(pgdat, item.page));
		assert_int_equal(PageZbud(item.page), zbud);
		*(zbud ? &moved_zbud : &moved_anon) += 1;
	}
	print_message("moved %llu anonymous, %llu zbud pages\n",
		      (unsigned long long)moved_anon, (unsigned long long)moved_zbud);
	assert_true(moved_anon > 1000 && moved_zbud > 100);
	assert_int_equal(cstats(&n).events[PGMIGRATE_SUCCESS], moved_anon + moved_zbud);
	check_all(&n);
	verify(mm, BASE, pages);
	mm_space_destroy(mm);
	free(sums);
	anon_node_fini(&n);
}

/* Full compaction of a fragmented node brings back pageblock-sized blocks. */
static void test_compact_node(void **state)
{
	struct anon_node n;
	struct mm_space *mm;
	struct compact_result res = { 0 };
	uint64_t pages = 5000, before, after;

	node_init(&n, 64 * MIB, ZPOOL_MOVABLE_MIGRATE);
	sums = calloc(pages, sizeof(*sums));
	assert_int_equal(mm_space_create(n.t.pgdat, &mm), 0);
	assert_int_equal(mm_mmap(mm, BASE, pages * PAGE_SIZE), 0);
	fragment(&n, mm, pages);
	before = high_order_free(n.t.pgdat);
	assert_int_equal(compact_node(n.t.pgdat, -1, &res), 0);
	after = high_order_free(n.t.pgdat);
	print_message("order>=9 blocks %llu -> %llu; scanned %llu/%llu, moved %llu, failed %llu\n",
		      (unsigned long long)before, (unsigned long long)after,
		      (unsigned long long)res.migrate_scanned,
		      (unsigned long long)res.free_scanned,
		      (unsigned long long)res.migrate.moved,
		      (unsigned long long)res.migrate.failed);
	assert_true(res.migrate.moved > 0);
	assert_true(after > before);
	check_all(&n);
	verify(mm, BASE, pages);
	mm_space_destroy(mm);
	free(sums);
	anon_node_fini(&n);
}

/* An order-9 allocation that finds only holes compacts and succeeds. */
static void test_failed_allocation_compacts(void **state)
{
	struct anon_node n;
	struct mm_space *mm;
	struct pglist_data *pgdat;
	struct page *held[64], *page;
	unsigned int nheld = 0;
	uint64_t pages = 5000;
	struct compact_stats st;

	node_init(&n, 64 * MIB, ZPOOL_MOVABLE_MIGRATE);
	pgdat = n.t.pgdat;
	sums = calloc(pages, sizeof(*sums));
	assert_int_equal(mm_space_create(pgdat, &mm), 0);
	assert_int_equal(mm_mmap(mm, BASE, pages * PAGE_SIZE), 0);
	fragment(&n, mm, pages);
	/* Take every free block of order >= 9 there is; then only holes are left. */
	while (high_order_free(pgdat) && nheld < 64) {
		held[nheld] = alloc_pages(pgdat, 0, PAGEBLOCK_ORDER);
		assert_non_null(held[nheld]);
		nheld++;
	}
	assert_int_equal(high_order_free(pgdat), 0);
	assert_int_equal(cstats(&n).events[COMPACT_STALL], 0);
	page = alloc_pages(pgdat, GFP_MOVABLE, PAGEBLOCK_ORDER);
	st = cstats(&n);
	print_message("held %u; stall %llu success %llu fail %llu migrated %llu\n", nheld,
		      (unsigned long long)st.events[COMPACT_STALL],
		      (unsigned long long)st.events[COMPACT_SUCCESS],
		      (unsigned long long)st.events[COMPACT_FAIL],
		      (unsigned long long)st.events[PGMIGRATE_SUCCESS]);
	assert_non_null(page);
	assert_int_equal(st.events[COMPACT_STALL], 1);
	assert_int_equal(st.events[COMPACT_SUCCESS], 1);
	assert_true(st.events[PGMIGRATE_SUCCESS] > 0);
	free_pages(pgdat, page, PAGEBLOCK_ORDER);
	while (nheld)
		free_pages(pgdat, held[--nheld], PAGEBLOCK_ORDER);
	check_all(&n);
	verify(mm, BASE, pages);
	mm_space_destroy(mm);
	free(sums);
	anon_node_fini(&n);
}

/* ---- free page reporting alongside, at delay 0 ---- */

struct poison_dev {
	struct page_reporting_dev_info prdev; /* first */
	struct pglist_data *pgdat;
};

/* The host discards what it is told: here, the contents become poison. */
static int poison_report(struct page_reporting_dev_info *prdev,
			 struct scatterlist *sg, unsigned int nents)
{
	struct poison_dev *d = (struct poison_dev *)prdev;

	for (unsigned int i = 0; i < nents; i++)
		memset(page_address(d->pgdat, sg[i].page), 0xa5, sg[i].length);
	return 0;
}

/*
 * Frames of @pfns (@n) that lie in a free block, Reported, of an order from
 * @order up to but not including a pageblock's: what the free scanner takes
 * targets from.  Under each zone's lock, the worker running.
 */
static uint64_t frames_in_reported_blocks(struct pglist_data *pgdat, const uint32_t *pfns,
					  uint64_t n, unsigned int order)
{
	uint64_t found = 0;

	for (uint64_t i = 0; i < n; i++) {
		struct zone *zone = page_zone(pgdat, pfns[i]);

		spin_lock(&zone->lock);
		/* The free block holding the frame: its head is aligned to its order. */
		for (unsigned int o = 0; o < MAX_ORDER; o++) {
			uint32_t head = pfns[i] & ~((1u << o) - 1);
			struct page *page = pfn_to_page(pgdat, head);
			unsigned int flags = page_flags_read(page);

			if (head < zone->zone_start_pfn)
				break;
			if (!(flags & PG_buddy) || pfns[i] - head >= (1u << page->order))
				continue;
			found += (flags & PG_reported) && page->order >= order &&
				 page->order < PAGEBLOCK_ORDER;
			break;
		}
		spin_unlock(&zone->lock);
	}
	return found;
}

/*
 * Compaction and contiguous allocation while the reporting worker runs
 * with no delay and no minimum age, discarding (poisoning) every block it
 * is given: a page migrated into a block out for reporting, or a block
 * reported while it held a page, would come back poisoned.
 */
static void test_with_reporting_delay0(void **state)
{
	struct anon_node n;
	struct poison_dev d;
	struct mm_space *mm, *top, *holes;
	struct pglist_data *pgdat;
	uint64_t pages = 8000, in_reported = 0;
	uint32_t *hole_pfns = calloc(4096, sizeof(*hole_pfns));
	struct compact_stats st;
	uint32_t start = (uint32_t)(64 * MIB / PAGE_SIZE), end = start + (uint32_t)(16 * MIB / PAGE_SIZE);

	platform_bad_state_fatal(true);
	node_init(&n, 128 * MIB, ZPOOL_MOVABLE_MIGRATE);
	pgdat = n.t.pgdat;
	sums = calloc(pages, sizeof(*sums));
	assert_non_null(hole_pfns);
	page_reporting_dev_info_init(&d.prdev);
	d.pgdat = pgdat;
	d.prdev.report = poison_report;
	d.prdev.delay_ms = 0;
	d.prdev.min_age_ms = 0;
	d.prdev.capacity = 4;
	d.prdev.hwm = 1;
	/*
	 * Below the pageblock order, so that Reported blocks sit inside
	 * pageblocks in use: the free scanner leaves whole free pageblocks.
	 */
	d.prdev.order = 6;
	assert_int_equal(page_reporting_register(pgdat, &d.prdev), 0);
	/*
	 * Two spaces at the top of memory, written 128 pages each in turn;
	 * once the rest is in place the second goes, leaving the top
	 * pageblocks half used with free holes of order 6 and more, which the
	 * worker reports and the free scanner - which leaves whole free
	 * pageblocks alone - takes as targets.
	 */
	assert_int_equal(mm_space_create(pgdat, &top), 0);
	assert_int_equal(mm_space_create(pgdat, &holes), 0);
	assert_int_equal(mm_mmap(top, BASE, 4096 * PAGE_SIZE), 0);
	assert_int_equal(mm_mmap(holes, BASE, 4096 * PAGE_SIZE), 0);
	for (uint64_t i = 0; i < 4096; i++) {
		write_page(top, BASE + i * PAGE_SIZE, i, 1);
		if (i % 128 == 127)
			for (uint64_t k = i - 127; k <= i; k++) {
				struct page *page;

				write_page(holes, BASE + k * PAGE_SIZE, k, 1);
				assert_int_equal(access_page(holes, BASE + k * PAGE_SIZE, false,
							     &page), 0);
				hole_pfns[k] = page_to_pfn(pgdat, page);
				put_page(pgdat, page);
			}
	}
	assert_int_equal(mm_space_create(pgdat, &mm), 0);
	assert_int_equal(mm_mmap(mm, BASE, pages * PAGE_SIZE), 0);
	fragment(&n, mm, pages);
	assert_true(shrink_node(pgdat->lruvec, 1500) > 0);
	mm_space_destroy(holes);
	/*
	 * The worker reports the holes (delay 0): wait until a hole itself is
	 * a Reported block the free scanner would take.  (Waiting for 2048
	 * more reported pages was met by blocks that reclaim freed above,
	 * whole pageblocks the scanner leaves alone, with no hole reported
	 * yet.)  Frames the holes' pages left at reclaim may be others' now;
	 * a frame counts only inside a free block of the orders taken.  A
	 * liveness bound, not a timing one: a minute for work of a few
	 * milliseconds.
	 */
	for (int i = 0; i < 30000; i++) {
		in_reported = frames_in_reported_blocks(pgdat, hole_pfns, 4096, d.prdev.order);
		if (in_reported)
			break;
		usleep(2000);
	}
	if (!in_reported)
		fail_msg("no hole was a Reported block of order %u to %u a minute after it was freed",
			 d.prdev.order, PAGEBLOCK_ORDER - 1);
	for (int round = 0; round < 4; round++) {
		struct compact_result res = { 0 };
		int err;

		assert_int_equal(compact_node(pgdat, -1, &res), 0);
		verify(mm, BASE, pages);
		err = alloc_contig_range(pgdat, start, end, &res);
		assert_int_equal(err, 0);
		/* Ours now: write it whole, then give it back. */
		memset(page_address(pgdat, pfn_to_page(pgdat, start)), round, 16 * MIB);
		assert_int_equal(free_contig_range(pgdat, start, end), 0);
		verify(mm, BASE, pages);
		/* Some more churn for the reporter. */
		fill(mm, BASE, pages / 4, (uint64_t)round + 10);
	}
	st = cstats(&n);
	print_message("hole frames in Reported blocks before compaction %llu; "
		      "reported %llu pages; compaction took %llu targets from Reported blocks; "
		      "migrated %llu; cma ok %llu\n",
		      (unsigned long long)in_reported,
		      (unsigned long long)atomic_load(&d.prdev.reported_pages),
		      (unsigned long long)st.events[COMPACT_FREE_REPORTED],
		      (unsigned long long)st.events[PGMIGRATE_SUCCESS],
		      (unsigned long long)st.events[CMA_ALLOC_SUCCESS]);
	assert_true(atomic_load(&d.prdev.reported_pages) > 0);
	assert_true(st.events[COMPACT_FREE_REPORTED] > 0);
	assert_int_equal(st.events[CMA_ALLOC_SUCCESS], 4);
	page_reporting_unregister(&d.prdev);
	check_all(&n);
	verify(mm, BASE, pages);
	mm_space_destroy(top);
	mm_space_destroy(mm);
	free(sums);
	free(hole_pfns);
	anon_node_fini(&n);
	platform_bad_state_fatal(false);
}

/* ---- the three zbud policies ---- */

/* A 4 MiB-aligned range above the metadata holding a zbud page, or 0. */
static uint32_t range_with_zbud(struct pglist_data *pgdat)
{
	for (uint32_t pfn = (uint32_t)pgdat->node_spanned_pages; pfn-- > 0;) {
		uint32_t start = pfn & ~(uint32_t)(MAX_ORDER_NR_PAGES - 1);

		if (start < pgdat->reserved_pages || start < 16 * MIB / PAGE_SIZE)
			break;
		if (PageZbud(pfn_to_page(pgdat, pfn)))
			return start;
	}
	return 0;
}

static void contig_policy(enum zpool_movable policy)
{
	struct anon_node n;
	struct mm_space *mm;
	struct pglist_data *pgdat;
	uint64_t pages = 8000;
	struct compact_result res = { 0 };
	struct anon_stats st;
	uint32_t start;
	int err;

	node_init(&n, 64 * MIB, policy);
	pgdat = n.t.pgdat;
	sums = calloc(pages, sizeof(*sums));
	assert_int_equal(mm_space_create(pgdat, &mm), 0);
	assert_int_equal(mm_mmap(mm, BASE, pages * PAGE_SIZE), 0);
	fill(mm, BASE, pages, 3);
	assert_true(shrink_node(pgdat->lruvec, pages / 2) > 0);
	start = range_with_zbud(pgdat);
	assert_true(start != 0);
	err = alloc_contig_range(pgdat, start, start + MAX_ORDER_NR_PAGES, &res);
	st = anon_stats_of(&n);
	print_message("%s: alloc_contig_range %d; moved %llu released %llu failed %llu; zswap unused %llu\n",
		      zpool_movable_names[policy], err,
		      (unsigned long long)res.migrate.moved,
		      (unsigned long long)res.migrate.released,
		      (unsigned long long)res.migrate.failed,
		      (unsigned long long)st.zswap.events[ZSWAP_UNUSED_PAGES]);
	switch (policy) {
	case ZPOOL_MOVABLE_NONE:
		assert_int_equal(err, -GMM_EBUSY);
		break;
	case ZPOOL_MOVABLE_UNUSE:
		assert_int_equal(err, 0);
		assert_true(res.migrate.released > 0);
		assert_true(st.zswap.events[ZSWAP_UNUSED_PAGES] > 0);
		break;
	default:
		assert_int_equal(err, 0);
		assert_int_equal(res.migrate.released, 0);
		assert_int_equal(st.zswap.events[ZSWAP_UNUSED_PAGES], 0);
		break;
	}
	if (!err)
		assert_int_equal(free_contig_range(pgdat, start, start + MAX_ORDER_NR_PAGES), 0);
	check_all(&n);
	verify(mm, BASE, pages);
	mm_space_destroy(mm);
	free(sums);
	anon_node_fini(&n);
}

static void test_contig_policy_none(void **state) { contig_policy(ZPOOL_MOVABLE_NONE); }
static void test_contig_policy_unuse(void **state) { contig_policy(ZPOOL_MOVABLE_UNUSE); }
static void test_contig_policy_migrate(void **state) { contig_policy(ZPOOL_MOVABLE_MIGRATE); }

/* ---- failures: a mapped zbud handle, no target, bad input ---- */

/* A zbud page whose handle is mapped does not move; unmapped, it does. */
static void test_mapped_handle_pins_zbud_page(void **state)
{
	struct anon_node n;
	struct mm_space *mm;
	struct pglist_data *pgdat;
	struct plain_target pt;
	struct migrate_result res = { 0 };
	struct migrate_item item;
	struct zbud_pool *pool;
	uint64_t pages = 2000, handle = 0;
	struct page *zpage = NULL;
	void *addr;

	node_init(&n, 64 * MIB, ZPOOL_MOVABLE_MIGRATE);
	pgdat = n.t.pgdat;
	pt = (struct plain_target){ { plain_alloc, plain_free }, pgdat };
	pool = zswap_pool(pgdat->lruvec->zswap);
	sums = calloc(pages, sizeof(*sums));
	assert_int_equal(mm_space_create(pgdat, &mm), 0);
	assert_int_equal(mm_mmap(mm, BASE, pages * PAGE_SIZE), 0);
	fill(mm, BASE, pages, 4);
	assert_true(shrink_node(pgdat->lruvec, pages) > 0);
	/* A zbud page, and a live handle on it from its header. */
	for (uint32_t pfn = 0; pfn < pgdat->node_spanned_pages && !zpage; pfn++)
		if (PageZbud(pfn_to_page(pgdat, pfn)))
			zpage = pfn_to_page(pgdat, pfn);
	assert_non_null(zpage);
	{
		uint64_t *hdr = page_address(pgdat, zpage);

		/* struct zbud_header: two list heads, two chunk counts, handles. */
		const uint32_t *chunks = (const uint32_t *)&hdr[4];

		handle = chunks[0] ? hdr[5] : hdr[6];
	}
	assert_int_equal(zbud_map(pool, handle, &addr), 0);
	assert_true(isolate_movable_page(pgdat, zpage, &item));
	assert_int_equal(migrate_pages(pgdat, &item, 1, &pt.t, &res), 0);
	assert_int_equal(res.failed, 1);
	assert_ptr_equal(item.page, zpage);
	zbud_unmap(pool, handle);
	assert_true(isolate_movable_page(pgdat, zpage, &item));
	assert_int_equal(migrate_pages(pgdat, &item, 1, &pt.t, &res), 0);
	assert_int_equal(res.moved, 1);
	assert_ptr_not_equal(item.page, zpage);
	check_all(&n);
	verify(mm, BASE, pages);
	mm_space_destroy(mm);
	free(sums);
	anon_node_fini(&n);
}

/*
 * Nowhere to move to: memory full and reclaim failing (swap writes EIO, no
 * zswap).  The contiguous allocation fails with -ENOMEM and nothing is lost.
 */
static void no_zswap(struct anon_config *c) { c->zswap = false; }

static void test_contig_no_target(void **state)
{
	struct anon_node n;
	struct mm_space *mm;
	struct pglist_data *pgdat;
	struct page *page;
	uint64_t max = 64 * MIB / PAGE_SIZE, pages = 0;
	struct compact_result res = { 0 };
	uint32_t start = 0;
	int err;

	anon_node_init_cfg(&n, 64 * MIB, 64 * MIB, no_zswap);
	pgdat = n.t.pgdat;
	sums = calloc(max, sizeof(*sums));
	atomic_store(&n.fio.fail_writes, 1);
	assert_int_equal(mm_space_create(pgdat, &mm), 0);
	assert_int_equal(mm_mmap(mm, BASE, max * PAGE_SIZE), 0);
	while (pages < max && access_page(mm, BASE + pages * PAGE_SIZE, true, &page) == 0) {
		pattern_fill(page_address(pgdat, page), pages, 5);
		sums[pages] = page_checksum(page_address(pgdat, page));
		put_page(pgdat, page);
		pages++;
	}
	for (uint32_t pfn = (uint32_t)pgdat->node_spanned_pages - 1; pfn > 0 && !start; pfn--)
		if (page_flags_read(pfn_to_page(pgdat, pfn)) & PG_lru)
			start = pfn & ~(uint32_t)(MAX_ORDER_NR_PAGES - 1);
	assert_true(start >= 16 * MIB / PAGE_SIZE);
	err = alloc_contig_range(pgdat, start, start + MAX_ORDER_NR_PAGES, &res);
	print_message("filled %llu pages; alloc_contig_range: %d, %llu pages without a target\n",
		      (unsigned long long)pages, err, (unsigned long long)res.migrate.no_target);
	/* Out of targets; or, on a later pass, a page table found in the range. */
	assert_true(err == -GMM_ENOMEM || err == -GMM_EBUSY);
	assert_true(res.migrate.no_target > 0);
	atomic_store(&n.fio.fail_writes, 0);
	drain_all_pages(pgdat);
	assert_int_equal(buddy_check(pgdat), 0);
	verify(mm, BASE, pages);
	mm_space_destroy(mm);
	free(sums);
	anon_node_fini(&n);
}

static void test_bad_input(void **state)
{
	struct anon_node n;
	struct pglist_data *pgdat;
	uint32_t top, pfn;
	unsigned long bad;

	node_init(&n, 64 * MIB, ZPOOL_MOVABLE_MIGRATE);
	pgdat = n.t.pgdat;
	top = (uint32_t)pgdat->node_spanned_pages;
	/* Unaligned, empty, reversed, past the end, over metadata, across zones. */
	assert_int_equal(alloc_contig_range(pgdat, 8192 + 1, 8192 + 1025, NULL), -GMM_EINVAL);
	assert_int_equal(alloc_contig_range(pgdat, 8192, 8192 + 512, NULL), -GMM_EINVAL);
	assert_int_equal(alloc_contig_range(pgdat, 8192, 8192, NULL), -GMM_EINVAL);
	assert_int_equal(alloc_contig_range(pgdat, 9216, 8192, NULL), -GMM_EINVAL);
	assert_int_equal(alloc_contig_range(pgdat, top - 1024, top + 1024, NULL), -GMM_EINVAL);
	assert_int_equal(alloc_contig_range(pgdat, 0, 1024, NULL), -GMM_EINVAL);
	assert_int_equal(alloc_contig_range(pgdat, 3072, 5120, NULL), -GMM_EINVAL);
	assert_int_equal(alloc_contig_pages(pgdat, 3, &pfn, NULL), -GMM_EINVAL);
	assert_int_equal(alloc_contig_pages(pgdat, 512, &pfn, NULL), -GMM_EINVAL);
	assert_int_equal(compact_node(pgdat, MAX_ORDER, NULL), -GMM_EINVAL);
	/* Giving back what was never handed out: refused, reported, nothing changed. */
	bad = platform_bad_state_count();
	assert_int_equal(free_contig_range(pgdat, 8192, 9216), -GMM_EINVAL);
	assert_int_equal(platform_bad_state_count(), bad + 1);
	assert_int_equal(free_contig_range(pgdat, 8193, 9216), -GMM_EINVAL);
	/* Memory blocks: the one with the metadata, past the end, not offline. */
	assert_int_equal(offline_memory_block(pgdat, 0, NULL), -GMM_EINVAL);
	assert_int_equal(offline_memory_block(pgdat, 1000, NULL), -GMM_EINVAL);
	assert_int_equal(online_memory_block(pgdat, 0), -GMM_EINVAL);
	/* A range taken twice: the second one is busy. */
	assert_int_equal(alloc_contig_range(pgdat, 8192, 9216, NULL), 0);
	assert_int_equal(alloc_contig_range(pgdat, 8192, 9216, NULL), -GMM_EBUSY);
	assert_int_equal(free_contig_range(pgdat, 8192, 9216), 0);
	assert_int_equal(buddy_check(pgdat), 0);
	anon_node_fini(&n);
}

/* ---- memory blocks and a 1 GiB page ---- */

static void test_offline_online(void **state)
{
	struct anon_node n;
	struct mm_space *mm;
	struct pglist_data *pgdat;
	uint64_t pages = 40000, free_before; /* ~156 MiB */
	unsigned int offlined = 0;

	node_init(&n, 512 * MIB, ZPOOL_MOVABLE_MIGRATE);
	pgdat = n.t.pgdat;
	sums = calloc(pages, sizeof(*sums));
	assert_int_equal(mm_space_create(pgdat, &mm), 0);
	assert_int_equal(mm_mmap(mm, BASE, pages * PAGE_SIZE), 0);
	fill(mm, BASE, pages, 6);
	assert_true(shrink_node(pgdat->lruvec, 4000) > 0);
	assert_int_equal(nr_memory_blocks(pgdat), 4);
	drain_all_pages(pgdat);
	free_before = pgdat_free_pages(pgdat);
	for (uint32_t b = 1; b < nr_memory_blocks(pgdat); b++) {
		struct compact_result res = { 0 };
		int err = offline_memory_block(pgdat, b, &res);

		print_message("block %u offline: %d (moved %llu)\n", b, err,
			      (unsigned long long)res.migrate.moved);
		if (err) {
			assert_int_equal(err, -GMM_EBUSY); /* an unmovable table there */
			continue;
		}
		offlined++;
		assert_true(memory_block_offline(pgdat, b));
		assert_int_equal(offline_memory_block(pgdat, b, NULL), -GMM_EEXIST);
		/* Out of the allocator: not freeable by anyone else. */
		assert_int_equal(free_contig_range(pgdat, b * MEMORY_BLOCK_PAGES,
						   (b + 1) * MEMORY_BLOCK_PAGES),
				 -GMM_EINVAL);
		verify(mm, BASE, pages);
		assert_int_equal(online_memory_block(pgdat, b), 0);
		assert_false(memory_block_offline(pgdat, b));
		verify(mm, BASE, pages);
	}
	assert_true(offlined >= 1);
	check_all(&n);
	print_message("free %llu -> %llu pages\n", (unsigned long long)free_before,
		      (unsigned long long)pgdat_free_pages(pgdat));
	mm_space_destroy(mm);
	free(sums);
	anon_node_fini(&n);
}

/* A reporting device that records what it was told, 4 MiB pieces by index. */
struct offline_dev {
	struct page_reporting_dev_info prdev;
	struct pglist_data *pgdat;
	uint32_t start, end;	/* the block expected */
	unsigned int pieces, outside, seen[MEMORY_BLOCK_PAGES / MAX_ORDER_NR_PAGES];
};

static int offline_dev_report(struct page_reporting_dev_info *prdev, struct scatterlist *sg,
			      unsigned int nents)
{
	struct offline_dev *d = container_of(prdev, struct offline_dev, prdev);

	for (unsigned int i = 0; i < nents; i++) {
		uint32_t pfn = page_to_pfn(d->pgdat, sg[i].page);

		if (pfn < d->start || pfn >= d->end || sg[i].length != MAX_ORDER_NR_PAGES * PAGE_SIZE ||
		    pfn % MAX_ORDER_NR_PAGES) {
			d->outside++;
			continue;
		}
		d->seen[(pfn - d->start) / MAX_ORDER_NR_PAGES]++;
		d->pieces++;
	}
	return 0;
}

/*
 * An offlined block goes back to the host through the reporting device,
 * every 4 MiB of it once and nothing else; it leaves its zone's managed
 * pages and the watermarks fall with them; onlining restores both.
 */
static void test_offline_gives_back(void **state)
{
	struct anon_node n;
	struct offline_dev d = { 0 };
	struct pglist_data *pgdat;
	struct zone_stats before[MAX_NR_ZONES], st;
	uint64_t min_before = 0, min_offline = 0;
	uint32_t b;
	struct zone *zone;

	node_init(&n, 512 * MIB, ZPOOL_MOVABLE_MIGRATE);
	pgdat = n.t.pgdat;
	d.pgdat = pgdat;
	page_reporting_dev_info_init(&d.prdev);
	d.prdev.report = offline_dev_report;
	d.prdev.manual = true; /* no worker: only the offline reports */
	d.prdev.capacity = 8;	/* four report() calls for a block */
	assert_int_equal(page_reporting_register(pgdat, &d.prdev), 0);
	for (unsigned int z = 0; z < pgdat->nr_zones; z++) {
		zone_get_stats(&pgdat->node_zones[z], &before[z]);
		min_before += before[z].watermark[WMARK_MIN];
	}
	/* The first block that goes: the top one holds anon_init's tables. */
	for (b = 1;; b++) {
		int err;

		assert_true(b < nr_memory_blocks(pgdat));
		d.start = b * MEMORY_BLOCK_PAGES;
		d.end = d.start + MEMORY_BLOCK_PAGES;
		err = offline_memory_block(pgdat, b, NULL);
		if (!err)
			break;
		assert_int_equal(err, -GMM_EBUSY);
		assert_int_equal(d.pieces + d.outside, 0);
	}
	zone = page_zone(pgdat, d.start);
	assert_int_equal(d.outside, 0);
	assert_int_equal(d.pieces, MEMORY_BLOCK_PAGES / MAX_ORDER_NR_PAGES);
	for (unsigned int i = 0; i < MEMORY_BLOCK_PAGES / MAX_ORDER_NR_PAGES; i++)
		assert_int_equal(d.seen[i], 1);
	assert_int_equal(atomic_load(&d.prdev.reports), 4);
	zone_get_stats(zone, &st);
	assert_int_equal(st.managed_pages,
			 before[zone - pgdat->node_zones].managed_pages - MEMORY_BLOCK_PAGES);
	for (unsigned int z = 0; z < pgdat->nr_zones; z++) {
		zone_get_stats(&pgdat->node_zones[z], &st);
		min_offline += st.watermark[WMARK_MIN];
	}
	assert_true(min_offline < min_before);
	/* The allocator never hands out the block meanwhile. */
	{
		struct page *p = alloc_pages(pgdat, GFP_MOVABLE, MAX_ORDER - 1);

		if (p) {
			assert_true(page_to_pfn(pgdat, p) < d.start ||
				    page_to_pfn(pgdat, p) >= d.end);
			assert_int_equal(free_pages(pgdat, p, MAX_ORDER - 1), 0);
		}
	}
	assert_int_equal(online_memory_block(pgdat, b), 0);
	for (unsigned int z = 0; z < pgdat->nr_zones; z++) {
		zone_get_stats(&pgdat->node_zones[z], &st);
		assert_int_equal(st.managed_pages, before[z].managed_pages);
		for (unsigned int w = 0; w < NR_WMARK; w++)
			assert_int_equal(st.watermark[w], before[z].watermark[w]);
	}
	/* Nothing more is told on the way back. */
	assert_int_equal(d.pieces, MEMORY_BLOCK_PAGES / MAX_ORDER_NR_PAGES);
	page_reporting_unregister(&d.prdev);
	/* No device: offline still works and tells nobody. */
	assert_int_equal(offline_memory_block(pgdat, b, NULL), 0);
	assert_int_equal(d.pieces, MEMORY_BLOCK_PAGES / MAX_ORDER_NR_PAGES);
	assert_int_equal(online_memory_block(pgdat, b), 0);
	check_all(&n);
	anon_node_fini(&n);
}

/*
 * A 1 GiB page at run time from a 2 GiB node with a workload in it.  Its
 * one candidate is the upper gigabyte (the lower one holds the low zone):
 * the tables anon_init() allocated must not sit there, and the workload,
 * which allocation puts at the top, must be moved out of it.
 */
static void test_1gib_page(void **state)
{
	struct anon_node n;
	struct mm_space *mm;
	struct pglist_data *pgdat;
	struct compact_result res = { 0 };
	uint64_t pages = 16384;
	uint32_t start, unmovable = PFN_NONE;

	node_init(&n, 2048 * MIB, ZPOOL_MOVABLE_MIGRATE);
	pgdat = n.t.pgdat;
	for (uint32_t b = 1u << 18; b < 2u << 18 && unmovable == PFN_NONE;
	     b += PAGEBLOCK_NR_PAGES)
		if (get_pageblock_migratetype(pgdat, b) != MIGRATE_MOVABLE)
			unmovable = b;
	if (unmovable != PFN_NONE)
		fail_msg("after anon_init() pageblock %#x of the upper gigabyte, a 2 GiB node's "
			 "only 1 GiB candidate, is %s", unmovable,
			 migratetype_names[get_pageblock_migratetype(pgdat, unmovable)]);
	sums = calloc(pages, sizeof(*sums));
	assert_int_equal(mm_space_create(pgdat, &mm), 0);
	assert_int_equal(mm_mmap(mm, BASE, pages * PAGE_SIZE), 0);
	fill(mm, BASE, pages, 8);
	assert_int_equal(alloc_contig_pages(pgdat, 1ull << 18, &start, &res), 0);
	assert_true(res.migrate.moved > 0);
	print_message("1 GiB at pfn %#x; moved %llu pages in %llu passes\n", start,
		      (unsigned long long)res.migrate.moved, (unsigned long long)res.rounds);
	assert_int_equal(start, 1u << 18);
	verify(mm, BASE, pages);
	assert_int_equal(free_contig_range(pgdat, start, start + (1u << 18)), 0);
	check_all(&n);
	mm_space_destroy(mm);
	free(sums);
	anon_node_fini(&n);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_migrate_each_page_verified),
		cmocka_unit_test(test_compact_node),
		cmocka_unit_test(test_failed_allocation_compacts),
		cmocka_unit_test(test_with_reporting_delay0),
		cmocka_unit_test(test_contig_policy_none),
		cmocka_unit_test(test_contig_policy_unuse),
		cmocka_unit_test(test_contig_policy_migrate),
		cmocka_unit_test(test_mapped_handle_pins_zbud_page),
		cmocka_unit_test(test_contig_no_target),
		cmocka_unit_test(test_bad_input),
		cmocka_unit_test(test_offline_online),
		cmocka_unit_test(test_offline_gives_back),
		cmocka_unit_test(test_1gib_page),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
