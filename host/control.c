/*
 * control.c - the host's control socket (control.h).
 *
 * One thread, the control thread, serves the socket: it accepts, reads,
 * answers, and samples the devices for events, all from one poll() loop
 * over non-blocking descriptors.  It never waits on a device thread and no
 * device thread waits on it: it reads a device only through
 * balloon_get_stats() (the balloon's own lock, held for a struct copy) and
 * steers it through balloon_set_target() and balloon_set_stats_interval()
 * (that lock, then an atomic flag and a wake of the device's thread, which
 * tells the driver).  A client that asks and does not read only fills its
 * own output buffer, bounded by CONTROL_OUT_MAX; past it the client is
 * dropped with a line on stderr, and the others and the devices go on.
 *
 * The JSON is read by json-c (its tokener bounded in depth, strict, UTF-8
 * checked) from lines of at most CONTROL_LINE_MAX bytes: a longer line is
 * answered with an error and skipped up to its newline.
 *
 * Lock order: control.lock, then a balloon's lock.  control.lock protects
 * the guest table (@guests, @nr_guests and each guest's @state, @why and
 * @ended), @budget and the events posted by other threads (@posted, @nr_posted,
 * @posted_lost); the thread that adds guests and ends them takes it, the
 * control thread holds it for a whole command and for a sampling round,
 * so a command sees one table.  Everything else in struct control belongs
 * to the control thread once it runs.
 */
#ifndef _GNU_SOURCE
#define _GNU_SOURCE
#endif
#include "host/control.h"

#include <errno.h>
#include <inttypes.h>
#include <json-c/json.h>
#include <poll.h>
#include <pthread.h>
#include <stdarg.h>
#include <stdatomic.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/eventfd.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

#include "host/balloon.h"
#include "host/log.h"
#include "host/unix_socket.h"

#define PAGE_BYTES 4096ull
/* Our objects nest three deep; QMP's arguments never deeper than that. */
#define CONTROL_JSON_DEPTH 8
/* How often the devices are sampled for events: an event is at most this
 * late, and a round costs a balloon_get_stats() per guest. */
#define CONTROL_SAMPLE_MS 50
#define CONTROL_STATS_INTERVAL_MAX_S 3600
/* At most one BALLOON_CHANGE a guest in this time, the last value at its
 * end, as QEMU throttles it (monitor_qapi_event_conf): the guest writes
 * actual as often as it likes, and every watcher would get each value
 * a round saw (a busy client makes rounds fast) until it fell behind by
 * CONTROL_OUT_MAX and was dropped. */
#define CONTROL_CHANGE_MS 1000
/* Events posted between two sampling rounds (a policy's decisions: a few
 * a round); past it the oldest are dropped, and counted. */
#define CONTROL_POSTED_MAX 256

struct control_guest {
	char name[CONTROL_NAME_MAX];
	struct balloon_dev *balloon;
	uint64_t ram_bytes;	/* 0: the memory table's size */
	char state[16];		/* "running", or how it ended */
	char why[200];
	bool ended;		/* GUEST_ENDED not yet sent */
	/* Control thread: what the events last said. */
	bool seen;
	bool connected;
	uint32_t actual;	/* in the last BALLOON_CHANGE */
	long change_ms;		/* when that went (CONTROL_CHANGE_MS) */
	uint32_t target;	/* num_pages last seen */
	bool target_pending;	/* TARGET_REACHED not yet sent for @target */
};

struct control_posted {
	char name[32];
	struct json_object *data;
};

struct control_client {
	int fd;
	unsigned int id;
	bool negotiated;	/* qmp_capabilities done: events, commands */
	bool overlong;		/* skipping the rest of a line too long */
	bool drop;		/* over CONTROL_OUT_MAX, or gone */
	size_t in_used;
	char in[CONTROL_LINE_MAX];
	size_t out_used;
	char *out;		/* CONTROL_OUT_MAX */
};

struct control {
	char path[108];
	struct unix_socket_id sock_id;
	int listen_fd;
	int wake_fd;
	pthread_t thread;
	atomic_bool stop;

	pthread_mutex_t lock;	/* see the top of the file */
	unsigned int nr_guests;
	struct control_guest guests[CONTROL_GUESTS_MAX];
	unsigned int nr_posted;
	uint64_t posted_lost;
	struct control_posted posted[CONTROL_POSTED_MAX];
	struct control_budget budget;

	/* The control thread's. */
	unsigned int nr_clients;
	unsigned int next_id;
	bool accept_paused;	/* out of descriptors: the listener rests a round */
	struct control_client *clients[CONTROL_CLIENTS_MAX];
};

/* ---- output ---- */

static void client_flush(struct control_client *cl)
{
	size_t done = 0;

	while (done < cl->out_used) {
		ssize_t w = send(cl->fd, cl->out + done, cl->out_used - done,
				 MSG_NOSIGNAL | MSG_DONTWAIT);

		if (w < 0 && errno == EINTR)
			continue;
		if (w < 0) {
			/* Gone (EPIPE, ECONNRESET): nothing to say. */
			if (errno != EAGAIN && errno != EWOULDBLOCK)
				cl->drop = true;
			break;
		}
		done += (size_t)w;
	}
	memmove(cl->out, cl->out + done, cl->out_used - done);
	cl->out_used -= done;
}

