/* SPDX-License-Identifier: MIT */
/* Context, IOVA modes, errors and VA -> IOVA translation. */
#ifndef UDMA_CTX_H
#define UDMA_CTX_H

#include <stddef.h>
#include <stdint.h>

#ifdef __cplusplus
extern "C" {
#endif

#pragma GCC visibility push(default)

/*
 * Errors: every function that can fail returns 0 (or a count) on success and
 * a negative errno on failure, and leaves a one-line explanation, with the
 * fix where there is one, in udma_last_error(). The message is thread-local
 * and stays until the next failure in the same thread.
 */
const char *udma_last_error(void);

#define UDMA_NUMA_ANY (-1)

enum udma_iova_mode {
	UDMA_IOVA_AUTO, /* PA if pagemap gives PFNs, else VA (reason: udma_ctx_iova_reason) */
	UDMA_IOVA_PA,	/* IOVA = physical address (UIO, no IOMMU); needs CAP_SYS_ADMIN */
	UDMA_IOVA_VA,	/* IOVA = virtual address (VFIO with an IOMMU, simulated devices) */
};

/* Fail region creation instead of falling back to 4 KiB pages. */
#define UDMA_CTX_STRICT_HUGE (1u << 0)
/*
 * Whether the context's devices see the CPU's caches (udma_sync_for_device,
 * udma_sync_for_cpu in udma/sync.h do the cache maintenance when they do
 * not). Without either flag: coherent on x86 (PCIe snoops the caches), not
 * coherent on ARM (a board's DMA master often is not: its device tree node
 * says "dma-coherent" when it is, and then this flag saves the maintenance).
 * Both at once: -EINVAL. NONCOHERENT on 32-bit ARM: -ENOTSUP at
 * udma_ctx_create, since user space there cannot clean caches to the point of
 * coherency (udma/sync.h says what can be done instead).
 */
#define UDMA_CTX_DMA_COHERENT	 (1u << 1)
#define UDMA_CTX_DMA_NONCOHERENT (1u << 2)

struct udma_ctx_opts {
	enum udma_iova_mode iova_mode;
	size_t page_size;	     /* 0: largest with enough free pages; else 4K, 2M or 1G exactly */
	int numa_node;		     /* UDMA_NUMA_ANY or a node */
	size_t heap_large_threshold; /* 0: default; udma_malloc above this gets its own region */
	unsigned flags;		     /* UDMA_CTX_STRICT_HUGE, UDMA_CTX_DMA_(NON)COHERENT */
};

struct udma_ctx;

/* opts may be NULL (all defaults: AUTO, automatic page size, any node). */
int udma_ctx_create(const struct udma_ctx_opts *opts, struct udma_ctx **out);
/* Destroys every region still alive and reports each one in the log
 * (udma_set_log; stderr by default).
 * fork: a context belongs to its creator. In a forked child every call on an
 * inherited context (and its regions, pools, heap, devices) fails with
 * -ECHILD, and udma_ctx_destroy only releases the child's copies (fds,
 * bookkeeping), never touching the parent's devices: make a new context. */
void udma_ctx_destroy(struct udma_ctx *ctx);

enum udma_iova_mode udma_ctx_iova_mode(const struct udma_ctx *ctx); /* PA or VA, never AUTO */
/* Why the context is in its IOVA mode (one line, for `udma info` and logs). */
const char *udma_ctx_iova_reason(const struct udma_ctx *ctx);
/* 1 if the context's devices are cache-coherent with the CPU (the syncs of
 * udma/sync.h are then only ordering fences), 0 if not, -EINVAL for NULL. */
int udma_ctx_dma_coherent(const struct udma_ctx *ctx);

/* Translation */
#define UDMA_BAD_IOVA UINT64_MAX

/* O(1): no syscall, no list walk. UDMA_BAD_IOVA for an address outside every region. */
uint64_t udma_iova(const struct udma_ctx *ctx, const void *va);
/* Bytes from va (at most len) that are contiguous in IOVA space; 0 outside every region. */
size_t udma_iova_contig(const struct udma_ctx *ctx, const void *va, size_t len);

#pragma GCC visibility pop

#ifdef __cplusplus
}
#endif
#endif
