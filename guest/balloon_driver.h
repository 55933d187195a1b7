/*
 * balloon_driver.h - the virtio-balloon driver: the guest half of the
 * device host/balloon.c models (and QEMU's virtio-balloon), over any
 * transport (virtio/virtio_transport.h): the vhost-user frontend of a
 * process guest, virtio-mmio in a guest kernel.  One driver, whichever
 * transport carries it.
 *
 * It negotiates as Linux's virtio_balloon does (every queue feature the
 * device offers is accepted, so the device's and the driver's queue
 * numbering agree; PAGE_POISON only when the guest's free pages keep a
 * value), places its rings in guest RAM allocated from the core, and then:
 *   - is the guest's page reporting device: report() posts the batch as one
 *     buffer of device-writable entries on the reporting queue and waits for
 *     it to be used;
 *   - follows the host's target: a config change (or the target found at
 *     start) inflates (allocate frames, send their PFNs) or deflates (send
 *     PFNs, wait for the ack, free the frames) until `actual` equals
 *     num_pages, writing `actual` after every batch;
 *   - answers the stats queue: a buffer primed at start, refilled with the
 *     guest's swap in/out, faults, free, total, available memory and
 *     caches (bd_stats_send()) each time the device gives it back;
 *   - answers free page hint commands, with the bitmap strategy's chunks;
 *   - with DEFLATE_ON_OOM negotiated, is the core's OOM notifier: an
 *     allocation that found no memory gets 256 balloon frames back, the
 *     device told first (Linux's virtio_balloon_oom_notify()).  Without
 *     it, a failed allocation leaves the balloon alone.
 *
 * Freestanding: the driver calls no libc.  Its memory (its state, rings,
 * the list of balloon frames) comes from the core's allocator; its thread
 * is the embedding's (balloon_driver_run() is the thread's body), and it
 * waits only through the transport.  guest/balloon_process.c is the
 * process guest's embedding.
 *
 * Use: balloon_driver_probe(); a thread runs balloon_driver_run();
 * balloon_driver_shutdown(); the thread returns and is joined;
 * balloon_driver_remove().
 */
#ifndef GUESTMM_GUEST_BALLOON_DRIVER_H
#define GUESTMM_GUEST_BALLOON_DRIVER_H

#include <stdbool.h>
#include <stdint.h>

struct balloon_driver;
struct free_bitmap;
struct page_reporting_dev_info;
struct pglist_data;
struct virtio_transport;

/* What the driver needs of the guest around it; read at probe only. */
struct balloon_driver_env {
	struct pglist_data *pgdat; /* the guest's memory */
	uint64_t ram_gpa; /* guest-physical address of @pgdat's frame 0 */
	uint64_t mem_bytes; /* the guest's RAM, for the MEMTOT statistic */
	/* Give free memory back through the device: free page reporting, or
	 * with @hints the free page hint commands (the bitmap strategy). */
	bool reporting;
	bool hints;
	uint64_t hint_cap_pages; /* frames one hint command hands over */
	/*
	 * The guest's free pages keep a value (page poisoning, or zero with
	 * init_on_free): @poison_val is it.  As Linux: PAGE_POISON is then
	 * negotiated and poison_val written, and a device without
	 * PAGE_POISON gets no reports (a discard would change them).
	 */
	bool poison;
	uint32_t poison_val;
	/*
	 * Make @prdev the guest's reporting device with the guest's
	 * strategy and settings (@prdev->report is set), or with NULL stop
	 * it.  Return: 0 or the registration's errno.
	 */
	int (*set_reporting)(void *ctx, struct page_reporting_dev_info *prdev);
	/* With @hints, once registered: the bitmap hint commands hand over. */
	struct free_bitmap *(*free_bitmap)(void *ctx);
	void *ctx;
};

struct balloon_driver_stats {
	uint64_t offered; /* the device's features */
	uint64_t features; /* negotiated */
	uint32_t num_pages; /* the host's latest target */
	uint32_t actual; /* pages in the balloon now */
	uint32_t queue_num; /* entries of the smallest queue set up */
	uint64_t inflated_pages; /* over the driver's life */
	uint64_t deflated_pages; /* OOM deflates included */
	uint64_t oom_deflated_pages; /* given back to failed allocations */
	uint64_t reclaimed_pages; /* freed by its reclaim to inflate (anonymous
				     memory to zswap and swap) */
	uint64_t stats_sent; /* statistics buffers handed to the device */
	uint64_t reports; /* report buffers used by the device */
	uint64_t config_changes; /* config events taken */
	uint64_t hint_commands; /* free page hint commands answered */
	uint64_t hint_pages;	/* frames handed over in them */
	uint64_t hint_acks;	/* DONEs that gave chunks back */
	uint64_t hint_bad_done; /* DONEs with nothing answered */
	uint64_t hint_cpu_ns;	/* the driver thread's CPU answering them */
	int error; /* 0, or what ended the driver (-EPIPE: device gone) */
};

/*
 * balloon_driver_probe - drive the balloon behind @t: reset it, negotiate,
 * set up every queue, DRIVER_OK, and with @env->reporting register as the
 * guest's reporting device.
 * Return: 0 with *@out set; -ENODEV when the device is no balloon we can
 * drive (another device ID, no VERSION_1, features refused, a queue the
 * features promise missing); -ENOMEM when guest RAM ran out; -EPROTO
 * when a queue feature could not be taken; the transport's and the
 * registration's errors.  A device that is slow to answer is waited for
 * as long as its connection lives.  On failure the device is reset and
 * marked FAILED, and nothing is left allocated.
 */
int balloon_driver_probe(const struct balloon_driver_env *env,
			 struct virtio_transport *t,
			 struct balloon_driver **out);

/*
 * balloon_driver_run - the driver thread: answers config changes (the
 * target, hint commands), statistics requests and hint buffers until
 * balloon_driver_shutdown() or a transport failure.
 * Return: 0 after a shutdown; the error that ended the driver.
 */
int balloon_driver_run(struct balloon_driver *bd);

/*
 * balloon_driver_shutdown - stop reporting (a report in flight completes
 * first) and end balloon_driver_run() and every wait.  Any thread.
 */
void balloon_driver_shutdown(struct balloon_driver *bd);

/*
 * balloon_driver_remove - once balloon_driver_run() has returned (or
 * never ran): reset the device, take back what it held (balloon frames,
 * hinted chunks), unregister, free the rings and the driver.
 */
void balloon_driver_remove(struct balloon_driver *bd);

void balloon_driver_get_stats(struct balloon_driver *bd,
			      struct balloon_driver_stats *st);

/* Reporting through the device is on (the device can take it, registered). */
bool balloon_driver_reporting(struct balloon_driver *bd);

#endif
