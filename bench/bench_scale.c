/*
 * bench_scale.c - `guestmm bench scale`: how page_fault1 scales with vCPUs,
 * and what stops it.
 *
 * will-it-scale's page_fault1 (each vCPU thread allocates 128 MiB of order-0
 * frames, zeroes each, frees them) runs at each thread count with reporting
 * off and on, A B A B in pairs, for one spinlock algorithm or for all four
 * side by side (the algorithm is chosen before each guest is built).  Each
 * run is a fresh guest with as many vCPUs as threads, lock waits and holds
 * timed, the statistics zeroed when the warm-up ends.  Frames/s are medians
 * over the pairs; lock statistics are summed over them.
 *
 * The scaling model the table carries: a frame costs each thread
 *
 *	frame time  T = min(threads, cores) / (frames/s)
 *
 * (a frame's time on a core: with more threads than cores, a thread's own
 * clock also counts the time it waits for a core, which a host with a core
 * per vCPU would not see)
 * of which it holds a zone lock for h = zone hold time / frames (the per-CPU
 * lists refill and drain in batches under it).  N threads keep that lock busy
 * N h / T of the time, so it saturates at N = T / h vCPUs, the "saturation"
 * column: beyond it, frames/s cannot grow whatever the lock algorithm.
 * Beside it, measured in the same run, what zeroing alone allows (memset at
 * 1 and 2 threads, the machine's cores), and what took the zone lock on every
 * operation before order-9 blocks had per-CPU lists: order-9 alloc+free
 * pairs per second per thread at 1 and 2 threads, whose ratio shows what the
 * threads still share.
 */
#define _GNU_SOURCE
#include <errno.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "bench/bench.h"
#include "mm/gfp.h"
#include "tools/cli.h"
#include "runner/run.h"
#include "tools/commands.h"

#define SCALE_WARMUP_S 1.0
/* The order-9 measurement's guest: the zone lock does not care about size. */
#define SCALE_ALLOC_MEM (512ull << 20)

/* One row: a thread count, reporting off or on, a lock kind. */
struct scale_row {
	double fps[MAX_REPS];		/* frames/s, one per pair */
	struct lock_stats locks[NR_MM_LOCK_CLASSES]; /* summed over pairs */
	uint64_t frames;		/* measured, summed over pairs */
	double measured_s;		/* summed over pairs */
	uint64_t alloc_failures;
	double cpu_s, sys_s;		/* getrusage, summed over pairs */
	uint64_t vol_switches, invol_switches, parks;
	/* Derived, after the runs. */
	double median, lo, hi;
	double zone_hold_ns;		/* zone locks' hold time, scaled up to
					   every acquisition */
	double contended;		/* zone-lock acquisitions that waited */
	double held;			/* share of wall time a zone lock was held */
	double hold_per_frame_ns;	/* h of the model */
	double frame_time_ns;		/* T of the model */
	double cpu_per_frame_ns;	/* core time (user + sys) per frame */
	double sys_share;		/* of that core time, in the kernel */
	double cpu_use;			/* core time / (wall x usable cores) */
	double switches_per_s;		/* context switches, both kinds */
};

/* Order-9 alloc+free pairs/s per thread, at 1 and 2 threads, per pair. */
struct scale_alloc {
	double rate[2][MAX_REPS];
	double median[2];
};

struct scale {
	const struct bench_opts *b;
	/* [lock index][reporting][thread index] */
	struct scale_row row[NR_SPIN_LOCK_KINDS][2][BENCH_MAX_THREAD_COUNTS];
	struct scale_alloc alloc[NR_SPIN_LOCK_KINDS];
	/* Zeroing alone with as many threads as each row, once per pair. */
	double zeroing[BENCH_MAX_THREAD_COUNTS][MAX_REPS];
	double zeroing_med[BENCH_MAX_THREAD_COUNTS];
};

