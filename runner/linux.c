/*
 * linux.c - a user-mode Linux guest on our device (filled in below).
 */
#include <errno.h>

#include "runner/run.h"

int run_linux(const struct run_opts *o, struct run_result *r)
{
	(void)o;
	(void)r;
	return -ENOSYS;
}
