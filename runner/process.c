/*
 * process.c - process guests: the host side (run_process) and the guest
 * side (run_guest_process_main).
 *
 * Processes and descriptors.  The host (this process) makes a temporary
 * directory (tmp_dir.h: in $TMPDIR, removed on a signal, and after a
 * SIGKILL by the next maker) with the device's socket in it, serves a balloon there on a
 * backend thread (host/backend.h), and starts the guest: fork, then in the
 * child PR_SET_PDEATHSIG(SIGKILL) and a getppid() check (the host may have
 * died between fork and prctl), stdout onto the write end of a pipe, exec.
 * The guest inherits nothing else (every other descriptor is CLOEXEC).  It
 * makes its RAM (a memfd it owns), connects to the socket and drives the
 * device with its balloon driver (guest/balloon_driver.h): the memfd, the
 * call and kick eventfds and the backend channel go to the host over the
 * socket.  The host owns the socket, its mappings of the memfd and the
 * device; the guest owns its RAM and its rings in it.
 *
 * The pipe is the guest's console: a line per event, "gmm-ready", a sample
 * every sample_s ("gmm-sample", and for working-set "gmm-anon-sample":
 * zswap, swap, pswpin/out), a line at each memhog phase change
 * ("gmm-phase"), one for each working-set process killed because a page of
 * its could not be read back from swap ("gmm-killed": the host says it, in
 * the words of run_say_killed()), its final figures ("gmm-end", "gmm-rusage":
 * its own process's CPU time and context switches, "gmm-hint", "gmm-zone",
 * "gmm-blocks", for working-set "gmm-anon" - with the pages lost and the
 * bad swap slots - "gmm-vm", "gmm-zswap" and
 * "gmm-compact", one counter a line by index, with --compact
 * "gmm-compacted" and "gmm-buddy" before and after, "gmm-lock") and
 * "gmm-done".  The guest's own figures are
 * its allocator's and its strategy's (free, reported, frames, zones, locks,
 * the hinting workers' CPU); every figure of memory returned
 * is the host's: the device's accounting of the memfd (st_blocks of the
 * file it was given), sampled by the host itself, against the hog size the
 * host chose (not the guest's "freed" figure), timed from the host's clock
 * when the guest's line saying it freed arrives (not the guest's
 * timestamp).  "gmm-ready" counts only once the device has a frontend that
 * negotiated features; a guest that never does fails the run.  A line the
 * host cannot parse is ignored, a zone name is kept only when it is made
 * of [A-Za-z0-9_-], and the guest's stderr reaches ours only line by line,
 * prefixed and with its control bytes escaped: the console is the guest's
 * and not trusted further.
 *
 * Death.  The guest dies with the host thread that forked it (PDEATHSIG),
 * and notices a host that closed the device (its driver reports -EPIPE) and
 * ends.  The host reaps the guest on every path, killing it first when the
 * run failed.
 */
#ifndef _GNU_SOURCE
#define _GNU_SOURCE
#endif
#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <poll.h>
#include <pthread.h>
#include <signal.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/prctl.h>
#include <sys/wait.h>
#include <unistd.h>

#include "guest/balloon_driver.h"
#include "guest/balloon_process.h"
#include "host/backend.h"
#include "host/balloon.h"
#include "host/tmp_dir.h"
#include "mm/page_hinting.h"
#include "mm/zpool.h"
#include "runner/guest_lines.h"
#include "runner/internal.h"
#include "runner/run.h"
#include "platform/platform.h"

#define PG_LINE_MAX 512
/* A guest that says nothing for this long is stuck (a sample is due every
 * sample_s; a memhog phase can take seconds on a loaded machine). */
#define PG_SILENCE_S 120
/* A guest whose console closed has this long to exit before it is killed:
 * ours exits as it closes it, so this is only for a guest that is not. */
#define PG_REAP_GRACE_S 2
/* A guest that says it is ready has this long for the device to agree
 * (it says so after its driver negotiated: only a guest that lies waits). */
#define PG_ATTACH_S 10

/* ---- the guest's argv ---- */

enum pg_arg {
	PG_SOCKET, PG_PARENT, PG_MEM, PG_LOW_ZONE, PG_CPUS, PG_REPORTING,
	PG_ORDER, PG_CAPACITY, PG_HWM, PG_DELAY, PG_MIN_AGE, PG_WORKLOAD,
	PG_HOG, PG_CYCLES, PG_HOLD, PG_SLEEP, PG_THREADS, PG_DURATION,
	PG_WARMUP, PG_LOCK, PG_LOCK_STATS, PG_SEED, PG_SAMPLE, PG_HINTING,
	PG_HINT_ENTRIES, PG_HINT_CAP, PG_START_DELAY, PG_WS, PG_COMPACT,
	PG_ACCESSES, PG_ZPOOL, PG_NR
};

static const char *const pg_arg_names[PG_NR] = {
	[PG_SOCKET] = "--socket",	[PG_PARENT] = "--parent",
	[PG_MEM] = "--mem-bytes",	[PG_LOW_ZONE] = "--low-zone-bytes",
	[PG_CPUS] = "--cpus",		[PG_REPORTING] = "--reporting",
	[PG_ORDER] = "--report-order",	[PG_CAPACITY] = "--report-capacity",
	[PG_HWM] = "--report-hwm",	[PG_DELAY] = "--report-delay-ms",
	[PG_MIN_AGE] = "--report-min-age-ms", [PG_WORKLOAD] = "--workload",
	[PG_HOG] = "--hog-bytes",	[PG_CYCLES] = "--cycles",
	[PG_HOLD] = "--hold-ms",	[PG_SLEEP] = "--sleep-ms",
	[PG_THREADS] = "--threads",	[PG_DURATION] = "--duration-ms",
	[PG_WARMUP] = "--warmup-ms",	[PG_LOCK] = "--lock",
	[PG_LOCK_STATS] = "--lock-stats", [PG_SEED] = "--seed",
	[PG_SAMPLE] = "--sample-ms",	[PG_HINTING] = "--hinting",
	[PG_HINT_ENTRIES] = "--hint-entries", [PG_HINT_CAP] = "--hint-cap-bytes",
	[PG_START_DELAY] = "--start-delay-ms",
	[PG_WS] = "--ws-bytes",		[PG_COMPACT] = "--compact",
	[PG_ACCESSES] = "--accesses",	[PG_ZPOOL] = "--zpool",
};

struct pg_argv {
	char *argv[2 + 2 * PG_NR + 1];
	char val[PG_NR][128];
	int argc;
};

