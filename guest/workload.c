/*
 * workload.c - memhog, page_fault1 and stress: the bodies of a guest's
 * vCPU threads against the core's allocator.  Freestanding: the same code
 * runs in POSIX threads (workload_threads.c) and in the guest kernel's
 * threads (kernel/run.c); what it needs of them is w->sys.
 */
#include "guest/workload.h"

#include "mm/gfp.h"
#include "platform/platform.h"

struct block {
	struct page *page;
	unsigned int order;
	uint64_t tag; /* stress: the pattern's seed */
};

void workload_init_node(struct workload *w, enum workload_kind kind,
			struct pglist_data *pgdat, uint64_t mem_bytes,
			unsigned int cpus, unsigned int report_delay_ms,
			const struct workload_sys *sys, void *sys_ctx)
{
	*w = (struct workload){
		.kind = kind,
		.pgdat = pgdat,
		.cpus = cpus,
		.sys = sys,
		.sys_ctx = sys_ctx,
		.threads = cpus,
		.bytes = mem_bytes / 4 * 3,
		.cycles = 3,
		.hold_ms = 500,
		.sleep_ms = report_delay_ms + 2000,
		.pf_bytes = 128ull << 20,
		.seed = 1,
	};
}

static void sleep_ms_unless_stopped(struct workload *w, unsigned int ms)
{
	for (unsigned int t = 0; t < ms && !atomic_load(&w->stop); t += 10)
		w->sys->sleep_ms(w, 10);
}

/* A growable list of blocks in memory from w->sys. */
struct block_list {
	struct block *v;
	size_t n, cap;
};

static int blocks_push(struct workload *w, struct block_list *l, struct block b)
{
	if (l->n == l->cap) {
		size_t ncap = l->cap ? l->cap * 2 : 1024;
		struct block *nv = w->sys->mem_alloc(w, ncap * sizeof(*nv));

		if (!nv)
			return -GMM_ENOMEM;
		for (size_t i = 0; i < l->n; i++)
			nv[i] = l->v[i];
		if (l->v)
			w->sys->mem_free(w, l->v, l->cap * sizeof(*l->v));
		l->v = nv;
		l->cap = ncap;
	}
	l->v[l->n++] = b;
	return 0;
}

/* ---- memhog ---- */

static void memhog_alloc(struct workload *w, unsigned int id,
			 struct block_list *l)
{
	uint64_t want = w->bytes / w->threads, got = 0;
	unsigned int order = PAGEBLOCK_ORDER;

