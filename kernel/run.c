/*
 * run.c - what the booted kernel runs: the command line's workload on
 * mm/, reporting free memory through the VMM's virtio-balloon, speaking
 * the console protocol of our guests (runner/guest_lines.h) on the serial
 * port, so the runner reads this kernel as it reads a process guest.
 *
 * The command line is "--name value" pairs, the names and units of
 * `guestmm guest`'s (sizes in bytes, times in milliseconds); what the
 * kernel cannot do is refused, never ignored.  The workload's threads are
 * kernel threads, thread i pinned to CPU i % nr_cpus and running as that
 * vCPU; their bodies are guest/workload.c's, the same as a process
 * guest's.  The thread "main" samples every --sample-ms and prints.
 * Each option is given once: a second one is refused, not taken over the
 * first.
 *
 * --stay on keeps the machine up after the workload's figures, the
 * balloon driver still following the device, until the runner says
 * "quit" on the console (stay()).
 */
#include "kernel/kmain.h"

#include "guest/balloon_driver.h"
#include "guest/workload.h"
#include "kernel/balloon.h"
#include "kernel/cpu.h"
#include "kernel/kernel.h"
#include "kernel/memory.h"
#include "kernel/park.h"
#include "kernel/sched.h"
#include "mm/gfp.h"
#include "mm/page_reporting.h"
#include "platform/platform.h"
#include "runner/guest_lines.h"

/* ---- the command line ---- */

struct kernel_opts {
	bool workload;		/* --workload none: boot, drive, end */
	enum workload_kind kind;
	uint64_t hog_bytes;	/* 0: 75 % of mm/'s RAM */
	unsigned int cycles, hold_ms, threads;
	int sleep_ms;		/* < 0: report delay + 2 s */
	uint64_t duration_ms, warmup_ms;
	unsigned int sample_ms, start_delay_ms;
	uint64_t seed;
	enum spin_lock_kind lock;
	bool lock_stats;
	bool reporting;
	bool stay;		/* --stay on: wait for "quit" after the run */
	enum gmm_hinting hinting;
	unsigned int report_order, report_capacity, report_hwm;
	unsigned int report_delay_ms, report_min_age_ms;
	const char *crash;	/* the fault path's test */
};

enum karg {
	KA_WORKLOAD, KA_HOG, KA_CYCLES, KA_HOLD, KA_SLEEP, KA_THREADS,
	KA_DURATION, KA_WARMUP, KA_SAMPLE, KA_START_DELAY, KA_SEED, KA_LOCK,
	KA_LOCK_STATS, KA_REPORTING, KA_HINTING, KA_ORDER, KA_CAPACITY,
	KA_HWM, KA_DELAY, KA_MIN_AGE, KA_CRASH, KA_POISON, KA_STAY, KA_NR
};

static const char *const karg_names[KA_NR] = {
	[KA_WORKLOAD] = "--workload",	    [KA_HOG] = "--hog-bytes",
	[KA_CYCLES] = "--cycles",	    [KA_HOLD] = "--hold-ms",
	[KA_SLEEP] = "--sleep-ms",	    [KA_THREADS] = "--threads",
	[KA_DURATION] = "--duration-ms",    [KA_WARMUP] = "--warmup-ms",
	[KA_SAMPLE] = "--sample-ms",	    [KA_START_DELAY] = "--start-delay-ms",
	[KA_SEED] = "--seed",		    [KA_LOCK] = "--lock",
	[KA_LOCK_STATS] = "--lock-stats",   [KA_REPORTING] = "--reporting",
	[KA_HINTING] = "--hinting",	    [KA_ORDER] = "--report-order",
	[KA_CAPACITY] = "--report-capacity", [KA_HWM] = "--report-hwm",
	[KA_DELAY] = "--report-delay-ms",   [KA_MIN_AGE] = "--report-min-age-ms",
	[KA_CRASH] = "--crash",		    [KA_POISON] = "--poison",
	[KA_STAY] = "--stay",
};

static const char *const workload_names[] = {
	[WORKLOAD_MEMHOG] = "memhog",
	[WORKLOAD_PAGEFAULT] = "pagefault",
	[WORKLOAD_STRESS] = "stress",
};

static int usage(const char *fmt, ...) __attribute__((format(printf, 1, 2)));

static int usage(const char *fmt, ...)
{
	char why[256];
	va_list ap;

	va_start(ap, fmt);
	kvsnprintf(why, sizeof(why), fmt, ap);
	va_end(ap);
	printk(KERNEL_NAME ": command line: %s\n", why);
	return -GMM_EINVAL;
}

