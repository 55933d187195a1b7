/*
 * budget_policy.c - the balloon budget policy's controller (see
 * budget_policy.h for what it decides and why).
 */
#include "runner/budget_policy.h"

#include <stddef.h>

#define PAGE_BYTES 4096ull

static uint64_t min_u64(uint64_t a, uint64_t b)
{
	return a < b ? a : b;
}

static uint64_t max_u64(uint64_t a, uint64_t b)
{
	return a > b ? a : b;
}

/* Targets are in whole 4 KiB pages, as the device counts them. */
static uint64_t page_down(uint64_t b)
{
	return b & ~(PAGE_BYTES - 1);
}

uint64_t bp_floor(const struct bp_guest *g)
{
	return max_u64(BP_FLOOR_MIN, g->ram / 8);
}

/* What @g could give now: its available memory above twice its floor. */
static uint64_t bp_spare(const struct bp_guest *g)
{
	uint64_t keep = 2 * bp_floor(g);

	return g->available > keep ? g->available - keep : 0;
}

static bool bp_moving(const struct bp_guest *g)
{
	return g->target != g->balloon;
}

/* A balloon's step: at most BP_STEP_MAX, RAM / 16 for small guests. */
static uint64_t bp_step(const struct bp_guest *g)
{
	return max_u64(BP_MIN_CHANGE, min_u64(BP_STEP_MAX, g->ram / 16));
}

void bp_decide(struct bp_state *s, const struct bp_input *in,
	       struct bp_output *out)
{
	uint64_t high = in->limit / 100 * BP_HIGH_PCT;
	uint64_t low = in->limit / 100 * BP_LOW_PCT;
	uint64_t need = 0, balloon_sum = 0, victim_res = 0;
	bool can_give = false;
	unsigned int n = in->n < BP_MAX_GUESTS ? in->n : BP_MAX_GUESTS;

	out->kill = -1;
	out->kill_why = BP_KILL_NONE;
	for (unsigned int i = 0; i < BP_MAX_GUESTS; i++) {
		out->target[i] = i < n ? in->g[i].target : 0;
		out->why[i] = BP_KEEP;
	}

	/* Busy guests first: below the floor, deflate now. */
	for (unsigned int i = 0; i < n; i++) {
		const struct bp_guest *g = &in->g[i];
		uint64_t floor = bp_floor(g), give;

		if (!g->running)
			continue;
		balloon_sum += g->balloon;
		if (g->pinned || !g->fresh || g->available >= floor || !g->target)
			continue;
		give = max_u64(2 * (floor - g->available), g->target / 2);
		out->target[i] = page_down(g->target > give ? g->target - give : 0);
		out->why[i] = BP_DEFLATE_LOW;
	}

	/* How much the idle guests should give: from @high (or the limit)
	 * down to @low, over as many decisions as it takes. */
	if (in->usage >= high || in->at_limit)
		s->inflating = true;
	else if (in->usage <= low)
		s->inflating = false;
	if (s->inflating)
		need = max_u64(in->usage > low ? in->usage - low : 0,
			       in->at_limit ? BP_STEP_MAX : 0);
	while (need) {
		int best = -1;
		uint64_t best_spare = 0, take;

		for (unsigned int i = 0; i < n; i++) {
			const struct bp_guest *g = &in->g[i];
			uint64_t sp;

			if (!g->running || g->pinned || !g->fresh || bp_moving(g) ||
			    out->why[i] != BP_KEEP)
				continue;
			sp = bp_spare(g);
			if (sp >= BP_MIN_CHANGE && sp > best_spare) {
				best = (int)i;
				best_spare = sp;
			}
		}
		if (best < 0)
			break;
		take = page_down(min_u64(min_u64(best_spare, bp_step(&in->g[best])), need));
		if (!take)
			break;
		out->target[best] = in->g[best].balloon + take;
		out->why[best] = BP_INFLATE_IDLE;
		need -= take;
	}

	/* Room in the budget: the balloons relax, a step at a time. */
	if (in->usage < low && !in->at_limit) {
		for (unsigned int i = 0; i < n; i++) {
			const struct bp_guest *g = &in->g[i];
			uint64_t step = bp_step(g);

			if (!g->running || g->pinned || !g->fresh || bp_moving(g) ||
			    !g->target || out->why[i] != BP_KEEP)
				continue;
			out->target[i] = page_down(g->target > step ? g->target - step : 0);
			out->why[i] = BP_DEFLATE_ROOM;
		}
	}

	/* Can inflating still hold the limit? */
	for (unsigned int i = 0; i < n; i++) {
		const struct bp_guest *g = &in->g[i];

		if (!g->running || g->pinned)
			continue;
		if (out->why[i] == BP_INFLATE_IDLE || (bp_moving(g) && g->target > g->balloon) ||
		    bp_spare(g) >= BP_MIN_CHANGE)
			can_give = true;
	}
	if (!in->at_limit) {
		s->stall_rounds = 0;
	} else if (balloon_sum > s->balloon_sum) {
		s->stall_rounds = 0;
	} else {
		s->stall_rounds++;
	}
	s->balloon_sum = balloon_sum;
	if (!in->at_limit)
		return;
	if (!can_give)
		out->kill_why = BP_KILL_NOTHING_SPARE;
	else if (s->stall_rounds >= BP_STALL_ROUNDS)
		out->kill_why = BP_KILL_STALLED;
	else
		return;
	for (unsigned int i = 0; i < n; i++) {
		const struct bp_guest *g = &in->g[i];

		if (g->running && (out->kill < 0 || g->resident >= victim_res)) {
			out->kill = (int)i;
			victim_res = g->resident;
		}
	}
	if (out->kill < 0) {
		out->kill_why = BP_KILL_NONE;
		return;
	}
	/* The kill is the relief: the next stall counts from here. */
	s->stall_rounds = 0;
}

const char *bp_reason_name(enum bp_reason r)
{
	static const char *const name[] = {
		[BP_KEEP] = "keep",
		[BP_INFLATE_IDLE] = "idle: available memory above twice its floor while the budget is high",
		[BP_DEFLATE_LOW] = "busy: available memory below its floor",
		[BP_DEFLATE_ROOM] = "the budget has room",
	};

	return name[r];
}

const char *bp_kill_reason_name(enum bp_kill_reason r)
{
	static const char *const name[] = {
		[BP_KILL_NONE] = "none",
		[BP_KILL_NOTHING_SPARE] = "at the limit and no guest has memory to spare above twice its floor",
		[BP_KILL_STALLED] = "at the limit and no balloon grew for 3 s",
	};

	return name[r];
}
