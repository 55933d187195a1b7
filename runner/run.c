/*
 * run.c - the runner's common part and the in-process mode: settings, the
 * live line, the per-cycle figures every mode derives from its samples of
 * the host's accounting, and the loop that runs a workload on a guest in
 * this process (also what a process guest runs inside itself).
 */
#ifndef _GNU_SOURCE
#define _GNU_SOURCE
#endif
#include "runner/run.h"

#include <errno.h>
#include <math.h>
#include <signal.h>
#include <stdatomic.h>
#include <stdio.h>
#include <string.h>
#include <sys/resource.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "host/tmp_dir.h"
#include "runner/internal.h"

static const char *const workload_names[] = {
	[WORKLOAD_MEMHOG] = "memhog",
	[WORKLOAD_PAGEFAULT] = "pagefault",
	[WORKLOAD_STRESS] = "stress",
	[WORKLOAD_WORKING_SET] = "working-set",
};

static const char *const run_mode_names[] = {
	[RUN_PROCESS] = "process",
	[RUN_IN_PROCESS] = "in-process",
	[RUN_LINUX] = "linux",
	[RUN_QEMU] = "qemu",
};

const char *workload_name(enum workload_kind kind)
{
	return workload_names[kind];
}

const char *run_mode_name(enum run_mode mode)
{
	return run_mode_names[mode];
}

double run_now_s(void)
{
	return (double)platform_now_ns() / 1e9;
}

void run_sleep_s(double s)
{
	struct timespec ts;

	if (s <= 0)
		return;
	ts.tv_sec = (time_t)s;
	ts.tv_nsec = (long)((s - (double)ts.tv_sec) * 1e9);
	nanosleep(&ts, NULL);
}

void run_opts_init(struct run_opts *o)
{
	memset(o, 0, sizeof(*o));
	o->mode = RUN_PROCESS;
	gmm_guest_config_init(&o->cfg);
	o->kind = WORKLOAD_MEMHOG;
	o->cycles = 3;
	o->hold_ms = 500;
	o->sleep_ms = -1;
	o->seed = 1;
	o->sample_s = 0.05;
	o->lock = SPIN_LOCK_PVQ;
	o->poison = -1;
	o->stats_interval_s = -1;
	o->deflate_on_oom = -1;
}

/* "1.50 GiB" style; the runner's own, so that it needs nothing of tools/. */
static const char *fmt_bytes(char *buf, size_t len, double bytes)
{
	static const char *const unit[] = { "B", "KiB", "MiB", "GiB", "TiB" };
	unsigned int u = 0;

	while (bytes >= 1024 && u < 4) {
		bytes /= 1024;
		u++;
	}
	snprintf(buf, len, u ? "%.2f %s" : "%.0f %s", bytes, unit[u]);
	return buf;
}

void run_live_line(FILE *f, const struct run_sample *s)
{
	static const char *const phase[] = { "start", "allocating", "holding",
					     "freed" };
	char a[32], b[32], c[32], n[32];

	/*
	 * "reported" is the running total the device was told of, as in the
	 * JSON's reported_bytes and `guestmm host`'s lines; what is free and
	 * Reported at this moment is "held reported" (ours only: a Linux
	 * guest does not say).
	 */
	fprintf(f, "%7.1fs  guest free %11s  host resident %11s  reported %11s",
		s->t,
		s->guest_free == UINT64_MAX
			? "-"
			: fmt_bytes(a, sizeof(a), (double)s->guest_free),
		fmt_bytes(b, sizeof(b), (double)s->resident),
		s->host_reported == UINT64_MAX
			? "-"
			: fmt_bytes(c, sizeof(c), (double)s->host_reported));
	if (s->guest_reported != UINT64_MAX)
		fprintf(f, "  held reported %11s",
			fmt_bytes(n, sizeof(n), (double)s->guest_reported));
	if (s->kind == WORKLOAD_WORKING_SET && s->anon) {
		char d[32], e[32];

		fprintf(f, "  zswap %11s (%llu pages)  swap %11s  in/out %llu/%llu  %s%llu accesses",
			fmt_bytes(d, sizeof(d), (double)s->zswap_pool_bytes),
			(unsigned long long)s->zswap_stored_pages,
			fmt_bytes(e, sizeof(e), (double)s->swap_used_pages * PAGE_SIZE),
			(unsigned long long)s->pswpin, (unsigned long long)s->pswpout,
			s->filled ? "" : "filling, ", (unsigned long long)s->accesses);
	} else if (s->kind == WORKLOAD_MEMHOG)
		fprintf(f, "  cycle %u %s",
			s->cycle + (s->phase != MEMHOG_FREED),
			phase[s->phase & 3]);
	else if (s->kind == WORKLOAD_PAGEFAULT)
		fprintf(f, "  %llu frames", (unsigned long long)s->frames);
	else
		fprintf(f, "  %llu blocks verified",
			(unsigned long long)s->blocks);
	fputc('\n', f);
	fflush(f);
}

