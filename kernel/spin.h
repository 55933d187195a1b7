/*
 * spin.h - the kernel's own lock: a ticket spinlock taken with interrupts
 * off, for the scheduler's run queues, the park buckets, the console and
 * interrupt routing.  Held for a few dozen instructions at most, never
 * across a switch.  mm/'s locks are platform/'s spinlocks (which park
 * through the scheduler); this one is what the parking is built on.
 */
#ifndef GUESTMM_KERNEL_SPIN_H
#define GUESTMM_KERNEL_SPIN_H

#include <stdbool.h>

#include "kernel/x86.h"

struct raw_spinlock {
	unsigned int next, owner; /* tickets: taken, served */
};

static inline void raw_spin_lock(struct raw_spinlock *l)
{
	unsigned int me = __atomic_fetch_add(&l->next, 1, __ATOMIC_RELAXED);

	while (__atomic_load_n(&l->owner, __ATOMIC_ACQUIRE) != me)
		cpu_pause();
}

static inline void raw_spin_unlock(struct raw_spinlock *l)
{
	/* Only the holder writes @owner: a plain increment, released. */
	__atomic_store_n(&l->owner, l->owner + 1, __ATOMIC_RELEASE);
}

/* Interrupts off, then the lock; returns whether they were on. */
static inline bool raw_spin_lock_irqsave(struct raw_spinlock *l)
{
	bool on = irq_save();

	raw_spin_lock(l);
	return on;
}

static inline void raw_spin_unlock_irqrestore(struct raw_spinlock *l, bool on)
{
	raw_spin_unlock(l);
	irq_restore(on);
}

static inline bool raw_spin_is_locked(struct raw_spinlock *l)
{
	return __atomic_load_n(&l->owner, __ATOMIC_RELAXED) !=
	       __atomic_load_n(&l->next, __ATOMIC_RELAXED);
}

#endif
