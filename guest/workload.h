/*
 * workload.h - what the vCPU threads of a guest run: an in-process or
 * process guest's POSIX threads (workload_threads.c), or the guest
 * kernel's threads (kernel/run.c).  The bodies (workload.c) are
 * freestanding and the same in both; what they need of the embodiment
 * (a barrier across the threads, sleeping, memory for their lists of
 * blocks, the host's view of guest RAM) is struct workload_sys.
 *
 * memhog   each cycle: allocate and write a pattern over @bytes of blocks,
 *          free them all, sleep; as Linux's memhog, run in a loop.
 * pagefault will-it-scale's page_fault1: each thread allocates 128 MiB of
 *          order-0 frames, zeroes each as a fault would, frees them; frames
 *          per second.
 * stress   threads allocate blocks of random orders, fill each with a pattern
 *          of its own, verify it before freeing; a mismatch names the frame.
 * working-set  anonymous memory larger than RAM (default 150 %) behind
 *          zswap and a swap file: each thread, a process with an address
 *          space of its own, writes its share of the pages once, then reads
 *          and writes them with zipfian popularity (s = 1), every read
 *          checked against the page's last write; a thread whose page could
 *          not be read back from swap is killed, as by SIGBUS
 *          (working_set.c).
 */
#ifndef GUESTMM_GUEST_WORKLOAD_H
#define GUESTMM_GUEST_WORKLOAD_H

#include <stdatomic.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "guestmm/guest.h"

#define WORKLOAD_MAX_THREADS 256

struct pglist_data;
struct zpool_driver;
struct workload;

/*
 * What the bodies need of the embodiment that runs their threads.  Every
 * call is from a workload thread.
 */
struct workload_sys {
	/* Wait until every thread of the workload is here. */
	void (*barrier_wait)(struct workload *w);
	/* Sleep about @ms milliseconds. */
	void (*sleep_ms)(struct workload *w, unsigned int ms);
	/* @bytes of zeroed memory outside the workload's accounting (its
	 * lists of blocks), or NULL; freed with the same size. */
	void *(*mem_alloc)(struct workload *w, size_t bytes);
	void (*mem_free)(struct workload *w, void *p, size_t bytes);
	/* The host's accounting of guest RAM now, or 0 where the guest
	 * cannot see it (the host measures it then). */
	uint64_t (*host_resident)(struct workload *w);
};

enum workload_kind {
	WORKLOAD_MEMHOG,
	WORKLOAD_PAGEFAULT,
	WORKLOAD_STRESS,
	WORKLOAD_WORKING_SET,
};

/* Phases a memhog cycle goes through, for the live display. */
enum memhog_phase { MEMHOG_IDLE, MEMHOG_ALLOC, MEMHOG_HELD, MEMHOG_FREED };

/* working-set: fault latency buckets, 8 an octave (working_set.c). */
#define WS_FAULT_BUCKETS 512

struct workload {
	enum workload_kind kind;
	struct gmm_guest *guest;  /* an in-process guest's, else NULL */
	struct pglist_data *pgdat; /* the guest's memory */
	unsigned int cpus;	  /* the guest's vCPUs: thread i runs as i % cpus */
	const struct workload_sys *sys;
	void *sys_ctx;
	unsigned int threads;	  /* default: the guest's vCPUs */
	uint64_t bytes;		  /* memhog: total over threads */
	unsigned int cycles;	  /* memhog: 0 = until stopped */
	unsigned int hold_ms;	  /* memhog: hold the memory this long */
	unsigned int sleep_ms;	  /* memhog: sleep after each free */
	uint64_t pf_bytes;	  /* pagefault: per thread; default 128 MiB */
	uint64_t seed;		  /* stress, working-set */
	uint64_t ws_bytes;	  /* working-set: 0 = 150 % of RAM */
	uint64_t max_accesses;	  /* working-set: page accesses over all threads,
				     each thread its share; 0 = until stopped */
	const struct zpool_driver *zpool; /* working-set: zswap's pool; NULL = zbud */
	const char *swap_dir;	  /* working-set: the swap file's directory;
				     NULL = $TMPDIR or /tmp */
	atomic_bool stop;	  /* set by the owner to end the run */
	/* memhog: called by a vCPU thread at each phase change, or NULL */
	void (*on_phase)(void *ctx, int phase);
	void *on_phase_ctx;

