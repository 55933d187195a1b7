/*
 * swap.h - anonymous memory and its reclaim: what memory.c (address spaces,
 * page tables, faults), rmap.c (frame -> mapping), vmscan.c (LRU, kswapd,
 * direct reclaim), swapfile.c (the swap device and its swap cache) and
 * zswap.c share.  The public face is mm/anon.h.
 *
 * Per-frame state.  struct page stays 16 bytes for the allocator's hot paths
 * (mmzone.h); what anonymous memory and zbud need per frame beyond its flags
 * - a reference count, LRU links, the reverse map, the swap slot - lives in
 * a page_ext table, one 32-byte entry per frame, allocated only when a node
 * sets up anonymous memory (as Linux keeps page_owner and page_idle apart).
 * The flags that scanners read without owning the frame (PG_lru, PG_zbud,
 * PG_swapcache, PG_locked) stay in struct page.
 *
 * Reference counts (page_ext.refcount) of an anonymous page: one for the
 * PTE that maps it, one while it is in the swap cache, one per pin
 * (access_page() until put_page()), one while reclaim has it isolated.  LRU
 * membership holds none: the last put_page() takes the page off its list
 * under lru_lock and frees it, and isolation takes its reference with
 * get_page_unless_zero() under that same lock, so the two cannot cross.
 * A zbud page counts one per live buddy and one per running reclaim
 * (seed 001 patch 1).
 *
 * Lock order (mm/README.md has the whole of it):
 *   page lock (PG_locked) -> mm_space.ptl -> swap_info.lock ->
 *   zswap.tree_lock -> zbud_pool.lock -> lruvec.lru_lock -> pcp -> zone
 *   lruvec.mmlist_lock -> mm_space.ptl (statistics only)
 */
#ifndef GUESTMM_MM_SWAP_H
#define GUESTMM_MM_SWAP_H

#include "mm/internal.h"
#include "platform/swap_io.h"

struct mm_space;
struct zswap;

/*
 * One per frame, in the node's page_ext table.
 *
 * @refcount: see above; 0 while the frame is not anonymous or zbud.
 * @lru_next, @lru_prev: lruvec.lru_lock (frame numbers, PFN_NONE ends).
 * @mapping, @index: the one PTE that maps an anonymous page, (space, virtual
 *   page number); NULL when unmapped.  Changed under the page lock and the
 *   space's ptl, so either suffices to read it.  A zbud page's @mapping is
 *   its pool.  There is no fork, so a page has at most one mapping.
 * @swap_slot: with PG_swapcache, the slot it caches; page lock + si->lock.
 */
struct page_ext {
	uint32_t lru_next;
	uint32_t lru_prev;
	atomic_int refcount;
	uint32_t swap_slot;
	void *mapping;
	uint64_t index;
};
_Static_assert(sizeof(struct page_ext) == 32, "page_ext is 32 bytes");

/*
 * mm_array - a large array allocated from the node's own buddy allocator in
 * chunks of at most one MAX_ORDER block (4 MiB), zeroed, indexed through a
 * directory: vmalloc for a core without one.  Element sizes are powers of 2.
 */
struct mm_array {
	struct pglist_data *pgdat;
	void **dir;
	unsigned int dir_order;
	unsigned int nr_chunks;
	unsigned int chunk_shift; /* elements per chunk, log2 */
	unsigned int elem_shift;
	uint64_t nr;
};

/* Return: 0, or -GMM_ENOMEM (nothing left allocated). */
int mm_array_init(struct mm_array *a, struct pglist_data *pgdat, uint64_t nr,
		  size_t elem_size);
void mm_array_fini(struct mm_array *a);

static inline void *mm_array_at(const struct mm_array *a, uint64_t i)
{
	return (char *)a->dir[i >> a->chunk_shift] +
	       ((i & ((1ull << a->chunk_shift) - 1)) << a->elem_shift);
}

struct page_ext_table {
	struct mm_array arr;
};

/* Return: 0, or -GMM_ENOMEM; -GMM_EEXIST when the node has one. */
int page_ext_init(struct pglist_data *pgdat);
void page_ext_fini(struct pglist_data *pgdat);

static inline struct page_ext *page_ext_of(const struct pglist_data *pgdat,
					   const struct page *page)
{
	return mm_array_at(&pgdat->page_ext->arr, page_to_pfn(pgdat, page));
}

