/*
 * test_control.c - the host's control socket (host/control.h) and `guestmm
 * ctl`, against a real `guestmm host` and our guest process attached to it:
 * the protocol (greeting, negotiation, every command, bad JSON, unknown
 * commands, hostile lines), a balloon target set through the socket that
 * reaches actual in the guest, a client that never reads (dropped; the
 * device and another client go on), 16 clients at once, clients that go
 * mid-command, a fleet's guests by name, and the ctl command.
 *
 * No timing is asserted: every wait is for a state, bounded only so that a
 * broken host fails the test instead of hanging it.
 */
#define _GNU_SOURCE
#include <errno.h>
#include <fcntl.h>
#include <json-c/json.h>
#include <poll.h>
#include <setjmp.h>
#include <signal.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <netinet/in.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/un.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include <cmocka.h>

#define MIB (1ull << 20)
/* How long a state may take before the test calls the host broken. */
#define WAIT_MS 60000
/* Idle HTTP clients held open while the device and the control work:
 * libmicrohttpd serves up to 32 connections (METRICS_CONNECTIONS_MAX). */
#define METRICS_IDLE 24

static char dir[80];
static char dev_sock[108], ctl_sock[108], host_log[300];
static pid_t host_pid, guest_pid;

static long now_ms(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

/* Start GUESTMM_BIN with @argv (NULL-ended), its output into @log. */
static pid_t spawn(const char *log, const char *const *argv)
{
	pid_t pid = fork();

	assert_true(pid >= 0);
	if (pid == 0) {
		int fd = open(log, O_WRONLY | O_CREAT | O_APPEND, 0600);

		if (fd >= 0) {
			dup2(fd, 1);
			dup2(fd, 2);
		}
		execv(GUESTMM_BIN, (char *const *)argv);
		_exit(127);
	}
	return pid;
}

static int stop(pid_t *pid)
{
	int status = 0;

	if (*pid > 0) {
		kill(*pid, SIGTERM);
		waitpid(*pid, &status, 0);
	}
	*pid = 0;
	return status;
}

static bool file_has(const char *path, const char *needle);

/* The host ends cleanly at SIGTERM: status 0 (a sanitizer's report, a
 * leak included, would make it 1). */
static void stop_host(void)
{
	int status;

	if (!host_pid)
		return;
	status = stop(&host_pid);
	if (!WIFEXITED(status) || WEXITSTATUS(status)) {
		char cmd[400];

		snprintf(cmd, sizeof(cmd), "cat '%s' >&2", host_log);
		(void)!system(cmd);
		fail_msg("the host ended with status %#x", status);
	}
}

static int ctl_open(void)
{
	struct sockaddr_un sa = { .sun_family = AF_UNIX };
	long end = now_ms() + WAIT_MS;

	snprintf(sa.sun_path, sizeof(sa.sun_path), "%s", ctl_sock);
	for (;;) {
		int fd = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);

		assert_true(fd >= 0);
		if (!connect(fd, (struct sockaddr *)&sa, sizeof(sa)))
			return fd;
		close(fd);
		assert_true(now_ms() < end);
		usleep(20000);
	}
}

/* The next line from @fd, or NULL when it closed. */
struct conn {
	int fd;
	size_t used;
	char buf[1 << 17];
	char line[1 << 17];
};

static const char *conn_line(struct conn *c)
{
	long end = now_ms() + WAIT_MS;

	for (;;) {
		char *nl = memchr(c->buf, '\n', c->used);
		struct pollfd p = { c->fd, POLLIN, 0 };
		ssize_t r;

		if (nl) {
			size_t n = (size_t)(nl - c->buf);

			memcpy(c->line, c->buf, n);
			c->line[n] = 0;
			memmove(c->buf, nl + 1, c->used - n - 1);
			c->used -= n + 1;
			return c->line;
		}
		assert_true(c->used < sizeof(c->buf));
		assert_true(now_ms() < end);
		if (poll(&p, 1, 200) <= 0)
			continue;
		r = read(c->fd, c->buf + c->used, sizeof(c->buf) - c->used);
		if (r <= 0)
			return NULL;
		c->used += (size_t)r;
	}
}

static void conn_send(struct conn *c, const char *s)
{
	size_t n = strlen(s);

	assert_int_equal(send(c->fd, s, n, MSG_NOSIGNAL), (ssize_t)n);
}

static struct conn *conn_open(bool negotiate)
{
	struct conn *c = calloc(1, sizeof(*c));
	const char *l;

	assert_non_null(c);
	c->fd = ctl_open();
	l = conn_line(c);
	assert_non_null(l);
	assert_non_null(strstr(l, "{\"QMP\":"));
	if (negotiate) {
		conn_send(c, "{\"execute\": \"qmp_capabilities\"}\n");
		l = conn_line(c);
		assert_non_null(l);
		assert_string_equal(l, "{\"return\":{}}");
	}
	return c;
}

static void conn_close(struct conn *c)
{
	close(c->fd);
	free(c);
}

/* Send @cmd and parse its answer (events skipped); the caller puts it. */
static struct json_object *call(struct conn *c, const char *cmd)
{
	const char *l;

	conn_send(c, cmd);
	for (;;) {
		struct json_object *o;

		l = conn_line(c);
		assert_non_null(l);
		o = json_tokener_parse(l);
		if (!o)
			fail_msg("not JSON: %s", l);
		if (!json_object_object_get_ex(o, "event", NULL))
			return o;
		json_object_put(o);
	}
}

static const char *error_class(struct json_object *o)
{
	struct json_object *e, *c;

	if (!json_object_object_get_ex(o, "error", &e) ||
	    !json_object_object_get_ex(e, "class", &c))
		return "";
	return json_object_get_string(c);
}

static const char *error_desc(struct json_object *o)
{
	struct json_object *e, *c;

	if (!json_object_object_get_ex(o, "error", &e) ||
	    !json_object_object_get_ex(e, "desc", &c))
		return "";
	return json_object_get_string(c);
}

/* @cmd gets an error of @class whose desc holds @needle. */
static void expect_error(struct conn *c, const char *cmd, const char *class,
			 const char *needle)
{
	struct json_object *o = call(c, cmd);

	if (strcmp(error_class(o), class) || !strstr(error_desc(o), needle))
		fail_msg("%s: got %s, not %s with '%s'", cmd,
			 json_object_to_json_string(o), class, needle);
	json_object_put(o);
}

/* @cmd's return value (held for the caller). */
static struct json_object *ret_of(struct conn *c, const char *cmd)
{
	struct json_object *o = call(c, cmd), *r;

	if (!json_object_object_get_ex(o, "return", &r))
		fail_msg("%s: no return: %s", cmd, json_object_to_json_string(o));
	json_object_get(r);
	json_object_put(o);
	return r;
}

static int64_t key_i64(struct json_object *o, const char *key)
{
	struct json_object *v;

	if (!json_object_object_get_ex(o, key, &v))
		fail_msg("no '%s' in %s", key, json_object_to_json_string(o));
	return json_object_get_int64(v);
}

static bool file_has(const char *path, const char *needle)
{
	static char buf[1 << 16];
	FILE *f = fopen(path, "r");
	size_t n;

	if (!f)
		return false;
	n = fread(buf, 1, sizeof(buf) - 1, f);
	buf[n] = 0;
	fclose(f);
	return strstr(buf, needle) != NULL;
}

/* ---- the host (and our guest) ---- */

static void host_start(const char *const *extra)
{
	const char *argv[32] = { GUESTMM_BIN, "host", "--listen", dev_sock,
				 "--control", ctl_sock, "--duration", "600", "--quiet" };
	int n = 9;

	while (extra && *extra)
		argv[n++] = *extra++;
	argv[n] = NULL;
	unlink(host_log);
	host_pid = spawn(host_log, argv);
}

static void guest_start(void)
{
	char log[320];
	const char *argv[] = { GUESTMM_BIN, "guest", "--socket", dev_sock,
			       "--mem-bytes", "268435456", "--workload", "memhog",
			       "--hog-bytes", "67108864", "--cycles", "64",
			       "--hold-ms", "50", "--sleep-ms", "1000", NULL };

	snprintf(log, sizeof(log), "%s/guest.log", dir);
	guest_pid = spawn(log, argv);
}

/* Until query-balloon answers: a driver is attached. */
static void wait_driver(struct conn *c)
{
	long end = now_ms() + WAIT_MS;

	for (;;) {
		struct json_object *o = call(c, "{\"execute\": \"query-balloon\"}\n");
		bool up = json_object_object_get_ex(o, "return", NULL);

		json_object_put(o);
		if (up)
			return;
		assert_true(now_ms() < end);
		usleep(50000);
	}
}

/* Until a BALLOON_CHANGE event of @guest says @actual. */
/* query-balloon-stats until the guest has sent its statistics (a total);
 * the answer, to put, with *@st its "stats". */
static struct json_object *wait_stats(struct conn *c, struct json_object **st)
{
	long end = now_ms() + WAIT_MS;
	struct json_object *r;

	for (;;) {
		r = ret_of(c, "{\"execute\": \"query-balloon-stats\"}\n");
		*st = json_object_object_get(r, "stats");
		if (key_i64(*st, "stat-total-memory") > 0)
			return r;
		json_object_put(r);
		assert_true(now_ms() < end);
		usleep(100000);
	}
}

/*
 * The statistics a guest sent (the rest are -1) are Linux's set on a
 * kernel without hugetlb pages, which is user-mode Linux's and our guest's:
 * the same keys from both, so that they read side by side.
 */
static void assert_sent_keys(struct json_object *st)
{
	static const char *const sent[] = {
		"stat-swap-in", "stat-swap-out", "stat-major-faults",
		"stat-minor-faults", "stat-free-memory", "stat-total-memory",
		"stat-available-memory", "stat-disk-caches",
	};
	size_t n = 0;

	json_object_object_foreach(st, key, val) {
		bool listed = false;

		for (size_t i = 0; i < sizeof(sent) / sizeof(sent[0]); i++)
			listed |= !strcmp(key, sent[i]);
		if (listed != (json_object_get_int64(val) >= 0))
			fail_msg("%s: %s in %s", key, listed ? "not sent" : "sent",
				 json_object_to_json_string(st));
		n += listed;
	}
	assert_int_equal(n, sizeof(sent) / sizeof(sent[0]));
}

/*
 * The next event @name (of @guest, unless NULL), skipping the others; the
 * whole object, to put.  Every event before it that is in @never fails
 * the test (NULL: none), and so does no such event within 3 x WAIT_MS.
 */
