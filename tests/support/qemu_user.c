/* SPDX-License-Identifier: MIT */
#include <errno.h>
#include <fcntl.h>
#include <linux/dma-heap.h>
#include <linux/io_uring.h>
#include <stdint.h>
#include <stdio.h>
#include <string.h>
#include <sys/ioctl.h>
#include <sys/mman.h>
#include <sys/resource.h>
#include <sys/syscall.h>
#include <unistd.h>

#include "tests/support/helpers.h"
#include "tests/support/qemu_user.h"

#ifndef MADV_POPULATE_WRITE
#define MADV_POPULATE_WRITE 23
#endif

int th_qemu_user(void)
{
	static int known = -1;
	void *head;
	size_t len;

	if (known < 0)
		known = syscall(SYS_get_robust_list, 0, &head, &len) < 0 && errno == ENOSYS;
	return known;
}

/* The probes: 0 if the feature works, else why not (into why). */
static int probe_syscall(long rc, const char *call, char *why, size_t len)
{
	if (rc >= 0)
		return 0;
	snprintf(why, len, "%s gives %s (not emulated)", call, strerrorname_np(errno));
	return -1;
}

static int probe_io_uring(char *why, size_t len)
{
	struct io_uring_params p;
	long fd;

	memset(&p, 0, sizeof(p));
	fd = syscall(SYS_io_uring_setup, 1, &p);
	if (fd >= 0)
		close((int)fd);
	return probe_syscall(fd, "io_uring_setup, udma's long-term pin for PA mode,", why, len);
}

