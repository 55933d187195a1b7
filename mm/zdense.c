/*
 * zdense.c - a dense pool for compressed pages, beside zbud.
 *
 * zbud stores two objects a page whatever they compress to.  This pool
 * stores them as Linux's zsmalloc does: every allocation is rounded up to a
 * size class (16-byte steps, 16 to 4096 bytes with the handle word), and a
 * class packs its objects back to back into spans of 1 to 16 order-0
 * pages, the span length chosen per class to waste the least (a 1536-byte
 * class takes 3 pages for 8 objects and wastes nothing, where one page would
 * waste a quarter).  Why up to 16, as Linux's largest zsmalloc chain: pages
 * of a kind compress to much the same size, so one class can hold most of
 * a pool; `bench zswap`'s half-random pages (2.7 KiB under lz4) waste 12 %
 * in 4-page spans and 3 % in 7-page ones.  So an object may straddle two pages of its span; the pages of
 * a span are not contiguous.  Neighbouring sizes whose spans come out the
 * same (pages and objects per span) share one class, as zsmalloc merges
 * them: the larger size serves both and wastes nothing more.
 *
 * A class keeps its spans on fullness lists (four quarters of partial, and
 * full): allocation takes the fullest partial span, so spans fill up before
 * new ones are made, and pool compaction moves objects out of the sparsest
 * spans into the fullest and frees the emptied spans.  Each class has its
 * own lock; classes never meet (an object never leaves its class).
 *
 * Handles are an index into a handle table with a generation and the class
 * (so the class lock is known before the table is read): a stale or forged
 * handle is refused, as zbud's are.  The table entry holds the object's
 * place - span and object index - and a span holds the frames of its pages.
 * Two moves keep every handle valid: migrating a page (compaction,
 * alloc_contig_range) rewrites one frame number in its span; compacting the
 * pool moves an object and rewrites its one table entry.  An allocated
 * object begins with a word naming its table entry (tagged), a free one
 * with the index of the next free object of its span, so pool compaction
 * and writeback find an object's handle from the object, and a page's
 * objects need no other table.
 *
 * zswap reads objects outside any lock (decompression): a mapped object
 * pins its span (@mapped): its pages do not migrate (-GMM_EBUSY, tried
 * again later) and pool compaction leaves the span alone.  An object that
 * straddles two pages is copied into the caller's buffer by the map; writes
 * go through zdense_write(), under the class lock.
 *
 * Pages carry PG_zbud (a compressed-pool page) and, under the migrate and
 * unuse policies, PG_movable; page_ext.mapping is the pool, whose movable
 * owner comes first, and page_ext.index is span << 4 | page in span, so a
 * scanner's page leads to its span and class.
 */
#include "mm/list.h"
#include "mm/migrate.h"
#include "mm/zdense.h"

#define ZD_ALIGN_SHIFT 4
#define ZD_ALIGN (1u << ZD_ALIGN_SHIFT)
#define ZD_NR_SIZES (PAGE_SIZE >> ZD_ALIGN_SHIFT) /* 16, 32 ... 4096 */
#define ZD_WORD 8u			  /* the handle word of an object, padded */
#define ZD_SPAN_SHIFT 4
#define ZD_MAX_SPAN_PAGES (1u << ZD_SPAN_SHIFT)
#define ZD_TAG_ALLOC (1u << 31)		  /* handle word of an allocated object */
#define ZD_OBJ_END 0xffffu		  /* end of a span's free list */

/* Fullness groups: partial spans by quarter of objects in use, then full. */
#define ZD_GROUP_FULL 4
#define ZD_NR_GROUPS 5

/* Handle table entries per chunk: one page of 16-byte entries. */
#define ZD_CHUNK_SHIFT (PAGE_SHIFT - 4)
#define ZD_CHUNK_ENTRIES (1u << ZD_CHUNK_SHIFT)
#define ZD_NONE 0xffffffffull

_Static_assert(ZD_MAX_SPAN_PAGES * PAGE_SIZE / ZD_ALIGN < ZD_OBJ_END,
	       "object indexes fit 16 bits");
/*
 * The handle word is 4 bytes, padded to 8 so that data is 8-aligned: the
 * first 8 bytes of data (zswap's header) are written with one atomic store,
 * for writeback that reads them while the store is still writing.
 */
_Static_assert(PAGE_SIZE % ZD_ALIGN == 0 && ZD_WORD + 8 <= ZD_ALIGN,
	       "an object's handle word and first data word never straddle a page");

/*
 * A span: @pfn of its pages, its objects' free list (@freelist, through the
 * objects' first words) and counts.  Everything but @class and @flags is
 * protected by its class's lock; those two are read without it (by
 * writeback picking a span off the LRU, and by a scanner's isolate) and
 * changed under the class lock with atomic stores, so a reader that finds
 * (LIVE, its class) under that class's lock holds the span.
 * @link: on a fullness list of its class (LISTED), or on the pool's free
 * descriptors.  @lru: the pool's LRU, under the pool lock.
 * @isolated: a bit per page that compaction holds (migrate_page may move
 * it); a span with one is freed by the putback that clears the last.
 * @mapped: zdense_map()s outstanding on its objects: no migration, no
 * pool compaction from it.  Invariant: inuse + length of the free list ==
 * objects per span of its class.
 */
struct zdense_span {
	struct list_head link;
	struct list_head lru;
	uint32_t pfn[ZD_MAX_SPAN_PAGES];
	uint16_t inuse;
	uint16_t freelist;
	uint8_t class;
	uint8_t flags;
	uint8_t fullness;
	uint16_t isolated;
	uint32_t mapped;
	uint32_t id; /* its index in the table, set once */
	uint32_t pad[3];
};
_Static_assert(sizeof(struct zdense_span) == 1u << 7, "a span descriptor is 128 bytes");

#define ZD_SPAN_LIVE (1u << 0)	   /* allocated to its class */
#define ZD_SPAN_LISTED (1u << 1)   /* on its class's fullness lists */
#define ZD_SPAN_DRAINING (1u << 2) /* writeback or unuse is emptying it */

/*
 * A handle table entry.  @loc, live: ZD_LIVE | class << 48 | object << 32 |
 * span; free: the next free entry (or ZD_NONE), under the pool lock; taken
 * but not yet live: ZD_NONE.  @gen: bumped when the handle is freed.  @loc
 * and @gen change under the lock of the entry's class while live (and are
 * read atomically, since a forged handle may name an entry of another
 * class); @mapped: the class lock.
 */
struct zdense_handle {
	uint64_t loc;
	uint32_t gen;
	uint32_t mapped;
};
_Static_assert(sizeof(struct zdense_handle) == 16, "handle entries are 16 bytes");
#define ZD_LIVE (1ull << 63)
#define ZD_GEN_MASK 0xffffffu /* handles carry 24 bits of it */

/*
 * @lock protects the fullness lists, @spans and @inuse, and the spans of
 * the class (their descriptors, pages and objects) with the handle entries
 * of their live objects.  @size (handle word included), @pages, @objs:
 * read-only.
 */
struct zdense_class {
	struct spinlock lock;
	struct list_head fullness[ZD_NR_GROUPS];
	uint64_t spans;
	uint64_t inuse;
	uint32_t size;
	uint32_t pages;
	uint32_t objs;
};

/*
 * The pool.  @movable comes first: a pool page's page_ext.mapping is the
 * pool and its movable owner alike.  @lock protects the handle table's free
 * list and growth (@free_handle, @handle_chunks, the directory), the span
 * descriptors' free list and high-water mark, the LRU of spans, and the
 * marks of pool pages (PG_zbud, PG_movable, page_ext.mapping and .index:
 * pool_page_mark_locked()); it
 * nests inside a class lock and nothing nests inside it but the page
 * allocator's locks.  @nr_handles is published with a release store after
 * a chunk is in place.  @pages_nr: atomic.  @policy, @gfp: set before the
 * first span, read-only after.  @class_of: size class index by
 * (size - 1) >> 4, read-only.  @pages_reserved: atomic, the pages of the
 * spans made or being made, never above @max_pages (read-only): a span is
 * refused rather than take the pool past it.
 */