static void pg_arg_add(struct pg_argv *a, enum pg_arg k, const char *fmt, ...)
	__attribute__((format(printf, 3, 4)));

static void pg_arg_add(struct pg_argv *a, enum pg_arg k, const char *fmt, ...)
{
	va_list ap;

	va_start(ap, fmt);
	vsnprintf(a->val[k], sizeof(a->val[k]), fmt, ap);
	va_end(ap);
	a->argv[a->argc++] = (char *)pg_arg_names[k];
	a->argv[a->argc++] = a->val[k];
}

static void pg_build_argv(struct pg_argv *a, const struct run_opts *o,
			  const char *exe, const char *sock, pid_t parent)
{
	const struct gmm_guest_config *c = &o->cfg;

	a->argc = 0;
	a->argv[a->argc++] = (char *)exe;
	a->argv[a->argc++] = (char *)"guest";
	pg_arg_add(a, PG_SOCKET, "%s", sock);
	pg_arg_add(a, PG_PARENT, "%d", (int)parent);
	pg_arg_add(a, PG_MEM, "%" PRIu64, c->mem_bytes);
	pg_arg_add(a, PG_LOW_ZONE, "%" PRIu64, c->low_zone_bytes);
	pg_arg_add(a, PG_CPUS, "%u", c->cpus);
	pg_arg_add(a, PG_REPORTING, "%s", c->reporting ? "on" : "off");
	pg_arg_add(a, PG_HINTING, "%s", gmm_hinting_names[c->hinting]);
	pg_arg_add(a, PG_HINT_ENTRIES, "%u", c->hint_entries);
	pg_arg_add(a, PG_HINT_CAP, "%" PRIu64, c->hint_cap_bytes);
	pg_arg_add(a, PG_ORDER, "%u", c->report_order);
	pg_arg_add(a, PG_CAPACITY, "%u", c->report_capacity);
	pg_arg_add(a, PG_HWM, "%u", c->report_hwm);
	pg_arg_add(a, PG_DELAY, "%u", c->report_delay_ms);
	if (c->report_min_age_ms != GMM_REPORT_MIN_AGE_HALF_DELAY)
		pg_arg_add(a, PG_MIN_AGE, "%u", c->report_min_age_ms);
	pg_arg_add(a, PG_WORKLOAD, "%s", workload_name(o->kind));
	pg_arg_add(a, PG_HOG, "%" PRIu64, o->hog_bytes);
	pg_arg_add(a, PG_CYCLES, "%u", o->cycles);
	pg_arg_add(a, PG_HOLD, "%u", o->hold_ms);
	if (o->sleep_ms >= 0)
		pg_arg_add(a, PG_SLEEP, "%d", o->sleep_ms);
	pg_arg_add(a, PG_THREADS, "%u", o->threads);
	pg_arg_add(a, PG_DURATION, "%.0f", o->duration_s * 1e3);
	pg_arg_add(a, PG_WARMUP, "%.0f", o->warmup_s * 1e3);
	pg_arg_add(a, PG_LOCK, "%s", spin_lock_kind_names[o->lock]);
	pg_arg_add(a, PG_LOCK_STATS, "%s", o->lock_stats ? "on" : "off");
	pg_arg_add(a, PG_SEED, "%" PRIu64, o->seed);
	pg_arg_add(a, PG_SAMPLE, "%.0f", o->sample_s * 1e3);
	if (o->start_delay_ms)
		pg_arg_add(a, PG_START_DELAY, "%u", o->start_delay_ms);
	if (o->ws_bytes)
		pg_arg_add(a, PG_WS, "%" PRIu64, o->ws_bytes);
	if (o->accesses)
		pg_arg_add(a, PG_ACCESSES, "%" PRIu64, o->accesses);
	if (o->compact)
		pg_arg_add(a, PG_COMPACT, "on");
	if (o->zpool)
		pg_arg_add(a, PG_ZPOOL, "%s", o->zpool->name);
	a->argv[a->argc] = NULL;
}

static int pg_usage(const char *fmt, ...) __attribute__((format(printf, 1, 2)));

static int pg_usage(const char *fmt, ...)
{
	va_list ap;

	fputs("guestmm: guest: ", stderr);
	va_start(ap, fmt);
	vfprintf(stderr, fmt, ap);
	va_end(ap);
	fputc('\n', stderr);
	return 2;
}

static int pg_uint(const char *name, const char *s, uint64_t max, uint64_t *v)
{
	char *end;

	errno = 0;
	if (!s || *s < '0' || *s > '9')
		return pg_usage("%s: '%s' is not a whole number", name,
				s ? s : "");
	*v = strtoull(s, &end, 10);
	if (errno || *end || *v > max)
		return pg_usage("%s: '%s' is not a whole number up to %" PRIu64,
				name, s, max);
	return 0;
}

static int pg_onoff(const char *name, const char *s, bool *v)
{
	if (s && !strcmp(s, "on"))
		*v = true;
	else if (s && !strcmp(s, "off"))
		*v = false;
	else
		return pg_usage("%s: '%s' is not on or off", name, s ? s : "");
	return 0;
}

static void pg_help(void)
{
	fputs("Usage: guestmm guest --socket SOCKET [ARGUMENT VALUE]...\n"
	      "Our guest runtime as a process, attached to the balloon device on\n"
	      "SOCKET; `guestmm run` starts it with every argument written out, sizes\n"
	      "in bytes, times in milliseconds.  It writes its samples and figures to\n"
	      "stdout, a gmm- line each.  Arguments:\n ", stdout);
	for (int k = 0; k < PG_NR; k++)
		printf(" %s%s", pg_arg_names[k], k % 4 == 3 && k < PG_NR - 1 ? "\n " : "");
	puts("");
}

