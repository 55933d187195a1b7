/*
 * zswap.c - compressed swap cache.
 *
 * Reclaim gives zswap a page it has put in the swap cache; zswap compresses
 * it into its pool (through the zpool interface: zbud by default, or the
 * dense pool, `--zpool dense`) and the
 * page is freed without any I/O.  A page filled with one repeated 64-bit
 * word takes no pool memory at all: the word is the entry.  Entries are
 * indexed by swap slot, one per slot, in a table as large as the device.
 *
 * The pool is limited to max_pool_percent of the node's RAM.  A store that
 * finds it at the limit sets reached_full; from then on stores are refused
 * until the pool is below accept_threshold_percent of the limit (Linux's
 * hysteresis).  A refused store costs its caller nothing but the refusal:
 * the page goes to the swap file (vmscan.c's pageout()), one write, while
 * the shrink worker (a platform work item, Linux's zswap_shrink_worker())
 * runs LRU writeback in batches until the pool is under the threshold.
 * Writeback never runs in a faulting or reclaiming thread: attack10
 * measured 129 ms on average for a fault whose reclaim did it, holding
 * the page lock of the page it was storing.  Unlike Linux 6.1, whose
 * worker frees one pool page a pool-full event, ours drains to the
 * threshold (as Linux does since 6.8), so the pool takes stores again
 * after one event, not a few hundred.
 *
 * Exclusion: every operation on a slot's entry - store, load, writeback -
 * runs with the slot's SWAP_HAS_CACHE held (swapfile.c), so no two of them
 * meet, and the entry can be read or written outside @tree_lock by the
 * holder; invalidation happens only when the slot is freed, which needs
 * HAS_CACHE clear.  @tree_lock only makes the table's words coherent for
 * the checks that do not hold the slot (writeback's "is this still my
 * handle", statistics).
 */
#include "mm/zbud.h"
#include "mm/zdense.h"
#include "mm/zswap.h"

enum zswap_entry_state { ZSWAP_NONE, ZSWAP_STORED, ZSWAP_SAME_FILLED };

struct zswap_entry {
	uint64_t handle; /* ZSWAP_STORED */
	uint64_t value;	 /* ZSWAP_SAME_FILLED: the word */
	uint32_t length; /* compressed bytes */
	uint32_t state;
	uint64_t pad;
};

/* At the start of each pool object: writeback finds the slot from it. */
struct zswap_header {
	uint64_t slot;
};

/*
 * @tree_lock protects @entries.  @reached_full is atomic.  Counters are
 * shared (atomic adds); gauges likewise.  @shrink_work lives from
 * zswap_create() to zswap_destroy(), which waits for a running drain
 * before it frees anything the drain uses.
 */
struct zswap {
	struct spinlock tree_lock;
	struct lruvec *lv;
	struct mm_array entries;
	const struct compressor *comp;
	const struct zpool_driver *zpool;
	void *pool;
	uint64_t max_pool_pages;
	uint64_t accept_pages;
	atomic_bool reached_full;
	struct platform_work *shrink_work;
	atomic_uint_fast64_t events[NR_ZSWAP_EVENTS];
	atomic_int_fast64_t stored_pages;
	atomic_int_fast64_t same_filled_pages;
	atomic_int_fast64_t compressed_bytes;
};

const char *const zswap_event_names[NR_ZSWAP_EVENTS] = {
	[ZSWAP_POOL_LIMIT_HIT] = "pool_limit_hit",
	[ZSWAP_REJECT_RECLAIM_FAIL] = "reject_reclaim_fail",
	[ZSWAP_REJECT_ALLOC_FAIL] = "reject_alloc_fail",
	[ZSWAP_REJECT_COMPRESS_POOR] = "reject_compress_poor",
	[ZSWAP_REJECT_COMPRESS_FAIL] = "reject_compress_fail",
	[ZSWAP_WRITTEN_BACK_PAGES] = "written_back_pages",
	[ZSWAP_DUPLICATE_ENTRY] = "duplicate_entry",
	[ZSWAP_UNUSED_PAGES] = "unused_pages",
	[ZSWAP_LOADS] = "loads",
};

/* Writeback frees pool pages this many LRU pages at a time. */
#define ZSWAP_SHRINK_RETRIES 8

