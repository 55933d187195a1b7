/*
 * qmp.h - a small client of QEMU's machine protocol (QMP): one JSON object a
 * line over a Unix socket.  Enough for the runner: the greeting, capability
 * negotiation, a command and its answer (asynchronous events in between are
 * skipped), and reading a number out of the answer by its key.
 */
#ifndef GUESTMM_RUNNER_QMP_H
#define GUESTMM_RUNNER_QMP_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

struct qmp {
	int fd;
	size_t used;
	char buf[16384];	/* what was read past the last line */
};

/*
 * qmp_connect - connect to @path (retrying while QEMU has not made it yet,
 * or while its listener's backlog is full, up to @timeout_ms), read the
 * greeting and leave negotiation mode.
 * Return: 0; -ETIMEDOUT; -EPROTO for a peer that does not greet as QMP;
 * another -errno.
 */
int qmp_connect(struct qmp *q, const char *path, int timeout_ms);

void qmp_close(struct qmp *q);

/*
 * qmp_execute - send @cmd (a whole JSON object) and wait up to @timeout_ms
 * for its answer, copied to @reply (the line, truncated to @len).
 * Return: 0 for a "return"; -EREMOTEIO for an "error" (the line is in
 * @reply); -ETIMEDOUT; -EPIPE when QEMU closed the socket; another -errno.
 */
int qmp_execute(struct qmp *q, const char *cmd, char *reply, size_t len,
		int timeout_ms);

/*
 * qmp_read_message - the next line the peer sent, whatever it is (an event,
 * for a client that only listens), into @line (truncated to @len).
 * Return: 0; -ETIMEDOUT after @timeout_ms; -EPIPE when the peer closed;
 * -EMSGSIZE for a line longer than the client's buffer; another -errno.
 */
int qmp_read_message(struct qmp *q, char *line, size_t len, int timeout_ms);

/*
 * qmp_get_u64 - the unsigned integer after "@key": in @json (the first
 * occurrence; QMP's keys in the answers the runner reads are unique).
 * Return: true with *@v set; false when the key is absent or its value is
 * not an unsigned integer.
 */
bool qmp_get_u64(const char *json, const char *key, uint64_t *v);

#endif
