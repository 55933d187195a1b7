/*
 * mmzone.h - page frames, zones and the node that holds them.
 *
 * One node (struct pglist_data) covers the guest's RAM, pfn 0 up to
 * node_spanned_pages.  Its metadata - this struct, the memmap (one struct page
 * per 4 KiB frame) and the pageblock migratetypes - is carved from the start of
 * that RAM at boot, as a kernel does with memblock; those frames are reserved
 * and never freed.  Zones split the node by physical address: ZONE_LOW below
 * the low-zone limit (default 16 MiB, the DMA-able memory of a PC), ZONE_NORMAL
 * above.
 *
 * Free lists are index based (frame numbers, as SQLite's mem5 does), so the
 * metadata does not depend on where the RAM is mapped.  Every free list keeps
 * its unreported blocks first and its Reported blocks together at the tail,
 * behind a boundary (the first reported block), see page_reporting.c.
 */
#ifndef GUESTMM_MM_MMZONE_H
#define GUESTMM_MM_MMZONE_H

#include "platform/platform.h"

#define PAGE_SHIFT 12
#define PAGE_SIZE (1ul << PAGE_SHIFT)
#define MAX_ORDER 11 /* orders 0 .. MAX_ORDER - 1 */
#define MAX_ORDER_NR_PAGES (1ul << (MAX_ORDER - 1))
#define PAGEBLOCK_ORDER 9
#define PAGEBLOCK_NR_PAGES (1ul << PAGEBLOCK_ORDER)
#define PFN_NONE UINT32_MAX
#define MAX_NR_CPUS 64

enum migratetype {
	MIGRATE_UNMOVABLE,
	MIGRATE_MOVABLE,
	MIGRATE_RECLAIMABLE,
	MIGRATE_PCPTYPES, /* the types with per-CPU lists */
	MIGRATE_ISOLATE = MIGRATE_PCPTYPES,
	MIGRATE_TYPES
};

enum zone_type { ZONE_LOW, ZONE_NORMAL, MAX_NR_ZONES };

enum zone_watermarks { WMARK_MIN, WMARK_LOW, WMARK_HIGH, NR_WMARK };

/* struct page flags */
#define PG_reserved (1u << 0) /* metadata or a hole: never free */
#define PG_buddy (1u << 1)    /* head of a free block on a free list */
#define PG_reported (1u << 2) /* with PG_buddy: the host has discarded it */
#define PG_head (1u << 3)     /* head of an allocated block */
#define PG_pcp (1u << 4)      /* on a per-CPU list */
#define PG_isolated (1u << 5) /* pulled off the free lists for reporting */
/*
 * Owner flags of an allocated order-0 frame (PG_head set), for anonymous
 * memory and zbud (mm/swap.h, mm/zbud.c).  Changed with atomic
 * read-modify-writes (page_flag_set/clear in mm/swap.h) because reclaim,
 * faults and, later, the compaction scanner meet on them; the owner clears
 * them all before free_pages(), which wants PG_head alone.
 */
#define PG_lru (1u << 6)       /* on an LRU list of the node's lruvec */
#define PG_active (1u << 7)    /* with PG_lru: on the active list */
#define PG_locked (1u << 8)    /* the page lock: see lock_page() */
#define PG_swapcache (1u << 9) /* in the swap cache; page_ext.swap_slot */
#define PG_anon (1u << 10)     /* anonymous memory: mapped or swap cache */
#define PG_zbud (1u << 11)     /* a zbud or dense pool page (PageZbud, seed 001) */
/*
 * A movable page that is not on the LRU (mm/migrate.h): its owner put a
 * struct movable_owner at page_ext.mapping, whose ops compaction calls.
 */
#define PG_movable (1u << 12)
/* With PG_locked: a thread is parked, or about to, for the page lock. */
#define PG_waiters (1u << 13)

/*
 * One per 4 KiB frame.  Only block heads carry state: the frames inside a free
 * or allocated block have flags 0.
 *
 * @flags, @order, @next and @prev of a PG_buddy or PG_isolated head are
 * protected by its zone's lock; of a PG_pcp page by the per-CPU list's lock;
 * of a PG_head page by whoever allocated it.
 */
