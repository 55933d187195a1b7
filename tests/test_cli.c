/*
 * test_cli.c - the guestmm command: bad options and impossible sizes get one
 * line and exit status 2; an option without its value says so; help works,
 * `help CMD` as `CMD --help`; --version; the size parser itself; a second
 * host on a live socket is refused and the first keeps its socket, a stale
 * one is replaced, a socket that is not the host's is not removed; a short
 * real run returns its memory; --lock-stats prints lock statistics; every
 * benchmark runs once at its smallest settings and measures something.  No
 * timing is asserted: the machines are shared.
 */
#define _GNU_SOURCE
#include <arpa/inet.h>
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <signal.h>
#include <sys/file.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/un.h>
#include <sys/wait.h>

#include "testutil.h"
#include "tools/cli.h"
#include "virtio/vhost_user.h"

struct out {
	int status;
	char text[65536];
};

/* Run "guestmm ARGS" with stdout and stderr both captured (2>&1). */
static void run(struct out *o, const char *args, bool merge_stderr)
{
	char cmd[1024];
	FILE *p;
	size_t n;

	snprintf(cmd, sizeof(cmd), "%s %s %s", GUESTMM_BIN, args,
		 merge_stderr ? "2>&1" : "2>/dev/null");
	p = popen(cmd, "r");
	assert_non_null(p);
	n = fread(o->text, 1, sizeof(o->text) - 1, p);
	o->text[n] = 0;
	o->status = WEXITSTATUS(pclose(p));
}

static void expect_usage_error(const char *args, const char *needle)
{
	struct out o;

	run(&o, args, true);
	if (o.status != 2 || !strstr(o.text, needle) ||
	    strchr(o.text, '\n') != o.text + strlen(o.text) - 1)
		fail_msg("'guestmm %s': status %d, output '%s'", args, o.status, o.text);
}

static void test_bad_options(void **state)
{
	expect_usage_error("run --mem 5X", "--mem");
	expect_usage_error("run --mem 0", "--mem");
	expect_usage_error("run --mem 99999999999999999999G", "--mem");
	expect_usage_error("run --mem 3M", "--mem");
	expect_usage_error("run --mem 2T", "--mem");
	expect_usage_error("run --cpus 0", "--cpus");
	expect_usage_error("run --cpus 65", "--cpus");
	expect_usage_error("run --workload nosuch", "--workload");
	expect_usage_error("run --reporting maybe", "--reporting");
	expect_usage_error("run --report-order 11", "--report-order");
	expect_usage_error("run --report-capacity 0", "--report-capacity");
	expect_usage_error("run --mem 1G --hog 2G", "--hog");
	expect_usage_error("run --linux --compact", "--compact");
	expect_usage_error("run --nosuch", "option");
	expect_usage_error("run extra", "extra");
	expect_usage_error("frobnicate", "frobnicate");
	expect_usage_error("bench nosuch", "nosuch");
	expect_usage_error("bench overhead --pairs 0", "--pairs");
	expect_usage_error("bench overhead --pairs 65", "--pairs");
	expect_usage_error("bench alloc --mem 100M", "--mem");
	expect_usage_error("run --lock bogus", "--lock");
	expect_usage_error("run --report-min-age-ms soon", "--report-min-age-ms");
	expect_usage_error("bench scale --lock bogus", "--lock");
	expect_usage_error("bench scale --threads 0", "--threads");
	expect_usage_error("bench scale --threads 65", "--threads");
	expect_usage_error("bench scale --threads 1,,2", "--threads");
	expect_usage_error("bench scale --threads 2,", "--threads");
	expect_usage_error("bench scale --threads two", "--threads");
	expect_usage_error("bench scale --threads 16 --mem 1G", "--threads");
	expect_usage_error("bench alloc --lock pvq", "--lock");
	expect_usage_error("bench discard --threads 1", "--threads");
	expect_usage_error("bench overhead --plot x.png", "--plot");
	expect_usage_error("bench nosuch --lock pvq", "nosuch");
	expect_usage_error("run --hinting sometimes", "--hinting");
	expect_usage_error("run --hint-entries 0", "--hint-entries");
	expect_usage_error("run --hint-poll-ms 0", "--hint-poll-ms");
	expect_usage_error("bench strategies --lock pvq", "--lock");
	expect_usage_error("run --in-process --linux", "choose one");
	expect_usage_error("run --uml /bin/true", "--uml");
	expect_usage_error("run --linux --workload pagefault", "--linux");
	expect_usage_error("run --linux --lock-stats", "--lock-stats");
	expect_usage_error("bench alloc --guest ours", "--guest");
	expect_usage_error("bench overhead --guest linux", "--guest");
	expect_usage_error("bench return --guest vm", "--guest");
	expect_usage_error("bench alloc --plot x.png", "--plot");
	expect_usage_error("guest", "--socket");
	expect_usage_error("guest --socket", "--socket");
	expect_usage_error("guest --socket /x --bogus 1", "--bogus");
	expect_usage_error("guest --socket /x --mem-bytes lots", "--mem-bytes");
	expect_usage_error("guest --socket /x --workload nosuch", "--workload");
	expect_usage_error("run --hint-cap 512K", "--hint-cap");
	expect_usage_error("run --hint-cap 3G", "--hint-cap");
	expect_usage_error("run --hint-cap lots", "--hint-cap");
	expect_usage_error("run --linux --hinting percpu", "--linux");
	expect_usage_error("guest --socket /x --hinting nosuch", "--hinting");
	expect_usage_error("guest --socket /x --hint-cap-bytes 4096", "--hint-cap-bytes");
	expect_usage_error("guest --socket /x --hint-entries 0", "--hint-entries");
	/* --warmup only where something is counted after it (issue 16). */
	expect_usage_error("run --linux --warmup 1", "--warmup");
	expect_usage_error("run --workload memhog --warmup 1", "--warmup");
	expect_usage_error("run --workload stress --warmup 1", "--warmup");
	expect_usage_error("run --workload pagefault --duration 2 --warmup 2", "--warmup");
	expect_usage_error("run --workload pagefault --warmup -1", "--warmup");
	expect_usage_error("bench scale --guest linux", "--guest");
	expect_usage_error("bench scale --guest both", "--guest");
	expect_usage_error("bench strategies --guest process", "--guest");
}

/* The exact line (less the pointer to --help), status 2. */
static void expect_line(const char *args, const char *line)
{
	struct out o;

	run(&o, args, true);
	if (o.status != 2 || strncmp(o.text, line, strlen(line)) ||
	    strchr(o.text, '\n') != o.text + strlen(o.text) - 1)
		fail_msg("'guestmm %s': status %d, output '%s', wanted '%s'",
			 args, o.status, o.text, line);
}

