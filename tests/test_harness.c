/*
 * test_harness.c - the outside review's concurrent harness.  Three vCPU
 * threads allocate and free blocks of every order and migratetype (some from
 * the Low zone only) while a fourth registers and unregisters manual-mode
 * reporting devices with random settings, runs their passes, drains the
 * per-CPU lists and validates every list.  A per-frame owner array catches a
 * frame handed out twice; the devices' report() catches a block reported
 * while it is allocated.  The Low zone ends in the middle of a pageblock, so
 * one pageblock's type byte is shared by two zones.  Runs to a count of
 * allocations; under TSan it is the race test of the free and reporting
 * paths.
 */
#include "testutil.h"

#include <pthread.h>
#include <stdatomic.h>
#include <sys/mman.h>

#define MIB (1ull << 20)
#define RAM_BYTES (256 * MIB)
/* Page aligned, not pageblock aligned: Low ends 6 frames into a pageblock. */
#define LOW_BYTES (17 * MIB + 6 * PAGE_SIZE)
#define NR_ALLOCATORS 3
#define ALLOCS_TOTAL 200000
#define MAX_HELD 256
#define MIN_REPORTER_ROUNDS 20

struct harness {
	struct pglist_data *pgdat;
	uint64_t seed;
	/* Per frame: the allocating thread's id + 1 while allocated, else 0. */
	_Atomic uint8_t *owner;
	atomic_bool done;
	atomic_ulong errors;
	char first_error[256]; /* written by whoever made errors 0 -> 1 */
	atomic_ulong rounds;
	atomic_ulong reported_blocks;
	atomic_ulong alloc_failures;
};

struct harness_dev {
	struct page_reporting_dev_info prdev; /* first: container_of is a cast */
	struct harness *h;
};

struct allocator {
	struct harness *h;
	unsigned int id;
	pthread_t thread;
};

static void harness_error(struct harness *h, const char *fmt, ...)
	__attribute__((format(printf, 2, 3)));

static void harness_error(struct harness *h, const char *fmt, ...)
{
	va_list ap;

	if (atomic_fetch_add(&h->errors, 1))
		return;
	va_start(ap, fmt);
	vsnprintf(h->first_error, sizeof(h->first_error), fmt, ap);
	va_end(ap);
}

static int harness_report(struct page_reporting_dev_info *prdev,
			  struct scatterlist *sg, unsigned int nents)
{
	struct harness *h = ((struct harness_dev *)prdev)->h;

	for (unsigned int i = 0; i < nents; i++) {
		uint32_t pfn = page_to_pfn(h->pgdat, sg[i].page);
		uint32_t nr = sg[i].length >> PAGE_SHIFT;

		for (uint32_t p = pfn; p < pfn + nr; p++) {
			unsigned int who = atomic_load(&h->owner[p]);

			if (who) {
				harness_error(h, "pfn %#x reported (block %#x, %u frames) while thread %u owns it",
					      p, pfn, nr, who - 1);
				return 0;
			}
		}
	}
	atomic_fetch_add(&h->reported_blocks, nents);
	return 0;
}

static void *reporter_thread(void *arg)
{
	struct harness *h = arg;
	struct harness_dev dev[2];
	uint64_t rng = h->seed ^ 0x5bd1e995ull;

	for (unsigned long round = 0;
	     !atomic_load(&h->done) || round < MIN_REPORTER_ROUNDS; round++) {
		struct harness_dev *d = &dev[round % 2];
		uint64_t r = test_rand(&rng);
		int err;

		page_reporting_dev_info_init(&d->prdev);
		d->h = h;
		d->prdev.report = harness_report;
		d->prdev.manual = true;
		d->prdev.order = (unsigned int)(r % MAX_ORDER);
		d->prdev.capacity = 1 + (unsigned int)((r >> 8) % 64);
		d->prdev.hwm = (unsigned int)((r >> 16) % 64);
		d->prdev.min_age_ms = 0;
		err = page_reporting_register(h->pgdat, &d->prdev);
		if (err) {
			harness_error(h, "round %lu: register gave %d", round, err);
			break;
		}
		for (unsigned int i = 0; i <= (r >> 24) % 4; i++) {
			err = page_reporting_process(&d->prdev);
			if (err)
				harness_error(h, "round %lu: pass gave %d", round, err);
		}
		drain_all_pages(h->pgdat);
		if (buddy_check(h->pgdat))
			harness_error(h, "round %lu: buddy_check failed", round);
		page_reporting_unregister(&d->prdev);
		atomic_fetch_add(&h->rounds, 1);
		if (atomic_load(&h->errors))
			break;
	}
	return NULL;
}

/* Claim the frames of a block just allocated: none may be owned. */
static bool owner_claim(struct harness *h, uint32_t pfn, unsigned int order,
			unsigned int id)
{
	for (uint32_t p = pfn; p < pfn + (1u << order); p++) {
		uint8_t was = atomic_exchange(&h->owner[p], (uint8_t)(id + 1));

		if (was) {
			harness_error(h, "pfn %#x (order-%u block %#x) handed to thread %u while thread %u holds it",
				      p, order, pfn, id, was - 1u);
			return false;
		}
	}
	return true;
}

/* Give up the frames before the block goes back: then report() may see it. */
static void owner_release(struct harness *h, uint32_t pfn, unsigned int order,
			  unsigned int id)
{
	for (uint32_t p = pfn; p < pfn + (1u << order); p++) {
		uint8_t was = atomic_exchange(&h->owner[p], 0);

		if (was != id + 1)
			harness_error(h, "pfn %#x: thread %u frees it, owner was %u",
				      p, id, (unsigned int)was);
	}
}

