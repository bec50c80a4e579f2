/* SPDX-License-Identifier: MIT */
/*
 * udma_malloc / udma_zmalloc / udma_free: the fast paths through the calling
 * thread's magazine, and the dispatch to size classes or large regions.
 *
 * malloc hit: a TLS compare, one magazine pop, a check that the slot's state
 * still carries this cache's tag, a store of USED.
 * free hit: the same TLS compare, the cache's memo of the slab it last freed
 * into in that 2 MiB window (struct heap_hot: no region lookup), the slot from
 * a multiply, a compare-and-swap of the slot's state from USED to the cache's
 * tag, one magazine push. A free outside the memoized slabs takes the slow
 * path once: the region lookup and every check, and it memoizes the slab.
 *
 * That CAS is the one locked instruction of either path: of two frees of one
 * pointer, even at the same instant, exactly one wins and the other is
 * reported as a double free, also when the first went to a thread cache (see
 * heap_state in heap_internal.h for why every other transition is a plain
 * store). Each public function is a fast path that needs no stack frame and
 * tail-calls a slow path for anything else (first call, empty or full
 * magazine, errors, large sizes), which starts over with every check.
 */
#include <errno.h>
#include <string.h>

#include "lib/alloc/heap_internal.h"

static inline struct heap_tcache *tcache_of(struct udma_heap *h)
{
	const struct tcache_memo *m = &udma__tcache_memo[TCACHE_HEAP];

	return udma__likely(m->gen == h->tcache.gen) ? m->rec : udma__heap_tcache_get(h);
}

/* ---- malloc ---- */

/* From the class's magazine (refilled as needed), or straight from the slabs
 * when the thread has no cache. */
static void *small_alloc(struct udma_heap *h, unsigned cls, uint64_t *iova)
{
	struct heap_tcache *tc = tcache_of(h);
	const struct heap_entry *e;
	struct heap_slab *s;
	struct heap_mag *m;
	uint32_t idx;
	uint8_t *p;
	int rc = 0;

	if (!tc) {
		p = udma__heap_alloc_direct(h, cls, &s, &idx, &rc);
		if (!p)
			return udma__heap_fail(rc);
		goto out;
	}
	m = &tc->mag[cls];
	do {
		if (!m->n && (rc = udma__heap_refill(h, cls, m, tc->tag)))
			return udma__heap_fail(rc);
		e = &m->e[--m->n];
		p = e->p;
		s = e->slab;
		idx = e->idx;
		/* Still ours? Only a racing double free leaves an entry that is not. */
	} while (atomic_load_explicit(&s->state[idx], memory_order_relaxed) != tc->tag);
	atomic_store_explicit(&s->state[idx], HEAP_SLOT_USED, memory_order_relaxed);
out:
	if (iova)
		*iova = udma__page_iova(&s->region->frames, s->region->page_shift, p, (size_t)(p - s->base));
	return p;
}

/* Everything else: argument errors, the first call, an empty magazine, large
 * sizes and alignments. *fresh (if fresh) is set when the memory is known zero. */
static __attribute__((noinline)) void *alloc_slow(struct udma_ctx *ctx, size_t size, size_t align,
						  uint64_t *iova, bool *fresh)
{
	struct udma_heap *h;
	unsigned cls;

	if (!ctx)
		return udma__heap_fail(udma__err_const(EINVAL, "udma_malloc: ctx is NULL"));
	if (udma__inherited(ctx))
		return udma__heap_fail(udma__err_inherited(ctx, "udma_malloc"));
	if (!size)
		return udma__heap_fail(udma__err_const(
			EINVAL, "udma_malloc: size is 0 (a DMA buffer needs at least one byte)"));
	if (align & (align - 1))
		return udma__heap_fail(udma__err(
			EINVAL, "udma_malloc: align %zu is not a power of two (use 0 for a cache line)",
			align));
	h = udma__ctx_state(ctx, UDMA_CTX_SLOT_HEAP);
	if (!h && !(h = udma__heap_create(ctx)))
		return NULL;
	if (align > h->max_align)
		return udma__heap_fail(
			udma__err(EINVAL,
				  "udma_malloc: align %zu is larger than the heap's page size (%zu): "
				  "regions start on page boundaries, so no larger alignment can be had",
				  align, h->max_align));
	if (size <= h->threshold) {
		cls = udma__heap_class_for(h, size, align ? align : UDMA_CACHE_LINE);
		if (cls < h->nclasses)
			return small_alloc(h, cls, iova);
	}
	if (fresh)
		*fresh = true; /* a new region: the kernel zeroed its pages */
	return udma__heap_large_alloc(h, size, iova);
}

/* The magazine hit, or NULL (then the slow path decides). */
static inline __attribute__((always_inline)) void *alloc_fast(struct udma_ctx *ctx, size_t size, size_t align,
							      uint64_t *iova)
{
	const struct heap_entry *e;
	struct heap_tcache *tc;
	struct udma_heap *h;
	struct heap_slab *s;
	struct heap_mag *m;
	uint32_t idx;

	if (udma__unlikely(!ctx))
		return NULL;
	h = udma__ctx_state(ctx, UDMA_CTX_SLOT_HEAP);
	if (udma__unlikely(!h || size - 1 >= h->threshold || align > UDMA_CACHE_LINE ||
			   (align & (align - 1))))
		return NULL;
	if (udma__unlikely(udma__tcache_memo[TCACHE_HEAP].gen != h->tcache.gen))
		return NULL;
	tc = udma__tcache_memo[TCACHE_HEAP].rec;
	m = &tc->mag[udma__heap_size_class(size)];
	if (udma__unlikely(!m->n))
		return NULL;
	/* Fields one by one: a struct copy reads the entry with a 16-byte load,
	 * which cannot be forwarded from free's two 8-byte stores (a 10 ns stall). */
	e = &m->e[m->n - 1];
	s = e->slab;
	idx = e->idx;
	if (udma__unlikely(atomic_load_explicit(&s->state[idx], memory_order_relaxed) != tc->tag))
		return NULL;
	m->n--;
	atomic_store_explicit(&s->state[idx], HEAP_SLOT_USED, memory_order_relaxed);
	if (iova)
		*iova = udma__page_iova(&s->region->frames, s->region->page_shift, e->p,
					(size_t)(e->p - s->base));
	return e->p;
}

void *udma_malloc(struct udma_ctx *ctx, size_t size, size_t align, uint64_t *iova)
{
	void *p = alloc_fast(ctx, size, align, iova);

	return udma__likely(p) ? p : alloc_slow(ctx, size, align, iova, NULL);
}

void *udma_zmalloc(struct udma_ctx *ctx, size_t size, size_t align, uint64_t *iova)
{
	bool fresh = false;
	void *p = alloc_fast(ctx, size, align, iova);

	if (udma__unlikely(!p) && !(p = alloc_slow(ctx, size, align, iova, &fresh)))
		return NULL;
	if (!fresh)
		memset(p, 0, size);
	return p;
}

/* ---- free ---- */

/* The next free in this slab takes the fast path without a region lookup. */
static void hot_remember(struct heap_tcache *tc, const void *ptr, struct heap_slab *s)
{
	struct heap_hot *hot = udma__heap_hot(tc, (uintptr_t)ptr);

	hot->base = (uintptr_t)s->base;
	hot->span = (size_t)s->nslots * s->stride;
	hot->recip = s->recip;
	hot->stride = s->stride;
	hot->slab = s;
	hot->cls = s->cls;
}

