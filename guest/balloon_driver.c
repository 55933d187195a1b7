/*
 * balloon_driver.c - the virtio-balloon driver of a process guest.
 *
 * Design.  The driver is a client of one vhost-user socket (the frontend
 * module) and of the guest's core (alloc_pages, the reporting API).  Every
 * ring, every PFN array and the statistics buffer live in guest RAM the
 * driver allocated from the core, because the device reads them by
 * guest-physical address through the memfd it was given; the driver's own
 * bookkeeping (descriptor state, the list of balloon frames) is private.
 *
 * Two threads drive it.  The core's reporting worker calls report(), which
 * owns the reporting queue (the core runs one pass at a time, under its
 * pass_lock).  The driver thread owns the inflate, deflate and stats queues:
 * it waits on the backend request channel (config changes), on the stats
 * queue's call eventfd, and on @wake_fd.  Each queue's virtqueue driver half
 * is thus used by one thread only; what the two threads share is the
 * frontend, whose calls @fe_lock serialises.
 *
 * A used buffer is waited for without a time limit, as Linux does: until
 * the device uses it, the device may still discard the frames it names, so
 * giving them back to the allocator early would lose data.  What ends a
 * wait early is @wake_fd, written when the driver stops or the connection
 * dies; both end the guest's use of the device.
 */
#ifndef _GNU_SOURCE
#define _GNU_SOURCE
#endif
#include "guest/balloon_driver.h"

#include <errno.h>
#include <poll.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stddef.h>
#include <stdlib.h>
#include <string.h>
#include <sys/eventfd.h>
#include <time.h>
#include <unistd.h>

#include "guest/vhost_user_frontend.h"
#include "guestmm/guest.h"
#include "mm/free_bitmap.h"
#include "mm/gfp.h"
#include "mm/page_reporting.h"
#include "virtio/vhost_user.h"
#include "virtio/virtio_balloon.h"
#include "virtio/virtqueue.h"

#define container_of(ptr, type, member)                                        \
	((type *)((char *)(ptr)-offsetof(type, member)))

#define BD_F(bit) (UINT64_C(1) << (bit))

/*
 * What we ask for, as Linux's driver: every queue feature (so the queue
 * numbering cannot differ from the device's), DEFLATE_ON_OOM and
 * MUST_TELL_HOST (we always wait for a deflate's ack anyway), EVENT_IDX.
 * PAGE_POISON is declined as Linux declines it without init_on_free or page
 * poisoning: our frames keep no value across a free.  INDIRECT_DESC is not
 * asked for: a report of up to CAPACITY_MAX entries fits the ring.
 */
#define BD_WANT                                                                \
	(VIRTIO_FEATURE(VIRTIO_F_VERSION_1) |                                  \
	 VIRTIO_FEATURE(VIRTIO_RING_F_EVENT_IDX) |                             \
	 BD_F(VIRTIO_BALLOON_F_MUST_TELL_HOST) |                               \
	 BD_F(VIRTIO_BALLOON_F_DEFLATE_ON_OOM) | VIRTIO_BALLOON_QUEUE_FEATURES)

/* Every queue: 256 entries, as user-mode Linux asks; the reporting queue
 * must hold a full batch (PAGE_REPORTING_CAPACITY_MAX) of direct entries. */
#define BD_QUEUE_NUM 256
_Static_assert(BD_QUEUE_NUM >= PAGE_REPORTING_CAPACITY_MAX,
	       "a report of CAPACITY_MAX entries fits the reporting queue");

/* Hint runs one command carries: the ring less the id and STOP buffers. */
#define BD_HINT_RUNS_MAX                                                       \
	(BD_QUEUE_NUM - 2 < FREE_BITMAP_RUNS_MAX ? BD_QUEUE_NUM - 2             \
						 : FREE_BITMAP_RUNS_MAX)

/* PFNs per inflate or deflate buffer: Linux's VIRTIO_BALLOON_ARRAY_PFNS_MAX. */
#define BD_PFNS_MAX 256

/* Without a backend channel, the target is re-read this often. */
#define BD_CONFIG_POLL_MS 1000
/* After an inflate that found no free frame, try again after this. */
#define BD_INFLATE_RETRY_MS 1000

/* The statistics we send, the same set every time (5.5.6.3). */
static const uint16_t bd_stat_tags[] = {
	VIRTIO_BALLOON_S_SWAP_IN, VIRTIO_BALLOON_S_SWAP_OUT,
	VIRTIO_BALLOON_S_MEMFREE, VIRTIO_BALLOON_S_MEMTOT,
	VIRTIO_BALLOON_S_AVAIL,	  VIRTIO_BALLOON_S_CACHES,
};
#define BD_NR_STATS (sizeof(bd_stat_tags) / sizeof(bd_stat_tags[0]))

