/*
 * qemu.c - a guest kernel on QEMU (docs/architecture.md, embodiment 4):
 * qemu-system-x86_64 -M microvm with QEMU's own virtio-balloon-device, guest
 * RAM in a shared memfd, the console on QEMU's stdio and a QMP socket.
 *
 * Memory returned is the host's accounting of that memfd, as for every
 * other guest: its allocated blocks, read through QEMU's descriptor of it in
 * /proc/PID/fd (QEMU punches the ranges the guest reports).  The balloon's
 * target (--target) and the guest's statistics go through QMP.
 *
 * Our kernel runs with --stay on: after its figures it says "gmm-stay"
 * and keeps its balloon driver going, so the target and the statistics
 * are taken from a live guest, as from Linux; then the runner writes
 * "quit" on its console and it ends as after any run, its status through
 * isa-debug-exit (a failed workload's included).  A fault or panic, and
 * any line the kernel prefixes with its name, is copied to stderr.
 *
 * Linux (--linux) is Debian's 6.1 kernel, unchanged, booted from the
 * linux-image package's bzImage by microvm's qboot; it finds the balloon
 * through ACPI (microvm's DSDT describes each virtio-mmio window, LNRO0005)
 * and loads virtio_mmio and virtio_balloon from the initramfs; its init is
 * the user-mode Linux guest's, so the memhog cycles are linux.c's.
 *
 * Under TCG Linux cannot calibrate its TSC against the PIT (the calibration
 * loop takes too long in emulation: "tsc: Unable to calibrate against PIT"
 * and boot stops before the delay loop); the host's TSC rate, which is the
 * rate a TCG guest's RDTSC counts at, is given as tsc_early_khz=.
 */
#ifndef _GNU_SOURCE
#define _GNU_SOURCE
#endif
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>
#include <x86intrin.h>

#include "guestmm/guest.h"
#include "host/tmp_dir.h"
#include "host/uml_guest.h"
#include "runner/internal.h"
#include "runner/qmp.h"
#include "runner/run.h"

#define QEMU_DEFAULT "/usr/bin/qemu-system-x86_64"
/* Linux under TCG on a loaded machine: a minute is usual, allow five. */
#define QEMU_BOOT_S 300
#define QEMU_QMP_MS 10000
/* Our kernel samples every --sample interval: this long silent is a hang. */
#define QEMU_SILENCE_S 120
/* isa-debug-exit: QEMU exits (value << 1) | 1; our kernel writes 16 at a
 * clean end (kernel/README.md). */
#define QEMU_EXIT_CLEAN 33
/* The balloon's device id, so QMP finds it at /machine/peripheral/ID. */
#define QEMU_BALLOON_ID "balloon0"
/* QEMU's name for the memfd of memory-backend-memfd. */
#define QEMU_MEMFD_NAME "/memfd:memory-backend-memfd"
/* Inflating and deflating: how long actual may take to reach the target. */
#define QEMU_BALLOON_MS 300000

struct qemu_ctx {
	struct qmp qmp;
	int memfd;		/* QEMU's guest RAM, opened again */
	double next_stats;
	uint64_t free, total, available;
	uint64_t last_update;	/* guest-stats' last-update (s since 1970) */
	bool relay;		/* our kernel faulted: copy what follows */
};

/* Our kernel's name on its own lines (kernel/kernel.h's KERNEL_NAME). */
#define QEMU_KERNEL_NAME "guestmm-kernel: "

