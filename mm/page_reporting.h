/*
 * page_reporting.h - free page reporting: the interface a device implements.
 *
 * A device (the virtio-balloon driver, or the in-process discard device)
 * fills in a struct page_reporting_dev_info and registers it.  The core calls
 * @report from its worker, with no lock held, for batches of free blocks it
 * has pulled off the free lists; the device tells its host, which discards
 * them.  The device finds its own state with container_of() on @prdev.
 */
#ifndef GUESTMM_MM_PAGE_REPORTING_H
#define GUESTMM_MM_PAGE_REPORTING_H

#include "mm/mmzone.h"

/* Defaults, the seeds' values (000, 004): */
#define PAGE_REPORTING_ORDER PAGEBLOCK_ORDER
/* A batch of 32 blocks: the seed's hard-coded scatterlist size. */
#define PAGE_REPORTING_CAPACITY 32
#define PAGE_REPORTING_CAPACITY_MAX 256
/*
 * Unreported blocks in one free_area above which a free at that order
 * requests reporting.  0: any free at or above the reporting order asks, as
 * Linux's page_reporting_notify_free() does; the delay batches the work.
 * The seed's 32 was a threshold no small guest reaches: a 128 MiB guest's
 * whole free is 24 blocks of 4 MiB (issue 16).
 */
#define PAGE_REPORTING_HWM 0
/* The seed's 2 s: long enough that a freed block is likely to stay free. */
#define PAGE_REPORTING_DELAY_MS 2000
/*
 * A block is reported only once it has been free this long.  The delay
 * alone does not see to that: a pass reports every block free when it runs,
 * including one freed a microsecond earlier by a loop that will take it back
 * at once (page_fault1's 128 MiB, recycled every ~25 ms), which then faults
 * back in from the host.  Half the delay keeps memhog-style frees reported
 * on the first pass.
 */
#define PAGE_REPORTING_MIN_AGE_MS (PAGE_REPORTING_DELAY_MS / 2)
/* After a failed report, retry after this, doubling up to the maximum. */
#define PAGE_REPORTING_BACKOFF_MS 100
#define PAGE_REPORTING_BACKOFF_MAX_MS 10000

struct scatterlist {
	struct page *page;
	uint32_t length; /* bytes */
};

enum page_reporting_state {
	PAGE_REPORTING_IDLE,
	PAGE_REPORTING_REQUESTED,
	PAGE_REPORTING_ACTIVE,
};

struct page_reporting_dev_info {
	/*
	 * Set by the device before page_reporting_register().  @report
	 * returns 0, or a negative errno after which the blocks go back
	 * unreported and the worker backs off.
	 */
	int (*report)(struct page_reporting_dev_info *prdev,
		      struct scatterlist *sg, unsigned int nents);
	unsigned int order;	/* smallest block reported */
	unsigned int capacity;	/* blocks per report, <= CAPACITY_MAX; fewer
				   in a small zone (page_reporting_batch()) */
	unsigned int hwm;	/* see PAGE_REPORTING_HWM */
	unsigned int delay_ms;	/* from request to the worker's pass */
	unsigned int min_age_ms; /* free at least this long before reported */
	bool manual;		/* no worker: the owner calls page_reporting_process() */

	/* Owned by page_reporting.c from registration on. */
	struct pglist_data *pgdat;
	struct platform_work *work;
	atomic_int state;	 /* enum page_reporting_state */
	/*
	 * @pass_lock: one pass at a time (the worker, or an owner calling
	 * page_reporting_process()); protects @backoff_ms and @sg.  Taken
	 * before any zone lock and held across report().
	 */
	struct spinlock pass_lock;
	uint64_t backoff_ms;
	struct scatterlist sg[PAGE_REPORTING_CAPACITY_MAX];
	/*
	 * The worker's zone-lock holds (acquisitions, hold and wait times;
	 * contentions are not told apart).  Written under @pass_lock, read
	 * racily by mm_lock_stats().
	 */
	atomic_uint_fast64_t zone_holds;
	atomic_uint_fast64_t zone_hold_ns;
	atomic_uint_fast64_t zone_hold_max_ns;
	atomic_uint_fast64_t zone_wait_ns;
	atomic_uint_fast64_t zone_wait_max_ns;
	uint64_t zone_hold_start; /* of the hold in progress */
	uint64_t zone_wait_last;

	/* Statistics, read racily. */
	atomic_uint_fast64_t reports;	    /* successful report() calls */
	atomic_uint_fast64_t reported_pages; /* frames in them */
	atomic_uint_fast64_t failures;	    /* report() calls that failed */
	atomic_uint_fast64_t gated;	    /* cycles in which the gate left a block */
	atomic_uint_fast64_t young;	    /* blocks left for being freed too recently */
	atomic_uint_fast64_t worker_cpu_ns; /* thread CPU time in passes */
};

/* Fill @prdev's settings with the defaults above; @report stays NULL. */
void page_reporting_dev_info_init(struct page_reporting_dev_info *prdev);

/*
 * page_reporting_register - start reporting @pgdat's free memory to @prdev.
 * Every zone is flagged as requesting reporting, so memory free at boot is
 * reported too.
 * Return: 0; -EBUSY when a device, or another hinting strategy
 * (page_hinting.h, free_bitmap.h), is registered already; -EINVAL for a
 * missing @report or settings out of range (order below 0 or above
 * MAX_ORDER - 1, capacity 0 or above CAPACITY_MAX); -ENOMEM when no worker
 * could be started.
 */
int page_reporting_register(struct pglist_data *pgdat,
			    struct page_reporting_dev_info *prdev);

/*
 * Stop reporting; waits for a pass in progress.  Blocks already reported keep
 * their mark: the host has discarded them, and that stays true.
 */
void page_reporting_unregister(struct page_reporting_dev_info *prdev);

/*
 * One pass of the worker in the calling thread: every zone that requested
 * reporting goes through fill, report, drain until it has nothing left.
 * A device that is not registered (any more, or ever) has nothing to do.
 * Return: 0, or the first error that @report gave.
 */
int page_reporting_process(struct page_reporting_dev_info *prdev);

/*
 * page_reporting_discard_range - tell the registered device that the frames
 * [@start, @end) are unused, through the same report() the worker calls,
 * in batches of the device's capacity: the host discards them.  The range
 * is allocated and the caller's (an offlined memory block), aligned to
 * MAX_ORDER_NR_PAGES; it is reported in 4 MiB pieces.
 * Return: 0, also with no device registered (nothing to tell); report()'s
 * error (what was told before it stays discarded).
 */
int page_reporting_discard_range(struct pglist_data *pgdat, uint32_t start,
				 uint32_t end);

#endif
