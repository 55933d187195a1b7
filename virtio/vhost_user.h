/*
 * vhost_user.h - the vhost-user wire format (QEMU docs/interop/
 * vhost-user.rst), shared by the frontend (guest/) and the backend (host/).
 *
 * A message is a 12-byte header (request, flags, payload size; host byte
 * order, the peers share a host) followed by the payload, with up to
 * VHOST_USER_MAX_FDS descriptors attached by SCM_RIGHTS.  Only the requests
 * guestmm speaks are named here.
 */
#ifndef GUESTMM_VIRTIO_VHOST_USER_H
#define GUESTMM_VIRTIO_VHOST_USER_H

#include <stddef.h>
#include <stdint.h>

enum vhost_user_request {
	VHOST_USER_GET_FEATURES = 1,
	VHOST_USER_SET_FEATURES = 2,
	VHOST_USER_SET_OWNER = 3,
	VHOST_USER_RESET_OWNER = 4,
	VHOST_USER_SET_MEM_TABLE = 5,
	VHOST_USER_SET_VRING_NUM = 8,
	VHOST_USER_SET_VRING_ADDR = 9,
	VHOST_USER_SET_VRING_BASE = 10,
	VHOST_USER_GET_VRING_BASE = 11,
	VHOST_USER_SET_VRING_KICK = 12,
	VHOST_USER_SET_VRING_CALL = 13,
	VHOST_USER_SET_VRING_ERR = 14,
	VHOST_USER_GET_PROTOCOL_FEATURES = 15,
	VHOST_USER_SET_PROTOCOL_FEATURES = 16,
	VHOST_USER_GET_QUEUE_NUM = 17,
	VHOST_USER_SET_VRING_ENABLE = 18,
	VHOST_USER_SET_BACKEND_REQ_FD = 21, /* was SET_SLAVE_REQ_FD */
	VHOST_USER_GET_CONFIG = 24,
	VHOST_USER_SET_CONFIG = 25,
};

/* Backend to frontend, on the backend request channel. */
#define VHOST_USER_BACKEND_CONFIG_CHANGE_MSG 2

#define VHOST_USER_HDR_SIZE 12
#define VHOST_USER_VERSION 0x1
#define VHOST_USER_VERSION_MASK 0x3
#define VHOST_USER_FLAG_REPLY 0x4
#define VHOST_USER_FLAG_NEED_REPLY 0x8

#define VHOST_USER_MAX_FDS 8
#define VHOST_USER_MAX_REGIONS 8
#define VHOST_USER_CONFIG_MAX 256

/* The u64 payload of SET_VRING_KICK/CALL/ERR. */
#define VHOST_USER_VRING_IDX_MASK 0xffu
#define VHOST_USER_VRING_NOFD 0x100u

/* Virtio feature bit 30 (unused by virtio): protocol features exist. */
#define VHOST_USER_F_PROTOCOL_FEATURES 30

#define VHOST_USER_PROTOCOL_F_MQ 0
#define VHOST_USER_PROTOCOL_F_REPLY_ACK 3
#define VHOST_USER_PROTOCOL_F_BACKEND_REQ 5 /* was SLAVE_REQ */
#define VHOST_USER_PROTOCOL_F_CONFIG 9

/* SET_VRING_ADDR flags: dirty logging, which we do not offer. */
#define VHOST_VRING_F_LOG 0x1u

struct vhost_user_hdr {
	uint32_t request;
	uint32_t flags;
	uint32_t size; /* of the payload */
};

struct vhost_user_vring_state {
	uint32_t index;
	uint32_t num;
};

/* Ring addresses are the frontend's user addresses. */
struct vhost_user_vring_addr {
	uint32_t index;
	uint32_t flags;
	uint64_t desc;
	uint64_t used;
	uint64_t avail;
	uint64_t log;
};

struct vhost_user_mem_region {
	uint64_t guest_phys_addr;
	uint64_t memory_size;
	uint64_t userspace_addr;
	uint64_t mmap_offset;
};

struct vhost_user_memory {
	uint32_t nregions;
	uint32_t padding;
	struct vhost_user_mem_region regions[VHOST_USER_MAX_REGIONS];
};

struct vhost_user_config {
	uint32_t offset;
	uint32_t size;
	uint32_t flags;
	uint8_t payload[VHOST_USER_CONFIG_MAX];
};

union vhost_user_payload {
	uint64_t u64;
	struct vhost_user_vring_state state;
	struct vhost_user_vring_addr addr;
	struct vhost_user_memory memory;
	struct vhost_user_config config;
};

_Static_assert(sizeof(struct vhost_user_hdr) == VHOST_USER_HDR_SIZE,
	       "header is 12 bytes");
_Static_assert(sizeof(struct vhost_user_vring_state) == 8, "state is 8");
_Static_assert(sizeof(struct vhost_user_vring_addr) == 40, "addr is 40");
_Static_assert(sizeof(struct vhost_user_mem_region) == 32, "region is 32");
_Static_assert(offsetof(struct vhost_user_memory, regions) == 8,
	       "regions follow nregions and padding");
_Static_assert(offsetof(struct vhost_user_config, payload) == 12,
	       "config payload follows offset, size, flags");

#define VHOST_USER_CONFIG_HDR_SIZE offsetof(struct vhost_user_config, payload)
#define VHOST_USER_PAYLOAD_MAX sizeof(union vhost_user_payload)

#endif
