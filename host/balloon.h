/*
 * balloon.h - the virtio-balloon device model (device ID 5), with free page
 * reporting, independent of its transport.
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

#include "virtio/virtio_ring.h"

#define VIRTIO_ID_BALLOON 5

/* Feature bits (virtio 1.2 5.5.3; Linux's names). */
#define VIRTIO_BALLOON_F_MUST_TELL_HOST 0 /* not offered */
#define VIRTIO_BALLOON_F_STATS_VQ 1
#define VIRTIO_BALLOON_F_DEFLATE_ON_OOM 2
#define VIRTIO_BALLOON_F_FREE_PAGE_HINT 3 /* not offered */
#define VIRTIO_BALLOON_F_PAGE_POISON 4
#define VIRTIO_BALLOON_F_REPORTING 5

/* PFNs on the inflate and deflate queues are in 4 KiB units. */
#define VIRTIO_BALLOON_PFN_SHIFT 12

/* Everything the device implements, and so may offer. */
#define BALLOON_FEATURES_SUPPORTED                                             \
	(VIRTIO_FEATURE(VIRTIO_F_VERSION_1) |                                  \
	 VIRTIO_FEATURE(VIRTIO_RING_F_INDIRECT_DESC) |                         \
	 VIRTIO_FEATURE(VIRTIO_RING_F_EVENT_IDX) |                             \
	 VIRTIO_FEATURE(VIRTIO_BALLOON_F_STATS_VQ) |                           \
	 VIRTIO_FEATURE(VIRTIO_BALLOON_F_DEFLATE_ON_OOM) |                     \
	 VIRTIO_FEATURE(VIRTIO_BALLOON_F_PAGE_POISON) |                        \
	 VIRTIO_FEATURE(VIRTIO_BALLOON_F_REPORTING))

/* The default offer: everything supported. */
#define BALLOON_FEATURES_DEFAULT BALLOON_FEATURES_SUPPORTED

/* Config space (all le32), 5.5.4. */
struct virtio_balloon_config {
	uint32_t num_pages; /* device: pages the host wants in the balloon */
	uint32_t actual; /* driver: pages in the balloon */
	uint32_t free_page_hint_cmd_id; /* FREE_PAGE_HINT: always 0 here */
	uint32_t poison_val; /* driver, with PAGE_POISON */
};
_Static_assert(sizeof(struct virtio_balloon_config) == 16,
	       "balloon config is 16 bytes");

/* Memory statistics tags (5.5.6.3; 10..15 are Linux >= 6.12 only). */
enum virtio_balloon_stat_tag {
	VIRTIO_BALLOON_S_SWAP_IN = 0,
	VIRTIO_BALLOON_S_SWAP_OUT = 1,
	VIRTIO_BALLOON_S_MAJFLT = 2,
	VIRTIO_BALLOON_S_MINFLT = 3,
	VIRTIO_BALLOON_S_MEMFREE = 4,
	VIRTIO_BALLOON_S_MEMTOT = 5,
	VIRTIO_BALLOON_S_AVAIL = 6,
	VIRTIO_BALLOON_S_CACHES = 7,
	VIRTIO_BALLOON_S_HTLB_PGALLOC = 8,
	VIRTIO_BALLOON_S_HTLB_PGFAIL = 9,
	VIRTIO_BALLOON_S_NR = 16, /* tags kept; others are ignored */
};

/* One statistics entry on the wire: packed, 10 bytes. */
#define VIRTIO_BALLOON_STAT_SIZE 10

/* What the host can read about one balloon. */
struct balloon_stats {
	bool connected; /* a driver is attached */
	uint64_t features; /* negotiated */
	uint32_t num_pages; /* the target */
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
	/* The guest's latest memory statistics. */
	uint64_t guest_stats_updates; /* stats buffers since the driver attached */
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
void balloon_set_stats_interval(struct balloon_dev *b, unsigned int ms);
void balloon_request_stats(struct balloon_dev *b);
void balloon_get_stats(struct balloon_dev *b, struct balloon_stats *st);

/* The transport queue index of a balloon queue, or -1 when absent. */
enum balloon_queue {
	BALLOON_VQ_INFLATE,
	BALLOON_VQ_DEFLATE,
	BALLOON_VQ_STATS,
	BALLOON_VQ_REPORTING,
	BALLOON_VQ_NR,
};
int balloon_queue_index(uint64_t features, enum balloon_queue which);

#endif
