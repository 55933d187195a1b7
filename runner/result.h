/*
 * result.h - what a run measures: a sample of a running guest and the
 * figures at its end.  Freestanding (a guest writes them on its console,
 * runner/guest_lines.c, in the guest kernel too), so no libc types here.
 */
#ifndef GUESTMM_RUNNER_RESULT_H
#define GUESTMM_RUNNER_RESULT_H

#include <stdbool.h>
#include <stdint.h>

#include "guest/workload.h"
#include "guestmm/guest.h"
#include "mm/anon.h"
#include "mm/compaction.h"
#include "mm/gfp.h"
#include "platform/platform.h"

#define RUN_MAX_CYCLES 64

/* One look at a running guest, for the live line and the cycle figures. */
struct run_sample {
	double t;		/* seconds since the workload started */
	uint64_t resident;	/* host accounting of guest RAM */
	uint64_t guest_free;	/* as the guest says; UINT64_MAX: unknown */
	uint64_t guest_reported; /* free and marked Reported now ("held
				    reported"); UINT64_MAX: unknown */
	uint64_t host_reported;	/* bytes the device was told of, over the
				   guest's life ("reported") */
	enum workload_kind kind;
	unsigned int cycle;	/* memhog: cycles completed */
	int phase;		/* memhog: enum memhog_phase */
	uint64_t freed_bytes;	/* memhog: of the last cycle */
	uint64_t freed_at_ns;	/* memhog: platform_now_ns() of the free */
	uint64_t resident_at_free; /* memhog: host accounting at the free */
	uint64_t frames;	/* pagefault */
	uint64_t blocks;	/* stress */
	/* working-set: the guest's anonymous memory */
	bool anon;
	bool filled;		/* every page written once */
	uint64_t accesses;
	uint64_t zswap_pool_bytes, zswap_stored_pages, zswap_written_back;
	uint64_t swap_used_pages, pswpin, pswpout;
};

struct run_cycle {
	uint64_t freed_bytes;
	uint64_t resident_at_free;
	uint64_t resident_after;	/* last sample before the next cycle */
	double time_to_90pct_s;		/* NaN: never */
	double time_to_95pct_s;		/* NaN: never */
	uint64_t resident_at_deadline;	/* report delay + 1 s after the free */
};

/* RUN_QEMU's --target: the balloon through QMP, inflated then deflated. */
struct run_balloon {
	bool done;
	uint64_t target;		/* guest size asked for */
	uint64_t resident_before;	/* host accounting before inflating */
	uint64_t actual_inflated;	/* query-balloon's actual at the end */
	uint64_t resident_inflated;
	double inflate_s;		/* until actual reached the target */
	uint64_t actual_deflated;
	uint64_t resident_deflated;
	double deflate_s;
};

struct run_result {
	uint64_t mem_bytes;
	char accel[96];		/* RUN_QEMU: "tcg (why)" or "kvm" */
	struct run_balloon balloon;
	/* RUN_QEMU: the guest's statistics through QMP at the end, Linux's
	 * meanings (MemFree, MemTotal, MemAvailable); 0: none came */
	uint64_t qmp_free, qmp_total, qmp_available;
	uint64_t resident_peak;
	uint64_t resident_end;
	unsigned int nr_cycles;
	struct run_cycle cycle[RUN_MAX_CYCLES];
	double elapsed_s;
	double measured_s;	/* from the end of the warm-up to the end */
	bool warmed_up;		/* the warm-up ended (always, without one):
				   else nothing was measured */
	uint64_t frames;	/* pagefault: in measured_s */
	double frames_per_s;	/* pagefault */
	uint64_t blocks;	/* stress */
	uint64_t errors;	/* stress, working-set mismatches */
	uint64_t accesses;	/* working-set */
	/* working-set: faults timed after the fill, their latency quantiles
	   (ns, bucket tops, 12.5 %); 0 faults: none timed */
	uint64_t faults_timed;
	uint64_t fault_p50_ns, fault_p99_ns, fault_p999_ns, fault_max_ns;
	unsigned int killed;	/* working-set: processes killed because a
				   page of theirs could not be read back
				   (anon.events[SWAP_UNREADABLE] counts the
				   pages) */
	bool error_said;	/* run_guest() failed and the reason is
				   out on stderr, in one line: add nothing */
	bool has_anon;		/* working-set: @anon and @compact are set */
	struct anon_stats anon;	/* at the end */
	struct compact_stats compact;
	/*
	 * With run_opts.compact: free blocks per order (all types) of each
	 * zone before [0] and after [1] the compaction, what it did, and
	 * how long it took.
	 */
	bool compacted;
	uint64_t buddy[2][2][MAX_ORDER];
	struct compact_result compact_res;
	double compact_ms;
	uint64_t alloc_failures;
	struct gmm_guest_stats stats; /* at the end; reports and
					 reported_bytes as the device
					 counted them outside RUN_IN_PROCESS */
	unsigned int nr_zones;
	char zone_name[2][16];
	struct zone_stats zones[2];   /* at the end, after draining per-CPU lists */
	/* Over measured_s; times only with lock_stats. */
	struct lock_stats locks[NR_MM_LOCK_CLASSES];
	/* Over measured_s, the guest's whole process (getrusage; a process
	 * guest's own, relayed on its console): where the cores' time went,
	 * and how often threads left them. */
	double cpu_user_s, cpu_sys_s;
	uint64_t vol_switches;	 /* a thread blocked (futex park, sleep) */
	uint64_t invol_switches; /* a thread was preempted or yielded */
	uint64_t parks;		 /* lock waiters that parked */
	/* On failure, what failed, when the runner can say it better than
	 * the errno returned (a guest's end: "it exited with status 3");
	 * empty otherwise.  run_strerror() picks. */
	char failure[192];
};

#endif
