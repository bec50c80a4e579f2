/* SPDX-License-Identifier: MIT */
/*
 * The DMA heap's private structures: size classes carved from slabs (each slab
 * one region), per-thread magazines in front of them, and large allocations
 * that get a region of their own. No metadata lives in DMA memory: a device
 * writing into a freed buffer cannot corrupt the allocator.
 */
#ifndef UDMA_HEAP_INTERNAL_H
#define UDMA_HEAP_INTERNAL_H

#include <errno.h>
#include <stdatomic.h>
#include <stdbool.h>
#include <stdint.h>

#include "lib/alloc/alloc.h"

/* The smallest class and the default alignment are UDMA_CACHE_LINE: no two objects share a line. */
#define HEAP_DEFAULT_THRESHOLD ((size_t)1 << 20)  /* half a 2 MiB hugepage: see include/udma/heap.h */
#define HEAP_MAX_THRESHOLD     ((size_t)32 << 20) /* glibc's largest M_MMAP_THRESHOLD on 64-bit */
#define HEAP_MAX_CLASSES       38		  /* 64, 128, then 2^k and 1.5 * 2^k up to 32 MiB */
#define HEAP_SLAB_MIN	       ((size_t)64 << 10) /* first slab of a class on 4 KiB pages... */
#define HEAP_SLAB_MAX	       UDMA_PAGE_2M	  /* ...doubling up to one 2 MiB page */
#define HEAP_SLAB_OBJS	       8 /* a slab holds at least this many, when it fits in SLAB_MAX */
#define HEAP_CACHE_BYTES       ((size_t)256 << 10) /* per thread and class, for the magazine capacity */
#define HEAP_CACHE_MAX	       64
#define HEAP_CACHE_MIN	       2

/* r->owner of a heap region is a struct heap_owner pointer with this tag in
 * its low bits: pools store plain (aligned) pointers, so a pool's or a user's
 * region is never taken for the heap's, and nothing is read through a pointer
 * that is not ours. */
#define HEAP_OWNER_TAG	1u
#define HEAP_OWNER_MASK 7u

enum heap_kind { HEAP_KIND_SLAB = 1, HEAP_KIND_LARGE = 2 };

/*
 * Per-slot state, the allocation map: who holds the object.
 *   INSLAB  free, on its slab's stack (changed under the class lock only)
 *   USED    allocated
 *   HOLE    not an object (straddles a physical discontinuity)
 *   >= TAG0 free, in the thread cache with that tag (unique among the live
 *           thread caches of the heap)
 * udma_free claims a slot with a compare-and-swap from USED (the one locked
 * instruction of its fast path): of two frees of one pointer, even at the
 * same instant, exactly one wins and the other is reported as a double free,
 * also when the first went to a thread cache. Every other transition is made
 * by the slot's holder alone (the cache that holds its tag, or the slab under
 * the class lock), with plain relaxed stores; holders still check that a
 * state carries their tag before handing an object out or moving it, and a
 * full slab stack is rebuilt from the states, as defences in depth.
 */
typedef uint16_t heap_state;
#define HEAP_SLOT_INSLAB 0u
#define HEAP_SLOT_USED	 1u
#define HEAP_SLOT_HOLE	 2u
#define HEAP_TAG0	 3u
#define HEAP_NTAGS	 65536u /* tags HEAP_TAG0 .. 65535 */

struct udma_heap;

struct heap_owner {
	uint32_t kind; /* enum heap_kind */
	struct udma_heap *heap;
};

struct heap_slab {
	struct heap_owner own;
	/* Immutable after creation: read without a lock. */
	uint8_t *base;	 /* == region->addr */
	size_t stride;	 /* the class size */
	uint64_t recip;	 /* ceil(2^64 / stride): offset -> slot with a multiply */
	uint32_t nslots; /* slots in the grid, holes included */
	uint32_t cls;
	struct udma_region *region;
	/* Under the class lock. */
	uint32_t usable;	 /* slots that are not holes */
	uint32_t nfree;		 /* indices in free[] (some may be stale: see heap_state) */
	struct heap_slab *next;	 /* every slab of the class */
	struct udma__link plink; /* in the class's partial slabs (nfree > 0) */
	bool partial;
	uint32_t *free;		    /* stack of slot indices, at most nslots */
	_Atomic heap_state state[]; /* one per slot */
};

