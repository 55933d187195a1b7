/*
 * overcommit.c - `guestmm overcommit`: how many guests a host budget holds,
 * with free page reporting and without (seed 002's experiment).
 *
 * A fleet (runner/fleet.h) under a budget of --host-mem: guests of
 * --guest-mem are launched one every --stagger-s, each running memhog in
 * cycles (allocate --hog-pct of its RAM, hold it --hold-ms, free it, idle).
 * Their idle time is chosen so that a cycle lasts about as long as the
 * launches of the whole cap, so the guests' peaks take turns instead of
 * meeting.  The run stops when the budget kills a guest (the count is of
 * the guests alive then, after a short settle) or, when it never does, at
 * the cap (--max-guests) after watching all of them for one more cycle.
 *
 * Without reporting a guest keeps every page it ever touched, so the
 * budget holds about host-mem / (hog + overhead) of them; with reporting
 * a guest gives back what it freed within about the report delay, and
 * the budget only has to hold the peaks that meet.  Every figure of
 * memory is the host's: the devices' accounting and the cgroup's usage.
 */
#define _GNU_SOURCE
#include <errno.h>
#include <getopt.h>
#include <inttypes.h>
#include <math.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "host/tmp_dir.h"
#include "runner/fleet.h"
#include "tools/cli.h"
#include "tools/commands.h"

/* After a budget kill, watch this long before counting (a kill can take
 * a second guest with it while the first's memory is still mapped). */
#define OC_SETTLE_S 2.0
/* A guest's alloc phase, roughly, for the idle time (first touches of
 * memfd pages cost ~10 us each here). */
#define OC_ALLOC_EST_MS 1500
#define OC_MAX_SAMPLES 4096
/* A first cycle on a shared, loaded machine can take minutes. */
#define OC_FIRST_CYCLE_S 600.0

struct oc_opts {
	uint64_t host_mem, guest_mem;
	enum fleet_kind kind;
	int reporting; /* 0 off, 1 on, 2 both */
	int policy;    /* enum fleet_policy, or 2: both (kill, then balloon) */
	bool until_end; /* --until end: kills do not stop the run */
	unsigned int max_guests;
	double stagger_s, observe_s;
	unsigned int hog_pct, hold_ms;
	const char *cgroup_root;
	const char *plot;
	const char *uml, *initrd;
	unsigned int boot_timeout_s;	/* 0: the fleet's default */
	bool json, quiet;
	FILE *live;		/* the per-second lines; NULL with --quiet */
};

/* Host-resident memory per guest, a sample a second, for the plot. */
struct oc_trace {
	unsigned int n;
	double t[OC_MAX_SAMPLES];
	uint64_t res[OC_MAX_SAMPLES][FLEET_MAX_GUESTS];
	uint64_t usage[OC_MAX_SAMPLES];
	/* The guests the budget killed, for the plot's markers. */
	unsigned int nr_kills;
	double kill_t[FLEET_MAX_GUESTS];
	char kill_name[FLEET_MAX_GUESTS][FLEET_NAME_MAX];
};

struct oc_result {
	bool reporting;
	enum fleet_policy policy;
	uint64_t kills;			/* by the budget, over the whole run */
	uint64_t inflates, deflates;	/* the balloon policy's decisions */
	unsigned int cycles;		/* memhog cycles, every guest's */
	uint64_t touched;		/* bytes memhog wrote, every guest's (ours) */
	double guest_s;			/* seconds of guests running, summed */
	unsigned int alive;		/* when the budget stopped one, or at
					   the cap */
	unsigned int alive_after;	/* at the end, after any further kills */
	unsigned int launched, failed;
	bool by_budget;			/* else the cap */
	char killed[FLEET_NAME_MAX];	/* the first the budget killed */
	char killed_why[200];
	double t_end;
	double cycle_s;			/* the first guest's first cycle */
	uint64_t peak_usage;
	uint64_t peak_resident_max;	/* the largest guest peak */
	char how[800];
	struct oc_trace *trace;
};

static atomic_bool interrupted;

static void on_signal(int sig)
{
	(void)sig;
	atomic_store(&interrupted, true);
}

