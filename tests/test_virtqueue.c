/*
 * test_virtqueue.c - the split virtqueue: driver half against device half.
 *
 * Both halves run over one fake guest memory: a malloc'd buffer that the
 * translate callback presents at guest-physical GUEST_BASE.  Every test runs
 * over the four queue variants (plain, INDIRECT_DESC, EVENT_IDX, both).  The
 * hostile tests build bad rings by hand and check the device's exact errno.
 * The randomized tests take their seed from VQ_SEED (default fixed) and print
 * it on failure; the event-driven one only moves a side when it was notified,
 * so a wrongly suppressed kick or interrupt shows as a stall.
 */
#define _POSIX_C_SOURCE 200809L
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <cmocka.h>

#include <pthread.h>
#include <sched.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "virtio/virtqueue.h"

#define GUEST_BASE 0x10000u
#define GUEST_SIZE (4u << 20)

static const uint64_t variants[] = {
	0,
	VIRTIO_FEATURE(VIRTIO_RING_F_INDIRECT_DESC),
	VIRTIO_FEATURE(VIRTIO_RING_F_EVENT_IDX),
	VIRTIO_FEATURE(VIRTIO_RING_F_INDIRECT_DESC) |
		VIRTIO_FEATURE(VIRTIO_RING_F_EVENT_IDX),
};
#define NR_VARIANTS (sizeof(variants) / sizeof(variants[0]))

struct guest {
	uint8_t *mem;
	uint64_t size;
	uint64_t brk; /* bump allocator, guest-physical */
};

static void *guest_translate(void *ctx, uint64_t gpa, uint64_t len, bool write)
{
	struct guest *g = ctx;

	(void)write;
	if (gpa < GUEST_BASE || gpa - GUEST_BASE > g->size ||
	    len > g->size - (gpa - GUEST_BASE))
		return NULL;
	return g->mem + (gpa - GUEST_BASE);
}

static void *gptr(struct guest *g, uint64_t gpa)
{
	return g->mem + (gpa - GUEST_BASE);
}

static uint64_t guest_alloc(struct guest *g, uint64_t size, uint64_t align)
{
	uint64_t gpa = (g->brk + align - 1) & ~(align - 1);

	g->brk = gpa + size;
	assert_true(g->brk <= GUEST_BASE + g->size);
	return gpa;
}

/* A driver and a device sharing one queue. */
struct pair {
	struct guest g;
	struct virtqueue_config cfg;
	struct virtqueue vq;
	struct virtqueue_device dev;
	struct vring_iov iov[VIRTQUEUE_MAX_SIZE];
	struct vring_chain chain;
};

static struct pair *pair_new(unsigned int num, uint64_t features,
			     unsigned int indirect_max)
{
	struct pair *p = calloc(1, sizeof(*p));
	uint64_t desc;

	assert_non_null(p);
	p->g.mem = calloc(1, GUEST_SIZE);
	assert_non_null(p->g.mem);
	p->g.size = GUEST_SIZE;
	p->g.brk = GUEST_BASE;
	/* Linux's layout: desc, avail right after, used on the next page. */
	desc = guest_alloc(&p->g, vring_desc_size(num) + vring_avail_size(num),
			   4096);
	p->cfg = (struct virtqueue_config){
		.num = num,
		.features = features | VIRTIO_FEATURE(VIRTIO_F_VERSION_1),
		.desc = desc,
		.avail = desc + vring_desc_size(num),
		.used = guest_alloc(&p->g, vring_used_size(num), 4096),
		.translate = guest_translate,
		.ctx = &p->g,
		.state = calloc(num, sizeof(struct virtqueue_desc_state)),
		.indirect_max = indirect_max,
	};
	assert_non_null(p->cfg.state);
	if (indirect_max)
		p->cfg.indirect_pool = guest_alloc(
			&p->g, vring_desc_size(num) * indirect_max, 16);
	assert_int_equal(virtqueue_init(&p->vq, &p->cfg), 0);
	assert_int_equal(virtqueue_device_init(&p->dev, &p->cfg), 0);
	p->chain = (struct vring_chain){ .iov = p->iov, .max = num };
	return p;
}

static void pair_free(struct pair *p)
{
	free(p->cfg.state);
	free(p->g.mem);
	free(p);
}

static uint8_t pattern(uint64_t gpa, unsigned int salt)
{
	return (uint8_t)(gpa * 131 + salt * 7 + (gpa >> 8));
}

/* ---- layout ---- */

static void test_layout(void **unused)
{
	struct vring_avail *avail = (void *)(uint16_t[2 + 9]){ 0 };
	struct vring_used *used = (void *)(uint32_t[1 + 16 + 1]){ 0 };
	struct vring vr = { .num = 8, .avail = avail, .used = used };

	(void)unused;
	assert_int_equal((uint8_t *)vring_used_event(&vr) - (uint8_t *)avail,
			 4 + 2 * 8);
	assert_int_equal((uint8_t *)vring_avail_event(&vr) - (uint8_t *)used,
			 4 + 8 * 8);
	assert_int_equal(vring_avail_size(8), 22);
	assert_int_equal(vring_used_size(8), 70);
	assert_int_equal(vring_desc_size(32768), 16 * 32768);

	/* Notify iff event is in [old, new), modulo 65536. */
	assert_true(vring_need_event(0, 1, 0));
	assert_false(vring_need_event(0, 2, 1));
	assert_true(vring_need_event(5, 10, 3));
	assert_false(vring_need_event(10, 10, 3));
	assert_false(vring_need_event(2, 10, 3));
	assert_true(vring_need_event(0xffff, 2, 0xfffe));
	assert_true(vring_need_event(1, 2, 0xfffe));
	assert_false(vring_need_event(2, 2, 0xfffe));
	assert_false(vring_need_event(7, 7, 7));

	assert_int_equal(le16_to_cpu(cpu_to_le16(0x1234)), 0x1234);
	assert_int_equal(*(uint8_t *)&(uint16_t){ cpu_to_le16(0x1234) }, 0x34);
	assert_int_equal(*(uint8_t *)&(uint64_t){ cpu_to_le64(0x0102030405060708) },
			 0x08);
}

/* ---- init ---- */

