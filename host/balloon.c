/*
 * balloon.c - the virtio-balloon device: inflate, deflate, statistics and
 * free page reporting, over any transport.
 *
 * The device is a set of queue handlers around the virtqueue device half.
 * A kick pops at most one queue's worth of chains (the ring cannot offer
 * more at once) and answers each: a report's entries are discarded from the
 * guest's memory file and the chain is used with length 0; an inflate
 * chain's PFNs are discarded page by page (contiguous PFNs as one range); a
 * deflate chain is only counted; a statistics chain is read and then *held*,
 * because on the stats queue the device answers by giving the buffer back
 * when it wants fresh numbers (on balloon_request_stats() or every
 * stats_interval).  After the batch the driver is interrupted once if it
 * asked to be.
 *
 * Nothing the guest wrote is trusted.  The device half already refuses
 * rings and chains that break the protocol (that breaks the queue: it stops
 * until reset, like DEVICE_NEEDS_RESET).  What is left to this file are the
 * balloon's own rules, where a bad entry is skipped and counted but the
 * request still completes, as QEMU does: a report entry must be
 * device-writable, non-empty, page aligned and inside one memory region; a
 * PFN must name a page of guest memory; a chain carries at most
 * BALLOON_PFNS_MAX PFNs or BALLOON_STATS_MAX statistics.  Every kind of
 * violation is logged once per device.
 *
 * Queues are numbered as Linux numbers them: inflate 0, deflate 1, then
 * stats if STATS_VQ was negotiated, then reporting if REPORTING was (free
 * page hinting, which would sit between them, is not offered).
 *
 * With PAGE_POISON negotiated and a non-zero poison_val, reported pages must
 * keep their poison, which a discard (reading back zeros) would destroy:
 * reports are then acknowledged without discarding.
 *
 * Guest memory may fault under any access (guest_memory.h): the transport
 * then leaves the call by siglongjmp() and resets the device.  So no lock
 * is ever held while guest memory is touched (statistics are copied out
 * first), counts of a batch cut short are lost rather than wrong, and
 * reset copes with a queue half started.
 */
#ifndef _GNU_SOURCE
#define _GNU_SOURCE
#endif
#include "host/balloon.h"

#include <errno.h>
#include <pthread.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "host/virtio_device.h"
#include "platform/platform.h"
#include "virtio/virtqueue.h"

/* Largest queue we accept: Linux asks for 256 (UML) to 1024 (QEMU MMIO). */
#define BALLOON_QUEUE_NUM_MAX 1024
/* Linux refuses a reporting queue smaller than PAGE_REPORTING_CAPACITY. */
#define BALLOON_REPORTING_NUM_MIN 32
/* Linux sends at most 256 PFNs a chain; four times that is generous and
 * bounds the work one chain can cause. */
#define BALLOON_PFNS_MAX 1024
/* Linux sends 10 statistics (16 since 6.12). */
#define BALLOON_STATS_MAX 64
#define BALLOON_STATS_INTERVAL_MS 1000
#define BALLOON_PAGE_SIZE (1u << VIRTIO_BALLOON_PFN_SHIFT)

/* What is logged once per device. */
enum balloon_log {
	BALLOON_LOG_BROKEN = 1u << 0,
	BALLOON_LOG_REPORT_ENTRY = 1u << 1,
	BALLOON_LOG_PFN = 1u << 2,
	BALLOON_LOG_DISCARD = 1u << 3,
	BALLOON_LOG_STATS = 1u << 4,
};

struct balloon_vq {
	struct virtqueue_device vq;
	struct vring_iov *iov; /* vq.vr.num entries while live */
	enum balloon_queue role;
	bool live;
	int error; /* the violation that broke the queue, or 0 */
};

/* Counts of one batch, added to the device's under its lock at once. */
struct balloon_tally {
	uint64_t reports, reported_bytes, discarded_bytes, kept_bytes;
	uint64_t discard_errors, inflated, deflated, rejected;
};

struct balloon_dev {
	struct virtio_device vdev;
	uint64_t offered; /* constant */

