/*
 * test_balloon.c - the virtio-balloon device model, driven by the virtqueue
 * driver half over a guest memory backed by a memfd.
 *
 * The memfd is larger than the guest: the region maps file bytes
 * [1 MiB, 9 MiB) at guest-physical GUEST_BASE, and the first and last MiB of
 * the file hold a sentinel pattern that no guest request may touch.  What
 * counts as memory given back is the memfd's st_blocks, as on a real host.
 * A fake transport counts the notifications the device sends.  Hostile
 * rings are written by hand into the same memory.
 */
#ifndef _GNU_SOURCE
#define _GNU_SOURCE
#endif
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <cmocka.h>

#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <unistd.h>

#include "host/balloon.h"
#include "host/guest_memory.h"
#include "host/virtio_device.h"
#include "platform/platform.h"
#include "virtio/virtqueue.h"

#define MIB (1024u * 1024u)
#define FILE_SIZE (10u * MIB)
#define REGION_OFFSET (1u * MIB)
#define GUEST_SIZE (8u * MIB)
#define GUEST_BASE 0x40000000u /* guest-physical */
#define DATA_BASE (GUEST_BASE + 2u * MIB) /* where reportable pages live */
#define SENTINEL 0x5a
#define QNUM 64

#define F(bit) VIRTIO_FEATURE(bit)
#define ALL_BALLOON                                                            \
	(F(VIRTIO_F_VERSION_1) | F(VIRTIO_BALLOON_F_STATS_VQ) |                \
	 F(VIRTIO_BALLOON_F_DEFLATE_ON_OOM) | F(VIRTIO_BALLOON_F_PAGE_POISON) | \
	 F(VIRTIO_BALLOON_F_REPORTING))

struct fx_queue {
	struct virtqueue_config cfg;
	struct virtqueue vq;
	struct virtqueue_desc_state state[QNUM];
	bool live;
};

struct fx {
	int memfd;
	struct guest_memory mem;
	struct balloon_dev *b;
	struct virtio_device *vdev;
	uint64_t brk; /* ring allocator, guest-physical */
	struct fx_queue q[5];
	unsigned int used_notifies[5];
	unsigned int config_notifies;
	unsigned int wakes;
	uint64_t hint_slot; /* a page for command id buffers */
};

static void fx_notify_used(struct virtio_device *vdev, unsigned int q)
{
	struct fx *fx = vdev->transport_priv;

	assert_true(q < 5);
	fx->used_notifies[q]++;
}

static void fx_notify_config(struct virtio_device *vdev)
{
	((struct fx *)vdev->transport_priv)->config_notifies++;
}

static void fx_wake(struct virtio_device *vdev)
{
	((struct fx *)vdev->transport_priv)->wakes++;
}

static const struct virtio_transport_ops fx_transport = {
	.notify_used = fx_notify_used,
	.notify_config = fx_notify_config,
	.wake = fx_wake,
};

static uint8_t *gptr(struct fx *fx, uint64_t gpa, uint64_t len)
{
	uint8_t *p = guest_memory_translate(&fx->mem, gpa, len, true);

	assert_non_null(p);
	return p;
}

static uint64_t fx_alloc(struct fx *fx, uint64_t size, uint64_t align)
{
	uint64_t gpa = (fx->brk + align - 1) & ~(align - 1);

	fx->brk = gpa + size;
	assert_true(fx->brk <= DATA_BASE);
	return gpa;
}

static uint64_t file_bytes(struct fx *fx)
{
	struct stat st;

	assert_int_equal(fstat(fx->memfd, &st), 0);
	return (uint64_t)st.st_blocks * 512;
}

static void check_sentinels(struct fx *fx)
{
	static uint8_t buf[MIB];
	uint64_t off[2] = { 0, FILE_SIZE - MIB };

	for (int i = 0; i < 2; i++) {
		assert_int_equal(pread(fx->memfd, buf, MIB, (off_t)off[i]), MIB);
		for (unsigned int j = 0; j < MIB; j += 4096)
			if (buf[j] != SENTINEL)
				fail_msg("file byte %#lx outside the guest changed",
					 (unsigned long)(off[i] + j));
	}
}

/* Start queue @q with the driver half and the device half over it. */
static void fx_start_queue(struct fx *fx, unsigned int q, uint64_t features,
			   unsigned int indirect_max)
{
	struct fx_queue *fq = &fx->q[q];
	uint64_t desc = fx_alloc(fx, vring_desc_size(QNUM) +
					     vring_avail_size(QNUM), 4096);

	fq->cfg = (struct virtqueue_config){
		.num = QNUM,
		.features = features,
		.desc = desc,
		.avail = desc + vring_desc_size(QNUM),
		.used = fx_alloc(fx, vring_used_size(QNUM), 4096),
		.translate = guest_memory_translate,
		.ctx = &fx->mem,
		.state = fq->state,
		.indirect_max = indirect_max,
	};
	if (indirect_max)
		fq->cfg.indirect_pool =
			fx_alloc(fx, vring_desc_size(QNUM) * indirect_max, 16);
	assert_int_equal(virtqueue_init(&fq->vq, &fq->cfg), 0);
	assert_int_equal(fx->vdev->ops->queue_start(fx->vdev, q, &fq->cfg), 0);
	fq->live = true;
}

static struct fx *fx_new_ex(uint64_t offered, uint64_t negotiated,
			    unsigned int indirect_max)
{
	struct guest_memory_layout layout = {
		.gpa = GUEST_BASE,
		.size = GUEST_SIZE,
		.uaddr = 0x7f0000000000ull,
		.fd_offset = REGION_OFFSET,
	};
	struct fx *fx = calloc(1, sizeof(*fx));
	uint8_t *s;
	int fd;
	unsigned int q, nq;

	assert_non_null(fx);
	fx->memfd = memfd_create("test_balloon", 0);
	assert_true(fx->memfd >= 0);
	assert_int_equal(ftruncate(fx->memfd, FILE_SIZE), 0);
	s = malloc(MIB);
	assert_non_null(s);
	memset(s, SENTINEL, MIB);
	assert_int_equal(pwrite(fx->memfd, s, MIB, 0), MIB);
	assert_int_equal(pwrite(fx->memfd, s, MIB, FILE_SIZE - MIB), MIB);
	free(s);

	guest_memory_init(&fx->mem);
	fd = dup(fx->memfd);
	assert_true(fd >= 0);
	assert_int_equal(guest_memory_map(&fx->mem, &layout, &fd, 1), 0);
	fx->brk = GUEST_BASE;

	assert_int_equal(balloon_create(offered, &fx->b), 0);
	balloon_set_stats_interval(fx->b, 0);
	fx->vdev = balloon_virtio_device(fx->b);
	fx->vdev->transport = &fx_transport;
	fx->vdev->transport_priv = fx;
	fx->vdev->mem = &fx->mem;
	assert_int_equal(fx->vdev->ops->set_features(fx->vdev, negotiated), 0);

	nq = 2 + !!(negotiated & F(VIRTIO_BALLOON_F_STATS_VQ)) +
	     !!(negotiated & F(VIRTIO_BALLOON_F_FREE_PAGE_HINT)) +
	     !!(negotiated & F(VIRTIO_BALLOON_F_REPORTING));
	for (q = 0; q < nq; q++)
		fx_start_queue(fx, q, negotiated, indirect_max);
	return fx;
}

