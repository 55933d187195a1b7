/*
 * memory_hotplug.c - taking memory blocks offline and bringing them back.
 *
 * A memory block is 128 MiB, hot-remove's unit on x86-64 Linux.  Offlining
 * is a contiguous allocation of the block (page_isolation.c: isolate its
 * pageblocks, move or empty every page, take it whole) whose 4 MiB pieces
 * are then marked PG_reserved instead of PG_head, so that nothing - not
 * free_pages(), not free_contig_range() - can give them back but
 * online_memory_block().  The zone's managed_pages is left as it is (it is
 * read without a lock on every allocation): an offline block counts as
 * allocated.  Giving the block's memory to the host (a virtio-mem unplug)
 * is the device's business and not done here.
 *
 * Offline and online of the same block must not race each other: the
 * caller serialises them (as Linux's device hotplug lock does); of
 * different blocks, they may.
 */
#include "mm/compaction.h"

uint32_t nr_memory_blocks(struct pglist_data *pgdat)
{
	return (uint32_t)(pgdat->node_spanned_pages / MEMORY_BLOCK_PAGES);
}

static bool block_range(struct pglist_data *pgdat, uint32_t nr,
			uint32_t *start, uint32_t *end)
{
	if (nr >= nr_memory_blocks(pgdat))
		return false;
	*start = nr * MEMORY_BLOCK_PAGES;
	*end = *start + MEMORY_BLOCK_PAGES;
	return true;
}

bool memory_block_offline(struct pglist_data *pgdat, uint32_t nr)
{
	uint32_t start, end;
	struct page *page;

	if (!block_range(pgdat, nr, &start, &end) || start < pgdat->reserved_pages)
		return false;
	page = pfn_to_page(pgdat, start);
	return page_flags_read(page) == PG_reserved && page->order == MAX_ORDER - 1;
}

/* Turn each MAX_ORDER piece's head from @from to @to. */
static void block_mark(struct pglist_data *pgdat, uint32_t start, uint32_t end,
		       uint16_t from, uint16_t to)
{
	for (uint32_t pfn = start; pfn < end; pfn += MAX_ORDER_NR_PAGES) {
		struct page *page = pfn_to_page(pgdat, pfn);
		uint16_t f = from;

		if (!__atomic_compare_exchange_n(&page->flags, &f, to, false,
						 __ATOMIC_ACQ_REL, __ATOMIC_ACQUIRE))
			platform_bad_state("hotplug: pfn %#x has flags %#x, want %#x",
					   pfn, f, from);
	}
}

int offline_memory_block(struct pglist_data *pgdat, uint32_t nr,
			 struct compact_result *res)
{
	uint32_t start, end;
	int err;

	if (!block_range(pgdat, nr, &start, &end) || start < pgdat->reserved_pages)
		return -GMM_EINVAL;
	if (memory_block_offline(pgdat, nr))
		return -GMM_EEXIST;
	err = alloc_contig_range(pgdat, start, end, res);
	if (err)
		return err;
	block_mark(pgdat, start, end, PG_head, PG_reserved);
	return 0;
}

int online_memory_block(struct pglist_data *pgdat, uint32_t nr)
{
	uint32_t start, end;

	if (!memory_block_offline(pgdat, nr) ||
	    !block_range(pgdat, nr, &start, &end))
		return -GMM_EINVAL;
	block_mark(pgdat, start, end, PG_reserved, PG_head);
	return free_contig_range(pgdat, start, end);
}
