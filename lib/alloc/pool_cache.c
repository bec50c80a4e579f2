/* SPDX-License-Identifier: MIT */
/*
 * Get and put: the thread's cache first (no lock, no atomic RMW), the shared
 * store (a LIFO array under a spinlock) in bulk when the cache runs empty or
 * full, or directly when the pool has no cache. Debug pools take the same
 * paths with every object checked; the others pay one branch for that.
 * A single get or put from the thread's cache of the pool it used last is
 * inline in the caller (udma/pool_impl.h); everything else comes here, to
 * udma_pool__get_slow and udma_pool__put_slow, which memoize that cache.
 */
/* The exported udma_pool_get and udma_pool_put are defined here. */
#define UDMA_POOL_NO_INLINE 1

#include <errno.h>
#include <limits.h>
#include <sched.h>
#include <string.h>

#include "lib/alloc/pool_shm.h"

static const char empty_msg[] =
	"udma_pool: fewer objects free than asked (others may sit in other threads' caches); nothing taken";

void udma__pool_store_lock_slow(struct pool_store *s)
{
	unsigned spins = 0;

	for (;;) {
		while (udma__load_relaxed(&s->lock)) {
			/* the holder may have been preempted: let it run */
			if (++spins & 255)
				udma__cpu_pause();
			else
				sched_yield();
		}
		if (!atomic_exchange_explicit(&s->lock, 1, memory_order_acquire))
			return;
	}
}

/* Store lock held: push n objects, refusing what would overflow (only double
 * puts into a pool without debug can get there). */
static inline void store_push_locked(struct udma_pool *p, void *const *objs, unsigned n)
{
	struct pool_store *s = &p->store;
	unsigned top = store_top(s);

	if (udma__unlikely(n > s->cap - top)) {
		pool_store_unlock(s);
		udma__pool_misuse(
			p, EINVAL,
			"pool '%s': %u objects put back beyond its %u: a double put? (UDMA_POOL_DEBUG "
			"finds which); the extra ones are dropped",
			p->name, n - (s->cap - top), s->cap);
		pool_store_lock(s);
		top = store_top(s);
		n = n < s->cap - top ? n : s->cap - top;
	}
	memcpy(&s->objs[top], objs, n * sizeof(*objs));
	store_set_top(s, top + n);
}

void udma__pool_store_push(struct udma_pool *p, void *const *objs, unsigned n)
{
	pool_store_lock(&p->store);
	store_push_locked(p, objs, n);
	pool_store_unlock(&p->store);
}

/* Per-thread cache lookup: the pool memo (the inline fast path's), else the
 * thread's record from the tcache memo and the pool's slot in it, which then
 * becomes the pool memo. Never a debug pool's: the inline path does not check. */
static inline struct pool_cache *cache_of(struct udma_pool *p)
{
	const struct tcache_memo *m = &udma__tcache_memo[TCACHE_POOLS];
	struct pool_cache *c;

	if (udma_pool__memo.uid == p->head.uid)
		return (struct pool_cache *)udma_pool__memo.cache;
	c = NULL;
	if (udma__likely(m->gen == p->gen)) {
		const struct pool_thread *pt = m->rec;

		if (udma__likely(p->id < pt->ncaches))
			c = udma__load_relaxed(&pt->caches[p->id]);
	}
	if (udma__unlikely(c == NULL) && (c = udma__pool_cache_slow(p)) == NULL)
		return NULL;
	if (p->mode == POOL_CACHED) {
		udma_pool__memo.uid = p->head.uid;
		udma_pool__memo.cache = &c->pub;
	}
	return c;
}

static int empty(struct udma_pool *p)
{
	atomic_fetch_add_explicit(&p->empty, 1, memory_order_relaxed);
	return udma__err_const(ENOENT, empty_msg);
}

/* Straight from the store (no cache, or no memory for one). */
static int store_get(struct udma_pool *p, void **objs, unsigned n)
{
	struct pool_store *s = &p->store;
	uint64_t w;
	unsigned top;

	pool_store_lock(s);
	w = udma__load_relaxed(&s->word);
	top = (unsigned)w;
	if (udma__unlikely(top < n)) {
		pool_store_unlock(s);
		return empty(p);
	}
	memcpy(objs, &s->objs[top - n], n * sizeof(*objs));
	store_take(s, w, n);
	pool_store_unlock(s);
	return 0;
}

