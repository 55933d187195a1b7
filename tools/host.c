/*
 * host.c - `guestmm host`: the host half.  A vhost-user backend serving a
 * virtio-balloon device with free page reporting.
 *
 *   guestmm host --listen SOCKET   serve one balloon on SOCKET and start no
 *                                  guest: any vhost-user frontend may attach
 *   guestmm host --linux           also start a stock Linux guest (user-mode
 *                                  Linux) attached to it, run memhog in it,
 *                                  and time the return of the memory
 *
 * The backend runs on a thread of its own (the device context); this thread
 * drives the guest and prints a line per second from the device's counters
 * and the host's own accounting of the guest's memory file.
 */
#define _GNU_SOURCE
#include <errno.h>
#include <getopt.h>
#include <limits.h>
#include <math.h>
#include <pthread.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "host/backend.h"
#include "host/balloon.h"
#include "host/control.h"
#include "host/log.h"
#include "host/metrics.h"
#include "host/service.h"
#include "host/tmp_dir.h"
#include "host/uml_guest.h"
#include "host/vhost_user.h"
#include "tools/cli.h"
#include "runner/fleet.h"
#include "runner/run.h"
#include "tools/commands.h"

#define PAGE_BYTES 4096ull
#define MIB (1ull << 20)
/* A guest's RAM: a Linux guest maps it into its one process. */
#define HOST_MEM_MIN (64 * MIB)
#define HOST_MEM_MAX (64ull << 30)
/* How often --metrics-file is rewritten by default: node_exporter's
 * scrapes are 15 s apart by default, so a file is at most one scrape old. */
#define HOST_METRICS_INTERVAL_S 15
/* A table or a budget: far beyond any machine here. */
#define HOST_SIZE_MAX (16ull << 40)

struct host_opts {
	FILE *live;		/* the per-second lines; NULL with --quiet */
	const char *listen;
	const char *control;	/* --control; NULL: beside the device socket */
	char control_path[108];	/* the one served */
	struct metrics_config metrics;	/* --metrics, --metrics-file */
	FILE *log_info;		/* the fleet's event lines: info */
	bool linux_guest;
	bool json_lines;
	bool json;
	bool quiet;
	bool init_on_free;
	bool no_reporting;	/* do not offer VIRTIO_BALLOON_F_REPORTING */
	bool no_deflate_on_oom;	/* do not offer VIRTIO_BALLOON_F_DEFLATE_ON_OOM */
	int stats_interval_s;	/* --stats-interval; -1: the device's default */
	bool until_returned;	/* --linux: stop watching at 90 % returned */
	uint64_t mem_bytes;	/* --linux: guest RAM */
	uint64_t hog_bytes;	/* --linux: memhog; 0 = 75 % of RAM */
	uint64_t target_bytes;	/* --linux: leave the guest this, then deflate */
	uint64_t max_guest_mem;	/* --listen: a frontend's table; 0 = default */
	double duration_s;	/* --listen: 0 = until SIGINT/SIGTERM */
	double watch_s;		/* --linux: how long to watch after the free */
	const char *uml;
	const char *initrd;
	const char *console_log;
	unsigned int boot_timeout_s;	/* --linux, --guests: 0 = default */
	/* --guests: many guests under one budget */
	unsigned int nr_guests[FLEET_KINDS]; /* by enum fleet_kind */
	uint64_t guest_mem;		/* ours */
	uint64_t linux_mem;		/* linux: 0 = guest_mem */
	uint64_t budget;		/* 0 = the sum of the guests' RAM */
	const char *cgroup_root;
	enum fleet_policy policy;	/* --budget-policy */
	unsigned int hog_pct, hold_ms, idle_ms, stagger_ms, cpus;
};

static atomic_bool interrupted;

static void on_signal(int sig)
{
	(void)sig;
	atomic_store(&interrupted, true);
}

static uint64_t host_features(const struct host_opts *o)
{
	uint64_t f = BALLOON_FEATURES_DEFAULT;

	if (o->no_reporting)
		f &= ~VIRTIO_FEATURE(VIRTIO_BALLOON_F_REPORTING);
	if (o->no_deflate_on_oom)
		f &= ~VIRTIO_FEATURE(VIRTIO_BALLOON_F_DEFLATE_ON_OOM);
	return f;
}

/* --stats-interval on @b, if given (0: the guest is asked only on request). */
static void host_stats_interval(const struct host_opts *o, struct balloon_dev *b)
{
	if (o->stats_interval_s >= 0)
		balloon_set_stats_interval(b, (unsigned int)o->stats_interval_s * 1000);
}

static uint64_t guest_free_bytes(const struct balloon_stats *st)
{
	if (st->guest_stats_valid & (1u << VIRTIO_BALLOON_S_MEMFREE))
		return st->guest_stats[VIRTIO_BALLOON_S_MEMFREE];
	return UINT64_MAX;
}

static void print_line(const struct host_opts *o, double t,
		       const struct balloon_stats *st)
{
	char a[32], b[32], c[32], d[32], e[32], f[32];
	uint64_t gfree = guest_free_bytes(st);
	FILE *out = o->live;

	if (!out)
		return;
	if (o->json_lines) {
		char free_text[32] = "null";

		if (gfree != UINT64_MAX)
			snprintf(free_text, sizeof(free_text), "%llu",
				 (unsigned long long)gfree);
		fprintf(out, "{\"t\": %.2f, \"connected\": %s, \"memory_bytes\": %llu, "
		       "\"resident_bytes\": %llu, \"reported_bytes\": %llu, "
		       "\"reports\": %llu, \"num_pages\": %u, \"actual_pages\": %u, "
		       "\"guest_free_bytes\": %s, \"features\": %llu}\n",
		       t, st->connected ? "true" : "false",
		       (unsigned long long)st->memory_bytes,
		       (unsigned long long)st->resident_bytes,
		       (unsigned long long)st->reported_bytes,
		       (unsigned long long)st->reports, st->num_pages, st->actual,
		       free_text, (unsigned long long)st->features);
		fflush(out);
		return;
	}
	fprintf(out, "%7.1fs  %s  RAM %10s  resident %10s  reported %10s (%llu)  "
	       "target %9s  actual %9s  guest free %10s\n",
	       t, st->connected ? "up  " : "down",
	       cli_fmt_bytes(a, sizeof(a), (double)st->memory_bytes),
	       cli_fmt_bytes(b, sizeof(b), (double)st->resident_bytes),
	       cli_fmt_bytes(c, sizeof(c), (double)st->reported_bytes),
	       (unsigned long long)st->reports,
	       cli_fmt_bytes(d, sizeof(d), (double)st->num_pages * PAGE_BYTES),
	       cli_fmt_bytes(e, sizeof(e), (double)st->actual * PAGE_BYTES),
	       gfree == UINT64_MAX ? "-" : cli_fmt_bytes(f, sizeof(f), (double)gfree));
	fflush(out);
}

/*
 * A line a second: true when one is due at @t, with *@next moved past @t.
 * One line however late: a boot that took 3 s owes no three lines at once.
 */
static bool line_due(double t, double *next)
{
	if (t < *next)
		return false;
	*next = floor(t) + 1;
	return true;
}

/* ---- the control socket ---- */

/*
 * The control socket's path: --control, else beside @device ("X.sock":
 * "X-control.sock", else "X-control"), so in the same directory, under the
 * same rules (ours alone by default) and with its own lock file.
 * Return: 0; -ENAMETOOLONG, with one line on stderr.
 */
static int host_control_path(struct host_opts *o, const char *device)
{
	size_t n = strlen(device);

	if (o->control)
		snprintf(o->control_path, sizeof(o->control_path), "%s", o->control);
	else if (n > 5 && !strcmp(device + n - 5, ".sock") && n + 8 < sizeof(o->control_path))
		snprintf(o->control_path, sizeof(o->control_path), "%.*s-control.sock",
			 (int)(n - 5), device);
	else if (n + 8 < sizeof(o->control_path))
		snprintf(o->control_path, sizeof(o->control_path), "%s-control", device);
	else {
		fprintf(stderr, "guestmm: host: the control socket beside %s would be longer than 107 bytes: name one with --control\n",
			device);
		return -ENAMETOOLONG;
	}
	return 0;
}

