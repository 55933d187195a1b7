/*
 * swap_io.h - the backing store of a swap device: page-sized slots read and
 * written by number.  The core's swap device (mm/swapfile.c) owns the slots'
 * bookkeeping; this is only the I/O, so that mm/ stays freestanding.  The
 * POSIX platform backs it with a file (swap_file_create()); tests wrap it to
 * inject errors.
 */
#ifndef GUESTMM_PLATFORM_SWAP_IO_H
#define GUESTMM_PLATFORM_SWAP_IO_H

#include <stdint.h>

struct swap_io;

struct swap_io_ops {
	/*
	 * One page, PAGE_SIZE bytes, at slot @slot (< nr_slots).  Any thread,
	 * any slots at once; the caller never has two I/Os on one slot.
	 * Return: 0 or -GMM_EIO.
	 */
	int (*read)(struct swap_io *io, uint64_t slot, void *buf);
	int (*write)(struct swap_io *io, uint64_t slot, const void *buf);
};

struct swap_io {
	const struct swap_io_ops *ops;
	uint64_t nr_slots;
};

/*
 * swap_file_create - a swap file of @bytes (rounded down to pages) in
 * directory @dir (NULL: /tmp), its blocks allocated at once (no holes, as
 * Linux's swapon wants them), unlinked at once so it goes when the process
 * does.  A file the directory cannot hold is refused at once, and said in
 * one line on stderr naming the size and the directory ("guestmm: swap
 * file: cannot allocate 256 MiB in /tmp/x: No space left on device"): the
 * caller adds nothing to it.
 * Return: 0 with *@out set; -GMM_EINVAL for fewer than one page (nothing
 * said); -GMM_ENOMEM; or the negative errno of mkstemp() or
 * posix_fallocate() (-ENOSPC, -EFBIG, ...), said.
 */
int swap_file_create(const char *dir, uint64_t bytes, struct swap_io **out);
void swap_file_destroy(struct swap_io *io);

#endif
