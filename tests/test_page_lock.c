/*
 * test_page_lock.c - the page lock (mm/swap.h, mm/page_lock.c): its
 * waiters park, and none of them is left asleep.
 *
 * Bounded by counts, not by time: every thread does a fixed number of
 * acquisitions, and every wait for other threads goes through a watchdog
 * that fails the test once no thread has unlocked for WATCHDOG_MS (a lost
 * wake-up stops the unlocks).  That waiters parked is observed through
 * platform_park_count(), which only this program's page locks call here.
 *
 * The shared data is static: when a watchdog fires, the stuck threads are
 * abandoned and must not write to a dead frame.
 */
#define _GNU_SOURCE
#include <pthread.h>
#include <sched.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <string.h>
#include <time.h>

#include <cmocka.h>

#include "mm/swap.h"

#define WATCHDOG_MS 20000u

static atomic_uint_fast64_t progress;

static void page_unlock_counted(struct page *page)
{
	unlock_page(page);
	atomic_fetch_add_explicit(&progress, 1, memory_order_relaxed);
}

static uint64_t now_ms(void)
{
	return platform_now_ns() / 1000000u;
}

static void sleep_ms(unsigned int ms)
{
	struct timespec ts = { ms / 1000, (long)(ms % 1000) * 1000000L };

	while (nanosleep(&ts, &ts))
		;
}

/* Wait until @cond(@arg); fail once nobody unlocked for WATCHDOG_MS. */
static void wait_until(bool (*cond)(void *), void *arg, const char *what)
{
	uint64_t deadline = now_ms() + WATCHDOG_MS;
	uint_fast64_t seen = atomic_load(&progress);

	while (!cond(arg)) {
		uint_fast64_t p = atomic_load(&progress);

		if (p != seen) {
			seen = p;
			deadline = now_ms() + WATCHDOG_MS;
		}
		if (now_ms() > deadline)
			fail_msg("watchdog: %s not reached, and no unlock for %u ms "
				 "(lost wake-up?)", what, WATCHDOG_MS);
		sleep_ms(1);
	}
}

struct count_at_least {
	atomic_uint *counter;
	unsigned int target;
};

static bool counter_reached(void *arg)
{
	struct count_at_least *c = arg;

	return atomic_load(c->counter) >= c->target;
}

static unsigned long parks_target;

static bool parks_reached(void *arg)
{
	(void)arg;
	return platform_park_count() >= parks_target;
}

/* ------------------------------------------------------------------------- */
/*
 * Waiters park: main holds the page lock while PK_WAITERS threads want it.
 * Each must end up asleep (a park each at least), not spinning or yielding
 * for as long as the holder holds on (attack10: 15 waiters burned 24-46 ms
 * of CPU per 40 ms hold).  Then every one of them gets the lock once.
 */
#define PK_WAITERS 8

static struct {
	struct page page;
	atomic_uint arrived;
	atomic_uint done;
	unsigned int counter; /* the page lock's */
} pk;

static void *pk_waiter(void *arg)
{
	(void)arg;
	atomic_fetch_add(&pk.arrived, 1);
	lock_page(&pk.page);
	pk.counter++;
	page_unlock_counted(&pk.page);
	atomic_fetch_add(&pk.done, 1);
	return NULL;
}

static void test_page_lock_waiters_park(void **state)
{
	pthread_t t[PK_WAITERS];
	struct count_at_least arrived = { &pk.arrived, PK_WAITERS };
	struct count_at_least done = { &pk.done, PK_WAITERS };

	(void)state;
	memset(&pk, 0, sizeof(pk));
	pk.page.flags = PG_head | PG_anon;
	lock_page(&pk.page);
	parks_target = platform_park_count() + PK_WAITERS;
	for (unsigned int i = 0; i < PK_WAITERS; i++)
		assert_int_equal(pthread_create(&t[i], NULL, pk_waiter, NULL), 0);
	wait_until(counter_reached, &arrived, "waiters arrived");
	/* Nobody unlocks while they park: the watchdog runs from here. */
	wait_until(parks_reached, &parks_target, "every waiter parked");
	assert_true(page_flags_read(&pk.page) & PG_waiters);
	assert_int_equal(atomic_load(&pk.done), 0);
	page_unlock_counted(&pk.page);
	wait_until(counter_reached, &done, "every parked waiter done");
	for (unsigned int i = 0; i < PK_WAITERS; i++)
		assert_int_equal(pthread_join(t[i], NULL), 0);
	assert_int_equal(pk.counter, PK_WAITERS);
	/* The last unlock leaves neither bit behind. */
	assert_int_equal(page_flags_read(&pk.page), PG_head | PG_anon);
}

