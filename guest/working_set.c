/*
 * working_set.c - the working-set workload: anonymous memory larger than
 * the guest's RAM, so that reclaim keeps pushing pages into zswap and the
 * swap file and faults keep bringing them back.
 *
 * Setup gives the guest's node anonymous memory (anon_init: LRU lists,
 * kswapd, zswap over zbud, a swap file as large as the working set plus
 * 64 MiB, in $TMPDIR, its blocks allocated at once) and one address space
 * per thread - a process each - mapping that thread's share of the working
 * set: the pages whose number is its id modulo the thread count.  Each
 * thread writes its pages once, and then picks pages with zipfian
 * popularity: rank = N^u - 1 for u uniform in [0, 1), the continuous form
 * of Zipf with s = 1, ranks scattered over the pages by a multiplicative
 * permutation so that hot pages are not neighbours.  A quarter of the
 * accesses write a new version of the page; the others read it and check
 * it: word 0 is the version, every word a function of the page, the
 * version and its index.  With w->max_accesses, thread k stops after its
 * share of them (the same split as the pages), the fill included: a run
 * bounded by work, not by time.
 *
 * A page whose swap read failed is lost (access_page() says -EHWPOISON, now
 * and at every later access).  As Linux sends SIGBUS to the task that
 * touches it, the thread whose process owns the page is killed: it records
 * the address (w->killed_addr), tears its space down and ends; the other
 * threads and the guest go on.  The runner says so, one line per process.
 */
#define _GNU_SOURCE
#include <errno.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>

#include "guest/workload.h"
#include "mm/anon.h"

#define WS_BASE (1ull << 30)

struct working_set {
	struct pglist_data *pgdat;
	struct swap_io *swap;
	uint64_t pages;
	uint64_t mult; /* coprime to @pages */
	unsigned int nr_spaces;
	/* Thread k's process; NULL once it is killed (only k writes it). */
	struct mm_space *mm[];
};

/* Thread @id's share of @pages: the page numbers id, id + threads, ... */
static uint64_t ws_share(uint64_t pages, unsigned int threads, unsigned int id)
{
	return (pages - id + threads - 1) / threads;
}

static uint64_t gcd(uint64_t a, uint64_t b)
{
	while (b) {
		uint64_t t = a % b;

		a = b;
		b = t;
	}
	return a;
}

int working_set_setup(struct workload *w)
{
	struct working_set *ws = calloc(1, sizeof(*ws) + w->threads * sizeof(ws->mm[0]));
	const struct gmm_guest_config *c = gmm_guest_config(w->guest);
	const char *dir = w->swap_dir ? w->swap_dir : getenv("TMPDIR");
	struct anon_config cfg;
	int err;

	if (!ws)
		return -ENOMEM;
	ws->pgdat = gmm_guest_pgdat(w->guest);
	ws->pages = (w->ws_bytes ? w->ws_bytes : c->mem_bytes / 2 * 3) / PAGE_SIZE;
	if (ws->pages < w->threads) {
		free(ws);
		return -EINVAL;
	}
	ws->mult = 0x9e3779b97f4a7c15ull % ws->pages;
	while (!ws->mult || gcd(ws->mult, ws->pages) != 1)
		ws->mult++;
	err = swap_file_create(dir ? dir : "/tmp", (ws->pages << PAGE_SHIFT) + (64ull << 20),
			       &ws->swap);
	if (err) {
		/* Its one line is out, but for these two (swap_io.h). */
		w->error_said = err != -GMM_EINVAL && err != -GMM_ENOMEM;
		goto undo_ws;
	}
	anon_config_init(&cfg);
	cfg.swap = ws->swap;
	if (w->zpool)
		cfg.zswap_cfg.zpool = w->zpool;
	err = anon_init(ws->pgdat, &cfg);
	if (err)
		goto undo_swap;
	for (; ws->nr_spaces < w->threads; ws->nr_spaces++) {
		struct mm_space **mm = &ws->mm[ws->nr_spaces];

		err = mm_space_create(ws->pgdat, mm);
		if (err)
			goto undo_spaces;
		err = mm_mmap(*mm, WS_BASE,
			      ws_share(ws->pages, w->threads, ws->nr_spaces) << PAGE_SHIFT);
		if (err) {
			mm_space_destroy(*mm);
			goto undo_spaces;
		}
	}
	w->ws = ws;
	return 0;
undo_spaces:
	while (ws->nr_spaces)
		mm_space_destroy(ws->mm[--ws->nr_spaces]);
	anon_fini(ws->pgdat);
undo_swap:
	swap_file_destroy(ws->swap);
undo_ws:
	free(ws);
	/* The core's errors are negative errnos with Linux's numbers. */
	return err;
}

void working_set_teardown(struct workload *w)
{
	struct working_set *ws = w->ws;

	for (unsigned int k = 0; k < ws->nr_spaces; k++)
		if (ws->mm[k])
			mm_space_destroy(ws->mm[k]);
	anon_fini(ws->pgdat);
	swap_file_destroy(ws->swap);
	free(ws);
	w->ws = NULL;
}

/* 1/8-octave buckets: 3 bits below the leading one; exact below 8 ns. */
static unsigned int ws_fault_bucket(uint64_t ns)
{
	unsigned int msb;

	if (ns < 8)
		return (unsigned int)ns;
	msb = 63u - (unsigned int)__builtin_clzll(ns);
	return msb * 8 + (unsigned int)((ns >> (msb - 3)) & 7);
}

static uint64_t ws_fault_bucket_top(unsigned int b)
{
	unsigned int msb = b / 8;

	if (b < 24)
		return b;
	return ((8ull + b % 8 + 1) << (msb - 3)) - 1;
}