static struct fx *fx_new(uint64_t negotiated)
{
	return fx_new_ex(BALLOON_FEATURES_DEFAULT, negotiated, 0);
}

static void fx_free(struct fx *fx)
{
	check_sentinels(fx);
	fx->vdev->ops->reset(fx->vdev);
	balloon_destroy(fx->b);
	guest_memory_destroy(&fx->mem);
	close(fx->memfd);
	free(fx);
}

static void touch(struct fx *fx, uint64_t gpa, uint64_t len)
{
	memset(gptr(fx, gpa, len), 0xa5, len);
}

static int kick(struct fx *fx, unsigned int q)
{
	return fx->vdev->ops->queue_notify(fx->vdev, q);
}

/* Offer @n buffers on queue @q (@out readable first), kick, expect used. */
static void submit(struct fx *fx, unsigned int q, const struct vring_sg *sg,
		   unsigned int out, unsigned int in)
{
	void *token = NULL;
	uint32_t len = 99;

	assert_int_equal(virtqueue_add(&fx->q[q].vq, sg, out, in, fx), 0);
	assert_int_equal(kick(fx, q), 0);
	assert_int_equal(virtqueue_get_used(&fx->q[q].vq, &token, &len), 0);
	assert_ptr_equal(token, fx);
	assert_int_equal(len, 0);
}

static struct balloon_stats stats(struct fx *fx)
{
	struct balloon_stats st;

	balloon_get_stats(fx->b, &st);
	return st;
}

static int report_q(uint64_t features)
{
	return balloon_queue_index(features, BALLOON_VQ_REPORTING);
}

/* ---- features, config, numbering ---- */

static void test_features_and_config(void **unused)
{
	struct fx *fx = fx_new(ALL_BALLOON);
	struct virtio_device *vdev = fx->vdev;
	struct balloon_dev *b;
	uint32_t v, cfg[4];

	(void)unused;
	assert_int_equal(vdev->device_id, 5);
	assert_true(vdev->ops->get_features(vdev) & F(VIRTIO_F_VERSION_1));
	assert_true(vdev->ops->get_features(vdev) & F(VIRTIO_BALLOON_F_REPORTING));
	assert_false(vdev->ops->get_features(vdev) & F(VIRTIO_F_RING_PACKED));
	assert_false(vdev->ops->get_features(vdev) &
		     F(VIRTIO_BALLOON_F_FREE_PAGE_HINT));
	assert_false(vdev->ops->get_features(vdev) &
		     F(VIRTIO_BALLOON_F_MUST_TELL_HOST));
	assert_int_equal(vdev->ops->set_features(vdev, F(VIRTIO_F_RING_PACKED)),
			 -EINVAL);
	assert_int_equal(balloon_create(F(VIRTIO_F_VERSION_1) |
						F(VIRTIO_F_RING_PACKED), &b),
			 -EINVAL);
	assert_int_equal(balloon_create(F(VIRTIO_BALLOON_F_REPORTING), &b),
			 -EINVAL);

	/* Target: config num_pages, little-endian, and a config change. */
	assert_int_equal(balloon_set_target(fx->b, 0x123), 0);
	assert_int_equal(fx->wakes, 1);
	assert_int_equal(fx->config_notifies, 0); /* only from poll */
	vdev->ops->poll(vdev, 0);
	assert_int_equal(fx->config_notifies, 1);
	vdev->ops->poll(vdev, 0);
	assert_int_equal(fx->config_notifies, 1);
	assert_int_equal(vdev->ops->config_read(vdev, 0, cfg, 16), 0);
	assert_int_equal(le32_to_cpu(cfg[0]), 0x123);
	assert_int_equal(((uint8_t *)cfg)[0], 0x23);
	assert_int_equal(balloon_set_target(fx->b, GUEST_SIZE / 4096 + 1),
			 -ERANGE);

	/* Config bounds. */
	assert_int_equal(vdev->ops->config_read(vdev, 16, &v, 1), -EINVAL);
	assert_int_equal(vdev->ops->config_read(vdev, 12, &v, 8), -EINVAL);
	assert_int_equal(vdev->ops->config_read(vdev, UINT32_MAX, &v, 2),
			 -EINVAL);
	assert_int_equal(vdev->ops->config_write(vdev, 14, &v, 4), -EINVAL);

	/* actual is the driver's; num_pages is not. */
	v = cpu_to_le32(77);
	assert_int_equal(vdev->ops->config_write(vdev, 4, &v, 4), 0);
	assert_int_equal(stats(fx).actual, 77);
	v = cpu_to_le32(5);
	assert_int_equal(vdev->ops->config_write(vdev, 0, &v, 4), 0);
	assert_int_equal(stats(fx).num_pages, 0x123);

	/* poison_val only latches when PAGE_POISON was negotiated. */
	assert_int_equal(vdev->ops->set_features(vdev, ALL_BALLOON &
						 ~F(VIRTIO_BALLOON_F_PAGE_POISON)),
			 0);
	v = cpu_to_le32(0xaaaaaaaa);
	assert_int_equal(vdev->ops->config_write(vdev, 12, &v, 4), 0);
	assert_int_equal(stats(fx).poison_val, 0);
	assert_int_equal(vdev->ops->set_features(vdev, ALL_BALLOON), 0);
	assert_int_equal(vdev->ops->config_write(vdev, 12, &v, 4), 0);
	assert_int_equal(stats(fx).poison_val, 0xaaaaaaaa);
	fx_free(fx);

	/* Without PAGE_POISON offered the config space is 8 bytes. */
	fx = fx_new_ex(F(VIRTIO_F_VERSION_1) | F(VIRTIO_BALLOON_F_REPORTING),
		       F(VIRTIO_F_VERSION_1) | F(VIRTIO_BALLOON_F_REPORTING), 0);
	assert_int_equal(fx->vdev->ops->config_read(fx->vdev, 0, cfg, 8), 0);
	assert_int_equal(fx->vdev->ops->config_read(fx->vdev, 8, cfg, 4),
			 -EINVAL);
	assert_int_equal(fx->vdev->ops->num_queues(fx->vdev), 3);
	fx_free(fx);
}