struct zdense_pool {
	struct movable_owner movable;
	enum zpool_movable policy;
	unsigned int gfp;
	struct pglist_data *pgdat;
	const struct zpool_ops *ops;
	void *owner;
	struct spinlock lock;
	uint64_t free_handle;
	uint64_t handle_chunks;
	uint64_t nr_handles;
	struct mm_array handle_dir; /* chunk addresses, NULL until grown */
	struct mm_array span_dir;   /* descriptor chunks, NULL until grown */
	uint64_t span_chunks;
	uint64_t spans_hwm;	    /* descriptors handed out so far */
	struct list_head free_spans;
	struct list_head lru;
	uint64_t pages_nr;
	uint64_t pages_reserved;
	uint64_t max_pages;
	unsigned int order; /* of the pool's own block */
	unsigned int nr_classes;
	uint8_t class_of[ZD_NR_SIZES];
	struct zdense_class class[ZD_NR_SIZES];
};
_Static_assert(offsetof(struct zdense_pool, movable) == 0,
	       "page_ext.mapping is the pool and its movable owner");

/* ---- size classes ---- */

struct zd_geom {
	uint32_t size, pages, objs;
};

/*
 * The span length of a class: the shortest span (1 to 16 pages) whose
 * objects use within 1 % as much of it as the best length does (Linux's
 * get_pages_per_zspage() takes the best; a longer span costs more in the
 * class's last, partly filled span and pins more pages under a map).
 */
static struct zd_geom zd_geom_of(uint32_t size)
{
	struct zd_geom g = { .size = size };
	uint64_t used[ZD_MAX_SPAN_PAGES + 1], best = 0;

	for (uint32_t p = 1; p <= ZD_MAX_SPAN_PAGES; p++) {
		uint32_t bytes = p * PAGE_SIZE;

		/* used / bytes, in 1/65536 */
		used[p] = ((uint64_t)(bytes / size) * size << 16) / bytes;
		if (used[p] > best)
			best = used[p];
	}
	for (uint32_t p = 1; p <= ZD_MAX_SPAN_PAGES; p++) {
		if (used[p] + 655 >= best) {
			g.pages = p;
			g.objs = p * PAGE_SIZE / size;
			break;
		}
	}
	return g;
}

/*
 * Build the classes: from the largest size down, a size whose span has the
 * same pages and objects as the class above it joins that class.  @map
 * gets the class of every size, @geom the classes (ascending); Return: how
 * many.
 */
static unsigned int zd_build_classes(uint8_t map[ZD_NR_SIZES],
				     struct zd_geom geom[ZD_NR_SIZES])
{
	struct zd_geom rev[ZD_NR_SIZES];
	unsigned int n = 0;
	uint16_t rmap[ZD_NR_SIZES];

	for (int i = ZD_NR_SIZES - 1; i >= 0; i--) {
		struct zd_geom g = zd_geom_of((uint32_t)(i + 1) << ZD_ALIGN_SHIFT);

		if (n && rev[n - 1].pages == g.pages && rev[n - 1].objs == g.objs) {
			rmap[i] = (uint16_t)(n - 1);
			continue;
		}
		rev[n] = g;
		rmap[i] = (uint16_t)n++;
	}
	for (unsigned int c = 0; c < n; c++)
		geom[c] = rev[n - 1 - c];
	for (unsigned int i = 0; i < ZD_NR_SIZES; i++)
		map[i] = (uint8_t)(n - 1 - rmap[i]);
	return n;
}

unsigned int zdense_nr_classes(void)
{
	uint8_t map[ZD_NR_SIZES];
	struct zd_geom geom[ZD_NR_SIZES];

	return zd_build_classes(map, geom);
}

void zdense_class_info(unsigned int c, unsigned int *size, unsigned int *pages,
		       unsigned int *objs)
{
	uint8_t map[ZD_NR_SIZES];
	struct zd_geom geom[ZD_NR_SIZES];
	unsigned int n = zd_build_classes(map, geom);

	if (c >= n)
		c = n - 1;
	*size = geom[c].size;
	*pages = geom[c].pages;
	*objs = geom[c].objs;
}

static unsigned int zd_size_index(size_t size)
{
	return (unsigned int)((size + ZD_WORD - 1) >> ZD_ALIGN_SHIFT);
}

unsigned int zdense_size_class(size_t size)
{
	uint8_t map[ZD_NR_SIZES];
	struct zd_geom geom[ZD_NR_SIZES];

	zd_build_classes(map, geom);
	return map[zd_size_index(size)];
}

/* ---- spans and objects ---- */

static uint8_t span_flags(const struct zdense_span *span)
{
	return __atomic_load_n(&span->flags, __ATOMIC_RELAXED);
}

static void span_set_flags(struct zdense_span *span, uint8_t flags)
{
	__atomic_store_n(&span->flags, flags, __ATOMIC_RELAXED);
}

static uint8_t span_class(const struct zdense_span *span)
{
	return __atomic_load_n(&span->class, __ATOMIC_RELAXED);
}

/* Span descriptors per chunk: one page of them. */
#define ZD_SPAN_CHUNK_SHIFT (PAGE_SHIFT - 7)

static struct zdense_span *span_at(struct zdense_pool *pool, uint64_t id)
{
	void **chunk = mm_array_at(&pool->span_dir, id >> ZD_SPAN_CHUNK_SHIFT);
	struct zdense_span *base = __atomic_load_n(chunk, __ATOMIC_ACQUIRE);

	return base + (id & ((1u << ZD_SPAN_CHUNK_SHIFT) - 1));
}

/*
 * A free span descriptor: a freed one, or the next never used, growing the
 * table by a page of them when it is full.  Called without locks.
 * Return: the descriptor, or NULL (no memory, or max_pages spans).
 */
static struct zdense_span *span_desc_get(struct zdense_pool *pool)
{
	struct zdense_span *span = NULL;
	struct page *page = NULL;

	for (;;) {
		spin_lock(&pool->lock);
		if (!list_empty(&pool->free_spans)) {
			span = container_of(pool->free_spans.next, struct zdense_span, link);
			list_del_init(&span->link);
			break;
		}
		if (pool->spans_hwm < pool->span_chunks << ZD_SPAN_CHUNK_SHIFT) {
			span = span_at(pool, pool->spans_hwm);
			span->id = (uint32_t)pool->spans_hwm;
			__atomic_store_n(&pool->spans_hwm, pool->spans_hwm + 1, __ATOMIC_RELEASE);
			break;
		}
		if (pool->span_chunks == pool->span_dir.nr)
			break;
		if (page) {
			__atomic_store_n((void **)mm_array_at(&pool->span_dir, pool->span_chunks),
					 page_address(pool->pgdat, page), __ATOMIC_RELEASE);
			pool->span_chunks++;
			page = NULL;
			spin_unlock(&pool->lock);
			continue;
		}
		spin_unlock(&pool->lock);
		/* Unmovable metadata, as the handle table. */
		page = alloc_pages(pool->pgdat, GFP_ZERO, 0);
		if (!page)
			return NULL;
	}
	spin_unlock(&pool->lock);
	if (page)
		free_pages(pool->pgdat, page, 0);
	return span;
}

static uint32_t span_id(struct zdense_pool *pool, struct zdense_span *span)
{
	(void)pool;
	return span->id;
}

static char *span_page(struct zdense_pool *pool, const struct zdense_span *span,
		       unsigned int i)
{
	return page_address(pool->pgdat, pfn_to_page(pool->pgdat, span->pfn[i]));
}

/* The first word of object @obj (it never straddles). */
static uint32_t *obj_word(struct zdense_pool *pool, const struct zdense_span *span,
			  uint32_t size, unsigned int obj)
{
	uint32_t off = obj * size;

	return (uint32_t *)(span_page(pool, span, off >> PAGE_SHIFT) +
			    (off & (PAGE_SIZE - 1)));
}

