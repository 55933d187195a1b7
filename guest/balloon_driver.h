/*
 * balloon_driver.h - the virtio-balloon driver of a process guest: the
 * guest half of the device host/balloon.c models, over the vhost-user
 * frontend (guest/vhost_user_frontend.h).
 *
 * It negotiates as Linux's virtio_balloon does (every queue feature the
 * device offers is accepted, so the device's and the driver's queue
 * numbering agree), places its rings in guest RAM allocated from the core,
 * and then:
 *   - is the guest's page reporting device: report() posts the batch as one
 *     buffer of device-writable entries on the reporting queue and waits for
 *     it to be used;
 *   - follows the host's target: a config change (or the target found at
 *     start) inflates (allocate frames, send their PFNs) or deflates (send
 *     PFNs, wait for the ack, free the frames) until `actual` equals
 *     num_pages, writing `actual` after every batch;
 *   - answers the stats queue: a buffer primed at start, refilled with the
 *     guest's free and total memory each time the device gives it back
 *     (our device does every second).
 * A thread of the driver's own does the last two; report() runs in the
 * core's reporting worker.
 */
#ifndef GUESTMM_GUEST_BALLOON_DRIVER_H
#define GUESTMM_GUEST_BALLOON_DRIVER_H

#include <stdbool.h>
#include <stdint.h>

struct gmm_guest;
struct balloon_driver;

struct balloon_driver_stats {
	uint64_t offered; /* the device's features */
	uint64_t features; /* negotiated (bit 30 excluded) */
	uint32_t num_pages; /* the host's latest target */
	uint32_t actual; /* pages in the balloon now */
	uint64_t inflated_pages; /* over the driver's life */
	uint64_t deflated_pages;
	uint64_t stats_sent; /* statistics buffers handed to the device */
	uint64_t reports; /* report buffers used by the device */
	uint64_t config_changes;
	uint64_t hint_commands; /* free page hint commands answered */
	uint64_t hint_pages;	/* frames handed over in them */
	uint64_t hint_acks;	/* DONEs that gave chunks back */
	uint64_t hint_bad_done; /* DONEs with nothing answered */
	uint64_t hint_cpu_ns;	/* the driver thread's CPU answering them */
	int error; /* 0, or what ended the connection (-EPIPE: host gone) */
};

/*
 * balloon_driver_start - connect to the device on @socket_path, negotiate,
 * share @guest's RAM, start every queue and the driver thread.  With
 * @reporting and REPORTING offered, register as the guest's reporting device
 * (with the guest's reporting settings).
 * Return: 0 with *@out set; -ENODEV when the device is no balloon we can
 * drive (no VERSION_1, not config space); -ENOMEM when guest RAM for the
 * rings ran out; the frontend's errors (-ENOENT, -ECONNREFUSED, -EPIPE,
 * -EPROTO ...); -EAGAIN when no thread could be made.  A device that is
 * slow to answer is waited for as long as its connection lives.
 */
int balloon_driver_start(struct gmm_guest *guest, const char *socket_path,
			 bool reporting, struct balloon_driver **out);

/*
 * Unregister from reporting, stop the thread, close the connection (the
 * device resets) and give the rings and balloon pages back to the guest.
 */
void balloon_driver_stop(struct balloon_driver *bd);

void balloon_driver_get_stats(struct balloon_driver *bd,
			      struct balloon_driver_stats *st);

/* Reporting through the device is on (REPORTING negotiated, registered). */
bool balloon_driver_reporting(struct balloon_driver *bd);

#endif
