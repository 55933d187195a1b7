/*
 * kernel.h - what the guest kernel's files share: the console, panic, the
 * machine's exit, and small helpers.  The per-CPU data and threads are in
 * cpu.h and sched.h.
 */
#ifndef GUESTMM_KERNEL_KERNEL_H
#define GUESTMM_KERNEL_KERNEL_H

#include <stdarg.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#define KERNEL_NAME "guestmm-kernel"

#define ARRAY_SIZE(a) (sizeof(a) / sizeof((a)[0]))
#define ALIGN_UP(x, a) (((x) + (a)-1) & ~((uint64_t)(a)-1))
#define ALIGN_DOWN(x, a) ((x) & ~((uint64_t)(a)-1))
#define container_of(ptr, type, member)                                        \
	((type *)((char *)(ptr)-offsetof(type, member)))
#define barrier() __asm__ volatile("" : : : "memory")
#define READ_ONCE(x) (*(const volatile __typeof__(x) *)&(x))
#define WRITE_ONCE(x, v) (*(volatile __typeof__(x) *)&(x) = (v))

/*
 * How the machine ends (isa-debug-exit at port 0xf4: QEMU exits with
 * status (code << 1) | 1).  QEMU's own errors exit 1 and a guest that
 * powers off or triple-faults with -no-reboot exits 0, so success is a
 * code neither can be: 0x10, status 33.
 */
#define KERNEL_EXIT_OK 0x10	  /* status 33: the workload ran clean */
#define KERNEL_EXIT_FAILED 0x11	  /* status 35: it ran and found errors */
#define KERNEL_EXIT_PANIC 0x12	  /* status 37: a fault or a panic */
#define KERNEL_EXIT_BAD_ARGS 0x13 /* status 39: a bad command line */
#define DEBUG_EXIT_PORT 0xf4

/* Console (kernel/console.c): the serial port, a line at a time. */
void console_init(void);
void console_write(const char *s, size_t len);
/* The next byte the host sent on the port, or -1 when none waits. */
int console_getc(void);
void printk(const char *fmt, ...) __attribute__((format(printf, 1, 2)));
void vprintk(const char *fmt, va_list ap);
/* The panic path: the console for good, and lines written without it. */
void console_lock_bounded(void);
void printk_unlocked(const char *fmt, ...) __attribute__((format(printf, 1, 2)));
int kvsnprintf(char *buf, size_t size, const char *fmt, va_list ap);
int ksnprintf(char *buf, size_t size, const char *fmt, ...)
	__attribute__((format(printf, 3, 4)));

/*
 * panic - print why, the CPU and a backtrace from the caller, stop the
 * other CPUs and end the machine with KERNEL_EXIT_PANIC.
 */
__attribute__((noreturn, format(printf, 1, 2))) void panic(const char *fmt, ...);

/* End the machine with @code (KERNEL_EXIT_*), the other CPUs stopped. */
__attribute__((noreturn)) void machine_exit(int code);

/* Print the frame-pointer chain from @rbp (at most 32 frames). */
void backtrace_print(uint64_t rbp);

/* The kernel's command line (-append), as the VMM passed it. */
extern char kernel_cmdline[1024];

/* Freestanding string functions (kernel/lib.c); gcc calls the first four. */
void *memset(void *s, int c, size_t n);
void *memcpy(void *d, const void *s, size_t n);
void *memmove(void *d, const void *s, size_t n);
int memcmp(const void *a, const void *b, size_t n);
size_t strlen(const char *s);
int strcmp(const char *a, const char *b);
int strncmp(const char *a, const char *b, size_t n);

#endif
