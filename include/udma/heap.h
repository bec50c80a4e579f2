/* SPDX-License-Identifier: MIT */
/* The DMA heap: malloc-like allocation of pinned memory with its IOVA. */
#ifndef UDMA_HEAP_H
#define UDMA_HEAP_H

#include <stddef.h>
#include <stdint.h>
#include <udma/ctx.h>

#ifdef __cplusplus
extern "C" {
#endif

#pragma GCC visibility push(default)

/* align: 0 or a power of two up to the page size. iova may be NULL. NULL on
 * failure, with the reason in udma_last_error(). Requests above the context's
 * heap_large_threshold get a region of their own. */
void *udma_malloc(struct udma_ctx *ctx, size_t size, size_t align, uint64_t *iova);
void *udma_zmalloc(struct udma_ctx *ctx, size_t size, size_t align, uint64_t *iova);
/* A pointer the heap does not own, or one freed twice, is reported, not undefined. */
void udma_free(struct udma_ctx *ctx, void *ptr);

#pragma GCC visibility pop

#ifdef __cplusplus
}
#endif
#endif
