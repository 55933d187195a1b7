/*
 * spinlock.c - the spinlocks of mm/, four algorithms side by side.
 *
 * A guest's vCPU threads outnumber the host's cores as a rule (hosts
 * overcommit vCPUs), so the holder of a lock, or the waiter whose turn it
 * is, may be descheduled at any moment.  A lock that only spins then burns
 * the waiters' time slices while the one thread that could make progress
 * waits for a core (lock-holder preemption), and a FIFO lock makes it worse:
 * the lock is handed to a waiter that is not running (lock-waiter
 * preemption).  Linux's answer in a guest is the paravirtual queued spinlock,
 * and SPIN_LOCK_PVQ below is that design on a futex:
 *
 *   - a thread that finds the lock free takes it (the unfair trylock), and
 *     keeps trying for a while, yielding, before it queues, so nobody waits
 *     for a descheduled queue head;
 *   - otherwise it queues (MCS: each waiter spins on its own cache line) and
 *     after a bounded spin parks on its queue node (pv_wait); its
 *     predecessor, passing it the head of the queue, wakes it only if it
 *     parked (pv_kick);
 *   - the head spins on the lock word; after a bounded spin it marks the
 *     lock SLOW and parks on the lock word, and the unlocker wakes it only
 *     when it finds SLOW set: an uncontended unlock is one atomic and no
 *     system call;
 *   - from the moment a waiter is handed the head of the queue (its
 *     predecessor marks the lock WAITER in the hand-over, while the new
 *     head may still be asleep on its node or descheduled), at most
 *     PVQ_MAX_STEALS threads may take the lock ahead of it; after that only
 *     the head may, so no waiter starves: each gets the lock within
 *     PVQ_MAX_STEALS + 1 acquisitions of being handed the head, and the
 *     queue behind it is FIFO.  (A thread that finds the queue empty is its
 *     head at once; it is running then, and is counted from the first
 *     instruction of its head spin.)
 *
 * Unlike Linux's pv qspinlock, the head does not reserve the lock with a
 * PENDING bit while it spins.  A head descheduled while it holds the lock
 * reserved stalls every running thread until it is scheduled again, and with
 * 16 vCPU threads on 2 cores that is a CFS period (~24 ms).  The steal count
 * is the bound instead: a head loses the lock to at most PVQ_MAX_STEALS
 * running threads, and only then is the lock held back for it.
 *
 * The other three (test-and-test-and-set, ticket, MCS) are kept for
 * `guestmm bench scale`, which measures them against it; all spin through
 * the same relax (a pause, then a yield of the processor after a while),
 * so the difference measured is the algorithm.  spin_lock_set_kind()
 * chooses one for the whole process.
 *
 * Freestanding: every platform runs this same file.  What waiting is
 * (platform_park()/platform_wake(): a futex on POSIX, the scheduler's park
 * in the guest kernel), what a yield is (platform_cpu_relax()) and the
 * period of the statistics' clock are the platform's; the queue nodes are
 * _Thread_local, which the guest kernel gives each of its threads too.
 *
 * Lock words, by kind:
 *   TAS     @val 0 free, 1 held
 *   TICKET  @val (next ticket << 16) | ticket served
 *   MCS     @tail the last waiter; its node's @word turns 2 when it owns
 *           the lock; @owner the holder's node
 *   PVQ     @val the bits below; @tail the last queued waiter; @owner a
 *           parked new queue head to wake at unlock, or NULL
 */
#include "platform/platform.h"

const char *const spin_lock_kind_names[NR_SPIN_LOCK_KINDS] = {
	[SPIN_LOCK_TAS] = "tas",
	[SPIN_LOCK_TICKET] = "ticket",
	[SPIN_LOCK_MCS] = "mcs",
	[SPIN_LOCK_PVQ] = "pvq",
};

/* Written while no lock is in use, read by every lock operation. */
static enum spin_lock_kind lock_kind = SPIN_LOCK_PVQ;
static atomic_bool lock_timing;
/* Nanoseconds per stat_clock() tick, set when timing is first turned on. */
static double ns_per_tick = 1.0;

/*
 * A queued waiter.  @word: 0 waiting and running, 1 parked on @word, 2 your
 * turn (PVQ: you are the queue head; MCS: you own the lock).  One word, so
 * that the predecessor's hand-over is a single exchange: after it the node
 * may be reused at once, and no later write of the predecessor's can reach
 * it.  A cache line each, so that waiters spin apart.
 */
