/*
 * test_memcg.c - the guests' memory cgroup: the kernel charges what a guest
 * faults in (its shmem RAM included) and uncharges what the host punches out
 * of it; the budget's OOM kill takes the guest and not the host; leftovers
 * are killed when the cgroup goes; bad requests are refused.
 *
 * Needs a memory cgroup this process may make children in (root on a host
 * with cgroup v1 memory, or v2 with memory delegated): without one the
 * program says why and exits 77, which ctest reports as skipped.
 */
#ifndef _GNU_SOURCE
#define _GNU_SOURCE
#endif
#include <errno.h>
#include <fcntl.h>
#include <setjmp.h>
#include <signal.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include <cmocka.h>

#include "host/memcg.h"

#define MIB (1ull << 20)

static unsigned int seq;

static void cg_make(struct memcg *cg, uint64_t limit)
{
	char name[64], why[256] = "";
	int err;

	snprintf(name, sizeof(name), "guestmm-test-%d-%u", (int)getpid(), seq++);
	err = memcg_create(cg, NULL, name, limit, why, sizeof(why));
	if (err)
		fail_msg("memcg_create: %s (%s)", strerror(-err), why);
}

/*
 * A child that waits for @go (a byte on a pipe) before it runs @fn, so the
 * parent can move it into the cgroup first.
 */
static pid_t child_start(int go[2], void (*fn)(void *), void *arg)
{
	pid_t pid;

	assert_int_equal(pipe(go), 0);
	pid = fork();
	assert_true(pid >= 0);
	if (!pid) {
		char c;

		close(go[1]);
		if (read(go[0], &c, 1) != 1)
			_exit(3);
		fn(arg);
		_exit(0);
	}
	close(go[0]);
	return pid;
}

static void child_go(int go[2])
{
	assert_int_equal(write(go[1], "g", 1), 1);
	close(go[1]);
}

static void touch(char *p, size_t len)
{
	for (size_t off = 0; off < len; off += 4096)
		((volatile char *)p)[off] = 1;
}

/* Fault in 256 MiB of a memfd, as a guest faults in its RAM. */
static void hog_memfd(void *arg)
{
	size_t len = 256 * MIB;
	int fd = memfd_create("guest-ram", MFD_CLOEXEC);
	char *p;

	(void)arg;
	if (fd < 0 || ftruncate(fd, (off_t)len))
		_exit(4);
	p = mmap(NULL, len, PROT_READ | PROT_WRITE, MAP_SHARED, fd, 0);
	if (p == MAP_FAILED)
		_exit(5);
	touch(p, len);
	_exit(0); /* not reached under a 64 MiB budget */
}

/* The budget's OOM kill takes the guest, counted, and leaves the host. */
static void test_budget_kills_the_guest(void **state)
{
	struct memcg cg;
	int go[2], status;
	pid_t pid;

	(void)state;
	cg_make(&cg, 64 * MIB);
	assert_int_equal(memcg_oom_kills(&cg), 0);
	pid = child_start(go, hog_memfd, NULL);
	assert_int_equal(memcg_attach(&cg, pid), 0);
	child_go(go);
	assert_int_equal(waitpid(pid, &status, 0), pid);
	assert_true(WIFSIGNALED(status));
	assert_int_equal(WTERMSIG(status), SIGKILL);
	assert_int_equal(memcg_oom_kills(&cg), 1);
	assert_true(memcg_usage(&cg) < 64 * MIB);
	assert_int_equal(memcg_destroy(&cg), 0);
	assert_int_equal(access(cg.path, F_OK), -1);
}

struct shared_ram {
	char *p;
	size_t len;
	int ready[2]; /* child -> parent: touched */
	int done[2];  /* parent -> child: may exit */
};

static void touch_shared(void *arg)
{
	struct shared_ram *r = arg;
	char c;

	touch(r->p, r->len);
	if (write(r->ready[1], "t", 1) != 1 || read(r->done[0], &c, 1) != 1)
		_exit(6);
}

/*
 * Guest RAM is a memfd both sides map: the guest (in the cgroup) touches it
 * first, so its pages are charged to the budget; the host (outside) punches
 * them out when the guest reports them free, and the charge goes with them.
 */