static void test_init_rejects(void **unused)
{
	struct pair *p = pair_new(8, 0, 0);
	struct virtqueue_config c;
	struct virtqueue vq;
	struct virtqueue_device dev;
	static const unsigned int bad_num[] = { 0, 3, 6, 65536, 40000 };
	unsigned int i;

	(void)unused;
	for (i = 0; i < sizeof(bad_num) / sizeof(bad_num[0]); i++) {
		c = p->cfg;
		c.num = bad_num[i];
		assert_int_equal(virtqueue_init(&vq, &c), -GMM_EINVAL);
		assert_int_equal(virtqueue_device_init(&dev, &c), -GMM_EINVAL);
	}
	c = p->cfg;
	c.num_max = 4; /* the device offered QueueNumMax 4, driver used 8 */
	assert_int_equal(virtqueue_device_init(&dev, &c), -GMM_EINVAL);

	c = p->cfg;
	c.desc += 8; /* 16-byte alignment */
	assert_int_equal(virtqueue_device_init(&dev, &c), -GMM_EINVAL);
	c = p->cfg;
	c.avail += 1;
	assert_int_equal(virtqueue_device_init(&dev, &c), -GMM_EINVAL);
	c = p->cfg;
	c.used += 2;
	assert_int_equal(virtqueue_device_init(&dev, &c), -GMM_EINVAL);

	c = p->cfg;
	c.used = GUEST_BASE + GUEST_SIZE - 64; /* runs off the end */
	assert_int_equal(virtqueue_device_init(&dev, &c), -GMM_EFAULT);
	assert_int_equal(virtqueue_init(&vq, &c), -GMM_EFAULT);
	c = p->cfg;
	c.desc = 0x1000; /* below guest memory */
	assert_int_equal(virtqueue_device_init(&dev, &c), -GMM_EFAULT);
	c = p->cfg;
	c.avail = UINT64_MAX - 7; /* wraps */
	assert_int_equal(virtqueue_device_init(&dev, &c), -GMM_EOVERFLOW);

	c = p->cfg;
	c.state = NULL;
	assert_int_equal(virtqueue_init(&vq, &c), -GMM_EINVAL);
	c = p->cfg;
	c.translate = NULL;
	assert_int_equal(virtqueue_device_init(&dev, &c), -GMM_EINVAL);
	c = p->cfg;
	c.features |= VIRTIO_FEATURE(VIRTIO_RING_F_INDIRECT_DESC);
	c.indirect_max = 9;
	c.indirect_pool = GUEST_BASE;
	assert_int_equal(virtqueue_init(&vq, &c), -GMM_EINVAL);
	c.indirect_max = 8;
	c.indirect_pool = GUEST_BASE + GUEST_SIZE - 512;
	assert_int_equal(virtqueue_init(&vq, &c), -GMM_EFAULT);
	pair_free(p);
}

/* ---- driver against device ---- */

/* Offer one chain of @out + @in buffers of varying length. */
static void offer(struct pair *p, struct vring_sg *sg, unsigned int out,
		  unsigned int in, uintptr_t token)
{
	unsigned int i, j;

	for (i = 0; i < out + in; i++) {
		sg[i].len = 1 + (uint32_t)((token * 7 + i * 13) % 200);
		sg[i].addr = guest_alloc(&p->g, sg[i].len, 1);
		for (j = 0; j < sg[i].len; j++)
			((uint8_t *)gptr(&p->g, sg[i].addr))[j] =
				i < out ? pattern(sg[i].addr + j, 1) : 0;
	}
	assert_int_equal(virtqueue_add(&p->vq, sg, out, in, (void *)token), 0);
}

/* Pop one chain, check it against @sg, fill its writable part. */
static uint32_t serve(struct pair *p, const struct vring_sg *sg,
		      unsigned int out, unsigned int in)
{
	uint32_t written = 0;
	unsigned int i, j;

	assert_int_equal(virtqueue_device_pop(&p->dev, &p->chain), 0);
	assert_int_equal(p->chain.nr_out, out);
	assert_int_equal(p->chain.nr_in, in);
	for (i = 0; i < out + in; i++) {
		struct vring_iov *iov = &p->iov[i];

		assert_int_equal(iov->gpa, sg[i].addr);
		assert_int_equal(iov->len, sg[i].len);
		assert_int_equal(iov->write, i >= out);
		assert_ptr_equal(iov->ptr, gptr(&p->g, sg[i].addr));
		for (j = 0; j < iov->len; j++) {
			uint8_t *b = (uint8_t *)iov->ptr + j;

			if (iov->write)
				*b = pattern(iov->gpa + j, 2);
			else
				assert_int_equal(*b, pattern(iov->gpa + j, 1));
		}
		if (iov->write)
			written += iov->len;
	}
	assert_int_equal(virtqueue_device_push(&p->dev, p->chain.head, written),
			 0);
	return written;
}

static void test_roundtrip(void **unused)
{
	unsigned int v, out, in, j;
	struct vring_sg sg[8];

	(void)unused;
	for (v = 0; v < NR_VARIANTS; v++) {
		struct pair *p = pair_new(8, variants[v], 8);
		bool indirect = variants[v] &
				VIRTIO_FEATURE(VIRTIO_RING_F_INDIRECT_DESC);

		for (out = 0; out <= 4; out++) {
			for (in = 0; in <= 4; in++) {
				uintptr_t token = 1 + out * 8 + in;
				void *got;
				uint32_t len, written;

				if (!out && !in)
					continue;
				offer(p, sg, out, in, token);
				assert_int_equal(virtqueue_num_free(&p->vq),
						 8 - (indirect && out + in > 1 ?
							      1 : out + in));
				written = serve(p, sg, out, in);
				assert_int_equal(virtqueue_get_used(&p->vq, &got,
								    &len), 0);
				assert_ptr_equal(got, (void *)token);
				assert_int_equal(len, written);
				for (j = 0; j < in; j++)
					assert_memory_equal(
						gptr(&p->g, sg[out + j].addr),
						p->iov[out + j].ptr,
						sg[out + j].len);
				assert_int_equal(virtqueue_num_free(&p->vq), 8);
				assert_int_equal(virtqueue_get_used(&p->vq, &got,
								    &len),
						 -GMM_EAGAIN);
			}
		}
		assert_int_equal(virtqueue_device_pop(&p->dev, &p->chain),
				 -GMM_EAGAIN);
		pair_free(p);
	}
}

static void test_add_limits(void **unused)
{
	struct vring_sg sg[10] = { { GUEST_BASE, 1 } };
	unsigned int v, i;
	void *tok;
	uint32_t len;

	(void)unused;
	for (i = 1; i < 10; i++)
		sg[i] = sg[0];
	for (v = 0; v < NR_VARIANTS; v++) {
		struct pair *p = pair_new(8, variants[v], 4);
		bool indirect = variants[v] &
				VIRTIO_FEATURE(VIRTIO_RING_F_INDIRECT_DESC);

		assert_int_equal(virtqueue_add(&p->vq, sg, 1, 0, NULL), -GMM_EINVAL);
		assert_int_equal(virtqueue_add(&p->vq, sg, 0, 0, (void *)1),
				 -GMM_EINVAL);
		/* Longer than the ring and than an indirect table. */
		assert_int_equal(virtqueue_add(&p->vq, sg, 5, 4, (void *)1),
				 -GMM_EINVAL);
		/* Six chains of three: indirect takes one slot each. */
		for (i = 0; i < 6; i++) {
			int err = virtqueue_add(&p->vq, sg, 1, 2, (void *)1);

			assert_int_equal(err, indirect || i < 2 ? 0 : -GMM_ENOSPC);
		}
		/* Five chains of five: too long for a table, direct. */
		assert_int_equal(virtqueue_add(&p->vq, sg, 5, 0, (void *)1),
				 -GMM_ENOSPC);
		while (virtqueue_add(&p->vq, sg, 1, 0, (void *)1) == 0)
			;
		assert_int_equal(virtqueue_num_free(&p->vq), 0);
		while (virtqueue_device_pop(&p->dev, &p->chain) == 0)
			assert_int_equal(virtqueue_device_push(&p->dev,
							       p->chain.head, 0),
					 0);
		while (virtqueue_get_used(&p->vq, &tok, &len) == 0)
			;
		assert_int_equal(virtqueue_num_free(&p->vq), 8);
		assert_int_equal(virtqueue_add(&p->vq, sg, 8, 0, (void *)1), 0);
		pair_free(p);
	}
}

