/*
 * bench_control_latency.c - how long the host's control socket takes to
 * answer while its device threads are busy (issue 18's target: within
 * 10 ms).
 *
 *   bench_control_latency GUESTMM [--commands 1000] [--guests 2] [--json]
 *
 * Starts `GUESTMM host --guests ours:N` (512 MiB each) with memhog in
 * cycles: allocate 75 % of RAM, hold 200 ms, free, idle 2.5 s, long enough
 * past the guest's 2 s report delay that every cycle's 384 MiB is reported
 * and discarded by its device thread (a tighter cycle takes the memory back
 * before it is reported, and the devices sit idle), waits
 * until every guest's driver is attached and reports flow, then sends
 * query-balloon commands one at a time, to each guest in turn, and times
 * each from its send to its answer, one every 5 ms so that they span
 * several of the guests' reporting rounds.  Prints the median, p99 and maximum,
 * and the reports the devices completed meanwhile: a run in which they
 * completed none measured an idle host and fails.
 */
#define _GNU_SOURCE
#include <errno.h>
#include <fcntl.h>
#include <json-c/json.h>
#include <poll.h>
#include <signal.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#define WAIT_S 120

static double now_s(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (double)ts.tv_sec + ts.tv_nsec / 1e9;
}

struct conn {
	int fd;
	size_t used;
	char buf[1 << 16];
	char line[1 << 16];
};

/* The next answer (events skipped).  Return: false when the host went. */
static bool conn_answer(struct conn *c, const char *cmd)
{
	size_t n = cmd ? strlen(cmd) : 0;

	/* NULL: no command, the next line (the greeting). */
	if (cmd && send(c->fd, cmd, n, MSG_NOSIGNAL) != (ssize_t)n)
		return false;
	for (;;) {
		char *nl = memchr(c->buf, '\n', c->used);
		ssize_t r;

		if (nl) {
			size_t k = (size_t)(nl - c->buf);

			memcpy(c->line, c->buf, k);
			c->line[k] = 0;
			memmove(c->buf, nl + 1, c->used - k - 1);
			c->used -= k + 1;
			if (!cmd || strncmp(c->line, "{\"event\"", 8))
				return true;
			continue;
		}
		if (c->used == sizeof(c->buf))
			return false;
		r = read(c->fd, c->buf + c->used, sizeof(c->buf) - c->used);
		if (r <= 0)
			return false;
		c->used += (size_t)r;
	}
}

static int cmp_double(const void *a, const void *b)
{
	double x = *(const double *)a, y = *(const double *)b;

	return x < y ? -1 : x > y;
}

/* Sum of the guests' reported bytes, and how many have a driver. */
static bool fleet_state(struct conn *c, uint64_t *reported, unsigned int *up)
{
	struct json_object *o, *r;

	if (!conn_answer(c, "{\"execute\": \"query-guests\"}\n"))
		return false;
	o = json_tokener_parse(c->line);
	if (!o || !json_object_object_get_ex(o, "return", &r)) {
		json_object_put(o);
		return false;
	}
	*reported = 0;
	*up = 0;
	for (size_t i = 0; i < json_object_array_length(r); i++) {
		struct json_object *g = json_object_array_get_idx(r, i), *v;

		if (json_object_object_get_ex(g, "reported", &v))
			*reported += json_object_get_uint64(v);
		if (json_object_object_get_ex(g, "connected", &v) && json_object_get_boolean(v))
			(*up)++;
	}
	json_object_put(o);
	return true;
}

