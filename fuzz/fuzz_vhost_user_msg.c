/*
 * fuzz_vhost_user_msg.c - libFuzzer target for the vhost-user message
 * parser, the first code a hostile frontend reaches.
 *
 * Input: one control byte, then the message bytes.  The control byte gives
 * the number of descriptors that "arrived" with the message (0..15; their
 * values are fake, the parser never touches them) and, in its top bit,
 * whether to make the header's size field agree with the length, so that
 * the fuzzer gets past framing often.  A message the parser accepts must
 * satisfy everything the handlers rely on; any breach traps.
 */
#ifndef _GNU_SOURCE
#define _GNU_SOURCE
#endif
#include <errno.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "host/guest_memory.h"
#include "host/vhost_user_msg.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static void check_accepted(const struct vhost_user_msg *m, size_t len)
{
	const union vhost_user_payload *p = &m->payload;

	if (m->hdr.size != len - VHOST_USER_HDR_SIZE ||
	    m->hdr.size > VHOST_USER_PAYLOAD_MAX ||
	    m->nfds > VHOST_USER_MAX_FDS ||
	    (m->hdr.flags & VHOST_USER_VERSION_MASK) != VHOST_USER_VERSION)
		__builtin_trap();
	switch (m->hdr.request) {
	case VHOST_USER_SET_MEM_TABLE: {
		struct guest_memory_layout l[VHOST_USER_MAX_REGIONS];
		uint32_t i, n = p->memory.nregions;

		if (n == 0 || n > VHOST_USER_MAX_REGIONS || m->nfds != n ||
		    m->hdr.size < 8 + 32 * n)
			__builtin_trap();
		for (i = 0; i < n; i++) {
			l[i] = (struct guest_memory_layout){
				p->memory.regions[i].guest_phys_addr,
				p->memory.regions[i].memory_size,
				p->memory.regions[i].userspace_addr,
				p->memory.regions[i].mmap_offset,
			};
			if (l[i].size == 0 || l[i].gpa + l[i].size < l[i].gpa ||
			    l[i].uaddr + l[i].size < l[i].uaddr)
				__builtin_trap();
		}
		if (guest_memory_check_layout(l, n))
			__builtin_trap();
		break;
	}
	case VHOST_USER_GET_CONFIG:
	case VHOST_USER_SET_CONFIG:
		if (p->config.size > VHOST_USER_CONFIG_MAX ||
		    (uint64_t)p->config.offset + p->config.size >
			    VHOST_USER_CONFIG_MAX ||
		    m->hdr.size != VHOST_USER_CONFIG_HDR_SIZE + p->config.size ||
		    m->nfds)
			__builtin_trap();
		break;
	case VHOST_USER_SET_VRING_KICK:
	case VHOST_USER_SET_VRING_CALL:
	case VHOST_USER_SET_VRING_ERR:
		if (p->u64 >> 9 ||
		    m->nfds != ((p->u64 & VHOST_USER_VRING_NOFD) ? 0u : 1u))
			__builtin_trap();
		break;
	case VHOST_USER_SET_VRING_BASE:
		if (p->state.num > UINT16_MAX)
			__builtin_trap();
		break;
	case VHOST_USER_SET_VRING_ENABLE:
		if (p->state.num > 1)
			__builtin_trap();
		break;
	case VHOST_USER_SET_BACKEND_REQ_FD:
		if (m->nfds != 1)
			__builtin_trap();
		break;
	default:
		if (!strcmp(vhost_user_request_name(m->hdr.request), "unknown"))
			__builtin_trap();
		if (m->nfds)
			__builtin_trap();
		break;
	}
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	struct vhost_user_msg msg;
	int fds[16];
	uint8_t *buf;
	unsigned int nfds, i;
	size_t len;
	int err;

	if (size < 1)
		return 0;
	nfds = data[0] & 0x0f;
	for (i = 0; i < nfds; i++)
		fds[i] = 1000 + (int)i;
	len = size - 1;
	/* A private copy, so that ASan sees any read past the length. */
	buf = malloc(len ? len : 1);
	if (!buf)
		return 0;
	memcpy(buf, data + 1, len);
	if ((data[0] & 0x80) && len >= VHOST_USER_HDR_SIZE) {
		uint32_t s = (uint32_t)(len - VHOST_USER_HDR_SIZE);

		memcpy(buf + 8, &s, sizeof(s));
	}
	err = vhost_user_msg_parse(&msg, buf, len, fds, nfds);
	switch (err) {
	case 0:
		check_accepted(&msg, len);
		break;
	case -EBADMSG: case -EPROTO: case -ENOSYS: case -EMSGSIZE:
	case -E2BIG: case -EBADF: case -EINVAL: case -EOVERFLOW:
	case -EEXIST:
		if (msg.nfds)
			__builtin_trap();
		break;
	default:
		__builtin_trap();
	}
	(void)vhost_user_request_replies(msg.hdr.request);
	free(buf);
	return 0;
}
