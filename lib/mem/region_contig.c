/* SPDX-License-Identifier: MIT */
/*
 * UDMA_REGION_CONTIG in PA mode: fault in candidate pages of a memfd a chunk
 * at a time, read their physical addresses, and stop at the first run of
 * PFN-adjacent pages long enough; map that run in physical order and give
 * the other pages back. A chunk costs what zeroing its pages costs, so the
 * search grows geometrically (a run is often in the first chunk) and gives
 * up at a deadline: a request the machine cannot meet fails in milliseconds,
 * naming the longest run it saw, rather than after zeroing every free page.
 */
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <unistd.h>

#include "lib/mem/region_internal.h"

/* A search gives up once this much time has gone by since udma_region_create
 * began (what the pages of one more chunk would take counts too), so that a
 * failure, cleanup included, returns within about 10 ms. */
#define CONTIG_BUDGET_NS (8 * 1000 * 1000ull)
/* The buddy allocator's largest block (order 10 on x86-64 and arm64): a
 * longer run of 4 KiB pages is two blocks that happen to be adjacent, and
 * faulting in enough candidates to find one takes far longer than the budget. */
#define CONTIG_4K_MAX ((size_t)4 << 20)
/* A short run (up to SMALL_RUN_BYTES) is searched for among at least
 * MIN_EXAMINED_BYTES of candidates (all free hugepages, if fewer; every one
 * the search may take, for 4 KiB pages), whatever the clock says: such runs
 * are common and worth the time (on a freshly booted VM a run of two 2 MiB
 * pages was among 64 free ones, not among the first 46, a run of 64 4 KiB
 * pages not among the first 2508, and first touches of new hugepages took
 * many times the budget). Long runs rarely exist; their search ends on the
 * clock. */
#define SMALL_RUN_BYTES	   ((size_t)16 << 20)
#define MIN_EXAMINED_BYTES ((size_t)128 << 20)
/* 4 KiB pages: at least this many in the first chunk, so that some come from
 * fresh buddy blocks (per-CPU lists hand back recently freed, scattered pages). */
#define MIN_FIRST_4K 512
/* 4 KiB pages: at most this much memory examined. Hugepages: every free one. */
#define MAX_CANDIDATE_BYTES_4K ((size_t)64 << 20)
/* Chunks, each pinned on its own until the run has the region's pin. */
#define MAX_CHUNKS 64

static int by_pfn(const void *a, const void *b)
{
	uint64_t x = ((const struct udma_candidate *)a)->pfn, y = ((const struct udma_candidate *)b)->pfn;

	return (x > y) - (x < y);
}

long udma__find_run(const struct udma_candidate *c, size_t n, size_t need, uint64_t step, size_t *longest)
{
	size_t start = 0, i;
	long found = -1;

	*longest = 0;
	for (i = 1; i <= n; i++) {
		if (i == n || c[i].pfn != c[i - 1].pfn + step) {
			if (i - start > *longest)
				*longest = i - start;
			if (found < 0 && i - start >= need)
				found = (long)start;
			start = i;
		}
	}
	return found;
}

void udma__contig_start(struct udma_region *r)
{
	r->contig_deadline_ns = udma__now_ns() + CONTIG_BUDGET_NS;
	r->contig_attempts = 0;
	r->contig_no_run = false;
}

/* The most candidate pages this search may examine. */
static size_t max_candidates(const struct udma_region *r)
{
	long avail;

	if (!r->hugetlb) {
		size_t cap = MAX_CANDIDATE_BYTES_4K / UDMA_PAGE_4K;

		return r->npages + MIN_FIRST_4K > cap ? r->npages + MIN_FIRST_4K : cap;
	}
	/* never more hugepages than are free (an unreadable count: the region's) */
	avail = udma_hugepage_available(r->page_size, r->numa_node);
	return avail > (long)r->npages ? (size_t)avail : r->npages;
}

