/*
 * guest_memory.c - map a guest's RAM regions, translate and discard.
 *
 * Everything here is fed by an untrusted frontend, so a table is checked as
 * a whole before anything is mapped (guest_memory_check_layout(), which the
 * vhost-user parser also runs: every coordinate page-aligned, nothing
 * wrapping or overlapping), and mapped all or nothing.  Before mapping,
 * each file must be a regular file on tmpfs or hugetlbfs at least as long
 * as the region claims, because touching a shared mapping past the end of
 * its file raises SIGBUS; on hugetlbfs the region's offset and size must
 * also be whole pages of the file's own size, which mmap needs.  The file
 * system is told by F_GET_SEALS, which only tmpfs and hugetlbfs answer and
 * which never calls into the file's file system: fstat() or fstatfs() of a
 * FUSE file would ask its daemon, which may be the frontend, and never
 * answer.
 *
 * A frontend can still make us touch memory that is not there: it shrinks
 * its file after we mapped it, or gives a hugetlbfs file with no huge page
 * free to back the first touch.  Both raise SIGBUS in the thread that
 * touches, which must have armed a fault scope (guest_memory.h): the
 * handler leaves the access by siglongjmp() to the scope, so the work in
 * progress ends at its first fault whatever the page size, and nothing is
 * mapped to let it continue.
 *
 * A table is also refused before mapping when it is larger than the
 * memory's limit or would take the process's mappings of guest memory past
 * GUEST_MEMORY_PROCESS_MAX (guest_memory.h): @gm_process_mapped reserves a
 * new table's bytes before its mmap and gives an old table's back after its
 * munmap, so the total never undercounts what is mapped.
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
#include <sys/vfs.h>
#include <unistd.h>

/* @gm_sigbus_lock serialises gm_sigbus_install() (any owner thread). */
static pthread_mutex_t gm_sigbus_lock = PTHREAD_MUTEX_INITIALIZER;
static struct sigaction gm_sigbus_prev; /* whoever handled SIGBUS before */
/* Bytes of guest memory mapped (or reserved to be) by every table. */
static _Atomic uint64_t gm_process_mapped;

/* Reserve @bytes of the process total.  Return: 0, or -ENOSPC. */
static int gm_process_reserve(uint64_t bytes)
{
	uint64_t cur = atomic_load(&gm_process_mapped);

	do {
		if (bytes > GUEST_MEMORY_PROCESS_MAX ||
		    cur > GUEST_MEMORY_PROCESS_MAX - bytes)
			return -ENOSPC;
	} while (!atomic_compare_exchange_weak(&gm_process_mapped, &cur,
					       cur + bytes));
	return 0;
}

static void gm_process_release(uint64_t bytes)
{
	atomic_fetch_sub(&gm_process_mapped, bytes);
}

/* Bytes of guest memory the process has mapped.  Any thread. */
uint64_t guest_memory_process_mapped_bytes(void)
{
	return atomic_load(&gm_process_mapped);
}

/*
 * The scope this thread has armed, or NULL.  Only this thread and the
 * SIGBUS handler running on it read or write it; the fault is synchronous,
 * so the handler sees the scope and the table as the thread last wrote
 * them (guest_memory_map() ends with a signal fence for the table).
 */
static _Thread_local struct guest_memory_fault_scope *gm_scope;

/* Is @a inside one of @mem's mappings?  Async-signal-safe. */
static bool gm_mapped(const struct guest_memory *mem, uintptr_t a)
{
	unsigned int i;

	for (i = 0; i < mem->nr_regions; i++) {
		uintptr_t base = (uintptr_t)mem->regions[i].host;

		if (a >= base && a - base < mem->regions[i].size)
			return true;
	}
	return false;
}

