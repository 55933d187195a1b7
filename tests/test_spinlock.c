/*
 * test_spinlock.c - the four spinlock algorithms of platform/posix/spinlock.c
 * under more threads than cores.
 *
 * Every test is bounded by counts, not by time: threads do a fixed number of
 * acquisitions, and every wait for other threads goes through a watchdog that
 * fails the test after WATCHDOG_MS instead of hanging (a lost wake-up shows as
 * a watchdog failure).  Where a test needs waiters to be queued or parked
 * before it goes on, it observes that (the lock word, the queue tail,
 * platform_park_count()) rather than sleeping and hoping.
 *
 * The shared data of a test is static, not on the stack: when a watchdog
 * fires, the stuck threads are abandoned, and must not write to a dead frame.
 */
#define _GNU_SOURCE
#include <pthread.h>
#include <sched.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include <cmocka.h>

#include "platform/platform.h"

#define WATCHDOG_MS 15000u
#define MAX_THREADS 16

/*
 * Every unlock in this file is progress.  The watchdogs fail a test that
 * made none for their time, not one that is merely slow: ticket and MCS
 * locks with 16 threads on 2 cores hand the lock to waiters that are not
 * running, and under ThreadSanitizer on a loaded machine a whole test can
 * take minutes while every hand-over still happens.  A lost wake-up or a
 * deadlock stops the unlocks, and that is what the watchdogs catch.
 */
static atomic_uint_fast64_t progress;
#define spin_unlock(l)                                                         \
	(spin_unlock(l), (void)atomic_fetch_add_explicit(&progress, 1,          \
						      memory_order_relaxed))

static void sleep_ms(unsigned int ms)
{
	struct timespec ts = { ms / 1000, (long)(ms % 1000) * 1000000L };

	while (nanosleep(&ts, &ts))
		;
}

static uint64_t now_ms(void)
{
	return platform_now_ns() / 1000000u;
}

/* Busy work of about @n pauses, outside or inside a critical section. */
static void spin_for(unsigned int n)
{
	for (unsigned int i = 0; i < n; i++)
		platform_cpu_relax(1);
}

/*
 * Wait until @cond(@arg) holds; fail the test after WATCHDOG_MS.  @what names
 * the condition in the failure.
 */
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
				 "(lost wake-up or deadlock?)", what, WATCHDOG_MS);
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

static void wait_count(atomic_uint *counter, unsigned int target, const char *what)
{
	struct count_at_least c = { counter, target };

	wait_until(counter_reached, &c, what);
}

struct parks_at_least {
	unsigned long target;
};

static bool parks_reached(void *arg)
{
	return platform_park_count() >= ((struct parks_at_least *)arg)->target;
}

/* Join @n threads that count themselves in @done when they finish. */
static void join_all(pthread_t *t, unsigned int n, atomic_uint *done,
		     const char *what)
{
	wait_count(done, n, what);
	for (unsigned int i = 0; i < n; i++)
		assert_int_equal(pthread_join(t[i], NULL), 0);
}

static void start(pthread_t *t, void *(*fn)(void *), void *arg)
{
	assert_int_equal(pthread_create(t, NULL, fn, arg), 0);
}

/*
 * The watchdogs above cover waits for other threads; this one covers the
 * test's own thread stuck in spin_lock() (a lock word left wrong): a thread
 * that aborts the process when no unlock has happened for TEST_LIMIT_MS.
 */
#define TEST_LIMIT_MS 60000u

static atomic_uint_fast64_t test_started_ms; /* 0: between tests */

static void *test_watchdog(void *arg)
{
	uint_fast64_t seen = 0;
	uint64_t since = 0;

	for (;;) {
		uint64_t t0 = atomic_load(&test_started_ms);
		uint_fast64_t p = atomic_load(&progress);

		if (p != seen || since < t0) {
			seen = p;
			since = now_ms();
		}
		if (t0 && now_ms() - since > TEST_LIMIT_MS) {
			fprintf(stderr, "test_spinlock: no unlock for %u ms: hung\n",
				TEST_LIMIT_MS);
			abort();
		}
		sleep_ms(100);
	}
	return NULL;
}

static int test_setup(void **state)
{
	atomic_store(&test_started_ms, now_ms());
	return 0;
}

