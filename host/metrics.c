/*
 * metrics.c - Prometheus text exposition of the host's figures (metrics.h).
 *
 * A family is written whole (HELP, TYPE, then a sample per guest that has
 * it), and only when some guest has it: a statistic no guest has sent is
 * absent, not 0.  Byte figures are bytes; counters end in _total; the
 * balloon's actual and target are the balloon's own size (QEMU's "actual",
 * RAM less the balloon, is the control socket's).
 *
 * Threads: libmicrohttpd's one polling thread answers scrapes; the file
 * writer is a thread of ours that sleeps on a condition variable between
 * writes.  Both only read the control (its lock, then a balloon's, each
 * for a copy); @lock protects @stop, which the writer waits on.
 */
#ifndef _GNU_SOURCE
#define _GNU_SOURCE
#endif
#include "host/metrics.h"

#include <arpa/inet.h>
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <microhttpd.h>
#include <netdb.h>
#include <netinet/in.h>
#include <pthread.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include "host/balloon.h"
#include "host/control.h"
#include "host/log.h"

#define PAGE_BYTES 4096ull
#define METRICS_CONTENT_TYPE "text/plain; version=0.0.4; charset=utf-8"

struct metrics {
	struct control *control;
	struct MHD_Daemon *httpd;	/* NULL: no HTTP */
	char address[INET6_ADDRSTRLEN + 16];
	/* The file: its path, and its writer's thread. */
	char *file;
	unsigned int interval_s;
	pthread_t writer;
	bool writer_started;
	pthread_mutex_t lock;	/* protects @stop */
	pthread_cond_t wake;	/* @stop set */
	bool stop;
};

/* ---- the exposition ---- */

/* A per-guest family: how it is named, what it is, and its value. */
struct metrics_family {
	const char *name;
	const char *type;	/* "gauge", "counter" */
	const char *help;
	int tag;		/* a statistic's tag; -1: @value */
	uint64_t (*value)(const struct control_guest_view *v);
};

static uint64_t m_up(const struct control_guest_view *v)
{
	return v->st.connected;
}

static uint64_t m_ram(const struct control_guest_view *v)
{
	return v->ram_bytes;
}

static uint64_t m_resident(const struct control_guest_view *v)
{
	return v->st.resident_bytes;
}

static uint64_t m_reported(const struct control_guest_view *v)
{
	return v->st.reported_bytes;
}

static uint64_t m_reports(const struct control_guest_view *v)
{
	return v->st.reports;
}

static uint64_t m_discarded(const struct control_guest_view *v)
{
	return v->st.discarded_bytes;
}

static uint64_t m_actual(const struct control_guest_view *v)
{
	return (uint64_t)v->st.actual * PAGE_BYTES;
}

static uint64_t m_target(const struct control_guest_view *v)
{
	return (uint64_t)v->st.num_pages * PAGE_BYTES;
}

static uint64_t m_kills(const struct control_guest_view *v)
{
	return v->kills;
}

static uint64_t m_stats_updates(const struct control_guest_view *v)
{
	return v->st.guest_stats_updates;
}

static uint64_t m_stats_time(const struct control_guest_view *v)
{
	return v->st.guest_stats_time > 0 ? (uint64_t)v->st.guest_stats_time : 0;
}

#define GUEST_FIGURE(n, t, h, fn) { "guestmm_guest_" n, t, h, -1, fn }
#define GUEST_STAT(n, t, h, tag) { "guestmm_guest_" n, t, h, tag, NULL }

