/*
 * page_alloc.c - the buddy allocator.
 *
 * Free memory is kept as naturally aligned blocks of 2^order frames on
 * free_area[order].free_list[migratetype].  Allocation takes the smallest
 * block that fits and splits it ("expand"); freeing merges a block with its
 * buddy (pfn ^ 2^order) for as long as the buddy is free at the same order.
 * Each 2 MiB pageblock has a migratetype; a request that finds nothing of its
 * own type falls back to another type, and claims the pageblock it falls
 * into, with every free block in it, once half of it is free or of a
 * compatible type (Linux's rule), so that types stay grouped.  Order-0
 * requests go through per-CPU lists that move frames to and from the zone in
 * batches, so the zone lock is taken once per batch; and a batch moves as a
 * few whole blocks (a refill takes them whole and splits them after the
 * unlock, a flush merges its frames among themselves before the lock), so the
 * lock is held for a handful of list moves, not one per frame.  Blocks of the
 * pageblock order have per-CPU lists too, a couple deep.
 *
 * Invariants (checked by buddy_check()):
 *   free_area[o].nr_free == sum over mt of free_list[mt].nr
 *   zone->free_pages == sum over o, mt != MIGRATE_ISOLATE of
 *                       free_list[mt].nr << o
 *   a free block is on the MIGRATE_ISOLATE lists iff its pageblock is
 *   isolated
 *   zone->reported_blocks[o] == PG_reported blocks of order o
 *   no two free buddies of one order are both on the lists
 *   each list: unreported blocks, then from @boundary on Reported ones
 */
#include "mm/internal.h"

const char *const migratetype_names[MIGRATE_TYPES] = {
	[MIGRATE_UNMOVABLE] = "unmovable",
	[MIGRATE_MOVABLE] = "movable",
	[MIGRATE_RECLAIMABLE] = "reclaimable",
	[MIGRATE_ISOLATE] = "isolate",
};

const char *const mm_lock_class_names[NR_MM_LOCK_CLASSES] = {
	[MM_LOCK_ZONE] = "&zone->lock",
	[MM_LOCK_PCP] = "&pcp->lock",
	[MM_LOCK_REPORTING] = "&prdev->pass_lock",
	[MM_LOCK_REPORTING_ZONE] = "&zone->lock (reporting worker)",
	[MM_LOCK_LRU] = "&lruvec->lru_lock",
	[MM_LOCK_PTL] = "&mm->ptl",
	[MM_LOCK_MMLIST] = "&lruvec->mmlist_lock",
	[MM_LOCK_SWAP] = "&si->lock",
	[MM_LOCK_ZSWAP_TREE] = "&zswap->tree_lock",
	[MM_LOCK_ZBUD] = "&pool->lock",
};

/* Where a request of one type looks when its own lists are empty. */
static const enum migratetype fallbacks[MIGRATE_PCPTYPES][2] = {
	[MIGRATE_UNMOVABLE] = { MIGRATE_RECLAIMABLE, MIGRATE_MOVABLE },
	[MIGRATE_MOVABLE] = { MIGRATE_RECLAIMABLE, MIGRATE_UNMOVABLE },
	[MIGRATE_RECLAIMABLE] = { MIGRATE_UNMOVABLE, MIGRATE_MOVABLE },
};

/*
 * Per-CPU list sizes, at most: a batch amortises one zone-lock round trip
 * over 512 frames (Linux's is at most 63, and 1 for a 16 MiB zone).  The
 * lock is held for a few list moves per batch whatever its size (whole
 * blocks, see rmqueue_bulk() and pcp_premerge()), so the hold per frame
 * falls with the batch: page_fault1 ran ~14 % faster with 255 than with 63,
 * and 5-10 % faster again with 511.  A power of two, a pageblock, is what
 * makes "a few" one: a refill takes one order-9 block and a flush of frames
 * used together gives back one or two, where 511 took and returned nine
 * blocks of orders 8 to 0, each a split or a merge: the hold per frame fell
 * from 5.4 to 1.7 ns at 2 threads, and from 30 to 2.2 ns at 8 on 2 cores,
 * where a longer hold is more often preempted (results.md, issue 6).
 * High at 4 batches keeps up to 8 MiB per CPU and zone warm.  That memory is
 * hidden from reporting and from the watermarks, so zone_pcp_sizes() scales
 * both down until all CPUs' lists hold at most an eighth of the zone, and a
 * list left idle for a reporting pass is given back.  The cost is stack: a
 * flush sorts its batch in ~5 KiB of arrays.
 */
#define PCP_BATCH 512
#define PCP_HIGH (4 * PCP_BATCH)
#define PCP_BATCH_MAX 512 /* the most one refill or flush moves */
/*
 * Pageblock-order blocks a CPU keeps, at most: enough that a loop
 * allocating and freeing one never takes the zone lock; scaled down until
 * all CPUs' hold at most a sixteenth of the zone (none, in a small zone
 * with many CPUs).
 */
#define PCP_PAGEBLOCK_HIGH 2

/* ---- free lists (zone lock held) ---- */

static void free_list_add_head(struct pglist_data *pgdat, struct free_list *l,
			       uint32_t pfn)
{
	struct page *page = pfn_to_page(pgdat, pfn);

	page->prev = PFN_NONE;
	page->next = l->head;
	if (l->head != PFN_NONE)
		pfn_to_page(pgdat, l->head)->prev = pfn;
	else
		l->tail = pfn;
	l->head = pfn;
	l->nr++;
}

/* Insert in front of the boundary: the new block becomes the boundary. */
static void free_list_add_reported(struct pglist_data *pgdat,
				   struct free_list *l, uint32_t pfn)
{
	struct page *page = pfn_to_page(pgdat, pfn);
	uint32_t next = l->boundary;
	uint32_t prev = next == PFN_NONE ? l->tail : pfn_to_page(pgdat, next)->prev;

	page->next = next;
	page->prev = prev;
	if (prev == PFN_NONE)
		l->head = pfn;
	else
		pfn_to_page(pgdat, prev)->next = pfn;
	if (next == PFN_NONE)
		l->tail = pfn;
	else
		pfn_to_page(pgdat, next)->prev = pfn;
	l->boundary = pfn;
	l->nr++;
}

static void free_list_del(struct pglist_data *pgdat, struct free_list *l,
			  uint32_t pfn)
{
	struct page *page = pfn_to_page(pgdat, pfn);

	if (l->boundary == pfn)
		l->boundary = page->next;
	if (page->prev == PFN_NONE)
		l->head = page->next;
	else
		pfn_to_page(pgdat, page->prev)->next = page->next;
	if (page->next == PFN_NONE)
		l->tail = page->prev;
	else
		pfn_to_page(pgdat, page->next)->prev = page->prev;
	page->next = page->prev = PFN_NONE;
	l->nr--;
}

static void zone_add_free_block_locked(struct zone *zone, uint32_t pfn,
				       unsigned int order, enum migratetype mt,
				       bool reported)
{
	struct pglist_data *pgdat = zone->zone_pgdat;
	struct page *page = pfn_to_page(pgdat, pfn);
	struct free_area *area = &zone->free_area[order];

	page->order = (uint8_t)order;
	page->migratetype = (uint8_t)mt;
	if (reported) {
		page_flags_set(page, PG_buddy | PG_reported);
		free_list_add_reported(pgdat, &area->free_list[mt], pfn);
		zone->reported_blocks[order]++;
	} else {
		page_flags_set(page, PG_buddy);
		free_list_add_head(pgdat, &area->free_list[mt], pfn);
	}
	area->nr_free++;
	/* Isolated free memory is nobody's to allocate: see free_pages. */
	if (mt != MIGRATE_ISOLATE)
		atomic_store_explicit(&zone->free_pages,
				      zone_free_pages(zone) + (1ull << order),
				      memory_order_relaxed);
	if (order >= atomic_load_explicit(&pgdat->bitmap_order,
					  memory_order_relaxed))
		free_bitmap_add_locked(zone, pfn, order);
}

void zone_del_free_block_locked(struct zone *zone, uint32_t pfn,
				unsigned int order)
{
	struct pglist_data *pgdat = zone->zone_pgdat;
	struct page *page = pfn_to_page(pgdat, pfn);
	struct free_area *area = &zone->free_area[order];
	enum migratetype mt = page->migratetype;

	MM_ASSERT_HELD(&zone->lock);
	free_list_del(pgdat, &area->free_list[mt], pfn);
	if (page->flags & PG_reported)
		zone->reported_blocks[order]--;
	page_flags_set(page, 0);
	area->nr_free--;
	if (mt != MIGRATE_ISOLATE)
		atomic_store_explicit(&zone->free_pages,
				      zone_free_pages(zone) - (1ull << order),
				      memory_order_relaxed);
	if (order >= atomic_load_explicit(&pgdat->bitmap_order,
					  memory_order_relaxed))
		free_bitmap_del_locked(zone, pfn, order);
}

