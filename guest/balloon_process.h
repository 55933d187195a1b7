/*
 * balloon_process.h - the balloon driver (balloon_driver.h) in a process
 * guest: the guest's core and RAM (guestmm/guest.h) as the driver's
 * environment, a thread of its own for the driver, and the transport: the
 * vhost-user frontend to a backend's virtio-balloon
 * (vhost_user_transport.h), or any other the caller made.
 */
#ifndef GUESTMM_GUEST_BALLOON_PROCESS_H
#define GUESTMM_GUEST_BALLOON_PROCESS_H

#include <stdbool.h>

struct balloon_driver;
struct balloon_process;
struct gmm_guest;
struct virtio_transport;

/*
 * balloon_process_attach - probe the driver over @t (negotiate, start
 * every queue) for @guest and start the driver thread.  With @reporting
 * and the device able to take it, the driver is the guest's reporting
 * device, with the guest's strategy and reporting settings.  @t stays the
 * caller's, and must outlive balloon_process_stop().
 * Return: 0 with *@out set; balloon_driver_probe()'s errors; -ENOMEM;
 * -EAGAIN when no thread could be made.
 */
int balloon_process_attach(struct gmm_guest *guest, struct virtio_transport *t,
			   bool reporting, struct balloon_process **out);

/*
 * balloon_process_start - connect to the device on @socket_path (guest
 * RAM shared from guest-physical 0) and attach to it.
 * Return: 0 with *@out set; the transport's errors (-ENOENT,
 * -ECONNREFUSED, -EPIPE, -ETIMEDOUT, -EPROTO, -ENODEV without a config
 * space ...); balloon_process_attach()'s.
 */
int balloon_process_start(struct gmm_guest *guest, const char *socket_path,
			  bool reporting, struct balloon_process **out);

/*
 * Stop reporting, stop the thread, reset the device, give the rings and
 * balloon frames back to the guest; a transport of balloon_process_start()
 * is closed.
 */
void balloon_process_stop(struct balloon_process *bp);

struct balloon_driver *balloon_process_driver(struct balloon_process *bp);

#endif