static void add_lock_stats(struct lock_stats *sum, const struct lock_stats *l)
{
	sum->acquisitions += l->acquisitions;
	sum->contentions += l->contentions;
	sum->wait_ns += l->wait_ns;
	sum->hold_ns += l->hold_ns;
	sum->timed += l->timed;
	if (l->wait_max_ns > sum->wait_max_ns)
		sum->wait_max_ns = l->wait_max_ns;
	if (l->hold_max_ns > sum->hold_max_ns)
		sum->hold_max_ns = l->hold_max_ns;
}

/* One page_fault1 run.  Return: 0, or the exit status after a message. */
static int scale_run(struct scale *s, unsigned int k, unsigned int rep,
		     unsigned int t, unsigned int pair)
{
	const struct bench_opts *b = s->b;
	struct scale_row *row = &s->row[k][rep][t];
	struct run_opts o;
	struct run_result r;
	int err;

	run_opts_init(&o);
	/* The process guest relays its lock statistics and its rusage. */
	o.mode = b->guest == BENCH_GUEST_OURS ? RUN_PROCESS : RUN_IN_PROCESS;
	o.cfg.mem_bytes = b->mem_bytes;
	o.cfg.cpus = b->threads[t];
	o.cfg.reporting = rep;
	o.kind = WORKLOAD_PAGEFAULT;
	o.lock = b->locks[k];
	o.lock_stats = true;
	o.warmup_s = SCALE_WARMUP_S;
	o.duration_s = SCALE_WARMUP_S + b->seconds;
	err = run_guest(&o, &r);
	if (err) {
		fprintf(stderr, "guestmm: bench scale: %s\n", run_strerror(&r, err));
		return 1;
	}
	if (!r.warmed_up)
		return bench_measured_nothing("scale",
			"%u threads, reporting %s: the warm-up did not end within a minute past the run",
			b->threads[t], rep ? "on" : "off");
	if (!(r.frames_per_s > 0) || !isfinite(r.frames_per_s) || !r.frames)
		return bench_measured_nothing("scale",
			"%u threads, reporting %s, %s locks: no frames (%llu allocation failures)",
			b->threads[t], rep ? "on" : "off",
			spin_lock_kind_names[b->locks[k]],
			(unsigned long long)r.alloc_failures);
	row->fps[pair] = r.frames_per_s;
	row->frames += r.frames;
	row->measured_s += r.measured_s;
	row->alloc_failures += r.alloc_failures;
	row->cpu_s += r.cpu_user_s + r.cpu_sys_s;
	row->sys_s += r.cpu_sys_s;
	row->vol_switches += r.vol_switches;
	row->invol_switches += r.invol_switches;
	row->parks += r.parks;
	for (unsigned int c = 0; c < NR_MM_LOCK_CLASSES; c++)
		add_lock_stats(&row->locks[c], &r.locks[c]);
	if (!b->json)
		fprintf(stderr, "  %2u threads pair %u %-6s reporting %-3s %12.0f frames/s, zone lock %llu/%llu contended\n",
			b->threads[t], pair + 1, spin_lock_kind_names[b->locks[k]],
			rep ? "on" : "off", r.frames_per_s,
			(unsigned long long)r.locks[MM_LOCK_ZONE].contentions,
			(unsigned long long)r.locks[MM_LOCK_ZONE].acquisitions);
	return 0;
}

/* Order-9 pairs at 1 and 2 threads on a guest of their own. */
static int scale_alloc_run(struct scale *s, unsigned int k, unsigned int pair)
{
	struct gmm_guest_config cfg;
	struct gmm_guest *g;
	int err;

	gmm_guest_config_init(&cfg);
	cfg.mem_bytes = SCALE_ALLOC_MEM;
	cfg.reporting = false;
	spin_lock_set_kind(s->b->locks[k]); /* no guest exists */
	err = gmm_guest_create(&cfg, &g);
	if (err) {
		fprintf(stderr, "guestmm: bench scale: %s\n", strerror(-err));
		return 1;
	}
	for (unsigned int t = 0; t < 2 && !err; t++)
		err = bench_alloc_rate(g, t + 1, PAGEBLOCK_ORDER,
				       s->b->seconds / 4,
				       &s->alloc[k].rate[t][pair]);
	gmm_guest_destroy(g);
	if (err == -ENOMEM)
		return bench_measured_nothing("scale", "order-9 alloc_pages() failed");
	if (err) {
		fprintf(stderr, "guestmm: bench scale: %s\n", strerror(-err));
		return 1;
	}
	for (unsigned int t = 0; t < 2; t++)
		if (!(s->alloc[k].rate[t][pair] > 0))
			return bench_measured_nothing("scale",
				"no order-9 alloc+free pair with %u thread%s",
				t + 1, t ? "s" : "");
	return 0;
}

