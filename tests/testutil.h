/*
 * testutil.h - what the core's tests share: a node over plain memory, a
 * reference model of which frames are allocated, and a seeded RNG whose seed
 * is printed when a test fails.
 */
#ifndef GUESTMM_TESTS_TESTUTIL_H
#define GUESTMM_TESTS_TESTUTIL_H

#ifndef _GNU_SOURCE
#define _GNU_SOURCE
#endif
#include <time.h>

#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "mm/internal.h"

struct test_node {
	void *ram;
	uint64_t bytes;
	struct pglist_data *pgdat;
	uint8_t *allocated; /* reference model: one byte per frame */
};

static inline void test_node_init(struct test_node *t, uint64_t bytes,
				  unsigned int cpus)
{
	struct mm_boot_params p = { 0 };

	t->bytes = bytes;
	assert_int_equal(posix_memalign(&t->ram, PAGE_SIZE, bytes), 0);
	p.ram = t->ram;
	p.ram_bytes = bytes;
	p.nr_cpus = cpus;
	assert_int_equal(mm_init(&p, &t->pgdat), 0);
	t->allocated = calloc(bytes >> PAGE_SHIFT, 1);
	assert_non_null(t->allocated);
}

static inline void test_node_fini(struct test_node *t)
{
	free(t->allocated);
	free(t->ram);
}

/* Record an allocation in the model; fails on overlap or misalignment. */
static inline void model_alloc(struct test_node *t, struct page *page,
			       unsigned int order)
{
	uint32_t pfn = page_to_pfn(t->pgdat, page);

	if (pfn & ((1u << order) - 1))
		fail_msg("pfn %#x not aligned to order %u", pfn, order);
	if (pfn < t->pgdat->reserved_pages)
		fail_msg("pfn %#x is reserved metadata", pfn);
	for (uint32_t i = 0; i < (1u << order); i++) {
		if (t->allocated[pfn + i])
			fail_msg("pfn %#x handed out twice", pfn + i);
		t->allocated[pfn + i] = 1;
	}
}

static inline void model_free(struct test_node *t, struct page *page,
			      unsigned int order)
{
	uint32_t pfn = page_to_pfn(t->pgdat, page);

	for (uint32_t i = 0; i < (1u << order); i++)
		t->allocated[pfn + i] = 0;
}

static inline uint64_t model_allocated_pages(struct test_node *t)
{
	uint64_t n = 0;

	for (uint64_t i = 0; i < (t->bytes >> PAGE_SHIFT); i++)
		n += t->allocated[i];
	return n;
}

static inline uint64_t node_managed_pages(struct pglist_data *pgdat)
{
	uint64_t n = 0;

	for (unsigned int z = 0; z < pgdat->nr_zones; z++)
		n += pgdat->node_zones[z].managed_pages;
	return n;
}

static inline uint64_t node_pcp_pages(struct pglist_data *pgdat)
{
	uint64_t n = 0;

	for (unsigned int z = 0; z < pgdat->nr_zones; z++) {
		struct zone_stats st;

		zone_get_stats(&pgdat->node_zones[z], &st);
		n += st.pcp_pages;
	}
	return n;
}

static inline uint64_t test_rand(uint64_t *s)
{
	*s ^= *s << 13;
	*s ^= *s >> 7;
	*s ^= *s << 17;
	return *s;
}

/* The seed a randomized test uses: GUESTMM_SEED in the environment, or 1. */
static inline uint64_t test_seed(void)
{
	const char *e = getenv("GUESTMM_SEED");

	return e ? strtoull(e, NULL, 0) | 1 : 0x9e3779b97f4a7c15ull;
}

#define CHECK_SEED(cond, seed, step)                                           \
	do {                                                                   \
		if (!(cond))                                                   \
			fail_msg("%s failed at step %lu (GUESTMM_SEED=%#llx)",  \
				 #cond, (unsigned long)(step),                  \
				 (unsigned long long)(seed));                  \
	} while (0)

#endif
