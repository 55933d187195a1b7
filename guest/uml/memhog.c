/*
 * memhog.c - the guest's memhog: map N MiB, write every page, hold, unmap.
 * Built static into the user-mode Linux guest's initramfs.  Prints one line
 * when the memory is held and one when it is freed, so the host can time the
 * return of the memory from the moment of the free.
 *
 *   memhog MIB [HOLD_MS]
 */
#define _GNU_SOURCE
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <time.h>

int main(int argc, char **argv)
{
	size_t mib, bytes;
	long hold_ms = 0;
	char *p;

	if (argc < 2 || (mib = strtoul(argv[1], NULL, 10)) == 0) {
		fprintf(stderr, "usage: memhog MIB [HOLD_MS]\n");
		return 2;
	}
	if (argc > 2)
		hold_ms = strtol(argv[2], NULL, 10);
	bytes = mib << 20;
	p = mmap(NULL, bytes, PROT_READ | PROT_WRITE,
		 MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
	if (p == MAP_FAILED) {
		perror("memhog: mmap");
		return 1;
	}
	for (size_t off = 0; off < bytes; off += 4096)
		p[off] = (char)(off >> 12 | 1);
	printf("gmm-memhog held %zu\n", mib);
	fflush(stdout);
	if (hold_ms > 0) {
		struct timespec ts = { hold_ms / 1000, (hold_ms % 1000) * 1000000 };

		nanosleep(&ts, NULL);
	}
	munmap(p, bytes);
	printf("gmm-memhog freed %zu\n", mib);
	fflush(stdout);
	return 0;
}