/*
 * Serve the control socket (host/control.h) for @o, guest @name on @b.
 * Return: 0; control_start()'s errors, with a line on stderr.
 */
static int host_control_start(struct host_opts *o, const char *device,
			      struct control **ctl)
{
	int err = host_control_path(o, device);

	if (err)
		return err;
	err = control_start(o->control_path, ctl);
	if (err)
		return err;
	if (o->live && !o->json_lines) {
		fprintf(o->live, "guestmm host: control socket %s (guestmm ctl %s stats)\n",
			o->control_path, o->control_path);
		fflush(o->live);
	}
	return 0;
}

/*
 * The metrics (host/metrics.h) of @ctl, when asked for.
 * Return: 0 (*@m NULL when not asked); metrics_start()'s errors, with a
 * line on stderr.
 */
static int host_metrics_start(const struct host_opts *o, struct control *ctl,
			      struct metrics **m)
{
	*m = NULL;
	if (!o->metrics.listen && !o->metrics.file)
		return 0;
	return metrics_start(&o->metrics, ctl, m);
}

/*
 * The host serves: its device and control sockets listen (and the metrics,
 * when asked for).  From now on stderr's lines are log lines (see
 * host_log_setup()), and a service manager (Type=notify) is told, once.
 */
static void host_serving(const struct host_opts *o, const char *device)
{
	char state[400];
	int ret;

	log_streams_release();
	snprintf(state, sizeof(state), "READY=1\nSTATUS=device %.150s, control %.150s\nMAINPID=%ld",
		 device, o->control_path, (long)getpid());
	ret = service_notify(state);
	if (ret < 0)
		log_printf(LOG_LEVEL_WARNING, "guestmm: host: cannot tell the service manager it is ready ($NOTIFY_SOCKET): %s",
			   strerror(-ret));
	else if (ret > 0)
		log_printf(LOG_LEVEL_DEBUG, "guestmm: host: readiness sent to $NOTIFY_SOCKET");
}

static void host_notify_stopping(void)
{
	(void)service_notify("STOPPING=1");
}

/* ---- --listen ---- */

/* `host --listen --json`: the device as the host leaves it. */
static void print_listen_json(const struct host_opts *o, double t,
			      const struct balloon_stats *st)
{
	uint64_t gfree = guest_free_bytes(st);
	struct json j;

	json_begin(&j, stdout);
	json_str(&j, "socket", o->listen);
	json_str(&j, "control_socket", o->control_path);
	json_double(&j, "duration_s", t);
	json_bool(&j, "reporting", !o->no_reporting);
	json_u64(&j, "features_offered", host_features(o));
	json_bool(&j, "connected", st->connected);
	json_u64(&j, "features", st->features);
	json_u64(&j, "memory_bytes", st->memory_bytes);
	json_u64(&j, "resident_bytes", st->resident_bytes);
	json_u64(&j, "reports", st->reports);
	json_u64(&j, "reported_bytes", st->reported_bytes);
	json_u64(&j, "num_pages", st->num_pages);
	json_u64(&j, "actual_pages", st->actual);
	if (gfree == UINT64_MAX)
		json_double(&j, "guest_free_bytes", NAN);
	else
		json_u64(&j, "guest_free_bytes", gfree);
	json_end(&j);
}

static int host_listen(struct host_opts *o)
{
	struct balloon_backend be;
	struct balloon_stats st;
	struct control *ctl = NULL;
	struct metrics *metrics;
	double t0 = run_now_s(), next = 0, t = 0;
	int err = balloon_backend_start(&be, o->listen, host_features(o));

	if (err)
		return 1;
	host_stats_interval(o, be.balloon);
	if (o->max_guest_mem)
		vhost_user_server_set_guest_mem_max(be.srv, o->max_guest_mem);
	if (o->live && !o->json_lines) {
		fprintf(o->live, "guestmm host: virtio-balloon (free page reporting %s) on vhost-user socket %s\n"
			"attach e.g. linux.uml ... virtio_uml.device=%s:5\n",
			o->no_reporting ? "off" : "on", o->listen, o->listen);
		fflush(o->live);
	}
	if (host_control_start(o, o->listen, &ctl)) {
		balloon_backend_stop(&be);
		return 1;
	}
	/* Any frontend: its RAM is the memory table it shares. */
	control_guest_add(ctl, "guest", be.balloon, 0);
	if (host_metrics_start(o, ctl, &metrics)) {
		control_stop(ctl);
		balloon_backend_stop(&be);
		return 1;
	}
	host_serving(o, o->listen);
	while (!atomic_load(&interrupted) && !be.err) {
		t = run_now_s() - t0;
		if (o->duration_s && t >= o->duration_s)
			break;
		if (line_due(t, &next)) {
			balloon_get_stats(be.balloon, &st);
			print_line(o, t, &st);
		}
		run_sleep_s(0.05);
	}
	/* What the device last saw, before it goes. */
	balloon_get_stats(be.balloon, &st);
	host_notify_stopping();
	metrics_stop(metrics);
	control_stop(ctl);
	balloon_backend_stop(&be);
	if (be.err)
		fprintf(stderr, "guestmm: host: backend stopped: %s\n", strerror(-be.err));
	else if (o->json)
		print_listen_json(o, t, &st);
	return be.err ? 1 : 0;
}

/* ---- --linux ---- */

struct linux_result {
	bool balloon_loaded;
	uint64_t features;
	uint32_t poison_val;
	uint64_t resident_boot;		/* after the boot-time report settled */
	uint64_t hog_bytes;
	uint64_t resident_at_free;
	uint64_t resident_after;
	double watched_s;		/* from the free to the last sample */
	double time_to_90pct_s;
	double time_to_first_drop_s;
	uint64_t reports;
	uint64_t reported_bytes;
	/* balloon */
	uint32_t target_pages;
	uint32_t actual_inflated;
	uint64_t resident_before_inflate;
	uint64_t resident_inflated;
	uint32_t actual_deflated;
	bool stats_seen;
	uint64_t guest_total_bytes;
	uint64_t guest_free_bytes;
};

/*
 * Watch the device for @seconds, printing a line a second, until @done
 * says so.  Return: false when interrupted.
 */
static bool watch(const struct host_opts *o, struct balloon_backend *be,
		  struct uml_guest *g, double t0, double *next, double seconds,
		  bool (*done)(const struct balloon_stats *, void *), void *arg)
{
	double end = run_now_s() + seconds;
	struct balloon_stats st;

	while (run_now_s() < end && !atomic_load(&interrupted)) {
		double t = run_now_s() - t0;

		balloon_get_stats(be->balloon, &st);
		if (done && done(&st, arg)) {
			/* The state waited for gets its line, whenever it
			 * falls: an inflate that completes and deflates within
			 * a second otherwise never shows its target. */
			print_line(o, t, &st);
			*next = floor(t) + 1;
			return true;
		}
		if (line_due(t, next))
			print_line(o, t, &st);
		/* Keep the console drained while we wait. */
		if (g)
			uml_guest_wait_line(g, "gmm-never", NULL, 0, 50);
		else
			run_sleep_s(0.05);
	}
	return !atomic_load(&interrupted);
}

/* "WHAT after 1.25 s", or "WHAT never within 15.0 s" for a NaN @t. */
static void host_fmt_after(char *buf, size_t len, const char *what, double t,
			   double watched_s)
{
	if (isnan(t))
		snprintf(buf, len, "%s never within %.1f s", what, watched_s);
	else
		snprintf(buf, len, "%s after %.2f s", what, t);
}

static bool actual_is(const struct balloon_stats *st, void *arg)
{
	return st->actual == *(uint32_t *)arg;
}

static bool driver_up(const struct balloon_stats *st, void *arg)
{
	(void)arg;
	return st->connected && st->features;
}

