/*
 * printf.c - vsnprintf for the kernel: the conversions the kernel, mm/'s
 * log lines and the console protocol use (d i u x X o c s p %, f), with
 * flags (- 0 # + space), width, precision (also *) and the length
 * modifiers hh h l ll z j t.  A conversion it does not know is printed as
 * written, so a format mistake shows instead of eating arguments silently.
 *
 * %f needs the SSE registers: this file is built with them and is never
 * called from an interrupt handler (only from threads, and from the panic
 * path, which ends the machine).
 */
#include <stdarg.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "kernel/kernel.h"

struct out {
	char *buf;
	size_t size;
	size_t len; /* what would have been written */
};

static void out_char(struct out *o, char c)
{
	if (o->len + 1 < o->size)
		o->buf[o->len] = c;
	o->len++;
}

static void out_pad(struct out *o, char c, int n)
{
	while (n-- > 0)
		out_char(o, c);
}

struct spec {
	bool left, zero, alt, plus, space;
	int width;
	int prec; /* -1: none */
};

/* @digits (most significant first), with sign/prefix, padded per @s. */
static void out_number(struct out *o, const struct spec *s, const char *prefix,
		       const char *digits, int ndigits)
{
	int plen = 0, zeros = 0, total;

	while (prefix[plen])
		plen++;
	if (s->prec >= 0 && s->prec > ndigits)
		zeros = s->prec - ndigits;
	total = plen + zeros + ndigits;
	if (!s->left && !(s->zero && s->prec < 0))
		out_pad(o, ' ', s->width - total);
	for (int i = 0; i < plen; i++)
		out_char(o, prefix[i]);
	if (!s->left && s->zero && s->prec < 0)
		out_pad(o, '0', s->width - total);
	out_pad(o, '0', zeros);
	for (int i = 0; i < ndigits; i++)
		out_char(o, digits[i]);
	if (s->left)
		out_pad(o, ' ', s->width - total);
}

static void out_unsigned(struct out *o, const struct spec *s, uint64_t v,
			 unsigned int base, bool upper, const char *sign)
{
	const char *dig = upper ? "0123456789ABCDEF" : "0123456789abcdef";
	char tmp[24], digits[24], prefix[4];
	int n = 0, p = 0;

	if (!(v == 0 && s->prec == 0)) {
		do {
			tmp[n++] = dig[v % base];
			v /= base;
		} while (v);
	}
	for (int i = 0; i < n; i++)
		digits[i] = tmp[n - 1 - i];
	while (*sign)
		prefix[p++] = *sign++;
	if (s->alt && base == 16 && n && !(n == 1 && digits[0] == '0')) {
		prefix[p++] = '0';
		prefix[p++] = upper ? 'X' : 'x';
	}
	if (s->alt && base == 8 && (n == 0 || digits[0] != '0'))
		prefix[p++] = '0';
	prefix[p] = 0;
	out_number(o, s, prefix, digits, n);
}

static void out_double(struct out *o, const struct spec *s, double v)
{
	int prec = s->prec < 0 ? 6 : (s->prec > 17 ? 17 : s->prec);
	const char *sign = v < 0 || (v == 0 && 1 / v < 0) ? "-"
			   : s->plus			       ? "+"
			   : s->space			       ? " "
							       : "";
	char digits[64];
	uint64_t ip, fp, scale = 1;
	int n = 0;

	if (v != v) {
		out_number(o, s, sign, "nan", 3);
		return;
	}
	if (v < 0)
		v = -v;
	if (v > 1.8e19) {
		out_number(o, s, sign, "inf", 3);
		return;
	}
	for (int i = 0; i < prec; i++)
		scale *= 10;
	ip = (uint64_t)v;
	/* Round half up on the fraction, carrying into the integer part. */
	fp = (uint64_t)((v - (double)ip) * (double)scale + 0.5);
	if (fp >= scale) {
		fp -= scale;
		ip++;
	}
	{
		char tmp[24];
		int k = 0;

		do {
			tmp[k++] = (char)('0' + ip % 10);
			ip /= 10;
		} while (ip);
		while (k)
			digits[n++] = tmp[--k];
	}
	if (prec || s->alt)
		digits[n++] = '.';
	for (int i = prec - 1; i >= 0; i--)
		digits[n + i] = (char)('0' + fp % 10), fp /= 10;
	n += prec;
	{
		struct spec t = *s;

		t.prec = -1;
		out_number(o, &t, sign, digits, n);
	}
}