struct page {
	uint16_t flags;
	uint8_t order;	     /* block order when PG_buddy/PG_head/PG_isolated */
	uint8_t migratetype; /* the list it was taken from (PG_pcp, PG_isolated) */
	uint32_t next;	     /* list links, frame numbers; PFN_NONE ends */
	uint32_t prev;
	/*
	 * A free head at or above the reporting order: since when all the
	 * block's frames have been free (platform_now_ns() >> 20, about
	 * milliseconds, wrapping), so reporting can leave memory that is
	 * being recycled.  Inside such a block, the frames aligned to the
	 * reporting order keep the stamps of the blocks a split would put
	 * back there (zone_free_block_locked()).
	 */
	uint32_t private;
};
_Static_assert(sizeof(struct page) == 16, "struct page is 16 bytes");

/*
 * A free list in index form.  Invariant: frames head..(boundary's prev) are
 * unreported, boundary..tail are PG_reported; boundary == PFN_NONE when the
 * list holds no reported block.  @nr counts the blocks.
 */
struct free_list {
	uint32_t head;
	uint32_t tail;
	uint32_t boundary;
	uint32_t nr;
};

struct free_area {
	struct free_list free_list[MIGRATE_TYPES];
	uint64_t nr_free; /* blocks of this order over all migratetypes */
};

/*
 * Per-CPU lists: order-0 frames, and blocks of the pageblock order (what
 * Linux keeps on its per-CPU lists for THP since 5.13), so that neither
 * order takes the zone lock on every allocation and free.  @lock protects
 * every field; it nests inside nothing and the zone lock nests inside it
 * (mm/README.md).  Memory on these lists is allocated as far as the buddy
 * lists know: never Reported, never reported.
 */
/*
 * @lock protects the lists and every field; @count and @nr_pageblocks are
 * also read without it (pgdat_pcp_pages()), so they are stored atomically.
 */
struct per_cpu_pages {
	struct spinlock lock;
	unsigned int count; /* order-0 frames on @head's lists */
	unsigned int high;  /* flush a batch back to the zone above this */
	unsigned int batch; /* frames moved per refill or flush */
	unsigned int nr_pageblocks; /* blocks on @pageblock_head's lists */
	bool touched;	    /* used since drain_idle_pages() last looked */
	uint32_t head[MIGRATE_PCPTYPES];
	uint32_t pageblock_head[MIGRATE_PCPTYPES];
} __attribute__((aligned(64)));

enum zone_flags {
	ZONE_REPORTING_REQUESTED, /* unreported blocks passed the high-water mark */
	ZONE_REPORTING_ACTIVE,	  /* the worker is in this zone's cycle */
};

struct pglist_data;

/*
 * What an allocation that finds nothing of its own migratetype does with
 * the other type's pageblock it takes from (page_alloc.c, rmqueue_fallback()).
 *   FALLBACK_CLAIM: Linux's (try_to_claim_block()): the pageblock becomes
 *     the allocation's, with every free block in it, when at least half of
 *     it is free or allocated to compatible users; otherwise only the block
 *     taken is, and the smallest that fits is taken.
 *   FALLBACK_LEGACY: this allocator's first rule: a block taken of at least
 *     half a pageblock claims its pageblock; a smaller one never does, and
 *     the largest block is always taken.
 */
enum fallback_rule {
	FALLBACK_CLAIM,
	FALLBACK_LEGACY,
	NR_FALLBACK_RULES
};

/*
 * Three groups of fields, each on cache lines of its own, because vCPUs on
 * different cores meet here on every allocation:
 *   - read-mostly (identity, size, watermarks), read on every allocation
 *     and free and written only at boot;
 *   - @lock and what it protects, written by whoever holds the lock;
 *   - @reported_blocks, written by the reporting worker under @lock.
 * The per-CPU lists follow, a line or two each.
 *
 * @lock protects @free_area, @free_pages, @reported_blocks and the list state
 * of every free block in the zone.  @flags is atomic: the free path tests it
 * under the zone lock, the reporting worker sets and clears it.
 */
struct zone {
	const char *name;
	struct pglist_data *zone_pgdat;
	uint32_t zone_start_pfn;
	uint32_t spanned_pages;
	/*
	 * Frames handed to the buddy allocator, less the memory blocks
	 * offline; and the watermarks derived from it.  Both change at run
	 * time only when a block goes offline or online, under every zone
	 * lock (zone_managed_adjust()), and are read without a lock on every
	 * allocation: relaxed atomics, read with zone_managed_pages() and
	 * zone_wmark().
	 */
	uint64_t managed_pages;
	uint64_t watermark[NR_WMARK];
	unsigned int pcp_pageblock_high; /* pageblocks a per-CPU list keeps */
	atomic_ulong flags;