	while (got < want && !atomic_load(&w->stop)) {
		struct page *page;

		while ((PAGE_SIZE << order) > want - got && order)
			order--;
		page = alloc_pages(w->pgdat, GFP_MOVABLE, order);
		if (!page) {
			if (!order) {
				atomic_fetch_add(&w->alloc_failures, 1);
				break;
			}
			order--;
			continue;
		}
		__builtin_memset(page_address(w->pgdat, page), 0x5a + (int)id,
				 PAGE_SIZE << order);
		if (blocks_push(w, l, (struct block){ page, order, 0 })) {
			free_pages(w->pgdat, page, order);
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

static void memhog_thread(struct workload *w, unsigned int id)
{
	struct block_list l = { 0 };

	for (;;) {
		w->sys->barrier_wait(w);
		if (id == 0)
			memhog_set_phase(w, MEMHOG_ALLOC);
		memhog_alloc(w, id, &l);
		w->sys->barrier_wait(w);
		if (id == 0) {
			memhog_set_phase(w, MEMHOG_HELD);
			sleep_ms_unless_stopped(w, w->hold_ms);
		}
		w->sys->barrier_wait(w);
		for (size_t i = 0; i < l.n; i++)
			free_pages(w->pgdat, l.v[i].page, l.v[i].order);
		l.n = 0;
		w->sys->barrier_wait(w);
		if (id == 0) {
			uint64_t held = atomic_exchange(&w->held_bytes, 0);

			atomic_store(&w->resident_at_free, w->sys->host_resident(w));
			atomic_store(&w->last_freed_bytes, held);
			atomic_store(&w->freed_at_ns, platform_now_ns());
			atomic_fetch_add(&w->cycle, 1);
			memhog_set_phase(w, MEMHOG_FREED);
			sleep_ms_unless_stopped(w, w->sleep_ms);
			w->memhog_done = atomic_load(&w->stop) ||
					 (w->cycles && atomic_load(&w->cycle) >= w->cycles);
		}
		w->sys->barrier_wait(w);
		if (w->memhog_done)
			break;
	}
	if (l.v)
		w->sys->mem_free(w, l.v, l.cap * sizeof(*l.v));
}

/* ---- page_fault1 ---- */

static void pagefault_thread(struct workload *w)
{
	size_t want = w->pf_bytes / PAGE_SIZE;
	struct page **pages = w->sys->mem_alloc(w, want * sizeof(*pages));

	if (!pages) {
		atomic_fetch_add(&w->alloc_failures, 1);
		return;
	}
	while (!atomic_load(&w->stop)) {
		size_t n;

		for (n = 0; n < want; n++) {
			struct page *page = alloc_pages(w->pgdat, GFP_MOVABLE, 0);

			if (!page) {
				atomic_fetch_add(&w->alloc_failures, 1);
				break;
			}
			__builtin_memset(page_address(w->pgdat, page), 0, PAGE_SIZE);
			pages[n] = page;
		}
		for (size_t i = 0; i < n; i++)
			free_pages(w->pgdat, pages[i], 0);
		atomic_fetch_add(&w->frames, n);
	}
	w->sys->mem_free(w, pages, want * sizeof(*pages));
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
	const uint64_t *p = page_address(w->pgdat, b->page);
	size_t words = (PAGE_SIZE << b->order) / sizeof(uint64_t);

	for (size_t i = 0; i < words; i++) {
		if (p[i] != stress_word(b->tag, i)) {
			platform_log("stress: pfn %#x (block %#x order %u) "
				     "word %zu: expected %#llx, found %#llx",
				     page_to_pfn(w->pgdat, b->page) +
					     (unsigned int)(i * 8 / PAGE_SIZE),
				     page_to_pfn(w->pgdat, b->page), b->order, i,
				     (unsigned long long)stress_word(b->tag, i),
				     (unsigned long long)p[i]);
			atomic_fetch_add(&w->errors, 1);
			return false;
		}
	}
	return true;
}

#define STRESS_LIVE 64

static void stress_thread(struct workload *w, unsigned int id)
{
	struct block live[STRESS_LIVE];
	unsigned int n = 0;
	uint64_t rng = (w->seed + 1) * 0x2545f4914f6cdd1dull + id;
	static const unsigned int gfps[] = { GFP_MOVABLE, 0, GFP_RECLAIMABLE };

	while (!atomic_load(&w->stop)) {
		uint64_t r = xorshift(&rng);

		if (n < STRESS_LIVE && (n == 0 || r % 8 < 5)) {
			unsigned int order = stress_order(xorshift(&rng));
			struct page *page =
				alloc_pages(w->pgdat, gfps[r % 3], order);
			uint64_t *p;

			if (!page) {
				atomic_fetch_add(&w->alloc_failures, 1);
				if (!n)
					continue;
			} else {
				live[n] = (struct block){ page, order, xorshift(&rng) };
				p = page_address(w->pgdat, page);
				for (size_t i = 0; i < (PAGE_SIZE << order) / 8; i++)
					p[i] = stress_word(live[n].tag, i);
				n++;
				continue;
			}
		}
		unsigned int k = (unsigned int)(xorshift(&rng) % n);

		stress_verify(w, &live[k]);
		if (free_pages(w->pgdat, live[k].page, live[k].order))
			atomic_fetch_add(&w->errors, 1);
		atomic_fetch_add(&w->blocks, 1);
		live[k] = live[--n];
	}
	while (n) {
		n--;
		stress_verify(w, &live[n]);
		if (free_pages(w->pgdat, live[n].page, live[n].order))
			atomic_fetch_add(&w->errors, 1);
		atomic_fetch_add(&w->blocks, 1);
	}
}

void workload_thread(struct workload *w, unsigned int id)
{
	platform_set_cpu_id(id % w->cpus);
	switch (w->kind) {
	case WORKLOAD_MEMHOG:
		memhog_thread(w, id);
		break;
	case WORKLOAD_PAGEFAULT:
		pagefault_thread(w);
		break;
	case WORKLOAD_STRESS:
		stress_thread(w, id);
		break;
	case WORKLOAD_WORKING_SET:
		break; /* working_set_thread(): the POSIX threads call it */
	}
}
