/* SPDX-License-Identifier: MIT */
/*
 * lib/alloc: what pools and the heap share. Pools (pool*.c) carve a region
 * into fixed-size objects with per-thread caches; the heap (heap*.c) serves
 * udma_malloc from size classes and large blocks. Uses lib/mem (regions, the
 * context's teardown list), lib/os and lib/base.
 */
#ifndef UDMA_ALLOC_H
#define UDMA_ALLOC_H

#include "lib/mem/mem.h"

/* alloc_fork.c: before the first pool layer or heap: a forked child forgets
 * the per-thread memos. call names the public call for the error. */
UDMA_HIDDEN int udma__alloc_fork_watch(const char *call);

#endif
