/*
 * uml_guest.h - a stock Linux guest as a process: Debian's user-mode Linux
 * (linux.uml, 6.1), booted from the initramfs guest/uml/ builds, its
 * virtio_balloon driver attached to one of our vhost-user sockets.  The host
 * talks to the guest's init over the console: a command a line, answered by
 * "gmm-done STATUS".
 */
#ifndef GUESTMM_HOST_UML_GUEST_H
#define GUESTMM_HOST_UML_GUEST_H

#include <stdbool.h>
#include <stdint.h>
#include <sys/types.h>

struct uml_guest_config {
	const char *linux_path;	  /* default /usr/bin/linux.uml */
	const char *initrd;	  /* the initramfs (required) */
	const char *balloon_socket; /* vhost-user socket, or NULL for none */
	uint64_t mem_bytes;	  /* mem=; default 1 GiB */
	const char *extra_cmdline; /* e.g. "init_on_free=1", or NULL */
	const char *console_log;  /* append the console here, or NULL */
	/* A cgroup.procs file the guest joins before it runs (so that the
	 * memory it touches first, its memory file, is charged there), or
	 * NULL.  When it cannot join, it does not run. */
	const char *cgroup_procs;
	/* Another kernel's VMM instead (runner/qemu.c: QEMU booting Linux
	 * with the console on its stdio): this NULL-terminated command line
	 * runs in place of linux.uml's, and @linux_path, @initrd, @mem_bytes,
	 * @extra_cmdline and @balloon_socket are not used; the console, the
	 * keeper and the commands are the same. */
	char *const *argv;
};

struct uml_guest;

/*
 * Start the guest and return at once: uml_guest_wait_line(g, "gmm-ready",
 * ...) says when its init is up.  The guest dies with the calling thread
 * (PR_SET_PDEATHSIG), so start it from one that outlives it.
 * Return: 0 with *@out set; -ENOENT when linux.uml or the initrd is missing
 * (@argv: when its program is not executable); another -errno.
 */
int uml_guest_spawn(const struct uml_guest_config *cfg, struct uml_guest **out);

/*
 * Start the guest (as uml_guest_spawn) and wait until its init says
 * "gmm-ready".
 * Return: 0 with *@out set; -ENOENT when linux.uml or the initrd is missing;
 * -ETIMEDOUT when init did not come up within @timeout_ms; another -errno.
 */
int uml_guest_start(const struct uml_guest_config *cfg, int timeout_ms,
		    struct uml_guest **out);

/*
 * Run one shell command line in the guest and wait for its end.
 * Return: the command's exit status (>= 0), -ETIMEDOUT, or -EPIPE when the
 * guest has gone.
 */
int uml_guest_run(struct uml_guest *g, const char *cmd, int timeout_ms);

/* Write one command line without waiting. Return: 0 or -errno. */
int uml_guest_send(struct uml_guest *g, const char *cmd);

/*
 * Wait for a console line that starts with @prefix; copy it to @line.
 * Return: 0, -ETIMEDOUT, or -EPIPE when the guest has gone.
 */
int uml_guest_wait_line(struct uml_guest *g, const char *prefix, char *line,
			size_t len, int timeout_ms);

/* Whether the balloon driver loaded (init's "gmm-balloon loaded"). */
bool uml_guest_balloon_loaded(struct uml_guest *g);

pid_t uml_guest_pid(struct uml_guest *g);

/*
 * The kernel's process (linux.uml, or @argv's program), the keeper's
 * child, whose /proc entry shows its memory.
 * Return: its pid; -ESRCH when it has ended or cannot be found.
 */
pid_t uml_guest_kernel_pid(struct uml_guest *g);

/* Its uml_dir (where UML keeps its pid file and console socket). */
const char *uml_guest_dir(struct uml_guest *g);

/*
 * For a signal handler that must end the guest before the process goes:
 * a byte written to this descriptor makes the keeper end the guest's
 * whole process group and exit (write() is async-signal-safe).  Valid
 * until uml_guest_destroy().
 */
int uml_guest_life_fd(struct uml_guest *g);

/* SIGKILL, as a crash would: the host must survive it.  The whole guest:
 * the kernel's process and every process it made (its process group). */
void uml_guest_kill(struct uml_guest *g);

/*
 * Wait up to @timeout_ms for the guest to end by itself, and reap it.
 * Return: its kernel's exit status (>= 0; 128 + N for signal N);
 * -ETIMEDOUT when it is still running.
 */
int uml_guest_wait_exit(struct uml_guest *g, int timeout_ms);

/* Power off (or kill after @timeout_ms), reap, free. */
void uml_guest_destroy(struct uml_guest *g, int timeout_ms);

#endif
