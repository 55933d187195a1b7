/*
 * main.c - the guest kernel's boot sequence, from the PVH entry to the
 * workload and the machine's exit.
 *
 * kmain() runs on the boot CPU with interrupts off: the console first (the
 * first line is the banner), the descriptor tables (from here a fault
 * prints), the start info and memory map, ACPI, the direct map, the local
 * APIC and the calibrated clock, the scheduler (kmain's own code becomes
 * the thread "main"), the other CPUs, then mm/ over the RAM left.  Then
 * it runs what the command line asks and ends the machine with its status.
 */
#include "kernel/acpi.h"
#include "kernel/apic.h"
#include "kernel/bootinfo.h"
#include "kernel/cpu.h"
#include "kernel/kernel.h"
#include "kernel/memory.h"
#include "kernel/sched.h"
#include "kernel/smp.h"
#include "kernel/x86.h"
#include "kernel/kmain.h"

void kmain(uint32_t start_info_pa);

static void cmdline_copy(const struct hvm_start_info *si)
{
	const char *s = si->cmdline_paddr ? phys_to_virt(si->cmdline_paddr) : "";
	size_t n = strlen(s);

	if (n >= sizeof(kernel_cmdline)) {
		printk("kernel: command line of %zu bytes cut to %zu\n", n,
		       sizeof(kernel_cmdline) - 1);
		n = sizeof(kernel_cmdline) - 1;
	}
	memcpy(kernel_cmdline, s, n);
	kernel_cmdline[n] = 0;
}

void kmain(uint32_t start_info_pa)
{
	const struct hvm_start_info *si = phys_to_virt(start_info_pa);
	struct cpu *c = smp_boot_cpu();
	int err;

	console_init();
	printk(KERNEL_NAME " " GMM_VERSION "%s%s: booted by PVH, x86-64 long mode\n",
	       GMM_GIT_DESCRIBE[0] ? " " : "", GMM_GIT_DESCRIBE);
	c->id = 0;
	cpus[0] = c;
	nr_cpus = 1;
	idt_init();
	cpu_init(c);
	if (si->magic != HVM_START_MAGIC)
		panic("no PVH start info at %#x (magic %#x, not %#x)",
		      start_info_pa, si->magic, HVM_START_MAGIC);
	cmdline_copy(si);
	printk("command line: '%s'\n", kernel_cmdline);
	mem_map_init(si);
	acpi_init(si->rsdp_paddr);
	mem_paging_init();
	apic_boot_init();
	c->apic_id = lapic_id();
	sched_init_boot(c);
	apic_timer_start(SCHED_HZ);
	irq_enable();
	smp_boot();
	err = kernel_setup();
	if (err)
		machine_exit(err);
	mem_mm_init(nr_cpus);
	machine_exit(kernel_main());
}
