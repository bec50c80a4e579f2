/* SPDX-License-Identifier: MIT */
/*
 * ns per udma_sync_for_device and udma_sync_for_cpu of 64 B, 4 KiB, 64 KiB and
 * 2 MiB of a region, on a coherent context (only the fence) and a
 * non-coherent one (line-by-line cache maintenance: DC CVAC / DC CIVAC on
 * arm64, CLFLUSH on x86), against the bare instruction loop a driver would
 * write by hand (no region lookup, no range check), the peer without udma.
 * On 32-bit ARM the non-coherent cases are skipped: udma refuses them there.
 */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "bench/bench_util.h"
#include "lib/os/os.h"

#define BENCH	 "sync"
#define MAX_RUNS 101
#define REGION	 (4u << 20)

static const size_t sizes[] = {64, 4096, 65536, 2u << 20};

/* Calls of fn over len bytes at p, repeated until about 20 ms pass, per run. */
static void time_case(const char *name, size_t len, unsigned runs, int (*fn)(void *, uint8_t *, size_t),
		      void *arg, uint8_t *p)
{
	double v[MAX_RUNS];
	unsigned r, reps = 1;
	uint64_t t0;

	/* Calibrate: enough calls per run to last about 20 ms. */
	for (;;) {
		unsigned i;

		t0 = bench_now_ns();
		for (i = 0; i < reps; i++)
			if (fn(arg, p, len)) {
				bench_emit_skip_size(BENCH, name, len, UDMA_PAGE_4K, udma_last_error());
				return;
			}
		if (bench_now_ns() - t0 > 20000000 || reps > (1u << 24))
			break;
		reps *= 2;
	}
	for (r = 0; r < runs; r++) {
		unsigned i;

		memset(p, (int)r, len); /* dirty lines for the clean to write back */
		t0 = bench_now_ns();
		for (i = 0; i < reps; i++)
			fn(arg, p, len);
		v[r] = (double)(bench_now_ns() - t0) / reps;
	}
	bench_emit_runs(BENCH, name, len, UDMA_PAGE_4K, v, runs, NULL);
}

static int to_device(void *ctx, uint8_t *p, size_t len)
{
	return udma_sync_for_device(ctx, p, len);
}

static int to_cpu(void *ctx, uint8_t *p, size_t len)
{
	return udma_sync_for_cpu(ctx, p, len);
}

static int bare_clean(void *arg, uint8_t *p, size_t len)
{
	(void)arg;
	udma__dcache_clean(p, len);
	return 0;
}

static int bare_clean_inval(void *arg, uint8_t *p, size_t len)
{
	(void)arg;
	udma__dcache_clean_inval(p, len);
	return 0;
}

static void usage(const char *prog, int rc)
{
	fprintf(rc ? stderr : stdout,
		"usage: %s [--runs N] [--quick]\n"
		"ns per udma_sync_for_device / udma_sync_for_cpu of 64 B to 2 MiB, coherent and\n"
		"non-coherent contexts, against the bare cache maintenance loop.\n"
		"  --runs N  timed runs per case, median reported (default 7)\n"
		"  --quick   3 runs\n" BENCH_OUTPUT_HELP,
		prog);
	exit(rc);
}

BENCH_MAIN(sync)
{
	struct bench_opts o = {.runs = 7};
	struct udma_region_opts ro = {.size = REGION, .page_size = UDMA_PAGE_4K, .numa_node = UDMA_NUMA_ANY};
	unsigned i, runs;
	int coherent;

	for (i = 1; i < (unsigned)argc; i++)
		if (!bench_common_opt(argc, argv, &i, &o, usage))
			bench_usage_error(usage, "unknown option '%s'", argv[i]);
	runs = o.runs > MAX_RUNS ? MAX_RUNS : o.runs;
	bench_emit_machine(BENCH);
	for (coherent = 1; coherent >= 0; coherent--) {
		struct udma_ctx_opts co = {.iova_mode = UDMA_IOVA_VA,
					   .numa_node = UDMA_NUMA_ANY,
					   .flags = coherent ? UDMA_CTX_DMA_COHERENT
							     : UDMA_CTX_DMA_NONCOHERENT};
		struct udma_region *r;
		struct udma_ctx *ctx;
		char name[64];
		size_t s;

		if (udma_ctx_create(&co, &ctx) || udma_region_create(ctx, &ro, &r))
			bench_die(EIO, "no context or region: %s", udma_last_error());
		for (s = 0; s < sizeof(sizes) / sizeof(sizes[0]); s++) {
			const char *kind = coherent ? "coherent" : "noncoherent";

			snprintf(name, sizeof(name), "%s_for_device", kind);
			time_case(name, sizes[s], runs, to_device, ctx, udma_region_addr(r));
			snprintf(name, sizeof(name), "%s_for_cpu", kind);
			time_case(name, sizes[s], runs, to_cpu, ctx, udma_region_addr(r));
			if (coherent)
				continue;
			if (!udma__dcache_maintainable()) {
				bench_emit_skip_size(BENCH, "bare_clean", sizes[s], UDMA_PAGE_4K,
						     "no user-space cache maintenance on this CPU");
				continue;
			}
			time_case("bare_clean", sizes[s], runs, bare_clean, NULL, udma_region_addr(r));
			time_case("bare_clean_inval", sizes[s], runs, bare_clean_inval, NULL,
				  udma_region_addr(r));
		}
		udma_region_destroy(r);
		udma_ctx_destroy(ctx);
	}
	return 0;
}