/* Map the run at a 2 MiB-aligned VA in PFN order, one mmap per stretch of
 * consecutive file pages (fewer VMAs), pin it, then give back the pages not
 * kept. */
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
	/* The new mapping has no page table entries yet: fault them in. */
	if ((rc = udma__region_pin(r, va, r->size, true)))
		return rc;
	/* The region's own long-term pin, taken while the search's pins still
	 * hold the pages where the run was found. */
	r->pin_fd = udma__longterm_pin(r->addr, r->size);
	if (r->pin_fd < 0) {
		char why[512];

		snprintf(why, sizeof(why), "%s", udma_last_error());
		rc = udma__err(-r->pin_fd, "region '%s' cannot be used in PA mode: %s", r->name, why);
		r->pin_fd = -1;
		return rc;
	}
	kept = calloc(total, sizeof(*kept));
	if (!kept)
		return udma__err(ENOMEM, "out of memory");
	if (r->keep_fd) {
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
	return rc;
}

struct search {
	struct udma_region *r;
	size_t cap, have; /* candidate pages: at most cap, faulted in so far */
	struct udma_candidate *c;
	uint64_t *entries;
	int pins[MAX_CHUNKS];
	unsigned npins;
};

/* Fault in, pin and read file pages [have, have + n). The pin comes before
 * the PFNs are read: it first moves pages out of movable zones and CMA,
 * which would break a run found earlier. */
static int add_chunk(struct search *s, size_t n)
{
	struct udma_region *r = s->r;
	size_t len = n * r->page_size, i;
	void *va =
		mmap(NULL, len, PROT_READ | PROT_WRITE, MAP_SHARED, r->fd, (off_t)(s->have * r->page_size));
	int rc, pin;

	if (va == MAP_FAILED)
		return errno == ENOMEM && r->hugetlb
			       ? udma__hugepage_shortage(r->page_size, r->numa_node, len)
			       : udma__err(errno, "mmap for the contiguity search of region '%s' failed: %s",
					   r->name, udma__vm_strerror(errno));
	if ((rc = udma__numa_bind(va, len, r->numa_node)) || (rc = udma__populate(va, len, r->page_size)))
		goto out;
	pin = udma__longterm_pin(va, len);
	if (pin < 0) {
		char why[512];

		snprintf(why, sizeof(why), "%s", udma_last_error());
		rc = udma__err(-pin,
			       "region '%s': the contiguity search pins its candidate pages before "
			       "reading their addresses: %s",
			       r->name, why);
		goto out;
	}
	s->pins[s->npins++] = pin;
	if ((rc = udma__pagemap_read(r->ctx->pagemap_fd, va, r->page_size, n, s->entries + s->have)))
		goto out;
	for (i = 0; i < n; i++) {
		s->c[s->have + i].pfn = s->entries[s->have + i] & UDMA_PM_PFN_MASK;
		s->c[s->have + i].index = s->have + i;
	}
	s->have += n;
out:
	munmap(va, len); /* the file keeps the pages, the pin their place */
	return rc;
}

/* Pages for the next chunk: double what was examined, within the cap and
 * within the time left at the pace so far; 0: give up. */
static size_t next_chunk(const struct search *s, uint64_t began)
{
	const struct udma_region *r = s->r;
	uint64_t now = udma__now_ns(), per_page;
	size_t n;

	if (s->have == 0) {
		n = r->hugetlb ? r->npages : r->npages + MIN_FIRST_4K;
		return n < s->cap ? n : s->cap;
	}
	if (s->have == s->cap || s->npins == MAX_CHUNKS)
		return 0;
	n = s->have < s->cap - s->have ? s->have : s->cap - s->have;
	if (r->size <= SMALL_RUN_BYTES && s->have * r->page_size < MIN_EXAMINED_BYTES)
		return n;
	if (now >= r->contig_deadline_ns)
		return 0;
	per_page = (now - began) / s->have + 1;
	if ((r->contig_deadline_ns - now) / per_page < n)
		n = (r->contig_deadline_ns - now) / per_page;
	return n;
}

