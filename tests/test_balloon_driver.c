/*
 * test_balloon_driver.c - the balloon driver (guest/balloon_driver.h) over
 * the transport interface, against our device model (host/balloon.c), once
 * for each transport:
 *   vhost-user  the process guest's: the frontend over a unix socket to a
 *               backend thread serving the device, rings in guest RAM
 *               shared as a memfd;
 *   loop        the device model in this process behind a transport whose
 *               ops call it directly (tests/loop_transport.h), as a
 *               virtio-mmio access traps into a VMM; it stands in for the
 *               guest kernel's virtio-mmio, which only runs inside QEMU
 *               (its tests boot it there).
 * A guest made in this process is the driver's environment.  The tests:
 * negotiation (every queue feature offered is taken, so the two readings of
 * queue numbering agree), a report's round trip (memory leaves the memfd by
 * the host's accounting), the host's target followed by inflate and
 * deflate, statistics, a device that goes away, free page hint commands,
 * page poison, queue sizes the device caps, probes that must fail, and
 * that everything the driver took from the guest comes back.  Waits are
 * bounded and only for an event; nothing is timed.
 */
#ifndef _GNU_SOURCE
#define _GNU_SOURCE
#endif
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <cmocka.h>

#include <errno.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "guest/balloon_driver.h"
#include "guest/vhost_user_transport.h"
#include "guestmm/guest.h"
#include "host/backend.h"
#include "host/balloon.h"
#include "mm/anon.h"
#include "mm/gfp.h"
#include "mm/page_reporting.h"
#include "platform/swap_io.h"
#include "tests/loop_transport.h"
#include "virtio/virtio_balloon.h"
#include "virtio/virtio_transport.h"

#define WAIT_MS 20000
#define MIB (1024ull * 1024)
#define GUEST_MEM (256 * MIB)
#define F(bit) (UINT64_C(1) << (bit))
#define POISON 0xaaaaaaaau

enum transport_kind { T_VHOST_USER, T_LOOP };
static enum transport_kind kind;

struct fixture {
	char dir[64];
	char path[108];
	struct balloon_backend be; /* vhost-user: the backend thread */
	bool be_running;
	struct balloon_dev *b; /* the device, whichever transport */
	struct loop_transport *lt;
	struct vhost_user_transport *vt;
	struct virtio_transport *t;
	struct gmm_guest *g;
	struct balloon_driver_env env;
	struct balloon_driver *bd;
	pthread_t thread;
	bool running;
	int run_err;
};

static int fx_set_reporting(void *ctx, struct page_reporting_dev_info *prdev)
{
	return gmm_guest_set_reporting_device(((struct fixture *)ctx)->g, prdev);
}

static struct free_bitmap *fx_free_bitmap(void *ctx)
{
	return gmm_guest_free_bitmap(((struct fixture *)ctx)->g);
}

/* The device and its transport, offering @features. */
static void fx_device(struct fixture *f, uint64_t features)
{
	if (kind == T_VHOST_USER) {
		assert_int_equal(balloon_backend_start(&f->be, f->path,
						       features), 0);
		f->be_running = true;
		f->b = f->be.balloon;
		assert_int_equal(vhost_user_transport_create(
					 f->path, VIRTIO_ID_BALLOON,
					 gmm_guest_memfd(f->g),
					 gmm_guest_ram(f->g), 0, GUEST_MEM,
					 &f->vt),
				 0);
		f->t = vhost_user_transport_virtio(f->vt);
	} else {
		assert_int_equal(balloon_create(features, &f->b), 0);
		assert_int_equal(loop_transport_create(
					 balloon_virtio_device(f->b),
					 gmm_guest_memfd(f->g), GUEST_MEM,
					 &f->lt),
				 0);
		f->t = &f->lt->vt;
	}
}

/* A guest reporting blocks of @report_order in batches of @capacity. */
static struct fixture *fx_new_reporting(uint64_t features,
					enum gmm_hinting hinting,
					unsigned int report_order,
					unsigned int capacity)
{
	struct fixture *f = calloc(1, sizeof(*f));
	struct gmm_guest_config c;

	assert_non_null(f);
	snprintf(f->dir, sizeof(f->dir), "%s/test_balloon_driver.XXXXXX",
		 getenv("TMPDIR") ? getenv("TMPDIR") : "/tmp");
	if (strlen(f->dir) > 48)
		snprintf(f->dir, sizeof(f->dir), "/tmp/test_balloon_driver.XXXXXX");
	assert_non_null(mkdtemp(f->dir));
	snprintf(f->path, sizeof(f->path), "%s/balloon.sock", f->dir);
	gmm_guest_config_init(&c);
	c.mem_bytes = GUEST_MEM;
	c.cpus = 1;
	c.reporting = false; /* the driver is the reporting device */
	c.report_delay_ms = 0;
	c.report_min_age_ms = 0;
	c.report_hwm = 1;
	c.hinting = hinting;
	c.hint_cap_bytes = 16 * MIB;
	c.report_order = report_order;
	c.report_capacity = capacity;
	assert_int_equal(gmm_guest_create(&c, &f->g), 0);
	f->env = (struct balloon_driver_env){
		.pgdat = gmm_guest_pgdat(f->g),
		.ram_gpa = 0,
		.mem_bytes = GUEST_MEM,
		.reporting = true,
		.hints = hinting == GMM_HINTING_BITMAP,
		.hint_cap_pages = c.hint_cap_bytes >> PAGE_SHIFT,
		.set_reporting = fx_set_reporting,
		.free_bitmap = fx_free_bitmap,
		.ctx = f,
	};
	fx_device(f, features);
	return f;
}

static struct fixture *fx_new(uint64_t features, enum gmm_hinting hinting)
{
	return fx_new_reporting(features, hinting, PAGE_REPORTING_ORDER,
				PAGE_REPORTING_CAPACITY);
}

static void *fx_thread(void *arg)
{
	struct fixture *f = arg;

	f->run_err = balloon_driver_run(f->bd);
	return NULL;
}

/* Probe the driver with the fixture's env and run its thread. */
static void fx_start(struct fixture *f)
{
	assert_int_equal(balloon_driver_probe(&f->env, f->t, &f->bd), 0);
	assert_int_equal(pthread_create(&f->thread, NULL, fx_thread, f), 0);
	f->running = true;
}

static void fx_stop_driver(struct fixture *f)
{
	if (!f->bd)
		return;
	balloon_driver_shutdown(f->bd);
	if (f->running)
		pthread_join(f->thread, NULL);
	f->running = false;
	balloon_driver_remove(f->bd);
	f->bd = NULL;
}

