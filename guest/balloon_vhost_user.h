/*
 * balloon_vhost_user.h - the balloon driver (balloon_driver.h) of a process
 * guest: the guest's core and RAM (guestmm/guest.h) as the driver's
 * environment, the vhost-user transport (vhost_user_transport.h) to a
 * backend's virtio-balloon, and a thread of its own for the driver.
 */
#ifndef GUESTMM_GUEST_BALLOON_VHOST_USER_H
#define GUESTMM_GUEST_BALLOON_VHOST_USER_H

#include <stdbool.h>

struct balloon_driver;
struct balloon_vhost_user;
struct gmm_guest;

/*
 * balloon_vhost_user_start - connect to the device on @socket_path, probe
 * the driver over it (negotiate, share @guest's RAM, start every queue)
 * and start the driver thread.  With @reporting and the device able to
 * take it, the driver is the guest's reporting device, with the guest's
 * strategy and reporting settings.
 * Return: 0 with *@out set; the transport's errors (-ENOENT,
 * -ECONNREFUSED, -EPIPE, -ETIMEDOUT, -EPROTO, -ENODEV without a config
 * space ...); balloon_driver_probe()'s; -ENOMEM; -EAGAIN when no thread
 * could be made.
 */
int balloon_vhost_user_start(struct gmm_guest *guest, const char *socket_path,
			     bool reporting, struct balloon_vhost_user **out);

/*
 * Stop reporting, stop the thread, reset the device, give the rings and
 * balloon frames back to the guest and close the connection.
 */
void balloon_vhost_user_stop(struct balloon_vhost_user *bv);

struct balloon_driver *balloon_vhost_user_driver(struct balloon_vhost_user *bv);

#endif