/* More than 65536 chains through a queue of 4: every index wraps. */
static void test_wrap(void **unused)
{
	struct vring_sg sg[4];
	unsigned int v, n, k;
	void *tok;
	uint32_t len;

	(void)unused;
	for (v = 0; v < NR_VARIANTS; v++) {
		struct pair *p = pair_new(4, variants[v], 4);
		uint64_t done = 0, added = 0;

		for (n = 0; n < 4; n++)
			sg[n] = (struct vring_sg){ guest_alloc(&p->g, 64, 8), 64 };
		while (done < 70000) {
			/* Up to three chains in flight, of 1..3 buffers. */
			for (k = 0; k < 3; k++) {
				n = 1 + (unsigned int)(added % 3);
				if (virtqueue_add(&p->vq, sg, n - 1, 1,
						  (void *)(uintptr_t)(added + 1)))
					break;
				added++;
			}
			virtqueue_kick_prepare(&p->vq);
			while (virtqueue_device_pop(&p->dev, &p->chain) == 0) {
				assert_int_equal(p->chain.nr_in, 1);
				assert_int_equal(virtqueue_device_push(&p->dev,
							p->chain.head,
							p->chain.nr_out), 0);
			}
			virtqueue_device_should_notify(&p->dev);
			while (virtqueue_get_used(&p->vq, &tok, &len) == 0) {
				done++;
				assert_int_equal((uintptr_t)tok, done);
				assert_int_equal(len, (done - 1) % 3);
			}
		}
		assert_true(added > 65536 && done == added);
		assert_int_equal(p->vq.avail_idx, (uint16_t)added);
		assert_int_equal(p->dev.last_avail_idx, (uint16_t)added);
		assert_int_equal(vring_load_relaxed(&p->dev.vr.used->idx),
				 (uint16_t)added);
		assert_int_equal(virtqueue_num_free(&p->vq), 4);
		pair_free(p);
	}
}

/* ---- notification suppression ---- */

static void add1(struct pair *p)
{
	struct vring_sg sg = { GUEST_BASE, 8 };

	assert_int_equal(virtqueue_add(&p->vq, &sg, 0, 1, (void *)1), 0);
}

static void pop_push_all(struct pair *p)
{
	while (virtqueue_device_pop(&p->dev, &p->chain) == 0)
		assert_int_equal(virtqueue_device_push(&p->dev, p->chain.head, 8),
				 0);
}

static unsigned int get_all(struct pair *p)
{
	unsigned int n = 0;
	void *tok;
	uint32_t len;

	while (virtqueue_get_used(&p->vq, &tok, &len) == 0)
		n++;
	return n;
}

static void test_notify_flags(void **unused)
{
	struct pair *p = pair_new(8, 0, 0);

	(void)unused;
	/* Kicks: VRING_USED_F_NO_NOTIFY. */
	add1(p);
	assert_true(virtqueue_kick_prepare(&p->vq));
	virtqueue_device_disable_notify(&p->dev);
	assert_int_equal(vring_load_relaxed(&p->dev.vr.used->flags),
			 VRING_USED_F_NO_NOTIFY);
	add1(p);
	assert_false(virtqueue_kick_prepare(&p->vq));
	assert_false(virtqueue_device_enable_notify(&p->dev)); /* 2 waiting */
	pop_push_all(p);
	assert_true(virtqueue_device_enable_notify(&p->dev));
	add1(p);
	assert_true(virtqueue_kick_prepare(&p->vq));

	/* Interrupts: VRING_AVAIL_F_NO_INTERRUPT. */
	assert_true(virtqueue_device_should_notify(&p->dev));
	assert_int_equal(get_all(p), 2);
	virtqueue_disable_cb(&p->vq);
	assert_int_equal(vring_load_relaxed(&p->vq.vr.avail->flags),
			 VRING_AVAIL_F_NO_INTERRUPT);
	pop_push_all(p);
	assert_false(virtqueue_device_should_notify(&p->dev));
	assert_false(virtqueue_enable_cb(&p->vq)); /* one is waiting */
	assert_int_equal(get_all(p), 1);
	assert_true(virtqueue_enable_cb(&p->vq));
	add1(p);
	virtqueue_kick_prepare(&p->vq);
	pop_push_all(p);
	assert_true(virtqueue_device_should_notify(&p->dev));
	pair_free(p);
}

