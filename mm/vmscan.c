/*
 * vmscan.c - the LRU lists and reclaim.
 *
 * Anonymous pages enter the inactive list when faulted in or read back
 * from swap.  Reclaim takes pages from the inactive tail: a page whose PTE
 * was accessed since the last look is promoted to the active list
 * (second chance); the others are given a swap slot, unmapped (the PTE now
 * holds the swap entry), stored in zswap - or, if zswap refuses, written
 * to the swap file - and freed.  The active list is aged into the inactive
 * one whenever it is the longer, its referenced pages kept active once more.
 *
 * Who reclaims: kswapd, a background worker woken when an allocation finds
 * the node below its low watermark, works until the node is above its high
 * watermark; an allocation that finds nothing (below min) reclaims itself
 * (direct reclaim), a batch at a time.
 *
 * Reclaim does not scan at all when no page could go anywhere: no free
 * slot, or a device no longer written and zswap full (can_reclaim_anon(),
 * as Linux's can_reclaim_anon_pages()); the allocation fails at once.  A
 * page that finds no free slot stays in memory, mapped.  A page whose
 * write fails stays in memory too, mapped again, out of the swap cache
 * (its slot freed) and on the active list, so it is not tried again until
 * it has aged; the write failure ends the reclaim pass, and the direct
 * reclaim that ran it gives up (swapfile.c has the bound).  A page with a
 * pin (access_page() not yet put) is never written: it could change under
 * the write.
 */
#include "mm/anon.h"

const char *const vm_event_names[NR_VM_EVENTS] = {
	[PGFAULT] = "pgfault",
	[PGMAJFAULT] = "pgmajfault",
	[PSWPIN] = "pswpin",
	[PSWPOUT] = "pswpout",
	[PGSCAN] = "pgscan",
	[PGSTEAL] = "pgsteal",
	[PGACTIVATE] = "pgactivate",
	[PGDEACTIVATE] = "pgdeactivate",
	[PGROTATED] = "pgrotated",
	[KSWAPD_WAKE] = "kswapd_wake",
	[ALLOCSTALL] = "allocstall",
	[SWAP_FULL] = "swap_full",
	[SWAP_WRITE_ERR] = "swap_write_err",
	[SWAP_WRITE_DISABLED] = "swap_write_disabled",
	[SWAP_NO_RECLAIM] = "swap_no_reclaim",
	[SWAP_UNREADABLE] = "unreadable_pages",
	[SWAP_READ_RETRIED] = "swap_read_retried",
	[SWAP_UNUSE] = "swap_unuse",
	[ZSWPOUT] = "zswpout",
};

/* Pages reclaim isolates at a time, as Linux's SWAP_CLUSTER_MAX. */
#define RECLAIM_BATCH 32

/* ---- LRU lists (lru_lock) ---- */

static void lru_add_locked(struct lruvec *lv, struct page *page,
			   enum lru_list l)
{
	struct pglist_data *pgdat = lv->pgdat;
	struct page_ext *ext = page_ext_of(pgdat, page);
	uint32_t pfn = page_to_pfn(pgdat, page);

	MM_ASSERT_HELD(&lv->lru_lock);
	ext->lru_prev = PFN_NONE;
	ext->lru_next = lv->head[l];
	if (lv->head[l] != PFN_NONE)
		page_ext_of(pgdat, pfn_to_page(pgdat, lv->head[l]))->lru_prev = pfn;
	else
		lv->tail[l] = pfn;
	lv->head[l] = pfn;
	lv->nr[l]++;
	if (l == LRU_ACTIVE_ANON)
		page_flag_set(page, PG_lru | PG_active);
	else {
		page_flag_clear(page, PG_active);
		page_flag_set(page, PG_lru);
	}
}

