/*
 * swap_inject.h - a swap store (platform/swap_io.h) over another that fails
 * on demand, for tests: reads or writes fail while a flag is set, or every
 * one from the Nth on (counted from 1, as they come, over all threads; for
 * reads, a given number of them), with EIO or the errno the test chooses.  It counts every attempt and
 * failure, and it remembers which slots failed, so that a test can check
 * what the layer above does after a failure: a slot that failed, in a read
 * or a write, is never read or written again.
 *
 * Header-only: the anonymous-memory tests wrap their node's swap file in
 * one directly (anonutil.h); swap_inject_wrap.c puts one under every swap
 * file a test binary makes, through the linker's --wrap.
 */
#ifndef GUESTMM_TESTS_SWAP_INJECT_H
#define GUESTMM_TESTS_SWAP_INJECT_H

#include <stdatomic.h>
#include <stdint.h>
#include <stdlib.h>

#include "platform/platform.h"
#include "platform/swap_io.h"

#define SWAP_INJECT_WRITE_FAILED 1u
#define SWAP_INJECT_READ_FAILED 2u

/*
 * Settings are written before the store is used, or atomically.  Counters
 * are atomics; @failed is one byte per slot of SWAP_INJECT_*_FAILED bits.
 */
struct swap_inject {
	struct swap_io io;
	struct swap_io *lower;
	atomic_int fail_reads, fail_writes;	  /* while set: fail */
	atomic_uint_fast64_t read_fail_from;	  /* 0: never; N: the Nth on */
	atomic_uint_fast64_t write_fail_from;
	uint64_t read_fail_count;		  /* of those; 0: all */
	bool read_fail_sticky;			  /* a slot whose read failed
						     fails every read after */
	int read_errno, write_errno;		  /* negative; 0 = -GMM_EIO */
	atomic_uint_fast64_t reads, writes;	  /* attempts */
	atomic_uint_fast64_t read_errors, write_errors;
	/* I/O on a slot that failed before (a read or a write) */
	atomic_uint_fast64_t rewrites, rereads;
	atomic_uchar *failed;
};

static inline int swap_inject_read(struct swap_io *io, uint64_t slot, void *buf)
{
	struct swap_inject *f = (struct swap_inject *)io;
	uint64_t n = atomic_fetch_add(&f->reads, 1) + 1;
	uint64_t from = atomic_load(&f->read_fail_from);

	if (atomic_load(&f->failed[slot]))
		atomic_fetch_add(&f->rereads, 1);
	if (atomic_load(&f->fail_reads) ||
	    (f->read_fail_sticky && (atomic_load(&f->failed[slot]) & SWAP_INJECT_READ_FAILED)) ||
	    (from && n >= from && (!f->read_fail_count || n < from + f->read_fail_count))) {
		atomic_fetch_or(&f->failed[slot], SWAP_INJECT_READ_FAILED);
		atomic_fetch_add(&f->read_errors, 1);
		return f->read_errno ? f->read_errno : -GMM_EIO;
	}
	return f->lower->ops->read(f->lower, slot, buf);
}

static inline int swap_inject_write(struct swap_io *io, uint64_t slot,
				    const void *buf)
{
	struct swap_inject *f = (struct swap_inject *)io;
	uint64_t n = atomic_fetch_add(&f->writes, 1) + 1;
	uint64_t from = atomic_load(&f->write_fail_from);

	if (atomic_load(&f->failed[slot]))
		atomic_fetch_add(&f->rewrites, 1);
	if (atomic_load(&f->fail_writes) || (from && n >= from)) {
		atomic_fetch_or(&f->failed[slot], SWAP_INJECT_WRITE_FAILED);
		atomic_fetch_add(&f->write_errors, 1);
		return f->write_errno ? f->write_errno : -GMM_EIO;
	}
	return f->lower->ops->write(f->lower, slot, buf);
}

static const struct swap_io_ops swap_inject_ops = {
	.read = swap_inject_read,
	.write = swap_inject_write,
};

/* Wrap @lower, failing nothing yet.  Return: 0 or -GMM_ENOMEM. */
static inline int swap_inject_init(struct swap_inject *f, struct swap_io *lower)
{
	*f = (struct swap_inject){
		.io = { .ops = &swap_inject_ops, .nr_slots = lower->nr_slots },
		.lower = lower,
	};
	f->failed = calloc(lower->nr_slots, sizeof(*f->failed));
	return f->failed ? 0 : -GMM_ENOMEM;
}

static inline void swap_inject_fini(struct swap_inject *f)
{
	free(f->failed);
	f->failed = NULL;
}

/* Slots whose write (@what = SWAP_INJECT_WRITE_FAILED) or read failed. */
static inline uint64_t swap_inject_failed_slots(struct swap_inject *f,
						 unsigned int what)
{
	uint64_t n = 0;

	for (uint64_t s = 0; s < f->io.nr_slots; s++)
		n += (atomic_load(&f->failed[s]) & what) != 0;
	return n;
}

#endif
