/*
 * test_attack9.c - attack9: a hostile guest on the free page hint queue.
 *
 * The device runs FREE_PAGE_HINT commands over a 1024-entry ring (the
 * largest the balloon accepts, what a QEMU MMIO Linux asks for) on a memfd
 * bigger than the guest, whose outside bytes hold a sentinel; what is
 * discarded is read from the memfd's holes (SEEK_HOLE), not from counters.
 * Rings are written by hand: a hostile driver needs no driver half.
 *
 * `test_attack9 flood` is the reproducer of the flood finding: it times one
 * kick of a ring of overlapping hints (a figure, not a test).
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
#include <stdio.h>
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

#define KIB 1024u
#define MIB (1024u * 1024u)
#define FILE_SIZE (18u * MIB)
#define REGION_OFFSET (1u * MIB)
#define GUEST_SIZE (16u * MIB)
#define GUEST_BASE 0x40000000u
#define DATA_BASE (GUEST_BASE + 4u * MIB)
#define SENTINEL 0x5a
#define QNUM 1024u
#define PAGE 4096u

#define F(bit) VIRTIO_FEATURE(bit)
#define NEGOTIATED                                                             \
	(F(VIRTIO_F_VERSION_1) | F(VIRTIO_BALLOON_F_STATS_VQ) |                \
	 F(VIRTIO_BALLOON_F_FREE_PAGE_HINT) | F(VIRTIO_BALLOON_F_REPORTING))

struct fx {
	int memfd;
	struct guest_memory mem;
	struct balloon_dev *b;
	struct virtio_device *vdev;
	uint64_t brk;
	struct vring vr[5];
	uint16_t avail_idx[5];
	uint64_t slot; /* a page for id buffers */
};

static void fx_notify_used(struct virtio_device *vdev, unsigned int q)
{
	(void)vdev;
	(void)q;
}

static void fx_notify_config(struct virtio_device *vdev)
{
	(void)vdev;
}

static void fx_wake(struct virtio_device *vdev)
{
	(void)vdev;
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

static void fx_start_queue(struct fx *fx, unsigned int q)
{
	uint64_t desc = fx_alloc(fx, vring_desc_size(QNUM) +
					     vring_avail_size(QNUM), 4096);
	struct virtqueue_config cfg = {
		.num = QNUM,
		.features = NEGOTIATED,
		.desc = desc,
		.avail = desc + vring_desc_size(QNUM),
		.used = fx_alloc(fx, vring_used_size(QNUM), 4096),
		.translate = guest_memory_translate,
		.ctx = &fx->mem,
	};

	memset(gptr(fx, cfg.desc, vring_desc_size(QNUM) + vring_avail_size(QNUM)),
	       0, vring_desc_size(QNUM) + vring_avail_size(QNUM));
	memset(gptr(fx, cfg.used, vring_used_size(QNUM)), 0,
	       vring_used_size(QNUM));
	fx->vr[q] = (struct vring){
		.num = QNUM,
		.desc = (void *)gptr(fx, cfg.desc, vring_desc_size(QNUM)),
		.avail = (void *)gptr(fx, cfg.avail, vring_avail_size(QNUM)),
		.used = (void *)gptr(fx, cfg.used, vring_used_size(QNUM)),
	};
	assert_int_equal(fx->vdev->ops->queue_start(fx->vdev, q, &cfg), 0);
}

static struct fx *fx_new(void)
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

	assert_non_null(fx);
	fx->memfd = memfd_create("test_attack9", 0);
	assert_true(fx->memfd >= 0);
	assert_int_equal(ftruncate(fx->memfd, FILE_SIZE), 0);
	/* Every byte of the file allocated: a hole is a discard. */
	s = malloc(FILE_SIZE);
	assert_non_null(s);
	memset(s, SENTINEL, FILE_SIZE);
	assert_int_equal(pwrite(fx->memfd, s, FILE_SIZE, 0), FILE_SIZE);
	free(s);
	guest_memory_init(&fx->mem);
	fd = dup(fx->memfd);
	assert_true(fd >= 0);
	assert_int_equal(guest_memory_map(&fx->mem, &layout, &fd, 1), 0);
	fx->brk = GUEST_BASE;
	assert_int_equal(balloon_create(BALLOON_FEATURES_HINTING, &fx->b), 0);
	balloon_set_stats_interval(fx->b, 0);
	fx->vdev = balloon_virtio_device(fx->b);
	fx->vdev->transport = &fx_transport;
	fx->vdev->transport_priv = fx;
	fx->vdev->mem = &fx->mem;
	assert_int_equal(fx->vdev->ops->set_features(fx->vdev, NEGOTIATED), 0);
	for (unsigned int q = 0; q < 5; q++)
		fx_start_queue(fx, q);
	fx->slot = fx_alloc(fx, 4096, 4096);
	return fx;
}

