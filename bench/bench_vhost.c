/*
 * bench_vhost.c - `guestmm bench vhost`: the free page report round trip
 * through vhost-user, against the physical limit.
 *
 * A process guest (2 GiB memfd as guest RAM, the reporting queue driven by
 * the virtqueue driver half, the frontend module as transport) talks to our
 * balloon backend, which runs its server loop on a thread of the same
 * process.  One sample writes a batch's worth of guest memory (Linux's
 * PAGE_REPORTING_CAPACITY, 32 entries of 4 MiB, its largest block: 128 MiB),
 * then times from queueing the 32-entry report and kicking until the used
 * buffer comes back on the call eventfd.  The backend punches each entry
 * out of the memfd, so the physical limit is the same fallocate(PUNCH_HOLE
 * | KEEP_SIZE) of the same written 128 MiB in 4 MiB pieces, done directly;
 * it is measured in the same run, interleaved A B A B, because the machines
 * are shared and noisy.  A 1-entry report of 4 MiB against a 4 MiB punch
 * shows the fixed cost of one round trip (ring, eventfds, two thread
 * wakeups).  Batches move through guest RAM, so each one is fresh memory
 * that the host really allocated and really gets back (checked against the
 * balloon's discarded_bytes after every sample).
 *
 * Two guests run side by side, each with its own backend: one whose device
 * is served by a thread of its own (VHOST_USER_THREAD_PER_DEVICE, what
 * every program uses) and one served by the single loop every device
 * shared before (VHOST_USER_THREAD_ONE, run by the backend's thread).
 * The report cases run on both, in the same A B A B pairs, so the cost of
 * a thread per device is read off one run.
 */
#ifndef _GNU_SOURCE
#define _GNU_SOURCE
#endif
#include <errno.h>
#include <fcntl.h>
#include <math.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <unistd.h>

#include "bench/bench.h"
#include "runner/run.h"
#include "guest/vhost_user_frontend.h"
#include "host/backend.h"
#include "host/balloon.h"
#include "host/tmp_dir.h"
#include "host/vhost_user.h"
#include "tools/cli.h"
#include "virtio/virtqueue.h"


#define BV_MEM_BYTES (2ull << 30) /* the default guest RAM */
#define BV_ENTRY_BYTES (4u << 20) /* MAX_ORDER - 1 block: Linux's largest */
#define BV_BATCH 32 /* PAGE_REPORTING_CAPACITY */
#define BV_RING_AREA BV_ENTRY_BYTES /* RAM below this holds the ring */
#define BV_QNUM 64 /* room for one batch; the device wants >= 32 */
#define BV_WAIT_MS 5000
/* Samples kept per measurement: a batch sample takes tens of ms. */
#define BV_SAMPLES_MAX 4096
#define BV_PAIRS_MAX 64
#define BV_WANT                                                                \
	(VIRTIO_FEATURE(VIRTIO_F_VERSION_1) |                                  \
	 VIRTIO_FEATURE(VIRTIO_RING_F_EVENT_IDX) |                             \
	 VIRTIO_FEATURE(VIRTIO_BALLOON_F_REPORTING))

/*
 * The bench's guest and its backend.  The backend serves on its own thread
 * (host/backend.h); everything here belongs to the bench's thread.
 */
struct bv {
	enum vhost_user_threads threads;
	struct tmp_dir dir; /* its socket's */
	char path[TMP_DIR_PATH_MAX + 16];
	struct balloon_backend be;
	int memfd;
	uint8_t *mem;
	struct vhost_user_frontend *fe;
	unsigned int q;
	struct virtqueue_config cfg;
	struct virtqueue vq;
	struct virtqueue_desc_state state[BV_QNUM];
	uint64_t next; /* offset of the next batch in guest RAM */
	uint64_t discarded; /* balloon's discarded_bytes after the last */
};

static void bv_server_stop(struct bv *b)
{
	balloon_backend_stop(&b->be);
	tmp_dir_destroy(&b->dir);
}

/* Return: 0, or a negative errno. */
static int bv_server_start(struct bv *b)
{
	int err;

	err = tmp_dir_create(&b->dir, "bench");
	if (err)
		return err;
	snprintf(b->path, sizeof(b->path), "%s/balloon.sock", b->dir.path);
	err = balloon_backend_start_threads(&b->be, b->path,
					    BALLOON_FEATURES_DEFAULT, b->threads);
	if (err) {
		tmp_dir_destroy(&b->dir);
		return err;
	}
	balloon_set_stats_interval(b->be.balloon, 0);
	return 0;
}

