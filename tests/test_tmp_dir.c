/*
 * test_tmp_dir.c - our temporary directories (host/tmp_dir.h): made in
 * $TMPDIR, named and locked for their maker; what a maker killed by
 * SIGKILL left is removed by the next maker, and nothing of a maker that
 * lives (its lock held, or its pid a process: between mkdtemp() and
 * flock(), or a pid reused) is ever removed; the removal of a tree never
 * follows a symbolic link out of it.
 *
 * Each test works in a fresh $TMPDIR of its own.
 */
#ifndef _GNU_SOURCE
#define _GNU_SOURCE
#endif
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <setjmp.h>
#include <signal.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/file.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include <cmocka.h>

#include "host/tmp_dir.h"

static char outer[128], base[256];

/* A fresh $TMPDIR for the test, inside the one we were given. */
static int base_setup(void **state)
{
	(void)state;
	snprintf(base, sizeof(base), "%s/test_tmp_dir.XXXXXX", outer);
	if (!mkdtemp(base))
		return -1;
	return setenv("TMPDIR", base, 1);
}

static unsigned int base_entries(void)
{
	DIR *d = opendir(base);
	struct dirent *e;
	unsigned int n = 0;

	assert_non_null(d);
	while ((e = readdir(d)))
		n += strcmp(e->d_name, ".") && strcmp(e->d_name, "..");
	closedir(d);
	return n;
}

static int base_teardown(void **state)
{
	(void)state;
	tmp_dir_remove_tree(base);
	return 0;
}

static bool exists(const char *path)
{
	struct stat st;

	return !lstat(path, &st);
}

/* A file in @dir/@name holding @text. */
static void write_file(const char *dir, const char *name, const char *text)
{
	char path[512];
	int fd;

	snprintf(path, sizeof(path), "%s/%s", dir, name);
	fd = open(path, O_WRONLY | O_CREAT | O_EXCL, 0600);
	assert_true(fd >= 0);
	assert_int_equal(write(fd, text, strlen(text)), (ssize_t)strlen(text));
	close(fd);
}

/* What tmp_dir_create() writes first in a directory of ours: the owner
 * marker naming its maker's pid. */
static void mark_owner(const char *dir, int pid)
{
	char text[16];

	snprintf(text, sizeof(text), "%d\n", pid);
	write_file(dir, TMP_DIR_OWNER, text);
}

/* A file in @dir/@name. */
static void touch(const char *dir, const char *name)
{
	char path[512];
	int fd;

	snprintf(path, sizeof(path), "%s/%s", dir, name);
	fd = open(path, O_WRONLY | O_CREAT | O_EXCL, 0600);
	assert_true(fd >= 0);
	close(fd);
}

/* The directory is in $TMPDIR, ours alone, named for its maker; gone
 * with what is in it once destroyed. */
static void test_made_in_tmpdir(void **state)
{
	struct tmp_dir d;
	char want[300];
	struct stat st;

	(void)state;
	assert_int_equal(tmp_dir_create(&d, "run"), 0);
	snprintf(want, sizeof(want), "%s/guestmm-run-%d-", base, (int)getpid());
	if (strncmp(d.path, want, strlen(want)) || strlen(d.path) != strlen(want) + 6)
		fail_msg("made %s, want %sXXXXXX", d.path, want);
	assert_int_equal(stat(d.path, &st), 0);
	assert_true(S_ISDIR(st.st_mode));
	assert_int_equal(st.st_mode & 0777, 0700);
	assert_true(d.lock_fd >= 0);
	touch(d.path, "balloon.sock");
	tmp_dir_destroy(&d);
	assert_int_equal(base_entries(), 0);
	/* Destroying twice is nothing. */
	tmp_dir_destroy(&d);
}