static void zswap_count(struct zswap *zs, enum zswap_event e)
{
	atomic_fetch_add_explicit(&zs->events[e], 1, memory_order_relaxed);
}

static struct zswap_entry *zswap_entry_at(struct zswap *zs, uint32_t slot)
{
	return mm_array_at(&zs->entries, slot);
}

const struct zpool_driver *zpool_driver_find(const char *name)
{
	static const struct zpool_driver *const drivers[] = {
		&zbud_zpool_driver,
		&zdense_zpool_driver,
	};

	for (unsigned int i = 0; name && i < sizeof(drivers) / sizeof(drivers[0]); i++) {
		const char *a = drivers[i]->name, *b = name;

		while (*a && *a == *b)
			a++, b++;
		if (*a == *b)
			return drivers[i];
	}
	return NULL;
}

void zswap_config_init(struct zswap_config *cfg)
{
	*cfg = (struct zswap_config){
		.compressor = "lz4",
		.max_pool_percent = 20,
		.accept_threshold_percent = 90,
		.zpool = &zbud_zpool_driver,
		.gfp = 0,
		.movable = ZPOOL_MOVABLE_MIGRATE,
	};
}

static uint64_t zswap_pool_pages(struct zswap *zs)
{
	return zs->zpool->total_pages(zs->pool);
}

static bool zswap_is_full(struct zswap *zs)
{
	return zswap_pool_pages(zs) >= zs->max_pool_pages;
}

static bool zswap_can_accept(struct zswap *zs)
{
	return zswap_pool_pages(zs) < zs->accept_pages;
}

bool zswap_has_room(struct zswap *zs)
{
	/* Until a store found it full, let the store find out (and count). */
	return !atomic_load(&zs->reached_full) || zswap_can_accept(zs);
}

/* Drop @e's data; caller cleared it from the table. */
static void zswap_entry_free(struct zswap *zs, struct zswap_entry e)
{
	if (e.state == ZSWAP_NONE)
		return;
	if (e.state == ZSWAP_STORED) {
		zs->zpool->free(zs->pool, e.handle);
		atomic_fetch_sub(&zs->compressed_bytes, e.length);
	} else {
		atomic_fetch_sub(&zs->same_filled_pages, 1);
	}
	atomic_fetch_sub(&zs->stored_pages, 1);
}

static struct zswap_entry zswap_entry_take(struct zswap *zs, uint32_t slot)
{
	struct zswap_entry *p = zswap_entry_at(zs, slot), e;

	spin_lock(&zs->tree_lock);
	e = *p;
	*p = (struct zswap_entry){ 0 };
	spin_unlock(&zs->tree_lock);
	return e;
}

void zswap_invalidate(struct zswap *zs, uint32_t slot)
{
	zswap_entry_free(zs, zswap_entry_take(zs, slot));
}

bool zswap_has_entry(struct zswap *zs, uint32_t slot)
{
	bool has;

	spin_lock(&zs->tree_lock);
	has = zswap_entry_at(zs, slot)->state != ZSWAP_NONE;
	spin_unlock(&zs->tree_lock);
	return has;
}

static bool page_same_filled(const void *src, uint64_t *value)
{
	const uint64_t *w = src;

	for (size_t i = 1; i < PAGE_SIZE / sizeof(*w); i++)
		if (w[i] != w[0])
			return false;
	*value = w[0];
	return true;
}

/*
 * The shrink worker: LRU writeback until the pool is below the accept
 * threshold.  A batch that frees nothing (every object's slot busy, the
 * device failing or no longer written) ends the drain, counted; the next
 * refused store schedules it again.
 */
static void zswap_shrink_worker(void *arg)
{
	struct zswap *zs = arg;

	while (!zswap_can_accept(zs)) {
		if (zs->zpool->shrink(zs->pool, ZSWAP_SHRINK_RETRIES)) {
			zswap_count(zs, ZSWAP_REJECT_RECLAIM_FAIL);
			return;
		}
	}
}

