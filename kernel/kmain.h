/*
 * kmain.h - what the booted kernel runs (kernel/run.c).
 */
#ifndef GUESTMM_KERNEL_KMAIN_H
#define GUESTMM_KERNEL_KMAIN_H

/*
 * kernel_setup - parse the command line (a bad one is one line on the
 * console) and set what must be set before mm/ starts (the lock kind).
 * Return: 0, or KERNEL_EXIT_BAD_ARGS.
 */
int kernel_setup(void);

/*
 * kernel_main - run the command line's workload on mm/, printing the
 * console protocol; in the thread "main", once every CPU and mm/ are up.
 * Return: the machine's exit code, KERNEL_EXIT_OK for a clean run.
 */
int kernel_main(void);

#endif
