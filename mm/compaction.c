/*
 * compaction.c - moving pages so that free memory comes together.
 *
 * Two scanners walk a zone towards each other, as Linux's do.  The migrate
 * scanner starts at the zone's first frame and isolates movable pages: LRU
 * pages (PG_lru) and pages with movable operations (PG_movable, zbud under
 * the unuse and migrate policies), a cluster of up to 32 at a time.  The
 * free scanner starts at the zone's last pageblock and walks down,
 * isolating free frames of MIGRATE_MOVABLE pageblocks as migration targets
 * (never from a free block of a whole pageblock or more: that is what
 * compaction makes);
 * the pages move from low to high, and the low end frees up in large
 * blocks.  It stops when the scanners meet, or - for an allocation that
 * failed - as soon as a free block of the order it wanted exists.
 *
 * Both scanners hold nothing while they look: they read the flags of
 * frames they do not own (atomically) and let isolation recheck under the
 * owner's lock: lru_lock for an LRU page, the pool lock for a zbud page, the
 * zone lock for a free block.
 *
 * Free page reporting.  The free scanner takes free blocks off the lists
 * under the zone lock, Reported ones included: their contents are gone, and
 * a migration target is overwritten whole, so the host just faults the
 * frames back in.  (With the default reporting order, the pageblock order,
 * every Reported block is a whole free pageblock, which the scanner leaves;
 * with a lower reporting order it takes Reported pieces too.)  Blocks out for reporting (PG_isolated) are not on the
 * lists, so the scanner never sees them, never waits for them and never
 * holds up a reporting pass: it holds the zone lock for one pageblock at a
 * time, as reporting's fill does.
 *
 * Triggered two ways: alloc_pages() calls try_to_compact_pages() when a
 * request above order 0 found nothing, once per request, one compaction at
 * a time per node, deferred after failures (Linux's defer_compaction: skip
 * the next 1, 2, 4 ... 64 failing requests); and compact_node(), the
 * command, compacts every zone whole.
 */
#include "mm/compaction.h"
#include "mm/zswap.h"

#define COMPACT_CLUSTER_MAX 32 /* pages moved per round, as Linux's */
#define COMPACT_MAX_DEFER_SHIFT 6

const char *const compact_event_names[NR_COMPACT_EVENTS] = {
	[COMPACT_STALL] = "compact_stall",
	[COMPACT_FAIL] = "compact_fail",
	[COMPACT_SUCCESS] = "compact_success",
	[COMPACT_MIGRATE_SCANNED] = "compact_migrate_scanned",
	[COMPACT_FREE_SCANNED] = "compact_free_scanned",
	[COMPACT_ISOLATED] = "compact_isolated",
	[COMPACT_FREE_REPORTED] = "compact_free_reported",
	[PGMIGRATE_SUCCESS] = "pgmigrate_success",
	[PGMIGRATE_FAIL] = "pgmigrate_fail",
	[PGMIGRATE_RELEASED] = "pgmigrate_released",
	[CMA_ALLOC_SUCCESS] = "cma_alloc_success",
	[CMA_ALLOC_FAIL] = "cma_alloc_fail",
};

/*
 * One compaction of one zone; on the stack of the thread that runs it, so
 * no lock: the isolated pages and free frames are this thread's.
 * @migrate_pfn: the next frame the migrate scanner looks at.
 * @free_pfn: the first frame of the pageblock the free scanner looks at
 * next; it takes nothing at or below the migrate scanner's pageblock.
 */
struct compact_control {
	struct migrate_target target; /* first: container_of-free casts */
	struct pglist_data *pgdat;
	struct zone *zone;
	int order; /* -1: the whole zone */
	uint32_t migrate_pfn;
	uint32_t free_pfn;
	uint32_t zone_end;
	unsigned int nr_free;
	uint32_t freepages[COMPACT_CLUSTER_MAX];
	unsigned int nr_migrate;
	struct migrate_item items[COMPACT_CLUSTER_MAX];
	struct compact_result *res;
};

void compact_node_init(struct compact_node *cn)
{
	for (unsigned int i = 0; i < NR_COMPACT_EVENTS; i++)
		atomic_init(&cn->events[i], 0);
	atomic_init(&cn->running, false);
	atomic_init(&cn->defer_shift, 0);
	atomic_init(&cn->considered, 0);
	atomic_init(&cn->users, 0);
	atomic_init(&cn->closing, false);
}