static void fx_free(struct fixture *f)
{
	fx_stop_driver(f);
	if (kind == T_VHOST_USER) {
		vhost_user_transport_destroy(f->vt);
		if (f->be_running)
			balloon_backend_stop(&f->be);
	} else {
		loop_transport_destroy(f->lt);
		balloon_destroy(f->b);
	}
	gmm_guest_destroy(f->g);
	unlink(f->path);
	rmdir(f->dir);
	free(f);
}

typedef bool (*host_cond)(const struct balloon_stats *st, uint64_t arg);

/* Wait (bounded) until the host's view satisfies @cond. */
static void wait_host(struct fixture *f, host_cond cond, uint64_t arg,
		      const char *what)
{
	struct balloon_stats st;

	for (int i = 0; i < WAIT_MS; i++) {
		balloon_get_stats(f->b, &st);
		if (cond(&st, arg))
			return;
		usleep(1000);
	}
	fail_msg("%s: host never saw %s",
		 kind == T_LOOP ? "loop" : "vhost-user", what);
}

static bool is_connected(const struct balloon_stats *st, uint64_t arg)
{
	(void)arg;
	return st->connected && st->features;
}

static bool actual_is(const struct balloon_stats *st, uint64_t arg)
{
	return st->actual == arg;
}

static bool stats_updates_at_least(const struct balloon_stats *st, uint64_t arg)
{
	return st->guest_stats_updates >= arg;
}

static bool hinted_at_least(const struct balloon_stats *st, uint64_t arg)
{
	return st->hinted_bytes >= arg;
}

static bool resident_below(const struct balloon_stats *st, uint64_t arg)
{
	return st->resident_bytes < arg;
}

static bool reports_at_least(const struct balloon_stats *st, uint64_t arg)
{
	return st->reports >= arg;
}

/* fx_start(), then wait until the host sees the driver connected. */
static void fx_start_connected(struct fixture *f)
{
	fx_start(f);
	wait_host(f, is_connected, 0, "the driver");
}

/* The host's target to @frames, then wait until actual reaches it. */
static void fx_balloon_to(struct fixture *f, uint32_t frames, const char *what)
{
	assert_int_equal(balloon_set_target(f->b, frames), 0);
	wait_host(f, actual_is, frames, what);
}

static uint64_t guest_free(struct fixture *f)
{
	drain_all_pages(gmm_guest_pgdat(f->g));
	return pgdat_free_pages(gmm_guest_pgdat(f->g));
}

/* Write and free 64 MiB in pageblocks: memory the host then has. */
static void dirty_and_free_64m(struct fixture *f)
{
	struct pglist_data *pgdat = gmm_guest_pgdat(f->g);
	struct page *blocks[32];

	for (unsigned int n = 0; n < 32; n++) {
		blocks[n] = alloc_pages(pgdat, GFP_MOVABLE, PAGEBLOCK_ORDER);
		assert_non_null(blocks[n]);
		memset(page_address(pgdat, blocks[n]), 0x5a,
		       PAGE_SIZE << PAGEBLOCK_ORDER);
	}
	for (unsigned int n = 0; n < 32; n++)
		assert_int_equal(free_pages(pgdat, blocks[n], PAGEBLOCK_ORDER),
				 0);
}

/* ---- both transports ---- */

static void test_negotiation(void **state)
{
	struct fixture *f = fx_new(BALLOON_FEATURES_DEFAULT, GMM_HINTING_REPORT);
	struct balloon_driver_stats ds;
	struct balloon_stats hs;

	(void)state;
	fx_start(f);
	balloon_driver_get_stats(f->bd, &ds);
	wait_host(f, is_connected, 0, "the driver");
	balloon_get_stats(f->b, &hs);
	/* Every queue feature offered was taken: the device numbers its
	 * queues by what it offered, the driver by what was negotiated. */
	assert_int_equal(ds.offered & VIRTIO_BALLOON_QUEUE_FEATURES,
			 ds.features & VIRTIO_BALLOON_QUEUE_FEATURES);
	assert_true(ds.features & F(VIRTIO_BALLOON_F_STATS_VQ));
	assert_true(ds.features & F(VIRTIO_BALLOON_F_REPORTING));
	assert_true(ds.features & F(VIRTIO_F_VERSION_1));
	/* Declined as Linux declines it: these frames keep no poison. */
	assert_false(ds.features & F(VIRTIO_BALLOON_F_PAGE_POISON));
	assert_int_equal(hs.features, ds.features);
	for (int q = 0; q < VIRTIO_BALLOON_VQ_NR; q++)
		assert_int_equal(virtio_balloon_queue_index(ds.offered, q),
				 virtio_balloon_queue_index(ds.features, q));
	assert_int_equal(balloon_queue_index(hs.features, BALLOON_VQ_REPORTING),
			 virtio_balloon_queue_index(ds.features,
						    VIRTIO_BALLOON_VQ_REPORTING));
	assert_int_equal(balloon_queue_index(hs.features, BALLOON_VQ_STATS),
			 virtio_balloon_queue_index(ds.features,
						    VIRTIO_BALLOON_VQ_STATS));
	assert_int_equal(f->t->ops->get_status(f->t),
			 VIRTIO_CONFIG_S_ACKNOWLEDGE | VIRTIO_CONFIG_S_DRIVER |
				 VIRTIO_CONFIG_S_FEATURES_OK |
				 VIRTIO_CONFIG_S_DRIVER_OK);
	assert_int_equal(ds.queue_num, 256);
	assert_true(balloon_driver_reporting(f->bd));
	assert_int_equal(ds.error, 0);
	fx_free(f);
}

static void test_queue_numbering(void **state)
{
	(void)state;
	/* The table of the reference (offered => existing). */
	assert_int_equal(virtio_balloon_queue_index(0, VIRTIO_BALLOON_VQ_DEFLATE), 1);
	assert_int_equal(virtio_balloon_queue_index(0, VIRTIO_BALLOON_VQ_STATS), -1);
	assert_int_equal(virtio_balloon_queue_index(F(VIRTIO_BALLOON_F_REPORTING),
						    VIRTIO_BALLOON_VQ_REPORTING), 2);
	assert_int_equal(virtio_balloon_queue_index(F(VIRTIO_BALLOON_F_STATS_VQ) |
							    F(VIRTIO_BALLOON_F_REPORTING),
						    VIRTIO_BALLOON_VQ_REPORTING), 3);
	assert_int_equal(virtio_balloon_queue_index(F(VIRTIO_BALLOON_F_FREE_PAGE_HINT) |
							    F(VIRTIO_BALLOON_F_REPORTING),
						    VIRTIO_BALLOON_VQ_REPORTING), 3);
	assert_int_equal(virtio_balloon_queue_index(VIRTIO_BALLOON_QUEUE_FEATURES,
						    VIRTIO_BALLOON_VQ_REPORTING), 4);
	assert_int_equal(virtio_balloon_queue_index(VIRTIO_BALLOON_QUEUE_FEATURES,
						    VIRTIO_BALLOON_VQ_FREE_PAGE), 3);
}

