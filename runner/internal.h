/*
 * internal.h - what the runner's files share and nobody else uses.
 */
#ifndef GUESTMM_RUNNER_INTERNAL_H
#define GUESTMM_RUNNER_INTERNAL_H

#include <stdbool.h>
#include <stddef.h>
#include <sys/types.h>

#include "runner/run.h"

struct uml_guest;

/*
 * A Linux guest driven over its console by the initramfs's init (guest/uml/):
 * user-mode Linux on our device (linux.c) or Linux on QEMU (qemu.c).  Only
 * the sampling differs: @sample fills s.resident, s.guest_free and
 * s.host_reported from its own accounting (@ctx is its own).
 */
struct linux_run {
	const struct run_opts *o;
	struct run_result *r;
	struct uml_guest *g;
	struct run_sample s;
	unsigned int seen_cycle;
	double t0, next_live;
	void (*sample)(struct linux_run *u);
	void *ctx;
};

/*
 * linux_run_memhog - the run's memhog cycles on a booted guest whose init
 * said gmm-ready: a settling time, then each cycle and its sleep, sampling
 * throughout; sets r->elapsed_s and r->measured_s.
 * Return: 0; -ENODEV when the guest's balloon driver did not load;
 * -EPIPE when the guest died; -ETIMEDOUT when a cycle never ended.
 */
int linux_run_memhog(struct linux_run *u);

/*
 * linux_run_watch - sample for @seconds, reading the console for a line
 * starting @prefix, copied to @line.
 * Return: 0 with the line; -ETIMEDOUT; -EPIPE when the guest died.
 */
int linux_run_watch(struct linux_run *u, double seconds, const char *prefix,
		    char *line, size_t len);

/*
 * Our guest's console protocol (the gmm- lines, runner/guest_lines.c) read
 * by the process guest's parser, for a guest elsewhere (our kernel on
 * QEMU): @resident is that VMM's accounting of guest RAM.
 * run_console_new: NULL without memory; free() it.  run_console_line: one
 * line, without its newline.  run_console_tick: a sample (s.t, resident),
 * tracked for the cycle figures and on the live line every 0.5 s.
 * run_console_ended: its gmm-end came; run_console_done: its gmm-done.
 */
struct pg_host;
struct pg_host *run_console_new(const struct run_opts *o, struct run_result *r,
				uint64_t (*resident)(void *ctx), void *ctx);
void run_console_line(struct pg_host *h, char *line);
void run_console_tick(struct pg_host *h, double *next_live);
bool run_console_ended(const struct pg_host *h);
bool run_console_done(const struct pg_host *h);

/* What a process guest adds to the in-process loop. */
struct run_hooks {
	void *ctx;
	/* Every sample (every o->sample_s). */
	void (*on_sample)(void *ctx, const struct run_sample *s);
	/* From a workload thread, at each memhog phase change. */
	void (*on_phase)(void *ctx, int phase);
	/* True ends the run early (the device is gone). */
	bool (*should_stop)(void *ctx);
	/*
	 * A working-set process was killed, its page at @addr lost; called
	 * once per process.  NULL: the runner says so itself
	 * (run_say_killed()).
	 */
	void (*on_kill)(void *ctx, unsigned int id, uint64_t addr);
};

/*
 * Run @o's workload on @g, a guest made by the caller, sampling every
 * o->sample_s.  Return: 0, or workload_start()'s error.
 */
int run_workload(const struct run_opts *o, struct run_result *r,
		 struct gmm_guest *g, const struct run_hooks *hooks);

/*
 * A run's temporary directories (tmp_dir.h), removed if a signal ends the
 * process before the run does (run_guest() catches SIGINT, SIGTERM and
 * SIGHUP when nobody else does): run_tmp_add() once made, returning a slot
 * (-1: none left, the directory is then only the next maker's to sweep),
 * run_tmp_forget() before the run removes it itself.  A Linux guest's
 * keeper (uml_guest_life_fd()) is told to end the guest first, and waited
 * for; run_tmp_keeper(0, -1) before uml_guest_destroy().
 */
int run_tmp_add(const char *dir);
void run_tmp_forget(int slot);
void run_tmp_keeper(pid_t pid, int life_fd);

/*
 * run_qemu_kvm_usable - which accelerator QEMU gets: KVM when /dev/kvm
 * opens and is a hypervisor that boots a stock kernel; a PVM host
 * (kvm_pvm, the nested hypervisor of some cloud machines) boots only
 * PVM-enabled guests, so that is TCG too.  @why says why TCG.
 * Return: true for KVM.
 */
bool run_qemu_kvm_usable(char *why, size_t len);

/*
 * run_qemu_memfd_open - QEMU @pid's descriptor of its guest-RAM memfd
 * (memory-backend-memfd), opened again through /proc: its allocated
 * blocks are the host's accounting of the guest's memory.
 * Return: the descriptor; -ENOENT when QEMU holds none (yet); -errno.
 */
int run_qemu_memfd_open(pid_t pid);

/* What a microvm's command line varies by (run_qemu_argv()). */
struct run_qemu_args {
	const char *qemu;	/* the VMM */
	bool kvm;		/* else TCG, multi-threaded */
	const char *smp, *mem;	/* -smp, -m */
	const char *ram;	/* the memory-backend-memfd object */
	const char *kernel;
	const char *initrd;	/* Linux's; NULL: our kernel (isa-debug-exit) */
	const char *append, *balloon, *qmp; /* -append, -device, -qmp */
};

/*
 * run_qemu_argv - the command line of a QEMU microvm with its RAM in a
 * memfd, a virtio-balloon-device over virtio-mmio 1.x, the console on
 * stdio and QMP, into @argv (room for RUN_QEMU_ARGV_MAX), NULL-ended;
 * `run --qemu` and the fleet's QEMU guests start the same machine.
 */
#define RUN_QEMU_ARGV_MAX 40
void run_qemu_argv(char **argv, const struct run_qemu_args *a);

void run_locks_begin(const struct run_opts *o, bool *timing);
void run_locks_end(bool timing);

#endif