/* Every test picks its algorithm first and goes back to the default after. */
static int kind_teardown(void **state)
{
	atomic_store(&test_started_ms, 0);
	spin_lock_set_kind(SPIN_LOCK_PVQ);
	lock_stat_set_timing(false);
	return 0;
}

/* ------------------------------------------------------------------------- */
/* Mutual exclusion: 16 threads on 2 cores, a plain counter under the lock.  */

#define EX_THREADS 16
#define EX_ITERS 1500

static struct {
	struct spinlock lock;
	atomic_uint go, done;
	atomic_uint violations; /* inside already set, or spin_is_held false */
	volatile int inside;	/* plain: TSan sees a race if exclusion fails */
	unsigned long counter;
	unsigned long trylocks; /* successful ones, counted under the lock */
} ex;

static void ex_critical(void)
{
	unsigned long c;

	if (ex.inside || !spin_is_held(&ex.lock))
		atomic_fetch_add(&ex.violations, 1);
	ex.inside = 1;
	c = ex.counter;
	/* Widen the window in which a second holder would lose an update. */
	spin_for(c % 7);
	ex.counter = c + 1;
	/*
	 * Now and then a hold longer than every spin threshold: PVQ's head
	 * parks on the lock word and the unlock has to wake it.
	 */
	if (c % 97 == 0)
		spin_for(2000);
	ex.inside = 0;
}

static void *ex_thread(void *arg)
{
	unsigned int id = (unsigned int)(uintptr_t)arg;

	while (!atomic_load(&ex.go))
		sched_yield();
	for (unsigned int i = 0; i < EX_ITERS; i++) {
		if ((i + id) % 4 == 0 && spin_trylock(&ex.lock)) {
			ex.trylocks++;
			ex_critical();
		} else {
			spin_lock(&ex.lock);
			ex_critical();
		}
		spin_unlock(&ex.lock);
		spin_for((i * 31 + id) % 16);
	}
	atomic_fetch_add(&ex.done, 1);
	return NULL;
}

static void check_exclusion(enum spin_lock_kind kind)
{
	pthread_t t[EX_THREADS];
	struct lock_stats sum = { 0 };

	spin_lock_set_kind(kind);
	memset(&ex, 0, sizeof(ex));
	spin_lock_init(&ex.lock);
	/* Ticket: start near the 16-bit wrap so that the run crosses it. */
	if (kind == SPIN_LOCK_TICKET)
		atomic_store(&ex.lock.val, 0xfff0fff0u);
	for (unsigned int i = 0; i < EX_THREADS; i++)
		start(&t[i], ex_thread, (void *)(uintptr_t)i);
	atomic_store(&ex.go, 1);
	join_all(t, EX_THREADS, &ex.done, "all threads done");

	assert_int_equal(atomic_load(&ex.violations), 0);
	assert_int_equal(ex.counter, EX_THREADS * EX_ITERS);
	assert_false(spin_is_held(&ex.lock));
	spin_lock_stats_add(&ex.lock, &sum);
	assert_int_equal(sum.acquisitions, EX_THREADS * EX_ITERS);
	assert_true(sum.contentions > 0);
	assert_true(sum.contentions <= EX_THREADS * EX_ITERS - ex.trylocks);
	/* Free again, and takeable at once. */
	assert_true(spin_trylock(&ex.lock));
	spin_unlock(&ex.lock);
	if (kind == SPIN_LOCK_TICKET) {
		unsigned int v = atomic_load(&ex.lock.val);

		assert_int_equal(v >> 16, v & 0xffff);
		assert_true((v & 0xffff) < 0xfff0); /* it did wrap */
	}
}

/* ------------------------------------------------------------------------- */
/* Nesting: three locks taken in order, released out of order (MCS nodes).   */

#define NEST_THREADS 8
#define NEST_ITERS 800

static struct {
	struct spinlock lock[3];
	atomic_uint go, done, violations;
	volatile int inside[3];
	unsigned long counter[3];
} nest;

