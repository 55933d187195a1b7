/*
 * virtio_ring.h - the virtio 1.x split virtqueue, byte for byte.
 *
 * A split virtqueue of N entries (N a power of two, at most 32768) is three
 * areas of guest memory, each placed by the driver wherever it likes:
 *
 *   descriptor table  16*N bytes, align 16   written by the driver only
 *   available ring    6+2*N bytes, align 2   written by the driver only
 *   used ring         6+8*N bytes, align 4   written by the device only
 *
 * Every field is little-endian.  The structs below spell the layout with
 * plain integer fields; the helpers convert byte order and say how a field
 * is shared.  The indices (avail.idx, used.idx), the flags words and the two
 * event indices are written by one side while the other reads them, so they
 * are only touched with atomic loads and stores (vring_load_*, vring_store_*).
 * Ring entries and descriptors are published by the release store of the
 * index that follows them, and read after the acquire load of that index;
 * a device reads each one exactly once (vring_read_once*) because a hostile
 * driver may rewrite them at any moment.
 *
 * Indices are free-running 16-bit counters: a ring position is idx & (N-1),
 * and every difference of two indices is taken modulo 65536.
 */
#ifndef GUESTMM_VIRTIO_RING_H
#define GUESTMM_VIRTIO_RING_H

#include <stdatomic.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "platform/platform.h"

/* Device-independent feature bits (spec 6). */
#define VIRTIO_RING_F_INDIRECT_DESC 28
#define VIRTIO_RING_F_EVENT_IDX 29
#define VIRTIO_F_VERSION_1 32
#define VIRTIO_F_RING_PACKED 34 /* for reference: we implement split only */

#define VIRTIO_FEATURE(bit) (UINT64_C(1) << (bit))

#define VRING_DESC_F_NEXT 1 /* the chain continues at @next */
#define VRING_DESC_F_WRITE 2 /* device-writable, else device-readable */
#define VRING_DESC_F_INDIRECT 4 /* the buffer is a table of descriptors */

/* Driver to device: "no interrupt needed" (ignored with EVENT_IDX). */
#define VRING_AVAIL_F_NO_INTERRUPT 1
/* Device to driver: "no notification needed" (ignored with EVENT_IDX). */
#define VRING_USED_F_NO_NOTIFY 1

/* Largest queue size whose full and empty states a 16-bit idx can tell. */
#define VIRTQUEUE_MAX_SIZE 32768

#define VRING_DESC_ALIGN 16
#define VRING_AVAIL_ALIGN 2
#define VRING_USED_ALIGN 4

struct vring_desc {
	uint64_t addr; /* guest-physical */
	uint32_t len;
	uint16_t flags;
	uint16_t next;
};

/* Followed by used_event (le16) at ring[num]. */
struct vring_avail {
	uint16_t flags;
	uint16_t idx;
	uint16_t ring[];
};

struct vring_used_elem {
	uint32_t id; /* head of the chain */
	uint32_t len; /* bytes the device wrote into the chain */
};

/* Followed by avail_event (le16) right after ring[num - 1]. */
struct vring_used {
	uint16_t flags;
	uint16_t idx;
	struct vring_used_elem ring[];
};

_Static_assert(sizeof(struct vring_desc) == 16, "descriptor is 16 bytes");
_Static_assert(offsetof(struct vring_desc, len) == 8, "desc.len at 8");
_Static_assert(offsetof(struct vring_desc, flags) == 12, "desc.flags at 12");
_Static_assert(offsetof(struct vring_desc, next) == 14, "desc.next at 14");
_Static_assert(offsetof(struct vring_avail, ring) == 4, "avail.ring at 4");
_Static_assert(sizeof(struct vring_used_elem) == 8, "used elem is 8 bytes");
_Static_assert(offsetof(struct vring_used, ring) == 4, "used.ring at 4");
_Static_assert(sizeof(_Atomic uint16_t) == sizeof(uint16_t),
	       "ring fields are accessed as _Atomic uint16_t in place");
#if ATOMIC_SHORT_LOCK_FREE != 2
#error "16-bit atomics must be lock-free to share a ring with another process"
#endif