static void lru_del_locked(struct lruvec *lv, struct page *page)
{
	struct pglist_data *pgdat = lv->pgdat;
	struct page_ext *ext = page_ext_of(pgdat, page);
	enum lru_list l = (page_flags_read(page) & PG_active) ? LRU_ACTIVE_ANON
							       : LRU_INACTIVE_ANON;

	MM_ASSERT_HELD(&lv->lru_lock);
	if (ext->lru_prev == PFN_NONE)
		lv->head[l] = ext->lru_next;
	else
		page_ext_of(pgdat, pfn_to_page(pgdat, ext->lru_prev))->lru_next = ext->lru_next;
	if (ext->lru_next == PFN_NONE)
		lv->tail[l] = ext->lru_prev;
	else
		page_ext_of(pgdat, pfn_to_page(pgdat, ext->lru_next))->lru_prev = ext->lru_prev;
	ext->lru_next = ext->lru_prev = PFN_NONE;
	lv->nr[l]--;
	page_flag_clear(page, PG_lru | PG_active);
}

void lru_add(struct lruvec *lv, struct page *page, bool active)
{
	spin_lock(&lv->lru_lock);
	lru_add_locked(lv, page, active ? LRU_ACTIVE_ANON : LRU_INACTIVE_ANON);
	spin_unlock(&lv->lru_lock);
}

void putback_lru_page(struct lruvec *lv, struct page *page, bool active)
{
	lru_add(lv, page, active);
	put_page(lv->pgdat, page);
}

void put_page(struct pglist_data *pgdat, struct page *page)
{
	struct page_ext *ext = page_ext_of(pgdat, page);
	uint16_t flags;

	if (atomic_fetch_sub_explicit(&ext->refcount, 1, memory_order_acq_rel) != 1)
		return;
	/* The last reference: nobody can isolate or add it any more. */
	if (page_flags_read(page) & PG_lru) {
		spin_lock(&pgdat->lruvec->lru_lock);
		lru_del_locked(pgdat->lruvec, page);
		spin_unlock(&pgdat->lruvec->lru_lock);
	}
	flags = page_flags_read(page);
	if (flags != (PG_head | PG_anon) || ext->mapping) {
		platform_bad_state("put_page: pfn %#x freed in state flags %#x%s",
				   page_to_pfn(pgdat, page), flags,
				   ext->mapping ? ", still mapped" : "");
		return;
	}
	page_flag_clear(page, PG_anon);
	free_pages(pgdat, page, 0);
}

/*
 * Take up to @n pages off the tail of list @l, each with a reference.
 * Pages whose count is 0 are being freed: their releaser takes them off.
 */
static unsigned int isolate_lru_pages(struct lruvec *lv, enum lru_list l,
				      struct page **out, unsigned int n)
{
	struct pglist_data *pgdat = lv->pgdat;
	unsigned int got = 0;
	uint32_t pfn;

	spin_lock(&lv->lru_lock);
	pfn = lv->tail[l];
	while (got < n && pfn != PFN_NONE) {
		struct page *page = pfn_to_page(pgdat, pfn);

		pfn = page_ext_of(pgdat, page)->lru_prev;
		if (!get_page_unless_zero(pgdat, page))
			continue;
		lru_del_locked(lv, page);
		out[got++] = page;
	}
	spin_unlock(&lv->lru_lock);
	return got;
}

bool isolate_lru_page(struct lruvec *lv, struct page *page, bool *active)
{
	struct pglist_data *pgdat = lv->pgdat;
	bool got = false;

	spin_lock(&lv->lru_lock);
	/* Rechecked under the lock: the scanner peeked without it. */
	if ((page_flags_read(page) & PG_lru) && get_page_unless_zero(pgdat, page)) {
		*active = page_flags_read(page) & PG_active;
		lru_del_locked(lv, page);
		got = true;
	}
	spin_unlock(&lv->lru_lock);
	return got;
}

/* ---- reclaim of one page ---- */

static struct swap_slot *page_swap_slot(struct lruvec *lv, struct page *page)
{
	return mm_array_at(&lv->si.slots, page_ext_of(lv->pgdat, page)->swap_slot);
}

