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

/* One physically contiguous run (IOVA-contiguous), or fail. Always true in VA
 * mode. In PA mode: pages that happen to be adjacent, found by faulting in
 * candidates until a run appears; the search gives up after about 10 ms with
 * ENOMEM naming the longest run seen (a run up to 16 MiB is first looked for
 * among at least 128 MiB of candidates, or all there are, however long that takes). With the page size chosen automatically,
 * a run of 2 MiB pages not found falls back to 1 GiB pages when enough are
 * free. No run of 4 KiB pages longer than 4 MiB (the kernel's largest block)
 * is searched for: ENOMEM at once. */
#define UDMA_REGION_CONTIG (1u << 0)
/* Backed by a memfd that udma_region_fd() returns, to share with another
 * process. In PA mode the pages stay put while this region lives (its
 * long-term pin is the creator's): a process that maps the fd must stop
 * using the physical addresses once the creator destroys the region. */
#define UDMA_REGION_SHARED (1u << 1)

struct udma_region_opts {
	size_t size;	  /* bytes; rounded up to the page size */
	size_t page_size; /* 0: the context's choice; else 4K, 2M or 1G exactly */
	int numa_node;	  /* UDMA_NUMA_ANY: the context's node */
	unsigned flags;	  /* UDMA_REGION_CONTIG, UDMA_REGION_SHARED */
	const char *name; /* shown in /proc/PID/maps as udma:NAME; may be NULL */
	/* NULL, or the memory comes from this DMA-BUF heap (/dev/dma_heap/NAME)
	 * instead of hugetlb or anonymous pages: "cma" for the kernel's default
	 * CMA heap (physically contiguous up to the CMA area's size, no kernel
	 * module: default_cma_region, else reserved, linux,cma or default-pool),
	 * or a heap's own name ("system", a board's named CMA heap). See
	 * "DMA-BUF heap regions" below. */
	const char *dma_heap;
};

struct udma_region;

/* In PA mode the region also takes a long-term pin, so no page moves while it
 * lives (docs/design.md, "Regions"); the pin holds one file descriptor (an
 * io_uring never used for I/O) until udma_region_destroy. */
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

/*
 * Another process's SHARED region, mapped into ctx at an address of this
 * process's choosing (the exporter's when it is free here, else anywhere:
 * never assume the two agree). fd is the exporter's udma_region_fd(), or a
 * pool's udma_pool_fd(), received by any means (SCM_RIGHTS, inheritance);
 * the region keeps a duplicate, so the caller may close fd at once. The
 * attached region is a region of ctx like any other: pinned (RLIMIT_MEMLOCK
 * is charged here too), translated, announced to memory event subscribers
 * and mapped to ctx's devices; udma_region_destroy unmaps it here only.
 *
 * IOVAs belong to the memory, not to the address. PA mode: both processes
 * read the same physical addresses (each takes its own long-term pin, so the
 * pages stay put while either maps them). VA mode: udma_iova() in the
 * attacher returns the exporter's IOVAs (its VA), so a bus address passed
 * between the processes means the same bytes, and a device opened in the
 * attacher maps the memory at those IOVAs too. The two contexts must be in
 * the same IOVA mode.
 *
 * Trust: attach only a file from a process you trust with this memory (check
 * the peer, e.g. SO_PEERCRED, before taking its fd): it can write the memory,
 * and its owner can replace pages (fallocate) under the mapping.
 *
 * -EINVAL: ctx or out NULL, fd negative; -EBADF: fd not open; -ENOTSUP: not
 * a file udma made for a SHARED region (the message says what it is); -EPERM:
 * a file not sealed against shrinking and growing (F_SEAL_SHRINK |
 * F_SEAL_GROW: a shrink would crash this process), or sealed against writes;
 * -EBADMSG: a size that is no whole number of its pages; -EPROTO: an IOVA
 * mode other than ctx's; -EEXIST: this memory is already a region of ctx
 * (attached before, or ctx made it); -EADDRINUSE (VA mode): the exporter's
 * IOVAs overlap a region of ctx; else as udma_region_create (memlock, pin).
 */
