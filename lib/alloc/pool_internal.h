/* SPDX-License-Identifier: MIT */
/*
 * Pools: structures shared by pool.c (create, destroy, avail, stats),
 * pool_layout.c (objects in regions, index/pointer/IOVA), pool_layer.c
 * (per-context state, per-thread records, thread exit), pool_cache.c (get and
 * put: per-thread caches over the shared store) and pool_debug.c (checks).
 *
 * Where an object is at any time: in the shared store (a LIFO array under a
 * spinlock), in exactly one thread's cache, or out with the user.
 */
#ifndef UDMA_POOL_INTERNAL_H
#define UDMA_POOL_INTERNAL_H

#include <stdatomic.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <udma/pool.h>

#include "lib/alloc/alloc.h"

#define POOL_MAX_SEGS 8			/* regions per pool: one, more when 4 KiB pages are scattered */
#define POOL_OBJ_MAX  ((size_t)1 << 30) /* obj_size and align limit */
#define POOL_TRAILER  8			/* debug: cookie bytes right after obj_size */

/* The shared store: every object not in a cache nor out, LIFO (a put object is
 * the next one got: it is still in the CPU's cache). Under the spinlock.
 * word packs top (low 32 bits) with the objects got straight from the store
 * (no cache) mod 2^32 (high 32 bits): counting them costs no extra store in
 * the critical section. Puts straight to the store are not counted in a pool
 * without cache: they are gets minus the objects out. */
struct pool_store {
	_Atomic unsigned lock;
	_Atomic uint64_t word; /* top | direct gets << 32 */
	uint64_t gets_wraps;   /* direct gets >> 32 */
	unsigned cap;	       /* the pool's count */
	void **objs;	       /* cap slots; objects in objs[0, top) */
	_Atomic uint64_t puts; /* pools with a cache: direct puts (no memory for a cache) */
} __attribute__((aligned(UDMA_CACHE_LINE)));

static inline unsigned store_top(const struct pool_store *s)
{
	return (unsigned)atomic_load_explicit(&s->word, memory_order_relaxed);
}

/* Lock held: set top, keeping the count. */
static inline void store_set_top(struct pool_store *s, unsigned top)
{
	uint64_t w = atomic_load_explicit(&s->word, memory_order_relaxed);

	atomic_store_explicit(&s->word, (w & ~(uint64_t)UINT32_MAX) | top, memory_order_relaxed);
}

/* Lock held: n objects got straight from the store (top >= n). */
static inline void store_take(struct pool_store *s, uint64_t w, unsigned n)
{
	uint64_t nw = w - n + ((uint64_t)n << 32);

	if (udma__unlikely(nw >> 32 < w >> 32))
		s->gets_wraps++;
	atomic_store_explicit(&s->word, nw, memory_order_relaxed);
}

/* One thread's cache for one pool. Only that thread touches it, except
 * readers of len and the stats (avail, stats) and udma_pool_destroy. Its
 * head (len, size, counts) is what udma/pool_impl.h's inline get and put
 * read, through the thread's memo; every access to it is a relaxed __atomic. */
struct pool_cache {
	struct udma_pool__cache pub;
	struct udma_pool *pool;
	struct pool_thread *pt;
	struct udma__link link; /* in the pool's caches, under the layer lock */
	void *objs[] __attribute__((aligned(UDMA_CACHE_LINE)));
};
_Static_assert(offsetof(struct pool_cache, objs) == UDMA_POOL_CACHE_OBJS_OFFSET,
	       "udma/pool_impl.h finds a cache's objects at UDMA_POOL_CACHE_OBJS_OFFSET");

#define cache_load(field)     __atomic_load_n(&(field), __ATOMIC_RELAXED)
#define cache_store(field, v) __atomic_store_n(&(field), (v), __ATOMIC_RELAXED)
#define cache_count(field, n) udma_pool__count(&(field), (n))

/* One thread's record in one context: its caches by pool id. The record of
 * the layer's tcache_owner (thread_cache.h); freed at thread exit (the key's
 * destructor) or by udma_ctx_destroy. */
struct pool_thread {
	struct udma_pool_layer *layer;
	struct udma__link link; /* in the layer's threads, under its lock */
	unsigned ncaches;	/* entries in caches; grown by the owner, under the lock */
	struct pool_cache *_Atomic *caches;
};

