/*
 * bench_cma.c - `guestmm bench cma`, `bench compact` and `bench offline`:
 * contiguous allocation, full compaction and memory block offlining against
 * a guest whose zswap pool is full, for each zbud policy (none, unuse,
 * migrate; mm/zpool.h).  One in-process node per policy, built the same way;
 * the policies take turns attempt by attempt (A B C A B C ...), each node's
 * workload running only in its turn, so that the shared machine's noise
 * falls on all three alike; medians are reported.
 */
#define _GNU_SOURCE
#include <errno.h>
#include <math.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <unistd.h>

#include "bench/bench.h"
#include "runner/run.h"
#include "mm/compaction.h"
#include "mm/zbud.h"
#include "tools/cli.h"

#define MIB (1ull << 20)
#define WS_BASE (1ull << 30)

struct bnode {
	enum zpool_movable policy;
	void *ram;
	uint64_t ram_bytes;
	struct pglist_data *pgdat;
	struct swap_io *swap;
	struct mm_space *mm;
	uint64_t ws_pages;
	pthread_t thread;
	atomic_bool run, stop;
	atomic_uint_fast64_t accesses;
	uint64_t rng;
};

static uint64_t xs(uint64_t *s)
{
	*s ^= *s << 13;
	*s ^= *s >> 7;
	*s ^= *s << 17;
	return *s;
}

/*
 * 1600 random bytes, the rest zero: lz4 makes ~1.6 KiB of it, so two fit a
 * zbud page (half random would not: 2 x 33 chunks > 63).
 */
static void pattern(uint64_t *w, uint64_t i, uint64_t v)
{
	uint64_t s = (i + 1) * 0x9e3779b97f4a7c15ull ^ v;

	for (size_t k = 0; k < PAGE_SIZE / 8; k++)
		w[k] = k < 200 ? xs(&s) : 0;
}

static int touch(struct bnode *n, uint64_t i, uint64_t v)
{
	struct page *page;
	int err = access_page(n->mm, WS_BASE + i * PAGE_SIZE, true, &page);

	if (err)
		return err;
	pattern(page_address(n->pgdat, page), i, v);
	put_page(n->pgdat, page);
	return 0;
}

/* The busy guest: random writes over the working set while @run. */
static void *workload(void *arg)
{
	struct bnode *n = arg;

	platform_set_cpu_id(1);
	while (!atomic_load(&n->stop)) {
		if (!atomic_load(&n->run)) {
			usleep(1000);
			continue;
		}
		for (int k = 0; k < 64; k++)
			if (touch(n, xs(&n->rng) % n->ws_pages, n->rng) == 0)
				atomic_fetch_add(&n->accesses, 1);
	}
	return NULL;
}

static void bnode_destroy(struct bnode *n)
{
	if (n->thread) {
		atomic_store(&n->stop, true);
		pthread_join(n->thread, NULL);
	}
	if (n->mm)
		mm_space_destroy(n->mm);
	if (n->pgdat && n->pgdat->lruvec)
		anon_fini(n->pgdat);
	if (n->swap)
		swap_file_destroy(n->swap);
	if (n->ram)
		munmap(n->ram, n->ram_bytes);
	memset(n, 0, sizeof(*n));
}

/*
 * A node of @ram bytes with zswap under @policy and a swap file, and a
 * working set of @ws_factor_pct % of RAM written once: most of it goes to
 * zswap (the pool fills to its limit) and the swap file.
 * Return: 0, or -1 with a message.
 */
