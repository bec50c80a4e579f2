/* SPDX-License-Identifier: MIT */
/* __wrap_X for each syscall test_inject links with -Wl,--wrap=X. */
#include <errno.h>
#include <fcntl.h>
#include <linux/io_uring.h>
#include <stdarg.h>
#include <stdatomic.h>
#include <stdbool.h>
#include <stdlib.h>
#include <sys/mman.h>
#include <sys/syscall.h>
#include <sys/types.h>
#include <unistd.h>

#include "tests/support/wrap_syscalls.h"

#define ARGS_KEPT 64

struct inject_state {
	atomic_bool armed;
	unsigned nth;
	int err;
	atomic_uint calls;
	atomic_uint failures;
	long args[ARGS_KEPT];
};

static struct inject_state state[INJ_NCALLS];

static const char *const names[INJ_NCALLS] = {
	[INJ_MMAP] = "mmap",
	[INJ_MLOCK] = "mlock2",
	[INJ_MBIND] = "mbind",
	[INJ_PREAD] = "pread",
	[INJ_OPEN] = "open",
	[INJ_MEMFD_CREATE] = "memfd_create",
	[INJ_MADVISE] = "madvise",
	[INJ_FTRUNCATE] = "ftruncate",
	[INJ_IO_URING_SETUP] = "io_uring_setup",
	[INJ_IO_URING_REGISTER] = "io_uring_register",
};

const char *inject_name(enum inject_call call)
{
	return (unsigned)call < INJ_NCALLS ? names[call] : "?";
}

void inject_arm(enum inject_call call, unsigned nth, int err)
{
	struct inject_state *s = &state[call];
	unsigned i;

	atomic_store(&s->armed, false);
	s->nth = nth;
	s->err = err;
	atomic_store(&s->calls, 0);
	atomic_store(&s->failures, 0);
	for (i = 0; i < ARGS_KEPT; i++)
		s->args[i] = -1;
	atomic_store(&s->armed, true);
}

void inject_disarm_all(void)
{
	unsigned i;

	for (i = 0; i < INJ_NCALLS; i++)
		atomic_store(&state[i].armed, false);
}

unsigned inject_calls(enum inject_call call)
{
	return atomic_load(&state[call].calls);
}

unsigned inject_failures(enum inject_call call)
{
	return atomic_load(&state[call].failures);
}

long inject_call_arg(enum inject_call call, unsigned i)
{
	if (i == 0 || i > ARGS_KEPT)
		return -1;
	return state[call].args[i - 1];
}

/* Count this call; true if it must fail (errno is then set). */
static bool should_fail(enum inject_call call, long arg)
{
	struct inject_state *s = &state[call];
	unsigned n;

	if (!atomic_load(&s->armed))
		return false;
	n = atomic_fetch_add(&s->calls, 1) + 1;
	if (n <= ARGS_KEPT)
		s->args[n - 1] = arg;
	if (s->nth == 0 || n != s->nth)
		return false;
	atomic_fetch_add(&s->failures, 1);
	errno = s->err;
	return true;
}

/* The real functions, and prototypes for the wrappers (-Wmissing-prototypes). */
void *__real_mmap(void *addr, size_t len, int prot, int flags, int fd, off_t off);
int __real_mlock2(const void *addr, size_t len, unsigned int flags);
long __real_mbind(void *start, unsigned long len, int mode, const unsigned long *nmask, unsigned long maxnode,
		  unsigned flags);
ssize_t __real_pread(int fd, void *buf, size_t n, off_t off);
int __real_open(const char *path, int flags, ...);
int __real_memfd_create(const char *name, unsigned int flags);
int __real_madvise(void *addr, size_t len, int advice);
int __real_ftruncate(int fd, off_t len);
ssize_t __real_write(int fd, const void *buf, size_t n);
long __real_syscall(long nr, ...);

void *__wrap_mmap(void *addr, size_t len, int prot, int flags, int fd, off_t off);
int __wrap_mlock2(const void *addr, size_t len, unsigned int flags);
long __wrap_mbind(void *start, unsigned long len, int mode, const unsigned long *nmask, unsigned long maxnode,
		  unsigned flags);
ssize_t __wrap_pread(int fd, void *buf, size_t n, off_t off);
int __wrap_open(const char *path, int flags, ...);
int __wrap_memfd_create(const char *name, unsigned int flags);
int __wrap_madvise(void *addr, size_t len, int advice);
int __wrap_ftruncate(int fd, off_t len);
ssize_t __wrap_write(int fd, const void *buf, size_t n);

long __wrap_syscall(long nr, ...);
/* A 32-bit program built with _FILE_OFFSET_BITS=64, as udma is, calls the
 * 64-bit-offset entry points (glibc's headers rename mmap to mmap64...):
 * wrapped the same way. On 64-bit they are the same functions, unused. */
void *__real_mmap64(void *addr, size_t len, int prot, int flags, int fd, off64_t off);
ssize_t __real_pread64(int fd, void *buf, size_t n, off64_t off);
int __real_open64(const char *path, int flags, ...);
int __real_ftruncate64(int fd, off64_t len);
void *__wrap_mmap64(void *addr, size_t len, int prot, int flags, int fd, off64_t off);
ssize_t __wrap_pread64(int fd, void *buf, size_t n, off64_t off);
int __wrap_open64(const char *path, int flags, ...);
int __wrap_ftruncate64(int fd, off64_t len);

