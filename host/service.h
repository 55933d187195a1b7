/*
 * service.h - telling systemd how the host is doing (sd_notify(3)'s
 * protocol), for a Type=notify unit such as guestmm-host@.service.
 *
 * The protocol is one datagram of "KEY=VALUE" lines to the AF_UNIX socket
 * named by $NOTIFY_SOCKET (a path, or "@name" in the abstract namespace);
 * systemd documents it as stable and gives a reference implementation of
 * a few lines in sd_notify(3).  It is written here instead of linking
 * libsystemd for the one message: no library, and so no package, for a
 * host that is not run by systemd, and nothing but sendmsg() on the path.
 */
#ifndef GUESTMM_HOST_SERVICE_H
#define GUESTMM_HOST_SERVICE_H

/*
 * service_notify - send @state ("READY=1\nSTATUS=...") to the service
 * manager, when there is one ($NOTIFY_SOCKET set).
 * Return: 1 sent; 0 no $NOTIFY_SOCKET; -EINVAL a $NOTIFY_SOCKET that is
 * no AF_UNIX address; -errno of socket() or sendmsg().
 */
int service_notify(const char *state);

#endif
