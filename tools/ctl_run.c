/*
 * ctl_run.c - what `guestmm ctl` sends and prints (ctl.h): the commands as
 * json-c builds them, the answers as json-c reads them.
 */
#define _GNU_SOURCE
#include "tools/ctl.h"

#include <errno.h>
#include <json-c/json.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

atomic_bool ctl_interrupted;
static ctl_fmt_bytes_fn *fmt_bytes;

/* An argument for @cmd's JSON: escaped by json-c. */
static char *ctl_command(const char *execute, const char *guest,
			 const char *key, uint64_t value)
{
	struct json_object *o = json_object_new_object(), *a = json_object_new_object();
	char *s;

	json_object_object_add(o, "execute", json_object_new_string(execute));
	if (guest)
		json_object_object_add(a, "guest", json_object_new_string(guest));
	if (key)
		json_object_object_add(a, key, json_object_new_uint64(value));
	json_object_object_add(o, "arguments", a);
	if (asprintf(&s, "%s\n", json_object_to_json_string_ext(o, JSON_C_TO_STRING_PLAIN)) < 0)
		s = NULL;
	json_object_put(o);
	return s;
}

/*
 * Run @execute; its return value, of type @want, in *@ret (the caller's to
 * put).  The printers walk it, and json-c asserts (aborts) on an array
 * read as an object or back: a host's answer of another shape is refused.
 * Return: 0; 1 after one line on stderr.
 */
static int ctl_call(struct qmp *q, const char *sock, const char *execute,
		    const char *guest, const char *key, uint64_t value,
		    int timeout_ms, enum json_type want, struct json_object **ret)
{
	static char reply[sizeof(((struct qmp *)0)->buf)];
	char *cmd = ctl_command(execute, guest, key, value);
	struct json_object *ans, *v, *desc;
	int err;

	if (!cmd) {
		fprintf(stderr, "guestmm: ctl: out of memory\n");
		return 1;
	}
	err = qmp_execute(q, cmd, reply, sizeof(reply), timeout_ms);
	free(cmd);
	if (err && err != -EREMOTEIO) {
		fprintf(stderr, "guestmm: ctl: %s: %s\n", sock,
			err == -ETIMEDOUT ? "the host did not answer in time (--timeout)"
			: err == -EPIPE	  ? "the host closed the connection"
			: err == -EPROTO  ? "not an answer of the control protocol"
					  : strerror(-err));
		return 1;
	}
	ans = json_tokener_parse(reply);
	if (!ans) {
		fprintf(stderr, "guestmm: ctl: %s: an answer that is not JSON\n", sock);
		return 1;
	}
	if (err) {
		const char *d = "refused";

		if (json_object_object_get_ex(ans, "error", &v) &&
		    json_object_object_get_ex(v, "desc", &desc))
			d = json_object_get_string(desc);
		fprintf(stderr, "guestmm: ctl: %s: %s\n", execute, d);
		json_object_put(ans);
		return 1;
	}
	if (!json_object_object_get_ex(ans, "return", &v)) {
		fprintf(stderr, "guestmm: ctl: %s: an answer without a return value\n", sock);
		json_object_put(ans);
		return 1;
	}
	if (!json_object_is_type(v, want)) {
		fprintf(stderr, "guestmm: ctl: %s: %s answered %s, not %s\n", sock, execute,
			json_type_to_name(json_object_get_type(v)),
			want == json_type_array ? "an array" : "an object");
		json_object_put(ans);
		return 1;
	}
	*ret = json_object_get(v);
	json_object_put(ans);
	return 0;
}

static uint64_t ctl_u64(struct json_object *o, const char *key, bool *have)
{
	struct json_object *v;

	*have = json_object_object_get_ex(o, key, &v) &&
		json_object_is_type(v, json_type_int) && json_object_get_int64(v) >= 0;
	return *have ? json_object_get_uint64(v) : 0;
}

static const char *ctl_bytes(char *buf, size_t len, struct json_object *o,
			     const char *key)
{
	bool have;
	uint64_t v = ctl_u64(o, key, &have);

	return have ? fmt_bytes(buf, len, (double)v) : "-";
}