/* ------------------------------------------------------------------------- */
/*
 * No lost wake-up: LW_THREADS threads (more than the cores, so holders are
 * preempted and waiters park) take LW_PAGES page locks, several pages
 * sharing a thread's turn and, through the wait table's hash, possibly a
 * bucket; some holds yield inside.  A counter per page, written only under
 * its lock, must come out exact, and every thread must finish (a waiter
 * left asleep stops its thread, and the watchdog fails the test).  Some
 * acquisitions are trylocks, which never wait, beside the sleeping ones.
 */
#define LW_THREADS 16
#define LW_PAGES 4
#define LW_OPS 3000

static struct {
	struct page pages[LW_PAGES];
	unsigned long counter[LW_PAGES];
	unsigned long trylocked[LW_THREADS];
	atomic_uint done;
} lw;

static void *lw_thread(void *arg)
{
	unsigned int id = (unsigned int)(uintptr_t)arg;
	uint32_t x = id * 2654435761u + 1;

	for (unsigned int i = 0; i < LW_OPS; i++) {
		unsigned int p;

		x = x * 1103515245u + 12345u;
		p = (x >> 16) % LW_PAGES;
		if ((x >> 8) % 8 == 0) {
			if (!trylock_page(&lw.pages[p]))
				continue;
			lw.trylocked[id]++;
		} else {
			lock_page(&lw.pages[p]);
		}
		lw.counter[p]++;
		if ((x >> 4) % 16 == 0)
			sched_yield(); /* a holder preempted: waiters park */
		page_unlock_counted(&lw.pages[p]);
	}
	atomic_fetch_add(&lw.done, 1);
	return NULL;
}

static void test_page_lock_no_lost_wakeup(void **state)
{
	pthread_t t[LW_THREADS];
	struct count_at_least done = { &lw.done, LW_THREADS };
	unsigned long sum = 0, expect = 0;
	unsigned long parks = platform_park_count();

	(void)state;
	memset(&lw, 0, sizeof(lw));
	for (unsigned int i = 0; i < LW_PAGES; i++)
		lw.pages[i].flags = PG_head | PG_anon;
	for (unsigned int i = 0; i < LW_THREADS; i++)
		assert_int_equal(pthread_create(&t[i], NULL, lw_thread,
						(void *)(uintptr_t)i), 0);
	wait_until(counter_reached, &done, "every thread done");
	for (unsigned int i = 0; i < LW_THREADS; i++)
		assert_int_equal(pthread_join(t[i], NULL), 0);
	for (unsigned int i = 0; i < LW_PAGES; i++) {
		sum += lw.counter[i];
		assert_int_equal(page_flags_read(&lw.pages[i]), PG_head | PG_anon);
	}
	/* Every lock_page() got its page; trylocks counted as they won. */
	for (unsigned int i = 0; i < LW_THREADS; i++) {
		uint32_t x = i * 2654435761u + 1;

		for (unsigned int n = 0; n < LW_OPS; n++) {
			x = x * 1103515245u + 12345u;
			expect += (x >> 8) % 8 != 0;
		}
		expect += lw.trylocked[i];
	}
	assert_int_equal(sum, expect);
	printf("# %lu acquisitions, %lu parks\n", sum, platform_park_count() - parks);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_page_lock_waiters_park),
		cmocka_unit_test(test_page_lock_no_lost_wakeup),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
