/*
 * swapfile.c - the swap device and its swap cache.
 *
 * Slots are page-sized places in the backing store (platform/swap_io.h).
 * Each has a count - the PTEs holding its entry, at most one here as there
 * is no fork - and SWAP_HAS_CACHE, set while a page of memory stands for
 * the slot (the swap cache) or while someone is about to read or write the
 * slot's data without one (zswap writeback).  HAS_CACHE is the slot's lock:
 * at most one thread moves a slot's data at a time, and the others either
 * find its page in the cache and wait for the page lock (swap-in, unuse) or
 * back off (writeback).  A slot is free when its count is 0 with HAS_CACHE
 * clear; freeing it drops its zswap entry.
 *
 * Faults of the swap device (swap.h has the states).  A write that failed
 * is the device's failure, not the slot's: the page is mapped back and its
 * slot freed (Linux redirties it), the page goes to the active list, and
 * the reclaim pass and the allocation that ran it stop there, so an outage
 * costs about one failed write per fault, not a slot per page.  After
 * SWAP_WRITE_DISABLE_AFTER failed writes in a row the device is no longer
 * written (said once); what it holds is still read.  A slot whose read
 * failed twice in a row is bad and poisoned: its data is lost, and every
 * later swap-in of it fails at once, without I/O.
 *
 * The swap cache keeps a clean page's slot (SWAP_UPTODATE, swap.h): a
 * page read back by a read access is mapped clean and stays in the cache
 * with its slot, and reclaiming it again while clean only unmaps and frees
 * it - nothing is compressed, stored or written.  The first write drops
 * the slot's data (UPTODATE and the zswap entry go; the slot stays for
 * the next pageout); a write fault maps the page dirty and frees the slot
 * at once.  While more than half the slots are in use, pages leave the
 * cache when mapped and when reclaim keeps them (Linux's vm_swap_full()).
 * zswap: Linux 6.1's zswap (the kernel our user-mode peer runs) keeps an
 * entry when it is loaded, until its slot is freed, as here; Linux 6.5
 * made "exclusive loads" (drop the entry on load, mark the page dirty) an
 * option, and later kernels always do so into the swap cache, trading the
 * memory of a second copy against compressing the page again.  We keep
 * the compressed copy of a clean page: for a guest that gives its memory
 * back that copy costs pool memory, but its re-reclaim costs nothing, and
 * the first write frees it.  Its entry cannot be written back while the
 * page is in the cache (swapcache_prepare() finds HAS_CACHE), as in 6.1.
 *
 * Allocation is by clusters (swap.h), as Linux's cluster allocator: each
 * CPU takes slots in order from a cluster of its own, so a reclaim pass's
 * slots are consecutive in the file, and goes to the lists of nonfull and
 * free clusters once its cluster has no free slot left past its cursor.
 * Nonfull clusters are taken first, which fills the holes that swap-ins
 * and frees leave and keeps whole clusters free for long runs.  An
 * allocation looks at most at two clusters' slots; only when no cluster is
 * on a list (every free slot is in some CPU's cluster) does it search the
 * clusters for one with a free slot.  Everything is under si->lock, held
 * for those few hundred slots at most (Linux 6.1 too takes si->lock in its
 * cluster allocator; it has a per-CPU cache of slots in front).
 */
#include "mm/zswap.h"

static struct swap_slot *swap_slot_at(struct swap_info *si, uint32_t slot)
{
	return mm_array_at(&si->slots, slot);
}

/* ---- clusters (si->lock) ---- */

static struct swap_cluster_info *swap_cluster_at(struct swap_info *si,
						 uint32_t c)
{
	return mm_array_at(&si->clusters, c);
}

static uint32_t swap_cluster_size(const struct swap_info *si, uint32_t c)
{
	uint64_t left = si->nr_slots - (uint64_t)c * SWAP_CLUSTER_SLOTS;

	return left < SWAP_CLUSTER_SLOTS ? (uint32_t)left : SWAP_CLUSTER_SLOTS;
}

static struct swap_cluster_list_head *swap_cluster_list(struct swap_info *si,
							 uint8_t list)
{
	return list == CLUSTER_LIST_FREE ? &si->free_clusters
					 : &si->nonfull_clusters;
}