static int bnode_create(struct bnode *n, const struct bench_opts *b, uint64_t ram,
			enum zpool_movable policy, unsigned int ws_factor_pct, bool thread,
			uint32_t cma_start, uint32_t cma_end)
{
	struct mm_boot_params p = { .ram_bytes = ram, .nr_cpus = 2 };
	struct anon_config cfg;
	const char *dir = getenv("TMPDIR");

	memset(n, 0, sizeof(*n));
	n->policy = policy;
	n->ram_bytes = ram;
	n->ram = mmap(NULL, ram, PROT_READ | PROT_WRITE,
		      MAP_PRIVATE | MAP_ANONYMOUS | MAP_NORESERVE, -1, 0);
	if (n->ram == MAP_FAILED) {
		n->ram = NULL;
		fprintf(stderr, "guestmm: bench: no memory for a %llu MiB node\n",
			(unsigned long long)(ram >> 20));
		return -1;
	}
	p.ram = n->ram;
	if (mm_init(&p, &n->pgdat))
		goto fail;
	if (cma_end && cma_declare_range(n->pgdat, cma_start, cma_end))
		goto fail;
	n->ws_pages = ram / PAGE_SIZE * ws_factor_pct / 100;
	if (swap_file_create(dir ? dir : "/tmp",
			     (n->ws_pages > ram / PAGE_SIZE ? n->ws_pages * PAGE_SIZE : ram) + 64 * MIB,
			     &n->swap)) {
		bnode_destroy(n); /* the swap file's line says why */
		return -1;
	}
	anon_config_init(&cfg);
	cfg.swap = n->swap;
	cfg.zswap_cfg.movable = policy;
	/* --zpool: one pool (zbud unless told); "both" is bench zswap's. */
	cfg.zswap_cfg.zpool = b->zpools[0];
	if (anon_init(n->pgdat, &cfg) || mm_space_create(n->pgdat, &n->mm) ||
	    mm_mmap(n->mm, WS_BASE, n->ws_pages * PAGE_SIZE))
		goto fail;
	n->rng = 0x1234567 + policy;
	for (uint64_t i = 0; i < n->ws_pages; i++)
		if (touch(n, i, 1))
			goto fail;
	if (thread && pthread_create(&n->thread, NULL, workload, n)) {
		n->thread = 0;
		goto fail;
	}
	return 0;
fail:
	fprintf(stderr, "guestmm: bench: could not set up the %s node\n",
		zpool_movable_names[policy]);
	bnode_destroy(n);
	return -1;
}

static uint64_t zbud_pages_in(struct pglist_data *pgdat, uint32_t start, uint32_t end)
{
	uint64_t n = 0;

	for (uint32_t pfn = start; pfn < end; pfn++)
		n += PageZbud(pfn_to_page(pgdat, pfn));
	return n;
}

static uint64_t zswap_unused(struct bnode *n)
{
	struct anon_stats st;

	anon_get_stats(n->pgdat, &st);
	return st.zswap.events[ZSWAP_UNUSED_PAGES];
}


/* ---- bench cma ---- */

#define CMA_ATTEMPTS_MAX 64
/*
 * Before each attempt the workload runs until the region holds at least
 * this many pool pages (1 MiB), for at most CMA_REFILL_MAX_MS: a `none`
 * pool never enters a declared region, and the wait must end.
 */
#define CMA_REFILL_ZBUD 256
#define CMA_REFILL_MAX_MS 3000

/* Allocated pages in [@start, @end) that no migration moves (page_isolation.c). */
static uint64_t unmovable_pages_in(struct pglist_data *pgdat, uint32_t start, uint32_t end)
{
	uint64_t n = 0;

	for (uint32_t pfn = start; pfn < end; pfn++) {
		uint16_t f = __atomic_load_n(&pfn_to_page(pgdat, pfn)->flags, __ATOMIC_RELAXED);

		n += (f & PG_head) && !(f & (PG_lru | PG_movable | PG_anon | PG_zbud));
	}
	return n;
}

struct cma_row {
	unsigned int ok, with_zbud, fail_with_zbud, fail_without_zbud;
	double ms_per_mib[CMA_ATTEMPTS_MAX], moved[CMA_ATTEMPTS_MAX],
		decompressed[CMA_ATTEMPTS_MAX];
	unsigned int n;
	/* The successful attempts that had zbud pages in the region. */
	double z_ms_per_mib[CMA_ATTEMPTS_MAX], z_moved[CMA_ATTEMPTS_MAX],
		z_decompressed[CMA_ATTEMPTS_MAX], z_zbud[CMA_ATTEMPTS_MAX];
	unsigned int zn;
	uint64_t pool_pages;
	/* Per attempt: pool pages and other unmovable pages in the region. */
	uint64_t zbud_at[CMA_ATTEMPTS_MAX], unmovable_at[CMA_ATTEMPTS_MAX];
	bool failed_at[CMA_ATTEMPTS_MAX];
};

/* A table of bench cma: the rows, measured, for printing or JSON. */
struct cma_table {
	bool declare;
	unsigned int attempts;
	uint32_t region[NR_ZPOOL_MOVABLE];
	struct cma_row rows[NR_ZPOOL_MOVABLE];
};

/*
 * One table.  With @declare, the region is the top 64 MiB of RAM, declared
 * at boot (CMA: unmovable allocations stay out): allocation takes the
 * highest free memory first, so the working set's first pages land there,
 * are the first reclaimed, and their frames become pool pages.  Without,
 * it is the 64 MiB in the middle of RAM, plain memory that page tables,
 * zswap's tables and non-movable pool pages may take.
 */
