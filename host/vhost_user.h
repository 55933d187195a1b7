/*
 * vhost_user.h - a vhost-user backend serving host device models.
 *
 * One server serves any number of devices, each listening on its own unix
 * socket and serving one frontend (a guest process, QEMU, user-mode Linux)
 * at a time.  When a frontend goes away or is dropped for breaking the
 * protocol, its device is reset and the socket accepts the next frontend.
 *
 * Threads: with VHOST_USER_THREAD_PER_DEVICE (the default for programs)
 * each device is served by a thread of its own, its device context, which
 * starts when the device is added; whatever a frontend does stops at most
 * its own device.  With VHOST_USER_THREAD_ONE every device is served by one
 * loop that the caller's thread runs round by round through
 * vhost_user_server_run() (the server as it was before per-device threads;
 * tests use it to order events, benchmarks to measure against).  Create,
 * add and destroy belong to the owner's thread.
 * vhost_user_server_wake(), vhost_user_server_get_counters() and the
 * balloon API may be called from any thread while devices are served.
 * Each device also has a thread that closes its frontend's descriptors
 * (host/fd_reaper.h).
 *
 * Each device maps at most its guest-RAM limit of a frontend's memory
 * (GUEST_MEMORY_DEFAULT_MAX unless vhost_user_server_set_guest_mem_max()
 * says otherwise), and all devices together at most
 * GUEST_MEMORY_PROCESS_MAX (host/guest_memory.h): a larger table is
 * refused like any other refused table.
 *
 * The process ignores SIGPIPE once a server exists (if it was at its
 * default), because a frontend may close a pipe we notify on; it gives
 * FDIO_GUARD_SIGNAL (host/fdio.h) to the backend; and it handles SIGBUS
 * for faults in mapped guest memory (host/guest_memory.h), passing on any
 * other to the handler that was there before.
 */
#ifndef GUESTMM_HOST_VHOST_USER_H
#define GUESTMM_HOST_VHOST_USER_H

#include <stddef.h>
#include <stdint.h>

struct vhost_user_server;
struct virtio_device;
struct balloon_dev;

/* Per socket, since it was added. */
struct vhost_user_counters {
	uint64_t connections; /* frontends accepted */
	uint64_t messages; /* requests received */
	uint64_t refused; /* requests answered with an error or ignored */
	uint64_t dropped; /* frontends disconnected for a protocol breach */
	uint64_t notify_skipped; /* notifications a full or failed
				  * descriptor did not take */
	uint64_t throttled; /* times reading or accepting was put off for
			     * want of descriptors */
};

enum vhost_user_threads {
	VHOST_USER_THREAD_PER_DEVICE,
	VHOST_USER_THREAD_ONE,
};

/*
 * What the host holds per guest it runs: measured with `host --guests
 * ours:N` (N 1 and 4: 21 and 66 descriptors open, base 6): the guest's
 * socket, memfd and pipes, its device's epoll, eventfds and reaper.
 */
#define VHOST_USER_NOFILE_PER_GUEST 15

unsigned long vhost_user_nofile_min(void);
unsigned long vhost_user_nofile_need(unsigned int guests);
int vhost_user_nofile_check(char *why, size_t len);
int vhost_user_nofile_check_guests(unsigned int guests, char *why, size_t len);
struct vhost_user_server *vhost_user_server_create(enum vhost_user_threads threads);
int vhost_user_server_destroy(struct vhost_user_server *srv);
int vhost_user_server_add_device(struct vhost_user_server *srv,
				 const char *socket_path,
				 struct virtio_device *vdev);
int vhost_user_server_add_balloon(struct vhost_user_server *srv,
				  const char *socket_path,
				  struct balloon_dev **out);
int vhost_user_server_run(struct vhost_user_server *srv, int timeout_ms);
void vhost_user_server_wake(struct vhost_user_server *srv);
void vhost_user_server_set_guest_mem_max(struct vhost_user_server *srv,
					 uint64_t bytes);
int vhost_user_server_get_counters(struct vhost_user_server *srv,
				   const char *socket_path,
				   struct vhost_user_counters *out);

#endif
