/*
 * memory.c - address spaces, their page tables, and faults.
 *
 * A space maps anonymous ranges (up to SPACE_MAX_VMAS) in a 512 GiB
 * virtual range through a three-level table of 4 KiB pages, as x86-64's
 * lower levels do.  A PTE is none, present (a frame) or a swap entry.  All
 * PTE reads and writes are under the space's ptl, which also guards the
 * tables and the mapping list; the tables come from the node, unmovable,
 * allocated before the ptl is taken and installed under it.
 *
 * access_page() is the only way to the memory: it faults and returns the
 * frame pinned (a reference), which is what keeps reclaim off it while the
 * caller reads and writes it - the role the TLB and the absence of a PTE
 * play for a CPU.
 *
 * A space is freed by its last mm_space_put(); unuse and the swap slots'
 * owner links reach it, so teardown first clears every PTE - and with
 * them, under si->lock, every slot's owner - and only then frees it.
 */
#include "mm/anon.h"

/* Faults (PGFAULT) taken by the calling thread: access_page_thread_faults(). */
static _Thread_local uint64_t thread_faults;

static uint64_t *table_entry(uint64_t *table, uint64_t vpn, unsigned int level)
{
	return &table[(vpn >> (9 * level)) & (PTRS_PER_TABLE - 1)];
}

uint64_t *space_pte_locked(struct mm_space *mm, uint64_t vpn,
			   struct page **alloc_table)
{
	uint64_t *table = mm->pgd;

	MM_ASSERT_HELD(&mm->ptl);
	for (unsigned int level = SPACE_LEVELS - 1; level > 0; level--) {
		uint64_t *e = table_entry(table, vpn, level);

		if (!*e) {
			if (!alloc_table || !*alloc_table)
				return NULL;
			*e = (uintptr_t)page_address(mm->lruvec->pgdat, *alloc_table);
			*alloc_table = NULL;
		}
		table = (uint64_t *)(uintptr_t)*e;
	}
	return table_entry(table, vpn, 0);
}

/*
 * The PTE for @vpn, tables allocated as needed: takes the ptl, and returns
 * with it held, or NULL without it when a table could not be had.
 */
static struct page *alloc_page_reclaim(struct lruvec *lv, unsigned int gfp);

static uint64_t *space_pte_alloc_lock(struct mm_space *mm, uint64_t vpn)
{
	struct pglist_data *pgdat = mm->lruvec->pgdat;
	struct page *table = NULL;
	uint64_t *pte;

	spin_lock(&mm->ptl);
	while (!(pte = space_pte_locked(mm, vpn, &table))) {
		spin_unlock(&mm->ptl);
		table = alloc_page_reclaim(mm->lruvec, GFP_ZERO);
		if (!table)
			return NULL;
		spin_lock(&mm->ptl);
	}
	if (table) { /* another thread installed it meanwhile */
		spin_unlock(&mm->ptl);
		free_pages(pgdat, table, 0);
		spin_lock(&mm->ptl);
		pte = space_pte_locked(mm, vpn, NULL);
	}
	return pte;
}

static bool vma_contains_locked(struct mm_space *mm, uint64_t vpn)
{
	for (unsigned int i = 0; i < mm->nr_vmas; i++)
		if (vpn >= mm->vmas[i].start && vpn < mm->vmas[i].end)
			return true;
	return false;
}

static uint64_t node_watermark(struct pglist_data *pgdat, enum zone_watermarks w)
{
	uint64_t sum = 0;

	for (unsigned int z = 0; z < pgdat->nr_zones; z++)
		sum += zone_wmark(&pgdat->node_zones[z], w);
	return sum;
}

/*
 * Whether the node's free memory is under its low watermark, counting the
 * free frames on per-CPU lists with the buddy lists' (the lists hold up to
 * an eighth of the node, several times the low watermark: left out, a fault
 * woke kswapd to reclaim with 12 MiB free on one CPU's lists).  An
 * allocation that finds the buddy lists short drains the per-CPU lists
 * before it fails, so what they hold is as good as free.  The lists are
 * summed only when the buddy lists alone are short: the sum reads every
 * CPU's list, which its CPU writes on each frame.
 */
static bool node_below_low(struct pglist_data *pgdat)
{
	uint64_t free = pgdat_free_pages(pgdat), low = node_watermark(pgdat, WMARK_LOW);

	return free < low && free + pgdat_pcp_pages(pgdat) < low;
}

/* Direct reclaim gives up after this many rounds that freed nothing. */
#define DIRECT_RECLAIM_TRIES 16
#define DIRECT_RECLAIM_BATCH 32

/*
 * A frame for anonymous memory or a page table: wakes kswapd below the low
 * watermark, reclaims directly when the allocator finds nothing (below
 * min).  Call it holding no lock.
 */
static struct page *alloc_page_reclaim(struct lruvec *lv, unsigned int gfp)
{
	struct pglist_data *pgdat = lv->pgdat;
	unsigned int fruitless = 0;

	for (;;) {
		struct page *page;

		if (node_below_low(pgdat))
			wakeup_kswapd(lv);
		/* The OOM notifier runs below, once reclaim gave up. */
		page = alloc_pages(pgdat, gfp | GFP_NORETRY, 0);
		if (page)
			return page;
		/* Below the min watermark: reclaim in this thread. */
		count_vm_event(lv, ALLOCSTALL);
		/*
		 * Give up at once when reclaim cannot help: no usable swap, or
		 * the device just failed a write (another try would fail
		 * another one; kswapd and later faults try again).  Then, as
		 * Linux's out_of_memory() runs its notifiers before it kills,
		 * a balloon may give frames back: try again if it did.
		 */
		if (shrink_node(lv, DIRECT_RECLAIM_BATCH) == 0 &&
		    (++fruitless >= DIRECT_RECLAIM_TRIES || !can_reclaim_anon(lv) ||
		     swap_write_failing(&lv->si))) {
			if (!out_of_memory(pgdat))
				return NULL;
			fruitless = 0;
		}
	}
}

struct page *anon_alloc_page(struct lruvec *lv)
{
	struct page *page = alloc_page_reclaim(lv, GFP_MOVABLE);
	struct page_ext *ext;

	if (!page)
		return NULL;
	ext = page_ext_of(lv->pgdat, page);
	ext->lru_next = ext->lru_prev = PFN_NONE;
	page_ext_set_mapping(ext, NULL);
	ext->index = 0;
	atomic_store_explicit(&ext->refcount, 1, memory_order_relaxed);
	page_flag_set(page, PG_anon);
	return page;
}

int map_swap_page(struct mm_space *mm, uint64_t vpn, uint32_t slot,
		  struct page *page, bool young, bool keep)
{
	struct lruvec *lv = mm->lruvec;
	struct page_ext *ext = page_ext_of(lv->pgdat, page);
	uint64_t *pte;
	bool clean;

	spin_lock(&mm->ptl);
	pte = space_pte_locked(mm, vpn, NULL);
	if (!pte || *pte != pte_mk_swap(slot)) {
		spin_unlock(&mm->ptl);
		return -GMM_EAGAIN;
	}
	get_page(lv->pgdat, page); /* the PTE's */
	/* A clean page keeps its slot: reclaiming it again writes nothing. */
	clean = swap_cache_map(lv, page, slot, keep);
	*pte = pte_mk_present(page_to_pfn(lv->pgdat, page)) |
	       (clean ? 0 : PTE_DIRTY) | (young ? PTE_YOUNG : 0);
	page_ext_set_mapping(ext, mm);
	ext->index = vpn;
	mm->rss++;
	spin_unlock(&mm->ptl);
	return 0;
}

