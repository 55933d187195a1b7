/*
 * platform.h - everything the memory-manager core needs from its environment.
 *
 * The core (mm/) is freestanding: it includes only this header and the C11
 * freestanding headers.  Every contact with an operating system goes through
 * the few primitives declared here, each with its preconditions stated.  The
 * POSIX implementation lives in platform/posix/, the guest kernel's in
 * platform/kernel/; the spinlocks (platform/spinlock.c) are built on them
 * and shared by both.
 */
#ifndef GUESTMM_PLATFORM_H
#define GUESTMM_PLATFORM_H

#include <stdatomic.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

/* Error numbers, with Linux's values, for code that may not include errno.h. */
#define GMM_EPERM 1
#define GMM_ENOENT 2
#define GMM_EIO 5
#define GMM_E2BIG 7
#define GMM_EAGAIN 11
#define GMM_ENOMEM 12
#define GMM_EFAULT 14
#define GMM_EBUSY 16
#define GMM_EEXIST 17
#define GMM_ENODEV 19
#define GMM_EINVAL 22
#define GMM_ENOSPC 28
#define GMM_EMLINK 31
#define GMM_EPIPE 32
#define GMM_ERANGE 34
#define GMM_ENOSYS 38
#define GMM_ELOOP 40
#define GMM_EPROTO 71
#define GMM_EBADMSG 74
#define GMM_EOVERFLOW 75
#define GMM_EILSEQ 84
#define GMM_EMSGSIZE 90
#define GMM_EOPNOTSUPP 95
#define GMM_ESHUTDOWN 108
#define GMM_ETIMEDOUT 110
#define GMM_EUCLEAN 117
#define GMM_EHWPOISON 133

/*
 * Lock statistics, per lock, in the shape of /proc/lock_stat.  Written only
 * by the lock's holder (a waiter records its wait once it holds the lock),
 * read racily by whoever sums them: relaxed atomics, no read-modify-write.
 * Acquisitions and contentions (acquisitions that had to wait) are always
 * counted.  Wait and hold times are measured while lock_stat_set_timing(true),
 * on locks initialised as timed, in clock ticks (the TSC on x86: ~12 ns a
 * read here, where clock_gettime() costs ~30), converted to nanoseconds when
 * summed.
 */
struct lock_stat {
	atomic_uint_fast64_t acquisitions;
	atomic_uint_fast64_t contentions;
	atomic_uint_fast64_t wait;	/* ticks, contended acquisitions */
	atomic_uint_fast64_t wait_max;
	atomic_uint_fast64_t hold;	/* ticks, timed acquisitions */
	atomic_uint_fast64_t hold_max;
	atomic_uint_fast64_t timed;	/* acquisitions whose hold was timed */
	uint64_t hold_start;		/* the holder's: ticks at acquisition */
	bool untimed;			/* never timed (a per-CPU lock) */
};

/*
 * A statistic with one writer and racy readers: a relaxed load and store,
 * no read-modify-write (no locked instruction on the writer's path).
 */
static inline void stat_counter_add(atomic_uint_fast64_t *c, uint64_t d)
{
	atomic_store_explicit(c, atomic_load_explicit(c, memory_order_relaxed) + d,
			      memory_order_relaxed);
}

static inline void stat_counter_max(atomic_uint_fast64_t *c, uint64_t v)
{
	if (v > atomic_load_explicit(c, memory_order_relaxed))
		atomic_store_explicit(c, v, memory_order_relaxed);
}

/* The sum over the locks of one class; see spin_lock_stats_add(). */
struct lock_stats {
	uint64_t acquisitions;
	uint64_t contentions;
	uint64_t wait_ns;
	uint64_t wait_max_ns;
	uint64_t hold_ns;
	uint64_t hold_max_ns;
	uint64_t timed;
};

/*
 * A spinlock that knows its holder, so that "the caller holds the lock" can be
 * asserted rather than only written down.  @holder is a token of the thread
 * that holds it (platform_thread_token()), 0 when free; it is written only by
 * the holder and read by assertions, hence relaxed atomics.
 *
 * The algorithm is chosen for the whole process by spin_lock_set_kind(); @val
 * and @tail mean what that algorithm makes them mean (spinlock.c).
 */
struct spin_qnode;
struct spinlock {
	atomic_uint val;
	_Atomic(struct spin_qnode *) tail;
	atomic_uintptr_t holder;
	struct spin_qnode *owner; /* MCS: the holder's queue node */
	struct lock_stat stat;
};

#define SPINLOCK_INIT { 0 }

enum spin_lock_kind {
	SPIN_LOCK_TAS,	  /* test-and-test-and-set, yields after a bounded spin */
	SPIN_LOCK_TICKET, /* FIFO tickets, every waiter spins on the lock word */
	SPIN_LOCK_MCS,	  /* FIFO queue, each waiter spins on its own line */
	SPIN_LOCK_PVQ,	  /* queued, parking: paravirtual qspinlock (default) */
	NR_SPIN_LOCK_KINDS
};
extern const char *const spin_lock_kind_names[NR_SPIN_LOCK_KINDS];