/* Copy @len bytes at byte @off of the span into @buf (@out) or from it. */
static void span_copy(struct zdense_pool *pool, const struct zdense_span *span,
		      uint32_t off, void *buf, size_t len, bool out)
{
	char *b = buf;

	while (len) {
		uint32_t in = off & (PAGE_SIZE - 1);
		size_t n = PAGE_SIZE - in < len ? PAGE_SIZE - in : len;
		char *p = span_page(pool, span, off >> PAGE_SHIFT) + in;

		if (out)
			__builtin_memcpy(b, p, n);
		else
			__builtin_memcpy(p, b, n);
		b += n;
		off += (uint32_t)n;
		len -= n;
	}
}

static unsigned int span_group(const struct zdense_class *cls, unsigned int inuse)
{
	if (inuse >= cls->objs)
		return ZD_GROUP_FULL;
	return inuse * 4 / cls->objs;
}

/* Put a listed span on the list its fullness says.  Class lock held. */
static void span_regroup_locked(struct zdense_class *cls, struct zdense_span *span)
{
	unsigned int g = span_group(cls, span->inuse);

	if (!(span_flags(span) & ZD_SPAN_LISTED) || g == span->fullness)
		return;
	list_del_init(&span->link);
	list_add(&span->link, &cls->fullness[g]);
	span->fullness = (uint8_t)g;
}

static void span_list_locked(struct zdense_class *cls, struct zdense_span *span)
{
	span->fullness = (uint8_t)span_group(cls, span->inuse);
	list_add(&span->link, &cls->fullness[span->fullness]);
	span_set_flags(span, span_flags(span) | ZD_SPAN_LISTED);
}

static void span_unlist_locked(struct zdense_span *span)
{
	if (!(span_flags(span) & ZD_SPAN_LISTED))
		return;
	list_del_init(&span->link);
	span_set_flags(span, span_flags(span) & (uint8_t)~ZD_SPAN_LISTED);
}

/*
 * Free an empty span that nobody isolates or drains: its pages back to the
 * node, its descriptor to the pool.  Class lock held (then the pool lock).
 */
/*
 * A pool page's marks - PG_zbud, PG_movable, page_ext.mapping and .index -
 * are set and cleared under the pool lock, so that a scanner holding it and
 * finding the marks may read .index, which anonymous memory writes plainly
 * once the frame is theirs (see page_span_lock()).
 */
static void pool_page_mark_locked(struct zdense_pool *pool, struct page *page,
				  uint64_t index)
{
	struct page_ext *ext = page_ext_of(pool->pgdat, page);

	MM_ASSERT_HELD(&pool->lock);
	atomic_store_explicit(&ext->refcount, 1, memory_order_relaxed);
	__atomic_store_n(&ext->index, index, __ATOMIC_RELAXED);
	page_ext_set_mapping(ext, pool);
	page_flag_set(page, PG_zbud);
	if (pool->policy != ZPOOL_MOVABLE_NONE)
		page_set_movable(pool->pgdat, page, &pool->movable);
}

static void pool_page_unmark_locked(struct zdense_pool *pool, struct page *page)
{
	struct page_ext *ext = page_ext_of(pool->pgdat, page);

	MM_ASSERT_HELD(&pool->lock);
	page_flag_clear(page, PG_zbud | PG_movable);
	page_ext_set_mapping(ext, NULL);
	atomic_store_explicit(&ext->refcount, 0, memory_order_relaxed);
}

/*
 * Take @n pages of the pool's @max_pages for a new span (the span length,
 * up to 16 pages: counting spans would let the pool grow 16 times past
 * it).  Return: false when the pool has no room for them.
 */
static bool pool_pages_reserve(struct zdense_pool *pool, unsigned int n)
{
	uint64_t old = __atomic_fetch_add(&pool->pages_reserved, n, __ATOMIC_RELAXED);

	if (old + n <= pool->max_pages)
		return true;
	__atomic_fetch_sub(&pool->pages_reserved, n, __ATOMIC_RELAXED);
	return false;
}

static void pool_pages_unreserve(struct zdense_pool *pool, unsigned int n)
{
	__atomic_fetch_sub(&pool->pages_reserved, n, __ATOMIC_RELAXED);
}

static void span_free_locked(struct zdense_pool *pool, struct zdense_class *cls,
			     struct zdense_span *span)
{
	struct pglist_data *pgdat = pool->pgdat;

	MM_ASSERT_HELD(&cls->lock);
	span_unlist_locked(span);
	span_set_flags(span, 0);
	cls->spans--;
	__atomic_fetch_sub(&pool->pages_nr, cls->pages, __ATOMIC_RELAXED);
	spin_lock(&pool->lock);
	/* Unmarked under the pool lock, before the free: see page_span_lock(). */
	for (unsigned int i = 0; i < cls->pages; i++)
		pool_page_unmark_locked(pool, pfn_to_page(pgdat, span->pfn[i]));
	list_del_init(&span->lru);
	spin_unlock(&pool->lock);
	for (unsigned int i = 0; i < cls->pages; i++)
		free_pages(pgdat, pfn_to_page(pgdat, span->pfn[i]), 0);
	spin_lock(&pool->lock);
	list_add(&span->link, &pool->free_spans);
	spin_unlock(&pool->lock);
	pool_pages_unreserve(pool, cls->pages);
}

/*
 * A new span for @cls: its pages and a descriptor, objects chained on its
 * free list; not yet in the class (the caller publishes it under the class
 * lock).  Called without locks.  Return: the span, or NULL (no memory, no
 * descriptor left, or the pool at its max_pages).
 */
static struct zdense_span *span_create(struct zdense_pool *pool,
				       struct zdense_class *cls)
{
	struct pglist_data *pgdat = pool->pgdat;
	struct page *pages[ZD_MAX_SPAN_PAGES];
	struct zdense_span *span = NULL;
	unsigned int i;

	if (!pool_pages_reserve(pool, cls->pages))
		return NULL;
	for (i = 0; i < cls->pages; i++) {
		pages[i] = alloc_pages(pgdat, pool->gfp, 0);
		if (!pages[i])
			goto undo_pages;
	}
	span = span_desc_get(pool);
	if (!span)
		goto undo_pages;
	INIT_LIST_HEAD(&span->link);
	INIT_LIST_HEAD(&span->lru);
	for (i = 0; i < cls->pages; i++)
		span->pfn[i] = page_to_pfn(pgdat, pages[i]);
	span->inuse = 0;
	span->isolated = 0;
	span->mapped = 0;
	span->freelist = 0;
	for (unsigned int k = 0; k < cls->objs; k++)
		*obj_word(pool, span, cls->size, k) = k + 1 < cls->objs ? k + 1 : ZD_OBJ_END;
	return span;
undo_pages:
	while (i--)
		free_pages(pgdat, pages[i], 0);
	pool_pages_unreserve(pool, cls->pages);
	return NULL;
}

/* Make @span one of @cls's: listed, its pages marked.  Class lock held. */
static void span_publish_locked(struct zdense_pool *pool, struct zdense_class *cls,
				struct zdense_span *span)
{
	struct pglist_data *pgdat = pool->pgdat;
	uint32_t id = span_id(pool, span);

	MM_ASSERT_HELD(&cls->lock);
	__atomic_store_n(&span->class, (uint8_t)(cls - pool->class), __ATOMIC_RELAXED);
	span_set_flags(span, ZD_SPAN_LIVE);
	span_list_locked(cls, span);
	cls->spans++;
	__atomic_fetch_add(&pool->pages_nr, cls->pages, __ATOMIC_RELAXED);
	spin_lock(&pool->lock);
	for (unsigned int i = 0; i < cls->pages; i++)
		pool_page_mark_locked(pool, pfn_to_page(pgdat, span->pfn[i]),
				      (uint64_t)id << ZD_SPAN_SHIFT | i);
	list_add(&span->lru, &pool->lru);
	spin_unlock(&pool->lock);
}

/* ---- handles ---- */

static struct zdense_handle *handle_entry(struct zdense_pool *pool, uint64_t idx)
{
	void **chunk = mm_array_at(&pool->handle_dir, idx >> ZD_CHUNK_SHIFT);
	struct zdense_handle *base = __atomic_load_n(chunk, __ATOMIC_ACQUIRE);

