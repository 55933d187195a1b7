/*
 * test_races.c - issue 16, items 7 to 10: the core's races and counts.
 *
 *   7  free_bitmap_unregister() against an allocation that lands on a chunk
 *      the host is still discarding (alloc_pages(), alloc_contig_range()),
 *      and against a new hint request;
 *   8  re-registering the bitmap while an allocation of the previous
 *      registration waits on it: the wake-up it needs, and (under
 *      ThreadSanitizer) the fields it reads;
 *   9  free frames on MIGRATE_ISOLATE pageblocks left out of the zone's free
 *      count: the watermarks, kswapd and the validator;
 *  10  page_hinting_check() with a memory block offline.
 *
 * The race tests hold their window open where a thread parks or drains:
 * the executable is linked with -Wl,--wrap=platform_park and
 * -Wl,--wrap=drain_all_pages, and a test arms a hook that runs at that
 * point in the thread it names.  No test depends on timing: a thread that
 * would sleep for ever is seen from the futex word it would sleep on.
 * Every race test checks data the host's discard would have zeroed.
 */
#include "anonutil.h"

#include <pthread.h>
#include <unistd.h>

#include "guestmm/guest.h"
#include "mm/compaction.h"
#include "mm/free_bitmap.h"

#define MIB (1ull << 20)
#define BASE (1ull << 30)
#define CHUNK_BYTES ((size_t)PAGEBLOCK_NR_PAGES * PAGE_SIZE)

/* ---- the windows: platform_park() and drain_all_pages(), wrapped ---- */

void __real_platform_park(atomic_uint *addr, unsigned int expected);
void __wrap_platform_park(atomic_uint *addr, unsigned int expected);
void __real_drain_all_pages(struct pglist_data *pgdat);
void __wrap_drain_all_pages(struct pglist_data *pgdat);

enum park_role { ROLE_NONE, ROLE_ALLOC, ROLE_UNREGISTER };
static _Thread_local enum park_role park_role;
/* The word the test watches (a bitmap's ack_seq); set before any thread. */
static atomic_uint *park_watch;
/* Run once, in the ROLE_ALLOC thread, when it is about to park there. */
static void (*park_hook)(void);
/* After the hook: nobody will change the word again; a sleep is for ever. */
static bool park_hook_last_waker;
static atomic_bool unreg_parked;
static bool lost_wakeup;
static unsigned int lost_wakeup_seq;

void __wrap_platform_park(atomic_uint *addr, unsigned int expected)
{
	if (addr && addr == park_watch) {
		if (park_role == ROLE_UNREGISTER)
			atomic_store(&unreg_parked, true);
		if (park_role == ROLE_ALLOC && park_hook) {
			void (*hook)(void) = park_hook;

			park_hook = NULL;
			hook();
			/*
			 * FUTEX_WAIT sleeps while *addr == expected, and the
			 * hook was the last thing that would ever change it:
			 * this thread would sleep for ever.  Say so and come
			 * back instead (a spurious return, which callers
			 * take).
			 */
			if (park_hook_last_waker && atomic_load(addr) == expected) {
				lost_wakeup = true;
				lost_wakeup_seq = expected;
				return;
			}
		}
	}
	__real_platform_park(addr, expected);
}

static _Thread_local void (*drain_hook)(void);

void __wrap_drain_all_pages(struct pglist_data *pgdat)
{
	void (*hook)(void) = drain_hook;

	__real_drain_all_pages(pgdat);
	if (hook) {
		drain_hook = NULL;
		hook();
	}
}

/* Wait (bounded) for @flag; the bound is a hang, not a timing. */
static void wait_flag(atomic_bool *flag, const char *what)
{
	for (int i = 0; i < 30000 && !atomic_load(flag); i++)
		usleep(1000);
	if (!atomic_load(flag))
		fail_msg("still waiting after 30 s for %s", what);
}

/* ---- the bitmap's host: claims, discards (zeroes, as MADV_DONTNEED), acks ---- */

static struct {
	struct pglist_data *pgdat;
	struct free_bitmap *fb;
	uint32_t cmd;
	struct free_page_hint_run runs[FREE_BITMAP_RUNS_MAX];
	unsigned int nr;
	bool acked;
} host;