static void test_notify_event_idx(void **unused)
{
	struct pair *p = pair_new(8, VIRTIO_FEATURE(VIRTIO_RING_F_EVENT_IDX), 0);
	uint16_t *avail_event = vring_avail_event(&p->dev.vr);
	uint16_t *used_event = vring_used_event(&p->vq.vr);

	(void)unused;
	/* Kicks: avail_event. The device starts asking at index 0. */
	add1(p);
	assert_true(virtqueue_kick_prepare(&p->vq)); /* 0 in [0, 1) */
	add1(p);
	assert_false(virtqueue_kick_prepare(&p->vq)); /* 0 not in [1, 2) */
	pop_push_all(p); /* empty at 2: asks for a kick at index 2 */
	assert_int_equal(le16_to_cpu(*avail_event), 2);
	add1(p);
	add1(p);
	assert_true(virtqueue_kick_prepare(&p->vq)); /* 2 in [2, 4), batched */
	add1(p);
	assert_false(virtqueue_kick_prepare(&p->vq));
	/* Disabled: avail_event stops moving even when the ring runs dry. */
	virtqueue_device_disable_notify(&p->dev);
	pop_push_all(p);
	assert_int_equal(le16_to_cpu(*avail_event), 2);
	add1(p);
	assert_false(virtqueue_kick_prepare(&p->vq));
	assert_false(virtqueue_device_enable_notify(&p->dev));
	pop_push_all(p);
	assert_true(virtqueue_device_enable_notify(&p->dev));
	assert_int_equal(le16_to_cpu(*avail_event), 6);
	add1(p);
	assert_true(virtqueue_kick_prepare(&p->vq));
	pop_push_all(p);

	/* Interrupts: used_event.  The first decision is always yes. */
	assert_true(virtqueue_device_should_notify(&p->dev));
	assert_int_equal(get_all(p), 7);
	assert_int_equal(le16_to_cpu(*used_event), 7);
	add1(p);
	add1(p);
	virtqueue_kick_prepare(&p->vq);
	assert_int_equal(virtqueue_device_pop(&p->dev, &p->chain), 0);
	virtqueue_device_push(&p->dev, p->chain.head, 0);
	assert_true(virtqueue_device_should_notify(&p->dev)); /* 7 in [7, 8) */
	assert_int_equal(virtqueue_device_pop(&p->dev, &p->chain), 0);
	virtqueue_device_push(&p->dev, p->chain.head, 0);
	assert_false(virtqueue_device_should_notify(&p->dev)); /* not collected */
	assert_int_equal(get_all(p), 2);
	virtqueue_disable_cb(&p->vq);
	add1(p);
	virtqueue_kick_prepare(&p->vq);
	pop_push_all(p);
	assert_false(virtqueue_device_should_notify(&p->dev));
	assert_false(virtqueue_enable_cb(&p->vq));
	assert_int_equal(get_all(p), 1);
	assert_true(virtqueue_enable_cb(&p->vq));
	add1(p);
	virtqueue_kick_prepare(&p->vq);
	pop_push_all(p);
	assert_true(virtqueue_device_should_notify(&p->dev));
	/* Across the 16-bit wrap of the indices. */
	while (p->dev.used_idx != 0xfffe) {
		get_all(p);
		add1(p);
		virtqueue_kick_prepare(&p->vq);
		pop_push_all(p);
		virtqueue_device_should_notify(&p->dev);
	}
	get_all(p);
	add1(p);
	add1(p);
	add1(p);
	assert_true(virtqueue_kick_prepare(&p->vq));
	pop_push_all(p);
	assert_true(virtqueue_device_should_notify(&p->dev)); /* 0xfffe..0x1 */
	assert_int_equal(p->dev.used_idx, 1);
	pair_free(p);
}

/* ---- hostile driver ---- */

/* A device over rings the test writes by hand. */
struct raw {
	struct guest g;
	struct virtqueue_config cfg;
	struct virtqueue_device dev;
	struct vring vr;
	struct vring_iov iov[64];
	struct vring_chain chain;
	uint16_t avail_idx;
	uint64_t buf; /* 4 KiB of valid buffer space */
};

#define RAW_NUM 8
#define RAW_SIZE 0x10000u

static struct raw *raw_new(uint64_t features)
{
	struct raw *r = calloc(1, sizeof(*r));

	assert_non_null(r);
	r->g.mem = calloc(1, RAW_SIZE);
	assert_non_null(r->g.mem);
	r->g.size = RAW_SIZE;
	r->g.brk = GUEST_BASE;
	r->cfg = (struct virtqueue_config){
		.num = RAW_NUM,
		.features = features,
		.desc = guest_alloc(&r->g, vring_desc_size(RAW_NUM), 16),
		.avail = guest_alloc(&r->g, vring_avail_size(RAW_NUM), 2),
		.used = guest_alloc(&r->g, vring_used_size(RAW_NUM), 4),
		.translate = guest_translate,
		.ctx = &r->g,
	};
	r->vr = (struct vring){
		.num = RAW_NUM,
		.desc = gptr(&r->g, r->cfg.desc),
		.avail = gptr(&r->g, r->cfg.avail),
		.used = gptr(&r->g, r->cfg.used),
	};
	r->buf = guest_alloc(&r->g, 4096, 16);
	assert_int_equal(virtqueue_device_init(&r->dev, &r->cfg), 0);
	r->chain = (struct vring_chain){ .iov = r->iov, .max = 64 };
	return r;
}

static void raw_free(struct raw *r)
{
	free(r->g.mem);
	free(r);
}

static void desc_put(struct vring_desc *d, uint64_t addr, uint32_t len,
		     uint16_t flags, uint16_t next)
{
	*d = (struct vring_desc){ cpu_to_le64(addr), cpu_to_le32(len),
				  cpu_to_le16(flags), cpu_to_le16(next) };
}

static void raw_desc(struct raw *r, unsigned int i, uint64_t addr,
		     uint32_t len, uint16_t flags, uint16_t next)
{
	desc_put(&r->vr.desc[i], addr, len, flags, next);
}

/* An indirect table of @n entries in guest memory; returns its gpa. */
static uint64_t raw_table(struct raw *r, unsigned int n, struct vring_desc **t)
{
	uint64_t gpa = guest_alloc(&r->g, 16 * (uint64_t)n, 16);

	*t = gptr(&r->g, gpa);
	return gpa;
}

static void raw_offer(struct raw *r, uint16_t head)
{
	r->vr.avail->ring[r->avail_idx % RAW_NUM] = cpu_to_le16(head);
	r->avail_idx++;
	vring_store_release(&r->vr.avail->idx, r->avail_idx);
}

/* Pop, expect @err, and expect the queue to stay broken with it. */
static void raw_expect(struct raw *r, int err)
{
	assert_int_equal(virtqueue_device_pop(&r->dev, &r->chain), err);
	assert_int_equal(virtqueue_device_pop(&r->dev, &r->chain), err);
	assert_int_equal(r->dev.error, err);
	raw_free(r);
}

#define INDIRECT VIRTIO_FEATURE(VIRTIO_RING_F_INDIRECT_DESC)
#define W VRING_DESC_F_WRITE
#define N VRING_DESC_F_NEXT
#define I VRING_DESC_F_INDIRECT

static void test_hostile_index(void **unused)
{
	struct raw *r;

	(void)unused;
	r = raw_new(0); /* head out of range */
	raw_offer(r, RAW_NUM);
	raw_expect(r, -GMM_ERANGE);

	r = raw_new(0);
	raw_offer(r, 0xffff);
	raw_expect(r, -GMM_ERANGE);

	r = raw_new(0); /* next out of range */
	raw_desc(r, 0, r->buf, 16, N, RAW_NUM);
	raw_offer(r, 0);
	raw_expect(r, -GMM_ERANGE);

	r = raw_new(0); /* avail.idx ahead by num + 1 */
	vring_store_release(&r->vr.avail->idx, RAW_NUM + 1);
	raw_expect(r, -GMM_EBADMSG);

	r = raw_new(0); /* avail.idx moved backwards: 65535 ahead */
	vring_store_release(&r->vr.avail->idx, 0xffff);
	raw_expect(r, -GMM_EBADMSG);

	r = raw_new(0); /* exactly num ahead is fine */
	raw_desc(r, 0, r->buf, 16, 0, 0);
	vring_store_release(&r->vr.avail->idx, RAW_NUM);
	for (unsigned int i = 0; i < RAW_NUM; i++)
		assert_int_equal(virtqueue_device_pop(&r->dev, &r->chain), 0);
	/* More than num chains in flight: the driver re-offers head 0. */
	r->avail_idx = RAW_NUM;
	raw_offer(r, 0);
	raw_expect(r, -GMM_EBUSY);
}