	/* Device context only (see virtio_device.h). */
	uint64_t features; /* negotiated */
	struct balloon_vq vqs[BALLOON_VQ_NR]; /* by transport index */
	bool stats_held; /* a stats chain is popped and not pushed */
	uint16_t stats_head;
	uint64_t stats_held_ns; /* when it was popped */
	unsigned int logged; /* enum balloon_log bits */

	/* Any thread: work for the next poll(). */
	atomic_bool config_pending;
	atomic_bool stats_wanted;

	/*
	 * @lock protects @st (config fields included: num_pages, actual and
	 * poison_val live there, in host byte order) and @stats_interval_ns.
	 */
	pthread_mutex_t lock;
	struct balloon_stats st;
	uint64_t stats_interval_ns; /* 0: only on request */
};

static struct balloon_dev *to_balloon(struct virtio_device *vdev)
{
	return (struct balloon_dev *)((char *)vdev -
				      offsetof(struct balloon_dev, vdev));
}

static bool has(uint64_t features, unsigned int bit)
{
	return features & VIRTIO_FEATURE(bit);
}

/*
 * balloon_queue_index - where a queue sits, for a driver that negotiated
 * @features.
 * Return: the transport index; -ENOENT when the queue does not exist.
 */
int balloon_queue_index(uint64_t features, enum balloon_queue which)
{
	bool stats = has(features, VIRTIO_BALLOON_F_STATS_VQ);

	switch (which) {
	case BALLOON_VQ_INFLATE:
		return 0;
	case BALLOON_VQ_DEFLATE:
		return 1;
	case BALLOON_VQ_STATS:
		return stats ? 2 : -ENOENT;
	case BALLOON_VQ_REPORTING:
		if (!has(features, VIRTIO_BALLOON_F_REPORTING))
			return -ENOENT;
		return stats ? 3 : 2;
	default:
		return -ENOENT;
	}
}

/* The queue at transport index @q, or BALLOON_VQ_NR when there is none. */
static enum balloon_queue balloon_queue_role(uint64_t features,
					     unsigned int q)
{
	enum balloon_queue which;

	for (which = 0; which < BALLOON_VQ_NR; which++)
		if (balloon_queue_index(features, which) == (int)q)
			return which;
	return BALLOON_VQ_NR;
}

static void balloon_log_once(struct balloon_dev *b, enum balloon_log what,
			     const char *fmt, ...)
	__attribute__((format(printf, 3, 4)));

static void balloon_log_once(struct balloon_dev *b, enum balloon_log what,
			     const char *fmt, ...)
{
	char line[200];
	va_list ap;

	if (b->logged & what)
		return;
	b->logged |= what;
	va_start(ap, fmt);
	vsnprintf(line, sizeof(line), fmt, ap);
	va_end(ap);
	platform_log("balloon: %s; further ones counted, not logged", line);
}

static void balloon_tally_add(struct balloon_dev *b,
			      const struct balloon_tally *t)
{
	pthread_mutex_lock(&b->lock);
	b->st.reports += t->reports;
	b->st.reported_bytes += t->reported_bytes;
	b->st.discarded_bytes += t->discarded_bytes;
	b->st.kept_bytes += t->kept_bytes;
	b->st.discard_errors += t->discard_errors;
	b->st.inflated_pages += t->inflated;
	b->st.deflated_pages += t->deflated;
	b->st.rejected += t->rejected;
	pthread_mutex_unlock(&b->lock);
}

/* ---- virtio_device_ops ---- */

static uint64_t balloon_get_features(struct virtio_device *vdev)
{
	return to_balloon(vdev)->offered;
}

static int balloon_set_features(struct virtio_device *vdev, uint64_t features)
{
	struct balloon_dev *b = to_balloon(vdev);

	if (features & ~b->offered)
		return -EINVAL;
	b->features = features;
	pthread_mutex_lock(&b->lock);
	b->st.features = features;
	pthread_mutex_unlock(&b->lock);
	return 0;
}

static unsigned int balloon_num_queues(struct virtio_device *vdev)
{
	struct balloon_dev *b = to_balloon(vdev);

	return 2 + has(b->offered, VIRTIO_BALLOON_F_STATS_VQ) +
	       has(b->offered, VIRTIO_BALLOON_F_REPORTING);
}

