/*
 * jsoncheck.h - a JSON checker (RFC 8259) for the tests of what guestmm
 * prints with --json: the whole text must be one object, whitespace around
 * it; strings with their escapes, numbers by the grammar (no NaN, no inf,
 * no leading zero, no bare '.5'), true, false and null.  It checks, it
 * builds nothing.
 */
#ifndef GUESTMM_TESTS_JSONCHECK_H
#define GUESTMM_TESTS_JSONCHECK_H

#include <ctype.h>
#include <stdbool.h>
#include <string.h>

/* Nesting deeper than this is refused: our objects go four levels down. */
#define JSONCHECK_DEPTH_MAX 32

static inline void jsoncheck_ws(const char **p)
{
	while (**p == ' ' || **p == '\t' || **p == '\n' || **p == '\r')
		(*p)++;
}

static inline bool jsoncheck_string(const char **p)
{
	const char *s = *p;

	if (*s++ != '"')
		return false;
	while (*s != '"') {
		if ((unsigned char)*s < 0x20) /* a control byte, or the end */
			return false;
		if (*s++ != '\\')
			continue;
		if (*s && strchr("\"\\/bfnrt", *s)) {
			s++;
			continue;
		}
		if (*s++ != 'u')
			return false;
		for (int i = 0; i < 4; i++)
			if (!isxdigit((unsigned char)*s++))
				return false;
	}
	*p = s + 1;
	return true;
}

static inline bool jsoncheck_digits(const char **p)
{
	if (!isdigit((unsigned char)**p))
		return false;
	while (isdigit((unsigned char)**p))
		(*p)++;
	return true;
}

static inline bool jsoncheck_number(const char **p)
{
	const char *s = *p;

	if (*s == '-')
		s++;
	if (*s == '0')
		s++;
	else if (!jsoncheck_digits(&s))
		return false;
	if (*s == '.') {
		s++;
		if (!jsoncheck_digits(&s))
			return false;
	}
	if (*s == 'e' || *s == 'E') {
		s++;
		if (*s == '+' || *s == '-')
			s++;
		if (!jsoncheck_digits(&s))
			return false;
	}
	*p = s;
	return true;
}

static inline bool jsoncheck_value(const char **p, int depth)
{
	static const char *const words[] = { "true", "false", "null" };
	char close;

	jsoncheck_ws(p);
	if (depth > JSONCHECK_DEPTH_MAX)
		return false;
	if (**p == '"')
		return jsoncheck_string(p);
	if (**p != '{' && **p != '[') {
		for (int i = 0; i < 3; i++)
			if (!strncmp(*p, words[i], strlen(words[i]))) {
				*p += strlen(words[i]);
				return true;
			}
		return jsoncheck_number(p);
	}
	close = **p == '{' ? '}' : ']';
	(*p)++;
	jsoncheck_ws(p);
	if (**p == close) {
		(*p)++;
		return true;
	}
	for (;;) {
		if (close == '}') {
			jsoncheck_ws(p);
			if (!jsoncheck_string(p))
				return false;
			jsoncheck_ws(p);
			if (*(*p)++ != ':')
				return false;
		}
		if (!jsoncheck_value(p, depth + 1))
			return false;
		jsoncheck_ws(p);
		if (**p == close) {
			(*p)++;
			return true;
		}
		if (*(*p)++ != ',')
			return false;
	}
}

/*
 * jsoncheck_object - @text is exactly one JSON object.
 * Return: -1 when it is, else the offset at which it stops being one.
 */
static inline long jsoncheck_object(const char *text)
{
	const char *p = text;

	jsoncheck_ws(&p);
	if (*p != '{' || !jsoncheck_value(&p, 0))
		return (long)(p - text);
	jsoncheck_ws(&p);
	return *p ? (long)(p - text) : -1;
}

#endif