static void test_shmem_charged_then_released_by_punch(void **state)
{
	struct shared_ram r = { .len = 32 * MIB };
	struct memcg cg;
	int fd, go[2], status;
	uint64_t before, touched, punched;
	pid_t pid;
	char c;

	(void)state;
	fd = memfd_create("guest-ram", MFD_CLOEXEC);
	assert_true(fd >= 0);
	assert_int_equal(ftruncate(fd, (off_t)r.len), 0);
	r.p = mmap(NULL, r.len, PROT_READ | PROT_WRITE, MAP_SHARED, fd, 0);
	assert_true(r.p != MAP_FAILED);
	assert_int_equal(pipe(r.ready), 0);
	assert_int_equal(pipe(r.done), 0);
	cg_make(&cg, 256 * MIB);
	before = memcg_usage(&cg);
	pid = child_start(go, touch_shared, &r);
	assert_int_equal(memcg_attach(&cg, pid), 0);
	child_go(go);
	assert_int_equal(read(r.ready[0], &c, 1), 1);
	touched = memcg_usage(&cg);
	assert_true(touched >= before + r.len);
	assert_int_equal(fallocate(fd, FALLOC_FL_PUNCH_HOLE | FALLOC_FL_KEEP_SIZE,
				   0, (off_t)r.len), 0);
	punched = memcg_usage(&cg);
	assert_true(punched + r.len * 3 / 4 <= touched);
	assert_int_equal(write(r.done[1], "d", 1), 1);
	assert_int_equal(waitpid(pid, &status, 0), pid);
	assert_true(WIFEXITED(status) && WEXITSTATUS(status) == 0);
	assert_int_equal(memcg_oom_kills(&cg), 0);
	assert_int_equal(memcg_destroy(&cg), 0);
	munmap(r.p, r.len);
	close(fd);
	close(r.ready[0]);
	close(r.ready[1]);
	close(r.done[0]);
	close(r.done[1]);
}

static void sleep_forever(void *arg)
{
	(void)arg;
	for (;;)
		pause();
}

/* A guest still in the cgroup when the host removes it is killed first. */
static void test_destroy_kills_what_is_left(void **state)
{
	struct memcg cg;
	int go[2], status;
	pid_t pid;

	(void)state;
	cg_make(&cg, 64 * MIB);
	pid = child_start(go, sleep_forever, NULL);
	assert_int_equal(memcg_attach(&cg, pid), 0);
	child_go(go);
	assert_int_equal(memcg_destroy(&cg), 0);
	assert_int_equal(waitpid(pid, &status, 0), pid);
	assert_true(WIFSIGNALED(status) && WTERMSIG(status) == SIGKILL);
}

static void test_bad_requests(void **state)
{
	struct memcg cg, twin;
	char why[256] = "", name[64];

	(void)state;
	assert_int_equal(memcg_create(&cg, NULL, "guestmm-x", 0, why, sizeof(why)),
			 -EINVAL);
	assert_int_equal(memcg_create(&cg, NULL, "a/b", MIB, why, sizeof(why)),
			 -EINVAL);
	assert_int_equal(memcg_create(&cg, NULL, "", MIB, why, sizeof(why)),
			 -EINVAL);
	cg_make(&cg, 64 * MIB);
	snprintf(name, sizeof(name), "%s", strrchr(cg.path, '/') + 1);
	assert_int_equal(memcg_create(&twin, NULL, name, MIB, why, sizeof(why)),
			 -EEXIST);
	assert_non_null(strstr(why, name));
	assert_int_equal(memcg_attach(&cg, 0x7ffffff0), -ESRCH);
	assert_int_equal(memcg_destroy(&cg), 0);
	/* No hierarchy there: an error and a reason, nothing made. */
	why[0] = '\0';
	assert_true(memcg_create(&cg, "/nonexistent-cgroup-root", "g", MIB, why,
				 sizeof(why)) < 0);
	assert_true(why[0] != '\0');
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_budget_kills_the_guest),
		cmocka_unit_test(test_shmem_charged_then_released_by_punch),
		cmocka_unit_test(test_destroy_kills_what_is_left),
		cmocka_unit_test(test_bad_requests),
	};
	struct memcg probe;
	char name[64], why[256] = "";
	int err;

	snprintf(name, sizeof(name), "guestmm-test-%d-probe", (int)getpid());
	err = memcg_create(&probe, NULL, name, 64 * MIB, why, sizeof(why));
	if (err) {
		printf("skipped: no memory cgroup to make: %s (%s)\n", why,
		       strerror(-err));
		return 77;
	}
	memcg_destroy(&probe);
	return cmocka_run_group_tests(tests, NULL, NULL);
}
