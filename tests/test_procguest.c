/*
 * test_procguest.c - process guests: our guest runtime as a process of its
 * own (the balloon driver itself is tests/test_balloon_driver.c's).
 *
 * The runner tests start this very program as the guest process
 * ("test_procguest guest ...") and check what the host sees: memory
 * returned by its own accounting, no guest left behind when the host is
 * killed, and a working-set page lost to a failed swap read (every swap
 * file this binary makes sits on tests/swap_inject_wrap.c) counted and its
 * process killed, in process and through the console; the console tests
 * feed the host a guest that is not ours.  Waits are bounded and only for
 * an event; nothing is timed.
 */
#ifndef _GNU_SOURCE
#define _GNU_SOURCE
#endif
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <cmocka.h>

#include <dirent.h>
#include <errno.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <fcntl.h>
#include <string.h>
#include <sys/prctl.h>
#include <sys/resource.h>
#include <sys/wait.h>
#include <sys/stat.h>
#include <math.h>
#include <time.h>
#include <unistd.h>

#include "guest/balloon_driver.h"
#include "guest/balloon_process.h"
#include "guestmm/guest.h"
#include "host/backend.h"
#include "host/balloon.h"
#include "host/vhost_user.h"
#include "mm/gfp.h"
#include "runner/run.h"

#include "stderr_capture.h"

#define WAIT_MS 20000
#define MIB (1024ull * 1024)
#define F(bit) (UINT64_C(1) << (bit))

/* ---- the runner: this program as the guest process ---- */

static char self_exe[4096];

static void proc_opts(struct run_opts *o)
{
	run_opts_init(o);
	o->mode = RUN_PROCESS;
	o->guest_exe = self_exe;
	o->cfg.mem_bytes = 256 * MIB;
	o->cfg.cpus = 1;
	o->cfg.report_delay_ms = 0;
	o->cycles = 1;
	o->hold_ms = 0;
	o->sleep_ms = 1500;
}

static void test_process_guest_returns_memory(void **state)
{
	struct run_opts o;
	struct run_result *r = calloc(1, sizeof(*r));
	const struct run_cycle *c;

	(void)state;
	assert_non_null(r);
	proc_opts(&o);
	assert_int_equal(run_guest(&o, r), 0);
	assert_int_equal(r->nr_cycles, 1);
	c = &r->cycle[0];
	assert_true(c->freed_bytes >= 150 * MIB);
	/* By the host's accounting, most of it went back. */
	if ((double)(c->resident_at_free - c->resident_after) <
	    0.9 * (double)c->freed_bytes)
		fail_msg("returned %llu of %llu bytes",
			 (unsigned long long)(c->resident_at_free - c->resident_after),
			 (unsigned long long)c->freed_bytes);
	assert_true(r->stats.reports > 0); /* the device's count */
	assert_int_equal(r->nr_zones, 2);
	assert_true(r->zones[1].managed_pages > 0);

	/* Reporting off: the device is told nothing, nothing goes back. */
	proc_opts(&o);
	o.cfg.reporting = false;
	o.sleep_ms = 300;
	assert_int_equal(run_guest(&o, r), 0);
	assert_int_equal(r->stats.reports, 0);
	c = &r->cycle[0];
	assert_true(c->resident_at_free - c->resident_after <
		    c->freed_bytes / 10);
	free(r);
}

/*
 * Small process guests with every setting at its default (issue 16): 64,
 * 128 and 256 MiB, memhog of 75 % of RAM, two cycles each; by the device's
 * accounting of the memfd, every cycle gives back at least 95 % of what
 * the host asked the guest to free.  The guests run side by side, each run
 * in a child of its own (run_guest() owns the process's signals); the
 * sleep after each free (8 s, the report delay + 1 s four times over) is a
 * hang guard, not a timing.
 */
#define SMALL_CYCLES 2

struct small_result {
	int err;
	unsigned int nr_cycles;
	uint64_t freed[SMALL_CYCLES], at_free[SMALL_CYCLES], after[SMALL_CYCLES];
};

static void small_process_guest(uint64_t mem, int fd)
{
	struct run_result *r = calloc(1, sizeof(*r));
	struct small_result out = { .err = -ENOMEM };
	struct run_opts o;

	if (r) {
		run_opts_init(&o);
		o.guest_exe = self_exe;
		o.cfg.mem_bytes = mem;
		o.cycles = SMALL_CYCLES;
		o.hold_ms = 200;
		o.sleep_ms = 8000;
		out.err = run_guest(&o, r);
		out.nr_cycles = r->nr_cycles;
		for (unsigned int c = 0; c < SMALL_CYCLES && c < r->nr_cycles; c++) {
			out.freed[c] = r->cycle[c].freed_bytes;
			out.at_free[c] = r->cycle[c].resident_at_free;
			out.after[c] = r->cycle[c].resident_after;
		}
	}
	_exit(write(fd, &out, sizeof(out)) == sizeof(out) ? 0 : 1);
}

