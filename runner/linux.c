/*
 * linux.c - a user-mode Linux guest on our device (docs/architecture.md,
 * embodiment 3): the same balloon a process guest gets, driven by Linux's own
 * virtio_balloon, running the initramfs's memhog a cycle at a time.
 *
 * The guest's console says when memhog holds and when it freed; the host
 * samples the device's accounting of the guest's memory file (the same
 * figure as for our guests) and the guest's free memory from the stats
 * queue.  Linux's allocator is not ours: no zones, locks or frame counts
 * come back, and the JSON keys for them are empty.
 */
#ifndef _GNU_SOURCE
#define _GNU_SOURCE
#endif
#include <errno.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "host/backend.h"
#include "host/balloon.h"
#include "host/tmp_dir.h"
#include "host/uml_guest.h"
#include "runner/internal.h"
#include "runner/run.h"

/* Console reads wait at most this long, so that sampling goes on. */
#define UML_POLL_MS 50
/* Linux reports its free memory when the driver loads: let that settle. */
#define UML_SETTLE_S 3.0

static void uml_sample(struct linux_run *u)
{
	struct balloon_stats st;

	balloon_get_stats(((struct balloon_backend *)u->ctx)->balloon, &st);
	u->s.resident = st.resident_bytes;
	u->s.host_reported = st.reported_bytes;
	if (st.guest_stats_valid & (1u << VIRTIO_BALLOON_S_MEMFREE))
		u->s.guest_free = st.guest_stats[VIRTIO_BALLOON_S_MEMFREE];
}

static void linux_sample(struct linux_run *u)
{
	u->s.t = run_now_s() - u->t0;
	u->sample(u);
	run_track(u->o, u->r, &u->s, &u->seen_cycle);
	if (u->o->live && u->s.t >= u->next_live) {
		run_live_line(u->o->live, &u->s);
		u->next_live += 0.5;
	}
}

int linux_run_watch(struct linux_run *u, double seconds, const char *prefix,
		    char *line, size_t len)
{
	double end = run_now_s() + seconds;

	while (run_now_s() < end) {
		int err = uml_guest_wait_line(u->g, prefix, line, len,
					      UML_POLL_MS);

		linux_sample(u);
		if (err != -ETIMEDOUT)
			return err;
	}
	return -ETIMEDOUT;
}

/* One memhog cycle, then the sleep.  Return: 0 or a negative errno. */
static int linux_cycle(struct linux_run *u, uint64_t hog, unsigned int sleep_ms)
{
	char cmd[64], line[256];
	int err;

	snprintf(cmd, sizeof(cmd), "memhog %llu %u",
		 (unsigned long long)(hog >> 20), u->o->hold_ms);
	err = uml_guest_send(u->g, cmd);
	if (err)
		return err;
	u->s.phase = MEMHOG_ALLOC;
	for (;;) {
		/* Page faults in UML are slow: allow minutes. */
		err = linux_run_watch(u, 600, "gmm-memhog", line, sizeof(line));
		if (err)
			return err;
		if (strstr(line, "held")) {
			u->s.phase = MEMHOG_HELD;
			u->s.resident_at_free = u->s.resident;
		} else if (strstr(line, "freed")) {
			break;
		}
	}
	u->s.freed_bytes = hog;
	u->s.freed_at_ns = platform_now_ns();
	u->s.cycle++;
	u->s.phase = MEMHOG_FREED;
	err = linux_run_watch(u, sleep_ms / 1e3, "gmm-never", line, sizeof(line));
	return err == -ETIMEDOUT ? 0 : err;
}

int linux_run_memhog(struct linux_run *u)
{
	const struct run_opts *o = u->o;
	uint64_t hog = o->hog_bytes ? o->hog_bytes : o->cfg.mem_bytes / 4 * 3;
	unsigned int sleep_ms = o->sleep_ms >= 0 ? (unsigned int)o->sleep_ms
						 : o->cfg.report_delay_ms + 2000;
	int err;

	u->s = (struct run_sample){ .kind = WORKLOAD_MEMHOG,
				    .guest_free = UINT64_MAX,
				    .guest_reported = UINT64_MAX };
	u->t0 = run_now_s();
	if (!uml_guest_balloon_loaded(u->g))
		return -ENODEV;
	err = linux_run_watch(u, UML_SETTLE_S, "gmm-never", NULL, 0);
	if (err != -ETIMEDOUT)
		return err;
	u->t0 = run_now_s();
	u->next_live = 0;
	err = 0;
	for (unsigned int c = 0; c < o->cycles && !err; c++)
		err = linux_cycle(u, hog, sleep_ms);
	if (err)
		return err;
	u->r->elapsed_s = run_now_s() - u->t0;
	u->r->measured_s = u->r->elapsed_s;
	return 0;
}

