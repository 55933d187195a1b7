/*
 * guest_lines.c - the gmm- lines of a guest's console (guest_lines.h).
 * Numbers are written as %llu of unsigned long long, which every printf
 * of ours (libc's, the kernel's kvsnprintf) reads the same way.
 */
#include "runner/guest_lines.h"

typedef unsigned long long ull;

#define LINE_MAX_LEN 512

/* A line built a field at a time, for the ones with an array in them. */
struct line {
	char buf[LINE_MAX_LEN];
	unsigned int len;
};

static void line_str(struct line *l, const char *s)
{
	while (*s && l->len + 1 < sizeof(l->buf))
		l->buf[l->len++] = *s++;
	l->buf[l->len] = 0;
}

static void line_u64(struct line *l, uint64_t v)
{
	char tmp[24];
	int n = 0;

	do {
		tmp[n++] = (char)('0' + v % 10);
		v /= 10;
	} while (v);
	if (l->len + 1 + (unsigned int)n + 1 > sizeof(l->buf))
		return;
	l->buf[l->len++] = ' ';
	while (n)
		l->buf[l->len++] = tmp[--n];
	l->buf[l->len] = 0;
}

void guest_lines_ready(const struct guest_lines *gl, uint64_t offered,
		       uint64_t features, bool reporting)
{
	gl->emit(gl->ctx, "gmm-ready %llu %llu %d\n", (ull)offered,
		 (ull)features, reporting);
}

void guest_lines_sample(const struct guest_lines *gl, const struct run_sample *s)
{
	gl->emit(gl->ctx, "gmm-sample %llu %llu %u %d %llu %llu %llu %llu\n",
		 (ull)s->guest_free, (ull)s->guest_reported, s->cycle, s->phase,
		 (ull)s->freed_bytes, (ull)s->freed_at_ns, (ull)s->frames,
		 (ull)s->blocks);
	/* working-set: its anonymous memory, after the sample it belongs to. */
	if (s->anon)
		gl->emit(gl->ctx,
			 "gmm-anon-sample %d %llu %llu %llu %llu %llu %llu %llu\n",
			 s->filled, (ull)s->accesses, (ull)s->zswap_pool_bytes,
			 (ull)s->zswap_stored_pages, (ull)s->zswap_written_back,
			 (ull)s->swap_used_pages, (ull)s->pswpin,
			 (ull)s->pswpout);
}

void guest_lines_phase(const struct guest_lines *gl, int phase)
{
	gl->emit(gl->ctx, "gmm-phase %d\n", phase);
}