struct heap_large {
	struct heap_owner own;
	struct udma_region *region;
	size_t size;		/* as asked */
	_Atomic uint8_t live;	/* 1 until freed */
	struct udma__link link; /* in the heap's large, under its lock */
};

/* A thread cache entry: the object, its slab and slot, so that neither
 * malloc nor the flush has to compute or look anything up. The two pointers
 * are not adjacent: free's stores of them, merged into one 16-byte store,
 * could not be forwarded to malloc's 8-byte loads (a stall of several ns). */
struct heap_entry {
	uint8_t *p;
	uint32_t idx;
	struct heap_slab *slab;
};

struct heap_mag {
	uint32_t n, cap;
	struct heap_entry *e;
};

/* A thread cache's memo of a slab it freed into, so that the next free in
 * the same slab skips the region lookup (index table, leaf, region, owner,
 * slab: five dependent loads) and reads what it needs from here. A slab and
 * its copy here are immutable and live as long as the heap, as does the
 * cache: a memo is never stale. span 0: empty. */
struct heap_hot {
	uintptr_t base; /* the slab's first object */
	size_t span;	/* nslots * stride: an address below base + span is in a slot */
	uint64_t recip;
	size_t stride;
	struct heap_slab *slab;
	unsigned cls;
};
#define HEAP_HOT_SLABS 4 /* direct-mapped by the address's 2 MiB window */
#define HEAP_HOT_SHIFT 21

/* One per thread and context, the record of the heap's tcache_owner
 * (thread_cache.h); its magazines go back to the classes when the thread
 * exits (the key's destructor). */
struct heap_tcache {
	struct udma_heap *heap;
	heap_state tag;
	struct udma__link link; /* in the heap's tcaches, under its lock */
	struct heap_hot hot[HEAP_HOT_SLABS];
	struct heap_mag mag[]; /* nclasses, then the entries */
};

static inline struct heap_hot *udma__heap_hot(struct heap_tcache *tc, uintptr_t v)
{
	return &tc->hot[(v >> HEAP_HOT_SHIFT) % HEAP_HOT_SLABS];
}

struct heap_class {
	pthread_mutex_t lock;
	size_t size;	     /* stride of its objects */
	size_t align;	     /* natural alignment of its objects */
	uint32_t cap, batch; /* thread magazine capacity, refill/flush batch */
	struct heap_slab *all;
	struct udma__list partial; /* of heap_slab, by plink */
	unsigned nslabs;
	size_t run_found; /* PA, 4 KiB pages: the last slab size found physically contiguous */
} __attribute__((aligned(UDMA_CACHE_LINE)));

struct udma_heap {
	/* Read on every call. */
	struct tcache_owner tcache; /* records: struct heap_tcache */
	unsigned nclasses;
	size_t threshold; /* sizes up to this come from classes */
	size_t max_align; /* largest alignment accepted */
	struct udma_ctx *ctx;
	bool pa;
	size_t tcache_bytes;
	/* tcaches, their tags and large allocations */
	pthread_mutex_t lock __attribute__((aligned(UDMA_CACHE_LINE)));
	struct udma__list tcaches; /* of heap_tcache */
	struct udma__list large;   /* of heap_large */
	unsigned tag_next;
	uint64_t tags[HEAP_NTAGS / 64]; /* bit set: tag in use */
	struct heap_class cls[HEAP_MAX_CLASSES];
};

/* Size class of size (1 .. 32 MiB): 64, 128, 192, 256, 384, 512, 768, ... */
static inline unsigned udma__heap_size_class(size_t size)
{
	unsigned k;

	if (size <= 2 * UDMA_CACHE_LINE)
		return size > UDMA_CACHE_LINE;
	k = 63u - (unsigned)__builtin_clzll((unsigned long long)(size - 1)); /* 2^k < size <= 2^(k+1) */
	return 2 * (k - 7) + 2 + (size > ((size_t)3 << (k - 1)));
}

/* off / stride for a slab's offsets: exact while off * stride < 2^64. */
static inline uint64_t udma__heap_div(size_t off, uint64_t recip)
{
#ifdef __SIZEOF_INT128__
	return (uint64_t)(((unsigned __int128)off * recip) >> 64);
#else
	_Static_assert(sizeof(size_t) == 4, "no unsigned __int128: a 32-bit size_t is assumed");
	return udma__mulhi_u32_u64(off, recip);
#endif
}

/* udma_malloc's failure: NULL, errno = the error (rc: a negative errno, from
 * udma__err, which set the message). */
