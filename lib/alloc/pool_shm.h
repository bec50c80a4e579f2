/* SPDX-License-Identifier: MIT */
/*
 * What a shared pool keeps in its region (pool_shared.c): the header, then
 * the record (a 64-bit word per object: owner, generation), then the store
 * (32-bit indices), then the objects. Changing any of it changes SHM_LAYOUT.
 */
#ifndef UDMA_POOL_SHM_H
#define UDMA_POOL_SHM_H

#include <limits.h>
#include <stdatomic.h>

#include "lib/alloc/pool_internal.h"

/* The record's 64-bit words are updated by several processes at once: only
 * lock-free atomics are address-free (32-bit ARM: ARMv7's ldrexd/strexd). */
_Static_assert(ATOMIC_LLONG_LOCK_FREE == 2, "shared pools need lock-free 64-bit atomics");

#define SHM_MAGIC  "udmapool"
#define SHM_LAYOUT 1u /* changes with any change to what is shared */

/* A record word: owner (0: in the store, k: the process in slot k - 1),
 * whether it sits in its owner's cache (put and not got since), and a
 * generation that changes each time it leaves the store. */
#define OWNER_BITS 16
#define OWNER_MASK ((1ull << OWNER_BITS) - 1)
#define IN_CACHE   (1ull << OWNER_BITS)
#define GEN_SHIFT  32

enum { SLOT_FREE = 0, SLOT_USED = 1 };

struct pool_shm_slot {
	uint32_t state;
	int32_t pid; /* for messages */
};

struct pool_shm {
	char magic[8];
	uint32_t layout;
	uint32_t head_size; /* sizeof(struct pool_shm): catches another ABI */
	uint64_t obj_size, align, stride;
	uint32_t count, cache_size;
	uint64_t meta_off, store_off, objs_off;
	char name[48];
	/* The store's lock: 0, or the holder's slot + 1. A plain word, not a
	 * pthread mutex: glibc follows pointers kept inside a robust mutex, so a
	 * peer writing one could make this process write where it chose. */
	uint32_t lock __attribute__((aligned(UDMA_CACHE_LINE)));
	uint32_t top; /* the store: sidx[0, top) */
	struct pool_shm_slot slot[UDMA_POOL_SHARED_MAX];
};

/* udma_pool_index for a shared pool's put: one segment, mostly regular (a
 * shift for a power-of-two stride); UINT_MAX if obj is not an object. */
static inline unsigned udma__shm_index(const struct udma_pool *p, const void *obj)
{
	const struct pool_seg *s = &p->seg[0];
	size_t off = (size_t)((uintptr_t)obj - (uintptr_t)s->base) - s->first_off;

	if (udma__likely(!s->obj_off && p->stride_pow2 && !(off & (p->stride - 1))))
		return (off >> p->stride_shift) < s->count ? (unsigned)(off >> p->stride_shift) : UINT_MAX;
	return udma_pool_index(p, obj);
}

/* A put of an object out with this process, into a cache with room: the
 * record marks it in the cache. False for anything else (the slow path sorts
 * it out: another process's, already put, not an object). A store, not a
 * compare-and-swap (a third of the cost of a put): the only other writer of
 * the word of an object out with a live process is a process it was handed
 * to, claiming or putting it, and a sender that also puts what it handed on
 * has put it twice whichever write lands last. */
static inline bool udma__shm_put_mine(const struct udma_pool *p, const void *obj)
{
	unsigned i = udma__shm_index(p, obj);
	uint64_t m;

	if (udma__unlikely(i >= p->count))
		return false;
	m = atomic_load_explicit(&p->meta[i], memory_order_relaxed);
	if ((m & (OWNER_MASK | IN_CACHE)) != p->slot + 1u)
		return false;
	atomic_store_explicit(&p->meta[i], m | IN_CACHE, memory_order_relaxed);
	return true;
}

/* A get from this process's cache: the object is out now, on a new trip (a
 * new generation: handles of the last one are stale). No other process
 * writes the word of an object in a live process's cache (claims and puts
 * wait for it to be out), so a store does. */
static inline void udma__shm_got(const struct udma_pool *p, void *const *objs, unsigned n)
{
	unsigned k;

	for (k = 0; k < n; k++) {
		unsigned i = udma__shm_index(p, objs[k]);

		if (udma__likely(i < p->count)) {
			uint64_t m = atomic_load_explicit(&p->meta[i], memory_order_relaxed);

			atomic_store_explicit(&p->meta[i], (m + (1ull << GEN_SHIFT)) & ~IN_CACHE,
					      memory_order_relaxed);
		}
	}
}

#endif
