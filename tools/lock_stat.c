/*
 * lock_stat.c - lock statistics as /proc/lock_stat prints them, and as
 * JSON; shared by `guestmm run` and the benchmarks.
 */
#include <stdio.h>

#include "tools/commands.h"

/* Nanoseconds as lock_stat prints them: microseconds, 2 decimals. */
static double lock_us(uint64_t ns)
{
	return (double)ns / 1e3;
}

void print_lock_stat(FILE *f, const struct lock_stats locks[NR_MM_LOCK_CLASSES])
{
	static const char rule[] =
		"----------------------------------------------------------------"
		"----------------------------------------------------------------"
		"--------------------------------";

	fprintf(f, "%s\n%40s %14s %14s %14s %14s %14s %14s %14s %14s\n%s\n\n",
		rule, "class name", "contentions", "waittime-max",
		"waittime-total", "waittime-avg", "acquisitions",
		"holdtime-max", "holdtime-total", "holdtime-avg", rule);
	for (unsigned int c = 0; c < NR_MM_LOCK_CLASSES; c++) {
		const struct lock_stats *l = &locks[c];

		fprintf(f, "%40s: %13llu %14.2f %14.2f %14.2f %14llu %14.2f %14.2f %14.2f\n",
			mm_lock_class_names[c],
			(unsigned long long)l->contentions,
			lock_us(l->wait_max_ns), lock_us(l->wait_ns),
			l->contentions ? lock_us(l->wait_ns) / (double)l->contentions : 0,
			(unsigned long long)l->acquisitions,
			lock_us(l->hold_max_ns), lock_us(l->hold_ns),
			l->timed ? lock_us(l->hold_ns) / (double)l->timed : 0);
	}
	fprintf(f, "%s\n", rule);
}

void json_lock_stats(struct json *j, const char *key,
		     const struct lock_stats locks[NR_MM_LOCK_CLASSES])
{
	json_object(j, key);
	for (unsigned int c = 0; c < NR_MM_LOCK_CLASSES; c++) {
		const struct lock_stats *l = &locks[c];

		json_object(j, mm_lock_class_names[c]);
		json_u64(j, "acquisitions", l->acquisitions);
		json_u64(j, "contentions", l->contentions);
		json_u64(j, "wait_total_ns", l->wait_ns);
		json_u64(j, "wait_max_ns", l->wait_max_ns);
		json_u64(j, "hold_total_ns", l->hold_ns);
		json_u64(j, "hold_max_ns", l->hold_max_ns);
		json_u64(j, "timed", l->timed);
		json_object_end(j);
	}
	json_object_end(j);
}

/* ---- guestmm run ---- */