/* Queue @obj as a line; a client with no room for it is dropped. */
static void client_send(struct control_client *cl, struct json_object *obj)
{
	size_t n;
	const char *s = json_object_to_json_string_length(
		obj, JSON_C_TO_STRING_PLAIN | JSON_C_TO_STRING_NOSLASHESCAPE, &n);

	if (cl->drop)
		return;
	if (cl->out_used + n + 1 > CONTROL_OUT_MAX) {
		client_flush(cl);
		if (cl->out_used + n + 1 > CONTROL_OUT_MAX) {
			log_printf(LOG_LEVEL_WARNING, "guestmm: control: client %u dropped: it left %zu bytes of answers and events unread (at most %u)",
				   cl->id, cl->out_used, CONTROL_OUT_MAX);
			cl->drop = true;
			return;
		}
	}
	memcpy(cl->out + cl->out_used, s, n);
	cl->out[cl->out_used + n] = '\n';
	cl->out_used += n + 1;
}

static struct json_object *control_error(const char *class, const char *fmt, ...)
	__attribute__((format(printf, 2, 3)));

/* {"error": {"class": @class, "desc": ...}} */
static struct json_object *control_error(const char *class, const char *fmt, ...)
{
	struct json_object *o = json_object_new_object(), *e = json_object_new_object();
	char desc[256];
	va_list ap;

	va_start(ap, fmt);
	vsnprintf(desc, sizeof(desc), fmt, ap);
	va_end(ap);
	json_object_object_add(e, "class", json_object_new_string(class));
	json_object_object_add(e, "desc", json_object_new_string(desc));
	json_object_object_add(o, "error", e);
	return o;
}

static void add_u64(struct json_object *o, const char *key, uint64_t v)
{
	json_object_object_add(o, key, json_object_new_uint64(v));
}

static void add_timestamp(struct json_object *o)
{
	struct json_object *t = json_object_new_object();
	struct timespec now;

	clock_gettime(CLOCK_REALTIME, &now);
	json_object_object_add(t, "seconds", json_object_new_int64(now.tv_sec));
	json_object_object_add(t, "microseconds",
			       json_object_new_int64(now.tv_nsec / 1000));
	json_object_object_add(o, "timestamp", t);
}

/* Send @data as event @name to every negotiated client; takes @data. */
static void control_event(struct control *c, const char *name,
			  struct json_object *data)
{
	struct json_object *ev = json_object_new_object();

	json_object_object_add(ev, "event", json_object_new_string(name));
	json_object_object_add(ev, "data", data);
	add_timestamp(ev);
	for (unsigned int i = 0; i < c->nr_clients; i++)
		if (c->clients[i]->negotiated)
			client_send(c->clients[i], ev);
	json_object_put(ev);
}

/* ---- the guests ---- */

/* The guest's RAM: as configured, else its frontend's memory table. */
static uint64_t guest_ram(const struct control_guest *g,
			  const struct balloon_stats *st)
{
	return g->ram_bytes ? g->ram_bytes : st->memory_bytes;
}

/* QEMU's actual: the guest's memory less its balloon (never below 0: the
 * balloon's actual is the guest's word). */
static uint64_t guest_left(uint64_t ram, uint32_t pages)
{
	uint64_t b = (uint64_t)pages * PAGE_BYTES;

	return b < ram ? ram - b : 0;
}

static long control_now_ms(void)
{
	struct timespec now;

	clock_gettime(CLOCK_MONOTONIC, &now);
	return now.tv_sec * 1000 + now.tv_nsec / 1000000;
}

