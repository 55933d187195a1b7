/*
 * guest.c - the in-process embodiment: guest RAM is a memfd mapped shared,
 * the core manages it, and the reporting device discards reported ranges with
 * fallocate(PUNCH_HOLE), which frees the memfd's pages on the host.  Host
 * accounting reads the memfd's allocated blocks, never the core's counters.
 */
#define _GNU_SOURCE
#include "guestmm/guest.h"

#include <errno.h>
#include <fcntl.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/resource.h>
#include <sys/stat.h>
#include <unistd.h>

#include "guest/discard_track.h"
#include "guest/hint_host.h"
#include "mm/free_bitmap.h"
#include "mm/gfp.h"
#include "mm/page_hinting.h"
#include "mm/page_reporting.h"

#define container_of(ptr, type, member)                                        \
	((type *)((char *)(ptr)-offsetof(type, member)))

struct gmm_guest {
	struct gmm_guest_config config;
	int memfd;
	void *ram;
	struct pglist_data *pgdat;
	/*
	 * The in-process reporting device: registered for report, used
	 * unregistered as page hinting's device for percpu.
	 */
	struct page_reporting_dev_info prdev;
	/*
	 * The device the strategy in effect reports through: &prdev, a
	 * driver's own (a process guest's balloon driver), or NULL while no
	 * strategy is on.  report registers it as the reporting device,
	 * percpu hands it to page hinting unregistered, bitmap (in process
	 * only) leaves it idle and discards through its own host thread.
	 * @reporting and @active change only on the owner's thread, through
	 * gmm_guest_set_reporting_device().
	 */
	struct page_reporting_dev_info *reporting;
	enum gmm_hinting active; /* while @reporting is set */
	struct page_hinting ph;
	/* The bitmap, kept for the guest's life: see free_bitmap_size(). */
	struct free_bitmap *fb;
	struct hint_host *host;
	struct discard_track *track;
	atomic_uint_fast64_t discard_errors;
};

const char *const gmm_hinting_names[GMM_NR_HINTING] = {
	[GMM_HINTING_REPORT] = "report",
	[GMM_HINTING_PERCPU] = "percpu",
	[GMM_HINTING_BITMAP] = "bitmap",
	[GMM_HINTING_OFF] = "off",
};

int gmm_hinting_parse(const char *name, enum gmm_hinting *h)
{
	for (unsigned int i = 0; i < GMM_NR_HINTING; i++) {
		if (!strcmp(name, gmm_hinting_names[i])) {
			*h = (enum gmm_hinting)i;
			return 0;
		}
	}
	return -EINVAL;
}

void gmm_guest_config_init(struct gmm_guest_config *c)
{
	*c = (struct gmm_guest_config){
		.mem_bytes = 2ull << 30,
		.low_zone_bytes = 16ull << 20,
		.cpus = 2,
		.reporting = true,
		.hinting = GMM_HINTING_REPORT,
		.hint_entries = PAGE_HINTING_ENTRIES,
		.hint_cap_bytes = GMM_HINT_CAP_DEFAULT,
		.report_order = PAGE_REPORTING_ORDER,
		.report_capacity = PAGE_REPORTING_CAPACITY,
		.report_hwm = PAGE_REPORTING_HWM,
		.report_delay_ms = PAGE_REPORTING_DELAY_MS,
		.report_min_age_ms = GMM_REPORT_MIN_AGE_HALF_DELAY,
	};
}

unsigned int gmm_guest_hint_poll_ms(const struct gmm_guest_config *c)
{
	if (c->hint_poll_ms)
		return c->hint_poll_ms;
	return c->report_delay_ms > GMM_HINT_POLL_FLOOR_MS ? c->report_delay_ms
							   : GMM_HINT_POLL_FLOOR_MS;
}

/*
 * The device: every range is punched out of the memfd.  KEEP_SIZE leaves the
 * file's length, so the guest can touch the range again and get zeroes.
 */