/* internal.h */
void run_qemu_argv(char **argv, const struct run_qemu_args *a)
{
	unsigned int n = 0;

	argv[n++] = (char *)a->qemu;
	argv[n++] = "-M";
	argv[n++] = "microvm,acpi=on,memory-backend=ram";
	argv[n++] = "-accel";
	argv[n++] = a->kvm ? "kvm" : "tcg,thread=multi";
	argv[n++] = "-smp";
	argv[n++] = (char *)a->smp;
	argv[n++] = "-m";
	argv[n++] = (char *)a->mem;
	argv[n++] = "-object";
	argv[n++] = (char *)a->ram;
	argv[n++] = "-display";
	argv[n++] = "none";
	argv[n++] = "-serial";
	argv[n++] = "stdio";
	argv[n++] = "-monitor";
	argv[n++] = "none";
	argv[n++] = "-no-reboot";
	argv[n++] = "-kernel";
	argv[n++] = (char *)a->kernel;
	if (a->initrd) {
		argv[n++] = "-initrd";
		argv[n++] = (char *)a->initrd;
	} else {
		/* Our kernel's status on its way out (kernel/README.md). */
		argv[n++] = "-device";
		argv[n++] = "isa-debug-exit,iobase=0xf4,iosize=4";
	}
	argv[n++] = "-append";
	argv[n++] = (char *)a->append;
	argv[n++] = "-device";
	argv[n++] = (char *)a->balloon;
	/* virtio 1.x over mmio (version 2), as our kernel's transport. */
	argv[n++] = "-global";
	argv[n++] = "virtio-mmio.force-legacy=false";
	argv[n++] = "-qmp";
	argv[n++] = (char *)a->qmp;
	argv[n] = NULL;
}

bool run_qemu_kvm_usable(char *why, size_t len)
{
	int fd = open("/dev/kvm", O_RDWR | O_CLOEXEC);

	if (fd < 0) {
		snprintf(why, len, "/dev/kvm: %s", strerror(errno));
		return false;
	}
	close(fd);
	if (!access("/sys/module/kvm_pvm", F_OK)) {
		snprintf(why, len, "/dev/kvm is PVM, which boots no stock kernel");
		return false;
	}
	return true;
}

/* The host's TSC rate in kHz, over 50 ms of CLOCK_MONOTONIC. */
static unsigned long host_tsc_khz(void)
{
	struct timespec a, b, d = { 0, 50 * 1000 * 1000 };
	unsigned long long t0, t1;
	double ns;

	clock_gettime(CLOCK_MONOTONIC, &a);
	t0 = __rdtsc();
	nanosleep(&d, NULL);
	t1 = __rdtsc();
	clock_gettime(CLOCK_MONOTONIC, &b);
	ns = (double)(b.tv_sec - a.tv_sec) * 1e9 + (double)(b.tv_nsec - a.tv_nsec);
	return (unsigned long)((double)(t1 - t0) / ns * 1e6);
}

int run_qemu_memfd_open(pid_t pid)
{
	char dir[64], path[PATH_MAX], target[PATH_MAX];
	struct dirent *de;
	int fd = -ENOENT;
	DIR *d;

	snprintf(dir, sizeof(dir), "/proc/%d/fd", (int)pid);
	d = opendir(dir);
	if (!d)
		return -errno;
	while ((de = readdir(d))) {
		ssize_t n;

		snprintf(path, sizeof(path), "%s/%s", dir, de->d_name);
		n = readlink(path, target, sizeof(target) - 1);
		if (n <= 0)
			continue;
		target[n] = 0;
		if (strncmp(target, QEMU_MEMFD_NAME, strlen(QEMU_MEMFD_NAME)))
			continue;
		fd = open(path, O_RDONLY | O_CLOEXEC);
		if (fd < 0)
			fd = -errno;
		break;
	}
	closedir(d);
	return fd;
}

static uint64_t qemu_resident(const struct qemu_ctx *c)
{
	struct stat st;

	return fstat(c->memfd, &st) ? 0 : (uint64_t)st.st_blocks * 512;
}

/* The guest's statistics from QEMU (guest-stats, Linux's names). */
static int qemu_guest_stats(struct qemu_ctx *c)
{
	char reply[2048];
	int err = qmp_execute(&c->qmp,
			      "{\"execute\": \"qom-get\", \"arguments\": "
			      "{\"path\": \"/machine/peripheral/" QEMU_BALLOON_ID
			      "\", \"property\": \"guest-stats\"}}",
			      reply, sizeof(reply), QEMU_QMP_MS);

	if (err)
		return err;
	qmp_get_u64(reply, "last-update", &c->last_update);
	qmp_get_u64(reply, "stat-free-memory", &c->free);
	qmp_get_u64(reply, "stat-total-memory", &c->total);
	qmp_get_u64(reply, "stat-available-memory", &c->available);
	return 0;
}