struct spin_qnode {
	_Atomic(struct spin_qnode *) next;
	atomic_uint word;
} __attribute__((aligned(64)));

enum { QNODE_WAITING, QNODE_PARKED, QNODE_GO };

/*
 * Nodes a thread can have in use at once: the deepest nesting in mm/ is
 * pass_lock -> per-CPU lock -> zone lock, and an MCS holder keeps its node
 * until it unlocks.
 */
#define NR_QNODES 8
static _Thread_local struct spin_qnode qnodes[NR_QNODES];
static _Thread_local unsigned int qnodes_used;

/* PVQ lock word. */
#define Q_LOCKED 0x1u	 /* held */
#define Q_SLOW 0x2u	 /* held, and the queue head is parked on @val */
#define Q_WAITER 0x200u	 /* a queue head waits: steals are counted */
#define Q_STEAL_SHIFT 16
#define Q_STEAL_ONE (1u << Q_STEAL_SHIFT)
#define Q_STEALS(v) ((v) >> Q_STEAL_SHIFT)
/*
 * Steals allowed past a waiting head.  Each is a running thread served
 * without waiting for the head to be woken and scheduled; the bound is what
 * makes the lock starvation-free.  Reaching it costs a wake-up latency of
 * idle lock (the head's turn), so it is set well above the steals a head
 * sees in the time a wake-up takes: a zone-lock hold is ~1-5 us, a wake-up
 * to a busy core tens of microseconds to a scheduler period.
 */
#define PVQ_MAX_STEALS SPIN_PVQ_MAX_STEALS
/*
 * Spins before parking, in pause instructions: a pause is ~28 ns on this
 * project's machines (Skylake and later; ~3 ns on older cores), so 512 is
 * ~14 us, a few zone-lock holds, and 256 ~7 us.  A futex sleep and wake-up
 * costs some tens of microseconds: spinning about a hold pays when the
 * holder runs, and parking soon after frees the core when it does not.
 */
#define PVQ_HEAD_SPINS 512
#define PVQ_NODE_SPINS 256
/*
 * A newcomer tries to steal this long before it queues: 128 pauses, then a
 * sched_yield() a try (platform_cpu_relax()).  With more vCPU threads than
 * cores the thread that can use a free lock is the one running, and a
 * yield lets a preempted holder run; queueing early hands the lock, in FIFO
 * order, to threads that may not be running.  Measured on page_fault1 with
 * 8 threads on 2 cores: 3.1-3.4 M frames/s against 2.7 M queueing after 32
 * pauses (docs/results.md).  The steal bound still holds for the queue head.
 */
#define PVQ_STEAL_SPINS 256

void spin_lock_set_kind(enum spin_lock_kind kind)
{
	if (kind < NR_SPIN_LOCK_KINDS)
		lock_kind = kind;
}

enum spin_lock_kind spin_lock_get_kind(void)
{
	return lock_kind;
}

static bool str_eq(const char *a, const char *b)
{
	while (*a && *a == *b)
		a++, b++;
	return *a == *b;
}

int spin_lock_kind_parse(const char *name, enum spin_lock_kind *kind)
{
	for (unsigned int k = 0; k < NR_SPIN_LOCK_KINDS; k++) {
		if (str_eq(name, spin_lock_kind_names[k])) {
			*kind = (enum spin_lock_kind)k;
			return 0;
		}
	}
	return -GMM_EINVAL;
}

static inline uint64_t stat_clock(void)
{
#if defined(__x86_64__) || defined(__i386__)
	return __builtin_ia32_rdtsc();
#else
	return platform_now_ns();
#endif
}

void lock_stat_set_timing(bool on)
{
#if defined(__x86_64__) || defined(__i386__)
	/* Before the first timed acquisition: stats are read after. */
	if (on)
		ns_per_tick = platform_tsc_ns_per_tick();
#endif
	atomic_store(&lock_timing, on);
}

bool lock_stat_timing(void)
{
	return atomic_load_explicit(&lock_timing, memory_order_relaxed);
}