static struct json_object *wait_event(struct conn *c, const char *name,
				      const char *guest, const char *never)
{
	long end = now_ms() + 3 * WAIT_MS;

	for (;;) {
		const char *l = conn_line(c);
		struct json_object *o, *ev, *d, *g;

		assert_non_null(l);
		o = json_tokener_parse(l);
		assert_non_null(o);
		if (!json_object_object_get_ex(o, "event", &ev)) {
			json_object_put(o);
			continue;
		}
		if (never && !strcmp(json_object_get_string(ev), never))
			fail_msg("%s before %s: %s", never, name, l);
		if (!strcmp(json_object_get_string(ev), name) &&
		    json_object_object_get_ex(o, "data", &d) &&
		    (!guest || (json_object_object_get_ex(d, "guest", &g) &&
				!strcmp(json_object_get_string(g), guest))))
			return o;
		json_object_put(o);
		if (now_ms() > end)
			fail_msg("no %s of %s within %d s", name, guest ? guest : "any guest",
				 3 * WAIT_MS / 1000);
	}
}

static void wait_balloon_change(struct conn *c, const char *guest, uint64_t actual)
{
	for (;;) {
		const char *l = conn_line(c);
		struct json_object *o, *ev, *d, *g;

		assert_non_null(l);
		o = json_tokener_parse(l);
		assert_non_null(o);
		if (json_object_object_get_ex(o, "event", &ev) &&
		    !strcmp(json_object_get_string(ev), "BALLOON_CHANGE") &&
		    json_object_object_get_ex(o, "data", &d) &&
		    json_object_object_get_ex(d, "guest", &g) &&
		    !strcmp(json_object_get_string(g), guest) &&
		    (uint64_t)key_i64(d, "actual") == actual) {
			json_object_put(o);
			return;
		}
		json_object_put(o);
	}
}

/*
 * The TARGET_REACHED of @guest, to put; the last BALLOON_CHANGE of @guest
 * before it must have said @actual.
 */
static struct json_object *wait_reached(struct conn *c, const char *guest, uint64_t actual)
{
	int64_t last = -1;

	for (;;) {
		const char *l = conn_line(c);
		struct json_object *o, *ev, *d, *g;

		assert_non_null(l);
		o = json_tokener_parse(l);
		assert_non_null(o);
		if (json_object_object_get_ex(o, "event", &ev) &&
		    json_object_object_get_ex(o, "data", &d) &&
		    json_object_object_get_ex(d, "guest", &g) &&
		    !strcmp(json_object_get_string(g), guest)) {
			if (!strcmp(json_object_get_string(ev), "BALLOON_CHANGE"))
				last = key_i64(d, "actual");
			if (!strcmp(json_object_get_string(ev), "TARGET_REACHED")) {
				if (last != (int64_t)actual)
					fail_msg("TARGET_REACHED after a BALLOON_CHANGE of %lld, not %llu: %s",
						 (long long)last, (unsigned long long)actual, l);
				return o;
			}
		}
		json_object_put(o);
	}
}

static int setup(void **state)
{
	const char *base = getenv("TMPDIR");

	(void)state;
	snprintf(dir, sizeof(dir), "%s/gmm-control-XXXXXX", base && *base ? base : "/tmp");
	assert_non_null(mkdtemp(dir));
	snprintf(dev_sock, sizeof(dev_sock), "%s/b.sock", dir);
	snprintf(ctl_sock, sizeof(ctl_sock), "%s/c.sock", dir);
	snprintf(host_log, sizeof(host_log), "%s/host.log", dir);
	return 0;
}

static int teardown(void **state)
{
	char cmd[400];

	(void)state;
	stop(&guest_pid);
	stop_host();
	snprintf(cmd, sizeof(cmd), "rm -rf '%s'", dir);
	return system(cmd) ? -1 : 0;
}

/* ---- the tests ---- */

/* Every command's shape, negotiation, bad JSON, unknown commands, hostile
 * lines: no guest attached. */
static void test_protocol(void **state)
{
	struct json_object *r, *v;
	struct conn *c;
	char *big;

	(void)state;
	host_start(NULL);
	c = conn_open(false);
	expect_error(c, "{\"execute\": \"query-balloon\"}\n", "CommandNotFound",
		     "Expecting capabilities negotiation");
	r = call(c, "{\"execute\": \"qmp_capabilities\", \"id\": {\"n\": [1, \"x\"]}}\n");
	assert_string_equal(json_object_to_json_string_ext(r, JSON_C_TO_STRING_PLAIN),
			    "{\"return\":{},\"id\":{\"n\":[1,\"x\"]}}");
	json_object_put(r);
	expect_error(c, "{\"execute\": \"qmp_capabilities\"}\n", "CommandNotFound",
		     "already complete");
	/* Bad JSON, and JSON that is no command. */
	expect_error(c, "{\"execute\": \n", "GenericError", "JSON parse error");
	expect_error(c, "not json at all\n", "GenericError", "JSON parse error");
	expect_error(c, "{\"execute\": \"query-guests\"} {}\n", "GenericError",
		     "JSON parse error");
	expect_error(c, "[1, 2]\n", "GenericError", "must be a JSON object");
	expect_error(c, "{\"execute\": 5}\n", "GenericError", "lacks member 'execute'");
	expect_error(c, "{\"exec\": \"query-guests\"}\n", "GenericError", "'exec' is unexpected");
	expect_error(c, "{\"execute\": \"query-guests\", \"arguments\": [1]}\n",
		     "GenericError", "'arguments' must be an object");
	expect_error(c, "{\"execute\": \"query-guests\", \"arguments\": {\"x\": 1}}\n",
		     "GenericError", "Parameter 'x' is unexpected");
	expect_error(c, "{\"execute\": \"frobnicate\"}\n", "CommandNotFound",
		     "The command frobnicate has not been found");
	expect_error(c, "{\"execute\": \"query-guests\", \"x\": \"\xff\xfe\"}\n",
		     "GenericError", "JSON parse error");
	/* A NUL byte inside the line. */
	assert_int_equal(send(c->fd, "{\"execute\":\0\"q\"}\n", 17, MSG_NOSIGNAL), 17);
	r = call(c, "");
	assert_string_equal(error_class(r), "GenericError");
	assert_non_null(strstr(error_desc(r), "NUL"));
	json_object_put(r);
	/* Nesting far past the parser's depth. */
	big = malloc(8192);
	assert_non_null(big);
	memset(big, '[', 3000);
	strcpy(big + 3000, "\n");
	expect_error(c, big, "GenericError", "JSON parse error");
	/* A line longer than the limit: one error, the rest skipped, the
	 * connection still serves. */
	memset(big, ' ', 8000);
	strcpy(big + 8000, "{\"execute\": \"query-guests\"}\n");
	expect_error(c, big, "GenericError", "longer than 4096");
	free(big);
	/* The commands, with no guest attached yet. */
	r = ret_of(c, "{\"execute\": \"query-commands\"}\n");
	assert_int_equal(json_object_array_length(r), 8);
	assert_string_equal(json_object_get_string(json_object_object_get(
				    json_object_array_get_idx(r, 4), "name")),
			    "balloon-release");
	json_object_put(r);
	r = ret_of(c, "{\"execute\": \"query-guests\"}\n");
	assert_int_equal(json_object_array_length(r), 1);
	v = json_object_array_get_idx(r, 0);
	assert_string_equal(json_object_get_string(json_object_object_get(v, "name")), "guest");
	assert_false(json_object_get_boolean(json_object_object_get(v, "connected")));
	json_object_put(r);
	expect_error(c, "{\"execute\": \"query-balloon\"}\n", "DeviceNotActive",
		     "no driver attached");
	expect_error(c, "{\"execute\": \"balloon\", \"arguments\": {\"value\": 4096}}\n",
		     "DeviceNotActive", "shared no memory");
	expect_error(c, "{\"execute\": \"balloon\"}\n", "GenericError",
		     "Parameter 'value' is missing");
	expect_error(c, "{\"execute\": \"query-balloon\", \"arguments\": {\"guest\": \"nope\"}}\n",
		     "DeviceNotFound", "no guest named 'nope'");
	expect_error(c, "{\"execute\": \"query-balloon\", \"arguments\": {\"guest\": 7}}\n",
		     "GenericError", "expected: string");
	r = ret_of(c, "{\"execute\": \"query-balloon-stats\"}\n");
	assert_true(json_object_object_get_ex(r, "stats", &v));
	/* QEMU's ten names, -1 while the guest has sent none. */
	assert_int_equal(json_object_object_length(v), 10);
	assert_int_equal(key_i64(v, "stat-swap-in"), -1);
	assert_int_equal(key_i64(v, "stat-htlb-pgfail"), -1);
	assert_int_equal(key_i64(r, "last-update"), 0);
	json_object_put(r);
	expect_error(c, "{\"execute\": \"set-stats-interval\", \"arguments\": {\"seconds\": 3601}}\n",
		     "GenericError", "not 0 (off) to 3600");
	expect_error(c, "{\"execute\": \"set-stats-interval\", \"arguments\": {\"seconds\": -1}}\n",
		     "GenericError", "unsigned integer");
	expect_error(c, "{\"execute\": \"set-stats-interval\", \"arguments\": {\"seconds\": 1.5}}\n",
		     "GenericError", "unsigned integer");
	r = ret_of(c, "{\"execute\": \"set-stats-interval\", \"arguments\": {\"seconds\": 3}}\n");
	json_object_put(r);
	r = ret_of(c, "{\"execute\": \"query-balloon-stats\"}\n");
	assert_true(json_object_get_double(json_object_object_get(r, "polling-interval")) == 3.0);
	json_object_put(r);
	conn_close(c);
}

/* The target set through the socket reaches actual in our guest, both
 * ways, with BALLOON_CHANGE events; the statistics arrive. */