int udma_region_attach(struct udma_ctx *ctx, int fd, struct udma_region **out);

/*
 * Memory the application already owns, as a region of ctx: pinned (4 KiB
 * pages locked with mlock; hugetlb pages populated; in PA mode a long-term
 * pin), translated, announced to memory event subscribers and mapped to
 * ctx's devices, as SPDK's spdk_mem_register does. addr and len: page
 * aligned (the mapping's page size), anonymous private or shared memory, a
 * memfd or other shmem file, or hugetlb memory, readable and writable; the
 * bytes in it are kept. The 2 MiB chunks [addr, addr + len) touches must not
 * hold another region of ctx (the range need not start on a chunk boundary).
 * The region is named "registered@ADDR"; udma_region_fd gives -1.
 * The mapping's advice is left as it is (no MADV_DONTFORK, no THP advice,
 * no name): a forked child keeps its copy of the memory (in PA mode the pin
 * makes the kernel copy the pinned pages for the child, so the parent's
 * stay under the device).
 * udma_region_destroy unregisters it: unpins (munlock for 4 KiB pages,
 * unless the whole range was locked already when registered: an mlock or
 * mlockall of the application's stays) without unmapping; the memory stays
 * the application's, and must stay mapped while the region lives. A forked
 * child's udma_ctx_destroy touches none of it.
 *
 * -EINVAL: ctx, addr or out NULL, len 0, addr or len not page aligned, the
 * range not wholly mapped, or spanning mappings of different page sizes;
 * -EFAULT: a part not readable and writable (PROT_NONE...); -ENOTSUP:
 * file-backed memory that is not hugetlb or shmem (the kernel cannot pin page
 * cache pages for DMA), device memory (VM_IO, VM_PFNMAP), or an
 * out-of-process simulated device open on ctx (udma has no file of the
 * memory to hand it; opening one while such a region lives fails with
 * -ENOTSUP too); -EEXIST: overlaps a chunk of another region of ctx;
 * -EADDRINUSE (VA mode, where its IOVAs are its addresses): a region
 * attached at another address than its exporter's has these IOVAs;
 * -ENOMEM: over RLIMIT_MEMLOCK (the message gives the limit); -ECHILD: ctx
 * inherited through fork; else as udma_region_create (pin, pagemap,
 * subscribers).
 */
int udma_region_register(struct udma_ctx *ctx, void *addr, size_t len, struct udma_region **out);

