/*
 * guest_memory.c - map a guest's RAM regions, translate and discard.
 *
 * Everything here is fed by an untrusted frontend, so a table is checked as
 * a whole before anything is mapped (guest_memory_check_layout(), which the
 * vhost-user parser also runs), and mapped all or nothing: a region that
 * fails to map unmaps the ones mapped before it and leaves the old table in
 * place.  Before mapping, each file must be a regular file at least as long
 * as the region claims, because touching a shared mapping past the end of
 * its file raises SIGBUS.  (A frontend that shrinks its file afterwards can
 * still do that unless the file is sealed against shrinking; the same holds
 * for every vhost-user backend that maps guest memory.)
 *
 * Lookups scan the at most eight regions; there is no cache to invalidate.
 */
#ifndef _GNU_SOURCE
#define _GNU_SOURCE
#endif
#include "host/guest_memory.h"

#include <errno.h>
#include <fcntl.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <unistd.h>

void guest_memory_init(struct guest_memory *mem)
{
	memset(mem, 0, sizeof(*mem));
	pthread_mutex_init(&mem->lock, NULL);
}

void guest_memory_destroy(struct guest_memory *mem)
{
	guest_memory_unmap(mem);
	pthread_mutex_destroy(&mem->lock);
}

/* Do [a, a + alen) and [b, b + blen) meet?  Neither wraps. */
static bool ranges_overlap(uint64_t a, uint64_t alen, uint64_t b,
			   uint64_t blen)
{
	return a < b + blen && b < a + alen;
}

/*
 * guest_memory_check_layout - is @layout a table we could map?
 * Return: 0; -EINVAL for no regions or a region of size 0; -E2BIG for
 * more than GUEST_MEMORY_MAX_REGIONS; -EOVERFLOW for a
 * region whose guest, user or file range wraps (or whose file end does not
 * fit an off_t); -EEXIST when two regions overlap in guest-physical or user
 * addresses.
 */
int guest_memory_check_layout(const struct guest_memory_layout *layout,
			      unsigned int n)
{
	unsigned int i, j;

	if (n == 0)
		return -EINVAL;
	if (n > GUEST_MEMORY_MAX_REGIONS)
		return -E2BIG;
	for (i = 0; i < n; i++) {
		const struct guest_memory_layout *r = &layout[i];

		if (r->size == 0)
			return -EINVAL;
		if (r->gpa > UINT64_MAX - r->size ||
		    r->uaddr > UINT64_MAX - r->size ||
		    r->fd_offset > (uint64_t)INT64_MAX - r->size)
			return -EOVERFLOW;
		for (j = 0; j < i; j++) {
			if (ranges_overlap(r->gpa, r->size, layout[j].gpa,
					   layout[j].size) ||
			    ranges_overlap(r->uaddr, r->size, layout[j].uaddr,
					   layout[j].size))
				return -EEXIST;
		}
	}
	return 0;
}

static void region_unmap(struct guest_memory_region *r)
{
	munmap(r->map_base, r->map_len);
	close(r->fd);
}

/* Map one region from @fd; on failure nothing is left mapped. */
static int region_map(struct guest_memory_region *r,
		      const struct guest_memory_layout *l, int fd)
{
	long page = sysconf(_SC_PAGESIZE);
	uint64_t start, skew;
	struct stat st;
	void *p;

	if (fstat(fd, &st))
		return -errno;
	if (!S_ISREG(st.st_mode))
		return -EINVAL;
	if ((uint64_t)st.st_size < l->fd_offset + l->size)
		return -ERANGE;
	/* mmap wants a page-aligned offset; map from the page below. */
	start = l->fd_offset & ~((uint64_t)page - 1);
	skew = l->fd_offset - start;
	if (l->size > SIZE_MAX - skew)
		return -EOVERFLOW;
	p = mmap(NULL, (size_t)(l->size + skew), PROT_READ | PROT_WRITE,
		 MAP_SHARED | MAP_NORESERVE, fd, (off_t)start);
	if (p == MAP_FAILED)
		return -errno;
	*r = (struct guest_memory_region){
		.gpa = l->gpa,
		.size = l->size,
		.uaddr = l->uaddr,
		.fd_offset = l->fd_offset,
		.host = (uint8_t *)p + skew,
		.map_base = p,
		.map_len = (size_t)(l->size + skew),
		.fd = fd,
	};
	return 0;
}

/*
 * guest_memory_map - replace the table with @n regions mapped from @fds.
 * On success the table owns @fds and the old regions are unmapped and their
 * descriptors closed.  On failure the old table is untouched, nothing new
 * stays mapped and the caller still owns @fds.
 * Return: 0; the errors of guest_memory_check_layout(); -EINVAL for a
 * descriptor that is not a regular file; -ERANGE for a file shorter than its
 * region; or mmap's or fstat's errno (-EACCES, -ENODEV, -ENOMEM, -EBADF...).
 */
