/*
 * bench_strategies.c - `guestmm bench strategies`: the hinting strategies the
 * seeds argued about, measured side by side (issue 9).
 *
 * Each pair runs every strategy once, interleaved (off, report, percpu,
 * bitmap; the next pair starts one further along), on a fresh guest each
 * time; figures are medians over the pairs.  Two workloads:
 *
 *   page_fault1 at each thread count (bench scale's runs: vCPUs = threads,
 *   lock waits and holds timed, warm-up excluded): frames/s and the ratio
 *   to off; zone-lock acquisitions that waited and hold per acquisition;
 *   the worker's CPU time; the free path's cost, from the zone's free (the
 *   merge, the list, the strategy's hook) timed on 1 in 4 of its calls at 1
 *   and 2 threads, where no holder waits for a core; bitmap: time
 *   allocations waited.  Few of page_fault1's frees end at the hinting
 *   order (its frames come back mixed, in batches of 512), so the hooks'
 *   own cost shows in memhog's frees, every one timed, of blocks that end
 *   at or above the hinting order, where every strategy's hook acts.
 *
 *   memhog (75 % of a 2 GiB guest, or of --mem when given, 2 cycles): the
 *   fraction of the freed memory the host got back and the time to 90 %
 *   (the memfd's allocated blocks, never the guest's counters), the
 *   host-resident curve; wasted reports (bytes
 *   discarded while still discarded) and churn (discarded, back within 1 s),
 *   both seen by the host (guest/discard_track.c); the worker's CPU time.
 *   The bitmap runs memhog a second time as a process guest, through the
 *   device's free page hint commands (the other runs are in process: the
 *   free path's timing and the discard tracking need the guest's memory
 *   here): its returned fraction, time to 90 %, the guest's CPU answering
 *   the commands and the allocations' waits.
 *
 * The machine may be shared: interleaving and medians are what keep others'
 * load from landing on one strategy only.
 */
#define _GNU_SOURCE
#include <errno.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "bench/bench.h"
#include "mm/gfp.h"
#include "runner/run.h"
#include "tools/cli.h"

#define NR_STRAT 4
#define STRAT_WARMUP_S 1.0
/* memhog's guest unless --mem is given (which then sets both). */
#define STRAT_HOG_MEM (2ull << 30)
#define STRAT_HOG_CYCLES 2
#define STRAT_TRACE_MAX 4096
#define STRAT_SAMPLES_MAX (MM_FREE_TIMING_SAMPLES * MAX_NR_ZONES * 2 * MAX_REPS)

static const enum gmm_hinting strats[NR_STRAT] = {
	GMM_HINTING_OFF, GMM_HINTING_REPORT, GMM_HINTING_PERCPU, GMM_HINTING_BITMAP,
};

struct strat_pf {
	double fps[MAX_REPS];
	double median;
	uint64_t acquisitions, contentions, hold_ns, timed;
	uint64_t worker_cpu_ns, alloc_waits, alloc_wait_ns;
	uint64_t churn, wasted, discarded;
	double measured_s;
};

struct strat_hog {
	double frac[MAX_REPS], t90[MAX_REPS];
	double frac_med, t90_med;
	uint64_t wasted, churn, discarded, freed;
	uint64_t worker_cpu_ns, alloc_waits, alloc_wait_ns;
	struct run_trace trace; /* the first pair's */
};

struct strategies {
	const struct bench_opts *b;
	uint64_t hog_mem;	/* memhog's guest RAM */
	struct strat_pf pf[NR_STRAT][BENCH_MAX_THREAD_COUNTS];
	struct strat_hog hog[NR_STRAT];
	struct strat_hog hog_dev; /* bitmap, process guest, through the device */
	/*
	 * Free-path samples, ns: [0] page_fault1's zone frees of any order
	 * (few of its blocks reach the hinting order), [1] memhog's frees
	 * whose block ended at the hinting order or above.
	 */
	uint32_t *free_ns[2][NR_STRAT];
	size_t nr_free_ns[2][NR_STRAT];
	double free_med[2][NR_STRAT], free_p99[2][NR_STRAT];
	struct mm_free_timing *ft;
};

