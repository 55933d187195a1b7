/*
 * fleet_qemu.c - a fleet's QEMU guest (see fleet_qemu.h for the design).
 *
 * What the host believes.  QEMU's word through QMP is the device's word
 * here (the host runs QEMU; QEMU is not the guest), but QEMU only relays
 * what the guest wrote: a statistic that is no unsigned number is left
 * out, an actual above the guest's RAM is taken as the whole RAM, and the
 * memory is the host's accounting of QEMU's memfd, never the guest's.
 * The kernel's console lines are the guest's word, shown and counted as
 * its workload's (as a process guest's), never as memory.
 *
 * QMP answers within milliseconds from QEMU's main loop, which TCG's vCPU
 * threads do not hold, but a QEMU waiting at its budget's limit (cgroup
 * v1, the guests wait) answers nothing until the host kills a guest.  A
 * command unanswered in FLEET_QEMU_QMP_TIMEOUT_MS leaves the stream out of
 * step (the late answer would be taken for the next command's), so QMP is
 * closed, said, and connected again (QEMU's QMP socket takes one client at
 * a time, and another once it has gone); meanwhile the mirror says the
 * driver is not there, so the policy decides nothing on stale figures.
 *
 * Once QEMU's console closes, QEMU has gone: the memfd opened again here
 * is closed at once, or it would keep the guest's memory (and its charge
 * to the budget) past its end.
 */
#ifndef _GNU_SOURCE
#define _GNU_SOURCE
#endif
#include "runner/fleet_qemu.h"

#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <limits.h>
#include <stdarg.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include "host/balloon.h"
#include "host/uml_guest.h"
#include "runner/internal.h"
#include "runner/qmp.h"

#define FLEET_QEMU_DEFAULT "/usr/bin/qemu-system-x86_64"
/* QMP is asked this often for actual (and the statistics, below); the
 * control samples every 100 ms, the policy decides every 100 ms. */
#define FLEET_QEMU_QMP_MS 100
/* guest-stats is read this often: QEMU's polling interval is whole
 * seconds, so a report is new at most every second. */
#define FLEET_QEMU_STATS_MS 500
/* The fleet's thread waits this long at most for an answer (it serves the
 * budget too): QEMU's main loop answers in milliseconds even under TCG on a
 * loaded machine, so a second is a QEMU that is stuck. */
#define FLEET_QEMU_QMP_TIMEOUT_MS 1000
/* QEMU makes its QMP socket before the guest runs. */
#define FLEET_QEMU_CONNECT_MS 10000
/* Connecting again after a lost stream: QEMU is there, or it is not. */
#define FLEET_QEMU_RECONNECT_MS 250
#define FLEET_QEMU_BALLOON_ID "balloon0"
/* Our kernel's name on its own lines (kernel/kernel.h's KERNEL_NAME). */
#define FLEET_QEMU_KERNEL_NAME "guestmm-kernel: "

struct fleet_qemu {
	struct fleet_qemu_config cfg;
	struct balloon_dev *mirror;
	struct uml_guest *g;
	struct qmp qmp;			/* fd < 0: closed */
	int memfd;			/* QEMU's guest RAM, opened again */
	bool ready;			/* the kernel said gmm-ready */
	bool gone;			/* its console closed: QEMU ended */
	double next_qmp, next_stats;	/* mono seconds */
	unsigned int qmp_lost;		/* streams closed on a timeout */
	uint32_t sent_pages;		/* the target QEMU has */
	int sent_interval_s;		/* QEMU's polling interval; -1: unknown */
	uint64_t last_update;		/* guest-stats' last-update */
	uint32_t actual;		/* pages, as QEMU last said */
	struct balloon_mirror m;
};

/* QEMU's names of the statistics (QMP guest-stats), by virtio tag. */
static const char *const stat_names[] = {
	[VIRTIO_BALLOON_S_SWAP_IN] = "stat-swap-in",
	[VIRTIO_BALLOON_S_SWAP_OUT] = "stat-swap-out",
	[VIRTIO_BALLOON_S_MAJFLT] = "stat-major-faults",
	[VIRTIO_BALLOON_S_MINFLT] = "stat-minor-faults",
	[VIRTIO_BALLOON_S_MEMFREE] = "stat-free-memory",
	[VIRTIO_BALLOON_S_MEMTOT] = "stat-total-memory",
	[VIRTIO_BALLOON_S_AVAIL] = "stat-available-memory",
	[VIRTIO_BALLOON_S_CACHES] = "stat-disk-caches",
	[VIRTIO_BALLOON_S_HTLB_PGALLOC] = "stat-htlb-pgalloc",
	[VIRTIO_BALLOON_S_HTLB_PGFAIL] = "stat-htlb-pgfail",
};