	return base + (idx & (ZD_CHUNK_ENTRIES - 1));
}

static uint64_t handle_make(unsigned int class, uint64_t idx, uint32_t gen)
{
	return (uint64_t)(gen & ZD_GEN_MASK) << 40 | (uint64_t)class << 32 | (idx + 1);
}

static uint64_t loc_make(unsigned int class, unsigned int obj, uint32_t span)
{
	return ZD_LIVE | (uint64_t)class << 48 | (uint64_t)obj << 32 | span;
}

/* Pop a free entry, growing the table by a chunk when there is none. */
static int handle_reserve(struct zdense_pool *pool, uint64_t *idx)
{
	struct page *page = NULL;
	struct zdense_handle *e;

	spin_lock(&pool->lock);
	if (pool->free_handle == ZD_NONE) {
		if (pool->handle_chunks == pool->handle_dir.nr) {
			spin_unlock(&pool->lock);
			return -GMM_ENOMEM;
		}
		spin_unlock(&pool->lock);
		/* Unmovable, not in the pool's size: metadata, as zbud's table. */
		page = alloc_pages(pool->pgdat, GFP_ZERO, 0);
		if (!page)
			return -GMM_ENOMEM;
		spin_lock(&pool->lock);
		if (pool->free_handle == ZD_NONE &&
		    pool->handle_chunks < pool->handle_dir.nr) {
			uint64_t first = pool->handle_chunks << ZD_CHUNK_SHIFT;
			struct zdense_handle *base = page_address(pool->pgdat, page);

			for (uint64_t i = 0; i < ZD_CHUNK_ENTRIES; i++) {
				base[i].gen = 1;
				base[i].loc = i + 1 < ZD_CHUNK_ENTRIES ? first + i + 1 : ZD_NONE;
			}
			__atomic_store_n((void **)mm_array_at(&pool->handle_dir,
							      pool->handle_chunks),
					 (void *)base, __ATOMIC_RELEASE);
			pool->handle_chunks++;
			__atomic_store_n(&pool->nr_handles, first + ZD_CHUNK_ENTRIES,
					 __ATOMIC_RELEASE);
			pool->free_handle = first;
			page = NULL;
		}
		if (pool->free_handle == ZD_NONE) {
			spin_unlock(&pool->lock);
			if (page)
				free_pages(pool->pgdat, page, 0);
			return -GMM_ENOMEM;
		}
	}
	*idx = pool->free_handle;
	e = handle_entry(pool, *idx);
	pool->free_handle = __atomic_load_n(&e->loc, __ATOMIC_RELAXED);
	__atomic_store_n(&e->loc, ZD_NONE, __ATOMIC_RELAXED);
	spin_unlock(&pool->lock);
	if (page)
		free_pages(pool->pgdat, page, 0);
	return 0;
}

static void handle_release(struct zdense_pool *pool, uint64_t idx)
{
	struct zdense_handle *e = handle_entry(pool, idx);

	spin_lock(&pool->lock);
	__atomic_store_n(&e->loc, pool->free_handle, __ATOMIC_RELAXED);
	pool->free_handle = idx;
	spin_unlock(&pool->lock);
}

/*
 * The entry, span and object of a live @handle of class @c, or NULL.
 * Caller holds class @c's lock, which every change to a live entry of the
 * class takes.
 */
static struct zdense_handle *handle_lookup_locked(struct zdense_pool *pool,
						  unsigned int c, uint64_t handle,
						  struct zdense_span **span,
						  unsigned int *obj)
{
	uint64_t low = handle & 0xffffffffu, loc;
	struct zdense_handle *e;

	MM_ASSERT_HELD(&pool->class[c].lock);
	if (low == 0 || low - 1 >= __atomic_load_n(&pool->nr_handles, __ATOMIC_ACQUIRE))
		return NULL;
	e = handle_entry(pool, low - 1);
	loc = __atomic_load_n(&e->loc, __ATOMIC_RELAXED);
	if (!(loc & ZD_LIVE) || ((loc >> 48) & 0xff) != c ||
	    (__atomic_load_n(&e->gen, __ATOMIC_RELAXED) & ZD_GEN_MASK) != handle >> 40)
		return NULL;
	*span = span_at(pool, loc & 0xffffffffu);
	*obj = (unsigned int)((loc >> 32) & 0xffff);
	return e;
}

/* The class a handle names, or nr_classes for a forged one. */
static unsigned int handle_class(struct zdense_pool *pool, uint64_t handle)
{
	unsigned int c = (unsigned int)((handle >> 32) & 0xff);

	return c < pool->nr_classes ? c : pool->nr_classes;
}

/* ---- the pool ---- */

static unsigned int order_of_bytes(uint64_t bytes)
{
	unsigned int order = 0;

	while ((uint64_t)PAGE_SIZE << order < bytes)
		order++;
	return order;
}

int zdense_create_pool(struct pglist_data *pgdat, unsigned int gfp,
		       uint64_t max_pages, const struct zpool_ops *ops,
		       void *owner, struct zdense_pool **out)
{
	unsigned int order = order_of_bytes(sizeof(struct zdense_pool));
	struct zd_geom geom[ZD_NR_SIZES];
	struct zdense_pool *pool;
	struct page *page;
	int err;

	if (!pgdat->page_ext || max_pages == 0 || max_pages > (1ull << 30))
		return -GMM_EINVAL;
	page = alloc_pages(pgdat, GFP_ZERO, order);
	if (!page)
		return -GMM_ENOMEM;
	pool = page_address(pgdat, page);
	pool->order = order;
	/* A span takes a page at least: as many descriptors as pages. */
	err = mm_array_init(&pool->span_dir, pgdat,
			    (max_pages >> ZD_SPAN_CHUNK_SHIFT) + 1, sizeof(void *));
	if (err)
		goto undo_page;
	/*
	 * Enough entries for 16-byte objects filling every page, but indexes
	 * stay below 2^32 - 1 (a handle carries index + 1 in 32 bits).
	 */
	err = mm_array_init(&pool->handle_dir, pgdat,
			    (max_pages < (1ull << 24) ? max_pages * (PAGE_SIZE / ZD_ALIGN)
						      : 0xfffffffeull) / ZD_CHUNK_ENTRIES,
			    sizeof(void *));
	if (err)
		goto undo_spans;
	spin_lock_init(&pool->lock);
	pool->pgdat = pgdat;
	pool->gfp = gfp;
	pool->ops = ops;
	pool->owner = owner;
	pool->free_handle = ZD_NONE;
	pool->max_pages = max_pages;
	INIT_LIST_HEAD(&pool->free_spans);
	INIT_LIST_HEAD(&pool->lru);
	pool->nr_classes = zd_build_classes(pool->class_of, geom);
	for (unsigned int c = 0; c < pool->nr_classes; c++) {
		struct zdense_class *cls = &pool->class[c];

		spin_lock_init(&cls->lock);
		for (unsigned int g = 0; g < ZD_NR_GROUPS; g++)
			INIT_LIST_HEAD(&cls->fullness[g]);
		cls->size = geom[c].size;
		cls->pages = geom[c].pages;
		cls->objs = geom[c].objs;
	}
	*out = pool;
	return 0;
undo_spans:
	mm_array_fini(&pool->span_dir);
undo_page:
	free_pages(pgdat, page, order);
	return err;
}

void zdense_destroy_pool(struct zdense_pool *pool)
{
	struct pglist_data *pgdat = pool->pgdat;

	if (pool->pages_nr)
		platform_bad_state("zdense_destroy_pool: %llu pages still in use",
				   (unsigned long long)pool->pages_nr);
	__atomic_store_n(&pool->movable.magic, 0, __ATOMIC_RELAXED);
	for (uint64_t k = 0; k < pool->handle_chunks; k++)
		free_pages(pgdat, virt_to_page(pgdat, *(void **)mm_array_at(&pool->handle_dir, k)),
			   0);
	mm_array_fini(&pool->handle_dir);
	for (uint64_t k = 0; k < pool->span_chunks; k++)
		free_pages(pgdat, virt_to_page(pgdat, *(void **)mm_array_at(&pool->span_dir, k)),
			   0);
	mm_array_fini(&pool->span_dir);
	free_pages(pgdat, virt_to_page(pgdat, pool), pool->order);
}

