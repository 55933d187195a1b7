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
#include <sys/mman.h>
#include <sys/stat.h>
#include <unistd.h>

#include "mm/gfp.h"
#include "mm/page_reporting.h"

#define container_of(ptr, type, member)                                        \
	((type *)((char *)(ptr)-offsetof(type, member)))

struct gmm_guest {
	struct gmm_guest_config config;
	int memfd;
	void *ram;
	struct pglist_data *pgdat;
	/* The in-process reporting device. */
	struct page_reporting_dev_info prdev;
	/*
	 * The registered reporting device: &prdev, a driver's own (a process
	 * guest's balloon driver), or NULL.  Changed only by the owner's
	 * thread, through gmm_guest_set_reporting_device().
	 */
	struct page_reporting_dev_info *reporting;
	atomic_uint_fast64_t discard_errors;
};

void gmm_guest_config_init(struct gmm_guest_config *c)
{
	*c = (struct gmm_guest_config){
		.mem_bytes = 2ull << 30,
		.low_zone_bytes = 16ull << 20,
		.cpus = 2,
		.reporting = true,
		.report_order = PAGE_REPORTING_ORDER,
		.report_capacity = PAGE_REPORTING_CAPACITY,
		.report_hwm = PAGE_REPORTING_HWM,
		.report_delay_ms = PAGE_REPORTING_DELAY_MS,
		.report_min_age_ms = GMM_REPORT_MIN_AGE_HALF_DELAY,
	};
}

/*
 * The device: every range is punched out of the memfd.  KEEP_SIZE leaves the
 * file's length, so the guest can touch the range again and get zeroes.
 */
static int discard_report(struct page_reporting_dev_info *prdev,
			  struct scatterlist *sg, unsigned int nents)
{
	struct gmm_guest *g = container_of(prdev, struct gmm_guest, prdev);

	for (unsigned int i = 0; i < nents; i++) {
		off_t off = (off_t)page_to_phys(g->pgdat, sg[i].page);

		if (fallocate(g->memfd, FALLOC_FL_PUNCH_HOLE | FALLOC_FL_KEEP_SIZE,
			      off, sg[i].length)) {
			int err = errno;

			atomic_fetch_add(&g->discard_errors, 1);
			return -err;
		}
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
	if (c->low_zone_bytes % PAGE_SIZE || c->low_zone_bytes > c->mem_bytes / 2) {
		fprintf(stderr, "guestmm: low zone must be page aligned and at most half of RAM\n");
		return -EINVAL;
	}
	return 0;
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
		err = -errno;
		goto undo_alloc;
	}
	if (ftruncate(g->memfd, (off_t)config->mem_bytes)) {
		err = -errno;
		goto undo_memfd;
	}
	g->ram = mmap(NULL, config->mem_bytes, PROT_READ | PROT_WRITE,
		      MAP_SHARED | MAP_NORESERVE, g->memfd, 0);
	if (g->ram == MAP_FAILED) {
		err = -errno;
		goto undo_memfd;
	}
	boot = (struct mm_boot_params){
		.ram = g->ram,
		.ram_bytes = config->mem_bytes,
		.low_zone_bytes = config->low_zone_bytes,
		.nr_cpus = config->cpus,
	};
	err = mm_init(&boot, &g->pgdat);
	if (err)
		goto undo_mmap;
	atomic_init(&g->discard_errors, 0);
	if (config->reporting) {
		err = gmm_guest_set_reporting(g, true);
		if (err)
			goto undo_mmap;
	}
	*out = g;
	return 0;

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
	free(g);
}

/*
 * gmm_guest_set_reporting_device - make @prdev (its @report set by the
 * caller) the guest's reporting device, with the guest's reporting settings;
 * NULL unregisters the current one.  A device already registered is
 * unregistered first.
 * Return: 0, or page_reporting_register()'s error (no device is then
 * registered).
 */
int gmm_guest_set_reporting_device(struct gmm_guest *g,
				   struct page_reporting_dev_info *prdev)
{
	int (*report)(struct page_reporting_dev_info *, struct scatterlist *,
		      unsigned int);
	int err;

	if (prdev == g->reporting)
		return 0;
	if (g->reporting) {
		page_reporting_unregister(g->reporting);
		g->reporting = NULL;
	}
	if (!prdev)
		return 0;
	report = prdev->report;
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
	err = page_reporting_register(g->pgdat, prdev);
	if (err)
		return err;
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

int gmm_guest_report_now(struct gmm_guest *g)
{
	if (!g->reporting)
		return -EINVAL;
	return page_reporting_process(g->reporting);
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
	if (g->reporting) {
		st->reports = atomic_load(&g->reporting->reports);
		st->reported_bytes = atomic_load(&g->reporting->reported_pages)
				     << PAGE_SHIFT;
		st->report_failures = atomic_load(&g->reporting->failures);
	}
	st->discard_errors = atomic_load(&g->discard_errors);
	st->host_resident_bytes = gmm_guest_host_resident_bytes(g);
}