static int balloon_queue_check(struct virtio_device *vdev, unsigned int q,
			       unsigned int num)
{
	struct balloon_dev *b = to_balloon(vdev);
	enum balloon_queue role;

	if (q >= balloon_num_queues(vdev))
		return -ERANGE;
	/* Before SET_FEATURES a queue is judged by the offer. */
	role = balloon_queue_role(b->features ? b->features : b->offered, q);
	if (role == BALLOON_VQ_NR)
		return -ERANGE;
	if (num == 0 || (num & (num - 1)) || num > BALLOON_QUEUE_NUM_MAX)
		return -EINVAL;
	if (role == BALLOON_VQ_REPORTING && num < BALLOON_REPORTING_NUM_MIN)
		return -EINVAL;
	return 0;
}

static int balloon_queue_start(struct virtio_device *vdev, unsigned int q,
			       const struct virtqueue_config *cfg)
{
	struct balloon_dev *b = to_balloon(vdev);
	struct virtqueue_config c = *cfg;
	struct balloon_vq *bvq;
	enum balloon_queue role;
	int err;

	if (q >= BALLOON_VQ_NR)
		return -ERANGE;
	role = balloon_queue_role(b->features, q);
	if (role == BALLOON_VQ_NR)
		return -ERANGE;
	if (role == BALLOON_VQ_REPORTING && c.num < BALLOON_REPORTING_NUM_MIN)
		return -EINVAL;
	bvq = &b->vqs[q];
	if (bvq->live)
		return -EBUSY;
	c.features = b->features;
	c.num_max = BALLOON_QUEUE_NUM_MAX;
	/* The size is checked by the device half; calloc must not see 0. */
	bvq->iov = calloc(c.num ? c.num : 1, sizeof(*bvq->iov));
	if (!bvq->iov)
		return -ENOMEM;
	err = virtqueue_device_init(&bvq->vq, &c);
	if (err) {
		free(bvq->iov);
		bvq->iov = NULL;
		return err;
	}
	bvq->role = role;
	bvq->live = true;
	bvq->error = 0;
	if (role == BALLOON_VQ_STATS)
		b->stats_held = false;
	return 0;
}

static uint16_t balloon_queue_stop(struct virtio_device *vdev, unsigned int q)
{
	struct balloon_dev *b = to_balloon(vdev);
	struct balloon_vq *bvq;
	uint16_t base;

	if (q >= BALLOON_VQ_NR)
		return 0;
	bvq = &b->vqs[q];
	if (!bvq->live) {
		/* A start that a guest memory fault cut short. */
		free(bvq->iov);
		bvq->iov = NULL;
		return 0;
	}
	base = bvq->vq.last_avail_idx;
	/* A held stats buffer goes back to the ring, to be popped again when
	 * the queue resumes: as if it had never been taken. */
	if (bvq->role == BALLOON_VQ_STATS && b->stats_held) {
		base--;
		b->stats_held = false;
	}
	free(bvq->iov);
	bvq->iov = NULL;
	bvq->live = false;
	return base;
}

/* Discard one run of inflated pages. */
static void balloon_discard_range(struct balloon_dev *b, uint64_t gpa,
				  uint64_t len, struct balloon_tally *t)
{
	int err;

	if (!len)
		return;
	err = guest_memory_discard(b->vdev.mem, gpa, len);
	if (!err) {
		t->discarded_bytes += len;
		return;
	}
	t->discard_errors++;
	balloon_log_once(b, BALLOON_LOG_DISCARD, "discard failed: %s",
			 strerror(-err));
}

/*
 * An inflate or deflate chain: arrays of le32 PFNs in its device-readable
 * buffers.  Each PFN is checked on its own; contiguous ones are discarded
 * as one range as long as they stay inside one region.
 */
static void balloon_handle_pfns(struct balloon_dev *b,
				const struct vring_chain *c, bool inflate,
				struct balloon_tally *t)
{
	struct guest_memory *mem = b->vdev.mem;
	uint64_t run_gpa = 0, run_len = 0;
	unsigned int i, seen = 0;