/* A $TMPDIR too long for a socket path inside, or a bad kind: refused. */
static void test_refused(void **state)
{
	char longer[TMP_DIR_BASE_MAX + 2];
	struct tmp_dir d;

	(void)state;
	assert_int_equal(tmp_dir_create(&d, ""), -EINVAL);
	assert_int_equal(tmp_dir_create(&d, "Run"), -EINVAL);
	assert_int_equal(tmp_dir_create(&d, "toolong"), -EINVAL);
	memset(longer, 'x', sizeof(longer) - 1);
	longer[0] = '/';
	longer[sizeof(longer) - 1] = 0;
	assert_int_equal(setenv("TMPDIR", longer, 1), 0);
	assert_int_equal(tmp_dir_create(&d, "run"), -ENAMETOOLONG);
	assert_int_equal(setenv("TMPDIR", base, 1), 0);
	assert_int_equal(base_entries(), 0);
}

/*
 * A child makes a directory, writes its path into @fd and then, per
 * @how: 'k' SIGKILLs itself (nothing removed), 'w' waits for the write
 * end of @hold (closed here) to close (a live maker).  Return: its pid.
 */
static pid_t maker(char how, int fd, const int hold[2], const char *kind)
{
	pid_t pid = fork();

	assert_true(pid >= 0);
	if (!pid) {
		int wait_fd = hold[0];
		struct tmp_dir d;
		char c;

		close(hold[1]);
		if (tmp_dir_create(&d, kind))
			_exit(1);
		if (write(fd, d.path, sizeof(d.path)) != (ssize_t)sizeof(d.path))
			_exit(1);
		if (how == 'k')
			raise(SIGKILL);
		while (read(wait_fd, &c, 1) > 0)
			;
		_exit(0);
	}
	return pid;
}

/* What a maker killed by SIGKILL left is removed by the next maker; a
 * live maker's directory is not. */
static void test_dead_makers_swept(void **state)
{
	char dead[TMP_DIR_PATH_MAX], live[TMP_DIR_PATH_MAX];
	int paths[2], hold[2], status;
	struct tmp_dir d;
	pid_t k, w;

	(void)state;
	assert_int_equal(pipe(paths), 0);
	assert_int_equal(pipe(hold), 0);
	/* The live one first: each maker sweeps before it makes its own. */
	w = maker('w', paths[1], hold, "host");
	assert_int_equal(read(paths[0], live, sizeof(live)), sizeof(live));
	k = maker('k', paths[1], hold, "uml");
	assert_int_equal(read(paths[0], dead, sizeof(dead)), sizeof(dead));
	assert_int_equal(waitpid(k, &status, 0), k);
	assert_true(WIFSIGNALED(status) && WTERMSIG(status) == SIGKILL);
	/* What UML keeps in its uml_dir: a directory with files. */
	{
		char sub[TMP_DIR_PATH_MAX + 16];

		snprintf(sub, sizeof(sub), "%s/guestmm", dead);
		assert_int_equal(mkdir(sub, 0700), 0);
		touch(sub, "pid");
	}
	assert_true(exists(dead));
	assert_true(exists(live));

	assert_int_equal(tmp_dir_create(&d, "run"), 0);
	if (exists(dead))
		fail_msg("%s of a SIGKILLed maker was left", dead);
	if (!exists(live))
		fail_msg("%s of a live maker was removed", live);
	tmp_dir_destroy(&d);

	/* Once the live maker is gone (without removing it), it is swept. */
	close(hold[1]);
	close(hold[0]);
	assert_int_equal(waitpid(w, &status, 0), w);
	assert_true(exists(live));
	assert_int_equal(tmp_dir_sweep(), 1);
	assert_false(exists(live));
	assert_int_equal(base_entries(), 0);
	close(paths[0]);
	close(paths[1]);
}

/*
 * Pid reuse and the maker's first moment: a directory named for a pid
 * that is a process but holds no lock (a maker between mkdtemp() and
 * flock(), or a pid reused), and one named for a dead pid but locked (a
 * name reused by a process that lives), are both left alone.
 */
