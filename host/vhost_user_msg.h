/*
 * vhost_user_msg.h - a parser that validates one frontend message of the
 * vhost-user protocol (virtio/vhost_user.h) without doing any I/O, so that
 * it can be fuzzed.  Only the requests the backend serves are known here;
 * any other is refused.
 */
#ifndef GUESTMM_HOST_VHOST_USER_MSG_H
#define GUESTMM_HOST_VHOST_USER_MSG_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "virtio/vhost_user.h"

/* A validated message.  @fds belong to whoever holds the message. */
struct vhost_user_msg {
	struct vhost_user_hdr hdr;
	union vhost_user_payload payload; /* zero past hdr.size */
	int fds[VHOST_USER_MAX_FDS];
	unsigned int nfds;
};

int vhost_user_msg_parse(struct vhost_user_msg *msg, const void *buf,
			 size_t len, const int *fds, unsigned int nfds);
bool vhost_user_request_replies(uint32_t request);
const char *vhost_user_request_name(uint32_t request);

#endif
