/*
 * uml_guest.c - start and drive a user-mode Linux guest.
 *
 * The guest's console is two pipes: UML reads commands from the first (it
 * cannot epoll /dev/null, so a pipe it must be) and writes its console to the
 * second, which we read without blocking and split into lines.  Each guest
 * gets a private uml_dir (a directory of ours, tmp_dir.h: in $TMPDIR,
 * removed after a SIGKILL of its host by the next maker) so that several
 * can run at once.
 */
#define _GNU_SOURCE
#include "host/uml_guest.h"

#include <errno.h>
#include <fcntl.h>
#include <poll.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/prctl.h>
#include <sys/statfs.h>
#include <sys/syscall.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <time.h>
#include <linux/magic.h>
#include <unistd.h>

#include "host/line_buf.h"
#include "host/tmp_dir.h"

#define CONSOLE_BUF 8192

struct uml_guest {
	pid_t pid;	/* the keeper: the leader of the guest's process group */
	int life_fd;	/* the keeper's pipe: closed when we are gone */
	int in_fd;  /* the guest's console input */
	int out_fd; /* the guest's console output, nonblocking */
	FILE *log;
	struct tmp_dir dir; /* its uml_dir */
	char buf[CONSOLE_BUF];
	size_t used;
	bool overlong; /* the rest of a line longer than @buf is dropped */
	bool balloon_loaded;
	bool gone;
};