static struct free_bitmap *bitmap_on(struct pglist_data *pgdat, unsigned int order)
{
	struct free_bitmap *fb = calloc(1, free_bitmap_size(pgdat->node_spanned_pages,
							    order));

	assert_non_null(fb);
	fb->order = order;
	assert_int_equal(free_bitmap_register(pgdat, fb), 0);
	return fb;
}

/* The host asks, under command 2, for at most @max_pages (0: everything). */
static void host_claim(struct pglist_data *pgdat, struct free_bitmap *fb,
		       uint64_t max_pages)
{
	memset(&host, 0, sizeof(host));
	host.pgdat = pgdat;
	host.fb = fb;
	host.cmd = 2;
	assert_int_equal(free_bitmap_request_hints(fb, host.cmd, host.runs,
						   FREE_BITMAP_RUNS_MAX, max_pages,
						   &host.nr), 0);
	assert_true(host.nr > 0);
}

static void host_discard_and_ack(void)
{
	for (unsigned int i = 0; i < host.nr; i++)
		memset(page_address(host.pgdat, pfn_to_page(host.pgdat, host.runs[i].pfn)),
		       0, (size_t)host.runs[i].nr_pages * PAGE_SIZE);
	host.acked = true;
	assert_int_equal(free_bitmap_ack(host.fb, host.cmd), 0);
}

static void *unregister_fn(void *arg)
{
	park_role = ROLE_UNREGISTER;
	free_bitmap_unregister(arg);
	return NULL;
}

/* Start free_bitmap_unregister() in a thread; return once it waits for the ack. */
static void unregister_start(struct free_bitmap *fb, pthread_t *t)
{
	park_watch = &fb->ack_seq;
	atomic_store(&unreg_parked, false);
	assert_int_equal(pthread_create(t, NULL, unregister_fn, fb), 0);
	wait_flag(&unreg_parked, "free_bitmap_unregister() to wait for the host's ack");
}

static void check_pattern(const unsigned char *p, size_t n, unsigned char c,
			  const char *what, uint32_t pfn)
{
	for (size_t i = 0; i < n; i++)
		if (p[i] != c)
			fail_msg("%s: byte %zu of pfn %#x is %#x, written %#x: the host's "
				 "discard zeroed what the allocation wrote", what, i, pfn,
				 p[i], c);
}

/* ---- 7. unregistration keeps allocations waiting until the ack ---- */

/*
 * Order-9 allocations from ZONE_LOW until one returns the chunk the host
 * holds; the others are kept in @held.  Return: that chunk's page.
 */
static struct page *alloc_until(struct pglist_data *pgdat, uint32_t want,
				struct page **held, unsigned int *nheld,
				unsigned int max)
{
	for (;;) {
		struct page *page = alloc_pages(pgdat, GFP_MOVABLE | GFP_LOW,
						PAGEBLOCK_ORDER);

		if (!page)
			fail_msg("ZONE_LOW ran out before the host's chunk %#x was allocated",
				 want);
		if (page_to_pfn(pgdat, page) == want)
			return page;
		assert_true(*nheld < max);
		held[(*nheld)++] = page;
	}
}

/*
 * The host holds one chunk (2 MiB) under a command; the guest unregisters,
 * which waits for the ack; meanwhile an allocation lands on that chunk.
 * It must not get it before the ack, so nothing it writes is zeroed by the
 * discard.  Unregistration used to stop allocations from waiting first
 * (it cleared pgdat->free_bitmap before its wait).  A new hint request
 * during the wait is refused: unregistration has begun.
 */