static void oc_sample(struct fleet *f, struct oc_result *r)
{
	struct oc_trace *tr = r->trace;
	struct fleet_budget_info b;
	struct fleet_guest_info gi;

	fleet_budget(f, &b);
	if (b.usage > r->peak_usage)
		r->peak_usage = b.usage;
	if (!tr || tr->n >= OC_MAX_SAMPLES)
		return;
	tr->t[tr->n] = fleet_now(f);
	tr->usage[tr->n] = b.usage;
	for (unsigned int i = 0; i < fleet_count(f); i++) {
		fleet_guest(f, i, &gi);
		tr->res[tr->n][i] = gi.state == FLEET_ALIVE ? gi.resident_bytes : 0;
	}
	tr->n++;
}

/*
 * Poll @f for @seconds, a line and a sample a second.
 * Return: true when the budget killed a guest (or we were interrupted).
 */
static bool oc_watch(const struct oc_opts *o, struct fleet *f,
		     struct oc_result *r, double seconds, double *next_line)
{
	double end = fleet_now(f) + seconds;

	while (fleet_now(f) < end && !atomic_load(&interrupted)) {
		struct fleet_budget_info b;
		unsigned int before = fleet_alive(f);

		fleet_poll(f, 50);
		if (fleet_now(f) >= *next_line) {
			oc_sample(f, r);
			if (o->live) {
				/* The policy only when the runs compare them. */
				fprintf(o->live, "[%s%s%s] ", r->reporting ? "on " : "off",
					o->policy == 2 ? " " : "",
					o->policy == 2 ? fleet_policy_name(r->policy) : "");
				fleet_print_line(o->live, f, false);
			}
			*next_line += 1;
		}
		fleet_budget(f, &b);
		if (b.budget_kills && !o->until_end) {
			/* The budget held all but one of those running. */
			r->alive = before ? before - 1 : 0;
			return true;
		}
	}
	return atomic_load(&interrupted);
}

static int oc_run(const struct oc_opts *o, bool reporting,
		  enum fleet_policy policy, struct oc_result *r)
{
	struct fleet_config c;
	struct fleet *f;
	double next_line = 0;
	double period_s = o->max_guests * o->stagger_s;
	struct fleet_guest_info gi;
	unsigned int idle_ms;
	bool stop = false;
	int err;