static inline void cpu_pause(void)
{
#if defined(__x86_64__) || defined(__i386__)
	__builtin_ia32_pause();
#elif defined(__aarch64__)
	__asm__ volatile("yield");
#endif
}

static struct spin_qnode *qnode_get(void)
{
	for (unsigned int i = 0; i < NR_QNODES; i++) {
		if (!(qnodes_used & (1u << i))) {
			qnodes_used |= 1u << i;
			atomic_store_explicit(&qnodes[i].next, NULL,
					      memory_order_relaxed);
			atomic_store_explicit(&qnodes[i].word, QNODE_WAITING,
					      memory_order_relaxed);
			return &qnodes[i];
		}
	}
	platform_panic("spinlocks nested deeper than %d", NR_QNODES);
}

static void qnode_put(struct spin_qnode *node)
{
	qnodes_used &= ~(1u << (node - qnodes));
}

/* ---- statistics: written by the holder only ---- */

/* The lock is ours: account for it.  @wait_start is 0 when not timed. */
static inline void lock_acquired(struct spinlock *lock, bool contended,
				 uint64_t wait_start)
{
	struct lock_stat *st = &lock->stat;

	atomic_store_explicit(&lock->holder, platform_thread_token(),
			      memory_order_relaxed);
	stat_counter_add(&st->acquisitions, 1);
	if (contended)
		stat_counter_add(&st->contentions, 1);
	if (!st->untimed &&
	    atomic_load_explicit(&lock_timing, memory_order_relaxed)) {
		uint64_t now = stat_clock();

		if (wait_start) {
			stat_counter_add(&st->wait, now - wait_start);
			stat_counter_max(&st->wait_max, now - wait_start);
		}
		st->hold_start = now;
	} else {
		st->hold_start = 0;
	}
}

static inline void lock_releasing(struct spinlock *lock)
{
	struct lock_stat *st = &lock->stat;

	if (st->hold_start) {
		uint64_t held = stat_clock() - st->hold_start;

		stat_counter_add(&st->hold, held);
		stat_counter_max(&st->hold_max, held);
		stat_counter_add(&st->timed, 1);
	}
	atomic_store_explicit(&lock->holder, 0, memory_order_relaxed);
}

static inline uint64_t wait_clock(const struct spinlock *lock)
{
	return !lock->stat.untimed &&
			       atomic_load_explicit(&lock_timing,
						    memory_order_relaxed)
		       ? stat_clock()
		       : 0;
}

/* ---- test-and-test-and-set ---- */

static bool tas_trylock(struct spinlock *lock)
{
	return !atomic_exchange_explicit(&lock->val, 1, memory_order_acquire);
}

static void tas_lock(struct spinlock *lock)
{
	unsigned int spins = 0;
	uint64_t t0;

	if (tas_trylock(lock)) {
		lock_acquired(lock, false, 0);
		return;
	}
	t0 = wait_clock(lock);
	do {
		while (atomic_load_explicit(&lock->val, memory_order_relaxed))
			platform_cpu_relax(++spins);
	} while (!tas_trylock(lock));
	lock_acquired(lock, true, t0);
}

static void tas_unlock(struct spinlock *lock)
{
	atomic_store_explicit(&lock->val, 0, memory_order_release);
}

/* ---- ticket ---- */

static bool ticket_trylock(struct spinlock *lock)
{
	unsigned int v = atomic_load_explicit(&lock->val, memory_order_relaxed);

	return (v >> 16) == (v & 0xffff) &&
	       atomic_compare_exchange_strong_explicit(
		       &lock->val, &v, v + (1u << 16), memory_order_acquire,
		       memory_order_relaxed);
}

static void ticket_lock(struct spinlock *lock)
{
	unsigned int v = atomic_fetch_add_explicit(&lock->val, 1u << 16,
						   memory_order_acquire);
	unsigned int ticket = v >> 16, spins = 0;
	uint64_t t0;

	if ((v & 0xffff) == ticket) {
		lock_acquired(lock, false, 0);
		return;
	}
	t0 = wait_clock(lock);
	while ((atomic_load_explicit(&lock->val, memory_order_acquire) & 0xffff) !=
	       ticket)
		platform_cpu_relax(++spins);
	lock_acquired(lock, true, t0);
}