static void print_linux_json(const struct host_opts *o, const struct linux_result *r)
{
	struct json j;
	double frac = r->hog_bytes ? ((double)r->resident_at_free -
				      (double)r->resident_after) / (double)r->hog_bytes
				   : NAN;

	json_begin(&j, stdout);
	json_str(&j, "control_socket", o->control_path);
	json_u64(&j, "guest_mem_bytes", o->mem_bytes);
	json_bool(&j, "balloon_loaded", r->balloon_loaded);
	json_u64(&j, "features", r->features);
	json_bool(&j, "reporting", r->features & (1ull << VIRTIO_BALLOON_F_REPORTING));
	json_bool(&j, "page_poison", r->features & (1ull << VIRTIO_BALLOON_F_PAGE_POISON));
	json_bool(&j, "stats_vq", r->features & (1ull << VIRTIO_BALLOON_F_STATS_VQ));
	json_u64(&j, "poison_val", r->poison_val);
	json_u64(&j, "host_resident_boot_bytes", r->resident_boot);
	json_u64(&j, "freed_bytes", r->hog_bytes);
	json_u64(&j, "host_resident_at_free_bytes", r->resident_at_free);
	json_u64(&j, "host_resident_after_free_bytes", r->resident_after);
	json_double(&j, "watched_s", r->watched_s);
	json_double(&j, "returned_fraction", frac);
	json_double(&j, "time_to_first_drop_s", r->time_to_first_drop_s);
	json_double(&j, "time_to_return_90pct_s", r->time_to_90pct_s);
	json_u64(&j, "reports", r->reports);
	json_u64(&j, "reported_bytes", r->reported_bytes);
	json_u64(&j, "target_pages", r->target_pages);
	json_u64(&j, "actual_pages_inflated", r->actual_inflated);
	json_u64(&j, "host_resident_before_inflate_bytes", r->resident_before_inflate);
	json_u64(&j, "host_resident_inflated_bytes", r->resident_inflated);
	json_u64(&j, "actual_pages_deflated", r->actual_deflated);
	json_bool(&j, "stats_seen", r->stats_seen);
	json_u64(&j, "guest_total_bytes", r->guest_total_bytes);
	json_u64(&j, "guest_free_bytes", r->guest_free_bytes);
	json_end(&j);
}

static int host_linux(struct host_opts *o)
{
	char sock[TMP_DIR_PATH_MAX + 16], initrd[PATH_MAX + 32];
	char cmd[64], line[256];
	struct tmp_dir dir;
	struct uml_guest_config gc = { 0 };
	struct linux_result r = { 0 };
	struct balloon_stats st;
	struct balloon_backend be;
	struct uml_guest *g = NULL;
	struct control *ctl = NULL;
	struct metrics *metrics = NULL;
	double t0, next = 0, t_free;
	uint64_t hog = o->hog_bytes ? o->hog_bytes : o->mem_bytes / 4 * 3;
	int err, rc = 1;

	if (run_resolve_initrd(o->initrd, initrd, sizeof(initrd), "host"))
		return 1;
	err = tmp_dir_create(&dir, "host");
	if (err) {
		fprintf(stderr, "guestmm: host: cannot make its directory in %s: %s\n",
			tmp_dir_base(), strerror(-err));
		return 1;
	}
	snprintf(sock, sizeof(sock), "%s/balloon.sock", dir.path);
	if (balloon_backend_start(&be, sock, host_features(o)))
		goto undo_dir;
	host_stats_interval(o, be.balloon);
	if (host_control_start(o, sock, &ctl))
		goto undo_backend;
	control_guest_add(ctl, "linux-1", be.balloon, o->mem_bytes);
	if (host_metrics_start(o, ctl, &metrics))
		goto undo_control;
	host_serving(o, sock);
	gc.linux_path = o->uml;
	gc.initrd = initrd;
	gc.balloon_socket = sock;
	gc.mem_bytes = o->mem_bytes;
	gc.extra_cmdline = o->init_on_free ? "init_on_free=1" : NULL;
	gc.console_log = o->console_log;
	t0 = run_now_s();
	err = uml_guest_start(&gc, (int)(o->boot_timeout_s ? o->boot_timeout_s
							    : RUN_BOOT_TIMEOUT_S) * 1000,
			      &g);
	if (err == -ETIMEDOUT) {
		fprintf(stderr, "guestmm: host: the Linux guest did not boot within %u s (--boot-timeout)\n",
			o->boot_timeout_s ? o->boot_timeout_s : RUN_BOOT_TIMEOUT_S);
		goto undo_control;
	}
	if (err) {
		fprintf(stderr, "guestmm: host: cannot start the Linux guest (%s, initrd %s): %s\n",
			o->uml ? o->uml : "/usr/bin/linux.uml", initrd, strerror(-err));
		/* A path given was checked; a default one is the packages'. */
		if (err == -ENOENT && (!o->uml || !o->initrd))
			fprintf(stderr, "guestmm: host: apt-get install user-mode-linux busybox-static, then rebuild\n");
		goto undo_control;
	}
	r.balloon_loaded = uml_guest_balloon_loaded(g);
	if (!watch(o, &be, g, t0, &next, 10, driver_up, NULL))
		goto undo_guest;
	/* Linux reports its free memory when the driver loads; let that settle. */
	watch(o, &be, g, t0, &next, 3, NULL, NULL);
	balloon_get_stats(be.balloon, &st);
	r.features = st.features;
	r.resident_boot = st.resident_bytes;

	/* memhog: touch 75 % of RAM, free it, time the return. */
	snprintf(cmd, sizeof(cmd), "memhog %llu", (unsigned long long)(hog >> 20));
	if (uml_guest_send(g, cmd))
		goto undo_guest;
	for (;;) {
		err = uml_guest_wait_line(g, "gmm-memhog", line, sizeof(line), 250);
		balloon_get_stats(be.balloon, &st);
		if (line_due(run_now_s() - t0, &next))
			print_line(o, run_now_s() - t0, &st);
		if (err == 0 && strstr(line, "held"))
			r.resident_at_free = st.resident_bytes;
		if (err == 0 && strstr(line, "freed"))
			break;
		if ((err && err != -ETIMEDOUT) || atomic_load(&interrupted))
			goto undo_guest;
	}
	t_free = run_now_s();
	r.hog_bytes = hog;
	r.time_to_90pct_s = NAN;
	r.time_to_first_drop_s = NAN;
	/* Sample the host's accounting every 250 ms. */
	while (run_now_s() - t_free < o->watch_s && !atomic_load(&interrupted)) {
		double since;

		uml_guest_wait_line(g, "gmm-never", NULL, 0, 250);
		balloon_get_stats(be.balloon, &st);
		/* The sample's time, not the wait's start. */
		since = run_now_s() - t_free;
		if (line_due(run_now_s() - t0, &next))
			print_line(o, run_now_s() - t0, &st);
		if (isnan(r.time_to_first_drop_s) &&
		    st.resident_bytes + (16ull << 20) < r.resident_at_free)
			r.time_to_first_drop_s = since;
		if (isnan(r.time_to_90pct_s) &&
		    (double)st.resident_bytes <= (double)r.resident_at_free - 0.9 * (double)hog)
			r.time_to_90pct_s = since;
		r.resident_after = st.resident_bytes;
		r.watched_s = since;
		if (o->until_returned &&
		    (double)st.resident_bytes <= (double)r.resident_at_free - 0.9 * (double)hog)
			break;
	}
	r.reports = st.reports;
	r.reported_bytes = st.reported_bytes;
	r.poison_val = st.poison_val;

	if (o->target_bytes) {
		/* The guest's size, as QMP's balloon: the balloon is the rest. */
		r.target_pages = (uint32_t)((o->mem_bytes - o->target_bytes) / PAGE_BYTES);
		/*
		 * The balloon takes free pages: with reporting on they are
		 * mostly discarded already, so the drop in host accounting
		 * shows best with --reporting off, where memhog's freed
		 * memory is still resident.
		 */
		r.resident_before_inflate = st.resident_bytes;
		balloon_set_target(be.balloon, r.target_pages);
		watch(o, &be, g, t0, &next, 60, actual_is, &r.target_pages);
		balloon_get_stats(be.balloon, &st);
		r.actual_inflated = st.actual;
		r.resident_inflated = st.resident_bytes;
		uint32_t zero = 0;
		balloon_set_target(be.balloon, 0);
		watch(o, &be, g, t0, &next, 60, actual_is, &zero);
		balloon_get_stats(be.balloon, &st);
		r.actual_deflated = st.actual;
	}
	balloon_get_stats(be.balloon, &st);
	r.stats_seen = st.guest_stats_updates > 0;
	if (st.guest_stats_valid & (1u << VIRTIO_BALLOON_S_MEMTOT))
		r.guest_total_bytes = st.guest_stats[VIRTIO_BALLOON_S_MEMTOT];
	if (st.guest_stats_valid & (1u << VIRTIO_BALLOON_S_MEMFREE))
		r.guest_free_bytes = st.guest_stats[VIRTIO_BALLOON_S_MEMFREE];
	rc = 0;

undo_guest:
	uml_guest_destroy(g, 10000);
undo_control:
	host_notify_stopping();
	metrics_stop(metrics);
	control_stop(ctl);
undo_backend:
	balloon_backend_stop(&be);
undo_dir:
	tmp_dir_destroy(&dir);
	if (rc == 0) {
		if (o->json) {
			print_linux_json(o, &r);
		} else {
			char a[32], b[32], c[32];
			double frac = ((double)r.resident_at_free - (double)r.resident_after) /
				      (double)r.hog_bytes;

			printf("\nLinux guest on our balloon: features %#llx (reporting %s, poison %s, stats %s)\n",
			       (unsigned long long)r.features,
			       r.features & (1ull << VIRTIO_BALLOON_F_REPORTING) ? "yes" : "no",
			       r.features & (1ull << VIRTIO_BALLOON_F_PAGE_POISON) ? "yes" : "no",
			       r.features & (1ull << VIRTIO_BALLOON_F_STATS_VQ) ? "yes" : "no");
			char drop[48], ninety[48];

			/* A return that never came within the watch says so. */
			host_fmt_after(drop, sizeof(drop), "first drop", r.time_to_first_drop_s,
				       r.watched_s);
			host_fmt_after(ninety, sizeof(ninety), "90 %", r.time_to_90pct_s,
				       r.watched_s);
			printf("memhog %s freed; host resident %s at the free, %s after %.1f s: "
			       "%.1f %% returned; %s, %s\n",
			       cli_fmt_bytes(a, sizeof(a), (double)r.hog_bytes),
			       cli_fmt_bytes(b, sizeof(b), (double)r.resident_at_free),
			       cli_fmt_bytes(c, sizeof(c), (double)r.resident_after),
			       r.watched_s, 100 * frac, drop, ninety);
			if (r.target_pages)
				printf("balloon: target %u pages, actual %u (resident %s -> %s), deflated to %u\n",
				       r.target_pages, r.actual_inflated,
				       cli_fmt_bytes(a, sizeof(a), (double)r.resident_before_inflate),
				       cli_fmt_bytes(b, sizeof(b), (double)r.resident_inflated),
				       r.actual_deflated);
			printf("guest stats: %s\n", r.stats_seen ? "received" : "none");
		}
	}
	return rc;
}

