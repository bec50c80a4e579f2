/* SPDX-License-Identifier: MIT */
/*
 * What a shared pool keeps in its region (pool_shared.c): the header, then
 * the record (a 64-bit word per object: owner, generation), then the store
 * (32-bit indices), then the objects. Changing any of it changes SHM_LAYOUT.
 */
#ifndef UDMA_POOL_SHM_H
#define UDMA_POOL_SHM_H

#include <limits.h>
#include <pthread.h>

#include "lib/alloc/pool_internal.h"

#define SHM_MAGIC  "udmapool"
#define SHM_LAYOUT 1u /* changes with any change to what is shared */

#define OWNER_BITS 16
#define OWNER_MASK ((1ull << OWNER_BITS) - 1)
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
	pthread_mutex_t lock __attribute__((aligned(UDMA_CACHE_LINE)));
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

/* The record says obj is this process's: a put needs no more checks. */
static inline bool udma__shm_mine(const struct udma_pool *p, const void *obj)
{
	unsigned i = udma__shm_index(p, obj);

	return i < p->count &&
	       (atomic_load_explicit(&p->meta[i], memory_order_relaxed) & OWNER_MASK) == p->slot + 1;
}

#endif