struct udma_pool_layer {
	struct udma_ctx *ctx;
	struct tcache_owner tcache; /* records: struct pool_thread */
	pthread_mutex_t lock;	    /* the lists below, pt->caches, pool->caches */
	struct udma_pool *pools;
	struct udma_pool **by_id; /* id -> pool; NULL: a free id */
	unsigned nids;
	struct udma__list threads; /* of struct pool_thread */
};

/* A run of objects in one region. Regular: object j at first_off + j * stride.
 * Irregular (a physical discontinuity made objects skip to a page boundary):
 * obj_off[j], and page_first[k] = first object starting at or after page k. */
struct pool_seg {
	uint8_t *base;
	size_t size;
	unsigned first, count; /* pool indices [first, first + count) */
	unsigned page_shift;
	size_t first_off;
	struct udma_frames frames; /* the region's, copied: one load less */
	size_t *obj_off;	   /* irregular only */
	uint32_t *page_first;	   /* irregular only: npages + 1 entries */
	struct udma_region *region;
};

enum pool_mode {
	POOL_CACHED, /* per-thread caches over the store */
	POOL_DIRECT, /* cache_size 0: the store only */
	POOL_DEBUG,  /* either, with every put checked */
	POOL_SHARED, /* either, over a store in shared memory (pool_shared.c) */
};

struct pool_shm;

struct udma_pool {
	struct udma_pool__head head; /* uid: what the threads' memos hold (udma/pool_impl.h) */
	/* read by every get and put */
	unsigned mode;
	unsigned id;	/* index in the threads' cache arrays */
	unsigned forks; /* its context's: in a forked child, every call is refused */
	uint64_t gen;	/* its layer's tcache generation */
	unsigned cache_size;
	unsigned nseg;
	size_t stride;
	uint64_t div_magic;    /* stride not a power of two: ceil(2^64 / stride) */
	unsigned stride_shift; /* stride a power of two: log2, else 0 */
	bool stride_pow2;
	struct pool_seg seg[POOL_MAX_SEGS];

	struct pool_store store;

	/* cold */
	struct udma_pool_layer *layer;
	struct udma_ctx *ctx;
	size_t obj_size, elt_size, align;
	unsigned count, flags;
	int numa_node;
	bool debug;
	_Atomic uint8_t *state; /* debug: POOL_FREE or POOL_OUT per object */
	uint64_t cookie_seed;
	_Atomic uint64_t empty, debug_errors;
	struct udma__list caches;	       /* of struct pool_cache, under the layer lock */
	uint64_t retired_hits, retired_misses; /* caches of exited threads, under the layer lock */
	uint64_t retired_puts;
	struct udma_pool *next; /* the layer's pools */
	char name[48];

	/* Shared pools (pool_shared.c): the header, record and store in the
	 * region; this process's slot there (objects it owns are marked
	 * slot + 1) and the file description holding the slot's lock. */
	struct pool_shm *shm;
	_Atomic uint64_t *meta;
	uint32_t *sidx;
	unsigned slot;
	int lock_fd;
	uint64_t reclaim_ns;		     /* the last reclaim a short store ran */
	_Atomic uint64_t shm_gets, shm_puts; /* straight from and to the store, no cache */
};

_Static_assert(offsetof(struct udma_pool, head) == 0, "udma/pool_impl.h reads the uid at a pool's start");

enum { POOL_FREE = 0, POOL_OUT = 1 };

/* True in a forked child for a pool of its parent's (lib/mem/fork.c). */
static inline bool pool_inherited(const struct udma_pool *p)
{
	return udma__unlikely(p->forks != udma__forks);
}

/* pool_layer.c */
UDMA_HIDDEN int udma__pool_layer_get(struct udma_ctx *ctx, struct udma_pool_layer **out);
UDMA_HIDDEN int udma__pool_register(struct udma_pool *p);
/* Unregister p, drop every thread's cache of it; returns the objects those held. */
UDMA_HIDDEN unsigned udma__pool_unregister(struct udma_pool *p);
/* The calling thread's cache for p, created on first use; NULL if out of memory. */
UDMA_HIDDEN struct pool_cache *udma__pool_cache_slow(struct udma_pool *p);
/* A pool of the layer holding va (a region owner), or NULL; for error messages. */
UDMA_HIDDEN const struct udma_pool *udma__pool_owning(const struct udma_pool_layer *layer, const void *va);