static void fx_free(struct fx *fx)
{
	fx->vdev->ops->reset(fx->vdev);
	balloon_destroy(fx->b);
	guest_memory_destroy(&fx->mem);
	close(fx->memfd);
	free(fx);
}

static unsigned int hint_q(void)
{
	return (unsigned int)balloon_queue_index(NEGOTIATED, BALLOON_VQ_FREE_PAGE);
}

static struct balloon_stats stats(struct fx *fx)
{
	struct balloon_stats st;

	balloon_get_stats(fx->b, &st);
	return st;
}

/* Descriptors @d at table slots 0.. (chained in order), head 0 offered
 * @times times; the device kicked once.  Return: queue_notify's result. */
static int raw_kick(struct fx *fx, unsigned int q, const struct vring_desc *d,
		    unsigned int n, unsigned int times)
{
	struct vring *vr = &fx->vr[q];

	for (unsigned int i = 0; i < n; i++)
		vr->desc[i] = (struct vring_desc){
			.addr = cpu_to_le64(d[i].addr),
			.len = cpu_to_le32(d[i].len),
			.flags = cpu_to_le16(d[i].flags |
					     (i + 1 < n ? VRING_DESC_F_NEXT : 0)),
			.next = cpu_to_le16((uint16_t)(i + 1)),
		};
	for (unsigned int t = 0; t < times; t++)
		vr->avail->ring[(uint16_t)(fx->avail_idx[q] + t) % QNUM] = 0;
	fx->avail_idx[q] = (uint16_t)(fx->avail_idx[q] + times);
	vring_store_release(&vr->avail->idx, fx->avail_idx[q]);
	return fx->vdev->ops->queue_notify(fx->vdev, q);
}

static uint32_t hint_field(struct fx *fx)
{
	uint32_t v;

	assert_int_equal(fx->vdev->ops->config_read(fx->vdev, 8, &v, 4), 0);
	return le32_to_cpu(v);
}

/* Start a command and send its id buffer: hints are accepted from here. */
static uint32_t hint_running(struct fx *fx)
{
	uint32_t id, le;

	assert_int_equal(balloon_set_hinting(fx->b, 1000, 0, 0), 0);
	fx->vdev->ops->poll(fx->vdev, platform_now_ns());
	id = hint_field(fx);
	assert_true(id > VIRTIO_BALLOON_CMD_ID_DONE);
	le = cpu_to_le32(id);
	memcpy(gptr(fx, fx->slot, 4), &le, 4);
	assert_int_equal(raw_kick(fx, hint_q(),
				  (struct vring_desc[]){ { fx->slot, 4, 0, 0 } },
				  1, 1),
			 0);
	return id;
}

/* The bytes of guest RAM [DATA_BASE, end) the memfd no longer holds, and
 * a check that nothing outside [lo, hi) of it is a hole. */