static void test_unregister_keeps_alloc_waiting(void **state)
{
	struct test_node t;
	struct pglist_data *pgdat;
	struct free_bitmap *fb;
	struct free_page_hint_run runs[4];
	struct page *held[64], *page;
	unsigned int nheld = 0, nr;
	bool got_before_ack;
	uint32_t chunk;
	pthread_t u;

	test_node_init(&t, 64 * MIB, 1);
	pgdat = t.pgdat;
	fb = bitmap_on(pgdat, PAGEBLOCK_ORDER);
	host_claim(pgdat, fb, PAGEBLOCK_NR_PAGES);
	assert_int_equal(host.nr, 1);
	assert_int_equal(host.runs[0].nr_pages, PAGEBLOCK_NR_PAGES);
	chunk = host.runs[0].pfn;
	assert_true(chunk < pgdat->node_zones[ZONE_NORMAL].zone_start_pfn);

	unregister_start(fb, &u);
	assert_int_equal(free_bitmap_request_hints(fb, 3, runs, 4, 0, &nr), -GMM_ENOENT);
	/* The allocation: if it parks on the chunk, the host acts then. */
	park_role = ROLE_ALLOC;
	park_hook = host_discard_and_ack;
	page = alloc_until(pgdat, chunk, held, &nheld, 64);
	got_before_ack = !host.acked;
	memset(page_address(pgdat, page), 0x5a, CHUNK_BYTES);
	park_hook = NULL;
	park_role = ROLE_NONE;
	/* The host's discard, if the allocation did not wait for it. */
	if (!host.acked)
		host_discard_and_ack();
	pthread_join(u, NULL);
	park_watch = NULL;

	check_pattern(page_address(pgdat, page), CHUNK_BYTES, 0x5a,
		      "alloc_pages() during free_bitmap_unregister()", chunk);
	if (got_before_ack)
		fail_msg("alloc_pages() handed out pfn %#x, which the host was discarding, "
			 "before the host's ack (during free_bitmap_unregister()'s wait)",
			 chunk);
	assert_int_equal(atomic_load(&fb->alloc_waits), 1);
	assert_null(atomic_load(&pgdat->free_bitmap));
	assert_int_equal(free_pages(pgdat, page, PAGEBLOCK_ORDER), 0);
	while (nheld)
		assert_int_equal(free_pages(pgdat, held[--nheld], PAGEBLOCK_ORDER), 0);
	assert_int_equal(buddy_check(pgdat), 0);
	free(fb);
	test_node_fini(&t);
}

/*
 * The same window for alloc_contig_range(): it takes the free blocks of a
 * 4 MiB range the host holds (take_free_range()) while the unregistration
 * waits for the ack.
 */
static void test_unregister_keeps_contig_range_waiting(void **state)
{
	struct anon_node n;
	struct pglist_data *pgdat;
	struct free_bitmap *fb;
	uint32_t start = 0, end;
	bool got_before_ack;
	pthread_t u;

	anon_node_init_cfg(&n, 64 * MIB, 64 * MIB, NULL);
	pgdat = n.t.pgdat;
	fb = bitmap_on(pgdat, PAGEBLOCK_ORDER);
	host_claim(pgdat, fb, 0);
	/* A 4 MiB range wholly inside a run the host holds. */
	for (unsigned int i = 0; i < host.nr && !start; i++) {
		uint32_t s = (host.runs[i].pfn + MAX_ORDER_NR_PAGES - 1) &
			     ~(uint32_t)(MAX_ORDER_NR_PAGES - 1);

		if (s >= pgdat->reserved_pages &&
		    s + MAX_ORDER_NR_PAGES <= host.runs[i].pfn + host.runs[i].nr_pages)
			start = s;
	}
	assert_true(start != 0);
	end = start + MAX_ORDER_NR_PAGES;

	unregister_start(fb, &u);
	park_role = ROLE_ALLOC;
	park_hook = host_discard_and_ack;
	assert_int_equal(alloc_contig_range(pgdat, start, end, NULL), 0);
	got_before_ack = !host.acked;
	memset(page_address(pgdat, pfn_to_page(pgdat, start)), 0xa5,
	       (size_t)MAX_ORDER_NR_PAGES * PAGE_SIZE);
	park_hook = NULL;
	park_role = ROLE_NONE;
	if (!host.acked)
		host_discard_and_ack();
	pthread_join(u, NULL);
	park_watch = NULL;

	check_pattern(page_address(pgdat, pfn_to_page(pgdat, start)),
		      (size_t)MAX_ORDER_NR_PAGES * PAGE_SIZE, 0xa5,
		      "alloc_contig_range() during free_bitmap_unregister()", start);
	if (got_before_ack)
		fail_msg("alloc_contig_range() handed out [%#x, %#x), which the host was "
			 "discarding, before the host's ack", start, end);
	assert_int_equal(free_contig_range(pgdat, start, end), 0);
	anon_node_fini(&n);
	free(fb);
}