int zswap_store(struct zswap *zs, uint32_t slot, const void *src)
{
	struct zswap_entry e = { 0 }, old;
	/* lz4 and zstd may need a little more than a page on random data */
	unsigned char buf[2 * PAGE_SIZE] __attribute__((aligned(8)));
	struct zswap_header *hdr;
	int len, err;

	old = zswap_entry_take(zs, slot);
	if (old.state != ZSWAP_NONE) {
		zswap_count(zs, ZSWAP_DUPLICATE_ENTRY);
		zswap_entry_free(zs, old);
	}
	if (page_same_filled(src, &e.value)) {
		e.state = ZSWAP_SAME_FILLED;
		atomic_fetch_add(&zs->same_filled_pages, 1);
		goto insert;
	}
	if (zswap_is_full(zs)) {
		zswap_count(zs, ZSWAP_POOL_LIMIT_HIT);
		atomic_store(&zs->reached_full, true);
	}
	if (atomic_load(&zs->reached_full)) {
		if (!zswap_can_accept(zs)) {
			/* Pending work keeps its deadline: a no-op while it is. */
			platform_work_schedule(zs->shrink_work, 0);
			return -GMM_ENOMEM;
		}
		atomic_store(&zs->reached_full, false);
	}
	/* The header and the compressed bytes, written into the pool at once. */
	hdr = (struct zswap_header *)buf;
	len = zs->comp->compress(zs->comp, src, PAGE_SIZE, buf + sizeof(*hdr),
				 sizeof(buf) - sizeof(*hdr));
	if (len <= 0) {
		zswap_count(zs, ZSWAP_REJECT_COMPRESS_FAIL);
		return -GMM_EINVAL;
	}
	err = zs->zpool->malloc(zs->pool, sizeof(*hdr) + (size_t)len, &e.handle);
	if (err == -GMM_ENOSPC) {
		zswap_count(zs, ZSWAP_REJECT_COMPRESS_POOR);
		return err;
	}
	if (err) {
		zswap_count(zs, ZSWAP_REJECT_ALLOC_FAIL);
		return -GMM_ENOMEM;
	}
	hdr->slot = slot;
	/*
	 * Writeback and unuse may read the header as soon as the handle
	 * exists (they found it on a pool page), before this store publishes
	 * the entry; they check the table afterwards, and the pool's write
	 * and map order the bytes (the pool's lock).
	 */
	err = zs->zpool->write(zs->pool, e.handle, buf, sizeof(*hdr) + (size_t)len);
	if (err) { /* our own fresh handle: cannot be */
		zs->zpool->free(zs->pool, e.handle);
		return err;
	}
	e.state = ZSWAP_STORED;
	e.length = (uint32_t)len;
	atomic_fetch_add(&zs->compressed_bytes, len);
insert:
	spin_lock(&zs->tree_lock);
	*zswap_entry_at(zs, slot) = e;
	spin_unlock(&zs->tree_lock);
	atomic_fetch_add(&zs->stored_pages, 1);
	return 0;
}

/* Decompress a stored entry into @dst.  Return: 0 or -GMM_EIO. */
static int zswap_decompress(struct zswap *zs, const struct zswap_entry *e,
			    uint32_t slot, void *dst)
{
	unsigned char local[PAGE_SIZE] __attribute__((aligned(8)));
	void *src;
	int err;

	if (e->state == ZSWAP_SAME_FILLED) {
		uint64_t *w = dst;

		for (size_t i = 0; i < PAGE_SIZE / sizeof(*w); i++)
			w[i] = e->value;
		return 0;
	}
	err = zs->zpool->map(zs->pool, e->handle, local, &src);
	if (err)
		goto bad;
	err = zs->comp->decompress(zs->comp, (struct zswap_header *)src + 1,
				   e->length, dst, PAGE_SIZE);
	zs->zpool->unmap(zs->pool, e->handle);
	if (!err)
		return 0;
bad:
	platform_bad_state("zswap: slot %u: handle %#llx does not decompress (%d)",
			   slot, (unsigned long long)e->handle, err);
	return -GMM_EIO;
}

int zswap_load(struct zswap *zs, uint32_t slot, void *dst)
{
	struct zswap_entry e;

	spin_lock(&zs->tree_lock);
	e = *zswap_entry_at(zs, slot);
	spin_unlock(&zs->tree_lock);
	if (e.state == ZSWAP_NONE)
		return -GMM_ENOENT;
	zswap_count(zs, ZSWAP_LOADS);
	return zswap_decompress(zs, &e, slot, dst);
}