static int guest_discard(void *arg, uint64_t off, uint64_t len)
{
	struct gmm_guest *g = arg;

	discard_track_discard(g->track, off, len);
	if (fallocate(g->memfd, FALLOC_FL_PUNCH_HOLE | FALLOC_FL_KEEP_SIZE,
		      (off_t)off, (off_t)len)) {
		int err = errno;

		atomic_fetch_add(&g->discard_errors, 1);
		return -err;
	}
	return 0;
}

static int discard_report(struct page_reporting_dev_info *prdev,
			  struct scatterlist *sg, unsigned int nents)
{
	struct gmm_guest *g = container_of(prdev, struct gmm_guest, prdev);

	for (unsigned int i = 0; i < nents; i++) {
		int err = guest_discard(g, page_to_phys(g->pgdat, sg[i].page),
					sg[i].length);

		if (err)
			return err;
	}
	return 0;
}

static int config_check(const struct gmm_guest_config *c)
{
	if (c->mem_bytes < (64ull << 20) || c->mem_bytes > (1ull << 40) ||
	    c->mem_bytes % (4ull << 20)) {
		fprintf(stderr, "guestmm: guest RAM must be a multiple of 4 MiB from 64 MiB to 1 TiB\n");
		return -EINVAL;
	}
	if (c->cpus < 1 || c->cpus > MAX_NR_CPUS) {
		fprintf(stderr, "guestmm: vCPUs must be 1 to %d\n", MAX_NR_CPUS);
		return -EINVAL;
	}
	if (c->report_order >= MAX_ORDER) {
		fprintf(stderr, "guestmm: reporting order must be 0 to %d\n",
			MAX_ORDER - 1);
		return -EINVAL;
	}
	if (c->report_capacity < 1 ||
	    c->report_capacity > PAGE_REPORTING_CAPACITY_MAX) {
		fprintf(stderr, "guestmm: report capacity must be 1 to %d\n",
			PAGE_REPORTING_CAPACITY_MAX);
		return -EINVAL;
	}
	if (c->hinting >= GMM_NR_HINTING) {
		fprintf(stderr, "guestmm: no hinting strategy %u\n", c->hinting);
		return -EINVAL;
	}
	if (c->hint_entries < 1 || c->hint_entries > PAGE_HINTING_ENTRIES_MAX) {
		fprintf(stderr, "guestmm: hinting entries must be 1 to %d\n",
			PAGE_HINTING_ENTRIES_MAX);
		return -EINVAL;
	}
	if (c->hint_cap_bytes < (1ull << 20) ||
	    c->hint_cap_bytes > GMM_HINT_CAP_MAX) {
		fprintf(stderr, "guestmm: hint cap must be 1 MiB to %llu MiB\n",
			GMM_HINT_CAP_MAX >> 20);
		return -EINVAL;
	}
	if (c->low_zone_bytes % PAGE_SIZE || c->low_zone_bytes > c->mem_bytes / 2) {
		fprintf(stderr, "guestmm: low zone must be page aligned and at most half of RAM\n");
		return -EINVAL;
	}
	return 0;
}

/* "64.00 MiB", "2.00 GiB": a size in what is logged. */
static const char *guest_fmt_bytes(char *buf, size_t len, uint64_t bytes)
{
	if (bytes >= (1ull << 30))
		snprintf(buf, len, "%.2f GiB", (double)bytes / (1ull << 30));
	else
		snprintf(buf, len, "%.2f MiB", (double)bytes / (1ull << 20));
	return buf;
}

/*
 * Say once which step of making the guest failed, and how: the same line
 * wherever a guest is made (in process, in a guest process, whose host
 * relays it).  An mmap that runs out of address space names RLIMIT_AS.
 * Return: @err.
 */
static int guest_create_failed(const struct gmm_guest_config *c,
			       const char *step, int err)
{
	char size[32], limit[64] = "";
	struct rlimit rl;

	if (err == -ENOMEM && !strcmp(step, "mmap") &&
	    !getrlimit(RLIMIT_AS, &rl) && rl.rlim_cur != RLIM_INFINITY) {
		char as[32];

		snprintf(limit, sizeof(limit), " (RLIMIT_AS is %s)",
			 guest_fmt_bytes(as, sizeof(as), rl.rlim_cur));
	}
	fprintf(stderr, "guestmm: cannot make the guest's RAM (%s): %s: %s%s\n",
		guest_fmt_bytes(size, sizeof(size), c->mem_bytes), step,
		strerror(-err), limit);
	return err;
}

