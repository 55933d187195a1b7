/*
 * fuzz_virtqueue_device.c - libFuzzer target for the device side of a
 * virtqueue, as the balloon runs it over a hostile driver's rings.
 *
 * Guest memory is 64 KiB at guest-physical GUEST_BASE, mapped from the
 * middle of a 192 KiB memfd whose first and last 64 KiB hold a sentinel:
 * whatever the rings say, the device may never discard or write outside the
 * guest, which is checked after every input.  The input is a control block,
 * then the guest's memory image (rings, descriptors, indirect tables, PFN
 * arrays, statistics, free page hints and command ids, all at once).  The
 * balloon negotiates the chosen
 * features, starts the chosen queue over the image, and is kicked and
 * polled a few times while the input rewrites avail.idx between kicks;
 * then the bare device half pops and pushes over the same image with a
 * chain buffer of chosen size.
 */
#ifndef _GNU_SOURCE
#define _GNU_SOURCE
#endif
#include <errno.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <unistd.h>

#include "host/balloon.h"
#include "host/guest_memory.h"
#include "host/virtio_device.h"
#include "virtio/virtqueue.h"

#define GUEST_BASE 0x10000u
#define GUEST_SIZE 0x10000u
#define SENTINEL 0xc3

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static int memfd = -1;
static struct guest_memory mem;
static struct balloon_dev *b;
static struct virtio_device *vdev;
static uint8_t *guest;

static void noop_notify(struct virtio_device *v, unsigned int q)
{
	(void)v;
	(void)q;
}

static void noop_config(struct virtio_device *v)
{
	(void)v;
}

static const struct virtio_transport_ops fuzz_transport = {
	.notify_used = noop_notify,
	.notify_config = noop_config,
	.wake = noop_config,
};

static void setup(void)
{
	static uint8_t s[GUEST_SIZE];
	struct guest_memory_layout l = { GUEST_BASE, GUEST_SIZE, 0, GUEST_SIZE };
	int fd;

	memfd = memfd_create("fuzz_guest", 0);
	if (memfd < 0 || ftruncate(memfd, 3 * GUEST_SIZE))
		abort();
	memset(s, SENTINEL, sizeof(s));
	if (pwrite(memfd, s, GUEST_SIZE, 0) != GUEST_SIZE ||
	    pwrite(memfd, s, GUEST_SIZE, 2 * GUEST_SIZE) != GUEST_SIZE)
		abort();
	guest_memory_init(&mem);
	fd = dup(memfd);
	if (fd < 0 || guest_memory_map(&mem, &l, &fd, 1))
		abort();
	guest = guest_memory_translate(&mem, GUEST_BASE, GUEST_SIZE, true);
	/* Hint commands too: one due at every poll, 16 KiB at most each. */
	if (balloon_create(BALLOON_FEATURES_HINTING, &b) ||
	    balloon_set_hinting(b, 1, 0x4000, 1))
		abort();
	balloon_set_stats_interval(b, 0);
	vdev = balloon_virtio_device(b);
	vdev->transport = &fuzz_transport;
	vdev->mem = &mem;
}

static void check_sentinels(void)
{
	static uint8_t s[GUEST_SIZE];
	off_t off[2] = { 0, 2 * GUEST_SIZE };

	for (int i = 0; i < 2; i++) {
		if (pread(memfd, s, GUEST_SIZE, off[i]) != GUEST_SIZE)
			abort();
		for (unsigned int j = 0; j < GUEST_SIZE; j++)
			if (s[j] != SENTINEL)
				__builtin_trap();
	}
}

