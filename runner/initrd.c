/*
 * initrd.c - where the user-mode Linux guest's initramfs is, and the QEMU
 * guests' kernels and initramfs.
 *
 * One lookup for every command that boots a Linux guest.  The build puts
 * the initramfs in uml/ beside the binary (build/uml/initrd.gz); an
 * install puts it in PREFIX/lib/guestmm/ beside PREFIX/bin/guestmm.  So,
 * in order: uml/initrd.gz beside the binary (a build tree), then
 * lib/guestmm/initrd.gz under the binary's parent directory (an install,
 * including one into a DESTDIR that was never moved to PREFIX), then the
 * PREFIX the build was configured with (GMM_PKGLIBDIR), for a binary
 * copied elsewhere.
 */
#ifndef _GNU_SOURCE
#define _GNU_SOURCE
#endif
#include <errno.h>
#include <limits.h>
#include <stdio.h>
#include <string.h>
#include <unistd.h>

#include "runner/run.h"

#ifndef GMM_PKGLIBDIR
#define GMM_PKGLIBDIR "/usr/local/lib/guestmm"
#endif

#define RUN_INITRD_CANDIDATES 3

/* The directory /proc/self/exe is in, in @buf.  Return: false if unknown. */
static bool exe_dir(char *buf, size_t len)
{
	ssize_t n = readlink("/proc/self/exe", buf, len - 1);
	char *slash;

	if (n <= 0)
		return false;
	buf[n] = 0;
	slash = strrchr(buf, '/');
	if (!slash)
		return false;
	*slash = 0;
	return true;
}

int run_find_file(const char *build_dir, const char *install_dir,
		  const char *name, char *path, size_t len, char *tried,
		  size_t tried_len)
{
	char dir[PATH_MAX], cand[RUN_INITRD_CANDIDATES][PATH_MAX + 32];
	unsigned int n = 0;
	size_t used = 0;

	if (exe_dir(dir, sizeof(dir))) {
		char *slash = strrchr(dir, '/');

		snprintf(cand[n++], sizeof(cand[0]), "%s/%s/%s", dir,
			 build_dir, name);
		if (slash) {
			*slash = 0;
			snprintf(cand[n++], sizeof(cand[0]),
				 "%s/lib/guestmm/%s%s%s", dir, install_dir,
				 *install_dir ? "/" : "", name);
		}
	}
	snprintf(cand[n++], sizeof(cand[0]), "%s/%s%s%s", GMM_PKGLIBDIR,
		 install_dir, *install_dir ? "/" : "", name);
	if (tried_len)
		tried[0] = 0;
	for (unsigned int i = 0; i < n; i++) {
		bool seen = false;

		for (unsigned int j = 0; j < i; j++)
			seen |= !strcmp(cand[i], cand[j]);
		if (seen)
			continue;
		if (!access(cand[i], R_OK)) {
			snprintf(path, len, "%s", cand[i]);
			return 0;
		}
		if (used < tried_len)
			used += (size_t)snprintf(tried + used, tried_len - used,
						 "%s%s", used ? ", " : "",
						 cand[i]);
	}
	if (len)
		path[0] = 0;
	return -ENOENT;
}

int run_find_initrd(char *path, size_t len, char *tried, size_t tried_len)
{
	return run_find_file("uml", "", "initrd.gz", path, len, tried,
			     tried_len);
}

int run_resolve_initrd(const char *given, char *path, size_t len,
		       const char *cmd)
{
	char tried[3 * (PATH_MAX + 32)];

	if (given) {
		snprintf(path, len, "%s", given);
		return 0;
	}
	if (!run_find_initrd(path, len, tried, sizeof(tried)))
		return 0;
	fprintf(stderr, "guestmm: %s: no user-mode Linux initramfs: tried %s "
		"(build it with make, which needs user-mode-linux and "
		"busybox-static, or give --initrd PATH)\n", cmd, tried);
	return -ENOENT;
}
