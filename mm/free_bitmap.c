/*
 * free_bitmap.c - the bitmap strategy: free chunks kept in a global bitmap,
 * handed to the host when it asks, waited for by an allocation that lands
 * on one before the host acknowledges.
 *
 * Seed 002 proposed it (Wei Wang): set bits on free, clear them on
 * allocation, let the host poll; no per-CPU arrays, no worker, no isolation.
 * The objections there, and what is made of them here:
 *   - "all vCPUs competing for a single lock": there is no lock on the
 *     allocator's side; bits change by atomic OR/AND, and only when a block
 *     of the hinting order or more goes on or comes off a free list (under
 *     the zone lock that already holds), never per frame - the per-CPU lists
 *     never touch the bitmap.  What stays shared is the bitmap's cache lines:
 *     each such change, and every allocation's read of the I word.
 *   - "memory allocated on the free path" (an xbitmap grows): the bitmap is
 *     sized for the node and allocated once, by the owner.
 *   - "any process can get stuck on such a page" while the host discards
 *     it: true by design - the chunks stay on the free lists, so an
 *     allocation may take one and must not touch it before the ack.  It
 *     sleeps on @ack_seq (no busy-wait), and the time is counted
 *     (@alloc_wait_ns): the cost the seed feared, measured.
 *   - The acknowledgement cannot blindly set bits back: the chunk may have
 *     been allocated (after its wait) and be in use.  It sets F only for a
 *     chunk found still free under the zone lock.
 */
#include <limits.h>

#include "mm/internal.h"

#define BITS_PER_WORD 64u

uint64_t free_bitmap_size(uint64_t nr_pages, unsigned int order)
{
	uint64_t chunks = (nr_pages + (1ull << order) - 1) >> order;
	uint64_t words = (chunks + BITS_PER_WORD - 1) / BITS_PER_WORD;

	return sizeof(struct free_bitmap) + 2 * words * sizeof(uint64_t);
}

static _Atomic uint64_t *fb_free(struct free_bitmap *fb)
{
	return fb->bits;
}

static _Atomic uint64_t *fb_inflight(struct free_bitmap *fb)
{
	return fb->bits + fb->nr_words;
}

/*
 * Call @fn(fb, word, mask) for the chunks of the block [@pfn, @pfn + 2^@order)
 * that it covers wholly, a word at a time.
 */
#define for_each_chunk_word(fb, pfn, order, w, mask)                          \
	for (uint32_t c_ = (pfn) >> (fb)->order,                               \
		      e_ = (uint32_t)(((uint64_t)(pfn) + (1ull << (order))) >> \
				      (fb)->order);                            \
	     c_ < e_ && ((w) = c_ / BITS_PER_WORD,                             \
			 (mask) = chunk_mask(c_, e_), true);                   \
	     c_ = ((w) + 1) * BITS_PER_WORD)

/* The bits of chunks [c, e) that lie in c's word. */
static inline uint64_t chunk_mask(uint32_t c, uint32_t e)
{
	uint32_t lo = c % BITS_PER_WORD;
	uint32_t n = e - c < BITS_PER_WORD - lo ? e - c : BITS_PER_WORD - lo;

	return (n == BITS_PER_WORD ? ~0ull : ((1ull << n) - 1)) << lo;
}

void free_bitmap_add_locked(struct zone *zone, uint32_t pfn, unsigned int order)
{
	struct free_bitmap *fb = atomic_load_explicit(
		&zone->zone_pgdat->free_bitmap, memory_order_acquire);
	uint32_t w;
	uint64_t mask;

	MM_ASSERT_HELD(&zone->lock);
	if (!fb)
		return;
	for_each_chunk_word(fb, pfn, order, w, mask) {
		/* A chunk in flight gets F back from the ack, if still free. */
		mask &= ~atomic_load(&fb_inflight(fb)[w]);
		if (mask)
			atomic_fetch_or(&fb_free(fb)[w], mask);
	}
}

