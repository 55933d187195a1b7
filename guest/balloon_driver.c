/*
 * balloon_driver.c - the virtio-balloon driver, over any transport.
 *
 * Design.  The driver is a client of one transport (virtio_transport.h)
 * and of the guest's core (alloc_pages, the reporting API).  Every ring,
 * every PFN array, the statistics buffer and the driver's own state live in
 * guest RAM the driver allocated from the core: the device reads the
 * first ones by guest-physical address, and a guest kernel has no other
 * heap.  The frames in the balloon are listed in pages of frame numbers
 * (never in the balloon frames themselves: writing one would fault it back
 * in at the host).
 *
 * Two threads drive it.  The core's reporting worker calls report(), which
 * owns the reporting queue (the core runs one pass at a time, under its
 * pass_lock).  The driver thread (balloon_driver_run(), on a thread the
 * embedding made) owns the inflate, deflate, stats and free page queues:
 * it waits on the transport for config changes and for the stats and free
 * page queues' used buffers.  Each queue's virtqueue driver half is thus
 * used by one thread only; the transport serialises what the two threads
 * share.
 *
 * A used buffer is waited for without a time limit, as Linux does: until
 * the device uses it, the device may still discard the frames it names, so
 * giving them back to the allocator early would lose data.  What ends a
 * wait early is the transport's stop(), called when the driver shuts down
 * or its device failed; both end the guest's use of the device.
 */
#include "guest/balloon_driver.h"

#include <stdatomic.h>
#include <stddef.h>

#include "mm/anon.h"
#include "mm/free_bitmap.h"
#include "mm/gfp.h"
#include "mm/page_reporting.h"
#include "virtio/virtio_balloon.h"
#include "virtio/virtio_transport.h"
#include "virtio/virtqueue.h"

#define container_of(ptr, type, member)                                        \
	((type *)((char *)(ptr)-offsetof(type, member)))

#define BD_F(bit) (UINT64_C(1) << (bit))

/*
 * What we ask for, as Linux's driver: every queue feature (so the queue
 * numbering cannot differ from the device's), DEFLATE_ON_OOM and
 * MUST_TELL_HOST (we always wait for a deflate's ack anyway), EVENT_IDX.
 * PAGE_POISON only when the guest's free pages keep a value (env->poison),
 * as Linux asks for it only with init_on_free or page poisoning.
 * INDIRECT_DESC is not asked for: a report of up to CAPACITY_MAX entries
 * fits the ring.
 */
#define BD_WANT                                                                \
	(VIRTIO_FEATURE(VIRTIO_F_VERSION_1) |                                  \
	 VIRTIO_FEATURE(VIRTIO_RING_F_EVENT_IDX) |                             \
	 BD_F(VIRTIO_BALLOON_F_MUST_TELL_HOST) |                               \
	 BD_F(VIRTIO_BALLOON_F_DEFLATE_ON_OOM) | VIRTIO_BALLOON_QUEUE_FEATURES)

/*
 * Every queue: 256 entries, as user-mode Linux asks, or fewer when the
 * device takes fewer.  A report of the largest batch
 * (PAGE_REPORTING_CAPACITY_MAX) then fits one buffer of direct entries.
 */
#define BD_QUEUE_NUM 256

/* Hint runs one command carries: the ring less the id and STOP buffers. */
#define BD_HINT_RUNS_MAX                                                       \
	(BD_QUEUE_NUM - 2 < FREE_BITMAP_RUNS_MAX ? BD_QUEUE_NUM - 2             \
						 : FREE_BITMAP_RUNS_MAX)

/* PFNs per inflate or deflate buffer: Linux's VIRTIO_BALLOON_ARRAY_PFNS_MAX. */
#define BD_PFNS_MAX 256

/*
 * Frames one OOM call takes out of the balloon: Linux's
 * VIRTIO_BALLOON_OOM_NR_PAGES (1 MiB), enough for the allocation that
 * failed and a margin, small enough to leave the rest in the balloon.
 */
#define BD_OOM_NR_PAGES 256

/* After an inflate that found no free frame, try again after this. */
#define BD_INFLATE_RETRY_MS 1000

/*
 * The statistics we send, the same set every time (5.5.6.3), and Linux's
 * set on a kernel without hugetlb pages (user-mode Linux's, any kernel
 * without CONFIG_HUGETLB_PAGE): the guest has no huge pages, so the two
 * hugetlb counters are left unsent, as Linux leaves them, rather than sent
 * as a 0 that would claim allocations were tried.
 */
static const uint16_t bd_stat_tags[] = {
	VIRTIO_BALLOON_S_SWAP_IN, VIRTIO_BALLOON_S_SWAP_OUT,
	VIRTIO_BALLOON_S_MAJFLT,  VIRTIO_BALLOON_S_MINFLT,
	VIRTIO_BALLOON_S_MEMFREE, VIRTIO_BALLOON_S_MEMTOT,
	VIRTIO_BALLOON_S_AVAIL,	  VIRTIO_BALLOON_S_CACHES,
};
#define BD_NR_STATS (sizeof(bd_stat_tags) / sizeof(bd_stat_tags[0]))

/*
 * One page of the balloon's frame list: the frame numbers of @nr balloon
 * frames, in inflate order, and the page before it (PFN_NONE: none).  The
 * driver thread's.
 */
