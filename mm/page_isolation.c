/*
 * page_isolation.c - contiguous ranges: isolate, empty, take whole.
 *
 * alloc_contig_range() is CMA's allocation, in four steps:
 *
 *   isolate  under the zone lock, each pageblock of the range becomes
 *            MIGRATE_ISOLATE and its free blocks move to the ISOLATE lists,
 *            leaving the zone's free count (watermarks and kswapd see
 *            only what can be allocated, as Linux's accounting does).
 *            No allocation takes from those lists (no fallback names them,
 *            reporting's fill skips them), and frees into an isolated
 *            pageblock land there: the allocator reads the type on free;
 *            per-CPU lists are drained so frames parked there come back.
 *   check    every allocated page in the range must be movable (LRU, or
 *            carrying movable operations); one that is not - a zbud page
 *            under the `none` policy, a page table, metadata - fails the
 *            call with -EBUSY, as Linux's has_unmovable_pages(), once it is
 *            seen on two passes running (a frame allocated a moment ago
 *            looks unmovable until its owner marks it).
 *   migrate  each movable page is isolated and moved to a frame outside
 *            the range (alloc_pages(), which cannot return an isolated
 *            frame), or emptied in place by its owner (zbud `unuse`).
 *            Pages in flight - pinned, being faulted in, isolated by
 *            reclaim - are retried on the next pass, a bounded number.
 *            Short of free frames, it reclaims as a fault would.
 *   take     once the range is all free blocks, under the zone lock they
 *            come off the lists; each 4 MiB piece becomes an allocated
 *            block of MAX_ORDER - 1, which is what free_contig_range()
 *            gives back with free_pages().
 *
 * Blocks out for free page reporting (PG_isolated) are off the lists while
 * the device has them: a pass waits for them to come back - onto the
 * ISOLATE lists, as reporting's drain reads the type too - and never
 * disturbs the reporting cycle.  Reported blocks are taken like any other;
 * their memory is handed out with contents undefined, as any allocation.
 *
 * The range is aligned to MAX_ORDER_NR_PAGES: a free block never straddles
 * its edges, so isolating its pageblocks moves whole blocks, and merging -
 * which does not cross an isolated pageblock's edge at or above the
 * pageblock order - keeps the range's blocks inside it.  Linux splits a
 * straddling block instead; requiring the alignment is simpler, and every
 * user here (a 64 MiB region, 128 MiB memory blocks, 1 GiB pages) has it.
 */
#include "mm/compaction.h"

/* Passes over the range before a page that stays in flight fails it. */
#define CONTIG_MAX_PASSES 64
#define CONTIG_BATCH 32
/* Passes that ran out of targets before -ENOMEM. */
#define CONTIG_NOMEM_PASSES 4

static bool pfn_in_range(uint32_t pfn, uint32_t start, uint32_t end)
{
	return pfn >= start && pfn < end;
}

/*
 * Move the free blocks of @pfn's pageblock to the lists of its (new) type:
 * each is taken off and freed again, so that blocks whose pageblocks are no
 * longer isolated merge with their buddies outside.
 */
static void pageblock_refile_free_locked(struct zone *zone, uint32_t pfn)
{
	struct pglist_data *pgdat = zone->zone_pgdat;

	MM_ASSERT_HELD(&zone->lock);
	for (uint32_t p = pfn; p < pfn + PAGEBLOCK_NR_PAGES;) {
		struct page *page = pfn_to_page(pgdat, p);
		unsigned int order;
		bool reported;

		if (!(page_flags_read(page) & PG_buddy)) {
			p++;
			continue;
		}
		order = page->order;
		reported = page_flags_read(page) & PG_reported;
		zone_del_free_block_locked(zone, p, order);
		zone_free_block_locked(zone, p, order, reported, false);
		p += 1u << order;
	}
}

/* Make @pfn's pageblock MIGRATE_ISOLATE, keeping its type to give back. */
static void pageblock_isolate_locked(struct zone *zone, uint32_t pfn)
{
	uint8_t *b = &zone->zone_pgdat->pageblock_mt[pfn >> PAGEBLOCK_ORDER];
	uint8_t v = __atomic_load_n(b, __ATOMIC_RELAXED);

	MM_ASSERT_HELD(&zone->lock);
	__atomic_store_n(b, (uint8_t)((v & PB_CMA) | ((v & PB_MT_MASK) << PB_SAVED_SHIFT) |
				      MIGRATE_ISOLATE), __ATOMIC_RELAXED);
}

