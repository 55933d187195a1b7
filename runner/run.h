/*
 * run.h - the runner: run a workload on a guest while watching the host's
 * accounting of its memory.  `guestmm run` and the benchmarks both call down
 * into it; it sits above guest/ and host/ and below tools/ and bench/.
 *
 * Three kinds of guest, one result:
 *   RUN_PROCESS    (default) the guest runtime in a process of its own, a
 *                  vhost-user frontend of a balloon served by this process
 *                  (docs/architecture.md, embodiment 2): the guest reports
 *                  through the device, and memory returned is what the device's
 *                  host accounting of the shared memfd says;
 *   RUN_IN_PROCESS the core in this process over a memfd, reporting by
 *                  punching holes directly (embodiment 1);
 *   RUN_LINUX      a user-mode Linux guest on the same device, running
 *                  memhog (embodiment 3);
 *   RUN_QEMU       a kernel on QEMU's microvm and QEMU's own virtio-balloon
 *                  (embodiment 4): with @qemu_linux Debian's Linux 6.1
 *                  running memhog; memory returned is the host's
 *                  accounting of QEMU's guest-RAM memfd, the balloon's
 *                  target and the guest's statistics go through QMP.
 *
 * A process guest is this program again (@guest_exe, default
 * /proc/self/exe) started as "EXE guest --socket S --parent PID ...": a
 * program that can be a process guest hands that argv to
 * run_guest_process_main().  It dies with the thread that started it
 * (PR_SET_PDEATHSIG), so a host never leaves guests behind.
 */
#ifndef GUESTMM_RUNNER_RUN_H
#define GUESTMM_RUNNER_RUN_H

#include <stdio.h>
#include <sys/types.h>

#include "guest/workload.h"
#include "guestmm/guest.h"
#include "mm/anon.h"
#include "mm/compaction.h"

enum run_mode { RUN_PROCESS, RUN_IN_PROCESS, RUN_LINUX, RUN_QEMU };

#define RUN_MAX_CYCLES 64

/*
 * Host accounting over time, for a plot: every sample's time and resident
 * bytes, up to @max of them, and when the first cycle's memory was freed
 * (NaN until then), on the samples' clock.
 */
struct run_trace {
	unsigned int n, max;
	double *t;
	uint64_t *resident;
	double t_free;
};

struct run_opts {
	enum run_mode mode;	/* default RUN_PROCESS */
	const char *guest_exe;	/* RUN_PROCESS: default /proc/self/exe */
	const char *uml;	/* RUN_LINUX: default /usr/bin/linux.uml */
	const char *initrd;	/* RUN_LINUX: default run_find_initrd();
				   RUN_QEMU with Linux: default qemu/initrd.gz
				   (run_find_file) */
	const char *qemu;	/* RUN_QEMU: default qemu-system-x86_64 in
				   /usr/bin */
	const char *kernel;	/* RUN_QEMU: default qemu/vmlinuz (Linux) */
	bool qemu_linux;	/* RUN_QEMU: Linux, not our kernel */
	uint64_t target_bytes;	/* RUN_QEMU: after the workload, the balloon
				   to this guest size through QMP, then back
				   to all of RAM; 0: no target */
	struct gmm_guest_config cfg;
	enum workload_kind kind;
	uint64_t hog_bytes;	/* memhog: 0 = 75 % of RAM */
	unsigned int cycles;	/* memhog */
	unsigned int hold_ms;	/* memhog */
	uint64_t ws_bytes;	/* working-set: 0 = 150 % of RAM */
	unsigned int start_delay_ms; /* RUN_PROCESS guests: idle this long
					before the workload (a host staggers
					its guests' cycles with it) */
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
	struct run_trace *trace; /* or NULL */
	/* RUN_IN_PROCESS: the free path's sampled timing (bench strategies),
	 * or NULL */
	struct mm_free_timing *free_timing;
	FILE *live;		/* live lines here every 0.5 s, or NULL */
	bool compact;		/* a full compaction at the end of the
				   workload, its memory still held */
};