static int cma_measure(const struct bench_opts *b, bool declare, struct cma_table *tab)
{
	uint64_t ram = b->mem_bytes;
	unsigned int attempts = b->pairs;
	struct bnode nodes[NR_ZPOOL_MOVABLE];
	struct cma_row *rows = tab->rows;
	uint32_t nr = (uint32_t)(64 * MIB / PAGE_SIZE), *region = tab->region;

	if (attempts > CMA_ATTEMPTS_MAX)
		attempts = CMA_ATTEMPTS_MAX;
	memset(tab, 0, sizeof(*tab));
	tab->declare = declare;
	tab->attempts = attempts;
	for (unsigned int p = 0; p < NR_ZPOOL_MOVABLE; p++)
		if (bnode_create(&nodes[p], b, ram, (enum zpool_movable)p, 150, true,
				 declare ? (uint32_t)(ram / PAGE_SIZE) - nr : 0,
				 declare ? (uint32_t)(ram / PAGE_SIZE) : 0)) {
			while (p--)
				bnode_destroy(&nodes[p]);
			return 1;
		}
	for (unsigned int p = 0; p < NR_ZPOOL_MOVABLE; p++)
		region[p] = declare ? (uint32_t)(ram / PAGE_SIZE) - nr : (uint32_t)(ram / 2 / PAGE_SIZE);
	for (unsigned int a = 0; a < attempts; a++) {
		for (unsigned int k = 0; k < NR_ZPOOL_MOVABLE; k++) {
			unsigned int p = (a + k) % NR_ZPOOL_MOVABLE;
			struct bnode *n = &nodes[p];
			struct cma_row *r = &rows[p];
			struct compact_result res = { 0 };
			uint32_t start = region[p], end = start + nr;
			uint64_t zb, unused0;
			double t0, dt;
			int err;

			/*
			 * The workload runs until the pool has pages in the
			 * region again (its writeback frees pool pages and new
			 * stores take frames wherever the allocator gives them),
			 * or for CMA_REFILL_MAX_MS.
			 */
			atomic_store(&n->run, true);
			usleep(100000);
			for (unsigned int w = 100; w < CMA_REFILL_MAX_MS; w += 50) {
				if (zbud_pages_in(n->pgdat, start, end) >= CMA_REFILL_ZBUD)
					break;
				usleep(50000);
			}
			zb = zbud_pages_in(n->pgdat, start, end);
			r->zbud_at[a] = zb;
			r->unmovable_at[a] = unmovable_pages_in(n->pgdat, start, end);
			unused0 = zswap_unused(n);
			t0 = run_now_s();
			err = alloc_contig_range(n->pgdat, start, end, &res);
			dt = run_now_s() - t0;
			if (getenv("GUESTMM_BENCH_DEBUG"))
				fprintf(stderr, "%s: err %d zbud %llu moved %llu released %llu failed %llu notarget %llu rounds %llu\n",
					zpool_movable_names[p], err, (unsigned long long)zb,
					(unsigned long long)res.migrate.moved,
					(unsigned long long)res.migrate.released,
					(unsigned long long)res.migrate.failed,
					(unsigned long long)res.migrate.no_target,
					(unsigned long long)res.rounds);
			if (!err)
				free_contig_range(n->pgdat, start, end);
			atomic_store(&n->run, false);
			r->with_zbud += zb > 0;
			r->failed_at[a] = err != 0;
			if (err) {
				if (zb)
					r->fail_with_zbud++;
				else
					r->fail_without_zbud++;
				continue;
			}
			r->ok++;
			r->ms_per_mib[r->n] = dt * 1000 / 64;
			r->moved[r->n] = (double)(res.migrate.moved + (zswap_unused(n) - unused0)) *
					 PAGE_SIZE / MIB;
			r->decompressed[r->n] = (double)(zswap_unused(n) - unused0) * PAGE_SIZE / MIB;
			if (zb) {
				r->z_ms_per_mib[r->zn] = r->ms_per_mib[r->n];
				r->z_moved[r->zn] = r->moved[r->n];
				r->z_decompressed[r->zn] = r->decompressed[r->n];
				r->z_zbud[r->zn] = (double)zb;
				r->zn++;
			}
			r->n++;
		}
	}
	for (unsigned int p = 0; p < NR_ZPOOL_MOVABLE; p++) {
		struct zswap_stats st;

		/* Through zswap's driver: the pool may be zbud's or the dense one. */
		zswap_get_stats(nodes[p].pgdat->lruvec->zswap, &st);
		rows[p].pool_pages = st.pool_total_size >> PAGE_SHIFT;
		bnode_destroy(&nodes[p]);
	}
	if (!attempts)
		return bench_measured_nothing("cma", "no attempt");
	return 0;
}

static double median_or_nan(double *v, unsigned int n)
{
	return n ? median(v, n) : NAN;
}