/* Return: 0; 1 after --help; or 2 after one line on stderr. */
static int pg_parse_argv(int argc, char **argv, struct run_opts *o,
			 const char **sock, pid_t *parent)
{
	*sock = NULL;
	*parent = 0;
	for (int i = 1; i < argc; i++) {
		if (!strcmp(argv[i], "--help") || !strcmp(argv[i], "-h")) {
			pg_help();
			return 1;
		}
	}
	for (int i = 1; i < argc; i += 2) {
		const char *name = argv[i], *val = i + 1 < argc ? argv[i + 1] : NULL;
		struct gmm_guest_config *c = &o->cfg;
		uint64_t v = 0;
		int k, err = 0;

		for (k = 0; k < PG_NR; k++)
			if (!strcmp(name, pg_arg_names[k]))
				break;
		if (k == PG_NR)
			return pg_usage("unrecognized argument '%s'", name);
		if (!val)
			return pg_usage("option %s needs a value", name);
		switch (k) {
		case PG_SOCKET:
			*sock = val;
			break;
		case PG_PARENT:
			err = pg_uint(name, val, INT32_MAX, &v);
			*parent = (pid_t)v;
			break;
		case PG_MEM:
			err = pg_uint(name, val, 1ull << 40, &c->mem_bytes);
			break;
		case PG_LOW_ZONE:
			err = pg_uint(name, val, 1ull << 40, &c->low_zone_bytes);
			break;
		case PG_CPUS:
			err = pg_uint(name, val, MAX_NR_CPUS, &v);
			c->cpus = (unsigned int)v;
			break;
		case PG_REPORTING:
			err = pg_onoff(name, val, &c->reporting);
			break;
		case PG_HINTING:
			if (gmm_hinting_parse(val, &c->hinting))
				return pg_usage("%s: '%s' is not report, percpu, bitmap or off",
						name, val);
			break;
		case PG_HINT_CAP:
			err = pg_uint(name, val, GMM_HINT_CAP_MAX, &c->hint_cap_bytes);
			if (!err && c->hint_cap_bytes < (1u << 20))
				return pg_usage("%s: must be at least 1 MiB", name);
			break;
		case PG_HINT_ENTRIES:
			err = pg_uint(name, val, PAGE_HINTING_ENTRIES_MAX, &v);
			if (!err && !v)
				return pg_usage("%s: must be at least 1", name);
			c->hint_entries = (unsigned int)v;
			break;
		case PG_ORDER:
			err = pg_uint(name, val, MAX_ORDER - 1, &v);
			c->report_order = (unsigned int)v;
			break;
		case PG_CAPACITY:
			err = pg_uint(name, val, 1024, &v);
			c->report_capacity = (unsigned int)v;
			break;
		case PG_HWM:
			err = pg_uint(name, val, 1u << 30, &v);
			c->report_hwm = (unsigned int)v;
			break;
		case PG_DELAY:
			err = pg_uint(name, val, 3600000, &v);
			c->report_delay_ms = (unsigned int)v;
			break;
		case PG_MIN_AGE:
			err = pg_uint(name, val, 3600000, &v);
			c->report_min_age_ms = (unsigned int)v;
			break;
		case PG_WORKLOAD:
			for (k = 0; k <= WORKLOAD_WORKING_SET; k++)
				if (!strcmp(val, workload_name(k)))
					break;
			if (k > WORKLOAD_WORKING_SET)
				return pg_usage("%s: '%s' is not memhog, pagefault, stress or working-set",
						name, val);
			o->kind = (enum workload_kind)k;
			break;
		case PG_HOG:
			err = pg_uint(name, val, 1ull << 40, &o->hog_bytes);
			break;
		case PG_CYCLES:
			err = pg_uint(name, val, RUN_MAX_CYCLES, &v);
			o->cycles = (unsigned int)v;
			break;
		case PG_HOLD:
			err = pg_uint(name, val, 3600000, &v);
			o->hold_ms = (unsigned int)v;
			break;
		case PG_SLEEP:
			err = pg_uint(name, val, 3600000, &v);
			o->sleep_ms = (int)v;
			break;
		case PG_THREADS:
			err = pg_uint(name, val, MAX_NR_CPUS, &v);
			o->threads = (unsigned int)v;
			break;
		case PG_DURATION:
			err = pg_uint(name, val, 86400000, &v);
			o->duration_s = (double)v / 1e3;
			break;
		case PG_WARMUP:
			err = pg_uint(name, val, 86400000, &v);
			o->warmup_s = (double)v / 1e3;
			break;
		case PG_LOCK:
			if (spin_lock_kind_parse(val, &o->lock))
				return pg_usage("%s: '%s' is not tas, ticket, mcs or pvq",
						name, val);
			break;
		case PG_LOCK_STATS:
			err = pg_onoff(name, val, &o->lock_stats);
			break;
		case PG_SEED:
			err = pg_uint(name, val, UINT64_MAX, &o->seed);
			break;
		case PG_SAMPLE:
			err = pg_uint(name, val, 60000, &v);
			if (!err && !v)
				return pg_usage("%s: must be at least 1", name);
			o->sample_s = (double)v / 1e3;
			break;
		case PG_START_DELAY:
			err = pg_uint(name, val, 3600000, &v);
			o->start_delay_ms = (unsigned int)v;
			break;
		case PG_WS:
			err = pg_uint(name, val, 1ull << 40, &o->ws_bytes);
			break;
		case PG_COMPACT:
			err = pg_onoff(name, val, &o->compact);
			break;
		case PG_ACCESSES:
			err = pg_uint(name, val, UINT64_MAX, &o->accesses);
			break;
		case PG_ZPOOL:
			o->zpool = zpool_driver_find(val);
			if (!o->zpool)
				return pg_usage("%s: '%s' is not zbud or dense", name, val);
			break;
		}
		if (err)
			return err;
	}
	if (!*sock)
		return pg_usage("--socket SOCKET is required");
	return 0;
}

/* ---- the guest side ---- */

/*
 * @lock protects @out: the main thread's samples and a vCPU thread's phase
 * lines must not interleave.  @bv and @bd are set before any thread runs.
 */
struct pg_guest {
	pthread_mutex_t lock;
	FILE *out;
	struct balloon_process *bv;
	struct balloon_driver *bd;
	struct guest_lines lines; /* through pg_emit() */
};

static void pg_emit(void *ctx, const char *fmt, ...)
	__attribute__((format(printf, 2, 3)));

static void pg_emit(void *ctx, const char *fmt, ...)
{
	struct pg_guest *pg = ctx;
	va_list ap;

	pthread_mutex_lock(&pg->lock);
	va_start(ap, fmt);
	vfprintf(pg->out, fmt, ap);
	va_end(ap);
	fflush(pg->out);
	pthread_mutex_unlock(&pg->lock);
}

static void pg_on_sample(void *ctx, const struct run_sample *s)
{
	struct pg_guest *pg = ctx;

	guest_lines_sample(&pg->lines, s);
}

static void pg_on_phase(void *ctx, int phase)
{
	struct pg_guest *pg = ctx;

	guest_lines_phase(&pg->lines, phase);
}

/* The host says it (run_say_killed()): the same line as in process. */
static void pg_on_kill(void *ctx, unsigned int id, uint64_t addr)
{
	pg_emit(ctx, "gmm-killed %u %" PRIu64 "\n", id, addr);
}