static void test_missing_values(void **state)
{
	(void)state;
	expect_line("run --mem", "guestmm: run: option --mem needs a value");
	expect_line("run --cpus 2 --workload",
		    "guestmm: run: option --workload needs a value");
	expect_line("host --listen", "guestmm: host: option --listen needs a value");
	expect_usage_error("host --listen ''", "--listen: an empty socket path");
	/* A file to write at the end is checked at the start. */
	expect_usage_error("host --linux --console-log /nonexistent-gmm/x",
			   "--console-log: /nonexistent-gmm: No such file");
	expect_usage_error("overcommit --plot ''", "--plot: no file name");
	expect_usage_error("overcommit --plot /nonexistent-gmm/p.png",
			   "--plot: /nonexistent-gmm: No such file");
	expect_usage_error("bench return --plot /nonexistent-gmm/p.png",
			   "--plot: /nonexistent-gmm: No such file");
	/* help CMD SUB: an option is no SUB (it took --help as its value). */
	expect_usage_error("help run --mem", "help: unexpected argument '--mem'");
	expect_line("host --linux --uml", "guestmm: host: option --uml needs a value");
	expect_line("bench alloc --mem", "guestmm: bench: option --mem needs a value");
	expect_line("overcommit --host-mem",
		    "guestmm: overcommit: option --host-mem needs a value");
	expect_line("guest --socket", "guestmm: guest: option --socket needs a value");
	/* Not a value missing: an option taking none, and one unknown. */
	expect_line("run --json=yes", "guestmm: run: option --json takes no value");
	expect_line("run --nosuch", "guestmm: run: unrecognized option '--nosuch'");
}

/* The size parser itself: units, fractions, exactness, overflow, garbage. */
static void test_size_parser(void **state)
{
	static const struct {
		const char *s;
		int err;
		uint64_t v;
	} cases[] = {
		{ "4096", 0, 4096 },
		{ "1B", 0, 1 },
		{ "512M", 0, 512ull << 20 },
		{ "512m", 0, 512ull << 20 },
		{ "2GiB", 0, 2ull << 30 },
		{ "1tib", 0, 1ull << 40 },
		{ "3.5G", 0, 7ull << 29 },
		{ "1.5K", 0, 1536 },
		{ "0.25M", 0, 256ull << 10 },
		{ "3.50000000000000000000000000000000000000000000000000G", 0, 7ull << 29 },
		/* 2^-40 T: forty digits, exactly one byte. */
		{ "0.0000000000009094947017729282379150390625T", 0, 1 },
		{ "0", 0, 0 },
		{ "18446744073709551615", 0, UINT64_MAX },
		{ "16383T", 0, 16383ull << 40 },
		{ "18446744073709551616", -ERANGE, 0 },
		{ "16777216T", -ERANGE, 0 },
		{ "99999999999999999999G", -ERANGE, 0 },
		{ "16777215.5T", 0, (16777215ull << 40) + (1ull << 39) },
		{ "1.5", -EDOM, 0 },
		{ "0.3K", -EDOM, 0 },
		{ "0.00000000000090949470177292823791503906251T", -EDOM, 0 },
		{ "", -EINVAL, 0 },
		{ "-1G", -EINVAL, 0 },
		{ "+1G", -EINVAL, 0 },
		{ " 1G", -EINVAL, 0 },
		{ "1 G", -EINVAL, 0 },
		{ ".5G", -EINVAL, 0 },
		{ "1.G", -EINVAL, 0 },
		{ "1e3", -EINVAL, 0 },
		{ "1GB", -EINVAL, 0 },
		{ "0x10", -EINVAL, 0 },
		{ "1.2.3G", -EINVAL, 0 },
		{ "lots", -EINVAL, 0 },
	};
	static const struct cli_size_limits mem = { 64ull << 20, 1ull << 40, 4ull << 20 };
	char why[256];
	uint64_t v;

	(void)state;
	for (unsigned int i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
		int err;

		v = 0;
		err = cli_parse_size(cases[i].s, &v);
		if (err != cases[i].err || (!err && v != cases[i].v))
			fail_msg("cli_parse_size('%s'): %d, %llu; wanted %d, %llu",
				 cases[i].s, err, (unsigned long long)v,
				 cases[i].err, (unsigned long long)cases[i].v);
	}
	/* Each refusal names the option, the text and the limit broken. */
	assert_int_equal(cli_check_size("--mem", "3.5G", &mem, &v, why, sizeof(why)), 0);
	assert_int_equal(v, 7ull << 29);
	assert_int_equal(cli_check_size("--mem", "3.1G", &mem, &v, why, sizeof(why)), -EDOM);
	assert_string_equal(why, "--mem: 3.1G is not a multiple of 4 MiB");
	assert_int_equal(cli_check_size("--mem", "66M", &mem, &v, why, sizeof(why)), -EDOM);
	assert_string_equal(why, "--mem: 66M is not a multiple of 4 MiB");
	assert_int_equal(cli_check_size("--mem", "2T", &mem, &v, why, sizeof(why)), -ERANGE);
	assert_string_equal(why, "--mem: 2T: must be between 64M and 1T");
	assert_int_equal(cli_check_size("--mem", "0", &mem, &v, why, sizeof(why)), -ERANGE);
	assert_string_equal(why, "--mem: 0: must be between 64M and 1T");
	assert_int_equal(cli_check_size("--mem", "99999999999999999999G", &mem, &v,
					why, sizeof(why)), -ERANGE);
	assert_int_equal(cli_check_size("--mem", "-1G", &mem, &v, why, sizeof(why)), -EINVAL);
	assert_non_null(strstr(why, "--mem: '-1G' is not a size"));
	assert_int_equal(cli_check_size("--x", "1.5", &(struct cli_size_limits){ 1, 100, 1 },
					&v, why, sizeof(why)), -EDOM);
	assert_string_equal(why, "--x: 1.5 is not a multiple of 1 byte");
	assert_int_equal(cli_check_size("--x", "3K", &(struct cli_size_limits){ 1, UINT64_MAX, 4096 },
					&v, why, sizeof(why)), -EDOM);
	assert_string_equal(why, "--x: 3K is not a multiple of 4 KiB");
}

/* Sizes through the commands: each one's range and step, said. */
static void test_sizes_in_commands(void **state)
{
	(void)state;
	/* Accepted: the error is the next option's. */
	expect_usage_error("run --mem 3.5G --cpus 0", "--cpus");
	expect_usage_error("run --mem 0.5G --hog 0.25G --cpus 0", "--cpus");
	expect_line("host --linux --mem 1.5G --hog 2G",
		    "guestmm: host: --hog: must be smaller than --mem");
	expect_usage_error("bench alloc --mem 0.5G --pairs 0", "--pairs");
	expect_usage_error("overcommit --guest-mem 0.25G --max-guests 0", "--max-guests");
	/* Refused, with the limit. */
	expect_line("run --mem 3.1G", "guestmm: run: --mem: 3.1G is not a multiple of 4 MiB");
	expect_line("run --mem 2T", "guestmm: run: --mem: 2T: must be between 64M and 1T");
	expect_line("run --linux --mem 128G",
		    "guestmm: run: --mem: with --linux, must be between 64M and 64G");
	expect_line("run --hog 0", "guestmm: run: --hog: 0: must be between 4K and 1T");
	expect_line("host --linux --mem 100.5M",
		    "guestmm: host: --mem: 100.5M is not a multiple of 1 MiB");
	expect_line("host --guests ours:2 --guest-mem 66M",
		    "guestmm: host: --guest-mem: 66M is not a multiple of 4 MiB");
	expect_line("host --guests ours:2 --budget 1M",
		    "guestmm: host: --budget: 1M: must be between 64M and 16T");
	expect_line("bench alloc --mem 100M",
		    "guestmm: bench: --mem: 100M: must be between 256M and 64G");
	expect_line("overcommit --host-mem 3.5X",
		    "guestmm: overcommit: --host-mem: '3.5X' is not a size");
}

