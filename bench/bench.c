/*
 * bench.c - `guestmm bench NAME`: overhead, return, alloc, discard.
 *
 * The machines are shared and noisy, so comparisons run in one process as
 * A B A B ... pairs and report medians and their ratio; where there is a
 * physical limit (what fallocate(PUNCH_HOLE) alone discards per second, what
 * memset writes) it is measured in the same run and printed beside the figure.
 */
#define _GNU_SOURCE
#include <errno.h>
#include <fcntl.h>
#include <getopt.h>
#include <math.h>
#include <pthread.h>
#include <sched.h>
#include <stdatomic.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <unistd.h>

#include "bench/bench.h"
#include "mm/gfp.h"
#include "tools/cli.h"
#include "runner/run.h"
#include "tools/commands.h"

int bench_measured_nothing(const char *name, const char *fmt, ...)
{
	va_list ap;

	fprintf(stderr, "guestmm: bench %s: measured nothing: ", name);
	va_start(ap, fmt);
	vfprintf(stderr, fmt, ap);
	va_end(ap);
	fputc('\n', stderr);
	return 1;
}

/* A rate that means something: neither 0, negative, NaN nor infinite. */
static bool rate_ok(double v)
{
	return v > 0 && isfinite(v);
}

/* ---- the zeroing ceiling ---- */

#define CEILING_BYTES (128u << 20) /* page_fault1's per thread */
#define CEILING_ROUNDS 5

/*
 * The threads start each round together: each counts itself in and waits
 * for the others, or leaves when @abort says a thread could not be made.
 */
struct ceiling_sync {
	atomic_uint arrived;
	atomic_bool abort;
	unsigned int threads;
};

struct ceiling_arg {
	char *p;
	struct ceiling_sync *sync;
	double dt[CEILING_ROUNDS];
};

static bool ceiling_start(struct ceiling_sync *s, unsigned int round)
{
	atomic_fetch_add(&s->arrived, 1);
	while (atomic_load(&s->arrived) < s->threads * (round + 1)) {
		if (atomic_load(&s->abort))
			return false;
		sched_yield();
	}
	return true;
}

static void *ceiling_thread(void *p)
{
	struct ceiling_arg *a = p;

	memset(a->p, 1, CEILING_BYTES); /* fault it in: warm memory */
	for (unsigned int i = 0; i < CEILING_ROUNDS; i++) {
		double t0;

		if (!ceiling_start(a->sync, i))
			return NULL;
		t0 = run_now_s();
		/* Frame by frame, as page_fault1 zeroes: a 4 KiB memset
		 * each (one 128 MiB memset would use other stores). */
		for (size_t off = 0; off < CEILING_BYTES; off += PAGE_SIZE) {
			memset(a->p + off, 0, PAGE_SIZE);
			__asm__ volatile("" : : "r"(a->p + off) : "memory");
		}
		a->dt[i] = run_now_s() - t0;
	}
	return NULL;
}

double memset_ceiling(unsigned int threads)
{
	struct ceiling_arg a[BENCH_CEILING_MAX_THREADS] = { 0 };
	struct ceiling_sync sync = { .threads = threads };
	pthread_t t[BENCH_CEILING_MAX_THREADS];
	unsigned int started = 0;
	double best = NAN;

	if (threads < 1 || threads > BENCH_CEILING_MAX_THREADS)
		return NAN;
	for (unsigned int i = 0; i < threads; i++) {
		a[i].p = malloc(CEILING_BYTES);
		if (!a[i].p)
			goto out;
		a[i].sync = &sync;
	}
	for (; started < threads; started++)
		if (pthread_create(&t[started], NULL, ceiling_thread, &a[started]))
			break;
	if (started < threads)
		atomic_store(&sync.abort, true);
	for (unsigned int i = 0; i < started; i++)
		pthread_join(t[i], NULL);
	if (started < threads)
		goto out;
	/* A round lasts until its slowest thread is done. */
	best = 0;
	for (unsigned int r = 0; r < CEILING_ROUNDS; r++) {
		double slowest = 0;

		for (unsigned int i = 0; i < threads; i++)
			slowest = fmax(slowest, a[i].dt[r]);
		best = fmax(best, (double)threads * (CEILING_BYTES / PAGE_SIZE) /
					  slowest);
	}
out:
	for (unsigned int i = 0; i < threads; i++)
		free(a[i].p);
	return best;
}

/* ---- overhead: page_fault1, reporting off vs on ---- */

static void minmax(const double *v, unsigned int n, double *lo, double *hi)
{
	*lo = INFINITY;
	*hi = -INFINITY;
	for (unsigned int i = 0; i < n; i++) {
		if (v[i] < *lo)
			*lo = v[i];
		if (v[i] > *hi)
			*hi = v[i];
	}
}

/*
 * --guest qemu: page_fault1 inside our kernel on QEMU (TCG here), the
 * rate the kernel measured itself after its warm-up (gmm-end), and the
 * vCPUs are -smp's.  There the host's memset rate is no limit of the
 * guest's: TCG translates every store, so no ceiling is printed.
 */