static void test_balloon_reaches_actual(void **state)
{
	struct json_object *r, *st;
	struct conn *c;

	(void)state;
	host_start(NULL);
	c = conn_open(true);
	guest_start();
	wait_driver(c);
	r = ret_of(c, "{\"execute\": \"query-balloon\"}\n");
	assert_int_equal(key_i64(r, "ram"), 256 * MIB);
	assert_int_equal(key_i64(r, "actual"), 256 * MIB);
	json_object_put(r);
	expect_error(c, "{\"execute\": \"balloon\", \"arguments\": {\"value\": 268439552}}\n",
		     "GenericError", "more than the guest's RAM");
	expect_error(c, "{\"execute\": \"balloon\", \"arguments\": {\"value\": 0}}\n",
		     "GenericError", "none of the guest's RAM");
	expect_error(c, "{\"execute\": \"balloon\", \"arguments\": {\"value\": 100000001}}\n",
		     "GenericError", "not a multiple of");
	expect_error(c, "{\"execute\": \"balloon\", \"arguments\": {\"value\": 18446744073709551615}}\n",
		     "GenericError", "more than the guest's RAM");
	r = ret_of(c, "{\"execute\": \"balloon\", \"arguments\": {\"value\": 134217728, \"guest\": \"guest\"}}\n");
	json_object_put(r);
	/* The driver has followed the target all the way: said once, after
	 * the BALLOON_CHANGE that carries it (never held back by the
	 * throttle past it). */
	r = wait_reached(c, "guest", 128 * MIB);
	assert_int_equal(key_i64(json_object_object_get(r, "data"), "target"), 128 * MIB);
	assert_int_equal(key_i64(json_object_object_get(r, "data"), "actual"), 128 * MIB);
	json_object_put(r);
	r = ret_of(c, "{\"execute\": \"query-balloon\"}\n");
	assert_int_equal(key_i64(r, "actual"), 128 * MIB);
	assert_int_equal(key_i64(r, "target"), 128 * MIB);
	assert_int_equal(key_i64(r, "balloon-actual"), 128 * MIB);
	json_object_put(r);
	r = ret_of(c, "{\"execute\": \"balloon\", \"arguments\": {\"value\": 268435456}}\n");
	json_object_put(r);
	wait_balloon_change(c, "guest", 256 * MIB);
	/* Our guest's statistics: total is MemTotal as Linux means it, the
	 * frames its allocator manages (its RAM less the memmap and its
	 * own tables), once it sent them. */
	r = wait_stats(c, &st);
	assert_true(key_i64(st, "stat-total-memory") <= (int64_t)(256 * MIB));
	assert_true(key_i64(st, "stat-total-memory") >= (int64_t)(256 * MIB / 16 * 15));
	assert_true(key_i64(st, "stat-free-memory") > 0);
	assert_true(key_i64(r, "last-update") > 1700000000);
	assert_sent_keys(st);
	json_object_put(r);
	conn_close(c);
}

/*
 * --stats-interval 0: the device keeps the buffer the driver primed and
 * never asks again, so the statistics stay those of the first update
 * through a balloon round trip and longer than two default intervals;
 * set-stats-interval 1 then brings fresh ones (the guest was there to
 * answer all along).  Counts of updates, no timing asserted: a host that
 * asked anyway is caught whenever it asks within the wait.
 */
static void test_stats_interval_off(void **state)
{
	const char *const extra[] = { "--stats-interval", "0", NULL };
	struct json_object *r, *st;
	int64_t updates, last;
	struct conn *c;
	long end;

	(void)state;
	host_start(extra);
	c = conn_open(true);
	guest_start();
	wait_driver(c);
	r = wait_stats(c, &st);
	updates = key_i64(r, "updates");
	last = key_i64(r, "last-update");
	assert_int_equal(updates, 1);
	assert_true(json_object_get_double(json_object_object_get(r, "polling-interval")) == 0.0);
	json_object_put(r);
	r = ret_of(c, "{\"execute\": \"balloon\", \"arguments\": {\"value\": 134217728}}\n");
	json_object_put(r);
	wait_balloon_change(c, "guest", 128 * MIB);
	r = ret_of(c, "{\"execute\": \"balloon\", \"arguments\": {\"value\": 268435456}}\n");
	json_object_put(r);
	wait_balloon_change(c, "guest", 256 * MIB);
	usleep(2500000);
	r = ret_of(c, "{\"execute\": \"query-balloon-stats\"}\n");
	assert_int_equal(key_i64(r, "updates"), updates);
	assert_int_equal(key_i64(r, "last-update"), last);
	json_object_put(r);
	r = ret_of(c, "{\"execute\": \"set-stats-interval\", \"arguments\": {\"seconds\": 1}}\n");
	json_object_put(r);
	for (end = now_ms() + WAIT_MS;; usleep(100000)) {
		r = ret_of(c, "{\"execute\": \"query-balloon-stats\"}\n");
		if (key_i64(r, "updates") >= updates + 2)
			break;
		json_object_put(r);
		assert_true(now_ms() < end);
	}
	assert_true(key_i64(r, "last-update") >= last);
	json_object_put(r);
	conn_close(c);
}

/* A client that asks and never reads is dropped; the device keeps serving
 * (the guest's reports go on) and another client is answered throughout. */
static void test_client_never_reads(void **state)
{
	static const char cmd[] = "{\"execute\": \"query-guests\"}\n";
	struct json_object *r;
	struct conn *a, *b;
	int64_t reported0, reported1;
	size_t sent = 0;
	bool dropped = false;
	long end;

	(void)state;
	host_start(NULL);
	b = conn_open(true);
	guest_start();
	wait_driver(b);
	r = ret_of(b, cmd);
	reported0 = key_i64(json_object_array_get_idx(r, 0), "reported");
	json_object_put(r);
	a = conn_open(true);
	fcntl(a->fd, F_SETFL, O_NONBLOCK);
	/* Up to 64 MiB of commands: the answers fill the socket, then the
	 * host's 64 KiB for the client, and the host lets it go. */
	while (sent < (64u << 20) && !dropped) {
		ssize_t w = send(a->fd, cmd, sizeof(cmd) - 1, MSG_NOSIGNAL);

		if (w < 0 && (errno == EPIPE || errno == ECONNRESET)) {
			dropped = true;
		} else if (w < 0 && errno == EAGAIN) {
			struct pollfd p = { a->fd, POLLOUT, 0 };

			poll(&p, 1, 100);
			/* B is answered while A sits on its answers. */
			r = ret_of(b, "{\"execute\": \"query-balloon\"}\n");
			json_object_put(r);
		} else {
			assert_true(w > 0);
			sent += (size_t)w;
		}
	}
	assert_true(dropped);
	assert_true(file_has(host_log, "dropped: it left"));
	/* The device went on: the guest is attached and reports. */
	end = now_ms() + WAIT_MS;
	do {
		assert_true(now_ms() < end);
		usleep(100000);
		r = ret_of(b, cmd);
		assert_true(json_object_get_boolean(
			json_object_object_get(json_object_array_get_idx(r, 0), "connected")));
		reported1 = key_i64(json_object_array_get_idx(r, 0), "reported");
		json_object_put(r);
	} while (reported1 <= reported0);
	conn_close(a);
	conn_close(b);
}

/* 16 clients at once, each with commands in flight before any answer is
 * read. */
static void test_sixteen_clients(void **state)
{
	struct conn *c[16];

	(void)state;
	host_start(NULL);
	for (int i = 0; i < 16; i++)
		c[i] = conn_open(true);
	for (int i = 0; i < 16; i++) {
		char cmd[128];

		snprintf(cmd, sizeof(cmd),
			 "{\"execute\": \"query-guests\", \"id\": %d}\n"
			 "{\"execute\": \"query-balloon-stats\", \"id\": %d}\n", i, 100 + i);
		conn_send(c[i], cmd);
	}
	for (int i = 15; i >= 0; i--) {
		for (int k = 0; k < 2; k++) {
			const char *l = conn_line(c[i]);
			struct json_object *o;

			assert_non_null(l);
			o = json_tokener_parse(l);
			assert_non_null(o);
			assert_true(json_object_object_get_ex(o, "return", NULL));
			assert_int_equal(key_i64(o, "id"), k ? 100 + i : i);
			json_object_put(o);
		}
		conn_close(c[i]);
	}
}

/* Clients that go mid-command, mid-line or with answers unread: the host
 * serves the next one. */
static void test_disconnect_mid_command(void **state)
{
	struct json_object *r;
	struct conn *c;
	int status;

	(void)state;
	host_start(NULL);
	c = conn_open(true);
	conn_send(c, "{\"execute\": \"query-gue");
	conn_close(c);
	c = conn_open(true);
	for (int i = 0; i < 200; i++)
		conn_send(c, "{\"execute\": \"query-balloon-stats\"}\n");
	/* Closed with answers unread: the host's send meets a reset. */
	conn_close(c);
	c = conn_open(false);
	conn_close(c);
	c = conn_open(true);
	r = ret_of(c, "{\"execute\": \"query-guests\"}\n");
	assert_int_equal(json_object_array_length(r), 1);
	json_object_put(r);
	conn_close(c);
	assert_int_equal(waitpid(host_pid, &status, WNOHANG), 0);
}

/* A fleet: guests by name; a target needs one; it reaches that guest. */
static void test_fleet_by_name(void **state)
{
	const char *argv[] = { GUESTMM_BIN, "host", "--guests", "ours:2",
			       "--guest-mem", "128M", "--cgroup-root", "none",
			       "--control", ctl_sock, "--duration", "600",
			       "--stagger-ms", "0", "--hog-pct", "25", "--quiet",
			       NULL };
	struct json_object *r;
	struct conn *c;
	long end;

	(void)state;
	unlink(host_log);
	host_pid = spawn(host_log, argv);
	c = conn_open(true);
	/* The socket serves from the start; the guests join as they start. */
	end = now_ms() + WAIT_MS;
	for (;;) {
		r = ret_of(c, "{\"execute\": \"query-guests\"}\n");
		if (json_object_array_length(r) == 2)
			break;
		json_object_put(r);
		assert_true(now_ms() < end);
		usleep(50000);
	}
	assert_string_equal(json_object_get_string(json_object_object_get(
				    json_object_array_get_idx(r, 0), "name")), "ours-1");
	assert_string_equal(json_object_get_string(json_object_object_get(
				    json_object_array_get_idx(r, 1), "name")), "ours-2");
	json_object_put(r);
	expect_error(c, "{\"execute\": \"balloon\", \"arguments\": {\"value\": 67108864}}\n",
		     "GenericError", "serves 2 guests: name one");
	/* Until ours-2's driver is there. */
	end = now_ms() + WAIT_MS;
	for (;;) {
		r = call(c, "{\"execute\": \"query-balloon\", \"arguments\": {\"guest\": \"ours-2\"}}\n");
		if (json_object_object_get_ex(r, "return", NULL))
			break;
		json_object_put(r);
		assert_true(now_ms() < end);
		usleep(50000);
	}
	json_object_put(r);
	r = ret_of(c, "{\"execute\": \"balloon\", \"arguments\": {\"value\": 67108864, \"guest\": \"ours-2\"}}\n");
	json_object_put(r);
	wait_balloon_change(c, "ours-2", 64 * MIB);
	/* ours-1's driver may come after ours-2's (a loaded machine). */
	end = now_ms() + WAIT_MS;
	for (;;) {
		r = call(c, "{\"execute\": \"query-balloon\", \"arguments\": {\"guest\": \"ours-1\"}}\n");
		if (json_object_object_get_ex(r, "return", NULL))
			break;
		json_object_put(r);
		assert_true(now_ms() < end);
		usleep(50000);
	}
	json_object_put(r);
	r = ret_of(c, "{\"execute\": \"query-balloon\", \"arguments\": {\"guest\": \"ours-1\"}}\n");
	assert_int_equal(key_i64(r, "target"), 128 * MIB);
	json_object_put(r);
	conn_close(c);
}