static int cmp_double(const void *a, const void *b)
{
	double x = *(const double *)a, y = *(const double *)b;

	return (x > y) - (x < y);
}

static int cmp_u32(const void *a, const void *b)
{
	uint32_t x = *(const uint32_t *)a, y = *(const uint32_t *)b;

	return (x > y) - (x < y);
}

/* The median of @n values, NaN ones last (a "never" sorts above all). */
static double strat_median(const double *v, unsigned int n)
{
	double tmp[MAX_REPS];
	unsigned int k = 0;

	for (unsigned int i = 0; i < n; i++)
		tmp[k++] = isnan(v[i]) ? INFINITY : v[i];
	qsort(tmp, k, sizeof(tmp[0]), cmp_double);
	if (!k)
		return NAN;
	return isinf(tmp[k / 2]) ? NAN : tmp[k / 2];
}

static void run_opts_for(struct run_opts *o, enum gmm_hinting h)
{
	run_opts_init(o);
	/*
	 * In this process: the free path's timing and the discard tracking
	 * need the guest's memory here (bitmap's host is then a thread of
	 * this process; hog_dev_run() runs it through the device).
	 */
	o->mode = RUN_IN_PROCESS;
	o->cfg.hinting = h == GMM_HINTING_OFF ? GMM_HINTING_REPORT : h;
	o->cfg.reporting = h != GMM_HINTING_OFF;
	o->cfg.track_discards = true;
}

static void keep_samples(struct strategies *s, unsigned int w, unsigned int k)
{
	for (unsigned int z = 0; z < MAX_NR_ZONES; z++)
		for (unsigned int i = 0; i < s->ft->zone[z].n &&
		     s->nr_free_ns[w][k] < STRAT_SAMPLES_MAX; i++)
			s->free_ns[w][k][s->nr_free_ns[w][k]++] = s->ft->zone[z].ns[i];
}

static int pf_run(struct strategies *s, unsigned int k, unsigned int t,
		  unsigned int pair)
{
	const struct bench_opts *b = s->b;
	struct strat_pf *row = &s->pf[k][t];
	bool timed = b->threads[t] <= 2;
	struct run_opts o;
	struct run_result r;
	int err;

	run_opts_for(&o, strats[k]);
	o.cfg.mem_bytes = b->mem_bytes;
	o.cfg.cpus = b->threads[t];
	o.kind = WORKLOAD_PAGEFAULT;
	o.lock_stats = true;
	o.warmup_s = STRAT_WARMUP_S;
	o.duration_s = STRAT_WARMUP_S + b->seconds;
	if (timed) {
		memset(s->ft, 0, sizeof(*s->ft));
		s->ft->min_order = 0;
		s->ft->every = 4;
		o.free_timing = s->ft;
	}
	err = run_guest(&o, &r);
	if (err) {
		fprintf(stderr, "guestmm: bench strategies: %s\n", run_strerror(&r, err));
		return 1;
	}
	if (!r.warmed_up)
		return bench_measured_nothing("strategies",
			"page_fault1, %u threads, hinting %s: the warm-up did not end within a minute past the run",
			b->threads[t], gmm_hinting_names[strats[k]]);
	if (!(r.frames_per_s > 0) || !isfinite(r.frames_per_s) || !r.frames)
		return bench_measured_nothing("strategies",
			"page_fault1, %u threads, hinting %s: no frames (%llu allocation failures)",
			b->threads[t], gmm_hinting_names[strats[k]],
			(unsigned long long)r.alloc_failures);
	if (!r.locks[MM_LOCK_ZONE].acquisitions)
		return bench_measured_nothing("strategies",
			"page_fault1, %u threads, hinting %s: no zone-lock acquisitions counted",
			b->threads[t], gmm_hinting_names[strats[k]]);
	row->fps[pair] = r.frames_per_s;
	row->acquisitions += r.locks[MM_LOCK_ZONE].acquisitions;
	row->contentions += r.locks[MM_LOCK_ZONE].contentions;
	row->hold_ns += r.locks[MM_LOCK_ZONE].hold_ns;
	row->timed += r.locks[MM_LOCK_ZONE].timed;
	row->worker_cpu_ns += r.stats.worker_cpu_ns;
	row->alloc_waits += r.stats.alloc_waits;
	row->alloc_wait_ns += r.stats.alloc_wait_ns;
	row->churn += r.stats.churn_bytes;
	row->wasted += r.stats.wasted_bytes;
	row->discarded += r.stats.discarded_bytes;
	row->measured_s += r.elapsed_s;
	if (timed)
		keep_samples(s, 0, k);
	if (!b->json)
		fprintf(stderr, "  page_fault1 %2u threads %-7s %12.0f frames/s\n",
			b->threads[t], gmm_hinting_names[strats[k]], r.frames_per_s);
	return 0;
}

