/* SPDX-License-Identifier: MIT */
/*
 * VA -> IOVA translation cost: udma_iova (a table lookup) against what ixy and
 * DPDK's rte_mem_virt2phy do per address: one 8-byte pread of
 * /proc/self/pagemap at (va / 4096) * 8, then PFN * 4096 + offset.
 * Random addresses in a 64 MiB region, 4 KiB and 2 MiB pages. One JSON object
 * per line on stdout (rows of `udma bench iova` with -DBENCH_IN_CLI).
 *
 * usage: bench_iova [--runs N] [--lookups N] [--quick]
 */
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <udma/udma.h>

#include "bench_util.h"

#define BENCH	      "iova"
#define MAX_RUNS      1000
#define REGION_SIZE   ((size_t)64 << 20)
#define VERIFY_SAMPLE 4096

#define PM_PRESENT  (1ull << 63)
#define PM_PFN_MASK ((1ull << 55) - 1)

static volatile uint64_t sink;

/* The peer: one pread per lookup, as rte_mem_virt2phy does. */
static uint64_t pagemap_pa(int fd, uintptr_t va)
{
	uint64_t e;

	if (pread(fd, &e, sizeof(e), (off_t)(va / 4096 * sizeof(e))) != (ssize_t)sizeof(e))
		return UDMA_BAD_IOVA;
	if (!(e & PM_PRESENT) || !(e & PM_PFN_MASK))
		return UDMA_BAD_IOVA;
	return (e & PM_PFN_MASK) * 4096 + (va & 4095);
}

static uint64_t xorshift64(uint64_t *s)
{
	uint64_t x = *s;

	x ^= x << 13;
	x ^= x >> 7;
	x ^= x << 17;
	return *s = x;
}

/* ns per lookup of one pass over the addresses. */
static double pass_udma(const struct udma_ctx *ctx, const uintptr_t *va, size_t n)
{
	uint64_t sum = 0, t0 = bench_now_ns();
	size_t i;

	for (i = 0; i < n; i++)
		sum += udma_iova(ctx, (const void *)va[i]);
	t0 = bench_now_ns() - t0;
	sink += sum;
	return (double)t0 / (double)n;
}

static double pass_pread(int fd, const uintptr_t *va, size_t n)
{
	uint64_t sum = 0, t0 = bench_now_ns();
	size_t i;

	for (i = 0; i < n; i++)
		sum += pagemap_pa(fd, va[i]);
	t0 = bench_now_ns() - t0;
	sink += sum;
	return (double)t0 / (double)n;
}

/* Both methods agree on a sample? Only meaningful when pagemap gives PFNs
 * (root) and the context is in PA mode; *why says otherwise. */
static int verify(const struct udma_ctx *ctx, int fd, const uintptr_t *va, size_t n, size_t *mismatches,
		  const char **why)
{
	size_t i;

	*mismatches = 0;
	if (!udma_pfn_readable()) {
		*why = "pagemap hides PFNs from this process (not root): nothing to compare against";
		return 0;
	}
	if (udma_ctx_iova_mode(ctx) != UDMA_IOVA_PA) {
		*why = "context is in VA mode: udma_iova returns virtual addresses";
		return 0;
	}
	for (i = 0; i < n; i++)
		if (udma_iova(ctx, (const void *)va[i]) != pagemap_pa(fd, va[i]))
			(*mismatches)++;
	*why = *mismatches ? "udma_iova and pagemap disagree" : NULL;
	return !*mismatches;
}

static void bench_case(struct udma_ctx *ctx, int fd, size_t page_size, unsigned runs, size_t lookups)
{
	static double tu[MAX_RUNS], tp[MAX_RUNS];
	struct udma_region_opts o = {
		.size = REGION_SIZE,
		.page_size = page_size,
		.numa_node = UDMA_NUMA_ANY,
		.name = "bench-iova",
	};
	const char *name = page_size == UDMA_PAGE_4K ? "64M@4K" : "64M@2M", *why = NULL;
	struct udma_region *r;
	uintptr_t *va, base;
	uint64_t seed = 0x9e3779b97f4a7c15ull;
	size_t i, mismatches;
	double mu, mp;
	int ok;

	if (page_size > UDMA_PAGE_4K)
		bench_hugepages_ensure(page_size, REGION_SIZE / page_size);
	if (udma_region_create(ctx, &o, &r)) {
		bench_emit_skip_size(BENCH, name, REGION_SIZE, page_size, udma_last_error());
		return;
	}
	va = malloc(lookups * sizeof(*va));
	if (!va) {
		bench_emit_skip_size(BENCH, name, REGION_SIZE, page_size,
				     "out of memory for the address array");
		udma_region_destroy(r);
		return;
	}
	base = (uintptr_t)udma_region_addr(r);
	for (i = 0; i < lookups; i++)
		va[i] = base + (uintptr_t)(xorshift64(&seed) % REGION_SIZE);

	ok = verify(ctx, fd, va, lookups < VERIFY_SAMPLE ? lookups : VERIFY_SAMPLE, &mismatches, &why);
	/* Warm up both paths once, then alternate. */
	pass_udma(ctx, va, lookups);
	pass_pread(fd, va, lookups);
	for (i = 0; i < runs; i++) {
		tu[i] = pass_udma(ctx, va, lookups);
		tp[i] = pass_pread(fd, va, lookups);
	}
	mu = bench_median(tu, runs);
	mp = bench_median(tp, runs);
	bench_emit_runs(BENCH, name, REGION_SIZE, page_size, tu, runs,
			BENCH_FIELDS(BENCH_NUM("lookups", (double)lookups), BENCH_NUM("pread_ns", mp),
				     BENCH_NUM("ratio", bench_ratio(mu, mp)),
				     BENCH_NUM("speedup", bench_ratio(mp, mu)),
				     BENCH_NUM("verify_sample", (double)VERIFY_SAMPLE),
				     BENCH_NUM("mismatches", (double)mismatches),
				     BENCH_RAW("verified", ok ? "true" : "false")));
	if (why)
		bench_emit_str(BENCH, name, "verify_note", why, BENCH_END);
	free(va);
	udma_region_destroy(r);
}

static void usage(const char *prog, int rc)
{
	fprintf(rc ? stderr : stdout,
		"usage: %s [--runs N] [--lookups N] [--quick]\n"
		"ns per udma_iova lookup in a 64 MiB region (4 KiB and 2 MiB pages), against one\n"
		"pread of /proc/self/pagemap per address (what ixy and DPDK's rte_mem_virt2phy do).\n"
		"  --runs N     timed passes per case, median reported (default 7)\n"
		"  --lookups N  random addresses per pass (default 1048576)\n"
		"  --quick      3 runs of 65536 lookups\n"
		"As root, reserves the 2 MiB pages it needs and gives them back at exit.\n" BENCH_OUTPUT_HELP,
		prog);
	exit(rc);
}

BENCH_MAIN(iova)
{
	struct udma_ctx *ctx;
	struct bench_opts o = {.runs = 7};
	unsigned runs, i;
	size_t lookups = (size_t)1 << 20;
	int lookups_set = 0, fd;

	for (i = 1; i < (unsigned)argc; i++) {
		if (bench_common_opt(argc, argv, &i, &o, usage))
			continue;
		if (!strcmp(argv[i], "--lookups")) {
			lookups = bench_parse_count("--lookups", bench_opt_value(argc, argv, &i));
			lookups_set = 1;
		} else {
			bench_usage_error(usage, "unknown option '%s'", argv[i]);
		}
	}
	if (o.quick && !lookups_set)
		lookups = (size_t)1 << 16;
	runs = o.runs;
	if (runs > MAX_RUNS)
		runs = MAX_RUNS;

	bench_emit_machine(BENCH);
	bench_hugepages_restore_at_exit();
	if (udma_ctx_create(NULL, &ctx))
		bench_die(EIO, "no udma context: %s", udma_last_error());
	bench_emit_str(BENCH, "iova_mode", "iova_mode", udma_ctx_iova_mode(ctx) == UDMA_IOVA_PA ? "PA" : "VA",
		       "reason", udma_ctx_iova_reason(ctx), BENCH_END);
	/* Opened once, as ixy and DPDK do. */
	fd = open("/proc/self/pagemap", O_RDONLY | O_CLOEXEC);
	if (fd < 0)
		bench_die(errno, "cannot open /proc/self/pagemap: %s", strerror(errno));
	bench_case(ctx, fd, UDMA_PAGE_4K, runs, lookups);
	bench_case(ctx, fd, UDMA_PAGE_2M, runs, lookups);
	close(fd);
	udma_ctx_destroy(ctx);
	bench_hugepages_restore();
	return 0;
}
