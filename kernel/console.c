/*
 * console.c - the serial console: a 16550 UART at I/O port 0x3f8 (COM1),
 * which QEMU's microvm (and the PC machines) provide as an ISA serial
 * port; -nographic or -serial puts it on the host.  printk() formats a
 * line into a buffer and writes it under the console lock, so lines from
 * different CPUs never interleave.  Output only: the kernel reads its
 * orders from its command line.
 *
 * Called from interrupt handlers only on the panic path, which takes the
 * lock with a bounded wait (the CPU that faulted may hold it).
 */
#include "kernel/kernel.h"
#include "kernel/x86.h"

#define COM1 0x3f8
#define UART_THR 0 /* transmit holding register (DLAB 0) */
#define UART_RBR 0 /* receive buffer register (DLAB 0), read */
#define UART_DLL 0 /* divisor latch (DLAB 1) */
#define UART_IER 1
#define UART_DLM 1
#define UART_FCR 2
#define UART_LCR 3
#define UART_MCR 4
#define UART_LSR 5
#define LSR_DR 0x01   /* a received byte waits in RBR */
#define LSR_THRE 0x20 /* transmit holding register empty */

/*
 * @console_lock serialises whole lines on the port: a ticket lock taken
 * with interrupts off (an interrupt handler never prints but on the panic
 * path, see console_lock_bounded()).
 */
static struct {
	_Atomic unsigned int next, owner;
} console_lock;

char kernel_cmdline[1024];

void console_init(void)
{
	outb(COM1 + UART_IER, 0);
	outb(COM1 + UART_LCR, 0x80); /* DLAB: the divisor follows */
	outb(COM1 + UART_DLL, 1);    /* 115200 baud */
	outb(COM1 + UART_DLM, 0);
	outb(COM1 + UART_LCR, 0x03); /* 8N1 */
	outb(COM1 + UART_FCR, 0xc7); /* FIFOs on, cleared */
	outb(COM1 + UART_MCR, 0x03); /* DTR, RTS */
}

static void uart_putc(char c)
{
	/* A real UART drains at line rate; an emulated one at once. */
	for (unsigned int i = 0; i < 100000; i++)
		if (inb(COM1 + UART_LSR) & LSR_THRE)
			break;
	outb(COM1 + UART_THR, (uint8_t)c);
}

int console_getc(void)
{
	if (!(inb(COM1 + UART_LSR) & LSR_DR))
		return -1;
	return inb(COM1 + UART_RBR);
}

void console_write(const char *s, size_t len)
{
	for (size_t i = 0; i < len; i++)
		uart_putc(s[i]);
}

static void console_lock_take(void)
{
	unsigned int me = __atomic_fetch_add(&console_lock.next, 1, __ATOMIC_ACQUIRE);

	while (__atomic_load_n(&console_lock.owner, __ATOMIC_ACQUIRE) != me)
		cpu_pause();
}

static void console_lock_release(void)
{
	__atomic_fetch_add(&console_lock.owner, 1, __ATOMIC_RELEASE);
}

void vprintk(const char *fmt, va_list ap)
{
	char line[1024];
	int n = kvsnprintf(line, sizeof(line), fmt, ap);
	bool irq;

	if (n > (int)sizeof(line) - 1)
		n = sizeof(line) - 1;
	irq = irq_save();
	console_lock_take();
	console_write(line, (size_t)n);
	console_lock_release();
	irq_restore(irq);
}

void printk(const char *fmt, ...)
{
	va_list ap;

	va_start(ap, fmt);
	vprintk(fmt, ap);
	va_end(ap);
}

/*
 * The panic path: take the console if it comes free soon, else break the
 * lock (its holder may be the CPU that faulted, or stopped).  Once the
 * machine is ending, a garbled line beats no line.  The caller keeps it
 * and prints with printk_unlocked().
 */
void console_lock_bounded(void)
{
	unsigned int me = __atomic_fetch_add(&console_lock.next, 1, __ATOMIC_ACQUIRE);

	for (unsigned long i = 0; i < 50000000ul; i++) {
		if (__atomic_load_n(&console_lock.owner, __ATOMIC_ACQUIRE) == me)
			return;
		cpu_pause();
	}
	__atomic_store_n(&console_lock.owner, me, __ATOMIC_RELEASE);
}

void printk_unlocked(const char *fmt, ...)
{
	char line[1024];
	va_list ap;
	int n;

	va_start(ap, fmt);
	n = kvsnprintf(line, sizeof(line), fmt, ap);
	va_end(ap);
	if (n > (int)sizeof(line) - 1)
		n = sizeof(line) - 1;
	console_write(line, (size_t)n);
}
