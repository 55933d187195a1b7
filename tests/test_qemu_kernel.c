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

/* Run `guestmm run --qemu ARGS --json --quiet` (@err: its stderr too);
 * keep its output and return its exit status. */
static int run_kernel_out(const char *args, bool err)
{
	char cmd[1024];
	int status;

	snprintf(cmd, sizeof(cmd), "%s run --qemu --kernel %s %s --json --quiet%s",
		 GUESTMM_BIN, GMM_KERNEL_ELF, args, err ? " 2>&1" : "");
	status = cmd_output(cmd, out, sizeof(out));
	print_message("%s\n", out);
	return status;
}

static int run_kernel(const char *args)
{
	return run_kernel_out(args, false);
}

static double json_number_in(const char *within, const char *key)
{
	return cmd_json_number(within ? within : out, key);
}

static double json_number(const char *key)
{
	return json_number_in(NULL, key);
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

/*
 * The guest's statistics through QMP once the workload is over (the
 * kernel stays up for the runner, --stay): Linux's meanings, MemFree
 * <= MemAvailable <= MemTotal, and MemTotal is the RAM the allocator
 * manages: all of it but the kernel's image, boot allocations and
 * mm/'s metadata, a few percent.  Reporting off: a report in flight
 * holds its blocks off the free lists, out of MemFree as in Linux
 * (__isolate_free_page), and CI's ASan stage read 404 of 530 MiB free
 * with memhog's 64 MiB long freed.
 */
static void test_stats_after_workload(void **state)
{
	double free, avail, total;

	(void)state;
	assert_int_equal(run_kernel("--mem 512M --cpus 2 --cycles 1 --hog 64M "
				    "--sleep-ms 0 --reporting off"), 0);
	free = json_number("guest_free_bytes");
	avail = json_number("guest_available_bytes");
	total = json_number("guest_total_bytes");
	assert_true(total <= 512 * MIB);
	assert_true(total >= 0.9 * 512 * MIB);
	/* memhog has freed its 64 MiB: most of the guest is free. */
	assert_true(free >= 0.8 * total);
	assert_true(free <= avail);
	assert_true(avail <= total);
}

/*
 * --target through QMP with our kernel: reporting off, so what memhog
 * touched stays in QEMU's memfd until the balloon takes it.  Inflated to
 * 256 MiB of 512, actual reaches it and the memfd holds no more than the
 * guest has left (QEMU discards every inflated page); deflated, actual is
 * all of RAM again and MemTotal has its frames back; the kernel's
 * buddy_check() at the end (the clean status) found every frame home.
 */
static void test_target_inflate_deflate(void **state)
{
	const char *b;

	(void)state;
	assert_int_equal(run_kernel("--mem 512M --cpus 2 --cycles 1 --sleep-ms 0 "
				    "--reporting off --target 256M"), 0);
	b = strstr(out, "\"balloon\": {");
	assert_non_null(b);
	assert_true(json_number_in(b, "target_bytes") == 256 * MIB);
	/* memhog touched 384 MiB, more than the target leaves. */
	assert_true(json_number_in(b, "host_resident_before_bytes") >= 320 * MIB);
	assert_true(json_number_in(b, "actual_inflated_bytes") == 256 * MIB);
	assert_true(json_number_in(b, "host_resident_inflated_bytes") <=
		    256 * MIB + 8 * MIB);
	assert_true(json_number_in(b, "actual_deflated_bytes") == 512 * MIB);
	assert_true(json_number_in(b, "inflate_s") > 0);
	assert_true(json_number("guest_total_bytes") >= 0.9 * 512 * MIB);
}

/* A target the guest cannot give: one line that says why, no balloon. */
static void test_target_below_needs(void **state)
{
	(void)state;
	assert_int_equal(run_kernel_out("--mem 256M --cpus 1 --cycles 1 --hog 16M "
					"--sleep-ms 0 --target 8M", true), 1);
	assert_non_null(strstr(out, "--target 8 MiB: below what the guest needs"));
	assert_null(strstr(out, "\"balloon\""));
}

/*
 * A fault in our kernel (--crash null: a read of address 0): its fault
 * line and backtrace on guestmm's stderr, and the run fails.
 */
static void test_fault_relayed(void **state)
{
	(void)state;
	assert_int_equal(run_kernel_out("--mem 256M --cpus 2 --append '--crash null'",
					true), 1);
	/* One prefix on a relayed line: not "kernel: guestmm-kernel: fault:". */
	assert_non_null(strstr(out, "guestmm: run: kernel: fault: #PF page fault (vector 14)"));
	assert_null(strstr(out, "kernel: guestmm-kernel:"));
	assert_non_null(strstr(out, ", cr2 0 (the faulting address)"));
	assert_non_null(strstr(out, "backtrace"));
	assert_non_null(strstr(out, "status 37"));
}

/*
 * A workload that found a wrong block (--crash mismatch counts one)
 * fails the run, though the kernel stayed up for the runner after it.
 */
static void test_failed_workload_fails(void **state)
{
	(void)state;
	assert_int_equal(run_kernel_out("--mem 256M --cpus 1 --cycles 1 --hog 16M "
					"--sleep-ms 0 --append '--crash mismatch'",
					true), 1);
	assert_non_null(strstr(out, "--crash mismatch: counting a wrong block"));
	assert_non_null(strstr(out, "status 35"));
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_on_returns),
		cmocka_unit_test(test_off_returns_nothing),
		cmocka_unit_test(test_stress),
		cmocka_unit_test(test_not_a_kernel_fails),
		cmocka_unit_test(test_stats_after_workload),
		cmocka_unit_test(test_target_inflate_deflate),
		cmocka_unit_test(test_target_below_needs),
		cmocka_unit_test(test_fault_relayed),
		cmocka_unit_test(test_failed_workload_fails),
	};

	if (!cmd_have_qemu())
		return 77;
	return cmocka_run_group_tests(tests, NULL, NULL);
}
