/*
 * sched.c - threads, per-CPU run queues, the tick, sleeping.
 *
 * Design.  Each CPU has a FIFO run queue of READY threads and runs the
 * head; a thread is pinned to the CPU it was created on, so its state
 * changes only under that CPU's run-queue lock and it never runs in two
 * places.  (The workloads make one vCPU thread per CPU, as the guest's
 * vCPUs; the reporting worker and the driver's thread are placed like any
 * other thread.  Migration would buy nothing there.)
 *
 * Preemptive round robin: the tick (SCHED_HZ) ends a thread's slice of
 * SCHED_SLICE_TICKS when another thread waits, at whatever instruction it
 * is, spinlock held or not.  mm/'s locks are built for exactly that (a
 * guest's vCPU is preempted by its host at any instruction): a waiter
 * spins briefly, then parks (platform_park(), park.c) and is woken by the
 * unlocker.  So the kernel needs no preemption counts: only the
 * scheduler's own locks (struct raw_spinlock, interrupts off) are never
 * held across a switch.
 *
 * A switch saves the FPU/SSE state of the thread leaving (fxsave: threads
 * use SSE, interrupt handlers do not) and loads the next one's FS base,
 * its thread pointer: each thread has a TLS block (variant II, the image's
 * .tdata/.tbss template), so platform/'s _Thread_local data, the
 * spinlocks' queue nodes, are per thread here as under POSIX threads.
 *
 * Memory of a thread, one block: [stack ... | TLS | TCB | struct thread],
 * stack at the bottom with a canary word, checked at every switch away.
 *
 * Built without SSE (interrupt path).
 */
#include "kernel/sched.h"

#include "kernel/apic.h"
#include "kernel/asm.h"
#include "kernel/cpu.h"
#include "kernel/kernel.h"
#include "kernel/memory.h"
#include "kernel/park.h"
#include "kernel/x86.h"

#define THREAD_MEM_ORDER 3 /* 32 KiB: stack, TLS block, struct thread */
#define THREAD_MEM_SIZE (4096u << THREAD_MEM_ORDER)
#define STACK_CANARY 0x57a4c0ffee5ca1edull

extern char __tdata_start[], __tdata_end[], __tbss_end[];
void context_switch(uint64_t *prev_rsp, uint64_t next_rsp, void *prev_fpu,
		    void *next_fpu);
void thread_entry(void);
void thread_start(void);

static struct thread boot_thread;

static uint64_t tls_size(void)
{
	return ALIGN_UP((uint64_t)(__tbss_end - __tdata_start), 64);
}

/* A TLS block ending at @tp: the .tdata image, zeroed .tbss, and the
 * TCB's self pointer at @tp (%fs:0), as the x86-64 ABI lays it out. */
static void tls_setup(uint64_t tp)
{
	char *block = (char *)(uintptr_t)(tp - tls_size());
	size_t tdata = (size_t)(__tdata_end - __tdata_start);

	memcpy(block, __tdata_start, tdata);
	memset(block + tdata, 0, tls_size() - tdata);
	*(uint64_t *)(uintptr_t)tp = tp;
}

static void fpu_init_state(struct thread *t)
{
	memset(t->fpu, 0, sizeof(t->fpu));
	*(uint16_t *)&t->fpu[0] = 0x037f;	/* FCW: all exceptions masked */
	*(uint32_t *)&t->fpu[24] = 0x1f80;	/* MXCSR: likewise */
}

/* Lay out a thread in @mem: the struct at the top, TLS, then the stack. */
static struct thread *thread_layout(void *mem, unsigned int order)
{
	uint64_t base = (uint64_t)(uintptr_t)mem;
	uint64_t top = base + THREAD_MEM_SIZE;
	struct thread *t = (struct thread *)(uintptr_t)ALIGN_DOWN(
		top - sizeof(struct thread), 64);
	uint64_t tp = ALIGN_DOWN((uint64_t)(uintptr_t)t - 64, 64);

	memset(t, 0, sizeof(*t));
	t->mem = mem;
	t->mem_order = order;
	t->tls_tp = tp;
	tls_setup(tp);
	t->stack_top = ALIGN_DOWN(tp - tls_size(), 16);
	*(uint64_t *)mem = STACK_CANARY;
	fpu_init_state(t);
	atomic_init(&t->exited, 0);
	return t;
}

static void thread_set_name(struct thread *t, const char *name)
{
	size_t i;

	for (i = 0; i + 1 < sizeof(t->name) && name[i]; i++)
		t->name[i] = name[i];
	t->name[i] = 0;
}

/* The stack context_switch() returns into: thread_entry, six zeros. */
static void thread_prime_stack(struct thread *t)
{
	uint64_t *sp = (uint64_t *)(uintptr_t)t->stack_top;

	*--sp = (uint64_t)(uintptr_t)thread_entry;
	for (unsigned int i = 0; i < 6; i++)
		*--sp = 0;
	t->rsp = (uint64_t)(uintptr_t)sp;
}

