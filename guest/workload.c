/*
 * workload.c - memhog, page_fault1 and stress, run by vCPU threads of an
 * in-process guest against the core's allocator.
 */
#define _GNU_SOURCE
#include "guest/workload.h"

#include <errno.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "mm/gfp.h"

struct block {
	struct page *page;
	unsigned int order;
	uint64_t tag; /* stress: the pattern's seed */
};

struct worker {
	struct workload *w;
	unsigned int id;
	pthread_t thread;
};

/*
 * @gate_lock protects @gate: the threads wait at it until every one of them
 * exists (GATE_GO), so that a failed pthread_create() can send the others
 * home (GATE_ABORT) before any of them waits on @barrier, which needs all.
 */
enum { GATE_WAIT, GATE_GO, GATE_ABORT };

struct workload_impl {
	struct worker *workers;
	unsigned int started;
	pthread_barrier_t barrier;
	pthread_mutex_t gate_lock;
	pthread_cond_t gate_cond;
	int gate;
	atomic_uint running;
	bool done; /* memhog: written by thread 0 between two barriers */
};

static bool workload_gate_wait(struct workload_impl *impl)
{
	int gate;

	pthread_mutex_lock(&impl->gate_lock);
	while (impl->gate == GATE_WAIT)
		pthread_cond_wait(&impl->gate_cond, &impl->gate_lock);
	gate = impl->gate;
	pthread_mutex_unlock(&impl->gate_lock);
	return gate == GATE_GO;
}

static void workload_gate_open(struct workload_impl *impl, int gate)
{
	pthread_mutex_lock(&impl->gate_lock);
	impl->gate = gate;
	pthread_cond_broadcast(&impl->gate_cond);
	pthread_mutex_unlock(&impl->gate_lock);
}

void workload_init(struct workload *w, enum workload_kind kind,
		   struct gmm_guest *guest)
{
	const struct gmm_guest_config *c = gmm_guest_config(guest);

	memset(w, 0, sizeof(*w));
	w->kind = kind;
	w->guest = guest;
	w->threads = c->cpus;
	w->bytes = c->mem_bytes / 4 * 3;
	w->cycles = 3;
	w->hold_ms = 500;
	w->sleep_ms = c->report_delay_ms + 2000;
	w->pf_bytes = 128ull << 20;
	w->seed = 1;
}

static void sleep_ms_unless_stopped(struct workload *w, unsigned int ms)
{
	for (unsigned int t = 0; t < ms && !atomic_load(&w->stop); t += 10) {
		struct timespec ts = { 0, 10 * 1000 * 1000 };

		nanosleep(&ts, NULL);
	}
}

static int blocks_push(struct block **v, size_t *n, size_t *cap, struct block b)
{
	if (*n == *cap) {
		size_t ncap = *cap ? *cap * 2 : 1024;
		struct block *nv = realloc(*v, ncap * sizeof(**v));

		if (!nv)
			return -ENOMEM;
		*v = nv;
		*cap = ncap;
	}
	(*v)[(*n)++] = b;
	return 0;
}

/* ---- memhog ---- */

static void memhog_alloc(struct worker *wk, struct block **v, size_t *n,
			 size_t *cap)
{
	struct workload *w = wk->w;
	struct pglist_data *pgdat = gmm_guest_pgdat(w->guest);
	uint64_t want = w->bytes / w->threads, got = 0;
	unsigned int order = PAGEBLOCK_ORDER;

	while (got < want && !atomic_load(&w->stop)) {
		struct page *page;

		while ((PAGE_SIZE << order) > want - got && order)
			order--;
		page = alloc_pages(pgdat, GFP_MOVABLE, order);
		if (!page) {
			if (!order) {
				atomic_fetch_add(&w->alloc_failures, 1);
				break;
			}
			order--;
			continue;
		}
		memset(page_address(pgdat, page), 0x5a + (int)wk->id,
		       PAGE_SIZE << order);
		if (blocks_push(v, n, cap, (struct block){ page, order, 0 })) {
			free_pages(pgdat, page, order);
			atomic_fetch_add(&w->alloc_failures, 1);
			break;
		}
		got += PAGE_SIZE << order;
		atomic_fetch_add(&w->held_bytes, PAGE_SIZE << order);
	}
}

static void memhog_set_phase(struct workload *w, int phase)
{
	atomic_store(&w->phase, phase);
	if (w->on_phase)
		w->on_phase(w->on_phase_ctx, phase);
}

