/*
 * virtqueue.h - both halves of a split virtqueue: the driver that offers
 * buffers (struct virtqueue) and the device that consumes them (struct
 * virtqueue_device).
 *
 * Neither half allocates: the rings live in guest memory that the caller
 * provides, and each half reaches that memory through a translate callback
 * of its owner.  Neither half locks: each side of one queue is driven by one
 * thread at a time, and the caller serialises if it needs more.
 *
 * The driver trusts its device (a guest trusts its host) but still refuses a
 * used id it never handed out.  The device trusts nothing the driver wrote:
 * every index, descriptor and table is read once, validated and bounded, and
 * every violation has its own errno (table in virtqueue.c).
 */
#ifndef GUESTMM_VIRTIO_VIRTQUEUE_H
#define GUESTMM_VIRTIO_VIRTQUEUE_H

#include "virtio/virtio_ring.h"

/*
 * Map [@gpa, @gpa + @len) of guest memory into the caller's address space.
 * Return: a pointer to the first byte, or NULL unless the whole range lies
 * inside guest memory (the device half relies on this check, and on the
 * mapping staying valid for the life of the queue).  @write says whether the
 * caller will store through the pointer.
 */
typedef void *(*vring_translate_fn)(void *ctx, uint64_t gpa, uint64_t len,
				    bool write);

/* The driver's private record of one descriptor. */
struct virtqueue_desc_state {
	void *token; /* heads only: the caller's cookie, NULL when free */
	uint16_t ndesc; /* heads only: ring descriptors the chain holds */
	uint16_t next; /* free list and chain links, mirrored from the ring */
};

struct virtqueue_config {
	unsigned int num; /* queue size: power of two, 1..32768 */
	uint64_t features; /* negotiated; INDIRECT_DESC and EVENT_IDX used */
	uint64_t desc, avail, used; /* guest-physical addresses of the areas */
	vring_translate_fn translate;
	void *ctx;
	/* Driver only. */
	struct virtqueue_desc_state *state; /* num entries, driver-private */
	uint64_t indirect_pool; /* gpa of num * indirect_max * 16 bytes */
	unsigned int indirect_max; /* entries per table, <= num; 0: none */
	/* Device only. */
	unsigned int num_max; /* the QueueNumMax it offered (0: 32768) */
	uint16_t avail_base; /* first avail index to pop (vhost-user
				SET_VRING_BASE); 0 for a new queue */
};

/* One scatter entry offered by the driver: guest-physical. */
struct vring_sg {
	uint64_t addr;
	uint32_t len;
};

/*
 * Driver half.  Invariants, with F the descriptors on the free list:
 *   num_free == |F|, and num_free + sum(ndesc of heads with a token) == num;
 *   (uint16_t)(avail_idx - last_used_idx) == number of chains in flight.
 */
struct virtqueue {
	struct vring vr;
	struct virtqueue_desc_state *state;
	struct vring_desc *indirect; /* pool: table of head h at h*indirect_max */
	uint64_t indirect_gpa;
	unsigned int indirect_max;
	bool event_idx;
	bool cb_enabled;
	unsigned int num_free;
	uint16_t free_head;
	uint16_t avail_idx; /* shadow of avail.idx: the driver alone writes it */
	uint16_t kicked_idx; /* avail_idx at the last kick decision */
	uint16_t last_used_idx; /* next used entry to collect */
};

/*
 * Where a driver puts the three areas of a queue of @num entries in a
 * piece of guest RAM it reserved: the descriptor table, the available ring,
 * then the used ring on a cache line of its own (the device writes it while
 * the driver writes the other two).  Any transport takes this layout; the
 * areas only need the spec's alignment (16, 2, 4).
 */
#define VIRTQUEUE_USED_ALIGN 64

/* Return: the bytes the layout takes, or 0 for a size that is no queue size. */
uint64_t virtqueue_ring_bytes(unsigned int num);
/*
 * Lay out a queue of @num entries at [@gpa, @gpa + @len): sets @cfg's num,
 * desc, avail and used; the caller fills in the rest for virtqueue_init().
 * Return: 0; -EINVAL for an invalid @num or a @gpa not 16-byte aligned;
 * -ENOSPC when the rings do not fit in @len bytes.
 */
int virtqueue_ring_place(struct virtqueue_config *cfg, unsigned int num,
			 uint64_t gpa, uint64_t len);

int virtqueue_init(struct virtqueue *vq, const struct virtqueue_config *cfg);
int virtqueue_add(struct virtqueue *vq, const struct vring_sg *sg,
		  unsigned int out, unsigned int in, void *token);
bool virtqueue_kick_prepare(struct virtqueue *vq);
int virtqueue_get_used(struct virtqueue *vq, void **token, uint32_t *len);
void virtqueue_disable_cb(struct virtqueue *vq);
bool virtqueue_enable_cb(struct virtqueue *vq);

static inline unsigned int virtqueue_num_free(const struct virtqueue *vq)
{
	return vq->num_free;
}

/* One buffer of a popped chain. */
struct vring_iov {
	uint64_t gpa;
	void *ptr; /* translate(gpa, len, write), valid while the queue is */
	uint32_t len;
	bool write; /* device-writable */
};

/* A popped chain: @nr_out readable entries, then @nr_in writable ones. */
struct vring_chain {
	struct vring_iov *iov; /* caller's array ... */
	unsigned int max; /* ... of this many entries; num always suffices */
	unsigned int nr_out, nr_in;
	uint16_t head; /* hand back to virtqueue_device_push() */
};

/*
 * Device half.  Invariants:
 *   (uint16_t)(avail.idx - last_avail_idx) <= num, else the queue is broken;
 *   inflight == chains popped and not yet pushed <= num.
 * @error: the first violation found; once set, every pop returns it until
 * the queue is initialised again (the owner should set DEVICE_NEEDS_RESET).
 */
struct virtqueue_device {
	struct vring vr;
	vring_translate_fn translate;
	void *ctx;
	bool indirect;
	bool event_idx;
	bool notify; /* kicks wanted: the owner has not disabled them */
	bool signalled; /* an interrupt was decided since init */
	int error;
	unsigned int inflight;
	uint16_t last_avail_idx; /* next avail entry to pop */
	uint16_t used_idx; /* shadow of used.idx: the device alone writes it */
	uint16_t signalled_used; /* used_idx at the last interrupt decision */
};

int virtqueue_device_init(struct virtqueue_device *dev,
			  const struct virtqueue_config *cfg);
int virtqueue_device_pop(struct virtqueue_device *dev,
			 struct vring_chain *chain);
int virtqueue_device_push(struct virtqueue_device *dev, uint16_t head,
			  uint32_t len);
bool virtqueue_device_should_notify(struct virtqueue_device *dev);
void virtqueue_device_disable_notify(struct virtqueue_device *dev);
bool virtqueue_device_enable_notify(struct virtqueue_device *dev);

#endif
