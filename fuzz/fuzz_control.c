/*
 * fuzz_control.c - libFuzzer target for the host's control socket
 * (host/control.h): a line from any local client, through json-c and the
 * command table, against a real balloon with no transport (a target set
 * is kept, no driver hears of it).
 *
 * Input: one command line; or, when it does not start with '{', a byte
 * naming a command and that command's arguments object, so that the
 * fuzzer reaches the commands without first finding their names.  Every
 * answer must be one JSON object with
 * "return" or "error": anything else, a crash, a leak or a read past the
 * line traps.
 */
#ifndef _GNU_SOURCE
#define _GNU_SOURCE
#endif
#include <json-c/json.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "host/balloon.h"
#include "host/control.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static struct control *ctl;
static struct balloon_dev *balloon;
static char dir[] = "/tmp/gmm-fuzz-control-XXXXXX";

/* The socket and its directory go with the fuzzer. */
static void fuzz_control_exit(void)
{
	control_stop(ctl);
	balloon_destroy(balloon);
	rmdir(dir);
}

static void fuzz_control_init(void)
{
	char path[64];

	if (!mkdtemp(dir))
		abort();
	snprintf(path, sizeof(path), "%s/c.sock", dir);
	if (control_start(path, &ctl) || balloon_create(BALLOON_FEATURES_DEFAULT, &balloon))
		abort();
	/* One guest, 256 MiB: balloon and its checks run. */
	if (control_guest_add(ctl, "guest", balloon, 256u << 20) != 0)
		abort();
	atexit(fuzz_control_exit);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	static char out[CONTROL_OUT_MAX];
	struct json_object *o;
	char *line;

	if (!ctl)
		fuzz_control_init();
	if (size > CONTROL_LINE_MAX)
		return 0;
	static const char *const names[] = {
		"qmp_capabilities", "query-commands", "query-balloon", "balloon",
		"query-balloon-stats", "set-stats-interval", "query-guests",
	};
	size_t n = size;

	if (size && data[0] != '{') {
		/* {"execute": "NAME", "arguments": REST} */
		char head[64];
		int h = snprintf(head, sizeof(head), "{\"execute\": \"%s\", \"arguments\": ",
				 names[data[0] % (sizeof(names) / sizeof(names[0]))]);

		n = (size_t)h + size - 1 + 1;
		line = malloc(n);
		if (!line)
			return 0;
		memcpy(line, head, (size_t)h);
		memcpy(line + h, data + 1, size - 1);
		line[n - 1] = '}';
	} else {
		/* An exact copy, so ASan sees a read past the line. */
		line = malloc(size ? size : 1);
		if (!line)
			return 0;
		memcpy(line, data, size);
	}
	control_handle_line(ctl, line, n, out, sizeof(out));
	free(line);
	o = json_tokener_parse(out);
	if (!o || (!json_object_object_get_ex(o, "return", NULL) &&
		   !json_object_object_get_ex(o, "error", NULL)))
		abort();
	json_object_put(o);
	return 0;
}
