/*
 * test_linux.c - the proof against Linux: a stock kernel (Debian's user-mode
 * Linux 6.1) drives our virtio-balloon device over vhost-user with its own
 * virtio_balloon driver and page reporting.  The host's accounting of the
 * guest's memory file is the judge.  Needs the user-mode-linux and
 * busybox-static packages (the build makes the initramfs).
 */
#include "testutil.h"
#include "cmdutil.h"

#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <pthread.h>
#include <signal.h>
#include <limits.h>
#include <sys/stat.h>
#include <sys/statfs.h>
#include <sys/wait.h>
#include <unistd.h>

#include <linux/magic.h>

#include "host/backend.h"
#include "host/balloon.h"
#include "host/uml_guest.h"
#include "host/vhost_user.h"

#define MIB (1ull << 20)

/* A command's whole output: --json-lines of a slow boot and a slow return
 * (two minutes on a loaded machine) are 30 KiB and more, and a summary
 * cut off at the end reads as a missing line. */
static char out[262144];

/* Run `guestmm host --linux ARGS --json` and keep its output. */
static void host_linux(const char *args)
{
	char cmd[1024];

	snprintf(cmd, sizeof(cmd), "%s host --linux --initrd %s %s --json",
		 GUESTMM_BIN, GMM_UML_INITRD, args);
	cmd_output_ok(cmd, out, sizeof(out));
	print_message("%s\n", out);
}

static double json_number(const char *key)
{
	return cmd_json_number(out, key);
}

static void test_linux_reports_to_our_device(void **state)
{
	host_linux("--mem 512M --hog 128M --watch 60 --until-returned");
	assert_true(json_number("balloon_loaded"));
	assert_true(json_number("reporting"));
	assert_true(json_number("reports") > 0);
	/* The host got back at least 90 % of what the guest freed. */
	assert_true(json_number("returned_fraction") >= 0.9);
	/* Stats arrived from the guest's stats queue. */
	assert_true(json_number("stats_seen"));
	assert_true(json_number("guest_total_bytes") > 400 * MIB);
}

/*
 * --until-returned, with a live line a second: no second is printed twice
 * (the boot's seconds were once owed at once: the first line three times),
 * and the summary gives the time watched, which stopped at 90 % returned,
 * not the --watch value.
 */
static void test_until_returned_lines(void **state)
{
	char cmd[1024], *line, *save = NULL;
	const char *s;
	double last = -1, watched = -1, t90 = -1;
	unsigned int lines = 0;

	(void)state;
	snprintf(cmd, sizeof(cmd), "%s host --linux --initrd %s --mem 256M --hog 128M "
		 "--watch 60 --until-returned --json-lines", GUESTMM_BIN, GMM_UML_INITRD);
	cmd_output_ok(cmd, out, sizeof(out));
	s = strstr(out, "host resident");
	assert_non_null(s);
	assert_non_null(s = strstr(s, " after "));
	watched = strtod(s + strlen(" after "), NULL);
	assert_non_null(s = strstr(s, "90 % after "));
	t90 = strtod(s + strlen("90 % after "), NULL);
	for (line = strtok_r(out, "\n", &save); line; line = strtok_r(NULL, "\n", &save)) {
		double t;

		if (strncmp(line, "{\"t\": ", 6))
			continue;
		t = strtod(line + 6, NULL);
		/* t >= 0: (long) is floor. */
		if (last >= 0 && (long)t <= (long)last)
			fail_msg("two live lines in second %ld (%.2f, %.2f)", (long)t, last, t);
		last = t;
		lines++;
	}
	print_message("%u live lines; watched %.2f s, 90 %% after %.2f s\n", lines,
		      watched, t90);
	assert_true(lines >= 2);
	/* Stopped at the sample that reached 90 %: the same time, printed
	 * to 0.1 s and 0.01 s. */
	assert_true(watched < 60);
	assert_true(watched - t90 < 0.06 && t90 - watched < 0.06);
}