static void control_sample_locked(struct control *c)
{
	long now = control_now_ms();

	for (unsigned int i = 0; i < c->nr_guests; i++) {
		struct control_guest *g = &c->guests[i];
		struct balloon_stats st;
		struct json_object *d;
		bool reached;

		balloon_get_stats(g->balloon, &st);
		if (!g->seen) {
			g->seen = true;
			g->connected = st.connected;
			g->actual = st.actual;
			g->change_ms = now - CONTROL_CHANGE_MS;
			g->target = st.num_pages;
		}
		if (st.num_pages != g->target) {
			g->target = st.num_pages;
			g->target_pending = true;
		}
		if (st.connected != g->connected) {
			g->connected = st.connected;
			d = json_object_new_object();
			json_object_object_add(d, "guest", json_object_new_string(g->name));
			control_event(c, st.connected ? "GUEST_CONNECTED"
						      : "GUEST_DISCONNECTED", d);
		}
		/*
		 * Throttled, but a target followed all the way goes at once:
		 * the BALLOON_CHANGE carrying it comes before its
		 * TARGET_REACHED, never a second after.
		 */
		reached = st.connected && g->target_pending && st.actual == st.num_pages;
		if (st.connected && st.actual != g->actual &&
		    (reached || now - g->change_ms >= CONTROL_CHANGE_MS)) {
			g->actual = st.actual;
			g->change_ms = now;
			d = json_object_new_object();
			add_u64(d, "actual", guest_left(guest_ram(g, &st), st.actual));
			json_object_object_add(d, "guest", json_object_new_string(g->name));
			control_event(c, "BALLOON_CHANGE", d);
		}
		/* A target the driver has followed all the way. */
		if (reached) {
			uint64_t left = guest_left(guest_ram(g, &st), st.actual);

			g->target_pending = false;
			d = json_object_new_object();
			json_object_object_add(d, "guest", json_object_new_string(g->name));
			add_u64(d, "target", left);
			add_u64(d, "actual", left);
			control_event(c, "TARGET_REACHED", d);
		}
		if (g->ended) {
			g->ended = false;
			d = json_object_new_object();
			json_object_object_add(d, "guest", json_object_new_string(g->name));
			json_object_object_add(d, "state", json_object_new_string(g->state));
			json_object_object_add(d, "why", json_object_new_string(g->why));
			control_event(c, "GUEST_ENDED", d);
		}
	}
	for (unsigned int i = 0; i < c->nr_posted; i++)
		control_event(c, c->posted[i].name, c->posted[i].data);
	c->nr_posted = 0;
	if (c->posted_lost) {
		fprintf(stderr, "guestmm: control: %" PRIu64 " posted event(s) dropped: more than %u between two rounds\n",
			c->posted_lost, CONTROL_POSTED_MAX);
		c->posted_lost = 0;
	}
}

/* ---- commands ---- */

struct control_call {
	struct control *c;
	struct json_object *args;	/* an object, or NULL */
	struct json_object *ret;	/* the answer's return value */
	struct json_object *err;	/* or its error */
};

/* A string argument, NULL when absent; *@bad on a wrong type. */
static const char *arg_str(struct control_call *k, const char *key, bool *bad)
{
	struct json_object *v;

	if (!k->args || !json_object_object_get_ex(k->args, key, &v))
		return NULL;
	/* A NUL inside the string would make two names one. */
	if (!json_object_is_type(v, json_type_string) ||
	    strlen(json_object_get_string(v)) != (size_t)json_object_get_string_len(v)) {
		k->err = control_error("GenericError",
				       "Invalid parameter type for '%s', expected: string", key);
		*bad = true;
		return NULL;
	}
	return json_object_get_string(v);
}

/*
 * An unsigned integer argument.
 * Return: 0 with *@v set; -ENOENT absent (an error when @required); -EINVAL
 * with the error set.
 */
static int arg_u64(struct control_call *k, const char *key, bool required,
		   uint64_t *v)
{
	struct json_object *o;

	if (!k->args || !json_object_object_get_ex(k->args, key, &o)) {
		if (required)
			k->err = control_error("GenericError",
					       "Parameter '%s' is missing", key);
		return required ? -EINVAL : -ENOENT;
	}
	/* json-c keeps integers past INT64_MAX as unsigned: get_int64() of
	 * those is INT64_MAX, never negative. */
	if (!json_object_is_type(o, json_type_int) || json_object_get_int64(o) < 0) {
		k->err = control_error("GenericError",
				       "Invalid parameter type for '%s', expected: an unsigned integer",
				       key);
		return -EINVAL;
	}
	*v = json_object_get_uint64(o);
	return 0;
}

/*
 * The guest the call names ("guest"), or the only one.
 * Return: the guest; NULL with the error set.
 */
static struct control_guest *arg_guest(struct control_call *k)
{
	struct control *c = k->c;
	bool bad = false;
	const char *name = arg_str(k, "guest", &bad);

	if (bad)
		return NULL;
	if (!name) {
		if (c->nr_guests == 1)
			return &c->guests[0];
		k->err = c->nr_guests ? control_error("GenericError",
						       "this host serves %u guests: name one with 'guest' (query-guests lists them)",
						       c->nr_guests)
				      : control_error("DeviceNotActive",
						       "this host serves no guest yet");
		return NULL;
	}
	for (unsigned int i = 0; i < c->nr_guests; i++)
		if (!strcmp(c->guests[i].name, name))
			return &c->guests[i];
	k->err = control_error("DeviceNotFound", "no guest named '%.*s'",
			       CONTROL_NAME_MAX, name);
	return NULL;
}

/* Queue event @name with @d (taken) for the next round; control.lock held. */
static void posted_push_locked(struct control *c, const char *name,
			       struct json_object *d)
{
	if (c->nr_posted == CONTROL_POSTED_MAX) {
		json_object_put(c->posted[0].data);
		memmove(&c->posted[0], &c->posted[1],
			(CONTROL_POSTED_MAX - 1) * sizeof(c->posted[0]));
		c->nr_posted--;
		c->posted_lost++;
	}
	snprintf(c->posted[c->nr_posted].name, sizeof(c->posted[0].name), "%s", name);
	c->posted[c->nr_posted++].data = d;
}

/*
 * Post event @name for guest @g with @target bytes left it (0: none said)
 * from a command, control.lock held (control_event_post() takes it).
 */