static void test_small_process_guests_return(void **state)
{
	static const uint64_t mem[3] = { 64 * MIB, 128 * MIB, 256 * MIB };
	struct small_result res[3];
	int fds[3][2];
	pid_t pid[3];

	(void)state;
	for (int i = 0; i < 3; i++) {
		assert_int_equal(pipe(fds[i]), 0);
		pid[i] = fork();
		assert_true(pid[i] >= 0);
		if (!pid[i]) {
			close(fds[i][0]);
			small_process_guest(mem[i], fds[i][1]);
		}
		close(fds[i][1]);
	}
	for (int i = 0; i < 3; i++) {
		int status;

		memset(&res[i], 0, sizeof(res[i]));
		res[i].err = -EIO;
		if (read(fds[i][0], &res[i], sizeof(res[i])) != sizeof(res[i]))
			res[i].err = -EIO;
		close(fds[i][0]);
		assert_int_equal(waitpid(pid[i], &status, 0), pid[i]);
	}
	for (int i = 0; i < 3; i++) {
		assert_int_equal(res[i].err, 0);
		assert_int_equal(res[i].nr_cycles, SMALL_CYCLES);
		for (int c = 0; c < SMALL_CYCLES; c++) {
			double frac = res[i].at_free[c] > res[i].after[c]
				? (double)(res[i].at_free[c] - res[i].after[c]) /
					  (double)res[i].freed[c]
				: 0;

			print_message("%3llu MiB process guest, cycle %d: freed %llu MiB, the host got back %.1f %%\n",
				      (unsigned long long)(mem[i] / MIB), c + 1,
				      (unsigned long long)(res[i].freed[c] / MIB),
				      100 * frac);
			assert_int_equal(res[i].freed[c], mem[i] / 4 * 3);
		}
	}
	for (int i = 0; i < 3; i++)
		for (int c = 0; c < SMALL_CYCLES; c++)
			if (res[i].at_free[c] < res[i].after[c] ||
			    res[i].at_free[c] - res[i].after[c] <
				    res[i].freed[c] / 100 * 95)
				fail_msg("%llu MiB process guest, cycle %d: resident %llu MiB at the free, %llu MiB 8 s later, of %llu MiB freed (want 95 %% back)",
					 (unsigned long long)(mem[i] / MIB), c + 1,
					 (unsigned long long)(res[i].at_free[c] / MIB),
					 (unsigned long long)(res[i].after[c] / MIB),
					 (unsigned long long)(res[i].freed[c] / MIB));
}

/* guestmm run --hinting bitmap: the device's hint commands return memory. */
static void test_process_guest_bitmap(void **state)
{
	struct run_opts o;
	struct run_result *r = calloc(1, sizeof(*r));
	const struct run_cycle *c;

	(void)state;
	assert_non_null(r);
	proc_opts(&o);
	o.cfg.hinting = GMM_HINTING_BITMAP;
	o.cfg.hint_poll_ms = 50;
	assert_int_equal(run_guest(&o, r), 0);
	assert_int_equal(r->nr_cycles, 1);
	c = &r->cycle[0];
	assert_true(c->freed_bytes >= 150 * MIB);
	if ((double)(c->resident_at_free - c->resident_after) <
	    0.9 * (double)c->freed_bytes)
		fail_msg("returned %llu of %llu bytes",
			 (unsigned long long)(c->resident_at_free - c->resident_after),
			 (unsigned long long)c->freed_bytes);
	/* The device's count: commands the guest ended, bytes it hinted. */
	assert_true(r->stats.reports > 0);
	assert_true(r->stats.reported_bytes >= 150 * MIB);
	assert_int_equal(r->stats.hinting, GMM_HINTING_BITMAP);
	free(r);
}

/*
 * attack9: the integrity stress under the bitmap through the device: the
 * guest process's threads write and verify their blocks while the device
 * asks for hints every millisecond and punches what it is handed.  No
 * block may change under its owner (the guest's check), and the device
 * must really have run commands meanwhile (its own count).
 */
static void test_process_guest_bitmap_stress(void **state)
{
	struct run_opts o;
	struct run_result *r = calloc(1, sizeof(*r));

	(void)state;
	assert_non_null(r);
	proc_opts(&o);
	o.kind = WORKLOAD_STRESS;
	o.duration_s = 4;
	o.cfg.cpus = 2;
	o.cfg.hinting = GMM_HINTING_BITMAP;
	o.cfg.hint_poll_ms = 1;
	assert_int_equal(run_guest(&o, r), 0);
	print_message("attack9: %llu blocks verified, %llu mismatches, %llu hint commands done (%llu MiB)\n",
		      (unsigned long long)r->blocks,
		      (unsigned long long)r->errors,
		      (unsigned long long)r->stats.reports,
		      (unsigned long long)(r->stats.reported_bytes >> 20));
	assert_int_equal(r->errors, 0);
	assert_true(r->blocks > 0);
	assert_true(r->stats.reports > 0);
	assert_true(r->stats.reported_bytes > 0);
	free(r);
}

/*
 * attack9: the cycle count is the guest's word (and a sampler can miss a
 * short cycle).  A sample that jumps from cycle 1 to cycle 4 opened
 * cycles 2 and 3 as all zeros: a "time to 90 %" of 0.00 s for cycles
 * never seen, in the table and in --json.  A cycle not seen was never
 * measured: NaN ("never", null).
 */
