/* SPDX-License-Identifier: MIT */
/*
 * Lock-free rings: creation, and the exported enqueue/dequeue functions for
 * callers that do not inline them (other languages, C++, UDMA_RING_NO_INLINE).
 * The algorithm and its memory orderings are in udma/ring.h, where C callers
 * inline it.
 */
/* Declare the exported functions instead of the inline ones. */
#define UDMA_RING_NO_INLINE 1

#include <errno.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/prctl.h>

#include "ring_internal.h"

#define RING_MAX_COUNT (1u << 31)
#define RING_FLAGS     (UDMA_RING_SP_ENQ | UDMA_RING_SC_DEQ)

#ifndef UDMA_RING_HAVE_LAYOUT
#error "the ring needs C11 atomics (build with -std=gnu11)"
#endif

_Static_assert(offsetof(struct udma_ring, cons) - offsetof(struct udma_ring, prod) >= UDMA_RING_ALIGN,
	       "producer and consumer state share a line pair");
_Static_assert(offsetof(struct udma_ring, slots) - offsetof(struct udma_ring, cons.tail) >= UDMA_RING_ALIGN,
	       "consumer tail and slots share a line pair");
_Static_assert(offsetof(struct udma_ring_side, tail) >= UDMA_RING_ALIGN,
	       "a side's head and tail share a line pair");

/*
 * Out of line, the several-producer (consumer) path is a function of its own
 * and the single one is inlined in each entry point: the two do not share
 * registers, and the single path saves none on the stack. One object, the
 * common call, gets a copy of each path with n known (no copy loop).
 */
static __attribute__((noinline)) unsigned enqueue_mp(struct udma_ring *r, void *const *objs, unsigned n,
						     bool burst)
{
	if (n == 1)
		return udma_ring__enqueue_t(r, objs, 1, burst, true);
	return udma_ring__enqueue_t(r, objs, n, burst, true);
}

static __attribute__((noinline)) unsigned dequeue_mc(struct udma_ring *r, void **objs, unsigned n, bool burst)
{
	if (n == 1)
		return udma_ring__dequeue_t(r, objs, 1, burst, true);
	return udma_ring__dequeue_t(r, objs, n, burst, true);
}

static inline __attribute__((always_inline)) unsigned enqueue(struct udma_ring *r, void *const *objs,
							      unsigned n, bool burst)
{
	if (!r->prod.single)
		return enqueue_mp(r, objs, n, burst);
	if (n == 1)
		return udma_ring__enqueue_t(r, objs, 1, burst, false);
	return udma_ring__enqueue_t(r, objs, n, burst, false);
}

static inline __attribute__((always_inline)) unsigned dequeue(struct udma_ring *r, void **objs, unsigned n,
							      bool burst)
{
	if (!r->cons.single)
		return dequeue_mc(r, objs, n, burst);
	if (n == 1)
		return udma_ring__dequeue_t(r, objs, 1, burst, false);
	return udma_ring__dequeue_t(r, objs, n, burst, false);
}

__attribute__((hot)) unsigned udma_ring_enqueue_bulk(struct udma_ring *ring, void *const *objs, unsigned n)
{
	return enqueue(ring, objs, n, false);
}

__attribute__((hot)) unsigned udma_ring_enqueue_burst(struct udma_ring *ring, void *const *objs, unsigned n)
{
	return enqueue(ring, objs, n, true);
}

__attribute__((hot)) unsigned udma_ring_dequeue_bulk(struct udma_ring *ring, void **objs, unsigned n)
{
	return dequeue(ring, objs, n, false);
}

__attribute__((hot)) unsigned udma_ring_dequeue_burst(struct udma_ring *ring, void **objs, unsigned n)
{
	return dequeue(ring, objs, n, true);
}

unsigned udma_ring_count(const struct udma_ring *ring)
{
	/* Acquire pairs with the consumers' release of cons.tail: the prod.tail
	 * they saw (at least cons.tail) is visible, so the difference is not
	 * negative. prod.tail may have moved on since: clamp to the capacity. */
	uint32_t ctail = atomic_load_explicit(&ring->cons.tail, memory_order_acquire);
	uint32_t used = atomic_load_explicit(&ring->prod.tail, memory_order_relaxed) - ctail;

	return used < ring->prod.capacity ? used : ring->prod.capacity;
}