static bool zone_spans_block(const struct zone *zone, uint32_t pfn,
			     unsigned int order)
{
	return pfn >= zone->zone_start_pfn &&
	       (uint64_t)pfn + (1ull << order) <=
		       (uint64_t)zone->zone_start_pfn + zone->spanned_pages;
}

/* The flags of a frame this thread may not own: see page_flags_set(). */
static uint16_t page_flags_peek(const struct page *page)
{
	return __atomic_load_n(&page->flags, __ATOMIC_RELAXED);
}

/* @pfn is the head of a free block of @order in @zone. */
static bool page_is_buddy(struct zone *zone, uint32_t pfn, unsigned int order)
{
	const struct page *page;

	if (!zone_spans_block(zone, pfn, order))
		return false;
	page = pfn_to_page(zone->zone_pgdat, pfn);
	return (page_flags_peek(page) & PG_buddy) && page->order == order;
}

/* The later of two free stamps (ticks that wrap). */
static uint32_t free_stamp_later(uint32_t a, uint32_t b)
{
	return (int32_t)(b - a) > 0 ? b : a;
}

/*
 * Free stamps, for reporting's minimum age.  The invariant, for a free block
 * at or above the reporting order R: every frame of it aligned to 2^R holds
 * in ->private the time from which all frames of the block that splitting
 * would put back there have been free - its head, the whole block's.  A
 * merge therefore writes the stamp of the block it absorbs into only the
 * block's own head (the lower half's head becomes the merged head), and the
 * upper half keeps its stamp for expand(), which writes none.  A block just
 * freed (@notify) is stamped now throughout, 2^(order - R) writes; one coming
 * back from reporting keeps its stamps, and a merge takes the later one.
 */
static unsigned int zone_merge_free_block_locked(struct zone *zone, uint32_t pfn,
						 unsigned int order,
						 bool reported, bool notify)
{
	struct pglist_data *pgdat = zone->zone_pgdat;
	enum migratetype mt = get_pageblock_migratetype(pgdat, pfn);
	unsigned int rorder = atomic_load_explicit(&pgdat->reporting_order,
						   memory_order_relaxed);
	/* The stamp of the block being put back, once it is >= rorder. */
	bool stamped = !notify && order >= rorder;
	uint32_t stamp = stamped ? pfn_to_page(pgdat, pfn)->private : 0;

	MM_ASSERT_HELD(&zone->lock);
	if (notify && order >= rorder) {
		stamp = page_reporting_now();
		stamped = true;
		for (uint32_t p = pfn + (1u << rorder); p < pfn + (1u << order);
		     p += 1u << rorder)
			pfn_to_page(pgdat, p)->private = stamp;
	}
	while (order < MAX_ORDER - 1) {
		uint32_t buddy = pfn ^ (1u << order);
		struct page *bp;

		if (!page_is_buddy(zone, buddy, order))
			break;
		bp = pfn_to_page(pgdat, buddy);
		/* Isolated pageblocks do not merge with others. */
		if (order >= PAGEBLOCK_ORDER &&
		    (mt == MIGRATE_ISOLATE) !=
			    (get_pageblock_migratetype(pgdat, buddy) ==
			     MIGRATE_ISOLATE))
			break;
		reported = reported && (bp->flags & PG_reported);
		if (order >= rorder) {
			/* One clock read, only for blocks reporting may take. */
			if (!stamped)
				stamp = page_reporting_now();
			stamped = true;
			/* Kept for a split, should this be the upper half. */
			pfn_to_page(pgdat, pfn)->private = stamp;
			if (!notify)
				stamp = free_stamp_later(stamp, bp->private);
		}
		zone_del_free_block_locked(zone, buddy, order);
		pfn &= ~(1u << order);
		order++;
	}
	mt = get_pageblock_migratetype(pgdat, pfn);
	zone_add_free_block_locked(zone, pfn, order, mt, reported);
	/* Page hinting (percpu) records the blocks the free path makes. */
	if (notify && order >= atomic_load_explicit(&pgdat->hinting_order,
						    memory_order_relaxed))
		page_hinting_free_locked(zone, pfn, order);
	/* Below the reporting order (the common case) reporting has no use
	 * for the block: one load decided, and the free path ends here. */
	if (order < rorder)
		return order;
	pfn_to_page(pgdat, pfn)->private = stamped ? stamp : page_reporting_now();
	if (notify && !reported)
		page_reporting_notify_free(zone, order);
	return order;
}

void zone_free_block_locked(struct zone *zone, uint32_t pfn, unsigned int order,
			    bool reported, bool notify)
{
	struct mm_free_timing *ft = atomic_load_explicit(
		&zone->zone_pgdat->free_timing, memory_order_relaxed);

	if (!ft || !notify) {
		zone_merge_free_block_locked(zone, pfn, order, reported, notify);
		return;
	}
	mm_free_timing_call_locked(ft, zone, pfn, order, reported,
				   zone_merge_free_block_locked);
}

/*
 * Split a block of order @high taken for a request of order @low: the upper
 * halves go back on the lists.  Halves of a Reported block are still
 * discarded memory, so those at or above the reporting order stay Reported;
 * smaller ones lose the mark, which only costs a later report.
 */
static void expand(struct zone *zone, uint32_t pfn, unsigned int low,
		   unsigned int high, enum migratetype mt, bool reported)
{
	unsigned int rorder = atomic_load_explicit(
		&zone->zone_pgdat->reporting_order, memory_order_relaxed);

	/*
	 * Each half keeps its own free stamp (zone_free_block_locked()): one
	 * free for long stays old though its buddy was freed just now.
	 */
	while (high > low) {
		high--;
		zone_add_free_block_locked(zone, pfn + (1u << high), high, mt,
					   reported && high >= rorder);
	}
}

/* Return: the head of a block of @order from @mt's lists, or PFN_NONE. */
static uint32_t rmqueue_smallest(struct zone *zone, unsigned int order,
				 enum migratetype mt)
{
	for (unsigned int o = order; o < MAX_ORDER; o++) {
		struct free_list *l = &zone->free_area[o].free_list[mt];
		uint32_t pfn = l->head;
		bool reported;

		if (pfn == PFN_NONE)
			continue;
		reported = pfn_to_page(zone->zone_pgdat, pfn)->flags & PG_reported;
		zone_del_free_block_locked(zone, pfn, o);
		expand(zone, pfn, order, o, mt, reported);
		return pfn;
	}
	return PFN_NONE;
}

void set_pageblock_migratetype(struct pglist_data *pgdat, uint32_t pfn,
			       enum migratetype mt)
{
	MM_ASSERT_HELD(&page_zone(pgdat, pfn)->lock);
	/* Read without the lock: see get_pageblock_migratetype(). */
	uint8_t *b = &pgdat->pageblock_mt[pfn >> PAGEBLOCK_ORDER];

	__atomic_store_n(b, (uint8_t)((__atomic_load_n(b, __ATOMIC_RELAXED) & PB_CMA) | mt),
			 __ATOMIC_RELAXED);
}

/* Move every free block inside @pfn's pageblock to @mt's lists. */
static void move_freepages_block(struct zone *zone, uint32_t pfn,
				 enum migratetype mt)
{
	struct pglist_data *pgdat = zone->zone_pgdat;
	uint32_t start = pfn & ~(uint32_t)(PAGEBLOCK_NR_PAGES - 1);
	uint32_t end = start + PAGEBLOCK_NR_PAGES;

	if (start < zone->zone_start_pfn)
		start = zone->zone_start_pfn;
	if (end > zone->zone_start_pfn + zone->spanned_pages)
		end = zone->zone_start_pfn + zone->spanned_pages;
	for (uint32_t p = start; p < end;) {
		struct page *page = pfn_to_page(pgdat, p);
		unsigned int order;
		bool reported;

		if (!(page_flags_peek(page) & PG_buddy)) {
			p++;
			continue;
		}
		order = page->order;
		reported = page->flags & PG_reported;
		zone_del_free_block_locked(zone, p, order);
		zone_add_free_block_locked(zone, p, order, mt, reported);
		p += 1u << order;
	}
}

/*
 * The block of @fmt's order-@o list that a fallback of @start_mt takes, or
 * PFN_NONE.  Unmovable memory stays out of declared (CMA) regions.  An
 * unmovable or reclaimable request takes the list's tail, a movable one its
 * head: frees add at the head and boot frees the zone upwards, so the tail
 * of a movable list starts as the lowest block of the zone and the head as
 * the highest.  The tables taken at boot (page_ext, swap map, pool tables)
 * so settle at the bottom of the zone, and the top gigabyte, the only 1 GiB
 * candidate of a 2 GiB node (alloc_contig_pages() looks from the top), stays
 * movable.
 */
