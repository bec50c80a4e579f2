/* SPDX-License-Identifier: MIT */
/* UDMA_REGION_CONTIG in PA mode: allocate spare pages in a memfd, sort them by
 * physical address, keep a run of PFN-adjacent ones and map them in that order. */
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <unistd.h>

#include "lib/mem/region_internal.h"

/* Spare candidates, at least this many pages: enough that some come from fresh
 * buddy blocks (per-CPU lists hand back recently freed, scattered pages)... */
#define MIN_SPARES_4K	512
#define MIN_SPARES_HUGE 64
/* ...and at most this much memory beyond the region (1 GiB pages: one spare). */
#define MAX_SPARE_BYTES ((size_t)1 << 30)
/* A second, wider search when the first finds no run: every free hugepage, or
 * this much memory of 4 KiB pages. */
#define WIDE_SPARE_BYTES_4K ((size_t)64 << 20)

static int by_pfn(const void *a, const void *b)
{
	uint64_t x = ((const struct udma_candidate *)a)->pfn, y = ((const struct udma_candidate *)b)->pfn;

	return (x > y) - (x < y);
}

long udma__find_run(const struct udma_candidate *c, size_t n, size_t need, uint64_t step)
{
	size_t start = 0, i;

	for (i = 1; i <= n; i++) {
		if (i - start >= need)
			return (long)start;
		if (i < n && c[i].pfn != c[i - 1].pfn + step)
			start = i;
	}
	return -1;
}

static size_t candidates(const struct udma_region *r, bool wide)
{
	size_t spares = 3 * r->npages, min = r->hugetlb ? MIN_SPARES_HUGE : MIN_SPARES_4K, want;
	long avail;

	if (spares < min)
		spares = min;
	if (spares * r->page_size > MAX_SPARE_BYTES)
		spares = MAX_SPARE_BYTES / r->page_size;
	if (wide)
		spares = r->hugetlb ? SIZE_MAX / 2 : WIDE_SPARE_BYTES_4K / r->page_size;
	want = r->npages + spares;
	if (!r->hugetlb)
		return want;
	/* never more hugepages than are free (an unreadable count: no spares) */
	avail = udma_hugepage_available(r->page_size, r->numa_node);
	if (avail <= (long)r->npages)
		return r->npages;
	return (size_t)avail < want ? (size_t)avail : want;
}

/* Map the run at a 2 MiB-aligned VA in PFN order, one mmap per stretch of
 * consecutive file pages (fewer VMAs), then give back the pages not kept. */
static int place_run(struct udma_region *r, const struct udma_candidate *run, size_t total)
{
	size_t align = r->page_size > UDMA_PAGE_2M ? r->page_size : UDMA_PAGE_2M, k, n;
	uint8_t *va;
	bool *kept;
	int rc = udma__reserve_va(r->footprint, align, (void **)&va);

	if (rc)
		return rc;
	r->addr = va;
	for (k = 0; k < r->npages; k += n) {
		for (n = 1; k + n < r->npages && run[k + n].index == run[k].index + n; n++)
			;
		if (mmap(va + k * r->page_size, n * r->page_size, PROT_READ | PROT_WRITE,
			 MAP_SHARED | MAP_FIXED, r->fd, (off_t)(run[k].index * r->page_size)) == MAP_FAILED)
			return udma__err(errno, "mapping page %zu of contiguous region '%s' failed: %s", k,
					 r->name, udma__vm_strerror(errno));
	}
	kept = calloc(total, sizeof(*kept));
	if (!kept)
		return udma__err(ENOMEM, "out of memory");
	if (r->keep_fd) {
		free(r->file_page); /* from an earlier, narrower search */
		r->file_page = malloc(r->npages * sizeof(*r->file_page));
		if (!r->file_page) {
			free(kept);
			return udma__err(ENOMEM, "out of memory");
		}
	}
	for (k = 0; k < r->npages; k++) {
		kept[run[k].index] = true;
		if (r->file_page)
			r->file_page[k] = (uint32_t)run[k].index;
	}
	for (k = 0; k < total; k++)
		if (!kept[k] && fallocate(r->fd, FALLOC_FL_PUNCH_HOLE | FALLOC_FL_KEEP_SIZE,
					  (off_t)(k * r->page_size), (off_t)r->page_size) < 0) {
			rc = udma__err(errno, "cannot give back spare page %zu of region '%s': %s", k,
				       r->name, strerror(errno));
			break;
		}
	free(kept);
	/* The new mapping has no page table entries yet: fault them in. */
	return rc ? rc : udma__region_pin(r, va, r->size, true);
}

