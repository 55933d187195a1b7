/*
 * fleet.c - many guests under one budget (see fleet.h for the design).
 *
 * Processes.  The fleet's thread forks every guest: ours through
 * run_guest_spawn() (this program again, "guest --socket S ..."), Linux
 * through uml_guest_spawn().  Each child sets PR_SET_PDEATHSIG(SIGKILL),
 * checks that its parent is still there, writes "0" to its own cgroup's
 * cgroup.procs and only then execs: nothing it touches is charged to the
 * host.  A Linux guest is a process group (the kernel's process and the
 * processes it makes for its own userspace); ending one means ending the
 * group.
 *
 * What the host believes.  A guest's console says when it is ready and,
 * for a Linux guest, when memhog held and freed its memory; a line the
 * host cannot parse is ignored, an overlong one dropped.  Nothing a guest
 * writes decides who is killed or what is counted: the budget's kills are
 * the cgroup's oom_kill counts, the memory is the devices' accounting of
 * the guests' memory files, and an end is what waitpid() says.
 */
#ifndef _GNU_SOURCE
#define _GNU_SOURCE
#endif
#include "runner/fleet.h"

#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <limits.h>
#include <poll.h>
#include <signal.h>
#include <stdarg.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "host/balloon.h"
#include "host/memcg.h"
#include "host/tmp_dir.h"
#include "host/uml_guest.h"
#include "host/vhost_user.h"
#include "runner/budget_policy.h"
#include "runner/fleet_qemu.h"
#include "runner/run.h"

#define FLEET_LINE_MAX 4096
/* A Linux guest boots in seconds alone; on a shared 2-core machine with
 * other guests hogging, give it minutes. */
#define FLEET_BOOT_S 240.0
/* Linux reports its free memory when the driver loads: let that settle
 * before its first memhog. */
#define FLEET_SETTLE_S 3.0
/* The budget is checked this often (own accounting: the devices'
 * resident bytes; cgroup: the guests' oom_kill counts). */
#define FLEET_CHECK_S 0.1
/* The balloon policy asks the guests for statistics this often: a
 * decision waits for a report newer than the last one's move. */
#define FLEET_POLICY_STATS_MS 500

struct fleet_guest {
	struct fleet_guest_info info;
	struct balloon_dev *balloon;	/* destroyed after the server */
	char sock[TMP_DIR_PATH_MAX + FLEET_NAME_MAX + 8]; /* tmp_dir.h */
	struct memcg cg;		/* cg.path[0] == 0: none */
	uint64_t oom_seen;		/* cg's oom_kill count when started */
	bool reaped;
	/* The balloon policy: the statistics update count at its last
	 * decision on this guest. */
	uint64_t decided_updates;
	/* ours */
	int console_fd;			/* -1 once at its end */
	char buf[FLEET_LINE_MAX];
	size_t len;
	bool overlong;			/* the rest of a line longer than @buf is dropped */
	/* linux, qemu (QEMU's process, run as a Linux guest's) */
	struct uml_guest *uml;
	struct fleet_qemu *qemu;	/* qemu: its QMP and console */
	bool console_gone;
	bool in_memhog;
	double next_cycle_at;		/* fleet_now() */
	unsigned int start_delay_ms;
	unsigned int idle_ms;		/* as the fleet's when added */
	double boot_deadline;
};

struct fleet {
	struct fleet_config cfg;
	struct vhost_user_server *srv;
	struct tmp_dir dir;		/* the devices' sockets */
	char initrd[PATH_MAX + 32];	/* empty: none found, see below */
	char initrd_tried[3 * (PATH_MAX + 32)];
	struct memcg budget;		/* budget.path[0] == 0: own accounting */
	bool host_picks;		/* v1: the kernel's OOM killer is off for
					   the budget; the host chooses */
	struct fleet_guest *releasing;	/* host_picks: killed, its memory not
					   yet dropped by its device */
	double releasing_since;
	char how[800];
	uint64_t budget_kills;
	struct bp_state bp;		/* the balloon policy's */
	struct bp_input bp_in;		/* policy_round()'s, 3.6 KiB */
	uint64_t inflates, deflates;
	double t0, next_check;
	unsigned int n;
	unsigned int not_started; /* fleet_add()s that left no guest in g[] */
	struct fleet_guest *g[FLEET_MAX_GUESTS];
};