static void swap_cluster_list_add_locked(struct swap_info *si, uint32_t c,
					 uint8_t list)
{
	struct swap_cluster_list_head *h = swap_cluster_list(si, list);
	struct swap_cluster_info *ci = swap_cluster_at(si, c);

	MM_ASSERT_HELD(&si->lock);
	ci->list = list;
	ci->next = SWAP_CLUSTER_NONE;
	ci->prev = h->tail;
	if (h->tail == SWAP_CLUSTER_NONE)
		h->head = c;
	else
		swap_cluster_at(si, h->tail)->next = c;
	h->tail = c;
	h->nr++;
}

static void swap_cluster_list_del_locked(struct swap_info *si, uint32_t c)
{
	struct swap_cluster_info *ci = swap_cluster_at(si, c);
	struct swap_cluster_list_head *h = swap_cluster_list(si, ci->list);

	MM_ASSERT_HELD(&si->lock);
	if (ci->prev == SWAP_CLUSTER_NONE)
		h->head = ci->next;
	else
		swap_cluster_at(si, ci->prev)->next = ci->next;
	if (ci->next == SWAP_CLUSTER_NONE)
		h->tail = ci->prev;
	else
		swap_cluster_at(si, ci->next)->prev = ci->prev;
	ci->prev = ci->next = SWAP_CLUSTER_NONE;
	ci->list = CLUSTER_LIST_NONE;
	h->nr--;
}

/* Put @c, which no CPU holds, on the list its count says. */
static void swap_cluster_file_locked(struct swap_info *si, uint32_t c)
{
	struct swap_cluster_info *ci = swap_cluster_at(si, c);
	uint8_t want = ci->used == 0 ? CLUSTER_LIST_FREE
		       : ci->used < swap_cluster_size(si, c) ? CLUSTER_LIST_NONFULL
							      : CLUSTER_LIST_NONE;

	if (ci->cpu_owned || ci->list == want)
		return;
	if (ci->list != CLUSTER_LIST_NONE)
		swap_cluster_list_del_locked(si, c);
	if (want != CLUSTER_LIST_NONE)
		swap_cluster_list_add_locked(si, c, want);
}

/* A slot of cluster @c became used (@delta 1) or free (-1). */
static void swap_cluster_account_locked(struct swap_info *si, uint32_t slot,
					int delta)
{
	uint32_t c = slot / SWAP_CLUSTER_SLOTS;
	struct swap_cluster_info *ci = swap_cluster_at(si, c);

	ci->used = (uint16_t)(ci->used + delta);
	swap_cluster_file_locked(si, c);
}

/*
 * The fallback, when no cluster is on a list: every free slot is in some
 * CPU's cluster, behind its cursor.  The first free slot of the first
 * cluster that has one, taken without taking the cluster from its CPU.
 */
static uint32_t swap_slot_scan_locked(struct swap_info *si, uint64_t *scanned)
{
	for (uint32_t c = 0; c < si->nr_clusters; c++) {
		uint32_t size = swap_cluster_size(si, c);

		(*scanned)++;
		if (swap_cluster_at(si, c)->used >= size)
			continue;
		for (uint32_t i = 0; i < size; i++) {
			uint32_t slot = c * SWAP_CLUSTER_SLOTS + i;

			(*scanned)++;
			if (!swap_slot_at(si, slot)->count)
				return slot;
		}
	}
	return SWAP_CLUSTER_NONE;
}

/*
 * A free slot, taken (its count still 0: the caller sets it).  From this
 * CPU's cluster past its cursor; when that has none, the CPU lets it go
 * and takes another.  Return: the slot; SWAP_CLUSTER_NONE when none is
 * free.
 */