/* A swap PTE's fault.  Return: 0 with the page pinned; -GMM_EAGAIN: retry. */
static int do_swap_page(struct mm_space *mm, uint64_t vpn, uint32_t slot,
			bool write, struct page **out)
{
	struct lruvec *lv = mm->lruvec;
	struct page *page;
	bool major;
	int err;

	err = swapin_page(lv, slot, &page, &major);
	if (err == -GMM_ENOENT)
		return -GMM_EAGAIN;
	if (err)
		return err;
	lock_page(page);
	if (!(page_flags_read(page) & PG_swapcache) ||
	    page_ext_of(lv->pgdat, page)->swap_slot != slot)
		err = -GMM_EAGAIN;
	else if ((err = map_swap_page(mm, vpn, slot, page, true, !write)) ==
		 -GMM_EAGAIN)
		swap_cache_drop_orphan(lv, page); /* zapped meanwhile */
	unlock_page(page);
	if (err) {
		put_page(lv->pgdat, page);
		return err;
	}
	count_vm_event(lv, PGFAULT);
	thread_faults++;
	if (major)
		count_vm_event(lv, PGMAJFAULT);
	*out = page; /* our swap-in reference is the pin */
	return 0;
}

uint64_t access_page_thread_faults(void)
{
	return thread_faults;
}

int access_page(struct mm_space *mm, uint64_t addr, bool write,
		struct page **out)
{
	struct lruvec *lv = mm->lruvec;
	struct pglist_data *pgdat = lv->pgdat;
	uint64_t vpn = addr >> PAGE_SHIFT;
	uint64_t *pte, v;
	struct page *page;
	int err;

	for (;;) {
		spin_lock(&mm->ptl);
		if (!vma_contains_locked(mm, vpn)) {
			spin_unlock(&mm->ptl);
			return -GMM_EFAULT;
		}
		spin_unlock(&mm->ptl);
		pte = space_pte_alloc_lock(mm, vpn);
		if (!pte)
			return -GMM_ENOMEM;
		v = *pte;
		if (v & PTE_PRESENT) {
			page = pfn_to_page(pgdat, pte_pfn(v));
			/* A clean page's slot no longer holds what it will. */
			if (write && !(v & PTE_DIRTY))
				swap_cache_dirty(lv, page);
			*pte = v | PTE_YOUNG | (write ? PTE_DIRTY : 0);
			get_page(pgdat, page);
			spin_unlock(&mm->ptl);
			*out = page;
			return 0;
		}
		spin_unlock(&mm->ptl);
		if (v & PTE_SWAP) {
			err = do_swap_page(mm, vpn, pte_pfn(v), write, out);
			if (err != -GMM_EAGAIN)
				return err;
			continue;
		}
		/* None: a new zeroed page. */
		page = anon_alloc_page(lv);
		if (!page)
			return -GMM_ENOMEM;
		for (uint64_t *w = page_address(pgdat, page), i = 0;
		     i < PAGE_SIZE / sizeof(*w); i++)
			w[i] = 0;
		pte = space_pte_alloc_lock(mm, vpn);
		if (!pte) {
			put_page(pgdat, page);
			return -GMM_ENOMEM;
		}
		if (*pte || !vma_contains_locked(mm, vpn)) {
			spin_unlock(&mm->ptl);
			put_page(pgdat, page); /* raced: look again */
			continue;
		}
		page_ext_set_mapping(page_ext_of(pgdat, page), mm);
		page_ext_of(pgdat, page)->index = vpn;
		get_page(pgdat, page); /* the PTE's; ours is the pin */
		*pte = pte_mk_present(page_to_pfn(pgdat, page)) | PTE_YOUNG |
		       PTE_DIRTY;
		mm->rss++;
		spin_unlock(&mm->ptl);
		lru_add(lv, page, false);
		count_vm_event(lv, PGFAULT);
		thread_faults++;
		*out = page;
		return 0;
	}
}

/*
 * Clear @vpn's PTE: free its swap slot, or unmap and release its page.  A
 * present page is unmapped under its page lock (page_ext.mapping changes
 * under it), taken after the ptl is dropped; meanwhile reclaim may have
 * turned the PTE into a swap entry, so the PTE is read again each round.
 */