static void cma_json(struct json *j, struct cma_table *tab)
{
	json_object(j, NULL);
	json_str(j, "region", tab->declare ? "declared" : "plain");
	json_u64(j, "attempts", tab->attempts);
	json_array(j, "policies");
	for (unsigned int p = 0; p < NR_ZPOOL_MOVABLE; p++) {
		struct cma_row *r = &tab->rows[p];

		json_object(j, NULL);
		json_str(j, "policy", zpool_movable_names[p]);
		json_u64(j, "region_start_bytes", (uint64_t)tab->region[p] * PAGE_SIZE);
		json_double(j, "success_fraction", (double)r->ok / tab->attempts);
		json_u64(j, "attempts_with_zbud", r->with_zbud);
		json_u64(j, "failures_with_zbud", r->fail_with_zbud);
		json_u64(j, "failures_without_zbud", r->fail_without_zbud);
		json_double(j, "moved_mib_median", median_or_nan(r->moved, r->n));
		json_double(j, "decompressed_mib_median", median_or_nan(r->decompressed, r->n));
		json_double(j, "ms_per_mib_median", median_or_nan(r->ms_per_mib, r->n));
		json_u64(j, "pool_pages_at_end", r->pool_pages);
		json_array(j, "zbud_pages_in_region");
		for (unsigned int a = 0; a < tab->attempts; a++)
			json_u64(j, NULL, r->zbud_at[a]);
		json_array_end(j);
		json_array(j, "unmovable_pages_in_region");
		for (unsigned int a = 0; a < tab->attempts; a++)
			json_u64(j, NULL, r->unmovable_at[a]);
		json_array_end(j);
		json_array(j, "failed");
		for (unsigned int a = 0; a < tab->attempts; a++)
			json_bool(j, NULL, r->failed_at[a]);
		json_array_end(j);
		json_object(j, "successes_with_zbud");
		json_u64(j, "successes", r->zn);
		json_double(j, "zbud_pages_median", median_or_nan(r->z_zbud, r->zn));
		json_double(j, "moved_mib_median", median_or_nan(r->z_moved, r->zn));
		json_double(j, "decompressed_mib_median", median_or_nan(r->z_decompressed, r->zn));
		json_double(j, "ms_per_mib_median", median_or_nan(r->z_ms_per_mib, r->zn));
		json_object_end(j);
		json_object_end(j);
	}
	json_array_end(j);
	json_object_end(j);
}

static void cma_print(const struct bench_opts *b, struct cma_table *tab)
{
	uint64_t ram = b->mem_bytes;
	unsigned int attempts = tab->attempts;
	bool declare = tab->declare;
	struct cma_row *rows = tab->rows;
	uint32_t *region = tab->region;

	printf("%s: guest %llu MiB, working set 150%%, a 64 MiB region, %u attempts per policy, workload running\n",
	       declare ? "region declared at boot (CMA)" : "plain movable region, no declaration",
	       (unsigned long long)(ram >> 20), attempts);
	printf("%-8s %8s %10s %10s %12s %14s %10s %10s\n", "policy", "success", "zbud in", "fail w/",
	       "moved MiB", "decompr. MiB", "ms/MiB", "pool pages");
	printf("%-8s %8s %10s %10s %12s %14s %10s %10s\n", "", "", "region", "zbud", "(median)",
	       "(median)", "(median)", "(at end)");
	for (unsigned int p = 0; p < NR_ZPOOL_MOVABLE; p++) {
		struct cma_row *r = &rows[p];

		printf("%-8s %7.0f%% %7u/%-2u %7u/%-2u", zpool_movable_names[p],
		       100.0 * r->ok / attempts, r->with_zbud, attempts, r->fail_with_zbud,
		       r->with_zbud);
		if (r->n)
			printf(" %12.2f %14.2f %10.3f", median(r->moved, r->n),
			       median(r->decompressed, r->n), median(r->ms_per_mib, r->n));
		else
			printf(" %12s %14s %10s", "-", "-", "-");
		printf(" %10llu  region at %u MiB\n", (unsigned long long)r->pool_pages,
		       (unsigned int)((uint64_t)region[p] * PAGE_SIZE >> 20));
		if (r->fail_without_zbud)
			printf("         (%u failures with no zbud page in the region)\n",
			       r->fail_without_zbud);
	}
	printf("pool pages in the region at each attempt (after the workload ran up to %u ms to bring >= %u there); other unmovable pages there; x = failed:\n",
	       CMA_REFILL_MAX_MS, CMA_REFILL_ZBUD);
	for (unsigned int p = 0; p < NR_ZPOOL_MOVABLE; p++) {
		printf("%-8s", zpool_movable_names[p]);
		for (unsigned int a = 0; a < attempts; a++)
			printf(" %llu%s", (unsigned long long)rows[p].zbud_at[a],
			       rows[p].failed_at[a] ? "x" : "");
		printf("\n%-8s", "");
		for (unsigned int a = 0; a < attempts; a++)
			printf(" %llu", (unsigned long long)rows[p].unmovable_at[a]);
		printf("  (unmovable, not pool)\n");
	}
	printf("successful attempts with zbud pages in the region (medians):\n");
	for (unsigned int p = 0; p < NR_ZPOOL_MOVABLE; p++) {
		struct cma_row *r = &rows[p];

		if (!r->zn)
			continue;
		printf("%-8s %3u attempts, %6.0f zbud pages: moved %6.2f MiB, decompressed %6.2f MiB, %7.3f ms/MiB\n",
		       zpool_movable_names[p], r->zn, median(r->z_zbud, r->zn),
		       median(r->z_moved, r->zn), median(r->z_decompressed, r->zn),
		       median(r->z_ms_per_mib, r->zn));
	}
}

