/*
 * test_stress.c - the test that a block is never discarded while in use:
 * threads allocate blocks of random orders and write a pattern of their own
 * into each, the reporting worker discards free memory with no delay, and
 * every block is verified before it is freed.  A mismatch names the frame.
 * It runs until enough blocks and reports have happened, not for a time.
 */
#include "testutil.h"
#include "guest/workload.h"
#include "guestmm/guest.h"

#define MIB (1ull << 20)

/*
 * Run @threads threads on @cpus vCPUs until they have verified @blocks blocks
 * while the worker has made at least @reports reports, or a minute has gone
 * (a sanitizer build is slow); the test is about what happened, not how fast.
 */
static void stress_with(enum gmm_hinting hinting, unsigned int order,
			unsigned int cpus, unsigned int threads,
			uint64_t mem_bytes, uint64_t blocks, uint64_t reports)
{
	struct gmm_guest_config c;
	struct gmm_guest *g;
	struct workload w;
	struct gmm_guest_stats st;
	unsigned long bad = platform_bad_state_count();

	gmm_guest_config_init(&c);
	c.mem_bytes = mem_bytes;
	c.cpus = cpus;
	c.report_delay_ms = 0;
	c.report_order = order;
	c.report_capacity = 8;
	c.report_hwm = 0; /* every free at the reporting order asks */
	c.hinting = hinting;
	c.hint_entries = 8;  /* percpu: the workers run often */
	c.hint_poll_ms = 1;  /* bitmap: the host asks all the time */
	assert_int_equal(gmm_guest_create(&c, &g), 0);
	workload_init(&w, WORKLOAD_STRESS, g);
	w.threads = threads;
	w.seed = test_seed();
	assert_int_equal(workload_start(&w), 0);
	for (int i = 0; i < 600; i++) {
		struct timespec ts = { 0, 100 * 1000 * 1000 };

		gmm_guest_get_stats(g, &st);
		if (atomic_load(&w.blocks) >= blocks && st.reports >= reports)
			break;
		if (atomic_load(&w.errors))
			break;
		/* The strategy's invariants hold while it runs. */
		assert_int_equal(gmm_guest_validate(g), 0);
		nanosleep(&ts, NULL);
	}
	atomic_store(&w.stop, true);
	workload_join(&w);
	gmm_guest_get_stats(g, &st);
	print_message("%s, order %u, %u threads: %llu blocks verified, %llu reports (%llu MiB), %llu allocation failures\n",
		      gmm_hinting_names[hinting], order, threads,
		      (unsigned long long)atomic_load(&w.blocks),
		      (unsigned long long)st.reports,
		      (unsigned long long)(st.reported_bytes >> 20),
		      (unsigned long long)atomic_load(&w.alloc_failures));
	assert_int_equal(atomic_load(&w.errors), 0);
	assert_int_equal(platform_bad_state_count(), bad);
	assert_true(atomic_load(&w.blocks) >= blocks);
	/* Reporting really ran alongside, or the test proves nothing. */
	assert_true(st.reports >= reports);
	assert_int_equal(st.report_failures, 0);
	assert_int_equal(st.bad_acks, 0);
	drain_all_pages(gmm_guest_pgdat(g));
	assert_int_equal(gmm_guest_validate(g), 0);
	gmm_guest_destroy(g);
}

static void stress(unsigned int order, unsigned int cpus, unsigned int threads,
		   uint64_t mem_bytes, uint64_t blocks, uint64_t reports)
{
	stress_with(GMM_HINTING_REPORT, order, cpus, threads, mem_bytes, blocks,
		    reports);
}

/*
 * Issue 9: the same integrity stress under the other strategies - no frame
 * is discarded while allocated (the pattern check), the strategy's
 * validator holds throughout, and it really discarded memory meanwhile.
 */
static void test_stress_percpu(void **state)
{
	stress_with(GMM_HINTING_PERCPU, PAGEBLOCK_ORDER, 2, 3, 256 * MIB, 3000, 20);
}

static void test_stress_percpu_16_vcpus(void **state)
{
	stress_with(GMM_HINTING_PERCPU, PAGEBLOCK_ORDER, 16, 16, 512 * MIB, 1500, 10);
}

static void test_stress_bitmap(void **state)
{
	stress_with(GMM_HINTING_BITMAP, PAGEBLOCK_ORDER, 2, 3, 256 * MIB, 3000, 20);
}

static void test_stress_bitmap_16_vcpus(void **state)
{
	stress_with(GMM_HINTING_BITMAP, PAGEBLOCK_ORDER, 16, 16, 512 * MIB, 1500, 10);
}

static void test_stress_pageblock_order(void **state)
{
	stress(PAGEBLOCK_ORDER, 2, 3, 256 * MIB, 3000, 50);
}

static void test_stress_low_order(void **state)
{
	/* Reporting small blocks puts the worker in the allocator's way. */
	stress(3, 2, 2, 256 * MIB, 3000, 50);
}

static void test_stress_16_vcpus(void **state)
{
	/*
	 * 16 vCPU threads on the per-CPU lists and zone lock of one zone,
	 * reported at delay 0 underneath: the most interleavings on two
	 * cores.  Each thread keeps up to 64 blocks, ~25 MiB on average.
	 */
	stress(PAGEBLOCK_ORDER, 16, 16, 512 * MIB, 1500, 30);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_stress_pageblock_order),
		cmocka_unit_test(test_stress_low_order),
		cmocka_unit_test(test_stress_16_vcpus),
		cmocka_unit_test(test_stress_percpu),
		cmocka_unit_test(test_stress_percpu_16_vcpus),
		cmocka_unit_test(test_stress_bitmap),
		cmocka_unit_test(test_stress_bitmap_16_vcpus),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
