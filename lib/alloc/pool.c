/* SPDX-License-Identifier: MIT */
/* Pools: create (check options, lay out objects, fill the store), destroy, avail, stats. */
#include <errno.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "lib/alloc/pool_internal.h"

#define KNOWN_FLAGS (UDMA_POOL_DEBUG | UDMA_POOL_SHARED)

/* Pool uids: never 0, never reused, so a thread's memo of a destroyed pool
 * matches no later pool, wherever it is allocated. */
static _Atomic uint64_t next_uid = 1;

static bool debug_env(void)
{
	const char *v = getenv("UDMA_DEBUG");

	return v && *v && strcmp(v, "0") != 0;
}

static int check_opts(const struct udma_pool_opts *o, size_t *align)
{
	if (!o->obj_size)
		return udma__err(EINVAL, "udma_pool_create: obj_size is 0");
	if (o->obj_size > POOL_OBJ_MAX)
		return udma__err(EINVAL,
				 "udma_pool_create: obj_size %zu is over the 1 GiB limit (use a region)",
				 o->obj_size);
	*align = o->align ? o->align : UDMA_CACHE_LINE;
	if (*align & (*align - 1))
		return udma__err(EINVAL,
				 "udma_pool_create: align %zu is not a power of two (use 0 for a cache line, "
				 "or 64, 4096, ...)",
				 o->align);
	if (*align > POOL_OBJ_MAX)
		return udma__err(EINVAL, "udma_pool_create: align %zu is over the 1 GiB limit", o->align);
	if (!o->count)
		return udma__err(EINVAL, "udma_pool_create: count is 0");
	if (o->count == UINT_MAX)
		return udma__err(EINVAL, "udma_pool_create: count %u is too large (UINT_MAX is no index)",
				 o->count);
	if (o->cache_size > UDMA_POOL_CACHE_MAX)
		return udma__err(EINVAL, "udma_pool_create: cache_size %u is over UDMA_POOL_CACHE_MAX (%u)",
				 o->cache_size, UDMA_POOL_CACHE_MAX);
	if (o->flags & ~KNOWN_FLAGS)
		return udma__err(EINVAL,
				 "udma_pool_create: unknown flags 0x%x (the flags are UDMA_POOL_DEBUG and "
				 "UDMA_POOL_SHARED)",
				 o->flags & ~KNOWN_FLAGS);
	/* Each process maps a shared pool on a 2 MiB boundary of its own: a
	 * larger alignment would place the objects differently in each. */
	if ((o->flags & UDMA_POOL_SHARED) && *align > UDMA_PAGE_2M)
		return udma__err(EINVAL,
				 "udma_pool_create: align %zu with UDMA_POOL_SHARED: shared pools align "
				 "objects to at most 2 MiB (each process maps the pool on a 2 MiB boundary "
				 "of its own)",
				 *align);
	if ((o->flags & UDMA_POOL_DEBUG) && (o->flags & UDMA_POOL_SHARED))
		return udma__err(EINVAL, "udma_pool_create: UDMA_POOL_DEBUG with UDMA_POOL_SHARED: a shared "
					 "pool checks every put already; drop UDMA_POOL_DEBUG");
	return 0;
}

static void set_stride(struct udma_pool *p)
{
	p->stride = (p->elt_size + p->align - 1) & ~(p->align - 1);
	p->stride_pow2 = !(p->stride & (p->stride - 1));
	if (p->stride_pow2)
		p->stride_shift = udma__log2(p->stride);
	else
		p->div_magic = UINT64_MAX / p->stride + 1;
}

void udma__pool_free(struct udma_pool *p)
{
	udma__shm_close(p);
	udma__pool_layout_free(p);
	free(p->store.objs);
	free((void *)p->state);
	free(p);
}