uint64_t working_set_fault_ns(const struct workload *w, double q, uint64_t *nr)
{
	uint64_t total = 0, seen = 0, rank;

	for (unsigned int b = 0; b < WS_FAULT_BUCKETS; b++)
		total += atomic_load(&w->fault_hist[b]);
	if (nr)
		*nr = total;
	if (!total)
		return 0;
	rank = (uint64_t)ceil(q * (double)total);
	if (rank == 0)
		rank = 1;
	for (unsigned int b = 0; b < WS_FAULT_BUCKETS; b++) {
		seen += atomic_load(&w->fault_hist[b]);
		if (seen >= rank)
			return ws_fault_bucket_top(b);
	}
	return ws_fault_bucket_top(WS_FAULT_BUCKETS - 1);
}

static uint64_t ws_rand(uint64_t *s)
{
	*s ^= *s << 13;
	*s ^= *s >> 7;
	*s ^= *s << 17;
	return *s;
}

static uint64_t ws_word(uint64_t page, uint64_t version, uint64_t k)
{
	uint64_t x = (page + 1) * 0x9e3779b97f4a7c15ull ^ version * 0xbf58476d1ce4e5b9ull ^ k;

	x ^= x >> 31;
	/* Three words in four zero: pages compress about 3:1, like real ones. */
	return k % 4 ? 0 : x * 0x94d049bb133111ebull;
}

/*
 * Page @i of @mm, the working set's page number @page.
 * Return: 0; 1 for a page that is not what was written; -errno.
 */
static int ws_access(struct working_set *ws, struct mm_space *mm, uint64_t i,
		     uint64_t page, bool write, uint64_t *version)
{
	struct page *pg;
	uint64_t *p;
	int err = access_page(mm, WS_BASE + i * PAGE_SIZE, write, &pg);

	if (err)
		return err;
	p = page_address(ws->pgdat, pg);
	if (write) {
		(*version)++;
		p[0] = *version;
		for (uint64_t k = 1; k < PAGE_SIZE / 8; k++)
			p[k] = ws_word(page, *version, k);
	} else if (p[0] != *version) {
		err = 1;
	} else {
		for (uint64_t k = 1; k < PAGE_SIZE / 8 && !err; k += 61)
			err = p[k] != (*version ? ws_word(page, *version, k) : 0);
	}
	put_page(ws->pgdat, pg);
	return err;
}

/*
 * SIGBUS: the page at @i of thread @id's process is lost.  The process
 * goes - its space torn down, its memory and swap slots freed - and the
 * runner, which watches killed_addr, says so.
 */
static void ws_kill(struct workload *w, struct working_set *ws, unsigned int id,
		    uint64_t i)
{
	mm_space_destroy(ws->mm[id]);
	ws->mm[id] = NULL;
	atomic_store(&w->killed_addr[id], WS_BASE + i * PAGE_SIZE);
	atomic_fetch_add(&w->killed, 1);
}

void working_set_thread(struct workload *w, unsigned int id)
{
	struct working_set *ws = w->ws;
	struct mm_space *mm = ws->mm[id];
	uint64_t mine = ws_share(ws->pages, w->threads, id);
	uint64_t *version = calloc(mine, sizeof(*version));
	uint64_t rng = (w->seed + id + 1) * 0x2545f4914f6cdd1dull;
	double log_n = log((double)mine);
	uint64_t mult = mine > 1 ? ws->mult % mine : 1;
	uint64_t quota = w->max_accesses ? ws_share(w->max_accesses, w->threads, id)
					 : UINT64_MAX;
	uint64_t done = 0;
	bool killed = false;
	uint64_t hist[WS_FAULT_BUCKETS] = { 0 };

	while (mine > 1 && (!mult || gcd(mult, mine) != 1))
		mult++;

	if (!version) {
		atomic_fetch_add(&w->alloc_failures, 1);
		return;
	}
	for (uint64_t i = 0; i < mine && done < quota && !killed && !atomic_load(&w->stop);
	     i++, done++) {
		int err = ws_access(ws, mm, i, i * w->threads + id, true, &version[i]);

		if (err == -GMM_EHWPOISON) {
			ws_kill(w, ws, id, i);
			killed = true;
		} else if (err < 0) {
			atomic_fetch_add(&w->alloc_failures, 1);
		}
		atomic_fetch_add_explicit(&w->accesses, 1, memory_order_relaxed);
	}
	if (id == 0)
		atomic_store(&w->filled, true);
	for (; done < quota && !killed && !atomic_load(&w->stop); done++) {
		uint64_t r = ws_rand(&rng);
		double u = (double)(r >> 11) / 9007199254740992.0;
		uint64_t rank = (uint64_t)exp(u * log_n);
		uint64_t i = ((rank ? rank - 1 : 0) * mult) % mine;
		uint64_t faults = access_page_thread_faults();
		uint64_t t0 = platform_now_ns();
		int err = ws_access(ws, mm, i, i * w->threads + id, (r & 3) == 0,
				    &version[i]);

		if (access_page_thread_faults() != faults)
			hist[ws_fault_bucket(platform_now_ns() - t0)]++;

		if (err == -GMM_EHWPOISON) {
			ws_kill(w, ws, id, i);
			killed = true;
		} else if (err > 0) {
			atomic_fetch_add(&w->errors, 1);
		} else if (err < 0) {
			atomic_fetch_add(&w->alloc_failures, 1);
		}
		atomic_fetch_add_explicit(&w->accesses, 1, memory_order_relaxed);
	}
	for (unsigned int b = 0; b < WS_FAULT_BUCKETS; b++)
		if (hist[b])
			atomic_fetch_add(&w->fault_hist[b], hist[b]);
	free(version);
}
