/*
 * test_torture.c - every feature at once on one node, its invariants
 * checked all the time (issue 16, item 11).
 *
 * One guest in this process - the library embodiment: guest RAM is a memfd
 * and the reporting device really punches holes in it - and on it at once:
 *   - allocation workers: blocks of every order and every allocation flag,
 *     each filled with a pattern derived from its owner and frame number
 *     and checked before it is freed; an owner byte for every frame, taken
 *     with a compare-and-swap, so a frame handed out twice is caught;
 *     now and then a burst that allocates until the allocator says no;
 *   - anonymous memory: checksummed pages in spaces that are unmapped,
 *     remapped, destroyed and created again, under two reclaimers and an
 *     unuser (tests/anon_stress.h), zswap over zbud at a pool limit of
 *     1 % of RAM so that writeback to the swap file runs all the time;
 *   - a compactor (whole-node and order-targeted compaction, order-9 and
 *     order-10 allocations that compact), contiguous ranges
 *     (alloc_contig_range() in a declared CMA region and anywhere,
 *     alloc_contig_pages()), memory blocks taken offline and back online;
 *   - the strategies - report, percpu, bitmap with the in-process host that
 *     claims and acks, off - switched at random, directly or through off.
 *
 * Invariants, continuously: every discard is checked where it happens
 * (fallocate() is wrapped): no frame in a punched range is owned by a
 * worker, a contiguous range or an offline block, none holds anonymous or
 * pool data or sits on a per-CPU list, and the range is what the strategy
 * in effect may discard (one block isolated for reporting, chunks the
 * bitmap's host claimed, the block going offline).  At checkpoints - every
 * thread of the torture paused at a barrier, the strategy's passes held off
 * by their pass locks - every frame is in exactly one state (boot metadata,
 * offline, free, on a per-CPU list, a worker's block, anonymous, zbud,
 * page table, hinting arrays, anonymous memory's own tables), the states
 * add up to the spanned pages and, less boot metadata and offline blocks,
 * to the zones' managed pages; every PTE and every swap slot agree with the
 * frames; every Reported free block is a hole in the memfd (SEEK_DATA);
 * buddy_check(), the strategy's validator and zbud_check() pass; every
 * worker's blocks still hold their patterns.
 *
 * kswapd is left off: it cannot be paused for a checkpoint.  What it does,
 * shrink_node(), the reclaimers do, and faults reclaim directly.
 *
 * A watchdog: when no thread made progress for GUESTMM_TORTURE_WATCHDOG_S
 * seconds (120), or one thread did not while the others ran, it prints what
 * each thread was doing, every thread's stack (gdb -batch, else a signal
 * and backtrace() in each thread), and fails the run.  `test_torture
 * watchdog` proves it on a deliberate hang.
 *
 * The seed is printed at the start and with every failure: GUESTMM_SEED=N
 * replays a run's choices (each thread's sequence; not the interleaving).
 * It also picks the reporting order, the zbud policy and the compressor.
 * Bounded by operations, not time: GUESTMM_TORTURE_OPS per worker thread
 * (TORTURE_OPS by default; CI runs more under ASan and TSan, .ci/run).  The
 * anonymous workers stop at their budget and leave their memory to reclaim
 * (that is when zbud fills and zswap writes back); the others, when their
 * budget is spent before every feature has been exercised, go on, up to
 * four times the budget, and the run fails if one never was.
 */
#include "anon_stress.h"

#include <dirent.h>
#include <errno.h>
#include <execinfo.h>
#include <fcntl.h>
#include <pthread.h>
#include <signal.h>
#include <sys/prctl.h>
#include <sys/syscall.h>
#include <sys/wait.h>
#include <unistd.h>

#include "guestmm/guest.h"

#define MIB (1ull << 20)
#define NODE_BYTES (512 * MIB)
#define NODE_CPUS 4
#define NR_ALLOC 3
#define NR_ANON 3
#define ANON_PAGES 3072		/* 12 MiB a worker: zbud outgrows its 1 % */
#define ANON_BASE (1ull << 30)
#define SWAP_BYTES (64 * MIB)
#define MAX_HELD 48
#define HELD_CAP_PAGES 4096	/* a worker holds at most 16 MiB */
#define BURST_MIN_ORDER 4	/* a burst's blocks: 64 KiB to 4 MiB */
#define BURST_MAX_BLOCKS (NODE_BYTES / (PAGE_SIZE << BURST_MIN_ORDER))
#define MAX_OFFLINE 2
#define CMA_START ((uint32_t)(64 * MIB / PAGE_SIZE))
#define CMA_END ((uint32_t)(96 * MIB / PAGE_SIZE))
#define TORTURE_OPS 6000	/* per worker thread, make test */
#define NR_CHECKPOINTS 10
#define WATCHDOG_S 120
#define MAX_THREADS 24

/* Owner bytes: 0 free or anybody else's; 1..NR_ALLOC + 1 a worker's. */
#define OWNER_COMPACT (NR_ALLOC + 1)
#define OWNER_CONTIG 0x40
#define OWNER_OFFLINE 0x41

/* Counters of what happened, for coverage and the summary. */
enum tcount {
	C_ALLOC, C_ALLOC_FAIL, C_FREE, C_BURST, C_BURST_PAGES,
	C_ANON_WRITE, C_ANON_VERIFY, C_ANON_NOMEM, C_REMAP, C_REBIRTH,
	C_COMPACT, C_HIGH_OK, C_CONTIG_OK, C_CONTIG_BUSY, C_CONTIG_PAGES_OK,
	C_OFFLINE_OK, C_OFFLINE_BUSY, C_ONLINE,
	C_SWITCH_DIRECT, C_SWITCH_OFF_ON, C_REG_FAIL, C_REPORT_NOW,
	C_REG_REPORT, C_REG_PERCPU, C_REG_BITMAP,
	C_DISCARD_REPORT, C_DISCARD_PERCPU, C_DISCARD_BITMAP, C_DISCARD_OFFLINE,
	C_CHECKPOINT, C_HOLES,
	NR_TCOUNTS
};

static const char *const tcount_names[NR_TCOUNTS] = {
	[C_ALLOC] = "allocations", [C_ALLOC_FAIL] = "allocation failures",
	[C_FREE] = "frees", [C_BURST] = "bursts", [C_BURST_PAGES] = "burst pages",
	[C_ANON_WRITE] = "anon writes", [C_ANON_VERIFY] = "anon verifies",
	[C_ANON_NOMEM] = "anon faults refused (ENOMEM)", [C_REMAP] = "remaps",
	[C_REBIRTH] = "spaces reborn", [C_COMPACT] = "compactions",
	[C_HIGH_OK] = "order 9-10 allocations", [C_CONTIG_OK] = "contig ranges",
	[C_CONTIG_BUSY] = "contig busy", [C_CONTIG_PAGES_OK] = "alloc_contig_pages",
	[C_OFFLINE_OK] = "offlines", [C_OFFLINE_BUSY] = "offlines busy",
	[C_ONLINE] = "onlines", [C_SWITCH_DIRECT] = "direct switches",
	[C_SWITCH_OFF_ON] = "switches through off",
	[C_REG_FAIL] = "registrations refused", [C_REPORT_NOW] = "passes now",
	[C_REG_REPORT] = "report registrations",
	[C_REG_PERCPU] = "percpu registrations",
	[C_REG_BITMAP] = "bitmap registrations",
	[C_DISCARD_REPORT] = "report discards",
	[C_DISCARD_PERCPU] = "percpu discards",
	[C_DISCARD_BITMAP] = "bitmap discards",
	[C_DISCARD_OFFLINE] = "offline discards", [C_CHECKPOINT] = "checkpoints",
	[C_HOLES] = "Reported blocks seen as holes",
};

/*
 * One thread of the torture.  @progress counts the steps it made (the
 * watchdog's evidence); @idle says it is waiting on purpose - paused for a
 * checkpoint, pacing itself, done - so its silence is no stall.  @doing and
 * @arg say what it is in (a string literal and a number), for the dump.
 */
struct tthread {
	struct stress_bg bg; /* anon_stress.h's threads get this back */
	const char *name;
	char namebuf[24];
	pthread_t thread;
	atomic_int tid;
	atomic_uint_fast64_t progress;
	atomic_bool idle;
	_Atomic(const char *) doing;
	atomic_uint_fast64_t arg;
	void *(*fn)(void *);
	uint64_t rng;
	unsigned int cpu;
	unsigned int pace; /* operations of the workers between two rounds */
	bool op_thread;	   /* a worker: counts operations against the budget */
	bool budget_only;  /* stops at its budget, coverage met or not */
	uint64_t budget;
};

struct held_block {
	uint32_t pfn;
	uint8_t order;
	bool light; /* a burst's: see block_fill() */
	uint32_t gen;
};

struct alloc_worker {
	struct tthread t;
	uint8_t id;
	uint32_t gen;
	unsigned int nr_held;
	uint64_t held_pages;
	struct held_block held[MAX_HELD];
	struct held_block *burst; /* BURST_MAX_BLOCKS entries */
};

struct anon_worker {
	struct tthread t;
	struct mm_space *mm;
	uint64_t sums[ANON_PAGES];
};

static struct torture {
	uint64_t seed;
	uint64_t ops;
	unsigned int watchdog_s;
	unsigned int report_order;
	enum zpool_movable policy;
	const char *compressor;

	struct gmm_guest *g;
	struct pglist_data *pgdat;
	atomic_int memfd; /* the guest's, once made: the wrap looks for it */
	uint32_t nr_pages;
	_Atomic uint8_t *owner;
	struct swap_io *swap;
	uint64_t zero_sum;
	/* The strategies whose discards may happen now (bits 1 << hinting). */
	atomic_uint discard_kinds;
	enum gmm_hinting strategy; /* the switcher's, while reporting is on */
	bool reporting;

	/* Pausing for checkpoints: @lock protects @parked and @running. */
	pthread_mutex_t lock;
	pthread_cond_t cond;
	atomic_bool pause_req;
	unsigned int parked, running;
	atomic_int workers_left; /* anon_stress.h's threads stop at 0 */
	atomic_uint_fast64_t op_count;
	atomic_bool coverage_met;

	struct tthread *threads[MAX_THREADS];
	atomic_uint nr_threads;
	atomic_bool watchdog_stop;
	pthread_t watchdog;

	/* Anonymous memory's own tables, allocated by anon_init(). */
	struct held_block meta[64];
	unsigned int nr_meta;

	atomic_uint_fast64_t count[NR_TCOUNTS];
	atomic_uint_fast64_t orders[MAX_ORDER]; /* the workers' allocations */
	struct alloc_worker alloc[NR_ALLOC];
	struct anon_worker anon[NR_ANON];
	struct tthread bgt[7];
	struct tthread checker;
} T = { .memfd = -1 };

static _Thread_local int tls_offlining = -1; /* the block being offlined */

static void tcount(enum tcount c, uint64_t n)
{
	atomic_fetch_add_explicit(&T.count[c], n, memory_order_relaxed);
}

static uint64_t tcount_get(enum tcount c)
{
	return atomic_load_explicit(&T.count[c], memory_order_relaxed);
}

/* ---- failing ---- */

static void torture_fail(const char *fmt, ...) __attribute__((format(printf, 1, 2), noreturn));
static void torture_fail(const char *fmt, ...)
{
	char msg[512];
	va_list ap;

	va_start(ap, fmt);
	vsnprintf(msg, sizeof(msg), fmt, ap);
	va_end(ap);
	fprintf(stderr, "torture: FAILED: %s (GUESTMM_SEED=%#llx, after %llu operations)\n",
		msg, (unsigned long long)T.seed,
		(unsigned long long)atomic_load(&T.op_count));
	fflush(stderr);
	abort();
}

#define TCHECK(cond, ...)                                                      \
	do {                                                                   \
		if (!(cond))                                                   \
			torture_fail(__VA_ARGS__);                             \
	} while (0)

/* ---- threads, progress, pausing ---- */

static void tdoing(struct tthread *t, const char *what, uint64_t arg)
{
	atomic_store_explicit(&t->arg, arg, memory_order_relaxed);
	atomic_store_explicit(&t->doing, what, memory_order_release);
	atomic_fetch_add_explicit(&t->progress, 1, memory_order_relaxed);
}

