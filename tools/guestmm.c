/*
 * guestmm.c - the command line: `guestmm run` runs a guest (a process of its
 * own by default, in this process, or a user-mode Linux) against a host in
 * this process; `guestmm guest` is that guest process; `guestmm host` the
 * host alone; `guestmm bench NAME` the benchmarks.  The run itself is the
 * runner's (runner/run.h).
 */
#define _GNU_SOURCE
#include <errno.h>
#include <getopt.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "mm/gfp.h"
#include "mm/page_hinting.h"
#include "mm/page_reporting.h"
#include "mm/zpool.h"
#include "tools/cli.h"
#include "runner/run.h"
#include "tools/commands.h"

static void run_usage(FILE *f)
{
	fputs("Usage: guestmm run [OPTION]...\n"
	      "Start a host (a virtio-balloon with free page reporting behind a\n"
	      "vhost-user socket) and run a guest against it: by default our guest\n"
	      "runtime as a process of its own (the guestmm memory manager over a memfd\n"
	      "of guest RAM shared with the host, vCPU threads running a workload, free\n"
	      "page reporting through the balloon). Prints a live line every 0.5 s\n"
	      "(guest free, host resident, reported) and a summary; memory returned is\n"
	      "always the host's accounting of the guest's memory file.\n"
	      "\n"
	      "  --in-process          the guest in this process instead, reporting by\n"
	      "                        punching holes in its memfd itself (no device)\n"
	      "  --linux               a user-mode Linux guest instead, its own\n"
	      "                        virtio_balloon on our device, running memhog\n"
	      "  --qemu                a kernel on qemu-system-x86_64 -M microvm with\n"
	      "                        QEMU's virtio-balloon (KVM where it boots a stock\n"
	      "                        kernel, else TCG), guest RAM in a memfd whose\n"
	      "                        allocated blocks are the host's accounting; with\n"
	      "                        --linux Debian's Linux 6.1 running memhog, else\n"
	      "                        our kernel running the workload\n"
	      "  --kernel PATH         --qemu: the kernel (default kernel/guestmm-kernel.elf\n"
	      "                        beside guestmm, else PREFIX/lib/guestmm/; --linux:\n"
	      "                        qemu/vmlinuz, else PREFIX/lib/guestmm/qemu/vmlinuz)\n"
	      "  --qemu-binary PATH    --qemu: the VMM (default\n"
	      "                        /usr/bin/qemu-system-x86_64)\n"
	      "  --target SIZE         --qemu: after the workload, the balloon to this\n"
	      "                        guest size through QMP, then back to all of RAM; at\n"
	      "                        most --mem, and no less than the guest uses then\n"
	      "                        (its QMP statistics) plus 1/32 of RAM\n"
	      "  --append ARGS         --qemu, our kernel: more of its command line, after\n"
	      "                        the runner's (its options, each given once, are in\n"
	      "                        kernel/README.md)\n"
	      "  --uml PATH            --linux: the kernel (default /usr/bin/linux.uml)\n"
	      "  --initrd PATH         --linux: initramfs (default uml/initrd.gz beside\n"
	      "                        guestmm, else PREFIX/lib/guestmm/initrd.gz;\n"
	      "                        --qemu: qemu/initrd.gz, lib/guestmm/qemu/)\n"
	      "  --poison off|zero|0xNN  --qemu (our kernel): page poisoning: free memory\n"
	      "                        keeps this byte (zero: init_on_free), checked on\n"
	      "                        allocation, a mismatch fails the run; the device\n"
	      "                        gets page-poison=on and is told the value, and\n"
	      "                        QEMU discards reported memory only for zero\n"
	      "                        (default off)\n"
	      "  --boot-timeout S      --linux, --qemu: how long its boot may take (default\n"
	      "                        60; --qemu: 300)\n"
	      "  --stats-interval S    ask the guest for its memory statistics every S\n"
	      "                        seconds, 0 (only the first it sends) to 3600\n"
	      "                        (default 1; --qemu: QEMU's guest-stats-polling-\n"
	      "                        interval, 1 to 3600; not --in-process)\n"
	      "  --deflate-on-oom on|off  the balloon offers VIRTIO_BALLOON_F_DEFLATE_ON_OOM:\n"
	      "                        the guest takes pages back from it when an\n"
	      "                        allocation would fail (default: our device's, on;\n"
	      "                        --qemu: QEMU's, off; not --in-process)\n"
	      "  --mem SIZE            guest RAM, 64M to 1T (--linux: 64G) in steps of 4M\n"
	      "                        (default 2G; K/M/G/T suffixes, 3.5G)\n"
	      "  --cpus N              vCPU threads (default 2; not --linux: one vCPU)\n"
	      "  --workload NAME       memhog | pagefault | stress | working-set (default\n"
	      "                        memhog); working-set: anonymous memory larger than\n"
	      "                        RAM behind zswap and a swap file in $TMPDIR, zipfian\n"
	      "                        reads and writes, every read checked; a page that\n"
	      "                        cannot be read back from swap kills its process\n"
	      "                        (a vCPU thread) and fails the run\n"
	      "  --working-set SIZE    working-set: its size (default 150% of RAM)\n"
	      "  --zpool POOL          working-set: zswap's pool, zbud (two objects a\n"
	      "                        page, the default) or dense (size classes)\n"
	      "  --accesses N          working-set: stop after N page accesses over all\n"
	      "                        vCPU threads, the first write of every page\n"
	      "                        included (a run bounded by work; not with\n"
	      "                        --duration)\n"
	      "  --hog SIZE            memhog: memory to allocate (default 75% of RAM)\n"
	      "  --cycles N            memhog: allocate/free cycles (default 3)\n"
	      "  --hold-ms MS          memhog: hold the memory this long (default 500)\n"
	      "  --sleep-ms MS         memhog: sleep after each free (default delay + 2000)\n"
	      "  --duration S          stop after S seconds (pagefault, stress: default 10;\n"
	      "                        working-set: 20 unless --accesses; memhog: its\n"
	      "                        cycles; not --linux)\n"
	      "  --warmup S            count nothing for the first S seconds of the\n"
	      "                        duration (default 0): pagefault's frames/s (its\n"
	      "                        warm-up also lasts until each vCPU has touched its\n"
	      "                        128 MiB once) and --lock-stats; only for those,\n"
	      "                        not with --linux\n"
	      "  --hinting STRATEGY    how free memory goes back to the host:\n"
	      "                        report (free page reporting, default), percpu\n"
	      "                        (per-CPU arrays and workers, page hinting),\n"
	      "                        bitmap (a free bitmap the host asks by free page\n"
	      "                        hint commands: the device's, or a host thread\n"
	      "                        --in-process), off; --linux: report or off\n"
	      "  --reporting on|off    on: --hinting report; off: --hinting off\n"
	      "  --hint-entries N      percpu: entries per CPU array (default 1000)\n"
	      "  --hint-poll-ms MS     bitmap: the host asks this often (default:\n"
	      "                        the report delay, at least 100), and again at\n"
	      "                        once after a command that met the cap\n"
	      "  --hint-cap SIZE       bitmap: one command hands over at most this\n"
	      "                        much (default 256M, 1M to 2G): an allocation\n"
	      "                        on a chunk in flight waits for its discard\n"
	      "  --report-order N      smallest block reported or hinted (default 9 =\n"
	      "                        2 MiB; not off)\n"
	      "  --report-delay-ms MS  from request to report (default 2000)\n"
	      "  --report-min-age-ms MS  report: a block is reported only once it has\n"
	      "                        been free this long (default: half the delay)\n"
	      "  --report-capacity N   report, percpu: blocks per report (default 32;\n"
	      "                        at most an eighth of a zone)\n"
	      "  --report-hwm N        report: request reporting once a zone's\n"
	      "                        unreported blocks at an order pass N (default 0:\n"
	      "                        on any free at the reporting order or above)\n"
	      "                        (--linux: Linux reports with its own settings:\n"
	      "                        none of --report-order, -capacity, -hwm, -min-age)\n"
	      "  --seed N              stress, working-set: random seed (default 1)\n"
	      "  --compact             a full compaction at the end of the workload, its\n"
	      "                        memory still held; free blocks per order before\n"
	      "                        and after, as /proc/buddyinfo (not --linux)\n"
	      "  --json                one JSON object at the end on stdout; live lines\n"
	      "                        go to stderr\n"
	      "  --quiet               no live lines\n"
	      "  --stats               free and reported blocks per zone, migrate type and\n"
	      "                        order at the end (as /proc/pagetypeinfo)\n"
	      "  --lock KIND           spinlock algorithm: tas | ticket | mcs | pvq\n"
	      "                        (default pvq: queued, parking waiters; not --linux)\n"
	      "  --lock-stats          time lock waits and holds, and print each lock\n"
	      "                        class's statistics at the end as /proc/lock_stat\n"
	      "                        does (microseconds); with --json, \"lock_stats\"\n"
	      "  -h, --help            this text\n",
	      f);
}

