/*
 * run.h - run a workload on an in-process guest while watching the host's
 * accounting of its memory; shared by `guestmm run` and the benchmarks.
 */
#ifndef GUESTMM_TOOLS_RUN_H
#define GUESTMM_TOOLS_RUN_H

#include <stdio.h>

#include "guest/workload.h"
#include "tools/cli.h"
#include "guestmm/guest.h"
#include "mm/gfp.h"

#define RUN_MAX_CYCLES 64

struct run_opts {
	struct gmm_guest_config cfg;
	enum workload_kind kind;
	uint64_t hog_bytes;	/* memhog: 0 = 75 % of RAM */
	unsigned int cycles;	/* memhog */
	unsigned int hold_ms;	/* memhog */
	int sleep_ms;		/* memhog: < 0 = report delay + 2 s */
	unsigned int threads;	/* 0 = vCPUs */
	double duration_s;	/* 0 = until the workload ends (pagefault,
				   stress: 10 s) */
	double warmup_s;	/* frames (pagefault) and lock statistics
				   before this do not count; pagefault's
				   warm-up also lasts until every thread
				   has touched its memory once, and the
				   measured part is duration - warmup */
	enum spin_lock_kind lock; /* set for the run; default pvq */
	bool lock_stats;	/* time lock waits and holds for the run
				   (lock_stat_set_timing) */
	uint64_t seed;
	double sample_s;	/* host accounting sampled this often */
	FILE *live;		/* live lines here every 0.5 s, or NULL */
	/* bench strategies: the free path's sampled timing, or NULL */
	struct mm_free_timing *free_timing;
	/* bench strategies: host resident bytes at each sample, or NULL */
	struct run_trace *trace;
};

struct run_trace {
	unsigned int n, max;
	double *t;	 /* seconds since the start */
	uint64_t *bytes; /* host resident */
};

struct run_cycle {
	uint64_t freed_bytes;
	uint64_t resident_at_free;
	uint64_t resident_after;	/* last sample before the next cycle */
	double time_to_90pct_s;		/* NaN: never */
	double time_to_95pct_s;		/* NaN: never */
	uint64_t resident_at_deadline;	/* report delay + 1 s after the free */
};

struct run_result {
	uint64_t mem_bytes;
	uint64_t resident_peak;
	uint64_t resident_end;
	unsigned int nr_cycles;
	struct run_cycle cycle[RUN_MAX_CYCLES];
	double elapsed_s;
	double measured_s;	/* from the end of the warm-up to the end */
	uint64_t frames;	/* pagefault: in measured_s */
	double frames_per_s;	/* pagefault */
	uint64_t blocks;	/* stress */
	uint64_t errors;	/* stress mismatches */
	uint64_t alloc_failures;
	struct gmm_guest_stats stats; /* at the end */
	unsigned int nr_zones;
	const char *zone_name[2];
	struct zone_stats zones[2];   /* at the end, after draining per-CPU lists */
	/* Over measured_s; times only with lock_stats. */
	struct lock_stats locks[NR_MM_LOCK_CLASSES];
	/* Over measured_s, the whole process (getrusage): where the cores'
	 * time went, and how often threads left them. */
	double cpu_user_s, cpu_sys_s;
	uint64_t vol_switches;	 /* a thread blocked (futex park, sleep) */
	uint64_t invol_switches; /* a thread was preempted or yielded */
	uint64_t parks;		 /* lock waiters that parked */
};

void run_opts_init(struct run_opts *o);
/* Return: 0, or a negative errno when the guest could not be made. */
int run_guest(const struct run_opts *o, struct run_result *r);

const char *workload_name(enum workload_kind kind);

/* @locks as /proc/lock_stat prints them: times in microseconds. */
void print_lock_stat(FILE *f, const struct lock_stats locks[NR_MM_LOCK_CLASSES]);
/* @locks as an object keyed by class name, times in nanoseconds. */
void json_lock_stats(struct json *j, const char *key,
		     const struct lock_stats locks[NR_MM_LOCK_CLASSES]);

int cmd_bench(int argc, char **argv);
int cmd_host(int argc, char **argv);

#endif
