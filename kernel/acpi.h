/*
 * acpi.h - what the kernel reads from the firmware's ACPI tables: the CPUs
 * and interrupt controllers (MADT), and the virtio-mmio devices with their
 * interrupt lines (DSDT).
 */
#ifndef GUESTMM_KERNEL_ACPI_H
#define GUESTMM_KERNEL_ACPI_H

#include <stdbool.h>
#include <stdint.h>

#define ACPI_MAX_IOAPICS 4
#define ACPI_MAX_MMIO_DEVS 32

struct acpi_ioapic {
	uint8_t id;
	uint64_t addr;
	uint32_t gsi_base;
};

/* A virtio-mmio window the DSDT names (_HID LNRO0005), and its line. */
struct acpi_mmio_dev {
	uint64_t base;
	uint32_t size;
	uint32_t gsi;
	bool level;	  /* level-triggered (else edge) */
	bool active_low;
};

struct acpi_info {
	bool found;		 /* an RSDP with valid tables */
	uint64_t lapic_addr;
	unsigned int nr_cpus;
	uint32_t apic_ids[64];	 /* enabled processors, MADT order */
	unsigned int nr_ioapics;
	struct acpi_ioapic ioapics[ACPI_MAX_IOAPICS];
	/* ISA IRQ -> GSI (MADT interrupt source overrides); identity else. */
	uint32_t isa_gsi[16];
	unsigned int nr_mmio;
	struct acpi_mmio_dev mmio[ACPI_MAX_MMIO_DEVS];
};

extern struct acpi_info acpi;

/*
 * acpi_init - read the tables from the RSDP at @rsdp_pa (0: none, then
 * the CPUs and controllers are the PC defaults: one CPU, the APIC at
 * 0xfee00000, one IOAPIC at 0xfec00000) and print what was found.
 */
void acpi_init(uint64_t rsdp_pa);

#endif