enum {
	OPT_MEM = 256, OPT_CPUS, OPT_WORKLOAD, OPT_WS, OPT_HOG, OPT_CYCLES, OPT_HOLD,
	OPT_SLEEP, OPT_DURATION, OPT_REPORTING, OPT_ORDER, OPT_DELAY,
	OPT_CAPACITY, OPT_HWM, OPT_SEED, OPT_JSON, OPT_QUIET, OPT_STATS,
	OPT_MIN_AGE, OPT_LOCK, OPT_LOCK_STATS, OPT_IN_PROCESS, OPT_LINUX,
	OPT_UML, OPT_INITRD, OPT_HINTING, OPT_HINT_ENTRIES, OPT_HINT_POLL,
	OPT_COMPACT, OPT_HINT_CAP, OPT_BOOT_TIMEOUT, OPT_WARMUP, OPT_QEMU,
	OPT_KERNEL, OPT_QEMU_BIN, OPT_TARGET, OPT_ACCESSES, OPT_ZPOOL, OPT_POISON, OPT_APPEND,
	OPT_STATS_INTERVAL, OPT_DEFLATE_ON_OOM,
	OPT_END,
};

static const struct option run_options[] = {
	{ "mem", required_argument, NULL, OPT_MEM },
	{ "cpus", required_argument, NULL, OPT_CPUS },
	{ "workload", required_argument, NULL, OPT_WORKLOAD },
	{ "working-set", required_argument, NULL, OPT_WS },
	{ "accesses", required_argument, NULL, OPT_ACCESSES },
	{ "zpool", required_argument, NULL, OPT_ZPOOL },
	{ "hog", required_argument, NULL, OPT_HOG },
	{ "cycles", required_argument, NULL, OPT_CYCLES },
	{ "hold-ms", required_argument, NULL, OPT_HOLD },
	{ "sleep-ms", required_argument, NULL, OPT_SLEEP },
	{ "duration", required_argument, NULL, OPT_DURATION },
	{ "warmup", required_argument, NULL, OPT_WARMUP },
	{ "reporting", required_argument, NULL, OPT_REPORTING },
	{ "hinting", required_argument, NULL, OPT_HINTING },
	{ "hint-entries", required_argument, NULL, OPT_HINT_ENTRIES },
	{ "hint-poll-ms", required_argument, NULL, OPT_HINT_POLL },
	{ "hint-cap", required_argument, NULL, OPT_HINT_CAP },
	{ "report-order", required_argument, NULL, OPT_ORDER },
	{ "report-delay-ms", required_argument, NULL, OPT_DELAY },
	{ "report-min-age-ms", required_argument, NULL, OPT_MIN_AGE },
	{ "report-capacity", required_argument, NULL, OPT_CAPACITY },
	{ "report-hwm", required_argument, NULL, OPT_HWM },
	{ "seed", required_argument, NULL, OPT_SEED },
	{ "json", no_argument, NULL, OPT_JSON },
	{ "quiet", no_argument, NULL, OPT_QUIET },
	{ "stats", no_argument, NULL, OPT_STATS },
	{ "compact", no_argument, NULL, OPT_COMPACT },
	{ "lock", required_argument, NULL, OPT_LOCK },
	{ "lock-stats", no_argument, NULL, OPT_LOCK_STATS },
	{ "in-process", no_argument, NULL, OPT_IN_PROCESS },
	{ "linux", no_argument, NULL, OPT_LINUX },
	{ "uml", required_argument, NULL, OPT_UML },
	{ "initrd", required_argument, NULL, OPT_INITRD },
	{ "qemu", no_argument, NULL, OPT_QEMU },
	{ "kernel", required_argument, NULL, OPT_KERNEL },
	{ "qemu-binary", required_argument, NULL, OPT_QEMU_BIN },
	{ "target", required_argument, NULL, OPT_TARGET },
	{ "poison", required_argument, NULL, OPT_POISON },
	{ "append", required_argument, NULL, OPT_APPEND },
	{ "boot-timeout", required_argument, NULL, OPT_BOOT_TIMEOUT },
	{ "stats-interval", required_argument, NULL, OPT_STATS_INTERVAL },
	{ "deflate-on-oom", required_argument, NULL, OPT_DEFLATE_ON_OOM },
	{ "help", no_argument, NULL, 'h' },
	{ NULL, 0, NULL, 0 },
};

#define RUN_ERR(...) cli_usage_error("run ", __VA_ARGS__)

/* --poison: -1 for off, else the byte. */
static int run_parse_poison(const char *arg)
{
	char *end;
	unsigned long v;

	if (!strcmp(arg, "off"))
		return -1;
	if (!strcmp(arg, "zero"))
		return 0;
	errno = 0;
	v = strtoul(arg, &end, 16);
	if (strncmp(arg, "0x", 2) || !arg[2] || *end || errno || v > 0xff)
		RUN_ERR("--poison: '%s' is not off, zero or a byte 0x00 to 0xff", arg);
	return (int)v;
}

/* Guest RAM: the core's zones want whole 4 MiB (order-10) blocks. */
#define RUN_MEM_MIN (64ull << 20)
#define RUN_MEM_MAX (1ull << 40)
#define RUN_MEM_STEP (4ull << 20)
/* A user-mode Linux guest's RAM is a file mapped into its one process. */
#define RUN_LINUX_MEM_MAX (64ull << 30)

static uint64_t opt_uint(const char *name, const char *arg, uint64_t min,
			 uint64_t max)
{
	uint64_t v;

	if (cli_parse_uint(arg, min, max, &v))
		RUN_ERR("--%s: '%s' is not a whole number from %llu to %llu",
			name, arg, (unsigned long long)min,
			(unsigned long long)max);
	return v;
}

/* The min age the guest applies: the default is half the delay. */
static unsigned int report_min_age_ms(const struct gmm_guest_config *c)
{
	return c->report_min_age_ms == GMM_REPORT_MIN_AGE_HALF_DELAY
		       ? c->report_delay_ms / 2
		       : c->report_min_age_ms;
}

