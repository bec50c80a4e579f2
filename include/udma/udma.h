/* SPDX-License-Identifier: MIT */
/* udma: userspace DMA memory. Umbrella header: includes every public header. */
#ifndef UDMA_UDMA_H
#define UDMA_UDMA_H

#include <udma/version.h>
#include <udma/log.h>
#include <udma/ctx.h>
#include <udma/region.h>
#include <udma/hugepage.h>
#include <udma/pool.h>
#include <udma/heap.h>
#include <udma/sgl.h>
#include <udma/ring.h>
#include <udma/dev.h>
#include <udma/barrier.h>
#include <udma/sync.h>

#endif
