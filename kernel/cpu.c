/*
 * cpu.c - descriptor tables and per-CPU data.
 *
 * Every CPU has its own GDT (null, 64-bit code, data, and its TSS, whose
 * IST entries give the double-fault and NMI handlers stacks of their own,
 * so that a stack overflow still prints) and shares one IDT of interrupt
 * gates: interrupts are off in every handler, none nests.
 */
#include "kernel/cpu.h"

#include "kernel/asm.h"
#include "kernel/kernel.h"
#include "kernel/x86.h"

struct cpu *cpus[MAX_CPUS];
unsigned int nr_cpus;

struct idt_gate {
	uint16_t offset_lo;
	uint16_t selector;
	uint8_t ist;
	uint8_t type; /* 0x8e: present, DPL 0, 64-bit interrupt gate */
	uint16_t offset_mid;
	uint32_t offset_hi;
	uint32_t reserved;
} __attribute__((packed));
_Static_assert(sizeof(struct idt_gate) == 16, "IDT gates are 16 bytes");

struct desc_ptr {
	uint16_t limit;
	uint64_t base;
} __attribute__((packed));

static struct idt_gate idt[256] __attribute__((aligned(16)));
extern const char isr_stubs[];

void idt_init(void)
{
	for (unsigned int v = 0; v < 256; v++) {
		uint64_t a = (uint64_t)(uintptr_t)(isr_stubs + 16 * v);

		idt[v] = (struct idt_gate){
			.offset_lo = (uint16_t)a,
			.selector = KERNEL_CS,
			.ist = v == 8 ? IST_DF : v == 2 ? IST_NMI : 0,
			.type = 0x8e,
			.offset_mid = (uint16_t)(a >> 16),
			.offset_hi = (uint32_t)(a >> 32),
		};
	}
}

void cpu_init(struct cpu *c)
{
	uint64_t tss = (uint64_t)(uintptr_t)&c->tss;
	struct desc_ptr gdtr = { sizeof(c->gdt) - 1, (uint64_t)(uintptr_t)c->gdt };
	struct desc_ptr idtr = { sizeof(idt) - 1, (uint64_t)(uintptr_t)idt };

	c->self = c;
	c->tss.ist[IST_DF - 1] = (uint64_t)(uintptr_t)(c->ist_df + IST_STACK_SIZE);
	c->tss.ist[IST_NMI - 1] = (uint64_t)(uintptr_t)(c->ist_nmi + IST_STACK_SIZE);
	c->tss.iomap_base = sizeof(c->tss); /* no I/O bitmap */
	c->gdt[0] = 0;
	c->gdt[1] = 0x00af9a000000ffffull; /* KERNEL_CS: 64-bit code, DPL 0 */
	c->gdt[2] = 0x00cf92000000ffffull; /* KERNEL_DS */
	/* TSS_SEL: a 16-byte system descriptor, type 9 (available TSS). */
	c->gdt[3] = (sizeof(c->tss) - 1) | ((tss & 0xffffff) << 16) |
		    (0x89ull << 40) | (((tss >> 24) & 0xff) << 56);
	c->gdt[4] = tss >> 32;
	__asm__ volatile("lgdt %0" : : "m"(gdtr));
	__asm__ volatile("lidt %0" : : "m"(idtr));
	/* Reload CS with a far return, then the data segments and the TSS. */
	__asm__ volatile("pushq %0\n\t"
			 "leaq 1f(%%rip), %%rax\n\t"
			 "pushq %%rax\n\t"
			 "lretq\n"
			 "1:\n\t"
			 "mov %1, %%ds\n\t"
			 "mov %1, %%es\n\t"
			 "mov %1, %%ss\n\t"
			 :
			 : "i"(KERNEL_CS), "r"(KERNEL_DS)
			 : "rax", "memory");
	__asm__ volatile("ltr %w0" : : "r"(TSS_SEL));
	/* %fs and %gs selectors 0; their bases come from the MSRs. */
	__asm__ volatile("mov %0, %%fs; mov %0, %%gs" : : "r"(0));
	wrmsr(MSR_GS_BASE, (uint64_t)(uintptr_t)c);
}