static void store_put(struct udma_pool *p, void *const *objs, unsigned n)
{
	struct pool_store *s = &p->store;

	pool_store_lock(s);
	store_push_locked(p, objs, n);
	if (p->cache_size)
		udma__count_own(&s->puts, n);
	pool_store_unlock(s);
}

/* The cache has fewer than n: take the rest from the store, and refill the
 * cache to half its size in the same critical section. */
static __attribute__((noinline)) int cache_get_miss(struct udma_pool *p, struct pool_cache *c, void **objs,
						    unsigned n)
{
	struct pool_store *s = &p->store;
	unsigned len = cache_load(c->pub.len), need = n - len, top, refill;

	pool_store_lock(s);
	top = store_top(s);
	if (udma__unlikely(top < need)) {
		pool_store_unlock(s);
		return empty(p);
	}
	refill = top - need < c->pub.size / 2 ? top - need : c->pub.size / 2;
	top -= need;
	memcpy(objs + len, &s->objs[top], need * sizeof(*objs));
	top -= refill;
	memcpy(objs, c->objs, len * sizeof(*objs));
	memcpy(c->objs, &s->objs[top], refill * sizeof(*objs));
	store_set_top(s, top);
	pool_store_unlock(s);
	cache_store(c->pub.len, refill);
	cache_count(c->pub.misses, n);
	return 0;
}

/* The cache would overflow: flush down to half its size, in one critical section. */
static __attribute__((noinline)) void cache_put_miss(struct udma_pool *p, struct pool_cache *c,
						     void *const *objs, unsigned n)
{
	struct pool_store *s = &p->store;
	unsigned len = cache_load(c->pub.len), half = c->pub.size / 2, keep;

	pool_store_lock(s);
	if (n <= half) {
		keep = half - n; /* len + n > size, so len > keep */
		store_push_locked(p, c->objs + keep, len - keep);
		pool_store_unlock(s);
		memcpy(c->objs + keep, objs, n * sizeof(*objs));
		cache_store(c->pub.len, half);
	} else {
		keep = len < half ? len : half;
		store_push_locked(p, c->objs + keep, len - keep);
		store_push_locked(p, objs, n);
		pool_store_unlock(s);
		cache_store(c->pub.len, keep);
	}
	cache_count(c->pub.puts, n);
}

/* Any pool, no debug checks. */
static int get_plain(struct udma_pool *p, void **objs, unsigned n)
{
	struct pool_cache *c;
	unsigned len;

	if (p->cache_size && udma__likely((c = cache_of(p)) != NULL)) {
		len = cache_load(c->pub.len);
		if (n <= len) {
			len -= n;
			memcpy(objs, c->objs + len, n * sizeof(*objs));
			cache_store(c->pub.len, len);
			cache_count(c->pub.hits, n);
			return 0;
		}
		return cache_get_miss(p, c, objs, n);
	}
	return store_get(p, objs, n);
}

static void put_plain(struct udma_pool *p, void *const *objs, unsigned n)
{
	struct pool_cache *c;
	unsigned len;

	if (p->cache_size && udma__likely((c = cache_of(p)) != NULL)) {
		len = cache_load(c->pub.len);
		if (len + n <= c->pub.size) {
			memcpy(c->objs + len, objs, n * sizeof(*objs));
			cache_store(c->pub.len, len + n);
			cache_count(c->pub.puts, n);
			return;
		}
		cache_put_miss(p, c, objs, n);
		return;
	}
	store_put(p, objs, n);
}

static __attribute__((noinline)) int get_debug(struct udma_pool *p, void **objs, unsigned n)
{
	int rc = get_plain(p, objs, n);

	if (!rc)
		udma__pool_debug_got(p, objs, n);
	return rc;
}

/* Check each object; put back those that pass, in batches. */
static __attribute__((noinline)) void put_debug(struct udma_pool *p, void *const *objs, unsigned n)
{
	void *ok[64];
	unsigned i, k = 0;

	for (i = 0; i < n; i++) {
		if (udma__pool_debug_put(p, objs[i]))
			continue;
		ok[k++] = objs[i];
		if (k == 64) {
			put_plain(p, ok, k);
			k = 0;
		}
	}
	if (k)
		put_plain(p, ok, k);
}

