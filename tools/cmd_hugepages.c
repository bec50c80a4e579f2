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
			"       udma hugepages [--json] --reserve SIZE [--page-size SIZE] [--node N]\n"
			"       udma hugepages [--json] --release [--page-size SIZE] [--node N]\n"
			"SIZE: 64M, 1G, ...; --page-size: one the kernel offers (udma info), default 2M\n");
	return 2;
}

static int fail(void)
{
	fprintf(stderr, "udma: %s\n", udma_last_error());
	return 1;
}

static void status_line(size_t ps, int node, bool json, bool *first)
{
	struct udma_hugepage_count c;
	char sz[32], where[16], resv[24] = "-";

	if (udma_hugepage_count(ps, node, &c))
		return;
	if (json) {
		printf("%s{\"page_size\":%zu,\"node\":%d,\"total\":%lu,\"free\":%lu,\"reserved\":%lu,"
		       "\"surplus\":%lu}",
		       *first ? "" : ",", ps, node, c.total, c.free, c.reserved, c.surplus);
	} else {
		snprintf(where, sizeof(where), node == UDMA_NUMA_ANY ? "all" : "%d", node);
		if (node == UDMA_NUMA_ANY) /* reserved is only counted system-wide */
			snprintf(resv, sizeof(resv), "%lu", c.reserved);
		printf("%-8s %-5s %8lu %8lu %8s %8lu\n", cli_size(ps, sz, sizeof(sz)), where, c.total, c.free,
		       resv, c.surplus);
	}
	*first = false;
}

static int status(bool json)
{
	size_t sizes[8];
	int n = udma_hugepage_sizes(sizes, 8), i, node;
	bool first = true;

	if (n < 0)
		return fail();
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

static void report(bool json, const char *op, size_t ps, int node, long total, long avail)
{
	char sz[32];

	if (json)
		printf("{\"op\":\"%s\",\"page_size\":%zu,\"node\":%d,\"total\":%ld,\"available\":%ld}\n", op,
		       ps, node, total, avail);
	else
		printf("%s: %s pages: total %ld, available %ld%s\n", op, cli_size(ps, sz, sizeof(sz)), total,
		       avail,
		       total > avail && !strcmp(op, "released") ? " (pages in use stay until unmapped)" : "");
}

/* Make at least `bytes` of page_size pages available, adding to what is there. */
static int reserve(bool json, size_t bytes, size_t ps, int node)
{
	struct udma_hugepage_count c;

	if (udma_hugepage_reserve(ps, node, (unsigned long)((bytes + ps - 1) / ps), NULL) ||
	    udma_hugepage_count(ps, node, &c))
		return fail();
	report(json, "reserved", ps, node, (long)c.total, udma_hugepage_available(ps, node));
	return 0;
}

/* Free pages go back to the kernel; pages in use stay until they are unmapped. */
static int release(bool json, size_t ps, int node)
{
	long got = udma_hugepage_set_total(ps, node, 0);

	if (got < 0)
		return fail();
	report(json, "released", ps, node, got, udma_hugepage_available(ps, node));
	return 0;
}

static bool offered(size_t ps)
{
	size_t sizes[8];
	int n = udma_hugepage_sizes(sizes, 8), i;

	for (i = 0; i < n && i < 8; i++)
		if (sizes[i] == ps)
			return true;
	return false;
}

int cmd_hugepages(int argc, char **argv)
{
	enum { STATUS, RESERVE, RELEASE } op = STATUS;
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
				return fprintf(stderr, "udma: --reserve %s: a size like 64M or 1G\n", v), 2;
			i++;
		} else if (!strcmp(a, "--page-size") && v) {
			if (udma_parse_size(v, &ps) || !offered(ps))
				return fprintf(stderr,
					       "udma: --page-size %s: not a hugepage size this kernel offers "
					       "(see udma info)\n",
					       v),
				       2;
			i++;
		} else if (!strcmp(a, "--node") && v) {
			node = (int)strtol(v, &end, 10);
			if (*end || end == v || node < 0 || node >= udma_numa_nodes())
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
	case RESERVE: return reserve(json, bytes, ps, node);
	case RELEASE: return release(json, ps, node);
	case STATUS: break;
	}
	return status(json);
}
