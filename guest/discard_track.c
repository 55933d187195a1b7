/*
 * discard_track.c - wasted reports and churn, seen by the host (see
 * discard_track.h).  mincore() on the shared mapping of the memfd tells
 * which of its pages the host holds: a punched page is not resident until
 * the guest touches it again.
 */
#define _GNU_SOURCE
#include "guest/discard_track.h"

#include <pthread.h>
#include <stdbool.h>
#include <stdlib.h>
#include <sys/mman.h>
#include <time.h>

#define PAGE_SHIFT 12

struct discard_track {
	/* @lock protects everything below; discards and samples take it. */
	pthread_mutex_t lock;
	char *ram;
	uint64_t bytes;
	unsigned int chunk_shift;
	uint64_t nr_chunks;
	uint64_t *last_ns;	/* per chunk: its last discard, 0 = never */
	uint8_t *watch;		/* per chunk: discarded within the window */
	unsigned char *vec;	/* mincore's answer for one chunk */
	uint64_t discarded, wasted, churn;
};

static uint64_t now_ns(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (uint64_t)ts.tv_sec * 1000000000u + (uint64_t)ts.tv_nsec;
}

struct discard_track *discard_track_create(void *ram, uint64_t bytes,
					   unsigned int order)
{
	struct discard_track *t = calloc(1, sizeof(*t));

	if (!t)
		return NULL;
	t->ram = ram;
	t->bytes = bytes;
	t->chunk_shift = PAGE_SHIFT + order;
	t->nr_chunks = (bytes + (1ull << t->chunk_shift) - 1) >> t->chunk_shift;
	t->last_ns = calloc(t->nr_chunks, sizeof(*t->last_ns));
	t->watch = calloc(t->nr_chunks, 1);
	t->vec = malloc((1ull << order) + 1);
	if (!t->last_ns || !t->watch || !t->vec) {
		discard_track_destroy(t);
		return NULL;
	}
	pthread_mutex_init(&t->lock, NULL);
	return t;
}

void discard_track_destroy(struct discard_track *t)
{
	if (!t)
		return;
	if (t->last_ns && t->watch && t->vec)
		pthread_mutex_destroy(&t->lock);
	free(t->last_ns);
	free(t->watch);
	free(t->vec);
	free(t);
}

/* Any page of chunk @c held by the host?  Lock held. */
static bool chunk_resident(struct discard_track *t, uint64_t c)
{
	uint64_t off = c << t->chunk_shift, len = 1ull << t->chunk_shift;

	if (off + len > t->bytes)
		len = t->bytes - off;
	if (mincore(t->ram + off, len, t->vec))
		return true; /* cannot tell: count nothing */
	for (uint64_t i = 0; i < len >> PAGE_SHIFT; i++)
		if (t->vec[i] & 1)
			return true;
	return false;
}

void discard_track_discard(struct discard_track *t, uint64_t off, uint64_t len)
{
	uint64_t now = now_ns();

	if (!t || !len)
		return;
	pthread_mutex_lock(&t->lock);
	for (uint64_t c = off >> t->chunk_shift;
	     c <= (off + len - 1) >> t->chunk_shift && c < t->nr_chunks; c++) {
		uint64_t bytes = 1ull << t->chunk_shift;

		if (t->last_ns[c] && !chunk_resident(t, c))
			t->wasted += bytes;
		t->discarded += bytes;
		t->last_ns[c] = now;
		t->watch[c] = 1;
	}
	pthread_mutex_unlock(&t->lock);
}

void discard_track_sample(struct discard_track *t)
{
	uint64_t now = now_ns();

	if (!t)
		return;
	pthread_mutex_lock(&t->lock);
	for (uint64_t c = 0; c < t->nr_chunks; c++) {
		if (!t->watch[c])
			continue;
		if (now - t->last_ns[c] > DISCARD_CHURN_WINDOW_NS) {
			t->watch[c] = 0;
		} else if (chunk_resident(t, c)) {
			t->churn += 1ull << t->chunk_shift;
			t->watch[c] = 0;
		}
	}
	pthread_mutex_unlock(&t->lock);
}

void discard_track_totals(struct discard_track *t, uint64_t *discarded,
			  uint64_t *wasted, uint64_t *churn)
{
	*discarded = *wasted = *churn = 0;
	if (!t)
		return;
	pthread_mutex_lock(&t->lock);
	*discarded = t->discarded;
	*wasted = t->wasted;
	*churn = t->churn;
	pthread_mutex_unlock(&t->lock);
}