static int parse_uint(const char *name, const char *s, uint64_t max,
		      uint64_t *v)
{
	uint64_t x = 0;

	if (!*s)
		return usage("%s: a value is needed", name);
	for (const char *p = s; *p; p++) {
		if (*p < '0' || *p > '9' || x > (UINT64_MAX - 9) / 10)
			return usage("%s: '%s' is not a whole number", name, s);
		x = x * 10 + (uint64_t)(*p - '0');
	}
	if (x > max)
		return usage("%s: %s is more than %lu", name, s, max);
	*v = x;
	return 0;
}

static int parse_onoff(const char *name, const char *s, bool *v)
{
	if (!strcmp(s, "on"))
		*v = true;
	else if (!strcmp(s, "off"))
		*v = false;
	else
		return usage("%s: '%s' is not on or off", name, s);
	return 0;
}

/* --poison off | zero | 0xNN: mm/'s page poisoning (kernel/memory.h). */
static int parse_poison(const char *name, const char *s)
{
	unsigned int v = 0;

	if (!strcmp(s, "off") || !strcmp(s, "zero")) {
		mem_poison = s[0] == 'z';
		mem_poison_val = 0;
		return 0;
	}
	if (s[0] != '0' || (s[1] != 'x' && s[1] != 'X') || strlen(s) < 3 ||
	    strlen(s) > 4)
		return usage("%s: '%s' is not off, zero or a byte 0x00 to 0xff",
			     name, s);
	for (const char *p = s + 2; *p; p++) {
		unsigned int d = *p >= '0' && *p <= '9'	  ? (unsigned int)(*p - '0')
				 : *p >= 'a' && *p <= 'f' ? (unsigned int)(*p - 'a' + 10)
				 : *p >= 'A' && *p <= 'F' ? (unsigned int)(*p - 'A' + 10)
							  : 16u;

		if (d > 15)
			return usage("%s: '%s' is not off, zero or a byte 0x00 to 0xff",
				     name, s);
		v = v * 16 + d;
	}
	mem_poison = true;
	mem_poison_val = (uint8_t)v;
	return 0;
}

static void opts_init(struct kernel_opts *o)
{
	*o = (struct kernel_opts){
		.workload = true,
		.kind = WORKLOAD_MEMHOG,
		.cycles = 3,
		.hold_ms = 500,
		.sleep_ms = -1,
		.sample_ms = 50,
		.seed = 1,
		.lock = SPIN_LOCK_PVQ,
		.reporting = true,
		.hinting = GMM_HINTING_REPORT,
		.report_order = PAGE_REPORTING_ORDER,
		.report_capacity = PAGE_REPORTING_CAPACITY,
		.report_hwm = PAGE_REPORTING_HWM,
		.report_delay_ms = PAGE_REPORTING_DELAY_MS,
		.report_min_age_ms = ~0u,
	};
}

/* Split @line in place on spaces. */
static unsigned int split(char *line, char **argv, unsigned int max)
{
	unsigned int n = 0;

	for (char *p = line; *p && n < max;) {
		while (*p == ' ')
			*p++ = 0;
		if (!*p)
			break;
		argv[n++] = p;
		while (*p && *p != ' ')
			p++;
	}
	return n;
}

