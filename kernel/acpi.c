/*
 * acpi.c - the ACPI tables a PVH kernel gets (ACPI 6.x, the RSDP address
 * in the start info): XSDT (or RSDT) -> MADT for the processors' local
 * APIC ids, the IOAPICs and the ISA overrides; FADT -> DSDT for the
 * virtio-mmio devices.
 *
 * We interpret no AML.  QEMU's microvm describes each virtio-mmio window
 * as a Device with _HID "LNRO0005" whose _CRS is a ResourceTemplate of a
 * Memory32Fixed descriptor (the window) followed by an Extended Interrupt
 * descriptor (its GSI, level, active high); we find those descriptor pairs
 * in the DSDT's bytes after each "LNRO0005".  A table with a bad checksum
 * is ignored with a line saying so.
 */
#include "kernel/acpi.h"

#include "kernel/kernel.h"
#include "kernel/memory.h"

struct acpi_info acpi;

struct acpi_header {
	char sig[4];
	uint32_t length;
	uint8_t revision;
	uint8_t checksum;
	char oem[6];
	char oem_table[8];
	uint32_t oem_revision;
	uint32_t creator;
	uint32_t creator_revision;
} __attribute__((packed));
_Static_assert(sizeof(struct acpi_header) == 36, "ACPI table header");

static bool checksum_ok(const void *p, uint32_t len)
{
	const uint8_t *b = p;
	uint8_t sum = 0;

	for (uint32_t i = 0; i < len; i++)
		sum += b[i];
	return sum == 0;
}

static const struct acpi_header *table_at(uint64_t pa)
{
	const struct acpi_header *h = phys_to_virt(pa);

	if (!pa || pa >= mem_direct_map_end)
		return NULL;
	if (h->length < sizeof(*h) || !checksum_ok(h, h->length)) {
		printk("acpi: table at %#lx: bad length or checksum, ignored\n", pa);
		return NULL;
	}
	return h;
}

static uint32_t rd32(const uint8_t *p)
{
	return p[0] | (uint32_t)p[1] << 8 | (uint32_t)p[2] << 16 |
	       (uint32_t)p[3] << 24;
}

static uint64_t rd64(const uint8_t *p)
{
	return rd32(p) | (uint64_t)rd32(p + 4) << 32;
}

static void madt_parse(const struct acpi_header *h)
{
	const uint8_t *p = (const uint8_t *)h;
	uint32_t off = sizeof(*h) + 8;

	acpi.lapic_addr = rd32(p + sizeof(*h));
	while (off + 2 <= h->length) {
		uint8_t type = p[off], len = p[off + 1];

		if (len < 2 || off + len > h->length)
			break;
		switch (type) {
		case 0: /* Processor Local APIC */
			if (len >= 8 && (rd32(p + off + 4) & 1) &&
			    acpi.nr_cpus < ARRAY_SIZE(acpi.apic_ids))
				acpi.apic_ids[acpi.nr_cpus++] = p[off + 3];
			break;
		case 1: /* I/O APIC */
			if (len >= 12 && acpi.nr_ioapics < ACPI_MAX_IOAPICS) {
				struct acpi_ioapic *io = &acpi.ioapics[acpi.nr_ioapics++];

				io->id = p[off + 2];
				io->addr = rd32(p + off + 4);
				io->gsi_base = rd32(p + off + 8);
			}
			break;
		case 2: /* Interrupt Source Override */
			if (len >= 10 && p[off + 3] < 16)
				acpi.isa_gsi[p[off + 3]] = rd32(p + off + 4);
			break;
		case 5: /* Local APIC Address Override */
			if (len >= 12)
				acpi.lapic_addr = rd64(p + off + 4);
			break;
		case 9: /* Processor Local x2APIC */
			if (len >= 16 && (rd32(p + off + 8) & 1) &&
			    acpi.nr_cpus < ARRAY_SIZE(acpi.apic_ids))
				acpi.apic_ids[acpi.nr_cpus++] = rd32(p + off + 4);
			break;
		}
		off += len;
	}
}