/* The fullest partial span of @cls, or NULL.  Class lock held. */
static struct zdense_span *class_pick_span_locked(struct zdense_class *cls)
{
	for (int g = ZD_GROUP_FULL - 1; g >= 0; g--)
		if (!list_empty(&cls->fullness[g]))
			return container_of(cls->fullness[g].next, struct zdense_span, link);
	return NULL;
}

int zdense_malloc(struct zdense_pool *pool, size_t size, uint64_t *handle)
{
	struct zdense_class *cls;
	struct zdense_span *span;
	struct zdense_handle *e;
	unsigned int c, obj;
	uint64_t idx;
	int err;

	if (size == 0)
		return -GMM_EINVAL;
	if (size > ZDENSE_MAX_ALLOC)
		return -GMM_ENOSPC;
	c = pool->class_of[zd_size_index(size)];
	cls = &pool->class[c];
	err = handle_reserve(pool, &idx);
	if (err)
		return err;
	spin_lock(&cls->lock);
	span = class_pick_span_locked(cls);
	if (!span) {
		/* No room in the class: a new span, made without the lock. */
		spin_unlock(&cls->lock);
		span = span_create(pool, cls);
		if (!span) {
			handle_release(pool, idx);
			return -GMM_ENOMEM;
		}
		spin_lock(&cls->lock);
		span_publish_locked(pool, cls, span);
	}
	obj = span->freelist;
	span->freelist = (uint16_t)*obj_word(pool, span, cls->size, obj);
	*obj_word(pool, span, cls->size, obj) = ZD_TAG_ALLOC | (uint32_t)idx;
	span->inuse++;
	cls->inuse++;
	span_regroup_locked(cls, span);
	e = handle_entry(pool, idx);
	e->mapped = 0;
	__atomic_store_n(&e->loc, loc_make(c, obj, span_id(pool, span)), __ATOMIC_RELAXED);
	*handle = handle_make(c, idx, __atomic_load_n(&e->gen, __ATOMIC_RELAXED));
	spin_lock(&pool->lock);
	list_del_init(&span->lru);
	list_add(&span->lru, &pool->lru);
	spin_unlock(&pool->lock);
	spin_unlock(&cls->lock);
	return 0;
}

/* Can @span go now: empty, and nobody isolates or drains it? */
static bool span_done(const struct zdense_span *span)
{
	return span->inuse == 0 && !span->isolated &&
	       !(span_flags(span) & ZD_SPAN_DRAINING);
}

int zdense_free(struct zdense_pool *pool, uint64_t handle)
{
	unsigned int c = handle_class(pool, handle), obj;
	struct zdense_class *cls;
	struct zdense_span *span;
	struct zdense_handle *e;
	uint32_t gen;

	if (c == pool->nr_classes)
		goto bad;
	cls = &pool->class[c];
	spin_lock(&cls->lock);
	e = handle_lookup_locked(pool, c, handle, &span, &obj);
	if (!e) {
		spin_unlock(&cls->lock);
		goto bad;
	}
	span->mapped -= e->mapped; /* a map racing the free is not counted any more */
	e->mapped = 0;
	*obj_word(pool, span, cls->size, obj) = span->freelist;
	span->freelist = (uint16_t)obj;
	span->inuse--;
	cls->inuse--;
	gen = (__atomic_load_n(&e->gen, __ATOMIC_RELAXED) + 1) & ZD_GEN_MASK;
	__atomic_store_n(&e->gen, gen ? gen : 1, __ATOMIC_RELAXED);
	__atomic_store_n(&e->loc, ZD_NONE, __ATOMIC_RELAXED);
	if (span_done(span))
		span_free_locked(pool, cls, span);
	else
		span_regroup_locked(cls, span);
	spin_unlock(&cls->lock);
	handle_release(pool, (handle & 0xffffffffu) - 1);
	return 0;
bad:
	platform_bad_state("zdense_free: handle %#llx is not live",
			   (unsigned long long)handle);
	return -GMM_EINVAL;
}

int zdense_map(struct zdense_pool *pool, uint64_t handle, void *local, void **addr)
{
	unsigned int c = handle_class(pool, handle), obj;
	struct zdense_class *cls;
	struct zdense_span *span;
	struct zdense_handle *e;
	uint32_t off;

	if (c == pool->nr_classes)
		return -GMM_EINVAL; /* not logged: writeback races frees by design */
	cls = &pool->class[c];
	spin_lock(&cls->lock);
	e = handle_lookup_locked(pool, c, handle, &span, &obj);
	if (!e)
		goto einval;
	off = obj * cls->size;
	if ((off & (PAGE_SIZE - 1)) + cls->size <= PAGE_SIZE) {
		*addr = span_page(pool, span, off >> PAGE_SHIFT) +
			(off & (PAGE_SIZE - 1)) + ZD_WORD;
	} else {
		if (!local)
			goto einval;
		span_copy(pool, span, off + ZD_WORD, local, cls->size - ZD_WORD, true);
		*addr = local;
	}
	e->mapped++;
	span->mapped++;
	spin_unlock(&cls->lock);
	return 0;
einval:
	spin_unlock(&cls->lock);
	return -GMM_EINVAL;
}

void zdense_unmap(struct zdense_pool *pool, uint64_t handle)
{
	unsigned int c = handle_class(pool, handle), obj;
	struct zdense_class *cls;
	struct zdense_span *span;
	struct zdense_handle *e;

	if (c == pool->nr_classes)
		return;
	cls = &pool->class[c];
	spin_lock(&cls->lock);
	/* A handle freed while mapped had its count cleared. */
	e = handle_lookup_locked(pool, c, handle, &span, &obj);
	if (e && e->mapped) {
		e->mapped--;
		span->mapped--;
	}
	spin_unlock(&cls->lock);
}

int zdense_write(struct zdense_pool *pool, uint64_t handle, const void *src, size_t len)
{
	unsigned int c = handle_class(pool, handle), obj;
	struct zdense_class *cls;
	struct zdense_span *span;
	int err = -GMM_EINVAL;

	if (c == pool->nr_classes)
		return -GMM_EINVAL;
	cls = &pool->class[c];
	spin_lock(&cls->lock);
	if (handle_lookup_locked(pool, c, handle, &span, &obj) && len <= cls->size - ZD_WORD) {
		uint32_t off = obj * cls->size + ZD_WORD;
		size_t head = len < 8 ? 0 : 8;

		if (head) {
			uint64_t w;

			__builtin_memcpy(&w, src, 8);
			__atomic_store_n((uint64_t *)(void *)(span_page(pool, span, off >> PAGE_SHIFT) +
							      (off & (PAGE_SIZE - 1))),
					 w, __ATOMIC_RELAXED);
		}
		span_copy(pool, span, off + (uint32_t)head, (char *)src + head, len - head, false);
		err = 0;
	}
	spin_unlock(&cls->lock);
	return err;
}

uint64_t zdense_get_pool_size(struct zdense_pool *pool)
{
	return __atomic_load_n(&pool->pages_nr, __ATOMIC_RELAXED);
}

uint64_t zdense_meta_pages(struct zdense_pool *pool)
{
	uint64_t n;

	spin_lock(&pool->lock);
	n = pool->handle_chunks + pool->span_chunks;
	spin_unlock(&pool->lock);
	return n;
}

/* ---- pool compaction ---- */

/* Move object @o of @src into a free slot of @dst.  Class lock held. */
static void obj_move_locked(struct zdense_pool *pool, struct zdense_class *cls,
			    struct zdense_span *src, unsigned int o,
			    struct zdense_span *dst, unsigned char *bounce)
{
	uint32_t w = *obj_word(pool, src, cls->size, o);
	unsigned int n = dst->freelist;
	struct zdense_handle *e = handle_entry(pool, w & ~ZD_TAG_ALLOC);

