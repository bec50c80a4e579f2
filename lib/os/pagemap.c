/* SPDX-License-Identifier: MIT */
/* Bulk reads of /proc/self/pagemap: one 64-bit entry per 4 KiB of VA. */
#include <errno.h>
#include <fcntl.h>
#include <string.h>
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
