/*
 * swap_inject_wrap.c - every swap file a test binary makes goes behind a
 * swap_inject (swap_inject.h), through the linker's
 * --wrap=swap_file_create,--wrap=swap_file_destroy.  Linked only into test
 * binaries: guestmm_swapfault (the guestmm command, for tests) and
 * test_procguest, in process and in their guest processes, which are the
 * same binary again.  The settings come from the environment, read here
 * only, so the guestmm that users run has no such knob:
 *
 *   GMM_TEST_SWAP_READ_FAIL_FROM=N    reads fail from the Nth on (EIO)
 *   GMM_TEST_SWAP_READ_FAIL_COUNT=K   ... only K of them (default: all)
 *   GMM_TEST_SWAP_READ_FAIL_STICKY=1  a slot whose read failed fails every
 *                                     read after (a bad sector, not a
 *                                     transient error: a retry fails too)
 *   GMM_TEST_SWAP_WRITE_FAIL_FROM=N   writes fail from the Nth on
 *   GMM_TEST_SWAP_WRITE_ERRNO=ENOSPC  ... with ENOSPC (default EIO)
 *
 * Reads and writes are counted from 1 over the whole swap file, in the
 * order they come.  When the file goes, one line on stderr gives the
 * counts, for a test to check what the layer above did after a failure:
 *
 *   swap-inject: reads R failed F refailed X, writes W failed F rewritten X
 *
 * ("refailed": reads of a slot that had failed before; "rewritten": writes
 * to one; both must stay 0).
 */
#define _GNU_SOURCE
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "swap_inject.h"

int __real_swap_file_create(const char *dir, uint64_t bytes, struct swap_io **out);
void __real_swap_file_destroy(struct swap_io *io);
int __wrap_swap_file_create(const char *dir, uint64_t bytes, struct swap_io **out);
void __wrap_swap_file_destroy(struct swap_io *io);

static uint64_t env_u64(const char *name)
{
	const char *v = getenv(name);

	return v ? strtoull(v, NULL, 10) : 0;
}

int __wrap_swap_file_create(const char *dir, uint64_t bytes, struct swap_io **out)
{
	uint64_t read_from = env_u64("GMM_TEST_SWAP_READ_FAIL_FROM");
	uint64_t write_from = env_u64("GMM_TEST_SWAP_WRITE_FAIL_FROM");
	const char *werr = getenv("GMM_TEST_SWAP_WRITE_ERRNO");
	struct swap_inject *w;
	struct swap_io *lower;
	int err = __real_swap_file_create(dir, bytes, &lower);

	if (err || (!read_from && !write_from)) {
		if (!err)
			*out = lower;
		return err;
	}
	w = calloc(1, sizeof(*w));
	if (!w || swap_inject_init(w, lower)) {
		free(w);
		__real_swap_file_destroy(lower);
		return -GMM_ENOMEM;
	}
	atomic_store(&w->read_fail_from, read_from);
	w->read_fail_count = env_u64("GMM_TEST_SWAP_READ_FAIL_COUNT");
	w->read_fail_sticky = env_u64("GMM_TEST_SWAP_READ_FAIL_STICKY") != 0;
	atomic_store(&w->write_fail_from, write_from);
	w->write_errno = werr && !strcmp(werr, "ENOSPC") ? -GMM_ENOSPC : -GMM_EIO;
	*out = &w->io;
	return 0;
}

void __wrap_swap_file_destroy(struct swap_io *io)
{
	struct swap_inject *w = (struct swap_inject *)io;

	if (!io || io->ops != &swap_inject_ops) {
		__real_swap_file_destroy(io);
		return;
	}
	fprintf(stderr,
		"swap-inject: reads %llu failed %llu refailed %llu, writes %llu failed %llu rewritten %llu\n",
		(unsigned long long)atomic_load(&w->reads),
		(unsigned long long)atomic_load(&w->read_errors),
		(unsigned long long)atomic_load(&w->rereads),
		(unsigned long long)atomic_load(&w->writes),
		(unsigned long long)atomic_load(&w->write_errors),
		(unsigned long long)atomic_load(&w->rewrites));
	__real_swap_file_destroy(w->lower);
	swap_inject_fini(w);
	free(w);
}
