/*
 * virtqueue.c - the split virtqueue, driver half and device half.
 *
 * The driver keeps its own copy of everything it needs to run the queue: a
 * free list of descriptors threaded through a private state array (not
 * through the ring, which the device can see), the avail index it last
 * published and the used index it has collected up to.  Adding a chain takes
 * descriptors off the free list, fills them, puts the head in the avail ring
 * and publishes the new avail index at once; kicking is a separate decision.
 * With INDIRECT_DESC and a pool, a chain of two or more buffers takes a
 * single ring descriptor pointing at a table in the pool; the table belongs
 * to the head descriptor's slot, so no allocator is needed.
 *
 * The device half is written for a hostile driver.  It reads avail.idx once
 * with acquire ordering, bounds it against what it has already consumed,
 * then walks the chain a descriptor at a time, each copied once into a
 * local and checked before it is used.  The walk is bounded by counting:
 * a chain that takes more steps than its table has entries must have looped,
 * and a chain with more buffers than the queue has entries is too long.  So
 * every pop ends after at most 2*num descriptor reads.  Violations, each with
 * its own errno so that a test (or a log) can tell which check fired:
 *
 *   -EBADMSG     avail.idx more than num ahead of the last entry popped
 *   -EBUSY       num chains already popped and not pushed
 *   -ERANGE      head or next index outside its table
 *   -EFAULT      buffer or indirect table not inside guest memory (or an
 *                indirect table not 8-byte aligned)
 *   -EOVERFLOW   addr + len wraps past 2^64
 *   -ELOOP       a chain revisits a descriptor
 *   -E2BIG       a chain of more than num buffers
 *   -EPERM       INDIRECT without VIRTIO_RING_F_INDIRECT_DESC
 *   -EMLINK      INDIRECT inside an indirect table
 *   -EPROTO      INDIRECT together with NEXT
 *   -EMSGSIZE    indirect table length 0, not a multiple of 16, or more than
 *                num entries
 *   -EILSEQ      a device-readable buffer after a device-writable one
 *
 * The first violation breaks the queue: it is kept in dev->error and
 * returned by every later pop, as the device must not guess where a broken
 * driver meant to resume.
 */
#include "virtio/virtqueue.h"

/* Map one ring area, checking that it does not wrap and that it is aligned
 * both as a guest address and as a host pointer: the device loads and
 * stores its indices atomically, which a translation that skews them (a
 * region mapped at an odd offset) would break, on Arm by a fault. */
static void *vring_map_area(const struct virtqueue_config *cfg, uint64_t gpa,
			    uint64_t size, uint64_t align, bool write, int *err)
{
	void *p;

	if (gpa & (align - 1)) {
		*err = -GMM_EINVAL;
		return NULL;
	}
	if (gpa > UINT64_MAX - size) {
		*err = -GMM_EOVERFLOW;
		return NULL;
	}
	p = cfg->translate(cfg->ctx, gpa, size, write);
	if (!p) {
		*err = -GMM_EFAULT;
	} else if ((uintptr_t)p & (align - 1)) {
		*err = -GMM_EINVAL;
		p = NULL;
	}
	return p;
}

/*
 * vring_map - check a queue's configuration and map its three areas.
 * The driver writes all three (it zeroes the used ring); the device writes
 * only the used ring.
 * Return: 0; -EINVAL for a size that is zero, not a power of two or above
 * @num_max, or a misaligned area; -EOVERFLOW for an area that wraps;
 * -EFAULT for one outside guest memory.
 */
static int vring_map(struct vring *vr, const struct virtqueue_config *cfg,
		     unsigned int num_max, bool driver)
{
	unsigned int num = cfg->num;
	int err = 0;

	if (!cfg->translate)
		return -GMM_EINVAL;
	if (num_max == 0 || num_max > VIRTQUEUE_MAX_SIZE)
		num_max = VIRTQUEUE_MAX_SIZE;
	if (num == 0 || (num & (num - 1)) || num > num_max)
		return -GMM_EINVAL;

	vr->num = num;
	vr->desc = vring_map_area(cfg, cfg->desc, vring_desc_size(num),
				  VRING_DESC_ALIGN, driver, &err);
	if (!err)
		vr->avail = vring_map_area(cfg, cfg->avail, vring_avail_size(num),
					   VRING_AVAIL_ALIGN, driver, &err);
	if (!err)
		vr->used = vring_map_area(cfg, cfg->used, vring_used_size(num),
					  VRING_USED_ALIGN, true, &err);
	return err;
}

/* ---- driver half ---- */

static bool virtqueue_num_valid(unsigned int num)
{
	return num && num <= VIRTQUEUE_MAX_SIZE && !(num & (num - 1));
}

static uint64_t virtqueue_used_offset(unsigned int num)
{
	uint64_t end = vring_desc_size(num) + vring_avail_size(num);

	return (end + VIRTQUEUE_USED_ALIGN - 1) &
	       ~(uint64_t)(VIRTQUEUE_USED_ALIGN - 1);
}

uint64_t virtqueue_ring_bytes(unsigned int num)
{
	if (!virtqueue_num_valid(num))
		return 0;
	return virtqueue_used_offset(num) + vring_used_size(num);
}

int virtqueue_ring_place(struct virtqueue_config *cfg, unsigned int num,
			 uint64_t gpa, uint64_t len)
{
	uint64_t need = virtqueue_ring_bytes(num);

	if (!need || gpa % VRING_DESC_ALIGN)
		return -GMM_EINVAL;
	if (need > len)
		return -GMM_ENOSPC;
	cfg->num = num;
	cfg->desc = gpa;
	cfg->avail = gpa + vring_desc_size(num);
	cfg->used = gpa + virtqueue_used_offset(num);
	return 0;
}

/*
 * virtqueue_init - set up the driver half over zeroed or stale ring memory.
 * Return: 0; -EINVAL for a bad size, a misaligned area, a missing state
 * array or an indirect_max above num; -EOVERFLOW or -EFAULT for an area
 * (or the indirect pool) that wraps or lies outside guest memory.
 */
int virtqueue_init(struct virtqueue *vq, const struct virtqueue_config *cfg)
{
	struct vring vr;
	struct vring_desc *pool = NULL;
	unsigned int i, imax = 0;
	int err;

	if (!cfg->state)
		return -GMM_EINVAL;
	err = vring_map(&vr, cfg, 0, true);
	if (err)
		return err;
	if ((cfg->features & VIRTIO_FEATURE(VIRTIO_RING_F_INDIRECT_DESC)) &&
	    cfg->indirect_max) {
		imax = cfg->indirect_max;
		if (imax > vr.num)
			return -GMM_EINVAL;
		pool = vring_map_area(cfg, cfg->indirect_pool,
				      vring_desc_size(vr.num) * imax,
				      VRING_DESC_ALIGN, true, &err);
		if (!pool)
			return err;
	}

	*vq = (struct virtqueue){
		.vr = vr,
		.state = cfg->state,
		.indirect = pool,
		.indirect_gpa = cfg->indirect_pool,
		.indirect_max = imax,
		.event_idx = cfg->features &
			     VIRTIO_FEATURE(VIRTIO_RING_F_EVENT_IDX),
		.cb_enabled = true,
		.num_free = vr.num,
	};
	for (i = 0; i < vr.num; i++)
		vq->state[i] = (struct virtqueue_desc_state){
			.next = (uint16_t)(i + 1),
		};
	/* Nothing is published yet: the device reads none of this before the
	 * transport's QueueReady, which orders it. */
	vring_store_relaxed(&vr.avail->flags, 0);
	vring_store_relaxed(&vr.avail->idx, 0);
	vring_store_relaxed(vring_used_event(&vr), 0);
	vring_store_relaxed(&vr.used->flags, 0);
	vring_store_relaxed(&vr.used->idx, 0);
	vring_store_relaxed(vring_avail_event(&vr), 0);
	return 0;
}

static void vring_desc_set(struct vring_desc *d, uint64_t addr, uint32_t len,
			   uint16_t flags, uint16_t next)
{
	d->addr = cpu_to_le64(addr);
	d->len = cpu_to_le32(len);
	d->flags = cpu_to_le16(flags);
	d->next = cpu_to_le16(next);
}

/* Flags of entry @i of a chain: readable ones first, all but the last NEXT. */
static uint16_t vring_sg_flags(unsigned int i, unsigned int out,
			       unsigned int total)
{
	return (uint16_t)((i >= out ? VRING_DESC_F_WRITE : 0) |
			  (i + 1 < total ? VRING_DESC_F_NEXT : 0));
}

