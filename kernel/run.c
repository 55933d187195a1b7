#include "kernel/kmain.h"

#include "kernel/cpu.h"
#include "kernel/kernel.h"
#include "kernel/memory.h"
#include "kernel/sched.h"
#include "mm/gfp.h"
#include "platform/platform.h"

static atomic_uint_fast64_t done_pages;

static void worker(void *arg)
{
	struct page *p[64];

	for (unsigned int round = 0; round < 200; round++) {
		for (unsigned int i = 0; i < 64; i++)
			p[i] = alloc_pages(kernel_pgdat, GFP_MOVABLE, 0);
		for (unsigned int i = 0; i < 64; i++)
			if (p[i])
				free_pages(kernel_pgdat, p[i], 0);
		atomic_fetch_add(&done_pages, 64);
		if (round % 50 == 0)
			sched_sleep_ns(1000000);
	}
}

static void crash(const char *kind)
{
	if (!strcmp(kind, "null"))
		printk("crash: read %d\n", *(volatile int *)0);
	if (!strcmp(kind, "gp"))
		*(volatile int *)0x8000000000000000ull = 1;
	if (!strcmp(kind, "ud"))
		__asm__ volatile("ud2");
	if (!strcmp(kind, "panic"))
		panic("asked to");
}

int kernel_main(void)
{
	struct thread *t[MAX_CPUS * 2];
	unsigned int n = nr_cpus * 2;
	uint64_t t0 = platform_now_ns();
	const char *c = kernel_cmdline;

	if (!strncmp(c, "--crash ", 8))
		crash(c + 8);

	for (unsigned int i = 0; i < n; i++)
		t[i] = thread_create("worker", worker, NULL, i);
	for (unsigned int i = 0; i < n; i++)
		thread_join(t[i]);
	printk("selftest: %lu pages in %lu us, buddy_check %d\n",
	       (unsigned long)atomic_load(&done_pages),
	       (platform_now_ns() - t0) / 1000, buddy_check(kernel_pgdat));
	return 0;
}