	memset(r, 0, offsetof(struct oc_result, trace));
	r->reporting = reporting;
	r->policy = policy;
	idle_ms = period_s * 1e3 > o->hold_ms + OC_ALLOC_EST_MS + 1000
			  ? (unsigned int)(period_s * 1e3) - o->hold_ms - OC_ALLOC_EST_MS
			  : 1000;
	fleet_config_init(&c);
	c.budget = o->host_mem;
	c.cgroup_root = o->cgroup_root;
	c.reporting = reporting;
	c.policy = policy;
	c.hog_pct = o->hog_pct;
	c.hold_ms = o->hold_ms;
	c.idle_ms = idle_ms;
	c.uml = o->uml;
	c.initrd = o->initrd;
	c.boot_timeout_s = o->boot_timeout_s;
	c.log = o->quiet ? NULL : stderr;
	err = fleet_create(&c, &f);
	if (err) {
		fprintf(stderr, "guestmm: overcommit: cannot start a host: %s\n",
			strerror(-err));
		return 1;
	}
	{
		struct fleet_budget_info b;

		fleet_budget(f, &b);
		snprintf(r->how, sizeof(r->how), "%s", b.how);
	}
	/*
	 * One after another: the next guest starts once the last has been
	 * through its first cycle (and a stagger has passed), so each first
	 * peak is alone however slow the machine; the first guest's cycle
	 * sets the idle time of the rest, so that their peaks keep taking
	 * turns, about two at a time.
	 */
	for (unsigned int i = 0; i < o->max_guests && !stop; i++) {
		double t0 = fleet_now(f);
		int idx = fleet_add(f, o->kind, o->guest_mem, 0);

		r->launched++;
		if (idx < 0) {
			fprintf(stderr, "guestmm: overcommit: cannot start guest %u: %s\n",
				i + 1, strerror(-idx));
			r->failed++;
			continue;
		}
		stop = oc_watch(o, f, r, o->stagger_s, &next_line);
		for (;;) {
			fleet_guest(f, (unsigned int)idx, &gi);
			if (stop || gi.cycles >= 1 || (gi.state != FLEET_ALIVE &&
						       gi.state != FLEET_STARTING))
				break;
			if (fleet_now(f) - t0 > OC_FIRST_CYCLE_S) {
				fprintf(stderr, "guestmm: overcommit: %s: no cycle within %.0f s; going on\n",
					gi.name, OC_FIRST_CYCLE_S);
				break;
			}
			stop = oc_watch(o, f, r, 0.5, &next_line);
		}
		if (i == 0 && gi.cycles >= 1) {
			double cycle = fleet_now(f) - t0;

			if (cycle < o->stagger_s)
				cycle = o->stagger_s;
			period_s = cycle * (o->max_guests > 2 ? o->max_guests / 2 : 1);
			r->cycle_s = cycle;
			fleet_set_idle(f, (unsigned int)(period_s * 1e3));
		}
	}
	if (!stop)
		stop = oc_watch(o, f, r, o->observe_s, &next_line);
	r->by_budget = stop && !atomic_load(&interrupted);
	if (r->by_budget) {
		unsigned int alive = r->alive;

		oc_watch(o, f, r, OC_SETTLE_S, &next_line);
		r->alive = alive;
	} else {
		r->alive = fleet_alive(f);
	}
	r->alive_after = fleet_alive(f);
	r->t_end = fleet_now(f);
	{
		struct fleet_budget_info b;

		fleet_budget(f, &b);
		r->kills = b.budget_kills;
		r->inflates = b.inflates;
		r->deflates = b.deflates;
	}
	for (unsigned int i = 0; i < fleet_count(f); i++) {
		fleet_guest(f, i, &gi);
		r->cycles += gi.cycles;
		r->touched += gi.touched_bytes;
		r->guest_s += (gi.state == FLEET_ALIVE || gi.state == FLEET_STARTING
				       ? r->t_end : gi.t_end) - gi.t_start;
		if (gi.resident_peak > r->peak_resident_max)
			r->peak_resident_max = gi.resident_peak;
		if (gi.state == FLEET_KILLED && !r->killed[0]) {
			snprintf(r->killed, sizeof(r->killed), "%s", gi.name);
			snprintf(r->killed_why, sizeof(r->killed_why), "%s", gi.why);
		}
		if (gi.state == FLEET_KILLED && r->trace) {
			struct oc_trace *tr = r->trace;

			tr->kill_t[tr->nr_kills] = gi.t_end;
			snprintf(tr->kill_name[tr->nr_kills], FLEET_NAME_MAX, "%s", gi.name);
			tr->nr_kills++;
		}
		if (gi.state == FLEET_EXITED)
			r->failed++;
	}
	fleet_destroy(f);
	return atomic_load(&interrupted) ? 1 : 0;
}

static void oc_summary(const struct oc_opts *o, const struct oc_result *r)
{
	char a[32];

	if (o->until_end) {
		printf("reporting %-3s, policy %-7s: %u %s guests alive at the end of %u launched "
		       "(%s of RAM each, budget %s); %" PRIu64 " killed by the budget; "
		       "%" PRIu64 " inflates, %" PRIu64 " deflates; memhog cycles %.2f per guest-minute",
		       r->reporting ? "on" : "off", fleet_policy_name(r->policy), r->alive_after,
		       fleet_kind_name(o->kind), r->launched,
		       cli_fmt_bytes(a, sizeof(a), (double)o->guest_mem),
		       cli_fmt_bytes((char[32]){ 0 }, 32, (double)o->host_mem), r->kills,
		       r->inflates, r->deflates,
		       r->guest_s > 0 ? r->cycles * 60.0 / r->guest_s : 0.0);
		/* Linux's memhog says only that a cycle ended, not what it held. */
		if (o->kind == FLEET_OURS)
			printf(", %.0f pages written per guest-second",
			       r->guest_s > 0 ? r->touched / 4096.0 / r->guest_s : 0.0);
		putchar('\n');
		if (r->failed)
			printf("  %u guest(s) ended for another reason (see above)\n", r->failed);
		return;
	}
	printf("reporting %-3s, policy %s: %u %s guests alive of %u launched (%s of RAM each, budget %s); ",
	       r->reporting ? "on" : "off", fleet_policy_name(r->policy), r->alive,
	       fleet_kind_name(o->kind),
	       r->launched, cli_fmt_bytes(a, sizeof(a), (double)o->guest_mem),
	       cli_fmt_bytes((char[32]){ 0 }, 32, (double)o->host_mem));
	if (r->by_budget)
		printf("the budget stopped the next one: it killed %s (%s); %u alive %.0f s later\n",
		       r->killed, r->killed_why, r->alive_after, OC_SETTLE_S);
	else
		printf("the budget stopped none: the cap of %u guests\n", o->max_guests);
	if (r->failed)
		printf("  %u guest(s) ended for another reason (see above)\n", r->failed);
}