/*
 * Choose the lock algorithm for every spinlock in the process.  Only while no
 * lock is held or waited for (before a guest is built, after it is gone);
 * a lock used under one kind must be initialised again before another uses
 * it (a ticket lock's word reads as held to the others).
 */
void spin_lock_set_kind(enum spin_lock_kind kind);
enum spin_lock_kind spin_lock_get_kind(void);
/* Return: 0 with *@kind set, or -EINVAL for a name that is no kind. */
int spin_lock_kind_parse(const char *name, enum spin_lock_kind *kind);

/* Time waits and holds in every lock's statistics (off by default). */
void lock_stat_set_timing(bool on);
bool lock_stat_timing(void);

void spin_lock_init(struct spinlock *lock);
/*
 * As spin_lock_init(), for a lock taken so often and so briefly that timing
 * it would cost more than it tells (a per-CPU list's): counted, never timed.
 */
void spin_lock_init_untimed(struct spinlock *lock);
void spin_lock(struct spinlock *lock);
void spin_unlock(struct spinlock *lock);
bool spin_trylock(struct spinlock *lock);
/* True when the calling thread holds @lock. */
bool spin_is_held(const struct spinlock *lock);

/* Add @lock's statistics to @sum (maxima are maxima). */
void spin_lock_stats_add(const struct spinlock *lock, struct lock_stats *sum);
/*
 * Zero @lock's statistics.  Takes @lock to do so (the holder is the only
 * writer), so never while the caller holds it.
 */
void spin_lock_stats_reset(struct spinlock *lock);

/*
 * Park and wake, the analogue of pv_wait()/pv_kick(): platform_park() sleeps
 * while *@addr == @expected (it may also return early, spuriously);
 * platform_wake() wakes up to @n threads parked on @addr.  A futex on Linux.
 */
void platform_park(atomic_uint *addr, unsigned int expected);
void platform_wake(atomic_uint *addr, unsigned int n);
/*
 * platform_park_until - platform_park() that also returns once
 * platform_now_ns() reaches @deadline_ns (a transport's timed wait).
 */
void platform_park_until(atomic_uint *addr, unsigned int expected,
			 uint64_t deadline_ns);
/* Calls of platform_park() so far, process-wide: for tests, that waiters parked. */
unsigned long platform_park_count(void);

/*
 * SPIN_LOCK_PVQ's fairness bound: once a waiter has been handed the head of
 * the queue, at most this many acquisitions by threads outside the queue
 * (steals, trylocks) come before its own.
 */
#define SPIN_PVQ_MAX_STEALS 64u

/* A token unique to the calling thread and never 0. */
uintptr_t platform_thread_token(void);

/*
 * The CPU (vCPU) the calling thread runs as.  Threads the guest runtime did not
 * make vCPUs (a reporting worker, a test's main thread) read 0.
 */
unsigned int platform_cpu_id(void);
void platform_set_cpu_id(unsigned int cpu);

/* Called in a spin loop; may yield the processor after a while. */
void platform_cpu_relax(unsigned int spins);

/* Monotonic time in nanoseconds. */
uint64_t platform_now_ns(void);
/* CPU time the calling thread has used, in nanoseconds. */
uint64_t platform_thread_cpu_ns(void);

/* One line to the diagnostic log (stderr on POSIX); printf-style. */
void platform_log(const char *fmt, ...) __attribute__((format(printf, 1, 2)));

/*
 * An invariant broken beyond repair (spinlocks nested deeper than their
 * queue nodes): say why and end, abort() on POSIX, a panic in the kernel.
 */
__attribute__((noreturn, format(printf, 1, 2))) void
platform_panic(const char *fmt, ...);

/*
 * Nanoseconds per TSC tick, the clock of the lock statistics on x86:
 * measured once, on the first call (which may take ~20 ms).
 */
double platform_tsc_ns_per_tick(void);

/*
 * Invariant failures (bad page state, double free) are counted so that tests
 * can assert that one was detected; the message goes to platform_log.
 */
void platform_bad_state(const char *fmt, ...) __attribute__((format(printf, 1, 2)));
unsigned long platform_bad_state_count(void);
/* When set, platform_bad_state() also aborts: used by stress tests. */
void platform_bad_state_fatal(bool fatal);

/*
 * Delayed work, like the kernel's delayed_work: @fn runs on a worker thread of
 * its own, at most one instance at a time, after the delay given to
 * platform_work_schedule().  Scheduling work that is already pending keeps the
 * earlier deadline.
 */
struct platform_work;
typedef void (*platform_work_fn)(void *arg);

/* Return: the work, or NULL when no thread or memory could be had. */
struct platform_work *platform_work_create(platform_work_fn fn, void *arg);
void platform_work_schedule(struct platform_work *work, uint64_t delay_ms);
/* Cancels pending work and waits for a running instance; the work is freed. */
void platform_work_destroy(struct platform_work *work);

#endif
