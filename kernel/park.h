/*
 * park.h - blocking on a word, the kernel's futex: what platform_park()
 * and platform_wake() are, and what every sleep of a thread for another
 * (a lock, a join, a barrier, a virtqueue's used buffer) is built on.
 */
#ifndef GUESTMM_KERNEL_PARK_H
#define GUESTMM_KERNEL_PARK_H

#include <stdatomic.h>
#include <stdint.h>

/*
 * kernel_park - block while *@addr == @expected, until kernel_wake(@addr)
 * or, with @deadline_ns (platform_now_ns() time; 0: none), until then.
 * May return early (spuriously): callers loop on their condition.
 */
void kernel_park(atomic_uint *addr, unsigned int expected, uint64_t deadline_ns);
/* Wake up to @n threads parked on @addr.  Any context, interrupts too. */
void kernel_wake(atomic_uint *addr, unsigned int n);

#endif
