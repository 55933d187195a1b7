/*
 * page_hinting.c - page hinting as seeds 002 and 003 proposed it, with the
 * objections raised there taken as bugs to avoid.
 *
 * The free path records the head of every block of at least the hinting
 * order that it puts on the free lists (after merging) in its CPU's array
 * for that zone.  When an array fills, that CPU's worker copies it out,
 * re-checks each frame under the zone lock, finds the free block the frame
 * lies in now (the frame's own block, or a larger one that absorbed it),
 * isolates it, reports a batch of isolated blocks through the reporting
 * device, and puts them back under the zone lock.
 *
 * What the seeds' code did and this does not:
 *   - No allocation on the free path, nor in the worker (v9 kmalloc'ed a
 *     1000-entry array per pass): the arrays and the worker's copy and
 *     scatterlist are allocated once, at registration.
 *   - No lock of its own on the free path: the array is written under the
 *     zone lock that path already holds; the zone makes each array
 *     one zone's, so the worker need not sort entries by zone either.
 *   - Blocks go back with the zone lock held (v9 called __free_one_page()
 *     without it): zone_free_block_locked() asserts it.
 *   - "Is it free" is PG_buddy with the block's order on the candidate head,
 *     under the zone lock, never a zero reference count (which a slab page
 *     may have too).
 *   - The block a frame lies in is found from at most MAX_ORDER - order
 *     candidate heads, the frame rounded down to each order
 *     (zone_find_free_block_locked()), not by walking every frame of every
 *     larger block the frame could be part of.
 *   - Isolated blocks are off the free lists, invisible to allocation and
 *     merging: nobody busy-waits for them (v8 left them in the buddy
 *     lists), allocation takes other memory; the zone's free count drops by
 *     them, and a worker stops isolating when the zone would fall under its
 *     low watermark plus one batch (as reporting's gate does).
 *   - The zone lock is held for PAGE_HINTING_SCAN_BATCH entries at most,
 *     and never across report(); report() calls are serialised across
 *     the CPUs' workers (@report_lock), as a device expects.
 *   - The worker sorts its copy of the array (no lock held), so entries
 *     that now lie in one block - a block and the buddies merged into it
 *     later - hint it once a pass, not once per entry.
 *
 * What stays the seeds' design, to be measured: an array that is not full
 * is never looked at (a guest that frees fewer than @entries blocks per CPU
 * and zone hints nothing); a frame freed, hinted, reallocated and freed
 * again is hinted again; frees while an array is full are not recorded; and
 * a block that stays free is hinted again whenever a free merges into it,
 * because nothing marks what the host already has (compare Reported in
 * page_reporting.c).
 */
#include "mm/internal.h"

void page_hinting_init(struct page_hinting *ph)
{
	*ph = (struct page_hinting){ .entries = PAGE_HINTING_ENTRIES };
}

static uint32_t *page_hinting_mem(struct page_hinting *ph)
{
	return page_address(ph->pgdat, ph->mem);
}

/*
 * The free path, zone lock held.  An entry is one store into this CPU's
 * array; the array filling schedules the worker (the platform work's mutex
 * nests inside the zone lock, mm/README.md).
 */
void page_hinting_free_locked(struct zone *zone, uint32_t pfn, unsigned int order)
{
	struct pglist_data *pgdat = zone->zone_pgdat;
	struct page_hinting *ph = atomic_load_explicit(&pgdat->hinting,
						       memory_order_acquire);
	struct page_hinting_cpu *c;
	unsigned int z = (unsigned int)(zone - pgdat->node_zones);

	MM_ASSERT_HELD(&zone->lock);
	if (!ph)
		return;
	c = &ph->cpu[platform_cpu_id() % pgdat->nr_cpus];
	if (c->nr[z] >= ph->entries) {
		/* Full, the worker not there yet: this free goes unhinted. */
		atomic_fetch_add_explicit(&ph->dropped, 1, memory_order_relaxed);
		return;
	}
	c->pfn[z][c->nr[z]++] = pfn;
	if (c->nr[z] == ph->entries && c->work)
		platform_work_schedule(c->work, 0);
}

static void hinting_zone_lock(struct page_hinting *ph, struct zone *zone,
			      uint64_t *t)
{
	spin_lock(&zone->lock);
	*t = platform_now_ns();
}