int bench_cma(const struct bench_opts *b)
{
	struct cma_table *tab = calloc(2, sizeof(*tab));
	int ret = 1;

	if (!tab) {
		fprintf(stderr, "guestmm: bench cma: %s\n", strerror(ENOMEM));
		return 1;
	}
	/* Both measured before either is printed: one JSON object, whole. */
	if (cma_measure(b, true, &tab[0]) || cma_measure(b, false, &tab[1]))
		goto out;
	if (b->json) {
		struct json j;

		json_begin(&j, stdout);
		json_str(&j, "bench", "cma");
		json_u64(&j, "guest_mem_bytes", b->mem_bytes);
		json_u64(&j, "region_bytes", 64 * MIB);
		json_u64(&j, "working_set_pct", 150);
		json_array(&j, "tables");
		cma_json(&j, &tab[0]);
		cma_json(&j, &tab[1]);
		json_array_end(&j);
		json_end(&j);
	} else {
		cma_print(b, &tab[0]);
		printf("\n");
		cma_print(b, &tab[1]);
	}
	ret = 0;
out:
	free(tab);
	return ret;
}

/* ---- bench compact ---- */

static uint64_t free_blocks_ge9(struct pglist_data *pgdat)
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
 * Where the pool lies: @blocks, pageblocks holding at least one pool page;
 * @typed[mt], those of them whose pageblock type is mt.
 */
struct pool_spread {
	uint64_t pages, blocks, typed[MIGRATE_TYPES];
};

static void pool_spread(struct pglist_data *pgdat, struct pool_spread *s)
{
	uint32_t end = (uint32_t)(pgdat->node_spanned_pages);

	memset(s, 0, sizeof(*s));
	for (uint32_t b = 0; b < end; b += PAGEBLOCK_NR_PAGES) {
		uint64_t in = zbud_pages_in(pgdat, b, b + PAGEBLOCK_NR_PAGES < end
						       ? b + (uint32_t)PAGEBLOCK_NR_PAGES : end);

		s->pages += in;
		if (in) {
			s->blocks++;
			s->typed[get_pageblock_migratetype(pgdat, b)]++;
		}
	}
}

/* Write @count pages of @mm from page @first on, in order, with pattern @v. */
static void write_range(struct bnode *n, struct mm_space *mm, uint64_t first, uint64_t count,
			uint64_t v)
{
	for (uint64_t i = first; i < first + count; i++) {
		struct page *pg;

		if (access_page(mm, WS_BASE + i * PAGE_SIZE, true, &pg))
			continue;
		pattern(page_address(n->pgdat, pg), i, v);
		put_page(n->pgdat, pg);
	}
}

/* @count writes at random pages of the @nr spaces, each @pages[k] long. */
static void write_random(struct bnode *n, struct mm_space **mm, const uint64_t *pages,
			 unsigned int nr, uint64_t count)
{
	for (uint64_t i = 0; i < count; i++) {
		unsigned int k = (unsigned int)(xs(&n->rng) % nr);
		uint64_t page = xs(&n->rng) % pages[k];
		struct page *pg;

		if (access_page(mm[k], WS_BASE + page * PAGE_SIZE, true, &pg))
			continue;
		pattern(page_address(n->pgdat, pg), page, i);
		put_page(n->pgdat, pg);
	}
}