/* ---- --guests ---- */

/* The fleet's policy decisions and kills, to the control's clients. */
static void host_fleet_event(void *ctx, const char *name, const char *data)
{
	struct control *ctl = *(struct control **)ctx;

	if (ctl && control_event_post(ctl, name, data))
		fprintf(stderr, "guestmm: host: event %s not sent: bad data %s\n",
			name, data);
}

/* The budget's state, for query-guests' readers (the metrics). */
static void host_publish_budget(struct control *ctl, struct fleet *f)
{
	struct fleet_budget_info bi;
	struct control_budget b = { .set = true };

	fleet_budget(f, &bi);
	b.limit_bytes = bi.limit;
	b.usage_bytes = bi.usage;
	b.kills = bi.budget_kills;
	control_budget_set(ctl, &b);
}

static int host_fleet(struct host_opts *o)
{
	char device[TMP_DIR_PATH_MAX + 16];
	/* The control's index of each fleet guest, and the state it knows. */
	int ctl_idx[FLEET_MAX_GUESTS];
	enum fleet_state ctl_state[FLEET_MAX_GUESTS];
	struct control *ctl = NULL;
	struct metrics *metrics = NULL;
	struct fleet_config c;
	struct fleet *f;
	double next = 0;
	unsigned int k = 0;
	int err;

	fleet_config_init(&c);
	c.budget = o->budget;
	c.cgroup_root = o->cgroup_root;
	c.policy = o->policy;
	c.event = host_fleet_event;
	c.event_ctx = &ctl;
	c.reporting = !o->no_reporting;
	c.deflate_on_oom = !o->no_deflate_on_oom;
	c.hog_pct = o->hog_pct;
	c.hold_ms = o->hold_ms;
	c.idle_ms = o->idle_ms;
	c.cpus = o->cpus;
	c.uml = o->uml;
	c.initrd = o->initrd;
	c.boot_timeout_s = o->boot_timeout_s;
	c.log = o->log_info ? o->log_info : stderr;
	err = fleet_create(&c, &f);
	if (err) {
		fprintf(stderr, "guestmm: host: cannot start: %s\n", strerror(-err));
		return 1;
	}
	/* Beside the guests' sockets, in the fleet's own directory. */
	snprintf(device, sizeof(device), "%s/host.sock", fleet_dir(f));
	if (host_control_start(o, device, &ctl)) {
		fleet_destroy(f);
		return 1;
	}
	host_publish_budget(ctl, f);
	if (host_metrics_start(o, ctl, &metrics)) {
		control_stop(ctl);
		fleet_destroy(f);
		return 1;
	}
	/* Ours first, then Linux, then QEMU; guest k's first cycle waits k
	 * staggers. */
	for (int kind = FLEET_OURS; kind < FLEET_KINDS; kind++)
		for (unsigned int i = 0; i < o->nr_guests[kind]; i++, k++) {
			uint64_t mem = kind == FLEET_LINUX && o->linux_mem
					       ? o->linux_mem : o->guest_mem;

			err = fleet_add(f, (enum fleet_kind)kind, mem,
					k * o->stagger_ms);
			if (err < 0) {
				fprintf(stderr, "guestmm: host: cannot start a %s guest: %s\n",
					fleet_kind_name((enum fleet_kind)kind),
					strerror(-err));
				continue;
			}
			struct fleet_guest_info gi;

			fleet_guest(f, (unsigned int)err, &gi);
			host_stats_interval(o, fleet_guest_balloon(f, (unsigned int)err));
			ctl_state[err] = gi.state;
			ctl_idx[err] = control_guest_add(ctl, gi.name,
							 fleet_guest_balloon(f, (unsigned int)err),
							 mem);
		}
	host_serving(o, fleet_dir(f));
	while (!atomic_load(&interrupted)) {
		double t;

		fleet_poll(f, 50);
		/* An end the control's clients hear of, with the fleet's why. */
		for (unsigned int i = 0; i < fleet_count(f); i++) {
			struct fleet_guest_info gi;

			fleet_guest(f, i, &gi);
			if (gi.state == ctl_state[i])
				continue;
			ctl_state[i] = gi.state;
			if (gi.state == FLEET_KILLED || gi.state == FLEET_EXITED)
				control_guest_end(ctl, ctl_idx[i],
						  gi.state == FLEET_KILLED ? "killed" : "exited",
						  gi.why);
		}
		t = fleet_now(f);
		if (t >= next) {
			host_publish_budget(ctl, f);
			if (o->live)
				fleet_print_line(o->live, f, o->json_lines);
			next += 1;
		}
		if (o->duration_s && t >= o->duration_s)
			break;
		if (!fleet_alive(f) && !o->duration_s) {
			fprintf(stderr, "guestmm: host: every guest has ended\n");
			break;
		}
	}
	if (o->json) {
		struct json j;

		json_begin(&j, stdout);
		json_double(&j, "duration_s", fleet_now(f));
		json_str(&j, "control_socket", o->control_path);
		fleet_json(&j, f);
		json_end(&j);
	}
	/* Before the fleet: its devices go with it. */
	host_notify_stopping();
	host_publish_budget(ctl, f);
	metrics_stop(metrics);
	control_stop(ctl);
	fleet_destroy(f);
	return 0;
}

