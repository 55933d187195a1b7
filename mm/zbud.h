/*
 * zbud.h - a pool of pages each holding up to two compressed objects.
 */
#ifndef GUESTMM_MM_ZBUD_H
#define GUESTMM_MM_ZBUD_H

#include "mm/zpool.h"

struct zbud_pool;

/*
 * zbud_create_pool - pages from @pgdat (which has a page_ext table) with
 * @gfp; handles for at most @max_pages pages.
 * Return: 0 with *@out; -GMM_EINVAL without page_ext; -GMM_ENOMEM.
 */
int zbud_create_pool(struct pglist_data *pgdat, unsigned int gfp,
		     uint64_t max_pages, const struct zpool_ops *ops,
		     void *owner, struct zbud_pool **out);
/* Every handle must have been freed. */
void zbud_destroy_pool(struct zbud_pool *pool);
int zbud_alloc(struct zbud_pool *pool, size_t size, uint64_t *handle);
int zbud_free(struct zbud_pool *pool, uint64_t handle);
int zbud_map(struct zbud_pool *pool, uint64_t handle, void **addr);
void zbud_unmap(struct zbud_pool *pool, uint64_t handle);
/* Copy @src into the object.  Return: 0; -GMM_EINVAL (not live, too long). */
int zbud_write(struct zbud_pool *pool, uint64_t handle, const void *src, size_t len);
int zbud_reclaim_page(struct zbud_pool *pool, unsigned int retries);
int zbud_reclaim_pages(struct zbud_pool *pool, struct page **pages,
		       unsigned int n, unsigned int *freed);
uint64_t zbud_get_pool_size(struct zbud_pool *pool); /* in pages */
/* See zpool_driver.set_movable.  Return: 0; -GMM_EINVAL; -GMM_EBUSY. */
int zbud_set_movable(struct zbud_pool *pool, enum zpool_movable policy);
/*
 * zbud_check - the validator: lists against chunk counts, reference counts
 * against live buddies, the handle table against the headers.
 * Return: 0, or -GMM_EUCLEAN after logging the first broken invariant.
 */
int zbud_check(struct zbud_pool *pool);

#endif