#define BD_LIST_PFNS ((PAGE_SIZE - 2 * sizeof(uint32_t)) / sizeof(uint32_t))
struct bd_list_page {
	uint32_t nr;
	uint32_t prev;
	uint32_t pfn[BD_LIST_PFNS];
};
_Static_assert(sizeof(struct bd_list_page) == PAGE_SIZE,
	       "a list page is one frame");
_Static_assert(BD_LIST_PFNS >= BD_PFNS_MAX,
	       "a batch spans at most two list pages");

struct bd_queue {
	int index; /* transport index; -1: the device has no such queue */
	unsigned int num; /* entries; 0: left unused (bd_queue_sizes()) */
	struct page *ring; /* guest RAM holding the three areas */
	unsigned int ring_order;
	struct virtqueue_config cfg;
	struct virtqueue vq;
	struct virtqueue_desc_state state[BD_QUEUE_NUM];
	bool started;
};

/*
 * The queues' driver halves: @q[REPORTING] belongs to report() (serialised
 * by the core's pass_lock); @balloon_lock protects @q[INFLATE],
 * @q[DEFLATE], the balloon list (@list_top, @list_spare, @nr_balloon) and
 * the PFN page, used by the driver thread and, with DEFLATE_ON_OOM, by any
 * thread whose allocation found no memory (bd_oom_notify()); it is held
 * across the device's ack, as pass_lock is across a report.  The other
 * queues, the stats and hint pages and the hint state are the driver
 * thread's.  The transport serialises its own calls.  The statistics are
 * atomics, read racily.
 * Invariant (under @balloon_lock): @actual == @nr_balloon == the frames in
 * the list, and the device has acknowledged the inflate of every one.
 * Lock order: whatever an allocating thread holds (mm/README.md) ->
 * @balloon_lock -> the core's per-CPU and zone locks (the frees).
 */
struct balloon_driver {
	struct balloon_driver_env env;
	struct pglist_data *pgdat;
	struct virtio_transport *t;
	struct page *self; /* the frames this struct lives in */
	unsigned int self_order;
	uint64_t offered, features;
	unsigned int queue_num; /* the smallest queue set up */
	struct bd_queue q[VIRTIO_BALLOON_VQ_NR];
	struct page_reporting_dev_info prdev;
	bool registered;

	struct page *pfn_page; /* BD_PFNS_MAX le32 PFNs, for either queue */
	struct page *stats_page; /* BD_NR_STATS packed entries */

	struct spinlock balloon_lock;
	uint32_t list_top; /* the last list page's frame, or PFN_NONE */
	struct page *list_spare; /* a list page taken before a batch */
	uint32_t nr_balloon;
	/* Registered with the core while DEFLATE_ON_OOM is negotiated. */
	struct oom_notifier oom;
	bool oom_registered;

	/*
	 * Free page hinting, the driver thread's.  @hint_page holds the id
	 * buffer (le32 at 0) and the STOP buffer (le32 at 4) of the command
	 * answered; it is rewritten only when no buffer of the last command
	 * is still in the ring (@hint_queued 0), else a stale id buffer could
	 * start the next command at the device with stale hints behind it.
	 * @hint_cmd: the command whose chunks are in flight in @fb (0: none).
	 */
	struct free_bitmap *fb;	 /* the guest's, with the bitmap strategy */
	struct page *hint_page;
	uint32_t hint_seen;	 /* the config field's last value */
	uint32_t hint_pending;	 /* a command to answer once drained */
	uint32_t hint_cmd;
	bool hint_answered;	 /* a command answered since the last DONE */
	unsigned int hint_queued; /* buffers offered and not used */
	struct free_page_hint_run hint_runs[FREE_BITMAP_RUNS_MAX];

	atomic_bool stopping;
	atomic_int error;

	atomic_uint num_pages, actual;
	atomic_uint_fast64_t inflated, deflated, stats_sent, reports,
		config_changes, oom_deflated, reclaimed;
	atomic_uint_fast64_t hint_commands, hint_pages, hint_acks,
		hint_bad_done, hint_cpu_ns;
};

/* The first error ends the driver: every wait ends with it. */
static int bd_fail(struct balloon_driver *bd, int err)
{
	int zero = 0;

	atomic_compare_exchange_strong(&bd->error, &zero, err);
	bd->t->ops->stop(bd->t);
	return err;
}

static uint64_t bd_gpa(const struct balloon_driver *bd, struct page *page)
{
	return bd->env.ram_gpa + page_to_phys(bd->pgdat, page);
}

static uint32_t bd_pfn(const struct balloon_driver *bd, struct page *page)
{
	return (uint32_t)(bd_gpa(bd, page) >> VIRTIO_BALLOON_PFN_SHIFT);
}

/* The virtqueue's view of guest RAM: the core's frames, from ram_gpa up. */
static void *bd_translate(void *ctx, uint64_t gpa, uint64_t len, bool write)
{
	struct balloon_driver *bd = ctx;
	uint64_t size = bd->pgdat->node_spanned_pages << PAGE_SHIFT;
	uint64_t off = gpa - bd->env.ram_gpa;

	(void)write;
	if (gpa < bd->env.ram_gpa || off > size || len > size - off)
		return NULL;
	return (char *)bd->pgdat->ram + off;
}

static void bd_put_le16(uint8_t *p, uint16_t v)
{
	p[0] = (uint8_t)v;
	p[1] = (uint8_t)(v >> 8);
}

static void bd_put_le64(uint8_t *p, uint64_t v)
{
	for (int i = 0; i < 8; i++)
		p[i] = (uint8_t)(v >> (8 * i));
}

