/*
 * cli.c - parsing and printing helpers for the guestmm command line.
 */
#define _GNU_SOURCE
#include "tools/cli.h"

#include <ctype.h>
#include <errno.h>
#include <getopt.h>
#include <math.h>
#include <stdarg.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <time.h>
#include <unistd.h>

#include "host/tmp_dir.h"
#include "host/vhost_user.h"

/* A leading whole number; @end is left at what follows it. */
static int parse_number(const char *s, unsigned long long *v, char **end)
{
	if (!s || !isdigit((unsigned char)*s))
		return -1;
	errno = 0;
	*v = strtoull(s, end, 10);
	return errno ? -1 : 0;
}

/* The fraction's digits beyond which none can come to whole bytes: a
 * fraction whose last digit is not 0 is a whole number times 2^-shift only
 * when it has at most shift (<= 40) digits. */
#define SIZE_FRAC_DIGITS_MAX 40

/*
 * 0.@digits x 2^@shift, exactly: the decimal fraction doubled @shift times,
 * what crosses the point gathered in *@whole.
 * Return: 0; -EDOM when a fraction of a byte is left.
 */
static int size_fraction(char *digits, size_t n, unsigned int shift,
			 uint64_t *whole)
{
	*whole = 0;
	for (unsigned int i = 0; i < shift; i++) {
		unsigned int carry = 0;

		for (size_t k = n; k-- > 0;) {
			unsigned int d = (unsigned int)(digits[k] - '0') * 2 + carry;

			digits[k] = (char)('0' + d % 10);
			carry = d / 10;
		}
		*whole = *whole << 1 | carry;
	}
	for (size_t k = 0; k < n; k++)
		if (digits[k] != '0')
			return -EDOM;
	return 0;
}

int cli_parse_size(const char *s, uint64_t *out)
{
	static const struct {
		const char *suffix;
		unsigned int shift;
	} units[] = {
		{ "", 0 },    { "b", 0 },    { "k", 10 },   { "kib", 10 },
		{ "m", 20 },  { "mib", 20 }, { "g", 30 },   { "gib", 30 },
		{ "t", 40 },  { "tib", 40 },
	};
	char digits[SIZE_FRAC_DIGITS_MAX], *end;
	const char *frac = NULL, *unit;
	size_t nfrac = 0;
	unsigned long long v;
	uint64_t part;
	bool overflow;
	int err;

	if (!s || !isdigit((unsigned char)*s))
		return -EINVAL;
	errno = 0;
	v = strtoull(s, &end, 10);
	overflow = errno == ERANGE;
	unit = end;
	if (*end == '.') {
		frac = end + 1;
		while (isdigit((unsigned char)frac[nfrac]))
			nfrac++;
		if (!nfrac)
			return -EINVAL;
		unit = frac + nfrac;
		while (nfrac && frac[nfrac - 1] == '0')
			nfrac--;
	}
	for (size_t i = 0; i < sizeof(units) / sizeof(units[0]); i++) {
		unsigned int shift = units[i].shift;

		if (strcasecmp(unit, units[i].suffix))
			continue;
		if (overflow || (shift && v > (UINT64_MAX >> shift)))
			return -ERANGE;
		*out = (uint64_t)v << shift;
		if (!nfrac)
			return 0;
		if (nfrac > SIZE_FRAC_DIGITS_MAX)
			return -EDOM;
		memcpy(digits, frac, nfrac);
		err = size_fraction(digits, nfrac, shift, &part);
		if (*out > UINT64_MAX - part)
			return -ERANGE;
		*out += part;
		return err;
	}
	return -EINVAL;
}

/* @v in the largest unit that divides it: "64M", or with @spaced "64 MiB". */
static const char *fmt_size(char *buf, size_t len, uint64_t v, bool spaced)
{
	static const char *const unit[] = { "", "K", "M", "G", "T" };
	unsigned int u = 0;

	while (u < 4 && v && !(v & 1023)) {
		v >>= 10;
		u++;
	}
	if (spaced)
		snprintf(buf, len, "%llu %s%s", (unsigned long long)v,
			 u ? unit[u] : "byte", u ? "iB" : v == 1 ? "" : "s");
	else
		snprintf(buf, len, "%llu%s", (unsigned long long)v, unit[u]);
	return buf;
}

const char *cli_fmt_size(char *buf, size_t len, uint64_t v)
{
	return fmt_size(buf, len, v, false);
}