/* Zone-lock hold time per frame, ns; NaN when nothing was timed. */
static double hold_per_frame_ns(const struct scale_row *row)
{
	return row->frames && row->locks[MM_LOCK_ZONE].timed
		       ? row->zone_hold_ns / (double)row->frames
		       : NAN;
}

/* The cores @threads threads can use at once. */
static unsigned int usable_cores(unsigned int threads)
{
	long cores = sysconf(_SC_NPROCESSORS_ONLN);

	return cores > 0 && threads > (unsigned long)cores ? (unsigned int)cores
							   : threads;
}

static double frame_time_ns(const struct scale_row *row, unsigned int threads)
{
	return (double)usable_cores(threads) * 1e9 / row->median;
}

static double fraction(uint64_t part, uint64_t whole)
{
	return whole ? (double)part / (double)whole : NAN;
}

static void scale_derive(struct scale *s)
{
	const struct bench_opts *b = s->b;

	for (unsigned int k = 0; k < b->nr_locks; k++) {
		for (unsigned int rep = 0; rep < 2; rep++) {
			for (unsigned int t = 0; t < b->nr_threads; t++) {
				struct scale_row *row = &s->row[k][rep][t];
				const struct lock_stats *z = &row->locks[MM_LOCK_ZONE];

				row->median = median(row->fps, b->pairs);
				row->lo = INFINITY;
				row->hi = -INFINITY;
				for (unsigned int i = 0; i < b->pairs; i++) {
					row->lo = fmin(row->lo, row->fps[i]);
					row->hi = fmax(row->hi, row->fps[i]);
				}
				/* A lock held across the reset was not timed. */
				row->zone_hold_ns = z->timed
					? (double)z->hold_ns * (double)z->acquisitions /
						  (double)z->timed
					: NAN;
				row->contended = fraction(z->contentions, z->acquisitions);
				row->held = row->zone_hold_ns / (row->measured_s * 1e9);
				row->hold_per_frame_ns = hold_per_frame_ns(row);
				row->frame_time_ns = frame_time_ns(row, b->threads[t]);
				row->cpu_per_frame_ns = row->frames
					? row->cpu_s * 1e9 / (double)row->frames : NAN;
				row->sys_share = row->cpu_s > 0
					? row->sys_s / row->cpu_s : NAN;
				row->cpu_use = row->cpu_s /
					(row->measured_s * usable_cores(b->threads[t]));
				row->switches_per_s =
					(double)(row->vol_switches + row->invol_switches) /
					row->measured_s;
			}
		}
		for (unsigned int t = 0; t < 2; t++)
			s->alloc[k].median[t] = median(s->alloc[k].rate[t], b->pairs);
	}
	for (unsigned int t = 0; t < b->nr_threads; t++)
		s->zeroing_med[t] = median(s->zeroing[t], b->pairs);
}

/* The zeroing figure of the row with @threads threads, or NaN. */
static double zeroing_at(const struct scale *s, unsigned int threads)
{
	for (unsigned int t = 0; t < s->b->nr_threads; t++)
		if (s->b->threads[t] == threads)
			return s->zeroing_med[t];
	return NAN;
}