/* ---- the run queue (its lock held) ---- */

static void rq_enqueue(struct runqueue *rq, struct thread *t)
{
	t->rq_next = NULL;
	if (rq->tail)
		rq->tail->rq_next = t;
	else
		rq->head = t;
	rq->tail = t;
	rq->nr++;
}

static struct thread *rq_dequeue(struct runqueue *rq)
{
	struct thread *t = rq->head;

	if (!t)
		return NULL;
	rq->head = t->rq_next;
	if (!rq->head)
		rq->tail = NULL;
	rq->nr--;
	t->rq_next = NULL;
	return t;
}

static void sleepers_insert(struct runqueue *rq, struct thread *t)
{
	struct thread **p = &rq->sleepers;

	while (*p && (*p)->wake_at <= t->wake_at)
		p = &(*p)->sleep_next;
	t->sleep_next = *p;
	*p = t;
}

static void sleepers_remove(struct runqueue *rq, struct thread *t)
{
	for (struct thread **p = &rq->sleepers; *p; p = &(*p)->sleep_next) {
		if (*p == t) {
			*p = t->sleep_next;
			t->sleep_next = NULL;
			return;
		}
	}
}

/* Make @t READY under its CPU's lock; true when it went on the queue. */
static bool thread_make_ready_locked(struct cpu *c, struct thread *t)
{
	if (t->state != THREAD_BLOCKED)
		return false;
	if (t->wake_at) {
		sleepers_remove(&c->rq, t);
		t->wake_at = 0;
	}
	t->state = THREAD_READY;
	/* Still on its CPU on the way into schedule(): it stays. */
	if (c->current == t)
		return false;
	rq_enqueue(&c->rq, t);
	return true;
}

/* @c has a thread to run: an idle @c must look. */
static void cpu_kick(struct cpu *c)
{
	if (c == this_cpu()) {
		if (c->current == c->idle)
			c->need_resched = true;
	} else if (READ_ONCE(c->current) == c->idle) {
		lapic_send_ipi(c->apic_id, VEC_RESCHED);
	}
}

bool thread_wake(struct thread *t)
{
	struct cpu *c = t->cpu;
	bool on = raw_spin_lock_irqsave(&c->rq.lock), blocked, queued;

	blocked = t->state == THREAD_BLOCKED;
	queued = thread_make_ready_locked(c, t);
	raw_spin_unlock_irqrestore(&c->rq.lock, on);
	if (queued)
		cpu_kick(c);
	return blocked;
}

/*
 * After a switch, in the thread switched to: a thread that died is off
 * its stack now, so its joiner may free it.
 */
static void sched_finish_switch(struct cpu *c)
{
	struct thread *dead = c->dead;

	if (!dead)
		return;
	c->dead = NULL;
	atomic_store(&dead->exited, 1);
	kernel_wake(&dead->exited, ~0u);
}

void schedule(void)
{
	bool on = irq_save();
	struct cpu *c = this_cpu();
	struct thread *prev = c->current, *next;
	uint64_t now;

	if (prev != &boot_thread && prev->mem &&
	    *(uint64_t *)prev->mem != STACK_CANARY)
		panic("stack overflow in thread '%s' (its canary at %p is %#lx)",
		      prev->name, prev->mem, *(uint64_t *)prev->mem);
	raw_spin_lock(&c->rq.lock);
	c->need_resched = false;
	if (prev != c->idle && prev->state == THREAD_READY)
		rq_enqueue(&c->rq, prev);
	next = rq_dequeue(&c->rq);
	if (!next)
		next = c->idle;
	c->current = next;
	c->slice_end = c->ticks + SCHED_SLICE_TICKS;
	if (prev->state == THREAD_DEAD)
		c->dead = prev;
	raw_spin_unlock(&c->rq.lock);
	if (next != prev) {
		now = clock_now_ns();
		prev->cpu_ns += now - prev->run_since;
		next->run_since = now;
		wrmsr(MSR_FS_BASE, next->tls_tp);
		context_switch(&prev->rsp, next->rsp, prev->fpu, next->fpu);
		/* Back in prev, switched to again (on the same CPU: pinned). */
		sched_finish_switch(this_cpu());
	}
	irq_restore(on);
}

void sched_yield(void)
{
	struct cpu *c;
	bool on = irq_save();

	c = this_cpu();
	/* Nobody waiting: nothing to give the CPU to. */
	if (READ_ONCE(c->rq.nr))
		schedule();
	irq_restore(on);
}

void sched_sleep_ns(uint64_t ns)
{
	uint64_t until = clock_now_ns() + ns;

	while (clock_now_ns() < until) {
		bool on = irq_save();
		struct cpu *c = this_cpu();
		struct thread *t = c->current;

		raw_spin_lock(&c->rq.lock);
		t->state = THREAD_BLOCKED;
		t->wake_at = until;
		sleepers_insert(&c->rq, t);
		raw_spin_unlock(&c->rq.lock);
		schedule();
		irq_restore(on);
	}
}

