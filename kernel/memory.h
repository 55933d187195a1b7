/*
 * memory.h - physical memory: the VMM's memory map, the direct map, the
 * boot allocator, and the range handed to mm/.
 *
 * The layout (see kernel/README.md):
 *
 *   [0, 1 MiB)          the VMM's: start info, ACPI tables, firmware; the
 *                       APs' start-up page at TRAMPOLINE_BASE
 *   [1 MiB, kernel end) the image (text, data, bss with the boot stack)
 *   [kernel end, B)     boot allocations: page tables, per-CPU data, the
 *                       idle threads; B rounded up to 4 MiB
 *   [B, E)              mm/'s node: every frame the allocator manages.
 *                       mm/'s frame number p is guest-physical B + p * 4 KiB
 *                       (its page_to_phys() is relative to B), so whoever
 *                       hands a frame's address to a device adds B.
 *
 * Virtual addresses are physical ones (the identity map) for all RAM and
 * the devices below 4 GiB, except page 0, which is not mapped: a NULL
 * dereference faults.
 */
#ifndef GUESTMM_KERNEL_MEMORY_H
#define GUESTMM_KERNEL_MEMORY_H

#include <stdbool.h>
#include <stdint.h>

struct hvm_start_info;
struct pglist_data;

#define MEM_MAX_RANGES 64

struct mem_range {
	uint64_t start, end;
	uint32_t type; /* E820_* */
};

/* The VMM's memory map, sorted, empty entries dropped. */
extern struct mem_range mem_map[MEM_MAX_RANGES];
extern unsigned int mem_map_n;
/* Every address below this is mapped (RAM, and devices below 4 GiB). */
extern uint64_t mem_direct_map_end;
/* The node mm/ manages: guest-physical [mm_phys_base, mm_phys_end). */
extern uint64_t mm_phys_base, mm_phys_end;
/* mm/'s node, once mem_mm_init() made it. */
extern struct pglist_data *kernel_pgdat;

/*
 * mem_map_init - copy the memory map out of the start info (it lives in
 * memory we may reuse), print it, and start the boot allocator after the
 * image.  Panics on a map with no RAM above 1 MiB.
 */
void mem_map_init(const struct hvm_start_info *si);

/* Build and load the final page tables (the direct map). */
void mem_paging_init(void);

/*
 * boot_alloc - zeroed memory from the boot allocator, before mm/ runs:
 * page tables, per-CPU data, the idle threads' stacks.  Panics when the
 * RAM range of the image is exhausted.
 */
void *boot_alloc(uint64_t bytes, uint64_t align);

/*
 * mem_mm_init - end the boot allocator and hand the rest of the image's
 * RAM range to mm/ (mm_init()) for @nr_cpus CPUs.  Panics when mm/ refuses.
 */
void mem_mm_init(unsigned int nr_cpus);

/*
 * Page poisoning for mm/ (mm/page_poison.c), from the command line's
 * --poison, set before mem_mm_init(): off, or free memory keeps
 * @mem_poison_val (0: init_on_free).
 */
extern bool mem_poison;
extern uint8_t mem_poison_val;

/*
 * Pages for the kernel itself once mm/ runs (thread stacks, rings): an
 * unmovable allocation from mm/.  Return: the memory, zeroed, or NULL.
 */
void *kernel_pages_alloc(unsigned int order);
void kernel_pages_free(void *p, unsigned int order);

/* The guest-physical address of kernel memory (identity map). */
static inline uint64_t virt_to_phys(const void *p)
{
	return (uint64_t)(uintptr_t)p;
}

static inline void *phys_to_virt(uint64_t pa)
{
	return (void *)(uintptr_t)pa;
}

#endif
