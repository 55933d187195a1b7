/*
 * line_buf.h - whole lines out of a byte buffer that a reader fills: the
 * console of a Linux guest (uml_guest.c) and QEMU's QMP socket (qmp.c) are
 * both read into a buffer and split at newlines.
 */
#ifndef GUESTMM_HOST_LINE_BUF_H
#define GUESTMM_HOST_LINE_BUF_H

#include <stdbool.h>
#include <stddef.h>

/*
 * line_buf_take - move the first whole line of @buf (@*used bytes) into
 * @line, NUL-terminated, cut to @len - 1 bytes and without a trailing CR,
 * and remove it and its newline from @buf.  @len is at least 1.
 * Return: true with a line in @line; false when @buf holds no newline.
 */
bool line_buf_take(char *buf, size_t *used, char *line, size_t len);

#endif
