/* SPDX-License-Identifier: MIT */
/*
 * Pools of fixed-size DMA buffers with per-thread caches.
 *
 * A pool holds `count` objects of `obj_size` bytes, each aligned to `align`,
 * carved from one or more regions of the context (hugepages when free, else
 * 4 KiB pages). No object straddles a physical discontinuity: on 4 KiB pages
 * an object crosses a page boundary only where the next page is IOVA-
 * contiguous, so every object is one DMA segment and udma_pool_iova() gives
 * its bus address in O(1), without a syscall. Objects larger than a page need
 * such contiguous runs; if the pages do not give them, udma_pool_create fails
 * with -ENOMEM and says to use hugepages.
 *
 * Threads: every function may be called from any thread, any number of them,
 * created and ended at any time. With cache_size > 0 each thread keeps a cache
 * of up to cache_size objects per pool: get and put touch only that cache (no
 * lock, no atomic read-modify-write); an empty cache refills from the shared
 * store, a full one flushes to it, in bulk (half the cache at a time). Without
 * a cache, get and put go to the shared store (a spinlock-protected LIFO).
 * A thread's caches go back to the shared store when it exits, so once the
 * workers have ended every object can be had again from any thread.
 * udma_pool_get_bulk does not take objects from other threads' caches: it may
 * fail while udma_pool_avail() (which counts them) says enough are there.
 * Join the threads that used a context's pools before udma_ctx_destroy.
 *
 * Debug mode: UDMA_POOL_DEBUG, or the environment variable UDMA_DEBUG set to
 * anything but "0" or "" when udma_pool_create runs (`make check` runs the tests
 * with UDMA_DEBUG=1). Every put is checked before it is taken:
 *   - a pointer that is not an object of this pool: another pool's object,
 *     an interior pointer, the pool's padding, other udma memory, NULL, any
 *     other pointer;
 *   - a double put (the object is already in the pool or a cache);
 *   - a write past the end of the object (an 8-byte trailer cookie after
 *     obj_size bytes, checked on put).
 * A bad put is refused (the pool never holds a stranger nor an object twice;
 * an overrun object stays out), reported as one line in the log and in
 * udma_last_error(), and counted in udma_pool_stats().debug_errors. Debug
 * pools are slower (a state byte per object, checked atomically); pools
 * without debug pay one predictable branch for it.
 */
#ifndef UDMA_POOL_H
#define UDMA_POOL_H

#include <stddef.h>
#include <stdint.h>
#include <udma/ctx.h>

