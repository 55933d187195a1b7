/*
 * page_hinting.h - page hinting (seeds 002, 003): per-CPU arrays of freed
 * blocks, isolated and reported by a worker per CPU when an array fills.
 *
 * A strategy beside free page reporting (page_reporting.h), for comparing
 * them: it reports through the same device interface (@dev->report with a
 * scatterlist), so the device cannot tell the two apart.
 */
#ifndef GUESTMM_MM_PAGE_HINTING_H
#define GUESTMM_MM_PAGE_HINTING_H

#include "mm/page_reporting.h"

/* The seed's MAX_FGPT_ENTRIES: entries per CPU (and zone) array. */
#define PAGE_HINTING_ENTRIES 1000
#define PAGE_HINTING_ENTRIES_MAX 65536
/*
 * Entries a worker re-checks per hold of the zone lock: each is two or
 * three struct page loads, so a hold stays a few microseconds however full
 * the array was.
 */
#define PAGE_HINTING_SCAN_BATCH 64

/*
 * One CPU's arrays and worker.  @nr[z] and @pfn[z][] are that CPU's record of
 * blocks freed in zone z: written on the free path under zone z's lock (the
 * free path holds it already: no lock, atomic or allocation is added), and
 * emptied by the worker under the same lock.  Threads that share a CPU id
 * share its arrays; the zone lock serialises them.
 *
 * @pass_lock: one pass over this CPU's arrays at a time (the worker, or an
 * owner calling page_hinting_process()); it protects @snap and @sg, and is
 * taken before any zone lock.
 */
struct page_hinting_cpu {
	unsigned int nr[MAX_NR_ZONES];
	uint32_t *pfn[MAX_NR_ZONES];
	struct spinlock pass_lock;
	uint32_t *snap;	/* a pass's copy of one array */
	struct scatterlist sg[PAGE_REPORTING_CAPACITY_MAX];
	struct platform_work *work;
	struct page_hinting *ph;
} __attribute__((aligned(64)));

struct page_hinting {
	/*
	 * Set before page_hinting_register().  @dev is the reporting device:
	 * its @report, @order (the smallest block recorded and reported) and
	 * @capacity (blocks per report) are used; it is not registered as a
	 * reporting device.  @entries per array (default
	 * PAGE_HINTING_ENTRIES); @manual: no workers, the owner calls
	 * page_hinting_process().
	 */
	struct page_reporting_dev_info *dev;
	unsigned int entries;
	bool manual;

	/* Owned by page_hinting.c from registration on. */
	struct pglist_data *pgdat;
	/*
	 * @report_lock: one @dev->report() at a time, whichever CPU's pass
	 * calls it.  A device may assume its report() is not re-entered (the
	 * balloon driver's reporting queue has one user, as under page
	 * reporting's pass_lock).  Taken under a CPU's pass_lock, with no
	 * zone lock held.
	 */
	struct spinlock report_lock;
	struct page *mem;	/* the arrays' memory, allocated at registration */
	unsigned int mem_order;
	struct page_hinting_cpu cpu[MAX_NR_CPUS];

	/* Statistics, read racily. */
	atomic_uint_fast64_t recorded;	  /* entries the workers took */
	atomic_uint_fast64_t dropped;	  /* frees not recorded: array full */
	atomic_uint_fast64_t stale;	  /* entries in no free block any more,
					     or in one hinted this pass */
	atomic_uint_fast64_t isolated;	  /* blocks isolated ... */
	atomic_uint_fast64_t returned;	  /* ... and given back */
	atomic_uint_fast64_t reports;	  /* successful report() calls */
	atomic_uint_fast64_t reported_pages;
	atomic_uint_fast64_t failures;
	atomic_uint_fast64_t gated;	  /* entries left: zone near its watermark */
	atomic_uint_fast64_t passes;
	atomic_uint_fast64_t worker_cpu_ns; /* thread CPU time in passes */
	/* The workers' zone-lock holds, as page_reporting's. */
	atomic_uint_fast64_t zone_holds;
	atomic_uint_fast64_t zone_hold_ns;
	atomic_uint_fast64_t zone_hold_max_ns;
};

/* Defaults for @ph's settings; @dev is left to the caller. */
void page_hinting_init(struct page_hinting *ph);

/*
 * page_hinting_register - start recording @pgdat's frees into @ph.
 * The arrays (CPUs x (zones + 1) x @entries frame numbers) are allocated
 * here, from @pgdat, never on the free path.
 * Return: 0; -EBUSY when a reporting device or another strategy is
 * registered, or @ph is already; -EINVAL for a missing device or report(), an order or
 * capacity out of range, entries 0 or above PAGE_HINTING_ENTRIES_MAX;
 * -ENOMEM when the arrays or the workers could not be had.
 */
int page_hinting_register(struct pglist_data *pgdat, struct page_hinting *ph);

/*
 * Stop recording, wait for the passes in progress (every block they
 * isolated is back on the free lists when it returns), free the arrays.
 */
void page_hinting_unregister(struct page_hinting *ph);

/*
 * Every CPU's pass now, in the caller, whether its arrays are full or not.
 * Return: 0, or the first error report() gave (the blocks went back).
 */
int page_hinting_process(struct page_hinting *ph);

/*
 * page_hinting_check - the validator: every entry of every array is a frame
 * of its zone aligned to the order, past the node's metadata, and either
 * not reserved or the head of an offline memory block's 4 MiB piece (an
 * entry of a block taken offline since: stale, dropped by the next pass);
 * every count is in range; with no pass running (the caller sees to it)
 * no frame is isolated and every isolated block was returned.  Takes the
 * zone locks.
 * Return: 0, or -EUCLEAN after logging the first broken invariant.
 */
int page_hinting_check(struct page_hinting *ph);

#endif
