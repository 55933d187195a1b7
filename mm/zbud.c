/*
 * zbud.c - a pool for compressed pages, two to a frame.
 *
 * zbud is not a buddy allocator: each pool page holds at most two objects,
 * the first buddy packed after the page's header and the last buddy packed
 * against the end of the page, sized in 64-byte chunks.  So a page is
 * unbuddied (one object, its free chunks in the middle) or buddied (two).
 * Unbuddied pages sit on unbuddied[free chunks], so an allocation of n
 * chunks takes the first page on any list >= n; buddied pages on @buddied;
 * every page on the pool's LRU, most recently allocated into at the head,
 * which the LRU reclaim evicts from the tail.  Density is at most 2 objects
 * a page, and the arithmetic is trivial: that is the trade.
 *
 * Handles are opaque: an index into the pool's handle table with a
 * generation, so a stale or forged handle is refused rather than followed,
 * and so that a pool page can later move to another frame (compaction) by
 * rewriting two table entries, with every handle still valid.
 *
 * Reference counts (seed 001 patch 1, in place of under_reclaim): a page's
 * page_ext.refcount is one per live buddy plus one per reclaim running on
 * it; the put that reaches 0 frees the page.  A page that reclaim took off
 * the lists has an empty @buddy link; zbud_free() then leaves its placement
 * to the reclaimer.  Pages carry PG_zbud and page_ext.mapping == pool, so
 * compaction can tell them from their struct page (PageZbud, seed 001
 * patch 3) and give them to reclaim_pages (patch 4).
 *
 * Movable pages (issue 10 section 7).  Under the UNUSE and MIGRATE policies
 * pool pages also carry PG_movable, and page_ext.mapping - the pool - begins
 * with a struct movable_owner, so compaction calls the pool's movable
 * operations (mm/migrate.h).  Isolation takes a page off the pool's lists
 * with a reference, as reclaim does (an empty @buddy link says someone has
 * it).  MIGRATE copies the page to the new frame under the pool lock and
 * rewrites its live handles' table entries: a handle is an index, so every
 * holder keeps a valid handle, and the next map returns the new address.
 * What it must not do is move a page while someone uses an address map
 * returned: zswap reads and writes objects outside the pool lock.  So each
 * handle counts its maps (@mapped, under the pool lock, cleared when the
 * handle is freed), and a page with a mapped handle is not migrated
 * (-GMM_EBUSY; compaction tries it again later).  UNUSE instead brings the
 * page's objects back into memory through the unuse callback, which frees
 * the page in place.
 */
#include "mm/list.h"
#include "mm/migrate.h"
#include "mm/zbud.h"

const char *const zpool_movable_names[NR_ZPOOL_MOVABLE] = {
	[ZPOOL_MOVABLE_NONE] = "none",
	[ZPOOL_MOVABLE_UNUSE] = "unuse",
	[ZPOOL_MOVABLE_MIGRATE] = "migrate",
};

#define CHUNK_SHIFT 6
#define CHUNK_SIZE (1u << CHUNK_SHIFT)
#define NCHUNKS (PAGE_SIZE >> CHUNK_SHIFT)
#define ZHDR_SIZE_ALIGNED CHUNK_SIZE

enum buddy { FIRST, LAST };

/*
 * At the start of every pool page.  @buddy, @lru, @first_chunks,
 * @last_chunks and the handles: the pool lock.
 */
struct zbud_header {
	struct list_head buddy;
	struct list_head lru;
	uint32_t first_chunks; /* 0: first buddy free */
	uint32_t last_chunks;
	uint64_t handle[2]; /* of the live buddies */
};
_Static_assert(sizeof(struct zbud_header) <= ZHDR_SIZE_ALIGNED,
	       "the zbud header fits in the first chunk");

#define ZH_FREE (1ull << 63)

/*
 * A handle table entry: @loc = pfn << 1 | buddy, or ZH_FREE | next free;
 * @mapped: zbud_map()s not yet unmapped (a page with one does not move).
 */
struct zbud_handle {
	uint64_t loc;
	uint32_t gen;
	uint32_t mapped;
};

/*
 * @lock protects everything here, the first/last chunk counts, links and
 * handles of every pool page, and the handle table.
 * Invariant: pages_nr == pages on @buddied, the unbuddied lists and
 * isolated by a running reclaim or migration.  @movable comes first: a pool
 * page's page_ext.mapping is the pool and its movable owner alike.
 * @policy, @gfp: set before the first page, read-only after.
 */