void run_say_killed(unsigned int id, uint64_t addr)
{
	fprintf(stderr, "guestmm: working-set: process %u killed (SIGBUS): its page at %#llx could not be read back from swap\n",
		id, (unsigned long long)addr);
}

uint64_t run_unreadable_pages(const struct run_result *r)
{
	return r->has_anon ? r->anon.events[SWAP_UNREADABLE] : 0;
}

/*
 * Working-set processes killed since the last look: each said once, by the
 * hook (a process guest tells its host) or here.  @said: one bit a thread.
 */
static void run_check_kills(struct workload *w, struct run_result *r,
			    const struct run_hooks *hooks,
			    uint64_t said[WORKLOAD_MAX_THREADS / 64])
{
	if (atomic_load(&w->killed) == r->killed)
		return;
	for (unsigned int id = 0; id < w->threads; id++) {
		uint64_t addr = atomic_load(&w->killed_addr[id]);

		if (!addr || (said[id / 64] >> (id % 64)) & 1)
			continue;
		said[id / 64] |= 1ull << (id % 64);
		r->killed++;
		if (hooks && hooks->on_kill)
			hooks->on_kill(hooks->ctx, id, addr);
		else
			run_say_killed(id, addr);
	}
}

/*
 * Cycle figures from one sample: a new cycle opens when the count moves;
 * while the guest sits freed, the host's accounting against what was
 * freed gives the returned fraction and the times to 90 and 95 %.
 */
void run_track(const struct run_opts *o, struct run_result *r,
	       const struct run_sample *s, unsigned int *seen_cycle)
{
	struct run_trace *tr = o->trace;

	if (s->resident > r->resident_peak)
		r->resident_peak = s->resident;
	/* A clock that restarted (a Linux guest's boot, then its workload):
	 * what came before is not this run's. */
	if (tr && tr->n && s->t < tr->t[tr->n - 1])
		tr->n = 0;
	if (tr && tr->n < tr->max) {
		tr->t[tr->n] = s->t;
		tr->resident[tr->n++] = s->resident;
	}
	if (s->cycle != *seen_cycle && s->cycle && s->cycle <= RUN_MAX_CYCLES) {
		struct run_cycle *c = &r->cycle[s->cycle - 1];

		/* Cycles passed over (the count is the guest's, and a short
		 * cycle can fall between two samples) were never measured:
		 * no time to 90 %, not 0 s. */
		for (unsigned int i = *seen_cycle; i + 1 < s->cycle; i++)
			r->cycle[i] = (struct run_cycle){
				.time_to_90pct_s = NAN,
				.time_to_95pct_s = NAN,
			};
		*seen_cycle = s->cycle;
		r->nr_cycles = s->cycle;
		c->freed_bytes = s->freed_bytes;
		c->resident_at_free = s->resident_at_free;
		c->time_to_90pct_s = NAN;
		c->time_to_95pct_s = NAN;
		c->resident_at_deadline = c->resident_at_free;
		c->resident_after = s->resident;
	}
	if (*seen_cycle && s->phase == MEMHOG_FREED && s->cycle == *seen_cycle) {
		struct run_cycle *c = &r->cycle[*seen_cycle - 1];
		double target = (double)c->resident_at_free -
				0.9 * (double)c->freed_bytes;
		double since = (double)(platform_now_ns() - s->freed_at_ns) / 1e9;

		c->resident_after = s->resident;
		if (tr && *seen_cycle == 1 && isnan(tr->t_free))
			tr->t_free = s->t - since;
		if (isnan(c->time_to_90pct_s) && (double)s->resident <= target)
			c->time_to_90pct_s = since;
		if (isnan(c->time_to_95pct_s) &&
		    (double)s->resident <= target - 0.05 * (double)c->freed_bytes)
			c->time_to_95pct_s = since;
		if (since <= o->cfg.report_delay_ms / 1e3 + 1.0)
			c->resident_at_deadline = s->resident;
	}
}

