/*
 * guest_memory.c - map a guest's RAM regions, translate and discard.
 *
 * Everything here is fed by an untrusted frontend, so a table is checked as
 * a whole before anything is mapped (guest_memory_check_layout(), which the
 * vhost-user parser also runs), and mapped all or nothing: a region that
 * fails to map unmaps the ones mapped before it and leaves the old table in
 * place.  Before mapping, each file must be a regular file on tmpfs or
 * hugetlbfs at least as long as the region claims, because touching a
 * shared mapping past the end of its file raises SIGBUS.  A frontend that
 * shrinks its file afterwards still makes us touch past the end; the SIGBUS
 * handler below turns that into a zero page and a flag (see
 * guest_memory.h), which costs the guest its connection, not us our life.
 *
 * Lookups scan the at most eight regions; there is no cache to invalidate.
 */
#ifndef _GNU_SOURCE
#define _GNU_SOURCE
#endif
#include "host/guest_memory.h"

#include <errno.h>
#include <fcntl.h>
#include <linux/magic.h>
#include <signal.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <sys/vfs.h>
#include <unistd.h>

/* Every region of 16 devices with a full table. */
#define GM_FAULT_SLOTS 128

/*
 * The SIGBUS table.  A slot is free while @mem is NULL.  Its user claims it
 * by compare-and-swap on @mem, then publishes @start before @end; it clears
 * @end before @start before freeing it.  The handler reads it without a
 * lock (it may have interrupted a user), and every intermediate state reads
 * as an empty range.
 */
struct gm_fault_slot {
	_Atomic(struct guest_memory *) mem;
	_Atomic uintptr_t start, end; /* [start, end): the mmap() */
};

static struct gm_fault_slot gm_fault_table[GM_FAULT_SLOTS];
/* @gm_sigbus_lock serialises gm_sigbus_install() (any owner thread). */
static pthread_mutex_t gm_sigbus_lock = PTHREAD_MUTEX_INITIALIZER;
static struct sigaction gm_sigbus_prev; /* whoever handled SIGBUS before */
static _Atomic uintptr_t gm_page_size;

/* An anonymous zero page over @page: async-signal-safe, and no sanitizer's
 * mmap interceptor in a signal handler. */
static bool gm_zero_page(uintptr_t page)
{
#ifdef SYS_mmap
	return syscall(SYS_mmap, page, atomic_load(&gm_page_size), PROT_READ | PROT_WRITE,
		       MAP_PRIVATE | MAP_ANONYMOUS | MAP_FIXED, -1, 0) != -1;
#else
	return mmap((void *)page, atomic_load(&gm_page_size), PROT_READ | PROT_WRITE,
		    MAP_PRIVATE | MAP_ANONYMOUS | MAP_FIXED, -1, 0) != MAP_FAILED;
#endif
}

static void gm_sigbus(int sig, siginfo_t *si, void *uc)
{
	uintptr_t a = (uintptr_t)si->si_addr;
	struct sigaction dfl;
	unsigned int i;

	/* si_code > 0: raised by the kernel for a fault, not sent. */
	for (i = 0; si->si_code > 0 && i < GM_FAULT_SLOTS; i++) {
		struct gm_fault_slot *s = &gm_fault_table[i];
		struct guest_memory *mem = atomic_load(&s->mem);

		if (!mem || a < atomic_load(&s->start) ||
		    a >= atomic_load(&s->end))
			continue;
		if (!gm_zero_page(a & ~(atomic_load(&gm_page_size) - 1)))
			break;
		atomic_store(&mem->faulted, true);
		return; /* the access is retried, and reads zeros */
	}
	if ((gm_sigbus_prev.sa_flags & SA_SIGINFO) &&
	    gm_sigbus_prev.sa_sigaction) {
		gm_sigbus_prev.sa_sigaction(sig, si, uc);
		return;
	}
	if (!(gm_sigbus_prev.sa_flags & SA_SIGINFO) &&
	    gm_sigbus_prev.sa_handler != SIG_DFL &&
	    gm_sigbus_prev.sa_handler != SIG_IGN) {
		gm_sigbus_prev.sa_handler(sig);
		return;
	}
	/* Die as we would have: a fault recurs on return, a sent signal is
	 * raised again (it stays pending until we return). */
	memset(&dfl, 0, sizeof(dfl));
	dfl.sa_handler = SIG_DFL;
	sigaction(sig, &dfl, NULL);
	if (si->si_code <= 0)
		raise(sig);
}

/*
 * Make gm_sigbus() the SIGBUS handler, chaining to the one in place.  Run
 * before every mapping, not once: a library that installs its own handler
 * later (a test framework does, per test) would otherwise leave our
 * regions unprotected.
 * Return: 0, or sigaction's errno.
 */
static int gm_sigbus_install(void)
{
	struct sigaction cur, sa;
	int err = 0;

	pthread_mutex_lock(&gm_sigbus_lock);
	atomic_store(&gm_page_size, (uintptr_t)sysconf(_SC_PAGESIZE));
	if (sigaction(SIGBUS, NULL, &cur) < 0) {
		err = -errno;
	} else if (!(cur.sa_flags & SA_SIGINFO) ||
		   cur.sa_sigaction != gm_sigbus) {
		memset(&sa, 0, sizeof(sa));
		sa.sa_sigaction = gm_sigbus;
		sa.sa_flags = SA_SIGINFO;
		sigemptyset(&sa.sa_mask);
		/* Set before ours is in place: it reads it. */
		gm_sigbus_prev = cur;
		if (sigaction(SIGBUS, &sa, NULL) < 0)
			err = -errno;
	}
	pthread_mutex_unlock(&gm_sigbus_lock);
	return err;
}