void guest_lines_result(const struct guest_lines *gl, const struct run_result *r)
{
	gl->emit(gl->ctx, "gmm-end %.6f %.6f %llu %.3f %llu %llu %llu %llu\n",
		 r->elapsed_s, r->measured_s, (ull)r->frames, r->frames_per_s,
		 (ull)r->blocks, (ull)r->errors, (ull)r->alloc_failures,
		 (ull)r->stats.report_failures);
	/* Where the guest process's cores went over the measured part. */
	gl->emit(gl->ctx, "gmm-rusage %d %.6f %.6f %llu %llu %llu\n",
		 r->warmed_up, r->cpu_user_s, r->cpu_sys_s,
		 (ull)r->vol_switches, (ull)r->invol_switches, (ull)r->parks);
	/* The strategy's own figures: the device sees only reports. */
	gl->emit(gl->ctx, "gmm-hint %u %llu %llu %llu %llu %llu\n",
		 (unsigned int)r->stats.hinting, (ull)r->stats.worker_cpu_ns,
		 (ull)r->stats.hint_dropped, (ull)r->stats.hint_stale,
		 (ull)r->stats.alloc_waits, (ull)r->stats.alloc_wait_ns);
	for (unsigned int z = 0; z < r->nr_zones; z++) {
		const struct zone_stats *st = &r->zones[z];

		gl->emit(gl->ctx, "gmm-zone %u %s %llu %llu %llu %llu %llu %llu %llu\n",
			 z, r->zone_name[z], (ull)st->managed_pages,
			 (ull)st->free_pages, (ull)st->reported_pages,
			 (ull)st->pcp_pages, (ull)st->watermark[WMARK_MIN],
			 (ull)st->watermark[WMARK_LOW],
			 (ull)st->watermark[WMARK_HIGH]);
		for (unsigned int k = 0; k < 2; k++)
			for (unsigned int mt = 0; mt < MIGRATE_TYPES; mt++) {
				struct line l = { .len = 0 };

				line_str(&l, "gmm-blocks");
				line_u64(&l, z);
				line_u64(&l, k);
				line_u64(&l, mt);
				for (unsigned int o = 0; o < MAX_ORDER; o++)
					line_u64(&l, k ? st->reported_blocks[o][mt]
						       : st->free_blocks[o][mt]);
				gl->emit(gl->ctx, "%s\n", l.buf);
			}
	}
	if (r->compacted) {
		gl->emit(gl->ctx, "gmm-compacted %.3f %llu %llu %llu %llu %llu %llu\n",
			 r->compact_ms, (ull)r->compact_res.migrate_scanned,
			 (ull)r->compact_res.free_scanned,
			 (ull)r->compact_res.isolated,
			 (ull)r->compact_res.migrate.moved,
			 (ull)r->compact_res.migrate.released,
			 (ull)r->compact_res.migrate.failed);
		for (unsigned int k = 0; k < 2; k++)
			for (unsigned int z = 0; z < r->nr_zones; z++) {
				struct line l = { .len = 0 };

				line_str(&l, "gmm-buddy");
				line_u64(&l, k);
				line_u64(&l, z);
				for (unsigned int o = 0; o < MAX_ORDER; o++)
					line_u64(&l, r->buddy[k][z][o]);
				gl->emit(gl->ctx, "%s\n", l.buf);
			}
	}
	if (r->has_anon) {
		const struct anon_stats *a = &r->anon;
		const struct zswap_stats *z = &a->zswap;

		gl->emit(gl->ctx,
			 "gmm-anon %llu %llu %llu %llu %llu %d %llu %llu %llu %llu %llu %llu %llu\n",
			 (ull)r->accesses, (ull)a->nr_inactive, (ull)a->nr_active,
			 (ull)a->swap_slots, (ull)a->swap_free, a->has_zswap,
			 (ull)z->pool_total_size, (ull)z->pool_limit_bytes,
			 (ull)z->stored_pages, (ull)z->same_filled_pages,
			 (ull)z->compressed_bytes,
			 (ull)a->events[SWAP_UNREADABLE], (ull)a->swap_bad);
		if (r->faults_timed)
			gl->emit(gl->ctx, "gmm-faults %llu %llu %llu %llu %llu\n",
				 (ull)r->faults_timed, (ull)r->fault_p50_ns,
				 (ull)r->fault_p99_ns, (ull)r->fault_p999_ns,
				 (ull)r->fault_max_ns);
		for (unsigned int e = 0; e < NR_VM_EVENTS; e++)
			gl->emit(gl->ctx, "gmm-vm %u %llu\n", e, (ull)a->events[e]);
		for (unsigned int e = 0; e < NR_ZSWAP_EVENTS; e++)
			gl->emit(gl->ctx, "gmm-zswap %u %llu\n", e, (ull)z->events[e]);
		for (unsigned int e = 0; e < NR_COMPACT_EVENTS; e++)
			gl->emit(gl->ctx, "gmm-compact %u %llu\n", e,
				 (ull)r->compact.events[e]);
	}
	for (unsigned int c = 0; c < NR_MM_LOCK_CLASSES; c++) {
		const struct lock_stats *l = &r->locks[c];

		gl->emit(gl->ctx, "gmm-lock %u %llu %llu %llu %llu %llu %llu %llu\n",
			 c, (ull)l->acquisitions, (ull)l->contentions,
			 (ull)l->wait_ns, (ull)l->wait_max_ns, (ull)l->hold_ns,
			 (ull)l->hold_max_ns, (ull)l->timed);
	}
}

void guest_lines_done(const struct guest_lines *gl)
{
	gl->emit(gl->ctx, "gmm-done\n");
}