/* `guestmm run --linux`: the run's keys, figures from the host's accounting. */
static void test_run_linux(void **state)
{
	static const char *const keys[] = {
		"guest", "workload", "guest_mem_bytes", "freed_bytes",
		"host_resident_at_free_bytes", "host_resident_after_free_bytes",
		"returned_fraction", "time_to_return_90pct_s", "reports",
		"reported_bytes", "cycles", "zones",
	};
	char cmd[1024];

	snprintf(cmd, sizeof(cmd), "%s run --linux --initrd %s --mem 256M "
		 "--cycles 1 --sleep-ms 10000 --json --quiet",
		 GUESTMM_BIN, GMM_UML_INITRD);
	cmd_output_ok(cmd, out, sizeof(out));
	for (size_t i = 0; i < sizeof(keys) / sizeof(keys[0]); i++) {
		char pat[64];

		snprintf(pat, sizeof(pat), "\"%s\": ", keys[i]);
		if (!strstr(out, pat))
			fail_msg("no \"%s\" in '%s'", keys[i], out);
	}
	assert_non_null(strstr(out, "\"guest\": \"linux\""));
	assert_true(json_number("reports") > 0);
	assert_true(json_number("freed_bytes") > 100 * MIB);
	/* Linux takes 2 s per 256 MiB here: most of it is back after 10 s. */
	assert_true(json_number("returned_fraction") >= 0.8);
}

/* The value of @key after @from in out; either missing fails the test
 * (as -1 it passed every "< 0.1"). */
static double json_number_after(const char *from, const char *key)
{
	const char *p = strstr(out, from);

	if (!p)
		fail_msg("no %s in the output", from);
	return cmd_json_number(p, key);
}

/*
 * bench return --guest both: ours and Linux behind the same device, each
 * measured by the host's accounting; both give their memory back, neither
 * with reporting off.
 */
static void test_bench_return_both(void **state)
{
	char cmd[1024];

	(void)state;
	snprintf(cmd, sizeof(cmd), "%s bench return --guest both --pairs 1 --mem 256M --json",
		 GUESTMM_BIN);
	cmd_output_ok(cmd, out, sizeof(out));
	assert_non_null(strstr(out, "\"guests\": ["));
	assert_true(json_number_after("\"guest\": \"ours\"", "returned_fraction") >= 0.9);
	assert_true(json_number_after("\"guest\": \"linux\"", "returned_fraction") >= 0.8);
	assert_true(json_number_after("\"guest\": \"ours\"",
				      "returned_fraction_reporting_off") < 0.1);
	assert_true(json_number_after("\"guest\": \"linux\"",
				      "returned_fraction_reporting_off") < 0.1);
	assert_true(json_number("linux_over_ours_time_to_90pct") > 0);
}

static void test_init_on_free_keeps_reporting(void **state)
{
	host_linux("--mem 512M --hog 128M --watch 60 --until-returned --init-on-free");
	assert_true(json_number("page_poison"));
	assert_int_equal(json_number("poison_val"), 0);
	assert_true(json_number("reporting"));
	assert_true(json_number("returned_fraction") >= 0.9);
}

static void test_inflate_and_deflate(void **state)
{
	/* Reporting off, so memhog's freed memory stays resident until the
	 * balloon takes it. */
	/* --target is what the guest keeps (QMP's meaning): a 96 MiB balloon. */
	host_linux("--mem 512M --hog 128M --watch 3 --reporting off --target 416M");
	assert_false(json_number("reporting"));
	assert_true(json_number("returned_fraction") < 0.1);
	assert_int_equal(json_number("target_pages"), 96 * MIB / 4096);
	assert_int_equal(json_number("actual_pages_inflated"), 96 * MIB / 4096);
	assert_true(json_number("host_resident_inflated_bytes") <=
		    json_number("host_resident_before_inflate_bytes") - 0.8 * 96 * MIB);
	assert_int_equal(json_number("actual_pages_deflated"), 0);
}

/*
 * The lines a person reads: with --target the live lines show the target
 * and the guest reaching it (the balloon went up and down between two
 * lines: "target 0 B" on every one), and a return that never reached 90 %
 * within --watch says so ("90 % after nan s").
 */
static void test_target_lines(void **state)
{
	char cmd[1024];

	(void)state;
	snprintf(cmd, sizeof(cmd), "%s host --linux --initrd %s --mem 256M --hog 128M "
		 "--watch 2 --reporting off --until-returned --target 192M",
		 GUESTMM_BIN, GMM_UML_INITRD);
	cmd_output_ok(cmd, out, sizeof(out));
	if (!strstr(out, "target 64.00 MiB  actual 64.00 MiB"))
		fail_msg("no live line shows the balloon at its target:\n%s", out);
	if (strstr(out, "nan"))
		fail_msg("'nan' in the output:\n%s", out);
	if (!strstr(out, "90 % never within 2."))
		fail_msg("the summary does not say 90 %% never came back:\n%s", out);
}

