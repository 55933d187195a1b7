/*
 * zpool.h - how zswap reaches the allocator that holds its compressed pages,
 * so that a denser allocator can sit beside zbud later.  A driver is a
 * static const table; its pool is opaque to zswap.  Handles are opaque,
 * never 0, and stay valid until freed (even if the driver moves the object:
 * the movable hooks below).
 */
#ifndef GUESTMM_MM_ZPOOL_H
#define GUESTMM_MM_ZPOOL_H

#include "mm/mmzone.h"

/* What the pool's user provides: called without any pool lock held. */
struct zpool_ops {
	/*
	 * Write the object out (to swap) and free its handle.  Return: 0 when
	 * the handle is gone (written back, or freed meanwhile); else -errno.
	 */
	int (*evict)(void *owner, uint64_t handle);
	/*
	 * Bring the object's data back into memory (seed 001 patch 4) and free
	 * its handle.  Return: as evict.
	 */
	int (*unuse)(void *owner, uint64_t handle);
};

struct zpool_driver {
	const char *name;
	/*
	 * Pages come from @pgdat with @gfp; at most @max_pages at a time.
	 * Return: 0 with *@pool; -GMM_ENOMEM.
	 */
	int (*create)(struct pglist_data *pgdat, unsigned int gfp,
		      uint64_t max_pages, const struct zpool_ops *ops,
		      void *owner, void **pool);
	void (*destroy)(void *pool);
	/* Return: 0; -GMM_EINVAL (size 0); -GMM_ENOSPC (too big); -GMM_ENOMEM. */
	int (*malloc)(void *pool, size_t size, uint64_t *handle);
	/* Return: 0; -GMM_EINVAL for a handle that is not live. */
	int (*free)(void *pool, uint64_t handle);
	/* Return: 0 with *@addr; -GMM_EINVAL for a handle that is not live. */
	int (*map)(void *pool, uint64_t handle, void **addr);
	void (*unmap)(void *pool, uint64_t handle);
	/*
	 * Free one pool page from the LRU tail by evicting its objects, trying
	 * up to @retries pages.  Return: 0; -GMM_EINVAL (nothing to evict);
	 * -GMM_EAGAIN (no page could be freed).
	 */
	int (*shrink)(void *pool, unsigned int retries);
	uint64_t (*total_pages)(void *pool);
	/* The pool lock's statistics added to @sum, or with @reset, zeroed. */
	void (*lock_stats)(void *pool, struct lock_stats *sum, bool reset);

	/*
	 * Movable hooks, for compaction and contiguous allocation.
	 * @owns_page: @page is one of this pool's pages (racy; reclaim_pages
	 * rechecks under the pool lock).  @reclaim_pages: empty the given
	 * pages by unusing their objects (seed 001); Return: 0 when every page
	 * was freed, -GMM_EAGAIN when some were not, *@freed counts them.
	 * A migrate hook (copy a pool page to a new frame, handles kept) goes
	 * here with the movable-operations work (issue 10 section 7).
	 */
	bool (*owns_page)(void *pool, struct page *page);
	int (*reclaim_pages)(void *pool, struct page **pages, unsigned int n,
			     unsigned int *freed);
};

extern const struct zpool_driver zbud_zpool_driver;

#endif
