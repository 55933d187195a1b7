/*
 * test_procguest.c - process guests: our balloon driver against our device,
 * and our guest runtime as a process of its own.
 *
 * The driver tests attach a guest made in this process to a balloon served
 * by a backend thread, through the real vhost-user frontend and rings in
 * guest RAM: negotiation (every queue feature offered is taken, so the two
 * readings of queue numbering agree), a report's round trip on the
 * reporting queue (memory leaves the memfd by the host's accounting), the
 * host's target followed by inflate and deflate, statistics sent when the
 * device asks.  The runner tests start this very program as the guest
 * process ("test_procguest guest ...") and check what the host sees: memory
 * returned by its own accounting, and no guest left behind when the host is
 * killed.  Waits are bounded and only for an event; nothing is timed.
 */
#ifndef _GNU_SOURCE
#define _GNU_SOURCE
#endif
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <cmocka.h>

#include <dirent.h>
#include <errno.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <fcntl.h>
#include <string.h>
#include <sys/prctl.h>
#include <sys/resource.h>
#include <sys/wait.h>
#include <sys/stat.h>
#include <math.h>
#include <time.h>
#include <unistd.h>

#include "guest/balloon_driver.h"
#include "guestmm/guest.h"
#include "host/backend.h"
#include "host/balloon.h"
#include "host/vhost_user.h"
#include "mm/gfp.h"
#include "runner/run.h"

#define WAIT_MS 20000
#define MIB (1024ull * 1024)
#define F(bit) (UINT64_C(1) << (bit))

struct fixture {
	char dir[64];
	char path[108];
	struct balloon_backend be;
	struct gmm_guest *g;
	struct balloon_driver *bd;
};

static int setup(void **state)
{
	struct fixture *f = calloc(1, sizeof(*f));
	struct gmm_guest_config c;

	if (!f)
		return -1;
	snprintf(f->dir, sizeof(f->dir), "/tmp/test_procguest.XXXXXX");
	if (!mkdtemp(f->dir))
		return -1;
	snprintf(f->path, sizeof(f->path), "%s/balloon.sock", f->dir);
	if (balloon_backend_start(&f->be, f->path, BALLOON_FEATURES_DEFAULT))
		return -1;
	gmm_guest_config_init(&c);
	c.mem_bytes = 256 * MIB;
	c.cpus = 1;
	c.reporting = false; /* the driver is the reporting device */
	c.report_delay_ms = 0;
	c.report_min_age_ms = 0;
	c.report_hwm = 1;
	if (gmm_guest_create(&c, &f->g))
		return -1;
	*state = f;
	return 0;
}

/* The bitmap through the device: a device that runs hint commands (every
 * 20 ms, 16 MiB at most each) and a guest with the bitmap strategy. */
static int setup_bitmap(void **state)
{
	struct fixture *f = calloc(1, sizeof(*f));
	struct gmm_guest_config c;

	if (!f)
		return -1;
	snprintf(f->dir, sizeof(f->dir), "/tmp/test_procguest.XXXXXX");
	if (!mkdtemp(f->dir))
		return -1;
	snprintf(f->path, sizeof(f->path), "%s/balloon.sock", f->dir);
	if (balloon_backend_start(&f->be, f->path, BALLOON_FEATURES_HINTING))
		return -1;
	gmm_guest_config_init(&c);
	c.mem_bytes = 256 * MIB;
	c.cpus = 1;
	c.reporting = false; /* the driver starts the strategy */
	c.hinting = GMM_HINTING_BITMAP;
	c.hint_cap_bytes = 16 * MIB;
	if (gmm_guest_create(&c, &f->g))
		return -1;
	*state = f;
	return 0;
}

static int teardown(void **state)
{
	struct fixture *f = *state;

	balloon_driver_stop(f->bd);
	gmm_guest_destroy(f->g);
	balloon_backend_stop(&f->be);
	unlink(f->path);
	rmdir(f->dir);
	free(f);
	return 0;
}

typedef bool (*host_cond)(const struct balloon_stats *st, uint64_t arg);