	for (i = 0; i < c->nr_out + c->nr_in; i++) {
		const struct vring_iov *iov = &c->iov[i];
		uint32_t off;

		if (iov->write || iov->len % sizeof(uint32_t)) {
			t->rejected++;
			balloon_log_once(b, BALLOON_LOG_PFN,
					 "malformed PFN buffer of %u bytes",
					 iov->len);
			if (iov->write)
				continue;
		}
		for (off = 0; off + sizeof(uint32_t) <= iov->len;
		     off += sizeof(uint32_t)) {
			uint32_t raw;
			uint64_t gpa;

			if (seen++ == BALLOON_PFNS_MAX) {
				t->rejected++;
				balloon_log_once(b, BALLOON_LOG_PFN,
						 "more than %u PFNs in a chain",
						 BALLOON_PFNS_MAX);
				goto out;
			}
			/* One read of guest memory, which may change under
			 * us; memcpy because the array need not be aligned. */
			memcpy(&raw, (const uint8_t *)iov->ptr + off,
			       sizeof(raw));
			gpa = (uint64_t)le32_to_cpu(raw)
			      << VIRTIO_BALLOON_PFN_SHIFT;
			if (!guest_memory_translate(mem, gpa, BALLOON_PAGE_SIZE,
						    false)) {
				t->rejected++;
				balloon_log_once(b, BALLOON_LOG_PFN,
						 "PFN %#x outside guest memory",
						 le32_to_cpu(raw));
				continue;
			}
			if (!inflate) {
				t->deflated++;
				continue;
			}
			t->inflated++;
			if (run_len && gpa == run_gpa + run_len &&
			    guest_memory_translate(mem, run_gpa,
						   run_len + BALLOON_PAGE_SIZE,
						   false)) {
				run_len += BALLOON_PAGE_SIZE;
				continue;
			}
			balloon_discard_range(b, run_gpa, run_len, t);
			run_gpa = gpa;
			run_len = BALLOON_PAGE_SIZE;
		}
	}
out:
	balloon_discard_range(b, run_gpa, run_len, t);
}

/* A report: device-writable entries, each a free range to discard. */
static void balloon_handle_report(struct balloon_dev *b,
				  const struct vring_chain *c, bool keep,
				  struct balloon_tally *t)
{
	unsigned int i;
	int err;

	for (i = 0; i < c->nr_out + c->nr_in; i++) {
		const struct vring_iov *iov = &c->iov[i];

		if (!iov->write || iov->len == 0 ||
		    (iov->gpa | iov->len) % BALLOON_PAGE_SIZE) {
			t->rejected++;
			balloon_log_once(b, BALLOON_LOG_REPORT_ENTRY,
					 "bad report entry %#llx+%#x skipped",
					 (unsigned long long)iov->gpa, iov->len);
			continue;
		}
		t->reported_bytes += iov->len;
		if (keep) {
			t->kept_bytes += iov->len;
			continue;
		}
		err = guest_memory_discard(b->vdev.mem, iov->gpa, iov->len);
		if (!err) {
			t->discarded_bytes += iov->len;
		} else if (err == -EFAULT) {
			/* Cannot happen: the device half translated it. */
			t->rejected++;
		} else {
			t->discard_errors++;
			balloon_log_once(b, BALLOON_LOG_DISCARD,
					 "discard failed: %s", strerror(-err));
		}
	}
	t->reports++;
}

/* A stats chain: packed {le16 tag, le64 val} entries; keep the known tags. */
static void balloon_handle_stats(struct balloon_dev *b,
				 const struct vring_chain *c,
				 struct balloon_tally *t)
{
	uint8_t buf[BALLOON_STATS_MAX * VIRTIO_BALLOON_STAT_SIZE];
	size_t n = 0, off;
	unsigned int i;

	for (i = 0; i < c->nr_out + c->nr_in; i++) {
		const struct vring_iov *iov = &c->iov[i];
		size_t take;

		if (iov->write) {
			t->rejected++;
			continue;
		}
		take = iov->len < sizeof(buf) - n ? iov->len : sizeof(buf) - n;
		memcpy(buf + n, iov->ptr, take);
		n += take;
		if (take < iov->len)
			balloon_log_once(b, BALLOON_LOG_STATS,
					 "stats buffer of %u bytes truncated",
					 iov->len);
	}

