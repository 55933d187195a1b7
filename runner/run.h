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
#include "runner/result.h"

enum run_mode { RUN_PROCESS, RUN_IN_PROCESS, RUN_LINUX, RUN_QEMU };

/* A user-mode Linux guest's boot to its init's "gmm-ready", by default:
 * seconds alone, tens on a shared 2-core machine. */
#define RUN_BOOT_TIMEOUT_S 60

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
	int poison;		/* RUN_QEMU, our kernel: page poisoning's
				   byte, or -1 (default) for off */
	const char *kernel_append; /* RUN_QEMU, our kernel: more of its
				      command line (kernel/README.md) */
	uint64_t target_bytes;	/* RUN_QEMU: after the workload, the balloon
				   to this guest size through QMP, then back
				   to all of RAM; 0: no target */
	unsigned int boot_timeout_s; /* RUN_LINUX, RUN_QEMU: how long its boot
					may take; 0 = RUN_BOOT_TIMEOUT_S */
	struct gmm_guest_config cfg;
	enum workload_kind kind;
	uint64_t hog_bytes;	/* memhog: 0 = 75 % of RAM */
	unsigned int cycles;	/* memhog */
	unsigned int hold_ms;	/* memhog */
	uint64_t ws_bytes;	/* working-set: 0 = 150 % of RAM */
	const struct zpool_driver *zpool; /* working-set: zswap's pool; NULL = zbud */
	uint64_t accesses;	/* working-set: stop after this many page
				   accesses; 0 = after the duration */
	unsigned int start_delay_ms; /* RUN_PROCESS guests: idle this long
					before the workload (a host staggers
					its guests' cycles with it) */
	int sleep_ms;		/* memhog: < 0 = report delay + 2 s */
	unsigned int threads;	/* 0 = vCPUs */
	double duration_s;	/* 0 = until the workload ends (pagefault,
				   stress: 10 s; working-set: 20 s unless
				   @accesses bounds it) */
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
	int stats_interval_s;	/* the balloon's statistics interval; -1:
				   the device's default (QEMU: 1 s) */
	int deflate_on_oom;	/* the balloon offers DEFLATE_ON_OOM: 1, 0,
				   or -1 for the device's default (ours:
				   on, QEMU's: off) */
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
 * run_say_killed - the line, on stderr, for working-set process @id killed
 * because its page at @addr could not be read back from swap: the same
 * whichever the guest's mode.
 */
void run_say_killed(unsigned int id, uint64_t addr);

/* Pages a run lost (their swap read failed): 0 unless working-set. */
uint64_t run_unreadable_pages(const struct run_result *r);

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

/*
 * run_describe_end - how a process ended, from its wait status, the same
 * words wherever a guest's end is told: "exited with status 3", "killed
 * by signal 9 (SIGKILL)".
 */
const char *run_describe_end(int status, char *buf, size_t len);

/* What a failed run_guest() says: @r's failure when it has one, else the
 * errno's text. */
const char *run_strerror(const struct run_result *r, int err);

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