	dst->freelist = (uint16_t)*obj_word(pool, dst, cls->size, n);
	span_copy(pool, src, o * cls->size, bounce, cls->size, true);
	span_copy(pool, dst, n * cls->size, bounce, cls->size, false);
	*obj_word(pool, src, cls->size, o) = src->freelist;
	src->freelist = (uint16_t)o;
	src->inuse--;
	dst->inuse++;
	__atomic_store_n(&e->loc, loc_make((unsigned int)(cls - pool->class), n,
					   span_id(pool, dst)),
			 __ATOMIC_RELAXED);
}

/* A span objects may be moved out of: not pinned, not held.  */
static bool span_compactable(const struct zdense_span *span)
{
	return span->inuse && !span->isolated && !span->mapped;
}

/* Can compaction free a span of @cls: does it waste a span's worth of objects? */
static bool class_compactable(const struct zdense_class *cls)
{
	return cls->spans * cls->objs - cls->inuse >= cls->objs;
}

/*
 * The source of the next move: the first movable span of the emptiest
 * fullness group that has one.  Not the emptiest span - finding that is a
 * walk of every partial span, and a walk per span freed made compacting a
 * class of 8000 spans hold its lock for a quarter of a second; spans that
 * are not movable (mapped, isolated) are the only ones skipped.
 */
static struct zdense_span *class_pick_src_locked(struct zdense_class *cls)
{
	for (unsigned int g = 0; g < ZD_GROUP_FULL; g++)
		for (struct list_head *l = cls->fullness[g].next; l != &cls->fullness[g];
		     l = l->next) {
			struct zdense_span *s = container_of(l, struct zdense_span, link);

			if (span_compactable(s))
				return s;
		}
	return NULL;
}

/* The destination: the first span of the fullest partial group, not @src. */
static struct zdense_span *class_pick_dst_locked(struct zdense_class *cls,
						 struct zdense_span *src)
{
	for (int g = ZD_GROUP_FULL - 1; g >= 0; g--)
		for (struct list_head *l = cls->fullness[g].next; l != &cls->fullness[g];
		     l = l->next) {
			struct zdense_span *s = container_of(l, struct zdense_span, link);

			if (s != src)
				return s;
		}
	return NULL;
}

/*
 * Compact one class: while its spans waste at least a span's worth of
 * objects, empty a span of the emptiest group into the fullest partial
 * ones and free it (zsmalloc's __zs_compact()).  The source always
 * empties: the other spans' free slots are the waste less the source's
 * own, at least its objects.  So each round frees a span, and the work is
 * the objects moved.  Class lock held on entry and return; dropped and
 * taken again between rounds, so that loads and stores of the class are
 * not held up for the whole pass; each round starts again from the lists.
 * Return: pages freed.
 */
static uint64_t class_compact_locked(struct zdense_pool *pool, struct zdense_class *cls,
				     unsigned char *bounce)
{
	uint64_t freed = 0;

	MM_ASSERT_HELD(&cls->lock);
	while (class_compactable(cls)) {
		struct zdense_span *src = class_pick_src_locked(cls), *dst;
		unsigned int o = 0;

		if (!src)
			break;
		while (src->inuse && (dst = class_pick_dst_locked(cls, src))) {
			for (; o < cls->objs && src->inuse && dst->inuse < cls->objs; o++)
				if (*obj_word(pool, src, cls->size, o) & ZD_TAG_ALLOC)
					obj_move_locked(pool, cls, src, o, dst, bounce);
			span_regroup_locked(cls, dst);
		}
		if (src->inuse) {
			span_regroup_locked(cls, src);
			break;
		}
		span_free_locked(pool, cls, src);
		freed += cls->pages;
		spin_unlock(&cls->lock);
		spin_lock(&cls->lock);
	}
	return freed;
}

uint64_t zdense_compact(struct zdense_pool *pool)
{
	unsigned char bounce[PAGE_SIZE];
	uint64_t freed = 0;

	for (unsigned int c = 0; c < pool->nr_classes; c++) {
		struct zdense_class *cls = &pool->class[c];

		spin_lock(&cls->lock);
		freed += class_compact_locked(pool, cls, bounce);
		spin_unlock(&cls->lock);
	}
	return freed;
}

/* ---- writeback and unuse: emptying a span through the pool's user ---- */

/*
 * Empty @span by handing each of its objects to @fn (evict or unuse),
 * without the class lock; DRAINING keeps the span from being freed,
 * compacted or allocated into meanwhile.  Class lock held on entry and
 * return; revalidated: nothing but the objects' handle words is read again.
 * Return: 1 when the span was freed; 0 when it is empty and a putback
 * frees it (a page of it is isolated); -GMM_EAGAIN when an object stayed.
 */
static int span_drain_locked(struct zdense_pool *pool, struct zdense_class *cls,
			     struct zdense_span *span,
			     int (*fn)(void *owner, uint64_t handle))
{
	unsigned int c = (unsigned int)(cls - pool->class);

	MM_ASSERT_HELD(&cls->lock);
	span_unlist_locked(span);
	span_set_flags(span, span_flags(span) | ZD_SPAN_DRAINING);
	for (unsigned int o = 0; o < cls->objs && span->inuse; o++) {
		uint32_t w = *obj_word(pool, span, cls->size, o);
		struct zdense_handle *e;
		uint64_t handle;

		if (!(w & ZD_TAG_ALLOC))
			continue;
		e = handle_entry(pool, w & ~ZD_TAG_ALLOC);
		handle = handle_make(c, w & ~ZD_TAG_ALLOC,
				     __atomic_load_n(&e->gen, __ATOMIC_RELAXED));
		spin_unlock(&cls->lock);
		fn(pool->owner, handle);
		spin_lock(&cls->lock);
	}
	span_set_flags(span, span_flags(span) & (uint8_t)~ZD_SPAN_DRAINING);
	if (span_done(span)) {
		span_free_locked(pool, cls, span);
		return 1;
	}
	if (span->inuse == 0)
		return 0;
	span_list_locked(cls, span);
	return -GMM_EAGAIN;
}

/*
 * zdense_shrink - the pool's shrinker: compact the pool first (it frees
 * pages without I/O), and when that frees nothing, write back the objects
 * of the span at the LRU tail, trying up to @retries spans.
 * Return: 0 when pages were freed; -GMM_EINVAL with no evict callback, no
 * spans or no retries; -GMM_EAGAIN when @retries spans kept an object.
 */
int zdense_shrink(struct zdense_pool *pool, unsigned int retries)
{
	if (!pool->ops || !pool->ops->evict || retries == 0)
		return -GMM_EINVAL;
	if (zdense_compact(pool))
		return 0;
	for (unsigned int i = 0; i < retries; i++) {
		struct zdense_span *span;
		struct zdense_class *cls;
		unsigned int c;
		int r = -GMM_EAGAIN;

		spin_lock(&pool->lock);
		if (list_empty(&pool->lru)) {
			spin_unlock(&pool->lock);
			return -GMM_EINVAL;
		}
		span = container_of(pool->lru.prev, struct zdense_span, lru);
		c = span_class(span);
		/* To the head: the next retry takes the next span. */
		list_del_init(&span->lru);
		list_add(&span->lru, &pool->lru);
		spin_unlock(&pool->lock);
		if (c >= pool->nr_classes)
			continue;
		cls = &pool->class[c];
		spin_lock(&cls->lock);
		/* Rechecked: the span may have been freed, or taken by another class. */
		if ((span_flags(span) & (ZD_SPAN_LIVE | ZD_SPAN_DRAINING)) == ZD_SPAN_LIVE &&
		    span_class(span) == c)
			r = span_drain_locked(pool, cls, span, pool->ops->evict);
		spin_unlock(&cls->lock);
		if (r >= 0)
			return 0;
	}
	return -GMM_EAGAIN;
}

/*
 * The span and class of a page a scanner found, locked, or NULL: the page
 * must still be this pool's, at the place its page_ext says.
 */
static struct zdense_span *page_span_lock(struct zdense_pool *pool, struct page *page,
					  struct zdense_class **clsp, unsigned int *pgno)
{
	struct page_ext *ext = page_ext_of(pool->pgdat, page);
	struct zdense_span *span = NULL;
	struct zdense_class *cls;
	uint64_t index = 0;
	unsigned int c, i;

