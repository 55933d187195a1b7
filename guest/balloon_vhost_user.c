/*
 * balloon_vhost_user.c - a process guest's balloon driver: the driver over
 * the vhost-user transport, on a thread of its own.
 */
#include "guest/balloon_vhost_user.h"

#include <errno.h>
#include <pthread.h>
#include <stdlib.h>

#include "guest/balloon_driver.h"
#include "guest/vhost_user_transport.h"
#include "guestmm/guest.h"
#include "mm/page_reporting.h"
#include "virtio/virtio_balloon.h"

struct balloon_vhost_user {
	struct gmm_guest *guest;
	struct vhost_user_transport *vt;
	struct balloon_driver *bd;
	pthread_t thread;
};

static int bvu_set_reporting(void *ctx, struct page_reporting_dev_info *prdev)
{
	struct balloon_vhost_user *bv = ctx;

	return gmm_guest_set_reporting_device(bv->guest, prdev);
}

static struct free_bitmap *bvu_free_bitmap(void *ctx)
{
	struct balloon_vhost_user *bv = ctx;

	return gmm_guest_free_bitmap(bv->guest);
}

static void *bvu_thread(void *arg)
{
	struct balloon_vhost_user *bv = arg;

	balloon_driver_run(bv->bd);
	return NULL;
}

int balloon_vhost_user_start(struct gmm_guest *guest, const char *socket_path,
			     bool reporting, struct balloon_vhost_user **out)
{
	const struct gmm_guest_config *c = gmm_guest_config(guest);
	struct balloon_vhost_user *bv = calloc(1, sizeof(*bv));
	struct balloon_driver_env env;
	int err;

	if (!bv)
		return -ENOMEM;
	bv->guest = guest;
	/* Guest RAM is guest-physical 0 up, as the core numbers frames. */
	err = vhost_user_transport_create(socket_path, VIRTIO_ID_BALLOON,
					  gmm_guest_memfd(guest),
					  gmm_guest_ram(guest), 0,
					  c->mem_bytes, &bv->vt);
	if (err)
		goto undo_alloc;
	env = (struct balloon_driver_env){
		.pgdat = gmm_guest_pgdat(guest),
		.ram_gpa = 0,
		.mem_bytes = c->mem_bytes,
		.reporting = reporting,
		.hints = c->hinting == GMM_HINTING_BITMAP,
		.hint_cap_pages = c->hint_cap_bytes >> PAGE_SHIFT,
		.set_reporting = bvu_set_reporting,
		.free_bitmap = bvu_free_bitmap,
		.ctx = bv,
	};
	err = balloon_driver_probe(&env, vhost_user_transport_virtio(bv->vt),
				   &bv->bd);
	if (err)
		goto undo_transport;
	if (pthread_create(&bv->thread, NULL, bvu_thread, bv)) {
		err = -EAGAIN;
		goto undo_probe;
	}
	*out = bv;
	return 0;

undo_probe:
	balloon_driver_shutdown(bv->bd);
	balloon_driver_remove(bv->bd);
undo_transport:
	vhost_user_transport_destroy(bv->vt);
undo_alloc:
	free(bv);
	return err;
}

void balloon_vhost_user_stop(struct balloon_vhost_user *bv)
{
	if (!bv)
		return;
	balloon_driver_shutdown(bv->bd);
	pthread_join(bv->thread, NULL);
	balloon_driver_remove(bv->bd);
	vhost_user_transport_destroy(bv->vt);
	free(bv);
}

struct balloon_driver *balloon_vhost_user_driver(struct balloon_vhost_user *bv)
{
	return bv->bd;
}
