/*
 * service.c - sd_notify(3)'s datagram, without libsystemd (service.h).
 */
#ifndef _GNU_SOURCE
#define _GNU_SOURCE
#endif
#include "host/service.h"

#include <errno.h>
#include <stddef.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <unistd.h>

int service_notify(const char *state)
{
	const char *path = getenv("NOTIFY_SOCKET");
	struct sockaddr_un sa = { .sun_family = AF_UNIX };
	socklen_t sa_len;
	size_t n;
	ssize_t w;
	int fd, err = 0;

	if (!path || !*path)
		return 0;
	n = strlen(path);
	/* A path, or '@' for the abstract namespace (a leading NUL). */
	if ((path[0] != '/' && path[0] != '@') || n >= sizeof(sa.sun_path))
		return -EINVAL;
	memcpy(sa.sun_path, path, n);
	if (path[0] == '@')
		sa.sun_path[0] = 0;
	sa_len = (socklen_t)(offsetof(struct sockaddr_un, sun_path) + n +
			     (path[0] == '@' ? 0 : 1));
	fd = socket(AF_UNIX, SOCK_DGRAM | SOCK_CLOEXEC, 0);
	if (fd < 0)
		return -errno;
	do
		w = sendto(fd, state, strlen(state), MSG_NOSIGNAL,
			   (struct sockaddr *)&sa, sa_len);
	while (w < 0 && errno == EINTR);
	if (w < 0)
		err = -errno;
	close(fd);
	return err ? err : 1;
}