/* Park here while a checkpoint is asked for.  Hold nothing when calling. */
static void tpause_point(struct tthread *t)
{
	if (!atomic_load_explicit(&T.pause_req, memory_order_acquire))
		return;
	atomic_store(&t->idle, true);
	pthread_mutex_lock(&T.lock);
	T.parked++;
	pthread_cond_broadcast(&T.cond);
	while (atomic_load(&T.pause_req))
		pthread_cond_wait(&T.cond, &T.lock);
	T.parked--;
	pthread_mutex_unlock(&T.lock);
	atomic_store(&t->idle, false);
}

static bool workers_running(void)
{
	return atomic_load(&T.workers_left) > 0;
}

/*
 * A background thread's rhythm: wait, pausing when asked, until the
 * workers have done @t->pace more operations (or are done), so that its
 * share of the two cores follows theirs.
 */
static void tpace(struct tthread *t)
{
	uint64_t until = atomic_load(&T.op_count) + t->pace;

	atomic_store(&t->idle, true);
	while (workers_running() && atomic_load(&T.op_count) < until) {
		struct timespec ts = { 0, 1000 * 1000 };

		tpause_point(t);
		atomic_store(&t->idle, true);
		nanosleep(&ts, NULL);
	}
	atomic_store(&t->idle, false);
	tpause_point(t);
}

static void *tthread_start(void *arg)
{
	struct tthread *t = arg;

	atomic_store(&t->tid, (int)syscall(SYS_gettid));
	platform_set_cpu_id(t->cpu);
	t->fn(t);
	pthread_mutex_lock(&T.lock);
	T.running--;
	pthread_cond_broadcast(&T.cond);
	pthread_mutex_unlock(&T.lock);
	tdoing(t, "done", 0);
	atomic_store(&t->idle, true);
	return NULL;
}

static void tregister(struct tthread *t, const char *name, unsigned int cpu)
{
	unsigned int n = atomic_load(&T.nr_threads);

	assert_true(n < MAX_THREADS);
	t->name = name;
	t->cpu = cpu % NODE_CPUS;
	t->rng = (T.seed ^ ((uint64_t)(n + 1) * 0xbf58476d1ce4e5b9ull)) | 1;
	atomic_store(&t->doing, "not started");
	T.threads[n] = t;
	atomic_store(&T.nr_threads, n + 1);
}

static void tstart(struct tthread *t)
{
	pthread_mutex_lock(&T.lock);
	T.running++;
	pthread_mutex_unlock(&T.lock);
	assert_int_equal(pthread_create(&t->thread, NULL, tthread_start, t), 0);
}

/* Every started thread parked at a pause point (or done). */
static void tpause_all(void)
{
	pthread_mutex_lock(&T.lock);
	atomic_store(&T.pause_req, true);
	while (T.parked < T.running)
		pthread_cond_wait(&T.cond, &T.lock);
	pthread_mutex_unlock(&T.lock);
}

static void tresume_all(void)
{
	pthread_mutex_lock(&T.lock);
	atomic_store(&T.pause_req, false);
	pthread_cond_broadcast(&T.cond);
	pthread_mutex_unlock(&T.lock);
}

/* A worker's next operation, or false when its budget is spent. */
static bool top(struct tthread *t, uint64_t *done)
{
	tpause_point(t);
	if (*done >= t->budget &&
	    (t->budget_only || atomic_load(&T.coverage_met) || *done >= 4 * t->budget))
		return false;
	(*done)++;
	atomic_fetch_add(&T.op_count, 1);
	return true;
}

/* ---- patterns and owners ---- */

/*
 * Word @k of page @pfn of a block owned by @owner in its generation @gen:
 * the owner in the top byte, the frame number, the generation and the
 * word's index, so that a wrong word tells whose it is.
 */
static inline uint64_t pattern_word(uint8_t owner, uint32_t pfn, uint32_t gen,
				    unsigned int k)
{
	return ((uint64_t)owner << 56) | ((uint64_t)pfn << 24) |
	       ((uint64_t)(gen & 0x7fff) << 9) | k;
}

/*
 * Every word of every frame; or, @light (a burst's hundreds of MiB), the
 * first and last word of each frame, which is enough to see a frame
 * discarded (it reads back zero) or handed to somebody else.
 */
static void block_fill(uint8_t owner, uint32_t pfn, unsigned int order,
		       uint32_t gen, bool light)
{
	unsigned int step = light ? PAGE_SIZE / 8 - 1 : 1;

	for (uint32_t p = pfn; p < pfn + (1u << order); p++) {
		uint64_t *w = page_address(T.pgdat, pfn_to_page(T.pgdat, p));

		for (unsigned int k = 0; k < PAGE_SIZE / 8; k += step)
			w[k] = pattern_word(owner, p, gen, k);
	}
}

static void block_verify(uint8_t owner, uint32_t pfn, unsigned int order,
			 uint32_t gen, bool light, const char *when)
{
	unsigned int step = light ? PAGE_SIZE / 8 - 1 : 1;

	for (uint32_t p = pfn; p < pfn + (1u << order); p++) {
		const uint64_t *w = page_address(T.pgdat, pfn_to_page(T.pgdat, p));

		for (unsigned int k = 0; k < PAGE_SIZE / 8; k += step) {
			uint64_t want = pattern_word(owner, p, gen, k);

			if (w[k] == want)
				continue;
			torture_fail("%s: owner %#x's block pfn %#x order %u: pfn %#x word %u "
				     "is %#llx, not %#llx (%s)", when, owner, pfn, order, p, k,
				     (unsigned long long)w[k], (unsigned long long)want,
				     w[k] == 0 ? "zero: discarded or zeroed under its owner"
				     : (uint8_t)(w[k] >> 56) != owner
					     ? "another owner's pattern: handed out twice"
					     : "its own pattern from elsewhere or an older generation");
		}
	}
}

/* Take every frame of the block for @owner: each must have been nobody's. */
static void owner_claim(uint8_t owner, uint32_t pfn, uint32_t nr, const char *what)
{
	for (uint32_t p = pfn; p < pfn + nr; p++) {
		uint8_t old = 0;

		if (!atomic_compare_exchange_strong(&T.owner[p], &old, owner))
			torture_fail("%s: pfn %#x handed to owner %#x while owner %#x has it",
				     what, p, owner, old);
	}
}

static void owner_release(uint8_t owner, uint32_t pfn, uint32_t nr, const char *what)
{
	for (uint32_t p = pfn; p < pfn + nr; p++) {
		uint8_t old = owner;

		if (!atomic_compare_exchange_strong(&T.owner[p], &old, 0))
			torture_fail("%s: pfn %#x given back by owner %#x but owned by %#x",
				     what, p, owner, old);
	}
}

/* ---- every discard, where it happens ---- */

static const char *discard_kind_name(unsigned int kinds)
{
	static const char *const names[] = { "none", "report", "percpu",
					     "report+percpu", "bitmap",
					     "report+bitmap", "percpu+bitmap",
					     "all" };

	return names[kinds & 7];
}

/*
 * The range [@off, @off + @len) of guest RAM is being punched out of the
 * memfd, by a reporting pass, a hinting worker, the bitmap's host or an
 * offline.  Everything in it must be memory nobody uses, and the range
 * must be what the strategy in effect may discard.
 */
static void discard_check(uint64_t off, uint64_t len)
{
	struct pglist_data *pgdat = T.pgdat;
	uint32_t start = (uint32_t)(off >> PAGE_SHIFT);
	uint32_t nr = (uint32_t)(len >> PAGE_SHIFT);
	unsigned int kinds = atomic_load(&T.discard_kinds);
	const struct page *head;
	uint16_t hflags;

	TCHECK(!(off % PAGE_SIZE) && !(len % PAGE_SIZE) && len &&
	       (uint64_t)start + nr <= T.nr_pages,
	       "discard [%#llx, +%#llx) is not whole frames of the node",
	       (unsigned long long)off, (unsigned long long)len);
	head = pfn_to_page(pgdat, start);
	hflags = page_flags_read(head);
	for (uint32_t p = start; p < start + nr; p++) {
		uint16_t f = page_flags_read(pfn_to_page(pgdat, p));
		uint8_t o = atomic_load_explicit(&T.owner[p], memory_order_relaxed);

		TCHECK(!o, "discard [%#x, +%u frames) (%s): pfn %#x is owner %#x's",
		       start, nr, discard_kind_name(kinds), p, o);
		TCHECK(!(f & (PG_anon | PG_zbud | PG_lru | PG_swapcache | PG_movable |
			      PG_locked)),
		       "discard [%#x, +%u frames) (%s): pfn %#x has flags %#x: live data",
		       start, nr, discard_kind_name(kinds), p, f);
	}
	if (tls_offlining >= 0) {
		/* page_reporting_discard_range() from offline_memory_block(). */
		uint32_t b = (uint32_t)tls_offlining * MEMORY_BLOCK_PAGES;

		TCHECK(start >= b && start + nr <= b + MEMORY_BLOCK_PAGES &&
		       !(start % MAX_ORDER_NR_PAGES) && !(nr % MAX_ORDER_NR_PAGES),
		       "offline of block %d discards [%#x, +%u frames), outside it",
		       tls_offlining, start, nr);
		for (uint32_t p = start; p < start + nr; p += MAX_ORDER_NR_PAGES) {
			const struct page *pg = pfn_to_page(pgdat, p);

			TCHECK(page_flags_read(pg) == PG_reserved && pg->order == MAX_ORDER - 1,
			       "offline of block %d discards pfn %#x with flags %#x order %u",
			       tls_offlining, p, page_flags_read(pg), pg->order);
		}
		tcount(C_DISCARD_OFFLINE, 1);
		return;
	}
	if (hflags == PG_isolated &&
	    (kinds & (1u << GMM_HINTING_REPORT | 1u << GMM_HINTING_PERCPU))) {
		/* A reporting pass or a hinting worker: one isolated block. */
		TCHECK((1u << head->order) == nr && !(start & (nr - 1)) &&
		       head->order >= T.report_order,
		       "discard [%#x, +%u frames) of an isolated block of order %u",
		       start, nr, head->order);
		for (uint32_t p = start + 1; p < start + nr; p++)
			TCHECK(!page_flags_read(pfn_to_page(pgdat, p)),
			       "discard of isolated block %#x: pfn %#x inside it has flags %#x",
			       start, p, page_flags_read(pfn_to_page(pgdat, p)));
		tcount(kinds & (1u << GMM_HINTING_REPORT) ? C_DISCARD_REPORT
							   : C_DISCARD_PERCPU, 1);
		return;
	}
	if (kinds & (1u << GMM_HINTING_BITMAP)) {
		/*
		 * The host's runs: every chunk claimed, F clear and I set.  The
		 * chunks stay on the free lists: frames of them may have gone
		 * to a per-CPU list or to an allocation since, which waits for
		 * the ack before it returns (free_bitmap_alloc_wait()).
		 */
		struct free_bitmap *fb = atomic_load_explicit(&pgdat->free_bitmap,
							      memory_order_acquire);

		TCHECK(fb, "bitmap discard [%#x, +%u frames) with no bitmap registered",
		       start, nr);
		TCHECK(!(start & ((1u << fb->order) - 1)) && !(nr & ((1u << fb->order) - 1)),
		       "bitmap discard [%#x, +%u frames) is not whole chunks of order %u",
		       start, nr, fb->order);
		for (uint32_t c = start >> fb->order; c < (start + nr) >> fb->order; c++) {
			uint64_t bit = 1ull << (c % 64);
			uint64_t fw = atomic_load(&fb->bits[c / 64]);
			uint64_t iw = atomic_load(&fb->bits[fb->nr_words + c / 64]);

			TCHECK((iw & bit) && !(fw & bit),
			       "bitmap discard of chunk %u (pfn %#x): I %d F %d, not claimed",
			       c, c << fb->order, !!(iw & bit), !!(fw & bit));
		}
		tcount(C_DISCARD_BITMAP, 1);
		return;
	}
	torture_fail("discard [%#x, +%u frames) (head flags %#x) that the strategies "
		     "in effect (%s) may not make", start, nr, hflags,
		     discard_kind_name(kinds));
}

