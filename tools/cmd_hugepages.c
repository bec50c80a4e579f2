/* SPDX-License-Identifier: MIT */
/* udma hugepages: show, reserve and release hugepages. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <udma/udma.h>

#include "cli.h"

static int usage(void)
{
	fprintf(stderr, "usage: udma hugepages [--json] --status\n"
			"       udma hugepages --reserve SIZE [--page-size 2M|1G] [--node N]\n"
			"       udma hugepages --release [--page-size 2M|1G] [--node N]\n");
	return 2;
}

static void status_line(size_t ps, int node, bool json, bool *first)
{
	struct udma_hugepage_count c;
	char sz[32];

	if (udma_hugepage_count(ps, node, &c))
		return;
	if (json)
		printf("%s{\"page_size\":%zu,\"node\":%d,\"total\":%lu,\"free\":%lu,\"reserved\":%lu,"
		       "\"surplus\":%lu}",
		       *first ? "" : ",", ps, node, c.total, c.free, c.reserved, c.surplus);
	else
		printf("%-8s %-5s %8lu %8lu %8lu %8lu\n", cli_size(ps, sz, sizeof(sz)),
		       node == UDMA_NUMA_ANY ? "all" : "", c.total, c.free, c.reserved, c.surplus);
	*first = false;
}

static int status(bool json)
{
	size_t sizes[8];
	int n = udma_hugepage_sizes(sizes, 8), i, node;
	bool first = true;

	if (n < 0) {
		fprintf(stderr, "udma: %s\n", udma_last_error());
		return 1;
	}
	if (json)
		printf("[");
	else
		printf("%-8s %-5s %8s %8s %8s %8s\n", "size", "node", "total", "free", "reserved", "surplus");
	for (i = 0; i < n && i < 8; i++) {
		status_line(sizes[i], UDMA_NUMA_ANY, json, &first);
		for (node = 0; udma_numa_nodes() > 1 && node < udma_numa_nodes(); node++)
			status_line(sizes[i], node, json, &first);
	}
	if (json)
		printf("]\n");
	return 0;
}

/* Make at least `bytes` of page_size pages free (adding to what is there). */
static int reserve(size_t bytes, size_t ps, int node)
{
	struct udma_hugepage_count c;
	unsigned long want = (unsigned long)((bytes + ps - 1) / ps);
	long avail = udma_hugepage_available(ps, node), got;
	char sz[32];

	if (avail < 0 || udma_hugepage_count(ps, node, &c)) {
		fprintf(stderr, "udma: %s\n", udma_last_error());
		return 1;
	}
	if ((unsigned long)avail >= want) {
		printf("%lu %s pages already free (%ld available)\n", want, cli_size(ps, sz, sizeof(sz)),
		       avail);
		return 0;
	}
	got = udma_hugepage_set_total(ps, node, c.total + want - (unsigned long)avail);
	if (got < 0) {
		fprintf(stderr, "udma: %s\n", udma_last_error());
		return 1;
	}
	avail = udma_hugepage_available(ps, node);
	if (avail < (long)want) {
		fprintf(stderr,
			"udma: the kernel gave only %ld of %lu free %s pages (memory is fragmented): "
			"reserve at boot with hugepagesz=%s hugepages=%lu, or drop caches and retry\n",
			avail, want, cli_size(ps, sz, sizeof(sz)), ps == UDMA_PAGE_1G ? "1G" : "2M", want);
		return 1;
	}
	printf("reserved: %ld %s pages free (total %ld)\n", avail, cli_size(ps, sz, sizeof(sz)), got);
	return 0;
}

static int release(size_t ps, int node)
{
	char sz[32];
	long got = udma_hugepage_set_total(ps, node, 0);

	if (got < 0) {
		fprintf(stderr, "udma: %s\n", udma_last_error());
		return 1;
	}
	printf("released: %s pages now %ld%s\n", cli_size(ps, sz, sizeof(sz)), got,
	       got ? " (those still in use stay until unmapped)" : "");
	return 0;
}

int cmd_hugepages(int argc, char **argv)
{
	enum { NONE, STATUS, RESERVE, RELEASE } op = NONE;
	size_t bytes = 0, ps = UDMA_PAGE_2M;
	bool json = false;
	int node = UDMA_NUMA_ANY, i;
	char *end;

	for (i = 1; i < argc; i++) {
		const char *a = argv[i], *v = i + 1 < argc ? argv[i + 1] : NULL;

		if (!strcmp(a, "--json")) {
			json = true;
		} else if (!strcmp(a, "--status")) {
			op = STATUS;
		} else if (!strcmp(a, "--release")) {
			op = RELEASE;
		} else if (!strcmp(a, "--reserve") && v) {
			op = RESERVE;
			if (udma_parse_size(v, &bytes) || !bytes)
				return fprintf(stderr, "udma: --reserve: %s\n", udma_last_error()), 2;
			i++;
		} else if (!strcmp(a, "--page-size") && v) {
			if (udma_parse_size(v, &ps) || (ps != UDMA_PAGE_2M && ps != UDMA_PAGE_1G))
				return fprintf(stderr, "udma: --page-size takes 2M or 1G\n"), 2;
			i++;
		} else if (!strcmp(a, "--node") && v) {
			node = (int)strtol(v, &end, 10);
			if (*end || node < 0 || node >= udma_numa_nodes())
				return fprintf(stderr,
					       "udma: --node %s: no such NUMA node (this machine has %d)\n",
					       v, udma_numa_nodes()),
				       2;
			i++;
		} else {
			return usage();
		}
	}
	switch (op) {
	case RESERVE: return reserve(bytes, ps, node);
	case RELEASE: return release(ps, node);
	case STATUS:
	case NONE: break;
	}
	return status(json);
}