struct bd_queue {
	int index; /* transport index; -1: the device has no such queue */
	struct page *ring; /* guest RAM holding the three areas */
	unsigned int ring_order;
	struct virtqueue_config cfg;
	struct virtqueue vq;
	struct virtqueue_desc_state *state;
	bool started;
};

/*
 * @fe_lock protects @fe: every vhost_user_frontend_* call is made under it.
 * The queues' driver halves are not locked: @q[REPORTING] belongs to
 * report() (serialised by the core's pass_lock), the others to the driver
 * thread.  @balloon, @nr_balloon and the PFN and stats pages belong to the
 * driver thread once it runs.  The statistics are atomics, read racily.
 * Invariant: @actual == @nr_balloon, and the device has acknowledged the
 * inflate of every frame in @balloon.
 */
struct balloon_driver {
	struct gmm_guest *guest;
	struct pglist_data *pgdat;
	pthread_mutex_t fe_lock;
	struct vhost_user_frontend *fe;
	uint64_t offered, features;
	struct bd_queue q[VIRTIO_BALLOON_VQ_NR];
	struct page_reporting_dev_info prdev;
	bool registered;

	struct page *pfn_page; /* BD_PFNS_MAX le32 PFNs, for either queue */
	struct page *stats_page; /* BD_NR_STATS packed entries */

	/*
	 * Free page hinting, the driver thread's.  @hint_page holds the id
	 * buffer (le32 at 0) and the STOP buffer (le32 at 4) of the command
	 * answered; it is rewritten only when no buffer of the last command
	 * is still in the ring (@hint_queued 0), else a stale id buffer could
	 * start the next command at the device with stale hints behind it.
	 * @hint_cmd: the command whose chunks are in flight in @fb (0: none).
	 */
	struct free_bitmap *fb;	 /* the guest's, with the bitmap strategy */
	uint64_t hint_cap_pages; /* frames one command hands over at most */
	struct page *hint_page;
	uint32_t hint_seen;	 /* the config field's last value */
	uint32_t hint_pending;	 /* a command to answer once drained */
	uint32_t hint_cmd;
	bool hint_answered;	 /* a command answered since the last DONE */
	unsigned int hint_queued; /* buffers offered and not used */
	struct free_page_hint_run hint_runs[FREE_BITMAP_RUNS_MAX];
	struct page **balloon; /* frames in the balloon */
	size_t nr_balloon, cap_balloon;

	int wake_fd; /* eventfd: readable once stopping or dead, for ever */
	atomic_bool stopping;
	atomic_int error;
	pthread_t thread;
	bool thread_started;

	atomic_uint num_pages, actual;
	atomic_uint_fast64_t inflated, deflated, stats_sent, reports,
		config_changes;
	atomic_uint_fast64_t hint_commands, hint_pages, hint_acks,
		hint_bad_done, hint_cpu_ns;
};

/* The connection is over (or the driver stops): wake every wait. */
static void bd_wake_all(struct balloon_driver *bd)
{
	uint64_t one = 1;

	/* The counter only grows; a full counter is readable already. */
	(void)!write(bd->wake_fd, &one, sizeof(one));
}

static int bd_fail(struct balloon_driver *bd, int err)
{
	int zero = 0;

	atomic_compare_exchange_strong(&bd->error, &zero, err);
	bd_wake_all(bd);
	return err;
}

static uint64_t bd_gpa(const struct balloon_driver *bd, struct page *page)
{
	return page_to_phys(bd->pgdat, page);
}

static int bd_kick(struct balloon_driver *bd, struct bd_queue *q)
{
	int err = 0;

	if (!virtqueue_kick_prepare(&q->vq))
		return 0;
	pthread_mutex_lock(&bd->fe_lock);
	err = vhost_user_frontend_kick(bd->fe, (unsigned int)q->index);
	pthread_mutex_unlock(&bd->fe_lock);
	return err ? bd_fail(bd, err) : 0;
}

/*
 * Wait until the device used the buffer @token on @q, collecting it.
 * Return: 0; -ESHUTDOWN when the driver stops; the connection's error once
 * it is dead; -EIO when the device used a buffer never offered.
 */
static int bd_wait_used(struct balloon_driver *bd, struct bd_queue *q,
			void *token)
{
	int call_fd;

	pthread_mutex_lock(&bd->fe_lock);
	call_fd = vhost_user_frontend_call_fd(bd->fe, (unsigned int)q->index);
	pthread_mutex_unlock(&bd->fe_lock);
	if (call_fd < 0)
		return call_fd;
	for (;;) {
		struct pollfd p[2] = {
			{ .fd = call_fd, .events = POLLIN },
			{ .fd = bd->wake_fd, .events = POLLIN },
		};
		void *t;
		uint32_t len;
		uint64_t v;
		int err = virtqueue_get_used(&q->vq, &t, &len);

		if (err == 0 && t == token)
			return 0;
		if (err == 0)
			continue; /* not ours: only one buffer is ever out */
		if (err != -EAGAIN)
			return bd_fail(bd, err);
		if (atomic_load(&bd->error))
			return atomic_load(&bd->error);
		if (atomic_load(&bd->stopping))
			return -ESHUTDOWN;
		if (poll(p, 2, -1) < 0 && errno != EINTR)
			return bd_fail(bd, -errno);
		if (p[0].revents & POLLIN)
			(void)!read(call_fd, &v, sizeof(v));
	}
}