static int bd_config_read32(struct balloon_driver *bd, uint32_t offset,
			    uint32_t *val)
{
	uint32_t v;
	int err = virtio_cread(bd->t, offset, &v, sizeof(v));

	if (err)
		return bd_fail(bd, err);
	*val = le32_to_cpu(v);
	return 0;
}

static int bd_kick(struct balloon_driver *bd, struct bd_queue *q)
{
	int err;

	if (!virtqueue_kick_prepare(&q->vq))
		return 0;
	err = bd->t->ops->notify(bd->t, (unsigned int)q->index);
	return err ? bd_fail(bd, err) : 0;
}

/*
 * Wait until the device used a buffer on @q, collecting every used one.
 * Return: 0; -ESHUTDOWN when the driver stops; the driver's error once it
 * failed; -EIO when the device used a buffer never offered.
 */
static int bd_wait_used(struct balloon_driver *bd, struct bd_queue *q)
{
	for (;;) {
		void *t;
		uint32_t len, events;
		int err = virtqueue_get_used(&q->vq, &t, &len);

		if (err == 0)
			return 0;
		if (err != -GMM_EAGAIN)
			return bd_fail(bd, err);
		if (atomic_load(&bd->error))
			return atomic_load(&bd->error);
		if (atomic_load(&bd->stopping))
			return -GMM_ESHUTDOWN;
		err = bd->t->ops->wait(bd->t,
				       VIRTIO_EVENT_QUEUE((unsigned int)q->index),
				       -1, &events);
		if (err == -GMM_ESHUTDOWN)
			continue; /* the error or the stop, looked at above */
		if (err)
			return bd_fail(bd, err);
	}
}

/* ---- free page reporting ---- */

/*
 * The reporting device's report(): the batch as buffers of device-writable
 * entries (guest-physical address and length of each block) on the
 * reporting queue, one buffer when the ring holds the batch (the common
 * case: a batch of the default capacity in a queue of 256), else as many as
 * it takes, each waited for before the next.  Called by the core's worker
 * with its pass_lock held and no zone lock.
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
		return -GMM_EINVAL;
	for (unsigned int i = 0; i < nents; i++)
		vsg[i] = (struct vring_sg){ bd_gpa(bd, sg[i].page),
					    sg[i].length };
	for (unsigned int done = 0; done < nents;) {
		unsigned int n = nents - done < q->num ? nents - done : q->num;

		err = virtqueue_add(&q->vq, vsg + done, 0, n, bd);
		if (!err)
			err = bd_kick(bd, q);
		if (!err)
			err = bd_wait_used(bd, q);
		if (err)
			return err;
		atomic_fetch_add(&bd->reports, 1);
		done += n;
	}
	return 0;
}

/* ---- the balloon's frame list ---- */

static struct bd_list_page *bd_list_page(struct balloon_driver *bd,
					 uint32_t pfn)
{
	return page_address(bd->pgdat, pfn_to_page(bd->pgdat, pfn));
}

/* The frame @i places below the top of the list (0: the last inflated). */
static uint32_t bd_list_peek(struct balloon_driver *bd, uint32_t i)
{
	struct bd_list_page *lp = bd_list_page(bd, bd->list_top);

	while (i >= lp->nr) {
		i -= lp->nr;
		lp = bd_list_page(bd, lp->prev);
	}
	return lp->pfn[lp->nr - 1 - i];
}

/*
 * Room for @n more frames: a spare list page when the top one cannot take
 * them all.  Return: 0; -ENOMEM.
 */
static int bd_list_reserve(struct balloon_driver *bd, unsigned int n)
{
	if (bd->list_top != PFN_NONE &&
	    bd_list_page(bd, bd->list_top)->nr + n <= BD_LIST_PFNS)
		return 0;
	if (!bd->list_spare)
		bd->list_spare = alloc_pages(bd->pgdat, GFP_NORETRY, 0);
	return bd->list_spare ? 0 : -GMM_ENOMEM;
}

/* Append frame @pfn; bd_list_reserve() made room. */
static void bd_list_push(struct balloon_driver *bd, uint32_t pfn)
{
	struct bd_list_page *lp = bd->list_top == PFN_NONE
					  ? NULL
					  : bd_list_page(bd, bd->list_top);

	if (!lp || lp->nr == BD_LIST_PFNS) {
		uint32_t prev = bd->list_top;

		bd->list_top = page_to_pfn(bd->pgdat, bd->list_spare);
		bd->list_spare = NULL;
		lp = bd_list_page(bd, bd->list_top);
		lp->nr = 0;
		lp->prev = prev;
	}
	lp->pfn[lp->nr++] = pfn;
}

/* Drop the last frame of the list (the caller took it). */
static void bd_list_pop(struct balloon_driver *bd)
{
	struct bd_list_page *lp = bd_list_page(bd, bd->list_top);

	if (--lp->nr == 0) {
		uint32_t top = bd->list_top;

		bd->list_top = lp->prev;
		free_pages(bd->pgdat, pfn_to_page(bd->pgdat, top), 0);
	}
}

/* ---- inflate, deflate ---- */

static int bd_set_actual(struct balloon_driver *bd, uint32_t actual)
{
	uint32_t v = cpu_to_le32(actual);
	/* Our own count first: whoever sees the device's field change may
	 * read this driver's statistics at once (the device's counters come
	 * before its used entries for the same reason). */
	uint32_t old = atomic_exchange(&bd->actual, actual);
	int err = bd->t->ops->config_set(
		bd->t, offsetof(struct virtio_balloon_config, actual), &v,
		sizeof(v));

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
	return err ? err : bd_wait_used(bd, q);
}