	struct spinlock lock __attribute__((aligned(64)));
	/*
	 * Free frames on the lists, less those on the MIGRATE_ISOLATE lists
	 * (as Linux's NR_FREE_PAGES): what the watermarks, the per-CPU
	 * refills and reporting's gate may count on.  Written under @lock,
	 * read racily.
	 */
	atomic_uint_fast64_t free_pages;
	struct free_area free_area[MAX_ORDER];
	/*
	 * Reported blocks per order, kept apart from free_area so that the
	 * reporting worker's updates do not share a cache line with the lists
	 * the allocator walks (seed 000's reason).  Protected by @lock.
	 */
	uint64_t reported_blocks[MAX_ORDER] __attribute__((aligned(64)));
	struct per_cpu_pages pcp[MAX_NR_CPUS];
};

struct page_reporting_dev_info;
struct page_hinting;
struct free_bitmap;
struct mm_free_timing;
struct page_ext_table;
struct lruvec;

/* Compaction's and migration's counters, named as /proc/vmstat names them. */
enum compact_event {
	COMPACT_STALL,		 /* allocations that ran compaction */
	COMPACT_FAIL,		 /* ... and still found no block */
	COMPACT_SUCCESS,	 /* ... and then had one */
	COMPACT_MIGRATE_SCANNED, /* frames the migrate scanner looked at */
	COMPACT_FREE_SCANNED,	 /* frames the free scanner looked at */
	COMPACT_ISOLATED,	 /* pages isolated for migration */
	COMPACT_FREE_REPORTED,	 /* targets taken from Reported blocks */
	PGMIGRATE_SUCCESS,	 /* pages moved to another frame */
	PGMIGRATE_FAIL,		 /* pages that could not be moved (put back) */
	PGMIGRATE_RELEASED,	 /* movable pages their owner emptied in place */
	CMA_ALLOC_SUCCESS,	 /* alloc_contig_range() calls that succeeded */
	CMA_ALLOC_FAIL,
	NR_COMPACT_EVENTS
};

static inline uint64_t zone_managed_pages(const struct zone *zone)
{
	return __atomic_load_n(&zone->managed_pages, __ATOMIC_RELAXED);
}

static inline uint64_t zone_wmark(const struct zone *zone, unsigned int w)
{
	return __atomic_load_n(&zone->watermark[w], __ATOMIC_RELAXED);
}

/*
 * The node's compaction state (mm/compaction.c).  All atomic: compaction
 * takes no lock of its own.  @running: an allocation-triggered compaction
 * is under way, so other failing allocations do not pile on; @defer_shift,
 * @considered: after a failure, the next 2^defer_shift failing allocations
 * skip compaction (Linux's defer_compaction()).  @users: compactions and
 * contiguous allocations under way, each of which may hold the node's
 * lruvec, zswap and pool; @closing: anon_fini() is taking them down, so no
 * new one starts, and it waits for @users to reach 0 first.
 */
struct compact_node {
	atomic_uint_fast64_t events[NR_COMPACT_EVENTS];
	atomic_bool running;
	atomic_uint defer_shift;
	atomic_uint considered;
	atomic_uint users;
	atomic_bool closing;
};

/* Event counters, named as /proc/vmstat names them where Linux has them. */
enum vm_event {
	PGFAULT,	/* faults that installed a PTE */
	PGMAJFAULT,	/* of those, that read zswap or the swap file */
	PSWPIN,		/* pages read from the swap file */
	PSWPOUT,	/* pages written to the swap file: by reclaim, and
			   by zswap's writeback (Linux counts both) */
	PGSCAN,		/* inactive pages isolated by reclaim */
	PGSTEAL,	/* pages reclaim freed */
	PGACTIVATE,	/* inactive pages promoted, being referenced */
	PGDEACTIVATE,	/* active pages demoted */
	PGROTATED,	/* referenced active pages kept active */
	KSWAPD_WAKE,	/* times the background worker was woken */
	ALLOCSTALL,	/* direct reclaims */
	SWAP_FULL,	/* pages kept: no free swap slot */
	SWAP_WRITE_ERR, /* swap writes that failed: the data stays in the
			   page or in zswap, the slot stays usable */
	SWAP_WRITE_DISABLED, /* 1 once the device failed
				SWAP_WRITE_DISABLE_AFTER writes in a row and
				is no longer written */
	SWAP_NO_RECLAIM, /* reclaims that scanned nothing: no usable swap
			    (no free slot, or the device is not written
			    and zswap is full) */
	SWAP_UNREADABLE, /* pages lost: their swap read failed, twice, the
			    slot is poisoned (Linux: a swapin error entry) */
	SWAP_READ_RETRIED, /* swap file reads that failed and were tried
			      once more at once */
	SWAP_UNUSE,	/* entries brought back by unuse */
	ZSWPOUT,	/* pages reclaim stored in zswap (Linux's zswpout) */
	NR_VM_EVENTS
};