/*
 * page_ext.mapping is written by the frame's owner and peeked at by
 * compaction's scanners, which own nothing (mm/migrate.h): the write is
 * atomic, so that a scanner's stale look is a stale value, not a torn one.
 * Owners read it plainly under their locks.
 */
static inline void page_ext_set_mapping(struct page_ext *ext, void *mapping)
{
	__atomic_store_n(&ext->mapping, mapping, __ATOMIC_RELAXED);
}

/* ---- page flags and the page lock ---- */

/* page_flags_read() (an acquire load) is in mm/internal.h. */

static inline void page_flag_set(struct page *page, uint16_t f)
{
	__atomic_fetch_or(&page->flags, f, __ATOMIC_RELAXED);
}

static inline void page_flag_clear(struct page *page, uint16_t f)
{
	__atomic_fetch_and(&page->flags, (uint16_t)~f, __ATOMIC_RELAXED);
}

static inline bool PageZbud(const struct page *page)
{
	return page_flags_read(page) & PG_zbud;
}

/*
 * The page lock: PG_locked, held across I/O (swap-in, writeback, a zswap
 * store), so a waiter spins only briefly and then parks (mm/page_lock.c):
 * it sets PG_waiters and sleeps on a hashed wait word, and the unlock that
 * finds PG_waiters set wakes the word's sleepers.  PG_waiters is only ever
 * set with PG_locked, and the unlock clears both at once.  Acquire/release
 * order the page's contents and page_ext with the bit.
 */
static inline bool trylock_page(struct page *page)
{
	return !(__atomic_fetch_or(&page->flags, PG_locked, __ATOMIC_ACQUIRE) &
		 PG_locked);
}

/* The contended halves of lock_page() and unlock_page(): page_lock.c. */
void lock_page_wait(struct page *page);
void unlock_page_wake(struct page *page);

static inline void lock_page(struct page *page)
{
	if (!trylock_page(page))
		lock_page_wait(page);
}

static inline void unlock_page(struct page *page)
{
	/* Sequentially consistent: see the lost wake-up in page_lock.c. */
	if (__atomic_fetch_and(&page->flags, (uint16_t)~(PG_locked | PG_waiters),
			       __ATOMIC_SEQ_CST) & PG_waiters)
		unlock_page_wake(page);
}

static inline void get_page(struct pglist_data *pgdat, struct page *page)
{
	atomic_fetch_add_explicit(&page_ext_of(pgdat, page)->refcount, 1,
				  memory_order_relaxed);
}

/* Return: true when the reference was taken (the count was not 0). */
static inline bool get_page_unless_zero(struct pglist_data *pgdat,
					struct page *page)
{
	atomic_int *c = &page_ext_of(pgdat, page)->refcount;
	int v = atomic_load_explicit(c, memory_order_relaxed);

	while (v > 0)
		if (atomic_compare_exchange_weak_explicit(
			    c, &v, v + 1, memory_order_acquire,
			    memory_order_relaxed))
			return true;
	return false;
}

static inline int page_count(struct pglist_data *pgdat, struct page *page)
{
	return atomic_load_explicit(&page_ext_of(pgdat, page)->refcount,
				    memory_order_acquire);
}

/*
 * put_page - drop a reference to an anonymous page; the last one takes it
 * off its LRU list and frees it.  Takes lru_lock, pcp and zone locks.
 */
void put_page(struct pglist_data *pgdat, struct page *page);

/* ---- page tables ---- */

/*
 * A PTE: 0 (none); a frame (PTE_PRESENT, pfn << 12, young and dirty bits);
 * or a swap entry (PTE_SWAP, slot << 12).
 */
#define PTE_PRESENT (1ull << 0)
#define PTE_SWAP (1ull << 1)
#define PTE_YOUNG (1ull << 5) /* accessed since reclaim last looked */
#define PTE_DIRTY (1ull << 6)
#define PTE_PFN_SHIFT 12

static inline uint64_t pte_mk_present(uint32_t pfn)
{
	return ((uint64_t)pfn << PTE_PFN_SHIFT) | PTE_PRESENT;
}

static inline uint64_t pte_mk_swap(uint32_t slot)
{
	return ((uint64_t)slot << PTE_PFN_SHIFT) | PTE_SWAP;
}

static inline uint32_t pte_pfn(uint64_t pte)
{
	return (uint32_t)(pte >> PTE_PFN_SHIFT);
}