int guest_memory_map(struct guest_memory *mem,
		     const struct guest_memory_layout *layout, const int *fds,
		     unsigned int n)
{
	struct guest_memory_region fresh[GUEST_MEMORY_MAX_REGIONS];
	unsigned int i;
	int err;

	err = guest_memory_check_layout(layout, n);
	if (err)
		return err;
	for (i = 0; i < n; i++) {
		err = region_map(&fresh[i], &layout[i], fds[i]);
		if (err)
			goto undo_map;
	}

	pthread_mutex_lock(&mem->lock);
	for (i = 0; i < mem->nr_regions; i++)
		region_unmap(&mem->regions[i]);
	memcpy(mem->regions, fresh, n * sizeof(fresh[0]));
	mem->nr_regions = n;
	pthread_mutex_unlock(&mem->lock);
	return 0;

undo_map:
	while (i--)
		munmap(fresh[i].map_base, fresh[i].map_len);
	return err;
}

void guest_memory_unmap(struct guest_memory *mem)
{
	unsigned int i;

	pthread_mutex_lock(&mem->lock);
	for (i = 0; i < mem->nr_regions; i++)
		region_unmap(&mem->regions[i]);
	mem->nr_regions = 0;
	pthread_mutex_unlock(&mem->lock);
}

/* The region holding all of [gpa, gpa + len), or NULL. */
static struct guest_memory_region *region_find(struct guest_memory *mem,
					       uint64_t gpa, uint64_t len)
{
	unsigned int i;

	for (i = 0; i < mem->nr_regions; i++) {
		struct guest_memory_region *r = &mem->regions[i];

		if (gpa >= r->gpa && gpa - r->gpa < r->size &&
		    len <= r->size - (gpa - r->gpa))
			return r;
	}
	return NULL;
}

/*
 * guest_memory_translate - the device half's translate callback.
 * Return: the host address of @gpa, or NULL unless [@gpa, @gpa + @len) lies
 * wholly inside one region (a range may not straddle two regions even when
 * they are adjacent: their host mappings are not).
 */
void *guest_memory_translate(void *ctx, uint64_t gpa, uint64_t len,
			     bool write)
{
	struct guest_memory_region *r = region_find(ctx, gpa, len);

	(void)write; /* every region is mapped writable */
	return r ? r->host + (gpa - r->gpa) : NULL;
}

/*
 * guest_memory_uaddr_to_gpa - the guest-physical address of the frontend's
 * user address @uaddr.
 * Return: 0 with *@gpa set; -EFAULT when no region holds @uaddr.
 */
int guest_memory_uaddr_to_gpa(const struct guest_memory *mem, uint64_t uaddr,
			      uint64_t *gpa)
{
	unsigned int i;

	for (i = 0; i < mem->nr_regions; i++) {
		const struct guest_memory_region *r = &mem->regions[i];

		if (uaddr >= r->uaddr && uaddr - r->uaddr < r->size) {
			*gpa = r->gpa + (uaddr - r->uaddr);
			return 0;
		}
	}
	return -EFAULT;
}

/*
 * guest_memory_discard - give the host back the memory behind
 * [@gpa, @gpa + @len): the guest reads zeros there afterwards.
 * Return: 0; -EINVAL when @len is 0 or the range is not aligned to
 * GUEST_MEMORY_PAGE_SIZE; -EFAULT when it is not inside one region; or
 * fallocate's errno (-EOPNOTSUPP for a file system that cannot punch holes).
 */
int guest_memory_discard(struct guest_memory *mem, uint64_t gpa, uint64_t len)
{
	struct guest_memory_region *r;

	if (len == 0 || (gpa | len) % GUEST_MEMORY_PAGE_SIZE)
		return -EINVAL;
	r = region_find(mem, gpa, len);
	if (!r)
		return -EFAULT;
	if (fallocate(r->fd, FALLOC_FL_PUNCH_HOLE | FALLOC_FL_KEEP_SIZE,
		      (off_t)(r->fd_offset + (gpa - r->gpa)), (off_t)len))
		return -errno;
	return 0;
}

/*
 * guest_memory_resident_bytes - bytes of the backing files the host has
 * allocated (st_blocks), each file counted once however many regions share
 * it.  The whole file counts, not only the mapped ranges: that is what the
 * host pays for.  Safe from any thread.
 */
uint64_t guest_memory_resident_bytes(struct guest_memory *mem)
{
	struct stat seen[GUEST_MEMORY_MAX_REGIONS];
	unsigned int i, j, nseen = 0;
	uint64_t bytes = 0;

	pthread_mutex_lock(&mem->lock);
	for (i = 0; i < mem->nr_regions; i++) {
		struct stat st;

		if (fstat(mem->regions[i].fd, &st))
			continue;
		for (j = 0; j < nseen; j++)
			if (seen[j].st_dev == st.st_dev &&
			    seen[j].st_ino == st.st_ino)
				break;
		if (j < nseen)
			continue;
		seen[nseen++] = st;
		bytes += (uint64_t)st.st_blocks * 512;
	}
	pthread_mutex_unlock(&mem->lock);
	return bytes;
}

/* Total guest RAM the table describes.  Safe from any thread. */
uint64_t guest_memory_total_bytes(struct guest_memory *mem)
{
	uint64_t bytes = 0;
	unsigned int i;

	pthread_mutex_lock(&mem->lock);
	for (i = 0; i < mem->nr_regions; i++)
		bytes += mem->regions[i].size;
	pthread_mutex_unlock(&mem->lock);
	return bytes;
}