unsigned udma_ring_capacity(const struct udma_ring *ring)
{
	return ring->prod.capacity;
}

static int check_args(const char *fn, unsigned count, unsigned flags)
{
	if (!count || (count & (count - 1)) || count > RING_MAX_COUNT)
		return udma__err(EINVAL, "%s: count %u is not a power of two from 1 to 2^31; round it up", fn,
				 count);
	if (flags & ~RING_FLAGS)
		return udma__err(EINVAL,
				 "%s: unknown flags 0x%x; use 0, UDMA_RING_SP_ENQ and/or UDMA_RING_SC_DEQ",
				 fn, flags & ~RING_FLAGS);
	return 0;
}

static size_t ring_size(unsigned count)
{
	return sizeof(struct udma_ring) + (size_t)count * sizeof(void *);
}

ssize_t udma_ring_memsize(unsigned count)
{
	int rc = check_args("udma_ring_memsize", count, 0);

	return rc ? rc : (ssize_t)ring_size(count);
}

static void side_init(struct udma_ring_side *s, unsigned count, bool single)
{
	atomic_init(&s->head, 0);
	atomic_init(&s->tail, 0);
	s->other = 0;
	s->mask = count - 1;
	s->capacity = count;
	s->single = single;
}

static struct udma_ring *ring_init(void *mem, unsigned count, unsigned flags, size_t map_len)
{
	struct udma_ring *r = mem;

	memset(r, 0, sizeof(*r));
	r->magic = UDMA_RING_MAGIC;
	r->map_len = map_len;
	r->flags = flags;
	side_init(&r->prod, count, flags & UDMA_RING_SP_ENQ);
	side_init(&r->cons, count, flags & UDMA_RING_SC_DEQ);
	/* Publish the initialised ring to whoever gets the pointer from us
	 * through a relaxed channel; a release fence costs nothing here. */
	atomic_thread_fence(memory_order_release);
	return r;
}

int udma_ring_init(void *mem, size_t len, unsigned count, unsigned flags, struct udma_ring **out)
{
	int rc;

	if (!out)
		return udma__err_const(EINVAL,
				       "udma_ring_init: out is NULL; pass the address of a ring pointer");
	*out = NULL;
	rc = check_args("udma_ring_init", count, flags);
	if (rc)
		return rc;
	if (!mem || (uintptr_t)mem % UDMA_RING_ALIGN)
		return udma__err(EINVAL, "udma_ring_init: memory at %p is not aligned to %d bytes; align it",
				 mem, UDMA_RING_ALIGN);
	if (len < ring_size(count))
		return udma__err(EINVAL,
				 "udma_ring_init: %zu bytes for %u slots; it needs udma_ring_memsize() = %zu",
				 len, count, ring_size(count));
	*out = ring_init(mem, count, flags, 0);
	return 0;
}

int udma_ring_create(unsigned count, unsigned flags, struct udma_ring **out)
{
	size_t len;
	void *mem;
	int rc;

	if (!out)
		return udma__err_const(EINVAL,
				       "udma_ring_create: out is NULL; pass the address of a ring pointer");
	*out = NULL;
	rc = check_args("udma_ring_create", count, flags);
	if (rc)
		return rc;
	/* mmap, not malloc: page aligned (so 128), and no mixing with malloc's heap. */
	len = ring_size(count);
	mem = mmap(NULL, len, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
	if (mem == MAP_FAILED)
		return udma__err(
			ENOMEM,
			"udma_ring_create: cannot map %zu bytes for %u slots: %s; use a smaller count", len,
			count, strerror(errno));
	*out = ring_init(mem, count, flags, len);
	return 0;
}

void udma_ring_destroy(struct udma_ring *ring)
{
	if (!ring || !ring->map_len)
		return;
	ring->magic = 0;
	munmap(ring, ring->map_len);
}

void udma__ring_set_index(struct udma_ring *ring, uint32_t idx)
{
	struct udma_ring_side *s[2] = {&ring->prod, &ring->cons};
	unsigned i;

	for (i = 0; i < 2; i++) {
		atomic_store_explicit(&s[i]->head, idx, memory_order_relaxed);
		atomic_store_explicit(&s[i]->tail, idx, memory_order_relaxed);
		s[i]->other = idx;
	}
	atomic_thread_fence(memory_order_release);
}
