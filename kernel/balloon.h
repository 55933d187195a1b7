/*
 * balloon.h - the guest kernel's virtio-balloon: QEMU's device behind a
 * virtio-mmio window (virtio/virtio_mmio.c), driven by the one balloon
 * driver (guest/balloon_driver.c) on a kernel thread of its own.
 */
#ifndef GUESTMM_KERNEL_BALLOON_H
#define GUESTMM_KERNEL_BALLOON_H

#include <stdbool.h>
#include <stdint.h>

struct balloon_driver;
struct page_reporting_dev_info;

/* How the free memory goes back, from the command line. */
struct kballoon_config {
	bool reporting; /* register as the reporting device */
	unsigned int order, capacity, hwm, delay_ms, min_age_ms;
};

/*
 * kballoon_start - find the virtio-balloon among the virtio-mmio windows
 * ACPI names (or, without ACPI, the windows microvm places at
 * 0xfeb00000 + 0x200 * i, polled), route its line, probe the driver and
 * start its thread.  Prints what it found and what it negotiated.
 * Return: 0; -GMM_ENODEV when there is no balloon (the kernel runs
 * without one); -GMM_EOPNOTSUPP for a legacy (version 1) device; the
 * driver's probe errors.
 */
int kballoon_start(const struct kballoon_config *cfg);

/* The driver, once kballoon_start() succeeded; else NULL. */
struct balloon_driver *kballoon_driver(void);

/* Stop the driver thread and reset the device (before the machine ends). */
void kballoon_stop(void);

#endif