static void hinting_zone_unlock(struct page_hinting *ph, struct zone *zone,
				uint64_t t)
{
	uint64_t held = platform_now_ns() - t;

	spin_unlock(&zone->lock);
	/* One writer per CPU but several CPUs: these are shared. */
	atomic_fetch_add_explicit(&ph->zone_holds, 1, memory_order_relaxed);
	atomic_fetch_add_explicit(&ph->zone_hold_ns, held, memory_order_relaxed);
	uint64_t max = atomic_load_explicit(&ph->zone_hold_max_ns,
					    memory_order_relaxed);
	while (held > max &&
	       !atomic_compare_exchange_weak(&ph->zone_hold_max_ns, &max, held))
		;
}

/* Put @n isolated blocks of @c->sg back on @zone's lists, unreported. */
static void page_hinting_putback_locked(struct page_hinting *ph,
					struct page_hinting_cpu *c,
					struct zone *zone, unsigned int n)
{
	struct pglist_data *pgdat = zone->zone_pgdat;

	MM_ASSERT_HELD(&zone->lock);
	for (unsigned int i = 0; i < n; i++) {
		struct page *page = c->sg[i].page;
		uint32_t pfn = page_to_pfn(pgdat, page);

		if (page->flags != PG_isolated)
			platform_bad_state("page hinting: pfn %#x came back with flags %#x",
					   pfn, page->flags);
		page_flags_set(page, 0);
		/* No notify: it was recorded already; this is no new free. */
		zone_free_block_locked(zone, pfn, page->order, false, false);
	}
	atomic_fetch_add_explicit(&ph->returned, n, memory_order_relaxed);
}

/*
 * Re-check, isolate, report and return the @n entries of @c->snap, freed in
 * @zone.  The zone lock is dropped every PAGE_HINTING_SCAN_BATCH entries and
 * around report(); nothing is carried across a drop but the isolated blocks,
 * which are ours: each entry is looked up afresh under the lock it is
 * isolated under.
 * Return: 0, or report()'s error (the rest of the entries are dropped).
 */
static int page_hinting_zone(struct page_hinting *ph, struct page_hinting_cpu *c,
			     struct zone *zone, unsigned int n)
{
	struct page_reporting_dev_info *dev = ph->dev;
	uint64_t gate = zone_wmark(zone, WMARK_LOW) +
			((uint64_t)dev->capacity << dev->order);
	/* The snapshot is sorted: entries below this lie in a block done. */
	uint64_t covered = 0;
	unsigned int i = 0;

	while (i < n) {
		unsigned int nents = 0, scanned = 0;
		bool gated = false;
		uint64_t t;
		int err;

		hinting_zone_lock(ph, zone, &t);
		for (; i < n && nents < dev->capacity &&
		       scanned < PAGE_HINTING_SCAN_BATCH;
		     i++, scanned++) {
			unsigned int order;
			uint32_t head;
			struct page *page;

			if (c->snap[i] < covered) {
				/* In a block hinted this pass: once is enough. */
				atomic_fetch_add_explicit(&ph->stale, 1,
							  memory_order_relaxed);
				continue;
			}
			head = zone_find_free_block_locked(zone, c->snap[i],
							   dev->order, &order);
			if (head == PFN_NONE ||
			    pfn_to_page(zone->zone_pgdat, head)->migratetype >=
				    MIGRATE_PCPTYPES) {
				/* Allocated since, or isolated already. */
				atomic_fetch_add_explicit(&ph->stale, 1,
							  memory_order_relaxed);
				continue;
			}
			if (zone_free_pages(zone) < gate + (1ull << order)) {
				gated = true;
				break;
			}
			zone_del_free_block_locked(zone, head, order);
			covered = (uint64_t)head + (1ull << order);
			page = pfn_to_page(zone->zone_pgdat, head);
			page_flags_set(page, PG_isolated);
			page->order = (uint8_t)order;
			c->sg[nents++] = (struct scatterlist){
				page, (uint32_t)(PAGE_SIZE << order)
			};
		}
		hinting_zone_unlock(ph, zone, t);
		if (gated) {
			atomic_fetch_add_explicit(&ph->gated, n - i,
						  memory_order_relaxed);
			i = n;
		}
		if (!nents)
			continue;
		atomic_fetch_add_explicit(&ph->isolated, nents, memory_order_relaxed);
		spin_lock(&ph->report_lock);
		err = dev->report(dev, c->sg, nents);
		spin_unlock(&ph->report_lock);
		hinting_zone_lock(ph, zone, &t);
		page_hinting_putback_locked(ph, c, zone, nents);
		hinting_zone_unlock(ph, zone, t);
		if (err) {
			atomic_fetch_add_explicit(&ph->failures, 1,
						  memory_order_relaxed);
			return err;
		}
		atomic_fetch_add_explicit(&ph->reports, 1, memory_order_relaxed);
		for (unsigned int k = 0; k < nents; k++)
			atomic_fetch_add_explicit(&ph->reported_pages,
						  c->sg[k].length >> PAGE_SHIFT,
						  memory_order_relaxed);
	}
	return 0;
}

