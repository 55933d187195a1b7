/*
 * vhost_user_msg.c - validate one vhost-user message from a frontend.
 *
 * The parser checks everything that can be checked without the backend's
 * state: framing, version, the payload size each request takes, how many
 * descriptors it carries, and the values inside the payload that are wrong
 * in any state (a memory table that overlaps or wraps, a config range past
 * 256 bytes, reserved bits).  What depends on state (a vring index beyond
 * the device's queues, rings before memory) is the handler's business.
 *
 * Sizes are exact except SET_MEM_TABLE, which may be longer than its
 * regions: user-mode Linux sends room for two regions and fills one.
 *
 * Errors, distinct so that a test can tell which check fired:
 *   -EBADMSG    buffer shorter than a header, or not header + hdr.size
 *   -EPROTO     version not 1, or a reply flag on a request
 *   -ENOSYS     a request this backend does not serve
 *   -EMSGSIZE   a payload size the request does not take
 *   -E2BIG      more than VHOST_USER_MAX_FDS descriptors, or more than
 *               VHOST_USER_MAX_REGIONS regions
 *   -EBADF      a descriptor count the request does not take
 *   -EINVAL     a bad value: reserved bits, an enable other than 0/1, a base
 *               beyond 16 bits, no regions, a region of size 0, a config
 *               range past 256 bytes
 *   -EOVERFLOW  a region that wraps
 *   -EEXIST     two regions that overlap
 */
#ifndef _GNU_SOURCE
#define _GNU_SOURCE
#endif
#include "host/vhost_user_msg.h"

#include <errno.h>
#include <string.h>

#include "host/guest_memory.h"

bool vhost_user_request_replies(uint32_t request)
{
	switch (request) {
	case VHOST_USER_GET_FEATURES:
	case VHOST_USER_GET_PROTOCOL_FEATURES:
	case VHOST_USER_GET_VRING_BASE:
	case VHOST_USER_GET_QUEUE_NUM:
	case VHOST_USER_GET_CONFIG:
		return true;
	default:
		return false;
	}
}

const char *vhost_user_request_name(uint32_t request)
{
	switch (request) {
	case VHOST_USER_GET_FEATURES: return "GET_FEATURES";
	case VHOST_USER_SET_FEATURES: return "SET_FEATURES";
	case VHOST_USER_SET_OWNER: return "SET_OWNER";
	case VHOST_USER_RESET_OWNER: return "RESET_OWNER";
	case VHOST_USER_SET_MEM_TABLE: return "SET_MEM_TABLE";
	case VHOST_USER_SET_VRING_NUM: return "SET_VRING_NUM";
	case VHOST_USER_SET_VRING_ADDR: return "SET_VRING_ADDR";
	case VHOST_USER_SET_VRING_BASE: return "SET_VRING_BASE";
	case VHOST_USER_GET_VRING_BASE: return "GET_VRING_BASE";
	case VHOST_USER_SET_VRING_KICK: return "SET_VRING_KICK";
	case VHOST_USER_SET_VRING_CALL: return "SET_VRING_CALL";
	case VHOST_USER_SET_VRING_ERR: return "SET_VRING_ERR";
	case VHOST_USER_GET_PROTOCOL_FEATURES: return "GET_PROTOCOL_FEATURES";
	case VHOST_USER_SET_PROTOCOL_FEATURES: return "SET_PROTOCOL_FEATURES";
	case VHOST_USER_GET_QUEUE_NUM: return "GET_QUEUE_NUM";
	case VHOST_USER_SET_VRING_ENABLE: return "SET_VRING_ENABLE";
	case VHOST_USER_SET_BACKEND_REQ_FD: return "SET_BACKEND_REQ_FD";
	case VHOST_USER_GET_CONFIG: return "GET_CONFIG";
	case VHOST_USER_SET_CONFIG: return "SET_CONFIG";
	default: return "unknown";
	}
}

static int parse_mem_table(const struct vhost_user_msg *msg)
{
	const struct vhost_user_memory *m = &msg->payload.memory;
	struct guest_memory_layout layout[VHOST_USER_MAX_REGIONS];
	uint32_t i, n;

	if (msg->hdr.size < offsetof(struct vhost_user_memory, regions))
		return -EMSGSIZE;
	n = m->nregions;
	if (n > VHOST_USER_MAX_REGIONS)
		return -E2BIG;
	if (n == 0)
		return -EINVAL;
	if (msg->hdr.size < offsetof(struct vhost_user_memory, regions) +
				    n * sizeof(m->regions[0]))
		return -EMSGSIZE;
	if (msg->nfds != n)
		return -EBADF;
	for (i = 0; i < n; i++)
		layout[i] = (struct guest_memory_layout){
			.gpa = m->regions[i].guest_phys_addr,
			.size = m->regions[i].memory_size,
			.uaddr = m->regions[i].userspace_addr,
			.fd_offset = m->regions[i].mmap_offset,
		};
	return guest_memory_check_layout(layout, n);
}