void free_bitmap_del_locked(struct zone *zone, uint32_t pfn, unsigned int order)
{
	struct free_bitmap *fb = atomic_load_explicit(
		&zone->zone_pgdat->free_bitmap, memory_order_acquire);
	uint32_t w;
	uint64_t mask;

	MM_ASSERT_HELD(&zone->lock);
	if (!fb)
		return;
	for_each_chunk_word(fb, pfn, order, w, mask)
		atomic_fetch_and(&fb_free(fb)[w], ~mask);
}

/*
 * An allocation got [@pfn, @pfn + 2^@order): if a chunk it lies in is in
 * flight, sleep until the ack.  The allocator cleared F (the delete, under
 * the zone lock) before this reads I, and the host sets I before it claims
 * F: so a chunk the host claimed first is seen here in flight.
 */
void free_bitmap_alloc_wait(struct free_bitmap *fb, uint32_t pfn,
			    unsigned int order)
{
	uint32_t first = pfn >> fb->order;
	uint32_t last = (uint32_t)(((uint64_t)pfn + (1ull << order) - 1) >> fb->order);
	uint64_t t0 = 0;

	if (last >= fb->nr_chunks)
		last = fb->nr_chunks - 1;
	for (uint32_t c = first; c <= last; c++) {
		_Atomic uint64_t *word = &fb_inflight(fb)[c / BITS_PER_WORD];
		uint64_t bit = 1ull << (c % BITS_PER_WORD);

		while (atomic_load(word) & bit) {
			unsigned int seq = atomic_load(&fb->ack_seq);

			if (!(atomic_load(word) & bit))
				break;
			if (!t0)
				t0 = platform_now_ns();
			platform_park(&fb->ack_seq, seq);
		}
	}
	if (t0) {
		atomic_fetch_add_explicit(&fb->alloc_waits, 1, memory_order_relaxed);
		atomic_fetch_add_explicit(&fb->alloc_wait_ns,
					  platform_now_ns() - t0,
					  memory_order_relaxed);
	}
}

/* I bits cleared: let every waiting allocation look again. */
static void free_bitmap_wake(struct free_bitmap *fb)
{
	atomic_fetch_add(&fb->ack_seq, 1);
	platform_wake(&fb->ack_seq, INT_MAX);
}

static bool runs_extend(struct free_bitmap *fb,
			const struct free_page_hint_run *runs, unsigned int nr,
			uint32_t c)
{
	return nr && runs[nr - 1].pfn + runs[nr - 1].nr_pages == c << fb->order;
}

/* Chunk @c fits in @runs: it extends the last run, or a run is left. */
static bool runs_fit(struct free_bitmap *fb, const struct free_page_hint_run *runs,
		     unsigned int nr, unsigned int max, uint32_t c)
{
	return runs_extend(fb, runs, nr, c) || nr < max;
}

static void runs_add(struct free_bitmap *fb, struct free_page_hint_run *runs,
		     unsigned int *nr, uint32_t c)
{
	if (runs_extend(fb, runs, *nr, c))
		runs[*nr - 1].nr_pages += 1u << fb->order;
	else
		runs[(*nr)++] = (struct free_page_hint_run){ c << fb->order,
							     1u << fb->order };
}

