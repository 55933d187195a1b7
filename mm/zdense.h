/*
 * zdense.h - a dense pool for compressed pages: objects in fine size
 * classes, packed across spans of 1 to 16 pages (mm/zdense.c).
 */
#ifndef GUESTMM_MM_ZDENSE_H
#define GUESTMM_MM_ZDENSE_H

#include "mm/zpool.h"

struct zdense_pool;

/* The largest object the pool takes: a page less the handle word. */
#define ZDENSE_MAX_ALLOC (PAGE_SIZE - 8)

/*
 * zdense_create_pool - spans from @pgdat (which has a page_ext table) with
 * @gfp; at most @max_pages pool pages at a time (spans and handles beyond
 * them are refused with -GMM_ENOMEM).
 * Return: 0 with *@out; -GMM_EINVAL without page_ext or with @max_pages
 * 0 or above 2^30; -GMM_ENOMEM.
 */
int zdense_create_pool(struct pglist_data *pgdat, unsigned int gfp,
		       uint64_t max_pages, const struct zpool_ops *ops,
		       void *owner, struct zdense_pool **out);
/* Every handle must have been freed. */
void zdense_destroy_pool(struct zdense_pool *pool);
/* Return: 0; -GMM_EINVAL (size 0); -GMM_ENOSPC (> ZDENSE_MAX_ALLOC); -GMM_ENOMEM. */
int zdense_malloc(struct zdense_pool *pool, size_t size, uint64_t *handle);
/* Return: 0; -GMM_EINVAL for a handle that is not live (logged). */
int zdense_free(struct zdense_pool *pool, uint64_t handle);
/*
 * zdense_map - the object's address, for reading, until zdense_unmap().  An
 * object that straddles two pages is copied into @local (PAGE_SIZE bytes,
 * the caller's) and *@addr is @local.  While mapped, the object's pages do
 * not migrate and it is not moved by pool compaction.
 * Return: 0; -GMM_EINVAL for a handle that is not live, or a straddling
 * object and no @local.
 */
int zdense_map(struct zdense_pool *pool, uint64_t handle, void *local, void **addr);
void zdense_unmap(struct zdense_pool *pool, uint64_t handle);
/*
 * Copy @len bytes of @src into the object, its first 8 bytes (when @len
 * has them) with one atomic store.  Return: 0; -GMM_EINVAL (not live, or
 * @len beyond the object's class).
 */
int zdense_write(struct zdense_pool *pool, uint64_t handle, const void *src, size_t len);
/*
 * zdense_compact - move objects out of the sparsest spans of every class
 * into the fullest, and free the spans emptied.  Return: pool pages freed.
 */
uint64_t zdense_compact(struct zdense_pool *pool);
/* As zpool_driver.shrink: pool compaction first, then LRU writeback. */
int zdense_shrink(struct zdense_pool *pool, unsigned int retries);
int zdense_reclaim_pages(struct zdense_pool *pool, struct page **pages,
			 unsigned int n, unsigned int *freed);
uint64_t zdense_get_pool_size(struct zdense_pool *pool); /* in pages */
/*
 * Pages the handle and span tables grew by (not in the pool size; their
 * directories, sized at creation, aside).
 */
uint64_t zdense_meta_pages(struct zdense_pool *pool);
/* See zpool_driver.set_movable.  Return: 0; -GMM_EINVAL; -GMM_EBUSY. */
int zdense_set_movable(struct zdense_pool *pool, enum zpool_movable policy);

/* The size classes, for tests and the bench. */
unsigned int zdense_nr_classes(void);
/* Class @c's object size (handle word included), pages per span, objects per span. */
void zdense_class_info(unsigned int c, unsigned int *size, unsigned int *pages,
		       unsigned int *objs);
/* The class an allocation of @size bytes lands in (size in 1..ZDENSE_MAX_ALLOC). */
unsigned int zdense_size_class(size_t size);

/*
 * zdense_check - the validator: every listed span against its class,
 * fullness group, free list and pages; every allocated object's handle
 * word against the handle table, and the counts of both.
 * Return: 0, or -GMM_EUCLEAN after logging the first broken invariant.
 */
int zdense_check(struct zdense_pool *pool);

#endif