static void qemu_sample(struct linux_run *u)
{
	struct qemu_ctx *c = u->ctx;
	double now = run_now_s();

	u->s.resident = qemu_resident(c);
	/* QEMU keeps no count of what was reported. */
	u->s.host_reported = UINT64_MAX;
	/* The guest sends its statistics every second. */
	if (now >= c->next_stats) {
		c->next_stats = now + 1.0;
		if (!qemu_guest_stats(c) && c->free)
			u->s.guest_free = c->free;
	}
}

static int qemu_actual(struct qemu_ctx *c, uint64_t *actual)
{
	char reply[512];
	int err = qmp_execute(&c->qmp, "{\"execute\": \"query-balloon\"}",
			      reply, sizeof(reply), QEMU_QMP_MS);

	if (err)
		return err;
	return qmp_get_u64(reply, "actual", actual) ? 0 : -EPROTO;
}

static bool starts(const char *s, const char *prefix)
{
	return !strncmp(s, prefix, strlen(prefix));
}

/*
 * A console line of our kernel outside the protocol goes to stderr when
 * it is news: the kernel's own messages (a refused command line, a
 * --crash, a failed check), mm/'s (platform_log(): a bad page state), the
 * balloon driver's end, and from a fault or panic on everything (the
 * registers and the backtrace).  The boot messages are not.  The Linux
 * guest's console is its own business.
 */
static void qemu_kernel_relay(struct linux_run *u, const char *line)
{
	struct qemu_ctx *c = u->ctx;

	if (u->o->qemu_linux || starts(line, "gmm-"))
		return;
	if (starts(line, QEMU_KERNEL_NAME "fault:") ||
	    starts(line, QEMU_KERNEL_NAME "panic:"))
		c->relay = true;
	if (!c->relay && !starts(line, QEMU_KERNEL_NAME) && !starts(line, "guestmm: ") &&
	    !starts(line, "balloon: the driver ended"))
		return;
	/* One prefix: ours says it is the kernel. */
	if (starts(line, QEMU_KERNEL_NAME))
		line += strlen(QEMU_KERNEL_NAME);
	else if (starts(line, "guestmm: "))
		line += strlen("guestmm: ");
	fprintf(stderr, "guestmm: run: kernel: %s\n", line);
}

/*
 * Read the console for @ms, relaying (qemu_kernel_relay()) and dropping
 * its lines: for waits in which no line of the protocol is expected.
 * Return: 0 after @ms; -EPIPE when QEMU has gone.
 */
static int qemu_console_idle(struct linux_run *u, int ms)
{
	double end = run_now_s() + ms / 1e3;
	char line[1024];

	for (;;) {
		double left = end - run_now_s();
		int err;

		if (left <= 0)
			return 0;
		err = uml_guest_wait_line(u->g, "", line, sizeof(line),
					  (int)(left * 1e3) + 1);
		if (err == -ETIMEDOUT)
			return 0;
		if (err)
			return err;
		qemu_kernel_relay(u, line);
	}
}

/* Ask for @target and wait until actual reaches it; *@secs how long.
 * Return: 0; -ETIMEDOUT; -EPIPE; a QMP error. */
static int qemu_balloon_to(struct linux_run *u, uint64_t target,
			   uint64_t *actual, double *secs)
{
	struct qemu_ctx *c = u->ctx;
	char cmd[128];
	double t0 = run_now_s();
	int err;

	snprintf(cmd, sizeof(cmd),
		 "{\"execute\": \"balloon\", \"arguments\": {\"value\": %llu}}",
		 (unsigned long long)target);
	err = qmp_execute(&c->qmp, cmd, NULL, 0, QEMU_QMP_MS);
	if (err)
		return err;
	for (;;) {
		err = qemu_actual(c, actual);
		if (err)
			return err;
		*secs = run_now_s() - t0;
		if (*actual == target)
			return 0;
		if (*secs * 1e3 > QEMU_BALLOON_MS)
			return -ETIMEDOUT;
		/* Not sampled: the last memhog cycle's figures are closed. */
		err = qemu_console_idle(u, 200);
		if (err)
			return err;
	}
}

