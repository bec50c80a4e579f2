/* SPDX-License-Identifier: MIT */
/* Bulk reads of /proc/self/pagemap: one 64-bit entry per 4 KiB of VA. */
#include <errno.h>
#include <fcntl.h>
#include <stdatomic.h>
#include <string.h>
#include <sys/mman.h>
#include <unistd.h>

#include "lib/os/os.h"

#define PM_BATCH 4096 /* entries per pread: 32 KiB of buffer, 16 MiB of 4 KiB pages */

int udma__pagemap_open(void)
{
	int fd = open("/proc/self/pagemap", O_RDONLY | O_CLOEXEC);

	if (fd < 0 && errno == EACCES)
		return udma__err(errno, "cannot open /proc/self/pagemap: permission denied (after a uid "
					"change a process is not dumpable: prctl(PR_SET_DUMPABLE, 1))");
	if (fd < 0 && errno == ENOENT)
		return udma__err(ENOENT, "cannot open /proc/self/pagemap: no such file (is /proc mounted?)");
	if (fd < 0)
		return udma__err(errno, "cannot open /proc/self/pagemap: %s", udma__strerror(errno));
	return fd;
}

static int pm_pread(int fd, uint64_t *buf, size_t n, size_t first_entry)
{
	ssize_t got = pread(fd, buf, n * sizeof(uint64_t), (off_t)(first_entry * sizeof(uint64_t)));

	if (got < 0)
		return udma__err(errno, "reading /proc/self/pagemap failed: %s", strerror(errno));
	if ((size_t)got != n * sizeof(uint64_t))
		return udma__err(EIO, "short read from /proc/self/pagemap (%zd of %zu bytes)", got,
				 n * sizeof(uint64_t));
	return 0;
}

/* Batches of up to PM_BATCH entries, keeping the first entry of each page (a
 * 2 MiB page spans 512 entries: 8 pages a read). Pages larger than a batch
 * (1 GiB: 262144 entries) get one 8-byte read each: one syscall per GiB. */
int udma__pagemap_read(int fd, const void *addr, size_t page_size, size_t npages, uint64_t *entries)
{
	uint64_t buf[PM_BATCH];
	size_t stride = page_size / UDMA_PAGE_4K, first = (uintptr_t)addr / UDMA_PAGE_4K, i, k;
	size_t per_read = stride <= PM_BATCH ? PM_BATCH / stride : 1;
	int rc;

	for (i = 0; i < npages; i += per_read) {
		size_t n = npages - i < per_read ? npages - i : per_read;

		if (stride == 1 || stride > PM_BATCH) { /* straight into entries (n is 1 for huge) */
			if ((rc = pm_pread(fd, &entries[i], n, first + i * stride)))
				return rc;
			continue;
		}
		if ((rc = pm_pread(fd, buf, (n - 1) * stride + 1, first + i * stride)))
			return rc;
		for (k = 0; k < n; k++)
			entries[i + k] = buf[k * stride];
	}
	return 0;
}

#define PM_SWAPPED (1ull << 62)

/* Three fresh pages, only the middle one accessible and written: absent,
 * present (or swapped out meanwhile), absent. The outer ones are PROT_NONE,
 * which nothing populates, not even mlockall(MCL_FUTURE) (DPDK's testpmd
 * calls it). 1 if pagemap says so, 0 if not, or a negative errno. */
static int pagemap_probe(int fd)
{
	uint64_t e[3];
	char *p = mmap(NULL, 3 * UDMA_PAGE_4K, PROT_NONE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
	int rc;

	if (p == MAP_FAILED)
		return udma__err(errno, "cannot map 3 pages to check /proc/self/pagemap: %s",
				 udma__vm_strerror(errno));
	if (mprotect(p + UDMA_PAGE_4K, UDMA_PAGE_4K, PROT_READ | PROT_WRITE)) {
		rc = udma__err(errno, "cannot make a page writable to check /proc/self/pagemap: %s",
			       udma__vm_strerror(errno));
		munmap(p, 3 * UDMA_PAGE_4K);
		return rc;
	}
	*(volatile char *)(p + UDMA_PAGE_4K) = 1;
	rc = udma__pagemap_read(fd, p, UDMA_PAGE_4K, 3, e);
	munmap(p, 3 * UDMA_PAGE_4K);
	if (rc)
		return rc;
	return !(e[0] & (UDMA_PM_PRESENT | PM_SWAPPED)) && (e[1] & (UDMA_PM_PRESENT | PM_SWAPPED)) &&
	       !(e[2] & (UDMA_PM_PRESENT | PM_SWAPPED));
}

int udma__pagemap_coherent(int fd)
{
	static _Atomic int known; /* 1 coherent, -1 not, 0 not probed yet */
	int k = atomic_load_explicit(&known, memory_order_relaxed);

	if (!k) {
		k = pagemap_probe(fd);
		if (k < 0)
			return k; /* the probe's own failure: try again next time */
		k = k ? 1 : -1;
		atomic_store_explicit(&known, k, memory_order_relaxed);
	}
	if (k > 0)
		return 0;
	return udma__err(ENOTSUP, "/proc/self/pagemap does not describe this process's pages (of three fresh "
				  "pages, only the middle one written, it did not read that one alone as "
				  "present): a user-mode emulator such as qemu-user passes pagemap reads "
				  "through at the guest's addresses, which are not the host's, so physical "
				  "addresses and page checks would be another page's: run natively or in a "
				  "full-system VM");
}
