/*
 * page_reporting.c - free page reporting (seed 000, "Reported pages"; seed
 * 004, "aeration").
 *
 * Blocks of at least the reporting order that sit free are told to the host,
 * which discards their contents and takes the memory back.  The free path
 * only counts: when a zone's unreported blocks at one order pass the
 * high-water mark, the zone is flagged REQUESTED and delayed work is
 * scheduled.  The worker then runs each requested zone through the cycle
 * the seed names:
 *
 *   fill   under the zone lock, pull up to @capacity unreported blocks off
 *          the free lists (they are PG_isolated, invisible to allocation and
 *          merging, and leave the zone's free count);
 *   report drop the lock and hand the batch to the device;
 *   drain  under the lock again, put every block back - Reported, at its
 *          list's boundary, when the device took it; unreported on failure;
 *
 * and repeats until fill finds nothing, then idles.  Every free list keeps its
 * Reported blocks together at the tail, from the boundary on; new frees go
 * to the head, allocation takes from the head, and fill takes the unreported
 * block just before the boundary - the one freed longest ago.  A block that
 * stays free is therefore reported once; it loses the mark only by being
 * allocated or merged with an unreported buddy.
 *
 * Unlike the seed, the boundary is kept all the time rather than only while a
 * zone is being reported: in index form it is one word per list, moved only
 * when the block it names leaves the list, and it spares the free path any
 * test of whether reporting is active.
 *
 * The gate: a zone is reported only while its free memory stays above its low
 * watermark plus one full batch (capacity blocks of the reporting order).
 * Blocks out for reporting cannot be allocated, and upstream Linux added this
 * check after small guests failed allocations with 32 blocks out.
 *
 * The state machine (IDLE -> REQUESTED -> ACTIVE -> IDLE) is the kernel's: a
 * request during a pass finds the state ACTIVE, sets REQUESTED, and the pass
 * reschedules itself instead of going idle, so no request is lost.
 */
#include "mm/internal.h"

void page_reporting_dev_info_init(struct page_reporting_dev_info *prdev)
{
	*prdev = (struct page_reporting_dev_info){
		.order = PAGE_REPORTING_ORDER,
		.capacity = PAGE_REPORTING_CAPACITY,
		.hwm = PAGE_REPORTING_HWM,
		.delay_ms = PAGE_REPORTING_DELAY_MS,
	};
}

static void page_reporting_schedule(struct page_reporting_dev_info *prdev,
				    uint64_t delay_ms)
{
	if (prdev->work)
		platform_work_schedule(prdev->work, delay_ms);
}

/* Called from the free path with the zone lock held: keep it short. */
void page_reporting_request(struct zone *zone)
{
	struct page_reporting_dev_info *prdev = atomic_load_explicit(
		&zone->zone_pgdat->prdev, memory_order_acquire);

	if (!prdev)
		return;
	zone_flag_set(zone, ZONE_REPORTING_REQUESTED);
	if (atomic_exchange(&prdev->state, PAGE_REPORTING_REQUESTED) ==
	    PAGE_REPORTING_IDLE)
		page_reporting_schedule(prdev, prdev->delay_ms);
}

/*
 * Pull up to @capacity unreported blocks off @zone's lists into @prdev->sg,
 * largest orders first, coldest first within a list, stopping where one more
 * would take the zone's free memory under @gate.
 * Return: the number of blocks pulled.
 */
static unsigned int page_reporting_fill(struct page_reporting_dev_info *prdev,
					struct zone *zone, uint64_t gate)
{
	struct pglist_data *pgdat = zone->zone_pgdat;
	unsigned int n = 0;

