/*
 * budget_policy.h - the balloon budget policy's controller: given the
 * budget's state and each guest's, the balloon targets to set and the guest
 * to kill, if any.  A pure function of its inputs and its own small state
 * (no clock, no I/O), so that every decision can be tested as a table.
 *
 * The controller, in words (docs/architecture.md says the same):
 *
 *   floor    each guest keeps at least floor = max(BP_FLOOR_MIN, RAM / 8)
 *            of available memory (stat-available-memory): it is never
 *            inflated below that.
 *   deflate  a guest whose available memory is below its floor is busy: its
 *            balloon shrinks at once, by the larger of twice its deficit and
 *            half the balloon, whatever the budget (busy guests get memory
 *            back first; if that pushes the budget over, the idle ones pay).
 *   inflate  once the budget's usage reaches BP_HIGH_PCT of its limit (or
 *            the limit holds the guests), and until it is back at
 *            BP_LOW_PCT, idle guests give back what they hold above twice
 *            their floor (the band between floor and 2 x floor is the
 *            guest's hysteresis: a guest inflated to 2 x floor is not
 *            deflated until it drops below floor), the guest with the most
 *            to spare first, at most a step (RAM / 16, at most
 *            BP_STEP_MAX) a guest a decision, no more in all than the usage
 *            is above BP_LOW_PCT.
 *   relax    below BP_LOW_PCT, a balloon shrinks by a step a decision: the
 *            guests get their memory back when the budget has room.
 *   pace     a guest is decided on only with statistics newer than its last
 *            decision (@fresh) and never while its balloon is moving
 *            (actual != target): each decision sees what the last one did.
 *   pinned   a guest whose target the operator set (the control socket's
 *            balloon, until balloon-release) is left alone: no decision,
 *            and nothing to give when the kill is weighed (it can still be
 *            the victim).
 *   kill     only when the budget is at its limit (the guests wait at it, or
 *            the host's accounting is over it) and inflating cannot hold it:
 *            no guest has anything to spare and no balloon is moving, or the
 *            limit has held for BP_STALL_ROUNDS rounds in which no balloon
 *            grew.  The victim is the guest with the most resident memory
 *            (the newest of equals), as the kill policy's.
 */
#ifndef GUESTMM_RUNNER_BUDGET_POLICY_H
#define GUESTMM_RUNNER_BUDGET_POLICY_H

#include <stdbool.h>
#include <stdint.h>

#define BP_MAX_GUESTS 64
#define BP_FLOOR_MIN (32ull << 20)
#define BP_STEP_MAX (64ull << 20)
#define BP_HIGH_PCT 85
#define BP_LOW_PCT 70
/* At the limit this many rounds with no balloon growing: inflation cannot
 * hold it.  The fleet decides every 0.1 s: 3 s. */
#define BP_STALL_ROUNDS 30
/* Less than this to spare is not worth a decision. */
#define BP_MIN_CHANGE (4ull << 20)

enum bp_reason {
	BP_KEEP,	/* no change */
	BP_INFLATE_IDLE,	/* budget high, the guest has spare memory */
	BP_DEFLATE_LOW,		/* the guest's available memory is below its floor */
	BP_DEFLATE_ROOM,	/* the budget has room: the balloon relaxes */
};

enum bp_kill_reason {
	BP_KILL_NONE,
	BP_KILL_NOTHING_SPARE,	/* at the limit, no guest can give anything */
	BP_KILL_STALLED,	/* at the limit, the balloons did not grow */
};

struct bp_guest {
	bool running;		/* alive, its driver attached, statistics seen */
	bool fresh;		/* statistics newer than its last decision */
	bool pinned;		/* the operator set its target: never decided
				   on, and counted as having nothing to give */
	uint64_t ram;		/* bytes */
	uint64_t available;	/* stat-available-memory, bytes */
	uint64_t balloon;	/* the guest's actual, bytes */
	uint64_t target;	/* the target in force, bytes */
	uint64_t resident;	/* the host's accounting, bytes */
};

struct bp_input {
	uint64_t usage, limit;	/* the budget's, bytes */
	bool at_limit;		/* guests wait at the limit, or over it */
	unsigned int n;
	struct bp_guest g[BP_MAX_GUESTS];
};

/* What the controller remembers between decisions; zero it to start. */
struct bp_state {
	bool inflating;			/* since @high, until @low */
	unsigned int stall_rounds;	/* at the limit with no balloon growing */
	uint64_t balloon_sum;		/* at the last decision */
};

struct bp_output {
	uint64_t target[BP_MAX_GUESTS];	/* == the input's target: unchanged */
	enum bp_reason why[BP_MAX_GUESTS];
	int kill;			/* a guest's index, or -1 */
	enum bp_kill_reason kill_why;
};

/* The available memory guest @g is never inflated below. */
uint64_t bp_floor(const struct bp_guest *g);

/* One decision round: @out from @in and @s, which it updates. */
void bp_decide(struct bp_state *s, const struct bp_input *in,
	       struct bp_output *out);

const char *bp_reason_name(enum bp_reason r);
const char *bp_kill_reason_name(enum bp_kill_reason r);

#endif