/*
 * The guest's history before the measurement, as on a machine that has run
 * a while: a long-lived process of 40 % of RAM, and jobs of 50 % each that
 * start, run and exit, two alive at a time (140 % of RAM: reclaim runs the
 * whole time and the pool fills to its limit).  Each job is written in
 * order, then the live spaces take random writes (faults from zswap and
 * swap, reclaim of whatever the LRU says, so that a frame's place no longer
 * follows its age), then the older job exits: its frames are freed where
 * they lie and its pool entries with them, the pool falls below its limit,
 * and the next job's pressure grows it again from the frames reclaim has
 * just freed, scattered over movable pageblocks.  Last, with the pool at its
 * limit, reclaim runs until nothing more goes: the long-lived process and
 * the last job (*@job_out) in zswap and swap, the rest of memory free.
 */
#define COMPACT_JOBS 6
#define COMPACT_RANDOM_WRITES 60000

static int compact_age(struct bnode *n, struct mm_space **job_out)
{
	uint64_t ram_pages = n->ram_bytes / PAGE_SIZE, job = ram_pages / 2;
	struct mm_space *live[3] = { n->mm, NULL, NULL };
	uint64_t pages[3] = { n->ws_pages, job, job };

	for (unsigned int c = 0; c < COMPACT_JOBS; c++) {
		struct mm_space *j = NULL;
		unsigned int nr = live[1] ? 3 : 2;

		if (mm_space_create(n->pgdat, &j) || mm_mmap(j, WS_BASE, job * PAGE_SIZE)) {
			if (j)
				mm_space_destroy(j);
			for (unsigned int k = 1; k < 3; k++)
				if (live[k])
					mm_space_destroy(live[k]);
			return -1;
		}
		live[nr - 1] = j;
		write_range(n, j, 0, job, c + 2);
		write_random(n, live, pages, nr, COMPACT_RANDOM_WRITES);
		if (nr == 3) {
			mm_space_destroy(live[1]);
			live[1] = live[2];
			live[2] = NULL;
		}
	}
	*job_out = live[1];
	while (shrink_node(n->pgdat->lruvec, 4096))
		;
	return 0;
}