	MM_ASSERT_HELD(&zone->lock);
	for (unsigned int o = MAX_ORDER; o-- > prdev->order;) {
		for (unsigned int mt = 0; mt < MIGRATE_PCPTYPES; mt++) {
			struct free_list *l = &zone->free_area[o].free_list[mt];
			uint32_t pfn = l->boundary == PFN_NONE
					       ? l->tail
					       : pfn_to_page(pgdat, l->boundary)->prev;

			while (pfn != PFN_NONE && n < prdev->capacity) {
				struct page *page = pfn_to_page(pgdat, pfn);
				uint32_t prev = page->prev;

				if (zone_free_pages(zone) < gate + (1ull << o)) {
					atomic_fetch_add(&prdev->gated, 1);
					return n;
				}
				zone_del_free_block_locked(zone, pfn, o);
				page_flags_set(page, PG_isolated);
				page->order = (uint8_t)o;
				prdev->sg[n++] = (struct scatterlist){
					page, (uint32_t)(PAGE_SIZE << o)
				};
				pfn = prev;
			}
			if (n == prdev->capacity)
				return n;
		}
	}
	return n;
}

/* Put the batch back: Reported when the device took it, else unreported. */
static void page_reporting_drain(struct page_reporting_dev_info *prdev,
				 struct zone *zone, unsigned int n, bool reported)
{
	struct pglist_data *pgdat = zone->zone_pgdat;

	MM_ASSERT_HELD(&zone->lock);
	for (unsigned int i = 0; i < n; i++) {
		struct page *page = prdev->sg[i].page;
		uint32_t pfn = page_to_pfn(pgdat, page);

		if (page->flags != PG_isolated)
			platform_bad_state("page reporting: pfn %#x came back with flags %#x",
					   pfn, page->flags);
		page_flags_set(page, 0);
		/* No notify: the cycle is still running and will see it. */
		zone_free_block_locked(zone, pfn, page->order, reported, false);
	}
}

/*
 * Report @zone until nothing unreported is left above the reporting order.
 * The zone lock is dropped around report(); the blocks were isolated before
 * that, so there is nothing to revalidate afterwards: they are ours, and the
 * lists may have changed in any way around them.
 * Return: 0, or report()'s error (the zone stays REQUESTED).
 */
static int page_reporting_cycle(struct page_reporting_dev_info *prdev,
				struct zone *zone)
{
	uint64_t gate = zone->watermark[WMARK_LOW] +
			((uint64_t)prdev->capacity << prdev->order);
	int err = 0;

	spin_lock(&zone->lock);
	zone_flag_set(zone, ZONE_REPORTING_ACTIVE);
	for (;;) {
		unsigned int n;

		/* Frees from here on may request again; we cover them. */
		zone_flag_clear(zone, ZONE_REPORTING_REQUESTED);
		n = page_reporting_fill(prdev, zone, gate);
		if (!n)
			break;
		spin_unlock(&zone->lock);
		err = prdev->report(prdev, prdev->sg, n);
		spin_lock(&zone->lock);
		page_reporting_drain(prdev, zone, n, err == 0);
		if (err) {
			atomic_fetch_add(&prdev->failures, 1);
			zone_flag_set(zone, ZONE_REPORTING_REQUESTED);
			break;
		}
		atomic_fetch_add(&prdev->reports, 1);
		for (unsigned int i = 0; i < n; i++)
			atomic_fetch_add(&prdev->reported_pages,
					 prdev->sg[i].length >> PAGE_SHIFT);
	}
	zone_flag_clear(zone, ZONE_REPORTING_ACTIVE);
	spin_unlock(&zone->lock);
	return err;
}

static int page_reporting_pass_locked(struct page_reporting_dev_info *prdev);

int page_reporting_process(struct page_reporting_dev_info *prdev)
{
	int err;

	spin_lock(&prdev->pass_lock);
	err = page_reporting_pass_locked(prdev);
	spin_unlock(&prdev->pass_lock);
	return err;
}

