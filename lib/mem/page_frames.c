/* SPDX-License-Identifier: MIT */
/* A region's frame table (PA mode): 32-bit frame numbers from the region's
 * lowest frame, on transparent hugepages when the table is large. */
#include <errno.h>
#include <stdlib.h>
#include <sys/mman.h>

#include "lib/mem/mem.h"

#define TABLE_HUGE ((size_t)2 << 20)

int udma__frames_alloc(struct udma_frames *f, size_t npages)
{
	size_t bytes = npages * sizeof(*f->frame);

	f->base = 0;
	if (bytes < TABLE_HUGE) {
		f->frame = malloc(bytes);
	} else {
		/* Whole, aligned 2 MiB pages: a 4 GiB region of 4 KiB pages has a
		 * 4 MiB table, 1024 TLB entries of 4 KiB but 2 of 2 MiB. Without
		 * THP (disabled, or no free 2 MiB page) the hint changes nothing. */
		bytes = (bytes + TABLE_HUGE - 1) & ~(TABLE_HUGE - 1);
		f->frame = aligned_alloc(TABLE_HUGE, bytes);
		if (f->frame)
			madvise(f->frame, bytes, MADV_HUGEPAGE);
	}
	if (!f->frame)
		return udma__err(ENOMEM, "out of memory for the frame table of %zu pages", npages);
	return 0;
}

void udma__frames_free(struct udma_frames *f)
{
	free(f->frame);
	f->frame = NULL;
}

int udma__frames_set(struct udma_frames *f, unsigned page_shift, const uint64_t *entries, size_t npages,
		     const char *name)
{
	unsigned unit = page_shift - 12; /* pagemap's PFNs count 4 KiB pages */
	uint64_t lo = UINT64_MAX, hi = 0, pfn;
	size_t i;

	for (i = 0; i < npages; i++) {
		pfn = (entries[i] & UDMA_PM_PFN_MASK) >> unit;
		lo = pfn < lo ? pfn : lo;
		hi = pfn > hi ? pfn : hi;
	}
	if (npages && hi - lo > UINT32_MAX)
		return udma__err(EOVERFLOW,
				 "region '%s' has pages %llu GiB apart in physical memory, more than its "
				 "32-bit frame table spans: use larger pages or VA mode",
				 name, (unsigned long long)((hi - lo) >> (30 - page_shift)));
	f->base = lo;
	for (i = 0; i < npages; i++)
		f->frame[i] = (uint32_t)(((entries[i] & UDMA_PM_PFN_MASK) >> unit) - lo);
	return 0;
}
