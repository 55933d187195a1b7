/*
 * virtio_mmio.c - the virtio-mmio transport (version 2), driver side.
 *
 * Registers are 32-bit little-endian, accessed whole (the config space
 * too: 8-bit fields by byte, 16-bit by halfword, 32- and 64-bit as 32-bit
 * accesses, 4.2.2.2).  Reset is a write of 0 to Status, done when Status
 * reads 0.  A queue is configured as 4.2.3.2 says: QueueSel, QueueReady
 * must read 0, QueueNumMax bounds QueueNum, the three addresses, then
 * QueueReady 1.
 *
 * Notifications: one line per device, level-triggered on QEMU (its ISR
 * stays set until acknowledged).  The handler reads InterruptStatus and
 * writes the same bits to InterruptACK, as Linux's vm_interrupt() does,
 * then posts the events: a used-buffer bit means "look at every queue"
 * (the register does not say which), a config bit the CONFIG event.
 * Posting is lock-free (the handler runs with interrupts off and may
 * interrupt a waiter): an atomic OR of @events, a move of @seq, a wake.
 *
 * In the guest kernel this file runs in interrupt context (the handler and
 * the wake): it is built there without SSE, like the kernel's own.
 */
#include "virtio/virtio_mmio.h"

#define container_of(ptr, type, member)                                        \
	((type *)((char *)(ptr)-offsetof(type, member)))

static const struct virtio_config_ops virtio_mmio_ops;

static struct virtio_mmio *to_vm(struct virtio_transport *t)
{
	return container_of(t, struct virtio_mmio, t);
}

static uint32_t rd32(const struct virtio_mmio *vm, uint32_t off)
{
	return *(volatile uint32_t *)(vm->base + off);
}

static void wr32(const struct virtio_mmio *vm, uint32_t off, uint32_t v)
{
	*(volatile uint32_t *)(vm->base + off) = v;
}

int virtio_mmio_probe(struct virtio_mmio *vm, uintptr_t base, uint64_t phys,
		      bool polled)
{
	*vm = (struct virtio_mmio){ .base = base, .phys = phys, .polled = polled };
	if (rd32(vm, VIRTIO_MMIO_MAGIC_VALUE) != VIRTIO_MMIO_MAGIC)
		return -GMM_ENODEV;
	vm->version = rd32(vm, VIRTIO_MMIO_VERSION);
	/* A placeholder: touch no other register (4.2.2.2). */
	vm->t.device_id = rd32(vm, VIRTIO_MMIO_DEVICE_ID);
	if (!vm->t.device_id)
		return -GMM_ENODEV;
	if (vm->version != 2)
		return -GMM_EOPNOTSUPP;
	spin_lock_init(&vm->queue_lock);
	atomic_init(&vm->events, 0);
	atomic_init(&vm->seq, 0);
	atomic_init(&vm->stopped, false);
	vm->t.ops = &virtio_mmio_ops;
	return 0;
}

/* Post @ev and wake whoever waits.  Any context. */
static void vm_post(struct virtio_mmio *vm, uint32_t ev)
{
	atomic_fetch_or(&vm->events, ev);
	atomic_fetch_add(&vm->seq, 1);
	platform_wake(&vm->seq, ~0u);
}

void virtio_mmio_interrupt(struct virtio_mmio *vm)
{
	uint32_t isr = rd32(vm, VIRTIO_MMIO_INTERRUPT_STATUS);
	uint32_t ev = 0;

	isr &= VIRTIO_MMIO_INT_VRING | VIRTIO_MMIO_INT_CONFIG;
	if (!isr)
		return; /* a shared line, or spurious */
	/* Before looking at the rings: an event after this raises it again. */
	wr32(vm, VIRTIO_MMIO_INTERRUPT_ACK, isr);
	atomic_fetch_add(&vm->interrupts, 1);
	if (isr & VIRTIO_MMIO_INT_VRING)
		ev |= vm->queues;
	if (isr & VIRTIO_MMIO_INT_CONFIG) {
		ev |= VIRTIO_EVENT_CONFIG;
		atomic_fetch_add(&vm->config_changes, 1);
	}
	if (ev)
		vm_post(vm, ev);
}

static void vm_reset(struct virtio_transport *t)
{
	struct virtio_mmio *vm = to_vm(t);

	wr32(vm, VIRTIO_MMIO_STATUS, 0);
	/* Done when it reads 0 (2.4); QEMU resets within the write. */
	while (rd32(vm, VIRTIO_MMIO_STATUS))
		platform_cpu_relax(1000);
	vm->queues = 0;
	atomic_store(&vm->events, 0);
}

static uint8_t vm_get_status(struct virtio_transport *t)
{
	return (uint8_t)rd32(to_vm(t), VIRTIO_MMIO_STATUS);
}