/* ---- 8. re-registration while an allocation of the last one waits ---- */

static void ack_unregister_register(void)
{
	host_discard_and_ack();
	free_bitmap_unregister(host.fb);
	assert_int_equal(free_bitmap_register(host.pgdat, host.fb), 0);
	/* No command is in flight and no host runs: no ack will come. */
	park_hook_last_waker = true;
}

/*
 * The allocation read ack_seq and is about to park on it (the window is
 * held open there): the ack comes, the bitmap is unregistered and
 * registered again.  A registration that resets ack_seq to the value the
 * allocation read makes it sleep until some later ack - for ever, here.
 */
static void test_reregister_keeps_wakeup(void **state)
{
	struct test_node t;
	struct pglist_data *pgdat;
	struct free_bitmap *fb;
	struct page *held[64], *page;
	unsigned int nheld = 0;
	uint32_t chunk;

	test_node_init(&t, 64 * MIB, 1);
	pgdat = t.pgdat;
	fb = bitmap_on(pgdat, PAGEBLOCK_ORDER);
	host_claim(pgdat, fb, PAGEBLOCK_NR_PAGES);
	assert_int_equal(host.nr, 1);
	chunk = host.runs[0].pfn;

	park_watch = &fb->ack_seq;
	park_role = ROLE_ALLOC;
	park_hook = ack_unregister_register;
	park_hook_last_waker = false;
	lost_wakeup = false;
	page = alloc_until(pgdat, chunk, held, &nheld, 64);
	park_role = ROLE_NONE;
	park_hook_last_waker = false;
	park_watch = NULL;
	if (park_hook)
		fail_msg("the allocation of pfn %#x, held by the host, never waited", chunk);
	if (lost_wakeup)
		fail_msg("the allocation parks on ack_seq == %u after its ack, the "
			 "unregistration and a new registration: it would sleep until some "
			 "later command's ack (a lost wake-up)", lost_wakeup_seq);
	memset(page_address(pgdat, page), 0x3c, CHUNK_BYTES);
	check_pattern(page_address(pgdat, page), CHUNK_BYTES, 0x3c,
		      "alloc_pages() across a re-registration", chunk);
	/* The new registration works: a round trip of its own. */
	host_claim(pgdat, fb, 0);
	assert_int_equal(free_bitmap_check(fb), 0);
	host_discard_and_ack();
	assert_int_equal(free_bitmap_check(fb), 0);
	free_bitmap_unregister(fb);
	assert_int_equal(free_pages(pgdat, page, PAGEBLOCK_ORDER), 0);
	while (nheld)
		assert_int_equal(free_pages(pgdat, held[--nheld], PAGEBLOCK_ORDER), 0);
	assert_int_equal(buddy_check(pgdat), 0);
	free(fb);
	test_node_fini(&t);
}

/*
 * A guest in process with the bitmap strategy, its host thread asking for
 * one chunk at a time every millisecond, and two vCPUs allocating and
 * freeing blocks of orders 0 and 9, each filled with a pattern checked
 * before it is freed; meanwhile the strategy is stopped and started again
 * and again (guest.c unregisters and registers the same bitmap).  Under
 * ThreadSanitizer (label concurrency) this is where a registration's writes
 * met an allocation of the last one reading the struct; here, every
 * pattern must survive the discards and the guest validate at the end.
 */
#define REREG_OPS 20000
#define REREG_TOGGLES 200
#define REREG_HELD 8

struct rereg_vcpu {
	struct gmm_guest *g;
	unsigned int cpu;
	atomic_bool *stop;
	uint64_t ops, bad;
};

