/* SPDX-License-Identifier: MIT */
/* Regions from a DMA-BUF heap (memory the kernel allocates: CMA's contiguous
 * memory without a module) and regions as dma-bufs (udma_region_dmabuf). */
#include <errno.h>
#include <fcntl.h>
#include <string.h>
#include <sys/mman.h>
#include <unistd.h>

#include "lib/mem/region_internal.h"

int udma__region_dma_heap_check(const struct udma_region_opts *o)
{
	if (!*o->dma_heap || *o->dma_heap == '.' || strchr(o->dma_heap, '/'))
		return udma__err(EINVAL,
				 "udma_region_create: dma_heap '%s' is no heap name (a name in "
				 "/dev/dma_heap such as \"system\", or \"cma\")",
				 o->dma_heap);
	if (o->page_size && o->page_size != UDMA_PAGE_4K)
		return udma__err(EINVAL,
				 "udma_region_create: a DMA-BUF heap region has 4 KiB pages (page_size "
				 "%zu asked): leave page_size 0",
				 o->page_size);
	if (o->numa_node != UDMA_NUMA_ANY)
		return udma__err(EINVAL,
				 "udma_region_create: a DMA-BUF heap takes no NUMA node (node %d asked): "
				 "use UDMA_NUMA_ANY",
				 o->numa_node);
	if (o->flags & UDMA_REGION_SHARED)
		return udma__err(EINVAL,
				 "udma_region_create: a DMA-BUF heap region cannot be SHARED (its file is "
				 "a dma-buf): share it with udma_region_dmabuf");
	return 0;
}

int udma__region_map_dma_heap(struct udma_region *r)
{
	char heap[64];
	void *va, *addr;
	int rc, e;

	if ((rc = udma__region_reserve(r, UDMA_PAGE_2M, &va)))
		return rc;
	r->fd = udma__dma_heap_alloc(r->dma_heap, r->size, heap, sizeof(heap));
	if (r->fd < 0) {
		rc = r->fd;
		munmap(va, r->footprint);
		return rc;
	}
	r->dma_buf = true;
	/* MAP_POPULATE faults in the pages of a heap that maps struct pages at
	 * fault time; the touch in udma__region_translate_dma_heap the rest. */
	addr = mmap(va, r->size, PROT_READ | PROT_WRITE, MAP_SHARED | MAP_FIXED | MAP_POPULATE, r->fd, 0);
	if (addr == MAP_FAILED) {
		e = errno;
		munmap(va, r->footprint);
		return udma__err(e, "cannot map the dma-buf of region '%s' (heap '%s', %zu bytes): %s",
				 r->name, heap, r->size, udma__vm_strerror(e));
	}
	r->addr = addr;
	/* A forked child's copy-on-write must never reach the device's pages. */
	if (madvise(addr, r->size, MADV_DONTFORK) < 0)
		return udma__err(errno, "madvise(MADV_DONTFORK) on region '%s' failed: %s", r->name,
				 udma__vm_strerror(errno));
	return 0;
}

int udma__region_translate_dma_heap(struct udma_ctx *ctx, struct udma_region *r)
{
	uint64_t first;
	int rc;

	/* Touch every page (a SIGBUS becomes an error): MAP_POPULATE skips a
	 * VM_PFNMAP mapping, whose pages a heap may insert at fault time. */
	if ((rc = udma__populate_touch(r->addr, r->size, r->page_size)))
		return rc;
	if (ctx->mode == UDMA_IOVA_VA)
		return 0;
	if ((rc = udma__pagemap_read(ctx->pagemap_fd, r->addr, r->page_size, 1, &first)))
		return rc;
	/* The heaps map their buffers VM_PFNMAP (the system heap always, the
	 * CMA heap since Linux 6.8 and in the stable kernels before it), and
	 * pagemap shows no page of such a mapping: no user-space interface gives
	 * these physical addresses. */
	if (!(first & UDMA_PM_PRESENT))
		return udma__err(ENOTSUP,
				 "region '%s': this kernel maps the DMA-BUF heap's buffers as raw page "
				 "frames (VM_PFNMAP), whose physical addresses /proc/self/pagemap does not "
				 "show, so PA mode (UIO) cannot use them: for contiguous memory in PA mode "
				 "use a UDMA_REGION_CONTIG region on hugepages (1 GiB pages from "
				 "hugetlb_cma=), or hand the buffer to a kernel driver (udma_region_dmabuf)",
				 r->name);
	return udma__region_read_pagemap(ctx, r);
}

int udma_region_dmabuf(struct udma_region *r)
{
	int fd;

	if (!r)
		return udma__err(EINVAL, "udma_region_dmabuf: region is NULL");
	if (udma__inherited(r->ctx))
		return udma__err_inherited(r->ctx, "udma_region_dmabuf");
	if (r->dma_buf) {
		fd = fcntl(r->fd, F_DUPFD_CLOEXEC, 0);
		return fd >= 0 ? fd
			       : udma__err(errno,
					   "udma_region_dmabuf: cannot duplicate the dma-buf of '%s': %s",
					   r->name, udma__strerror(errno));
	}
	if (r->registered)
		return udma__err(ENOTSUP,
				 "udma_region_dmabuf: region '%s' is registered memory, of which udma has no "
				 "file: make the buffer with udma_region_create and UDMA_REGION_SHARED",
				 r->name);
	if (!(r->flags & UDMA_REGION_SHARED) || r->fd < 0)
		return udma__err(ENOTSUP,
				 "udma_region_dmabuf: region '%s' has no file to make a dma-buf of: create "
				 "it with UDMA_REGION_SHARED (or from a DMA-BUF heap, opts.dma_heap)",
				 r->name);
	return udma__udmabuf_create(r->fd, r->size);
}