static void print_summary(const struct run_opts *o, const struct run_result *r)
{
	char a[32], b[32], c[32], d[32];

	printf("\nguestmm run: %s guest, %s, %s RAM, %u vCPUs, %s locks, hinting %s",
	       run_mode_name(o->mode), workload_name(o->kind),
	       cli_fmt_bytes(a, sizeof(a), (double)o->cfg.mem_bytes),
	       o->cfg.cpus, spin_lock_kind_names[o->lock],
	       gmm_hinting_names[o->cfg.reporting ? o->cfg.hinting
						  : GMM_HINTING_OFF]);
	if (o->cfg.reporting && o->mode == RUN_LINUX)
		printf(" (Linux's own driver and settings)");
	else if (o->cfg.reporting && o->cfg.hinting == GMM_HINTING_BITMAP)
		printf(" (order %u, the host asks every %u ms, at most %s a command)",
		       o->cfg.report_order, gmm_guest_hint_poll_ms(&o->cfg),
		       cli_fmt_bytes(a, sizeof(a), (double)o->cfg.hint_cap_bytes));
	else if (o->cfg.reporting && o->cfg.hinting == GMM_HINTING_PERCPU)
		printf(" (order %u, %u entries per CPU)", o->cfg.report_order,
		       o->cfg.hint_entries);
	else if (o->cfg.reporting)
		printf(" (order %u, delay %u ms, min age %u ms)",
		       o->cfg.report_order, o->cfg.report_delay_ms,
		       report_min_age_ms(&o->cfg));
	printf(", %.1f s\n", r->elapsed_s);
	if (r->nr_cycles) {
		printf("%-6s %12s %18s %16s %9s %12s\n", "cycle", "freed",
		       "resident at free", "resident after", "returned",
		       "time to 90%");
		for (unsigned int i = 0; i < r->nr_cycles; i++) {
			const struct run_cycle *cy = &r->cycle[i];
			double frac = cy->freed_bytes
				? ((double)cy->resident_at_free -
				   (double)cy->resident_after) / (double)cy->freed_bytes
				: 0;

			printf("%-6u %12s %18s %16s %8.1f%% ", i + 1,
			       cli_fmt_bytes(a, sizeof(a), (double)cy->freed_bytes),
			       cli_fmt_bytes(b, sizeof(b), (double)cy->resident_at_free),
			       cli_fmt_bytes(c, sizeof(c), (double)cy->resident_after),
			       100 * frac);
			if (isnan(cy->time_to_90pct_s))
				printf("%12s\n", "never");
			else
				printf("%11.2fs\n", cy->time_to_90pct_s);
		}
	}
	if (o->kind == WORKLOAD_PAGEFAULT)
		printf("page_fault1: %.0f frames/s over %.1f s after a %.1f s warm-up\n",
		       r->frames_per_s, r->measured_s,
		       r->elapsed_s - r->measured_s);
	if (o->kind == WORKLOAD_STRESS)
		printf("stress: %llu blocks verified, %llu mismatches\n",
		       (unsigned long long)r->blocks,
		       (unsigned long long)r->errors);
	if (r->has_anon) {
		const struct zswap_stats *z = &r->anon.zswap;
		uint64_t lost = run_unreadable_pages(r);

		printf("working-set: %llu accesses, %llu mismatches, %llu unreadable pages; "
		       "pgfault %llu pgmajfault %llu "
		       "pswpin %llu pswpout %llu pgsteal %llu allocstall %llu\n",
		       (unsigned long long)r->accesses, (unsigned long long)r->errors,
		       (unsigned long long)lost,
		       (unsigned long long)r->anon.events[PGFAULT],
		       (unsigned long long)r->anon.events[PGMAJFAULT],
		       (unsigned long long)r->anon.events[PSWPIN],
		       (unsigned long long)r->anon.events[PSWPOUT],
		       (unsigned long long)r->anon.events[PGSTEAL],
		       (unsigned long long)r->anon.events[ALLOCSTALL]);
		if (r->faults_timed)
			printf("faults after the fill: %llu, latency p50 %.1f us, p99 %.1f us, "
			       "p99.9 %.1f us, max %.1f us\n",
			       (unsigned long long)r->faults_timed, r->fault_p50_ns / 1e3,
			       r->fault_p99_ns / 1e3, r->fault_p999_ns / 1e3,
			       r->fault_max_ns / 1e3);
		printf("zswap: pool %s of %s, %llu pages stored (%llu same-filled), "
		       "written back %llu, limit hits %llu, rejected: reclaim %llu alloc %llu poor %llu\n",
		       cli_fmt_bytes(a, sizeof(a), (double)z->pool_total_size),
		       cli_fmt_bytes(b, sizeof(b), (double)z->pool_limit_bytes),
		       (unsigned long long)z->stored_pages,
		       (unsigned long long)z->same_filled_pages,
		       (unsigned long long)z->events[ZSWAP_WRITTEN_BACK_PAGES],
		       (unsigned long long)z->events[ZSWAP_POOL_LIMIT_HIT],
		       (unsigned long long)z->events[ZSWAP_REJECT_RECLAIM_FAIL],
		       (unsigned long long)z->events[ZSWAP_REJECT_ALLOC_FAIL],
		       (unsigned long long)z->events[ZSWAP_REJECT_COMPRESS_POOR]);
		printf("swap: %llu slots, %llu bad; %llu writes failed, %llu reads failed\n",
		       (unsigned long long)r->anon.swap_slots,
		       (unsigned long long)r->anon.swap_bad,
		       (unsigned long long)r->anon.events[SWAP_WRITE_ERR],
		       (unsigned long long)lost);
		/*
		 * Reclaim that could put no page anywhere: the allocation
		 * failures counted below are for want of swap, said so.
		 */
		if (r->anon.events[SWAP_WRITE_DISABLED])
			printf("swap dead: the swap file failed %d writes in a row and "
			       "was no longer written\n", SWAP_WRITE_DISABLE_AFTER);
		if (r->anon.events[SWAP_NO_RECLAIM])
			printf("swap exhausted: %llu reclaims found no usable swap (%s); "
			       "allocations failed at once\n",
			       (unsigned long long)r->anon.events[SWAP_NO_RECLAIM],
			       r->anon.events[SWAP_WRITE_DISABLED] ? "device not written, zswap full"
								   : "no free slot");
		if (lost)
			printf("data lost: %llu page%s could not be read back from swap; "
			       "%u working-set process%s killed for it\n",
			       (unsigned long long)lost, lost == 1 ? "" : "s",
			       r->killed, r->killed == 1 ? "" : "es");
	}
	if (o->mode == RUN_QEMU && r->qmp_total)
		printf("QEMU (%s): guest free %s of %s, available %s (QMP guest-stats)\n",
		       r->accel, cli_fmt_bytes(a, sizeof(a), (double)r->qmp_free),
		       cli_fmt_bytes(b, sizeof(b), (double)r->qmp_total),
		       cli_fmt_bytes(c, sizeof(c), (double)r->qmp_available));
	if (r->balloon.done) {
		const struct run_balloon *bl = &r->balloon;

		printf("balloon (QMP): target %s: actual %s in %.1f s, host resident %s -> %s; ",
		       cli_fmt_bytes(a, sizeof(a), (double)bl->target),
		       cli_fmt_bytes(b, sizeof(b), (double)bl->actual_inflated),
		       bl->inflate_s,
		       cli_fmt_bytes(c, sizeof(c), (double)bl->resident_before),
		       cli_fmt_bytes(d, sizeof(d), (double)bl->resident_inflated));
		printf("deflated: actual %s in %.1f s\n",
		       cli_fmt_bytes(a, sizeof(a), (double)bl->actual_deflated),
		       bl->deflate_s);
	}
	printf("host resident: peak %s, end %s",
	       cli_fmt_bytes(a, sizeof(a), (double)r->resident_peak),
	       cli_fmt_bytes(b, sizeof(b), (double)r->resident_end));
	if (o->mode != RUN_QEMU)
		printf("; reports %llu (%s)", (unsigned long long)r->stats.reports,
		       cli_fmt_bytes(d, sizeof(d), (double)r->stats.reported_bytes));
	printf("; allocation failures %llu\n",
	       (unsigned long long)r->alloc_failures);
}