/* The guest: RAM, frontend, reporting queue.  Return: 0 or -errno. */
static int bv_guest_start(struct bv *b)
{
	uint64_t features;
	int err, q;

	b->memfd = memfd_create("guestmm-bench-vhost", MFD_CLOEXEC);
	if (b->memfd < 0)
		return -errno;
	if (ftruncate(b->memfd, (off_t)BV_MEM_BYTES) < 0) {
		err = -errno;
		goto undo_memfd;
	}
	b->mem = mmap(NULL, BV_MEM_BYTES, PROT_READ | PROT_WRITE, MAP_SHARED,
		      b->memfd, 0);
	if (b->mem == MAP_FAILED) {
		err = -errno;
		goto undo_memfd;
	}
	err = vhost_user_frontend_connect(b->path, &b->fe);
	if (err)
		goto undo_map;
	err = vhost_user_frontend_negotiate(b->fe, BV_WANT, &features);
	if (!err && features != BV_WANT)
		err = -EOPNOTSUPP;
	if (!err)
		err = vhost_user_frontend_set_mem(b->fe, b->memfd, b->mem, 0,
						  BV_MEM_BYTES);
	if (err)
		goto undo_fe;
	q = balloon_queue_index(features, BALLOON_VQ_REPORTING);
	if (q < 0) {
		err = q;
		goto undo_fe;
	}
	b->q = (unsigned int)q;
	err = vhost_user_frontend_ring_place(&b->cfg, BV_QNUM, 0, BV_RING_AREA);
	if (err)
		goto undo_fe;
	b->cfg.features = features;
	b->cfg.translate = vhost_user_frontend_translate;
	b->cfg.ctx = b->fe;
	b->cfg.state = b->state;
	err = virtqueue_init(&b->vq, &b->cfg);
	if (!err)
		err = vhost_user_frontend_queue_start(b->fe, b->q, &b->cfg);
	if (err)
		goto undo_fe;
	b->next = BV_RING_AREA;
	return 0;

undo_fe:
	vhost_user_frontend_close(b->fe);
undo_map:
	munmap(b->mem, BV_MEM_BYTES);
undo_memfd:
	close(b->memfd);
	return err;
}

static void bv_guest_stop(struct bv *b)
{
	vhost_user_frontend_close(b->fe);
	munmap(b->mem, BV_MEM_BYTES);
	close(b->memfd);
}

/* Write @n entries of @size bytes of fresh guest memory; its offset. */
static uint64_t bv_write(struct bv *b, unsigned int n, uint32_t size)
{
	uint64_t len = (uint64_t)n * size, off;

	if (b->next + len > BV_MEM_BYTES)
		b->next = BV_RING_AREA;
	off = b->next;
	b->next += len;
	memset(b->mem + off, 0x5a, len);
	return off;
}

/*
 * One report of @n entries of @size bytes through vhost-user.
 * Return: 0 with *@dt the round trip in seconds; -ETIMEDOUT, -EPIPE ...
 * from the transport; -EIO when the backend did not discard it all.
 */
static int bv_report(struct bv *b, unsigned int n, uint32_t size, double *dt)
{
	struct vring_sg sg[BV_BATCH];
	struct balloon_stats st;
	uint64_t off = bv_write(b, n, size);
	void *token;
	uint32_t len;
	double t0;
	int err;

	for (unsigned int i = 0; i < n; i++)
		sg[i] = (struct vring_sg){ off + (uint64_t)i * size, size };
	t0 = run_now_s();
	err = virtqueue_add(&b->vq, sg, 0, n, b);
	if (!err && virtqueue_kick_prepare(&b->vq))
		err = vhost_user_frontend_kick(b->fe, b->q);
	if (!err)
		err = vhost_user_frontend_wait_call(b->fe, b->q, BV_WAIT_MS);
	if (!err)
		err = virtqueue_get_used(&b->vq, &token, &len);
	*dt = run_now_s() - t0;
	if (err)
		return err;
	balloon_get_stats(b->be.balloon, &st);
	if (st.discarded_bytes - b->discarded != (uint64_t)n * size)
		return -EIO;
	b->discarded = st.discarded_bytes;
	return 0;
}

