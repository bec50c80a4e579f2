/* SPDX-License-Identifier: MIT */
/*
 * Size classes and their slabs. A slab is one region holding a grid of
 * objects of one class: object i at base + i * size. In PA mode a slot that
 * would straddle a physical discontinuity is a hole, never handed out, so
 * every object is IOVA-contiguous; slabs of classes larger than 4 KiB ask
 * for a physically contiguous region first, so that holes stay rare.
 *
 * Each class keeps its slabs with free slots on a list; a slab keeps a stack
 * of its free slot indices. Thread caches take and give back batches under
 * the class lock, every move checked against the slot's state (see
 * heap_state in heap_internal.h). Slabs stay with the heap until the context
 * is destroyed (as DPDK's heap keeps its memory): a stale cache entry left by
 * two racing frees must never point to freed metadata. Growth is geometric,
 * so what a class keeps is at most about twice its peak.
 */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "lib/alloc/heap_internal.h"

static size_t class_size(unsigned i)
{
	unsigned k;

	if (i < 2)
		return UDMA_CACHE_LINE << i;
	k = (i - 1) / 2 + 7; /* 1: 2^7, 2: 1.5 * 2^7, 3: 2^8, ... */
	return (i & 1) ? (size_t)1 << k : (size_t)3 << (k - 1);
}

void udma__heap_classes_init(struct udma_heap *h)
{
	unsigned i;

	h->nclasses = udma__heap_size_class(h->threshold) + 1;
	h->tcache_bytes = sizeof(struct heap_tcache) + h->nclasses * sizeof(struct heap_mag);
	for (i = 0; i < h->nclasses; i++) {
		struct heap_class *c = &h->cls[i];
		size_t cap = HEAP_CACHE_BYTES / class_size(i);

		pthread_mutex_init(&c->lock, NULL);
		c->size = class_size(i);
		c->align = c->size & -c->size; /* slabs start on 2 MiB boundaries */
		if (c->align > UDMA_PAGE_2M)
			c->align = UDMA_PAGE_2M;
		c->cap = (uint32_t)(cap > HEAP_CACHE_MAX   ? HEAP_CACHE_MAX
				    : cap < HEAP_CACHE_MIN ? HEAP_CACHE_MIN
							   : cap);
		c->batch = c->cap / 2;
		h->tcache_bytes += c->cap * sizeof(struct heap_entry);
	}
}

unsigned udma__heap_class_for(const struct udma_heap *h, size_t size, size_t align)
{
	unsigned i = udma__heap_size_class(size);

	while (i < h->nclasses && h->cls[i].align < align)
		i++;
	return i;
}

/* Bytes to ask for the next slab: 64 KiB doubling to 2 MiB with 4 KiB pages
 * (a region of 2 MiB or more gets hugepages when there are free ones), at
 * least HEAP_SLAB_OBJS objects when that fits in 2 MiB, and two above. */
static size_t slab_bytes(const struct heap_class *c)
{
	size_t want = HEAP_SLAB_MIN << (c->nslabs < 5 ? c->nslabs : 5);
	size_t cap = 2 * c->size > HEAP_SLAB_MAX ? 2 * c->size : HEAP_SLAB_MAX;

	if (want < HEAP_SLAB_OBJS * c->size)
		want = HEAP_SLAB_OBJS * c->size;
	return want < cap ? want : cap;
}

static inline heap_state slot_get(const struct heap_slab *s, uint32_t i)
{
	return atomic_load_explicit(&s->state[i], memory_order_relaxed);
}

static inline void slot_set(struct heap_slab *s, uint32_t i, heap_state v)
{
	atomic_store_explicit(&s->state[i], v, memory_order_relaxed);
}

/* Mark the slots that straddle a physical discontinuity as holes; push the
 * others on the free stack, lowest address on top. */
static void slab_carve(struct heap_slab *s)
{
	const struct udma_region *r = s->region;
	uint32_t i = s->nslots;

	while (i-- > 0) {
		size_t off = (size_t)i * s->stride;

		if (r->frames.frame &&
		    r->run_end[off >> r->page_shift] < (off + s->stride - 1) >> r->page_shift) {
			atomic_init(&s->state[i], HEAP_SLOT_HOLE);
			continue;
		}
		atomic_init(&s->state[i], HEAP_SLOT_INSLAB);
		s->free[s->nfree++] = i;
	}
	s->usable = s->nfree;
}