/* How long the guest's statistics may take to be sent again: it sends
 * them every interval (guest-stats-polling-interval, 1 s unless
 * --stats-interval), when its driver thread runs, which a loaded TCG host
 * may delay: 20 s, or three intervals where that is longer. */
#define QEMU_STATS_FRESH_MS 20000

static int qemu_stats_fresh_ms(const struct run_opts *o)
{
	int three = o->stats_interval_s > 0 ? 3000 * o->stats_interval_s : 0;

	return three > QEMU_STATS_FRESH_MS ? three : QEMU_STATS_FRESH_MS;
}

/*
 * The guest's statistics as it is now: read until QEMU's last-update is
 * later than the second this began in, so none sent before counts.
 * Return: 0; -ETIMEDOUT (said); -EPIPE; a QMP error.
 */
static int qemu_guest_stats_fresh(struct linux_run *u)
{
	struct qemu_ctx *c = u->ctx;
	uint64_t since = (uint64_t)time(NULL);
	double end = run_now_s() + qemu_stats_fresh_ms(u->o) / 1e3;
	int err;

	for (;;) {
		err = qemu_guest_stats(c);
		if (err)
			return err;
		if (c->last_update > since && c->total)
			return 0;
		if (run_now_s() > end) {
			fprintf(stderr, "guestmm: run: the guest sent no statistics through QEMU for %d s\n",
				qemu_stats_fresh_ms(u->o) / 1000);
			u->r->error_said = true;
			return -ETIMEDOUT;
		}
		err = qemu_console_idle(u, 200);
		if (err)
			return err;
	}
}

/*
 * --target below what the guest can give (its QMP statistics: all of RAM
 * less what it has available, and 1/32 of RAM kept for its own
 * allocations while the balloon grows) would never reach actual: refused
 * with one line.  Return: 0; -EINVAL (said).
 */
static int qemu_target_check(struct linux_run *u)
{
	const struct qemu_ctx *c = u->ctx;
	uint64_t mem = u->o->cfg.mem_bytes, target = u->o->target_bytes;
	uint64_t avail = c->available < mem ? c->available : mem;
	uint64_t need = mem - avail + mem / 32;

	if (target >= need)
		return 0;
	fprintf(stderr, "guestmm: run: --target %llu MiB: below what the guest needs "
		"(%llu MiB of its %llu MiB not available, and 1/32 of RAM kept: at least %llu MiB)\n",
		(unsigned long long)(target >> 20),
		(unsigned long long)((mem - avail) >> 20),
		(unsigned long long)(mem >> 20),
		(unsigned long long)((need + (1 << 20) - 1) >> 20));
	u->r->error_said = true;
	return -EINVAL;
}

/* --target: inflate to it, let QEMU discard, then deflate; the guest's
 * statistics after.  Return: 0; -EINVAL (said); -ETIMEDOUT; -EPIPE; a
 * QMP error. */
static int qemu_target(struct linux_run *u)
{
	struct run_balloon *b = &u->r->balloon;
	struct qemu_ctx *c = u->ctx;
	int err;

	err = qemu_guest_stats_fresh(u);
	if (err)
		return err;
	err = qemu_target_check(u);
	if (err)
		return err;
	b->target = u->o->target_bytes;
	b->resident_before = qemu_resident(c);
	err = qemu_balloon_to(u, b->target, &b->actual_inflated, &b->inflate_s);
	if (err)
		return err;
	/* QEMU discards each inflated page as the guest hands it over. */
	b->resident_inflated = qemu_resident(c);
	err = qemu_balloon_to(u, u->o->cfg.mem_bytes, &b->actual_deflated,
			      &b->deflate_s);
	if (err)
		return err;
	b->resident_deflated = qemu_resident(c);
	b->done = true;
	/* The guest's statistics after the deflate, not during it. */
	return qemu_guest_stats_fresh(u);
}