/* ---- free page reporting ---- */

/*
 * The reporting device's report(): one buffer of @nents device-writable
 * entries (guest-physical address and length of each block) on the
 * reporting queue, then wait for the device to use it.  Called by the
 * core's worker with its pass_lock held and no zone lock.
 */
static int bd_report(struct page_reporting_dev_info *prdev,
		     struct scatterlist *sg, unsigned int nents)
{
	struct balloon_driver *bd =
		container_of(prdev, struct balloon_driver, prdev);
	struct bd_queue *q = &bd->q[VIRTIO_BALLOON_VQ_REPORTING];
	struct vring_sg vsg[PAGE_REPORTING_CAPACITY_MAX];
	int err = atomic_load(&bd->error);

	if (err)
		return err;
	if (nents == 0 || nents > PAGE_REPORTING_CAPACITY_MAX)
		return -EINVAL;
	for (unsigned int i = 0; i < nents; i++)
		vsg[i] = (struct vring_sg){ bd_gpa(bd, sg[i].page),
					    sg[i].length };
	err = virtqueue_add(&q->vq, vsg, 0, nents, bd);
	if (err)
		return err;
	err = bd_kick(bd, q);
	if (!err)
		err = bd_wait_used(bd, q, bd);
	if (!err)
		atomic_fetch_add(&bd->reports, 1);
	return err;
}

/* ---- inflate, deflate ---- */

static int bd_set_actual(struct balloon_driver *bd, uint32_t actual)
{
	uint32_t v = cpu_to_le32(actual);
	/* Our own count first: whoever sees the device's field change may
	 * read this driver's statistics at once (the device's counters come
	 * before its used entries for the same reason). */
	uint32_t old = atomic_exchange(&bd->actual, actual);
	int err;

	pthread_mutex_lock(&bd->fe_lock);
	err = vhost_user_frontend_set_config(
		bd->fe, offsetof(struct virtio_balloon_config, actual), &v,
		sizeof(v));
	pthread_mutex_unlock(&bd->fe_lock);
	if (err) {
		atomic_store(&bd->actual, old);
		return bd_fail(bd, err);
	}
	return 0;
}

/* Send @n PFNs, already in the PFN page, on @q and wait for the ack. */
static int bd_send_pfns(struct balloon_driver *bd, struct bd_queue *q,
			unsigned int n)
{
	struct vring_sg sg = { bd_gpa(bd, bd->pfn_page),
			       n * (uint32_t)sizeof(uint32_t) };
	int err = virtqueue_add(&q->vq, &sg, 1, 0, bd);

	if (err)
		return bd_fail(bd, err);
	err = bd_kick(bd, q);
	return err ? err : bd_wait_used(bd, q, bd);
}

static uint32_t bd_pfn(const struct balloon_driver *bd, struct page *page)
{
	return (uint32_t)(bd_gpa(bd, page) >> VIRTIO_BALLOON_PFN_SHIFT);
}

/*
 * Inflate by up to @want frames.  Return: frames inflated (0 when none was
 * free), or a negative errno.
 */
static int bd_inflate(struct balloon_driver *bd, unsigned int want)
{
	uint32_t *pfns = page_address(bd->pgdat, bd->pfn_page);
	struct page *pages[BD_PFNS_MAX];
	unsigned int n = 0;
	int err;

	if (want > BD_PFNS_MAX)
		want = BD_PFNS_MAX;
	if (bd->nr_balloon + want > bd->cap_balloon) {
		size_t cap = bd->cap_balloon ? bd->cap_balloon * 2 : 4096;
		struct page **v;

		while (cap < bd->nr_balloon + want)
			cap *= 2;
		v = realloc(bd->balloon, cap * sizeof(*v));
		if (!v)
			return -ENOMEM;
		bd->balloon = v;
		bd->cap_balloon = cap;
	}
	for (; n < want; n++) {
		pages[n] = alloc_pages(bd->pgdat, GFP_MOVABLE, 0);
		if (!pages[n])
			break;
		pfns[n] = cpu_to_le32(bd_pfn(bd, pages[n]));
	}
	if (!n)
		return 0;
	err = bd_send_pfns(bd, &bd->q[VIRTIO_BALLOON_VQ_INFLATE], n);
	if (err) {
		/* Not acknowledged: the device may still discard them, but
		 * the connection is over and the guest with it. */
		for (unsigned int i = 0; i < n; i++)
			free_pages(bd->pgdat, pages[i], 0);
		return err;
	}
	memcpy(&bd->balloon[bd->nr_balloon], pages, n * sizeof(pages[0]));
	bd->nr_balloon += n;
	atomic_fetch_add(&bd->inflated, n);
	err = bd_set_actual(bd, (uint32_t)bd->nr_balloon);
	return err ? err : (int)n;
}