static const struct metrics_family metrics_families[] = {
	GUEST_FIGURE("up", "gauge",
		     "1 while a balloon driver is attached to the guest's device, else 0.",
		     m_up),
	GUEST_FIGURE("ram_bytes", "gauge", "The guest's RAM.", m_ram),
	GUEST_FIGURE("resident_bytes", "gauge",
		     "The guest's RAM resident on the host (the device's accounting of its memory files).",
		     m_resident),
	GUEST_FIGURE("reported_bytes_total", "counter",
		     "Bytes of free memory the guest reported (free page reporting).",
		     m_reported),
	GUEST_FIGURE("reports_total", "counter",
		     "Free page report requests the device completed.", m_reports),
	GUEST_FIGURE("discarded_bytes_total", "counter",
		     "Bytes the host discarded from the guest's memory (reports and balloon inflation).",
		     m_discarded),
	GUEST_FIGURE("balloon_actual_bytes", "gauge",
		     "The balloon's size as the guest last said (actual).", m_actual),
	GUEST_FIGURE("balloon_target_bytes", "gauge",
		     "The balloon's size the host asks for (num_pages).", m_target),
	GUEST_FIGURE("kills_total", "counter",
		     "Times the budget killed the guest.", m_kills),
	GUEST_FIGURE("stats_updates_total", "counter",
		     "Memory statistics buffers the guest sent since its driver attached.",
		     m_stats_updates),
	GUEST_FIGURE("stats_last_update_timestamp_seconds", "gauge",
		     "When the guest last sent its memory statistics (Unix time; 0: never).",
		     m_stats_time),
	/* The guest's statistics, virtio 1.2 5.5.6.3 and Linux 6.12's. */
	GUEST_STAT("swap_in_bytes_total", "counter",
		   "Memory the guest swapped in (VIRTIO_BALLOON_S_SWAP_IN).",
		   VIRTIO_BALLOON_S_SWAP_IN),
	GUEST_STAT("swap_out_bytes_total", "counter",
		   "Memory the guest swapped out (VIRTIO_BALLOON_S_SWAP_OUT).",
		   VIRTIO_BALLOON_S_SWAP_OUT),
	GUEST_STAT("major_faults_total", "counter",
		   "The guest's major page faults (VIRTIO_BALLOON_S_MAJFLT).",
		   VIRTIO_BALLOON_S_MAJFLT),
	GUEST_STAT("minor_faults_total", "counter",
		   "The guest's minor page faults (VIRTIO_BALLOON_S_MINFLT).",
		   VIRTIO_BALLOON_S_MINFLT),
	GUEST_STAT("free_memory_bytes", "gauge",
		   "Memory free in the guest (VIRTIO_BALLOON_S_MEMFREE).",
		   VIRTIO_BALLOON_S_MEMFREE),
	GUEST_STAT("total_memory_bytes", "gauge",
		   "Memory the guest's allocator manages (VIRTIO_BALLOON_S_MEMTOT).",
		   VIRTIO_BALLOON_S_MEMTOT),
	GUEST_STAT("available_memory_bytes", "gauge",
		   "Memory available in the guest without swapping, as Linux's MemAvailable (VIRTIO_BALLOON_S_AVAIL).",
		   VIRTIO_BALLOON_S_AVAIL),
	GUEST_STAT("disk_caches_bytes", "gauge",
		   "Memory the guest's caches hold and can drop (VIRTIO_BALLOON_S_CACHES).",
		   VIRTIO_BALLOON_S_CACHES),
	GUEST_STAT("hugetlb_allocations_total", "counter",
		   "Huge page allocations in the guest (VIRTIO_BALLOON_S_HTLB_PGALLOC).",
		   VIRTIO_BALLOON_S_HTLB_PGALLOC),
	GUEST_STAT("hugetlb_failures_total", "counter",
		   "Huge page allocation failures in the guest (VIRTIO_BALLOON_S_HTLB_PGFAIL).",
		   VIRTIO_BALLOON_S_HTLB_PGFAIL),
	GUEST_STAT("oom_kills_total", "counter",
		   "The guest's OOM kills (VIRTIO_BALLOON_S_OOM_KILL).", 10),
	GUEST_STAT("alloc_stalls_total", "counter",
		   "The guest's allocation stalls (VIRTIO_BALLOON_S_ALLOC_STALL).", 11),
	GUEST_STAT("async_scanned_pages_total", "counter",
		   "Pages the guest's background reclaim scanned (VIRTIO_BALLOON_S_ASYNC_SCAN).",
		   12),
	GUEST_STAT("direct_scanned_pages_total", "counter",
		   "Pages the guest's direct reclaim scanned (VIRTIO_BALLOON_S_DIRECT_SCAN).",
		   13),
	GUEST_STAT("async_reclaimed_pages_total", "counter",
		   "Pages the guest's background reclaim reclaimed (VIRTIO_BALLOON_S_ASYNC_RECLAIM).",
		   14),
	GUEST_STAT("direct_reclaimed_pages_total", "counter",
		   "Pages the guest's direct reclaim reclaimed (VIRTIO_BALLOON_S_DIRECT_RECLAIM).",
		   15),
};