/*
 * Start the Linux guest and wait for its init, with its keeper and
 * uml_dir known to the signal handler (run_tmp_keeper()) from the start:
 * a signal during the boot ends the kernel and removes the directory.
 * Return: 0 with u->g set; uml_guest_spawn()'s errors; -ETIMEDOUT when
 * init did not come up in time; -ECHILD when the guest died first.
 */
static int uml_boot(struct linux_run *u, const struct uml_guest_config *gc,
		    unsigned int boot_ms, int *slot)
{
	int err = uml_guest_spawn(gc, &u->g);

	if (err)
		return err;
	*slot = run_tmp_add(uml_guest_dir(u->g));
	run_tmp_keeper(uml_guest_pid(u->g), uml_guest_life_fd(u->g));
	err = uml_guest_wait_line(u->g, "gmm-ready", NULL, 0, (int)boot_ms);
	if (!err)
		return 0;
	run_tmp_keeper(0, -1);
	run_tmp_forget(*slot);
	*slot = -1;
	uml_guest_destroy(u->g, 0);
	u->g = NULL;
	return err == -EPIPE ? -ECHILD : err;
}

int run_linux(const struct run_opts *o, struct run_result *r)
{
	char sock[TMP_DIR_PATH_MAX + 16], initrd[PATH_MAX + 32];
	struct uml_guest_config gc = { 0 };
	struct linux_run *u = calloc(1, sizeof(*u));
	struct balloon_backend be;
	uint64_t features = BALLOON_FEATURES_DEFAULT;
	unsigned int boot_s = o->boot_timeout_s ? o->boot_timeout_s : RUN_BOOT_TIMEOUT_S;
	struct balloon_stats st;
	struct tmp_dir dir;
	int err, slot, uml_slot = -1;

	if (!u)
		return -ENOMEM;
	err = run_resolve_initrd(o->initrd, initrd, sizeof(initrd), "run");
	if (err)
		goto undo_alloc;
	u->o = o;
	u->r = r;
	u->sample = uml_sample;
	u->ctx = &be;
	r->mem_bytes = o->cfg.mem_bytes;
	if (!o->cfg.reporting)
		features &= ~VIRTIO_FEATURE(VIRTIO_BALLOON_F_REPORTING);
	if (!o->deflate_on_oom)
		features &= ~VIRTIO_FEATURE(VIRTIO_BALLOON_F_DEFLATE_ON_OOM);
	err = tmp_dir_create(&dir, "linux");
	if (err) {
		snprintf(r->failure, sizeof(r->failure),
			 "cannot make its directory in %s: %s", tmp_dir_base(),
			 strerror(-err));
		goto undo_alloc;
	}
	slot = run_tmp_add(dir.path);
	snprintf(sock, sizeof(sock), "%s/balloon.sock", dir.path);
	err = balloon_backend_start(&be, sock, features);
	if (err)
		goto undo_dir;
	if (o->stats_interval_s >= 0)
		balloon_set_stats_interval(be.balloon,
					   (unsigned int)o->stats_interval_s * 1000);
	gc.linux_path = o->uml;
	gc.initrd = initrd;
	gc.balloon_socket = sock;
	gc.mem_bytes = o->cfg.mem_bytes;
	err = uml_boot(u, &gc, boot_s * 1000, &uml_slot);
	if (err == -ETIMEDOUT)
		fprintf(stderr, "guestmm: run: the Linux guest did not boot within %u s (--boot-timeout)\n",
			boot_s);
	else if (err)
		fprintf(stderr, "guestmm: run: cannot start the Linux guest (%s, initrd %s): %s\n",
			o->uml ? o->uml : "/usr/bin/linux.uml", initrd,
			strerror(-err));
	if (err)
		goto undo_backend;
	err = linux_run_memhog(u);
	if (err)
		goto undo_guest;
	balloon_get_stats(be.balloon, &st);
	r->resident_end = st.resident_bytes;
	r->stats.mem_bytes = o->cfg.mem_bytes;
	r->stats.host_resident_bytes = st.resident_bytes;
	r->stats.reports = st.reports;
	r->stats.reported_bytes = st.reported_bytes;
	if (st.guest_stats_valid & (1u << VIRTIO_BALLOON_S_MEMFREE))
		r->stats.free_bytes = st.guest_stats[VIRTIO_BALLOON_S_MEMFREE];

undo_guest:
	/* From here the destroy ends the guest and removes its uml_dir. */
	run_tmp_keeper(0, -1);
	run_tmp_forget(uml_slot);
	uml_guest_destroy(u->g, 10000);
undo_backend:
	balloon_backend_stop(&be);
undo_dir:
	run_tmp_forget(slot);
	tmp_dir_destroy(&dir);
undo_alloc:
	free(u);
	return err;
}