int gmm_guest_create(const struct gmm_guest_config *config,
		     struct gmm_guest **out)
{
	struct gmm_guest *g;
	struct mm_boot_params boot;
	int err = config_check(config);

	if (err)
		return err;
	g = calloc(1, sizeof(*g));
	if (!g)
		return -ENOMEM;
	g->config = *config;
	g->memfd = memfd_create("guestmm-ram", MFD_CLOEXEC);
	if (g->memfd < 0) {
		err = guest_create_failed(config, "memfd_create", -errno);
		goto undo_alloc;
	}
	if (ftruncate(g->memfd, (off_t)config->mem_bytes)) {
		err = guest_create_failed(config, "ftruncate", -errno);
		goto undo_memfd;
	}
	g->ram = mmap(NULL, config->mem_bytes, PROT_READ | PROT_WRITE,
		      MAP_SHARED | MAP_NORESERVE, g->memfd, 0);
	if (g->ram == MAP_FAILED) {
		err = guest_create_failed(config, "mmap", -errno);
		goto undo_memfd;
	}
	boot = (struct mm_boot_params){
		.ram = g->ram,
		.ram_bytes = config->mem_bytes,
		.low_zone_bytes = config->low_zone_bytes,
		.nr_cpus = config->cpus,
	};
	err = mm_init(&boot, &g->pgdat);
	if (err) {
		guest_create_failed(config, "its frame metadata", err);
		goto undo_mmap;
	}
	atomic_init(&g->discard_errors, 0);
	g->fb = calloc(1, free_bitmap_size(config->mem_bytes >> PAGE_SHIFT,
					   config->report_order));
	if (!g->fb) {
		err = guest_create_failed(config, "its free bitmap", -ENOMEM);
		goto undo_mmap;
	}
	/* Once: registrations come and go, allocations of the last may read it. */
	g->fb->order = config->report_order;
	if (config->track_discards) {
		g->track = discard_track_create(g->ram, config->mem_bytes,
						config->report_order);
		if (!g->track) {
			err = guest_create_failed(config, "its discard tracker",
						  -ENOMEM);
			goto undo_fb;
		}
	}
	if (config->reporting) {
		err = gmm_guest_set_reporting(g, true);
		if (err) {
			guest_create_failed(config, "its reporting", err);
			goto undo_track;
		}
	}
	*out = g;
	return 0;

undo_track:
	discard_track_destroy(g->track);
undo_fb:
	free(g->fb);
undo_mmap:
	munmap(g->ram, config->mem_bytes);
undo_memfd:
	close(g->memfd);
undo_alloc:
	free(g);
	return err;
}

void gmm_guest_destroy(struct gmm_guest *g)
{
	if (!g)
		return;
	gmm_guest_set_reporting_device(g, NULL);
	munmap(g->ram, g->config.mem_bytes);
	close(g->memfd);
	discard_track_destroy(g->track);
	free(g->fb);
	free(g);
}

/* @prdev's settings from the guest's config; its @report is kept. */
static void guest_prdev_init(struct gmm_guest *g,
			     struct page_reporting_dev_info *prdev)
{
	int (*report)(struct page_reporting_dev_info *, struct scatterlist *,
		      unsigned int) = prdev->report;

	page_reporting_dev_info_init(prdev);
	prdev->report = report;
	prdev->order = g->config.report_order;
	prdev->capacity = g->config.report_capacity;
	prdev->hwm = g->config.report_hwm;
	prdev->delay_ms = g->config.report_delay_ms;
	prdev->min_age_ms =
		g->config.report_min_age_ms == GMM_REPORT_MIN_AGE_HALF_DELAY
			? g->config.report_delay_ms / 2
			: g->config.report_min_age_ms;
}

/*
 * Start strategy @h reporting through @prdev.
 * Return: 0 or a negative errno, with nothing left registered.
 */
static int guest_strategy_start(struct gmm_guest *g, enum gmm_hinting h,
				struct page_reporting_dev_info *prdev)
{
	int err;