_Static_assert(VIRTIO_BALLOON_S_NR == 16,
	       "a statistic tag without a metric: add it to metrics_families");

static bool family_has(const struct metrics_family *f,
		       const struct control_guest_view *v)
{
	return f->tag < 0 || (v->st.guest_stats_valid & (1u << f->tag));
}

/* A label value: backslash, double quote and newline escaped. */
static void put_label(FILE *out, const char *s)
{
	for (; *s; s++) {
		if (*s == '\\' || *s == '"')
			fputc('\\', out);
		if (*s == '\n')
			fputs("\\n", out);
		else
			fputc(*s, out);
	}
}

static void put_family_head(FILE *out, const char *name, const char *type,
			    const char *help)
{
	fprintf(out, "# HELP %s %s\n# TYPE %s %s\n", name, help, name, type);
}

char *metrics_render(struct control *c, size_t *len)
{
	struct control_guest_view *v = calloc(CONTROL_GUESTS_MAX, sizeof(*v));
	struct control_budget b;
	unsigned int n;
	char *text = NULL;
	FILE *out;

	if (!v)
		return NULL;
	n = control_guests_read(c, v, CONTROL_GUESTS_MAX);
	if (n > CONTROL_GUESTS_MAX)
		n = CONTROL_GUESTS_MAX;
	control_budget_get(c, &b);
	out = open_memstream(&text, len);
	if (!out) {
		free(v);
		return NULL;
	}
	put_family_head(out, "guestmm_guests", "gauge",
			"Guests this host serves (running or ended).");
	fprintf(out, "guestmm_guests %u\n", n);
	if (b.set) {
		put_family_head(out, "guestmm_budget_limit_bytes", "gauge",
				"The memory budget the guests run under.");
		fprintf(out, "guestmm_budget_limit_bytes %llu\n",
			(unsigned long long)b.limit_bytes);
		put_family_head(out, "guestmm_budget_usage_bytes", "gauge",
				"The budget's usage (its memory cgroup's, or the devices' resident sum).");
		fprintf(out, "guestmm_budget_usage_bytes %llu\n",
			(unsigned long long)b.usage_bytes);
		put_family_head(out, "guestmm_budget_kills_total", "counter",
				"Guests the budget killed.");
		fprintf(out, "guestmm_budget_kills_total %llu\n",
			(unsigned long long)b.kills);
	}
	for (size_t i = 0; i < sizeof(metrics_families) / sizeof(metrics_families[0]); i++) {
		const struct metrics_family *f = &metrics_families[i];
		bool head = false;

		for (unsigned int g = 0; g < n; g++) {
			if (!family_has(f, &v[g]))
				continue;
			if (!head) {
				put_family_head(out, f->name, f->type, f->help);
				head = true;
			}
			fprintf(out, "%s{guest=\"", f->name);
			put_label(out, v[g].name);
			fprintf(out, "\"} %llu\n",
				(unsigned long long)(f->tag < 0 ? f->value(&v[g])
								: v[g].st.guest_stats[f->tag]));
		}
	}
	free(v);
	if (fclose(out)) {
		free(text);
		return NULL;
	}
	return text;
}

/* ---- HTTP ---- */