/* Our kernel: @given, else kernel/guestmm-kernel.elf beside the binary
 * (the build's), else lib/guestmm/guestmm-kernel.elf (the install's). */
static int qemu_find_kernel(const char *given, char *path, size_t len)
{
	char tried[3 * (PATH_MAX + 32)];

	if (given) {
		snprintf(path, len, "%s", given);
		return access(path, R_OK) ? -errno : 0;
	}
	if (!run_find_file("kernel", "", "guestmm-kernel.elf", path, len,
			   tried, sizeof(tried)))
		return 0;
	fprintf(stderr, "guestmm: run: no guest kernel image for QEMU: tried %s "
		"(the build makes build/kernel/guestmm-kernel.elf)\n", tried);
	return -ENOENT;
}

/* Resolve @given or @name under qemu/ (build) or lib/guestmm/qemu. */
static int qemu_find(const char *given, const char *name, const char *what,
		     char *path, size_t len)
{
	char tried[3 * (PATH_MAX + 32)];

	if (given) {
		snprintf(path, len, "%s", given);
		return access(path, R_OK) ? -errno : 0;
	}
	if (!run_find_file("qemu", "qemu", name, path, len, tried,
			   sizeof(tried)))
		return 0;
	fprintf(stderr, "guestmm: run: no %s for QEMU: tried %s (the build "
		"fetches Debian's linux-image package and makes them when "
		"qemu-system-x86 is installed)\n", what, tried);
	return -ENOENT;
}

static uint64_t qemu_resident_cb(void *ctx)
{
	return qemu_resident(ctx);
}

/* Our kernel's command line (kernel/run.c's options) for the run.
 * Return: 0; -E2BIG when it does not fit @len. */
static int qemu_kernel_append(const struct run_opts *o, char *buf, size_t len)
{
	static const char *const names[] = { [WORKLOAD_MEMHOG] = "memhog",
					     [WORKLOAD_PAGEFAULT] = "pagefault",
					     [WORKLOAD_STRESS] = "stress" };
	const struct gmm_guest_config *c = &o->cfg;
	size_t n;

	n = (size_t)snprintf(buf, len,
			     "--workload %s --threads %u --reporting %s"
			     " --report-order %u --report-capacity %u"
			     " --report-hwm %u --report-delay-ms %u",
			     names[o->kind], c->cpus, c->reporting ? "on" : "off",
			     c->report_order, c->report_capacity, c->report_hwm,
			     c->report_delay_ms);
	if (n < len && c->report_min_age_ms != GMM_REPORT_MIN_AGE_HALF_DELAY)
		n += (size_t)snprintf(buf + n, len - n, " --report-min-age-ms %u",
				      c->report_min_age_ms);
	if (n < len && o->kind == WORKLOAD_MEMHOG) {
		n += (size_t)snprintf(buf + n, len - n,
				      " --cycles %u --hold-ms %u", o->cycles,
				      o->hold_ms);
		if (n < len && o->hog_bytes)
			n += (size_t)snprintf(buf + n, len - n, " --hog-bytes %llu",
					      (unsigned long long)o->hog_bytes);
		if (n < len && o->sleep_ms >= 0)
			n += (size_t)snprintf(buf + n, len - n, " --sleep-ms %d",
					      o->sleep_ms);
	}
	if (n < len && o->duration_s > 0)
		n += (size_t)snprintf(buf + n, len - n, " --duration-ms %llu",
				      (unsigned long long)(o->duration_s * 1e3));
	if (n < len && o->warmup_s > 0)
		n += (size_t)snprintf(buf + n, len - n, " --warmup-ms %llu",
				      (unsigned long long)(o->warmup_s * 1e3));
	if (n < len && o->poison >= 0)
		n += (size_t)snprintf(buf + n, len - n, " --poison 0x%02x",
				      (unsigned int)o->poison);
	if (n < len && o->kind == WORKLOAD_STRESS)
		n += (size_t)snprintf(buf + n, len - n, " --seed %llu",
				      (unsigned long long)o->seed);
	/* Up after its figures, for QMP's target and statistics. */
	if (n < len)
		n += (size_t)snprintf(buf + n, len - n, " --stay on");
	if (n < len && o->kernel_append)
		n += (size_t)snprintf(buf + n, len - n, " %s", o->kernel_append);
	return n < len ? 0 : -E2BIG;
}