static int hog_run(struct strategies *s, unsigned int k, unsigned int pair)
{
	const struct bench_opts *b = s->b;
	struct strat_hog *h = &s->hog[k];
	const struct run_cycle *c;
	struct run_opts o;
	struct run_result r;
	int err;

	run_opts_for(&o, strats[k]);
	o.cfg.mem_bytes = s->hog_mem;
	o.kind = WORKLOAD_MEMHOG;
	o.cycles = STRAT_HOG_CYCLES;
	if (!pair)
		o.trace = &h->trace;
	memset(s->ft, 0, sizeof(*s->ft));
	s->ft->min_order = 9;
	s->ft->every = 1;
	o.free_timing = s->ft;
	err = run_guest(&o, &r);
	if (err) {
		fprintf(stderr, "guestmm: bench strategies: %s\n", run_strerror(&r, err));
		return 1;
	}
	if (r.nr_cycles < STRAT_HOG_CYCLES || !r.cycle[r.nr_cycles - 1].freed_bytes)
		return bench_measured_nothing("strategies",
			"memhog, hinting %s: no cycle freed memory (%llu allocation failures)",
			gmm_hinting_names[strats[k]],
			(unsigned long long)r.alloc_failures);
	keep_samples(s, 1, k);
	c = &r.cycle[r.nr_cycles - 1];
	h->frac[pair] = ((double)c->resident_at_free - (double)c->resident_after) /
			(double)c->freed_bytes;
	h->t90[pair] = c->time_to_90pct_s;
	h->freed += c->freed_bytes;
	h->wasted += r.stats.wasted_bytes;
	h->churn += r.stats.churn_bytes;
	h->discarded += r.stats.discarded_bytes;
	h->worker_cpu_ns += r.stats.worker_cpu_ns;
	h->alloc_waits += r.stats.alloc_waits;
	h->alloc_wait_ns += r.stats.alloc_wait_ns;
	if (!b->json) {
		char t90[32] = "never";

		if (!isnan(h->t90[pair]))
			snprintf(t90, sizeof(t90), "%.2f s", h->t90[pair]);
		fprintf(stderr, "  memhog %-7s returned %5.1f %%, 90 %% after %s\n",
			gmm_hinting_names[strats[k]], 100 * h->frac[pair], t90);
	}
	return 0;
}

/* The bitmap's memhog through the device: a process guest, the device's
 * hint commands at the in-process host's period. */
