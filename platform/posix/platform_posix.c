/*
 * platform_posix.c - the platform primitives on a POSIX system (Linux).
 *
 * The spinlocks (platform/spinlock.c) park on a futex and yield with
 * sched_yield().  Delayed work is one thread per work item sleeping on a
 * condition variable.
 */
#define _GNU_SOURCE
#include "platform/platform.h"

#include <linux/futex.h>
#include <pthread.h>
#include <sched.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <sys/syscall.h>
#include <time.h>
#include <unistd.h>

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

uint64_t platform_now_ns(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (uint64_t)ts.tv_sec * 1000000000u + (uint64_t)ts.tv_nsec;
}

uint64_t platform_thread_cpu_ns(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_THREAD_CPUTIME_ID, &ts);
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

void platform_panic(const char *fmt, ...)
{
	va_list ap;

	va_start(ap, fmt);
	vlog("BUG: ", fmt, ap);
	va_end(ap);
	abort();
}

/* Past a few hundred spins the thread we wait for is likely descheduled. */
void platform_cpu_relax(unsigned int spins)
{
	if (spins > 128) {
		sched_yield();
		return;
	}
#if defined(__x86_64__) || defined(__i386__)
	__builtin_ia32_pause();
#elif defined(__aarch64__)
	__asm__ volatile("yield");
#endif
}

static atomic_ulong park_calls;

unsigned long platform_park_count(void)
{
	return atomic_load_explicit(&park_calls, memory_order_relaxed);
}

void platform_park(atomic_uint *addr, unsigned int expected)
{
	atomic_fetch_add_explicit(&park_calls, 1, memory_order_relaxed);
	/* EAGAIN (the word changed), EINTR and spurious returns: callers loop. */
	syscall(SYS_futex, addr, FUTEX_WAIT_PRIVATE, expected, NULL, NULL, 0);
}

void platform_park_until(atomic_uint *addr, unsigned int expected,
			 uint64_t deadline_ns)
{
	uint64_t now = platform_now_ns();
	struct timespec ts;

	if (now >= deadline_ns)
		return;
	ts.tv_sec = (time_t)((deadline_ns - now) / 1000000000u);
	ts.tv_nsec = (long)((deadline_ns - now) % 1000000000u);
	atomic_fetch_add_explicit(&park_calls, 1, memory_order_relaxed);
	/* Relative: FUTEX_WAIT measures it on CLOCK_MONOTONIC, as we do. */
	syscall(SYS_futex, addr, FUTEX_WAIT_PRIVATE, expected, &ts, NULL, 0);
}

void platform_wake(atomic_uint *addr, unsigned int n)
{
	syscall(SYS_futex, addr, FUTEX_WAKE_PRIVATE, n, NULL, NULL, 0);
}

static double tsc_ns_per_tick = 1.0;
static pthread_once_t tsc_once = PTHREAD_ONCE_INIT;

static void tsc_calibrate(void)
{
#if defined(__x86_64__) || defined(__i386__)
	struct timespec pause = { 0, 20 * 1000 * 1000 };
	uint64_t t0 = platform_now_ns(), c0 = __builtin_ia32_rdtsc(), t1, c1;

	nanosleep(&pause, NULL);
	t1 = platform_now_ns();
	c1 = __builtin_ia32_rdtsc();
	if (c1 > c0)
		tsc_ns_per_tick = (double)(t1 - t0) / (double)(c1 - c0);
#endif
}

double platform_tsc_ns_per_tick(void)
{
	pthread_once(&tsc_once, tsc_calibrate);
	return tsc_ns_per_tick;
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
