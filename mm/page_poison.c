/*
 * page_poison.c - free memory keeps a known value, checked when it is
 * allocated again: Linux's page_poisoning (a byte pattern) and
 * init_on_free (zero).
 *
 * A block is filled with the node's poison byte when it is freed - in
 * free_pages() before it goes to a per-CPU or buddy list, and where
 * migration gives an old frame back - and every byte of it is checked when
 * it is handed out again: by alloc_pages(), as a compaction target, as a
 * contiguous range.  A byte that differs means someone wrote memory after
 * freeing it (or a device wrote free memory); it is reported with the frame
 * and the offset through platform_bad_state(), never passed over.  The
 * allocation itself goes on: the memory is the caller's; a zeroing
 * allocation is zeroed again.
 *
 * Reported blocks.  A block the host discarded reads back as zeros.  With
 * a zero poison (init_on_free) that is the poison, so reporting and
 * poisoning go together and an allocation of a zero-poisoned block can
 * skip its GFP_ZERO memset.  With any other value a discard would break
 * the poison: the balloon driver then negotiates VIRTIO_BALLOON_F_PAGE_POISON
 * and writes poison_val, which tells the device not to discard reported
 * pages (QEMU since 5.1, virtio_balloon_handle_report(): a report is
 * acknowledged without ram_block_discard_range() while poison_val is not
 * 0), and it does not report at all to a device that cannot be told.
 * Reporting then returns nothing, as it does for Linux with page_poison=1
 * under QEMU; this check is what would catch a device that discards
 * anyway.
 *
 * Cost.  Off (the default), the free and allocation paths test one
 * read-mostly bool.  On, a free writes and an allocation reads the block:
 * 4 KiB each way per frame, in 8-byte words.
 *
 * Boot.  mm_init() poisons the memory it frees at boot, except with a zero
 * poison over RAM the platform says reads zero already (a fresh memfd, a
 * VMM's fresh RAM): writing zeros would only make the host allocate it.
 */
#include "mm/internal.h"

static uint64_t page_poison_word(const struct pglist_data *pgdat)
{
	return (uint64_t)pgdat->page_poison_val * 0x0101010101010101ull;
}

void page_poison_fill(struct pglist_data *pgdat, uint32_t pfn,
		      unsigned int order)
{
	uint64_t *w = (uint64_t *)page_address(pgdat, pfn_to_page(pgdat, pfn));
	uint64_t v = page_poison_word(pgdat);
	size_t n = (PAGE_SIZE << order) / sizeof(*w);

	for (size_t i = 0; i < n; i++)
		w[i] = v;
}

/*
 * The first byte of a word that differs from the poison, and where: only
 * once a word is known to differ, so the common path is a load and a
 * compare per word.
 */
static void page_poison_report(struct pglist_data *pgdat, uint32_t pfn,
			       unsigned int order, const char *who, size_t word)
{
	const unsigned char *b = (const unsigned char *)page_address(
		pgdat, pfn_to_page(pgdat, pfn));
	size_t off = word * sizeof(uint64_t);

	while (b[off] == pgdat->page_poison_val)
		off++;
	platform_bad_state("%s: pfn %#x order %u: free memory was written: frame %#lx offset %#lx reads %#x, poison %#x (use after free?)",
			   who, pfn, order,
			   (unsigned long)(pfn + (off >> PAGE_SHIFT)),
			   (unsigned long)(off & (PAGE_SIZE - 1)), b[off],
			   pgdat->page_poison_val);
}

bool page_poison_check(struct pglist_data *pgdat, uint32_t pfn,
		       unsigned int order, const char *who)
{
	const uint64_t *w =
		(const uint64_t *)page_address(pgdat, pfn_to_page(pgdat, pfn));
	uint64_t v = page_poison_word(pgdat);
	size_t n = (PAGE_SIZE << order) / sizeof(*w);

	/* A page at a time, OR-accumulated, so the loop vectorises. */
	for (size_t p = 0; p < n; p += PAGE_SIZE / sizeof(*w)) {
		uint64_t diff = 0;

		for (size_t i = p; i < p + PAGE_SIZE / sizeof(*w); i++)
			diff |= w[i] ^ v;
		if (__builtin_expect(diff != 0, 0)) {
			size_t i = p;

			while (w[i] == v)
				i++;
			page_poison_report(pgdat, pfn, order, who, i);
			return false;
		}
	}
	return true;
}
