/* SPDX-License-Identifier: MIT */
/* udma_free misuse: one line in the log (udma_set_log) and in udma_last_error(), and nothing else happens. */
#include <errno.h>
#include <stdio.h>

#include "lib/alloc/heap_internal.h"

static const struct heap_owner *owner_of(const struct udma_region *r)
{
	uintptr_t o = (uintptr_t)atomic_load_explicit(&r->owner, memory_order_acquire);

	return (o & HEAP_OWNER_MASK) == HEAP_OWNER_TAG ? (const struct heap_owner *)(o - HEAP_OWNER_TAG)
						       : NULL;
}

/* The object holding ptr: its start and size (a slab slot or a large allocation). */
static void object_at(const struct heap_owner *o, const void *ptr, const void **start, size_t *size)
{
	if (o->kind == HEAP_KIND_SLAB) {
		const struct heap_slab *s = (const struct heap_slab *)o;
		size_t off = (size_t)((const uint8_t *)ptr - s->base);

		*start = s->base + off / s->stride * s->stride;
		*size = s->stride;
	} else {
		const struct heap_large *l = (const struct heap_large *)o;

		*start = l->region->addr;
		*size = l->size;
	}
}

void udma__heap_bad_free(const void *ptr, const struct udma_region *r, enum heap_bad why)
{
	const struct heap_owner *o = r ? owner_of(r) : NULL;
	const void *start = NULL;
	size_t size = 0;
	char sz[32];

	if (o)
		object_at(o, ptr, &start, &size);
	udma__fmt_size(size, sz, sizeof(sz));
	switch (why) {
	case HEAP_BAD_NO_CTX:
		udma__err(EINVAL, "udma_free(%p): ctx is NULL; pass the context the pointer came from", ptr);
		break;
	case HEAP_BAD_NOT_OURS:
		udma__err(EINVAL,
			  "udma_free(%p): not in this context's heap (another context's, from malloc or the "
			  "stack, or a large allocation already freed); ignored",
			  ptr);
		break;
	case HEAP_BAD_NOT_HEAP:
		udma__err(EINVAL,
			  "udma_free(%p): in region '%s', which the heap does not own (a pool's object or a "
			  "region of its own: use udma_pool_put or udma_region_destroy); ignored",
			  ptr, r ? r->name : "?");
		break;
	case HEAP_BAD_INTERIOR:
		udma__err(
			EINVAL,
			"udma_free(%p): interior pointer, %zu bytes into the %s heap object at %p: pass the "
			"pointer udma_malloc returned; ignored",
			ptr, (size_t)((const uint8_t *)ptr - (const uint8_t *)start), sz, start);
		break;
	case HEAP_BAD_SLACK:
		udma__err(
			EINVAL,
			"udma_free(%p): inside a heap slab of %s objects but at no object (never allocated); "
			"ignored",
			ptr, sz);
		break;
	case HEAP_BAD_DOUBLE:
		udma__err(EINVAL, "udma_free(%p): double free of a %s heap object (already free); ignored",
			  ptr, sz);
		break;
	}
	udma__log(UDMA_LOG_ERR, "%s", udma_last_error());
}
