/* SPDX-License-Identifier: MIT */
/* Hugepage discovery and reservation (sysfs, hugetlbfs mounts via libhugetlbfs). */
#ifndef UDMA_HUGEPAGE_H
#define UDMA_HUGEPAGE_H

#include <stddef.h>

#ifdef __cplusplus
extern "C" {
#endif

#pragma GCC visibility push(default)

#define UDMA_PAGE_4K ((size_t)4 << 10)
#define UDMA_PAGE_2M ((size_t)2 << 20)
#define UDMA_PAGE_1G ((size_t)1 << 30)

struct udma_hugepage_count {
	unsigned long total;	/* nr_hugepages */
	unsigned long free;	/* free_hugepages (includes reserved ones) */
	unsigned long reserved; /* promised to mappings but not yet faulted; system-wide only */
	unsigned long surplus;	/* overcommitted pages */
};

/* Hugepage sizes the kernel offers, ascending. Returns how many (may exceed max). */
int udma_hugepage_sizes(size_t *sizes, unsigned max);
/* Counts for one size, system-wide (node == UDMA_NUMA_ANY) or on one node
 * (-EINVAL if out is NULL). */
int udma_hugepage_count(size_t page_size, int node, struct udma_hugepage_count *out);
/* Pages a new mapping can still get: free minus reserved (system-wide), or free on node. */
long udma_hugepage_available(size_t page_size, int node);
/* Set the pool of page_size pages (system-wide or on node) to count. Needs root.
 * Returns how many the kernel actually has afterwards (it may give fewer).
 * Growing the pool by more than 90% of the memory the kernel could still
 * give (MemAvailable; on a node, its free and easily reclaimed memory) is
 * refused with -ENOMEM, and the figures, before anything is written. The
 * pool is read just before writing: if others resized it since this call
 * read it, the change asked (count - what it read) is applied to the new
 * value, keeping theirs. */
long udma_hugepage_set_total(size_t page_size, int node, unsigned long count);
/* Make count pages of page_size available (system-wide or on node), adding
 * what is missing to the pool; *added (may be NULL) says how many were added.
 * Needs root when pages are missing. -ENOMEM, with the figures, when what is
 * missing is more than the memory the kernel could still give (nothing is
 * written), or when the kernel gives fewer than asked (fragmented memory):
 * then what it gave is taken back and *added is 0 (unless taking back
 * failed: then *added says what stays). */
int udma_hugepage_reserve(size_t page_size, int node, unsigned long count, unsigned long *added);
/* Take back `added` pages that udma_hugepage_reserve added (the pools are
 * shared: a delta, not an absolute total read earlier). More than the pool
 * holds is refused with -EINVAL, nothing changed. */
int udma_hugepage_unreserve(size_t page_size, int node, unsigned long added);
/* Mount point of a hugetlbfs for page_size, or NULL. */
const char *udma_hugepage_mount(size_t page_size);
/* Transparent hugepage mode: "always", "madvise", "never" or "unknown". */
const char *udma_thp_mode(void);
/* 1 if /proc/self/pagemap gives PFNs to this process (CAP_SYS_ADMIN), 0 if it
 * hides them, a negative errno if pagemap cannot be read at all, or -ENOTSUP
 * if it does not describe this process's pages (a user-mode emulator such as
 * qemu-user, whose guest addresses are not the host's). */
int udma_pfn_readable(void);
/* Number of NUMA nodes (highest node + 1); 1 without NUMA support. */
int udma_numa_nodes(void);
/* Parse "4096", "4K", "2M", "1G", "64MiB", "1GB" ... into bytes: digits, then
 * optionally K, M, G or T (either case) and optionally B or iB after it (or B
 * alone). -EINVAL, with the reason, for any other suffix or a size that does
 * not fit in size_t. */
int udma_parse_size(const char *s, size_t *out);

#pragma GCC visibility pop

#ifdef __cplusplus
}
#endif
#endif
