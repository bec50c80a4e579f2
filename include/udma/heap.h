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

/*
 * malloc for DMA: pinned memory and its IOVA. Every allocation is
 * IOVA-contiguous over its size (one DMA buffer, in PA mode too), starts on
 * a cache line at least (no two allocations share a line), and holds no heap
 * metadata (a device writing into freed memory cannot corrupt the heap).
 *
 * Like malloc's split between its heap and mmap: a request up to the
 * context's heap_large_threshold comes from a size class (64 B, 128 B, then
 * 2^k and 1.5 * 2^k: above 128 B at most a third is lost to rounding) carved
 * from pinned slabs, with a per-thread cache in front (per class up to 64
 * free objects or 256 KiB, at least 2; given back when the thread exits, or
 * in batches when it frees more than it allocates); slabs take hugepages
 * when there are free ones, and stay with the heap, to be reused, until
 * udma_ctx_destroy. A larger request gets a region of its own, physically
 * contiguous (UDMA_REGION_CONTIG: in PA mode free hugepages that happen to be
 * adjacent, or one 1 GiB page when free; a search that finds no such run
 * gives up within about 10 ms, with ENOMEM naming the longest run it saw),
 * which udma_free gives back to the system. A buffer a device can take in
 * segments needs no run: udma_sgl_alloc (udma/sgl.h).
 *
 * heap_large_threshold: 0 means 1 MiB, half a 2 MiB hugepage. glibc gives
 * requests above M_MMAP_THRESHOLD (128 KiB, rising to at most 32 MiB as such
 * blocks are freed) a mapping of their own, because a large block inside the
 * heap fragments it and cannot go back to the system. A region of its own
 * costs far more than an mmap (pinning, zeroing, reading the pagemap), hence
 * a higher threshold; and at 1 MiB a 2 MiB hugepage slab holds at least two
 * objects of the largest class, and no small object spans two pages, so it
 * is physically contiguous without a search for adjacent pages. Values above
 * 32 MiB (glibc's largest threshold) are taken as 32 MiB.
 *
 * size: 1 or more. align: 0 (64) or a power of two up to the heap's page
 * size: the larger of 2 MiB and the context's page_size (regions start on
 * such a boundary). iova may be NULL. Thread-safe. NULL on failure, with
 * errno set and the reason in udma_last_error(): EINVAL (ctx NULL, size 0,
 * align not a power of two or too large, a size no region can have), ENOMEM
 * (no memory or RLIMIT_MEMLOCK reached, no free hugepages under
 * UDMA_CTX_STRICT_HUGE, no physically contiguous run for the size in PA mode).
 */
void *udma_malloc(struct udma_ctx *ctx, size_t size, size_t align, uint64_t *iova);
/* udma_malloc, and the size bytes are zero (also when the memory is reused). */
void *udma_zmalloc(struct udma_ctx *ctx, size_t size, size_t align, uint64_t *iova);
/*
 * Any thread may free what any thread allocated; NULL is a no-op. A pointer
 * the heap does not own (another context's, not from udma_malloc, inside an
 * allocation) or one already free is reported (one line in the log and in
 * udma_last_error()) and ignored. Like any allocator's, this cannot tell a
 * free of memory that was freed and allocated again meanwhile from a right
 * one. Two frees of one small object at the same instant in two threads: one
 * frees it, the other is reported. For a large allocation the second may look
 * at the region the first is unmapping, which is undefined. udma_ctx_destroy
 * reports what was never freed (count and bytes) and frees it; join the
 * threads that used the heap before it (a thread exiting during it may touch
 * the heap being torn down).
 */
void udma_free(struct udma_ctx *ctx, void *ptr);

#pragma GCC visibility pop

#ifdef __cplusplus
}
#endif
#endif