/* A run's object: "on", "off", or with --budget-policy both "on_kill" ... */
static void oc_json_run(struct json *j, const struct oc_result *r, bool both,
			enum fleet_kind kind)
{
	char key[32];

	snprintf(key, sizeof(key), "%s%s%s", r->reporting ? "on" : "off",
		 both ? "_" : "", both ? fleet_policy_name(r->policy) : "");
	json_object(j, key);
	json_str(j, "budget_policy", fleet_policy_name(r->policy));
	json_u64(j, "budget_kills", r->kills);
	json_u64(j, "policy_inflates", r->inflates);
	json_u64(j, "policy_deflates", r->deflates);
	json_u64(j, "memhog_cycles", r->cycles);
	if (kind == FLEET_OURS) {
		json_u64(j, "memhog_written_bytes", r->touched);
		json_double(j, "pages_written_per_guest_s",
			    r->guest_s > 0 ? r->touched / 4096.0 / r->guest_s : 0.0);
	}
	json_double(j, "guest_seconds", r->guest_s);
	json_u64(j, "guests_alive", r->alive);
	json_u64(j, "guests_alive_at_end", r->alive_after);
	json_u64(j, "guests_launched", r->launched);
	json_u64(j, "guests_failed", r->failed);
	json_str(j, "stopped_by", r->by_budget ? "budget" : "cap");
	json_str(j, "killed", r->killed);
	json_str(j, "killed_why", r->killed_why);
	json_u64(j, "budget_peak_usage_bytes", r->peak_usage);
	json_u64(j, "guest_resident_peak_bytes", r->peak_resident_max);
	json_double(j, "duration_s", r->t_end);
	json_double(j, "first_cycle_s", r->cycle_s);
	json_str(j, "budget_how", r->how);
	json_object_end(j);
}

/*
 * gnuplot: host-resident memory per guest against time, a panel per run,
 * both on one scale (the longer run's seconds, the larger of the budget
 * and the peak usage), the budget a dashed line, each guest the budget
 * killed a dotted vertical line with its name, the key below the panels.
 */