static void *nest_thread(void *arg)
{
	unsigned int id = (unsigned int)(uintptr_t)arg;

	while (!atomic_load(&nest.go))
		sched_yield();
	for (unsigned int i = 0; i < NEST_ITERS; i++) {
		/* Some take only the inner locks: the outer one is no big lock. */
		unsigned int first = (i + id) % 3 == 0 ? 1 : 0;

		for (unsigned int l = first; l < 3; l++) {
			spin_lock(&nest.lock[l]);
			if (nest.inside[l])
				atomic_fetch_add(&nest.violations, 1);
			nest.inside[l] = 1;
			nest.counter[l]++;
		}
		for (unsigned int l = first; l < 3; l++)
			if (!spin_is_held(&nest.lock[l]))
				atomic_fetch_add(&nest.violations, 1);
		/* Release in acquisition order, not the reverse. */
		for (unsigned int l = first; l < 3; l++) {
			nest.inside[l] = 0;
			spin_unlock(&nest.lock[l]);
		}
	}
	atomic_fetch_add(&nest.done, 1);
	return NULL;
}

static void check_nesting(enum spin_lock_kind kind)
{
	pthread_t t[NEST_THREADS];
	struct spinlock deep[8];
	unsigned long outer = 0;

	spin_lock_set_kind(kind);
	/* As deep as an MCS holder may nest (it keeps a node per lock held). */
	for (unsigned int i = 0; i < 8; i++) {
		spin_lock_init(&deep[i]);
		if (i % 2)
			spin_lock(&deep[i]);
		else
			assert_true(spin_trylock(&deep[i]));
	}
	for (unsigned int i = 0; i < 8; i++)
		assert_true(spin_is_held(&deep[i]));
	for (unsigned int i = 0; i < 8; i++)
		spin_unlock(&deep[(i * 3) % 8]); /* a permutation of 0..7 */
	for (unsigned int i = 0; i < 8; i++)
		assert_false(spin_is_held(&deep[i]));

	memset(&nest, 0, sizeof(nest));
	for (unsigned int l = 0; l < 3; l++)
		spin_lock_init(&nest.lock[l]);
	for (unsigned int i = 0; i < NEST_THREADS; i++)
		start(&t[i], nest_thread, (void *)(uintptr_t)i);
	atomic_store(&nest.go, 1);
	join_all(t, NEST_THREADS, &nest.done, "all threads done");
	assert_int_equal(atomic_load(&nest.violations), 0);
	for (unsigned int id = 0; id < NEST_THREADS; id++)
		for (unsigned int i = 0; i < NEST_ITERS; i++)
			outer += (i + id) % 3 != 0;
	assert_int_equal(nest.counter[0], outer);
	assert_int_equal(nest.counter[1], NEST_THREADS * NEST_ITERS);
	assert_int_equal(nest.counter[2], NEST_THREADS * NEST_ITERS);
}

/* ------------------------------------------------------------------------- */
/* trylock and spin_is_held, from the holder and from another thread.        */

static struct {
	struct spinlock lock;
	bool trylock_ok, held_seen;
} other;

static void *other_try(void *arg)
{
	other.held_seen = spin_is_held(&other.lock);
	other.trylock_ok = spin_trylock(&other.lock);
	if (other.trylock_ok) {
		if (!spin_is_held(&other.lock))
			other.held_seen = true; /* flagged below as a failure */
		spin_unlock(&other.lock);
	}
	return NULL;
}

/* Run other_try() on another thread and wait for it. */
static void try_from_other_thread(void)
{
	pthread_t t;

	start(&t, other_try, NULL);
	assert_int_equal(pthread_join(t, NULL), 0);
}