/* Deflate by up to @want frames.  Return: frames deflated, or -errno. */
static int bd_deflate(struct balloon_driver *bd, unsigned int want)
{
	uint32_t *pfns = page_address(bd->pgdat, bd->pfn_page);
	unsigned int n = want > BD_PFNS_MAX ? BD_PFNS_MAX : want;
	size_t first;
	int err;

	if (n > bd->nr_balloon)
		n = (unsigned int)bd->nr_balloon;
	first = bd->nr_balloon - n;
	for (unsigned int i = 0; i < n; i++)
		pfns[i] = cpu_to_le32(bd_pfn(bd, bd->balloon[first + i]));
	err = bd_send_pfns(bd, &bd->q[VIRTIO_BALLOON_VQ_DEFLATE], n);
	if (err)
		return err;
	/* Acknowledged: the frames are ours again (MUST_TELL_HOST). */
	for (unsigned int i = 0; i < n; i++)
		free_pages(bd->pgdat, bd->balloon[first + i], 0);
	bd->nr_balloon = first;
	atomic_fetch_add(&bd->deflated, n);
	err = bd_set_actual(bd, (uint32_t)bd->nr_balloon);
	return err ? err : (int)n;
}

/*
 * Move the balloon towards the device's num_pages, a batch at a time,
 * re-reading the target after each batch as Linux does.
 * Return: 0 when there; -ENOMEM when no free frame was left to inflate
 * (the caller retries later); -ESHUTDOWN; the connection's error.
 */
static int bd_follow_target(struct balloon_driver *bd)
{
	for (;;) {
		uint32_t v, target;
		int err, n;

		if (atomic_load(&bd->stopping))
			return -ESHUTDOWN;
		pthread_mutex_lock(&bd->fe_lock);
		err = vhost_user_frontend_get_config(
			bd->fe, offsetof(struct virtio_balloon_config, num_pages),
			&v, sizeof(v));
		pthread_mutex_unlock(&bd->fe_lock);
		if (err)
			return bd_fail(bd, err);
		target = le32_to_cpu(v);
		atomic_store(&bd->num_pages, target);
		if (target == bd->nr_balloon)
			return 0;
		if (target > bd->nr_balloon)
			n = bd_inflate(bd, target - (uint32_t)bd->nr_balloon);
		else
			n = bd_deflate(bd, (uint32_t)bd->nr_balloon - target);
		if (n < 0)
			return n;
		if (n == 0)
			return -ENOMEM;
	}
}

/* ---- statistics ---- */

/* Fill the stats buffer with the guest's numbers now and offer it. */
static int bd_stats_send(struct balloon_driver *bd)
{
	struct bd_queue *q = &bd->q[VIRTIO_BALLOON_VQ_STATS];
	uint8_t *buf = page_address(bd->pgdat, bd->stats_page);
	const struct gmm_guest_config *c = gmm_guest_config(bd->guest);
	uint64_t free_bytes = pgdat_free_pages(bd->pgdat) << PAGE_SHIFT;
	struct vring_sg sg = { bd_gpa(bd, bd->stats_page),
			       BD_NR_STATS * VIRTIO_BALLOON_STAT_SIZE };
	int err;

	for (size_t i = 0; i < BD_NR_STATS; i++) {
		uint16_t tag = cpu_to_le16(bd_stat_tags[i]);
		uint64_t val = 0;

		switch (bd_stat_tags[i]) {
		case VIRTIO_BALLOON_S_MEMFREE:
		case VIRTIO_BALLOON_S_AVAIL:
			val = free_bytes;
			break;
		case VIRTIO_BALLOON_S_MEMTOT:
			val = c->mem_bytes;
			break;
		default:
			break; /* no swap, no page cache */
		}
		val = cpu_to_le64(val);
		/* Packed 10-byte entries: the value is unaligned. */
		memcpy(buf + i * VIRTIO_BALLOON_STAT_SIZE, &tag, sizeof(tag));
		memcpy(buf + i * VIRTIO_BALLOON_STAT_SIZE + 2, &val,
		       sizeof(val));
	}
	err = virtqueue_add(&q->vq, &sg, 1, 0, bd);
	if (err)
		return bd_fail(bd, err);
	atomic_fetch_add(&bd->stats_sent, 1);
	return bd_kick(bd, q);
}