static int oc_plot(const char *png, const struct oc_opts *o,
		   const struct oc_result *runs, unsigned int n)
{
	double tmax = 1, xmax, ymax = (double)o->host_mem / (1 << 20);
	char dat[n][TMP_DIR_PATH_MAX + 16];
	struct tmp_dir dir;
	int err = tmp_dir_create(&dir, "plot");
	FILE *g;

	if (err)
		return err;
	for (unsigned int k = 0; k < n; k++) {
		const struct oc_trace *tr = runs[k].trace;
		FILE *d;

		if (runs[k].t_end > tmax)
			tmax = runs[k].t_end;
		if ((double)runs[k].peak_usage / (1 << 20) > ymax)
			ymax = (double)runs[k].peak_usage / (1 << 20);
		snprintf(dat[k], sizeof(dat[k]), "%s/%u.dat", dir.path, k);
		d = fopen(dat[k], "w");
		if (!d) {
			err = -errno;
			tmp_dir_destroy(&dir);
			return err;
		}
		for (unsigned int s = 0; s < tr->n; s++) {
			fprintf(d, "%.1f %.1f", tr->t[s], (double)tr->usage[s] / (1 << 20));
			for (unsigned int i = 0; i < runs[k].launched; i++)
				fprintf(d, " %.1f", (double)tr->res[s][i] / (1 << 20));
			fputc('\n', d);
		}
		fclose(d);
	}
	g = popen("gnuplot 2>/dev/null", "w");
	if (!g) {
		err = -errno;
		tmp_dir_destroy(&dir);
		return err;
	}
	fprintf(g, "set terminal pngcairo size 1000,%u\nset output '%s'\n",
		420 * n, png);
	xmax = ceil(tmax / 10) * 10;
	fprintf(g, "set multiplot layout %u,1\nset grid\n"
		   "set key below horizontal\n"
		   "set xlabel 'seconds since the first guest started'\n"
		   "set ylabel 'MiB'\nset xrange [0:%.0f]\nset yrange [0:%.0f]\n",
		n, xmax, ceil(ymax * 1.1 / 100) * 100);
	for (unsigned int k = 0; k < n; k++) {
		const struct oc_result *r = &runs[k];
		const struct oc_trace *tr = r->trace;

		if (r->by_budget)
			fprintf(g, "set title \"reporting %s: %u guests held when the budget killed %s (%u alive %.0f s later; %u launched)\"\n",
				r->reporting ? "on" : "off", r->alive, r->killed,
				r->alive_after, OC_SETTLE_S, r->launched);
		else
			fprintf(g, "set title \"reporting %s: the cap, %u of %u guests alive, none killed\"\n",
				r->reporting ? "on" : "off", r->alive, r->launched);
		fputs("unset arrow\nunset label\n", g);
		for (unsigned int i = 0; i < tr->nr_kills; i++) {
			fprintf(g, "set arrow from %.1f, graph 0 to %.1f, graph 1 nohead dt 3 lw 2 lc rgb 'red'\n",
				tr->kill_t[i], tr->kill_t[i]);
			/* Beside the line (left of it in the last quarter, not
			 * to run off the panel), above the budget, stepped
			 * down so that kills close together stay readable. */
			bool late = tr->kill_t[i] > 0.75 * xmax;

			fprintf(g, "set label 'killed %s' at %.1f, graph %.2f %s tc rgb 'red'\n",
				tr->kill_name[i], tr->kill_t[i], 0.95 - 0.06 * (i % 3),
				late ? "right offset -0.5,0" : "left offset 0.5,0");
		}
		fprintf(g, "plot %.1f with lines dt 2 lw 2 lc rgb 'red' title 'budget (%.0f MiB)', "
			   "'%s' using 1:2 with lines lw 3 lc rgb 'black' title 'budget usage'",
			(double)o->host_mem / (1 << 20), (double)o->host_mem / (1 << 20), dat[k]);
		for (unsigned int i = 0; i < r->launched; i++)
			fprintf(g, ", '' using 1:%u with lines %s", i + 3,
				i ? "notitle" : "title 'host-resident, a line per guest'");
		fputc('\n', g);
	}
	fputs("unset multiplot\n", g);
	int rc = pclose(g);

	tmp_dir_destroy(&dir);
	return rc == 0 ? 0 : -EIO;
}

static void oc_usage(FILE *f)
{
	fputs("Usage: guestmm overcommit [OPTION]...\n"
	      "How many guests fit in a host's memory budget, with free page reporting\n"
	      "and without.  Guests run under a budget of --host-mem (a memory cgroup\n"
	      "around them; the host's own accounting where none can be made), each\n"
	      "running memhog in cycles: allocate --hog-pct of its RAM, hold it --hold-ms,\n"
	      "free it, idle.  They are launched one after another: the next once the\n"
	      "last has been through its first cycle and --stagger-s have passed.  The\n"
	      "first guest's cycle sets the others' idle time (the cap / 2 cycles), so\n"
	      "that their peaks take turns, about two at a time.  The count is of the\n"
	      "guests the budget held when it killed one (stopping the next), or, if it\n"
	      "never does, of those alive at the cap after --observe-s more.  A line a\n"
	      "second: the budget's usage and each guest's host-resident memory (its\n"
	      "device's accounting).\n"
	      "\n"
	      "  --guest ours|linux   our guest runtime as a process (default) or a\n"
	      "                       user-mode Linux guest\n"
	      "  --reporting on|off|both  (default both: off, then on)\n"
	      "  --budget-policy balloon|kill|both  what the host does at the budget,\n"
	      "                       as guestmm host's (default balloon; both: kill,\n"
	      "                       then balloon, for each --reporting)\n"
	      "  --until first-kill|end  stop at the budget's first kill (default), or\n"
	      "                       launch the whole cap whatever the kills and count\n"
	      "                       the guests alive and killed after --observe-s more\n"
	      "  --host-mem SIZE      the budget, at least 64M (default 1G; linux: 768M)\n"
	      "  --guest-mem SIZE     each guest's RAM, 64M to 64G in steps of 4M\n"
	      "                       (default 256M; linux: 256M: a\n"
	      "                       128M Linux guest cannot hold a 96M memhog beside\n"
	      "                       its ~50M kernel and initramfs)\n"
	      "  --max-guests N       the cap (default 16; linux: 6)\n"
	      "  --stagger-s S        at least this between launches (default 2; linux: 5)\n"
	      "  --observe-s S        at the cap, watch this long (default 60; 0: not)\n"
	      "  --hog-pct N          memhog's share of guest RAM (default 75)\n"
	      "  --hold-ms MS         how long memhog holds it (default 1000)\n"
	      "  --cgroup-root DIR    memory cgroup hierarchy for the budget; 'none': the\n"
	      "                       host's own accounting\n"
	      "  --plot FILE.png      host-resident memory per guest over time (gnuplot)\n"
	      "  --uml PATH, --initrd PATH  the Linux guest's kernel and initramfs\n"
	      "                       (--guest linux only)\n"
	      "  --boot-timeout S     --guest linux: how long a boot may take (default\n"
	      "                       240: many guests boot on a shared machine)\n"
	      "  --json               one JSON object at the end: guests_alive (with both:\n"
	      "                       guests_alive_on, guests_alive_off) and each run's\n"
	      "                       figures; the per-second lines go to stderr\n"
	      "  --quiet              no per-second lines\n"
	      "The defaults fit a 2-core host with 24 GiB: 16 guests of 256M (4G of guest\n"
	      "RAM) under a 1G budget, a few minutes for both runs on an idle machine.  CPU,\n"
	      "not memory, bounds the guest count: with reporting on every cycle\n"
	      "first-touches its memory again (~10 us a page here), and on a loaded\n"
	      "machine a cycle can take tens of seconds; nothing here times out before\n"
	      "10 minutes.\n",
	      f);
}

