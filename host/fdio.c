/*
 * fdio.c - bounded I/O on a frontend's notification descriptors.
 *
 * See fdio.h for why.  The guard timer is created per thread on first use
 * (SIGEV_THREAD_ID: the signal must interrupt the thread that blocks, not
 * any thread of the process) and deleted when the thread exits.  It is
 * armed periodic, not one-shot: an expiry that lands between poll() and
 * write() is spent before the write blocks, and the next one still
 * interrupts it.
 */
#ifndef _GNU_SOURCE
#define _GNU_SOURCE
#endif
#include "host/fdio.h"

#include <errno.h>
#include <poll.h>
#include <pthread.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <sys/uio.h>
#include <time.h>
#include <unistd.h>

static pthread_once_t fdio_once = PTHREAD_ONCE_INIT;
static int fdio_init_err; /* set once by fdio_setup() */
static pthread_key_t fdio_timer_key; /* value: a malloc'd timer_t */

/* Only there so that the signal interrupts a blocked write (EINTR). */
static void fdio_guard_handler(int sig)
{
	(void)sig;
}

static void fdio_timer_free(void *p)
{
	timer_delete(*(timer_t *)p);
	free(p);
}

static void fdio_setup(void)
{
	struct sigaction sa, old;

	if (pthread_key_create(&fdio_timer_key, fdio_timer_free)) {
		fdio_init_err = -EAGAIN;
		return;
	}
	if (sigaction(FDIO_GUARD_SIGNAL, NULL, &old) < 0) {
		fdio_init_err = -errno;
		return;
	}
	/* Someone else's handler might restart the write: refuse. */
	if (old.sa_handler != SIG_DFL && old.sa_handler != SIG_IGN) {
		fdio_init_err = -EBUSY;
		return;
	}
	memset(&sa, 0, sizeof(sa));
	sa.sa_handler = fdio_guard_handler;
	sigemptyset(&sa.sa_mask);
	sa.sa_flags = 0; /* no SA_RESTART: the write must return EINTR */
	if (sigaction(FDIO_GUARD_SIGNAL, &sa, NULL) < 0)
		fdio_init_err = -errno;
}

/*
 * fdio_guard_init - claim FDIO_GUARD_SIGNAL for the write guard; idempotent.
 * Return: 0; -EBUSY when the process already handles that signal; -EAGAIN
 * when no thread key is left; or sigaction's errno.
 */
int fdio_guard_init(void)
{
	pthread_once(&fdio_once, fdio_setup);
	return fdio_init_err;
}

/*
 * fdio_check_notifier - may @fd serve as a kick, call or error descriptor?
 * The kind is read from the name /proc gives the descriptor, which never
 * calls into its file system: fstat() of a FUSE file asks the daemon, and
 * the frontend may be the daemon.  Pipes, sockets and eventfds live on
 * kernel-internal file systems whose names do not start with '/'; a named
 * FIFO, whose name is a path, is refused with the other files (no frontend
 * sends one).
 * Return: 0 for an anonymous pipe, an eventfd or a connected unix socket
 * (user-mode Linux's "pipes" are socketpairs); -EINVAL for anything else (a
 * regular file or a listening socket could block us or never stop being
 * readable); -EBADF when @fd is not open.
 */
int fdio_check_notifier(int fd)
{
	char path[40], link[64];
	int domain = -1, listening = 1;
	socklen_t len = sizeof(int);
	ssize_t n;

	snprintf(path, sizeof(path), "/proc/self/fd/%d", fd);
	n = readlink(path, link, sizeof(link) - 1);
	if (n < 0)
		return errno == ENOENT ? -EBADF : -EINVAL;
	link[n] = '\0';
	if (!strncmp(link, "pipe:[", 6) ||
	    !strcmp(link, "anon_inode:[eventfd]"))
		return 0;
	if (strncmp(link, "socket:[", 8))
		return -EINVAL;
	/* A unix socket honours RWF_NOWAIT (MSG_DONTWAIT) like a pipe. */
	if (getsockopt(fd, SOL_SOCKET, SO_DOMAIN, &domain, &len) < 0 ||
	    domain != AF_UNIX)
		return -EINVAL;
	len = sizeof(int);
	if (getsockopt(fd, SOL_SOCKET, SO_ACCEPTCONN, &listening, &len) < 0 ||
	    listening)
		return -EINVAL;
	return 0;
}