static int bench_overhead(const struct bench_opts *b)
{
	bool qemu = b->guest == BENCH_GUEST_QEMU;
	double ceiling = qemu ? NAN : memset_ceiling(1), lo[2], hi[2];
	static const unsigned int threads[] = { 1, 2 };
	double off[2][MAX_REPS], on[2][MAX_REPS], ratio[2][MAX_REPS];
	double moff[2], mon[2], mratio[2];
	const char *unit = qemu ? "vCPU" : "thread";
	struct json j;

	if (!qemu && !rate_ok(ceiling))
		return bench_measured_nothing("overhead", "memset of 128 MiB took no time, or no memory for it");
	for (unsigned int t = 0; t < 2; t++) {
		for (unsigned int i = 0; i < b->pairs; i++) {
			for (unsigned int side = 0; side < 2; side++) {
				struct run_opts o;
				struct run_result r;
				int err;

				run_opts_init(&o);
				o.mode = qemu ? RUN_QEMU
					 : b->guest == BENCH_GUEST_IN_PROCESS
						 ? RUN_IN_PROCESS : RUN_PROCESS;
				o.cfg.mem_bytes = b->mem_bytes;
				o.cfg.cpus = threads[t];
				o.cfg.reporting = side == 1;
				o.kind = WORKLOAD_PAGEFAULT;
				o.warmup_s = 1;
				o.duration_s = 1 + b->seconds;
				err = run_guest(&o, &r);
				if (err) {
					fprintf(stderr, "guestmm: bench overhead: %s\n",
						run_strerror(&r, err));
					return 1;
				}
				if (!r.warmed_up)
					return bench_measured_nothing("overhead",
						"%u %s%s, reporting %s: the warm-up did not end within a minute past the run",
						threads[t], unit, threads[t] > 1 ? "s" : "",
						side ? "on" : "off");
				if (!rate_ok(r.frames_per_s))
					return bench_measured_nothing("overhead",
						"%u %s%s, reporting %s: no frames (%llu allocation failures)",
						threads[t], unit, threads[t] > 1 ? "s" : "",
						side ? "on" : "off",
						(unsigned long long)r.alloc_failures);
				(side ? on : off)[t][i] = r.frames_per_s;
				if (!b->json) {
					char reports[40] = "";

					/* QEMU's device counts no reports for us. */
					if (!qemu)
						snprintf(reports, sizeof(reports), " (reports %llu)",
							 (unsigned long long)r.stats.reports);
					fprintf(stderr, "  %u %s%s pair %u reporting %-3s %12.0f frames/s%s\n",
						threads[t], unit, threads[t] > 1 ? "s" : "", i + 1,
						side ? "on" : "off", r.frames_per_s, reports);
				}
			}
			ratio[t][i] = on[t][i] / off[t][i];
		}
		moff[t] = median(off[t], b->pairs);
		mon[t] = median(on[t], b->pairs);
		minmax(ratio[t], b->pairs, &lo[t], &hi[t]);
		mratio[t] = median(ratio[t], b->pairs);
	}
	if (b->json) {
		json_begin(&j, stdout);
		json_str(&j, "bench", "overhead");
		json_str(&j, "guest", qemu ? "qemu"
				      : b->guest == BENCH_GUEST_IN_PROCESS
					      ? "in-process" : "ours");
		json_u64(&j, "pairs", b->pairs);
		json_double(&j, "seconds", b->seconds);
		json_array(&j, "results");
		for (unsigned int t = 0; t < 2; t++) {
			json_object(&j, NULL);
			json_u64(&j, qemu ? "vcpus" : "threads", threads[t]);
			json_double(&j, "off_frames_per_s", moff[t]);
			json_double(&j, "on_frames_per_s", mon[t]);
			json_double(&j, "on_off_ratio", mon[t] / moff[t]);
			json_double(&j, "median_pair_ratio", mratio[t]);
			json_double(&j, "min_pair_ratio", lo[t]);
			json_double(&j, "max_pair_ratio", hi[t]);
			json_object_end(&j);
		}
		json_array_end(&j);
		if (!qemu)
			json_double(&j, "memset_ceiling_frames_per_s_per_thread",
				    ceiling);
		json_end(&j);
		return 0;
	}
	printf("overhead: will-it-scale page_fault1 (128 MiB per thread, order-0 frames zeroed)\n"
	       "in %s, %u A/B pairs of %.0f s, medians; target on/off >= %s\n",
	       qemu ? "our kernel on QEMU microvm, reporting through QEMU's virtio-balloon"
	       : b->guest == BENCH_GUEST_IN_PROCESS
		       ? "an in-process guest (the core punching holes itself)"
		       : "our guest as a process, reporting through the device",
	       b->pairs, b->seconds, qemu ? "0.98" : "0.99");
	printf("%-8s %14s %14s %9s %12s %16s\n", qemu ? "vCPUs" : "threads",
	       "off frames/s", "on frames/s",
	       "on/off", "pair median", "pair min..max");
	for (unsigned int t = 0; t < 2; t++)
		printf("%-8u %14.0f %14.0f %9.4f %12.4f %7.3f..%.3f\n", threads[t], moff[t],
		       mon[t], mon[t] / moff[t], mratio[t], lo[t], hi[t]);
	if (qemu)
		printf("physical limit: none measured (TCG translates the guest's stores; the host's memset is not the guest's)\n");
	else
		printf("physical limit: zeroing alone (4 KiB memsets of warm memory) allows %.0f frames/s per thread\n",
		       ceiling);
	return 0;
}

void bench_gnuplot_quote(FILE *f, const char *s)
{
	fputc('\'', f);
	for (; *s; s++) {
		if (*s == '\'')
			fputc('\'', f);
		fputc(*s, f);
	}
	fputc('\'', f);
}

FILE *bench_plot_open(const char *name, const char *png)
{
	return bench_plot_open_size(name, png, 960, 640);
}

FILE *bench_plot_open_size(const char *name, const char *png,
			   unsigned int width, unsigned int height)
{
	FILE *f = popen("gnuplot", "w");

	if (!f) {
		fprintf(stderr, "guestmm: bench %s: --plot: cannot run gnuplot: %s\n",
			name, strerror(errno));
		return NULL;
	}
	fprintf(f, "set terminal pngcairo size %u,%u\nset output ", width,
		height);
	bench_gnuplot_quote(f, png);
	fputc('\n', f);
	return f;
}

int bench_plot_close(FILE *f, const char *name, const char *png)
{
	if (pclose(f)) {
		fprintf(stderr, "guestmm: bench %s: --plot: gnuplot could not draw %s\n",
			name, png);
		return 1;
	}
	return 0;
}

/* ---- return: memhog 75 %, free, watch the host's accounting ---- */

/* Samples kept for the plot: 50 ms apart, a minute and a half. */
#define RETURN_TRACE_MAX 2048
/* Linux reports on its own schedule (2 s after a request, then as blocks
 * age): watch it this long after the free. */
#define RETURN_LINUX_WATCH_MS 15000
/* Linux under QEMU's TCG: boot and reporting are slower still. */
#define RETURN_QEMU_WATCH_MS 30000

struct return_side {
	enum run_mode mode;
	bool qemu_linux;		/* RUN_QEMU: Linux, else our kernel */
	const char *name;
	double frac_end[MAX_REPS], frac_dl[MAX_REPS], t90[MAX_REPS], t95[MAX_REPS];
	double me, md, m90, m95;
	double off_frac;		/* the control: reporting off */
	struct run_trace trace;		/* the first run's, for --plot */
};

static const char *return_mode_name(enum run_mode m)
{
	return m == RUN_LINUX ? "linux" : m == RUN_PROCESS ? "ours"
	       : m == RUN_QEMU ? "qemu-linux" : "in-process";
}

