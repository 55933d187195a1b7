/*
 * tmp_dir.c - our temporary directories: in $TMPDIR, named and locked for
 * their maker, removed by it or, after a SIGKILL, by the next maker (see
 * tmp_dir.h).
 */
#ifndef _GNU_SOURCE
#define _GNU_SOURCE
#endif
#include "host/tmp_dir.h"

#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <signal.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/file.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <unistd.h>

/* The kinds we make, and the only ones the sweep considers: short, so
 * that TMP_DIR_BASE_MAX holds "/guestmm-" KIND "-" PID "-XXXXXX". */
static const char *const tmp_dir_kinds[] = {
	"run", "linux", "host", "uml", "bench", "plot", "qemu",
};
#define TMP_DIR_KIND_MAX 5
/* mkdtemp()'s six characters are of this set. */
#define TMP_DIR_TEMPLATE_CHARS                                                 \
	"abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789"
_Static_assert(TMP_DIR_BASE_MAX + sizeof("/guestmm--4194304-XXXXXX") +
			       TMP_DIR_KIND_MAX <=
		       TMP_DIR_PATH_MAX,
	       "a directory's path fits");
/* Directories nest this deep in ours: uml_dir/umid/files. */
#define TMP_DIR_DEPTH 3

/*
 * tmp_dir_base - where our temporary directories go: $TMPDIR when it is
 * set and not empty, else /tmp.
 */
const char *tmp_dir_base(void)
{
	const char *t = getenv("TMPDIR");

	return t && *t ? t : "/tmp";
}

/* getdents64's record (the kernel's struct linux_dirent64). */
struct tmp_dirent64 {
	uint64_t d_ino;
	int64_t d_off;
	unsigned short d_reclen;
	unsigned char d_type;
	char d_name[];
};

static int tmp_tree_remove_at(int parent, const char *name, int depth);

/* Remove everything in the directory @fd, @depth levels at most. */
static void tmp_tree_empty(int fd, int depth)
{
	/* Entries go while we read: read again from the start until the
	 * directory holds nothing we could remove (bounded). */
	for (unsigned int pass = 0; pass < 64; pass++) {
		char buf[2048] __attribute__((aligned(8)));
		bool removed = false;
		long n;

		if (lseek(fd, 0, SEEK_SET) < 0)
			return;
		n = syscall(SYS_getdents64, fd, buf, sizeof(buf));
		if (n <= 0)
			return;
		for (long off = 0; off < n;) {
			struct tmp_dirent64 *e = (struct tmp_dirent64 *)(buf + off);

			off += e->d_reclen;
			if (!strcmp(e->d_name, ".") || !strcmp(e->d_name, ".."))
				continue;
			if (!tmp_tree_remove_at(fd, e->d_name, depth))
				removed = true;
		}
		if (!removed)
			return;
	}
}

/* Remove @name in @parent, a directory with what is in it (@depth deep). */
static int tmp_tree_remove_at(int parent, const char *name, int depth)
{
	int fd;

	if (!unlinkat(parent, name, 0))
		return 0;
	if (errno != EISDIR || depth <= 0)
		return -errno;
	fd = openat(parent, name, O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC);
	if (fd < 0)
		return -errno;
	tmp_tree_empty(fd, depth - 1);
	close(fd);
	return unlinkat(parent, name, AT_REMOVEDIR) ? -errno : 0;
}

/*
 * tmp_dir_remove_tree - remove the directory @path and what is in it (our
 * directories are at most TMP_DIR_DEPTH deep; a symbolic link is removed,
 * not followed).  Async-signal-safe: open, getdents64, unlinkat, close.
 * Return: 0; -errno of the removal of @path itself.
 */
int tmp_dir_remove_tree(const char *path)
{
	return tmp_tree_remove_at(AT_FDCWD, path, TMP_DIR_DEPTH);
}

/* Is @kind (of @len characters) one we make? */
static bool tmp_dir_kind_ours(const char *kind, size_t len)
{
	for (size_t i = 0; i < sizeof(tmp_dir_kinds) / sizeof(tmp_dir_kinds[0]);
	     i++)
		if (strlen(tmp_dir_kinds[i]) == len &&
		    !memcmp(tmp_dir_kinds[i], kind, len))
			return true;
	return false;
}

/*
 * Has @name the exact shape tmp_dir_create() gives, "guestmm-KIND-PID-"
 * and mkdtemp()'s six characters, KIND one of tmp_dir_kinds and PID a
 * decimal pid without a leading zero?  *@pid: its maker.
 */
static bool tmp_dir_name_ours(const char *name, int *pid)
{
	const char *p = name + strlen("guestmm-"), *kind = p;
	long v = 0;

	if (strncmp(name, "guestmm-", strlen("guestmm-")))
		return false;
	p += strcspn(p, "-");
	if (*p != '-' || !tmp_dir_kind_ours(kind, (size_t)(p - kind)))
		return false;
	p++;
	if (*p < '1' || *p > '9')
		return false;
	for (int digits = 0; *p >= '0' && *p <= '9'; p++, digits++) {
		if (digits == 7) /* pid_max is at most 4194304 */
			return false;
		v = v * 10 + (*p - '0');
	}
	if (*p++ != '-' || strspn(p, TMP_DIR_TEMPLATE_CHARS) != 6 || p[6])
		return false;
	*pid = (int)v;
	return true;
}

/*
 * Does the directory @dir hold our owner marker naming @pid: a regular
 * file of our user (not a symbolic link), holding exactly "PID\n"?
 */