static bool pg_should_stop(void *ctx)
{
	struct pg_guest *pg = ctx;
	struct balloon_driver_stats st;

	balloon_driver_get_stats(pg->bd, &st);
	return st.error != 0;
}

int run_guest_process_main(int argc, char **argv)
{
	struct pg_guest pg = { .out = stdout };
	struct run_hooks hooks = {
		.ctx = &pg,
		.on_sample = pg_on_sample,
		.on_phase = pg_on_phase,
		.should_stop = pg_should_stop,
		.on_kill = pg_on_kill,
	};
	struct gmm_guest_config cfg;
	struct run_opts o;
	struct run_result *r;
	struct gmm_guest *g;
	const char *sock;
	pid_t parent;
	bool timing;
	int err, rc = 1;

	run_opts_init(&o);
	o.mode = RUN_IN_PROCESS; /* inside, the guest runs in this process */
	err = pg_parse_argv(argc, argv, &o, &sock, &parent);
	if (err)
		return err == 1 ? 0 : err;
	/* Die with the host.  It may be gone already: then so are we. */
	if (parent) {
		if (prctl(PR_SET_PDEATHSIG, SIGKILL) || getppid() != parent) {
			fprintf(stderr, "guestmm: guest: its host (pid %d) is gone\n",
				(int)parent);
			return 1;
		}
	}
	signal(SIGPIPE, SIG_IGN);
	pg.lines = (struct guest_lines){ .emit = pg_emit, .ctx = &pg };
	r = calloc(1, sizeof(*r));
	if (!r) {
		fputs("guestmm: guest: out of memory for its figures\n", stderr);
		return 1;
	}
	pthread_mutex_init(&pg.lock, NULL);
	run_locks_begin(&o, &timing);
	/* Our reporting device is the balloon, not the discard device. */
	cfg = o.cfg;
	cfg.reporting = false;
	err = gmm_guest_create(&cfg, &g);
	if (err)
		goto undo_locks; /* gmm_guest_create() said which step failed */
	err = balloon_process_start(g, sock,
				       o.cfg.reporting &&
					       o.cfg.hinting != GMM_HINTING_OFF,
				       &pg.bv);
	if (err) {
		fprintf(stderr, "guestmm: guest: cannot attach to the balloon on %s: %s\n",
			sock, strerror(-err));
		goto undo_guest;
	}
	pg.bd = balloon_process_driver(pg.bv);
	{
		struct balloon_driver_stats st;

		balloon_driver_get_stats(pg.bd, &st);
		guest_lines_ready(&pg.lines, st.offered, st.features,
				  balloon_driver_reporting(pg.bd));
	}
	/* A host staggers its guests' cycles: idle first, as told, unless
	 * the device goes. */
	for (unsigned int t = 0; t < o.start_delay_ms && !pg_should_stop(&pg);
	     t += 10)
		run_sleep_s(0.01);
	err = run_workload(&o, r, g, &hooks);
	if (err) {
		if (!r->error_said)
			fprintf(stderr, "guestmm: guest: cannot start the workload: %s\n",
				strerror(-err));
	} else {
		struct balloon_driver_stats st;

		/* The device's figures count; the guest's say what it did. */
		balloon_driver_get_stats(pg.bd, &st);
		/* Through the device the bitmap's worker is the driver. */
		if (r->stats.hinting == GMM_HINTING_BITMAP)
			r->stats.worker_cpu_ns += st.hint_cpu_ns;
		guest_lines_result(&pg.lines, r);
		balloon_driver_get_stats(pg.bd, &st);
		if (st.error)
			fprintf(stderr, "guestmm: guest: the host went away: %s\n",
				strerror(-st.error));
		else
			rc = 0;
	}
	balloon_process_stop(pg.bv);
undo_guest:
	gmm_guest_destroy(g);
undo_locks:
	run_locks_end(timing);
	if (!rc)
		guest_lines_done(&pg.lines);
	free(r);
	pthread_mutex_destroy(&pg.lock);
	return rc;
}

/* ---- the host side ---- */

struct pg_host {
	const struct run_opts *o;
	struct run_result *r;
	struct balloon_backend be;
	pid_t pid;
	int out_fd; /* read end of the guest's console */
	char buf[8192];
	size_t len;
	bool overlong; /* the rest of a line longer than @buf is to be dropped */
	int err_fd; /* read end of the guest's stderr (non-blocking), or -1 */
	char ebuf[PG_LINE_MAX];
	size_t elen;
	bool ready, ended, done;
	double done_at; /* "gmm-done": nothing after it counts */
	bool ready_claimed; /* "gmm-ready" seen; @ready once the device agrees */
	double ready_claimed_at;
	uint64_t hog_bytes; /* memhog: what the host asked the guest to free */
	uint64_t freed_at_ns; /* host clock: the latest free's line arrived */
	unsigned int freed_cycle; /* the cycle @freed_at_ns belongs to */
	bool freed_early; /* a FREED phase line ahead of its cycle's samples */
	/* The guest's latest sample, with the host's own figures put in. */
	struct run_sample s;
	unsigned int seen_cycle;
	uint64_t killed_said[WORKLOAD_MAX_THREADS / 64]; /* gmm-killed seen */
	uint64_t resident_held; /* max host resident while allocating or
				   holding: the resident at the free */
	double t0;
	/* Another VMM's accounting instead of our device's (run_console_new:
	 * our kernel on QEMU); its device's counters read as zero then. */
	uint64_t (*resident_fn)(void *ctx);
	void *resident_ctx;
};

static uint64_t pg_resident(struct pg_host *h, struct balloon_stats *st)
{
	if (h->resident_fn) {
		*st = (struct balloon_stats){ 0 };
		st->resident_bytes = h->resident_fn(h->resident_ctx);
		return st->resident_bytes;
	}
	balloon_get_stats(h->be.balloon, st);
	return st->resident_bytes;
}

/* A zone name as our guest writes them: [A-Za-z0-9_-]+. */
static bool pg_name_ok(const char *s)
{
	if (!*s)
		return false;
	for (; *s; s++)
		if (!((*s >= 'a' && *s <= 'z') || (*s >= 'A' && *s <= 'Z') ||
		      (*s >= '0' && *s <= '9') || *s == '_' || *s == '-'))
			return false;
	return true;
}

/*
 * Every field our guest writes after a line's keyword is a number without
 * a sign, but for the zone's name (checked by pg_name_ok()).  sscanf's %u
 * and %llu take "-1" as their largest value and %lf takes "nan" and
 * "inf": a line with anything but digits, dots and spaces there is not
 * ours, and is dropped rather than read as garbage.
 */
