/*
 * test_atk_mm.c - an attack on issue 16's swap-fault handling (items 1, 2):
 * what a failing swap device still costs after the fixes.  Each test fails
 * on c1fbfef; see the comment of each for the defect it shows.
 */
#define _GNU_SOURCE
#include <errno.h>
#include <unistd.h>

#include "anonutil.h"
#include "mm/compaction.h"

#define MIB (1ull << 20)
#define BASE (1ull << 30)

static uint64_t *sums;

static void no_zswap_tweak(struct anon_config *c) { c->zswap = false; }

/* Write page @i at BASE + i pages.  Return: 0 or the fault's error. */
static int try_write(struct anon_node *n, struct mm_space *mm, uint64_t i)
{
	struct page *page;
	int err = access_page(mm, BASE + i * PAGE_SIZE, true, &page);

	if (err)
		return err;
	pattern_fill(page_address(n->t.pgdat, page), i, 7);
	sums[i] = page_checksum(page_address(n->t.pgdat, page));
	put_page(n->t.pgdat, page);
	return 0;
}

/*
 * A transient write failure destroys the whole swap device for good.
 *
 * A 32 MiB node with a 64 MiB swap file (16384 slots).  16 MiB are written
 * (no swap needed).  Then the device fails writes until at most 8 faults
 * after its first failure, and works again.  Each page whose write failed
 * is remapped and retried by the very next reclaim on a fresh slot, which
 * fails too and goes bad: the bound "one failed write per slot" is a bound
 * on the device, not on the pages.  On c1fbfef the one fault that met the
 * failure first wrote, and marked bad, all 16384 slots (its direct reclaim
 * retries 16 times, each pass over the whole LRU) and failed -ENOMEM.
 * After the device recovers,
 * 64 MiB of anonymous memory (32 MiB RAM + 64 MiB swap) no longer fit: the
 * node is out of memory at about its RAM.  Linux redirties a page whose
 * swap write failed and keeps its slot; no slot is marked bad.
 */
static void test_transient_write_failure_kills_device(void **state)
{
	struct anon_node n;
	struct mm_space *mm;
	struct anon_stats st;
	uint64_t pages = 64 * MIB / PAGE_SIZE, i = 0, after = 0;
	int err = 0;

	(void)state;
	anon_node_init_cfg(&n, 32 * MIB, 64 * MIB, no_zswap_tweak);
	sums = calloc(pages, sizeof(*sums));
	assert_int_equal(mm_space_create(n.t.pgdat, &mm), 0);
	assert_int_equal(mm_mmap(mm, BASE, pages * PAGE_SIZE), 0);
	for (; i < 16 * MIB / PAGE_SIZE; i++)
		assert_int_equal(try_write(&n, mm, i), 0);
	atomic_store(&n.fio.fail_writes, 1);
	for (; i < pages && after < 8; i++) {
		err = try_write(&n, mm, i);
		if (err)
			break;
		if (atomic_load(&n.fio.write_errors))
			after++;
	}
	atomic_store(&n.fio.fail_writes, 0); /* the device works again */
	st = anon_stats_of(&n);
	print_message("burst: %llu writes failed over %llu faults after the first "
		      "(the last fault said %d); %llu of %llu slots bad\n",
		      (unsigned long long)atomic_load(&n.fio.write_errors),
		      (unsigned long long)after, err, (unsigned long long)st.swap_bad,
		      (unsigned long long)st.swap_slots);
	err = 0; /* a fault during the failure may fail: the page is retried */
	for (; i < pages; i++)
		if ((err = try_write(&n, mm, i)))
			break;
	st = anon_stats_of(&n);
	if (err)
		fail_msg("after the device recovered, the fault of page %llu (%llu MiB "
			 "of 64) failed with %d: %llu of %llu swap slots are bad after %llu "
			 "failed writes",
			 (unsigned long long)i, (unsigned long long)(i * PAGE_SIZE / MIB),
			 err, (unsigned long long)st.swap_bad,
			 (unsigned long long)st.swap_slots,
			 (unsigned long long)atomic_load(&n.fio.write_errors));
	for (uint64_t k = 0; k < i; k++)
		assert_true(read_page_sum(mm, BASE + k * PAGE_SIZE) == sums[k]);
	/* The outage cost a few writes, no slot, and the device lives. */
	assert_int_equal(st.swap_bad, 0);
	assert_int_equal(st.events[SWAP_WRITE_DISABLED], 0);
	assert_true(atomic_load(&n.fio.write_errors) < SWAP_WRITE_DISABLE_AFTER);
	mm_space_destroy(mm);
	free(sums);
	anon_node_fini(&n);
}