struct udma_pool *udma__pool_new(struct udma_ctx *ctx, struct udma_pool_layer *layer,
				 const struct udma_pool_opts *o, size_t align)
{
	bool shared = o->flags & UDMA_POOL_SHARED;
	struct udma_pool *p = aligned_alloc(UDMA_CACHE_LINE, (sizeof(*p) + UDMA_CACHE_LINE - 1) &
								     ~(size_t)(UDMA_CACHE_LINE - 1));

	if (!p)
		return NULL;
	memset(p, 0, sizeof(*p));
	p->layer = layer;
	p->ctx = ctx;
	p->forks = ctx->forks;
	p->gen = layer->tcache.gen;
	p->head.uid = atomic_fetch_add_explicit(&next_uid, 1, memory_order_relaxed);
	p->obj_size = o->obj_size;
	p->align = align;
	p->count = o->count;
	p->cache_size = o->cache_size;
	p->numa_node = o->numa_node;
	p->flags = o->flags;
	p->lock_fd = -1;
	/* A shared pool checks every put against its record instead. */
	p->debug = !shared && ((o->flags & UDMA_POOL_DEBUG) || debug_env());
	p->elt_size = o->obj_size + (p->debug ? POOL_TRAILER : 0);
	p->mode = shared ? POOL_SHARED : p->debug ? POOL_DEBUG : p->cache_size ? POOL_CACHED : POOL_DIRECT;
	snprintf(p->name, sizeof(p->name), "%s", o->name && *o->name ? o->name : "pool");
	set_stride(p);
	return p;
}

/* A pool of this process alone: its objects in regions, the store in private memory. */
static int create_private(struct udma_pool *p)
{
	unsigned i;
	int rc;

	if ((rc = udma__pool_layout(p)))
		return rc;
	p->store.cap = p->count;
	p->store.objs = malloc((size_t)p->count * sizeof(*p->store.objs));
	if (!p->store.objs)
		return udma__err(ENOMEM, "udma_pool_create: out of memory for the store of %u objects",
				 p->count);
	/* LIFO: object 0 on top, got first */
	for (i = 0; i < p->count; i++)
		p->store.objs[i] = udma_pool_obj(p, p->count - 1 - i);
	udma__store_relaxed(&p->store.word, p->count);
	return p->debug ? udma__pool_debug_init(p) : 0;
}

int udma_pool_create(struct udma_ctx *ctx, const struct udma_pool_opts *o, struct udma_pool **out)
{
	struct udma_pool_layer *layer;
	struct udma_pool *p;
	size_t align = 0;
	int rc;

	if (!out)
		return udma__err(EINVAL, "udma_pool_create: out is NULL");
	*out = NULL;
	if (!ctx || !o)
		return udma__err(EINVAL, "udma_pool_create: %s is NULL", ctx ? "opts" : "ctx");
	if (udma__inherited(ctx))
		return udma__err_inherited(ctx, "udma_pool_create");
	if ((rc = check_opts(o, &align)) || (rc = udma__pool_layer_get(ctx, &layer)))
		return rc;
	p = udma__pool_new(ctx, layer, o, align);
	if (!p)
		return udma__err(ENOMEM, "udma_pool_create: out of memory for a pool");
	rc = p->mode == POOL_SHARED ? udma__shm_create(p) : create_private(p);
	if (rc || (rc = udma__pool_register(p))) {
		udma__pool_free(p);
		return rc;
	}
	*out = p;
	return 0;
}