#define PTRS_PER_TABLE 512
#define SPACE_LEVELS 3 /* 512^3 pages: 512 GiB per space */
#define SPACE_MAX_PAGES (1ull << (9 * SPACE_LEVELS))
#define SPACE_MAX_VMAS 16

struct vm_area {
	uint64_t start, end; /* virtual page numbers, [start, end) */
};

/*
 * An address space.  @ptl protects @pgd and every table under it, @vmas,
 * @nr_vmas and @rss.  @users counts the owner's reference and those of
 * unuse and reclaim paths that reach the space through a swap slot or a
 * page; the last mm_space_put() tears it down.  @mmlist links it on
 * lruvec.spaces under lruvec.mmlist_lock (for lock statistics).
 */
struct mm_space {
	struct spinlock ptl;
	struct lruvec *lruvec;
	atomic_int users;
	struct mm_space *mm_next, *mm_prev;
	uint64_t rss; /* present PTEs */
	unsigned int nr_vmas;
	struct vm_area vmas[SPACE_MAX_VMAS];
	uint64_t *pgd; /* a page of PTRS_PER_TABLE table addresses */
};

/*
 * The PTE for @vpn, or NULL when a table on the way is missing (and
 * @alloc_table is NULL) - with @alloc_table, a zeroed table page the caller
 * allocated before taking the ptl, which is consumed (set to NULL) when
 * needed.  Caller holds @mm->ptl.
 */
uint64_t *space_pte_locked(struct mm_space *mm, uint64_t vpn,
			   struct page **alloc_table);

void mm_space_put(struct mm_space *mm);
/* Return: true when a reference was taken (the space is not dying). */
bool mm_space_get_unless_zero(struct mm_space *mm);

/* ---- the swap device ---- */

#define SWAP_HAS_CACHE 0x80000000u /* a cache page exists, or is coming */
#define SWAP_BAD 0x40000000u	   /* never allocated again (SWAP_MAP_BAD) */
#define SWAP_POISONED 0x20000000u  /* its data is lost: a read failed */
#define SWAP_UPTODATE 0x10000000u  /* zswap or the file holds the cache page's data */
#define SWAP_COUNT_MASK 0x0fffffffu

/*
 * One per slot.  @count: PTEs holding the entry (0 or 1, no fork) and
 * SWAP_HAS_CACHE, which also serves as the entry's lock (Linux's
 * swapcache_prepare()): whoever sets it owns every transfer of the slot's
 * data - swap-in, store, writeback - until it is cleared, so a page is never
 * read or written twice at once.  @cache_pfn: the swap cache page, or
 * PFN_NONE while HAS_CACHE is held without one.  @owner, @owner_index: the
 * PTE that holds the entry, so that unuse need not search every page table
 * (try_to_unuse has to).  All under swap_info.lock.
 *
 * The swap cache keeps a clean page's slot (Linux's swap cache does, for
 * a page read back and only read since): SWAP_UPTODATE says the slot's
 * data - in zswap, else in the file - is the cache page's.  Set when the
 * page was read from the slot (swapin_page()) or written to it
 * (reclaim's pageout); cleared, and the zswap entry dropped, when the page
 * is written to (a write access on its clean PTE) or when its PTE was
 * dirty at unmap.  Reclaim frees an UPTODATE page without writing it; the
 * PTE keeps the slot.  A page mapped from the cache is mapped clean only
 * when its slot is UPTODATE; every other page is mapped dirty, out of the
 * cache.  Invariant: a present clean PTE's page is in the swap cache with
 * its slot UPTODATE, or out of the cache.
 *
 * A slot whose data the device could not read back (twice) is bad
 * (SWAP_BAD, Linux's SWAP_MAP_BAD): it keeps its holders, but when the
 * last goes it is not freed, so it is never allocated, written or read
 * again.  A write that failed marks nothing: the data stays where it was
 * (the page, or zswap) and the slot is freed or kept as it was (swapfile.c).
 * A read that failed has lost the data, and the slot is also SWAP_POISONED: every swap-in of it fails with
 * -GMM_EHWPOISON, without I/O, until its PTE goes (Linux turns the PTE into
 * a swapin error entry and raises SIGBUS on access; here the PTE keeps the
 * poisoned entry, which does the same).  So a lost page never reads back
 * as zeroes or as another page's data.
 */
