/*
 * sched.h - kernel threads and the scheduler under the platform primitives.
 *
 * Threads are pinned: each belongs to one CPU's run queue for its life, so
 * a thread's state changes only under its own CPU's run-queue lock and no
 * thread ever runs on two CPUs.  Preemptive: the tick ends a thread's time
 * slice at any instruction, which is what mm/'s locks are built for (a
 * vCPU of a guest is descheduled by its host at any instruction too).  A
 * thread blocks by parking on a word (platform_park(), kernel/park.c), by
 * sleeping until a time, or by waiting for another thread's end.
 */
#ifndef GUESTMM_KERNEL_SCHED_H
#define GUESTMM_KERNEL_SCHED_H

#include <stdatomic.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "kernel/spin.h"

struct cpu;
struct thread;

/*
 * A CPU's run queue.  @lock (interrupts off) protects @head/@tail/@nr (the
 * READY threads other than the one running), @sleepers (threads sleeping
 * until a time, by @wake_at), and the @state of every thread of the CPU.
 */
struct runqueue {
	struct raw_spinlock lock;
	struct thread *head, *tail;
	unsigned int nr;
	struct thread *sleepers;
};

enum thread_state {
	THREAD_READY,	/* running, or on its run queue */
	THREAD_BLOCKED, /* parked, sleeping or joining: off the queue */
	THREAD_DEAD,	/* its function returned; the joiner frees it */
};

#define THREAD_NAME_LEN 24
#define THREAD_STACK_ORDER 2 /* 16 KiB */

struct thread {
	uint64_t rsp; /* saved stack pointer while switched out */
	struct cpu *cpu;
	enum thread_state state;
	char name[THREAD_NAME_LEN];
	void (*fn)(void *);
	void *arg;
	/* The stack, its TLS block and this struct are one allocation. */
	void *mem;
	unsigned int mem_order; /* 0: boot allocator memory, never freed */
	uint64_t stack_top;	/* 16-byte aligned; the stack grows down to @mem */
	uint64_t tls_tp; /* the thread pointer, FS base: variant II TLS */
	struct thread *rq_next;
	uint64_t wake_at; /* sleeping: until platform_now_ns() reaches it */
	struct thread *sleep_next;
	/* Parked on @park_addr (kernel/park.c, under its bucket lock). */
	const void *park_addr;
	struct thread *park_next;
	bool park_queued;
	/* CPU time, for platform_thread_cpu_ns(). */
	uint64_t cpu_ns;
	uint64_t run_since;
	/* platform_cpu_id(): the vCPU the thread runs as; its CPU's id. */
	unsigned int platform_cpu;
	/* 1 once the function returned: thread_join() parks on it. */
	atomic_uint exited;
	uint8_t fpu[512] __attribute__((aligned(16))); /* fxsave area */
};

/* Set up the scheduler on the boot CPU, its current code becoming a thread. */
void sched_init_boot(struct cpu *c);
/* Make the calling AP's current code its idle thread, and start ticking. */
void sched_init_ap(struct cpu *c);
/* @c's idle thread (before @c runs: the boot allocator's memory). */
struct thread *sched_idle_thread_create(struct cpu *c);

/*
 * thread_create - a thread running fn(arg) on CPU @cpu (its run queue for
 * its life), started at once.
 * Return: the thread, or NULL when no memory could be had.
 */
struct thread *thread_create(const char *name, void (*fn)(void *), void *arg,
			     unsigned int cpu);
/* Wait for @t's function to return, then free it. */
void thread_join(struct thread *t);

/* Give the CPU to the next ready thread, if any. */
void sched_yield(void);
/* Sleep for at least @ns (the tick's resolution: kernel/sched.c). */
void sched_sleep_ns(uint64_t ns);
/*
 * Block the calling thread.  It must have made itself findable by a waker
 * first (kernel/park.c), with @state set to BLOCKED under its run-queue
 * lock; a wake that comes in between is not lost (it sets READY again).
 */
void schedule(void);
/*
 * Mark @t, the calling thread, BLOCKED (and, with @deadline_ns, sleeping
 * until then) under its run-queue lock; interrupts off.  schedule() next.
 */
void sched_block_until(struct thread *t, uint64_t deadline_ns);
/*
 * Make @t READY if it is BLOCKED; a reschedule IPI if its CPU idles.
 * Return: whether it was BLOCKED (a wake that found it awake did nothing).
 */
bool thread_wake(struct thread *t);

/* The tick (the timer interrupt): time slices and sleepers. */
void sched_tick(void);
/* Called at the end of every interrupt: switch if the tick said so. */
void sched_irq_exit(void);

/* The idle loop of a CPU (the boot CPU's after kmain hands over). */
__attribute__((noreturn)) void sched_idle_loop(void);

/* Tick rate: a 4 ms slice is short next to a memhog phase, long next to
 * a lock hold; sleeps are rounded up to it. */
#define SCHED_HZ 250
#define SCHED_SLICE_TICKS 2

#endif