/*
 * Inflate by up to @want frames, @balloon_lock held.  Return: frames
 * inflated (0 when none was free), or a negative errno.
 */
static int bd_inflate(struct balloon_driver *bd, unsigned int want)
{
	uint32_t *pfns = page_address(bd->pgdat, bd->pfn_page);
	struct page *pages[BD_PFNS_MAX];
	unsigned int n = 0;
	int err;

	if (want > BD_PFNS_MAX)
		want = BD_PFNS_MAX;
	if (bd_list_reserve(bd, want))
		return 0;
	for (; n < want; n++) {
		/* Never the OOM path: it would deflate what we inflate. */
		pages[n] = alloc_pages(bd->pgdat, GFP_MOVABLE | GFP_NORETRY, 0);
		if (!pages[n])
			break;
		pfns[n] = cpu_to_le32(bd_pfn(bd, pages[n]));
	}
	if (!n)
		return 0;
	err = bd_send_pfns(bd, &bd->q[VIRTIO_BALLOON_VQ_INFLATE], n);
	if (err) {
		/* Not acknowledged: the device may still discard them, but
		 * the driver is over; the device is reset before anything
		 * else has them (balloon_driver_remove()). */
		for (unsigned int i = 0; i < n; i++)
			bd_list_push(bd, page_to_pfn(bd->pgdat, pages[i]));
		bd->nr_balloon += n;
		return err;
	}
	for (unsigned int i = 0; i < n; i++)
		bd_list_push(bd, page_to_pfn(bd->pgdat, pages[i]));
	bd->nr_balloon += n;
	atomic_fetch_add(&bd->inflated, n);
	err = bd_set_actual(bd, bd->nr_balloon);
	return err ? err : (int)n;
}

/* Deflate by up to @want frames, @balloon_lock held.  Return: frames
 * deflated, or -errno. */
static int bd_deflate(struct balloon_driver *bd, unsigned int want)
{
	uint32_t *pfns = page_address(bd->pgdat, bd->pfn_page);
	unsigned int n = want > BD_PFNS_MAX ? BD_PFNS_MAX : want;
	int err;

	if (n > bd->nr_balloon)
		n = bd->nr_balloon;
	if (!n)
		return 0; /* nothing to tell the device (an OOM call, empty) */
	for (unsigned int i = 0; i < n; i++)
		pfns[i] = cpu_to_le32(bd_pfn(
			bd, pfn_to_page(bd->pgdat, bd_list_peek(bd, i))));
	err = bd_send_pfns(bd, &bd->q[VIRTIO_BALLOON_VQ_DEFLATE], n);
	if (err)
		return err;
	/* Acknowledged: the frames are ours again (MUST_TELL_HOST). */
	for (unsigned int i = 0; i < n; i++) {
		free_pages(bd->pgdat, pfn_to_page(bd->pgdat, bd_list_peek(bd, 0)),
			   0);
		bd_list_pop(bd);
	}
	bd->nr_balloon -= n;
	atomic_fetch_add(&bd->deflated, n);
	err = bd_set_actual(bd, bd->nr_balloon);
	return err ? err : (int)n;
}

/*
 * Move the balloon towards the device's num_pages, a batch at a time,
 * re-reading the target after each batch as Linux does.  A batch that
 * finds no free frame reclaims once, as Linux's balloon_page_alloc()
 * (__GFP_NORETRY: one light round of direct reclaim, no OOM killer): the
 * node's anonymous memory, if it has any, goes to zswap and the swap file
 * for up to the batch's frames, and the batch is tried again; a second
 * batch in a row that finds nothing gives up until the retry.  The
 * reclaim runs with @balloon_lock dropped: it takes page locks, ptls and
 * the swap lock, which an allocation calling bd_oom_notify() may hold
 * while it waits for @balloon_lock (mm/README.md).
 * Return: 0 when there; -ENOMEM when no frame was left to inflate, free
 * or reclaimable (the caller retries later); -ESHUTDOWN; the driver's error.
 */
static int bd_follow_target(struct balloon_driver *bd)
{
	bool reclaimed = false;

	for (;;) {
		uint32_t target, want = 0;
		bool there;
		int err, n = 0;
		uint64_t freed;

		if (atomic_load(&bd->stopping))
			return -GMM_ESHUTDOWN;
		err = bd_config_read32(
			bd, offsetof(struct virtio_balloon_config, num_pages),
			&target);
		if (err)
			return err;
		atomic_store(&bd->num_pages, target);
		spin_lock(&bd->balloon_lock);
		there = target == bd->nr_balloon;
		if (!there && target > bd->nr_balloon) {
			want = target - bd->nr_balloon;
			n = bd_inflate(bd, want);
		} else if (!there) {
			n = bd_deflate(bd, bd->nr_balloon - target);
		}
		spin_unlock(&bd->balloon_lock);
		if (there)
			return 0;
		if (n < 0)
			return n;
		if (n > 0) {
			reclaimed = false;
			continue;
		}
		if (reclaimed || !want)
			return -GMM_ENOMEM;
		freed = try_to_free_pages(bd->pgdat,
					  want < BD_PFNS_MAX ? want : BD_PFNS_MAX);
		if (!freed)
			return -GMM_ENOMEM;
		atomic_fetch_add(&bd->reclaimed, freed);
		reclaimed = true;
	}
}

