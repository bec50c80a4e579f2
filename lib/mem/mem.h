/* SPDX-License-Identifier: MIT */
/*
 * lib/mem: contexts and regions: pinned memory, its bus addresses (IOVA) and
 * the O(1) lookup from an address to its region; the fork contract. Uses
 * lib/os and lib/base; layers above learn of regions through memory events
 * (event.c) and keep their per-context state in the context's slots (ctx.c).
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

/* A 2 MiB chunk of VA belongs to at most one region: that is what makes the
 * lookup a two-level index. Regions udma maps start on a chunk boundary and
 * hold their chunks whole (footprint); registered memory need not, but shares
 * no chunk with another region (udma__map_insert refuses). */
#define UDMA_CHUNK_SHIFT 21
#define UDMA_L1_SHIFT	 30
/* The index covers the addresses a pointer of this word size reaches; user
 * space ends below UDMA_USER_VA_END (47-bit on x86-64 and 4-level arm64; on
 * 32-bit ARM 3 GiB, or 4 GiB for a 32-bit process on a 64-bit kernel, which
 * refuses what it does not give). Compared in uint64_t: on 32-bit no shift
 * of a pointer-sized value reaches the type's width. */
#if UINTPTR_MAX > 0xffffffffu
#define UDMA_VA_BITS	     48
#define UDMA_USER_VA_END     ((uint64_t)1 << 47)
#define UDMA_USER_VA_END_TXT "128 TiB"
#else
#define UDMA_VA_BITS	     32
#define UDMA_USER_VA_END     ((uint64_t)1 << 32)
#define UDMA_USER_VA_END_TXT "4 GiB"
#endif
#define UDMA_L1_ENTRIES ((size_t)1 << (UDMA_VA_BITS - UDMA_L1_SHIFT))
#define UDMA_L2_ENTRIES ((size_t)1 << (UDMA_L1_SHIFT - UDMA_CHUNK_SHIFT))

struct udma_region;

/* PA mode: the IOVA of page i of a region of 1 << page_shift byte pages is
 * (base + frame[i]) << page_shift. VA mode (frame NULL): the IOVA of va is
 * va + base, base 0 but in a region attached at another address than its
 * exporter's (region_attach.c). 32-bit entries from the region's lowest
 * frame: half the bytes of 64-bit IOVAs, so a large region's table stays in
 * cache longer (page_frames.c). */
struct udma_frames {
	uint32_t *frame;
	uint64_t base;
};

struct udma_iova_leaf {
	struct udma_region *_Atomic chunk[UDMA_L2_ENTRIES];
};

struct udma_iova_map {
	struct udma_iova_leaf *_Atomic *l1; /* UDMA_L1_ENTRIES, reserved lazily by the kernel */
};

struct udma_region {
	/* What udma_iova reads, together at the start. */
	uint8_t *addr;
	size_t size;
	struct udma_frames frames; /* PA mode only */
	unsigned page_shift;
	struct udma_ctx *ctx;
	struct udma_region *next;
	size_t footprint; /* VA held: size rounded up to 2 MiB, the tail PROT_NONE, so
			   * no foreign mapping shares a region's 2 MiB chunks */
	size_t page_size;
	size_t npages;
	int numa_node;
	unsigned flags;
	int fd;	      /* the backing file: SHARED, or while udma__region_files_hold is held */
	bool keep_fd; /* created while udma__region_files_hold was held */
	/* PA mode: the io_uring fd holding the pages' long-term pin (else -1):
	 * mlock keeps pages resident, not at their physical address. */
	int pin_fd;
	bool hugetlb;
	/* udma_region_register: the memory is the application's, never unmapped
	 * here; munlock_at_end: it was not all locked before, so we unlock it. */
	bool registered;
	bool munlock_at_end;
	/* From a DMA-BUF heap: fd is the dma-buf, which holds the pages (no
	 * mlock, no long-term pin); dma_heap is the heap asked for, read while
	 * udma_region_create builds the region only. */
	bool dma_buf;
	const char *dma_heap;
	/* PA mode only: for each page the index of the last page of the
	 * physically contiguous run it belongs to. */
	uint32_t *run_end;
	/* CONTIG in PA mode with keep_fd: the file page behind each page (the
	 * pages are mapped in physical order, not file order). */
	uint32_t *file_page;
	/* CONTIG in PA mode: when udma_region_create's search gives up, its
	 * attempts so far (one per page size), whether one found no run. */
	uint64_t contig_deadline_ns;
	unsigned contig_attempts;
	bool contig_no_run;
	/* The record of the layer that carves this region up, or NULL: found
	 * from any address in it without a lock (udma__region_of). The layers
	 * above tell their records apart themselves. Atomic: udma_free reads it
	 * for any address of the context. */
	void *_Atomic owner;
	char name[48];
};

