/* SPDX-License-Identifier: MIT */
/*
 * INTERNAL: the inline fast path of udma/pool.h's udma_pool_get and
 * udma_pool_put. Do not include this file directly (udma/pool.h does) and do
 * not use what it declares. What it declares is compiled into programs
 * that call udma_pool_get and udma_pool_put (the pool's id at offset 0, the
 * cache's head, the objects 64 bytes in, the thread's memo), so it is part
 * of the ABI: a release that changes any of it changes the soname. The API
 * and its manual are in udma/pool.h.
 */
#ifndef UDMA_POOL_IMPL_H
#define UDMA_POOL_IMPL_H

#ifndef UDMA_POOL_H
#error "include <udma/pool.h>, not <udma/pool_impl.h>"
#endif

/* As udma/ring_impl.h: GCC's __atomic builtins on plain integers serve C
 * and C++ alike, and __thread is a GNU keyword in both. */
#if defined(__GNUC__) && (defined(__cplusplus) || (defined(__STDC_VERSION__) && __STDC_VERSION__ >= 199901L))
#define UDMA_POOL_HAVE_LAYOUT 1
#endif

#ifdef __cplusplus
extern "C" {
#endif

#pragma GCC visibility push(default)

#ifdef UDMA_POOL_HAVE_LAYOUT
/*
 * Each thread memoizes the cache of the pool it last got from or put to
 * with a cache (never a debug pool): {the pool's uid, that cache}. A get or
 * put that finds its pool's uid there pops or pushes the cache and counts
 * it, as the library does; anything else (another pool, the cache empty or
 * full, no cache, a debug pool, a forked child) is a call into the library,
 * which memoizes. A pool's uid is unique for the life of the process, so the
 * memo of a destroyed pool never matches a later one at the same address;
 * the library clears the memo when the thread's caches go back (thread exit)
 * and in a forked child.
 */

/* The head of every thread's cache: only its thread writes it; other threads
 * read len and the counts (udma_pool_avail, udma_pool_stats). */
struct udma_pool__cache {
	uint32_t len;  /* objects in udma_pool__objs(c)[0, len) */
	uint32_t size; /* capacity */
	uint64_t hits, misses, puts;
};
#define UDMA_POOL_CACHE_OBJS_OFFSET 64 /* the objects' array, from the cache's start */

struct udma_pool__memo_rec {
	uint64_t uid;			/* the memoized pool's; 0: none */
	struct udma_pool__cache *cache; /* the thread's cache of it */
};
extern __thread struct udma_pool__memo_rec udma_pool__memo __attribute__((tls_model("initial-exec")));

/* The first member of every struct udma_pool. */
struct udma_pool__head {
	uint64_t uid; /* never 0, never reused */
};

/* The library's get and put, past the memo. */
void *udma_pool__get_slow(struct udma_pool *pool);
void udma_pool__put_slow(struct udma_pool *pool, void *obj);

static inline __attribute__((always_inline)) void **udma_pool__objs(struct udma_pool__cache *c)
{
	return (void **)__builtin_assume_aligned((char *)c + UDMA_POOL_CACHE_OBJS_OFFSET,
						 UDMA_POOL_CACHE_OBJS_OFFSET);
}

/* The memoized cache if it is pool's, else NULL. */
static inline __attribute__((always_inline)) struct udma_pool__cache *
udma_pool__memo_of(struct udma_pool *pool)
{
	const struct udma_pool__head *h = (const struct udma_pool__head *)(const void *)pool;

	return __builtin_expect(udma_pool__memo.uid == h->uid, 1) ? udma_pool__memo.cache : 0;
}

/* A count only this thread writes: a relaxed load and store, no RMW. */
static inline __attribute__((always_inline)) void udma_pool__count(uint64_t *count, uint64_t n)
{
	__atomic_store_n(count, __atomic_load_n(count, __ATOMIC_RELAXED) + n, __ATOMIC_RELAXED);
}

static inline __attribute__((always_inline)) void *udma_pool__get(struct udma_pool *pool)
{
	struct udma_pool__cache *c = udma_pool__memo_of(pool);

	if (__builtin_expect(c != 0, 1)) {
		uint32_t len = __atomic_load_n(&c->len, __ATOMIC_RELAXED);

		if (__builtin_expect(len != 0, 1)) {
			__atomic_store_n(&c->len, len - 1, __ATOMIC_RELAXED);
			udma_pool__count(&c->hits, 1);
			return udma_pool__objs(c)[len - 1];
		}
	}
	return udma_pool__get_slow(pool);
}

static inline __attribute__((always_inline)) void udma_pool__put(struct udma_pool *pool, void *obj)
{
	struct udma_pool__cache *c = udma_pool__memo_of(pool);

	if (__builtin_expect(c != 0, 1)) {
		uint32_t len = __atomic_load_n(&c->len, __ATOMIC_RELAXED);

		if (__builtin_expect(len < c->size, 1)) {
			udma_pool__objs(c)[len] = obj;
			__atomic_store_n(&c->len, len + 1, __ATOMIC_RELAXED);
			udma_pool__count(&c->puts, 1);
			return;
		}
	}
	udma_pool__put_slow(pool, obj);
}
#endif /* UDMA_POOL_HAVE_LAYOUT */

#if defined(UDMA_POOL_HAVE_LAYOUT) && !defined(UDMA_POOL_NO_INLINE)
static inline __attribute__((always_inline)) void *udma_pool_get(struct udma_pool *pool)
{
	return udma_pool__get(pool);
}

static inline __attribute__((always_inline)) void udma_pool_put(struct udma_pool *pool, void *obj)
{
	udma_pool__put(pool, obj);
}
#else
void *udma_pool_get(struct udma_pool *pool); /* NULL when empty (udma_last_error says so) */
void udma_pool_put(struct udma_pool *pool, void *obj);
#endif

#pragma GCC visibility pop

#ifdef __cplusplus
}
#endif
#endif
