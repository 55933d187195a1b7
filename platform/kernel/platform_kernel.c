/*
 * platform_kernel.c - the platform primitives in the guest kernel.
 *
 * mm/ and the spinlocks (platform/spinlock.c, the same file as under
 * POSIX) run unchanged on the kernel's threads: parking is the scheduler's
 * park on a word (kernel/park.c, a futex), a yield is the scheduler's, a
 * thread's token is its struct thread, its CPU is the vCPU it is pinned
 * to (or what platform_set_cpu_id() made it), time is the calibrated TSC,
 * and delayed work is a kernel thread per work item parked on a word
 * until its deadline.  The log is the console.
 *
 * No compressors and no swap device: zswap is simply not configured in
 * the kernel (compressor_find() finds nothing, swap_file_create() says
 * -ENOSYS), which mm/ already handles for a guest without them.
 */
#include "platform/platform.h"

#include "kernel/apic.h"
#include "kernel/cpu.h"
#include "kernel/kernel.h"
#include "kernel/memory.h"
#include "kernel/park.h"
#include "kernel/sched.h"
#include "kernel/x86.h"
#include "platform/compress.h"
#include "platform/swap_io.h"

static atomic_ulong park_calls;
static atomic_ulong bad_state_count;
static atomic_bool bad_state_is_fatal;

uintptr_t platform_thread_token(void)
{
	return (uintptr_t)current_thread();
}

unsigned int platform_cpu_id(void)
{
	return current_thread()->platform_cpu;
}

void platform_set_cpu_id(unsigned int cpu)
{
	current_thread()->platform_cpu = cpu;
}

void platform_cpu_relax(unsigned int spins)
{
	if (spins > 128)
		sched_yield();
	else
		cpu_pause();
}

void platform_park(atomic_uint *addr, unsigned int expected)
{
	atomic_fetch_add_explicit(&park_calls, 1, memory_order_relaxed);
	kernel_park(addr, expected, 0);
}

void platform_park_until(atomic_uint *addr, unsigned int expected,
			 uint64_t deadline_ns)
{
	atomic_fetch_add_explicit(&park_calls, 1, memory_order_relaxed);
	kernel_park(addr, expected, deadline_ns ? deadline_ns : 1);
}

void platform_wake(atomic_uint *addr, unsigned int n)
{
	kernel_wake(addr, n);
}

unsigned long platform_park_count(void)
{
	return atomic_load_explicit(&park_calls, memory_order_relaxed);
}

uint64_t platform_now_ns(void)
{
	return clock_now_ns();
}

uint64_t platform_thread_cpu_ns(void)
{
	bool on = irq_save();
	struct thread *t = current_thread();
	uint64_t ns = t->cpu_ns + (clock_now_ns() - t->run_since);

	irq_restore(on);
	return ns;
}

double platform_tsc_ns_per_tick(void)
{
	return 1e9 / (double)tsc_hz;
}

static void vlog(const char *tag, const char *fmt, va_list ap)
{
	char line[512];

	kvsnprintf(line, sizeof(line), fmt, ap);
	printk("guestmm: %s%s\n", tag, line);
}

void platform_log(const char *fmt, ...)
{
	va_list ap;

	va_start(ap, fmt);
	vlog("", fmt, ap);
	va_end(ap);
}

void platform_bad_state(const char *fmt, ...)
{
	va_list ap;

	va_start(ap, fmt);
	vlog("BUG: ", fmt, ap);
	va_end(ap);
	atomic_fetch_add(&bad_state_count, 1);
	if (atomic_load(&bad_state_is_fatal))
		panic("a bad page state with bad states fatal");
}

unsigned long platform_bad_state_count(void)
{
	return atomic_load(&bad_state_count);
}

void platform_bad_state_fatal(bool fatal)
{
	atomic_store(&bad_state_is_fatal, fatal);
}

void platform_panic(const char *fmt, ...)
{
	char why[512];
	va_list ap;

	va_start(ap, fmt);
	kvsnprintf(why, sizeof(why), fmt, ap);
	va_end(ap);
	panic("%s", why);
}

/*
 * Delayed work: a thread per item.  @lock (interrupts off, a few
 * instructions) protects @deadline_ns, @pending and @stopping; @seq moves
 * whenever one of them changes, and the thread parks on it, with the
 * deadline as its timeout while work is pending.
 */
struct platform_work {
	struct raw_spinlock lock;
	atomic_uint seq;
	struct thread *thread;
	platform_work_fn fn;
	void *arg;
	uint64_t deadline_ns;
	bool pending;
	bool stopping;
};

static void work_thread(void *p)
{
	struct platform_work *work = p;

	for (;;) {
		unsigned int seq = atomic_load(&work->seq);
		bool on = raw_spin_lock_irqsave(&work->lock);
		uint64_t now = clock_now_ns(), deadline = 0;
		bool run = false;

		if (work->stopping) {
			raw_spin_unlock_irqrestore(&work->lock, on);
			return;
		}
		if (work->pending && now >= work->deadline_ns) {
			work->pending = false;
			run = true;
		} else if (work->pending) {
			deadline = work->deadline_ns;
		}
		raw_spin_unlock_irqrestore(&work->lock, on);
		if (run)
			work->fn(work->arg);
		else
			kernel_park(&work->seq, seq, deadline);
	}
}

struct platform_work *platform_work_create(platform_work_fn fn, void *arg)
{
	static atomic_uint next_cpu;
	struct platform_work *work = kernel_pages_alloc(0);

	_Static_assert(sizeof(*work) <= 4096, "a work item fits its page");
	if (!work)
		return NULL;
	work->fn = fn;
	work->arg = arg;
	atomic_init(&work->seq, 0);
	/* Spread over the CPUs, as the vCPU threads are. */
	work->thread = thread_create("work", work_thread, work,
				     atomic_fetch_add(&next_cpu, 1) % nr_cpus);
	if (!work->thread) {
		kernel_pages_free(work, 0);
		return NULL;
	}
	return work;
}

void platform_work_schedule(struct platform_work *work, uint64_t delay_ms)
{
	bool on = raw_spin_lock_irqsave(&work->lock), kick = false;

	if (!work->pending && !work->stopping) {
		work->pending = true;
		work->deadline_ns = clock_now_ns() + delay_ms * 1000000u;
		atomic_fetch_add(&work->seq, 1);
		kick = true;
	}
	raw_spin_unlock_irqrestore(&work->lock, on);
	if (kick)
		kernel_wake(&work->seq, 1);
}

void platform_work_destroy(struct platform_work *work)
{
	bool on;

	if (!work)
		return;
	on = raw_spin_lock_irqsave(&work->lock);
	work->stopping = true;
	atomic_fetch_add(&work->seq, 1);
	raw_spin_unlock_irqrestore(&work->lock, on);
	kernel_wake(&work->seq, 1);
	thread_join(work->thread);
	kernel_pages_free(work, 0);
}

const struct compressor *compressor_find(const char *name)
{
	(void)name;
	return NULL;
}

int swap_file_create(const char *dir, uint64_t bytes, struct swap_io **out)
{
	(void)dir;
	(void)bytes;
	(void)out;
	return -GMM_ENOSYS;
}

void swap_file_destroy(struct swap_io *io)
{
	(void)io;
}
