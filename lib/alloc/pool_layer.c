/* SPDX-License-Identifier: MIT */
/*
 * The pool layer of a context: its pools (by a small id), the threads that
 * used them (a pthread key whose value is the thread's record of caches), a
 * thread's caches going back to the shared stores when it exits, and the
 * teardown udma_ctx_destroy runs.
 */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "lib/alloc/pool_internal.h"

/* Give c's objects back to the store, keep its stats, unlink it. Layer lock held. */
static void cache_retire(struct pool_cache *c)
{
	struct udma_pool *p = c->pool;
	unsigned len = cache_load(c->pub.len);

	if (len)
		(p->mode == POOL_SHARED ? udma__shm_push : udma__pool_store_push)(p, c->objs, len);
	p->retired_hits += cache_load(c->pub.hits);
	p->retired_misses += cache_load(c->pub.misses);
	p->retired_puts += cache_load(c->pub.puts);
	udma__list_del(&c->link);
	udma__store_relaxed(&c->pt->caches[p->id], NULL);
	free(c);
}

/* Key destructor: the thread is exiting; its caches go back to the stores. */
static void thread_exit(void *arg)
{
	struct pool_thread *pt = arg;
	struct udma_pool_layer *l = pt->layer;
	unsigned i;

	if (!udma__tcache_exiting(&l->tcache, pt))
		return; /* a forked child's thread: the record is the parent's copy */
	/* The memo may hold one of the caches freed below (or another context's:
	 * that costs one call into the library, should this thread get again). */
	pool_memo_forget();
	pthread_mutex_lock(&l->lock);
	for (i = 0; i < pt->ncaches; i++) {
		struct pool_cache *c = udma__load_relaxed(&pt->caches[i]);

		if (c)
			cache_retire(c);
	}
	udma__list_del(&pt->link);
	pthread_mutex_unlock(&l->lock);
	free(pt->caches);
	free(pt);
}

/* A forked child's copy: free the pools' bookkeeping, report nothing (the
 * objects out are the parent's business). If another thread held the lock at
 * the fork the lists may be half-updated: leave them. */
static void layer_release_inherited(struct udma_pool_layer *l)
{
	if (pthread_mutex_trylock(&l->lock)) {
		l->pools = NULL;
		l->threads.first = NULL;
		return;
	}
	while (l->pools) {
		struct udma_pool *p = l->pools;

		l->pools = p->next;
		while (p->caches.first) {
			struct pool_cache *c = udma__list_entry(p->caches.first, struct pool_cache, link);

			udma__list_del(&c->link);
			free(c);
		}
		udma__pool_free(p);
	}
}

/* udma_ctx_destroy: pools still alive are reported and destroyed; the records
 * of threads still alive are freed (their memo can never match again). The
 * caller has joined every thread that used a pool, or they are idle. */
static void layer_teardown(struct udma_ctx *ctx __attribute__((unused)), void *state, bool inherited)
{
	struct udma_pool_layer *l = state;

	udma__tcache_owner_fini(&l->tcache); /* no destructor runs from now on */
	if (inherited)
		layer_release_inherited(l);
	while (l->pools) {
		udma__log(UDMA_LOG_WARN, "pool '%s' was still alive at udma_ctx_destroy; destroying it",
			  l->pools->name);
		udma_pool_destroy(l->pools);
	}
	while (l->threads.first) {
		struct pool_thread *pt = udma__list_entry(l->threads.first, struct pool_thread, link);

		udma__list_del(&pt->link);
		free(pt->caches);
		free(pt);
	}
	free(l->by_id);
	if (!inherited) /* another thread may have held it at the fork */
		pthread_mutex_destroy(&l->lock);
	free(l);
}

int udma__pool_layer_get(struct udma_ctx *ctx, struct udma_pool_layer **out)
{
	struct udma_pool_layer *l;
	int rc = 0;

	if ((rc = udma__ctx_lock(ctx, "udma_pool_create"))) {
		*out = NULL;
		return rc;
	}
	l = udma__ctx_state(ctx, UDMA_CTX_SLOT_POOLS);
	if (l)
		goto out;
	l = calloc(1, sizeof(*l));
	if (!l) {
		rc = udma__err(ENOMEM, "udma_pool_create: out of memory for the pool layer");
		goto out;
	}
	if ((rc = udma__tcache_owner_init(&l->tcache, TCACHE_POOLS, ctx, thread_exit, "udma_pool_create"))) {
		free(l);
		l = NULL;
		goto out;
	}
	pthread_mutex_init(&l->lock, NULL);
	l->ctx = ctx;
	if ((rc = udma__ctx_state_install(ctx, UDMA_CTX_SLOT_POOLS, l, layer_teardown))) {
		udma__tcache_owner_fini(&l->tcache);
		pthread_mutex_destroy(&l->lock);
		free(l);
		l = NULL;
	}
out:
	pthread_mutex_unlock(&ctx->lock);
	*out = l;
	return rc;
}

