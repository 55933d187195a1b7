/*
 * smp.c - the application processors.
 *
 * The MADT lists the processors' local APIC ids; the boot CPU is the one
 * running this, the others are started the way Intel's MP specification
 * says: INIT, 10 ms, STARTUP with the trampoline's page number, 200 us,
 * STARTUP again if the CPU has not answered.  They start one at a time,
 * because the trampoline's parameter page (CR3, stack, entry, struct cpu)
 * is one.  Each AP loads its own GDT, TSS and the IDT, enables its local
 * APIC, becomes its idle thread and starts its tick; then it says it is
 * online and the boot CPU starts the next.
 */
#include "kernel/smp.h"

#include "kernel/acpi.h"
#include "kernel/apic.h"
#include "kernel/asm.h"
#include "kernel/cpu.h"
#include "kernel/kernel.h"
#include "kernel/memory.h"
#include "kernel/sched.h"
#include "kernel/x86.h"

extern const char trampoline_start[], trampoline_end[];

static struct cpu boot_cpu;

struct cpu *smp_boot_cpu(void)
{
	return &boot_cpu;
}

void ap_main(struct cpu *c);
void ap_main(struct cpu *c)
{
	cpu_init(c);
	apic_ap_init();
	sched_init_ap(c);
	atomic_store(&c->online, true);
	sched_idle_loop();
}

static bool cpu_start(struct cpu *c)
{
	volatile uint64_t *params = phys_to_virt(TRAMPOLINE_PARAMS);

	params[TP_CR3 / 8] = read_cr3();
	params[TP_STACK / 8] = c->idle->stack_top;
	params[TP_ENTRY / 8] = (uint64_t)(uintptr_t)ap_main;
	params[TP_CPU / 8] = (uint64_t)(uintptr_t)c;
	lapic_send_ipi(c->apic_id, ICR_INIT | ICR_LEVEL_ASSERT);
	udelay(10000);
	for (unsigned int sipi = 0; sipi < 2; sipi++) {
		lapic_send_ipi(c->apic_id, ICR_STARTUP | (TRAMPOLINE_BASE >> 12));
		udelay(200);
		if (atomic_load(&c->online))
			return true;
	}
	/* A slow VMM (TCG on a loaded host): give it a second. */
	for (unsigned int ms = 0; ms < 1000; ms++) {
		if (atomic_load(&c->online))
			return true;
		udelay(1000);
	}
	return false;
}

void smp_boot(void)
{
	uint32_t self = lapic_id();

	memcpy(phys_to_virt(TRAMPOLINE_BASE), trampoline_start,
	       (size_t)(trampoline_end - trampoline_start));
	for (unsigned int i = 0; i < acpi.nr_cpus; i++) {
		struct cpu *c;

		if (acpi.apic_ids[i] == self)
			continue;
		if (nr_cpus == MAX_CPUS) {
			printk("smp: more than %u CPUs: APIC id %u left out\n",
			       MAX_CPUS, acpi.apic_ids[i]);
			continue;
		}
		c = boot_alloc(sizeof(*c), 64);
		c->id = nr_cpus;
		c->apic_id = acpi.apic_ids[i];
		c->idle = sched_idle_thread_create(c);
		if (!cpu_start(c)) {
			/* Back to waiting for a STARTUP it will not get. */
			lapic_send_ipi(c->apic_id, ICR_INIT | ICR_LEVEL_ASSERT);
			printk("smp: CPU with APIC id %u did not start: left out\n",
			       c->apic_id);
			continue;
		}
		cpus[nr_cpus++] = c;
	}
	printk("smp: %u CPUs online (APIC ids", nr_cpus);
	for (unsigned int i = 0; i < nr_cpus; i++)
		printk(" %u", cpus[i]->apic_id);
	printk(")\n");
}

void smp_stop_others(void)
{
	if (nr_cpus > 1)
		lapic_send_ipi(0, ICR_NMI | ICR_ALL_BUT_SELF);
}