static void test_queue_numbering(void **unused)
{
	uint64_t no_stats = ALL_BALLOON & ~F(VIRTIO_BALLOON_F_STATS_VQ);
	struct vring_sg sg = { DATA_BASE, 2 * MIB };
	struct fx *fx;

	(void)unused;
	assert_int_equal(balloon_queue_index(ALL_BALLOON, BALLOON_VQ_INFLATE), 0);
	assert_int_equal(balloon_queue_index(ALL_BALLOON, BALLOON_VQ_DEFLATE), 1);
	assert_int_equal(balloon_queue_index(ALL_BALLOON, BALLOON_VQ_STATS), 2);
	assert_int_equal(report_q(ALL_BALLOON), 3);
	assert_int_equal(balloon_queue_index(no_stats, BALLOON_VQ_STATS),
			 -ENOENT);
	assert_int_equal(report_q(no_stats), 2);
	assert_int_equal(report_q(F(VIRTIO_F_VERSION_1)), -ENOENT);

	/* With STATS_VQ: a report on index 3 discards. */
	fx = fx_new(ALL_BALLOON);
	assert_int_equal(fx->vdev->ops->num_queues(fx->vdev), 4);
	touch(fx, DATA_BASE, 2 * MIB);
	submit(fx, 3, &sg, 0, 1);
	assert_int_equal(stats(fx).discarded_bytes, 2 * MIB);
	assert_int_equal(fx->used_notifies[3], 1);
	fx_free(fx);

	/* Without STATS_VQ negotiated, reporting moves down to 2, and 3 does
	 * not exist. */
	fx = fx_new(no_stats);
	touch(fx, DATA_BASE, 2 * MIB);
	submit(fx, 2, &sg, 0, 1);
	assert_int_equal(stats(fx).discarded_bytes, 2 * MIB);
	assert_int_equal(fx->used_notifies[2], 1);
	assert_int_equal(fx->vdev->ops->queue_start(fx->vdev, 3, &fx->q[2].cfg),
			 -ERANGE);
	fx_free(fx);
}

static void test_queue_sizes(void **unused)
{
	struct fx *fx = fx_new(ALL_BALLOON);
	struct virtio_device *vdev = fx->vdev;
	struct virtqueue_config c;

	(void)unused;
	assert_int_equal(vdev->ops->queue_check(vdev, 0, 256), 0);
	assert_int_equal(vdev->ops->queue_check(vdev, 3, 32), 0);
	assert_int_equal(vdev->ops->queue_check(vdev, 3, 16), -EINVAL);
	assert_int_equal(vdev->ops->queue_check(vdev, 0, 0), -EINVAL);
	assert_int_equal(vdev->ops->queue_check(vdev, 0, 3), -EINVAL);
	assert_int_equal(vdev->ops->queue_check(vdev, 0, 2048), -EINVAL);
	assert_int_equal(vdev->ops->queue_check(vdev, 4, 256), -ERANGE);
	assert_int_equal(vdev->ops->queue_check(vdev, UINT32_MAX, 256), -ERANGE);

	/* A live queue cannot be started twice. */
	assert_int_equal(vdev->ops->queue_start(vdev, 0, &fx->q[0].cfg), -EBUSY);

	/* Restart the reporting queue with 16 entries: refused. */
	vdev->ops->queue_stop(vdev, 3);
	c = fx->q[3].cfg;
	c.num = 16;
	assert_int_equal(vdev->ops->queue_start(vdev, 3, &c), -EINVAL);
	/* Rings outside guest memory. */
	c = fx->q[3].cfg;
	c.used = GUEST_BASE + GUEST_SIZE - 8;
	assert_int_equal(vdev->ops->queue_start(vdev, 3, &c), -EFAULT);
	c = fx->q[3].cfg;
	c.desc = GUEST_BASE - 4096;
	assert_int_equal(vdev->ops->queue_start(vdev, 3, &c), -EFAULT);
	assert_int_equal(vdev->ops->queue_start(vdev, 3, &fx->q[3].cfg), 0);
	fx_free(fx);
}

/* ---- reporting ---- */

static void run_report(uint64_t ring_features, unsigned int indirect_max)
{
	uint64_t feat = ALL_BALLOON | ring_features;
	struct fx *fx = fx_new_ex(BALLOON_FEATURES_DEFAULT, feat, indirect_max);
	struct vring_sg sg[3] = {
		{ DATA_BASE, 2 * MIB },
		{ DATA_BASE + 4 * MIB, 2 * MIB },
		{ DATA_BASE + 2 * MIB, 4096 },
	};
	uint64_t before, after;
	struct balloon_stats st;
	uint8_t *p;

	touch(fx, DATA_BASE, 6 * MIB);
	before = file_bytes(fx);
	assert_true(before >= 6 * MIB);
	submit(fx, 3, sg, 0, 3);
	after = file_bytes(fx);
	if (before - after < 4 * MIB + 4096)
		fail_msg("st_blocks fell by %llu bytes only",
			 (unsigned long long)(before - after));
	st = stats(fx);
	assert_int_equal(st.reports, 1);
	assert_int_equal(st.reported_bytes, 4 * MIB + 4096);
	assert_int_equal(st.discarded_bytes, 4 * MIB + 4096);
	assert_int_equal(st.rejected, 0);
	assert_int_equal(st.resident_bytes, after);
	assert_int_equal(st.memory_bytes, GUEST_SIZE);
	assert_int_equal(fx->used_notifies[3], 1);
	/* Discarded pages read as zeros; the neighbours keep their data. */
	p = gptr(fx, DATA_BASE, 6 * MIB);
	assert_int_equal(p[0], 0);
	assert_int_equal(p[2 * MIB - 1], 0);
	assert_int_equal(p[2 * MIB + 4096], 0xa5);
	assert_int_equal(p[4 * MIB - 1], 0xa5);
	assert_int_equal(p[4 * MIB], 0);
	fx_free(fx);
}