	guest_prdev_init(g, prdev);
	switch (h) {
	case GMM_HINTING_REPORT:
		return page_reporting_register(g->pgdat, prdev);
	case GMM_HINTING_PERCPU:
		page_hinting_init(&g->ph);
		g->ph.dev = prdev;
		g->ph.entries = g->config.hint_entries;
		return page_hinting_register(g->pgdat, &g->ph);
	case GMM_HINTING_BITMAP:
		/*
		 * In process, the bitmap's host is a thread of this process
		 * that punches the memfd itself.  Through a driver's device
		 * the host is the device's: the driver answers its free page
		 * hint commands with gmm_guest_free_bitmap().
		 */
		err = free_bitmap_register(g->pgdat, g->fb);
		if (err || prdev != &g->prdev)
			return err;
		err = hint_host_start(g->fb, guest_discard, g,
				      gmm_guest_hint_poll_ms(&g->config),
				      g->config.hint_cap_bytes >> PAGE_SHIFT,
				      &g->host);
		if (err)
			free_bitmap_unregister(g->fb);
		return err;
	default:
		return 0;
	}
}

static void guest_strategy_stop(struct gmm_guest *g, enum gmm_hinting h)
{
	switch (h) {
	case GMM_HINTING_REPORT:
		page_reporting_unregister(g->reporting);
		break;
	case GMM_HINTING_PERCPU:
		page_hinting_unregister(&g->ph);
		break;
	case GMM_HINTING_BITMAP:
		/* The host acknowledges what it has before it goes. */
		hint_host_stop(g->host);
		g->host = NULL;
		free_bitmap_unregister(g->fb);
		break;
	default:
		break;
	}
}

/*
 * gmm_guest_set_reporting_device - make @prdev (its @report set by the
 * caller) the device the guest's strategy (config.hinting) reports
 * through, with the guest's reporting settings; NULL stops the strategy.
 * A strategy already on is stopped first.  With hinting off, nothing
 * starts and 0 is returned.
 * Return: 0, or the strategy's registration error (nothing is then
 * registered).
 */
int gmm_guest_set_reporting_device(struct gmm_guest *g,
				   struct page_reporting_dev_info *prdev)
{
	int err;

	if (prdev == g->reporting)
		return 0;
	if (g->reporting) {
		guest_strategy_stop(g, g->active);
		g->reporting = NULL;
	}
	if (!prdev || g->config.hinting == GMM_HINTING_OFF)
		return 0;
	err = guest_strategy_start(g, g->config.hinting, prdev);
	if (err)
		return err;
	g->active = g->config.hinting;
	g->reporting = prdev;
	return 0;
}

int gmm_guest_set_reporting(struct gmm_guest *g, bool on)
{
	if (on == (g->reporting != NULL))
		return 0;
	if (on)
		g->prdev.report = discard_report;
	return gmm_guest_set_reporting_device(g, on ? &g->prdev : NULL);
}

int gmm_guest_set_hinting(struct gmm_guest *g, enum gmm_hinting h)
{
	struct page_reporting_dev_info *dev = g->reporting;

	if ((unsigned int)h >= GMM_NR_HINTING)
		return -EINVAL;
	if (dev)
		gmm_guest_set_reporting_device(g, NULL);
	g->config.hinting = h;
	return dev ? gmm_guest_set_reporting_device(g, dev) : 0;
}

int gmm_guest_report_now(struct gmm_guest *g)
{
	int err;

	if (!g->reporting)
		return -EINVAL;
	switch (g->active) {
	case GMM_HINTING_REPORT:
		return page_reporting_process(g->reporting);
	case GMM_HINTING_PERCPU:
		return page_hinting_process(&g->ph);
	case GMM_HINTING_BITMAP:
		/* Through a driver, the device's host decides when. */
		if (!g->host)
			return -EINVAL;
		err = hint_host_round(g->host);
		return err < 0 ? err : 0;
	default:
		return -EINVAL;
	}
}

