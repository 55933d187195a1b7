/*
 * anon_costs.c - evidence for the attack10 report's design critique, not a
 * test.  Two costs, printed:
 *
 *  1. add_to_swap()'s next-fit slot scan, under si->lock, on a 1 GiB swap
 *     device whose free slots are 1 in 1000, 1 in 10000 and one alone (a
 *     swap-in always frees its slot, so free slots end up scattered).
 *  2. How long a fault takes whose direct reclaim stores a page that
 *     finds the zswap pool at its limit: the store runs LRU writeback
 *     until the pool is under the accept threshold (90 % of the limit), in
 *     that thread, with the page lock of the page it stores held; against
 *     the other faults of the same run.
 *
 * Build from the worktree after `make build`:
 *   cc -O2 -I. -Iinclude tests/attack10/anon_costs.c build/libgmm_mm.a \
 *      build/libgmm_platform.a -llz4 -lzstd -lpthread -o /tmp/anon_costs
 *   /tmp/anon_costs [slots]     (slots: the first measurement only)
 */
#define _GNU_SOURCE
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "mm/anon.h"

#define MIB (1ull << 20)

static double now(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return ts.tv_sec + ts.tv_nsec / 1e9;
}

static struct pglist_data *node(uint64_t bytes, uint64_t swap_bytes,
				unsigned int pool_percent, struct swap_io **io)
{
	struct mm_boot_params p = { .ram_bytes = bytes, .nr_cpus = 1 };
	struct pglist_data *pgdat;
	struct anon_config cfg;

	p.ram = aligned_alloc(PAGE_SIZE, bytes);
	if (!p.ram || mm_init(&p, &pgdat) || swap_file_create("/tmp", swap_bytes, io))
		exit(1);
	anon_config_init(&cfg);
	cfg.swap = *io;
	cfg.kswapd = false;
	cfg.zswap_cfg.max_pool_percent = pool_percent;
	if (anon_init(pgdat, &cfg))
		exit(1);
	return pgdat;
}

static void slot_scan(void)
{
	struct swap_io *io;
	struct pglist_data *pgdat = node(64 * MIB, 1024 * MIB, 20, &io);
	struct lruvec *lv = pgdat->lruvec;
	struct swap_info *si = &lv->si;
	struct page *page = alloc_pages(pgdat, 0, 0);
	static const uint64_t every[] = { 1000, 10000, 0 };

	printf("1. add_to_swap() on %llu slots (1 GiB), si->lock held for the allocation\n",
	       (unsigned long long)si->nr_slots);
	for (unsigned int k = 0; k < 3; k++) {
		uint64_t calls = 0, nr = si->nr_slots;
		double t0, t, worst = 0;

		/*
		 * Every slot taken through the allocator, then every every[k]-th
		 * (or one in the middle) freed: a swap-in frees its slot, so free
		 * slots end up scattered.  Only the slot matters: one page
		 * stands for them all.
		 */
		for (uint64_t s = 0; s < nr; s++)
			if (add_to_swap(lv, page))
				exit(1);
		for (uint64_t s = 0; s < nr; s++)
			if (every[k] ? s % every[k] == 0 : s == nr / 2)
				swapcache_release(lv, (uint32_t)s);
		t0 = now();
		for (;;) {
			double t1 = now();

			if (add_to_swap(lv, page))
				break;
			t1 = now() - t1;
			worst = t1 > worst ? t1 : worst;
			calls++;
		}
		t = now() - t0;
		printf("   free 1 in %-6s: %6llu allocations, %8.2f us each, worst %8.2f us\n",
		       every[k] ? (k ? "10000" : "1000") : "all",
		       (unsigned long long)calls, t / (double)calls * 1e6, worst * 1e6);
		for (uint64_t s = 0; s < nr; s++)
			swapcache_release(lv, (uint32_t)s);
	}
}

static void store_stall(void)
{
	struct swap_io *io;
	struct pglist_data *pgdat = node(256 * MIB, 1024 * MIB, 20, &io);
	struct mm_space *mm;
	uint64_t pages = 512 * MIB / PAGE_SIZE, written_before = 0, s = 1;
	double worst_wb = 0, sum_wb = 0, worst = 0, sum = 0;
	unsigned int n_wb = 0, n = 0;

	if (mm_space_create(pgdat, &mm) || mm_mmap(mm, 1ull << 30, pages * PAGE_SIZE))
		exit(1);
	printf("2. faults writing 512 MiB into a 256 MiB node, zswap at 20 %% (a 51 MiB pool)\n");
	for (uint64_t i = 0; i < pages; i++) {
		struct anon_stats st;
		struct page *pg;
		uint64_t *w;
		double t0 = now(), t;

		if (access_page(mm, (1ull << 30) + i * PAGE_SIZE, true, &pg))
			exit(1);
		t = now() - t0;
		w = page_address(pgdat, pg);
		for (size_t k = 0; k < PAGE_SIZE / 8; k++) /* about 2:1 */
			w[k] = k % 2 ? 0 : (s ^= s << 13, s ^= s >> 7, s ^= s << 17);
		put_page(pgdat, pg);
		anon_get_stats(pgdat, &st);
		if (st.zswap.events[ZSWAP_WRITTEN_BACK_PAGES] > written_before) {
			n_wb++;
			sum_wb += t;
			if (t > worst_wb)
				worst_wb = t;
		} else {
			n++;
			sum += t;
			if (t > worst)
				worst = t;
		}
		written_before = st.zswap.events[ZSWAP_WRITTEN_BACK_PAGES];
	}
	printf("   %u faults whose reclaim wrote back (%llu objects in all): mean %.2f ms, worst %.1f ms\n",
	       n_wb, (unsigned long long)written_before, sum_wb / n_wb * 1e3, worst_wb * 1e3);
	printf("   %u other faults: mean %.4f ms, worst %.1f ms\n", n, sum / n * 1e3, worst * 1e3);
}

int main(int argc, char **argv)
{
	slot_scan();
	if (argc > 1 && !strcmp(argv[1], "slots"))
		return 0; /* only the first */
	store_stall();
	return 0;
}