/*
 * Once no anonymous page can go anywhere - the device failed every write
 * (on c1fbfef each failed slot went bad until all were; now the device is
 * no longer written after SWAP_WRITE_DISABLE_AFTER failures in a row), or
 * every slot holds a page - each fault that found no free frame still ran
 * DIRECT_RECLAIM_TRIES (16) passes, each over twice the LRU, every page it
 * picked found with no free slot (swap_full), before it said -ENOMEM; and
 * the next fault did it all again.  In `guestmm run --workload working-set
 * --mem 64M` with every write failing (in process and process guest
 * alike): the device is all bad at 0.5 s, then 7-10 M pages scanned for
 * 10-14 failed allocations, 2.7 s of CPU, 10 accesses in the last 2 s of a
 * 3 s run, and status 0.  Linux does not scan anonymous memory at all with
 * no free swap (vmscan's can_reclaim_anon_pages(), get_nr_swap_pages() ==
 * 0), and goes to the OOM killer.  Here: the pages one failing fault scans,
 * against the LRU, with a dead device and with a full one.
 */
static void full_device_fault_scans(bool dead)
{
	struct anon_node n;
	struct mm_space *mm;
	struct anon_stats st, st2;
	uint64_t pages = 48 * MIB / PAGE_SIZE, i = 0, lru;
	struct page *page;
	int err = 0;

	anon_node_init_cfg(&n, 32 * MIB, 4 * MIB, no_zswap_tweak);
	sums = calloc(pages, sizeof(*sums));
	assert_int_equal(mm_space_create(n.t.pgdat, &mm), 0);
	assert_int_equal(mm_mmap(mm, BASE, pages * PAGE_SIZE), 0);
	atomic_store(&n.fio.fail_writes, dead);
	/* Fault until reclaim can do nothing: the device dead, or full. */
	for (; i < pages; i++) {
		err = try_write(&n, mm, i);
		st = anon_stats_of(&n);
		if (err && (dead ? st.events[SWAP_WRITE_DISABLED] != 0 : st.swap_free == 0))
			break;
	}
	assert_int_equal(err, -GMM_ENOMEM);
	if (dead) {
		/* A bounded number of failed writes, no slot lost. */
		assert_int_equal(st.events[SWAP_WRITE_DISABLED], 1);
		assert_true(atomic_load(&n.fio.write_errors) <= 2 * SWAP_WRITE_DISABLE_AFTER);
		assert_int_equal(st.swap_bad, 0);
		assert_int_equal(st.swap_free, st.swap_slots);
	} else {
		assert_int_equal(atomic_load(&n.fio.write_errors), 0);
		assert_int_equal(st.swap_free, 0);
	}
	lru = st.nr_active + st.nr_inactive;
	err = access_page(mm, BASE + i * PAGE_SIZE, true, &page);
	assert_int_equal(err, -GMM_ENOMEM);
	st2 = anon_stats_of(&n);
	print_message("%s device: one failing fault: %llu pages scanned, %llu found "
		      "no slot, LRU %llu pages\n", dead ? "dead" : "full",
		      (unsigned long long)(st2.events[PGSCAN] - st.events[PGSCAN]),
		      (unsigned long long)(st2.events[SWAP_FULL] - st.events[SWAP_FULL]),
		      (unsigned long long)lru);
	if (st2.events[PGSCAN] - st.events[PGSCAN] > 4 * lru)
		fail_msg("a fault that cannot succeed scanned %llu pages (%.1f times the "
			 "%llu on the LRU) before -ENOMEM",
			 (unsigned long long)(st2.events[PGSCAN] - st.events[PGSCAN]),
			 (double)(st2.events[PGSCAN] - st.events[PGSCAN]) / (double)lru,
			 (unsigned long long)lru);
	assert_true(st2.events[SWAP_NO_RECLAIM] > st.events[SWAP_NO_RECLAIM]);
	mm_space_destroy(mm);
	free(sums);
	anon_node_fini(&n);
}

static void test_full_device_fault_scans(void **state)
{
	(void)state;
	full_device_fault_scans(true);
}

static void test_full_device_fault_scans_no_free_slot(void **state)
{
	(void)state;
	full_device_fault_scans(false);
}

/*
 * One transient read error loses the page for good.  The swap file's next
 * read fails once (GMM_TEST_SWAP_READ_FAIL_COUNT=1's case); the data is
 * still in the file, and every later read of it would succeed.  The slot is
 * poisoned at the first failure: the page is never read again, every access
 * says -EHWPOISON, and `guestmm run` kills the working-set process that
 * owns it and exits 1 ("data lost").  Linux does not poison the entry on a
 * fault's read error: the folio stays !uptodate in the swap cache (SIGBUS
 * for that access) and a later fault, once it is dropped, reads again; only
 * swapoff turns a failed read into a swapin-error marker.  A retry of the
 * read (once, or on the next fault) keeps a transient error from being
 * data loss.
 */