/* A sample of an in-process guest; @resident is the caller's. */
static void sample_in_process(struct run_sample *s, double t,
			      struct gmm_guest *g, struct workload *w,
			      uint64_t resident)
{
	struct gmm_guest_stats st;

	gmm_guest_get_stats(g, &st);
	*s = (struct run_sample){
		.t = t,
		.resident = resident,
		.guest_free = st.free_bytes,
		.guest_reported = st.reported_free_bytes,
		.host_reported = st.reported_bytes,
		.kind = w->kind,
		.cycle = atomic_load(&w->cycle),
		.phase = atomic_load(&w->phase),
		.freed_bytes = atomic_load(&w->last_freed_bytes),
		.freed_at_ns = atomic_load(&w->freed_at_ns),
		.resident_at_free = atomic_load(&w->resident_at_free),
		.frames = atomic_load(&w->frames),
		.blocks = atomic_load(&w->blocks),
	};
	if (w->kind == WORKLOAD_WORKING_SET && gmm_guest_pgdat(g)->lruvec) {
		struct anon_stats a;

		anon_get_stats(gmm_guest_pgdat(g), &a);
		s->anon = true;
		s->filled = atomic_load(&w->filled);
		s->accesses = atomic_load(&w->accesses);
		s->zswap_pool_bytes = a.zswap.pool_total_size;
		s->zswap_stored_pages = a.zswap.stored_pages;
		s->zswap_written_back = a.zswap.events[ZSWAP_WRITTEN_BACK_PAGES];
		s->swap_used_pages = a.swap_slots - a.swap_free;
		s->pswpin = a.events[PSWPIN];
		s->pswpout = a.events[PSWPOUT];
	}
}

/* Free blocks per order of each zone (at most two), all types together. */
static void run_buddyinfo(struct pglist_data *pgdat, uint64_t buddy[2][MAX_ORDER])
{
	drain_all_pages(pgdat);
	for (unsigned int z = 0; z < pgdat->nr_zones && z < 2; z++) {
		struct zone_stats st;

		zone_get_stats(&pgdat->node_zones[z], &st);
		for (unsigned int o = 0; o < MAX_ORDER; o++) {
			buddy[z][o] = 0;
			for (unsigned int mt = 0; mt < MIGRATE_TYPES; mt++)
				buddy[z][o] += st.free_blocks[o][mt];
		}
	}
}

/* `run --compact`: /proc/sys/vm/compact_memory, buddyinfo either side. */
static void run_compact(struct pglist_data *pgdat, struct run_result *r)
{
	double t0;

	run_buddyinfo(pgdat, r->buddy[0]);
	t0 = run_now_s();
	compact_node(pgdat, -1, &r->compact_res);
	r->compact_ms = (run_now_s() - t0) * 1e3;
	run_buddyinfo(pgdat, r->buddy[1]);
	r->compacted = true;
}

static double tv_s(const struct timeval *tv)
{
	return (double)tv->tv_sec + (double)tv->tv_usec / 1e6;
}

int run_workload(const struct run_opts *o, struct run_result *r,
		 struct gmm_guest *g, const struct run_hooks *hooks)
{
	struct workload w;
	double t0, next_live, duration = o->duration_s;
	uint64_t frames_at_warmup = 0;
	double t_warm = NAN;
	struct rusage ru0 = { 0 }, ru1;
	unsigned long parks0 = 0;
	unsigned int seen_cycle = 0;
	uint64_t kills_said[WORKLOAD_MAX_THREADS / 64] = { 0 };
	int err;