static void test_live_left_alone(void **state)
{
	char unlocked[300], locked[300];
	int hold[2], lock_fd, status;
	pid_t live, dead;

	(void)state;
	assert_int_equal(pipe(hold), 0);
	live = fork();
	assert_true(live >= 0);
	if (!live) {
		char c;

		close(hold[1]);
		while (read(hold[0], &c, 1) > 0)
			;
		_exit(0);
	}
	close(hold[0]);
	dead = fork();
	assert_true(dead >= 0);
	if (!dead)
		_exit(0);
	assert_int_equal(waitpid(dead, &status, 0), dead);

	snprintf(unlocked, sizeof(unlocked), "%s/guestmm-run-%d-aBcDeF", base,
		 (int)live);
	assert_int_equal(mkdir(unlocked, 0700), 0);
	mark_owner(unlocked, (int)live);
	snprintf(locked, sizeof(locked), "%s/guestmm-run-%d-aBcDeF", base,
		 (int)dead);
	assert_int_equal(mkdir(locked, 0700), 0);
	mark_owner(locked, (int)dead);
	lock_fd = open(locked, O_RDONLY | O_DIRECTORY);
	assert_true(lock_fd >= 0);
	assert_int_equal(flock(lock_fd, LOCK_EX), 0);
	/* Held through another open file: flock() excludes it. */
	assert_int_equal(tmp_dir_sweep(), 0);
	assert_true(exists(unlocked));
	assert_true(exists(locked));

	/* Neither process nor lock: both go. */
	close(lock_fd);
	close(hold[1]);
	assert_int_equal(waitpid(live, &status, 0), live);
	assert_int_equal(tmp_dir_sweep(), 2);
	assert_int_equal(base_entries(), 0);
}

/* Names not of our form are never touched, whoever made them. */
static void test_others_untouched(void **state)
{
	static const char *const names[] = {
		"guestmm-run-999999999-abcdef-x", "guestmm-run-abc-abcdef",
		"guestmm-swap-abcdef", "guestmm-0", "guestmm-run-1-abcde",
		"other",
	};

	(void)state;
	for (unsigned int i = 0; i < sizeof(names) / sizeof(names[0]); i++) {
		char path[300];

		snprintf(path, sizeof(path), "%s/%s", base, names[i]);
		assert_int_equal(mkdir(path, 0700), 0);
	}
	assert_int_equal(tmp_dir_sweep(), 0);
	assert_int_equal(base_entries(), sizeof(names) / sizeof(names[0]));
}

/* A symbolic link in a directory being removed is removed, not followed. */
static void test_remove_tree_no_follow(void **state)
{
	char outside[300], link[TMP_DIR_PATH_MAX + 16], kept[320];
	struct tmp_dir d;

	(void)state;
	snprintf(outside, sizeof(outside), "%s/outside", base);
	assert_int_equal(mkdir(outside, 0700), 0);
	touch(outside, "keep");
	assert_int_equal(tmp_dir_create(&d, "run"), 0);
	snprintf(link, sizeof(link), "%s/link", d.path);
	assert_int_equal(symlink(outside, link), 0);
	tmp_dir_destroy(&d);
	snprintf(kept, sizeof(kept), "%s/keep", outside);
	assert_true(exists(kept));
	assert_int_equal(base_entries(), 1);
}


/*
 * A user's directory that only looks like ours is never touched: the
 * sweep runs at every start of every command in a $TMPDIR that is /tmp
 * for most users, and "guestmm-notes-2024-backup" (no process 2024, no
 * lock: a directory is not locked by anyone) is no kind we make (run,
 * linux, host, uml, bench, plot).  Fails on c1fbfef: the sweep removes it
 * with what is in it.
 */
static void test_lookalike_untouched(void **state)
{
	char dir[300], sub[320], kept[340];
	pid_t dead;
	int status;

	(void)state;
	dead = fork();
	assert_true(dead >= 0);
	if (!dead)
		_exit(0);
	assert_int_equal(waitpid(dead, &status, 0), dead);
	snprintf(dir, sizeof(dir), "%s/guestmm-notes-%d-backup", base, (int)dead);
	assert_int_equal(mkdir(dir, 0700), 0);
	snprintf(sub, sizeof(sub), "%s/chapter1", dir);
	assert_int_equal(mkdir(sub, 0700), 0);
	touch(sub, "thesis.tex");
	assert_int_equal(tmp_dir_sweep(), 0);
	snprintf(kept, sizeof(kept), "%s/thesis.tex", sub);
	assert_true(exists(kept));
}