struct swap_slot {
	uint32_t count;
	uint32_t cache_pfn;
	struct mm_space *owner;
	uint64_t owner_index;
	uint64_t pad;
};

/*
 * Consecutive failed swap writes after which the device is no longer
 * written (swap_write_done()).  One failed write ends a reclaim pass and
 * fails the allocation that ran it, so a burst costs about one failed
 * write per fault or kswapd wake-up; this many in a row, with none that
 * worked, is a device that is not coming back.
 */
#define SWAP_WRITE_DISABLE_AFTER 64

/*
 * Swap clusters (Linux's swap_cluster_info).  The slots are split into
 * clusters of SWAP_CLUSTER_SLOTS; each CPU allocates from a cluster of its
 * own, slot after slot, and takes a new one from the lists only when its
 * cluster has no free slot past its cursor.  So an allocation looks at at
 * most two clusters' slots (its CPU's, then one from a list), whatever the
 * device's size and fill, and a reclaim pass's slots stay consecutive in
 * the file.  Tuning: 256 slots (1 MiB) as Linux's SWAPFILE_CLUSTER: big
 * enough that a CPU goes to the lists once per 256 allocations, small
 * enough that a near-full device still has partly free clusters to give.
 *
 * A cluster no CPU holds is on exactly one list by its count: free
 * (@used == 0), nonfull (0 < @used < its size), or none (full).  A CPU's
 * cluster is on none.  All under swap_info.lock.
 */
#define SWAP_CLUSTER_SLOTS 256u
#define SWAP_CLUSTER_NONE UINT32_MAX

enum swap_cluster_list { CLUSTER_LIST_NONE, CLUSTER_LIST_FREE, CLUSTER_LIST_NONFULL };

struct swap_cluster_info {
	uint32_t prev, next; /* links on its list, SWAP_CLUSTER_NONE ends */
	uint16_t used;	     /* slots with a count != 0 (BAD slots stay used) */
	uint8_t list;	     /* enum swap_cluster_list */
	uint8_t cpu_owned;   /* some CPU allocates from it */
	uint32_t pad;
};
_Static_assert(sizeof(struct swap_cluster_info) == 16, "clusters are 16 bytes");

struct swap_cluster_list_head {
	uint32_t head, tail;
	uint64_t nr;
};

/* A CPU's cluster and where its next allocation looks from (Linux's percpu_cluster). */
struct swap_cpu_cluster {
	uint32_t cluster; /* SWAP_CLUSTER_NONE: none yet */
	uint32_t next;	  /* slot offset in the cluster */
};

/*
 * The node's swap device.  @lock protects @slots, @clusters, @free_clusters,
 * @nonfull_clusters, @percpu, @nr_free, @nr_bad, @scan_max,
 * @write_errs_run and @write_disabled.  Invariants: nr_free == slots with
 * count == 0; nr_bad == slots with SWAP_BAD (never 0 again);
 * write_disabled never goes back to false; a cluster's used == its slots
 * with count != 0; swap_info_check() checks them all.
 */
struct swap_info {
	struct spinlock lock;
	struct swap_io *io;
	struct mm_array slots;
	struct mm_array clusters;
	struct mm_array percpu; /* struct swap_cpu_cluster, one per CPU */
	struct swap_cluster_list_head free_clusters, nonfull_clusters;
	uint64_t nr_slots;
	uint64_t nr_clusters;
	unsigned int nr_cpus;
	uint64_t nr_free;
	uint64_t nr_bad;
	uint64_t scan_max; /* most slots one allocation looked at (a test's witness) */
	uint64_t write_errs_run; /* writes failed since the last that worked */
	bool write_disabled;	 /* no more writes: see SWAP_WRITE_DISABLE_AFTER */
};

/* ---- the node's reclaim state ---- */

enum lru_list { LRU_INACTIVE_ANON, LRU_ACTIVE_ANON, NR_LRU_LISTS };

extern const char *const vm_event_names[NR_VM_EVENTS];

/*
 * @lru_lock protects @lists, @nr, and the PG_lru/PG_active bits and LRU
 * links of every page on them.  @mmlist_lock protects the list of spaces.
 * Its events are the node's (pglist_data.vm_events).
 */
