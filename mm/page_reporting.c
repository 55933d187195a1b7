/*
 * page_reporting.c - free page reporting (seed 000, "Reported pages"; seed
 * 004, "aeration").
 *
 * Blocks of at least the reporting order that sit free are told to the host,
 * which discards their contents and takes the memory back.  The free path
 * only counts: a free at the reporting order or above flags its zone
 * REQUESTED and schedules delayed work (by default on any such free, as
 * Linux; with a high-water mark, once the zone's unreported blocks at that
 * order pass it).  The worker then runs each requested zone through the
 * cycle the seed names:
 *
 *   fill   under the zone lock, pull up to a batch of unreported blocks off
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
 * Two bounds keep a pass from reporting memory that is about to be used
 * again.  Its budget is the blocks unreported when it began: blocks freed
 * meanwhile wait for the next pass.  And all of a block must have been free
 * for min_age_ms (half the delay by default), by the stamp in page->private
 * that the allocator keeps across merges and splits (zone_free_block_locked()):
 * a loop that frees and retakes the same memory (page_fault1) is left alone
 * instead of faulting it back in from the host every pass, while the block
 * beside it, free all along, ages as it should.  Either leaves the zone
 * REQUESTED and schedules another pass.
 *
 * The gate: a zone is reported only while its free memory stays above its low
 * watermark plus one full batch.  Blocks out for reporting cannot be
 * allocated, and upstream Linux added this check after small guests failed
 * allocations with 32 blocks out.  A batch is the device's capacity, but
 * never more than an eighth of the zone (page_reporting_batch()): Linux's
 * fixed 32 blocks of 2 MiB are a 64 MiB floor that a 64 MiB guest never
 * clears, so it reports nothing; here its 48 MiB zone reports three blocks
 * at a time above a 6 MiB floor.  (An eighth: per-CPU lists hide at most
 * another eighth, so a quarter of a zone at worst is out of allocation's
 * reach at once.)  A zone the gate stops stays REQUESTED and is retried
 * with the failure backoff: with a high-water mark, the frees that give it
 * room again need not pass the mark themselves, so without that the blocks
 * it left would never be reported.  A zone too small ever to pass its gate
 * is not retried.
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
		.min_age_ms = PAGE_REPORTING_MIN_AGE_MS,
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
	/*
	 * Read before writing, as Linux's __page_reporting_request() does:
	 * while a pass is pending every zone's first free would otherwise
	 * write @state's line again.  Skipping the exchange also skips the
	 * release that published the zone flag to the worker's exchange to
	 * ACTIVE, so the flag's set and the state's load here, and the
	 * worker's exchange and its load of the flag
	 * (page_reporting_pass_requested()), are all seq_cst instead (the
	 * store-buffering pattern; no fences, which ThreadSanitizer does not
	 * model): in their single order either the worker's load comes after
	 * the set and sees the flag, or the load below comes after the
	 * exchange and sees ACTIVE (or a later state) and requests again.  A
	 * REQUESTED seen here is one that a pass still consumes with its
	 * exchange, and that pass sees the flag.
	 */
	atomic_fetch_or_explicit(&zone->flags, 1ul << ZONE_REPORTING_REQUESTED,
				 memory_order_seq_cst);
	if (atomic_load_explicit(&prdev->state, memory_order_seq_cst) ==
	    PAGE_REPORTING_REQUESTED)
		return;
	if (atomic_exchange(&prdev->state, PAGE_REPORTING_REQUESTED) ==
	    PAGE_REPORTING_IDLE)
		page_reporting_schedule(prdev, prdev->delay_ms);
}

/*
 * Pull up to @max unreported blocks off @zone's lists into @prdev->sg,
 * largest orders first, coldest first within a list.  A block that would
 * take the zone's free memory under @gate is left, and smaller orders are
 * still tried; *@gated says an unreported block was left so.  A block free
 * for less than @prdev->min_age_ms is left for a later pass; *@young_wait is
 * raised to the ticks the youngest of those still has to wait.
 * Return: the number of blocks pulled.
 */