struct zbud_pool {
	struct movable_owner movable;
	enum zpool_movable policy;
	struct spinlock lock;
	struct pglist_data *pgdat;
	unsigned int gfp;
	struct list_head unbuddied[NCHUNKS];
	struct list_head buddied;
	struct list_head lru;
	uint64_t pages_nr;
	const struct zpool_ops *ops;
	void *owner;
	struct mm_array handles;
	uint64_t free_handle; /* head of the free entries, or ZH_FREE: none */
};
_Static_assert(sizeof(struct zbud_pool) <= PAGE_SIZE, "a pool fits a page");
_Static_assert(offsetof(struct zbud_pool, movable) == 0,
	       "page_ext.mapping is the pool and its movable owner");

static unsigned int size_to_chunks(size_t size)
{
	return (unsigned int)((size + CHUNK_SIZE - 1) >> CHUNK_SHIFT);
}

static unsigned int num_free_chunks(const struct zbud_header *zhdr)
{
	/* The header takes a chunk. */
	return NCHUNKS - zhdr->first_chunks - zhdr->last_chunks - 1;
}

static struct page *zhdr_page(struct zbud_pool *pool, struct zbud_header *zhdr)
{
	return virt_to_page(pool->pgdat, zhdr);
}

static struct zbud_handle *handle_slot(struct zbud_pool *pool, uint64_t idx)
{
	return mm_array_at(&pool->handles, idx);
}

/* Return: the header and buddy of a live @handle, or NULL. */
static struct zbud_header *handle_lookup_locked(struct zbud_pool *pool,
						uint64_t handle, enum buddy *bud)
{
	uint64_t idx = (handle & 0xffffffffu) - 1;
	struct zbud_handle *h;
	struct page *page;
	struct zbud_header *zhdr;

	MM_ASSERT_HELD(&pool->lock);
	if ((handle & 0xffffffffu) == 0 || idx >= pool->handles.nr)
		return NULL;
	h = handle_slot(pool, idx);
	if ((h->loc & ZH_FREE) || h->gen != handle >> 32)
		return NULL;
	page = pfn_to_page(pool->pgdat, (uint32_t)(h->loc >> 1));
	zhdr = page_address(pool->pgdat, page);
	*bud = (enum buddy)(h->loc & 1);
	return zhdr;
}

static int handle_alloc_locked(struct zbud_pool *pool, struct page *page,
			       enum buddy bud, uint64_t *handle)
{
	uint64_t idx = pool->free_handle;
	struct zbud_handle *h;

	if (idx & ZH_FREE)
		return -GMM_ENOMEM;
	h = handle_slot(pool, idx);
	pool->free_handle = h->loc & ~ZH_FREE;
	h->loc = (uint64_t)page_to_pfn(pool->pgdat, page) << 1 | bud;
	h->mapped = 0;
	*handle = (uint64_t)h->gen << 32 | (idx + 1);
	return 0;
}

static void handle_free_locked(struct zbud_pool *pool, uint64_t handle)
{
	uint64_t idx = (handle & 0xffffffffu) - 1;
	struct zbud_handle *h = handle_slot(pool, idx);

	h->gen++;
	if (h->gen == 0)
		h->gen = 1;
	h->loc = ZH_FREE | pool->free_handle;
	h->mapped = 0; /* a map racing the free is not counted any more */
	pool->free_handle = idx;
}

static void zbud_place_locked(struct zbud_pool *pool, struct zbud_header *zhdr)
{
	if (zhdr->first_chunks && zhdr->last_chunks)
		list_add(&zhdr->buddy, &pool->buddied);
	else
		list_add(&zhdr->buddy, &pool->unbuddied[num_free_chunks(zhdr)]);
}

/*
 * Drop a reference; the last one frees the page.  Caller holds the pool
 * lock, and the page is on no list when the count can reach 0 (it has no
 * live buddy then, and zbud_free() or the reclaimer took it off).
 * Return: true when the page was freed.
 */
static bool put_zbud_page_locked(struct zbud_pool *pool,
				 struct zbud_header *zhdr)
{
	struct page *page = zhdr_page(pool, zhdr);
	struct page_ext *ext = page_ext_of(pool->pgdat, page);

	if (atomic_fetch_sub_explicit(&ext->refcount, 1,
				      memory_order_acq_rel) != 1)
		return false;
	list_del_init(&zhdr->buddy);
	list_del_init(&zhdr->lru);
	page_flag_clear(page, PG_zbud | PG_movable);
	__atomic_store_n(&ext->mapping, NULL, __ATOMIC_RELAXED);
	__atomic_fetch_sub(&pool->pages_nr, 1, __ATOMIC_RELAXED); /* read racily */
	free_pages(pool->pgdat, page, 0);
	return true;
}