static int opts_parse(struct kernel_opts *o, char *line)
{
	char *argv[2 * KA_NR + 2];
	unsigned int argc = split(line, argv, ARRAY_SIZE(argv));
	bool seen[KA_NR] = { false };

	if (argc == ARRAY_SIZE(argv))
		return usage("more than %u words", argc - 1);
	for (unsigned int i = 0; i < argc; i += 2) {
		const char *name = argv[i], *val = i + 1 < argc ? argv[i + 1] : "";
		uint64_t v = 0;
		unsigned int k;
		int err = 0;

		for (k = 0; k < KA_NR; k++)
			if (!strcmp(name, karg_names[k]))
				break;
		if (k == KA_NR)
			return usage("unrecognized argument '%s'", name);
		if (i + 1 >= argc)
			return usage("option %s needs a value", name);
		if (seen[k])
			return usage("%s given twice", name);
		seen[k] = true;
		switch (k) {
		case KA_WORKLOAD:
			o->workload = strcmp(val, "none") != 0;
			for (v = 0; o->workload && v < ARRAY_SIZE(workload_names); v++)
				if (!strcmp(val, workload_names[v]))
					break;
			if (o->workload && v == ARRAY_SIZE(workload_names))
				return usage("%s: '%s' is not memhog, pagefault, stress or none (working-set needs a swap device the kernel has not)",
					     name, val);
			o->kind = (enum workload_kind)v;
			break;
		case KA_HOG:
			err = parse_uint(name, val, 1ull << 40, &o->hog_bytes);
			break;
		case KA_CYCLES:
			err = parse_uint(name, val, 64, &v);
			o->cycles = (unsigned int)v;
			break;
		case KA_HOLD:
			err = parse_uint(name, val, 3600000, &v);
			o->hold_ms = (unsigned int)v;
			break;
		case KA_SLEEP:
			err = parse_uint(name, val, 3600000, &v);
			o->sleep_ms = (int)v;
			break;
		case KA_THREADS:
			err = parse_uint(name, val, MAX_NR_CPUS, &v);
			if (!err && !v)
				return usage("%s: at least 1", name);
			o->threads = (unsigned int)v;
			break;
		case KA_DURATION:
			err = parse_uint(name, val, 86400000, &o->duration_ms);
			break;
		case KA_WARMUP:
			err = parse_uint(name, val, 86400000, &o->warmup_ms);
			break;
		case KA_SAMPLE:
			err = parse_uint(name, val, 60000, &v);
			if (!err && !v)
				return usage("%s: at least 1", name);
			o->sample_ms = (unsigned int)v;
			break;
		case KA_START_DELAY:
			err = parse_uint(name, val, 3600000, &v);
			o->start_delay_ms = (unsigned int)v;
			break;
		case KA_SEED:
			err = parse_uint(name, val, UINT64_MAX, &o->seed);
			break;
		case KA_LOCK:
			if (spin_lock_kind_parse(val, &o->lock))
				return usage("%s: '%s' is not tas, ticket, mcs or pvq",
					     name, val);
			break;
		case KA_LOCK_STATS:
			err = parse_onoff(name, val, &o->lock_stats);
			break;
		case KA_REPORTING:
			err = parse_onoff(name, val, &o->reporting);
			break;
		case KA_HINTING:
			if (!strcmp(val, "report"))
				o->hinting = GMM_HINTING_REPORT;
			else if (!strcmp(val, "off"))
				o->hinting = GMM_HINTING_OFF;
			else
				return usage("%s: '%s' is not report or off (percpu and bitmap: not in the kernel yet)",
					     name, val);
			break;
		case KA_ORDER:
			err = parse_uint(name, val, MAX_ORDER - 1, &v);
			o->report_order = (unsigned int)v;
			break;
		case KA_CAPACITY:
			err = parse_uint(name, val, PAGE_REPORTING_CAPACITY_MAX, &v);
			if (!err && !v)
				return usage("%s: at least 1", name);
			o->report_capacity = (unsigned int)v;
			break;
		case KA_HWM:
			err = parse_uint(name, val, 1u << 30, &v);
			o->report_hwm = (unsigned int)v;
			break;
		case KA_DELAY:
			err = parse_uint(name, val, 3600000, &v);
			o->report_delay_ms = (unsigned int)v;
			break;
		case KA_MIN_AGE:
			err = parse_uint(name, val, 3600000, &v);
			o->report_min_age_ms = (unsigned int)v;
			break;
		case KA_POISON:
			err = parse_poison(name, val);
			break;
		case KA_CRASH:
			if (strcmp(val, "null") && strcmp(val, "gp") &&
			    strcmp(val, "ud") && strcmp(val, "panic") &&
			    strcmp(val, "mismatch"))
				return usage("%s: '%s' is not null, gp, ud, panic or mismatch",
					     name, val);
			o->crash = val;
			break;
		case KA_STAY:
			err = parse_onoff(name, val, &o->stay);
			break;
		}
		if (err)
			return err;
	}
	return 0;
}

/*
 * --crash: the fault path, on purpose (tests/kernel_qemu.sh,
 * tests/test_qemu_kernel.c): a read of address 0 (not mapped), a write to
 * a non-canonical address (#GP), an undefined opcode, a panic.  Each
 * prints and ends with status 37.  (--crash mismatch is not a fault: the
 * workload counts one wrong block, see workload_run(), and the run ends
 * with status 35.)
 */
static void crash(const char *kind)
{
	printk(KERNEL_NAME ": --crash %s: faulting on purpose\n", kind);
	if (!strcmp(kind, "null"))
		printk("read %d\n", *(volatile int *)0);
	if (!strcmp(kind, "gp"))
		*(volatile int *)0x8000000000000000ull = 1;
	if (!strcmp(kind, "ud"))
		__asm__ volatile("ud2");
	panic("--crash %s", kind);
}

