/* SPDX-License-Identifier: MIT */
/*
 * Pool get+put per object, one thread: single objects and bulks of 32, with
 * no cache and with a per-thread cache, in a pool of one process and in a
 * shared pool (UDMA_POOL_SHARED: every put checked against the record, the
 * store in shared memory under a process-shared lock), against DPDK's
 * rte_mempool (same count, object size and cache size; usable from
 * secondary processes) in the same run, alternating.
 * One JSON object per line on stdout (rows of `udma bench pool` with
 * -DBENCH_IN_CLI, which has no DPDK: udma's figures alone).
 *
 * usage: bench_pool [--runs N] [--ops N] [--cache N] [--quick]
 */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <udma/udma.h>

#include "bench_util.h"

#ifdef HAVE_DPDK
#include <rte_eal.h>
#include <rte_errno.h>
#include <rte_lcore.h>
#include <rte_mempool.h>
#endif

#define BENCH	 "pool"
#define MAX_RUNS 1000
#define COUNT	 8192u
#define OBJ_SIZE 2048u
#define BULK	 32

/* One timed pass: ns per object for ops get+put pairs (of bulk objects each). */
struct peer {
	const char *name;
	double (*pass)(void *pool, unsigned bulk, size_t ops);
	void *pool;
};

static void *volatile sink;

static double pass_udma(void *pool, unsigned bulk, size_t ops)
{
	struct udma_pool *p = pool;
	void *objs[BULK] = {NULL};
	uint64_t t0;
	size_t i;

	t0 = bench_now_ns();
	if (bulk == 1) {
		for (i = 0; i < ops; i++) {
			void *o = udma_pool_get(p);

			udma_pool_put(p, o);
		}
	} else {
		for (i = 0; i < ops; i += bulk) {
			if (udma_pool_get_bulk(p, objs, bulk))
				abort();
			udma_pool_put_bulk(p, objs, bulk);
		}
	}
	t0 = bench_now_ns() - t0;
	sink = objs[0];
	return (double)t0 / (double)ops;
}

#ifdef HAVE_DPDK
static double pass_dpdk(void *pool, unsigned bulk, size_t ops)
{
	struct rte_mempool *mp = pool;
	void *objs[BULK] = {NULL};
	uint64_t t0;
	size_t i;

	t0 = bench_now_ns();
	if (bulk == 1) {
		for (i = 0; i < ops; i++) {
			void *o;

			if (rte_mempool_get(mp, &o))
				abort();
			rte_mempool_put(mp, o);
		}
	} else {
		for (i = 0; i < ops; i += bulk) {
			if (rte_mempool_get_bulk(mp, objs, bulk))
				abort();
			rte_mempool_put_bulk(mp, objs, bulk);
		}
	}
	t0 = bench_now_ns() - t0;
	sink = objs[0];
	return (double)t0 / (double)ops;
}

static int dpdk_init(const char **why)
{
	/* --in-memory without hugepages: --no-shconf (--no-huge implies legacy memory) */
	char *argv[] = {"bench_pool", "--no-huge", "--no-pci",	    "--no-shconf",    "-l", "0",
			"-m",	      "128",	   "--log-level=1", "--no-telemetry", NULL};
	int argc = (int)(sizeof(argv) / sizeof(argv[0])) - 1;

	if (rte_eal_init(argc, argv) < 0) {
		*why = "rte_eal_init failed";
		return -1;
	}
	return 0;
}
#endif

static void bench_case(struct udma_ctx *ctx, int have_dpdk, unsigned flags, unsigned cache, unsigned bulk,
		       unsigned runs, size_t ops)
{
	static double tu[MAX_RUNS], td[MAX_RUNS];
	struct udma_pool_opts o = {.obj_size = OBJ_SIZE,
				   .count = COUNT,
				   .cache_size = cache,
				   .numa_node = UDMA_NUMA_ANY,
				   .flags = flags,
				   .name = "bench"};
	char name[64];
	struct udma_pool *p;
	struct udma_pool_stats st;
	void *mp = NULL;
	double mu, md = 0;
	unsigned i;

	snprintf(name, sizeof(name), "%s%s/cache%u", flags & UDMA_POOL_SHARED ? "shared_" : "",
		 bulk == 1 ? "get_put" : "bulk32_get_put", cache);
	if (udma_pool_create(ctx, &o, &p)) {
		bench_emit_skip(BENCH, name, udma_last_error());
		return;
	}
#ifdef HAVE_DPDK
	if (have_dpdk) {
		mp = rte_mempool_create("bench", COUNT, OBJ_SIZE, cache, 0, NULL, NULL, NULL, NULL,
					SOCKET_ID_ANY, 0);
		if (!mp)
			bench_emit_str(BENCH, name, "dpdk_note", rte_strerror(rte_errno), BENCH_END);
	}
#else
	(void)have_dpdk;
#endif
	/* warm up both, then alternate */
	pass_udma(p, bulk, ops);
#ifdef HAVE_DPDK
	if (mp)
		pass_dpdk(mp, bulk, ops);
#endif
	for (i = 0; i < runs; i++) {
		tu[i] = pass_udma(p, bulk, ops);
#ifdef HAVE_DPDK
		if (mp)
			td[i] = pass_dpdk(mp, bulk, ops);
#endif
	}
	mu = bench_median(tu, runs);
	if (mp)
		md = bench_median(td, runs);
	udma_pool_stats(p, &st);
#ifdef BENCH_IN_CLI
	(void)mu;
	(void)md;
	bench_emit_runs(BENCH, name, OBJ_SIZE, udma_region_page_size(udma_region_next(ctx, NULL)), tu, runs,
			BENCH_FIELDS(BENCH_NUM("count", COUNT), BENCH_NUM("cache_size", cache),
				     BENCH_NUM("bulk", bulk), BENCH_NUM("ops", (double)ops),
				     BENCH_NUM("cache_hits", (double)st.cache_hits),
				     BENCH_NUM("gets", (double)st.gets)));
#else
	bench_emit_runs(BENCH, name, OBJ_SIZE, udma_region_page_size(udma_region_next(ctx, NULL)), tu, runs,
			BENCH_FIELDS(BENCH_NUM("count", COUNT), BENCH_NUM("cache_size", cache),
				     BENCH_NUM("bulk", bulk), BENCH_NUM("ops", (double)ops),
				     {.key = "dpdk_ns", .val = md, .raw = mp ? NULL : "null"},
				     {.key = "ratio", .val = bench_ratio(mu, md), .raw = mp ? NULL : "null"},
				     BENCH_NUM("cache_hits", (double)st.cache_hits),
				     BENCH_NUM("gets", (double)st.gets)));
#endif
#ifdef HAVE_DPDK
	rte_mempool_free(mp);
#endif
	udma_pool_destroy(p);
}