/* A path given for the Linux guest is named when it is not there. */
static void test_uml_paths(void **state)
{
	struct out o;

	(void)state;
	run(&o, "host --linux --uml /nonexistent/linux.uml", true);
	assert_int_equal(o.status, 2);
	assert_non_null(strstr(o.text, "--uml: /nonexistent/linux.uml: No such file"));
	assert_null(strstr(o.text, "apt-get"));
	run(&o, "host --linux --initrd /nonexistent/initrd.gz", true);
	assert_int_equal(o.status, 2);
	assert_non_null(strstr(o.text, "--initrd: /nonexistent/initrd.gz: No such file"));
	assert_null(strstr(o.text, "apt-get"));
	expect_line("run --linux --uml /nonexistent/linux.uml",
		    "guestmm: run: --uml: /nonexistent/linux.uml: No such file or directory");
	expect_line("overcommit --guest linux --initrd /nonexistent/i.gz",
		    "guestmm: overcommit: --initrd: /nonexistent/i.gz: No such file or directory");
	/* There but not a kernel we can run (no execute bit, even for root). */
	{
		char path[] = "/tmp/gmm-uml-XXXXXX", args[64], want[128];
		int fd = mkstemp(path);

		assert_true(fd >= 0);
		assert_int_equal(fchmod(fd, 0644), 0);
		close(fd);
		snprintf(args, sizeof(args), "host --linux --uml %s", path);
		snprintf(want, sizeof(want), "guestmm: host: --uml: %s: Permission denied",
			 path);
		expect_line(args, want);
		unlink(path);
	}
}

static void test_version(void **state)
{
	struct out a, b;
	unsigned int x, y, z;

	(void)state;
	run(&a, "--version", true);
	assert_int_equal(a.status, 0);
	if (sscanf(a.text, "guestmm %u.%u.%u", &x, &y, &z) != 3)
		fail_msg("guestmm --version: '%s'", a.text);
	assert_ptr_equal(strchr(a.text, '\n'), a.text + strlen(a.text) - 1);
	run(&b, "version", true);
	assert_int_equal(b.status, 0);
	assert_string_equal(a.text, b.text);
	expect_usage_error("version extra", "extra");
}

/* `guestmm help CMD [SUB]` prints what `guestmm CMD [SUB] --help` does. */
static void test_help_cmd(void **state)
{
	static const char *const cmds[] = { "run", "host", "bench", "overcommit",
					    "guest", "bench scale" };
	static struct out a, b;

	(void)state;
	for (unsigned int i = 0; i < sizeof(cmds) / sizeof(cmds[0]); i++) {
		char x[64], y[64];

		snprintf(x, sizeof(x), "help %s", cmds[i]);
		snprintf(y, sizeof(y), "%s --help", cmds[i]);
		run(&a, x, true);
		run(&b, y, true);
		if (a.status || b.status || strcmp(a.text, b.text) ||
		    !strstr(a.text, "Usage: guestmm"))
			fail_msg("'guestmm %s' (%d) differs from 'guestmm %s' (%d): '%.200s'",
				 x, a.status, y, b.status, a.text);
	}
	run(&a, "help run", true);
	assert_non_null(strstr(a.text, "--report-delay-ms"));
	run(&a, "help host", true);
	assert_non_null(strstr(a.text, "--until-returned"));
	expect_line("help nosuch", "guestmm: help: unknown command 'nosuch'");
	run(&a, "help", true);
	run(&b, "--help", true);
	assert_int_equal(a.status, 0);
	assert_string_equal(a.text, b.text);
}

static void test_help(void **state)
{
	struct out o;

	run(&o, "run --help", false);
	assert_int_equal(o.status, 0);
	assert_non_null(strstr(o.text, "--report-delay-ms"));
	assert_non_null(strstr(o.text, "--report-min-age-ms"));
	assert_non_null(strstr(o.text, "--lock-stats"));
	assert_non_null(strstr(o.text, "--lock KIND"));
	run(&o, "bench --help", false);
	assert_int_equal(o.status, 0);
	assert_non_null(strstr(o.text, "scale"));
	assert_non_null(strstr(o.text, "--threads LIST"));
	run(&o, "help", false);
	assert_int_equal(o.status, 0);
	assert_non_null(strstr(o.text, "bench"));
}

/*
 * The number after "KEY": in @text must be > 0 (null, for NaN, is not); with
 * @all, every such number, and there must be at least one.
 */
static void expect_positive_n(const char *what, const char *text,
			      const char *key, bool all)
{
	char pat[128];
	const char *p = text;
	unsigned int n = 0;

	snprintf(pat, sizeof(pat), "\"%s\": ", key);
	while ((p = strstr(p, pat))) {
		p += strlen(pat);
		if (!(strtod(p, NULL) > 0))
			fail_msg("%s: \"%s\" is %.20s", what, key, p);
		n++;
		if (!all)
			break;
	}
	if (!n)
		fail_msg("%s: no \"%s\" in '%s'", what, key, text);
}

static void expect_positive(const char *what, const char *text, const char *key)
{
	expect_positive_n(what, text, key, true);
}

static void bench(struct out *o, const char *args)
{
	char cmd[256];

	snprintf(cmd, sizeof(cmd), "bench %s --pairs 1 --json", args);
	run(o, cmd, false);
	if (o->status != 0)
		fail_msg("'guestmm %s': status %d, output '%s'", cmd, o->status, o->text);
}

static void test_run_lock_stats(void **state)
{
	struct out o;

	run(&o, "run --mem 512M --cpus 2 --workload pagefault --duration 1 "
		"--lock mcs --lock-stats --json --quiet", false);
	assert_int_equal(o.status, 0);
	assert_non_null(strstr(o.text, "\"lock\": \"mcs\""));
	assert_non_null(strstr(o.text, "\"lock_stats\": {"));
	assert_non_null(strstr(o.text, "\"&zone->lock\": {"));
	assert_non_null(strstr(o.text, "\"&pcp->lock\": {"));
	/* The zone lock is timed; per-CPU locks are counted, never timed. */
	expect_positive_n("run --lock-stats", strstr(o.text, "\"&zone->lock\""),
			  "hold_total_ns", false);
	expect_positive_n("run --lock-stats", strstr(o.text, "\"&pcp->lock\""),
			  "acquisitions", false);
	run(&o, "run --mem 256M --cpus 1 --workload pagefault --duration 1 "
		"--lock-stats --quiet", false);
	assert_int_equal(o.status, 0);
	assert_non_null(strstr(o.text, "holdtime-avg"));
	assert_non_null(strstr(o.text, "&zone->lock:"));
}

/*
 * run --warmup S: in both modes the measured part is the duration less the
 * warm-up, and the process guest's own CPU time and context switches come
 * back over its console (before issue 16 the option did not exist, and a
 * process guest's rusage read 0).
 */
