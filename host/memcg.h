/*
 * memcg.h - a host budget for guests: a memory cgroup of their own.
 *
 * The guests' processes go into one memory cgroup made for them below the
 * host's own (cgroup v2 memory.max where the memory controller is on the
 * unified hierarchy, else v1 memory.limit_in_bytes), so the kernel charges
 * every page they fault in, shmem guest RAM included, and the kernel's OOM
 * killer picks a victim among them when the budget is spent; the host
 * process stays outside it.  Where no memory cgroup can be made (no
 * controller, no permission) the budget is the host's: memcg_create() says
 * why, and the caller enforces it from its own accounting.
 */
#ifndef GUESTMM_HOST_MEMCG_H
#define GUESTMM_HOST_MEMCG_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <sys/types.h>

enum memcg_version { MEMCG_V1 = 1, MEMCG_V2 = 2 };

struct memcg {
	enum memcg_version version;
	char path[512];		/* the cgroup's directory */
	uint64_t limit;		/* bytes, as written */
};

/*
 * memcg_create - make a memory cgroup named @name below this process's own
 * and limit it to @limit bytes.  @root, when not NULL, is the mount point
 * to use instead of the ones /proc/self/mountinfo names (tests).
 * On failure @why (of @why_len bytes) says what was missing, in a phrase.
 * Return: 0; -ENOENT no memory controller mounted; -EEXIST a cgroup of that
 * name exists; -EACCES, -EPERM, -EROFS not allowed to make one; -EINVAL a
 * limit of 0 or the kernel refused it; -ENAMETOOLONG the path.
 */
int memcg_create(struct memcg *cg, const char *root, const char *name,
		 uint64_t limit, char *why, size_t why_len);

/*
 * memcg_attach - move process @pid (all its threads) into @cg.
 * Return: 0, or a negative errno (-ESRCH: no such process).
 */
int memcg_attach(const struct memcg *cg, pid_t pid);

/* Bytes charged to @cg now, or 0 if they cannot be read. */
uint64_t memcg_usage(const struct memcg *cg);

/* Processes the kernel's OOM killer killed in @cg so far. */
uint64_t memcg_oom_kills(const struct memcg *cg);

/*
 * memcg_set_oom_killer - whether the kernel's OOM killer acts when @cg
 * reaches its limit (v1 memory.oom_control's oom_kill_disable).  Off, the
 * tasks that hit the limit wait until memory is uncharged, and the owner
 * chooses whom to kill (memcg_under_oom() says when).
 * Return: 0; -EOPNOTSUPP on v2, which has no such switch; another -errno.
 */
int memcg_set_oom_killer(const struct memcg *cg, bool on);

/* v1: whether tasks of @cg wait at its limit now (under_oom). */
bool memcg_under_oom(const struct memcg *cg);

/*
 * memcg_destroy - remove @cg.  Its processes must have exited; any still in
 * it are killed first (SIGKILL) and waited for, a bounded time.
 * Return: 0, or a negative errno (-EBUSY: processes would not leave).
 */
int memcg_destroy(struct memcg *cg);

#endif