/*
 * DMA-BUF heap regions (opts.dma_heap set): the kernel allocates the memory
 * (DMA_HEAP_IOCTL_ALLOC) and it is mapped from the dma-buf's fd. It is held
 * by the kernel for the region's life (no mlock, no RLIMIT_MEMLOCK charge, no
 * long-term pin: the pages never move), announced to memory event
 * subscribers like any region. 4 KiB pages only (page_size 0 or 4K), no NUMA
 * node (numa_node UDMA_NUMA_ANY), not SHARED (to share it,
 * udma_region_dmabuf); a forked child closes its copy of the buffer.
 * What can reach it: the heaps map their buffers as raw page frames
 * (VM_PFNMAP: the system heap always, the CMA heap since Linux 6.8 and in
 * the stable kernels before it), which /proc/self/pagemap does not show and
 * VFIO does not map (it maps such mappings only for device memory). So in PA
 * mode such a region fails with -ENOTSUP saying so (a kernel that maps the
 * CMA heap's pages as pages gives their PFNs, and then it works, contiguity
 * checked); in VA mode it is made, and in-process simulated devices use it,
 * while VFIO refuses to map it (udma_dev_open or the region's creation then
 * fails with -ENOTSUP, naming it) and so does an out-of-process sim device.
 * Its use is as a dma-buf for kernel drivers (udma_region_dmabuf). A CMA
 * heap gives physically contiguous memory, so CONTIG holds there; CONTIG on
 * another heap (the system heap gives scattered pages) is checked from the
 * PFNs in PA mode and fails with -ENOMEM when the pages are not one run.
 * -ENOENT: no such heap (the
 * message lists the heaps there are and, for "cma", that the kernel needs
 * CONFIG_DMABUF_HEAPS_CMA and a CMA area: cma=SIZE on its command line or a
 * shared-dma-pool reserved-memory node); -ENODEV: no /dev/dma_heap at all
 * (CONFIG_DMABUF_HEAPS, Linux 5.6+); -EACCES: the heap's device node is not
 * readable by this user; -ENOMEM: the heap has not that much (for CMA, the
 * message gives CmaFree); -ENOTSUP: PA mode on a kernel whose heap maps raw
 * page frames (above); -EINVAL: a name with '/' or starting with '.', a page
 * size or node, or SHARED.
 *
 * A region as a dma-buf, for other drivers to import (V4L2, DRM, another
 * process's GPU): a new fd the caller owns and closes (O_CLOEXEC). A DMA-BUF
 * heap region gives a duplicate of its own dma-buf. A SHARED region (made
 * here or attached) is wrapped by the kernel's /dev/udmabuf
 * (CONFIG_UDMABUF): its memfd is sealed against shrinking already. The
 * dma-buf keeps the memory alive after udma_region_destroy, until every
 * holder closes it; in PA mode its pages are the region's, and are no longer
 * pinned by udma once the region is destroyed.
 * udmabuf takes hugetlb memfds only in some kernels (5.15 to 6.3, and again
 * since 6.11). udma does not sync the dma-buf it returns: its holder brackets
 * CPU access with DMA_BUF_IOCTL_SYNC, as for any dma-buf.
 * -EINVAL: region NULL; -ENOTSUP: a region with no file (neither SHARED nor
 * from a DMA-BUF heap: create it with UDMA_REGION_SHARED), or registered
 * memory; -ENODEV: no /dev/udmabuf (the kernel lacks CONFIG_UDMABUF; the
 * message says so); -E2BIG: larger than udmabuf's limit (the message gives
 * it, from /sys/module/udmabuf/parameters/size_limit_mb, and how to raise
 * it); -EACCES: /dev/udmabuf not writable by this user; -EMFILE: no fd left;
 * else udmabuf's refusal (-EINVAL, or -EBADFD for a memfd it cannot take,
 * such as a hugetlb one on a kernel without that support).
 */
int udma_region_dmabuf(struct udma_region *region);

/* Iterate a context's regions: first with prev == NULL; NULL at the end. Not
 * safe against regions created or destroyed meanwhile by other threads. */
struct udma_region *udma_region_next(const struct udma_ctx *ctx, const struct udma_region *prev);

