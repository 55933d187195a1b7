/*
 * bootinfo.h - what the VMM hands a PVH kernel: struct hvm_start_info
 * (Xen's public arch-x86/hvm/start_info.h, version 1), its memory map, and
 * what kmain() keeps of them.
 */
#ifndef GUESTMM_KERNEL_BOOTINFO_H
#define GUESTMM_KERNEL_BOOTINFO_H

#include <stdint.h>

#define HVM_START_MAGIC 0x336ec578

struct hvm_start_info {
	uint32_t magic;
	uint32_t version;
	uint32_t flags;
	uint32_t nr_modules;
	uint64_t modlist_paddr;
	uint64_t cmdline_paddr;
	uint64_t rsdp_paddr;
	uint64_t memmap_paddr;	 /* version >= 1 */
	uint32_t memmap_entries; /* version >= 1 */
	uint32_t reserved;
};
_Static_assert(sizeof(struct hvm_start_info) == 56, "hvm_start_info v1 is 56 bytes");

/* E820 types, as the memory map uses them. */
#define E820_RAM 1
#define E820_RESERVED 2
#define E820_ACPI 3
#define E820_NVS 4
#define E820_UNUSABLE 5

struct hvm_memmap_table_entry {
	uint64_t addr;
	uint64_t size;
	uint32_t type;
	uint32_t reserved;
};
_Static_assert(sizeof(struct hvm_memmap_table_entry) == 24, "memmap entries are 24 bytes");

#endif
