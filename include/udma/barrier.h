/* SPDX-License-Identifier: MIT */
/*
 * Ordering between the CPU and a device that reads and writes memory by DMA,
 * for drivers (the ones in drivers/ use these), as Linux's dma_wmb/dma_rmb:
 *   udma_dma_wmb()  descriptors and buffers written before it reach memory
 *                   before any later write, a doorbell's MMIO write included;
 *   udma_dma_rmb()  what the device wrote is read only after the flag (a
 *                   phase tag, a "done" bit, a used index) read before it;
 *   udma_mb()       a full barrier: stores before it are visible before any
 *                   load after it (publish an index, then read whether the
 *                   device wants a doorbell: virtio's notification flags).
 * x86 reorders neither stores with stores (uncached ones included) nor loads
 * with loads, so only the compiler must be kept from reordering, except for
 * udma_mb (x86 lets a load pass an earlier store: mfence); arm64 needs
 * dmb over the outer-shareable domain (where devices are); 32-bit ARM dmb
 * osh; any other architecture gets the compiler's full barrier, which is
 * stronger than needed. Memory must be coherent with the device (no cache
 * maintenance here).
 */
#ifndef UDMA_BARRIER_H
#define UDMA_BARRIER_H

#if defined(__x86_64__) || defined(__i386__)
static inline void udma_dma_wmb(void)
{
	__asm__ __volatile__("" ::: "memory");
}
static inline void udma_dma_rmb(void)
{
	__asm__ __volatile__("" ::: "memory");
}
static inline void udma_mb(void)
{
	__asm__ __volatile__("mfence" ::: "memory");
}
#elif defined(__aarch64__)
static inline void udma_dma_wmb(void)
{
	__asm__ __volatile__("dmb oshst" ::: "memory");
}
static inline void udma_dma_rmb(void)
{
	__asm__ __volatile__("dmb oshld" ::: "memory");
}
static inline void udma_mb(void)
{
	__asm__ __volatile__("dmb osh" ::: "memory");
}
#elif defined(__arm__)
static inline void udma_dma_wmb(void)
{
	__asm__ __volatile__("dmb oshst" ::: "memory");
}
static inline void udma_dma_rmb(void)
{
	__asm__ __volatile__("dmb osh" ::: "memory");
}
static inline void udma_mb(void)
{
	__asm__ __volatile__("dmb osh" ::: "memory");
}
#else
static inline void udma_dma_wmb(void)
{
	__sync_synchronize();
}
static inline void udma_dma_rmb(void)
{
	__sync_synchronize();
}
static inline void udma_mb(void)
{
	__sync_synchronize();
}
#endif

#endif