/* One memhog run of @side.  Return: 0, or the exit status after a message. */
static int return_run(const struct bench_opts *b, struct return_side *side,
		      unsigned int i, bool reporting, unsigned int *delay_ms)
{
	struct run_opts o;
	struct run_result r;
	const struct run_cycle *c;
	double fe, fd;
	int err;

	run_opts_init(&o);
	o.mode = side->mode;
	o.cfg.mem_bytes = b->mem_bytes;
	o.cfg.reporting = reporting;
	o.cycles = 1;
	o.hold_ms = 0;
	o.qemu_linux = side->qemu_linux;
	o.sleep_ms = side->mode == RUN_LINUX ? RETURN_LINUX_WATCH_MS
		     : side->qemu_linux ? RETURN_QEMU_WATCH_MS
					      : (int)o.cfg.report_delay_ms + 4000;
	o.sample_s = 0.05;
	o.boot_timeout_s = b->boot_timeout_s;
	if (reporting && i == 0)
		o.trace = &side->trace;
	*delay_ms = o.cfg.report_delay_ms;
	err = run_guest(&o, &r);
	if (err) {
		fprintf(stderr, "guestmm: bench return: %s guest: %s\n", side->name,
			run_strerror(&r, err));
		return 1;
	}
	c = &r.cycle[0];
	if (!r.nr_cycles || !c->freed_bytes)
		return bench_measured_nothing("return",
			"memhog in the %s guest freed nothing (%llu allocation failures)",
			side->name, (unsigned long long)r.alloc_failures);
	fe = ((double)c->resident_at_free - (double)c->resident_after) /
	     (double)c->freed_bytes;
	fd = ((double)c->resident_at_free - (double)c->resident_at_deadline) /
	     (double)c->freed_bytes;
	if (!reporting) {
		side->off_frac = fe;
		return 0;
	}
	side->frac_end[i] = fe;
	side->frac_dl[i] = fd;
	side->t90[i] = isnan(c->time_to_90pct_s) ? INFINITY : c->time_to_90pct_s;
	side->t95[i] = isnan(c->time_to_95pct_s) ? INFINITY : c->time_to_95pct_s;
	if (!b->json)
		fprintf(stderr, "  run %u %-10s freed %.0f MiB, returned %.4f at delay+1s, %.4f at end, 90%% after %.2f s\n",
			i + 1, side->name, (double)c->freed_bytes / (1 << 20), fd,
			fe, side->t90[i]);
	return 0;
}

/* Host-resident memory against time since the free, a line per guest. */
static int return_plot(const struct bench_opts *b, struct return_side *sides,
		       unsigned int n)
{
	FILE *f = bench_plot_open("return", b->plot);

	if (!f)
		return 1;
	fprintf(f, "set title 'memhog of 75%% of a %.0f MiB guest, freed at 0: host-resident memory'\n"
		"set xlabel 'seconds since the free'\nset ylabel 'host resident (MiB)'\n"
		"set grid\nset key top right\nset yrange [0:*]\nplot ",
		(double)b->mem_bytes / (1 << 20));
	for (unsigned int k = 0; k < n; k++)
		fprintf(f, "%s'-' with lines linewidth 2 title '%s guest'",
			k ? ", " : "", sides[k].name);
	fputc('\n', f);
	for (unsigned int k = 0; k < n; k++) {
		const struct run_trace *tr = &sides[k].trace;

		for (unsigned int i = 0; i < tr->n; i++)
			fprintf(f, "%.3f %.1f\n", tr->t[i] - tr->t_free,
				(double)tr->resident[i] / (1 << 20));
		fputs("e\n", f);
	}
	return bench_plot_close(f, "return", b->plot);
}

static void return_json_side(struct json *j, const struct return_side *sd,
			     const struct bench_opts *b)
{
	json_str(j, "guest", sd->name);
	json_u64(j, "runs", b->pairs);
	json_double(j, "returned_fraction_at_delay_plus_1s", sd->md);
	json_double(j, "returned_fraction", sd->me);
	json_double(j, "time_to_return_90pct_s", sd->m90);
	json_double(j, "time_to_return_95pct_s", sd->m95);
	json_double(j, "returned_fraction_reporting_off", sd->off_frac);
}

static int bench_return(const struct bench_opts *b)
{
	static const enum run_mode modes[] = {
		[BENCH_GUEST_OURS] = RUN_PROCESS,
		[BENCH_GUEST_IN_PROCESS] = RUN_IN_PROCESS,
		[BENCH_GUEST_LINUX] = RUN_LINUX,
		[BENCH_GUEST_QEMU] = RUN_QEMU,
	};
	struct return_side *sides = calloc(2, sizeof(*sides));
	bool qemu = b->guest == BENCH_GUEST_QEMU;
	unsigned int n = b->guest == BENCH_GUEST_BOTH || qemu ? 2 : 1;
	unsigned int delay_ms = 0;
	int ret = 0;
	struct json j;

	if (!sides) {
		fprintf(stderr, "guestmm: bench return: %s\n", strerror(ENOMEM));
		return 1;
	}
	for (unsigned int k = 0; k < n; k++) {
		struct return_side *sd = &sides[k];

		sd->mode = qemu ? RUN_QEMU : n == 2 ? (k ? RUN_LINUX : RUN_PROCESS)
						    : modes[b->guest];
		/* On QEMU: our kernel, then Linux, on one command line. */
		sd->qemu_linux = qemu && k == 1;
		sd->name = qemu ? (k ? "qemu-linux" : "qemu-ours")
				: return_mode_name(sd->mode);
		sd->off_frac = NAN;
		sd->trace.max = RETURN_TRACE_MAX;
		sd->trace.t_free = NAN;
		sd->trace.t = calloc(RETURN_TRACE_MAX, sizeof(double));
		sd->trace.resident = calloc(RETURN_TRACE_MAX, sizeof(uint64_t));
		if (!sd->trace.t || !sd->trace.resident) {
			fprintf(stderr, "guestmm: bench return: %s\n", strerror(ENOMEM));
			ret = 1;
			goto out;
		}
	}
	/* A B A B ...; then each side's control, reporting off. */
	for (unsigned int i = 0; i < b->pairs && !ret; i++)
		for (unsigned int k = 0; k < n && !ret; k++)
			ret = return_run(b, &sides[k], i, true, &delay_ms);
	for (unsigned int k = 0; k < n && !ret; k++)
		ret = return_run(b, &sides[k], 0, false, &delay_ms);
	if (ret)
		goto out;
	for (unsigned int k = 0; k < n; k++) {
		struct return_side *sd = &sides[k];

		sd->me = median(sd->frac_end, b->pairs);
		sd->md = median(sd->frac_dl, b->pairs);
		sd->m90 = median(sd->t90, b->pairs);
		sd->m95 = median(sd->t95, b->pairs);
	}
	if (b->json) {
		json_begin(&j, stdout);
		json_str(&j, "bench", "return");
		json_u64(&j, "guest_mem_bytes", b->mem_bytes);
		json_u64(&j, "report_delay_ms", delay_ms);
		if (n == 1) {
			return_json_side(&j, &sides[0], b);
		} else {
			json_str(&j, "guest", qemu ? "qemu" : "both");
			json_array(&j, "guests");
			for (unsigned int k = 0; k < n; k++) {
				json_object(&j, NULL);
				return_json_side(&j, &sides[k], b);
				json_object_end(&j);
			}
			json_array_end(&j);
			json_double(&j, "linux_over_ours_time_to_90pct",
				    sides[1].m90 / sides[0].m90);
		}
		json_end(&j);
	} else {
		printf("return: memhog 75%% of %.0f MiB, freed; host accounting (the memory\n"
		       "file's allocated blocks) sampled every 50 ms; %u runs per guest,\n"
		       "alternating, medians; target: >= 0.95 within the report delay + 1 s\n",
		       (double)b->mem_bytes / (1 << 20), b->pairs);
		printf("%-40s", "guest");
		for (unsigned int k = 0; k < n; k++)
			printf(" %11s", sides[k].name);
		printf("\n%-40s", "returned fraction at delay + 1 s");
		for (unsigned int k = 0; k < n; k++)
			printf(" %11.4f", sides[k].md);
		printf("\n%-40s", "returned fraction at the end");
		for (unsigned int k = 0; k < n; k++)
			printf(" %11.4f", sides[k].me);
		printf("\n%-40s", "time to 90 %");
		for (unsigned int k = 0; k < n; k++)
			printf(" %10.2fs", sides[k].m90);
		printf("\n%-40s", "time to 95 %");
		for (unsigned int k = 0; k < n; k++)
			printf(" %10.2fs", sides[k].m95);
		printf("\n%-40s", "control, reporting off: returned");
		for (unsigned int k = 0; k < n; k++)
			printf(" %11.4f", sides[k].off_frac);
		printf("\nour report delay %u ms (Linux: 2 s, fixed); the end is delay + 4 s for\n"
		       "our guests, %u s after the free for Linux (%u s on QEMU)\n",
		       delay_ms, RETURN_LINUX_WATCH_MS / 1000,
		       RETURN_QEMU_WATCH_MS / 1000);
		if (n == 2)
			printf("Linux takes %.2fx as long as ours to return 90 %%\n",
			       sides[1].m90 / sides[0].m90);
	}
	if (b->plot)
		ret = return_plot(b, sides, n);
out:
	for (unsigned int k = 0; k < n; k++) {
		free(sides[k].trace.t);
		free(sides[k].trace.resident);
	}
	free(sides);
	return ret;
}