static void test_run_warmup(void **state)
{
	static const char *const mode[] = { "", "--in-process " };
	struct out o;
	char cmd[256];

	for (int m = 0; m < 2; m++) {
		const char *p;
		double d;

		snprintf(cmd, sizeof(cmd),
			 "run %s--mem 512M --cpus 2 --workload pagefault --reporting off "
			 "--duration 3 --warmup 1 --json --quiet", mode[m]);
		run(&o, cmd, false);
		if (o.status != 0)
			fail_msg("'guestmm %s': status %d, output '%s'", cmd, o.status, o.text);
		assert_non_null(strstr(o.text, "\"warmup_s\": 1"));
		p = strstr(o.text, "\"measured_s\": ");
		assert_non_null(p);
		/* Duration 3 less a warm-up of at least 1 s: 2 s measured. */
		d = strtod(p + strlen("\"measured_s\": "), NULL) - 2;
		if (d > 0.5 || d < -0.5)
			fail_msg("'guestmm %s': measured %.20s", cmd, p);
		expect_positive(cmd, o.text, "frames_per_s");
		expect_positive(cmd, o.text, "cpu_user_s");
		expect_positive(cmd, o.text, "voluntary_switches");
	}
}

/* Each benchmark once, smallest settings: it exits 0 and measured something. */
static void test_bench_smoke(void **state)
{
	struct out o;

	bench(&o, "overhead --seconds 1 --mem 512M");
	expect_positive("overhead", o.text, "off_frames_per_s");
	expect_positive("overhead", o.text, "on_frames_per_s");
	expect_positive("overhead", o.text, "memset_ceiling_frames_per_s_per_thread");
	bench(&o, "return --mem 256M");
	expect_positive("return", o.text, "returned_fraction");
	bench(&o, "return --mem 256M --guest in-process");
	expect_positive("return --guest in-process", o.text, "returned_fraction");
	bench(&o, "alloc --seconds 1 --mem 256M");
	expect_positive("alloc", o.text, "order0_pairs_per_s_per_thread_1t");
	expect_positive("alloc", o.text, "order9_pairs_per_s_per_thread_2t");
	expect_positive("alloc", o.text, "order9_per_thread_ratio_2t_1t");
	bench(&o, "discard --mem 256M");
	expect_positive("discard", o.text, "punch_hole_gib_per_s");
	expect_positive("discard", o.text, "report_gib_per_s");
	bench(&o, "vhost --seconds 1");
	expect_positive("vhost", o.text, "report_gib_per_s");
	expect_positive("vhost", o.text, "punch_gib_per_s");
	bench(&o, "scale --threads 1,2 --seconds 1 --mem 512M");
	expect_positive("scale", o.text, "frames_per_s");
	/* The first row's zone lock. */
	expect_positive_n("scale", o.text, "acquisitions", false);
	expect_positive("scale", o.text, "pairs_per_s_per_thread_2t");
	expect_positive("scale", o.text, "ratio_vs_zeroing");
	expect_positive("scale", o.text, "cpu_ns_per_frame");
	expect_positive("scale", o.text, "cpu_use_fraction");
	assert_non_null(strstr(o.text, "\"zeroing\": ["));
	assert_non_null(strstr(o.text, "\"lock\": \"pvq\""));
	assert_non_null(strstr(o.text, "\"guest\": \"in-process\""));
	/* The process guest relays its lock statistics and its rusage. */
	bench(&o, "scale --threads 1,2 --seconds 1 --mem 512M --guest process");
	assert_non_null(strstr(o.text, "\"guest\": \"process\""));
	expect_positive("scale --guest process", o.text, "frames_per_s");
	expect_positive_n("scale --guest process", o.text, "acquisitions", false);
	expect_positive("scale --guest process", o.text, "cpu_ns_per_frame");
	expect_positive("scale --guest process", o.text, "cpu_use_fraction");
}

static void test_short_run_returns_memory(void **state)
{
	struct out o;
	const char *f;

	/* The sleep is the time the host has to take it back: ample (under
	 * a second on an idle machine), for machines busy with others. */
	run(&o, "run --mem 512M --cpus 1 --cycles 1 --hold-ms 0 --sleep-ms 4000 "
		"--report-delay-ms 0 --json --quiet", false);
	assert_int_equal(o.status, 0);
	assert_non_null(strstr(o.text, "\"guest_mem_bytes\": 536870912"));
	f = strstr(o.text, "\"returned_fraction\": ");
	assert_non_null(f);
	/* By the host's accounting, most of what memhog freed went back. */
	assert_true(strtod(f + strlen("\"returned_fraction\": "), NULL) > 0.9);
	run(&o, "run --mem 128M --cpus 1 --cycles 1 --hold-ms 0 --sleep-ms 300 "
		"--reporting off --json --quiet", false);
	assert_int_equal(o.status, 0);
	f = strstr(o.text, "\"returned_fraction\": ");
	assert_non_null(f);
	assert_true(strtod(f + strlen("\"returned_fraction\": "), NULL) < 0.1);
}

/*
 * Each strategy by name, in a guest process (percpu reports through the
 * balloon driver as report does, bitmap answers the device's free page
 * hint commands) and in process; the ones that return memory here return
 * it, through reports (for bitmap: commands) the host counted.
 */
static void test_hinting_strategies(void **state)
{
	static const struct {
		const char *args, *name;
		double min, max;
	} runs[] = {
		{ "--in-process --hinting bitmap --hint-poll-ms 100", "bitmap", 0.9, 1.01 },
		{ "--hinting bitmap --hint-poll-ms 100", "bitmap", 0.9, 1.01 },
		{ "--hinting bitmap --hint-poll-ms 100 --hint-cap 4M", "bitmap", 0.9, 1.01 },
		/*
		 * memhog frees ~96 blocks in one burst: an array of 64 fills
		 * and is hinted, the frees after it until the worker empties
		 * it are dropped (the seeds' design: docs/results.md).
		 */
		{ "--hinting percpu --hint-entries 64", "percpu", 0.2, 1.01 },
		{ "--in-process --hinting percpu --hint-entries 64", "percpu", 0.2, 1.01 },
		{ "--hinting off", "off", -0.01, 0.1 },
		{ "--reporting off --hinting report", "report", 0.9, 1.01 },
	};
	struct out o;

	for (unsigned int i = 0; i < sizeof(runs) / sizeof(runs[0]); i++) {
		char args[512], want[64];
		const char *f;
		double frac;

		snprintf(args, sizeof(args),
			 "run --mem 256M --cpus 1 --cycles 1 --hold-ms 0 --sleep-ms 2500 "
			 "--report-delay-ms 0 %s --json --quiet", runs[i].args);
		run(&o, args, false);
		assert_int_equal(o.status, 0);
		snprintf(want, sizeof(want), "\"hinting\": \"%s\"", runs[i].name);
		if (!strstr(o.text, want))
			fail_msg("'guestmm %s': no %s in %s", args, want, o.text);
		f = strstr(o.text, "\"returned_fraction\": ");
		assert_non_null(f);
		frac = strtod(f + strlen("\"returned_fraction\": "), NULL);
		if (frac < runs[i].min || frac > runs[i].max)
			fail_msg("'guestmm %s': returned %.3f", args, frac);
		if (runs[i].min > 0) {
			expect_positive_n(args, o.text, "reports", false);
			expect_positive_n(args, o.text, "worker_cpu_ns", false);
		}
	}
}