static bool pg_unsigned_fields(const char *line)
{
	bool zone = !strncmp(line, "gmm-zone ", 9);
	unsigned int field = 0;
	const char *p = strchr(line, ' ');

	for (; p && *p; p++) {
		if (*p == ' ') {
			field++;
			continue;
		}
		if (zone && field == 2)
			continue; /* the name */
		if (!((*p >= '0' && *p <= '9') || *p == '.'))
			return false;
	}
	return true;
}

static void pg_host_line(struct pg_host *h, char *line)
{
	struct run_result *r = h->r;
	struct balloon_stats st;
	uint64_t res = pg_resident(h, &st);
	unsigned int a, b, c;
	uint64_t v;
	int phase;

	if (h->done)
		return; /* the guest's last word came: the rest is noise */
	if (!pg_unsigned_fields(line))
		return;
	if (!strncmp(line, "gmm-ready ", 10)) {
		if (!h->ready_claimed)
			h->ready_claimed_at = run_now_s();
		h->ready_claimed = true;
	} else if (sscanf(line, "gmm-phase %d", &phase) == 1) {
		/* On the phase change, before any of it is reported. */
		if (phase == MEMHOG_ALLOC) {
			h->resident_held = 0;
			/*
			 * The freed cycle ends here, not at the next sample:
			 * what is resident from now on is the next cycle's
			 * allocation, not what the last free left.
			 */
			if (h->s.phase == MEMHOG_FREED)
				h->s.phase = MEMHOG_ALLOC;
		}
		if (phase == MEMHOG_HELD && res > h->resident_held)
			h->resident_held = res;
		if (phase == MEMHOG_FREED) {
			h->s.resident_at_free = h->resident_held ? h->resident_held
								 : res;
			h->resident_held = 0;
			/* The free is timed by our clock, as its line comes. */
			h->freed_at_ns = platform_now_ns();
			h->freed_early = true;
		}
	} else if (!strncmp(line, "gmm-sample ", 11)) {
		struct run_sample n = h->s;

		if (sscanf(line + 11,
			   "%" SCNu64 " %" SCNu64 " %u %d %" SCNu64 " %" SCNu64
			   " %" SCNu64 " %" SCNu64,
			   &n.guest_free, &n.guest_reported, &n.cycle, &n.phase,
			   &n.freed_bytes, &n.freed_at_ns, &n.frames,
			   &n.blocks) != 8 || n.phase < 0 || n.phase > MEMHOG_FREED)
			return;
		if ((n.phase == MEMHOG_ALLOC || n.phase == MEMHOG_HELD) &&
		    res > h->resident_held)
			h->resident_held = res;
		/* The first sample of a freed cycle: its free is the phase
		 * line just before, or (none came) now. */
		if (n.phase == MEMHOG_FREED && n.cycle != h->freed_cycle) {
			if (!h->freed_early)
				h->freed_at_ns = platform_now_ns();
			h->freed_early = false;
			h->freed_cycle = n.cycle;
		}
		/* Not the guest's figures: what we asked and when we saw it. */
		n.freed_bytes = h->hog_bytes;
		n.freed_at_ns = h->freed_at_ns;
		h->s = n;
	} else if (!strncmp(line, "gmm-anon-sample ", 16)) {
		struct run_sample n = h->s;
		int filled;

		/* Belongs to the gmm-sample line just before it. */
		if (sscanf(line + 16,
			   "%d %" SCNu64 " %" SCNu64 " %" SCNu64 " %" SCNu64
			   " %" SCNu64 " %" SCNu64 " %" SCNu64,
			   &filled, &n.accesses, &n.zswap_pool_bytes,
			   &n.zswap_stored_pages, &n.zswap_written_back,
			   &n.swap_used_pages, &n.pswpin, &n.pswpout) != 8)
			return;
		n.anon = true;
		n.filled = filled != 0;
		h->s = n;
	} else if (!strncmp(line, "gmm-anon ", 9)) {
		struct anon_stats *an = &r->anon;
		struct zswap_stats *z = &an->zswap;
		int has_zswap;

		if (sscanf(line + 9,
			   "%" SCNu64 " %" SCNu64 " %" SCNu64 " %" SCNu64
			   " %" SCNu64 " %d %" SCNu64 " %" SCNu64 " %" SCNu64
			   " %" SCNu64 " %" SCNu64 " %" SCNu64 " %" SCNu64,
			   &r->accesses, &an->nr_inactive, &an->nr_active,
			   &an->swap_slots, &an->swap_free, &has_zswap,
			   &z->pool_total_size, &z->pool_limit_bytes,
			   &z->stored_pages, &z->same_filled_pages,
			   &z->compressed_bytes, &an->events[SWAP_UNREADABLE],
			   &an->swap_bad) == 13) {
			an->has_zswap = has_zswap != 0;
			r->has_anon = true;
		}
	} else if (sscanf(line, "gmm-killed %u %" SCNu64, &a, &v) == 2) {
		/* The guest's word, said once per process it names. */
		if (a < WORKLOAD_MAX_THREADS && !((h->killed_said[a / 64] >> (a % 64)) & 1)) {
			h->killed_said[a / 64] |= 1ull << (a % 64);
			r->killed++;
			run_say_killed(a, v);
		}
	} else if (!strncmp(line, "gmm-faults ", 11)) {
		/* The working set's fault latencies after its fill: all or none. */
		uint64_t f[5];

		if (sscanf(line + 11, "%" SCNu64 " %" SCNu64 " %" SCNu64
			   " %" SCNu64 " %" SCNu64, &f[0], &f[1], &f[2], &f[3],
			   &f[4]) == 5 && f[0]) {
			r->faults_timed = f[0];
			r->fault_p50_ns = f[1];
			r->fault_p99_ns = f[2];
			r->fault_p999_ns = f[3];
			r->fault_max_ns = f[4];
		}
	} else if (sscanf(line, "gmm-vm %u %" SCNu64, &a, &v) == 2) {
		if (a < NR_VM_EVENTS)
			r->anon.events[a] = v;
	} else if (sscanf(line, "gmm-zswap %u %" SCNu64, &a, &v) == 2) {
		if (a < NR_ZSWAP_EVENTS)
			r->anon.zswap.events[a] = v;
	} else if (sscanf(line, "gmm-compact %u %" SCNu64, &a, &v) == 2) {
		if (a < NR_COMPACT_EVENTS)
			r->compact.events[a] = v;
	} else if (!strncmp(line, "gmm-compacted ", 14)) {
		struct compact_result *c = &r->compact_res;

		if (sscanf(line + 14,
			   "%lf %" SCNu64 " %" SCNu64 " %" SCNu64 " %" SCNu64
			   " %" SCNu64 " %" SCNu64,
			   &r->compact_ms, &c->migrate_scanned, &c->free_scanned,
			   &c->isolated, &c->migrate.moved, &c->migrate.released,
			   &c->migrate.failed) == 7)
			r->compacted = true;
	} else if (sscanf(line, "gmm-buddy %u %u", &a, &b) == 2 && a < 2 && b < 2) {
		char *p = line;

		for (unsigned int skip = 0; skip < 3 && p; skip++)
			p = strchr(p + 1, ' ');
		for (unsigned int o = 0; o < MAX_ORDER && p; o++)
			r->buddy[a][b][o] = strtoull(p, &p, 10);
	} else if (!strncmp(line, "gmm-end ", 8)) {
		if (sscanf(line + 8,
			   "%lf %lf %" SCNu64 " %lf %" SCNu64 " %" SCNu64
			   " %" SCNu64 " %" SCNu64,
			   &r->elapsed_s, &r->measured_s, &r->frames,
			   &r->frames_per_s, &r->blocks, &r->errors,
			   &r->alloc_failures, &r->stats.report_failures) == 8)
			h->ended = true;
		r->resident_end = res;
		r->stats.host_resident_bytes = res;
		/* A hint command the guest ended is the bitmap's report. */
		r->stats.reports = st.reports + st.hint_done;
		r->stats.reported_bytes = st.reported_bytes + st.hinted_bytes;
	} else if (!strncmp(line, "gmm-rusage ", 11)) {
		int warmed;

		if (sscanf(line + 11, "%d %lf %lf %" SCNu64 " %" SCNu64
			   " %" SCNu64, &warmed, &r->cpu_user_s, &r->cpu_sys_s,
			   &r->vol_switches, &r->invol_switches,
			   &r->parks) == 6)
			r->warmed_up = warmed != 0;
	} else if (!strncmp(line, "gmm-hint ", 9)) {
		struct gmm_guest_stats *gs = &r->stats;

		if (sscanf(line + 9,
			   "%u %" SCNu64 " %" SCNu64 " %" SCNu64 " %" SCNu64
			   " %" SCNu64,
			   &a, &gs->worker_cpu_ns, &gs->hint_dropped,
			   &gs->hint_stale, &gs->alloc_waits,
			   &gs->alloc_wait_ns) == 6 && a < GMM_NR_HINTING)
			gs->hinting = (enum gmm_hinting)a;
	} else if (sscanf(line, "gmm-zone %u", &a) == 1 && a < 2) {
		struct zone_stats *z = &r->zones[a];
		char name[16];

		if (sscanf(line, "gmm-zone %*u %15s %" SCNu64 " %" SCNu64
			   " %" SCNu64 " %" SCNu64 " %" SCNu64 " %" SCNu64
			   " %" SCNu64,
			   name, &z->managed_pages, &z->free_pages,
			   &z->reported_pages, &z->pcp_pages,
			   &z->watermark[WMARK_MIN], &z->watermark[WMARK_LOW],
			   &z->watermark[WMARK_HIGH]) == 8) {
			snprintf(r->zone_name[a], sizeof(r->zone_name[a]), "%s",
				 pg_name_ok(name) ? name : "?");
			if (a + 1 > r->nr_zones)
				r->nr_zones = a + 1;
		}
	} else if (sscanf(line, "gmm-blocks %u %u %u", &a, &b, &c) == 3 &&
		   a < 2 && b < 2 && c < MIGRATE_TYPES) {
		char *p = line;

		for (unsigned int skip = 0; skip < 4 && p; skip++)
			p = strchr(p + 1, ' ');
		for (unsigned int o = 0; o < MAX_ORDER && p; o++) {
			uint64_t v = strtoull(p, &p, 10);

			if (b)
				r->zones[a].reported_blocks[o][c] = v;
			else
				r->zones[a].free_blocks[o][c] = v;
		}
	} else if (sscanf(line, "gmm-lock %u", &a) == 1 &&
		   a < NR_MM_LOCK_CLASSES) {
		struct lock_stats *l = &r->locks[a];

		sscanf(line, "gmm-lock %*u %" SCNu64 " %" SCNu64 " %" SCNu64
		       " %" SCNu64 " %" SCNu64 " %" SCNu64 " %" SCNu64,
		       &l->acquisitions, &l->contentions, &l->wait_ns,
		       &l->wait_max_ns, &l->hold_ns, &l->hold_max_ns, &l->timed);
	} else if (!strcmp(line, "gmm-done")) {
		h->done = true;
		h->done_at = run_now_s();
	}
}

