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
 * Sizes: a whole number with an optional unit, K/M/G/T or KiB/MiB/GiB/TiB
 * (powers of 1024; a bare number is bytes).
 * Return: 0, or -1 for text that is not a size or overflows 64 bits.
 */
int cli_parse_size(const char *s, uint64_t *out);
/* Return: 0, or -1 for text that is not a whole number in [min, max]. */
int cli_parse_uint(const char *s, uint64_t min, uint64_t max, uint64_t *out);
int cli_parse_onoff(const char *s, bool *out);

/* One line "guestmm: <msg>" and a pointer to --help; exits with status 2. */
void cli_usage_error(const char *cmd, const char *fmt, ...)
	__attribute__((format(printf, 2, 3), noreturn));

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