/* `run --compact`: as /proc/buddyinfo, before and after. */
static void print_buddyinfo(const struct run_result *r)
{
	const struct compact_result *c = &r->compact_res;

	printf("\nFull compaction at the end of the workload (its memory held): %.1f ms, "
	       "%llu pages moved, %llu emptied in place, %llu failed; scanned %llu (migrate) %llu (free)\n",
	       r->compact_ms, (unsigned long long)c->migrate.moved,
	       (unsigned long long)c->migrate.released, (unsigned long long)c->migrate.failed,
	       (unsigned long long)c->migrate_scanned, (unsigned long long)c->free_scanned);
	printf("Free blocks per order (/proc/buddyinfo):\n%-8s %-7s", "zone", "");
	for (unsigned int o = 0; o < MAX_ORDER; o++)
		printf(" %7u", o);
	putchar('\n');
	for (unsigned int z = 0; z < r->nr_zones; z++)
		for (unsigned int k = 0; k < 2; k++) {
			printf("%-8s %-7s", k ? "" : r->zone_name[z], k ? "after" : "before");
			for (unsigned int o = 0; o < MAX_ORDER; o++)
				printf(" %7llu", (unsigned long long)r->buddy[k][z][o]);
			putchar('\n');
		}
}

/* As /proc/pagetypeinfo, with the reported blocks beside the free ones. */
static void print_pagetypeinfo(const struct run_result *r)
{
	printf("\nFree blocks per migrate type at order (reported in brackets), at the end:\n");
	printf("%-6s %-7s %-12s", "zone", "", "type");
	for (unsigned int o = 0; o < MAX_ORDER; o++)
		printf(" %8u", o);
	putchar('\n');
	for (unsigned int z = 0; z < r->nr_zones; z++) {
		const struct zone_stats *st = &r->zones[z];

		for (unsigned int mt = 0; mt < MIGRATE_TYPES; mt++) {
			printf("%-6s %-7s %-12s", r->zone_name[z], "free", migratetype_names[mt]);
			for (unsigned int o = 0; o < MAX_ORDER; o++)
				printf(" %8llu", (unsigned long long)st->free_blocks[o][mt]);
			printf("\n%-6s %-7s %-12s", "", "(rep.)", "");
			for (unsigned int o = 0; o < MAX_ORDER; o++)
				printf(" %8llu", (unsigned long long)st->reported_blocks[o][mt]);
			putchar('\n');
		}
		printf("%-6s managed %llu pages, free %llu, reported %llu; watermarks min %llu low %llu high %llu\n",
		       r->zone_name[z], (unsigned long long)st->managed_pages,
		       (unsigned long long)st->free_pages,
		       (unsigned long long)st->reported_pages,
		       (unsigned long long)st->watermark[WMARK_MIN],
		       (unsigned long long)st->watermark[WMARK_LOW],
		       (unsigned long long)st->watermark[WMARK_HIGH]);
	}
}

static void json_zones(struct json *j, const struct run_result *r)
{
	json_array(j, "zones");
	for (unsigned int z = 0; z < r->nr_zones; z++) {
		const struct zone_stats *st = &r->zones[z];

		json_object(j, NULL);
		json_str(j, "name", r->zone_name[z]);
		json_u64(j, "managed_pages", st->managed_pages);
		json_u64(j, "free_pages", st->free_pages);
		json_u64(j, "reported_pages", st->reported_pages);
		json_u64(j, "min_pages", st->watermark[WMARK_MIN]);
		json_u64(j, "low_pages", st->watermark[WMARK_LOW]);
		json_u64(j, "high_pages", st->watermark[WMARK_HIGH]);
		for (unsigned int k = 0; k < 2; k++) {
			json_object(j, k ? "reported_blocks" : "free_blocks");
			for (unsigned int mt = 0; mt < MIGRATE_TYPES; mt++) {
				json_array(j, migratetype_names[mt]);
				for (unsigned int o = 0; o < MAX_ORDER; o++) {
					json_u64(j, NULL, k ? st->reported_blocks[o][mt]
							    : st->free_blocks[o][mt]);
				}
				json_array_end(j);
			}
			json_object_end(j);
		}
		json_object_end(j);
	}
	json_array_end(j);
}

