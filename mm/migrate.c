/*
 * migrate.c - moving an allocated page to another frame.
 *
 * Two kinds of page move.  An anonymous page on the LRU is isolated off its
 * list with a reference, as reclaim isolates it, then moved under its page
 * lock: the PTE that maps it (there is at most one: no fork) is found
 * through the reverse map, page_ext.mapping/index, and with the space's ptl
 * held - and si->lock too when the page is in the swap cache - the page's
 * reference count is frozen: swapped from the value its known holders
 * account for (the PTE, the swap cache, our isolation) to 0.  That fails
 * while anyone else holds a reference (a pin from access_page(), a fault or
 * unuse that found it in the swap cache), and once it succeeds nobody can
 * take a new one: the PTE and the cache, the only ways to the page, are
 * under the locks we hold.  The contents are copied, the PTE and the cache
 * slot rewritten to the new frame, the count moved over.  Linux unmaps to a
 * migration entry and copies with no lock held; holding the ptl over a 4
 * KiB copy is simpler and, with one mapping per page, as short.
 *
 * A movable page that is not on the LRU (PG_movable) belongs to an owner
 * that registered movable operations (migrate.h); the owner isolates,
 * moves or empties, and puts back.  zbud pools are the one owner so far.
 *
 * Old frames go straight back to their zone's free lists, not to a per-CPU
 * list, so that compaction's merges happen at once and a contiguous range
 * being emptied sees its frames come back to the isolated lists.
 */
#include "mm/migrate.h"

/* Free an order-0 frame we own (PG_head alone) into its zone's lists. */
static void free_frame_to_zone(struct pglist_data *pgdat, struct page *page)
{
	uint32_t pfn = page_to_pfn(pgdat, page);
	struct zone *zone = page_zone(pgdat, pfn);
	uint16_t flags = PG_head;

	if (page->order != 0 ||
	    !__atomic_compare_exchange_n(&page->flags, &flags, 0, false,
					 __ATOMIC_ACQ_REL, __ATOMIC_ACQUIRE)) {
		platform_bad_state("migrate: freeing pfn %#x in state flags %#x order %u",
				   pfn, flags, page->order);
		return;
	}
	page_poison_free(pgdat, pfn, 0);
	spin_lock(&zone->lock);
	zone_free_block_locked(zone, pfn, 0, false, true);
	spin_unlock(&zone->lock);
}

static struct movable_owner *page_movable_owner(struct pglist_data *pgdat,
						struct page *page)
{
	return __atomic_load_n(&page_ext_of(pgdat, page)->mapping,
			       __ATOMIC_RELAXED);
}

bool isolate_movable_page(struct pglist_data *pgdat, struct page *page,
			  struct migrate_item *item)
{
	uint16_t flags = page_flags_read(page);
	struct movable_owner *owner;

	if (!pgdat->lruvec || !(flags & PG_head))
		return false;
	if (flags & PG_lru) {
		if (!isolate_lru_page(pgdat->lruvec, page, &item->active))
			return false;
		item->page = page;
		return true;
	}
	if (!(flags & PG_movable))
		return false;
	/* Acquire: pairs with page_set_movable(), mapping is the owner's. */
	owner = page_movable_owner(pgdat, page);
	if (!owner ||
	    __atomic_load_n(&owner->magic, __ATOMIC_ACQUIRE) != MOVABLE_OWNER_MAGIC ||
	    !owner->ops || !owner->ops->isolate_page(owner, page))
		return false;
	item->page = page;
	item->active = false;
	return true;
}

void putback_movable_page(struct pglist_data *pgdat, struct migrate_item *item)
{
	struct page *page = item->page;

	if (page_flags_read(page) & PG_movable) {
		struct movable_owner *owner = page_movable_owner(pgdat, page);

		owner->ops->putback_page(owner, page);
		return;
	}
	putback_lru_page(pgdat->lruvec, page, item->active);
}

/*
 * Move the isolated anonymous page @src (we hold a reference) to @dst.
 * Lock order: page lock -> ptl -> si->lock, as everywhere.
 * Return: 0; -GMM_EAGAIN when it is pinned, being freed, or its mapping
 * changed under us (nothing changed then).
 */
static int migrate_anon_page(struct lruvec *lv, struct page *src,
			     struct page *dst)
{
	struct pglist_data *pgdat = lv->pgdat;
	struct page_ext *sext = page_ext_of(pgdat, src);
	struct page_ext *dext = page_ext_of(pgdat, dst);
	uint32_t spfn = page_to_pfn(pgdat, src), dpfn = page_to_pfn(pgdat, dst);
	struct swap_slot *slot = NULL;
	struct mm_space *mm;
	uint64_t *pte = NULL;
	bool swapcache;
	int expected, err = -GMM_EAGAIN;

