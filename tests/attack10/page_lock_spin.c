/*
 * page_lock_spin.c - evidence for the attack10 report, not a test: what the
 * page lock (mm/swap.h: a bit, waited for by spinning, sched_yield() after
 * 128 spins, no wait queue) costs under vCPU overcommit, against a lock
 * that parks its waiters (a pthread mutex, futex-based), A B A B.
 *
 * A holder takes the lock and holds it across "I/O" (a 20 ms sleep, as a
 * swap write or a zswap writeback batch is held across), while N waiters
 * want the same page (a fault on a page reclaim is writing out).  Printed:
 * the CPU time the waiters burn during the hold, and how late the holder's
 * CPU work (20 ms of arithmetic, done with the lock held) finishes.
 *
 * Build from the worktree after `make build`:
 *   cc -O2 -I. -Iinclude tests/attack10/page_lock_spin.c build/libgmm_mm.a \
 *      build/libgmm_platform.a -lpthread -o /tmp/page_lock_spin
 *   /tmp/page_lock_spin 15
 */
#define _GNU_SOURCE
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <time.h>
#include <unistd.h>

#include "mm/swap.h"

static struct page page;
static pthread_mutex_t mutex = PTHREAD_MUTEX_INITIALIZER;
static int use_mutex;
static atomic_int waiters_in;

static double now(clockid_t c)
{
	struct timespec ts;

	clock_gettime(c, &ts);
	return ts.tv_sec + ts.tv_nsec / 1e9;
}

static void lk(void)
{
	if (use_mutex)
		pthread_mutex_lock(&mutex);
	else
		lock_page(&page);
}

static void ulk(void)
{
	if (use_mutex)
		pthread_mutex_unlock(&mutex);
	else
		unlock_page(&page);
}

static void *waiter(void *arg)
{
	double *cpu = arg;
	double t0 = now(CLOCK_THREAD_CPUTIME_ID);

	atomic_fetch_add(&waiters_in, 1);
	lk();
	ulk();
	*cpu = now(CLOCK_THREAD_CPUTIME_ID) - t0;
	return NULL;
}

static volatile uint64_t sink;

/* About @ms of arithmetic on an idle core. */
static void work(double ms, uint64_t per_ms)
{
	uint64_t x = 1;

	for (uint64_t i = 0; i < (uint64_t)(ms * per_ms); i++)
		x = x * 6364136223846793005ull + 1442695040888963407ull;
	sink = x;
}

int main(int argc, char **argv)
{
	int n = argc > 1 ? atoi(argv[1]) : 15, rounds = 5;
	uint64_t per_ms;
	double t0;
	pthread_t th[64];
	double cpu[64];

	if (n < 0 || n > 64)
		n = 15;
	t0 = now(CLOCK_MONOTONIC);
	work(1, 1000000);
	per_ms = (uint64_t)(1000000 / ((now(CLOCK_MONOTONIC) - t0) * 1000));
	printf("%d waiters; holder: 20 ms asleep (I/O) then 20 ms of CPU work, lock held\n", n);
	printf("%-12s %14s %18s\n", "lock", "waiters' CPU", "holder's work took");
	for (int r = 0; r < 2 * rounds; r++) {
		double burned = 0, w0, w1;

		use_mutex = r % 2;
		atomic_store(&waiters_in, 0);
		lk();
		for (int i = 0; i < n; i++)
			pthread_create(&th[i], NULL, waiter, &cpu[i]);
		while (atomic_load(&waiters_in) < n)
			usleep(100);
		usleep(20000); /* the I/O */
		w0 = now(CLOCK_MONOTONIC);
		work(20, per_ms);
		w1 = now(CLOCK_MONOTONIC);
		ulk();
		for (int i = 0; i < n; i++) {
			pthread_join(th[i], NULL);
			burned += cpu[i];
		}
		printf("%-12s %11.1f ms %15.1f ms\n", use_mutex ? "mutex (park)" : "page lock",
		       burned * 1000, (w1 - w0) * 1000);
	}
	return 0;
}
