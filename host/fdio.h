/*
 * fdio.h - reading and writing a frontend's notification descriptors
 * without ever blocking on them.
 *
 * A kick, call or error descriptor arrives by SCM_RIGHTS and shares its
 * open file description with the frontend, so O_NONBLOCK on it is the
 * frontend's to clear at any moment: nothing here relies on that flag.
 * Only anonymous pipes, eventfds and connected unix sockets are accepted
 * (fdio_check_notifier()), because those are the kinds whose reads and
 * writes can be bounded:
 *
 *  - reads (kicks) use preadv2(RWF_NOWAIT), which all three honour
 *    whatever the file's flags;
 *  - writes to a pipe or socket use pwritev2(RWF_NOWAIT) the same way;
 *  - an eventfd refuses RWF_NOWAIT on write (EOPNOTSUPP), so it is
 *    written only when poll() says there is room, and that write runs under
 *    a per-thread timer whose signal (FDIO_GUARD_SIGNAL, a no-op handler
 *    without SA_RESTART) interrupts it should the frontend fill the
 *    counter in between: at worst it waits FDIO_GUARD_NS.
 *
 * The process gives FDIO_GUARD_SIGNAL to this module once
 * fdio_guard_init() has run.
 */
#ifndef GUESTMM_HOST_FDIO_H
#define GUESTMM_HOST_FDIO_H

#include <signal.h>
#include <stdbool.h>

/* Otherwise unused in guestmm; the C library keeps SIGRTMIN's first few. */
#define FDIO_GUARD_SIGNAL (SIGRTMAX - 1)
/* How long a guarded eventfd write may wait: long enough never to cut a
 * write that is merely slow, short enough that a stall is harmless. */
#define FDIO_GUARD_NS 10000000L

int fdio_guard_init(void);
int fdio_check_notifier(int fd);
int fdio_notify(int fd);
int fdio_drain(int fd, unsigned int max_reads);

#endif