int cli_check_size(const char *opt, const char *s,
		   const struct cli_size_limits *lim, uint64_t *out,
		   char *why, size_t len)
{
	uint64_t step = lim->step ? lim->step : 1, v = 0;
	char a[32], b[32];
	int err = cli_parse_size(s, &v);

	if (err == -EINVAL) {
		snprintf(why, len, "%s: '%s' is not a size (a number and K, M, G or T, e.g. 512M or 3.5G)",
			 opt, s);
		return err;
	}
	if (err == -ERANGE || v < lim->min || v > lim->max) {
		if (lim->max == UINT64_MAX)
			snprintf(why, len, "%s: %s: must be at least %s", opt, s,
				 cli_fmt_size(a, sizeof(a), lim->min));
		else
			snprintf(why, len, "%s: %s: must be between %s and %s",
				 opt, s, cli_fmt_size(a, sizeof(a), lim->min),
				 cli_fmt_size(b, sizeof(b), lim->max));
		return -ERANGE;
	}
	if (err == -EDOM || v % step) {
		snprintf(why, len, "%s: %s is not a multiple of %s", opt, s,
			 fmt_size(a, sizeof(a), step, true));
		return -EDOM;
	}
	*out = v;
	return 0;
}

uint64_t cli_opt_size(const char *cmd, const char *opt, const char *s,
		      uint64_t min, uint64_t max, uint64_t step)
{
	const struct cli_size_limits lim = { min, max, step };
	char why[256];
	uint64_t v;

	if (cli_check_size(opt, s, &lim, &v, why, sizeof(why)))
		cli_usage_error(cmd, "%s", why);
	return v;
}

int cli_parse_uint(const char *s, uint64_t min, uint64_t max, uint64_t *out)
{
	char *end;
	unsigned long long v;

	if (parse_number(s, &v, &end) || *end || v < min || v > max)
		return -1;
	*out = v;
	return 0;
}

int cli_parse_onoff(const char *s, bool *out)
{
	if (!strcmp(s, "on") || !strcmp(s, "1") || !strcmp(s, "yes")) {
		*out = true;
		return 0;
	}
	if (!strcmp(s, "off") || !strcmp(s, "0") || !strcmp(s, "no")) {
		*out = false;
		return 0;
	}
	return -1;
}

void cli_usage_error(const char *cmd, const char *fmt, ...)
{
	va_list ap;

	/* "run " names the command "run:" in front and "run --help" after. */
	if (cmd && *cmd)
		fprintf(stderr, "guestmm: %.*s: ", (int)strcspn(cmd, " "), cmd);
	else
		fputs("guestmm: ", stderr);
	va_start(ap, fmt);
	vfprintf(stderr, fmt, ap);
	va_end(ap);
	fprintf(stderr, " (try 'guestmm %s--help')\n", cmd ? cmd : "");
	exit(CLI_EXIT_USAGE);
}

void cli_check_tmpdir(const char *cmd)
{
	const char *base = tmp_dir_base();

	if (strlen(base) > TMP_DIR_BASE_MAX) {
		fprintf(stderr, "guestmm: %s: $TMPDIR (%s) is longer than %d characters: a socket path in it would not fit; choose a shorter TMPDIR\n",
			cmd, base, TMP_DIR_BASE_MAX);
		exit(1);
	}
}

void cli_check_nofile(const char *cmd)
{
	cli_check_nofile_guests(cmd, 0);
}

void cli_check_nofile_guests(const char *cmd, unsigned int guests)
{
	char why[256];

	if (vhost_user_nofile_check_guests(guests, why, sizeof(why))) {
		fprintf(stderr, "guestmm: %s: %s\n", cmd, why);
		exit(1);
	}
}

void cli_option_error(const char *cmd, const struct option *opts, int c,
		      char **argv)
{
	const char *arg = optind > 0 ? argv[optind - 1] : "";

	for (const struct option *o = opts; optopt && o->name; o++) {
		if (o->val != optopt)
			continue;
		if (c == ':')
			cli_usage_error(cmd, "option --%s needs a value", o->name);
		if (o->has_arg == no_argument && strchr(arg, '='))
			cli_usage_error(cmd, "option --%s takes no value", o->name);
		break;
	}
	if (c == ':' && optopt > 0 && optopt < 256)
		cli_usage_error(cmd, "option -%c needs a value", optopt);
	if (optopt > 0 && optopt < 256 && arg[0] == '-' && arg[1] != '-')
		cli_usage_error(cmd, "unrecognized option '-%c'", optopt);
	cli_usage_error(cmd, "unrecognized option '%s'", arg);
}

void cli_check_path(const char *cmd, const char *opt, const char *path,
		    bool exec)
{
	if (access(path, exec ? X_OK : R_OK))
		cli_usage_error(cmd, "%s: %s: %s", opt, path, strerror(errno));
}