static uint32_t fallback_block(struct zone *zone, unsigned int o, enum migratetype fmt,
			       enum migratetype start_mt)
{
	struct pglist_data *pgdat = zone->zone_pgdat;
	const struct free_list *l = &zone->free_area[o].free_list[fmt];
	bool from_tail = start_mt != MIGRATE_MOVABLE;
	uint32_t pfn = from_tail ? l->tail : l->head;

	while (start_mt == MIGRATE_UNMOVABLE && pfn != PFN_NONE &&
	       pageblock_is_cma(pgdat, pfn)) {
		const struct page *page = pfn_to_page(pgdat, pfn);

		pfn = from_tail ? page->prev : page->next;
	}
	return pfn;
}

/* Take @pfn, a free block of order @o on @fmt's lists, for an order-@order request. */
static uint32_t fallback_take(struct zone *zone, uint32_t pfn, unsigned int o,
			      unsigned int order, enum migratetype fmt)
{
	bool reported = pfn_to_page(zone->zone_pgdat, pfn)->flags & PG_reported;

	zone_del_free_block_locked(zone, pfn, o);
	expand(zone, pfn, order, o, fmt, reported);
	return pfn;
}

/* A block of a pageblock or more: all its pageblocks become @start_mt's. */
static uint32_t fallback_claim_range(struct zone *zone, uint32_t pfn, unsigned int o,
				     unsigned int order, enum migratetype start_mt)
{
	for (uint32_t b = 0; b < (1u << o); b += PAGEBLOCK_NR_PAGES)
		set_pageblock_migratetype(zone->zone_pgdat, pfn + b, start_mt);
	move_freepages_block(zone, pfn, start_mt);
	return rmqueue_smallest(zone, order, start_mt);
}

/*
 * This allocator's first rule (FALLBACK_LEGACY): the largest block of
 * another type; one of at least half a pageblock claims its whole pageblock
 * (all of them, for a block larger than one) for @start_mt, a smaller one
 * is taken alone.
 */
static uint32_t rmqueue_fallback_legacy(struct zone *zone, unsigned int order,
					enum migratetype start_mt)
{
	for (unsigned int o = MAX_ORDER; o-- > order;) {
		for (unsigned int i = 0; i < 2; i++) {
			enum migratetype fmt = fallbacks[start_mt][i];
			uint32_t pfn = fallback_block(zone, o, fmt, start_mt);

			if (pfn == PFN_NONE)
				continue;
			if (o >= PAGEBLOCK_ORDER)
				return fallback_claim_range(zone, pfn, o, order, start_mt);
			/*
			 * A pageblock that straddles a zone edge is left as it
			 * is: its type byte is read under the other zone's lock.
			 */
			if (o >= PAGEBLOCK_ORDER / 2 &&
			    zone_spans_block(zone, pfn & ~(uint32_t)(PAGEBLOCK_NR_PAGES - 1),
					     PAGEBLOCK_ORDER)) {
				set_pageblock_migratetype(zone->zone_pgdat, pfn, start_mt);
				move_freepages_block(zone, pfn, start_mt);
				return rmqueue_smallest(zone, order, start_mt);
			}
			return fallback_take(zone, pfn, o, order, fmt);
		}
	}
	return PFN_NONE;
}

/*
 * Whether a fallback of @start_mt from an order-@o block may claim its
 * pageblock (Linux's should_try_claim_block()): a movable request only
 * from half a pageblock up, so that movable memory spreads into other
 * types' pageblocks in pieces compaction can take back; unmovable and
 * reclaimable ones from any order, so that they gather in few pageblocks.
 */
static bool fallback_may_claim(unsigned int o, enum migratetype start_mt)
{
	return o >= PAGEBLOCK_ORDER / 2 || start_mt != MIGRATE_MOVABLE;
}

/*
 * Claim @pfn's pageblock, of type @fmt, for @start_mt when at least half of
 * it is free or allocated to users like @start_mt (Linux's
 * try_to_claim_block()): movable frames (LRU, anonymous, pool pages) for a
 * movable request; for an unmovable or reclaimable one falling into a
 * movable pageblock, every frame allocated and not known movable (Linux
 * cannot tell unmovable from reclaimable there either, and counts neither
 * between the two).  The count is a walk over the pageblock's 512 struct
 * pages, which move_freepages_block() makes anyway when it claims.
 * Return: true when claimed (the type set, the free blocks on @start_mt's
 * lists).
 */
static bool pageblock_try_claim(struct zone *zone, uint32_t pfn, enum migratetype fmt,
				enum migratetype start_mt)
{
	struct pglist_data *pgdat = zone->zone_pgdat;
	uint32_t start = pfn & ~(uint32_t)(PAGEBLOCK_NR_PAGES - 1);
	uint32_t free = 0, movable = 0, alike;

	MM_ASSERT_HELD(&zone->lock);
	/* A pageblock across a zone edge: its type byte is the other zone's too. */
	if (!zone_spans_block(zone, start, PAGEBLOCK_ORDER))
		return false;
	for (uint32_t p = start; p < start + PAGEBLOCK_NR_PAGES;) {
		const struct page *page = pfn_to_page(pgdat, p);
		uint16_t flags = page_flags_peek(page);

		if (flags & PG_buddy) {
			/* Under the zone lock: @order of a free block is ours to read. */
			free += 1u << page->order;
			p += 1u << page->order;
			continue;
		}
		if (flags & (PG_lru | PG_anon | PG_movable))
			movable++;
		p++;
	}
	if (start_mt == MIGRATE_MOVABLE)
		alike = movable;
	else if (fmt == MIGRATE_MOVABLE)
		alike = PAGEBLOCK_NR_PAGES - free - movable;
	else
		alike = 0;
	if (free + alike < PAGEBLOCK_NR_PAGES / 2)
		return false;
	set_pageblock_migratetype(pgdat, start, start_mt);
	move_freepages_block(zone, start, start_mt);
	return true;
}

/*
 * Linux's rule (FALLBACK_CLAIM; __rmqueue_claim() then __rmqueue_steal()):
 * first, from the largest order down, the first fallback type with a free
 * block there offers it; a block of a pageblock or more is claimed whole,
 * a smaller one claims its pageblock by pageblock_try_claim(), and the
 * request is then served from @start_mt's own lists.  When no pageblock
 * was claimed, the smallest block of another type that fits is taken
 * alone, and the rest of its pageblock keeps its type: a large block stays
 * whole for whoever can claim it.
 */
static uint32_t rmqueue_fallback_claim(struct zone *zone, unsigned int order,
				       enum migratetype start_mt)
{
	for (unsigned int o = MAX_ORDER; o-- > order;) {
		if (!fallback_may_claim(o, start_mt))
			break;
		for (unsigned int i = 0; i < 2; i++) {
			enum migratetype fmt = fallbacks[start_mt][i];
			uint32_t pfn = fallback_block(zone, o, fmt, start_mt);

			if (pfn == PFN_NONE)
				continue;
			if (o >= PAGEBLOCK_ORDER)
				return fallback_claim_range(zone, pfn, o, order, start_mt);
			if (pageblock_try_claim(zone, pfn, fmt, start_mt))
				return rmqueue_smallest(zone, order, start_mt);
			break;
		}
	}
	for (unsigned int o = order; o < MAX_ORDER; o++) {
		for (unsigned int i = 0; i < 2; i++) {
			enum migratetype fmt = fallbacks[start_mt][i];
			uint32_t pfn = fallback_block(zone, o, fmt, start_mt);

			if (pfn != PFN_NONE)
				return fallback_take(zone, pfn, o, order, fmt);
		}
	}
	return PFN_NONE;
}

/* A block from another type's lists, by the node's rule; PFN_NONE: none. */
static uint32_t rmqueue_fallback(struct zone *zone, unsigned int order,
				 enum migratetype start_mt)
{
	if (zone->zone_pgdat->fallback_rule == FALLBACK_LEGACY)
		return rmqueue_fallback_legacy(zone, order, start_mt);
	return rmqueue_fallback_claim(zone, order, start_mt);
}

static uint32_t rmqueue_locked(struct zone *zone, unsigned int order,
			       enum migratetype mt)
{
	uint32_t pfn = rmqueue_smallest(zone, order, mt);

	if (pfn == PFN_NONE)
		pfn = rmqueue_fallback(zone, order, mt);
	return pfn;
}

/* ---- per-CPU lists ---- */

static struct per_cpu_pages *this_cpu_pcp(struct zone *zone)
{
	return &zone->pcp[platform_cpu_id() % zone->zone_pgdat->nr_cpus];
}

/*
 * @count and @nr_pageblocks change under the list's lock and are read
 * without it by pgdat_pcp_pages(): a relaxed store, a plain move on x86.
 */
static void pcp_count_add(struct per_cpu_pages *pcp, int delta)
{
	MM_ASSERT_HELD(&pcp->lock);
	__atomic_store_n(&pcp->count, pcp->count + (unsigned int)delta, __ATOMIC_RELAXED);
}

