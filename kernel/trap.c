/*
 * trap.c - what happens on an interrupt or exception.
 *
 * An exception in the kernel is a bug: it prints the vector and its name,
 * the error code decoded, RIP, CR2 (page faults), the CPU and thread, the
 * registers and a frame-pointer backtrace, then ends the machine with a
 * failure status (panic).  Never a silent hang: a double fault (a stack
 * overflow, say) runs on a stack of its own and prints the same way.
 *
 * Interrupts: the local APIC timer (the tick), the reschedule IPI, and the
 * device lines routed through the IOAPIC (one handler per GSI).  Each ends
 * with an EOI to the local APIC, then a switch if the tick or a wake-up
 * asked for one (sched_irq_exit()).
 *
 * Built without SSE (interrupt path): see entry.S.
 */
#include "kernel/apic.h"
#include "kernel/cpu.h"
#include "kernel/kernel.h"
#include "kernel/smp.h"
#include "kernel/sched.h"
#include "kernel/x86.h"
#include "platform/platform.h"

atomic_bool panicking;

static const char *const exception_names[32] = {
	[0] = "#DE divide error",
	[1] = "#DB debug",
	[2] = "NMI",
	[3] = "#BP breakpoint",
	[4] = "#OF overflow",
	[5] = "#BR bound range",
	[6] = "#UD invalid opcode",
	[7] = "#NM device not available",
	[8] = "#DF double fault",
	[10] = "#TS invalid TSS",
	[11] = "#NP segment not present",
	[12] = "#SS stack fault",
	[13] = "#GP general protection",
	[14] = "#PF page fault",
	[16] = "#MF x87 floating point",
	[17] = "#AC alignment check",
	[18] = "#MC machine check",
	[19] = "#XM SIMD floating point",
	[20] = "#VE virtualization",
	[21] = "#CP control protection",
};

/*
 * @irq_lock protects the table's writers; the dispatcher reads an entry
 * without it (a handler is set once, before its device may interrupt).
 */
static struct {
	irq_handler_fn fn;
	void *arg;
} irq_table[VEC_IRQ_MAX - VEC_IRQ_BASE + 1];
static struct raw_spinlock irq_lock;
static atomic_ulong spurious_irqs;

int irq_set_handler(unsigned int gsi, irq_handler_fn fn, void *arg)
{
	bool on;
	int err = 0;

	if (gsi > VEC_IRQ_MAX - VEC_IRQ_BASE)
		return -GMM_EINVAL;
	on = raw_spin_lock_irqsave(&irq_lock);
	if (irq_table[gsi].fn) {
		err = -GMM_EBUSY;
	} else {
		irq_table[gsi].arg = arg;
		__atomic_store_n(&irq_table[gsi].fn, fn, __ATOMIC_RELEASE);
	}
	raw_spin_unlock_irqrestore(&irq_lock, on);
	return err;
}

static void fault_print(const struct trap_frame *f)
{
	const char *name = f->vector < 32 && exception_names[f->vector]
				   ? exception_names[f->vector]
				   : "reserved exception";
	struct cpu *c = this_cpu();
	struct thread *t = c ? c->current : NULL;

	printk_unlocked("\n" KERNEL_NAME ": fault: %s (vector %lu), error %#lx",
			name, f->vector, f->error);
	if (f->vector == 14)
		printk_unlocked(" [%s, %s, %s%s]",
				f->error & 1 ? "protection" : "not present",
				f->error & 2 ? "write" : "read",
				f->error & 4 ? "user" : "kernel",
				f->error & 16 ? ", instruction fetch" : "");
	printk_unlocked(", rip %#lx", f->rip);
	if (f->vector == 14)
		printk_unlocked(", cr2 %#lx (the faulting address)", read_cr2());
	printk_unlocked(", cpu %u, thread '%s'\n", c ? c->id : 0,
			t ? t->name : "?");
	printk_unlocked("  rax %016lx rbx %016lx rcx %016lx rdx %016lx\n",
			f->rax, f->rbx, f->rcx, f->rdx);
	printk_unlocked("  rsi %016lx rdi %016lx rbp %016lx rsp %016lx\n",
			f->rsi, f->rdi, f->rbp, f->rsp);
	printk_unlocked("  r8  %016lx r9  %016lx r10 %016lx r11 %016lx\n",
			f->r8, f->r9, f->r10, f->r11);
	printk_unlocked("  r12 %016lx r13 %016lx r14 %016lx r15 %016lx\n",
			f->r12, f->r13, f->r14, f->r15);
	printk_unlocked("  rflags %#lx cs %#lx ss %#lx cr3 %#lx\n", f->rflags,
			f->cs, f->ss, read_cr3());
	printk_unlocked("  backtrace (addr2line -e " KERNEL_NAME ".elf ADDR):\n");
	printk_unlocked("    #0  %#lx\n", f->rip);
	backtrace_print(f->rbp);
}

static __attribute__((noreturn)) void fault(const struct trap_frame *f)
{
	bool first = !atomic_exchange(&panicking, true);

	if (!first) /* another CPU is ending the machine: let it */
		cpu_halt_forever();
	smp_stop_others();
	console_lock_bounded();
	fault_print(f);
	printk_unlocked(KERNEL_NAME ": ending the machine (exit code %#x)\n",
			KERNEL_EXIT_PANIC);
	machine_exit(KERNEL_EXIT_PANIC);
}

void trap_dispatch(struct trap_frame *f);
void trap_dispatch(struct trap_frame *f)
{
	uint64_t v = f->vector;

	if (v == 2) {
		/* NMI: a panicking CPU stops the others with one. */
		if (atomic_load(&panicking))
			cpu_halt_forever();
		fault(f);
	}
	if (v < 32)
		fault(f);
	if (v == VEC_TIMER) {
		lapic_eoi();
		sched_tick();
	} else if (v == VEC_RESCHED) {
		lapic_eoi();
		this_cpu()->need_resched = true;
	} else if (v >= VEC_IRQ_BASE && v <= VEC_IRQ_MAX) {
		unsigned int gsi = (unsigned int)(v - VEC_IRQ_BASE);
		irq_handler_fn fn = __atomic_load_n(&irq_table[gsi].fn,
						    __ATOMIC_ACQUIRE);

		if (fn)
			fn(irq_table[gsi].arg);
		else
			atomic_fetch_add(&spurious_irqs, 1);
		lapic_eoi();
	} else if (v == VEC_SPURIOUS) {
		/* No EOI for the APIC's spurious vector. */
		atomic_fetch_add(&spurious_irqs, 1);
		return;
	} else {
		atomic_fetch_add(&spurious_irqs, 1);
		lapic_eoi();
	}
	sched_irq_exit();
}
