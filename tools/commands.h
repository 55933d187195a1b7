/*
 * commands.h - the guestmm commands and what they share above the runner.
 */
#ifndef GUESTMM_TOOLS_COMMANDS_H
#define GUESTMM_TOOLS_COMMANDS_H

#include <stdio.h>

#include "mm/gfp.h"
#include "tools/cli.h"

int cmd_bench(int argc, char **argv);
int cmd_ctl(int argc, char **argv);
int cmd_host(int argc, char **argv);
int cmd_overcommit(int argc, char **argv);

struct fleet;
/* A line a second: the budget and every guest (fleet_print.c). */
void fleet_print_line(FILE *out, struct fleet *f, bool json_lines);
/* The budget and every guest, as keys of @j's object. */
void fleet_json(struct json *j, struct fleet *f);

/* @locks as /proc/lock_stat prints them: times in microseconds. */
void print_lock_stat(FILE *f, const struct lock_stats locks[NR_MM_LOCK_CLASSES]);
/* @locks as an object keyed by class name, times in nanoseconds. */
void json_lock_stats(struct json *j, const char *key,
		     const struct lock_stats locks[NR_MM_LOCK_CLASSES]);

#endif
