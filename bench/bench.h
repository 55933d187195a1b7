/*
 * bench.h - what the benchmarks behind `guestmm bench NAME` share.
 */
#ifndef GUESTMM_BENCH_BENCH_H
#define GUESTMM_BENCH_BENCH_H

#include <stdbool.h>
#include <stdio.h>
#include <stdint.h>

#include "platform/platform.h"
#include "mm/zpool.h"

#define MAX_REPS 64
#define BENCH_ALLOC_MAX_THREADS 2
#define BENCH_CEILING_MAX_THREADS 64
/* scale: rows per lock kind and reporting setting. */
#define BENCH_MAX_THREAD_COUNTS 16

struct gmm_guest;

/* bench return's guests. */
enum bench_guest {
	BENCH_GUEST_OURS,	/* our guest as a process behind the device */
	BENCH_GUEST_IN_PROCESS,	/* the core in this process, punching itself */
	BENCH_GUEST_LINUX,	/* user-mode Linux behind the same device */
	BENCH_GUEST_BOTH,	/* ours and Linux, alternately */
	BENCH_GUEST_QEMU,	/* on QEMU with QEMU's device: Linux 6.1 until
				   our kernel's image exists */
};

struct bench_opts {
	unsigned int pairs;
	double seconds;
	uint64_t mem_bytes;
	bool mem_given;		 /* --mem was given (strategies: memhog too) */
	bool json;
	enum bench_guest guest;	 /* return: which guest(s) */
	unsigned int boot_timeout_s; /* return, Linux: 0 = RUN_BOOT_TIMEOUT_S */
	/* scale */
	unsigned int nr_threads; /* thread counts, ascending, distinct */
	unsigned int threads[BENCH_MAX_THREAD_COUNTS];
	unsigned int nr_locks;	 /* lock kinds, side by side */
	enum spin_lock_kind locks[NR_SPIN_LOCK_KINDS];
	const char *plot;	 /* a PNG file to draw, or NULL */
	/* zswap */
	unsigned int nr_zpools;	 /* pools side by side (default zbud, dense) */
	const struct zpool_driver *zpools[2];
	bool linux_pages;	 /* 1 KiB random + 3 KiB of a 16-byte pattern */
};

/*
 * bench_measured_nothing - one line "guestmm: bench NAME: measured nothing:
 * WHY" on stderr, for a benchmark whose figure would be 0 or NaN.
 * Return: 1, the exit status.
 */
int bench_measured_nothing(const char *name, const char *fmt, ...)
	__attribute__((format(printf, 2, 3)));

/*
 * memset_ceiling - what zeroing alone allows: @threads threads (1 to 64) each
 * zero 128 MiB of warm memory of its own, 4 KiB memset by 4 KiB memset as
 * page_fault1 does, started together, best of 5.
 * Return: frames (pages) per second summed over the threads, or NaN when
 * there was no memory or no thread to be had.
 */
double memset_ceiling(unsigned int threads);

/* @s as a gnuplot single-quoted string (a quote in it doubled). */
void bench_gnuplot_quote(FILE *f, const char *s);

/*
 * bench_plot_open - gnuplot, drawing a 960x640 PNG into @png for `bench
 * @name`; bench_plot_open_size() for another size (two panels side by
 * side).  Return: the pipe, or NULL after a message.
 */
FILE *bench_plot_open(const char *name, const char *png);
FILE *bench_plot_open_size(const char *name, const char *png,
			   unsigned int width, unsigned int height);
/* Return: 0, or 1 after a message if gnuplot could not draw @png. */
int bench_plot_close(FILE *f, const char *name, const char *png);

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
 * bench_scale - page_fault1 frames/s against vCPU threads, reporting off and
 * on, per lock algorithm, with lock statistics (bench_scale.c).
 * Return: the exit status, after any message on stderr.
 */
int bench_scale(const struct bench_opts *b);

/*
 * bench_strategies - report, percpu, bitmap and off side by side: page_fault1
 * against vCPU threads, the free path's cost, zone-lock statistics, memhog's
 * return, wasted reports, churn, worker CPU, allocation waits
 * (bench_strategies.c).
 * Return: the exit status, after any message on stderr.
 */
int bench_strategies(const struct bench_opts *b);

/*
 * bench_vhost - the report round trip through vhost-user against
 * fallocate(PUNCH_HOLE) alone (bench_vhost.c).
 * Return: 0, or a negative errno after one line on stderr.
 */
int bench_vhost(unsigned int pairs, double seconds, bool json);

/*
 * bench_cma, bench_compact, bench_offline - contiguous allocation of a 64
 * MiB region, full compaction with the zswap pool full, and memory block
 * offlining, for each zbud policy (bench_cma.c).
 */
int bench_cma(const struct bench_opts *b);
int bench_compact(const struct bench_opts *b);
int bench_offline(const struct bench_opts *b);
/* zswap store/load against the compressor alone (bench_zswap.c). */
int bench_zswap(const struct bench_opts *b);

#endif