static void test_hostile_memory(void **unused)
{
	struct raw *r;
	struct vring_desc *t;
	uint64_t end = GUEST_BASE + RAW_SIZE;

	(void)unused;
	r = raw_new(0); /* below guest memory */
	raw_desc(r, 0, 0x1000, 16, 0, 0);
	raw_offer(r, 0);
	raw_expect(r, -GMM_EFAULT);

	r = raw_new(0); /* starts inside, ends outside */
	raw_desc(r, 0, end - 8, 16, 0, 0);
	raw_offer(r, 0);
	raw_expect(r, -GMM_EFAULT);

	r = raw_new(0); /* entirely above, in a writable second buffer */
	raw_desc(r, 0, r->buf, 16, N, 1);
	raw_desc(r, 1, end, 1, W, 0);
	raw_offer(r, 0);
	raw_expect(r, -GMM_EFAULT);

	r = raw_new(0); /* addr + len wraps */
	raw_desc(r, 0, UINT64_MAX - 10, 100, 0, 0);
	raw_offer(r, 0);
	raw_expect(r, -GMM_EOVERFLOW);

	r = raw_new(0); /* ends exactly at 2^64: still not representable */
	raw_desc(r, 0, UINT64_MAX - 99, 100, 0, 0);
	raw_offer(r, 0);
	raw_expect(r, -GMM_EOVERFLOW);

	r = raw_new(INDIRECT); /* table outside memory */
	raw_desc(r, 0, end - 16, 32, I, 0);
	raw_offer(r, 0);
	raw_expect(r, -GMM_EFAULT);

	r = raw_new(INDIRECT); /* table wraps */
	raw_desc(r, 0, UINT64_MAX - 15, 32, I, 0);
	raw_offer(r, 0);
	raw_expect(r, -GMM_EOVERFLOW);

	r = raw_new(INDIRECT); /* table misaligned for its le64 fields */
	raw_desc(r, 0, raw_table(r, 2, &t) + 4, 16, I, 0);
	raw_offer(r, 0);
	raw_expect(r, -GMM_EFAULT);

	r = raw_new(INDIRECT); /* bad buffer inside a table */
	raw_desc(r, 0, raw_table(r, 2, &t), 32, I, 0);
	desc_put(&t[0], r->buf, 8, N, 1);
	desc_put(&t[1], GUEST_BASE + RAW_SIZE, 8, W, 0);
	raw_offer(r, 0);
	raw_expect(r, -GMM_EFAULT);

	r = raw_new(0); /* a small iov array is the caller's limit, not fatal */
	r->chain.max = 1;
	raw_desc(r, 0, r->buf, 8, N, 1);
	raw_desc(r, 1, r->buf, 8, 0, 0);
	raw_offer(r, 0);
	assert_int_equal(virtqueue_device_pop(&r->dev, &r->chain), -GMM_ENOSPC);
	r->chain.max = 2;
	assert_int_equal(virtqueue_device_pop(&r->dev, &r->chain), 0);
	raw_free(r);
}

/* A translation whose host pointers are misaligned though the guest
 * addresses are aligned (a region mapped at an odd host offset): the
 * device half refuses the rings, whose fields it loads atomically. */
static uint8_t skewed_mem[3 * 4096] __attribute__((aligned(4096)));

static void *skewed_translate(void *ctx, uint64_t gpa, uint64_t len,
			      bool write)
{
	(void)ctx;
	(void)write;
	if (gpa < GUEST_BASE || gpa - GUEST_BASE + len > 2 * 4096)
		return NULL;
	return skewed_mem + 1 + (gpa - GUEST_BASE);
}

static void test_host_alignment(void **unused)
{
	struct virtqueue_device dev;
	struct virtqueue_config cfg = {
		.num = 16,
		.desc = GUEST_BASE,
		.avail = GUEST_BASE + 4096,
		.used = GUEST_BASE + 4096 + 64,
		.translate = skewed_translate,
	};

	(void)unused;
	assert_int_equal(virtqueue_device_init(&dev, &cfg), -GMM_EINVAL);
}

static void test_hostile_chain(void **unused)
{
	struct raw *r;
	struct vring_desc *t;
	unsigned int i;

	(void)unused;
	r = raw_new(0); /* self loop */
	raw_desc(r, 3, r->buf, 8, N, 3);
	raw_offer(r, 3);
	raw_expect(r, -GMM_ELOOP);

	r = raw_new(0); /* 0 -> 1 -> 0 */
	raw_desc(r, 0, r->buf, 8, N, 1);
	raw_desc(r, 1, r->buf, 8, N, 0);
	raw_offer(r, 0);
	raw_expect(r, -GMM_ELOOP);

	r = raw_new(0); /* a full ring chain of num is fine, */
	for (i = 0; i < RAW_NUM; i++)
		raw_desc(r, i, r->buf, 8, i + 1 < RAW_NUM ? N : 0,
			 (uint16_t)(i + 1));
	raw_offer(r, 0);
	assert_int_equal(virtqueue_device_pop(&r->dev, &r->chain), 0);
	assert_int_equal(r->chain.nr_out, RAW_NUM);
	raw_desc(r, RAW_NUM - 1, r->buf, 8, N, 2); /* its tail looping is not */
	raw_offer(r, 0);
	raw_expect(r, -GMM_ELOOP);

	r = raw_new(INDIRECT); /* loop inside a table */
	raw_desc(r, 0, raw_table(r, 3, &t), 48, I, 0);
	desc_put(&t[0], r->buf, 8, N, 1);
	desc_put(&t[1], r->buf, 8, N, 2);
	desc_put(&t[2], r->buf, 8, N, 1);
	raw_offer(r, 0);
	raw_expect(r, -GMM_ELOOP);

	r = raw_new(INDIRECT); /* next past the end of a table */
	raw_desc(r, 0, raw_table(r, 2, &t), 32, I, 0);
	desc_put(&t[0], r->buf, 8, N, 2);
	raw_offer(r, 0);
	raw_expect(r, -GMM_ERANGE);

	r = raw_new(INDIRECT); /* 7 direct + 2 indirect buffers > num */
	for (i = 0; i < 7; i++)
		raw_desc(r, i, r->buf, 8, N, (uint16_t)(i + 1));
	raw_desc(r, 7, raw_table(r, 2, &t), 32, I, 0);
	desc_put(&t[0], r->buf, 8, N, 1);
	desc_put(&t[1], r->buf, 8, 0, 0);
	raw_offer(r, 0);
	raw_expect(r, -GMM_E2BIG);

	r = raw_new(INDIRECT); /* 6 + 2 = num is fine */
	for (i = 1; i < 7; i++)
		raw_desc(r, i, r->buf, 8, N, (uint16_t)(i + 1));
	raw_desc(r, 7, raw_table(r, 2, &t), 32, I, 0);
	desc_put(&t[0], r->buf, 8, N, 1);
	desc_put(&t[1], r->buf, 8, W, 0);
	raw_offer(r, 1);
	assert_int_equal(virtqueue_device_pop(&r->dev, &r->chain), 0);
	assert_int_equal(r->chain.nr_out + r->chain.nr_in, RAW_NUM);
	assert_int_equal(r->chain.nr_in, 1);
	raw_free(r);

	r = raw_new(0); /* readable after writable */
	raw_desc(r, 0, r->buf, 8, W | N, 1);
	raw_desc(r, 1, r->buf, 8, 0, 0);
	raw_offer(r, 0);
	raw_expect(r, -GMM_EILSEQ);

	r = raw_new(INDIRECT); /* ... across the switch to a table */
	raw_desc(r, 0, r->buf, 8, W | N, 1);
	raw_desc(r, 1, raw_table(r, 1, &t), 16, I, 0);
	desc_put(&t[0], r->buf, 8, 0, 0);
	raw_offer(r, 0);
	raw_expect(r, -GMM_EILSEQ);

	r = raw_new(INDIRECT); /* ... inside a table */
	raw_desc(r, 0, raw_table(r, 2, &t), 32, I | W, 0);
	desc_put(&t[0], r->buf, 8, W | N, 1);
	desc_put(&t[1], r->buf, 8, 0, 0);
	raw_offer(r, 0);
	raw_expect(r, -GMM_EILSEQ);
}