static inline void *udma__heap_fail(int rc)
{
	errno = -rc;
	return NULL;
}

/* heap_ctx.c: the context's heap, created on first use (NULL with the reason and errno set). */
UDMA_HIDDEN struct udma_heap *udma__heap_create(struct udma_ctx *ctx);
/* heap_class.c */
UDMA_HIDDEN void udma__heap_classes_init(struct udma_heap *h);
/* The smallest class for size with at least align; h->nclasses if none. */
UDMA_HIDDEN unsigned udma__heap_class_for(const struct udma_heap *h, size_t size, size_t align);
/* Fill an empty magazine with a batch from the class (growing it by a slab if
 * need be), each object tagged with the cache's tag. */
UDMA_HIDDEN int udma__heap_refill(struct udma_heap *h, unsigned cls, struct heap_mag *m, heap_state tag);
/* Give n entries that carry tag back to their slabs (stale ones are dropped). */
UDMA_HIDDEN void udma__heap_flush(struct udma_heap *h, unsigned cls, const struct heap_entry *e, unsigned n,
				  heap_state tag);
/* Without a thread cache (no memory, or more than 65533 threads): one object
 * straight from / back to the slabs, under the class lock. */
UDMA_HIDDEN void *udma__heap_alloc_direct(struct udma_heap *h, unsigned cls, struct heap_slab **slab,
					  uint32_t *idx, int *err);
/* false: the slot was not USED (a double free), nothing done */
UDMA_HIDDEN bool udma__heap_free_direct(struct udma_heap *h, struct heap_slab *s, uint32_t idx);
UDMA_HIDDEN void udma__heap_classes_fini(struct udma_heap *h);

/* heap_tcache.c */
UDMA_HIDDEN void udma__heap_tcache_exit(void *tcache); /* the key's destructor */
/* The calling thread's cache when its memo does not have it: found
 * through the key, or created; NULL without memory or without a free tag
 * (the caller then goes to the slabs directly). */
UDMA_HIDDEN struct heap_tcache *udma__heap_tcache_get(struct udma_heap *h);
/* A full magazine: flush its oldest batch. */
UDMA_HIDDEN void udma__heap_mag_drain(struct udma_heap *h, unsigned cls, struct heap_mag *m, heap_state tag);
UDMA_HIDDEN void udma__heap_tcaches_fini(struct udma_heap *h);

/* heap_large.c (NULL with the reason and errno set) */
UDMA_HIDDEN void *udma__heap_large_alloc(struct udma_heap *h, size_t size, uint64_t *iova);
UDMA_HIDDEN void udma__heap_large_free(struct heap_large *l, void *ptr);
UDMA_HIDDEN void udma__heap_large_fini(struct udma_heap *h);

/* heap_report.c: misuse and leaks. */
enum heap_bad {
	HEAP_BAD_NO_CTX,   /* ctx is NULL */
	HEAP_BAD_NOT_OURS, /* in no region of the context */
	HEAP_BAD_NOT_HEAP, /* in a region the heap does not own */
	HEAP_BAD_INTERIOR, /* inside an object, not at its start */
	HEAP_BAD_SLACK,	   /* in a slab, but in no object */
	HEAP_BAD_DOUBLE,   /* the object is free */
};
UDMA_HIDDEN void udma__heap_bad_free(const void *ptr, const struct udma_region *r, enum heap_bad why)
	__attribute__((cold, noinline));

/* What is allocated now: for the leak report at udma_ctx_destroy and for tests. */
struct udma__heap_stats {
	size_t live, live_bytes;   /* small objects allocated (bytes: their class sizes) */
	size_t large, large_bytes; /* large allocations (bytes: as asked) */
	size_t cached;		   /* free small objects held by thread caches */
	size_t in_slabs;	   /* free small objects on their slabs */
	size_t slabs, slab_bytes;
	const void *example; /* one live allocation, NULL if none */
	size_t example_size;
};
/* 0 and zeroed stats for a context whose heap was never used. */
UDMA_HIDDEN int udma__heap_stats(struct udma_ctx *ctx, struct udma__heap_stats *st);
UDMA_HIDDEN void udma__heap_classes_stats(struct udma_heap *h, struct udma__heap_stats *st);
UDMA_HIDDEN void udma__heap_large_stats(struct udma_heap *h, struct udma__heap_stats *st);

#endif