static int hog_dev_run(struct strategies *s, unsigned int pair)
{
	const struct bench_opts *b = s->b;
	struct strat_hog *h = &s->hog_dev;
	const struct run_cycle *c;
	struct run_opts o;
	struct run_result r;
	int err;

	run_opts_init(&o);
	o.mode = RUN_PROCESS;
	o.cfg.hinting = GMM_HINTING_BITMAP;
	o.cfg.mem_bytes = s->hog_mem;
	o.kind = WORKLOAD_MEMHOG;
	o.cycles = STRAT_HOG_CYCLES;
	if (!pair)
		o.trace = &h->trace;
	err = run_guest(&o, &r);
	if (err) {
		fprintf(stderr, "guestmm: bench strategies: bitmap through the device: %s\n",
			run_strerror(&r, err));
		return 1;
	}
	if (r.nr_cycles < STRAT_HOG_CYCLES || !r.cycle[r.nr_cycles - 1].freed_bytes)
		return bench_measured_nothing("strategies",
			"memhog, hinting bitmap through the device: no cycle freed memory (%llu allocation failures)",
			(unsigned long long)r.alloc_failures);
	if (!r.stats.reports)
		return bench_measured_nothing("strategies",
			"memhog, hinting bitmap through the device: the device ended no hint command");
	c = &r.cycle[r.nr_cycles - 1];
	h->frac[pair] = ((double)c->resident_at_free - (double)c->resident_after) /
			(double)c->freed_bytes;
	h->t90[pair] = c->time_to_90pct_s;
	h->freed += c->freed_bytes;
	h->discarded += r.stats.reported_bytes; /* the device's: hinted */
	h->worker_cpu_ns += r.stats.worker_cpu_ns;
	h->alloc_waits += r.stats.alloc_waits;
	h->alloc_wait_ns += r.stats.alloc_wait_ns;
	if (!b->json) {
		char t90[32] = "never";

		if (!isnan(h->t90[pair]))
			snprintf(t90, sizeof(t90), "%.2f s", h->t90[pair]);
		fprintf(stderr, "  memhog bitmap through the device returned %5.1f %%, 90 %% after %s\n",
			100 * h->frac[pair], t90);
	}
	return 0;
}

static double pct(const uint32_t *v, size_t n, double p)
{
	if (!n)
		return NAN;
	return v[(size_t)((double)(n - 1) * p)];
}

static void derive(struct strategies *s)
{
	const struct bench_opts *b = s->b;

	for (unsigned int k = 0; k < NR_STRAT; k++) {
		for (unsigned int t = 0; t < b->nr_threads; t++)
			s->pf[k][t].median = strat_median(s->pf[k][t].fps, b->pairs);
		s->hog[k].frac_med = strat_median(s->hog[k].frac, b->pairs);
		s->hog[k].t90_med = strat_median(s->hog[k].t90, b->pairs);
		s->hog_dev.frac_med = strat_median(s->hog_dev.frac, b->pairs);
		s->hog_dev.t90_med = strat_median(s->hog_dev.t90, b->pairs);
		for (unsigned int w = 0; w < 2; w++) {
			qsort(s->free_ns[w][k], s->nr_free_ns[w][k],
			      sizeof(uint32_t), cmp_u32);
			s->free_med[w][k] = pct(s->free_ns[w][k], s->nr_free_ns[w][k], 0.5);
			s->free_p99[w][k] = pct(s->free_ns[w][k], s->nr_free_ns[w][k], 0.99);
		}
	}
}

static double mib(uint64_t bytes)
{
	return (double)bytes / (1 << 20);
}