/* The udma command has no DPDK: its usage says where the comparison is. */
#ifdef BENCH_IN_CLI
#define PEER_HELP "Against DPDK's rte_mempool: build/bench/bench_pool (make bench).\n"
#else
#define PEER_HELP "Against DPDK's rte_mempool of the same size and cache, on lcore 0 without hugepages.\n"
#endif

static void usage(const char *prog, int rc)
{
	fprintf(rc ? stderr : stdout,
		"usage: %s [--runs N] [--ops N] [--cache N] [--quick]\n"
		"ns per object for udma_pool get+put, single and bulks of 32, without and with a cache,\n"
		"on pools of %u objects of %u bytes.\n"
		"  --runs N   timed passes per case, median reported (default 7)\n"
		"  --ops N    objects got and put per pass (default 4194304)\n"
		"  --cache N  cache size of the cached cases (default 256)\n"
		"  --quick    3 runs of 1048576 objects\n" PEER_HELP BENCH_OUTPUT_HELP,
		prog, COUNT, OBJ_SIZE);
	exit(rc);
}

BENCH_MAIN(pool)
{
	struct udma_ctx *ctx;
	struct bench_opts o = {.runs = 7};
	unsigned runs, cache = 256, i;
	size_t ops = (size_t)1 << 22;
	int ops_set = 0, have_dpdk = 0;
	const char *why = "built without DPDK (libdpdk-dev missing)";

	for (i = 1; i < (unsigned)argc; i++) {
		if (bench_common_opt(argc, argv, &i, &o, usage))
			continue;
		if (!strcmp(argv[i], "--ops")) {
			ops = bench_parse_count("--ops", bench_opt_value(argc, argv, &i));
			ops_set = 1;
		} else if (!strcmp(argv[i], "--cache")) {
			cache = bench_parse_count("--cache", bench_opt_value(argc, argv, &i));
			if (cache > UDMA_POOL_CACHE_MAX)
				bench_usage_error(usage, "--cache %u: at most %u", cache,
						  UDMA_POOL_CACHE_MAX);
		} else {
			bench_usage_error(usage, "unknown option '%s'", argv[i]);
		}
	}
	if (o.quick && !ops_set)
		ops = (size_t)1 << 20;
	runs = o.runs;
	if (runs > MAX_RUNS)
		runs = MAX_RUNS;
	ops = (ops + BULK - 1) / BULK * BULK;

	bench_emit_machine(BENCH);
	bench_hugepages_restore_at_exit();
	bench_hugepages_ensure(UDMA_PAGE_2M, 16);
#ifdef HAVE_DPDK
	have_dpdk = !dpdk_init(&why);
#endif
#ifndef BENCH_IN_CLI /* the command never has DPDK: its usage says where the comparison is */
	if (!have_dpdk)
		bench_emit_str(BENCH, "dpdk", "skipped", why, BENCH_END);
#else
	(void)why;
#endif
	if (udma_ctx_create(NULL, &ctx))
		bench_die(EIO, "no udma context: %s", udma_last_error());
	bench_emit_str(BENCH, "iova_mode", "iova_mode", udma_ctx_iova_mode(ctx) == UDMA_IOVA_PA ? "PA" : "VA",
		       "reason", udma_ctx_iova_reason(ctx), "udma_debug",
		       getenv("UDMA_DEBUG") ? getenv("UDMA_DEBUG") : "", BENCH_END);
	for (i = 0; i < 2; i++) {
		unsigned flags = i ? UDMA_POOL_SHARED : 0;

		bench_case(ctx, have_dpdk, flags, 0, 1, runs, ops);
		bench_case(ctx, have_dpdk, flags, cache, 1, runs, ops);
		bench_case(ctx, have_dpdk, flags, 0, BULK, runs, ops);
		bench_case(ctx, have_dpdk, flags, cache, BULK, runs, ops);
	}
	udma_ctx_destroy(ctx);
#ifdef HAVE_DPDK
	if (have_dpdk)
		rte_eal_cleanup();
#endif
	bench_hugepages_restore();
	return 0;
}
