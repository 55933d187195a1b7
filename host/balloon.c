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
 * stats if STATS_VQ was negotiated, free_page if FREE_PAGE_HINT was, then
 * reporting if REPORTING was.
 *
 * Free page hint commands (offered only once the host asked for them, see
 * balloon_set_hinting()) follow the spec's protocol, used to discard:
 *   the device writes a new id (>= 2) into free_page_hint_cmd_id and
 *   notifies a config change; the driver puts a 4-byte buffer holding that
 *   id on the free_page queue, then device-writable buffers each covering
 *   free memory, then a 4-byte buffer holding STOP (0); the device discards
 *   every hint it accepts as it pops it, and on the STOP sets the field to
 *   DONE (1), which gives the driver its pages back.
 * The spec lets a driver reuse a hinted page before DONE (QEMU only skips
 * it in a migration); here the driver must not, since the page is gone:
 * ours waits for DONE (an allocation on a chunk in flight sleeps until the
 * ack), Linux's holds its hinted pages allocated until DONE.
 * What the device accepts is exactly what the command's state allows: a
 * hint only between the id buffer of the command announced and the STOP
 * (or the device's timeout), page aligned, non-empty, not overlapping an
 * earlier hint of the same command, within the cap.  Anything else - a
 * stale or wrong id, a STOP without a start, hints after the STOP or after
 * the timeout - is refused and counted, and its buffer is used with length
 * 0 without a discard.  A guest that never sends its STOP gets a DONE after
 * the timeout; its late hints are then refused (the ring is in order, so
 * they come before any id buffer of a later command).
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
#include <time.h>

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
/* Hints one command may hold: overlap is checked against each (Linux sends
 * 4 MiB blocks: 64 for a 256 MiB cap; our driver at most a ring's worth). */
#define BALLOON_HINT_RANGES_MAX 1024
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
	BALLOON_LOG_HINT = 1u << 5,
};

/* Where the device's free page hint command is. */
enum balloon_hint_state {
	BALLOON_HINT_IDLE,    /* none: the field is STOP or DONE */
	BALLOON_HINT_ASKED,   /* announced; its id buffer not yet seen */
	BALLOON_HINT_RUNNING, /* id buffer seen: hints accepted until STOP */
};

struct balloon_hint_range {
	uint64_t gpa, len;
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
	uint64_t hinted_bytes, hint_rejected, hint_done;
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
	/* The hint command: device context only. */
	enum balloon_hint_state hint_state;
	uint32_t hint_cmd;   /* the command announced or running */
	uint32_t hint_next;  /* the id the next command gets */
	uint64_t hint_start_ns; /* when it was announced */
	uint64_t hint_next_ns;  /* when the next one may start */
	uint64_t hint_bytes;	/* accepted in this command */
	uint64_t hint_burst;	/* by the commands since the last period */
	unsigned int nr_hint_ranges;
	struct balloon_hint_range *hint_ranges; /* BALLOON_HINT_RANGES_MAX,
						   sorted by gpa */

	/* Any thread: work for the next poll(). */
	atomic_bool config_pending;
	atomic_bool stats_wanted;
	atomic_bool hint_done_wanted;

	/*
	 * @lock protects @st (config fields included: num_pages, actual,
	 * hint_cmd_id and poison_val live there, in host byte order),
	 * @stats_interval_ns, the hint settings, and a mirror's @st.connected,
	 * @st.memory_bytes and @st.resident_bytes (its owner's word, where a
	 * transport's device reads its own state).
	 */
	pthread_mutex_t lock;
	bool mirror;		/* constant: balloon_create_mirror()'s */
	struct balloon_stats st;
	uint64_t stats_interval_ns; /* 0: only on request */
	uint64_t hint_period_ns;    /* 0: no commands */
	uint64_t hint_cap_bytes;    /* 0: no cap */
	uint64_t hint_timeout_ns;
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
	bool hint = has(features, VIRTIO_BALLOON_F_FREE_PAGE_HINT);