/* The device gave the stats buffer back: it wants fresh numbers. */
static int bd_stats_used(struct balloon_driver *bd)
{
	struct bd_queue *q = &bd->q[VIRTIO_BALLOON_VQ_STATS];
	void *t;
	uint32_t len;
	int err;

	while ((err = virtqueue_get_used(&q->vq, &t, &len)) == 0) {
		err = bd_stats_send(bd);
		if (err)
			return err;
	}
	return err == -EAGAIN ? 0 : bd_fail(bd, err);
}

/* ---- free page hinting ---- */

static uint64_t bd_thread_cpu_ns(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_THREAD_CPUTIME_ID, &ts);
	return (uint64_t)ts.tv_sec * 1000000000u + (uint64_t)ts.tv_nsec;
}

/* Collect the used buffers of the free page queue. */
static int bd_hint_collect(struct balloon_driver *bd)
{
	struct bd_queue *q = &bd->q[VIRTIO_BALLOON_VQ_FREE_PAGE];
	void *t;
	uint32_t len;
	int err;

	while ((err = virtqueue_get_used(&q->vq, &t, &len)) == 0)
		if (bd->hint_queued)
			bd->hint_queued--;
	return err == -EAGAIN ? 0 : bd_fail(bd, err);
}

/* The command in flight is over at the device: take its chunks back. */
static void bd_hint_ack(struct balloon_driver *bd)
{
	if (!bd->hint_cmd)
		return;
	if (free_bitmap_ack(bd->fb, bd->hint_cmd) == 0)
		atomic_fetch_add(&bd->hint_acks, 1);
	bd->hint_cmd = 0;
}

/*
 * Answer command @id: the id buffer, a buffer per run of free chunks the
 * bitmap hands over (none without the bitmap), the STOP buffer, one kick.
 * The runs stay in flight in the bitmap until the device says DONE.
 */
static int bd_hint_answer(struct balloon_driver *bd, uint32_t id)
{
	struct bd_queue *q = &bd->q[VIRTIO_BALLOON_VQ_FREE_PAGE];
	uint32_t *words = page_address(bd->pgdat, bd->hint_page);
	uint64_t base = bd_gpa(bd, bd->hint_page);
	struct vring_sg id_sg = { base, sizeof(uint32_t) };
	struct vring_sg stop_sg = { base + sizeof(uint32_t), sizeof(uint32_t) };
	unsigned int nr = 0, max = virtqueue_num_free(&q->vq);
	int err;

	if (max < 3)
		return 0; /* cannot be: the ring is drained; the device times out */
	max -= 2;
	if (max > BD_HINT_RUNS_MAX)
		max = BD_HINT_RUNS_MAX;
	words[0] = cpu_to_le32(id);
	words[1] = cpu_to_le32(VIRTIO_BALLOON_CMD_ID_STOP);
	if (bd->fb &&
	    free_bitmap_request_hints(bd->fb, id, bd->hint_runs, max,
				      bd->hint_cap_pages, &nr))
		nr = 0;
	bd->hint_cmd = nr ? id : 0;
	err = virtqueue_add(&q->vq, &id_sg, 1, 0, bd);
	for (unsigned int i = 0; !err && i < nr; i++) {
		struct vring_sg sg = {
			(uint64_t)bd->hint_runs[i].pfn << PAGE_SHIFT,
			bd->hint_runs[i].nr_pages << PAGE_SHIFT,
		};

		err = virtqueue_add(&q->vq, &sg, 0, 1, bd);
		atomic_fetch_add(&bd->hint_pages, bd->hint_runs[i].nr_pages);
	}
	if (!err)
		err = virtqueue_add(&q->vq, &stop_sg, 1, 0, bd);
	if (err)
		return bd_fail(bd, err);
	bd->hint_queued += nr + 2;
	bd->hint_answered = true;
	atomic_fetch_add(&bd->hint_commands, 1);
	return bd_kick(bd, q);
}

/*
 * The config changed: act on a new value of free_page_hint_cmd_id.  A new
 * id ends the command before it (the device announces one only after
 * ending the last: a DONE this driver did not read in between) and is
 * answered once the ring holds nothing of the last; DONE takes the chunks
 * back; STOP asks to stop hinting, which a command answered in one go
 * already has.
 */