static void check_trylock(enum spin_lock_kind kind)
{
	struct lock_stats sum = { 0 };

	spin_lock_set_kind(kind);
	spin_lock_init(&other.lock);
	assert_false(spin_is_held(&other.lock));

	/* Free: trylock takes it, and the holder knows it. */
	assert_true(spin_trylock(&other.lock));
	assert_true(spin_is_held(&other.lock));
	/* Held: fails for the holder (no recursion) and leaves it held. */
	for (unsigned int i = 0; i < 100; i++) /* > the 8 queue nodes */
		assert_false(spin_trylock(&other.lock));
	assert_true(spin_is_held(&other.lock));
	/* Another thread neither holds it nor can take it. */
	try_from_other_thread();
	assert_false(other.held_seen);
	assert_false(other.trylock_ok);
	spin_unlock(&other.lock);
	assert_false(spin_is_held(&other.lock));

	/* Free again: another thread takes and releases it. */
	try_from_other_thread();
	assert_false(other.held_seen);
	assert_true(other.trylock_ok);

	/* Taken by spin_lock, trylock still fails; after unlock it succeeds. */
	spin_lock(&other.lock);
	assert_false(spin_trylock(&other.lock));
	spin_unlock(&other.lock);
	assert_true(spin_trylock(&other.lock));
	spin_unlock(&other.lock);

	/* 1 + 1 (other thread) + 1 + 1 successful; failures are no acquisitions. */
	spin_lock_stats_add(&other.lock, &sum);
	assert_int_equal(sum.acquisitions, 4);
	assert_int_equal(sum.contentions, 0);

	if (kind == SPIN_LOCK_TICKET) {
		/* The served half wraps alone, the next half by overflow. */
		atomic_store(&other.lock.val, 0xfffefffeu);
		for (unsigned int i = 0; i < 4; i++) {
			if (i % 2)
				assert_true(spin_trylock(&other.lock));
			else
				spin_lock(&other.lock);
			assert_false(spin_trylock(&other.lock));
			spin_unlock(&other.lock);
		}
		assert_int_equal(atomic_load(&other.lock.val), 0x00020002u);
	}
}

/* ------------------------------------------------------------------------- */
/* Statistics.                                                               */

static struct {
	struct spinlock lock;
	atomic_uint calling, done;
} cst;

static void *cst_waiter(void *arg)
{
	atomic_fetch_add(&cst.calling, 1);
	spin_lock(&cst.lock);
	spin_unlock(&cst.lock);
	atomic_fetch_add(&cst.done, 1);
	return NULL;
}

static void check_stats(enum spin_lock_kind kind)
{
	struct spinlock lock;
	struct lock_stats sum = { 0 };
	unsigned int round;

	spin_lock_set_kind(kind);

	/* Single-threaded: exact counts, never a contention. */
	spin_lock_init(&lock);
	for (unsigned int i = 0; i < 1000; i++) {
		spin_lock(&lock);
		spin_unlock(&lock);
	}
	for (unsigned int i = 0; i < 500; i++) {
		assert_true(spin_trylock(&lock));
		assert_false(spin_trylock(&lock));
		spin_unlock(&lock);
	}
	spin_lock_stats_add(&lock, &sum);
	assert_int_equal(sum.acquisitions, 1500);
	assert_int_equal(sum.contentions, 0);
	assert_int_equal(sum.timed, 0); /* timing is off by default */
	assert_int_equal(sum.hold_ns, 0);
	spin_lock_stats_add(&lock, &sum); /* sums add up */
	assert_int_equal(sum.acquisitions, 3000);
	spin_lock_stats_reset(&lock);
	sum = (struct lock_stats){ 0 };
	spin_lock_stats_add(&lock, &sum);
	assert_int_equal(sum.acquisitions, 0);

	/* Timed holds: each at least the 200 us it sleeps holding the lock. */
	lock_stat_set_timing(true);
	for (unsigned int i = 0; i < 10; i++) {
		struct timespec ts = { 0, 200000 };

		spin_lock(&lock);
		nanosleep(&ts, NULL);
		spin_unlock(&lock);
	}
	sum = (struct lock_stats){ 0 };
	spin_lock_stats_add(&lock, &sum);
	assert_int_equal(sum.acquisitions, 10);
	assert_int_equal(sum.timed, 10);
	assert_true(sum.hold_ns >= 10 * 200000ull);
	assert_true(sum.hold_max_ns >= 200000ull);
	assert_true(sum.hold_max_ns <= sum.hold_ns);
	assert_int_equal(sum.wait_ns, 0);

	/*
	 * Contended: a thread calls spin_lock while this one holds the lock
	 * for 2 ms.  Whether it got into spin_lock before the unlock is up to
	 * the scheduler, so rounds repeat until one was contended (bounded).
	 */
	spin_lock_init(&cst.lock);
	for (round = 0; round < 100; round++) {
		pthread_t t;

		atomic_store(&cst.calling, 0);
		atomic_store(&cst.done, 0);
		spin_lock(&cst.lock);
		start(&t, cst_waiter, NULL);
		wait_count(&cst.calling, 1, "waiter started");
		sleep_ms(2);
		spin_unlock(&cst.lock);
		join_all(&t, 1, &cst.done, "waiter done");
		sum = (struct lock_stats){ 0 };
		spin_lock_stats_add(&cst.lock, &sum);
		if (sum.contentions)
			break;
	}
	assert_true(round < 100);
	assert_true(sum.contentions >= 1);
	assert_int_equal(sum.acquisitions, 2 * (round + 1));
	assert_int_equal(sum.timed, 2 * (round + 1));
	assert_true(sum.wait_ns > 0);
	assert_true(sum.wait_max_ns > 0 && sum.wait_max_ns <= sum.wait_ns);
	assert_true(sum.hold_max_ns >= 2000000ull); /* the 2 ms hold */
	lock_stat_set_timing(false);
}

