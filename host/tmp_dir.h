/*
 * tmp_dir.h - the temporary directories of guestmm's processes: a run's
 * socket, a host's sockets, a user-mode Linux guest's uml_dir.
 *
 * Every one is made in $TMPDIR (/tmp when it is unset or empty) and named
 * for its maker: guestmm-KIND-PID-XXXXXX.  The maker holds an flock on the
 * directory for as long as it lives (the kernel drops it however the
 * process ends, SIGKILL included) and removes the directory, with what is
 * in it, when it is done with it.  A maker killed before it could leaves
 * it behind; the next maker removes such leftovers first
 * (tmp_dir_sweep()): a directory of exactly that form (a KIND we make,
 * mkdtemp's six characters), of our user, mode 0700, holding the owner
 * marker (TMP_DIR_OWNER) that names the pid of its name, whose lock it
 * can take and whose maker's pid is no process.  The marker is what tells
 * our directory from a user's look-alike: nothing without it is removed.  The lock answers pid reuse (a live
 * process that took a dead maker's pid holds no lock on it, and the
 * directory is left until that pid is gone too, never removed early); the
 * pid answers the moment between mkdtemp() and flock(), when a live maker
 * holds no lock yet.  Only directories of our own user are touched.
 *
 * A process that a signal ends can remove its directories from the
 * handler: tmp_dir_remove_tree() makes only async-signal-safe calls.
 */
#ifndef GUESTMM_HOST_TMP_DIR_H
#define GUESTMM_HOST_TMP_DIR_H

#include <stddef.h>

/*
 * The longest $TMPDIR a directory of ours can be made in: a socket path
 * inside it (a kind, a pid and six characters, then "/linux-16.sock")
 * must fit sun_path's 108 bytes.
 */
#define TMP_DIR_BASE_MAX 64
#define TMP_DIR_PATH_MAX (TMP_DIR_BASE_MAX + 40)

/*
 * The owner marker: the first thing a maker puts in a directory of ours,
 * a regular file holding its pid ("PID\n").  The sweep removes nothing
 * without it.
 */
#define TMP_DIR_OWNER ".guestmm-owner"

struct tmp_dir {
	char path[TMP_DIR_PATH_MAX];
	int lock_fd; /* the directory, flocked for the maker's life; -1: none */
};

const char *tmp_dir_base(void);
int tmp_dir_create(struct tmp_dir *d, const char *kind);
void tmp_dir_destroy(struct tmp_dir *d);
unsigned int tmp_dir_sweep(void);
int tmp_dir_remove_tree(const char *path);

#endif
