/*
 * anonutil.h - what the anonymous-memory tests share: a node with a swap
 * file behind an error injector (swap_inject.h), error-injecting wrappers
 * for the compressor and the zpool, and per-page patterns with checksums.
 */
#ifndef GUESTMM_TESTS_ANONUTIL_H
#define GUESTMM_TESTS_ANONUTIL_H

#include "testutil.h"

#include "mm/anon.h"
#include "mm/zbud.h"
#include "mm/zdense.h"
#include "swap_inject.h"

/* A compressor that fails while @fail is set, else lz4. */
static atomic_int comp_fail;
static int failing_compress(const struct compressor *c, const void *src,
			    size_t n, void *dst, size_t dn)
{
	const struct compressor *lz4 = compressor_find("lz4");

	if (atomic_load(&comp_fail))
		return -GMM_EINVAL;
	return lz4->compress(lz4, src, n, dst, dn);
}
static int failing_decompress(const struct compressor *c, const void *src,
			      size_t n, void *dst, size_t dn)
{
	const struct compressor *lz4 = compressor_find("lz4");

	return lz4->decompress(lz4, src, n, dst, dn);
}
static const struct compressor failing_comp = {
	.name = "failing-lz4",
	.compress = failing_compress,
	.decompress = failing_decompress,
};

/* zbud with allocations that fail while @zpool_fail is set. */
static atomic_int zpool_fail;
static struct zpool_driver failing_zpool;
static int failing_zpool_malloc(void *pool, size_t size, uint64_t *handle)
{
	if (atomic_load(&zpool_fail))
		return -GMM_ENOMEM;
	return zbud_zpool_driver.malloc(pool, size, handle);
}

struct anon_node {
	struct test_node t;
	struct swap_inject fio;
	struct anon_config cfg;
};

static inline void anon_node_init_cfg(struct anon_node *n, uint64_t ram,
				      uint64_t swap, void (*tweak)(struct anon_config *))
{
	const char *dir = getenv("TMPDIR");
	struct swap_io *lower;

	memset(n, 0, sizeof(*n));
	test_node_init(&n->t, ram, 2);
	assert_int_equal(swap_file_create(dir ? dir : "/tmp", swap, &lower), 0);
	assert_int_equal(swap_inject_init(&n->fio, lower), 0);
	anon_config_init(&n->cfg);
	n->cfg.swap = &n->fio.io;
	n->cfg.kswapd = false;
	failing_zpool = zbud_zpool_driver;
	failing_zpool.malloc = failing_zpool_malloc;
	/* GMM_TEST_ZPOOL=dense: a stress test's second run, on the dense pool. */
	if (getenv("GMM_TEST_ZPOOL")) {
		n->cfg.zswap_cfg.zpool = zpool_driver_find(getenv("GMM_TEST_ZPOOL"));
		assert_non_null(n->cfg.zswap_cfg.zpool);
	}
	if (tweak)
		tweak(&n->cfg);
	assert_int_equal(anon_init(n->t.pgdat, &n->cfg), 0);
}

/* The validator of whichever pool zswap runs on. */
static inline int zswap_pool_check(struct zswap *zs)
{
	if (zswap_zpool_driver(zs) == &zdense_zpool_driver)
		return zdense_check(zswap_pool(zs));
	return zbud_check(zswap_pool(zs));
}

static inline void anon_node_fini(struct anon_node *n)
{
	uint64_t managed = node_managed_pages(n->t.pgdat);

	anon_fini(n->t.pgdat);
	drain_all_pages(n->t.pgdat);
	/* Everything came back: metadata, pool pages, tables, frames. */
	assert_int_equal(pgdat_free_pages(n->t.pgdat), managed);
	assert_int_equal(buddy_check(n->t.pgdat), 0);
	swap_file_destroy(n->fio.lower);
	swap_inject_fini(&n->fio);
	test_node_fini(&n->t);
}

static inline struct anon_stats anon_stats_of(struct anon_node *n)
{
	struct anon_stats st;

	anon_get_stats(n->t.pgdat, &st);
	return st;
}

/*
 * Page @i's pattern (version @v): one of four kinds - a repeated word
 * (same-filled), a short repeated motif (compresses well), half random
 * (compresses about 2:1), all random (does not compress).
 */
static inline void pattern_fill(uint64_t *w, uint64_t i, uint64_t v)
{
	uint64_t s = (i * 0x9e3779b97f4a7c15ull) ^ (v * 0xbf58476d1ce4e5b9ull) ^ 1;
	unsigned int kind = (unsigned int)((i + v) % 4);

	for (size_t k = 0; k < PAGE_SIZE / 8; k++) {
		switch (kind) {
		case 0: w[k] = s; break;
		case 1: w[k] = (k % 8) * s; break;
		case 2: w[k] = k % 2 ? 0 : test_rand(&s); break;
		default: w[k] = test_rand(&s); break;
		}
	}
}

static inline uint64_t page_checksum(const uint64_t *w)
{
	uint64_t h = 0xcbf29ce484222325ull;

	for (size_t k = 0; k < PAGE_SIZE / 8; k++)
		h = (h ^ w[k]) * 0x100000001b3ull + (k << 1);
	return h;
}

/* Write page @i's pattern at @addr.  Return: its checksum. */
static inline uint64_t write_page(struct mm_space *mm, uint64_t addr, uint64_t i,
				  uint64_t v)
{
	struct page *page;
	uint64_t sum;

	assert_int_equal(access_page(mm, addr, true, &page), 0);
	pattern_fill(page_address(mm->lruvec->pgdat, page), i, v);
	sum = page_checksum(page_address(mm->lruvec->pgdat, page));
	put_page(mm->lruvec->pgdat, page);
	return sum;
}

static inline uint64_t read_page_sum(struct mm_space *mm, uint64_t addr)
{
	struct page *page;
	uint64_t sum;

	assert_int_equal(access_page(mm, addr, false, &page), 0);
	sum = page_checksum(page_address(mm->lruvec->pgdat, page));
	put_page(mm->lruvec->pgdat, page);
	return sum;
}

#endif
