/*
 * hint_host.c - the in-process host of the bitmap strategy.
 *
 * It speaks mm/free_bitmap.h's two calls as a device would carry them: the
 * command ids start where QEMU's free page hinting starts them (0x80000000)
 * and skip the reserved STOP (0) and DONE (1).  A round is: request hints
 * under a new id, discard every run (fallocate PUNCH_HOLE through the
 * guest's discard function), acknowledge the id.  A command hands over at
 * most @cap_pages frames: an allocation that lands on a chunk in flight
 * waits for the discard of at most that much (docs/results.md measures it);
 * a round that met the cap is followed at once by the next.  Rounds are serialised by
 * @round_lock, so a test's round and the thread's never overlap (the
 * guest would refuse the second request with -EBUSY anyway).
 */
#define _GNU_SOURCE
#include "guest/hint_host.h"

#include <errno.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdbool.h>
#include <stdlib.h>
#include <time.h>

#include "mm/free_bitmap.h"

#define HINT_HOST_FIRST_CMD_ID 0x80000000u

struct hint_host {
	struct free_bitmap *fb;
	hint_discard_fn discard;
	void *arg;
	unsigned int poll_ms;
	uint64_t cap_pages; /* frames one command hands over at most */
	uint64_t node_pages; /* the bitmap's span */
	pthread_t thread;
	/* @lock protects @stop; @cond wakes the thread from its sleep. */
	pthread_mutex_t lock;
	pthread_cond_t cond;
	bool stop;
	/* @round_lock: one round at a time; protects @next_cmd and @runs. */
	pthread_mutex_t round_lock;
	uint32_t next_cmd;
	struct free_page_hint_run runs[FREE_BITMAP_RUNS_MAX];
	atomic_uint_fast64_t cpu_ns;
	atomic_uint_fast64_t discard_errors;
};

static uint64_t thread_cpu_ns(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_THREAD_CPUTIME_ID, &ts);
	return (uint64_t)ts.tv_sec * 1000000000u + (uint64_t)ts.tv_nsec;
}

/* A round; *@handed gets the frames it handed over. */
static int hint_host_do_round(struct hint_host *h, uint64_t *handed)
{
	unsigned int nr = 0;
	uint64_t pages = 0;
	uint32_t cmd;
	int err;

	*handed = 0;
	pthread_mutex_lock(&h->round_lock);
	cmd = h->next_cmd++;
	if (h->next_cmd <= FREE_BITMAP_CMD_ID_DONE)
		h->next_cmd = FREE_BITMAP_CMD_ID_DONE + 1;
	err = free_bitmap_request_hints(h->fb, cmd, h->runs, FREE_BITMAP_RUNS_MAX,
					h->cap_pages, &nr);
	if (err) {
		pthread_mutex_unlock(&h->round_lock);
		return err;
	}
	for (unsigned int i = 0; i < nr; i++) {
		pages += h->runs[i].nr_pages;
		/* A failed discard leaves the memory with the guest: still ack. */
		if (h->discard(h->arg, (uint64_t)h->runs[i].pfn << 12,
			       (uint64_t)h->runs[i].nr_pages << 12))
			atomic_fetch_add(&h->discard_errors, 1);
	}
	if (nr)
		err = free_bitmap_ack(h->fb, cmd);
	pthread_mutex_unlock(&h->round_lock);
	*handed = pages;
	if (err)
		return err;
	/* Full: the runs ran out, or the cap (to within a chunk) was met. */
	return nr == FREE_BITMAP_RUNS_MAX ||
	       (h->cap_pages && nr &&
		pages + (1ull << h->fb->order) > h->cap_pages);
}

int hint_host_round(struct hint_host *h)
{
	uint64_t pages;

	return hint_host_do_round(h, &pages);
}

static bool hint_host_stopping(struct hint_host *h)
{
	bool stop;

	pthread_mutex_lock(&h->lock);
	stop = h->stop;
	pthread_mutex_unlock(&h->lock);
	return stop;
}

static void *hint_host_thread(void *p)
{
	struct hint_host *h = p;

	pthread_mutex_lock(&h->lock);
	while (!h->stop) {
		struct timespec ts;
		uint64_t t0;
		uint64_t pages, burst;
		int full;

		pthread_mutex_unlock(&h->lock);
		t0 = thread_cpu_ns();
		/*
		 * A full request leaves more: ask again at once, until the
		 * rounds handed over as much as the node (the ack sets the
		 * chunks free again: without a bound this would never end).
		 */
		burst = 0;
		do {
			full = hint_host_do_round(h, &pages);
			burst += pages;
		} while (full == 1 && !hint_host_stopping(h) &&
			 burst < h->node_pages);
		atomic_fetch_add(&h->cpu_ns, thread_cpu_ns() - t0);
		clock_gettime(CLOCK_REALTIME, &ts);
		ts.tv_sec += h->poll_ms / 1000;
		ts.tv_nsec += (long)(h->poll_ms % 1000) * 1000000;
		if (ts.tv_nsec >= 1000000000) {
			ts.tv_sec++;
			ts.tv_nsec -= 1000000000;
		}
		pthread_mutex_lock(&h->lock);
		while (!h->stop &&
		       pthread_cond_timedwait(&h->cond, &h->lock, &ts) != ETIMEDOUT)
			;
	}
	pthread_mutex_unlock(&h->lock);
	return NULL;
}

int hint_host_start(struct free_bitmap *fb, hint_discard_fn discard, void *arg,
		    unsigned int poll_ms, uint64_t cap_pages,
		    struct hint_host **out)
{
	struct hint_host *h = calloc(1, sizeof(*h));
	int err;

	if (!h)
		return -ENOMEM;
	h->fb = fb;
	h->discard = discard;
	h->arg = arg;
	h->poll_ms = poll_ms ? poll_ms : 1;
	h->cap_pages = cap_pages;
	h->node_pages = (uint64_t)fb->nr_chunks << fb->order;
	h->next_cmd = HINT_HOST_FIRST_CMD_ID;
	pthread_mutex_init(&h->lock, NULL);
	pthread_cond_init(&h->cond, NULL);
	pthread_mutex_init(&h->round_lock, NULL);
	atomic_init(&h->cpu_ns, 0);
	atomic_init(&h->discard_errors, 0);
	err = pthread_create(&h->thread, NULL, hint_host_thread, h);
	if (err) {
		pthread_mutex_destroy(&h->round_lock);
		pthread_cond_destroy(&h->cond);
		pthread_mutex_destroy(&h->lock);
		free(h);
		return -err;
	}
	*out = h;
	return 0;
}

void hint_host_stop(struct hint_host *h)
{
	if (!h)
		return;
	pthread_mutex_lock(&h->lock);
	h->stop = true;
	pthread_cond_signal(&h->cond);
	pthread_mutex_unlock(&h->lock);
	/* Its round, if one is running, ends with the ack. */
	pthread_join(h->thread, NULL);
	pthread_mutex_destroy(&h->round_lock);
	pthread_cond_destroy(&h->cond);
	pthread_mutex_destroy(&h->lock);
	free(h);
}

uint64_t hint_host_cpu_ns(struct hint_host *h)
{
	return h ? atomic_load(&h->cpu_ns) : 0;
}

uint64_t hint_host_discard_errors(struct hint_host *h)
{
	return h ? atomic_load(&h->discard_errors) : 0;
}