	lock_page(src);
	if (!trylock_page(dst)) /* nobody else knows the frame */
		platform_bad_state("migrate: target pfn %#x is locked", dpfn);
	mm = sext->mapping; /* stable under the page lock */
	swapcache = page_flags_read(src) & PG_swapcache;
	/* Neither mapped nor cached: only we hold it, and put it back to free it. */
	if (!mm && !swapcache)
		goto unlock_pages;
	expected = 1 + (mm != NULL) + swapcache;
	if (mm) {
		spin_lock(&mm->ptl);
		pte = space_pte_locked(mm, sext->index, NULL);
		if (!pte || !(*pte & PTE_PRESENT) || pte_pfn(*pte) != spfn) {
			platform_bad_state("migrate: pfn %#x: its PTE does not map it",
					   spfn);
			goto unlock_ptl;
		}
	}
	if (swapcache) {
		spin_lock(&lv->si.lock);
		slot = mm_array_at(&lv->si.slots, sext->swap_slot);
		if (slot->cache_pfn != spfn) {
			platform_bad_state("migrate: pfn %#x: swap slot %u caches %#x",
					   spfn, sext->swap_slot, slot->cache_pfn);
			goto unlock_si;
		}
	}
	/* Freeze: fails while a pin is held; no new one can come now. */
	{
		int v = expected;

		if (!atomic_compare_exchange_strong_explicit(
			    &sext->refcount, &v, 0, memory_order_acquire,
			    memory_order_relaxed))
			goto unlock_si;
	}
	{
		const uint64_t *from = page_address(pgdat, src);
		uint64_t *to = page_address(pgdat, dst);

		for (size_t i = 0; i < PAGE_SIZE / sizeof(*to); i++)
			to[i] = from[i];
	}
	dext->lru_next = dext->lru_prev = PFN_NONE;
	page_ext_set_mapping(dext, mm);
	dext->index = sext->index;
	dext->swap_slot = sext->swap_slot;
	atomic_store_explicit(&dext->refcount, expected, memory_order_relaxed);
	page_flag_set(dst, PG_anon | (swapcache ? PG_swapcache : 0));
	if (mm)
		*pte = pte_mk_present(dpfn) | (*pte & (PTE_YOUNG | PTE_DIRTY));
	if (swapcache)
		slot->cache_pfn = dpfn;
	page_ext_set_mapping(sext, NULL);
	page_flag_clear(src, PG_anon | PG_swapcache);
	err = 0;
unlock_si:
	if (swapcache)
		spin_unlock(&lv->si.lock);
unlock_ptl:
	if (mm)
		spin_unlock(&mm->ptl);
unlock_pages:
	unlock_page(dst);
	unlock_page(src);
	return err;
}

int migrate_pages(struct pglist_data *pgdat, struct migrate_item *items,
		  unsigned int n, struct migrate_target *t,
		  struct migrate_result *res)
{
	int ret = 0;

	for (unsigned int i = 0; i < n; i++) {
		struct page *src = items[i].page, *dst;
		bool movable = page_flags_read(src) & PG_movable;
		struct movable_owner *owner = NULL;
		int rc;

		if (movable) {
			owner = page_movable_owner(pgdat, src);
			if (!owner->ops->migrate_page) {
				rc = owner->ops->release_page(owner, src);
				putback_movable_page(pgdat, &items[i]);
				if (rc) {
					res->failed++;
					count_compact_event(pgdat, PGMIGRATE_FAIL, 1);
				} else {
					res->released++;
					count_compact_event(pgdat, PGMIGRATE_RELEASED, 1);
				}
				continue;
			}
		}
		dst = ret ? NULL : t->get(t);
		if (!dst) {
			ret = -GMM_ENOMEM;
			res->no_target++;
			putback_movable_page(pgdat, &items[i]);
			continue;
		}
		if (movable)
			rc = owner->ops->migrate_page(owner, dst, src);
		else
			rc = migrate_anon_page(pgdat->lruvec, src, dst);
		if (rc == 0) {
			/* The new frame takes the old one's place, isolated. */
			items[i].page = dst;
			putback_movable_page(pgdat, &items[i]);
			free_frame_to_zone(pgdat, src);
			res->moved++;
			count_compact_event(pgdat, PGMIGRATE_SUCCESS, 1);
			continue;
		}
		t->put(t, dst);
		putback_movable_page(pgdat, &items[i]);
		res->failed++;
		count_compact_event(pgdat, PGMIGRATE_FAIL, 1);
	}
	return ret;
}