/*
 * A TMPDIR on a disk file system: user-mode Linux makes the file of its
 * RAM there, which the device refuses to map (tmpfs and hugetlbfs only);
 * the guest must still get its RAM on tmpfs and return its memory (it ran
 * with nothing mapped: "0 B resident", 0 % returned, status 0).
 */
static void test_tmpdir_on_disk(void **state)
{
	char dir[PATH_MAX], *old = getenv("TMPDIR");
	struct statfs sfs;

	(void)state;
	if (old)
		old = strdup(old);
	assert_non_null(getcwd(dir, sizeof(dir) - 32));
	strcat(dir, "/tmpdir-XXXXXX");
	assert_non_null(mkdtemp(dir));
	assert_int_equal(statfs(dir, &sfs), 0);
	if (sfs.f_type == TMPFS_MAGIC) {
		rmdir(dir);
		print_message("the build directory is on tmpfs: nothing to show\n");
		skip();
	}
	setenv("TMPDIR", dir, 1);
	host_linux("--mem 256M --hog 128M --watch 60 --until-returned");
	if (old) {
		setenv("TMPDIR", old, 1);
		free(old);
	} else {
		unsetenv("TMPDIR");
	}
	assert_int_equal(rmdir(dir), 0);
	assert_true(json_number("host_resident_at_free_bytes") > 100 * MIB);
	assert_true(json_number("returned_fraction") >= 0.9);
}

/* ---- the guest dies in the middle of reporting ---- */

static void stats(struct balloon_backend *be, struct balloon_stats *st)
{
	balloon_get_stats(be->balloon, st);
}

/* Wait up to @ms for @cond on the balloon's stats. */
#define WAIT_FOR(be, st, ms, cond)                                             \
	({                                                                     \
		bool ok_ = false;                                              \
		for (int i_ = 0; i_ < (ms) / 20; i_++) {                       \
			stats(be, &(st));                                      \
			if (cond) {                                            \
				ok_ = true;                                    \
				break;                                         \
			}                                                      \
			struct timespec ts_ = { 0, 20 * 1000 * 1000 };          \
			nanosleep(&ts_, NULL);                                 \
		}                                                              \
		ok_;                                                           \
	})

/* A directory of the test's own in $TMPDIR (/tmp when unset), into @dir. */
static void test_dir(char *dir, size_t len, const char *what)
{
	const char *t = getenv("TMPDIR");

	snprintf(dir, len, "%s/%s.XXXXXX", t && *t ? t : "/tmp", what);
	assert_non_null(mkdtemp(dir));
}

static struct uml_guest *boot(const char *sock)
{
	struct uml_guest_config c = { 0 };
	struct uml_guest *g = NULL;

	c.initrd = GMM_UML_INITRD;
	c.balloon_socket = sock;
	c.mem_bytes = 512 * MIB;
	assert_int_equal(uml_guest_start(&c, 60000, &g), 0);
	assert_true(uml_guest_balloon_loaded(g));
	return g;
}

static void test_guest_dies_mid_report(void **state)
{
	char dir[128], sock[160], line[128];
	struct balloon_backend be;
	struct balloon_stats st;
	struct uml_guest *g;
	uint64_t reports;

	test_dir(dir, sizeof(dir), "gmm-linux-test");
	snprintf(sock, sizeof(sock), "%s/b.sock", dir);
	assert_int_equal(balloon_backend_start(&be, sock, BALLOON_FEATURES_DEFAULT), 0);

	g = boot(sock);
	assert_true(WAIT_FOR(&be, st, 10000, st.connected && (st.features & (1ull << VIRTIO_BALLOON_F_REPORTING))));
	/* Let the boot-time report finish, then free memory and kill the
	 * guest as soon as the device sees the first report of it. */
	assert_true(WAIT_FOR(&be, st, 15000, st.reports > 0));
	struct timespec settle = { 3, 0 };
	nanosleep(&settle, NULL);
	stats(&be, &st);
	reports = st.reports;
	assert_int_equal(uml_guest_send(g, "memhog 128"), 0);
	assert_int_equal(uml_guest_wait_line(g, "gmm-memhog freed", line, sizeof(line), 120000), 0);
	assert_true(WAIT_FOR(&be, st, 10000, st.reports > reports));
	uml_guest_kill(g);
	uml_guest_destroy(g, 1000);

	/* The device resets: the guest's memory is unmapped and released. */
	assert_true(WAIT_FOR(&be, st, 10000, !st.connected));
	assert_int_equal(st.memory_bytes, 0);
	assert_int_equal(st.resident_bytes, 0);
	assert_int_equal(be.err, 0);

	/* The backend keeps serving: the next guest attaches and reports. */
	g = boot(sock);
	assert_true(WAIT_FOR(&be, st, 10000, st.connected && (st.features & (1ull << VIRTIO_BALLOON_F_REPORTING))));
	reports = st.reports;
	assert_true(WAIT_FOR(&be, st, 15000, st.reports > reports));
	uml_guest_destroy(g, 10000);

	balloon_backend_stop(&be);
	unlink(sock);
	rmdir(dir);
}

