/*
 * bench_metrics_latency.c - how long a /metrics scrape takes while the
 * guests report, and how large the exposition is per guest (issue 18,
 * items 5-6).
 *
 *   bench_metrics_latency GUESTMM [--scrapes 1000] [--guests 2] [--json]
 *
 * Starts `GUESTMM host --guests ours:N --metrics 127.0.0.1:0` (512 MiB
 * each) with memhog in cycles as bench_control_latency does (allocate 75 %,
 * hold 200 ms, free, idle 2.5 s: every cycle's 384 MiB is reported and
 * punched out by the guest's device thread), waits until every guest is up
 * and reports flow, then scrapes /metrics one at a time, each on a new
 * TCP connection (HTTP/1.0), timed from connect to the response's end,
 * one every 5 ms.  Prints the median, p99 and maximum, the exposition's
 * size and the bytes of one guest's samples (what each further guest
 * adds); a run in which the devices completed no report measured an idle
 * host and fails.
 */
#define _GNU_SOURCE
#include <arpa/inet.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <signal.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#define WAIT_S 120
#define BODY_MAX (1 << 20)

static double now_s(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (double)ts.tv_sec + ts.tv_nsec / 1e9;
}

static int cmp_double(const void *a, const void *b)
{
	double x = *(const double *)a, y = *(const double *)b;

	return x < y ? -1 : x > y;
}

/* GET /metrics into @buf (NUL-terminated); the body, or NULL. */
static const char *scrape(unsigned int port, char *buf, size_t len)
{
	static const char req[] = "GET /metrics HTTP/1.0\r\nHost: localhost\r\n\r\n";
	struct sockaddr_in sa = { .sin_family = AF_INET, .sin_port = htons((uint16_t)port),
				  .sin_addr.s_addr = htonl(INADDR_LOOPBACK) };
	int fd = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
	size_t used = 0;
	const char *body;
	ssize_t r;

	if (fd < 0)
		return NULL;
	if (connect(fd, (struct sockaddr *)&sa, sizeof(sa)) ||
	    send(fd, req, sizeof(req) - 1, MSG_NOSIGNAL) != (ssize_t)(sizeof(req) - 1)) {
		close(fd);
		return NULL;
	}
	while (used < len - 1 && (r = read(fd, buf + used, len - 1 - used)) > 0)
		used += (size_t)r;
	close(fd);
	buf[used] = 0;
	if (strncmp(buf, "HTTP/1.", 7) || strncmp(buf + 8, " 200", 4))
		return NULL;
	body = strstr(buf, "\r\n\r\n");
	return body ? body + 4 : NULL;
}

/* The sum of @name's samples over the guests, and how many there are. */
static uint64_t metric_sum(const char *text, const char *name, unsigned int *n)
{
	char key[96];
	uint64_t sum = 0;
	const char *p = text;

	snprintf(key, sizeof(key), "\n%s{", name);
	*n = 0;
	while ((p = strstr(p, key))) {
		const char *v = strchr(p, '}');
		unsigned long long x;

		if (v && sscanf(v + 1, " %llu", &x) == 1) {
			sum += x;
			(*n)++;
		}
		p += strlen(key);
	}
	return sum;
}

/* The bytes of the sample lines of guest @name (label and newline included). */
static size_t guest_bytes(const char *text, const char *name)
{
	char label[64];
	size_t bytes = 0;

	snprintf(label, sizeof(label), "{guest=\"%s\"} ", name);
	for (const char *line = text; *line;) {
		const char *nl = strchr(line, '\n');
		size_t n = nl ? (size_t)(nl - line) + 1 : strlen(line);

		if (memmem(line, n, label, strlen(label)))
			bytes += n;
		line += n;
	}
	return bytes;
}