static void scale_json(const struct scale *s)
{
	const struct bench_opts *b = s->b;
	struct json j;

	json_begin(&j, stdout);
	json_str(&j, "bench", "scale");
	json_u64(&j, "pairs", b->pairs);
	json_double(&j, "seconds", b->seconds);
	json_double(&j, "warmup_s", SCALE_WARMUP_S);
	json_str(&j, "guest", b->guest == BENCH_GUEST_OURS ? "process"
							   : "in-process");
	json_u64(&j, "guest_mem_bytes", b->mem_bytes);
	json_bool(&j, "lock_timing", true);
	json_u64(&j, "base_threads", b->threads[0]);
	json_array(&j, "rows");
	for (unsigned int k = 0; k < b->nr_locks; k++) {
		for (unsigned int rep = 0; rep < 2; rep++) {
			const struct scale_row *base = &s->row[k][rep][0];

			for (unsigned int t = 0; t < b->nr_threads; t++) {
				const struct scale_row *row = &s->row[k][rep][t];

				json_object(&j, NULL);
				json_u64(&j, "threads", b->threads[t]);
				json_bool(&j, "reporting", rep);
				json_str(&j, "lock", spin_lock_kind_names[b->locks[k]]);
				json_double(&j, "frames_per_s", row->median);
				json_double(&j, "min_frames_per_s", row->lo);
				json_double(&j, "max_frames_per_s", row->hi);
				json_double(&j, "ratio_vs_base", row->median / base->median);
				json_u64(&j, "frames", row->frames);
				json_double(&j, "measured_s", row->measured_s);
				json_u64(&j, "allocation_failures", row->alloc_failures);
				json_double(&j, "zone_contended_fraction", row->contended);
				json_double(&j, "zone_hold_fraction", row->held);
				json_double(&j, "zone_hold_ns_per_frame",
					    row->hold_per_frame_ns);
				json_double(&j, "frame_time_ns", row->frame_time_ns);
				json_double(&j, "saturation_vcpus",
					    row->frame_time_ns / row->hold_per_frame_ns);
				json_double(&j, "zeroing_frames_per_s", s->zeroing_med[t]);
				json_double(&j, "ratio_vs_zeroing",
					    row->median / s->zeroing_med[t]);
				json_double(&j, "cpu_ns_per_frame", row->cpu_per_frame_ns);
				json_double(&j, "cpu_sys_fraction", row->sys_share);
				json_double(&j, "cpu_use_fraction", row->cpu_use);
				json_double(&j, "context_switches_per_s",
					    row->switches_per_s);
				json_double(&j, "voluntary_switches_per_s",
					    (double)row->vol_switches / row->measured_s);
				json_double(&j, "parks_per_s",
					    (double)row->parks / row->measured_s);
				json_lock_stats(&j, "lock_stats", row->locks);
				json_object_end(&j);
			}
		}
	}
	json_array_end(&j);
	json_array(&j, "zeroing");
	for (unsigned int t = 0; t < b->nr_threads; t++) {
		json_object(&j, NULL);
		json_u64(&j, "threads", b->threads[t]);
		json_double(&j, "frames_per_s", s->zeroing_med[t]);
		json_double(&j, "frames_per_s_per_thread",
			    s->zeroing_med[t] / b->threads[t]);
		json_object_end(&j);
	}
	json_array_end(&j);
	json_array(&j, "order9_alloc");
	for (unsigned int k = 0; k < b->nr_locks; k++) {
		const struct scale_alloc *a = &s->alloc[k];

		json_object(&j, NULL);
		json_str(&j, "lock", spin_lock_kind_names[b->locks[k]]);
		json_double(&j, "pairs_per_s_per_thread_1t", a->median[0]);
		json_double(&j, "pairs_per_s_per_thread_2t", a->median[1]);
		json_double(&j, "per_thread_ratio_2t_1t", a->median[1] / a->median[0]);
		json_object_end(&j);
	}
	json_array_end(&j);
	json_end(&j);
}

