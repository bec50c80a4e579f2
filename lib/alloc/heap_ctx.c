/* SPDX-License-Identifier: MIT */
/* The heap of a context: created on the first udma_malloc, torn down (with a
 * report of what was never freed) by udma_ctx_destroy. */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "lib/alloc/heap_internal.h"

static void heap_free(struct udma_heap *h)
{
	unsigned i;

	for (i = 0; i < h->nclasses; i++)
		pthread_mutex_destroy(&h->cls[i].lock);
	pthread_mutex_destroy(&h->lock);
	free(h);
}

/* A forked child's copy: free the bookkeeping, report nothing, read no slab
 * (the memory is not mapped here). If another thread held one of the locks at
 * the fork its lists may be half-updated: then leave them. */
static void heap_release_inherited(struct udma_heap *h)
{
	bool whole = !pthread_mutex_trylock(&h->lock);
	unsigned i;

	for (i = 0; whole && i < h->nclasses; i++)
		whole = !pthread_mutex_trylock(&h->cls[i].lock);
	if (whole) {
		udma__heap_tcaches_fini(h);
		udma__heap_classes_fini(h);
		udma__heap_large_fini(h);
	}
	free(h);
}

/* udma_ctx_destroy: report what is still allocated, give every region back. */
static void heap_teardown(struct udma_ctx *ctx __attribute__((unused)), void *state, bool inherited)
{
	struct udma_heap *h = state;
	struct udma__heap_stats st;

	/* Threads still alive keep no reference: their cache goes with the key. */
	udma__tcache_owner_fini(&h->tcache);
	if (inherited) {
		heap_release_inherited(h);
		return;
	}
	memset(&st, 0, sizeof(st));
	udma__heap_classes_stats(h, &st);
	udma__heap_large_stats(h, &st);
	if (st.live + st.large) {
		char total[32], one[32];

		udma__log(UDMA_LOG_WARN,
			  "heap: %zu allocation%s (%s) never freed before udma_ctx_destroy, e.g. %p "
			  "(%s); "
			  "freeing them now",
			  st.live + st.large, st.live + st.large == 1 ? "" : "s",
			  udma__fmt_size(st.live_bytes + st.large_bytes, total, sizeof(total)), st.example,
			  udma__fmt_size(st.example_size, one, sizeof(one)));
	}
	udma__heap_tcaches_fini(h);
	udma__heap_classes_fini(h);
	udma__heap_large_fini(h);
	heap_free(h);
}

static size_t heap_threshold(const struct udma_ctx *ctx)
{
	size_t t = ctx->opts.heap_large_threshold;

	if (!t)
		return HEAP_DEFAULT_THRESHOLD;
	return t < HEAP_MAX_THRESHOLD ? t : HEAP_MAX_THRESHOLD;
}

static struct udma_heap *heap_new(struct udma_ctx *ctx)
{
	struct udma_heap *h;
	int rc;

	if (posix_memalign((void **)&h, UDMA_CACHE_LINE, sizeof(*h)))
		return udma__heap_fail(
			udma__err(ENOMEM, "udma_malloc: out of memory for the heap of a context"));
	memset(h, 0, sizeof(*h));
	h->ctx = ctx;
	h->pa = ctx->mode == UDMA_IOVA_PA;
	h->threshold = heap_threshold(ctx);
	/* Every region starts on a 2 MiB boundary, and on its page size beyond. */
	h->max_align = ctx->opts.page_size > UDMA_PAGE_2M ? ctx->opts.page_size : UDMA_PAGE_2M;
	rc = udma__tcache_owner_init(&h->tcache, TCACHE_HEAP, ctx, udma__heap_tcache_exit, "udma_malloc");
	if (rc) {
		free(h);
		return udma__heap_fail(rc);
	}
	udma__heap_classes_init(h);
	pthread_mutex_init(&h->lock, NULL);
	return h;
}

struct udma_heap *udma__heap_create(struct udma_ctx *ctx)
{
	struct udma_heap *h;

	int rc = udma__ctx_lock(ctx, "udma_malloc");

	if (rc)
		return udma__heap_fail(rc);
	h = udma__ctx_state(ctx, UDMA_CTX_SLOT_HEAP);
	if (!h && (h = heap_new(ctx)) &&
	    (rc = udma__ctx_state_install(ctx, UDMA_CTX_SLOT_HEAP, h, heap_teardown))) {
		udma__tcache_owner_fini(&h->tcache);
		heap_free(h);
		h = udma__heap_fail(rc);
	}
	pthread_mutex_unlock(&ctx->lock);
	return h;
}

int udma__heap_stats(struct udma_ctx *ctx, struct udma__heap_stats *st)
{
	struct udma_heap *h = ctx ? udma__ctx_state(ctx, UDMA_CTX_SLOT_HEAP) : NULL;

	memset(st, 0, sizeof(*st));
	if (!h)
		return 0;
	udma__heap_classes_stats(h, st);
	udma__heap_large_stats(h, st);
	return 0;
}