static void gm_sigbus(int sig, siginfo_t *si, void *uc)
{
	struct guest_memory_fault_scope *s = gm_scope;
	struct sigaction dfl;

	/* si_code > 0: raised by the kernel for a fault, not sent. */
	if (si->si_code > 0 && s && gm_mapped(s->mem, (uintptr_t)si->si_addr)) {
		sigset_t bus;

		gm_scope = NULL;
		atomic_store(&s->mem->faulted, true);
		/* The scope was set without saving the mask (a system call
		 * per event saved): SIGBUS, blocked while we run, is the one
		 * signal to let through again. */
		sigemptyset(&bus);
		sigaddset(&bus, SIGBUS);
		pthread_sigmask(SIG_UNBLOCK, &bus, NULL);
		siglongjmp(s->env, 1);
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

/*
 * guest_memory_fault_arm - from here until guest_memory_fault_disarm(), a
 * fault of this thread inside @mem's regions returns from the sigsetjmp()
 * that filled @s->env (with 1), after setting @mem's faulted flag.  The
 * caller's sigsetjmp(@s->env, 0) must be in a frame that outlives the
 * scope, and nothing between may hold a lock or own a resource that the
 * jump would leak.  Scopes do not nest.
 */
void guest_memory_fault_arm(struct guest_memory_fault_scope *s,
			    struct guest_memory *mem)
{
	s->mem = mem;
	atomic_signal_fence(memory_order_seq_cst);
	gm_scope = s;
	atomic_signal_fence(memory_order_seq_cst);
}

void guest_memory_fault_disarm(void)
{
	atomic_signal_fence(memory_order_seq_cst);
	gm_scope = NULL;
	atomic_signal_fence(memory_order_seq_cst);
}

static void gm_close_default(void *ctx, int fd)
{
	(void)ctx;
	close(fd);
}

void guest_memory_init(struct guest_memory *mem)
{
	memset(mem, 0, sizeof(*mem));
	pthread_mutex_init(&mem->lock, NULL);
	mem->close_fd = gm_close_default;
	atomic_init(&mem->max_bytes, GUEST_MEMORY_DEFAULT_MAX);
}

/*
 * guest_memory_set_max_bytes - refuse tables larger than @bytes from now on
 * (the table in force stays).  Any thread.
 */
void guest_memory_set_max_bytes(struct guest_memory *mem, uint64_t bytes)
{
	atomic_store(&mem->max_bytes, bytes);
}

/*
 * guest_memory_set_closer - close the table's files with @close_fd(@ctx,
 * fd) instead of close(): the owner may not want its thread to be the one
 * that does the last close of a frontend's file.  Before the first map.
 */
void guest_memory_set_closer(struct guest_memory *mem,
			     void (*close_fd)(void *ctx, int fd), void *ctx)
{
	mem->close_fd = close_fd;
	mem->close_ctx = ctx;
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
 * Return: 0; -EINVAL for no regions, a region of size 0, or one whose
 * guest address, size, user address or file offset is not a multiple of
 * GUEST_MEMORY_PAGE_SIZE; -E2BIG for more than GUEST_MEMORY_MAX_REGIONS;
 * -EOVERFLOW for a
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
		/* QEMU and user-mode Linux only send such; a host pointer
		 * is then aligned as its guest address is. */
		if ((r->gpa | r->size | r->uaddr | r->fd_offset) %
		    GUEST_MEMORY_PAGE_SIZE)
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

static void region_unmap(struct guest_memory *mem,
			 struct guest_memory_region *r)
{
	munmap(r->host, r->size);
	mem->close_fd(mem->close_ctx, r->fd);
}

/*
 * Map one region from @fd; on failure nothing is left mapped.
 * Return: 0; -EINVAL for a file that is not a regular file on tmpfs or
 * hugetlbfs, or a region that is not whole pages of a hugetlbfs file;
 * -ERANGE for a file shorter than the region; -EOVERFLOW for a size that
 * does not fit a size_t; or fcntl's, fstat's, fstatfs's or mmap's errno.
 */
static int region_map(struct guest_memory_region *r,
		      const struct guest_memory_layout *l, int fd)
{
	struct statfs sfs;
	struct stat st;
	void *p;

	/* tmpfs or hugetlbfs, asked of the inode, not of its file system
	 * (see the top); after this, fstat and fstatfs cannot wait. */
	if (fcntl(fd, F_GET_SEALS) < 0)
		return errno == EINVAL ? -EINVAL : -errno;
	if (fstat(fd, &st))
		return -errno;
	if (!S_ISREG(st.st_mode))
		return -EINVAL;
	if (fstatfs(fd, &sfs))
		return -errno;
	if (sfs.f_type != TMPFS_MAGIC && sfs.f_type != HUGETLBFS_MAGIC)
		return -EINVAL;
	/* A hugetlbfs file maps in its own pages only. */
	if (sfs.f_type == HUGETLBFS_MAGIC &&
	    (sfs.f_bsize <= 0 ||
	     (l->fd_offset | l->size) % (uint64_t)sfs.f_bsize))
		return -EINVAL;
	if ((uint64_t)st.st_size < l->fd_offset + l->size)
		return -ERANGE;
	if (l->size > SIZE_MAX)
		return -EOVERFLOW;
	p = mmap(NULL, (size_t)l->size, PROT_READ | PROT_WRITE,
		 MAP_SHARED | MAP_NORESERVE, fd, (off_t)l->fd_offset);
	if (p == MAP_FAILED)
		return -errno;
	*r = (struct guest_memory_region){
		.gpa = l->gpa,
		.size = l->size,
		.uaddr = l->uaddr,
		.fd_offset = l->fd_offset,
		.host = p,
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
 * descriptor that is not a regular file on tmpfs or hugetlbfs, or a region
 * that is not whole pages of a hugetlbfs file; -ERANGE for a file shorter
 * than its region; -EFBIG for a table larger than the memory's limit;
 * -ENOSPC when the process's tables would pass GUEST_MEMORY_PROCESS_MAX
 * with it; the errno of installing the SIGBUS handler; or mmap's,
 * fcntl's, fstat's or fstatfs's errno (-EACCES, -ENODEV, -ENOMEM,
 * -EBADF...).
 */
int guest_memory_map(struct guest_memory *mem,
		     const struct guest_memory_layout *layout, const int *fds,
		     unsigned int n)
{
	struct guest_memory_region fresh[GUEST_MEMORY_MAX_REGIONS];
	uint64_t bytes = 0, old;
	unsigned int i;
	int err;

	err = guest_memory_check_layout(layout, n);
	if (err)
		return err;
	/* Each size is below 2^63 (checked above): no sum of two wraps. */
	for (i = 0; i < n; i++) {
		bytes += layout[i].size;
		if (bytes > atomic_load(&mem->max_bytes))
			return -EFBIG;
	}
	err = gm_sigbus_install();
	if (err)
		return err;
	err = gm_process_reserve(bytes);
	if (err)
		return err;
	for (i = 0; i < n; i++) {
		err = region_map(&fresh[i], &layout[i], fds[i]);
		if (err)
			goto undo_map;
	}

	pthread_mutex_lock(&mem->lock);
	for (i = 0; i < mem->nr_regions; i++)
		region_unmap(mem, &mem->regions[i]);
	memcpy(mem->regions, fresh, n * sizeof(fresh[0]));
	mem->nr_regions = n;
	old = mem->mapped_bytes;
	mem->mapped_bytes = bytes;
	atomic_store(&mem->faulted, false); /* a fault was the old table's */
	pthread_mutex_unlock(&mem->lock);
	gm_process_release(old);
	/* The table is what this thread's SIGBUS handler reads. */
	atomic_signal_fence(memory_order_seq_cst);
	return 0;

undo_map:
	while (i--)
		munmap(fresh[i].host, fresh[i].size); /* the caller's fds */
	gm_process_release(bytes);
	return err;
}

void guest_memory_unmap(struct guest_memory *mem)
{
	unsigned int i;
	uint64_t old;

	pthread_mutex_lock(&mem->lock);
	for (i = 0; i < mem->nr_regions; i++)
		region_unmap(mem, &mem->regions[i]);
	mem->nr_regions = 0;
	old = mem->mapped_bytes;
	mem->mapped_bytes = 0;
	atomic_store(&mem->faulted, false);
	pthread_mutex_unlock(&mem->lock);
	gm_process_release(old);
	atomic_signal_fence(memory_order_seq_cst);
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