/* The type @pfn's isolated pageblock had before it was isolated. */
static enum migratetype pageblock_saved_type(struct zone *zone, uint32_t pfn)
{
	uint8_t v = __atomic_load_n(&zone->zone_pgdat->pageblock_mt[pfn >> PAGEBLOCK_ORDER],
				    __ATOMIC_RELAXED);

	return (enum migratetype)((v & PB_SAVED_MASK) >> PB_SAVED_SHIFT);
}

/*
 * Give the pageblocks [@start, @end) back the types they had before they
 * were isolated (Linux never isolates one with unmovable pages; here the
 * check comes after isolating, so the type is kept and given back).
 */
static void undo_isolate_page_range(struct zone *zone, uint32_t start,
				    uint32_t end)
{
	struct pglist_data *pgdat = zone->zone_pgdat;

	spin_lock(&zone->lock);
	for (uint32_t pfn = start; pfn < end; pfn += PAGEBLOCK_NR_PAGES) {
		if (get_pageblock_migratetype(pgdat, pfn) != MIGRATE_ISOLATE)
			continue;
		set_pageblock_migratetype(pgdat, pfn, pageblock_saved_type(zone, pfn));
		pageblock_refile_free_locked(zone, pfn);
	}
	spin_unlock(&zone->lock);
}

/* Return: 0; -GMM_EBUSY when a pageblock is isolated already (nothing done). */
static int start_isolate_page_range(struct zone *zone, uint32_t start,
				    uint32_t end)
{
	struct pglist_data *pgdat = zone->zone_pgdat;

	spin_lock(&zone->lock);
	for (uint32_t pfn = start; pfn < end; pfn += PAGEBLOCK_NR_PAGES) {
		if (get_pageblock_migratetype(pgdat, pfn) == MIGRATE_ISOLATE) {
			spin_unlock(&zone->lock);
			return -GMM_EBUSY;
		}
	}
	for (uint32_t pfn = start; pfn < end; pfn += PAGEBLOCK_NR_PAGES) {
		pageblock_isolate_locked(zone, pfn);
		pageblock_refile_free_locked(zone, pfn);
	}
	spin_unlock(&zone->lock);
	return 0;
}

/*
 * An allocated page that no migration will ever move: not LRU, not
 * movable, and not an anonymous page merely in flight (isolated by reclaim
 * or another scanner, or just allocated).
 */
static bool page_unmovable(struct page *page)
{
	/*
	 * Also a frame allocated a moment ago whose owner has not marked it
	 * yet, or a compaction's free target: the caller asks twice.
	 */
	uint16_t flags = page_flags_read(page);

	if (flags & PG_reserved)
		return true;
	if (!(flags & PG_head))
		return false; /* free, on a per-CPU list, out for reporting, inside a block */
	return !(flags & (PG_lru | PG_movable | PG_anon));
}

/*
 * Look for unmovable pages in the isolated range.  The flags of a free
 * block's inner frames are 0, so a frame-by-frame walk needs no zone lock.
 */
static uint32_t range_first_unmovable(struct pglist_data *pgdat, uint32_t start,
				      uint32_t end)
{
	for (uint32_t pfn = start; pfn < end; pfn++)
		if (page_unmovable(pfn_to_page(pgdat, pfn)))
			return pfn;
	return PFN_NONE;
}

/* Migration targets for a contiguous range: anywhere else. */
struct contig_target {
	struct migrate_target t;
	struct pglist_data *pgdat;
	uint32_t start, end;
};

static struct page *contig_alloc(struct migrate_target *t)
{
	struct contig_target *ct = (struct contig_target *)t;
	struct pglist_data *pgdat = ct->pgdat;

	/* As a fault's direct reclaim: up to 16 rounds that free nothing. */
	for (unsigned int fruitless = 0; fruitless < 16;) {
		struct page *page = alloc_pages(pgdat, GFP_MOVABLE, 0);

		if (page) {
			if (pfn_in_range(page_to_pfn(pgdat, page), ct->start, ct->end))
				platform_bad_state("contig: target pfn %#x inside the isolated range",
						   page_to_pfn(pgdat, page));
			return page;
		}
		/* Short of memory: make some, as a fault would. */
		if (!shrink_node(pgdat->lruvec, CONTIG_BATCH))
			fruitless++;
	}
	return NULL;
}

static void contig_free(struct migrate_target *t, struct page *page)
{
	struct contig_target *ct = (struct contig_target *)t;

	free_pages(ct->pgdat, page, 0);
}

/*
 * One pass: isolate and move every movable page in the range.
 * Return: 0, or -GMM_ENOMEM when targets ran out.
 */