/*
 * The keys of the top-level object (and of every nested one) in order,
 * values blanked: two runs' key sets compare as strings.
 */
static void json_keys(const char *text, char *out, size_t len)
{
	size_t n = 0;

	for (const char *p = text; *p && n + 2 < len; p++) {
		const char *q;

		if (*p != '"')
			continue;
		q = strchr(p + 1, '"');
		if (!q)
			break;
		/* A key is a string followed by a colon. */
		if (q[1] == ':' && n + (size_t)(q - p) + 2 < len) {
			memcpy(out + n, p + 1, (size_t)(q - p - 1));
			n += (size_t)(q - p - 1);
			out[n++] = ',';
		}
		p = q;
	}
	out[n] = 0;
}

/* The default (a guest process) and --in-process: same keys, both return. */
static void test_modes_same_keys(void **state)
{
	static struct out a, b;
	static char ka[8192], kb[8192];
	const char *f;

	run(&a, "run --mem 256M --cpus 1 --cycles 1 --hold-ms 0 --sleep-ms 1500 "
		"--report-delay-ms 0 --json --quiet", false);
	assert_int_equal(a.status, 0);
	assert_non_null(strstr(a.text, "\"guest\": \"process\""));
	run(&b, "run --in-process --mem 256M --cpus 1 --cycles 1 --hold-ms 0 "
		"--sleep-ms 1500 --report-delay-ms 0 --json --quiet", false);
	assert_int_equal(b.status, 0);
	assert_non_null(strstr(b.text, "\"guest\": \"in-process\""));
	json_keys(a.text, ka, sizeof(ka));
	json_keys(b.text, kb, sizeof(kb));
	assert_string_equal(ka, kb);
	f = strstr(a.text, "\"returned_fraction\": ");
	assert_non_null(f);
	assert_true(strtod(f + strlen("\"returned_fraction\": "), NULL) > 0.9);
	expect_positive("run (process guest)", a.text, "reports");
	/* The live lines too: the same columns. */
	run(&a, "run --mem 128M --cpus 1 --cycles 1 --hold-ms 0 --sleep-ms 600", false);
	assert_int_equal(a.status, 0);
	assert_non_null(strstr(a.text, "host resident"));
	assert_non_null(strstr(a.text, "cycle 1 freed"));
	assert_non_null(strstr(a.text, "process guest"));
}

/*
 * working-set in a guest process (the default) carries its anonymous
 * memory's counters over the console: the same JSON keys as in process,
 * zswap and swap counters that moved, and zswap in the live lines.
 */
static void test_working_set_process(void **state)
{
	static struct out a, b;
	static char ka[8192], kb[8192];

	run(&a, "run --workload working-set --mem 128M --cpus 1 --duration 2 --json --quiet",
	    false);
	assert_int_equal(a.status, 0);
	assert_non_null(strstr(a.text, "\"guest\": \"process\""));
	assert_non_null(strstr(a.text, "\"zswap\": {"));
	expect_positive("working-set (process guest)", a.text, "stored_pages");
	expect_positive("working-set (process guest)", a.text, "pool_total_size");
	expect_positive("working-set (process guest)", a.text, "written_back_pages");
	expect_positive("working-set (process guest)", a.text, "pgsteal");
	expect_positive("working-set (process guest)", a.text, "accesses");
	assert_non_null(strstr(a.text, "\"mismatches\": 0"));
	run(&b, "run --in-process --workload working-set --mem 128M --cpus 1 --duration 1 "
		"--json --quiet", false);
	assert_int_equal(b.status, 0);
	json_keys(a.text, ka, sizeof(ka));
	json_keys(b.text, kb, sizeof(kb));
	assert_string_equal(ka, kb);
	/* run --compact, in a guest process and in process: buddyinfo both sides. */
	run(&a, "run --workload working-set --mem 128M --cpus 1 --duration 1 --compact --json --quiet",
	    false);
	assert_int_equal(a.status, 0);
	assert_non_null(strstr(a.text, "\"compaction\": {"));
	assert_non_null(strstr(a.text, "\"before\": {"));
	assert_non_null(strstr(a.text, "\"after\": {"));
	run(&b, "run --in-process --workload working-set --mem 128M --cpus 1 --duration 1 --compact "
		"--json --quiet", false);
	assert_int_equal(b.status, 0);
	json_keys(a.text, ka, sizeof(ka));
	json_keys(b.text, kb, sizeof(kb));
	assert_string_equal(ka, kb);
	run(&a, "run --workload pagefault --mem 128M --cpus 1 --duration 1 --compact --quiet", false);
	assert_int_equal(a.status, 0);
	assert_non_null(strstr(a.text, "/proc/buddyinfo"));
	assert_non_null(strstr(a.text, "after"));
	run(&a, "run --workload working-set --mem 128M --cpus 1 --duration 2", false);
	assert_int_equal(a.status, 0);
	assert_non_null(strstr(a.text, "process guest"));
	assert_non_null(strstr(a.text, "zswap "));
	assert_non_null(strstr(a.text, "in/out "));
	assert_non_null(strstr(a.text, "written back"));
}

/* json_str(): every string the tools write as JSON goes through it, some
 * from a guest (zone names): control bytes come out as \u00XX (attack7). */
static void test_json_str_escapes(void **state)
{
	char *text = NULL;
	size_t len = 0;
	FILE *f = open_memstream(&text, &len);
	struct json j;

	(void)state;
	assert_non_null(f);
	json_begin(&j, f);
	json_str(&j, "s", "a\"b\\c\x1b[2J\x01\n\x7f");
	json_end(&j);
	fclose(f);
	assert_non_null(strstr(text,
			       "\"s\": \"a\\\"b\\\\c\\u001b[2J\\u0001\\u000a\\u007f\""));
	for (const char *c = text; *c; c++)
		assert_true((unsigned char)*c >= 0x20 || *c == '\n');
	free(text);
}

/*
 * attack7 (was tests/attack7/shutdown_hang.py): a frontend keeps the host
 * from exiting.  `guestmm host --listen S --duration 1` is given, as a call
 * descriptor, a loopback TCP socket with SO_LINGER {1, 30} whose send queue
 * its peer never reads: the backend's last close of it sleeps 30 s.  The
 * host must still exit about when asked (bound: 10 s, far below the linger).
 */
static void vu_send(int s, uint32_t req, uint32_t flags, const void *p,
		    uint32_t size, int fd)
{
	struct vhost_user_hdr h = { req, VHOST_USER_VERSION | flags, size };
	char buf[64];
	union {
		struct cmsghdr align;
		char c[CMSG_SPACE(sizeof(int))];
	} ctl;
	struct iovec iov = { buf, sizeof(h) + size };
	struct msghdr mh = { .msg_iov = &iov, .msg_iovlen = 1 };

	memcpy(buf, &h, sizeof(h));
	if (size)
		memcpy(buf + sizeof(h), p, size);
	if (fd >= 0) {
		struct cmsghdr *c;

		mh.msg_control = ctl.c;
		mh.msg_controllen = sizeof(ctl.c);
		c = CMSG_FIRSTHDR(&mh);
		c->cmsg_level = SOL_SOCKET;
		c->cmsg_type = SCM_RIGHTS;
		c->cmsg_len = CMSG_LEN(sizeof(int));
		memcpy(CMSG_DATA(c), &fd, sizeof(fd));
	}
	assert_int_equal(sendmsg(s, &mh, MSG_NOSIGNAL), (ssize_t)iov.iov_len);
}