static void post_locked(struct control *c, const char *name,
			const struct control_guest *g, uint64_t target)
{
	struct json_object *d = json_object_new_object();

	json_object_object_add(d, "guest", json_object_new_string(g->name));
	if (target)
		add_u64(d, "target", target);
	posted_push_locked(c, name, d);
}

static void cmd_capabilities(struct control_call *k)
{
	k->ret = json_object_new_object();
}

static void cmd_query_balloon(struct control_call *k)
{
	struct control_guest *g = arg_guest(k);
	struct balloon_stats st;
	uint64_t ram;

	if (!g)
		return;
	balloon_get_stats(g->balloon, &st);
	ram = guest_ram(g, &st);
	if (!st.connected || !ram) {
		k->err = control_error("DeviceNotActive",
				       "No balloon device has been activated: guest '%s' has no driver attached",
				       g->name);
		return;
	}
	k->ret = json_object_new_object();
	add_u64(k->ret, "actual", guest_left(ram, st.actual));
	json_object_object_add(k->ret, "guest", json_object_new_string(g->name));
	add_u64(k->ret, "ram", ram);
	add_u64(k->ret, "target", guest_left(ram, st.num_pages));
	add_u64(k->ret, "balloon-actual", (uint64_t)st.actual * PAGE_BYTES);
	add_u64(k->ret, "balloon-target", (uint64_t)st.num_pages * PAGE_BYTES);
	json_object_object_add(k->ret, "target-pinned",
			       json_object_new_boolean(st.target_pinned));
}

static void cmd_balloon(struct control_call *k)
{
	struct control_guest *g = arg_guest(k);
	struct balloon_stats st;
	uint64_t value, ram;
	int err;

	if (!g || arg_u64(k, "value", true, &value))
		return;
	balloon_get_stats(g->balloon, &st);
	ram = guest_ram(g, &st);
	if (!ram) {
		k->err = control_error("DeviceNotActive",
				       "No balloon device has been activated: guest '%s' has shared no memory yet",
				       g->name);
		return;
	}
	if (!value || value > ram) {
		k->err = control_error("GenericError",
				       "Parameter 'value': %llu bytes is %s the guest's RAM (%llu bytes)",
				       (unsigned long long)value,
				       value ? "more than" : "none of",
				       (unsigned long long)ram);
		return;
	}
	if (value % PAGE_BYTES) {
		k->err = control_error("GenericError",
				       "Parameter 'value': %llu bytes is not a multiple of the balloon's 4096-byte pages",
				       (unsigned long long)value);
		return;
	}
	/* The operator's: a budget policy leaves it until balloon-release. */
	err = balloon_set_target_pinned(g->balloon, (uint32_t)((ram - value) / PAGE_BYTES));
	if (err) {
		k->err = control_error("GenericError", "the device refused the target: %s",
				       strerror(-err));
		return;
	}
	post_locked(k->c, "BALLOON_TARGET_PINNED", g, value);
	k->ret = json_object_new_object();
}

/* The guest's target is the budget policy's again (ours, not QMP's). */
static void cmd_balloon_release(struct control_call *k)
{
	struct control_guest *g = arg_guest(k);

	if (!g)
		return;
	if (balloon_unpin_target(g->balloon))
		post_locked(k->c, "BALLOON_TARGET_RELEASED", g, 0);
	k->ret = json_object_new_object();
}

/* QEMU's names (qapi/machine.json GuestMemoryBalloonStats... and the
 * balloon's guest-stats), then Linux's for the tags it added in 6.12. */
static const char *const stat_names[VIRTIO_BALLOON_S_NR] = {
	[VIRTIO_BALLOON_S_SWAP_IN] = "stat-swap-in",
	[VIRTIO_BALLOON_S_SWAP_OUT] = "stat-swap-out",
	[VIRTIO_BALLOON_S_MAJFLT] = "stat-major-faults",
	[VIRTIO_BALLOON_S_MINFLT] = "stat-minor-faults",
	[VIRTIO_BALLOON_S_MEMFREE] = "stat-free-memory",
	[VIRTIO_BALLOON_S_MEMTOT] = "stat-total-memory",
	[VIRTIO_BALLOON_S_AVAIL] = "stat-available-memory",
	[VIRTIO_BALLOON_S_CACHES] = "stat-disk-caches",
	[VIRTIO_BALLOON_S_HTLB_PGALLOC] = "stat-htlb-pgalloc",
	[VIRTIO_BALLOON_S_HTLB_PGFAIL] = "stat-htlb-pgfail",
	[10] = "stat-oom-kills",
	[11] = "stat-alloc-stalls",
	[12] = "stat-async-scans",
	[13] = "stat-direct-scans",
	[14] = "stat-async-reclaims",
	[15] = "stat-direct-reclaims",
};

