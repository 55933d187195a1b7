/*
 * swap_file.c - a swap device's slots in a file: slot n at byte n * 4096,
 * pread/pwrite, no cache of our own (the page cache of the host is the
 * host's business).  The file is unlinked as soon as it is created.
 *
 * Its blocks are allocated when it is made, as Linux's swapon refuses a
 * swap file with holes: a file system that cannot hold the file fails its
 * creation at once, in one line, rather than one write at a time long after
 * (issue 16: a sparse file on a full tmpfs stalled a guest for minutes).
 * In a tmpfs the file is the host's RAM (and charged to the memory cgroup
 * that makes it): allowed, as a test's or a diskless host's choice, but
 * said in one line, since it swaps memory into memory.
 */
#define _GNU_SOURCE
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/vfs.h>
#include <unistd.h>

#include <linux/magic.h>

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

/* "256 MiB": in the largest binary unit that divides @bytes. */
static void swap_file_fmt_size(char *buf, size_t len, uint64_t bytes)
{
	static const char *const unit[] = { "bytes", "KiB", "MiB", "GiB", "TiB" };
	unsigned int u = 0;

	while (u < 4 && bytes >= 1024 && bytes % 1024 == 0) {
		bytes /= 1024;
		u++;
	}
	snprintf(buf, len, "%llu %s", (unsigned long long)bytes, unit[u]);
}

int swap_file_create(const char *dir, uint64_t bytes, struct swap_io **out)
{
	uint64_t size = bytes / SWAP_PAGE * SWAP_PAGE;
	char path[4096], sz[32];
	struct swap_file *f;
	int err;

	if (bytes < SWAP_PAGE)
		return -GMM_EINVAL;
	if (!dir)
		dir = "/tmp";
	swap_file_fmt_size(sz, sizeof(sz), size);
	f = calloc(1, sizeof(*f));
	if (!f)
		return -GMM_ENOMEM;
	snprintf(path, sizeof(path), "%s/guestmm-swap-XXXXXX", dir);
	f->fd = mkstemp(path);
	if (f->fd < 0) {
		err = -errno;
		platform_log("swap file: cannot create one in %s: %s", dir,
			     strerror(-err));
		goto undo_alloc;
	}
	unlink(path);
	/* posix_fallocate() returns the error; EINTR: a signal came. */
	do
		err = -posix_fallocate(f->fd, 0, (off_t)size);
	while (err == -EINTR);
	if (err) {
		platform_log("swap file: cannot allocate %s in %s: %s", sz, dir,
			     strerror(-err));
		goto undo_open;
	}
	{
		struct statfs sf;

		if (!fstatfs(f->fd, &sf) && sf.f_type == TMPFS_MAGIC)
			platform_log("swap file: %s is a tmpfs: its %s are the host's RAM",
				     dir, sz);
	}
	f->io.ops = &swap_file_ops;
	f->io.nr_slots = size / SWAP_PAGE;
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