/* vu_send's header and @fd only: the caller sends the @size bytes of
 * payload itself, later. */
static void vu_send_split(int s, uint32_t req, uint32_t flags, uint32_t size,
			  int fd)
{
	struct vhost_user_hdr h = { req, VHOST_USER_VERSION | flags, size };
	union {
		struct cmsghdr align;
		char c[CMSG_SPACE(sizeof(int))];
	} ctl;
	struct iovec iov = { &h, sizeof(h) };
	struct msghdr mh = { .msg_iov = &iov, .msg_iovlen = 1,
			     .msg_control = ctl.c,
			     .msg_controllen = sizeof(ctl.c) };
	struct cmsghdr *c = CMSG_FIRSTHDR(&mh);

	c->cmsg_level = SOL_SOCKET;
	c->cmsg_type = SCM_RIGHTS;
	c->cmsg_len = CMSG_LEN(sizeof(int));
	memcpy(CMSG_DATA(c), &fd, sizeof(fd));
	assert_int_equal(sendmsg(s, &mh, MSG_NOSIGNAL), (ssize_t)sizeof(h));
}

/* A connected loopback TCP socket whose last close sleeps @linger s. */
static int lingering_tcp(int *peer, int linger)
{
	struct sockaddr_in a = { .sin_family = AF_INET,
				 .sin_addr.s_addr = htonl(INADDR_LOOPBACK) };
	socklen_t alen = sizeof(a);
	int small = 4096, lsn = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
	int c = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
	struct linger l = { 1, linger };
	char zero[4096] = { 0 };

	assert_true(lsn >= 0 && c >= 0);
	setsockopt(lsn, SOL_SOCKET, SO_RCVBUF, &small, sizeof(small));
	assert_int_equal(bind(lsn, (struct sockaddr *)&a, sizeof(a)), 0);
	assert_int_equal(listen(lsn, 1), 0);
	assert_int_equal(getsockname(lsn, (struct sockaddr *)&a, &alen), 0);
	setsockopt(c, SOL_SOCKET, SO_SNDBUF, &small, sizeof(small));
	assert_int_equal(connect(c, (struct sockaddr *)&a, sizeof(a)), 0);
	*peer = accept4(lsn, NULL, NULL, SOCK_CLOEXEC);
	assert_true(*peer >= 0);
	close(lsn);
	while (send(c, zero, sizeof(zero), MSG_DONTWAIT) > 0)
		;
	assert_int_equal(setsockopt(c, SOL_SOCKET, SO_LINGER, &l, sizeof(l)), 0);
	return c;
}

static void test_host_exits_despite_linger(void **state)
{
	char dir[] = "/tmp/gmm-shutdown-XXXXXX", path[64];
	struct sockaddr_un sun = { .sun_family = AF_UNIX };
	uint64_t pf = 1ull << VHOST_USER_PROTOCOL_F_REPLY_ACK, arg = 0, ack;
	struct vhost_user_hdr h;
	struct timespec t0, t1;
	int s, c, peer, status = 0, i;
	double t;
	pid_t pid, got = 0;

	(void)state;
	assert_non_null(mkdtemp(dir));
	snprintf(path, sizeof(path), "%s/b.sock", dir);
	clock_gettime(CLOCK_MONOTONIC, &t0);
	pid = fork();
	assert_true(pid >= 0);
	if (pid == 0) {
		execl(GUESTMM_BIN, GUESTMM_BIN, "host", "--listen", path,
		      "--duration", "1", "--quiet", (char *)NULL);
		_exit(127);
	}
	strcpy(sun.sun_path, path);
	s = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
	for (i = 0; i < 500; i++) {
		if (connect(s, (struct sockaddr *)&sun, sizeof(sun)) == 0)
			break;
		usleep(10 * 1000);
	}
	assert_true(i < 500);
	vu_send(s, VHOST_USER_SET_OWNER, 0, NULL, 0, -1);
	vu_send(s, VHOST_USER_SET_PROTOCOL_FEATURES, 0, &pf, sizeof(pf), -1);
	/* A linger far longer than any load could make the shutdown take:
	 * the test tells "did not wait for it" from "was slow". */
	c = lingering_tcp(&peer, 600);
	/* Refused (not a notifier) or not, it goes to the reaper.  The
	 * header (with the descriptor) goes first and the payload only after
	 * our close, so the host cannot have handled the message and closed
	 * its copy before ours: its close is always the last one, the one
	 * that lingers.  (Sent whole, a host quicker than this thread made
	 * the test's own close the last, and the test slept 600 s in it.) */
	vu_send_split(s, VHOST_USER_SET_VRING_CALL, VHOST_USER_FLAG_NEED_REPLY,
		      sizeof(arg), c);
	close(c);
	assert_int_equal(send(s, &arg, sizeof(arg), MSG_NOSIGNAL),
			 (ssize_t)sizeof(arg));
	assert_int_equal(read(s, &h, sizeof(h)), (ssize_t)sizeof(h));
	assert_int_equal(read(s, &ack, sizeof(ack)), (ssize_t)sizeof(ack));
	do {
		got = waitpid(pid, &status, WNOHANG);
		if (got != pid)
			usleep(10 * 1000);
		clock_gettime(CLOCK_MONOTONIC, &t1);
		t = (double)(t1.tv_sec - t0.tv_sec) +
		    (t1.tv_nsec - t0.tv_nsec) / 1e9;
	} while (got != pid && t < 300);
	if (got != pid) {
		kill(pid, SIGKILL);
		waitpid(pid, &status, 0);
	}
	close(peer);
	close(s);
	rmdir(dir);
	print_message("attack7: host --duration 1 exited after %.1f s (linger 600 s)\n", t);
	assert_int_equal(got, pid);
	assert_true(WIFEXITED(status) && WEXITSTATUS(status) == 0);
	/* Half the linger: only waiting for the close gets there. */
	assert_true(t < 300);
}

/* ---- a second host on a live socket ---- */

/* `guestmm host --listen @path --quiet ...`, its output to /dev/null. */
static pid_t host_start(const char *path, const char *duration)
{
	pid_t pid = fork();

	assert_true(pid >= 0);
	if (pid == 0) {
		int null = open("/dev/null", O_WRONLY);

		dup2(null, 1);
		dup2(null, 2);
		execl(GUESTMM_BIN, GUESTMM_BIN, "host", "--listen", path,
		      "--duration", duration, "--quiet", (char *)NULL);
		_exit(127);
	}
	return pid;
}

/* Return: 0 when something accepts a connection at @path, else -errno. */
static int sock_connect(const char *path)
{
	struct sockaddr_un sun = { .sun_family = AF_UNIX };
	int s = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0), err = 0;

	assert_true(s >= 0);
	strcpy(sun.sun_path, path);
	if (connect(s, (struct sockaddr *)&sun, sizeof(sun)))
		err = -errno;
	close(s);
	return err;
}

