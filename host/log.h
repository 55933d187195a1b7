/*
 * log.h - the host's log lines: a level each, a real timestamp each, and
 * nothing below the level the operator chose (--log-level).
 *
 * A line goes to stderr as
 *
 *     2026-12-07T18:01:02.345Z warning: guestmm: control: client 3 dropped ...
 *
 * (ISO 8601, UTC, milliseconds), or, when stderr is the systemd journal
 * (JOURNAL_STREAM names stderr's device and inode), as "<4>guestmm: ..."
 * with no timestamp: journald stamps each line itself and reads the
 * priority from the "<N>" prefix (sd-daemon(3)).
 *
 * log_stream() gives a FILE for code that writes lines to a FILE (the
 * fleet's event lines, the host's own error lines through stderr): each
 * line written to it becomes one log line at its level.
 */
#ifndef GUESTMM_HOST_LOG_H
#define GUESTMM_HOST_LOG_H

#include <stdbool.h>
#include <stdio.h>

/* syslog's numbers, which the journal's "<N>" prefix uses. */
enum log_level {
	LOG_LEVEL_ERROR = 3,
	LOG_LEVEL_WARNING = 4,
	LOG_LEVEL_INFO = 6,
	LOG_LEVEL_DEBUG = 7,
};

/*
 * log_level_parse - "error", "warning", "info" or "debug".
 * Return: 0 with *@out set; -EINVAL any other word.
 */
int log_level_parse(const char *word, enum log_level *out);

/* Lines below @level are dropped from now on (the default: info). */
void log_set_level(enum log_level level);
bool log_enabled(enum log_level level);

/* log_printf - one line at @level (a trailing newline is added). */
void log_printf(enum log_level level, const char *fmt, ...)
	__attribute__((format(printf, 2, 3)));

/*
 * log_stream - a stream each of whose lines is logged at @level, line
 * buffered; the caller fcloses it (a last line without a newline is
 * logged then).
 * Return: the stream; NULL with errno set.
 */
FILE *log_stream(enum log_level level);

/*
 * log_stream_held - as log_stream(), but its lines go out as written (no
 * time, no level, whatever the level) until log_streams_release(): a
 * command's stderr can become such a stream before any thread starts, and
 * its failures to start stay plain one-line errors.
 */
FILE *log_stream_held(enum log_level level);
void log_streams_release(void);

#endif