/*
 * Write a locked swap cache page's data out.  Return: 0; -GMM_EAGAIN when
 * zswap refused it and the swap file is no longer written (no I/O); or the
 * write's error.
 */
static int pageout(struct lruvec *lv, struct page *page)
{
	uint32_t slot = page_ext_of(lv->pgdat, page)->swap_slot;
	const void *data = page_address(lv->pgdat, page);
	int err;

	if (lv->zswap && zswap_store(lv->zswap, slot, data) == 0) {
		count_vm_event(lv, ZSWPOUT);
		return 0;
	}
	/* zswap refused it, and the device is no longer written. */
	if (!swap_writable(&lv->si))
		return -GMM_EAGAIN;
	err = lv->si.io->ops->write(lv->si.io, slot, data);
	swap_write_done(lv, err);
	if (!err)
		count_vm_event(lv, PSWPOUT);
	return err;
}

/*
 * Reclaim one isolated page (we hold a reference).  *@write_failed is set
 * when it could not be written out (pageout() failed).  Return: true when it was freed; otherwise it is
 * back on an LRU list.
 */
static bool shrink_page(struct lruvec *lv, struct page *page, bool *write_failed)
{
	struct pglist_data *pgdat = lv->pgdat;
	struct page_ext *ext = page_ext_of(pgdat, page);
	struct mm_space *remapped = NULL;
	bool freed = false;

	if (!trylock_page(page)) {
		putback_lru_page(lv, page, false);
		return false;
	}
	if (ext->mapping && page_referenced(lv, page)) {
		count_vm_event(lv, PGACTIVATE);
		goto keep_active;
	}
	if (!(page_flags_read(page) & PG_swapcache)) {
		if (!ext->mapping)
			goto keep; /* unmapped meanwhile: its last put frees it */
		if (add_to_swap(lv, page)) {
			count_vm_event(lv, SWAP_FULL);
			goto keep_active;
		}
	}
	try_to_unmap(lv, page);
	/*
	 * Unmapped, so only a pin taken earlier can write it now; such a
	 * page is not written (the write could be torn) but kept.  No new pin
	 * can come but through the swap cache, which waits for our lock.
	 */
	if (page_count(pgdat, page) != 2)
		goto keep;
	spin_lock(&lv->si.lock);
	if (!(page_swap_slot(lv, page)->count & SWAP_COUNT_MASK)) {
		/* No PTE holds the slot any more: nothing to write. */
		delete_from_swap_cache_locked(lv, page);
		spin_unlock(&lv->si.lock);
		goto free;
	}
	if (swap_cache_uptodate_locked(lv, page)) {
		/*
		 * Clean: its slot holds its data already, and the PTE keeps the
		 * slot.  Freed as after a write, if a fault has not found it.
		 */
		if (page_count(pgdat, page) != 2) {
			spin_unlock(&lv->si.lock);
			goto keep;
		}
		delete_from_swap_cache_locked(lv, page);
		spin_unlock(&lv->si.lock);
		goto free;
	}
	spin_unlock(&lv->si.lock);
	/*
	 * A failed write, or zswap's refusal with the device no longer
	 * written (its pool out of frames, most likely): either way the next
	 * page would fare no better, so the pass ends here.
	 */
	if (pageout(lv, page)) {
		*write_failed = true;
		remapped = swap_writepage_failed(lv, page);
		goto keep_active;
	}
	/*
	 * Free it if we and the cache are still its only holders; a fault
	 * that found it in the cache meanwhile holds a reference (taken under
	 * si->lock, as this check is) and maps it once we unlock.
	 */
	spin_lock(&lv->si.lock);
	swap_cache_mark_uptodate_locked(lv, page);
	if (page_count(pgdat, page) != 2) {
		spin_unlock(&lv->si.lock);
		goto keep;
	}
	delete_from_swap_cache_locked(lv, page);
	spin_unlock(&lv->si.lock);
free:
	unlock_page(page);
	count_vm_event(lv, PGSTEAL);
	put_page(pgdat, page); /* the last reference */
	return true;
keep_active:
	if (page_flags_read(page) & PG_swapcache)
		swap_cache_trim(lv, page);
	unlock_page(page);
	/* Not under the page lock: the last put tears the space down. */
	if (remapped)
		mm_space_put(remapped);
	putback_lru_page(lv, page, true);
	return freed;
keep:
	unlock_page(page);
	putback_lru_page(lv, page, false);
	return freed;
}