static void scale_table(const struct scale *s)
{
	const struct bench_opts *b = s->b;
	char vs[16];

	printf("scale: will-it-scale page_fault1 (128 MiB per thread, order-0 frames zeroed),\n"
	       "frames/s summed over threads, vCPUs = threads, %.0f MiB guest %s; %u A/B pairs\n"
	       "(reporting off, on) of %.0f s after a warm-up of at least %.0f s and one round\n"
	       "per thread, medians; zone-lock waits and holds timed (TSC), per-CPU locks\n"
	       "counted only; lock statistics summed over the pairs\n",
	       (double)b->mem_bytes / (1 << 20),
	       b->guest == BENCH_GUEST_OURS ? "as a process (memfd RAM)"
					    : "in process",
	       b->pairs, b->seconds, SCALE_WARMUP_S);
	snprintf(vs, sizeof(vs), "vs %ut", b->threads[0]);
	printf("%7s %6s %6s %12s %6s %10s %9s %11s %11s %10s\n", "threads",
	       "report", "lock", "frames/s", vs, "zone cont.", "zone held",
	       "hold/frame", "frame time", "saturation");
	for (unsigned int k = 0; k < b->nr_locks; k++) {
		for (unsigned int rep = 0; rep < 2; rep++) {
			const struct scale_row *base = &s->row[k][rep][0];

			for (unsigned int t = 0; t < b->nr_threads; t++) {
				const struct scale_row *row = &s->row[k][rep][t];

				printf("%7u %6s %6s %12.0f %6.2f %9.2f%% %8.1f%% %8.1f ns %8.1f ns %10.1f\n",
				       b->threads[t], rep ? "on" : "off",
				       spin_lock_kind_names[b->locks[k]],
				       row->median, row->median / base->median,
				       100 * row->contended, 100 * row->held,
				       row->hold_per_frame_ns, row->frame_time_ns,
				       row->frame_time_ns / row->hold_per_frame_ns);
			}
		}
	}
	printf("zone cont.: contended / all zone-lock acquisitions; zone held: share of wall\n"
	       "time a zone lock was held; hold/frame: zone-lock hold time per frame; frame\n"
	       "time: min(threads, cores) / frames/s; saturation: frame time / hold per frame, the vCPU\n"
	       "count at which the zone lock would be held all the time\n");
	printf("\nwhere the cores' time went, against zeroing alone with as many threads\n"
	       "(the physical limit: 4 KiB memsets of 128 MiB of warm memory per thread,\n"
	       "measured once per pair between the runs):\n");
	printf("%7s %6s %6s %12s %8s %8s %10s %6s %10s %9s\n", "threads",
	       "report", "lock", "zeroing/s", "vs zero", "cpu use", "cpu/frame",
	       "sys", "switches/s", "parks/s");
	for (unsigned int k = 0; k < b->nr_locks; k++) {
		for (unsigned int rep = 0; rep < 2; rep++) {
			for (unsigned int t = 0; t < b->nr_threads; t++) {
				const struct scale_row *row = &s->row[k][rep][t];

				printf("%7u %6s %6s %12.0f %8.3f %7.1f%% %7.1f ns %5.1f%% %10.0f %9.0f\n",
				       b->threads[t], rep ? "on" : "off",
				       spin_lock_kind_names[b->locks[k]],
				       s->zeroing_med[t], row->median / s->zeroing_med[t],
				       100 * row->cpu_use, row->cpu_per_frame_ns,
				       100 * row->sys_share, row->switches_per_s,
				       (double)row->parks / row->measured_s);
			}
		}
	}
	printf("vs zero: frames/s / zeroing alone; cpu use: user + system time of the\n"
	       "process / (wall time x min(threads, cores)); cpu/frame: that time per\n"
	       "frame; sys: its share in the kernel; switches/s: context switches of\n"
	       "either kind; parks/s: lock waiters that slept on a futex\n");
	if (!isnan(zeroing_at(s, 2)))
		printf("zeroing alone, 2 threads against 1: %.2fx\n",
		       zeroing_at(s, 2) / zeroing_at(s, 1));
	printf("order-9 alloc+free pairs/s per thread (through the per-CPU lists):\n");
	printf("%6s %14s %14s %12s\n", "lock", "1 thread", "2 threads", "2t / 1t");
	for (unsigned int k = 0; k < b->nr_locks; k++)
		printf("%6s %14.0f %14.0f %12.3f\n", spin_lock_kind_names[b->locks[k]],
		       s->alloc[k].median[0], s->alloc[k].median[1],
		       s->alloc[k].median[1] / s->alloc[k].median[0]);
}