/* A report's round trip: written memory freed, reported, gone from the
 * memfd by the host's accounting. */
static void test_report_round_trip(void **state)
{
	struct fixture *f = fx_new(BALLOON_FEATURES_DEFAULT, GMM_HINTING_REPORT);
	struct balloon_stats h0, h1;
	struct balloon_driver_stats ds;

	(void)state;
	fx_start_connected(f);
	/* Whatever was free at boot goes first. */
	assert_int_equal(gmm_guest_report_now(f->g), 0);
	balloon_get_stats(f->b, &h0);
	dirty_and_free_64m(f);
	balloon_get_stats(f->b, &h1);
	assert_true(h1.resident_bytes >= h0.resident_bytes + 60 * MIB);
	h0 = h1;
	assert_int_equal(gmm_guest_report_now(f->g), 0);
	balloon_get_stats(f->b, &h1);
	balloon_driver_get_stats(f->bd, &ds);
	assert_true(h1.reports > h0.reports);
	assert_true(ds.reports >= h1.reports - h0.reports);
	if (h0.resident_bytes - h1.resident_bytes < 60 * MIB)
		fail_msg("host resident fell by %llu MiB of 64",
			 (unsigned long long)((h0.resident_bytes -
					       h1.resident_bytes) / MIB));
	assert_int_equal(buddy_check(gmm_guest_pgdat(f->g)), 0);
	fx_free(f);
}

/*
 * The host's target: inflate to it, then deflate back to 0.  3000 frames
 * fill three pages of the driver's frame list; once deflated, the guest
 * has every frame back, the list's pages too.
 */
static void test_inflate_deflate(void **state)
{
	struct fixture *f = fx_new(BALLOON_FEATURES_DEFAULT, GMM_HINTING_REPORT);
	struct balloon_driver_stats ds;
	struct balloon_stats hs;
	uint64_t free0, free1;

	(void)state;
	f->env.reporting = false;
	fx_start_connected(f);
	free0 = guest_free(f);
	fx_balloon_to(f, 3000, "actual = 3000");
	balloon_driver_get_stats(f->bd, &ds);
	balloon_get_stats(f->b, &hs);
	assert_int_equal(ds.actual, 3000);
	assert_int_equal(ds.num_pages, 3000);
	assert_int_equal(ds.inflated_pages, 3000);
	assert_int_equal(hs.inflated_pages, 3000);
	/* The frames left the guest's free memory (and three list pages). */
	free1 = guest_free(f);
	if (free1 != free0 - 3000 - 3)
		fail_msg("free pages %llu before, %llu inflated to 3000",
			 (unsigned long long)free0, (unsigned long long)free1);

	fx_balloon_to(f, 0, "actual = 0");
	balloon_driver_get_stats(f->bd, &ds);
	balloon_get_stats(f->b, &hs);
	assert_int_equal(ds.deflated_pages, 3000);
	assert_int_equal(hs.deflated_pages, 3000);
	free1 = guest_free(f);
	if (free1 != free0)
		fail_msg("free pages %llu before, %llu after deflating",
			 (unsigned long long)free0, (unsigned long long)free1);
	assert_int_equal(buddy_check(gmm_guest_pgdat(f->g)), 0);
	fx_free(f);
}

/* Remove with frames in the balloon: the guest gets back every frame the
 * driver took (state, rings, buffers, list pages, balloon frames). */
static void test_remove_gives_everything_back(void **state)
{
	struct fixture *f = fx_new(BALLOON_FEATURES_DEFAULT, GMM_HINTING_REPORT);
	uint64_t free0;

	(void)state;
	f->env.reporting = false;
	free0 = guest_free(f);
	fx_start_connected(f);
	fx_balloon_to(f, 1500, "actual = 1500");
	assert_true(guest_free(f) < free0 - 1500);
	fx_stop_driver(f);
	assert_int_equal(guest_free(f), free0);
	assert_int_equal(buddy_check(gmm_guest_pgdat(f->g)), 0);
	fx_free(f);
}

/* The frames the guest's allocator manages, in bytes (Linux's MemTotal). */
static uint64_t managed_bytes(struct fixture *f)
{
	struct pglist_data *pgdat = gmm_guest_pgdat(f->g);
	uint64_t managed = 0;

	for (unsigned int z = 0; z < pgdat->nr_zones; z++)
		managed += zone_managed_pages(&pgdat->node_zones[z]);
	return managed << PAGE_SHIFT;
}

/* The statistics the device holds now, after @more fresh buffers. */
static void fresh_stats(struct fixture *f, unsigned int more,
			struct balloon_stats *hs)
{
	balloon_get_stats(f->b, hs);
	wait_host(f, stats_updates_at_least, hs->guest_stats_updates + more,
		  "fresh stats buffers");
	balloon_get_stats(f->b, hs);
}

/*
 * Statistics: primed at start, refilled each time the device asks, with
 * Linux's meanings: MemTotal the frames the allocator manages (RAM less
 * its metadata), less the balloon's unless DEFLATE_ON_OOM was negotiated
 * (Linux's driver takes them off totalram_pages then only); MemFree the
 * buddy lists' frames; MemAvailable those and the per-CPU lists'.
 */
static void stats_check(uint64_t features)
{
	struct fixture *f = fx_new(features, GMM_HINTING_REPORT);
	bool oom = features & VIRTIO_FEATURE(VIRTIO_BALLOON_F_DEFLATE_ON_OOM);
	struct balloon_driver_stats ds;
	struct balloon_stats hs;
	const uint64_t *v = hs.guest_stats;

	f->env.reporting = false;
	balloon_set_stats_interval(f->b, 10);
	fx_start(f);
	wait_host(f, stats_updates_at_least, 3, "three stats buffers");
	balloon_get_stats(f->b, &hs);
	balloon_driver_get_stats(f->bd, &ds);
	assert_true(ds.stats_sent >= 3);
	assert_true(hs.guest_stats_valid & (1u << VIRTIO_BALLOON_S_MEMTOT));
	assert_true(hs.guest_stats_valid & (1u << VIRTIO_BALLOON_S_MEMFREE));
	assert_true(hs.guest_stats_valid & (1u << VIRTIO_BALLOON_S_AVAIL));
	assert_true(managed_bytes(f) < GUEST_MEM);
	assert_int_equal(v[VIRTIO_BALLOON_S_MEMTOT], managed_bytes(f));
	assert_true(v[VIRTIO_BALLOON_S_MEMFREE] > 200 * MIB);
	assert_true(v[VIRTIO_BALLOON_S_AVAIL] >= v[VIRTIO_BALLOON_S_MEMFREE]);
	assert_true(v[VIRTIO_BALLOON_S_AVAIL] <= v[VIRTIO_BALLOON_S_MEMTOT]);

	assert_int_equal(balloon_set_target(f->b, 1500), 0);
	wait_host(f, actual_is, 1500, "actual = 1500");
	fresh_stats(f, 2, &hs);
	assert_int_equal(v[VIRTIO_BALLOON_S_MEMTOT],
			 managed_bytes(f) - (oom ? 0 : 1500ull << PAGE_SHIFT));
	assert_true(v[VIRTIO_BALLOON_S_AVAIL] >= v[VIRTIO_BALLOON_S_MEMFREE]);
	assert_true(v[VIRTIO_BALLOON_S_AVAIL] <= v[VIRTIO_BALLOON_S_MEMTOT]);

	assert_int_equal(balloon_set_target(f->b, 0), 0);
	wait_host(f, actual_is, 0, "actual = 0");
	fresh_stats(f, 2, &hs);
	assert_int_equal(v[VIRTIO_BALLOON_S_MEMTOT], managed_bytes(f));
	fx_free(f);
}