static uint32_t swap_slot_alloc_locked(struct swap_info *si)
{
	struct swap_cpu_cluster *pc =
		mm_array_at(&si->percpu, platform_cpu_id() % si->nr_cpus);
	uint64_t scanned = 0;

	MM_ASSERT_HELD(&si->lock);
	if (si->nr_free == 0)
		return SWAP_CLUSTER_NONE;
	for (;;) {
		uint32_t c = pc->cluster, size, base;
		struct swap_cluster_info *ci;

		if (c == SWAP_CLUSTER_NONE) {
			c = si->nonfull_clusters.head;
			if (c == SWAP_CLUSTER_NONE)
				c = si->free_clusters.head;
			if (c == SWAP_CLUSTER_NONE) {
				uint32_t slot = swap_slot_scan_locked(si, &scanned);

				if (slot == SWAP_CLUSTER_NONE)
					break;
				if (scanned > si->scan_max)
					si->scan_max = scanned;
				return slot;
			}
			swap_cluster_list_del_locked(si, c);
			swap_cluster_at(si, c)->cpu_owned = 1;
			pc->cluster = c;
			pc->next = 0;
		}
		ci = swap_cluster_at(si, c);
		size = swap_cluster_size(si, c);
		base = c * SWAP_CLUSTER_SLOTS;
		for (; pc->next < size && ci->used < size; pc->next++) {
			uint32_t slot = base + pc->next;

			scanned++;
			if (swap_slot_at(si, slot)->count)
				continue;
			pc->next++;
			if (scanned > si->scan_max)
				si->scan_max = scanned;
			return slot;
		}
		/* Nothing free past the cursor: let it go to its list. */
		ci->cpu_owned = 0;
		swap_cluster_file_locked(si, c);
		pc->cluster = SWAP_CLUSTER_NONE;
	}
	platform_bad_state("swap: nr_free %llu but no free slot",
			   (unsigned long long)si->nr_free);
	return SWAP_CLUSTER_NONE;
}

int swap_info_init(struct swap_info *si, struct pglist_data *pgdat,
		   struct swap_io *io)
{
	uint64_t nr = io->nr_slots;
	unsigned int nr_cpus = pgdat->nr_cpus ? pgdat->nr_cpus : 1;
	int err;

	if (nr == 0)
		return -GMM_EINVAL;
	if (nr > UINT32_MAX - SWAP_CLUSTER_SLOTS)
		nr = UINT32_MAX - SWAP_CLUSTER_SLOTS;
	_Static_assert(sizeof(struct swap_slot) == 32, "swap slots are 32 bytes");
	_Static_assert(sizeof(struct swap_cpu_cluster) == 8, "8-byte CPU clusters");
	err = mm_array_init(&si->slots, pgdat, nr, sizeof(struct swap_slot));
	if (err)
		return err;
	si->nr_clusters = (nr + SWAP_CLUSTER_SLOTS - 1) / SWAP_CLUSTER_SLOTS;
	err = mm_array_init(&si->clusters, pgdat, si->nr_clusters,
			    sizeof(struct swap_cluster_info));
	if (err)
		goto undo_slots;
	err = mm_array_init(&si->percpu, pgdat, nr_cpus,
			    sizeof(struct swap_cpu_cluster));
	if (err)
		goto undo_clusters;
	spin_lock_init(&si->lock);
	si->io = io;
	si->nr_slots = nr;
	si->nr_cpus = nr_cpus;
	si->nr_free = nr;
	si->nr_bad = 0;
	si->scan_max = 0;
	si->write_errs_run = 0;
	si->write_disabled = false;
	for (uint64_t s = 0; s < nr; s++)
		swap_slot_at(si, (uint32_t)s)->cache_pfn = PFN_NONE;
	for (unsigned int cpu = 0; cpu < nr_cpus; cpu++)
		*(struct swap_cpu_cluster *)mm_array_at(&si->percpu, cpu) =
			(struct swap_cpu_cluster){ .cluster = SWAP_CLUSTER_NONE };
	si->free_clusters = si->nonfull_clusters = (struct swap_cluster_list_head){
		.head = SWAP_CLUSTER_NONE, .tail = SWAP_CLUSTER_NONE
	};
	spin_lock(&si->lock); /* for the lists' assertions: nobody else sees it yet */
	for (uint32_t c = 0; c < si->nr_clusters; c++)
		swap_cluster_list_add_locked(si, c, CLUSTER_LIST_FREE);
	spin_unlock(&si->lock);
	return 0;

undo_clusters:
	mm_array_fini(&si->clusters);
undo_slots:
	mm_array_fini(&si->slots);
	return err;
}

void swap_info_fini(struct swap_info *si)
{
	if (si->nr_free + si->nr_bad != si->nr_slots)
		platform_bad_state("swap: %llu slots still in use at teardown",
				   (unsigned long long)(si->nr_slots - si->nr_free -
							si->nr_bad));
	mm_array_fini(&si->percpu);
	mm_array_fini(&si->clusters);
	mm_array_fini(&si->slots);
	si->io = NULL;
}