static enum MHD_Result metrics_answer(void *cls, struct MHD_Connection *conn,
				      const char *url, const char *method,
				      const char *version, const char *upload,
				      size_t *upload_len, void **req)
{
	static const char not_found[] = "Not found: the metrics are at /metrics\n";
	static const char bad_method[] = "Method not allowed: GET or HEAD\n";
	struct metrics *m = cls;
	struct MHD_Response *r;
	enum MHD_Result ret;
	unsigned int status = MHD_HTTP_OK;
	size_t len;
	char *text;

	(void)version;
	(void)upload;
	(void)req;
	if (strcmp(method, MHD_HTTP_METHOD_GET) && strcmp(method, MHD_HTTP_METHOD_HEAD)) {
		/* A body sent with it is not read: the connection closes. */
		*upload_len = 0;
		r = MHD_create_response_from_buffer(sizeof(bad_method) - 1, (void *)bad_method,
						    MHD_RESPMEM_PERSISTENT);
		status = MHD_HTTP_METHOD_NOT_ALLOWED;
		if (r)
			MHD_add_response_header(r, MHD_HTTP_HEADER_ALLOW, "GET, HEAD");
	} else if (strcmp(url, "/metrics")) {
		r = MHD_create_response_from_buffer(sizeof(not_found) - 1, (void *)not_found,
						    MHD_RESPMEM_PERSISTENT);
		status = MHD_HTTP_NOT_FOUND;
	} else {
		text = metrics_render(m->control, &len);
		if (!text)
			return MHD_NO;	/* out of memory: the connection closes */
		r = MHD_create_response_from_buffer(len, text, MHD_RESPMEM_MUST_FREE);
		if (!r)
			free(text);
		if (r)
			MHD_add_response_header(r, MHD_HTTP_HEADER_CONTENT_TYPE,
						METRICS_CONTENT_TYPE);
		log_printf(LOG_LEVEL_DEBUG, "guestmm: metrics: a scrape, %zu bytes", len);
	}
	if (!r)
		return MHD_NO;
	ret = MHD_queue_response(conn, status, r);
	MHD_destroy_response(r);
	return ret;
}

static void metrics_httpd_log(void *cls, const char *fmt, va_list ap)
{
	char line[512];
	size_t n;

	(void)cls;
	vsnprintf(line, sizeof(line), fmt, ap);
	n = strlen(line);
	while (n && line[n - 1] == '\n')
		line[--n] = 0;
	log_printf(LOG_LEVEL_WARNING, "guestmm: metrics: %s", line);
}

int metrics_parse_address(const char *s, struct sockaddr_storage *ss,
			  socklen_t *len, char *why, size_t why_len)
{
	struct addrinfo hints = { .ai_family = AF_UNSPEC, .ai_socktype = SOCK_STREAM,
				  .ai_flags = AI_NUMERICSERV };
	struct addrinfo *res = NULL;
	char host[256];
	const char *port = s, *colon = strrchr(s, ':');
	unsigned long p;
	char *end;
	int err;

	snprintf(host, sizeof(host), "127.0.0.1");
	if (colon) {
		size_t n = (size_t)(colon - s);

		port = colon + 1;
		if (n >= 2 && s[0] == '[' && s[n - 1] == ']') {
			s++;
			n -= 2;
		} else if (memchr(s, ':', n)) {
			snprintf(why, why_len, "an IPv6 address goes in brackets: [ADDR]:PORT");
			return -EINVAL;
		}
		if (!n || n >= sizeof(host)) {
			snprintf(why, why_len, "no address before the ':'");
			return -EINVAL;
		}
		memcpy(host, s, n);
		host[n] = 0;
	}
	errno = 0;
	p = strtoul(port, &end, 10);
	if (!*port || *end || errno || p > 65535 || *port == '-' || *port == '+') {
		snprintf(why, why_len, "'%s' is not a port from 0 to 65535", port);
		return -EINVAL;
	}
	err = getaddrinfo(host, port, &hints, &res);
	if (err || !res) {
		snprintf(why, why_len, "'%s': %s", host, err ? gai_strerror(err) : "no address");
		return -EINVAL;
	}
	memcpy(ss, res->ai_addr, res->ai_addrlen);
	*len = res->ai_addrlen;
	freeaddrinfo(res);
	return 0;
}

