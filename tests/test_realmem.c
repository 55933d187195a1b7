/*
 * test_realmem.c - memory really leaves the process: with reporting on, the
 * host's accounting of the guest's memfd (st_blocks) drops after a free; with
 * it off, it does not.  The core's own counters are never consulted.
 */
#include "testutil.h"
#include "guestmm/guest.h"

#define MIB (1ull << 20)
#define HOG (192 * MIB)

static void msleep(unsigned int ms)
{
	struct timespec ts = { ms / 1000, (long)(ms % 1000) * 1000000 };

	nanosleep(&ts, NULL);
}

/* Allocate and write @bytes in order-9 blocks; return how many blocks. */
static size_t hog(struct gmm_guest *g, struct page **blocks, uint64_t bytes)
{
	struct pglist_data *pgdat = gmm_guest_pgdat(g);
	size_t n = 0;

	for (uint64_t done = 0; done < bytes; done += 2 * MIB) {
		blocks[n] = alloc_pages(pgdat, GFP_MOVABLE, 9);
		assert_non_null(blocks[n]);
		memset(page_address(pgdat, blocks[n]), 0xa5, 2 * MIB);
		n++;
	}
	return n;
}

static void unhog(struct gmm_guest *g, struct page **blocks, size_t n)
{
	for (size_t i = 0; i < n; i++)
		assert_int_equal(free_pages(gmm_guest_pgdat(g), blocks[i], 9), 0);
}

static struct gmm_guest *guest(bool reporting)
{
	struct gmm_guest_config c;
	struct gmm_guest *g;

	gmm_guest_config_init(&c);
	c.mem_bytes = 256 * MIB;
	c.cpus = 1;
	c.reporting = reporting;
	c.report_delay_ms = 0;
	assert_int_equal(gmm_guest_create(&c, &g), 0);
	return g;
}

static void test_reporting_on_returns_memory(void **state)
{
	struct gmm_guest *g = guest(true);
	struct page *blocks[HOG / (2 * MIB)];
	uint64_t before, peak, after = 0;
	size_t n;

	before = gmm_guest_host_resident_bytes(g);
	n = hog(g, blocks, HOG);
	peak = gmm_guest_host_resident_bytes(g);
	assert_true(peak >= before + HOG);
	unhog(g, blocks, n);
	/* The worker runs with no delay; give it up to 10 s of wall time. */
	for (int i = 0; i < 1000; i++) {
		after = gmm_guest_host_resident_bytes(g);
		if (peak - after >= HOG / 10 * 9)
			break;
		msleep(10);
	}
	assert_true(peak - after >= HOG / 10 * 9);
	/* The discarded memory reads back as zeroes and can be used again. */
	n = hog(g, blocks, HOG);
	assert_true(gmm_guest_host_resident_bytes(g) >= after + HOG / 10 * 9);
	unhog(g, blocks, n);
	gmm_guest_destroy(g);
}

static void test_reporting_off_keeps_memory(void **state)
{
	struct gmm_guest *g = guest(false);
	struct page *blocks[HOG / (2 * MIB)];
	uint64_t peak;
	size_t n;

	n = hog(g, blocks, HOG);
	peak = gmm_guest_host_resident_bytes(g);
	unhog(g, blocks, n);
	msleep(500);
	assert_true(gmm_guest_host_resident_bytes(g) >= peak - HOG / 10);
	/* Turning it on at run time reports what is free now. */
	assert_int_equal(gmm_guest_set_reporting(g, true), 0);
	assert_int_equal(gmm_guest_report_now(g), 0);
	assert_true(gmm_guest_host_resident_bytes(g) <= peak - HOG / 10 * 9);
	gmm_guest_destroy(g);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_reporting_on_returns_memory),
		cmocka_unit_test(test_reporting_off_keeps_memory),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