/* Return: 0 with *@slot set; -ENOSPC when the table is full. */
static int gm_fault_claim(struct guest_memory *mem, void *base, size_t len,
			  unsigned int *slot)
{
	unsigned int i;

	for (i = 0; i < GM_FAULT_SLOTS; i++) {
		struct gm_fault_slot *s = &gm_fault_table[i];
		struct guest_memory *none = NULL;

		if (!atomic_compare_exchange_strong(&s->mem, &none, mem))
			continue;
		atomic_store(&s->start, (uintptr_t)base);
		atomic_store(&s->end, (uintptr_t)base + len);
		*slot = i;
		return 0;
	}
	return -ENOSPC;
}

static void gm_fault_release(unsigned int slot)
{
	struct gm_fault_slot *s = &gm_fault_table[slot];

	atomic_store(&s->end, 0);
	atomic_store(&s->start, 0);
	atomic_store(&s->mem, NULL);
}

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

/* Leaves @r->fd open: the caller decides whether it owns it. */
static void region_unmap_only(struct guest_memory_region *r)
{
	/* Out of the table first: nothing else is there once it is gone. */
	gm_fault_release(r->fault_slot);
	munmap(r->map_base, r->map_len);
}

static void region_unmap(struct guest_memory_region *r)
{
	region_unmap_only(r);
	close(r->fd);
}

/* Map one region from @fd; on failure nothing is left mapped. */
static int region_map(struct guest_memory *mem, struct guest_memory_region *r,
		      const struct guest_memory_layout *l, int fd)
{
	long page = sysconf(_SC_PAGESIZE);
	uint64_t start, skew;
	struct statfs sfs;
	struct stat st;
	unsigned int slot;
	void *p;
	int err;

	if (fstat(fd, &st))
		return -errno;
	if (!S_ISREG(st.st_mode))
		return -EINVAL;
	/* Memory, not a file system that could make us wait (FUSE, NFS). */
	if (fstatfs(fd, &sfs))
		return -errno;
	if (sfs.f_type != TMPFS_MAGIC && sfs.f_type != HUGETLBFS_MAGIC)
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
	err = gm_fault_claim(mem, p, (size_t)(l->size + skew), &slot);
	if (err) {
		munmap(p, (size_t)(l->size + skew));
		return err;
	}
	*r = (struct guest_memory_region){
		.gpa = l->gpa,
		.size = l->size,
		.uaddr = l->uaddr,
		.fd_offset = l->fd_offset,
		.host = (uint8_t *)p + skew,
		.map_base = p,
		.map_len = (size_t)(l->size + skew),
		.fd = fd,
		.fault_slot = slot,
	};
	return 0;
}

/*
 * guest_memory_map - replace the table with @n regions mapped from @fds.
 * On success the table owns @fds and the old regions are unmapped and their
 * descriptors closed.  On failure the old table is untouched, nothing new
 * stays mapped and the caller still owns @fds.
 * Return: 0; the errors of guest_memory_check_layout(); -EINVAL for a
 * descriptor that is not a regular file on tmpfs or hugetlbfs; -ERANGE for
 * a file shorter than its region; -ENOSPC when the process maps too many
 * regions to protect another; the errno of installing the SIGBUS handler;
 * or mmap's, fstat's or fstatfs's errno (-EACCES, -ENODEV, -ENOMEM,
 * -EBADF...).
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
	err = gm_sigbus_install();
	if (err)
		return err;
	for (i = 0; i < n; i++) {
		err = region_map(mem, &fresh[i], &layout[i], fds[i]);
		if (err)
			goto undo_map;
	}

	pthread_mutex_lock(&mem->lock);
	for (i = 0; i < mem->nr_regions; i++)
		region_unmap(&mem->regions[i]);
	memcpy(mem->regions, fresh, n * sizeof(fresh[0]));
	mem->nr_regions = n;
	atomic_store(&mem->faulted, false); /* a fault was the old table's */
	pthread_mutex_unlock(&mem->lock);
	return 0;

undo_map:
	while (i--)
		region_unmap_only(&fresh[i]);
	return err;
}

void guest_memory_unmap(struct guest_memory *mem)
{
	unsigned int i;

	pthread_mutex_lock(&mem->lock);
	for (i = 0; i < mem->nr_regions; i++)
		region_unmap(&mem->regions[i]);
	mem->nr_regions = 0;
	atomic_store(&mem->faulted, false);
	pthread_mutex_unlock(&mem->lock);
}

/*
 * guest_memory_set_discard_budget - from now on, guest_memory_may_discard()
 * holds while fewer than @calls discards have been made since.  The owner
 * renews it every round; without a budget set, it always holds.
 */
void guest_memory_set_discard_budget(struct guest_memory *mem,
				     unsigned int calls)
{
	mem->discard_budget = calls;
	mem->discard_limited = true;
}

/* Should the device start more discard work now?  Owner only. */
bool guest_memory_may_discard(const struct guest_memory *mem)
{
	return !mem->discard_limited || mem->discard_budget > 0;
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
	/* Work already taken on is finished even past the budget: the
	 * device checks guest_memory_may_discard() before taking more. */
	if (mem->discard_budget)
		mem->discard_budget--;
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
