/*
 * gfp.h - the page allocator's interface.
 */
#ifndef GUESTMM_MM_GFP_H
#define GUESTMM_MM_GFP_H

#include "mm/mmzone.h"

/* Allocation flags.  0 is an unmovable allocation from any zone. */
#define GFP_MOVABLE (1u << 0)	  /* user memory: may be migrated later */
#define GFP_RECLAIMABLE (1u << 1) /* caches that can be dropped */
#define GFP_LOW (1u << 2)	  /* only ZONE_LOW */
#define GFP_ZERO (1u << 3)	  /* zero the block */
/*
 * Fail without running the node's OOM notifier (Linux: __GFP_NORETRY): for
 * allocations that have somewhere else to go (reclaim, which runs the
 * notifier itself once it gives up: memory.c) and for the notifier's owner
 * (a balloon inflating must not deflate itself).
 */
#define GFP_NORETRY (1u << 4)

struct mm_boot_params {
	void *ram;		 /* the guest's RAM, pfn 0 first; page aligned */
	uint64_t ram_bytes;	 /* a multiple of PAGE_SIZE */
	uint64_t low_zone_bytes; /* 0: 16 MiB, or half of RAM below 32 MiB;
				    at most ram_bytes / 2 */
	unsigned int nr_cpus;	 /* 1 .. MAX_NR_CPUS */
	/*
	 * Page poisoning, off by default: free memory keeps @poison_val in
	 * every byte (0 is Linux's init_on_free) and allocation checks it
	 * (mm/page_poison.c).  @ram_zeroed: the RAM reads zero now (a fresh
	 * memfd, a VMM's fresh RAM), so a zero poison need not be written at
	 * boot.
	 */
	bool page_poison;
	uint8_t poison_val;
	bool ram_zeroed;
	/* How an allocation that falls back into another type's pageblock
	 * claims it (enum fallback_rule; 0, the default, is Linux's). */
	enum fallback_rule fallback_rule;
};

/*
 * mm_init - carve the node's metadata from the start of @params->ram, set up
 * the zones and free the rest of the RAM to the buddy allocator.
 * Return: 0 with *@out set; -EINVAL for RAM that is misaligned, too small
 * for its metadata plus one MAX_ORDER block, or larger than 16 TiB less one MAX_ORDER block, and for a
 * CPU count or a fallback rule out of range.
 */
int mm_init(const struct mm_boot_params *params, struct pglist_data **out);

/*
 * alloc_pages - a block of 2^@order frames.  Before it fails, it gives every
 * per-CPU list back to the zones and tries again, so it takes per-CPU locks
 * and zone locks: call it holding neither.  Then, without GFP_NORETRY and
 * for orders up to 3 (Linux's PAGE_ALLOC_COSTLY_ORDER), it runs the node's
 * OOM notifier (out_of_memory()) and looks again for as long as that gives
 * frames back.
 * Return: the block's first page, or NULL (no memory, or order >= MAX_ORDER).
 */
struct page *alloc_pages(struct pglist_data *pgdat, unsigned int gfp,
			 unsigned int order);

/*
 * free_pages - give back a block that alloc_pages() returned.
 * Return: 0; -EINVAL when @page is not the head of an allocated block of
 * @order (a double free, a frame inside a block, a block out for reporting,
 * the wrong order, a pointer that is not a struct page of this node), after
 * reporting it through platform_bad_state().  Nothing is changed in that
 * case.
 */
int free_pages(struct pglist_data *pgdat, struct page *page, unsigned int order);

/*
 * The node's OOM notifier: Linux's register_oom_notifier() for one device
 * (the balloon driver's deflate-on-oom).  notify() runs in an allocating
 * thread that found no memory, holding whatever that thread holds (never a
 * per-CPU or zone lock: alloc_pages()'s rule), so it may only give frames
 * back with free_pages() and talk to its device; it returns the frames it
 * freed, 0 when it has none left.  Calls may run in several threads at
 * once.
 */
struct oom_notifier {
	uint64_t (*notify)(struct oom_notifier *on);
};

/* Return: 0; -EBUSY when the node has a notifier already. */
int register_oom_notifier(struct pglist_data *pgdat, struct oom_notifier *on);
/* No call of @on starts after this; the ones running are waited for. */
void unregister_oom_notifier(struct pglist_data *pgdat, struct oom_notifier *on);
/*
 * out_of_memory - run the node's notifier, if any.  Return: the frames it
 * gave back (0: none, or no notifier).
 */
