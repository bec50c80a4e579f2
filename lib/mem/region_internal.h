/* SPDX-License-Identifier: MIT */
/* Helpers shared by region.c, region_map.c, region_contig.c, region_attach.c
 * and region_register.c. */
#ifndef UDMA_REGION_INTERNAL_H
#define UDMA_REGION_INTERNAL_H

#include "lib/mem/mem.h"

/* Map r->size bytes for r (sets r->addr, r->fd) and pin them. On failure the
 * caller unmaps r->addr (if set) and closes r->fd (if >= 0). */
UDMA_HIDDEN int udma__region_map(struct udma_region *r);
/* Name (anonymous only), DONTFORK, NUMA bind if populate, then fault in every
 * page: hugepages by populate (if populate), 4 KiB pages by mlock (always). */
UDMA_HIDDEN int udma__region_pin(struct udma_region *r, void *addr, size_t len, bool populate);
/* Fault in and keep: hugepages populated (if populate), 4 KiB pages mlocked. */
UDMA_HIDDEN int udma__region_lock(struct udma_region *r, void *addr, size_t len, bool populate);
/* The explained error for a hugetlb mapping that could not get its pages. */
UDMA_HIDDEN int udma__hugepage_shortage(size_t page_size, int node, size_t len);
/* Check each page is present and, in PA mode, record its IOVA. */
UDMA_HIDDEN int udma__region_translate(struct udma_region *r, const uint64_t *entries);

/* region_map.c: address space for r->footprint bytes at r's alignment whose
 * addresses, as IOVAs, no region of the context has (VA mode). */
UDMA_HIDDEN int udma__region_reserve(struct udma_region *r, size_t align, void **out);

/* region_dmabuf.c */
/* opts.dma_heap's rules: 0, or -EINVAL explained. */
UDMA_HIDDEN int udma__region_dma_heap_check(const struct udma_region_opts *o);
/* Map r->size bytes of a dma-buf from the heap r->dma_heap (sets r->addr,
 * r->fd); the caller undoes as for udma__region_map. */
UDMA_HIDDEN int udma__region_map_dma_heap(struct udma_region *r);
/* Check every page of the mapping can be reached and, in PA mode, record its
 * IOVA (or refuse: pagemap shows no VM_PFNMAP page). */
UDMA_HIDDEN int udma__region_translate_dma_heap(struct udma_ctx *ctx, struct udma_region *r);

/* region.c */
/* With ctx->lock held: into the VA index, told to subscribers (ADDED), on the
 * context's list; 0, or the error with nothing left of it. */
UDMA_HIDDEN int udma__region_publish_locked(struct udma_ctx *ctx, struct udma_region *r);
/* With ctx->lock held: a region of ctx with IOVAs in [lo, hi), or NULL. */
UDMA_HIDDEN const struct udma_region *udma__iova_user_locked(const struct udma_ctx *ctx, uint64_t lo,
							     uint64_t hi);
/* Unpin, unmap (registered memory: unlock instead), close and free a region
 * that is on no list. */
UDMA_HIDDEN void udma__region_free(struct udma_region *r);
/* PA mode: room for the frame table and runs of r->npages pages. */
UDMA_HIDDEN int udma__region_alloc_pa_tables(struct udma_region *r);
/* Read the mapped pages' entries from pagemap and translate them. */
UDMA_HIDDEN int udma__region_read_pagemap(struct udma_ctx *ctx, struct udma_region *r);
/* PA mode: the region's own long-term pin (r->pin_fd). */
UDMA_HIDDEN int udma__region_longterm_pin(struct udma_region *r);

#endif
