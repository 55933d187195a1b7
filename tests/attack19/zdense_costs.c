/*
 * zdense_costs.c - evidence for the "dense pool attacked" section of
 * docs/results.md (issue 19), not a test.  Two costs of the dense pool's
 * compaction, printed:
 *
 *  1. One class's compaction (zdense_compact()), held under that class's
 *     lock from start to end, on S spans of one class left a quarter full
 *     by random frees, for S doubling: the time and the time per span
 *     freed (flat if the work is linear in the spans, doubling with S if
 *     it is quadratic).
 *  2. zdense_shrink()'s compaction when there is nothing to gain (a pool
 *     with no span's worth of waste in any class): the cost of each call,
 *     which zswap's writeback pays once per span it writes back.
 *  3. The pool's own metadata (handle table, span descriptors): pages of
 *     it beside a pool full of small objects, and what is left of it once
 *     every object is freed (zdense_meta_pages(); not in the pool's size,
 *     so not under zswap's limit either).
 *
 * Build from the worktree after `make build`:
 *   cc -O2 -I. -Iinclude tests/attack19/zdense_costs.c build/libgmm_mm.a \
 *      build/libgmm_platform.a -llz4 -lzstd -lpthread -o /tmp/zdense_costs
 *   nice -n -20 /tmp/zdense_costs
 */
#define _GNU_SOURCE
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "mm/anon.h"
#include "mm/zdense.h"

#define MIB (1ull << 20)

static double now(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return ts.tv_sec + ts.tv_nsec / 1e9;
}

static uint64_t rnd(uint64_t *s)
{
	*s ^= *s << 13;
	*s ^= *s >> 7;
	*s ^= *s << 17;
	return *s;
}

static struct pglist_data *node(uint64_t bytes)
{
	struct mm_boot_params p = { .ram_bytes = bytes, .nr_cpus = 1 };
	struct pglist_data *pgdat;

	p.ram = aligned_alloc(PAGE_SIZE, bytes);
	if (!p.ram || mm_init(&p, &pgdat) || page_ext_init(pgdat))
		exit(1);
	return pgdat;
}

static int refuse(void *owner, uint64_t handle)
{
	(void)owner;
	(void)handle;
	return -GMM_EAGAIN;
}

static const struct zpool_ops refusing = { .evict = refuse };

static double median(double *v, unsigned int n)
{
	for (unsigned int i = 1; i < n; i++)
		for (unsigned int j = i; j && v[j - 1] > v[j]; j--) {
			double t = v[j];

			v[j] = v[j - 1];
			v[j - 1] = t;
		}
	return v[n / 2];
}

int main(void)
{
	struct pglist_data *pgdat = node(1024 * MIB);
	unsigned int size = 1000, csize, cpages, cobjs;
	uint64_t seed = 88172645463325252ull;

	zdense_class_info(zdense_size_class(size), &csize, &cpages, &cobjs);
	printf("1. one class's compaction, under its lock (objects of %u bytes: class %u, "
	       "%u pages, %u objects a span; 3 of 4 objects freed at random)\n",
	       size, csize, cpages, cobjs);
	for (uint64_t spans = 1000; spans <= 8000; spans *= 2) {
		uint64_t n = spans * cobjs, freed_pages, before;
		uint64_t *h = malloc(n * sizeof(*h));
		struct zdense_pool *pool;
		double t0, t;

		if (!h || zdense_create_pool(pgdat, 0, spans * cpages + 64, &refusing, NULL, &pool))
			exit(1);
		for (uint64_t i = 0; i < n; i++)
			if (zdense_malloc(pool, size, &h[i]))
				exit(2);
		for (uint64_t i = 0; i < n; i++)
			if (rnd(&seed) % 4) {
				zdense_free(pool, h[i]);
				h[i] = 0;
			}
		before = zdense_get_pool_size(pool);
		t0 = now();
		freed_pages = zdense_compact(pool);
		t = now() - t0;
		if (!freed_pages) {
			fprintf(stderr, "compaction freed nothing: nothing measured\n");
			exit(3);
		}
		printf("   %6llu spans (%6llu pages): %9.2f ms, %6.2f us per span freed (%llu freed)\n",
		       (unsigned long long)spans, (unsigned long long)before, t * 1e3,
		       t * 1e6 / (double)(freed_pages / cpages),
		       (unsigned long long)(freed_pages / cpages));
		for (uint64_t i = 0; i < n; i++)
			if (h[i])
				zdense_free(pool, h[i]);
		zdense_destroy_pool(pool);
		free(h);
	}

	{
		static uint64_t h[40000];
		struct zdense_pool *pool;
		double v[15];

		printf("2. zdense_shrink()'s compaction with nothing to gain (%u classes)\n",
		       zdense_nr_classes());
		if (zdense_create_pool(pgdat, 0, 65536, &refusing, NULL, &pool))
			exit(1);
		/* Every class full to the span: no waste anywhere. */
		for (unsigned int c = 0; c < zdense_nr_classes(); c++) {
			unsigned int s, pg, ob, k = 0;

			zdense_class_info(c, &s, &pg, &ob);
			for (unsigned int i = 0; i < ob; i++)
				if (zdense_malloc(pool, s - 8, &h[k++]))
					exit(2);
		}
		for (unsigned int r = 0; r < 15; r++) {
			double t0 = now();

			for (unsigned int i = 0; i < 10000; i++)
				if (zdense_compact(pool))
					exit(4);
			v[r] = (now() - t0) / 10000;
		}
		printf("   %.2f us a call (median of 15 x 10000)\n", median(v, 15) * 1e6);
	}

	for (unsigned int small = 40; small <= 1000; small = small == 40 ? 400 : 2000) {
		uint64_t limit = 4096, n = 0, cap = 400000, full, meta_full;
		uint64_t *h = malloc(cap * sizeof(*h));
		struct zdense_pool *pool;

		if (!h || zdense_create_pool(pgdat, 0, limit, &refusing, NULL, &pool))
			exit(1);
		while (n < cap && zdense_get_pool_size(pool) + 16 <= limit &&
		       !zdense_malloc(pool, small, &h[n]))
			n++;
		full = zdense_get_pool_size(pool);
		meta_full = zdense_meta_pages(pool);
		for (uint64_t i = 0; i < n; i++)
			zdense_free(pool, h[i]);
		printf("3. %u-byte objects: %llu of them in %llu pool pages, metadata %llu pages "
		       "(%.1f %% of the pool); all freed: pool %llu pages, metadata %llu pages\n",
		       small, (unsigned long long)n, (unsigned long long)full,
		       (unsigned long long)meta_full, 100.0 * (double)meta_full / (double)full,
		       (unsigned long long)zdense_get_pool_size(pool),
		       (unsigned long long)zdense_meta_pages(pool));
		zdense_destroy_pool(pool);
		free(h);
	}
	return 0;
}
