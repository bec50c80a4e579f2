/* SPDX-License-Identifier: MIT */
/* udma_sync_for_device / _for_cpu: cache maintenance for devices that do not
 * see the CPU's caches, and the ordering every device needs (udma/sync.h). */
#include <errno.h>
#include <stdint.h>
#include <udma/barrier.h>
#include <udma/sync.h>

#include "lib/mem/mem.h"

#if defined(__arm__)
#define UDMA_ARCH_NAME "32-bit ARM"
#else
#define UDMA_ARCH_NAME "this architecture"
#endif

int udma_ctx_dma_coherent(const struct udma_ctx *ctx)
{
	if (!ctx)
		return udma__err(EINVAL, "udma_ctx_dma_coherent: ctx is NULL");
	return ctx->dma_coherent;
}

static int sync_range(struct udma_ctx *ctx, const void *addr, size_t len, bool for_cpu, const char *call)
{
	const struct udma_region *r;
	uintptr_t lo = (uintptr_t)addr;
	int rc;

	if (!ctx)
		return udma__err(EINVAL, "%s: ctx is NULL", call);
	if (!len)
		return 0;
	if (!addr || lo + len < lo)
		return udma__err(EINVAL, "%s: %s", call, addr ? "the range wraps around" : "addr is NULL");
	if (udma__inherited(ctx))
		return udma__err_inherited(ctx, call);
	r = udma__region_of(ctx, addr);
	if (!r || lo < (uintptr_t)r->addr || lo + len > (uintptr_t)r->addr + r->size)
		return udma__err(EFAULT,
				 "%s: [%p, +%zu) is not inside one region of this context (%s): sync a "
				 "buffer udma made (a region, a pool object, a heap block) one at a time",
				 call, addr, len, r ? r->name : "no region holds its first byte");
	/* The kernel's sync for the dma-buf's importers: begin CPU access before
	 * the CPU reads, end it once the CPU is done (after the lines below). */
	if (r->dma_buf && for_cpu && (rc = udma__dmabuf_sync(r->fd, true)))
		return rc;
	if (ctx->dma_coherent) {
		if (for_cpu)
			udma_dma_rmb();
		else
			udma_dma_wmb();
	} else if (udma__dcache_maintainable()) {
		if (for_cpu)
			udma__dcache_clean_inval(addr, len);
		else
			udma__dcache_clean(addr, len);
	} else {
		/* Not even for a dma-buf: the kernel's sync reaches only the
		 * devices attached to it, never this driver's. */
		return udma__err(ENOTSUP,
				 "%s: on this CPU (%s) only the kernel can clean caches to the point of "
				 "coherency, and the context's devices are not coherent: if the device is "
				 "(dma-coherent in its device tree), create the context with "
				 "UDMA_CTX_DMA_COHERENT; else use uncached memory from a kernel driver "
				 "(u-dma-buf with O_SYNC), or arm64 user space",
				 call, UDMA_ARCH_NAME);
	}
	if (r->dma_buf && !for_cpu && (rc = udma__dmabuf_sync(r->fd, false)))
		return rc;
	return 0;
}

int udma_sync_for_device(struct udma_ctx *ctx, const void *addr, size_t len)
{
	return sync_range(ctx, addr, len, false, "udma_sync_for_device");
}

int udma_sync_for_cpu(struct udma_ctx *ctx, const void *addr, size_t len)
{
	return sync_range(ctx, addr, len, true, "udma_sync_for_cpu");
}