static void test_report_discards(void **unused)
{
	(void)unused;
	run_report(0, 0);
	run_report(F(VIRTIO_RING_F_INDIRECT_DESC), 8);
	run_report(F(VIRTIO_RING_F_EVENT_IDX), 0);
	run_report(F(VIRTIO_RING_F_INDIRECT_DESC) | F(VIRTIO_RING_F_EVENT_IDX),
		   8);
}

static void test_report_poison(void **unused)
{
	struct fx *fx = fx_new(ALL_BALLOON);
	struct vring_sg sg = { DATA_BASE, 2 * MIB };
	uint32_t poison = cpu_to_le32(0xaaaaaaaa), zero = 0;
	uint64_t before;
	struct balloon_stats st;

	(void)unused;
	assert_int_equal(fx->vdev->ops->config_write(fx->vdev, 12, &poison, 4),
			 0);
	assert_int_equal(stats(fx).poison_val, 0xaaaaaaaa);
	touch(fx, DATA_BASE, 2 * MIB);
	before = file_bytes(fx);
	submit(fx, 3, &sg, 0, 1); /* acknowledged ... */
	assert_int_equal(file_bytes(fx), before); /* ... but kept */
	assert_int_equal(gptr(fx, DATA_BASE, 1)[0], 0xa5);
	st = stats(fx);
	assert_int_equal(st.reports, 1);
	assert_int_equal(st.kept_bytes, 2 * MIB);
	assert_int_equal(st.discarded_bytes, 0);

	/* poison_val 0: zeros are the poison, discarding is fine. */
	assert_int_equal(fx->vdev->ops->config_write(fx->vdev, 12, &zero, 4), 0);
	submit(fx, 3, &sg, 0, 1);
	assert_true(file_bytes(fx) <= before - 2 * MIB);
	assert_int_equal(stats(fx).discarded_bytes, 2 * MIB);
	fx_free(fx);
}

/* ---- inflate, deflate ---- */

static void test_inflate_deflate(void **unused)
{
	struct fx *fx = fx_new(ALL_BALLOON);
	uint64_t arr = fx_alloc(fx, 64 * 4, 4);
	uint32_t *pfn = (uint32_t *)gptr(fx, arr, 64 * 4);
	uint32_t base = DATA_BASE >> 12, actual;
	struct vring_sg sg = { arr, 0 };
	struct balloon_stats st;
	uint64_t before;
	unsigned int i, n = 0;

	(void)unused;
	assert_int_equal(balloon_set_target(fx->b, 24), 0);
	fx->vdev->ops->poll(fx->vdev, 0);
	assert_int_equal(fx->config_notifies, 1);

	touch(fx, DATA_BASE, 1 * MIB);
	before = file_bytes(fx);
	for (i = 0; i < 16; i++) /* a contiguous run */
		pfn[n++] = cpu_to_le32(base + i);
	for (i = 0; i < 8; i++) /* and scattered pages */
		pfn[n++] = cpu_to_le32(base + 64 + 3 * i);
	/* Not guest memory: the sentinel just below, the end, far away. */
	pfn[n++] = cpu_to_le32((GUEST_BASE >> 12) - 1);
	pfn[n++] = cpu_to_le32((GUEST_BASE + GUEST_SIZE) >> 12);
	pfn[n++] = cpu_to_le32(0xffffffff);
	sg.len = n * 4;
	submit(fx, 0, &sg, 1, 0);
	st = stats(fx);
	assert_int_equal(st.inflated_pages, 24);
	assert_int_equal(st.rejected, 3);
	assert_int_equal(st.discarded_bytes, 24 * 4096);
	assert_true(before - file_bytes(fx) >= 24 * 4096);
	assert_int_equal(gptr(fx, DATA_BASE + 16 * 4096, 1)[0], 0xa5);
	assert_int_equal(gptr(fx, (uint64_t)(base + 64) << 12, 1)[0], 0);
	assert_int_equal(fx->used_notifies[0], 1);

	actual = cpu_to_le32(24);
	assert_int_equal(fx->vdev->ops->config_write(fx->vdev, 4, &actual, 4), 0);
	assert_int_equal(stats(fx).actual, 24);

	/* Deflate: acknowledged and counted, nothing discarded. */
	touch(fx, DATA_BASE, 16 * 4096);
	before = file_bytes(fx);
	sg.len = 16 * 4;
	submit(fx, 1, &sg, 1, 0);
	st = stats(fx);
	assert_int_equal(st.deflated_pages, 16);
	assert_int_equal(file_bytes(fx), before);
	assert_int_equal(fx->used_notifies[1], 1);

	/* A PFN array in a device-writable buffer is not one. */
	sg.len = 4;
	submit(fx, 0, &sg, 0, 1);
	assert_int_equal(stats(fx).inflated_pages, 24);
	assert_int_equal(stats(fx).rejected, 4);
	fx_free(fx);
}

/* ---- statistics ---- */

static void put_stat(uint8_t *p, uint16_t tag, uint64_t val)
{
	tag = cpu_to_le16(tag);
	val = cpu_to_le64(val);
	memcpy(p, &tag, 2);
	memcpy(p + 2, &val, 8);
}