static void test_console_cycle_jump(void **state)
{
	struct run_opts o;
	struct run_result *r = calloc(1, sizeof(*r));
	struct run_sample s = { .kind = WORKLOAD_MEMHOG };
	unsigned int seen = 0;

	(void)state;
	assert_non_null(r);
	proc_opts(&o);
	s.cycle = 1;
	s.phase = 1;
	s.resident = 100 * MIB;
	run_track(&o, r, &s, &seen);
	s.cycle = 4;
	run_track(&o, r, &s, &seen);
	assert_int_equal(r->nr_cycles, 4);
	for (unsigned int c = 0; c < 4; c++) {
		assert_true(isnan(r->cycle[c].time_to_90pct_s));
		assert_true(isnan(r->cycle[c].time_to_95pct_s));
	}
	free(r);
}

static void test_bad_guest_exe(void **state)
{
	struct run_opts o;
	struct run_result *r = calloc(1, sizeof(*r));

	(void)state;
	proc_opts(&o);
	o.guest_exe = "/nonexistent/guestmm";
	assert_int_equal(run_guest(&o, r), -ENOENT);
	/* An executable that is no guest: it exits at once. */
	proc_opts(&o);
	o.guest_exe = "/bin/true";
	assert_int_equal(run_guest(&o, r), -ECHILD);
	free(r);
}


/*
 * Issue 16, item 1: every swap read of a working-set run fails (EIO,
 * tests/swap_inject_wrap.c under every swap file this binary makes, here
 * and in its guest process).  One vCPU, one process, its working set half
 * as large again as RAM: it must read swap, and dies at its first read.  In
 * process and through the guest process's console, the result says one
 * page was lost and its process killed for it - not an allocation failure,
 * not a mismatch - and the slot is bad.  The run ends when its process
 * does: the duration is only a bound (a process that goes on beside a
 * killed one: test_cli's test_swap_unreadable).
 */
static void test_working_set_unreadable(void **state)
{
	static const enum run_mode modes[] = { RUN_IN_PROCESS, RUN_PROCESS };
	struct run_result *r = calloc(1, sizeof(*r));
	struct run_opts o;

	(void)state;
	assert_non_null(r);
	setenv("GMM_TEST_SWAP_READ_FAIL_FROM", "1", 1);
	for (unsigned int m = 0; m < 2; m++) {
		proc_opts(&o);
		o.mode = modes[m];
		o.kind = WORKLOAD_WORKING_SET;
		o.cfg.mem_bytes = 64 * MIB;
		o.cfg.cpus = 1;
		o.duration_s = 600;
		memset(r, 0, sizeof(*r));
		assert_int_equal(run_guest(&o, r), 0);
		assert_true(r->has_anon);
		if (r->killed != 1 || run_unreadable_pages(r) != 1 ||
		    r->anon.swap_bad != 1 || r->alloc_failures || r->errors ||
		    r->anon.events[SWAP_WRITE_ERR])
			fail_msg("%s: %llu unreadable pages, %u killed, %llu bad slots, "
				 "%llu allocation failures, %llu mismatches",
				 run_mode_name(o.mode),
				 (unsigned long long)run_unreadable_pages(r), r->killed,
				 (unsigned long long)r->anon.swap_bad,
				 (unsigned long long)r->alloc_failures,
				 (unsigned long long)r->errors);
		assert_true(r->accesses > 0);
	}
	unsetenv("GMM_TEST_SWAP_READ_FAIL_FROM");
	free(r);
}

/*
 * The console's "gmm-killed ID ADDR": the host says each process once,
 * however often a guest repeats it, and takes no id beyond the workload's
 * thread limit from it.
 */
static void test_console_killed(void **state);

/*
 * attack7: the guest's console, from a guest that is not ours (a script).
 * The rule: what the guest writes is its own figures at most; it must not
 * stall the host, make it print garbage, or stand in for the host's
 * accounting.
 */
static char fake_dir[64];

/* The directory of the fake guests (and what the tests capture). */
static void fake_dir_make(void)
{
	if (!fake_dir[0]) {
		snprintf(fake_dir, sizeof(fake_dir), "/tmp/attack7.XXXXXX");
		assert_non_null(mkdtemp(fake_dir));
	}
}

/* A guest executable whose body is @script (sh); the path returned is
 * good until the next call. */
static const char *fake_guest(const char *name, const char *script)
{
	static char path[160];
	FILE *f;

	fake_dir_make();
	snprintf(path, sizeof(path), "%s/%s", fake_dir, name);
	f = fopen(path, "w");
	assert_non_null(f);
	fprintf(f, "#!/bin/sh\n%s\n", script);
	fclose(f);
	assert_int_equal(chmod(path, 0755), 0);
	return path;
}

static double now_s(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (double)ts.tv_sec + ts.tv_nsec / 1e9;
}