bool swap_info_check(struct swap_info *si)
{
	uint64_t nfree = 0, nbad = 0, on[3] = { 0 };
	bool ok = true;

#define SWAP_CHECK(cond, ...)                          \
	do {                                           \
		if (!(cond)) {                         \
			platform_bad_state(__VA_ARGS__); \
			ok = false;                    \
		}                                      \
	} while (0)
	spin_lock(&si->lock);
	for (uint32_t c = 0; c < si->nr_clusters; c++) {
		struct swap_cluster_info *ci = swap_cluster_at(si, c);
		uint32_t size = swap_cluster_size(si, c), used = 0;

		for (uint32_t i = 0; i < size; i++) {
			uint32_t count = swap_slot_at(si, c * SWAP_CLUSTER_SLOTS + i)->count;

			used += count != 0;
			nfree += count == 0;
			nbad += (count & SWAP_BAD) != 0;
		}
		SWAP_CHECK(used == ci->used, "swap: cluster %u counts %u used slots, has %u",
			   c, ci->used, used);
		if (ci->cpu_owned)
			SWAP_CHECK(ci->list == CLUSTER_LIST_NONE,
				   "swap: cluster %u is a CPU's and on list %u", c, ci->list);
		else
			SWAP_CHECK(ci->list == (used == 0      ? CLUSTER_LIST_FREE
						: used < size ? CLUSTER_LIST_NONFULL
							      : CLUSTER_LIST_NONE),
				   "swap: cluster %u with %u of %u slots used is on list %u",
				   c, used, size, ci->list);
		on[ci->list]++;
	}
	for (unsigned int cpu = 0; cpu < si->nr_cpus; cpu++) {
		struct swap_cpu_cluster *pc = mm_array_at(&si->percpu, cpu);

		if (pc->cluster != SWAP_CLUSTER_NONE)
			SWAP_CHECK(pc->cluster < si->nr_clusters &&
					   swap_cluster_at(si, pc->cluster)->cpu_owned,
				   "swap: CPU %u's cluster %u is not marked a CPU's", cpu,
				   pc->cluster);
	}
	for (uint8_t l = CLUSTER_LIST_FREE; l <= CLUSTER_LIST_NONFULL; l++) {
		struct swap_cluster_list_head *h = swap_cluster_list(si, l);
		uint32_t prev = SWAP_CLUSTER_NONE;
		uint64_t n = 0;

		for (uint32_t c = h->head; c != SWAP_CLUSTER_NONE && n <= si->nr_clusters;
		     c = swap_cluster_at(si, c)->next, n++) {
			SWAP_CHECK(swap_cluster_at(si, c)->list == l &&
					   swap_cluster_at(si, c)->prev == prev,
				   "swap: cluster %u: broken link on list %u", c, l);
			prev = c;
		}
		SWAP_CHECK(n == h->nr && n == on[l] && prev == h->tail,
			   "swap: list %u: %llu linked, %llu counted, %llu marked", l,
			   (unsigned long long)n, (unsigned long long)h->nr,
			   (unsigned long long)on[l]);
	}
	SWAP_CHECK(nfree == si->nr_free, "swap: %llu slots free, nr_free %llu",
		   (unsigned long long)nfree, (unsigned long long)si->nr_free);
	SWAP_CHECK(nbad == si->nr_bad, "swap: %llu slots bad, nr_bad %llu",
		   (unsigned long long)nbad, (unsigned long long)si->nr_bad);
	spin_unlock(&si->lock);
#undef SWAP_CHECK
	return ok;
}

/* Does @s have a holder: a PTE, or HAS_CACHE? */
static bool swap_slot_held(const struct swap_slot *s)
{
	return s->count & (SWAP_COUNT_MASK | SWAP_HAS_CACHE);
}

/*
 * @slot's last holder just went: it is free now, or, if bad, out of use
 * for good.  Either way its zswap entry goes.
 */