/* ---- alloc: allocator throughput ---- */

struct alloc_arg {
	struct pglist_data *pgdat;
	unsigned int cpu, order;
	double seconds;
	uint64_t pairs;
	bool failed; /* alloc_pages() returned NULL */
};

static void *alloc_thread(void *p)
{
	struct alloc_arg *a = p;
	double end;
	uint64_t n = 0;

	platform_set_cpu_id(a->cpu);
	end = run_now_s() + a->seconds;
	while (run_now_s() < end && !a->failed) {
		for (unsigned int i = 0; i < 1024; i++) {
			struct page *page = alloc_pages(a->pgdat, GFP_MOVABLE, a->order);

			if (!page) {
				a->failed = true;
				break;
			}
			free_pages(a->pgdat, page, a->order);
			n++;
		}
	}
	a->pairs = n;
	return NULL;
}

int bench_alloc_rate(struct gmm_guest *g, unsigned int threads,
		     unsigned int order, double seconds, double *rate)
{
	pthread_t t[BENCH_ALLOC_MAX_THREADS];
	struct alloc_arg a[BENCH_ALLOC_MAX_THREADS];
	unsigned int started = 0;
	uint64_t total = 0;
	int err = 0;

	if (threads < 1 || threads > BENCH_ALLOC_MAX_THREADS)
		return -EINVAL;
	for (unsigned int i = 0; i < threads; i++) {
		a[i] = (struct alloc_arg){ gmm_guest_pgdat(g), i, order, seconds,
					   0, false };
		err = -pthread_create(&t[i], NULL, alloc_thread, &a[i]);
		if (err)
			break;
		started++;
	}
	for (unsigned int i = 0; i < started; i++) {
		pthread_join(t[i], NULL);
		total += a[i].pairs;
		if (a[i].failed && !err)
			err = -ENOMEM;
	}
	*rate = err ? NAN : (double)total / seconds / threads;
	return err;
}

static int bench_alloc(const struct bench_opts *b)
{
	static const unsigned int orders[] = { 0, PAGEBLOCK_ORDER };
	double v[2][2][MAX_REPS], m[2][2], ratio[2];
	struct gmm_guest_config cfg;
	struct gmm_guest *g;
	struct json j;
	int err = 0;

	gmm_guest_config_init(&cfg);
	cfg.mem_bytes = b->mem_bytes;
	err = gmm_guest_create(&cfg, &g);
	if (err) {
		fprintf(stderr, "guestmm: bench alloc: %s\n", strerror(-err));
		return 1;
	}
	for (unsigned int i = 0; i < b->pairs && !err; i++)
		for (unsigned int o = 0; o < 2 && !err; o++)
			for (unsigned int t = 0; t < 2 && !err; t++) {
				err = bench_alloc_rate(g, t + 1, orders[o],
						       b->seconds / 4,
						       &v[o][t][i]);
				if (err == -ENOMEM) {
					gmm_guest_destroy(g);
					return bench_measured_nothing("alloc",
						"order %u with %u thread%s: alloc_pages() failed",
						orders[o], t + 1, t ? "s" : "");
				}
			}
	gmm_guest_destroy(g);
	if (err) {
		fprintf(stderr, "guestmm: bench alloc: %s\n", strerror(-err));
		return 1;
	}
	for (unsigned int o = 0; o < 2; o++) {
		for (unsigned int t = 0; t < 2; t++) {
			m[o][t] = median(v[o][t], b->pairs);
			if (!rate_ok(m[o][t]))
				return bench_measured_nothing("alloc",
					"order %u with %u thread%s: no alloc+free pair",
					orders[o], t + 1, t ? "s" : "");
		}
		ratio[o] = m[o][1] / m[o][0];
	}
	if (b->json) {
		json_begin(&j, stdout);
		json_str(&j, "bench", "alloc");
		json_u64(&j, "reps", b->pairs);
		json_double(&j, "order0_pairs_per_s_per_thread_1t", m[0][0]);
		json_double(&j, "order0_pairs_per_s_per_thread_2t", m[0][1]);
		json_double(&j, "order0_per_thread_ratio_2t_1t", ratio[0]);
		json_double(&j, "order9_pairs_per_s_per_thread_1t", m[1][0]);
		json_double(&j, "order9_pairs_per_s_per_thread_2t", m[1][1]);
		json_double(&j, "order9_per_thread_ratio_2t_1t", ratio[1]);
		json_end(&j);
		return 0;
	}
	printf("alloc: alloc_pages + free_pages pairs per second per thread, %u reps, medians;\n"
	       "target order 0 >= 10 million/s/thread\n", b->pairs);
	printf("%-22s %24s %24s\n", "threads", "order 0 (per-CPU lists)",
	       "order 9 (per-CPU lists)");
	for (unsigned int t = 0; t < 2; t++)
		printf("%-22u %24.0f %24.0f\n", t + 1, m[0][t], m[1][t]);
	printf("%-22s %24.3f %24.3f\n", "per thread, 2t / 1t", ratio[0], ratio[1]);
	return 0;
}