static void *rereg_vcpu_fn(void *arg)
{
	struct rereg_vcpu *v = arg;
	struct pglist_data *pgdat = gmm_guest_pgdat(v->g);
	struct { struct page *page; unsigned int order; uint8_t c; } held[REREG_HELD];
	unsigned int n = 0;
	uint64_t rng = 0x9e3779b97f4a7c15ull * (v->cpu + 1);

	platform_set_cpu_id(v->cpu);
	for (v->ops = 0; v->ops < REREG_OPS || !atomic_load(v->stop); v->ops++) {
		uint64_t r = test_rand(&rng);

		if (n == REREG_HELD || (n && (r & 1))) {
			unsigned int k = (unsigned int)(r >> 8) % n;
			const uint8_t *p = page_address(pgdat, held[k].page);
			size_t bytes = PAGE_SIZE << held[k].order;

			for (size_t i = 0; i < bytes; i += 64)
				if (p[i] != held[k].c) {
					v->bad++;
					break;
				}
			free_pages(pgdat, held[k].page, held[k].order);
			held[k] = held[--n];
		} else {
			unsigned int order = (r >> 16) % 4 ? 0 : PAGEBLOCK_ORDER;
			struct page *page = alloc_pages(pgdat, GFP_MOVABLE, order);

			if (!page)
				continue;
			held[n].page = page;
			held[n].order = order;
			held[n].c = (uint8_t)(r >> 24) | 1;
			memset(page_address(pgdat, page), held[n].c, PAGE_SIZE << order);
			n++;
		}
	}
	while (n--)
		free_pages(pgdat, held[n].page, held[n].order);
	return NULL;
}

static void test_reregister_under_load(void **state)
{
	struct gmm_guest_config cfg;
	struct gmm_guest *g;
	struct rereg_vcpu v[2];
	pthread_t th[2];
	atomic_bool stop = false;

	gmm_guest_config_init(&cfg);
	cfg.mem_bytes = 64 * MIB;
	cfg.cpus = 2;
	cfg.hinting = GMM_HINTING_BITMAP;
	cfg.hint_poll_ms = 1;
	cfg.hint_cap_bytes = 2 * MIB;
	assert_int_equal(gmm_guest_create(&cfg, &g), 0);
	for (unsigned int i = 0; i < 2; i++) {
		v[i] = (struct rereg_vcpu){ .g = g, .cpu = i, .stop = &stop };
		assert_int_equal(pthread_create(&th[i], NULL, rereg_vcpu_fn, &v[i]), 0);
	}
	for (unsigned int i = 0; i < REREG_TOGGLES; i++) {
		assert_int_equal(gmm_guest_set_reporting(g, false), 0);
		assert_int_equal(gmm_guest_set_reporting(g, true), 0);
		if (i % 16 == 0)
			assert_int_equal(gmm_guest_report_now(g), 0);
	}
	atomic_store(&stop, true);
	for (unsigned int i = 0; i < 2; i++)
		pthread_join(th[i], NULL);
	for (unsigned int i = 0; i < 2; i++) {
		print_message("vCPU %u: %llu operations\n", i, (unsigned long long)v[i].ops);
		if (v[i].bad)
			fail_msg("vCPU %u: %llu blocks lost what was written to them",
				 i, (unsigned long long)v[i].bad);
	}
	assert_int_equal(gmm_guest_validate(g), 0);
	gmm_guest_destroy(g);
}

/* ---- 9. isolated free frames are not free memory ---- */

/* Free frames on a zone's lists other than MIGRATE_ISOLATE's. */
static uint64_t zone_free_outside_isolate(struct zone *zone, struct zone_stats *st)
{
	uint64_t free = 0;

	zone_get_stats(zone, st);
	for (unsigned int o = 0; o < MAX_ORDER; o++)
		for (unsigned int mt = 0; mt < MIGRATE_TYPES; mt++)
			if (mt != MIGRATE_ISOLATE)
				free += st->free_blocks[o][mt] << o;
	return free;
}

static uint64_t zone_isolated_free(struct zone_stats *st)
{
	uint64_t free = 0;

	for (unsigned int o = 0; o < MAX_ORDER; o++)
		free += st->free_blocks[o][MIGRATE_ISOLATE] << o;
	return free;
}

static struct {
	struct anon_node *n;
	uint32_t start, end;
	bool ran;
} iso;

#define ISO_MAX_HELD 40000

/*
 * Inside alloc_contig_range(), just after its range was isolated and the
 * per-CPU lists drained.
 */