/* Per-layer state: a layer above keeps its state for a context in a slot
 * of its own, with the teardown udma_ctx_destroy runs, the last installed
 * first, before regions go. Slot numbers are given out by the layers'
 * headers (lib/alloc/alloc.h, lib/dev/device_internal.h), so this layer names
 * none of them; a constant number makes the heap's read of its state on
 * udma_malloc's fast path one load at a fixed offset (a number fixed only at
 * link time, from a linker section of keys, measured 0.3 ns slower a pair).
 * Two layers given one number fail at install with -EEXIST: every test that
 * uses both catches it. */
#define UDMA_CTX_SLOTS 8
/* A layer's teardown of its state (already taken out of the slot). inherited:
 * a forked child releases its copies only: no lock taken, no device touched,
 * no report, no memory the child lacks read. */
typedef void udma__teardown_fn(struct udma_ctx *ctx, void *state, bool inherited);

/* A memory event subscriber. internal: a layer of udma, which sets
 * udma_last_error itself when it refuses a region. */
struct udma__mem_sub {
	udma_mem_event_fn fn;
	void *arg;
	bool internal;
};

struct udma_ctx {
	struct udma_ctx_opts opts;
	enum udma_iova_mode mode;
	char reason[512];
	pthread_mutex_t lock; /* regions, subscribers, slots; held during memory events */
	struct udma_region *regions;
	struct udma_iova_map map;
	unsigned forks; /* fork.c: udma__forks when created (next to map: one line for udma_iova) */
	pid_t owner;	/* the process that created it */
	int pagemap_fd;
	/* pagemap describes another address space (a user-mode emulator's
	 * host): VA mode only, pages checked with mincore (region.c). */
	bool pagemap_foreign;
	void *_Atomic state[UDMA_CTX_SLOTS]; /* udma__ctx_state */
	udma__teardown_fn *teardown[UDMA_CTX_SLOTS];
	unsigned char installed[UDMA_CTX_SLOTS]; /* slot ids, in install order */
	unsigned ninstalled;
	atomic_uint file_holds; /* udma__region_files_hold */
	struct udma__mem_sub subs[UDMA_MEM_EVENT_MAX];
	unsigned nsubs;
	bool dma_coherent; /* udma_ctx_dma_coherent */
};

/* ctx.c: the state a layer installed in ctx's slot, or NULL. Lock-free (the
 * heap reads it on udma_malloc's fast path). */
static inline void *udma__ctx_state(const struct udma_ctx *ctx, unsigned slot)
{
	return atomic_load_explicit(&ctx->state[slot], memory_order_acquire);
}
/* Install a layer's state once, with its teardown; the caller holds ctx->lock
 * (udma__ctx_lock) and found the slot empty. 0, or -EEXIST (a udma bug: two
 * layers given one slot, or a layer installing twice). */
UDMA_HIDDEN int udma__ctx_state_install(struct udma_ctx *ctx, unsigned slot, void *state,
					udma__teardown_fn *fn);
/* Take ctx->lock on behalf of call, or -EDEADLK when this thread is inside a
 * memory event callback of ctx (which holds it already). */
UDMA_HIDDEN int udma__ctx_lock(struct udma_ctx *ctx, const char *call);

/* region.c: while at least one hold is taken, regions created keep their
 * backing file (r->fd), for a layer that hands memory to another process. A
 * subscriber may refuse, with -EBUSY, a region built without a file just
 * before a hold was taken: it is then built again, with its file. */
UDMA_HIDDEN void udma__region_files_hold(struct udma_ctx *ctx);
UDMA_HIDDEN void udma__region_files_release(struct udma_ctx *ctx);

/* event.c, with ctx->lock held: subscribe (replaying ADDED for every region),
 * tell subscribers of a region made (0, or the refusal after REMOVED to those
 * told) or about to go (last subscribed first). */
UDMA_HIDDEN int udma__mem_subscribe(struct udma_ctx *ctx, udma_mem_event_fn fn, void *arg, bool internal,
				    const char *what);
UDMA_HIDDEN int udma__mem_unsubscribe(struct udma_ctx *ctx, udma_mem_event_fn fn, void *arg,
				      const char *what);
UDMA_HIDDEN int udma__mem_announce_added(struct udma_ctx *ctx, struct udma_region *r);
UDMA_HIDDEN void udma__mem_announce_removed(struct udma_ctx *ctx, struct udma_region *r);
/* True while this thread runs a memory event callback of ctx: the slow paths
 * of the layers above that take a lock held while waiting for ctx->lock ask
 * it, the fast paths never. Inline: outside callbacks it is one TLS load and
 * a compare (event.c walks the chain of callbacks this thread is in). */
struct udma__event_frame;
extern __thread const struct udma__event_frame *udma__event_frames UDMA_HIDDEN
	__attribute__((tls_model("initial-exec")));