static long now_ms(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

/*
 * Take the next whole line out of the buffer, reading more when there is
 * none.  Return: 1 with a line, 0 on timeout, -EPIPE when the guest is gone.
 */
static int console_line(struct uml_guest *g, char *line, size_t len,
			long deadline)
{
	for (;;) {
		if (g->overlong && line_buf_take(g->buf, &g->used, line, len)) {
			/* The tail of a line too long: no line of its own. */
			g->overlong = false;
			continue;
		}
		if (line_buf_take(g->buf, &g->used, line, len)) {
			if (g->log)
				fprintf(g->log, "%s\n", line);
			if (!strcmp(line, "gmm-balloon loaded"))
				g->balloon_loaded = true;
			return 1;
		}
		if (g->used == sizeof(g->buf)) { /* a line too long: drop it */
			g->used = 0;
			g->overlong = true;
		}
		if (g->gone)
			return -EPIPE;
		long left = deadline - now_ms();
		struct pollfd p = { g->out_fd, POLLIN, 0 };

		if (left <= 0)
			return 0;
		if (poll(&p, 1, (int)(left > 1000 ? 1000 : left)) < 0 && errno != EINTR)
			return -errno;
		ssize_t r = read(g->out_fd, g->buf + g->used, sizeof(g->buf) - g->used);

		if (r > 0)
			g->used += (size_t)r;
		else if (r == 0)
			g->gone = true;
		else if (errno != EAGAIN && errno != EINTR)
			g->gone = true;
	}
}

int uml_guest_wait_line(struct uml_guest *g, const char *prefix, char *line,
			size_t len, int timeout_ms)
{
	long deadline = now_ms() + timeout_ms;
	char tmp[512];

	for (;;) {
		int r = console_line(g, tmp, sizeof(tmp), deadline);

		if (r < 0)
			return r;
		if (r == 0)
			return -ETIMEDOUT;
		if (!strncmp(tmp, prefix, strlen(prefix))) {
			if (line)
				snprintf(line, len, "%s", tmp);
			return 0;
		}
	}
}

int uml_guest_send(struct uml_guest *g, const char *cmd)
{
	size_t n = strlen(cmd);
	char *msg = malloc(n + 2);
	ssize_t w;

	if (!msg)
		return -ENOMEM;
	memcpy(msg, cmd, n);
	msg[n] = '\n';
	w = write(g->in_fd, msg, n + 1);
	free(msg);
	if (w != (ssize_t)(n + 1))
		return w < 0 ? -errno : -EIO;
	return 0;
}

int uml_guest_run(struct uml_guest *g, const char *cmd, int timeout_ms)
{
	char line[128];
	int err = uml_guest_send(g, cmd);

	if (err)
		return err;
	err = uml_guest_wait_line(g, "gmm-done ", line, sizeof(line), timeout_ms);
	if (err)
		return err;
	return atoi(line + strlen("gmm-done "));
}

bool uml_guest_balloon_loaded(struct uml_guest *g)
{
	return g->balloon_loaded;
}

pid_t uml_guest_pid(struct uml_guest *g)
{
	return g->pid;
}

pid_t uml_guest_kernel_pid(struct uml_guest *g)
{
	char path[64], buf[32];
	long pid;
	FILE *f;

	/* The keeper has one child, the kernel (CONFIG_PROC_CHILDREN). */
	snprintf(path, sizeof(path), "/proc/%d/task/%d/children", (int)g->pid,
		 (int)g->pid);
	f = fopen(path, "r");
	if (!f)
		return -ESRCH;
	pid = fscanf(f, "%31s", buf) == 1 ? strtol(buf, NULL, 10) : 0;
	fclose(f);
	return pid > 0 ? (pid_t)pid : -ESRCH;
}

void uml_guest_kill(struct uml_guest *g)
{
	/* The keeper ends the kernel's process group, then itself. */
	if (g->pid > 0 && write(g->life_fd, "k", 1) != 1)
		kill(g->pid, SIGKILL);
}

const char *uml_guest_dir(struct uml_guest *g)
{
	return g->dir.path;
}

int uml_guest_life_fd(struct uml_guest *g)
{
	return g->life_fd;
}

int uml_guest_wait_exit(struct uml_guest *g, int timeout_ms)
{
	long deadline = now_ms() + timeout_ms;
	int status;

	if (g->pid <= 0)
		return -ECHILD;
	for (;;) {
		pid_t r = waitpid(g->pid, &status, WNOHANG);

		if (r == g->pid)
			break;
		if (r < 0 && errno != EINTR)
			return -errno;
		if (now_ms() > deadline)
			return -ETIMEDOUT;
		struct timespec ts = { 0, 20 * 1000 * 1000 };
		nanosleep(&ts, NULL);
	}
	g->pid = -1;
	g->gone = true;
	return WIFEXITED(status) ? WEXITSTATUS(status) : 128 + WTERMSIG(status);
}

void uml_guest_destroy(struct uml_guest *g, int timeout_ms)
{
	long deadline = now_ms() + timeout_ms;
	int status;

	if (!g)
		return;
	if (g->pid > 0) {
		if (!g->gone)
			uml_guest_send(g, "poweroff");
		while (waitpid(g->pid, &status, WNOHANG) == 0) {
			if (now_ms() > deadline) {
				uml_guest_kill(g);
				waitpid(g->pid, &status, 0);
				break;
			}
			struct timespec ts = { 0, 20 * 1000 * 1000 };
			nanosleep(&ts, NULL);
		}
		/* The keeper ended the kernel's group with it. */
	}
	close(g->in_fd);
	close(g->out_fd);
	close(g->life_fd);
	if (g->log)
		fclose(g->log);
	/* uml_dir holds the umid directory UML made: a pid file and a
	 * socket; its kernel is dead (reaped above), so nothing adds to it. */
	tmp_dir_destroy(&g->dir);
	free(g);
}

/*
 * The keeper: the guest's first process, between the host and the
 * kernel's process.  A user-mode Linux kernel calls setsid() and makes
 * processes of its own (helpers, one per guest address space) in its new
 * process group that do not die with it, and PR_SET_PDEATHSIG does not
 * pass to them; so the keeper holds the read end of a pipe only the host
 * writes to, and when the host writes a byte (uml_guest_kill) or is gone
 * however it went (its end closes), it kills the kernel's whole group and
 * ends.  When the kernel's process ends by itself the keeper ends its
 * group too, and exits with its status.
 * Only async-signal-safe calls: this is a fork of a threaded host.
 */
static void __attribute__((noreturn))
uml_keeper(const struct uml_guest_config *cfg, const char *linux_path,
	   char *const *argv, char **envp, int in_fd, int out_fd,
	   int life_fd, pid_t parent)
{
	pid_t kernel;
	int status;

	setpgid(0, 0);
	if (getppid() != parent)
		_exit(127);
	if (cfg->cgroup_procs) {
		int fd = open(cfg->cgroup_procs, O_WRONLY | O_CLOEXEC);

		if (fd < 0 || write(fd, "0", 1) != 1)
			_exit(126);
		close(fd);
	}
	/* Keep the console and the pipe to the host; close everything else
	 * (other guests' pipes, the server's sockets: a fork keeps them). */
	if (dup2(in_fd, 0) < 0 || dup2(out_fd, 1) < 0 || dup2(out_fd, 2) < 0 ||
	    dup2(life_fd, 3) < 0)
		_exit(127);
	syscall(SYS_close_range, 4u, ~0u, 0u);
	kernel = fork();
	if (kernel < 0)
		_exit(127);
	if (kernel == 0) {
		close(3);
		if (prctl(PR_SET_PDEATHSIG, SIGKILL))
			_exit(127);
		execve(linux_path, argv, envp);
		_exit(127);
	}
	close(0);
	close(1);
	close(2);
	for (;;) {
		struct pollfd p = { 3, POLLIN, 0 };
		pid_t r;

		/* A byte (uml_guest_kill) or the end (the host is gone). */
		if (poll(&p, 1, 200) > 0 && p.revents) {
			kill(-kernel, SIGKILL);
			kill(kernel, SIGKILL);
			while (waitpid(kernel, &status, 0) < 0 && errno == EINTR)
				;
			kill(-kernel, SIGKILL);
			_exit(128 + SIGKILL);
		}
		r = waitpid(kernel, &status, WNOHANG);
		if (r == kernel)
			break;
	}
	/* Its own processes outlive it otherwise. */
	kill(-kernel, SIGKILL);
	_exit(WIFEXITED(status) ? WEXITSTATUS(status) : 128 + WTERMSIG(status));
}

/*
 * The kernel's environment: ours, less TMPDIR, TMP and TEMP when $TMPDIR
 * is not a tmpfs.  User-mode Linux makes its RAM file in the first of
 * those it finds (else /dev/shm when that is a tmpfs), and our device maps
 * guest RAM only from tmpfs or hugetlbfs: a Linux guest started with
 * TMPDIR on a disk had its memory table refused ("refused SET_MEM_TABLE:
 * Invalid argument") and never reported.  The file is unlinked as soon as
 * it is made: nothing is left there either way.
 * Return: an array to free() (its strings are environ's), NULL without
 * memory.
 */
static char **uml_env_make(void)
{
	extern char **environ;
	bool keep = true;
	struct statfs sfs;
	size_t n = 0, k = 0;
	char **envp;

	if (getenv("TMPDIR") || getenv("TMP") || getenv("TEMP"))
		keep = !statfs(tmp_dir_base(), &sfs) && sfs.f_type == TMPFS_MAGIC;
	while (environ && environ[n])
		n++;
	envp = calloc(n + 1, sizeof(*envp));
	if (!envp)
		return NULL;
	for (size_t i = 0; i < n; i++) {
		if (!keep && (!strncmp(environ[i], "TMPDIR=", 7) ||
			      !strncmp(environ[i], "TMP=", 4) ||
			      !strncmp(environ[i], "TEMP=", 5)))
			continue;
		envp[k++] = environ[i];
	}
	envp[k] = NULL;
	return envp;
}

int uml_guest_spawn(const struct uml_guest_config *cfg, struct uml_guest **out)
{
	const char *linux_path = cfg->linux_path ? cfg->linux_path : "/usr/bin/linux.uml";
	uint64_t mem = cfg->mem_bytes ? cfg->mem_bytes : 1ull << 30;
	int in[2], outp[2], err;
	struct uml_guest *g;
	char mem_arg[32], initrd_arg[512], dir_arg[TMP_DIR_PATH_MAX + 16];
	char dev_arg[512];
	char *argv[16], **envp;
	int argc = 0;
	pid_t parent;
	int life[2];

	if (cfg->argv) {
		linux_path = cfg->argv[0];
		if (access(linux_path, X_OK))
			return -ENOENT;
	} else if (access(linux_path, X_OK) || !cfg->initrd ||
		   access(cfg->initrd, R_OK)) {
		return -ENOENT;
	}
	g = calloc(1, sizeof(*g));
	if (!g)
		return -ENOMEM;
	err = tmp_dir_create(&g->dir, "uml");
	if (err)
		goto undo_alloc;
	if (pipe2(in, O_CLOEXEC)) {
		err = -errno;
		goto undo_dir;
	}
	if (pipe2(outp, O_CLOEXEC)) {
		err = -errno;
		goto undo_in;
	}
	if (cfg->console_log)
		g->log = fopen(cfg->console_log, "a");
	snprintf(mem_arg, sizeof(mem_arg), "mem=%lluM",
		 (unsigned long long)(mem >> 20));
	snprintf(initrd_arg, sizeof(initrd_arg), "initrd=%s", cfg->initrd);
	snprintf(dir_arg, sizeof(dir_arg), "uml_dir=%s", g->dir.path);
	argv[argc++] = (char *)linux_path;
	argv[argc++] = mem_arg;
	argv[argc++] = initrd_arg;
	argv[argc++] = "con=null";
	argv[argc++] = "con0=fd:0,fd:1";
	argv[argc++] = dir_arg;
	argv[argc++] = "umid=guestmm";
	argv[argc++] = "quiet";
	if (cfg->balloon_socket) {
		snprintf(dev_arg, sizeof(dev_arg), "virtio_uml.device=%s:5",
			 cfg->balloon_socket);
		argv[argc++] = dev_arg;
	}
	if (cfg->extra_cmdline)
		argv[argc++] = (char *)cfg->extra_cmdline;
	argv[argc] = NULL;

	parent = getpid();
	envp = uml_env_make();
	if (!envp) {
		err = -ENOMEM;
		goto undo_out;
	}
	if (pipe2(life, O_CLOEXEC)) {
		err = -errno;
		free(envp);
		goto undo_out;
	}
	g->pid = fork();
	if (g->pid < 0) {
		err = -errno;
		free(envp);
		close(life[0]);
		close(life[1]);
		goto undo_out;
	}
	if (g->pid == 0)
		uml_keeper(cfg, linux_path, cfg->argv ? cfg->argv : argv, envp,
			   in[0], outp[1], life[0], parent);
	free(envp);
	close(life[0]);
	g->life_fd = life[1];
	close(in[0]);
	close(outp[1]);
	g->in_fd = in[1];
	g->out_fd = outp[0];
	fcntl(g->out_fd, F_SETFL, O_NONBLOCK);
	*out = g;
	return 0;

undo_out:
	if (g->log)
		fclose(g->log);
	close(outp[0]);
	close(outp[1]);
undo_in:
	close(in[0]);
	close(in[1]);
undo_dir:
	tmp_dir_destroy(&g->dir);
undo_alloc:
	free(g);
	return err;
}

int uml_guest_start(const struct uml_guest_config *cfg, int timeout_ms,
		    struct uml_guest **out)
{
	struct uml_guest *g;
	int err = uml_guest_spawn(cfg, &g);

	if (err)
		return err;
	err = uml_guest_wait_line(g, "gmm-ready", NULL, 0, timeout_ms);
	if (err) {
		uml_guest_destroy(g, 0);
		return err == -EPIPE ? -ECHILD : err;
	}
	*out = g;
	return 0;
}