int udma__pool_register(struct udma_pool *p)
{
	struct udma_pool_layer *l = p->layer;
	unsigned id;
	int rc = 0;

	pthread_mutex_lock(&l->lock);
	for (id = 0; id < l->nids && l->by_id[id]; id++)
		;
	if (id == l->nids) {
		unsigned n = l->nids ? 2 * l->nids : 8;
		struct udma_pool **by_id = realloc(l->by_id, n * sizeof(*by_id));

		if (!by_id) {
			rc = udma__err(ENOMEM, "udma_pool_create: out of memory for the pool table");
			goto out;
		}
		memset(by_id + l->nids, 0, (n - l->nids) * sizeof(*by_id));
		l->by_id = by_id;
		l->nids = n;
	}
	l->by_id[id] = p;
	p->id = id;
	p->next = l->pools;
	l->pools = p;
out:
	pthread_mutex_unlock(&l->lock);
	return rc;
}

unsigned udma__pool_unregister(struct udma_pool *p)
{
	struct udma_pool_layer *l = p->layer;
	struct udma_pool **pp;
	unsigned held = 0;

	pthread_mutex_lock(&l->lock);
	for (pp = &l->pools; *pp; pp = &(*pp)->next)
		if (*pp == p) {
			*pp = p->next;
			break;
		}
	l->by_id[p->id] = NULL;
	/* Threads may still have a cache for p: they lose it (and never touch p again). */
	while (p->caches.first) {
		struct pool_cache *c = udma__list_entry(p->caches.first, struct pool_cache, link);

		held += cache_load(c->pub.len);
		udma__list_del(&c->link);
		udma__store_relaxed(&c->pt->caches[p->id], NULL);
		free(c);
	}
	pthread_mutex_unlock(&l->lock);
	return held;
}

static struct pool_thread *thread_record(struct udma_pool_layer *l)
{
	struct pool_thread *pt;

	pt = udma__tcache_find(&l->tcache);
	if (pt)
		return pt;
	pt = calloc(1, sizeof(*pt));
	if (!pt)
		return NULL;
	pt->layer = l;
	if (udma__tcache_bind(&l->tcache, pt)) {
		free(pt);
		return NULL;
	}
	pthread_mutex_lock(&l->lock);
	udma__list_push(&l->threads, &pt->link);
	pthread_mutex_unlock(&l->lock);
	return pt;
}

struct pool_cache *udma__pool_cache_slow(struct udma_pool *p)
{
	struct udma_pool_layer *l = p->layer;
	struct pool_thread *pt;
	struct pool_cache *c;
	size_t bytes;

	if (pool_inherited(p))
		return NULL; /* a forked child's: the caller refuses it */
	pt = thread_record(l);
	if (!pt)
		return NULL;
	if (p->id < pt->ncaches && (c = udma__load_relaxed(&pt->caches[p->id])))
		return c;
	bytes = sizeof(*c) + (size_t)p->cache_size * sizeof(c->objs[0]);
	c = aligned_alloc(UDMA_CACHE_LINE, (bytes + UDMA_CACHE_LINE - 1) & ~(size_t)(UDMA_CACHE_LINE - 1));
	if (!c)
		return NULL;
	memset(c, 0, sizeof(*c));
	c->pub.size = p->cache_size;
	c->pool = p;
	c->pt = pt;
	pthread_mutex_lock(&l->lock);
	if (p->id >= pt->ncaches) {
		unsigned n = l->nids, i;
		struct pool_cache *_Atomic *caches = malloc(n * sizeof(*caches));

		if (!caches) {
			pthread_mutex_unlock(&l->lock);
			free(c);
			return NULL;
		}
		for (i = 0; i < n; i++)
			atomic_init(&caches[i], i < pt->ncaches ? udma__load_relaxed(&pt->caches[i]) : NULL);
		free(pt->caches);
		pt->caches = caches;
		pt->ncaches = n;
	}
	udma__list_push(&p->caches, &c->link);
	udma__store_relaxed(&pt->caches[p->id], c);
	pthread_mutex_unlock(&l->lock);
	return c;
}

const struct udma_pool *udma__pool_owning(const struct udma_pool_layer *l, const void *va)
{
	struct udma_region *r = udma__region_of(l->ctx, va);
	const struct udma_pool *p, *found = NULL;
	const void *owner = r ? udma__load_relaxed(&r->owner) : NULL;

	if (!owner)
		return NULL;
	pthread_mutex_lock((pthread_mutex_t *)&l->lock);
	for (p = l->pools; p && !found; p = p->next)
		if (p == owner)
			found = p;
	pthread_mutex_unlock((pthread_mutex_t *)&l->lock);
	return found;
}