/* The library's raw syscalls (io_uring has no libc wrapper). Unregistering
 * is never failed: a pin left to the ring's deferred teardown would show as
 * pinned memory in the leak check. */
/* How many arguments each syscall the library makes takes: reading more
 * than the caller passed is undefined (ASan reports it). */
static int syscall_args(long nr)
{
	switch (nr) {
	case SYS_io_uring_setup:
	case SYS_capget:
	case SYS_munlock:
	case SYS_pidfd_open: return 2;
	case SYS_io_uring_register:
	case SYS_pidfd_send_signal: return 4;
	case SYS_get_robust_list: return 3; /* tests/support/qemu_user.c's probes */
	case SYS_get_mempolicy: return 5;
	default: abort(); /* a new one: add it here */
	}
}

long __wrap_syscall(long nr, ...)
{
	long a[6] = {0};
	int i, n = syscall_args(nr);
	va_list ap;

	va_start(ap, nr);
	for (i = 0; i < n; i++)
		a[i] = va_arg(ap, long);
	va_end(ap);
	if (nr == SYS_io_uring_setup && should_fail(INJ_IO_URING_SETUP, 0))
		return -1;
	if (nr == SYS_io_uring_register && a[1] == IORING_REGISTER_BUFFERS &&
	    should_fail(INJ_IO_URING_REGISTER, 0))
		return -1;
	return __real_syscall(nr, a[0], a[1], a[2], a[3], a[4], a[5]);
}

void *__wrap_mmap(void *addr, size_t len, int prot, int flags, int fd, off_t off)
{
	if (should_fail(INJ_MMAP, flags))
		return MAP_FAILED;
	return __real_mmap(addr, len, prot, flags, fd, off);
}

int __wrap_mlock2(const void *addr, size_t len, unsigned int flags)
{
	if (should_fail(INJ_MLOCK, 0))
		return -1;
	return __real_mlock2(addr, len, flags);
}

long __wrap_mbind(void *start, unsigned long len, int mode, const unsigned long *nmask, unsigned long maxnode,
		  unsigned flags)
{
	if (should_fail(INJ_MBIND, mode))
		return -1;
	return __real_mbind(start, len, mode, nmask, maxnode, flags);
}

ssize_t __wrap_pread(int fd, void *buf, size_t n, off_t off)
{
	if (should_fail(INJ_PREAD, 0))
		return -1;
	return __real_pread(fd, buf, n, off);
}

static _Atomic inject_open_fn open_hook;

void inject_open_hook(inject_open_fn hook)
{
	atomic_store(&open_hook, hook);
}

/* Whether an open of path fails, after the hook saw it. */
static bool open_fails(const char *path, int flags)
{
	inject_open_fn hook = atomic_load(&open_hook);

	if (should_fail(INJ_OPEN, flags))
		return true;
	if (hook)
		hook(path, flags);
	return false;
}

#define OPEN_MODE(flags, mode)                                               \
	do {                                                                 \
		if (((flags)&O_CREAT) || ((flags)&O_TMPFILE) == O_TMPFILE) { \
			va_list ap;                                          \
			va_start(ap, flags);                                 \
			(mode) = (mode_t)va_arg(ap, int);                    \
			va_end(ap);                                          \
		}                                                            \
	} while (0)

int __wrap_open(const char *path, int flags, ...)
{
	mode_t mode = 0;

	OPEN_MODE(flags, mode);
	return open_fails(path, flags) ? -1 : __real_open(path, flags, mode);
}

int __wrap_open64(const char *path, int flags, ...)
{
	mode_t mode = 0;

	OPEN_MODE(flags, mode);
	return open_fails(path, flags) ? -1 : __real_open64(path, flags, mode);
}

void *__wrap_mmap64(void *addr, size_t len, int prot, int flags, int fd, off64_t off)
{
	if (should_fail(INJ_MMAP, flags))
		return MAP_FAILED;
	return __real_mmap64(addr, len, prot, flags, fd, off);
}

ssize_t __wrap_pread64(int fd, void *buf, size_t n, off64_t off)
{
	if (should_fail(INJ_PREAD, 0))
		return -1;
	return __real_pread64(fd, buf, n, off);
}

int __wrap_ftruncate64(int fd, off64_t len)
{
	if (should_fail(INJ_FTRUNCATE, 0))
		return -1;
	return __real_ftruncate64(fd, len);
}

int __wrap_memfd_create(const char *name, unsigned int flags)
{
	if (should_fail(INJ_MEMFD_CREATE, (long)flags))
		return -1;
	return __real_memfd_create(name, flags);
}

int __wrap_madvise(void *addr, size_t len, int advice)
{
	if (should_fail(INJ_MADVISE, advice))
		return -1;
	return __real_madvise(addr, len, advice);
}

int __wrap_ftruncate(int fd, off_t len)
{
	if (should_fail(INJ_FTRUNCATE, 0))
		return -1;
	return __real_ftruncate(fd, len);
}

static _Atomic inject_write_fn write_hook;

void inject_write_hook(inject_write_fn hook)
{
	atomic_store(&write_hook, hook);
}

ssize_t inject_real_write(int fd, const void *buf, size_t n)
{
	return __real_write(fd, buf, n);
}

ssize_t __wrap_write(int fd, const void *buf, size_t n)
{
	inject_write_fn hook = atomic_load(&write_hook);

	return hook ? hook(fd, buf, n) : __real_write(fd, buf, n);
}
