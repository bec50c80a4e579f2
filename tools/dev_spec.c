/* SPDX-License-Identifier: MIT */
/* The context a udma device spec needs (dev_spec.h). */
#include <string.h>

#include "tools/dev_spec.h"

#define UIO_PREFIX "uio:"

void dev_spec_ctx_opts(const char *spec, struct udma_ctx_opts *co)
{
	bool uio = !strncmp(spec, UIO_PREFIX, strlen(UIO_PREFIX));

	*co = (struct udma_ctx_opts){.iova_mode = uio ? UDMA_IOVA_PA : UDMA_IOVA_VA,
				     .numa_node = UDMA_NUMA_ANY};
}