	/* Results, written by the threads. */
	atomic_uint_fast64_t frames;	 /* pagefault: frames faulted */
	atomic_uint_fast64_t blocks;	 /* stress: blocks verified and freed */
	atomic_uint_fast64_t alloc_failures;
	atomic_uint_fast64_t errors;	 /* stress, working-set: mismatches */
	atomic_uint_fast64_t accesses;	 /* working-set: pages read or written */
	atomic_bool filled;		 /* working-set: every page written once */
	/*
	 * working-set: latencies of the accesses that faulted, after the
	 * fill: 1/8-octave buckets of nanoseconds (ws_fault_bucket()), each
	 * thread's added at its end.
	 */
	atomic_uint_fast64_t fault_hist[WS_FAULT_BUCKETS];
	atomic_uint killed;		 /* working-set: processes killed */
	/* working-set: per thread, the address whose data was lost (it was
	 * killed for it), or 0 */
	atomic_uint_fast64_t killed_addr[WORKLOAD_MAX_THREADS];
	bool error_said;		 /* workload_start() failed and said why
					    on stderr, in one line */
	atomic_int phase;		 /* memhog: enum memhog_phase */
	atomic_uint cycle;		 /* memhog: cycles completed */
	atomic_uint_fast64_t held_bytes;  /* memhog: bytes held right now */
	atomic_uint_fast64_t last_freed_bytes;
	atomic_uint_fast64_t freed_at_ns;	 /* memhog: end of the last free */
	atomic_uint_fast64_t resident_at_free; /* host resident right then */

	/* memhog: the cycles are over; thread 0 writes it between two
	 * barriers, the others read it after the second. */
	bool memhog_done;
	/* Private to the embodiment's threads and working_set.c. */
	void *impl;
	void *ws;
};

/* Fill defaults for @kind over @guest, run by POSIX threads. */
void workload_init(struct workload *w, enum workload_kind kind,
		   struct gmm_guest *guest);

/*
 * Fill defaults for @kind over the memory of @pgdat (@mem_bytes of RAM,
 * @cpus vCPUs, reporting after @report_delay_ms), run by the caller's
 * threads through @sys: the guest kernel's.
 */
void workload_init_node(struct workload *w, enum workload_kind kind,
			struct pglist_data *pgdat, uint64_t mem_bytes,
			unsigned int cpus, unsigned int report_delay_ms,
			const struct workload_sys *sys, void *sys_ctx);

/*
 * workload_thread - the body of workload thread @id (0 .. threads - 1):
 * memhog, page_fault1 or stress, until its cycles are done or @stop is
 * set.  Working-set is not here (working_set_thread(), POSIX only).
 */
void workload_thread(struct workload *w, unsigned int id);

/*
 * Start the threads (working-set: after setting up its anonymous memory).
 * Return: 0; -EINVAL for a thread count out of range; -ENOMEM; -EAGAIN
 * when a thread could not be made (none is left running); working-set: the
 * swap file's error (-ENOSPC, ...: @error_said is set, the reason is out).
 */
int workload_start(struct workload *w);

/* Wait for the threads (they end after @cycles, or when @stop is set). */
void workload_join(struct workload *w);

/*
 * Undo what the workload set up in the guest beyond its threads (the
 * working set's space, anonymous memory and swap file); after
 * workload_join(), once the caller has read the statistics.
 */
void workload_fini(struct workload *w);

/* working_set.c, for workload.c. */
int working_set_setup(struct workload *w);
void working_set_thread(struct workload *w, unsigned int id);
void working_set_teardown(struct workload *w);
/*
 * working_set_fault_ns - the @q quantile (0 < q <= 1) of the faults'
 * latencies, the upper bound of its bucket (12.5 % wide).
 * Return: nanoseconds; 0 when no fault was timed.
 */
uint64_t working_set_fault_ns(const struct workload *w, double q, uint64_t *nr);

/* True while any thread is still running. */
bool workload_running(struct workload *w);

#endif
