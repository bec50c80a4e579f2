/* SPDX-License-Identifier: MIT */
/*
 * Large allocations: above the threshold, a region of its own (malloc's mmap
 * path), given back to the system by udma_free. The region is asked for as
 * UDMA_REGION_CONTIG: one physically contiguous run, so that the allocation
 * is one DMA buffer whatever the mode. With the automatic page size the
 * region layer tries hugepages (few runs to join) and then 4 KiB pages; if no
 * contiguous run can be found udma_malloc fails with ENOMEM and says so,
 * rather than hand out memory a device cannot take in one piece.
 */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>

#include "lib/alloc/heap_internal.h"

void *udma__heap_large_alloc(struct udma_heap *h, size_t size, uint64_t *iova)
{
	struct udma_region_opts o = {
		.size = size, .numa_node = UDMA_NUMA_ANY, .flags = UDMA_REGION_CONTIG, .name = "heap-large"};
	struct heap_large *l;
	struct udma_region *r;
	int rc;

	if (udma__in_mem_event(h->ctx)) /* no region can be made there */
		return udma__heap_fail(udma__err_in_mem_event("udma_malloc"));
	l = calloc(1, sizeof(*l));
	if (!l)
		return udma__heap_fail(
			udma__err(ENOMEM, "udma_malloc: out of memory for a large allocation's record"));
	rc = udma_region_create(h->ctx, &o, &r);
	if (rc) {
		char why[1024], sz[32];

		snprintf(why, sizeof(why), "%s", udma_last_error());
		rc = udma__err(-rc, "udma_malloc(%s): a physically contiguous region of its own failed: %s",
			       udma__fmt_size(size, sz, sizeof(sz)), why);
		free(l);
		return udma__heap_fail(rc);
	}
	l->own.kind = HEAP_KIND_LARGE;
	l->own.heap = h;
	l->region = r;
	l->size = size;
	atomic_init(&l->live, 1);
	pthread_mutex_lock(&h->lock);
	udma__list_push(&h->large, &l->link);
	pthread_mutex_unlock(&h->lock);
	atomic_store_explicit(&r->owner, (void *)((uintptr_t)l | HEAP_OWNER_TAG), memory_order_release);
	if (iova)
		*iova = udma__page_iova(&r->frames, r->page_shift, r->addr, 0);
	return r->addr;
}

void udma__heap_large_free(struct heap_large *l, void *ptr)
{
	struct udma_heap *h = l->own.heap;
	uint8_t was = 1;

	if (ptr != (void *)l->region->addr) {
		udma__heap_bad_free(ptr, l->region, HEAP_BAD_INTERIOR);
		return;
	}
	/* Two frees racing: one wins, the other is reported. */
	if (!atomic_compare_exchange_strong(&l->live, &was, 0)) {
		udma__heap_bad_free(ptr, l->region, HEAP_BAD_DOUBLE);
		return;
	}
	pthread_mutex_lock(&h->lock);
	udma__list_del(&l->link);
	pthread_mutex_unlock(&h->lock);
	udma_region_destroy(l->region);
	free(l);
}

void udma__heap_large_fini(struct udma_heap *h)
{
	while (h->large.first) {
		struct heap_large *l = udma__list_entry(h->large.first, struct heap_large, link);

		udma__list_del(&l->link);
		udma_region_destroy(l->region);
		free(l);
	}
}

void udma__heap_large_stats(struct udma_heap *h, struct udma__heap_stats *st)
{
	const struct udma__link *k;

	pthread_mutex_lock(&h->lock);
	for (k = h->large.first; k; k = k->next) {
		const struct heap_large *l = udma__list_entry(k, struct heap_large, link);

		if (!st->example) {
			st->example = l->region->addr;
			st->example_size = l->size;
		}
		st->large++;
		st->large_bytes += l->size;
	}
	pthread_mutex_unlock(&h->lock);
}
