/*
 * smp.h - bringing up the application processors, and stopping them.
 */
#ifndef GUESTMM_KERNEL_SMP_H
#define GUESTMM_KERNEL_SMP_H

/*
 * smp_boot - start every processor the MADT lists beyond the boot CPU
 * (INIT, then two STARTUP IPIs to the trampoline below 1 MiB), one at a
 * time, each with its struct cpu and idle thread; print each as it comes
 * online.  A CPU that does not answer within a second is left out, said.
 */
void smp_boot(void);

/* The boot CPU's struct cpu, set up before anything else runs. */
struct cpu *smp_boot_cpu(void);

/* Stop every other CPU where it is (an NMI): the panic path. */
void smp_stop_others(void);

#endif