int zbud_create_pool(struct pglist_data *pgdat, unsigned int gfp,
		     uint64_t max_pages, const struct zpool_ops *ops,
		     void *owner, struct zbud_pool **out)
{
	struct page *page;
	struct zbud_pool *pool;
	int err;

	if (!pgdat->page_ext || max_pages == 0 || max_pages > (1ull << 30))
		return -GMM_EINVAL;
	page = alloc_pages(pgdat, GFP_ZERO, 0);
	if (!page)
		return -GMM_ENOMEM;
	pool = page_address(pgdat, page);
	err = mm_array_init(&pool->handles, pgdat, 2 * max_pages,
			    sizeof(struct zbud_handle));
	if (err)
		goto undo_page;
	spin_lock_init(&pool->lock);
	pool->pgdat = pgdat;
	pool->gfp = gfp;
	for (unsigned int i = 0; i < NCHUNKS; i++)
		INIT_LIST_HEAD(&pool->unbuddied[i]);
	INIT_LIST_HEAD(&pool->buddied);
	INIT_LIST_HEAD(&pool->lru);
	pool->ops = ops;
	pool->owner = owner;
	for (uint64_t i = 0; i < pool->handles.nr; i++) {
		struct zbud_handle *h = handle_slot(pool, i);

		h->gen = 1;
		h->loc = ZH_FREE | (i + 1 < pool->handles.nr ? i + 1 : ZH_FREE);
	}
	pool->free_handle = 0;
	*out = pool;
	return 0;
undo_page:
	free_pages(pgdat, page, 0);
	return err;
}

void zbud_destroy_pool(struct zbud_pool *pool)
{
	struct pglist_data *pgdat = pool->pgdat;

	if (pool->pages_nr)
		platform_bad_state("zbud_destroy_pool: %llu pages still in use",
				   (unsigned long long)pool->pages_nr);
	__atomic_store_n(&pool->movable.magic, 0, __ATOMIC_RELAXED);
	mm_array_fini(&pool->handles);
	free_pages(pgdat, virt_to_page(pgdat, pool), 0);
}

int zbud_alloc(struct zbud_pool *pool, size_t size, uint64_t *handle)
{
	struct pglist_data *pgdat = pool->pgdat;
	struct zbud_header *zhdr = NULL;
	unsigned int chunks;
	struct page *page;
	enum buddy bud;
	int err;

	if (size == 0)
		return -GMM_EINVAL;
	if (size > PAGE_SIZE - ZHDR_SIZE_ALIGNED - CHUNK_SIZE)
		return -GMM_ENOSPC;
	chunks = size_to_chunks(size);
	spin_lock(&pool->lock);
	for (unsigned int i = chunks; i < NCHUNKS; i++) {
		if (!list_empty(&pool->unbuddied[i])) {
			zhdr = container_of(pool->unbuddied[i].next,
					    struct zbud_header, buddy);
			list_del_init(&zhdr->buddy);
			bud = zhdr->first_chunks == 0 ? FIRST : LAST;
			page = zhdr_page(pool, zhdr);
			goto found;
		}
	}
	spin_unlock(&pool->lock);

	/* No fit: a new page, allocated without the pool lock. */
	page = alloc_pages(pgdat, pool->gfp, 0);
	if (!page)
		return -GMM_ENOMEM;
	zhdr = page_address(pgdat, page);
	*zhdr = (struct zbud_header){ 0 };
	INIT_LIST_HEAD(&zhdr->buddy);
	INIT_LIST_HEAD(&zhdr->lru);
	atomic_store_explicit(&page_ext_of(pgdat, page)->refcount, 0,
			      memory_order_relaxed);
	bud = FIRST;
	spin_lock(&pool->lock);
	/*
	 * Published under the lock, header complete: reclaim_pages() checks
	 * these under it.  Atomic: compaction's scanner peeks (owns_page).
	 */
	__atomic_store_n(&page_ext_of(pgdat, page)->mapping, (void *)pool,
			 __ATOMIC_RELAXED);
	page_flag_set(page, PG_zbud);
	if (pool->policy != ZPOOL_MOVABLE_NONE)
		page_set_movable(pgdat, page, &pool->movable);
	__atomic_fetch_add(&pool->pages_nr, 1, __ATOMIC_RELAXED);
found:
	err = handle_alloc_locked(pool, page, bud, handle);
	if (err) {
		/* A page on no list with no buddy: put it back or free it. */
		atomic_fetch_add(&page_ext_of(pgdat, page)->refcount, 1);
		if (!put_zbud_page_locked(pool, zhdr))
			zbud_place_locked(pool, zhdr);
		spin_unlock(&pool->lock);
		return err;
	}
	if (bud == FIRST)
		zhdr->first_chunks = chunks;
	else
		zhdr->last_chunks = chunks;
	zhdr->handle[bud] = *handle;
	atomic_fetch_add_explicit(&page_ext_of(pgdat, page)->refcount, 1,
				  memory_order_relaxed);
	zbud_place_locked(pool, zhdr);
	list_del_init(&zhdr->lru);
	list_add(&zhdr->lru, &pool->lru);
	spin_unlock(&pool->lock);
	return 0;
}

