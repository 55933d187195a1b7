/*
 * park.c - threads parked on words, in a hash of buckets.
 *
 * A bucket's lock protects its list and the park fields (@park_addr,
 * @park_next, @park_queued) of the threads on it.  Lock order: bucket ->
 * run queue.  The word is compared under the bucket lock, and a waker
 * changes the word before it takes that lock, so a wake-up between the
 * comparison and the block is not lost: either the parker sees the new
 * value, or it is on the list when the waker looks (and a wake that finds
 * it READY again on the way into schedule() leaves it running).
 *
 * Built without SSE (interrupt path: a virtqueue's interrupt wakes).
 */
#include "kernel/park.h"

#include "kernel/cpu.h"
#include "kernel/kernel.h"
#include "kernel/sched.h"
#include "kernel/spin.h"

#define PARK_BUCKETS 256

static struct park_bucket {
	struct raw_spinlock lock;
	struct thread *head;
} buckets[PARK_BUCKETS];

static struct park_bucket *bucket_of(const void *addr)
{
	uint64_t a = (uint64_t)(uintptr_t)addr;

	return &buckets[((a >> 2) * 0x9e3779b97f4a7c15ull) >> 56];
}

static void bucket_remove(struct park_bucket *b, struct thread *t)
{
	for (struct thread **p = &b->head; *p; p = &(*p)->park_next) {
		if (*p == t) {
			*p = t->park_next;
			break;
		}
	}
	t->park_next = NULL;
	t->park_queued = false;
}

void kernel_park(atomic_uint *addr, unsigned int expected, uint64_t deadline_ns)
{
	struct park_bucket *b = bucket_of(addr);
	struct thread *t;
	bool on = irq_save();

	t = current_thread();
	raw_spin_lock(&b->lock);
	if (atomic_load(addr) != expected) {
		raw_spin_unlock(&b->lock);
		irq_restore(on);
		return;
	}
	t->park_addr = addr;
	t->park_next = b->head;
	b->head = t;
	t->park_queued = true;
	sched_block_until(t, deadline_ns);
	raw_spin_unlock(&b->lock);
	schedule();
	/* Woken by the deadline, or spuriously: off the list if still on. */
	raw_spin_lock(&b->lock);
	if (t->park_queued)
		bucket_remove(b, t);
	raw_spin_unlock(&b->lock);
	irq_restore(on);
}

void kernel_wake(atomic_uint *addr, unsigned int n)
{
	struct park_bucket *b = bucket_of(addr);
	bool on = raw_spin_lock_irqsave(&b->lock);
	struct thread **p = &b->head;

	while (*p && n) {
		struct thread *t = *p;

		if (t->park_addr != addr) {
			p = &t->park_next;
			continue;
		}
		*p = t->park_next;
		t->park_next = NULL;
		t->park_queued = false;
		/* One its deadline woke already does not count. */
		if (thread_wake(t))
			n--;
	}
	raw_spin_unlock_irqrestore(&b->lock, on);
}