void sched_block_until(struct thread *t, uint64_t deadline_ns)
{
	struct cpu *c = t->cpu;

	raw_spin_lock(&c->rq.lock);
	t->state = THREAD_BLOCKED;
	if (deadline_ns) {
		t->wake_at = deadline_ns;
		sleepers_insert(&c->rq, t);
	}
	raw_spin_unlock(&c->rq.lock);
}

void sched_tick(void)
{
	struct cpu *c = this_cpu();
	uint64_t now = clock_now_ns();

	c->ticks++;
	raw_spin_lock(&c->rq.lock);
	while (c->rq.sleepers && c->rq.sleepers->wake_at <= now) {
		struct thread *t = c->rq.sleepers;

		c->rq.sleepers = t->sleep_next;
		t->sleep_next = NULL;
		t->wake_at = 0;
		if (t->state == THREAD_BLOCKED) {
			t->state = THREAD_READY;
			if (c->current != t)
				rq_enqueue(&c->rq, t);
		}
	}
	if (c->rq.nr && (c->current == c->idle || c->ticks >= c->slice_end))
		c->need_resched = true;
	raw_spin_unlock(&c->rq.lock);
}

void sched_irq_exit(void)
{
	struct cpu *c = this_cpu();

	if (c->need_resched && c->current)
		schedule();
}

__attribute__((noreturn)) void sched_idle_loop(void)
{
	struct cpu *c = this_cpu();

	for (;;) {
		irq_disable();
		if (READ_ONCE(c->rq.nr))
			schedule();
		else
			cpu_idle_wait(); /* sti; hlt: an interrupt ends it */
	}
}

void thread_start(void)
{
	struct cpu *c = this_cpu();
	struct thread *t = c->current;

	sched_finish_switch(c);
	irq_enable();
	t->fn(t->arg);
	irq_disable();
	raw_spin_lock(&c->rq.lock);
	t->state = THREAD_DEAD;
	raw_spin_unlock(&c->rq.lock);
	schedule();
	panic("a dead thread ran again");
}

static void *thread_mem_alloc(unsigned int *order)
{
	if (!kernel_pgdat) {
		*order = 0;
		return boot_alloc(THREAD_MEM_SIZE, 4096);
	}
	*order = THREAD_MEM_ORDER;
	return kernel_pages_alloc(THREAD_MEM_ORDER);
}

struct thread *thread_create(const char *name, void (*fn)(void *), void *arg,
			     unsigned int cpu)
{
	struct cpu *c = cpus[cpu % nr_cpus];
	unsigned int order;
	void *mem = thread_mem_alloc(&order);
	struct thread *t;
	bool on;

	if (!mem)
		return NULL;
	t = thread_layout(mem, order);
	thread_set_name(t, name);
	t->fn = fn;
	t->arg = arg;
	t->cpu = c;
	t->platform_cpu = c->id;
	t->state = THREAD_READY;
	thread_prime_stack(t);
	on = raw_spin_lock_irqsave(&c->rq.lock);
	rq_enqueue(&c->rq, t);
	raw_spin_unlock_irqrestore(&c->rq.lock, on);
	cpu_kick(c);
	return t;
}

void thread_join(struct thread *t)
{
	while (!atomic_load(&t->exited))
		kernel_park(&t->exited, 0, 0);
	if (t->mem_order)
		kernel_pages_free(t->mem, t->mem_order);
}

static void idle_fn(void *arg)
{
	(void)arg;
	sched_idle_loop();
}

struct thread *sched_idle_thread_create(struct cpu *c)
{
	void *mem = boot_alloc(THREAD_MEM_SIZE, 4096);
	struct thread *t = thread_layout(mem, 0);
	char name[THREAD_NAME_LEN];

	ksnprintf(name, sizeof(name), "idle/%u", c->id);
	thread_set_name(t, name);
	t->fn = idle_fn;
	t->cpu = c;
	t->platform_cpu = c->id;
	t->state = THREAD_READY;
	thread_prime_stack(t);
	return t;
}

void sched_init_boot(struct cpu *c)
{
	/* kmain's code, on the boot stack, becomes the thread "main". */
	void *tls = boot_alloc(tls_size() + 128, 64);
	uint64_t tp = ALIGN_UP((uint64_t)(uintptr_t)tls + tls_size(), 64);

	boot_thread.tls_tp = tp;
	tls_setup(tp);
	thread_set_name(&boot_thread, "main");
	boot_thread.cpu = c;
	boot_thread.state = THREAD_READY;
	fpu_init_state(&boot_thread);
	atomic_init(&boot_thread.exited, 0);
	wrmsr(MSR_FS_BASE, tp);
	c->idle = sched_idle_thread_create(c);
	c->current = &boot_thread;
}

void sched_init_ap(struct cpu *c)
{
	/* ap_main runs on the idle thread's stack: it is the idle thread. */
	wrmsr(MSR_FS_BASE, c->idle->tls_tp);
	c->current = c->idle;
	apic_timer_start(SCHED_HZ);
}