/* ---- the workload's threads ---- */

/*
 * The threads' barrier: @count arrivals of the current generation; the
 * last resets it and moves @gen, on which the others park.
 */
struct kbarrier {
	atomic_uint count;
	atomic_uint gen;
	unsigned int n;
};

struct krun {
	struct workload w;
	struct kbarrier barrier;
	struct thread *threads[MAX_NR_CPUS];
	atomic_uint running;
	struct guest_lines lines;
};

static void kbarrier_wait(struct workload *w)
{
	struct krun *kr = w->sys_ctx;
	struct kbarrier *b = &kr->barrier;
	unsigned int gen = atomic_load(&b->gen);

	if (atomic_fetch_add(&b->count, 1) + 1 == b->n) {
		atomic_store(&b->count, 0);
		atomic_fetch_add(&b->gen, 1);
		kernel_wake(&b->gen, ~0u);
		return;
	}
	while (atomic_load(&b->gen) == gen)
		kernel_park(&b->gen, gen, 0);
}

static void ksleep_ms(struct workload *w, unsigned int ms)
{
	(void)w;
	sched_sleep_ns((uint64_t)ms * 1000000u);
}

static unsigned int bytes_order(size_t bytes)
{
	unsigned int order = 0;

	while ((PAGE_SIZE << order) < bytes)
		order++;
	return order;
}

static void *kmem_alloc(struct workload *w, size_t bytes)
{
	unsigned int order = bytes_order(bytes);

	(void)w;
	return order < MAX_ORDER ? kernel_pages_alloc(order) : NULL;
}

static void kmem_free(struct workload *w, void *p, size_t bytes)
{
	(void)w;
	kernel_pages_free(p, bytes_order(bytes));
}

/* The host's accounting: not the guest's to see; the runner measures it. */
static uint64_t khost_resident(struct workload *w)
{
	(void)w;
	return 0;
}

static const struct workload_sys kernel_sys = {
	.barrier_wait = kbarrier_wait,
	.sleep_ms = ksleep_ms,
	.mem_alloc = kmem_alloc,
	.mem_free = kmem_free,
	.host_resident = khost_resident,
};

struct vcpu_arg {
	struct krun *kr;
	unsigned int id;
};

static struct vcpu_arg vcpu_args[MAX_NR_CPUS];

static void vcpu_thread(void *p)
{
	struct vcpu_arg *a = p;

	workload_thread(&a->kr->w, a->id);
	atomic_fetch_sub(&a->kr->running, 1);
}

/* ---- samples and figures ---- */

static void lines_emit(void *ctx, const char *fmt, ...)
	__attribute__((format(printf, 2, 3)));

static void lines_emit(void *ctx, const char *fmt, ...)
{
	va_list ap;

	(void)ctx;
	va_start(ap, fmt);
	vprintk(fmt, ap);
	va_end(ap);
}

static void on_phase(void *ctx, int phase)
{
	struct krun *kr = ctx;

	guest_lines_phase(&kr->lines, phase);
}

/* Free and Reported bytes of the node, as gmm_guest_get_stats() counts. */
static void node_free(uint64_t *free, uint64_t *reported)
{
	struct pglist_data *pgdat = kernel_pgdat;

	*free = 0;
	*reported = 0;
	for (unsigned int z = 0; z < pgdat->nr_zones; z++) {
		struct zone *zone = &pgdat->node_zones[z];

		*free += zone_free_pages(zone) << PAGE_SHIFT;
		spin_lock(&zone->lock);
		for (unsigned int o = 0; o < MAX_ORDER; o++)
			*reported += zone->reported_blocks[o] << (o + PAGE_SHIFT);
		spin_unlock(&zone->lock);
	}
}

static void sample(struct krun *kr, struct run_sample *s, double t)
{
	struct workload *w = &kr->w;

	*s = (struct run_sample){
		.t = t,
		.kind = w->kind,
		.cycle = atomic_load(&w->cycle),
		.phase = atomic_load(&w->phase),
		.freed_bytes = atomic_load(&w->last_freed_bytes),
		.freed_at_ns = atomic_load(&w->freed_at_ns),
		.frames = atomic_load(&w->frames),
		.blocks = atomic_load(&w->blocks),
	};
	node_free(&s->guest_free, &s->guest_reported);
}

static struct run_result result;