int main(int argc, char **argv)
{
	unsigned int commands = 1000, guests = 2;
	char dir[96], sock[108], spec[32], log[128];
	struct sockaddr_un sa = { .sun_family = AF_UNIX };
	const char *bin, *tmp = getenv("TMPDIR");
	uint64_t reported0, reported1;
	struct conn *c;
	double *lat, t0, dt;
	unsigned int up;
	bool json = false;
	pid_t host;
	int status;

	if (argc < 2 || argv[1][0] == '-') {
		fprintf(stderr, "usage: bench_control_latency GUESTMM [--commands N] [--guests N] [--json]\n");
		return 2;
	}
	bin = argv[1];
	for (int i = 2; i < argc; i++) {
		if (!strcmp(argv[i], "--json"))
			json = true;
		else if (!strcmp(argv[i], "--commands") && i + 1 < argc)
			commands = (unsigned int)strtoul(argv[++i], NULL, 10);
		else if (!strcmp(argv[i], "--guests") && i + 1 < argc)
			guests = (unsigned int)strtoul(argv[++i], NULL, 10);
		else {
			fprintf(stderr, "bench_control_latency: unknown argument '%s'\n", argv[i]);
			return 2;
		}
	}
	if (commands < 100 || commands > 1000000 || guests < 1 || guests > 16) {
		fprintf(stderr, "bench_control_latency: --commands 100 to 1000000, --guests 1 to 16\n");
		return 2;
	}
	if (!tmp || !*tmp || strlen(tmp) > 64)
		tmp = "/tmp";
	snprintf(dir, sizeof(dir), "%s/gmm-ctl-bench-XXXXXX", tmp);
	if (!mkdtemp(dir)) {
		perror("bench_control_latency: mkdtemp");
		return 1;
	}
	snprintf(sock, sizeof(sock), "%s/c.sock", dir);
	snprintf(log, sizeof(log), "%s/host.log", dir);
	snprintf(spec, sizeof(spec), "ours:%u", guests);
	host = fork();
	if (host == 0) {
		int fd = open(log, O_WRONLY | O_CREAT | O_TRUNC, 0600);

		dup2(fd, 1);
		dup2(fd, 2);
		execl(bin, bin, "host", "--guests", spec, "--guest-mem", "512M",
		      "--cgroup-root", "none", "--hold-ms", "200", "--idle-ms", "2500",
		      "--stagger-ms", "0", "--control", sock, "--duration", "3600",
		      "--quiet", (char *)NULL);
		_exit(127);
	}
	snprintf(sa.sun_path, sizeof(sa.sun_path), "%s", sock);
	c = calloc(1, sizeof(*c));
	lat = calloc(commands, sizeof(*lat));
	if (!c || !lat)
		return 1;
	t0 = now_s();
	for (;;) {
		c->fd = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
		if (!connect(c->fd, (struct sockaddr *)&sa, sizeof(sa)))
			break;
		close(c->fd);
		if (now_s() - t0 > WAIT_S || waitpid(host, &status, WNOHANG)) {
			fprintf(stderr, "bench_control_latency: the host never served %s (see %s)\n",
				sock, log);
			return 1;
		}
		usleep(20000);
	}
	if (!conn_answer(c, NULL) ||
	    !conn_answer(c, "{\"execute\": \"qmp_capabilities\"}\n")) {
		fprintf(stderr, "bench_control_latency: no greeting\n");
		return 1;
	}
	/* Every driver attached, and reports flowing. */
	do {
		if (now_s() - t0 > WAIT_S || !fleet_state(c, &reported0, &up)) {
			fprintf(stderr, "bench_control_latency: the guests never attached (see %s)\n", log);
			kill(host, SIGTERM);
			return 1;
		}
		usleep(100000);
	} while (up < guests || !reported0);
	fleet_state(c, &reported0, &up);
	t0 = now_s();
	for (unsigned int i = 0; i < commands; i++) {
		char cmd[128];
		double t;

		snprintf(cmd, sizeof(cmd),
			 "{\"execute\": \"query-balloon\", \"arguments\": {\"guest\": \"ours-%u\"}}\n",
			 1 + i % guests);
		t = now_s();
		if (!conn_answer(c, cmd) || strncmp(c->line, "{\"return\"", 9)) {
			fprintf(stderr, "bench_control_latency: command %u: %s\n", i,
				c->line[0] ? c->line : "no answer");
			kill(host, SIGTERM);
			return 1;
		}
		lat[i] = now_s() - t;
		/* Paced, so that the commands span several reporting rounds
		 * (a guest reports 2 s after its frees) rather than fall
		 * between two. */
		usleep(5000);
	}
	dt = now_s() - t0;
	fleet_state(c, &reported1, &up);
	kill(host, SIGTERM);
	waitpid(host, &status, 0);
	if (reported1 <= reported0) {
		fprintf(stderr, "bench_control_latency: the devices completed no report while the commands ran: the host was idle, nothing measured\n");
		return 1;
	}
	qsort(lat, commands, sizeof(*lat), cmp_double);
	if (json)
		printf("{\"commands\": %u, \"guests\": %u, \"median_ms\": %.3f, \"p99_ms\": %.3f, \"max_ms\": %.3f, \"window_s\": %.3f, \"reported_bytes_during\": %llu}\n",
		       commands, guests, lat[commands / 2] * 1e3,
		       lat[(size_t)(commands * 0.99)] * 1e3, lat[commands - 1] * 1e3, dt,
		       (unsigned long long)(reported1 - reported0));
	else
		printf("control latency, %u query-balloon over %u busy guests in %.2f s: median %.3f ms, p99 %.3f ms, max %.3f ms; %.0f MiB reported meanwhile\n",
		       commands, guests, dt, lat[commands / 2] * 1e3,
		       lat[(size_t)(commands * 0.99)] * 1e3, lat[commands - 1] * 1e3,
		       (double)(reported1 - reported0) / (1 << 20));
	free(lat);
	free(c);
	unlink(log);
	rmdir(dir);
	return 0;
}
