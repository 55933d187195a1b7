/*
 * test_pcp_batch.c - the helpers a per-CPU flush runs before it takes the
 * zone lock, checked on their own against plain references: pfn_sort()
 * against qsort(), pcp_premerge() against the buddy decomposition of the same
 * frames.  Both are static, so page_alloc.c is compiled into this program
 * (the library's copy is then never linked in).  Random batches of every
 * size up to PCP_BATCH_MAX, shaped as flushes see them: runs up and down,
 * shuffles, gaps; the seed is printed on failure.
 */
#include "testutil.h"

#include "mm/page_alloc.c"

#define ROUNDS 20000

static int cmp_u32(const void *a, const void *b)
{
	uint32_t x = *(const uint32_t *)a, y = *(const uint32_t *)b;

	return (x > y) - (x < y);
}

/* @n distinct frame numbers from @base up, with gaps, in a random shape. */
static void batch_fill(uint32_t *v, unsigned int n, uint64_t *rng)
{
	uint32_t base = (uint32_t)(test_rand(rng) % (1u << 20)) & ~255u;
	unsigned int gaps = (unsigned int)(test_rand(rng) % 4);

	for (unsigned int i = 0; i < n; i++) {
		base += 1 + (gaps ? (uint32_t)(test_rand(rng) % (gaps * 2)) / 2 : 0);
		v[i] = base;
	}
	switch (test_rand(rng) % 4) {
	case 0: /* shuffled */
		for (unsigned int i = n; i > 1; i--) {
			unsigned int j = (unsigned int)(test_rand(rng) % i);
			uint32_t t = v[i - 1];

			v[i - 1] = v[j];
			v[j] = t;
		}
		break;
	case 1: /* runs, each turned round or not, in shuffled order */
		for (unsigned int i = 0; i < n;) {
			unsigned int len = 1 + (unsigned int)(test_rand(rng) % 40);

			if (len > n - i)
				len = n - i;
			if (test_rand(rng) & 1)
				for (unsigned int l = i, r = i + len - 1; l < r; l++, r--) {
					uint32_t t = v[l];

					v[l] = v[r];
					v[r] = t;
				}
			if (i && (test_rand(rng) & 1))
				for (unsigned int k = 0; k < len; k++) {
					uint32_t t = v[k];

					v[k] = v[i + k];
					v[i + k] = t;
				}
			i += len;
		}
		break;
	case 2: /* neighbours swapped: runs of two */
		for (unsigned int i = 0; i + 1 < n; i += 2) {
			uint32_t t = v[i];

			v[i] = v[i + 1];
			v[i + 1] = t;
		}
		break;
	default: /* descending */
		for (unsigned int l = 0, r = n ? n - 1 : 0; l < r; l++, r--) {
			uint32_t t = v[l];

			v[l] = v[r];
			v[r] = t;
		}
	}
}

static void test_pfn_sort_against_qsort(void **state)
{
	uint64_t seed = test_seed(), rng = seed;

	for (unsigned long round = 0; round < ROUNDS; round++) {
		uint32_t v[PCP_BATCH_MAX], want[PCP_BATCH_MAX], tmp[PCP_BATCH_MAX];
		unsigned int n = (unsigned int)(test_rand(&rng) % (PCP_BATCH_MAX + 1));

		batch_fill(v, n, &rng);
		memcpy(want, v, n * sizeof(*v));
		qsort(want, n, sizeof(*want), cmp_u32);
		pfn_sort(v, n, tmp);
		CHECK_SEED(!memcmp(v, want, n * sizeof(*v)), seed, round);
	}
}

/*
 * The reference: each aligned chunk of the largest order a flush builds is
 * one block when all its frames are in the batch, else its two halves are
 * looked at in turn, down to single frames.
 */
static unsigned int buddy_blocks(const uint8_t *in, uint32_t base, uint32_t pfn,
				 unsigned int order, uint32_t *out_pfn,
				 uint8_t *out_order)
{
	unsigned int all = 1, nr = 0;

	for (uint32_t p = pfn; p < pfn + (1u << order) && all; p++)
		all = in[p - base];
	if (all) {
		out_pfn[0] = pfn;
		out_order[0] = (uint8_t)order;
		return 1;
	}
	if (!order)
		return 0;
	nr = buddy_blocks(in, base, pfn, order - 1, out_pfn, out_order);
	return nr + buddy_blocks(in, base, pfn + (1u << (order - 1)), order - 1,
				 out_pfn + nr, out_order + nr);
}

static void test_premerge_against_buddy_decomposition(void **state)
{
	uint64_t seed = test_seed(), rng = seed;
	const unsigned int top = PAGEBLOCK_ORDER - 1;

	for (unsigned long round = 0; round < ROUNDS; round++) {
		uint32_t v[PCP_BATCH_MAX], tmp[PCP_BATCH_MAX], want[PCP_BATCH_MAX];
		uint8_t order[PCP_BATCH_MAX], want_order[PCP_BATCH_MAX];
		unsigned int n = (unsigned int)(test_rand(&rng) % (PCP_BATCH_MAX + 1));
		unsigned int nr, want_nr = 0;
		uint32_t base, end;
		uint8_t *in;

		batch_fill(v, n, &rng);
		pfn_sort(v, n, tmp);
		if (!n)
			continue;
		base = v[0] & ~((1u << top) - 1);
		end = (v[n - 1] | ((1u << top) - 1)) + 1;
		in = calloc(end - base, 1);
		assert_non_null(in);
		for (unsigned int i = 0; i < n; i++)
			in[v[i] - base] = 1;
		for (uint32_t c = base; c < end; c += 1u << top)
			want_nr += buddy_blocks(in, base, c, top, want + want_nr,
						want_order + want_nr);
		free(in);
		nr = pcp_premerge(v, order, n);
		CHECK_SEED(nr == want_nr, seed, round);
		CHECK_SEED(!memcmp(v, want, nr * sizeof(*v)), seed, round);
		CHECK_SEED(!memcmp(order, want_order, nr), seed, round);
	}
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_pfn_sort_against_qsort),
		cmocka_unit_test(test_premerge_against_buddy_decomposition),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
