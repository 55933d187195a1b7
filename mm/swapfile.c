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
 * Allocation is next-fit from a cursor: slots a reclaim pass takes are
 * mostly consecutive, which keeps the file's writes near each other.
 */
#include "mm/zswap.h"

static struct swap_slot *swap_slot_at(struct swap_info *si, uint32_t slot)
{
	return mm_array_at(&si->slots, slot);
}

int swap_info_init(struct swap_info *si, struct pglist_data *pgdat,
		   struct swap_io *io)
{
	uint64_t nr = io->nr_slots;
	int err;

	if (nr == 0)
		return -GMM_EINVAL;
	if (nr > UINT32_MAX - 1)
		nr = UINT32_MAX - 1;
	_Static_assert(sizeof(struct swap_slot) == 32, "swap slots are 32 bytes");
	err = mm_array_init(&si->slots, pgdat, nr, sizeof(struct swap_slot));
	if (err)
		return err;
	spin_lock_init(&si->lock);
	si->io = io;
	si->nr_slots = nr;
	si->nr_free = nr;
	si->cursor = 0;
	si->write_errs_run = 0;
	si->write_disabled = false;
	for (uint64_t s = 0; s < nr; s++)
		swap_slot_at(si, (uint32_t)s)->cache_pfn = PFN_NONE;
	return 0;
}

void swap_info_fini(struct swap_info *si)
{
	if (si->nr_free + si->nr_bad != si->nr_slots)
		platform_bad_state("swap: %llu slots still in use at teardown",
				   (unsigned long long)(si->nr_slots - si->nr_free -
							si->nr_bad));
	mm_array_fini(&si->slots);
	si->io = NULL;
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
	if (!(s->count & SWAP_BAD))
		lv->si.nr_free++;
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

	spin_lock(&si->lock);
	if (si->nr_free == 0) {
		spin_unlock(&si->lock);
		return -GMM_ENOSPC;
	}
	for (uint64_t n = 0; n < si->nr_slots; n++) {
		uint32_t slot = (uint32_t)((si->cursor + n) % si->nr_slots);
		struct swap_slot *s = swap_slot_at(si, slot);

		if (s->count)
			continue;
		s->count = SWAP_HAS_CACHE;
		s->cache_pfn = page_to_pfn(lv->pgdat, page);
		si->nr_free--;
		atomic_fetch_add_explicit(&lv->pgdat->nr_swapcache, 1,
					  memory_order_relaxed);
		si->cursor = slot + 1;
		ext->swap_slot = slot;
		get_page(lv->pgdat, page);
		page_flag_set(page, PG_swapcache);
		spin_unlock(&si->lock);
		return 0;
	}
	spin_unlock(&si->lock);
	platform_bad_state("swap: nr_free %llu but no free slot",
			   (unsigned long long)si->nr_free);
	return -GMM_ENOSPC;
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
	if ((page_flags_read(page) & PG_swapcache) &&
	    !(swap_slot_at(&lv->si, ext->swap_slot)->count & SWAP_COUNT_MASK))
		delete_from_swap_cache_locked(lv, page);
	spin_unlock(&lv->si.lock);
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
		err = map_swap_page(owner, vpn, slot, page, false);
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
	if (owner && map_swap_page(owner, vpn, slot, page, false) == -GMM_EAGAIN)
		swap_cache_drop_orphan(lv, page); /* zapped meanwhile */
	return owner;
}