int free_bitmap_request_hints(struct free_bitmap *fb, uint32_t cmd_id,
			      struct free_page_hint_run *runs, unsigned int max,
			      uint64_t max_pages, unsigned int *nr)
{
	bool lost = false, full = false;
	uint64_t pages = 0;
	int err = 0;

	*nr = 0;
	if (cmd_id == FREE_BITMAP_CMD_ID_STOP || cmd_id == FREE_BITMAP_CMD_ID_DONE ||
	    !max || max > FREE_BITMAP_RUNS_MAX)
		return -GMM_EINVAL;
	if (!fb->pgdat)
		return -GMM_ENOENT;
	spin_lock(&fb->cmd_lock);
	if (!fb->accepting) {
		err = -GMM_ENOENT;
		goto out;
	}
	if (fb->cmd_id) {
		err = -GMM_EBUSY;
		goto out;
	}
	/*
	 * From the cursor's chunk round to just before it: its word first
	 * from the cursor up, the other words, its word again below it.
	 */
	for (uint32_t k = 0; k <= fb->nr_words && !full; k++) {
		uint32_t w = (fb->cursor / BITS_PER_WORD + k) % fb->nr_words;
		uint64_t below = (1ull << (fb->cursor % BITS_PER_WORD)) - 1;
		uint64_t want = atomic_load(&fb_free(fb)[w]);

		if (k == 0)
			want &= ~below;
		else if (k == fb->nr_words)
			want &= below;

		for (; want; want &= want - 1) {
			uint64_t bit = want & -want;
			uint32_t c = w * BITS_PER_WORD + (uint32_t)__builtin_ctzll(want);

			/* The cap: at least one chunk, then no chunk past it. */
			if (!runs_fit(fb, runs, *nr, max, c) ||
			    (max_pages && pages &&
			     pages + (1u << fb->order) > max_pages)) {
				full = true;
				fb->cursor = c; /* the next command starts here */
				break;
			}
			/*
			 * I first, then claim F: an allocation clears F and
			 * then reads I (free_bitmap_alloc_wait()), so whichever
			 * of the two comes second sees the other.
			 */
			atomic_fetch_or(&fb_inflight(fb)[w], bit);
			if (!(atomic_fetch_and(&fb_free(fb)[w], ~bit) & bit)) {
				/* Allocated since we looked: not ours. */
				atomic_fetch_and(&fb_inflight(fb)[w], ~bit);
				atomic_fetch_add_explicit(&fb->lost_claims, 1,
							  memory_order_relaxed);
				lost = true;
				continue;
			}
			runs_add(fb, runs, nr, c);
			pages += 1u << fb->order;
		}
	}
	if (*nr) {
		fb->cmd_id = cmd_id;
		fb->nr_runs = *nr;
		for (unsigned int i = 0; i < *nr; i++) {
			fb->runs[i] = runs[i];
			atomic_fetch_add_explicit(&fb->hinted_pages, runs[i].nr_pages,
						  memory_order_relaxed);
		}
		atomic_fetch_add_explicit(&fb->requests, 1, memory_order_relaxed);
	}
out:
	spin_unlock(&fb->cmd_lock);
	if (lost)
		free_bitmap_wake(fb);
	return err;
}

int free_bitmap_ack(struct free_bitmap *fb, uint32_t cmd_id)
{
	struct pglist_data *pgdat = fb->pgdat;
	struct zone *locked = NULL;

	if (!pgdat)
		return -GMM_EINVAL;
	spin_lock(&fb->cmd_lock);
	if (!fb->cmd_id || cmd_id != fb->cmd_id) {
		spin_unlock(&fb->cmd_lock);
		atomic_fetch_add_explicit(&fb->bad_acks, 1, memory_order_relaxed);
		return -GMM_EINVAL;
	}
	for (unsigned int i = 0; i < fb->nr_runs; i++) {
		uint32_t end = fb->runs[i].pfn + fb->runs[i].nr_pages;

		for (uint32_t pfn = fb->runs[i].pfn; pfn < end;
		     pfn += 1u << fb->order) {
			uint32_t c = pfn >> fb->order, w = c / BITS_PER_WORD;
			uint64_t bit = 1ull << (c % BITS_PER_WORD);
			struct zone *zone = page_zone(pgdat, pfn);
			unsigned int order;

			/* F and I of a chunk change under its zone's lock. */
			if (zone != locked) {
				if (locked)
					spin_unlock(&locked->lock);
				spin_lock(&zone->lock);
				locked = zone;
			}
			atomic_fetch_and(&fb_inflight(fb)[w], ~bit);
			if (zone_find_free_block_locked(zone, pfn, fb->order,
							&order) != PFN_NONE)
				atomic_fetch_or(&fb_free(fb)[w], bit);
		}
	}
	if (locked)
		spin_unlock(&locked->lock);
	fb->cmd_id = 0;
	fb->nr_runs = 0;
	spin_unlock(&fb->cmd_lock);
	atomic_fetch_add_explicit(&fb->acks, 1, memory_order_relaxed);
	free_bitmap_wake(fb);
	return 0;
}