/* A fresh page after MADV_POPULATE_WRITE must be resident (mincore). */
static int probe_madvise(char *why, size_t len)
{
	long page = sysconf(_SC_PAGESIZE);
	unsigned char resident = 0;
	void *p = mmap(NULL, (size_t)page, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
	int rc = 0;

	if (p == MAP_FAILED)
		return 0; /* not what this probe is about */
	if (madvise(p, (size_t)page, MADV_POPULATE_WRITE) == 0 && mincore(p, (size_t)page, &resident) == 0 &&
	    !(resident & 1)) {
		snprintf(why, len,
			 "madvise is not passed to the kernel (MADV_POPULATE_WRITE returned 0 and left the "
			 "page "
			 "absent: mincore), so no populate, DONTFORK or HUGEPAGE advice");
		rc = -1;
	}
	munmap(p, (size_t)page);
	return rc;
}

static int probe_mempolicy(char *why, size_t len)
{
	int mode;

	return probe_syscall(syscall(SYS_get_mempolicy, &mode, NULL, 0UL, NULL, 0UL), "get_mempolicy", why,
			     len);
}

static int probe_robust_futex(char *why, size_t len)
{
	void *head;
	size_t n;

	return probe_syscall(syscall(SYS_get_robust_list, 0, &head, &n),
			     "get_robust_list (no robust mutexes: a dead holder is never reported)", why,
			     len);
}

/* A page this process touched must be present in pagemap at its address:
 * qemu-user passes the file through, read at the host's addresses, which
 * differ from the guest's when it runs the guest at a guest_base (32-bit). */
static int probe_pagemap(char *why, size_t len)
{
	long page = sysconf(_SC_PAGESIZE);
	volatile char *p =
		mmap(NULL, (size_t)page, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
	uint64_t e = 0;
	int fd, rc = 0;

	if (p == MAP_FAILED)
		return 0;
	p[0] = 1;
	fd = open("/proc/self/pagemap", O_RDONLY | O_CLOEXEC);
	if (fd >= 0 &&
	    pread(fd, &e, sizeof(e), (off_t)((uintptr_t)p / (uintptr_t)page * sizeof(e))) ==
		    (ssize_t)sizeof(e) &&
	    !(e >> 63)) {
		snprintf(why, len,
			 "/proc/self/pagemap says a page just written at %p is not present: qemu-user reads "
			 "it "
			 "at the host's addresses, not the guest's",
			 (void *)p);
		rc = -1;
	}
	if (fd >= 0)
		close(fd);
	munmap((void *)p, (size_t)page);
	return rc;
}

/* Mappings listed in a /proc/self file: lines that start with an address range. */
static int count_mappings(const char *file)
{
	FILE *f = fopen(file, "re");
	char line[512];
	unsigned long lo, hi;
	int n = 0;

	if (!f)
		return -1;
	while (fgets(line, sizeof(line), f))
		n += sscanf(line, "%lx-%lx ", &lo, &hi) == 2 && strchr(line, '\n');
	fclose(f);
	return n;
}

/* The kernel counts every mapping against vm.max_map_count; qemu-user
 * writes its own /proc/self/maps with the guest's mappings only (smaps
 * still comes from the kernel, with qemu's own). */
static int probe_maps(char *why, size_t len)
{
	int maps = count_mappings("/proc/self/maps"), smaps = count_mappings("/proc/self/smaps");

	if (maps < 0 || smaps <= maps)
		return 0;
	snprintf(why, len,
		 "/proc/self/maps lists %d mappings, the kernel's smaps %d: the emulator's own are hidden, "
		 "so vm.max_map_count cannot be checked against it",
		 maps, smaps);
	return -1;
}

/* A soft RLIMIT_AS of 1 MiB must refuse a 64 MiB mapping; qemu-user
 * returns success from setrlimit(RLIMIT_AS) and sets nothing (the limit
 * would apply to its own allocations). The old soft limit goes back. */
static int probe_rlimit_as(char *why, size_t len)
{
	struct rlimit old, tiny;
	void *p;

	if (getrlimit(RLIMIT_AS, &old))
		return 0;
	tiny = old;
	tiny.rlim_cur = 1 << 20;
	if (setrlimit(RLIMIT_AS, &tiny))
		return 0;
	p = mmap(NULL, 64 << 20, PROT_NONE, MAP_PRIVATE | MAP_ANONYMOUS | MAP_NORESERVE, -1, 0);
	setrlimit(RLIMIT_AS, &old);
	if (p == MAP_FAILED)
		return 0;
	munmap(p, 64 << 20);
	snprintf(why, len,
		 "setrlimit(RLIMIT_AS) returns 0 and limits nothing (a 64 MiB mapping under 1 MiB)");
	return -1;
}

/* A mapping just made must be in /proc/self/smaps at its address: qemu-user
 * rewrites /proc/self/maps for a 32-bit program (its guest base), not smaps,
 * which then lists the host's addresses. */
static int probe_smaps(char *why, size_t len)
{
	void *p = mmap(NULL, 4096, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
	char line[512];
	unsigned long lo, hi;
	int found = 0;
	FILE *f;

	if (p == MAP_FAILED)
		return 0;
	f = fopen("/proc/self/smaps", "re");
	while (f && !found && fgets(line, sizeof(line), f))
		found = sscanf(line, "%lx-%lx ", &lo, &hi) == 2 && (uintptr_t)p >= lo && (uintptr_t)p < hi;
	if (f)
		fclose(f);
	munmap(p, 4096);
	if (found || !f)
		return 0;
	snprintf(why, len,
		 "/proc/self/smaps does not list a mapping just made at %p: it shows the host's "
		 "addresses (udma_region_register and the VmFlags checks read it)",
		 p);
	return -1;
}

/* The kernel answers an ioctl a file does not know with ENOTTY; qemu-user
 * answers ENOSYS for every ioctl number it has no translation for, without
 * passing it on. */
static int probe_dmabuf_ioctl(char *why, size_t len)
{
	struct dma_heap_allocation_data alloc = {.len = 4096, .fd_flags = O_RDWR | O_CLOEXEC};
	int fd = open("/dev/null", O_RDWR | O_CLOEXEC), rc = 0;

	if (fd < 0)
		return 0;
	if (ioctl(fd, DMA_HEAP_IOCTL_ALLOC, &alloc) < 0 && errno == ENOSYS) {
		snprintf(
			why, len,
			"ioctl(DMA_HEAP_IOCTL_ALLOC) on /dev/null gives ENOSYS, not the kernel's ENOTTY: the "
			"DMA-BUF heap and udmabuf ioctls are not passed to the kernel");
		rc = -1;
	}
	close(fd);
	return rc;
}

int th_qemu_lacks(enum th_emul what, char *why, size_t len)
{
	char buf[256] = "";
	int rc = 0;

	if (!th_qemu_user())
		return 0;
	switch (what) {
	case TH_EMUL_IO_URING: rc = probe_io_uring(buf, sizeof(buf)); break;
	case TH_EMUL_MADVISE: rc = probe_madvise(buf, sizeof(buf)); break;
	case TH_EMUL_ROBUST_FUTEX: rc = probe_robust_futex(buf, sizeof(buf)); break;
	case TH_EMUL_MEMPOLICY: rc = probe_mempolicy(buf, sizeof(buf)); break;
	case TH_EMUL_PAGEMAP: rc = probe_pagemap(buf, sizeof(buf)); break;
	case TH_EMUL_MAPS: rc = probe_maps(buf, sizeof(buf)); break;
	case TH_EMUL_RLIMIT_AS: rc = probe_rlimit_as(buf, sizeof(buf)); break;
	case TH_EMUL_DMABUF_IOCTL: rc = probe_dmabuf_ioctl(buf, sizeof(buf)); break;
	case TH_EMUL_SMAPS: rc = probe_smaps(buf, sizeof(buf)); break;
	}
	if (rc && why)
		snprintf(why, len, "%s", buf);
	return rc != 0;
}

void th_skip_if_qemu_lacks(enum th_emul what)
{
	char why[256];

	if (th_qemu_lacks(what, why, sizeof(why))) {
		printf("# skip: qemu-user: %s\n", why);
		skip();
	}
}