static void print_json(const struct run_opts *o, const struct run_result *r)
{
	struct json j;
	const struct run_cycle *last = r->nr_cycles ? &r->cycle[r->nr_cycles - 1]
						    : NULL;
	double frac = NAN;

	if (last && last->freed_bytes)
		frac = ((double)last->resident_at_free -
			(double)last->resident_after) / (double)last->freed_bytes;
	json_begin(&j, stdout);
	json_str(&j, "guest", run_mode_name(o->mode));
	json_str(&j, "workload", workload_name(o->kind));
	json_u64(&j, "guest_mem_bytes", r->mem_bytes);
	json_u64(&j, "cpus", o->cfg.cpus);
	json_str(&j, "lock", spin_lock_kind_names[o->lock]);
	json_bool(&j, "reporting", o->cfg.reporting);
	json_str(&j, "hinting", gmm_hinting_names[o->cfg.reporting ? o->cfg.hinting
								    : GMM_HINTING_OFF]);
	json_u64(&j, "report_order", o->cfg.report_order);
	json_u64(&j, "report_delay_ms", o->cfg.report_delay_ms);
	json_u64(&j, "report_min_age_ms", report_min_age_ms(&o->cfg));
	if (o->cfg.reporting && o->cfg.hinting == GMM_HINTING_BITMAP)
		json_u64(&j, "hint_poll_ms", gmm_guest_hint_poll_ms(&o->cfg));
	json_u64(&j, "freed_bytes", last ? last->freed_bytes : 0);
	json_u64(&j, "host_resident_at_free_bytes",
		 last ? last->resident_at_free : 0);
	json_u64(&j, "host_resident_after_free_bytes",
		 last ? last->resident_after : r->resident_end);
	json_double(&j, "returned_fraction", frac);
	json_double(&j, "time_to_return_90pct_s",
		    last ? last->time_to_90pct_s : NAN);
	json_u64(&j, "host_resident_peak_bytes", r->resident_peak);
	json_u64(&j, "host_resident_end_bytes", r->resident_end);
	/* QEMU's device keeps no count of what was reported. */
	if (o->mode != RUN_QEMU) {
		json_u64(&j, "reports", r->stats.reports);
		json_u64(&j, "reported_bytes", r->stats.reported_bytes);
	}
	json_u64(&j, "report_failures", r->stats.report_failures);
	json_u64(&j, "allocation_failures", r->alloc_failures);
	json_u64(&j, "worker_cpu_ns", r->stats.worker_cpu_ns);
	json_u64(&j, "hint_dropped", r->stats.hint_dropped);
	json_u64(&j, "hint_stale", r->stats.hint_stale);
	json_u64(&j, "alloc_waits", r->stats.alloc_waits);
	json_u64(&j, "alloc_wait_ns", r->stats.alloc_wait_ns);
	json_double(&j, "elapsed_s", r->elapsed_s);
	json_double(&j, "warmup_s", o->warmup_s);
	json_double(&j, "measured_s", r->measured_s);
	/* The guest process's, over measured_s (getrusage). */
	json_double(&j, "cpu_user_s", r->cpu_user_s);
	json_double(&j, "cpu_sys_s", r->cpu_sys_s);
	json_u64(&j, "voluntary_switches", r->vol_switches);
	json_u64(&j, "involuntary_switches", r->invol_switches);
	json_u64(&j, "lock_parks", r->parks);
	if (o->kind == WORKLOAD_PAGEFAULT)
		json_double(&j, "frames_per_s", r->frames_per_s);
	if (o->kind == WORKLOAD_STRESS) {
		json_u64(&j, "blocks_verified", r->blocks);
		json_u64(&j, "mismatches", r->errors);
	}
	if (r->has_anon) {
		json_u64(&j, "accesses", r->accesses);
		if (r->faults_timed) {
			json_u64(&j, "faults_timed", r->faults_timed);
			json_double(&j, "fault_p50_us", r->fault_p50_ns / 1e3);
			json_double(&j, "fault_p99_us", r->fault_p99_ns / 1e3);
			json_double(&j, "fault_p999_us", r->fault_p999_ns / 1e3);
			json_double(&j, "fault_max_us", r->fault_max_ns / 1e3);
		}
		json_u64(&j, "mismatches", r->errors);
		json_u64(&j, "unreadable_pages", run_unreadable_pages(r));
		json_u64(&j, "processes_killed", r->killed);
		/* Linux's names: debugfs zswap/, /proc/vmstat. */
		json_object(&j, "zswap");
		for (unsigned int e = 0; e < NR_ZSWAP_EVENTS; e++)
			json_u64(&j, zswap_event_names[e], r->anon.zswap.events[e]);
		json_u64(&j, "pool_total_size", r->anon.zswap.pool_total_size);
		json_u64(&j, "stored_pages", r->anon.zswap.stored_pages);
		json_u64(&j, "same_filled_pages", r->anon.zswap.same_filled_pages);
		json_u64(&j, "pool_limit_bytes", r->anon.zswap.pool_limit_bytes);
		json_u64(&j, "compressed_bytes", r->anon.zswap.compressed_bytes);
		json_object_end(&j);
		json_object(&j, "vmstat");
		for (unsigned int e = 0; e < NR_VM_EVENTS; e++)
			json_u64(&j, vm_event_names[e], r->anon.events[e]);
		for (unsigned int e = 0; e < NR_COMPACT_EVENTS; e++)
			json_u64(&j, compact_event_names[e], r->compact.events[e]);
		json_u64(&j, "nr_inactive_anon", r->anon.nr_inactive);
		json_u64(&j, "nr_active_anon", r->anon.nr_active);
		json_u64(&j, "swap_slots", r->anon.swap_slots);
		json_u64(&j, "swap_free_slots", r->anon.swap_free);
		json_u64(&j, "swap_bad_slots", r->anon.swap_bad);
		json_object_end(&j);
	}
	if (o->mode == RUN_QEMU) {
		json_str(&j, "accel", r->accel);
	}
	/* QMP's guest-stats, Linux's meanings; none once our kernel has
	 * powered off (QEMU with it). */
	if (o->mode == RUN_QEMU && r->qmp_total) {
		json_u64(&j, "guest_free_bytes", r->qmp_free);
		json_u64(&j, "guest_total_bytes", r->qmp_total);
		json_u64(&j, "guest_available_bytes", r->qmp_available);
	}
	if (r->balloon.done) {
		const struct run_balloon *b = &r->balloon;

		json_object(&j, "balloon");
		json_u64(&j, "target_bytes", b->target);
		json_u64(&j, "host_resident_before_bytes", b->resident_before);
		json_u64(&j, "actual_inflated_bytes", b->actual_inflated);
		json_u64(&j, "host_resident_inflated_bytes", b->resident_inflated);
		json_double(&j, "inflate_s", b->inflate_s);
		json_u64(&j, "actual_deflated_bytes", b->actual_deflated);
		json_u64(&j, "host_resident_deflated_bytes", b->resident_deflated);
		json_double(&j, "deflate_s", b->deflate_s);
		json_object_end(&j);
	}
	json_array(&j, "cycles");
	for (unsigned int i = 0; i < r->nr_cycles; i++) {
		json_object(&j, NULL);
		json_u64(&j, "freed_bytes", r->cycle[i].freed_bytes);
		json_u64(&j, "host_resident_at_free_bytes",
			 r->cycle[i].resident_at_free);
		json_u64(&j, "host_resident_after_free_bytes",
			 r->cycle[i].resident_after);
		json_double(&j, "time_to_return_90pct_s",
			    r->cycle[i].time_to_90pct_s);
		json_double(&j, "time_to_return_95pct_s",
			    r->cycle[i].time_to_95pct_s);
		json_object_end(&j);
	}
	json_array_end(&j);
	json_zones(&j, r);
	if (r->compacted) {
		json_object(&j, "compaction");
		json_double(&j, "ms", r->compact_ms);
		json_u64(&j, "moved", r->compact_res.migrate.moved);
		json_u64(&j, "released", r->compact_res.migrate.released);
		json_u64(&j, "failed", r->compact_res.migrate.failed);
		for (unsigned int k = 0; k < 2; k++) {
			json_object(&j, k ? "after" : "before");
			for (unsigned int z = 0; z < r->nr_zones; z++) {
				json_array(&j, r->zone_name[z]);
				for (unsigned int o = 0; o < MAX_ORDER; o++)
					json_u64(&j, NULL, r->buddy[k][z][o]);
				json_array_end(&j);
			}
			json_object_end(&j);
		}
		json_object_end(&j);
	}
	if (o->lock_stats)
		json_lock_stats(&j, "lock_stats", r->locks);
	json_end(&j);
}

/* An option's name from its code in run_options. */
static const char *run_opt_name(int opt)
{
	for (const struct option *p = run_options; p->name; p++)
		if (p->val == opt)
			return p->name;
	return "?";
}

/*
 * An option given (@seen) that the run's guest, workload or strategy does
 * nothing with is refused: one line saying what takes it, status 2.
 */