/* Return: 0, or the exit status after a message. */
static int scale_plot(const struct scale *s)
{
	const struct bench_opts *b = s->b;
	FILE *f = bench_plot_open("scale", b->plot);

	if (!f)
		return 1;
	fputs("set title 'will-it-scale page\\_fault1, frames/s against vCPU threads'\n"
	      "set xlabel 'vCPU threads'\nset ylabel 'frames/s'\n"
	      "set logscale x 2\nset grid\nset key outside right top\n"
	      "set yrange [0:*]\nset offsets graph 0.03, graph 0.03, 0, 0\n"
	      "set xtics (", f);
	for (unsigned int t = 0; t < b->nr_threads; t++)
		fprintf(f, "%s%u", t ? ", " : "", b->threads[t]);
	fputs(")\nplot ", f);
	for (unsigned int k = 0; k < b->nr_locks; k++)
		for (unsigned int rep = 0; rep < 2; rep++)
			fprintf(f, "'-' with linespoints title '%s, reporting %s', ",
				spin_lock_kind_names[b->locks[k]],
				rep ? "on" : "off");
	fputs("'-' with linespoints dashtype 2 title 'zeroing alone (memset)'\n", f);
	for (unsigned int k = 0; k < b->nr_locks; k++) {
		for (unsigned int rep = 0; rep < 2; rep++) {
			for (unsigned int t = 0; t < b->nr_threads; t++)
				fprintf(f, "%u %.0f\n", b->threads[t],
					s->row[k][rep][t].median);
			fputs("e\n", f);
		}
	}
	for (unsigned int t = 0; t < b->nr_threads; t++)
		fprintf(f, "%u %.0f\n", b->threads[t], s->zeroing_med[t]);
	fputs("e\n", f);
	return bench_plot_close(f, "scale", b->plot);
}

int bench_scale(const struct bench_opts *b)
{
	struct scale *s = calloc(1, sizeof(*s));
	int ret = 0;

	if (!s) {
		fprintf(stderr, "guestmm: bench scale: %s\n", strerror(ENOMEM));
		return 1;
	}
	s->b = b;
	for (unsigned int t = 0; t < b->nr_threads && !ret; t++) {
		for (unsigned int i = 0; i < b->pairs && !ret; i++) {
			for (unsigned int k = 0; k < b->nr_locks && !ret; k++)
				for (unsigned int rep = 0; rep < 2 && !ret; rep++)
					ret = scale_run(s, k, rep, t, i);
			if (ret)
				break;
			/* Zeroing alone, between the pairs it is compared with. */
			s->zeroing[t][i] = memset_ceiling(b->threads[t]);
			if (!(s->zeroing[t][i] > 0) || !isfinite(s->zeroing[t][i]))
				ret = bench_measured_nothing("scale",
					"memset of 128 MiB with %u thread%s: no memory, thread or time",
					b->threads[t], b->threads[t] > 1 ? "s" : "");
		}
	}
	for (unsigned int i = 0; i < b->pairs && !ret; i++)
		for (unsigned int k = 0; k < b->nr_locks && !ret; k++)
			ret = scale_alloc_run(s, k, i);
	spin_lock_set_kind(SPIN_LOCK_PVQ);
	if (!ret) {
		scale_derive(s);
		if (b->json)
			scale_json(s);
		else
			scale_table(s);
		if (b->plot)
			ret = scale_plot(s);
	}
	free(s);
	return ret;
}
