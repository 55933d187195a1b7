/*
 * trampoline.S - where an application processor starts: the SIPI puts it
 * in real mode at CS:IP = (TRAMPOLINE_BASE >> 4):0.  This code is copied
 * to TRAMPOLINE_BASE before the SIPI (it is linked in .rodata, so every
 * address in it is computed from TRAMPOLINE_BASE, not from where it was
 * linked).  It goes to protected mode with its own small GDT, enables
 * PAE, SSE and long mode on the kernel's page tables (CR3 from the
 * parameter page, below 4 GiB), and jumps to the 64-bit entry on the
 * stack the boot CPU prepared, with the CPU's struct cpu in %rdi.
 */
#include "kernel/asm.h"

#define T(label) (TRAMPOLINE_BASE + (label) - trampoline_start)

	.section .trampoline, "a"
	.code16
	.globl trampoline_start
trampoline_start:
	cli
	cld
	xor	%ax, %ax
	mov	%ax, %ds
	mov	%ax, %es
	mov	%ax, %ss
	lgdtl	T(tramp_gdt_desc)
	mov	%cr0, %eax
	or	$CR0_PE, %eax
	mov	%eax, %cr0
	ljmpl	$0x08, $T(tramp32)

	.code32
tramp32:
	mov	$0x10, %eax
	mov	%eax, %ds
	mov	%eax, %es
	mov	%eax, %ss
	mov	%cr0, %eax
	and	$~(CR0_EM | CR0_TS), %eax
	or	$(CR0_MP | CR0_NE), %eax
	mov	%eax, %cr0
	fninit
	mov	%cr4, %eax
	or	$(CR4_PAE | CR4_OSFXSR | CR4_OSXMMEXCPT), %eax
	mov	%eax, %cr4
	mov	TRAMPOLINE_PARAMS + TP_CR3, %eax
	mov	%eax, %cr3
	mov	$MSR_EFER, %ecx
	rdmsr
	or	$EFER_LME, %eax
	wrmsr
	mov	%cr0, %eax
	or	$CR0_PG, %eax
	mov	%eax, %cr0
	ljmp	$0x18, $T(tramp64)

	.code64
tramp64:
	mov	$0x10, %eax
	mov	%eax, %ds
	mov	%eax, %es
	mov	%eax, %ss
	movq	TRAMPOLINE_PARAMS + TP_STACK, %rsp
	movq	TRAMPOLINE_PARAMS + TP_CPU, %rdi
	movq	TRAMPOLINE_PARAMS + TP_ENTRY, %rax
	xor	%ebp, %ebp
	call	*%rax
1:	cli
	hlt
	jmp	1b

	.balign 8
tramp_gdt:
	.quad	0
	.quad	0x00cf9a000000ffff	/* 0x08: 32-bit code */
	.quad	0x00cf92000000ffff	/* 0x10: data */
	.quad	0x00af9a000000ffff	/* 0x18: 64-bit code */
tramp_gdt_desc:
	.word	4 * 8 - 1
	.long	T(tramp_gdt)
	.globl trampoline_end
trampoline_end:
