/*
 * panic.c - ending the machine: panic() with a reason and a backtrace,
 * machine_exit() with a status for whoever started the VMM.
 *
 * The exit is QEMU's isa-debug-exit device (-device
 * isa-debug-exit,iobase=0xf4,iosize=4): a write of V ends QEMU with status
 * (V << 1) | 1.  On a VMM without it the write goes nowhere, so the kernel
 * says so and halts every CPU: the runner's watchdog ends the VMM then.
 */
#include "kernel/cpu.h"
#include "kernel/kernel.h"
#include "kernel/memory.h"
#include "kernel/smp.h"
#include "kernel/x86.h"

void backtrace_print(uint64_t rbp)
{
	for (unsigned int i = 1; i < 32 && rbp; i++) {
		const uint64_t *frame = (const uint64_t *)(uintptr_t)rbp;

		/* Only walk memory that is mapped and could be a stack. */
		if (rbp & 7 || rbp < 0x1000 || rbp + 16 > mem_direct_map_end)
			break;
		if (!frame[1])
			break;
		printk_unlocked("    #%-2u %#lx\n", i, frame[1]);
		if (frame[0] <= rbp) /* frames go up the stack; a loop ends */
			break;
		rbp = frame[0];
	}
}

__attribute__((noreturn)) void machine_exit(int code)
{
	outb(DEBUG_EXIT_PORT, (uint8_t)code);
	/* Still here: no isa-debug-exit on this VMM. */
	printk_unlocked(KERNEL_NAME ": no isa-debug-exit device at port %#x: halting (exit code %#x)\n",
			DEBUG_EXIT_PORT, code);
	cpu_halt_forever();
}

__attribute__((noreturn)) void panic(const char *fmt, ...)
{
	char why[512];
	struct cpu *c = this_cpu();
	va_list ap;

	irq_disable();
	if (atomic_exchange(&panicking, true))
		cpu_halt_forever(); /* another CPU is ending the machine */
	va_start(ap, fmt);
	kvsnprintf(why, sizeof(why), fmt, ap);
	va_end(ap);
	smp_stop_others();
	console_lock_bounded();
	printk_unlocked("\n" KERNEL_NAME ": panic: %s (cpu %u, thread '%s')\n",
			why, c ? c->id : 0,
			c && c->current ? c->current->name : "?");
	printk_unlocked("  backtrace (addr2line -e " KERNEL_NAME ".elf ADDR):\n");
	backtrace_print((uint64_t)(uintptr_t)__builtin_frame_address(0));
	printk_unlocked(KERNEL_NAME ": ending the machine (exit code %#x)\n",
			KERNEL_EXIT_PANIC);
	machine_exit(KERNEL_EXIT_PANIC);
}