int bench_compact(const struct bench_opts *b)
{
	uint64_t ram = b->mem_bytes;
	unsigned int reps = b->pairs;
	double before[NR_ZPOOL_MOVABLE][MAX_REPS], after[NR_ZPOOL_MOVABLE][MAX_REPS],
		moved[NR_ZPOOL_MOVABLE][MAX_REPS], decomp[NR_ZPOOL_MOVABLE][MAX_REPS],
		ms[NR_ZPOOL_MOVABLE][MAX_REPS], pool[NR_ZPOOL_MOVABLE][MAX_REPS],
		blocks[NR_ZPOOL_MOVABLE][MAX_REPS], in_unmovable[NR_ZPOOL_MOVABLE][MAX_REPS];
	uint64_t limit = 0;

	for (unsigned int r = 0; r < reps; r++) {
		for (unsigned int k = 0; k < NR_ZPOOL_MOVABLE; k++) {
			unsigned int p = (r + k) % NR_ZPOOL_MOVABLE;
			struct bnode n;
			struct compact_result res = { 0 };
			struct anon_stats st;
			struct pool_spread sp;
			struct mm_space *job = NULL;
			uint64_t unused0;
			double t0;

			if (bnode_create(&n, b, ram, (enum zpool_movable)p, 40, false, 0, 0))
				return 1;
			if (compact_age(&n, &job)) {
				bnode_destroy(&n);
				return bench_measured_nothing("compact", "no memory for a job's space");
			}
			anon_get_stats(n.pgdat, &st);
			pool_spread(n.pgdat, &sp);
			pool[p][r] = (double)sp.pages;
			blocks[p][r] = (double)sp.blocks;
			in_unmovable[p][r] = (double)sp.typed[MIGRATE_UNMOVABLE];
			limit = st.zswap.pool_limit_bytes / PAGE_SIZE;
			unused0 = st.zswap.events[ZSWAP_UNUSED_PAGES];
			before[p][r] = (double)free_blocks_ge9(n.pgdat);
			t0 = run_now_s();
			compact_node(n.pgdat, -1, &res);
			ms[p][r] = (run_now_s() - t0) * 1000;
			after[p][r] = (double)free_blocks_ge9(n.pgdat);
			decomp[p][r] = (double)(zswap_unused(&n) - unused0) * PAGE_SIZE / MIB;
			moved[p][r] = (double)res.migrate.moved * PAGE_SIZE / MIB + decomp[p][r];
			if (getenv("GUESTMM_BENCH_DEBUG"))
				fprintf(stderr, "%s: pool %llu pages in %llu pageblocks (%llu unmovable, %llu movable, %llu reclaimable); order>=9 %.0f -> %.0f\n",
					zpool_movable_names[p], (unsigned long long)sp.pages,
					(unsigned long long)sp.blocks,
					(unsigned long long)sp.typed[MIGRATE_UNMOVABLE],
					(unsigned long long)sp.typed[MIGRATE_MOVABLE],
					(unsigned long long)sp.typed[MIGRATE_RECLAIMABLE],
					before[p][r], after[p][r]);
			mm_space_destroy(job);
			bnode_destroy(&n);
		}
	}
	if (median(after[ZPOOL_MOVABLE_NONE], reps) <= 0 &&
	    median(after[ZPOOL_MOVABLE_MIGRATE], reps) <= 0)
		return bench_measured_nothing("compact", "no free block of order >= 9 under any policy");
	if (b->json) {
		double none_after = median(after[ZPOOL_MOVABLE_NONE], reps);
		struct json j;

		json_begin(&j, stdout);
		json_str(&j, "bench", "compact");
		json_u64(&j, "guest_mem_bytes", ram);
		json_u64(&j, "runs", reps);
		json_u64(&j, "jobs", COMPACT_JOBS);
		json_u64(&j, "pool_limit_pages", limit);
		json_u64(&j, "pageblocks", ram / PAGE_SIZE / PAGEBLOCK_NR_PAGES);
		json_array(&j, "policies");
		for (unsigned int p = 0; p < NR_ZPOOL_MOVABLE; p++) {
			double a = median(after[p], reps);

			json_object(&j, NULL);
			json_str(&j, "policy", zpool_movable_names[p]);
			json_double(&j, "pool_pages", median(pool[p], reps));
			json_double(&j, "pool_pageblocks", median(blocks[p], reps));
			json_double(&j, "pool_pageblocks_unmovable", median(in_unmovable[p], reps));
			json_double(&j, "free_order9_blocks_before", median(before[p], reps));
			json_double(&j, "free_order9_blocks_after", a);
			json_double(&j, "moved_mib", median(moved[p], reps));
			json_double(&j, "decompressed_mib", median(decomp[p], reps));
			json_double(&j, "ms", median(ms[p], reps));
			json_double(&j, "after_over_none", none_after > 0 ? a / none_after : NAN);
			json_object_end(&j);
		}
		json_array_end(&j);
		json_end(&j);
		return 0;
	}
	printf("guest %llu MiB, %u jobs of 50%% beside a process of 40%% under reclaim, then reclaim empties the rest:\n"
	       "zswap pool at its limit (%llu pages), the rest free; full compaction; %u runs per policy, medians\n",
	       (unsigned long long)(ram >> 20), COMPACT_JOBS, (unsigned long long)limit, reps);
	printf("%-8s %10s %10s %10s %10s %10s %10s %12s %9s %8s\n", "policy", "pool pages",
	       "pool in", "of them", "order>=9", "order>=9", "moved MiB", "decompr. MiB", "ms",
	       "after /");
	printf("%-8s %10s %10s %10s %10s %10s %10s %12s %9s %8s\n", "", "", "pageblocks",
	       "unmovable", "before", "after", "", "", "", "none");
	{
		double none_after = median(after[ZPOOL_MOVABLE_NONE], reps);

		for (unsigned int p = 0; p < NR_ZPOOL_MOVABLE; p++) {
			double a = median(after[p], reps);

			printf("%-8s %10.0f %10.0f %10.0f %10.0f %10.0f %10.2f %12.2f %9.1f",
			       zpool_movable_names[p], median(pool[p], reps), median(blocks[p], reps),
			       median(in_unmovable[p], reps), median(before[p], reps), a,
			       median(moved[p], reps), median(decomp[p], reps), median(ms[p], reps));
			/* none left no order-9 block: no ratio to it. */
			if (none_after > 0)
				printf(" %7.2fx\n", a / none_after);
			else
				printf(" %8s\n", "-");
		}
	}
	printf("(free blocks of order >= 9 in 2 MiB units: an order-10 block counts 2, %llu is all of RAM;\n"
	       " a pool of P pages needs at least P/512 pageblocks)\n",
	       (unsigned long long)(ram / PAGE_SIZE / PAGEBLOCK_NR_PAGES));
	return 0;
}

/* ---- bench offline ---- */

/*
 * One table.  With @declare, every block but the first is declared at boot
 * (cma_declare_range(): unmovable allocations stay out, as Linux keeps
 * hot-removable memory in ZONE_MOVABLE); without, any block may hold page
 * tables, zswap's tables and non-movable pool pages.
 */
struct offline_table {
	bool declare;
	uint32_t blocks;
	unsigned int ok[NR_ZPOOL_MOVABLE], tried[NR_ZPOOL_MOVABLE];
	double ms[NR_ZPOOL_MOVABLE][256];
	unsigned int nms[NR_ZPOOL_MOVABLE];
};