static void swap_slot_release_locked(struct lruvec *lv, uint32_t slot)
{
	struct swap_slot *s = swap_slot_at(&lv->si, slot);

	MM_ASSERT_HELD(&lv->si.lock);
	s->owner = NULL;
	if (!(s->count & SWAP_BAD)) {
		s->count = 0;
		lv->si.nr_free++;
		swap_cluster_account_locked(&lv->si, slot, -1);
	}
	if (lv->zswap)
		zswap_invalidate(lv->zswap, slot);
}

static void swap_slot_set_bad_locked(struct swap_info *si, struct swap_slot *s)
{
	MM_ASSERT_HELD(&si->lock);
	if (s->count & SWAP_BAD)
		return;
	s->count |= SWAP_BAD;
	si->nr_bad++;
}

void swap_write_done(struct lruvec *lv, int err)
{
	struct swap_info *si = &lv->si;
	uint64_t run;
	bool disable;

	if (!err) {
		spin_lock(&si->lock);
		si->write_errs_run = 0;
		spin_unlock(&si->lock);
		return;
	}
	count_vm_event(lv, SWAP_WRITE_ERR);
	spin_lock(&si->lock);
	run = ++si->write_errs_run;
	disable = !si->write_disabled && run >= SWAP_WRITE_DISABLE_AFTER;
	if (disable)
		si->write_disabled = true;
	spin_unlock(&si->lock);
	if (disable) {
		count_vm_event(lv, SWAP_WRITE_DISABLED);
		platform_log("swap: %llu writes to the swap file failed in a row (the "
			     "last: error %d): it is no longer written; anonymous "
			     "memory stays in RAM%s",
			     (unsigned long long)run, err,
			     lv->zswap ? " and zswap" : "");
	}
}

bool swap_writable(struct swap_info *si)
{
	bool ok;

	spin_lock(&si->lock);
	ok = !si->write_disabled;
	spin_unlock(&si->lock);
	return ok;
}

bool swap_write_failing(struct swap_info *si)
{
	bool failing;

	spin_lock(&si->lock);
	failing = si->write_errs_run != 0;
	spin_unlock(&si->lock);
	return failing;
}

bool can_reclaim_anon(struct lruvec *lv)
{
	struct swap_info *si = &lv->si;
	bool slot, writable;

	spin_lock(&si->lock);
	slot = si->nr_free != 0;
	writable = !si->write_disabled;
	spin_unlock(&si->lock);
	/* zswap's room read without si->lock: a hint either way. */
	return slot && (writable || (lv->zswap && zswap_has_room(lv->zswap)));
}

bool swap_slot_is_bad(struct swap_info *si, uint32_t slot)
{
	bool bad;

	spin_lock(&si->lock);
	bad = swap_slot_at(si, slot)->count & SWAP_BAD;
	spin_unlock(&si->lock);
	return bad;
}

int add_to_swap(struct lruvec *lv, struct page *page)
{
	struct swap_info *si = &lv->si;
	struct page_ext *ext = page_ext_of(lv->pgdat, page);

	struct swap_slot *s;
	uint32_t slot;

	spin_lock(&si->lock);
	slot = swap_slot_alloc_locked(si);
	if (slot == SWAP_CLUSTER_NONE) {
		spin_unlock(&si->lock);
		return -GMM_ENOSPC;
	}
	s = swap_slot_at(si, slot);
	s->count = SWAP_HAS_CACHE;
	s->cache_pfn = page_to_pfn(lv->pgdat, page);
	si->nr_free--;
	swap_cluster_account_locked(si, slot, 1);
	atomic_fetch_add_explicit(&lv->pgdat->nr_swapcache, 1, memory_order_relaxed);
	ext->swap_slot = slot;
	get_page(lv->pgdat, page);
	page_flag_set(page, PG_swapcache);
	spin_unlock(&si->lock);
	return 0;
}

void delete_from_swap_cache_locked(struct lruvec *lv, struct page *page)
{
	struct page_ext *ext = page_ext_of(lv->pgdat, page);
	struct swap_slot *s = swap_slot_at(&lv->si, ext->swap_slot);

	MM_ASSERT_HELD(&lv->si.lock);
	s->cache_pfn = PFN_NONE;
	atomic_fetch_sub_explicit(&lv->pgdat->nr_swapcache, 1,
				  memory_order_relaxed);
	s->count &= ~SWAP_HAS_CACHE;
	page_flag_clear(page, PG_swapcache);
	/* The caller's own reference keeps this from being the last. */
	atomic_fetch_sub_explicit(&ext->refcount, 1, memory_order_release);
	if (!swap_slot_held(s))
		swap_slot_release_locked(lv, ext->swap_slot);
}