static void run_refuse_unused(const struct run_opts *o, const bool *seen)
{
	/* What a Linux guest does not take, and why. */
	static const struct {
		int opt;
		const char *why;
	} not_linux[] = {
		{ OPT_CPUS, "user-mode Linux runs one vCPU" },
		{ OPT_DURATION, "the Linux guest runs --cycles of memhog" },
		{ OPT_LOCK, "Linux's locks are its own" },
		{ OPT_ORDER, "Linux reports with its own settings" },
		{ OPT_CAPACITY, "Linux reports with its own settings" },
		{ OPT_HWM, "Linux reports with its own settings" },
		{ OPT_MIN_AGE, "Linux reports with its own settings" },
		{ OPT_DELAY, "Linux's reporting delay is its own" },
	};
	/* What only some workloads take. */
	static const struct {
		int opt;
		unsigned int kinds; /* 1 << enum workload_kind */
		const char *which;
	} by_workload[] = {
		{ OPT_HOG, 1u << WORKLOAD_MEMHOG, "memhog" },
		{ OPT_CYCLES, 1u << WORKLOAD_MEMHOG, "memhog" },
		{ OPT_HOLD, 1u << WORKLOAD_MEMHOG, "memhog" },
		{ OPT_SLEEP, 1u << WORKLOAD_MEMHOG, "memhog" },
		{ OPT_SEED, 1u << WORKLOAD_STRESS | 1u << WORKLOAD_WORKING_SET,
		  "stress or working-set" },
		{ OPT_WS, 1u << WORKLOAD_WORKING_SET, "working-set" },
		{ OPT_ACCESSES, 1u << WORKLOAD_WORKING_SET, "working-set" },
		{ OPT_ZPOOL, 1u << WORKLOAD_WORKING_SET, "working-set" },
	};
	/* What only some strategies take. */
	static const struct {
		int opt;
		unsigned int hintings; /* 1 << enum gmm_hinting */
		const char *which;
	} by_hinting[] = {
		{ OPT_HINT_ENTRIES, 1u << GMM_HINTING_PERCPU, "percpu" },
		{ OPT_HINT_POLL, 1u << GMM_HINTING_BITMAP, "bitmap" },
		{ OPT_HINT_CAP, 1u << GMM_HINTING_BITMAP, "bitmap" },
		{ OPT_ORDER, 1u << GMM_HINTING_REPORT | 1u << GMM_HINTING_PERCPU |
				     1u << GMM_HINTING_BITMAP,
		  "report, percpu or bitmap" },
		{ OPT_CAPACITY, 1u << GMM_HINTING_REPORT | 1u << GMM_HINTING_PERCPU,
		  "report or percpu" },
		{ OPT_HWM, 1u << GMM_HINTING_REPORT, "report" },
		{ OPT_MIN_AGE, 1u << GMM_HINTING_REPORT, "report" },
		{ OPT_DELAY, 1u << GMM_HINTING_REPORT | 1u << GMM_HINTING_PERCPU |
				     1u << GMM_HINTING_BITMAP,
		  "report, percpu or bitmap" },
	};
	enum gmm_hinting h = o->cfg.reporting ? o->cfg.hinting : GMM_HINTING_OFF;

	bool linux_guest = o->mode == RUN_LINUX || (o->mode == RUN_QEMU && o->qemu_linux);

	for (size_t i = 0; linux_guest && i < sizeof(not_linux) / sizeof(not_linux[0]); i++)
		if (seen[not_linux[i].opt] &&
		    !(o->mode == RUN_QEMU && not_linux[i].opt == OPT_CPUS))
			RUN_ERR("--%s: not with --linux (%s)", run_opt_name(not_linux[i].opt),
				not_linux[i].why);
	for (size_t i = 0; i < sizeof(by_workload) / sizeof(by_workload[0]); i++)
		if (seen[by_workload[i].opt] && !(by_workload[i].kinds & (1u << o->kind)))
			RUN_ERR("--%s: only with --workload %s", run_opt_name(by_workload[i].opt),
				by_workload[i].which);
	for (size_t i = 0; i < sizeof(by_hinting) / sizeof(by_hinting[0]); i++)
		if (seen[by_hinting[i].opt] && !(by_hinting[i].hintings & (1u << h)))
			RUN_ERR("--%s: only with --hinting %s", run_opt_name(by_hinting[i].opt),
				by_hinting[i].which);
}

