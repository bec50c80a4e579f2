/* SPDX-License-Identifier: MIT */
/*
 * Cache maintenance for devices that do not see the CPU's caches
 * (non-coherent DMA: many ARM boards' FPGA and SoC DMA masters).
 *
 * The rule for a driver, whatever the platform (on a coherent one these
 * are only the ordering fences, so a portable driver always calls them):
 *  - udma_sync_for_device(ctx, buf, len) after the CPU wrote buf (or before
 *    the device writes into it) and before the device is told to read or
 *    write it (the doorbell): the CPU's dirty lines reach memory, so the
 *    device reads what the CPU wrote and no later eviction overwrites what
 *    it writes;
 *  - udma_sync_for_cpu(ctx, buf, len) after the device finished writing buf
 *    (its completion was seen) and before the CPU reads it: lines the CPU
 *    holds of buf are dropped, so it reads memory.
 * Between the two the CPU must not touch buf. Descriptor rings the device
 * and CPU share while both run need memory the device sees coherently (a
 * coherent device, or a ring re-synced around every access).
 *
 * What runs, by platform, for a context that is not coherent
 * (udma_ctx_dma_coherent() == 0, see UDMA_CTX_DMA_COHERENT in udma/ctx.h):
 *  - arm64: DC CVAC (clean to the point of coherency) for the device, DC
 *    CIVAC (clean and invalidate: EL0 may not invalidate alone) for the CPU,
 *    line by line at CTR_EL0's smallest data cache line, then DSB SY, as the
 *    kernel's own dma_sync_* does;
 *  - x86: CLFLUSH line by line (for the rare non-snooping device), then MFENCE;
 *  - 32-bit ARM (AArch32 user space, even on an arm64 kernel): no
 *    instruction it may run cleans to the point of coherency (the cacheflush
 *    syscall reaches only the point of unification), so a sync fails with
 *    -ENOTSUP saying so, dma-bufs included (the kernel's dma-buf sync reaches
 *    only the devices attached to the buffer, not this driver's): tell udma
 *    the device is coherent if it is (UDMA_CTX_DMA_COHERENT), use uncached
 *    memory from a kernel driver (u-dma-buf's O_SYNC), or run arm64 user
 *    space.
 * Regions from a DMA-BUF heap (udma/region.h) are also synced through the
 * kernel (DMA_BUF_IOCTL_SYNC: START before the CPU reads, END after the CPU
 * wrote), coherent context or not, for the kernel drivers that imported the
 * buffer. That ioctl has no range: it costs a syscall and syncs the whole
 * buffer for each importer, whatever len is.
 *
 * Cache lines are shared: a partial line at either end of the range is
 * cleaned and invalidated whole, so on a non-coherent context a buffer the
 * device writes must not share a line with bytes the CPU writes meanwhile
 * (they would be lost, or overwrite the device's). Align and size such
 * buffers to the cache writeback granule: 128 bytes covers arm64 cores
 * (the kernel's ARCH_DMA_MINALIGN); pools take align, udma_malloc its align.
 * As udma_iova, a sync may run while other threads create and destroy
 * regions, but not on a region being destroyed.
 *
 * [addr, addr + len) must lie in one region of ctx (a pool object, a heap
 * block, a region's bytes): a partial cache line at either end is synced
 * whole. len 0 does nothing and returns 0. -EINVAL: ctx NULL, addr NULL with
 * len > 0, or the range wraps; -EFAULT: not inside one region of ctx (the
 * message names the address); -ECHILD: ctx inherited through fork;
 * -ENOTSUP: 32-bit ARM, as above; else the dma-buf ioctl's error.
 */
#ifndef UDMA_SYNC_H
#define UDMA_SYNC_H

#include <stddef.h>
#include <udma/ctx.h>

#ifdef __cplusplus
extern "C" {
#endif

#pragma GCC visibility push(default)

/* Before the device reads what the CPU wrote (or writes into the buffer). */
int udma_sync_for_device(struct udma_ctx *ctx, const void *addr, size_t len);
/* After the device wrote, before the CPU reads. */
int udma_sync_for_cpu(struct udma_ctx *ctx, const void *addr, size_t len);

#pragma GCC visibility pop

#ifdef __cplusplus
}
#endif
#endif
