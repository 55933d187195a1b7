/*
 * fleet.h - many guests, one host, one budget.
 *
 * A fleet is one vhost-user server with a balloon device per guest, each
 * served by its own thread (host/vhost_user.h), and the guests themselves:
 * our guest runtime as processes ("ours", docs/architecture.md, embodiment
 * 2), stock user-mode Linux kernels ("linux", embodiment 3) and our
 * kernel on QEMU with QEMU's own balloon ("qemu", embodiment 4, driven
 * through QMP: runner/fleet_qemu.h), each running memhog in cycles (allocate a share of its RAM, hold it, free it, idle).
 *
 * The budget.  The guests' processes live in a memory cgroup made for
 * them below the host's own (host/memcg.h), limited to the budget, with a
 * cgroup of its own per guest inside it:
 *
 *     <the host's cgroup>/guestmm-<host pid>/        memory limit = budget
 *                                   ours-1/          one per guest: whose
 *                                   linux-1/         memory, whose OOM kill
 *
 * A guest joins its cgroup before it execs, so its RAM (the memfd or the
 * memory file it touches first) is charged to it; the host process stays
 * outside.  When the guests together reach the budget: on cgroup v1 the
 * kernel's OOM killer is switched off for the budget (oom_kill_disable),
 * the guests at the limit wait, and the host kills the guest with the
 * most resident memory, one at a time, each only once the last one's
 * memory has been released (the kernel, which does not know that a dead
 * guest's memory stays charged until the host's device drops its mapping,
 * took all three of three guests in a budget for two); on v2 the kernel's
 * OOM killer chooses, and the host sees the kill in that guest's cgroup
 * (its oom_kill count).  Either way the host ends the rest of that guest
 * (a Linux guest is several processes) and reports it by name with the
 * budget's state.
 * Where no cgroup can be made, the host enforces the budget itself from
 * its own accounting (the sum of the devices' resident bytes): over the
 * budget, it kills the guest with the most resident memory (the newest of
 * equals) and says so.
 *
 * A guest that dies, however it dies, closes its end of the device: the
 * device's thread drops its mappings and closes its memory file, and the
 * memory goes back to the host.  Every guest dies with the thread that
 * created the fleet (PR_SET_PDEATHSIG), so a host killed by SIGKILL leaves
 * none behind; fleet_destroy() ends them on every other path.
 *
 * Threads: a fleet belongs to the thread that created it, which must
 * outlive its guests; every call below is from that thread.  No lock: the
 * device threads see only their devices, whose API is thread-safe.
 */
#ifndef GUESTMM_RUNNER_FLEET_H
#define GUESTMM_RUNNER_FLEET_H

#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <sys/types.h>

struct balloon_dev;

/* QEMU: our kernel on QEMU's microvm, whose own virtio-balloon the host
 * drives through QMP (runner/fleet_qemu.h). */
enum fleet_kind { FLEET_OURS, FLEET_LINUX, FLEET_QEMU, FLEET_KINDS };

/*
 * What the host does at the budget.  KILL: the guest with the most
 * resident memory goes (above).  BALLOON: the host also watches the
 * budget's usage and each guest's available memory (its statistics) and
 * sets balloon targets: idle guests give memory back when the budget is
 * high, busy ones get it back at once, and a guest is killed only when
 * inflating cannot hold the limit (runner/budget_policy.h has the rules).
 * The kernel's OOM killer (cgroup v2) is not the host's to hold back: the
 * policy only keeps the usage below it.
 */
enum fleet_policy { FLEET_POLICY_BALLOON, FLEET_POLICY_KILL };

enum fleet_state {
	FLEET_STARTING,	/* started, not attached and ready yet */
	FLEET_ALIVE,
	FLEET_KILLED,	/* by the budget */
	FLEET_EXITED,	/* any other end: @why says which */
};

#define FLEET_MAX_GUESTS 64
#define FLEET_NAME_MAX 24

struct fleet_config {
	uint64_t budget;	  /* bytes, > 0 */
	const char *cgroup_root;  /* a memory cgroup hierarchy to use instead
				     of the one this process is in; "none":
				     the host's own accounting */
	bool reporting;		  /* the devices offer free page reporting and
				     our guests use it */
	bool deflate_on_oom;	  /* the devices offer DEFLATE_ON_OOM (QEMU's
				     too): a guest takes pages back from its
				     balloon when an allocation would fail */
	unsigned int hog_pct;	  /* memhog: share of guest RAM, 1..95 */
	unsigned int hold_ms;	  /* memhog holds this long */
	unsigned int idle_ms;	  /* then idles this long */
	unsigned int cpus;	  /* our guests' vCPUs */
	const char *guest_exe;	  /* ours: default /proc/self/exe */
	const char *uml;	  /* linux: default /usr/bin/linux.uml */
	const char *initrd;	  /* linux: default uml/initrd.gz beside
				     /proc/self/exe */
	unsigned int boot_timeout_s; /* linux, qemu: how long a boot may
					take; 0 = FLEET_BOOT_S */
	const char *qemu;	  /* qemu: default /usr/bin/qemu-system-x86_64 */
	const char *kernel;	  /* qemu: default guestmm-kernel.elf as
				     run --qemu finds it */
	FILE *log;		  /* a line per event (start, end), or NULL */
	enum fleet_policy policy; /* default BALLOON */
	/* Each of the policy's decisions and each budget kill, as a control
	 * socket event: @name (BUDGET_INFLATE, BUDGET_DEFLATE, GUEST_KILLED)
	 * and its data, a JSON object's text; called from fleet_poll(). */
	void (*event)(void *ctx, const char *name, const char *data_json);
	void *event_ctx;
};