static int slab_region(struct udma_heap *h, struct heap_class *c, struct udma_region **r)
{
	struct udma_region_opts o = {.size = slab_bytes(c), .numa_node = UDMA_NUMA_ANY, .name = "heap"};
	int rc;

	/* A 1 GiB page per class would be a waste: slabs take 2 MiB pages then. */
	if (h->ctx->opts.page_size > UDMA_PAGE_2M && o.size <= UDMA_PAGE_2M) {
		o.page_size = UDMA_PAGE_2M;
		if (!udma_region_create(h->ctx, &o, r))
			return 0;
		o.page_size = 0;
	}
	if (!h->pa || c->size <= UDMA_PAGE_4K)
		return udma_region_create(h->ctx, &o, r);
	/* Objects spanning 4 KiB pages in PA mode: a slab is one physical run (a
	 * single hugepage is one), else most of its slots would be holes. A
	 * shorter run is easier to find: halve, down to one object, starting
	 * from twice the last run found rather than failing the same way again. */
	o.flags = UDMA_REGION_CONTIG;
	if (c->run_found && o.size > 2 * c->run_found)
		o.size = 2 * c->run_found;
	for (;;) {
		rc = udma_region_create(h->ctx, &o, r);
		if (!rc)
			c->run_found = o.size;
		if (!rc || (rc != -ENOMEM && rc != -EAGAIN) || o.size / 2 < c->size)
			return rc;
		o.size /= 2;
	}
}

static struct heap_slab *slab_create(struct udma_heap *h, unsigned cls, int *err)
{
	struct heap_class *c = &h->cls[cls];
	struct udma_region *r;
	struct heap_slab *s;
	size_t nslots, meta;
	int rc = slab_region(h, c, &r);

	if (rc) {
		char why[1024], sz[32];

		snprintf(why, sizeof(why), "%s", udma_last_error());
		*err = udma__err(-rc, "udma_malloc: cannot grow the heap's %s class by a slab: %s",
				 udma__fmt_size(c->size, sz, sizeof(sz)), why);
		return NULL;
	}
	nslots = r->size / c->size;
	meta = (sizeof(*s) + nslots * sizeof(s->state[0]) + 3) & ~(size_t)3;
	s = calloc(1, meta + nslots * sizeof(uint32_t));
	if (!s) {
		udma_region_destroy(r);
		*err = udma__err(ENOMEM, "udma_malloc: out of memory for a slab's %zu slot states", nslots);
		return NULL;
	}
	s->own.kind = HEAP_KIND_SLAB;
	s->own.heap = h;
	s->region = r;
	s->base = r->addr;
	s->stride = c->size;
	s->recip = UINT64_MAX / c->size + 1;
	s->nslots = (uint32_t)nslots;
	s->cls = cls;
	s->free = (uint32_t *)((uint8_t *)s + meta);
	slab_carve(s);
	if (!s->usable) {
		char sz[32];

		udma_region_destroy(r);
		free(s);
		*err = udma__err(
			ENOMEM,
			"udma_malloc: no %s of physically contiguous memory in a new slab (4 KiB pages "
			"scattered): reserve hugepages (udma hugepages --reserve), or use VA mode with an "
			"IOMMU",
			udma__fmt_size(c->size, sz, sizeof(sz)));
		return NULL;
	}
	atomic_store_explicit(&r->owner, (void *)((uintptr_t)s | HEAP_OWNER_TAG), memory_order_release);
	return s;
}

static void partial_add(struct heap_class *c, struct heap_slab *s)
{
	udma__list_push(&c->partial, &s->plink);
	s->partial = true;
}

static void partial_del(struct heap_slab *s)
{
	udma__list_del(&s->plink);
	s->partial = false;
}

/* The next slab with free slots, growing the class if none; NULL (err set) if it cannot grow. */
static struct heap_slab *slab_with_room(struct udma_heap *h, unsigned cls, int *err)
{
	struct heap_class *c = &h->cls[cls];
	struct heap_slab *s;

	if (c->partial.first)
		return udma__list_entry(c->partial.first, struct heap_slab, plink);
	s = slab_create(h, cls, err);
	if (!s)
		return NULL;
	s->next = c->all;
	c->all = s;
	c->nslabs++;
	partial_add(c, s);
	return s;
}

/* Pop a slot that is really on the slab (stale entries are dropped), or UINT32_MAX. */
static uint32_t slab_pop(struct heap_slab *s, heap_state to)
{
	uint32_t idx = UINT32_MAX;

	while (s->nfree) {
		uint32_t i = s->free[--s->nfree];

		if (slot_get(s, i) == HEAP_SLOT_INSLAB) {
			slot_set(s, i, to);
			idx = i;
			break;
		}
	}
	if (!s->nfree && s->partial)
		partial_del(s);
	return idx;
}

/* The stack holds every slot at most once unless racing frees left stale
 * entries: when it is full, rebuild it from the states. */
static void slab_push(struct heap_class *c, struct heap_slab *s, uint32_t idx)
{
	uint32_t i;

	if (s->nfree == s->nslots) {
		s->nfree = 0;
		for (i = s->nslots; i-- > 0;)
			if (slot_get(s, i) == HEAP_SLOT_INSLAB)
				s->free[s->nfree++] = i;
	}
	if (!s->partial)
		partial_add(c, s);
	slot_set(s, idx, HEAP_SLOT_INSLAB);
	s->free[s->nfree++] = idx;
}

