/*
 * cpu.h - per-CPU data, the descriptor tables, interrupt vectors.
 *
 * Each CPU's struct cpu is reached through its GS base: %gs:0 holds the
 * struct's own address, so this_cpu() is one load and needs no CPU number.
 * Fields written by other CPUs say so; the rest belong to the CPU itself
 * and are touched with interrupts off when an interrupt handler shares
 * them.
 */
#ifndef GUESTMM_KERNEL_CPU_H
#define GUESTMM_KERNEL_CPU_H

#include <stdatomic.h>
#include <stdbool.h>
#include <stdint.h>

#include "kernel/sched.h"

#define MAX_CPUS 64

/* Interrupt vectors.  0..31 are the CPU's exceptions. */
#define VEC_TIMER 0x20	    /* the local APIC timer: the tick */
#define VEC_IRQ_BASE 0x30   /* IOAPIC inputs: VEC_IRQ_BASE + GSI */
#define VEC_IRQ_MAX 0x6f
#define VEC_RESCHED 0xf0    /* IPI: look at your run queue */
#define VEC_SPURIOUS 0xff   /* the local APIC's spurious vector */

/* Interrupt stacks (TSS IST entries) for the exceptions that may come
 * with a broken stack: a double fault (a stack overflow) and NMI. */
#define IST_DF 1
#define IST_NMI 2
#define IST_STACK_SIZE 8192

/* The 64-bit TSS (Intel SDM vol. 3, 8.7). */
struct tss {
	uint32_t reserved0;
	uint64_t rsp[3];
	uint64_t reserved1;
	uint64_t ist[7];
	uint64_t reserved2;
	uint16_t reserved3;
	uint16_t iomap_base;
} __attribute__((packed));
_Static_assert(sizeof(struct tss) == 104, "the 64-bit TSS is 104 bytes");

struct cpu {
	struct cpu *self;	/* %gs:0 */
	struct thread *current; /* %gs:8: the thread running here */
	unsigned int id;	/* 0 .. nr_cpus - 1, the boot CPU 0 */
	uint32_t apic_id;
	struct runqueue rq;
	struct thread *idle;
	/* Ticks since this CPU's timer started; written by its handler. */
	uint64_t ticks;
	/* Set by the tick or a wake-up IPI; schedule() clears it. */
	bool need_resched;
	/* The thread's time slice ends at this tick. */
	uint64_t slice_end;
	/* A thread that died in the switch just made: freed by its joiner
	 * once the switch is over (sched.c). */
	struct thread *dead;
	/* Written by the CPU when it runs (smp.c waits for it). */
	atomic_bool online;
	uint64_t gdt[5] __attribute__((aligned(16)));
	struct tss tss __attribute__((aligned(16)));
	uint8_t ist_df[IST_STACK_SIZE] __attribute__((aligned(16)));
	uint8_t ist_nmi[IST_STACK_SIZE] __attribute__((aligned(16)));
};

extern struct cpu *cpus[MAX_CPUS];
extern unsigned int nr_cpus;

static inline struct cpu *this_cpu(void)
{
	struct cpu *c;

	__asm__ volatile("mov %%gs:0, %0" : "=r"(c));
	return c;
}

static inline struct thread *current_thread(void)
{
	struct thread *t;

	__asm__ volatile("mov %%gs:8, %0" : "=r"(t));
	return t;
}

/* The registers an interrupt or exception stub saves (kernel/entry.S). */
struct trap_frame {
	uint64_t r15, r14, r13, r12, r11, r10, r9, r8;
	uint64_t rbp, rdi, rsi, rdx, rcx, rbx, rax;
	uint64_t vector, error;
	/* Pushed by the CPU. */
	uint64_t rip, cs, rflags, rsp, ss;
};
_Static_assert(sizeof(struct trap_frame) == 22 * 8, "trap frame layout");

/*
 * cpu_init - make @c this CPU's: its GDT with its TSS (the interrupt
 * stacks), the shared IDT, its GS base.  Every CPU calls it first.
 */
void cpu_init(struct cpu *c);
/* Build the shared IDT (once, on the boot CPU, before cpu_init). */
void idt_init(void);

/* A device interrupt handler for a GSI (kernel/trap.c); one per line. */
typedef void (*irq_handler_fn)(void *arg);
/* Return: 0; -GMM_EBUSY when the line has a handler; -GMM_EINVAL. */
int irq_set_handler(unsigned int gsi, irq_handler_fn fn, void *arg);

/* True once a panic started: the other CPUs stop where they are. */
extern atomic_bool panicking;

#endif
