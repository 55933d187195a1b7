/*
 * entry.S - interrupt and exception entry, and the thread switch.
 *
 * Each of the 256 vectors has a 16-byte stub at isr_stubs + 16 * vector:
 * it pushes a zero where the CPU pushes no error code (so every frame has
 * the same shape, struct trap_frame in cpu.h), then the vector, and jumps
 * to trap_common, which saves the general registers and calls
 * trap_dispatch(frame).  No FPU/SSE state is saved: interrupt handlers are
 * built without those registers (-mgeneral-regs-only), and a switch to
 * another thread saves them (context_switch below).
 *
 * On entry the CPU has aligned the stack to 16 bytes and pushed 5 words;
 * the stub's 2 and the 15 registers make 22: trap_dispatch is called with
 * the stack 16-byte aligned, as the ABI wants.
 */
#include "kernel/asm.h"

	.section .text
	.balign 16
	.globl isr_stubs
isr_stubs:
	.set vec, 0
	.rept 256
	.balign 16
	/* The exceptions that push an error code: #DF #TS #NP #SS #GP #PF #AC #CP #VC #SX. */
	.if (vec == 8) || ((vec >= 10) && (vec <= 14)) || (vec == 17) || (vec == 21) || (vec == 29) || (vec == 30)
	.else
	pushq	$0
	.endif
	pushq	$vec
	jmp	trap_common
	.set vec, vec + 1
	.endr

trap_common:
	pushq	%rax
	pushq	%rbx
	pushq	%rcx
	pushq	%rdx
	pushq	%rsi
	pushq	%rdi
	pushq	%rbp
	pushq	%r8
	pushq	%r9
	pushq	%r10
	pushq	%r11
	pushq	%r12
	pushq	%r13
	pushq	%r14
	pushq	%r15
	cld
	mov	%rsp, %rdi
	call	trap_dispatch
	popq	%r15
	popq	%r14
	popq	%r13
	popq	%r12
	popq	%r11
	popq	%r10
	popq	%r9
	popq	%r8
	popq	%rbp
	popq	%rdi
	popq	%rsi
	popq	%rdx
	popq	%rcx
	popq	%rbx
	popq	%rax
	add	$16, %rsp		/* vector, error code */
	iretq

/*
 * void context_switch(uint64_t *prev_rsp, uint64_t next_rsp,
 *                     void *prev_fpu, void *next_fpu)
 *
 * Called with interrupts off.  Saves the callee-saved registers and the
 * FPU/SSE state of the thread leaving, switches stacks, and restores the
 * next thread's: it returns in the next thread, where that thread last
 * called context_switch (or in thread_entry, for a new one).
 */
	.globl context_switch
context_switch:
	fxsave64 (%rdx)
	pushq	%rbp
	pushq	%rbx
	pushq	%r12
	pushq	%r13
	pushq	%r14
	pushq	%r15
	mov	%rsp, (%rdi)
	mov	%rsi, %rsp
	popq	%r15
	popq	%r14
	popq	%r13
	popq	%r12
	popq	%rbx
	popq	%rbp
	fxrstor64 (%rcx)
	ret

/*
 * Where a new thread's first context_switch returns: its stack was built
 * so (sched.c) with the six registers zero.  thread_start() never returns.
 */
	.globl thread_entry
thread_entry:
	xor	%ebp, %ebp
	call	thread_start
	ud2
