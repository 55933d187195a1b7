/*
 * rmap.c - from a frame back to the PTE that maps it.
 *
 * Anonymous memory here is never shared (no fork), so the reverse map is
 * the frame's page_ext: (mapping, index) = (space, virtual page number).
 * It changes only under the page lock (and the space's ptl), so a page
 * lock holder may follow it; and a space is freed only after its teardown
 * has taken every mapped page's lock to clear it, so the space behind a
 * locked page's mapping is alive.  Compaction's migration will remap
 * through the same two fields: lock the page, take the ptl, check the PTE
 * still holds the old frame, write the new one.
 */
#include "mm/anon.h"

/* The PTE that maps @page, with the ptl held, or NULL (nothing held). */
static uint64_t *page_pte_lock(struct pglist_data *pgdat, struct page *page,
			       struct mm_space **mmp)
{
	struct page_ext *ext = page_ext_of(pgdat, page);
	struct mm_space *mm = ext->mapping;
	uint64_t *pte;

	if (!mm)
		return NULL;
	spin_lock(&mm->ptl);
	pte = space_pte_locked(mm, ext->index, NULL);
	if (!pte || !(*pte & PTE_PRESENT) ||
	    pte_pfn(*pte) != page_to_pfn(pgdat, page)) {
		spin_unlock(&mm->ptl);
		return NULL;
	}
	*mmp = mm;
	return pte;
}

/*
 * page_referenced - test and clear the accessed bit of the PTE mapping the
 * locked page @page.  Return: true when it was set.
 */
bool page_referenced(struct lruvec *lv, struct page *page)
{
	struct mm_space *mm;
	uint64_t *pte = page_pte_lock(lv->pgdat, page, &mm);
	bool young;

	if (!pte)
		return false;
	young = *pte & PTE_YOUNG;
	*pte &= ~PTE_YOUNG;
	spin_unlock(&mm->ptl);
	return young;
}

/*
 * try_to_unmap - replace the PTE mapping the locked swap cache page @page
 * with its swap entry; the slot records the PTE (for unuse) and holds one
 * count for it, the page loses the PTE's reference.
 */
void try_to_unmap(struct lruvec *lv, struct page *page)
{
	struct pglist_data *pgdat = lv->pgdat;
	struct page_ext *ext = page_ext_of(pgdat, page);
	struct mm_space *mm;
	uint64_t *pte = page_pte_lock(pgdat, page, &mm);

	if (!pte)
		return;
	spin_lock(&lv->si.lock);
	{
		struct swap_slot *s = mm_array_at(&lv->si.slots, ext->swap_slot);

		s->count++;
		s->owner = mm;
		s->owner_index = ext->index;
		if (*pte & PTE_DIRTY) /* written since its slot was: write again */
			swap_slot_dirty_locked(lv, ext->swap_slot);
	}
	spin_unlock(&lv->si.lock);
	*pte = pte_mk_swap(ext->swap_slot);
	page_ext_set_mapping(ext, NULL);
	mm->rss--;
	atomic_fetch_sub(&ext->refcount, 1); /* the caller holds one more */
	spin_unlock(&mm->ptl);
}