/*
 * "ours:4,linux:2": guests by kind; a kind alone is one guest.
 * Return: 0, or exits with status 2 after one line.
 */
static void parse_guests(const char *spec, struct host_opts *o)
{
	char buf[256], *save = NULL;
	unsigned long total = 0;

	if (strlen(spec) >= sizeof(buf))
		cli_usage_error("host ", "--guests: '%s' is too long", spec);
	snprintf(buf, sizeof(buf), "%s", spec);
	for (char *t = strtok_r(buf, ",", &save); t; t = strtok_r(NULL, ",", &save)) {
		char *colon = strchr(t, ':');
		uint64_t n = 1;
		int kind;

		if (colon)
			*colon = 0;
		if (!strcmp(t, "ours"))
			kind = FLEET_OURS;
		else if (!strcmp(t, "linux"))
			kind = FLEET_LINUX;
		else if (!strcmp(t, "qemu"))
			kind = FLEET_QEMU;
		else
			cli_usage_error("host ", "--guests: unknown guest kind '%s' (ours, linux or qemu)", t);
		if (colon && cli_parse_uint(colon + 1, 0, FLEET_MAX_GUESTS, &n))
			cli_usage_error("host ", "--guests: '%s' is not a count from 0 to %d",
					colon + 1, FLEET_MAX_GUESTS);
		o->nr_guests[kind] += (unsigned int)n;
		total += n;
	}
	if (!total)
		cli_usage_error("host ", "--guests: '%s' asks for no guests", spec);
	if (total > FLEET_MAX_GUESTS)
		cli_usage_error("host ", "--guests: at most %d guests", FLEET_MAX_GUESTS);
}

/*
 * The default socket (no --listen): in $XDG_RUNTIME_DIR, the user's own
 * directory, else in ${TMPDIR:-/tmp}/guestmm-UID, made 0700 and checked to
 * be ours alone.  Not in /tmp itself: any user may bind a socket there
 * first, and a frontend that attaches to it hands that user its memory.
 * Return: 0; -ENOTDIR when the directory is not ours alone, or mkdir's or
 * lstat's errno, with one line on stderr.
 */
static int default_socket(char *buf, size_t len)
{
	const char *run = getenv("XDG_RUNTIME_DIR"), *tmp = getenv("TMPDIR");
	char dir[90]; /* TMPDIR (at most 64), "/guestmm-", a uid: and sun_path's room */
	struct stat st;

	if (run && *run && strlen(run) < 80) {
		snprintf(buf, len, "%s/guestmm-balloon.sock", run);
		return 0;
	}
	/* A $TMPDIR too long for the socket: one line and status 1, as
	 * every command says it (never /tmp instead without a word). */
	cli_check_tmpdir("host");
	if (!tmp || !*tmp)
		tmp = "/tmp";
	snprintf(dir, sizeof(dir), "%s/guestmm-%u", tmp, (unsigned int)getuid());
	if ((mkdir(dir, 0700) && errno != EEXIST) || lstat(dir, &st)) {
		fprintf(stderr, "guestmm: host: %s: %s\n", dir, strerror(errno));
		return -errno;
	}
	if (!S_ISDIR(st.st_mode) || st.st_uid != getuid() || (st.st_mode & 077)) {
		fprintf(stderr, "guestmm: host: %s is not a directory of ours alone (mode 0700): not serving there; choose a socket with --listen\n",
			dir);
		return -ENOTDIR;
	}
	snprintf(buf, len, "%s/balloon.sock", dir);
	return 0;
}

/* ---- options ---- */

static void host_usage(FILE *f)
{
	fputs("Usage: guestmm host [--listen SOCKET] [--json-lines] [--duration S]\n"
	      "       guestmm host --linux [OPTION]...\n"
	      "The host half: a virtio-balloon device with free page reporting behind a\n"
	      "vhost-user backend. Reported and inflated memory is punched out of the\n"
	      "guest's memory file. A line a second: RAM, host resident (the memory\n"
	      "file's allocated blocks), reported, balloon target and actual, guest free.\n"
	      "\n"
	      "  --listen SOCKET      serve one balloon on SOCKET; start no guest (the\n"
	      "                       default: $XDG_RUNTIME_DIR/guestmm-balloon.sock, else\n"
	      "                       ${TMPDIR:-/tmp}/guestmm-UID/balloon.sock, a directory\n"
	      "                       of ours alone)\n"
	      "  --linux              start a user-mode Linux guest attached to the device,\n"
	      "                       run memhog in it and time the memory's return\n"
	      "  --mem SIZE           --linux: guest RAM, 64M to 64G in steps of 1M\n"
	      "                       (default 1G; K/M/G/T suffixes, 1.5G)\n"
	      "  --hog SIZE           --linux: memhog size in steps of 1M (default 75% of RAM)\n"
	      "  --watch S            --linux: seconds to watch after the free (default 15)\n"
	      "  --until-returned     --linux: stop watching once 90% of it is back\n"
	      "  --max-guest-mem SIZE --listen: refuse a frontend's memory table larger\n"
	      "                       than SIZE, 4K to 16T (default 256G)\n"
	      "  --target SIZE        --linux: then leave the guest SIZE of memory (as\n"
	      "                       QMP's balloon and guestmm ctl target: the balloon\n"
	      "                       takes the rest of --mem), in 4K steps, below\n"
	      "                       --mem; then deflate\n"
	      "  --init-on-free       --linux: boot the guest with init_on_free=1\n"
	      "  --reporting on|off   offer free page reporting (default on)\n"
	      "  --stats-interval S   ask the guest for its memory statistics every S\n"
	      "                       seconds, 0 to 3600; 0: only the first it sends\n"
	      "                       (default 1; ctl's set-stats-interval changes it)\n"
	      "  --deflate-on-oom on|off  offer VIRTIO_BALLOON_F_DEFLATE_ON_OOM (with\n"
	      "                       --guests QEMU's device too): the guest takes\n"
	      "                       pages back from the balloon when an allocation\n"
	      "                       would fail (default on)\n"
	      "  --uml PATH           --linux, Linux guests of --guests: the kernel\n"
	      "                       (default /usr/bin/linux.uml)\n"
	      "  --initrd PATH        --linux, Linux guests of --guests: initramfs\n"
	      "                       (default uml/initrd.gz beside guestmm, else\n"
	      "                       PREFIX/lib/guestmm/initrd.gz)\n"
	      "  --console-log FILE   --linux: append the guest console to FILE\n"
	      "  --boot-timeout S     --linux, Linux and QEMU guests of --guests: how\n"
	      "                       long the boot may take (default 60; --guests: 240)\n"
	      "  --duration S         --listen, --guests: stop after S seconds (default:\n"
	      "                       at SIGINT)\n"
	      "  --control SOCKET     the control socket, JSON in QMP's shape (see\n"
	      "                       guestmm ctl); default beside the device's socket:\n"
	      "                       SOCKET.sock -> SOCKET-control.sock, and for --linux\n"
	      "                       and --guests in the host's own directory, named\n"
	      "                       at the start\n"
	      "  --json-lines         a JSON object a second instead of the line\n"
	      "  --json               one JSON object at the end on stdout; the\n"
	      "                       per-second lines go to stderr\n"
	      "  --quiet              no per-second lines\n"
	      "  --metrics [ADDR:]PORT  serve Prometheus metrics over HTTP at /metrics\n"
	      "                       (ADDR default 127.0.0.1; [IPV6]:PORT; port 0: any\n"
	      "                       free one, named in an info line)\n"
	      "  --metrics-file PATH  write the same metrics to PATH (node_exporter's\n"
	      "                       textfile collector), atomically, at the start,\n"
	      "                       every --metrics-interval and at exit\n"
	      "  --metrics-interval S the file's period, 1 to 86400 s (default 15)\n"
	      "  --log-level LEVEL    error, warning, info or debug (default info); a\n"
	      "                       log line carries an ISO 8601 UTC time, or under\n"
	      "                       systemd's journal a <N> priority and no time\n"
	      "Under systemd (Type=notify) readiness is sent once the sockets listen.\n"
	      "An option the mode does nothing with is refused (exit status 2).\n"
	      "\n"
	      "Many guests under one budget (guestmm host --guests SPEC [OPTION]...):\n"
	      "  --guests SPEC        KIND:N,... with KIND ours (our guest runtime as a\n"
	      "                       process), linux (user-mode Linux) or qemu (our\n"
	      "                       kernel on QEMU's microvm with QEMU's own balloon,\n"
	      "                       driven through its QMP socket in the host's\n"
	      "                       directory), e.g. ours:4,linux:2; each gets a\n"
	      "                       balloon of its own and runs memhog in cycles\n"
	      "  --guest-mem SIZE     RAM of each guest, 64M to 64G in steps of 4M\n"
	      "                       (default 512M)\n"
	      "  --linux-mem SIZE     RAM of each Linux guest (default: --guest-mem)\n"
	      "                       (only with Linux guests)\n"
	      "  --budget SIZE        the guests' memory budget, at least 64M and one\n"
	      "                       guest's RAM (default: the sum of their\n"
	      "                       RAM): a memory cgroup around them, the host outside\n"
	      "  --cgroup-root DIR    the memory cgroup hierarchy to make the budget in\n"
	      "                       (default: the one this process is in); 'none': the\n"
	      "                       host enforces the budget from its own accounting\n"
	      "  --budget-policy balloon|kill  at the budget: balloon (default) inflates\n"
	      "                       idle guests' balloons when the budget is high,\n"
	      "                       deflates busy ones, and kills only when inflating\n"
	      "                       cannot hold it; kill kills the guest with the most\n"
	      "                       resident memory.  Each decision is a line on\n"
	      "                       stderr and an event on the control socket\n"
	      "  --hog-pct N          memhog allocates N % of guest RAM (default 75)\n"
	      "  --hold-ms MS         and holds it this long (default 1000)\n"
	      "  --idle-ms MS         then frees it and idles this long (default 10000)\n"
	      "  --stagger-ms MS      guest k's first cycle waits k*MS (default 2000)\n"
	      "  --cpus N             vCPUs of our guests (default 1; only with ours\n"
	      "                       or qemu)\n"
	      "  --duration S         stop after S seconds (default: at SIGINT/SIGTERM/SIGHUP)\n"
	      "  --reporting, --stats-interval, --deflate-on-oom, --uml, --initrd,\n"
	      "  --boot-timeout, --control,\n"
	      "  --json-lines, --json, --quiet, --metrics, --metrics-file, --metrics-interval,\n"
	      "  --log-level: as above\n"
	      "A line a second: the budget's usage and each guest's host-resident memory\n"
	      "(the device's accounting) or its end; a guest the budget kills is named on\n"
	      "stderr with the budget's state, and the host and the other guests go on.\n",
	      f);
}