struct pg_host *run_console_new(const struct run_opts *o, struct run_result *r,
				uint64_t (*resident)(void *ctx), void *ctx)
{
	struct pg_host *h = calloc(1, sizeof(*h));

	if (!h)
		return NULL;
	h->o = o;
	h->r = r;
	h->resident_fn = resident;
	h->resident_ctx = ctx;
	h->s = (struct run_sample){ .kind = o->kind,
				    .guest_free = UINT64_MAX,
				    .guest_reported = UINT64_MAX,
				    .host_reported = UINT64_MAX };
	h->hog_bytes = o->hog_bytes ? o->hog_bytes : o->cfg.mem_bytes / 4 * 3;
	h->t0 = run_now_s();
	return h;
}

void run_console_line(struct pg_host *h, char *line)
{
	pg_host_line(h, line);
}

void run_console_tick(struct pg_host *h, double *next_live)
{
	h->s.t = run_now_s() - h->t0;
	h->s.resident = h->resident_fn(h->resident_ctx);
	if (!h->ended)
		run_track(h->o, h->r, &h->s, &h->seen_cycle);
	if (h->o->live && h->s.t >= *next_live && !h->ended &&
	    h->s.guest_free != UINT64_MAX) {
		run_live_line(h->o->live, &h->s);
		*next_live += 0.5;
	}
}

bool run_console_ended(const struct pg_host *h)
{
	return h->ended;
}

bool run_console_done(const struct pg_host *h)
{
	return h->done;
}

/*
 * Read what the guest wrote, a line at a time.
 * Return: 0; -EPIPE at the end of its console.
 */