	pthread_mutex_lock(&b->lock);
	for (off = 0; off + VIRTIO_BALLOON_STAT_SIZE <= n;
	     off += VIRTIO_BALLOON_STAT_SIZE) {
		uint16_t tag;
		uint64_t val;

		memcpy(&tag, buf + off, sizeof(tag));
		memcpy(&val, buf + off + sizeof(tag), sizeof(val));
		tag = le16_to_cpu(tag);
		if (tag >= VIRTIO_BALLOON_S_NR)
			continue; /* the spec says: ignore unknown tags */
		b->st.guest_stats[tag] = le64_to_cpu(val);
		b->st.guest_stats_valid |= 1u << tag;
	}
	b->st.guest_stats_updates++;
	pthread_mutex_unlock(&b->lock);
}

static void balloon_notify_used(struct balloon_dev *b, unsigned int q)
{
	if (b->vdev.transport)
		b->vdev.transport->notify_used(&b->vdev, q);
}

static int balloon_queue_notify(struct virtio_device *vdev, unsigned int q)
{
	struct balloon_dev *b = to_balloon(vdev);
	struct balloon_tally t = { 0 };
	struct balloon_vq *bvq;
	struct vring_chain chain;
	unsigned int budget;
	bool pushed = false, keep, discards, more = false;
	int err = 0;

	if (q >= BALLOON_VQ_NR || !b->vqs[q].live)
		return 0;
	bvq = &b->vqs[q];
	if (bvq->error)
		return bvq->error;
	discards = bvq->role == BALLOON_VQ_INFLATE ||
		   bvq->role == BALLOON_VQ_REPORTING;

	pthread_mutex_lock(&b->lock);
	keep = has(b->features, VIRTIO_BALLOON_F_PAGE_POISON) &&
	       b->st.poison_val != 0;
	pthread_mutex_unlock(&b->lock);

	chain = (struct vring_chain){ .iov = bvq->iov, .max = bvq->vq.vr.num };
	/* The ring holds at most num chains: one ring's worth per call; and
	 * no new discard work once the transport's budget is spent (a chain
	 * taken is finished: the overshoot is one chain's BALLOON_PFNS_MAX). */
	for (budget = bvq->vq.vr.num; budget; budget--) {
		if (discards && !guest_memory_may_discard(b->vdev.mem)) {
			more = true;
			break;
		}
		err = virtqueue_device_pop(&bvq->vq, &chain);
		if (err)
			break;
		switch (bvq->role) {
		case BALLOON_VQ_INFLATE:
		case BALLOON_VQ_DEFLATE:
			balloon_handle_pfns(b, &chain,
					    bvq->role == BALLOON_VQ_INFLATE, &t);
			break;
		case BALLOON_VQ_REPORTING:
			balloon_handle_report(b, &chain, keep, &t);
			break;
		case BALLOON_VQ_STATS:
			balloon_handle_stats(b, &chain, &t);
			/* The driver keeps one buffer queued; one more is a
			 * driver bug: answer the older one now. */
			if (b->stats_held) {
				t.rejected++;
				virtqueue_device_push(&bvq->vq, b->stats_head, 0);
				pushed = true;
			}
			b->stats_held = true;
			b->stats_head = chain.head;
			b->stats_held_ns = platform_now_ns();
			atomic_store(&b->stats_wanted, false);
			continue; /* held, not pushed */
		default:
			break;
		}
		/* Nothing was written into the buffers: used length 0. */
		virtqueue_device_push(&bvq->vq, chain.head, 0);
		pushed = true;
	}
	if (!budget || more)
		err = -EAGAIN;
	else if (err == -EAGAIN)
		err = 0;

	if (err && err != -EAGAIN) {
		bvq->error = err;
		t.rejected++;
		balloon_log_once(b, BALLOON_LOG_BROKEN,
				 "queue %u stopped: the driver broke the ring (%s)",
				 q, strerror(-err));
		pthread_mutex_lock(&b->lock);
		b->st.broken_queues++;
		pthread_mutex_unlock(&b->lock);
	}
	/* Counters first: whoever the interrupt wakes may read them. */
	balloon_tally_add(b, &t);
	if (pushed && virtqueue_device_should_notify(&bvq->vq))
		balloon_notify_used(b, q);
	return err;
}

