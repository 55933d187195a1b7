/*
 * test_qmp.c - the QMP client (runner/qmp.c) against a stand-in QEMU on a
 * Unix socket: the greeting and negotiation, an answer after an event, an
 * error, a peer that is not QMP, a peer that closes; and reading numbers
 * out of answers, where anything but an unsigned integer is refused.
 */
#include "testutil.h"

#include <errno.h>
#include <pthread.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <unistd.h>

#include "runner/qmp.h"

struct peer {
	char path[108];
	int listen_fd;
	const char *const *says;	/* a line per command it reads, NULL ends */
	const char *greeting;
};

/* Read one line (a command) from @fd.  Return: false at EOF. */
static bool read_command(int fd)
{
	char c;

	for (;;) {
		if (read(fd, &c, 1) != 1)
			return false;
		/* A command ends at its last brace; the client's tests
		 * send none nested. */
		if (c == '}')
			return true;
	}
}

static void *peer_main(void *arg)
{
	struct peer *p = arg;
	int fd = accept(p->listen_fd, NULL, NULL);

	if (fd < 0)
		return NULL;
	if (write(fd, p->greeting, strlen(p->greeting)) < 0)
		goto out;
	for (const char *const *s = p->says; *s; s++) {
		if (!read_command(fd))
			break;
		if (write(fd, *s, strlen(*s)) < 0)
			break;
	}
out:
	close(fd);
	return NULL;
}

static void peer_start(struct peer *p, pthread_t *t)
{
	struct sockaddr_un sa = { .sun_family = AF_UNIX };

	snprintf(p->path, sizeof(p->path), "%s/qmp-test-%d.sock",
		 getenv("TMPDIR") ? getenv("TMPDIR") : "/tmp", (int)getpid());
	unlink(p->path);
	strcpy(sa.sun_path, p->path);
	p->listen_fd = socket(AF_UNIX, SOCK_STREAM, 0);
	assert_true(p->listen_fd >= 0);
	assert_int_equal(bind(p->listen_fd, (struct sockaddr *)&sa, sizeof(sa)), 0);
	assert_int_equal(listen(p->listen_fd, 1), 0);
	assert_int_equal(pthread_create(t, NULL, peer_main, p), 0);
}

static void peer_stop(struct peer *p, pthread_t t)
{
	pthread_join(t, NULL);
	close(p->listen_fd);
	unlink(p->path);
}

#define GREETING "{\"QMP\": {\"version\": {}, \"capabilities\": [\"oob\"]}}\r\n"

/* An event between a command and its answer is skipped; an error is
 * -EREMOTEIO with its line. */
static void test_answer_after_event_and_error(void **state)
{
	static const char *const says[] = {
		"{\"return\": {}}\r\n",
		"{\"timestamp\": {\"seconds\": 1}, \"event\": \"BALLOON_CHANGE\", \"data\": {\"actual\": 5}}\r\n"
		"{\"return\": {\"actual\": 2147483648}}\r\n",
		"{\"error\": {\"class\": \"GenericError\", \"desc\": \"no\"}}\r\n",
		NULL,
	};
	struct peer p = { .says = says, .greeting = GREETING };
	struct qmp q;
	char reply[256];
	uint64_t v = 0;
	pthread_t t;

	(void)state;
	peer_start(&p, &t);
	assert_int_equal(qmp_connect(&q, p.path, 5000), 0);
	assert_int_equal(qmp_execute(&q, "{\"execute\": \"query-balloon\"}",
				     reply, sizeof(reply), 5000), 0);
	assert_true(qmp_get_u64(reply, "actual", &v));
	assert_true(v == 2147483648ull);
	assert_int_equal(qmp_execute(&q, "{\"execute\": \"x\"}", reply,
				     sizeof(reply), 5000), -EREMOTEIO);
	assert_non_null(strstr(reply, "GenericError"));
	/* The peer has gone. */
	assert_int_equal(qmp_execute(&q, "{\"execute\": \"x\"}", reply,
				     sizeof(reply), 5000), -EPIPE);
	qmp_close(&q);
	peer_stop(&p, t);
}

/* Answers and events are told apart by their members, not by words in
 * them: an event whose data says "return" is still an event, an error
 * whose text is "event" still the answer. */
static void test_event_words_in_answers(void **state)
{
	static const char *const says[] = {
		"{\"return\": {}}\r\n",
		"{\"timestamp\": {\"seconds\": 1}, \"event\": \"GUEST_ENDED\", \"data\": {\"guest\": \"return\", \"state\": \"exited\"}}\r\n"
		"{\"return\": {\"actual\": 7}}\r\n",
		"{\"error\": {\"class\": \"GenericError\", \"desc\": \"event\"}}\r\n",
		"{\"return\": {\"event\": \"x\"}}\r\n",
		NULL,
	};
	struct peer p = { .says = says, .greeting = GREETING };
	struct qmp q;
	char reply[256];
	uint64_t v = 0;
	pthread_t t;

	(void)state;
	peer_start(&p, &t);
	assert_int_equal(qmp_connect(&q, p.path, 5000), 0);
	assert_int_equal(qmp_execute(&q, "{\"execute\": \"query-balloon\"}",
				     reply, sizeof(reply), 5000), 0);
	assert_true(qmp_get_u64(reply, "actual", &v));
	assert_true(v == 7);
	assert_int_equal(qmp_execute(&q, "{\"execute\": \"x\"}", reply,
				     sizeof(reply), 2000), -EREMOTEIO);
	assert_int_equal(qmp_execute(&q, "{\"execute\": \"x\"}", reply,
				     sizeof(reply), 2000), 0);
	qmp_close(&q);
	peer_stop(&p, t);
}

/* A peer that does not greet as QMP is refused. */
static void test_not_qmp(void **state)
{
	static const char *const says[] = { NULL };
	struct peer p = { .says = says, .greeting = "SSH-2.0-OpenSSH\r\n" };
	struct qmp q;
	pthread_t t;

	(void)state;
	peer_start(&p, &t);
	assert_int_equal(qmp_connect(&q, p.path, 5000), -EPROTO);
	peer_stop(&p, t);
}

/* Nobody listening: a bounded wait, then -ETIMEDOUT. */
static void test_nobody(void **state)
{
	struct qmp q;

	(void)state;
	assert_int_equal(qmp_connect(&q, "/nonexistent/qmp.sock", 100),
			 -ETIMEDOUT);
}

static void test_get_u64(void **state)
{
	uint64_t v = 7;

	(void)state;
	assert_true(qmp_get_u64("{\"a\": 12, \"b\": 3}", "b", &v));
	assert_true(v == 3);
	assert_true(qmp_get_u64("{\"a\": 18446744073709551615}", "a", &v));
	assert_true(v == UINT64_MAX);
	v = 7;
	assert_false(qmp_get_u64("{\"a\": -1}", "a", &v));
	assert_false(qmp_get_u64("{\"a\": 1.5}", "a", &v));
	assert_false(qmp_get_u64("{\"a\": \"1\"}", "a", &v));
	assert_false(qmp_get_u64("{\"a\": 18446744073709551616}", "a", &v));
	assert_false(qmp_get_u64("{\"b\": 1}", "a", &v));
	assert_true(v == 7);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_answer_after_event_and_error),
		cmocka_unit_test(test_event_words_in_answers),
		cmocka_unit_test(test_not_qmp),
		cmocka_unit_test(test_nobody),
		cmocka_unit_test(test_get_u64),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