static void test_console_killed(void **state)
{
	struct run_opts o;
	struct run_result *r = calloc(1, sizeof(*r));

	(void)state;
	assert_non_null(r);
	proc_opts(&o);
	o.sample_s = 0.05;
	o.guest_exe = fake_guest("killed",
		"echo 'gmm-ready 0 0 1'\n"
		"echo 'gmm-killed 1 1073741824'\n"
		"echo 'gmm-killed 1 1073741824'\n"
		"echo 'gmm-killed 1 4096'\n"
		"echo 'gmm-killed 4000000000 4096'\n"
		"echo 'gmm-killed 256 4096'\n"
		"echo gmm-done");
	run_guest(&o, r); /* it never attached: an error, the lines were read */
	assert_int_equal(r->killed, 1);
	free(r);
}

/*
 * attack7 #3: "gmm-done", then the console closed and the process kept
 * alive: pg_reap(kill_it = false) waited in waitpid() with no bound.  The
 * guest lingers 300 s (exec: the process the host reaps is the sleep); the
 * host reaps it PG_REAP_GRACE_S after its console closed.  The bound is
 * far from both, so that only a wait for the linger fails it, however
 * loaded the machine.
 */
static void test_console_done_then_linger(void **state)
{
	struct run_opts o;
	struct run_result *r = calloc(1, sizeof(*r));
	double t0, t;
	int err;

	(void)state;
	proc_opts(&o);
	o.guest_exe = fake_guest("linger",
		"echo 'gmm-ready 0 0 1'\n"
		"echo 'gmm-end 1 1 0 0 0 0 0 0'\n"
		"echo gmm-done\n"
		"exec >&-\n"
		"exec sleep 300");
	t0 = now_s();
	err = run_guest(&o, r);
	t = now_s() - t0;
	print_message("attack7: run_guest %d after %.1f s (the guest lingers 300 s after its console closed)\n",
		      err, t);
	free(r);
	if (t >= 120)
		fail_msg("run_guest returned after %.1f s: it waited for the guest's linger", t);
}

/* attack7 #4: a zone name with control characters goes into the result
 * (and from there into the text table and json_str(), which escapes only
 * '"' and '\\': the --json output is not JSON any more). */
static void test_console_control_chars(void **state)
{
	struct run_opts o;
	struct run_result *r = calloc(1, sizeof(*r));
	int err;

	(void)state;
	proc_opts(&o);
	o.guest_exe = fake_guest("ctl",
		"echo 'gmm-ready 0 0 1'\n"
		"printf 'gmm-zone 0 \\033[2J\\001\\033]0;pwn\\007 1 1 1 1 1 1 1\\n'\n"
		"echo 'gmm-end 1 1 0 0 0 0 0 0'\n"
		"echo gmm-done");
	err = run_guest(&o, r);
	print_message("attack7: run_guest %d, zone 0 named \"", err);
	for (const char *c = r->zone_name[0]; *c; c++)
		print_message((unsigned char)*c < 0x20 ? "\\x%02x" : "%c",
			      (unsigned char)*c);
	print_message("\"\n");
	for (const char *c = r->zone_name[0]; *c; c++)
		assert_true((unsigned char)*c >= 0x20 && (unsigned char)*c < 0x7f);
	free(r);
}

/* attack7 #4 (stderr): what the guest writes on stderr reaches ours a line
 * at a time, prefixed, with its control bytes escaped. */
static void test_console_stderr(void **state)
{
	struct run_opts o;
	struct run_result *r = calloc(1, sizeof(*r));
	struct stderr_capture cap;
	char text[4096];
	ssize_t n;

	(void)state;
	proc_opts(&o);
	o.guest_exe = fake_guest("err",
		"printf 'x\\033]0;pwn\\007\\033[2Jy\\n' >&2\n"
		"echo 'gmm-ready 0 0 1'\n"
		"echo gmm-done");
	stderr_capture_begin(&cap, fake_dir, "stderr");
	run_guest(&o, r);
	n = stderr_capture_end(&cap, text, sizeof(text));
	free(r);
	assert_true(n > 0);
	print_message("attack7: the host's stderr: %s", text);
	assert_non_null(strstr(text, "guestmm: guest: x\\x1b]0;pwn\\x07\\x1b[2Jy\n"));
	for (ssize_t i = 0; i < n; i++)
		assert_true((unsigned char)text[i] >= 0x20 || text[i] == '\n');
}

/* attack7 #5: the figures of memory returned rest on the guest's word: the
 * denominator (freed_bytes) and the clock of the time to 90 % (freed_at_ns)
 * come from its "gmm-sample" lines.  A guest that never attached to the
 * device, so returned nothing by the host's accounting, still gets a run
 * that succeeds with a time to 90 % of ~0 s. */
static void test_console_fake_return(void **state)
{
	struct run_opts o;
	struct run_result *r = calloc(1, sizeof(*r));
	int err;

	(void)state;
	proc_opts(&o);
	o.sample_s = 0.05;
	o.guest_exe = fake_guest("fake",
		"echo 'gmm-ready 0 0 1'\n"
		"echo 'gmm-phase 3'\n"
		"for i in 1 2 3 4 5; do\n"
		"  now=$(python3 -c 'import time; print(time.monotonic_ns())')\n"
		"  echo \"gmm-sample 0 0 1 3 0 $now 0 0\"\n"
		"  sleep 0.1\n"
		"done\n"
		"echo 'gmm-end 1 1 0 0 0 0 0 0'\n"
		"echo gmm-done");
	err = run_guest(&o, r);
	print_message("attack7: run_guest %d; device reports %llu; cycle 1: freed %llu, time to 90%% %.3f s\n",
		      err, (unsigned long long)r->stats.reports,
		      (unsigned long long)r->cycle[0].freed_bytes,
		      r->cycle[0].time_to_90pct_s);
	/* A guest that never attached has returned nothing: no success, or
	 * at least no time to 90 %. */
	{
		double t90 = r->cycle[0].time_to_90pct_s;

		free(r);
		assert_true(err != 0 || isnan(t90));
	}
}

/*
 * attack9: "gmm-done" is the guest's last word, but the host kept reading
 * until the console closed: a guest (ours, run by a script that goes on
 * writing to the same console for a minute and then leaves a mark) held
 * the run for as long as it liked, and its later lines went into the
 * result.  The host must end it before it leaves its mark, and what it
 * wrote after gmm-done must not count.
 */
static void test_console_talks_after_done(void **state)
{
	struct run_opts o;
	struct run_result *r = calloc(1, sizeof(*r));
	char mark[128], script[sizeof(self_exe) + 512];

	(void)state;
	assert_non_null(r);
	proc_opts(&o);
	o.sleep_ms = 300;
	fake_guest("dummy", ":"); /* makes fake_dir */
	snprintf(mark, sizeof(mark), "%s/talked-on", fake_dir);
	unlink(mark);
	snprintf(script, sizeof(script),
		 /* guest --socket S --parent P ...: we are its parent now */
		 "sock=$3; shift 5\n"
		 "'%s' guest --socket \"$sock\" --parent $$ \"$@\" || exit 1\n"
		 "i=0; while [ $i -lt 600 ]; do\n"
		 "  echo 'gmm-zone 0 late 1 1 1 1 1 1 1' || exit 0\n"
		 "  sleep 0.1; i=$((i+1))\n"
		 "done\n"
		 "touch '%s'",
		 self_exe, mark);
	o.guest_exe = fake_guest("talker", script);
	print_message("attack9: run_guest %d\n", run_guest(&o, r));
	assert_int_equal(access(mark, F_OK), -1);
	assert_string_not_equal(r->zone_name[0], "late");
	free(r);
}

/*
 * The end of a freed cycle is the guest's "gmm-phase 1" (allocating again),
 * not its next sample: between that line and the sample after it, the host
 * went on putting its own accounting into the last cycle's resident after
 * the free, by then the next cycle's allocation (a 64 MiB guest's cycle 1
 * read 95.3 % returned when all of it had come back).  Here the console is
 * held for a second after the second cycle's phase line, while the guest
 * allocates 75 % of its RAM: the first cycle must still read as returned.
 */
static void test_console_phase_ends_cycle(void **state)
{
	struct run_opts o;
	struct run_result *r = calloc(1, sizeof(*r));
	char script[sizeof(self_exe) + 512];
	const struct run_cycle *c;

	(void)state;
	assert_non_null(r);
	proc_opts(&o);
	o.cycles = 2;
	o.sleep_ms = 1500;
	snprintf(script, sizeof(script),
		 "sock=$3; shift 5\n"
		 "'%s' guest --socket \"$sock\" --parent $$ \"$@\" |\n"
		 "{ n=0; while IFS= read -r l; do printf '%%s\\n' \"$l\"\n"
		 "  [ \"$l\" = 'gmm-phase 1' ] && n=$((n+1)) && [ $n = 2 ] && sleep 1\n"
		 /* a while loop's status is its body's last: the [ ] */
		 "done; true; }",
		 self_exe);
	o.guest_exe = fake_guest("phase-hold", script);
	assert_int_equal(run_guest(&o, r), 0);
	assert_int_equal(r->nr_cycles, 2);
	c = &r->cycle[0];
	print_message("cycle 1: resident %llu MiB at the free, %llu MiB after, %llu MiB freed\n",
		      (unsigned long long)(c->resident_at_free / MIB),
		      (unsigned long long)(c->resident_after / MIB),
		      (unsigned long long)(c->freed_bytes / MIB));
	if (c->resident_at_free < c->resident_after ||
	    c->resident_at_free - c->resident_after < c->freed_bytes / 10 * 9)
		fail_msg("cycle 1: resident %llu MiB at the free and %llu MiB after it: the next cycle's allocation counted as not returned",
			 (unsigned long long)(c->resident_at_free / MIB),
			 (unsigned long long)(c->resident_after / MIB));
	free(r);
}

/*
 * attack9: a console line longer than the host's buffer was dropped only
 * up to the buffer's size (8191 bytes): the rest of it was read as a line
 * of its own, here a zone.
 */
static void test_console_overlong_line(void **state)
{
	struct run_opts o;
	struct run_result *r = calloc(1, sizeof(*r));

	(void)state;
	assert_non_null(r);
	proc_opts(&o);
	o.guest_exe = fake_guest("overlong",
		"echo 'gmm-ready 0 0 1'\n"
		"head -c 8191 /dev/zero | tr '\\0' x\n"
		"echo 'gmm-zone 0 tail 1 1 1 1 1 1 1'\n"
		"echo 'gmm-end 1 1 0 0 0 0 0 0'\n"
		"echo gmm-done");
	run_guest(&o, r);
	assert_int_equal(r->nr_zones, 0);
	free(r);
}

/*
 * attack9: numbers with a sign or none at all.  sscanf's %u and %llu take
 * "-1" as their largest value and %lf takes "nan" and "inf": a guest's
 * "gmm-vm 0 -1" became 18446744073709551615 in the result (and --json).
 * Our guest writes no sign and no such word: such a line is dropped.
 */
static void test_console_signed_numbers(void **state)
{
	struct run_opts o;
	struct run_result *r = calloc(1, sizeof(*r));

	(void)state;
	assert_non_null(r);
	proc_opts(&o);
	o.guest_exe = fake_guest("signed",
		"echo 'gmm-ready 0 0 1'\n"
		"echo 'gmm-vm 0 -1'\n"
		"echo 'gmm-zswap 1 +7'\n"
		"echo 'gmm-zone 0 minus -5 1 1 1 1 1 1'\n"
		"echo 'gmm-compacted nan 1 1 1 1 1 1'\n"
		"echo 'gmm-end inf -1 0 0 0 0 0 0'\n"
		"echo gmm-done");
	run_guest(&o, r);
	assert_int_equal(r->anon.events[0], 0);
	assert_int_equal(r->anon.zswap.events[1], 0);
	assert_int_equal(r->nr_zones, 0);
	assert_false(r->compacted);
	assert_true(r->elapsed_s == 0);
	free(r);
}

/*
 * issue 16 #3: a host whose descriptor limit was below 428 never accepted
 * a frontend (the reapers' fixed reserve of 320 did not fit three quarters
 * of the limit) and said nothing: the guest gave up after 5 s.  At every
 * limit from the least that can work, a run (host and guest process both
 * under the limit, soft and hard: the host raises its soft limit to the
 * hard one) attaches and reports; one below, the host refuses at start.
 * Each run is a child of ours, under a watchdog.
 */
static int run_at_nofile(rlim_t limit)
{
	int status;
	pid_t pid = fork();

	assert_true(pid >= 0);
	if (pid == 0) {
		struct rlimit rl = { limit, limit };
		struct run_result *r = calloc(1, sizeof(*r));
		struct run_opts o;
		int err;

		alarm(120); /* a run that never attaches: fail, not hang */
		if (!r || setrlimit(RLIMIT_NOFILE, &rl))
			_exit(100);
		proc_opts(&o);
		o.cfg.mem_bytes = 128 * MIB;
		o.sleep_ms = 1000;
		err = run_guest(&o, r);
		if (err == -EMFILE)
			_exit(101);
		if (err)
			_exit(102);
		_exit(r->stats.reports > 0 ? 0 : 103);
	}
	assert_int_equal(waitpid(pid, &status, 0), pid);
	if (WIFSIGNALED(status))
		fail_msg("RLIMIT_NOFILE %lu: the run was killed by signal %d (the watchdog: it never ended)",
			 (unsigned long)limit, WTERMSIG(status));
	return WEXITSTATUS(status);
}

static void test_nofile_limits(void **state)
{
	static const rlim_t works[] = { 128, 256, 400, 427 };
	unsigned long min = vhost_user_nofile_min();

	(void)state;
	print_message("the least RLIMIT_NOFILE a host can serve at: %lu\n", min);
	assert_true(min <= 128);
	for (unsigned int i = 0; i < sizeof(works) / sizeof(works[0]); i++) {
		int rc = run_at_nofile(works[i]);

		if (rc)
			fail_msg("RLIMIT_NOFILE %lu: the run failed (%d: 101 refused, 102 failed, 103 no report)",
				 (unsigned long)works[i], rc);
	}
	assert_int_equal(run_at_nofile(min), 0);
	assert_int_equal(run_at_nofile(min - 1), 101);
}

/*
 * run_guest() with the host's stderr captured into @text (at most @len).
 * Return: run_guest()'s.
 */
static int run_captured(const struct run_opts *o, struct run_result *r,
			char *text, size_t len)
{
	struct stderr_capture cap;
	int err;

	fake_dir_make();
	stderr_capture_begin(&cap, fake_dir, "host-stderr");
	err = run_guest(o, r);
	stderr_capture_end(&cap, text, len);
	return err;
}

/* Occurrences of @needle in @text. */
static unsigned int count_of(const char *text, const char *needle)
{
	unsigned int n = 0;

	for (const char *p = text; (p = strstr(p, needle)); p++)
		n++;
	return n;
}

/*
 * issue 16 #5: every process-guest failure read "the process guest failed:
 * No child processes".  The host says how its guest ended: its exit status,
 * or the signal that killed it, by number and name.
 */