static void wait_listening(const char *path)
{
	int i;

	for (i = 0; i < 3000 && sock_connect(path); i++)
		usleep(10 * 1000);
	if (i == 3000)
		fail_msg("nothing listens at %s after 30 s", path);
}

/* A socket file at @path that nobody listens on (its maker is gone). */
static void stale_socket(const char *path)
{
	struct sockaddr_un sun = { .sun_family = AF_UNIX };
	int s = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);

	assert_true(s >= 0);
	strcpy(sun.sun_path, path);
	assert_int_equal(bind(s, (struct sockaddr *)&sun, sizeof(sun)), 0);
	close(s);
}

static int host_stop(pid_t pid)
{
	int status;

	kill(pid, SIGTERM);
	assert_int_equal(waitpid(pid, &status, 0), pid);
	return WIFEXITED(status) ? WEXITSTATUS(status) : 128 + WTERMSIG(status);
}

/*
 * The socket of the guest child of @run, read from its command line
 * ("guestmm guest --socket /tmp/guestmm-run-XXXXXX/balloon.sock ...").
 * Return: true once the child is there.
 */
static bool run_child_socket(pid_t run, char *sock, size_t len)
{
	DIR *d = opendir("/proc");
	struct dirent *e;
	bool found = false;

	assert_non_null(d);
	while (!found && (e = readdir(d))) {
		char path[300], buf[4096];
		int ppid = 0, fd;
		ssize_t n;
		FILE *f;

		snprintf(path, sizeof(path), "/proc/%s/stat", e->d_name);
		f = fopen(path, "r");
		if (!f)
			continue;
		/* pid (comm) state ppid: comm is "guestmm", no spaces. */
		if (fscanf(f, "%*d %*s %*c %d", &ppid) != 1 || ppid != run) {
			fclose(f);
			continue;
		}
		fclose(f);
		snprintf(path, sizeof(path), "/proc/%s/cmdline", e->d_name);
		fd = open(path, O_RDONLY);
		if (fd < 0)
			continue;
		n = read(fd, buf, sizeof(buf) - 1);
		close(fd);
		for (ssize_t i = 0; n > 0 && i < n; i += (ssize_t)strlen(buf + i) + 1) {
			buf[n] = 0;
			if (!strcmp(buf + i, "--socket") && i + 9 < n) {
				snprintf(sock, len, "%s", buf + i + 9);
				found = true;
				break;
			}
		}
	}
	closedir(d);
	return found;
}

/*
 * A run ended by a signal (Ctrl-C, kill) leaves no temporary directory
 * and no socket behind, and still ends as the signal says.
 */
static void test_run_signal_cleans_up(void **state)
{
	static const int sigs[] = { SIGTERM, SIGINT };

	(void)state;
	for (unsigned int k = 0; k < 2; k++) {
		char sock[256] = "", *slash;
		int status, tries = 0;
		pid_t pid = fork();

		assert_true(pid >= 0);
		if (!pid) {
			int null = open("/dev/null", O_WRONLY);

			signal(SIGINT, SIG_DFL); /* a shell's background job ignores it */
			dup2(null, 1);
			dup2(null, 2);
			execl(GUESTMM_BIN, GUESTMM_BIN, "run", "--mem", "256M",
			      "--duration", "600", (char *)NULL);
			_exit(127);
		}
		/* The guest child appears after the socket is listening. */
		while (!run_child_socket(pid, sock, sizeof(sock)) && tries++ < 6000)
			usleep(10000);
		assert_true(sock[0]);
		assert_int_equal(access(sock, F_OK), 0);
		assert_int_equal(kill(pid, sigs[k]), 0);
		assert_int_equal(waitpid(pid, &status, 0), pid);
		assert_true(WIFSIGNALED(status));
		assert_int_equal(WTERMSIG(status), sigs[k]);
		assert_int_equal(access(sock, F_OK), -1);
		slash = strrchr(sock, '/');
		assert_non_null(slash);
		*slash = 0;
		if (!access(sock, F_OK))
			fail_msg("%s left behind after signal %d", sock, sigs[k]);
	}
}

static void test_second_host_refused(void **state)
{
	char dir[] = "/tmp/gmm-takeover-XXXXXX", path[64], args[128], want[128];
	struct stat before, after;
	struct out o;
	pid_t first;

	(void)state;
	assert_non_null(mkdtemp(dir));
	snprintf(path, sizeof(path), "%s/b.sock", dir);
	first = host_start(path, "600");
	wait_listening(path);
	assert_int_equal(lstat(path, &before), 0);

	snprintf(args, sizeof(args), "host --listen %s --duration 1 --quiet", path);
	run(&o, args, true);
	snprintf(want, sizeof(want), "guestmm: cannot serve %s: another process is listening on it\n",
		 path);
	if (o.status != 1 || strcmp(o.text, want))
		fail_msg("second host: status %d, '%s'", o.status, o.text);
	/* The first keeps its socket, the same file, and answers on it. */
	assert_int_equal(lstat(path, &after), 0);
	assert_true(S_ISSOCK(after.st_mode));
	assert_true(before.st_dev == after.st_dev && before.st_ino == after.st_ino);
	assert_int_equal(sock_connect(path), 0);
	assert_int_equal(waitpid(first, NULL, WNOHANG), 0);
	/* And removes it when it ends. */
	assert_int_equal(host_stop(first), 0);
	assert_int_equal(lstat(path, &after), -1);
	assert_int_equal(rmdir(dir), 0);
}

static void test_stale_socket_replaced(void **state)
{
	char dir[] = "/tmp/gmm-takeover-XXXXXX", path[64], args[128];
	struct stat st;
	struct out o;

	(void)state;
	assert_non_null(mkdtemp(dir));
	snprintf(path, sizeof(path), "%s/b.sock", dir);
	stale_socket(path);
	assert_int_equal(sock_connect(path), -ECONNREFUSED);
	snprintf(args, sizeof(args), "host --listen %s --duration 1 --quiet", path);
	run(&o, args, true);
	if (o.status != 0)
		fail_msg("host on a stale socket: status %d, '%s'", o.status, o.text);
	/* Its own socket, removed at the end. */
	assert_int_equal(lstat(path, &st), -1);
	assert_int_equal(rmdir(dir), 0);
}

static void test_not_a_socket_refused(void **state)
{
	char dir[] = "/tmp/gmm-takeover-XXXXXX", path[64], args[128], want[128];
	char buf[16] = { 0 };
	struct out o;
	int fd;

	(void)state;
	assert_non_null(mkdtemp(dir));
	snprintf(path, sizeof(path), "%s/notes", dir);
	fd = open(path, O_WRONLY | O_CREAT | O_EXCL, 0600);
	assert_true(fd >= 0);
	assert_int_equal(write(fd, "keep", 4), 4);
	close(fd);
	snprintf(args, sizeof(args), "host --listen %s --duration 1 --quiet", path);
	run(&o, args, true);
	snprintf(want, sizeof(want), "guestmm: cannot serve %s: it exists and is not a socket\n",
		 path);
	if (o.status != 1 || strcmp(o.text, want))
		fail_msg("host on a regular file: status %d, '%s'", o.status, o.text);
	fd = open(path, O_RDONLY);
	assert_true(fd >= 0);
	assert_int_equal(read(fd, buf, sizeof(buf)), 4);
	assert_string_equal(buf, "keep");
	close(fd);
	assert_int_equal(unlink(path), 0);
	assert_int_equal(rmdir(dir), 0);
}

