/*
 * hint_host.h - the host's side of the bitmap strategy, in this process: a
 * thread that asks the guest for free page hints under a command id,
 * discards the runs it gets and acknowledges (mm/free_bitmap.h).
 */
#ifndef GUESTMM_GUEST_HINT_HOST_H
#define GUESTMM_GUEST_HINT_HOST_H

#include <stdint.h>

struct free_bitmap;
struct hint_host;

/* Discard [@off, @off + @len) of guest RAM.  Return: 0 or a negative errno. */
typedef int (*hint_discard_fn)(void *arg, uint64_t off, uint64_t len);

/*
 * Start the thread: every @poll_ms it asks for at most @cap_pages frames
 * (0: no cap), discards and acknowledges, and asks again at once while a
 * request comes back full (the runs or the cap).
 * Return: 0 with *@out set; -ENOMEM; another errno from pthread_create().
 */
int hint_host_start(struct free_bitmap *fb, hint_discard_fn discard, void *arg,
		    unsigned int poll_ms, uint64_t cap_pages,
		    struct hint_host **out);
/* Stop the thread; a command in flight is acknowledged first. */
void hint_host_stop(struct hint_host *h);
/*
 * One round in the caller: request, discard, acknowledge.
 * Return: 1 when the request came back full (more may be free), 0 when
 * not, or a negative errno.
 */
int hint_host_round(struct hint_host *h);
/* CPU time the thread has spent in rounds. */
uint64_t hint_host_cpu_ns(struct hint_host *h);
uint64_t hint_host_discard_errors(struct hint_host *h);

#endif
