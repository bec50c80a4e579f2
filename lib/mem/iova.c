/* SPDX-License-Identifier: MIT */
/* VA -> IOVA in O(1): a two-level index of 2 MiB chunks to regions, then the region's per-page IOVAs. */
#include <errno.h>
#include <stdlib.h>
#include <sys/mman.h>

#include "lib/mem/mem.h"

int udma__map_init(struct udma_iova_map *map)
{
	size_t len = UDMA_L1_ENTRIES * sizeof(map->l1[0]);
	void *l1 =
		mmap(NULL, len, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS | MAP_NORESERVE, -1, 0);

	if (l1 == MAP_FAILED)
		return udma__err(errno, "cannot map the %zu KiB IOVA index: %s", len >> 10,
				 udma__vm_strerror(errno));
	/* Sparse: only the pages covering used GiBs are ever touched. */
	madvise(l1, len, MADV_NOHUGEPAGE);
	map->l1 = l1;
	return 0;
}

void udma__map_fini(struct udma_iova_map *map)
{
	size_t i;

	if (!map->l1)
		return;
	for (i = 0; i < UDMA_L1_ENTRIES; i++)
		free(atomic_load_explicit(&map->l1[i], memory_order_relaxed));
	munmap((void *)map->l1, UDMA_L1_ENTRIES * sizeof(map->l1[0]));
	map->l1 = NULL;
}

#define CHUNK ((uintptr_t)1 << UDMA_CHUNK_SHIFT)

/* Every chunk [start, end) touches, from the first. */
static void set_chunks(struct udma_iova_map *map, uintptr_t start, struct udma_region *val, uintptr_t end)
{
	uintptr_t v;

	for (v = start & ~(CHUNK - 1); v < end; v += CHUNK) {
		struct udma_iova_leaf *leaf =
			atomic_load_explicit(&map->l1[v >> UDMA_L1_SHIFT], memory_order_relaxed);

		atomic_store_explicit(&leaf->chunk[(v >> UDMA_CHUNK_SHIFT) & (UDMA_L2_ENTRIES - 1)], val,
				      memory_order_release);
	}
}

struct udma_region *udma__map_holder(const struct udma_iova_map *map, const void *addr, size_t len)
{
	uintptr_t start = (uintptr_t)addr, end = start + len, v;

	for (v = start & ~(CHUNK - 1); v < end; v += CHUNK) {
		const struct udma_iova_leaf *leaf =
			atomic_load_explicit(&map->l1[v >> UDMA_L1_SHIFT], memory_order_relaxed);
		struct udma_region *r =
			leaf ? atomic_load_explicit(
				       &leaf->chunk[(v >> UDMA_CHUNK_SHIFT) & (UDMA_L2_ENTRIES - 1)],
				       memory_order_relaxed)
			     : NULL;

		if (r)
			return r;
	}
	return NULL;
}

/* Leaves are kept until the context goes. */
int udma__map_insert(struct udma_iova_map *map, struct udma_region *r)
{
	uintptr_t start = (uintptr_t)r->addr, end = start + r->size, v;
	const struct udma_region *other;

	if ((uint64_t)(end - 1) >> UDMA_VA_BITS || end <= start)
		return udma__err(EINVAL, "region at %p (+%zu) is outside the %d-bit address space",
				 (void *)r->addr, r->size, UDMA_VA_BITS);
	/* One region per chunk: the lookup reads one pointer per chunk. */
	if ((other = udma__map_holder(map, r->addr, r->size)))
		return udma__err(EEXIST,
				 "region '%s' [%p, +%zu) would share a 2 MiB chunk with region '%s' [%p, "
				 "+%zu) of the same context (the index maps a chunk to one region): "
				 "register the whole range once, or pieces that start and end on 2 MiB "
				 "boundaries",
				 r->name, (void *)r->addr, r->size, other->name, (void *)other->addr,
				 other->size);
	for (v = start & ~(((uintptr_t)1 << UDMA_L1_SHIFT) - 1); v < end;
	     v += (uintptr_t)1 << UDMA_L1_SHIFT) {
		struct udma_iova_leaf *_Atomic *slot = &map->l1[v >> UDMA_L1_SHIFT];
		struct udma_iova_leaf *leaf;

		if (atomic_load_explicit(slot, memory_order_relaxed))
			continue;
		leaf = calloc(1, sizeof(*leaf));
		if (!leaf)
			return udma__err(ENOMEM, "out of memory for the IOVA index");
		atomic_store_explicit(slot, leaf, memory_order_release);
	}
	set_chunks(map, start, r, end);
	return 0;
}

void udma__map_remove(struct udma_iova_map *map, const struct udma_region *r)
{
	set_chunks(map, (uintptr_t)r->addr, NULL, (uintptr_t)r->addr + r->size);
}

void udma__compute_runs(struct udma_region *r)
{
	const uint32_t *frame = r->frames.frame;
	size_t i = r->npages;

	if (!frame)
		return;
	r->run_end[i - 1] = (uint32_t)(i - 1);
	while (--i > 0)
		/* in 64 bits: frames 0xffffffff and 0 are not adjacent */
		r->run_end[i - 1] =
			(uint64_t)frame[i - 1] + 1 == frame[i] ? r->run_end[i] : (uint32_t)(i - 1);
}

uint64_t udma_iova(const struct udma_ctx *ctx, const void *va)
{
	const struct udma_region *r = udma__region_of(ctx, va);

	if (udma__unlikely(!r || udma__inherited(ctx))) {
		if (ctx && udma__inherited(ctx))
			udma__err_inherited(ctx, "udma_iova");
		return UDMA_BAD_IOVA;
	}
	return udma__page_iova(&r->frames, r->page_shift, va, (uintptr_t)va - (uintptr_t)r->addr);
}

size_t udma_iova_contig(const struct udma_ctx *ctx, const void *va, size_t len)
{
	uintptr_t v = (uintptr_t)va, off;
	const struct udma_region *r = udma__region_of(ctx, va);
	size_t run;

	if (!r || udma__inherited(ctx)) {
		if (ctx && udma__inherited(ctx))
			udma__err_inherited(ctx, "udma_iova_contig");
		return 0;
	}
	off = v - (uintptr_t)r->addr;
	if (!r->frames.frame)
		run = r->size - off;
	else
		run = (((size_t)r->run_end[off >> r->page_shift] + 1) << r->page_shift) - off;
	return len < run ? len : run;
}