static void ctl_print_stats(struct json_object *bal, struct json_object *st)
{
	char a[32], b[32], c[32], d[32], e[32], when[64] = "never";
	struct json_object *stats, *v;
	bool have;
	int64_t last;

	printf("guest %s: RAM %s, actual %s, target %s (balloon %s, asked %s)\n",
	       json_object_object_get_ex(st, "guest", &v) ? json_object_get_string(v) : "?",
	       ctl_bytes(a, sizeof(a), bal, "ram"), ctl_bytes(b, sizeof(b), bal, "actual"),
	       ctl_bytes(c, sizeof(c), bal, "target"),
	       ctl_bytes(d, sizeof(d), bal, "balloon-actual"),
	       ctl_bytes(e, sizeof(e), bal, "balloon-target"));
	if (json_object_object_get_ex(st, "stats", &stats)) {
		json_object_object_foreach(stats, key, val) {
			int64_t x = json_object_get_int64(val);

			if (x < 0)
				printf("  %-22s -\n", key);
			else
				printf("  %-22s %llu\n", key,
				       (unsigned long long)json_object_get_uint64(val));
		}
	}
	last = json_object_object_get_ex(st, "last-update", &v) ? json_object_get_int64(v) : 0;
	if (last > 0) {
		time_t t = (time_t)last;
		struct tm tm;

		gmtime_r(&t, &tm);
		strftime(when, sizeof(when), "%Y-%m-%d %H:%M:%S UTC", &tm);
	}
	printf("  last update %s (%llu updates; polling interval %g s)\n", when,
	       (unsigned long long)ctl_u64(st, "updates", &have),
	       json_object_object_get_ex(st, "polling-interval", &v) ? json_object_get_double(v) : 0);
}

static void ctl_print_guests(struct json_object *list)
{
	printf("%-24s %-8s %-5s %10s %10s %10s %10s\n", "NAME", "STATE", "UP",
	       "RAM", "ACTUAL", "TARGET", "RESIDENT");
	for (size_t i = 0; i < json_object_array_length(list); i++) {
		struct json_object *g = json_object_array_get_idx(list, i), *v;
		char a[32], b[32], c[32], d[32];

		printf("%-24s %-8s %-5s %10s %10s %10s %10s\n",
		       json_object_object_get_ex(g, "name", &v) ? json_object_get_string(v) : "?",
		       json_object_object_get_ex(g, "state", &v) ? json_object_get_string(v) : "?",
		       json_object_object_get_ex(g, "connected", &v) && json_object_get_boolean(v)
			       ? "yes" : "no",
		       ctl_bytes(a, sizeof(a), g, "ram"), ctl_bytes(b, sizeof(b), g, "actual"),
		       ctl_bytes(c, sizeof(c), g, "target"),
		       ctl_bytes(d, sizeof(d), g, "resident"));
	}
}

static void ctl_print_json(struct json_object *o)
{
	puts(json_object_to_json_string_ext(o, JSON_C_TO_STRING_PRETTY |
						       JSON_C_TO_STRING_SPACED));
}

/* Events until the host goes or SIGINT.  Return: 0; 1 after one line. */
static int ctl_watch(struct qmp *q, const char *sock)
{
	static char line[sizeof(((struct qmp *)0)->buf)];

	while (!atomic_load(&ctl_interrupted)) {
		int err = qmp_read_message(q, line, sizeof(line), 250);

		if (err == -ETIMEDOUT || err == -EINTR)
			continue;
		if (err == -EPIPE)
			return 0; /* the host ended: so does the watch */
		if (err) {
			fprintf(stderr, "guestmm: ctl: %s: %s\n", sock, strerror(-err));
			return 1;
		}
		puts(line);
		fflush(stdout);
	}
	return 0;
}

int ctl_run(struct qmp *q, const char *sock, const char *what,
	    const char *guest, uint64_t size, bool json, int timeout_ms,
	    ctl_fmt_bytes_fn *fmt)
{
	struct json_object *r1 = NULL, *r2 = NULL, *v;
	int rc;

	fmt_bytes = fmt;
	if (!strcmp(what, "watch")) {
		rc = ctl_watch(q, sock);
	} else if (!strcmp(what, "target")) {
		rc = ctl_call(q, sock, "balloon", guest, "value", size, timeout_ms,
			      json_type_object, &r1);
	} else if (!strcmp(what, "release")) {
		rc = ctl_call(q, sock, "balloon-release", guest, NULL, 0, timeout_ms,
			      json_type_object, &r1);
	} else if (!strcmp(what, "guests")) {
		rc = ctl_call(q, sock, "query-guests", NULL, NULL, 0, timeout_ms,
			      json_type_array, &r1);
		if (!rc && json)
			ctl_print_json(r1);
		else if (!rc)
			ctl_print_guests(r1);
	} else {
		rc = ctl_call(q, sock, "query-balloon", guest, NULL, 0, timeout_ms,
			      json_type_object, &r1);
		if (!rc)
			rc = ctl_call(q, sock, "query-balloon-stats", guest, NULL, 0,
				      timeout_ms, json_type_object, &r2);
		if (!rc && json_object_object_get_ex(r2, "stats", &v) &&
		    !json_object_is_type(v, json_type_object)) {
			fprintf(stderr, "guestmm: ctl: %s: query-balloon-stats answered stats that are not an object\n",
				sock);
			rc = 1;
		}
		if (!rc && json) {
			json_object_object_add(r2, "balloon", json_object_get(r1));
			ctl_print_json(r2);
		} else if (!rc) {
			ctl_print_stats(r1, r2);
		}
	}
	json_object_put(r1);
	json_object_put(r2);
	return rc;
}
