/* SPDX-License-Identifier: MIT */
/* Fault injection for the syscalls the library makes, through the linker's
 * --wrap=X (see the test_inject rule in the Makefile): the static library's
 * calls to X land in __wrap_X, which calls __real_X unless a failure is armed.
 *
 * Calls are only counted (and only ever failed) while their kind is armed, so
 * cmocka and the test's own bookkeeping are never disturbed. */
#ifndef UDMA_TEST_WRAP_SYSCALLS_H
#define UDMA_TEST_WRAP_SYSCALLS_H

#include <sys/types.h>

enum inject_call {
	INJ_MMAP,
	INJ_MLOCK,
	INJ_MBIND,
	INJ_PREAD,
	INJ_OPEN,
	INJ_MEMFD_CREATE,
	INJ_MADVISE,
	INJ_FTRUNCATE,
	INJ_IO_URING_SETUP,    /* syscall(SYS_io_uring_setup, ...) */
	INJ_IO_URING_REGISTER, /* syscall(SYS_io_uring_register, fd, IORING_REGISTER_BUFFERS, ...) only */
	INJ_NCALLS
};

/* "mmap", "mlock", ... */
const char *inject_name(enum inject_call call);

/* Start counting calls of this kind from zero; if nth > 0, make the nth call
 * (1-based) fail with errno = err and the call's failure value (MAP_FAILED or
 * -1). nth == 0 only counts. Other kinds are left as they are. */
void inject_arm(enum inject_call call, unsigned nth, int err);
/* Stop counting and failing every kind. Counts stay readable until the next arm. */
void inject_disarm_all(void);
/* Calls of this kind since it was armed (including the failed one). */
unsigned inject_calls(enum inject_call call);
/* Failures injected into this kind since it was armed (0 or 1). */
unsigned inject_failures(enum inject_call call);
/* The key argument of the i-th call (1-based) since arming: the advice for
 * madvise, the flags for mmap, memfd_create and open, the mode for mbind, 0
 * otherwise; -1 if there was no such call (only the first 64 are kept). */
long inject_call_arg(enum inject_call call, unsigned i);

/* write is not failed but rewritten: while a hook is set, the library's
 * write(fd, buf, n) calls go to it, and it passes them on (or changes them)
 * with inject_real_write. NULL: straight through. */
typedef ssize_t (*inject_write_fn)(int fd, const void *buf, size_t n);
void inject_write_hook(inject_write_fn hook);
ssize_t inject_real_write(int fd, const void *buf, size_t n);

/* While set, called with the library's open(path, flags) just before the
 * real open: to play what others do meanwhile. NULL: none. */
typedef void (*inject_open_fn)(const char *path, int flags);
void inject_open_hook(inject_open_fn hook);

#endif