static int pg_host_read(struct pg_host *h)
{
	ssize_t n = read(h->out_fd, h->buf + h->len, sizeof(h->buf) - 1 - h->len);
	char *nl;

	if (n < 0)
		return errno == EINTR || errno == EAGAIN ? 0 : -errno;
	if (n == 0)
		return -EPIPE;
	h->len += (size_t)n;
	h->buf[h->len] = 0;
	while ((nl = memchr(h->buf, '\n', h->len))) {
		*nl = 0;
		if (!h->overlong)
			pg_host_line(h, h->buf);
		h->overlong = false;
		h->len -= (size_t)(nl + 1 - h->buf);
		memmove(h->buf, nl + 1, h->len);
	}
	/* A line longer than the buffer is nobody's: drop it, up to its end
	 * (its tail is no line of its own). */
	if (h->len == sizeof(h->buf) - 1) {
		h->len = 0;
		h->overlong = true;
	}
	return 0;
}

/* One line of the guest's stderr onto ours: prefixed, so that it reads
 * as the guest's, and with every byte outside printable ASCII escaped, so
 * that a guest cannot drive the host's terminal.  Our guest's lines start
 * "guestmm: " (and "guest: " after it, when they are the guest process's
 * own): those go, so that the prefix is never doubled. */
static void pg_err_line(const char *line, size_t len)
{
	static const char *const ours[] = { "guestmm: ", "guest: " };
	char out[4 * PG_LINE_MAX + 16];
	size_t n = 0;

	for (unsigned int k = 0; k < 2; k++) {
		size_t plen = strlen(ours[k]);

		if (len >= plen && !memcmp(line, ours[k], plen)) {
			line += plen;
			len -= plen;
		}
	}
	for (size_t i = 0; i < len; i++) {
		unsigned char c = (unsigned char)line[i];

		if (c >= 0x20 && c < 0x7f && c != '\\')
			out[n++] = (char)c;
		else
			n += (size_t)snprintf(out + n, sizeof(out) - n, "\\x%02x", c);
	}
	out[n] = 0;
	fprintf(stderr, "guestmm: guest: %s\n", out);
}

/* Relay what the guest wrote on stderr, a line at a time; the end of it
 * (or an error) closes our end.  Lines longer than PG_LINE_MAX are cut. */
static void pg_err_read(struct pg_host *h)
{
	/* Bounded: a guest that writes without pause must not keep the
	 * host from its console; the rest waits for the next poll. */
	for (unsigned int reads = 0; reads < 16; reads++) {
		ssize_t n = read(h->err_fd, h->ebuf + h->elen,
				 sizeof(h->ebuf) - h->elen);
		char *nl;

		if (n < 0 && errno == EINTR)
			continue;
		if (n <= 0) {
			if (n < 0 && errno == EAGAIN)
				return;
			if (h->elen)
				pg_err_line(h->ebuf, h->elen);
			h->elen = 0;
			close(h->err_fd);
			h->err_fd = -1;
			return;
		}
		h->elen += (size_t)n;
		while ((nl = memchr(h->ebuf, '\n', h->elen))) {
			pg_err_line(h->ebuf, (size_t)(nl - h->ebuf));
			h->elen -= (size_t)(nl + 1 - h->ebuf);
			memmove(h->ebuf, nl + 1, h->elen);
		}
		if (h->elen == sizeof(h->ebuf)) {
			pg_err_line(h->ebuf, h->elen);
			h->elen = 0;
		}
	}
}

int run_guest_spawn(const struct run_opts *o, const char *sock,
		    const char *cgroup_procs, pid_t *pid, int *console_fd,
		    int *err_fd)
{
	const char *exe = o->guest_exe ? o->guest_exe : "/proc/self/exe";
	pid_t parent = getpid();
	struct pg_argv a;
	int fds[2], efds[2], err;

	if (access(exe, X_OK))
		return -errno;
	pg_build_argv(&a, o, exe, sock, parent);
	if (pipe2(fds, O_CLOEXEC))
		return -errno;
	if (err_fd && pipe2(efds, O_CLOEXEC)) {
		err = -errno;
		goto undo_pipe;
	}
	*pid = fork();
	if (*pid < 0) {
		err = -errno;
		if (err_fd) {
			close(efds[0]);
			close(efds[1]);
		}
		goto undo_pipe;
	}
	if (*pid == 0) {
		/* Only async-signal-safe calls from here to exec. */
		if (prctl(PR_SET_PDEATHSIG, SIGKILL) || getppid() != parent)
			_exit(127);
		if (cgroup_procs) {
			/* "0": the writer.  Not joined, not run: a guest
			 * outside its budget would be charged to the host. */
			int fd = open(cgroup_procs, O_WRONLY | O_CLOEXEC);

			if (fd < 0 || write(fd, "0", 1) != 1)
				_exit(126);
			close(fd);
		}
		if (dup2(fds[1], STDOUT_FILENO) < 0 ||
		    (err_fd && dup2(efds[1], STDERR_FILENO) < 0))
			_exit(127);
		execv(exe, a.argv);
		_exit(127);
	}
	close(fds[1]);
	*console_fd = fds[0];
	if (err_fd) {
		close(efds[1]);
		*err_fd = efds[0];
		fcntl(*err_fd, F_SETFL, fcntl(*err_fd, F_GETFL) | O_NONBLOCK);
	}
	return 0;

undo_pipe:
	close(fds[0]);
	close(fds[1]);
	return err;
}

static int pg_spawn(struct pg_host *h, const char *sock)
{
	return run_guest_spawn(h->o, sock, NULL, &h->pid, &h->out_fd,
			       &h->err_fd);
}

/* Why the run failed, in @h's result: the first reason given stays. */
static void pg_fail(struct pg_host *h, const char *fmt, ...)
	__attribute__((format(printf, 2, 3)));

static void pg_fail(struct pg_host *h, const char *fmt, ...)
{
	va_list ap;

	if (h->r->failure[0])
		return;
	va_start(ap, fmt);
	vsnprintf(h->r->failure, sizeof(h->r->failure), fmt, ap);
	va_end(ap);
}

/*
 * Reap the guest; kill it first unless it ended by itself.  A guest that
 * closed its console exits with it (ours does: the console is its stdout),
 * so one that is still alive PG_REAP_GRACE_S later is not ending: it is
 * killed then, not waited for.  How a guest that ended by itself ended
 * goes to the result's failure when it is one.
 * Return: 0 for a guest that exited with 0 by itself; -ETIMEDOUT for one
 * killed after the grace; -ECHILD otherwise.
 */
