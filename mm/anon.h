/*
 * anon.h - anonymous memory over a node: address spaces whose pages are
 * faulted in on access, reclaimed into zswap or a swap file under memory
 * pressure, and faulted back bit for bit.
 */
#ifndef GUESTMM_MM_ANON_H
#define GUESTMM_MM_ANON_H

#include "mm/zswap.h"

struct anon_config {
	struct swap_io *swap;	    /* the swap device's store; required */
	bool zswap;		    /* a zswap in front of it; default on */
	struct zswap_config zswap_cfg;
	bool kswapd;		    /* a background reclaim worker; default on */
};

void anon_config_init(struct anon_config *cfg);

/*
 * anon_init - page_ext, LRU lists, the swap device, zswap and kswapd for
 * @pgdat.  Return: 0; -GMM_EINVAL (no swap store); -GMM_EEXIST (set up
 * already); -GMM_ENOMEM; or zswap_create()'s errors.  Nothing is left set
 * up on failure.
 */
int anon_init(struct pglist_data *pgdat, const struct anon_config *cfg);
/* Every space must have been destroyed. */
void anon_fini(struct pglist_data *pgdat);

/* Return: 0 with *@out; -GMM_ENOMEM. */
int mm_space_create(struct pglist_data *pgdat, struct mm_space **out);
/* Unmaps everything and drops the owner's reference. */
void mm_space_destroy(struct mm_space *mm);

/*
 * mm_mmap - map [@addr, @addr + @len) anonymous, page aligned, empty.
 * Return: 0; -GMM_EINVAL (unaligned, empty, past the space's 512 GiB);
 * -GMM_EEXIST (overlaps a mapping); -GMM_ENOMEM (too many mappings).
 */
int mm_mmap(struct mm_space *mm, uint64_t addr, uint64_t len);
/*
 * mm_munmap - remove the mapping that is exactly [@addr, @addr + @len),
 * freeing its pages and swap slots.  Return: 0; -GMM_EINVAL otherwise.
 */
int mm_munmap(struct mm_space *mm, uint64_t addr, uint64_t len);

/*
 * access_page - the frame behind @addr, faulted in if it is not present
 * (a new zeroed page, or the page read back from zswap or swap), marked
 * referenced (and dirty for @write), and pinned: it stays mapped in memory
 * until put_page().  Use page_address() for its bytes.
 * Return: 0; -GMM_EFAULT (no mapping there); -GMM_ENOMEM; -GMM_EHWPOISON
 * (the page's data is lost: its swap read failed, now or at an earlier
 * access.  Its PTE keeps the poisoned swap entry, so every access fails
 * so until the page is unmapped: the caller ends the task that owns the
 * space, as Linux's SIGBUS does).
 */
int access_page(struct mm_space *mm, uint64_t addr, bool write,
		struct page **out);
/*
 * Faults (PGFAULT: a PTE installed, a new page or a swap-in) the calling
 * thread has taken in access_page(), so a caller can tell a fault from a
 * hit (the working-set workload times its faults).
 */
uint64_t access_page_thread_faults(void);

/* Reclaim up to @nr pages now.  Return: the pages freed. */
uint64_t shrink_node(struct lruvec *lv, uint64_t nr);
/*
 * try_to_free_pages - one round of direct reclaim on @pgdat for up to @nr
 * pages, for a caller that holds no space (the balloon driver, whose
 * allocations are Linux's __GFP_NORETRY: one light round, then give up).
 * Safe at any time from any thread, before anon_init() and during or after
 * anon_fini() (which waits for a round that is running).  Call it holding
 * no lock.  Return: the pages freed; 0 without anonymous memory.
 */
uint64_t try_to_free_pages(struct pglist_data *pgdat, uint64_t nr);
void wakeup_kswapd(struct lruvec *lv);

struct anon_stats {
	uint64_t events[NR_VM_EVENTS];
	uint64_t nr_inactive, nr_active;
	uint64_t swap_slots, swap_free;
	uint64_t swap_bad;	/* slots the device failed on: never used again */
	uint64_t swap_cache;	/* pages in the swap cache (Linux's SwapCached) */
	bool has_zswap;
	struct zswap_stats zswap;
};

/*
 * The node's events (since it came up, across anon_init()s) and swap
 * cache always; the rest while anonymous memory is set up, else 0.  Only
 * the thread that owns anon_init() and anon_fini() may call it; any other
 * reads node_get_vm_events().
 */
void anon_get_stats(struct pglist_data *pgdat, struct anon_stats *st);

/* The node's events and swap cache pages, from any thread at any time. */
void node_get_vm_events(struct pglist_data *pgdat,
			uint64_t events[NR_VM_EVENTS], uint64_t *swap_cache);

#endif