uint64_t out_of_memory(struct pglist_data *pgdat);

/* Give every per-CPU list's frames back to the buddy lists. */
void drain_all_pages(struct pglist_data *pgdat);

/*
 * Give back the per-CPU lists unused since the last call; mark the others
 * unused.  Return: true when a list still holds memory.
 */
bool drain_idle_pages(struct pglist_data *pgdat);

/*
 * Sum of free pages in the buddy lists of every zone (not per-CPU lists,
 * not isolated pageblocks).
 */
uint64_t pgdat_free_pages(struct pglist_data *pgdat);

/*
 * Free frames on every CPU's lists, order-0 frames and pageblocks: free
 * memory the buddy lists do not count, read without the lists' locks (a
 * snapshot, exact when no list changes meanwhile).  What kswapd's
 * watermarks add to pgdat_free_pages().
 */
uint64_t pgdat_pcp_pages(struct pglist_data *pgdat);

struct zone_stats {
	uint64_t managed_pages;
	uint64_t free_pages;
	uint64_t reported_pages;
	uint64_t pcp_pages;
	uint64_t watermark[NR_WMARK];
	uint64_t free_blocks[MAX_ORDER][MIGRATE_TYPES];
	uint64_t reported_blocks[MAX_ORDER][MIGRATE_TYPES];
};

/*
 * zone_managed_adjust - @delta frames leave (< 0) or rejoin @zone's managed
 * pages, and the node's watermarks are set again from the new total, as at
 * boot.  Takes every zone lock.  For memory blocks going offline and online.
 */
void zone_managed_adjust(struct zone *zone, int64_t delta);

/* A consistent snapshot of one zone, taken under its lock. */
void zone_get_stats(struct zone *zone, struct zone_stats *stats);

/*
 * buddy_check - the validator: every free list, boundary and counter of every
 * zone against a recount.  Takes each zone lock.
 * Return: 0, or -EUCLEAN after logging the first broken invariant.
 */
int buddy_check(struct pglist_data *pgdat);

extern const char *const migratetype_names[MIGRATE_TYPES];

/*
 * Sampled timing of the free path, for comparing hinting strategies: one
 * call of the zone's free (merge, put on the list, the strategy's hook) in
 * @every is timed, and kept when the block ended at @min_order or above -
 * where every strategy's hook acts - so that runs with different strategies
 * compare like with like.  Each zone's slot is written under its lock.
 * Set with mm_free_timing_start(), read after mm_free_timing_stop().
 */
#define MM_FREE_TIMING_SAMPLES 8192
struct mm_free_timing {
	unsigned int min_order;
	unsigned int every;
	struct {
		uint64_t calls;
		unsigned int n;
		uint32_t ns[MM_FREE_TIMING_SAMPLES];
	} zone[MAX_NR_ZONES];
};
void mm_free_timing_start(struct pglist_data *pgdat, struct mm_free_timing *ft);
/* Stop timing: once it returns, no free writes @ft any more. */
void mm_free_timing_stop(struct pglist_data *pgdat);

/* Lock classes, named as /proc/lock_stat would name them. */
enum mm_lock_class {
	MM_LOCK_ZONE,	   /* zone->lock, every zone */
	MM_LOCK_PCP,	   /* per_cpu_pages.lock, every zone and CPU */
	MM_LOCK_REPORTING, /* page_reporting_dev_info.pass_lock */
	/* zone->lock while the reporting worker holds it (always timed) */
	MM_LOCK_REPORTING_ZONE,
	MM_LOCK_LRU,	    /* lruvec->lru_lock */
	MM_LOCK_PTL,	    /* mm_space->ptl, every space */
	MM_LOCK_MMLIST,	    /* lruvec->mmlist_lock */
	MM_LOCK_SWAP,	    /* swap_info->lock */
	MM_LOCK_ZSWAP_TREE, /* zswap->tree_lock */
	MM_LOCK_ZBUD,	    /* zbud_pool->lock */
	NR_MM_LOCK_CLASSES
};
extern const char *const mm_lock_class_names[NR_MM_LOCK_CLASSES];

/*
 * mm_lock_stats - each class's statistics, summed over its locks (racy
 * reads).  The reporting class is the registered device's, or zero.
 */
void mm_lock_stats(struct pglist_data *pgdat,
		   struct lock_stats out[NR_MM_LOCK_CLASSES]);
/* Zero every lock's statistics (after a warm-up, say). */
void mm_lock_stats_reset(struct pglist_data *pgdat);

#endif
