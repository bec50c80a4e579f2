/* SPDX-License-Identifier: MIT */
/*
 * The text for a failed call's errno, naming the limit behind it where the
 * errno alone would mislead: out of file descriptors (EMFILE, ENFILE), and
 * after a mapping call (mmap, munmap, mprotect, madvise, mlock, mbind) the
 * two meanings of ENOMEM the kernel does not tell apart: the process's
 * mapping count at vm.max_map_count, or its address space (RLIMIT_AS).
 * Only ever run on failure paths: the counting costs a few syscalls.
 */
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <unistd.h>

#include "lib/os/os.h"

/* A failing call may need up to three new mappings (a split in the middle),
 * and /proc/self/maps shows [vsyscall], which the kernel does not count. */
#define MAP_COUNT_SLACK 8
/* EMFILE means every fd below the limit is open; count at most this many. */
#define FD_COUNT_MAX (1ul << 20)

static __thread char text[320];

static long fds_open(unsigned long limit)
{
	unsigned long fd;
	long n = 0;

	if (limit > FD_COUNT_MAX)
		limit = FD_COUNT_MAX;
	for (fd = 0; fd < limit; fd++)
		if (fcntl((int)fd, F_GETFD) >= 0)
			n++;
	return n;
}

static const char *fd_text(int errnum)
{
	struct rlimit rl;

	if (errnum == ENFILE)
		snprintf(text, sizeof(text),
			 "%s: the system-wide limit on open files is reached (fs.file-max): close files, "
			 "or raise it with `sysctl fs.file-max=N`",
			 strerror(errnum));
	else if (getrlimit(RLIMIT_NOFILE, &rl) == 0)
		snprintf(text, sizeof(text),
			 "out of file descriptors (%ld open, RLIMIT_NOFILE %llu): close fds, or raise the "
			 "limit with `ulimit -n` (hard limit %llu)",
			 fds_open(rl.rlim_cur), (unsigned long long)rl.rlim_cur,
			 (unsigned long long)rl.rlim_max);
	else
		snprintf(text, sizeof(text), "out of file descriptors: close fds, or raise `ulimit -n`");
	return text;
}

const char *udma__strerror(int errnum)
{
	int saved = errno;
	const char *s = errnum == EMFILE || errnum == ENFILE ? fd_text(errnum) : strerror(errnum);

	errno = saved;
	return s;
}

/* A number from a /proc file, 0 if it cannot be read. */
static unsigned long proc_ulong(const char *path)
{
	char buf[32];
	int fd = open(path, O_RDONLY | O_CLOEXEC);
	ssize_t n;

	if (fd < 0)
		return 0;
	n = read(fd, buf, sizeof(buf) - 1);
	close(fd);
	if (n <= 0)
		return 0;
	buf[n] = 0;
	return strtoul(buf, NULL, 10);
}

/* This process's mappings: the lines of /proc/self/maps, 0 if unreadable. */
static unsigned long maps_count(void)
{
	char buf[8192];
	unsigned long lines = 0;
	ssize_t n, i;
	int fd = open("/proc/self/maps", O_RDONLY | O_CLOEXEC);

	if (fd < 0)
		return 0;
	while ((n = read(fd, buf, sizeof(buf))) > 0)
		for (i = 0; i < n; i++)
			lines += buf[i] == '\n';
	close(fd);
	return lines;
}

/* VmSize, 0 if unreadable. */
static unsigned long vm_size_kb(void)
{
	char line[128];
	unsigned long kb = 0;
	FILE *f = fopen("/proc/self/status", "re");

	if (!f)
		return 0;
	while (fgets(line, sizeof(line), f))
		if (sscanf(line, "VmSize: %lu kB", &kb) == 1)
			break;
	fclose(f);
	return kb;
}

bool udma__map_count_full(unsigned long *count, unsigned long *max)
{
	int saved = errno;

	*max = proc_ulong("/proc/sys/vm/max_map_count");
	*count = *max ? maps_count() : 0;
	errno = saved;
	return *max && *count && *count + MAP_COUNT_SLACK >= *max;
}

const char *udma__vm_strerror(int errnum)
{
	unsigned long count, max;
	struct rlimit rl;
	int saved = errno;

	if (errnum != ENOMEM)
		return udma__strerror(errnum);
	if (udma__map_count_full(&count, &max))
		snprintf(text, sizeof(text),
			 "%s: this process has %lu mappings, at the vm.max_map_count limit of %lu: raise "
			 "it (as root: sysctl vm.max_map_count=%lu), or unmap memory",
			 strerror(errnum), count, max, max * 2);
	else if (getrlimit(RLIMIT_AS, &rl) == 0 && rl.rlim_cur != RLIM_INFINITY)
		snprintf(text, sizeof(text),
			 "%s: RLIMIT_AS (ulimit -v) allows %llu KiB of address space and this process "
			 "has %lu KiB: raise it, or unmap memory",
			 strerror(errnum), (unsigned long long)rl.rlim_cur >> 10, vm_size_kb());
	else if (max && count)
		snprintf(text, sizeof(text),
			 "%s (out of memory; not the mapping limit: %lu of vm.max_map_count %lu in use)",
			 strerror(errnum), count, max);
	else
		snprintf(text, sizeof(text), "%s (out of memory)", strerror(errnum));
	errno = saved;
	return text;
}

const char *udma__thread_strerror(int errnum)
{
	unsigned long count, max;
	struct rlimit rl;
	int saved = errno;

	if (errnum != EAGAIN)
		return udma__strerror(errnum);
	/* pthread_create says EAGAIN also when its stack cannot be mapped. */
	if (udma__map_count_full(&count, &max) ||
	    (getrlimit(RLIMIT_AS, &rl) == 0 && rl.rlim_cur != RLIM_INFINITY))
		return udma__vm_strerror(ENOMEM);
	if (getrlimit(RLIMIT_NPROC, &rl) == 0 && rl.rlim_cur != RLIM_INFINITY)
		snprintf(text, sizeof(text),
			 "%s: the thread limits: RLIMIT_NPROC (ulimit -u) %llu for this user, "
			 "kernel.threads-max %lu",
			 strerror(errnum), (unsigned long long)rl.rlim_cur,
			 proc_ulong("/proc/sys/kernel/threads-max"));
	else
		snprintf(text, sizeof(text), "%s: the thread limit kernel.threads-max (%lu) or pid_max",
			 strerror(errnum), proc_ulong("/proc/sys/kernel/threads-max"));
	errno = saved;
	return text;
}