static void pcp_pageblocks_add(struct per_cpu_pages *pcp, int delta)
{
	MM_ASSERT_HELD(&pcp->lock);
	__atomic_store_n(&pcp->nr_pageblocks, pcp->nr_pageblocks + (unsigned int)delta,
			 __ATOMIC_RELAXED);
}

static void pcp_push(struct pglist_data *pgdat, uint32_t *head, uint32_t pfn,
		     unsigned int order, enum migratetype mt)
{
	struct page *page = pfn_to_page(pgdat, pfn);

	page_flags_set(page, PG_pcp);
	page->order = (uint8_t)order;
	page->migratetype = (uint8_t)mt;
	page->next = *head;
	*head = pfn;
}

static uint32_t pcp_pop(struct pglist_data *pgdat, uint32_t *head)
{
	uint32_t pfn = *head;
	struct page *page;

	if (pfn == PFN_NONE)
		return PFN_NONE;
	page = pfn_to_page(pgdat, pfn);
	*head = page->next;
	page->next = PFN_NONE;
	page_flags_set(page, 0);
	return pfn;
}

/* Merge the sorted runs a[0..na) and b[0..nb) into out. */
static void pfn_merge(const uint32_t *a, unsigned int na, const uint32_t *b,
		      unsigned int nb, uint32_t *out)
{
	unsigned int i = 0, j = 0, k = 0;

	while (i < na && j < nb)
		out[k++] = a[i] <= b[j] ? a[i++] : b[j++];
	while (i < na)
		out[k++] = a[i++];
	while (j < nb)
		out[k++] = b[j++];
}

/*
 * Sort @n frame numbers ascending, using @tmp (n entries).  A batch leaving a
 * per-CPU list is a few runs, each ascending or descending (a refill's
 * frames, freed in the order they were used, come back reversed), so this
 * is a natural merge sort: find the runs, turn the descending ones round,
 * merge neighbours until one is left.  n log(runs), not n^2.
 */
static void pfn_sort(uint32_t *v, unsigned int n, uint32_t *tmp)
{
	uint16_t start[PCP_BATCH_MAX + 1];
	unsigned int nr = 0;

	for (unsigned int i = 0, j; i < n; i = j) {
		j = i + 1;
		if (j < n && v[j] < v[i]) {
			while (j < n && v[j] < v[j - 1])
				j++;
			for (unsigned int l = i, r = j - 1; l < r; l++, r--) {
				uint32_t t = v[l];

				v[l] = v[r];
				v[r] = t;
			}
		} else {
			while (j < n && v[j] > v[j - 1])
				j++;
		}
		start[nr++] = (uint16_t)i;
	}
	start[nr] = (uint16_t)n;
	while (nr > 1) {
		unsigned int k, out = 0;

		for (k = 0; k + 1 < nr; k += 2) {
			pfn_merge(v + start[k], start[k + 1] - start[k],
				  v + start[k + 1], start[k + 2] - start[k + 1],
				  tmp + start[k]);
			start[out++] = start[k];
		}
		if (k < nr) {
			for (unsigned int i = start[k]; i < start[k + 1]; i++)
				tmp[i] = v[i];
			start[out++] = start[k];
		}
		start[out] = (uint16_t)n;
		nr = out;
		for (unsigned int i = 0; i < n; i++)
			v[i] = tmp[i];
	}
}

/*
 * Merge the frames @pfn[0..n) (sorted, distinct) among themselves into
 * aligned blocks, as the buddy allocator would, but without touching the
 * zone: they are the per-CPU list's, no other thread can see them.  Done
 * before the zone lock is taken, it leaves the lock holder a few blocks to
 * put back instead of a batch of frames, each merge a cache miss.  The
 * blocks are written over @pfn, their orders into @order.
 * Return: the number of blocks.
 */
static unsigned int pcp_premerge(uint32_t *pfn, uint8_t *order, unsigned int n)
{
	unsigned int nr = 0;

	for (unsigned int i = 0; i < n; i++) {
		pfn[nr] = pfn[i];
		order[nr++] = 0;
		/* Like a binary counter's carries: the top two combine while
		 * they are buddies of one order. */
		while (nr >= 2) {
			unsigned int o = order[nr - 2];

			if (order[nr - 1] != o || o + 1 >= PAGEBLOCK_ORDER ||
			    (pfn[nr - 2] & ((2u << o) - 1)) ||
			    pfn[nr - 1] != pfn[nr - 2] + (1u << o))
				break;
			order[nr - 2] = (uint8_t)(o + 1);
			nr--;
		}
	}
	return nr;
}

/*
 * Give up to @count order-0 frames back to the zone, taking the types in
 * turn.  The frames are collected and merged among themselves first, under
 * the per-CPU lock only; the zone lock is held just to put the blocks on the
 * free lists.
 */
static void free_pcppages_bulk(struct zone *zone, struct per_cpu_pages *pcp,
			       unsigned int count)
{
	struct pglist_data *pgdat = zone->zone_pgdat;
	uint32_t pfns[PCP_BATCH_MAX], tmp[PCP_BATCH_MAX];
	uint8_t orders[PCP_BATCH_MAX];
	unsigned int mt = 0, empty = 0, n = 0, nr;

	MM_ASSERT_HELD(&pcp->lock);
	if (count > PCP_BATCH_MAX)
		count = PCP_BATCH_MAX;
	while (n < count && pcp->count && empty < MIGRATE_PCPTYPES) {
		uint32_t pfn = pcp_pop(pgdat, &pcp->head[mt]);

		mt = (mt + 1) % MIGRATE_PCPTYPES;
		if (pfn == PFN_NONE) {
			empty++;
			continue;
		}
		empty = 0;
		pcp_count_add(pcp, -1);
		pfns[n++] = pfn;
	}
	if (!n)
		return;
	pfn_sort(pfns, n, tmp);
	nr = pcp_premerge(pfns, orders, n);
	spin_lock(&zone->lock);
	for (unsigned int i = 0; i < nr; i++)
		zone_free_block_locked(zone, pfns[i], orders[i], false, true);
	spin_unlock(&zone->lock);
}

/* Give every pageblock-order block on @pcp's lists back to the zone. */
static void free_pcp_pageblocks(struct zone *zone, struct per_cpu_pages *pcp,
				unsigned int keep)
{
	struct pglist_data *pgdat = zone->zone_pgdat;
	uint32_t pfns[PCP_PAGEBLOCK_HIGH + 1];
	unsigned int n = 0;

	MM_ASSERT_HELD(&pcp->lock);
	for (unsigned int mt = 0; mt < MIGRATE_PCPTYPES; mt++) {
		uint32_t pfn;

		while (pcp->nr_pageblocks > keep &&
		       (pfn = pcp_pop(pgdat, &pcp->pageblock_head[mt])) != PFN_NONE) {
			pcp_pageblocks_add(pcp, -1);
			pfns[n++] = pfn;
		}
	}
	if (!n)
		return;
	spin_lock(&zone->lock);
	for (unsigned int i = 0; i < n; i++)
		zone_free_block_locked(zone, pfns[i], PAGEBLOCK_ORDER, false, true);
	spin_unlock(&zone->lock);
}

/*
 * Take blocks for @count order-0 frames of @mt from the zone: the smallest
 * free blocks first, as order-0 allocations one by one would, but each taken
 * whole (up to the largest that still fits), so that the zone lock is held
 * for a few list moves per batch rather than one per frame.  The blocks are
 * split into frames after the lock is dropped: they are ours by then.  The
 * zone keeps @mark frames: the request was let in for one frame above it, and
 * a batch is more than a small zone's whole reserve.
 * Return: the frames added to @pcp's @mt list.
 */
static unsigned int rmqueue_bulk(struct zone *zone, struct per_cpu_pages *pcp,
				 enum migratetype mt, unsigned int count,
				 uint64_t mark)
{
	struct pglist_data *pgdat = zone->zone_pgdat;
	uint32_t pfns[PCP_BATCH_MAX];
	uint8_t orders[PCP_BATCH_MAX];
	unsigned int nr = 0, got = 0;
	uint64_t free;

	MM_ASSERT_HELD(&pcp->lock);
	if (count > PCP_BATCH_MAX)
		count = PCP_BATCH_MAX;
	spin_lock(&zone->lock);
	free = zone_free_pages(zone);
	if (free < mark + count)
		count = free > mark ? (unsigned int)(free - mark) : 0;
	while (got < count) {
		unsigned int fit = 31 - (unsigned int)__builtin_clz(count - got);
		uint32_t pfn = PFN_NONE;
		unsigned int o;

		for (o = 0; o <= fit; o++) {
			pfn = zone->free_area[o].free_list[mt].head;
			if (pfn != PFN_NONE) {
				zone_del_free_block_locked(zone, pfn, o);
				break;
			}
		}
		/* None that small of our type: split a larger one, or fall back. */
		if (pfn == PFN_NONE) {
			for (o = fit + 1; pfn == PFN_NONE && o-- > 0;)
				pfn = rmqueue_locked(zone, o, mt);
		}
		if (pfn == PFN_NONE)
			break;
		pfns[nr] = pfn;
		orders[nr++] = (uint8_t)o;
		got += 1u << o;
	}
	spin_unlock(&zone->lock);
	/* Highest frames pushed first, so the list hands them out ascending. */
	while (nr--) {
		for (uint32_t f = 1u << orders[nr]; f-- > 0;)
			pcp_push(pgdat, &pcp->head[mt], pfns[nr] + f, 0, mt);
	}
	pcp_count_add(pcp, (int)got);
	return got;
}