int zbud_free(struct zbud_pool *pool, uint64_t handle)
{
	struct zbud_header *zhdr;
	enum buddy bud;
	bool on_lists;

	spin_lock(&pool->lock);
	zhdr = handle_lookup_locked(pool, handle, &bud);
	if (!zhdr) {
		spin_unlock(&pool->lock);
		platform_bad_state("zbud_free: handle %#llx is not live",
				   (unsigned long long)handle);
		return -GMM_EINVAL;
	}
	if (bud == FIRST)
		zhdr->first_chunks = 0;
	else
		zhdr->last_chunks = 0;
	zhdr->handle[bud] = 0;
	handle_free_locked(pool, handle);
	on_lists = !list_empty(&zhdr->buddy);
	if (on_lists)
		list_del_init(&zhdr->buddy);
	if (!put_zbud_page_locked(pool, zhdr) && on_lists)
		zbud_place_locked(pool, zhdr);
	spin_unlock(&pool->lock);
	return 0;
}

int zbud_map(struct zbud_pool *pool, uint64_t handle, void **addr)
{
	struct zbud_header *zhdr;
	enum buddy bud;

	spin_lock(&pool->lock);
	zhdr = handle_lookup_locked(pool, handle, &bud);
	if (!zhdr) {
		/* Not logged: writeback and unuse race frees by design. */
		spin_unlock(&pool->lock);
		return -GMM_EINVAL;
	}
	if (bud == FIRST)
		*addr = (char *)zhdr + ZHDR_SIZE_ALIGNED;
	else
		*addr = (char *)zhdr + PAGE_SIZE - (zhdr->last_chunks << CHUNK_SHIFT);
	handle_slot(pool, (handle & 0xffffffffu) - 1)->mapped++;
	spin_unlock(&pool->lock);
	return 0;
}

void zbud_unmap(struct zbud_pool *pool, uint64_t handle)
{
	enum buddy bud;

	spin_lock(&pool->lock);
	/* A handle freed while mapped had its count cleared. */
	if (handle_lookup_locked(pool, handle, &bud)) {
		struct zbud_handle *h = handle_slot(pool, (handle & 0xffffffffu) - 1);

		if (h->mapped)
			h->mapped--;
	}
	spin_unlock(&pool->lock);
}

int zbud_write(struct zbud_pool *pool, uint64_t handle, const void *src, size_t len)
{
	struct zbud_header *zhdr;
	enum buddy bud;
	size_t cap;
	void *dst;

	spin_lock(&pool->lock);
	zhdr = handle_lookup_locked(pool, handle, &bud);
	if (!zhdr) {
		spin_unlock(&pool->lock);
		return -GMM_EINVAL;
	}
	cap = (size_t)(bud == FIRST ? zhdr->first_chunks : zhdr->last_chunks) << CHUNK_SHIFT;
	if (len > cap) {
		spin_unlock(&pool->lock);
		return -GMM_EINVAL;
	}
	dst = bud == FIRST ? (char *)zhdr + ZHDR_SIZE_ALIGNED
			   : (char *)zhdr + PAGE_SIZE - cap;
	/* Mapped while the copy runs outside the lock: the page stays put. */
	handle_slot(pool, (handle & 0xffffffffu) - 1)->mapped++;
	spin_unlock(&pool->lock);
	if (len >= 8) {
		uint64_t w;

		/* The first word atomically: see zpool_driver.write. */
		__builtin_memcpy(&w, src, 8);
		__atomic_store_n((uint64_t *)dst, w, __ATOMIC_RELAXED);
		__builtin_memcpy((char *)dst + 8, (const char *)src + 8, len - 8);
	} else {
		__builtin_memcpy(dst, src, len);
	}
	zbud_unmap(pool, handle);
	return 0;
}

uint64_t zbud_get_pool_size(struct zbud_pool *pool)
{
	return __atomic_load_n(&pool->pages_nr, __ATOMIC_RELAXED);
}

/*
 * Take @zhdr off the lists, with a reference, and note its live handles.
 * Caller holds the pool lock.
 */