static int bd_hint_config_read(struct balloon_driver *bd)
{
	uint32_t v, id;
	int err;

	if (!bd->q[VIRTIO_BALLOON_VQ_FREE_PAGE].started)
		return 0;
	pthread_mutex_lock(&bd->fe_lock);
	err = vhost_user_frontend_get_config(
		bd->fe,
		offsetof(struct virtio_balloon_config, free_page_hint_cmd_id), &v,
		sizeof(v));
	pthread_mutex_unlock(&bd->fe_lock);
	if (err)
		return bd_fail(bd, err);
	id = le32_to_cpu(v);
	if (id == bd->hint_seen)
		return 0;
	bd->hint_seen = id;
	if (id == VIRTIO_BALLOON_CMD_ID_DONE) {
		if (!bd->hint_answered && !bd->hint_pending) {
			/* Nothing was answered: a DONE for nothing.  The
			 * bitmap refuses the ack and counts it. */
			atomic_fetch_add(&bd->hint_bad_done, 1);
			if (bd->fb)
				free_bitmap_ack(bd->fb, 0);
		}
		bd->hint_pending = 0;
		bd->hint_answered = false;
		bd_hint_ack(bd);
		return 0;
	}
	if (id == VIRTIO_BALLOON_CMD_ID_STOP)
		return 0;
	bd_hint_ack(bd);
	err = bd_hint_collect(bd);
	if (err)
		return err;
	if (bd->hint_queued) {
		bd->hint_pending = id;
		return 0;
	}
	bd->hint_pending = 0;
	return bd_hint_answer(bd, id);
}

/* The guest's side of the bitmap's work, in the driver thread: its CPU
 * time is the strategy's worker time (the discards are the device's). */
static int bd_hint_config(struct balloon_driver *bd)
{
	uint64_t t0 = bd_thread_cpu_ns();
	int err = bd_hint_config_read(bd);

	atomic_fetch_add(&bd->hint_cpu_ns, bd_thread_cpu_ns() - t0);
	return err;
}

/* The device used free page buffers: a deferred command may go now. */
static int bd_hint_used(struct balloon_driver *bd)
{
	uint64_t t0 = bd_thread_cpu_ns();
	uint32_t id;
	int err = bd_hint_collect(bd);

	id = bd->hint_pending;
	if (!err && id && !bd->hint_queued) {
		bd->hint_pending = 0;
		err = bd_hint_answer(bd, id);
	}
	atomic_fetch_add(&bd->hint_cpu_ns, bd_thread_cpu_ns() - t0);
	return err;
}

/* ---- the driver thread ---- */

static void *bd_thread(void *arg)
{
	struct balloon_driver *bd = arg;
	struct bd_queue *sq = &bd->q[VIRTIO_BALLOON_VQ_STATS];
	struct bd_queue *hq = &bd->q[VIRTIO_BALLOON_VQ_FREE_PAGE];
	int backend_fd, stats_fd = -1, hint_fd = -1, timeout;
	bool retry = false;

	pthread_mutex_lock(&bd->fe_lock);
	backend_fd = vhost_user_frontend_backend_fd(bd->fe);
	if (sq->started)
		stats_fd = vhost_user_frontend_call_fd(bd->fe,
						       (unsigned int)sq->index);
	if (hq->started)
		hint_fd = vhost_user_frontend_call_fd(bd->fe,
						      (unsigned int)hq->index);
	pthread_mutex_unlock(&bd->fe_lock);
	/* Linux primes the stats queue once the device is live. */
	if (sq->started && bd_stats_send(bd))
		return NULL;
	retry = bd_follow_target(bd) == -ENOMEM;
	/* A command announced before we came is answered now. */
	if (bd_hint_config(bd))
		goto out;
	while (!atomic_load(&bd->stopping) && !atomic_load(&bd->error)) {
		struct pollfd p[4] = {
			{ .fd = bd->wake_fd, .events = POLLIN },
			{ .fd = backend_fd, .events = POLLIN },
			{ .fd = stats_fd, .events = POLLIN },
			{ .fd = hint_fd, .events = POLLIN },
		};
		unsigned int changes = 0;
		uint64_t v;
		int r, err = 0;

		timeout = retry ? BD_INFLATE_RETRY_MS
				: backend_fd < 0 ? BD_CONFIG_POLL_MS : -1;
		r = poll(p, 4, timeout);
		if (r < 0 && errno != EINTR) {
			bd_fail(bd, -errno);
			break;
		}
		if (r <= 0) {
			if (r == 0) {
				retry = bd_follow_target(bd) == -ENOMEM;
				/* Without a backend channel, the cmd id too. */
				if (backend_fd < 0 && bd_hint_config(bd))
					break;
			}
			continue;
		}
		if (p[0].revents)
			break;
		if (p[2].revents & POLLIN) {
			(void)!read(stats_fd, &v, sizeof(v));
			if (bd_stats_used(bd))
				break;
		}
		if (p[3].revents & POLLIN) {
			(void)!read(hint_fd, &v, sizeof(v));
			if (bd_hint_used(bd))
				break;
		}
		if (p[1].revents) {
			pthread_mutex_lock(&bd->fe_lock);
			err = vhost_user_frontend_backend_poll(bd->fe, 0,
							       &changes);
			pthread_mutex_unlock(&bd->fe_lock);
			if (err) {
				/* The host closed its channel: it is gone. */
				bd_fail(bd, err == -EPIPE ? -EPIPE : err);
				break;
			}
			atomic_fetch_add(&bd->config_changes, changes);
			if (changes || retry)
				retry = bd_follow_target(bd) == -ENOMEM;
			if (changes && bd_hint_config(bd))
				break;
		}
	}
out:
	/*
	 * A dead connection sends no DONE and discards no more: the chunks in
	 * flight are the guest's again, as a report's wait ends (allocations
	 * waiting on them would otherwise wait for ever).  A stop acks them
	 * in balloon_driver_stop(), once the connection is closed.
	 */
	if (atomic_load(&bd->error))
		bd_hint_ack(bd);
	return NULL;
}

