/* SPDX-License-Identifier: MIT */
/*
 * Try to make the kernel move the pages under a range: as memory hot-unplug,
 * virtio-mem and ballooning do, offline every memory block the range's pages
 * are in and online it again; then compact all memory, which migrates
 * mlocked 4 KiB pages too (vm.compact_unevictable_allowed=1, the default).
 * Pages the kernel may migrate can come back at new physical addresses;
 * pages under a long-term pin keep theirs (the kernel refuses to offline
 * their block, compaction leaves them). A block holding any unmovable
 * kernel page cannot go offline at all: on a machine up for a while most
 * blocks are like that, and compaction is what moves pages. For `udma bench
 * pin --migrate` and the tests of udma's pins. Root only; disruptive: other
 * processes' pages in those blocks move too.
 */
#ifndef UDMA_TOOLS_PAGE_MOVE_H
#define UDMA_TOOLS_PAGE_MOVE_H

#include <stddef.h>
#include <stdint.h>

struct page_move_result {
	size_t pages;		/* 4 KiB pages looked at */
	size_t moved;		/* of them, at a new physical address afterwards */
	size_t blocks;		/* memory blocks under the range */
	size_t blocks_offlined; /* the kernel let go offline (each onlined again) */
	size_t blocks_refused;	/* it refused (busy, or not done within the timeout) */
	int compacted;		/* 1 if all memory was compacted afterwards */
};

/* 0 with *out filled, or a negative errno with the reason in why: not root,
 * no memory hotplug (/sys/devices/system/memory), pagemap without PFNs, or a
 * block that went offline and could not be onlined again. Each offline
 * attempt is given timeout_ms. */
int page_move_attempt(void *addr, size_t len, unsigned timeout_ms, struct page_move_result *out, char *why,
		      size_t why_len);

/* The PFN of each 4 KiB page of [addr, addr + npages * 4096) into pfns (0 for
 * a page not present): 0, or a negative errno with the reason in why. */
int page_move_pfns(const void *addr, size_t npages, uint64_t *pfns, char *why, size_t why_len);

#endif