UDMA_HIDDEN bool udma__in_mem_event_chain(const struct udma_ctx *ctx);
static inline bool udma__in_mem_event(const struct udma_ctx *ctx)
{
	return udma__unlikely(udma__event_frames != NULL) && udma__in_mem_event_chain(ctx);
}
/* -EDEADLK for call made from such a callback. */
UDMA_HIDDEN int udma__err_in_mem_event(const char *call);
/* The same for a call that returns nothing and does nothing then: also logged. */
UDMA_HIDDEN void udma__refuse_in_mem_event(const char *call);

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
/* mmap anywhere, kept from forked children (MADV_DONTFORK), e.g. device BARs:
 * a child must not reach its parent's device. MAP_FAILED with errno on failure. */
UDMA_HIDDEN void *udma__mmap_nofork(size_t len, int prot, int flags, int fd, off_t off);

/* region.c: a forked child's udma_ctx_destroy frees its copy of r (fd, bookkeeping). */
UDMA_HIDDEN void udma__region_release_inherited(struct udma_region *r);

/* iova.c */
UDMA_HIDDEN int udma__map_init(struct udma_iova_map *map);
UDMA_HIDDEN void udma__map_fini(struct udma_iova_map *map);
/* Caller holds the context lock. -EEXIST, explained, when a chunk r touches
 * holds another region. */
UDMA_HIDDEN int udma__map_insert(struct udma_iova_map *map, struct udma_region *r);
/* The region holding one of the chunks [addr, addr + len) touches, or NULL. */
UDMA_HIDDEN struct udma_region *udma__map_holder(const struct udma_iova_map *map, const void *addr,
						 size_t len);
UDMA_HIDDEN void udma__map_remove(struct udma_iova_map *map, const struct udma_region *r);
UDMA_HIDDEN void udma__compute_runs(struct udma_region *r);
/* O(1), lock-free: the region holding va, or NULL. Inline: the hot paths
 * (udma_iova, udma_free) make no call for it. */
static inline struct udma_region *udma__region_of(const struct udma_ctx *ctx, const void *va)
{
	uintptr_t v = (uintptr_t)va;
	const struct udma_iova_leaf *leaf;
	struct udma_region *r;

	if (udma__unlikely(!ctx || (uint64_t)v >> UDMA_VA_BITS))
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
/* The IOVA of the byte at va, off bytes into a region whose pages, each
 * 1 << page_shift bytes, are f (the region's r->frames). */
static inline uint64_t udma__page_iova(const struct udma_frames *f, unsigned page_shift, const void *va,
				       size_t off)
{
	if (!f->frame) /* VA mode: base is 0, or an attached region's shift to its exporter's IOVA */
		return (uint64_t)(uintptr_t)va + f->base;
	size_t page = off >> page_shift;

	return ((f->base + f->frame[page]) << page_shift) + (off - (page << page_shift));
}

/* page_frames.c: build and free a region's frame table. */
/* Room for npages entries, on transparent hugepages when the table spans one
 * or more (fewer TLB misses on random lookups); freed with udma__frames_free. */
UDMA_HIDDEN int udma__frames_alloc(struct udma_frames *f, size_t npages);
UDMA_HIDDEN void udma__frames_free(struct udma_frames *f);
/* Fill f from npages pagemap entries (PFNs in 4 KiB units, already checked
 * present) of a region of 1 << page_shift byte pages. -EOVERFLOW, explained,
 * when its frames lie 2^32 pages or more apart. name: the region's, for the
 * message. */
UDMA_HIDDEN int udma__frames_set(struct udma_frames *f, unsigned page_shift, const uint64_t *entries,
				 size_t npages, const char *name);

/* A SHARED region's file is the memfd "udma:NAME@pa", or in VA mode
 * "udma:NAME@va:HEX" with HEX the IOVA of its first byte, sealed against
 * shrinking and growing: what udma_region_attach knows it by. A name is fixed
 * for the file's life, and costs no page of its own. */
#define UDMA_SHARED_TAG_PA "@pa"
#define UDMA_SHARED_TAG_VA "@va:"

/* region_map.c: reserve aligned VA; map backing into it. */
UDMA_HIDDEN int udma__reserve_va(size_t len, size_t align, void **out);
UDMA_HIDDEN int udma__memfd(const char *name, size_t page_size, size_t len);

/* region_contig.c: PA mode, several pages: find PFN-adjacent pages and map
 * them in order, pinned (r->pin_fd). contig_start before the first attempt
 * sets the deadline every attempt of one udma_region_create shares. */
UDMA_HIDDEN void udma__contig_start(struct udma_region *r);
UDMA_HIDDEN int udma__map_contig(struct udma_region *r);
struct udma_candidate {
	uint64_t pfn;
	size_t index; /* page index in the memfd */
};
/* First index of need candidates (sorted by pfn) whose pfns step by step, or
 * -1; *longest: the most candidates in one such run. */
UDMA_HIDDEN long udma__find_run(const struct udma_candidate *c, size_t n, size_t need, uint64_t step,
				size_t *longest);

#endif