/*
 * Reset under load: the counters are written by the holder with a load and a
 * store, so a reset from outside the lock can be overwritten by a holder's
 * store of the old count plus one.  A thread takes the lock all along and
 * counts its acquisitions in @taken; after each reset, the acquisitions the
 * statistics show cannot exceed what was taken since just before it.
 */
#define RS_RESETS 200000
/* Ticket and MCS hand every reset's acquisition over in turn: slower. */
#define RS_RESETS_FIFO 25000

static struct {
	struct spinlock lock;
	atomic_uint go, stop, done;
	atomic_ulong taken; /* written under the lock */
} rs;

static void *rs_hammer(void *arg)
{
	while (!atomic_load(&rs.go))
		sched_yield();
	while (!atomic_load_explicit(&rs.stop, memory_order_relaxed)) {
		spin_lock(&rs.lock);
		atomic_store_explicit(&rs.taken,
				      atomic_load_explicit(&rs.taken,
							   memory_order_relaxed) + 1,
				      memory_order_relaxed);
		spin_unlock(&rs.lock);
	}
	atomic_fetch_add(&rs.done, 1);
	return NULL;
}

static void check_stats_reset(enum spin_lock_kind kind)
{
	pthread_t t;
	unsigned long lost = 0, first_lost = 0;
	unsigned long resets = kind == SPIN_LOCK_TICKET || kind == SPIN_LOCK_MCS
				       ? RS_RESETS_FIFO
				       : RS_RESETS;

	spin_lock_set_kind(kind);
	memset(&rs, 0, sizeof(rs));
	spin_lock_init(&rs.lock);
	start(&t, rs_hammer, NULL);
	atomic_store(&rs.go, 1);
	for (unsigned long i = 0; i < resets; i++) {
		struct lock_stats sum = { 0 };
		unsigned long before, after;

		before = atomic_load(&rs.taken);
		spin_lock_stats_reset(&rs.lock);
		spin_lock_stats_add(&rs.lock, &sum);
		/*
		 * Under the lock, @taken includes every acquisition whose
		 * count we read above (its holder has released since).
		 */
		spin_lock(&rs.lock);
		after = atomic_load_explicit(&rs.taken, memory_order_relaxed);
		spin_unlock(&rs.lock);
		if (sum.acquisitions > after - before && !lost++)
			first_lost = (unsigned long)sum.acquisitions - (after - before);
		if (sum.contentions > sum.acquisitions + 1 && !lost++)
			first_lost = (unsigned long)sum.contentions;
	}
	atomic_store(&rs.stop, 1);
	join_all(&t, 1, &rs.done, "hammer stopped");
	if (lost)
		fail_msg("%s: %lu of %lu resets undone by a concurrent holder "
			 "(first: %lu acquisitions too many)",
			 spin_lock_kind_names[kind], lost, resets, first_lost);
}

/* ------------------------------------------------------------------------- */
/* PVQ parks: more threads than cores, holders now and then sleep.           */

#define PK_THREADS 16
#define PK_ITERS 300

static struct {
	struct spinlock lock;
	atomic_uint go, done, violations;
	volatile int inside;
	unsigned long counter;
	unsigned long parks_before; /* platform_park_count() at the start */
} pk;