/* ---- metrics (--metrics, --metrics-file) ---- */

/* The port of the host's "metrics on http://127.0.0.1:PORT/metrics" line. */
static unsigned int metrics_port(void)
{
	long end = now_ms() + WAIT_MS;

	for (;;) {
		static char buf[1 << 16];
		FILE *f = fopen(host_log, "r");
		size_t n = f ? fread(buf, 1, sizeof(buf) - 1, f) : 0;
		const char *p;
		unsigned int port;

		if (f)
			fclose(f);
		buf[n] = 0;
		p = strstr(buf, "metrics on http://127.0.0.1:");
		if (p && sscanf(p, "metrics on http://127.0.0.1:%u/metrics", &port) == 1)
			return port;
		assert_true(now_ms() < end);
		usleep(20000);
	}
}

static int tcp_open(unsigned int port)
{
	struct sockaddr_in sa = { .sin_family = AF_INET, .sin_port = htons((uint16_t)port),
				  .sin_addr.s_addr = htonl(INADDR_LOOPBACK) };
	int fd = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);

	assert_true(fd >= 0);
	assert_int_equal(connect(fd, (struct sockaddr *)&sa, sizeof(sa)), 0);
	return fd;
}

/*
 * An HTTP/1.0 request of @method @path: the status, and the whole
 * response (headers and body) in @buf.
 */
static int http_request(unsigned int port, const char *method, const char *path,
			char *buf, size_t len)
{
	char req[256];
	int fd = tcp_open(port), status = 0;
	size_t used = 0;
	long end = now_ms() + WAIT_MS;

	snprintf(req, sizeof(req), "%s %s HTTP/1.0\r\nHost: localhost\r\n\r\n", method, path);
	assert_int_equal(send(fd, req, strlen(req), MSG_NOSIGNAL), (ssize_t)strlen(req));
	for (;;) {
		struct pollfd p = { fd, POLLIN, 0 };
		ssize_t r;

		assert_true(now_ms() < end);
		if (poll(&p, 1, 200) <= 0)
			continue;
		r = read(fd, buf + used, len - 1 - used);
		if (r <= 0)
			break;
		used += (size_t)r;
		assert_true(used < len - 1);
	}
	buf[used] = 0;
	close(fd);
	assert_int_equal(sscanf(buf, "HTTP/1.%*d %d", &status), 1);
	return status;
}

/* The body of a response: after its blank line. */
static const char *http_body(const char *resp)
{
	const char *b = strstr(resp, "\r\n\r\n");

	assert_non_null(b);
	return b + 4;
}

/* The value of sample @name{guest="@guest"} (@guest NULL: no labels) in an
 * exposition; -1 when absent. */
static int64_t metric(const char *text, const char *name, const char *guest)
{
	char key[160];
	const char *p = text;
	size_t n;

	if (guest)
		snprintf(key, sizeof(key), "\n%s{guest=\"%s\"} ", name, guest);
	else
		snprintf(key, sizeof(key), "\n%s ", name);
	n = strlen(key);
	while ((p = strstr(p, key))) {
		long long v;

		if (sscanf(p + n, "%lld", &v) == 1)
			return v;
		p += n;
	}
	return -1;
}

/* query-balloon-stats' names and the metrics' for the same statistic. */
static const char *const stat_metrics[][2] = {
	{ "stat-swap-in", "guestmm_guest_swap_in_bytes_total" },
	{ "stat-swap-out", "guestmm_guest_swap_out_bytes_total" },
	{ "stat-major-faults", "guestmm_guest_major_faults_total" },
	{ "stat-minor-faults", "guestmm_guest_minor_faults_total" },
	{ "stat-free-memory", "guestmm_guest_free_memory_bytes" },
	{ "stat-total-memory", "guestmm_guest_total_memory_bytes" },
	{ "stat-available-memory", "guestmm_guest_available_memory_bytes" },
	{ "stat-disk-caches", "guestmm_guest_disk_caches_bytes" },
	{ "stat-htlb-pgalloc", "guestmm_guest_hugetlb_allocations_total" },
	{ "stat-htlb-pgfail", "guestmm_guest_hugetlb_failures_total" },
	{ "stat-oom-kills", "guestmm_guest_oom_kills_total" },
	{ "stat-alloc-stalls", "guestmm_guest_alloc_stalls_total" },
	{ "stat-async-scans", "guestmm_guest_async_scanned_pages_total" },
	{ "stat-direct-scans", "guestmm_guest_direct_scanned_pages_total" },
	{ "stat-async-reclaims", "guestmm_guest_async_reclaimed_pages_total" },
	{ "stat-direct-reclaims", "guestmm_guest_direct_reclaimed_pages_total" },
};

/* promtool check metrics on @text: passes, or the test is skipped when
 * promtool is not installed (Debian's prometheus package). */
static void promtool_check(const char *text)
{
	char path[200], cmd[600];
	FILE *f;
	int rc;

	if (system("command -v promtool >/dev/null 2>&1")) {
		print_message("promtool not found (apt-get install prometheus): the exposition is not checked by it\n");
		skip();
	}
	snprintf(path, sizeof(path), "%s/scrape.prom", dir);
	f = fopen(path, "w");
	assert_non_null(f);
	fputs(text, f);
	fclose(f);
	snprintf(cmd, sizeof(cmd), "promtool check metrics <'%s' >'%s.out' 2>&1", path, path);
	rc = system(cmd);
	if (rc) {
		snprintf(cmd, sizeof(cmd), "cat '%s.out' >&2", path);
		(void)!system(cmd);
		fail_msg("promtool check metrics failed (status %#x) on %s", rc, path);
	}
}

/* A scrape until @name{guest} is @want; the last response in @buf. */
static void wait_metric(unsigned int port, const char *name, const char *guest,
			int64_t want, char *buf, size_t len)
{
	long end = now_ms() + WAIT_MS;

	for (;;) {
		assert_int_equal(http_request(port, "GET", "/metrics", buf, len), 200);
		if (metric(buf, name, guest) == want)
			return;
		if (now_ms() >= end)
			fail_msg("%s{guest=\"%s\"} never %lld: %s", name, guest ? guest : "",
				 (long long)want, buf);
		usleep(100000);
	}
}

/*
 * /metrics from a host with our guest attached: promtool passes it, the
 * figures are the control socket's (RAM, the guest's statistics, a balloon
 * target set through the socket), other paths and methods are refused,
 * and idle HTTP clients stall neither the device nor the control socket.
 */
static void test_metrics_http(void **state)
{
	static char resp[1 << 17];
	const char *extra[] = { "--metrics", "0", NULL };
	struct json_object *r, *st;
	const char *body;
	unsigned int port;
	int idle[METRICS_IDLE];
	struct conn *c;

	(void)state;
	host_start(extra);
	port = metrics_port();
	c = conn_open(true);
	guest_start();
	wait_driver(c);
	r = wait_stats(c, &st);
	wait_metric(port, "guestmm_guest_up", "guest", 1, resp, sizeof(resp));
	/* Every statistic is there once the guest sent it. */
	wait_metric(port, "guestmm_guest_total_memory_bytes", "guest",
		    key_i64(st, "stat-total-memory"), resp, sizeof(resp));
	json_object_put(r);
	assert_non_null(strstr(resp, "Content-Type: text/plain; version=0.0.4"));
	body = http_body(resp);
	promtool_check(body);
	assert_int_equal(metric(body, "guestmm_guests", NULL), 1);
	assert_int_equal(metric(body, "guestmm_guest_ram_bytes", "guest"), 256 * MIB);
	assert_true(metric(body, "guestmm_guest_resident_bytes", "guest") > 0);
	assert_true(metric(body, "guestmm_guest_free_memory_bytes", "guest") > 0);
	assert_true(metric(body, "guestmm_guest_available_memory_bytes", "guest") > 0);
	/* Every statistic the guest sent is a metric, under its name. */
	r = wait_stats(c, &st);
	for (size_t i = 0; i < sizeof(stat_metrics) / sizeof(stat_metrics[0]); i++) {
		struct json_object *v;
		bool sent = json_object_object_get_ex(st, stat_metrics[i][0], &v) &&
			    json_object_get_int64(v) >= 0;

		if (sent != (metric(body, stat_metrics[i][1], "guest") >= 0))
			fail_msg("%s %s, but %s %s", stat_metrics[i][0],
				 sent ? "sent" : "not sent", stat_metrics[i][1],
				 sent ? "absent" : "present");
	}
	json_object_put(r);
	assert_int_equal(metric(body, "guestmm_guest_kills_total", "guest"), 0);
	assert_int_equal(metric(body, "guestmm_guest_balloon_actual_bytes", "guest"), 0);
	/* No budget in --listen: its figures are absent, not 0. */
	assert_int_equal(metric(body, "guestmm_budget_limit_bytes", NULL), -1);
	assert_non_null(strstr(body, "# TYPE guestmm_guest_reported_bytes_total counter\n"));
	assert_non_null(strstr(body, "# HELP guestmm_guest_ram_bytes "));

	/* Idle HTTP clients (connected, nothing sent) and one mid-request. */
	for (int i = 0; i < METRICS_IDLE; i++)
		idle[i] = tcp_open(port);
	assert_int_equal(send(idle[0], "GET /metr", 9, MSG_NOSIGNAL), 9);
	/* The target through the control socket reaches the metrics. */
	r = ret_of(c, "{\"execute\": \"balloon\", \"arguments\": {\"value\": 201326592}}\n");
	json_object_put(r);
	wait_balloon_change(c, "guest", 192 * MIB);
	wait_metric(port, "guestmm_guest_balloon_actual_bytes", "guest", 64 * MIB,
		    resp, sizeof(resp));
	assert_int_equal(metric(resp, "guestmm_guest_balloon_target_bytes", "guest"), 64 * MIB);
	assert_true(metric(resp, "guestmm_guest_discarded_bytes_total", "guest") >= (int64_t)(64 * MIB));
	for (int i = 0; i < METRICS_IDLE; i++)
		close(idle[i]);

	assert_int_equal(http_request(port, "GET", "/", resp, sizeof(resp)), 404);
	assert_int_equal(http_request(port, "POST", "/metrics", resp, sizeof(resp)), 405);
	assert_int_equal(http_request(port, "HEAD", "/metrics", resp, sizeof(resp)), 200);
	assert_string_equal(http_body(resp), "");
	conn_close(c);
	stop(&guest_pid);
	stop_host();
}

