/*
 * unix_socket.h - a listening Unix socket at a path, taken only from nobody
 * and removed only by its maker.
 */
#ifndef GUESTMM_HOST_UNIX_SOCKET_H
#define GUESTMM_HOST_UNIX_SOCKET_H

#include <stdbool.h>
#include <sys/types.h>

/* The socket file bind() made: what unix_socket_unlink() checks. */
struct unix_socket_id {
	dev_t dev;
	ino_t ino;
	bool bound;
};

/*
 * unix_socket_listen - a SOCK_STREAM socket bound at @path and listening,
 * with @flags (SOCK_NONBLOCK, SOCK_CLOEXEC).  A socket file already at
 * @path is replaced only when a connection to it is refused (left by a
 * process that is gone); anything else there is left alone.  It holds
 * the lock file "@path.lock" meanwhile (waiting, a few seconds at most,
 * for another host's look; removed after).  *@id records the file bound, for unix_socket_unlink().
 * Return: the descriptor; -EADDRINUSE when something accepts connections
 * on @path; -EEXIST when @path exists and is not a socket; -ENAMETOOLONG;
 * -ENOLCK when another process holds the lock for seconds; or open's,
 * flock's, lstat's, socket's, connect's, unlink's, bind's or listen's
 * errno.
 */
int unix_socket_listen(const char *path, int backlog, int flags,
		       struct unix_socket_id *id);

/*
 * unix_socket_unlink - remove @path if it is still the socket file @id
 * recorded (another process may have replaced it since: that one is its).
 * Call it before closing the listening descriptor: once that is closed
 * another host finds the file stale and may replace it between this
 * function's look and its unlink().
 * Return: true when it was removed.
 */
bool unix_socket_unlink(const char *path, const struct unix_socket_id *id);

/* unix_socket_listen()'s errors in words ("another process is listening
 * on it"), else strerror(). */
const char *unix_socket_strerror(int err);

#endif