	workload_init(&w, o->kind, g);
	if (o->hog_bytes)
		w.bytes = o->hog_bytes;
	w.cycles = o->cycles;
	w.hold_ms = o->hold_ms;
	if (o->sleep_ms >= 0)
		w.sleep_ms = (unsigned int)o->sleep_ms;
	if (o->threads)
		w.threads = o->threads;
	w.seed = o->seed;
	w.ws_bytes = o->ws_bytes;
	w.max_accesses = o->accesses;
	w.zpool = o->zpool;
	if (hooks) {
		w.on_phase = hooks->on_phase;
		w.on_phase_ctx = hooks->ctx;
	}
	if (!duration && o->kind != WORKLOAD_MEMHOG && !o->accesses)
		duration = o->kind == WORKLOAD_WORKING_SET ? 20 : 10;
	r->mem_bytes = o->cfg.mem_bytes;
	if (o->free_timing)
		mm_free_timing_start(gmm_guest_pgdat(g), o->free_timing);
	err = workload_start(&w);
	if (err) {
		if (o->free_timing)
			mm_free_timing_stop(gmm_guest_pgdat(g));
		workload_fini(&w);
		r->error_said = w.error_said;
		return err;
	}
	t0 = run_now_s();
	next_live = 0;
	for (;;) {
		double t = run_now_s() - t0;
		struct run_sample s;

		sample_in_process(&s, t, g, &w,
				  gmm_guest_host_resident_bytes(g));
		/*
		 * page_fault1's warm-up lasts until its memory has been touched
		 * once (a round per thread): the host's first-touch faults of
		 * the memfd cost ~10 us each here and are not the allocator.
		 * A warm-up that ends only after the stop (it ran a minute
		 * past the duration) measured nothing: it stays unended.
		 */
		if (isnan(t_warm) && t >= o->warmup_s && !atomic_load(&w.stop) &&
		    (o->kind != WORKLOAD_PAGEFAULT || !o->warmup_s ||
		     s.frames >= (uint64_t)w.threads * (w.pf_bytes / PAGE_SIZE))) {
			t_warm = t;
			frames_at_warmup = s.frames;
			mm_lock_stats_reset(gmm_guest_pgdat(g));
			getrusage(RUSAGE_SELF, &ru0);
			parks0 = platform_park_count();
		}
		run_track(o, r, &s, &seen_cycle);
		run_check_kills(&w, r, hooks, kills_said);
		/* With track_discards: discarded memory back in use (churn). */
		gmm_guest_track_sample(g);
		if (hooks && hooks->on_sample)
			hooks->on_sample(hooks->ctx, &s);
		if (o->live && t >= next_live) {
			run_live_line(o->live, &s);
			next_live += 0.5;
		}
		if (!workload_running(&w) || (hooks && hooks->should_stop &&
					      hooks->should_stop(hooks->ctx)))
			break;
		/* The measured part lasts duration - warm-up, however long
		 * the warm-up took (at most a minute more). */
		if (duration &&
		    (isnan(t_warm) ? t >= duration + 60
				   : t - t_warm >= duration - fmin(o->warmup_s, duration)))
			atomic_store(&w.stop, true);
		run_sleep_s(o->sample_s);
	}
	atomic_store(&w.stop, true);
	workload_join(&w);
	run_check_kills(&w, r, hooks, kills_said);
	if (o->free_timing)
		mm_free_timing_stop(gmm_guest_pgdat(g));
	r->elapsed_s = run_now_s() - t0;
	getrusage(RUSAGE_SELF, &ru1);
	r->cpu_user_s = tv_s(&ru1.ru_utime) - tv_s(&ru0.ru_utime);
	r->cpu_sys_s = tv_s(&ru1.ru_stime) - tv_s(&ru0.ru_stime);
	r->vol_switches = (uint64_t)(ru1.ru_nvcsw - ru0.ru_nvcsw);
	r->invol_switches = (uint64_t)(ru1.ru_nivcsw - ru0.ru_nivcsw);
	r->parks = platform_park_count() - parks0;
	/* Before anything below takes a lock of its own. */
	mm_lock_stats(gmm_guest_pgdat(g), r->locks);
	r->warmed_up = !isnan(t_warm);
	r->measured_s = r->elapsed_s - (isnan(t_warm) ? 0 : t_warm);
	if (o->kind == WORKLOAD_PAGEFAULT) {
		r->frames = atomic_load(&w.frames) - frames_at_warmup;
		r->frames_per_s = r->measured_s > 0
					  ? (double)r->frames / r->measured_s
					  : 0;
	}
	r->blocks = atomic_load(&w.blocks);
	r->errors = atomic_load(&w.errors);
	r->accesses = atomic_load(&w.accesses);
	if (o->kind == WORKLOAD_WORKING_SET) {
		r->fault_p50_ns = working_set_fault_ns(&w, 0.5, &r->faults_timed);
		r->fault_p99_ns = working_set_fault_ns(&w, 0.99, NULL);
		r->fault_p999_ns = working_set_fault_ns(&w, 0.999, NULL);
		r->fault_max_ns = working_set_fault_ns(&w, 1.0, NULL);
	}
	if (o->compact)
		run_compact(gmm_guest_pgdat(g), r);
	if (w.ws) {
		r->has_anon = true;
		anon_get_stats(gmm_guest_pgdat(g), &r->anon);
		compact_get_stats(gmm_guest_pgdat(g), &r->compact);
	}
	workload_fini(&w);
	r->alloc_failures = atomic_load(&w.alloc_failures);
	gmm_guest_get_stats(g, &r->stats);
	r->resident_end = r->stats.host_resident_bytes;
	{
		struct pglist_data *pgdat = gmm_guest_pgdat(g);

		drain_all_pages(pgdat);
		r->nr_zones = pgdat->nr_zones < 2 ? pgdat->nr_zones : 2;
		for (unsigned int z = 0; z < r->nr_zones; z++) {
			snprintf(r->zone_name[z], sizeof(r->zone_name[z]), "%s",
				 pgdat->node_zones[z].name);
			zone_get_stats(&pgdat->node_zones[z], &r->zones[z]);
		}
	}
	return 0;
}