/*
 * virtqueue_add - offer one chain: @out device-readable entries of @sg, then
 * @in device-writable ones, identified by @token on return.
 * The chain is visible to the device when this returns; whether to notify it
 * is virtqueue_kick_prepare()'s question.
 * Return: 0; -ENOSPC when the free descriptors do not suffice now; -EINVAL
 * for an empty chain, a NULL token, or a chain that could never fit.
 */
int virtqueue_add(struct virtqueue *vq, const struct vring_sg *sg,
		  unsigned int out, unsigned int in, void *token)
{
	struct virtqueue_desc_state *state = vq->state;
	unsigned int total = out + in, i;
	uint16_t head = vq->free_head, idx;
	bool indirect = vq->indirect_max && total > 1 &&
			total <= vq->indirect_max;

	if (!token || total == 0 || total < out ||
	    (!indirect && total > vq->vr.num))
		return -GMM_EINVAL;
	if (vq->num_free < (indirect ? 1 : total))
		return -GMM_ENOSPC;

	if (indirect) {
		uint64_t offset = (uint64_t)head * vq->indirect_max;
		struct vring_desc *table = vq->indirect + offset;

		for (i = 0; i < total; i++)
			vring_desc_set(&table[i], sg[i].addr, sg[i].len,
				       vring_sg_flags(i, out, total),
				       (uint16_t)(i + 1 < total ? i + 1 : 0));
		vring_desc_set(&vq->vr.desc[head],
			       vq->indirect_gpa + offset * sizeof(*table),
			       (uint32_t)(total * sizeof(*table)),
			       VRING_DESC_F_INDIRECT, 0);
		vq->free_head = state[head].next;
		vq->num_free--;
		state[head].ndesc = 1;
	} else {
		idx = head;
		for (i = 0; i < total; i++) {
			vring_desc_set(&vq->vr.desc[idx], sg[i].addr, sg[i].len,
				       vring_sg_flags(i, out, total),
				       state[idx].next);
			idx = state[idx].next;
		}
		vq->free_head = idx;
		vq->num_free -= total;
		state[head].ndesc = (uint16_t)total;
	}
	state[head].token = token;

	vq->vr.avail->ring[vq->avail_idx & (vq->vr.num - 1)] = cpu_to_le16(head);
	vq->avail_idx++;
	/* Release: the descriptors, the table and the ring entry are written
	 * before the device can see the index that offers them. */
	vring_store_release(&vq->vr.avail->idx, vq->avail_idx);
	return 0;
}

/*
 * virtqueue_kick_prepare - should the device be notified of the chains
 * added since the last call?  Honours VRING_USED_F_NO_NOTIFY, or avail_event
 * with EVENT_IDX.  A true answer may be spurious; a false one is not.
 */
bool virtqueue_kick_prepare(struct virtqueue *vq)
{
	uint16_t old = vq->kicked_idx, new_idx = vq->avail_idx;

	/* Full barrier: our avail.idx store must be visible before we read the
	 * device's suppression field, which it writes and then re-reads
	 * avail.idx; else each side may miss the other's store and the
	 * device sleeps on a non-empty ring. */
	atomic_thread_fence(memory_order_seq_cst);
	vq->kicked_idx = new_idx;
	if (vq->event_idx)
		return vring_need_event(vring_load_relaxed(vring_avail_event(&vq->vr)),
					new_idx, old);
	return !(vring_load_relaxed(&vq->vr.used->flags) & VRING_USED_F_NO_NOTIFY);
}

/*
 * virtqueue_get_used - collect the next chain the device has used.
 * Return: 0 with *@token and the device's written length *@len; -EAGAIN when
 * none is ready; -EIO when the device used an id that is not in flight (the
 * queue is then unusable until reset).
 */
