/*
 * guestmm/guest.h - a guest in this process: the memory-manager core over a
 * memfd that stands for guest RAM, with an in-process reporting device that
 * punches reported ranges out of that memfd, so the memory leaves the process.
 */
#ifndef GUESTMM_GUEST_H
#define GUESTMM_GUEST_H

#include <stdbool.h>
#include <stdint.h>

struct pglist_data;
struct gmm_guest;

struct gmm_guest_config {
	uint64_t mem_bytes;	     /* guest RAM; default 2 GiB */
	uint64_t low_zone_bytes;     /* ZONE_LOW; default 16 MiB */
	unsigned int cpus;	     /* vCPUs; default 2 */
	bool reporting;		     /* free page reporting; default on */
	unsigned int report_order;   /* default 9 (pageblock order) */
	unsigned int report_capacity; /* blocks per report; default 32 */
	unsigned int report_hwm;      /* unreported blocks that trigger; 32 */
	unsigned int report_delay_ms; /* default 2000; 0 allowed */
	unsigned int report_min_age_ms; /* a block is reported once free this
					   long; default
					   GMM_REPORT_MIN_AGE_HALF_DELAY */
};

/* report_min_age_ms: half of report_delay_ms, whatever that is set to. */
#define GMM_REPORT_MIN_AGE_HALF_DELAY (~0u)

struct gmm_guest_stats {
	uint64_t mem_bytes;
	uint64_t free_bytes;	      /* in the buddy lists */
	uint64_t reported_free_bytes; /* of those, marked Reported */
	uint64_t reports;	      /* successful reports to the device */
	uint64_t reported_bytes;      /* bytes in them, over the guest's life */
	uint64_t report_failures;
	uint64_t discard_errors;      /* fallocate failures in the device */
	uint64_t host_resident_bytes; /* the memfd's allocated blocks */
};

void gmm_guest_config_init(struct gmm_guest_config *config);

/*
 * Return: 0 with *@out set; -EINVAL for settings out of range (the log says
 * which); -ENOMEM or another errno from memfd_create/ftruncate/mmap.
 */
int gmm_guest_create(const struct gmm_guest_config *config,
		     struct gmm_guest **out);
void gmm_guest_destroy(struct gmm_guest *guest);

struct pglist_data *gmm_guest_pgdat(struct gmm_guest *guest);
const struct gmm_guest_config *gmm_guest_config(struct gmm_guest *guest);
int gmm_guest_memfd(struct gmm_guest *guest);
/* Guest RAM as mapped here: guest-physical address 0 is its first byte. */
void *gmm_guest_ram(struct gmm_guest *guest);

/* The host's own accounting of the guest's RAM: fstat(memfd).st_blocks. */
uint64_t gmm_guest_host_resident_bytes(struct gmm_guest *guest);

void gmm_guest_get_stats(struct gmm_guest *guest, struct gmm_guest_stats *st);

/* Turn reporting on or off at run time. Return: 0 or a negative errno. */
int gmm_guest_set_reporting(struct gmm_guest *guest, bool on);

/*
 * Use @prdev (a driver's; its @report set) as the reporting device, with
 * the guest's reporting settings, instead of the in-process one; NULL: none.
 * Return: 0 or a negative errno from page_reporting_register().
 */
struct page_reporting_dev_info;
int gmm_guest_set_reporting_device(struct gmm_guest *guest,
				   struct page_reporting_dev_info *prdev);

/* Run one reporting pass now, in the caller (tests). Return: 0 or -errno. */
int gmm_guest_report_now(struct gmm_guest *guest);

#endif
