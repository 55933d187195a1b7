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
	for (uint64_t s = 0; s < nr; s++)
		swap_slot_at(si, (uint32_t)s)->cache_pfn = PFN_NONE;
	return 0;
}

void swap_info_fini(struct swap_info *si)
{
	if (si->nr_free != si->nr_slots)
		platform_bad_state("swap: %llu slots still in use at teardown",
				   (unsigned long long)(si->nr_slots - si->nr_free));
	mm_array_fini(&si->slots);
	si->io = NULL;
}

/* @slot has no holder left: it is free now. */
static void swap_slot_free_locked(struct lruvec *lv, uint32_t slot)
{
	struct swap_slot *s = swap_slot_at(&lv->si, slot);

	MM_ASSERT_HELD(&lv->si.lock);
	s->owner = NULL;
	lv->si.nr_free++;
	if (lv->zswap)
		zswap_invalidate(lv->zswap, slot);
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
	s->count &= ~SWAP_HAS_CACHE;
	page_flag_clear(page, PG_swapcache);
	/* The caller's own reference keeps this from being the last. */
	atomic_fetch_sub_explicit(&ext->refcount, 1, memory_order_release);
	if (s->count == 0)
		swap_slot_free_locked(lv, ext->swap_slot);
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
	if (s->count == 0)
		swap_slot_free_locked(lv, slot);
}

int swapcache_prepare(struct swap_info *si, uint32_t slot)
{
	struct swap_slot *s;
	int err = 0;

	if (slot >= si->nr_slots)
		return -GMM_EINVAL;
	spin_lock(&si->lock);
	s = swap_slot_at(si, slot);
	if (s->count == 0)
		err = -GMM_ENOENT;
	else if (s->count & SWAP_HAS_CACHE)
		err = -GMM_EEXIST;
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
	if (s->count == 0)
		swap_slot_free_locked(lv, slot);
	spin_unlock(&lv->si.lock);
}

/* Read @slot's data into @page: zswap first, else the swap file. */
static int swap_readpage(struct lruvec *lv, uint32_t slot, struct page *page)
{
	void *buf = page_address(lv->pgdat, page);
	int err = lv->zswap ? zswap_load(lv->zswap, slot, buf) : -GMM_ENOENT;

	if (err != -GMM_ENOENT)
		return err;
	err = lv->si.io->ops->read(lv->si.io, slot, buf);
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
		if (s->count == 0) {
			spin_unlock(&si->lock);
			if (new)
				put_page(lv->pgdat, new);
			return -GMM_ENOENT;
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
	page_ext_of(lv->pgdat, new)->swap_slot = slot;
	page_flag_set(new, PG_swapcache);
	get_page(lv->pgdat, new); /* the cache's */
	spin_unlock(&si->lock);

	err = swap_readpage(lv, slot, new);
	if (err) {
		count_vm_event(lv, SWAP_READ_ERR);
		spin_lock(&si->lock);
		delete_from_swap_cache_locked(lv, new);
		spin_unlock(&si->lock);
		unlock_page(new);
		put_page(lv->pgdat, new);
		return -GMM_EIO;
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
		if (err == -GMM_EAGAIN)
			err = 0; /* the PTE changed: not ours to map any more */
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