static int migrate_range(struct contig_target *ct, struct compact_result *res)
{
	struct pglist_data *pgdat = ct->pgdat;
	struct migrate_item items[CONTIG_BATCH];
	unsigned int n = 0;
	int err = 0;

	for (uint32_t pfn = ct->start; pfn < ct->end && !err; pfn++) {
		struct page *page = pfn_to_page(pgdat, pfn);
		uint16_t flags = page_flags_read(page);

		res->migrate_scanned++;
		if (!(flags & PG_head) || !(flags & (PG_lru | PG_movable)))
			continue;
		if (!isolate_movable_page(pgdat, page, &items[n]))
			continue;
		res->isolated++;
		if (++n == CONTIG_BATCH) {
			err = migrate_pages(pgdat, items, n, &ct->t, &res->migrate);
			n = 0;
		}
	}
	if (n && !err)
		err = migrate_pages(pgdat, items, n, &ct->t, &res->migrate);
	return err;
}

/*
 * Is the isolated range all free blocks on the lists?  When it is, take
 * them off and make each MAX_ORDER piece an allocated block.
 * Return: true when taken.
 */
static bool take_free_range(struct zone *zone, uint32_t start, uint32_t end)
{
	struct pglist_data *pgdat = zone->zone_pgdat;
	struct free_bitmap *fb;
	uint32_t pfn;

	spin_lock(&zone->lock);
	for (pfn = start; pfn < end;) {
		struct page *page = pfn_to_page(pgdat, pfn);

		if (!(page_flags_read(page) & PG_buddy)) {
			spin_unlock(&zone->lock);
			return false;
		}
		pfn += 1u << page->order;
	}
	for (pfn = start; pfn < end;) {
		unsigned int order = pfn_to_page(pgdat, pfn)->order;

		zone_del_free_block_locked(zone, pfn, order);
		pfn += 1u << order;
	}
	for (pfn = start; pfn < end; pfn += MAX_ORDER_NR_PAGES) {
		struct page *page = pfn_to_page(pgdat, pfn);

		page->order = MAX_ORDER - 1;
		page->migratetype = MIGRATE_MOVABLE;
		__atomic_store_n(&page->flags, PG_head, __ATOMIC_RELEASE);
	}
	spin_unlock(&zone->lock);
	/*
	 * Taken as an allocation takes, so waited for as alloc_pages() waits:
	 * chunks the bitmap strategy's host is discarding are not the
	 * caller's to write until the ack.
	 */
	fb = atomic_load_explicit(&pgdat->free_bitmap, memory_order_acquire);
	if (fb)
		for (pfn = start; pfn < end; pfn += MAX_ORDER_NR_PAGES)
			free_bitmap_alloc_wait(fb, pfn, MAX_ORDER - 1);
	for (pfn = start; pfn < end; pfn += MAX_ORDER_NR_PAGES)
		page_poison_alloc(pgdat, pfn, MAX_ORDER - 1, "alloc_contig_range");
	return true;
}

/* Return: the zone holding all of [@start, @end), or NULL. */
static struct zone *range_zone(struct pglist_data *pgdat, uint32_t start,
			       uint32_t end)
{
	struct zone *zone;

	if (start >= end || end > pgdat->node_spanned_pages)
		return NULL;
	zone = page_zone(pgdat, start);
	if (end > zone->zone_start_pfn + zone->spanned_pages)
		return NULL;
	return zone;
}

int alloc_contig_range(struct pglist_data *pgdat, uint32_t start, uint32_t end,
		       struct compact_result *res)
{
	struct compact_result dummy = { 0 };
	struct contig_target ct = {
		.t = { .get = contig_alloc, .put = contig_free },
		.pgdat = pgdat,
		.start = start,
		.end = end,
	};
	uint32_t last_unmovable = PFN_NONE;
	unsigned int no_target_passes = 0;
	struct zone *zone;
	int err = -GMM_EBUSY;