/*
 * Reclaim a batch from the inactive tail.  A write that fails ends the
 * batch (*@write_failed): the pages not looked at go back where they were.
 */
static uint64_t shrink_inactive_list(struct lruvec *lv, bool *write_failed)
{
	struct page *pages[RECLAIM_BATCH];
	unsigned int n = isolate_lru_pages(lv, LRU_INACTIVE_ANON, pages,
					   RECLAIM_BATCH);
	uint64_t freed = 0;
	unsigned int i;

	for (i = 0; i < n && !*write_failed; i++) {
		count_vm_event(lv, PGSCAN);
		freed += shrink_page(lv, pages[i], write_failed);
	}
	for (; i < n; i++)
		putback_lru_page(lv, pages[i], false);
	return freed;
}

static void shrink_active_list(struct lruvec *lv)
{
	struct page *pages[RECLAIM_BATCH];
	unsigned int n = isolate_lru_pages(lv, LRU_ACTIVE_ANON, pages,
					   RECLAIM_BATCH);

	for (unsigned int i = 0; i < n; i++) {
		bool referenced = true;

		if (trylock_page(pages[i])) {
			referenced = page_referenced(lv, pages[i]);
			unlock_page(pages[i]);
		}
		count_vm_event(lv, referenced ? PGROTATED : PGDEACTIVATE);
		putback_lru_page(lv, pages[i], referenced);
	}
}

uint64_t shrink_node(struct lruvec *lv, uint64_t nr)
{
	uint64_t freed = 0, scanned = 0, budget;
	bool write_failed = false;

	if (!can_reclaim_anon(lv)) {
		count_vm_event(lv, SWAP_NO_RECLAIM);
		return 0;
	}
	spin_lock(&lv->lru_lock);
	budget = 2 * (lv->nr[LRU_INACTIVE_ANON] + lv->nr[LRU_ACTIVE_ANON]) +
		 RECLAIM_BATCH;
	spin_unlock(&lv->lru_lock);
	while (freed < nr && scanned < budget && !write_failed) {
		bool age;

		spin_lock(&lv->lru_lock);
		age = lv->nr[LRU_INACTIVE_ANON] <= lv->nr[LRU_ACTIVE_ANON];
		spin_unlock(&lv->lru_lock);
		if (age)
			shrink_active_list(lv);
		freed += shrink_inactive_list(lv, &write_failed);
		scanned += RECLAIM_BATCH;
		/* The last free slot may have gone meanwhile. */
		if (!can_reclaim_anon(lv))
			break;
	}
	return freed;
}

uint64_t try_to_free_pages(struct pglist_data *pgdat, uint64_t nr)
{
	struct lruvec *lv;
	uint64_t freed = 0;

	/*
	 * Counted first, then the lruvec read, both seq_cst, against
	 * anon_fini()'s withdrawal then wait: either this call sees NULL, or
	 * anon_fini() sees it counted and waits for the release below.
	 */
	atomic_fetch_add(&pgdat->reclaimers, 1);
	lv = atomic_load(&pgdat->reclaim_lruvec);
	if (lv) {
		count_vm_event(lv, ALLOCSTALL);
		freed = shrink_node(lv, nr);
	}
	atomic_fetch_sub_explicit(&pgdat->reclaimers, 1, memory_order_release);
	return freed;
}

/* ---- kswapd ---- */

static uint64_t node_watermark(struct pglist_data *pgdat, enum zone_watermarks w)
{
	uint64_t sum = 0;

	for (unsigned int z = 0; z < pgdat->nr_zones; z++)
		sum += zone_wmark(&pgdat->node_zones[z], w);
	return sum;
}