/* The same written memory punched directly: the physical limit. */
static int bv_punch(struct bv *b, unsigned int n, uint32_t size, double *dt)
{
	uint64_t off = bv_write(b, n, size);
	double t0 = run_now_s();

	for (unsigned int i = 0; i < n; i++)
		if (fallocate(b->memfd, FALLOC_FL_PUNCH_HOLE | FALLOC_FL_KEEP_SIZE,
			      (off_t)(off + (uint64_t)i * size), size) < 0)
			return -errno;
	*dt = run_now_s() - t0;
	return 0;
}

/* One measurement: what is done to how much, for what share of time. */
struct bv_case {
	const char *name;
	unsigned int guest; /* BV_PER_DEVICE or BV_ONE_LOOP */
	int (*fn)(struct bv *b, unsigned int n, uint32_t size, double *dt);
	unsigned int n;
	uint32_t size;
	double share; /* of the seconds per pair */
};

/*
 * Samples of @c for @seconds (at least 3); the median in *@med.
 * Return: 0 or the first sample's error.
 */
static int bv_measure(struct bv *b, const struct bv_case *c, double seconds,
		      double *med)
{
	double v[BV_SAMPLES_MAX], end = run_now_s() + seconds;
	unsigned int k = 0;
	int err;

	while (k < BV_SAMPLES_MAX && (k < 3 || run_now_s() < end)) {
		err = c->fn(b, c->n, c->size, &v[k]);
		if (err)
			return err;
		k++;
	}
	*med = median(v, k);
	return 0;
}

static void minmax(const double *v, unsigned int n, double *lo, double *hi)
{
	*lo = INFINITY;
	*hi = -INFINITY;
	for (unsigned int i = 0; i < n; i++) {
		*lo = fmin(*lo, v[i]);
		*hi = fmax(*hi, v[i]);
	}
}

/* The cases, A B A B: each report beside the punch it is held against.
 * One page is the smallest report: its round trip is almost all fixed
 * cost (ring, two eventfds, two thread wakeups, one tiny fallocate). */
enum { BV_PER_DEVICE, BV_ONE_LOOP, BV_NR_GUESTS };
enum { REPORT, PUNCH, SMALL_REPORT, SMALL_PUNCH, PAGE_REPORT, PAGE_PUNCH,
       REPORT_ONE, PAGE_REPORT_ONE, BV_NR_CASES };
static const struct bv_case bv_cases[BV_NR_CASES] = {
	[REPORT] = { "report 32 x 4 MiB", BV_PER_DEVICE, bv_report, BV_BATCH, BV_ENTRY_BYTES, 0.3 },
	[PUNCH] = { "punch 32 x 4 MiB", BV_PER_DEVICE, bv_punch, BV_BATCH, BV_ENTRY_BYTES, 0.3 },
	[SMALL_REPORT] = { "report 1 x 4 MiB", BV_PER_DEVICE, bv_report, 1, BV_ENTRY_BYTES, 0.1 },
	[SMALL_PUNCH] = { "punch 1 x 4 MiB", BV_PER_DEVICE, bv_punch, 1, BV_ENTRY_BYTES, 0.1 },
	[PAGE_REPORT] = { "report 1 x 4 KiB", BV_PER_DEVICE, bv_report, 1, 4096, 0.1 },
	[PAGE_PUNCH] = { "punch 1 x 4 KiB", BV_PER_DEVICE, bv_punch, 1, 4096, 0.1 },
	[REPORT_ONE] = { "one loop: report 32 x 4 MiB", BV_ONE_LOOP, bv_report, BV_BATCH, BV_ENTRY_BYTES, 0.3 },
	[PAGE_REPORT_ONE] = { "one loop: report 1 x 4 KiB", BV_ONE_LOOP, bv_report, 1, 4096, 0.1 },
};

static double gib_per_s(const struct bv_case *c, double s)
{
	return (double)c->n * c->size / s / (double)(1u << 30);
}