static void *pk_thread(void *arg)
{
	while (!atomic_load(&pk.go))
		sched_yield();
	for (unsigned int i = 0; i < PK_ITERS; i++) {
		spin_lock(&pk.lock);
		if (pk.inside)
			atomic_fetch_add(&pk.violations, 1);
		pk.inside = 1;
		/*
		 * A holder descheduled: every 64th hold sleeps 1 ms.  The
		 * first holds the lock until a waiter has parked (at most
		 * 10 s, below the watchdog's 15): a waiter spins its budget and parks
		 * whenever it runs, so this does not depend on who else the
		 * machine runs.
		 */
		if (pk.counter == 0)
			for (unsigned int ms = 0; ms < 10000 &&
			     platform_park_count() == pk.parks_before; ms++)
				sleep_ms(1);
		else if (pk.counter % 64 == 0)
			sleep_ms(1);
		pk.counter++;
		pk.inside = 0;
		spin_unlock(&pk.lock);
	}
	atomic_fetch_add(&pk.done, 1);
	return NULL;
}

static void test_pvq_parks(void **state)
{
	pthread_t t[PK_THREADS];
	unsigned long parks = 0;

	spin_lock_set_kind(SPIN_LOCK_PVQ);
	/* One round: its first hold waits for a park (pk_thread()); a pvq
	 * that never parks fails after the guard's 10 s. */
	{
		struct lock_stats sum = { 0 };

		parks = platform_park_count();
		memset(&pk, 0, sizeof(pk));
		pk.parks_before = parks;
		spin_lock_init(&pk.lock);
		for (unsigned int i = 0; i < PK_THREADS; i++)
			start(&t[i], pk_thread, NULL);
		atomic_store(&pk.go, 1);
		join_all(t, PK_THREADS, &pk.done, "all threads done");
		parks = platform_park_count() - parks;
		print_message("pvq: %u threads, %lu parks\n", PK_THREADS, parks);
		assert_int_equal(atomic_load(&pk.violations), 0);
		assert_int_equal(pk.counter, PK_THREADS * PK_ITERS);
		spin_lock_stats_add(&pk.lock, &sum);
		assert_int_equal(sum.acquisitions, PK_THREADS * PK_ITERS);
		assert_true(sum.contentions > 0);
	}
	assert_true(parks > 0);
}

/* ------------------------------------------------------------------------- */
/*
 * No lost wake-up: the holder keeps the lock until all N waiters have parked
 * (the head on the lock word, the others on their queue nodes), then unlocks
 * once.  Each waiter takes and releases the lock once, so every one of them
 * depends on a wake-up from the one before it; all must finish.
 */

#define LW_WAITERS 12
#define LW_ROUNDS 4

static struct {
	struct spinlock lock;
	atomic_uint arrived, done;
	unsigned long counter;
} lw;

static void *lw_waiter(void *arg)
{
	atomic_fetch_add(&lw.arrived, 1);
	spin_lock(&lw.lock);
	lw.counter++;
	spin_unlock(&lw.lock);
	atomic_fetch_add(&lw.done, 1);
	return NULL;
}

static void test_pvq_no_lost_wakeup(void **state)
{
	spin_lock_set_kind(SPIN_LOCK_PVQ);
	for (unsigned int round = 0; round < LW_ROUNDS; round++) {
		pthread_t t[LW_WAITERS];
		struct parks_at_least all;
		unsigned long parks;

		memset(&lw, 0, sizeof(lw));
		spin_lock_init(&lw.lock);
		spin_lock(&lw.lock);
		all.target = platform_park_count() + LW_WAITERS;
		for (unsigned int i = 0; i < LW_WAITERS; i++)
			start(&t[i], lw_waiter, NULL);
		wait_count(&lw.arrived, LW_WAITERS, "waiters arrived");
		wait_until(parks_reached, &all, "all waiters parked");
		/* Hold on, parked as they are (a futex may wake spuriously). */
		sleep_ms(50);
		parks = platform_park_count();
		assert_true(parks >= all.target);
		assert_int_equal(atomic_load(&lw.done), 0);
		spin_unlock(&lw.lock);
		join_all(t, LW_WAITERS, &lw.done, "every parked waiter done");
		assert_int_equal(lw.counter, LW_WAITERS);
		assert_true(spin_trylock(&lw.lock));
		spin_unlock(&lw.lock);
	}
}