#define OC_ERR(...) cli_usage_error("overcommit ", __VA_ARGS__)

int cmd_overcommit(int argc, char **argv)
{
	enum { O_HOST_MEM = 256, O_GUEST_MEM, O_REPORTING, O_GUEST, O_MAX,
	       O_STAGGER, O_OBSERVE, O_HOG_PCT, O_HOLD, O_CGROUP_ROOT, O_PLOT,
	       O_UML, O_INITRD, O_JSON, O_QUIET, O_BOOT_TIMEOUT, O_POLICY, O_UNTIL };
	static const struct option opts[] = {
		{ "host-mem", required_argument, NULL, O_HOST_MEM },
		{ "guest-mem", required_argument, NULL, O_GUEST_MEM },
		{ "reporting", required_argument, NULL, O_REPORTING },
		{ "guest", required_argument, NULL, O_GUEST },
		{ "max-guests", required_argument, NULL, O_MAX },
		{ "stagger-s", required_argument, NULL, O_STAGGER },
		{ "observe-s", required_argument, NULL, O_OBSERVE },
		{ "hog-pct", required_argument, NULL, O_HOG_PCT },
		{ "hold-ms", required_argument, NULL, O_HOLD },
		{ "cgroup-root", required_argument, NULL, O_CGROUP_ROOT },
		{ "plot", required_argument, NULL, O_PLOT },
		{ "uml", required_argument, NULL, O_UML },
		{ "initrd", required_argument, NULL, O_INITRD },
		{ "boot-timeout", required_argument, NULL, O_BOOT_TIMEOUT },
		{ "budget-policy", required_argument, NULL, O_POLICY },
		{ "until", required_argument, NULL, O_UNTIL },
		{ "json", no_argument, NULL, O_JSON },
		{ "quiet", no_argument, NULL, O_QUIET },
		{ "help", no_argument, NULL, 'h' },
		{ NULL, 0, NULL, 0 },
	};
	struct oc_opts o = { .reporting = 2, .hog_pct = 75, .hold_ms = 1000,
			     .observe_s = 60 };
	struct sigaction sa = { .sa_handler = on_signal };
	struct oc_result runs[4];
	unsigned int nruns = 0;
	bool set_stagger = false, set_max = false;
	uint64_t v;
	int c, rc = 0;

	optind = 1;
	opterr = 0;
	while ((c = getopt_long(argc, argv, ":h", opts, NULL)) != -1) {
		switch (c) {
		case O_HOST_MEM:
			o.host_mem = cli_opt_size("overcommit ", "--host-mem", optarg,
						  64ull << 20, 16ull << 40,
						  CLI_SIZE_STEP_DEFAULT);
			break;
		case O_GUEST_MEM:
			/* Our guests' zones want whole 4 MiB blocks. */
			o.guest_mem = cli_opt_size("overcommit ", "--guest-mem", optarg,
						   64ull << 20, 64ull << 30,
						   4ull << 20);
			break;
		case O_REPORTING:
			if (!strcmp(optarg, "both"))
				o.reporting = 2;
			else if (!strcmp(optarg, "on"))
				o.reporting = 1;
			else if (!strcmp(optarg, "off"))
				o.reporting = 0;
			else
				OC_ERR("--reporting: '%s' is not on, off or both", optarg);
			break;
		case O_POLICY:
			if (!strcmp(optarg, "balloon"))
				o.policy = FLEET_POLICY_BALLOON;
			else if (!strcmp(optarg, "kill"))
				o.policy = FLEET_POLICY_KILL;
			else if (!strcmp(optarg, "both"))
				o.policy = 2;
			else
				OC_ERR("--budget-policy: '%s' is not balloon, kill or both", optarg);
			break;
		case O_UNTIL:
			if (!strcmp(optarg, "end"))
				o.until_end = true;
			else if (!strcmp(optarg, "first-kill"))
				o.until_end = false;
			else
				OC_ERR("--until: '%s' is not first-kill or end", optarg);
			break;
		case O_GUEST:
			if (!strcmp(optarg, "ours"))
				o.kind = FLEET_OURS;
			else if (!strcmp(optarg, "linux"))
				o.kind = FLEET_LINUX;
			else
				OC_ERR("--guest: '%s' is not ours or linux", optarg);
			break;
		case O_MAX:
			if (cli_parse_uint(optarg, 1, FLEET_MAX_GUESTS, &v))
				OC_ERR("--max-guests: '%s' is not 1 to %d", optarg, FLEET_MAX_GUESTS);
			o.max_guests = (unsigned int)v;
			set_max = true;
			break;
		case O_STAGGER:
			if (cli_parse_uint(optarg, 1, 600, &v))
				OC_ERR("--stagger-s: '%s' is not 1 to 600", optarg);
			o.stagger_s = (double)v;
			set_stagger = true;
			break;
		case O_OBSERVE:
			if (cli_parse_uint(optarg, 0, 3600, &v))
				OC_ERR("--observe-s: '%s' is not 0 to 3600", optarg);
			o.observe_s = (double)v;
			break;
		case O_HOG_PCT:
			if (cli_parse_uint(optarg, 1, 95, &v))
				OC_ERR("--hog-pct: '%s' is not 1 to 95", optarg);
			o.hog_pct = (unsigned int)v;
			break;
		case O_HOLD:
			if (cli_parse_uint(optarg, 0, 600000, &v))
				OC_ERR("--hold-ms: '%s' is not 0 to 600000", optarg);
			o.hold_ms = (unsigned int)v;
			break;
		case O_CGROUP_ROOT:
			o.cgroup_root = optarg;
			break;
		case O_PLOT:
			o.plot = optarg;
			break;
		case O_UML:
			o.uml = optarg;
			break;
		case O_INITRD:
			o.initrd = optarg;
			break;
		case O_BOOT_TIMEOUT:
			if (cli_parse_uint(optarg, 1, 3600, &v))
				OC_ERR("--boot-timeout: '%s' is not 1 to 3600 seconds", optarg);
			o.boot_timeout_s = (unsigned int)v;
			break;
		case O_JSON:
			o.json = true;
			break;
		case O_QUIET:
			o.quiet = true;
			break;
		case 'h':
			oc_usage(stdout);
			return 0;
		default:
			cli_option_error("overcommit ", opts, c, argv);
		}
	}
	if (optind < argc)
		OC_ERR("unexpected argument '%s'", argv[optind]);
	if ((o.uml || o.initrd || o.boot_timeout_s) && o.kind != FLEET_LINUX)
		OC_ERR("%s: only with --guest linux",
		       o.uml ? "--uml" : o.initrd ? "--initrd" : "--boot-timeout");
	if (o.uml)
		cli_check_path("overcommit ", "--uml", o.uml, true);
	if (o.initrd)
		cli_check_path("overcommit ", "--initrd", o.initrd, false);
	if (o.plot)
		cli_check_output("overcommit ", "--plot", o.plot);
	if (o.kind == FLEET_LINUX) {
		o.host_mem = o.host_mem ? o.host_mem : 768ull << 20;
		o.guest_mem = o.guest_mem ? o.guest_mem : 256ull << 20;
		o.max_guests = set_max ? o.max_guests : 6;
		o.stagger_s = set_stagger ? o.stagger_s : 5;
	} else {
		o.host_mem = o.host_mem ? o.host_mem : 1ull << 30;
		o.guest_mem = o.guest_mem ? o.guest_mem : 256ull << 20;
		o.max_guests = set_max ? o.max_guests : 16;
		o.stagger_s = set_stagger ? o.stagger_s : 2;
	}
	if (o.host_mem < o.guest_mem)
		OC_ERR("--host-mem: smaller than one guest's RAM (--guest-mem)");
	/* With --json the live lines go to stderr, as run's do. */
	o.live = o.quiet ? NULL : o.json ? stderr : stdout;
	cli_check_nofile_guests("overcommit", o.max_guests);
	cli_check_tmpdir("overcommit");
	sigaction(SIGINT, &sa, NULL);
	sigaction(SIGTERM, &sa, NULL);
	sigaction(SIGHUP, &sa, NULL);
	signal(SIGPIPE, SIG_IGN);

	for (int rep = 0; rep <= 1 && !rc; rep++) {
		if (o.reporting != 2 && o.reporting != rep)
			continue;
		/* Kill first: the balloon policy's run is the one compared. */
		for (int pol = FLEET_POLICY_KILL; pol >= FLEET_POLICY_BALLOON && !rc; pol--) {
			if (o.policy != 2 && o.policy != pol)
				continue;
			runs[nruns].trace = o.plot ? calloc(1, sizeof(struct oc_trace)) : NULL;
			rc = oc_run(&o, rep, (enum fleet_policy)pol, &runs[nruns]);
			if (!rc && !o.json)
				oc_summary(&o, &runs[nruns]);
			nruns++;
		}
	}
	if (!rc && o.plot) {
		int err = oc_plot(o.plot, &o, runs, nruns);

		if (err)
			fprintf(stderr, "guestmm: overcommit: no plot (gnuplot: %s)\n",
				strerror(-err));
		else if (!o.json)
			printf("plot: %s\n", o.plot);
	}
	if (!rc && nruns == 2 && o.policy != 2 && !o.json)
		printf("with reporting %u guests, without %u: %.2fx\n", runs[1].alive,
		       runs[0].alive,
		       runs[0].alive ? (double)runs[1].alive / runs[0].alive : INFINITY);
	for (unsigned int k = 0; !rc && o.policy == 2 && !o.json && k + 1 < nruns; k += 2) {
		unsigned int ak = o.until_end ? runs[k].alive_after : runs[k].alive;
		unsigned int ab = o.until_end ? runs[k + 1].alive_after : runs[k + 1].alive;

		printf("reporting %s: balloon policy %u guests alive, kill policy %u: %.2fx; "
		       "kills %" PRIu64 " against %" PRIu64 "\n",
		       runs[k].reporting ? "on" : "off", ab, ak,
		       ak ? (double)ab / ak : INFINITY, runs[k + 1].kills, runs[k].kills);
	}
	if (!rc && o.json) {
		struct json j;

		json_begin(&j, stdout);
		json_str(&j, "guest", fleet_kind_name(o.kind));
		json_u64(&j, "host_mem_bytes", o.host_mem);
		json_u64(&j, "guest_mem_bytes", o.guest_mem);
		json_u64(&j, "max_guests", o.max_guests);
		json_double(&j, "stagger_s", o.stagger_s);
		json_u64(&j, "hog_pct", o.hog_pct);
		json_u64(&j, "hold_ms", o.hold_ms);
		json_str(&j, "until", o.until_end ? "end" : "first-kill");
		if (nruns == 1) {
			json_u64(&j, "guests_alive", o.until_end ? runs[0].alive_after
								  : runs[0].alive);
		} else if (o.policy == 2) {
			for (unsigned int k = 0; k < nruns; k++) {
				char key[48];

				snprintf(key, sizeof(key), "guests_alive_%s_%s",
					 runs[k].reporting ? "on" : "off",
					 fleet_policy_name(runs[k].policy));
				json_u64(&j, key, o.until_end ? runs[k].alive_after
							       : runs[k].alive);
			}
		} else {
			json_u64(&j, "guests_alive_off", runs[0].alive);
			json_u64(&j, "guests_alive_on", runs[1].alive);
		}
		for (unsigned int k = 0; k < nruns; k++)
			oc_json_run(&j, &runs[k], o.policy == 2, o.kind);
		json_end(&j);
	}
	for (unsigned int k = 0; k < nruns; k++)
		free(runs[k].trace);
	return rc;
}