static void test_stats(void **unused)
{
	struct fx *fx = fx_new(ALL_BALLOON);
	uint64_t buf = fx_alloc(fx, 4 * VIRTIO_BALLOON_STAT_SIZE, 8);
	uint8_t *p = gptr(fx, buf, 4 * VIRTIO_BALLOON_STAT_SIZE);
	struct vring_sg sg = { buf, 4 * VIRTIO_BALLOON_STAT_SIZE };
	struct balloon_stats st;
	void *token;
	uint32_t len;

	(void)unused;
	put_stat(p, VIRTIO_BALLOON_S_MEMFREE, 1000);
	put_stat(p + 10, VIRTIO_BALLOON_S_MEMTOT, 8000);
	put_stat(p + 20, 42, 5); /* unknown: ignored */
	put_stat(p + 30, VIRTIO_BALLOON_S_MAJFLT, 7);
	assert_int_equal(virtqueue_add(&fx->q[2].vq, &sg, 1, 0, fx), 0);
	assert_int_equal(kick(fx, 2), 0);
	/* The device holds the buffer. */
	assert_int_equal(virtqueue_get_used(&fx->q[2].vq, &token, &len),
			 -EAGAIN);
	st = stats(fx);
	assert_int_equal(st.guest_stats_updates, 1);
	assert_int_equal(st.guest_stats[VIRTIO_BALLOON_S_MEMFREE], 1000);
	assert_int_equal(st.guest_stats[VIRTIO_BALLOON_S_MEMTOT], 8000);
	assert_int_equal(st.guest_stats[VIRTIO_BALLOON_S_MAJFLT], 7);
	assert_int_equal(st.guest_stats_valid,
			 1u << VIRTIO_BALLOON_S_MEMFREE |
				 1u << VIRTIO_BALLOON_S_MEMTOT |
				 1u << VIRTIO_BALLOON_S_MAJFLT);

	/* No interval, no request: poll keeps it. */
	assert_int_equal(fx->vdev->ops->poll(fx->vdev, UINT64_MAX - 1),
			 UINT64_MAX);
	assert_int_equal(virtqueue_get_used(&fx->q[2].vq, &token, &len),
			 -EAGAIN);
	/* The host asks: the buffer comes back and the driver is told. */
	balloon_request_stats(fx->b);
	fx->vdev->ops->poll(fx->vdev, 0);
	assert_int_equal(virtqueue_get_used(&fx->q[2].vq, &token, &len), 0);
	assert_int_equal(len, 0);
	assert_int_equal(fx->used_notifies[2], 1);

	/* The driver refills it. */
	put_stat(p, VIRTIO_BALLOON_S_MEMFREE, 2000);
	assert_int_equal(virtqueue_add(&fx->q[2].vq, &sg, 1, 0, fx), 0);
	assert_int_equal(kick(fx, 2), 0);
	st = stats(fx);
	assert_int_equal(st.guest_stats_updates, 2);
	assert_int_equal(st.guest_stats[VIRTIO_BALLOON_S_MEMFREE], 2000);

	/* With an interval, poll says when and gives it back when due. */
	balloon_set_stats_interval(fx->b, 1000);
	{
		uint64_t due = fx->vdev->ops->poll(fx->vdev, 0);

		assert_true(due != UINT64_MAX);
		assert_int_equal(virtqueue_get_used(&fx->q[2].vq, &token, &len),
				 -EAGAIN);
		fx->vdev->ops->poll(fx->vdev, due);
		assert_int_equal(virtqueue_get_used(&fx->q[2].vq, &token, &len),
				 0);
	}

	/* Stopping the queue with a held buffer hands it back to the ring. */
	assert_int_equal(virtqueue_add(&fx->q[2].vq, &sg, 1, 0, fx), 0);
	assert_int_equal(kick(fx, 2), 0);
	assert_int_equal(fx->vdev->ops->queue_stop(fx->vdev, 2), 2);
	fx_free(fx);
}

/* ---- hostile drivers ---- */

/* Write a chain by hand: @n descriptors at table slots 0.., head 0. */
static void raw_chain(struct fx *fx, unsigned int q,
		      const struct vring_desc *d, unsigned int n)
{
	struct vring *vr = &fx->q[q].vq.vr;
	uint16_t idx = vring_load_relaxed(&vr->avail->idx);

	for (unsigned int i = 0; i < n; i++)
		vr->desc[i] = (struct vring_desc){
			.addr = cpu_to_le64(d[i].addr),
			.len = cpu_to_le32(d[i].len),
			.flags = cpu_to_le16(d[i].flags),
			.next = cpu_to_le16(d[i].next),
		};
	vr->avail->ring[idx % vr->num] = 0;
	vring_store_release(&vr->avail->idx, (uint16_t)(idx + 1));
}

static uint16_t used_idx(struct fx *fx, unsigned int q)
{
	return vring_load_acquire(&fx->q[q].vq.vr.used->idx);
}

/* A request the device must complete while refusing the entry. */
static void expect_skipped(const struct vring_desc *d, unsigned int n)
{
	struct fx *fx = fx_new(ALL_BALLOON);
	uint64_t before;

	touch(fx, DATA_BASE, 4 * MIB);
	before = file_bytes(fx);
	raw_chain(fx, 3, d, n);
	assert_int_equal(kick(fx, 3), 0);
	assert_int_equal(used_idx(fx, 3), 1);
	assert_int_equal(file_bytes(fx), before);
	assert_true(stats(fx).rejected >= 1);
	assert_int_equal(stats(fx).discarded_bytes, 0);
	assert_int_equal(stats(fx).broken_queues, 0);
	fx_free(fx);
}

/* A request that breaks the queue: nothing discarded, queue stays dead. */
static void expect_broken(const struct vring_desc *d, unsigned int n,
			  int err)
{
	struct fx *fx = fx_new(ALL_BALLOON);
	struct vring_sg sg = { DATA_BASE, 2 * MIB };
	uint64_t before;

	touch(fx, DATA_BASE, 4 * MIB);
	before = file_bytes(fx);
	raw_chain(fx, 3, d, n);
	assert_int_equal(kick(fx, 3), err);
	assert_int_equal(used_idx(fx, 3), 0);
	assert_int_equal(file_bytes(fx), before);
	assert_int_equal(stats(fx).broken_queues, 1);
	assert_true(stats(fx).rejected >= 1);
	/* A broken queue does no more work, even for a good chain. */
	fx->q[3].vq.avail_idx = vring_load_relaxed(&fx->q[3].vq.vr.avail->idx);
	assert_int_equal(virtqueue_add(&fx->q[3].vq, &sg, 0, 1, fx), 0);
	assert_int_equal(kick(fx, 3), err);
	assert_int_equal(file_bytes(fx), before);
	assert_int_equal(stats(fx).broken_queues, 1);
	/* Other queues still work. */
	{
		uint64_t arr = fx_alloc(fx, 4, 4);
		uint32_t pfn = cpu_to_le32(DATA_BASE >> 12);
		struct vring_sg s = { arr, 4 };

		memcpy(gptr(fx, arr, 4), &pfn, 4);
		submit(fx, 0, &s, 1, 0);
		assert_int_equal(stats(fx).inflated_pages, 1);
	}
	fx_free(fx);
}

