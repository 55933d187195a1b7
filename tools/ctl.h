/*
 * ctl.h - `guestmm ctl`: its command line (ctl.c) and what it sends and
 * prints (ctl_run.c), two files because cli.h's JSON writer and json-c
 * both name a json_object.
 */
#ifndef GUESTMM_TOOLS_CTL_H
#define GUESTMM_TOOLS_CTL_H

#include <stdatomic.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "runner/qmp.h"

/* SIGINT, SIGTERM: `watch` ends. */
extern atomic_bool ctl_interrupted;

typedef const char *ctl_fmt_bytes_fn(char *buf, size_t len, double bytes);

/*
 * ctl_run - on the negotiated connection @q to @sock: @what (target,
 * stats, guests, watch) for @guest (NULL: the only one), @size for target;
 * the answer printed, as JSON with @json, sizes by @fmt.
 * Return: 0; 1 after one line on stderr.
 */
int ctl_run(struct qmp *q, const char *sock, const char *what,
	    const char *guest, uint64_t size, bool json, int timeout_ms,
	    ctl_fmt_bytes_fn *fmt);

#endif