/* The config space is 16 bytes when poison_val exists, else 8. */
static uint32_t balloon_config_len(const struct balloon_dev *b)
{
	return has(b->offered, VIRTIO_BALLOON_F_PAGE_POISON) ? 16 : 8;
}

static void balloon_config_image_locked(struct balloon_dev *b,
					struct virtio_balloon_config *cfg)
{
	*cfg = (struct virtio_balloon_config){
		.num_pages = cpu_to_le32(b->st.num_pages),
		.actual = cpu_to_le32(b->st.actual),
		.free_page_hint_cmd_id = 0,
		.poison_val = cpu_to_le32(b->st.poison_val),
	};
}

static int balloon_config_read(struct virtio_device *vdev, uint32_t offset,
			       void *buf, uint32_t len)
{
	struct balloon_dev *b = to_balloon(vdev);
	struct virtio_balloon_config cfg;

	if ((uint64_t)offset + len > balloon_config_len(b))
		return -EINVAL;
	pthread_mutex_lock(&b->lock);
	balloon_config_image_locked(b, &cfg);
	pthread_mutex_unlock(&b->lock);
	memcpy(buf, (uint8_t *)&cfg + offset, len);
	return 0;
}

/* The driver may write actual and (with PAGE_POISON) poison_val; writes to
 * the device's fields are ignored. */
static int balloon_config_write(struct virtio_device *vdev, uint32_t offset,
				const void *buf, uint32_t len)
{
	struct balloon_dev *b = to_balloon(vdev);
	struct virtio_balloon_config cfg;

	if ((uint64_t)offset + len > balloon_config_len(b))
		return -EINVAL;
	pthread_mutex_lock(&b->lock);
	balloon_config_image_locked(b, &cfg);
	memcpy((uint8_t *)&cfg + offset, buf, len);
	b->st.actual = le32_to_cpu(cfg.actual);
	if (has(b->features, VIRTIO_BALLOON_F_PAGE_POISON))
		b->st.poison_val = le32_to_cpu(cfg.poison_val);
	pthread_mutex_unlock(&b->lock);
	return 0;
}

static uint64_t balloon_poll(struct virtio_device *vdev, uint64_t now_ns)
{
	struct balloon_dev *b = to_balloon(vdev);
	int q = balloon_queue_index(b->features, BALLOON_VQ_STATS);
	struct balloon_vq *bvq;
	uint64_t interval, due;

	if (atomic_exchange(&b->config_pending, false) && b->vdev.transport) {
		b->vdev.transport->notify_config(vdev);
		pthread_mutex_lock(&b->lock);
		b->st.config_changes++;
		pthread_mutex_unlock(&b->lock);
	}
	if (!b->stats_held || q < 0)
		return UINT64_MAX;
	bvq = &b->vqs[q];
	if (!bvq->live || bvq->error)
		return UINT64_MAX;

	pthread_mutex_lock(&b->lock);
	interval = b->stats_interval_ns;
	pthread_mutex_unlock(&b->lock);
	due = interval ? b->stats_held_ns + interval : UINT64_MAX;
	if (!atomic_exchange(&b->stats_wanted, false) && now_ns < due)
		return due;
	/* Giving the buffer back is how the device asks for fresh stats. */
	b->stats_held = false;
	virtqueue_device_push(&bvq->vq, b->stats_head, 0);
	if (virtqueue_device_should_notify(&bvq->vq))
		balloon_notify_used(b, (unsigned int)q);
	return UINT64_MAX;
}

static void balloon_reset(struct virtio_device *vdev)
{
	struct balloon_dev *b = to_balloon(vdev);
	unsigned int q;

	for (q = 0; q < BALLOON_VQ_NR; q++)
		balloon_queue_stop(vdev, q);
	b->features = 0;
	b->stats_held = false;
	atomic_store(&b->config_pending, false);
	atomic_store(&b->stats_wanted, false);
	pthread_mutex_lock(&b->lock);
	b->st.features = 0;
	b->st.actual = 0;
	b->st.poison_val = 0;
	/* The next driver's numbers are not the last one's. */
	b->st.guest_stats_updates = 0;
	b->st.guest_stats_valid = 0;
	memset(b->st.guest_stats, 0, sizeof(b->st.guest_stats));
	pthread_mutex_unlock(&b->lock);
}