static void zbud_isolate_locked(struct zbud_pool *pool,
				struct zbud_header *zhdr, uint64_t handles[2])
{
	list_del_init(&zhdr->lru);
	list_del_init(&zhdr->buddy);
	atomic_fetch_add_explicit(&page_ext_of(pool->pgdat,
					       zhdr_page(pool, zhdr))->refcount,
				  1, memory_order_relaxed);
	handles[0] = zhdr->first_chunks ? zhdr->handle[FIRST] : 0;
	handles[1] = zhdr->last_chunks ? zhdr->handle[LAST] : 0;
}

/*
 * Drop the reclaimer's reference; a page that kept a buddy goes back on
 * the lists, at the LRU head.  Return: true when the page was freed.
 */
static bool zbud_putback_locked(struct zbud_pool *pool,
				struct zbud_header *zhdr)
{
	if (put_zbud_page_locked(pool, zhdr))
		return true;
	zbud_place_locked(pool, zhdr);
	list_add(&zhdr->lru, &pool->lru);
	return false;
}

/*
 * zbud_reclaim_page - evict the objects of the LRU tail page through the
 * evict callback, so that the page is freed; up to @retries pages.  The
 * pool lock is dropped around the callbacks; the reference taken before
 * keeps the page from being freed (and reused) under them, and an empty
 * @buddy link keeps zbud_free() from putting it back on a list.
 * Return: 0 when a page was freed; -GMM_EINVAL with no evict callback, no
 * pages or no retries; -GMM_EAGAIN when @retries pages kept an object.
 */
int zbud_reclaim_page(struct zbud_pool *pool, unsigned int retries)
{
	struct zbud_header *zhdr;
	uint64_t handles[2];

	spin_lock(&pool->lock);
	if (!pool->ops || !pool->ops->evict || retries == 0) {
		spin_unlock(&pool->lock);
		return -GMM_EINVAL;
	}
	for (unsigned int i = 0; i < retries; i++) {
		if (list_empty(&pool->lru)) {
			spin_unlock(&pool->lock);
			return -GMM_EINVAL;
		}
		zhdr = container_of(pool->lru.prev, struct zbud_header, lru);
		zbud_isolate_locked(pool, zhdr, handles);
		spin_unlock(&pool->lock);
		for (int b = 0; b < 2; b++)
			if (handles[b])
				pool->ops->evict(pool->owner, handles[b]);
		spin_lock(&pool->lock);
		if (zbud_putback_locked(pool, zhdr)) {
			spin_unlock(&pool->lock);
			return 0;
		}
	}
	spin_unlock(&pool->lock);
	return -GMM_EAGAIN;
}

/*
 * zbud_reclaim_pages - seed 001 patch 4's second entry point: empty the
 * given pool pages (found by a compaction scanner, say) by unusing their
 * objects - bringing the data back into memory - rather than writing it out.
 * Pages that are not this pool's, or that another reclaim holds, are
 * skipped.  Return: 0 when all were freed; -GMM_EAGAIN when some were not;
 * -GMM_EINVAL without an unuse callback.  *@freed counts the freed ones.
 */
int zbud_reclaim_pages(struct zbud_pool *pool, struct page **pages,
		       unsigned int n, unsigned int *freed)
{
	struct pglist_data *pgdat = pool->pgdat;
	uint64_t handles[2];

	*freed = 0;
	if (!pool->ops || !pool->ops->unuse)
		return -GMM_EINVAL;
	for (unsigned int i = 0; i < n; i++) {
		struct zbud_header *zhdr;

		spin_lock(&pool->lock);
		/* Rechecked under the lock: the page may have been freed. */
		if (!PageZbud(pages[i]) ||
		    __atomic_load_n(&page_ext_of(pgdat, pages[i])->mapping,
				    __ATOMIC_RELAXED) != pool) {
			spin_unlock(&pool->lock);
			continue;
		}
		zhdr = page_address(pgdat, pages[i]);
		if (list_empty(&zhdr->buddy)) { /* another reclaim has it */
			spin_unlock(&pool->lock);
			continue;
		}
		zbud_isolate_locked(pool, zhdr, handles);
		spin_unlock(&pool->lock);
		for (int b = 0; b < 2; b++)
			if (handles[b])
				pool->ops->unuse(pool->owner, handles[b]);
		spin_lock(&pool->lock);
		if (zbud_putback_locked(pool, zhdr))
			(*freed)++;
		spin_unlock(&pool->lock);
	}
	return *freed == n ? 0 : -GMM_EAGAIN;
}

/* ---- movable operations (mm/migrate.h) ---- */

static struct zbud_pool *owner_pool(struct movable_owner *owner)
{
	return container_of(owner, struct zbud_pool, movable);
}

/* Is @page, peeked at by a scanner, this pool's and on its lists? */
static struct zbud_header *zbud_listed_page_locked(struct zbud_pool *pool,
						   struct page *page)
{
	struct zbud_header *zhdr;