static void ticket_unlock(struct spinlock *lock)
{
	unsigned int v = atomic_load_explicit(&lock->val, memory_order_relaxed);

	/* Arrivals add to the upper half meanwhile: the served half wraps alone. */
	while (!atomic_compare_exchange_weak_explicit(
		&lock->val, &v, (v & 0xffff0000u) | ((v + 1) & 0xffff),
		memory_order_release, memory_order_relaxed))
		;
}

/* ---- MCS ---- */

static bool mcs_trylock(struct spinlock *lock)
{
	struct spin_qnode *node = qnode_get(), *none = NULL;

	/*
	 * Release too, as the exchange in mcs_lock(): qnode_get()'s relaxed
	 * store of node->next = NULL must be ordered before a successor that
	 * finds @node in @tail links itself into node->next, or on a weakly
	 * ordered CPU our NULL could land after its link and the unlock would
	 * wait for a successor forever.  (Not reproducible on x86, where the
	 * locked cmpxchg orders everything anyway; free there too.)
	 */
	if (!atomic_compare_exchange_strong_explicit(&lock->tail, &none, node,
						     memory_order_acq_rel,
						     memory_order_relaxed)) {
		qnode_put(node);
		return false;
	}
	lock->owner = node;
	return true;
}

static void mcs_lock(struct spinlock *lock)
{
	struct spin_qnode *node = qnode_get(), *prev;
	unsigned int spins = 0;
	uint64_t t0;

	prev = atomic_exchange_explicit(&lock->tail, node, memory_order_acq_rel);
	if (!prev) {
		lock->owner = node;
		lock_acquired(lock, false, 0);
		return;
	}
	t0 = wait_clock(lock);
	atomic_store_explicit(&prev->next, node, memory_order_release);
	while (atomic_load_explicit(&node->word, memory_order_acquire) != QNODE_GO)
		platform_cpu_relax(++spins);
	lock->owner = node;
	lock_acquired(lock, true, t0);
}

static void mcs_unlock(struct spinlock *lock)
{
	struct spin_qnode *node = lock->owner, *next, *self = node;
	unsigned int spins = 0;

	next = atomic_load_explicit(&node->next, memory_order_acquire);
	if (!next) {
		if (atomic_compare_exchange_strong_explicit(
			    &lock->tail, &self, NULL, memory_order_release,
			    memory_order_relaxed)) {
			qnode_put(node);
			return;
		}
		/* A waiter swapped itself in: wait for it to link up. */
		while (!(next = atomic_load_explicit(&node->next,
						     memory_order_acquire)))
			platform_cpu_relax(++spins);
	}
	atomic_store_explicit(&next->word, QNODE_GO, memory_order_release);
	qnode_put(node);
}

/* ---- paravirtual queued (PVQ) ---- */

/* The unfair trylock: free, and steals left when a head waits. */
static bool pvq_steal(struct spinlock *lock)
{
	unsigned int v = atomic_load_explicit(&lock->val, memory_order_relaxed);

	for (;;) {
		unsigned int nv;

		if (v & Q_LOCKED)
			return false;
		nv = v | Q_LOCKED;
		if (v & Q_WAITER) {
			if (Q_STEALS(v) >= PVQ_MAX_STEALS)
				return false;
			nv += Q_STEAL_ONE;
		}
		if (atomic_compare_exchange_weak_explicit(&lock->val, &v, nv,
							  memory_order_acquire,
							  memory_order_relaxed))
			return true;
	}
}

/*
 * The queue head: announce itself (WAITER, from which steals are counted),
 * spin on the lock word until it is free, then take it and clear what the
 * head owned (WAITER, the steal count); after PVQ_HEAD_SPINS, park on the
 * lock word with SLOW set, so that the unlock wakes it.
 */
static void pvq_head_acquire(struct spinlock *lock)
{
	atomic_fetch_or_explicit(&lock->val, Q_WAITER, memory_order_relaxed);
	for (;;) {
		unsigned int v = atomic_load_explicit(&lock->val,
						      memory_order_relaxed);

		for (unsigned int i = 0; i < PVQ_HEAD_SPINS; i++) {
			if (!(v & Q_LOCKED)) {
				if (atomic_compare_exchange_weak_explicit(
					    &lock->val, &v, Q_LOCKED,
					    memory_order_acquire,
					    memory_order_relaxed))
					return;
				continue;
			}
			cpu_pause();
			v = atomic_load_explicit(&lock->val, memory_order_relaxed);
		}
		/* Park only on a held lock: its unlock will see SLOW. */
		if (!(v & Q_LOCKED))
			continue;
		if (atomic_compare_exchange_strong_explicit(
			    &lock->val, &v, v | Q_SLOW, memory_order_relaxed,
			    memory_order_relaxed))
			platform_park(&lock->val, v | Q_SLOW);
	}
}