/* Set F for every free block of @zone at or above the granularity. */
static void free_bitmap_populate(struct free_bitmap *fb, struct zone *zone)
{
	struct pglist_data *pgdat = zone->zone_pgdat;

	spin_lock(&zone->lock);
	for (unsigned int o = fb->order; o < MAX_ORDER; o++)
		for (unsigned int mt = 0; mt < MIGRATE_TYPES; mt++)
			for (uint32_t p = zone->free_area[o].free_list[mt].head;
			     p != PFN_NONE; p = pfn_to_page(pgdat, p)->next)
				free_bitmap_add_locked(zone, p, o);
	spin_unlock(&zone->lock);
}

/*
 * The first registration binds @fb to @pgdat for good: its geometry, its
 * command lock and @ack_seq.  An allocation of one registration may still
 * be in free_bitmap_alloc_wait() - reading the geometry, parked on
 * @ack_seq - when the next registration comes, so none of them is written
 * again: a reset of @ack_seq to a value a waiter read before its ack would
 * leave it asleep until some later ack.
 */
static void free_bitmap_bind(struct free_bitmap *fb, struct pglist_data *pgdat,
			     uint32_t chunks, uint32_t words)
{
	fb->pgdat = pgdat;
	fb->nr_chunks = chunks;
	fb->nr_words = words;
	for (uint64_t i = 0; i < 2ull * words; i++)
		atomic_init(&fb->bits[i], 0);
	spin_lock_init(&fb->cmd_lock);
	fb->cmd_id = 0;
	fb->nr_runs = 0;
	fb->cursor = 0;
	fb->accepting = false;
	atomic_init(&fb->ack_seq, 0);
}

int free_bitmap_register(struct pglist_data *pgdat, struct free_bitmap *fb)
{
	uint32_t chunks, words;

	if (fb->order >= MAX_ORDER)
		return -GMM_EINVAL;
	chunks = (uint32_t)((pgdat->node_spanned_pages + (1ull << fb->order) - 1) >>
			    fb->order);
	words = (uint32_t)((free_bitmap_size(pgdat->node_spanned_pages, fb->order) -
			    sizeof(*fb)) / sizeof(uint64_t) / 2);
	if (!fb->pgdat)
		free_bitmap_bind(fb, pgdat, chunks, words);
	else if (fb->pgdat != pgdat || fb->nr_chunks != chunks)
		return -GMM_EINVAL;
	/* cmd_lock first: the lock order (mm/README.md) puts it outside. */
	spin_lock(&fb->cmd_lock);
	spin_lock(&pgdat->reporting_lock);
	if (atomic_load_explicit(&pgdat->prdev, memory_order_relaxed) ||
	    atomic_load_explicit(&pgdat->hinting, memory_order_relaxed) ||
	    atomic_load_explicit(&pgdat->free_bitmap, memory_order_relaxed)) {
		spin_unlock(&pgdat->reporting_lock);
		spin_unlock(&fb->cmd_lock);
		return -GMM_EBUSY;
	}
	/*
	 * No bit is set: F was cleared by the last unregistration, I by the
	 * ack it waited for.  The statistics are this registration's.
	 */
	atomic_store(&fb->requests, 0);
	atomic_store(&fb->hinted_pages, 0);
	atomic_store(&fb->acks, 0);
	atomic_store(&fb->bad_acks, 0);
	atomic_store(&fb->alloc_waits, 0);
	atomic_store(&fb->alloc_wait_ns, 0);
	atomic_store(&fb->lost_claims, 0);
	atomic_store_explicit(&pgdat->free_bitmap, fb, memory_order_release);
	atomic_store_explicit(&pgdat->bitmap_order, fb->order,
			      memory_order_release);
	/*
	 * The lists maintain F from here on; what is free already is set
	 * under each zone lock, after that, so no delete can be missed.
	 */
	for (unsigned int z = 0; z < pgdat->nr_zones; z++)
		free_bitmap_populate(fb, &pgdat->node_zones[z]);
	fb->accepting = true;
	spin_unlock(&pgdat->reporting_lock);
	spin_unlock(&fb->cmd_lock);
	return 0;
}

/*
 * Unregistration in two halves, a command in flight between them.  First,
 * under cmd_lock, new commands are refused (@accepting).  Then it waits for
 * the ack of the command in flight, if any: the host may be discarding
 * those chunks right now, so until the ack the bitmap stays what the
 * allocation paths load (pgdat->free_bitmap) and the lists keep F - an
 * allocation that lands on a chunk in flight meanwhile sleeps until the
 * ack, as at any other time.  Only then does it stop the lists' hooks and
 * clear the pointer: every I bit is clear by then, so an allocation that
 * still loaded the pointer finds nothing to wait for.
 */
