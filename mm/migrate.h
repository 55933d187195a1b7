/*
 * migrate.h - moving allocated pages to other frames: the LRU's anonymous
 * pages, and movable pages that are not on the LRU, whose owner registers
 * movable operations (the general mechanism seed 001's thread asked for).
 * Compaction (compaction.c), contiguous allocation (page_isolation.c) and
 * memory offlining (memory_hotplug.c) are its users.
 */
#ifndef GUESTMM_MM_MIGRATE_H
#define GUESTMM_MM_MIGRATE_H

#include "mm/swap.h"

struct movable_owner;

/*
 * What the owner of a non-LRU movable page provides.  Every hook is called
 * with no lock held; the owner takes its own.
 *
 * @isolate_page: take @page out of the owner's structures with a reference,
 *   so that it stays the owner's and does not change frame until
 *   migrate_page or putback_page.  The page was found by a scanner that
 *   holds nothing, so the owner rechecks under its lock that it is its page.
 *   Return: true when isolated.
 * @migrate_page: move isolated @src's contents and every reference the
 *   owner keeps to it into @dst, a free frame (PG_head, order 0, contents
 *   undefined).  Return: 0: @dst is now the owner's and isolated, @src no
 *   longer is (its refcount 0, PG_movable clear; the caller frees the
 *   frame); or -errno (-GMM_EBUSY: in use, -GMM_EAGAIN: try later) with
 *   nothing changed.
 * @release_page: instead of @migrate_page, for an owner that empties a
 *   page in place (zbud's unuse policy brings the objects back into
 *   memory): no target frame is taken.  Return: 0 when the page holds
 *   nothing any more (putback_page then frees it); -errno otherwise.
 *   An owner provides one of the two.
 * @putback_page: undo isolate_page for @page (the original, or the new
 *   frame after a migration); the owner drops the isolation's reference,
 *   which frees the page if it holds nothing any more.
 */
struct movable_operations {
	bool (*isolate_page)(struct movable_owner *owner, struct page *page);
	int (*migrate_page)(struct movable_owner *owner, struct page *dst,
			    struct page *src);
	int (*release_page)(struct movable_owner *owner, struct page *page);
	void (*putback_page)(struct movable_owner *owner, struct page *page);
};


/*
 * Embedded by the owner; page_ext.mapping of each of its movable pages
 * points here.  The owner must outlive its pages: compaction may follow the
 * pointer of a page it peeked at just as the page is freed.
 */
struct movable_owner {
	uint64_t magic; /* MOVABLE_OWNER_MAGIC while the owner exists */
	const struct movable_operations *ops;
};

/*
 * A scanner reads page_ext.mapping of a page it saw PG_movable on, but the
 * page may have been freed and reused meanwhile (an anonymous page's mapping
 * is its space): the magic tells an owner from anything else that
 * page_ext.mapping can point to, all of it in the node's RAM.  The owner's
 * isolate_page then rechecks under its lock that the page is its own.
 */
#define MOVABLE_OWNER_MAGIC 0x6d6f7661626c6521ull /* "movable!" */

/*
 * Mark @page (allocated, order 0, owned by the caller) as movable through
 * @owner, or clear the mark.  The owner publishes the page's state before
 * it sets the mark, and clears the mark before it frees the page.
 */
static inline void page_set_movable(struct pglist_data *pgdat,
				    struct page *page,
				    struct movable_owner *owner)
{
	__atomic_store_n(&page_ext_of(pgdat, page)->mapping, (void *)owner,
			 __ATOMIC_RELAXED);
	__atomic_fetch_or(&page->flags, PG_movable, __ATOMIC_RELEASE);
}

static inline void page_clear_movable(struct page *page)
{
	page_flag_clear(page, PG_movable);
}

/* One isolated page, with what putting it back needs. */
struct migrate_item {
	struct page *page;
	bool active; /* an LRU page: it came off the active list */
};

/*
 * isolate_movable_page - take the allocated page @page, found by a scanner
 * holding nothing, away from its user for migration: off its LRU list, or
 * through its owner's isolate_page.  Return: true with *@item filled;
 * false when the page is not movable now (free, unmovable, in flight).
 */
bool isolate_movable_page(struct pglist_data *pgdat, struct page *page,
			  struct migrate_item *item);

/* Give an isolated page back to its user (LRU list or owner). */
void putback_movable_page(struct pglist_data *pgdat, struct migrate_item *item);

/*
 * Where a migration's targets come from: @get returns a free order-0 frame
 * (PG_head), or NULL when there is none; @put takes back one not used.
 */
struct migrate_target {
	struct page *(*get)(struct migrate_target *t);
	void (*put)(struct migrate_target *t, struct page *page);
};

struct migrate_result {
	uint64_t moved;	   /* pages copied to a new frame */
	uint64_t released; /* pages their owner emptied in place */
	uint64_t failed;   /* pages put back where they were */
	uint64_t no_target; /* pages not tried: no free frame */
};

/*
 * migrate_pages - move the @n isolated pages of @items to frames from @t,
 * one by one: copy, remap (the PTE through the reverse map, or the owner's
 * references through migrate_page), free the old frame to its zone; or,
 * for an owner with release_page, empty the page in place (no target).
 * Every page ends up put back, moved or freed; @res counts which (added to).
 * Return: 0; -GMM_ENOMEM when @t ran dry (the rest were put back).
 */
int migrate_pages(struct pglist_data *pgdat, struct migrate_item *items,
		  unsigned int n, struct migrate_target *t,
		  struct migrate_result *res);

static inline void count_compact_event(struct pglist_data *pgdat,
				       enum compact_event e, uint64_t n)
{
	atomic_fetch_add_explicit(&pgdat->compact.events[e], n,
				  memory_order_relaxed);
}

#endif