static void kswapd(void *arg)
{
	struct lruvec *lv = arg;
	uint64_t high = node_watermark(lv->pgdat, WMARK_HIGH);

	/* Free frames on per-CPU lists count: see node_free_pages() in memory.c. */
	while (!atomic_load(&lv->stopping) &&
	       pgdat_free_pages(lv->pgdat) + pgdat_pcp_pages(lv->pgdat) < high)
		if (shrink_node(lv, RECLAIM_BATCH) == 0)
			break;
}

void wakeup_kswapd(struct lruvec *lv)
{
	if (!lv->kswapd || atomic_load(&lv->stopping))
		return;
	count_vm_event(lv, KSWAPD_WAKE);
	platform_work_schedule(lv->kswapd, 0);
}

/* ---- setup, statistics ---- */

void anon_config_init(struct anon_config *cfg)
{
	*cfg = (struct anon_config){ .zswap = true, .kswapd = true };
	zswap_config_init(&cfg->zswap_cfg);
}

int anon_init(struct pglist_data *pgdat, const struct anon_config *cfg)
{
	struct page *page;
	struct lruvec *lv;
	int err;

	_Static_assert(sizeof(struct lruvec) <= PAGE_SIZE, "lruvec fits a page");
	if (!cfg->swap || !cfg->swap->ops)
		return -GMM_EINVAL;
	if (pgdat->lruvec)
		return -GMM_EEXIST;
	err = page_ext_init(pgdat);
	if (err)
		return err;
	page = alloc_pages(pgdat, GFP_ZERO, 0);
	if (!page) {
		err = -GMM_ENOMEM;
		goto undo_ext;
	}
	lv = page_address(pgdat, page);
	lv->pgdat = pgdat;
	spin_lock_init(&lv->lru_lock);
	spin_lock_init(&lv->mmlist_lock);
	for (unsigned int l = 0; l < NR_LRU_LISTS; l++)
		lv->head[l] = lv->tail[l] = PFN_NONE;
	err = swap_info_init(&lv->si, pgdat, cfg->swap);
	if (err)
		goto undo_page;
	if (cfg->zswap) {
		err = zswap_create(lv, &cfg->zswap_cfg);
		if (err)
			goto undo_swap;
	}
	if (cfg->kswapd) {
		lv->kswapd = platform_work_create(kswapd, lv);
		if (!lv->kswapd) {
			err = -GMM_ENOMEM;
			goto undo_zswap;
		}
	}
	compact_users_open(pgdat);
	pgdat->lruvec = lv;
	atomic_store(&pgdat->reclaim_lruvec, lv);
	return 0;
undo_zswap:
	zswap_destroy(lv);
undo_swap:
	swap_info_fini(&lv->si);
undo_page:
	free_pages(pgdat, page, 0);
undo_ext:
	page_ext_fini(pgdat);
	return err;
}

void anon_fini(struct pglist_data *pgdat)
{
	struct lruvec *lv = pgdat->lruvec;

	if (!lv)
		return;
	/* No new reclaim from outside; wait out a round that is running
	 * (shrink_node() is bounded by the LRU's length). */
	atomic_store(&pgdat->reclaim_lruvec, NULL);
	for (unsigned int spins = 0; atomic_load(&pgdat->reclaimers); spins++)
		platform_cpu_relax(spins);
	atomic_store(&lv->stopping, true);
	if (lv->kswapd)
		platform_work_destroy(lv->kswapd);
	/*
	 * Compactions and contiguous allocations under way may hold LRU
	 * pages isolated and follow lv->zswap into its pool: let them finish
	 * and start no new one before any of it is freed.
	 */
	compact_users_close(pgdat);
	if (lv->spaces)
		platform_bad_state("anon_fini: spaces still exist");
	/* What is left in the LRU is swap cache nobody maps: drop it. */
	while (lv->nr[LRU_INACTIVE_ANON] + lv->nr[LRU_ACTIVE_ANON]) {
		struct page *pages[RECLAIM_BATCH];
		unsigned int n = isolate_lru_pages(lv, LRU_INACTIVE_ANON, pages, RECLAIM_BATCH);

		n += isolate_lru_pages(lv, LRU_ACTIVE_ANON, pages + n, RECLAIM_BATCH - n);
		for (unsigned int i = 0; i < n; i++) {
			lock_page(pages[i]);
			if (page_flags_read(pages[i]) & PG_swapcache) {
				spin_lock(&lv->si.lock);
				delete_from_swap_cache_locked(lv, pages[i]);
				spin_unlock(&lv->si.lock);
			}
			unlock_page(pages[i]);
			put_page(pgdat, pages[i]);
		}
		if (!n)
			break;
	}
	pgdat->lruvec = NULL;
	zswap_destroy(lv);
	swap_info_fini(&lv->si);
	free_pages(pgdat, virt_to_page(pgdat, lv), 0);
	page_ext_fini(pgdat);
}

