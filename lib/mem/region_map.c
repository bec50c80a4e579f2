/* SPDX-License-Identifier: MIT */
/* Mapping a region: backing, aligned VA, and pinning (DONTFORK, NUMA bind, populate, lock). */
#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <linux/memfd.h>
#include <linux/prctl.h>
#include <stdio.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/prctl.h>
#include <unistd.h>

#include "lib/mem/region_internal.h"

int udma__reserve_va(size_t len, size_t align, void **out)
{
	uint8_t *raw, *aligned, *left;
	size_t head;
	int e;

	raw = mmap(NULL, len + align, PROT_NONE, MAP_PRIVATE | MAP_ANONYMOUS | MAP_NORESERVE, -1, 0);
	if (raw == MAP_FAILED)
		return udma__err(errno, "cannot reserve %zu bytes of address space: %s", len + align,
				 udma__vm_strerror(errno));
	aligned = (uint8_t *)(((uintptr_t)raw + align - 1) & ~(uintptr_t)(align - 1));
	head = (size_t)(aligned - raw);
	/* Trimming splits the mapping, which vm.max_map_count can refuse: then
	 * what is left of it goes whole (no split). */
	left = raw;
	if (head && munmap(raw, head) < 0)
		goto untrimmed;
	left = aligned;
	if (align - head && munmap(aligned + len, align - head) < 0)
		goto untrimmed;
	/* A forked child gets none of a region's address space, its reserved
	 * tail included: nothing there for it to use or to unmap. */
	if (madvise(aligned, len, MADV_DONTFORK) < 0) {
		e = errno;
		munmap(aligned, len);
		return udma__err(e, "madvise(MADV_DONTFORK) on reserved address space failed: %s",
				 udma__vm_strerror(e));
	}
	*out = aligned;
	return 0;
untrimmed:
	e = errno;
	munmap(left, (size_t)(raw + len + align - left));
	return udma__err(e, "cannot trim %zu bytes of address space to a %zu-byte boundary: %s", len + align,
			 align, udma__vm_strerror(e));
}

int udma__memfd(const char *name, size_t page_size, size_t len)
{
	char label[128];
	/* Sealable: a device process is handed the file only once it can no
	 * longer shrink under the device's mapping. */
	unsigned flags = MFD_CLOEXEC | MFD_ALLOW_SEALING;
	int fd, rc;

	if (page_size > UDMA_PAGE_4K)
		flags |= MFD_HUGETLB | (udma__log2(page_size) << MFD_HUGE_SHIFT);
	snprintf(label, sizeof(label), "udma:%s", name);
	fd = memfd_create(label, flags);
	if (fd < 0)
		return udma__err(errno, "memfd_create(%s) failed: %s", label, udma__strerror(errno));
	if (ftruncate(fd, (off_t)len) < 0) {
		rc = errno;
		close(fd);
		return udma__err(rc, "cannot size the memfd for '%s' to %zu bytes: %s", name, len,
				 udma__strerror(rc));
	}
	return fd;
}

int udma__hugepage_shortage(size_t page_size, int node, size_t len)
{
	char ps[32], arg[16], amount[16], where[24] = "", cg[384];
	unsigned long count, max;
	long avail;

	/* The same ENOMEM when this mapping is one too many. */
	if (udma__map_count_full(&count, &max))
		return udma__err(ENOMEM, "mapping %zu bytes of hugepages failed: %s", len,
				 udma__vm_strerror(ENOMEM));
	avail = udma_hugepage_available(page_size, node);
	udma__fmt_size(page_size, ps, sizeof(ps));
	if (avail >= (long)(len / page_size) && udma__hugetlb_cgroup_limit(page_size, len, cg, sizeof(cg)))
		return udma__err(ENOMEM, "%s hugepages refused although %ld are free: %s", ps, avail, cg);
	if (avail >= (long)(len / page_size))
		return udma__err(ENOMEM,
				 "mapping %zu %s hugepages failed although %ld are free: another process "
				 "took them meanwhile (no hugetlb cgroup limit of this process is lower)",
				 len / page_size, ps, avail);
	if (node != UDMA_NUMA_ANY)
		snprintf(where, sizeof(where), " --node %d", node);
	return udma__err(ENOMEM,
			 "not enough free %s hugepages%s: need %zu, %ld available; reserve with: "
			 "udma hugepages --reserve %s --page-size %s%s",
			 ps, node == UDMA_NUMA_ANY ? "" : " on the node", len / page_size,
			 avail < 0 ? 0 : avail, udma__fmt_size_arg(len, amount, sizeof(amount)),
			 udma__fmt_size_arg(page_size, arg, sizeof(arg)), where);
}