/* One look at a running guest, for the live line and the cycle figures. */
struct run_sample {
	double t;		/* seconds since the workload started */
	uint64_t resident;	/* host accounting of guest RAM */
	uint64_t guest_free;	/* as the guest says; UINT64_MAX: unknown */
	uint64_t guest_reported; /* free and marked Reported; UINT64_MAX:
				    unknown (the host's reported bytes are
				    shown then) */
	uint64_t host_reported;	/* bytes the device was told of */
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
	uint64_t frames;	/* pagefault: in measured_s */
	double frames_per_s;	/* pagefault */
	uint64_t blocks;	/* stress */
	uint64_t errors;	/* stress, working-set mismatches */
	uint64_t accesses;	/* working-set */
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
	/* Over measured_s, the whole process (getrusage), in process only:
	 * where the cores' time went, and how often threads left them. */
	double cpu_user_s, cpu_sys_s;
	uint64_t vol_switches;	 /* a thread blocked (futex park, sleep) */
	uint64_t invol_switches; /* a thread was preempted or yielded */
	uint64_t parks;		 /* lock waiters that parked */
};

void run_opts_init(struct run_opts *o);

/*
 * run_guest - run @o's workload on a guest of @o->mode and fill @r.
 * Return: 0; -EINVAL for settings the mode cannot run (the log says
 * which); -ENOENT for a missing guest executable, kernel or initrd;
 * -ECHILD when a guest process or kernel died before the end; another
 * negative errno when the guest or its host could not be made.
 */
int run_guest(const struct run_opts *o, struct run_result *r);

const char *workload_name(enum workload_kind kind);
const char *run_mode_name(enum run_mode mode);

/* The live line: guest free, host resident, reported, progress. */
void run_live_line(FILE *f, const struct run_sample *s);

/*
 * The guest process: @argv as run_guest() builds it ("guest --socket S
 * ..."), or as a person types it to attach our guest to a `guestmm host`.
 * Return: the exit status (2 after one line on stderr for a bad argument).
 */
int run_guest_process_main(int argc, char **argv);

/*
 * run_guest_spawn - start a process guest running @o's workload, attached
 * to the device on @sock, for a host that supervises it itself
 * (runner/fleet.c).  The guest joins the cgroup whose cgroup.procs file
 * is @cgroup_procs (or none: NULL) before it runs, so that the memory it
 * touches first, its RAM, is charged there, and it dies with the calling
 * thread (PR_SET_PDEATHSIG).  Its console (the lines run_process() reads)
 * is *@console_fd, CLOEXEC; the caller reaps *@pid.  With @err_fd, the
 * guest's stderr is a pipe whose read end (non-blocking) is *@err_fd, for
 * the caller to relay escaped (a guest must not write raw bytes to the
 * host's terminal); NULL leaves it the host's stderr.
 * Return: 0; -ENOENT/-EACCES for the guest executable; another -errno.
 */
int run_guest_spawn(const struct run_opts *o, const char *sock,
		    const char *cgroup_procs, pid_t *pid, int *console_fd,
		    int *err_fd);

/* Internal to runner/: the modes, and the cycle bookkeeping they share. */
int run_in_process(const struct run_opts *o, struct run_result *r);
int run_process(const struct run_opts *o, struct run_result *r);
int run_linux(const struct run_opts *o, struct run_result *r);
int run_qemu(const struct run_opts *o, struct run_result *r);
void run_track(const struct run_opts *o, struct run_result *r,
	       const struct run_sample *s, unsigned int *seen_cycle);
double run_now_s(void);
void run_sleep_s(double s);

/*
 * run_find_initrd - the user-mode Linux guest's initramfs: uml/initrd.gz
 * beside the binary (a build tree), then ../lib/guestmm/initrd.gz from the
 * binary's directory (an install, in a DESTDIR too), then the configured
 * PREFIX/lib/guestmm/initrd.gz.  On failure @tried lists the paths tried,
 * comma-separated.
 * Return: 0 with @path set; -ENOENT when none is readable.
 */
int run_find_initrd(char *path, size_t len, char *tried, size_t tried_len);

/*
 * run_find_file - @name as run_find_initrd() looks for the initramfs:
 * @build_dir/@name beside the binary, then lib/guestmm/@install_dir/@name
 * under its parent, then PKGLIBDIR/@install_dir/@name (@install_dir ""
 * for none).
 * Return: 0 with @path set; -ENOENT, @tried listing the paths tried.
 */
int run_find_file(const char *build_dir, const char *install_dir,
		  const char *name, char *path, size_t len, char *tried,
		  size_t tried_len);

/*
 * run_resolve_initrd - @given if set (--initrd), else run_find_initrd();
 * when nothing is found, one line on stderr as "guestmm: @cmd: ..." naming
 * the paths tried.
 * Return: 0 with @path set; -ENOENT.
 */
int run_resolve_initrd(const char *given, char *path, size_t len,
		       const char *cmd);

#endif
