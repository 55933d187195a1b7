/*
 * bench.h - what the benchmarks behind `guestmm bench NAME` share.
 */
#ifndef GUESTMM_BENCH_BENCH_H
#define GUESTMM_BENCH_BENCH_H

#include <stdbool.h>
#include <stdint.h>

#define MAX_REPS 64
#define BENCH_ALLOC_MAX_THREADS 2

struct gmm_guest;

struct bench_opts {
	unsigned int pairs;
	double seconds;
	uint64_t mem_bytes;
	bool json;
};

/*
 * bench_measured_nothing - one line "guestmm: bench NAME: measured nothing:
 * WHY" on stderr, for a benchmark whose figure would be 0 or NaN.
 * Return: 1, the exit status.
 */
int bench_measured_nothing(const char *name, const char *fmt, ...)
	__attribute__((format(printf, 2, 3)));

/*
 * bench_alloc_rate - alloc_pages() + free_pages() pairs of @order in a tight
 * loop on @threads threads (vCPUs 0, 1, ...) of @g for @seconds.
 * Return: 0 with *@rate the pairs per second per thread; -EINVAL for a
 * thread count out of range; -ENOMEM when an allocation failed; another
 * negative errno from pthread_create().
 */
int bench_alloc_rate(struct gmm_guest *g, unsigned int threads,
		     unsigned int order, double seconds, double *rate);

/*
 * bench_vhost - the report round trip through vhost-user against
 * fallocate(PUNCH_HOLE) alone (bench_vhost.c).
 * Return: 0, or a negative errno after one line on stderr.
 */
int bench_vhost(unsigned int pairs, double seconds, bool json);

#endif