	MM_ASSERT_HELD(&pool->lock);
	if (!PageZbud(page) ||
	    __atomic_load_n(&page_ext_of(pool->pgdat, page)->mapping,
			    __ATOMIC_RELAXED) != pool)
		return NULL;
	zhdr = page_address(pool->pgdat, page);
	return list_empty(&zhdr->buddy) ? NULL : zhdr; /* else someone has it */
}

static bool zbud_isolate_movable(struct movable_owner *owner, struct page *page)
{
	struct zbud_pool *pool = owner_pool(owner);
	struct zbud_header *zhdr;
	uint64_t handles[2];

	spin_lock(&pool->lock);
	zhdr = zbud_listed_page_locked(pool, page);
	if (zhdr)
		zbud_isolate_locked(pool, zhdr, handles);
	spin_unlock(&pool->lock);
	return zhdr != NULL;
}

static void zbud_putback_movable(struct movable_owner *owner, struct page *page)
{
	struct zbud_pool *pool = owner_pool(owner);

	spin_lock(&pool->lock);
	zbud_putback_locked(pool, page_address(pool->pgdat, page));
	spin_unlock(&pool->lock);
}

static unsigned int zbud_live_buddies(const struct zbud_header *zhdr)
{
	return (zhdr->first_chunks != 0) + (zhdr->last_chunks != 0);
}

/*
 * MIGRATE: copy the isolated page @src to @dst and point its live handles
 * at @dst.  All under the pool lock, which every map, free and allocation
 * takes, so nobody sees the page half moved; a mapped handle keeps it put.
 */
static int zbud_migrate_movable(struct movable_owner *owner, struct page *dst,
				struct page *src)
{
	struct zbud_pool *pool = owner_pool(owner);
	struct pglist_data *pgdat = pool->pgdat;
	struct zbud_header *zhdr = page_address(pgdat, src), *nhdr;
	struct page_ext *sext = page_ext_of(pgdat, src);
	struct page_ext *dext = page_ext_of(pgdat, dst);
	uint32_t dpfn = page_to_pfn(pgdat, dst);
	unsigned int live;

	spin_lock(&pool->lock);
	live = zbud_live_buddies(zhdr);
	if (!live) {
		/* Emptied while isolated: putback frees it. */
		spin_unlock(&pool->lock);
		return -GMM_EAGAIN;
	}
	for (int b = 0; b < 2; b++) {
		if (!(b ? zhdr->last_chunks : zhdr->first_chunks))
			continue;
		if (handle_slot(pool, (zhdr->handle[b] & 0xffffffffu) - 1)->mapped) {
			spin_unlock(&pool->lock);
			return -GMM_EBUSY;
		}
	}
	if (atomic_load(&sext->refcount) != (int)live + 1)
		platform_bad_state("zbud: migrating pfn %#x: refcount %d, %u live buddies",
				   page_to_pfn(pgdat, src), atomic_load(&sext->refcount), live);
	nhdr = page_address(pgdat, dst);
	for (size_t i = 0; i < PAGE_SIZE / sizeof(uint64_t); i++)
		((uint64_t *)nhdr)[i] = ((const uint64_t *)zhdr)[i];
	/* Isolated: on no list, so the copied links are only reset. */
	INIT_LIST_HEAD(&nhdr->buddy);
	INIT_LIST_HEAD(&nhdr->lru);
	for (int b = 0; b < 2; b++)
		if (b ? zhdr->last_chunks : zhdr->first_chunks)
			handle_slot(pool, (zhdr->handle[b] & 0xffffffffu) - 1)->loc =
				(uint64_t)dpfn << 1 | (uint64_t)b;
	atomic_store_explicit(&dext->refcount, atomic_load(&sext->refcount),
			      memory_order_relaxed);
	__atomic_store_n(&dext->mapping, (void *)pool, __ATOMIC_RELAXED);
	page_flag_set(dst, PG_zbud | PG_movable);
	page_flag_clear(src, PG_zbud | PG_movable);
	__atomic_store_n(&sext->mapping, NULL, __ATOMIC_RELAXED);
	atomic_store_explicit(&sext->refcount, 0, memory_order_relaxed);
	spin_unlock(&pool->lock);
	return 0;
}

/*
 * UNUSE: bring the isolated page's objects back into memory (seed 001);
 * their frees empty the page, and putback, dropping the isolation's
 * reference, frees it.
 */