/*
 * Our kernel's run: its console read with the process guest's parser
 * until gmm-stay (*@stayed set, the machine left up for the runner) or,
 * called again after the runner's "quit", gmm-done; then its status
 * through isa-debug-exit (33: clean).
 * Return: 0; -ECHILD on a bad status or no figures; -ETIMEDOUT when it
 * said nothing for QEMU_SILENCE_S.
 */
static int qemu_kernel_watch(struct linux_run *u, struct pg_host *h,
			     bool *stayed)
{
	char line[1024];
	double next_live = 0, last = run_now_s();
	int err, status;

	for (;;) {
		err = uml_guest_wait_line(u->g, "", line, sizeof(line),
					  (int)(u->o->sample_s * 1e3));
		if (!err && !strcmp(line, "gmm-stay") && !*stayed) {
			*stayed = true;
			return 0;
		}
		if (!err && !strncmp(line, "gmm-", 4)) {
			run_console_line(h, line);
			last = run_now_s();
		} else if (!err) {
			qemu_kernel_relay(u, line);
		} else if (err != -ETIMEDOUT) {
			break;
		}
		run_console_tick(h, &next_live);
		if (run_console_done(h))
			break;
		if (run_now_s() - last > QEMU_SILENCE_S) {
			fprintf(stderr, "guestmm: run: our kernel on QEMU said nothing for %d s\n",
				QEMU_SILENCE_S);
			return -ETIMEDOUT;
		}
	}
	status = uml_guest_wait_exit(u->g, 10000);
	if (status != QEMU_EXIT_CLEAN) {
		snprintf(u->r->failure, sizeof(u->r->failure),
			 "QEMU exited with status %d, not %d (isa-debug-exit's clean end)%s",
			 status, QEMU_EXIT_CLEAN,
			 run_console_done(h) ? "" : ", before gmm-done");
		return -ECHILD;
	}
	if (!run_console_ended(h)) {
		snprintf(u->r->failure, sizeof(u->r->failure),
			 "it ended without its figures (no gmm-end line)");
		return -ECHILD;
	}
	return 0;
}

/*
 * Our kernel, from its first line to its status: the workload watched to
 * gmm-stay, then --target and the guest's statistics from the live
 * guest, then "quit" and the rest watched to its end.  A failed status
 * outranks what failed while it stayed (a fault there ends QEMU and with
 * it QMP).  Return: 0; -ECHILD (r->failure says why); another -errno.
 */
static int qemu_kernel_run(struct linux_run *u, struct qemu_ctx *c)
{
	struct pg_host *h = run_console_new(u->o, u->r, qemu_resident_cb, c);
	struct run_result *r = u->r;
	bool stayed = false;
	int err, stay_err = 0;

	if (!h)
		return -ENOMEM;
	err = qemu_kernel_watch(u, h, &stayed);
	if (!err && stayed) {
		stay_err = u->o->target_bytes ? qemu_target(u)
					      : qemu_guest_stats_fresh(u);
		r->resident_end = qemu_resident(c);
		if (!stay_err) {
			r->qmp_free = c->free;
			r->qmp_total = c->total;
			r->qmp_available = c->available;
		}
		/* QEMU gone (a fault): the watch below says with what. */
		if (stay_err != -EPIPE)
			uml_guest_send(u->g, "quit");
		err = qemu_kernel_watch(u, h, &stayed);
	} else if (!err) {
		snprintf(r->failure, sizeof(r->failure),
			 "it ended without gmm-stay (--stay on not taken)");
		err = -ECHILD;
	}
	free(h);
	if (!err)
		err = stay_err;
	if (err)
		return err;
	r->stats.mem_bytes = u->o->cfg.mem_bytes;
	r->stats.host_resident_bytes = r->resident_end;
	return 0;
}

