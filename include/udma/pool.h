/* SPDX-License-Identifier: MIT */
/* Pools of fixed-size DMA buffers with per-thread caches. */
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
 * object (trailer cookie). Reported on stderr and in udma_last_error(); the
 * bad put is refused, nothing is corrupted. */
#define UDMA_POOL_DEBUG (1u << 0)

#define UDMA_POOL_CACHE_MAX 512

struct udma_pool_opts {
	size_t obj_size;     /* bytes usable per object */
	size_t align;        /* power of two; 0: cache line (64) */
	unsigned count;      /* objects in the pool */
	unsigned cache_size; /* per-thread cache, 0..UDMA_POOL_CACHE_MAX; 0: none */
	int numa_node;       /* UDMA_NUMA_ANY: the context's node */
	unsigned flags;      /* UDMA_POOL_DEBUG */
	const char *name;
};

struct udma_pool_stats {
	uint64_t gets, puts;             /* objects handed out / taken back */
	uint64_t cache_hits, cache_misses; /* gets served by / past the thread's cache */
	uint64_t empty;                  /* gets that found the pool empty */
	uint64_t debug_errors;           /* misuses caught in debug mode */
};

struct udma_pool;

int udma_pool_create(struct udma_ctx *ctx, const struct udma_pool_opts *opts, struct udma_pool **out);
/* Reports on stderr how many objects were not returned. */
void udma_pool_destroy(struct udma_pool *pool);

void *udma_pool_get(struct udma_pool *pool); /* NULL when empty */
void udma_pool_put(struct udma_pool *pool, void *obj);
/* All n or none: 0 on success, -ENOENT (nothing taken) if fewer than n are available. */
int udma_pool_get_bulk(struct udma_pool *pool, void **objs, unsigned n);
void udma_pool_put_bulk(struct udma_pool *pool, void *const *objs, unsigned n);

uint64_t udma_pool_iova(const struct udma_pool *pool, const void *obj); /* O(1), no syscall */
/* Objects that can be had now: the shared store plus every thread's cache. */
unsigned udma_pool_avail(const struct udma_pool *pool);
unsigned udma_pool_index(const struct udma_pool *pool, const void *obj); /* UINT_MAX if not an object */
void *udma_pool_obj(const struct udma_pool *pool, unsigned index);     /* NULL if out of range */
size_t udma_pool_obj_size(const struct udma_pool *pool);
int udma_pool_stats(const struct udma_pool *pool, struct udma_pool_stats *out);

#pragma GCC visibility pop

#ifdef __cplusplus
}
#endif
#endif
