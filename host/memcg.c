/*
 * memcg.c - a memory cgroup around the guests (see memcg.h).
 *
 * Where: /proc/self/mountinfo names the mounts, a "cgroup2" one whose
 * cgroup.controllers lists memory, or a v1 "cgroup" one with the memory
 * option; /proc/self/cgroup names this process's cgroup in that hierarchy,
 * relative to the mount's root.  The guests' cgroup is made below ours, so
 * whatever limits the host is under still bound the guests too.
 *
 * v2 has one rule v1 does not: a cgroup with processes in it may not hand a
 * controller to its children (except the root), so below a non-root cgroup
 * holding the host itself, enabling memory in cgroup.subtree_control fails
 * with EBUSY.  That is reported as the reason, and the caller falls back to
 * its own accounting; moving the host into a leaf of its own to get round
 * it would change the host's own accounting behind its operator's back.
 *
 * v1's OOM killer counts its kills in memory.oom_control ("oom_kill N",
 * Linux 4.13 and later); v2's in memory.events.
 */
#ifndef _GNU_SOURCE
#define _GNU_SOURCE
#endif
#include "host/memcg.h"

#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <signal.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

/* How long memcg_destroy() waits for killed processes to leave. */
#define MEMCG_DESTROY_WAIT_MS 2000

static void say(char *why, size_t len, const char *fmt, const char *arg)
{
	if (why && len)
		snprintf(why, len, fmt, arg);
}

/* Write @s to @dir/@file.  Return: 0, or a negative errno. */
static int cg_write(const char *dir, const char *file, const char *s)
{
	char p[600];
	ssize_t n;
	int fd, err = 0;

	if ((size_t)snprintf(p, sizeof(p), "%s/%s", dir, file) >= sizeof(p))
		return -ENAMETOOLONG;
	fd = open(p, O_WRONLY | O_CLOEXEC);
	if (fd < 0)
		return -errno;
	n = write(fd, s, strlen(s));
	if (n < 0)
		err = -errno;
	else if ((size_t)n != strlen(s))
		err = -EIO;
	close(fd);
	return err;
}

/* Read @dir/@file into @buf.  Return: bytes read, or a negative errno. */
static ssize_t cg_read(const char *dir, const char *file, char *buf, size_t len)
{
	char p[600];
	ssize_t n;
	int fd;

	if ((size_t)snprintf(p, sizeof(p), "%s/%s", dir, file) >= sizeof(p))
		return -ENAMETOOLONG;
	fd = open(p, O_RDONLY | O_CLOEXEC);
	if (fd < 0)
		return -errno;
	n = read(fd, buf, len - 1);
	if (n < 0)
		n = -errno;
	else
		buf[n] = '\0';
	close(fd);
	return n;
}

/* The value after "@key " on a line of @text, or 0. */
static uint64_t keyed_u64(const char *text, const char *key)
{
	size_t kl = strlen(key);

	for (const char *l = text; l && *l; l = strchr(l, '\n'), l = l ? l + 1 : l)
		if (!strncmp(l, key, kl) && l[kl] == ' ')
			return strtoull(l + kl + 1, NULL, 10);
	return 0;
}

/* Does the comma-separated @opts list hold @word? */
static bool has_opt(const char *opts, const char *word)
{
	size_t wl = strlen(word);

	for (const char *o = opts; o; o = strchr(o, ','), o = o ? o + 1 : o)
		if (!strncmp(o, word, wl) && (o[wl] == ',' || o[wl] == '\0' ||
					      o[wl] == ' ' || o[wl] == '\n'))
			return true;
	return false;
}

/*
 * The memory controller's mount: its mount point, its root within the
 * hierarchy and its version; v2 first.  Return: 0, or -ENOENT.
 */
static int find_mount(char *mnt, size_t mlen, char *root, size_t rlen,
		      enum memcg_version *ver)
{
	FILE *f = fopen("/proc/self/mountinfo", "re");
	char line[1024];
	int found = 0;

	if (!f)
		return -ENOENT;
	while (fgets(line, sizeof(line), f) && found != 2) {
		char r[256], m[256], fstype[64], super[512];
		const char *dash = strstr(line, " - ");
		char ctl[256];

		if (!dash || sscanf(line, "%*s %*s %*s %255s %255s", r, m) != 2 ||
		    sscanf(dash + 3, "%63s %*s %511s", fstype, super) != 2)
			continue;
		if (!strcmp(fstype, "cgroup2")) {
			if (cg_read(m, "cgroup.controllers", ctl, sizeof(ctl)) <= 0 ||
			    !strstr(ctl, "memory"))
				continue;
			*ver = MEMCG_V2;
			found = 2;
		} else if (!strcmp(fstype, "cgroup") && !found &&
			   has_opt(super, "memory")) {
			*ver = MEMCG_V1;
			found = 1;
		} else {
			continue;
		}
		snprintf(mnt, mlen, "%s", m);
		snprintf(root, rlen, "%s", r);
	}
	fclose(f);
	return found ? 0 : -ENOENT;
}

/* This process's cgroup in the hierarchy of @ver.  Return: 0, or -ENOENT. */
static int own_cgroup(enum memcg_version ver, char *path, size_t len)
{
	FILE *f = fopen("/proc/self/cgroup", "re");
	char line[1024];
	int err = -ENOENT;

	if (!f)
		return -ENOENT;
	while (fgets(line, sizeof(line), f)) {
		char *c1 = strchr(line, ':'), *c2 = c1 ? strchr(c1 + 1, ':') : NULL;

		if (!c2)
			continue;
		*c2 = '\0';
		if (ver == MEMCG_V2 ? strcmp(c1 + 1, "") != 0
				    : !has_opt(c1 + 1, "memory"))
			continue;
		c2[strcspn(c2 + 1, "\n") + 1] = '\0';
		snprintf(path, len, "%s", c2 + 1);
		err = 0;
		break;
	}
	fclose(f);
	return err;
}