/* The lock algorithm and timing are process-wide: set them for a run. */
void run_locks_begin(const struct run_opts *o, bool *timing)
{
	*timing = lock_stat_timing();
	/* No guest exists here, so no lock is in use. */
	spin_lock_set_kind(o->lock);
	if (o->lock_stats)
		lock_stat_set_timing(true);
}

void run_locks_end(bool timing)
{
	lock_stat_set_timing(timing);
}

int run_in_process(const struct run_opts *o, struct run_result *r)
{
	struct gmm_guest *g;
	bool timing;
	int err;

	run_locks_begin(o, &timing);
	err = gmm_guest_create(&o->cfg, &g);
	if (!err) {
		err = run_workload(o, r, g, NULL);
		gmm_guest_destroy(g);
	}
	run_locks_end(timing);
	return err;
}

const char *run_describe_end(int status, char *buf, size_t len)
{
	if (WIFEXITED(status)) {
		snprintf(buf, len, "exited with status %d", WEXITSTATUS(status));
	} else if (WIFSIGNALED(status)) {
		const char *name = sigabbrev_np(WTERMSIG(status));

		snprintf(buf, len, "killed by signal %d (SIG%s)",
			 WTERMSIG(status), name ? name : "?");
	} else {
		snprintf(buf, len, "ended with wait status %#x", status);
	}
	return buf;
}

const char *run_strerror(const struct run_result *r, int err)
{
	return r->failure[0] ? r->failure : strerror(-err);
}

/*
 * The temporary directories of a process or Linux run (tmp_dir.h): a
 * SIGINT, SIGTERM or SIGHUP that ends the run (no handler of the
 * caller's) removes them before the signal does its default.  A Linux
 * guest is ended first, through its keeper, and waited for (a bounded
 * while): a kernel still running could write in its uml_dir after it was
 * removed.  A process guest goes by itself (PR_SET_PDEATHSIG).  Only
 * async-signal-safe calls in the handler; a slot is published (@set) only
 * once its path is written.
 */