int virtqueue_get_used(struct virtqueue *vq, void **token, uint32_t *len)
{
	struct virtqueue_desc_state *state = vq->state;
	struct vring_used_elem *elem;
	uint16_t used_idx, last;
	uint32_t id;
	unsigned int i;

	/* Acquire: the device wrote the used element before the index. */
	used_idx = vring_load_acquire(&vq->vr.used->idx);
	if (used_idx == vq->last_used_idx)
		return -GMM_EAGAIN;

	elem = &vq->vr.used->ring[vq->last_used_idx & (vq->vr.num - 1)];
	id = le32_to_cpu(elem->id);
	if (id >= vq->vr.num || !state[id].token)
		return -GMM_EIO;
	*token = state[id].token;
	*len = le32_to_cpu(elem->len);

	/* The chain is ndesc consecutive links of the private list. */
	last = (uint16_t)id;
	for (i = 1; i < state[id].ndesc; i++)
		last = state[last].next;
	state[last].next = vq->free_head;
	vq->free_head = (uint16_t)id;
	vq->num_free += state[id].ndesc;
	state[id].token = NULL;
	vq->last_used_idx++;

	/* Ask for an interrupt at the next entry.  No barrier: a caller about
	 * to sleep calls virtqueue_enable_cb(), which re-checks with one. */
	if (vq->event_idx && vq->cb_enabled)
		vring_store_relaxed(vring_used_event(&vq->vr), vq->last_used_idx);
	return 0;
}

/* Ask the device not to interrupt; it may anyway. */
void virtqueue_disable_cb(struct virtqueue *vq)
{
	vq->cb_enabled = false;
	if (vq->event_idx)
		/* An index the device has already passed: next due in 65536. */
		vring_store_relaxed(vring_used_event(&vq->vr),
				    (uint16_t)(vq->last_used_idx - 1));
	else
		vring_store_relaxed(&vq->vr.avail->flags,
				    VRING_AVAIL_F_NO_INTERRUPT);
}

/*
 * virtqueue_enable_cb - ask for an interrupt at the next used chain.
 * Return: true when no used chain is waiting, so that the caller may sleep;
 * false when one arrived meanwhile and the caller must collect it first.
 */
bool virtqueue_enable_cb(struct virtqueue *vq)
{
	vq->cb_enabled = true;
	if (vq->event_idx)
		vring_store_relaxed(vring_used_event(&vq->vr), vq->last_used_idx);
	else
		vring_store_relaxed(&vq->vr.avail->flags, 0);
	/* Full barrier: the request must be visible before we re-read
	 * used.idx, or a chain used in between raises no interrupt and is
	 * not seen either. */
	atomic_thread_fence(memory_order_seq_cst);
	return vring_load_relaxed(&vq->vr.used->idx) == vq->last_used_idx;
}

/* ---- device half ---- */

/*
 * virtqueue_device_init - set up the device half over rings the driver
 * configured; writes nothing to them.  cfg->state and the indirect pool
 * are ignored.  A device restarted on a live queue resumes popping at
 * cfg->avail_base and pushing at the used.idx it published before, with the
 * chains between the two still in flight.
 * Return: 0; -EINVAL for a size that is zero, not a power of two or above
 * cfg->num_max, or a misaligned area; -EOVERFLOW for an area that wraps;
 * -EFAULT for one outside guest memory; -EBADMSG when used.idx is more than
 * num behind cfg->avail_base.
 */
int virtqueue_device_init(struct virtqueue_device *dev,
			  const struct virtqueue_config *cfg)
{
	struct vring vr;
	uint16_t used_idx, inflight;
	int err = vring_map(&vr, cfg, cfg->num_max, false);

	if (err)
		return err;
	/* Once, relaxed: the driver can write it too, and nothing we read
	 * later depends on it. */
	used_idx = vring_load_relaxed(&vr.used->idx);
	inflight = (uint16_t)(cfg->avail_base - used_idx);
	if (inflight > vr.num)
		return -GMM_EBADMSG;
	*dev = (struct virtqueue_device){
		.vr = vr,
		.translate = cfg->translate,
		.ctx = cfg->ctx,
		.indirect = cfg->features &
			    VIRTIO_FEATURE(VIRTIO_RING_F_INDIRECT_DESC),
		.event_idx = cfg->features &
			     VIRTIO_FEATURE(VIRTIO_RING_F_EVENT_IDX),
		.notify = true,
		.inflight = inflight,
		.last_avail_idx = cfg->avail_base,
		.used_idx = used_idx,
		.signalled_used = used_idx,
	};
	return 0;
}

/* Check one buffer descriptor and append it to @chain. */
static int vring_chain_add(struct virtqueue_device *dev,
			   struct vring_chain *chain, const struct vring_desc *d)
{
	bool write = d->flags & VRING_DESC_F_WRITE;
	struct vring_iov *iov;
	void *ptr;