static double mono_s(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

/* How long a Linux guest's boot may take: --boot-timeout, or FLEET_BOOT_S. */
static double fleet_boot_s(const struct fleet *f)
{
	return f->cfg.boot_timeout_s ? (double)f->cfg.boot_timeout_s : FLEET_BOOT_S;
}

double fleet_now(const struct fleet *f)
{
	return mono_s() - f->t0;
}

static const char *fmt_mib(char *buf, size_t len, uint64_t bytes)
{
	if (bytes >= (10ull << 30))
		snprintf(buf, len, "%.1f GiB", (double)bytes / (1ull << 30));
	else if (bytes >= (1ull << 30))
		snprintf(buf, len, "%.2f GiB", (double)bytes / (1ull << 30));
	else
		snprintf(buf, len, "%.0f MiB", (double)bytes / (1ull << 20));
	return buf;
}

static void fleet_log(struct fleet *f, const char *fmt, ...)
	__attribute__((format(printf, 2, 3)));

static void fleet_log(struct fleet *f, const char *fmt, ...)
{
	va_list ap;

	if (!f->cfg.log)
		return;
	fprintf(f->cfg.log, "guestmm: host: %6.1fs ", fleet_now(f));
	va_start(ap, fmt);
	vfprintf(f->cfg.log, fmt, ap);
	va_end(ap);
	fputc('\n', f->cfg.log);
	fflush(f->cfg.log);
}

const char *fleet_kind_name(enum fleet_kind k)
{
	return k == FLEET_LINUX ? "linux" : k == FLEET_QEMU ? "qemu" : "ours";
}

const char *fleet_state_name(enum fleet_state s)
{
	static const char *const name[] = {
		[FLEET_STARTING] = "starting", [FLEET_ALIVE] = "alive",
		[FLEET_KILLED] = "killed", [FLEET_EXITED] = "exited",
	};

	return name[s];
}

void fleet_config_init(struct fleet_config *c)
{
	*c = (struct fleet_config){
		.reporting = true,
		.deflate_on_oom = true,
		.hog_pct = 75,
		.hold_ms = 1000,
		.idle_ms = 10000,
		.cpus = 1,
		.policy = FLEET_POLICY_BALLOON,
	};
}

const char *fleet_policy_name(enum fleet_policy p)
{
	return p == FLEET_POLICY_KILL ? "kill" : "balloon";
}

/* @s as the inside of a JSON string (quotes, backslashes, controls). */
static void json_escape(char *out, size_t len, const char *s)
{
	size_t n = 0;

	for (; *s && n + 7 < len; s++) {
		unsigned char ch = (unsigned char)*s;

		if (ch == '"' || ch == '\\') {
			out[n++] = '\\';
			out[n++] = (char)ch;
		} else if (ch < 0x20) {
			n += (size_t)snprintf(out + n, len - n, "\\u%04x", ch);
		} else {
			out[n++] = (char)ch;
		}
	}
	out[n] = 0;
}

static void fleet_event(struct fleet *f, const char *name, const char *data)
{
	if (f->cfg.event)
		f->cfg.event(f->cfg.event_ctx, name, data);
}

static bool guest_running(const struct fleet_guest *g)
{
	return g->info.state == FLEET_STARTING || g->info.state == FLEET_ALIVE;
}

unsigned int fleet_alive(const struct fleet *f)
{
	unsigned int n = 0;

	for (unsigned int i = 0; i < f->n; i++)
		n += guest_running(f->g[i]);
	return n;
}

void fleet_set_idle(struct fleet *f, unsigned int ms)
{
	f->cfg.idle_ms = ms;
}

unsigned int fleet_not_started(const struct fleet *f)
{
	return f->not_started;
}

unsigned int fleet_count(const struct fleet *f)
{
	return f->n;
}

/*
 * A host killed by SIGKILL leaves its budget's cgroup behind (its guests
 * went with it, so it is empty): remove those of hosts that are gone, next
 * to ours.  Only names of the form guestmm-<pid> with no such process.
 */
static void remove_stale_budgets(const char *ours)
{
	char parent[512], sub[1100], leaf[1400];
	const char *slash = strrchr(ours, '/');
	struct dirent *e;
	DIR *d;

	if (!slash || (size_t)(slash - ours) >= sizeof(parent))
		return;
	snprintf(parent, sizeof(parent), "%.*s", (int)(slash - ours), ours);
	d = opendir(parent);
	if (!d)
		return;
	while ((e = readdir(d))) {
		int pid, end = 0;
		struct dirent *c;
		DIR *sd;

		if (sscanf(e->d_name, "guestmm-%d%n", &pid, &end) != 1 ||
		    e->d_name[end] || pid <= 0 || pid == getpid() ||
		    !(kill(pid, 0) && errno == ESRCH))
			continue;
		snprintf(sub, sizeof(sub), "%s/%s", parent, e->d_name);
		sd = opendir(sub);
		while (sd && (c = readdir(sd))) {
			snprintf(leaf, sizeof(leaf), "%s/%s", sub, c->d_name);
			if (c->d_type == DT_DIR && c->d_name[0] != '.')
				rmdir(leaf);
		}
		if (sd)
			closedir(sd);
		rmdir(sub);
	}
	closedir(d);
}

int fleet_create(const struct fleet_config *c, struct fleet **out)
{
	char name[64], why[256] = "", lim[32];
	struct fleet *f;
	int err;

	if (!c->budget)
		return -EINVAL;
	f = calloc(1, sizeof(*f));
	if (!f)
		return -ENOMEM;
	f->cfg = *c;
	f->t0 = mono_s();
	if (c->initrd)
		snprintf(f->initrd, sizeof(f->initrd), "%s", c->initrd);
	else
		run_find_initrd(f->initrd, sizeof(f->initrd), f->initrd_tried,
				sizeof(f->initrd_tried));
	err = tmp_dir_create(&f->dir, "host");
	if (err)
		goto undo_alloc;
	f->srv = vhost_user_server_create(VHOST_USER_THREAD_PER_DEVICE);
	if (!f->srv) {
		err = errno ? -errno : -ENOMEM;
		goto undo_dir;
	}
	fmt_mib(lim, sizeof(lim), c->budget);
	snprintf(name, sizeof(name), "guestmm-%d", (int)getpid());
	if (c->cgroup_root && !strcmp(c->cgroup_root, "none")) {
		snprintf(why, sizeof(why), "none asked for");
		err = -ENOENT;
	} else {
		err = memcg_create(&f->budget, c->cgroup_root, name, c->budget,
				   why, sizeof(why));
	}
	if (err) {
		f->budget.path[0] = '\0';
		snprintf(f->how, sizeof(f->how),
			 "no memory cgroup (%s: %s): the host enforces the budget of %s "
			 "from its own accounting (the devices' resident bytes), killing the "
			 "guest with the most resident memory when over it",
			 why[0] ? why : "cannot make one", strerror(-err), lim);
	} else {
		remove_stale_budgets(f->budget.path);
		/* v1: the host picks the victim (see budget_check()). */
		f->host_picks = !memcg_set_oom_killer(&f->budget, false);
		snprintf(f->how, sizeof(f->how),
			 "budget %s: memory cgroup v%d %s, a child per guest; the host stays outside; "
			 "at the limit %s",
			 lim, (int)f->budget.version, f->budget.path,
			 f->host_picks ? "the guests wait and the host kills the one with the most "
					 "resident memory, one at a time"
				       : "the kernel's OOM killer chooses");
	}
	fleet_log(f, "%s", f->how);
	*out = f;
	return 0;

undo_dir:
	tmp_dir_destroy(&f->dir);
undo_alloc:
	free(f);
	return err;
}

/* "usage X of Y, oom_kill N", the budget's state now. */
static void budget_state(struct fleet *f, char *buf, size_t len)
{
	struct fleet_budget_info b;
	char u[32], l[32];

	fleet_budget(f, &b);
	snprintf(buf, len, "%s usage %s of %s, oom_kill %" PRIu64,
		 b.cgroup ? (b.cgroup_version == 2 ? "cgroup v2" : "cgroup v1")
			  : "own accounting",
		 fmt_mib(u, sizeof(u), b.usage), fmt_mib(l, sizeof(l), b.limit),
		 b.oom_kills);
}

static void guest_kill(struct fleet_guest *g)
{
	if (g->reaped)
		return;
	if (g->uml)
		uml_guest_kill(g->uml);
	else if (g->info.pid > 0)
		kill(g->info.pid, SIGKILL);
}

/*
 * GUEST_KILLED: @g, why, and the budget's state as the host saw it when
 * it ended @g: usage, limit and each running guest's resident memory.
 */
static void event_killed(struct fleet *f, struct fleet_guest *g)
{
	char data[4096], why[sizeof(g->info.why) * 6];
	struct fleet_budget_info b;
	size_t n;

	if (!f->cfg.event)
		return;
	fleet_budget(f, &b);
	json_escape(why, sizeof(why), g->info.why);
	n = (size_t)snprintf(data, sizeof(data),
			     "{\"guest\":\"%s\",\"policy\":\"%s\",\"why\":\"%s\","
			     "\"usage\":%" PRIu64 ",\"limit\":%" PRIu64 ",\"residents\":{",
			     g->info.name, fleet_policy_name(f->cfg.policy), why,
			     b.usage, b.limit);
	for (unsigned int i = 0, k = 0; i < f->n && n < sizeof(data); i++) {
		struct fleet_guest *o = f->g[i];

		if (!guest_running(o))
			continue;
		n += (size_t)snprintf(data + n, sizeof(data) - n, "%s\"%s\":%" PRIu64,
				      k++ ? "," : "", o->info.name,
				      o->info.resident_bytes);
	}
	if (n + 3 > sizeof(data))
		return; /* cannot happen: 64 guests of ~40 bytes */
	snprintf(data + n, sizeof(data) - n, "}}");
	fleet_event(f, "GUEST_KILLED", data);
}

/* The guest's end, once: the state, why, and a line in the log. */
static void guest_end(struct fleet *f, struct fleet_guest *g,
		      enum fleet_state state, const char *fmt, ...)
	__attribute__((format(printf, 4, 5)));

static void guest_end(struct fleet *f, struct fleet_guest *g,
		      enum fleet_state state, const char *fmt, ...)
{
	va_list ap;

	if (!guest_running(g))
		return;
	va_start(ap, fmt);
	vsnprintf(g->info.why, sizeof(g->info.why), fmt, ap);
	va_end(ap);
	if (state == FLEET_KILLED)
		event_killed(f, g);
	g->info.state = state;
	g->info.t_end = fleet_now(f);
	if (state == FLEET_KILLED)
		f->budget_kills++;
	fleet_log(f, "%s (pid %d) %s: %s", g->info.name, (int)g->info.pid,
		  state == FLEET_KILLED ? "killed by the budget" : "ended",
		  g->info.why);
}

/* ---- starting guests ---- */

static int add_ours(struct fleet *f, struct fleet_guest *g,
		    const char *procs, unsigned int start_delay_ms)
{
	struct run_opts o;
	int err;

	run_opts_init(&o);
	o.mode = RUN_PROCESS;
	o.guest_exe = f->cfg.guest_exe;
	o.cfg.mem_bytes = g->info.mem_bytes;
	o.cfg.cpus = f->cfg.cpus;
	o.cfg.reporting = f->cfg.reporting;
	o.kind = WORKLOAD_MEMHOG;
	o.hog_bytes = g->info.mem_bytes / 100 * f->cfg.hog_pct;
	o.cycles = 0; /* until the host ends it */
	o.hold_ms = f->cfg.hold_ms;
	o.sleep_ms = (int)f->cfg.idle_ms;
	o.start_delay_ms = start_delay_ms;
	o.sample_s = 1.0;
	err = run_guest_spawn(&o, g->sock, procs, &g->info.pid,
			      &g->console_fd, NULL);
	if (!err)
		fcntl(g->console_fd, F_SETFL, O_NONBLOCK);
	return err;
}

static int add_linux(struct fleet *f, struct fleet_guest *g,
		     const char *procs, unsigned int start_delay_ms)
{
	struct uml_guest_config gc = {
		.linux_path = f->cfg.uml,
		.initrd = f->initrd,
		.balloon_socket = g->sock,
		.mem_bytes = g->info.mem_bytes,
		.cgroup_procs = procs,
	};
	int err;

	if (!f->initrd[0]) {
		fprintf(f->cfg.log ? f->cfg.log : stderr,
			"guestmm: host: no user-mode Linux initramfs: tried %s "
			"(build it with make, or give --initrd PATH)\n",
			f->initrd_tried);
		return -ENOENT;
	}
	err = uml_guest_spawn(&gc, &g->uml);
	if (err)
		return err;
	g->info.pid = uml_guest_pid(g->uml);
	g->start_delay_ms = start_delay_ms;
	g->idle_ms = f->cfg.idle_ms;
	g->boot_deadline = fleet_now(f) + fleet_boot_s(f);
	return 0;
}

static void ours_line(struct fleet *f, struct fleet_guest *g, const char *line);

/* Our kernel's console lines are a process guest's (ours_line()). */
static void qemu_line(void *ctx, const char *line)
{
	struct fleet_guest *g = ctx;

	ours_line(NULL, g, line);
}

static int add_qemu(struct fleet *f, struct fleet_guest *g,
		    const char *procs, unsigned int start_delay_ms)
{
	struct fleet_qemu_config qc = {
		.qemu = f->cfg.qemu,
		.kernel = f->cfg.kernel,
		.qmp_socket = g->sock,
		.cgroup_procs = procs,
		.mem_bytes = g->info.mem_bytes,
		.cpus = f->cfg.cpus,
		.reporting = f->cfg.reporting,
		.deflate_on_oom = f->cfg.deflate_on_oom,
		.hog_bytes = g->info.mem_bytes / 100 * f->cfg.hog_pct,
		.hold_ms = f->cfg.hold_ms,
		.idle_ms = f->cfg.idle_ms,
		.start_delay_ms = start_delay_ms,
		.log = f->cfg.log,
		.line = qemu_line,
		.line_ctx = g,
	};
	int err = fleet_qemu_start(&qc, g->balloon, &g->qemu);

	if (err)
		return err;
	g->uml = fleet_qemu_guest(g->qemu);
	g->info.pid = uml_guest_pid(g->uml);
	g->boot_deadline = fleet_now(f) + fleet_boot_s(f);
	return 0;
}

int fleet_add(struct fleet *f, enum fleet_kind kind, uint64_t mem_bytes,
	      unsigned int start_delay_ms)
{
	uint64_t features = BALLOON_FEATURES_DEFAULT;
	char procs[sizeof(((struct memcg *)0)->path) + 16];
	struct fleet_guest *g;
	unsigned int nr = 1;
	int err;

	if (f->n >= FLEET_MAX_GUESTS) {
		f->not_started++;
		return -ENOSPC;
	}
	g = calloc(1, sizeof(*g));
	if (!g) {
		f->not_started++;
		return -ENOMEM;
	}
	for (unsigned int i = 0; i < f->n; i++)
		nr += f->g[i]->info.kind == kind;
	snprintf(g->info.name, sizeof(g->info.name), "%s-%u",
		 fleet_kind_name(kind), nr);
	g->info.kind = kind;
	g->info.mem_bytes = mem_bytes;
	g->info.t_start = fleet_now(f);
	g->console_fd = -1;
	/* qemu: QEMU's QMP socket; the guest's balloon is QEMU's, mirrored. */
	snprintf(g->sock, sizeof(g->sock), "%s/%s.%s", f->dir.path,
		 g->info.name, kind == FLEET_QEMU ? "qmp" : "sock");
	if (!f->cfg.reporting)
		features &= ~VIRTIO_FEATURE(VIRTIO_BALLOON_F_REPORTING);
	if (!f->cfg.deflate_on_oom)
		features &= ~VIRTIO_FEATURE(VIRTIO_BALLOON_F_DEFLATE_ON_OOM);
	err = kind == FLEET_QEMU ? balloon_create_mirror(features, &g->balloon)
				 : balloon_create(features, &g->balloon);
	if (err)
		goto undo_alloc;
	if (f->cfg.policy == FLEET_POLICY_BALLOON)
		balloon_set_stats_interval(g->balloon, FLEET_POLICY_STATS_MS);
	if (kind != FLEET_QEMU) {
		err = vhost_user_server_add_device(f->srv, g->sock,
						   balloon_virtio_device(g->balloon));
		if (err)
			goto undo_balloon;
	}
	if (f->budget.path[0]) {
		char why[256] = "";

		err = memcg_create(&g->cg, f->budget.path, g->info.name,
				   f->cfg.budget, why, sizeof(why));
		if (err) {
			fleet_log(f, "%s: %s", g->info.name, why);
			goto undo_device;
		}
		g->oom_seen = memcg_oom_kills(&g->cg);
		snprintf(procs, sizeof(procs), "%s/cgroup.procs", g->cg.path);
	}
	err = kind == FLEET_OURS
		      ? add_ours(f, g, g->cg.path[0] ? procs : NULL, start_delay_ms)
		      : kind == FLEET_QEMU
		      ? add_qemu(f, g, g->cg.path[0] ? procs : NULL, start_delay_ms)
		      : add_linux(f, g, g->cg.path[0] ? procs : NULL, start_delay_ms);
	if (err)
		goto undo_cg;
	f->g[f->n] = g;
	fleet_log(f, "%s (pid %d) started: %s of RAM", g->info.name,
		  (int)g->info.pid, fmt_mib(procs, sizeof(procs), mem_bytes));
	return (int)f->n++;

undo_cg:
	memcg_destroy(&g->cg);
undo_device:
	/* The device stays with the server (which has no removal) until
	 * fleet_destroy(): keep it counted, as an ended guest. */
	g->info.state = FLEET_EXITED;
	g->reaped = true;
	snprintf(g->info.why, sizeof(g->info.why), "could not start: %s",
		 strerror(-err));
	f->g[f->n++] = g;
	return err;
undo_balloon:
	balloon_destroy(g->balloon);
undo_alloc:
	free(g);
	f->not_started++;
	return err;
}

/* ---- serving them ---- */

static void ours_line(struct fleet *f, struct fleet_guest *g, const char *line)
{
	unsigned int cycle;
	int phase;
	uint64_t a, b, freed;

	if (!strncmp(line, "gmm-ready ", 10)) {
		if (g->info.state == FLEET_STARTING)
			g->info.state = FLEET_ALIVE;
	} else if (sscanf(line, "gmm-sample %" SCNu64 " %" SCNu64 " %u %d %" SCNu64,
			  &a, &b, &cycle, &phase, &freed) == 5) {
		/* The guest's word, shown only: never counted as memory.
		 * The work its cycles did: what the last one held, written
		 * and freed, for each cycle since the last sample. */
		if (cycle > g->info.cycles && freed <= g->info.mem_bytes)
			g->info.touched_bytes += (cycle - g->info.cycles) * freed;
		g->info.cycles = cycle;
	}
	(void)f;
}

static void ours_read(struct fleet *f, struct fleet_guest *g)
{
	ssize_t n = read(g->console_fd, g->buf + g->len,
			 sizeof(g->buf) - 1 - g->len);
	char *nl;

	if (n < 0 && (errno == EAGAIN || errno == EINTR))
		return;
	if (n <= 0) {
		close(g->console_fd);
		g->console_fd = -1;
		return;
	}
	g->len += (size_t)n;
	g->buf[g->len] = 0;
	while ((nl = memchr(g->buf, '\n', g->len))) {
		*nl = 0;
		if (!g->overlong)
			ours_line(f, g, g->buf);
		g->overlong = false;
		g->len -= (size_t)(nl + 1 - g->buf);
		memmove(g->buf, nl + 1, g->len);
	}
	/* A line longer than the buffer is nobody's: drop it up to its end
	 * (its tail is no line of its own). */
	if (g->len == sizeof(g->buf) - 1) {
		g->overlong = true;
		g->len = 0;
	}
}

static void linux_serve(struct fleet *f, struct fleet_guest *g)
{
	char line[256];
	int err;

	if (g->console_gone || !guest_running(g))
		return;
	while ((err = uml_guest_wait_line(g->uml, "gmm-", line, sizeof(line),
					  1)) == 0) {
		if (!strcmp(line, "gmm-ready") &&
		    g->info.state == FLEET_STARTING) {
			if (!uml_guest_balloon_loaded(g->uml)) {
				guest_kill(g);
				guest_end(f, g, FLEET_EXITED,
					  "its virtio_balloon driver did not load");
				return;
			}
			g->info.state = FLEET_ALIVE;
			g->next_cycle_at = fleet_now(f) + FLEET_SETTLE_S +
					   g->start_delay_ms / 1e3;
		} else if ((!strncmp(line, "gmm-memhog freed", 16) ||
			    !strncmp(line, "gmm-done ", 9)) && g->in_memhog) {
			/* "gmm-done" without "freed": memhog failed (the
			 * guest's own OOM killer took it); the cycle ends. */
			g->in_memhog = false;
			g->info.cycles++;
			g->next_cycle_at = fleet_now(f) + g->idle_ms / 1e3;
		}
	}
	if (err == -EPIPE) {
		g->console_gone = true;
		return;
	}
	if (g->info.state == FLEET_STARTING && fleet_now(f) > g->boot_deadline) {
		guest_kill(g);
		guest_end(f, g, FLEET_EXITED, "did not boot within %.0f s",
			  fleet_boot_s(f));
		return;
	}
	if (g->info.state == FLEET_ALIVE && !g->in_memhog &&
	    fleet_now(f) >= g->next_cycle_at) {
		char cmd[64];

		snprintf(cmd, sizeof(cmd), "memhog %" PRIu64 " %u",
			 (g->info.mem_bytes / 100 * f->cfg.hog_pct) >> 20,
			 f->cfg.hold_ms);
		if (!uml_guest_send(g->uml, cmd))
			g->in_memhog = true;
	}
}

/* A QEMU guest: its console and QMP (fleet_qemu_serve()), its boot's
 * deadline; its end is reaped as any guest's.  Served past its end too,
 * until QEMU's console closes: its memory is released then. */
static void qemu_serve(struct fleet *f, struct fleet_guest *g)
{
	if (fleet_qemu_serve(g->qemu) < 0 || !guest_running(g))
		return;
	if (g->info.state == FLEET_STARTING && fleet_now(f) > g->boot_deadline) {
		guest_kill(g);
		guest_end(f, g, FLEET_EXITED, "did not boot within %.0f s",
			  fleet_boot_s(f));
	}
}

/* Reap @g if it has ended, and say how. */
static void guest_reap(struct fleet *f, struct fleet_guest *g)
{
	int status;
	pid_t r;

	if (g->reaped || g->info.pid <= 0)
		return;
	r = waitpid(g->info.pid, &status, WNOHANG);
	if (r == 0 || (r < 0 && errno == EINTR))
		return;
	g->reaped = true; /* a Linux guest's keeper ended its kernel's group */
	if (r < 0) {
		guest_end(f, g, FLEET_EXITED, "lost (waitpid: %s)", strerror(errno));
		return;
	}
	if (g->cg.path[0] && memcg_oom_kills(&g->cg) > g->oom_seen) {
		char st[160];

		budget_state(f, st, sizeof(st));
		guest_end(f, g, FLEET_KILLED, "the kernel's OOM killer, %s", st);
	} else if (WIFEXITED(status) && WEXITSTATUS(status) == 126 &&
		   g->info.state == FLEET_STARTING) {
		guest_end(f, g, FLEET_EXITED, "could not join its cgroup %s",
			  g->cg.path);
	} else {
		char how[64];

		/* The same words as run's (run_describe_end()). */
		guest_end(f, g, FLEET_EXITED, "%s",
			  run_describe_end(status, how, sizeof(how)));
	}
}

static void guest_sample(struct fleet_guest *g)
{
	struct balloon_stats st;

	balloon_get_stats(g->balloon, &st);
	g->info.resident_bytes = st.resident_bytes;
	g->info.reports = st.reports;
	g->info.balloon_bytes = (uint64_t)st.actual * 4096;
	g->info.available_bytes =
		st.guest_stats_valid & (1u << VIRTIO_BALLOON_S_AVAIL)
			? st.guest_stats[VIRTIO_BALLOON_S_AVAIL] : 0;
	if (st.resident_bytes > g->info.resident_peak)
		g->info.resident_peak = st.resident_bytes;
}

/*
 * The balloon policy's round (runner/budget_policy.h): the budget's state
 * and each guest's into the controller, its targets onto the devices, an
 * event and a line for each.  @at_limit: the guests wait at the limit, or
 * the host's accounting is over it.
 * Return: the guest the controller says must go (why in *@why), or NULL.
 */
static struct fleet_guest *policy_round(struct fleet *f, uint64_t usage,
					bool at_limit, const char **why)
{
	struct bp_input *in = &f->bp_in;
	uint64_t updates[FLEET_MAX_GUESTS];
	struct bp_output out;

	*in = (struct bp_input){ .usage = usage, .limit = f->cfg.budget,
				.at_limit = at_limit, .n = f->n };
	for (unsigned int i = 0; i < f->n; i++) {
		struct fleet_guest *g = f->g[i];
		struct balloon_stats st;
		bool avail;

		balloon_get_stats(g->balloon, &st);
		avail = st.connected && g->info.state == FLEET_ALIVE &&
			(st.guest_stats_valid & (1u << VIRTIO_BALLOON_S_AVAIL));
		updates[i] = st.guest_stats_updates;
		/* A guest with no statistics yet is never decided on, but it
		 * holds memory: it can be the victim. */
		in->g[i] = (struct bp_guest){
			.running = guest_running(g),
			/* Two reports after the last move: the first may have
			 * been sent while the balloon was still moving. */
			.fresh = avail && st.guest_stats_updates > g->decided_updates + 1,
			.pinned = st.target_pinned,
			.ram = g->info.mem_bytes,
			.available = avail ? st.guest_stats[VIRTIO_BALLOON_S_AVAIL] : 0,
			.balloon = (uint64_t)st.actual * 4096,
			.target = (uint64_t)st.num_pages * 4096,
			.resident = st.resident_bytes,
		};
	}
	bp_decide(&f->bp, in, &out);
	for (unsigned int i = 0; i < f->n; i++) {
		struct fleet_guest *g = f->g[i];
		const struct bp_guest *bg = &in->g[i];
		bool up = out.target[i] > bg->target;
		char data[512], a[32], b[32], u[32], l[32];

		if (out.why[i] == BP_KEEP || out.target[i] == bg->target)
			continue;
		/* Refused when the operator pinned it since the read above. */
		if (balloon_set_target_unpinned(g->balloon, (uint32_t)(out.target[i] / 4096)))
			continue;
		g->decided_updates = updates[i];
		if (up) {
			g->info.inflates++;
			f->inflates++;
		} else {
			g->info.deflates++;
			f->deflates++;
		}
		fleet_log(f, "%s: balloon policy: %s its balloon to %s (available %s; budget usage %s of %s): %s",
			  g->info.name, up ? "inflate" : "deflate",
			  fmt_mib(a, sizeof(a), out.target[i]),
			  fmt_mib(b, sizeof(b), bg->available),
			  fmt_mib(u, sizeof(u), usage),
			  fmt_mib(l, sizeof(l), f->cfg.budget),
			  bp_reason_name(out.why[i]));
		snprintf(data, sizeof(data),
			 "{\"guest\":\"%s\",\"balloon\":%" PRIu64 ",\"actual\":%" PRIu64
			 ",\"available\":%" PRIu64 ",\"usage\":%" PRIu64
			 ",\"limit\":%" PRIu64 ",\"reason\":\"%s\"}",
			 g->info.name, out.target[i],
			 bg->ram > out.target[i] ? bg->ram - out.target[i] : 0,
			 bg->available, usage, f->cfg.budget,
			 bp_reason_name(out.why[i]));
		fleet_event(f, up ? "BUDGET_INFLATE" : "BUDGET_DEFLATE", data);
	}
	if (out.kill < 0)
		return NULL;
	*why = bp_kill_reason_name(out.kill_why);
	return f->g[out.kill];
}

/*
 * The budget.  With a cgroup the kernel enforces it: a guest whose cgroup
 * counts an OOM kill is ended whole (a Linux guest whose kernel lost a
 * userspace process would limp on).  Without one, the host does: over the
 * budget by its own accounting, the guest with the most resident memory
 * goes (the newest of equals: it had the least time to be useful).
 */
static void budget_check(struct fleet *f)
{
	char st[160], a[32], b[32], c[32];
	const char *pwhy = "";

	if (f->budget.path[0]) {
		for (unsigned int i = 0; i < f->n; i++) {
			struct fleet_guest *g = f->g[i];

			if (!guest_running(g) || !g->cg.path[0] ||
			    memcg_oom_kills(&g->cg) <= g->oom_seen)
				continue;
			guest_kill(g);
			budget_state(f, st, sizeof(st));
			guest_end(f, g, FLEET_KILLED,
				  "the kernel's OOM killer, %s", st);
		}
		if (!f->host_picks) {
			/* v2: the kernel's OOM killer holds the limit; the
			 * policy only keeps the usage below it. */
			if (f->cfg.policy == FLEET_POLICY_BALLOON)
				policy_round(f, memcg_usage(&f->budget), false, &pwhy);
			return;
		}
		/*
		 * v1 with the kernel's OOM killer off.  A killed guest's
		 * memory stays charged until its device drops its mapping
		 * of the guest's memory file; the kernel, not knowing,
		 * would kill the next guest and the next in that window
		 * (it took all three of three guests in a budget for two).
		 * So the host kills one guest at a time, and only once the
		 * last one's memory has been released (its device holds
		 * none, or 5 s have passed).
		 */
		if (f->releasing) {
			guest_sample(f->releasing);
			if (f->releasing->info.resident_bytes &&
			    fleet_now(f) - f->releasing_since < 5.0)
				return;
			f->releasing = NULL;
		}
		if (f->cfg.policy == FLEET_POLICY_BALLOON) {
			struct fleet_guest *victim =
				policy_round(f, memcg_usage(&f->budget),
					     memcg_under_oom(&f->budget), &pwhy);

			if (!victim)
				return;
			guest_sample(victim);
			budget_state(f, st, sizeof(st));
			guest_kill(victim);
			guest_end(f, victim, FLEET_KILLED,
				  "the budget's cgroup was at its limit (%s, under_oom); balloon policy: %s; "
				  "it had the most resident memory, %s",
				  st, pwhy, fmt_mib(c, sizeof(c), victim->info.resident_bytes));
			f->releasing = victim;
			f->releasing_since = fleet_now(f);
			return;
		}
		if (!memcg_under_oom(&f->budget))
			return;
		{
			struct fleet_guest *victim = NULL;

			for (unsigned int i = 0; i < f->n; i++) {
				struct fleet_guest *g = f->g[i];

				if (!guest_running(g))
					continue;
				guest_sample(g);
				if (!victim || g->info.resident_bytes >=
						       victim->info.resident_bytes)
					victim = g;
			}
			if (!victim)
				return;
			guest_kill(victim);
			budget_state(f, st, sizeof(st));
			guest_end(f, victim, FLEET_KILLED,
				  "the budget's cgroup was at its limit (%s, under_oom); "
				  "it had the most resident memory, %s",
				  st, fmt_mib(c, sizeof(c), victim->info.resident_bytes));
			f->releasing = victim;
			f->releasing_since = fleet_now(f);
		}
		return;
	}
	for (;;) {
		struct fleet_guest *victim = NULL;
		uint64_t sum = 0;

		for (unsigned int i = 0; i < f->n; i++) {
			struct fleet_guest *g = f->g[i];

			if (!guest_running(g))
				continue;
			guest_sample(g);
			sum += g->info.resident_bytes;
			if (!victim || g->info.resident_bytes >=
					       victim->info.resident_bytes)
				victim = g;
		}
		if (f->cfg.policy == FLEET_POLICY_BALLOON) {
			/* One round a check: a kill's memory is gone by the next. */
			victim = policy_round(f, sum, sum > f->cfg.budget, &pwhy);
			if (!victim)
				return;
			guest_kill(victim);
			guest_end(f, victim, FLEET_KILLED,
				  "own accounting: the guests' resident %s over the budget of %s; "
				  "balloon policy: %s; it had the most, %s",
				  fmt_mib(a, sizeof(a), sum),
				  fmt_mib(b, sizeof(b), f->cfg.budget), pwhy,
				  fmt_mib(c, sizeof(c), victim->info.resident_bytes));
			return;
		}
		if (sum <= f->cfg.budget || !victim)
			return;
		guest_kill(victim);
		guest_end(f, victim, FLEET_KILLED,
			  "own accounting: the guests' resident %s over the budget of %s; "
			  "it had the most, %s",
			  fmt_mib(a, sizeof(a), sum),
			  fmt_mib(b, sizeof(b), f->cfg.budget),
			  fmt_mib(c, sizeof(c), victim->info.resident_bytes));
	}
}

int fleet_poll(struct fleet *f, int timeout_ms)
{
	struct pollfd p[FLEET_MAX_GUESTS];
	struct fleet_guest *pg[FLEET_MAX_GUESTS];
	unsigned int np = 0, ended = 0, running = fleet_alive(f);
	bool any_linux = false;

	for (unsigned int i = 0; i < f->n; i++) {
		struct fleet_guest *g = f->g[i];

		if (g->uml && guest_running(g))
			any_linux = true;
		if (g->console_fd < 0)
			continue;
		p[np] = (struct pollfd){ .fd = g->console_fd, .events = POLLIN };
		pg[np++] = g;
	}
	/* Linux consoles are read below, a few ms each: poll less long. */
	if (any_linux && timeout_ms > 20)
		timeout_ms = 20;
	if (np) {
		if (poll(p, np, timeout_ms) > 0)
			for (unsigned int i = 0; i < np; i++)
				if (p[i].revents)
					ours_read(f, pg[i]);
	} else if (timeout_ms > 0) {
		struct timespec ts = { timeout_ms / 1000,
				       (timeout_ms % 1000) * 1000000L };

		nanosleep(&ts, NULL);
	}
	for (unsigned int i = 0; i < f->n; i++)
		if (f->g[i]->qemu)
			qemu_serve(f, f->g[i]);
		else if (f->g[i]->uml)
			linux_serve(f, f->g[i]);
	if (fleet_now(f) >= f->next_check) {
		budget_check(f);
		f->next_check = fleet_now(f) + FLEET_CHECK_S;
	}
	for (unsigned int i = 0; i < f->n; i++) {
		guest_reap(f, f->g[i]);
		guest_sample(f->g[i]);
	}
	ended = running - fleet_alive(f);
	return (int)ended;
}

void fleet_guest(struct fleet *f, unsigned int i, struct fleet_guest_info *gi)
{
	*gi = f->g[i]->info;
}

struct balloon_dev *fleet_guest_balloon(struct fleet *f, unsigned int i)
{
	return f->g[i]->balloon;
}

const char *fleet_dir(const struct fleet *f)
{
	return f->dir.path;
}

void fleet_budget(struct fleet *f, struct fleet_budget_info *b)
{
	*b = (struct fleet_budget_info){
		.cgroup = f->budget.path[0] != '\0',
		.cgroup_version = (int)f->budget.version,
		.limit = f->cfg.budget,
		.budget_kills = f->budget_kills,
		.policy = f->cfg.policy,
		.inflates = f->inflates,
		.deflates = f->deflates,
	};
	snprintf(b->how, sizeof(b->how), "%s", f->how);
	if (b->cgroup) {
		uint64_t sum = 0;

		b->usage = memcg_usage(&f->budget);
		b->oom_kills = memcg_oom_kills(&f->budget);
		/* v1 counts a kill in the victim's cgroup only: add the
		 * guests' up (v2 counts it in every ancestor too). */
		for (unsigned int i = 0; i < f->n; i++)
			if (f->g[i]->cg.path[0])
				sum += memcg_oom_kills(&f->g[i]->cg);
		if (sum > b->oom_kills)
			b->oom_kills = sum;
		return;
	}
	for (unsigned int i = 0; i < f->n; i++)
		if (guest_running(f->g[i]))
			b->usage += f->g[i]->info.resident_bytes;
}

void fleet_destroy(struct fleet *f)
{
	bool busy;

	if (!f)
		return;
	for (unsigned int i = 0; i < f->n; i++)
		guest_kill(f->g[i]);
	for (unsigned int i = 0; i < f->n; i++) {
		struct fleet_guest *g = f->g[i];

		if (g->qemu) {
			fleet_qemu_destroy(g->qemu);
		} else if (g->uml) {
			/* Reaps the kernel's process unless we did. */
			uml_guest_destroy(g->uml, 0);
		} else if (!g->reaped && g->info.pid > 0) {
			while (waitpid(g->info.pid, NULL, 0) < 0 && errno == EINTR)
				;
		}
		if (g->console_fd >= 0)
			close(g->console_fd);
	}
	/*
	 * The devices' mappings and the guests' memory files go here.  A
	 * device thread left running (-EBUSY) still uses its balloon: the
	 * balloons then go with the process, as balloon_backend_stop() does.
	 */
	busy = vhost_user_server_destroy(f->srv) != 0;
	for (unsigned int i = 0; i < f->n; i++) {
		struct fleet_guest *g = f->g[i];

		if (!busy)
			balloon_destroy(g->balloon);
		memcg_destroy(&g->cg);
		free(g);
	}
	memcg_destroy(&f->budget);
	tmp_dir_destroy(&f->dir);
	free(f);
}