static int no_run(struct search *s, size_t longest)
{
	struct udma_region *r = s->r;
	char ps[32], need[32], got[32], more[96] = "";
	long avail = r->hugetlb ? udma_hugepage_available(r->page_size, r->numa_node) : -1;

	r->contig_no_run = true;
	if (s->have < s->cap)
		snprintf(more, sizeof(more), " (the search stops after %llu ms; %ld more were free)",
			 CONTIG_BUDGET_NS / 1000000, avail > 0 ? avail : (long)(s->cap - s->have));
	return udma__err(
		ENOMEM,
		"no %s physically contiguous run of %s pages for region '%s': the longest among the %zu "
		"examined is %s%s; %s",
		udma__fmt_size(r->size, need, sizeof(need)), udma__fmt_size(r->page_size, ps, sizeof(ps)),
		r->name, s->have, udma__fmt_size(longest * r->page_size, got, sizeof(got)), more,
		r->hugetlb ? "1 GiB pages give up to 1 GiB in one piece (udma hugepages --reserve 1G "
			     "--page-size 1G), VA mode (vfio with an IOMMU) needs no run, and a device "
			     "that takes segments needs none either (udma_sgl_alloc)"
			   : "use hugepages (udma hugepages --reserve), VA mode, or a scatter list "
			     "(udma_sgl_alloc)");
}

int udma__map_contig(struct udma_region *r)
{
	struct search s = {.r = r, .cap = max_candidates(r)};
	uint64_t began = udma__now_ns();
	size_t n, longest = 0, i;
	long start = -1;
	int rc;

	if (!r->hugetlb && r->size > CONTIG_4K_MAX) {
		r->contig_no_run = true;
		return udma__err(ENOMEM,
				 "region '%s': no search for %zu physically contiguous 4 KiB pages: runs "
				 "longer than 4 MiB (the kernel's largest block) are left to chance; use "
				 "hugepages (udma hugepages --reserve), VA mode, or a scatter list "
				 "(udma_sgl_alloc)",
				 r->name, r->npages);
	}
	/* An earlier attempt (another page size) used the time up. */
	if (r->contig_attempts++ && began >= r->contig_deadline_ns)
		return udma__err(ENOMEM,
				 "no time left to search for %zu physically contiguous %zu KiB pages for "
				 "region '%s' (the search stops after %llu ms)",
				 r->npages, r->page_size >> 10, r->name, CONTIG_BUDGET_NS / 1000000);
	r->fd = udma__memfd(r->name, r->page_size, s.cap * r->page_size);
	if (r->fd < 0)
		return r->fd;
	s.c = malloc(s.cap * sizeof(*s.c));
	s.entries = malloc(s.cap * sizeof(*s.entries));
	if (!s.c || !s.entries) {
		rc = udma__err(ENOMEM, "out of memory for %zu contiguity candidates", s.cap);
		goto out;
	}
	while ((n = next_chunk(&s, began)) > 0) {
		if ((rc = add_chunk(&s, n)))
			goto out;
		/* The chunk's candidates, sorted with the earlier ones. */
		qsort(s.c, s.have, sizeof(*s.c), by_pfn);
		start = udma__find_run(s.c, s.have, r->npages, r->page_size / UDMA_PAGE_4K, &longest);
		if (start >= 0)
			break;
	}
	if (start < 0) {
		rc = no_run(&s, longest);
		goto out;
	}
	/* The caller reads the final mapping's PFNs and checks they are still one run. */
	rc = place_run(r, s.c + start, s.have);
out:
	for (i = 0; i < s.npins; i++)
		udma__longterm_unpin(s.pins[i]);
	free(s.c);
	free(s.entries);
	return rc;
}