/*
 * A lock file held for good (a process stopped with it, or another user's
 * in /tmp) ends in one line and status 1, not a host that hangs; the lock
 * file is not the host's to remove.
 */
static void test_held_lock_refused(void **state)
{
	char dir[] = "/tmp/gmm-takeover-XXXXXX", path[64], lock[80], args[128];
	char want[160];
	struct out o;
	int fd;

	(void)state;
	assert_non_null(mkdtemp(dir));
	snprintf(path, sizeof(path), "%s/b.sock", dir);
	snprintf(lock, sizeof(lock), "%s.lock", path);
	fd = open(lock, O_RDWR | O_CREAT | O_EXCL | O_CLOEXEC, 0600);
	assert_true(fd >= 0);
	assert_int_equal(flock(fd, LOCK_EX), 0);
	snprintf(args, sizeof(args), "host --listen %s --duration 1 --quiet", path);
	run(&o, args, true);
	snprintf(want, sizeof(want), "guestmm: cannot serve %s: its lock file (the path and .lock) stays locked by another process\n",
		 path);
	if (o.status != 1 || strcmp(o.text, want))
		fail_msg("host with its lock held: status %d, '%s'", o.status, o.text);
	assert_int_equal(access(lock, F_OK), 0);
	assert_int_equal(access(path, F_OK), -1);
	close(fd);
	/* Released: the next host serves, and leaves nothing. */
	run(&o, args, true);
	if (o.status != 0)
		fail_msg("host after the lock: status %d, '%s'", o.status, o.text);
	/* The host that held it last removed it as it unlocked. */
	assert_int_equal(access(lock, F_OK), -1);
	assert_int_equal(rmdir(dir), 0);
}

/*
 * With no --listen and no $XDG_RUNTIME_DIR, the socket goes in
 * $TMPDIR/guestmm-UID, made 0700; one that is not ours alone (open to
 * others, or a symlink) is refused with one line and status 1.
 */
static void test_default_socket_private(void **state)
{
	char tmp[] = "/tmp/gmm-defsock-XXXXXX", dir[96], sock[128], other[96];
	char *xdg = getenv("XDG_RUNTIME_DIR"), *tmpdir = getenv("TMPDIR");
	struct stat st;
	struct out o;

	(void)state;
	if (xdg)
		xdg = strdup(xdg);
	if (tmpdir)
		tmpdir = strdup(tmpdir);
	assert_non_null(mkdtemp(tmp));
	snprintf(dir, sizeof(dir), "%s/guestmm-%u", tmp, (unsigned int)getuid());
	snprintf(sock, sizeof(sock), "%s/balloon.sock", dir);
	unsetenv("XDG_RUNTIME_DIR");
	setenv("TMPDIR", tmp, 1);

	run(&o, "host --duration 1 --quiet", true);
	if (o.status != 0)
		fail_msg("default socket: status %d, '%s'", o.status, o.text);
	assert_int_equal(lstat(dir, &st), 0);
	assert_true(S_ISDIR(st.st_mode));
	assert_int_equal(st.st_mode & 0777, 0700);
	assert_int_equal(access(sock, F_OK), -1); /* removed at the end */

	/* Open to others: another user could bind the socket first. */
	assert_int_equal(chmod(dir, 0777), 0);
	run(&o, "host --duration 1 --quiet", true);
	if (o.status != 1 || !strstr(o.text, "not a directory of ours alone") ||
	    strchr(o.text, '\n') != o.text + strlen(o.text) - 1)
		fail_msg("a 0777 default directory: status %d, '%s'", o.status, o.text);
	assert_int_equal(access(sock, F_OK), -1);
	assert_int_equal(rmdir(dir), 0);

	/* A symlink to a directory of ours is not it either. */
	snprintf(other, sizeof(other), "%s/elsewhere", tmp);
	assert_int_equal(mkdir(other, 0700), 0);
	assert_int_equal(symlink(other, dir), 0);
	run(&o, "host --duration 1 --quiet", true);
	if (o.status != 1 || !strstr(o.text, "not a directory of ours alone"))
		fail_msg("a symlinked default directory: status %d, '%s'", o.status, o.text);
	assert_int_equal(unlink(dir), 0);
	assert_int_equal(rmdir(other), 0);
	assert_int_equal(rmdir(tmp), 0);

	unsetenv("TMPDIR");
	if (tmpdir) {
		setenv("TMPDIR", tmpdir, 1);
		free(tmpdir);
	}
	if (xdg) {
		setenv("XDG_RUNTIME_DIR", xdg, 1);
		free(xdg);
	}
}

/* A host removes its socket only while the path is still its file. */
static void test_host_keeps_others_socket(void **state)
{
	char dir[] = "/tmp/gmm-takeover-XXXXXX", path[64];
	struct stat mine, after;
	pid_t host;

	(void)state;
	assert_non_null(mkdtemp(dir));
	snprintf(path, sizeof(path), "%s/b.sock", dir);
	host = host_start(path, "600");
	wait_listening(path);
	/* Someone else's socket now has the path. */
	assert_int_equal(unlink(path), 0);
	stale_socket(path);
	assert_int_equal(lstat(path, &mine), 0);
	assert_int_equal(host_stop(host), 0);
	assert_int_equal(lstat(path, &after), 0);
	assert_true(mine.st_dev == after.st_dev && mine.st_ino == after.st_ino);
	assert_int_equal(unlink(path), 0);
	assert_int_equal(rmdir(dir), 0);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_json_str_escapes),
		cmocka_unit_test(test_host_exits_despite_linger),
		cmocka_unit_test(test_bad_options),
		cmocka_unit_test(test_missing_values),
		cmocka_unit_test(test_size_parser),
		cmocka_unit_test(test_sizes_in_commands),
		cmocka_unit_test(test_uml_paths),
		cmocka_unit_test(test_version),
		cmocka_unit_test(test_help_cmd),
		cmocka_unit_test(test_run_signal_cleans_up),
		cmocka_unit_test(test_second_host_refused),
		cmocka_unit_test(test_stale_socket_replaced),
		cmocka_unit_test(test_not_a_socket_refused),
		cmocka_unit_test(test_host_keeps_others_socket),
		cmocka_unit_test(test_held_lock_refused),
		cmocka_unit_test(test_default_socket_private),
		cmocka_unit_test(test_help),
		cmocka_unit_test(test_short_run_returns_memory),
		cmocka_unit_test(test_hinting_strategies),
		cmocka_unit_test(test_modes_same_keys),
		cmocka_unit_test(test_working_set_process),
		cmocka_unit_test(test_run_lock_stats),
		cmocka_unit_test(test_run_warmup),
		cmocka_unit_test(test_bench_smoke),
	};

	/* GMM_TEST_FILTER=test_run_* runs only those. */
	if (getenv("GMM_TEST_FILTER"))
		cmocka_set_test_filter(getenv("GMM_TEST_FILTER"));
	return cmocka_run_group_tests(tests, NULL, NULL);
}