/*
 * Sequentially consistent: either the entering thread sees @closing, or
 * compact_users_close() sees its count (a store then a load on each side).
 */
bool compact_users_enter(struct pglist_data *pgdat)
{
	atomic_fetch_add(&pgdat->compact.users, 1);
	if (atomic_load(&pgdat->compact.closing)) {
		compact_users_exit(pgdat);
		return false;
	}
	return true;
}

void compact_users_exit(struct pglist_data *pgdat)
{
	atomic_fetch_sub(&pgdat->compact.users, 1);
}

void compact_users_close(struct pglist_data *pgdat)
{
	atomic_store(&pgdat->compact.closing, true);
	while (atomic_load(&pgdat->compact.users))
		platform_cpu_relax(1000);
}

void compact_users_open(struct pglist_data *pgdat)
{
	atomic_store(&pgdat->compact.closing, false);
}

void compact_get_stats(struct pglist_data *pgdat, struct compact_stats *st)
{
	for (unsigned int i = 0; i < NR_COMPACT_EVENTS; i++)
		st->events[i] = atomic_load_explicit(&pgdat->compact.events[i],
						     memory_order_relaxed);
}

static uint32_t pageblock_start(uint32_t pfn)
{
	return pfn & ~(uint32_t)(PAGEBLOCK_NR_PAGES - 1);
}

/*
 * Take the free block of @order at @pfn off the lists and keep its first
 * @want frames as order-0 targets; the rest goes back, in aligned pieces
 * that keep the block's Reported mark where reporting would (at or above
 * its order) and their free stamps.  Return: frames kept.
 */
static unsigned int take_free_block_locked(struct compact_control *cc,
					   uint32_t pfn, unsigned int order,
					   unsigned int want)
{
	struct pglist_data *pgdat = cc->pgdat;
	struct zone *zone = cc->zone;
	unsigned int rorder = atomic_load_explicit(&pgdat->reporting_order,
						   memory_order_relaxed);
	bool reported = page_flags_read(pfn_to_page(pgdat, pfn)) & PG_reported;
	uint32_t end = pfn + (1u << order), p;
	unsigned int keep = want < (1u << order) ? want : (1u << order);

	MM_ASSERT_HELD(&zone->lock);
	if (reported)
		count_compact_event(pgdat, COMPACT_FREE_REPORTED, keep);
	zone_del_free_block_locked(zone, pfn, order);
	for (unsigned int i = 0; i < keep; i++) {
		struct page *page = pfn_to_page(pgdat, pfn + i);

		page->order = 0;
		page->next = page->prev = PFN_NONE;
		page_flags_set(page, PG_head);
		cc->freepages[cc->nr_free++] = pfn + i;
	}
	for (p = pfn + keep; p < end;) {
		unsigned int o = (unsigned int)__builtin_ctz(p);

		while (p + (1u << o) > end)
			o--;
		zone_free_block_locked(zone, p, o, reported && o >= rorder, false);
		p += 1u << o;
	}
	return keep;
}

/*
 * The free scanner: isolate up to @want free frames from MOVABLE pageblocks
 * above the migrate scanner's, walking down.  One pageblock per zone-lock
 * hold.  A pageblock it stops in the middle of is looked at again next time.
 */
static void isolate_freepages(struct compact_control *cc, unsigned int want)
{
	struct pglist_data *pgdat = cc->pgdat;
	struct zone *zone = cc->zone;

	while (cc->nr_free < want &&
	       cc->free_pfn > pageblock_start(cc->migrate_pfn)) {
		uint32_t start = cc->free_pfn, end = start + PAGEBLOCK_NR_PAGES;
		bool done = true;

		if (start < zone->zone_start_pfn)
			start = zone->zone_start_pfn;
		if (end > cc->zone_end)
			end = cc->zone_end;
		spin_lock(&zone->lock);
		/* Under the lock: isolation sets the type under it too. */
		if (get_pageblock_migratetype(pgdat, start) == MIGRATE_MOVABLE) {
			for (uint32_t p = start; p < end;) {
				struct page *page = pfn_to_page(pgdat, p);
				unsigned int order;

				if (!(page_flags_read(page) & PG_buddy)) {
					p++;
					continue;
				}
				order = page->order;
				/*
				 * A whole free pageblock is what compaction is
				 * making: never broken up for targets (Linux's
				 * suitable_migration_target()).
				 */
				if (order >= PAGEBLOCK_ORDER) {
					p += 1u << order;
					continue;
				}
				if (cc->nr_free == want) {
					done = false;
					break;
				}
				take_free_block_locked(cc, p, order,
						       want - cc->nr_free);
				p += 1u << order;
			}
		}
		spin_unlock(&zone->lock);
		count_compact_event(pgdat, COMPACT_FREE_SCANNED, end - start);
		cc->res->free_scanned += end - start;
		if (!done)
			break;
		cc->free_pfn -= PAGEBLOCK_NR_PAGES;
	}
}