void swap_cache_drop_orphan(struct lruvec *lv, struct page *page)
{
	struct page_ext *ext = page_ext_of(lv->pgdat, page);

	spin_lock(&lv->si.lock);
	/* A page mapped meanwhile (a clean one keeps its slot) is no orphan. */
	if ((page_flags_read(page) & PG_swapcache) && !ext->mapping &&
	    !(swap_slot_at(&lv->si, ext->swap_slot)->count & SWAP_COUNT_MASK))
		delete_from_swap_cache_locked(lv, page);
	spin_unlock(&lv->si.lock);
}

/* Linux's vm_swap_full(): more than half the slots in use. */
static bool swap_mostly_full_locked(struct swap_info *si)
{
	MM_ASSERT_HELD(&si->lock);
	return si->nr_free * 2 < si->nr_slots;
}

bool swap_cache_map(struct lruvec *lv, struct page *page, uint32_t slot,
			   bool keep)
{
	struct swap_slot *s = swap_slot_at(&lv->si, slot);
	bool kept;

	spin_lock(&lv->si.lock);
	swap_free_locked(lv, slot);
	kept = keep && (s->count & SWAP_UPTODATE) &&
	       !swap_mostly_full_locked(&lv->si);
	/* No fork: the slot has no other holder, so it goes with the cache. */
	if (!kept)
		delete_from_swap_cache_locked(lv, page);
	spin_unlock(&lv->si.lock);
	return kept;
}

void swap_slot_dirty_locked(struct lruvec *lv, uint32_t slot)
{
	struct swap_slot *s = swap_slot_at(&lv->si, slot);

	MM_ASSERT_HELD(&lv->si.lock);
	if (!(s->count & SWAP_UPTODATE))
		return;
	s->count &= ~SWAP_UPTODATE;
	/* Stale now: a load must never find it (the file's copy is never read). */
	if (lv->zswap)
		zswap_invalidate(lv->zswap, slot);
}

void swap_cache_dirty(struct lruvec *lv, struct page *page)
{
	spin_lock(&lv->si.lock);
	/* PG_swapcache and swap_slot change under si->lock (and the page lock). */
	if (page_flags_read(page) & PG_swapcache)
		swap_slot_dirty_locked(lv, page_ext_of(lv->pgdat, page)->swap_slot);
	spin_unlock(&lv->si.lock);
}

void swap_cache_trim(struct lruvec *lv, struct page *page)
{
	struct page_ext *ext = page_ext_of(lv->pgdat, page);

	spin_lock(&lv->si.lock);
	if ((page_flags_read(page) & PG_swapcache) && ext->mapping &&
	    swap_mostly_full_locked(&lv->si) &&
	    !(swap_slot_at(&lv->si, ext->swap_slot)->count & SWAP_COUNT_MASK))
		delete_from_swap_cache_locked(lv, page);
	spin_unlock(&lv->si.lock);
}

void swap_cache_mark_uptodate_locked(struct lruvec *lv, struct page *page)
{
	MM_ASSERT_HELD(&lv->si.lock);
	swap_slot_at(&lv->si, page_ext_of(lv->pgdat, page)->swap_slot)->count |=
		SWAP_UPTODATE;
}

bool swap_cache_uptodate_locked(struct lruvec *lv, struct page *page)
{
	MM_ASSERT_HELD(&lv->si.lock);
	return swap_slot_at(&lv->si, page_ext_of(lv->pgdat, page)->swap_slot)->count &
	       SWAP_UPTODATE;
}

struct page *swap_cache_orphan_get_locked(struct lruvec *lv, uint32_t slot)
{
	struct swap_slot *s = swap_slot_at(&lv->si, slot);
	struct page *page;

	MM_ASSERT_HELD(&lv->si.lock);
	if ((s->count & (SWAP_COUNT_MASK | SWAP_HAS_CACHE)) != SWAP_HAS_CACHE ||
	    s->cache_pfn == PFN_NONE)
		return NULL;
	page = pfn_to_page(lv->pgdat, s->cache_pfn);
	get_page(lv->pgdat, page); /* the cache's holds it above 0 */
	return page;
}

