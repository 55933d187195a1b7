/*
 * qmp.c - the QMP client (qmp.h).  QEMU writes each message as one line of
 * JSON ending in CRLF; commands are answered in order, with events ("event":
 * BALLOON_CHANGE and the like) interleaved, which are skipped here.  A line
 * is told by its members (json-c), never by the words in it: an event's
 * data may say "return" (a guest of that name) and an error's text "event".
 */
#ifndef _GNU_SOURCE
#define _GNU_SOURCE
#endif
#include "runner/qmp.h"

#include <errno.h>
#include <fcntl.h>
#include <json-c/json.h>
#include <poll.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <time.h>
#include <unistd.h>

#include "host/line_buf.h"

static long qmp_now_ms(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

/* The next line into @line (NUL-terminated, truncated to @len).
 * Return: 0; -ETIMEDOUT; -EPIPE; -EMSGSIZE for a line over the buffer. */
static int qmp_read_line(struct qmp *q, char *line, size_t len, long deadline)
{
	for (;;) {
		struct pollfd p = { q->fd, POLLIN, 0 };
		long left;
		ssize_t r;

		if (line_buf_take(q->buf, &q->used, line, len))
			return 0;
		if (q->used == sizeof(q->buf))
			return -EMSGSIZE;
		left = deadline - qmp_now_ms();
		if (left <= 0)
			return -ETIMEDOUT;
		if (poll(&p, 1, (int)left) < 0) {
			if (errno == EINTR)
				continue;
			return -errno;
		}
		if (!p.revents)
			continue;
		r = read(q->fd, q->buf + q->used, sizeof(q->buf) - q->used);
		if (r == 0)
			return -EPIPE;
		if (r < 0) {
			if (errno == EINTR || errno == EAGAIN)
				continue;
			/* A peer gone with our command unread resets. */
			return errno == ECONNRESET ? -EPIPE : -errno;
		}
		q->used += (size_t)r;
	}
}

static int qmp_write(struct qmp *q, const char *cmd)
{
	size_t n = strlen(cmd), done = 0;

	while (done < n) {
		ssize_t w = send(q->fd, cmd + done, n - done, MSG_NOSIGNAL);

		if (w < 0) {
			if (errno == EINTR)
				continue;
			return errno == EPIPE || errno == ECONNRESET ? -EPIPE
								     : -errno;
		}
		done += (size_t)w;
	}
	return 0;
}

enum qmp_kind { QMP_ANSWER, QMP_ERROR, QMP_EVENT, QMP_OTHER };

/* What @line is, by its top-level members. */
static enum qmp_kind qmp_classify(const char *line)
{
	struct json_object *o = json_tokener_parse(line);
	enum qmp_kind k = QMP_OTHER;

	if (o && json_object_is_type(o, json_type_object)) {
		if (json_object_object_get_ex(o, "return", NULL))
			k = QMP_ANSWER;
		else if (json_object_object_get_ex(o, "error", NULL))
			k = QMP_ERROR;
		else if (json_object_object_get_ex(o, "event", NULL))
			k = QMP_EVENT;
	}
	json_object_put(o);
	return k;
}

int qmp_execute(struct qmp *q, const char *cmd, char *reply, size_t len,
		int timeout_ms)
{
	long deadline = qmp_now_ms() + timeout_ms;
	char line[sizeof(q->buf)];
	enum qmp_kind kind;
	int err = qmp_write(q, cmd);

	if (err)
		return err;
	for (;;) {
		err = qmp_read_line(q, line, sizeof(line), deadline);
		if (err)
			return err;
		kind = qmp_classify(line);
		if (kind == QMP_EVENT)
			continue;
		if (reply && len)
			snprintf(reply, len, "%s", line);
		if (kind == QMP_ANSWER)
			return 0;
		if (kind == QMP_ERROR)
			return -EREMOTEIO;
		/* Anything else is not an answer of QMP's. */
		return -EPROTO;
	}
}

int qmp_connect(struct qmp *q, const char *path, int timeout_ms)
{
	long deadline = qmp_now_ms() + timeout_ms;
	struct sockaddr_un sa = { .sun_family = AF_UNIX };
	char line[4096];
	int err;

	if (strlen(path) >= sizeof(sa.sun_path))
		return -ENAMETOOLONG;
	strcpy(sa.sun_path, path);
	q->used = 0;
	for (;;) {
		/* Non-blocking: a listener whose backlog is full (a host that
		 * hangs) answers EAGAIN where a blocking connect() would wait
		 * past any deadline. */
		q->fd = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC | SOCK_NONBLOCK, 0);
		if (q->fd < 0)
			return -errno;
		if (!connect(q->fd, (struct sockaddr *)&sa, sizeof(sa)))
			break;
		err = -errno;
		close(q->fd);
		q->fd = -1;
		/* QEMU makes its socket while it starts. */
		if ((err != -ENOENT && err != -ECONNREFUSED && err != -EAGAIN) ||
		    qmp_now_ms() >= deadline)
			return err == -ENOENT || err == -ECONNREFUSED || err == -EAGAIN
				       ? -ETIMEDOUT
				       : err;
		usleep(20000);
	}
	/* Reads poll with the deadline; a command's write may block. */
	if (fcntl(q->fd, F_SETFL, fcntl(q->fd, F_GETFL) & ~O_NONBLOCK) < 0) {
		err = -errno;
		qmp_close(q);
		return err;
	}
	err = qmp_read_line(q, line, sizeof(line), deadline);
	if (!err && strncmp(line, "{\"QMP\"", 6))
		err = -EPROTO;
	if (!err)
		/* A line: QEMU reads a stream, guestmm's control lines. */
		err = qmp_execute(q, "{\"execute\": \"qmp_capabilities\"}\n",
				  line, sizeof(line),
				  (int)(deadline - qmp_now_ms() > 1000
						? deadline - qmp_now_ms() : 1000));
	if (err)
		qmp_close(q);
	return err;
}

int qmp_read_message(struct qmp *q, char *line, size_t len, int timeout_ms)
{
	return qmp_read_line(q, line, len, qmp_now_ms() + timeout_ms);
}

void qmp_close(struct qmp *q)
{
	if (q->fd >= 0)
		close(q->fd);
	q->fd = -1;
}

bool qmp_get_u64(const char *json, const char *key, uint64_t *v)
{
	char pat[80];
	const char *p;
	char *end;
	unsigned long long x;

	snprintf(pat, sizeof(pat), "\"%s\":", key);
	p = strstr(json, pat);
	if (!p)
		return false;
	p += strlen(pat);
	while (*p == ' ')
		p++;
	if (*p < '0' || *p > '9')
		return false;
	errno = 0;
	x = strtoull(p, &end, 10);
	if (errno || (*end != ',' && *end != '}' && *end != ' '))
		return false;
	*v = x;
	return true;
}
