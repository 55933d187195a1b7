/*
 * asm.h - constants shared by the kernel's assembly and C: control register
 * and page table bits, MSRs, segment selectors, fixed addresses.
 */
#ifndef GUESTMM_KERNEL_ASM_H
#define GUESTMM_KERNEL_ASM_H

/* Page table entry bits (Intel SDM vol. 3, 4.5). */
#define PTE_P 0x001   /* present */
#define PTE_W 0x002   /* writable */
#define PTE_PWT 0x008 /* write-through */
#define PTE_PCD 0x010 /* cache disable: device memory */
#define PTE_PS 0x080  /* a 2 MiB page in a page directory */
#define PTE_G 0x100   /* global */

#define CR0_PE 0x00000001
#define CR0_MP 0x00000002
#define CR0_EM 0x00000004
#define CR0_TS 0x00000008
#define CR0_NE 0x00000020
#define CR0_WP 0x00010000
#define CR0_PG 0x80000000

#define CR4_PAE 0x00000020
#define CR4_PGE 0x00000080
#define CR4_OSFXSR 0x00000200
#define CR4_OSXMMEXCPT 0x00000400

#define MSR_EFER 0xc0000080
#define EFER_LME 0x00000100
#define EFER_NXE 0x00000800
#define MSR_FS_BASE 0xc0000100
#define MSR_GS_BASE 0xc0000101
#define MSR_APIC_BASE 0x0000001b

/* GDT selectors (kernel/cpu.c): the boot GDT has the first two. */
#define KERNEL_CS 0x08
#define KERNEL_DS 0x10
#define TSS_SEL 0x18

#define BOOT_STACK_SIZE 32768

/*
 * The application processors start in real mode at a 4 KiB page below
 * 1 MiB (the SIPI vector is its page number): the start-up code is copied
 * there, with its parameters in the page after it (kernel/smp.c).
 */
#define TRAMPOLINE_BASE 0x8000
#define TRAMPOLINE_PARAMS 0x9000
/* Offsets of the parameters in that page. */
#define TP_CR3 0
#define TP_STACK 8
#define TP_ENTRY 16
#define TP_CPU 24
#define TP_GDT 32 /* 10-byte descriptor of the 64-bit GDT */

#endif