static void isolated_range_checks(void)
{
	struct pglist_data *pgdat = iso.n->t.pgdat;
	struct page **held = calloc(ISO_MAX_HELD, sizeof(*held));
	uint64_t isolated = 0, low = 0, touched = 0, free_outside;
	struct anon_stats ast;
	struct mm_space *mm;

	assert_non_null(held);
	iso.ran = true;
	/* 1. The count: free memory outside the isolated pageblocks only. */
	for (unsigned int z = 0; z < pgdat->nr_zones; z++) {
		struct zone *zone = &pgdat->node_zones[z];
		struct zone_stats st;
		uint64_t outside = zone_free_outside_isolate(zone, &st);

		isolated += zone_isolated_free(&st);
		low += st.watermark[WMARK_LOW];
		if (st.free_pages != outside)
			fail_msg("zone %s: free_pages %llu with the range [%#x, %#x) isolated, "
				 "but free blocks outside isolated pageblocks make %llu "
				 "(%llu isolated free frames counted)", zone->name,
				 (unsigned long long)st.free_pages, iso.start, iso.end,
				 (unsigned long long)outside,
				 (unsigned long long)zone_isolated_free(&st));
	}
	print_message("isolated free frames: %llu\n", (unsigned long long)isolated);
	/* Mostly free: the range is most of the node's free memory. */
	assert_true(isolated >= (iso.end - iso.start) / 2);
	assert_int_equal(buddy_check(pgdat), 0);

	/* 2. The watermark stops order-0 allocations, and only it does. */
	for (unsigned int k = 0;; k++) {
		struct page *page;

		assert_true(k < ISO_MAX_HELD);
		page = alloc_pages(pgdat, GFP_MOVABLE, 0);
		if (page) {
			uint32_t pfn = page_to_pfn(pgdat, page);

			if (pfn >= iso.start && pfn < iso.end)
				fail_msg("alloc_pages() returned pfn %#x of the isolated range", pfn);
			held[k] = page;
			continue;
		}
		for (unsigned int z = 0; z < pgdat->nr_zones; z++) {
			struct zone *zone = &pgdat->node_zones[z];

			if (zone_managed_pages(zone) &&
			    zone_free_pages(zone) >= zone_wmark(zone, WMARK_MIN) + 1)
				fail_msg("alloc_pages() failed after %u frames with zone %s's "
					 "free_pages %llu against its min watermark %llu: a "
					 "watermark passed on isolated memory", k, zone->name,
					 (unsigned long long)zone_free_pages(zone),
					 (unsigned long long)zone_wmark(zone, WMARK_MIN));
		}
		while (k)
			free_pages(pgdat, held[--k], 0);
		break;
	}
	drain_all_pages(pgdat);

	/*
	 * 3. Faults use the memory outside the range: kswapd is woken once
	 * the free memory there falls under the low watermark.
	 */
	free_outside = pgdat_free_pages(pgdat);
	assert_int_equal(mm_space_create(pgdat, &mm), 0);
	assert_int_equal(mm_mmap(mm, BASE, ISO_MAX_HELD * PAGE_SIZE), 0);
	anon_get_stats(pgdat, &ast);
	assert_int_equal(ast.events[KSWAPD_WAKE], 0);
	for (; touched < ISO_MAX_HELD && !ast.events[KSWAPD_WAKE]; touched++) {
		struct page *page;

		if (access_page(mm, BASE + touched * PAGE_SIZE, true, &page))
			break;
		put_page(pgdat, page);
		anon_get_stats(pgdat, &ast);
	}
	if (!ast.events[KSWAPD_WAKE])
		fail_msg("%llu pages faulted in with the range isolated (low watermarks %llu "
			 "frames, free_pages %llu at the start): kswapd never woken",
			 (unsigned long long)touched, (unsigned long long)low,
			 (unsigned long long)free_outside);
	print_message("kswapd woken after %llu faults\n", (unsigned long long)touched);
	mm_space_destroy(mm);
	drain_all_pages(pgdat);
	free(held);
}

static void tweak_kswapd(struct anon_config *cfg)
{
	cfg->kswapd = true;
}

