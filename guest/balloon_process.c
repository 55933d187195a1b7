/*
 * balloon_process.c - a process guest's balloon driver: the driver over a
 * transport, on a thread of its own.
 */
#include "guest/balloon_process.h"

#include <errno.h>
#include <pthread.h>
#include <stdlib.h>

#include "guest/balloon_driver.h"
#include "guest/vhost_user_transport.h"
#include "guestmm/guest.h"
#include "mm/page_reporting.h"
#include "virtio/virtio_balloon.h"

struct balloon_process {
	struct gmm_guest *guest;
	struct vhost_user_transport *vt; /* ours, or NULL: the caller's */
	struct balloon_driver *bd;
	pthread_t thread;
};

static int bp_set_reporting(void *ctx, struct page_reporting_dev_info *prdev)
{
	struct balloon_process *bp = ctx;

	return gmm_guest_set_reporting_device(bp->guest, prdev);
}

static struct free_bitmap *bp_free_bitmap(void *ctx)
{
	struct balloon_process *bp = ctx;

	return gmm_guest_free_bitmap(bp->guest);
}

static void *bp_thread(void *arg)
{
	struct balloon_process *bp = arg;

	balloon_driver_run(bp->bd);
	return NULL;
}

static int bp_attach(struct balloon_process *bp, struct virtio_transport *t,
		     bool reporting)
{
	const struct gmm_guest_config *c = gmm_guest_config(bp->guest);
	struct balloon_driver_env env = {
		.pgdat = gmm_guest_pgdat(bp->guest),
		/* Guest RAM is guest-physical 0 up, as the core numbers
		 * frames. */
		.ram_gpa = 0,
		.mem_bytes = c->mem_bytes,
		.reporting = reporting,
		.hints = c->hinting == GMM_HINTING_BITMAP,
		.hint_cap_pages = c->hint_cap_bytes >> PAGE_SHIFT,
		.set_reporting = bp_set_reporting,
		.free_bitmap = bp_free_bitmap,
		.ctx = bp,
	};
	int err = balloon_driver_probe(&env, t, &bp->bd);

	if (err)
		return err;
	if (pthread_create(&bp->thread, NULL, bp_thread, bp)) {
		balloon_driver_shutdown(bp->bd);
		balloon_driver_remove(bp->bd);
		return -EAGAIN;
	}
	return 0;
}

int balloon_process_attach(struct gmm_guest *guest, struct virtio_transport *t,
			   bool reporting, struct balloon_process **out)
{
	struct balloon_process *bp = calloc(1, sizeof(*bp));
	int err;

	if (!bp)
		return -ENOMEM;
	bp->guest = guest;
	err = bp_attach(bp, t, reporting);
	if (err) {
		free(bp);
		return err;
	}
	*out = bp;
	return 0;
}

int balloon_process_start(struct gmm_guest *guest, const char *socket_path,
			  bool reporting, struct balloon_process **out)
{
	const struct gmm_guest_config *c = gmm_guest_config(guest);
	struct balloon_process *bp = calloc(1, sizeof(*bp));
	int err;

	if (!bp)
		return -ENOMEM;
	bp->guest = guest;
	err = vhost_user_transport_create(socket_path, VIRTIO_ID_BALLOON,
					  gmm_guest_memfd(guest),
					  gmm_guest_ram(guest), 0,
					  c->mem_bytes, &bp->vt);
	if (err)
		goto undo_alloc;
	err = bp_attach(bp, vhost_user_transport_virtio(bp->vt), reporting);
	if (err)
		goto undo_transport;
	*out = bp;
	return 0;

undo_transport:
	vhost_user_transport_destroy(bp->vt);
undo_alloc:
	free(bp);
	return err;
}

void balloon_process_stop(struct balloon_process *bp)
{
	if (!bp)
		return;
	balloon_driver_shutdown(bp->bd);
	pthread_join(bp->thread, NULL);
	balloon_driver_remove(bp->bd);
	vhost_user_transport_destroy(bp->vt);
	free(bp);
}

struct balloon_driver *balloon_process_driver(struct balloon_process *bp)
{
	return bp->bd;
}