static void test_transient_read_error_loses_page(void **state)
{
	struct anon_node n;
	struct mm_space *mm;
	uint64_t pages = 48 * MIB / PAGE_SIZE, lost, reads;
	struct page *page;
	int err = 0;

	(void)state;
	anon_node_init_cfg(&n, 32 * MIB, 40 * MIB, no_zswap_tweak);
	sums = calloc(pages, sizeof(*sums));
	assert_int_equal(mm_space_create(n.t.pgdat, &mm), 0);
	assert_int_equal(mm_mmap(mm, BASE, pages * PAGE_SIZE), 0);
	for (uint64_t i = 0; i < pages; i++)
		assert_int_equal(try_write(&n, mm, i), 0);
	/* The next read fails, once; the device is fine after it. */
	n.fio.read_fail_count = 1;
	atomic_store(&n.fio.read_fail_from, atomic_load(&n.fio.reads) + 1);
	reads = atomic_load(&n.fio.reads);
	for (lost = 0; lost < pages; lost++) {
		err = access_page(mm, BASE + lost * PAGE_SIZE, false, &page);
		if (err)
			fail_msg("page %llu: one read failed once, the device reads fine "
				 "after it, and the page is lost: access says %d after %llu "
				 "read(s)", (unsigned long long)lost, err,
				 (unsigned long long)(atomic_load(&n.fio.reads) - reads));
		if (page_checksum(page_address(n.t.pgdat, page)) != sums[lost])
			fail_msg("page %llu came back different", (unsigned long long)lost);
		put_page(n.t.pgdat, page);
	}
	assert_int_equal(atomic_load(&n.fio.read_errors), 1);
	assert_int_equal(anon_stats_of(&n).events[SWAP_READ_RETRIED], 1);
	assert_int_equal(anon_stats_of(&n).events[SWAP_UNREADABLE], 0);
	assert_int_equal(anon_stats_of(&n).swap_bad, 0);
	mm_space_destroy(mm);
	free(sums);
	anon_node_fini(&n);
}

/*
 * alloc_contig_range() over a range holding an unmovable page fails -EBUSY
 * after isolating it.  Its undo puts the free blocks back in
 * zone->free_pages (buddy_check() compares; this part passes), but it
 * gives every pageblock back as MIGRATE_MOVABLE: the unmovable page's
 * pageblock, UNMOVABLE before, is MOVABLE after.  Linux checks for
 * unmovable pages before it isolates a pageblock (set_migratetype_isolate()
 * -> has_unmovable_pages()), so it never retypes one; here each failed
 * contiguous allocation or offline over kernel memory turns its pageblocks
 * movable, and unmovable allocations then spread into more pageblocks.
 */
static void test_contig_busy_keeps_pageblock_type(void **state)
{
	struct anon_node n;
	struct page *pin, *blk;
	uint64_t before;
	uint32_t pfn, start;
	unsigned int mt;

	(void)state;
	anon_node_init_cfg(&n, 64 * MIB, 4 * MIB, no_zswap_tweak);
	blk = alloc_pages(n.t.pgdat, GFP_MOVABLE, MAX_ORDER - 1);
	assert_non_null(blk);
	pin = alloc_pages(n.t.pgdat, 0, 0);
	assert_non_null(pin);
	pfn = page_to_pfn(n.t.pgdat, pin);
	start = pfn & ~(uint32_t)(MAX_ORDER_NR_PAGES - 1);
	drain_all_pages(n.t.pgdat);
	mt = get_pageblock_migratetype(n.t.pgdat, pfn);
	before = pgdat_free_pages(n.t.pgdat);
	assert_int_equal(buddy_check(n.t.pgdat), 0);
	assert_int_equal(alloc_contig_range(n.t.pgdat, start, start + MAX_ORDER_NR_PAGES,
					    NULL), -GMM_EBUSY);
	drain_all_pages(n.t.pgdat);
	assert_int_equal(buddy_check(n.t.pgdat), 0);
	assert_int_equal(pgdat_free_pages(n.t.pgdat), before);
	if (get_pageblock_migratetype(n.t.pgdat, pfn) != mt)
		fail_msg("pfn %#x's pageblock was %s, is %s after a failed "
			 "alloc_contig_range()", pfn, migratetype_names[mt],
			 migratetype_names[get_pageblock_migratetype(n.t.pgdat, pfn)]);
	free_pages(n.t.pgdat, pin, 0);
	free_pages(n.t.pgdat, blk, MAX_ORDER - 1);
	anon_node_fini(&n);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_transient_write_failure_kills_device),
		cmocka_unit_test(test_full_device_fault_scans),
		cmocka_unit_test(test_full_device_fault_scans_no_free_slot),
		cmocka_unit_test(test_transient_read_error_loses_page),
		cmocka_unit_test(test_contig_busy_keeps_pageblock_type),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