/* Shared pools (pool_shared.c): the same caches over the store in shared
 * memory; a miss takes what was asked and refills to half in one take. */
static __attribute__((noinline)) int get_shared(struct udma_pool *p, void **objs, unsigned n)
{
	struct pool_cache *c = p->cache_size ? cache_of(p) : NULL;
	unsigned len;
	int more;

	if (!c) {
		more = udma__shm_take(p, objs, n, NULL, 0);
		if (!more)
			atomic_fetch_add_explicit(&p->shm_gets, n, memory_order_relaxed);
		return more == -ENOENT ? empty(p) : more;
	}
	len = cache_load(c->pub.len);
	if (n <= len) {
		len -= n;
		memcpy(objs, c->objs + len, n * sizeof(*objs));
		cache_store(c->pub.len, len);
		cache_count(c->pub.hits, n);
		udma__shm_got(p, objs, n);
		return 0;
	}
	/* The cache's objects first: the take refills it in place. */
	memcpy(objs, c->objs, len * sizeof(*objs));
	more = udma__shm_take(p, objs + len, n - len, c->objs, c->pub.size / 2);
	if (more < 0)
		return more == -ENOENT ? empty(p) : more;
	udma__shm_got(p, objs, len);
	cache_store(c->pub.len, (unsigned)more);
	cache_count(c->pub.misses, n);
	return 0;
}

/* Objects checked and now this process's: into the cache, flushing down to
 * half of it when full. */
static void put_shared_checked(struct udma_pool *p, void *const *objs, unsigned n)
{
	struct pool_cache *c = p->cache_size ? cache_of(p) : NULL;
	unsigned len, half, keep;

	if (!c) {
		udma__shm_push(p, objs, n);
		atomic_fetch_add_explicit(&p->shm_puts, n, memory_order_relaxed);
		return;
	}
	len = cache_load(c->pub.len);
	half = c->pub.size / 2;
	if (len + n <= c->pub.size) {
		memcpy(c->objs + len, objs, n * sizeof(*objs));
		len += n;
	} else if (n <= half) {
		keep = half - n; /* len + n > size, so len > keep */
		udma__shm_push(p, c->objs + keep, len - keep);
		memcpy(c->objs + keep, objs, n * sizeof(*objs));
		len = half;
	} else {
		keep = len < half ? len : half;
		udma__shm_push(p, c->objs + keep, len - keep);
		udma__shm_push(p, objs, n);
		len = keep;
	}
	cache_store(c->pub.len, len);
	cache_count(c->pub.puts, n);
}

static __attribute__((noinline)) void put_shared(struct udma_pool *p, void *const *objs, unsigned n)
{
	void *ok[64];

	while (n) {
		unsigned k = n < 64 ? n : 64, kept = udma__shm_adopt(p, objs, k, ok);

		if (kept)
			put_shared_checked(p, ok, kept);
		objs += k;
		n -= k;
	}
}

static __attribute__((noinline)) void *get_one_slow(struct udma_pool *p)
{
	void *obj;

	if (p->mode == POOL_DEBUG)
		return get_debug(p, &obj, 1) ? NULL : obj;
	if (p->mode == POOL_SHARED)
		return get_shared(p, &obj, 1) ? NULL : obj;
	return get_plain(p, &obj, 1) ? NULL : obj;
}