/* ------------------------------------------------------------------------- */
/*
 * No starvation.  Main holds the lock and lets ST_WAITERS waiters queue one
 * at a time (each start waits until the previous one is seen in the queue:
 * the tail pointer moved, or a ticket was taken), so waiter i has exactly i
 * queued waiters ahead of it, and all arrive while the global acquisition
 * sequence stands still.  Then hammer threads start taking the lock with
 * trylock in a tight loop (they never queue, so they compete for every
 * hand-off), one more with spin_lock, and main unlocks.  Each waiter records
 * how many acquisitions happened between its arrival and its own.
 *
 * The bound, for waiter i (0-based queue position):
 *   - FIFO kinds (ticket, MCS): trylock fails while anyone is queued, so
 *     exactly the i waiters ahead: i.
 *   - PVQ: the i waiters ahead each acquire once (the queue is FIFO and no
 *     hammer is queued ahead: they all start after the queue is built); and
 *     in each of the i + 1 head tenures up to and including its own (from
 *     when the waiter becomes the queue head until it takes the lock) at
 *     most SPIN_PVQ_MAX_STEALS acquisitions from outside the queue.  So
 *     i + (i + 1) * SPIN_PVQ_MAX_STEALS, with no slack needed: arrival and
 *     acquisition are both read exactly (the sequence is frozen at
 *     arrival, and read under the lock at acquisition).
 *   Before the waiters are released they have all parked (PVQ), so the
 *   first head has announced itself; a head that was preempted between
 *   joining an empty queue and announcing itself is not covered (see
 *   spinlock.c), and this test does not create one.
 */

#define ST_WAITERS 6
#define ST_TRY_HAMMERS 3
#define ST_HAMMERS (ST_TRY_HAMMERS + 1)
#define ST_HAMMER_CAP 3000000ul /* attempts: bounded even if waiters stall */

static struct {
	struct spinlock lock;
	atomic_ulong seq; /* acquisitions so far; written under the lock */
	atomic_uint go, stop, arrived, done, hammers_done;
	unsigned long between[ST_WAITERS]; /* by queue position */
	unsigned long hammered[ST_HAMMERS];
} st;

static unsigned long st_take(void)
{
	unsigned long s = atomic_load_explicit(&st.seq, memory_order_relaxed);

	atomic_store_explicit(&st.seq, s + 1, memory_order_relaxed);
	return s;
}

static void *st_waiter(void *arg)
{
	unsigned int pos = (unsigned int)(uintptr_t)arg;
	unsigned long arrival = atomic_load(&st.seq);

	atomic_fetch_add(&st.arrived, 1);
	spin_lock(&st.lock);
	st.between[pos] = st_take() - arrival;
	spin_unlock(&st.lock);
	atomic_fetch_add(&st.done, 1);
	return NULL;
}

static void *st_hammer(void *arg)
{
	unsigned int id = (unsigned int)(uintptr_t)arg;
	unsigned long n = 0, got = 0;

	while (!atomic_load(&st.go))
		sched_yield();
	while (!atomic_load_explicit(&st.stop, memory_order_relaxed) &&
	       n++ < ST_HAMMER_CAP) {
		if (id == ST_TRY_HAMMERS) {
			spin_lock(&st.lock);
		} else if (!spin_trylock(&st.lock)) {
			/* Give the queue head a core now and then. */
			if (n % 64 == 0)
				sched_yield();
			else
				platform_cpu_relax(1);
			continue;
		}
		st_take();
		got++;
		spin_unlock(&st.lock);
	}
	st.hammered[id] = got;
	atomic_fetch_add(&st.hammers_done, 1);
	return NULL;
}

struct queued {
	enum spin_lock_kind kind;
	struct spin_qnode *tail; /* before the waiter started */
	unsigned int tickets;	 /* tickets out, with the waiter's */
};

static bool is_queued(void *arg)
{
	struct queued *q = arg;

	if (q->kind == SPIN_LOCK_TICKET) {
		unsigned int v = atomic_load(&st.lock.val);

		return ((v >> 16) - (v & 0xffff)) % 0x10000 == q->tickets;
	}
	return atomic_load(&st.lock.tail) != q->tail;
}