#ifdef __cplusplus
extern "C" {
#endif

#pragma GCC visibility push(default)

/* Check every put: double put, foreign or interior pointer, overrun of an
 * object (trailer cookie). Reported in the log (udma_set_log) and in udma_last_error(); the
 * bad put is refused, nothing is corrupted. Also on when UDMA_DEBUG=1. */
#define UDMA_POOL_DEBUG (1u << 0)
/* Objects other processes can attach to: see "Shared pools" below. */
#define UDMA_POOL_SHARED (1u << 1)
/* Attachments to one shared pool at a time: one per context that has it (a
 * process usually has one), its creator's included. */
#define UDMA_POOL_SHARED_MAX 64

#define UDMA_POOL_CACHE_MAX 512

struct udma_pool_opts {
	size_t obj_size;     /* bytes usable per object, 1 .. 1 GiB */
	size_t align;	     /* power of two up to 1 GiB; 0: cache line (64) */
	unsigned count;	     /* objects in the pool, 1 .. UINT_MAX - 1 */
	unsigned cache_size; /* per-thread cache, 0..UDMA_POOL_CACHE_MAX; 0: none */
	int numa_node;	     /* UDMA_NUMA_ANY: the context's node */
	unsigned flags;	     /* UDMA_POOL_DEBUG, UDMA_POOL_SHARED */
	const char *name;    /* in messages and region names (pool:NAME); may be NULL */
};

/* Counts in objects, summed over every thread (alive or exited). */
struct udma_pool_stats {
	uint64_t gets, puts; /* objects handed out / taken back */
	uint64_t cache_hits,
		cache_misses;  /* gets served by / past the thread's cache; hits + misses = gets */
	uint64_t empty;	       /* get calls that found too few objects (nothing taken) */
	uint64_t debug_errors; /* misuses caught in debug mode */
};

struct udma_pool;

/* -EINVAL: out NULL, ctx or opts NULL, obj_size 0 or over 1 GiB, align not a
 * power of two or over 1 GiB, count 0 or UINT_MAX, cache_size over
 * UDMA_POOL_CACHE_MAX, unknown flags. -ENOMEM: no memory, or objects larger
 * than a page found no physically contiguous room (use hugepages). Region
 * errors (memlock, NUMA node) as udma_region_create gives them. */
int udma_pool_create(struct udma_ctx *ctx, const struct udma_pool_opts *opts, struct udma_pool **out);
/* Reports in the log (udma_set_log) how many objects were not returned (debug: which ones).
 * Frees everything: regions, threads' caches of it. NULL is a no-op. */
void udma_pool_destroy(struct udma_pool *pool);

/*
 * void *udma_pool_get(struct udma_pool *pool);  NULL when empty (udma_last_error says so)
 * void udma_pool_put(struct udma_pool *pool, void *obj);
 *
 * With GCC or Clang, in C99 or later and in C++, these two are inline (as
 * DPDK's rte_mempool_get/put are) when the object comes from or goes to the
 * thread's cache of the pool it used last: a call into the library costs
 * about as much as the whole get + put. Every other case (another pool, the
 * cache empty or full, no cache, a debug pool) is a call into the library,
 * with the same behaviour and stats. Elsewhere, or with UDMA_POOL_NO_INLINE
 * defined before the include, both are calls into the library. Their code is
 * in udma/pool_impl.h, included below: internal, not to be included directly
 * or used, and free to change between versions.
 */
/* All n or none: 0 on success, -ENOENT (nothing taken) if fewer than n are available. */
int udma_pool_get_bulk(struct udma_pool *pool, void **objs, unsigned n);
void udma_pool_put_bulk(struct udma_pool *pool, void *const *objs, unsigned n);

/* O(1), no syscall; UDMA_BAD_IOVA outside the pool's memory. The object's
 * obj_size bytes are contiguous from there in IOVA space. */
uint64_t udma_pool_iova(const struct udma_pool *pool, const void *obj);
/* Objects that can be had now: the shared store plus every thread's cache. */
unsigned udma_pool_avail(const struct udma_pool *pool);
/* Handle <-> pointer, O(1) both ways: indices 0 .. count - 1. */
unsigned udma_pool_index(const struct udma_pool *pool, const void *obj); /* UINT_MAX if not an object */
void *udma_pool_obj(const struct udma_pool *pool, unsigned index);	 /* NULL if out of range */
size_t udma_pool_obj_size(const struct udma_pool *pool);
/* -EINVAL if pool or out is NULL. */
int udma_pool_stats(const struct udma_pool *pool, struct udma_pool_stats *out);

/*
 * Shared pools: UDMA_POOL_SHARED puts the whole pool in one SHARED region:
 * its objects, its store and a record of where every object is. Another
 * process passes udma_pool_fd() (received by SCM_RIGHTS, inheritance...) to
 * udma_pool_attach and gets the same objects with the same indices and the
 * same IOVAs (udma_region_attach's rule: in PA mode the physical address, in
 * VA mode the creator's IOVA), at addresses of its own, with caches of its
 * own (of the creator's cache_size). Nothing shared holds a pointer: pass
 * objects between processes as indices (udma_pool_index, udma_pool_obj) or
 * handles (below), e.g. through a udma ring in a SHARED region (its slots
 * are pointers: in a 32-bit process a 64-bit handle does not fit one).
 *
 * Where objects are: each one is in the shared store or belongs to one
 * process (in its threads' caches or out with its threads). A process owns
 * the objects it got and the ones it put into its caches.
 *
 * Death: when a process that had the pool attached (its creator too) exits,
 * however it exits, the others get every object it owned back into the
 * store: at udma_pool_reclaim, when a get finds the store short, and when a
 * process attaches. Its death is seen through a file lock the kernel drops
 * when the process goes (no PID reuse race; works across PID namespaces).
 * A process stuck or stopped is alive: its objects stay its own.
 *
 * Handing on: an object passed to another process still belongs to the
 * sender until the receiver claims it. Pass udma_pool_handle(obj); the
 * receiver's udma_pool_claim(handle) makes the object its own and returns
 * its address, or NULL (errno ESTALE) when the sender died first and the
 * object was recovered (it is free again: drop the handle). A put also makes an
 * object the putter's, but an object received by index whose sender died
 * before the put may have been recovered already and handed to a third
 * process: claim handles wherever a sender may die.
 *
 * Every put into a shared pool is checked against the record, in every
 * build: a pointer that is not an object of the pool, an object already put
 * (in a cache or the store: a double put, or one recovered from a dead
 * sender) are refused as debug pools refuse them (log, udma_last_error(),
 * debug_errors); it costs a read and a write of the object's word in the
 * record per get and per put. So
 * UDMA_POOL_DEBUG does not combine with UDMA_POOL_SHARED (-EINVAL) and
 * UDMA_DEBUG is ignored for it. udma_pool_stats counts this process's calls;
 * udma_pool_avail is the store plus this process's caches.
 *
 * udma_pool_destroy of a shared pool detaches this process only: its caches
 * go back to the store, objects still out with it are reported and go back
 * too (as at its death); the pool lives on while another process has it.
 */
/* The pool's file, to hand to another process; -1 unless SHARED. */
int udma_pool_fd(const struct udma_pool *pool);
/* -EINVAL: ctx, out NULL, fd negative; -ENOTSUP: fd is not a shared pool's
 * (another file, or a udma region that is no pool); -EPROTO: made by a udma
 * whose pool layout this one cannot read; -EBADMSG: a header that does not
 * fit its file (damaged); -EUSERS: UDMA_POOL_SHARED_MAX attached already;
 * -EEXIST: this pool is in ctx already; else as udma_region_attach. */
int udma_pool_attach(struct udma_ctx *ctx, int fd, struct udma_pool **out);
/* Recover the objects of processes that died: how many, or a negative errno
 * (-EINVAL: not a shared pool). */
int udma_pool_reclaim(struct udma_pool *pool);

/* A handle for obj, to pass to another process: its index and, in a shared
 * pool, a generation that changes each time the object leaves the store.
 * UDMA_POOL_BAD_HANDLE if obj is not an object of the pool. */
#define UDMA_POOL_BAD_HANDLE UINT64_MAX
uint64_t udma_pool_handle(const struct udma_pool *pool, const void *obj);
/* The object of handle, now this process's; NULL with errno ESTALE when it
 * is no longer out on the trip the handle was made for (recovered from a
 * dead sender, put back into a cache or the store, taken again), EINVAL for
 * a handle of no object (also in udma_last_error()). In a pool that is not
 * shared: udma_pool_obj of its index. */
void *udma_pool_claim(struct udma_pool *pool, uint64_t handle);

#pragma GCC visibility pop

#ifdef __cplusplus
}
#endif

#include <udma/pool_impl.h>

#endif