/*
 * The core's OOM notifier, registered while DEFLATE_ON_OOM is negotiated:
 * an allocation found no memory, so give it BD_OOM_NR_PAGES frames of the
 * balloon back, telling the device first (the deflate queue, its ack), as
 * Linux's virtio_balloon_oom_notify() does.  The host's target stays: the
 * driver inflates towards it again when memory is free, as Linux's does.
 * Runs in the allocating thread.  Return: the frames given back.
 */
static uint64_t bd_oom_notify(struct oom_notifier *on)
{
	struct balloon_driver *bd = container_of(on, struct balloon_driver, oom);
	int n;

	if (atomic_load(&bd->error) || atomic_load(&bd->stopping))
		return 0;
	spin_lock(&bd->balloon_lock);
	n = bd_deflate(bd, BD_OOM_NR_PAGES);
	spin_unlock(&bd->balloon_lock);
	if (n <= 0)
		return 0;
	atomic_fetch_add(&bd->oom_deflated, (unsigned int)n);
	return (uint64_t)n;
}

/* ---- statistics ---- */

/*
 * Fill the stats buffer with the guest's numbers now and offer it.  Linux's
 * meanings (its driver's update_balloon_stats(), /proc/meminfo and
 * /proc/vmstat), so that a VMM reads them as it reads Linux's:
 *   SWAP_IN  bytes read from the swap file (pswpin); a page zswap gives
 *            back is not counted, as Linux does not count a zswap load;
 *   SWAP_OUT bytes written to the swap file (pswpout): by reclaim, and by
 *            zswap's writeback, which Linux counts there too; a page zswap
 *            takes is not;
 *   MAJFLT   faults that read the page back, from zswap or the swap file
 *            (pgmajfault: Linux counts a zswap load as a major fault);
 *   MINFLT   every fault, major ones included (pgfault, as Linux counts);
 *            all four the node's counters (node_get_vm_events()), 0
 *            while it has no anonymous memory;
 *   MEMTOT the frames the allocator manages (RAM less mm/'s metadata and
 *          what the embedding kept: totalram_pages), less the balloon's
 *          unless DEFLATE_ON_OOM was negotiated, as Linux's driver
 *          (adjust_managed_page_count() only without it);
 *   MEMFREE the buddy lists' frames, Reported ones included (NR_FREE_PAGES;
 *          the per-CPU lists' are not in it, as in Linux);
 *   AVAIL  what an allocation can have without reclaim: MEMFREE and the
 *          per-CPU lists.  There is no page cache or reclaimable slab to
 *          add, and anonymous memory's swap is not counted, as Linux does
 *          not; unlike Linux's si_mem_available() the watermark reserve is
 *          not taken off, so MEMFREE <= AVAIL (both read racily, and held
 *          to MEMTOT);
 *   CACHES the swap cache: Linux sends NR_FILE_PAGES, which holds its swap
 *          cache; the guest has no other page cache.
 * The driver thread's.
 */