int udma__region_pin(struct udma_region *r, void *addr, size_t len, bool populate)
{
	int rc;

	if (!r->hugetlb && r->fd < 0) {
		char label[64];

		/* Shows as [anon:udma:NAME] in /proc/PID/maps (Linux 5.17+); optional. */
		snprintf(label, sizeof(label), "udma:%s", r->name);
		prctl(PR_SET_VMA, PR_SET_VMA_ANON_NAME, (unsigned long)addr, len, (unsigned long)label);
	}
	/* A 2 MiB-aligned region of 4 KiB pages, anonymous or shmem, is a THP
	 * candidate: khugepaged would collapse it into new pages with new PFNs,
	 * under a device. */
	if (!r->hugetlb && madvise(addr, len, MADV_NOHUGEPAGE) < 0 && errno != EINVAL)
		return udma__err(errno, "madvise(MADV_NOHUGEPAGE) failed: %s", udma__vm_strerror(errno));
	/* A child's copy-on-write must never move a page under a device. */
	if (madvise(addr, len, MADV_DONTFORK) < 0)
		return udma__err(errno, "madvise(MADV_DONTFORK) failed: %s", udma__vm_strerror(errno));
	if (populate && (rc = udma__numa_bind(addr, len, r->numa_node)))
		return rc;
	return udma__region_lock(r, addr, len, populate);
}

int udma__region_lock(struct udma_region *r, void *addr, size_t len, bool populate)
{
	/* The kernel never swaps hugetlb pages and ignores mlock on them (while
	 * still charging RLIMIT_MEMLOCK): populate them, turning SIGBUS into an error. */
	if (r->hugetlb)
		return populate ? udma__populate(addr, len, r->page_size) : 0;
	/* 4 KiB: mlock write-faults and locks in one pass (populating first costs
	 * a second walk), and unlike MAP_LOCKED it reports failure. mlock2, because
	 * sanitizers turn plain mlock into a no-op that would leave pages unfaulted. */
	if (mlock2(addr, len, 0) < 0)
		return udma__memlock_explain(errno, len);
	return 0;
}

/* A SHARED region's file: named for udma_region_attach (mem.h) and sealed,
 * so no process it is handed to can shrink it under another's mapping. */
static int shared_memfd(struct udma_region *r, const void *va)
{
	char label[96];
	int fd;

	if (r->ctx->mode == UDMA_IOVA_VA)
		snprintf(label, sizeof(label), "%s" UDMA_SHARED_TAG_VA "%" PRIxPTR, r->name, (uintptr_t)va);
	else
		snprintf(label, sizeof(label), "%s" UDMA_SHARED_TAG_PA, r->name);
	fd = udma__memfd(label, r->page_size, r->size);
	if (fd >= 0 && fcntl(fd, F_ADD_SEALS, F_SEAL_SHRINK | F_SEAL_GROW) < 0) {
		int e = errno;

		close(fd);
		return udma__err(e, "cannot seal the file of shared region '%s': %s", r->name,
				 udma__strerror(e));
	}
	return fd;
}

/* VA mode: address space whose addresses, as IOVAs, no region of the
 * context has: a region attached away from its exporter's address keeps
 * that exporter's IOVAs, which may be free addresses here. The ranges
 * refused stay reserved until one fits, so the kernel offers others. */
int udma__region_reserve(struct udma_region *r, size_t align, void **out)
{
	void *refused[8];
	unsigned n = 0;
	int rc;

	for (;;) {
		const struct udma_region *q = NULL;
		uint64_t lo;

		if ((rc = udma__reserve_va(r->footprint, align, out)))
			break;
		lo = (uint64_t)(uintptr_t)*out;
		if (r->ctx->mode == UDMA_IOVA_VA) {
			pthread_mutex_lock(&r->ctx->lock);
			q = udma__iova_user_locked(r->ctx, lo, lo + r->footprint);
			pthread_mutex_unlock(&r->ctx->lock);
		}
		if (!q)
			break;
		if (n == sizeof(refused) / sizeof(refused[0])) {
			munmap(*out, r->footprint);
			rc = udma__err(
				EADDRINUSE,
				"region '%s': every address the kernel offered is an IOVA of region '%s' "
				"(attached from another process) of this context",
				r->name, q->name);
			break;
		}
		refused[n++] = *out;
	}
	while (n--)
		munmap(refused[n], r->footprint);
	return rc;
}

int udma__region_map(struct udma_region *r)
{
	size_t align = r->page_size > UDMA_PAGE_2M ? r->page_size : UDMA_PAGE_2M;
	int flags = MAP_FIXED, rc;
	void *va, *addr;

	if (r->dma_heap)
		return udma__region_map_dma_heap(r);
	if ((rc = udma__region_reserve(r, align, &va)))
		return rc;
	if (r->hugetlb || (r->flags & UDMA_REGION_SHARED) || r->keep_fd) {
		r->fd = (r->flags & UDMA_REGION_SHARED) ? shared_memfd(r, va)
							: udma__memfd(r->name, r->page_size, r->size);
		if (r->fd < 0) {
			munmap(va, r->footprint);
			return r->fd;
		}
		flags |= MAP_SHARED;
	} else {
		flags |= MAP_PRIVATE | MAP_ANONYMOUS;
	}
	addr = mmap(va, r->size, PROT_READ | PROT_WRITE, flags, r->fd, 0);
	if (addr == MAP_FAILED) {
		rc = errno;
		munmap(va, r->footprint);
		if (rc == ENOMEM && r->hugetlb)
			return udma__hugepage_shortage(r->page_size, r->numa_node, r->size);
		return udma__err(rc, "mmap of %zu bytes for region '%s' failed: %s", r->size, r->name,
				 udma__vm_strerror(rc));
	}
	r->addr = addr;
	return udma__region_pin(r, addr, r->size, true);
}