/* ---- the file ---- */

/*
 * Write the exposition to a temporary file beside the path and rename it
 * over: a reader (node_exporter) sees the old file or the new, never half.
 * Return: 0; -ENOMEM; -errno of the write.
 */
static int metrics_file_write(struct metrics *m)
{
	char tmp[PATH_MAX];
	const char *slash = strrchr(m->file, '/');
	size_t len, done = 0;
	char *text;
	int fd, err = 0;

	if (slash)
		snprintf(tmp, sizeof(tmp), "%.*s/.%s.XXXXXX", (int)(slash - m->file),
			 m->file, slash + 1);
	else
		snprintf(tmp, sizeof(tmp), ".%s.XXXXXX", m->file);
	text = metrics_render(m->control, &len);
	if (!text)
		return -ENOMEM;
	fd = mkostemp(tmp, O_CLOEXEC);
	if (fd < 0) {
		err = -errno;
		free(text);
		return err;
	}
	while (done < len) {
		ssize_t w = write(fd, text + done, len - done);

		if (w < 0 && errno == EINTR)
			continue;
		if (w < 0) {
			err = -errno;
			break;
		}
		done += (size_t)w;
	}
	free(text);
	/* mkostemp's 0600 would hide it from node_exporter's user. */
	if (!err && fchmod(fd, 0644))
		err = -errno;
	if (close(fd) && !err)
		err = -errno;
	if (!err && rename(tmp, m->file))
		err = -errno;
	if (err)
		unlink(tmp);
	return err;
}

static void *metrics_writer(void *arg)
{
	struct metrics *m = arg;
	struct timespec when;
	int last_err = 0;

	pthread_mutex_lock(&m->lock);
	clock_gettime(CLOCK_MONOTONIC, &when);
	while (!m->stop) {
		when.tv_sec += m->interval_s;
		while (!m->stop && pthread_cond_timedwait(&m->wake, &m->lock, &when) != ETIMEDOUT)
			;
		if (m->stop)
			break;
		pthread_mutex_unlock(&m->lock);
		int err = metrics_file_write(m);

		/* A failure once, not every period; its end once. */
		if (err && err != last_err)
			log_printf(LOG_LEVEL_WARNING, "guestmm: metrics: cannot write %s: %s",
				   m->file, strerror(-err));
		else if (!err && last_err)
			log_printf(LOG_LEVEL_INFO, "guestmm: metrics: %s written again", m->file);
		last_err = err;
		pthread_mutex_lock(&m->lock);
	}
	pthread_mutex_unlock(&m->lock);
	return NULL;
}

/* ---- start, stop ---- */

static int metrics_httpd_start(struct metrics *m, const char *listen)
{
	struct sockaddr_storage ss;
	socklen_t sl;
	const union MHD_DaemonInfo *info;
	char why[300], host[INET6_ADDRSTRLEN];
	unsigned int flags = MHD_USE_AUTO_INTERNAL_THREAD | MHD_USE_ERROR_LOG;

	if (metrics_parse_address(listen, &ss, &sl, why, sizeof(why))) {
		log_printf(LOG_LEVEL_ERROR, "guestmm: metrics: --metrics %s: %s", listen, why);
		return -EINVAL;
	}
	if (ss.ss_family == AF_INET6)
		flags |= MHD_USE_IPv6;
	/* The logger first: options before it would log to stderr. */
	m->httpd = MHD_start_daemon(flags, 0, NULL, NULL, metrics_answer, m,
				    MHD_OPTION_EXTERNAL_LOGGER, metrics_httpd_log, NULL,
				    MHD_OPTION_SOCK_ADDR, (struct sockaddr *)&ss,
				    MHD_OPTION_CONNECTION_LIMIT, (unsigned int)METRICS_CONNECTIONS_MAX,
				    MHD_OPTION_CONNECTION_TIMEOUT, (unsigned int)METRICS_TIMEOUT_S,
				    MHD_OPTION_END);
	if (!m->httpd) {
		/* libmicrohttpd said why through the logger; the errno is
		 * bind()'s when the address was the trouble. */
		int err = errno ? -errno : -EADDRNOTAVAIL;

		log_printf(LOG_LEVEL_ERROR, "guestmm: metrics: cannot serve HTTP on %s: %s",
			   listen, strerror(-err));
		return err;
	}
	info = MHD_get_daemon_info(m->httpd, MHD_DAEMON_INFO_BIND_PORT);
	if (ss.ss_family == AF_INET6) {
		inet_ntop(AF_INET6, &((struct sockaddr_in6 *)&ss)->sin6_addr, host, sizeof(host));
		snprintf(m->address, sizeof(m->address), "[%s]:%u", host,
			 info ? info->port : 0);
	} else {
		inet_ntop(AF_INET, &((struct sockaddr_in *)&ss)->sin_addr, host, sizeof(host));
		snprintf(m->address, sizeof(m->address), "%s:%u", host, info ? info->port : 0);
	}
	log_printf(LOG_LEVEL_INFO, "guestmm: metrics on http://%s/metrics", m->address);
	return 0;
}