/* The three areas of one queue, as pointers in the caller's address space. */
struct vring {
	unsigned int num;
	struct vring_desc *desc;
	struct vring_avail *avail;
	struct vring_used *used;
};

static inline uint64_t vring_desc_size(unsigned int num)
{
	return (uint64_t)num * sizeof(struct vring_desc);
}

static inline uint64_t vring_avail_size(unsigned int num)
{
	return 6 + 2 * (uint64_t)num;
}

static inline uint64_t vring_used_size(unsigned int num)
{
	return 6 + 8 * (uint64_t)num;
}

static inline uint16_t *vring_used_event(const struct vring *vr)
{
	return &vr->avail->ring[vr->num];
}

static inline uint16_t *vring_avail_event(const struct vring *vr)
{
	return (uint16_t *)(void *)&vr->used->ring[vr->num];
}

/*
 * Having moved an index from @old to @new_idx, should the peer that asked to
 * hear about index @event be told?  Yes iff @event lies in [old, new_idx),
 * all modulo 65536.
 */
static inline bool vring_need_event(uint16_t event, uint16_t new_idx,
				    uint16_t old)
{
	return (uint16_t)(new_idx - event - 1) < (uint16_t)(new_idx - old);
}

/* Byte order: virtio 1.x rings are little-endian on every host. */
#if defined(__BYTE_ORDER__) && __BYTE_ORDER__ == __ORDER_BIG_ENDIAN__
static inline uint16_t le16_to_cpu(uint16_t v)
{
	return (uint16_t)(v >> 8 | v << 8);
}
static inline uint32_t le32_to_cpu(uint32_t v)
{
	return (uint32_t)le16_to_cpu((uint16_t)v) << 16 |
	       le16_to_cpu((uint16_t)(v >> 16));
}
static inline uint64_t le64_to_cpu(uint64_t v)
{
	return (uint64_t)le32_to_cpu((uint32_t)v) << 32 |
	       le32_to_cpu((uint32_t)(v >> 32));
}
#elif defined(__BYTE_ORDER__) && __BYTE_ORDER__ == __ORDER_LITTLE_ENDIAN__
static inline uint16_t le16_to_cpu(uint16_t v) { return v; }
static inline uint32_t le32_to_cpu(uint32_t v) { return v; }
static inline uint64_t le64_to_cpu(uint64_t v) { return v; }
#else
#error "unknown byte order"
#endif
/* The swap is its own inverse. */
#define cpu_to_le16(v) le16_to_cpu(v)
#define cpu_to_le32(v) le32_to_cpu(v)
#define cpu_to_le64(v) le64_to_cpu(v)

/* The shared 16-bit words: indices, flags and event indices. */
static inline uint16_t vring_load_acquire(uint16_t *p)
{
	return le16_to_cpu(atomic_load_explicit((_Atomic uint16_t *)p,
						memory_order_acquire));
}

static inline uint16_t vring_load_relaxed(uint16_t *p)
{
	return le16_to_cpu(atomic_load_explicit((_Atomic uint16_t *)p,
						memory_order_relaxed));
}

static inline void vring_store_release(uint16_t *p, uint16_t v)
{
	atomic_store_explicit((_Atomic uint16_t *)p, cpu_to_le16(v),
			      memory_order_release);
}

static inline void vring_store_relaxed(uint16_t *p, uint16_t v)
{
	atomic_store_explicit((_Atomic uint16_t *)p, cpu_to_le16(v),
			      memory_order_relaxed);
}

/* One fetch of a peer-written ring entry: the compiler may not read twice. */
static inline uint16_t vring_read_once16(const uint16_t *p)
{
	return le16_to_cpu(*(const volatile uint16_t *)p);
}

/* One fetch of a descriptor, into host-private memory and host byte order. */
static inline struct vring_desc vring_read_once_desc(const struct vring_desc *p)
{
	const volatile struct vring_desc *v = p;

	return (struct vring_desc){
		.addr = le64_to_cpu(v->addr),
		.len = le32_to_cpu(v->len),
		.flags = le16_to_cpu(v->flags),
		.next = le16_to_cpu(v->next),
	};
}

#endif