static void test_stats(void **state)
{
	(void)state;
	stats_check(BALLOON_FEATURES_DEFAULT);
}

/* QEMU's default device: no DEFLATE_ON_OOM. */
static void test_stats_no_deflate_on_oom(void **state)
{
	(void)state;
	stats_check(BALLOON_FEATURES_DEFAULT &
		    ~VIRTIO_FEATURE(VIRTIO_BALLOON_F_DEFLATE_ON_OOM));
}

/* The tags our driver sends: Linux's on a kernel without hugetlb pages
 * (user-mode Linux's): swap in/out, major/minor faults, free, total,
 * available, caches; never the two hugetlb counters. */
#define OUR_STAT_TAGS                                                          \
	((1u << VIRTIO_BALLOON_S_SWAP_IN) | (1u << VIRTIO_BALLOON_S_SWAP_OUT) | \
	 (1u << VIRTIO_BALLOON_S_MAJFLT) | (1u << VIRTIO_BALLOON_S_MINFLT) |   \
	 (1u << VIRTIO_BALLOON_S_MEMFREE) | (1u << VIRTIO_BALLOON_S_MEMTOT) |  \
	 (1u << VIRTIO_BALLOON_S_AVAIL) | (1u << VIRTIO_BALLOON_S_CACHES))

/*
 * Swap and fault statistics: a guest with anonymous memory (no zswap, so
 * every page reclaim takes goes to the swap file) writes 1.25 times its
 * RAM and reads it all back.  The device then holds swap in and out in
 * bytes (pswpin, pswpout), major faults (pages read back) and minor
 * faults (every fault) as the node counts them, and the swap cache as the
 * disk caches; before any of it they were sent as 0.
 */
static void test_stats_swap(void **state)
{
	struct fixture *f = fx_new(BALLOON_FEATURES_DEFAULT, GMM_HINTING_REPORT);
	struct pglist_data *pgdat = gmm_guest_pgdat(f->g);
	const uint64_t pages = GUEST_MEM / 4 * 5 / PAGE_SIZE;
	const char *dir = getenv("TMPDIR");
	const uint64_t *v;
	struct balloon_stats hs;
	struct anon_config cfg;
	struct anon_stats as;
	struct swap_io *swap;
	struct mm_space *mm;

	(void)state;
	v = hs.guest_stats;
	f->env.reporting = false;
	balloon_set_stats_interval(f->b, 10);
	fx_start(f);
	fresh_stats(f, 1, &hs);
	assert_int_equal(hs.guest_stats_valid, OUR_STAT_TAGS);
	assert_int_equal(v[VIRTIO_BALLOON_S_SWAP_IN], 0);
	assert_int_equal(v[VIRTIO_BALLOON_S_SWAP_OUT], 0);
	assert_int_equal(v[VIRTIO_BALLOON_S_MINFLT], 0);

	assert_int_equal(swap_file_create(dir ? dir : "/tmp", pages * PAGE_SIZE,
					  &swap), 0);
	anon_config_init(&cfg);
	cfg.swap = swap;
	cfg.zswap = false;
	cfg.kswapd = false;
	assert_int_equal(anon_init(pgdat, &cfg), 0);
	assert_int_equal(mm_space_create(pgdat, &mm), 0);
	assert_int_equal(mm_mmap(mm, 1ull << 30, pages * PAGE_SIZE), 0);
	for (int pass = 0; pass < 2; pass++)
		for (uint64_t i = 0; i < pages; i++) {
			struct page *page;
			uint64_t *w;

			assert_int_equal(access_page(mm, (1ull << 30) + i * PAGE_SIZE,
						     pass == 0, &page), 0);
			w = page_address(pgdat, page);
			if (pass == 0)
				w[0] = i;
			else
				assert_int_equal(w[0], i);
			put_page(pgdat, page);
		}
	/* Nothing runs in the background (no kswapd): the counters hold. */
	anon_get_stats(pgdat, &as);
	fresh_stats(f, 2, &hs);
	print_message("swap in %llu out %llu, faults %llu major %llu, caches %llu\n",
		      (unsigned long long)v[VIRTIO_BALLOON_S_SWAP_IN],
		      (unsigned long long)v[VIRTIO_BALLOON_S_SWAP_OUT],
		      (unsigned long long)v[VIRTIO_BALLOON_S_MINFLT],
		      (unsigned long long)v[VIRTIO_BALLOON_S_MAJFLT],
		      (unsigned long long)v[VIRTIO_BALLOON_S_CACHES]);
	assert_int_equal(hs.guest_stats_valid, OUR_STAT_TAGS);
	assert_true(as.events[PSWPOUT] > 0 && as.events[PSWPIN] > 0);
	assert_true(as.events[PGMAJFAULT] > 0);
	/* Bytes for swap, as Linux's pages_to_bytes(); counts for faults. */
	assert_int_equal(v[VIRTIO_BALLOON_S_SWAP_IN], as.events[PSWPIN] * PAGE_SIZE);
	assert_int_equal(v[VIRTIO_BALLOON_S_SWAP_OUT], as.events[PSWPOUT] * PAGE_SIZE);
	assert_int_equal(v[VIRTIO_BALLOON_S_MAJFLT], as.events[PGMAJFAULT]);
	assert_int_equal(v[VIRTIO_BALLOON_S_MINFLT], as.events[PGFAULT]);
	assert_int_equal(v[VIRTIO_BALLOON_S_CACHES], as.swap_cache * PAGE_SIZE);
	/* Every page faulted in at least once; those read back, again. */
	assert_true(v[VIRTIO_BALLOON_S_MINFLT] >= pages + v[VIRTIO_BALLOON_S_MAJFLT]);
	assert_true(v[VIRTIO_BALLOON_S_MAJFLT] >= v[VIRTIO_BALLOON_S_SWAP_IN] / PAGE_SIZE);

	/* Gone with the anonymous memory: the counters stay, the cache empties. */
	mm_space_destroy(mm);
	anon_fini(pgdat);
	swap_file_destroy(swap);
	fresh_stats(f, 2, &hs);
	assert_int_equal(v[VIRTIO_BALLOON_S_SWAP_OUT], as.events[PSWPOUT] * PAGE_SIZE);
	assert_int_equal(v[VIRTIO_BALLOON_S_CACHES], 0);
	fx_free(f);
}

