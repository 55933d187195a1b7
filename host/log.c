/*
 * log.c - the host's log lines (log.h).
 *
 * A line is formatted whole into a buffer and written with one write(2)
 * to descriptor 2, so lines from several threads never interleave within
 * a line (a pipe or the journal's stream socket takes up to PIPE_BUF bytes
 * atomically; ours are shorter) and no stdio lock is shared with anyone.
 * The level is an atomic: set once at start, read by every thread.
 */
#ifndef _GNU_SOURCE
#define _GNU_SOURCE
#endif
#include "host/log.h"

#include <errno.h>
#include <stdarg.h>
#include <stdatomic.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/types.h>
#include <time.h>
#include <unistd.h>

/* A line longer than this is cut: our lines are one sentence. */
#define LOG_LINE_MAX 1024

static atomic_int log_min = LOG_LEVEL_INFO;
/* log_stream_held()'s streams are plain until this is set. */
static atomic_bool log_released;
/* -1: not looked at yet; 0: a terminal or file; 1: the journal. */
static atomic_int log_journal = -1;

static const struct {
	const char *word;
	enum log_level level;
} log_words[] = {
	{ "error", LOG_LEVEL_ERROR },
	{ "warning", LOG_LEVEL_WARNING },
	{ "info", LOG_LEVEL_INFO },
	{ "debug", LOG_LEVEL_DEBUG },
};

int log_level_parse(const char *word, enum log_level *out)
{
	for (size_t i = 0; i < sizeof(log_words) / sizeof(log_words[0]); i++)
		if (!strcmp(word, log_words[i].word)) {
			*out = log_words[i].level;
			return 0;
		}
	return -EINVAL;
}

static const char *log_word(enum log_level level)
{
	for (size_t i = 0; i < sizeof(log_words) / sizeof(log_words[0]); i++)
		if (log_words[i].level == level)
			return log_words[i].word;
	return "info";
}

void log_set_level(enum log_level level)
{
	atomic_store(&log_min, (int)level);
}

bool log_enabled(enum log_level level)
{
	return (int)level <= atomic_load(&log_min);
}

/* systemd sets JOURNAL_STREAM=DEV:INO for a stderr connected to journald;
 * a stderr redirected since (by us or a shell) no longer matches. */
static bool log_to_journal(void)
{
	int j = atomic_load(&log_journal);

	if (j < 0) {
		const char *env = getenv("JOURNAL_STREAM");
		unsigned long long dev, ino;
		struct stat sb;

		j = env && sscanf(env, "%llu:%llu", &dev, &ino) == 2 &&
		    !fstat(2, &sb) && (unsigned long long)sb.st_dev == dev &&
		    (unsigned long long)sb.st_ino == ino;
		atomic_store(&log_journal, j);
	}
	return j;
}

static void log_write(enum log_level level, const char *msg, size_t n)
{
	char line[LOG_LINE_MAX + 64];
	size_t len, off = 0;

	if (!log_enabled(level))
		return;
	if (n > LOG_LINE_MAX)
		n = LOG_LINE_MAX;
	if (log_to_journal()) {
		len = (size_t)snprintf(line, sizeof(line), "<%d>", (int)level);
	} else {
		struct timespec now;
		struct tm tm;

		clock_gettime(CLOCK_REALTIME, &now);
		gmtime_r(&now.tv_sec, &tm);
		len = strftime(line, sizeof(line), "%Y-%m-%dT%H:%M:%S", &tm);
		len += (size_t)snprintf(line + len, sizeof(line) - len, ".%03ldZ %s: ",
					now.tv_nsec / 1000000, log_word(level));
	}
	memcpy(line + len, msg, n);
	len += n;
	line[len++] = '\n';
	while (off < len) {
		ssize_t w = write(2, line + off, len - off);

		if (w < 0 && errno == EINTR)
			continue;
		if (w <= 0)
			return;	/* stderr gone: nowhere to say so */
		off += (size_t)w;
	}
}

void log_printf(enum log_level level, const char *fmt, ...)
{
	char msg[LOG_LINE_MAX + 1];
	va_list ap;
	int n;

	if (!log_enabled(level))
		return;
	va_start(ap, fmt);
	n = vsnprintf(msg, sizeof(msg), fmt, ap);
	va_end(ap);
	if (n < 0)
		return;
	log_write(level, msg, strnlen(msg, sizeof(msg) - 1));
}

/* ---- a stream of lines ---- */

struct log_cookie {
	enum log_level level;
	bool held;		/* plain until log_streams_release() */
	size_t used;
	char buf[LOG_LINE_MAX];
};

/* A held stream's line before the release: as written. */
static void log_write_plain(const char *msg, size_t n)
{
	char line[LOG_LINE_MAX + 1];
	size_t off = 0;

	memcpy(line, msg, n);
	line[n++] = '\n';
	while (off < n) {
		ssize_t w = write(2, line + off, n - off);

		if (w < 0 && errno == EINTR)
			continue;
		if (w <= 0)
			return;
		off += (size_t)w;
	}
}

static void log_cookie_line(struct log_cookie *lc)
{
	if (lc->held && !atomic_load(&log_released))
		log_write_plain(lc->buf, lc->used);
	else
		log_write(lc->level, lc->buf, lc->used);
	lc->used = 0;
}

static ssize_t log_cookie_write(void *arg, const char *data, size_t n)
{
	struct log_cookie *lc = arg;

	for (size_t i = 0; i < n; i++) {
		if (data[i] == '\n') {
			log_cookie_line(lc);
		} else if (lc->used < sizeof(lc->buf)) {
			lc->buf[lc->used++] = data[i];
		}
	}
	return (ssize_t)n;
}

static int log_cookie_close(void *arg)
{
	struct log_cookie *lc = arg;

	if (lc->used)
		log_cookie_line(lc);
	free(lc);
	return 0;
}

static FILE *log_stream_new(enum log_level level, bool held)
{
	static const cookie_io_functions_t io = {
		.write = log_cookie_write,
		.close = log_cookie_close,
	};
	struct log_cookie *lc = calloc(1, sizeof(*lc));
	FILE *f;

	if (!lc)
		return NULL;
	lc->level = level;
	lc->held = held;
	f = fopencookie(lc, "w", io);
	if (!f) {
		free(lc);
		return NULL;
	}
	setvbuf(f, NULL, _IOLBF, 0);
	return f;
}

FILE *log_stream(enum log_level level)
{
	return log_stream_new(level, false);
}

FILE *log_stream_held(enum log_level level)
{
	return log_stream_new(level, true);
}

void log_streams_release(void)
{
	atomic_store(&log_released, true);
}
