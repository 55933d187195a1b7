/*
 * test_budget_policy.c - the balloon budget policy's decisions as a table
 * (runner/budget_policy.h): an idle guest is inflated when the budget is
 * high and never below twice its floor, a busy one is deflated whatever
 * the budget, a moving balloon or stale statistics are left alone, the
 * balloons relax when the budget has room, and a kill comes only when
 * inflating cannot hold the limit.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <string.h>

#include <cmocka.h>

#include "runner/budget_policy.h"

#define MIB (1ull << 20)

/* A running guest of @ram MiB with @avail MiB available, balloon @balloon. */
static struct bp_guest guest(uint64_t ram, uint64_t avail, uint64_t balloon)
{
	return (struct bp_guest){
		.running = true, .fresh = true, .ram = ram * MIB,
		.available = avail * MIB, .balloon = balloon * MIB,
		.target = balloon * MIB, .resident = (ram - avail) * MIB,
	};
}

static void decide(struct bp_state *s, struct bp_input *in, struct bp_output *out)
{
	memset(out, 0xa5, sizeof(*out));
	bp_decide(s, in, out);
}

static void test_floor(void **state)
{
	struct bp_guest small = guest(128, 0, 0), big = guest(1024, 0, 0);

	(void)state;
	assert_int_equal(bp_floor(&small), 32 * MIB);
	assert_int_equal(bp_floor(&big), 128 * MIB);
}

/* The budget is high (90 %): the idle guest gives, the busy one keeps. */
static void test_idle_inflated_when_high(void **state)
{
	struct bp_state s = { 0 };
	struct bp_input in = { .usage = 900 * MIB, .limit = 1000 * MIB, .n = 2 };
	struct bp_output out;

	(void)state;
	in.g[0] = guest(256, 40, 0);	/* busy: 40 MiB available */
	in.g[1] = guest(256, 220, 0);	/* idle: 220 - 64 spare */
	decide(&s, &in, &out);
	assert_int_equal(out.kill, -1);
	assert_int_equal(out.why[0], BP_KEEP);
	assert_int_equal(out.target[0], 0);
	assert_int_equal(out.why[1], BP_INFLATE_IDLE);
	/* A step: RAM / 16, less than the 156 MiB to spare. */
	assert_int_equal(out.target[1], 16 * MIB);
}

/* The step of a large guest is BP_STEP_MAX, and what the budget needs caps it. */
static void test_inflate_capped_by_need(void **state)
{
	struct bp_state s = { 0 };
	struct bp_input in = { .usage = 720 * MIB, .limit = 800 * MIB, .n = 1 };
	struct bp_output out;

	(void)state;
	in.g[0] = guest(2048, 1500, 100);
	decide(&s, &in, &out);
	/* 720 >= 85 % of 800 (680): give back to 70 % (560): 160, step 64. */
	assert_int_equal(out.why[0], BP_INFLATE_IDLE);
	assert_int_equal(out.target[0], (100 + 64) * MIB);

	in.usage = 700 * MIB;
	in.g[0] = guest(2048, 1500, 100);
	in.limit = 800 * MIB;
	in.usage = 690 * MIB;	/* need 130: still a whole step */
	decide(&s, &in, &out);
	assert_int_equal(out.target[0], (100 + 64) * MIB);
	in.g[0] = guest(256, 200, 0);
	s = (struct bp_state){ 0 };
	in.usage = 563 * MIB;	/* below 85 %, not inflating: no need at all */
	decide(&s, &in, &out);
	assert_int_equal(out.why[0], BP_KEEP);
}

/* The budget's hysteresis: inflating from 85 % until 70 %, not again
 * until 85 %. */
static void test_budget_hysteresis(void **state)
{
	struct bp_state s = { 0 };
	struct bp_input in = { .usage = 900 * MIB, .limit = 1000 * MIB, .n = 1 };
	struct bp_output out;

	(void)state;
	in.g[0] = guest(1024, 600, 0);
	decide(&s, &in, &out);
	assert_int_equal(out.why[0], BP_INFLATE_IDLE);
	in.g[0] = guest(1024, 536, 64);
	in.usage = 800 * MIB;	/* below 85 %: still on its way to 70 % */
	decide(&s, &in, &out);
	assert_int_equal(out.why[0], BP_INFLATE_IDLE);
	assert_int_equal(out.target[0], 128 * MIB);
	in.g[0] = guest(1024, 472, 128);
	in.usage = 700 * MIB;	/* there */
	decide(&s, &in, &out);
	assert_int_equal(out.why[0], BP_KEEP);
	in.usage = 800 * MIB;	/* up again, below 85 %: nothing */
	decide(&s, &in, &out);
	assert_int_equal(out.why[0], BP_KEEP);
	in.usage = 850 * MIB;
	decide(&s, &in, &out);
	assert_int_equal(out.why[0], BP_INFLATE_IDLE);
}