static int page_reporting_pass_locked(struct page_reporting_dev_info *prdev)
{
	struct pglist_data *pgdat = prdev->pgdat;
	int err = 0;

	MM_ASSERT_HELD(&prdev->pass_lock);
	atomic_store(&prdev->state, PAGE_REPORTING_ACTIVE);
	for (unsigned int z = 0; z < pgdat->nr_zones && !err; z++) {
		struct zone *zone = &pgdat->node_zones[z];

		if (zone_flag_test(zone, ZONE_REPORTING_REQUESTED))
			err = page_reporting_cycle(prdev, zone);
	}
	if (err) {
		atomic_store(&prdev->state, PAGE_REPORTING_REQUESTED);
		page_reporting_schedule(prdev, prdev->backoff_ms);
		if (prdev->backoff_ms < PAGE_REPORTING_BACKOFF_MAX_MS)
			prdev->backoff_ms *= 2;
		return err;
	}
	prdev->backoff_ms = PAGE_REPORTING_BACKOFF_MS;
	int active = PAGE_REPORTING_ACTIVE;
	if (!atomic_compare_exchange_strong(&prdev->state, &active,
					    PAGE_REPORTING_IDLE))
		page_reporting_schedule(prdev, prdev->delay_ms);
	return 0;
}

static void page_reporting_work(void *arg)
{
	page_reporting_process(arg);
}

int page_reporting_register(struct pglist_data *pgdat,
			    struct page_reporting_dev_info *prdev)
{
	struct page_reporting_dev_info *none = NULL;

	if (!prdev->report || prdev->order >= MAX_ORDER || !prdev->capacity ||
	    prdev->capacity > PAGE_REPORTING_CAPACITY_MAX)
		return -GMM_EINVAL;
	prdev->pgdat = pgdat;
	spin_lock_init(&prdev->pass_lock);
	prdev->backoff_ms = PAGE_REPORTING_BACKOFF_MS;
	atomic_init(&prdev->state, PAGE_REPORTING_IDLE);
	atomic_init(&prdev->reports, 0);
	atomic_init(&prdev->reported_pages, 0);
	atomic_init(&prdev->failures, 0);
	atomic_init(&prdev->gated, 0);
	prdev->work = NULL;
	if (!prdev->manual) {
		prdev->work = platform_work_create(page_reporting_work, prdev);
		if (!prdev->work)
			return -GMM_ENOMEM;
	}
	if (!atomic_compare_exchange_strong(&pgdat->prdev, &none, prdev)) {
		platform_work_destroy(prdev->work);
		prdev->work = NULL;
		return -GMM_EBUSY;
	}
	atomic_store(&pgdat->reporting_hwm, prdev->hwm);
	atomic_store(&pgdat->reporting_order, prdev->order);

	/* Report what is free now: as Linux does when its driver loads. */
	for (unsigned int z = 0; z < pgdat->nr_zones; z++) {
		struct zone *zone = &pgdat->node_zones[z];

		spin_lock(&zone->lock);
		zone_flag_set(zone, ZONE_REPORTING_REQUESTED);
		spin_unlock(&zone->lock);
	}
	atomic_store(&prdev->state, PAGE_REPORTING_REQUESTED);
	page_reporting_schedule(prdev, prdev->delay_ms);
	return 0;
}

void page_reporting_unregister(struct page_reporting_dev_info *prdev)
{
	struct pglist_data *pgdat = prdev->pgdat;

	atomic_store(&pgdat->reporting_order, MAX_ORDER);
	atomic_store(&pgdat->prdev, NULL);
	/*
	 * page_reporting_request() runs under a zone lock: once each lock has
	 * been taken and dropped, no request can still hold the old @prdev.
	 */
	for (unsigned int z = 0; z < pgdat->nr_zones; z++) {
		struct zone *zone = &pgdat->node_zones[z];

		spin_lock(&zone->lock);
		zone_flag_clear(zone, ZONE_REPORTING_REQUESTED);
		spin_unlock(&zone->lock);
	}
	/* Waits for a pass in progress; no new one can be scheduled now. */
	platform_work_destroy(prdev->work);
	prdev->work = NULL;
}