/* The class locks are held while a slab is made (its region's memory events
 * run then) and wait for the context's lock meanwhile: a memory event
 * callback of the context must not take one. */
static int class_lock(struct udma_heap *h, struct heap_class *c, const char *call)
{
	if (udma__in_mem_event(h->ctx))
		return udma__err_in_mem_event(call);
	pthread_mutex_lock(&c->lock);
	return 0;
}

int udma__heap_refill(struct udma_heap *h, unsigned cls, struct heap_mag *m, heap_state tag)
{
	struct heap_class *c = &h->cls[cls];
	uint32_t want = c->batch ? c->batch : 1, got = 0, cap = m->cap;
	int rc;

	if ((rc = class_lock(h, c, "udma_malloc")))
		return rc;
	/* A memory event callback run by a slab's growth below may free into m:
	 * with no room it goes to free's slow path, which refuses it, instead
	 * of pushing an entry the refill then overwrites. */
	m->cap = 0;
	while (got < want) {
		struct heap_slab *s = slab_with_room(h, cls, &rc);
		uint32_t idx;

		if (!s)
			break;
		/* Entries are popped from the top: lowest addresses first. */
		while (got < want && (idx = slab_pop(s, tag)) != UINT32_MAX) {
			m->e[want - 1 - got].p = s->base + (size_t)idx * s->stride;
			m->e[want - 1 - got].slab = s;
			m->e[want - 1 - got].idx = idx;
			got++;
		}
	}
	pthread_mutex_unlock(&c->lock);
	if (got && got < want)
		memmove(m->e, m->e + (want - got), got * sizeof(m->e[0]));
	m->n = got;
	m->cap = cap;
	return got ? 0 : rc;
}

void udma__heap_flush(struct udma_heap *h, unsigned cls, const struct heap_entry *e, unsigned n,
		      heap_state tag)
{
	struct heap_class *c = &h->cls[cls];
	unsigned i;

	pthread_mutex_lock(&c->lock);
	for (i = 0; i < n; i++)
		if (slot_get(e[i].slab, e[i].idx) == tag)
			slab_push(c, e[i].slab, e[i].idx);
	pthread_mutex_unlock(&c->lock);
}

void *udma__heap_alloc_direct(struct udma_heap *h, unsigned cls, struct heap_slab **slab, uint32_t *idx,
			      int *err)
{
	struct heap_class *c = &h->cls[cls];
	struct heap_slab *s;
	void *p = NULL;

	if ((*err = class_lock(h, c, "udma_malloc")))
		return NULL;
	while ((s = slab_with_room(h, cls, err)))
		if ((*idx = slab_pop(s, HEAP_SLOT_USED)) != UINT32_MAX) {
			*slab = s;
			p = s->base + (size_t)*idx * s->stride;
			break;
		}
	pthread_mutex_unlock(&c->lock);
	return p;
}

bool udma__heap_free_direct(struct udma_heap *h, struct heap_slab *s, uint32_t idx)
{
	struct heap_class *c = &h->cls[s->cls];
	heap_state was = HEAP_SLOT_USED;
	bool claimed;

	pthread_mutex_lock(&c->lock);
	/* A claim, like free's: frees on the cached path take no lock. */
	claimed = atomic_compare_exchange_strong_explicit(&s->state[idx], &was, HEAP_SLOT_INSLAB,
							  memory_order_relaxed, memory_order_relaxed);
	if (claimed)
		slab_push(c, s, idx);
	pthread_mutex_unlock(&c->lock);
	return claimed;
}

static void slab_destroy(struct heap_slab *s)
{
	udma_region_destroy(s->region);
	free(s);
}

void udma__heap_classes_fini(struct udma_heap *h)
{
	struct heap_slab *s;
	unsigned i;

	for (i = 0; i < h->nclasses; i++)
		while ((s = h->cls[i].all)) {
			h->cls[i].all = s->next;
			slab_destroy(s);
		}
}

void udma__heap_classes_stats(struct udma_heap *h, struct udma__heap_stats *st)
{
	const struct heap_slab *s;
	unsigned i;
	uint32_t k;

	for (i = 0; i < h->nclasses; i++) {
		struct heap_class *c = &h->cls[i];

		pthread_mutex_lock(&c->lock);
		for (s = c->all; s; s = s->next) {
			for (k = 0; k < s->nslots; k++) {
				heap_state v = slot_get(s, k);

				if (v == HEAP_SLOT_USED) {
					if (!st->example) {
						st->example = s->base + (size_t)k * s->stride;
						st->example_size = s->stride;
					}
					st->live++;
					st->live_bytes += s->stride;
				} else if (v == HEAP_SLOT_INSLAB) {
					st->in_slabs++;
				} else if (v >= HEAP_TAG0) {
					st->cached++;
				}
			}
			st->slabs++;
			st->slab_bytes += s->region->size;
		}
		pthread_mutex_unlock(&c->lock);
	}
}