void swap_free_locked(struct lruvec *lv, uint32_t slot)
{
	struct swap_slot *s = swap_slot_at(&lv->si, slot);

	MM_ASSERT_HELD(&lv->si.lock);
	if (!(s->count & SWAP_COUNT_MASK)) {
		platform_bad_state("swap: slot %u freed with no holder", slot);
		return;
	}
	s->count--;
	s->owner = NULL;
	if (!swap_slot_held(s))
		swap_slot_release_locked(lv, slot);
}

int swapcache_prepare(struct swap_info *si, uint32_t slot)
{
	struct swap_slot *s;
	int err = 0;

	if (slot >= si->nr_slots)
		return -GMM_EINVAL;
	spin_lock(&si->lock);
	s = swap_slot_at(si, slot);
	if (!swap_slot_held(s))
		err = -GMM_ENOENT;
	else if (s->count & SWAP_HAS_CACHE)
		err = -GMM_EEXIST;
	else if (s->count & SWAP_BAD)
		err = -GMM_EIO;
	else
		s->count |= SWAP_HAS_CACHE;
	spin_unlock(&si->lock);
	return err;
}

void swapcache_release(struct lruvec *lv, uint32_t slot)
{
	struct swap_slot *s;

	spin_lock(&lv->si.lock);
	s = swap_slot_at(&lv->si, slot);
	s->count &= ~SWAP_HAS_CACHE;
	if (!swap_slot_held(s))
		swap_slot_release_locked(lv, slot);
	spin_unlock(&lv->si.lock);
}

/*
 * Read @slot's data into @page: zswap first, else the swap file, whose
 * read is tried twice.
 */
static int swap_readpage(struct lruvec *lv, uint32_t slot, struct page *page)
{
	void *buf = page_address(lv->pgdat, page);
	int err = lv->zswap ? zswap_load(lv->zswap, slot, buf) : -GMM_ENOENT;

	if (err != -GMM_ENOENT)
		return err;
	err = lv->si.io->ops->read(lv->si.io, slot, buf);
	if (err) {
		/*
		 * Once more before the data is called lost: a transient error
		 * (a path failover, a stalled request) reads fine the second
		 * time.  A device that failed twice in a row is not waited on.
		 */
		count_vm_event(lv, SWAP_READ_RETRIED);
		err = lv->si.io->ops->read(lv->si.io, slot, buf);
	}
	if (!err)
		count_vm_event(lv, PSWPIN);
	return err;
}

int swapin_page(struct lruvec *lv, uint32_t slot, struct page **out,
		bool *major)
{
	struct swap_info *si = &lv->si;
	struct page *new = NULL;
	struct swap_slot *s;
	int err;

	if (slot >= si->nr_slots)
		return -GMM_EINVAL;
	for (unsigned int spins = 0;; spins++) {
		spin_lock(&si->lock);
		s = swap_slot_at(si, slot);
		if (s->cache_pfn != PFN_NONE) {
			*out = pfn_to_page(lv->pgdat, s->cache_pfn);
			get_page(lv->pgdat, *out);
			spin_unlock(&si->lock);
			*major = false;
			if (new)
				put_page(lv->pgdat, new);
			return 0;
		}
		if (!swap_slot_held(s) || (s->count & SWAP_POISONED)) {
			err = swap_slot_held(s) ? -GMM_EHWPOISON : -GMM_ENOENT;
			spin_unlock(&si->lock);
			if (new)
				put_page(lv->pgdat, new);
			return err;
		}
		if (s->count & SWAP_HAS_CACHE) {
			/* Being written back: wait for it to finish. */
			spin_unlock(&si->lock);
			platform_cpu_relax(spins);
			continue;
		}
		if (new)
			break;
		/* Allocated without the lock, then everything is rechecked. */
		spin_unlock(&si->lock);
		new = anon_alloc_page(lv);
		if (!new)
			return -GMM_ENOMEM;
	}
	/* Ours to read: in the cache, locked, before anyone can find it. */
	trylock_page(new);
	s->count |= SWAP_HAS_CACHE;
	s->cache_pfn = page_to_pfn(lv->pgdat, new);
	atomic_fetch_add_explicit(&lv->pgdat->nr_swapcache, 1,
				  memory_order_relaxed);
	page_ext_of(lv->pgdat, new)->swap_slot = slot;
	page_flag_set(new, PG_swapcache);
	get_page(lv->pgdat, new); /* the cache's */
	spin_unlock(&si->lock);

	err = swap_readpage(lv, slot, new);
	if (err) {
		/*
		 * The data is lost.  Poisoned before the cache lets go of the
		 * slot: whoever found our page in the cache meanwhile fails
		 * to map it (PG_swapcache is gone when it gets the page lock),
		 * looks again and finds the poison, not a slot to read.
		 */
		count_vm_event(lv, SWAP_UNREADABLE);
		spin_lock(&si->lock);
		swap_slot_set_bad_locked(si, s);
		s->count |= SWAP_POISONED;
		delete_from_swap_cache_locked(lv, new);
		spin_unlock(&si->lock);
		unlock_page(new);
		put_page(lv->pgdat, new);
		return -GMM_EHWPOISON;
	}
	/* The slot's data is the page's until it is written to. */
	spin_lock(&si->lock);
	s->count |= SWAP_UPTODATE;
	spin_unlock(&si->lock);
	lru_add(lv, new, false);
	unlock_page(new);
	*out = new;
	*major = true;
	return 0;
}