/*
 * An order-0 frame from this CPU's @mt list, refilled from the zone (which
 * keeps @mark frames) when empty and @zone_ok, the zone's watermark test.
 * A frame already on the list is taken whatever the watermark says: it is
 * out of the zone's free count, so taking it lowers no reserve, where
 * refusing it sent the request to drain every CPU's lists.
 */
static uint32_t rmqueue_pcplist(struct zone *zone, enum migratetype mt,
				uint64_t mark, bool zone_ok)
{
	struct pglist_data *pgdat = zone->zone_pgdat;
	struct per_cpu_pages *pcp = this_cpu_pcp(zone);
	uint32_t pfn;

	/*
	 * Threads that share a CPU id share its lists: one of them preempted
	 * while it holds the lock must not stall the others, so a busy list
	 * is passed by, as Linux's pcp_spin_trylock() does, for the zone.
	 */
	if (!spin_trylock(&pcp->lock)) {
		if (!zone_ok)
			return PFN_NONE;
		spin_lock(&zone->lock);
		pfn = rmqueue_locked(zone, 0, mt);
		spin_unlock(&zone->lock);
		return pfn;
	}
	pcp->touched = true;
	if (pcp->head[mt] == PFN_NONE && zone_ok)
		rmqueue_bulk(zone, pcp, mt, pcp->batch, mark);
	pfn = pcp_pop(pgdat, &pcp->head[mt]);
	if (pfn != PFN_NONE)
		pcp_count_add(pcp, -1);
	spin_unlock(&pcp->lock);
	return pfn;
}

/* A pageblock-order block from this CPU's list, or PFN_NONE. */
static uint32_t rmqueue_pcp_pageblock(struct zone *zone, enum migratetype mt)
{
	struct per_cpu_pages *pcp = this_cpu_pcp(zone);
	uint32_t pfn;

	/* A busy list is passed by: see rmqueue_pcplist(). */
	if (!spin_trylock(&pcp->lock))
		return PFN_NONE;
	pcp->touched = true;
	pfn = pcp_pop(zone->zone_pgdat, &pcp->pageblock_head[mt]);
	if (pfn != PFN_NONE)
		pcp_pageblocks_add(pcp, -1);
	spin_unlock(&pcp->lock);
	return pfn;
}

/* Give everything on @pcp's lists back to the zone. */
static void pcp_drain_locked(struct zone *zone, struct per_cpu_pages *pcp)
{
	MM_ASSERT_HELD(&pcp->lock);
	while (pcp->count)
		free_pcppages_bulk(zone, pcp, PCP_BATCH_MAX);
	free_pcp_pageblocks(zone, pcp, 0);
}

/*
 * drain_idle_pages - give back the per-CPU lists no thread has used since the
 * last call, and mark the rest unused.  Memory on a per-CPU list is not
 * free as far as the buddy lists know, so reporting never sees it: the
 * reporting worker calls this once a pass, so that a guest gone idle
 * returns it too (Linux's vmstat worker decays and drains idle lists in the
 * same way).
 * Return: true when a list still holds memory (it was used since).
 */
bool drain_idle_pages(struct pglist_data *pgdat)
{
	bool busy = false;

	for (unsigned int z = 0; z < pgdat->nr_zones; z++) {
		struct zone *zone = &pgdat->node_zones[z];

		for (unsigned int c = 0; c < pgdat->nr_cpus; c++) {
			struct per_cpu_pages *pcp = &zone->pcp[c];

			spin_lock(&pcp->lock);
			if (!pcp->touched)
				pcp_drain_locked(zone, pcp);
			else if (pcp->count || pcp->nr_pageblocks)
				busy = true;
			pcp->touched = false;
			spin_unlock(&pcp->lock);
		}
	}
	return busy;
}

void drain_all_pages(struct pglist_data *pgdat)
{
	for (unsigned int z = 0; z < pgdat->nr_zones; z++) {
		struct zone *zone = &pgdat->node_zones[z];

		for (unsigned int c = 0; c < pgdat->nr_cpus; c++) {
			struct per_cpu_pages *pcp = &zone->pcp[c];

			spin_lock(&pcp->lock);
			pcp_drain_locked(zone, pcp);
			spin_unlock(&pcp->lock);
		}
	}
}

/* ---- allocation ---- */

static enum migratetype gfp_migratetype(unsigned int gfp)
{
	if (gfp & GFP_MOVABLE)
		return MIGRATE_MOVABLE;
	if (gfp & GFP_RECLAIMABLE)
		return MIGRATE_RECLAIMABLE;
	return MIGRATE_UNMOVABLE;
}

static bool zone_watermark_ok(struct zone *zone, unsigned int order,
			      uint64_t mark)
{
	uint64_t free = zone_free_pages(zone);

	return free >= mark + (1ull << order);
}

static void *mm_memset(void *dst, int c, size_t n)
{
	unsigned char *p = dst;

	while (n--)
		*p++ = (unsigned char)c;
	return dst;
}

/* Above this order an allocation fails rather than run the OOM notifier
 * (Linux's PAGE_ALLOC_COSTLY_ORDER). */
#define PAGE_ALLOC_COSTLY_ORDER 3

struct page *alloc_pages(struct pglist_data *pgdat, unsigned int gfp,
			 unsigned int order)
{
	enum migratetype mt = gfp_migratetype(gfp);
	/* Zones in the order they are tried: the most plentiful first. */
	unsigned int first = (gfp & GFP_LOW) ? ZONE_LOW : pgdat->nr_zones - 1;
	bool drained = false, compacted = false;

	if (order >= MAX_ORDER)
		return NULL;
retry:
	for (unsigned int wmark = WMARK_LOW + 1; wmark-- > WMARK_MIN;) {
		for (unsigned int z = first + 1; z-- > 0;) {
			struct zone *zone = &pgdat->node_zones[z];
			uint32_t pfn;
			struct page *page;
			struct free_bitmap *fb;
			bool ok;

			if (!zone_managed_pages(zone))
				continue;
			ok = zone_watermark_ok(zone, order, zone_wmark(zone, wmark));
			if (order == 0) {
				pfn = rmqueue_pcplist(zone, mt, zone_wmark(zone, wmark), ok);
			} else if (order == PAGEBLOCK_ORDER && zone->pcp_pageblock_high &&
				   (pfn = rmqueue_pcp_pageblock(zone, mt)) != PFN_NONE) {
				/* from this CPU's list, as order 0: whatever the watermark */
			} else if (!ok) {
				continue;
			} else {
				spin_lock(&zone->lock);
				pfn = rmqueue_locked(zone, order, mt);
				spin_unlock(&zone->lock);
			}
			if (pfn == PFN_NONE)
				continue;
			/* The bitmap strategy: wait out a hint in flight. */
			fb = atomic_load_explicit(&pgdat->free_bitmap,
						  memory_order_acquire);
			if (fb)
				free_bitmap_alloc_wait(fb, pfn, order);
			page = pfn_to_page(pgdat, pfn);
			page->order = (uint8_t)order;
			page->migratetype = (uint8_t)mt;
			/* Published by the CAS in free_pages(). */
			__atomic_store_n(&page->flags, PG_head, __ATOMIC_RELEASE);
			/* A block checked to hold a zero poison is zeroed. */
			if (!page_poison_alloc(pgdat, pfn, order, "alloc_pages") &&
			    (gfp & GFP_ZERO))
				mm_memset(page_address(pgdat, page), 0,
					  PAGE_SIZE << order);
			return page;
		}
	}
	/*
	 * Free frames on per-CPU lists are not in the zones' free counts, and
	 * pageblocks there do not merge: give them all back and look once
	 * more before failing, as Linux's slow path does.
	 */
	if (!drained) {
		drained = true;
		drain_all_pages(pgdat);
		goto retry;
	}
	/* Free memory in pieces too small: move pages to join them. */
	if (order > 0 && !compacted) {
		compacted = true;
		if (try_to_compact_pages(pgdat, order))
			goto retry;
	}
	/*
	 * Out of memory: the notifier (a balloon that may deflate) gives
	 * frames back, and we look again, draining once more (its frees go
	 * to a per-CPU list), as Linux retries after out_of_memory() freed
	 * something.  Bounded: each round takes frames out of the balloon.
	 * Not above PAGE_ALLOC_COSTLY_ORDER, as Linux's OOM path: order-0
	 * frames given back seldom make a large block, and an order-9 try
	 * that falls back to smaller orders would empty the balloon first.
	 */
	if (!(gfp & GFP_NORETRY) && order <= PAGE_ALLOC_COSTLY_ORDER &&
	    out_of_memory(pgdat)) {
		drained = false;
		goto retry;
	}
	return NULL;
}