static unsigned int page_reporting_fill(struct page_reporting_dev_info *prdev,
					struct zone *zone, uint64_t gate,
					unsigned int max, bool *gated,
					uint32_t *young_wait)
{
	struct pglist_data *pgdat = zone->zone_pgdat;
	/* Ticks of ~1.05 ms: rounding the age down errs towards waiting. */
	uint32_t now = page_reporting_now(), min_age = prdev->min_age_ms;
	unsigned int n = 0;

	MM_ASSERT_HELD(&zone->lock);
	for (unsigned int o = MAX_ORDER; o-- > prdev->order && n < max;) {
		if (zone_free_pages(zone) < gate + (1ull << o)) {
			if (zone->free_area[o].nr_free > zone->reported_blocks[o])
				*gated = true;
			continue;
		}
		for (unsigned int mt = 0; mt < MIGRATE_PCPTYPES && n < max; mt++) {
			struct free_list *l = &zone->free_area[o].free_list[mt];
			uint32_t pfn = l->boundary == PFN_NONE
					       ? l->tail
					       : pfn_to_page(pgdat, l->boundary)->prev;

			while (pfn != PFN_NONE && n < max &&
			       zone_free_pages(zone) >= gate + (1ull << o)) {
				struct page *page = pfn_to_page(pgdat, pfn);
				uint32_t prev = page->prev;
				uint32_t age = now - page->private;

				if (age < min_age) {
					/* Still being recycled, maybe: next pass. */
					if (min_age - age > *young_wait)
						*young_wait = min_age - age;
					atomic_fetch_add(&prdev->young, 1);
					pfn = prev;
					continue;
				}
				zone_del_free_block_locked(zone, pfn, o);
				page_flags_set(page, PG_isolated);
				page->order = (uint8_t)o;
				prdev->sg[n++] = (struct scatterlist){
					page, (uint32_t)(PAGE_SIZE << o)
				};
				pfn = prev;
			}
			if (pfn != PFN_NONE && n < max)
				*gated = true;
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
 * The blocks one report of @zone takes at most, and so the headroom its gate
 * keeps: the device's capacity, or an eighth of the zone in blocks of the
 * reporting order if that is fewer; at least one.
 */
static unsigned int page_reporting_batch(const struct page_reporting_dev_info *prdev,
					 struct zone *zone)
{
	uint64_t blocks = (zone_managed_pages(zone) / 8) >> prdev->order;

	if (!blocks)
		return 1;
	return blocks < prdev->capacity ? (unsigned int)blocks : prdev->capacity;
}

/* What a pass's cycles found left over, for when it runs next. */
struct page_reporting_next {
	bool more;	     /* blocks left over the budget, or on per-CPU
				lists in use: a delay */
	uint32_t young_wait; /* ticks until the youngest block left is old enough */
	bool gated;	     /* a zone stopped at the gate: the backoff */
};

/* Milliseconds that cover @ticks of page_reporting_now(), rounded up. */
static uint64_t page_reporting_ticks_to_ms(uint32_t ticks)
{
	return ((uint64_t)ticks << 20) / 1000000 + 1;
}

/* Unreported free blocks at or above the reporting order. */
static uint64_t zone_unreported_blocks(struct zone *zone, unsigned int order)
{
	uint64_t n = 0;

	for (unsigned int o = order; o < MAX_ORDER; o++)
		n += zone->free_area[o].nr_free - zone->reported_blocks[o];
	return n;
}

static bool page_reporting_registered(struct page_reporting_dev_info *prdev)
{
	return atomic_load_explicit(&prdev->pgdat->prdev, memory_order_acquire) ==
	       prdev;
}

/*
 * The worker's hold of a zone lock, timed into @prdev->zone_hold_*: the lock
 * is the allocator's, and the worker should hold it only for list moves.
 * The clock is read only here, on the worker's path, never the allocator's.
 */
static void reporting_zone_lock(struct page_reporting_dev_info *prdev,
				struct zone *zone)
{
	uint64_t t0 = platform_now_ns();

	spin_lock(&zone->lock);
	prdev->zone_hold_start = platform_now_ns();
	prdev->zone_wait_last = prdev->zone_hold_start - t0;
}

static void reporting_zone_unlock(struct page_reporting_dev_info *prdev,
				  struct zone *zone)
{
	uint64_t held = platform_now_ns() - prdev->zone_hold_start;

	spin_unlock(&zone->lock);
	stat_counter_add(&prdev->zone_holds, 1);
	stat_counter_add(&prdev->zone_hold_ns, held);
	stat_counter_max(&prdev->zone_hold_max_ns, held);
	stat_counter_add(&prdev->zone_wait_ns, prdev->zone_wait_last);
	stat_counter_max(&prdev->zone_wait_max_ns, prdev->zone_wait_last);
}

void page_reporting_zone_lock_stats(struct page_reporting_dev_info *prdev,
				    struct lock_stats *st, bool reset)
{
	if (reset) {
		atomic_store(&prdev->zone_holds, 0);
		atomic_store(&prdev->zone_hold_ns, 0);
		atomic_store(&prdev->zone_hold_max_ns, 0);
		atomic_store(&prdev->zone_wait_ns, 0);
		atomic_store(&prdev->zone_wait_max_ns, 0);
		return;
	}
	*st = (struct lock_stats){
		.acquisitions = atomic_load(&prdev->zone_holds),
		.timed = atomic_load(&prdev->zone_holds),
		.hold_ns = atomic_load(&prdev->zone_hold_ns),
		.hold_max_ns = atomic_load(&prdev->zone_hold_max_ns),
		.wait_ns = atomic_load(&prdev->zone_wait_ns),
		.wait_max_ns = atomic_load(&prdev->zone_wait_max_ns),
	};
}

/*
 * Report @zone's unreported blocks.  A pass takes at most the blocks that
 * were unreported when it began (its budget): blocks freed meanwhile wait for
 * the next pass, a report delay later, so they get the delay's chance to be
 * reused, and a stream of frees cannot keep the worker in one zone forever.
 * The zone lock is dropped around report(); the blocks were isolated before
 * that, so they need no revalidating afterwards: they are ours, and the
 * lists may have changed in any way around them.  What does need it is the
 * registration: once @prdev is unregistered, a device registered since owns
 * the zone's request.  So it is checked under the zone lock - which
 * registration and unregistration take to set and clear requests - before
 * the request is consumed, after every batch, and before the zone is
 * requested again.
 * Return: 0, or report()'s error (the zone stays REQUESTED); @next says
 * when the zone wants another pass.
 */
static int page_reporting_cycle(struct page_reporting_dev_info *prdev,
				struct zone *zone, struct page_reporting_next *next)
{
	unsigned int batch = page_reporting_batch(prdev, zone);
	uint64_t gate = zone_wmark(zone, WMARK_LOW) +
			((uint64_t)batch << prdev->order);
	uint64_t budget;
	bool gated = false, mine = true, stopped = false;
	uint32_t young_wait = 0;
	int err = 0;

	reporting_zone_lock(prdev, zone);
	if (!page_reporting_registered(prdev)) {
		reporting_zone_unlock(prdev, zone);
		return 0;
	}
	zone_flag_set(zone, ZONE_REPORTING_ACTIVE);
	/* Frees from here on may request again: a later pass covers them. */
	zone_flag_clear(zone, ZONE_REPORTING_REQUESTED);
	budget = zone_unreported_blocks(zone, prdev->order);
	while (budget) {
		bool g = false;
		unsigned int n = page_reporting_fill(
			prdev, zone, gate,
			budget < batch ? (unsigned int)budget : batch,
			&g, &young_wait);

		gated |= g;
		if (!n) {
			stopped = g;
			break;
		}
		budget -= n;
		reporting_zone_unlock(prdev, zone);
		err = prdev->report(prdev, prdev->sg, n);
		reporting_zone_lock(prdev, zone);
		page_reporting_drain(prdev, zone, n, err == 0);
		mine = page_reporting_registered(prdev);
		if (err) {
			atomic_fetch_add(&prdev->failures, 1);
			break;
		}
		atomic_fetch_add(&prdev->reports, 1);
		for (unsigned int i = 0; i < n; i++)
			atomic_fetch_add(&prdev->reported_pages,
					 prdev->sg[i].length >> PAGE_SHIFT);
		if (!mine)
			break;
	}
	if (mine) {
		/* Unreported blocks over the budget, for the next pass. */
		bool left = !budget && zone_unreported_blocks(zone, prdev->order);
		/* Blocked by the gate: try again once there may be room. */
		bool held = stopped &&
			    zone_managed_pages(zone) >= gate + (1ull << prdev->order);

		if (err || left || young_wait || held)
			zone_flag_set(zone, ZONE_REPORTING_REQUESTED);
		next->more |= left;
		next->gated |= held;
		if (young_wait > next->young_wait)
			next->young_wait = young_wait;
	}
	if (gated)
		atomic_fetch_add(&prdev->gated, 1);
	zone_flag_clear(zone, ZONE_REPORTING_ACTIVE);
	reporting_zone_unlock(prdev, zone);
	return err;
}

static uint64_t page_reporting_backoff(struct page_reporting_dev_info *prdev)
{
	uint64_t wait = prdev->backoff_ms;

	prdev->backoff_ms = prdev->backoff_ms * 2 > PAGE_REPORTING_BACKOFF_MAX_MS
				    ? PAGE_REPORTING_BACKOFF_MAX_MS
				    : prdev->backoff_ms * 2;
	return wait;
}

/* The pass's look at @zone's request: seq_cst, after its exchange to
 * ACTIVE, for page_reporting_request()'s pairing. */
static bool page_reporting_pass_requested(struct zone *zone)
{
	return atomic_load_explicit(&zone->flags, memory_order_seq_cst) &
	       (1ul << ZONE_REPORTING_REQUESTED);
}

static int page_reporting_pass_locked(struct page_reporting_dev_info *prdev)
{
	struct pglist_data *pgdat = prdev->pgdat;
	struct page_reporting_next next = { 0 };
	uint64_t delay_ms;
	int err = 0;

	MM_ASSERT_HELD(&prdev->pass_lock);
	if (!page_reporting_registered(prdev))
		return 0;
	/*
	 * A seq_cst RMW: the zone flags a request set before its exchange
	 * are seen, and a request that found REQUESTED and did not exchange
	 * is seen by page_reporting_pass_requested() (see
	 * page_reporting_request()).
	 */
	atomic_exchange(&prdev->state, PAGE_REPORTING_ACTIVE);
	/*
	 * Per-CPU lists unused since the last pass go back to the buddy
	 * lists first (their frees request this zone's cycle; being young,
	 * they are reported a pass or two later), so an idle guest returns
	 * that memory too.  Lists in use keep the worker coming back.
	 */
	if (drain_idle_pages(pgdat))
		next.more = true;
	for (unsigned int z = 0; z < pgdat->nr_zones && !err; z++) {
		struct zone *zone = &pgdat->node_zones[z];

		/* Unregistered during the last zone: the rest is not ours. */
		if (!page_reporting_registered(prdev))
			return 0;
		if (page_reporting_pass_requested(zone))
			err = page_reporting_cycle(prdev, zone, &next);
	}
	if (!page_reporting_registered(prdev))
		return err;
	if (err) {
		atomic_store(&prdev->state, PAGE_REPORTING_REQUESTED);
		page_reporting_schedule(prdev, page_reporting_backoff(prdev));
		return err;
	}
	/*
	 * The next pass comes when the first zone wants it: a delay after
	 * blocks left over the budget or per-CPU lists in use; once the
	 * youngest block left for its age can be old enough; after the
	 * backoff (never sooner than a delay), doubling while the gate holds.
	 */
	delay_ms = UINT64_MAX;
	if (next.more)
		delay_ms = prdev->delay_ms;
	if (next.young_wait) {
		/*
		 * Not floored at the delay: passes also run for reasons of
		 * their own (per-CPU lists in use, budgets), at any phase
		 * after a free, and one that finds a memhog's blocks 0.3 s
		 * old must not leave them for a whole delay more (measured:
		 * 90 % returned after 3.3 s instead of ~2.2).  The wait is at
		 * least a tick, and a stream of frees makes it ~min-age: no
		 * spin.
		 */
		uint64_t wait = page_reporting_ticks_to_ms(next.young_wait);

		if (wait < delay_ms)
			delay_ms = wait;
	}
	if (next.gated) {
		uint64_t wait = page_reporting_backoff(prdev);

		if (wait < prdev->delay_ms)
			wait = prdev->delay_ms;
		if (wait < delay_ms)
			delay_ms = wait;
	} else {
		prdev->backoff_ms = PAGE_REPORTING_BACKOFF_MS;
	}
	int active = PAGE_REPORTING_ACTIVE;
	if (delay_ms != UINT64_MAX) {
		atomic_store(&prdev->state, PAGE_REPORTING_REQUESTED);
		page_reporting_schedule(prdev, delay_ms);
	} else if (!atomic_compare_exchange_strong(&prdev->state, &active,
						   PAGE_REPORTING_IDLE)) {
		page_reporting_schedule(prdev, prdev->delay_ms);
	}
	return 0;
}

int page_reporting_process(struct page_reporting_dev_info *prdev)
{
	uint64_t cpu0;
	int err;

	/* Never registered: no node, and no pass lock set up. */
	if (!prdev->pgdat)
		return 0;
	cpu0 = platform_thread_cpu_ns();

	spin_lock(&prdev->pass_lock);
	err = page_reporting_pass_locked(prdev);
	stat_counter_add(&prdev->worker_cpu_ns, platform_thread_cpu_ns() - cpu0);
	spin_unlock(&prdev->pass_lock);
	return err;
}

/*
 * The registered device with its @pass_lock held, or NULL.  Loaded under
 * @reporting_lock, so unregistration cannot clear it in between; and once
 * its pass lock is ours, unregistration waits for it before the device may
 * go.  The pass lock is only tried: the order is pass lock, then
 * reporting_lock (a report() may register), so waiting on it here could
 * deadlock.
 */
static struct page_reporting_dev_info *page_reporting_get_pass(struct pglist_data *pgdat)
{
	for (unsigned int spins = 0;; spins++) {
		struct page_reporting_dev_info *prdev;
		bool locked;

		spin_lock(&pgdat->reporting_lock);
		prdev = atomic_load_explicit(&pgdat->prdev, memory_order_acquire);
		locked = prdev && spin_trylock(&prdev->pass_lock);
		spin_unlock(&pgdat->reporting_lock);
		if (!prdev || locked)
			return prdev;
		platform_cpu_relax(spins);
	}
}

int page_reporting_discard_range(struct pglist_data *pgdat, uint32_t start,
				 uint32_t end)
{
	struct page_reporting_dev_info *prdev;
	int err = 0;

	if ((start | end) & (MAX_ORDER_NR_PAGES - 1) || end > pgdat->node_spanned_pages)
		return -GMM_EINVAL;
	prdev = page_reporting_get_pass(pgdat);
	if (!prdev)
		return 0;
	while (start < end && !err) {
		unsigned int n = 0;

		for (; start < end && n < prdev->capacity; start += MAX_ORDER_NR_PAGES)
			prdev->sg[n++] = (struct scatterlist){
				.page = pfn_to_page(pgdat, start),
				.length = (uint32_t)(MAX_ORDER_NR_PAGES * PAGE_SIZE),
			};
		err = prdev->report(prdev, prdev->sg, n);
		if (err) {
			atomic_fetch_add(&prdev->failures, 1);
			break;
		}
		atomic_fetch_add(&prdev->reports, 1);
		atomic_fetch_add(&prdev->reported_pages, (uint64_t)n * MAX_ORDER_NR_PAGES);
	}
	spin_unlock(&prdev->pass_lock);
	return err;
}

static void page_reporting_work(void *arg)
{
	page_reporting_process(arg);
}

int page_reporting_register(struct pglist_data *pgdat,
			    struct page_reporting_dev_info *prdev)
{
	struct platform_work *work = NULL;

	if (!prdev->report || prdev->order >= MAX_ORDER || !prdev->capacity ||
	    prdev->capacity > PAGE_REPORTING_CAPACITY_MAX)
		return -GMM_EINVAL;
	/*
	 * The worker is a thread, too slow to start under a spinlock: start
	 * it first.  It runs only once scheduled, below.
	 */
	if (!prdev->manual) {
		work = platform_work_create(page_reporting_work, prdev);
		if (!work)
			return -GMM_ENOMEM;
	}
	spin_lock(&pgdat->reporting_lock);
	/*
	 * A device that is registered already (this one or another) must
	 * come out of this untouched.
	 */
	if (atomic_load_explicit(&pgdat->prdev, memory_order_relaxed) ||
	    atomic_load_explicit(&pgdat->hinting, memory_order_relaxed) ||
	    atomic_load_explicit(&pgdat->free_bitmap, memory_order_relaxed)) {
		spin_unlock(&pgdat->reporting_lock);
		platform_work_destroy(work);
		return -GMM_EBUSY;
	}
	prdev->pgdat = pgdat;
	spin_lock_init(&prdev->pass_lock);
	prdev->backoff_ms = PAGE_REPORTING_BACKOFF_MS;
	atomic_init(&prdev->state, PAGE_REPORTING_REQUESTED);
	atomic_init(&prdev->reports, 0);
	atomic_init(&prdev->reported_pages, 0);
	atomic_init(&prdev->failures, 0);
	atomic_init(&prdev->gated, 0);
	atomic_init(&prdev->young, 0);
	atomic_init(&prdev->worker_cpu_ns, 0);
	page_reporting_zone_lock_stats(prdev, NULL, true);
	prdev->work = work;
	atomic_store(&pgdat->reporting_hwm, prdev->hwm);
	/*
	 * Until @prdev is published, a request from the free path is dropped:
	 * the flags set below cover it.
	 */
	atomic_store(&pgdat->reporting_order, prdev->order);

	/* Report what is free now: as Linux does when its driver loads. */
	for (unsigned int z = 0; z < pgdat->nr_zones; z++) {
		struct zone *zone = &pgdat->node_zones[z];

		spin_lock(&zone->lock);
		zone_flag_set(zone, ZONE_REPORTING_REQUESTED);
		spin_unlock(&zone->lock);
	}
	/*
	 * Publish last, with release: page_reporting_request() loads the
	 * device with acquire and then reads @work, @state and @delay_ms
	 * without a lock of ours.
	 */
	atomic_store_explicit(&pgdat->prdev, prdev, memory_order_release);
	page_reporting_schedule(prdev, prdev->delay_ms);
	spin_unlock(&pgdat->reporting_lock);
	return 0;
}

void page_reporting_unregister(struct page_reporting_dev_info *prdev)
{
	struct pglist_data *pgdat = prdev->pgdat;
	struct platform_work *work;

	if (!pgdat)
		return;
	spin_lock(&pgdat->reporting_lock);
	/* Only the registered device: anything else is left alone. */
	if (atomic_load_explicit(&pgdat->prdev, memory_order_relaxed) != prdev) {
		spin_unlock(&pgdat->reporting_lock);
		return;
	}
	atomic_store(&pgdat->prdev, NULL);
	atomic_store(&pgdat->reporting_order, MAX_ORDER);
	/*
	 * page_reporting_request() runs under a zone lock: once each lock has
	 * been taken and dropped, no request can still hold @prdev.
	 */
	for (unsigned int z = 0; z < pgdat->nr_zones; z++) {
		struct zone *zone = &pgdat->node_zones[z];

		spin_lock(&zone->lock);
		zone_flag_clear(zone, ZONE_REPORTING_REQUESTED);
		spin_unlock(&zone->lock);
	}
	spin_unlock(&pgdat->reporting_lock);
	/*
	 * Wait for a pass in progress, the worker's or an owner's: it stops
	 * after its current batch, and one that starts later sees the device
	 * unregistered.  Only then may the work go.  Neither wait is made
	 * under @reporting_lock, which the pass's report() may need (to
	 * register another device, say), nor the join under @pass_lock,
	 * which the worker's pass may be waiting for.
	 */
	spin_lock(&prdev->pass_lock);
	work = prdev->work;
	prdev->work = NULL;
	spin_unlock(&prdev->pass_lock);
	platform_work_destroy(work);
}
