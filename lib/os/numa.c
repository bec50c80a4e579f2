/* SPDX-License-Identifier: MIT */
/* NUMA placement: bind before the first touch (mbind), check after (move_pages). */
#include <errno.h>
#include <numa.h>
#include <numaif.h>
#include <string.h>

#include "lib/os/os.h"

#define MASK_BITS 1024

int udma_numa_nodes(void)
{
	return numa_available() < 0 ? 1 : numa_max_node() + 1;
}

int udma__numa_check_node(int node)
{
	int max = udma_numa_nodes() - 1;

	if (node == UDMA_NUMA_ANY)
		return 0;
	if (node < 0 || node > max || node >= MASK_BITS ||
	    (numa_available() >= 0 && !numa_bitmask_isbitset(numa_all_nodes_ptr, (unsigned)node)))
		return udma__err(EINVAL,
				 "NUMA node %d does not exist: this machine has node%s 0%s%.0d "
				 "(see `udma info`; use UDMA_NUMA_ANY for any)",
				 node, max ? "s" : "", max ? "-" : "", max);
	return 0;
}

int udma__numa_bind(void *addr, size_t len, int node)
{
	unsigned long mask[MASK_BITS / (8 * sizeof(unsigned long))] = {0};

	if (node == UDMA_NUMA_ANY || numa_available() < 0)
		return 0;
	mask[(unsigned)node / (8 * sizeof(unsigned long))] |=
		1ul << ((unsigned)node % (8 * sizeof(unsigned long)));
	if (mbind(addr, len, MPOL_BIND, mask, MASK_BITS + 1, MPOL_MF_STRICT) < 0)
		return udma__err(errno, "mbind to NUMA node %d failed: %s", node, udma__vm_strerror(errno));
	return 0;
}

int udma__numa_verify(void *addr, size_t page_size, size_t npages, int node)
{
	enum { BATCH = 512 };
	void *pages[BATCH];
	int status[BATCH];
	size_t i = 0;

	if (node == UDMA_NUMA_ANY || numa_available() < 0)
		return 0;
	while (i < npages) {
		unsigned n = npages - i < BATCH ? (unsigned)(npages - i) : BATCH, j;

		for (j = 0; j < n; j++)
			pages[j] = (char *)addr + (i + j) * page_size;
		if (move_pages(0, n, pages, NULL, status, 0) < 0)
			return udma__err(errno, "move_pages (NUMA check) failed: %s", strerror(errno));
		for (j = 0; j < n; j++)
			if (status[j] != node)
				return udma__err(status[j] < 0 ? -status[j] : ENOMEM,
						 "page %zu landed %s%d instead of NUMA node %d: "
						 "node %d has too little free memory%s",
						 i + j, status[j] < 0 ? "with error -" : "on node ",
						 status[j] < 0 ? -status[j] : status[j], node, node,
						 page_size > UDMA_PAGE_4K ? " or no free hugepages" : "");
		i += n;
	}
	return 0;
}