static void table(const struct strategies *s)
{
	const struct bench_opts *b = s->b;

	printf("\nguestmm bench strategies: %u pairs, %.0f s per page_fault1 run, "
	       "%llu MiB guests (memhog: %llu MiB), medians\n",
	       b->pairs, b->seconds, (unsigned long long)(b->mem_bytes >> 20),
	       (unsigned long long)(s->hog_mem >> 20));
	printf("\npage_fault1 frames/s (ratio to off)\n%-8s", "threads");
	for (unsigned int k = 0; k < NR_STRAT; k++)
		printf(" %21s", gmm_hinting_names[strats[k]]);
	putchar('\n');
	for (unsigned int t = 0; t < b->nr_threads; t++) {
		printf("%-8u", b->threads[t]);
		for (unsigned int k = 0; k < NR_STRAT; k++)
			printf(" %12.0f (%5.3f)", s->pf[k][t].median,
			       s->pf[k][t].median / s->pf[0][t].median);
		putchar('\n');
	}
	printf("\nzone lock: acquisitions that waited %% / hold ns per acquisition\n%-8s",
	       "threads");
	for (unsigned int k = 0; k < NR_STRAT; k++)
		printf(" %21s", gmm_hinting_names[strats[k]]);
	putchar('\n');
	for (unsigned int t = 0; t < b->nr_threads; t++) {
		printf("%-8u", b->threads[t]);
		for (unsigned int k = 0; k < NR_STRAT; k++) {
			const struct strat_pf *p = &s->pf[k][t];

			printf(" %10.2f%% / %6.1f",
			       100.0 * (double)p->contentions / (double)p->acquisitions,
			       p->timed ? (double)p->hold_ns / (double)p->timed : NAN);
		}
		putchar('\n');
	}
	printf("\n%-34s", "");
	for (unsigned int k = 0; k < NR_STRAT; k++)
		printf(" %12s", gmm_hinting_names[strats[k]]);
	for (unsigned int w = 0; w < 2; w++) {
		printf("\n%-34s", w ? "zone free ns, memhog, >= order 9"
				    : "zone free ns, page_fault1, all");
		printf("\n%-34s", "  median (samples)");
		for (unsigned int k = 0; k < NR_STRAT; k++)
			printf(" %5.0f %6zu", s->free_med[w][k], s->nr_free_ns[w][k]);
		printf("\n%-34s", "  p99");
		for (unsigned int k = 0; k < NR_STRAT; k++)
			printf(" %12.0f", s->free_p99[w][k]);
		printf("\n%-34s", "  added to off: median / p99");
		for (unsigned int k = 0; k < NR_STRAT; k++)
			printf(" %5.0f / %4.0f", s->free_med[w][k] - s->free_med[w][0],
			       s->free_p99[w][k] - s->free_p99[w][0]);
	}
	printf("\n%-34s", "page_fault1 worker CPU ms/s");
	for (unsigned int k = 0; k < NR_STRAT; k++) {
		uint64_t ns = 0;
		double secs = 0;

		for (unsigned int t = 0; t < b->nr_threads; t++) {
			ns += s->pf[k][t].worker_cpu_ns;
			secs += s->pf[k][t].measured_s;
		}
		printf(" %12.2f", (double)ns / 1e6 / secs);
	}
	printf("\n%-34s", "page_fault1 discarded MiB/s");
	for (unsigned int k = 0; k < NR_STRAT; k++) {
		uint64_t d = 0;
		double secs = 0;

		for (unsigned int t = 0; t < b->nr_threads; t++) {
			d += s->pf[k][t].discarded;
			secs += s->pf[k][t].measured_s;
		}
		printf(" %12.1f", mib(d) / secs);
	}
	printf("\n%-34s", "  of which churn (back < 1 s) %");
	for (unsigned int k = 0; k < NR_STRAT; k++) {
		uint64_t d = 0, c = 0;

		for (unsigned int t = 0; t < b->nr_threads; t++) {
			d += s->pf[k][t].discarded;
			c += s->pf[k][t].churn;
		}
		/* Nothing discarded (off): no share to give. */
		if (d)
			printf(" %12.1f", 100.0 * (double)c / (double)d);
		else
			printf(" %12s", "-");
	}
	printf("\n%-34s", "page_fault1 alloc waits (ms)");
	for (unsigned int k = 0; k < NR_STRAT; k++) {
		uint64_t n = 0, ns = 0;

		for (unsigned int t = 0; t < b->nr_threads; t++) {
			n += s->pf[k][t].alloc_waits;
			ns += s->pf[k][t].alloc_wait_ns;
		}
		printf(" %5llu %6.1f", (unsigned long long)n, (double)ns / 1e6);
	}
	printf("\n%-34s", "memhog returned %");
	for (unsigned int k = 0; k < NR_STRAT; k++)
		printf(" %12.1f", 100 * s->hog[k].frac_med);
	printf("\n%-34s", "memhog time to 90 % (s)");
	for (unsigned int k = 0; k < NR_STRAT; k++) {
		if (isnan(s->hog[k].t90_med))
			printf(" %12s", "never");
		else
			printf(" %12.2f", s->hog[k].t90_med);
	}
	printf("\n%-34s", "memhog discarded / freed");
	for (unsigned int k = 0; k < NR_STRAT; k++)
		printf(" %12.2f", (double)s->hog[k].discarded / (double)s->hog[k].freed);
	printf("\n%-34s", "memhog wasted MiB per run");
	for (unsigned int k = 0; k < NR_STRAT; k++)
		printf(" %12.0f", mib(s->hog[k].wasted) / b->pairs);
	printf("\n%-34s", "memhog churn MiB per run");
	for (unsigned int k = 0; k < NR_STRAT; k++)
		printf(" %12.0f", mib(s->hog[k].churn) / b->pairs);
	printf("\n%-34s", "memhog worker CPU ms per run");
	for (unsigned int k = 0; k < NR_STRAT; k++)
		printf(" %12.1f", (double)s->hog[k].worker_cpu_ns / 1e6 / b->pairs);
	printf("\n%-34s", "memhog alloc waits (ms)");
	for (unsigned int k = 0; k < NR_STRAT; k++)
		printf(" %5llu %6.1f", (unsigned long long)s->hog[k].alloc_waits,
		       (double)s->hog[k].alloc_wait_ns / 1e6);
	printf("\n\nmemhog, bitmap through the device (process guest): returned %.1f %%, "
	       "90 %% after ", 100 * s->hog_dev.frac_med);
	if (isnan(s->hog_dev.t90_med))
		printf("never");
	else
		printf("%.2f s", s->hog_dev.t90_med);
	printf(", hinted / freed %.2f, driver CPU %.1f ms per run, alloc waits %llu (%.1f ms)\n",
	       (double)s->hog_dev.discarded / (double)s->hog_dev.freed,
	       (double)s->hog_dev.worker_cpu_ns / 1e6 / b->pairs,
	       (unsigned long long)s->hog_dev.alloc_waits,
	       (double)s->hog_dev.alloc_wait_ns / 1e6);
}

