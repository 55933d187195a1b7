/*
 * test_qemu.c - `guestmm run --qemu --linux`: Debian's Linux 6.1 on QEMU's
 * microvm drives QEMU's own virtio-balloon (not ours), and the host's
 * accounting of QEMU's guest-RAM memfd is the judge.  Under TCG here, so
 * each run is bounded by its cycle count and sleep, never by a figure of
 * time.  Needs qemu-system-x86 (77 without it) and the build's Linux for
 * QEMU (guest/qemu/mklinux.sh).
 */
#include "testutil.h"
#include "cmdutil.h"

#define MIB (1ull << 20)

static char out[65536];

/* Run `guestmm run --qemu --linux ARGS --json --quiet`; keep its output. */
static void run_qemu(const char *args)
{
	char cmd[1024];

	snprintf(cmd, sizeof(cmd),
		 "%s run --qemu --linux --kernel %s/vmlinuz --initrd %s/initrd.gz "
		 "%s --json --quiet", GUESTMM_BIN, GMM_QEMU_DIR, GMM_QEMU_DIR, args);
	cmd_output_ok(cmd, out, sizeof(out));
	print_message("%s\n", out);
}

/* The number after "@key": in the output (within @within if set). */
static double json_number_in(const char *within, const char *key)
{
	return cmd_json_number(within ? within : out, key);
}

static double json_number(const char *key)
{
	return cmd_json_number(out, key);
}

/*
 * Reporting on: after memhog frees 768 MiB of a 1 GiB guest, QEMU's memfd
 * gives back most of it (Linux reports 2 MiB blocks after 2 s; TCG is
 * slow, so the guest sleeps 40 s, and half is asked for).  The guest's
 * statistics come through QMP with Linux's meanings.
 */
static void test_reporting_returns_memory(void **state)
{
	double freed, at_free, after;

	(void)state;
	run_qemu("--mem 1G --cpus 2 --cycles 1 --sleep-ms 40000");
	assert_non_null(strstr(out, "\"guest\": \"qemu\""));
	freed = json_number("freed_bytes");
	at_free = json_number("host_resident_at_free_bytes");
	after = json_number("host_resident_after_free_bytes");
	assert_true(freed == 768 * MIB);
	/* memhog's memory was in QEMU's memfd while held. */
	assert_true(at_free >= 0.75 * freed);
	assert_true(at_free - after >= 0.5 * freed);
	/* MemTotal is RAM less the kernel's own; MemFree at most that. */
	assert_true(json_number("guest_total_bytes") > 900 * MIB);
	assert_true(json_number("guest_total_bytes") <= 1024 * MIB);
	assert_true(json_number("guest_free_bytes") > 0);
	assert_true(json_number("guest_free_bytes") <= json_number("guest_total_bytes"));
	assert_true(json_number("guest_available_bytes") > 0);
}

/*
 * Reporting off: nothing of what memhog freed leaves QEMU's memory
 * (within 5 % of it); then the balloon through QMP to 512 MiB: actual
 * reaches it and those pages leave the memfd (QEMU discards each inflated
 * page), and the deflate to all of RAM brings actual back.
 */
static void test_off_returns_nothing_balloon_does(void **state)
{
	const char *b;
	double freed, at_free, after;

	(void)state;
	run_qemu("--mem 1G --cpus 2 --cycles 1 --sleep-ms 8000 --reporting off "
		 "--target 512M");
	freed = json_number("freed_bytes");
	at_free = json_number("host_resident_at_free_bytes");
	after = json_number("host_resident_after_free_bytes");
	assert_true(at_free >= 0.75 * freed);
	assert_true(at_free - after <= 0.05 * freed);
	b = strstr(out, "\"balloon\": {");
	assert_non_null(b);
	assert_true(json_number_in(b, "actual_inflated_bytes") == 512 * MIB);
	/* 512 MiB went to the balloon; freed memory had been touched, so
	 * most of it was QEMU's and is gone now. */
	assert_true(json_number_in(b, "host_resident_before_bytes") -
			    json_number_in(b, "host_resident_inflated_bytes") >=
		    256 * MIB);
	assert_true(json_number_in(b, "actual_deflated_bytes") == 1024 * MIB);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_reporting_returns_memory),
		cmocka_unit_test(test_off_returns_nothing_balloon_does),
	};

	if (!cmd_have_qemu())
		return 77;
	return cmocka_run_group_tests(tests, NULL, NULL);
}