int try_to_unuse_swp_entry(struct lruvec *lv, uint32_t slot)
{
	struct swap_info *si = &lv->si;
	struct page_ext *ext;
	struct mm_space *owner = NULL;
	uint64_t vpn = 0;
	struct page *page;
	bool major;
	int err;

	if (slot >= si->nr_slots) {
		platform_log("unuse: swap slot %u out of range (%llu slots)", slot,
			     (unsigned long long)si->nr_slots);
		return -GMM_EINVAL;
	}
	err = swapin_page(lv, slot, &page, &major);
	if (err == -GMM_ENOENT)
		return 0; /* freed independently */
	if (err)
		return err;
	lock_page(page);
	ext = page_ext_of(lv->pgdat, page);
	if (!(page_flags_read(page) & PG_swapcache) || ext->swap_slot != slot)
		goto out; /* a fault mapped it meanwhile */
	spin_lock(&si->lock);
	if (swap_slot_at(si, slot)->owner) {
		owner = swap_slot_at(si, slot)->owner;
		vpn = swap_slot_at(si, slot)->owner_index;
		/* Under si->lock: the space clears its slots before it goes. */
		if (!mm_space_get_unless_zero(owner))
			owner = NULL;
	}
	if (!owner && !(swap_slot_at(si, slot)->count & SWAP_COUNT_MASK))
		delete_from_swap_cache_locked(lv, page); /* nobody maps it */
	spin_unlock(&si->lock);
	if (owner) {
		err = map_swap_page(owner, vpn, slot, page, false, false);
		if (err == -GMM_EAGAIN) {
			/* The PTE changed: not ours to map any more. */
			swap_cache_drop_orphan(lv, page);
			err = 0;
		}
	}
	if (!err)
		count_vm_event(lv, SWAP_UNUSE);
out:
	unlock_page(page);
	put_page(lv->pgdat, page);
	/* Not under the page lock: the last put tears the space down. */
	if (owner)
		mm_space_put(owner);
	return err;
}

struct mm_space *swap_writepage_failed(struct lruvec *lv, struct page *page)
{
	struct swap_info *si = &lv->si;
	uint32_t slot = page_ext_of(lv->pgdat, page)->swap_slot;
	struct mm_space *owner = NULL;
	struct swap_slot *s;
	uint64_t vpn = 0;

	spin_lock(&si->lock);
	s = swap_slot_at(si, slot);
	/* Under si->lock: the space clears its slots before it goes. */
	if (s->owner && mm_space_get_unless_zero(s->owner)) {
		owner = s->owner;
		vpn = s->owner_index;
	}
	if (!owner && !(s->count & SWAP_COUNT_MASK))
		delete_from_swap_cache_locked(lv, page); /* nobody maps it */
	spin_unlock(&si->lock);
	/* Mapped again, the slot's last holder goes: it is free again. */
	if (owner && map_swap_page(owner, vpn, slot, page, false, false) == -GMM_EAGAIN)
		swap_cache_drop_orphan(lv, page); /* zapped meanwhile */
	return owner;
}
