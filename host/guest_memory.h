/*
 * guest_memory.h - a guest's RAM as the host sees it.
 *
 * A guest's RAM is up to GUEST_MEMORY_MAX_REGIONS regions.  Each region is
 * a range of guest-physical addresses, backed by a range of a file that the
 * guest (or its VMM) shares with us by descriptor, and mapped into this
 * process.  The vhost-user frontend also names each region by the address it
 * has it mapped at in its own process (uaddr), because vring addresses come
 * in that form.
 *
 * Three things are asked of it: translate a guest-physical range to a pointer
 * (the virtqueue device half's translate callback, which must refuse any
 * range not wholly inside one region), discard a range so that the host gets
 * the memory back (fallocate PUNCH_HOLE on the backing file: the pages leave
 * the page cache and every mapping, ours and the guest's), and say how much
 * of the backing files is resident (st_blocks, the host's own accounting).
 *
 * Locking: the table is changed only by its owner (the transport's thread),
 * and always under @lock; the owner reads it without the lock.  Any other
 * thread reads it only under @lock (guest_memory_resident_bytes()).
 *
 * The frontend can shrink a backing file after we mapped it (touching a
 * shared mapping past the end of its file raises SIGBUS), or give a
 * hugetlbfs file that has no huge page free to back the first touch (the
 * same).  Every touch of guest memory therefore happens inside a *fault
 * scope* that the touching thread armed (guest_memory_fault_arm()) after a
 * sigsetjmp(): a SIGBUS of that thread inside the scope's regions sets
 * @faulted and jumps back there, so the work in progress ends at its first
 * fault, whatever the page size; the owner then drops the guest.  A fault
 * anywhere else, or on a thread without a scope, goes to the handler
 * installed before ours, or kills the process as it would have.  Backing
 * files must be on tmpfs or hugetlbfs (memfds are), so that touching guest
 * memory never waits on a file system the frontend could serve itself
 * (FUSE).
 *
 * A discard budget, when the owner sets one, tells the device how much more
 * discard work it should start before giving the owner back its thread.
 */
#ifndef GUESTMM_HOST_GUEST_MEMORY_H
#define GUESTMM_HOST_GUEST_MEMORY_H

#include <pthread.h>
#include <setjmp.h>
#include <stdatomic.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

/* vhost-user's limit; also plenty for a process guest. */
#define GUEST_MEMORY_MAX_REGIONS 8

/* The unit of discard: the host page.  Reports must be aligned to it. */
#define GUEST_MEMORY_PAGE_SIZE 4096u

/*
 * Address space.  A region costs us its size in address space whatever its
 * file holds (a sparse memfd of 64 TiB costs nothing to make, and a
 * MAP_NORESERVE shared mapping carries no commit charge), and the address
 * space is the process's: a frontend that could map what it liked would
 * leave the other devices, and the host itself, unable to mmap, malloc big
 * or start a thread.  So a table is refused before anything is mapped when
 * it is larger than its memory's limit (GUEST_MEMORY_DEFAULT_MAX unless
 * the owner sets another: a guest-RAM limit), or when the process's tables,
 * together with it, would pass GUEST_MEMORY_PROCESS_MAX.  The process total
 * counts the old table and the new one while both are mapped (a table is
 * mapped before the one it replaces goes).  x86-64 user space is 128 TiB
 * (4-level paging): half of it for guests leaves the host the rest; 256
 * GiB a device is more RAM than any guest we run, and 256 such tables fit.
 */
#define GUEST_MEMORY_DEFAULT_MAX (UINT64_C(256) << 30)
#define GUEST_MEMORY_PROCESS_MAX (UINT64_C(64) << 40)

/* A region as a frontend describes it. */
struct guest_memory_layout {
	uint64_t gpa; /* first guest-physical address */
	uint64_t size; /* bytes, > 0 */
	uint64_t uaddr; /* where the frontend has it mapped */
	uint64_t fd_offset; /* where it starts in the backing file */
};

struct guest_memory_region {
	uint64_t gpa;
	uint64_t size;
	uint64_t uaddr;
	uint64_t fd_offset;
	uint8_t *host; /* the mmap() of [fd_offset, fd_offset + size) */
	int fd; /* owned: closed (by close_fd) when the region is unmapped */
};

/*
 * Invariants: regions[0 .. nr_regions) are mapped, their guest-physical
 * ranges are pairwise disjoint and so are their uaddr ranges; for every
 * region gpa, size, uaddr and fd_offset are multiples of
 * GUEST_MEMORY_PAGE_SIZE (of the file's page size, on hugetlbfs), gpa +
 * size, uaddr + size and fd_offset + size do not wrap, and fd_offset + size
 * <= the file's size when it was mapped.
 */
struct guest_memory {
	pthread_mutex_t lock; /* see the top of this file */
	unsigned int nr_regions;
	struct guest_memory_region regions[GUEST_MEMORY_MAX_REGIONS];
	/* Set by the SIGBUS handler; cleared when the table is replaced. */
	atomic_bool faulted;
	/* How the owner closes the files it gave the table; set once. */
	void (*close_fd)(void *ctx, int fd);
	void *close_ctx;
	/* The largest table this memory maps (bytes); any thread sets it. */
	_Atomic uint64_t max_bytes;
	/* Sum of the mapped regions' sizes: what the process total holds. */
	uint64_t mapped_bytes;
	/* Owner only: discard calls left this round, when @discard_limited. */
	unsigned int discard_budget;
	bool discard_limited;
};

/* A fault scope: see the top of this file and guest_memory_fault_arm(). */
struct guest_memory_fault_scope {
	sigjmp_buf env;
	struct guest_memory *mem;
};

void guest_memory_init(struct guest_memory *mem);
void guest_memory_set_closer(struct guest_memory *mem,
			     void (*close_fd)(void *ctx, int fd), void *ctx);
void guest_memory_set_max_bytes(struct guest_memory *mem, uint64_t bytes);
uint64_t guest_memory_process_mapped_bytes(void);
void guest_memory_fault_arm(struct guest_memory_fault_scope *s,
			    struct guest_memory *mem);
void guest_memory_fault_disarm(void);
/* Unmaps everything; @mem may be initialised again. */
void guest_memory_destroy(struct guest_memory *mem);

int guest_memory_check_layout(const struct guest_memory_layout *layout,
			      unsigned int n);
int guest_memory_map(struct guest_memory *mem,
		     const struct guest_memory_layout *layout, const int *fds,
		     unsigned int n);
void guest_memory_unmap(struct guest_memory *mem);

static inline bool guest_memory_mapped(const struct guest_memory *mem)
{
	return mem->nr_regions != 0;
}

/* Did a touch of the table's memory fault?  Owner only. */
static inline bool guest_memory_faulted(const struct guest_memory *mem)
{
	return atomic_load(&mem->faulted);
}

void guest_memory_set_discard_budget(struct guest_memory *mem,
				     unsigned int calls);
bool guest_memory_may_discard(const struct guest_memory *mem);

/* A vring_translate_fn: @ctx is the struct guest_memory. */
void *guest_memory_translate(void *ctx, uint64_t gpa, uint64_t len,
			     bool write);
int guest_memory_uaddr_to_gpa(const struct guest_memory *mem, uint64_t uaddr,
			      uint64_t *gpa);
int guest_memory_discard(struct guest_memory *mem, uint64_t gpa, uint64_t len);
uint64_t guest_memory_resident_bytes(struct guest_memory *mem);
uint64_t guest_memory_total_bytes(struct guest_memory *mem);

#endif
