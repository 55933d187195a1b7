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

/*
 * How free memory gets back to the host (docs/results.md, "Issue 9"):
 *   report  free page reporting, boundary-based (seeds 000, 004): default;
 *   percpu  page hinting: per-CPU arrays of freed blocks, a worker per CPU
 *           isolates and reports them when an array fills (seeds 002, 003);
 *   bitmap  a global bitmap of free chunks that the host polls by command
 *           id, discards and acknowledges (seed 002's counter-proposal);
 *   off     none.
 */
enum gmm_hinting {
	GMM_HINTING_REPORT,
	GMM_HINTING_PERCPU,
	GMM_HINTING_BITMAP,
	GMM_HINTING_OFF,
	GMM_NR_HINTING
};
extern const char *const gmm_hinting_names[GMM_NR_HINTING];
/* Return: 0 with *@h set, or -EINVAL for a name that is no strategy. */
int gmm_hinting_parse(const char *name, enum gmm_hinting *h);

struct gmm_guest_config {
	uint64_t mem_bytes;	     /* guest RAM; default 2 GiB */
	uint64_t low_zone_bytes;     /* ZONE_LOW; default 16 MiB */
	unsigned int cpus;	     /* vCPUs; default 2 */
	/*
	 * @reporting is the master switch (default on): off means no strategy
	 * whatever @hinting says; on, @hinting chooses (default report).
	 */
	bool reporting;
	enum gmm_hinting hinting;
	unsigned int hint_entries;   /* percpu: entries per array; 1000 */
	unsigned int hint_poll_ms;   /* bitmap: the host asks this often;
					0: gmm_guest_hint_poll_ms() */
	uint64_t hint_cap_bytes;     /* bitmap: one command hands over at
					most this much; default
					GMM_HINT_CAP_DEFAULT */
	bool track_discards;	     /* count wasted reports and churn from
					the host's view (mincore) */
	unsigned int report_order;   /* default 9 (pageblock order) */
	unsigned int report_capacity; /* blocks per report; default 32 */
	unsigned int report_hwm;      /* unreported blocks that trigger; 0:
					 every free at the order */
	unsigned int report_delay_ms; /* default 2000; 0 allowed */
	unsigned int report_min_age_ms; /* a block is reported once free this
					   long; default
					   GMM_REPORT_MIN_AGE_HALF_DELAY */
};

/*
 * A command of the bitmap hands over at most this much by default: an
 * allocation that lands on a chunk in flight waits for the command's
 * discard, 66 ms a wait at 256 MiB against 185 ms at 2 GiB with 16 vCPUs
 * on the shared 2-core machine (docs/results.md, "Issue 9").  The most is
 * 2 GiB: the driver carries a run in one descriptor (32-bit length).
 */
#define GMM_HINT_CAP_DEFAULT (256ull << 20)
#define GMM_HINT_CAP_MAX (2048ull << 20)

/*
 * The bitmap's period when hint_poll_ms is 0 (the default): the report
 * delay, and never less than this.  A delay of 0 asks for free memory to go
 * back at once, not for a host that never asks (the device takes a period
 * of 0 as "no period") or one that asks every millisecond (in process);
 * each command walks the bitmap and costs the guest a config change, a
 * queue of hints and the device's DONE, so ten a second keep the cost
 * small against the 2 s default of the delay.
 */
#define GMM_HINT_POLL_FLOOR_MS 100

/* report_min_age_ms: half of report_delay_ms, whatever that is set to. */
#define GMM_REPORT_MIN_AGE_HALF_DELAY (~0u)

