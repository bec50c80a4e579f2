/* SPDX-License-Identifier: MIT */
/* Regions: pinned, populated, translated mappings. */
#ifndef UDMA_REGION_H
#define UDMA_REGION_H

#include <stddef.h>
#include <udma/ctx.h>

#ifdef __cplusplus
extern "C" {
#endif

#pragma GCC visibility push(default)

/* One physically contiguous run (IOVA-contiguous), or fail. Always true in VA mode. */
#define UDMA_REGION_CONTIG (1u << 0)
/* Backed by a memfd that udma_region_fd() returns, to share with another process. */
#define UDMA_REGION_SHARED (1u << 1)

struct udma_region_opts {
	size_t size;	  /* bytes; rounded up to the page size */
	size_t page_size; /* 0: the context's choice; else 4K, 2M or 1G exactly */
	int numa_node;	  /* UDMA_NUMA_ANY: the context's node */
	unsigned flags;	  /* UDMA_REGION_CONTIG, UDMA_REGION_SHARED */
	const char *name; /* shown in /proc/PID/maps as udma:NAME; may be NULL */
};

struct udma_region;

int udma_region_create(struct udma_ctx *ctx, const struct udma_region_opts *opts, struct udma_region **out);
/* Any thread may translate while others create and destroy regions, but not
 * an address inside the region being destroyed. */
void udma_region_destroy(struct udma_region *region);

void *udma_region_addr(const struct udma_region *region);
size_t udma_region_size(const struct udma_region *region);
size_t udma_region_page_size(const struct udma_region *region);
int udma_region_numa_node(const struct udma_region *region); /* UDMA_NUMA_ANY if not bound */
int udma_region_fd(const struct udma_region *region);	     /* -1 unless SHARED */
const char *udma_region_name(const struct udma_region *region);

/* Iterate a context's regions: first with prev == NULL; NULL at the end. Not
 * safe against regions created or destroyed meanwhile by other threads. */
struct udma_region *udma_region_next(const struct udma_ctx *ctx, const struct udma_region *prev);

#pragma GCC visibility pop

#ifdef __cplusplus
}
#endif
#endif