/*
 * alloc_contig_range() holds a 32 MiB range of a 64 MiB node isolated, all
 * of it free: the zone's free count, the watermark tests and kswapd's
 * wake-up must see only the memory outside it.  They used to see the
 * isolated free frames too: alloc_pages() failed with thousands of frames
 * "free" against a min watermark of a few hundred, and kswapd was never
 * woken.  Afterwards the count is what it was.
 */
static void test_isolated_free_not_counted(void **state)
{
	struct anon_node n;
	struct pglist_data *pgdat;
	uint64_t free_before;
	int err;

	anon_node_init_cfg(&n, 64 * MIB, 64 * MIB, tweak_kswapd);
	pgdat = n.t.pgdat;
	drain_all_pages(pgdat);
	free_before = pgdat_free_pages(pgdat);
	iso.n = &n;
	iso.start = 8192;
	iso.end = 16384;
	iso.ran = false;
	assert_int_equal(iso.end, pgdat->node_spanned_pages);
	drain_hook = isolated_range_checks;
	err = alloc_contig_range(pgdat, iso.start, iso.end, NULL);
	drain_hook = NULL;
	assert_true(iso.ran);
	print_message("alloc_contig_range: %d\n", err);
	if (err == 0)
		assert_int_equal(free_contig_range(pgdat, iso.start, iso.end), 0);
	else
		assert_int_equal(err, -GMM_EBUSY); /* a metadata page there */
	drain_all_pages(pgdat);
	assert_int_equal(buddy_check(pgdat), 0);
	assert_int_equal(pgdat_free_pages(pgdat), free_before);
	anon_node_fini(&n);
}

/*
 * The validator counts only free blocks outside isolated pageblocks: a
 * zone whose free_pages still counts an isolated block is refused.
 */
static void test_buddy_check_isolated_count(void **state)
{
	struct anon_node n;
	struct pglist_data *pgdat;
	struct zone *zone;

	anon_node_init_cfg(&n, 64 * MIB, 64 * MIB, NULL);
	pgdat = n.t.pgdat;
	zone = &pgdat->node_zones[ZONE_NORMAL];
	iso.n = &n;
	iso.start = 8192;
	iso.end = 12288;
	drain_hook = NULL;
	/* Isolate by hand as alloc_contig_range() does: under the zone lock. */
	spin_lock(&zone->lock);
	for (uint32_t pfn = iso.start; pfn < iso.end; pfn += PAGEBLOCK_NR_PAGES)
		set_pageblock_migratetype(pgdat, pfn, MIGRATE_ISOLATE);
	spin_unlock(&zone->lock);
	/* The lists still hold those blocks as movable: the validator says so. */
	assert_int_equal(buddy_check(pgdat), -GMM_EUCLEAN);
	spin_lock(&zone->lock);
	for (uint32_t pfn = iso.start; pfn < iso.end; pfn += PAGEBLOCK_NR_PAGES)
		set_pageblock_migratetype(pgdat, pfn, MIGRATE_MOVABLE);
	spin_unlock(&zone->lock);
	assert_int_equal(buddy_check(pgdat), 0);
	/* A count one frame off is refused too. */
	spin_lock(&zone->lock);
	atomic_fetch_add(&zone->free_pages, 1);
	spin_unlock(&zone->lock);
	assert_int_equal(buddy_check(pgdat), -GMM_EUCLEAN);
	spin_lock(&zone->lock);
	atomic_fetch_sub(&zone->free_pages, 1);
	spin_unlock(&zone->lock);
	anon_node_fini(&n);
}

/* ---- 10. page hinting's validator with a memory block offline ---- */

struct stale_dev {
	struct page_reporting_dev_info prdev; /* first: container_of is a cast */
	struct pglist_data *pgdat;
	uint32_t off_start, off_end;
	unsigned int reports, bad;
};

static int stale_report(struct page_reporting_dev_info *prdev,
			struct scatterlist *sg, unsigned int nents)
{
	struct stale_dev *d = (struct stale_dev *)prdev;

	for (unsigned int i = 0; i < nents; i++) {
		uint32_t pfn = page_to_pfn(d->pgdat, sg[i].page);

		if (pfn < d->off_end && pfn + (sg[i].length >> PAGE_SHIFT) > d->off_start)
			d->bad++;
	}
	d->reports++;
	return 0;
}