static int pg_reap(struct pg_host *h, bool kill_it)
{
	double end = run_now_s() + PG_REAP_GRACE_S;
	bool killed = kill_it;
	int status = 0;
	pid_t got;

	if (h->pid <= 0)
		return 0;
	if (kill_it)
		kill(h->pid, SIGKILL);
	for (;;) {
		got = waitpid(h->pid, &status, killed ? 0 : WNOHANG);
		if (got == h->pid || (got < 0 && errno != EINTR))
			break;
		if (got == 0 && run_now_s() >= end) {
			pg_fail(h, "it closed its console (or said gmm-done) but did not exit in %d s: killed",
				PG_REAP_GRACE_S);
			kill(h->pid, SIGKILL);
			killed = true;
		} else if (got == 0) {
			run_sleep_s(0.01);
		}
	}
	h->pid = 0;
	if (killed && !kill_it)
		return -ETIMEDOUT;
	if (got < 0) {
		pg_fail(h, "it could not be waited for: %s", strerror(errno));
		return -ECHILD;
	}
	if (WIFEXITED(status) && WEXITSTATUS(status) == 0)
		return 0;
	if (!killed) {
		char how[64];

		pg_fail(h, "it %s%s", WIFSIGNALED(status) ? "was " : "",
			run_describe_end(status, how, sizeof(how)));
	}
	return -ECHILD;
}

int run_process(const struct run_opts *o, struct run_result *r)
{
	char sock[TMP_DIR_PATH_MAX + 16];
	struct pg_host *h = calloc(1, sizeof(*h));
	struct tmp_dir dir;
	double last_line;
	double next_live = 0;
	bool bitmap, closed = false;
	uint64_t features;
	int err, slot;

	if (!h)
		return -ENOMEM;
	h->o = o;
	h->r = r;
	h->out_fd = -1;
	h->err_fd = -1;
	r->mem_bytes = o->cfg.mem_bytes;
	err = tmp_dir_create(&dir, "run");
	if (err) {
		pg_fail(h, "cannot make its directory in %s: %s", tmp_dir_base(),
			strerror(-err));
		goto undo_alloc;
	}
	slot = run_tmp_add(dir.path);
	snprintf(sock, sizeof(sock), "%s/balloon.sock", dir.path);
	/* The bitmap's host is the device: it runs the hint commands. */
	bitmap = o->cfg.reporting && o->cfg.hinting == GMM_HINTING_BITMAP;
	features = bitmap ? BALLOON_FEATURES_HINTING : BALLOON_FEATURES_DEFAULT;
	if (!o->deflate_on_oom)
		features &= ~VIRTIO_FEATURE(VIRTIO_BALLOON_F_DEFLATE_ON_OOM);
	err = balloon_backend_start(&h->be, sock, features);
	if (err)
		goto undo_dir;
	if (o->stats_interval_s >= 0)
		balloon_set_stats_interval(h->be.balloon,
					   (unsigned int)o->stats_interval_s * 1000);
	if (bitmap)
		balloon_set_hinting(h->be.balloon, gmm_guest_hint_poll_ms(&o->cfg),
				    o->cfg.hint_cap_bytes, 0);
	err = pg_spawn(h, sock);
	if (err) {
		pg_fail(h, "cannot start it (%s): %s",
			o->guest_exe ? o->guest_exe : "/proc/self/exe",
			strerror(-err));
		goto undo_backend;
	}
	h->s = (struct run_sample){ .kind = o->kind,
				    .guest_free = UINT64_MAX,
				    .guest_reported = UINT64_MAX };
	h->hog_bytes = o->hog_bytes ? o->hog_bytes : o->cfg.mem_bytes / 4 * 3;
	h->t0 = run_now_s();
	last_line = h->t0;
	for (;;) {
		struct pollfd p[2] = { { .fd = h->out_fd, .events = POLLIN },
				       { .fd = h->err_fd, .events = POLLIN } };
		struct balloon_stats st;
		int rc = poll(p, 2, (int)(o->sample_s * 1e3));

		if (rc < 0 && errno != EINTR) {
			err = -errno;
			break;
		}
		if (rc > 0 && p[1].revents)
			pg_err_read(h);
		if (rc > 0 && p[0].revents) {
			err = pg_host_read(h);
			last_line = run_now_s();
			if (err == -EPIPE) {
				/* Ending, by itself: how is for pg_reap(). */
				closed = true;
				err = h->done ? 0 : -ECHILD;
				break;
			}
			if (err)
				break;
		}
		/* Ours closes its console as it says gmm-done; one that talks
		 * on after it is reaped (killed PG_REAP_GRACE_S later), not
		 * listened to for as long as it likes. */
		if (h->done && run_now_s() - h->done_at > PG_REAP_GRACE_S)
			break;
		if (run_now_s() - last_line > PG_SILENCE_S) {
			pg_fail(h, "it said nothing for %d s: killed",
				PG_SILENCE_S);
			err = -ETIMEDOUT;
			break;
		}
		if (!h->ready && h->ready_claimed) {
			/* Ready is the device's word, not the guest's. */
			pg_resident(h, &st);
			if (st.connected && st.features) {
				h->ready = true;
			} else if (run_now_s() - h->ready_claimed_at >
				   PG_ATTACH_S) {
				err = -ENOTCONN;
				break;
			}
		}
		if (!h->ready)
			continue;
		h->s.t = run_now_s() - h->t0;
		h->s.resident = pg_resident(h, &st);
		h->s.host_reported = st.reported_bytes + st.hinted_bytes;
		if (!h->ended)
			run_track(o, r, &h->s, &h->seen_cycle);
		if (o->live && h->s.t >= next_live && !h->ended &&
		    h->s.guest_free != UINT64_MAX) {
			run_live_line(o->live, &h->s);
			next_live += 0.5;
		}
	}
	{
		int werr = pg_reap(h, err != 0 && !closed);

		if (!err)
			err = werr;
	}
	if (!err && !h->ended) {
		pg_fail(h, "it ended without its figures (no gmm-end line)");
		err = -ECHILD;
	}
	if ((!err || err == -ENOTCONN) && !h->ready) {
		pg_fail(h, "it never attached to the balloon device (no frontend negotiated features): no figures of memory returned");
		err = -ENOTCONN;
	}
	close(h->out_fd);
	/* What the guest wrote last (it is reaped: its end is closed, unless
	 * it left a child holding it, which we do not wait for). */
	if (h->err_fd >= 0)
		pg_err_read(h);
	if (h->err_fd >= 0)
		close(h->err_fd);
undo_backend:
	if (h->pid > 0)
		pg_reap(h, true);
	balloon_backend_stop(&h->be);
undo_dir:
	run_tmp_forget(slot);
	tmp_dir_destroy(&dir);
undo_alloc:
	free(h);
	return err;
}