static int vm_set_status(struct virtio_transport *t, uint8_t status)
{
	wr32(to_vm(t), VIRTIO_MMIO_STATUS, status);
	return 0;
}

static uint64_t vm_get_features(struct virtio_transport *t)
{
	struct virtio_mmio *vm = to_vm(t);
	uint64_t hi, lo;

	wr32(vm, VIRTIO_MMIO_DEVICE_FEATURES_SEL, 1);
	hi = rd32(vm, VIRTIO_MMIO_DEVICE_FEATURES);
	wr32(vm, VIRTIO_MMIO_DEVICE_FEATURES_SEL, 0);
	lo = rd32(vm, VIRTIO_MMIO_DEVICE_FEATURES);
	return hi << 32 | lo;
}

static int vm_finalize_features(struct virtio_transport *t, uint64_t features)
{
	struct virtio_mmio *vm = to_vm(t);

	if (features & ~vm_get_features(t))
		return -GMM_EINVAL;
	wr32(vm, VIRTIO_MMIO_DRIVER_FEATURES_SEL, 1);
	wr32(vm, VIRTIO_MMIO_DRIVER_FEATURES, (uint32_t)(features >> 32));
	wr32(vm, VIRTIO_MMIO_DRIVER_FEATURES_SEL, 0);
	wr32(vm, VIRTIO_MMIO_DRIVER_FEATURES, (uint32_t)features);
	return 0;
}

static uint32_t vm_generation(struct virtio_transport *t)
{
	return rd32(to_vm(t), VIRTIO_MMIO_CONFIG_GENERATION);
}

/* The config space is the rest of the window. */
static int vm_config_check(uint32_t offset, uint32_t len)
{
	if (!len || offset >= VIRTIO_MMIO_WINDOW - VIRTIO_MMIO_CONFIG ||
	    len > VIRTIO_MMIO_WINDOW - VIRTIO_MMIO_CONFIG - offset)
		return -GMM_EINVAL;
	/* Whole fields: a byte, a halfword, or 32-bit words (4.2.2.2). */
	if (len == 1 || (len == 2 && !(offset & 1)) ||
	    (!(len & 3) && !(offset & 3)))
		return 0;
	return -GMM_EINVAL;
}

static int vm_config_get(struct virtio_transport *t, uint32_t offset,
			 void *buf, uint32_t len)
{
	struct virtio_mmio *vm = to_vm(t);
	uintptr_t a = vm->base + VIRTIO_MMIO_CONFIG + offset;
	uint8_t *b = buf;
	int err = vm_config_check(offset, len);

	if (err)
		return err;
	if (len == 1) {
		b[0] = *(volatile uint8_t *)a;
	} else if (len == 2) {
		uint16_t v = *(volatile uint16_t *)a;

		b[0] = (uint8_t)v;
		b[1] = (uint8_t)(v >> 8);
	} else {
		for (uint32_t i = 0; i < len; i += 4) {
			uint32_t v = *(volatile uint32_t *)(a + i);

			b[i] = (uint8_t)v;
			b[i + 1] = (uint8_t)(v >> 8);
			b[i + 2] = (uint8_t)(v >> 16);
			b[i + 3] = (uint8_t)(v >> 24);
		}
	}
	return 0;
}

static int vm_config_set(struct virtio_transport *t, uint32_t offset,
			 const void *buf, uint32_t len)
{
	struct virtio_mmio *vm = to_vm(t);
	uintptr_t a = vm->base + VIRTIO_MMIO_CONFIG + offset;
	const uint8_t *b = buf;
	int err = vm_config_check(offset, len);

	if (err)
		return err;
	if (len == 1) {
		*(volatile uint8_t *)a = b[0];
	} else if (len == 2) {
		*(volatile uint16_t *)a = (uint16_t)(b[0] | b[1] << 8);
	} else {
		for (uint32_t i = 0; i < len; i += 4)
			*(volatile uint32_t *)(a + i) =
				(uint32_t)b[i] | (uint32_t)b[i + 1] << 8 |
				(uint32_t)b[i + 2] << 16 | (uint32_t)b[i + 3] << 24;
	}
	return 0;
}

static unsigned int vm_queue_max(struct virtio_transport *t, unsigned int q)
{
	struct virtio_mmio *vm = to_vm(t);
	unsigned int max;

	spin_lock(&vm->queue_lock);
	wr32(vm, VIRTIO_MMIO_QUEUE_SEL, q);
	max = rd32(vm, VIRTIO_MMIO_QUEUE_NUM_MAX);
	spin_unlock(&vm->queue_lock);
	return max;
}