static void test_guest_end_named(void **state)
{
	static const struct {
		const char *name, *script, *want;
	} ends[] = {
		{ "exit3", "exit 3", "it exited with status 3" },
		{ "sigkill", "kill -KILL $$", "it was killed by signal 9 (SIGKILL)" },
		{ "sigsegv", "ulimit -c 0; kill -SEGV $$",
		  "it was killed by signal 11 (SIGSEGV)" },
		{ "readykill", "echo 'gmm-ready 0 0 1'; kill -KILL $$",
		  "it was killed by signal 9 (SIGKILL)" },
	};
	struct run_result *r = calloc(1, sizeof(*r));
	char text[4096];

	(void)state;
	assert_non_null(r);
	for (unsigned int i = 0; i < sizeof(ends) / sizeof(ends[0]); i++) {
		struct run_opts o;
		int err;

		proc_opts(&o);
		o.guest_exe = fake_guest(ends[i].name, ends[i].script);
		err = run_captured(&o, r, text, sizeof(text));
		print_message("%s: run_guest %d, \"%s\"; stderr: %s\n",
			      ends[i].name, err, r->failure, text);
		assert_true(err < 0);
		assert_string_equal(r->failure, ends[i].want);
		assert_null(strstr(text, "No child processes"));
	}
	free(r);
}

/*
 * issue 16 #5: a guest that cannot make its RAM said nothing.  Under an
 * RLIMIT_AS smaller than its RAM (set in the child only: the host maps the
 * same RAM), the guest names what failed once, the host relays it with one
 * "guestmm: guest: " (it used to double it) and says how the guest ended.
 */
static void test_guest_rlimit_as_named(void **state)
{
	struct run_result *r;
	char script[sizeof(self_exe) + 64], text[4096];
	struct run_opts o;
	int err;

#if defined(__SANITIZE_ADDRESS__) || defined(__SANITIZE_THREAD__)
	/* AddressSanitizer reserves its shadow at start: no guest of an ASan
	 * build comes up under an RLIMIT_AS, whatever its RAM. */
	print_message("skipped: RLIMIT_AS and AddressSanitizer\n");
	skip();
#endif
	r = calloc(1, sizeof(*r));

	(void)state;
	assert_non_null(r);
	proc_opts(&o);
	/* 256 MiB of RAM under 128 MiB of address space. */
	snprintf(script, sizeof(script), "ulimit -v 131072\nexec '%s' \"$@\"",
		 self_exe);
	o.guest_exe = fake_guest("rlimit-as", script);
	err = run_captured(&o, r, text, sizeof(text));
	print_message("run_guest %d, \"%s\"; stderr: %s\n", err, r->failure,
		      text);
	assert_true(err < 0);
	assert_string_equal(r->failure, "it exited with status 1");
	assert_int_equal(count_of(text, "guestmm: guest: cannot make the guest's RAM"), 1);
	assert_int_equal(count_of(text, "mmap: Cannot allocate memory (RLIMIT_AS is 128.00 MiB)"), 1);
	assert_int_equal(count_of(text, "guestmm: guest: guestmm:"), 0);
	assert_int_equal(count_of(text, "guestmm: guest: guest:"), 0);

	/* The guest's own one-line errors, relayed once prefixed. */
	proc_opts(&o);
	snprintf(script, sizeof(script), "exec '%s' \"$@\" --bogus 1", self_exe);
	o.guest_exe = fake_guest("bogus", script);
	err = run_captured(&o, r, text, sizeof(text));
	assert_true(err < 0);
	assert_string_equal(r->failure, "it exited with status 2");
	assert_int_equal(count_of(text, "guestmm: guest: unrecognized argument '--bogus'\n"), 1);
	assert_int_equal(count_of(text, "guestmm: guest: guest:"), 0);
	free(r);
}

/*
 * issue 16 #5: memfd_create failing (no descriptor left) is named as such,
 * by the call that failed; in a child, whose descriptor limit is its
 * lowest free descriptor.
 */
static void test_memfd_failure_named(void **state)
{
	char path[96], text[1024];
	int fd, status;
	pid_t pid;
	ssize_t n;

	(void)state;
	fake_dir_make();
	snprintf(path, sizeof(path), "%s/memfd-stderr", fake_dir);
	fd = open(path, O_RDWR | O_CREAT | O_TRUNC | O_CLOEXEC, 0600);
	assert_true(fd >= 0);
	pid = fork();
	assert_true(pid >= 0);
	if (!pid) {
		struct gmm_guest_config c;
		struct gmm_guest *g;
		struct rlimit rl;
		int lowest = dup(0);

		dup2(fd, STDERR_FILENO);
		close(lowest);
		getrlimit(RLIMIT_NOFILE, &rl);
		rl.rlim_cur = (rlim_t)lowest;
		if (lowest < 0 || setrlimit(RLIMIT_NOFILE, &rl))
			_exit(100);
		gmm_guest_config_init(&c);
		c.mem_bytes = 64 * MIB;
		_exit(gmm_guest_create(&c, &g) == -EMFILE ? 0 : 101);
	}
	assert_int_equal(waitpid(pid, &status, 0), pid);
	n = pread(fd, text, sizeof(text) - 1, 0);
	close(fd);
	unlink(path);
	text[n > 0 ? n : 0] = 0;
	print_message("stderr: %s", text);
	assert_true(WIFEXITED(status) && WEXITSTATUS(status) == 0);
	assert_string_equal(text, "guestmm: cannot make the guest's RAM (64.00 MiB): memfd_create: Too many open files\n");
}

