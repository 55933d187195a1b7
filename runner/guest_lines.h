/*
 * guest_lines.h - the guest's half of the console protocol: the gmm-
 * lines a guest of ours writes and the runner reads (runner/process.c
 * parses them).  A process guest writes them on its stdout, the guest
 * kernel on its serial console; both call these, so the two cannot drift
 * apart.  Freestanding: each line goes out whole through @emit, the
 * embodiment's printf.
 *
 *   gmm-ready OFFERED FEATURES REPORTING      the device is driven
 *   gmm-sample FREE REPORTED CYCLE PHASE FREED FREED_AT FRAMES BLOCKS
 *   gmm-anon-sample ...                       working-set, after its sample
 *   gmm-phase PHASE                           memhog's phase changes
 *   gmm-end, gmm-hint, gmm-zone, gmm-blocks, gmm-compacted, gmm-buddy,
 *   gmm-anon, gmm-faults, gmm-vm, gmm-zswap, gmm-compact, gmm-lock   the
 *                                             figures
 *   gmm-done                                  the last line
 */
#ifndef GUESTMM_RUNNER_GUEST_LINES_H
#define GUESTMM_RUNNER_GUEST_LINES_H

#include <stdbool.h>
#include <stdint.h>

#include "runner/result.h"

struct guest_lines {
	/* One whole line (with its newline) per call. */
	void (*emit)(void *ctx, const char *fmt, ...)
		__attribute__((format(printf, 2, 3)));
	void *ctx;
};

void guest_lines_ready(const struct guest_lines *gl, uint64_t offered,
		       uint64_t features, bool reporting);
void guest_lines_sample(const struct guest_lines *gl, const struct run_sample *s);
void guest_lines_phase(const struct guest_lines *gl, int phase);
/* Every figure of @r: gmm-end through gmm-lock. */
void guest_lines_result(const struct guest_lines *gl, const struct run_result *r);
void guest_lines_done(const struct guest_lines *gl);

#endif