/* Never below twice the floor: a guest with 70 MiB of 256 has nothing. */
static void test_never_below_floor(void **state)
{
	struct bp_state s = { 0 };
	struct bp_input in = { .usage = 990 * MIB, .limit = 1000 * MIB, .n = 1 };
	struct bp_output out;

	(void)state;
	in.g[0] = guest(256, 66, 150);
	decide(&s, &in, &out);
	assert_int_equal(out.why[0], BP_KEEP);
	assert_int_equal(out.target[0], 150 * MIB);
	/* 2 x 32 + 10 available: 10 to spare, all of it. */
	in.g[0] = guest(256, 74, 150);
	decide(&s, &in, &out);
	assert_int_equal(out.why[0], BP_INFLATE_IDLE);
	assert_int_equal(out.target[0], 160 * MIB);
}

/* The most spare gives first, until the need is met. */
static void test_most_spare_first(void **state)
{
	struct bp_state s = { 0 };
	struct bp_input in = { .usage = 720 * MIB, .limit = 1000 * MIB, .n = 3 };
	struct bp_output out;

	(void)state;
	in.usage = 860 * MIB;	/* need 160 */
	in.g[0] = guest(1024, 300, 0);	/* spare 44 */
	in.g[1] = guest(1024, 700, 0);	/* spare 444: a step, 64 */
	in.g[2] = guest(1024, 500, 0);	/* spare 244: a step, 64 */
	decide(&s, &in, &out);
	assert_int_equal(out.target[1], 64 * MIB);
	assert_int_equal(out.target[2], 64 * MIB);
	/* The last 32 from the one left. */
	assert_int_equal(out.target[0], 32 * MIB);
	assert_int_equal(out.why[0], BP_INFLATE_IDLE);
}

/* A busy guest is deflated, even at the limit. */
static void test_busy_deflated(void **state)
{
	struct bp_state s = { 0 };
	struct bp_input in = { .usage = 1000 * MIB, .limit = 1000 * MIB,
			       .at_limit = true, .n = 2 };
	struct bp_output out;

	(void)state;
	in.g[0] = guest(256, 10, 100);	/* floor 32, deficit 22: 44 < 50 */
	in.g[1] = guest(256, 200, 0);
	decide(&s, &in, &out);
	assert_int_equal(out.why[0], BP_DEFLATE_LOW);
	assert_int_equal(out.target[0], 50 * MIB);
	assert_int_equal(out.why[1], BP_INFLATE_IDLE);
	assert_int_equal(out.kill, -1);
	/* A deficit larger than half the balloon: twice the deficit. */
	in.g[0] = guest(256, 2, 100);
	decide(&s, &in, &out);
	assert_int_equal(out.target[0], 40 * MIB);
	in.g[0] = guest(256, 0, 20);
	decide(&s, &in, &out);
	assert_int_equal(out.target[0], 0);
}

/* Stale statistics and moving balloons are left alone. */
static void test_paced(void **state)
{
	struct bp_state s = { 0 };
	struct bp_input in = { .usage = 950 * MIB, .limit = 1000 * MIB, .n = 2 };
	struct bp_output out;

	(void)state;
	in.g[0] = guest(256, 220, 0);
	in.g[0].fresh = false;
	in.g[1] = guest(256, 220, 16);
	in.g[1].target = 32 * MIB;	/* on its way */
	decide(&s, &in, &out);
	assert_int_equal(out.why[0], BP_KEEP);
	assert_int_equal(out.target[0], 0);
	assert_int_equal(out.why[1], BP_KEEP);
	assert_int_equal(out.target[1], 32 * MIB);
	/* Not running: nothing, and never the victim. */
	in.g[0].running = false;
	in.g[0].fresh = true;
	in.g[0].resident = 4000 * MIB;
	in.at_limit = true;
	decide(&s, &in, &out);
	assert_int_equal(out.why[0], BP_KEEP);
	assert_int_equal(out.kill, -1);
}

/* Room in the budget: a step back a decision; none in the band. */
static void test_relax(void **state)
{
	struct bp_state s = { 0 };
	struct bp_input in = { .usage = 500 * MIB, .limit = 1000 * MIB, .n = 1 };
	struct bp_output out;

	(void)state;
	in.g[0] = guest(256, 100, 40);
	decide(&s, &in, &out);
	assert_int_equal(out.why[0], BP_DEFLATE_ROOM);
	assert_int_equal(out.target[0], 24 * MIB);
	in.g[0] = guest(256, 100, 10);
	decide(&s, &in, &out);
	assert_int_equal(out.target[0], 0);
	/* Between 70 % and 85 %: the hysteresis, nothing moves. */
	in.usage = 800 * MIB;
	in.g[0] = guest(256, 200, 40);
	decide(&s, &in, &out);
	assert_int_equal(out.why[0], BP_KEEP);
	assert_int_equal(out.target[0], 40 * MIB);
}

