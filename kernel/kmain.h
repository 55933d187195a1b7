/*
 * kmain.h - what the booted kernel runs (kernel/run.c).
 */
#ifndef GUESTMM_KERNEL_KMAIN_H
#define GUESTMM_KERNEL_KMAIN_H

/*
 * kernel_main - parse the command line and run its workload on mm/,
 * printing the console protocol; in the thread "main", once every CPU and
 * mm/ are up.  Return: 0 when the run was clean; else the machine ends
 * with a failure status.
 */
int kernel_main(void);

#endif