void fleet_config_init(struct fleet_config *c);

/* One guest as the host sees it. */
struct fleet_guest_info {
	char name[FLEET_NAME_MAX];	/* "ours-1", "linux-2" */
	enum fleet_kind kind;
	enum fleet_state state;
	pid_t pid;
	uint64_t mem_bytes;
	uint64_t resident_bytes;	/* the device's accounting, now */
	uint64_t resident_peak;
	uint64_t reports;		/* report requests the device completed */
	unsigned int cycles;		/* memhog cycles completed */
	uint64_t touched_bytes;		/* ours: what its cycles wrote (the
					   guest's word: its workload's rate) */
	uint64_t balloon_bytes;		/* the guest's actual, now */
	uint64_t available_bytes;	/* its stat-available-memory; 0: none */
	unsigned int inflates, deflates; /* the policy's decisions */
	double t_start, t_end;		/* seconds since fleet_create */
	char why[200];			/* KILLED, EXITED: how it ended */
};

struct fleet_budget_info {
	bool cgroup;		/* false: the host's own accounting */
	int cgroup_version;	/* 1 or 2 */
	uint64_t limit;
	uint64_t usage;		/* the cgroup's, or the sum of resident */
	uint64_t oom_kills;	/* the cgroup's OOM kills */
	uint64_t budget_kills;	/* guests this fleet saw the budget kill */
	enum fleet_policy policy;
	uint64_t inflates, deflates;	/* the balloon policy's decisions */
	char how[800];		/* one line: where the budget is kept */
};

struct fleet;

/*
 * fleet_create - the server, its socket directory and the budget.  When
 * no cgroup can be made, @out's budget says why and the host's own
 * accounting enforces it (fleet_budget().how).
 * Return: 0; -EINVAL a zero budget; -ENOMEM; -errno of the directory or
 * the server.
 */
int fleet_create(const struct fleet_config *c, struct fleet **out);

/*
 * fleet_add - start a guest of @kind with @mem_bytes of RAM, attached to a
 * new device of its own; it idles @start_delay_ms before its first cycle.
 * Return: the guest's index (>= 0); -ENOSPC past FLEET_MAX_GUESTS; -ENOENT
 * a missing guest executable, kernel or initrd; another -errno.
 */
int fleet_add(struct fleet *f, enum fleet_kind kind, uint64_t mem_bytes,
	      unsigned int start_delay_ms);

/*
 * fleet_poll - serve the guests for up to @timeout_ms: read their
 * consoles, drive the Linux guests' memhog, reap the ended, enforce the
 * budget.  Return: how many guests ended in this call.
 */
int fleet_poll(struct fleet *f, int timeout_ms);

/* Guests added from now on idle @ms between cycles. */
void fleet_set_idle(struct fleet *f, unsigned int ms);

unsigned int fleet_count(const struct fleet *f);
/* Guests fleet_add() could not even record (no device, no memory): they
 * are in no fleet_guest() slot, so a report counts them from here. */
unsigned int fleet_not_started(const struct fleet *f);
void fleet_guest(struct fleet *f, unsigned int i, struct fleet_guest_info *gi);
void fleet_budget(struct fleet *f, struct fleet_budget_info *b);
/* Guest @i's device: it lives until fleet_destroy(), after the guest. */
struct balloon_dev *fleet_guest_balloon(struct fleet *f, unsigned int i);
/* The directory of the devices' sockets (mode 0700, the fleet's own). */
const char *fleet_dir(const struct fleet *f);
/* Guests STARTING or ALIVE. */
unsigned int fleet_alive(const struct fleet *f);
double fleet_now(const struct fleet *f);

/* End every guest (SIGKILL), reap them, stop the server, remove the
 * cgroups and the directory. */
void fleet_destroy(struct fleet *f);

const char *fleet_kind_name(enum fleet_kind k);
const char *fleet_state_name(enum fleet_state s);
const char *fleet_policy_name(enum fleet_policy p);

#endif
