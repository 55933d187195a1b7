/*
 * virtio_balloon.h - the virtio-balloon protocol (device ID 5, virtio 1.2
 * 5.5), shared by the device model (host/balloon.c) and the driver
 * (guest/balloon_driver.c): feature bits, config space, statistics tags and
 * the queue numbering.
 *
 * Queue numbering: the spec lists inflate, deflate, stats, free_page,
 * reporting and says a queue exists only with its feature.  Devices (QEMU,
 * crosvm) read "exists" as *offered*, Linux's driver as *negotiated*; the
 * two agree only when the driver accepts every queue feature offered, which
 * Linux does and so does ours.  virtio_balloon_queue_index() numbers from
 * whatever set it is given.
 */
#ifndef GUESTMM_VIRTIO_VIRTIO_BALLOON_H
#define GUESTMM_VIRTIO_VIRTIO_BALLOON_H

#include <stdbool.h>
#include <stdint.h>

#define VIRTIO_ID_BALLOON 5

/* Feature bits (virtio 1.2 5.5.3; Linux's names). */
#define VIRTIO_BALLOON_F_MUST_TELL_HOST 0
#define VIRTIO_BALLOON_F_STATS_VQ 1
#define VIRTIO_BALLOON_F_DEFLATE_ON_OOM 2
#define VIRTIO_BALLOON_F_FREE_PAGE_HINT 3
#define VIRTIO_BALLOON_F_PAGE_POISON 4
#define VIRTIO_BALLOON_F_REPORTING 5

/* PFNs on the inflate and deflate queues are in 4 KiB units. */
#define VIRTIO_BALLOON_PFN_SHIFT 12

/* free_page_hint_cmd_id values the device reserves (5.5.6.5); commands
 * use the others. */
#define VIRTIO_BALLOON_CMD_ID_STOP 0u
#define VIRTIO_BALLOON_CMD_ID_DONE 1u

/* Config space (all le32), 5.5.4. */
struct virtio_balloon_config {
	uint32_t num_pages; /* device: pages the host wants in the balloon */
	uint32_t actual; /* driver: pages in the balloon */
	uint32_t free_page_hint_cmd_id; /* device, with FREE_PAGE_HINT */
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

/* The features that create queues (after inflate and deflate). */
#define VIRTIO_BALLOON_QUEUE_FEATURES                                          \
	((UINT64_C(1) << VIRTIO_BALLOON_F_STATS_VQ) |                          \
	 (UINT64_C(1) << VIRTIO_BALLOON_F_FREE_PAGE_HINT) |                    \
	 (UINT64_C(1) << VIRTIO_BALLOON_F_REPORTING))

enum virtio_balloon_vq {
	VIRTIO_BALLOON_VQ_INFLATE,
	VIRTIO_BALLOON_VQ_DEFLATE,
	VIRTIO_BALLOON_VQ_STATS,
	VIRTIO_BALLOON_VQ_FREE_PAGE,
	VIRTIO_BALLOON_VQ_REPORTING,
	VIRTIO_BALLOON_VQ_NR,
};

/*
 * The transport index of queue @which when the queues that exist are those
 * of @features: compact, in the spec's order, absent ones skipped.
 * Return: the index, or -1 when @which does not exist.
 */
static inline int virtio_balloon_queue_index(uint64_t features,
					     enum virtio_balloon_vq which)
{
	static const int feature_of[VIRTIO_BALLOON_VQ_NR] = {
		-1, -1, VIRTIO_BALLOON_F_STATS_VQ,
		VIRTIO_BALLOON_F_FREE_PAGE_HINT, VIRTIO_BALLOON_F_REPORTING,
	};
	int idx = 0;

	for (int q = 0; q < VIRTIO_BALLOON_VQ_NR; q++) {
		bool present = feature_of[q] < 0 ||
			       (features >> feature_of[q] & 1);

		if (q == (int)which)
			return present ? idx : -1;
		idx += present;
	}
	return -1;
}

#endif