static void test_hostile_reports(void **unused)
{
	const uint16_t W = VRING_DESC_F_WRITE, N = VRING_DESC_F_NEXT;

	(void)unused;
	/* Skipped entries: misaligned, empty, readable, partial page. */
	expect_skipped((struct vring_desc[]){ { DATA_BASE + 1, 4096, W, 0 } }, 1);
	expect_skipped((struct vring_desc[]){ { DATA_BASE, 0, W, 0 } }, 1);
	expect_skipped((struct vring_desc[]){ { DATA_BASE, 2 * MIB, 0, 0 } }, 1);
	expect_skipped((struct vring_desc[]){ { DATA_BASE, 4095, W, 0 } }, 1);
	/* One bad entry among good ones: the good ones are discarded. */
	{
		struct fx *fx = fx_new(ALL_BALLOON);
		uint64_t before;

		touch(fx, DATA_BASE, 4 * MIB);
		before = file_bytes(fx);
		raw_chain(fx, 3,
			  (struct vring_desc[]){
				  { DATA_BASE, 2 * MIB, W | N, 1 },
				  { DATA_BASE + 2 * MIB + 512, 4096, W | N, 2 },
				  { DATA_BASE + 3 * MIB, 1 * MIB, W, 0 } },
			  3);
		assert_int_equal(kick(fx, 3), 0);
		assert_int_equal(used_idx(fx, 3), 1);
		assert_int_equal(stats(fx).rejected, 1);
		assert_int_equal(stats(fx).discarded_bytes, 3 * MIB);
		assert_true(before - file_bytes(fx) >= 3 * MIB);
		fx_free(fx);
	}

	/* Outside guest memory: just below it (the file's sentinel), across
	 * its end, far away, wrapping. */
	expect_broken((struct vring_desc[]){ { GUEST_BASE - 4096, 4096, W, 0 } },
		      1, -EFAULT);
	expect_broken((struct vring_desc[]){
			      { GUEST_BASE + GUEST_SIZE - 4096, 8192, W, 0 } },
		      1, -EFAULT);
	expect_broken((struct vring_desc[]){ { 0, 2 * MIB, W, 0 } }, 1, -EFAULT);
	expect_broken((struct vring_desc[]){
			      { UINT64_MAX - 4095, 8192, W, 0 } },
		      1, -EOVERFLOW);
	/* A good entry, then one outside: the whole chain is refused. */
	expect_broken((struct vring_desc[]){
			      { DATA_BASE, 2 * MIB, W | N, 1 },
			      { GUEST_BASE + GUEST_SIZE, 4096, W, 0 } },
		      2, -EFAULT);
	/* Ring structure: a loop, a next out of the table, INDIRECT without
	 * the feature. */
	expect_broken((struct vring_desc[]){ { DATA_BASE, 4096, W | N, 1 },
					     { DATA_BASE, 4096, W | N, 0 } },
		      2, -ELOOP);
	expect_broken((struct vring_desc[]){ { DATA_BASE, 4096, W | N, QNUM } },
		      1, -ERANGE);
	expect_broken((struct vring_desc[]){
			      { DATA_BASE, 16, VRING_DESC_F_INDIRECT, 0 } },
		      1, -EPERM);
}

/* ---- free page hint commands ---- */

#define ALL_HINT (ALL_BALLOON | F(VIRTIO_BALLOON_F_FREE_PAGE_HINT))

static unsigned int hint_q(void)
{
	return (unsigned int)balloon_queue_index(ALL_HINT, BALLOON_VQ_FREE_PAGE);
}

static uint32_t hint_field(struct fx *fx)
{
	uint32_t v;

	assert_int_equal(fx->vdev->ops->config_read(fx->vdev, 8, &v, 4), 0);
	return le32_to_cpu(v);
}

/* The device's poll starts a command: a new id and a config change. */
static uint32_t hint_begin(struct fx *fx, uint64_t now)
{
	unsigned int before = fx->config_notifies;
	uint32_t id;

	fx->vdev->ops->poll(fx->vdev, now);
	assert_true(fx->config_notifies > before); /* a DONE may come first */
	id = hint_field(fx);
	assert_true(id > VIRTIO_BALLOON_CMD_ID_DONE);
	return id;
}

/* A 4-byte device-readable buffer holding @id. */
static void hint_send_id(struct fx *fx, uint32_t id)
{
	struct vring_sg sg = { fx->hint_slot, 4 };

	*(uint32_t *)gptr(fx, fx->hint_slot, 4) = cpu_to_le32(id);
	submit(fx, hint_q(), &sg, 1, 0);
}

/* A device that runs hint commands, its id page already resident. */
static struct fx *fx_hint_new(void)
{
	struct fx *fx = fx_new_ex(BALLOON_FEATURES_HINTING, ALL_HINT, 0);

	fx->hint_slot = fx_alloc(fx, 4096, 4096);
	touch(fx, fx->hint_slot, 4096);
	return fx;
}

static void hint_send(struct fx *fx, uint64_t gpa, uint32_t len)
{
	struct vring_sg sg = { gpa, len };

	submit(fx, hint_q(), &sg, 0, 1);
}

static void test_hint_offer(void **unused)
{
	struct fx *fx = fx_new(ALL_BALLOON);
	uint32_t v;

	(void)unused;
	/* Not offered by default; no commands without the offer. */
	assert_int_equal(balloon_set_hinting(fx->b, 10, 0, 0), -EOPNOTSUPP);
	assert_int_equal(fx->vdev->ops->num_queues(fx->vdev), 4);
	fx_free(fx);
	fx = fx_new_ex(BALLOON_FEATURES_HINTING, ALL_HINT, 0);
	assert_int_equal(fx->vdev->ops->num_queues(fx->vdev), 5);
	assert_int_equal(balloon_queue_index(ALL_HINT, BALLOON_VQ_FREE_PAGE), 3);
	assert_int_equal(balloon_queue_index(ALL_HINT, BALLOON_VQ_REPORTING), 4);
	/* STOP until a command; none while no period is set. */
	assert_int_equal(hint_field(fx), VIRTIO_BALLOON_CMD_ID_STOP);
	assert_int_equal(fx->vdev->ops->poll(fx->vdev, platform_now_ns()),
			 UINT64_MAX);
	assert_int_equal(fx->config_notifies, 0);
	/* The field is the device's: a driver's write is ignored. */
	v = cpu_to_le32(0x1234);
	assert_int_equal(fx->vdev->ops->config_write(fx->vdev, 8, &v, 4), 0);
	assert_int_equal(hint_field(fx), VIRTIO_BALLOON_CMD_ID_STOP);
	fx_free(fx);
}

/*
 * The protocol, and each way a guest can break it: hints before the id,
 * a wrong id, overlapping and unaligned hints, hints after STOP, a STOP
 * without a command, a stale id.  Refused ones discard nothing.
 */