static __attribute__((noinline)) void free_slow(struct udma_ctx *ctx, void *ptr)
{
	struct udma_region *r;
	struct heap_owner *o;
	struct heap_tcache *tc;
	struct heap_slab *s;
	struct heap_mag *m;
	uintptr_t owner;
	heap_state was;
	size_t off;
	uint64_t idx;

	if (!ptr)
		return;
	if (ctx && udma__inherited(ctx)) {
		udma__err_inherited(ctx, "udma_free");
		return;
	}
	r = udma__region_of(ctx, ptr);
	if (!r) {
		udma__heap_bad_free(ptr, NULL, ctx ? HEAP_BAD_NOT_OURS : HEAP_BAD_NO_CTX);
		return;
	}
	owner = (uintptr_t)atomic_load_explicit(&r->owner, memory_order_acquire);
	if ((owner & HEAP_OWNER_MASK) != HEAP_OWNER_TAG) {
		udma__heap_bad_free(ptr, r, HEAP_BAD_NOT_HEAP);
		return;
	}
	o = (struct heap_owner *)(owner - HEAP_OWNER_TAG);
	if (o->kind != HEAP_KIND_SLAB) {
		if (udma__in_mem_event(ctx)) /* its region cannot be unmade there */
			udma__refuse_in_mem_event("udma_free");
		else
			udma__heap_large_free((struct heap_large *)o, ptr);
		return;
	}
	s = (struct heap_slab *)o;
	off = (size_t)((uint8_t *)ptr - s->base);
	idx = udma__heap_div(off, s->recip);
	if (idx >= s->nslots || idx * s->stride != off) {
		udma__heap_bad_free(ptr, r, idx >= s->nslots ? HEAP_BAD_SLACK : HEAP_BAD_INTERIOR);
		return;
	}
	tc = tcache_of(s->own.heap);
	if (tc)
		hot_remember(tc, ptr, s);
	/* Back to the slabs (no cache, or a full magazine) takes a class lock,
	 * which a memory event callback's caller may hold, or wait for with the
	 * context's lock held: refused there, before the slot is claimed. */
	if ((!tc || tc->mag[s->cls].n == tc->mag[s->cls].cap) && udma__in_mem_event(ctx)) {
		udma__refuse_in_mem_event("udma_free");
		return;
	}
	if (!tc) {
		if (!udma__heap_free_direct(s->own.heap, s, (uint32_t)idx))
			udma__heap_bad_free(ptr, r, HEAP_BAD_DOUBLE);
		return;
	}
	/* Claim the slot: of two frees of one pointer, even at the same instant,
	 * exactly one moves it from USED; the other is the double free. */
	was = HEAP_SLOT_USED;
	if (!atomic_compare_exchange_strong_explicit(&s->state[idx], &was, tc->tag, memory_order_relaxed,
						     memory_order_relaxed)) {
		udma__heap_bad_free(ptr, r, was == HEAP_SLOT_HOLE ? HEAP_BAD_SLACK : HEAP_BAD_DOUBLE);
		return;
	}
	m = &tc->mag[s->cls];
	if (m->n == m->cap)
		udma__heap_mag_drain(s->own.heap, s->cls, m, tc->tag);
	m->e[m->n].p = ptr;
	m->e[m->n].slab = s;
	m->e[m->n++].idx = (uint32_t)idx;
}

void udma_free(struct udma_ctx *ctx, void *ptr)
{
	uintptr_t v = (uintptr_t)ptr;
	const struct heap_hot *hot;
	struct heap_tcache *tc;
	struct heap_entry *e;
	struct udma_heap *h;
	struct heap_slab *s;
	struct heap_mag *m;
	heap_state used;
	size_t off;
	uint64_t idx;

	if (udma__unlikely(!ctx))
		goto slow;
	h = udma__ctx_state(ctx, UDMA_CTX_SLOT_HEAP);
	if (udma__unlikely(!h || udma__tcache_memo[TCACHE_HEAP].gen != h->tcache.gen))
		goto slow;
	tc = udma__tcache_memo[TCACHE_HEAP].rec;
	/* A slab this cache freed into: its copy holds all the checks need. */
	hot = udma__heap_hot(tc, v);
	off = v - hot->base; /* below base wraps: one compare covers both ends */
	if (udma__unlikely(off >= hot->span))
		goto slow;
	idx = udma__heap_div(off, hot->recip);
	if (udma__unlikely(idx * hot->stride != off))
		goto slow;
	s = hot->slab;
	m = &tc->mag[hot->cls];
	if (udma__unlikely(m->n == m->cap))
		goto slow;
	/* The claim (see free_slow); a failed one goes there to be reported. */
	used = HEAP_SLOT_USED;
	if (udma__unlikely(!atomic_compare_exchange_strong_explicit(
		    &s->state[idx], &used, tc->tag, memory_order_relaxed, memory_order_relaxed)))
		goto slow;
	e = &m->e[m->n++];
	e->p = ptr;
	e->slab = s;
	e->idx = (uint32_t)idx;
	return;
slow:
	free_slow(ctx, ptr);
}