static bool tmp_dir_marked(int dir, int pid)
{
	char want[16], buf[sizeof(want)];
	struct stat st;
	ssize_t n;
	int fd;

	fd = openat(dir, TMP_DIR_OWNER,
		    O_RDONLY | O_NOFOLLOW | O_NONBLOCK | O_NOCTTY | O_CLOEXEC);
	if (fd < 0)
		return false;
	if (fstat(fd, &st) || !S_ISREG(st.st_mode) || st.st_uid != geteuid()) {
		close(fd);
		return false;
	}
	n = read(fd, buf, sizeof(buf));
	close(fd);
	snprintf(want, sizeof(want), "%d\n", pid);
	return n == (ssize_t)strlen(want) && !memcmp(buf, want, (size_t)n);
}

/* Write the owner marker (TMP_DIR_OWNER) of this process in @dir.
 * Return: 0 or -errno. */
static int tmp_dir_mark(int dir)
{
	char text[16];
	int fd, len, err = 0;

	len = snprintf(text, sizeof(text), "%d\n", (int)getpid());
	fd = openat(dir, TMP_DIR_OWNER,
		    O_WRONLY | O_CREAT | O_EXCL | O_NOFOLLOW | O_CLOEXEC, 0600);
	if (fd < 0)
		return -errno;
	if (write(fd, text, (size_t)len) != len)
		err = errno ? -errno : -EIO;
	if (close(fd) && !err)
		err = -errno;
	if (err)
		unlinkat(dir, TMP_DIR_OWNER, 0);
	return err;
}

/*
 * tmp_dir_sweep - remove what makers that are gone left in tmp_dir_base():
 * directories of ours (by exact name, owner, mode 0700 and our owner
 * marker naming the pid of the name) whose lock we can take and whose
 * maker's pid is no process (tmp_dir.h).  Symbolic links are never
 * followed.
 * Return: how many were removed.
 */
unsigned int tmp_dir_sweep(void)
{
	const char *base = tmp_dir_base();
	unsigned int removed = 0;
	struct dirent *e;
	DIR *dir = opendir(base);

	if (!dir)
		return 0;
	while ((e = readdir(dir))) {
		char path[TMP_DIR_PATH_MAX + 8];
		struct stat st;
		int pid, fd;

		if (!tmp_dir_name_ours(e->d_name, &pid) || pid == getpid())
			continue;
		fd = openat(dirfd(dir), e->d_name,
			    O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC);
		if (fd < 0)
			continue;
		/* Held: its maker lives.  Free, but the pid is a process:
		 * a maker about to lock it, or a pid reused; left alone. */
		if (fstat(fd, &st) || !S_ISDIR(st.st_mode) ||
		    st.st_uid != geteuid() || (st.st_mode & 07777) != 0700 ||
		    !tmp_dir_marked(fd, pid) ||
		    flock(fd, LOCK_EX | LOCK_NB) ||
		    !(kill(pid, 0) && errno == ESRCH)) {
			close(fd);
			continue;
		}
		if ((size_t)snprintf(path, sizeof(path), "%s/%s", base,
				     e->d_name) < sizeof(path) &&
		    !tmp_dir_remove_tree(path))
			removed++;
		close(fd);
	}
	closedir(dir);
	return removed;
}

/*
 * tmp_dir_create - make a directory of ours of @kind (one of
 * tmp_dir_kinds) in tmp_dir_base(), mode 0700, locked for this process's
 * life and holding our owner marker (TMP_DIR_OWNER), after removing what
 * dead makers left there (tmp_dir_sweep()).
 * Return: 0 with @d set; -ENAMETOOLONG when $TMPDIR is longer than
 * TMP_DIR_BASE_MAX; -EINVAL for a bad @kind; mkdtemp's, open's or flock's
 * errno.
 */
int tmp_dir_create(struct tmp_dir *d, const char *kind)
{
	const char *base = tmp_dir_base();
	int err;

	d->path[0] = 0;
	d->lock_fd = -1;
	if (!tmp_dir_kind_ours(kind, strlen(kind)))
		return -EINVAL;
	if (strlen(base) > TMP_DIR_BASE_MAX)
		return -ENAMETOOLONG;
	tmp_dir_sweep();
	snprintf(d->path, sizeof(d->path), "%s/guestmm-%s-%d-XXXXXX", base,
		 kind, (int)getpid());
	if (!mkdtemp(d->path)) {
		err = -errno;
		goto undo_path;
	}
	d->lock_fd = open(d->path, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
	if (d->lock_fd < 0) {
		err = -errno;
		goto undo_dir;
	}
	while (flock(d->lock_fd, LOCK_EX)) {
		if (errno != EINTR) {
			err = -errno;
			goto undo_open;
		}
	}
	/* Before anything else goes in: a crash between mkdtemp() and here
	 * leaves a directory the sweep never takes (no marker), rather than
	 * one it might take wrongly. */
	err = tmp_dir_mark(d->lock_fd);
	if (err)
		goto undo_open;
	return 0;

undo_open:
	close(d->lock_fd);
	d->lock_fd = -1;
undo_dir:
	rmdir(d->path);
undo_path:
	d->path[0] = 0;
	return err;
}

/*
 * tmp_dir_destroy - remove @d with what is in it, then let go of its lock;
 * nothing for a @d that was never made (or is destroyed already).
 */
void tmp_dir_destroy(struct tmp_dir *d)
{
	if (d->path[0])
		tmp_dir_remove_tree(d->path);
	if (d->lock_fd >= 0)
		close(d->lock_fd);
	d->path[0] = 0;
	d->lock_fd = -1;
}