static struct page *compaction_alloc(struct migrate_target *t)
{
	struct compact_control *cc = (struct compact_control *)t;
	struct free_bitmap *fb;
	uint32_t pfn;

	if (!cc->nr_free)
		isolate_freepages(cc, COMPACT_CLUSTER_MAX);
	if (!cc->nr_free)
		return NULL;
	pfn = cc->freepages[--cc->nr_free];
	/*
	 * The bitmap strategy leaves hinted chunks on the free lists: a frame
	 * taken from one the host is discarding must not be written before
	 * the ack, as alloc_pages() waits (no lock held here).
	 */
	fb = atomic_load_explicit(&cc->pgdat->free_bitmap, memory_order_acquire);
	if (fb)
		free_bitmap_alloc_wait(fb, pfn, 0);
	page_poison_alloc(cc->pgdat, pfn, 0, "compaction");
	return pfn_to_page(cc->pgdat, pfn);
}

static void compaction_free(struct migrate_target *t, struct page *page)
{
	struct compact_control *cc = (struct compact_control *)t;

	/* A failed migration may have copied into it: poisoned again. */
	page_poison_free(cc->pgdat, page_to_pfn(cc->pgdat, page), 0);
	cc->freepages[cc->nr_free++] = page_to_pfn(cc->pgdat, page);
}

/* Give the free frames nobody used back to the lists. */
static void release_freepages(struct compact_control *cc)
{
	struct pglist_data *pgdat = cc->pgdat;

	if (!cc->nr_free)
		return;
	spin_lock(&cc->zone->lock);
	while (cc->nr_free) {
		uint32_t pfn = cc->freepages[--cc->nr_free];

		page_flags_set(pfn_to_page(pgdat, pfn), 0);
		zone_free_block_locked(cc->zone, pfn, 0, false, false);
	}
	spin_unlock(&cc->zone->lock);
}

/*
 * The migrate scanner: isolate up to a cluster of movable pages from
 * @migrate_pfn up, stopping at the end of a pageblock once it has some, and
 * below the free scanner's pageblock.  Isolated pageblocks (a contiguous
 * allocation's) are left alone.
 */
static void isolate_migratepages(struct compact_control *cc)
{
	struct pglist_data *pgdat = cc->pgdat;
	uint32_t limit = cc->free_pfn;

	while (cc->nr_migrate < COMPACT_CLUSTER_MAX && cc->migrate_pfn < limit) {
		uint32_t pfn = cc->migrate_pfn;
		struct page *page;
		uint16_t flags;

		if (pfn == pageblock_start(pfn) || pfn == cc->zone->zone_start_pfn) {
			if (cc->nr_migrate)
				break; /* a cluster per pageblock at most */
			if (get_pageblock_migratetype(pgdat, pfn) == MIGRATE_ISOLATE) {
				cc->migrate_pfn = pageblock_start(pfn) + PAGEBLOCK_NR_PAGES;
				continue;
			}
		}
		cc->migrate_pfn++;
		cc->res->migrate_scanned++;
		count_compact_event(pgdat, COMPACT_MIGRATE_SCANNED, 1);
		page = pfn_to_page(pgdat, pfn);
		flags = page_flags_read(page);
		if (!(flags & PG_head) || !(flags & (PG_lru | PG_movable)))
			continue;
		if (isolate_movable_page(pgdat, page, &cc->items[cc->nr_migrate])) {
			cc->nr_migrate++;
			cc->res->isolated++;
			count_compact_event(pgdat, COMPACT_ISOLATED, 1);
		}
	}
}

