/* SPDX-License-Identifier: MIT */
/*
 * lib/mem: contexts and regions: pinned memory, its bus addresses (IOVA) and
 * the O(1) lookup from an address to its region; the fork contract. Uses
 * lib/os and lib/base; layers above learn of regions through memory events
 * and keep their per-context state through the context's teardown list.
 */
#ifndef UDMA_MEM_H
#define UDMA_MEM_H

#include <pthread.h>
#include <stdatomic.h>
#include <stdbool.h>
#include <stdint.h>
#include <sys/types.h>
#include <udma/udma.h>

#include "lib/os/os.h"

/* Every region starts on a 2 MiB boundary, so a 2 MiB chunk of VA belongs to
 * at most one region: that is what makes the lookup a two-level index. */
#define UDMA_CHUNK_SHIFT 21
#define UDMA_L1_SHIFT	 30
#define UDMA_VA_BITS	 48
#define UDMA_L1_ENTRIES	 ((size_t)1 << (UDMA_VA_BITS - UDMA_L1_SHIFT))
#define UDMA_L2_ENTRIES	 ((size_t)1 << (UDMA_L1_SHIFT - UDMA_CHUNK_SHIFT))

struct udma_region;

struct udma_iova_leaf {
	struct udma_region *_Atomic chunk[UDMA_L2_ENTRIES];
};

struct udma_iova_map {
	struct udma_iova_leaf *_Atomic *l1; /* UDMA_L1_ENTRIES, reserved lazily by the kernel */
};

struct udma_region {
	struct udma_ctx *ctx;
	struct udma_region *next;
	uint8_t *addr;
	size_t size;
	size_t footprint; /* VA held: size rounded up to 2 MiB, the tail PROT_NONE, so
			   * no foreign mapping shares a region's 2 MiB chunks */
	size_t page_size;
	unsigned page_shift;
	size_t npages;
	int numa_node;
	unsigned flags;
	int fd;	      /* the backing file: SHARED, or while a process device is attached */
	bool keep_fd; /* created while a device in another process was attached */
	bool hugetlb;
	/* PA mode only: IOVA of each page, and for each page the index of the
	 * last page of the physically contiguous run it belongs to. */
	uint64_t *iova;
	uint32_t *run_end;
	/* CONTIG in PA mode with keep_fd: the file page behind each page (the
	 * pages are mapped in physical order, not file order). */
	uint32_t *file_page;
	/* What was carved from this region: NULL, a pool (an aligned pointer), or
	 * a heap record (its pointer with bit 0 set), so a lookup tells them apart.
	 * Atomic: udma_free reads it for any address of the context. */
	void *_Atomic owner;
	char name[48];
};

/* Layers above regions keep per-context state here and register a teardown
 * that udma_ctx_destroy runs (last registered first) before regions go. */
struct udma_pool_layer;
struct udma_heap;
struct udma_dev;
#define UDMA_CTX_MAX_TEARDOWNS 4
/* A layer's teardown. inherited: a forked child releases its copies only: no
 * lock taken, no device touched, no report, no memory the child lacks read. */
typedef void udma__teardown_fn(struct udma_ctx *ctx, bool inherited);

struct udma_ctx {
	struct udma_ctx_opts opts;
	enum udma_iova_mode mode;
	char reason[192];
	pthread_mutex_t lock; /* region list and map updates; lookups take no lock */
	struct udma_region *regions;
	struct udma_iova_map map;
	unsigned forks; /* fork.c: udma__forks when created (next to map: one line for udma_iova) */
	pid_t owner;	/* the process that created it */
	int pagemap_fd;
	struct udma_pool_layer *pools; /* pool.c */
	struct udma_heap *heap;	       /* heap.c */
	struct udma_dev *devices;      /* device.c: attached devices, under lock */
	bool devices_hooked;	       /* device.c: its teardown is registered */
	unsigned file_devices;	       /* device.c, atomic: attached devices that need regions as files */
	udma__teardown_fn *teardown[UDMA_CTX_MAX_TEARDOWNS];
	unsigned nteardown;
};