/* ---- discard: the physical limit, and reporting against it ---- */

/* The largest block reporting hands over: MAX_ORDER - 1, 4 MiB. */
#define DISCARD_CHUNK (PAGE_SIZE << (MAX_ORDER - 1))
/* What the report measurement allocates in: the default reporting order. */
#define REPORT_BLOCK (PAGE_SIZE << PAGEBLOCK_ORDER)

/* Return: 0 with *@rate in bytes/s, or a negative errno. */
static int discard_limit(uint64_t bytes, double *rate)
{
	int fd = memfd_create("guestmm-discard", MFD_CLOEXEC), err = 0;
	char *p;
	double t0, dt;

	if (fd < 0)
		return -errno;
	if (ftruncate(fd, (off_t)bytes)) {
		err = -errno;
		goto out;
	}
	p = mmap(NULL, bytes, PROT_READ | PROT_WRITE, MAP_SHARED, fd, 0);
	if (p == MAP_FAILED) {
		err = -errno;
		goto out;
	}
	memset(p, 0x5a, bytes);
	t0 = run_now_s();
	for (uint64_t off = 0; off < bytes && !err; off += DISCARD_CHUNK)
		if (fallocate(fd, FALLOC_FL_PUNCH_HOLE | FALLOC_FL_KEEP_SIZE,
			      (off_t)off, DISCARD_CHUNK))
			err = -errno;
	dt = run_now_s() - t0;
	munmap(p, bytes);
	*rate = (double)bytes / dt;
out:
	close(fd);
	return err;
}

/*
 * One reporting pass over @bytes written and freed in 2 MiB blocks, timed;
 * the rate is what left the host's accounting of the memfd, per second.
 * Return: 0 with *@rate set, or a negative errno.
 */
static int report_rate(uint64_t mem_bytes, uint64_t bytes, double *rate)
{
	struct gmm_guest_config cfg;
	struct gmm_guest *g;
	struct pglist_data *pgdat;
	struct page **blocks;
	uint64_t n = bytes / REPORT_BLOCK, got = 0, before, after;
	double t0, dt;
	int err;

	gmm_guest_config_init(&cfg);
	cfg.mem_bytes = mem_bytes;
	/*
	 * The worker stays out of it, and the passes below take every free
	 * block: under the default min age (half the delay) they would take
	 * none of what was freed a moment before.  Every free at the reporting
	 * order requests a pass: with the default high-water mark a small guest
	 * (256 MiB: 32 blocks of 4 MiB freed) would never ask for one.
	 */
	cfg.report_delay_ms = 3600 * 1000;
	cfg.report_min_age_ms = 0;
	cfg.report_hwm = 0;
	err = gmm_guest_create(&cfg, &g);
	if (err)
		return err;
	pgdat = gmm_guest_pgdat(g);
	gmm_guest_report_now(g); /* boot-time report of untouched memory */
	blocks = calloc(n, sizeof(*blocks));
	if (!blocks) {
		gmm_guest_destroy(g);
		return -ENOMEM;
	}
	for (; got < n; got++) {
		blocks[got] = alloc_pages(pgdat, GFP_MOVABLE, PAGEBLOCK_ORDER);
		if (!blocks[got])
			break;
		memset(page_address(pgdat, blocks[got]), 0x5a, REPORT_BLOCK);
	}
	for (uint64_t i = 0; i < got; i++)
		free_pages(pgdat, blocks[i], PAGEBLOCK_ORDER);
	free(blocks);
	before = gmm_guest_host_resident_bytes(g);
	t0 = run_now_s();
	err = gmm_guest_report_now(g);
	dt = run_now_s() - t0;
	after = gmm_guest_host_resident_bytes(g);
	gmm_guest_destroy(g);
	*rate = after < before ? (double)(before - after) / dt : 0;
	return err;
}

static int bench_discard(const struct bench_opts *b)
{
	double lim[MAX_REPS], rep[MAX_REPS], ratio[MAX_REPS];
	uint64_t bytes = b->mem_bytes / 2;
	struct json j;
	int err;

	for (unsigned int i = 0; i < b->pairs; i++) {
		err = discard_limit(bytes, &lim[i]);
		if (err) {
			fprintf(stderr, "guestmm: bench discard: fallocate(PUNCH_HOLE) of a memfd: %s\n",
				strerror(-err));
			return 1;
		}
		err = report_rate(b->mem_bytes, bytes, &rep[i]);
		if (err) {
			fprintf(stderr, "guestmm: bench discard: reporting pass: %s\n",
				strerror(-err));
			return 1;
		}
		if (!rate_ok(lim[i]))
			return bench_measured_nothing("discard", "fallocate(PUNCH_HOLE) of %llu bytes took no time",
						      (unsigned long long)bytes);
		if (!rate_ok(rep[i]))
			return bench_measured_nothing("discard", "the reporting pass gave the host back no memory");
		ratio[i] = rep[i] / lim[i];
		if (!b->json)
			fprintf(stderr, "  pair %u: punch %.2f GiB/s, report %.2f GiB/s\n",
				i + 1, lim[i] / (1 << 30), rep[i] / (1 << 30));
	}
	double ml = median(lim, b->pairs), mr = median(rep, b->pairs);
	double mq = median(ratio, b->pairs);

	if (b->json) {
		json_begin(&j, stdout);
		json_str(&j, "bench", "discard");
		json_u64(&j, "pairs", b->pairs);
		json_u64(&j, "bytes", bytes);
		json_double(&j, "punch_hole_gib_per_s", ml / (1 << 30));
		json_double(&j, "report_gib_per_s", mr / (1 << 30));
		json_double(&j, "report_fraction_of_limit", mr / ml);
		json_double(&j, "median_pair_fraction", mq);
		json_end(&j);
		return 0;
	}
	printf("discard: fallocate(PUNCH_HOLE) of written memfd memory in 4 MiB pieces, the\n"
	       "largest a report carries (the physical limit), against one reporting pass\n"
	       "over the same amount freed in 2 MiB blocks; %.0f MiB, %u pairs, medians\n",
	       (double)bytes / (1 << 20), b->pairs);
	printf("%-34s %10.2f GiB/s\n", "fallocate(PUNCH_HOLE) alone", ml / (1 << 30));
	printf("%-34s %10.2f GiB/s\n", "free page reporting pass", mr / (1 << 30));
	printf("%-34s %10.3f  (pair median %.3f)\n", "reporting / limit", mr / ml, mq);
	return 0;
}