/*
 * Sort @v ascending (Shell's gaps, Ciura's sequence): the pass's private
 * copy, so no lock is held.  Sorted, the entries that lie in one block
 * come together and the block is hinted once a pass, and the re-checks
 * walk the memmap in order.
 */
static void pfn_sort(uint32_t *v, unsigned int n)
{
	static const unsigned int gaps[] = { 701, 301, 132, 57, 23, 10, 4, 1 };

	for (unsigned int g = 0; g < sizeof(gaps) / sizeof(gaps[0]); g++) {
		unsigned int gap = gaps[g];

		for (unsigned int i = gap; i < n; i++) {
			uint32_t x = v[i];
			unsigned int j = i;

			for (; j >= gap && v[j - gap] > x; j -= gap)
				v[j] = v[j - gap];
			v[j] = x;
		}
	}
}

/* One pass over @c's arrays.  Return: 0, or the first report() error. */
static int page_hinting_cpu_pass(struct page_hinting *ph,
				 struct page_hinting_cpu *c)
{
	struct pglist_data *pgdat = ph->pgdat;
	uint64_t cpu0 = platform_thread_cpu_ns();
	int ret = 0;

	spin_lock(&c->pass_lock);
	for (unsigned int z = 0; z < pgdat->nr_zones; z++) {
		struct zone *zone = &pgdat->node_zones[z];
		unsigned int n;
		uint64_t t;
		int err;

		/* Empty the array at once: the free path records again. */
		hinting_zone_lock(ph, zone, &t);
		n = c->nr[z];
		for (unsigned int i = 0; i < n; i++)
			c->snap[i] = c->pfn[z][i];
		c->nr[z] = 0;
		hinting_zone_unlock(ph, zone, t);
		atomic_fetch_add_explicit(&ph->recorded, n, memory_order_relaxed);
		pfn_sort(c->snap, n);
		err = page_hinting_zone(ph, c, zone, n);
		if (err && !ret)
			ret = err;
	}
	spin_unlock(&c->pass_lock);
	atomic_fetch_add_explicit(&ph->passes, 1, memory_order_relaxed);
	atomic_fetch_add_explicit(&ph->worker_cpu_ns,
				  platform_thread_cpu_ns() - cpu0,
				  memory_order_relaxed);
	return ret;
}

static void page_hinting_work(void *arg)
{
	struct page_hinting_cpu *c = arg;

	page_hinting_cpu_pass(c->ph, c);
}

int page_hinting_process(struct page_hinting *ph)
{
	int ret = 0;

	if (!ph->pgdat)
		return 0;
	for (unsigned int i = 0; i < ph->pgdat->nr_cpus; i++) {
		int err = page_hinting_cpu_pass(ph, &ph->cpu[i]);

		if (err && !ret)
			ret = err;
	}
	return ret;
}

static void page_hinting_destroy_workers(struct page_hinting *ph,
					 unsigned int n)
{
	for (unsigned int i = 0; i < n; i++) {
		platform_work_destroy(ph->cpu[i].work);
		ph->cpu[i].work = NULL;
	}
}