static int cmd_run(int argc, char **argv)
{
	struct run_opts o;
	struct run_result r;
	bool json = false, quiet = false, stats = false, mode_opt = false;
	bool seen[OPT_END] = { false };
	/* --reporting and --hinting as given: both set one strategy. */
	bool reporting_arg = true;
	enum gmm_hinting hinting_arg = GMM_HINTING_REPORT;
	bool warmup_opt = false, qemu = false;
	const char *linux_opt = NULL, *qemu_opt = NULL;
	int c, err;

	run_opts_init(&o);
	optind = 1;
	opterr = 0;
	while ((c = getopt_long(argc, argv, ":h", run_options, NULL)) != -1) {
		if (c >= OPT_MEM && c < OPT_END)
			seen[c] = true;
		switch (c) {
		case OPT_MEM:
			o.cfg.mem_bytes = cli_opt_size("run ", "--mem", optarg,
						       RUN_MEM_MIN, RUN_MEM_MAX,
						       RUN_MEM_STEP);
			break;
		case OPT_CPUS:
			o.cfg.cpus = (unsigned int)opt_uint("cpus", optarg, 1,
							    MAX_NR_CPUS);
			break;
		case OPT_WORKLOAD:
			if (!strcmp(optarg, "memhog"))
				o.kind = WORKLOAD_MEMHOG;
			else if (!strcmp(optarg, "pagefault"))
				o.kind = WORKLOAD_PAGEFAULT;
			else if (!strcmp(optarg, "stress"))
				o.kind = WORKLOAD_STRESS;
			else if (!strcmp(optarg, "working-set"))
				o.kind = WORKLOAD_WORKING_SET;
			else
				RUN_ERR("--workload: '%s' is not memhog, pagefault, stress or working-set",
					optarg);
			break;
		case OPT_WS:
			o.ws_bytes = cli_opt_size("run ", "--working-set", optarg,
						  PAGE_SIZE, 16 * RUN_MEM_MAX,
						  PAGE_SIZE);
			break;
		case OPT_ACCESSES:
			o.accesses = opt_uint("accesses", optarg, 1, UINT64_MAX);
			break;
		case OPT_ZPOOL:
			o.zpool = zpool_driver_find(optarg);
			if (!o.zpool)
				RUN_ERR("--zpool: '%s' is not zbud or dense", optarg);
			break;
		case OPT_HOG:
			o.hog_bytes = cli_opt_size("run ", "--hog", optarg,
						   PAGE_SIZE, RUN_MEM_MAX, PAGE_SIZE);
			break;
		case OPT_CYCLES:
			o.cycles = (unsigned int)opt_uint("cycles", optarg, 1,
							  RUN_MAX_CYCLES);
			break;
		case OPT_HOLD:
			o.hold_ms = (unsigned int)opt_uint("hold-ms", optarg, 0,
							   3600000);
			break;
		case OPT_SLEEP:
			o.sleep_ms = (int)opt_uint("sleep-ms", optarg, 0, 3600000);
			break;
		case OPT_DURATION:
			o.duration_s = (double)opt_uint("duration", optarg, 1,
							86400);
			break;
		case OPT_WARMUP:
			o.warmup_s = (double)opt_uint("warmup", optarg, 0, 86400);
			warmup_opt = true;
			break;
		case OPT_REPORTING:
			if (cli_parse_onoff(optarg, &o.cfg.reporting))
				RUN_ERR("--reporting: '%s' is not on or off", optarg);
			reporting_arg = o.cfg.reporting;
			o.cfg.hinting = o.cfg.reporting ? GMM_HINTING_REPORT
							: GMM_HINTING_OFF;
			break;
		case OPT_HINTING:
			if (gmm_hinting_parse(optarg, &o.cfg.hinting))
				RUN_ERR("--hinting: '%s' is not report, percpu, bitmap or off",
					optarg);
			hinting_arg = o.cfg.hinting;
			o.cfg.reporting = o.cfg.hinting != GMM_HINTING_OFF;
			break;
		case OPT_HINT_ENTRIES:
			o.cfg.hint_entries = (unsigned int)opt_uint(
				"hint-entries", optarg, 1, PAGE_HINTING_ENTRIES_MAX);
			break;
		case OPT_HINT_POLL:
			o.cfg.hint_poll_ms = (unsigned int)opt_uint(
				"hint-poll-ms", optarg, 1, 3600000);
			break;
		case OPT_HINT_CAP:
			o.cfg.hint_cap_bytes = cli_opt_size("run ", "--hint-cap",
							    optarg, 1ull << 20,
							    GMM_HINT_CAP_MAX,
							    4096);
			break;
		case OPT_ORDER:
			o.cfg.report_order = (unsigned int)opt_uint(
				"report-order", optarg, 0, MAX_ORDER - 1);
			break;
		case OPT_DELAY:
			o.cfg.report_delay_ms = (unsigned int)opt_uint(
				"report-delay-ms", optarg, 0, 3600000);
			break;
		case OPT_MIN_AGE:
			o.cfg.report_min_age_ms = (unsigned int)opt_uint(
				"report-min-age-ms", optarg, 0, 3600000);
			break;
		case OPT_CAPACITY:
			o.cfg.report_capacity = (unsigned int)opt_uint(
				"report-capacity", optarg, 1,
				PAGE_REPORTING_CAPACITY_MAX);
			break;
		case OPT_HWM:
			o.cfg.report_hwm = (unsigned int)opt_uint(
				"report-hwm", optarg, 0, 1u << 30);
			break;
		case OPT_SEED:
			o.seed = opt_uint("seed", optarg, 0, UINT64_MAX);
			break;
		case OPT_JSON:
			json = true;
			break;
		case OPT_QUIET:
			quiet = true;
			break;
		case OPT_STATS:
			stats = true;
			break;
		case OPT_COMPACT:
			o.compact = true;
			break;
		case OPT_LOCK:
			if (spin_lock_kind_parse(optarg, &o.lock))
				RUN_ERR("--lock: '%s' is not tas, ticket, mcs or pvq",
					optarg);
			break;
		case OPT_LOCK_STATS:
			o.lock_stats = true;
			break;
		case OPT_IN_PROCESS:
		case OPT_LINUX:
			if (mode_opt)
				RUN_ERR("--in-process and --linux: choose one");
			mode_opt = true;
			o.mode = c == OPT_LINUX ? RUN_LINUX : RUN_IN_PROCESS;
			break;
		case OPT_UML:
			o.uml = optarg;
			linux_opt = "--uml";
			break;
		case OPT_INITRD:
			o.initrd = optarg;
			break;
		case OPT_QEMU:
			qemu = true;
			break;
		case OPT_KERNEL:
			o.kernel = optarg;
			qemu_opt = "--kernel";
			break;
		case OPT_QEMU_BIN:
			o.qemu = optarg;
			qemu_opt = "--qemu-binary";
			break;
		case OPT_APPEND:
			o.kernel_append = optarg;
			qemu_opt = "--append";
			break;
		case OPT_TARGET:
			o.target_bytes = cli_opt_size("run ", "--target", optarg,
						      RUN_MEM_STEP, RUN_MEM_MAX,
						      1ull << 20);
			qemu_opt = "--target";
			break;
		case OPT_POISON:
			o.poison = run_parse_poison(optarg);
			break;
		case OPT_BOOT_TIMEOUT:
			o.boot_timeout_s = (unsigned int)opt_uint("boot-timeout", optarg, 1, 3600);
			break;
		case OPT_STATS_INTERVAL:
			/* As host's and the control socket's set-stats-interval. */
			o.stats_interval_s = (int)opt_uint("stats-interval", optarg, 0, 3600);
			break;
		case OPT_DEFLATE_ON_OOM: {
			bool on;

			if (cli_parse_onoff(optarg, &on))
				RUN_ERR("--deflate-on-oom: '%s' is not on or off", optarg);
			o.deflate_on_oom = on;
			break;
		}
		case 'h':
			run_usage(stdout);
			return 0;
		default:
			cli_option_error("run ", run_options, c, argv);
		}
	}
	if (optind < argc)
		RUN_ERR("unexpected argument '%s'", argv[optind]);
	if (o.hog_bytes && o.hog_bytes > o.cfg.mem_bytes)
		RUN_ERR("--hog: larger than guest RAM (--mem)");
	if (qemu) {
		if (o.mode == RUN_IN_PROCESS)
			RUN_ERR("--in-process and --qemu: choose one");
		o.qemu_linux = o.mode == RUN_LINUX;
		o.mode = RUN_QEMU;
		if (linux_opt)
			RUN_ERR("%s: not with --qemu (--kernel)", linux_opt);
		if (o.target_bytes > o.cfg.mem_bytes)
			RUN_ERR("--target: larger than guest RAM (--mem)");
	} else if (qemu_opt) {
		RUN_ERR("%s: only with --qemu", qemu_opt);
	}
	if (o.poison >= 0 && (o.mode != RUN_QEMU || o.qemu_linux))
		RUN_ERR("--poison: only with --qemu (our kernel's allocator poisons)");
	if (o.initrd && o.mode != RUN_LINUX && o.mode != RUN_QEMU)
		RUN_ERR("--initrd: only with --linux or --qemu");
	if (linux_opt && o.mode != RUN_LINUX)
		RUN_ERR("%s: only with --linux", linux_opt);
	if (o.boot_timeout_s && o.mode != RUN_LINUX && o.mode != RUN_QEMU)
		RUN_ERR("--boot-timeout: only with --linux or --qemu");
	/* The balloon's: every mode has one but --in-process. */
	if (o.mode == RUN_IN_PROCESS && (seen[OPT_STATS_INTERVAL] || seen[OPT_DEFLATE_ON_OOM]))
		RUN_ERR("--%s: not with --in-process (no balloon device)",
			seen[OPT_STATS_INTERVAL] ? "stats-interval" : "deflate-on-oom");
	/* QEMU's statistics are read through QMP at the run's end and wait
	 * for a fresh report: with none ever asked for, that never comes. */
	if (o.mode == RUN_QEMU && seen[OPT_STATS_INTERVAL] && !o.stats_interval_s)
		RUN_ERR("--stats-interval 0: not with --qemu (the run reads the guest's statistics through QMP, which QEMU then never asks for)");
	if (o.mode == RUN_QEMU) {
		if (o.cfg.reporting && o.cfg.hinting != GMM_HINTING_REPORT)
			RUN_ERR("--hinting %s: not with --qemu (QEMU's device takes free page reporting: report or off)",
				gmm_hinting_names[o.cfg.hinting]);
		if (o.qemu_linux && o.kind != WORKLOAD_MEMHOG)
			RUN_ERR("--qemu --linux: the Linux guest runs memhog only");
		if (o.kind == WORKLOAD_WORKING_SET)
			RUN_ERR("--qemu: our kernel runs memhog, pagefault or stress (no swap device)");
		if (o.qemu_linux && o.kernel_append)
			RUN_ERR("--append: our kernel's command line, not with --linux");
		if (o.qemu_linux && (o.lock_stats || stats || o.compact))
			RUN_ERR("--qemu: %s describes our allocator, not Linux's",
				o.lock_stats ? "--lock-stats" : stats ? "--stats" : "--compact");
		if (!o.qemu_linux && (o.lock_stats || stats || o.compact))
			RUN_ERR("--qemu: %s: our kernel does not take it yet",
				o.lock_stats ? "--lock-stats" : stats ? "--stats" : "--compact");
		if (o.kernel)
			cli_check_path("run ", "--kernel", o.kernel, false);
		if (o.qemu)
			cli_check_path("run ", "--qemu-binary", o.qemu, true);
		if (o.initrd)
			cli_check_path("run ", "--initrd", o.initrd, false);
	}
	if (o.cfg.reporting && o.mode == RUN_LINUX &&
	    o.cfg.hinting != GMM_HINTING_REPORT)
		RUN_ERR("--hinting %s: not with --linux (Linux reports with its own driver: report or off)",
			gmm_hinting_names[o.cfg.hinting]);
	/* Both given: they must say the same, or the last would win
	 * silently (on is report, off is off). */
	if (seen[OPT_REPORTING] && seen[OPT_HINTING] &&
	    hinting_arg != (reporting_arg ? GMM_HINTING_REPORT : GMM_HINTING_OFF))
		RUN_ERR("--reporting %s contradicts --hinting %s (--reporting %s is --hinting %s): give one",
			reporting_arg ? "on" : "off", gmm_hinting_names[hinting_arg],
			reporting_arg ? "on" : "off", reporting_arg ? "report" : "off");
	run_refuse_unused(&o, seen);
	/* Both bound the run: one would be ignored. */
	if (seen[OPT_ACCESSES] && seen[OPT_DURATION])
		RUN_ERR("--accesses and --duration: choose one");
	if (o.kind == WORKLOAD_WORKING_SET && o.mode == RUN_LINUX)
		RUN_ERR("--linux: the Linux guest runs memhog only");
	if (o.mode == RUN_LINUX) {
		if (o.kind != WORKLOAD_MEMHOG)
			RUN_ERR("--linux: the Linux guest runs memhog only");
		if (o.lock_stats || stats || o.compact)
			RUN_ERR("--linux: %s describes our allocator, not Linux's",
				o.lock_stats ? "--lock-stats" : stats ? "--stats" : "--compact");
		if (o.cfg.mem_bytes > RUN_LINUX_MEM_MAX)
			RUN_ERR("--mem: with --linux, must be between 64M and 64G");
		if (o.uml)
			cli_check_path("run ", "--uml", o.uml, true);
		if (o.initrd)
			cli_check_path("run ", "--initrd", o.initrd, false);
	}
	if (o.mode != RUN_IN_PROCESS) {
		cli_check_nofile("run");
		cli_check_tmpdir("run");
	}
	if (warmup_opt) {
		double duration = o.duration_s ? o.duration_s
			: o.kind == WORKLOAD_WORKING_SET ? 20 : 10;

		if (o.mode == RUN_LINUX || (o.mode == RUN_QEMU && o.qemu_linux))
			RUN_ERR("--warmup: not with --linux (nothing of the Linux guest's is measured after a warm-up)");
		if (o.kind != WORKLOAD_PAGEFAULT && !o.lock_stats)
			RUN_ERR("--warmup: only --workload pagefault and --lock-stats count from the end of a warm-up");
		if (o.kind != WORKLOAD_MEMHOG && !o.accesses && o.warmup_s >= duration)
			RUN_ERR("--warmup: %.0f s leaves nothing of the %.0f s --duration to measure",
				o.warmup_s, duration);
	}
	o.live = quiet ? NULL : (json ? stderr : stdout);
	err = run_guest(&o, &r);
	if (err) {
		if (!r.error_said)
			fprintf(stderr, "guestmm: run: the %s guest failed: %s\n",
				run_mode_name(o.mode), run_strerror(&r, err));
		return 1;
	}
	if (o.warmup_s > 0 && !r.warmed_up) {
		fprintf(stderr, "guestmm: run: the workload ended %.1f s in, before its %.0f s warm-up did: nothing measured\n",
			r.elapsed_s, o.warmup_s);
		return 1;
	}
	if (json)
		print_json(&o, &r);
	else
		print_summary(&o, &r);
	if (stats && !json)
		print_pagetypeinfo(&r);
	if (r.compacted && !json)
		print_buddyinfo(&r);
	if (o.lock_stats && !json) {
		printf("\nLock statistics over the run (%.1f s), times in microseconds:\n",
		       r.measured_s);
		print_lock_stat(stdout, r.locks);
	}
	/* Lost data fails the run as a mismatch does. */
	return r.errors || run_unreadable_pages(&r) ? 1 : 0;
}