/* The pids whose parent is @ppid. */
static unsigned int children_of(pid_t ppid, pid_t *out, unsigned int max)
{
	DIR *d = opendir("/proc");
	struct dirent *e;
	unsigned int n = 0;

	assert_non_null(d);
	while ((e = readdir(d)) && n < max) {
		char path[300], buf[512], *p;
		FILE *fp;
		int pp;

		if (e->d_name[0] < '1' || e->d_name[0] > '9')
			continue;
		snprintf(path, sizeof(path), "/proc/%s/stat", e->d_name);
		fp = fopen(path, "r");
		if (!fp)
			continue;
		if (fgets(buf, sizeof(buf), fp) && (p = strrchr(buf, ')')) &&
		    sscanf(p + 2, "%*c %d", &pp) == 1 && pp == ppid)
			out[n++] = (pid_t)atoi(e->d_name);
		fclose(fp);
	}
	closedir(d);
	return n;
}

/* Kill the host mid-run: its guest process must not outlive it. */
static void test_no_orphans(void **state)
{
	pid_t host, guest = 0;
	int status;

	(void)state;
	/* Orphans come to us, not to init, so that we can see them die. */
	assert_int_equal(prctl(PR_SET_CHILD_SUBREAPER, 1), 0);
	host = fork();
	assert_true(host >= 0);
	if (host == 0) {
		struct run_opts o;
		struct run_result *r = calloc(1, sizeof(*r));

		proc_opts(&o);
		o.cycles = 64;
		o.sleep_ms = 100000;
		_exit(r && run_guest(&o, r) == 0 ? 0 : 1);
	}
	for (int i = 0; i < WAIT_MS && !guest; i++) {
		pid_t kids[4];

		if (children_of(host, kids, 4) == 1)
			guest = kids[0];
		else
			usleep(1000);
	}
	assert_true(guest > 0);
	assert_int_equal(kill(host, SIGKILL), 0);
	assert_int_equal(waitpid(host, &status, 0), host);
	assert_true(WIFSIGNALED(status));
	/*
	 * The guest was reparented to us; it must die of its host's death:
	 * by PDEATHSIG's SIGKILL, or, when the host died between the fork
	 * and the child's prctl(), by its own getppid() check (status 127
	 * before exec, 1 after: "its host is gone").  CI saw the second.
	 */
	assert_int_equal(waitpid(guest, &status, 0), guest);
	if (WIFSIGNALED(status))
		assert_int_equal(WTERMSIG(status), SIGKILL);
	else if (!WIFEXITED(status) ||
		 (WEXITSTATUS(status) != 127 && WEXITSTATUS(status) != 1))
		fail_msg("the guest outlived its host's SIGKILL or ended with status %#x",
			 (unsigned int)status);
	assert_int_equal(prctl(PR_SET_CHILD_SUBREAPER, 0), 0);
}

int main(int argc, char **argv)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_process_guest_returns_memory),
		cmocka_unit_test(test_small_process_guests_return),
		cmocka_unit_test(test_process_guest_bitmap),
		cmocka_unit_test(test_process_guest_bitmap_stress),
		cmocka_unit_test(test_bad_guest_exe),
		cmocka_unit_test(test_working_set_unreadable),
		cmocka_unit_test(test_console_killed),
		cmocka_unit_test(test_no_orphans),
		cmocka_unit_test(test_console_done_then_linger),
		cmocka_unit_test(test_console_control_chars),
		cmocka_unit_test(test_console_stderr),
		cmocka_unit_test(test_console_fake_return),
		cmocka_unit_test(test_console_talks_after_done),
		cmocka_unit_test(test_console_overlong_line),
		cmocka_unit_test(test_console_phase_ends_cycle),
		cmocka_unit_test(test_console_cycle_jump),
		cmocka_unit_test(test_console_signed_numbers),
		cmocka_unit_test(test_nofile_limits),
		cmocka_unit_test(test_guest_end_named),
		cmocka_unit_test(test_guest_rlimit_as_named),
		cmocka_unit_test(test_memfd_failure_named),
	};
	ssize_t n;

	/* Started by the runner as a guest process. */
	if (argc > 1 && !strcmp(argv[1], "guest"))
		return run_guest_process_main(argc - 1, argv + 1);
	n = readlink("/proc/self/exe", self_exe, sizeof(self_exe) - 1);
	if (n <= 0)
		return 1;
	self_exe[n] = 0;
	/* GUESTMM_TEST=pattern runs only the tests whose names match. */
	if (getenv("GUESTMM_TEST"))
		cmocka_set_test_filter(getenv("GUESTMM_TEST"));
	return cmocka_run_group_tests(tests, NULL, NULL);
}
