/*
 * cli.h - argument parsing shared by the guestmm commands and benchmarks.
 */
#ifndef GUESTMM_TOOLS_CLI_H
#define GUESTMM_TOOLS_CLI_H

#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>

/* Exit status for a bad option or an impossible size. */
#define CLI_EXIT_USAGE 2

/*
 * Sizes: a number with an optional unit, K/M/G/T or KiB/MiB/GiB/TiB (powers
 * of 1024; B or none is bytes), case-insensitive; a fraction (3.5G) when it
 * comes to whole bytes.  No sign, no exponent, no spaces.
 * Return: 0; -EINVAL for text that is not a size; -ERANGE when it is more
 * than 64 bits hold; -EDOM for a fraction of a byte (0.3K), with *@out the
 * size rounded down to whole bytes.
 */
int cli_parse_size(const char *s, uint64_t *out);

/* What a size option accepts: @min to @max bytes, a multiple of @step. */
struct cli_size_limits {
	uint64_t min, max, step;
};
/* A guest page: the step of a size option that states none. */
#define CLI_SIZE_STEP_DEFAULT 4096ull

/*
 * cli_check_size - @s (the value of option @opt) parsed and checked against
 * @lim; on failure one line into @why, such as "--mem: 3.1G is not a
 * multiple of 4 MiB" or "--mem: 2T: must be between 64M and 1T".
 * Return: 0 with *@out set; cli_parse_size()'s errors; -ERANGE outside
 * [min, max]; -EDOM not a multiple of the step.
 */
int cli_check_size(const char *opt, const char *s,
		   const struct cli_size_limits *lim, uint64_t *out,
		   char *why, size_t len);
/* cli_check_size(), or exit 2 with its line (cli_usage_error()). */
uint64_t cli_opt_size(const char *cmd, const char *opt, const char *s,
		      uint64_t min, uint64_t max, uint64_t step);
/* "64M", "1T", "1536K": the largest unit that divides @v exactly. */
const char *cli_fmt_size(char *buf, size_t len, uint64_t v);

/* Return: 0, or -1 for text that is not a whole number in [min, max]. */
int cli_parse_uint(const char *s, uint64_t min, uint64_t max, uint64_t *out);
int cli_parse_onoff(const char *s, bool *out);

/*
 * One line "guestmm: CMD: <msg>" and a pointer to --help; exits with status
 * 2.  @cmd is the command followed by a space ("run ", "bench "), or NULL.
 */
void cli_usage_error(const char *cmd, const char *fmt, ...)
	__attribute__((format(printf, 2, 3), noreturn));

struct option;
/*
 * What getopt_long() returned for an option it refused (opterr = 0, an
 * option string starting with ':'): @c ':' is an option without its value
 * ("option --mem needs a value"), anything else one it does not know.
 * Exits with status 2.
 */
void cli_option_error(const char *cmd, const struct option *opts, int c,
		      char **argv) __attribute__((noreturn));

/*
 * A file that option @opt names must exist: else exit 2 with one line
 * naming it ("--uml: /x: No such file or directory").  @exec: and be
 * executable.
 */
void cli_check_path(const char *cmd, const char *opt, const char *path,
		    bool exec);

/*
 * A file that option @opt writes (--plot, --console-log) can be written:
 * a name, and a writable file or directory to make it in; else exit 2 with
 * one line naming what is not ("--plot: /x: No such file or directory"),
 * before a run whose end it is.
 */
void cli_check_output(const char *cmd, const char *opt, const char *path);

/*
 * A command that serves a vhost-user device checks the descriptor limit
 * first (vhost_user_nofile_check(): the soft limit raised to the hard one)
 * and, below what a device needs, exits 1 with one line that names the
 * limit and the one needed.  @cmd: "run", "host" ...
 */
void cli_check_nofile(const char *cmd);
/* The same for a host that runs @guests guests: each holds descriptors
 * (vhost_user_nofile_need()). */
void cli_check_nofile_guests(const char *cmd, unsigned int guests);

/*
 * A command that makes a temporary directory (tmp_dir.h: a device's
 * socket, a guest's uml_dir) checks $TMPDIR first: one longer than
 * TMP_DIR_BASE_MAX, where a socket path would not fit, exits 1 with one
 * line.  @cmd: "run", "host" ...
 */
void cli_check_tmpdir(const char *cmd);

/* "guestmm X.Y.Z" (and the git describe when built from a git tree). */
const char *cli_version(void);

/* "1.50 GiB" style, into @buf. */
const char *cli_fmt_bytes(char *buf, size_t len, double bytes);

/* A tiny JSON writer: one object, keys in order. */
struct json {
	FILE *f;
	bool first;
	int depth;
};
void json_begin(struct json *j, FILE *f);
void json_object(struct json *j, const char *key); /* key NULL in arrays */
void json_object_end(struct json *j);
void json_array(struct json *j, const char *key);
void json_array_end(struct json *j);
void json_u64(struct json *j, const char *key, uint64_t v);
void json_double(struct json *j, const char *key, double v); /* NaN -> null */
void json_str(struct json *j, const char *key, const char *v);
void json_bool(struct json *j, const char *key, bool v);
void json_end(struct json *j);

double median(double *v, unsigned int n);

#endif