static void usage(FILE *f)
{
	fputs("Usage: guestmm COMMAND [OPTION]...\n"
	      "guestmm gives a virtual machine's free memory back to its host.\n"
	      "\n"
	      "Commands:\n"
	      "  run          run a guest with a workload against a host in this\n"
	      "               process: a guest process (default), --in-process, or a\n"
	      "               user-mode Linux (--linux)\n"
	      "  guest        the guest process: our guest runtime attached to a balloon\n"
	      "               (guest --socket SOCKET [--mem-bytes N ...]); `run` starts it\n"
	      "  host         the host half: a virtio-balloon device over vhost-user\n"
	      "               (--listen SOCKET), with a Linux guest (--linux), or many\n"
	      "               guests of both kinds under one memory budget (--guests)\n"
	      "  ctl          drive a running host through its control socket: a\n"
	      "               guest's memory target, statistics, guests, events\n"
	      "  overcommit   how many guests fit in a host budget, with free page\n"
	      "               reporting and without\n"
	      "  bench NAME   benchmarks: overhead, return, alloc, discard, vhost,\n"
	      "               scale, strategies, cma, compact, offline, zswap\n"
	      "  help [CMD]   this text, or CMD's (as 'guestmm CMD --help')\n"
	      "  version      the version (also --version)\n"
	      "\n"
	      "'guestmm COMMAND --help' describes a command's options.\n",
	      f);
}

static const struct {
	const char *name;
	int (*main)(int argc, char **argv);
} commands[] = {
	{ "run", cmd_run },
	{ "bench", cmd_bench },
	{ "host", cmd_host },
	{ "ctl", cmd_ctl },
	{ "overcommit", cmd_overcommit },
	{ "guest", run_guest_process_main },
};

static int cmd_version(int argc, char **argv)
{
	if (argc > 1)
		cli_usage_error(NULL, "version: unexpected argument '%s'", argv[1]);
	printf("%s\n", cli_version());
	return 0;
}

/*
 * "guestmm help CMD [SUB]" is "guestmm CMD [SUB] --help": argv rebuilt
 * with --help last, so a command's own help is the only one there is.
 */
static int cmd_help(int argc, char **argv)
{
	char *args[4];

	if (argc < 2) {
		usage(stdout);
		return 0;
	}
	if (argc > 3 || (argc == 3 && argv[2][0] == '-'))
		cli_usage_error(NULL, "help: unexpected argument '%s'", argv[argc > 3 ? 3 : 2]);
	if (!strcmp(argv[1], "help")) {
		usage(stdout);
		return 0;
	}
	if (!strcmp(argv[1], "version")) {
		puts("Usage: guestmm version | guestmm --version\n"
		     "Print the version of guestmm.");
		return 0;
	}
	for (size_t i = 0; i < sizeof(commands) / sizeof(commands[0]); i++) {
		int n = 0;

		if (strcmp(argv[1], commands[i].name))
			continue;
		args[n++] = argv[1];
		if (argc == 3)
			args[n++] = argv[2];
		args[n++] = (char *)"--help";
		args[n] = NULL;
		return commands[i].main(n, args);
	}
	cli_usage_error(NULL, "help: unknown command '%s'", argv[1]);
}

/*
 * A command's results that never reached standard output (a full disk, a
 * reader gone: SIGPIPE is ignored by the commands that talk to sockets and
 * guests) are a failure, not a success: @rc, or 1 after one line.
 */
static int stdout_checked(int rc)
{
	errno = 0;
	if (fflush(stdout) == 0 && !ferror(stdout))
		return rc;
	fprintf(stderr, "guestmm: standard output: %s: the results were not all written\n",
		strerror(errno ? errno : EIO));
	return rc ? rc : 1;
}

int main(int argc, char **argv)
{
	if (argc < 2) {
		usage(stderr);
		return CLI_EXIT_USAGE;
	}
	for (size_t i = 0; i < sizeof(commands) / sizeof(commands[0]); i++)
		if (!strcmp(argv[1], commands[i].name))
			return stdout_checked(commands[i].main(argc - 1, argv + 1));
	if (!strcmp(argv[1], "help"))
		return cmd_help(argc - 1, argv + 1);
	if (!strcmp(argv[1], "version") || !strcmp(argv[1], "--version"))
		return cmd_version(argc - 1, argv + 1);
	if (!strcmp(argv[1], "--help") || !strcmp(argv[1], "-h")) {
		usage(stdout);
		return 0;
	}
	cli_usage_error(NULL, "unknown command '%s'", argv[1]);
}