static void *allocator_thread(void *arg)
{
	struct allocator *a = arg;
	struct harness *h = a->h;
	static const unsigned int types[] = { GFP_MOVABLE, 0, GFP_RECLAIMABLE };
	struct { uint32_t pfn; unsigned int order; } held[MAX_HELD];
	unsigned int n = 0;
	uint64_t rng = h->seed * (2 * a->id + 3) | 1;

	platform_set_cpu_id(a->id % h->pgdat->nr_cpus);
	for (unsigned int allocs = 0;
	     allocs < ALLOCS_TOTAL / NR_ALLOCATORS && !atomic_load(&h->errors);) {
		uint64_t r = test_rand(&rng);

		if (n == 0 || (n < MAX_HELD && r % 100 < 55)) {
			unsigned int order = (r >> 8) % 2 ? (r >> 16) % 4
							   : (r >> 16) % MAX_ORDER;
			unsigned int gfp = types[(r >> 24) % 3] |
					   ((r >> 32) % 8 == 0 ? GFP_LOW : 0);
			struct page *page = alloc_pages(h->pgdat, gfp, order);
			uint32_t pfn;

			allocs++;
			if (!page) {
				atomic_fetch_add(&h->alloc_failures, 1);
				continue;
			}
			pfn = page_to_pfn(h->pgdat, page);
			if ((pfn & ((1u << order) - 1)) || page->order != order ||
			    pfn < h->pgdat->reserved_pages)
				harness_error(h, "order-%u block at pfn %#x: misaligned or reserved", order, pfn);
			if ((gfp & GFP_LOW) && pfn + (1u << order) >
			    h->pgdat->node_zones[ZONE_NORMAL].zone_start_pfn)
				harness_error(h, "GFP_LOW order-%u block at pfn %#x is outside Low", order, pfn);
			if (!owner_claim(h, pfn, order, a->id))
				break;
			held[n].pfn = pfn;
			held[n++].order = order;
		} else {
			unsigned int k = (unsigned int)((r >> 8) % n);

			owner_release(h, held[k].pfn, held[k].order, a->id);
			if (free_pages(h->pgdat, pfn_to_page(h->pgdat, held[k].pfn),
				       held[k].order))
				harness_error(h, "free of order-%u block %#x refused",
					      held[k].order, held[k].pfn);
			held[k] = held[--n];
		}
	}
	while (n--) {
		owner_release(h, held[n].pfn, held[n].order, a->id);
		if (free_pages(h->pgdat, pfn_to_page(h->pgdat, held[n].pfn), held[n].order))
			harness_error(h, "final free of order-%u block %#x refused",
				      held[n].order, held[n].pfn);
	}
	return NULL;
}

static void test_harness(void **state)
{
	struct harness *h = calloc(1, sizeof(*h));
	struct allocator a[NR_ALLOCATORS];
	struct mm_boot_params boot = { 0 };
	unsigned long bad = platform_bad_state_count();
	pthread_t reporter;
	void *ram;

	assert_non_null(h);
	h->seed = test_seed();
	ram = mmap(NULL, RAM_BYTES, PROT_READ | PROT_WRITE,
		   MAP_PRIVATE | MAP_ANONYMOUS | MAP_NORESERVE, -1, 0);
	assert_true(ram != MAP_FAILED);
	boot.ram = ram;
	boot.ram_bytes = RAM_BYTES;
	boot.low_zone_bytes = LOW_BYTES;
	boot.nr_cpus = 2;
	assert_int_equal(mm_init(&boot, &h->pgdat), 0);
	assert_true(h->pgdat->node_zones[ZONE_NORMAL].zone_start_pfn % PAGEBLOCK_NR_PAGES);
	h->owner = calloc(h->pgdat->node_spanned_pages, sizeof(*h->owner));
	assert_non_null(h->owner);

	assert_int_equal(pthread_create(&reporter, NULL, reporter_thread, h), 0);
	for (unsigned int i = 0; i < NR_ALLOCATORS; i++) {
		a[i] = (struct allocator){ .h = h, .id = i };
		assert_int_equal(pthread_create(&a[i].thread, NULL, allocator_thread, &a[i]), 0);
	}
	for (unsigned int i = 0; i < NR_ALLOCATORS; i++)
		pthread_join(a[i].thread, NULL);
	atomic_store(&h->done, true);
	pthread_join(reporter, NULL);

	print_message("%d allocations (%lu failed), %lu reporter rounds, %lu blocks reported\n",
		      ALLOCS_TOTAL, atomic_load(&h->alloc_failures),
		      atomic_load(&h->rounds), atomic_load(&h->reported_blocks));
	if (atomic_load(&h->errors))
		fail_msg("%s; %lu errors (GUESTMM_SEED=%#llx)", h->first_error,
			 atomic_load(&h->errors), (unsigned long long)h->seed);
	assert_int_equal(platform_bad_state_count(), bad);
	drain_all_pages(h->pgdat);
	assert_int_equal(buddy_check(h->pgdat), 0);
	assert_int_equal(pgdat_free_pages(h->pgdat), node_managed_pages(h->pgdat));
	assert_true(atomic_load(&h->rounds) >= MIN_REPORTER_ROUNDS);
	assert_true(atomic_load(&h->reported_blocks) > 0);
	free(h->owner);
	munmap(ram, RAM_BYTES);
	free(h);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_harness),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