static void cmd_query_balloon_stats(struct control_call *k)
{
	struct control_guest *g = arg_guest(k);
	struct json_object *stats;
	struct balloon_stats st;

	if (!g)
		return;
	balloon_get_stats(g->balloon, &st);
	stats = json_object_new_object();
	/* QEMU's ten are always there, -1 until the guest sent them; the
	 * tags past them only once sent. */
	for (unsigned int t = 0; t < VIRTIO_BALLOON_S_NR; t++) {
		if (st.guest_stats_valid & (1u << t))
			add_u64(stats, stat_names[t], st.guest_stats[t]);
		else if (t <= VIRTIO_BALLOON_S_HTLB_PGFAIL)
			json_object_object_add(stats, stat_names[t],
					       json_object_new_int(-1));
	}
	k->ret = json_object_new_object();
	json_object_object_add(k->ret, "stats", stats);
	json_object_object_add(k->ret, "last-update",
			       json_object_new_int64(st.guest_stats_time));
	add_u64(k->ret, "updates", st.guest_stats_updates);
	json_object_object_add(k->ret, "polling-interval",
			       json_object_new_double(balloon_get_stats_interval(g->balloon) / 1000.0));
	json_object_object_add(k->ret, "guest", json_object_new_string(g->name));
}

static void cmd_set_stats_interval(struct control_call *k)
{
	struct control_guest *g = arg_guest(k);
	uint64_t s;

	if (!g || arg_u64(k, "seconds", true, &s))
		return;
	if (s > CONTROL_STATS_INTERVAL_MAX_S) {
		k->err = control_error("GenericError",
				       "Parameter 'seconds': %llu is not 0 (off) to %u",
				       (unsigned long long)s, CONTROL_STATS_INTERVAL_MAX_S);
		return;
	}
	balloon_set_stats_interval(g->balloon, (unsigned int)s * 1000);
	k->ret = json_object_new_object();
}

/* Guest @g's view; control.lock held. */
static void control_guest_view_locked(struct control_guest *g,
				      struct control_guest_view *v)
{
	memset(v, 0, sizeof(*v));
	snprintf(v->name, sizeof(v->name), "%s", g->name);
	snprintf(v->state, sizeof(v->state), "%s", g->state);
	balloon_get_stats(g->balloon, &v->st);
	v->ram_bytes = guest_ram(g, &v->st);
	v->kills = !strcmp(g->state, "killed");
}

static void cmd_query_guests(struct control_call *k)
{
	struct control *c = k->c;

	k->ret = json_object_new_array();
	for (unsigned int i = 0; i < c->nr_guests; i++) {
		struct control_guest *g = &c->guests[i];
		struct json_object *o = json_object_new_object();
		struct control_guest_view v;

		control_guest_view_locked(g, &v);
		json_object_object_add(o, "name", json_object_new_string(v.name));
		json_object_object_add(o, "state", json_object_new_string(v.state));
		json_object_object_add(o, "connected", json_object_new_boolean(v.st.connected));
		add_u64(o, "ram", v.ram_bytes);
		if (v.st.connected && v.ram_bytes) {
			add_u64(o, "actual", guest_left(v.ram_bytes, v.st.actual));
			add_u64(o, "target", guest_left(v.ram_bytes, v.st.num_pages));
		}
		add_u64(o, "resident", v.st.resident_bytes);
		add_u64(o, "reported", v.st.reported_bytes);
		if (g->why[0])
			json_object_object_add(o, "why", json_object_new_string(g->why));
		json_object_array_add(k->ret, o);
	}
}

static void cmd_query_commands(struct control_call *k);

static const char *const args_guest[] = { "guest", NULL };
static const char *const args_balloon[] = { "value", "guest", NULL };
static const char *const args_interval[] = { "seconds", "guest", NULL };
static const char *const args_none[] = { NULL };

static const struct control_cmd {
	const char *name;
	const char *const *args;
	void (*fn)(struct control_call *k);
} control_cmds[] = {
	{ "qmp_capabilities", args_none, cmd_capabilities },
	{ "query-commands", args_none, cmd_query_commands },
	{ "query-balloon", args_guest, cmd_query_balloon },
	{ "balloon", args_balloon, cmd_balloon },
	{ "balloon-release", args_guest, cmd_balloon_release },
	{ "query-balloon-stats", args_guest, cmd_query_balloon_stats },
	{ "set-stats-interval", args_interval, cmd_set_stats_interval },
	{ "query-guests", args_none, cmd_query_guests },
};

static void cmd_query_commands(struct control_call *k)
{
	k->ret = json_object_new_array();
	for (size_t i = 0; i < sizeof(control_cmds) / sizeof(control_cmds[0]); i++) {
		struct json_object *o = json_object_new_object();

		json_object_object_add(o, "name", json_object_new_string(control_cmds[i].name));
		json_object_array_add(k->ret, o);
	}
}

/* Every argument is one the command takes.  Return: false with the error. */
static bool control_args_known(struct control_call *k, const struct control_cmd *cmd)
{
	if (!k->args)
		return true;
	json_object_object_foreach(k->args, key, val) {
		size_t i;

		(void)val;
		for (i = 0; cmd->args[i]; i++)
			if (!strcmp(cmd->args[i], key))
				break;
		if (!cmd->args[i]) {
			k->err = control_error("GenericError", "Parameter '%.32s' is unexpected", key);
			return false;
		}
	}
	return true;
}

/*
 * One line from @cl: its answer, owned by the caller.  @negotiated is the
 * client's state, which qmp_capabilities moves.
 */
