/*
 * memory.c - the memory map, the direct map, the boot allocator, and mm/'s
 * node.  The layout is in memory.h.
 *
 * mm/ carves its metadata from the start of the RAM it is given and
 * manages one contiguous node.  Giving it guest-physical 0 would put that
 * metadata over the VMM's low memory (ACPI tables, the start info, ROM on
 * some VMMs) and over this image, so the node starts after the image and
 * the boot allocations, at B, and ends where that RAM range ends.  RAM in
 * other ranges (below 1 MiB; above 4 GiB, which microvm gives guests of
 * more than 3 GiB) is listed at boot as not managed.
 */
#include "kernel/memory.h"

#include "kernel/asm.h"
#include "kernel/bootinfo.h"
#include "kernel/kernel.h"
#include "kernel/x86.h"
#include "mm/gfp.h"

struct mem_range mem_map[MEM_MAX_RANGES];
unsigned int mem_map_n;
uint64_t mem_direct_map_end;
uint64_t mm_phys_base, mm_phys_end;
struct pglist_data *kernel_pgdat;
bool mem_poison;
uint8_t mem_poison_val;

extern char __kernel_start[], __kernel_end[];

/* The boot allocator: a bump pointer in the image's RAM range. */
static uint64_t boot_next, boot_limit;
static bool boot_closed;

static const char *e820_name(uint32_t type)
{
	switch (type) {
	case E820_RAM:
		return "RAM";
	case E820_RESERVED:
		return "reserved";
	case E820_ACPI:
		return "ACPI tables";
	case E820_NVS:
		return "ACPI NVS";
	case E820_UNUSABLE:
		return "unusable";
	default:
		return "other";
	}
}

void mem_map_init(const struct hvm_start_info *si)
{
	const struct hvm_memmap_table_entry *e;
	uint64_t kstart = (uint64_t)(uintptr_t)__kernel_start;
	uint64_t kend = (uint64_t)(uintptr_t)__kernel_end;
	uint64_t top = 0;

	if (si->version < 1 || !si->memmap_entries || !si->memmap_paddr)
		panic("the VMM passed no memory map (start info version %u, %u entries)",
		      si->version, si->memmap_entries);
	e = phys_to_virt(si->memmap_paddr);
	for (uint32_t i = 0; i < si->memmap_entries; i++) {
		struct mem_range r = { e[i].addr, e[i].addr + e[i].size, e[i].type };
		unsigned int k;

		if (!e[i].size || r.end < r.start)
			continue; /* QEMU passes an empty last entry */
		if (mem_map_n == MEM_MAX_RANGES)
			panic("more than %u memory map entries", MEM_MAX_RANGES);
		/* Insertion by start address. */
		for (k = mem_map_n; k && mem_map[k - 1].start > r.start; k--)
			mem_map[k] = mem_map[k - 1];
		mem_map[k] = r;
		mem_map_n++;
	}
	printk("memory map from the VMM (%u entries):\n", mem_map_n);
	for (unsigned int i = 0; i < mem_map_n; i++) {
		const struct mem_range *r = &mem_map[i];

		printk("  [0x%012lx-0x%012lx) %-12s %8lu KiB\n", r->start, r->end,
		       e820_name(r->type), (r->end - r->start) >> 10);
		if (r->type == E820_RAM && r->end > top)
			top = r->end;
		if (r->type == E820_RAM && r->start <= kstart && kend <= r->end) {
			boot_next = ALIGN_UP(kend, 4096);
			boot_limit = r->end;
		}
	}
	if (!boot_limit)
		panic("the image [%#lx, %#lx) is not in RAM per the memory map",
		      kstart, kend);
	mem_direct_map_end = top > (4ull << 30) ? ALIGN_UP(top, 1ull << 30)
						: 4ull << 30;
}

void *boot_alloc(uint64_t bytes, uint64_t align)
{
	uint64_t p = ALIGN_UP(boot_next, align);

	if (boot_closed)
		panic("boot_alloc(%lu) after mm/ took the memory", bytes);
	if (p + bytes > boot_limit || p + bytes < p)
		panic("boot_alloc(%lu): the image's RAM range ends at %#lx",
		      bytes, boot_limit);
	boot_next = p + bytes;
	memset(phys_to_virt(p), 0, bytes);
	return phys_to_virt(p);
}

/* Does [start, end) hold any RAM? */
static bool range_has_ram(uint64_t start, uint64_t end)
{
	for (unsigned int i = 0; i < mem_map_n; i++)
		if (mem_map[i].type == E820_RAM && mem_map[i].start < end &&
		    start < mem_map[i].end)
			return true;
	return false;
}