/* ---- dispatch ---- */

static void bench_usage(FILE *f)
{
	fputs("Usage: guestmm bench NAME [OPTION]...\n"
	      "  overhead   page_fault1 with reporting off vs on, 1 and 2 threads\n"
	      "             (--guest qemu: vCPUs of our kernel on QEMU)\n"
	      "  return     memhog 75% of RAM, free, host accounting every 50 ms\n"
	      "  alloc      order-0 and order-9 alloc+free pairs per second per thread,\n"
	      "             1 and 2 threads, and the per-thread ratio 2t / 1t\n"
	      "  discard    fallocate(PUNCH_HOLE) throughput, and a reporting pass\n"
	      "             (blocks of any age) against it\n"
	      "  vhost      report round trip through vhost-user to our balloon device,\n"
	      "             against fallocate(PUNCH_HOLE) alone (a 2 GiB guest always)\n"
	      "  cma        alloc_contig_range() of a 64 MiB region, 20 times (--pairs),\n"
	      "             with zswap full and a workload running, per zbud policy\n"
	      "             (none, unuse, migrate): success, MiB moved and decompressed,\n"
	      "             ms per MiB (default --mem 512M)\n"
	      "  compact    free blocks of order >= 9 before and after a full compaction\n"
	      "             with the zswap pool full and the rest of memory freed, per\n"
	      "             policy (default --mem 512M, --pairs 3)\n"
	      "  offline    offline and online each 128 MiB memory block of a busy guest\n"
	      "             in turn, per policy (default --mem 1G, --pairs 2)\n"
	      "  zswap      zswap store and load GiB/s against lz4 and zstd alone on the\n"
	      "             same 64 MiB, effective compression ratio, objects per pool page,\n"
	      "             per pool (zbud and dense)\n"
	      "  scale      page_fault1 frames/s at 1 to 16 vCPU threads, reporting off\n"
	      "             and on, per spinlock algorithm, with zone-lock statistics and\n"
	      "             a scaling model; zeroing alone at each thread count;\n"
	      "             order-9 alloc+free at 1 and 2 threads\n"
	      "  strategies the hinting strategies (report, percpu, bitmap) and off,\n"
	      "             interleaved: page_fault1 at 1 to 16 threads, the free\n"
	      "             path's added ns, zone-lock statistics, memhog's return,\n"
	      "             wasted reports, churn, worker CPU, allocation waits;\n"
	      "             memhog also with bitmap through the device (a process\n"
	      "             guest answering free page hint commands)\n"
	      "\n"
	      "  --pairs N       A/B pairs or repetitions, 1 to 64 (default 10 for\n"
	      "                  overhead, 3 for strategies, 20 for cma, 3 for compact,\n"
	      "                  2 for offline, else 5)\n"
	      "  --seconds S     measured seconds per run: overhead (default 3), alloc,\n"
	      "                  scale and strategies (2), vhost (1); no other takes it\n"
	      "  --mem SIZE      guest RAM, 256M to 64G (default 4G for scale and\n"
	      "                  strategies' page_fault1, 2G for strategies' memhog,\n"
	      "                  512M for cma and compact, 1G for offline, else 2G);\n"
	      "                  not vhost (2G) nor zswap (64M of pages, always)\n"
	      "  --json          one JSON object on stdout, \"bench\": NAME, and the\n"
	      "                  figures of the table; progress lines are left out\n"
	      "return and overhead:\n"
	      "  --guest KIND    ours (default: our guest as a process, reporting through\n"
	      "                  our balloon over vhost-user; 'process' is the same),\n"
	      "                  linux (user-mode Linux on the same device), both (ours\n"
	      "                  and Linux alternately, side by side), or in-process\n"
	      "                  (the core in this process, punching holes itself),\n"
	      "                  or qemu (our kernel and Linux 6.1 alternately on QEMU\n"
	      "                  microvm with QEMU's own balloon, as guestmm run's qemu\n"
	      "                  option boots them); overhead runs ours, in-process\n"
	      "                  or qemu (our kernel alone: page_fault1 at 1 and 2\n"
	      "                  vCPUs, the rate the kernel measures itself)\n"
	      "scale:\n"
	      "  --guest KIND    in-process (default) or process (our guest as a process\n"
	      "                  over its memfd RAM, 'ours' is the same)\n"
	      "return only:\n"
	      "  --boot-timeout S  --guest linux or both: how long the user-mode Linux\n"
	      "                  boot may take (default 60)\n"
	      "  --plot FILE     also draw host-resident memory against time since the\n"
	      "                  free, a line per guest (PNG; needs gnuplot)\n"
	      "scale and strategies (--lock: scale only):\n"
	      "  --threads LIST  vCPU thread counts, comma-separated, 1 to 64 (default\n"
	      "                  1,2,4,8,16); each needs 128 MiB within 3/4 of --mem\n"
	      "  --lock KIND     spinlock algorithm: tas | ticket | mcs | pvq, or all for\n"
	      "                  the four side by side (default pvq)\n"
	      "  --plot FILE     also draw frames/s against threads, a line per lock and\n"
	      "                  reporting setting (strategies: per strategy, and the\n"
	      "                  host-resident memory over a memhog run), into FILE\n"
	      "                  (PNG; needs gnuplot)\n"
	      "zswap:\n"
	      "  --zpool POOL    zbud, dense or both, one row each per compressor\n"
	      "                  (default both); cma, compact, offline: the pool zswap\n"
	      "                  runs on, zbud or dense (default zbud)\n"
	      "  --pages KIND    halves: a short motif and half random half zero,\n"
	      "                  alternately (default); linux: 1 KiB random and 3 KiB\n"
	      "                  of a repeated 16-byte pattern, the pages Linux 6.1's\n"
	      "                  zsmalloc was measured on\n"
	      "\n"
	      "A benchmark that measured nothing (no frames, no reports, a zero rate)\n"
	      "says so in one line and exits with status 1.\n",
	      f);
}

#define BENCH_ERR(...) cli_usage_error("bench ", __VA_ARGS__)

static int cmp_uint(const void *a, const void *b)
{
	unsigned int x = *(const unsigned int *)a, y = *(const unsigned int *)b;

	return (x > y) - (x < y);
}