static void check_starvation(enum spin_lock_kind kind)
{
	pthread_t w[ST_WAITERS], h[ST_HAMMERS];
	struct parks_at_least parked;
	unsigned long worst = 0, total = 0;

	spin_lock_set_kind(kind);
	memset(&st, 0, sizeof(st));
	spin_lock_init(&st.lock);
	spin_lock(&st.lock);
	st_take();
	parked.target = platform_park_count() + ST_WAITERS;
	for (unsigned int i = 0; i < ST_WAITERS; i++) {
		struct queued q = { kind, atomic_load(&st.lock.tail), i + 2 };

		start(&w[i], st_waiter, (void *)(uintptr_t)i);
		wait_until(is_queued, &q, "waiter queued");
	}
	if (kind == SPIN_LOCK_PVQ)
		wait_until(parks_reached, &parked, "waiters parked");
	for (unsigned int i = 0; i < ST_HAMMERS; i++)
		start(&h[i], st_hammer, (void *)(uintptr_t)i);
	atomic_store(&st.go, 1);
	sleep_ms(1);
	spin_unlock(&st.lock);
	join_all(w, ST_WAITERS, &st.done, "every waiter got the lock");
	atomic_store(&st.stop, 1);
	join_all(h, ST_HAMMERS, &st.hammers_done, "hammers stopped");

	for (unsigned int i = 0; i < ST_WAITERS; i++) {
		unsigned long bound = kind == SPIN_LOCK_PVQ
					      ? i + (i + 1) * SPIN_PVQ_MAX_STEALS
					      : i;

		print_message("%s: waiter %u: %lu acquisitions before it (bound %lu)\n",
			      spin_lock_kind_names[kind], i, st.between[i], bound);
		if (st.between[i] > worst)
			worst = st.between[i];
		if (st.between[i] > bound)
			fail_msg("%s: waiter %u (queue position) saw %lu acquisitions "
				 "between its arrival and its own; bound %lu",
				 spin_lock_kind_names[kind], i, st.between[i], bound);
		if (kind != SPIN_LOCK_PVQ)
			assert_int_equal(st.between[i], i);
	}
	for (unsigned int i = 0; i < ST_HAMMERS; i++)
		total += st.hammered[i];
	print_message("%s: hammers took the lock %lu times\n",
		      spin_lock_kind_names[kind], total);
	(void)worst;
}

/* ------------------------------------------------------------------------- */

#define PER_KIND(check)                                                        \
	static void check##_tas(void **s)                                      \
	{                                                                      \
		check(SPIN_LOCK_TAS);                                          \
	}                                                                      \
	static void check##_ticket(void **s)                                   \
	{                                                                      \
		check(SPIN_LOCK_TICKET);                                       \
	}                                                                      \
	static void check##_mcs(void **s)                                      \
	{                                                                      \
		check(SPIN_LOCK_MCS);                                          \
	}                                                                      \
	static void check##_pvq(void **s)                                      \
	{                                                                      \
		check(SPIN_LOCK_PVQ);                                          \
	}

PER_KIND(check_exclusion)
PER_KIND(check_nesting)
PER_KIND(check_trylock)
PER_KIND(check_stats)
PER_KIND(check_stats_reset)

static void check_starvation_ticket(void **s)
{
	check_starvation(SPIN_LOCK_TICKET);
}

static void check_starvation_mcs(void **s)
{
	check_starvation(SPIN_LOCK_MCS);
}

static void check_starvation_pvq(void **s)
{
	check_starvation(SPIN_LOCK_PVQ);
}

#define T(fn) cmocka_unit_test_setup_teardown(fn, test_setup, kind_teardown)

int main(void)
{
	pthread_t watchdog;

	if (pthread_create(&watchdog, NULL, test_watchdog, NULL) ||
	    pthread_detach(watchdog))
		return 1;
	const struct CMUnitTest tests[] = {
		T(check_trylock_tas),	 T(check_trylock_ticket),
		T(check_trylock_mcs),	 T(check_trylock_pvq),
		T(check_stats_tas),	 T(check_stats_ticket),
		T(check_stats_mcs),	 T(check_stats_pvq),
		T(check_stats_reset_tas), T(check_stats_reset_ticket),
		T(check_stats_reset_mcs), T(check_stats_reset_pvq),
		T(check_nesting_tas),	 T(check_nesting_ticket),
		T(check_nesting_mcs),	 T(check_nesting_pvq),
		T(check_exclusion_tas),	 T(check_exclusion_ticket),
		T(check_exclusion_mcs),	 T(check_exclusion_pvq),
		T(test_pvq_parks),	 T(test_pvq_no_lost_wakeup),
		T(check_starvation_ticket), T(check_starvation_mcs),
		T(check_starvation_pvq),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