void node_get_vm_events(struct pglist_data *pgdat,
			uint64_t events[NR_VM_EVENTS], uint64_t *swap_cache)
{
	for (unsigned int i = 0; i < NR_VM_EVENTS; i++)
		events[i] = atomic_load_explicit(&pgdat->vm_events[i],
						 memory_order_relaxed);
	*swap_cache = atomic_load_explicit(&pgdat->nr_swapcache,
					   memory_order_relaxed);
}

void anon_get_stats(struct pglist_data *pgdat, struct anon_stats *st)
{
	struct lruvec *lv = pgdat->lruvec;

	*st = (struct anon_stats){ 0 };
	node_get_vm_events(pgdat, st->events, &st->swap_cache);
	if (!lv)
		return;
	spin_lock(&lv->lru_lock);
	st->nr_inactive = lv->nr[LRU_INACTIVE_ANON];
	st->nr_active = lv->nr[LRU_ACTIVE_ANON];
	spin_unlock(&lv->lru_lock);
	spin_lock(&lv->si.lock);
	st->swap_slots = lv->si.nr_slots;
	st->swap_free = lv->si.nr_free;
	st->swap_bad = lv->si.nr_bad;
	spin_unlock(&lv->si.lock);
	if (lv->zswap) {
		st->has_zswap = true;
		zswap_get_stats(lv->zswap, &st->zswap);
	}
}

static void lock_stats_one(struct spinlock *lock, struct lock_stats *sum,
			   bool reset)
{
	if (reset)
		spin_lock_stats_reset(lock);
	else
		spin_lock_stats_add(lock, sum);
}

void lruvec_lock_stats(struct lruvec *lv,
		       struct lock_stats out[NR_MM_LOCK_CLASSES], bool reset)
{
	struct lock_stats dummy[NR_MM_LOCK_CLASSES];

	if (!out)
		out = dummy;
	lock_stats_one(&lv->lru_lock, &out[MM_LOCK_LRU], reset);
	lock_stats_one(&lv->si.lock, &out[MM_LOCK_SWAP], reset);
	lock_stats_one(&lv->mmlist_lock, &out[MM_LOCK_MMLIST], reset);
	spin_lock(&lv->mmlist_lock);
	for (struct mm_space *mm = lv->spaces; mm; mm = mm->mm_next)
		lock_stats_one(&mm->ptl, &out[MM_LOCK_PTL], reset);
	if (reset)
		lv->dead_ptl = (struct lock_stats){ 0 };
	else {
		struct lock_stats *p = &out[MM_LOCK_PTL];

		p->acquisitions += lv->dead_ptl.acquisitions;
		p->contentions += lv->dead_ptl.contentions;
		p->wait_ns += lv->dead_ptl.wait_ns;
		p->hold_ns += lv->dead_ptl.hold_ns;
		p->timed += lv->dead_ptl.timed;
	}
	spin_unlock(&lv->mmlist_lock);
	if (lv->zswap)
		zswap_lock_stats(lv->zswap, out, reset);
}