void udma_pool_destroy(struct udma_pool *p)
{
	unsigned held, out;

	if (!p)
		return;
	/* The parent's pool: udma_ctx_destroy releases the child's copy. */
	if (pool_inherited(p)) {
		udma__err_inherited(p->ctx, "udma_pool_destroy");
		return;
	}
	/* Its regions cannot be unmade there. */
	if (udma__in_mem_event(p->ctx)) {
		udma__refuse_in_mem_event("udma_pool_destroy");
		return;
	}
	held = udma__pool_unregister(p);
	if (udma_pool__memo.uid == p->head.uid) /* tidy: its uid would never match again anyway */
		pool_memo_forget();
	if (p->mode == POOL_SHARED) {
		/* Its caches' objects are still this process's in the record. */
		unsigned owned = udma__shm_detach(p);

		out = owned > held ? owned - held : 0;
		if (out)
			udma__log(
				UDMA_LOG_WARN,
				"pool '%s': %u objects were still out in this process at udma_pool_destroy; "
				"they are back in the shared store",
				p->name, out);
		udma__pool_free(p);
		return;
	}
	held += store_top(&p->store);
	if (held > p->count) {
		/* only a double put into a pool without debug gets here */
		udma__log(UDMA_LOG_ERR,
			  "pool '%s': %u more objects were put back than were taken: a double put "
			  "(UDMA_POOL_DEBUG or UDMA_DEBUG=1 finds which)",
			  p->name, held - p->count);
		udma__pool_free(p);
		return;
	}
	out = p->count - held;
	if (out) {
		udma__log(UDMA_LOG_WARN, "pool '%s': %u of %u objects were not returned at udma_pool_destroy",
			  p->name, out, p->count);
		if (p->debug)
			udma__pool_debug_report_out(p);
	}
	udma__pool_free(p);
}

unsigned udma_pool_avail(const struct udma_pool *p)
{
	struct udma_pool_layer *l = p->layer;
	const struct udma__link *k;
	unsigned n;

	if (pool_inherited(p)) {
		udma__err_inherited(p->ctx, "udma_pool_avail");
		return 0;
	}
	pthread_mutex_lock(&l->lock);
	n = p->mode == POOL_SHARED ? udma__shm_avail(p) : store_top(&p->store);
	for (k = p->caches.first; k; k = k->next)
		n += cache_load(udma__list_entry(k, struct pool_cache, link)->pub.len);
	pthread_mutex_unlock(&l->lock);
	/* A flush is counted in the store before its cache shrinks, and a double
	 * put without debug counts twice: never claim more than the pool has. */
	return n < p->count ? n : p->count;
}

size_t udma_pool_obj_size(const struct udma_pool *p)
{
	return p->obj_size;
}

int udma_pool_stats(const struct udma_pool *p, struct udma_pool_stats *out)
{
	struct udma_pool_layer *l;
	struct pool_store *s;
	const struct udma__link *k;
	uint64_t hits, misses, puts, w, direct;

	if (!p || !out)
		return udma__err(EINVAL, "udma_pool_stats: %s is NULL", p ? "out" : "pool");
	if (pool_inherited(p))
		return udma__err_inherited(p->ctx, "udma_pool_stats");
	l = p->layer;
	s = (struct pool_store *)&p->store;
	pthread_mutex_lock(&l->lock);
	hits = p->retired_hits;
	misses = p->retired_misses;
	puts = p->retired_puts;
	for (k = p->caches.first; k; k = k->next) {
		const struct pool_cache *c = udma__list_entry(k, struct pool_cache, link);

		hits += cache_load(c->pub.hits);
		misses += cache_load(c->pub.misses);
		puts += cache_load(c->pub.puts);
	}
	if (p->mode == POOL_SHARED) {
		direct = udma__load_relaxed(&p->shm_gets);
		puts += udma__load_relaxed(&p->shm_puts);
	} else {
		pool_store_lock(s);
		w = udma__load_relaxed(&s->word);
		direct = s->gets_wraps << 32 | w >> 32;
		/* no cache: what went out and did not come back is out now */
		puts += p->cache_size ? udma__load_relaxed(&s->puts) : direct - (p->count - (unsigned)w);
		pool_store_unlock(s);
	}
	pthread_mutex_unlock(&l->lock);
	misses += direct;
	out->gets = hits + misses;
	out->puts = puts;
	out->cache_hits = hits;
	out->cache_misses = misses;
	out->empty = udma__load_relaxed(&p->empty);
	out->debug_errors = udma__load_relaxed(&p->debug_errors);
	return 0;
}
