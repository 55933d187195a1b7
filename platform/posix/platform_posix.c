/*
 * platform_posix.c - the platform primitives on a POSIX system (Linux).
 *
 * Spinlocks are test-and-test-and-set on C11 atomics, yielding the CPU after a
 * bounded spin so that more runnable threads than cores (vCPU threads plus a
 * reporting worker on a 2-core host) do not burn their time slices.  Delayed
 * work is one thread per work item sleeping on a condition variable.
 */
#define _GNU_SOURCE
#include "platform/platform.h"

#include <pthread.h>
#include <sched.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <time.h>

static _Thread_local unsigned int this_cpu;
static _Thread_local char thread_token_anchor;
static atomic_ulong bad_state_count;
static atomic_bool bad_state_is_fatal;

uintptr_t platform_thread_token(void)
{
	return (uintptr_t)&thread_token_anchor;
}

unsigned int platform_cpu_id(void)
{
	return this_cpu;
}

void platform_set_cpu_id(unsigned int cpu)
{
	this_cpu = cpu;
}

void platform_cpu_relax(unsigned int spins)
{
	/* Past a few hundred spins the holder is likely descheduled. */
	if (spins > 128)
		sched_yield();
#if defined(__x86_64__) || defined(__i386__)
	else
		__builtin_ia32_pause();
#endif
}

void spin_lock_init(struct spinlock *lock)
{
	atomic_init(&lock->locked, false);
	atomic_init(&lock->holder, 0);
}

void spin_lock(struct spinlock *lock)
{
	unsigned int spins = 0;

	for (;;) {
		if (!atomic_exchange_explicit(&lock->locked, true,
					      memory_order_acquire))
			break;
		while (atomic_load_explicit(&lock->locked, memory_order_relaxed))
			platform_cpu_relax(++spins);
	}
	atomic_store_explicit(&lock->holder, platform_thread_token(),
			      memory_order_relaxed);
}

bool spin_trylock(struct spinlock *lock)
{
	if (atomic_exchange_explicit(&lock->locked, true, memory_order_acquire))
		return false;
	atomic_store_explicit(&lock->holder, platform_thread_token(),
			      memory_order_relaxed);
	return true;
}

void spin_unlock(struct spinlock *lock)
{
	atomic_store_explicit(&lock->holder, 0, memory_order_relaxed);
	atomic_store_explicit(&lock->locked, false, memory_order_release);
}

bool spin_is_held(const struct spinlock *lock)
{
	return atomic_load_explicit(&lock->holder, memory_order_relaxed) ==
	       platform_thread_token();
}

uint64_t platform_now_ns(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (uint64_t)ts.tv_sec * 1000000000u + (uint64_t)ts.tv_nsec;
}

static void vlog(const char *tag, const char *fmt, va_list ap)
{
	char line[512];

	vsnprintf(line, sizeof(line), fmt, ap);
	fprintf(stderr, "guestmm: %s%s\n", tag, line);
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
		abort();
}

unsigned long platform_bad_state_count(void)
{
	return atomic_load(&bad_state_count);
}

void platform_bad_state_fatal(bool fatal)
{
	atomic_store(&bad_state_is_fatal, fatal);
}

/*
 * One thread per work item.  @lock protects @deadline_ns, @pending and
 * @stopping; @cond wakes the thread when any of them changes.
 */
struct platform_work {
	pthread_mutex_t lock;
	pthread_cond_t cond;
	pthread_t thread;
	platform_work_fn fn;
	void *arg;
	uint64_t deadline_ns;
	bool pending;
	bool stopping;
};

static void *work_thread(void *p)
{
	struct platform_work *work = p;

	pthread_mutex_lock(&work->lock);
	for (;;) {
		if (work->stopping)
			break;
		if (!work->pending) {
			pthread_cond_wait(&work->cond, &work->lock);
			continue;
		}
		uint64_t now = platform_now_ns();
		if (now < work->deadline_ns) {
			struct timespec ts;
			clock_gettime(CLOCK_MONOTONIC, &ts);
			uint64_t abs = (uint64_t)ts.tv_sec * 1000000000u +
				       (uint64_t)ts.tv_nsec +
				       (work->deadline_ns - now);
			ts.tv_sec = (time_t)(abs / 1000000000u);
			ts.tv_nsec = (long)(abs % 1000000000u);
			pthread_cond_timedwait(&work->cond, &work->lock, &ts);
			continue;
		}
		work->pending = false;
		pthread_mutex_unlock(&work->lock);
		work->fn(work->arg);
		pthread_mutex_lock(&work->lock);
	}
	pthread_mutex_unlock(&work->lock);
	return NULL;
}

struct platform_work *platform_work_create(platform_work_fn fn, void *arg)
{
	struct platform_work *work = calloc(1, sizeof(*work));
	pthread_condattr_t attr;

	if (!work)
		return NULL;
	work->fn = fn;
	work->arg = arg;
	pthread_mutex_init(&work->lock, NULL);
	pthread_condattr_init(&attr);
	pthread_condattr_setclock(&attr, CLOCK_MONOTONIC);
	pthread_cond_init(&work->cond, &attr);
	pthread_condattr_destroy(&attr);
	if (pthread_create(&work->thread, NULL, work_thread, work)) {
		pthread_cond_destroy(&work->cond);
		pthread_mutex_destroy(&work->lock);
		free(work);
		return NULL;
	}
	return work;
}

void platform_work_schedule(struct platform_work *work, uint64_t delay_ms)
{
	pthread_mutex_lock(&work->lock);
	if (!work->pending) {
		work->pending = true;
		work->deadline_ns = platform_now_ns() + delay_ms * 1000000u;
		pthread_cond_signal(&work->cond);
	}
	pthread_mutex_unlock(&work->lock);
}

void platform_work_destroy(struct platform_work *work)
{
	if (!work)
		return;
	pthread_mutex_lock(&work->lock);
	work->stopping = true;
	pthread_cond_signal(&work->cond);
	pthread_mutex_unlock(&work->lock);
	pthread_join(work->thread, NULL);
	pthread_cond_destroy(&work->cond);
	pthread_mutex_destroy(&work->lock);
	free(work);
}