	/* The marks are cleared under the pool lock before a frame is freed. */
	spin_lock(&pool->lock);
	if (PageZbud(page) && __atomic_load_n(&ext->mapping, __ATOMIC_RELAXED) == pool) {
		index = __atomic_load_n(&ext->index, __ATOMIC_RELAXED);
		if ((index >> ZD_SPAN_SHIFT) < pool->spans_hwm)
			span = span_at(pool, index >> ZD_SPAN_SHIFT);
	}
	spin_unlock(&pool->lock);
	if (!span)
		return NULL;
	c = span_class(span);
	i = (unsigned int)(index & (ZD_MAX_SPAN_PAGES - 1));
	if (c >= pool->nr_classes)
		return NULL;
	cls = &pool->class[c];
	spin_lock(&cls->lock);
	/* Still that span's page: its frame numbers change under this lock. */
	if ((span_flags(span) & ZD_SPAN_LIVE) && span_class(span) == c && i < cls->pages &&
	    span->pfn[i] == page_to_pfn(pool->pgdat, page)) {
		*clsp = cls;
		*pgno = i;
		return span;
	}
	spin_unlock(&cls->lock);
	return NULL;
}

/*
 * zdense_reclaim_pages - empty the spans of the given pages by unusing
 * their objects (seed 001's second entry point, as zbud's).  Pages that are
 * not this pool's, or whose span is being emptied, are skipped.  Return: 0
 * when every page was freed; -GMM_EAGAIN when some were not; -GMM_EINVAL
 * without an unuse callback.  *@freed counts the freed ones.
 */
int zdense_reclaim_pages(struct zdense_pool *pool, struct page **pages,
			 unsigned int n, unsigned int *freed)
{
	*freed = 0;
	if (!pool->ops || !pool->ops->unuse)
		return -GMM_EINVAL;
	for (unsigned int i = 0; i < n; i++) {
		struct zdense_class *cls;
		struct zdense_span *span;
		unsigned int pgno;

		span = page_span_lock(pool, pages[i], &cls, &pgno);
		if (!span)
			continue;
		if (!(span_flags(span) & ZD_SPAN_DRAINING) &&
		    span_drain_locked(pool, cls, span, pool->ops->unuse) == 1)
			(*freed)++;
		spin_unlock(&cls->lock);
	}
	return *freed == n ? 0 : -GMM_EAGAIN;
}

/* ---- movable operations (mm/migrate.h) ---- */

static struct zdense_pool *owner_pool(struct movable_owner *owner)
{
	return container_of(owner, struct zdense_pool, movable);
}

static bool zdense_isolate_movable(struct movable_owner *owner, struct page *page)
{
	struct zdense_pool *pool = owner_pool(owner);
	struct zdense_class *cls;
	struct zdense_span *span;
	unsigned int pgno;
	bool ok;

	span = page_span_lock(pool, page, &cls, &pgno);
	if (!span)
		return false;
	ok = !(span->isolated & (1u << pgno)) && !(span_flags(span) & ZD_SPAN_DRAINING);
	if (ok)
		span->isolated |= (uint16_t)(1u << pgno);
	spin_unlock(&cls->lock);
	return ok;
}

/* The span and class of a page we hold isolated. */
static struct zdense_span *isolated_span(struct zdense_pool *pool, struct page *page,
					 struct zdense_class **cls, unsigned int *pgno)
{
	uint64_t index = __atomic_load_n(&page_ext_of(pool->pgdat, page)->index,
					 __ATOMIC_RELAXED);
	struct zdense_span *span = span_at(pool, index >> ZD_SPAN_SHIFT);

	*cls = &pool->class[span_class(span)];
	*pgno = (unsigned int)(index & (ZD_MAX_SPAN_PAGES - 1));
	return span;
}

static void zdense_putback_movable(struct movable_owner *owner, struct page *page)
{
	struct zdense_pool *pool = owner_pool(owner);
	struct zdense_class *cls;
	unsigned int pgno;
	struct zdense_span *span = isolated_span(pool, page, &cls, &pgno);

	spin_lock(&cls->lock);
	span->isolated &= (uint16_t)~(1u << pgno);
	if (span_done(span))
		span_free_locked(pool, cls, span);
	spin_unlock(&cls->lock);
}

/*
 * MIGRATE: copy the isolated page @src to @dst and point its span at @dst;
 * handles name the span, not the frame, so none changes.  Under the class
 * lock, which every access to the span's objects takes; a mapped object in
 * the span keeps it put (-GMM_EBUSY).
 */
static int zdense_migrate_movable(struct movable_owner *owner, struct page *dst,
				  struct page *src)
{
	struct zdense_pool *pool = owner_pool(owner);
	struct pglist_data *pgdat = pool->pgdat;
	struct page_ext *sext = page_ext_of(pgdat, src);
	struct zdense_class *cls;
	unsigned int pgno;
	struct zdense_span *span = isolated_span(pool, src, &cls, &pgno);

	spin_lock(&cls->lock);
	if (span->inuse == 0) { /* emptied while isolated: putback frees it */
		spin_unlock(&cls->lock);
		return -GMM_EAGAIN;
	}
	if (span->mapped) {
		spin_unlock(&cls->lock);
		return -GMM_EBUSY;
	}
	if (span->pfn[pgno] != page_to_pfn(pgdat, src))
		platform_bad_state("zdense: migrating pfn %#x: its span has pfn %#x",
				   page_to_pfn(pgdat, src), span->pfn[pgno]);
	__builtin_memcpy(page_address(pgdat, dst), page_address(pgdat, src), PAGE_SIZE);
	span->pfn[pgno] = page_to_pfn(pgdat, dst);
	spin_lock(&pool->lock);
	pool_page_mark_locked(pool, dst, __atomic_load_n(&sext->index, __ATOMIC_RELAXED));
	pool_page_unmark_locked(pool, src);
	spin_unlock(&pool->lock);
	spin_unlock(&cls->lock);
	return 0;
}

/* UNUSE: empty the isolated page's span in place; putback frees it. */
static int zdense_unuse_movable(struct movable_owner *owner, struct page *page)
{
	struct zdense_pool *pool = owner_pool(owner);
	struct zdense_class *cls;
	unsigned int pgno;
	struct zdense_span *span = isolated_span(pool, page, &cls, &pgno);
	int r = -GMM_EAGAIN;

	if (!pool->ops || !pool->ops->unuse)
		return -GMM_EINVAL;
	spin_lock(&cls->lock);
	if (!(span_flags(span) & ZD_SPAN_DRAINING))
		r = span_drain_locked(pool, cls, span, pool->ops->unuse);
	spin_unlock(&cls->lock);
	return r >= 0 ? 0 : -GMM_EAGAIN;
}

static const struct movable_operations zdense_migrate_ops = {
	.isolate_page = zdense_isolate_movable,
	.migrate_page = zdense_migrate_movable,
	.putback_page = zdense_putback_movable,
};

static const struct movable_operations zdense_unuse_ops = {
	.isolate_page = zdense_isolate_movable,
	.release_page = zdense_unuse_movable,
	.putback_page = zdense_putback_movable,
};

int zdense_set_movable(struct zdense_pool *pool, enum zpool_movable policy)
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
	if (__atomic_load_n(&pool->pages_nr, __ATOMIC_RELAXED)) {
		err = -GMM_EBUSY;
	} else {
		pool->policy = policy;
		pool->gfp = gfp[policy];
		pool->movable.ops = policy == ZPOOL_MOVABLE_MIGRATE ? &zdense_migrate_ops
			      : policy == ZPOOL_MOVABLE_UNUSE	  ? &zdense_unuse_ops
								  : NULL;
		__atomic_store_n(&pool->movable.magic, MOVABLE_OWNER_MAGIC, __ATOMIC_RELEASE);
	}
	spin_unlock(&pool->lock);
	return err;
}

/* ---- the validator ---- */