int run_qemu(const struct run_opts *o, struct run_result *r)
{
	char qmp_path[TMP_DIR_PATH_MAX + 16], qmp_arg[TMP_DIR_PATH_MAX + 48];
	char kernel[PATH_MAX + 32], initrd[PATH_MAX + 32], why[80];
	char mem_arg[32], smp_arg[16], obj_arg[96], dev_arg[200], append[1024];
	const char *qemu = o->qemu ? o->qemu : QEMU_DEFAULT;
	struct uml_guest_config gc = { 0 };
	struct linux_run u = { .o = o, .r = r, .sample = qemu_sample };
	struct qemu_ctx c = { .qmp.fd = -1, .memfd = -1 };
	bool kvm = run_qemu_kvm_usable(why, sizeof(why));
	unsigned int boot_s = o->boot_timeout_s ? o->boot_timeout_s
						: QEMU_BOOT_S;
	struct tmp_dir dir;
	char *argv[RUN_QEMU_ARGV_MAX];
	int err, slot, g_slot = -1;
	pid_t pid;

	if (access(qemu, X_OK)) {
		fprintf(stderr, "guestmm: run: %s: %s (apt-get install qemu-system-x86)\n",
			qemu, strerror(errno));
		return -ENOENT;
	}
	if (o->qemu_linux) {
		err = qemu_find(o->kernel, "vmlinuz", "Linux kernel", kernel,
				sizeof(kernel));
		if (!err)
			err = qemu_find(o->initrd, "initrd.gz", "Linux initramfs",
					initrd, sizeof(initrd));
	} else {
		err = qemu_find_kernel(o->kernel, kernel, sizeof(kernel));
	}
	if (err)
		return err;
	u.ctx = &c;
	/* QEMU's console and QMP socket close when it ends. */
	signal(SIGPIPE, SIG_IGN);
	r->mem_bytes = o->cfg.mem_bytes;
	if (kvm)
		snprintf(r->accel, sizeof(r->accel), "kvm");
	else
		snprintf(r->accel, sizeof(r->accel), "tcg (%s)", why);
	if (o->live)
		fprintf(o->live, "guestmm run: %s on QEMU microvm, %s, %llu MiB, %u vCPUs, free page reporting %s\n",
			o->qemu_linux ? "Linux" : "our kernel",
			kvm ? "KVM" : "TCG thread=multi", (unsigned long long)(o->cfg.mem_bytes >> 20),
			o->cfg.cpus, o->cfg.reporting ? "on" : "off");
	if (!kvm && o->live)
		fprintf(o->live, "guestmm run: TCG because %s\n", why);
	err = tmp_dir_create(&dir, "qemu");
	if (err) {
		snprintf(r->failure, sizeof(r->failure),
			 "cannot make its directory in %s: %s", tmp_dir_base(),
			 strerror(-err));
		return err;
	}
	slot = run_tmp_add(dir.path);
	snprintf(qmp_path, sizeof(qmp_path), "%s/qmp.sock", dir.path);
	snprintf(qmp_arg, sizeof(qmp_arg), "unix:%s,server=on,wait=off", qmp_path);
	snprintf(mem_arg, sizeof(mem_arg), "%lluM",
		 (unsigned long long)(o->cfg.mem_bytes >> 20));
	snprintf(smp_arg, sizeof(smp_arg), "%u", o->cfg.cpus);
	snprintf(obj_arg, sizeof(obj_arg),
		 "memory-backend-memfd,id=ram,size=%lluM,share=on",
		 (unsigned long long)(o->cfg.mem_bytes >> 20));
	/* --stats-interval 0 is refused: the run waits for fresh ones. */
	snprintf(dev_arg, sizeof(dev_arg),
		 "virtio-balloon-device,id=" QEMU_BALLOON_ID
		 ",free-page-reporting=%s,guest-stats-polling-interval=%d%s%s",
		 o->cfg.reporting ? "on" : "off",
		 o->stats_interval_s > 0 ? o->stats_interval_s : 1,
		 /* QEMU's default, said: the guest's poison is negotiated. */
		 o->poison >= 0 ? ",page-poison=on" : "",
		 o->deflate_on_oom < 0 ? "" : o->deflate_on_oom ? ",deflate-on-oom=on"
								 : ",deflate-on-oom=off");
	if (!o->qemu_linux) {
		if (qemu_kernel_append(o, append, sizeof(append))) {
			fprintf(stderr, "guestmm: run: --append: our kernel's command line would be longer than %zu bytes\n",
				sizeof(append) - 1);
			r->error_said = true;
			err = -E2BIG;
			goto undo_dir;
		}
	} else if (kvm)
		snprintf(append, sizeof(append), "console=ttyS0 panic=-1 quiet");
	else
		snprintf(append, sizeof(append),
			 "console=ttyS0 panic=-1 quiet tsc_early_khz=%lu no_timer_check",
			 host_tsc_khz());
	run_qemu_argv(argv, &(struct run_qemu_args){
		.qemu = qemu, .kvm = kvm, .smp = smp_arg, .mem = mem_arg,
		.ram = obj_arg, .kernel = kernel,
		.initrd = o->qemu_linux ? initrd : NULL, .append = append,
		.balloon = dev_arg, .qmp = qmp_arg });
	gc.argv = argv;
	err = uml_guest_spawn(&gc, &u.g);
	if (err) {
		fprintf(stderr, "guestmm: run: cannot start %s: %s\n", qemu,
			strerror(-err));
		goto undo_dir;
	}
	/* A signal from here ends QEMU (its keeper) and removes both dirs. */
	g_slot = run_tmp_add(uml_guest_dir(u.g));
	run_tmp_keeper(uml_guest_pid(u.g), uml_guest_life_fd(u.g));
	err = qmp_connect(&c.qmp, qmp_path, QEMU_QMP_MS);
	if (err) {
		fprintf(stderr, "guestmm: run: QMP on %s: %s\n", qmp_path,
			strerror(-err));
		goto undo_guest;
	}
	pid = uml_guest_kernel_pid(u.g);
	c.memfd = pid > 0 ? run_qemu_memfd_open(pid) : (int)pid;
	if (c.memfd < 0) {
		err = c.memfd;
		fprintf(stderr, "guestmm: run: QEMU's guest RAM memfd: %s\n",
			strerror(-err));
		goto undo_qmp;
	}
	if (!o->qemu_linux) {
		err = qemu_kernel_run(&u, &c);
		goto undo_memfd;
	}
	err = uml_guest_wait_line(u.g, "gmm-ready", NULL, 0, (int)boot_s * 1000);
	if (err) {
		fprintf(stderr, "guestmm: run: Linux on QEMU did not come up%s: %s\n",
			err == -ETIMEDOUT ? " (--boot-timeout)" : "",
			err == -EPIPE ? "QEMU ended" : strerror(-err));
		goto undo_memfd;
	}
	err = linux_run_memhog(&u);
	if (!err && o->target_bytes)
		err = qemu_target(&u);
	if (err)
		goto undo_memfd;
	r->resident_end = qemu_resident(&c);
	r->stats.mem_bytes = o->cfg.mem_bytes;
	r->stats.host_resident_bytes = r->resident_end;
	if (!qemu_guest_stats(&c)) {
		r->qmp_free = c.free;
		r->qmp_total = c.total;
		r->qmp_available = c.available;
		r->stats.free_bytes = c.free;
	}

undo_memfd:
	close(c.memfd);
undo_qmp:
	/* QEMU ends at once; init's poweroff needs ACPI's sleep control. */
	qmp_execute(&c.qmp, "{\"execute\": \"quit\"}", NULL, 0, QEMU_QMP_MS);
	qmp_close(&c.qmp);
undo_guest:
	run_tmp_keeper(0, -1);
	run_tmp_forget(g_slot);
	uml_guest_destroy(u.g, 10000);
undo_dir:
	run_tmp_forget(slot);
	tmp_dir_destroy(&dir);
	return err;
}