void *udma_pool__get_slow(struct udma_pool *p)
{
	/* In a forked child the cache memo never matches (thread_cache.c resets it), so
	 * an inherited pool is refused below, off the cached fast path. */
	if (udma__likely(p->mode == POOL_CACHED)) {
		struct pool_cache *c = cache_of(p);

		if (udma__likely(c != NULL)) {
			unsigned len = cache_load(c->pub.len);

			if (udma__likely(len != 0)) {
				cache_store(c->pub.len, len - 1);
				cache_count(c->pub.hits, 1);
				return c->objs[len - 1];
			}
		}
	}
	/* A shared pool's hit: the record marks the object out of the cache. */
	if (p->mode == POOL_SHARED && p->cache_size) {
		struct pool_cache *c = cache_of(p);
		unsigned len = c ? cache_load(c->pub.len) : 0;

		if (len) {
			void *obj = c->objs[len - 1];

			cache_store(c->pub.len, len - 1);
			cache_count(c->pub.hits, 1);
			udma__shm_got(p, &obj, 1);
			return obj;
		}
	}
	if (pool_inherited(p)) {
		udma__err_inherited(p->ctx, "udma_pool_get");
		return NULL;
	}
	if (udma__likely(p->mode == POOL_DIRECT)) {
		struct pool_store *s = &p->store;
		uint64_t w;

		pool_store_lock(s);
		w = udma__load_relaxed(&s->word);
		if (udma__likely((unsigned)w != 0)) {
			void *obj = s->objs[(unsigned)w - 1];

			store_take(s, w, 1);
			pool_store_unlock(s);
			return obj;
		}
		pool_store_unlock(s);
		empty(p);
		return NULL;
	}
	return get_one_slow(p);
}

static __attribute__((noinline)) void put_one_slow(struct udma_pool *p, void *obj)
{
	if (p->mode == POOL_DEBUG)
		put_debug(p, &obj, 1);
	else if (p->mode == POOL_SHARED)
		put_shared(p, &obj, 1);
	else
		put_plain(p, &obj, 1);
}

void udma_pool__put_slow(struct udma_pool *p, void *obj)
{
	if (udma__likely(p->mode == POOL_CACHED)) { /* never in a forked child: see udma_pool_get */
		struct pool_cache *c = cache_of(p);

		if (udma__likely(c != NULL)) {
			unsigned len = cache_load(c->pub.len);

			if (udma__likely(len < c->pub.size)) {
				c->objs[len] = obj;
				cache_store(c->pub.len, len + 1);
				cache_count(c->pub.puts, 1);
				return;
			}
		}
	}
	/* A shared pool's object out with this process, into a cache with room;
	 * anything else takes put_shared's checks. */
	if (p->mode == POOL_SHARED && p->cache_size && !pool_inherited(p)) {
		struct pool_cache *c = cache_of(p);
		unsigned len = c ? cache_load(c->pub.len) : UINT_MAX;

		if (c && len < c->pub.size && udma__shm_put_mine(p, obj)) {
			c->objs[len] = obj;
			cache_store(c->pub.len, len + 1);
			cache_count(c->pub.puts, 1);
			return;
		}
	}
	if (pool_inherited(p)) {
		udma__err_inherited(p->ctx, "udma_pool_put");
		return;
	}
	if (udma__likely(p->mode == POOL_DIRECT)) {
		struct pool_store *s = &p->store;
		uint64_t w;

		pool_store_lock(s);
		w = udma__load_relaxed(&s->word);
		if (udma__likely((unsigned)w < s->cap)) {
			s->objs[(unsigned)w] = obj;
			udma__store_relaxed(&s->word, w + 1); /* puts are not counted without a cache */
			pool_store_unlock(s);
			return;
		}
		pool_store_unlock(s);
	}
	put_one_slow(p, obj);
}

/* The exported calls: the header's inline code, for callers that do not inline it. */
void *udma_pool_get(struct udma_pool *p)
{
	return udma_pool__get(p);
}

void udma_pool_put(struct udma_pool *p, void *obj)
{
	udma_pool__put(p, obj);
}

int udma_pool_get_bulk(struct udma_pool *p, void **objs, unsigned n)
{
	if (pool_inherited(p))
		return udma__err_inherited(p->ctx, "udma_pool_get_bulk");
	if (udma__likely(p->mode < POOL_DEBUG))
		return get_plain(p, objs, n);
	return p->mode == POOL_DEBUG ? get_debug(p, objs, n) : get_shared(p, objs, n);
}

void udma_pool_put_bulk(struct udma_pool *p, void *const *objs, unsigned n)
{
	if (pool_inherited(p)) {
		udma__err_inherited(p->ctx, "udma_pool_put_bulk");
		return;
	}
	if (udma__likely(p->mode < POOL_DEBUG))
		put_plain(p, objs, n);
	else if (p->mode == POOL_DEBUG)
		put_debug(p, objs, n);
	else
		put_shared(p, objs, n);
}