static int bd_stats_send(struct balloon_driver *bd)
{
	struct bd_queue *q = &bd->q[VIRTIO_BALLOON_VQ_STATS];
	uint8_t *buf = page_address(bd->pgdat, bd->stats_page);
	uint64_t free_pages = pgdat_free_pages(bd->pgdat), managed = 0, pcp = 0;
	uint64_t total, avail;
	struct vring_sg sg = { bd_gpa(bd, bd->stats_page),
			       BD_NR_STATS * VIRTIO_BALLOON_STAT_SIZE };
	uint64_t ev[NR_VM_EVENTS], swap_cache;
	int err;

	node_get_vm_events(bd->pgdat, ev, &swap_cache);

	for (unsigned int z = 0; z < bd->pgdat->nr_zones; z++) {
		struct zone_stats zs;

		zone_get_stats(&bd->pgdat->node_zones[z], &zs);
		managed += zs.managed_pages;
		pcp += zs.pcp_pages;
	}
	total = managed;
	if (!(bd->features & BD_F(VIRTIO_BALLOON_F_DEFLATE_ON_OOM))) {
		/* Only this thread changes it without DEFLATE_ON_OOM. */
		uint64_t held = atomic_load(&bd->actual);

		total -= held < total ? held : total;
	}
	if (free_pages > total)
		free_pages = total;
	avail = free_pages + pcp < total ? free_pages + pcp : total;
	for (size_t i = 0; i < BD_NR_STATS; i++) {
		uint64_t val = 0;

		switch (bd_stat_tags[i]) {
		case VIRTIO_BALLOON_S_SWAP_IN:
			val = ev[PSWPIN] << PAGE_SHIFT;
			break;
		case VIRTIO_BALLOON_S_SWAP_OUT:
			val = ev[PSWPOUT] << PAGE_SHIFT;
			break;
		case VIRTIO_BALLOON_S_MAJFLT:
			val = ev[PGMAJFAULT];
			break;
		case VIRTIO_BALLOON_S_MINFLT:
			val = ev[PGFAULT];
			break;
		case VIRTIO_BALLOON_S_CACHES:
			val = swap_cache << PAGE_SHIFT;
			break;
		case VIRTIO_BALLOON_S_MEMFREE:
			val = free_pages << PAGE_SHIFT;
			break;
		case VIRTIO_BALLOON_S_AVAIL:
			val = avail << PAGE_SHIFT;
			break;
		case VIRTIO_BALLOON_S_MEMTOT:
			val = total << PAGE_SHIFT;
			break;
		default:
			break;
		}
		/* Packed 10-byte entries: the value is unaligned. */
		bd_put_le16(buf + i * VIRTIO_BALLOON_STAT_SIZE, bd_stat_tags[i]);
		bd_put_le64(buf + i * VIRTIO_BALLOON_STAT_SIZE + 2, val);
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
	return err == -GMM_EAGAIN ? 0 : bd_fail(bd, err);
}

/* ---- free page hinting ---- */

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
	return err == -GMM_EAGAIN ? 0 : bd_fail(bd, err);
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
				      bd->env.hint_cap_pages, &nr))
		nr = 0;
	bd->hint_cmd = nr ? id : 0;
	err = virtqueue_add(&q->vq, &id_sg, 1, 0, bd);
	for (unsigned int i = 0; !err && i < nr; i++) {
		struct vring_sg sg = {
			bd->env.ram_gpa +
				((uint64_t)bd->hint_runs[i].pfn << PAGE_SHIFT),
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
	uint32_t id;
	int err;

	if (!bd->q[VIRTIO_BALLOON_VQ_FREE_PAGE].started)
		return 0;
	err = bd_config_read32(
		bd, offsetof(struct virtio_balloon_config, free_page_hint_cmd_id),
		&id);
	if (err)
		return err;
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
	uint64_t t0 = platform_thread_cpu_ns();
	int err = bd_hint_config_read(bd);

	atomic_fetch_add(&bd->hint_cpu_ns, platform_thread_cpu_ns() - t0);
	return err;
}

/* The device used free page buffers: a deferred command may go now. */
static int bd_hint_used(struct balloon_driver *bd)
{
	uint64_t t0 = platform_thread_cpu_ns();
	uint32_t id;
	int err = bd_hint_collect(bd);

	id = bd->hint_pending;
	if (!err && id && !bd->hint_queued) {
		bd->hint_pending = 0;
		err = bd_hint_answer(bd, id);
	}
	atomic_fetch_add(&bd->hint_cpu_ns, platform_thread_cpu_ns() - t0);
	return err;
}

/* ---- the driver thread ---- */

static uint32_t bd_queue_event(const struct bd_queue *q)
{
	return q->started ? VIRTIO_EVENT_QUEUE((unsigned int)q->index) : 0;
}

int balloon_driver_run(struct balloon_driver *bd)
{
	struct bd_queue *sq = &bd->q[VIRTIO_BALLOON_VQ_STATS];
	struct bd_queue *hq = &bd->q[VIRTIO_BALLOON_VQ_FREE_PAGE];
	uint32_t mask = VIRTIO_EVENT_CONFIG | bd_queue_event(sq) |
			bd_queue_event(hq);
	bool retry;

	/* Linux primes the stats queue once the device is live. */
	if (sq->started && bd_stats_send(bd))
		goto out;
	retry = bd_follow_target(bd) == -GMM_ENOMEM;
	/* A command announced before we came is answered now. */
	if (bd_hint_config(bd))
		goto out;
	while (!atomic_load(&bd->stopping) && !atomic_load(&bd->error)) {
		uint32_t ev = 0;
		int err = bd->t->ops->wait(bd->t, mask,
					   retry ? BD_INFLATE_RETRY_MS : -1,
					   &ev);

		if (err == -GMM_ETIMEDOUT) {
			retry = bd_follow_target(bd) == -GMM_ENOMEM;
			continue;
		}
		if (err == -GMM_ESHUTDOWN)
			break;
		if (err) {
			bd_fail(bd, err);
			break;
		}
		if ((ev & bd_queue_event(sq)) && bd_stats_used(bd))
			break;
		if ((ev & bd_queue_event(hq)) && bd_hint_used(bd))
			break;
		if (ev & VIRTIO_EVENT_CONFIG) {
			atomic_fetch_add(&bd->config_changes, 1);
			retry = bd_follow_target(bd) == -GMM_ENOMEM;
			if (bd_hint_config(bd))
				break;
		} else if (retry) {
			retry = bd_follow_target(bd) == -GMM_ENOMEM;
		}
	}
out:
	/*
	 * A failed device sends no DONE and discards no more: the chunks in
	 * flight are the guest's again, as a report's wait ends (allocations
	 * waiting on them would otherwise wait for ever).  A shutdown acks
	 * them in balloon_driver_remove(), once the device is reset.
	 */
	if (atomic_load(&bd->error))
		bd_hint_ack(bd);
	return atomic_load(&bd->error);
}

/* ---- probe, remove ---- */

static int bd_queue_setup(struct balloon_driver *bd, struct bd_queue *q)
{
	uint64_t bytes = virtqueue_ring_bytes(q->num);
	unsigned int order = 0;
	int err;

	while ((PAGE_SIZE << order) < bytes)
		order++;
	q->ring = alloc_pages(bd->pgdat, GFP_ZERO, order);
	if (!q->ring)
		return -GMM_ENOMEM;
	q->ring_order = order;
	err = virtqueue_ring_place(&q->cfg, q->num, bd_gpa(bd, q->ring),
				   PAGE_SIZE << order);
	if (err)
		goto undo_ring;
	q->cfg.features = bd->features;
	q->cfg.translate = bd_translate;
	q->cfg.ctx = bd;
	q->cfg.state = q->state;
	err = virtqueue_init(&q->vq, &q->cfg);
	if (err)
		goto undo_ring;
	err = bd->t->ops->queue_setup(bd->t, (unsigned int)q->index, &q->cfg);
	if (err)
		goto undo_ring;
	q->started = true;
	return 0;

undo_ring:
	free_pages(bd->pgdat, q->ring, order);
	q->ring = NULL;
	return err;
}

/*
 * Each queue's size: ours, or the largest power of two the device takes
 * for it, if smaller.  A reporting queue below Linux's minimum (a batch of
 * PAGE_REPORTING_CAPACITY, which devices modelled on Linux's driver ask
 * for), or a free page queue that cannot hold a command's id, one run and
 * STOP, is left unused: its index stays (the numbering is the features'),
 * reporting is off, the balloon works.  Linux fails the probe instead.
 * Return: 0; -ENODEV when a queue the features promise is missing.
 */
static int bd_queue_sizes(struct balloon_driver *bd)
{
	static const unsigned int min[VIRTIO_BALLOON_VQ_NR] = {
		[VIRTIO_BALLOON_VQ_INFLATE] = 1,
		[VIRTIO_BALLOON_VQ_DEFLATE] = 1,
		[VIRTIO_BALLOON_VQ_STATS] = 1,
		[VIRTIO_BALLOON_VQ_FREE_PAGE] = 4,
		[VIRTIO_BALLOON_VQ_REPORTING] = PAGE_REPORTING_CAPACITY,
	};

	bd->queue_num = BD_QUEUE_NUM;
	for (int i = 0; i < VIRTIO_BALLOON_VQ_NR; i++) {
		struct bd_queue *q = &bd->q[i];
		unsigned int max;

		q->index = virtio_balloon_queue_index(bd->features, i);
		if (q->index < 0)
			continue;
		if (q->index >= VIRTIO_EVENT_MAX_QUEUES)
			return -GMM_ENODEV;
		max = bd->t->ops->queue_max(bd->t, (unsigned int)q->index);
		if (max == 0)
			return -GMM_ENODEV;
		for (q->num = BD_QUEUE_NUM; q->num > max; q->num /= 2)
			;
		if (q->num < min[i])
			q->num = 0;
		else if (q->num < bd->queue_num)
			bd->queue_num = q->num;
	}
	return 0;
}

/* Give the driver's guest RAM back; the device is reset already. */
static void bd_free(struct balloon_driver *bd)
{
	struct pglist_data *pgdat = bd->pgdat;

	for (int i = 0; i < VIRTIO_BALLOON_VQ_NR; i++)
		if (bd->q[i].ring)
			free_pages(pgdat, bd->q[i].ring, bd->q[i].ring_order);
	/* The device is reset: balloon frames are ours. */
	for (; bd->nr_balloon; bd->nr_balloon--) {
		free_pages(pgdat, pfn_to_page(pgdat, bd_list_peek(bd, 0)), 0);
		bd_list_pop(bd);
	}
	if (bd->list_spare)
		free_pages(pgdat, bd->list_spare, 0);
	if (bd->pfn_page)
		free_pages(pgdat, bd->pfn_page, 0);
	if (bd->stats_page)
		free_pages(pgdat, bd->stats_page, 0);
	if (bd->hint_page)
		free_pages(pgdat, bd->hint_page, 0);
	free_pages(pgdat, bd->self, bd->self_order);
}

/* Negotiate as the spec's 3.1.1 orders it.  Return: 0 or -errno. */
static int bd_negotiate(struct balloon_driver *bd)
{
	const struct virtio_config_ops *ops = bd->t->ops;
	uint64_t want = BD_WANT;
	uint8_t status = VIRTIO_CONFIG_S_ACKNOWLEDGE;
	int err;

	ops->reset(bd->t);
	err = ops->set_status(bd->t, status);
	if (err)
		return err;
	if (bd->t->device_id != VIRTIO_ID_BALLOON)
		return -GMM_ENODEV;
	status |= VIRTIO_CONFIG_S_DRIVER;
	err = ops->set_status(bd->t, status);
	if (err)
		return err;
	if (bd->env.poison)
		want |= BD_F(VIRTIO_BALLOON_F_PAGE_POISON);
	bd->offered = ops->get_features(bd->t);
	bd->features = bd->offered & want;
	if (!(bd->features & VIRTIO_FEATURE(VIRTIO_F_VERSION_1)))
		return -GMM_ENODEV;
	/* We take every queue feature offered, so the device's numbering
	 * (by what it offered) is ours (by what was negotiated). */
	if ((bd->offered ^ bd->features) & VIRTIO_BALLOON_QUEUE_FEATURES)
		return -GMM_EPROTO;
	err = ops->finalize_features(bd->t, bd->features);
	if (err)
		return err;
	status |= VIRTIO_CONFIG_S_FEATURES_OK;
	err = ops->set_status(bd->t, status);
	if (err)
		return err;
	if (!(ops->get_status(bd->t) & VIRTIO_CONFIG_S_FEATURES_OK))
		return -GMM_ENODEV;
	if (bd->features & BD_F(VIRTIO_BALLOON_F_PAGE_POISON)) {
		uint32_t v = cpu_to_le32(bd->env.poison_val);

		err = ops->config_set(
			bd->t, offsetof(struct virtio_balloon_config, poison_val),
			&v, sizeof(v));
		if (err)
			return err;
	}
	return 0;
}

/*
 * Whether free memory goes back through this device: asked for, the queue
 * there, and (as Linux's validate()) a guest whose free pages keep a value
 * only with a device that keeps it too.
 */
static bool bd_can_report(const struct balloon_driver *bd)
{
	enum virtio_balloon_vq vq = bd->env.hints ? VIRTIO_BALLOON_VQ_FREE_PAGE
						  : VIRTIO_BALLOON_VQ_REPORTING;

	if (!bd->env.reporting || !bd->q[vq].started)
		return false;
	return !bd->env.poison ||
	       (bd->features & BD_F(VIRTIO_BALLOON_F_PAGE_POISON));
}

int balloon_driver_probe(const struct balloon_driver_env *env,
			 struct virtio_transport *t,
			 struct balloon_driver **out)
{
	unsigned int order = 0;
	struct page *self;
	struct balloon_driver *bd;
	int err;

	while ((PAGE_SIZE << order) < sizeof(*bd))
		order++;
	self = alloc_pages(env->pgdat, GFP_ZERO, order);
	if (!self)
		return -GMM_ENOMEM;
	bd = page_address(env->pgdat, self);
	bd->env = *env;
	bd->pgdat = env->pgdat;
	bd->t = t;
	bd->self = self;
	bd->self_order = order;
	bd->list_top = PFN_NONE;
	spin_lock_init(&bd->balloon_lock);
	bd->oom.notify = bd_oom_notify;
	for (int i = 0; i < VIRTIO_BALLOON_VQ_NR; i++)
		bd->q[i].index = -1;
	err = bd_negotiate(bd);
	if (err)
		goto undo;
	bd->pfn_page = alloc_pages(bd->pgdat, GFP_ZERO, 0);
	bd->stats_page = alloc_pages(bd->pgdat, GFP_ZERO, 0);
	bd->hint_page = alloc_pages(bd->pgdat, GFP_ZERO, 0);
	if (!bd->pfn_page || !bd->stats_page || !bd->hint_page) {
		err = -GMM_ENOMEM;
		goto undo;
	}
	err = bd_queue_sizes(bd);
	if (err)
		goto undo;
	for (int i = 0; i < VIRTIO_BALLOON_VQ_NR; i++) {
		if (bd->q[i].index < 0 || !bd->q[i].num)
			continue;
		err = bd_queue_setup(bd, &bd->q[i]);
		if (err)
			goto undo;
	}
	err = t->ops->set_status(t, VIRTIO_CONFIG_S_ACKNOWLEDGE |
					    VIRTIO_CONFIG_S_DRIVER |
					    VIRTIO_CONFIG_S_FEATURES_OK |
					    VIRTIO_CONFIG_S_DRIVER_OK);
	if (err)
		goto undo;
	/* Linux registers its OOM notifier only with the feature, too. */
	if (bd->features & BD_F(VIRTIO_BALLOON_F_DEFLATE_ON_OOM)) {
		err = register_oom_notifier(bd->pgdat, &bd->oom);
		if (err)
			goto undo;
		bd->oom_registered = true;
	}
	if (bd_can_report(bd)) {
		bd->prdev.report = bd_report;
		err = env->set_reporting(env->ctx, &bd->prdev);
		if (err)
			goto undo_oom;
		bd->registered = true;
		if (env->hints && env->free_bitmap)
			bd->fb = env->free_bitmap(env->ctx);
	}
	*out = bd;
	return 0;

undo_oom:
	if (bd->oom_registered)
		unregister_oom_notifier(bd->pgdat, &bd->oom);
undo:
	t->ops->reset(t);
	t->ops->set_status(t, VIRTIO_CONFIG_S_FAILED);
	bd_free(bd);
	return err;
}

void balloon_driver_shutdown(struct balloon_driver *bd)
{
	/* First: a report in flight completes while the device is up. */
	if (bd->registered && !bd->fb) {
		bd->env.set_reporting(bd->env.ctx, NULL);
		bd->registered = false;
	}
	atomic_store(&bd->stopping, true);
	bd->t->ops->stop(bd->t);
	/* After the stop: a deflate waiting for its ack ends now. */
	if (bd->oom_registered) {
		unregister_oom_notifier(bd->pgdat, &bd->oom);
		bd->oom_registered = false;
	}
}

void balloon_driver_remove(struct balloon_driver *bd)
{
	if (!bd)
		return;
	/*
	 * The device discards nothing after a reset: the frames named in a
	 * buffer it never used, and the bitmap's chunks in flight (which wait
	 * for a DONE no thread reads now) are the guest's again, so the
	 * bitmap can be unregistered without waiting for ever.
	 */
	if (bd->oom_registered) {
		unregister_oom_notifier(bd->pgdat, &bd->oom);
		bd->oom_registered = false;
	}
	bd->t->ops->reset(bd->t);
	bd_hint_ack(bd);
	if (bd->registered)
		bd->env.set_reporting(bd->env.ctx, NULL);
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
		.queue_num = bd->queue_num,
		.inflated_pages = atomic_load(&bd->inflated),
		.deflated_pages = atomic_load(&bd->deflated),
		.stats_sent = atomic_load(&bd->stats_sent),
		.reports = atomic_load(&bd->reports),
		.config_changes = atomic_load(&bd->config_changes),
		.oom_deflated_pages = atomic_load(&bd->oom_deflated),
		.reclaimed_pages = atomic_load(&bd->reclaimed),
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
