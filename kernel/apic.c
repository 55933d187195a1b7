/*
 * apic.c - local APIC, IOAPIC, and the calibrated clock.
 *
 * The clock is the TSC: read on any CPU with one instruction, and the same
 * on every vCPU (TCG derives it from the host's clock; KVM keeps guests'
 * TSCs in step).  Its rate is measured once at boot against the PIT's
 * 1.193182 MHz counter, which a PC-compatible VMM provides (microvm does
 * unless started with pit=off: then we panic, saying so).  The local APIC
 * timer's rate is measured in the same 50 ms, and it runs periodically on
 * every CPU as the scheduler's tick.
 *
 * xAPIC registers through the identity map (an uncached page): microvm's
 * CPUs have no x2APIC under TCG.  Built without SSE (interrupt path).
 */
#include "kernel/apic.h"

#include "kernel/acpi.h"
#include "kernel/cpu.h"
#include "kernel/kernel.h"
#include "kernel/spin.h"
#include "kernel/x86.h"
#include "platform/platform.h"

#define LAPIC_ID 0x020
#define LAPIC_TPR 0x080
#define LAPIC_EOI 0x0b0
#define LAPIC_SVR 0x0f0
#define LAPIC_ESR 0x280
#define LAPIC_ICR_LO 0x300
#define LAPIC_ICR_HI 0x310
#define LAPIC_LVT_TIMER 0x320
#define LAPIC_LVT_LINT0 0x350
#define LAPIC_LVT_LINT1 0x360
#define LAPIC_LVT_ERROR 0x370
#define LAPIC_TIMER_INIT 0x380
#define LAPIC_TIMER_CUR 0x390
#define LAPIC_TIMER_DIV 0x3e0

#define LVT_MASKED 0x10000
#define LVT_PERIODIC 0x20000
#define LVT_NMI 0x400
#define SVR_ENABLE 0x100
#define ICR_BUSY 0x1000

#define PIT_HZ 1193182u
#define PIT_CH0 0x40
#define PIT_CMD 0x43
#define CALIBRATE_MS 50

uint64_t tsc_hz;
static uint64_t lapic_timer_hz; /* at divide-by-16 */
static uint64_t tsc_base;
static uint64_t ns_mult; /* ns = (tsc - base) * ns_mult >> 32 */
static uintptr_t lapic_base;
/* @ioapic_lock protects every IOAPIC's index/data register pair. */
static struct raw_spinlock ioapic_lock;

static uint32_t lapic_read(uint32_t reg)
{
	return mmio_read32(lapic_base + reg);
}

static void lapic_write(uint32_t reg, uint32_t v)
{
	mmio_write32(lapic_base + reg, v);
}

uint32_t lapic_id(void)
{
	return lapic_read(LAPIC_ID) >> 24;
}

void lapic_eoi(void)
{
	lapic_write(LAPIC_EOI, 0);
}

void lapic_send_ipi(uint32_t apic_id, uint32_t icr_low)
{
	bool on = irq_save();

	while (lapic_read(LAPIC_ICR_LO) & ICR_BUSY)
		cpu_pause();
	lapic_write(LAPIC_ICR_HI, apic_id << 24);
	lapic_write(LAPIC_ICR_LO, icr_low);
	while (lapic_read(LAPIC_ICR_LO) & ICR_BUSY)
		cpu_pause();
	irq_restore(on);
}

static void lapic_enable(void)
{
	lapic_write(LAPIC_TPR, 0);
	lapic_write(LAPIC_LVT_LINT0, LVT_MASKED); /* the PIC's ExtINT: unused */
	lapic_write(LAPIC_LVT_LINT1, LVT_NMI);
	lapic_write(LAPIC_LVT_ERROR, LVT_MASKED);
	lapic_write(LAPIC_LVT_TIMER, LVT_MASKED);
	lapic_write(LAPIC_SVR, SVR_ENABLE | VEC_SPURIOUS);
	lapic_write(LAPIC_ESR, 0);
	lapic_eoi();
}

static uint16_t pit_read(void)
{
	uint8_t lo, hi;

	outb(PIT_CMD, 0x00); /* latch channel 0 */
	lo = inb(PIT_CH0);
	hi = inb(PIT_CH0);
	return (uint16_t)(lo | hi << 8);
}