static void test_hostile_indirect(void **unused)
{
	static const uint32_t bad_len[] = { 0, 8, 24, 17, 16 * (RAW_NUM + 1) };
	struct raw *r;
	struct vring_desc *t, *t2;
	unsigned int i;

	(void)unused;
	r = raw_new(0); /* not negotiated */
	raw_desc(r, 0, raw_table(r, 1, &t), 16, I, 0);
	desc_put(&t[0], r->buf, 8, 0, 0);
	raw_offer(r, 0);
	raw_expect(r, -GMM_EPERM);

	r = raw_new(INDIRECT); /* nested */
	raw_desc(r, 0, raw_table(r, 1, &t), 16, I, 0);
	desc_put(&t[0], raw_table(r, 1, &t2), 16, I, 0);
	desc_put(&t2[0], r->buf, 8, 0, 0);
	raw_offer(r, 0);
	raw_expect(r, -GMM_EMLINK);

	r = raw_new(INDIRECT); /* INDIRECT with NEXT */
	raw_desc(r, 0, raw_table(r, 1, &t), 16, I | N, 1);
	raw_desc(r, 1, r->buf, 8, 0, 0);
	desc_put(&t[0], r->buf, 8, 0, 0);
	raw_offer(r, 0);
	raw_expect(r, -GMM_EPROTO);

	for (i = 0; i < sizeof(bad_len) / sizeof(bad_len[0]); i++) {
		r = raw_new(INDIRECT);
		raw_desc(r, 0, raw_table(r, RAW_NUM + 1, &t), bad_len[i], I, 0);
		raw_offer(r, 0);
		raw_expect(r, -GMM_EMSGSIZE);
	}

	r = raw_new(INDIRECT); /* WRITE on the table descriptor is ignored */
	raw_desc(r, 0, raw_table(r, RAW_NUM, &t), 16 * RAW_NUM, I | W, 0);
	for (i = 0; i < RAW_NUM; i++)
		desc_put(&t[i], r->buf + i, 1, i + 1 < RAW_NUM ? N : 0,
			 (uint16_t)(i + 1));
	raw_offer(r, 0);
	assert_int_equal(virtqueue_device_pop(&r->dev, &r->chain), 0);
	assert_int_equal(r->chain.nr_out, RAW_NUM);
	raw_free(r);
}

/* A backend restarted on a live queue (vhost-user SET_VRING_BASE). */
static void test_device_restart(void **unused)
{
	struct pair *p = pair_new(8, VIRTIO_FEATURE(VIRTIO_RING_F_EVENT_IDX), 0);
	uint16_t heads[3];
	unsigned int i;

	(void)unused;
	for (i = 0; i < 3; i++) {
		add1(p);
		assert_int_equal(virtqueue_device_pop(&p->dev, &p->chain), 0);
		heads[i] = p->chain.head;
	}
	virtqueue_device_push(&p->dev, heads[0], 0);
	add1(p);

	p->cfg.avail_base = 3; /* the old backend popped 3, pushed 1 */
	assert_int_equal(virtqueue_device_init(&p->dev, &p->cfg), 0);
	assert_int_equal(p->dev.inflight, 2);
	assert_int_equal(virtqueue_device_pop(&p->dev, &p->chain), 0);
	assert_int_equal(virtqueue_device_pop(&p->dev, &p->chain), -GMM_EAGAIN);
	virtqueue_device_push(&p->dev, p->chain.head, 0);
	virtqueue_device_push(&p->dev, heads[1], 0);
	virtqueue_device_push(&p->dev, heads[2], 0);
	assert_int_equal(virtqueue_device_push(&p->dev, 0, 0), -GMM_EINVAL);
	assert_true(virtqueue_device_should_notify(&p->dev));
	assert_int_equal(get_all(p), 4);
	assert_int_equal(virtqueue_num_free(&p->vq), 8);

	/* A used.idx further behind than num cannot be ours. */
	p->cfg.avail_base = 4 + 9;
	assert_int_equal(virtqueue_device_init(&p->dev, &p->cfg), -GMM_EBADMSG);
	p->cfg.avail_base = 3; /* nor one ahead of avail_base */
	assert_int_equal(virtqueue_device_init(&p->dev, &p->cfg), -GMM_EBADMSG);
	pair_free(p);
}

/* A device that uses an id the driver never handed out. */
static void test_hostile_device(void **unused)
{
	struct pair *p = pair_new(8, 0, 0);
	struct vring_used *used = p->vq.vr.used;
	void *tok;
	uint32_t len;

	(void)unused;
	add1(p);
	used->ring[0] = (struct vring_used_elem){ cpu_to_le32(8), 0 };
	vring_store_release(&used->idx, 1);
	assert_int_equal(virtqueue_get_used(&p->vq, &tok, &len), -GMM_EIO);
	used->ring[0].id = cpu_to_le32(3); /* in range, not in flight */
	assert_int_equal(virtqueue_get_used(&p->vq, &tok, &len), -GMM_EIO);
	used->ring[0].id = cpu_to_le32(0);
	assert_int_equal(virtqueue_get_used(&p->vq, &tok, &len), 0);
	assert_int_equal(virtqueue_device_push(&p->dev, 0, 0), -GMM_EINVAL);
	pair_free(p);
}

