/* SPDX-License-Identifier: MIT */
/* Regions: create (choose page size, map, pin, verify, translate), destroy, accessors. */
#include <errno.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/syscall.h>
#include <unistd.h>

#include "lib/mem/region_internal.h"

#define KNOWN_FLAGS (UDMA_REGION_CONTIG | UDMA_REGION_SHARED)

static int choose_page_size(struct udma_ctx *ctx, const struct udma_region_opts *o, int node, size_t *out)
{
	size_t ps = o->page_size ? o->page_size : ctx->opts.page_size;
	int rc;

	if (ps == 0) {
		*out = udma__choose_page_size(o->size, node, ctx->opts.flags & UDMA_CTX_STRICT_HUGE, &rc);
		return rc;
	}
	*out = ps;
	return udma__check_page_size(ps);
}

int udma__region_translate(struct udma_region *r, const uint64_t *entries)
{
	size_t i;
	int rc;

	for (i = 0; i < r->npages; i++) {
		if (!(entries[i] & UDMA_PM_PRESENT))
			return udma__err(EFAULT,
					 "page %zu of region '%s' is not present after populate and lock", i,
					 r->name);
		if (r->frames.frame && !(entries[i] & UDMA_PM_PFN_MASK))
			return udma__err(EPERM,
					 "pagemap gave no PFN for region '%s': physical addresses need "
					 "CAP_SYS_ADMIN (run as root, or use UDMA_IOVA_VA)",
					 r->name);
	}
	if (!r->frames.frame)
		return 0;
	rc = udma__frames_set(&r->frames, r->page_shift, entries, r->npages, r->name);
	if (!rc)
		udma__compute_runs(r);
	return rc;
}

/* The region's own pin (the contiguity search takes it itself, before it
 * lets go of its candidates). */
int udma__region_longterm_pin(struct udma_region *r)
{
	char why[512];
	int fd = udma__longterm_pin(r->addr, r->size);

	if (fd >= 0) {
		r->pin_fd = fd;
		return 0;
	}
	snprintf(why, sizeof(why), "%s", udma_last_error());
	return udma__err(-fd, "region '%s' cannot be used in PA mode: %s", r->name, why);
}

int udma__region_alloc_pa_tables(struct udma_region *r)
{
	r->run_end = malloc(r->npages * sizeof(*r->run_end));
	return r->run_end ? udma__frames_alloc(&r->frames, r->npages)
			  : udma__err(ENOMEM, "out of memory for %zu page runs", r->npages);
}

/* VA mode where pagemap describes another address space (ctx.c): residency
 * by mincore, one byte per 4 KiB. */
static int region_check_resident(struct udma_region *r)
{
	size_t n = r->size / UDMA_PAGE_4K, i;
	unsigned char *vec = malloc(n);

	if (!vec)
		return udma__err(ENOMEM, "out of memory for %zu residency bytes", n);
	if (mincore(r->addr, r->size, vec)) {
		int e = errno;

		free(vec);
		return udma__err(e, "mincore of region '%s' failed: %s", r->name, udma__strerror(e));
	}
	for (i = 0; i < n && (vec[i] & 1); i++)
		;
	free(vec);
	if (i < n)
		return udma__err(EFAULT, "page %zu of region '%s' is not resident after populate and lock",
				 i / (r->page_size / UDMA_PAGE_4K), r->name);
	return 0;
}

int udma__region_read_pagemap(struct udma_ctx *ctx, struct udma_region *r)
{
	uint64_t *entries;
	int rc;

	if (ctx->pagemap_foreign)
		return region_check_resident(r);
	entries = malloc(r->npages * sizeof(*entries));
	if (!entries)
		return udma__err(ENOMEM, "out of memory for %zu page entries", r->npages);
	rc = udma__pagemap_read(ctx->pagemap_fd, r->addr, r->page_size, r->npages, entries);
	if (!rc)
		rc = udma__region_translate(r, entries);
	free(entries);
	return rc;
}