struct control {
	uint8_t features; /* bit i: offer-set bit, see below */
	uint8_t queue; /* queue index */
	uint8_t num_log; /* queue size 2^(n % 7) */
	uint8_t poison; /* write a poison value when odd */
	uint8_t kicks; /* 1..4 */
	uint8_t chain_max; /* bare pop: chain buffer entries */
	uint16_t avail_idx[4]; /* avail.idx before each kick */
	uint16_t desc_off, avail_off, used_off; /* in guest memory */
	uint16_t base; /* avail_base */
};

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	static const unsigned int bits[] = {
		VIRTIO_RING_F_INDIRECT_DESC, VIRTIO_RING_F_EVENT_IDX,
		VIRTIO_BALLOON_F_STATS_VQ, VIRTIO_BALLOON_F_PAGE_POISON,
		VIRTIO_BALLOON_F_REPORTING, VIRTIO_BALLOON_F_DEFLATE_ON_OOM,
		VIRTIO_BALLOON_F_FREE_PAGE_HINT,
	};
	static struct vring_iov iov[64];
	struct virtqueue_device dev;
	struct vring_chain chain;
	struct virtqueue_config cfg;
	struct control c;
	uint64_t features = VIRTIO_FEATURE(VIRTIO_F_VERSION_1);
	unsigned int i, num, q;
	size_t img;

	if (memfd < 0)
		setup();
	if (size < sizeof(c))
		return 0;
	memcpy(&c, data, sizeof(c));
	img = size - sizeof(c) < GUEST_SIZE ? size - sizeof(c) : GUEST_SIZE;
	memset(guest, 0, GUEST_SIZE);
	memcpy(guest, data + sizeof(c), img);

	for (i = 0; i < sizeof(bits) / sizeof(bits[0]); i++)
		if (c.features & (1u << i))
			features |= VIRTIO_FEATURE(bits[i]);
	num = 1u << (c.num_log % 7);
	q = c.queue % 5;
	cfg = (struct virtqueue_config){
		.num = num,
		/* Usually sensible placement, sometimes anywhere. */
		.desc = GUEST_BASE + (c.desc_off & 0xfff0),
		.avail = GUEST_BASE + (c.avail_off & 0xfffe),
		.used = GUEST_BASE + (c.used_off & 0xfffc),
		.translate = guest_memory_translate,
		.ctx = &mem,
		.avail_base = c.base,
	};
	if (c.desc_off & 1)
		cfg.desc += 0x100000; /* outside guest memory */

	if (vdev->ops->set_features(vdev, features) == 0 &&
	    vdev->ops->queue_start(vdev, q, &cfg) == 0) {
		if (c.poison & 1) {
			uint32_t v = c.poison & 2 ? 0 : 0xaaaaaaaa;

			vdev->ops->config_write(vdev, 12, &v, 4);
		}
		for (i = 0; i < 1u + c.kicks % 4; i++) {
			struct vring_avail *avail = (void *)(guest + (cfg.avail - GUEST_BASE));

			if (c.kicks & 0x80)
				vring_store_release(&avail->idx, c.avail_idx[i]);
			/* A hint command announced (or timed out) first. */
			if (c.kicks & 0x40)
				vdev->ops->poll(vdev, (uint64_t)i << 40);
			vdev->ops->queue_notify(vdev, q);
			balloon_request_stats(b);
			vdev->ops->poll(vdev, UINT64_MAX - 1);
		}
		vdev->ops->queue_stop(vdev, q);
	}
	vdev->ops->reset(vdev);

	/* The bare device half over the same image. */
	cfg.features = features;
	if (virtqueue_device_init(&dev, &cfg) == 0) {
		chain = (struct vring_chain){
			.iov = iov,
			.max = 1u + c.chain_max % 64,
		};
		for (i = 0; i < 2 * num; i++) {
			int err = virtqueue_device_pop(&dev, &chain);

			if (err == -ENOSPC || err == -EAGAIN)
				break;
			if (err)
				break;
			if (chain.nr_out + chain.nr_in > chain.max)
				__builtin_trap();
			virtqueue_device_push(&dev, chain.head,
					      chain.nr_in ? iov[0].len : 0);
		}
		virtqueue_device_should_notify(&dev);
		virtqueue_device_enable_notify(&dev);
	}
	check_sentinels();
	return 0;
}
