/*
 * balloon.h - the virtio-balloon device model (device ID 5), with free page
 * reporting and free page hint commands, independent of its transport.
 *
 * The device discards what the guest gives back: ranges on the reporting
 * queue and pages on the inflate queue are punched out of the guest's memory
 * file, so the host really gets the memory back.  The host steers the
 * balloon with a target (num_pages) and reads back what the guest says it
 * holds (actual) and the guest's memory statistics.
 *
 * Create it, attach it to a transport through balloon_virtio_device() (see
 * virtio_device.h), and use the API below from any thread.
 */
#ifndef GUESTMM_HOST_BALLOON_H
#define GUESTMM_HOST_BALLOON_H

#include <stdbool.h>
#include <stdint.h>

#include "virtio/virtio_balloon.h"
#include "virtio/virtio_ring.h"

/* Everything the device implements, and so may offer. */
#define BALLOON_FEATURES_SUPPORTED                                             \
	(VIRTIO_FEATURE(VIRTIO_F_VERSION_1) |                                  \
	 VIRTIO_FEATURE(VIRTIO_RING_F_INDIRECT_DESC) |                         \
	 VIRTIO_FEATURE(VIRTIO_RING_F_EVENT_IDX) |                             \
	 VIRTIO_FEATURE(VIRTIO_BALLOON_F_STATS_VQ) |                           \
	 VIRTIO_FEATURE(VIRTIO_BALLOON_F_DEFLATE_ON_OOM) |                     \
	 VIRTIO_FEATURE(VIRTIO_BALLOON_F_PAGE_POISON) |                        \
	 VIRTIO_FEATURE(VIRTIO_BALLOON_F_FREE_PAGE_HINT) |                     \
	 VIRTIO_FEATURE(VIRTIO_BALLOON_F_REPORTING))

/*
 * The default offer: everything supported but free page hinting, which is
 * offered only by a device that runs hint commands (balloon_set_hinting()):
 * a driver that negotiates it waits for commands, and Linux's hands pages
 * over for good until a DONE, so a device that never asks must not offer it.
 */
#define BALLOON_FEATURES_DEFAULT                                               \
	(BALLOON_FEATURES_SUPPORTED &                                          \
	 ~VIRTIO_FEATURE(VIRTIO_BALLOON_F_FREE_PAGE_HINT))
/* The offer of a device that runs hint commands. */
#define BALLOON_FEATURES_HINTING BALLOON_FEATURES_SUPPORTED

/* What the host can read about one balloon. */
struct balloon_stats {
	bool connected; /* a driver is attached */
	uint64_t features; /* negotiated */
	uint32_t num_pages; /* the target */
	bool target_pinned; /* set by the operator: policies leave it */
	uint32_t actual; /* the guest's answer */
	uint32_t poison_val;
	/* Counters since creation. */
	uint64_t reports; /* report requests completed */
	uint64_t reported_bytes; /* bytes in valid report entries */
	uint64_t discarded_bytes; /* bytes punched out (reports + inflate) */
	uint64_t kept_bytes; /* reported but kept: poison_val != 0 */
	uint64_t discard_errors; /* fallocate failures */
	uint64_t inflated_pages;
	uint64_t deflated_pages;
	uint64_t rejected; /* descriptors, entries and PFNs refused */
	uint64_t broken_queues; /* queues stopped by a ring violation */
	uint64_t config_changes; /* config-change notifications sent */
	/* Free page hint commands (FREE_PAGE_HINT negotiated). */
	uint32_t hint_cmd_id; /* the config field: the command, STOP or DONE */
	uint64_t hint_commands; /* commands started */
	uint64_t hint_done; /* ended by the driver's STOP */
	uint64_t hint_timeouts; /* ended by the device: no STOP in time */
	uint64_t hinted_bytes; /* in hints accepted and discarded */
	uint64_t hint_rejected; /* hints and ids refused (also in rejected) */
	/* The guest's latest memory statistics. */
	uint64_t guest_stats_updates; /* stats buffers since the driver attached */
	int64_t guest_stats_time; /* CLOCK_REALTIME seconds of the latest; 0: none */
	uint32_t guest_stats_valid; /* bit t: guest_stats[t] was sent */
	uint64_t guest_stats[VIRTIO_BALLOON_S_NR];
	/* The host's own accounting of the guest's memory. */
	uint64_t memory_bytes; /* guest RAM mapped */
	uint64_t resident_bytes; /* st_blocks * 512 of its backing files */
};

