/*
 * test_unix_socket.c - two hosts on one socket path at the worst moment.
 *
 * unix_socket_listen() removes a stale socket file and binds its own; a
 * device removes its socket when it goes.  Each removal is an lstat() and
 * then an unlink(): whatever another host does between the two is what
 * these tests put there.  The program is linked with --wrap=unlink (and
 * --wrap=flock), so the unlink() of the socket path runs a second host's
 * unix_socket_listen() first, then the real unlink().
 *
 * The property checked is the one a user sees: a host that was given a
 * listening descriptor can be reached at the path.  A host that listens
 * at a path no longer its own serves nobody, and nothing says so.
 */
#define _GNU_SOURCE
#include <errno.h>
#include <pthread.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/file.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/un.h>
#include <unistd.h>

#include <cmocka.h>

#include "host/balloon.h"
#include "host/unix_socket.h"
#include "host/vhost_user.h"

int __real_unlink(const char *path);
int __wrap_unlink(const char *path);
int __real_flock(int fd, int op);
int __wrap_flock(int fd, int op);

/* What the next unlink() of hook_path runs first (once). */
static char hook_path[108];
static void (*hook)(void);
static bool in_hook;

int __wrap_unlink(const char *path)
{
	if (hook && !in_hook && !strcmp(path, hook_path)) {
		void (*h)(void) = hook;

		hook = NULL;
		in_hook = true;
		h();
		in_hook = false;
	}
	return __real_unlink(path);
}

/*
 * The second host runs in a thread of its own when the first may hold a
 * lock it needs: the first goes on once the second has either finished or
 * reached flock() (from then on the lock decides the order).
 */
static pthread_mutex_t second_lock = PTHREAD_MUTEX_INITIALIZER;
static pthread_cond_t second_cond = PTHREAD_COND_INITIALIZER;
static bool second_went_on; /* finished, or at flock() */
static _Thread_local bool is_second;
static int second_fd;
static struct unix_socket_id second_id;

static void second_went_on_now(void)
{
	pthread_mutex_lock(&second_lock);
	second_went_on = true;
	pthread_cond_broadcast(&second_cond);
	pthread_mutex_unlock(&second_lock);
}

int __wrap_flock(int fd, int op)
{
	if (is_second && (op & LOCK_EX))
		second_went_on_now();
	return __real_flock(fd, op);
}

static void *second_host(void *arg)
{
	(void)arg;
	is_second = true;
	second_fd = unix_socket_listen(hook_path, 4, SOCK_CLOEXEC, &second_id);
	second_went_on_now();
	return NULL;
}

static pthread_t second_thread;

static void start_second_and_wait(void)
{
	second_went_on = false;
	assert_int_equal(pthread_create(&second_thread, NULL, second_host, NULL), 0);
	pthread_mutex_lock(&second_lock);
	while (!second_went_on)
		pthread_cond_wait(&second_cond, &second_lock);
	pthread_mutex_unlock(&second_lock);
}

static void second_now(void)
{
	second_fd = unix_socket_listen(hook_path, 4, SOCK_CLOEXEC, &second_id);
}

static void sock_path(const char *name)
{
	snprintf(hook_path, sizeof(hook_path), "/tmp/gmm-usock-%d-%s",
		 (int)getpid(), name);
	__real_unlink(hook_path);
}

/* A socket file nobody listens on: a host that was killed. */
static void make_stale(void)
{
	struct sockaddr_un sun = { .sun_family = AF_UNIX };
	int fd = socket(AF_UNIX, SOCK_STREAM, 0);

	assert_true(fd >= 0);
	strcpy(sun.sun_path, hook_path);
	assert_int_equal(bind(fd, (struct sockaddr *)&sun, sizeof(sun)), 0);
	close(fd);
}

/* A connection to the path is queued on @fd: its host is the one there. */
static bool reachable(int fd)
{
	struct sockaddr_un sun = { .sun_family = AF_UNIX };
	int c = socket(AF_UNIX, SOCK_STREAM, 0), a = -1;
	bool ok = false;

	assert_true(c >= 0);
	strcpy(sun.sun_path, hook_path);
	if (connect(c, (struct sockaddr *)&sun, sizeof(sun)) == 0) {
		a = accept4(fd, NULL, NULL, SOCK_NONBLOCK);
		ok = a >= 0;
	}
	if (a >= 0)
		close(a);
	close(c);
	return ok;
}

/*
 * Two hosts find the same stale socket.  The first removes it; just
 * before its unlink(), the second does all of it (look, probe, remove,
 * bind, listen).  Exactly one of them may listen, and at the path.
 */
static void test_two_hosts_take_a_stale_socket(void **state)
{
	struct unix_socket_id first_id;
	int first_fd;

	(void)state;
	sock_path("stale");
	make_stale();
	hook = start_second_and_wait;
	first_fd = unix_socket_listen(hook_path, 4, SOCK_CLOEXEC, &first_id);
	assert_int_equal(pthread_join(second_thread, NULL), 0);

	/* One wins (the path was free for the taking), the other is told
	 * (-EADDRINUSE; -ENOLCK if the winner held the lock for seconds). */
	assert_true((first_fd >= 0) != (second_fd >= 0));
	/* And the winner is the one a frontend reaches. */
	assert_true(reachable(first_fd >= 0 ? first_fd : second_fd));

	if (first_fd >= 0) {
		assert_true(unix_socket_unlink(hook_path, &first_id));
		close(first_fd);
	} else {
		assert_true(unix_socket_unlink(hook_path, &second_id));
		close(second_fd);
	}
}

/*
 * A device goes while a second host starts on its path: the second host
 * probes just before the device's unlink().  Either the second host is
 * refused (the device still listened), or it listens at the path; never
 * bound and listening on a file the device then removes.
 */
static void test_second_host_while_a_device_goes(void **state)
{
	struct vhost_user_server *srv;
	struct balloon_dev *b;

	(void)state;
	sock_path("destroy");
	srv = vhost_user_server_create(VHOST_USER_THREAD_ONE);
	assert_non_null(srv);
	assert_int_equal(vhost_user_server_add_balloon(srv, hook_path, &b), 0);
	second_fd = -1;
	hook = second_now;
	assert_int_equal(vhost_user_server_destroy(srv), 0);
	assert_null(hook); /* the device removed its socket */

	if (second_fd >= 0) {
		assert_true(reachable(second_fd));
		assert_true(unix_socket_unlink(hook_path, &second_id));
		close(second_fd);
	} else {
		assert_int_equal(second_fd, -EADDRINUSE);
	}
	/* Nothing left behind either way. */
	assert_int_equal(access(hook_path, F_OK), -1);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_two_hosts_take_a_stale_socket),
		cmocka_unit_test(test_second_host_while_a_device_goes),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
