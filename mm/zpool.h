/*
 * zpool.h - how zswap reaches the allocator that holds its compressed pages:
 * zbud (two objects a page) or the dense pool (mm/zdense.c, size classes
 * over multi-page spans).  A driver is a static const table; its pool is
 * opaque to zswap.  Handles are opaque, never 0, and stay valid until freed
 * (even if the driver moves the object: the movable hooks below, and the
 * dense pool's own compaction).
 */
#ifndef GUESTMM_MM_ZPOOL_H
#define GUESTMM_MM_ZPOOL_H

#include "mm/mmzone.h"

/*
 * How a pool's pages take part in compaction and contiguous allocation
 * (issue 10 section 7), chosen per pool:
 *   NONE     pages are unmovable and allocated as unmovable (before seed 001);
 *   UNUSE    compaction empties a pool page by bringing its objects back
 *            into memory (seed 001); pages are allocated reclaimable;
 *   MIGRATE  compaction copies a pool page to another frame and every
 *            handle keeps working (seed 001's TODO); allocated movable.
 */
enum zpool_movable {
	ZPOOL_MOVABLE_NONE,
	ZPOOL_MOVABLE_UNUSE,
	ZPOOL_MOVABLE_MIGRATE,
	NR_ZPOOL_MOVABLE
};
extern const char *const zpool_movable_names[NR_ZPOOL_MOVABLE];

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
	/*
	 * The object's address for reading until unmap.  @local: PAGE_SIZE
	 * bytes of the caller's, where a driver whose objects may straddle
	 * two pages copies such an object (*@addr is then @local).
	 * Return: 0 with *@addr; -GMM_EINVAL for a handle that is not live.
	 */
	int (*map)(void *pool, uint64_t handle, void *local, void **addr);
	void (*unmap)(void *pool, uint64_t handle);
	/*
	 * Copy @len bytes of @src into the object (its first @len bytes);
	 * the first 8, when @len has them, with one atomic store, since
	 * zswap's writeback may read its header before the store is done.
	 * Return: 0; -GMM_EINVAL for a handle that is not live or @len
	 * larger than the object.
	 */
	int (*write)(void *pool, uint64_t handle, const void *src, size_t len);
	/*
	 * Free one pool page from the LRU tail by evicting its objects, trying
	 * up to @retries pages.  Return: 0; -GMM_EINVAL (nothing to evict);
	 * -GMM_EAGAIN (no page could be freed).
	 */
	int (*shrink)(void *pool, unsigned int retries);
	/*
	 * Optional: move objects so as to free pool pages without writing
	 * anything back (the dense pool; compaction calls it).  Return: pool
	 * pages freed.
	 */
	uint64_t (*compact)(void *pool);
	uint64_t (*total_pages)(void *pool);
	/* The pool lock's statistics added to @sum, or with @reset, zeroed. */
	void (*lock_stats)(void *pool, struct lock_stats *sum, bool reset);

	/*
	 * Movable hooks, for compaction and contiguous allocation.
	 * @owns_page: @page is one of this pool's pages (racy; reclaim_pages
	 * rechecks under the pool lock).  @reclaim_pages: empty the given
	 * pages by unusing their objects (seed 001); Return: 0 when every page
	 * was freed, -GMM_EAGAIN when some were not, *@freed counts them.
	 */
	bool (*owns_page)(void *pool, struct page *page);
	int (*reclaim_pages)(void *pool, struct page **pages, unsigned int n,
			     unsigned int *freed);
	/*
	 * @set_movable: the pool's policy, before its first allocation; it
	 * decides the gfp of pool pages (and overrides create's) and whether
	 * they carry movable operations (mm/migrate.h) that compaction calls.
	 * Return: 0; -GMM_EINVAL (policy out of range); -GMM_EBUSY (the pool
	 * has pages already).
	 */
	int (*set_movable)(void *pool, enum zpool_movable policy);
};

extern const struct zpool_driver zbud_zpool_driver;
extern const struct zpool_driver zdense_zpool_driver;

/* The driver named @name ("zbud", "dense"), or NULL. */
const struct zpool_driver *zpool_driver_find(const char *name);

#endif