	switch (which) {
	case BALLOON_VQ_INFLATE:
		return 0;
	case BALLOON_VQ_DEFLATE:
		return 1;
	case BALLOON_VQ_STATS:
		return stats ? 2 : -ENOENT;
	case BALLOON_VQ_FREE_PAGE:
		return hint ? 2 + stats : -ENOENT;
	case BALLOON_VQ_REPORTING:
		if (!has(features, VIRTIO_BALLOON_F_REPORTING))
			return -ENOENT;
		return 2 + stats + hint;
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
	b->st.hinted_bytes += t->hinted_bytes;
	b->st.hint_rejected += t->hint_rejected;
	b->st.hint_done += t->hint_done;
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
	       has(b->offered, VIRTIO_BALLOON_F_FREE_PAGE_HINT) +
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
	struct timespec now;
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
	/* The wall clock, as QEMU's last-update: an operator's graph axis. */
	clock_gettime(CLOCK_REALTIME, &now);
	b->st.guest_stats_time = now.tv_sec;
	pthread_mutex_unlock(&b->lock);
}

/* ---- free page hint commands ---- */

#define BALLOON_HINT_FIRST_CMD 0x80000000u /* where QEMU starts its ids */

/* Device context: the config field is now @id; tell the driver. */
static void balloon_hint_announce(struct balloon_dev *b, uint32_t id)
{
	pthread_mutex_lock(&b->lock);
	b->st.hint_cmd_id = id;
	b->st.config_changes++;
	pthread_mutex_unlock(&b->lock);
	if (b->vdev.transport)
		b->vdev.transport->notify_config(&b->vdev);
}

static void balloon_hint_start(struct balloon_dev *b, uint64_t now)
{
	uint32_t id = b->hint_next++;

	if (b->hint_next <= VIRTIO_BALLOON_CMD_ID_DONE)
		b->hint_next = BALLOON_HINT_FIRST_CMD;
	b->hint_state = BALLOON_HINT_ASKED;
	b->hint_cmd = id;
	b->hint_start_ns = now;
	b->hint_bytes = 0;
	b->nr_hint_ranges = 0;
	pthread_mutex_lock(&b->lock);
	b->st.hint_commands++;
	pthread_mutex_unlock(&b->lock);
	balloon_hint_announce(b, id);
}

/*
 * Device context: end the command with DONE, which gives the driver its
 * hinted pages back.  From here on no hint is accepted until the id
 * buffer of a later command: whatever of this one is still in the ring
 * is refused.  The next command starts after the period, or at once when
 * this one brought at least half the cap (there is likely more) and the
 * commands started at once have not yet brought as much as guest RAM: one
 * sweep of the guest's free memory per period, not an endless one (the
 * guest's bitmap sets a chunk free again at DONE).
 */
static void balloon_hint_end(struct balloon_dev *b, uint64_t now)
{
	uint64_t period, cap;

	pthread_mutex_lock(&b->lock);
	period = b->hint_period_ns;
	cap = b->hint_cap_bytes;
	pthread_mutex_unlock(&b->lock);
	b->hint_state = BALLOON_HINT_IDLE;
	b->hint_burst += b->hint_bytes;
	if (cap && b->hint_bytes * 2 >= cap && b->vdev.mem &&
	    b->hint_burst < guest_memory_total_bytes(b->vdev.mem)) {
		b->hint_next_ns = now;
	} else {
		b->hint_next_ns = now + period;
		b->hint_burst = 0;
	}
	balloon_hint_announce(b, VIRTIO_BALLOON_CMD_ID_DONE);
}

static void balloon_hint_refuse(struct balloon_dev *b, struct balloon_tally *t,
				const char *why, uint64_t a, uint64_t c)
{
	t->rejected++;
	t->hint_rejected++;
	balloon_log_once(b, BALLOON_LOG_HINT, "free page hint refused: %s (%#llx, %#llx)",
			 why, (unsigned long long)a, (unsigned long long)c);
}

/*
 * Where a hint at @gpa goes in the command's ranges, which are kept sorted
 * by address and never overlap (so their ends are sorted too): the first
 * range at or above @gpa.  A binary search: a guest offers a ring of
 * refused hints per kick, a million with a 1024-entry ring of chains of
 * 1024, and a scan of every accepted hint for each made one kick cost a
 * second of the device's thread (test_attack9 flood).
 */
static unsigned int balloon_hint_slot(const struct balloon_dev *b, uint64_t gpa)
{
	unsigned int lo = 0, hi = b->nr_hint_ranges;

	while (lo < hi) {
		unsigned int mid = lo + (hi - lo) / 2;

		if (b->hint_ranges[mid].gpa < gpa)
			lo = mid + 1;
		else
			hi = mid;
	}
	return lo;
}

/* Does [@gpa, @gpa + @len) overlap a hint this command accepted?  Only
 * the ranges either side of its slot can.  (@gpa + @len does not wrap:
 * the device half refused such a buffer.) */
static bool balloon_hint_overlaps(const struct balloon_dev *b, unsigned int slot,
				  uint64_t gpa, uint64_t len)
{
	const struct balloon_hint_range *r = b->hint_ranges;

	return (slot < b->nr_hint_ranges && r[slot].gpa < gpa + len) ||
	       (slot > 0 && r[slot - 1].gpa + r[slot - 1].len > gpa);
}

/* Accept [@gpa, @gpa + @len) at @slot, keeping the order. */
static void balloon_hint_insert(struct balloon_dev *b, unsigned int slot,
				uint64_t gpa, uint64_t len)
{
	memmove(&b->hint_ranges[slot + 1], &b->hint_ranges[slot],
		(b->nr_hint_ranges - slot) * sizeof(*b->hint_ranges));
	b->hint_ranges[slot] = (struct balloon_hint_range){ gpa, len };
	b->nr_hint_ranges++;
}

/*
 * A chain on the free page queue: one 4-byte device-readable buffer (a
 * command id, or STOP), or device-writable hints.  Every check is against
 * the device's own state: nothing the guest wrote decides what is
 * discarded beyond the range of an accepted hint.
 */
static void balloon_handle_hint(struct balloon_dev *b,
				const struct vring_chain *c, bool keep,
				uint64_t now, struct balloon_tally *t)
{
	uint64_t cap;

	if (c->nr_out) {
		uint32_t raw, id;

		if (c->nr_out != 1 || c->nr_in || c->iov[0].len != sizeof(raw)) {
			balloon_hint_refuse(b, t, "malformed command id buffer",
					    c->nr_out, c->nr_in);
			return;
		}
		memcpy(&raw, c->iov[0].ptr, sizeof(raw)); /* read once */
		id = le32_to_cpu(raw);
		if (id == VIRTIO_BALLOON_CMD_ID_STOP &&
		    b->hint_state == BALLOON_HINT_RUNNING) {
			t->hint_done++;
			balloon_hint_end(b, now);
		} else if (id == VIRTIO_BALLOON_CMD_ID_STOP) {
			balloon_hint_refuse(b, t, "STOP without a command", id,
					    b->hint_cmd);
		} else if (b->hint_state == BALLOON_HINT_ASKED &&
			   id == b->hint_cmd) {
			b->hint_state = BALLOON_HINT_RUNNING;
		} else {
			balloon_hint_refuse(b, t, "not the command announced", id,
					    b->hint_cmd);
		}
		return;
	}
	pthread_mutex_lock(&b->lock);
	cap = b->hint_cap_bytes;
	pthread_mutex_unlock(&b->lock);
	for (unsigned int i = 0; i < c->nr_in; i++) {
		const struct vring_iov *iov = &c->iov[i];
		unsigned int slot = balloon_hint_slot(b, iov->gpa);

		if (b->hint_state != BALLOON_HINT_RUNNING) {
			balloon_hint_refuse(b, t, "hint outside a command",
					    iov->gpa, iov->len);
		} else if (iov->len == 0 ||
			   (iov->gpa | iov->len) % BALLOON_PAGE_SIZE) {
			balloon_hint_refuse(b, t, "hint not page aligned",
					    iov->gpa, iov->len);
		} else if (cap && b->hint_bytes + iov->len > cap) {
			balloon_hint_refuse(b, t, "hint over the command's cap",
					    iov->gpa, iov->len);
		} else if (b->nr_hint_ranges == BALLOON_HINT_RANGES_MAX) {
			balloon_hint_refuse(b, t, "too many hints in a command",
					    iov->gpa, iov->len);
		} else if (balloon_hint_overlaps(b, slot, iov->gpa, iov->len)) {
			balloon_hint_refuse(b, t, "hint overlaps an earlier one",
					    iov->gpa, iov->len);
		} else {
			balloon_hint_insert(b, slot, iov->gpa, iov->len);
			b->hint_bytes += iov->len;
			t->hinted_bytes += iov->len;
			if (keep)
				t->kept_bytes += iov->len;
			else
				balloon_discard_range(b, iov->gpa, iov->len, t);
		}
	}
}

/*
 * Device context: start a command when one is due, end one that ran out
 * of time.  Return: when to look again (UINT64_MAX: never by the clock).
 */
static uint64_t balloon_hint_poll(struct balloon_dev *b, uint64_t now)
{
	int q = balloon_queue_index(b->features, BALLOON_VQ_FREE_PAGE);
	uint64_t period, timeout;

	if (q < 0 || !b->vqs[q].live)
		return UINT64_MAX;
	if (atomic_exchange(&b->hint_done_wanted, false)) {
		if (b->hint_state == BALLOON_HINT_IDLE) {
			b->hint_next_ns = now; /* as an end would set it */
			balloon_hint_announce(b, VIRTIO_BALLOON_CMD_ID_DONE);
		} else {
			balloon_hint_end(b, now);
		}
	}
	if (b->vqs[q].error)
		return UINT64_MAX;
	pthread_mutex_lock(&b->lock);
	period = b->hint_period_ns;
	timeout = b->hint_timeout_ns;
	pthread_mutex_unlock(&b->lock);
	if (b->hint_state != BALLOON_HINT_IDLE) {
		if (now < b->hint_start_ns + timeout)
			return b->hint_start_ns + timeout;
		pthread_mutex_lock(&b->lock);
		b->st.hint_timeouts++;
		pthread_mutex_unlock(&b->lock);
		balloon_log_once(b, BALLOON_LOG_HINT,
				 "free page hint command %#x: no STOP in time, ended",
				 b->hint_cmd);
		balloon_hint_end(b, now);
	}
	if (!period)
		return UINT64_MAX;
	if (now < b->hint_next_ns)
		return b->hint_next_ns;
	balloon_hint_start(b, now);
	return now + timeout;
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
		   bvq->role == BALLOON_VQ_REPORTING ||
		   bvq->role == BALLOON_VQ_FREE_PAGE;

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
		case BALLOON_VQ_FREE_PAGE:
			balloon_handle_hint(b, &chain, keep, platform_now_ns(), &t);
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
		/* Counters before the used entry: a driver that polls the
		 * used ring (no interrupt needed) may read them as soon as
		 * it sees its buffer back. */
		balloon_tally_add(b, &t);
		t = (struct balloon_tally){ 0 };
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
		/* No STOP can come now: give the driver its pages back. */
		if (bvq->role == BALLOON_VQ_FREE_PAGE &&
		    b->hint_state != BALLOON_HINT_IDLE)
			balloon_hint_end(b, platform_now_ns());
	}
	/* What is left (a stats buffer, a broken ring) before the interrupt:
	 * whoever it wakes may read the counters. */
	balloon_tally_add(b, &t);
	if (pushed && virtqueue_device_should_notify(&bvq->vq))
		balloon_notify_used(b, q);
	return err;
}