int __real_fallocate(int fd, int mode, off_t off, off_t len);
int __wrap_fallocate(int fd, int mode, off_t off, off_t len);
int __wrap_fallocate(int fd, int mode, off_t off, off_t len)
{
	if (fd >= 0 && fd == atomic_load(&T.memfd) && (mode & FALLOC_FL_PUNCH_HOLE))
		discard_check((uint64_t)off, (uint64_t)len);
	return __real_fallocate(fd, mode, off, len);
}

/* ---- allocation workers ---- */

static unsigned int pick_order(uint64_t r)
{
	/* Every order, small ones more often (they cost less to fill). */
	return r % 3 == 0 ? (unsigned int)(r / 3 % MAX_ORDER)
			  : (unsigned int)(r / 3 % 4);
}

static unsigned int pick_gfp(uint64_t r)
{
	static const unsigned int types[] = { 0, 0, 0, GFP_RECLAIMABLE,
					      GFP_RECLAIMABLE, 0, 0, GFP_MOVABLE };
	unsigned int gfp = types[r % 8];

	if (r / 8 % 4 == 0)
		gfp |= GFP_ZERO;
	if (r / 32 % 16 == 0)
		gfp |= GFP_LOW;
	return gfp;
}

/* Allocate, check what the allocator says, claim, fill.  Return: taken. */
static bool block_take(struct tthread *t, uint8_t owner, unsigned int order,
		       unsigned int gfp, uint32_t gen, bool light, struct held_block *b)
{
	struct pglist_data *pgdat = T.pgdat;
	struct zone *low = &pgdat->node_zones[ZONE_LOW];
	struct page *page;
	uint32_t pfn;

	tdoing(t, "alloc_pages", ((uint64_t)gfp << 8) | order);
	page = alloc_pages(pgdat, gfp, order);
	if (!page) {
		tcount(C_ALLOC_FAIL, 1);
		return false;
	}
	pfn = page_to_pfn(pgdat, page);
	TCHECK(!(pfn & ((1u << order) - 1)) && pfn >= pgdat->reserved_pages &&
	       (uint64_t)pfn + (1u << order) <= T.nr_pages,
	       "alloc_pages(order %u) gave pfn %#x", order, pfn);
	TCHECK(page_flags_read(page) == PG_head && page->order == order,
	       "alloc_pages(order %u) gave pfn %#x with flags %#x order %u", order,
	       pfn, page_flags_read(page), page->order);
	TCHECK(!(gfp & GFP_LOW) ||
	       pfn + (1u << order) <= low->zone_start_pfn + low->spanned_pages,
	       "GFP_LOW allocation of order %u at pfn %#x, above the low zone",
	       order, pfn);
	owner_claim(owner, pfn, 1u << order, "alloc_pages");
	if ((gfp & GFP_ZERO) && !light) {
		const uint64_t *w = page_address(pgdat, page);

		for (uint64_t k = 0; k < (PAGE_SIZE << order) / 8; k++)
			TCHECK(!w[k], "GFP_ZERO block pfn %#x order %u: word %llu is %#llx",
			       pfn, order, (unsigned long long)k,
			       (unsigned long long)w[k]);
	}
	block_fill(owner, pfn, order, gen, light);
	*b = (struct held_block){ pfn, (uint8_t)order, light, gen };
	tcount(C_ALLOC, 1);
	return true;
}

static void block_give(struct tthread *t, uint8_t owner, const struct held_block *b)
{
	tdoing(t, "verify and free_pages", ((uint64_t)b->pfn << 8) | b->order);
	block_verify(owner, b->pfn, b->order, b->gen, b->light, "before free_pages");
	owner_release(owner, b->pfn, 1u << b->order, "free_pages");
	TCHECK(free_pages(T.pgdat, pfn_to_page(T.pgdat, b->pfn), b->order) == 0,
	       "free_pages(pfn %#x, order %u) refused a block the worker held",
	       b->pfn, b->order);
	tcount(C_FREE, 1);
}

/*
 * Allocate blocks of one order until the allocator says no (or a cap),
 * check them all, give them back: the whole node under pressure - direct
 * reclaim in faults, compaction on the allocation path, the reporting
 * gate, zswap without pool memory, contiguous ranges without targets.
 */
static void alloc_burst(struct alloc_worker *w)
{
	unsigned int order = BURST_MIN_ORDER +
			     (unsigned int)(test_rand(&w->t.rng) % (MAX_ORDER - BURST_MIN_ORDER));
	unsigned int gfp = pick_gfp(test_rand(&w->t.rng)) & ~(GFP_LOW | GFP_ZERO);
	uint64_t n = 0;

	while (n < BURST_MAX_BLOCKS &&
	       block_take(&w->t, w->id, order, gfp, ++w->gen, true, &w->burst[n]))
		n++;
	tcount(C_BURST, 1);
	tcount(C_BURST_PAGES, n << order);
	while (n)
		block_give(&w->t, w->id, &w->burst[--n]);
}

static void *alloc_worker_fn(void *arg)
{
	struct alloc_worker *w = arg;
	uint64_t done = 0;

	while (top(&w->t, &done)) {
		uint64_t r = test_rand(&w->t.rng);

		if (r % 1500 == 0) {
			alloc_burst(w);
		} else if (w->nr_held &&
			   (w->nr_held == MAX_HELD || w->held_pages > HELD_CAP_PAGES ||
			    r % 2)) {
			unsigned int i = (unsigned int)(r / 2 % w->nr_held);

			block_give(&w->t, w->id, &w->held[i]);
			w->held_pages -= 1u << w->held[i].order;
			w->held[i] = w->held[--w->nr_held];
		} else {
			unsigned int order = pick_order(r / 2);
			struct held_block *b = &w->held[w->nr_held];

			if (block_take(&w->t, w->id, order, pick_gfp(test_rand(&w->t.rng)),
				       ++w->gen, false, b)) {
				w->nr_held++;
				w->held_pages += 1u << order;
				atomic_fetch_add(&T.orders[order], 1);
			}
		}
	}
	while (w->nr_held) {
		block_give(&w->t, w->id, &w->held[--w->nr_held]);
		w->held_pages -= 1u << w->held[w->nr_held].order;
	}
	atomic_fetch_sub(&T.workers_left, 1);
	return NULL;
}

/* ---- anonymous memory ---- */

/* Return: 0, or access_page()'s error (-GMM_ENOMEM is counted, not fatal). */
static int anon_write(struct anon_worker *w, uint64_t i, uint64_t v)
{
	struct pglist_data *pgdat = T.pgdat;
	struct page *page;
	int err;

	tdoing(&w->t, "access_page (write)", i);
	err = access_page(w->mm, ANON_BASE + i * PAGE_SIZE, true, &page);
	if (err)
		return err;
	pattern_fill(page_address(pgdat, page), i, v);
	w->sums[i] = page_checksum(page_address(pgdat, page));
	put_page(pgdat, page);
	return 0;
}

static int anon_verify(struct anon_worker *w, uint64_t i, const char *when)
{
	struct pglist_data *pgdat = T.pgdat;
	struct page *page;
	uint64_t sum;
	int err;

	tdoing(&w->t, "access_page (verify)", i);
	err = access_page(w->mm, ANON_BASE + i * PAGE_SIZE, false, &page);
	if (err)
		return err;
	sum = page_checksum(page_address(pgdat, page));
	if (sum != w->sums[i])
		torture_fail("%s: %s page %llu (pfn %#x) came back different: "
			     "checksum %#llx, not %#llx", when, w->t.name,
			     (unsigned long long)i, page_to_pfn(pgdat, page),
			     (unsigned long long)sum, (unsigned long long)w->sums[i]);
	put_page(pgdat, page);
	return 0;
}

static void anon_check_err(struct anon_worker *w, int err, uint64_t i)
{
	if (err == -GMM_ENOMEM) {
		tcount(C_ANON_NOMEM, 1);
		return;
	}
	TCHECK(!err, "%s: access_page(page %llu) failed: %d", w->t.name,
	       (unsigned long long)i, err);
}

/*
 * Write every page of the range once: 36 MiB over three workers, half of
 * it compressible, against a zbud pool limited to about 5 MiB, which it
 * outgrows once the workers are done and reclaim takes their pages.
 */
static void anon_fill(struct anon_worker *w, uint64_t v)
{
	for (uint64_t i = 0; i < ANON_PAGES; i++) {
		int err = anon_write(w, i, v);

		if (err) /* the page stays zero */
			w->sums[i] = T.zero_sum;
		anon_check_err(w, err, i);
	}
}

static void anon_space_new(struct anon_worker *w, uint64_t v)
{
	struct mm_space *mm;

	tdoing(&w->t, "mm_space_create", 0);
	TCHECK(mm_space_create(T.pgdat, &mm) == 0, "%s: mm_space_create failed",
	       w->t.name);
	TCHECK(mm_mmap(mm, ANON_BASE, ANON_PAGES * PAGE_SIZE) == 0,
	       "%s: mm_mmap failed", w->t.name);
	w->mm = mm;
	anon_fill(w, v);
}

static void *anon_worker_fn(void *arg)
{
	struct anon_worker *w = arg;
	uint64_t done = 0;

	while (top(&w->t, &done)) {
		uint64_t r = test_rand(&w->t.rng);
		uint64_t i = (r >> 8) % ANON_PAGES;

		if (r % 3001 == 0) {
			/* The whole space goes, its swap entries with it. */
			tdoing(&w->t, "mm_space_destroy", 0);
			mm_space_destroy(w->mm);
			anon_space_new(w, done);
			tcount(C_REBIRTH, 1);
		} else if (r % 1499 == 0) {
			tdoing(&w->t, "mm_munmap and mm_mmap", 0);
			TCHECK(mm_munmap(w->mm, ANON_BASE, ANON_PAGES * PAGE_SIZE) == 0,
			       "%s: mm_munmap failed", w->t.name);
			TCHECK(mm_mmap(w->mm, ANON_BASE, ANON_PAGES * PAGE_SIZE) == 0,
			       "%s: mm_mmap failed", w->t.name);
			anon_fill(w, done);
			tcount(C_REMAP, 1);
		} else if (r % 3 == 0) {
			anon_check_err(w, anon_write(w, i, done), i);
			tcount(C_ANON_WRITE, 1);
		} else {
			anon_check_err(w, anon_verify(w, i, "verify"), i);
			tcount(C_ANON_VERIFY, 1);
		}
	}
	atomic_fetch_sub(&T.workers_left, 1);
	return NULL;
}

/* anon_stress.h's reclaimer and unuser, paced and paused by the torture. */
static void bg_step(struct stress_bg *bg)
{
	struct tthread *t = (struct tthread *)bg;

	tpace(t);
	tdoing(t, t->name[0] == 'r' ? "shrink_node" : "reclaim_pages, unuse", 0);
}

static void *bg_reclaim_fn(void *arg)
{
	return stress_reclaim_fn(&((struct tthread *)arg)->bg);
}

static void *bg_unuse_fn(void *arg)
{
	return stress_unuse_fn(&((struct tthread *)arg)->bg);
}

/* ---- compaction, contiguous ranges, offline and online ---- */

static void *compactor_fn(void *arg)
{
	struct tthread *t = arg;
	uint32_t gen = 0;

	while (workers_running()) {
		uint64_t r = test_rand(&t->rng);
		struct compact_result res = { 0 };
		struct held_block b;
		int err;

		tpace(t);
		switch (r % 3) {
		case 0:
			tdoing(t, "compact_node(-1)", 0);
			TCHECK(compact_node(T.pgdat, -1, &res) == 0, "compact_node(-1) failed");
			tcount(C_COMPACT, 1);
			break;
		case 1:
			tdoing(t, "compact_node(order)", 3 + r / 3 % 8);
			err = compact_node(T.pgdat, (int)(3 + r / 3 % 8), &res);
			TCHECK(err == 0 || err == -GMM_EAGAIN, "compact_node(%d): %d",
			       (int)(3 + r / 3 % 8), err);
			tcount(C_COMPACT, 1);
			break;
		default:
			/* Order 9 and 10: the allocation path's compaction. */
			if (block_take(t, OWNER_COMPACT, 9 + (unsigned int)(r / 3 % 2),
				       r / 6 % 2 ? GFP_MOVABLE : 0, ++gen, false, &b)) {
				block_give(t, OWNER_COMPACT, &b);
				tcount(C_HIGH_OK, 1);
			}
			break;
		}
	}
	return NULL;
}

