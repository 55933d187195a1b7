/*
 * discard_track.h - what discards achieved, from the host's side only: the
 * memfd's page residency (mincore), never the guest's counters.
 *
 *   wasted  bytes discarded while still discarded from an earlier discard:
 *           reported again although the host had them already;
 *   churn   bytes discarded that were resident again within 1 s: the guest
 *           took them back, and the discard cost a fault and a zeroing.
 *
 * Tracked per chunk of 2^order frames (the reporting order); a discard of a
 * smaller range counts the chunks it touches.
 */
#ifndef GUESTMM_GUEST_DISCARD_TRACK_H
#define GUESTMM_GUEST_DISCARD_TRACK_H

#include <stdint.h>

#define DISCARD_CHURN_WINDOW_NS 1000000000ull

struct discard_track;

/* Return: the tracker, or NULL without memory. */
struct discard_track *discard_track_create(void *ram, uint64_t bytes,
					   unsigned int order);
void discard_track_destroy(struct discard_track *t);
/* Before [@off, @off + @len) is discarded. */
void discard_track_discard(struct discard_track *t, uint64_t off, uint64_t len);
/* Look at the chunks discarded within the window: back in use? */
void discard_track_sample(struct discard_track *t);
void discard_track_totals(struct discard_track *t, uint64_t *discarded,
			  uint64_t *wasted, uint64_t *churn);

#endif
