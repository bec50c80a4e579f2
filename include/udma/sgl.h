/* SPDX-License-Identifier: MIT */
/* Scatter lists: large DMA buffers that need not be IOVA-contiguous. */
#ifndef UDMA_SGL_H
#define UDMA_SGL_H

#include <stddef.h>
#include <stdint.h>
#include <udma/ctx.h>

#ifdef __cplusplus
extern "C" {
#endif

#pragma GCC visibility push(default)

/*
 * udma_malloc and UDMA_REGION_CONTIG promise one IOVA-contiguous buffer. In
 * PA mode that needs physically adjacent pages, which a fragmented machine
 * may not have at the size asked (2 MiB hugepages reserved after boot rarely
 * form runs longer than a few tens of MiB); udma_malloc then fails quickly,
 * naming the longest run it saw. A device that takes a list of segments
 * (NVMe PRP/SGL, NIC descriptor chains, most DMA engines) needs no such run:
 * a scatter list is the same pinned memory, virtually contiguous for the CPU,
 * described to the device as the fewest IOVA-contiguous segments the pages
 * allow (one in VA mode, or when the pages happen to be adjacent).
 *
 * The memory is a region of its own (udma_region_next lists it, devices of
 * the context map it, udma_iova translates any address in it), zeroed, on the
 * largest page size with enough free pages, freed with udma_sgl_free.
 */
struct udma_sg {
	void *addr;    /* CPU address of the segment */
	uint64_t iova; /* the device's address: len bytes from here are contiguous */
	size_t len;
};

struct udma_sgl_opts {
	size_t size;	  /* bytes, rounded up to the page size */
	size_t max_seg;	  /* 0: no limit; else no segment is longer (a multiple of 4 KiB) */
	size_t page_size; /* 0: the context's choice; else 4K, 2M or 1G exactly */
	int numa_node;	  /* UDMA_NUMA_ANY: the context's node */
	const char *name; /* as for regions (udma:NAME in /proc/PID/maps); may be NULL */
};

struct udma_sgl;

/* -EINVAL: out, ctx or opts NULL, size 0, max_seg not a multiple of 4 KiB;
 * else as udma_region_create. *out is NULL on failure. */
int udma_sgl_alloc(struct udma_ctx *ctx, const struct udma_sgl_opts *opts, struct udma_sgl **out);
void udma_sgl_free(struct udma_sgl *sgl); /* NULL: nothing */

void *udma_sgl_addr(const struct udma_sgl *sgl); /* the whole buffer, virtually contiguous */
size_t udma_sgl_size(const struct udma_sgl *sgl);
/* The segments in address order: count entries, covering the buffer exactly. */
unsigned udma_sgl_count(const struct udma_sgl *sgl);
const struct udma_sg *udma_sgl_segs(const struct udma_sgl *sgl);

#pragma GCC visibility pop

#ifdef __cplusplus
}
#endif
#endif