/* ---- reclaim: inflating a guest whose memory is allocated ---- */

/* Word @k of anonymous page @i as the tests write it. */
static uint64_t anon_word(uint64_t i, uint64_t k)
{
	return (i + 1) * 0x9e3779b97f4a7c15ull ^ k * 0xbf58476d1ce4e5b9ull;
}

struct anon_fx {
	struct swap_io *swap;
	struct mm_space *mm;
	uint64_t pages;
};

/* Anonymous memory over the guest (a swap file, no zswap, no kswapd: only
 * the allocations and the driver reclaim) and one space of @pages, each
 * page written: word k of page i is anon_word(i, k), every 8th word. */
static void anon_fill(struct fixture *f, struct anon_fx *a, uint64_t pages)
{
	struct pglist_data *pgdat = gmm_guest_pgdat(f->g);
	const char *dir = getenv("TMPDIR");
	struct anon_config cfg;

	a->pages = pages;
	assert_int_equal(swap_file_create(dir ? dir : "/tmp",
					  (pages + 1024) * PAGE_SIZE, &a->swap), 0);
	anon_config_init(&cfg);
	cfg.swap = a->swap;
	cfg.zswap = false;
	cfg.kswapd = false;
	assert_int_equal(anon_init(pgdat, &cfg), 0);
	assert_int_equal(mm_space_create(pgdat, &a->mm), 0);
	assert_int_equal(mm_mmap(a->mm, 1ull << 30, pages * PAGE_SIZE), 0);
	for (uint64_t i = 0; i < pages; i++) {
		struct page *page;
		uint64_t *w;

		assert_int_equal(access_page(a->mm, (1ull << 30) + i * PAGE_SIZE,
					     true, &page), 0);
		w = page_address(pgdat, page);
		for (uint64_t k = 0; k < PAGE_SIZE / 8; k += 8)
			w[k] = anon_word(i, k);
		put_page(pgdat, page);
	}
}

/* Every page of @a reads back what anon_fill() wrote. */
static void anon_check(struct fixture *f, struct anon_fx *a)
{
	struct pglist_data *pgdat = gmm_guest_pgdat(f->g);

	for (uint64_t i = 0; i < a->pages; i++) {
		struct page *page;
		const uint64_t *w;

		assert_int_equal(access_page(a->mm, (1ull << 30) + i * PAGE_SIZE,
					     false, &page), 0);
		w = page_address(pgdat, page);
		for (uint64_t k = 0; k < PAGE_SIZE / 8; k += 8)
			if (w[k] != anon_word(i, k))
				fail_msg("page %llu word %llu: %#llx, wrote %#llx",
					 (unsigned long long)i,
					 (unsigned long long)k,
					 (unsigned long long)w[k],
					 (unsigned long long)anon_word(i, k));
		put_page(pgdat, page);
	}
}

static void anon_free(struct fixture *f, struct anon_fx *a)
{
	mm_space_destroy(a->mm);
	anon_fini(gmm_guest_pgdat(f->g));
	swap_file_destroy(a->swap);
}

/*
 * A guest whose memory is all allocated to anonymous pages (a working set
 * as large as its free memory and 16 MiB more, so it swapped already) is
 * asked for 32 MiB more than it has free.  As Linux's balloon
 * (__GFP_NORETRY: one light round of direct reclaim), our driver reclaims
 * what it cannot find free - the pages go to the swap file - and the
 * balloon reaches the target; every page of the working set still reads
 * back what was written.  Without reclaim the driver finds nothing and
 * actual stays where the free memory ran out.
 */
static void test_inflate_reclaims(void **state)
{
	struct fixture *f = fx_new(BALLOON_FEATURES_DEFAULT, GMM_HINTING_REPORT);
	struct balloon_driver_stats ds;
	struct anon_fx a;
	uint64_t free0;
	uint32_t target;

	(void)state;
	f->env.reporting = false;
	fx_start_connected(f);
	anon_fill(f, &a, guest_free(f) + 4096);
	free0 = guest_free(f);
	target = (uint32_t)(free0 + 8192);
	print_message("free %llu frames after the fill; target %u\n",
		      (unsigned long long)free0, target);
	fx_balloon_to(f, target, "actual 32 MiB beyond the free memory");
	balloon_driver_get_stats(f->bd, &ds);
	assert_int_equal(ds.actual, target);
	assert_true(ds.reclaimed_pages >= target - free0);
	assert_int_equal(ds.error, 0);
	anon_check(f, &a);
	fx_balloon_to(f, 0, "actual 0 again");
	anon_check(f, &a);
	anon_free(f, &a);
	assert_int_equal(buddy_check(gmm_guest_pgdat(f->g)), 0);
	fx_free(f);
}

/*
 * The lruvec's lifetime: the driver reclaims from it while the working set
 * ends (its space destroyed, anon_fini() freeing the lruvec and the swap
 * file going), three times over.  The target is beyond what the guest can
 * give, so the driver keeps inflating and reclaiming until it stops
 * finding frames; anon_fini() waits for a reclaim that is running.  The
 * sanitizers (ASan: the swap file's state used after free; TSan: the
 * lruvec's teardown racing the scan) and buddy_check() say whether it was
 * safe.  Bounded: the fill is an operation count, the waits are for events.
 */
static void test_inflate_while_working_set_ends(void **state)
{
	struct fixture *f = fx_new(BALLOON_FEATURES_DEFAULT, GMM_HINTING_REPORT);
	struct balloon_driver_stats ds;
	uint64_t reclaimed = 0;

	(void)state;
	f->env.reporting = false;
	fx_start_connected(f);
	for (int round = 0; round < 3; round++) {
		struct anon_fx a;

		anon_fill(f, &a, guest_free(f) / 2);
		assert_int_equal(balloon_set_target(f->b,
				(uint32_t)(GUEST_MEM / PAGE_SIZE / 10 * 9)), 0);
		/* Until the driver has reclaimed from this working set. */
		for (int i = 0; i < WAIT_MS; i++) {
			balloon_driver_get_stats(f->bd, &ds);
			if (ds.reclaimed_pages > reclaimed)
				break;
			usleep(1000);
		}
		assert_true(ds.reclaimed_pages > reclaimed);
		reclaimed = ds.reclaimed_pages;
		anon_free(f, &a);
		fx_balloon_to(f, 0, "actual 0 after the working set ended");
		balloon_driver_get_stats(f->bd, &ds);
		assert_int_equal(ds.error, 0);
		assert_int_equal(buddy_check(gmm_guest_pgdat(f->g)), 0);
	}
	fx_free(f);
}