/* The PFNs are read from the final mapping, whatever path made it. */
static int map_and_verify(struct udma_ctx *ctx, struct udma_region *r)
{
	bool search =
		(r->flags & UDMA_REGION_CONTIG) && ctx->mode == UDMA_IOVA_PA && r->npages > 1 && !r->dma_heap;
	int rc;

	if (search && (r->flags & UDMA_REGION_SHARED))
		return udma__err(EINVAL,
				 "region '%s': UDMA_REGION_CONTIG with UDMA_REGION_SHARED needs a single "
				 "page in PA mode (the memfd's page order would not be the region's): "
				 "use one hugepage, or VA mode",
				 r->name);
	/* The hugetlb reservation at mmap is system-wide: a node's shortage would
	 * only show at fault time, as a less clear error. */
	if (r->hugetlb && r->numa_node != UDMA_NUMA_ANY) {
		long avail = udma_hugepage_available(r->page_size, r->numa_node);

		if (avail < 0)
			return (int)avail;
		if (avail < (long)r->npages)
			return udma__hugepage_shortage(r->page_size, r->numa_node, r->size);
	}
	if (ctx->mode == UDMA_IOVA_PA && (rc = udma__region_alloc_pa_tables(r)))
		return rc;
	rc = search ? udma__map_contig(r) : udma__region_map(r);
	/* Before the PFNs are read: the pin may first move pages out of a
	 * movable zone, and afterwards no page moves while the region lives.
	 * A dma-buf's pages are the kernel's, held by the buffer: they never
	 * move (and a VM_PFNMAP mapping takes no pin). */
	if (!rc && ctx->mode == UDMA_IOVA_PA && r->pin_fd < 0 && !r->dma_buf)
		rc = udma__region_longterm_pin(r);
	if (!rc)
		rc = r->dma_buf ? udma__region_translate_dma_heap(ctx, r) : udma__region_read_pagemap(ctx, r);
	if (!rc && (r->flags & UDMA_REGION_CONTIG) && r->frames.frame && r->run_end[0] != r->npages - 1 &&
	    r->dma_buf)
		rc = udma__err(ENOMEM,
			       "region '%s': the DMA-BUF heap '%s' gave %zu bytes that are not physically "
			       "contiguous (the first run ends after page %u): UDMA_REGION_CONTIG needs a "
			       "CMA heap (dma_heap \"cma\")",
			       r->name, r->dma_heap, r->size, r->run_end[0] + 1);
	else if (!rc && (r->flags & UDMA_REGION_CONTIG) && r->frames.frame && r->run_end[0] != r->npages - 1)
		rc = udma__err(EAGAIN,
			       "region '%s' lost its physical contiguity while being mapped (the kernel "
			       "moved a page): try again",
			       r->name);
	if (!rc)
		rc = udma__numa_verify(r->addr, r->page_size, r->npages, r->numa_node);
	return rc;
}

/* Undo a mapping attempt: the region can be tried again with another page size. */
static void region_unmap(struct udma_region *r)
{
	udma__longterm_unpin(r->pin_fd); /* before munmap: the pin holds the pages */
	r->pin_fd = -1;
	/* Registered memory stays mapped: it is the application's. The raw
	 * call: sanitizers make munlock a no-op, as they do mlock. */
	if (r->registered && r->addr && r->munlock_at_end)
		syscall(SYS_munlock, r->addr, r->size);
	else if (r->addr && !r->registered)
		munmap(r->addr, r->footprint);
	if (r->fd >= 0 && r->dma_buf)
		udma__dmabuf_close(r->fd);
	else if (r->fd >= 0)
		close(r->fd);
	r->dma_buf = false;
	udma__frames_free(&r->frames);
	free(r->run_end);
	free(r->file_page);
	r->addr = NULL;
	r->fd = -1;
	r->run_end = NULL;
	r->file_page = NULL;
}

void udma__region_free(struct udma_region *r)
{
	region_unmap(r);
	free(r);
}

/* A forked child's copy: the mapping is not there (MADV_DONTFORK), the fd is. */
void udma__region_release_inherited(struct udma_region *r)
{
	/* The fork handler closed the pin's fd in the child already (the
	 * context is inherited only once it ran: lib/mem/fork.c): the number may
	 * name one of the child's own files by now, even one of its own pins. */
	r->pin_fd = -1;
	r->addr = NULL;
	if (r->dma_buf)
		r->fd = -1; /* closed there too, as a pin is */
	udma__region_free(r);
}

/* One attempt at one page size. Addresses from UDMA_USER_VA_END up are not
 * user space, and run indices are 32-bit. */
static int region_build(struct udma_ctx *ctx, struct udma_region *r, size_t size, size_t page_size)
{
	int rc;

	if ((uint64_t)size > UDMA_USER_VA_END - page_size || (size + page_size - 1) / page_size > UINT32_MAX)
		return udma__err(EINVAL,
				 "udma_region_create: size %zu is too large (at most " UDMA_USER_VA_END_TXT
				 ", and 2^32 pages)",
				 size);
	r->page_size = page_size;
	r->page_shift = udma__log2(page_size);
	r->hugetlb = page_size > UDMA_PAGE_4K;
	r->size = (size + page_size - 1) & ~(page_size - 1);
	r->footprint = (r->size + UDMA_PAGE_2M - 1) & ~(UDMA_PAGE_2M - 1);
	r->npages = r->size >> r->page_shift;
	/* A dma-buf is the kernel's memory: no RLIMIT_MEMLOCK charge. */
	if ((!r->hugetlb && !r->dma_heap && (rc = udma__memlock_check(r->size))) ||
	    (rc = map_and_verify(ctx, r)))
		region_unmap(r);
	return rc;
}

