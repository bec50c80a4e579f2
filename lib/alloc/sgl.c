/* SPDX-License-Identifier: MIT */
/*
 * Scatter lists: a region of its own, without UDMA_REGION_CONTIG, described
 * as its IOVA-contiguous segments. Built on the public region and IOVA calls
 * only, so it holds for whatever way the region layer found the memory.
 */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>

#include "lib/alloc/alloc.h"

struct udma_sgl {
	struct udma_region *region;
	unsigned count;
	struct udma_sg *segs;
};

/* Walk the region's runs, cutting each at max_seg; segs NULL: count only.
 * 0 if an address has no IOVA (the region is gone: destroyed by another
 * thread meanwhile). */
static size_t walk(struct udma_ctx *ctx, uint8_t *addr, size_t size, size_t max_seg, struct udma_sg *segs)
{
	size_t off = 0, n = 0, len;

	while (off < size) {
		len = udma_iova_contig(ctx, addr + off, size - off);
		if (!len)
			return 0;
		if (max_seg && len > max_seg)
			len = max_seg;
		if (segs)
			segs[n] = (struct udma_sg){addr + off, udma_iova(ctx, addr + off), len};
		n++;
		off += len;
	}
	return n;
}

int udma_sgl_alloc(struct udma_ctx *ctx, const struct udma_sgl_opts *opts, struct udma_sgl **out)
{
	struct udma_region_opts ro;
	struct udma_sgl *s;
	size_t n;
	uint8_t *addr;
	int rc;

	if (!out)
		return udma__err(EINVAL, "udma_sgl_alloc: out is NULL");
	*out = NULL;
	if (!ctx || !opts)
		return udma__err(EINVAL, "udma_sgl_alloc: %s is NULL", ctx ? "opts" : "ctx");
	if (!opts->size)
		return udma__err(EINVAL, "udma_sgl_alloc: size is 0");
	if (opts->max_seg % UDMA_PAGE_4K)
		return udma__err(EINVAL, "udma_sgl_alloc: max_seg %zu is not a multiple of 4 KiB",
				 opts->max_seg);
	s = calloc(1, sizeof(*s));
	if (!s)
		return udma__err(ENOMEM, "udma_sgl_alloc: out of memory for the list");
	ro = (struct udma_region_opts){.size = opts->size,
				       .page_size = opts->page_size,
				       .numa_node = opts->numa_node,
				       .name = opts->name && *opts->name ? opts->name : "sgl"};
	if ((rc = udma_region_create(ctx, &ro, &s->region))) {
		free(s);
		return rc;
	}
	addr = udma_region_addr(s->region);
	n = walk(ctx, addr, udma_region_size(s->region), opts->max_seg, NULL);
	s->segs = n && n <= UINT32_MAX ? malloc(n * sizeof(*s->segs)) : NULL;
	if (!s->segs || walk(ctx, addr, udma_region_size(s->region), opts->max_seg, s->segs) != n) {
		rc = n ? udma__err(ENOMEM, "udma_sgl_alloc: out of memory for %zu segments", n)
		       : udma__err(EFAULT,
				   "udma_sgl_alloc: its new region has no IOVA (destroyed meanwhile?)");
		free(s->segs);
		udma_region_destroy(s->region);
		free(s);
		return rc;
	}
	s->count = (unsigned)n;
	*out = s;
	return 0;
}

void udma_sgl_free(struct udma_sgl *s)
{
	if (!s)
		return;
	udma_region_destroy(s->region);
	free(s->segs);
	free(s);
}

void *udma_sgl_addr(const struct udma_sgl *s)
{
	return udma_region_addr(s->region);
}

size_t udma_sgl_size(const struct udma_sgl *s)
{
	return udma_region_size(s->region);
}

unsigned udma_sgl_count(const struct udma_sgl *s)
{
	return s->count;
}

const struct udma_sg *udma_sgl_segs(const struct udma_sgl *s)
{
	return s->segs;
}