/* The metrics file's text now into @text. */
static void read_text(const char *path, char *text, size_t len)
{
	FILE *f = fopen(path, "r");
	size_t n;

	assert_non_null(f);
	n = fread(text, 1, len - 1, f);
	fclose(f);
	text[n] = 0;
}

/* Our guest attached, its balloon at 32 MiB through the control socket. */
static void guest_balloon_32m(void)
{
	struct json_object *r;
	struct conn *c = conn_open(true);

	guest_start();
	wait_driver(c);
	r = ret_of(c, "{\"execute\": \"balloon\", \"arguments\": {\"value\": 234881024}}\n");
	json_object_put(r);
	wait_balloon_change(c, "guest", 224 * MIB);
	conn_close(c);
}

/*
 * --metrics-file: written at the start, every period (1 s: the balloon's
 * move shows up), and at exit (a period of a day: only the start and the
 * exit write it, so the balloon's move there is the exit's write), each
 * time atomically (no temporary left).
 */
static void test_metrics_file(void **state)
{
	char path[200], cmd[400];
	static char text[1 << 17];
	const char *every_second[] = { "--metrics-file", path, "--metrics-interval", "1", NULL };
	const char *every_day[] = { "--metrics-file", path, "--metrics-interval", "86400", NULL };
	long end;

	(void)state;
	snprintf(path, sizeof(path), "%s/guestmm.prom", dir);
	host_start(every_second);
	guest_balloon_32m();
	end = now_ms() + WAIT_MS;
	for (;;) {
		if (!access(path, F_OK)) {
			read_text(path, text, sizeof(text));
			if (metric(text, "guestmm_guest_balloon_actual_bytes", "guest") == (int64_t)(32 * MIB))
				break;
		}
		assert_true(now_ms() < end);
		usleep(100000);
	}
	promtool_check(text);
	assert_int_equal(metric(text, "guestmm_guest_ram_bytes", "guest"), 256 * MIB);
	stop(&guest_pid);
	stop_host();

	unlink(path);
	host_start(every_day);
	/* The start's write: the socket serves, no guest yet. */
	end = now_ms() + WAIT_MS;
	while (access(path, F_OK)) {
		assert_true(now_ms() < end);
		usleep(20000);
	}
	read_text(path, text, sizeof(text));
	assert_int_equal(metric(text, "guestmm_guest_up", "guest"), 0);
	assert_int_equal(metric(text, "guestmm_guest_balloon_actual_bytes", "guest"), 0);
	guest_balloon_32m();
	read_text(path, text, sizeof(text));
	assert_int_equal(metric(text, "guestmm_guest_balloon_actual_bytes", "guest"), 0);
	stop_host();
	read_text(path, text, sizeof(text));
	promtool_check(text);
	assert_int_equal(metric(text, "guestmm_guest_balloon_actual_bytes", "guest"), 32 * MIB);
	assert_int_equal(metric(text, "guestmm_guest_ram_bytes", "guest"), 256 * MIB);
	/* Nothing but the file (and the test's own) in the directory. */
	snprintf(cmd, sizeof(cmd), "ls -A '%s' | grep -q '^\\.guestmm\\.prom\\.'", dir);
	assert_int_not_equal(system(cmd), 0);
}

/* A fleet's metrics: each guest by name, and the budget. */
static void test_metrics_fleet(void **state)
{
	static char resp[1 << 17];
	const char *argv[] = { GUESTMM_BIN, "host", "--guests", "ours:2",
			       "--guest-mem", "128M", "--budget", "512M",
			       "--cgroup-root", "none", "--control", ctl_sock,
			       "--metrics", "127.0.0.1:0", "--duration", "600",
			       "--stagger-ms", "0", "--hog-pct", "25", "--quiet",
			       NULL };
	unsigned int port;

	(void)state;
	unlink(host_log);
	host_pid = spawn(host_log, argv);
	port = metrics_port();
	wait_metric(port, "guestmm_guest_up", "ours-2", 1, resp, sizeof(resp));
	wait_metric(port, "guestmm_guest_up", "ours-1", 1, resp, sizeof(resp));
	promtool_check(http_body(resp));
	assert_int_equal(metric(resp, "guestmm_guests", NULL), 2);
	assert_int_equal(metric(resp, "guestmm_guest_ram_bytes", "ours-1"), 128 * MIB);
	assert_int_equal(metric(resp, "guestmm_guest_ram_bytes", "ours-2"), 128 * MIB);
	assert_int_equal(metric(resp, "guestmm_budget_limit_bytes", NULL), 512 * MIB);
	assert_true(metric(resp, "guestmm_budget_usage_bytes", NULL) >= 0);
	assert_int_equal(metric(resp, "guestmm_budget_kills_total", NULL), 0);
}

/* Bad --metrics values: one line, exit status 2; a port taken: exit 1. */
static void test_metrics_bad(void **state)
{
	char cmd[600], out[4096];
	static const char *const bad[] = { "65536", "x", "1.2.3.4:", ":80",
					   "::1:80", "127.0.0.1:-1", "no.such.host.invalid:80" };
	unsigned int port;
	FILE *p;
	size_t n;
	int status;

	(void)state;
	for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
		snprintf(cmd, sizeof(cmd), "'%s' host --listen '%s' --metrics '%s' --duration 1 2>&1",
			 GUESTMM_BIN, dev_sock, bad[i]);
		p = popen(cmd, "r");
		n = fread(out, 1, sizeof(out) - 1, p);
		out[n] = 0;
		status = pclose(p);
		if (!WIFEXITED(status) || WEXITSTATUS(status) != 2 ||
		    !strstr(out, "--metrics:") || strchr(out, '\n') != out + n - 1)
			fail_msg("--metrics %s: status %#x, output '%s'", bad[i], status, out);
	}
	snprintf(cmd, sizeof(cmd), "'%s' host --listen '%s' --metrics-interval 5 2>&1",
		 GUESTMM_BIN, dev_sock);
	p = popen(cmd, "r");
	n = fread(out, 1, sizeof(out) - 1, p);
	out[n] = 0;
	status = pclose(p);
	assert_true(WIFEXITED(status) && WEXITSTATUS(status) == 2);
	assert_non_null(strstr(out, "only with --metrics-file"));
	/* A port in use: the second host says so and ends, status 1. */
	{
		const char *extra[] = { "--metrics", "0", NULL };

		host_start(extra);
		port = metrics_port();
	}
	snprintf(cmd, sizeof(cmd), "'%s' host --listen '%s/b2.sock' --metrics %u --duration 1 2>&1",
		 GUESTMM_BIN, dir, port);
	p = popen(cmd, "r");
	n = fread(out, 1, sizeof(out) - 1, p);
	out[n] = 0;
	status = pclose(p);
	if (!WIFEXITED(status) || WEXITSTATUS(status) != 1 ||
	    !strstr(out, "cannot serve HTTP on"))
		fail_msg("a port in use: status %#x, output '%s'", status, out);
}

/* ---- the service: readiness, log lines ---- */

/* A datagram on @fd within WAIT_MS into @buf; false when none came. */
static bool notify_recv(int fd, char *buf, size_t len, int timeout_ms)
{
	struct pollfd p = { fd, POLLIN, 0 };
	ssize_t n;

	if (poll(&p, 1, timeout_ms) <= 0)
		return false;
	n = recv(fd, buf, len - 1, 0);
	assert_true(n >= 0);
	buf[n] = 0;
	return true;
}

static bool unix_connects(const char *path)
{
	struct sockaddr_un sa = { .sun_family = AF_UNIX };
	int fd = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
	bool ok;

	assert_true(fd >= 0);
	snprintf(sa.sun_path, sizeof(sa.sun_path), "%s", path);
	ok = !connect(fd, (struct sockaddr *)&sa, sizeof(sa));
	close(fd);
	return ok;
}

/*
 * Under a fake service manager ($NOTIFY_SOCKET, a datagram socket of the
 * test's, by path and in the abstract namespace): READY=1 comes once, when
 * the device, control and metrics sockets already take connections, and
 * STOPPING=1 at the end.
 */
static void test_ready_once(void **state)
{
	const char *extra[] = { "--metrics", "0", NULL };
	char path[100], buf[512];
	struct sockaddr_un sa = { .sun_family = AF_UNIX };
	unsigned int ready = 0, stopping = 0;
	bool abstract;

	(void)state;
	for (int round = 0; round < 2; round++) {
		int fd = socket(AF_UNIX, SOCK_DGRAM | SOCK_CLOEXEC, 0);
		socklen_t sl;

		abstract = round == 1;
		assert_true(fd >= 0);
		ready = stopping = 0;
		if (abstract) {
			snprintf(path, sizeof(path), "@gmm-test-notify-%d", (int)getpid());
			memset(sa.sun_path, 0, sizeof(sa.sun_path));
			memcpy(sa.sun_path + 1, path + 1, strlen(path) - 1);
			sl = (socklen_t)(offsetof(struct sockaddr_un, sun_path) + strlen(path));
		} else {
			snprintf(path, sizeof(path), "%s/notify", dir);
			snprintf(sa.sun_path, sizeof(sa.sun_path), "%s", path);
			sl = sizeof(sa);
		}
		assert_int_equal(bind(fd, (struct sockaddr *)&sa, sl), 0);
		setenv("NOTIFY_SOCKET", path, 1);
		host_start(extra);
		unsetenv("NOTIFY_SOCKET");
		assert_true(notify_recv(fd, buf, sizeof(buf), WAIT_MS));
		if (!strstr(buf, "READY=1\n") || !strstr(buf, "MAINPID="))
			fail_msg("the first datagram is not READY=1: '%s'", buf);
		ready++;
		/* Ready means listening: each socket answers now. */
		assert_true(unix_connects(dev_sock));
		assert_true(unix_connects(ctl_sock));
		{
			static char resp[1 << 17];

			assert_int_equal(http_request(metrics_port(), "GET", "/metrics",
						      resp, sizeof(resp)), 200);
		}
		stop_host();
		/* Everything it sent, to its end: one READY, then STOPPING. */
		while (notify_recv(fd, buf, sizeof(buf), 0)) {
			ready += strstr(buf, "READY=1") != NULL;
			stopping += strstr(buf, "STOPPING=1") != NULL;
		}
		if (ready != 1 || stopping != 1)
			fail_msg("%s: READY=1 %u times, STOPPING=1 %u times (once each)",
				 abstract ? "abstract" : "path", ready, stopping);
		close(fd);
		unlink(path);
	}
}