	if (chain->nr_out + chain->nr_in == dev->vr.num)
		return -GMM_E2BIG;
	if (d->len > UINT64_MAX - d->addr)
		return -GMM_EOVERFLOW;
	if (!write && chain->nr_in)
		return -GMM_EILSEQ;
	ptr = dev->translate(dev->ctx, d->addr, d->len, write);
	if (!ptr)
		return -GMM_EFAULT;
	if (chain->nr_out + chain->nr_in == chain->max)
		return -GMM_ENOSPC;

	iov = &chain->iov[chain->nr_out + chain->nr_in];
	*iov = (struct vring_iov){
		.gpa = d->addr, .ptr = ptr, .len = d->len, .write = write,
	};
	if (write)
		chain->nr_in++;
	else
		chain->nr_out++;
	return 0;
}

/*
 * Switch the walk from the ring to the indirect table @d describes.
 * Return: 0 with *@table and *@size set, or the violation's errno.
 */
static int vring_chain_indirect(struct virtqueue_device *dev,
				const struct vring_desc *d, bool nested,
				const struct vring_desc **table,
				unsigned int *size)
{
	if (!dev->indirect)
		return -GMM_EPERM;
	if (nested)
		return -GMM_EMLINK;
	if (d->flags & VRING_DESC_F_NEXT)
		return -GMM_EPROTO;
	if (d->len == 0 || d->len % sizeof(struct vring_desc) ||
	    d->len / sizeof(struct vring_desc) > dev->vr.num)
		return -GMM_EMSGSIZE;
	if (d->len > UINT64_MAX - d->addr)
		return -GMM_EOVERFLOW;
	/* The spec sets no alignment; 8 is what the le64 field needs and what
	 * every allocator a driver would use gives. */
	if (d->addr % sizeof(uint64_t))
		return -GMM_EFAULT;
	*table = dev->translate(dev->ctx, d->addr, d->len, false);
	if (!*table || (uintptr_t)*table % sizeof(uint64_t))
		return -GMM_EFAULT;
	*size = d->len / sizeof(struct vring_desc);
	return 0;
}

/* Walk the chain at @head into @chain; at most 2*num descriptor reads. */
static int vring_chain_walk(struct virtqueue_device *dev, uint16_t head,
			    struct vring_chain *chain)
{
	const struct vring_desc *table = dev->vr.desc;
	unsigned int size = dev->vr.num, steps = 0;
	bool in_indirect = false;
	struct vring_desc d;
	uint16_t i = head;
	int err;

	if (head >= size)
		return -GMM_ERANGE;
	for (;;) {
		/* Without a loop a walk visits each entry of a table once. */
		if (++steps > size)
			return -GMM_ELOOP;
		d = vring_read_once_desc(&table[i]);
		if (d.flags & VRING_DESC_F_INDIRECT) {
			err = vring_chain_indirect(dev, &d, in_indirect,
						   &table, &size);
			if (err)
				return err;
			in_indirect = true;
			steps = 0;
			i = 0;
			continue;
		}
		err = vring_chain_add(dev, chain, &d);
		if (err)
			return err;
		if (!(d.flags & VRING_DESC_F_NEXT))
			return 0;
		if (d.next >= size)
			return -GMM_ERANGE;
		i = d.next;
	}
}

/*
 * virtqueue_device_pop - take the next available chain, validated.
 * With EVENT_IDX, finding the ring empty also asks the driver, through
 * avail_event, to notify at its next chain (unless notifications are
 * disabled), so the owner may sleep until kicked.
 * Return: 0 with @chain filled; -EAGAIN when no chain is available;
 * -ENOSPC when chain->max entries do not hold the chain (retry with more);
 * or one of the violations listed at the top of this file, which break the
 * queue.  On any error @chain holds nothing usable.
 */
int virtqueue_device_pop(struct virtqueue_device *dev,
			 struct vring_chain *chain)
{
	uint16_t avail_idx, pending, head;
	int err;