static int vm_queue_setup(struct virtio_transport *t, unsigned int q,
			  const struct virtqueue_config *cfg)
{
	struct virtio_mmio *vm = to_vm(t);
	int err = 0;

	if (q >= VIRTIO_EVENT_MAX_QUEUES)
		return -GMM_ERANGE;
	spin_lock(&vm->queue_lock);
	wr32(vm, VIRTIO_MMIO_QUEUE_SEL, q);
	if (rd32(vm, VIRTIO_MMIO_QUEUE_READY)) {
		err = -GMM_EBUSY;
	} else if (cfg->num > rd32(vm, VIRTIO_MMIO_QUEUE_NUM_MAX)) {
		/* QueueNumMax 0: no such queue. */
		err = -GMM_EINVAL;
	} else {
		wr32(vm, VIRTIO_MMIO_QUEUE_NUM, cfg->num);
		wr32(vm, VIRTIO_MMIO_QUEUE_DESC_LOW, (uint32_t)cfg->desc);
		wr32(vm, VIRTIO_MMIO_QUEUE_DESC_HIGH, (uint32_t)(cfg->desc >> 32));
		wr32(vm, VIRTIO_MMIO_QUEUE_AVAIL_LOW, (uint32_t)cfg->avail);
		wr32(vm, VIRTIO_MMIO_QUEUE_AVAIL_HIGH, (uint32_t)(cfg->avail >> 32));
		wr32(vm, VIRTIO_MMIO_QUEUE_USED_LOW, (uint32_t)cfg->used);
		wr32(vm, VIRTIO_MMIO_QUEUE_USED_HIGH, (uint32_t)(cfg->used >> 32));
		wr32(vm, VIRTIO_MMIO_QUEUE_READY, 1);
		if (!rd32(vm, VIRTIO_MMIO_QUEUE_READY))
			err = -GMM_EIO; /* the device refused the queue */
		else
			vm->queues |= VIRTIO_EVENT_QUEUE(q);
	}
	spin_unlock(&vm->queue_lock);
	return err;
}

static int vm_notify(struct virtio_transport *t, unsigned int q)
{
	struct virtio_mmio *vm = to_vm(t);

	if (q >= VIRTIO_EVENT_MAX_QUEUES || !(vm->queues & VIRTIO_EVENT_QUEUE(q)))
		return -GMM_EINVAL;
	wr32(vm, VIRTIO_MMIO_QUEUE_NOTIFY, q);
	return 0;
}

/* Take the events of @mask that are pending; 0 when none is. */
static uint32_t vm_take(struct virtio_mmio *vm, uint32_t mask)
{
	unsigned int ev = atomic_load(&vm->events);

	while (ev & mask)
		if (atomic_compare_exchange_weak(&vm->events, &ev, ev & ~mask))
			return ev & mask;
	return 0;
}

static int vm_wait(struct virtio_transport *t, uint32_t mask, int timeout_ms,
		   uint32_t *events)
{
	struct virtio_mmio *vm = to_vm(t);
	uint64_t deadline = timeout_ms < 0
				    ? 0
				    : platform_now_ns() + (uint64_t)timeout_ms * 1000000u;

	for (;;) {
		unsigned int seq = atomic_load(&vm->seq);
		uint64_t until = deadline;

		if (atomic_load(&vm->stopped))
			return -GMM_ESHUTDOWN;
		*events = vm_take(vm, mask);
		if (*events)
			return 0;
		if (deadline && platform_now_ns() >= deadline)
			return -GMM_ETIMEDOUT;
		if (vm->polled) {
			/* No line: look again soon, telling every waiter to
			 * look at its rings and config (spurious is allowed). */
			uint64_t poll = platform_now_ns() +
					VIRTIO_MMIO_POLL_MS * 1000000ull;

			if (!until || poll < until)
				until = poll;
			platform_park_until(&vm->seq, seq, until);
			if (platform_now_ns() >= poll)
				atomic_fetch_or(&vm->events,
						vm->queues | VIRTIO_EVENT_CONFIG);
			continue;
		}
		if (until)
			platform_park_until(&vm->seq, seq, until);
		else
			platform_park(&vm->seq, seq);
	}
}

static void vm_stop(struct virtio_transport *t)
{
	struct virtio_mmio *vm = to_vm(t);

	atomic_store(&vm->stopped, true);
	atomic_fetch_add(&vm->seq, 1);
	platform_wake(&vm->seq, ~0u);
}

static const struct virtio_config_ops virtio_mmio_ops = {
	.reset = vm_reset,
	.get_status = vm_get_status,
	.set_status = vm_set_status,
	.get_features = vm_get_features,
	.finalize_features = vm_finalize_features,
	.generation = vm_generation,
	.config_get = vm_config_get,
	.config_set = vm_config_set,
	.queue_max = vm_queue_max,
	.queue_setup = vm_queue_setup,
	.notify = vm_notify,
	.wait = vm_wait,
	.stop = vm_stop,
};