/*
 * A directory with exactly our name's shape, kind and a dead pid, but
 * that we did not make, is never touched either: "guestmm-run-PID-backup"
 * without our owner marker; with a marker naming another pid; with the
 * marker but not mode 0700; with the marker as a symbolic link to a file
 * that names the pid.  Only the one with everything ours goes.  Fails on
 * c1fbfef: the sweep removes all five.
 */
static void test_shape_without_marker_untouched(void **state)
{
	char dir[5][300], target[300], link[340], text[16];
	pid_t dead;
	int status;

	(void)state;
	dead = fork();
	assert_true(dead >= 0);
	if (!dead)
		_exit(0);
	assert_int_equal(waitpid(dead, &status, 0), dead);
	snprintf(text, sizeof(text), "%d\n", (int)dead);
	for (int i = 0; i < 5; i++) {
		snprintf(dir[i], sizeof(dir[i]), "%s/guestmm-run-%d-backu%c",
			 base, (int)dead, 'p' + i);
		assert_int_equal(mkdir(dir[i], 0700), 0);
		touch(dir[i], "thesis.tex");
	}
	/* dir[0]: no marker. */
	mark_owner(dir[1], (int)dead + 1);
	mark_owner(dir[2], (int)dead);
	assert_int_equal(chmod(dir[2], 0755), 0);
	snprintf(target, sizeof(target), "%s/pidfile", base);
	{
		int fd = open(target, O_WRONLY | O_CREAT | O_EXCL, 0600);

		assert_true(fd >= 0);
		assert_int_equal(write(fd, text, strlen(text)),
				 (ssize_t)strlen(text));
		close(fd);
	}
	snprintf(link, sizeof(link), "%s/%s", dir[3], TMP_DIR_OWNER);
	assert_int_equal(symlink(target, link), 0);
	mark_owner(dir[4], (int)dead);

	assert_int_equal(tmp_dir_sweep(), 1);
	for (int i = 0; i < 4; i++) {
		char kept[sizeof(dir[0]) + 16];

		snprintf(kept, sizeof(kept), "%.299s/thesis.tex", dir[i]);
		if (!exists(kept))
			fail_msg("%s was removed", dir[i]);
	}
	assert_false(exists(dir[4]));
}

/* tmp_dir_create() marks what it makes: the sweep's evidence. */
static void test_owner_marked(void **state)
{
	char path[TMP_DIR_PATH_MAX + 32], buf[32] = { 0 }, want[16];
	struct tmp_dir d;
	int fd;

	(void)state;
	assert_int_equal(tmp_dir_create(&d, "bench"), 0);
	snprintf(path, sizeof(path), "%s/%s", d.path, TMP_DIR_OWNER);
	fd = open(path, O_RDONLY);
	assert_true(fd >= 0);
	assert_true(read(fd, buf, sizeof(buf) - 1) > 0);
	close(fd);
	snprintf(want, sizeof(want), "%d\n", (int)getpid());
	assert_string_equal(buf, want);
	tmp_dir_destroy(&d);
	assert_int_equal(base_entries(), 0);
}

int main(void)
{
	const char *t = getenv("TMPDIR");

	snprintf(outer, sizeof(outer), "%s", t && *t ? t : "/tmp");
	const struct CMUnitTest tests[] = {
		cmocka_unit_test_setup_teardown(test_made_in_tmpdir, base_setup,
						base_teardown),
		cmocka_unit_test_setup_teardown(test_refused, base_setup,
						base_teardown),
		cmocka_unit_test_setup_teardown(test_dead_makers_swept,
						base_setup, base_teardown),
		cmocka_unit_test_setup_teardown(test_live_left_alone,
						base_setup, base_teardown),
		cmocka_unit_test_setup_teardown(test_others_untouched,
						base_setup, base_teardown),
		cmocka_unit_test_setup_teardown(test_remove_tree_no_follow,
						base_setup, base_teardown),
		cmocka_unit_test_setup_teardown(test_lookalike_untouched,
						base_setup, base_teardown),
		cmocka_unit_test_setup_teardown(
			test_shape_without_marker_untouched, base_setup,
			base_teardown),
		cmocka_unit_test_setup_teardown(test_owner_marked, base_setup,
						base_teardown),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