static timer_t *fdio_thread_timer(void)
{
	struct sigevent sev = { 0 };
	timer_t *t = pthread_getspecific(fdio_timer_key);

	if (t)
		return t;
	t = malloc(sizeof(*t));
	if (!t)
		return NULL;
	sev.sigev_notify = SIGEV_THREAD_ID;
	sev.sigev_signo = FDIO_GUARD_SIGNAL;
#ifdef sigev_notify_thread_id
	sev.sigev_notify_thread_id = (pid_t)syscall(SYS_gettid);
#else
	sev._sigev_un._tid = (pid_t)syscall(SYS_gettid);
#endif
	if (timer_create(CLOCK_MONOTONIC, &sev, t) < 0) {
		free(t);
		return NULL;
	}
	if (pthread_setspecific(fdio_timer_key, t)) {
		fdio_timer_free(t);
		return NULL;
	}
	return t;
}

/* An eventfd write of @val that returns within about FDIO_GUARD_NS. */
static int fdio_guarded_write(int fd, uint64_t val)
{
	struct itimerspec on = {
		.it_value = { 0, FDIO_GUARD_NS },
		.it_interval = { 0, FDIO_GUARD_NS },
	};
	struct itimerspec off = { 0 };
	struct pollfd p = { .fd = fd, .events = POLLOUT };
	sigset_t guard, old;
	timer_t *t;
	ssize_t n;
	int err;

	if (fdio_guard_init())
		return -EAGAIN; /* no guard: do not risk the write */
	/* A full counter: the reader has a wakeup pending already. */
	if (poll(&p, 1, 0) != 1 || !(p.revents & POLLOUT))
		return (p.revents & (POLLERR | POLLNVAL)) ? -EIO : -EAGAIN;
	t = fdio_thread_timer();
	if (!t)
		return -EAGAIN; /* cannot guard it: do not risk it */
	sigemptyset(&guard);
	sigaddset(&guard, FDIO_GUARD_SIGNAL);
	pthread_sigmask(SIG_UNBLOCK, &guard, &old);
	if (timer_settime(*t, 0, &on, NULL) < 0) {
		pthread_sigmask(SIG_SETMASK, &old, NULL);
		return -EAGAIN;
	}
	n = write(fd, &val, sizeof(val));
	err = n < 0 ? errno : 0;
	timer_settime(*t, 0, &off, NULL);
	pthread_sigmask(SIG_SETMASK, &old, NULL);
	if (n == (ssize_t)sizeof(val))
		return 0;
	if (!err || err == EINTR)
		return -EAGAIN;
	return -err;
}

/*
 * fdio_notify - signal a call or error descriptor (8 bytes of 1), never
 * blocking beyond FDIO_GUARD_NS.
 * Return: 0; -EAGAIN when it could not be delivered now (a full pipe or
 * counter: the reader has a wakeup pending, unless it is hostile); or the
 * write's errno (-EPIPE for a pipe nobody reads; SIGPIPE must be ignored).
 */
int fdio_notify(int fd)
{
	uint64_t one = 1;
	struct iovec iov = { &one, sizeof(one) };
	ssize_t n;

	n = pwritev2(fd, &iov, 1, -1, RWF_NOWAIT);
	if (n == (ssize_t)sizeof(one))
		return 0;
	if (n >= 0)
		return -EAGAIN; /* a pipe takes 8 bytes whole or not at all */
	if (errno == EOPNOTSUPP)
		return fdio_guarded_write(fd, one); /* an eventfd */
	if (errno == EINTR || errno == EWOULDBLOCK)
		return -EAGAIN;
	return -errno;
}

/*
 * fdio_drain - consume pending kicks on @fd with at most @max_reads reads.
 * Return: 0 when it is empty or the bound was reached (an edge-triggered
 * caller hears of the next write anyway); -EPIPE when a pipe's writers
 * are all gone; or read's errno for a descriptor that is of no more use.
 */
int fdio_drain(int fd, unsigned int max_reads)
{
	uint8_t buf[64]; /* an eventfd reads as 8 bytes; a pipe may hold more */
	struct iovec iov = { buf, sizeof(buf) };

	while (max_reads--) {
		ssize_t n = preadv2(fd, &iov, 1, -1, RWF_NOWAIT);

		if (n > 0)
			continue;
		if (n == 0)
			return -EPIPE;
		if (errno == EAGAIN || errno == EINTR)
			return 0;
		return -errno;
	}
	return 0;
}