int memcg_create(struct memcg *cg, const char *root, const char *name,
		 uint64_t limit, char *why, size_t why_len)
{
	char mnt[256], mroot[256], own[512], dir[512], num[32];
	const char *rel;
	int err;

	memset(cg, 0, sizeof(*cg));
	if (!limit || !name || !*name || strchr(name, '/'))
		return -EINVAL;
	if (root) {
		/* A hierarchy's root: v2 has cgroup.controllers there. */
		snprintf(mnt, sizeof(mnt), "%s", root);
		cg->version = cg_read(root, "cgroup.controllers", dir,
				      sizeof(dir)) >= 0 ? MEMCG_V2 : MEMCG_V1;
		snprintf(own, sizeof(own), "/");
		snprintf(mroot, sizeof(mroot), "/");
	} else {
		err = find_mount(mnt, sizeof(mnt), mroot, sizeof(mroot),
				 &cg->version);
		if (err) {
			say(why, why_len, "%s", "no memory cgroup controller is mounted");
			return err;
		}
		err = own_cgroup(cg->version, own, sizeof(own));
		if (err) {
			say(why, why_len, "%s", "this process is in no memory cgroup");
			return err;
		}
	}
	/* Our path is relative to the hierarchy; the mount shows mroot of it. */
	rel = own;
	if (strcmp(mroot, "/") && !strncmp(own, mroot, strlen(mroot)))
		rel = own + strlen(mroot);
	if ((size_t)snprintf(dir, sizeof(dir), "%s%s%s", mnt,
			     *rel == '/' ? "" : "/", strcmp(rel, "/") ? rel : "") >=
	    sizeof(dir))
		return -ENAMETOOLONG;
	if (cg->version == MEMCG_V2) {
		err = cg_write(dir, "cgroup.subtree_control", "+memory");
		if (err) {
			say(why, why_len,
			    err == -EBUSY
				    ? "cgroup v2: %s holds processes, so it cannot give the memory controller to a child"
				    : "cgroup v2: cannot enable the memory controller below %s",
			    dir);
			return err;
		}
	}
	if ((size_t)snprintf(cg->path, sizeof(cg->path), "%s/%s", dir, name) >=
	    sizeof(cg->path))
		return -ENAMETOOLONG;
	if (mkdir(cg->path, 0755)) {
		err = -errno;
		say(why, why_len, "cannot make the memory cgroup %s", cg->path);
		return err;
	}
	snprintf(num, sizeof(num), "%" PRIu64, limit);
	err = cg_write(cg->path, cg->version == MEMCG_V2 ? "memory.max"
							 : "memory.limit_in_bytes",
		       num);
	if (!err && cg->version == MEMCG_V2)
		/* The budget is RAM: swapping guests out would hide it.  A
		 * kernel without swap accounting has no such file, and then
		 * nothing to hide. */
		(void)cg_write(cg->path, "memory.swap.max", "0");
	if (err) {
		say(why, why_len, "the kernel refused the limit of %s", cg->path);
		rmdir(cg->path);
		return err;
	}
	cg->limit = limit;
	return 0;
}

int memcg_attach(const struct memcg *cg, pid_t pid)
{
	char num[32];

	snprintf(num, sizeof(num), "%d", (int)pid);
	return cg_write(cg->path, "cgroup.procs", num);
}

uint64_t memcg_usage(const struct memcg *cg)
{
	char buf[64];

	if (cg_read(cg->path, cg->version == MEMCG_V2 ? "memory.current"
						       : "memory.usage_in_bytes",
		    buf, sizeof(buf)) <= 0)
		return 0;
	return strtoull(buf, NULL, 10);
}

uint64_t memcg_oom_kills(const struct memcg *cg)
{
	char buf[1024];

	if (cg_read(cg->path, cg->version == MEMCG_V2 ? "memory.events"
						       : "memory.oom_control",
		    buf, sizeof(buf)) <= 0)
		return 0;
	return keyed_u64(buf, "oom_kill");
}

int memcg_set_oom_killer(const struct memcg *cg, bool on)
{
	if (cg->version != MEMCG_V1)
		return -EOPNOTSUPP;
	return cg_write(cg->path, "memory.oom_control", on ? "0" : "1");
}

bool memcg_under_oom(const struct memcg *cg)
{
	char buf[1024];

	if (cg->version != MEMCG_V1 ||
	    cg_read(cg->path, "memory.oom_control", buf, sizeof(buf)) <= 0)
		return false;
	return keyed_u64(buf, "under_oom") != 0;
}

/* Kill what is left in @cg.  Return: whether anything was. */
static bool kill_members(const struct memcg *cg)
{
	char buf[4096];
	bool any = false;

	if (cg_read(cg->path, "cgroup.procs", buf, sizeof(buf)) <= 0)
		return false;
	for (char *l = buf; *l;) {
		long pid = strtol(l, &l, 10);

		if (pid > 0) {
			kill((pid_t)pid, SIGKILL);
			any = true;
		}
		while (*l == '\n')
			l++;
	}
	return any;
}

int memcg_destroy(struct memcg *cg)
{
	struct timespec ms = { 0, 1000000 };

	if (!cg->path[0])
		return 0;
	for (unsigned int i = 0; rmdir(cg->path); i++) {
		if (errno == ENOENT)
			break;
		if (errno != EBUSY || i >= MEMCG_DESTROY_WAIT_MS)
			return -errno;
		kill_members(cg);
		nanosleep(&ms, NULL);
	}
	cg->path[0] = '\0';
	return 0;
}