static int zbud_unuse_movable(struct movable_owner *owner, struct page *src)
{
	struct zbud_pool *pool = owner_pool(owner);
	struct zbud_header *zhdr = page_address(pool->pgdat, src);
	uint64_t handles[2];
	unsigned int live;

	if (!pool->ops || !pool->ops->unuse)
		return -GMM_EINVAL;
	spin_lock(&pool->lock);
	handles[0] = zhdr->first_chunks ? zhdr->handle[FIRST] : 0;
	handles[1] = zhdr->last_chunks ? zhdr->handle[LAST] : 0;
	spin_unlock(&pool->lock);
	for (int b = 0; b < 2; b++)
		if (handles[b])
			pool->ops->unuse(pool->owner, handles[b]);
	spin_lock(&pool->lock);
	live = zbud_live_buddies(zhdr);
	spin_unlock(&pool->lock);
	return live ? -GMM_EAGAIN : 0;
}

static const struct movable_operations zbud_migrate_ops = {
	.isolate_page = zbud_isolate_movable,
	.migrate_page = zbud_migrate_movable,
	.putback_page = zbud_putback_movable,
};

static const struct movable_operations zbud_unuse_ops = {
	.isolate_page = zbud_isolate_movable,
	.release_page = zbud_unuse_movable,
	.putback_page = zbud_putback_movable,
};

int zbud_set_movable(struct zbud_pool *pool, enum zpool_movable policy)
{
	static const unsigned int gfp[NR_ZPOOL_MOVABLE] = {
		[ZPOOL_MOVABLE_NONE] = 0,
		[ZPOOL_MOVABLE_UNUSE] = GFP_RECLAIMABLE,
		[ZPOOL_MOVABLE_MIGRATE] = GFP_MOVABLE,
	};
	int err = 0;

	if ((unsigned int)policy >= NR_ZPOOL_MOVABLE)
		return -GMM_EINVAL;
	spin_lock(&pool->lock);
	if (pool->pages_nr) {
		err = -GMM_EBUSY;
	} else {
		pool->policy = policy;
		pool->gfp = gfp[policy];
		pool->movable.ops = policy == ZPOOL_MOVABLE_MIGRATE ? &zbud_migrate_ops
			      : policy == ZPOOL_MOVABLE_UNUSE	  ? &zbud_unuse_ops
								  : NULL;
		__atomic_store_n(&pool->movable.magic, MOVABLE_OWNER_MAGIC,
				 __ATOMIC_RELEASE);
	}
	spin_unlock(&pool->lock);
	return err;
}

#define ZCHECK(cond, ...)                                                      \
	do {                                                                   \
		if (!(cond)) {                                                 \
			platform_bad_state(__VA_ARGS__);                       \
			spin_unlock(&pool->lock);                              \
			return -GMM_EUCLEAN;                                   \
		}                                                              \
	} while (0)

static int zbud_check_page_locked(struct zbud_pool *pool,
				  struct zbud_header *zhdr)
{
	struct page *page = zhdr_page(pool, zhdr);
	struct page_ext *ext = page_ext_of(pool->pgdat, page);
	uint32_t pfn = page_to_pfn(pool->pgdat, page);
	int live = (zhdr->first_chunks != 0) + (zhdr->last_chunks != 0);

	ZCHECK(PageZbud(page) && ext->mapping == pool,
	       "zbud_check: pfn %#x on the lists is not this pool's page", pfn);
	ZCHECK(live > 0, "zbud_check: pfn %#x is empty but listed", pfn);
	ZCHECK(atomic_load(&ext->refcount) == live,
	       "zbud_check: pfn %#x refcount %d, %d live buddies", pfn,
	       atomic_load(&ext->refcount), live);
	ZCHECK(zhdr->first_chunks + zhdr->last_chunks + 1 <= NCHUNKS,
	       "zbud_check: pfn %#x chunks %u + %u overflow", pfn,
	       zhdr->first_chunks, zhdr->last_chunks);
	for (int b = 0; b < 2; b++) {
		enum buddy got;

		if (!(b ? zhdr->last_chunks : zhdr->first_chunks))
			continue;
		ZCHECK(handle_lookup_locked(pool, zhdr->handle[b], &got) == zhdr &&
			       got == (enum buddy)b,
		       "zbud_check: pfn %#x buddy %d: handle %#llx does not map back",
		       pfn, b, (unsigned long long)zhdr->handle[b]);
	}
	return 0;
}

