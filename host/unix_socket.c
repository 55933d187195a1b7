/*
 * unix_socket.c - a listening Unix socket at a path, taken only from nobody
 * and removed only by its maker.
 *
 * A socket file can outlive its listener (a host that was killed), and
 * bind() fails on it, so a host removes the one it finds.  But the file
 * of a host still serving looks the same: removing it leaves that host
 * running and unreachable.  So a socket file is first connected to: a
 * listener accepts (or its backlog is full: it is there), and the path is
 * refused; only a refused connection marks the file stale.  A host
 * removes its own socket when it ends, and only its own: the path may
 * name another host's socket by then (one that found ours stale after we
 * stopped listening), so the file's device and inode, recorded at bind(),
 * must still match.
 *
 * Two hosts that find the same stale file at the same time both mean to
 * remove it, and a look (lstat()) then a removal (unlink()) is not one
 * step: when the first removes it and binds between the second's look and
 * its unlink(), the second removes the first's new socket and the first
 * listens unreachable.  So a host takes a lock beside the socket
 * (PATH.lock, flock()) from its first look until it listens: a second host
 * looks only then, finds a live socket and is refused.  The lock file goes
 * with its holder's unlock; whoever locked a lock file no longer at its
 * name (removed while it waited) takes the new one.  A directory we may
 * not write needs no lock: we could neither remove nor bind there.
 *
 * The device's own removal is the same look and unlink(), and needs no
 * lock if it comes while the socket still listens (unix_socket_unlink()
 * before close()): until then every other host finds it live.
 */
#define _GNU_SOURCE
#include "host/unix_socket.h"

#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <string.h>
#include <sys/file.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/un.h>
#include <unistd.h>

static bool same_file(const struct stat *a, const struct stat *b)
{
	return a->st_dev == b->st_dev && a->st_ino == b->st_ino;
}

/*
 * Whether something listens at @sun: a connection that is accepted, or
 * that would wait (a full backlog), says yes.
 * Return: 0 when refused (nobody listens); -EADDRINUSE; or socket's or
 * connect's errno.
 */