struct gmm_guest_stats {
	uint64_t mem_bytes;
	uint64_t free_bytes;	      /* in the buddy lists, less isolated
					 pageblocks (a contiguous range or
					 block going offline) */
	uint64_t reported_free_bytes; /* of those, marked Reported */
	uint64_t reports;	      /* successful reports to the device */
	uint64_t reported_bytes;      /* bytes in them, over the guest's life */
	uint64_t report_failures;
	uint64_t discard_errors;      /* fallocate failures in the device */
	uint64_t host_resident_bytes; /* the memfd's allocated blocks */
	enum gmm_hinting hinting;     /* the strategy in effect */
	uint64_t worker_cpu_ns;	      /* CPU of whoever finds, discards and
					 returns free memory: the reporting
					 worker, the hinting workers, the
					 bitmap's host driver */
	uint64_t hint_dropped;	      /* percpu: frees not recorded (full) */
	uint64_t hint_stale;	      /* percpu: entries allocated since */
	uint64_t alloc_waits;	      /* bitmap: allocations that waited */
	uint64_t alloc_wait_ns;	      /* bitmap: their time waiting */
	uint64_t bad_acks;	      /* bitmap: acks refused */
	/* With track_discards, the host's view (mincore of the memfd): */
	uint64_t discarded_bytes;     /* bytes discarded */
	uint64_t wasted_bytes;	      /* discarded again while still discarded */
	uint64_t churn_bytes;	      /* discarded, and back within 1 s */
};

void gmm_guest_config_init(struct gmm_guest_config *config);

/* Return: the bitmap's poll period in ms that @config sets (never 0). */
unsigned int gmm_guest_hint_poll_ms(const struct gmm_guest_config *config);

/*
 * Return: 0 with *@out set; -EINVAL for settings out of range (the log says
 * which); -ENOMEM or another errno from memfd_create/ftruncate/mmap, with
 * one line on stderr naming the step that failed (and RLIMIT_AS, when an
 * mmap ran out of address space).
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
 * Make @h the strategy at run time: the one in effect is stopped (its
 * unregistration waits for what it has in flight), then @h starts through
 * the same device, with the same settings.  With no strategy on (reporting
 * off, or hinting off), @h is only remembered: gmm_guest_set_reporting()
 * starts it, through the in-process device.  Call it from the thread that
 * owns the guest's strategy (as gmm_guest_set_reporting()).
 * Return: 0; -EINVAL for no strategy @h; or @h's registration error, after
 * which no strategy is on (reporting reads as off).
 */
int gmm_guest_set_hinting(struct gmm_guest *guest, enum gmm_hinting h);

/*
 * Use @prdev (a driver's; its @report set) as the device the strategy
 * (config.hinting) reports through, with the guest's reporting settings,
 * instead of the in-process one; NULL: none.  report registers it as the
 * reporting device, percpu hands it to page hinting; bitmap registers the
 * free bitmap and leaves the commands to the driver (its device's free
 * page hint queue, gmm_guest_free_bitmap()), where the in-process device
 * has a host thread of its own.  With hinting off, nothing starts.
 * Return: 0 or a negative errno from the strategy's registration.
 */
struct page_reporting_dev_info;
int gmm_guest_set_reporting_device(struct gmm_guest *guest,
				   struct page_reporting_dev_info *prdev);

/*
 * The free bitmap while the bitmap strategy is on through a driver's
 * device (the driver answers the host's hint commands with it); else NULL.
 */
struct free_bitmap;
struct free_bitmap *gmm_guest_free_bitmap(struct gmm_guest *guest);

/*
 * Run one pass of the strategy now, in the caller (tests): a reporting pass,
 * every hinting worker's pass, or one request/discard/ack of the bitmap's
 * host.  Return: 0 or -errno (-EINVAL when no strategy is on).
 */
int gmm_guest_report_now(struct gmm_guest *guest);

/*
 * The strategy's validator and the buddy allocator's, now.
 * Return: 0, or -EUCLEAN after logging the broken invariant.
 */
int gmm_guest_validate(struct gmm_guest *guest);

/* With track_discards: look for discarded memory back in use (churn). */
void gmm_guest_track_sample(struct gmm_guest *guest);

#endif