int zbud_check(struct zbud_pool *pool)
{
	uint64_t listed = 0, on_lru = 0, live_handles = 0, live_buddies = 0;
	struct list_head *l;
	int err;

	spin_lock(&pool->lock);
	for (unsigned int i = 0; i < NCHUNKS; i++) {
		for (l = pool->unbuddied[i].next; l != &pool->unbuddied[i]; l = l->next) {
			struct zbud_header *zhdr = container_of(l, struct zbud_header, buddy);

			ZCHECK(num_free_chunks(zhdr) == i && !(zhdr->first_chunks && zhdr->last_chunks),
			       "zbud_check: page on unbuddied[%u] has %u free chunks",
			       i, num_free_chunks(zhdr));
			if ((err = zbud_check_page_locked(pool, zhdr)))
				return err;
			live_buddies += (zhdr->first_chunks != 0) + (zhdr->last_chunks != 0);
			listed++;
		}
	}
	for (l = pool->buddied.next; l != &pool->buddied; l = l->next) {
		struct zbud_header *zhdr = container_of(l, struct zbud_header, buddy);

		ZCHECK(zhdr->first_chunks && zhdr->last_chunks,
		       "zbud_check: a page on the buddied list has a free buddy");
		if ((err = zbud_check_page_locked(pool, zhdr)))
			return err;
		live_buddies += 2;
		listed++;
	}
	for (l = pool->lru.next; l != &pool->lru; l = l->next)
		on_lru++;
	for (uint64_t i = 0; i < pool->handles.nr; i++)
		live_handles += !(handle_slot(pool, i)->loc & ZH_FREE);
	/* With no reclaim running, every page is listed. */
	ZCHECK(listed <= pool->pages_nr && on_lru == listed,
	       "zbud_check: %llu pages listed, %llu on the LRU, pages_nr %llu",
	       (unsigned long long)listed, (unsigned long long)on_lru,
	       (unsigned long long)pool->pages_nr);
	ZCHECK(listed < pool->pages_nr || live_handles == live_buddies,
	       "zbud_check: %llu live handles, %llu live buddies",
	       (unsigned long long)live_handles, (unsigned long long)live_buddies);
	spin_unlock(&pool->lock);
	return 0;
}

/* ---- the zpool driver ---- */

static int zbud_zpool_create(struct pglist_data *pgdat, unsigned int gfp,
			     uint64_t max_pages, const struct zpool_ops *ops,
			     void *owner, void **pool)
{
	return zbud_create_pool(pgdat, gfp, max_pages, ops, owner,
				(struct zbud_pool **)pool);
}

static void zbud_zpool_destroy(void *pool) { zbud_destroy_pool(pool); }
static int zbud_zpool_malloc(void *pool, size_t size, uint64_t *handle)
{
	return zbud_alloc(pool, size, handle);
}
static int zbud_zpool_free(void *pool, uint64_t handle) { return zbud_free(pool, handle); }
static int zbud_zpool_map(void *pool, uint64_t handle, void *local, void **addr)
{
	(void)local; /* an object never straddles: it is in one page */
	return zbud_map(pool, handle, addr);
}
static int zbud_zpool_write(void *pool, uint64_t handle, const void *src, size_t len)
{
	return zbud_write(pool, handle, src, len);
}
static void zbud_zpool_unmap(void *pool, uint64_t handle) { zbud_unmap(pool, handle); }
static int zbud_zpool_shrink(void *pool, unsigned int retries)
{
	return zbud_reclaim_page(pool, retries);
}
static uint64_t zbud_zpool_total_pages(void *pool) { return zbud_get_pool_size(pool); }
static void zbud_zpool_lock_stats(void *pool, struct lock_stats *sum, bool reset)
{
	struct zbud_pool *zp = pool;

	if (reset)
		spin_lock_stats_reset(&zp->lock);
	else
		spin_lock_stats_add(&zp->lock, sum);
}
static bool zbud_zpool_owns_page(void *pool, struct page *page)
{
	struct zbud_pool *zp = pool;

	return PageZbud(page) &&
	       __atomic_load_n(&page_ext_of(zp->pgdat, page)->mapping,
			       __ATOMIC_RELAXED) == pool;
}
static int zbud_zpool_reclaim_pages(void *pool, struct page **pages,
				    unsigned int n, unsigned int *freed)
{
	return zbud_reclaim_pages(pool, pages, n, freed);
}

static int zbud_zpool_set_movable(void *pool, enum zpool_movable policy)
{
	return zbud_set_movable(pool, policy);
}

const struct zpool_driver zbud_zpool_driver = {
	.name = "zbud",
	.create = zbud_zpool_create,
	.destroy = zbud_zpool_destroy,
	.malloc = zbud_zpool_malloc,
	.free = zbud_zpool_free,
	.map = zbud_zpool_map,
	.unmap = zbud_zpool_unmap,
	.write = zbud_zpool_write,
	.shrink = zbud_zpool_shrink,
	.total_pages = zbud_zpool_total_pages,
	.lock_stats = zbud_zpool_lock_stats,
	.owns_page = zbud_zpool_owns_page,
	.reclaim_pages = zbud_zpool_reclaim_pages,
	.set_movable = zbud_zpool_set_movable,
};