struct lruvec {
	struct pglist_data *pgdat;
	struct spinlock lru_lock;
	uint32_t head[NR_LRU_LISTS], tail[NR_LRU_LISTS];
	uint64_t nr[NR_LRU_LISTS];
	struct spinlock mmlist_lock;
	struct mm_space *spaces;
	struct swap_info si;
	struct zswap *zswap; /* NULL: pages go straight to the swap file */
	struct platform_work *kswapd;
	atomic_bool stopping;
	struct lock_stats dead_ptl; /* ptl statistics of destroyed spaces */
};

static inline void count_vm_event(struct lruvec *lv, enum vm_event e)
{
	atomic_fetch_add_explicit(&lv->pgdat->vm_events[e], 1,
				  memory_order_relaxed);
}

/* vmscan.c */
void lru_add(struct lruvec *lv, struct page *page, bool active);
/*
 * isolate_lru_page - take @page, which a scanner found with PG_lru set, off
 * its LRU list with a reference (compaction); *@active says which list.
 * Return: false when it was not on a list any more, or being freed.
 */
bool isolate_lru_page(struct lruvec *lv, struct page *page, bool *active);
/* Put back a page reclaim isolated, and drop reclaim's reference. */
void putback_lru_page(struct lruvec *lv, struct page *page, bool active);
/* rmap.c: both take a locked page. */
bool page_referenced(struct lruvec *lv, struct page *page);
void try_to_unmap(struct lruvec *lv, struct page *page);

/* swapfile.c */
int swap_info_init(struct swap_info *si, struct pglist_data *pgdat,
		   struct swap_io *io);
void swap_info_fini(struct swap_info *si);
/*
 * swap_info_check - the validator: every slot's count against nr_free,
 * nr_bad and its cluster's used count, every cluster on the list its count
 * says, each list's links and length.  Reports a broken invariant with
 * platform_bad_state().  Return: true when all hold.  Takes si->lock.
 */
bool swap_info_check(struct swap_info *si);
/*
 * add_to_swap - give a locked, isolated anonymous page a slot and put it in
 * the swap cache (one more reference).
 * Return: 0; -GMM_ENOSPC when the device is full.
 */
int add_to_swap(struct lruvec *lv, struct page *page);
/*
 * delete_from_swap_cache_locked - take @page out of the swap cache, drop the
 * cache's reference (never the last: the caller holds one) and free the
 * slot if no PTE holds it.  Caller holds the page lock and si->lock.
 */
void delete_from_swap_cache_locked(struct lruvec *lv, struct page *page);
/*
 * swap_cache_drop_orphan - @page, locked and in the swap cache, could not
 * be mapped: its PTE went (zapped) meanwhile.  If no PTE holds its slot any
 * more, take it out of the cache, which frees the slot, rather than leave
 * it to reclaim (Linux's free_swap_and_cache() does this from the zap).
 * Caller holds a reference of its own.  Takes si->lock.
 */
void swap_cache_drop_orphan(struct lruvec *lv, struct page *page);
/*
 * The swap cache page of @slot, with a reference, when only the cache
 * holds the slot now (its last PTE just went); else NULL.  The caller
 * tries swap_cache_drop_orphan() on it under its page lock, holding no
 * spinlock, and puts it.
 */
struct page *swap_cache_orphan_get_locked(struct lruvec *lv, uint32_t slot);
/* Drop one PTE's hold on @slot; frees it when nothing else holds it. */
void swap_free_locked(struct lruvec *lv, uint32_t slot);
/*
 * swapin_page - the page with @slot's data, from the swap cache or read
 * into a new page from zswap or the swap file, with a reference and not
 * locked.  *@major tells whether it was read.  A swap file read that fails
 * is tried once more (SWAP_READ_RETRIED); failing again, it poisons the
 * slot (counted once, SWAP_UNREADABLE): its data is lost.
 * Return: 0; -GMM_ENOENT when the slot was freed meanwhile (the caller
 * rechecks its PTE); -GMM_ENOMEM; -GMM_EHWPOISON when the slot's data is
 * lost (its read failed, now or before).
 */
int swapin_page(struct lruvec *lv, uint32_t slot, struct page **out,
		bool *major);
/*
 * swapcache_prepare - take @slot's SWAP_HAS_CACHE with no page (zswap
 * writeback).  Return: 0; -GMM_EEXIST when somebody holds it; -GMM_ENOENT
 * when the slot is free; -GMM_EIO when it is bad (a write to it failed
 * before: it is not written again).
 */