/* ---- run --linux ended by a signal ---- */

/* Is a process of a Linux guest whose uml_dir is in @base alive? */
static bool uml_alive_in(const char *base)
{
	char want[300];
	DIR *d = opendir("/proc");
	struct dirent *e;
	bool found = false;

	assert_non_null(d);
	snprintf(want, sizeof(want), "uml_dir=%s/", base);
	while (!found && (e = readdir(d))) {
		char buf[4096];
		ssize_t n = cmd_proc_cmdline(e->d_name, buf, sizeof(buf));

		for (ssize_t i = 0; n > 0 && i < n; i += (ssize_t)strlen(buf + i) + 1) {
			if (!strncmp(buf + i, want, strlen(want)))
				found = true;
		}
	}
	closedir(d);
	return found;
}

/* The pid file UML writes in its uml_dir (made by @maker) once its
 * kernel runs. */
static bool uml_pid_file_in(const char *base, pid_t maker)
{
	DIR *d = opendir(base);
	struct dirent *e;
	bool found = false;
	char want[64];

	assert_non_null(d);
	snprintf(want, sizeof(want), "guestmm-uml-%d-", (int)maker);
	while (!found && (e = readdir(d))) {
		char path[600];

		if (strncmp(e->d_name, want, strlen(want)))
			continue;
		snprintf(path, sizeof(path), "%s/%s/guestmm/pid", base, e->d_name);
		found = !access(path, F_OK);
	}
	closedir(d);
	return found;
}

/*
 * issue 16 #6: `run --linux` ended by Ctrl-C, SIGTERM or SIGHUP left the
 * Linux guest's uml_dir (9 of 10).  Now every signal that ends it leaves
 * nothing in $TMPDIR and no process of the guest; a SIGKILL leaves both
 * directories (nothing can remove them then), and the next run --linux
 * removes them when it starts.
 */
static void test_run_linux_signal_cleans_up(void **state)
{
	static const int sigs[] = { SIGKILL, SIGTERM, SIGHUP, SIGINT };
	char base[128], left[1024];

	(void)state;
	test_dir(base, sizeof(base), "gmm-linux-signal");
	for (unsigned int k = 0; k < sizeof(sigs) / sizeof(sigs[0]); k++) {
		int status, waited = 0;
		pid_t pid = fork();

		assert_true(pid >= 0);
		if (!pid) {
			int null = open("/dev/null", O_WRONLY);

			signal(SIGINT, SIG_DFL);
			dup2(null, 1);
			dup2(null, 2);
			setenv("TMPDIR", base, 1);
			execl(GUESTMM_BIN, GUESTMM_BIN, "run", "--linux",
			      "--initrd", GMM_UML_INITRD, "--mem", "256M",
			      /* Long enough to be signalled mid-run. */
			      "--cycles", "20", "--sleep-ms", "30000",
			      "--quiet", (char *)NULL);
			_exit(127);
		}
		/* The guest's kernel runs (its pid file is in its uml_dir). */
		while (!uml_pid_file_in(base, pid) && waited++ < 6000 &&
		       waitpid(pid, &status, WNOHANG) == 0)
			usleep(20000);
		if (!uml_pid_file_in(base, pid)) {
			kill(pid, SIGKILL);
			waitpid(pid, NULL, 0);
			cmd_dir_list(base, left, sizeof(left));
			fail_msg("no Linux guest's uml_dir in $TMPDIR %s:%s", base,
				 left);
		}
		assert_int_equal(kill(pid, sigs[k]), 0);
		assert_int_equal(waitpid(pid, &status, 0), pid);
		assert_true(WIFSIGNALED(status));
		assert_int_equal(WTERMSIG(status), sigs[k]);
		/* The guest's processes go with it (its keeper ends them). */
		for (waited = 0; uml_alive_in(base) && waited < 1500; waited++)
			usleep(20000);
		if (uml_alive_in(base))
			fail_msg("the Linux guest outlived run --linux (signal %d)",
				 sigs[k]);
		if (sigs[k] == SIGKILL) {
			if (cmd_dir_list(base, left, sizeof(left)) != 2)
				fail_msg("after SIGKILL, want the run's directory and the uml_dir, found:%s",
					 left);
			continue;
		}
		if (cmd_dir_list(base, left, sizeof(left)))
			fail_msg("left in $TMPDIR after signal %d:%s", sigs[k], left);
	}
	assert_int_equal(rmdir(base), 0);
}