static struct json_object *control_answer(struct control *c, const char *line,
					  size_t n, bool *negotiated)
{
	struct json_tokener *tok;
	struct json_object *req, *v, *id = NULL, *ans;
	struct control_call k = { .c = c };
	const struct control_cmd *cmd = NULL;
	enum json_tokener_error jerr;
	const char *name;
	size_t end;

	if (memchr(line, 0, n))
		return control_error("GenericError", "JSON parse error, a NUL byte in the line");
	tok = json_tokener_new_ex(CONTROL_JSON_DEPTH);
	if (!tok)
		return control_error("GenericError", "out of memory");
	json_tokener_set_flags(tok, JSON_TOKENER_STRICT | JSON_TOKENER_VALIDATE_UTF8);
	req = json_tokener_parse_ex(tok, line, (int)n);
	jerr = json_tokener_get_error(tok);
	end = json_tokener_get_parse_end(tok);
	json_tokener_free(tok);
	if (!req || jerr != json_tokener_success) {
		json_object_put(req);
		return control_error("GenericError", "JSON parse error, %s",
				     jerr == json_tokener_continue ? "the object does not end on its line"
								  : json_tokener_error_desc(jerr));
	}
	while (end < n && strchr(" \t\r", line[end]))
		end++;
	if (end < n) {
		json_object_put(req);
		return control_error("GenericError",
				     "JSON parse error, more after the object (one object a line)");
	}
	if (!json_object_is_type(req, json_type_object)) {
		json_object_put(req);
		return control_error("GenericError", "QMP input must be a JSON object");
	}
	if (json_object_object_get_ex(req, "id", &id))
		json_object_get(id);
	json_object_object_foreach(req, key, val) {
		(void)val;
		if (strcmp(key, "execute") && strcmp(key, "arguments") && strcmp(key, "id")) {
			k.err = control_error("GenericError",
					      "QMP input member '%.32s' is unexpected", key);
			goto out;
		}
	}
	if (!json_object_object_get_ex(req, "execute", &v) ||
	    !json_object_is_type(v, json_type_string)) {
		k.err = control_error("GenericError",
				      "QMP input lacks member 'execute' (a string)");
		goto out;
	}
	name = json_object_get_string(v);
	if (json_object_object_get_ex(req, "arguments", &k.args) &&
	    !json_object_is_type(k.args, json_type_object)) {
		k.err = control_error("GenericError",
				      "QMP input member 'arguments' must be an object");
		goto out;
	}
	for (size_t i = 0; i < sizeof(control_cmds) / sizeof(control_cmds[0]); i++)
		if (!strcmp(control_cmds[i].name, name))
			cmd = &control_cmds[i];
	if (!cmd) {
		k.err = control_error("CommandNotFound", "The command %.64s has not been found",
				      name);
		goto out;
	}
	if (*negotiated == (cmd->fn == cmd_capabilities)) {
		k.err = *negotiated
			? control_error("CommandNotFound",
					"Capabilities negotiation is already complete, command ignored")
			: control_error("CommandNotFound",
					"Expecting capabilities negotiation with 'qmp_capabilities'");
		goto out;
	}
	if (!control_args_known(&k, cmd))
		goto out;
	pthread_mutex_lock(&c->lock);
	cmd->fn(&k);
	pthread_mutex_unlock(&c->lock);
	if (cmd->fn == cmd_capabilities && k.ret)
		*negotiated = true;
out:
	json_object_put(req);
	if (k.err) {
		ans = k.err;
	} else {
		ans = json_object_new_object();
		json_object_object_add(ans, "return", k.ret);
	}
	if (id)
		json_object_object_add(ans, "id", id);
	return ans;
}

void control_handle_line(struct control *c, const char *line, size_t n,
			 char *out, size_t len)
{
	bool negotiated = true;
	struct json_object *ans = control_answer(c, line, n, &negotiated);

	snprintf(out, len, "%s",
		 json_object_to_json_string_ext(ans, JSON_C_TO_STRING_PLAIN |
							     JSON_C_TO_STRING_NOSLASHESCAPE));
	json_object_put(ans);
}

/* ---- clients ---- */

static void client_line(struct control *c, struct control_client *cl,
			const char *line, size_t n)
{
	struct json_object *ans;

	while (n && (line[n - 1] == '\r' || line[n - 1] == ' ' || line[n - 1] == '\t'))
		n--;
	if (!n)
		return;
	ans = control_answer(c, line, n, &cl->negotiated);
	client_send(cl, ans);
	json_object_put(ans);
}

