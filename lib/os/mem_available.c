/* SPDX-License-Identifier: MIT */
/* How much memory the kernel could still give: the bound on growing a
 * hugepage pool, so that a reservation never takes the memory everything
 * else needs. */
#include <errno.h>
#include <stdio.h>
#include <string.h>

#include "lib/os/os.h"

#define MEMINFO	 "/proc/meminfo"
#define SYS_NODE "/sys/devices/system/node"

/* Sum of the named fields ("MemFree", ...) of a meminfo file, in bytes; a
 * node's lines carry a "Node N " prefix, skipped. 0, or a negative errno. */
static int meminfo_sum(const char *path, const char *const *fields, unsigned nfields, uint64_t *out)
{
	unsigned found = 0, i;
	char line[256];
	FILE *f = fopen(path, "re");

	if (!f)
		return -errno;
	*out = 0;
	while (fgets(line, sizeof(line), f)) {
		char *p = line;
		unsigned long long kb;
		int node, skip = 0;

		if (sscanf(p, "Node %d %n", &node, &skip) == 1 && skip)
			p += skip;
		for (i = 0; i < nfields; i++) {
			size_t n = strlen(fields[i]);

			if (!strncmp(p, fields[i], n) && p[n] == ':' && sscanf(p + n + 1, "%llu", &kb) == 1) {
				*out += (uint64_t)kb << 10;
				found++;
			}
		}
	}
	fclose(f);
	return found == nfields ? 0 : -ENODATA;
}

int udma__mem_available(int node, uint64_t *bytes, char *source, size_t len)
{
	static const char *const sys_fields[] = {"MemAvailable"};
	/* Nodes have no MemAvailable: what is free, plus what the kernel can
	 * drop without writing anything back. */
	static const char *const node_fields[] = {"MemFree", "Inactive(file)", "SReclaimable"};
	char path[96];
	uint64_t on_node;
	int rc = meminfo_sum(MEMINFO, sys_fields, 1, bytes);

	if (rc)
		return udma__err(-rc, "cannot read MemAvailable from " MEMINFO ": %s", strerror(-rc));
	snprintf(source, len, "MemAvailable in " MEMINFO);
	if (node == UDMA_NUMA_ANY)
		return 0;
	snprintf(path, sizeof(path), SYS_NODE "/node%d/meminfo", node);
	rc = meminfo_sum(path, node_fields, 3, &on_node);
	if (rc)
		return udma__err(-rc, "cannot read MemFree, Inactive(file) and SReclaimable from %s: %s",
				 path, strerror(-rc));
	if (on_node < *bytes) {
		*bytes = on_node;
		snprintf(source, len, "MemFree + Inactive(file) + SReclaimable of node %d in %s", node, path);
	}
	return 0;
}