static void memhog_thread(struct worker *wk)
{
	struct workload *w = wk->w;
	struct workload_impl *impl = w->impl;
	struct pglist_data *pgdat = gmm_guest_pgdat(w->guest);
	struct block *v = NULL;
	size_t n = 0, cap = 0;

	for (;;) {
		pthread_barrier_wait(&impl->barrier);
		if (wk->id == 0)
			memhog_set_phase(w, MEMHOG_ALLOC);
		memhog_alloc(wk, &v, &n, &cap);
		pthread_barrier_wait(&impl->barrier);
		if (wk->id == 0) {
			memhog_set_phase(w, MEMHOG_HELD);
			sleep_ms_unless_stopped(w, w->hold_ms);
		}
		pthread_barrier_wait(&impl->barrier);
		for (size_t i = 0; i < n; i++)
			free_pages(pgdat, v[i].page, v[i].order);
		n = 0;
		pthread_barrier_wait(&impl->barrier);
		if (wk->id == 0) {
			uint64_t held = atomic_exchange(&w->held_bytes, 0);

			atomic_store(&w->resident_at_free,
				     gmm_guest_host_resident_bytes(w->guest));
			atomic_store(&w->last_freed_bytes, held);
			atomic_store(&w->freed_at_ns, platform_now_ns());
			atomic_fetch_add(&w->cycle, 1);
			memhog_set_phase(w, MEMHOG_FREED);
			sleep_ms_unless_stopped(w, w->sleep_ms);
			impl->done = atomic_load(&w->stop) ||
				     (w->cycles && atomic_load(&w->cycle) >= w->cycles);
		}
		pthread_barrier_wait(&impl->barrier);
		if (impl->done)
			break;
	}
	free(v);
}

/* ---- page_fault1 ---- */

static void pagefault_thread(struct worker *wk)
{
	struct workload *w = wk->w;
	struct pglist_data *pgdat = gmm_guest_pgdat(w->guest);
	size_t want = w->pf_bytes / PAGE_SIZE;
	struct page **pages = calloc(want, sizeof(*pages));

	if (!pages) {
		atomic_fetch_add(&w->alloc_failures, 1);
		return;
	}
	while (!atomic_load(&w->stop)) {
		size_t n;

		for (n = 0; n < want; n++) {
			struct page *page = alloc_pages(pgdat, GFP_MOVABLE, 0);

			if (!page) {
				atomic_fetch_add(&w->alloc_failures, 1);
				break;
			}
			memset(page_address(pgdat, page), 0, PAGE_SIZE);
			pages[n] = page;
		}
		for (size_t i = 0; i < n; i++)
			free_pages(pgdat, pages[i], 0);
		atomic_fetch_add(&w->frames, n);
	}
	free(pages);
}

/* ---- stress ---- */

static uint64_t xorshift(uint64_t *s)
{
	*s ^= *s << 13;
	*s ^= *s >> 7;
	*s ^= *s << 17;
	return *s;
}

static uint64_t stress_word(uint64_t tag, size_t i)
{
	return (tag + i) * 0x9e3779b97f4a7c15ull;
}

static unsigned int stress_order(uint64_t r)
{
	unsigned int pick = r % 100;

	if (pick < 70)
		return (r >> 8) % 4;		/* 0..3 */
	if (pick < 90)
		return 4 + (r >> 8) % 5;	/* 4..8 */
	return PAGEBLOCK_ORDER + (r >> 8) % 2;	/* 9..10 */
}

static bool stress_verify(struct workload *w, struct block *b)
{
	struct pglist_data *pgdat = gmm_guest_pgdat(w->guest);
	const uint64_t *p = page_address(pgdat, b->page);
	size_t words = (PAGE_SIZE << b->order) / sizeof(uint64_t);

	for (size_t i = 0; i < words; i++) {
		if (p[i] != stress_word(b->tag, i)) {
			fprintf(stderr,
				"guestmm: stress: pfn %#x (block %#x order %u) "
				"word %zu: expected %#llx, found %#llx\n",
				page_to_pfn(pgdat, b->page) +
					(unsigned int)(i * 8 / PAGE_SIZE),
				page_to_pfn(pgdat, b->page), b->order, i,
				(unsigned long long)stress_word(b->tag, i),
				(unsigned long long)p[i]);
			atomic_fetch_add(&w->errors, 1);
			return false;
		}
	}
	return true;
}

#define STRESS_LIVE 64