/* Read what @cl sent and answer each whole line. */
static void client_read(struct control *c, struct control_client *cl)
{
	ssize_t r = read(cl->fd, cl->in + cl->in_used, sizeof(cl->in) - cl->in_used);
	size_t start = 0;
	char *nl;

	if (r < 0 && (errno == EAGAIN || errno == EINTR))
		return;
	if (r <= 0) {
		cl->drop = true;	/* gone: a command cut short is dropped */
		return;
	}
	cl->in_used += (size_t)r;
	while (!cl->drop && (nl = memchr(cl->in + start, '\n', cl->in_used - start))) {
		size_t n = (size_t)(nl - (cl->in + start));

		if (cl->overlong)
			cl->overlong = false;	/* its end: skipped */
		else
			client_line(c, cl, cl->in + start, n);
		start += n + 1;
	}
	memmove(cl->in, cl->in + start, cl->in_used - start);
	cl->in_used -= start;
	if (cl->in_used == sizeof(cl->in)) {
		/* A line longer than the buffer: answered once, skipped. */
		if (!cl->overlong) {
			struct json_object *e = control_error(
				"GenericError", "JSON parse error, a line longer than %u bytes",
				CONTROL_LINE_MAX);

			client_send(cl, e);
			json_object_put(e);
		}
		cl->overlong = true;
		cl->in_used = 0;
	}
}

static void client_free(struct control_client *cl)
{
	close(cl->fd);
	free(cl->out);
	free(cl);
}

static void control_accept(struct control *c)
{
	struct control_client *cl;
	struct json_object *greet, *q, *ver, *qemu;
	int fd = accept4(c->listen_fd, NULL, NULL, SOCK_NONBLOCK | SOCK_CLOEXEC);

	if (fd < 0) {
		/* The connection stays queued and the listener readable: poll
		 * it again only after a round, not in a busy loop. */
		if (errno == EMFILE || errno == ENFILE || errno == ENOBUFS || errno == ENOMEM)
			c->accept_paused = true;
		return;
	}
	if (c->nr_clients == CONTROL_CLIENTS_MAX) {
		static const char full[] =
			"{\"error\":{\"class\":\"GenericError\",\"desc\":\"too many clients: at most 64 at once\"}}\n";

		(void)!send(fd, full, sizeof(full) - 1, MSG_NOSIGNAL | MSG_DONTWAIT);
		close(fd);
		log_printf(LOG_LEVEL_WARNING, "guestmm: control: a client refused: %u already connected",
			   CONTROL_CLIENTS_MAX);
		return;
	}
	cl = calloc(1, sizeof(*cl));
	if (cl)
		cl->out = malloc(CONTROL_OUT_MAX);
	if (!cl || !cl->out) {
		free(cl);
		close(fd);
		log_printf(LOG_LEVEL_WARNING, "guestmm: control: a client refused: out of memory");
		return;
	}
	cl->fd = fd;
	cl->id = ++c->next_id;
	c->clients[c->nr_clients++] = cl;
	/* QEMU's greeting, with our version in its shape. */
	greet = json_object_new_object();
	q = json_object_new_object();
	ver = json_object_new_object();
	qemu = json_object_new_object();
	json_object_object_add(qemu, "major", json_object_new_int(0));
	json_object_object_add(qemu, "minor", json_object_new_int(1));
	json_object_object_add(qemu, "micro", json_object_new_int(0));
	json_object_object_add(ver, "qemu", qemu);
	json_object_object_add(ver, "package", json_object_new_string("guestmm"));
	json_object_object_add(q, "version", ver);
	json_object_object_add(q, "capabilities", json_object_new_array());
	json_object_object_add(greet, "QMP", q);
	client_send(cl, greet);
	json_object_put(greet);
	client_flush(cl);
}

static void *control_thread(void *arg)
{
	struct control *c = arg;
	struct pollfd pfd[2 + CONTROL_CLIENTS_MAX];

	while (!atomic_load(&c->stop)) {
		unsigned int n = c->nr_clients;

		pfd[0] = (struct pollfd){ .fd = c->wake_fd, .events = POLLIN };
		pfd[1] = (struct pollfd){ .fd = c->accept_paused ? -1 : c->listen_fd,
					  .events = POLLIN };
		c->accept_paused = false;
		for (unsigned int i = 0; i < n; i++)
			pfd[2 + i] = (struct pollfd){
				.fd = c->clients[i]->fd,
				.events = POLLIN | (c->clients[i]->out_used ? POLLOUT : 0),
			};
		if (poll(pfd, 2 + n, CONTROL_SAMPLE_MS) < 0 && errno != EINTR) {
			log_printf(LOG_LEVEL_ERROR, "guestmm: control: poll: %s: the control socket is no longer served",
				   strerror(errno));
			break;
		}
		for (unsigned int i = 0; i < n; i++) {
			struct control_client *cl = c->clients[i];

			if (pfd[2 + i].revents & (POLLIN | POLLHUP | POLLERR))
				client_read(c, cl);
		}
		if (pfd[1].revents & POLLIN)
			control_accept(c);
		pthread_mutex_lock(&c->lock);
		control_sample_locked(c);
		pthread_mutex_unlock(&c->lock);
		/* Flush everyone, then let the dropped go (order kept). */
		for (unsigned int i = 0; i < c->nr_clients;) {
			struct control_client *cl = c->clients[i];

			if (!cl->drop && cl->out_used)
				client_flush(cl);
			if (!cl->drop) {
				i++;
				continue;
			}
			client_free(cl);
			memmove(&c->clients[i], &c->clients[i + 1],
				(c->nr_clients - i - 1) * sizeof(c->clients[0]));
			c->nr_clients--;
		}
	}
	return NULL;
}