static void dsdt_parse(const struct acpi_header *h)
{
	const uint8_t *p = (const uint8_t *)h;
	uint32_t n = h->length;

	for (uint32_t i = sizeof(*h); i + 8 <= n; i++) {
		uint32_t end;

		if (memcmp(p + i, "LNRO0005", 8))
			continue;
		/* The device's _CRS follows its _HID: the next Memory32Fixed
		 * (0x86, length 9) and the Extended Interrupt after it (0x89). */
		end = i + 256 < n ? i + 256 : n;
		for (uint32_t j = i + 8; j + 12 <= end; j++) {
			struct acpi_mmio_dev d = { 0 };
			uint32_t k = j + 12;

			if (p[j] != 0x86 || p[j + 1] != 9 || p[j + 2] != 0)
				continue;
			d.base = rd32(p + j + 4);
			d.size = rd32(p + j + 8);
			if (k + 9 > n || p[k] != 0x89 || p[k + 4] < 1)
				break;
			d.level = !(p[k + 3] & 2);
			d.active_low = p[k + 3] & 4;
			d.gsi = rd32(p + k + 5);
			if (acpi.nr_mmio < ACPI_MAX_MMIO_DEVS)
				acpi.mmio[acpi.nr_mmio++] = d;
			i = k;
			break;
		}
	}
}

void acpi_init(uint64_t rsdp_pa)
{
	const uint8_t *rsdp = phys_to_virt(rsdp_pa);
	const struct acpi_header *root, *fadt = NULL, *madt = NULL;
	unsigned int entry_size;

	for (unsigned int i = 0; i < 16; i++)
		acpi.isa_gsi[i] = i;
	if (!rsdp_pa || memcmp(rsdp, "RSD PTR ", 8) || !checksum_ok(rsdp, 20)) {
		printk("acpi: no RSDP from the VMM: one CPU, the PC's interrupt controllers\n");
		goto defaults;
	}
	if (rsdp[15] >= 2 && rd64(rsdp + 24)) {
		root = table_at(rd64(rsdp + 24)); /* XSDT */
		entry_size = 8;
	} else {
		root = table_at(rd32(rsdp + 16)); /* RSDT */
		entry_size = 4;
	}
	if (!root)
		goto defaults;
	for (uint32_t off = sizeof(*root); off + entry_size <= root->length;
	     off += entry_size) {
		const uint8_t *e = (const uint8_t *)root + off;
		const struct acpi_header *t =
			table_at(entry_size == 8 ? rd64(e) : rd32(e));

		if (t && !memcmp(t->sig, "APIC", 4))
			madt = t;
		if (t && !memcmp(t->sig, "FACP", 4))
			fadt = t;
	}
	if (madt)
		madt_parse(madt);
	if (fadt) {
		const uint8_t *f = (const uint8_t *)fadt;
		uint64_t dsdt = fadt->length >= 148 ? rd64(f + 140) : 0;
		const struct acpi_header *d;

		if (!dsdt)
			dsdt = rd32(f + 40);
		d = table_at(dsdt);
		if (d && !memcmp(d->sig, "DSDT", 4))
			dsdt_parse(d);
	}
	acpi.found = true;
	printk("acpi: RSDP %#lx revision %u, %s, MADT %s, DSDT %s\n", rsdp_pa,
	       rsdp[15], entry_size == 8 ? "XSDT" : "RSDT",
	       madt ? "found" : "missing", fadt ? "found" : "missing");
	for (unsigned int i = 0; i < acpi.nr_ioapics; i++)
		printk("acpi: IOAPIC id %u at %#lx, GSIs from %u\n",
		       acpi.ioapics[i].id, acpi.ioapics[i].addr,
		       acpi.ioapics[i].gsi_base);
	for (unsigned int i = 0; i < acpi.nr_mmio; i++)
		printk("acpi: virtio-mmio window %#lx (%#x bytes), GSI %u %s %s\n",
		       acpi.mmio[i].base, acpi.mmio[i].size, acpi.mmio[i].gsi,
		       acpi.mmio[i].level ? "level" : "edge",
		       acpi.mmio[i].active_low ? "active-low" : "active-high");
	if (!acpi.nr_cpus || !acpi.nr_ioapics)
		goto defaults;
	return;

defaults:
	if (!acpi.lapic_addr)
		acpi.lapic_addr = 0xfee00000;
	if (!acpi.nr_cpus)
		acpi.apic_ids[acpi.nr_cpus++] = 0;
	if (!acpi.nr_ioapics)
		acpi.ioapics[acpi.nr_ioapics++] =
			(struct acpi_ioapic){ 0, 0xfec00000, 0 };
}