static void contig_use(struct tthread *t, uint32_t start, uint32_t end, uint32_t gen)
{
	struct pglist_data *pgdat = T.pgdat;

	for (uint32_t p = start; p < end; p += MAX_ORDER_NR_PAGES) {
		const struct page *page = pfn_to_page(pgdat, p);

		TCHECK(page_flags_read(page) == PG_head && page->order == MAX_ORDER - 1,
		       "contiguous range [%#x, %#x): pfn %#x has flags %#x order %u",
		       start, end, p, page_flags_read(page), page->order);
	}
	owner_claim(OWNER_CONTIG, start, end - start, "alloc_contig_range");
	for (uint32_t p = start; p < end; p += MAX_ORDER_NR_PAGES)
		block_fill(OWNER_CONTIG, p, MAX_ORDER - 1, gen, false);
	for (uint32_t p = start; p < end; p += MAX_ORDER_NR_PAGES)
		block_verify(OWNER_CONTIG, p, MAX_ORDER - 1, gen, false, "contiguous range");
	owner_release(OWNER_CONTIG, start, end - start, "free_contig_range");
	tdoing(t, "free_contig_range", start);
	TCHECK(free_contig_range(pgdat, start, end) == 0,
	       "free_contig_range(%#x, %#x) refused its own range", start, end);
}

static void *contig_fn(void *arg)
{
	struct tthread *t = arg;
	struct pglist_data *pgdat = T.pgdat;
	uint32_t normal = pgdat->node_zones[ZONE_NORMAL].zone_start_pfn;
	uint32_t gen = 0;

	while (workers_running()) {
		uint64_t r = test_rand(&t->rng);
		uint32_t pieces = 1 + (uint32_t)(r / 4 % 4), start, end;
		struct compact_result res = { 0 };
		int err;

		tpace(t);
		if (r % 4 == 3) {
			uint64_t nr = MAX_ORDER_NR_PAGES << (r / 16 % 2);

			tdoing(t, "alloc_contig_pages", nr);
			err = alloc_contig_pages(pgdat, nr, &start, &res);
			end = start + (uint32_t)nr;
		} else {
			if (r % 4 == 2) { /* anywhere in the normal zone */
				uint32_t slots = (T.nr_pages - normal) / MAX_ORDER_NR_PAGES -
						 pieces + 1;

				start = normal + (uint32_t)(r / 64 % slots) * MAX_ORDER_NR_PAGES;
			} else { /* the CMA region */
				uint32_t slots = (CMA_END - CMA_START) / MAX_ORDER_NR_PAGES -
						 pieces + 1;

				start = CMA_START + (uint32_t)(r / 64 % slots) * MAX_ORDER_NR_PAGES;
			}
			end = start + pieces * MAX_ORDER_NR_PAGES;
			tdoing(t, "alloc_contig_range", start);
			err = alloc_contig_range(pgdat, start, end, &res);
		}
		if (err == -GMM_EBUSY || err == -GMM_ENOMEM) {
			tcount(C_CONTIG_BUSY, 1);
			continue;
		}
		TCHECK(!err, "alloc_contig_range/pages at %#x: %d", start, err);
		contig_use(t, start, end, ++gen);
		tcount(r % 4 == 3 ? C_CONTIG_PAGES_OK : C_CONTIG_OK, 1);
	}
	return NULL;
}

static bool block_offline[16];

static void online_block(struct tthread *t, uint32_t b)
{
	tdoing(t, "online_memory_block", b);
	owner_release(OWNER_OFFLINE, b * MEMORY_BLOCK_PAGES, MEMORY_BLOCK_PAGES,
		      "online_memory_block");
	TCHECK(online_memory_block(T.pgdat, b) == 0, "online_memory_block(%u) failed", b);
	block_offline[b] = false;
	tcount(C_ONLINE, 1);
}

/*
 * Frames of block @b that no migration moves, as Linux's "removable"
 * attribute would look at them (racy: a hint for the choice, no more).
 */
static uint32_t block_unmovable(uint32_t b)
{
	uint32_t n = 0;

	for (uint32_t p = b * MEMORY_BLOCK_PAGES; p < (b + 1) * MEMORY_BLOCK_PAGES; p++) {
		uint16_t f = page_flags_read(pfn_to_page(T.pgdat, p));

		n += (f & PG_reserved) ||
		     ((f & PG_head) && !(f & (PG_lru | PG_movable | PG_anon)));
	}
	return n;
}

static void *hotplug_fn(void *arg)
{
	struct tthread *t = arg;
	uint32_t blocks = nr_memory_blocks(T.pgdat), nr_off = 0;

	while (workers_running()) {
		uint64_t r = test_rand(&t->rng);
		uint32_t b = 1 + (uint32_t)(r / 2 % (blocks - 1));
		struct compact_result res = { 0 };
		int err;

		tpace(t);
		if (nr_off && (nr_off == MAX_OFFLINE || r % 2)) {
			while (!block_offline[b])
				b = 1 + b % (blocks - 1);
			online_block(t, b);
			nr_off--;
			continue;
		}
		/*
		 * Until an offline has discarded through the reporting device,
		 * offline only while one is registered.  Offlines succeed
		 * mostly early, before unmovable frames are spread over every
		 * block; unconditioned, all of them could fall while no device
		 * is registered (CI's ASan run: 6 offlines, all under percpu,
		 * then 653 busy), and the discard path went untested.
		 */
		if (!tcount_get(C_DISCARD_OFFLINE) &&
		    !atomic_load_explicit(&T.pgdat->prdev, memory_order_relaxed))
			continue;
		while (block_offline[b])
			b = 1 + b % (blocks - 1);
		/* Mostly the block that looks most removable; now and then any. */
		if (r / 2 / blocks % 4) {
			uint32_t best = UINT32_MAX;

			tdoing(t, "looking for a removable block", 0);
			for (uint32_t c = 1; c < blocks; c++) {
				uint32_t n = block_offline[c] ? UINT32_MAX : block_unmovable(c);

				if (n < best) {
					best = n;
					b = c;
				}
			}
		}
		tdoing(t, "offline_memory_block", b);
		tls_offlining = (int)b;
		err = offline_memory_block(T.pgdat, b, &res);
		tls_offlining = -1;
		if (err == -GMM_EBUSY || err == -GMM_ENOMEM) {
			tcount(C_OFFLINE_BUSY, 1);
			continue;
		}
		TCHECK(!err, "offline_memory_block(%u): %d", b, err);
		TCHECK(memory_block_offline(T.pgdat, b), "block %u offline but not said so", b);
		owner_claim(OWNER_OFFLINE, b * MEMORY_BLOCK_PAGES, MEMORY_BLOCK_PAGES,
			    "offline_memory_block");
		block_offline[b] = true;
		nr_off++;
		tcount(C_OFFLINE_OK, 1);
	}
	for (uint32_t b = 1; b < blocks; b++)
		if (block_offline[b])
			online_block(t, b);
	return NULL;
}

/* ---- the strategies, switched at random ---- */

static unsigned int kind_of(enum gmm_hinting h)
{
	return h == GMM_HINTING_OFF ? 0 : 1u << h;
}

/* After a switch to T.strategy: is it what is in effect? */
static void count_registration(int err)
{
	static const enum tcount c[] = { C_REG_REPORT, C_REG_PERCPU, C_REG_BITMAP };
	struct gmm_guest_stats st;

	/* Refused for want of memory (percpu's arrays, a worker thread). */
	TCHECK(!err || err == -ENOMEM, "registering %s: %d",
	       gmm_hinting_names[T.strategy], err);
	gmm_guest_get_stats(T.g, &st);
	if (T.strategy == GMM_HINTING_OFF || err) {
		TCHECK(st.hinting == GMM_HINTING_OFF, "strategy %s in effect, none asked",
		       gmm_hinting_names[st.hinting]);
		if (err)
			tcount(C_REG_FAIL, 1);
		return;
	}
	TCHECK(st.hinting == T.strategy, "strategy %s in effect, %s asked",
	       gmm_hinting_names[st.hinting], gmm_hinting_names[T.strategy]);
	tcount(c[T.strategy], 1);
}

/*
 * Switch to @h.  The discards allowed are those of the strategy going and
 * the one coming while both may be at work, and exactly the one in effect
 * otherwise.
 */
static void strategy_switch(struct tthread *t, enum gmm_hinting h, bool direct)
{
	int err;

	if (direct && T.reporting) {
		tdoing(t, "gmm_guest_set_hinting", h);
		atomic_store(&T.discard_kinds, kind_of(T.strategy) | kind_of(h));
		err = gmm_guest_set_hinting(T.g, h);
		T.strategy = h;
		T.reporting = !err && h != GMM_HINTING_OFF;
		atomic_store(&T.discard_kinds, T.reporting ? kind_of(h) : 0);
		tcount(C_SWITCH_DIRECT, 1);
		count_registration(err);
		return;
	} else {
		tdoing(t, "gmm_guest_set_reporting(false)", 0);
		TCHECK(gmm_guest_set_reporting(T.g, false) == 0, "turning reporting off failed");
		atomic_store(&T.discard_kinds, 0);
		TCHECK(gmm_guest_set_hinting(T.g, h) == 0, "gmm_guest_set_hinting(%u) with none on", h);
		T.strategy = h;
		atomic_store(&T.discard_kinds, kind_of(h));
		tdoing(t, "gmm_guest_set_reporting(true)", h);
		err = gmm_guest_set_reporting(T.g, true);
		T.reporting = !err && h != GMM_HINTING_OFF;
		if (!T.reporting)
			atomic_store(&T.discard_kinds, 0);
		tcount(C_SWITCH_OFF_ON, 1);
		count_registration(err);
	}
}

static void *switcher_fn(void *arg)
{
	struct tthread *t = arg;
	unsigned int next = 0;

	while (workers_running()) {
		uint64_t r = test_rand(&t->rng);
		int err;

		tpace(t);
		if (r % 4 == 0) {
			tdoing(t, "gmm_guest_report_now", T.strategy);
			err = gmm_guest_report_now(T.g);
			TCHECK(err == 0 || (!T.reporting && err == -EINVAL),
			       "gmm_guest_report_now() under %s: %d",
			       gmm_hinting_names[T.strategy], err);
			tcount(C_REPORT_NOW, 1);
			continue;
		}
		/* Each strategy in turn now and then, so every one has its go. */
		enum gmm_hinting h = r % 4 == 1 ? (enum gmm_hinting)(next++ % GMM_NR_HINTING)
						: (enum gmm_hinting)(r / 4 % GMM_NR_HINTING);

		strategy_switch(t, h, r / 16 % 2);
	}
	return NULL;
}

/* ---- checkpoints ---- */

enum fstate {
	F_NONE, F_BOOT, F_OFFLINE, F_FREE, F_PCP, F_WORKER, F_ANON, F_ZBUD,
	F_TABLE, F_HINT, F_META, NR_FSTATES
};

static const char *const fstate_names[NR_FSTATES] = {
	[F_NONE] = "none", [F_BOOT] = "boot metadata", [F_OFFLINE] = "offline",
	[F_FREE] = "free", [F_PCP] = "per-CPU lists", [F_WORKER] = "workers'",
	[F_ANON] = "anonymous", [F_ZBUD] = "zbud", [F_TABLE] = "page tables",
	[F_HINT] = "hinting arrays", [F_META] = "anon metadata",
};

struct slot_ref {
	struct mm_space *mm;
	uint64_t vpn;
};

static struct checker {
	uint8_t *expect;       /* per frame: the F_* an allocated head should be */
	uint8_t *expect_order;
	uint8_t *expect_owner; /* per frame: a worker's block's owner byte */
	uint8_t *mapped;       /* per frame: a PTE maps it */
	uint8_t *cache;	       /* per frame: the swap cache page of its slot */
	struct slot_ref *slot; /* per slot: the PTE that holds it */
	uint32_t *reported;    /* Reported free blocks' heads ... */
	uint8_t *reported_order;
	uint64_t nr_reported;
	uint64_t count[NR_FSTATES];
	uint64_t zone_count[MAX_NR_ZONES][NR_FSTATES];
	uint64_t ptes, swap_ptes;
	int64_t lru; /* the LRU's count, less every anonymous frame found */
} C;