#define HOST_ERR(...) cli_usage_error("host ", __VA_ARGS__)

/*
 * The log's level, the stream of the fleet's event lines (information),
 * and stderr as a log stream of errors: what the host and its libraries
 * (platform_log() on the device threads) print there.  stderr is swapped
 * here, before any thread starts, and given back in host_log_end() after
 * they have all ended, so no thread ever reads the pointer as it changes.
 * Its lines stay plain until the host serves (host_serving()): a failure
 * to start is the command's one line, as every command's.  The per-second
 * lines (o->live, even on stderr with --json) keep the stream they were
 * given.
 */
static FILE *host_stderr;	/* the one we started with, while logging */

static void host_log_setup(struct host_opts *o, enum log_level level)
{
	FILE *err = log_stream_held(LOG_LEVEL_ERROR);

	log_set_level(level);
	o->log_info = log_stream(LOG_LEVEL_INFO);
	if (err) {
		fflush(stderr);
		host_stderr = stderr;
		stderr = err;
	}
}

/* The mode has ended (its threads with it): stderr is stderr again. */
static int host_log_end(struct host_opts *o, int rc)
{
	if (host_stderr) {
		fclose(stderr);
		stderr = host_stderr;
		host_stderr = NULL;
	}
	if (o->log_info)
		fclose(o->log_info);
	o->log_info = NULL;
	return rc;
}

/* The host's three modes, as masks of what an option applies to. */
enum {
	HOST_LISTEN = 1u << 0,	/* --listen, or no mode option */
	HOST_LINUX = 1u << 1,	/* --linux */
	HOST_GUESTS = 1u << 2,	/* --guests */
	HOST_ALL = HOST_LISTEN | HOST_LINUX | HOST_GUESTS,
};

static const char *host_mode_name(unsigned int mode)
{
	return mode == HOST_LISTEN ? "--listen" : mode == HOST_LINUX ? "--linux"
								       : "--guests";
}

/* "--linux", "--listen or --guests", "--linux or --guests". */
static const char *host_modes_text(char *buf, size_t len, unsigned int modes)
{
	size_t n = 0;

	buf[0] = 0;
	for (unsigned int m = HOST_LISTEN; m <= HOST_GUESTS; m <<= 1)
		if (modes & m)
			n += (size_t)snprintf(buf + n, n < len ? len - n : 0, "%s%s",
					      n ? " or " : "", host_mode_name(m));
	return buf;
}