/* "1,2,4": ascending, duplicates dropped. */
static void parse_threads(const char *arg, struct bench_opts *b)
{
	char buf[256], *save = NULL, *tok;
	unsigned int n = 0;

	if (strlen(arg) >= sizeof(buf))
		BENCH_ERR("--threads: list too long");
	strcpy(buf, arg);
	if (!*buf || buf[0] == ',' || buf[strlen(buf) - 1] == ',' || strstr(buf, ",,"))
		BENCH_ERR("--threads: '%s' is not a comma-separated list of thread counts", arg);
	for (tok = strtok_r(buf, ",", &save); tok; tok = strtok_r(NULL, ",", &save)) {
		uint64_t v;

		if (cli_parse_uint(tok, 1, MAX_NR_CPUS, &v))
			BENCH_ERR("--threads: '%s' is not a thread count from 1 to %d",
				  tok, MAX_NR_CPUS);
		if (n == BENCH_MAX_THREAD_COUNTS)
			BENCH_ERR("--threads: more than %d thread counts",
				  BENCH_MAX_THREAD_COUNTS);
		b->threads[n++] = (unsigned int)v;
	}
	qsort(b->threads, n, sizeof(b->threads[0]), cmp_uint);
	b->nr_threads = 0;
	for (unsigned int i = 0; i < n; i++)
		if (!b->nr_threads || b->threads[b->nr_threads - 1] != b->threads[i])
			b->threads[b->nr_threads++] = b->threads[i];
}

/* True when @name is an executable file in a directory of $PATH. */
static bool in_path(const char *name)
{
	const char *path = getenv("PATH");
	char dir[4096];

	while (path && *path) {
		size_t len = strcspn(path, ":");

		if (len && len + strlen(name) + 2 <= sizeof(dir)) {
			snprintf(dir, sizeof(dir), "%.*s/%s", (int)len, path, name);
			if (!access(dir, X_OK))
				return true;
		}
		path += len + (path[len] == ':');
	}
	return false;
}