/*
 * Memory events: be told of every region of a context as it comes and goes,
 * to keep a table of your own or to register udma memory with another
 * framework (as SPDK's spdk_mem_map notify callbacks and DPDK's
 * rte_mem_event_callback_register do). Pools, the heap and devices take their
 * memory as regions, so their memory is announced too (a slab the heap grows
 * within a udma_malloc, a large block, a pool's regions); udma's device layer
 * is itself a subscriber while the context has a device open, from
 * udma_dev_open to the last udma_dev_close (so it then counts against
 * UDMA_MEM_EVENT_MAX, udma_dev_open fails with -ENOSPC when no slot is left,
 * and it hears events in its turn like any other, after the subscribers
 * registered before it).
 *
 * UDMA_MEM_ADDED: the region is pinned and translated (udma_iova works on it)
 * and not yet returned by udma_region_create nor listed by udma_region_next.
 * Return 0 to accept it, or a negative errno to refuse it: udma_region_create
 * then fails with that errno (any other non-zero value counts as -ECANCELED),
 * udma_last_error() names the refusal, the subscribers already told get
 * UDMA_MEM_REMOVED (the last told first) and the region is unmade.
 * UDMA_MEM_REMOVED: the region is about to be unmade; its memory is still
 * mapped and readable, its IOVAs still valid. The return value is ignored.
 * Subscribers hear ADDED in the order they registered, REMOVED in reverse.
 * udma_ctx_destroy sends REMOVED for every region still alive; subscriptions
 * end with the context.
 *
 * udma_mem_event_register first replays ADDED for every existing region, in
 * order of creation. If the callback refuses one, registration fails with its
 * errno, the regions replayed before it get REMOVED (in order of creation) and
 * fn is not registered. -EINVAL: ctx or fn is NULL; -EEXIST: fn with arg is
 * registered already; -ENOSPC: UDMA_MEM_EVENT_MAX subscribers already (the
 * device layer's one included while a device is open). udma_mem_event_unregister: no event after it
 * returns (none is sent for existing regions); -ENOENT if fn with arg is not
 * registered. In a forked child both return -ECHILD for an inherited context,
 * and the child gets no events for it.
 *
 * Locks: a callback runs in the thread that creates, destroys or registers,
 * with the context's lock held (the lock that orders region creation and
 * destruction, device attach and subscriptions), and, when the heap grows a
 * size class by a slab, with that class's lock held. So events of a context
 * never run concurrently with each other. A callback may:
 *  - read the region: its accessors, its memory, udma_iova, udma_iova_contig,
 *    udma_region_next (the list cannot change meanwhile);
 *  - get from and put to the context's pools (udma_pool_get, _put, _get_bulk,
 *    _put_bulk, udma_pool_avail, udma_pool_stats): no lock they take is held
 *    by anyone waiting for the context's lock;
 *  - use the context's heap through the calling thread's cache only:
 *    udma_malloc / udma_zmalloc of a small size work while this thread's
 *    cache holds a block of that size class, udma_free of a small block while
 *    the cache has room for it; anything else (a large block, an empty or full
 *    cache, a heap not yet made) would take a lock that may be held, so
 *    udma_malloc returns NULL with errno EDEADLK, and udma_free frees nothing
 *    (the block stays allocated: free it after the callback returns);
 *  - use another context, unless a callback of that one uses this one from
 *    another thread (two threads would each hold one lock and wait for the
 *    other). In one thread such a cycle is caught: a callback of A making a
 *    region of B, whose callback makes one of A, gets -EDEADLK there.
 * A callback may fork (the fork waits for other threads making regions, not
 * for the one it runs in).
 * On the same context, udma_region_create, udma_mem_event_register and
 * _unregister, udma_dev_open and udma_pool_create return -EDEADLK. Calls that
 * return nothing do nothing: udma_region_destroy, udma_dev_close,
 * udma_pool_destroy, udma_ctx_destroy and a refused udma_free. Every refusal
 * leaves "CALL: called from a memory event callback of the same context..."
 * in udma_last_error(); those of calls that return nothing also go to the log
 * (UDMA_LOG_ERR, udma_set_log). None of them waits: a callback never
 * deadlocks on its own context.
 */
#define UDMA_MEM_EVENT_MAX 16 /* subscribers per context */

enum udma_mem_event {
	UDMA_MEM_ADDED,
	UDMA_MEM_REMOVED,
};

typedef int (*udma_mem_event_fn)(void *arg, enum udma_mem_event ev, struct udma_region *region);

int udma_mem_event_register(struct udma_ctx *ctx, udma_mem_event_fn fn, void *arg);
int udma_mem_event_unregister(struct udma_ctx *ctx, udma_mem_event_fn fn, void *arg);

#pragma GCC visibility pop

#ifdef __cplusplus
}
#endif
#endif