static void test_hint_protocol(void **unused)
{
	struct fx *fx = fx_hint_new();
	uint64_t bytes;
	uint32_t id;

	(void)unused;
	assert_int_equal(balloon_set_hinting(fx->b, 1000, 0, 0), 0);
	touch(fx, DATA_BASE, 4 * MIB);
	bytes = file_bytes(fx);
	id = hint_begin(fx, platform_now_ns());
	assert_int_equal(stats(fx).hint_commands, 1);
	/* Before its id buffer: not yet. */
	hint_send(fx, DATA_BASE, MIB);
	assert_int_equal(stats(fx).hint_rejected, 1);
	hint_send_id(fx, id + 1);
	hint_send(fx, DATA_BASE, MIB);
	assert_int_equal(stats(fx).hint_rejected, 3);
	assert_int_equal(file_bytes(fx), bytes);
	/* The command: a hint is discarded. */
	hint_send_id(fx, id);
	hint_send(fx, DATA_BASE, MIB);
	assert_int_equal(file_bytes(fx), bytes - MIB);
	assert_int_equal(stats(fx).hinted_bytes, MIB);
	/* Overlapping the first, unaligned: refused, nothing discarded. */
	hint_send(fx, DATA_BASE + MIB / 2, MIB);
	hint_send(fx, DATA_BASE + 2 * MIB + 100, 4096);
	hint_send(fx, DATA_BASE + 2 * MIB, 4096 + 100);
	assert_int_equal(stats(fx).hint_rejected, 6);
	assert_int_equal(file_bytes(fx), bytes - MIB);
	/* Adjacent is fine. */
	hint_send(fx, DATA_BASE + MIB, MIB);
	assert_int_equal(file_bytes(fx), bytes - 2 * MIB);
	/* STOP: DONE, announced. */
	hint_send_id(fx, VIRTIO_BALLOON_CMD_ID_STOP);
	assert_int_equal(hint_field(fx), VIRTIO_BALLOON_CMD_ID_DONE);
	assert_int_equal(stats(fx).hint_done, 1);
	/* After it: hints, a second STOP, the old id again. */
	hint_send(fx, DATA_BASE + 2 * MIB, MIB);
	hint_send_id(fx, VIRTIO_BALLOON_CMD_ID_STOP);
	hint_send_id(fx, id);
	hint_send(fx, DATA_BASE + 3 * MIB, MIB);
	assert_int_equal(stats(fx).hint_rejected, 10);
	assert_int_equal(file_bytes(fx), bytes - 2 * MIB);
	assert_int_equal(stats(fx).hinted_bytes, 2 * MIB);
	assert_int_equal(stats(fx).rejected, 10);
	assert_int_equal(stats(fx).broken_queues, 0);
	/* The next command comes after the period, with a new id. */
	assert_true(hint_begin(fx, platform_now_ns() + 2000000000ull) != id);
	fx_free(fx);
}

/* The cap; a guest that never says STOP; what comes after the timeout. */
static void test_hint_cap_and_timeout(void **unused)
{
	struct fx *fx = fx_hint_new();
	uint64_t bytes, now = platform_now_ns();
	uint32_t id, next;

	(void)unused;
	assert_int_equal(balloon_set_hinting(fx->b, 1000, MIB, 50), 0);
	touch(fx, DATA_BASE, 4 * MIB);
	bytes = file_bytes(fx);
	id = hint_begin(fx, now);
	hint_send_id(fx, id);
	hint_send(fx, DATA_BASE, MIB);
	hint_send(fx, DATA_BASE + MIB, 4096); /* over the cap */
	assert_int_equal(stats(fx).hint_rejected, 1);
	assert_int_equal(file_bytes(fx), bytes - MIB);
	/* No STOP: before the timeout nothing happens, after it DONE. */
	fx->vdev->ops->poll(fx->vdev, now + 10000000ull);
	assert_int_equal(hint_field(fx), id);
	/* The command met the cap: the next one follows the DONE at once. */
	next = hint_begin(fx, now + 60000000ull);
	assert_int_equal(stats(fx).hint_timeouts, 1);
	assert_true(next != id);
	/* The slow guest's late hints and STOP: refused, nothing discarded. */
	hint_send(fx, DATA_BASE + MIB, MIB);
	hint_send_id(fx, VIRTIO_BALLOON_CMD_ID_STOP);
	assert_int_equal(stats(fx).hint_rejected, 3);
	assert_int_equal(file_bytes(fx), bytes - MIB);
	assert_int_equal(stats(fx).hint_done, 0);
	fx_free(fx);
}

/* A hint outside guest RAM breaks the queue; the command still ends. */
static void test_hint_outside_ram(void **unused)
{
	struct fx *fx = fx_hint_new();
	struct vring_sg sg = { GUEST_BASE + GUEST_SIZE, 4096 };
	uint64_t bytes;
	uint32_t id;

	(void)unused;
	assert_int_equal(balloon_set_hinting(fx->b, 1000, 0, 0), 0);
	touch(fx, DATA_BASE, MIB);
	bytes = file_bytes(fx);
	id = hint_begin(fx, platform_now_ns());
	hint_send_id(fx, id);
	assert_int_equal(virtqueue_add(&fx->q[hint_q()].vq, &sg, 0, 1, fx), 0);
	assert_int_equal(kick(fx, hint_q()), -EFAULT);
	assert_int_equal(stats(fx).broken_queues, 1);
	assert_int_equal(hint_field(fx), VIRTIO_BALLOON_CMD_ID_DONE);
	assert_int_equal(file_bytes(fx), bytes);
	/* No more commands on a broken queue. */
	assert_int_equal(fx->vdev->ops->poll(fx->vdev,
					     platform_now_ns() + 2000000000ull),
			 UINT64_MAX);
	fx_free(fx);
}

static void test_hostile_avail(void **unused)
{
	struct fx *fx = fx_new(ALL_BALLOON);
	struct vring *vr = &fx->q[3].vq.vr;

	(void)unused;
	/* avail.idx moved by more than the ring holds. */
	vring_store_release(&vr->avail->idx, QNUM + 1);
	assert_int_equal(kick(fx, 3), -EBADMSG);
	assert_int_equal(stats(fx).broken_queues, 1);
	fx_free(fx);
}