static void pvq_wait_node(struct spin_qnode *node)
{
	for (;;) {
		unsigned int w = QNODE_WAITING;

		for (unsigned int i = 0; i < PVQ_NODE_SPINS; i++) {
			if (atomic_load_explicit(&node->word,
						 memory_order_acquire) == QNODE_GO)
				return;
			cpu_pause();
		}
		/* A parked waiter is woken by the exchange that sets GO. */
		if (atomic_compare_exchange_strong(&node->word, &w, QNODE_PARKED) ||
		    w == QNODE_PARKED)
			platform_park(&node->word, QNODE_PARKED);
		else if (w == QNODE_GO)
			return;
	}
}

static void pvq_lock(struct spinlock *lock)
{
	struct spin_qnode *node, *prev, *next, *self;
	unsigned int spins = 0;
	uint64_t t0;

	if (pvq_steal(lock)) {
		lock_acquired(lock, false, 0);
		return;
	}
	t0 = wait_clock(lock);
	for (unsigned int i = 0; i < PVQ_STEAL_SPINS; i++) {
		platform_cpu_relax(i);
		if (pvq_steal(lock)) {
			lock_acquired(lock, true, t0);
			return;
		}
	}
	node = qnode_get();
	prev = atomic_exchange_explicit(&lock->tail, node, memory_order_acq_rel);
	if (prev) {
		atomic_store_explicit(&prev->next, node, memory_order_release);
		pvq_wait_node(node);
	}
	pvq_head_acquire(lock);
	/* Pass the head of the queue on, now that the lock is ours. */
	self = node;
	next = atomic_load_explicit(&node->next, memory_order_acquire);
	if (!next && !atomic_compare_exchange_strong_explicit(
			     &lock->tail, &self, NULL, memory_order_acq_rel,
			     memory_order_relaxed)) {
		while (!(next = atomic_load_explicit(&node->next,
						     memory_order_acquire)))
			platform_cpu_relax(++spins);
	}
	if (next) {
		/*
		 * Count steals from the hand-over on: the new head may be
		 * parked on its node, or spinning but descheduled, and until
		 * it runs nothing else would mark the lock WAITER, so stealers
		 * could take it without limit (thousands of times past one
		 * waiter in test_spinlock's starvation test, before this).
		 * We hold the lock, so no steal is in flight; a stealer can
		 * only come after our unlock, whose RMW on @val follows this
		 * one.  The new head clears WAITER and the count when it
		 * takes the lock.
		 */
		atomic_fetch_or_explicit(&lock->val, Q_WAITER,
					 memory_order_relaxed);
		/*
		 * A parked successor is woken after our unlock, not now (as
		 * Linux's pv_kick_node() defers to the unlocker): woken now,
		 * it would only spin on a lock we hold, or preempt us while
		 * we hold it.
		 */
		if (atomic_exchange(&next->word, QNODE_GO) == QNODE_PARKED)
			lock->owner = next;
	}
	qnode_put(node);
	lock_acquired(lock, true, t0);
}

static void pvq_unlock(struct spinlock *lock)
{
	/* A new queue head that was parked: see pvq_lock(). */
	struct spin_qnode *kick = lock->owner;
	unsigned int v;

	lock->owner = NULL;
	v = atomic_fetch_and_explicit(&lock->val, ~(Q_LOCKED | Q_SLOW),
				      memory_order_release);
	if (v & Q_SLOW)
		platform_wake(&lock->val, 1);
	/*
	 * It waits for this wake; one that comes late (it woke spuriously, saw
	 * GO and went on) is a spurious wake-up of whatever parks there next,
	 * which every park loop tolerates.
	 */
	if (kick)
		platform_wake(&kick->word, 1);
}

/* ---- the interface ---- */