int kvsnprintf(char *buf, size_t size, const char *fmt, va_list ap)
{
	struct out o = { buf, size, 0 };

	for (const char *f = fmt; *f; f++) {
		struct spec s = { .prec = -1 };
		const char *start = f;
		int lng = 0; /* -2 hh, -1 h, 0, 1 l, 2 ll/j/z/t */

		if (*f != '%') {
			out_char(&o, *f);
			continue;
		}
		for (f++;; f++) {
			if (*f == '-')
				s.left = true;
			else if (*f == '0')
				s.zero = true;
			else if (*f == '#')
				s.alt = true;
			else if (*f == '+')
				s.plus = true;
			else if (*f == ' ')
				s.space = true;
			else
				break;
		}
		if (*f == '*') {
			s.width = va_arg(ap, int);
			if (s.width < 0) {
				s.left = true;
				s.width = -s.width;
			}
			f++;
		} else {
			while (*f >= '0' && *f <= '9')
				s.width = s.width * 10 + (*f++ - '0');
		}
		if (*f == '.') {
			f++;
			s.prec = 0;
			if (*f == '*') {
				s.prec = va_arg(ap, int);
				if (s.prec < 0)
					s.prec = -1;
				f++;
			} else {
				while (*f >= '0' && *f <= '9')
					s.prec = s.prec * 10 + (*f++ - '0');
			}
		}
		for (;; f++) {
			if (*f == 'h')
				lng--;
			else if (*f == 'l')
				lng++;
			else if (*f == 'z' || *f == 'j' || *f == 't')
				lng = 2;
			else
				break;
		}
		switch (*f) {
		case 'd':
		case 'i': {
			int64_t v = lng >= 1 ? va_arg(ap, long) : va_arg(ap, int);

			if (lng == -1)
				v = (short)v;
			else if (lng == -2)
				v = (signed char)v;
			out_unsigned(&o, &s, v < 0 ? -(uint64_t)v : (uint64_t)v, 10,
				     false,
				     v < 0 ? "-" : s.plus ? "+" : s.space ? " " : "");
			break;
		}
		case 'u':
		case 'x':
		case 'X':
		case 'o': {
			uint64_t v = lng >= 1 ? va_arg(ap, unsigned long)
					      : va_arg(ap, unsigned int);

			if (lng == -1)
				v = (unsigned short)v;
			else if (lng == -2)
				v = (unsigned char)v;
			out_unsigned(&o, &s, v,
				     *f == 'u' ? 10 : *f == 'o' ? 8 : 16,
				     *f == 'X', "");
			break;
		}
		case 'p': {
			struct spec p = s;

			p.alt = true;
			out_unsigned(&o, &p, (uintptr_t)va_arg(ap, void *), 16,
				     false, "");
			break;
		}
		case 'c': {
			char c = (char)va_arg(ap, int);

			if (!s.left)
				out_pad(&o, ' ', s.width - 1);
			out_char(&o, c);
			if (s.left)
				out_pad(&o, ' ', s.width - 1);
			break;
		}
		case 's': {
			const char *str = va_arg(ap, const char *);
			int n = 0;

			if (!str)
				str = "(null)";
			while (str[n] && (s.prec < 0 || n < s.prec))
				n++;
			if (!s.left)
				out_pad(&o, ' ', s.width - n);
			for (int i = 0; i < n; i++)
				out_char(&o, str[i]);
			if (s.left)
				out_pad(&o, ' ', s.width - n);
			break;
		}
		case 'f':
		case 'F':
			out_double(&o, &s, va_arg(ap, double));
			break;
		case '%':
			out_char(&o, '%');
			break;
		default:
			/* Unknown: show it as written. */
			for (const char *c = start; c <= f && *c; c++)
				out_char(&o, *c);
			if (!*f)
				f--;
			break;
		}
	}
	if (size)
		buf[o.len < size ? o.len : size - 1] = 0;
	return (int)o.len;
}

int ksnprintf(char *buf, size_t size, const char *fmt, ...)
{
	va_list ap;
	int n;

	va_start(ap, fmt);
	n = kvsnprintf(buf, size, fmt, ap);
	va_end(ap);
	return n;
}