static void result_fill(struct krun *kr, struct run_result *r)
{
	struct pglist_data *pgdat = kernel_pgdat;
	struct page_reporting_dev_info *prdev = atomic_load(&pgdat->prdev);

	r->mem_bytes = mm_phys_end - mm_phys_base;
	r->blocks = atomic_load(&kr->w.blocks);
	r->errors = atomic_load(&kr->w.errors);
	r->alloc_failures = atomic_load(&kr->w.alloc_failures);
	node_free(&r->stats.free_bytes, &r->stats.reported_free_bytes);
	r->stats.mem_bytes = r->mem_bytes;
	r->stats.hinting = prdev ? GMM_HINTING_REPORT : GMM_HINTING_OFF;
	if (prdev) {
		r->stats.reports = atomic_load(&prdev->reports);
		r->stats.reported_bytes = atomic_load(&prdev->reported_pages)
					  << PAGE_SHIFT;
		r->stats.report_failures = atomic_load(&prdev->failures);
		r->stats.worker_cpu_ns = atomic_load(&prdev->worker_cpu_ns);
	}
	drain_all_pages(pgdat);
	r->nr_zones = pgdat->nr_zones < 2 ? pgdat->nr_zones : 2;
	for (unsigned int z = 0; z < r->nr_zones; z++) {
		const char *name = pgdat->node_zones[z].name;
		size_t i;

		for (i = 0; name[i] && i + 1 < sizeof(r->zone_name[z]); i++)
			r->zone_name[z][i] = name[i];
		r->zone_name[z][i] = 0;
		zone_get_stats(&pgdat->node_zones[z], &r->zones[z]);
	}
}

static double now_s(void)
{
	return (double)platform_now_ns() / 1e9;
}

/*
 * Run the workload, sampling; as runner/run.c's run_workload() does for a
 * guest process (warm-up, duration, figures at the end).
 */
static int workload_run(const struct kernel_opts *o, struct krun *kr)
{
	struct workload *w = &kr->w;
	struct run_result *r = &result;
	double t0, t_warm = -1, duration = (double)o->duration_ms / 1e3;
	double warmup = (double)o->warmup_ms / 1e3;
	uint64_t frames_at_warmup = 0;

	workload_init_node(w, o->kind, kernel_pgdat, mm_phys_end - mm_phys_base,
			   nr_cpus, o->report_delay_ms, &kernel_sys, kr);
	if (o->hog_bytes)
		w->bytes = o->hog_bytes;
	w->cycles = o->cycles;
	w->hold_ms = o->hold_ms;
	if (o->sleep_ms >= 0)
		w->sleep_ms = (unsigned int)o->sleep_ms;
	if (o->threads)
		w->threads = o->threads;
	w->seed = o->seed;
	w->on_phase = on_phase;
	w->on_phase_ctx = kr;
	if (!duration && o->kind != WORKLOAD_MEMHOG)
		duration = 10;
	kr->barrier.n = w->threads;
	atomic_init(&kr->running, w->threads);
	for (unsigned int i = 0; i < w->threads; i++) {
		char name[THREAD_NAME_LEN];

		vcpu_args[i] = (struct vcpu_arg){ kr, i };
		ksnprintf(name, sizeof(name), "vcpu/%u", i);
		kr->threads[i] = thread_create(name, vcpu_thread, &vcpu_args[i],
					       i % nr_cpus);
		if (!kr->threads[i])
			panic("no memory for workload thread %u", i);
	}
	t0 = now_s();
	for (;;) {
		double t = now_s() - t0;
		struct run_sample s;

		sample(kr, &s, t);
		if (t_warm < 0 && t >= warmup &&
		    (o->kind != WORKLOAD_PAGEFAULT || !o->warmup_ms ||
		     s.frames >= (uint64_t)w->threads * (w->pf_bytes / PAGE_SIZE))) {
			t_warm = t;
			frames_at_warmup = s.frames;
			mm_lock_stats_reset(kernel_pgdat);
		}
		guest_lines_sample(&kr->lines, &s);
		if (!atomic_load(&kr->running))
			break;
		if (duration && (t_warm < 0 ? t >= duration + 60
					    : t - t_warm >= duration -
						    (warmup < duration ? warmup : duration)))
			atomic_store(&w->stop, true);
		sched_sleep_ns((uint64_t)o->sample_ms * 1000000u);
	}
	atomic_store(&w->stop, true);
	for (unsigned int i = 0; i < w->threads; i++)
		thread_join(kr->threads[i]);
	if (o->crash && !strcmp(o->crash, "mismatch")) {
		printk(KERNEL_NAME ": --crash mismatch: counting a wrong block on purpose\n");
		atomic_fetch_add(&w->errors, 1);
	}
	r->elapsed_s = now_s() - t0;
	mm_lock_stats(kernel_pgdat, r->locks);
	r->measured_s = r->elapsed_s - (t_warm < 0 ? 0 : t_warm);
	r->warmed_up = t_warm >= 0;
	if (o->kind == WORKLOAD_PAGEFAULT) {
		r->frames = atomic_load(&w->frames) - frames_at_warmup;
		r->frames_per_s = r->measured_s > 0
					  ? (double)r->frames / r->measured_s
					  : 0;
	}
	result_fill(kr, r);
	guest_lines_result(&kr->lines, r);
	return 0;
}