int register_oom_notifier(struct pglist_data *pgdat, struct oom_notifier *on)
{
	int err = 0;

	spin_lock(&pgdat->oom_lock);
	if (pgdat->oom_notifier)
		err = -GMM_EBUSY;
	else
		pgdat->oom_notifier = on;
	spin_unlock(&pgdat->oom_lock);
	return err;
}

void unregister_oom_notifier(struct pglist_data *pgdat, struct oom_notifier *on)
{
	unsigned int spins = 0;

	spin_lock(&pgdat->oom_lock);
	if (pgdat->oom_notifier == on)
		pgdat->oom_notifier = NULL;
	spin_unlock(&pgdat->oom_lock);
	/* A call that took @on before is still running: wait it out. */
	for (;;) {
		unsigned int calls;

		spin_lock(&pgdat->oom_lock);
		calls = pgdat->oom_calls;
		spin_unlock(&pgdat->oom_lock);
		if (!calls)
			return;
		platform_cpu_relax(spins++);
	}
}

uint64_t out_of_memory(struct pglist_data *pgdat)
{
	struct oom_notifier *on;
	uint64_t freed;

	atomic_fetch_add_explicit(&pgdat->oom_events, 1, memory_order_relaxed);
	spin_lock(&pgdat->oom_lock);
	on = pgdat->oom_notifier;
	if (on)
		pgdat->oom_calls++;
	spin_unlock(&pgdat->oom_lock);
	if (!on)
		return 0;
	freed = on->notify(on);
	spin_lock(&pgdat->oom_lock);
	pgdat->oom_calls--;
	spin_unlock(&pgdat->oom_lock);
	return freed;
}

/* ---- free ---- */

static int free_pages_bad(uint32_t pfn, unsigned int order, uint16_t flags,
			  unsigned int held_order)
{
	const char *why;

	if (flags & PG_isolated)
		why = "block is out for reporting";
	else if (flags & (PG_buddy | PG_pcp))
		why = "double free: frame is already free";
	else if (flags & PG_reserved)
		why = "frame is reserved";
	else if (!(flags & PG_head))
		why = "frame is not the head of an allocated block";
	else
		why = "order does not match the allocation";
	platform_bad_state("free_pages: pfn %#x order %u: %s (flags %#x, order %u)",
			   pfn, order, why, flags, held_order);
	return -GMM_EINVAL;
}

int free_pages(struct pglist_data *pgdat, struct page *page, unsigned int order)
{
	uint32_t pfn;
	uint16_t flags = PG_head;
	struct zone *zone;
	/*
	 * The pageblock's type, read once: the fallback path may change it
	 * under the zone lock meanwhile, and a second read could index a
	 * per-CPU list with MIGRATE_ISOLATE.  Read under the per-CPU lock:
	 * an isolation sets the type and then drains every per-CPU list, so
	 * a read before the lock could see the old type and push the frame
	 * after the drain, where an allocation would hand it out from inside
	 * the isolated range (alloc_contig_range()'s own targets included).
	 */
	enum migratetype mt;

	/* Byte arithmetic: a pointer between two pages is not rounded down. */
	if (page < pgdat->memmap ||
	    page >= pgdat->memmap + pgdat->node_spanned_pages ||
	    ((uintptr_t)page - (uintptr_t)pgdat->memmap) % sizeof(struct page)) {
		platform_bad_state("free_pages: %p is not a page of this node",
				   (void *)page);
		return -GMM_EINVAL;
	}
	pfn = page_to_pfn(pgdat, page);
	if (order >= MAX_ORDER) {
		platform_bad_state("free_pages: pfn %#x: order %u out of range",
				   pfn, order);
		return -GMM_EINVAL;
	}
	if (page->order != order ||
	    !__atomic_compare_exchange_n(&page->flags, &flags, 0, false,
					 __ATOMIC_ACQ_REL, __ATOMIC_ACQUIRE))
		return free_pages_bad(pfn, order,
				      __atomic_load_n(&page->flags,
						      __ATOMIC_ACQUIRE),
				      page->order);
	/* The CAS made this thread the block's only owner. */
	page_poison_free(pgdat, pfn, order);
	zone = page_zone(pgdat, pfn);
	if (order == 0 ||
	    (order == PAGEBLOCK_ORDER && zone->pcp_pageblock_high)) {
		struct per_cpu_pages *pcp = this_cpu_pcp(zone);

		/* A busy list is passed by: see rmqueue_pcplist(). */
		if (spin_trylock(&pcp->lock)) {
			mt = get_pageblock_migratetype(pgdat, pfn);
			if (mt != MIGRATE_ISOLATE) {
				pcp->touched = true;
				if (order == 0) {
					pcp_push(pgdat, &pcp->head[mt], pfn, 0, mt);
					pcp_count_add(pcp, 1);
					if (pcp->count >= pcp->high)
						free_pcppages_bulk(zone, pcp, pcp->batch);
				} else {
					pcp_push(pgdat, &pcp->pageblock_head[mt], pfn,
						 order, mt);
					pcp_pageblocks_add(pcp, 1);
					if (pcp->nr_pageblocks > zone->pcp_pageblock_high)
						free_pcp_pageblocks(zone, pcp,
								    zone->pcp_pageblock_high / 2);
				}
				spin_unlock(&pcp->lock);
				return 0;
			}
			spin_unlock(&pcp->lock); /* isolated: its zone list */
		}
	}
	spin_lock(&zone->lock);
	zone_free_block_locked(zone, pfn, order, false, true);
	spin_unlock(&zone->lock);
	return 0;
}

/* ---- boot ---- */

struct page *virt_to_page(const struct pglist_data *pgdat, const void *addr)
{
	uintptr_t off = (uintptr_t)addr - (uintptr_t)pgdat->ram;

	if ((uintptr_t)addr < (uintptr_t)pgdat->ram ||
	    (off >> PAGE_SHIFT) >= pgdat->node_spanned_pages)
		return NULL;
	return pfn_to_page(pgdat, (uint32_t)(off >> PAGE_SHIFT));
}

/*
 * Watermarks as Linux sizes them: min_free_kbytes = sqrt(16 * RAM in KiB),
 * shared out by zone size; low and high sit 1/4 and 1/2 of min above it.
 */
static uint64_t isqrt(uint64_t x)
{
	uint64_t r = 0, bit = 1ull << 62;

	while (bit > x)
		bit >>= 2;
	while (bit) {
		if (x >= r + bit) {
			x -= r + bit;
			r = (r >> 1) + bit;
		} else {
			r >>= 1;
		}
		bit >>= 2;
	}
	return r;
}

/* See PCP_BATCH and PCP_PAGEBLOCK_HIGH. */
static void zone_pcp_sizes(struct zone *zone, unsigned int nr_cpus)
{
	uint64_t high = zone->managed_pages / 8 / nr_cpus;
	uint64_t blocks = (zone->managed_pages / 16 / nr_cpus) >> PAGEBLOCK_ORDER;
	uint64_t batch;

	if (high > PCP_HIGH)
		high = PCP_HIGH;
	if (!high)
		high = 1;
	/* A power of two, for the reason PCP_BATCH is one. */
	batch = high / 2 ? UINT64_C(1) << (63 - __builtin_clzll(high / 2)) : 1;
	if (batch > PCP_BATCH)
		batch = PCP_BATCH;
	zone->pcp_pageblock_high = (unsigned int)(blocks < PCP_PAGEBLOCK_HIGH
							  ? blocks
							  : PCP_PAGEBLOCK_HIGH);
	for (unsigned int c = 0; c < MAX_NR_CPUS; c++) {
		zone->pcp[c].high = (unsigned int)high;
		zone->pcp[c].batch = (unsigned int)batch;
	}
}

static void setup_watermarks(struct pglist_data *pgdat)
{
	uint64_t managed = 0, min_pages;

	for (unsigned int z = 0; z < pgdat->nr_zones; z++)
		managed += zone_managed_pages(&pgdat->node_zones[z]);
	min_pages = isqrt(managed * (PAGE_SIZE / 1024) * 16) / (PAGE_SIZE / 1024);
	if (min_pages < 32)
		min_pages = 32;
	for (unsigned int z = 0; z < pgdat->nr_zones; z++) {
		struct zone *zone = &pgdat->node_zones[z];
		uint64_t min = managed ? min_pages * zone_managed_pages(zone) / managed : 0;

		__atomic_store_n(&zone->watermark[WMARK_MIN], min, __ATOMIC_RELAXED);
		__atomic_store_n(&zone->watermark[WMARK_LOW], min + min / 4, __ATOMIC_RELAXED);
		__atomic_store_n(&zone->watermark[WMARK_HIGH], min + min / 2, __ATOMIC_RELAXED);
	}
}