static void json(const struct strategies *s)
{
	const struct bench_opts *b = s->b;
	struct json j;

	json_begin(&j, stdout);
	json_str(&j, "bench", "strategies");
	json_u64(&j, "pairs", b->pairs);
	json_double(&j, "seconds", b->seconds);
	json_u64(&j, "mem_bytes", b->mem_bytes);
	json_u64(&j, "memhog_mem_bytes", s->hog_mem);
	json_array(&j, "strategies");
	for (unsigned int k = 0; k < NR_STRAT; k++) {
		const struct strat_hog *h = &s->hog[k];

		json_object(&j, NULL);
		json_str(&j, "hinting", gmm_hinting_names[strats[k]]);
		json_array(&j, "page_fault1");
		for (unsigned int t = 0; t < b->nr_threads; t++) {
			const struct strat_pf *p = &s->pf[k][t];

			json_object(&j, NULL);
			json_u64(&j, "threads", b->threads[t]);
			json_double(&j, "frames_per_s", p->median);
			json_double(&j, "ratio_to_off", p->median / s->pf[0][t].median);
			json_u64(&j, "zone_lock_acquisitions", p->acquisitions);
			json_u64(&j, "zone_lock_contentions", p->contentions);
			json_double(&j, "zone_lock_hold_ns_per_acquisition",
				    p->timed ? (double)p->hold_ns / (double)p->timed : NAN);
			json_u64(&j, "worker_cpu_ns", p->worker_cpu_ns);
			json_u64(&j, "discarded_bytes", p->discarded);
			json_u64(&j, "churn_bytes", p->churn);
			json_u64(&j, "wasted_bytes", p->wasted);
			json_u64(&j, "alloc_waits", p->alloc_waits);
			json_u64(&j, "alloc_wait_ns", p->alloc_wait_ns);
			json_double(&j, "seconds", p->measured_s);
			json_object_end(&j);
		}
		json_array_end(&j);
		for (unsigned int w = 0; w < 2; w++) {
			json_object(&j, w ? "zone_free_memhog_order9"
					  : "zone_free_page_fault1");
			json_u64(&j, "samples", s->nr_free_ns[w][k]);
			json_double(&j, "median_ns", s->free_med[w][k]);
			json_double(&j, "p99_ns", s->free_p99[w][k]);
			json_double(&j, "added_median_ns",
				    s->free_med[w][k] - s->free_med[w][0]);
			json_double(&j, "added_p99_ns",
				    s->free_p99[w][k] - s->free_p99[w][0]);
			json_object_end(&j);
		}
		json_object(&j, "memhog");
		json_double(&j, "returned_fraction", h->frac_med);
		json_double(&j, "time_to_90pct_s", h->t90_med);
		json_u64(&j, "freed_bytes", h->freed);
		json_u64(&j, "discarded_bytes", h->discarded);
		json_u64(&j, "wasted_bytes", h->wasted);
		json_u64(&j, "churn_bytes", h->churn);
		json_u64(&j, "worker_cpu_ns", h->worker_cpu_ns);
		json_u64(&j, "alloc_waits", h->alloc_waits);
		json_u64(&j, "alloc_wait_ns", h->alloc_wait_ns);
		json_object_end(&j);
		json_object_end(&j);
	}
	json_array_end(&j);
	json_object(&j, "bitmap_device_memhog");
	json_double(&j, "returned_fraction", s->hog_dev.frac_med);
	json_double(&j, "time_to_90pct_s", s->hog_dev.t90_med);
	json_u64(&j, "freed_bytes", s->hog_dev.freed);
	json_u64(&j, "hinted_bytes", s->hog_dev.discarded);
	json_u64(&j, "worker_cpu_ns", s->hog_dev.worker_cpu_ns);
	json_u64(&j, "alloc_waits", s->hog_dev.alloc_waits);
	json_u64(&j, "alloc_wait_ns", s->hog_dev.alloc_wait_ns);
	json_object_end(&j);
	json_end(&j);
}