/*
 * --stay on: the workload's figures are out ("gmm-end" and the rest), and
 * the balloon driver goes on following the device - the runner's target
 * through QMP, the statistics QEMU polls - until the runner writes "quit"
 * and a newline on the console.  A word on the console rather than QMP's
 * quit, which would end QEMU under the kernel: this way the kernel ends as
 * after any run, the driver removed and buddy_check() run over every frame
 * the balloon held, and its status (a failed workload's 35 included)
 * still comes out through isa-debug-exit.  Polled every 10 ms: nothing
 * here is in a hurry, and the UART's line needs no routing.
 */
static void stay(void)
{
	char word[16];
	unsigned int n = 0;
	bool overlong = false;

	printk("gmm-stay\n");
	for (;;) {
		int c = console_getc();

		if (c < 0) {
			sched_sleep_ns(10000000);
			continue;
		}
		if (c == '\r')
			continue;
		if (c != '\n') {
			if (n + 1 < sizeof(word))
				word[n++] = (char)c;
			else
				overlong = true;
			continue;
		}
		word[n] = 0;
		if (!overlong && !strcmp(word, "quit"))
			return;
		printk(KERNEL_NAME ": console: '%s%s' is not quit: still staying\n",
		       word, overlong ? "..." : "");
		n = 0;
		overlong = false;
	}
}

static struct krun krun;
static struct kernel_opts opts;

int kernel_setup(void)
{
	static char line[sizeof(kernel_cmdline)];

	opts_init(&opts);
	memcpy(line, kernel_cmdline, sizeof(line));
	if (opts_parse(&opts, line))
		return KERNEL_EXIT_BAD_ARGS;
	/* Before mm/ makes its first lock: a lock keeps its kind. */
	spin_lock_set_kind(opts.lock);
	return 0;
}

int kernel_main(void)
{
	const struct kernel_opts *o = &opts;
	int err;

	if (o->crash && strcmp(o->crash, "mismatch"))
		crash(o->crash);
	krun.lines = (struct guest_lines){ .emit = lines_emit, .ctx = &krun };
	if (o->lock_stats)
		lock_stat_set_timing(true);
	err = kballoon_start(&(struct kballoon_config){
		.reporting = o->reporting && o->hinting == GMM_HINTING_REPORT,
		.order = o->report_order,
		.capacity = o->report_capacity,
		.hwm = o->report_hwm,
		.delay_ms = o->report_delay_ms,
		.min_age_ms = o->report_min_age_ms,
	});
	if (err && err != -GMM_ENODEV)
		return KERNEL_EXIT_FAILED;
	if (kballoon_driver()) {
		struct balloon_driver_stats st;

		balloon_driver_get_stats(kballoon_driver(), &st);
		guest_lines_ready(&krun.lines, st.offered, st.features,
				  balloon_driver_reporting(kballoon_driver()));
	} else {
		guest_lines_ready(&krun.lines, 0, 0, false);
	}
	for (unsigned int t = 0; t < o->start_delay_ms; t += 10)
		sched_sleep_ns(10000000);
	if (o->workload) {
		err = workload_run(o, &krun);
		if (err)
			return KERNEL_EXIT_FAILED;
	}
	if (o->stay)
		stay();
	/* Every frame the driver holds comes back: buddy_check() sees all. */
	kballoon_stop();
	err = buddy_check(kernel_pgdat);
	if (err)
		printk(KERNEL_NAME ": buddy_check: %d\n", err);
	if (err || atomic_load(&krun.w.errors) || platform_bad_state_count())
		return KERNEL_EXIT_FAILED;
	guest_lines_done(&krun.lines);
	return KERNEL_EXIT_OK;
}
