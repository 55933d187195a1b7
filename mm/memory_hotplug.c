/*
 * memory_hotplug.c - taking memory blocks offline and bringing them back.
 *
 * A memory block is 128 MiB, hot-remove's unit on x86-64 Linux.  Offlining
 * is a contiguous allocation of the block (page_isolation.c: isolate its
 * pageblocks, move or empty every page, take it whole) whose 4 MiB pieces
 * are then marked PG_reserved instead of PG_head, so that nothing - not
 * free_pages(), not free_contig_range() - can give them back but
 * online_memory_block().  An offline block leaves its zone's managed
 * pages, and the node's watermarks are set again from what is left (Linux
 * does both in offline_pages()); onlining puts them back.  Its memory goes
 * back to the host through the path free page reporting uses: the
 * registered device's report() is told of the block, 4 MiB a piece, and
 * the host discards it (page_reporting_discard_range()).  Onlined, the
 * frames are free again, and the host faults them back in when touched.
 *
 * Offline and online of the same block must not race each other: the
 * caller serialises them (as Linux's device hotplug lock does); of
 * different blocks, they may.
 */
#include "mm/compaction.h"
#include "mm/page_reporting.h"

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
	zone_managed_adjust(page_zone(pgdat, start), -(int64_t)MEMORY_BLOCK_PAGES);
	/* As a failed report: the block stays offline, only still resident. */
	err = page_reporting_discard_range(pgdat, start, end);
	if (err)
		platform_log("hotplug: block %u is offline but the device did not take it back: %d",
			     nr, err);
	return 0;
}

int online_memory_block(struct pglist_data *pgdat, uint32_t nr)
{
	uint32_t start, end;

	if (!memory_block_offline(pgdat, nr) ||
	    !block_range(pgdat, nr, &start, &end))
		return -GMM_EINVAL;
	zone_managed_adjust(page_zone(pgdat, start), (int64_t)MEMORY_BLOCK_PAGES);
	block_mark(pgdat, start, end, PG_reserved, PG_head);
	return free_contig_range(pgdat, start, end);
}