/* The config space is 16 bytes when poison_val exists, 12 when only
 * free_page_hint_cmd_id does, else 8 (as QEMU sizes it). */
static uint32_t balloon_config_len(const struct balloon_dev *b)
{
	if (has(b->offered, VIRTIO_BALLOON_F_PAGE_POISON))
		return 16;
	return has(b->offered, VIRTIO_BALLOON_F_FREE_PAGE_HINT) ? 12 : 8;
}

static void balloon_config_image_locked(struct balloon_dev *b,
					struct virtio_balloon_config *cfg)
{
	*cfg = (struct virtio_balloon_config){
		.num_pages = cpu_to_le32(b->st.num_pages),
		.actual = cpu_to_le32(b->st.actual),
		.free_page_hint_cmd_id = cpu_to_le32(b->st.hint_cmd_id),
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
	uint64_t interval, due, hint_due;

	if (atomic_exchange(&b->config_pending, false) && b->vdev.transport) {
		b->vdev.transport->notify_config(vdev);
		pthread_mutex_lock(&b->lock);
		b->st.config_changes++;
		pthread_mutex_unlock(&b->lock);
	}
	hint_due = balloon_hint_poll(b, now_ns);
	if (!b->stats_held || q < 0)
		return hint_due;
	bvq = &b->vqs[q];
	if (!bvq->live || bvq->error)
		return hint_due;

	pthread_mutex_lock(&b->lock);
	interval = b->stats_interval_ns;
	pthread_mutex_unlock(&b->lock);
	due = interval ? b->stats_held_ns + interval : UINT64_MAX;
	if (!atomic_exchange(&b->stats_wanted, false) && now_ns < due)
		return due < hint_due ? due : hint_due;
	/* Giving the buffer back is how the device asks for fresh stats. */
	b->stats_held = false;
	virtqueue_device_push(&bvq->vq, b->stats_head, 0);
	if (virtqueue_device_should_notify(&bvq->vq))
		balloon_notify_used(b, (unsigned int)q);
	return hint_due;
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
	/* A DONE asked for the last driver is not the next one's. */
	atomic_store(&b->hint_done_wanted, false);
	/* A command dies with the driver; the next one's first comes soon. */
	b->hint_state = BALLOON_HINT_IDLE;
	b->hint_next_ns = 0;
	pthread_mutex_lock(&b->lock);
	b->st.hint_cmd_id = VIRTIO_BALLOON_CMD_ID_STOP;
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
	atomic_init(&b->hint_done_wanted, false);
	b->offered = features;
	if (has(features, VIRTIO_BALLOON_F_FREE_PAGE_HINT)) {
		b->hint_ranges = calloc(BALLOON_HINT_RANGES_MAX,
					sizeof(*b->hint_ranges));
		if (!b->hint_ranges) {
			free(b);
			return -ENOMEM;
		}
	}
	b->hint_next = BALLOON_HINT_FIRST_CMD;
	b->hint_timeout_ns = BALLOON_HINT_TIMEOUT_MS * UINT64_C(1000000);
	pthread_mutex_init(&b->lock, NULL);
	b->stats_interval_ns = BALLOON_STATS_INTERVAL_MS * UINT64_C(1000000);
	*out = b;
	return 0;
}

int balloon_create_mirror(uint64_t features, struct balloon_dev **out)
{
	int err = balloon_create(features, out);

	if (!err)
		(*out)->mirror = true;
	return err;
}

/*
 * The owner's thread.  A report's values replace the last ones tag by tag,
 * as a driver's stats buffer does (balloon_handle_stats()).
 */
void balloon_mirror_set(struct balloon_dev *b, const struct balloon_mirror *m)
{
	if (!b->mirror)
		return;
	pthread_mutex_lock(&b->lock);
	b->st.connected = m->connected;
	b->st.actual = m->actual;
	b->st.memory_bytes = m->memory_bytes;
	b->st.resident_bytes = m->resident_bytes;
	if (m->stats_new) {
		for (unsigned int t = 0; t < VIRTIO_BALLOON_S_NR; t++)
			if (m->stats_valid & (1u << t))
				b->st.guest_stats[t] = m->stats[t];
		b->st.guest_stats_valid |= m->stats_valid;
		b->st.guest_stats_updates++;
		b->st.guest_stats_time = m->stats_time;
	}
	pthread_mutex_unlock(&b->lock);
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
	free(b->hint_ranges);
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
 * Any thread (@vdev.mem as in balloon_get_stats()).
 * Return: 0; -ERANGE when guest memory is known and smaller than that.
 */
enum balloon_setter { BALLOON_SET_ANY, BALLOON_SET_OPERATOR, BALLOON_SET_POLICY };

static int balloon_set_target_as(struct balloon_dev *b, uint32_t num_pages,
				 enum balloon_setter who)
{
	if (b->mirror) {
		int err = 0;

		pthread_mutex_lock(&b->lock);
		if (b->st.memory_bytes &&
		    (uint64_t)num_pages << VIRTIO_BALLOON_PFN_SHIFT > b->st.memory_bytes)
			err = -ERANGE;
		else
			b->st.num_pages = num_pages;
		pthread_mutex_unlock(&b->lock);
		return err;
	}
	if (b->vdev.mem) {
		uint64_t ram = guest_memory_total_bytes(b->vdev.mem);

		if (ram && (uint64_t)num_pages << VIRTIO_BALLOON_PFN_SHIFT > ram)
			return -ERANGE;
	}
	pthread_mutex_lock(&b->lock);
	if (who == BALLOON_SET_POLICY && b->st.target_pinned) {
		pthread_mutex_unlock(&b->lock);
		return -EBUSY;
	}
	if (who == BALLOON_SET_OPERATOR)
		b->st.target_pinned = true;
	b->st.num_pages = num_pages;
	pthread_mutex_unlock(&b->lock);
	atomic_store(&b->config_pending, true);
	balloon_wake(b);
	return 0;
}

int balloon_set_target(struct balloon_dev *b, uint32_t num_pages)
{
	return balloon_set_target_as(b, num_pages, BALLOON_SET_ANY);
}

int balloon_set_target_pinned(struct balloon_dev *b, uint32_t num_pages)
{
	return balloon_set_target_as(b, num_pages, BALLOON_SET_OPERATOR);
}

int balloon_set_target_unpinned(struct balloon_dev *b, uint32_t num_pages)
{
	return balloon_set_target_as(b, num_pages, BALLOON_SET_POLICY);
}

bool balloon_unpin_target(struct balloon_dev *b)
{
	bool was;

	pthread_mutex_lock(&b->lock);
	was = b->st.target_pinned;
	b->st.target_pinned = false;
	pthread_mutex_unlock(&b->lock);
	return was;
}

/* Give the stats buffer back every @ms milliseconds; 0: only on request. */
void balloon_set_stats_interval(struct balloon_dev *b, unsigned int ms)
{
	pthread_mutex_lock(&b->lock);
	b->stats_interval_ns = ms * UINT64_C(1000000);
	pthread_mutex_unlock(&b->lock);
	balloon_wake(b);
}

unsigned int balloon_get_stats_interval(struct balloon_dev *b)
{
	uint64_t ns;

	pthread_mutex_lock(&b->lock);
	ns = b->stats_interval_ns;
	pthread_mutex_unlock(&b->lock);
	return (unsigned int)(ns / 1000000);
}

int balloon_set_hinting(struct balloon_dev *b, unsigned int period_ms,
			uint64_t cap_bytes, unsigned int timeout_ms)
{
	if (!has(b->offered, VIRTIO_BALLOON_F_FREE_PAGE_HINT))
		return -EOPNOTSUPP;
	pthread_mutex_lock(&b->lock);
	b->hint_period_ns = period_ms * UINT64_C(1000000);
	b->hint_cap_bytes = cap_bytes;
	b->hint_timeout_ns = (timeout_ms ? timeout_ms : BALLOON_HINT_TIMEOUT_MS) *
			     UINT64_C(1000000);
	pthread_mutex_unlock(&b->lock);
	balloon_wake(b);
	return 0;
}

/*
 * balloon_hint_done - set free_page_hint_cmd_id to DONE now, ending the
 * command in flight if there is one, as QEMU does when a migration ends:
 * the driver may take every hinted page back.  With no command it is a
 * DONE for nothing, which a driver must take without harm.
 */
void balloon_hint_done(struct balloon_dev *b)
{
	atomic_store(&b->hint_done_wanted, true);
	balloon_wake(b);
}

/* Ask the guest for fresh statistics now (if it has a buffer queued). */
void balloon_request_stats(struct balloon_dev *b)
{
	atomic_store(&b->stats_wanted, true);
	balloon_wake(b);
}

/*
 * Any thread.  @vdev.mem needs no lock of ours: the transport sets the
 * pointer before it serves the device and clears it only once every other
 * user has stopped (the control first: control_stop() before
 * vhost_user_server_destroy()), and the table it points to, which
 * SET_MEM_TABLE and a reconnect replace, is read under its own lock
 * (guest_memory_total_bytes(), guest_memory_resident_bytes()).
 */
void balloon_get_stats(struct balloon_dev *b, struct balloon_stats *st)
{
	pthread_mutex_lock(&b->lock);
	*st = b->st;
	pthread_mutex_unlock(&b->lock);
	if (b->mirror)
		return;
	st->connected = atomic_load(&b->vdev.connected);
	st->memory_bytes = 0;
	st->resident_bytes = 0;
	if (b->vdev.mem) {
		st->memory_bytes = guest_memory_total_bytes(b->vdev.mem);
		st->resident_bytes = guest_memory_resident_bytes(b->vdev.mem);
	}
}