int gmm_guest_validate(struct gmm_guest *g)
{
	int err = 0;

	if (g->reporting && g->active == GMM_HINTING_PERCPU)
		err = page_hinting_check(&g->ph);
	if (g->reporting && g->active == GMM_HINTING_BITMAP)
		err = free_bitmap_check(g->fb);
	return err ? err : buddy_check(g->pgdat);
}

struct free_bitmap *gmm_guest_free_bitmap(struct gmm_guest *g)
{
	if (g->reporting && g->active == GMM_HINTING_BITMAP &&
	    g->reporting != &g->prdev)
		return g->fb;
	return NULL;
}

void gmm_guest_track_sample(struct gmm_guest *g)
{
	discard_track_sample(g->track);
}

struct pglist_data *gmm_guest_pgdat(struct gmm_guest *g)
{
	return g->pgdat;
}

const struct gmm_guest_config *gmm_guest_config(struct gmm_guest *g)
{
	return &g->config;
}

void *gmm_guest_ram(struct gmm_guest *g)
{
	return g->ram;
}

int gmm_guest_memfd(struct gmm_guest *g)
{
	return g->memfd;
}

uint64_t gmm_guest_host_resident_bytes(struct gmm_guest *g)
{
	struct stat st;

	if (fstat(g->memfd, &st))
		return 0;
	return (uint64_t)st.st_blocks * 512;
}

void gmm_guest_get_stats(struct gmm_guest *g, struct gmm_guest_stats *st)
{
	struct pglist_data *pgdat = g->pgdat;

	*st = (struct gmm_guest_stats){ .mem_bytes = g->config.mem_bytes };
	for (unsigned int z = 0; z < pgdat->nr_zones; z++) {
		struct zone *zone = &pgdat->node_zones[z];

		st->free_bytes += zone_free_pages(zone) << PAGE_SHIFT;
	}
	st->reported_free_bytes = 0;
	for (unsigned int z = 0; z < pgdat->nr_zones; z++) {
		struct zone *zone = &pgdat->node_zones[z];

		spin_lock(&zone->lock);
		for (unsigned int o = 0; o < MAX_ORDER; o++)
			st->reported_free_bytes += zone->reported_blocks[o]
						   << (o + PAGE_SHIFT);
		spin_unlock(&zone->lock);
	}
	st->hinting = g->reporting ? g->active : GMM_HINTING_OFF;
	if (g->reporting && g->active == GMM_HINTING_REPORT) {
		st->reports = atomic_load(&g->reporting->reports);
		st->reported_bytes = atomic_load(&g->reporting->reported_pages)
				     << PAGE_SHIFT;
		st->report_failures = atomic_load(&g->reporting->failures);
		st->worker_cpu_ns = atomic_load(&g->reporting->worker_cpu_ns);
	}
	if (g->reporting && g->active == GMM_HINTING_PERCPU) {
		st->reports = atomic_load(&g->ph.reports);
		st->reported_bytes = atomic_load(&g->ph.reported_pages)
				     << PAGE_SHIFT;
		st->report_failures = atomic_load(&g->ph.failures);
		st->worker_cpu_ns = atomic_load(&g->ph.worker_cpu_ns);
		st->hint_dropped = atomic_load(&g->ph.dropped);
		st->hint_stale = atomic_load(&g->ph.stale);
	}
	if (g->reporting && g->active == GMM_HINTING_BITMAP) {
		/* A report is an acknowledged command. */
		st->reports = atomic_load(&g->fb->acks);
		st->reported_bytes = atomic_load(&g->fb->hinted_pages)
				     << PAGE_SHIFT;
		st->report_failures = hint_host_discard_errors(g->host);
		st->worker_cpu_ns = hint_host_cpu_ns(g->host);
		st->alloc_waits = atomic_load(&g->fb->alloc_waits);
		st->alloc_wait_ns = atomic_load(&g->fb->alloc_wait_ns);
		st->bad_acks = atomic_load(&g->fb->bad_acks);
	}
	discard_track_totals(g->track, &st->discarded_bytes, &st->wasted_bytes,
			     &st->churn_bytes);
	st->discard_errors = atomic_load(&g->discard_errors);
	st->host_resident_bytes = gmm_guest_host_resident_bytes(g);
}