static int search(struct udma_region *r, bool wide, bool *no_run)
{
	size_t total = candidates(r, wide), i;
	size_t len = total * r->page_size;
	struct udma_candidate *c = NULL;
	uint64_t *all = NULL;
	void *tmp = MAP_FAILED;
	int pin = -1, rc;
	long start;

	r->fd = udma__memfd(r->name, r->page_size, len);
	if (r->fd < 0)
		return r->fd;
	c = malloc(total * sizeof(*c));
	all = malloc(total * sizeof(*all));
	if (!c || !all) {
		rc = udma__err(ENOMEM, "out of memory for %zu contiguity candidates", total);
		goto out;
	}
	tmp = mmap(NULL, len, PROT_READ | PROT_WRITE, MAP_SHARED, r->fd, 0);
	if (tmp == MAP_FAILED) {
		rc = errno == ENOMEM && r->hugetlb ? udma__hugepage_shortage(r->page_size, r->numa_node, len)
						   : udma__err(errno, "mmap for contiguity search failed: %s",
							       udma__vm_strerror(errno));
		goto out;
	}
	if ((rc = udma__numa_bind(tmp, len, r->numa_node)) || (rc = udma__populate(tmp, len, r->page_size)))
		goto out;
	/* Pinned before their PFNs are read: the pin first moves pages out of
	 * movable zones and CMA, which would break a run found earlier. The
	 * region keeps this pin until it has its own (region.c). */
	pin = udma__longterm_pin(tmp, len);
	if (pin < 0) {
		char why[512];

		snprintf(why, sizeof(why), "%s", udma_last_error());
		rc = udma__err(-pin,
			       "region '%s': the contiguity search pins its %zu candidate pages before "
			       "reading their addresses: %s",
			       r->name, total, why);
		goto out;
	}
	if ((rc = udma__pagemap_read(r->ctx->pagemap_fd, tmp, r->page_size, total, all)))
		goto out;
	for (i = 0; i < total; i++) {
		c[i].pfn = all[i] & UDMA_PM_PFN_MASK;
		c[i].index = i;
	}
	qsort(c, total, sizeof(*c), by_pfn);
	start = udma__find_run(c, total, r->npages, r->page_size / UDMA_PAGE_4K);
	if (start < 0) {
		char ps[32];

		*no_run = true;
		rc = udma__err(
			ENOMEM,
			"no %zu physically contiguous %s pages among %zu candidates for region '%s': %s",
			r->npages, udma__fmt_size(r->page_size, ps, sizeof(ps)), total, r->name,
			r->hugetlb ? "reserve hugepages early (at boot: hugepages=N) or use 1 GiB pages"
				   : "use hugepages (udma hugepages --reserve) or a region of one page");
		goto out;
	}
	munmap(tmp, len);
	tmp = MAP_FAILED;
	/* The caller reads the final mapping's PFNs and checks they are still one run. */
	rc = place_run(r, c + start, total);
	if (!rc) {
		r->pin_fd = pin;
		pin = -1;
	}
out:
	udma__longterm_unpin(pin);
	if (tmp != MAP_FAILED)
		munmap(tmp, len);
	free(c);
	free(all);
	return rc;
}

/* A narrow search first (cheap: few pages to zero); if memory is too
 * fragmented for it, once more over every free hugepage or 64 MiB of 4 KiB
 * pages. */
int udma__map_contig(struct udma_region *r)
{
	bool no_run = false;
	int rc = search(r, false, &no_run);

	if (!no_run || candidates(r, true) <= candidates(r, false))
		return rc;
	close(r->fd);
	r->fd = -1;
	return search(r, true, &no_run);
}
