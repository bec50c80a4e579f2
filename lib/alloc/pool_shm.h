/* SPDX-License-Identifier: MIT */
/*
 * What a shared pool keeps in its region (pool_shared.c): the header, then
 * the record (a 64-bit word per object: owner, generation), then the store
 * (32-bit indices), then the objects. Changing any of it changes SHM_LAYOUT.
 */
#ifndef UDMA_POOL_SHM_H
#define UDMA_POOL_SHM_H

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

#endif