/* Wait (bounded) until the host's view satisfies @cond. */
static void wait_host(struct fixture *f, host_cond cond, uint64_t arg,
		      const char *what)
{
	struct balloon_stats st;

	for (int i = 0; i < WAIT_MS; i++) {
		balloon_get_stats(f->be.balloon, &st);
		if (cond(&st, arg))
			return;
		usleep(1000);
	}
	fail_msg("host never saw %s", what);
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

static void test_negotiation(void **state)
{
	struct fixture *f = *state;
	struct balloon_driver_stats ds;
	struct balloon_stats hs;

	assert_int_equal(balloon_driver_start(f->g, f->path, true, &f->bd), 0);
	balloon_driver_get_stats(f->bd, &ds);
	wait_host(f, is_connected, 0, "the driver");
	balloon_get_stats(f->be.balloon, &hs);
	/* Every queue feature offered was taken: the device numbers its
	 * queues by what it offered, the driver by what was negotiated. */
	assert_int_equal(ds.offered & VIRTIO_BALLOON_QUEUE_FEATURES,
			 ds.features & VIRTIO_BALLOON_QUEUE_FEATURES);
	assert_true(ds.features & F(VIRTIO_BALLOON_F_STATS_VQ));
	assert_true(ds.features & F(VIRTIO_BALLOON_F_REPORTING));
	assert_true(ds.features & F(VIRTIO_F_VERSION_1));
	/* Declined as Linux declines it: our frames keep no poison. */
	assert_false(ds.features & F(VIRTIO_BALLOON_F_PAGE_POISON));
	assert_int_equal(hs.features, ds.features);
	for (int q = 0; q < VIRTIO_BALLOON_VQ_NR; q++)
		assert_int_equal(virtio_balloon_queue_index(ds.offered, q),
				 virtio_balloon_queue_index(ds.features, q));
	/* The device's own numbering (by what was negotiated) agrees. */
	assert_int_equal(balloon_queue_index(hs.features, BALLOON_VQ_REPORTING),
			 virtio_balloon_queue_index(ds.features,
						    VIRTIO_BALLOON_VQ_REPORTING));
	assert_int_equal(balloon_queue_index(hs.features, BALLOON_VQ_STATS),
			 virtio_balloon_queue_index(ds.features,
						    VIRTIO_BALLOON_VQ_STATS));
	assert_true(balloon_driver_reporting(f->bd));
	assert_int_equal(ds.error, 0);
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
	struct fixture *f = *state;
	struct pglist_data *pgdat = gmm_guest_pgdat(f->g);
	struct balloon_stats h0, h1;
	struct balloon_driver_stats ds;
	struct page *blocks[32];
	unsigned int n = 0;

	assert_int_equal(balloon_driver_start(f->g, f->path, true, &f->bd), 0);
	wait_host(f, is_connected, 0, "the driver");
	/* Whatever was free at boot goes first. */
	assert_int_equal(gmm_guest_report_now(f->g), 0);
	for (; n < 32; n++) {
		blocks[n] = alloc_pages(pgdat, GFP_MOVABLE, PAGEBLOCK_ORDER);
		assert_non_null(blocks[n]);
		memset(page_address(pgdat, blocks[n]), 0x5a,
		       PAGE_SIZE << PAGEBLOCK_ORDER);
	}
	balloon_get_stats(f->be.balloon, &h0);
	assert_true(h0.resident_bytes >= 64 * MIB);
	for (unsigned int i = 0; i < n; i++)
		assert_int_equal(free_pages(pgdat, blocks[i], PAGEBLOCK_ORDER), 0);
	assert_int_equal(gmm_guest_report_now(f->g), 0);
	balloon_get_stats(f->be.balloon, &h1);
	balloon_driver_get_stats(f->bd, &ds);
	assert_true(h1.reports > h0.reports);
	assert_true(ds.reports >= h1.reports - h0.reports);
	if (h0.resident_bytes - h1.resident_bytes < 60 * MIB)
		fail_msg("host resident fell by %llu MiB of 64",
			 (unsigned long long)((h0.resident_bytes -
					       h1.resident_bytes) / MIB));
	assert_int_equal(buddy_check(pgdat), 0);
}

/* The host's target: inflate to it, then deflate back to 0. */
static void test_inflate_deflate(void **state)
{
	struct fixture *f = *state;
	struct pglist_data *pgdat = gmm_guest_pgdat(f->g);
	struct balloon_driver_stats ds;
	struct balloon_stats hs;
	uint64_t free0;

	assert_int_equal(balloon_driver_start(f->g, f->path, false, &f->bd), 0);
	wait_host(f, is_connected, 0, "the driver");
	drain_all_pages(pgdat);
	free0 = pgdat_free_pages(pgdat);
	assert_int_equal(balloon_set_target(f->be.balloon, 3000), 0);
	wait_host(f, actual_is, 3000, "actual = 3000");
	balloon_driver_get_stats(f->bd, &ds);
	balloon_get_stats(f->be.balloon, &hs);
	assert_int_equal(ds.actual, 3000);
	assert_int_equal(ds.num_pages, 3000);
	assert_int_equal(ds.inflated_pages, 3000);
	assert_int_equal(hs.inflated_pages, 3000);
	/* The frames left the guest's free memory. */
	drain_all_pages(pgdat);
	if (pgdat_free_pages(pgdat) + 3000 > free0)
		fail_msg("free pages %llu before, %llu inflated to 3000",
			 (unsigned long long)free0,
			 (unsigned long long)pgdat_free_pages(pgdat));

	assert_int_equal(balloon_set_target(f->be.balloon, 0), 0);
	wait_host(f, actual_is, 0, "actual = 0");
	balloon_driver_get_stats(f->bd, &ds);
	balloon_get_stats(f->be.balloon, &hs);
	assert_int_equal(ds.deflated_pages, 3000);
	assert_int_equal(hs.deflated_pages, 3000);
	assert_int_equal(buddy_check(pgdat), 0);
}

/* Statistics: primed at start, refilled each time the device asks. */
static void test_stats(void **state)
{
	struct fixture *f = *state;
	struct balloon_driver_stats ds;
	struct balloon_stats hs;

	balloon_set_stats_interval(f->be.balloon, 10);
	assert_int_equal(balloon_driver_start(f->g, f->path, false, &f->bd), 0);
	wait_host(f, stats_updates_at_least, 3, "three stats buffers");
	balloon_get_stats(f->be.balloon, &hs);
	balloon_driver_get_stats(f->bd, &ds);
	assert_true(ds.stats_sent >= 3);
	assert_true(hs.guest_stats_valid & (1u << VIRTIO_BALLOON_S_MEMTOT));
	assert_true(hs.guest_stats_valid & (1u << VIRTIO_BALLOON_S_MEMFREE));
	assert_int_equal(hs.guest_stats[VIRTIO_BALLOON_S_MEMTOT], 256 * MIB);
	assert_true(hs.guest_stats[VIRTIO_BALLOON_S_MEMFREE] > 200 * MIB);
	assert_true(hs.guest_stats[VIRTIO_BALLOON_S_MEMFREE] <= 256 * MIB);
}

/* A driver whose host goes away ends with -EPIPE and can be stopped. */
static void test_host_gone(void **state)
{
	struct fixture *f = *state;
	struct balloon_driver_stats ds;

	assert_int_equal(balloon_driver_start(f->g, f->path, true, &f->bd), 0);
	wait_host(f, is_connected, 0, "the driver");
	balloon_backend_stop(&f->be);
	for (int i = 0; i < WAIT_MS; i++) {
		balloon_driver_get_stats(f->bd, &ds);
		if (ds.error)
			break;
		usleep(1000);
	}
	assert_int_equal(ds.error, -EPIPE);
	balloon_driver_stop(f->bd);
	f->bd = NULL;
	/* teardown stops the backend again: start a fresh one for it. */
	unlink(f->path);
	assert_int_equal(balloon_backend_start(&f->be, f->path,
					       BALLOON_FEATURES_DEFAULT), 0);
}

static bool hinted_at_least(const struct balloon_stats *st, uint64_t arg)
{
	return st->hinted_bytes >= arg;
}

static bool resident_below(const struct balloon_stats *st, uint64_t arg)
{
	return st->resident_bytes < arg;
}

/*
 * The bitmap through the device: free memory leaves the memfd by the
 * host's accounting, in commands of at most the cap, and every chunk comes
 * back to the guest (the validator: no bit in flight without a command).
 */
static void test_bitmap_round_trip(void **state)
{
	struct fixture *f = *state;
	struct pglist_data *pgdat = gmm_guest_pgdat(f->g);
	struct balloon_driver_stats ds;
	struct balloon_stats h0, h1;
	struct page *blocks[32];
	struct page *again;

	assert_int_equal(balloon_driver_start(f->g, f->path, true, &f->bd), 0);
	wait_host(f, is_connected, 0, "the driver");
	balloon_get_stats(f->be.balloon, &h0);
	assert_true(h0.features & F(VIRTIO_BALLOON_F_FREE_PAGE_HINT));
	for (unsigned int n = 0; n < 32; n++) {
		blocks[n] = alloc_pages(pgdat, GFP_MOVABLE, PAGEBLOCK_ORDER);
		assert_non_null(blocks[n]);
		memset(page_address(pgdat, blocks[n]), 0x5a,
		       PAGE_SIZE << PAGEBLOCK_ORDER);
	}
	balloon_get_stats(f->be.balloon, &h0);
	assert_true(h0.resident_bytes >= 64 * MIB);
	for (unsigned int n = 0; n < 32; n++)
		assert_int_equal(free_pages(pgdat, blocks[n], PAGEBLOCK_ORDER), 0);
	drain_all_pages(pgdat);
	assert_int_equal(balloon_set_hinting(f->be.balloon, 20, 16 * MIB, 0), 0);
	wait_host(f, resident_below, h0.resident_bytes - 60 * MIB,
		  "64 MiB of hinted memory leave the memfd");
	wait_host(f, hinted_at_least, 64 * MIB, "64 MiB hinted");
	balloon_get_stats(f->be.balloon, &h1);
	assert_true(h1.hint_commands >= 4); /* 16 MiB at most each */
	assert_true(h1.hint_done > 0);
	assert_int_equal(h1.hint_rejected, 0);
	/* The chunks come back: an allocation may take them (waiting for a
	 * command's DONE if it lands on one), and the bits are sound. */
	assert_int_equal(balloon_set_hinting(f->be.balloon, 0, 16 * MIB, 0), 0);
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
}

/*
 * A device that says DONE with nothing answered (a host that lost track):
 * the driver counts it, the bitmap refuses the ack and stays sound.
 */
static void test_bitmap_done_for_nothing(void **state)
{
	struct fixture *f = *state;
	struct balloon_driver_stats ds;
	struct gmm_guest_stats gs;

	assert_int_equal(balloon_driver_start(f->g, f->path, true, &f->bd), 0);
	wait_host(f, is_connected, 0, "the driver");
	/* No commands: the field stays STOP until the DONE. */
	balloon_hint_done(f->be.balloon);
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
	assert_int_equal(balloon_set_hinting(f->be.balloon, 20, 16 * MIB, 0), 0);
	wait_host(f, hinted_at_least, 16 * MIB, "hints after the bad DONE");
	assert_int_equal(gmm_guest_validate(f->g), 0);
}

/* The driver of a guest without the bitmap answers every command empty. */
static void test_hint_commands_without_bitmap(void **state)
{
	struct fixture *f = *state;
	struct balloon_stats h;

	gmm_guest_destroy(f->g);
	{
		struct gmm_guest_config c;

		gmm_guest_config_init(&c);
		c.mem_bytes = 256 * MIB;
		c.cpus = 1;
		c.reporting = false;
		assert_int_equal(gmm_guest_create(&c, &f->g), 0);
	}
	assert_int_equal(balloon_driver_start(f->g, f->path, true, &f->bd), 0);
	wait_host(f, is_connected, 0, "the driver");
	assert_true(balloon_driver_reporting(f->bd));
	assert_int_equal(balloon_set_hinting(f->be.balloon, 5, 16 * MIB, 0), 0);
	for (int i = 0; i < WAIT_MS; i++) {
		balloon_get_stats(f->be.balloon, &h);
		if (h.hint_done >= 3)
			break;
		usleep(1000);
	}
	assert_true(h.hint_done >= 3);
	assert_int_equal(h.hinted_bytes, 0);
	assert_int_equal(h.hint_rejected, 0);
	assert_int_equal(h.hint_timeouts, 0);
}

/* ---- the runner: this program as the guest process ---- */

static char self_exe[4096];

static void proc_opts(struct run_opts *o)
{
	run_opts_init(o);
	o->mode = RUN_PROCESS;
	o->guest_exe = self_exe;
	o->cfg.mem_bytes = 256 * MIB;
	o->cfg.cpus = 1;
	o->cfg.report_delay_ms = 0;
	o->cycles = 1;
	o->hold_ms = 0;
	o->sleep_ms = 1500;
}

static void test_process_guest_returns_memory(void **state)
{
	struct run_opts o;
	struct run_result *r = calloc(1, sizeof(*r));
	const struct run_cycle *c;

	(void)state;
	assert_non_null(r);
	proc_opts(&o);
	assert_int_equal(run_guest(&o, r), 0);
	assert_int_equal(r->nr_cycles, 1);
	c = &r->cycle[0];
	assert_true(c->freed_bytes >= 150 * MIB);
	/* By the host's accounting, most of it went back. */
	if ((double)(c->resident_at_free - c->resident_after) <
	    0.9 * (double)c->freed_bytes)
		fail_msg("returned %llu of %llu bytes",
			 (unsigned long long)(c->resident_at_free - c->resident_after),
			 (unsigned long long)c->freed_bytes);
	assert_true(r->stats.reports > 0); /* the device's count */
	assert_int_equal(r->nr_zones, 2);
	assert_true(r->zones[1].managed_pages > 0);

	/* Reporting off: the device is told nothing, nothing goes back. */
	proc_opts(&o);
	o.cfg.reporting = false;
	o.sleep_ms = 300;
	assert_int_equal(run_guest(&o, r), 0);
	assert_int_equal(r->stats.reports, 0);
	c = &r->cycle[0];
	assert_true(c->resident_at_free - c->resident_after <
		    c->freed_bytes / 10);
	free(r);
}

/* guestmm run --hinting bitmap: the device's hint commands return memory. */
static void test_process_guest_bitmap(void **state)
{
	struct run_opts o;
	struct run_result *r = calloc(1, sizeof(*r));
	const struct run_cycle *c;

	(void)state;
	assert_non_null(r);
	proc_opts(&o);
	o.cfg.hinting = GMM_HINTING_BITMAP;
	o.cfg.hint_poll_ms = 50;
	assert_int_equal(run_guest(&o, r), 0);
	assert_int_equal(r->nr_cycles, 1);
	c = &r->cycle[0];
	assert_true(c->freed_bytes >= 150 * MIB);
	if ((double)(c->resident_at_free - c->resident_after) <
	    0.9 * (double)c->freed_bytes)
		fail_msg("returned %llu of %llu bytes",
			 (unsigned long long)(c->resident_at_free - c->resident_after),
			 (unsigned long long)c->freed_bytes);
	/* The device's count: commands the guest ended, bytes it hinted. */
	assert_true(r->stats.reports > 0);
	assert_true(r->stats.reported_bytes >= 150 * MIB);
	assert_int_equal(r->stats.hinting, GMM_HINTING_BITMAP);
	free(r);
}

/*
 * attack9: the integrity stress under the bitmap through the device: the
 * guest process's threads write and verify their blocks while the device
 * asks for hints every millisecond and punches what it is handed.  No
 * block may change under its owner (the guest's check), and the device
 * must really have run commands meanwhile (its own count).
 */
static void test_process_guest_bitmap_stress(void **state)
{
	struct run_opts o;
	struct run_result *r = calloc(1, sizeof(*r));

	(void)state;
	assert_non_null(r);
	proc_opts(&o);
	o.kind = WORKLOAD_STRESS;
	o.duration_s = 4;
	o.cfg.cpus = 2;
	o.cfg.hinting = GMM_HINTING_BITMAP;
	o.cfg.hint_poll_ms = 1;
	assert_int_equal(run_guest(&o, r), 0);
	print_message("attack9: %llu blocks verified, %llu mismatches, %llu hint commands done (%llu MiB)\n",
		      (unsigned long long)r->blocks,
		      (unsigned long long)r->errors,
		      (unsigned long long)r->stats.reports,
		      (unsigned long long)(r->stats.reported_bytes >> 20));
	assert_int_equal(r->errors, 0);
	assert_true(r->blocks > 0);
	assert_true(r->stats.reports > 0);
	assert_true(r->stats.reported_bytes > 0);
	free(r);
}

/*
 * attack9: the cycle count is the guest's word (and a sampler can miss a
 * short cycle).  A sample that jumps from cycle 1 to cycle 4 opened
 * cycles 2 and 3 as all zeros: a "time to 90 %" of 0.00 s for cycles
 * never seen, in the table and in --json.  A cycle not seen was never
 * measured: NaN ("never", null).
 */
static void test_console_cycle_jump(void **state)
{
	struct run_opts o;
	struct run_result *r = calloc(1, sizeof(*r));
	struct run_sample s = { .kind = WORKLOAD_MEMHOG };
	unsigned int seen = 0;

	(void)state;
	assert_non_null(r);
	proc_opts(&o);
	s.cycle = 1;
	s.phase = 1;
	s.resident = 100 * MIB;
	run_track(&o, r, &s, &seen);
	s.cycle = 4;
	run_track(&o, r, &s, &seen);
	assert_int_equal(r->nr_cycles, 4);
	for (unsigned int c = 0; c < 4; c++) {
		assert_true(isnan(r->cycle[c].time_to_90pct_s));
		assert_true(isnan(r->cycle[c].time_to_95pct_s));
	}
	free(r);
}

static void test_bad_guest_exe(void **state)
{
	struct run_opts o;
	struct run_result *r = calloc(1, sizeof(*r));

	(void)state;
	proc_opts(&o);
	o.guest_exe = "/nonexistent/guestmm";
	assert_int_equal(run_guest(&o, r), -ENOENT);
	/* An executable that is no guest: it exits at once. */
	proc_opts(&o);
	o.guest_exe = "/bin/true";
	assert_int_equal(run_guest(&o, r), -ECHILD);
	free(r);
}


/*
 * attack7: the guest's console, from a guest that is not ours (a script).
 * The rule: what the guest writes is its own figures at most; it must not
 * stall the host, make it print garbage, or stand in for the host's
 * accounting.
 */
static char fake_dir[64];

/* The directory of the fake guests (and what the tests capture). */
static void fake_dir_make(void)
{
	if (!fake_dir[0]) {
		snprintf(fake_dir, sizeof(fake_dir), "/tmp/attack7.XXXXXX");
		assert_non_null(mkdtemp(fake_dir));
	}
}

/* A guest executable whose body is @script (sh); the path returned is
 * good until the next call. */
static const char *fake_guest(const char *name, const char *script)
{
	static char path[160];
	FILE *f;

	fake_dir_make();
	snprintf(path, sizeof(path), "%s/%s", fake_dir, name);
	f = fopen(path, "w");
	assert_non_null(f);
	fprintf(f, "#!/bin/sh\n%s\n", script);
	fclose(f);
	assert_int_equal(chmod(path, 0755), 0);
	return path;
}

static double now_s(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (double)ts.tv_sec + ts.tv_nsec / 1e9;
}

/* attack7 #3: "gmm-done", then the console closed and the process kept
 * alive: pg_reap(kill_it = false) waits in waitpid() with no bound. */
static void test_console_done_then_linger(void **state)
{
	struct run_opts o;
	struct run_result *r = calloc(1, sizeof(*r));
	double t0, t;
	int err;

	(void)state;
	proc_opts(&o);
	o.guest_exe = fake_guest("linger",
		"echo 'gmm-ready 0 0 1'\n"
		"echo 'gmm-end 1 1 0 0 0 0 0 0'\n"
		"echo gmm-done\n"
		"exec >&-\n"
		"sleep 8");
	t0 = now_s();
	err = run_guest(&o, r);
	t = now_s() - t0;
	print_message("attack7: run_guest %d after %.1f s (the guest slept 8 s after its console closed)\n",
		      err, t);
	free(r);
	assert_true(t < 3.0);
}

/* attack7 #4: a zone name with control characters goes into the result
 * (and from there into the text table and json_str(), which escapes only
 * '"' and '\\': the --json output is not JSON any more). */
static void test_console_control_chars(void **state)
{
	struct run_opts o;
	struct run_result *r = calloc(1, sizeof(*r));
	int err;

	(void)state;
	proc_opts(&o);
	o.guest_exe = fake_guest("ctl",
		"echo 'gmm-ready 0 0 1'\n"
		"printf 'gmm-zone 0 \\033[2J\\001\\033]0;pwn\\007 1 1 1 1 1 1 1\\n'\n"
		"echo 'gmm-end 1 1 0 0 0 0 0 0'\n"
		"echo gmm-done");
	err = run_guest(&o, r);
	print_message("attack7: run_guest %d, zone 0 named \"", err);
	for (const char *c = r->zone_name[0]; *c; c++)
		print_message((unsigned char)*c < 0x20 ? "\\x%02x" : "%c",
			      (unsigned char)*c);
	print_message("\"\n");
	for (const char *c = r->zone_name[0]; *c; c++)
		assert_true((unsigned char)*c >= 0x20 && (unsigned char)*c < 0x7f);
	free(r);
}

/* attack7 #4 (stderr): what the guest writes on stderr reaches ours a line
 * at a time, prefixed, with its control bytes escaped. */
static void test_console_stderr(void **state)
{
	struct run_opts o;
	struct run_result *r = calloc(1, sizeof(*r));
	char path[96], text[4096];
	int saved, fd;
	ssize_t n;

	(void)state;
	proc_opts(&o);
	o.guest_exe = fake_guest("err",
		"printf 'x\\033]0;pwn\\007\\033[2Jy\\n' >&2\n"
		"echo 'gmm-ready 0 0 1'\n"
		"echo gmm-done");
	snprintf(path, sizeof(path), "%s/stderr", fake_dir);
	fd = open(path, O_RDWR | O_CREAT | O_TRUNC | O_CLOEXEC, 0600);
	assert_true(fd >= 0);
	fflush(stderr);
	saved = dup(STDERR_FILENO);
	dup2(fd, STDERR_FILENO);
	run_guest(&o, r);
	fflush(stderr);
	dup2(saved, STDERR_FILENO);
	close(saved);
	n = pread(fd, text, sizeof(text) - 1, 0);
	close(fd);
	free(r);
	assert_true(n > 0);
	text[n] = 0;
	print_message("attack7: the host's stderr: %s", text);
	assert_non_null(strstr(text, "guestmm: guest: x\\x1b]0;pwn\\x07\\x1b[2Jy\n"));
	for (ssize_t i = 0; i < n; i++)
		assert_true((unsigned char)text[i] >= 0x20 || text[i] == '\n');
}

/* attack7 #5: the figures of memory returned rest on the guest's word: the
 * denominator (freed_bytes) and the clock of the time to 90 % (freed_at_ns)
 * come from its "gmm-sample" lines.  A guest that never attached to the
 * device, so returned nothing by the host's accounting, still gets a run
 * that succeeds with a time to 90 % of ~0 s. */
static void test_console_fake_return(void **state)
{
	struct run_opts o;
	struct run_result *r = calloc(1, sizeof(*r));
	int err;

	(void)state;
	proc_opts(&o);
	o.sample_s = 0.05;
	o.guest_exe = fake_guest("fake",
		"echo 'gmm-ready 0 0 1'\n"
		"echo 'gmm-phase 3'\n"
		"for i in 1 2 3 4 5; do\n"
		"  now=$(python3 -c 'import time; print(time.monotonic_ns())')\n"
		"  echo \"gmm-sample 0 0 1 3 0 $now 0 0\"\n"
		"  sleep 0.1\n"
		"done\n"
		"echo 'gmm-end 1 1 0 0 0 0 0 0'\n"
		"echo gmm-done");
	err = run_guest(&o, r);
	print_message("attack7: run_guest %d; device reports %llu; cycle 1: freed %llu, time to 90%% %.3f s\n",
		      err, (unsigned long long)r->stats.reports,
		      (unsigned long long)r->cycle[0].freed_bytes,
		      r->cycle[0].time_to_90pct_s);
	/* A guest that never attached has returned nothing: no success, or
	 * at least no time to 90 %. */
	{
		double t90 = r->cycle[0].time_to_90pct_s;

		free(r);
		assert_true(err != 0 || isnan(t90));
	}
}

/*
 * attack9: "gmm-done" is the guest's last word, but the host kept reading
 * until the console closed: a guest (ours, run by a script that goes on
 * writing to the same console for a minute and then leaves a mark) held
 * the run for as long as it liked, and its later lines went into the
 * result.  The host must end it before it leaves its mark, and what it
 * wrote after gmm-done must not count.
 */
static void test_console_talks_after_done(void **state)
{
	struct run_opts o;
	struct run_result *r = calloc(1, sizeof(*r));
	char mark[128], script[sizeof(self_exe) + 512];

	(void)state;
	assert_non_null(r);
	proc_opts(&o);
	o.sleep_ms = 300;
	fake_guest("dummy", ":"); /* makes fake_dir */
	snprintf(mark, sizeof(mark), "%s/talked-on", fake_dir);
	unlink(mark);
	snprintf(script, sizeof(script),
		 /* guest --socket S --parent P ...: we are its parent now */
		 "sock=$3; shift 5\n"
		 "'%s' guest --socket \"$sock\" --parent $$ \"$@\" || exit 1\n"
		 "i=0; while [ $i -lt 600 ]; do\n"
		 "  echo 'gmm-zone 0 late 1 1 1 1 1 1 1' || exit 0\n"
		 "  sleep 0.1; i=$((i+1))\n"
		 "done\n"
		 "touch '%s'",
		 self_exe, mark);
	o.guest_exe = fake_guest("talker", script);
	print_message("attack9: run_guest %d\n", run_guest(&o, r));
	assert_int_equal(access(mark, F_OK), -1);
	assert_string_not_equal(r->zone_name[0], "late");
	free(r);
}

/*
 * attack9: a console line longer than the host's buffer was dropped only
 * up to the buffer's size (8191 bytes): the rest of it was read as a line
 * of its own, here a zone.
 */
static void test_console_overlong_line(void **state)
{
	struct run_opts o;
	struct run_result *r = calloc(1, sizeof(*r));

	(void)state;
	assert_non_null(r);
	proc_opts(&o);
	o.guest_exe = fake_guest("overlong",
		"echo 'gmm-ready 0 0 1'\n"
		"head -c 8191 /dev/zero | tr '\\0' x\n"
		"echo 'gmm-zone 0 tail 1 1 1 1 1 1 1'\n"
		"echo 'gmm-end 1 1 0 0 0 0 0 0'\n"
		"echo gmm-done");
	run_guest(&o, r);
	assert_int_equal(r->nr_zones, 0);
	free(r);
}

/*
 * attack9: numbers with a sign or none at all.  sscanf's %u and %llu take
 * "-1" as their largest value and %lf takes "nan" and "inf": a guest's
 * "gmm-vm 0 -1" became 18446744073709551615 in the result (and --json).
 * Our guest writes no sign and no such word: such a line is dropped.
 */
static void test_console_signed_numbers(void **state)
{
	struct run_opts o;
	struct run_result *r = calloc(1, sizeof(*r));

	(void)state;
	assert_non_null(r);
	proc_opts(&o);
	o.guest_exe = fake_guest("signed",
		"echo 'gmm-ready 0 0 1'\n"
		"echo 'gmm-vm 0 -1'\n"
		"echo 'gmm-zswap 1 +7'\n"
		"echo 'gmm-zone 0 minus -5 1 1 1 1 1 1'\n"
		"echo 'gmm-compacted nan 1 1 1 1 1 1'\n"
		"echo 'gmm-end inf -1 0 0 0 0 0 0'\n"
		"echo gmm-done");
	run_guest(&o, r);
	assert_int_equal(r->anon.events[0], 0);
	assert_int_equal(r->anon.zswap.events[1], 0);
	assert_int_equal(r->nr_zones, 0);
	assert_false(r->compacted);
	assert_true(r->elapsed_s == 0);
	free(r);
}

/*
 * issue 16 #3: a host whose descriptor limit was below 428 never accepted
 * a frontend (the reapers' fixed reserve of 320 did not fit three quarters
 * of the limit) and said nothing: the guest gave up after 5 s.  At every
 * limit from the least that can work, a run (host and guest process both
 * under the limit, soft and hard: the host raises its soft limit to the
 * hard one) attaches and reports; one below, the host refuses at start.
 * Each run is a child of ours, under a watchdog.
 */
static int run_at_nofile(rlim_t limit)
{
	int status;
	pid_t pid = fork();

	assert_true(pid >= 0);
	if (pid == 0) {
		struct rlimit rl = { limit, limit };
		struct run_result *r = calloc(1, sizeof(*r));
		struct run_opts o;
		int err;

		alarm(120); /* a run that never attaches: fail, not hang */
		if (!r || setrlimit(RLIMIT_NOFILE, &rl))
			_exit(100);
		proc_opts(&o);
		o.cfg.mem_bytes = 128 * MIB;
		o.sleep_ms = 1000;
		err = run_guest(&o, r);
		if (err == -EMFILE)
			_exit(101);
		if (err)
			_exit(102);
		_exit(r->stats.reports > 0 ? 0 : 103);
	}
	assert_int_equal(waitpid(pid, &status, 0), pid);
	if (WIFSIGNALED(status))
		fail_msg("RLIMIT_NOFILE %lu: the run was killed by signal %d (the watchdog: it never ended)",
			 (unsigned long)limit, WTERMSIG(status));
	return WEXITSTATUS(status);
}

static void test_nofile_limits(void **state)
{
	static const rlim_t works[] = { 128, 256, 400, 427 };
	unsigned long min = vhost_user_nofile_min();

	(void)state;
	print_message("the least RLIMIT_NOFILE a host can serve at: %lu\n", min);
	assert_true(min <= 128);
	for (unsigned int i = 0; i < sizeof(works) / sizeof(works[0]); i++) {
		int rc = run_at_nofile(works[i]);

		if (rc)
			fail_msg("RLIMIT_NOFILE %lu: the run failed (%d: 101 refused, 102 failed, 103 no report)",
				 (unsigned long)works[i], rc);
	}
	assert_int_equal(run_at_nofile(min), 0);
	assert_int_equal(run_at_nofile(min - 1), 101);
}

/*
 * run_guest() with the host's stderr captured into @text (at most @len).
 * Return: run_guest()'s.
 */
static int run_captured(const struct run_opts *o, struct run_result *r,
			char *text, size_t len)
{
	char path[96];
	int saved, fd, err;
	ssize_t n;

	fake_dir_make();
	snprintf(path, sizeof(path), "%s/host-stderr", fake_dir);
	fd = open(path, O_RDWR | O_CREAT | O_TRUNC | O_CLOEXEC, 0600);
	assert_true(fd >= 0);
	fflush(stderr);
	saved = dup(STDERR_FILENO);
	dup2(fd, STDERR_FILENO);
	err = run_guest(o, r);
	fflush(stderr);
	dup2(saved, STDERR_FILENO);
	close(saved);
	n = pread(fd, text, len - 1, 0);
	close(fd);
	unlink(path);
	text[n > 0 ? n : 0] = 0;
	return err;
}

/* Occurrences of @needle in @text. */
static unsigned int count_of(const char *text, const char *needle)
{
	unsigned int n = 0;

	for (const char *p = text; (p = strstr(p, needle)); p++)
		n++;
	return n;
}

/*
 * issue 16 #5: every process-guest failure read "the process guest failed:
 * No child processes".  The host says how its guest ended: its exit status,
 * or the signal that killed it, by number and name.
 */
static void test_guest_end_named(void **state)
{
	static const struct {
		const char *name, *script, *want;
	} ends[] = {
		{ "exit3", "exit 3", "it exited with status 3" },
		{ "sigkill", "kill -KILL $$", "it was killed by signal 9 (SIGKILL)" },
		{ "sigsegv", "ulimit -c 0; kill -SEGV $$",
		  "it was killed by signal 11 (SIGSEGV)" },
		{ "readykill", "echo 'gmm-ready 0 0 1'; kill -KILL $$",
		  "it was killed by signal 9 (SIGKILL)" },
	};
	struct run_result *r = calloc(1, sizeof(*r));
	char text[4096];

	(void)state;
	assert_non_null(r);
	for (unsigned int i = 0; i < sizeof(ends) / sizeof(ends[0]); i++) {
		struct run_opts o;
		int err;

		proc_opts(&o);
		o.guest_exe = fake_guest(ends[i].name, ends[i].script);
		err = run_captured(&o, r, text, sizeof(text));
		print_message("%s: run_guest %d, \"%s\"; stderr: %s\n",
			      ends[i].name, err, r->failure, text);
		assert_true(err < 0);
		assert_string_equal(r->failure, ends[i].want);
		assert_null(strstr(text, "No child processes"));
	}
	free(r);
}

/*
 * issue 16 #5: a guest that cannot make its RAM said nothing.  Under an
 * RLIMIT_AS smaller than its RAM (set in the child only: the host maps the
 * same RAM), the guest names what failed once, the host relays it with one
 * "guestmm: guest: " (it used to double it) and says how the guest ended.
 */
static void test_guest_rlimit_as_named(void **state)
{
	struct run_result *r;
	char script[sizeof(self_exe) + 64], text[4096];
	struct run_opts o;
	int err;

#if defined(__SANITIZE_ADDRESS__)
	/* AddressSanitizer reserves its shadow at start: no guest of an ASan
	 * build comes up under an RLIMIT_AS, whatever its RAM. */
	print_message("skipped: RLIMIT_AS and AddressSanitizer\n");
	skip();
#endif
	r = calloc(1, sizeof(*r));

	(void)state;
	assert_non_null(r);
	proc_opts(&o);
	/* 256 MiB of RAM under 128 MiB of address space. */
	snprintf(script, sizeof(script), "ulimit -v 131072\nexec '%s' \"$@\"",
		 self_exe);
	o.guest_exe = fake_guest("rlimit-as", script);
	err = run_captured(&o, r, text, sizeof(text));
	print_message("run_guest %d, \"%s\"; stderr: %s\n", err, r->failure,
		      text);
	assert_true(err < 0);
	assert_string_equal(r->failure, "it exited with status 1");
	assert_int_equal(count_of(text, "guestmm: guest: cannot make the guest's RAM"), 1);
	assert_int_equal(count_of(text, "mmap: Cannot allocate memory (RLIMIT_AS is 128.00 MiB)"), 1);
	assert_int_equal(count_of(text, "guestmm: guest: guestmm:"), 0);
	assert_int_equal(count_of(text, "guestmm: guest: guest:"), 0);

	/* The guest's own one-line errors, relayed once prefixed. */
	proc_opts(&o);
	snprintf(script, sizeof(script), "exec '%s' \"$@\" --bogus 1", self_exe);
	o.guest_exe = fake_guest("bogus", script);
	err = run_captured(&o, r, text, sizeof(text));
	assert_true(err < 0);
	assert_string_equal(r->failure, "it exited with status 2");
	assert_int_equal(count_of(text, "guestmm: guest: unrecognized argument '--bogus'\n"), 1);
	assert_int_equal(count_of(text, "guestmm: guest: guest:"), 0);
	free(r);
}

/*
 * issue 16 #5: memfd_create failing (no descriptor left) is named as such,
 * by the call that failed; in a child, whose descriptor limit is its
 * lowest free descriptor.
 */
static void test_memfd_failure_named(void **state)
{
	char path[96], text[1024];
	int fd, status;
	pid_t pid;
	ssize_t n;

	(void)state;
	fake_dir_make();
	snprintf(path, sizeof(path), "%s/memfd-stderr", fake_dir);
	fd = open(path, O_RDWR | O_CREAT | O_TRUNC | O_CLOEXEC, 0600);
	assert_true(fd >= 0);
	pid = fork();
	assert_true(pid >= 0);
	if (!pid) {
		struct gmm_guest_config c;
		struct gmm_guest *g;
		struct rlimit rl;
		int lowest = dup(0);

		dup2(fd, STDERR_FILENO);
		close(lowest);
		getrlimit(RLIMIT_NOFILE, &rl);
		rl.rlim_cur = (rlim_t)lowest;
		if (lowest < 0 || setrlimit(RLIMIT_NOFILE, &rl))
			_exit(100);
		gmm_guest_config_init(&c);
		c.mem_bytes = 64 * MIB;
		_exit(gmm_guest_create(&c, &g) == -EMFILE ? 0 : 101);
	}
	assert_int_equal(waitpid(pid, &status, 0), pid);
	n = pread(fd, text, sizeof(text) - 1, 0);
	close(fd);
	unlink(path);
	text[n > 0 ? n : 0] = 0;
	print_message("stderr: %s", text);
	assert_true(WIFEXITED(status) && WEXITSTATUS(status) == 0);
	assert_string_equal(text, "guestmm: cannot make the guest's RAM (64.00 MiB): memfd_create: Too many open files\n");
}

/* The pids whose parent is @ppid. */
static unsigned int children_of(pid_t ppid, pid_t *out, unsigned int max)
{
	DIR *d = opendir("/proc");
	struct dirent *e;
	unsigned int n = 0;

	assert_non_null(d);
	while ((e = readdir(d)) && n < max) {
		char path[300], buf[512], *p;
		FILE *fp;
		int pp;

		if (e->d_name[0] < '1' || e->d_name[0] > '9')
			continue;
		snprintf(path, sizeof(path), "/proc/%s/stat", e->d_name);
		fp = fopen(path, "r");
		if (!fp)
			continue;
		if (fgets(buf, sizeof(buf), fp) && (p = strrchr(buf, ')')) &&
		    sscanf(p + 2, "%*c %d", &pp) == 1 && pp == ppid)
			out[n++] = (pid_t)atoi(e->d_name);
		fclose(fp);
	}
	closedir(d);
	return n;
}

/* Kill the host mid-run: its guest process must not outlive it. */
static void test_no_orphans(void **state)
{
	pid_t host, guest = 0;
	int status;

	(void)state;
	/* Orphans come to us, not to init, so that we can see them die. */
	assert_int_equal(prctl(PR_SET_CHILD_SUBREAPER, 1), 0);
	host = fork();
	assert_true(host >= 0);
	if (host == 0) {
		struct run_opts o;
		struct run_result *r = calloc(1, sizeof(*r));

		proc_opts(&o);
		o.cycles = 64;
		o.sleep_ms = 100000;
		_exit(r && run_guest(&o, r) == 0 ? 0 : 1);
	}
	for (int i = 0; i < WAIT_MS && !guest; i++) {
		pid_t kids[4];

		if (children_of(host, kids, 4) == 1)
			guest = kids[0];
		else
			usleep(1000);
	}
	assert_true(guest > 0);
	assert_int_equal(kill(host, SIGKILL), 0);
	assert_int_equal(waitpid(host, &status, 0), host);
	assert_true(WIFSIGNALED(status));
	/* The guest was reparented to us; it must die of its host's death. */
	assert_int_equal(waitpid(guest, &status, 0), guest);
	assert_true(WIFSIGNALED(status));
	assert_int_equal(WTERMSIG(status), SIGKILL);
	assert_int_equal(prctl(PR_SET_CHILD_SUBREAPER, 0), 0);
}

int main(int argc, char **argv)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_queue_numbering),
		cmocka_unit_test_setup_teardown(test_negotiation, setup, teardown),
		cmocka_unit_test_setup_teardown(test_report_round_trip, setup,
						teardown),
		cmocka_unit_test_setup_teardown(test_inflate_deflate, setup,
						teardown),
		cmocka_unit_test_setup_teardown(test_stats, setup, teardown),
		cmocka_unit_test_setup_teardown(test_host_gone, setup, teardown),
		cmocka_unit_test_setup_teardown(test_bitmap_round_trip,
						setup_bitmap, teardown),
		cmocka_unit_test_setup_teardown(test_bitmap_done_for_nothing,
						setup_bitmap, teardown),
		cmocka_unit_test_setup_teardown(test_hint_commands_without_bitmap,
						setup_bitmap, teardown),
		cmocka_unit_test(test_process_guest_returns_memory),
		cmocka_unit_test(test_process_guest_bitmap),
		cmocka_unit_test(test_process_guest_bitmap_stress),
		cmocka_unit_test(test_bad_guest_exe),
		cmocka_unit_test(test_no_orphans),
		cmocka_unit_test(test_console_done_then_linger),
		cmocka_unit_test(test_console_control_chars),
		cmocka_unit_test(test_console_stderr),
		cmocka_unit_test(test_console_fake_return),
		cmocka_unit_test(test_console_talks_after_done),
		cmocka_unit_test(test_console_overlong_line),
		cmocka_unit_test(test_console_cycle_jump),
		cmocka_unit_test(test_console_signed_numbers),
		cmocka_unit_test(test_nofile_limits),
		cmocka_unit_test(test_guest_end_named),
		cmocka_unit_test(test_guest_rlimit_as_named),
		cmocka_unit_test(test_memfd_failure_named),
	};
	ssize_t n;

	/* Started by the runner as a guest process. */
	if (argc > 1 && !strcmp(argv[1], "guest"))
		return run_guest_process_main(argc - 1, argv + 1);
	n = readlink("/proc/self/exe", self_exe, sizeof(self_exe) - 1);
	if (n <= 0)
		return 1;
	self_exe[n] = 0;
	/* GUESTMM_TEST=pattern runs only the tests whose names match. */
	if (getenv("GUESTMM_TEST"))
		cmocka_set_test_filter(getenv("GUESTMM_TEST"));
	return cmocka_run_group_tests(tests, NULL, NULL);
}
