/*
 * cmdutil.h - what the tests of whole guestmm commands share: run a shell
 * line and keep what it printed, read a figure out of the JSON it printed,
 * list a directory, and tell whether QEMU is there to run a guest on.
 * Include after testutil.h (cmocka).
 */
#ifndef GUESTMM_TESTS_CMDUTIL_H
#define GUESTMM_TESTS_CMDUTIL_H

#include <dirent.h>
#include <fcntl.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <unistd.h>

#define CMD_QEMU_BIN "/usr/bin/qemu-system-x86_64"

/*
 * cmd_output - run @cmd through the shell, its standard output into @out
 * (NUL-terminated; beyond @len - 1 bytes it is cut).  Fails the test when
 * the shell cannot be started.
 * Return: the command's exit status (WEXITSTATUS of pclose()).
 */
static inline int cmd_output(const char *cmd, char *out, size_t len)
{
	FILE *p = popen(cmd, "r");
	size_t n;

	assert_non_null(p);
	n = fread(out, 1, len - 1, p);
	out[n] = 0;
	return WEXITSTATUS(pclose(p));
}

/* cmd_output() of a command that must succeed: any other status fails the
 * test with the command and its output. */
static inline void cmd_output_ok(const char *cmd, char *out, size_t len)
{
	int status = cmd_output(cmd, out, len);

	if (status)
		fail_msg("'%s' exited %d:\n%s", cmd, status, out);
}

/*
 * cmd_json_number - the value after "@key": in @json: a number, true as 1,
 * false and null as 0.  A missing key fails the test.
 */
static inline double cmd_json_number(const char *json, const char *key)
{
	char pat[128];
	const char *p;

	snprintf(pat, sizeof(pat), "\"%s\": ", key);
	p = strstr(json, pat);
	if (!p)
		fail_msg("no %s in the output", key);
	p += strlen(pat);
	if (!strncmp(p, "true", 4))
		return 1;
	if (!strncmp(p, "false", 5) || !strncmp(p, "null", 4))
		return 0;
	return strtod(p, NULL);
}

/* What is in @dir (but . and ..), space-separated, into @buf, cut at @len.
 * Return: how many entries. */
static inline unsigned int cmd_dir_list(const char *dir, char *buf, size_t len)
{
	DIR *d = opendir(dir);
	struct dirent *e;
	unsigned int n = 0;
	size_t used = 0;

	assert_non_null(d);
	buf[0] = 0;
	while ((e = readdir(d))) {
		if (!strcmp(e->d_name, ".") || !strcmp(e->d_name, ".."))
			continue;
		n++;
		if (used < len)
			used += (size_t)snprintf(buf + used, len - used, " %s",
						 e->d_name);
	}
	closedir(d);
	return n;
}

/*
 * cmd_proc_cmdline - the command line of process @pid (a name in /proc):
 * its arguments, each NUL-terminated, into @buf, with a NUL after the
 * last; cut at @len - 1 bytes.
 * Return: the bytes read; 0 or -1 when there are none (a kernel thread, a
 * process gone).
 */
static inline ssize_t cmd_proc_cmdline(const char *pid, char *buf, size_t len)
{
	char path[300];
	ssize_t n;
	int fd;

	snprintf(path, sizeof(path), "/proc/%s/cmdline", pid);
	fd = open(path, O_RDONLY | O_CLOEXEC);
	if (fd < 0)
		return -1;
	n = read(fd, buf, len - 1);
	close(fd);
	buf[n > 0 ? n : 0] = 0;
	return n;
}

/* Whether QEMU can be run: the tests of run --qemu skip (77) without it. */
static inline bool cmd_have_qemu(void)
{
	if (access(CMD_QEMU_BIN, X_OK)) {
		print_message("no %s: skipped\n", CMD_QEMU_BIN);
		return false;
	}
	return true;
}

#endif