/* The log's lines: an ISO 8601 UTC time and a level each, nothing below
 * --log-level, and under the journal a priority prefix instead. */
static void test_log_lines(void **state)
{
	static char resp[1 << 17], text[1 << 16];
	const char *debug[] = { "--metrics", "0", "--log-level", "debug", NULL };
	const char *warning[] = { "--metrics", "0", "--log-level", "warning", NULL };
	const char *argv[] = { GUESTMM_BIN, "host", "--listen", dev_sock,
			       "--control", ctl_sock, "--metrics", "0",
			       "--duration", "600", "--quiet", NULL };
	unsigned int y, mo, d, h, mi, sec, ms;
	char level[16];
	struct stat sb;
	FILE *f;
	size_t n;
	int fd;

	(void)state;
	host_start(debug);
	assert_int_equal(http_request(metrics_port(), "GET", "/metrics", resp, sizeof(resp)), 200);
	stop_host();
	f = fopen(host_log, "r");
	assert_non_null(f);
	n = fread(text, 1, sizeof(text) - 1, f);
	fclose(f);
	text[n] = 0;
	/* The first line: "2026-12-07T18:01:02.345Z info: guestmm: ..." */
	if (sscanf(text, "%4u-%2u-%2uT%2u:%2u:%2u.%3uZ %15[a-z]: guestmm: ", &y, &mo, &d,
		   &h, &mi, &sec, &ms, level) != 8 || y < 2024 || mo < 1 || mo > 12)
		fail_msg("not a timestamped log line: %s", text);
	assert_string_equal(level, "info");
	assert_non_null(strstr(text, "Z info: guestmm: metrics on http://"));
	assert_non_null(strstr(text, "Z debug: guestmm: metrics: a scrape, "));

	/* --log-level warning: the info and debug lines are gone. */
	host_start(warning);
	{
		struct conn *c = conn_open(true);

		conn_close(c);
	}
	stop_host();
	assert_false(file_has(host_log, "info:"));
	assert_false(file_has(host_log, "metrics on"));

	/* stderr is "the journal": JOURNAL_STREAM names its device:inode. */
	unlink(host_log);
	fd = open(host_log, O_WRONLY | O_CREAT | O_APPEND, 0600);
	assert_true(fd >= 0);
	assert_int_equal(fstat(fd, &sb), 0);
	close(fd);
	snprintf(text, sizeof(text), "%llu:%llu", (unsigned long long)sb.st_dev,
		 (unsigned long long)sb.st_ino);
	setenv("JOURNAL_STREAM", text, 1);
	host_pid = spawn(host_log, argv);
	unsetenv("JOURNAL_STREAM");
	metrics_port();
	stop_host();
	f = fopen(host_log, "r");
	assert_non_null(f);
	n = fread(text, 1, sizeof(text) - 1, f);
	fclose(f);
	text[n] = 0;
	if (strncmp(text, "<6>guestmm: metrics on http://", 30))
		fail_msg("not a journal line: %s", text);
}


/*
 * The balloon budget policy with our guests, under the host's own
 * accounting: two guests of 256 MiB under a budget of 256 MiB, each
 * hogging 90 % of its RAM in turn with reporting off (a guest keeps what
 * it freed until its balloon takes it).  The idle guest is inflated before
 * anything is killed; the budget kills only when inflating cannot hold it,
 * with the budget's state in the event; and a guest becoming busy again is
 * deflated.  No timing is asserted: only the order of the events.
 */
static void test_budget_policy_events(void **state)
{
	const char *argv[] = { GUESTMM_BIN, "host", "--guests", "ours:2",
			       "--guest-mem", "256M", "--budget", "256M",
			       "--cgroup-root", "none", "--reporting", "off",
			       "--hog-pct", "90", "--hold-ms", "1000",
			       "--idle-ms", "3000", "--stagger-ms", "2000",
			       "--control", ctl_sock, "--duration", "600", "--quiet",
			       NULL };
	struct json_object *o, *d, *res, *why;
	const char *reason;

	(void)state;
	unlink(host_log);
	host_pid = spawn(host_log, argv);
	struct conn *c = conn_open(true);

	/* Inflated first, and never killed before it. */
	o = wait_event(c, "BUDGET_INFLATE", NULL, "GUEST_KILLED");
	d = json_object_object_get(o, "data");
	reason = json_object_get_string(json_object_object_get(d, "reason"));
	assert_non_null(strstr(reason, "idle"));
	assert_true(key_i64(d, "balloon") > 0);
	assert_int_equal(key_i64(d, "balloon") + key_i64(d, "actual"), 256 * MIB);
	/* What it had available, above twice its floor (32 MiB here). */
	assert_true(key_i64(d, "available") >= (int64_t)(64 * MIB));
	assert_true(key_i64(d, "usage") >= (int64_t)(256 * MIB / 100 * 85));
	assert_int_equal(key_i64(d, "limit"), 256 * MIB);
	json_object_put(o);

	/*
	 * Then a busy guest deflated.  A kill on the way (both at 230 MiB
	 * cannot fit in 256 once the idle one has nothing more to give; on a
	 * slow machine their peaks may never meet) must be the policy's, at
	 * the limit, with the budget's state.
	 */
	for (;;) {
		const char *l = conn_line(c);
		struct json_object *ev;

		assert_non_null(l);
		o = json_tokener_parse(l);
		assert_non_null(o);
		if (!json_object_object_get_ex(o, "event", &ev)) {
			json_object_put(o);
			continue;
		}
		d = json_object_object_get(o, "data");
		if (!strcmp(json_object_get_string(ev), "GUEST_KILLED")) {
			uint64_t sum = 0;

			assert_string_equal(json_object_get_string(json_object_object_get(d, "policy")),
					    "balloon");
			why = json_object_object_get(d, "why");
			assert_non_null(strstr(json_object_get_string(why),
					       "balloon policy: at the limit and"));
			assert_int_equal(key_i64(d, "limit"), 256 * MIB);
			assert_true(json_object_object_get_ex(d, "residents", &res));
			json_object_object_foreach(res, name, v) {
				(void)name;
				sum += (uint64_t)json_object_get_int64(v);
			}
			/* Own accounting: the usage is the residents', over. */
			assert_int_equal(key_i64(d, "usage"), (int64_t)sum);
			assert_true(sum > 256 * MIB);
		} else if (!strcmp(json_object_get_string(ev), "BUDGET_DEFLATE")) {
			reason = json_object_get_string(json_object_object_get(d, "reason"));
			if (strstr(reason, "busy")) {
				assert_true(key_i64(d, "available") < (int64_t)(32 * MIB));
				json_object_put(o);
				break;
			}
			assert_non_null(strstr(reason, "the budget has room"));
		}
		json_object_put(o);
	}
	conn_close(c);
	stop_host();
}

/* The next BUDGET_INFLATE or BUDGET_DEFLATE, to put; fails after 3 x WAIT_MS. */
static struct json_object *wait_budget_event(struct conn *c, const char **guest)
{
	long end = now_ms() + 3 * WAIT_MS;

	for (;;) {
		const char *l = conn_line(c);
		struct json_object *o, *ev, *d;

		assert_non_null(l);
		o = json_tokener_parse(l);
		assert_non_null(o);
		if (json_object_object_get_ex(o, "event", &ev) &&
		    !strncmp(json_object_get_string(ev), "BUDGET_", 7) &&
		    json_object_object_get_ex(o, "data", &d)) {
			*guest = json_object_get_string(json_object_object_get(d, "guest"));
			return o;
		}
		json_object_put(o);
		if (now_ms() > end)
			fail_msg("no BUDGET_INFLATE or BUDGET_DEFLATE within %d s",
				 3 * WAIT_MS / 1000);
	}
}

/*
 * An operator's target pins the policy: the balloon policy runs two guests
 * (memhog in cycles, reporting off, a budget it must work to hold), the
 * operator sets ours-1's target through the control socket, and from the
 * BALLOON_TARGET_PINNED event on the policy decides only on ours-2 (three
 * of its decisions, none of ours-1) and ours-1 keeps the operator's
 * target; balloon-release gives ours-1 back to the policy
 * (BALLOON_TARGET_RELEASED), which then decides on it again.  Only the
 * order of events is asserted.
 */
static void test_operator_target_pins_policy(void **state)
{
	const char *argv[] = { GUESTMM_BIN, "host", "--guests", "ours:2",
			       "--guest-mem", "256M", "--budget", "300M",
			       "--cgroup-root", "none", "--reporting", "off",
			       "--hog-pct", "50", "--hold-ms", "1000",
			       "--idle-ms", "3000", "--stagger-ms", "1000",
			       "--control", ctl_sock, "--duration", "600", "--quiet",
			       NULL };
	const char *pin = "{\"execute\": \"balloon\", \"arguments\": "
			  "{\"guest\": \"ours-1\", \"value\": 201326592}}\n";
	struct json_object *o, *r;
	struct conn *c;
	const char *g;
	long end;

	(void)state;
	unlink(host_log);
	host_pid = spawn(host_log, argv);
	c = conn_open(true);
	/* Until ours-1's driver takes targets. */
	end = now_ms() + WAIT_MS;
	for (;;) {
		o = call(c, pin);
		if (json_object_object_get_ex(o, "return", NULL))
			break;
		json_object_put(o);
		assert_true(now_ms() < end);
		usleep(50000);
	}
	json_object_put(o);
	o = wait_event(c, "BALLOON_TARGET_PINNED", "ours-1", NULL);
	assert_int_equal(key_i64(json_object_object_get(o, "data"), "target"),
			 192 * MIB);
	json_object_put(o);
	for (int n = 0; n < 3; n++) {
		o = wait_budget_event(c, &g);
		if (strcmp(g, "ours-2"))
			fail_msg("the policy decided on a pinned guest: %s",
				 json_object_to_json_string(o));
		json_object_put(o);
	}
	r = ret_of(c, "{\"execute\": \"query-balloon\", \"arguments\": {\"guest\": \"ours-1\"}}\n");
	assert_int_equal(key_i64(r, "target"), 192 * MIB);
	json_object_put(r);
	expect_error(c, "{\"execute\": \"balloon-release\", \"arguments\": {\"guest\": \"nobody\"}}\n",
		     "DeviceNotFound", "nobody");
	r = ret_of(c, "{\"execute\": \"balloon-release\", \"arguments\": {\"guest\": \"ours-1\"}}\n");
	json_object_put(r);
	json_object_put(wait_event(c, "BALLOON_TARGET_RELEASED", "ours-1", NULL));
	for (;;) {
		o = wait_budget_event(c, &g);
		if (!strcmp(g, "ours-1"))
			break;
		json_object_put(o);
	}
	json_object_put(o);
	conn_close(c);
	stop_host();
}

