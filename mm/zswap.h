/*
 * zswap.h - a compressed cache in front of the swap device.
 */
#ifndef GUESTMM_MM_ZSWAP_H
#define GUESTMM_MM_ZSWAP_H

#include "mm/swap.h"
#include "mm/zpool.h"
#include "platform/compress.h"

struct zswap_config {
	const char *compressor;	     /* "lz4" (default) or "zstd" */
	const struct compressor *comp; /* instead of the name (tests) */
	unsigned int max_pool_percent; /* of the node's RAM; default 20 */
	unsigned int accept_threshold_percent; /* of the limit; default 90 */
	const struct zpool_driver *zpool; /* default zbud; zpool_driver_find() */
	unsigned int gfp;	     /* for pool pages, when the driver has no
					set_movable (else the policy decides) */
	enum zpool_movable movable;  /* default ZPOOL_MOVABLE_MIGRATE */
};

void zswap_config_init(struct zswap_config *cfg);

/* Counters, with the names Linux's zswap gives them in debugfs. */
enum zswap_event {
	ZSWAP_POOL_LIMIT_HIT,	     /* stores that found the pool at its limit */
	ZSWAP_REJECT_RECLAIM_FAIL,   /* drains that writeback could not finish */
	ZSWAP_REJECT_ALLOC_FAIL,     /* refused: the pool had no memory */
	ZSWAP_REJECT_COMPRESS_POOR,  /* refused: too big for the pool */
	ZSWAP_REJECT_COMPRESS_FAIL,  /* refused: the compressor failed */
	ZSWAP_WRITTEN_BACK_PAGES,    /* evicted to the swap file */
	ZSWAP_DUPLICATE_ENTRY,	     /* stores over an existing entry */
	ZSWAP_UNUSED_PAGES,	     /* brought back by unuse (seed 001) */
	ZSWAP_LOADS,		     /* pages read back */
	NR_ZSWAP_EVENTS
};
extern const char *const zswap_event_names[NR_ZSWAP_EVENTS];

struct zswap_stats {
	uint64_t events[NR_ZSWAP_EVENTS];
	uint64_t pool_total_size; /* bytes of pool pages */
	uint64_t pool_limit_bytes;
	uint64_t stored_pages;	  /* pages held, same-filled included */
	uint64_t same_filled_pages;
	uint64_t compressed_bytes; /* sum of stored objects' sizes */
};

/*
 * zswap_create - zswap for @lv's swap device.
 * Return: 0 with lv->zswap set; -GMM_EINVAL (unknown compressor, percent
 * out of range, no swap device); -GMM_ENOMEM.
 */
int zswap_create(struct lruvec *lv, const struct zswap_config *cfg);
/* Every slot must be free (no entry left). */
void zswap_destroy(struct lruvec *lv);

/*
 * zswap_store - keep @src, one page, as @slot's data.  Caller owns the
 * slot's SWAP_HAS_CACHE.  An entry already there is dropped first, so a
 * refused store never leaves stale data behind.
 * A store that finds the pool at its limit, or not yet back under its
 * accept threshold, is refused at once and schedules the shrink worker;
 * it never writes back itself.
 * Return: 0; -GMM_ENOMEM (pool full, or no pool memory); -GMM_ENOSPC
 * (compressed too poorly); -GMM_EINVAL (compressor).
 */
int zswap_store(struct zswap *zs, uint32_t slot, const void *src);
/*
 * zswap_load - @slot's data into @dst; the entry stays until the slot is
 * freed.  Caller owns SWAP_HAS_CACHE.
 * Return: 0; -GMM_ENOENT when zswap does not hold the slot; -GMM_EIO when
 * the object does not decompress (reported as bad state).
 */
int zswap_load(struct zswap *zs, uint32_t slot, void *dst);
/* Forget @slot's entry, if any (the slot is being freed; si->lock held). */
void zswap_invalidate(struct zswap *zs, uint32_t slot);
/*
 * Might a store be taken now: the pool has not been found full, or has
 * shrunk below its accept threshold since?
 */
bool zswap_has_room(struct zswap *zs);
/* Does zswap hold @slot? */
bool zswap_has_entry(struct zswap *zs, uint32_t slot);

void zswap_get_stats(struct zswap *zs, struct zswap_stats *st);
/* tree_lock's and the pool's lock statistics into @out, or zeroed. */
void zswap_lock_stats(struct zswap *zs, struct lock_stats out[NR_MM_LOCK_CLASSES],
		      bool reset);
/*
 * Have the pool move its objects so as to free pages without writeback
 * (the dense pool; zbud cannot).  Compaction calls it first.  Return: pool
 * pages freed.
 */
uint64_t zswap_compact_pool(struct zswap *zs);
/* The pool, through its driver (for compaction's movable hooks, tests). */
void *zswap_pool(struct zswap *zs);
const struct zpool_driver *zswap_zpool_driver(struct zswap *zs);

#endif