#define RUN_TMP_SLOTS 4
#define RUN_TMP_KEEPER_WAIT_MS 2000
static struct {
	char path[TMP_DIR_PATH_MAX];
	volatile sig_atomic_t set;
} run_tmp[RUN_TMP_SLOTS];
static volatile sig_atomic_t run_tmp_keeper_pid, run_tmp_keeper_fd = -1;
static const int run_tmp_signals[] = { SIGINT, SIGTERM, SIGHUP };
static struct sigaction run_tmp_old[3];
static bool run_tmp_caught[3];

int run_tmp_add(const char *dir)
{
	for (int i = 0; i < RUN_TMP_SLOTS; i++) {
		if (run_tmp[i].set || strlen(dir) >= sizeof(run_tmp[i].path))
			continue;
		snprintf(run_tmp[i].path, sizeof(run_tmp[i].path), "%s", dir);
		atomic_signal_fence(memory_order_seq_cst);
		run_tmp[i].set = 1;
		return i;
	}
	return -1;
}

void run_tmp_forget(int slot)
{
	if (slot >= 0 && slot < RUN_TMP_SLOTS)
		run_tmp[slot].set = 0;
}

void run_tmp_keeper(pid_t pid, int life_fd)
{
	run_tmp_keeper_pid = 0;
	atomic_signal_fence(memory_order_seq_cst);
	run_tmp_keeper_fd = life_fd;
	atomic_signal_fence(memory_order_seq_cst);
	run_tmp_keeper_pid = pid;
}

static void run_tmp_on_signal(int sig)
{
	int saved = errno;
	pid_t keeper = run_tmp_keeper_pid;

	if (keeper > 0 && write(run_tmp_keeper_fd, "k", 1) == 1) {
		struct timespec tick = { 0, 10 * 1000 * 1000 };

		for (int ms = 0; ms < RUN_TMP_KEEPER_WAIT_MS &&
				 waitpid(keeper, NULL, WNOHANG) == 0;
		     ms += 10)
			nanosleep(&tick, NULL);
	}
	for (int i = 0; i < RUN_TMP_SLOTS; i++)
		if (run_tmp[i].set)
			tmp_dir_remove_tree(run_tmp[i].path);
	/* Blocked in here: delivered with the default action on return. */
	signal(sig, SIG_DFL);
	raise(sig);
	errno = saved;
}

static void run_tmp_catch(void)
{
	struct sigaction sa = { .sa_handler = run_tmp_on_signal };

	for (unsigned int i = 0; i < 3; i++) {
		run_tmp_caught[i] =
			!sigaction(run_tmp_signals[i], NULL, &run_tmp_old[i]) &&
			run_tmp_old[i].sa_handler == SIG_DFL &&
			!sigaction(run_tmp_signals[i], &sa, NULL);
	}
}

static void run_tmp_release(void)
{
	run_tmp_keeper(0, -1);
	for (int i = 0; i < RUN_TMP_SLOTS; i++)
		run_tmp_forget(i);
	for (unsigned int i = 0; i < 3; i++)
		if (run_tmp_caught[i])
			sigaction(run_tmp_signals[i], &run_tmp_old[i], NULL);
}

int run_guest(const struct run_opts *o, struct run_result *r)
{
	int err;

	memset(r, 0, sizeof(*r));
	if (o->mode != RUN_IN_PROCESS && o->free_timing) {
		fprintf(stderr, "guestmm: run: the free path's timing needs the guest in process\n");
		return -EINVAL;
	}
	if (o->cfg.reporting && (o->mode == RUN_LINUX || o->mode == RUN_QEMU) &&
	    o->cfg.hinting != GMM_HINTING_REPORT) {
		fprintf(stderr, "guestmm: run: a Linux guest reports with its own driver: hinting report or off only\n");
		return -EINVAL;
	}
	switch (o->mode) {
	case RUN_IN_PROCESS:
		return run_in_process(o, r);
	case RUN_PROCESS:
	case RUN_LINUX:
	case RUN_QEMU:
		break;
	}
	run_tmp_catch();
	err = o->mode == RUN_PROCESS ? run_process(o, r)
	      : o->mode == RUN_LINUX ? run_linux(o, r)
				     : run_qemu(o, r);
	run_tmp_release();
	return err;
}