static void expect_head(uint32_t pfn, enum fstate s, unsigned int order,
			uint8_t owner, const char *what)
{
	TCHECK(pfn < T.nr_pages, "%s: pfn %#x outside the node", what, pfn);
	TCHECK(C.expect[pfn] == F_NONE, "%s: pfn %#x is also %s", what, pfn,
	       fstate_names[C.expect[pfn]]);
	C.expect[pfn] = (uint8_t)s;
	C.expect_order[pfn] = (uint8_t)order;
	C.expect_owner[pfn] = owner;
}

static uint32_t virt_pfn(const void *p)
{
	struct page *page = virt_to_page(T.pgdat, p);

	TCHECK(page, "address %p outside the node", p);
	return page_to_pfn(T.pgdat, page);
}

static bool vpn_mapped_locked(const struct mm_space *mm, uint64_t vpn)
{
	for (unsigned int i = 0; i < mm->nr_vmas; i++)
		if (vpn >= mm->vmas[i].start && vpn < mm->vmas[i].end)
			return true;
	return false;
}

/* One space: its own frames, its tables, every PTE against its frame. */
static void check_space(struct mm_space *mm)
{
	struct pglist_data *pgdat = T.pgdat;
	struct swap_info *si = &pgdat->lruvec->si;
	uint64_t *pgd = mm->pgd, rss = 0;

	spin_lock(&mm->ptl);
	expect_head(virt_pfn(mm), F_TABLE, 0, 0, "mm_space");
	expect_head(virt_pfn(pgd), F_TABLE, 0, 0, "pgd");
	for (uint64_t i = 0; i < PTRS_PER_TABLE; i++) {
		uint64_t *t1 = (uint64_t *)(uintptr_t)pgd[i];

		if (!t1)
			continue;
		expect_head(virt_pfn(t1), F_TABLE, 0, 0, "page table (level 1)");
		for (uint64_t j = 0; j < PTRS_PER_TABLE; j++) {
			uint64_t *t0 = (uint64_t *)(uintptr_t)t1[j];

			if (!t0)
				continue;
			expect_head(virt_pfn(t0), F_TABLE, 0, 0, "page table (level 0)");
			for (uint64_t k = 0; k < PTRS_PER_TABLE; k++) {
				uint64_t pte = t0[k], vpn = (i << 18) | (j << 9) | k;

				if (!pte)
					continue;
				TCHECK(vpn_mapped_locked(mm, vpn),
				       "space %p: PTE %#llx at vpn %#llx outside every mapping",
				       (void *)mm, (unsigned long long)pte,
				       (unsigned long long)vpn);
				if (pte & PTE_PRESENT) {
					uint32_t pfn = pte_pfn(pte);
					struct page_ext *ext;

					TCHECK(pfn < T.nr_pages && !C.mapped[pfn],
					       "space %p vpn %#llx: pfn %#x mapped twice or outside",
					       (void *)mm, (unsigned long long)vpn, pfn);
					C.mapped[pfn] = 1;
					ext = page_ext_of(pgdat, pfn_to_page(pgdat, pfn));
					TCHECK(ext->mapping == mm && ext->index == vpn,
					       "pfn %#x mapped at %p vpn %#llx, its rmap says %p vpn %#llx",
					       pfn, (void *)mm, (unsigned long long)vpn,
					       ext->mapping, (unsigned long long)ext->index);
					rss++;
					C.ptes++;
				} else if (pte & PTE_SWAP) {
					uint32_t slot = pte_pfn(pte);

					TCHECK(slot < si->nr_slots && !C.slot[slot].mm,
					       "space %p vpn %#llx: swap slot %u held twice or outside",
					       (void *)mm, (unsigned long long)vpn, slot);
					C.slot[slot] = (struct slot_ref){ mm, vpn };
					C.swap_ptes++;
				} else {
					torture_fail("space %p vpn %#llx: PTE %#llx neither present nor swap",
						     (void *)mm, (unsigned long long)vpn,
						     (unsigned long long)pte);
				}
			}
		}
	}
	TCHECK(rss == mm->rss, "space %p: %llu present PTEs, rss says %llu", (void *)mm,
	       (unsigned long long)rss, (unsigned long long)mm->rss);
	spin_unlock(&mm->ptl);
}

/* Every space, every swap slot, zswap's entries, the LRU's counts. */
static void check_anon(void)
{
	struct pglist_data *pgdat = T.pgdat;
	struct lruvec *lv = pgdat->lruvec;
	struct swap_info *si = &lv->si;
	uint64_t nfree = 0, entries = 0;
	struct zswap_stats zst;
	unsigned int spaces = 0;

	spin_lock(&lv->mmlist_lock);
	for (struct mm_space *mm = lv->spaces; mm; mm = mm->mm_next) {
		bool ours = false;

		for (unsigned int i = 0; i < NR_ANON; i++)
			ours |= T.anon[i].mm == mm;
		TCHECK(ours, "space %p on the node's list belongs to no worker", (void *)mm);
		spaces++;
	}
	spin_unlock(&lv->mmlist_lock);
	TCHECK(spaces == NR_ANON, "%u spaces on the node's list, %u workers", spaces,
	       NR_ANON);
	for (unsigned int i = 0; i < NR_ANON; i++)
		check_space(T.anon[i].mm);

	spin_lock(&si->lock);
	for (uint64_t s = 0; s < si->nr_slots; s++) {
		const struct swap_slot *sl = mm_array_at(&si->slots, s);
		uint32_t count = sl->count & SWAP_COUNT_MASK;
		bool has_cache = sl->count & SWAP_HAS_CACHE;
		bool in_zswap = zswap_has_entry(lv->zswap, (uint32_t)s);

		entries += in_zswap;
		TCHECK(count <= 1, "swap slot %llu: count %u (no fork here)",
		       (unsigned long long)s, count);
		TCHECK(count == !!C.slot[s].mm,
		       "swap slot %llu: count %u, held by %s PTE", (unsigned long long)s,
		       count, C.slot[s].mm ? "a" : "no");
		if (count)
			TCHECK(sl->owner == C.slot[s].mm && sl->owner_index == C.slot[s].vpn,
			       "swap slot %llu: owner %p vpn %#llx, the PTE is in %p vpn %#llx",
			       (unsigned long long)s, (void *)sl->owner,
			       (unsigned long long)sl->owner_index, (void *)C.slot[s].mm,
			       (unsigned long long)C.slot[s].vpn);
		if (!count && !has_cache) {
			nfree++;
			TCHECK(!in_zswap, "free swap slot %llu still has a zswap entry",
			       (unsigned long long)s);
		}
		if (has_cache) {
			uint32_t pfn = sl->cache_pfn;

			TCHECK(pfn < T.nr_pages,
			       "swap slot %llu: SWAP_HAS_CACHE with no page at a checkpoint",
			       (unsigned long long)s);
			TCHECK(!C.cache[pfn], "pfn %#x caches two slots", pfn);
			C.cache[pfn] = 1;
			TCHECK(page_ext_of(pgdat, pfn_to_page(pgdat, pfn))->swap_slot == s,
			       "swap slot %llu's cache page pfn %#x says slot %u",
			       (unsigned long long)s, pfn,
			       page_ext_of(pgdat, pfn_to_page(pgdat, pfn))->swap_slot);
		}
	}
	TCHECK(nfree == si->nr_free, "%llu swap slots free, nr_free says %llu",
	       (unsigned long long)nfree, (unsigned long long)si->nr_free);
	spin_unlock(&si->lock);
	TCHECK(swap_info_check(si), "swap clusters inconsistent (said above)");
	zswap_get_stats(lv->zswap, &zst);
	TCHECK(entries == zst.stored_pages, "%llu slots have zswap entries, zswap holds %llu",
	       (unsigned long long)entries, (unsigned long long)zst.stored_pages);
	spin_lock(&lv->lru_lock);
	C.lru = (int64_t)(lv->nr[LRU_INACTIVE_ANON] + lv->nr[LRU_ACTIVE_ANON]);
	spin_unlock(&lv->lru_lock);
}

/* Lock out every pass of the strategy in effect (none for the bitmap:
 * its host changes bits, never a frame's state). */
static void strategy_hold(bool hold)
{
	struct pglist_data *pgdat = T.pgdat;
	struct page_reporting_dev_info *prdev = atomic_load(&pgdat->prdev);
	struct page_hinting *ph = atomic_load(&pgdat->hinting);

	if (prdev) {
		if (hold)
			spin_lock(&prdev->pass_lock);
		else
			spin_unlock(&prdev->pass_lock);
	}
	for (unsigned int c = 0; ph && c < pgdat->nr_cpus; c++) {
		unsigned int i = hold ? c : pgdat->nr_cpus - 1 - c;

		if (hold)
			spin_lock(&ph->cpu[i].pass_lock);
		else
			spin_unlock(&ph->cpu[i].pass_lock);
	}
}

static void zones_hold(bool hold)
{
	struct pglist_data *pgdat = T.pgdat;

	/* Per-CPU locks before zone locks, as every path nests them. */
	for (unsigned int z = 0; z < pgdat->nr_zones; z++)
		for (unsigned int c = 0; c < pgdat->nr_cpus; c++) {
			if (hold)
				spin_lock(&pgdat->node_zones[z].pcp[c].lock);
			else
				spin_unlock(&pgdat->node_zones[z].pcp[c].lock);
		}
	for (unsigned int z = 0; z < pgdat->nr_zones; z++) {
		if (hold)
			spin_lock(&pgdat->node_zones[z].lock);
		else
			spin_unlock(&pgdat->node_zones[z].lock);
	}
}

static void count_frames(uint32_t pfn, uint64_t nr, enum fstate s)
{
	C.count[s] += nr;
	C.zone_count[page_zone(T.pgdat, pfn) - T.pgdat->node_zones][s] += nr;
}

/* The frames of the block at @pfn other than its head: flags 0, owner @owner. */
static void check_inside(uint32_t pfn, unsigned int order, uint8_t owner, const char *what)
{
	for (uint32_t p = pfn; p < pfn + (1u << order); p++) {
		uint8_t o = atomic_load(&T.owner[p]);

		TCHECK(p == pfn || !page_flags_read(pfn_to_page(T.pgdat, p)),
		       "pfn %#x inside %s block %#x (order %u) has flags %#x", p, what,
		       pfn, order, page_flags_read(pfn_to_page(T.pgdat, p)));
		TCHECK(o == owner, "pfn %#x in %s block %#x is owner %#x's, want %#x", p,
		       what, pfn, o, owner);
	}
}

/* A block of @order at @pfn: aligned, inside its zone. */
static void check_block(uint32_t pfn, unsigned int order, uint16_t f)
{
	const struct zone *zone = page_zone(T.pgdat, pfn);

	TCHECK(order < MAX_ORDER && !(pfn & ((1u << order) - 1)) &&
	       (uint64_t)pfn + (1u << order) <=
		       (uint64_t)zone->zone_start_pfn + zone->spanned_pages,
	       "pfn %#x: a block of order %u (flags %#x) misaligned or across its zone",
	       pfn, order, f);
}

/* An allocated block: anonymous, zbud, or one the torture expects. */
static enum fstate classify_allocated(uint32_t pfn, unsigned int order, uint16_t f,
				      uint8_t *owner)
{
	enum fstate s;

	*owner = 0;
	if (f & PG_anon) {
		/* At a checkpoint nothing is isolated, pinned or locked. */
		TCHECK(order == 0 && (f & PG_lru) &&
		       !(f & (PG_zbud | PG_movable | PG_locked)),
		       "anonymous pfn %#x: flags %#x order %u", pfn, f, order);
		TCHECK(C.mapped[pfn] || ((f & PG_swapcache) && C.cache[pfn]),
		       "anonymous pfn %#x (flags %#x) neither mapped nor in the swap cache",
		       pfn, f);
		TCHECK(!(f & PG_swapcache) == !C.cache[pfn],
		       "pfn %#x: PG_swapcache %d, a slot's cache page %d", pfn,
		       !!(f & PG_swapcache), C.cache[pfn]);
		C.lru--;
		return F_ANON;
	}
	if (f & PG_zbud) {
		TCHECK(order == 0 && !(f & (PG_lru | PG_active | PG_swapcache | PG_locked)) &&
		       !(f & PG_movable) == (T.policy == ZPOOL_MOVABLE_NONE),
		       "zbud pfn %#x: flags %#x order %u", pfn, f, order);
		return F_ZBUD;
	}
	TCHECK(f == PG_head, "pfn %#x: flags %#x on a page that is not anonymous", pfn, f);
	s = C.expect[pfn];
	TCHECK(s != F_NONE,
	       "pfn %#x: allocated (order %u) and nobody the torture knows owns it", pfn,
	       order);
	TCHECK(C.expect_order[pfn] == order, "pfn %#x (%s) has order %u, want %u", pfn,
	       fstate_names[s], order, C.expect_order[pfn]);
	*owner = C.expect_owner[pfn];
	C.expect[pfn] = F_NONE; /* found */
	return s;
}

