/* SPDX-License-Identifier: MIT */
/*
 * What a pinning method left behind, read back from the kernel: resident
 * bytes (mincore), locked and transparent-huge bytes (the range's VMAs in
 * /proc/self/smaps), pinned bytes (VmPin) and the physical layout (PFNs from /proc/self/pagemap,
 * root only). Nothing here calls malloc: brk_sbrk holds the program break
 * while its state is read, and a malloc that grew the heap meanwhile would
 * be cut off when the break is moved back. So the buffers are mapped up front.
 */
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <string.h>
#include <sys/mman.h>
#include <unistd.h>

#include "tools/bench/bench_tool.h"
#include "lib/os/os.h"

#define SMAPS_BUF (64u << 10)

static struct {
	unsigned char *vec; /* mincore */
	uint64_t *pm;	    /* pagemap entries */
	char *smaps;
	size_t max_pages, bytes;
	int pagemap_fd;
} scratch = {.pagemap_fd = -1};

int pin_state_init(size_t max_len)
{
	size_t n = (max_len + UDMA_PAGE_4K - 1) / UDMA_PAGE_4K;
	size_t bytes = n + n * sizeof(uint64_t) + SMAPS_BUF + 64;
	char *p = mmap(NULL, bytes, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
	int fd;

	if (p == MAP_FAILED)
		return udma__err(errno, "cannot map %zu bytes for reading back the state: %s", bytes,
				 udma__vm_strerror(errno));
	fd = udma__pagemap_open();
	if (fd < 0) {
		munmap(p, bytes);
		return fd;
	}
	scratch.pm = (uint64_t *)(void *)p;
	scratch.smaps = (char *)(scratch.pm + n);
	scratch.vec = (unsigned char *)scratch.smaps + SMAPS_BUF;
	scratch.max_pages = n;
	scratch.bytes = bytes;
	scratch.pagemap_fd = fd;
	return 0;
}

int pin_state_reopen(void)
{
	int fd = udma__pagemap_open();

	if (fd < 0)
		return fd;
	if (scratch.pagemap_fd >= 0)
		close(scratch.pagemap_fd);
	scratch.pagemap_fd = fd;
	return 0;
}

void pin_state_fini(void)
{
	if (scratch.pm)
		munmap(scratch.pm, scratch.bytes);
	if (scratch.pagemap_fd >= 0)
		close(scratch.pagemap_fd);
	memset(&scratch, 0, sizeof(scratch));
	scratch.pagemap_fd = -1;
}

/* "Locked:   1024 kB" -> bytes into *out when the line is that key. */
static void smaps_field(const char *line, const char *key, size_t *out)
{
	size_t n = strlen(key);
	unsigned long long kb;

	if (!strncmp(line, key, n) && sscanf(line + n, " %llu kB", &kb) == 1)
		*out += (size_t)kb << 10;
}

/* Sum Locked: and AnonHugePages: over the VMAs that overlap [lo, hi). */
static int read_smaps(uintptr_t lo, uintptr_t hi, struct pin_state *st)
{
	int fd = open("/proc/self/smaps", O_RDONLY | O_CLOEXEC);
	size_t have = 0;
	bool inside = false;

	if (fd < 0)
		return udma__err(errno, "cannot open /proc/self/smaps: %s", strerror(errno));
	for (;;) {
		ssize_t got = read(fd, scratch.smaps + have, SMAPS_BUF - 1 - have);
		char *line = scratch.smaps, *nl;

		if (got < 0 && errno == EINTR)
			continue;
		if (got <= 0)
			break;
		have += (size_t)got;
		scratch.smaps[have] = 0;
		while ((nl = strchr(line, '\n'))) {
			unsigned long start, end;
			int used = 0;

			*nl = 0;
			/* a VMA starts with "start-end perms": field lines start with "Key:" */
			if (sscanf(line, "%lx-%lx %n", &start, &end, &used) == 2 && used)
				inside = start < hi && end > lo;
			else if (inside) {
				smaps_field(line, "Locked:", &st->locked);
				smaps_field(line, "AnonHugePages:", &st->anon_huge);
			}
			line = nl + 1;
		}
		have -= (size_t)(line - scratch.smaps);
		memmove(scratch.smaps, line, have);
	}
	close(fd);
	return 0;
}

/* The whole 4 KiB pages under [*addr, *addr + *len) (malloc's blocks need not be aligned). */
static size_t page_range(const void **addr, size_t *len)
{
	uintptr_t lo = (uintptr_t)*addr & ~(uintptr_t)(UDMA_PAGE_4K - 1);
	uintptr_t hi = ((uintptr_t)*addr + *len + UDMA_PAGE_4K - 1) & ~(uintptr_t)(UDMA_PAGE_4K - 1);

	*addr = (const void *)lo;
	*len = hi - lo;
	return *len / UDMA_PAGE_4K;
}

/* VmPin: of /proc/self/status: pages this process pins (FOLL_LONGTERM), all ranges. */
static int read_vmpin(struct pin_state *st)
{
	int fd = open("/proc/self/status", O_RDONLY | O_CLOEXEC);
	ssize_t got;
	char *line;

	if (fd < 0)
		return udma__err(errno, "cannot open /proc/self/status: %s", strerror(errno));
	got = read(fd, scratch.smaps, SMAPS_BUF - 1);
	close(fd);
	if (got < 0)
		return udma__err(errno, "cannot read /proc/self/status: %s", strerror(errno));
	scratch.smaps[got] = 0;
	line = strstr(scratch.smaps, "\nVmPin:");
	if (line)
		smaps_field(line + 1, "VmPin:", &st->pinned);
	return 0;
}

int pin_state_read(const void *addr, size_t len, struct pin_state *st)
{
	size_t n = page_range(&addr, &len), i, run = 0;
	int rc;

	memset(st, 0, sizeof(*st));
	if (n > scratch.max_pages)
		return udma__err(EINVAL, "state of %zu bytes asked, room for %zu", len,
				 scratch.max_pages * UDMA_PAGE_4K);
	if (mincore((void *)addr, len, scratch.vec) < 0)
		return udma__err(errno, "mincore failed: %s", strerror(errno));
	for (i = 0; i < n; i++)
		st->resident += (scratch.vec[i] & 1) * UDMA_PAGE_4K;
	if ((rc = read_smaps((uintptr_t)addr, (uintptr_t)addr + len, st)) || (rc = read_vmpin(st)))
		return rc;
	if ((rc = udma__pagemap_read(scratch.pagemap_fd, addr, UDMA_PAGE_4K, n, scratch.pm)))
		return rc;
	for (i = 0; i < n; i++) {
		uint64_t e = scratch.pm[i], pfn = e & UDMA_PM_PFN_MASK;

		if (!(e & UDMA_PM_PRESENT)) {
			scratch.pm[i] = 0;
			run = 0;
			continue;
		}
		scratch.pm[i] = pfn;
		if (!pfn) /* present without a PFN: not root */
			continue;
		st->pfns = true;
		if (run && pfn == scratch.pm[i - 1] + 1) {
			run++;
		} else {
			run = 1;
			st->runs++;
		}
		if (run * UDMA_PAGE_4K > st->longest)
			st->longest = run * UDMA_PAGE_4K;
	}
	return 0;
}