/* ctx.c: run fn(ctx) at udma_ctx_destroy. Caller holds ctx->lock; once per layer. */
UDMA_HIDDEN int udma__ctx_on_destroy(struct udma_ctx *ctx, udma__teardown_fn *fn);

/* fork.c: the fork contract (see there). */
extern unsigned udma__forks UDMA_HIDDEN;
UDMA_HIDDEN int udma__fork_watch(struct udma_ctx *ctx); /* at udma_ctx_create */
/* Around making or unmaking a region or device: a fork waits meanwhile. */
UDMA_HIDDEN void udma__fork_hold(void);
UDMA_HIDDEN void udma__fork_release(void);
/* True in a forked child for a context its parent made. */
static inline bool udma__inherited(const struct udma_ctx *ctx)
{
	return udma__unlikely(ctx->forks != udma__forks);
}
/* -ECHILD, saying whose the context is and what to do instead. */
UDMA_HIDDEN int udma__err_inherited(const struct udma_ctx *ctx, const char *call);
/* mmap anywhere, kept from forked children (MADV_DONTFORK), for device BARs:
 * a child must not reach its parent's device. MAP_FAILED with errno on failure. */
UDMA_HIDDEN void *udma__mmap_nofork(size_t len, int prot, int flags, int fd, off_t off);

/* region.c: a forked child's udma_ctx_destroy frees its copy of r (fd, bookkeeping). */
UDMA_HIDDEN void udma__region_release_inherited(struct udma_region *r);

/* iova.c */
UDMA_HIDDEN int udma__map_init(struct udma_iova_map *map);
UDMA_HIDDEN void udma__map_fini(struct udma_iova_map *map);
UDMA_HIDDEN int udma__map_insert(struct udma_iova_map *map, struct udma_region *r);
UDMA_HIDDEN void udma__map_remove(struct udma_iova_map *map, const struct udma_region *r);
UDMA_HIDDEN void udma__compute_runs(struct udma_region *r);
/* O(1), lock-free: the region holding va, or NULL. Inline: the hot paths
 * (udma_iova, udma_free) make no call for it. */
static inline struct udma_region *udma__region_of(const struct udma_ctx *ctx, const void *va)
{
	uintptr_t v = (uintptr_t)va;
	const struct udma_iova_leaf *leaf;
	struct udma_region *r;

	if (udma__unlikely(!ctx || v >> UDMA_VA_BITS))
		return NULL;
	leaf = atomic_load_explicit(&ctx->map.l1[v >> UDMA_L1_SHIFT], memory_order_acquire);
	if (udma__unlikely(!leaf))
		return NULL;
	r = atomic_load_explicit(&leaf->chunk[(v >> UDMA_CHUNK_SHIFT) & (UDMA_L2_ENTRIES - 1)],
				 memory_order_acquire);
	/* v below r->addr wraps to a huge offset, so one compare covers both ends. */
	if (!r || v - (uintptr_t)r->addr >= r->size)
		return NULL;
	return r;
}
/* The IOVA of the byte at va, off bytes into a run of pages whose IOVAs are
 * page_iova (a region's r->iova, or a part of it), each 1 << page_shift
 * bytes; page_iova NULL: IOVA = VA. */
static inline uint64_t udma__page_iova(const uint64_t *page_iova, unsigned page_shift, const void *va,
				       size_t off)
{
	if (!page_iova)
		return (uint64_t)(uintptr_t)va;
	size_t page = off >> page_shift;

	return page_iova[page] + (off - (page << page_shift));
}

/* region_map.c: reserve aligned VA; map backing into it. */
UDMA_HIDDEN int udma__reserve_va(size_t len, size_t align, void **out);
UDMA_HIDDEN int udma__memfd(const char *name, size_t page_size, size_t len);

/* region_contig.c: PA mode, several pages: find PFN-adjacent pages and map them in order. */
UDMA_HIDDEN int udma__map_contig(struct udma_region *r);
struct udma_candidate {
	uint64_t pfn;
	size_t index; /* page index in the memfd */
};
/* First index of need candidates (sorted by pfn) whose pfns step by step, or -1. */
UDMA_HIDDEN long udma__find_run(const struct udma_candidate *c, size_t n, size_t need, uint64_t step);

#endif
