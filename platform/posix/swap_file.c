/*
 * swap_file.c - a swap device's slots in a file: slot n at byte n * 4096,
 * pread/pwrite, no cache of our own (the page cache of the host is the
 * host's business).  The file is unlinked as soon as it is created.
 */
#define _GNU_SOURCE
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <unistd.h>

#include "platform/platform.h"
#include "platform/swap_io.h"

#define SWAP_PAGE 4096u

struct swap_file {
	struct swap_io io;
	int fd;
};

static int full_io(int fd, void *buf, uint64_t off, bool write)
{
	size_t done = 0;

	while (done < SWAP_PAGE) {
		ssize_t n = write ? pwrite(fd, (char *)buf + done, SWAP_PAGE - done,
					   (off_t)(off + done))
				  : pread(fd, (char *)buf + done, SWAP_PAGE - done,
					  (off_t)(off + done));
		if (n < 0 && errno == EINTR)
			continue;
		if (n <= 0)
			return -GMM_EIO;
		done += (size_t)n;
	}
	return 0;
}

static int swap_file_read(struct swap_io *io, uint64_t slot, void *buf)
{
	struct swap_file *f = (struct swap_file *)io;

	return full_io(f->fd, buf, slot * SWAP_PAGE, false);
}

static int swap_file_write(struct swap_io *io, uint64_t slot, const void *buf)
{
	struct swap_file *f = (struct swap_file *)io;

	return full_io(f->fd, (void *)buf, slot * SWAP_PAGE, true);
}

static const struct swap_io_ops swap_file_ops = {
	.read = swap_file_read,
	.write = swap_file_write,
};

int swap_file_create(const char *dir, uint64_t bytes, struct swap_io **out)
{
	char path[4096];
	struct swap_file *f;
	int err;

	if (bytes < SWAP_PAGE)
		return -GMM_EINVAL;
	f = calloc(1, sizeof(*f));
	if (!f)
		return -GMM_ENOMEM;
	snprintf(path, sizeof(path), "%s/guestmm-swap-XXXXXX", dir ? dir : "/tmp");
	f->fd = mkstemp(path);
	if (f->fd < 0) {
		err = -errno;
		goto undo_alloc;
	}
	unlink(path);
	if (ftruncate(f->fd, (off_t)(bytes / SWAP_PAGE * SWAP_PAGE)) < 0) {
		err = -errno;
		goto undo_open;
	}
	f->io.ops = &swap_file_ops;
	f->io.nr_slots = bytes / SWAP_PAGE;
	*out = &f->io;
	return 0;
undo_open:
	close(f->fd);
undo_alloc:
	free(f);
	return err;
}

void swap_file_destroy(struct swap_io *io)
{
	struct swap_file *f = (struct swap_file *)io;

	if (!f)
		return;
	close(f->fd);
	free(f);
}