struct pglist_data {
	struct zone node_zones[MAX_NR_ZONES];
	unsigned int nr_zones;
	unsigned int nr_cpus;
	enum fallback_rule fallback_rule; /* set at boot, read-only after */
	/*
	 * Page poisoning (page_poison.c): free memory holds @page_poison_val
	 * in every byte, checked on allocation.  Set at boot, read-only after.
	 */
	bool page_poison;
	uint8_t page_poison_val;
	uint64_t node_spanned_pages;
	uint64_t reserved_pages;
	void *ram;		 /* where pfn 0 is mapped */
	struct page *memmap;	 /* node_spanned_pages entries */
	uint8_t *pageblock_mt;	 /* one per pageblock; see get_pageblock_migratetype() */
	/*
	 * @reporting_lock is held across all of a registration's and an
	 * unregistration's changes to @prdev, @reporting_order,
	 * @reporting_hwm and the zones' REQUESTED flags, so that neither
	 * lands in the middle of the other.  Readers do not take it: the free
	 * path loads these atomically, a pass rechecks @prdev under a zone
	 * lock (page_reporting.c).
	 */
	struct spinlock reporting_lock;
	/* the registered reporting device, or NULL; published initialised */
	_Atomic(struct page_reporting_dev_info *) prdev;
	atomic_uint reporting_order; /* MAX_ORDER while no device is registered */
	atomic_uint reporting_hwm;
	/*
	 * The other hinting strategies (page_hinting.c, free_bitmap.c), each
	 * registered under @reporting_lock, at most one strategy at a time,
	 * published with release.  @hinting_order / @bitmap_order are what
	 * the free path tests first: MAX_ORDER while the strategy is off, so
	 * that the common path reads one word and takes no call.
	 */
	_Atomic(struct page_hinting *) hinting;
	atomic_uint hinting_order;
	_Atomic(struct free_bitmap *) free_bitmap;
	atomic_uint bitmap_order;
	/* Sampled timing of the free path, for `bench strategies`, or NULL. */
	_Atomic(struct mm_free_timing *) free_timing;
	/*
	 * Anonymous memory and reclaim (mm/swap.h), when set up: per-frame
	 * data beyond struct page, and the LRU lists, swap device and zswap.
	 * Written once, before any space is created; NULL otherwise.
	 */
	struct page_ext_table *page_ext;
	struct lruvec *lruvec;
	/*
	 * Reclaim asked for from outside anonymous memory (the balloon
	 * driver's inflate: try_to_free_pages()), which may run while the
	 * node's anonymous memory comes and goes: @reclaim_lruvec is @lruvec
	 * while such a call may use it, published last by anon_init() and
	 * withdrawn first by anon_fini(); @reclaimers counts the calls that
	 * may still use it, and anon_fini() frees nothing before it is 0.
	 */
	_Atomic(struct lruvec *) reclaim_lruvec;
	atomic_uint reclaimers;
	struct compact_node compact;
	/*
	 * Anonymous memory's events and the pages in its swap cache (Linux's
	 * NR_SWAPCACHE; changed under swap_info.lock, with PG_swapcache):
	 * atomics of the node, not of the lruvec, so that another thread (the
	 * balloon driver's statistics) reads them at any time, before
	 * anon_init(), during and after anon_fini(), and they only grow, as
	 * Linux's vm events do.  Faults and reclaim write them: a cache line
	 * apart from the read-mostly fields above.
	 */
	atomic_uint_fast64_t vm_events[NR_VM_EVENTS] __attribute__((aligned(64)));
	atomic_uint_fast64_t nr_swapcache;
	/*
	 * @oom_lock protects @oom_notifier and @oom_calls (the notifier's
	 * calls running); a leaf, held for a few stores, never across a call.
	 * Only allocations that found nothing take it.
	 */
	struct spinlock oom_lock;
	struct oom_notifier *oom_notifier;
	unsigned int oom_calls;
	atomic_uint_fast64_t oom_events; /* out_of_memory() calls */
};