void cli_check_output(const char *cmd, const char *opt, const char *path)
{
	char dir[4096];
	const char *slash = strrchr(path, '/');

	if (!*path)
		cli_usage_error(cmd, "%s: no file name", opt);
	if (!access(path, F_OK)) {
		if (access(path, W_OK))
			cli_usage_error(cmd, "%s: %s: %s", opt, path, strerror(errno));
		return;
	}
	if (!slash)
		snprintf(dir, sizeof(dir), ".");
	else
		snprintf(dir, sizeof(dir), "%.*s", slash == path ? 1 : (int)(slash - path), path);
	if (access(dir, W_OK | X_OK))
		cli_usage_error(cmd, "%s: %s: %s", opt, dir, strerror(errno));
}

#ifndef GMM_VERSION
#define GMM_VERSION "unknown"
#endif

const char *cli_version(void)
{
#ifdef GMM_GIT_DESCRIBE
	/* Built from a git tree: which commit, when it says more. */
	if (*GMM_GIT_DESCRIBE)
		return "guestmm " GMM_VERSION " (git " GMM_GIT_DESCRIBE ")";
#endif
	return "guestmm " GMM_VERSION;
}

const char *cli_fmt_bytes(char *buf, size_t len, double bytes)
{
	static const char *const unit[] = { "B", "KiB", "MiB", "GiB", "TiB" };
	unsigned int u = 0;
	double neg = bytes < 0 ? -1 : 1;

	bytes *= neg;
	while (bytes >= 1024 && u < 4) {
		bytes /= 1024;
		u++;
	}
	snprintf(buf, len, u ? "%.2f %s" : "%.0f %s", bytes * neg, unit[u]);
	return buf;
}

static void json_key(struct json *j, const char *key)
{
	if (!j->first)
		fputc(',', j->f);
	j->first = false;
	fputc('\n', j->f);
	for (int i = 0; i < j->depth; i++)
		fputs("  ", j->f);
	if (key)
		fprintf(j->f, "\"%s\": ", key);
}

void json_begin(struct json *j, FILE *f)
{
	j->f = f;
	j->first = true;
	j->depth = 1;
	fputc('{', f);
}

void json_object(struct json *j, const char *key)
{
	json_key(j, key);
	fputc('{', j->f);
	j->first = true;
	j->depth++;
}

static void json_close(struct json *j, char c)
{
	j->depth--;
	fputc('\n', j->f);
	for (int i = 0; i < j->depth; i++)
		fputs("  ", j->f);
	fputc(c, j->f);
	j->first = false;
}

void json_object_end(struct json *j)
{
	json_close(j, '}');
}

void json_array(struct json *j, const char *key)
{
	json_key(j, key);
	fputc('[', j->f);
	j->first = true;
	j->depth++;
}

void json_array_end(struct json *j)
{
	json_close(j, ']');
}

void json_u64(struct json *j, const char *key, uint64_t v)
{
	json_key(j, key);
	fprintf(j->f, "%llu", (unsigned long long)v);
}

void json_double(struct json *j, const char *key, double v)
{
	json_key(j, key);
	if (isnan(v) || isinf(v))
		fputs("null", j->f);
	else
		fprintf(j->f, "%.6g", v);
}

void json_str(struct json *j, const char *key, const char *v)
{
	json_key(j, key);
	fputc('"', j->f);
	for (; *v; v++) {
		unsigned char c = (unsigned char)*v;

		/* RFC 8259: '"', '\\' and every byte below 0x20 escaped (a
		 * string may come from a guest); DEL too, for terminals. */
		if (c == '"' || c == '\\')
			fprintf(j->f, "\\%c", c);
		else if (c < 0x20 || c == 0x7f)
			fprintf(j->f, "\\u%04x", c);
		else
			fputc(c, j->f);
	}
	fputc('"', j->f);
}

void json_bool(struct json *j, const char *key, bool v)
{
	json_key(j, key);
	fputs(v ? "true" : "false", j->f);
}

void json_end(struct json *j)
{
	fputs("\n}\n", j->f);
}

static int cmp_double(const void *a, const void *b)
{
	double x = *(const double *)a, y = *(const double *)b;

	return (x > y) - (x < y);
}

double median(double *v, unsigned int n)
{
	if (!n)
		return NAN;
	qsort(v, n, sizeof(*v), cmp_double);
	return n % 2 ? v[n / 2] : (v[n / 2 - 1] + v[n / 2]) / 2;
}