/* The slot a live handle's object belongs to, or -1. */
static int64_t zswap_handle_slot(struct zswap *zs, uint64_t handle)
{
	unsigned char local[PAGE_SIZE] __attribute__((aligned(8)));
	void *src;
	uint64_t slot;

	if (zs->zpool->map(zs->pool, handle, local, &src))
		return -1; /* freed meanwhile */
	slot = __atomic_load_n(&((struct zswap_header *)src)->slot, __ATOMIC_RELAXED);
	zs->zpool->unmap(zs->pool, handle);
	return slot < zs->entries.nr ? (int64_t)slot : -1;
}

/*
 * The evict callback: write the object behind @handle to its swap slot and
 * free it.  The slot's HAS_CACHE makes this writeback its only user; a slot
 * somebody holds (being swapped in, stored again) is skipped, -EEXIST, and
 * so is a bad one, -EIO (its read failed).  A write that fails leaves the
 * entry in the pool and the slot as it was (swap_write_done() counts it,
 * and stops writeback to a device that keeps failing: -EIO without I/O).
 * Between reading the slot from the object and taking HAS_CACHE, the object
 * may be freed and its slot reused: the table must still hold this handle
 * (handles carry a generation, so a reused one does not match).
 */
static int zswap_writeback_entry(void *owner, uint64_t handle)
{
	struct zswap *zs = owner;
	struct lruvec *lv = zs->lv;
	unsigned char page[PAGE_SIZE];
	struct zswap_entry e;
	int64_t slot = zswap_handle_slot(zs, handle);
	int err;

	if (slot < 0)
		return 0;
	err = swapcache_prepare(&lv->si, (uint32_t)slot);
	if (err == -GMM_ENOENT)
		return 0;
	if (err)
		return err;
	spin_lock(&zs->tree_lock);
	e = *zswap_entry_at(zs, (uint32_t)slot);
	spin_unlock(&zs->tree_lock);
	if (e.state != ZSWAP_STORED || e.handle != handle) {
		err = 0; /* freed meanwhile */
		goto out;
	}
	if (!swap_writable(&lv->si)) {
		err = -GMM_EIO;
		goto out;
	}
	err = zswap_decompress(zs, &e, (uint32_t)slot, page);
	if (err)
		goto out;
	err = lv->si.io->ops->write(lv->si.io, (uint64_t)slot, page);
	swap_write_done(lv, err);
	if (err)
		goto out; /* the entry stays */
	zswap_entry_free(zs, zswap_entry_take(zs, (uint32_t)slot));
	zswap_count(zs, ZSWAP_WRITTEN_BACK_PAGES);
	count_vm_event(lv, PSWPOUT); /* a swap write, as Linux counts it */
out:
	swapcache_release(lv, (uint32_t)slot);
	return err;
}

/* The unuse callback: bring @handle's page back into memory. */
static int zswap_unuse_entry(void *owner, uint64_t handle)
{
	struct zswap *zs = owner;
	int64_t slot = zswap_handle_slot(zs, handle);
	int err;

	if (slot < 0)
		return 0;
	spin_lock(&zs->tree_lock);
	if (zswap_entry_at(zs, (uint32_t)slot)->handle != handle)
		slot = -1; /* not published yet, or freed and reused */
	spin_unlock(&zs->tree_lock);
	if (slot < 0)
		return -GMM_EAGAIN;
	err = try_to_unuse_swp_entry(zs->lv, (uint32_t)slot);
	if (!err)
		zswap_count(zs, ZSWAP_UNUSED_PAGES);
	return err;
}

static const struct zpool_ops zswap_zpool_ops = {
	.evict = zswap_writeback_entry,
	.unuse = zswap_unuse_entry,
};