/*
 * Page hinting (manual passes) records the 4 MiB pieces a memory block's
 * onlining frees; the block goes offline again and its pieces' heads are
 * PG_reserved.  The node is healthy: the validator must say so (it said
 * -EUCLEAN, "was never a freed block"), a pass must hint nothing of the
 * offline block, and onlining it again leaves everything consistent.
 */
static void test_hinting_check_offline_block(void **state)
{
	struct anon_node n;
	struct pglist_data *pgdat;
	struct stale_dev d = { 0 };
	struct page_hinting ph;
	uint32_t b, start = 0, end = 0, entries = 0;

	anon_node_init_cfg(&n, 384 * MIB, 64 * MIB, NULL);
	pgdat = n.t.pgdat;
	page_reporting_dev_info_init(&d.prdev);
	d.prdev.report = stale_report;
	d.pgdat = pgdat;
	page_hinting_init(&ph);
	ph.dev = &d.prdev;
	ph.manual = true;
	assert_int_equal(page_hinting_register(pgdat, &ph), 0);
	/* A block that goes offline (metadata and the arrays sit elsewhere). */
	for (b = 1; b < nr_memory_blocks(pgdat); b++)
		if (offline_memory_block(pgdat, b, NULL) == 0)
			break;
	assert_true(b < nr_memory_blocks(pgdat));
	start = b * MEMORY_BLOCK_PAGES;
	end = start + MEMORY_BLOCK_PAGES;
	/* Online: its 32 pieces are freed, and recorded. */
	assert_int_equal(online_memory_block(pgdat, b), 0);
	for (unsigned int c = 0; c < pgdat->nr_cpus; c++)
		for (unsigned int z = 0; z < pgdat->nr_zones; z++)
			for (unsigned int k = 0; k < ph.cpu[c].nr[z]; k++)
				entries += ph.cpu[c].pfn[z][k] >= start &&
					   ph.cpu[c].pfn[z][k] < end;
	print_message("block %u: %u entries recorded in it\n", b, entries);
	assert_true(entries > 0);
	assert_int_equal(page_hinting_check(&ph), 0);
	/* Offline again: the entries now name reserved heads. */
	assert_int_equal(offline_memory_block(pgdat, b, NULL), 0);
	if (page_hinting_check(&ph) != 0)
		fail_msg("page_hinting_check() fails on a healthy node with memory block %u "
			 "offline (%u entries recorded in it)", b, entries);
	d.off_start = start;
	d.off_end = end;
	assert_int_equal(page_hinting_process(&ph), 0);
	if (d.bad)
		fail_msg("%u blocks of the offline block %u were hinted", d.bad, b);
	assert_int_equal(atomic_load(&ph.isolated), atomic_load(&ph.returned));
	assert_int_equal(page_hinting_check(&ph), 0);
	assert_int_equal(online_memory_block(pgdat, b), 0);
	d.off_start = d.off_end = 0;
	assert_int_equal(page_hinting_check(&ph), 0);
	assert_int_equal(page_hinting_process(&ph), 0);
	assert_int_equal(page_hinting_check(&ph), 0);
	/* Tolerant of an offline block's heads, not of the node's metadata. */
	assert_true(ph.cpu[0].nr[ZONE_LOW] < ph.entries);
	ph.cpu[0].pfn[ZONE_LOW][ph.cpu[0].nr[ZONE_LOW]++] = 0;
	assert_int_equal(page_hinting_check(&ph), -GMM_EUCLEAN);
	ph.cpu[0].nr[ZONE_LOW]--;
	assert_int_equal(page_hinting_check(&ph), 0);
	page_hinting_unregister(&ph);
	assert_int_equal(buddy_check(pgdat), 0);
	anon_node_fini(&n);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_unregister_keeps_alloc_waiting),
		cmocka_unit_test(test_unregister_keeps_contig_range_waiting),
		cmocka_unit_test(test_reregister_keeps_wakeup),
		cmocka_unit_test(test_reregister_under_load),
		cmocka_unit_test(test_isolated_free_not_counted),
		cmocka_unit_test(test_buddy_check_isolated_count),
		cmocka_unit_test(test_hinting_check_offline_block),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