	_Static_assert(offsetof(struct contig_target, t) == 0, "target first");
	if (!res)
		res = &dummy;
	if ((start | end) & (MAX_ORDER_NR_PAGES - 1)) {
		platform_log("alloc_contig_range: [%#x, %#x) is not aligned to %lu frames (4 MiB)",
			     start, end, MAX_ORDER_NR_PAGES);
		return -GMM_EINVAL;
	}
	zone = range_zone(pgdat, start, end);
	if (!zone || start < pgdat->reserved_pages) {
		platform_log("alloc_contig_range: [%#x, %#x) is empty, outside one zone, or over the node's metadata",
			     start, end);
		return -GMM_EINVAL;
	}
	if (!compact_users_enter(pgdat))
		return -GMM_ENOSYS;
	if (!pgdat->lruvec) {
		compact_users_exit(pgdat);
		return -GMM_ENOSYS;
	}
	if (start_isolate_page_range(zone, start, end))
		goto out;
	drain_all_pages(pgdat);
	for (unsigned int pass = 0; pass < CONTIG_MAX_PASSES; pass++) {
		uint32_t unmovable = range_first_unmovable(pgdat, start, end);

		res->rounds++;
		/* The same frame unmovable on two passes: it stays so. */
		if (unmovable != PFN_NONE && unmovable == last_unmovable) {
			err = -GMM_EBUSY;
			break;
		}
		last_unmovable = unmovable;
		/*
		 * Out of targets even after reclaim: a busy guest may free
		 * memory meanwhile, so a few passes more before giving up.
		 */
		if (migrate_range(&ct, res) && ++no_target_passes >= CONTIG_NOMEM_PASSES) {
			err = -GMM_ENOMEM;
			break;
		}
		/* Old frames and emptied pool pages may sit on per-CPU lists. */
		drain_all_pages(pgdat);
		if (take_free_range(zone, start, end)) {
			err = 0;
			break;
		}
		/* Pinned pages, reporting's blocks: give them time. */
		for (unsigned int i = 0; i <= pass; i++)
			platform_cpu_relax(1000);
	}
	undo_isolate_page_range(zone, start, end);
out:
	compact_users_exit(pgdat);
	count_compact_event(pgdat, err ? CMA_ALLOC_FAIL : CMA_ALLOC_SUCCESS, 1);
	return err;
}

int cma_declare_range(struct pglist_data *pgdat, uint32_t start, uint32_t end)
{
	struct zone *zone = range_zone(pgdat, start, end);

	if (((start | end) & (MAX_ORDER_NR_PAGES - 1)) || !zone ||
	    start < pgdat->reserved_pages) {
		platform_log("cma_declare_range: [%#x, %#x) is unaligned, outside one zone, or over the metadata",
			     start, end);
		return -GMM_EINVAL;
	}
	spin_lock(&zone->lock);
	for (uint32_t pfn = start; pfn < end; pfn += PAGEBLOCK_NR_PAGES) {
		uint8_t *b = &pgdat->pageblock_mt[pfn >> PAGEBLOCK_ORDER];

		__atomic_fetch_or(b, (uint8_t)PB_CMA, __ATOMIC_RELAXED);
	}
	spin_unlock(&zone->lock);
	return 0;
}

int free_contig_range(struct pglist_data *pgdat, uint32_t start, uint32_t end)
{
	if (((start | end) & (MAX_ORDER_NR_PAGES - 1)) ||
	    !range_zone(pgdat, start, end))
		return -GMM_EINVAL;
	for (uint32_t pfn = start; pfn < end; pfn += MAX_ORDER_NR_PAGES) {
		struct page *page = pfn_to_page(pgdat, pfn);

		if ((page_flags_read(page) != PG_head) || page->order != MAX_ORDER - 1) {
			platform_bad_state("free_contig_range: pfn %#x is not a contiguous allocation's",
					   pfn);
			return -GMM_EINVAL;
		}
	}
	for (uint32_t pfn = start; pfn < end; pfn += MAX_ORDER_NR_PAGES)
		free_pages(pgdat, pfn_to_page(pgdat, pfn), MAX_ORDER - 1);
	return 0;
}

int alloc_contig_pages(struct pglist_data *pgdat, uint64_t nr_pages,
		       uint32_t *start_pfn, struct compact_result *res)
{
	uint64_t top = pgdat->node_spanned_pages;

	if (nr_pages < MAX_ORDER_NR_PAGES || (nr_pages & (nr_pages - 1)) ||
	    nr_pages > top)
		return -GMM_EINVAL;
	for (uint64_t s = (top - nr_pages) & ~(nr_pages - 1);; s -= nr_pages) {
		uint32_t start = (uint32_t)s, end = (uint32_t)(s + nr_pages);

		if (start >= pgdat->reserved_pages && range_zone(pgdat, start, end) &&
		    range_first_unmovable(pgdat, start, end) == PFN_NONE &&
		    alloc_contig_range(pgdat, start, end, res) == 0) {
			*start_pfn = start;
			return 0;
		}
		if (s < nr_pages)
			break;
	}
	return -GMM_EBUSY;
}