static void zap_pte(struct mm_space *mm, uint64_t vpn)
{
	struct lruvec *lv = mm->lruvec;
	struct pglist_data *pgdat = lv->pgdat;
	uint64_t *pte, v;
	struct page *page;
	bool done = false;

	while (!done) {
		struct page *orphan = NULL;

		spin_lock(&mm->ptl);
		pte = space_pte_locked(mm, vpn, NULL);
		v = pte ? *pte : 0;
		if (v & PTE_SWAP) {
			spin_lock(&lv->si.lock);
			swap_free_locked(lv, pte_pfn(v));
			orphan = swap_cache_orphan_get_locked(lv, pte_pfn(v));
			spin_unlock(&lv->si.lock);
			*pte = 0;
		}
		if (!(v & PTE_PRESENT)) {
			spin_unlock(&mm->ptl);
			/*
			 * A swap cache page nobody maps now: drop it from the
			 * cache, or the slot stays taken until reclaim finds
			 * it (free_swap_and_cache()).  Waited for, as a present
			 * page's lock is below: not every holder rechecks the
			 * slot's count (migration does not, nor unuse when the
			 * owner is dying), so a page left locked stayed cached.
			 * Nothing is held here.
			 */
			if (orphan) {
				lock_page(orphan);
				swap_cache_drop_orphan(lv, orphan);
				unlock_page(orphan);
				put_page(pgdat, orphan);
			}
			return;
		}
		page = pfn_to_page(pgdat, pte_pfn(v));
		get_page(pgdat, page);
		spin_unlock(&mm->ptl);
		lock_page(page);
		spin_lock(&mm->ptl);
		if ((*pte & PTE_PRESENT) && pte_pfn(*pte) == pte_pfn(v)) {
			*pte = 0;
			page_ext_set_mapping(page_ext_of(pgdat, page), NULL);
			mm->rss--;
			/* The PTE's reference; ours keeps the count above 0. */
			atomic_fetch_sub(&page_ext_of(pgdat, page)->refcount, 1);
			done = true;
		}
		spin_unlock(&mm->ptl);
		/* A clean page kept its slot: unmapped, it is an orphan now. */
		if (done && (page_flags_read(page) & PG_swapcache))
			swap_cache_drop_orphan(lv, page);
		unlock_page(page);
		put_page(pgdat, page);
	}
}

static void zap_range(struct mm_space *mm, uint64_t start, uint64_t end)
{
	for (uint64_t vpn = start; vpn < end; vpn++) {
		/* Skip a missing table's whole span. */
		spin_lock(&mm->ptl);
		if (!space_pte_locked(mm, vpn, NULL)) {
			spin_unlock(&mm->ptl);
			vpn |= PTRS_PER_TABLE - 1;
			continue;
		}
		spin_unlock(&mm->ptl);
		zap_pte(mm, vpn);
	}
}

int mm_mmap(struct mm_space *mm, uint64_t addr, uint64_t len)
{
	uint64_t start = addr >> PAGE_SHIFT, end;
	int err = 0;

	if ((addr | len) & (PAGE_SIZE - 1) || len == 0 ||
	    start + (len >> PAGE_SHIFT) > SPACE_MAX_PAGES ||
	    start + (len >> PAGE_SHIFT) < start)
		return -GMM_EINVAL;
	end = start + (len >> PAGE_SHIFT);
	spin_lock(&mm->ptl);
	for (unsigned int i = 0; i < mm->nr_vmas; i++)
		if (start < mm->vmas[i].end && mm->vmas[i].start < end)
			err = -GMM_EEXIST;
	if (!err && mm->nr_vmas == SPACE_MAX_VMAS)
		err = -GMM_ENOMEM;
	if (!err)
		mm->vmas[mm->nr_vmas++] = (struct vm_area){ start, end };
	spin_unlock(&mm->ptl);
	return err;
}