/* At the limit with nothing to spare: the most resident goes at once. */
static void test_kill_nothing_spare(void **state)
{
	struct bp_state s = { 0 };
	struct bp_input in = { .usage = 1000 * MIB, .limit = 1000 * MIB,
			       .at_limit = true, .n = 3 };
	struct bp_output out;

	(void)state;
	in.g[0] = guest(256, 60, 0);
	in.g[1] = guest(512, 60, 0);
	in.g[2] = guest(256, 60, 0);
	decide(&s, &in, &out);
	assert_int_equal(out.kill, 1);
	assert_int_equal(out.kill_why, BP_KILL_NOTHING_SPARE);
	/* Not at the limit: no kill, however little is spare. */
	in.at_limit = false;
	decide(&s, &in, &out);
	assert_int_equal(out.kill, -1);
	assert_int_equal(out.kill_why, BP_KILL_NONE);
}

/*
 * A guest whose target the operator set is left alone: not inflated
 * however much it has to spare, not deflated however busy, not relaxed;
 * its spare memory does not hold a kill off, and it can be the victim.
 */
static void test_pinned_left_alone(void **state)
{
	struct bp_state s = { 0 };
	struct bp_input in = { .usage = 900 * MIB, .limit = 1000 * MIB, .n = 3 };
	struct bp_output out;

	(void)state;
	in.g[0] = guest(256, 220, 0);	/* idle, pinned */
	in.g[0].pinned = true;
	in.g[1] = guest(256, 20, 64);	/* busy, pinned */
	in.g[1].pinned = true;
	in.g[2] = guest(256, 220, 0);	/* idle */
	decide(&s, &in, &out);
	assert_int_equal(out.why[0], BP_KEEP);
	assert_int_equal(out.target[0], 0);
	assert_int_equal(out.why[1], BP_KEEP);
	assert_int_equal(out.target[1], 64 * MIB);
	assert_int_equal(out.why[2], BP_INFLATE_IDLE);
	/* Room in the budget: the pinned balloon does not relax. */
	in.usage = 100 * MIB;
	decide(&s, &in, &out);
	assert_int_equal(out.why[1], BP_KEEP);
	/* At the limit with only the pinned guest able to give: the kill. */
	in.usage = 1000 * MIB;
	in.at_limit = true;
	in.g[2] = guest(256, 60, 0);
	in.g[0].resident = 250 * MIB;
	decide(&s, &in, &out);
	assert_int_equal(out.kill_why, BP_KILL_NOTHING_SPARE);
	assert_int_equal(out.kill, 0);
}

/* At the limit, a guest to inflate: no kill while balloons grow; after
 * BP_STALL_ROUNDS rounds with none growing, the kill. */
static void test_kill_only_when_stalled(void **state)
{
	struct bp_state s = { 0 };
	struct bp_input in = { .usage = 1000 * MIB, .limit = 1000 * MIB,
			       .at_limit = true, .n = 2 };
	struct bp_output out;
	unsigned int r;

	(void)state;
	in.g[0] = guest(256, 20, 0);
	in.g[1] = guest(256, 200, 0);
	for (r = 0; r < 5 * BP_STALL_ROUNDS; r++) {
		decide(&s, &in, &out);
		assert_int_equal(out.kill, -1);
		/* The guest follows: its balloon grows each round. */
		in.g[1].balloon += 1 * MIB;
		in.g[1].target = in.g[1].balloon;
	}
	/* It stops following its target. */
	in.g[1].target = in.g[1].balloon + 16 * MIB;
	for (r = 0; r < BP_STALL_ROUNDS; r++) {
		decide(&s, &in, &out);
		assert_int_equal(out.kill, -1);
	}
	decide(&s, &in, &out);
	assert_int_equal(out.kill_why, BP_KILL_STALLED);
	assert_true(out.kill == 0 || out.kill == 1);
	/* The guest with most resident: 0 has 236 MiB, 1 has 56. */
	assert_int_equal(out.kill, 0);
	/* The kill resets the count. */
	decide(&s, &in, &out);
	assert_int_equal(out.kill, -1);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_floor),
		cmocka_unit_test(test_idle_inflated_when_high),
		cmocka_unit_test(test_inflate_capped_by_need),
		cmocka_unit_test(test_budget_hysteresis),
		cmocka_unit_test(test_never_below_floor),
		cmocka_unit_test(test_most_spare_first),
		cmocka_unit_test(test_busy_deflated),
		cmocka_unit_test(test_paced),
		cmocka_unit_test(test_relax),
		cmocka_unit_test(test_kill_nothing_spare),
		cmocka_unit_test(test_kill_only_when_stalled),
		cmocka_unit_test(test_pinned_left_alone),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
