/*
 * test_cli.c - the guestmm command: bad options and impossible sizes get one
 * line and exit status 2; help works; a short real run returns its memory.
 */
#define _GNU_SOURCE
#include <sys/wait.h>

#include "testutil.h"

struct out {
	int status;
	char text[16384];
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
	expect_usage_error("run --nosuch", "option");
	expect_usage_error("run extra", "extra");
	expect_usage_error("frobnicate", "frobnicate");
	expect_usage_error("bench nosuch", "nosuch");
	expect_usage_error("bench overhead --pairs 0", "--pairs");
}

static void test_help(void **state)
{
	struct out o;

	run(&o, "run --help", false);
	assert_int_equal(o.status, 0);
	assert_non_null(strstr(o.text, "--report-delay-ms"));
	run(&o, "help", false);
	assert_int_equal(o.status, 0);
	assert_non_null(strstr(o.text, "bench"));
}

static void test_short_run_returns_memory(void **state)
{
	struct out o;
	const char *f;

	run(&o, "run --mem 512M --cpus 1 --cycles 1 --hold-ms 0 --sleep-ms 2000 "
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

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_bad_options),
		cmocka_unit_test(test_help),
		cmocka_unit_test(test_short_run_returns_memory),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