int metrics_start(const struct metrics_config *cfg, struct control *c,
		  struct metrics **out)
{
	struct metrics *m = calloc(1, sizeof(*m));
	pthread_condattr_t ca;
	int err;

	if (!m) {
		log_printf(LOG_LEVEL_ERROR, "guestmm: metrics: out of memory");
		return -ENOMEM;
	}
	m->control = c;
	m->interval_s = cfg->file_interval_s;
	pthread_mutex_init(&m->lock, NULL);
	pthread_condattr_init(&ca);
	pthread_condattr_setclock(&ca, CLOCK_MONOTONIC);
	pthread_cond_init(&m->wake, &ca);
	pthread_condattr_destroy(&ca);
	if (cfg->listen) {
		err = metrics_httpd_start(m, cfg->listen);
		if (err)
			goto undo_alloc;
	}
	if (cfg->file) {
		m->file = strdup(cfg->file);
		if (!m->file) {
			err = -ENOMEM;
			log_printf(LOG_LEVEL_ERROR, "guestmm: metrics: out of memory");
			goto undo_httpd;
		}
		err = metrics_file_write(m);
		if (err) {
			log_printf(LOG_LEVEL_ERROR, "guestmm: metrics: cannot write --metrics-file %s: %s",
				   m->file, strerror(-err));
			goto undo_file;
		}
		err = -pthread_create(&m->writer, NULL, metrics_writer, m);
		if (err) {
			log_printf(LOG_LEVEL_ERROR, "guestmm: metrics: no thread for %s: %s",
				   m->file, strerror(-err));
			goto undo_file;
		}
		m->writer_started = true;
		log_printf(LOG_LEVEL_INFO, "guestmm: metrics written to %s every %u s",
			   m->file, m->interval_s);
	}
	*out = m;
	return 0;

undo_file:
	free(m->file);
undo_httpd:
	if (m->httpd)
		MHD_stop_daemon(m->httpd);
undo_alloc:
	pthread_cond_destroy(&m->wake);
	pthread_mutex_destroy(&m->lock);
	free(m);
	return err;
}

const char *metrics_address(const struct metrics *m)
{
	return m->address;
}

void metrics_stop(struct metrics *m)
{
	if (!m)
		return;
	if (m->httpd)
		MHD_stop_daemon(m->httpd);
	if (m->writer_started) {
		int err;

		pthread_mutex_lock(&m->lock);
		m->stop = true;
		pthread_cond_signal(&m->wake);
		pthread_mutex_unlock(&m->lock);
		pthread_join(m->writer, NULL);
		/* The figures as the host leaves them. */
		err = metrics_file_write(m);
		if (err)
			log_printf(LOG_LEVEL_WARNING, "guestmm: metrics: cannot write %s at exit: %s",
				   m->file, strerror(-err));
	}
	free(m->file);
	pthread_cond_destroy(&m->wake);
	pthread_mutex_destroy(&m->lock);
	free(m);
}