/* ---- guestmm host --listen with a Linux guest started by hand ---- */

static void test_listen_serves_a_linux_started_by_hand(void **state)
{
	char dir[128], sock[160], buf[65536];
	int pipefd[2], status;
	size_t used = 0;
	pid_t pid;
	struct uml_guest *g;
	bool up = false, reported = false;

	test_dir(dir, sizeof(dir), "gmm-linux-test");
	snprintf(sock, sizeof(sock), "%s/b.sock", dir);
	assert_int_equal(pipe(pipefd), 0);
	pid = fork();
	assert_true(pid >= 0);
	if (pid == 0) {
		dup2(pipefd[1], 1);
		close(pipefd[0]);
		execl(GUESTMM_BIN, GUESTMM_BIN, "host", "--listen", sock,
		      "--json-lines", "--duration", "120", (char *)NULL);
		_exit(127);
	}
	close(pipefd[1]);
	for (int i = 0; i < 250 && access(sock, F_OK); i++) {
		struct timespec ts = { 0, 20 * 1000 * 1000 };
		nanosleep(&ts, NULL);
	}
	assert_int_equal(access(sock, F_OK), 0);
	g = boot(sock);
	/* Read its JSON lines until the guest is attached and has reported. */
	for (int i = 0; i < 60 && !(up && reported); i++) {
		ssize_t n = read(pipefd[0], buf + used, sizeof(buf) - 1 - used);

		assert_true(n > 0);
		used += (size_t)n;
		buf[used] = 0;
		up = strstr(buf, "\"connected\": true") != NULL;
		reported = up && !strstr(strrchr(buf, '{'), "\"reports\": 0,");
		if (used > sizeof(buf) / 2) {
			memmove(buf, buf + used / 2, used - used / 2);
			used -= used / 2;
		}
	}
	assert_true(up);
	assert_true(reported);
	assert_non_null(strstr(buf, "\"resident_bytes\": "));
	assert_non_null(strstr(buf, "\"actual_pages\": "));
	uml_guest_destroy(g, 10000);
	kill(pid, SIGTERM);
	assert_int_equal(waitpid(pid, &status, 0), pid);
	assert_true(WIFEXITED(status));
	assert_int_equal(WEXITSTATUS(status), 0);
	close(pipefd[0]);
	unlink(sock);
	rmdir(dir);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_linux_reports_to_our_device),
		cmocka_unit_test(test_until_returned_lines),
		cmocka_unit_test(test_run_linux),
		cmocka_unit_test(test_bench_return_both),
		cmocka_unit_test(test_init_on_free_keeps_reporting),
		cmocka_unit_test(test_inflate_and_deflate),
		cmocka_unit_test(test_target_lines),
		cmocka_unit_test(test_tmpdir_on_disk),
		cmocka_unit_test(test_guest_dies_mid_report),
		cmocka_unit_test(test_listen_serves_a_linux_started_by_hand),
		cmocka_unit_test(test_run_linux_signal_cleans_up),
	};

	/* GMM_TEST_FILTER=test_run_* runs only those. */
	if (getenv("GMM_TEST_FILTER"))
		cmocka_set_test_filter(getenv("GMM_TEST_FILTER"));
	return cmocka_run_group_tests(tests, NULL, NULL);
}