int mm_munmap(struct mm_space *mm, uint64_t addr, uint64_t len)
{
	uint64_t start = addr >> PAGE_SHIFT, end = start + (len >> PAGE_SHIFT);
	unsigned int i;

	spin_lock(&mm->ptl);
	for (i = 0; i < mm->nr_vmas; i++)
		if (mm->vmas[i].start == start && mm->vmas[i].end == end &&
		    !((addr | len) & (PAGE_SIZE - 1)))
			break;
	if (i == mm->nr_vmas) {
		spin_unlock(&mm->ptl);
		return -GMM_EINVAL;
	}
	/* Gone first, so no fault repopulates what the zap clears. */
	mm->vmas[i] = mm->vmas[--mm->nr_vmas];
	spin_unlock(&mm->ptl);
	zap_range(mm, start, end);
	return 0;
}

int mm_space_create(struct pglist_data *pgdat, struct mm_space **out)
{
	struct lruvec *lv = pgdat->lruvec;
	struct page *page, *pgd;
	struct mm_space *mm;

	_Static_assert(sizeof(struct mm_space) <= PAGE_SIZE, "a space fits a page");
	if (!lv)
		return -GMM_EINVAL;
	page = alloc_pages(pgdat, GFP_ZERO, 0);
	if (!page)
		return -GMM_ENOMEM;
	pgd = alloc_pages(pgdat, GFP_ZERO, 0);
	if (!pgd) {
		free_pages(pgdat, page, 0);
		return -GMM_ENOMEM;
	}
	mm = page_address(pgdat, page);
	spin_lock_init(&mm->ptl);
	mm->lruvec = lv;
	atomic_init(&mm->users, 1);
	mm->pgd = page_address(pgdat, pgd);
	spin_lock(&lv->mmlist_lock);
	mm->mm_next = lv->spaces;
	mm->mm_prev = NULL;
	if (lv->spaces)
		lv->spaces->mm_prev = mm;
	lv->spaces = mm;
	spin_unlock(&lv->mmlist_lock);
	*out = mm;
	return 0;
}

bool mm_space_get_unless_zero(struct mm_space *mm)
{
	int v = atomic_load(&mm->users);

	while (v > 0)
		if (atomic_compare_exchange_weak(&mm->users, &v, v + 1))
			return true;
	return false;
}

static void free_tables(struct pglist_data *pgdat, uint64_t *table,
			unsigned int level)
{
	for (unsigned int i = 0; level > 0 && i < PTRS_PER_TABLE; i++) {
		if (!table[i])
			continue;
		free_tables(pgdat, (uint64_t *)(uintptr_t)table[i], level - 1);
		free_pages(pgdat, virt_to_page(pgdat, (void *)(uintptr_t)table[i]), 0);
	}
}

void mm_space_put(struct mm_space *mm)
{
	struct lruvec *lv = mm->lruvec;
	struct pglist_data *pgdat = lv->pgdat;

	if (atomic_fetch_sub(&mm->users, 1) != 1)
		return;
	/* No fault can come (no user); unuse finds no owner once zapped. */
	zap_range(mm, 0, SPACE_MAX_PAGES);
	spin_lock(&lv->mmlist_lock);
	if (mm->mm_prev)
		mm->mm_prev->mm_next = mm->mm_next;
	else
		lv->spaces = mm->mm_next;
	if (mm->mm_next)
		mm->mm_next->mm_prev = mm->mm_prev;
	spin_lock_stats_add(&mm->ptl, &lv->dead_ptl);
	spin_unlock(&lv->mmlist_lock);
	free_tables(pgdat, mm->pgd, SPACE_LEVELS - 1);
	free_pages(pgdat, virt_to_page(pgdat, mm->pgd), 0);
	free_pages(pgdat, virt_to_page(pgdat, mm), 0);
}

void mm_space_destroy(struct mm_space *mm)
{
	spin_lock(&mm->ptl);
	mm->nr_vmas = 0; /* no new faults */
	spin_unlock(&mm->ptl);
	mm_space_put(mm);
}