/* ---- start, stop ---- */

static int bd_queue_start(struct balloon_driver *bd, struct bd_queue *q)
{
	uint64_t bytes = vhost_user_frontend_ring_bytes(BD_QUEUE_NUM);
	unsigned int order = 0;
	int err;

	while ((PAGE_SIZE << order) < bytes)
		order++;
	q->ring = alloc_pages(bd->pgdat, GFP_ZERO, order);
	if (!q->ring)
		return -ENOMEM;
	q->ring_order = order;
	q->state = calloc(BD_QUEUE_NUM, sizeof(*q->state));
	if (!q->state) {
		err = -ENOMEM;
		goto undo_ring;
	}
	err = vhost_user_frontend_ring_place(&q->cfg, BD_QUEUE_NUM,
					     bd_gpa(bd, q->ring),
					     PAGE_SIZE << order);
	if (err)
		goto undo_state;
	q->cfg.features = bd->features;
	q->cfg.translate = vhost_user_frontend_translate;
	q->cfg.ctx = bd->fe;
	q->cfg.state = q->state;
	err = virtqueue_init(&q->vq, &q->cfg);
	if (err)
		goto undo_state;
	err = vhost_user_frontend_queue_start(bd->fe, (unsigned int)q->index,
					      &q->cfg);
	if (err)
		goto undo_state;
	q->started = true;
	return 0;

undo_state:
	free(q->state);
	q->state = NULL;
undo_ring:
	free_pages(bd->pgdat, q->ring, order);
	q->ring = NULL;
	return err;
}

/* Give a queue's guest RAM back; the connection is closed already. */
static void bd_queue_free(struct balloon_driver *bd, struct bd_queue *q)
{
	if (q->ring)
		free_pages(bd->pgdat, q->ring, q->ring_order);
	free(q->state);
	q->ring = NULL;
	q->state = NULL;
	q->started = false;
}

static void bd_free(struct balloon_driver *bd)
{
	vhost_user_frontend_close(bd->fe);
	for (int i = 0; i < VIRTIO_BALLOON_VQ_NR; i++)
		bd_queue_free(bd, &bd->q[i]);
	/* The device reset with the connection: balloon frames are ours. */
	for (size_t i = 0; i < bd->nr_balloon; i++)
		free_pages(bd->pgdat, bd->balloon[i], 0);
	free(bd->balloon);
	if (bd->pfn_page)
		free_pages(bd->pgdat, bd->pfn_page, 0);
	if (bd->stats_page)
		free_pages(bd->pgdat, bd->stats_page, 0);
	if (bd->hint_page)
		free_pages(bd->pgdat, bd->hint_page, 0);
	close(bd->wake_fd);
	pthread_mutex_destroy(&bd->fe_lock);
	free(bd);
}

