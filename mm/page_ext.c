/*
 * page_ext.c - per-frame data beyond struct page (see mm/swap.h for why it
 * lives apart), and mm_array, the chunked arrays it and the swap device,
 * zswap and zbud keep their tables in.  Both are allocated from the node's
 * own buddy allocator, unmovable, and never move.
 */
#include "mm/swap.h"

#define MM_ARRAY_CHUNK_ORDER (MAX_ORDER - 1)

static unsigned int ilog2_ceil(uint64_t x)
{
	unsigned int r = 0;

	while ((1ull << r) < x)
		r++;
	return r;
}

static unsigned int bytes_order(uint64_t bytes)
{
	return bytes <= PAGE_SIZE ? 0 : ilog2_ceil((bytes + PAGE_SIZE - 1) >> PAGE_SHIFT);
}

int mm_array_init(struct mm_array *a, struct pglist_data *pgdat, uint64_t nr,
		  size_t elem_size)
{
	unsigned int elem_shift = ilog2_ceil(elem_size);
	struct page *dir;

	if (elem_size == 0 || (1ull << elem_shift) != elem_size || nr == 0)
		return -GMM_EINVAL;
	*a = (struct mm_array){ .pgdat = pgdat, .nr = nr, .elem_shift = elem_shift };
	a->chunk_shift = MM_ARRAY_CHUNK_ORDER + PAGE_SHIFT - elem_shift;
	a->nr_chunks = (unsigned int)((nr + (1ull << a->chunk_shift) - 1) >> a->chunk_shift);
	a->dir_order = bytes_order((uint64_t)a->nr_chunks * sizeof(void *));
	if (a->dir_order >= MAX_ORDER)
		return -GMM_ENOMEM;
	dir = alloc_pages(pgdat, GFP_ZERO, a->dir_order);
	if (!dir)
		return -GMM_ENOMEM;
	a->dir = page_address(pgdat, dir);
	for (unsigned int c = 0; c < a->nr_chunks; c++) {
		uint64_t elems = nr - ((uint64_t)c << a->chunk_shift);
		struct page *chunk;

		if (elems > (1ull << a->chunk_shift))
			elems = 1ull << a->chunk_shift;
		chunk = alloc_pages(pgdat, GFP_ZERO, bytes_order(elems << elem_shift));
		if (!chunk) {
			a->nr_chunks = c;
			mm_array_fini(a);
			return -GMM_ENOMEM;
		}
		a->dir[c] = page_address(pgdat, chunk);
	}
	return 0;
}

void mm_array_fini(struct mm_array *a)
{
	struct pglist_data *pgdat = a->pgdat;

	if (!a->dir)
		return;
	for (unsigned int c = 0; c < a->nr_chunks; c++) {
		uint64_t elems = a->nr - ((uint64_t)c << a->chunk_shift);

		if (elems > (1ull << a->chunk_shift))
			elems = 1ull << a->chunk_shift;
		free_pages(pgdat, virt_to_page(pgdat, a->dir[c]),
			   bytes_order(elems << a->elem_shift));
	}
	free_pages(pgdat, virt_to_page(pgdat, a->dir), a->dir_order);
	a->dir = NULL;
}

int page_ext_init(struct pglist_data *pgdat)
{
	struct page *page;
	struct page_ext_table *t;
	int err;

	if (pgdat->page_ext)
		return -GMM_EEXIST;
	page = alloc_pages(pgdat, GFP_ZERO, 0);
	if (!page)
		return -GMM_ENOMEM;
	t = page_address(pgdat, page);
	err = mm_array_init(&t->arr, pgdat, pgdat->node_spanned_pages,
			    sizeof(struct page_ext));
	if (err) {
		free_pages(pgdat, page, 0);
		return err;
	}
	pgdat->page_ext = t;
	return 0;
}

void page_ext_fini(struct pglist_data *pgdat)
{
	struct page_ext_table *t = pgdat->page_ext;

	if (!t)
		return;
	pgdat->page_ext = NULL;
	mm_array_fini(&t->arr);
	free_pages(pgdat, virt_to_page(pgdat, t), 0);
}
