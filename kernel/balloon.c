/*
 * balloon.c - the guest kernel's virtio-balloon.  The windows come from
 * the DSDT (each with its GSI, level-triggered on microvm); the line goes
 * through the IOAPIC to the boot CPU, and its handler is the transport's
 * virtio_mmio_interrupt().  The driver thread runs on the last CPU, where
 * the workload's thread 0 does not.
 *
 * The driver hands the device guest-physical addresses: mm/'s frame p is
 * mm_phys_base + p * 4 KiB (kernel/memory.h), so ram_gpa is mm_phys_base.
 */
#include "kernel/balloon.h"

#include "guest/balloon_driver.h"
#include "kernel/acpi.h"
#include "kernel/apic.h"
#include "kernel/cpu.h"
#include "kernel/kernel.h"
#include "kernel/memory.h"
#include "kernel/sched.h"
#include "mm/page_reporting.h"
#include "platform/platform.h"
#include "virtio/virtio_balloon.h"
#include "virtio/virtio_mmio.h"

/* microvm's windows when there is no ACPI to name them. */
#define MICROVM_MMIO_BASE 0xfeb00000ull
#define MICROVM_MMIO_WINDOWS 24

static struct {
	struct kballoon_config cfg;
	struct virtio_mmio vm;
	struct balloon_driver *bd;
	struct thread *thread;
	struct page_reporting_dev_info *prdev; /* registered, or NULL */
} kb;

static void kb_irq(void *arg)
{
	virtio_mmio_interrupt(arg);
}

static int kb_set_reporting(void *ctx, struct page_reporting_dev_info *prdev)
{
	int (*report)(struct page_reporting_dev_info *, struct scatterlist *,
		      unsigned int);
	int err;

	(void)ctx;
	if (!prdev) {
		if (kb.prdev)
			page_reporting_unregister(kb.prdev);
		kb.prdev = NULL;
		return 0;
	}
	if (!kb.cfg.reporting)
		return 0;
	report = prdev->report;
	page_reporting_dev_info_init(prdev);
	prdev->report = report;
	prdev->order = kb.cfg.order;
	prdev->capacity = kb.cfg.capacity;
	prdev->hwm = kb.cfg.hwm;
	prdev->delay_ms = kb.cfg.delay_ms;
	prdev->min_age_ms = kb.cfg.min_age_ms == ~0u ? kb.cfg.delay_ms / 2
						     : kb.cfg.min_age_ms;
	err = page_reporting_register(kernel_pgdat, prdev);
	if (!err)
		kb.prdev = prdev;
	return err;
}

static void kb_thread(void *arg)
{
	int err = balloon_driver_run(arg);

	if (err)
		printk("balloon: the driver ended: %d\n", err);
}

/* Probe @base; 0 with kb.vm the balloon's transport. */
static int kb_probe_window(uint64_t base, bool polled)
{
	int err = virtio_mmio_probe(&kb.vm, (uintptr_t)base, base, polled);

	if (err == -GMM_EOPNOTSUPP)
		printk("balloon: virtio-mmio %#lx: device %u is legacy (version %u): not driven (QEMU: -global virtio-mmio.force-legacy=false)\n",
		       base, kb.vm.t.device_id, kb.vm.version);
	if (err)
		return err;
	return kb.vm.t.device_id == VIRTIO_ID_BALLOON ? 0 : -GMM_ENODEV;
}

static int kb_find(void)
{
	int legacy = 0;

	for (unsigned int i = 0; i < acpi.nr_mmio; i++) {
		const struct acpi_mmio_dev *d = &acpi.mmio[i];
		int err = kb_probe_window(d->base, false);

		if (err == -GMM_EOPNOTSUPP)
			legacy = err;
		if (err)
			continue;
		err = irq_set_handler(d->gsi, kb_irq, &kb.vm);
		if (!err)
			err = ioapic_route(d->gsi, (uint8_t)(VEC_IRQ_BASE + d->gsi),
					   d->level, d->active_low, cpus[0]->apic_id);
		if (err) {
			printk("balloon: GSI %u cannot be routed (%d): polled\n",
			       d->gsi, err);
			kb.vm.polled = true;
		}
		printk("balloon: virtio-mmio %#lx version 2, GSI %u\n", d->base,
		       d->gsi);
		return 0;
	}
	if (acpi.nr_mmio)
		return legacy ? legacy : -GMM_ENODEV;
	/* No ACPI names: look at every window microvm may fill, polled. */
	for (unsigned int i = 0; i < MICROVM_MMIO_WINDOWS; i++) {
		uint64_t base = MICROVM_MMIO_BASE + 0x200ull * i;
		int err = kb_probe_window(base, true);

		if (err == -GMM_EOPNOTSUPP)
			legacy = err;
		if (!err) {
			printk("balloon: virtio-mmio %#lx version 2, no line: polled every %u ms\n",
			       base, VIRTIO_MMIO_POLL_MS);
			return 0;
		}
	}
	return legacy ? legacy : -GMM_ENODEV;
}

int kballoon_start(const struct kballoon_config *cfg)
{
	struct balloon_driver_env env = {
		.pgdat = kernel_pgdat,
		.ram_gpa = mm_phys_base,
		.mem_bytes = mm_phys_end - mm_phys_base,
		.reporting = cfg->reporting,
		.set_reporting = kb_set_reporting,
		/*
		 * Free frames keep mm/'s poison: negotiate PAGE_POISON and
		 * write it (the byte in every byte of the word, as Linux),
		 * so a device discards reported frames only when the poison
		 * is 0 - QEMU's virtio_balloon_handle_report() skips
		 * ram_block_discard_range() while poison_val != 0 - and do
		 * not report to a device that cannot be told.
		 */
		.poison = kernel_pgdat->page_poison,
		.poison_val = kernel_pgdat->page_poison_val * 0x01010101u,
	};
	struct balloon_driver_stats st;
	int err;

	kb.cfg = *cfg;
	err = kb_find();
	if (err) {
		if (err == -GMM_ENODEV)
			printk("balloon: no virtio-balloon device: memory is not given back\n");
		return err;
	}
	err = balloon_driver_probe(&env, &kb.vm.t, &kb.bd);
	if (err) {
		printk("balloon: the driver's probe failed: %d\n", err);
		return err;
	}
	kb.thread = thread_create("balloon", kb_thread, kb.bd, nr_cpus - 1);
	if (!kb.thread) {
		balloon_driver_shutdown(kb.bd);
		balloon_driver_remove(kb.bd);
		kb.bd = NULL;
		return -GMM_ENOMEM;
	}
	balloon_driver_get_stats(kb.bd, &st);
	printk("balloon: features offered %#lx, negotiated %#lx, queues of %u, reporting %s\n",
	       st.offered, st.features, st.queue_num,
	       balloon_driver_reporting(kb.bd) ? "on" : "off");
	return 0;
}

struct balloon_driver *kballoon_driver(void)
{
	return kb.bd;
}

void kballoon_stop(void)
{
	if (!kb.bd)
		return;
	balloon_driver_shutdown(kb.bd);
	thread_join(kb.thread);
	balloon_driver_remove(kb.bd);
	kb.bd = NULL;
}
