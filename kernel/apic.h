/*
 * apic.h - the local APIC (timer, IPIs, EOI), the IOAPIC (device lines),
 * and the clock: the TSC, calibrated against the PIT at boot.
 */
#ifndef GUESTMM_KERNEL_APIC_H
#define GUESTMM_KERNEL_APIC_H

#include <stdbool.h>
#include <stdint.h>

/*
 * Mask the legacy PIC, calibrate the TSC and the local APIC timer against
 * the PIT (50 ms), enable this CPU's local APIC.  Boot CPU, once.
 * Panics when the PIT does not count (no time source).
 */
void apic_boot_init(void);
/* Enable the calling AP's local APIC (the boot CPU's calibration holds). */
void apic_ap_init(void);
/* Start this CPU's periodic tick at @hz. */
void apic_timer_start(unsigned int hz);
uint32_t lapic_id(void);
void lapic_eoi(void);

#define ICR_INIT 0x00000500
#define ICR_STARTUP 0x00000600
#define ICR_NMI 0x00000400
#define ICR_LEVEL_ASSERT 0x00004000
#define ICR_ALL_BUT_SELF 0x000c0000
/* Send an IPI: @icr_low's mode and vector to @apic_id (or a shorthand). */
void lapic_send_ipi(uint32_t apic_id, uint32_t icr_low);

/*
 * Route GSI @gsi to vector @vector on the CPU with @apic_id, unmasked.
 * Return: 0; -GMM_EINVAL when no IOAPIC has that input.
 */
int ioapic_route(uint32_t gsi, uint8_t vector, bool level, bool active_low,
		 uint32_t apic_id);

/* Nanoseconds since the clock was calibrated (the TSC, scaled). */
uint64_t clock_now_ns(void);
/* TSC ticks per second, as calibrated. */
extern uint64_t tsc_hz;
/* Busy-wait @us microseconds (the SMP start-up's INIT and SIPI waits). */
void udelay(uint64_t us);

#endif