struct balloon_dev;
struct virtio_device;

int balloon_create(uint64_t features, struct balloon_dev **out);
void balloon_destroy(struct balloon_dev *b);
struct virtio_device *balloon_virtio_device(struct balloon_dev *b);

int balloon_set_target(struct balloon_dev *b, uint32_t num_pages);
/*
 * The operator's target and a policy's.  balloon_set_target_pinned() sets
 * the target as balloon_set_target() and pins it: until
 * balloon_unpin_target(), balloon_set_target_unpinned() (a policy's)
 * refuses with -EBUSY, checked and set under the balloon's lock so that a
 * policy's decision cannot land over an operator's that came first.
 * balloon_set_target() neither looks at the pin nor changes it.
 * Return: 0; -ERANGE as balloon_set_target(); -EBUSY (pinned).
 * balloon_unpin_target() returns whether the target was pinned.
 */
int balloon_set_target_pinned(struct balloon_dev *b, uint32_t num_pages);
int balloon_set_target_unpinned(struct balloon_dev *b, uint32_t num_pages);
bool balloon_unpin_target(struct balloon_dev *b);
void balloon_set_stats_interval(struct balloon_dev *b, unsigned int ms);
unsigned int balloon_get_stats_interval(struct balloon_dev *b);
void balloon_request_stats(struct balloon_dev *b);
void balloon_get_stats(struct balloon_dev *b, struct balloon_stats *st);

/*
 * balloon_set_hinting - run free page hint commands on a balloon that
 * offers FREE_PAGE_HINT: one every @period_ms (0: none) once the driver's
 * free page queue is live, and at once after a command that brought at
 * least half of @cap_bytes (there is likely more) until the commands since
 * the period began brought as much as guest RAM; a command accepts at
 * most @cap_bytes of hints (0: no cap) and ends without the driver's STOP
 * after @timeout_ms (0: BALLOON_HINT_TIMEOUT_MS).
 * Return: 0; -EOPNOTSUPP when FREE_PAGE_HINT is not offered.
 */
#define BALLOON_HINT_TIMEOUT_MS 10000
int balloon_set_hinting(struct balloon_dev *b, unsigned int period_ms,
			uint64_t cap_bytes, unsigned int timeout_ms);
/* DONE now: end the command in flight, if any (see balloon.c). */
void balloon_hint_done(struct balloon_dev *b);

/*
 * A mirror: a balloon that stands for another VMM's device, which the host
 * drives through that VMM (runner/fleet_qemu.c: QEMU's virtio-balloon
 * through QMP).  No transport ever attaches to it.  Its owner writes what
 * a driver would have told the device (balloon_mirror_set()) and reads,
 * through balloon_get_stats() and balloon_get_stats_interval(), the target
 * and the statistics interval the host's users set, which it passes on;
 * so the control socket, the metrics and the budget policy read and steer
 * it as any balloon.
 */
struct balloon_mirror {
	bool connected;		/* the guest's driver is up */
	uint32_t actual;	/* pages, as the other VMM says */
	uint64_t memory_bytes;	/* guest RAM */
	uint64_t resident_bytes; /* the host's accounting of it */
	bool stats_new;		/* the statistics below are a new report */
	int64_t stats_time;	/* its CLOCK_REALTIME seconds */
	uint32_t stats_valid;	/* bit t: stats[t] was sent */
	uint64_t stats[VIRTIO_BALLOON_S_NR];
};

/*
 * balloon_create_mirror - a mirror (above) with @features, as
 * balloon_create(): what the other VMM's device offers.
 * Return: 0 with *@out set; -EINVAL; -ENOMEM.
 */
int balloon_create_mirror(uint64_t features, struct balloon_dev **out);

/* What the other VMM says now, from its owner's thread; not a mirror:
 * nothing happens (a transport's device has its driver's word). */
void balloon_mirror_set(struct balloon_dev *b, const struct balloon_mirror *m);

/* The transport queue index of a balloon queue, or -1 when absent. */
enum balloon_queue {
	BALLOON_VQ_INFLATE,
	BALLOON_VQ_DEFLATE,
	BALLOON_VQ_STATS,
	BALLOON_VQ_REPORTING,
	BALLOON_VQ_FREE_PAGE,
	BALLOON_VQ_NR,
};
int balloon_queue_index(uint64_t features, enum balloon_queue which);

#endif