/* A kick processes at most one ring's worth, then asks to be called again. */
static void test_bounded_work(void **unused)
{
	struct fx *fx = fx_new(ALL_BALLOON);
	struct vring_sg sg = { DATA_BASE, 4096 };
	void *token;
	uint32_t len;
	unsigned int i, n = 0;

	(void)unused;
	for (i = 0; i < QNUM; i++)
		assert_int_equal(virtqueue_add(&fx->q[3].vq, &sg, 0, 1, fx), 0);
	assert_int_equal(kick(fx, 3), -EAGAIN);
	while (virtqueue_get_used(&fx->q[3].vq, &token, &len) == 0)
		n++;
	assert_int_equal(n, QNUM);
	assert_int_equal(kick(fx, 3), 0);
	assert_int_equal(stats(fx).reports, QNUM);
	fx_free(fx);
}

static void test_reset(void **unused)
{
	struct fx *fx = fx_new(ALL_BALLOON);
	struct vring_sg sg = { DATA_BASE, 2 * MIB };
	uint64_t buf = fx_alloc(fx, VIRTIO_BALLOON_STAT_SIZE, 8);
	struct vring_sg stat_sg = { buf, VIRTIO_BALLOON_STAT_SIZE };
	uint32_t v = cpu_to_le32(9);
	uint64_t before;

	(void)unused;
	assert_int_equal(fx->vdev->ops->config_write(fx->vdev, 4, &v, 4), 0);
	/* The old driver's statistics ... */
	put_stat(gptr(fx, buf, VIRTIO_BALLOON_STAT_SIZE),
		 VIRTIO_BALLOON_S_MEMFREE, 1000);
	assert_int_equal(virtqueue_add(&fx->q[2].vq, &stat_sg, 1, 0, fx), 0);
	assert_int_equal(kick(fx, 2), 0);
	assert_int_equal(stats(fx).guest_stats_updates, 1);
	fx->vdev->ops->reset(fx->vdev);
	assert_int_equal(stats(fx).features, 0);
	assert_int_equal(stats(fx).actual, 0);
	/* ... are not reported as the next one's (S3). */
	assert_int_equal(stats(fx).guest_stats_updates, 0);
	assert_int_equal(stats(fx).guest_stats_valid, 0);
	assert_int_equal(stats(fx).guest_stats[VIRTIO_BALLOON_S_MEMFREE], 0);
	/* Queues are gone: a kick does nothing. */
	touch(fx, DATA_BASE, 2 * MIB);
	before = file_bytes(fx);
	assert_int_equal(virtqueue_add(&fx->q[3].vq, &sg, 0, 1, fx), 0);
	assert_int_equal(kick(fx, 3), 0);
	assert_int_equal(used_idx(fx, 3), 0);
	assert_int_equal(file_bytes(fx), before);
	/* Before renegotiation only inflate and deflate can start. */
	assert_int_equal(fx->vdev->ops->queue_start(fx->vdev, 3, &fx->q[3].cfg),
			 -ERANGE);
	fx_free(fx);
}

/*
 * A mirror (another VMM's balloon, runner/fleet_qemu.c): what its owner
 * writes is what every reader gets, a new report counts once, a target is
 * kept for the owner to pass on and refused past the RAM it was told of,
 * and a transport's device ignores a mirror's word.
 */
static void test_mirror(void **state)
{
	struct balloon_mirror m = { .connected = true, .actual = 2048,
				    .memory_bytes = 128ull << 20,
				    .resident_bytes = 100ull << 20 };
	struct balloon_dev *b, *dev;
	struct balloon_stats st;

	(void)state;
	assert_int_equal(balloon_create_mirror(BALLOON_FEATURES_DEFAULT, &b), 0);
	balloon_get_stats(b, &st);
	assert_false(st.connected);
	assert_int_equal(st.memory_bytes, 0);
	balloon_mirror_set(b, &m);
	balloon_get_stats(b, &st);
	assert_true(st.connected);
	assert_int_equal(st.actual, 2048);
	assert_int_equal(st.memory_bytes, 128ull << 20);
	assert_int_equal(st.resident_bytes, 100ull << 20);
	assert_int_equal(st.guest_stats_updates, 0);
	assert_int_equal(st.guest_stats_valid, 0);
	m.stats_new = true;
	m.stats_time = 1800000000;
	m.stats_valid = 1u << VIRTIO_BALLOON_S_AVAIL;
	m.stats[VIRTIO_BALLOON_S_AVAIL] = 90ull << 20;
	m.stats[VIRTIO_BALLOON_S_MEMFREE] = 1; /* not valid: not taken */
	balloon_mirror_set(b, &m);
	m.stats_new = false;
	balloon_mirror_set(b, &m);
	balloon_get_stats(b, &st);
	assert_int_equal(st.guest_stats_updates, 1);
	assert_int_equal(st.guest_stats_valid, 1u << VIRTIO_BALLOON_S_AVAIL);
	assert_int_equal(st.guest_stats[VIRTIO_BALLOON_S_AVAIL], 90ull << 20);
	assert_int_equal(st.guest_stats[VIRTIO_BALLOON_S_MEMFREE], 0);
	assert_int_equal(st.guest_stats_time, 1800000000);
	assert_int_equal(balloon_set_target(b, 8192), 0);
	assert_int_equal(balloon_set_target(b, 32769), -ERANGE);
	balloon_get_stats(b, &st);
	assert_int_equal(st.num_pages, 8192);
	/* Gone: readers see no driver, the last figures stay. */
	m.connected = false;
	balloon_mirror_set(b, &m);
	balloon_get_stats(b, &st);
	assert_false(st.connected);
	assert_int_equal(st.guest_stats_updates, 1);
	balloon_destroy(b);

	assert_int_equal(balloon_create(BALLOON_FEATURES_DEFAULT, &dev), 0);
	m.connected = true;
	balloon_mirror_set(dev, &m);
	balloon_get_stats(dev, &st);
	assert_false(st.connected);
	assert_int_equal(st.actual, 0);
	assert_int_equal(st.resident_bytes, 0);
	balloon_destroy(dev);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_features_and_config),
		cmocka_unit_test(test_queue_numbering),
		cmocka_unit_test(test_queue_sizes),
		cmocka_unit_test(test_report_discards),
		cmocka_unit_test(test_report_poison),
		cmocka_unit_test(test_inflate_deflate),
		cmocka_unit_test(test_stats),
		cmocka_unit_test(test_hostile_reports),
		cmocka_unit_test(test_hostile_avail),
		cmocka_unit_test(test_hint_offer),
		cmocka_unit_test(test_hint_protocol),
		cmocka_unit_test(test_hint_cap_and_timeout),
		cmocka_unit_test(test_hint_outside_ram),
		cmocka_unit_test(test_bounded_work),
		cmocka_unit_test(test_reset),
		cmocka_unit_test(test_mirror),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