int cmd_bench(int argc, char **argv)
{
	enum { OPT_THREADS = 256, OPT_LOCK, OPT_PLOT, OPT_GUEST, OPT_BOOT_TIMEOUT, OPT_ZPOOL,
	       OPT_PAGES };
	static const struct option opts[] = {
		{ "pairs", required_argument, NULL, 'p' },
		{ "seconds", required_argument, NULL, 's' },
		{ "mem", required_argument, NULL, 'm' },
		{ "json", no_argument, NULL, 'j' },
		{ "threads", required_argument, NULL, OPT_THREADS },
		{ "lock", required_argument, NULL, OPT_LOCK },
		{ "plot", required_argument, NULL, OPT_PLOT },
		{ "guest", required_argument, NULL, OPT_GUEST },
		{ "boot-timeout", required_argument, NULL, OPT_BOOT_TIMEOUT },
		{ "zpool", required_argument, NULL, OPT_ZPOOL },
		{ "pages", required_argument, NULL, OPT_PAGES },
		{ "help", no_argument, NULL, 'h' },
		{ NULL, 0, NULL, 0 },
	};
	static const unsigned int default_threads[] = { 1, 2, 4, 8, 16 };
	struct bench_opts b = { 0 };
	const char *name, *scale_opt = NULL, *return_opt = NULL;
	bool scale, strategies, seconds_opt = false, mem_opt = false;
	bool guest_opt = false, zswap_opt = false;
	uint64_t v;
	int c;

	if (argc < 2 || argv[1][0] == '-') {
		if (argc >= 2 && (!strcmp(argv[1], "--help") || !strcmp(argv[1], "-h"))) {
			bench_usage(stdout);
			return 0;
		}
		BENCH_ERR("which benchmark? overhead, return, alloc, discard, vhost, scale, strategies, cma, compact, offline or zswap");
	}
	name = argv[1];
	strategies = !strcmp(name, "strategies");
	scale = !strcmp(name, "scale") || strategies;
	if (!scale && strcmp(name, "overhead") && strcmp(name, "return") &&
	    strcmp(name, "alloc") && strcmp(name, "discard") && strcmp(name, "vhost") &&
	    strcmp(name, "cma") && strcmp(name, "compact") && strcmp(name, "offline") &&
	    strcmp(name, "zswap"))
		BENCH_ERR("unknown benchmark '%s'", name);
	optind = 2;
	opterr = 0;
	while ((c = getopt_long(argc, argv, ":h", opts, NULL)) != -1) {
		switch (c) {
		case 'p':
			if (cli_parse_uint(optarg, 1, MAX_REPS, &v))
				BENCH_ERR("--pairs: '%s' is not 1 to %d", optarg, MAX_REPS);
			b.pairs = (unsigned int)v;
			break;
		case 's':
			if (cli_parse_uint(optarg, 1, 3600, &v))
				BENCH_ERR("--seconds: '%s' is not 1 to 3600", optarg);
			b.seconds = (double)v;
			seconds_opt = true;
			break;
		case 'm':
			b.mem_bytes = cli_opt_size("bench ", "--mem", optarg,
						   256ull << 20, 64ull << 30,
						   4ull << 20);
			mem_opt = b.mem_given = true;
			break;
		case 'j':
			b.json = true;
			break;
		case OPT_THREADS:
			parse_threads(optarg, &b);
			scale_opt = "--threads";
			break;
		case OPT_LOCK:
			if (!strcmp(optarg, "all")) {
				b.nr_locks = NR_SPIN_LOCK_KINDS;
				for (unsigned int k = 0; k < NR_SPIN_LOCK_KINDS; k++)
					b.locks[k] = (enum spin_lock_kind)k;
			} else if (!spin_lock_kind_parse(optarg, &b.locks[0])) {
				b.nr_locks = 1;
			} else {
				BENCH_ERR("--lock: '%s' is not tas, ticket, mcs, pvq or all", optarg);
			}
			scale_opt = "--lock";
			break;
		case OPT_PLOT:
			cli_check_output("bench ", "--plot", optarg);
			b.plot = optarg;
			break;
		case OPT_GUEST:
			if (!strcmp(optarg, "ours") || !strcmp(optarg, "process"))
				b.guest = BENCH_GUEST_OURS;
			else if (!strcmp(optarg, "in-process"))
				b.guest = BENCH_GUEST_IN_PROCESS;
			else if (!strcmp(optarg, "linux"))
				b.guest = BENCH_GUEST_LINUX;
			else if (!strcmp(optarg, "both"))
				b.guest = BENCH_GUEST_BOTH;
			else if (!strcmp(optarg, "qemu"))
				b.guest = BENCH_GUEST_QEMU;
			else
				BENCH_ERR("--guest: '%s' is not ours, linux, both, qemu or in-process", optarg);
			guest_opt = true;
			break;
		case OPT_BOOT_TIMEOUT:
			if (cli_parse_uint(optarg, 1, 3600, &v))
				BENCH_ERR("--boot-timeout: '%s' is not 1 to 3600 seconds", optarg);
			b.boot_timeout_s = (unsigned int)v;
			break;
		case OPT_ZPOOL:
			if (!strcmp(optarg, "both")) {
				b.zpools[0] = &zbud_zpool_driver;
				b.zpools[1] = &zdense_zpool_driver;
				b.nr_zpools = 2;
			} else if ((b.zpools[0] = zpool_driver_find(optarg))) {
				b.nr_zpools = 1;
			} else {
				BENCH_ERR("--zpool: '%s' is not zbud, dense or both", optarg);
			}
			zswap_opt = true;
			break;
		case OPT_PAGES:
			if (!strcmp(optarg, "linux"))
				b.linux_pages = true;
			else if (strcmp(optarg, "halves"))
				BENCH_ERR("--pages: '%s' is not halves or linux", optarg);
			zswap_opt = true;
			break;
		case 'h':
			bench_usage(stdout);
			return 0;
		default:
			cli_option_error("bench ", opts, c, argv);
		}
	}
	if (optind < argc)
		BENCH_ERR("unexpected argument '%s'", argv[optind]);
	if (seconds_opt && strcmp(name, "overhead") && strcmp(name, "alloc") &&
	    strcmp(name, "vhost") && !scale)
		BENCH_ERR("--seconds: only for bench overhead, alloc, vhost, scale and strategies");
	if (mem_opt && !strcmp(name, "vhost"))
		BENCH_ERR("--mem: not for bench vhost (its guest is 2 GiB, always)");
	if (mem_opt && !strcmp(name, "zswap"))
		BENCH_ERR("--mem: not for bench zswap (64 MiB of pages in a 512 MiB node, always)");
	if (scale_opt && !scale)
		BENCH_ERR("%s: only for bench scale and strategies", scale_opt);
	if (zswap_opt && strcmp(name, "zswap") &&
	    (b.linux_pages || (strcmp(name, "cma") && strcmp(name, "compact") &&
			       strcmp(name, "offline"))))
		BENCH_ERR("--pages: only for bench zswap; --zpool: only for bench zswap, cma, compact and offline");
	if (b.nr_zpools == 2 && zswap_opt && strcmp(name, "zswap"))
		BENCH_ERR("--zpool both: only for bench zswap (cma, compact, offline: zbud or dense)");
	if (!b.nr_zpools) {
		b.zpools[0] = &zbud_zpool_driver;
		b.zpools[1] = &zdense_zpool_driver;
		b.nr_zpools = 2;
	}
	if (strategies && b.nr_locks)
		BENCH_ERR("--lock: only for bench scale");
	if (b.boot_timeout_s && (strcmp(name, "return") || (b.guest != BENCH_GUEST_LINUX &&
							      b.guest != BENCH_GUEST_BOTH)))
		BENCH_ERR("--boot-timeout: only for bench return --guest linux or both");
	if (return_opt && strcmp(name, "return") && strcmp(name, "overhead"))
		BENCH_ERR("%s: only for bench return and overhead", return_opt);
	if (guest_opt && strcmp(name, "return") && strcmp(name, "overhead") &&
	    strcmp(name, "scale"))
		BENCH_ERR("--guest: only for bench return, overhead and scale");
	if (!strcmp(name, "scale")) {
		if (b.guest == BENCH_GUEST_LINUX || b.guest == BENCH_GUEST_BOTH ||
		    b.guest == BENCH_GUEST_QEMU)
			BENCH_ERR("--guest: scale runs process or in-process (Linux's allocator has no page_fault1 counter of ours)");
		/* In process unless asked: the figure the model is of. */
		if (!guest_opt)
			b.guest = BENCH_GUEST_IN_PROCESS;
	}
	if (!strcmp(name, "overhead") && (b.guest == BENCH_GUEST_LINUX ||
					  b.guest == BENCH_GUEST_BOTH))
		BENCH_ERR("--guest: overhead runs ours, in-process or qemu (Linux's allocator has no page_fault1 counter of ours)");
	if (b.plot && !scale && strcmp(name, "return"))
		BENCH_ERR("--plot: only for bench scale, strategies and return");
	/* The ones that serve a device (a guest of ours or Linux's). */
	if (!strcmp(name, "vhost") ||
	    ((!strcmp(name, "overhead") || !strcmp(name, "return")) &&
	     b.guest != BENCH_GUEST_IN_PROCESS)) {
		cli_check_nofile("bench");
		cli_check_tmpdir("bench");
	}
	if (!strcmp(name, "cma") || !strcmp(name, "compact") || !strcmp(name, "offline")) {
		if (!b.pairs)
			b.pairs = !strcmp(name, "cma") ? 20 : !strcmp(name, "compact") ? 3 : 2;
		if (!b.mem_bytes)
			b.mem_bytes = !strcmp(name, "offline") ? 1ull << 30 : 512ull << 20;
		return !strcmp(name, "cma")	? bench_cma(&b)
		       : !strcmp(name, "compact") ? bench_compact(&b)
						  : bench_offline(&b);
	}
	if (!b.pairs)
		b.pairs = strategies ? 3 : strcmp(name, "overhead") ? 5 : 10;
	if (!strcmp(name, "zswap"))
		return bench_zswap(&b);
	if (!b.mem_bytes)
		b.mem_bytes = scale ? 4ull << 30 : 2ull << 30;
	if (!strcmp(name, "overhead")) {
		if (!b.seconds)
			b.seconds = 3;
		return bench_overhead(&b);
	}
	if (b.plot && !in_path("gnuplot")) {
		fprintf(stderr, "guestmm: bench %s: --plot needs gnuplot, which is not installed (apt-get install gnuplot-nox)\n",
			name);
		return 1;
	}
	if (!strcmp(name, "return"))
		return bench_return(&b);
	if (!strcmp(name, "alloc")) {
		if (!b.seconds)
			b.seconds = 2;
		return bench_alloc(&b);
	}
	if (!strcmp(name, "discard"))
		return bench_discard(&b);
	if (!strcmp(name, "vhost"))
		/* It says what failed itself. */
		return bench_vhost(b.pairs, b.seconds ? b.seconds : 1, b.json) ? 1 : 0;
	if (!b.seconds)
		b.seconds = 2;
	if (!b.nr_threads) {
		b.nr_threads = sizeof(default_threads) / sizeof(default_threads[0]);
		memcpy(b.threads, default_threads, sizeof(default_threads));
	}
	if (!b.nr_locks) {
		b.nr_locks = 1;
		b.locks[0] = SPIN_LOCK_PVQ;
	}
	/* page_fault1 holds 128 MiB per thread; the rest is headroom. */
	if ((uint64_t)b.threads[b.nr_threads - 1] * (128ull << 20) > b.mem_bytes / 4 * 3)
		BENCH_ERR("--threads: %u x 128 MiB do not fit in 3/4 of --mem (%llu MiB)",
			  b.threads[b.nr_threads - 1],
			  (unsigned long long)(b.mem_bytes >> 20));
	if (strategies)
		return bench_strategies(&b);
	return bench_scale(&b);
}
