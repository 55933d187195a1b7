/*
 * line_buf.c - whole lines out of a byte buffer (line_buf.h).
 */
#include "host/line_buf.h"

#include <string.h>

bool line_buf_take(char *buf, size_t *used, char *line, size_t len)
{
	char *nl = memchr(buf, '\n', *used);
	size_t n, copy;

	if (!nl)
		return false;
	n = (size_t)(nl - buf);
	copy = n < len - 1 ? n : len - 1;
	memcpy(line, buf, copy);
	line[copy] = 0;
	if (copy && line[copy - 1] == '\r')
		line[copy - 1] = 0;
	memmove(buf, nl + 1, *used - n - 1);
	*used -= n + 1;
	return true;
}