int balloon_driver_start(struct gmm_guest *guest, const char *socket_path,
			 bool reporting, struct balloon_driver **out)
{
	const struct gmm_guest_config *c = gmm_guest_config(guest);
	struct balloon_driver *bd = calloc(1, sizeof(*bd));
	unsigned int changes;
	bool bitmap;
	int err;

	if (!bd)
		return -ENOMEM;
	bd->guest = guest;
	bd->pgdat = gmm_guest_pgdat(guest);
	pthread_mutex_init(&bd->fe_lock, NULL);
	bd->wake_fd = eventfd(0, EFD_CLOEXEC | EFD_NONBLOCK);
	if (bd->wake_fd < 0) {
		err = -errno;
		pthread_mutex_destroy(&bd->fe_lock);
		free(bd);
		return err;
	}
	for (int i = 0; i < VIRTIO_BALLOON_VQ_NR; i++)
		bd->q[i].index = -1;
	/* Not threaded yet: no lock needed until the thread starts. */
	err = vhost_user_frontend_connect(socket_path, &bd->fe);
	if (err)
		goto undo;
	err = vhost_user_frontend_negotiate(bd->fe, BD_WANT, &bd->features);
	if (err)
		goto undo;
	if (!(bd->features & VIRTIO_FEATURE(VIRTIO_F_VERSION_1)) ||
	    !(vhost_user_frontend_protocol_features(bd->fe) &
	      BD_F(VHOST_USER_PROTOCOL_F_CONFIG))) {
		err = -ENODEV;
		goto undo;
	}
	/* We took every queue feature offered, so the device's numbering
	 * (by what it offered) is ours (by what was negotiated). */
	bd->offered = vhost_user_frontend_offered(bd->fe);
	if ((bd->offered ^ bd->features) & VIRTIO_BALLOON_QUEUE_FEATURES) {
		err = -EPROTO;
		goto undo;
	}
	/* Guest RAM is guest-physical 0 up, as the core numbers frames. */
	err = vhost_user_frontend_set_mem(bd->fe, gmm_guest_memfd(guest),
					  gmm_guest_ram(guest), 0,
					  c->mem_bytes);
	if (err)
		goto undo;
	bd->pfn_page = alloc_pages(bd->pgdat, GFP_ZERO, 0);
	bd->stats_page = alloc_pages(bd->pgdat, GFP_ZERO, 0);
	bd->hint_page = alloc_pages(bd->pgdat, GFP_ZERO, 0);
	if (!bd->pfn_page || !bd->stats_page || !bd->hint_page) {
		err = -ENOMEM;
		goto undo;
	}
	for (int i = 0; i < VIRTIO_BALLOON_VQ_NR; i++) {
		bd->q[i].index = virtio_balloon_queue_index(bd->features, i);
		if (bd->q[i].index < 0)
			continue;
		err = bd_queue_start(bd, &bd->q[i]);
		if (err)
			goto undo;
	}
	/* A target set before we came is read by the thread; drop the
	 * notifications that said so. */
	vhost_user_frontend_backend_poll(bd->fe, 0, &changes);
	/* The bitmap answers hint commands; the others report. */
	bitmap = c->hinting == GMM_HINTING_BITMAP;
	if (reporting &&
	    bd->q[bitmap ? VIRTIO_BALLOON_VQ_FREE_PAGE
			 : VIRTIO_BALLOON_VQ_REPORTING].started) {
		bd->prdev.report = bd_report;
		err = gmm_guest_set_reporting_device(guest, &bd->prdev);
		if (err)
			goto undo;
		bd->registered = true;
		bd->fb = gmm_guest_free_bitmap(guest);
		bd->hint_cap_pages = c->hint_cap_bytes >> PAGE_SHIFT;
	}
	if (pthread_create(&bd->thread, NULL, bd_thread, bd)) {
		err = -EAGAIN;
		goto undo_reporting;
	}
	bd->thread_started = true;
	*out = bd;
	return 0;

undo_reporting:
	if (bd->registered)
		gmm_guest_set_reporting_device(guest, NULL);
undo:
	bd_free(bd);
	return err;
}

void balloon_driver_stop(struct balloon_driver *bd)
{
	if (!bd)
		return;
	/* First: a report in flight completes while the device is up. */
	if (bd->registered && !bd->fb)
		gmm_guest_set_reporting_device(bd->guest, NULL);
	atomic_store(&bd->stopping, true);
	bd_wake_all(bd);
	if (bd->thread_started)
		pthread_join(bd->thread, NULL);
	/*
	 * The bitmap's chunks in flight wait for a DONE no thread reads now:
	 * close the connection (the device resets and discards no more) and
	 * take them back here, or unregistering would wait for ever.
	 */
	if (bd->fb) {
		vhost_user_frontend_close(bd->fe);
		bd->fe = NULL;
		bd_hint_ack(bd);
		gmm_guest_set_reporting_device(bd->guest, NULL);
	}
	bd_free(bd);
}

void balloon_driver_get_stats(struct balloon_driver *bd,
			      struct balloon_driver_stats *st)
{
	*st = (struct balloon_driver_stats){
		.offered = bd->offered,
		.features = bd->features,
		.num_pages = atomic_load(&bd->num_pages),
		.actual = atomic_load(&bd->actual),
		.inflated_pages = atomic_load(&bd->inflated),
		.deflated_pages = atomic_load(&bd->deflated),
		.stats_sent = atomic_load(&bd->stats_sent),
		.reports = atomic_load(&bd->reports),
		.config_changes = atomic_load(&bd->config_changes),
		.hint_commands = atomic_load(&bd->hint_commands),
		.hint_pages = atomic_load(&bd->hint_pages),
		.hint_acks = atomic_load(&bd->hint_acks),
		.hint_bad_done = atomic_load(&bd->hint_bad_done),
		.hint_cpu_ns = atomic_load(&bd->hint_cpu_ns),
		.error = atomic_load(&bd->error),
	};
}

bool balloon_driver_reporting(struct balloon_driver *bd)
{
	return bd->registered;
}