/* Return: 0, or the exit status after a message. */
static int plot(const struct strategies *s)
{
	const struct bench_opts *b = s->b;
	FILE *f = bench_plot_open_size("strategies", b->plot, 1280, 620);

	if (!f)
		return 1;
	/* The keys go below each panel: inside, they covered the curves. */
	fputs("set multiplot layout 1,2\nset grid\nset key below horizontal\n"
	      "set title 'page\\_fault1: frames/s against vCPU threads'\n"
	      "set xlabel 'vCPU threads'\nset ylabel 'frames/s'\n"
	      "set logscale x 2\nset yrange [0:*]\nplot ", f);
	for (unsigned int k = 0; k < NR_STRAT; k++)
		fprintf(f, "%s'-' with linespoints title '%s'", k ? ", " : "",
			gmm_hinting_names[strats[k]]);
	fputc('\n', f);
	for (unsigned int k = 0; k < NR_STRAT; k++) {
		for (unsigned int t = 0; t < b->nr_threads; t++)
			fprintf(f, "%u %.0f\n", b->threads[t], s->pf[k][t].median);
		fputs("e\n", f);
	}
	fputs("unset logscale x\n"
	      "set title 'memhog: host-resident memory over time (first run)'\n"
	      "set xlabel 'seconds'\nset ylabel 'MiB resident on the host'\nplot ", f);
	for (unsigned int k = 0; k < NR_STRAT; k++)
		fprintf(f, "%s'-' with lines lw 2 title '%s'", k ? ", " : "",
			gmm_hinting_names[strats[k]]);
	fputs(", '-' with lines lw 2 dt 2 title 'bitmap (device)'\n", f);
	for (unsigned int k = 0; k <= NR_STRAT; k++) {
		const struct run_trace *tr =
			k < NR_STRAT ? &s->hog[k].trace : &s->hog_dev.trace;

		for (unsigned int i = 0; i < tr->n; i++)
			fprintf(f, "%.3f %.1f\n", tr->t[i], mib(tr->resident[i]));
		fputs("e\n", f);
	}
	fputs("unset multiplot\n", f);
	return bench_plot_close(f, "strategies", b->plot);
}