int page_hinting_register(struct pglist_data *pgdat, struct page_hinting *ph)
{
	struct page_reporting_dev_info *dev = ph->dev;
	unsigned int nr_cpus = pgdat->nr_cpus, made = 0;
	uint64_t bytes;
	uint32_t *mem;
	int err;

	if (!dev || !dev->report || dev->order >= MAX_ORDER || !dev->capacity ||
	    dev->capacity > PAGE_REPORTING_CAPACITY_MAX || !ph->entries ||
	    ph->entries > PAGE_HINTING_ENTRIES_MAX)
		return -GMM_EINVAL;
	/* Registered already (here or elsewhere): leave it untouched. */
	if (ph->pgdat)
		return -GMM_EBUSY;
	ph->pgdat = pgdat;
	spin_lock_init(&ph->report_lock);
	/* Each CPU: an array per zone and the pass's copy. */
	bytes = (uint64_t)nr_cpus * (pgdat->nr_zones + 1) * ph->entries *
		sizeof(uint32_t);
	ph->mem_order = 0;
	while ((PAGE_SIZE << ph->mem_order) < bytes)
		ph->mem_order++;
	if (ph->mem_order >= MAX_ORDER)
		return -GMM_EINVAL;
	ph->mem = alloc_pages(pgdat, 0, ph->mem_order);
	if (!ph->mem)
		return -GMM_ENOMEM;
	mem = page_hinting_mem(ph);
	for (unsigned int i = 0; i < nr_cpus; i++) {
		struct page_hinting_cpu *c = &ph->cpu[i];

		for (unsigned int z = 0; z < pgdat->nr_zones; z++) {
			c->nr[z] = 0;
			c->pfn[z] = mem;
			mem += ph->entries;
		}
		c->snap = mem;
		mem += ph->entries;
		c->ph = ph;
		c->work = NULL;
		spin_lock_init(&c->pass_lock);
	}
	if (!ph->manual) {
		for (; made < nr_cpus; made++) {
			ph->cpu[made].work = platform_work_create(
				page_hinting_work, &ph->cpu[made]);
			if (!ph->cpu[made].work) {
				err = -GMM_ENOMEM;
				goto undo_workers;
			}
		}
	}
	atomic_init(&ph->recorded, 0);
	atomic_init(&ph->dropped, 0);
	atomic_init(&ph->stale, 0);
	atomic_init(&ph->isolated, 0);
	atomic_init(&ph->returned, 0);
	atomic_init(&ph->reports, 0);
	atomic_init(&ph->reported_pages, 0);
	atomic_init(&ph->failures, 0);
	atomic_init(&ph->gated, 0);
	atomic_init(&ph->passes, 0);
	atomic_init(&ph->worker_cpu_ns, 0);
	atomic_init(&ph->zone_holds, 0);
	atomic_init(&ph->zone_hold_ns, 0);
	atomic_init(&ph->zone_hold_max_ns, 0);

	spin_lock(&pgdat->reporting_lock);
	if (atomic_load_explicit(&pgdat->prdev, memory_order_relaxed) ||
	    atomic_load_explicit(&pgdat->hinting, memory_order_relaxed) ||
	    atomic_load_explicit(&pgdat->free_bitmap, memory_order_relaxed)) {
		spin_unlock(&pgdat->reporting_lock);
		err = -GMM_EBUSY;
		goto undo_workers;
	}
	/* Published before the order opens the free path's test. */
	atomic_store_explicit(&pgdat->hinting, ph, memory_order_release);
	atomic_store_explicit(&pgdat->hinting_order, dev->order,
			      memory_order_release);
	spin_unlock(&pgdat->reporting_lock);
	return 0;

undo_workers:
	page_hinting_destroy_workers(ph, made);
	free_pages(pgdat, ph->mem, ph->mem_order);
	ph->mem = NULL;
	ph->pgdat = NULL;
	return err;
}

void page_hinting_unregister(struct page_hinting *ph)
{
	struct pglist_data *pgdat = ph->pgdat;

	if (!pgdat)
		return;
	spin_lock(&pgdat->reporting_lock);
	if (atomic_load_explicit(&pgdat->hinting, memory_order_relaxed) != ph) {
		spin_unlock(&pgdat->reporting_lock);
		return;
	}
	atomic_store(&pgdat->hinting_order, MAX_ORDER);
	atomic_store(&pgdat->hinting, NULL);
	spin_unlock(&pgdat->reporting_lock);
	/*
	 * The free path records under a zone lock: once each has been taken
	 * and dropped, nobody still writes an array.
	 */
	zones_lock_barrier(pgdat);
	/* Waits for a running pass: its isolated blocks are back after it. */
	page_hinting_destroy_workers(ph, pgdat->nr_cpus);
	/* An owner's pass (manual mode) holds the pass locks. */
	for (unsigned int i = 0; i < pgdat->nr_cpus; i++) {
		spin_lock(&ph->cpu[i].pass_lock);
		spin_unlock(&ph->cpu[i].pass_lock);
	}
	free_pages(pgdat, ph->mem, ph->mem_order);
	ph->mem = NULL;
	ph->pgdat = NULL;
}

