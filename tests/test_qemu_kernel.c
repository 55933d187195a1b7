/*
 * test_qemu_kernel.c - `guestmm run --qemu`: our own kernel on QEMU's
 * microvm drives QEMU's virtio-balloon-device, its console lines are read
 * by the process guest's parser, and the host's accounting of QEMU's
 * guest-RAM memfd is the judge.  Under TCG here, so each run is bounded by
 * its cycle count and sleep, never by a figure of time.  Needs
 * qemu-system-x86 (77 without it).
 */
#include "testutil.h"
#include "cmdutil.h"

#define MIB (1ull << 20)

static char out[65536];

/* Run `guestmm run --qemu ARGS --json --quiet`; keep its output and
 * return its exit status. */
static int run_kernel(const char *args)
{
	char cmd[1024];
	int status;

	snprintf(cmd, sizeof(cmd), "%s run --qemu --kernel %s %s --json --quiet",
		 GUESTMM_BIN, GMM_KERNEL_ELF, args);
	status = cmd_output(cmd, out, sizeof(out));
	print_message("%s\n", out);
	return status;
}

static double json_number(const char *key)
{
	return cmd_json_number(out, key);
}

/*
 * memhog of 75 % of 512 MiB, one cycle: with reporting on at least 80 %
 * of what it freed leaves QEMU's memfd within the sleep after the free;
 * the JSON has the process guest's keys (the console lines went through
 * its parser) and the clean status came through isa-debug-exit.
 */
static void test_on_returns(void **state)
{
	double freed, at_free, after;

	(void)state;
	assert_int_equal(run_kernel("--mem 512M --cpus 2 --cycles 1 --sleep-ms 8000"), 0);
	assert_non_null(strstr(out, "\"guest\": \"qemu\""));
	freed = json_number("freed_bytes");
	at_free = json_number("host_resident_at_free_bytes");
	after = json_number("host_resident_after_free_bytes");
	assert_true(freed == 384 * MIB);
	assert_true(at_free >= 0.9 * freed);
	assert_true(at_free - after >= 0.8 * freed);
	assert_true(json_number("returned_fraction") >= 0.8);
	assert_true(json_number("allocation_failures") == 0);
}

/* Reporting off: nothing of it leaves (within 5 %). */
static void test_off_returns_nothing(void **state)
{
	double freed, at_free, after;

	(void)state;
	assert_int_equal(run_kernel("--mem 512M --cpus 2 --cycles 1 --sleep-ms 6000 "
				    "--reporting off"), 0);
	freed = json_number("freed_bytes");
	at_free = json_number("host_resident_at_free_bytes");
	after = json_number("host_resident_after_free_bytes");
	assert_true(at_free >= 0.9 * freed);
	assert_true(at_free - after <= 0.05 * freed);
}

/* stress inside the kernel: every block verified, none wrong. */
static void test_stress(void **state)
{
	(void)state;
	assert_int_equal(run_kernel("--mem 256M --cpus 2 --workload stress "
				    "--duration 2"), 0);
	assert_true(json_number("blocks_verified") > 0);
	assert_true(json_number("mismatches") == 0);
}

/* A kernel that is not ours (no console protocol, no clean status):
 * the run fails, not a hang and not a success. */
static void test_not_a_kernel_fails(void **state)
{
	char cmd[1024];
	int status;

	(void)state;
	snprintf(cmd, sizeof(cmd), "%s run --qemu --kernel /etc/hostname "
		 "--mem 256M --quiet 2>/dev/null", GUESTMM_BIN);
	status = system(cmd);
	assert_true(WIFEXITED(status) && WEXITSTATUS(status) == 1);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_on_returns),
		cmocka_unit_test(test_off_returns_nothing),
		cmocka_unit_test(test_stress),
		cmocka_unit_test(test_not_a_kernel_fails),
	};

	if (!cmd_have_qemu())
		return 77;
	return cmocka_run_group_tests(tests, NULL, NULL);
}