int bench_strategies(const struct bench_opts *b)
{
	struct strategies *s = calloc(1, sizeof(*s));
	int ret = 0;

	if (!s)
		goto nomem;
	s->b = b;
	s->hog_mem = b->mem_given ? b->mem_bytes : STRAT_HOG_MEM;
	s->ft = calloc(1, sizeof(*s->ft));
	if (!s->ft)
		goto nomem;
	for (unsigned int k = 0; k < NR_STRAT; k++) {
		struct run_trace *tr = &s->hog[k].trace;

		s->free_ns[0][k] = malloc(STRAT_SAMPLES_MAX * sizeof(uint32_t));
		s->free_ns[1][k] = malloc(STRAT_SAMPLES_MAX * sizeof(uint32_t));
		tr->max = STRAT_TRACE_MAX;
		tr->t_free = NAN;
		tr->t = malloc(STRAT_TRACE_MAX * sizeof(double));
		tr->resident = malloc(STRAT_TRACE_MAX * sizeof(uint64_t));
		if (!s->free_ns[0][k] || !s->free_ns[1][k] || !tr->t || !tr->resident)
			goto nomem;
	}
	s->hog_dev.trace.max = STRAT_TRACE_MAX;
	s->hog_dev.trace.t_free = NAN;
	s->hog_dev.trace.t = malloc(STRAT_TRACE_MAX * sizeof(double));
	s->hog_dev.trace.resident = malloc(STRAT_TRACE_MAX * sizeof(uint64_t));
	if (!s->hog_dev.trace.t || !s->hog_dev.trace.resident)
		goto nomem;
	/*
	 * Each pair runs the four in turn, starting one further along each
	 * time (A B C D, B C D A, ...), so no strategy always runs first
	 * after a change of workload.
	 */
	for (unsigned int i = 0; i < b->pairs && !ret; i++) {
		for (unsigned int t = 0; t < b->nr_threads && !ret; t++)
			for (unsigned int j = 0; j < NR_STRAT && !ret; j++)
				ret = pf_run(s, (i + j) % NR_STRAT, t, i);
		/* memhog: the four and the bitmap through the device. */
		for (unsigned int j = 0; j <= NR_STRAT && !ret; j++) {
			unsigned int k = (i + j) % (NR_STRAT + 1);

			ret = k < NR_STRAT ? hog_run(s, k, i) : hog_dev_run(s, i);
		}
	}
	if (!ret) {
		derive(s);
		for (unsigned int k = 0; k < NR_STRAT && !ret; k++)
			for (unsigned int w = 0; w < 2 && !ret; w++)
				if (!s->nr_free_ns[w][k])
					ret = bench_measured_nothing("strategies",
						"hinting %s: no %s free was timed",
						gmm_hinting_names[strats[k]],
						w ? "memhog order-9" : "page_fault1 zone");
	}
	if (!ret) {
		if (b->json)
			json(s);
		else
			table(s);
		if (b->plot)
			ret = plot(s);
	}
	goto out;
nomem:
	fprintf(stderr, "guestmm: bench strategies: %s\n", strerror(ENOMEM));
	ret = 1;
out:
	if (s) {
		for (unsigned int k = 0; k < NR_STRAT; k++) {
			free(s->free_ns[0][k]);
			free(s->free_ns[1][k]);
			free(s->hog[k].trace.t);
			free(s->hog[k].trace.resident);
		}
		free(s->hog_dev.trace.t);
		free(s->hog_dev.trace.resident);
		free(s->ft);
		free(s);
	}
	return ret;
}