#define ZDCHECK(cond, ...)                                                     \
	do {                                                                   \
		if (!(cond)) {                                                 \
			platform_bad_state(__VA_ARGS__);                       \
			spin_unlock(&cls->lock);                               \
			return -GMM_EUCLEAN;                                   \
		}                                                              \
	} while (0)

static int zdense_check_span_locked(struct zdense_pool *pool, struct zdense_class *cls,
				    struct zdense_span *span, unsigned int g)
{
	unsigned int c = (unsigned int)(cls - pool->class), nfree = 0, nalloc = 0;
	uint32_t id = span_id(pool, span);

	ZDCHECK((span_flags(span) & (ZD_SPAN_LIVE | ZD_SPAN_LISTED)) ==
			(ZD_SPAN_LIVE | ZD_SPAN_LISTED) && span_class(span) == c,
		"zdense_check: span %u on class %u's lists: flags %#x class %u", id, c,
		span_flags(span), span_class(span));
	ZDCHECK(span->fullness == g && span_group(cls, span->inuse) == g,
		"zdense_check: span %u (%u of %u in use) on fullness list %u", id,
		span->inuse, cls->objs, g);
	for (unsigned int o = span->freelist; o != ZD_OBJ_END;
	     o = *obj_word(pool, span, cls->size, o)) {
		ZDCHECK(o < cls->objs && nfree < cls->objs,
			"zdense_check: span %u: free list runs to %u", id, o);
		ZDCHECK(!(*obj_word(pool, span, cls->size, o) & ZD_TAG_ALLOC),
			"zdense_check: span %u: object %u on the free list is allocated", id, o);
		nfree++;
	}
	for (unsigned int o = 0; o < cls->objs; o++) {
		uint32_t w = *obj_word(pool, span, cls->size, o);
		struct zdense_handle *e;

		if (!(w & ZD_TAG_ALLOC))
			continue;
		ZDCHECK((w & ~ZD_TAG_ALLOC) < pool->nr_handles,
			"zdense_check: span %u object %u: handle word %#x", id, o, w);
		e = handle_entry(pool, w & ~ZD_TAG_ALLOC);
		ZDCHECK(e->loc == loc_make(c, o, id),
			"zdense_check: span %u object %u: its entry says %#llx", id, o,
			(unsigned long long)e->loc);
		nalloc++;
	}
	ZDCHECK(nalloc == span->inuse && nfree + nalloc == cls->objs,
		"zdense_check: span %u: %u in use, %u allocated, %u free of %u", id,
		span->inuse, nalloc, nfree, cls->objs);
	for (unsigned int i = 0; i < cls->pages; i++) {
		struct page *page = pfn_to_page(pool->pgdat, span->pfn[i]);
		struct page_ext *ext = page_ext_of(pool->pgdat, page);

		ZDCHECK(PageZbud(page) && ext->mapping == pool &&
				__atomic_load_n(&ext->index, __ATOMIC_RELAXED) ==
					((uint64_t)id << ZD_SPAN_SHIFT | i),
			"zdense_check: span %u page %u (pfn %#x) is not marked as the pool's",
			id, i, span->pfn[i]);
	}
	return 0;
}

int zdense_check(struct zdense_pool *pool)
{
	uint64_t objs = 0, pages = 0, live = 0;
	int err;

	for (unsigned int c = 0; c < pool->nr_classes; c++) {
		struct zdense_class *cls = &pool->class[c];
		uint64_t spans = 0, inuse = 0;

		spin_lock(&cls->lock);
		for (unsigned int g = 0; g < ZD_NR_GROUPS; g++)
			for (struct list_head *l = cls->fullness[g].next; l != &cls->fullness[g];
			     l = l->next) {
				struct zdense_span *span = container_of(l, struct zdense_span, link);

				if ((err = zdense_check_span_locked(pool, cls, span, g)))
					return err;
				spans++;
				inuse += span->inuse;
			}
		/* With nothing draining, every span is listed. */
		ZDCHECK(spans == cls->spans && inuse == cls->inuse,
			"zdense_check: class %u: %llu spans listed of %llu, %llu objects of %llu",
			c, (unsigned long long)spans, (unsigned long long)cls->spans,
			(unsigned long long)inuse, (unsigned long long)cls->inuse);
		objs += inuse;
		pages += spans * cls->pages;
		spin_unlock(&cls->lock);
	}
	spin_lock(&pool->lock);
	for (uint64_t i = 0; i < pool->nr_handles; i++)
		live += !!(__atomic_load_n(&handle_entry(pool, i)->loc, __ATOMIC_RELAXED) & ZD_LIVE);
	spin_unlock(&pool->lock);
	if (live != objs || pages != zdense_get_pool_size(pool)) {
		platform_bad_state("zdense_check: %llu live handles, %llu objects; %llu pages, pool size %llu",
				   (unsigned long long)live, (unsigned long long)objs,
				   (unsigned long long)pages,
				   (unsigned long long)zdense_get_pool_size(pool));
		return -GMM_EUCLEAN;
	}
	return 0;
}

/* ---- the zpool driver ---- */

static int zdense_zpool_create(struct pglist_data *pgdat, unsigned int gfp,
			       uint64_t max_pages, const struct zpool_ops *ops,
			       void *owner, void **pool)
{
	return zdense_create_pool(pgdat, gfp, max_pages, ops, owner,
				  (struct zdense_pool **)pool);
}

static void zdense_zpool_destroy(void *pool) { zdense_destroy_pool(pool); }
static int zdense_zpool_malloc(void *pool, size_t size, uint64_t *handle)
{
	return zdense_malloc(pool, size, handle);
}
static int zdense_zpool_free(void *pool, uint64_t handle) { return zdense_free(pool, handle); }
static int zdense_zpool_map(void *pool, uint64_t handle, void *local, void **addr)
{
	return zdense_map(pool, handle, local, addr);
}
static void zdense_zpool_unmap(void *pool, uint64_t handle) { zdense_unmap(pool, handle); }
static int zdense_zpool_write(void *pool, uint64_t handle, const void *src, size_t len)
{
	return zdense_write(pool, handle, src, len);
}
static int zdense_zpool_shrink(void *pool, unsigned int retries)
{
	return zdense_shrink(pool, retries);
}
static uint64_t zdense_zpool_compact(void *pool) { return zdense_compact(pool); }
static uint64_t zdense_zpool_total_pages(void *pool) { return zdense_get_pool_size(pool); }
static void zdense_zpool_lock_stats(void *pool, struct lock_stats *sum, bool reset)
{
	struct zdense_pool *zp = pool;

	for (unsigned int c = 0; c <= zp->nr_classes; c++) {
		struct spinlock *l = c < zp->nr_classes ? &zp->class[c].lock : &zp->lock;

		if (reset)
			spin_lock_stats_reset(l);
		else
			spin_lock_stats_add(l, sum);
	}
}
static bool zdense_zpool_owns_page(void *pool, struct page *page)
{
	struct zdense_pool *zp = pool;

	return PageZbud(page) &&
	       __atomic_load_n(&page_ext_of(zp->pgdat, page)->mapping, __ATOMIC_RELAXED) == pool;
}
static int zdense_zpool_reclaim_pages(void *pool, struct page **pages, unsigned int n,
				      unsigned int *freed)
{
	return zdense_reclaim_pages(pool, pages, n, freed);
}
static int zdense_zpool_set_movable(void *pool, enum zpool_movable policy)
{
	return zdense_set_movable(pool, policy);
}

const struct zpool_driver zdense_zpool_driver = {
	.name = "dense",
	.create = zdense_zpool_create,
	.destroy = zdense_zpool_destroy,
	.malloc = zdense_zpool_malloc,
	.free = zdense_zpool_free,
	.map = zdense_zpool_map,
	.unmap = zdense_zpool_unmap,
	.write = zdense_zpool_write,
	.shrink = zdense_zpool_shrink,
	.compact = zdense_zpool_compact,
	.total_pages = zdense_zpool_total_pages,
	.lock_stats = zdense_zpool_lock_stats,
	.owns_page = zdense_zpool_owns_page,
	.reclaim_pages = zdense_zpool_reclaim_pages,
	.set_movable = zdense_zpool_set_movable,
};