/* With the page size chosen automatically, a CONTIG region that found no
 * run may take 1 GiB pages, each one a run, when enough are free; not one
 * that a single 2 MiB page could hold (it would burn a 1 GiB page: heap slabs
 * ask for such runs of 4 KiB pages). */
static bool contig_try_1g(const struct udma_region *r, size_t ps, size_t size)
{
	long avail;

	if (!r->contig_no_run || ps >= UDMA_PAGE_1G || size <= UDMA_PAGE_2M)
		return false;
	avail = udma_hugepage_available(UDMA_PAGE_1G, r->numa_node); /* < 0: none, or unreadable */
	return avail > 0 && (size_t)avail >= (size + UDMA_PAGE_1G - 1) / UDMA_PAGE_1G;
}

/* Another attempt at page size ps after the first failed (its message in
 * first): the first error stays the first cause in the message. */
static int region_build_again(struct udma_ctx *ctx, struct udma_region *r, size_t size, size_t ps,
			      const char *first)
{
	char then[1024], what[16];
	int rc = region_build(ctx, r, size, ps);

	if (rc) {
		snprintf(then, sizeof(then), "%s", udma_last_error());
		rc = udma__err(-rc, "%s; and %s pages failed: %s", first,
			       udma__fmt_size(ps, what, sizeof(what)), then);
	}
	return rc;
}

/* One page size, or, when it was chosen automatically: for a CONTIG region
 * that found no run, 1 GiB pages if free (contig_try_1g); and when
 * hugepages counted free a moment ago are refused after all (a hugetlb
 * cgroup limit, another process, the node, no run), 4 KiB pages. */
static int region_build_any(struct udma_ctx *ctx, struct udma_region *r, const struct udma_region_opts *o,
			    size_t ps)
{
	int rc = region_build(ctx, r, o->size, ps);
	char first[1024];

	if (!rc || o->page_size || ctx->opts.page_size)
		return rc;
	snprintf(first, sizeof(first), "%s", udma_last_error());
	if (contig_try_1g(r, ps, o->size)) {
		rc = region_build_again(ctx, r, o->size, UDMA_PAGE_1G, first);
		if (!rc)
			return 0;
		snprintf(first, sizeof(first), "%s", udma_last_error());
	}
	if ((rc == -ENOMEM || rc == -EFAULT) && ps > UDMA_PAGE_4K &&
	    !(ctx->opts.flags & UDMA_CTX_STRICT_HUGE))
		rc = region_build_again(ctx, r, o->size, UDMA_PAGE_4K, first);
	return rc;
}

const struct udma_region *udma__iova_user_locked(const struct udma_ctx *ctx, uint64_t lo, uint64_t hi)
{
	const struct udma_region *q;

	for (q = ctx->regions; q; q = q->next) {
		uint64_t qlo = udma__page_iova(&q->frames, q->page_shift, q->addr, 0);

		if (lo < qlo + q->size && qlo < hi)
			return q;
	}
	return NULL;
}

int udma__region_publish_locked(struct udma_ctx *ctx, struct udma_region *r)
{
	uint64_t lo = udma__page_iova(&r->frames, r->page_shift, r->addr, 0);
	const struct udma_region *q;
	int rc;

	/* VA mode: a device must never see two regions at one IOVA (an attached
	 * region's are its exporter's, not its address). */
	if (ctx->mode == UDMA_IOVA_VA && (q = udma__iova_user_locked(ctx, lo, lo + r->size)))
		return udma__err(EADDRINUSE,
				 "region '%s': its IOVAs (0x%" PRIx64 "..) are those of region '%s' of this "
				 "context",
				 r->name, lo, q->name);
	rc = udma__map_insert(&ctx->map, r);

	/* Every subscriber sees the region before anyone can use it. */
	if (!rc && (rc = udma__mem_announce_added(ctx, r)))
		udma__map_remove(&ctx->map, r);
	if (!rc) {
		struct udma_region **tail = &ctx->regions;

		while (*tail)
			tail = &(*tail)->next;
		*tail = r;
	}
	return rc;
}

