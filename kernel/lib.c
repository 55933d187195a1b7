/*
 * lib.c - the string functions the kernel needs.  gcc emits calls to
 * memset, memcpy, memmove and memcmp for struct copies and large
 * initialisers even in freestanding code; rep movs/stos are what the CPU
 * (and TCG, which runs them as one helper each) does fastest.
 */
#include "kernel/kernel.h"

void *memset(void *s, int c, size_t n)
{
	void *d = s;

	__asm__ volatile("rep stosb" : "+D"(d), "+c"(n) : "a"(c) : "memory");
	return s;
}

void *memcpy(void *d, const void *s, size_t n)
{
	void *dd = d;

	__asm__ volatile("rep movsb" : "+D"(dd), "+S"(s), "+c"(n) : : "memory");
	return d;
}

void *memmove(void *d, const void *s, size_t n)
{
	unsigned char *dp = d;
	const unsigned char *sp = s;

	if (dp <= sp || dp >= sp + n)
		return memcpy(d, s, n);
	/* Overlapping, destination above: copy backwards (a C loop here
	 * could be turned back into a call of memmove itself). */
	dp += n - 1;
	sp += n - 1;
	__asm__ volatile("std; rep movsb; cld"
			 : "+D"(dp), "+S"(sp), "+c"(n)
			 :
			 : "memory");
	return d;
}

int memcmp(const void *a, const void *b, size_t n)
{
	const unsigned char *x = a, *y = b;

	for (size_t i = 0; i < n; i++)
		if (x[i] != y[i])
			return x[i] < y[i] ? -1 : 1;
	return 0;
}

size_t strlen(const char *s)
{
	size_t n = 0;

	while (s[n])
		n++;
	return n;
}

int strcmp(const char *a, const char *b)
{
	while (*a && *a == *b)
		a++, b++;
	return (unsigned char)*a - (unsigned char)*b;
}

int strncmp(const char *a, const char *b, size_t n)
{
	for (; n; n--, a++, b++) {
		if (*a != *b)
			return (unsigned char)*a - (unsigned char)*b;
		if (!*a)
			return 0;
	}
	return 0;
}
