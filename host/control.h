/*
 * control.h - the host's control socket: operators drive the balloons of
 * a running host through it, as they drive QEMU's through QMP.
 *
 * JSON, one object a line, in QMP's shape: the server greets with
 * {"QMP": {...}}, a client negotiates with qmp_capabilities, then sends
 * {"execute": NAME, "arguments": {...}, "id": ANY} and gets
 * {"return": ...} or {"error": {"class": ..., "desc": ...}}, with the id
 * echoed; events ({"event": NAME, "data": {...}, "timestamp": {...}})
 * come between answers.  The commands and their meaning are in
 * docs/guestmm.1 (CONTROL PROTOCOL).
 *
 * Guests are addressed by name; a host with one guest needs no name.
 */
#ifndef GUESTMM_HOST_CONTROL_H
#define GUESTMM_HOST_CONTROL_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "host/balloon.h"

struct balloon_dev;
struct control;

/* The longest command line a client may send, newline included. */
#define CONTROL_LINE_MAX 4096
/* What a client may leave unread before it is dropped. */
#define CONTROL_OUT_MAX (64 * 1024)
#define CONTROL_CLIENTS_MAX 64
#define CONTROL_GUESTS_MAX 64
#define CONTROL_NAME_MAX 24

/*
 * control_start - listen on @path (unix_socket.h: its lock, a stale socket
 * replaced, a live one refused) and start the thread that serves it.
 * Return: 0; -ENOMEM; -EAGAIN (no thread); unix_socket_listen()'s errors
 * (with a line on stderr).
 */
int control_start(const char *path, struct control **out);

/*
 * control_guest_add - serve guest @name's balloon @b, whose RAM is
 * @ram_bytes (0: the size of the memory table its frontend shares).  @b
 * must outlive the control (control_stop() first).
 * Return: the guest's index; -ENOSPC past CONTROL_GUESTS_MAX; -EINVAL a
 * name empty, too long or taken.
 */
int control_guest_add(struct control *c, const char *name,
		      struct balloon_dev *b, uint64_t ram_bytes);

/*
 * control_guest_end - guest @idx has ended, @state ("killed", "exited")
 * and @why in words: query-guests says so and a GUEST_ENDED event goes out.
 */
void control_guest_end(struct control *c, int idx, const char *state,
		       const char *why);

/*
 * control_event_post - send event @name with @data_json (a JSON object's
 * text) to every client, from any thread: it goes out with the next
 * sampling round, after that round's own events.
 * Return: 0; -EINVAL a bad name or data that is no JSON object.
 */
int control_event_post(struct control *c, const char *name,
		       const char *data_json);

/*
 * One guest as query-guests and the metrics see it: the table's entry and
 * its balloon's figures, read together under control.lock.
 */
struct control_guest_view {
	char name[CONTROL_NAME_MAX];
	char state[16];		/* "running", "killed", "exited" */
	uint64_t ram_bytes;	/* as configured, else the memory table's */
	uint64_t kills;		/* times the budget killed it: 0 or 1 */
	struct balloon_stats st;
};

/* The budget the guests run under, as its owner last published it. */
struct control_budget {
	bool set;		/* false: no budget (--listen, --linux) */
	uint64_t limit_bytes;
	uint64_t usage_bytes;
	uint64_t kills;		/* guests the budget killed */
};

/*
 * control_guests_read - the guests now: up to @max into @v, in the order
 * they were added.  Holds control.lock, then each balloon's lock for a
 * struct copy, as query-guests does; never waits on a device thread.
 * Return: how many guests there are (more than @max: only @max filled).
 */
unsigned int control_guests_read(struct control *c, struct control_guest_view *v,
				 unsigned int max);

/* control_budget_set/get - the budget's state, published by the thread
 * that owns it (a fleet's) and read by query-guests' readers. */
void control_budget_set(struct control *c, const struct control_budget *b);
void control_budget_get(struct control *c, struct control_budget *b);

/* Stop the thread, drop every client, remove the socket. */
void control_stop(struct control *c);

/*
 * control_handle_line - one command line of a negotiated client, answered
 * into @out (NUL-terminated, at most @len).  For tests and the fuzzer: what
 * the server does with a line, without a socket; events are not sent.
 */
void control_handle_line(struct control *c, const char *line, size_t n,
			 char *out, size_t len);

#endif