int main(int argc, char **argv)
{
	unsigned int scrapes = 1000, guests = 2, port = 0, up = 0, n;
	char dir[96], spec[32], log[128], *buf;
	const char *bin, *tmp = getenv("TMPDIR"), *body = NULL;
	uint64_t reports0 = 0, reports1;
	size_t size = 0, per_guest;
	double *lat, t0, dt;
	bool json = false;
	pid_t host;
	int status;

	if (argc < 2 || argv[1][0] == '-') {
		fprintf(stderr, "usage: bench_metrics_latency GUESTMM [--scrapes N] [--guests N] [--json]\n");
		return 2;
	}
	bin = argv[1];
	for (int i = 2; i < argc; i++) {
		if (!strcmp(argv[i], "--json"))
			json = true;
		else if (!strcmp(argv[i], "--scrapes") && i + 1 < argc)
			scrapes = (unsigned int)strtoul(argv[++i], NULL, 10);
		else if (!strcmp(argv[i], "--guests") && i + 1 < argc)
			guests = (unsigned int)strtoul(argv[++i], NULL, 10);
		else {
			fprintf(stderr, "bench_metrics_latency: unknown argument '%s'\n", argv[i]);
			return 2;
		}
	}
	if (scrapes < 100 || scrapes > 1000000 || guests < 1 || guests > 16) {
		fprintf(stderr, "bench_metrics_latency: --scrapes 100 to 1000000, --guests 1 to 16\n");
		return 2;
	}
	if (!tmp || !*tmp || strlen(tmp) > 64)
		tmp = "/tmp";
	snprintf(dir, sizeof(dir), "%s/gmm-metrics-bench-XXXXXX", tmp);
	if (!mkdtemp(dir)) {
		perror("bench_metrics_latency: mkdtemp");
		return 1;
	}
	snprintf(log, sizeof(log), "%s/host.log", dir);
	snprintf(spec, sizeof(spec), "ours:%u", guests);
	host = fork();
	if (host == 0) {
		int fd = open(log, O_WRONLY | O_CREAT | O_TRUNC, 0600);

		dup2(fd, 1);
		dup2(fd, 2);
		execl(bin, bin, "host", "--guests", spec, "--guest-mem", "512M",
		      "--cgroup-root", "none", "--hold-ms", "200", "--idle-ms", "2500",
		      "--stagger-ms", "0", "--metrics", "127.0.0.1:0", "--duration", "3600",
		      "--quiet", (char *)NULL);
		_exit(127);
	}
	buf = malloc(BODY_MAX);
	lat = calloc(scrapes, sizeof(*lat));
	if (!buf || !lat)
		return 1;
	t0 = now_s();
	/* The port, from the host's info line. */
	while (!port) {
		FILE *f = fopen(log, "r");
		size_t k = f ? fread(buf, 1, BODY_MAX - 1, f) : 0;
		const char *p;

		if (f)
			fclose(f);
		buf[k] = 0;
		p = strstr(buf, "metrics on http://127.0.0.1:");
		if (p)
			sscanf(p, "metrics on http://127.0.0.1:%u/", &port);
		if (!port && (now_s() - t0 > WAIT_S || waitpid(host, &status, WNOHANG))) {
			fprintf(stderr, "bench_metrics_latency: the host never served metrics (see %s)\n", log);
			kill(host, SIGTERM);
			return 1;
		}
		if (!port)
			usleep(20000);
	}
	/* Every guest up, and reports flowing. */
	while (!body || up < guests || !reports0) {
		if (now_s() - t0 > WAIT_S) {
			fprintf(stderr, "bench_metrics_latency: the guests never attached and reported (see %s)\n", log);
			kill(host, SIGTERM);
			return 1;
		}
		usleep(100000);
		body = scrape(port, buf, BODY_MAX);
		if (body) {
			up = (unsigned int)metric_sum(body, "guestmm_guest_up", &n);
			reports0 = metric_sum(body, "guestmm_guest_reports_total", &n);
		}
	}
	t0 = now_s();
	for (unsigned int i = 0; i < scrapes; i++) {
		double t = now_s();

		body = scrape(port, buf, BODY_MAX);
		if (!body) {
			fprintf(stderr, "bench_metrics_latency: scrape %u failed\n", i);
			kill(host, SIGTERM);
			return 1;
		}
		lat[i] = now_s() - t;
		/* Paced, so that the scrapes span several reporting rounds. */
		usleep(5000);
	}
	dt = now_s() - t0;
	size = strlen(body);
	per_guest = guest_bytes(body, "ours-1");
	reports1 = metric_sum(body, "guestmm_guest_reports_total", &n);
	kill(host, SIGTERM);
	waitpid(host, &status, 0);
	if (reports1 <= reports0) {
		fprintf(stderr, "bench_metrics_latency: the devices completed no report while the scrapes ran: the host was idle, nothing measured\n");
		return 1;
	}
	if (!per_guest) {
		fprintf(stderr, "bench_metrics_latency: no sample of guest ours-1 in the exposition\n");
		return 1;
	}
	qsort(lat, scrapes, sizeof(*lat), cmp_double);
	if (json)
		printf("{\"scrapes\": %u, \"guests\": %u, \"median_ms\": %.3f, \"p99_ms\": %.3f, \"max_ms\": %.3f, \"window_s\": %.3f, \"reports_during\": %llu, \"exposition_bytes\": %zu, \"bytes_per_guest\": %zu}\n",
		       scrapes, guests, lat[scrapes / 2] * 1e3,
		       lat[(size_t)(scrapes * 0.99)] * 1e3, lat[scrapes - 1] * 1e3, dt,
		       (unsigned long long)(reports1 - reports0), size, per_guest);
	else
		printf("metrics scrape latency, %u scrapes of %u busy guests in %.2f s: median %.3f ms, p99 %.3f ms, max %.3f ms; %llu reports meanwhile; exposition %zu bytes, %zu bytes per guest\n",
		       scrapes, guests, dt, lat[scrapes / 2] * 1e3,
		       lat[(size_t)(scrapes * 0.99)] * 1e3, lat[scrapes - 1] * 1e3,
		       (unsigned long long)(reports1 - reports0), size, per_guest);
	free(lat);
	free(buf);
	unlink(log);
	rmdir(dir);
	return 0;
}