int zswap_create(struct lruvec *lv, const struct zswap_config *cfg)
{
	struct pglist_data *pgdat = lv->pgdat;
	struct page *page;
	struct zswap *zs;
	uint64_t ram = 0;
	int err;

	_Static_assert(sizeof(struct zswap) <= PAGE_SIZE, "zswap fits a page");
	_Static_assert(sizeof(struct zswap_entry) == 32, "entries are 32 bytes");
	if (!lv->si.io || lv->zswap || cfg->max_pool_percent == 0 ||
	    cfg->max_pool_percent > 100 || cfg->accept_threshold_percent > 100 ||
	    !cfg->zpool)
		return -GMM_EINVAL;
	page = alloc_pages(pgdat, GFP_ZERO, 0);
	if (!page)
		return -GMM_ENOMEM;
	zs = page_address(pgdat, page);
	zs->comp = cfg->comp ? cfg->comp
			     : compressor_find(cfg->compressor ? cfg->compressor : "lz4");
	if (!zs->comp) {
		platform_log("zswap: no compressor \"%s\"", cfg->compressor);
		err = -GMM_EINVAL;
		goto undo_page;
	}
	for (unsigned int z = 0; z < pgdat->nr_zones; z++)
		ram += zone_managed_pages(&pgdat->node_zones[z]);
	zs->max_pool_pages = ram * cfg->max_pool_percent / 100;
	if (zs->max_pool_pages == 0)
		zs->max_pool_pages = 1;
	zs->accept_pages = zs->max_pool_pages * cfg->accept_threshold_percent / 100;
	spin_lock_init(&zs->tree_lock);
	zs->lv = lv;
	zs->zpool = cfg->zpool;
	zs->shrink_work = platform_work_create(zswap_shrink_worker, zs);
	if (!zs->shrink_work) {
		err = -GMM_ENOMEM;
		goto undo_page;
	}
	err = mm_array_init(&zs->entries, pgdat, lv->si.nr_slots,
			    sizeof(struct zswap_entry));
	if (err)
		goto undo_work;
	/* Handles for the limit and a batch of stores racing past it. */
	err = zs->zpool->create(pgdat, cfg->gfp, zs->max_pool_pages + 64,
				&zswap_zpool_ops, zs, &zs->pool);
	if (err)
		goto undo_entries;
	if (zs->zpool->set_movable) {
		err = zs->zpool->set_movable(zs->pool, cfg->movable);
		if (err)
			goto undo_pool;
	}
	lv->zswap = zs;
	return 0;
undo_pool:
	zs->zpool->destroy(zs->pool);
undo_entries:
	mm_array_fini(&zs->entries);
undo_work:
	platform_work_destroy(zs->shrink_work);
undo_page:
	free_pages(pgdat, page, 0);
	return err;
}

void zswap_destroy(struct lruvec *lv)
{
	struct zswap *zs = lv->zswap;

	if (!zs)
		return;
	/* A drain running now still uses the pool, the table and @lv. */
	platform_work_destroy(zs->shrink_work);
	lv->zswap = NULL;
	for (uint64_t s = 0; s < zs->entries.nr; s++)
		zswap_invalidate(zs, (uint32_t)s);
	zs->zpool->destroy(zs->pool);
	mm_array_fini(&zs->entries);
	free_pages(lv->pgdat, virt_to_page(lv->pgdat, zs), 0);
}

void zswap_get_stats(struct zswap *zs, struct zswap_stats *st)
{
	for (unsigned int i = 0; i < NR_ZSWAP_EVENTS; i++)
		st->events[i] = atomic_load_explicit(&zs->events[i],
						     memory_order_relaxed);
	st->pool_total_size = zswap_pool_pages(zs) << PAGE_SHIFT;
	st->pool_limit_bytes = zs->max_pool_pages << PAGE_SHIFT;
	st->stored_pages = (uint64_t)atomic_load(&zs->stored_pages);
	st->same_filled_pages = (uint64_t)atomic_load(&zs->same_filled_pages);
	st->compressed_bytes = (uint64_t)atomic_load(&zs->compressed_bytes);
}

uint64_t zswap_compact_pool(struct zswap *zs)
{
	return zs->zpool->compact ? zs->zpool->compact(zs->pool) : 0;
}

void *zswap_pool(struct zswap *zs)
{
	return zs->pool;
}

const struct zpool_driver *zswap_zpool_driver(struct zswap *zs)
{
	return zs->zpool;
}

void zswap_lock_stats(struct zswap *zs, struct lock_stats out[NR_MM_LOCK_CLASSES],
		      bool reset)
{
	if (reset)
		spin_lock_stats_reset(&zs->tree_lock);
	else
		spin_lock_stats_add(&zs->tree_lock, &out[MM_LOCK_ZSWAP_TREE]);
	if (zs->zpool->lock_stats)
		zs->zpool->lock_stats(zs->pool, &out[MM_LOCK_ZBUD], reset);
}