	if (dev->error)
		return dev->error;
	/* Acquire, and once: the ring entry and descriptors the new index
	 * offers were written before it, and a second read could differ. */
	avail_idx = vring_load_acquire(&dev->vr.avail->idx);
	pending = (uint16_t)(avail_idx - dev->last_avail_idx);
	if (pending == 0 && dev->event_idx && dev->notify) {
		vring_store_relaxed(vring_avail_event(&dev->vr),
				    dev->last_avail_idx);
		/* Full barrier: avail_event must be visible before we re-read
		 * avail.idx, or a chain the driver added without kicking (it
		 * read the old avail_event) would wait forever. */
		atomic_thread_fence(memory_order_seq_cst);
		/* Acquire, once, as above. */
		avail_idx = vring_load_acquire(&dev->vr.avail->idx);
		pending = (uint16_t)(avail_idx - dev->last_avail_idx);
	}
	if (pending == 0)
		return -GMM_EAGAIN;
	if (pending > dev->vr.num)
		return dev->error = -GMM_EBADMSG;
	if (dev->inflight == dev->vr.num)
		return dev->error = -GMM_EBUSY;

	head = vring_read_once16(
		&dev->vr.avail->ring[dev->last_avail_idx & (dev->vr.num - 1)]);
	chain->nr_out = chain->nr_in = 0;
	chain->head = head;
	err = vring_chain_walk(dev, head, chain);
	if (err) {
		if (err != -GMM_ENOSPC)
			dev->error = err;
		return err;
	}
	dev->last_avail_idx++;
	dev->inflight++;
	return 0;
}

/*
 * virtqueue_device_push - return the chain at @head to the driver, having
 * written @len bytes into its writable part.
 * Return: 0; -EINVAL for a head out of range or with nothing in flight.
 */
int virtqueue_device_push(struct virtqueue_device *dev, uint16_t head,
			  uint32_t len)
{
	struct vring_used_elem *elem;

	if (head >= dev->vr.num || dev->inflight == 0)
		return -GMM_EINVAL;
	elem = &dev->vr.used->ring[dev->used_idx & (dev->vr.num - 1)];
	elem->id = cpu_to_le32(head);
	elem->len = cpu_to_le32(len);
	dev->used_idx++;
	dev->inflight--;
	/* Release: the element is written before the index that offers it. */
	vring_store_release(&dev->vr.used->idx, dev->used_idx);
	return 0;
}

/*
 * virtqueue_device_should_notify - should the driver be interrupted for the
 * chains pushed since the last call?  Honours VRING_AVAIL_F_NO_INTERRUPT, or
 * used_event with EVENT_IDX; the first decision after init is always yes.
 */
bool virtqueue_device_should_notify(struct virtqueue_device *dev)
{
	uint16_t old = dev->signalled_used, new_idx = dev->used_idx;
	bool first = !dev->signalled;

	/* Full barrier: used.idx must be visible before we read the driver's
	 * suppression field, which it writes and then re-reads used.idx. */
	atomic_thread_fence(memory_order_seq_cst);
	dev->signalled_used = new_idx;
	dev->signalled = true;
	if (dev->event_idx)
		return first ||
		       vring_need_event(vring_load_relaxed(vring_used_event(&dev->vr)),
					new_idx, old);
	return !(vring_load_relaxed(&dev->vr.avail->flags) &
		 VRING_AVAIL_F_NO_INTERRUPT);
}

/* Ask the driver not to kick while the owner is polling anyway. */
void virtqueue_device_disable_notify(struct virtqueue_device *dev)
{
	dev->notify = false;
	if (!dev->event_idx)
		vring_store_relaxed(&dev->vr.used->flags, VRING_USED_F_NO_NOTIFY);
	/* With EVENT_IDX, avail_event simply stops moving. */
}

/*
 * virtqueue_device_enable_notify - ask for a kick at the next chain.
 * Return: true when the ring is empty, so that the owner may sleep; false
 * when a chain arrived meanwhile and must be popped first.
 */
bool virtqueue_device_enable_notify(struct virtqueue_device *dev)
{
	dev->notify = true;
	if (dev->event_idx)
		vring_store_relaxed(vring_avail_event(&dev->vr),
				    dev->last_avail_idx);
	else
		vring_store_relaxed(&dev->vr.used->flags, 0);
	/* Full barrier: as in virtqueue_device_pop(), the request before the
	 * re-read of avail.idx. */
	atomic_thread_fence(memory_order_seq_cst);
	return vring_load_relaxed(&dev->vr.avail->idx) == dev->last_avail_idx;
}