void spin_lock_init(struct spinlock *lock)
{
	atomic_init(&lock->val, 0);
	atomic_init(&lock->tail, NULL);
	atomic_init(&lock->holder, 0);
	lock->owner = NULL;
	__builtin_memset(&lock->stat, 0, sizeof(lock->stat));
}

void spin_lock_init_untimed(struct spinlock *lock)
{
	spin_lock_init(lock);
	lock->stat.untimed = true;
}

void spin_lock(struct spinlock *lock)
{
	switch (lock_kind) {
	case SPIN_LOCK_TAS:
		tas_lock(lock);
		break;
	case SPIN_LOCK_TICKET:
		ticket_lock(lock);
		break;
	case SPIN_LOCK_MCS:
		mcs_lock(lock);
		break;
	default:
		pvq_lock(lock);
		break;
	}
}

bool spin_trylock(struct spinlock *lock)
{
	bool ok;

	switch (lock_kind) {
	case SPIN_LOCK_TAS:
		ok = tas_trylock(lock);
		break;
	case SPIN_LOCK_TICKET:
		ok = ticket_trylock(lock);
		break;
	case SPIN_LOCK_MCS:
		ok = mcs_trylock(lock);
		break;
	default:
		ok = pvq_steal(lock);
		break;
	}
	if (ok)
		lock_acquired(lock, false, 0);
	return ok;
}

void spin_unlock(struct spinlock *lock)
{
	lock_releasing(lock);
	switch (lock_kind) {
	case SPIN_LOCK_TAS:
		tas_unlock(lock);
		break;
	case SPIN_LOCK_TICKET:
		ticket_unlock(lock);
		break;
	case SPIN_LOCK_MCS:
		mcs_unlock(lock);
		break;
	default:
		pvq_unlock(lock);
		break;
	}
}

bool spin_is_held(const struct spinlock *lock)
{
	return atomic_load_explicit(&lock->holder, memory_order_relaxed) ==
	       platform_thread_token();
}

static uint64_t ticks_to_ns(uint64_t ticks)
{
	return (uint64_t)((double)ticks * ns_per_tick);
}

void spin_lock_stats_add(const struct spinlock *lock, struct lock_stats *sum)
{
	const struct lock_stat *st = &lock->stat;
	uint64_t v;

	sum->acquisitions += atomic_load_explicit(&st->acquisitions, memory_order_relaxed);
	sum->contentions += atomic_load_explicit(&st->contentions, memory_order_relaxed);
	sum->wait_ns += ticks_to_ns(atomic_load_explicit(&st->wait, memory_order_relaxed));
	sum->hold_ns += ticks_to_ns(atomic_load_explicit(&st->hold, memory_order_relaxed));
	sum->timed += atomic_load_explicit(&st->timed, memory_order_relaxed);
	v = ticks_to_ns(atomic_load_explicit(&st->wait_max, memory_order_relaxed));
	if (v > sum->wait_max_ns)
		sum->wait_max_ns = v;
	v = ticks_to_ns(atomic_load_explicit(&st->hold_max, memory_order_relaxed));
	if (v > sum->hold_max_ns)
		sum->hold_max_ns = v;
}

void spin_lock_stats_reset(struct spinlock *lock)
{
	struct lock_stat *st = &lock->stat;

	/*
	 * As the holder: the counters are written with a load and a store (no
	 * read-modify-write on the lock path), so zeros stored from outside
	 * the lock could be overwritten at once by a holder storing the count
	 * it loaded before them, plus one: the reset undone, not "one more"
	 * (test_spinlock's check_stats_reset).  Holding the lock, ours are the
	 * only writes; our own acquisition is zeroed with the rest, and
	 * hold_start = 0 keeps our hold out of the times.
	 */
	spin_lock(lock);
	atomic_store_explicit(&st->acquisitions, 0, memory_order_relaxed);
	atomic_store_explicit(&st->contentions, 0, memory_order_relaxed);
	atomic_store_explicit(&st->wait, 0, memory_order_relaxed);
	atomic_store_explicit(&st->wait_max, 0, memory_order_relaxed);
	atomic_store_explicit(&st->hold, 0, memory_order_relaxed);
	atomic_store_explicit(&st->hold_max, 0, memory_order_relaxed);
	atomic_store_explicit(&st->timed, 0, memory_order_relaxed);
	st->hold_start = 0;
	spin_unlock(lock);
}
