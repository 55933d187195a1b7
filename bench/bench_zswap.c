/*
 * bench_zswap.c - `guestmm bench zswap`: zswap store and load against the
 * compressor alone on the same pages (the limit: zswap can only add the
 * same-filled check, the pool allocation, the copy into the pool and the
 * table), the effective compression ratio (pool bytes against the sum of
 * compressed sizes), and stored pages per pool page.
 *
 * The pages: 64 MiB of the two kinds of the tests' mix that zswap
 * compresses into its pool, alternately: a short repeated motif, and half
 * random half zero (about 2:1).  (The other two kinds take no compression
 * work worth timing: a same-filled page is stored as its word, a random
 * one is refused as too big for zbud.)  The compressor alone compresses
 * each page into a hot 8 KiB buffer, as zswap_store() does, and
 * decompresses the same outputs; so the ratio store/limit is what zswap's
 * bookkeeping costs.  Rounds interleave the four measurements (compress
 * alone, store, decompress alone, load); medians of --pairs rounds; one row
 * per compressor and pool (zbud, the dense pool, or both: --zpool).
 *
 * --pages linux replaces the pages with those Linux 6.1's zsmalloc was
 * measured on (issue 19): 1 KiB random then 3 KiB of a repeated 16-byte
 * pattern, a different pattern each page; stored pages per pool page is
 * the figure to set beside Linux's 2.74.
 */
#define _GNU_SOURCE
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>

#include "bench/bench.h"
#include "host/tmp_dir.h"
#include "runner/run.h"
#include "mm/anon.h"
#include "mm/zbud.h"
#include "mm/zdense.h"
#include "tools/cli.h"

#define MIB (1ull << 20)
#define NPAGES (64 * MIB / PAGE_SIZE)
#define RAM (512 * MIB)

static uint64_t xs(uint64_t *s)
{
	*s ^= *s << 13;
	*s ^= *s >> 7;
	*s ^= *s << 17;
	return *s;
}

static void page_fill(uint64_t *w, uint64_t i, bool linux_pages)
{
	uint64_t s = (i + 1) * 0x9e3779b97f4a7c15ull;

	if (linux_pages) {
		uint64_t p0 = xs(&s), p1 = xs(&s);

		for (size_t k = 0; k < PAGE_SIZE / 8; k++)
			w[k] = k < 1024 / 8 ? xs(&s) : (k % 2 ? p1 : p0);
		return;
	}
	for (size_t k = 0; k < PAGE_SIZE / 8; k++) {
		if (i % 2)
			w[k] = (k % 8) * s;
		else
			w[k] = k % 2 ? 0 : xs(&s);
	}
}

struct zrow {
	double store[MAX_REPS], load[MAX_REPS], comp[MAX_REPS], decomp[MAX_REPS];
	uint64_t stored, same, pool_bytes, compressed_bytes, poor;
};

