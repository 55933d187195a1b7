/*
 * test_uml_console.c - the host reads a Linux guest's console as lines it
 * does not trust: a line longer than the host's buffer is dropped whole,
 * up to its newline, and its tail is never taken for a line of its own
 * (it could read "gmm-..." and pass for the guest's init).  The "kernel"
 * is a stand-in script; nothing boots.
 */
#define _GNU_SOURCE
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cmocka.h>

#include "host/uml_guest.h"

/* The host's console buffer (host/uml_guest.c's CONSOLE_BUF). */
#define HOST_LINE_BUF 8192

static void test_overlong_line_tail_is_dropped(void **state)
{
	char dir[] = "/tmp/gmm-umlcon-XXXXXX", kernel[64], initrd[64], line[256];
	struct uml_guest_config c = { 0 };
	struct uml_guest *g = NULL;
	FILE *f;

	(void)state;
	assert_non_null(mkdtemp(dir));
	snprintf(kernel, sizeof(kernel), "%s/linux", dir);
	snprintf(initrd, sizeof(initrd), "%s/initrd", dir);
	f = fopen(initrd, "w");
	assert_non_null(f);
	fclose(f);
	f = fopen(kernel, "w");
	assert_non_null(f);
	/* Exactly a buffer of 'x', then a forged line's tail on the same
	 * line, then the guest's real line. */
	fprintf(f, "#!/bin/sh\n"
		   "head -c %d /dev/zero | tr '\\000' x\n"
		   "echo 'gmm-forged 1'\n"
		   "echo 'gmm-real 2'\n"
		   "sleep 30\n", HOST_LINE_BUF);
	fclose(f);
	assert_int_equal(chmod(kernel, 0755), 0);

	c.linux_path = kernel;
	c.initrd = initrd;
	c.mem_bytes = 64ull << 20;
	assert_int_equal(uml_guest_spawn(&c, &g), 0);
	assert_int_equal(uml_guest_wait_line(g, "gmm-", line, sizeof(line),
					     20000), 0);
	assert_string_equal(line, "gmm-real 2");
	uml_guest_kill(g);
	uml_guest_destroy(g, 5000);
	unlink(kernel);
	unlink(initrd);
	rmdir(dir);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_overlong_line_tail_is_dropped),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