void mem_paging_init(void)
{
	uint64_t *pml4 = boot_alloc(4096, 4096);
	uint64_t *pdpt = boot_alloc(4096, 4096);
	uint64_t *pt = boot_alloc(4096, 4096);
	unsigned int nr_pd = (unsigned int)(mem_direct_map_end >> 30);

	if (nr_pd > 512)
		panic("RAM above 512 GiB: the direct map has one PDPT");
	pml4[0] = virt_to_phys(pdpt) | PTE_P | PTE_W;
	for (unsigned int g = 0; g < nr_pd; g++) {
		uint64_t *pd = boot_alloc(4096, 4096);

		pdpt[g] = virt_to_phys(pd) | PTE_P | PTE_W;
		for (unsigned int j = 0; j < 512; j++) {
			uint64_t pa = ((uint64_t)g << 30) | ((uint64_t)j << 21);
			uint64_t flags = PTE_P | PTE_W | PTE_PS;

			/* Not RAM: device registers, uncached. */
			if (!range_has_ram(pa, pa + (2u << 20)))
				flags |= PTE_PCD | PTE_PWT;
			pd[j] = pa | flags;
		}
		if (g == 0) {
			/* The first 2 MiB in 4 KiB pages, page 0 left out. */
			for (unsigned int k = 1; k < 512; k++)
				pt[k] = ((uint64_t)k << 12) | PTE_P | PTE_W;
			pd[0] = virt_to_phys(pt) | PTE_P | PTE_W;
		}
	}
	write_cr3(virt_to_phys(pml4));
}

void mem_mm_init(unsigned int cpus)
{
	struct mm_boot_params params;
	int err;

	mm_phys_base = ALIGN_UP(boot_next, MAX_ORDER_NR_PAGES * PAGE_SIZE);
	mm_phys_end = ALIGN_DOWN(boot_limit, MAX_ORDER_NR_PAGES * PAGE_SIZE);
	boot_closed = true;
	if (mm_phys_end <= mm_phys_base)
		panic("no RAM left for mm/ after the boot allocations (%#lx)",
		      boot_next);
	params = (struct mm_boot_params){
		.ram = phys_to_virt(mm_phys_base),
		.ram_bytes = mm_phys_end - mm_phys_base,
		.nr_cpus = cpus,
		.page_poison = mem_poison,
		.poison_val = mem_poison_val,
		/*
		 * The node starts past the image and the boot allocations:
		 * nothing has written it, and a VMM's fresh RAM reads zero.
		 */
		.ram_zeroed = true,
	};
	err = mm_init(&params, &kernel_pgdat);
	if (err)
		panic("mm_init() of [%#lx, %#lx): %d", mm_phys_base, mm_phys_end,
		      err);
	printk("mm: node [%#lx-%#lx) %lu MiB, %lu KiB of it mm/'s metadata, %u CPUs\n",
	       mm_phys_base, mm_phys_end, (mm_phys_end - mm_phys_base) >> 20,
	       kernel_pgdat->reserved_pages << (PAGE_SHIFT - 10), cpus);
	if (mem_poison)
		printk("mm: page poisoning: free memory holds %#x, checked on allocation%s\n",
		       mem_poison_val, mem_poison_val ? "" : " (init_on_free)");
	for (unsigned int i = 0; i < mem_map_n; i++) {
		const struct mem_range *r = &mem_map[i];

		if (r->type != E820_RAM)
			continue;
		if (r->start < mm_phys_base)
			printk("mm: RAM [%#lx-%#lx) not in the node: %s\n", r->start,
			       r->end < mm_phys_base ? r->end : mm_phys_base,
			       r->start < 0x100000 ? "the VMM's low memory"
						   : "the image and boot allocations");
		if (r->end > mm_phys_end)
			printk("mm: RAM [%#lx-%#lx) not in the node (%lu MiB): mm/ runs one contiguous node\n",
			       r->start > mm_phys_end ? r->start : mm_phys_end,
			       r->end, (r->end - (r->start > mm_phys_end ? r->start : mm_phys_end)) >> 20);
	}
}

void *kernel_pages_alloc(unsigned int order)
{
	struct page *page = alloc_pages(kernel_pgdat, GFP_ZERO, order);

	return page ? page_address(kernel_pgdat, page) : NULL;
}

void kernel_pages_free(void *p, unsigned int order)
{
	uint64_t pa = virt_to_phys(p);

	free_pages(kernel_pgdat,
		   pfn_to_page(kernel_pgdat,
			       (uint32_t)((pa - mm_phys_base) >> PAGE_SHIFT)),
		   order);
}