int cmd_host(int argc, char **argv)
{
	enum { O_LISTEN = 256, O_LINUX, O_MEM, O_HOG, O_WATCH, O_TARGET, O_IOF,
	       O_UML, O_INITRD, O_LOG, O_DURATION, O_JSONL, O_JSON, O_QUIET,
	       O_REPORTING, O_UNTIL, O_MAXMEM, O_GUESTS, O_GUEST_MEM, O_LINUX_MEM,
	       O_BUDGET, O_CGROUP_ROOT, O_HOG_PCT, O_HOLD_MS, O_IDLE_MS,
	       O_STAGGER_MS, O_CPUS, O_BOOT_TIMEOUT, O_CONTROL, O_STATS_INTERVAL,
	       O_DEFLATE_ON_OOM, O_POLICY, O_METRICS, O_METRICS_FILE, O_METRICS_INTERVAL,
	       O_LOG_LEVEL, O_END };
	/*
	 * The modes each option does something in (the rest: all three);
	 * @alt, what to use instead in --guests.
	 */
	static const struct {
		int opt;
		unsigned int modes;
		const char *alt;
	} applies[] = {
		{ O_MEM, HOST_LINUX, "--guest-mem is each guest's RAM" },
		{ O_HOG, HOST_LINUX, "--hog-pct is memhog's share of RAM" },
		{ O_WATCH, HOST_LINUX, NULL },
		{ O_UNTIL, HOST_LINUX, NULL },
		{ O_TARGET, HOST_LINUX, NULL },
		{ O_IOF, HOST_LINUX, NULL },
		{ O_LOG, HOST_LINUX, NULL },
		{ O_UML, HOST_LINUX | HOST_GUESTS, NULL },
		{ O_INITRD, HOST_LINUX | HOST_GUESTS, NULL },
		{ O_BOOT_TIMEOUT, HOST_LINUX | HOST_GUESTS, NULL },
		{ O_MAXMEM, HOST_LISTEN, NULL },
		{ O_DURATION, HOST_LISTEN | HOST_GUESTS, NULL },
		{ O_GUEST_MEM, HOST_GUESTS, NULL },
		{ O_LINUX_MEM, HOST_GUESTS, NULL },
		{ O_BUDGET, HOST_GUESTS, NULL },
		{ O_CGROUP_ROOT, HOST_GUESTS, NULL },
		{ O_POLICY, HOST_GUESTS, NULL },
		{ O_HOG_PCT, HOST_GUESTS, NULL },
		{ O_HOLD_MS, HOST_GUESTS, NULL },
		{ O_IDLE_MS, HOST_GUESTS, NULL },
		{ O_STAGGER_MS, HOST_GUESTS, NULL },
		{ O_CPUS, HOST_GUESTS, NULL },

	};
	static const struct option opts[] = {
		{ "listen", required_argument, NULL, O_LISTEN },
		{ "linux", no_argument, NULL, O_LINUX },
		{ "mem", required_argument, NULL, O_MEM },
		{ "hog", required_argument, NULL, O_HOG },
		{ "watch", required_argument, NULL, O_WATCH },
		{ "target", required_argument, NULL, O_TARGET },
		{ "init-on-free", no_argument, NULL, O_IOF },
		{ "uml", required_argument, NULL, O_UML },
		{ "initrd", required_argument, NULL, O_INITRD },
		{ "console-log", required_argument, NULL, O_LOG },
		{ "duration", required_argument, NULL, O_DURATION },
		{ "json-lines", no_argument, NULL, O_JSONL },
		{ "json", no_argument, NULL, O_JSON },
		{ "quiet", no_argument, NULL, O_QUIET },
		{ "reporting", required_argument, NULL, O_REPORTING },
		{ "until-returned", no_argument, NULL, O_UNTIL },
		{ "max-guest-mem", required_argument, NULL, O_MAXMEM },
		{ "guests", required_argument, NULL, O_GUESTS },
		{ "guest-mem", required_argument, NULL, O_GUEST_MEM },
		{ "linux-mem", required_argument, NULL, O_LINUX_MEM },
		{ "budget", required_argument, NULL, O_BUDGET },
		{ "cgroup-root", required_argument, NULL, O_CGROUP_ROOT },
		{ "budget-policy", required_argument, NULL, O_POLICY },
		{ "hog-pct", required_argument, NULL, O_HOG_PCT },
		{ "hold-ms", required_argument, NULL, O_HOLD_MS },
		{ "idle-ms", required_argument, NULL, O_IDLE_MS },
		{ "stagger-ms", required_argument, NULL, O_STAGGER_MS },
		{ "cpus", required_argument, NULL, O_CPUS },
		{ "boot-timeout", required_argument, NULL, O_BOOT_TIMEOUT },
		{ "control", required_argument, NULL, O_CONTROL },
		{ "stats-interval", required_argument, NULL, O_STATS_INTERVAL },
		{ "deflate-on-oom", required_argument, NULL, O_DEFLATE_ON_OOM },
		{ "metrics", required_argument, NULL, O_METRICS },
		{ "metrics-file", required_argument, NULL, O_METRICS_FILE },
		{ "metrics-interval", required_argument, NULL, O_METRICS_INTERVAL },
		{ "log-level", required_argument, NULL, O_LOG_LEVEL },
		{ "help", no_argument, NULL, 'h' },
		{ NULL, 0, NULL, 0 },
	};
	static char default_sock[108];
	struct host_opts o = { .mem_bytes = 1ull << 30, .watch_s = 15,
			       .guest_mem = 512ull << 20, .hog_pct = 75,
			       .hold_ms = 1000, .idle_ms = 10000,
			       .stagger_ms = 2000, .cpus = 1,
			       .stats_interval_s = -1,
			       .metrics.file_interval_s = HOST_METRICS_INTERVAL_S };
	enum log_level log_level = LOG_LEVEL_INFO;
	bool many = false, seen[O_END] = { false };
	struct sigaction sa = { .sa_handler = on_signal };
	unsigned int mode;
	uint64_t v;
	int c;

	optind = 1;
	opterr = 0;
	while ((c = getopt_long(argc, argv, ":h", opts, NULL)) != -1) {
		if (c >= O_LISTEN && c < O_END)
			seen[c] = true;
		switch (c) {
		case O_LISTEN:
			if (!*optarg)
				HOST_ERR("--listen: an empty socket path");
			if (strlen(optarg) >= 108)
				HOST_ERR("--listen: socket path longer than 107 bytes");
			o.listen = optarg;
			break;
		case O_CONTROL:
			if (!*optarg)
				HOST_ERR("--control: an empty socket path");
			if (strlen(optarg) >= 108)
				HOST_ERR("--control: socket path longer than 107 bytes");
			o.control = optarg;
			break;
		case O_LINUX:
			o.linux_guest = true;
			break;
		case O_METRICS: {
			struct sockaddr_storage ss;
			socklen_t sl;
			char why[300];

			if (metrics_parse_address(optarg, &ss, &sl, why, sizeof(why)))
				HOST_ERR("--metrics: %s", why);
			o.metrics.listen = optarg;
			break;
		}
		case O_METRICS_FILE:
			if (!*optarg)
				HOST_ERR("--metrics-file: an empty path");
			if (strlen(optarg) >= PATH_MAX - 16)
				HOST_ERR("--metrics-file: a path longer than %d bytes", PATH_MAX - 16);
			o.metrics.file = optarg;
			break;
		case O_METRICS_INTERVAL:
			if (cli_parse_uint(optarg, 1, 86400, &v))
				HOST_ERR("--metrics-interval: '%s' is not 1 to 86400 seconds", optarg);
			o.metrics.file_interval_s = (unsigned int)v;
			break;
		case O_LOG_LEVEL:
			if (log_level_parse(optarg, &log_level))
				HOST_ERR("--log-level: '%s' is not error, warning, info or debug", optarg);
			break;
		case O_MEM:
			/* Linux's mem= in MiB. */
			o.mem_bytes = cli_opt_size("host ", "--mem", optarg,
						   HOST_MEM_MIN, HOST_MEM_MAX, MIB);
			break;
		case O_HOG:
			/* memhog MIB. */
			o.hog_bytes = cli_opt_size("host ", "--hog", optarg, MIB,
						   HOST_MEM_MAX, MIB);
			break;
		case O_WATCH:
			if (cli_parse_uint(optarg, 1, 3600, &v))
				HOST_ERR("--watch: '%s' is not 1 to 3600", optarg);
			o.watch_s = (double)v;
			break;
		case O_TARGET:
			/* The balloon counts 4 KiB pages. */
			o.target_bytes = cli_opt_size("host ", "--target", optarg,
						      PAGE_BYTES, HOST_MEM_MAX,
						      PAGE_BYTES);
			break;
		case O_IOF:
			o.init_on_free = true;
			break;
		case O_UML:
			o.uml = optarg;
			break;
		case O_INITRD:
			o.initrd = optarg;
			break;
		case O_LOG:
			o.console_log = optarg;
			break;
		case O_DURATION:
			if (cli_parse_uint(optarg, 1, 86400 * 365, &v))
				HOST_ERR("--duration: '%s' is not a number of seconds", optarg);
			o.duration_s = (double)v;
			break;
		case O_JSONL:
			o.json_lines = true;
			break;
		case O_JSON:
			o.json = true;
			break;
		case O_QUIET:
			o.quiet = true;
			break;
		case O_UNTIL:
			o.until_returned = true;
			break;
		case O_MAXMEM:
			o.max_guest_mem = cli_opt_size("host ", "--max-guest-mem",
						       optarg, PAGE_BYTES,
						       HOST_SIZE_MAX, PAGE_BYTES);
			break;
		case O_REPORTING: {
			bool on;

			if (cli_parse_onoff(optarg, &on))
				HOST_ERR("--reporting: '%s' is not on or off", optarg);
			o.no_reporting = !on;
			break;
		}
		case O_STATS_INTERVAL:
			/* As the control socket's set-stats-interval. */
			if (cli_parse_uint(optarg, 0, 3600, &v))
				HOST_ERR("--stats-interval: '%s' is not 0 (off) to 3600 seconds", optarg);
			o.stats_interval_s = (int)v;
			break;
		case O_DEFLATE_ON_OOM: {
			bool on;

			if (cli_parse_onoff(optarg, &on))
				HOST_ERR("--deflate-on-oom: '%s' is not on or off", optarg);
			o.no_deflate_on_oom = !on;
			break;
		}
		case O_GUESTS:
			parse_guests(optarg, &o);
			many = true;
			break;
		case O_GUEST_MEM:
		case O_LINUX_MEM:
			/* Our guests' zones want whole 4 MiB blocks. */
			v = cli_opt_size("host ", c == O_GUEST_MEM ? "--guest-mem"
								   : "--linux-mem",
					 optarg, HOST_MEM_MIN, HOST_MEM_MAX, 4 * MIB);
			*(c == O_GUEST_MEM ? &o.guest_mem : &o.linux_mem) = v;
			break;
		case O_BUDGET:
			o.budget = cli_opt_size("host ", "--budget", optarg,
						HOST_MEM_MIN, HOST_SIZE_MAX,
						PAGE_BYTES);
			break;
		case O_CGROUP_ROOT:
			o.cgroup_root = optarg;
			break;
		case O_POLICY:
			if (!strcmp(optarg, "balloon"))
				o.policy = FLEET_POLICY_BALLOON;
			else if (!strcmp(optarg, "kill"))
				o.policy = FLEET_POLICY_KILL;
			else
				HOST_ERR("--budget-policy: '%s' is not balloon or kill", optarg);
			break;
		case O_HOG_PCT:
			if (cli_parse_uint(optarg, 1, 95, &v))
				HOST_ERR("--hog-pct: '%s' is not 1 to 95", optarg);
			o.hog_pct = (unsigned int)v;
			break;
		case O_HOLD_MS:
		case O_IDLE_MS:
		case O_STAGGER_MS:
			if (cli_parse_uint(optarg, 0, 3600000, &v))
				HOST_ERR("%s: '%s' is not 0 to 3600000",
					 c == O_HOLD_MS ? "--hold-ms" : c == O_IDLE_MS ? "--idle-ms"
										       : "--stagger-ms",
					 optarg);
			*(c == O_HOLD_MS ? &o.hold_ms : c == O_IDLE_MS ? &o.idle_ms
								     : &o.stagger_ms) =
				(unsigned int)v;
			break;
		case O_CPUS:
			if (cli_parse_uint(optarg, 1, 16, &v))
				HOST_ERR("--cpus: '%s' is not 1 to 16", optarg);
			o.cpus = (unsigned int)v;
			break;
		case O_BOOT_TIMEOUT:
			if (cli_parse_uint(optarg, 1, 3600, &v))
				HOST_ERR("--boot-timeout: '%s' is not 1 to 3600 seconds", optarg);
			o.boot_timeout_s = (unsigned int)v;
			break;
		case 'h':
			host_usage(stdout);
			return 0;
		default:
			cli_option_error("host ", opts, c, argv);
		}
	}
	if (optind < argc)
		HOST_ERR("unexpected argument '%s'", argv[optind]);
	if (o.listen && o.linux_guest)
		HOST_ERR("--listen and --linux: choose one");
	if (o.listen && o.control && !strcmp(o.listen, o.control))
		HOST_ERR("--control: the device's socket (--listen) cannot be the control socket too");
	if (many && (o.listen || o.linux_guest))
		HOST_ERR("--guests and %s: choose one", o.listen ? "--listen" : "--linux");
	mode = many ? HOST_GUESTS : o.linux_guest ? HOST_LINUX : HOST_LISTEN;
	for (size_t i = 0; i < sizeof(applies) / sizeof(applies[0]); i++) {
		const char *name = NULL;
		char modes[64];

		if (!seen[applies[i].opt] || (applies[i].modes & mode))
			continue;
		for (const struct option *p = opts; p->name && !name; p++)
			if (p->val == applies[i].opt)
				name = p->name;
		host_modes_text(modes, sizeof(modes), applies[i].modes);
		if (mode == HOST_LISTEN && !(applies[i].modes & HOST_LISTEN) &&
		    (applies[i].modes & HOST_LINUX))
			HOST_ERR("--%s: only with %s, not with --listen (a host that only listens has no guest to act on)",
				 name, modes);
		if (mode == HOST_GUESTS && applies[i].alt)
			HOST_ERR("--%s: only with %s, not with --guests (%s)", name, modes,
				 applies[i].alt);
		HOST_ERR("--%s: only with %s, not with %s", name, modes, host_mode_name(mode));
	}
	if (seen[O_METRICS_INTERVAL] && !o.metrics.file)
		HOST_ERR("--metrics-interval: only with --metrics-file (it is the file's period)");
	if (o.metrics.file)
		cli_check_output("host ", "--metrics-file", o.metrics.file);
	if (o.json_lines && o.quiet)
		HOST_ERR("--json-lines: not with --quiet (the lines it asks for are the ones --quiet silences)");
	if (many && !o.nr_guests[FLEET_LINUX]) {
		if (seen[O_LINUX_MEM] || seen[O_UML] || seen[O_INITRD])
			HOST_ERR("%s: only with Linux guests in --guests",
				 seen[O_LINUX_MEM] ? "--linux-mem" : seen[O_UML] ? "--uml"
				 : "--initrd");
	}
	if (many && !o.nr_guests[FLEET_LINUX] && !o.nr_guests[FLEET_QEMU] &&
	    seen[O_BOOT_TIMEOUT])
		HOST_ERR("--boot-timeout: only with Linux or QEMU guests in --guests");
	if (many && !o.nr_guests[FLEET_OURS] && !o.nr_guests[FLEET_QEMU] && seen[O_CPUS])
		HOST_ERR("--cpus: only with guests of ours or QEMU guests in --guests (a user-mode Linux has one vCPU)");
	if (o.uml)
		cli_check_path("host ", "--uml", o.uml, true);
	if (o.initrd)
		cli_check_path("host ", "--initrd", o.initrd, false);
	if (o.console_log)
		cli_check_output("host ", "--console-log", o.console_log);
	if (many) {
		uint64_t sum = (uint64_t)(o.nr_guests[FLEET_OURS] +
					  o.nr_guests[FLEET_QEMU]) * o.guest_mem +
			       (uint64_t)o.nr_guests[FLEET_LINUX] *
				       (o.linux_mem ? o.linux_mem : o.guest_mem);
		uint64_t one = o.nr_guests[FLEET_OURS] || o.nr_guests[FLEET_QEMU]
				       ? o.guest_mem : UINT64_MAX;
		char a[32], b[32];

		if (o.nr_guests[FLEET_LINUX] && (o.linux_mem ? o.linux_mem : o.guest_mem) < one)
			one = o.linux_mem ? o.linux_mem : o.guest_mem;
		if (!o.budget)
			o.budget = sum;
		if (o.budget < one)
			HOST_ERR("--budget: %s is smaller than one guest's RAM (%s)",
				 cli_fmt_bytes(a, sizeof(a), (double)o.budget),
				 cli_fmt_bytes(b, sizeof(b), (double)one));
		/* With --json the live lines go to stderr, as run's do. */
		o.live = o.quiet ? NULL : o.json ? stderr : stdout;
		cli_check_nofile_guests("host", o.nr_guests[FLEET_OURS] +
							o.nr_guests[FLEET_LINUX] +
							o.nr_guests[FLEET_QEMU]);
		cli_check_tmpdir("host");
		sigaction(SIGINT, &sa, NULL);
		sigaction(SIGTERM, &sa, NULL);
		sigaction(SIGHUP, &sa, NULL);
		signal(SIGPIPE, SIG_IGN);
		host_log_setup(&o, log_level);
		return host_log_end(&o, host_fleet(&o));
	}
	if (!o.listen && !o.linux_guest) {
		/* The backend alone, on the default socket. */
		if (default_socket(default_sock, sizeof(default_sock)))
			return 1;
		o.listen = default_sock;
	}
	if (o.hog_bytes >= o.mem_bytes)
		HOST_ERR("--hog: must be smaller than --mem");
	if (o.target_bytes >= o.mem_bytes)
		HOST_ERR("--target: must be smaller than --mem");
	o.live = o.quiet ? NULL : o.json ? stderr : stdout;
	cli_check_nofile("host");
	if (!o.listen)
		cli_check_tmpdir("host"); /* --linux: its socket's and uml_dir */
	/* A closed terminal (SIGHUP) ends it as Ctrl-C does: cleaned up. */
	sigaction(SIGINT, &sa, NULL);
	sigaction(SIGTERM, &sa, NULL);
	sigaction(SIGHUP, &sa, NULL);
	signal(SIGPIPE, SIG_IGN);
	host_log_setup(&o, log_level);
	return host_log_end(&o, o.listen ? host_listen(&o) : host_linux(&o));
}