static void clock_calibrate(void)
{
	uint64_t want = (uint64_t)PIT_HZ * CALIBRATE_MS / 1000, elapsed = 0;
	uint64_t tsc0, tsc1;
	uint32_t apic0, apic1;
	uint16_t prev, cur;
	unsigned long reads = 0;

	/* Channel 0, lobyte/hibyte, mode 2 (rate generator), 65536. */
	outb(PIT_CMD, 0x34);
	outb(PIT_CH0, 0);
	outb(PIT_CH0, 0);
	lapic_write(LAPIC_TIMER_DIV, 0x3); /* divide by 16 */
	lapic_write(LAPIC_LVT_TIMER, LVT_MASKED);
	prev = pit_read();
	lapic_write(LAPIC_TIMER_INIT, 0xffffffff);
	apic0 = lapic_read(LAPIC_TIMER_CUR);
	tsc0 = rdtsc();
	while (elapsed < want) {
		cur = pit_read();
		/* Down-counting, reloading at 65536: the distance travelled. */
		elapsed += (uint16_t)(prev - cur);
		prev = cur;
		if (++reads > 50000000ul && elapsed == 0)
			panic("the PIT (port 0x40) does not count: no time source to calibrate against");
	}
	tsc1 = rdtsc();
	apic1 = lapic_read(LAPIC_TIMER_CUR);
	tsc_hz = (tsc1 - tsc0) * PIT_HZ / elapsed;
	lapic_timer_hz = (uint64_t)(apic0 - apic1) * PIT_HZ / elapsed;
	if (!tsc_hz || !lapic_timer_hz)
		panic("clock calibration: TSC %lu Hz, APIC timer %lu Hz",
		      tsc_hz, lapic_timer_hz);
	ns_mult = (1000000000ull << 32) / tsc_hz;
	tsc_base = tsc0;
	printk("clock: TSC %lu.%03lu MHz, local APIC timer %lu.%03lu MHz (/16), against the PIT over %u ms\n",
	       tsc_hz / 1000000, tsc_hz / 1000 % 1000,
	       lapic_timer_hz / 1000000, lapic_timer_hz / 1000 % 1000,
	       CALIBRATE_MS);
}

void apic_boot_init(void)
{
	/* The legacy PIC: every line masked, we use the IOAPIC. */
	outb(0x21, 0xff);
	outb(0xa1, 0xff);
	lapic_base = (uintptr_t)acpi.lapic_addr;
	lapic_enable();
	clock_calibrate();
}

void apic_ap_init(void)
{
	lapic_enable();
}

void apic_timer_start(unsigned int hz)
{
	lapic_write(LAPIC_TIMER_DIV, 0x3);
	lapic_write(LAPIC_LVT_TIMER, LVT_PERIODIC | VEC_TIMER);
	lapic_write(LAPIC_TIMER_INIT, (uint32_t)(lapic_timer_hz / hz));
}

uint64_t clock_now_ns(void)
{
	return (uint64_t)(((unsigned __int128)(rdtsc() - tsc_base) * ns_mult) >> 32);
}

void udelay(uint64_t us)
{
	uint64_t end = rdtsc() + tsc_hz / 1000000 * us;

	while (rdtsc() < end)
		cpu_pause();
}

static uint32_t ioapic_read(uintptr_t base, uint32_t reg)
{
	mmio_write32(base, reg);
	return mmio_read32(base + 0x10);
}

static void ioapic_write(uintptr_t base, uint32_t reg, uint32_t v)
{
	mmio_write32(base, reg);
	mmio_write32(base + 0x10, v);
}

int ioapic_route(uint32_t gsi, uint8_t vector, bool level, bool active_low,
		 uint32_t apic_id)
{
	for (unsigned int i = 0; i < acpi.nr_ioapics; i++) {
		uintptr_t base = (uintptr_t)acpi.ioapics[i].addr;
		uint32_t first = acpi.ioapics[i].gsi_base, pins;
		bool on = raw_spin_lock_irqsave(&ioapic_lock);

		pins = ((ioapic_read(base, 1) >> 16) & 0xff) + 1;
		if (gsi >= first && gsi < first + pins) {
			uint32_t pin = gsi - first;
			uint32_t lo = vector | (level ? 1u << 15 : 0) |
				      (active_low ? 1u << 13 : 0);

			ioapic_write(base, 0x10 + 2 * pin, LVT_MASKED);
			ioapic_write(base, 0x11 + 2 * pin, apic_id << 24);
			ioapic_write(base, 0x10 + 2 * pin, lo);
			raw_spin_unlock_irqrestore(&ioapic_lock, on);
			return 0;
		}
		raw_spin_unlock_irqrestore(&ioapic_lock, on);
	}
	return -GMM_EINVAL;
}