/* ---- randomized ---- */

static uint64_t rng_state;

static uint64_t rnd(void)
{
	/* splitmix64 */
	uint64_t z = (rng_state += 0x9e3779b97f4a7c15ull);

	z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9ull;
	z = (z ^ (z >> 27)) * 0x94d049bb133111ebull;
	return z ^ (z >> 31);
}

static unsigned int rnd_below(unsigned int n)
{
	return (unsigned int)(rnd() % n);
}

static uint64_t test_seed(void)
{
	const char *s = getenv("VQ_SEED");

	return s ? strtoull(s, NULL, 0) : 0x6775657374ull;
}

#define CHECK(cond, ...)                                                       \
	do {                                                                   \
		if (!(cond)) {                                                 \
			print_error("seed %#llx step %lu: %s: ",               \
				    (unsigned long long)seed, step, #cond);    \
			print_error(__VA_ARGS__);                              \
			print_error("\n");                                     \
			fail();                                                \
		}                                                              \
	} while (0)

/*
 * The driver's descriptors: the free list and the chains in flight cover
 * each descriptor exactly once.  Return: NULL, or what is wrong.
 */
static const char *vq_check(const struct virtqueue *vq)
{
	unsigned int num = vq->vr.num, i, k, seen = 0;
	uint8_t *mark = calloc(num, 1);
	const char *bad = NULL;
	uint16_t d;

	assert_non_null(mark);
	for (i = 0, d = vq->free_head; i < vq->num_free && !bad; i++) {
		if (d >= num || mark[d]++)
			bad = "free list broken";
		seen++;
		d = vq->state[d < num ? d : 0].next;
	}
	for (i = 0; i < num && !bad; i++) {
		if (!vq->state[i].token)
			continue;
		for (k = 0, d = (uint16_t)i; k < vq->state[i].ndesc && !bad; k++) {
			if (d >= num || mark[d]++)
				bad = "chain overlaps";
			seen++;
			d = vq->state[d < num ? d : 0].next;
		}
	}
	if (!bad && seen != num)
		bad = "descriptors leaked";
	free(mark);
	return bad;
}

struct req {
	struct vring_sg sg[12];
	unsigned int out, in;
	bool busy;
};

/*
 * Event-driven: the device pops only while awake (kicked), the driver
 * collects only when interrupted, both sides suppress notifications at
 * random; the device completes popped chains out of order.  After every step
 * the bookkeeping of both halves is checked; at the end both sides go quiet
 * and every chain must have come back.
 */
static void run_random(uint64_t seed, uint64_t features, unsigned int num,
		       unsigned long steps)
{
	struct pair *p = pair_new(num, features, num < 8 ? num : 8);
	struct req *reqs = calloc(num, sizeof(*reqs));
	uint16_t *held = calloc(num, sizeof(*held));
	unsigned int nr_held = 0, inflight = 0, i, j;
	bool dev_awake = false, irq = false, draining = false;
	unsigned long step;
	uint64_t bufs = guest_alloc(&p->g, 12 * 256, 8);
	void *tok;
	uint32_t len;

	assert_non_null(reqs);
	assert_non_null(held);
	for (step = 0; step < steps || inflight; step++) {
		unsigned int op = rnd_below(8);

		CHECK(step < steps + 100000, "stalled: %u in flight, %u held",
		      inflight, nr_held);
		draining = step >= steps;
		if (op <= 2 && !draining) { /* driver: add, maybe kick */
			struct req *q = NULL;

			for (i = 0; i < num && !q; i++)
				if (!reqs[i].busy)
					q = &reqs[i];
			if (q) {
				unsigned int total =
					1 + rnd_below(num < 12 ? num : 12);

				q->out = rnd_below(total + 1);
				q->in = total - q->out;
				for (i = 0; i < q->out + q->in; i++) {
					q->sg[i].addr = bufs + 256 * i + rnd_below(64);
					q->sg[i].len = 1 + rnd_below(128);
				}
				int err = virtqueue_add(&p->vq, q->sg, q->out, q->in, q);
				CHECK(err == 0 || err == -GMM_ENOSPC, "add %d", err);
				if (!err) {
					q->busy = true;
					inflight++;
				}
			}
			if (rnd_below(2) && virtqueue_kick_prepare(&p->vq))
				dev_awake = true;
		} else if (op <= 4 && dev_awake) { /* device: pop */
			if (rnd_below(4) == 0)
				virtqueue_device_disable_notify(&p->dev);
			int err = virtqueue_device_pop(&p->dev, &p->chain);
			if (err == -GMM_EAGAIN) {
				if (p->dev.notify ||
				    virtqueue_device_enable_notify(&p->dev))
					dev_awake = false;
			} else {
				CHECK(err == 0, "pop %d", err);
				CHECK(nr_held < num, "held %u", nr_held);
				held[nr_held++] = p->chain.head;
				CHECK(p->chain.nr_out + p->chain.nr_in >= 1, "empty");
			}
		} else if (op <= 5 && nr_held) { /* device: complete any */
			j = rnd_below(nr_held);
			CHECK(virtqueue_device_push(&p->dev, held[j], 0) == 0, "push");
			held[j] = held[--nr_held];
			if (rnd_below(2) && virtqueue_device_should_notify(&p->dev))
				irq = true;
		} else if (op == 6 && irq) { /* driver: interrupt handler */
			irq = false;
			if (rnd_below(2))
				virtqueue_disable_cb(&p->vq);
			do {
				while (virtqueue_get_used(&p->vq, &tok, &len) == 0) {
					struct req *q = tok;

					CHECK(q >= reqs && q < reqs + num && q->busy,
					      "token %p", tok);
					q->busy = false;
					inflight--;
				}
			} while (!virtqueue_enable_cb(&p->vq));
		} else if (op == 7) { /* both sides finish their batch */
			if (virtqueue_kick_prepare(&p->vq))
				dev_awake = true;
			if (virtqueue_device_should_notify(&p->dev))
				irq = true;
		}

		/* Bookkeeping of both halves. */
		const char *bad = vq_check(&p->vq);

		CHECK(!bad, "%s", bad);
		CHECK((uint16_t)(p->vq.avail_idx - p->vq.last_used_idx) == inflight,
		      "avail %u last_used %u inflight %u", p->vq.avail_idx,
		      p->vq.last_used_idx, inflight);
		CHECK(p->dev.inflight == nr_held, "dev inflight %u held %u",
		      p->dev.inflight, nr_held);
	}
	CHECK(virtqueue_num_free(&p->vq) == num, "leak: %u free",
	      virtqueue_num_free(&p->vq));
	free(held);
	free(reqs);
	pair_free(p);
}

static void test_random(void **unused)
{
	uint64_t seed = test_seed();
	static const unsigned int sizes[] = { 1, 2, 4, 16, 64 };
	unsigned int v, s;

	(void)unused;
	for (v = 0; v < NR_VARIANTS; v++)
		for (s = 0; s < sizeof(sizes) / sizeof(sizes[0]); s++) {
			rng_state = seed ^ (v * 31 + s);
			run_random(seed, variants[v], sizes[s], 40000);
		}
}

/*
 * Garbage rings: random descriptors (addresses mostly near guest memory),
 * random heads and indices.  Every pop must end, return 0 or a listed errno,
 * and hand out only buffers inside guest memory.
 */
static void test_fuzz(void **unused)
{
	uint64_t seed = test_seed();
	unsigned long step;
	unsigned int i;

	(void)unused;
	rng_state = seed;
	for (step = 0; step < 20000; step++) {
		struct raw *r = raw_new(rnd_below(2) ? INDIRECT : 0);
		struct vring_desc *t;
		uint64_t table = raw_table(r, RAW_NUM, &t);
		int err = 0, pops = 0;

		for (i = 0; i < RAW_NUM * 2; i++) {
			struct vring_desc *d = i < RAW_NUM ? &r->vr.desc[i] :
							     &t[i - RAW_NUM];
			uint64_t a = rnd_below(4) ? (rnd_below(2) ? table : r->buf) +
							    16 * rnd_below(RAW_NUM) :
						    rnd();

			desc_put(d, a, rnd_below(3) ? rnd_below(129) : (uint32_t)rnd(),
				 (uint16_t)rnd_below(rnd_below(4) ? 8 : 65536),
				 (uint16_t)rnd_below(rnd_below(4) ? RAW_NUM : 65536));
		}
		for (i = 0; i < RAW_NUM; i++)
			r->vr.avail->ring[i] = (uint16_t)rnd_below(rnd_below(8) ? RAW_NUM : 65536);
		vring_store_release(&r->vr.avail->idx, (uint16_t)rnd_below(rnd_below(8) ? RAW_NUM + 1 : 65536));
		while (pops++ < 2 * RAW_NUM) {
			err = virtqueue_device_pop(&r->dev, &r->chain);
			if (err)
				break;
			for (i = 0; i < r->chain.nr_out + r->chain.nr_in; i++) {
				struct vring_iov *iov = &r->iov[i];

				CHECK(guest_translate(&r->g, iov->gpa, iov->len, 0) ==
					      iov->ptr, "iov %#llx+%u",
				      (unsigned long long)iov->gpa, iov->len);
				CHECK(iov->write == (i >= r->chain.nr_out), "order");
			}
			if (rnd_below(2))
				virtqueue_device_push(&r->dev, r->chain.head, 0);
		}
		CHECK(err == -GMM_EAGAIN || err == -GMM_EBADMSG ||
			      err == -GMM_EBUSY || err == -GMM_ERANGE ||
			      err == -GMM_EFAULT || err == -GMM_EOVERFLOW ||
			      err == -GMM_ELOOP || err == -GMM_E2BIG ||
			      err == -GMM_EPERM || err == -GMM_EMLINK ||
			      err == -GMM_EPROTO || err == -GMM_EMSGSIZE ||
			      err == -GMM_EILSEQ,
		      "pop %d after %d", err, pops);
		raw_free(r);
	}
}

/* ---- two threads ---- */

#define THREAD_CHAINS 200000

struct duo {
	struct pair *p;
	atomic_uint kicks; /* eventfd stand-ins */
	atomic_uint irqs;
	atomic_bool stop;
};

static void *device_thread(void *arg)
{
	struct duo *d = arg;
	struct pair *p = d->p;
	unsigned int seen = 0, k;

	while (!atomic_load(&d->stop)) {
		k = atomic_load(&d->kicks);
		if (k == seen) {
			sched_yield();
			continue;
		}
		seen = k;
		while (virtqueue_device_pop(&p->dev, &p->chain) == 0) {
			virtqueue_device_push(&p->dev, p->chain.head,
					      p->chain.nr_in);
			if (virtqueue_device_should_notify(&p->dev))
				atomic_fetch_add(&d->irqs, 1);
		}
	}
	return NULL;
}

static void test_threads(void **unused)
{
	unsigned int v;

	(void)unused;
	for (v = 0; v < NR_VARIANTS; v++) {
		struct duo d = { .p = pair_new(16, variants[v], 4) };
		struct vring_sg sg[3] = {
			{ GUEST_BASE, 64 }, { GUEST_BASE + 64, 64 },
			{ GUEST_BASE + 128, 64 },
		};
		unsigned long added = 0, done = 0;
		uint64_t deadline = platform_now_ns() + 30000000000ull;
		unsigned int seen = 0, k;
		pthread_t th;
		void *tok;
		uint32_t len;

		assert_int_equal(pthread_create(&th, NULL, device_thread, &d), 0);
		while (done < THREAD_CHAINS) {
			while (added < THREAD_CHAINS &&
			       virtqueue_add(&d.p->vq, sg, 1, 1 + added % 2,
					     (void *)(uintptr_t)(added + 1)) == 0)
				added++;
			if (virtqueue_kick_prepare(&d.p->vq))
				atomic_fetch_add(&d.kicks, 1);
			k = atomic_load(&d.irqs);
			if (k == seen) {
				assert_true(platform_now_ns() < deadline);
				sched_yield();
				continue;
			}
			seen = k;
			/* A watchdog for a lost interrupt, not a time limit:
			 * 30 s with no interrupt at all, however slow the
			 * machine, is one the device never sent. */
			deadline = platform_now_ns() + 30000000000ull;
			do {
				while (virtqueue_get_used(&d.p->vq, &tok, &len) == 0) {
					assert_int_equal((uintptr_t)tok, ++done);
					assert_int_equal(len, 1 + (done - 1) % 2);
				}
			} while (!virtqueue_enable_cb(&d.p->vq));
		}
		atomic_store(&d.stop, true);
		pthread_join(th, NULL);
		pair_free(d.p);
	}
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_layout),
		cmocka_unit_test(test_init_rejects),
		cmocka_unit_test(test_roundtrip),
		cmocka_unit_test(test_add_limits),
		cmocka_unit_test(test_wrap),
		cmocka_unit_test(test_notify_flags),
		cmocka_unit_test(test_notify_event_idx),
		cmocka_unit_test(test_hostile_index),
		cmocka_unit_test(test_hostile_memory),
		cmocka_unit_test(test_host_alignment),
		cmocka_unit_test(test_hostile_chain),
		cmocka_unit_test(test_hostile_indirect),
		cmocka_unit_test(test_device_restart),
		cmocka_unit_test(test_hostile_device),
		cmocka_unit_test(test_random),
		cmocka_unit_test(test_fuzz),
		cmocka_unit_test(test_threads),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
