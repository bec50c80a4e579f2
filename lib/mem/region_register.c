/* SPDX-License-Identifier: MIT */
/* Outside memory: the application's own mapping as a region (pinned, translated, announced), never unmapped here. */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>

#include "lib/mem/region_internal.h"

#define WHAT "udma_region_register"

/* VA mode: registered memory's IOVAs are its addresses, which a region
 * attached at another address than its exporter's may claim already
 * (region_attach.c): a device would see both at the same IOVAs. Publishing
 * refuses that too; asked first, nothing is locked or pinned for nothing. */
static int iovas_taken_locked(const struct udma_ctx *ctx, const struct udma_region *r)
{
	uint64_t lo = (uintptr_t)r->addr;
	const struct udma_region *q;

	if (ctx->mode != UDMA_IOVA_VA || !(q = udma__iova_user_locked(ctx, lo, lo + r->size)))
		return 0;
	return udma__err(EADDRINUSE,
			 WHAT ": the IOVAs of [%p, +%zu) (its addresses, in VA mode) are those of region "
			      "'%s', attached here at %p: register memory elsewhere, or use PA mode",
			 (void *)r->addr, r->size, q->name, (void *)q->addr);
}

/* With ctx->lock held from the chunk check to the insert, so no other region
 * can take a chunk meanwhile, and the pin of memory that is refused (its
 * chunks held already) is never taken: a failure must not unlock memory
 * another registration of it locked. */
static int register_locked(struct udma_ctx *ctx, struct udma_region *r, bool was_locked)
{
	int rc;

	if (udma__map_holder(&ctx->map, r->addr, r->size))
		return udma__map_insert(&ctx->map, r); /* its -EEXIST names both */
	if ((rc = iovas_taken_locked(ctx, r)))
		return rc;
	if (!r->hugetlb && !was_locked && (rc = udma__memlock_check(r->size)))
		return rc;
	if (ctx->mode == UDMA_IOVA_PA && (rc = udma__region_alloc_pa_tables(r)))
		return rc;
	/* From here a failure unlocks what this call locked, nothing more. */
	r->munlock_at_end = !r->hugetlb && !was_locked;
	rc = udma__region_lock(r, r->addr, r->size, true);
	/* Before the PFNs are read: the pin may first move pages out of a movable zone. */
	if (!rc && ctx->mode == UDMA_IOVA_PA)
		rc = udma__region_longterm_pin(r);
	if (!rc)
		rc = udma__region_read_pagemap(ctx, r);
	/* Every subscriber (devices included) sees the region before anyone can use it. */
	return rc ? rc : udma__region_publish_locked(ctx, r);
}

int udma_region_register(struct udma_ctx *ctx, void *addr, size_t len, struct udma_region **out)
{
	uintptr_t at = (uintptr_t)addr;
	struct udma_vma_range vr;
	struct udma_region *r;
	char ps[16];
	int rc;

	if (!out)
		return udma__err(EINVAL, WHAT ": out is NULL");
	*out = NULL;
	if (!ctx || !addr)
		return udma__err(EINVAL, WHAT ": %s is NULL", ctx ? "addr" : "ctx");
	if (udma__inherited(ctx))
		return udma__err_inherited(ctx, WHAT);
	if (udma__in_mem_event(ctx))
		return udma__err_in_mem_event(WHAT);
	if (!len)
		return udma__err(EINVAL, WHAT ": len is 0");
	if ((at | len) & (UDMA_PAGE_4K - 1))
		return udma__err(EINVAL,
				 WHAT ": addr %p and len %zu must be multiples of 4 KiB (the page size)",
				 addr, len);
	if ((uint64_t)len > ((uint64_t)1 << UDMA_VA_BITS) - at)
		return udma__err(EINVAL, WHAT ": [%p, +%zu) reaches past the %d-bit user address space", addr,
				 len, UDMA_VA_BITS);
	if ((rc = udma__vma_range(addr, len, WHAT, &vr)))
		return rc;
	if ((at | len) & (vr.page_size - 1))
		return udma__err(EINVAL,
				 WHAT ": [%p, +%zu) is memory of %s pages: addr and len must be multiples "
				      "of that",
				 addr, len, udma__fmt_size(vr.page_size, ps, sizeof(ps)));
	if (len / vr.page_size > UINT32_MAX)
		return udma__err(EINVAL, WHAT ": %zu bytes is more than 2^32 pages", len);
	r = calloc(1, sizeof(*r));
	if (!r)
		return udma__err(ENOMEM, "out of memory for a region");
	r->ctx = ctx;
	r->addr = addr;
	r->size = len;
	r->page_size = vr.page_size;
	r->page_shift = udma__log2(vr.page_size);
	r->npages = len >> r->page_shift;
	r->hugetlb = vr.hugetlb;
	r->registered = true;
	r->numa_node = UDMA_NUMA_ANY;
	r->fd = -1;
	r->pin_fd = -1;
	snprintf(r->name, sizeof(r->name), "registered@%p", addr);
	udma__fork_hold();
	pthread_mutex_lock(&ctx->lock);
	rc = register_locked(ctx, r, vr.locked);
	pthread_mutex_unlock(&ctx->lock);
	if (rc)
		udma__region_free(r);
	udma__fork_release();
	if (!rc)
		*out = r;
	return rc;
}
