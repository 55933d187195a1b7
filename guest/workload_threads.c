/*
 * workload_threads.c - the POSIX threads that run a workload's bodies
 * (workload.c) for an in-process or process guest: one pthread per vCPU
 * thread, a pthread barrier, nanosleep, malloc for their lists of blocks,
 * the memfd's allocated blocks as the host's view.
 */
#define _GNU_SOURCE
#include "guest/workload.h"

#include <errno.h>
#include <pthread.h>
#include <stdlib.h>
#include <time.h>

#include "mm/gfp.h"

struct worker {
	struct workload *w;
	unsigned int id;
	pthread_t thread;
};

/*
 * @gate_lock protects @gate: the threads wait at it until every one of them
 * exists (GATE_GO), so that a failed pthread_create() can send the others
 * home (GATE_ABORT) before any of them waits on @barrier, which needs all.
 */
enum { GATE_WAIT, GATE_GO, GATE_ABORT };

struct workload_impl {
	struct worker *workers;
	unsigned int started;
	pthread_barrier_t barrier;
	pthread_mutex_t gate_lock;
	pthread_cond_t gate_cond;
	int gate;
	atomic_uint running;
};

static void posix_barrier_wait(struct workload *w)
{
	struct workload_impl *impl = w->impl;

	pthread_barrier_wait(&impl->barrier);
}

static void posix_sleep_ms(struct workload *w, unsigned int ms)
{
	struct timespec ts = { ms / 1000, (long)(ms % 1000) * 1000 * 1000 };

	(void)w;
	nanosleep(&ts, NULL);
}

static void *posix_mem_alloc(struct workload *w, size_t bytes)
{
	(void)w;
	return calloc(1, bytes);
}

static void posix_mem_free(struct workload *w, void *p, size_t bytes)
{
	(void)w;
	(void)bytes;
	free(p);
}

static uint64_t posix_host_resident(struct workload *w)
{
	return gmm_guest_host_resident_bytes(w->guest);
}

static const struct workload_sys posix_sys = {
	.barrier_wait = posix_barrier_wait,
	.sleep_ms = posix_sleep_ms,
	.mem_alloc = posix_mem_alloc,
	.mem_free = posix_mem_free,
	.host_resident = posix_host_resident,
};

static bool workload_gate_wait(struct workload_impl *impl)
{
	int gate;

	pthread_mutex_lock(&impl->gate_lock);
	while (impl->gate == GATE_WAIT)
		pthread_cond_wait(&impl->gate_cond, &impl->gate_lock);
	gate = impl->gate;
	pthread_mutex_unlock(&impl->gate_lock);
	return gate == GATE_GO;
}

static void workload_gate_open(struct workload_impl *impl, int gate)
{
	pthread_mutex_lock(&impl->gate_lock);
	impl->gate = gate;
	pthread_cond_broadcast(&impl->gate_cond);
	pthread_mutex_unlock(&impl->gate_lock);
}

void workload_init(struct workload *w, enum workload_kind kind,
		   struct gmm_guest *guest)
{
	const struct gmm_guest_config *c = gmm_guest_config(guest);

	workload_init_node(w, kind, gmm_guest_pgdat(guest), c->mem_bytes,
			   c->cpus, c->report_delay_ms, &posix_sys, NULL);
	w->guest = guest;
}

static void *worker_main(void *arg)
{
	struct worker *wk = arg;
	struct workload *w = wk->w;
	struct workload_impl *impl = w->impl;

	if (!workload_gate_wait(impl)) {
		atomic_fetch_sub(&impl->running, 1);
		return NULL;
	}
	if (w->kind == WORKLOAD_WORKING_SET) {
		platform_set_cpu_id(wk->id % w->cpus);
		working_set_thread(w, wk->id);
	} else {
		workload_thread(w, wk->id);
	}
	atomic_fetch_sub(&impl->running, 1);
	return NULL;
}

int workload_start(struct workload *w)
{
	struct workload_impl *impl;

	if (w->threads < 1 || w->threads > WORKLOAD_MAX_THREADS)
		return -EINVAL;
	if (w->kind == WORKLOAD_WORKING_SET && !w->ws) {
		int err = working_set_setup(w);

		if (err)
			return err;
	}
	impl = calloc(1, sizeof(*impl));
	if (!impl)
		return -ENOMEM;
	impl->workers = calloc(w->threads, sizeof(*impl->workers));
	if (!impl->workers) {
		free(impl);
		return -ENOMEM;
	}
	pthread_barrier_init(&impl->barrier, NULL, w->threads);
	pthread_mutex_init(&impl->gate_lock, NULL);
	pthread_cond_init(&impl->gate_cond, NULL);
	impl->gate = GATE_WAIT;
	atomic_init(&impl->running, w->threads);
	w->impl = impl;
	for (unsigned int i = 0; i < w->threads; i++) {
		struct worker *wk = &impl->workers[i];

		wk->w = w;
		wk->id = i;
		if (pthread_create(&wk->thread, NULL, worker_main, wk)) {
			/* The ones started leave at the gate; none waits at the barrier. */
			atomic_fetch_sub(&impl->running, w->threads - i);
			workload_gate_open(impl, GATE_ABORT);
			workload_join(w);
			return -EAGAIN;
		}
		impl->started++;
	}
	workload_gate_open(impl, GATE_GO);
	return 0;
}

bool workload_running(struct workload *w)
{
	struct workload_impl *impl = w->impl;

	return impl && atomic_load(&impl->running) > 0;
}

void workload_fini(struct workload *w)
{
	if (w->ws)
		working_set_teardown(w);
}

void workload_join(struct workload *w)
{
	struct workload_impl *impl = w->impl;

	if (!impl)
		return;
	for (unsigned int i = 0; i < impl->started; i++)
		pthread_join(impl->workers[i].thread, NULL);
	pthread_barrier_destroy(&impl->barrier);
	pthread_mutex_destroy(&impl->gate_lock);
	pthread_cond_destroy(&impl->gate_cond);
	free(impl->workers);
	free(impl);
	w->impl = NULL;
}