/* Every frame, once: which state it is in, by its flags and what we know. */
static void scan_frames(void)
{
	struct pglist_data *pgdat = T.pgdat;
	uint32_t pfn = 0;

	while (pfn < T.nr_pages) {
		const struct page *page = pfn_to_page(pgdat, pfn);
		uint16_t f = page_flags_read(page);
		unsigned int order = page->order;
		enum fstate s;
		uint8_t owner = 0;

		if (pfn < pgdat->reserved_pages) {
			TCHECK(f == PG_reserved, "boot metadata pfn %#x has flags %#x", pfn, f);
			count_frames(pfn, 1, F_BOOT);
			pfn++;
			continue;
		}
		if (f == PG_reserved) {
			TCHECK(order == MAX_ORDER - 1 && block_offline[pfn / MEMORY_BLOCK_PAGES],
			       "pfn %#x reserved (order %u) outside an offline block", pfn, order);
			s = F_OFFLINE;
			owner = OWNER_OFFLINE;
		} else if (f == PG_buddy || f == (PG_buddy | PG_reported)) {
			s = F_FREE;
			if (f & PG_reported) {
				C.reported[C.nr_reported] = pfn;
				C.reported_order[C.nr_reported++] = (uint8_t)order;
			}
		} else if (f == PG_pcp) {
			TCHECK(order == 0 || order == PAGEBLOCK_ORDER,
			       "pfn %#x on a per-CPU list with order %u", pfn, order);
			s = F_PCP;
		} else if (f & PG_head) {
			s = classify_allocated(pfn, order, f, &owner);
		} else {
			torture_fail("pfn %#x is in no block: flags %#x order %u", pfn, f, order);
		}
		check_block(pfn, order, f);
		TCHECK(!C.mapped[pfn] || s == F_ANON, "pfn %#x mapped but %s", pfn,
		       fstate_names[s]);
		check_inside(pfn, order, owner, fstate_names[s]);
		count_frames(pfn, 1u << order, s);
		pfn += 1u << order;
	}
	for (uint32_t p = 0; p < T.nr_pages; p++)
		TCHECK(C.expect[p] == F_NONE,
		       "pfn %#x should be the head of a %s block of order %u: flags %#x", p,
		       fstate_names[C.expect[p]], C.expect_order[p],
		       page_flags_read(pfn_to_page(pgdat, p)));
	TCHECK(C.lru == 0, "the LRU lists count %lld pages more than the anonymous frames",
	       (long long)C.lru);
}

/* Every Reported free block is a hole in the memfd: the host has it. */
static void check_holes(void)
{
	int fd = gmm_guest_memfd(T.g);

	for (uint64_t i = 0; i < C.nr_reported; i++) {
		uint64_t off = (uint64_t)C.reported[i] << PAGE_SHIFT;
		uint64_t len = PAGE_SIZE << C.reported_order[i];
		off_t data = lseek(fd, (off_t)off, SEEK_DATA);

		TCHECK((data < 0 && errno == ENXIO) || (uint64_t)data >= off + len,
		       "Reported free block pfn %#x order %u holds data at %#llx: the host "
		       "still has memory the guest says it gave back",
		       C.reported[i], C.reported_order[i], (unsigned long long)data);
	}
	tcount(C_HOLES, C.nr_reported);
}

static void checkpoint(const char *when)
{
	struct pglist_data *pgdat = T.pgdat;
	struct tthread *t = &T.checker;
	struct page_hinting *ph;
	uint64_t managed = 0, pcp = 0, sum = 0;
	uint64_t zbud_pages;
	int err;

	tdoing(t, "pausing every thread", 0);
	tpause_all();
	atomic_store(&t->idle, false);
	tdoing(t, "checkpoint: spaces and swap", 0);
	memset(C.expect, 0, T.nr_pages);
	memset(C.expect_owner, 0, T.nr_pages);
	memset(C.mapped, 0, T.nr_pages);
	memset(C.cache, 0, T.nr_pages);
	memset(C.slot, 0, pgdat->lruvec->si.nr_slots * sizeof(*C.slot));
	memset(C.count, 0, sizeof(C.count));
	memset(C.zone_count, 0, sizeof(C.zone_count));
	C.nr_reported = C.ptes = C.swap_ptes = 0;
	for (unsigned int i = 0; i < T.nr_meta; i++)
		expect_head(T.meta[i].pfn, F_META, T.meta[i].order, 0, "anon metadata");
	for (unsigned int i = 0; i < NR_ALLOC; i++)
		for (unsigned int k = 0; k < T.alloc[i].nr_held; k++)
			expect_head(T.alloc[i].held[k].pfn, F_WORKER,
				    T.alloc[i].held[k].order, T.alloc[i].id,
				    T.alloc[i].t.name);
	check_anon();

	tdoing(t, "checkpoint: frames", 0);
	strategy_hold(true);
	ph = atomic_load(&pgdat->hinting);
	if (ph)
		expect_head(page_to_pfn(pgdat, ph->mem), F_HINT, ph->mem_order, 0,
			    "hinting arrays");
	zones_hold(true);
	scan_frames();
	for (unsigned int z = 0; z < pgdat->nr_zones; z++) {
		struct zone *zone = &pgdat->node_zones[z];
		uint64_t *zc = C.zone_count[z], zpcp = 0;

		for (unsigned int c = 0; c < pgdat->nr_cpus; c++)
			zpcp += zone->pcp[c].count +
				((uint64_t)zone->pcp[c].nr_pageblocks << PAGEBLOCK_ORDER);
		TCHECK(zc[F_FREE] == zone_free_pages(zone),
		       "zone %s: %llu frames in free blocks, free_pages says %llu", zone->name,
		       (unsigned long long)zc[F_FREE],
		       (unsigned long long)zone_free_pages(zone));
		TCHECK(zc[F_PCP] == zpcp, "zone %s: %llu frames on per-CPU lists, they count %llu",
		       zone->name, (unsigned long long)zc[F_PCP], (unsigned long long)zpcp);
		TCHECK(zone_managed_pages(zone) ==
			       zone->spanned_pages - zc[F_BOOT] - zc[F_OFFLINE],
		       "zone %s: managed %llu, spanned %u less %llu boot and %llu offline",
		       zone->name, (unsigned long long)zone_managed_pages(zone),
		       zone->spanned_pages, (unsigned long long)zc[F_BOOT],
		       (unsigned long long)zc[F_OFFLINE]);
		managed += zone_managed_pages(zone);
		pcp += zpcp;
	}
	for (uint32_t b = 0; b < (T.nr_pages >> PAGEBLOCK_ORDER); b++)
		TCHECK(get_pageblock_migratetype(pgdat, b << PAGEBLOCK_ORDER) != MIGRATE_ISOLATE,
		       "pageblock %u still MIGRATE_ISOLATE with no isolation running", b);
	check_holes();
	zones_hold(false);
	strategy_hold(false);

	for (unsigned int s = 0; s < NR_FSTATES; s++)
		sum += C.count[s];
	TCHECK(sum == T.nr_pages, "states add up to %llu frames, the node spans %u",
	       (unsigned long long)sum, T.nr_pages);
	TCHECK(managed == sum - C.count[F_BOOT] - C.count[F_OFFLINE],
	       "managed %llu, spanned %llu less boot %llu and offline %llu",
	       (unsigned long long)managed, (unsigned long long)sum,
	       (unsigned long long)C.count[F_BOOT], (unsigned long long)C.count[F_OFFLINE]);
	TCHECK(C.count[F_ANON] >= C.ptes, "%llu present PTEs, %llu anonymous frames",
	       (unsigned long long)C.ptes, (unsigned long long)C.count[F_ANON]);
	zbud_pages = zswap_zpool_driver(pgdat->lruvec->zswap)
			     ->total_pages(zswap_pool(pgdat->lruvec->zswap));
	TCHECK(C.count[F_ZBUD] == zbud_pages, "%llu zbud frames, the pool has %llu",
	       (unsigned long long)C.count[F_ZBUD], (unsigned long long)zbud_pages);

	tdoing(t, "checkpoint: validators", 0);
	err = gmm_guest_validate(T.g);
	TCHECK(!err, "the validators (strategy %s, buddy_check): %d",
	       gmm_hinting_names[T.reporting ? T.strategy : GMM_HINTING_OFF], err);
	TCHECK(zbud_check(zswap_pool(pgdat->lruvec->zswap)) == 0, "zbud_check failed");
	tdoing(t, "checkpoint: workers' blocks", 0);
	for (unsigned int i = 0; i < NR_ALLOC; i++)
		for (unsigned int k = 0; k < T.alloc[i].nr_held; k++)
			block_verify(T.alloc[i].id, T.alloc[i].held[k].pfn,
				     T.alloc[i].held[k].order, T.alloc[i].held[k].gen,
				     false, "checkpoint");
	tcount(C_CHECKPOINT, 1);
	print_message("torture: checkpoint %llu (%s, %llu ops, %s): free %llu pcp %llu "
		      "workers %llu anon %llu (%llu mapped, %llu in swap) zbud %llu tables %llu "
		      "offline %llu; %llu Reported blocks, all holes\n",
		      (unsigned long long)tcount_get(C_CHECKPOINT), when,
		      (unsigned long long)atomic_load(&T.op_count),
		      gmm_hinting_names[T.reporting ? T.strategy : GMM_HINTING_OFF],
		      (unsigned long long)C.count[F_FREE], (unsigned long long)pcp,
		      (unsigned long long)C.count[F_WORKER], (unsigned long long)C.count[F_ANON],
		      (unsigned long long)C.ptes, (unsigned long long)C.swap_ptes,
		      (unsigned long long)C.count[F_ZBUD], (unsigned long long)C.count[F_TABLE],
		      (unsigned long long)C.count[F_OFFLINE],
		      (unsigned long long)C.nr_reported);
	tresume_all();
	atomic_store(&t->idle, true);
}

/* ---- the watchdog ---- */

static atomic_int dump_ack;

static void write_str(const char *s)
{
	ssize_t r = write(2, s, strlen(s));

	(void)r;
}

/* In each thread, on SIGUSR2: its stack, as backtrace() sees it. */
static void dump_handler(int sig)
{
	char line[48] = "--- thread ", digits[24];
	long tid = syscall(SYS_gettid);
	size_t len = strlen(line);
	unsigned int nd = 0;
	void *bt[64];
	int n = backtrace(bt, 64);

	(void)sig;
	do {
		digits[nd++] = (char)('0' + tid % 10);
		tid /= 10;
	} while (tid);
	while (nd)
		line[len++] = digits[--nd];
	line[len++] = ':';
	line[len++] = '\n';
	line[len] = 0;
	write_str(line);
	backtrace_symbols_fd(bt, n, 2);
	atomic_store(&dump_ack, 1);
}

static void dump_stacks_signals(void)
{
	struct sigaction sa = { .sa_handler = dump_handler };
	long self = syscall(SYS_gettid);
	DIR *d = opendir("/proc/self/task");
	struct dirent *e;

	sigemptyset(&sa.sa_mask);
	sigaction(SIGUSR2, &sa, NULL);
	if (!d)
		return;
	while ((e = readdir(d))) {
		long tid = strtol(e->d_name, NULL, 10);

		if (tid <= 0 || tid == self)
			continue;
		atomic_store(&dump_ack, 0);
		if (syscall(SYS_tgkill, getpid(), tid, SIGUSR2))
			continue;
		for (int i = 0; i < 200 && !atomic_load(&dump_ack); i++) {
			struct timespec ts = { 0, 10 * 1000 * 1000 };

			nanosleep(&ts, NULL);
		}
	}
	closedir(d);
}