/*
 * A page's flags are read by zone-lock holders looking at a neighbour
 * (page_is_buddy) while the neighbour's owner - a per-CPU list, an allocator
 * or a freeing thread - changes them under another lock or none.  Every write
 * is therefore an atomic store and such reads atomic loads; relaxed suffices
 * because PG_buddy, the only bit those readers act on, changes under the
 * zone lock they hold.
 */
static inline void page_flags_set(struct page *page, uint16_t flags)
{
	__atomic_store_n(&page->flags, flags, __ATOMIC_RELAXED);
}

static inline struct page *pfn_to_page(const struct pglist_data *pgdat,
				       uint32_t pfn)
{
	return &pgdat->memmap[pfn];
}

static inline uint32_t page_to_pfn(const struct pglist_data *pgdat,
				   const struct page *page)
{
	return (uint32_t)(page - pgdat->memmap);
}

static inline void *page_address(const struct pglist_data *pgdat,
				 const struct page *page)
{
	return (char *)pgdat->ram + ((uintptr_t)page_to_pfn(pgdat, page)
				     << PAGE_SHIFT);
}

static inline uint64_t page_to_phys(const struct pglist_data *pgdat,
				    const struct page *page)
{
	return (uint64_t)page_to_pfn(pgdat, page) << PAGE_SHIFT;
}

/* Return: the page whose frame holds @addr, or NULL outside the node. */
struct page *virt_to_page(const struct pglist_data *pgdat, const void *addr);

static inline struct zone *page_zone(struct pglist_data *pgdat, uint32_t pfn)
{
	for (unsigned int i = pgdat->nr_zones; i-- > 0;)
		if (pfn >= pgdat->node_zones[i].zone_start_pfn)
			return &pgdat->node_zones[i];
	return &pgdat->node_zones[0];
}

/*
 * A pageblock's type is written under its zone's lock (rmqueue_fallback
 * stealing it) and read without it: free_pages() picks the per-CPU list of a
 * frame it frees by it.  So the byte is read and written atomically; relaxed,
 * because a stale type only sends a frame to another type's per-CPU list:
 * it goes back to the buddy lists by the type read again under the lock.
 */
/*
 * The byte's top bit, PB_CMA, marks a pageblock of a declared contiguous
 * region (cma_declare_range()): unmovable allocations never take memory
 * there, so the region can always be emptied by migration, as Linux's
 * MIGRATE_CMA guarantees.  It is kept apart from the type, which changes.
 */
#define PB_CMA 0x80u
#define PB_MT_MASK 0x0fu
/*
 * While a pageblock is MIGRATE_ISOLATE, bits 4-5 keep the type it had
 * before (page_isolation.c), which the undo gives back: a failed
 * contiguous allocation leaves an UNMOVABLE pageblock UNMOVABLE.
 * Under the zone lock, as the type.
 */
#define PB_SAVED_SHIFT 4
#define PB_SAVED_MASK 0x30u
_Static_assert(MIGRATE_TYPES <= 4, "a saved type fits PB_SAVED_MASK");

static inline enum migratetype get_pageblock_migratetype(
	const struct pglist_data *pgdat, uint32_t pfn)
{
	return (enum migratetype)(__atomic_load_n(
		&pgdat->pageblock_mt[pfn >> PAGEBLOCK_ORDER], __ATOMIC_RELAXED) &
				  PB_MT_MASK);
}

static inline bool pageblock_is_cma(const struct pglist_data *pgdat,
				    uint32_t pfn)
{
	return __atomic_load_n(&pgdat->pageblock_mt[pfn >> PAGEBLOCK_ORDER],
			       __ATOMIC_RELAXED) & PB_CMA;
}

static inline bool zone_flag_test(struct zone *zone, enum zone_flags bit)
{
	return atomic_load_explicit(&zone->flags, memory_order_relaxed) &
	       (1ul << bit);
}

static inline void zone_flag_set(struct zone *zone, enum zone_flags bit)
{
	atomic_fetch_or_explicit(&zone->flags, 1ul << bit,
				 memory_order_relaxed);
}

static inline void zone_flag_clear(struct zone *zone, enum zone_flags bit)
{
	atomic_fetch_and_explicit(&zone->flags, ~(1ul << bit),
				  memory_order_relaxed);
}

static inline uint64_t zone_free_pages(struct zone *zone)
{
	return atomic_load_explicit(&zone->free_pages, memory_order_relaxed);
}

#endif
