/* SPDX-License-Identifier: MIT */
/*
 * lib/ring: lock-free rings of pointers, of one's own or laid out in memory
 * other processes share (the manual is include/udma/ring.h; the handle
 * and the inlined fast paths are in include/udma/ring_impl.h). Uses lib/os and lib/base only: a ring knows nothing
 * of contexts or regions. This header: what ring.c and the ring tests share.
 */
#ifndef UDMA_RING_INTERNAL_H
#define UDMA_RING_INTERNAL_H

#include <stdint.h>

#include "lib/os/os.h"

#define UDMA_RING_MAGIC 0x676e6972616d6475ull /* "udmaring" */
/* The version of struct udma_ring_shared (an older udma's ring reads 0); the
 * slots are pointers, so a 32-bit process's ring says so (4-byte slots) and
 * a process of the other word size refuses it instead of misreading it. */
#define UDMA_RING_LAYOUT_32 0x400u
#define UDMA_RING_LAYOUT    (2u | (sizeof(void *) == 4 ? UDMA_RING_LAYOUT_32 : 0u))

/* Counts fit the int the calls return, and a ring's size a 32-bit size_t. */
#define RING_MAX_LOG   (sizeof(void *) >= 8 ? 30u : 28u)
#define RING_MAX_COUNT (1u << RING_MAX_LOG)

/* Tests only: move all indices of an empty ring to idx (to cross 2^32 quickly). */
UDMA_HIDDEN void udma__ring_set_index(struct udma_ring *ring, uint32_t idx);
/* Tests only: how long a multi-producer (consumer) call waits for an earlier
 * claim to be published before it fails with -ETIMEDOUT; 0 restores 5 s. */
UDMA_HIDDEN void udma__ring_set_stall_ms(unsigned ms);

#endif