#define CHECK(cond, ...)                                                       \
	do {                                                                   \
		if (!(cond)) {                                                 \
			platform_bad_state(__VA_ARGS__);                       \
			err = -GMM_EUCLEAN;                                    \
			goto out;                                              \
		}                                                              \
	} while (0)

/*
 * An entry names a frame the free path put on the lists at the hinting
 * order or above, in this zone.  The frame may have been allocated or
 * merged since - or taken offline with its memory block, whose 4 MiB
 * pieces' heads are PG_reserved while it is offline: such an entry is
 * stale (a pass finds no free block there and drops it), not wrong.  Only
 * the node's metadata was never free.
 */
static bool page_hinting_entry_ok(const struct page_hinting *ph,
				  const struct zone *zone, uint32_t pfn)
{
	const struct pglist_data *pgdat = ph->pgdat;
	const struct page *page;

	if (pfn < zone->zone_start_pfn ||
	    pfn - zone->zone_start_pfn >= zone->spanned_pages ||
	    (pfn & ((1u << ph->dev->order) - 1)) || pfn < pgdat->reserved_pages)
		return false;
	page = pfn_to_page(pgdat, pfn);
	if (!(page_flags_read(page) & PG_reserved))
		return true;
	return !(pfn & (MAX_ORDER_NR_PAGES - 1)) && page->order == MAX_ORDER - 1;
}

int page_hinting_check(struct page_hinting *ph)
{
	struct pglist_data *pgdat = ph->pgdat;
	unsigned int nr_cpus, locked = 0;
	int err = 0;

	if (!pgdat)
		return 0;
	nr_cpus = pgdat->nr_cpus;
	/* No pass runs while we hold every pass lock. */
	for (; locked < nr_cpus; locked++)
		spin_lock(&ph->cpu[locked].pass_lock);
	CHECK(atomic_load(&ph->isolated) == atomic_load(&ph->returned),
	      "page hinting: %llu blocks isolated, %llu returned, no pass running",
	      (unsigned long long)atomic_load(&ph->isolated),
	      (unsigned long long)atomic_load(&ph->returned));
	for (unsigned int z = 0; z < pgdat->nr_zones; z++) {
		struct zone *zone = &pgdat->node_zones[z];
		uint32_t end = zone->zone_start_pfn + zone->spanned_pages;

		spin_lock(&zone->lock);
		for (uint32_t p = zone->zone_start_pfn; p < end; p++) {
			if (page_flags_read(pfn_to_page(pgdat, p)) & PG_isolated) {
				spin_unlock(&zone->lock);
				CHECK(false, "page hinting: pfn %#x isolated with no pass running",
				      p);
			}
		}
		for (unsigned int i = 0; i < nr_cpus; i++) {
			const struct page_hinting_cpu *c = &ph->cpu[i];
			unsigned int n = c->nr[z];

			if (n > ph->entries) {
				spin_unlock(&zone->lock);
				CHECK(false, "page hinting: CPU %u zone %s: %u entries of %u",
				      i, zone->name, n, ph->entries);
			}
			for (unsigned int k = 0; k < n; k++) {
				uint32_t pfn = c->pfn[z][k];

				if (!page_hinting_entry_ok(ph, zone, pfn)) {
					spin_unlock(&zone->lock);
					CHECK(false, "page hinting: CPU %u zone %s entry %u: pfn %#x was never a freed block of order %u here",
					      i, zone->name, k, pfn, ph->dev->order);
				}
			}
		}
		spin_unlock(&zone->lock);
	}
out:
	while (locked)
		spin_unlock(&ph->cpu[--locked].pass_lock);
	return err;
}