static bool oom_is_on(uint64_t features)
{
	return features & VIRTIO_FEATURE(VIRTIO_BALLOON_F_DEFLATE_ON_OOM);
}

/*
 * Deflate on OOM: the balloon holds all but 16 MiB of the guest's free
 * memory and the guest then allocates 32 MiB, frame by frame.  With
 * DEFLATE_ON_OOM negotiated every allocation succeeds: the allocator's
 * OOM notifier took frames back from the balloon, 256 at a time (Linux's
 * VIRTIO_BALLOON_OOM_NR_PAGES), through the deflate queue, so the host's
 * actual fell by as much.  Without it an allocation fails and the balloon
 * keeps every frame.  A pageblock that does not fit fails either way.
 */
static void oom_check(uint64_t features)
{
	enum { WANT = 8192 };
	struct fixture *f = fx_new(features, GMM_HINTING_REPORT);
	struct pglist_data *pgdat = gmm_guest_pgdat(f->g);
	struct page **pages = calloc(WANT, sizeof(*pages));
	struct page *blocks[64];
	struct balloon_driver_stats ds;
	struct balloon_stats hs;
	uint32_t target;
	unsigned int n = 0, nb = 0;

	assert_non_null(pages);
	f->env.reporting = false;
	fx_start_connected(f);
	target = (uint32_t)(guest_free(f) - WANT / 2);
	fx_balloon_to(f, target, "the balloon at all but 16 MiB");
	/* A pageblock is not worth the balloon's frames (above Linux's
	 * PAGE_ALLOC_COSTLY_ORDER): it fails and the balloon keeps them. */
	while (nb < 64 &&
	       (blocks[nb] = alloc_pages(pgdat, GFP_MOVABLE, PAGEBLOCK_ORDER)))
		nb++;
	assert_true(nb < 64);
	balloon_driver_get_stats(f->bd, &ds);
	assert_int_equal(ds.oom_deflated_pages, 0);
	assert_int_equal(ds.actual, target);
	while (nb)
		assert_int_equal(free_pages(pgdat, blocks[--nb], PAGEBLOCK_ORDER), 0);
	for (; n < WANT; n++) {
		pages[n] = alloc_pages(pgdat, GFP_MOVABLE, 0);
		if (!pages[n])
			break;
	}
	balloon_driver_get_stats(f->bd, &ds);
	if (oom_is_on(features)) {
		assert_int_equal(n, WANT);
		assert_true(ds.oom_deflated_pages >= WANT / 2);
		assert_int_equal(ds.oom_deflated_pages % 256, 0);
		assert_int_equal(ds.actual, target - ds.oom_deflated_pages);
		/* The device was told: its actual and its deflate count. */
		wait_host(f, actual_is, ds.actual, "actual after the OOM deflates");
		balloon_get_stats(f->b, &hs);
		assert_int_equal(hs.deflated_pages, ds.oom_deflated_pages);
	} else {
		assert_true(n < WANT);
		assert_int_equal(ds.oom_deflated_pages, 0);
		assert_int_equal(ds.deflated_pages, 0);
		assert_int_equal(ds.actual, target);
		balloon_get_stats(f->b, &hs);
		assert_int_equal(hs.actual, target);
		assert_int_equal(hs.deflated_pages, 0);
	}
	while (n)
		assert_int_equal(free_pages(pgdat, pages[--n], 0), 0);
	free(pages);
	fx_free(f);
}

static void test_deflate_on_oom(void **state)
{
	(void)state;
	oom_check(BALLOON_FEATURES_DEFAULT);
}

static void test_no_deflate_on_oom(void **state)
{
	(void)state;
	oom_check(BALLOON_FEATURES_DEFAULT &
		  ~VIRTIO_FEATURE(VIRTIO_BALLOON_F_DEFLATE_ON_OOM));
}

/* An empty balloon has nothing to give: a failed allocation fails, and the
 * deflate queue carries nothing (no empty buffer, no round trip). */
static void test_oom_empty_balloon(void **state)
{
	struct fixture *f = fx_new(BALLOON_FEATURES_DEFAULT, GMM_HINTING_REPORT);
	struct pglist_data *pgdat = gmm_guest_pgdat(f->g);
	struct balloon_driver_stats ds;
	struct balloon_stats hs;
	struct page *page, *list = NULL;
	unsigned int n = 0;

	(void)state;
	f->env.reporting = false;
	fx_start_connected(f);
	/* Chain the frames through their own first word. */
	while ((page = alloc_pages(pgdat, GFP_MOVABLE, 0))) {
		*(struct page **)page_address(pgdat, page) = list;
		list = page;
		n++;
	}
	balloon_driver_get_stats(f->bd, &ds);
	balloon_get_stats(f->b, &hs);
	assert_true(n > 0);
	assert_int_equal(ds.error, 0);
	assert_int_equal(ds.oom_deflated_pages, 0);
	assert_int_equal(hs.deflated_pages, 0);
	assert_int_equal(hs.rejected, 0);
	assert_int_equal(hs.broken_queues, 0);
	while (list) {
		page = list;
		list = *(struct page **)page_address(pgdat, page);
		assert_int_equal(free_pages(pgdat, page, 0), 0);
	}
	fx_free(f);
}

/* A driver whose device goes away ends with -EPIPE and can be removed. */
static void test_device_gone(void **state)
{
	struct fixture *f = fx_new(BALLOON_FEATURES_DEFAULT, GMM_HINTING_REPORT);
	struct balloon_driver_stats ds;

	(void)state;
	fx_start_connected(f);
	if (kind == T_VHOST_USER) {
		balloon_backend_stop(&f->be);
		f->be_running = false;
	} else {
		loop_transport_unplug(f->lt);
	}
	for (int i = 0; i < WAIT_MS; i++) {
		balloon_driver_get_stats(f->bd, &ds);
		if (ds.error)
			break;
		usleep(1000);
	}
	assert_int_equal(ds.error, -EPIPE);
	/* The thread ended on its own, with that error. */
	pthread_join(f->thread, NULL);
	f->running = false;
	assert_int_equal(f->run_err, -EPIPE);
	fx_free(f);
}

/*
 * Page poison: a guest whose free pages keep a value negotiates
 * PAGE_POISON and writes poison_val; our device then keeps what is
 * reported (a discard would read back zeros).
 */