static uint64_t holes_within(struct fx *fx, uint64_t lo, uint64_t hi)
{
	off_t off = 0, end = FILE_SIZE;
	uint64_t bytes = 0;

	for (;;) {
		off_t h = lseek(fx->memfd, off, SEEK_HOLE), d;

		if (h < 0 || h >= end)
			break;
		d = lseek(fx->memfd, h, SEEK_DATA);
		if (d < 0)
			d = end;
		{
			uint64_t glo = GUEST_BASE + (uint64_t)h - REGION_OFFSET;
			uint64_t ghi = GUEST_BASE + (uint64_t)d - REGION_OFFSET;

			if (h < (off_t)REGION_OFFSET || glo < lo || ghi > hi)
				fail_msg("a hole at guest %#llx..%#llx, outside %#llx..%#llx",
					 (unsigned long long)glo,
					 (unsigned long long)ghi,
					 (unsigned long long)lo,
					 (unsigned long long)hi);
		}
		bytes += (uint64_t)(d - h);
		off = d;
	}
	return bytes;
}

#define FLOOD_RANGES 1023u /* accepted, one short of the device's limit */

/* A command holding FLOOD_RANGES disjoint one-page hints, every other page
 * from DATA_BASE. */
static void hint_fill(struct fx *fx)
{
	static struct vring_desc d[FLOOD_RANGES];

	for (unsigned int i = 0; i < FLOOD_RANGES; i++)
		d[i] = (struct vring_desc){ DATA_BASE + 2ull * PAGE * i, PAGE,
					    VRING_DESC_F_WRITE, 0 };
	assert_int_equal(raw_kick(fx, hint_q(), d, FLOOD_RANGES, 1), 0);
	assert_int_equal(stats(fx).hinted_bytes, (uint64_t)FLOOD_RANGES * PAGE);
	assert_int_equal(stats(fx).hint_rejected, 0);
}

/* One kick of a ring whose every entry is the same chain of QNUM hints
 * that overlap the last accepted one: every one is refused. */
static int hint_flood(struct fx *fx)
{
	static struct vring_desc d[QNUM];

	for (unsigned int i = 0; i < QNUM; i++)
		d[i] = (struct vring_desc){
			DATA_BASE + 2ull * PAGE * (FLOOD_RANGES - 1), PAGE,
			VRING_DESC_F_WRITE, 0 };
	return raw_kick(fx, hint_q(), d, QNUM, QNUM);
}

/*
 * The flood: a million hints in one kick, each refused as overlapping.
 * Refused, counted, nothing discarded beyond the accepted pages.
 */
static void test_hint_flood_refused(void **unused)
{
	struct fx *fx = fx_new();
	uint64_t before;
	int err;

	(void)unused;
	hint_running(fx);
	hint_fill(fx);
	before = holes_within(fx, DATA_BASE, DATA_BASE + 2ull * PAGE * FLOOD_RANGES);
	assert_int_equal(before, (uint64_t)FLOOD_RANGES * PAGE);
	err = hint_flood(fx);
	assert_true(err == 0 || err == -EAGAIN);
	assert_int_equal(stats(fx).hint_rejected, (uint64_t)QNUM * QNUM);
	assert_int_equal(stats(fx).broken_queues, 0);
	assert_int_equal(holes_within(fx, DATA_BASE,
				      DATA_BASE + 2ull * PAGE * FLOOD_RANGES),
			 before);
	fx_free(fx);
}

/* One hint chain of @n buffers; expect @refused of them refused. */
static void hints(struct fx *fx, const struct vring_desc *d, unsigned int n,
		  uint64_t refused)
{
	uint64_t before = stats(fx).hint_rejected;

	assert_int_equal(raw_kick(fx, hint_q(), d, n, 1), 0);
	assert_int_equal(stats(fx).hint_rejected - before, refused);
}

#define W VRING_DESC_F_WRITE
#define P(n) (DATA_BASE + (uint64_t)(n) * PAGE)

/*
 * The overlap rule with hints accepted out of order (the ranges are kept
 * sorted): a hint overlapping the one below it, the one above it, both,
 * several, or equal to one is refused; one touching either side is
 * accepted.  Checked against the memfd's holes.
 */