static void stress_thread(struct worker *wk)
{
	struct workload *w = wk->w;
	struct pglist_data *pgdat = gmm_guest_pgdat(w->guest);
	struct block live[STRESS_LIVE];
	unsigned int n = 0;
	uint64_t rng = (w->seed + 1) * 0x2545f4914f6cdd1dull + wk->id;
	static const unsigned int gfps[] = { GFP_MOVABLE, 0, GFP_RECLAIMABLE };

	while (!atomic_load(&w->stop)) {
		uint64_t r = xorshift(&rng);

		if (n < STRESS_LIVE && (n == 0 || r % 8 < 5)) {
			unsigned int order = stress_order(xorshift(&rng));
			struct page *page =
				alloc_pages(pgdat, gfps[r % 3], order);
			uint64_t *p;

			if (!page) {
				atomic_fetch_add(&w->alloc_failures, 1);
				if (!n)
					continue;
			} else {
				live[n] = (struct block){ page, order, xorshift(&rng) };
				p = page_address(pgdat, page);
				for (size_t i = 0; i < (PAGE_SIZE << order) / 8; i++)
					p[i] = stress_word(live[n].tag, i);
				n++;
				continue;
			}
		}
		unsigned int k = (unsigned int)(xorshift(&rng) % n);

		stress_verify(w, &live[k]);
		if (free_pages(pgdat, live[k].page, live[k].order))
			atomic_fetch_add(&w->errors, 1);
		atomic_fetch_add(&w->blocks, 1);
		live[k] = live[--n];
	}
	while (n) {
		n--;
		stress_verify(w, &live[n]);
		if (free_pages(pgdat, live[n].page, live[n].order))
			atomic_fetch_add(&w->errors, 1);
		atomic_fetch_add(&w->blocks, 1);
	}
}

static void *worker_main(void *arg)
{
	struct worker *wk = arg;
	struct workload *w = wk->w;
	struct workload_impl *impl = w->impl;

	platform_set_cpu_id(wk->id % gmm_guest_config(w->guest)->cpus);
	if (!workload_gate_wait(impl)) {
		atomic_fetch_sub(&impl->running, 1);
		return NULL;
	}
	switch (w->kind) {
	case WORKLOAD_MEMHOG:
		memhog_thread(wk);
		break;
	case WORKLOAD_PAGEFAULT:
		pagefault_thread(wk);
		break;
	case WORKLOAD_STRESS:
		stress_thread(wk);
		break;
	case WORKLOAD_WORKING_SET:
		working_set_thread(w, wk->id);
		break;
	}
	atomic_fetch_sub(&impl->running, 1);
	return NULL;
}

int workload_start(struct workload *w)
{
	struct workload_impl *impl;

	if (w->threads < 1 || w->threads > WORKLOAD_MAX_THREADS)
		return -EINVAL;
	if (w->kind == WORKLOAD_WORKING_SET && !w->ws) {
		int err = working_set_setup(w);

		if (err)
			return err;
	}
	impl = calloc(1, sizeof(*impl));
	if (!impl)
		return -ENOMEM;
	impl->workers = calloc(w->threads, sizeof(*impl->workers));
	if (!impl->workers) {
		free(impl);
		return -ENOMEM;
	}
	pthread_barrier_init(&impl->barrier, NULL, w->threads);
	pthread_mutex_init(&impl->gate_lock, NULL);
	pthread_cond_init(&impl->gate_cond, NULL);
	impl->gate = GATE_WAIT;
	atomic_init(&impl->running, w->threads);
	w->impl = impl;
	for (unsigned int i = 0; i < w->threads; i++) {
		struct worker *wk = &impl->workers[i];

		wk->w = w;
		wk->id = i;
		if (pthread_create(&wk->thread, NULL, worker_main, wk)) {
			/* The ones started leave at the gate; none waits at the barrier. */
			atomic_fetch_sub(&impl->running, w->threads - i);
			workload_gate_open(impl, GATE_ABORT);
			workload_join(w);
			return -EAGAIN;
		}
		impl->started++;
	}
	workload_gate_open(impl, GATE_GO);
	return 0;
}

bool workload_running(struct workload *w)
{
	struct workload_impl *impl = w->impl;

	return impl && atomic_load(&impl->running) > 0;
}

void workload_fini(struct workload *w)
{
	if (w->ws)
		working_set_teardown(w);
}

void workload_join(struct workload *w)
{
	struct workload_impl *impl = w->impl;

	if (!impl)
		return;
	for (unsigned int i = 0; i < impl->started; i++)
		pthread_join(impl->workers[i].thread, NULL);
	pthread_barrier_destroy(&impl->barrier);
	pthread_mutex_destroy(&impl->gate_lock);
	pthread_cond_destroy(&impl->gate_cond);
	free(impl->workers);
	free(impl);
	w->impl = NULL;
}