/* gdb -batch: every thread's stack with its arguments.  Return: it ran. */
static bool dump_stacks_gdb(void)
{
	char pid[24];
	pid_t c;
	int st;

	snprintf(pid, sizeof(pid), "%d", (int)getpid());
	c = fork();
	if (c == 0) {
		dup2(2, 1);
		execlp("gdb", "gdb", "-batch", "-nx", "-q", "-p", pid, "-ex",
		       "set pagination off", "-ex", "thread apply all bt", (char *)NULL);
		_exit(127);
	}
	if (c < 0)
		return false;
	for (int i = 0; i < 1200; i++) {
		struct timespec ts = { 0, 100 * 1000 * 1000 };

		if (waitpid(c, &st, WNOHANG) == c)
			return WIFEXITED(st) && WEXITSTATUS(st) == 0;
		nanosleep(&ts, NULL);
	}
	kill(c, SIGKILL);
	waitpid(c, &st, 0);
	return false;
}

static void watchdog_fire(const char *who, unsigned int secs)
{
	unsigned int n = atomic_load(&T.nr_threads);

	fprintf(stderr, "torture: watchdog: %s made no progress for %u s "
		"(GUESTMM_SEED=%#llx, after %llu operations); the threads:\n",
		who, secs, (unsigned long long)T.seed,
		(unsigned long long)atomic_load(&T.op_count));
	for (unsigned int i = 0; i < n; i++) {
		struct tthread *t = T.threads[i];

		fprintf(stderr, "  %-12s tid %-7d %10llu steps %-5s in %s (%#llx)\n",
			t->name, atomic_load(&t->tid),
			(unsigned long long)atomic_load(&t->progress),
			atomic_load(&t->idle) ? "idle" : "busy", atomic_load(&t->doing),
			(unsigned long long)atomic_load(&t->arg));
	}
	fprintf(stderr, "torture: watchdog: every thread's stack:\n");
	fflush(stderr);
	if (getenv("GUESTMM_TORTURE_NO_GDB") || !dump_stacks_gdb()) {
		fprintf(stderr, "torture: watchdog: no gdb; each thread's backtrace():\n");
		dump_stacks_signals();
	}
	fprintf(stderr, "torture: watchdog: failing the run (GUESTMM_SEED=%#llx)\n",
		(unsigned long long)T.seed);
	fflush(stderr);
	abort();
}

/*
 * Every 200 ms: has any thread made progress, and has each busy thread?
 * An idle one (paused, pacing, done) is waiting on purpose.
 */
static void *watchdog_fn(void *arg)
{
	uint64_t last_sum = UINT64_MAX, last[MAX_THREADS] = { 0 };
	uint64_t since_sum = platform_now_ns(), since[MAX_THREADS];
	uint64_t limit = (uint64_t)T.watchdog_s * 1000000000ull;
	void *warm[4];

	(void)arg;
	backtrace(warm, 4); /* loads the unwinder now, not in a handler */
	prctl(PR_SET_PTRACER, PR_SET_PTRACER_ANY);
	for (unsigned int i = 0; i < MAX_THREADS; i++)
		since[i] = since_sum;
	while (!atomic_load(&T.watchdog_stop)) {
		struct timespec ts = { 0, 200 * 1000 * 1000 };
		unsigned int n = atomic_load(&T.nr_threads);
		uint64_t now = platform_now_ns(), sum = 0;

		nanosleep(&ts, NULL);
		for (unsigned int i = 0; i < n; i++) {
			struct tthread *t = T.threads[i];
			uint64_t p = atomic_load(&t->progress);

			sum += p;
			if (p != last[i] || atomic_load(&t->idle)) {
				last[i] = p;
				since[i] = now;
			} else if (now - since[i] > limit) {
				watchdog_fire(t->name, T.watchdog_s);
			}
		}
		if (sum != last_sum) {
			last_sum = sum;
			since_sum = now;
		} else if (now - since_sum > limit) {
			watchdog_fire("no thread", T.watchdog_s);
		}
	}
	return NULL;
}

static void watchdog_start(void)
{
	assert_int_equal(pthread_create(&T.watchdog, NULL, watchdog_fn, NULL), 0);
}

static void watchdog_stop(void)
{
	atomic_store(&T.watchdog_stop, true);
	pthread_join(T.watchdog, NULL);
}

/* ---- the run ---- */

static uint64_t env_u64(const char *name, uint64_t def)
{
	const char *e = getenv(name);

	return e && *e ? strtoull(e, NULL, 0) : def;
}

static bool coverage(char *missing, size_t n)
{
	static const enum tcount need[] = {
		C_ALLOC, C_FREE, C_BURST, C_ANON_WRITE, C_ANON_VERIFY, C_COMPACT,
		C_HIGH_OK, C_CONTIG_OK, C_CONTIG_PAGES_OK, C_OFFLINE_OK, C_ONLINE,
		C_SWITCH_DIRECT, C_SWITCH_OFF_ON, C_REPORT_NOW, C_REG_REPORT,
		C_REG_PERCPU, C_REG_BITMAP, C_DISCARD_REPORT, C_DISCARD_PERCPU,
		C_DISCARD_BITMAP, C_DISCARD_OFFLINE, C_HOLES,
	};
	struct anon_stats st;
	struct compact_stats cs;
	size_t used = 0;

	missing[0] = 0;
	for (unsigned int i = 0; i < sizeof(need) / sizeof(need[0]); i++)
		if (!tcount_get(need[i]))
			used += (size_t)snprintf(missing + used, n - used, "%s%s",
						 used ? ", " : "", tcount_names[need[i]]);
	for (unsigned int o = 0; o < MAX_ORDER; o++) {
		if (!atomic_load(&T.orders[o]))
			used += (size_t)snprintf(missing + used, n - used,
						 "%sorder %u", used ? ", " : "", o);
	}
	anon_get_stats(T.pgdat, &st);
	compact_get_stats(T.pgdat, &cs);
	if (!st.zswap.events[ZSWAP_WRITTEN_BACK_PAGES])
		used += (size_t)snprintf(missing + used, n - used, "%szswap writeback",
					 used ? ", " : "");
	if (!st.events[PSWPIN])
		used += (size_t)snprintf(missing + used, n - used, "%sswap-in from the file",
					 used ? ", " : "");
	if (!cs.events[PGMIGRATE_SUCCESS])
		used += (size_t)snprintf(missing + used, n - used, "%smigration",
					 used ? ", " : "");
	return used == 0;
}

static void tweak_anon(struct anon_config *c)
{
	c->kswapd = false;
	c->zswap_cfg.max_pool_percent = 1;
	c->zswap_cfg.movable = T.policy;
	c->zswap_cfg.compressor = T.compressor;
}

static void setup(void)
{
	struct gmm_guest_config gc;
	struct anon_config ac;
	const char *dir = getenv("TMPDIR");
	uint64_t zero[PAGE_SIZE / 8] = { 0 };
	struct pglist_data *pgdat;

	gmm_guest_config_init(&gc);
	gc.mem_bytes = NODE_BYTES;
	gc.cpus = NODE_CPUS;
	gc.reporting = false; /* on after anonymous memory's tables are known */
	gc.hinting = GMM_HINTING_REPORT;
	gc.report_order = T.report_order;
	gc.report_capacity = 4;
	gc.report_hwm = 0;
	gc.report_delay_ms = 1;
	gc.report_min_age_ms = 0;
	gc.hint_entries = 16;
	gc.hint_poll_ms = 5;
	gc.hint_cap_bytes = 8 * MIB;
	assert_int_equal(gmm_guest_create(&gc, &T.g), 0);
	pgdat = T.pgdat = gmm_guest_pgdat(T.g);
	T.nr_pages = (uint32_t)pgdat->node_spanned_pages;
	T.owner = calloc(T.nr_pages, 1);
	assert_non_null(T.owner);
	assert_int_equal(swap_file_create(dir ? dir : "/tmp", SWAP_BYTES, &T.swap), 0);
	anon_config_init(&ac);
	ac.swap = T.swap;
	tweak_anon(&ac);
	assert_int_equal(anon_init(pgdat, &ac), 0);
	/* What anon_init() allocated stays put until anon_fini(). */
	for (uint32_t p = 0; p < T.nr_pages;) {
		const struct page *page = pfn_to_page(pgdat, p);

		if (page_flags_read(page) == PG_head) {
			assert_true(T.nr_meta < sizeof(T.meta) / sizeof(T.meta[0]));
			T.meta[T.nr_meta++] = (struct held_block){ p, page->order, false, 0 };
			p += 1u << page->order;
		} else {
			p += (page_flags_read(page) & (PG_buddy | PG_pcp)) ? 1u << page->order : 1;
		}
	}
	assert_int_equal(cma_declare_range(pgdat, CMA_START, CMA_END), 0);
	T.zero_sum = page_checksum(zero);
	C.expect = calloc(T.nr_pages, 1);
	C.expect_order = calloc(T.nr_pages, 1);
	C.expect_owner = calloc(T.nr_pages, 1);
	C.mapped = calloc(T.nr_pages, 1);
	C.cache = calloc(T.nr_pages, 1);
	C.slot = calloc(pgdat->lruvec->si.nr_slots, sizeof(*C.slot));
	C.reported = calloc(T.nr_pages, sizeof(*C.reported));
	C.reported_order = calloc(T.nr_pages, 1);
	assert_true(C.expect && C.expect_order && C.expect_owner && C.mapped && C.cache && C.slot &&
		    C.reported && C.reported_order);
	atomic_store(&T.memfd, gmm_guest_memfd(T.g));
	T.strategy = GMM_HINTING_REPORT;
	atomic_store(&T.discard_kinds, kind_of(T.strategy));
	assert_int_equal(gmm_guest_set_reporting(T.g, true), 0);
	T.reporting = true;
	count_registration(0);
}

static void teardown(void)
{
	struct pglist_data *pgdat = T.pgdat;
	uint64_t managed = 0;

	assert_int_equal(gmm_guest_set_reporting(T.g, false), 0);
	atomic_store(&T.discard_kinds, 0);
	for (unsigned int i = 0; i < NR_ANON; i++)
		mm_space_destroy(T.anon[i].mm);
	anon_fini(pgdat);
	drain_all_pages(pgdat);
	for (unsigned int z = 0; z < pgdat->nr_zones; z++)
		managed += zone_managed_pages(&pgdat->node_zones[z]);
	/* Everything came back: frames, tables, pool pages, metadata. */
	assert_int_equal(pgdat_free_pages(pgdat), managed);
	assert_int_equal(managed, T.nr_pages - pgdat->reserved_pages);
	assert_int_equal(buddy_check(pgdat), 0);
	atomic_store(&T.memfd, -1);
	swap_file_destroy(T.swap);
	gmm_guest_destroy(T.g);
	free(T.owner);
	free(C.expect);
	free(C.expect_order);
	free(C.expect_owner);
	free(C.mapped);
	free(C.cache);
	free(C.slot);
	free(C.reported);
	free(C.reported_order);
	for (unsigned int i = 0; i < NR_ALLOC; i++)
		free(T.alloc[i].burst);
}

