/*
 * ctl.c - `guestmm ctl SOCKET COMMAND`: drive a running host through its
 * control socket (host/control.h), as virsh and qmp-shell drive QEMU's.
 * One command a run, answered or refused in one line; `watch` prints the
 * events as they come.  The client is runner/qmp.c's; what it sends and
 * prints is ctl_run.c's (json-c there, apart from cli.h's JSON writer,
 * whose names json-c uses too).
 */
#define _GNU_SOURCE
#include <errno.h>
#include <getopt.h>
#include <signal.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#include "host/control.h"
#include "runner/qmp.h"
#include "tools/ctl.h"
#include "tools/commands.h"

#define CTL_ERR(...) cli_usage_error("ctl ", __VA_ARGS__)

static void ctl_on_signal(int sig)
{
	(void)sig;
	atomic_store(&ctl_interrupted, true);
}

static void ctl_usage(FILE *f)
{
	fputs("Usage: guestmm ctl SOCKET COMMAND [SIZE] [OPTION]...\n"
	      "Drive a running `guestmm host` through its control socket (by default\n"
	      "beside its device socket, X.sock -> X-control.sock; see guestmm host).\n"
	      "\n"
	      "Commands:\n"
	      "  target SIZE     leave the guest SIZE of memory (QMP's balloon: the\n"
	      "                  balloon takes the rest of its RAM), in 4K steps,\n"
	      "                  up to its RAM; K/M/G suffixes.  The target is the\n"
	      "                  operator's: a budget policy leaves it alone\n"
	      "  target release  give the guest's target back to the budget policy\n"
	      "  stats           the balloon (RAM, actual, target) and the guest's\n"
	      "                  memory statistics under QEMU's names\n"
	      "  guests          every guest the host serves, by name\n"
	      "  watch           the host's events as they come, one JSON object a\n"
	      "                  line, until the host ends or SIGINT\n"
	      "\n"
	      "Options:\n"
	      "  --guest NAME    the guest (target, stats): needed when the host\n"
	      "                  serves several\n"
	      "  --json          the answer's return value as JSON\n"
	      "  --timeout S     how long to wait for the host, 1 to 3600 s (default 5)\n"
	      "Exit status: 0; 1 with one line on stderr when the host refuses or does\n"
	      "not answer; 2 for a bad command line.\n",
	      f);
}

int cmd_ctl(int argc, char **argv)
{
	enum { O_GUEST = 256, O_JSON, O_TIMEOUT };
	static const struct option opts[] = {
		{ "guest", required_argument, NULL, O_GUEST },
		{ "json", no_argument, NULL, O_JSON },
		{ "timeout", required_argument, NULL, O_TIMEOUT },
		{ "help", no_argument, NULL, 'h' },
		{ NULL, 0, NULL, 0 },
	};
	const char *guest = NULL, *sock, *what, *size_arg = NULL;
	struct sigaction sa = { .sa_handler = ctl_on_signal };
	uint64_t size = 0, v;
	int timeout_ms = 5000, c, err, rc = 1, nargs;
	bool json = false;
	struct qmp q;
	struct stat st;

	optind = 1;
	opterr = 0;
	while ((c = getopt_long(argc, argv, ":h", opts, NULL)) != -1) {
		switch (c) {
		case O_GUEST:
			if (!*optarg || strlen(optarg) >= CONTROL_NAME_MAX)
				CTL_ERR("--guest: '%s' is not a guest's name (1 to %d bytes)",
					optarg, CONTROL_NAME_MAX - 1);
			guest = optarg;
			break;
		case O_JSON:
			json = true;
			break;
		case O_TIMEOUT:
			if (cli_parse_uint(optarg, 1, 3600, &v))
				CTL_ERR("--timeout: '%s' is not 1 to 3600 seconds", optarg);
			timeout_ms = (int)v * 1000;
			break;
		case 'h':
			ctl_usage(stdout);
			return 0;
		default:
			cli_option_error("ctl ", opts, c, argv);
		}
	}
	nargs = argc - optind;
	if (nargs < 2)
		CTL_ERR(nargs ? "no command (target, stats, guests or watch)"
			      : "no socket and no command");
	sock = argv[optind];
	what = argv[optind + 1];
	if (!strcmp(what, "target")) {
		if (nargs < 3)
			CTL_ERR("target: no SIZE");
		size_arg = argv[optind + 2];
		if (!strcmp(size_arg, "release"))
			what = "release";
		else /* The control checks it against the guest's RAM. */
			size = cli_opt_size("ctl ", "target", size_arg, 4096,
					    64ull << 30, 4096);
		nargs--;
	} else if (strcmp(what, "stats") && strcmp(what, "guests") && strcmp(what, "watch")) {
		CTL_ERR("unknown command '%s' (target, stats, guests or watch)", what);
	}
	if (nargs > 2)
		CTL_ERR("unexpected argument '%s'", argv[optind + (size_arg ? 3 : 2)]);
	if (guest && (!strcmp(what, "guests") || !strcmp(what, "watch")))
		CTL_ERR("--guest: only with target and stats (%s covers every guest)", what);
	if (json && !strcmp(what, "watch"))
		CTL_ERR("--json: watch prints JSON lines already");
	if (strlen(sock) >= 108)
		CTL_ERR("'%s': socket path longer than 107 bytes", sock);
	/* An absent socket is an error now, not a wait for one to appear. */
	err = stat(sock, &st) ? -errno : S_ISSOCK(st.st_mode) ? 0 : -ENOTSOCK;
	if (err) {
		fprintf(stderr, "guestmm: ctl: %s: %s\n", sock,
			err == -ENOENT ? "no such socket (is guestmm host running? see host --control)"
			: err == -ENOTSOCK ? "not a socket" : strerror(-err));
		return 1;
	}
	sigaction(SIGINT, &sa, NULL);
	sigaction(SIGTERM, &sa, NULL);
	signal(SIGPIPE, SIG_IGN);
	err = qmp_connect(&q, sock, timeout_ms);
	if (err) {
		fprintf(stderr, "guestmm: ctl: %s: %s\n", sock,
			err == -ETIMEDOUT ? "no host answers there" :
			err == -EPROTO ? "not a control socket (no QMP greeting)" : strerror(-err));
		return 1;
	}
	rc = ctl_run(&q, sock, what, guest, size, json, timeout_ms, cli_fmt_bytes);
	qmp_close(&q);
	return rc;
}