static void test_poison(void **state)
{
	struct fixture *f = fx_new(BALLOON_FEATURES_DEFAULT, GMM_HINTING_REPORT);
	struct balloon_driver_stats ds;
	struct balloon_stats h0, h1;

	(void)state;
	f->env.poison = true;
	f->env.poison_val = POISON;
	fx_start_connected(f);
	balloon_driver_get_stats(f->bd, &ds);
	balloon_get_stats(f->b, &h0);
	assert_true(ds.features & F(VIRTIO_BALLOON_F_PAGE_POISON));
	assert_int_equal(h0.poison_val, POISON);
	assert_true(balloon_driver_reporting(f->bd));
	dirty_and_free_64m(f);
	balloon_get_stats(f->b, &h0);
	assert_int_equal(gmm_guest_report_now(f->g), 0);
	wait_host(f, reports_at_least, h0.reports + 1, "a report");
	balloon_get_stats(f->b, &h1);
	assert_true(h1.kept_bytes >= 64 * MIB);
	assert_true(h1.resident_bytes + 4 * MIB > h0.resident_bytes);
	fx_free(f);
}

/* A guest that poisons, a device without PAGE_POISON: no reports (they
 * would change free pages' contents), the balloon still works. */
static void test_poison_without_device_support(void **state)
{
	struct fixture *f = fx_new(BALLOON_FEATURES_DEFAULT &
					   ~F(VIRTIO_BALLOON_F_PAGE_POISON),
				   GMM_HINTING_REPORT);
	struct balloon_driver_stats ds;

	(void)state;
	f->env.poison = true;
	f->env.poison_val = POISON;
	fx_start_connected(f);
	balloon_driver_get_stats(f->bd, &ds);
	assert_false(ds.features & F(VIRTIO_BALLOON_F_PAGE_POISON));
	/* Negotiated still, so the numbering holds; never used. */
	assert_true(ds.features & F(VIRTIO_BALLOON_F_REPORTING));
	assert_false(balloon_driver_reporting(f->bd));
	fx_balloon_to(f, 100, "actual = 100");
	fx_free(f);
}

/*
 * The bitmap through the device: free memory leaves the memfd by the
 * host's accounting, in commands of at most the cap, and every chunk comes
 * back to the guest (the validator: no bit in flight without a command).
 */
static void test_bitmap_round_trip(void **state)
{
	struct fixture *f = fx_new(BALLOON_FEATURES_HINTING, GMM_HINTING_BITMAP);
	struct pglist_data *pgdat = gmm_guest_pgdat(f->g);
	struct balloon_driver_stats ds;
	struct balloon_stats h0, h1;
	struct page *again;

	(void)state;
	fx_start_connected(f);
	balloon_get_stats(f->b, &h0);
	assert_true(h0.features & F(VIRTIO_BALLOON_F_FREE_PAGE_HINT));
	dirty_and_free_64m(f);
	balloon_get_stats(f->b, &h0);
	assert_true(h0.resident_bytes >= 64 * MIB);
	drain_all_pages(pgdat);
	assert_int_equal(balloon_set_hinting(f->b, 20, 16 * MIB, 0), 0);
	wait_host(f, resident_below, h0.resident_bytes - 60 * MIB,
		  "64 MiB of hinted memory leave the memfd");
	wait_host(f, hinted_at_least, 64 * MIB, "64 MiB hinted");
	balloon_get_stats(f->b, &h1);
	assert_true(h1.hint_commands >= 4); /* 16 MiB at most each */
	assert_true(h1.hint_done > 0);
	assert_int_equal(h1.hint_rejected, 0);
	/* The chunks come back: an allocation may take them (waiting for a
	 * command's DONE if it lands on one), and the bits are sound. */
	assert_int_equal(balloon_set_hinting(f->b, 0, 16 * MIB, 0), 0);
	for (int i = 0; i < WAIT_MS; i++) {
		balloon_driver_get_stats(f->bd, &ds);
		if (ds.hint_acks >= h1.hint_done)
			break;
		usleep(1000);
	}
	assert_true(ds.hint_commands > 0);
	assert_true(ds.hint_pages >= 64 * MIB / PAGE_SIZE);
	again = alloc_pages(pgdat, GFP_MOVABLE, PAGEBLOCK_ORDER);
	assert_non_null(again);
	assert_int_equal(free_pages(pgdat, again, PAGEBLOCK_ORDER), 0);
	assert_int_equal(gmm_guest_validate(f->g), 0);
	assert_int_equal(ds.hint_bad_done, 0);
	fx_free(f);
}

/*
 * A device that says DONE with nothing answered (a host that lost track):
 * the driver counts it, the bitmap refuses the ack and stays sound.
 */
static void test_bitmap_done_for_nothing(void **state)
{
	struct fixture *f = fx_new(BALLOON_FEATURES_HINTING, GMM_HINTING_BITMAP);
	struct balloon_driver_stats ds;
	struct gmm_guest_stats gs;

	(void)state;
	fx_start_connected(f);
	/* No commands: the field stays STOP until the DONE. */
	balloon_hint_done(f->b);
	for (int i = 0; i < WAIT_MS; i++) {
		balloon_driver_get_stats(f->bd, &ds);
		if (ds.hint_bad_done)
			break;
		usleep(1000);
	}
	assert_int_equal(ds.hint_bad_done, 1);
	assert_int_equal(ds.hint_acks, 0);
	gmm_guest_get_stats(f->g, &gs);
	assert_int_equal(gs.bad_acks, 1);
	assert_int_equal(gmm_guest_validate(f->g), 0);
	/* Hinting works after it. */
	assert_int_equal(balloon_set_hinting(f->b, 20, 16 * MIB, 0), 0);
	wait_host(f, hinted_at_least, 16 * MIB, "hints after the bad DONE");
	assert_int_equal(gmm_guest_validate(f->g), 0);
	fx_free(f);
}

/* The driver of a guest without the bitmap answers every command empty. */
static void test_hint_commands_without_bitmap(void **state)
{
	struct fixture *f = fx_new(BALLOON_FEATURES_HINTING, GMM_HINTING_REPORT);
	struct balloon_stats h;

	(void)state;
	fx_start_connected(f);
	assert_true(balloon_driver_reporting(f->bd));
	assert_int_equal(balloon_set_hinting(f->b, 5, 16 * MIB, 0), 0);
	for (int i = 0; i < WAIT_MS; i++) {
		balloon_get_stats(f->b, &h);
		if (h.hint_done >= 3)
			break;
		usleep(1000);
	}
	assert_true(h.hint_done >= 3);
	assert_int_equal(h.hinted_bytes, 0);
	assert_int_equal(h.hint_rejected, 0);
	assert_int_equal(h.hint_timeouts, 0);
	fx_free(f);
}

/* ---- loop only: devices the vhost-user backend cannot be made into ---- */

/* Probes that must fail, leaving the guest as it was and the device
 * marked FAILED. */