static int parse_config(const struct vhost_user_msg *msg)
{
	const struct vhost_user_config *c = &msg->payload.config;

	if (msg->hdr.size < VHOST_USER_CONFIG_HDR_SIZE)
		return -EMSGSIZE;
	if (c->size > VHOST_USER_CONFIG_MAX ||
	    (uint64_t)c->offset + c->size > VHOST_USER_CONFIG_MAX)
		return -EINVAL;
	if (msg->hdr.size != VHOST_USER_CONFIG_HDR_SIZE + c->size)
		return -EMSGSIZE;
	return msg->nfds ? -EBADF : 0;
}

static int parse_vring_fd(const struct vhost_user_msg *msg)
{
	uint64_t v = msg->payload.u64;

	if (msg->hdr.size != sizeof(uint64_t))
		return -EMSGSIZE;
	if (v & ~(uint64_t)(VHOST_USER_VRING_IDX_MASK | VHOST_USER_VRING_NOFD))
		return -EINVAL;
	if (msg->nfds != ((v & VHOST_USER_VRING_NOFD) ? 0u : 1u))
		return -EBADF;
	return 0;
}

/* A request whose payload is exactly @size bytes and which carries @nfds. */
static int parse_fixed(const struct vhost_user_msg *msg, uint32_t size,
		       unsigned int nfds)
{
	if (msg->hdr.size != size)
		return -EMSGSIZE;
	return msg->nfds != nfds ? -EBADF : 0;
}

/*
 * vhost_user_msg_parse - validate the message in @buf (@len bytes: header
 * and payload) that arrived with @nfds descriptors @fds.
 * On success @msg holds a copy; the descriptors are copied, not taken: the
 * caller closes them on any error, and on success owns them through @msg.
 * Return: 0, or one of the errors listed at the top of this file.
 */
int vhost_user_msg_parse(struct vhost_user_msg *msg, const void *buf,
			 size_t len, const int *fds, unsigned int nfds)
{
	int err;

	memset(msg, 0, sizeof(*msg));
	if (len < VHOST_USER_HDR_SIZE)
		return -EBADMSG;
	memcpy(&msg->hdr, buf, VHOST_USER_HDR_SIZE);
	if (msg->hdr.size != len - VHOST_USER_HDR_SIZE)
		return -EBADMSG;
	if ((msg->hdr.flags & VHOST_USER_VERSION_MASK) != VHOST_USER_VERSION ||
	    (msg->hdr.flags & VHOST_USER_FLAG_REPLY))
		return -EPROTO;
	if (nfds > VHOST_USER_MAX_FDS)
		return -E2BIG;
	if (msg->hdr.size > VHOST_USER_PAYLOAD_MAX)
		return -EMSGSIZE;
	memcpy(&msg->payload, (const uint8_t *)buf + VHOST_USER_HDR_SIZE,
	       msg->hdr.size);
	if (nfds)
		memcpy(msg->fds, fds, nfds * sizeof(int));
	msg->nfds = nfds;

	switch (msg->hdr.request) {
	case VHOST_USER_GET_FEATURES:
	case VHOST_USER_SET_OWNER:
	case VHOST_USER_RESET_OWNER:
	case VHOST_USER_GET_PROTOCOL_FEATURES:
	case VHOST_USER_GET_QUEUE_NUM:
		err = parse_fixed(msg, 0, 0);
		break;
	case VHOST_USER_SET_FEATURES:
	case VHOST_USER_SET_PROTOCOL_FEATURES:
		err = parse_fixed(msg, sizeof(uint64_t), 0);
		break;
	case VHOST_USER_SET_MEM_TABLE:
		err = parse_mem_table(msg);
		break;
	case VHOST_USER_SET_VRING_NUM:
	case VHOST_USER_GET_VRING_BASE:
		err = parse_fixed(msg, sizeof(struct vhost_user_vring_state), 0);
		break;
	case VHOST_USER_SET_VRING_BASE:
		err = parse_fixed(msg, sizeof(struct vhost_user_vring_state), 0);
		if (!err && msg->payload.state.num > UINT16_MAX)
			err = -EINVAL;
		break;
	case VHOST_USER_SET_VRING_ENABLE:
		err = parse_fixed(msg, sizeof(struct vhost_user_vring_state), 0);
		if (!err && msg->payload.state.num > 1)
			err = -EINVAL;
		break;
	case VHOST_USER_SET_VRING_ADDR:
		err = parse_fixed(msg, sizeof(struct vhost_user_vring_addr), 0);
		break;
	case VHOST_USER_SET_VRING_KICK:
	case VHOST_USER_SET_VRING_CALL:
	case VHOST_USER_SET_VRING_ERR:
		err = parse_vring_fd(msg);
		break;
	case VHOST_USER_SET_BACKEND_REQ_FD:
		err = parse_fixed(msg, 0, 1);
		break;
	case VHOST_USER_GET_CONFIG:
	case VHOST_USER_SET_CONFIG:
		err = parse_config(msg);
		break;
	default:
		err = -ENOSYS;
		break;
	}
	if (err)
		msg->nfds = 0; /* nothing that looks like owned descriptors */
	return err;
}
