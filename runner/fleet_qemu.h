/*
 * fleet_qemu.h - a fleet's QEMU guest: QEMU's microvm booting our kernel,
 * with QEMU's own virtio-balloon, which the host drives through QEMU's
 * machine protocol (QMP) rather than through a device of its own.
 *
 * The fleet sees it through a mirror balloon (host/balloon.h): every
 * fleet_qemu_serve() passes the mirror's target and statistics interval,
 * which the budget policy and the control socket set, on to QEMU (QMP
 * "balloon", qom-set guest-stats-polling-interval), and writes back what
 * QEMU says (query-balloon's actual, guest-stats) with the host's own
 * accounting of the guest's RAM (the allocated blocks of QEMU's memfd).
 * So the policy, query-guests, query-balloon, balloon and BALLOON_CHANGE
 * treat it as any other guest.
 *
 * The QEMU process is run by uml_guest's keeper (host/uml_guest.h: its
 * console, its death with the host, its cgroup joined before it execs), so
 * the fleet ends and reaps it as it does a Linux guest's.  Threads: the
 * fleet's.
 */
#ifndef GUESTMM_RUNNER_FLEET_QEMU_H
#define GUESTMM_RUNNER_FLEET_QEMU_H

#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>

struct balloon_dev;
struct fleet_qemu;
struct uml_guest;

struct fleet_qemu_config {
	const char *qemu;	/* NULL: /usr/bin/qemu-system-x86_64 */
	const char *kernel;	/* NULL: guestmm-kernel.elf, as run --qemu */
	const char *qmp_socket;	/* where QEMU listens for QMP */
	const char *cgroup_procs; /* joined before QEMU runs, or NULL */
	uint64_t mem_bytes;	/* MiB steps */
	unsigned int cpus;
	bool reporting;
	bool deflate_on_oom;	/* QEMU's device offers it */
	/* Our kernel's memhog: in cycles until the host ends it. */
	uint64_t hog_bytes;
	unsigned int hold_ms, idle_ms, start_delay_ms;
	FILE *log;		/* the kernel's own lines (a fault), or NULL */
	/* Each console line of our guest's protocol ("gmm-..."). */
	void (*line)(void *ctx, const char *line);
	void *line_ctx;
};

/*
 * fleet_qemu_start - start QEMU, connect to its QMP socket and find its
 * guest RAM; @mirror (balloon_create_mirror()) is the guest's balloon as
 * the host sees it, and must outlive it.
 * Return: 0; -ENOENT no QEMU or no kernel image (said on @log or stderr);
 * -ETIMEDOUT QMP did not come up; -E2BIG; -ENOMEM; another -errno.
 */
int fleet_qemu_start(const struct fleet_qemu_config *c,
		     struct balloon_dev *mirror, struct fleet_qemu **out);

/*
 * fleet_qemu_serve - read the console (its protocol lines to @c->line),
 * and every FLEET_QEMU_QMP_MS pass the mirror's target and statistics
 * interval to QEMU and QEMU's figures to the mirror.
 * Return: 0; -EPIPE once QEMU has gone (its console or QMP closed).
 */
int fleet_qemu_serve(struct fleet_qemu *q);

/* Its process, as the fleet ends and reaps a Linux guest's. */
struct uml_guest *fleet_qemu_guest(struct fleet_qemu *q);

/* End QEMU (if still there), reap it, free. */
void fleet_qemu_destroy(struct fleet_qemu *q);

#endif
