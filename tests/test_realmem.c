/*
 * test_realmem.c - memory really leaves the process: with reporting on, the
 * host's accounting of the guest's memfd (st_blocks) drops after a free; with
 * it off, it does not.  The core's own counters are never consulted.
 */
#include "testutil.h"
#include "guestmm/guest.h"

#include <errno.h>
#include <pthread.h>

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

/*
 * Small guests with every setting at its default (issue 16): a memhog of
 * 75 % of RAM, in order-9 blocks, freed, three times over.  A guest of 64,
 * 128 or 256 MiB must give back at least 95 % of what it freed, by the
 * host's accounting, on every cycle.  Before reporting was requested on
 * every free at the reporting order, a 128 MiB guest's free (24 blocks of
 * 4 MiB) never passed the high-water mark of 32 and a 64 MiB guest never
 * passed the gate of a whole batch (64 MiB) above its low watermark.
 * The wait is a hang guard, not a timing: what is promised (report delay
 * + 1 s) is a benchmark's figure (`guestmm bench return`, docs/results.md).
 */
#define SMALL_CYCLES 3
#define SMALL_WAIT_S 30

struct small_guest {
	uint64_t mem;
	uint64_t freed[SMALL_CYCLES];
	uint64_t returned[SMALL_CYCLES]; /* the most seen within the wait */
	int err;
};

static uint64_t small_hog(struct gmm_guest *g, struct page **v, unsigned int *order,
			  size_t *n, uint64_t bytes)
{
	struct pglist_data *pgdat = gmm_guest_pgdat(g);
	uint64_t got = 0;
	unsigned int o = PAGEBLOCK_ORDER;

	*n = 0;
	while (got < bytes) {
		struct page *page;

		while ((PAGE_SIZE << o) > bytes - got && o)
			o--;
		page = alloc_pages(pgdat, GFP_MOVABLE, o);
		if (!page) {
			if (!o)
				break;
			o--;
			continue;
		}
		memset(page_address(pgdat, page), 0x5a, PAGE_SIZE << o);
		v[*n] = page;
		order[(*n)++] = o;
		got += PAGE_SIZE << o;
	}
	return got;
}

static void *small_guest_run(void *arg)
{
	struct small_guest *s = arg;
	struct gmm_guest_config c;
	struct gmm_guest *g;
	size_t max = s->mem / PAGE_SIZE, n;
	struct page **v = calloc(max, sizeof(*v));
	unsigned int *order = calloc(max, sizeof(*order));

	gmm_guest_config_init(&c);
	c.mem_bytes = s->mem;
	s->err = !v || !order ? -ENOMEM : gmm_guest_create(&c, &g);
	if (s->err) {
		free(v);
		free(order);
		return NULL;
	}
	for (unsigned int cy = 0; cy < SMALL_CYCLES; cy++) {
		uint64_t at_free;

		s->freed[cy] = small_hog(g, v, order, &n, s->mem / 4 * 3);
		at_free = gmm_guest_host_resident_bytes(g);
		for (size_t i = 0; i < n; i++)
			free_pages(gmm_guest_pgdat(g), v[i], order[i]);
		for (int t = 0; t < SMALL_WAIT_S * 100; t++) {
			uint64_t now = gmm_guest_host_resident_bytes(g);

			if (now < at_free && at_free - now > s->returned[cy])
				s->returned[cy] = at_free - now;
			if (s->returned[cy] >= s->freed[cy] / 100 * 95)
				break;
			msleep(10);
		}
	}
	gmm_guest_destroy(g);
	free(v);
	free(order);
	return NULL;
}

static void test_small_guests_return(void **state)
{
	struct small_guest s[3] = { { .mem = 64 * MIB }, { .mem = 128 * MIB },
				    { .mem = 256 * MIB } };
	pthread_t t[3];

	(void)state;
	/* Side by side: each waits for its own timers, not for the others. */
	for (int i = 0; i < 3; i++)
		assert_int_equal(pthread_create(&t[i], NULL, small_guest_run, &s[i]), 0);
	for (int i = 0; i < 3; i++)
		pthread_join(t[i], NULL);
	for (int i = 0; i < 3; i++) {
		assert_int_equal(s[i].err, 0);
		for (int cy = 0; cy < SMALL_CYCLES; cy++) {
			print_message("%3llu MiB guest, cycle %d: freed %llu MiB, the host got back %.1f %%\n",
				      (unsigned long long)(s[i].mem / MIB), cy + 1,
				      (unsigned long long)(s[i].freed[cy] / MIB),
				      100.0 * (double)s[i].returned[cy] /
					      (double)s[i].freed[cy]);
			/* All of memhog's 75 %: none of it failed. */
			assert_int_equal(s[i].freed[cy], s[i].mem / 4 * 3);
		}
	}
	for (int i = 0; i < 3; i++)
		for (int cy = 0; cy < SMALL_CYCLES; cy++)
			if (s[i].returned[cy] < s[i].freed[cy] / 100 * 95)
				fail_msg("%llu MiB guest, cycle %d: %.1f %% of %llu MiB freed came back within %d s (want 95 %%)",
					 (unsigned long long)(s[i].mem / MIB), cy + 1,
					 100.0 * (double)s[i].returned[cy] /
						 (double)s[i].freed[cy],
					 (unsigned long long)(s[i].freed[cy] / MIB),
					 SMALL_WAIT_S);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_reporting_on_returns_memory),
		cmocka_unit_test(test_reporting_off_keeps_memory),
		cmocka_unit_test(test_small_guests_return),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