static int offline_measure(const struct bench_opts *b, bool declare,
			   struct offline_table *tab)
{
	uint64_t ram = b->mem_bytes;
	unsigned int passes = b->pairs;
	unsigned int *ok = tab->ok, *tried = tab->tried, *nms = tab->nms;
	double (*ms)[256] = tab->ms;
	struct bnode nodes[NR_ZPOOL_MOVABLE];
	uint32_t blocks;

	memset(tab, 0, sizeof(*tab));
	tab->declare = declare;

	for (unsigned int p = 0; p < NR_ZPOOL_MOVABLE; p++)
		if (bnode_create(&nodes[p], b, ram, (enum zpool_movable)p, 130, true,
				 declare ? MEMORY_BLOCK_PAGES : 0,
				 declare ? (uint32_t)(ram / PAGE_SIZE) : 0)) {
			while (p--)
				bnode_destroy(&nodes[p]);
			return 1;
		}
	blocks = nr_memory_blocks(nodes[0].pgdat);
	tab->blocks = blocks;
	for (unsigned int pass = 0; pass < passes; pass++) {
		for (uint32_t blk = 1; blk < blocks; blk++) {
			for (unsigned int k = 0; k < NR_ZPOOL_MOVABLE; k++) {
				unsigned int p = (pass + blk + k) % NR_ZPOOL_MOVABLE;
				struct bnode *n = &nodes[p];
				double t0;
				int err;

				atomic_store(&n->run, true);
				usleep(10000);
				t0 = run_now_s();
				err = offline_memory_block(n->pgdat, blk, NULL);
				tried[p]++;
				if (!err) {
					if (nms[p] < 256)
						ms[p][nms[p]++] = (run_now_s() - t0) * 1000;
					ok[p]++;
					online_memory_block(n->pgdat, blk);
				}
				atomic_store(&n->run, false);
			}
		}
	}
	for (unsigned int p = 0; p < NR_ZPOOL_MOVABLE; p++)
		bnode_destroy(&nodes[p]);
	if (!tried[0])
		return bench_measured_nothing("offline", "the guest has no memory block but the first");
	return 0;
}

static void offline_print(const struct bench_opts *b, struct offline_table *tab)
{
	printf("%s: guest %llu MiB (%u blocks of 128 MiB; block 0 holds the metadata), working set 130%%, workload running, %u passes\n",
	       tab->declare ? "blocks 1.. declared movable at boot" : "no declaration",
	       (unsigned long long)(b->mem_bytes >> 20), tab->blocks, b->pairs);
	printf("%-8s %12s %12s\n", "policy", "offlined", "ms (median)");
	for (unsigned int p = 0; p < NR_ZPOOL_MOVABLE; p++) {
		printf("%-8s %6u/%-5u", zpool_movable_names[p], tab->ok[p], tab->tried[p]);
		if (tab->nms[p])
			printf(" %12.1f\n", median(tab->ms[p], tab->nms[p]));
		else
			printf(" %12s\n", "-");
	}
}

static void offline_json(struct json *j, struct offline_table *tab)
{
	json_object(j, NULL);
	json_bool(j, "declared_movable", tab->declare);
	json_u64(j, "blocks", tab->blocks);
	json_array(j, "policies");
	for (unsigned int p = 0; p < NR_ZPOOL_MOVABLE; p++) {
		json_object(j, NULL);
		json_str(j, "policy", zpool_movable_names[p]);
		json_u64(j, "offlined", tab->ok[p]);
		json_u64(j, "tried", tab->tried[p]);
		json_double(j, "ms_median", median_or_nan(tab->ms[p], tab->nms[p]));
		json_object_end(j);
	}
	json_array_end(j);
	json_object_end(j);
}

int bench_offline(const struct bench_opts *b)
{
	struct offline_table *tab = calloc(2, sizeof(*tab));
	int ret = 1;

	if (!tab) {
		fprintf(stderr, "guestmm: bench offline: %s\n", strerror(ENOMEM));
		return 1;
	}
	if (offline_measure(b, true, &tab[0]) || offline_measure(b, false, &tab[1]))
		goto out;
	if (b->json) {
		struct json j;

		json_begin(&j, stdout);
		json_str(&j, "bench", "offline");
		json_u64(&j, "guest_mem_bytes", b->mem_bytes);
		json_u64(&j, "passes", b->pairs);
		json_u64(&j, "working_set_pct", 130);
		json_array(&j, "tables");
		offline_json(&j, &tab[0]);
		offline_json(&j, &tab[1]);
		json_array_end(&j);
		json_end(&j);
	} else {
		offline_print(b, &tab[0]);
		printf("\n");
		offline_print(b, &tab[1]);
	}
	ret = 0;
out:
	free(tab);
	return ret;
}