static void test_torture(void **state)
{
	static char names[NR_ALLOC + NR_ANON][16];
	uint64_t checkpoint_every, next;
	char missing[1024];
	struct anon_stats st;
	struct compact_stats cs;
	unsigned int nbg = 0;

	(void)state;
	T.seed = test_seed();
	T.ops = env_u64("GUESTMM_TORTURE_OPS", TORTURE_OPS);
	T.watchdog_s = (unsigned int)env_u64("GUESTMM_TORTURE_WATCHDOG_S", WATCHDOG_S);
	T.report_order = 5 + (unsigned int)(T.seed >> 8) % 5;
	T.policy = (T.seed >> 16) % 2 ? ZPOOL_MOVABLE_UNUSE : ZPOOL_MOVABLE_MIGRATE;
	T.compressor = (T.seed >> 24) % 2 ? "zstd" : "lz4";
	pthread_mutex_init(&T.lock, NULL);
	pthread_cond_init(&T.cond, NULL);
	platform_bad_state_fatal(true);
	fprintf(stderr, "torture: GUESTMM_SEED=%#llx: %llu MiB, %u vCPUs, reporting order %u, "
		"zbud policy %s, %s; %llu operations per worker, %u allocation and %u "
		"anonymous workers; watchdog %u s\n",
		(unsigned long long)T.seed, NODE_BYTES >> 20, NODE_CPUS, T.report_order,
		zpool_movable_names[T.policy], T.compressor, (unsigned long long)T.ops,
		NR_ALLOC, NR_ANON, T.watchdog_s);
	setup();

	tregister(&T.checker, "checker", 0);
	atomic_store(&T.checker.idle, true);
	for (unsigned int i = 0; i < NR_ALLOC; i++) {
		struct alloc_worker *w = &T.alloc[i];

		snprintf(names[i], sizeof(names[i]), "alloc%u", i);
		w->id = (uint8_t)(i + 1);
		w->burst = calloc(BURST_MAX_BLOCKS, sizeof(*w->burst));
		assert_non_null(w->burst);
		tregister(&w->t, names[i], i);
		w->t.fn = alloc_worker_fn;
		w->t.op_thread = true;
		w->t.budget = T.ops;
	}
	for (unsigned int i = 0; i < NR_ANON; i++) {
		struct anon_worker *w = &T.anon[i];

		snprintf(names[NR_ALLOC + i], sizeof(names[0]), "anon%u", i);
		tregister(&w->t, names[NR_ALLOC + i], NR_ALLOC + i);
		w->t.fn = anon_worker_fn;
		w->t.op_thread = true;
		/*
		 * Its pages then go cold while the others run on: reclaim
		 * pushes them out until zbud reaches its limit and zswap
		 * writes back to the swap file.  While they are touched,
		 * faults and the spaces' rewrites bring them back as fast as
		 * reclaim takes them, and zbud stays far below its limit.
		 */
		w->t.budget_only = true;
		w->t.budget = T.ops;
		anon_space_new(w, 0);
	}
	atomic_store(&T.workers_left, NR_ALLOC + NR_ANON);
	static const struct {
		const char *name;
		void *(*fn)(void *);
		unsigned int pace;
	} bg[] = {
		{ "reclaim0", bg_reclaim_fn, 8 },  { "reclaim1", bg_reclaim_fn, 8 },
		{ "unuse", bg_unuse_fn, 16 },	   { "compact", compactor_fn, 150 },
		{ "contig", contig_fn, 150 },	   { "hotplug", hotplug_fn, 200 },
		{ "switcher", switcher_fn, 120 },
	};
	for (; nbg < sizeof(bg) / sizeof(bg[0]); nbg++) {
		struct tthread *t = &T.bgt[nbg];

		tregister(t, bg[nbg].name, nbg);
		t->fn = bg[nbg].fn;
		t->pace = bg[nbg].pace;
		t->bg = (struct stress_bg){ T.pgdat, &T.workers_left, T.seed, t->cpu,
					    bg_step };
	}
	watchdog_start();
	for (unsigned int i = 0; i < NR_ALLOC; i++)
		tstart(&T.alloc[i].t);
	for (unsigned int i = 0; i < NR_ANON; i++)
		tstart(&T.anon[i].t);
	for (unsigned int i = 0; i < nbg; i++)
		tstart(&T.bgt[i]);

	checkpoint_every = T.ops * (NR_ALLOC + NR_ANON) / NR_CHECKPOINTS;
	next = checkpoint_every;
	for (unsigned int round = 0; workers_running(); round++) {
		struct timespec ts = { 0, 2 * 1000 * 1000 };

		nanosleep(&ts, NULL);
		if (round % 64 == 0 && !atomic_load(&T.coverage_met) &&
		    coverage(missing, sizeof(missing))) {
			atomic_store(&T.coverage_met, true);
			print_message("torture: every feature exercised after %llu operations\n",
				      (unsigned long long)atomic_load(&T.op_count));
		}
		if (atomic_load(&T.op_count) >= next) {
			checkpoint("running");
			next += checkpoint_every;
			if (!atomic_load(&T.coverage_met) && !coverage(missing, sizeof(missing)))
				print_message("torture: not yet exercised: %s\n", missing);
		}
	}
	checkpoint("workers done");
	for (unsigned int i = 0; i < NR_ALLOC + NR_ANON; i++)
		pthread_join(i < NR_ALLOC ? T.alloc[i].t.thread
					  : T.anon[i - NR_ALLOC].t.thread, NULL);
	for (unsigned int i = 0; i < nbg; i++)
		pthread_join(T.bgt[i].thread, NULL);
	checkpoint("all threads done");

	/* Every anonymous page, one last time. */
	tdoing(&T.checker, "verifying every anonymous page", 0);
	atomic_store(&T.checker.idle, false);
	for (unsigned int i = 0; i < NR_ANON; i++)
		for (uint64_t k = 0; k < ANON_PAGES; k++) {
			int err = anon_verify(&T.anon[i], k, "final verify");

			TCHECK(!err, "final verify of anon%u page %llu: %d", i,
			       (unsigned long long)k, err);
		}
	atomic_store(&T.checker.idle, true);
	anon_get_stats(T.pgdat, &st);
	compact_get_stats(T.pgdat, &cs);
	for (unsigned int c = 0; c < NR_TCOUNTS; c++)
		print_message("torture: %-32s %llu\n", tcount_names[c],
			      (unsigned long long)tcount_get(c));
	print_message("torture: pgsteal %llu pgmajfault %llu pswpin %llu pswpout %llu unuse %llu "
		      "allocstall %llu; zswap stored %llu written back %llu limit hits %llu "
		      "unused %llu; pgmigrate %llu failed %llu released %llu; compact stall %llu "
		      "cma ok %llu failed %llu\n",
		      (unsigned long long)st.events[PGSTEAL], (unsigned long long)st.events[PGMAJFAULT],
		      (unsigned long long)st.events[PSWPIN], (unsigned long long)st.events[PSWPOUT],
		      (unsigned long long)st.events[SWAP_UNUSE],
		      (unsigned long long)st.events[ALLOCSTALL],
		      (unsigned long long)st.zswap.stored_pages,
		      (unsigned long long)st.zswap.events[ZSWAP_WRITTEN_BACK_PAGES],
		      (unsigned long long)st.zswap.events[ZSWAP_POOL_LIMIT_HIT],
		      (unsigned long long)st.zswap.events[ZSWAP_UNUSED_PAGES],
		      (unsigned long long)cs.events[PGMIGRATE_SUCCESS],
		      (unsigned long long)cs.events[PGMIGRATE_FAIL],
		      (unsigned long long)cs.events[PGMIGRATE_RELEASED],
		      (unsigned long long)cs.events[COMPACT_STALL],
		      (unsigned long long)cs.events[CMA_ALLOC_SUCCESS],
		      (unsigned long long)cs.events[CMA_ALLOC_FAIL]);
	if (!coverage(missing, sizeof(missing)))
		torture_fail("never exercised in %llu operations: %s",
			     (unsigned long long)atomic_load(&T.op_count), missing);
	watchdog_stop();
	teardown();
	platform_bad_state_fatal(false);
}

/* ---- the watchdog, proven on a hang ---- */

static atomic_bool selftest_holding;

/* Holds the zone lock for ever: the hang the watchdog must name. */
void torture_selftest_hold(struct tthread *t);
__attribute__((noinline)) void torture_selftest_hold(struct tthread *t)
{
	tdoing(t, "holding a lock for ever", 0);
	spin_lock(&T.pgdat->node_zones[ZONE_NORMAL].lock);
	atomic_store(&selftest_holding, true);
	for (;;)
		pause();
}

static void *selftest_holder_fn(void *arg)
{
	torture_selftest_hold(arg);
	return NULL;
}

static void *selftest_waiter_fn(void *arg)
{
	struct tthread *t = arg;

	while (!atomic_load(&selftest_holding))
		sched_yield();
	tdoing(t, "an order-3 allocation", 3);
	alloc_pages(T.pgdat, 0, 3); /* waits for the zone lock for ever */
	return NULL;
}

/* `test_torture watchdog-hang`: a node whose zone lock is never released. */
static int watchdog_hang(void)
{
	struct gmm_guest_config gc;
	static struct tthread holder, waiter;

	T.seed = test_seed();
	T.watchdog_s = 2;
	pthread_mutex_init(&T.lock, NULL);
	pthread_cond_init(&T.cond, NULL);
	gmm_guest_config_init(&gc);
	gc.mem_bytes = 64 * MIB;
	gc.cpus = 1;
	gc.reporting = false;
	if (gmm_guest_create(&gc, &T.g))
		return 1;
	T.pgdat = gmm_guest_pgdat(T.g);
	tregister(&holder, "hang-holder", 0);
	tregister(&waiter, "hang-waiter", 0);
	holder.fn = selftest_holder_fn;
	waiter.fn = selftest_waiter_fn;
	watchdog_start();
	tstart(&holder);
	tstart(&waiter);
	pthread_join(waiter.thread, NULL);
	return 1; /* never: the watchdog ends the process */
}

/* Run `test_torture watchdog-hang`; its stderr into @out.  Return: status. */
static int watchdog_child(bool no_gdb, char *out, size_t size)
{
	size_t len = 0;
	int pfd[2], st;
	pid_t pid;

	assert_int_equal(pipe(pfd), 0);
	pid = fork();
	assert_true(pid >= 0);
	if (pid == 0) {
		dup2(pfd[1], 2);
		close(pfd[0]);
		close(pfd[1]);
		if (no_gdb)
			setenv("GUESTMM_TORTURE_NO_GDB", "1", 1);
		execl("/proc/self/exe", "test_torture", "watchdog-hang", (char *)NULL);
		_exit(127);
	}
	close(pfd[1]);
	for (;;) {
		ssize_t n = read(pfd[0], out + len, size - 1 - len);

		if (n < 0 && errno == EINTR)
			continue;
		if (n <= 0)
			break;
		len += (size_t)n;
	}
	out[len] = 0;
	close(pfd[0]);
	assert_int_equal(waitpid(pid, &st, 0), pid);
	return st;
}

/*
 * The watchdog fires on a hang: a child whose zone lock is held for ever
 * and whose allocation waits for it must end by abort(), having named the
 * stuck threads, what they were doing, their stacks (the function holding
 * the lock, the allocation waiting in spin_lock) and the seed - through
 * gdb where there is one, and through each thread's backtrace() without.
 */
static void test_watchdog_dumps_stacks_and_fails(void **state)
{
	static char out[1 << 20];

	(void)state;
	for (int no_gdb = 0; no_gdb < 2; no_gdb++) {
		int st = watchdog_child(no_gdb, out, sizeof(out));

		if (!WIFSIGNALED(st) || WTERMSIG(st) != SIGABRT ||
		    !strstr(out, "torture: watchdog: ") || !strstr(out, "no progress") ||
		    !strstr(out, "GUESTMM_SEED=") || !strstr(out, "hang-holder") ||
		    !strstr(out, "holding a lock for ever") || !strstr(out, "hang-waiter") ||
		    !strstr(out, "torture_selftest_hold") || !strstr(out, "spin_lock") ||
		    !strstr(out, "alloc_pages") || !strstr(out, "failing the run") ||
		    (no_gdb && !strstr(out, "no gdb")))
			fail_msg("the watchdog's child (%s) ended with status %#x; its output:\n%s",
				 no_gdb ? "no gdb" : "gdb if there is one", st, out);
		print_message("watchdog: the hang was named, the stacks dumped (%s), the run failed\n",
			      strstr(out, "no gdb") ? "backtrace()" : "gdb");
	}
}

int main(int argc, char **argv)
{
	const struct CMUnitTest torture[] = {
		cmocka_unit_test(test_torture),
	};
	const struct CMUnitTest watchdog[] = {
		cmocka_unit_test(test_watchdog_dumps_stacks_and_fails),
	};

	if (argc > 1 && !strcmp(argv[1], "watchdog-hang"))
		return watchdog_hang();
	if (argc > 1 && !strcmp(argv[1], "watchdog"))
		return cmocka_run_group_tests(watchdog, NULL, NULL);
	return cmocka_run_group_tests(torture, NULL, NULL);
}
