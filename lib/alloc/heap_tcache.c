/* SPDX-License-Identifier: MIT */
/*
 * Per-thread caches of the small classes: one magazine (a stack of slab
 * slots) per class, behind a pthread key of the context's heap, and found in
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

__thread struct heap_tls udma__heap_tls __attribute__((tls_model("initial-exec")));

/* Heap generations: unique for the life of the process (the validity tag of
 * udma__heap_tls, see struct heap_tls). */
static _Atomic uint64_t next_gen = 1;

uint64_t udma__heap_new_gen(void)
{
	return atomic_fetch_add_explicit(&next_gen, 1, memory_order_relaxed);
}

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

static void tcache_unlink(struct udma_heap *h, struct heap_tcache *tc)
{
	if (tc->prev)
		tc->prev->next = tc->next;
	else
		h->tcaches = tc->next;
	if (tc->next)
		tc->next->prev = tc->prev;
	h->tags[tc->tag / 64] &= ~(1ull << (tc->tag % 64));
}

void udma__heap_tcache_exit(void *arg)
{
	struct heap_tcache *tc = arg;
	struct udma_heap *h = tc->heap;
	unsigned i;

	if (h->forks != udma__forks)
		return; /* a forked child's thread: the cache is the parent's copy */

	/* Runs in the exiting thread: a later udma_malloc in another destructor
	 * finds no cache and makes a new one (which the key destroys again). */
	if (udma__heap_tls.tc == tc)
		udma__heap_tls.gen = 0;
	for (i = 0; i < h->nclasses; i++)
		if (tc->mag[i].n)
			udma__heap_flush(h, i, tc->mag[i].e, tc->mag[i].n, tc->tag);
	pthread_mutex_lock(&h->lock);
	tcache_unlink(h, tc);
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
	if (tc->tag && !pthread_setspecific(h->key, tc)) {
		tc->next = h->tcaches;
		if (h->tcaches)
			h->tcaches->prev = tc;
		h->tcaches = tc;
	} else {
		if (tc->tag)
			h->tags[tc->tag / 64] &= ~(1ull << (tc->tag % 64));
		free(tc);
		tc = NULL;
	}
	pthread_mutex_unlock(&h->lock);
	return tc;
}

struct heap_tcache *udma__heap_tcache_get(struct udma_heap *h)
{
	struct heap_tcache *tc = pthread_getspecific(h->key);

	if (!tc && !(tc = tcache_create(h)))
		return NULL;
	udma__heap_tls.gen = h->gen;
	udma__heap_tls.tc = tc;
	return tc;
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
	struct heap_tcache *tc;

	while ((tc = h->tcaches)) {
		h->tcaches = tc->next;
		free(tc);
	}
}
