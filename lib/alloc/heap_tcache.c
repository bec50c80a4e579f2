/* SPDX-License-Identifier: MIT */
/*
 * Per-thread caches of the small classes: one magazine (a stack of slab
 * slots) per class, the heap's per-thread record (thread_cache.h), found in
 * one TLS compare on the fast path. Each cache has a tag, unique among the
 * heap's live caches, that the slots it holds carry in their state. A thread
 * that exits gives its magazines back to the classes (the key's destructor)
 * and its tag back to the heap, so its objects can be had again by every
 * other thread.
 */
#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include "lib/alloc/heap_internal.h"

/* Under the heap lock: a free tag, or 0 if all 65533 are in use. Tags 0-2
 * are the states INSLAB, USED and HOLE: marked in use from the start. */
static heap_state tag_take(struct udma_heap *h)
{
	unsigned n, w, bit;

	h->tags[0] |= (1ull << HEAP_TAG0) - 1;
	for (n = 0; n < HEAP_NTAGS / 64; n++) {
		w = (h->tag_next + n) % (HEAP_NTAGS / 64);
		if (h->tags[w] == UINT64_MAX)
			continue;
		bit = (unsigned)__builtin_ctzll(~h->tags[w]);
		h->tags[w] |= 1ull << bit;
		h->tag_next = w;
		return (heap_state)(w * 64 + bit);
	}
	return 0;
}

static void tag_give_back(struct udma_heap *h, heap_state tag)
{
	h->tags[tag / 64] &= ~(1ull << (tag % 64));
}

void udma__heap_tcache_exit(void *arg)
{
	struct heap_tcache *tc = arg;
	struct udma_heap *h = tc->heap;
	unsigned i;

	if (!udma__tcache_exiting(&h->tcache, tc))
		return; /* a forked child's thread: the cache is the parent's copy */
	for (i = 0; i < h->nclasses; i++)
		if (tc->mag[i].n)
			udma__heap_flush(h, i, tc->mag[i].e, tc->mag[i].n, tc->tag);
	pthread_mutex_lock(&h->lock);
	udma__list_del(&tc->link);
	tag_give_back(h, tc->tag);
	pthread_mutex_unlock(&h->lock);
	free(tc);
}

static struct heap_tcache *tcache_create(struct udma_heap *h)
{
	struct heap_tcache *tc = calloc(1, h->tcache_bytes);
	struct heap_entry *e;
	unsigned i;

	if (!tc)
		return NULL;
	tc->heap = h;
	e = (struct heap_entry *)&tc->mag[h->nclasses];
	for (i = 0; i < h->nclasses; i++) {
		tc->mag[i].cap = h->cls[i].cap;
		tc->mag[i].e = e;
		e += h->cls[i].cap;
	}
	pthread_mutex_lock(&h->lock);
	tc->tag = tag_take(h);
	if (tc->tag && !udma__tcache_bind(&h->tcache, tc)) {
		udma__list_push(&h->tcaches, &tc->link);
	} else {
		if (tc->tag)
			tag_give_back(h, tc->tag);
		free(tc);
		tc = NULL;
	}
	pthread_mutex_unlock(&h->lock);
	return tc;
}

struct heap_tcache *udma__heap_tcache_get(struct udma_heap *h)
{
	struct heap_tcache *tc = udma__tcache_find(&h->tcache);

	return tc ? tc : tcache_create(h);
}

void udma__heap_mag_drain(struct udma_heap *h, unsigned cls, struct heap_mag *m, heap_state tag)
{
	uint32_t k = h->cls[cls].batch ? h->cls[cls].batch : 1;

	/* The oldest go: the most recently freed are the warmest in the CPU's cache. */
	udma__heap_flush(h, cls, m->e, k, tag);
	m->n -= k;
	memmove(m->e, m->e + k, m->n * sizeof(m->e[0]));
}

void udma__heap_tcaches_fini(struct udma_heap *h)
{
	while (h->tcaches.first) {
		struct heap_tcache *tc = udma__list_entry(h->tcaches.first, struct heap_tcache, link);

		udma__list_del(&tc->link);
		free(tc);
	}
}
