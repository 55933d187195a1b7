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
 * What is left: two hosts that find the same stale file at the same time
 * both mean to remove it.  Mostly the second finds it replaced (the inode
 * differs) and its bind() fails with EADDRINUSE; but when the first
 * removes it and binds between the second's last lstat() and its unlink(),
 * the second removes the first's new socket, and the first listens
 * unreachable.  The window is those few instructions; a lock file beside
 * the socket would close it.
 */
#define _GNU_SOURCE
#include "host/unix_socket.h"

#include <errno.h>
#include <string.h>
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

int unix_socket_listen(const char *path, int backlog, int flags,
		       struct unix_socket_id *id)
{
	struct sockaddr_un sun = { .sun_family = AF_UNIX };
	struct stat st, now;
	int fd, err;

	id->bound = false;
	if (strlen(path) >= sizeof(sun.sun_path))
		return -ENAMETOOLONG;
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
	default:
		return strerror(-err);
	}
}