static double mono_s(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

static void fq_log(struct fleet_qemu *q, const char *fmt, ...)
	__attribute__((format(printf, 2, 3)));

static void fq_log(struct fleet_qemu *q, const char *fmt, ...)
{
	FILE *f = q->cfg.log ? q->cfg.log : stderr;
	va_list ap;

	fputs("guestmm: host: ", f);
	va_start(ap, fmt);
	vfprintf(f, fmt, ap);
	va_end(ap);
	fputc('\n', f);
	fflush(f);
}

/* The stream is closed; fleet_qemu_serve() connects again. */
static void fq_qmp_lost(struct fleet_qemu *q, const char *what, int err)
{
	if (q->qmp.fd < 0)
		return;
	if (err != -EPIPE)
		fq_log(q, "QEMU's QMP (%s): %s: connecting again", what,
		       strerror(-err));
	qmp_close(&q->qmp);
	q->qmp_lost++;
}

static int fq_execute(struct fleet_qemu *q, const char *what, const char *cmd,
		      char *reply, size_t len)
{
	int err;

	if (q->qmp.fd < 0)
		return -EPIPE;
	err = qmp_execute(&q->qmp, cmd, reply, len, FLEET_QEMU_QMP_TIMEOUT_MS);
	if (err && err != -EREMOTEIO)
		fq_qmp_lost(q, what, err);
	return err;
}

/* The mirror's target and statistics interval, to QEMU. */
static void fq_push(struct fleet_qemu *q, const struct balloon_stats *st,
		    unsigned int interval_ms)
{
	/* QEMU counts whole seconds; a shorter interval is its shortest. */
	int want_s = interval_ms ? (int)((interval_ms + 999) / 1000) : 0;
	char cmd[256];

	if (st->num_pages != q->sent_pages && q->ready) {
		uint64_t value = q->cfg.mem_bytes -
				 ((uint64_t)st->num_pages << VIRTIO_BALLOON_PFN_SHIFT);

		snprintf(cmd, sizeof(cmd),
			 "{\"execute\": \"balloon\", \"arguments\": {\"value\": %" PRIu64 "}}",
			 value);
		if (!fq_execute(q, "balloon", cmd, NULL, 0))
			q->sent_pages = st->num_pages;
	}
	if (want_s != q->sent_interval_s) {
		snprintf(cmd, sizeof(cmd),
			 "{\"execute\": \"qom-set\", \"arguments\": {\"path\": "
			 "\"/machine/peripheral/" FLEET_QEMU_BALLOON_ID "\", "
			 "\"property\": \"guest-stats-polling-interval\", \"value\": %d}}",
			 want_s);
		if (!fq_execute(q, "qom-set", cmd, NULL, 0))
			q->sent_interval_s = want_s;
	}
}

/* QEMU's actual and, when due, its guest-stats, into q->m. */
static void fq_pull(struct fleet_qemu *q, double now)
{
	char reply[2048];
	uint64_t v, update;

	if (!fq_execute(q, "query-balloon", "{\"execute\": \"query-balloon\"}",
			reply, sizeof(reply)) &&
	    qmp_get_u64(reply, "actual", &v)) {
		/* actual is the RAM the guest keeps: the balloon is the rest. */
		if (v > q->cfg.mem_bytes)
			v = q->cfg.mem_bytes;
		q->actual = (uint32_t)((q->cfg.mem_bytes - v) >> VIRTIO_BALLOON_PFN_SHIFT);
	}
	q->m.stats_new = false;
	if (now < q->next_stats || q->qmp.fd < 0)
		return;
	q->next_stats = now + FLEET_QEMU_STATS_MS / 1e3;
	if (fq_execute(q, "guest-stats",
		       "{\"execute\": \"qom-get\", \"arguments\": {\"path\": "
		       "\"/machine/peripheral/" FLEET_QEMU_BALLOON_ID "\", "
		       "\"property\": \"guest-stats\"}}",
		       reply, sizeof(reply)) ||
	    !qmp_get_u64(reply, "last-update", &update) || !update ||
	    update == q->last_update)
		return;
	q->last_update = update;
	q->m.stats_new = true;
	q->m.stats_time = (int64_t)update;
	q->m.stats_valid = 0;
	/* QEMU keeps (uint64_t)-1 for a statistic the guest did not send,
	 * and says 18446744073709551615. */
	for (unsigned int t = 0; t < sizeof(stat_names) / sizeof(stat_names[0]); t++)
		if (qmp_get_u64(reply, stat_names[t], &q->m.stats[t]) &&
		    q->m.stats[t] != UINT64_MAX)
			q->m.stats_valid |= 1u << t;
}

static void fq_mirror(struct fleet_qemu *q)
{
	struct stat sb;

	q->m.connected = q->ready && !q->gone && q->qmp.fd >= 0;
	q->m.actual = q->actual;
	q->m.memory_bytes = q->cfg.mem_bytes;
	q->m.resident_bytes = q->memfd >= 0 && !fstat(q->memfd, &sb)
				      ? (uint64_t)sb.st_blocks * 512 : 0;
	balloon_mirror_set(q->mirror, &q->m);
}

static void fq_console(struct fleet_qemu *q)
{
	char line[1024];
	int err;

	while ((err = uml_guest_wait_line(q->g, "", line, sizeof(line), 1)) == 0) {
		if (!strncmp(line, "gmm-", 4)) {
			if (!strncmp(line, "gmm-ready", 9))
				q->ready = true;
			if (q->cfg.line)
				q->cfg.line(q->cfg.line_ctx, line);
		} else if (!strncmp(line, FLEET_QEMU_KERNEL_NAME,
				    strlen(FLEET_QEMU_KERNEL_NAME))) {
			/* The kernel's own word: a refused option, a fault. */
			fq_log(q, "kernel: %s", line + strlen(FLEET_QEMU_KERNEL_NAME));
		}
	}
	if (err == -EPIPE)
		q->gone = true;
}

int fleet_qemu_serve(struct fleet_qemu *q)
{
	double now = mono_s();

	if (!q->gone)
		fq_console(q);
	if (!q->gone && now >= q->next_qmp) {
		struct balloon_stats st;

		q->next_qmp = now + FLEET_QEMU_QMP_MS / 1e3;
		if (q->qmp.fd < 0 &&
		    qmp_connect(&q->qmp, q->cfg.qmp_socket, FLEET_QEMU_RECONNECT_MS)) {
			fq_mirror(q);
			return 0;
		}
		balloon_get_stats(q->mirror, &st);
		fq_push(q, &st, balloon_get_stats_interval(q->mirror));
		fq_pull(q, now);
		fq_mirror(q);
		q->m.stats_new = false;
	}
	if (q->gone) {
		if (q->memfd >= 0)
			close(q->memfd);
		q->memfd = -1;
		qmp_close(&q->qmp);
		q->m.stats_new = false;
		fq_mirror(q);
		return -EPIPE;
	}
	return 0;
}

/* Our kernel's command line (kernel/run.c): memhog in cycles until the
 * host ends it.  Return: 0; -E2BIG. */
static int fq_append(const struct fleet_qemu_config *c, char *buf, size_t len)
{
	int n = snprintf(buf, len,
			 "--workload memhog --threads %u --reporting %s --cycles 0"
			 " --hog-bytes %" PRIu64 " --hold-ms %u --sleep-ms %u"
			 " --start-delay-ms %u",
			 c->cpus, c->reporting ? "on" : "off", c->hog_bytes,
			 c->hold_ms, c->idle_ms, c->start_delay_ms);

	return n > 0 && (size_t)n < len ? 0 : -E2BIG;
}

int fleet_qemu_start(const struct fleet_qemu_config *c,
		     struct balloon_dev *mirror, struct fleet_qemu **out)
{
	char kernel[PATH_MAX + 32], tried[3 * (PATH_MAX + 32)], why[80];
	char qmp_arg[PATH_MAX + 48], mem_arg[32], smp_arg[16], obj_arg[96];
	char dev_arg[200], append[512];
	const char *qemu = c->qemu ? c->qemu : FLEET_QEMU_DEFAULT;
	struct uml_guest_config gc = { .cgroup_procs = c->cgroup_procs };
	bool kvm = run_qemu_kvm_usable(why, sizeof(why));
	struct fleet_qemu *q;
	char *argv[RUN_QEMU_ARGV_MAX];
	pid_t pid;
	int err;

	if (access(qemu, X_OK)) {
		err = -errno;
		fprintf(c->log ? c->log : stderr,
			"guestmm: host: %s: %s (apt-get install qemu-system-x86)\n",
			qemu, strerror(-err));
		return err;
	}
	if (c->kernel) {
		snprintf(kernel, sizeof(kernel), "%s", c->kernel);
		if (access(kernel, R_OK))
			return -errno;
	} else if (run_find_file("kernel", "", "guestmm-kernel.elf", kernel,
				 sizeof(kernel), tried, sizeof(tried))) {
		fprintf(c->log ? c->log : stderr,
			"guestmm: host: no guest kernel image for QEMU: tried %s "
			"(the build makes build/kernel/guestmm-kernel.elf)\n", tried);
		return -ENOENT;
	}
	if (fq_append(c, append, sizeof(append)))
		return -E2BIG;
	q = calloc(1, sizeof(*q));
	if (!q)
		return -ENOMEM;
	q->cfg = *c;
	q->mirror = mirror;
	q->memfd = -1;
	q->qmp.fd = -1;
	q->sent_interval_s = -1;
	snprintf(qmp_arg, sizeof(qmp_arg), "unix:%s,server=on,wait=off",
		 c->qmp_socket);
	snprintf(mem_arg, sizeof(mem_arg), "%" PRIu64 "M", c->mem_bytes >> 20);
	snprintf(smp_arg, sizeof(smp_arg), "%u", c->cpus);
	snprintf(obj_arg, sizeof(obj_arg),
		 "memory-backend-memfd,id=ram,size=%" PRIu64 "M,share=on",
		 c->mem_bytes >> 20);
	/* The polling interval is set through QMP from the mirror's. */
	snprintf(dev_arg, sizeof(dev_arg),
		 "virtio-balloon-device,id=" FLEET_QEMU_BALLOON_ID
		 ",free-page-reporting=%s,deflate-on-oom=%s",
		 c->reporting ? "on" : "off", c->deflate_on_oom ? "on" : "off");
	run_qemu_argv(argv, &(struct run_qemu_args){
		.qemu = qemu, .kvm = kvm, .smp = smp_arg, .mem = mem_arg,
		.ram = obj_arg, .kernel = kernel, .append = append,
		.balloon = dev_arg, .qmp = qmp_arg });
	gc.argv = argv;
	err = uml_guest_spawn(&gc, &q->g);
	if (err)
		goto undo_alloc;
	err = qmp_connect(&q->qmp, c->qmp_socket, FLEET_QEMU_CONNECT_MS);
	if (err) {
		fq_log(q, "QMP on %s: %s", c->qmp_socket, strerror(-err));
		goto undo_guest;
	}
	pid = uml_guest_kernel_pid(q->g);
	q->memfd = pid > 0 ? run_qemu_memfd_open(pid) : (int)pid;
	if (q->memfd < 0) {
		err = q->memfd;
		fq_log(q, "QEMU's guest RAM memfd: %s", strerror(-err));
		goto undo_qmp;
	}
	fq_mirror(q);
	*out = q;
	return 0;

undo_qmp:
	qmp_close(&q->qmp);
undo_guest:
	uml_guest_kill(q->g);
	uml_guest_destroy(q->g, 0);
undo_alloc:
	free(q);
	return err;
}

struct uml_guest *fleet_qemu_guest(struct fleet_qemu *q)
{
	return q->g;
}

void fleet_qemu_destroy(struct fleet_qemu *q)
{
	if (!q)
		return;
	if (q->memfd >= 0)
		close(q->memfd);
	qmp_close(&q->qmp);
	uml_guest_kill(q->g);
	uml_guest_destroy(q->g, 0);
	free(q);
}