int swapcache_prepare(struct swap_info *si, uint32_t slot);
void swapcache_release(struct lruvec *lv, uint32_t slot);
/*
 * try_to_unuse_swp_entry - seed 001 patch 2: bring @slot's data back into
 * memory, map it where the slot's PTE is, free the slot.
 * Return: 0 (also when the entry was freed meanwhile); -GMM_EINVAL for a
 * slot out of range; -GMM_ENOMEM; -GMM_EHWPOISON (the data is lost).
 */
int try_to_unuse_swp_entry(struct lruvec *lv, uint32_t slot);
/* Is @slot bad?  Takes si->lock. */
bool swap_slot_is_bad(struct swap_info *si, uint32_t slot);
/*
 * swap_write_done - account one write to the swap file that returned @err
 * (reclaim's or zswap writeback's).  A failure counts SWAP_WRITE_ERR; the
 * SWAP_WRITE_DISABLE_AFTER-th in a row stops the device being written
 * (said once, SWAP_WRITE_DISABLED); one that works ends the run.
 * Takes si->lock.
 */
void swap_write_done(struct lruvec *lv, int err);
/* May the swap file be written?  Takes si->lock. */
bool swap_writable(struct swap_info *si);
/* Did the last write to the swap file fail?  Takes si->lock. */
bool swap_write_failing(struct swap_info *si);
/*
 * can_reclaim_anon - could reclaim put an anonymous page anywhere: a free
 * slot, and either a device that is written or room in zswap (Linux's
 * can_reclaim_anon_pages()).  Without, reclaim does not scan at all.
 * Takes si->lock (and zswap's locks).
 */
bool can_reclaim_anon(struct lruvec *lv);
/*
 * swap_writepage_failed - the locked swap cache page @page could not be
 * written to its slot: the page goes back where the slot's PTE is and out
 * of the swap cache, which frees the slot - it stays usable, the device
 * failed, not the slot (Linux redirties the page).  The caller puts the
 * page on the active list, so the same page is not tried again at once.
 * Return: the space it was mapped into, with a reference the caller drops
 * (mm_space_put()) once it has unlocked the page; or NULL.
 */
struct mm_space *swap_writepage_failed(struct lruvec *lv, struct page *page);

/*
 * swap_cache_map - @page, the locked cache page of @slot, is being
 * mapped at the slot's PTE (ptl held): the PTE's hold on the slot goes.
 * With @keep, a slot whose data is UPTODATE stays with the page (unless
 * the device is more than half full: Linux's vm_swap_full()).
 * Return: true when the page stays in the cache (map it clean); false
 * when it left the cache and the slot was freed (map it dirty).
 * Caller holds the page lock and the ptl; takes si->lock.
 */
bool swap_cache_map(struct lruvec *lv, struct page *page, uint32_t slot,
			   bool keep);
/*
 * swap_cache_dirty - @page, mapped by a clean PTE the caller is
 * making dirty (ptl held), may be in the swap cache: its slot's data is no
 * longer the page's.  Clears UPTODATE and drops the zswap entry; the slot
 * stays, for the next pageout.  Takes si->lock.
 */
void swap_cache_dirty(struct lruvec *lv, struct page *page);
/* The same for @slot, whose cache page's PTE was dirty; si->lock held. */
void swap_slot_dirty_locked(struct lruvec *lv, uint32_t slot);
/* Is the locked cache page @page's data in its slot?  si->lock held. */
bool swap_cache_uptodate_locked(struct lruvec *lv, struct page *page);
/* @page, locked in the cache, was just written to its slot; si->lock held. */
void swap_cache_mark_uptodate_locked(struct lruvec *lv, struct page *page);
/*
 * swap_cache_trim - @page, locked, mapped and in the swap cache, leaves
 * the cache (its slot freed) when the device is more than half full: a
 * page reclaim keeps in memory should not hold a slot it may never need.
 * Takes si->lock.
 */
void swap_cache_trim(struct lruvec *lv, struct page *page);

/*
 * memory.c: map a swap cache page at its slot's PTE (page locked); @keep:
 * a clean slot stays with the page (swap_cache_map()).
 */
int map_swap_page(struct mm_space *mm, uint64_t vpn, uint32_t slot,
		  struct page *page, bool young, bool keep);
/* memory.c: an anonymous page, reclaiming directly when there is none. */
struct page *anon_alloc_page(struct lruvec *lv);

#endif
