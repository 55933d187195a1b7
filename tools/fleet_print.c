/*
 * fleet_print.c - a fleet's state as `guestmm host --guests` and `guestmm
 * overcommit` print it: a line (or a JSON object on one line) per second,
 * and one JSON object at the end.
 */
#define _GNU_SOURCE
#include <inttypes.h>
#include <math.h>
#include <stdio.h>
#include <string.h>

#include "runner/fleet.h"
#include "tools/commands.h"

/* @s as a JSON string: our own text, but paths may hold anything. */
static void json_text(FILE *f, const char *s)
{
	fputc('"', f);
	for (; *s; s++) {
		if (*s == '"' || *s == '\\')
			fprintf(f, "\\%c", *s);
		else if ((unsigned char)*s < 0x20)
			fprintf(f, "\\u%04x", (unsigned char)*s);
		else
			fputc(*s, f);
	}
	fputc('"', f);
}

void fleet_print_line(FILE *out, struct fleet *f, bool json_lines)
{
	struct fleet_budget_info b;
	struct fleet_guest_info gi;
	char u[32], l[32], r[32];
	unsigned int n = fleet_count(f);

	fleet_budget(f, &b);
	if (json_lines) {
		fprintf(out,
			"{\"t\": %.2f, \"budget_mode\": \"%s\", \"budget_bytes\": %" PRIu64
			", \"budget_usage_bytes\": %" PRIu64 ", \"oom_kills\": %" PRIu64
			", \"budget_kills\": %" PRIu64 ", \"alive\": %u, \"guests\": [",
			fleet_now(f), b.cgroup ? "cgroup" : "own", b.limit, b.usage,
			b.oom_kills, b.budget_kills, fleet_alive(f));
		for (unsigned int i = 0; i < n; i++) {
			fleet_guest(f, i, &gi);
			fprintf(out,
				"%s{\"name\": \"%s\", \"kind\": \"%s\", \"pid\": %d, "
				"\"state\": \"%s\", \"resident_bytes\": %" PRIu64
				", \"reports\": %" PRIu64 ", \"cycles\": %u, \"why\": ",
				i ? ", " : "", gi.name, fleet_kind_name(gi.kind),
				(int)gi.pid, fleet_state_name(gi.state),
				gi.resident_bytes, gi.reports, gi.cycles);
			json_text(out, gi.why);
			fputc('}', out);
		}
		fputs("]}\n", out);
		fflush(out);
		return;
	}
	fprintf(out, "%7.1fs  budget %s / %s (%s, oom_kill %" PRIu64 ")  alive %u/%u ",
		fleet_now(f), cli_fmt_bytes(u, sizeof(u), (double)b.usage),
		cli_fmt_bytes(l, sizeof(l), (double)b.limit),
		b.cgroup ? "cgroup" : "own accounting", b.oom_kills,
		fleet_alive(f), n);
	for (unsigned int i = 0; i < n; i++) {
		fleet_guest(f, i, &gi);
		if (gi.state == FLEET_ALIVE || gi.state == FLEET_STARTING)
			fprintf(out, " %s %s%s", gi.name,
				cli_fmt_bytes(r, sizeof(r), (double)gi.resident_bytes),
				gi.state == FLEET_STARTING ? " (starting)" : "");
		else
			fprintf(out, " %s %s", gi.name,
				gi.state == FLEET_KILLED ? "KILLED" : "exited");
	}
	fputc('\n', out);
	fflush(out);
}

void fleet_json(struct json *j, struct fleet *f)
{
	struct fleet_budget_info b;
	struct fleet_guest_info gi;

	fleet_budget(f, &b);
	json_str(j, "budget_mode", b.cgroup ? "cgroup" : "own");
	json_u64(j, "cgroup_version", b.cgroup ? (uint64_t)b.cgroup_version : 0);
	json_str(j, "budget_how", b.how);
	json_u64(j, "budget_bytes", b.limit);
	json_u64(j, "budget_usage_bytes", b.usage);
	json_u64(j, "oom_kills", b.oom_kills);
	json_u64(j, "budget_kills", b.budget_kills);
	json_str(j, "budget_policy", fleet_policy_name(b.policy));
	json_u64(j, "policy_inflates", b.inflates);
	json_u64(j, "policy_deflates", b.deflates);
	json_u64(j, "guests_alive", fleet_alive(f));
	json_u64(j, "guests_not_started", fleet_not_started(f));
	json_array(j, "guests");
	for (unsigned int i = 0; i < fleet_count(f); i++) {
		fleet_guest(f, i, &gi);
		json_object(j, NULL);
		json_str(j, "name", gi.name);
		json_str(j, "kind", fleet_kind_name(gi.kind));
		json_u64(j, "pid", (uint64_t)gi.pid);
		json_str(j, "state", fleet_state_name(gi.state));
		json_str(j, "why", gi.why);
		json_u64(j, "mem_bytes", gi.mem_bytes);
		json_u64(j, "resident_bytes", gi.resident_bytes);
		json_u64(j, "resident_peak_bytes", gi.resident_peak);
		json_u64(j, "reports", gi.reports);
		json_u64(j, "cycles", gi.cycles);
		json_u64(j, "balloon_bytes", gi.balloon_bytes);
		json_u64(j, "available_bytes", gi.available_bytes);
		json_u64(j, "inflates", gi.inflates);
		json_u64(j, "deflates", gi.deflates);
		json_double(j, "t_start_s", gi.t_start);
		json_double(j, "t_end_s", gi.state == FLEET_KILLED ||
						  gi.state == FLEET_EXITED
					  ? gi.t_end
					  : NAN);
		json_object_end(j);
	}
	json_array_end(j);
}
