/* SPDX-License-Identifier: MIT */
/* What a udma device spec (uio:ADDR, vfio:ADDR, ...) asks of the context:
 * shared by udma nvme and udma nic. */
#ifndef UDMA_DEV_SPEC_H
#define UDMA_DEV_SPEC_H

#include <udma/udma.h>

/* The context options for spec: physical addresses for uio:ADDR (UIO gives
 * no IOMMU), IOMMU addresses (VA mode) for vfio:ADDR and any other device. */
void dev_spec_ctx_opts(const char *spec, struct udma_ctx_opts *co);

#endif