static void test_probe_refused(void **state)
{
	struct fixture *f;
	struct balloon_driver *bd = NULL;
	uint64_t free0;

	(void)state;
	if (kind != T_LOOP)
		skip();
	f = fx_new(BALLOON_FEATURES_DEFAULT, GMM_HINTING_REPORT);
	free0 = guest_free(f);
	/* Another device type. */
	f->t->device_id = 2;
	assert_int_equal(balloon_driver_probe(&f->env, f->t, &bd), -ENODEV);
	assert_true(f->t->ops->get_status(f->t) & VIRTIO_CONFIG_S_FAILED);
	f->t->device_id = VIRTIO_ID_BALLOON;
	/* A legacy device: no VERSION_1. */
	f->lt->offer_mask = ~F(VIRTIO_F_VERSION_1);
	assert_int_equal(balloon_driver_probe(&f->env, f->t, &bd), -ENODEV);
	assert_true(f->t->ops->get_status(f->t) & VIRTIO_CONFIG_S_FAILED);
	/* A device without a queue its features promise (stats). */
	f->lt->offer_mask = UINT64_MAX;
	f->lt->absent_queues = VIRTIO_EVENT_QUEUE(2);
	assert_int_equal(balloon_driver_probe(&f->env, f->t, &bd), -ENODEV);
	assert_true(f->t->ops->get_status(f->t) & VIRTIO_CONFIG_S_FAILED);
	assert_null(bd);
	/* And the same device, whole, is driven after all that. */
	f->lt->absent_queues = 0;
	fx_start(f);
	fx_balloon_to(f, 10, "actual = 10 after refused probes");
	fx_stop_driver(f);
	assert_int_equal(guest_free(f), free0);
	assert_int_equal(buddy_check(gmm_guest_pgdat(f->g)), 0);
	fx_free(f);
}

/*
 * A device that takes only small queues: the driver's rings shrink to fit
 * (64 entries), and reporting works, also in batches larger than the ring
 * (256 blocks of 64 KiB: a batch goes as four buffers of 64); below the 32
 * entries devices modelled on Linux ask of a reporting queue, reporting is
 * off (our device refuses such a queue), and the balloon works.
 */
static void test_small_queues(void **state)
{
	struct fixture *f;
	struct balloon_driver_stats ds;
	struct balloon_stats h0, h1;

	(void)state;
	if (kind != T_LOOP)
		skip();
	f = fx_new(BALLOON_FEATURES_DEFAULT, GMM_HINTING_REPORT);
	f->lt->queue_max_cap = 64;
	fx_start(f);
	balloon_driver_get_stats(f->bd, &ds);
	assert_int_equal(ds.queue_num, 64);
	assert_true(balloon_driver_reporting(f->bd));
	balloon_get_stats(f->b, &h0);
	dirty_and_free_64m(f);
	assert_int_equal(gmm_guest_report_now(f->g), 0);
	wait_host(f, reports_at_least, h0.reports + 1, "a report");
	fx_free(f);

	f = fx_new_reporting(BALLOON_FEATURES_DEFAULT, GMM_HINTING_REPORT, 4,
			     PAGE_REPORTING_CAPACITY_MAX);
	f->lt->queue_max_cap = 64;
	fx_start(f);
	assert_true(balloon_driver_reporting(f->bd));
	assert_int_equal(gmm_guest_report_now(f->g), 0);
	{
		struct pglist_data *pgdat = gmm_guest_pgdat(f->g);
		static struct page *blk[1024];

		for (unsigned int i = 0; i < 1024; i++) {
			blk[i] = alloc_pages(pgdat, GFP_MOVABLE, 4);
			assert_non_null(blk[i]);
			memset(page_address(pgdat, blk[i]), 0x5a, PAGE_SIZE << 4);
		}
		balloon_get_stats(f->b, &h0);
		/* Every other block: 32 MiB that cannot merge with the
		 * blocks kept, some 512 entries, two batches at least. */
		for (unsigned int i = 0; i < 1024; i += 2)
			assert_int_equal(free_pages(pgdat, blk[i], 4), 0);
		assert_int_equal(gmm_guest_report_now(f->g), 0);
		balloon_get_stats(f->b, &h1);
		if (h1.reports - h0.reports < 5 ||
		    h0.resident_bytes - h1.resident_bytes < 28 * MIB)
			fail_msg("%llu report buffers, resident fell by %llu MiB of 32",
				 (unsigned long long)(h1.reports - h0.reports),
				 (unsigned long long)((h0.resident_bytes -
						       h1.resident_bytes) / MIB));
		for (unsigned int i = 1; i < 1024; i += 2)
			assert_int_equal(free_pages(pgdat, blk[i], 4), 0);
	}
	fx_free(f);

	f = fx_new(BALLOON_FEATURES_DEFAULT, GMM_HINTING_REPORT);
	f->lt->queue_max_cap = 16;
	fx_start(f);
	balloon_driver_get_stats(f->bd, &ds);
	assert_int_equal(ds.queue_num, 16);
	assert_false(balloon_driver_reporting(f->bd));
	fx_balloon_to(f, 300, "actual = 300 through 16-entry queues");
	fx_free(f);
}

static int group_vhost_user(void **state)
{
	(void)state;
	kind = T_VHOST_USER;
	return 0;
}

static int group_loop(void **state)
{
	(void)state;
	kind = T_LOOP;
	return 0;
}

/* Both transports; "vhost-user" or "loop" as the argument: that one. */
int main(int argc, char **argv)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_queue_numbering),
		cmocka_unit_test(test_negotiation),
		cmocka_unit_test(test_report_round_trip),
		cmocka_unit_test(test_inflate_deflate),
		cmocka_unit_test(test_remove_gives_everything_back),
		cmocka_unit_test(test_stats),
		cmocka_unit_test(test_stats_no_deflate_on_oom),
		cmocka_unit_test(test_stats_swap),
		cmocka_unit_test(test_inflate_reclaims),
		cmocka_unit_test(test_inflate_while_working_set_ends),
		cmocka_unit_test(test_deflate_on_oom),
		cmocka_unit_test(test_no_deflate_on_oom),
		cmocka_unit_test(test_oom_empty_balloon),
		cmocka_unit_test(test_device_gone),
		cmocka_unit_test(test_poison),
		cmocka_unit_test(test_poison_without_device_support),
		cmocka_unit_test(test_bitmap_round_trip),
		cmocka_unit_test(test_bitmap_done_for_nothing),
		cmocka_unit_test(test_hint_commands_without_bitmap),
		cmocka_unit_test(test_probe_refused),
		cmocka_unit_test(test_small_queues),
	};
	const char *only = argc > 1 ? argv[1] : NULL;
	int failed = 0;

	if (!only || !strcmp(only, "vhost-user"))
		failed += cmocka_run_group_tests_name(
			"balloon driver over vhost-user", tests,
			group_vhost_user, NULL);
	if (!only || !strcmp(only, "loop"))
		failed += cmocka_run_group_tests_name(
			"balloon driver over loop", tests, group_loop, NULL);
	return failed ? 1 : 0;
}
