/*
 * metrics.h - the host's figures in Prometheus' text exposition format
 * (version 0.0.4): over HTTP at /metrics (--metrics ADDR:PORT) and as a
 * file for node_exporter's textfile collector (--metrics-file PATH).
 *
 * The figures are those the control socket's query-guests reads
 * (control_guests_read(), control_budget_get()): one source for both.
 * Every name is in docs/guestmm.1 (METRICS).
 *
 * HTTP is libmicrohttpd's, on its own thread: a scrape takes control.lock
 * and each balloon's lock for a struct copy, as a control command does,
 * and no device thread ever waits on it.  A client that connects and
 * sends nothing, or never reads, holds one of METRICS_CONNECTIONS_MAX
 * connections until METRICS_TIMEOUT_S and nothing else.
 */
#ifndef GUESTMM_HOST_METRICS_H
#define GUESTMM_HOST_METRICS_H

#include <stddef.h>
#include <sys/socket.h>

struct control;
struct metrics;

#define METRICS_CONNECTIONS_MAX 32
#define METRICS_TIMEOUT_S 10

struct metrics_config {
	const char *listen;	/* "[ADDR:]PORT"; NULL: no HTTP */
	const char *file;	/* NULL: no file */
	unsigned int file_interval_s;	/* the file's period, > 0 */
};

/*
 * metrics_parse_address - "PORT" (on 127.0.0.1), "ADDR:PORT" or
 * "[IPV6]:PORT"; ADDR numeric or a name; PORT 0 to 65535 (0: any free).
 * Return: 0 with @ss and @len set; -EINVAL with a reason in @why.
 */
int metrics_parse_address(const char *s, struct sockaddr_storage *ss,
			  socklen_t *len, char *why, size_t why_len);

/*
 * metrics_render - the exposition of @c's figures now, NUL-terminated, to
 * free(); *@len its length.
 * Return: the text; NULL out of memory.
 */
char *metrics_render(struct control *c, size_t *len);

/*
 * metrics_start - serve @cfg for @c: listen for HTTP, write the file once
 * (so a bad path fails here), then every @file_interval_s; an info line
 * names the address.  @c must outlive it (metrics_stop() first).
 * Return: 0; -EADDRINUSE and the like (the listen failed); -errno of the
 * file's first write; -ENOMEM; -EAGAIN (no thread) -- each with one line
 * on stderr.
 */
int metrics_start(const struct metrics_config *cfg, struct control *c,
		  struct metrics **out);

/* The address served, "127.0.0.1:9100" or "[::1]:9100"; "" with no HTTP. */
const char *metrics_address(const struct metrics *m);

/* Stop serving; write the file a last time.  NULL: nothing. */
void metrics_stop(struct metrics *m);

#endif