/*
 * bench_vhost - the report round trip through vhost-user against
 * fallocate(PUNCH_HOLE) alone: @pairs rounds of every case in bv_cases, A B
 * A B, each sampled for its share of @seconds; a table, or with @json one
 * JSON object, on stdout.
 * Return: 0, or a negative errno after one line on stderr: -EINVAL for 0 or
 * more than 64 pairs or seconds <= 0; -ENODATA when a median round trip took
 * no time (measured nothing); another when the guest, the backend or a round
 * trip fails.
 */
int bench_vhost(unsigned int pairs, double seconds, bool json)
{
	double t[BV_NR_CASES][BV_PAIRS_MAX], m[BV_NR_CASES];
	double ratio[BV_PAIRS_MAX], fixed[BV_PAIRS_MAX], lo, hi, mq, mfixed;
	double vs_batch[BV_PAIRS_MAX], vs_page[BV_PAIRS_MAX];
	double vb_lo, vb_hi, vp_lo, vp_hi, mvb, mvp;
	const char *step = "backend";
	struct bv *bs;
	unsigned int g, started = 0;
	struct json j;
	int err = 0;

	if (pairs == 0 || pairs > BV_PAIRS_MAX || !(seconds > 0)) {
		fprintf(stderr, "guestmm: bench vhost: %u pairs of %g s: out of range\n",
			pairs, seconds);
		return -EINVAL;
	}
	bs = calloc(BV_NR_GUESTS, sizeof(*bs));
	if (!bs) {
		fprintf(stderr, "guestmm: bench vhost: %s\n", strerror(ENOMEM));
		return -ENOMEM;
	}
	bs[BV_PER_DEVICE].threads = VHOST_USER_THREAD_PER_DEVICE;
	bs[BV_ONE_LOOP].threads = VHOST_USER_THREAD_ONE;
	for (g = 0; g < BV_NR_GUESTS && !err; g++) {
		step = "backend";
		err = bv_server_start(&bs[g]);
		if (err)
			break;
		step = "guest";
		err = bv_guest_start(&bs[g]);
		if (err) {
			bv_server_stop(&bs[g]);
			break;
		}
		started++;
	}
	for (unsigned int i = 0; i < pairs && !err; i++) {
		for (unsigned int k = 0; k < BV_NR_CASES && !err; k++) {
			step = bv_cases[k].name;
			err = bv_measure(&bs[bv_cases[k].guest], &bv_cases[k],
					 seconds * bv_cases[k].share, &t[k][i]);
		}
		if (err)
			break;
		ratio[i] = t[PUNCH][i] / t[REPORT][i];
		fixed[i] = t[PAGE_REPORT][i] - t[PAGE_PUNCH][i];
		/* Throughput with a thread per device over the single loop's. */
		vs_batch[i] = t[REPORT_ONE][i] / t[REPORT][i];
		vs_page[i] = t[PAGE_REPORT_ONE][i] / t[PAGE_REPORT][i];
		if (!json)
			fprintf(stderr, "  pair %u: 32 x 4 MiB report %.0f us, punch %.0f us; 1 x 4 MiB %.0f / %.0f us; 1 x 4 KiB %.1f / %.1f us\n",
				i + 1, t[REPORT][i] * 1e6, t[PUNCH][i] * 1e6,
				t[SMALL_REPORT][i] * 1e6,
				t[SMALL_PUNCH][i] * 1e6,
				t[PAGE_REPORT][i] * 1e6,
				t[PAGE_PUNCH][i] * 1e6);
		if (!json)
			fprintf(stderr, "          one loop: 32 x 4 MiB report %.0f us, 1 x 4 KiB %.1f us\n",
				t[REPORT_ONE][i] * 1e6,
				t[PAGE_REPORT_ONE][i] * 1e6);
	}
	for (g = started; g-- > 0;) {
		bv_guest_stop(&bs[g]);
		bv_server_stop(&bs[g]);
	}
	free(bs);
	if (err) {
		fprintf(stderr, "guestmm: bench vhost: %s: %s\n", step,
			strerror(-err));
		return err;
	}

	for (unsigned int k = 0; k < BV_NR_CASES; k++) {
		m[k] = median(t[k], pairs);
		if (!(m[k] > 0) || !isfinite(m[k])) {
			bench_measured_nothing("vhost", "%s took no time",
					       bv_cases[k].name);
			return -ENODATA;
		}
	}
	minmax(ratio, pairs, &lo, &hi);
	mq = median(ratio, pairs);
	mfixed = median(fixed, pairs);
	minmax(vs_batch, pairs, &vb_lo, &vb_hi);
	minmax(vs_page, pairs, &vp_lo, &vp_hi);
	mvb = median(vs_batch, pairs);
	mvp = median(vs_page, pairs);
	if (json) {
		json_begin(&j, stdout);
		json_str(&j, "bench", "vhost");
		json_u64(&j, "pairs", pairs);
		json_double(&j, "seconds", seconds);
		json_u64(&j, "guest_mem_bytes", BV_MEM_BYTES);
		json_u64(&j, "batch_entries", BV_BATCH);
		json_u64(&j, "entry_bytes", BV_ENTRY_BYTES);
		json_double(&j, "report_batch_us", m[REPORT] * 1e6);
		json_double(&j, "report_gib_per_s", gib_per_s(&bv_cases[REPORT], m[REPORT]));
		json_double(&j, "punch_batch_us", m[PUNCH] * 1e6);
		json_double(&j, "punch_gib_per_s", gib_per_s(&bv_cases[PUNCH], m[PUNCH]));
		json_double(&j, "report_fraction_of_limit", m[PUNCH] / m[REPORT]);
		json_double(&j, "median_pair_fraction", mq);
		json_double(&j, "min_pair_fraction", lo);
		json_double(&j, "max_pair_fraction", hi);
		json_double(&j, "report_1x4mib_us", m[SMALL_REPORT] * 1e6);
		json_double(&j, "punch_1x4mib_us", m[SMALL_PUNCH] * 1e6);
		json_double(&j, "report_1x4kib_us", m[PAGE_REPORT] * 1e6);
		json_double(&j, "punch_1x4kib_us", m[PAGE_PUNCH] * 1e6);
		json_double(&j, "round_trip_fixed_us", mfixed * 1e6);
		json_double(&j, "one_loop_report_batch_us", m[REPORT_ONE] * 1e6);
		json_double(&j, "one_loop_report_1x4kib_us", m[PAGE_REPORT_ONE] * 1e6);
		json_double(&j, "per_device_over_one_loop_batch", mvb);
		json_double(&j, "per_device_over_one_loop_batch_min", vb_lo);
		json_double(&j, "per_device_over_one_loop_batch_max", vb_hi);
		json_double(&j, "per_device_over_one_loop_1x4kib", mvp);
		json_double(&j, "per_device_over_one_loop_1x4kib_min", vp_lo);
		json_double(&j, "per_device_over_one_loop_1x4kib_max", vp_hi);
		json_end(&j);
		return 0;
	}
	printf("vhost: free page report round trip through vhost-user (balloon device\n"
	       "on a thread of its own, %.0f GiB memfd guest RAM), from queueing to the used\n"
	       "buffer, against fallocate(PUNCH_HOLE) of the same written memory in the same\n"
	       "pieces, and against the single loop every device shared before; %u A/B\n"
	       "pairs, medians\n",
	       (double)BV_MEM_BYTES / (1u << 30), pairs);
	printf("%-30s %14s %10s\n", "", "per round trip", "GiB/s");
	for (unsigned int k = 0; k < BV_NR_CASES; k++)
		printf("%-30s %11.1f us %10.2f\n", bv_cases[k].name,
		       m[k] * 1e6, gib_per_s(&bv_cases[k], m[k]));
	printf("%-30s %14.3f  (pair median %.3f, %.3f..%.3f)\n",
	       "batch: report / limit", m[PUNCH] / m[REPORT], mq, lo, hi);
	printf("%-30s %11.1f us  (1 x 4 KiB report - punch, pair median)\n",
	       "fixed cost of a round trip", mfixed * 1e6);
	printf("%-30s %14.3f  (32 x 4 MiB; pair median %.3f, %.3f..%.3f)\n",
	       "thread per device / one loop", m[REPORT_ONE] / m[REPORT], mvb,
	       vb_lo, vb_hi);
	printf("%-30s %14.3f  (1 x 4 KiB; pair median %.3f, %.3f..%.3f)\n",
	       "", m[PAGE_REPORT_ONE] / m[PAGE_REPORT], mvp, vp_lo, vp_hi);
	printf("(throughput ratios: one loop's round trip over the per-device thread's)\n");
	return 0;
}
