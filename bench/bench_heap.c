/* SPDX-License-Identifier: MIT */
/*
 * Heap: udma_malloc + udma_free per pair, against glibc malloc + free and
 * (when built with DPDK) rte_malloc + rte_free, in the same run, alternating.
 * Cases: "pair" (malloc then free, the thread cache's hit path) and
 * "batch32" (32 mallocs then 32 frees, ns per pair), sizes 64 B to 64 KiB.
 * One JSON object per line on stdout (rows of `udma bench heap` with
 * -DBENCH_IN_CLI, which has no DPDK: udma against glibc).
 *
 * usage: bench_heap [--runs N] [--iters N] [--quick] [--no-dpdk]
 */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <udma/udma.h>

#include "bench_util.h"

#ifdef HAVE_DPDK
#include <rte_eal.h>
#include <rte_malloc.h>
#endif

#define BENCH	 "heap"
#define MAX_RUNS 1000
#define BATCH	 32

enum impl { UDMA, GLIBC, DPDK, NIMPL };
static const char *const impl_name[NIMPL] = {"udma", "glibc", "dpdk"};

static struct udma_ctx *ctx;
static int have_dpdk;

/* Keep the compiler from pairing and eliding malloc and free. */
static inline void escape(void *p)
{
	__asm__ volatile("" : : "r"(p) : "memory");
}

static inline void *impl_alloc(enum impl i, size_t size)
{
	switch (i) {
	case UDMA: return udma_malloc(ctx, size, 0, NULL);
	case GLIBC: return malloc(size);
#ifdef HAVE_DPDK
	case DPDK: return rte_malloc(NULL, size, 0);
#endif
	default: return NULL;
	}
}

static inline void impl_free(enum impl i, void *p)
{
	switch (i) {
	case UDMA: udma_free(ctx, p); break;
	case GLIBC: free(p); break;
#ifdef HAVE_DPDK
	case DPDK: rte_free(p); break;
#endif
	default: break;
	}
}

/* ns per malloc+free pair; -1 if an allocation failed. */
static double run_pair(enum impl i, size_t size, unsigned iters)
{
	uint64_t t0 = bench_now_ns();
	unsigned k;

	for (k = 0; k < iters; k++) {
		void *p = impl_alloc(i, size);

		if (!p)
			return -1;
		escape(p);
		impl_free(i, p);
	}
	return (double)(bench_now_ns() - t0) / iters;
}

static double run_batch(enum impl i, size_t size, unsigned iters)
{
	void *p[BATCH];
	uint64_t t0 = bench_now_ns();
	unsigned k, j;

	for (k = 0; k < iters / BATCH; k++) {
		for (j = 0; j < BATCH; j++)
			if (!(p[j] = impl_alloc(i, size)))
				return -1;
		escape(p);
		for (j = 0; j < BATCH; j++)
			impl_free(i, p[j]);
	}
	return (double)(bench_now_ns() - t0) / (iters / BATCH * BATCH);
}

static size_t slab_page_size(size_t size)
{
	void *p = udma_malloc(ctx, size, 0, NULL);
	const struct udma_region *r;
	size_t ps = 0;

	for (r = udma_region_next(ctx, NULL); r && p; r = udma_region_next(ctx, r))
		if ((uint8_t *)p >= (uint8_t *)udma_region_addr(r) &&
		    (uint8_t *)p < (uint8_t *)udma_region_addr(r) + udma_region_size(r))
			ps = udma_region_page_size(r);
	udma_free(ctx, p);
	return ps;
}

static void bench_case(const char *name, double (*fn)(enum impl, size_t, unsigned), size_t size,
		       unsigned runs, unsigned iters)
{
	static double v[NIMPL][MAX_RUNS];
	double med[NIMPL] = {0};
	unsigned r, i, n = have_dpdk ? NIMPL : DPDK;

	for (i = 0; i < n; i++) /* warm up: slabs, thread caches, DPDK's heap */
		if (fn((enum impl)i, size, iters / 10 + BATCH) < 0) {
			char why[256];

			snprintf(why, sizeof(why), "%s allocation of %zu bytes failed: %s", impl_name[i],
				 size, i == UDMA ? udma_last_error() : strerror(errno));
			bench_emit_skip(BENCH, name, why);
			return;
		}
	for (r = 0; r < runs; r++)
		for (i = 0; i < n; i++) {
			enum impl k = (enum impl)((i + r) % n); /* rotate who goes first */

			v[k][r] = fn(k, size, iters);
		}
	for (i = 0; i < n; i++)
		med[i] = bench_median(v[i], runs);
	if (have_dpdk)
		bench_emit_runs(BENCH, name, size, slab_page_size(size), v[UDMA], runs,
				BENCH_FIELDS(BENCH_NUM("glibc_ns", med[GLIBC]),
					     BENCH_NUM("ratio", bench_ratio(med[UDMA], med[GLIBC])),
					     BENCH_NUM("dpdk_ns", med[DPDK]),
					     BENCH_NUM("dpdk_ratio", bench_ratio(med[UDMA], med[DPDK]))));
	else
		bench_emit_runs(BENCH, name, size, slab_page_size(size), v[UDMA], runs,
				BENCH_FIELDS(BENCH_NUM("glibc_ns", med[GLIBC]),
					     BENCH_NUM("ratio", bench_ratio(med[UDMA], med[GLIBC]))));
}

