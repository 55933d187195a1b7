/*
 * boot.S - PVH entry: from 32-bit protected mode to long mode.
 *
 * A VMM that boots PVH (QEMU's -kernel with an ELF, cloud-hypervisor,
 * firecracker) finds pvh_start in the Xen ELF note (type 18,
 * XEN_ELFNOTE_PHYS32_ENTRY) and enters it in 32-bit protected mode with
 * paging off, flat segments, interrupts off, %ebx holding the physical
 * address of struct hvm_start_info.  There is no stack.
 *
 * We zero .bss, build an identity map of the first 4 GiB with 2 MiB pages
 * (enough for the image, the start info the VMM left below 1 MiB, and the
 * local APIC and virtio windows just below 4 GiB), enable PAE and long
 * mode, and call kmain(start_info) on the boot stack.  kmain() replaces
 * these tables with the final direct map (kernel/memory.c).
 */
#include "kernel/asm.h"

	.section .note.Xen, "a", @note
	.balign 4
	.long 4			/* namesz: "Xen\0" */
	.long 4			/* descsz: a 32-bit physical address */
	.long 18		/* XEN_ELFNOTE_PHYS32_ENTRY */
	.asciz "Xen"
	.balign 4
	.long pvh_start
	.balign 4

	.section .boot.text, "ax"
	.code32
	.globl pvh_start
pvh_start:
	cli
	cld
	mov	%ebx, %esi		/* hvm_start_info, kept for kmain */

	/* .bss: the loader zero-fills it; we do not rely on that. */
	mov	$__bss_start, %edi
	mov	$__bss_end, %ecx
	sub	%edi, %ecx
	shr	$2, %ecx
	xor	%eax, %eax
	rep stosl

	mov	$boot_stack_top, %esp

	/* PML4[0] -> PDPT; PDPT[0..3] -> four page directories. */
	mov	$boot_pdpt, %eax
	or	$(PTE_P | PTE_W), %eax
	mov	%eax, boot_pml4
	xor	%ecx, %ecx
1:	mov	%ecx, %eax
	shl	$12, %eax
	add	$boot_pd, %eax
	or	$(PTE_P | PTE_W), %eax
	mov	%eax, boot_pdpt(, %ecx, 8)
	inc	%ecx
	cmp	$4, %ecx
	jb	1b
	/* 2048 entries of 2 MiB: 4 GiB, virtual == physical. */
	xor	%ecx, %ecx
2:	mov	%ecx, %eax
	shl	$21, %eax
	or	$(PTE_P | PTE_W | PTE_PS), %eax
	mov	%eax, boot_pd(, %ecx, 8)
	inc	%ecx
	cmp	$2048, %ecx
	jb	2b

	/*
	 * The FPU and SSE, for threads (kernel/sched.c saves their state at
	 * every switch; interrupt handlers are built without them).
	 */
	mov	%cr0, %eax
	and	$~(CR0_EM | CR0_TS), %eax
	or	$(CR0_MP | CR0_NE), %eax
	mov	%eax, %cr0
	fninit
	mov	%cr4, %eax
	or	$(CR4_PAE | CR4_OSFXSR | CR4_OSXMMEXCPT), %eax
	mov	%eax, %cr4
	mov	$boot_pml4, %eax
	mov	%eax, %cr3
	mov	$MSR_EFER, %ecx
	rdmsr
	or	$EFER_LME, %eax
	wrmsr
	mov	%cr0, %eax
	or	$(CR0_PG | CR0_PE), %eax
	mov	%eax, %cr0
	/* Compatibility mode now; a far jump to a 64-bit segment ends it. */
	lgdt	boot_gdt_desc
	ljmp	$KERNEL_CS, $long_entry

	.code64
long_entry:
	mov	$KERNEL_DS, %eax
	mov	%eax, %ds
	mov	%eax, %es
	mov	%eax, %ss
	xor	%eax, %eax
	mov	%eax, %fs
	mov	%eax, %gs
	mov	$boot_stack_top, %rsp
	xor	%ebp, %ebp		/* the end of every backtrace */
	mov	%esi, %edi		/* zero-extends: start info < 4 GiB */
	call	kmain
3:	cli
	hlt
	jmp	3b

	.section .rodata
	.balign 8
	/* Code at KERNEL_CS (0x08), data at KERNEL_DS (0x10); see gdt.c. */
boot_gdt:
	.quad	0
	.quad	0x00af9a000000ffff	/* 64-bit code, DPL 0 */
	.quad	0x00cf92000000ffff	/* data, DPL 0 */
boot_gdt_desc:
	.word	3 * 8 - 1
	.quad	boot_gdt

	.section .bss
	.balign 4096
	.globl boot_pml4
boot_pml4:
	.skip	4096
boot_pdpt:
	.skip	4096
boot_pd:
	.skip	4 * 4096
	.globl boot_stack_top
boot_stack:
	.skip	BOOT_STACK_SIZE
boot_stack_top:
