/* SPDX-License-Identifier: MIT */
/* udma hugepages: show, reserve and release hugepages. */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <udma/udma.h>

#include "cli.h"

static const char usage[] =
	"usage: udma hugepages [--json] --status\n"
	"       udma hugepages [--json] --reserve SIZE [--page-size SIZE] [--node N]\n"
	"       udma hugepages [--json] --release [--page-size SIZE] [--node N]\n"
	"SIZE: 64M, 1G, ...; --page-size: one the kernel offers (udma info), default 2M\n";

static void status_line(struct json *j, size_t ps, int node)
{
	struct udma_hugepage_count c;
	char sz[32], where[16], resv[24] = "-";

	if (udma_hugepage_count(ps, node, &c))
		return;
	if (j) {
		json_object(j, NULL);
		json_uint(j, "page_size", ps);
		json_int(j, "node", node);
		json_uint(j, "total", c.total);
		json_uint(j, "free", c.free);
		if (node == UDMA_NUMA_ANY) /* reserved is only counted system-wide */
			json_uint(j, "reserved", c.reserved);
		else
			json_null(j, "reserved");
		json_uint(j, "surplus", c.surplus);
		json_end(j);
	} else {
		snprintf(where, sizeof(where), node == UDMA_NUMA_ANY ? "all" : "%d", node);
		if (node == UDMA_NUMA_ANY)
			snprintf(resv, sizeof(resv), "%lu", c.reserved);
		printf("%-8s %-5s %8lu %8lu %8s %8lu\n", cli_size(ps, sz, sizeof(sz)), where, c.total, c.free,
		       resv, c.surplus);
	}
}

static int status(const struct cli *c)
{
	size_t sizes[8];
	int n = udma_hugepage_sizes(sizes, 8), i, node;
	struct json j;

	if (n < 0)
		return cli_fail(c, 1, -n, "%s", udma_last_error());
	if (c->json) {
		json_start(&j, stdout);
		cli_json_ok(&j);
		json_array(&j, "pools");
	} else {
		printf("%-8s %-5s %8s %8s %8s %8s\n", "size", "node", "total", "free", "reserved", "surplus");
	}
	for (i = 0; i < n && i < 8; i++) {
		status_line(c->json ? &j : NULL, sizes[i], UDMA_NUMA_ANY);
		for (node = 0; udma_numa_nodes() > 1 && node < udma_numa_nodes(); node++)
			status_line(c->json ? &j : NULL, sizes[i], node);
	}
	if (c->json) {
		json_end(&j);
		json_end(&j);
		json_finish(&j);
	}
	return 0;
}

static void report(const struct cli *c, const char *op, size_t ps, int node, long total, long avail)
{
	struct json j;
	char sz[32];

	if (c->json) {
		json_start(&j, stdout);
		cli_json_ok(&j);
		json_str(&j, "op", op);
		json_uint(&j, "page_size", ps);
		json_int(&j, "node", node);
		json_int(&j, "total", total);
		json_int(&j, "available", avail);
		json_end(&j);
		json_finish(&j);
	} else {
		printf("%s: %s pages: total %ld, available %ld%s\n", op, cli_size(ps, sz, sizeof(sz)), total,
		       avail,
		       total > avail && !strcmp(op, "released") ? " (pages in use stay until unmapped)" : "");
	}
}

/* Make at least `bytes` of page_size pages available, adding to what is there. */
static int reserve(const struct cli *c, size_t bytes, size_t ps, int node)
{
	struct udma_hugepage_count hc;
	int rc;

	if ((rc = udma_hugepage_reserve(ps, node, (unsigned long)((bytes + ps - 1) / ps), NULL)) ||
	    (rc = udma_hugepage_count(ps, node, &hc)))
		return cli_fail(c, 1, -rc, "%s", udma_last_error());
	report(c, "reserved", ps, node, (long)hc.total, udma_hugepage_available(ps, node));
	return 0;
}

/* Free pages go back to the kernel; pages in use stay until they are unmapped. */
static int release(const struct cli *c, size_t ps, int node)
{
	long got = udma_hugepage_set_total(ps, node, 0);

	if (got < 0)
		return cli_fail(c, 1, (int)-got, "%s", udma_last_error());
	report(c, "released", ps, node, got, udma_hugepage_available(ps, node));
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

int cmd_hugepages(const struct cli *c, int argc, char **argv)
{
	enum { STATUS, RESERVE, RELEASE } op = STATUS;
	size_t bytes = 0, ps = UDMA_PAGE_2M;
	int node = UDMA_NUMA_ANY, i;
	char *end;

	for (i = 1; i < argc; i++) {
		const char *a = argv[i], *v = i + 1 < argc ? argv[i + 1] : NULL;

		if (!strcmp(a, "--json")) {
			continue;
		} else if (!strcmp(a, "-h") || !strcmp(a, "--help")) {
			return cli_help(c, usage);
		} else if (!strcmp(a, "--status")) {
			op = STATUS;
		} else if (!strcmp(a, "--release")) {
			op = RELEASE;
		} else if (!strcmp(a, "--reserve") && v) {
			op = RESERVE;
			if (udma_parse_size(v, &bytes) || !bytes)
				return cli_usage_error(c, usage, "--reserve %s: a size like 64M or 1G", v);
			i++;
		} else if (!strcmp(a, "--page-size") && v) {
			if (udma_parse_size(v, &ps) || !offered(ps))
				return cli_usage_error(c, usage,
						       "--page-size %s: not a hugepage size this kernel "
						       "offers (see udma info)",
						       v);
			i++;
		} else if (!strcmp(a, "--node") && v) {
			node = (int)strtol(v, &end, 10);
			if (*end || end == v || node < 0 || node >= udma_numa_nodes())
				return cli_usage_error(c, usage,
						       "--node %s: no such NUMA node (this machine has %d)",
						       v, udma_numa_nodes());
			i++;
		} else {
			bool needs_value =
				!strcmp(a, "--reserve") || !strcmp(a, "--page-size") || !strcmp(a, "--node");

			return cli_usage_error(c, usage, "%s '%s'",
					       needs_value ? "no value for" : "unknown argument", a);
		}
	}
	switch (op) {
	case RESERVE: return reserve(c, bytes, ps, node);
	case RELEASE: return release(c, ps, node);
	case STATUS: break;
	}
	return status(c);
}