void free_bitmap_unregister(struct free_bitmap *fb)
{
	struct pglist_data *pgdat = fb->pgdat;

	if (!pgdat)
		return;
	spin_lock(&fb->cmd_lock);
	spin_lock(&pgdat->reporting_lock);
	if (atomic_load_explicit(&pgdat->free_bitmap, memory_order_relaxed) != fb ||
	    !fb->accepting) {
		spin_unlock(&pgdat->reporting_lock);
		spin_unlock(&fb->cmd_lock);
		return;
	}
	fb->accepting = false;
	spin_unlock(&pgdat->reporting_lock);
	spin_unlock(&fb->cmd_lock);
	/* The host may be discarding the command in flight: wait for its ack. */
	for (;;) {
		unsigned int seq = atomic_load(&fb->ack_seq);
		bool busy;

		spin_lock(&fb->cmd_lock);
		busy = fb->cmd_id != 0;
		spin_unlock(&fb->cmd_lock);
		if (!busy)
			break;
		platform_park(&fb->ack_seq, seq);
	}
	/*
	 * Nothing in flight, nothing to come.  The pointer stays set while
	 * the hooks stop, so no registration starts in between.
	 */
	spin_lock(&pgdat->reporting_lock);
	atomic_store(&pgdat->bitmap_order, MAX_ORDER);
	/* The lists' hooks run under a zone lock: after these, none does. */
	zones_lock_barrier(pgdat);
	/* F means nothing once the lists stop maintaining it. */
	for (uint32_t w = 0; w < fb->nr_words; w++)
		atomic_store(&fb_free(fb)[w], 0);
	atomic_store_explicit(&pgdat->free_bitmap, NULL, memory_order_release);
	spin_unlock(&pgdat->reporting_lock);
}

#define CHECK(cond, ...)                                                       \
	do {                                                                   \
		if (!(cond)) {                                                 \
			platform_bad_state(__VA_ARGS__);                       \
			err = -GMM_EUCLEAN;                                    \
			goto out;                                              \
		}                                                              \
	} while (0)

int free_bitmap_check(struct free_bitmap *fb)
{
	struct pglist_data *pgdat = fb->pgdat;
	struct zone *zone = NULL;
	int err = 0;

	if (!pgdat)
		return 0;
	spin_lock(&fb->cmd_lock);
	for (uint32_t c = 0; c < fb->nr_chunks; c++) {
		uint32_t w = c / BITS_PER_WORD, pfn = c << fb->order;
		uint64_t bit = 1ull << (c % BITS_PER_WORD);
		bool f, i, in_cmd = false;
		unsigned int order;

		/* A chunk's bits change under the lock of its first frame's zone. */
		if (page_zone(pgdat, pfn) != zone) {
			if (zone)
				spin_unlock(&zone->lock);
			zone = page_zone(pgdat, pfn);
			spin_lock(&zone->lock);
		}
		f = atomic_load(&fb_free(fb)[w]) & bit;
		i = atomic_load(&fb_inflight(fb)[w]) & bit;
		for (unsigned int r = 0; r < fb->nr_runs; r++)
			if (pfn >= fb->runs[r].pfn &&
			    pfn < fb->runs[r].pfn + fb->runs[r].nr_pages)
				in_cmd = true;
		CHECK(!(f && i), "free bitmap: chunk %u (pfn %#x) free and in flight",
		      c, pfn);
		CHECK(i == in_cmd, "free bitmap: chunk %u (pfn %#x) %s flight but %s the command's runs",
		      c, pfn, i ? "in" : "not in", in_cmd ? "in" : "not in");
		CHECK(!f || zone_find_free_block_locked(zone, pfn, fb->order,
							&order) != PFN_NONE,
		      "free bitmap: chunk %u (pfn %#x) marked free but not free",
		      c, pfn);
	}
out:
	if (zone)
		spin_unlock(&zone->lock);
	spin_unlock(&fb->cmd_lock);
	return err;
}