void zone_managed_adjust(struct zone *zone, int64_t delta)
{
	struct pglist_data *pgdat = zone->zone_pgdat;

	/* Every zone's watermarks follow the node's total: every zone lock,
	 * in zone index order (mm/README.md: the one path that nests them). */
	for (unsigned int z = 0; z < pgdat->nr_zones; z++)
		spin_lock(&pgdat->node_zones[z].lock);
	__atomic_store_n(&zone->managed_pages,
			 (uint64_t)((int64_t)zone_managed_pages(zone) + delta), __ATOMIC_RELAXED);
	setup_watermarks(pgdat);
	for (unsigned int z = pgdat->nr_zones; z-- > 0;)
		spin_unlock(&pgdat->node_zones[z].lock);
}

static void zone_init(struct pglist_data *pgdat, struct zone *zone,
		      const char *name, uint32_t start, uint32_t pages)
{
	spin_lock_init(&zone->lock);
	zone->name = name;
	zone->zone_pgdat = pgdat;
	zone->zone_start_pfn = start;
	zone->spanned_pages = pages;
	zone->managed_pages = 0;
	atomic_init(&zone->free_pages, 0);
	atomic_init(&zone->flags, 0);
	for (unsigned int o = 0; o < MAX_ORDER; o++) {
		for (unsigned int mt = 0; mt < MIGRATE_TYPES; mt++)
			zone->free_area[o].free_list[mt] = (struct free_list){
				PFN_NONE, PFN_NONE, PFN_NONE, 0
			};
		zone->free_area[o].nr_free = 0;
		zone->reported_blocks[o] = 0;
	}
	for (unsigned int c = 0; c < MAX_NR_CPUS; c++) {
		struct per_cpu_pages *pcp = &zone->pcp[c];

		spin_lock_init_untimed(&pcp->lock);
		pcp->count = 0;
		pcp->nr_pageblocks = 0;
		pcp->touched = false;
		/* @high and @batch: zone_pcp_sizes(), once the zone is sized. */
		for (unsigned int mt = 0; mt < MIGRATE_PCPTYPES; mt++)
			pcp->head[mt] = pcp->pageblock_head[mt] = PFN_NONE;
	}
}

/*
 * Free [start, end) of @zone in the largest aligned blocks that fit, each
 * poisoned first when @poison.
 */
static void zone_free_range(struct zone *zone, uint32_t start, uint32_t end,
			    bool poison)
{
	spin_lock(&zone->lock);
	while (start < end) {
		unsigned int order = MAX_ORDER - 1;

		while ((start & ((1u << order) - 1)) ||
		       start + (1u << order) > end)
			order--;
		if (poison)
			page_poison_fill(zone->zone_pgdat, start, order);
		zone_free_block_locked(zone, start, order, false, false);
		zone->managed_pages += 1u << order;
		start += 1u << order;
	}
	spin_unlock(&zone->lock);
}

int mm_init(const struct mm_boot_params *params, struct pglist_data **out)
{
	uint64_t nr_pages = params->ram_bytes >> PAGE_SHIFT;
	/* The default low zone shrinks to half of a small node's RAM. */
	uint64_t low = params->low_zone_bytes
			       ? params->low_zone_bytes
			       : ((16ull << 20) < params->ram_bytes / 2
					  ? 16ull << 20
					  : (params->ram_bytes / 2) & ~(PAGE_SIZE - 1));
	uint64_t nr_blocks, meta, reserved;
	struct pglist_data *pgdat;
	uint32_t low_end;
	bool poison;
	char *p;

	if (!params->ram || ((uintptr_t)params->ram & (PAGE_SIZE - 1)) ||
	    (params->ram_bytes & (PAGE_SIZE - 1)) ||
	    nr_pages > PFN_NONE - MAX_ORDER_NR_PAGES ||
	    params->nr_cpus < 1 || params->nr_cpus > MAX_NR_CPUS ||
	    (unsigned int)params->fallback_rule >= NR_FALLBACK_RULES ||
	    (low & (PAGE_SIZE - 1)) || low > params->ram_bytes / 2)
		return -GMM_EINVAL;
	nr_blocks = (nr_pages + PAGEBLOCK_NR_PAGES - 1) >> PAGEBLOCK_ORDER;
	meta = sizeof(struct pglist_data) + nr_pages * sizeof(struct page) +
	       nr_blocks;
	reserved = (meta + PAGE_SIZE - 1) >> PAGE_SHIFT;
	if (reserved + MAX_ORDER_NR_PAGES > nr_pages)
		return -GMM_EINVAL;

	p = params->ram;
	pgdat = (struct pglist_data *)p;
	p += sizeof(*pgdat);
	pgdat->memmap = (struct page *)p;
	p += nr_pages * sizeof(struct page);
	pgdat->pageblock_mt = (uint8_t *)p;
	pgdat->ram = params->ram;
	pgdat->node_spanned_pages = nr_pages;
	pgdat->reserved_pages = reserved;
	pgdat->nr_cpus = params->nr_cpus;
	pgdat->fallback_rule = params->fallback_rule;
	pgdat->nr_zones = MAX_NR_ZONES;
	pgdat->page_poison = params->page_poison;
	pgdat->page_poison_val = params->page_poison ? params->poison_val : 0;
	spin_lock_init(&pgdat->reporting_lock);
	atomic_init(&pgdat->prdev, NULL);
	atomic_init(&pgdat->reporting_order, MAX_ORDER);
	atomic_init(&pgdat->reporting_hwm, PAGE_REPORTING_HWM);
	pgdat->page_ext = NULL;
	pgdat->lruvec = NULL;
	atomic_init(&pgdat->reclaim_lruvec, NULL);
	atomic_init(&pgdat->reclaimers, 0);
	compact_node_init(&pgdat->compact);
	for (unsigned int i = 0; i < NR_VM_EVENTS; i++)
		atomic_init(&pgdat->vm_events[i], 0);
	atomic_init(&pgdat->nr_swapcache, 0);
	spin_lock_init(&pgdat->oom_lock);
	pgdat->oom_notifier = NULL;
	pgdat->oom_calls = 0;
	atomic_init(&pgdat->oom_events, 0);
	atomic_init(&pgdat->hinting, NULL);
	atomic_init(&pgdat->hinting_order, MAX_ORDER);
	atomic_init(&pgdat->free_bitmap, NULL);
	atomic_init(&pgdat->bitmap_order, MAX_ORDER);
	atomic_init(&pgdat->free_timing, NULL);

	for (uint64_t i = 0; i < nr_pages; i++)
		pgdat->memmap[i] = (struct page){ (uint16_t)(i < reserved ? PG_reserved : 0),
						  0, 0, PFN_NONE, PFN_NONE, 0 };
	for (uint64_t b = 0; b < nr_blocks; b++)
		pgdat->pageblock_mt[b] = (b << PAGEBLOCK_ORDER) < reserved
						 ? MIGRATE_UNMOVABLE
						 : MIGRATE_MOVABLE;

	low_end = (uint32_t)(low >> PAGE_SHIFT);
	zone_init(pgdat, &pgdat->node_zones[ZONE_LOW], "Low", 0, low_end);
	zone_init(pgdat, &pgdat->node_zones[ZONE_NORMAL], "Normal", low_end,
		  (uint32_t)(nr_pages - low_end));
	/* Boot memory: see "Boot" in page_poison.c. */
	poison = pgdat->page_poison &&
		 (pgdat->page_poison_val || !params->ram_zeroed);
	if (reserved < low_end)
		zone_free_range(&pgdat->node_zones[ZONE_LOW], (uint32_t)reserved,
				low_end, poison);
	zone_free_range(&pgdat->node_zones[ZONE_NORMAL],
			(uint32_t)(reserved > low_end ? reserved : low_end),
			(uint32_t)nr_pages, poison);
	setup_watermarks(pgdat);
	for (unsigned int z = 0; z < pgdat->nr_zones; z++)
		zone_pcp_sizes(&pgdat->node_zones[z], pgdat->nr_cpus);
	*out = pgdat;
	return 0;
}

uint64_t pgdat_free_pages(struct pglist_data *pgdat)
{
	uint64_t free = 0;

	for (unsigned int z = 0; z < pgdat->nr_zones; z++)
		free += zone_free_pages(&pgdat->node_zones[z]);
	return free;
}

uint64_t pgdat_pcp_pages(struct pglist_data *pgdat)
{
	uint64_t sum = 0;

	for (unsigned int z = 0; z < pgdat->nr_zones; z++) {
		struct zone *zone = &pgdat->node_zones[z];

		for (unsigned int c = 0; c < pgdat->nr_cpus; c++) {
			struct per_cpu_pages *pcp = &zone->pcp[c];

			sum += __atomic_load_n(&pcp->count, __ATOMIC_RELAXED) +
			       ((uint64_t)__atomic_load_n(&pcp->nr_pageblocks,
							  __ATOMIC_RELAXED)
				<< PAGEBLOCK_ORDER);
		}
	}
	return sum;
}

