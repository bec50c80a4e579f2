/* SPDX-License-Identifier: MIT */
/* Ring internals shared by ring.c and the ring tests (the layout is in udma/ring.h). */
#ifndef UDMA_RING_INTERNAL_H
#define UDMA_RING_INTERNAL_H

#include <stdint.h>

#include "udma_internal.h"

#define UDMA_RING_MAGIC 0x676e6972616d6475ull /* "udmaring" */

/* Tests only: move all indices of an empty ring to idx (to cross 2^32 quickly). */
UDMA_HIDDEN void udma__ring_set_index(struct udma_ring *ring, uint32_t idx);

#endif