/* Return: 0, or 1 after a message. */
static int zswap_row(const char *name, const struct zpool_driver *zpool, bool linux_pages,
		     unsigned int reps, struct zrow *row)
{
	const struct compressor *c = compressor_find(name);
	struct mm_boot_params p = { .ram_bytes = RAM, .nr_cpus = 1 };
	struct pglist_data *pgdat = NULL;
	struct swap_io *swap = NULL;
	struct anon_config cfg;
	struct zswap *zs;
	char *pages, *out, *clen_buf, *sink;
	int *clen;
	void *ram;
	int ret = 1;

	ram = mmap(NULL, RAM, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
	pages = malloc(NPAGES * PAGE_SIZE);
	out = malloc(NPAGES * 2 * PAGE_SIZE);
	sink = malloc(256 * PAGE_SIZE);
	clen_buf = malloc(NPAGES * sizeof(int));
	clen = (int *)clen_buf;
	if (!c || ram == MAP_FAILED || !pages || !out || !clen_buf || !sink) {
		fprintf(stderr, "guestmm: bench zswap: no compressor %s or no memory\n", name);
		goto out;
	}
	p.ram = ram;
	if (mm_init(&p, &pgdat)) {
		fprintf(stderr, "guestmm: bench zswap: cannot set up a %llu MiB node\n",
			(unsigned long long)(RAM / MIB));
		goto out;
	}
	/* On failure its line says why, naming the size and the directory. */
	if (swap_file_create(tmp_dir_base(), NPAGES * PAGE_SIZE, &swap))
		goto out;
	anon_config_init(&cfg);
	cfg.swap = swap;
	cfg.kswapd = false;
	cfg.zswap_cfg.compressor = name;
	cfg.zswap_cfg.zpool = zpool;
	if (anon_init(pgdat, &cfg))
		goto out;
	zs = pgdat->lruvec->zswap;
	for (uint64_t i = 0; i < NPAGES; i++)
		page_fill((uint64_t *)(pages + i * PAGE_SIZE), i, linux_pages);
	for (unsigned int r = 0; r < reps; r++) {
		struct zswap_stats st;
		double t0;

		t0 = run_now_s();
		for (uint64_t i = 0; i < NPAGES; i++) {
			unsigned char hot[2 * PAGE_SIZE];

			clen[i] = c->compress(c, pages + i * PAGE_SIZE, PAGE_SIZE, hot,
					      sizeof(hot));
			__asm__ volatile("" : : "r"(hot) : "memory");
		}
		row->comp[r] = NPAGES * PAGE_SIZE / (run_now_s() - t0) / (1 << 30);
		/*
		 * The outputs, untimed, for decompression alone: packed one
		 * after the other, as dense as the pool holds them.
		 */
		for (uint64_t i = 0, at = 0; i < NPAGES; i++) {
			clen[i] = c->compress(c, pages + i * PAGE_SIZE, PAGE_SIZE, out + at,
					      2 * PAGE_SIZE);
			at += clen[i] > 0 ? (uint64_t)clen[i] : 0;
		}
		/* The caller of zswap_store() owns the slot: here, nobody else. */
		t0 = run_now_s();
		for (uint64_t i = 0; i < NPAGES; i++)
			zswap_store(zs, (uint32_t)i, pages + i * PAGE_SIZE);
		row->store[r] = NPAGES * PAGE_SIZE / (run_now_s() - t0) / (1 << 30);
		t0 = run_now_s();
		for (uint64_t i = 0, at = 0; i < NPAGES; at += clen[i] > 0 ? (uint64_t)clen[i] : 0, i++)
			if (clen[i] > 0)
				c->decompress(c, out + at, (size_t)clen[i],
					      sink + (i % 256) * PAGE_SIZE,
					      PAGE_SIZE);
		row->decomp[r] = NPAGES * PAGE_SIZE / (run_now_s() - t0) / (1 << 30);
		zswap_get_stats(zs, &st);
		t0 = run_now_s();
		for (uint64_t i = 0; i < NPAGES; i++)
			zswap_load(zs, (uint32_t)i, sink + (i % 256) * PAGE_SIZE);
		/* Over the pages zswap holds: the others it does not load. */
		row->load[r] = st.stored_pages * PAGE_SIZE / (run_now_s() - t0) / (1 << 30);
		/* What was loaded is what was stored (untimed, every 97th page). */
		for (uint64_t i = 0; i < NPAGES; i += 97) {
			int err = zswap_load(zs, (uint32_t)i, sink);

			if (err || memcmp(sink, pages + i * PAGE_SIZE, PAGE_SIZE)) {
				fprintf(stderr, "guestmm: bench zswap: %s: page %llu loaded %s\n",
					name, (unsigned long long)i,
					err ? "with an error" : "different from what was stored");
				goto out;
			}
		}
		row->stored = st.stored_pages;
		row->same = st.same_filled_pages;
		row->pool_bytes = st.pool_total_size;
		row->compressed_bytes = st.compressed_bytes;
		row->poor = st.events[ZSWAP_REJECT_COMPRESS_POOR];
		for (uint64_t i = 0; i < NPAGES; i++)
			zswap_invalidate(zs, (uint32_t)i);
		if (row->stored != NPAGES)
			fprintf(stderr, "guestmm: bench zswap: %s: %llu of %llu pages stored\n", name,
				(unsigned long long)row->stored, (unsigned long long)NPAGES);
	}
	/* Every source page still as written (the loads were checked above). */
	for (uint64_t i = 0; i < NPAGES; i += 97) {
		uint64_t w[PAGE_SIZE / 8];

		page_fill(w, i, linux_pages);
		if (memcmp(w, pages + i * PAGE_SIZE, PAGE_SIZE)) {
			fprintf(stderr, "guestmm: bench zswap: page %llu changed\n",
				(unsigned long long)i);
			goto out;
		}
	}
	ret = 0;
out:
	if (pgdat && pgdat->lruvec)
		anon_fini(pgdat);
	if (swap)
		swap_file_destroy(swap);
	if (ram != MAP_FAILED)
		munmap(ram, RAM);
	free(pages);
	free(out);
	free(sink);
	free(clen_buf);
	return ret;
}

int bench_zswap(const struct bench_opts *b)
{
	static const char *const names[] = { "lz4", "zstd" };
	static struct zrow rows[2][2];
	unsigned int reps = b->pairs, np = b->nr_zpools;

	/* Compressor by compressor, the pools one after the other. */
	for (unsigned int k = 0; k < 2; k++)
		for (unsigned int z = 0; z < np; z++)
			if (zswap_row(names[k], b->zpools[z], b->linux_pages, reps, &rows[k][z]))
				return 1;
	for (unsigned int k = 0; k < 2; k++)
		for (unsigned int z = 0; z < np; z++)
			if (!(median(rows[k][z].store, reps) > 0) || !rows[k][z].pool_bytes ||
			    rows[k][z].stored == rows[k][z].same)
				return bench_measured_nothing("zswap", "%s, %s: nothing stored",
							      names[k], b->zpools[z]->name);
	if (b->json) {
		struct json j;

		json_begin(&j, stdout);
		json_str(&j, "bench", "zswap");
		json_str(&j, "pages", b->linux_pages ? "linux" : "halves");
		json_u64(&j, "bytes", NPAGES * PAGE_SIZE);
		json_u64(&j, "rounds", reps);
		json_array(&j, "compressors");
		for (unsigned int k = 0; k < 2; k++) {
			for (unsigned int z = 0; z < np; z++) {
				struct zrow *r = &rows[k][z];
				double st = median(r->store, reps), co = median(r->comp, reps);
				double lo = median(r->load, reps), de = median(r->decomp, reps);
				uint64_t objs = r->stored - r->same;

				json_object(&j, NULL);
				json_str(&j, "compressor", names[k]);
				json_str(&j, "zpool", b->zpools[z]->name);
				json_double(&j, "store_gib_per_s", st);
				json_double(&j, "compress_gib_per_s", co);
				json_double(&j, "store_over_compress", st / co);
				json_double(&j, "load_gib_per_s", lo);
				json_double(&j, "decompress_gib_per_s", de);
				json_double(&j, "load_over_decompress", lo / de);
				json_u64(&j, "stored_pages", r->stored);
				json_u64(&j, "same_filled_pages", r->same);
				json_u64(&j, "pool_bytes", r->pool_bytes);
				json_u64(&j, "compressed_bytes", r->compressed_bytes);
				json_double(&j, "ratio_pool", (double)objs * PAGE_SIZE / (double)r->pool_bytes);
				json_double(&j, "ratio_compressed",
					    (double)objs * PAGE_SIZE / (double)r->compressed_bytes);
				json_double(&j, "pool_over_compressed",
					    (double)r->compressed_bytes / (double)r->pool_bytes);
				json_double(&j, "objects_per_pool_page",
					    (double)objs / (double)(r->pool_bytes / PAGE_SIZE));
				json_object_end(&j);
			}
		}
		json_array_end(&j);
		json_end(&j);
		return 0;
	}
	printf("64 MiB: %s; %u rounds, medians\n",
	       b->linux_pages ? "pages of 1 KiB random and 3 KiB of a 16-byte pattern"
			      : "half motif, half 'half random half zero' pages",
	       reps);
	printf("%-5s %-5s %9s %9s %8s %9s %9s %8s %8s %8s %8s %7s %10s\n", "comp", "pool", "store",
	       "compress", "store/", "load", "decomp.", "load/", "stored", "ratio", "ratio", "pool/",
	       "objects");
	printf("%-5s %-5s %9s %9s %8s %9s %9s %8s %8s %8s %8s %7s %10s\n", "", "", "GiB/s", "alone",
	       "limit", "GiB/s", "alone", "limit", "pages", "pool", "compr.", "compr.", "/pool pg");
	for (unsigned int k = 0; k < 2; k++) {
		for (unsigned int z = 0; z < np; z++) {
			struct zrow *r = &rows[k][z];
			double st = median(r->store, reps), co = median(r->comp, reps);
			double lo = median(r->load, reps), de = median(r->decomp, reps);
			uint64_t objs = r->stored - r->same;

			printf("%-5s %-5s %9.2f %9.2f %8.2f %9.2f %9.2f %8.2f %8llu %8.2f %8.2f %7.3f %10.2f\n",
			       names[k], b->zpools[z]->name, st, co, st / co, lo, de, lo / de,
			       (unsigned long long)r->stored,
			       (double)objs * PAGE_SIZE / (double)r->pool_bytes,
			       (double)objs * PAGE_SIZE / (double)r->compressed_bytes,
			       (double)r->compressed_bytes / (double)r->pool_bytes,
			       (double)objs / (double)(r->pool_bytes / PAGE_SIZE));
		}
	}
	printf("ratio pool: bytes of the pages zswap compressed / bytes of pool pages; ratio compr.:\n"
	       "the same / the sum of compressed sizes (what a perfect allocator would reach);\n"
	       "pool/compr.: the first over the second.  objects/pool pg: stored pages per pool page.\n");
	return 0;
}