static void test_hint_overlap_any_order(void **unused)
{
	struct fx *fx = fx_new();

	(void)unused;
	hint_running(fx);
	/* Accepted: pages 40-41, 10, 20-23, 0, 60-63 (out of order). */
	hints(fx,
	      (struct vring_desc[]){ { P(40), 2 * PAGE, W, 0 },
				     { P(10), PAGE, W, 0 },
				     { P(20), 4 * PAGE, W, 0 },
				     { P(0), PAGE, W, 0 },
				     { P(60), 4 * PAGE, W, 0 } },
	      5, 0);
	assert_int_equal(holes_within(fx, P(0), P(64)), 12 * PAGE);
	/* Refused: over 10's end; 19-20 into 20's start; 23-24 over 20-23's
	 * end; 9-11 over 10; 5-45 over three; equal to 40-41; inside 60-63;
	 * 0 again; straddling 41 into 42. */
	hints(fx,
	      (struct vring_desc[]){ { P(10), 2 * PAGE, W, 0 },
				     { P(19), 2 * PAGE, W, 0 },
				     { P(23), 2 * PAGE, W, 0 },
				     { P(9), 3 * PAGE, W, 0 },
				     { P(5), 40 * PAGE, W, 0 },
				     { P(40), 2 * PAGE, W, 0 },
				     { P(61), PAGE, W, 0 },
				     { P(0), PAGE, W, 0 },
				     { P(41), 2 * PAGE, W, 0 } },
	      9, 9);
	assert_int_equal(holes_within(fx, P(0), P(64)), 12 * PAGE);
	/* Accepted: touching on each side, and filling a gap exactly. */
	hints(fx,
	      (struct vring_desc[]){ { P(9), PAGE, W, 0 },
				     { P(11), 9 * PAGE, W, 0 },
				     { P(24), PAGE, W, 0 },
				     { P(1), 8 * PAGE, W, 0 },
				     { P(64), PAGE, W, 0 } },
	      5, 0);
	assert_int_equal(holes_within(fx, P(0), P(65)), (12 + 20) * PAGE);
	/* Then everything from 0 to 25 is taken: any page there is refused. */
	for (unsigned int p = 0; p < 25; p++)
		hints(fx, (struct vring_desc[]){ { P(p), PAGE, W, 0 } }, 1, 1);
	hints(fx, (struct vring_desc[]){ { P(25), PAGE, W, 0 } }, 1, 0);
	assert_int_equal(holes_within(fx, P(0), P(65)), (12 + 21) * PAGE);
	fx_free(fx);
}

static void sort5(double *t)
{
	for (int i = 0; i < 5; i++)
		for (int j = i + 1; j < 5; j++)
			if (t[j] < t[i]) {
				double x = t[i];

				t[i] = t[j];
				t[j] = x;
			}
}

/*
 * `test_attack9 flood`: the time one flood kick takes (median of 5, A B
 * interleaved), against the same kick with no command running, where every
 * hint is refused at the first check: the ratio is what the overlap check
 * costs.
 */
static int flood_figure(void)
{
	double t[2][5];

	for (int r = 0; r < 5; r++) {
		for (int running = 1; running >= 0; running--) {
			struct fx *fx = fx_new();
			uint64_t t0;

			if (running) {
				hint_running(fx);
				hint_fill(fx);
			}
			t0 = platform_now_ns();
			hint_flood(fx);
			t[running][r] = (double)(platform_now_ns() - t0) / 1e6;
			if (stats(fx).hint_rejected != (uint64_t)QNUM * QNUM) {
				fprintf(stderr, "flood: %llu hints refused, not %u\n",
					(unsigned long long)stats(fx).hint_rejected,
					QNUM * QNUM);
				return 1;
			}
			fx_free(fx);
		}
	}
	sort5(t[0]);
	sort5(t[1]);
	printf("one kick, %u chains x %u hints, all refused: overlapping %u accepted ones %.1f ms, outside a command %.1f ms (medians of 5): %.1fx\n",
	       QNUM, QNUM, FLOOD_RANGES, t[1][2], t[0][2], t[1][2] / t[0][2]);
	return 0;
}

int main(int argc, char **argv)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_hint_flood_refused),
		cmocka_unit_test(test_hint_overlap_any_order),
	};

	if (argc > 1 && !strcmp(argv[1], "flood"))
		return flood_figure();
	return cmocka_run_group_tests(tests, NULL, NULL);
}
