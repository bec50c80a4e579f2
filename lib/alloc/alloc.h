/* SPDX-License-Identifier: MIT */
/*
 * lib/alloc: what pools and the heap share. Pools (pool*.c) carve a region
 * into fixed-size objects with per-thread caches; the heap (heap*.c) serves
 * udma_malloc from size classes and large blocks; both keep their per-thread
 * caches through thread_cache.c. Uses lib/mem (regions, the context's
 * teardown list), lib/os and lib/base.
 */
#ifndef UDMA_ALLOC_H
#define UDMA_ALLOC_H

#include <stdatomic.h>

#include "lib/alloc/thread_cache.h"
#include "lib/base/list.h"
#include "lib/mem/mem.h"

/* The context's state slots of pools and of the heap (udma__ctx_state). */
#define UDMA_CTX_SLOT_POOLS 0
#define UDMA_CTX_SLOT_HEAP  1

/* Relaxed load and store of an _Atomic field: plain moves, but no data race
 * with readers in other threads. */
#define udma__load_relaxed(p)	  atomic_load_explicit((p), memory_order_relaxed)
#define udma__store_relaxed(p, v) atomic_store_explicit((p), (v), memory_order_relaxed)
/* Add to a counter only the calling thread writes (others may read it): no
 * locked instruction. */
#define udma__count_own(p, n) udma__store_relaxed((p), udma__load_relaxed(p) + (n))

#endif
