/*
 * virtio_mmio.h - the virtio-mmio transport, version 2 (virtio 1.2, 4.2),
 * driver side: a device behind a 0x200-byte register window, as QEMU's
 * microvm (virtio-mmio windows at 0xfeb00000 + 0x200 * i), firecracker
 * and cloud-hypervisor place them.  It implements struct virtio_config_ops
 * (virtio_transport.h), so the one balloon driver runs over it unchanged.
 *
 * Who finds the windows and their interrupt lines is the embedding's
 * business (the guest kernel reads them from ACPI, kernel/acpi.c); this
 * file only needs the window mapped and, for notifications, that the
 * embedding calls virtio_mmio_interrupt() from the line's handler.  A
 * device without a line is polled instead.
 *
 * Legacy devices (Version 1, QEMU's default unless started with
 * -global virtio-mmio.force-legacy=false) are refused: the modern layout
 * only.
 */
#ifndef GUESTMM_VIRTIO_VIRTIO_MMIO_H
#define GUESTMM_VIRTIO_VIRTIO_MMIO_H

#include <stdatomic.h>
#include <stdbool.h>
#include <stdint.h>

#include "platform/platform.h"
#include "virtio/virtio_transport.h"

/* Register offsets (virtio 1.2, 4.2.2; Linux's virtio_mmio.h names). */
#define VIRTIO_MMIO_MAGIC_VALUE 0x000
#define VIRTIO_MMIO_VERSION 0x004
#define VIRTIO_MMIO_DEVICE_ID 0x008
#define VIRTIO_MMIO_VENDOR_ID 0x00c
#define VIRTIO_MMIO_DEVICE_FEATURES 0x010
#define VIRTIO_MMIO_DEVICE_FEATURES_SEL 0x014
#define VIRTIO_MMIO_DRIVER_FEATURES 0x020
#define VIRTIO_MMIO_DRIVER_FEATURES_SEL 0x024
#define VIRTIO_MMIO_QUEUE_SEL 0x030
#define VIRTIO_MMIO_QUEUE_NUM_MAX 0x034
#define VIRTIO_MMIO_QUEUE_NUM 0x038
#define VIRTIO_MMIO_QUEUE_READY 0x044
#define VIRTIO_MMIO_QUEUE_NOTIFY 0x050
#define VIRTIO_MMIO_INTERRUPT_STATUS 0x060
#define VIRTIO_MMIO_INTERRUPT_ACK 0x064
#define VIRTIO_MMIO_STATUS 0x070
#define VIRTIO_MMIO_QUEUE_DESC_LOW 0x080
#define VIRTIO_MMIO_QUEUE_DESC_HIGH 0x084
#define VIRTIO_MMIO_QUEUE_AVAIL_LOW 0x090
#define VIRTIO_MMIO_QUEUE_AVAIL_HIGH 0x094
#define VIRTIO_MMIO_QUEUE_USED_LOW 0x0a0
#define VIRTIO_MMIO_QUEUE_USED_HIGH 0x0a4
#define VIRTIO_MMIO_CONFIG_GENERATION 0x0fc
#define VIRTIO_MMIO_CONFIG 0x100
#define VIRTIO_MMIO_WINDOW 0x200

#define VIRTIO_MMIO_MAGIC 0x74726976 /* "virt", little-endian */
#define VIRTIO_MMIO_INT_VRING 0x1
#define VIRTIO_MMIO_INT_CONFIG 0x2

/* Without an interrupt line, wait() looks at the device this often. */
#define VIRTIO_MMIO_POLL_MS 10

/*
 * One device.  @events are the notifications not yet taken by a wait(),
 * set by the interrupt (or the poll) and taken with a compare-and-swap;
 * @seq moves at every post and at stop(), and waiters park on it, so a
 * post between a waiter's look at @events and its park is not lost.
 * @queue_lock serialises the QueueSel register's users (queue_max(),
 * queue_setup()); every other register access is one access.
 */
struct virtio_mmio {
	struct virtio_transport t;
	uintptr_t base;	     /* the window, mapped uncached */
	uint64_t phys;	     /* its guest-physical address */
	uint32_t version;
	bool polled;	     /* no interrupt line */
	atomic_uint events;
	atomic_uint seq;
	atomic_bool stopped;
	uint32_t queues;     /* VIRTIO_EVENT_QUEUE() bits of the queues set up */
	struct spinlock queue_lock;
	atomic_uint_fast64_t interrupts;     /* handled, with a status bit */
	atomic_uint_fast64_t config_changes;
};

/*
 * virtio_mmio_probe - look at the window mapped at @base (guest-physical
 * @phys) and, if a modern device is there, make @vm its transport.
 * @polled: no interrupt line will call virtio_mmio_interrupt().
 * Return: 0; -GMM_ENODEV when the window is empty (device ID 0) or is no
 * virtio-mmio window (bad magic); -GMM_EOPNOTSUPP for a legacy (version 1)
 * device.
 */
int virtio_mmio_probe(struct virtio_mmio *vm, uintptr_t base, uint64_t phys,
		      bool polled);

/*
 * The device's interrupt: read InterruptStatus, acknowledge it, post the
 * events (used buffers: every queue set up; config change) and wake the
 * waiters.  From the line's handler, interrupts off.
 */
void virtio_mmio_interrupt(struct virtio_mmio *vm);

#endif