/* The calling thread's memo forgets every pool (its caches are going away). */
static inline void pool_memo_forget(void)
{
	udma_pool__memo.uid = 0;
	udma_pool__memo.cache = NULL;
}

/* pool.c: free p's bookkeeping (its regions go with udma_region_destroy). */
UDMA_HIDDEN void udma__pool_free(struct udma_pool *p);
/* A pool's private part from checked options, its objects not laid out yet; NULL: out of memory. */
UDMA_HIDDEN struct udma_pool *udma__pool_new(struct udma_ctx *ctx, struct udma_pool_layer *layer,
					     const struct udma_pool_opts *o, size_t align);

/* pool_layout.c */
UDMA_HIDDEN int udma__pool_layout(struct udma_pool *p);
/* A shared pool: every object in one SHARED region, after head bytes. */
UDMA_HIDDEN int udma__pool_layout_shared(struct udma_pool *p, size_t head);
/* An attached shared pool: its objects in r, after head bytes, as its creator placed them. */
UDMA_HIDDEN int udma__pool_layout_attached(struct udma_pool *p, struct udma_region *r, size_t head);
UDMA_HIDDEN void udma__pool_layout_free(struct udma_pool *p);
/* Index of the object containing va (any byte of its elt_size), or UINT_MAX. */
UDMA_HIDDEN unsigned udma__pool_containing(const struct udma_pool *p, const void *va);

/* pool_cache.c */
UDMA_HIDDEN void udma__pool_store_lock_slow(struct pool_store *s);
/* Push n objects into the store; refuses (and reports) what would overflow it. */
UDMA_HIDDEN void udma__pool_store_push(struct udma_pool *p, void *const *objs, unsigned n);

/* pool_shared.c */
/* udma_pool_create of a SHARED pool: lay it out, set up its header, take slot 0. */
UDMA_HIDDEN int udma__shm_create(struct udma_pool *p);
/* Take need objects into objs, and up to nmore more into more: how many of
 * those, or -ENOENT (nothing taken) when the store has fewer than need. */
UDMA_HIDDEN int udma__shm_take(struct udma_pool *p, void **objs, unsigned need, void **more, unsigned nmore);
/* Objects of this process back into the store. */
UDMA_HIDDEN void udma__shm_push(struct udma_pool *p, void *const *objs, unsigned n);
/* Keep in out the objects of in that this process may put (making them its
 * own); refuse and report the others. How many were kept. */
UDMA_HIDDEN unsigned udma__shm_adopt(struct udma_pool *p, void *const *in, unsigned n, void **out);
/* udma_pool_destroy: every object this process owns back to the store, its
 * slot given up; how many it owned. */
UDMA_HIDDEN unsigned udma__shm_detach(struct udma_pool *p);
/* Close the slot lock's file (a forked child's copy is closed already). */
UDMA_HIDDEN void udma__shm_close(struct udma_pool *p);
/* Objects in the shared store now. */
UDMA_HIDDEN unsigned udma__shm_avail(const struct udma_pool *p);

/* pool_debug.c */
/* State of every object, trailer cookies. */
UDMA_HIDDEN int udma__pool_debug_init(struct udma_pool *p);
/* Mark n objects just got as out. */
UDMA_HIDDEN void udma__pool_debug_got(struct udma_pool *p, void *const *objs, unsigned n);
/* 0 if obj may be put (now marked free); else the put is refused, reported and counted. */
UDMA_HIDDEN int udma__pool_debug_put(struct udma_pool *p, void *obj);
/* Print up to a few indices of objects still out (destroy's report). */
UDMA_HIDDEN void udma__pool_debug_report_out(const struct udma_pool *p);
/* Report a misuse: the log, udma_last_error(), stats; returns -errnum. */
UDMA_HIDDEN int udma__pool_misuse(struct udma_pool *p, int errnum, const char *fmt, ...) UDMA_PRINTF(3, 4);

static inline void pool_store_lock(struct pool_store *s)
{
	if (udma__likely(!atomic_exchange_explicit(&s->lock, 1, memory_order_acquire)))
		return;
	udma__pool_store_lock_slow(s);
}

static inline void pool_store_unlock(struct pool_store *s)
{
	atomic_store_explicit(&s->lock, 0, memory_order_release);
}

#endif