/* ---- the API ---- */

int control_start(const char *path, struct control **out)
{
	struct control *c;
	int err;

	if (strlen(path) >= sizeof(c->path))
		return -ENAMETOOLONG;
	c = calloc(1, sizeof(*c));
	if (!c)
		return -ENOMEM;
	snprintf(c->path, sizeof(c->path), "%s", path);
	pthread_mutex_init(&c->lock, NULL);
	atomic_init(&c->stop, false);
	c->wake_fd = eventfd(0, EFD_CLOEXEC | EFD_NONBLOCK);
	if (c->wake_fd < 0) {
		err = -errno;
		goto undo_alloc;
	}
	c->listen_fd = unix_socket_listen(path, 16, SOCK_NONBLOCK | SOCK_CLOEXEC,
					  &c->sock_id);
	if (c->listen_fd < 0) {
		err = c->listen_fd;
		log_printf(LOG_LEVEL_ERROR, "guestmm: control: %s: %s", path, unix_socket_strerror(err));
		goto undo_wake;
	}
	err = -pthread_create(&c->thread, NULL, control_thread, c);
	if (err)
		goto undo_listen;
	*out = c;
	return 0;

undo_listen:
	unix_socket_unlink(path, &c->sock_id);
	close(c->listen_fd);
undo_wake:
	close(c->wake_fd);
undo_alloc:
	pthread_mutex_destroy(&c->lock);
	free(c);
	return err;
}

int control_guest_add(struct control *c, const char *name,
		      struct balloon_dev *b, uint64_t ram_bytes)
{
	struct control_guest *g;
	int idx;

	if (!*name || strlen(name) >= CONTROL_NAME_MAX)
		return -EINVAL;
	pthread_mutex_lock(&c->lock);
	for (unsigned int i = 0; i < c->nr_guests; i++)
		if (!strcmp(c->guests[i].name, name)) {
			pthread_mutex_unlock(&c->lock);
			return -EINVAL;
		}
	if (c->nr_guests == CONTROL_GUESTS_MAX) {
		pthread_mutex_unlock(&c->lock);
		return -ENOSPC;
	}
	idx = (int)c->nr_guests;
	g = &c->guests[c->nr_guests++];
	memset(g, 0, sizeof(*g));
	snprintf(g->name, sizeof(g->name), "%s", name);
	snprintf(g->state, sizeof(g->state), "running");
	g->balloon = b;
	g->ram_bytes = ram_bytes;
	pthread_mutex_unlock(&c->lock);
	return idx;
}

void control_guest_end(struct control *c, int idx, const char *state,
		       const char *why)
{
	pthread_mutex_lock(&c->lock);
	if (idx >= 0 && (unsigned int)idx < c->nr_guests) {
		struct control_guest *g = &c->guests[idx];

		snprintf(g->state, sizeof(g->state), "%s", state);
		snprintf(g->why, sizeof(g->why), "%s", why);
		g->ended = true;
	}
	pthread_mutex_unlock(&c->lock);
}

int control_event_post(struct control *c, const char *name,
		       const char *data_json)
{
	struct json_object *d;

	if (!*name || strlen(name) >= sizeof(c->posted[0].name))
		return -EINVAL;
	d = json_tokener_parse(data_json);
	if (!d || !json_object_is_type(d, json_type_object)) {
		json_object_put(d);
		return -EINVAL;
	}
	pthread_mutex_lock(&c->lock);
	posted_push_locked(c, name, d);
	pthread_mutex_unlock(&c->lock);
	return 0;
}

unsigned int control_guests_read(struct control *c, struct control_guest_view *v,
				 unsigned int max)
{
	unsigned int n;

	pthread_mutex_lock(&c->lock);
	n = c->nr_guests;
	for (unsigned int i = 0; i < n && i < max; i++)
		control_guest_view_locked(&c->guests[i], &v[i]);
	pthread_mutex_unlock(&c->lock);
	return n;
}

void control_budget_set(struct control *c, const struct control_budget *b)
{
	pthread_mutex_lock(&c->lock);
	c->budget = *b;
	pthread_mutex_unlock(&c->lock);
}

void control_budget_get(struct control *c, struct control_budget *b)
{
	pthread_mutex_lock(&c->lock);
	*b = c->budget;
	pthread_mutex_unlock(&c->lock);
}

void control_stop(struct control *c)
{
	uint64_t one = 1;

	if (!c)
		return;
	atomic_store(&c->stop, true);
	(void)!write(c->wake_fd, &one, sizeof(one));
	pthread_join(c->thread, NULL);
	for (unsigned int i = 0; i < c->nr_posted; i++)
		json_object_put(c->posted[i].data);
	for (unsigned int i = 0; i < c->nr_clients; i++) {
		client_flush(c->clients[i]);
		client_free(c->clients[i]);
	}
	/* Before the close: then no other host can have taken the path. */
	unix_socket_unlink(c->path, &c->sock_id);
	close(c->listen_fd);
	close(c->wake_fd);
	pthread_mutex_destroy(&c->lock);
	free(c);
}