/* Is a free block of at least @order on the allocatable lists? */
static bool compact_finished(struct compact_control *cc)
{
	struct zone *zone = cc->zone;
	bool found = false;

	if (cc->order < 0)
		return false;
	spin_lock(&zone->lock);
	for (unsigned int o = (unsigned int)cc->order; o < MAX_ORDER && !found; o++)
		for (unsigned int mt = 0; mt < MIGRATE_PCPTYPES && !found; mt++)
			found = zone->free_area[o].free_list[mt].nr != 0;
	spin_unlock(&zone->lock);
	return found;
}

/* Return: true when a block of @order is free at the end (order >= 0). */
static bool compact_zone(struct pglist_data *pgdat, struct zone *zone,
			 int order, struct compact_result *res)
{
	struct compact_control cc = {
		.target = { .get = compaction_alloc, .put = compaction_free },
		.pgdat = pgdat,
		.zone = zone,
		.order = order,
		.migrate_pfn = zone->zone_start_pfn,
		.zone_end = zone->zone_start_pfn + zone->spanned_pages,
		.res = res,
	};
	bool ok = false;

	_Static_assert(offsetof(struct compact_control, target) == 0,
		       "the target is the control");
	if (!zone_managed_pages(zone) || zone->spanned_pages < 2 * PAGEBLOCK_NR_PAGES)
		return compact_finished(&cc);
	cc.free_pfn = pageblock_start(cc.zone_end - 1);
	for (;;) {
		if ((ok = compact_finished(&cc)))
			break;
		if (cc.migrate_pfn >= cc.free_pfn)
			break;
		isolate_migratepages(&cc);
		if (!cc.nr_migrate)
			continue;
		if (migrate_pages(pgdat, cc.items, cc.nr_migrate, &cc.target,
				  &res->migrate))
			cc.migrate_pfn = cc.free_pfn; /* out of targets: met */
		cc.nr_migrate = 0;
	}
	release_freepages(&cc);
	return ok;
}

int compact_node(struct pglist_data *pgdat, int order,
		 struct compact_result *res)
{
	bool ok = false;

	if (order >= MAX_ORDER)
		return -GMM_EINVAL;
	/* The node's anonymous memory is going away: nothing may move. */
	if (!compact_users_enter(pgdat))
		return order < 0 ? 0 : -GMM_EAGAIN;
	/*
	 * A pool that packs objects (the dense pool) first frees the spans
	 * its own compaction empties: fewer pages for the scanners to move.
	 */
	if (pgdat->lruvec && pgdat->lruvec->zswap)
		zswap_compact_pool(pgdat->lruvec->zswap);
	drain_all_pages(pgdat);
	for (unsigned int z = pgdat->nr_zones; z-- > 0 && !ok;)
		ok = compact_zone(pgdat, &pgdat->node_zones[z], order, res);
	/* Frames pool pages and pages being freed left on per-CPU lists. */
	drain_all_pages(pgdat);
	compact_users_exit(pgdat);
	return order < 0 || ok ? 0 : -GMM_EAGAIN;
}

bool try_to_compact_pages(struct pglist_data *pgdat, unsigned int order)
{
	struct compact_node *cn = &pgdat->compact;
	struct compact_result res = { 0 };
	unsigned int shift = atomic_load(&cn->defer_shift);
	bool ok;

	if (!pgdat->lruvec)
		return false; /* nothing movable without anonymous memory */
	if (shift && atomic_fetch_add(&cn->considered, 1) + 1 < (1u << shift))
		return false;
	if (atomic_exchange(&cn->running, true))
		return false;
	count_compact_event(pgdat, COMPACT_STALL, 1);
	ok = compact_node(pgdat, (int)order, &res) == 0;
	atomic_store(&cn->considered, 0);
	if (ok) {
		atomic_store(&cn->defer_shift, 0);
		count_compact_event(pgdat, COMPACT_SUCCESS, 1);
	} else {
		if (shift < COMPACT_MAX_DEFER_SHIFT)
			atomic_store(&cn->defer_shift, shift + 1);
		count_compact_event(pgdat, COMPACT_FAIL, 1);
	}
	atomic_store(&cn->running, false);
	return ok;
}