/* guestmm ctl: each command, its errors in one line and its exit status. */
static void test_ctl_command(void **state)
{
	char cmd[1024], out[8192], watch_log[320];
	const char *watch_argv[] = { GUESTMM_BIN, "ctl", ctl_sock, "watch", NULL };
	struct conn *c;
	pid_t watch;
	FILE *p;
	size_t n;
	int status;
	long end;

#define CTL(args, want_status)                                                  \
	do {                                                                    \
		snprintf(cmd, sizeof(cmd), "%s ctl %s 2>&1", GUESTMM_BIN, args); \
		p = popen(cmd, "r");                                            \
		assert_non_null(p);                                             \
		n = fread(out, 1, sizeof(out) - 1, p);                          \
		out[n] = 0;                                                     \
		status = WEXITSTATUS(pclose(p));                                \
		if (status != (want_status))                                    \
			fail_msg("ctl %s: status %d, not %d: %s", args, status, \
				 want_status, out);                             \
	} while (0)

	(void)state;
	host_start(NULL);
	c = conn_open(true);
	guest_start();
	wait_driver(c);
	snprintf(watch_log, sizeof(watch_log), "%s/watch.log", dir);
	watch = spawn(watch_log, watch_argv);
	char args[600];

	snprintf(args, sizeof(args), "%s stats", ctl_sock);
	CTL(args, 0);
	assert_non_null(strstr(out, "guest guest: RAM 256.00 MiB"));
	assert_non_null(strstr(out, "stat-free-memory"));
	snprintf(args, sizeof(args), "%s stats --json", ctl_sock);
	CTL(args, 0);
	assert_non_null(strstr(out, "\"stat-total-memory\""));
	snprintf(args, sizeof(args), "%s guests", ctl_sock);
	CTL(args, 0);
	assert_non_null(strstr(out, "guest                    running  yes"));
	snprintf(args, sizeof(args), "%s target 1G", ctl_sock);
	CTL(args, 1);
	assert_string_equal(out, "guestmm: ctl: balloon: Parameter 'value': 1073741824 bytes is more than the guest's RAM (268435456 bytes)\n");
	snprintf(args, sizeof(args), "%s stats --guest other", ctl_sock);
	CTL(args, 1);
	assert_string_equal(out, "guestmm: ctl: query-balloon: no guest named 'other'\n");
	snprintf(args, sizeof(args), "%s/none.sock stats", dir);
	CTL(args, 1);
	assert_non_null(strstr(out, "no such socket"));
	snprintf(args, sizeof(args), "%s frob", ctl_sock);
	CTL(args, 2);
	assert_non_null(strstr(out, "unknown command 'frob'"));
	snprintf(args, sizeof(args), "%s target", ctl_sock);
	CTL(args, 2);
	snprintf(args, sizeof(args), "%s target 100000001", ctl_sock);
	CTL(args, 2);
	snprintf(args, sizeof(args), "%s guests --guest guest", ctl_sock);
	CTL(args, 2);
	snprintf(args, sizeof(args), "%s target 192M", ctl_sock);
	CTL(args, 0);
	assert_string_equal(out, "");
	wait_balloon_change(c, "guest", 192 * MIB);
	/* watch saw it too. */
	end = now_ms() + WAIT_MS;
	while (!file_has(watch_log, "\"BALLOON_CHANGE\",\"data\":{\"actual\":201326592")) {
		assert_true(now_ms() < end);
		usleep(50000);
	}
	/* watch ends with the host, status 0. */
	stop(&guest_pid);
	stop_host();
	assert_int_equal(waitpid(watch, &status, 0), watch);
	assert_true(WIFEXITED(status));
	assert_int_equal(WEXITSTATUS(status), 0);
	conn_close(c);
#undef CTL
}

/* A stock Linux guest (user-mode Linux, `host --linux`): a target set
 * through the socket reaches actual in Linux's virtio_balloon, and its
 * statistics arrive under the same names as ours.  The host's own run
 * (memhog, then --watch 30 s) leaves the balloon alone without --target and
 * gives the target half a minute past the driver's start, on any load. */
static void test_linux_guest(void **state)
{
	const char *argv[] = { GUESTMM_BIN, "host", "--linux", "--mem", "256M",
			       "--hog", "32M", "--watch", "30", "--control", ctl_sock,
			       "--metrics", "0", "--quiet", NULL };
	static char resp[1 << 17];
	struct json_object *r, *st;
	struct conn *c;
	int status;

	(void)state;
	if (access("/usr/bin/linux.uml", X_OK) || access(GMM_UML_INITRD, R_OK))
		skip();
	unlink(host_log);
	host_pid = spawn(host_log, argv);
	c = conn_open(true);
	wait_driver(c);
	r = ret_of(c, "{\"execute\": \"query-balloon\"}\n");
	assert_int_equal(key_i64(r, "ram"), 256 * MIB);
	json_object_put(r);
	r = ret_of(c, "{\"execute\": \"balloon\", \"arguments\": {\"value\": 167772160, \"guest\": \"linux-1\"}}\n");
	json_object_put(r);
	wait_balloon_change(c, "linux-1", 160 * MIB);
	r = ret_of(c, "{\"execute\": \"query-balloon\"}\n");
	assert_int_equal(key_i64(r, "balloon-actual"), 96 * MIB);
	json_object_put(r);
	r = wait_stats(c, &st);
	/* Linux's total is its RAM less what the kernel reserved. */
	assert_true(key_i64(st, "stat-total-memory") < (int64_t)(256 * MIB));
	assert_true(key_i64(st, "stat-available-memory") > 0);
	assert_true(key_i64(st, "stat-disk-caches") >= 0);
	assert_sent_keys(st);
	/* The metrics of a Linux guest: its statistics under their names. */
	wait_metric(metrics_port(), "guestmm_guest_total_memory_bytes", "linux-1",
		    key_i64(st, "stat-total-memory"), resp, sizeof(resp));
	promtool_check(http_body(resp));
	assert_int_equal(metric(resp, "guestmm_guest_ram_bytes", "linux-1"), 256 * MIB);
	assert_int_equal(metric(resp, "guestmm_guest_balloon_actual_bytes", "linux-1"), 96 * MIB);
	assert_true(metric(resp, "guestmm_guest_minor_faults_total", "linux-1") > 0);
	assert_true(metric(resp, "guestmm_guest_disk_caches_bytes", "linux-1") >= 0);
	json_object_put(r);
	conn_close(c);
	/* The host's own run goes on to its end, status 0. */
	assert_int_equal(waitpid(host_pid, &status, 0), host_pid);
	host_pid = 0;
	if (!WIFEXITED(status) || WEXITSTATUS(status))
		fail_msg("host --linux ended with status %#x", status);
}

/*
 * Deflate on OOM through a separate guest process (our guest runtime over
 * the device): the balloon holds 192 of its 256 MiB, then the guest's
 * memhog wants 192 MiB.  Offered (and so negotiated), the guest's
 * allocator takes pages back from the balloon: the host sees actual fall
 * below the target it keeps (a BALLOON_CHANGE).  Not offered, the
 * allocation fails instead: the guest's free memory runs out while the
 * balloon keeps every page.  The memhog starts 10 s after the guest, time
 * for the balloon to fill; were it earlier, on would still deflate and off
 * would still keep the pages.
 */
static void oom_run(bool on)
{
	const char *extra[] = { "--deflate-on-oom", on ? "on" : "off", NULL };
	const char *argv[] = { GUESTMM_BIN, "guest", "--socket", dev_sock,
			       "--mem-bytes", "268435456", "--workload", "memhog",
			       "--hog-bytes", "201326592", "--cycles", "64",
			       "--hold-ms", "3000", "--sleep-ms", "1000",
			       "--start-delay-ms", "10000", NULL };
	struct json_object *r, *st;
	char log[320];
	struct conn *c;
	long end;

	host_start(extra);
	c = conn_open(true);
	snprintf(log, sizeof(log), "%s/guest.log", dir);
	guest_pid = spawn(log, argv);
	wait_driver(c);
	r = ret_of(c, "{\"execute\": \"balloon\", \"arguments\": {\"value\": 67108864}}\n");
	json_object_put(r);
	r = wait_reached(c, "guest", 64 * MIB);
	json_object_put(r);
	if (on) {
		for (;;) {
			struct json_object *o = wait_event(c, "BALLOON_CHANGE", "guest", NULL);
			int64_t actual = key_i64(json_object_object_get(o, "data"), "actual");

			json_object_put(o);
			if (actual > (int64_t)(64 * MIB))
				break;
		}
		r = ret_of(c, "{\"execute\": \"query-balloon\"}\n");
		assert_true(key_i64(r, "balloon-actual") < (int64_t)(192 * MIB));
		/* The host's target stays: the guest took pages, not the host. */
		assert_int_equal(key_i64(r, "balloon-target"), 192 * MIB);
		json_object_put(r);
	} else {
		end = now_ms() + 3 * WAIT_MS;
		for (;;) {
			r = ret_of(c, "{\"execute\": \"query-balloon-stats\"}\n");
			st = json_object_object_get(r, "stats");
			if (key_i64(st, "stat-free-memory") >= 0 &&
			    key_i64(st, "stat-free-memory") < (int64_t)(16 * MIB)) {
				json_object_put(r);
				break;
			}
			json_object_put(r);
			if (now_ms() > end)
				fail_msg("the guest's memhog never ran its free memory down");
			usleep(200000);
		}
		r = ret_of(c, "{\"execute\": \"query-balloon\"}\n");
		assert_int_equal(key_i64(r, "balloon-actual"), 192 * MIB);
		json_object_put(r);
	}
	conn_close(c);
}

static void test_deflate_on_oom_on(void **state)
{
	(void)state;
	oom_run(true);
}

static void test_deflate_on_oom_off(void **state)
{
	(void)state;
	oom_run(false);
}

/* ---- QEMU guests in a fleet (our kernel on QEMU's microvm, QMP) ---- */

/* The host, QEMU and our kernel (beside the host's binary: the build's). */
static bool qemu_missing(void)
{
	return access("/usr/bin/qemu-system-x86_64", X_OK) ||
	       access(GMM_KERNEL_ELF, R_OK);
}

/* Start `host --guests qemu:...` with @extra after the common options. */
static struct conn *qemu_fleet_start(const char *const *extra)
{
	const char *argv[48] = { GUESTMM_BIN, "host", "--guest-mem", "128M",
				 "--control", ctl_sock, "--duration", "600",
				 "--quiet" };
	int n = 9;

