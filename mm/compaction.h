/*
 * compaction.h - making free memory contiguous by moving pages: compaction
 * of a zone (compaction.c), allocation of a contiguous range with the
 * pageblocks isolated (page_isolation.c), and memory blocks taken offline
 * and brought back (memory_hotplug.c).  All of them move pages through
 * mm/migrate.h and need the node's anonymous memory set up (anon_init) to
 * have anything to move.
 */
#ifndef GUESTMM_MM_COMPACTION_H
#define GUESTMM_MM_COMPACTION_H

#include "mm/anon.h"
#include "mm/migrate.h"

/* What a compaction or a contiguous allocation did (added to). */
struct compact_result {
	uint64_t migrate_scanned; /* frames the migrate scanner looked at */
	uint64_t free_scanned;	  /* frames the free scanner looked at */
	uint64_t isolated;	  /* pages isolated for migration */
	struct migrate_result migrate;
	uint64_t rounds;	  /* contiguous allocation: passes over the range */
};

/*
 * compact_node - compact every zone of @pgdat: the migrate scanner walks up
 * from the zone's start isolating movable pages, the free scanner walks
 * down from its end isolating free frames, and pages move from the one to
 * the other, until the scanners meet - or, for @order >= 0, until a free
 * block of @order exists.  The command's entry point (`compact` in guestmm
 * run's sense, Linux's /proc/sys/vm/compact_memory with @order -1).
 * Return: 0 (@order < 0, or a block of @order is free); -GMM_EAGAIN (no
 * block of @order came free); -GMM_EINVAL (@order >= MAX_ORDER).
 */
int compact_node(struct pglist_data *pgdat, int order,
		 struct compact_result *res);

/*
 * alloc_contig_range - the frames [@start, @end) as one allocation, for a
 * CMA-style region: the range's pageblocks are marked MIGRATE_ISOLATE (no
 * allocation takes from them, frees into them stay there), every page in
 * it is moved out or, for the zbud policy `unuse`, emptied in place, and
 * once every frame is free the range is taken whole.  The pageblocks go
 * back to MIGRATE_MOVABLE, success or not.  @start and @end must be
 * multiples of MAX_ORDER_NR_PAGES (4 MiB), so no free block straddles the
 * range's edge, and within one zone.  Blocks out for free page reporting
 * are waited for; Reported blocks are taken as they are (the host faults
 * them back in).  Call it holding no lock.  @res may be NULL.
 * Return: 0; -GMM_EINVAL (unaligned, empty, outside a zone or across two,
 * or over the node's metadata; logged); -GMM_EBUSY (an unmovable page in
 * the range, a page that stayed pinned, or another isolation of the range
 * under way); -GMM_ENOMEM (no free frame outside to move a page to);
 * -GMM_ENOSYS (no anonymous memory set up, so nothing can move).
 */
int alloc_contig_range(struct pglist_data *pgdat, uint32_t start, uint32_t end,
		       struct compact_result *res);

/*
 * cma_declare_range - declare [@start, @end) a contiguous region, as a CMA
 * area is declared at boot: from now on unmovable allocations take no
 * memory there (movable and reclaimable ones may), so alloc_contig_range()
 * of it meets only pages it can move or empty.  Pages already there stay;
 * declare it before the memory is used.  Same alignment as
 * alloc_contig_range().  Return: 0; -GMM_EINVAL.
 */
int cma_declare_range(struct pglist_data *pgdat, uint32_t start, uint32_t end);

/*
 * free_contig_range - give back [@start, @end) from alloc_contig_range().
 * Return: 0; -GMM_EINVAL when the range is not one it handed out.
 */
int free_contig_range(struct pglist_data *pgdat, uint32_t start, uint32_t end);

/*
 * alloc_contig_pages - @nr_pages contiguous frames anywhere in the node (a
 * 1 GiB page at run time, say): ranges aligned to @nr_pages (a power of two,
 * at least MAX_ORDER_NR_PAGES) are tried from the top of the node down,
 * skipping those holding unmovable pages.  Return: 0 with *@start_pfn;
 * -GMM_EINVAL (size); -GMM_EBUSY (no range could be emptied).
 */
int alloc_contig_pages(struct pglist_data *pgdat, uint64_t nr_pages,
		       uint32_t *start_pfn, struct compact_result *res);

/* A memory block, the unit of hot-remove: 128 MiB, as x86-64 Linux's. */
#define MEMORY_BLOCK_PAGES (1u << (27 - PAGE_SHIFT))

/*
 * offline_memory_block - empty memory block @nr (frames nr * 128 MiB on)
 * and keep it out of the allocator until online_memory_block().  The
 * block's frames are PG_reserved while offline.
 * Return: 0; -GMM_EINVAL (past the node, or over its metadata); -GMM_EEXIST
 * (offline already); and alloc_contig_range()'s errors.
 */
int offline_memory_block(struct pglist_data *pgdat, uint32_t nr,
			 struct compact_result *res);
/* Return: 0; -GMM_EINVAL (not an offline block). */
int online_memory_block(struct pglist_data *pgdat, uint32_t nr);
/* Is block @nr offline? */
bool memory_block_offline(struct pglist_data *pgdat, uint32_t nr);
/* Blocks in the node (whole ones). */
uint32_t nr_memory_blocks(struct pglist_data *pgdat);

struct compact_stats {
	uint64_t events[NR_COMPACT_EVENTS];
};
extern const char *const compact_event_names[NR_COMPACT_EVENTS];
void compact_get_stats(struct pglist_data *pgdat, struct compact_stats *st);

#endif