static void init_dpdk(int want)
{
#ifdef BENCH_IN_CLI
	(void)want; /* the command never has DPDK: its usage says where the comparison is */
#elif defined(HAVE_DPDK)
	/* --in-memory without hugepages: --no-shconf (--no-huge implies legacy memory) */
	char *argv[] = {"bench_heap", "--no-huge", "--no-pci",	    "--no-shconf",    "-l", "0",
			"-m",	      "128",	   "--log-level=1", "--no-telemetry", NULL};

	if (want && rte_eal_init((int)(sizeof(argv) / sizeof(argv[0])) - 1, argv) >= 0) {
		have_dpdk = 1;
		return;
	}
	bench_emit_skip(BENCH, "dpdk", want ? "rte_eal_init failed" : "--no-dpdk");
#else
	(void)want;
	bench_emit_skip(BENCH, "dpdk", "built without DPDK (make bench installs libdpdk-dev)");
#endif
}

/* The udma command has no DPDK: its usage says where the comparison is. */
#ifdef BENCH_IN_CLI
#define NO_DPDK_OPT  ""
#define NO_DPDK_HELP ""
#define PEER_HELP    "Against DPDK's rte_malloc: build/bench/bench_heap (make bench).\n"
#else
#define NO_DPDK_OPT  " [--no-dpdk]"
#define NO_DPDK_HELP "  --no-dpdk   leave DPDK out\n"
#define PEER_HELP    "And against DPDK's rte_malloc+rte_free, in the same runs.\n"
#endif

static void usage(const char *prog, int rc)
{
	fprintf(rc ? stderr : stdout,
		"usage: %s [--runs N] [--iters N] [--quick]" NO_DPDK_OPT "\n"
		"ns per udma_malloc+udma_free pair against glibc malloc+free, 64 B to 64 KiB.\n"
		"  --runs N    timed runs per case and allocator, median reported (default 7)\n"
		"  --iters N   pairs per run (default 1000000)\n"
		"  --quick     3 runs of 50000 pairs\n" NO_DPDK_HELP PEER_HELP
		"As root, reserves 2 MiB pages for the slabs and gives them back at "
		"exit.\n" BENCH_OUTPUT_HELP,
		prog);
	exit(rc);
}

BENCH_MAIN(heap)
{
	struct bench_opts o = {.runs = 7};
	unsigned runs, iters = 1000000, i;
	int dpdk = 1, iters_set = 0, rc;
	size_t size;

	for (i = 1; i < (unsigned)argc; i++) {
		if (bench_common_opt(argc, argv, &i, &o, usage))
			continue;
		if (!strcmp(argv[i], "--iters")) {
			iters = bench_parse_count("--iters", bench_opt_value(argc, argv, &i));
			iters_set = 1;
#ifndef BENCH_IN_CLI
		} else if (!strcmp(argv[i], "--no-dpdk")) {
			dpdk = 0;
#endif
		} else {
			bench_usage_error(usage, "unknown option '%s'", argv[i]);
		}
	}
	if (o.quick && !iters_set)
		iters = 50000;
	runs = o.runs;
	if (runs > MAX_RUNS)
		runs = MAX_RUNS;
	if (iters < BATCH)
		iters = BATCH;
	bench_emit_machine(BENCH);
	/* A slab per size class: 2 MiB pages when free (root reserves them, given back at exit). */
	bench_hugepages_restore_at_exit();
	bench_hugepages_ensure(UDMA_PAGE_2M, 32);
	init_dpdk(dpdk);
	rc = udma_ctx_create(NULL, &ctx);
	if (rc)
		bench_die(rc < 0 ? -rc : EIO, "no udma context: %s", udma_last_error());
	bench_emit_str(BENCH, "ctx", "iova_mode", udma_ctx_iova_mode(ctx) == UDMA_IOVA_PA ? "pa" : "va",
		       BENCH_END);
	for (size = 64; size <= 65536; size *= 2)
		bench_case("pair", run_pair, size, runs, iters);
	for (size = 64; size <= 65536; size *= 4)
		bench_case("batch32", run_batch, size, runs, iters);
	udma_ctx_destroy(ctx);
#ifdef HAVE_DPDK
	if (have_dpdk)
		rte_eal_cleanup();
#endif
	bench_hugepages_restore();
	return 0;
}