	while (*extra)
		argv[n++] = *extra++;
	argv[n] = NULL;
	unlink(host_log);
	host_pid = spawn(host_log, argv);
	return conn_open(true);
}

/* Guest @name's state in query-guests ("running", "killed", "exited"),
 * empty when there is no such guest. */
static void guest_state(struct conn *c, const char *name, char *state, size_t len)
{
	struct json_object *r = ret_of(c, "{\"execute\": \"query-guests\"}\n");

	state[0] = 0;
	for (size_t i = 0; i < json_object_array_length(r); i++) {
		struct json_object *g = json_object_array_get_idx(r, i);

		if (!strcmp(json_object_get_string(json_object_object_get(g, "name")), name))
			snprintf(state, len, "%s",
				 json_object_get_string(json_object_object_get(g, "state")));
	}
	json_object_put(r);
}

/*
 * One QEMU guest under the kill policy (no decision of the host's): a
 * target set through our control socket reaches QEMU's balloon through
 * QMP and comes back as actual (BALLOON_CHANGE, then TARGET_REACHED, and
 * query-balloon), and the statistics our kernel sends QEMU reach
 * query-balloon-stats under the same keys as our process guest's.
 */
static void test_qemu_target(void **state)
{
	const char *extra[] = { "--guests", "qemu:1", "--budget-policy", "kill",
				"--cgroup-root", "none", "--hog-pct", "25",
				"--idle-ms", "600000", NULL };
	struct json_object *r, *st;
	struct conn *c;

	(void)state;
	if (qemu_missing())
		skip();
	c = qemu_fleet_start(extra);
	wait_driver(c);
	r = ret_of(c, "{\"execute\": \"query-balloon\", \"arguments\": {\"guest\": \"qemu-1\"}}\n");
	assert_int_equal(key_i64(r, "ram"), 128 * MIB);
	assert_int_equal(key_i64(r, "actual"), 128 * MIB);
	json_object_put(r);
	r = ret_of(c, "{\"execute\": \"balloon\", \"arguments\": {\"value\": 100663296, \"guest\": \"qemu-1\"}}\n");
	json_object_put(r);
	r = wait_reached(c, "qemu-1", 96 * MIB);
	json_object_put(r);
	r = ret_of(c, "{\"execute\": \"query-balloon\", \"arguments\": {\"guest\": \"qemu-1\"}}\n");
	assert_int_equal(key_i64(r, "actual"), 96 * MIB);
	assert_int_equal(key_i64(r, "balloon-actual"), 32 * MIB);
	json_object_put(r);
	r = wait_stats(c, &st);
	assert_true(key_i64(st, "stat-total-memory") <= (int64_t)(128 * MIB));
	assert_true(key_i64(st, "stat-available-memory") > 0);
	assert_sent_keys(st);
	json_object_put(r);
	r = ret_of(c, "{\"execute\": \"balloon\", \"arguments\": {\"value\": 134217728, \"guest\": \"qemu-1\"}}\n");
	json_object_put(r);
	wait_balloon_change(c, "qemu-1", 128 * MIB);
	conn_close(c);
	stop_host();
}

/*
 * Two QEMU guests under the balloon policy, the budget the host's own
 * accounting (QEMU's memfds: no QEMU overhead in it, so the figures are
 * the guests'): each holds ~97 MiB after its one memhog cycle (75 % of
 * 128 MiB, no free page reporting), 194 MiB of 208, above the policy's
 * 85 % and below the limit.  An idle guest is inflated (BUDGET_INFLATE,
 * before any kill), QEMU's actual follows (BALLOON_CHANGE of that guest
 * below its RAM, and query-balloon through our socket).
 */
static void test_qemu_policy_inflates(void **state)
{
	const char *extra[] = { "--guests", "qemu:2", "--budget", "208M",
				"--cgroup-root", "none", "--reporting", "off",
				"--hog-pct", "75", "--hold-ms", "1000",
				"--idle-ms", "600000", "--stagger-ms", "2000", NULL };
	struct json_object *o, *d, *r;
	char guest[32], cmd[128];
	struct conn *c;

	(void)state;
	if (qemu_missing())
		skip();
	c = qemu_fleet_start(extra);
	o = wait_event(c, "BUDGET_INFLATE", NULL, "GUEST_KILLED");
	d = json_object_object_get(o, "data");
	snprintf(guest, sizeof(guest), "%s",
		 json_object_get_string(json_object_object_get(d, "guest")));
	assert_non_null(strstr(guest, "qemu-"));
	assert_non_null(strstr(json_object_get_string(json_object_object_get(d, "reason")),
			       "idle"));
	assert_true(key_i64(d, "balloon") > 0);
	assert_int_equal(key_i64(d, "balloon") + key_i64(d, "actual"), 128 * MIB);
	assert_true(key_i64(d, "usage") >= (int64_t)(208 * MIB / 100 * 85));
	json_object_put(o);
	/* QEMU's actual, through QMP, into our events and our query-balloon. */
	for (;;) {
		o = wait_event(c, "BALLOON_CHANGE", guest, "GUEST_KILLED");
		d = json_object_object_get(o, "data");
		if (key_i64(d, "actual") < (int64_t)(128 * MIB)) {
			json_object_put(o);
			break;
		}
		json_object_put(o);
	}
	snprintf(cmd, sizeof(cmd),
		 "{\"execute\": \"query-balloon\", \"arguments\": {\"guest\": \"%s\"}}\n", guest);
	r = ret_of(c, cmd);
	assert_int_equal(key_i64(r, "ram"), 128 * MIB);
	assert_true(key_i64(r, "balloon-actual") > 0);
	assert_int_equal(key_i64(r, "actual") + key_i64(r, "balloon-actual"), 128 * MIB);
	json_object_put(r);
	conn_close(c);
	stop_host();
}

/*
 * Two QEMU guests that each hold 90 % of their 128 MiB for good, in a
 * budget of 208 MiB (the host's own accounting): once the second has
 * grown past what the first leaves, neither has anything to spare and the
 * budget is over its limit, so the policy kills one (GUEST_KILLED, the
 * balloon policy's reason) and the other goes on running.
 */
static void test_qemu_policy_kills(void **state)
{
	const char *extra[] = { "--guests", "qemu:2", "--budget", "208M",
				"--cgroup-root", "none", "--reporting", "off",
				"--hog-pct", "90", "--hold-ms", "3600000",
				"--stagger-ms", "2000", NULL };
	struct json_object *o, *d;
	char victim[32], other[32], st[16];
	struct conn *c;

	(void)state;
	if (qemu_missing())
		skip();
	c = qemu_fleet_start(extra);
	o = wait_event(c, "GUEST_KILLED", NULL, NULL);
	d = json_object_object_get(o, "data");
	snprintf(victim, sizeof(victim), "%s",
		 json_object_get_string(json_object_object_get(d, "guest")));
	assert_string_equal(json_object_get_string(json_object_object_get(d, "policy")),
			    "balloon");
	assert_non_null(strstr(json_object_get_string(json_object_object_get(d, "why")),
			       "balloon policy: at the limit and"));
	assert_true(key_i64(d, "usage") > (int64_t)(208 * MIB));
	json_object_put(o);
	snprintf(other, sizeof(other), "%s",
		 strcmp(victim, "qemu-1") ? "qemu-1" : "qemu-2");
	assert_true(!strcmp(victim, "qemu-1") || !strcmp(victim, "qemu-2"));
	guest_state(c, victim, st, sizeof(st));
	assert_string_equal(st, "killed");
	guest_state(c, other, st, sizeof(st));
	assert_string_equal(st, "running");
	conn_close(c);
	stop_host();
}

int main(int argc, char **argv)
{
	const struct CMUnitTest qemu_tests[] = {
		cmocka_unit_test_setup_teardown(test_qemu_target, setup, teardown),
		cmocka_unit_test_setup_teardown(test_qemu_policy_inflates, setup, teardown),
		cmocka_unit_test_setup_teardown(test_qemu_policy_kills, setup, teardown),
	};
	const struct CMUnitTest linux_tests[] = {
		cmocka_unit_test_setup_teardown(test_linux_guest, setup, teardown),
	};
	const struct CMUnitTest service_tests[] = {
		cmocka_unit_test_setup_teardown(test_ready_once, setup, teardown),
		cmocka_unit_test_setup_teardown(test_log_lines, setup, teardown),
	};
	const struct CMUnitTest metrics_tests[] = {
		cmocka_unit_test_setup_teardown(test_metrics_http, setup, teardown),
		cmocka_unit_test_setup_teardown(test_metrics_file, setup, teardown),
		cmocka_unit_test_setup_teardown(test_metrics_fleet, setup, teardown),
		cmocka_unit_test_setup_teardown(test_metrics_bad, setup, teardown),
	};
	const struct CMUnitTest tests[] = {
		cmocka_unit_test_setup_teardown(test_protocol, setup, teardown),
		cmocka_unit_test_setup_teardown(test_balloon_reaches_actual, setup, teardown),
		cmocka_unit_test_setup_teardown(test_stats_interval_off, setup, teardown),
		cmocka_unit_test_setup_teardown(test_client_never_reads, setup, teardown),
		cmocka_unit_test_setup_teardown(test_sixteen_clients, setup, teardown),
		cmocka_unit_test_setup_teardown(test_disconnect_mid_command, setup, teardown),
		cmocka_unit_test_setup_teardown(test_fleet_by_name, setup, teardown),
		cmocka_unit_test_setup_teardown(test_ctl_command, setup, teardown),
		cmocka_unit_test_setup_teardown(test_budget_policy_events, setup, teardown),
		cmocka_unit_test_setup_teardown(test_deflate_on_oom_on, setup, teardown),
		cmocka_unit_test_setup_teardown(test_deflate_on_oom_off, setup, teardown),
		cmocka_unit_test_setup_teardown(test_operator_target_pins_policy, setup, teardown),
	};

	signal(SIGPIPE, SIG_IGN);
	if (argc > 1 && !strcmp(argv[1], "service"))
		return cmocka_run_group_tests(service_tests, NULL, NULL);
	if (argc > 1 && !strcmp(argv[1], "metrics"))
		return cmocka_run_group_tests(metrics_tests, NULL, NULL);
	if (argc > 1 && !strcmp(argv[1], "linux"))
		return cmocka_run_group_tests(linux_tests, NULL, NULL);
	if (argc > 1 && !strcmp(argv[1], "qemu"))
		return cmocka_run_group_tests(qemu_tests, NULL, NULL);
	/* "only PATTERN": the tests whose names match (cmocka's filter). */
	if (argc > 2 && !strcmp(argv[1], "only"))
		cmocka_set_test_filter(argv[2]);
	return cmocka_run_group_tests(tests, NULL, NULL);
}
