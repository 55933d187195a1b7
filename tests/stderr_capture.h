/*
 * stderr_capture.h - this process's stderr into a file for a while, then
 * read back: for tests of the one-line messages the host writes there.
 * Include after cmocka.h.
 */
#ifndef GUESTMM_TESTS_STDERR_CAPTURE_H
#define GUESTMM_TESTS_STDERR_CAPTURE_H

#include <fcntl.h>
#include <stdio.h>
#include <sys/types.h>
#include <unistd.h>

struct stderr_capture {
	char path[256];
	int fd;    /* the file stderr goes to */
	int saved; /* stderr as it was */
};

/* From here, stderr goes to the new file @dir/@name. */
static inline void stderr_capture_begin(struct stderr_capture *c,
					const char *dir, const char *name)
{
	snprintf(c->path, sizeof(c->path), "%s/%s", dir, name);
	c->fd = open(c->path, O_RDWR | O_CREAT | O_TRUNC | O_CLOEXEC, 0600);
	assert_true(c->fd >= 0);
	fflush(stderr);
	c->saved = dup(STDERR_FILENO);
	assert_true(c->saved >= 0);
	assert_int_equal(dup2(c->fd, STDERR_FILENO), STDERR_FILENO);
}

/*
 * stderr_capture_end - stderr back as it was; what was written meanwhile
 * into @text (NUL-terminated, cut at @len - 1 bytes); the file removed.
 * Return: pread()'s result (the bytes in @text, or -1).
 */
static inline ssize_t stderr_capture_end(struct stderr_capture *c, char *text,
					 size_t len)
{
	ssize_t n;

	fflush(stderr);
	dup2(c->saved, STDERR_FILENO);
	close(c->saved);
	n = pread(c->fd, text, len - 1, 0);
	close(c->fd);
	unlink(c->path);
	text[n > 0 ? n : 0] = 0;
	return n;
}

#endif