int udma_region_create(struct udma_ctx *ctx, const struct udma_region_opts *o, struct udma_region **out)
{
	struct udma_region *r;
	size_t ps;
	int node, rc;

	if (!out)
		return udma__err(EINVAL, "udma_region_create: out is NULL");
	*out = NULL;
	if (!ctx || !o)
		return udma__err(EINVAL, "udma_region_create: %s is NULL", ctx ? "opts" : "ctx");
	if (udma__inherited(ctx))
		return udma__err_inherited(ctx, "udma_region_create");
	if (udma__in_mem_event(ctx))
		return udma__err_in_mem_event("udma_region_create");
	if (!o->size)
		return udma__err(EINVAL, "udma_region_create: size is 0");
	if (o->flags & ~KNOWN_FLAGS)
		return udma__err(EINVAL, "udma_region_create: unknown flags 0x%x", o->flags & ~KNOWN_FLAGS);
	if (o->dma_heap && (rc = udma__region_dma_heap_check(o)))
		return rc;
	/* A heap's memory comes from no node of ours. */
	node = o->dma_heap		       ? UDMA_NUMA_ANY
	       : o->numa_node == UDMA_NUMA_ANY ? ctx->opts.numa_node
					       : o->numa_node;
	if ((rc = udma__numa_check_node(node)))
		return rc;
	r = calloc(1, sizeof(*r));
	if (!r)
		return udma__err(ENOMEM, "out of memory for a region");
	udma__fork_hold();
	r->ctx = ctx;
	r->fd = -1;
	r->pin_fd = -1;
	r->numa_node = node;
	r->flags = o->flags;
	r->dma_heap = o->dma_heap;
	snprintf(r->name, sizeof(r->name), "%s", o->name && *o->name ? o->name : "region");
	if (o->dma_heap)
		ps = UDMA_PAGE_4K; /* as the heap maps it, whatever the context's choice */
	else if ((rc = choose_page_size(ctx, o, node, &ps)))
		goto fail;
	for (;;) {
		bool again;

		if (r->flags & UDMA_REGION_CONTIG)
			udma__contig_start(r);

		r->keep_fd = atomic_load_explicit(&ctx->file_holds, memory_order_acquire) > 0;
		if ((rc = region_build_any(ctx, r, o, ps)))
			goto fail;
		if (!(r->flags & UDMA_REGION_SHARED) && !r->keep_fd && !r->dma_buf && r->fd >= 0) {
			close(r->fd); /* the mapping keeps the file alive */
			r->fd = -1;
		}
		pthread_mutex_lock(&ctx->lock);
		rc = udma__region_publish_locked(ctx, r);
		/* A hold was taken while this region was being built without a
		 * file, and its taker refused it: build it again, with one. */
		again = rc == -EBUSY && !r->keep_fd &&
			atomic_load_explicit(&ctx->file_holds, memory_order_acquire) > 0;
		pthread_mutex_unlock(&ctx->lock);
		if (!again)
			break;
		region_unmap(r);
	}
	if (rc)
		goto fail;
	r->dma_heap = NULL; /* the caller's string */
	udma__fork_release();
	*out = r;
	return 0;
fail:
	udma__region_free(r);
	udma__fork_release();
	return rc;
}

void udma_region_destroy(struct udma_region *r)
{
	struct udma_ctx *ctx;
	struct udma_region **p;

	if (!r)
		return;
	ctx = r->ctx;
	/* In a forked child the region is the parent's: udma_ctx_destroy
	 * releases the child's copy (quietly: pools and the heap call this
	 * while it does). */
	if (udma__inherited(ctx))
		return;
	if (udma__in_mem_event(ctx)) {
		udma__refuse_in_mem_event("udma_region_destroy");
		return;
	}
	udma__fork_hold();
	pthread_mutex_lock(&ctx->lock);
	udma__mem_announce_removed(ctx, r); /* first: subscribers translate through the map */
	udma__map_remove(&ctx->map, r);
	for (p = &ctx->regions; *p; p = &(*p)->next)
		if (*p == r) {
			*p = r->next;
			break;
		}
	pthread_mutex_unlock(&ctx->lock);
	udma__region_free(r);
	udma__fork_release();
}

void udma__region_files_hold(struct udma_ctx *ctx)
{
	atomic_fetch_add_explicit(&ctx->file_holds, 1, memory_order_release);
}

void udma__region_files_release(struct udma_ctx *ctx)
{
	atomic_fetch_sub_explicit(&ctx->file_holds, 1, memory_order_release);
}

void *udma_region_addr(const struct udma_region *r)
{
	return r->addr;
}

size_t udma_region_size(const struct udma_region *r)
{
	return r->size;
}

size_t udma_region_page_size(const struct udma_region *r)
{
	return r->page_size;
}

int udma_region_numa_node(const struct udma_region *r)
{
	return r->numa_node;
}

int udma_region_fd(const struct udma_region *r)
{
	return (r->flags & UDMA_REGION_SHARED) ? r->fd : -1;
}

const char *udma_region_name(const struct udma_region *r)
{
	return r->name;
}

struct udma_region *udma_region_next(const struct udma_ctx *ctx, const struct udma_region *prev)
{
	return prev ? prev->next : ctx->regions;
}