static int unix_socket_probe(const struct sockaddr_un *sun)
{
	int fd = socket(AF_UNIX, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
	int err = 0;

	if (fd < 0)
		return -errno;
	if (connect(fd, (const struct sockaddr *)sun, sizeof(*sun)) == 0 ||
	    errno == EAGAIN || errno == EINPROGRESS)
		err = -EADDRINUSE;
	else if (errno != ECONNREFUSED && errno != ENOENT)
		err = -errno;
	close(fd);
	return err;
}

/*
 * A lock is held for a look, a connect() that does not wait, an unlink()
 * and a bind(): microseconds, or a few scheduler ticks on a loaded
 * machine.  One held for seconds is held by a process stopped there, or by
 * another user's process holding a lock file it made in a shared directory
 * (/tmp): a clear error then, not a host that hangs saying nothing.
 */
#define UNIX_SOCKET_LOCK_WAIT_US 1000
#define UNIX_SOCKET_LOCK_TRIES 5000 /* 5 s */

/*
 * The lock of the socket at @path: "@path.lock" (into @lock), created if
 * need be, held with flock() on the returned descriptor.  It blocks while
 * another host takes or replaces @path (microseconds; a signal ends it).
 * *@fd is the descriptor, or -1 when the directory takes no file from us
 * (EACCES, EROFS): then no lock is needed.
 * Return: 0; -ENOLCK when the lock stayed held; or open's or flock's
 * errno (-ELOOP for a symlink).
 */
static int unix_socket_lock(const char *path, char *lock, size_t len,
			    int *fd)
{
	struct stat held, named;
	int err;

	snprintf(lock, len, "%s.lock", path);
	for (;;) {
		*fd = open(lock, O_RDWR | O_CREAT | O_NOFOLLOW | O_CLOEXEC, 0600);
		if (*fd < 0)
			return errno == EACCES || errno == EROFS ? 0 : -errno;
		err = 0;
		for (unsigned int i = 0; flock(*fd, LOCK_EX | LOCK_NB) < 0; i++) {
			err = -errno;
			if (err != -EWOULDBLOCK || i >= UNIX_SOCKET_LOCK_TRIES)
				break;
			err = 0;
			usleep(UNIX_SOCKET_LOCK_WAIT_US);
		}
		if (err) {
			close(*fd);
			*fd = -1;
			return err == -EWOULDBLOCK ? -ENOLCK : err;
		}
		/* Its holder removes it as it unlocks: ours only if still named. */
		if (fstat(*fd, &held) == 0 && lstat(lock, &named) == 0 &&
		    same_file(&held, &named))
			return 0;
		close(*fd);
	}
}

static void unix_socket_unlock(const char *lock, int fd)
{
	if (fd < 0)
		return;
	unlink(lock);
	close(fd);
}

/* unix_socket_listen() with @path's lock held (or not needed). */
static int unix_socket_listen_locked(const char *path, int backlog,
				     int flags, struct unix_socket_id *id)
{
	struct sockaddr_un sun = { .sun_family = AF_UNIX };
	struct stat st, now;
	int fd, err;

	strcpy(sun.sun_path, path);
	if (lstat(path, &st) == 0) {
		if (!S_ISSOCK(st.st_mode))
			return -EEXIST;
		err = unix_socket_probe(&sun);
		if (err)
			return err;
		/* Stale: remove it, unless another took its place since. */
		if (lstat(path, &now) == 0 && same_file(&st, &now) &&
		    unlink(path) && errno != ENOENT)
			return -errno;
	} else if (errno != ENOENT) {
		return -errno;
	}
	fd = socket(AF_UNIX, SOCK_STREAM | flags, 0);
	if (fd < 0)
		return -errno;
	if (bind(fd, (struct sockaddr *)&sun, sizeof(sun)) < 0) {
		/* Another process bound it after our look: it is theirs. */
		err = -errno;
		close(fd);
		return err;
	}
	if (lstat(path, &st) < 0) {
		/* Made but not known: left, as unix_socket_unlink() would. */
		err = -errno;
		close(fd);
		return err;
	}
	if (listen(fd, backlog) < 0) {
		err = -errno;
		if (lstat(path, &now) == 0 && same_file(&st, &now))
			unlink(path);
		close(fd);
		return err;
	}
	id->dev = st.st_dev;
	id->ino = st.st_ino;
	id->bound = true;
	return fd;
}

int unix_socket_listen(const char *path, int backlog, int flags,
		       struct unix_socket_id *id)
{
	char lock[sizeof(((struct sockaddr_un *)0)->sun_path) + 8];
	int lock_fd, fd;

	id->bound = false;
	if (strlen(path) >= sizeof(((struct sockaddr_un *)0)->sun_path))
		return -ENAMETOOLONG;
	fd = unix_socket_lock(path, lock, sizeof(lock), &lock_fd);
	if (fd)
		return fd;
	fd = unix_socket_listen_locked(path, backlog, flags, id);
	unix_socket_unlock(lock, lock_fd);
	return fd;
}

bool unix_socket_unlink(const char *path, const struct unix_socket_id *id)
{
	struct stat st;

	if (!id->bound || lstat(path, &st) < 0 || !S_ISSOCK(st.st_mode) ||
	    st.st_dev != id->dev || st.st_ino != id->ino)
		return false;
	return unlink(path) == 0;
}

const char *unix_socket_strerror(int err)
{
	switch (err) {
	case -EADDRINUSE:
		return "another process is listening on it";
	case -EEXIST:
		return "it exists and is not a socket";
	case -ENOLCK:
		return "its lock file (the path and .lock) stays locked by another process";
	default:
		return strerror(-err);
	}
}