/* ---- statistics and validation ---- */

void zone_get_stats(struct zone *zone, struct zone_stats *st)
{
	struct pglist_data *pgdat = zone->zone_pgdat;

	*st = (struct zone_stats){ 0 };
	for (unsigned int c = 0; c < pgdat->nr_cpus; c++) {
		spin_lock(&zone->pcp[c].lock);
		st->pcp_pages += zone->pcp[c].count +
				 ((uint64_t)zone->pcp[c].nr_pageblocks << PAGEBLOCK_ORDER);
		spin_unlock(&zone->pcp[c].lock);
	}
	spin_lock(&zone->lock);
	st->managed_pages = zone_managed_pages(zone);
	st->free_pages = zone_free_pages(zone);
	for (unsigned int w = 0; w < NR_WMARK; w++)
		st->watermark[w] = zone_wmark(zone, w);
	for (unsigned int o = 0; o < MAX_ORDER; o++) {
		st->reported_pages += zone->reported_blocks[o] << o;
		for (unsigned int mt = 0; mt < MIGRATE_TYPES; mt++) {
			const struct free_list *l = &zone->free_area[o].free_list[mt];

			st->free_blocks[o][mt] = l->nr;
			for (uint32_t p = l->boundary; p != PFN_NONE;
			     p = pfn_to_page(pgdat, p)->next)
				st->reported_blocks[o][mt]++;
		}
	}
	spin_unlock(&zone->lock);
}

void mm_lock_stats(struct pglist_data *pgdat,
		   struct lock_stats out[NR_MM_LOCK_CLASSES])
{
	struct page_reporting_dev_info *prdev;

	for (unsigned int c = 0; c < NR_MM_LOCK_CLASSES; c++)
		out[c] = (struct lock_stats){ 0 };
	for (unsigned int z = 0; z < pgdat->nr_zones; z++) {
		struct zone *zone = &pgdat->node_zones[z];

		spin_lock_stats_add(&zone->lock, &out[MM_LOCK_ZONE]);
		for (unsigned int c = 0; c < pgdat->nr_cpus; c++)
			spin_lock_stats_add(&zone->pcp[c].lock, &out[MM_LOCK_PCP]);
	}
	prdev = atomic_load_explicit(&pgdat->prdev, memory_order_acquire);
	if (prdev) {
		spin_lock_stats_add(&prdev->pass_lock, &out[MM_LOCK_REPORTING]);
		page_reporting_zone_lock_stats(prdev, &out[MM_LOCK_REPORTING_ZONE],
					       false);
	}
	if (pgdat->lruvec)
		lruvec_lock_stats(pgdat->lruvec, out, false);
}

void mm_lock_stats_reset(struct pglist_data *pgdat)
{
	struct page_reporting_dev_info *prdev;

	for (unsigned int z = 0; z < pgdat->nr_zones; z++) {
		struct zone *zone = &pgdat->node_zones[z];

		spin_lock_stats_reset(&zone->lock);
		for (unsigned int c = 0; c < pgdat->nr_cpus; c++)
			spin_lock_stats_reset(&zone->pcp[c].lock);
	}
	prdev = atomic_load_explicit(&pgdat->prdev, memory_order_acquire);
	if (prdev) {
		spin_lock_stats_reset(&prdev->pass_lock);
		page_reporting_zone_lock_stats(prdev, NULL, true);
	}
	if (pgdat->lruvec)
		lruvec_lock_stats(pgdat->lruvec, NULL, true);
}

#define CHECK(cond, ...)                                                       \
	do {                                                                   \
		if (!(cond)) {                                                 \
			platform_bad_state(__VA_ARGS__);                       \
			return -GMM_EUCLEAN;                                   \
		}                                                              \
	} while (0)

static int free_list_check(struct zone *zone, unsigned int o, unsigned int mt,
			   uint64_t *reported)
{
	struct pglist_data *pgdat = zone->zone_pgdat;
	const struct free_list *l = &zone->free_area[o].free_list[mt];
	uint32_t prev = PFN_NONE, n = 0;
	bool past_boundary = false;

	for (uint32_t p = l->head; p != PFN_NONE; p = pfn_to_page(pgdat, p)->next) {
		const struct page *page = pfn_to_page(pgdat, p);
		uint32_t buddy = p ^ (1u << o);

		CHECK(n < zone->spanned_pages, "%s order %u %s: list loops",
		      zone->name, o, migratetype_names[mt]);
		CHECK(page->prev == prev, "pfn %#x: prev %#x, expected %#x", p,
		      page->prev, prev);
		CHECK(page->flags & PG_buddy, "pfn %#x on a free list without PG_buddy", p);
		CHECK(page->order == o && page->migratetype == mt,
		      "pfn %#x: order %u type %u on list order %u type %u", p,
		      page->order, page->migratetype, o, mt);
		CHECK(!(p & ((1u << o) - 1)) && zone_spans_block(zone, p, o),
		      "pfn %#x: order-%u block misaligned or outside zone %s", p,
		      o, zone->name);
		for (uint32_t b = p; b < p + (1u << o); b += PAGEBLOCK_NR_PAGES)
			CHECK((mt == MIGRATE_ISOLATE) ==
				      (get_pageblock_migratetype(pgdat, b) == MIGRATE_ISOLATE),
			      "pfn %#x order %u: on the %s list in a pageblock of type %s",
			      p, o, migratetype_names[mt],
			      migratetype_names[get_pageblock_migratetype(pgdat, b)]);
		if (p == l->boundary)
			past_boundary = true;
		CHECK(!!(page->flags & PG_reported) == past_boundary,
		      "pfn %#x order %u: %s block on the %s side of the boundary",
		      p, o, past_boundary ? "unreported" : "reported",
		      past_boundary ? "reported" : "unreported");
		if (past_boundary)
			(*reported)++;
		CHECK(o == MAX_ORDER - 1 || !page_is_buddy(zone, buddy, o) ||
			      (o >= PAGEBLOCK_ORDER &&
			       (get_pageblock_migratetype(pgdat, p) == MIGRATE_ISOLATE) !=
				       (get_pageblock_migratetype(pgdat, buddy) ==
					MIGRATE_ISOLATE)),
		      "pfn %#x and its buddy %#x are both free at order %u", p,
		      buddy, o);
		prev = p;
		n++;
	}
	CHECK(l->tail == prev, "%s order %u %s: tail %#x, last %#x", zone->name,
	      o, migratetype_names[mt], l->tail, prev);
	CHECK(n == l->nr, "%s order %u %s: nr %u, counted %u", zone->name, o,
	      migratetype_names[mt], l->nr, n);
	CHECK(l->boundary == PFN_NONE || past_boundary,
	      "%s order %u %s: boundary %#x not on the list", zone->name, o,
	      migratetype_names[mt], l->boundary);
	return 0;
}

static int zone_check_locked(struct zone *zone)
{
	uint64_t free = 0, isolated = 0;

	for (unsigned int o = 0; o < MAX_ORDER; o++) {
		uint64_t blocks = 0, reported = 0;

		for (unsigned int mt = 0; mt < MIGRATE_TYPES; mt++) {
			int err = free_list_check(zone, o, mt, &reported);

			if (err)
				return err;
			blocks += zone->free_area[o].free_list[mt].nr;
		}
		isolated += (uint64_t)zone->free_area[o].free_list[MIGRATE_ISOLATE].nr << o;
		CHECK(blocks == zone->free_area[o].nr_free,
		      "%s order %u: nr_free %llu, counted %llu", zone->name, o,
		      (unsigned long long)zone->free_area[o].nr_free,
		      (unsigned long long)blocks);
		CHECK(reported == zone->reported_blocks[o],
		      "%s order %u: reported_blocks %llu, counted %llu",
		      zone->name, o,
		      (unsigned long long)zone->reported_blocks[o],
		      (unsigned long long)reported);
		free += blocks << o;
	}
	CHECK(free - isolated == zone_free_pages(zone),
	      "%s: free_pages %llu, counted %llu outside isolated pageblocks (and %llu in them)",
	      zone->name, (unsigned long long)zone_free_pages(zone),
	      (unsigned long long)(free - isolated), (unsigned long long)isolated);
	return 0;
}

int buddy_check(struct pglist_data *pgdat)
{
	for (unsigned int z = 0; z < pgdat->nr_zones; z++) {
		struct zone *zone = &pgdat->node_zones[z];
		int err;

		spin_lock(&zone->lock);
		err = zone_check_locked(zone);
		spin_unlock(&zone->lock);
		if (err)
			return err;
	}
	return 0;
}