static const struct virtio_device_ops balloon_ops = {
	.get_features = balloon_get_features,
	.set_features = balloon_set_features,
	.num_queues = balloon_num_queues,
	.queue_check = balloon_queue_check,
	.queue_start = balloon_queue_start,
	.queue_stop = balloon_queue_stop,
	.queue_notify = balloon_queue_notify,
	.config_read = balloon_config_read,
	.config_write = balloon_config_write,
	.poll = balloon_poll,
	.reset = balloon_reset,
};

/* ---- the host's API ---- */

/*
 * balloon_create - a balloon offering @features (BALLOON_FEATURES_DEFAULT,
 * or a subset of BALLOON_FEATURES_SUPPORTED that includes VERSION_1).
 * Return: 0 with *@out set; -EINVAL for an unsupported feature set;
 * -ENOMEM.
 */
int balloon_create(uint64_t features, struct balloon_dev **out)
{
	struct balloon_dev *b;

	if ((features & ~BALLOON_FEATURES_SUPPORTED) ||
	    !has(features, VIRTIO_F_VERSION_1))
		return -EINVAL;
	b = calloc(1, sizeof(*b));
	if (!b)
		return -ENOMEM;
	b->vdev.device_id = VIRTIO_ID_BALLOON;
	b->vdev.ops = &balloon_ops;
	atomic_init(&b->vdev.connected, false);
	atomic_init(&b->config_pending, false);
	atomic_init(&b->stats_wanted, false);
	b->offered = features;
	pthread_mutex_init(&b->lock, NULL);
	b->stats_interval_ns = BALLOON_STATS_INTERVAL_MS * UINT64_C(1000000);
	*out = b;
	return 0;
}

/* The transport must have let go of the device. */
void balloon_destroy(struct balloon_dev *b)
{
	unsigned int q;

	if (!b)
		return;
	for (q = 0; q < BALLOON_VQ_NR; q++)
		balloon_queue_stop(&b->vdev, q);
	pthread_mutex_destroy(&b->lock);
	free(b);
}

struct virtio_device *balloon_virtio_device(struct balloon_dev *b)
{
	return &b->vdev;
}

static void balloon_wake(struct balloon_dev *b)
{
	if (b->vdev.transport && b->vdev.transport->wake)
		b->vdev.transport->wake(&b->vdev);
}

/*
 * balloon_set_target - ask the guest to hold @num_pages 4 KiB pages in its
 * balloon; the driver hears of it by a config-change notification.
 * Return: 0; -ERANGE when guest memory is known and smaller than that.
 */
int balloon_set_target(struct balloon_dev *b, uint32_t num_pages)
{
	if (b->vdev.mem) {
		uint64_t ram = guest_memory_total_bytes(b->vdev.mem);

		if (ram && (uint64_t)num_pages << VIRTIO_BALLOON_PFN_SHIFT > ram)
			return -ERANGE;
	}
	pthread_mutex_lock(&b->lock);
	b->st.num_pages = num_pages;
	pthread_mutex_unlock(&b->lock);
	atomic_store(&b->config_pending, true);
	balloon_wake(b);
	return 0;
}

/* Give the stats buffer back every @ms milliseconds; 0: only on request. */
void balloon_set_stats_interval(struct balloon_dev *b, unsigned int ms)
{
	pthread_mutex_lock(&b->lock);
	b->stats_interval_ns = ms * UINT64_C(1000000);
	pthread_mutex_unlock(&b->lock);
	balloon_wake(b);
}

/* Ask the guest for fresh statistics now (if it has a buffer queued). */
void balloon_request_stats(struct balloon_dev *b)
{
	atomic_store(&b->stats_wanted, true);
	balloon_wake(b);
}

void balloon_get_stats(struct balloon_dev *b, struct balloon_stats *st)
{
	pthread_mutex_lock(&b->lock);
	*st = b->st;
	pthread_mutex_unlock(&b->lock);
	st->connected = atomic_load(&b->vdev.connected);
	st->memory_bytes = 0;
	st->resident_bytes = 0;
	if (b->vdev.mem) {
		st->memory_bytes = guest_memory_total_bytes(b->vdev.mem);
		st->resident_bytes = guest_memory_resident_bytes(b->vdev.mem);
	}
}
