/* SPDX-License-Identifier: MIT */
/*
 * VA -> IOVA translation cost: udma_iova (a table lookup) against what ixy and
 * DPDK's rte_mem_virt2phy do per address: one 8-byte pread of
 * /proc/self/pagemap at (va / 4096) * 8, then PFN * 4096 + offset.
 * Random addresses in a 64 MiB region, 4 KiB and 2 MiB pages, and in a 4 GiB
 * region of 4 KiB pages (a table larger than the caches; not with --quick).
 * One JSON object per line on stdout (rows of `udma bench iova` with
 * -DBENCH_IN_CLI).
 *
 * usage: bench_iova [--runs N] [--lookups N] [--quick]
 */
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <unistd.h>

#include <udma/udma.h>

#include "bench_util.h"

#define BENCH	    "iova"
#define MAX_RUNS    1000
#define REGION_SIZE ((size_t)64 << 20)
#define LARGE_SIZE  ((size_t)4 << 30)
/* Left to the rest of the machine when the large case locks its memory. */
#define LARGE_SPARE   ((size_t)1 << 30)
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

/* Bytes of /proc/meminfo's MemAvailable, or 0 if unknown. */
static size_t mem_available(void)
{
	unsigned long long kib = 0;
	char line[128];
	FILE *f = fopen("/proc/meminfo", "r");

	if (!f)
		return 0;
	while (fgets(line, sizeof(line), f))
		if (sscanf(line, "MemAvailable: %llu kB", &kib) == 1)
			break;
	fclose(f);
	return (size_t)kib << 10;
}

/* Why size bytes of 4 KiB pages cannot be locked here, or NULL if they can. */
static const char *cannot_lock(size_t size, char *why, size_t len)
{
	struct rlimit rl;
	size_t avail = mem_available();

	/* Root (CAP_IPC_LOCK) is not held to RLIMIT_MEMLOCK. */
	if (geteuid() != 0 && !getrlimit(RLIMIT_MEMLOCK, &rl) && rl.rlim_cur != RLIM_INFINITY &&
	    rl.rlim_cur < size) {
		snprintf(why, len,
			 "RLIMIT_MEMLOCK is %llu MiB, the case locks %zu MiB: run as root or raise it "
			 "(ulimit -l unlimited)",
			 (unsigned long long)rl.rlim_cur >> 20, size >> 20);
		return why;
	}
	if (avail < size + LARGE_SPARE) {
		snprintf(why, len,
			 "MemAvailable is %zu MiB, the case locks %zu MiB and leaves %zu MiB to the rest: "
			 "free memory first",
			 avail >> 20, size >> 20, LARGE_SPARE >> 20);
		return why;
	}
	return NULL;
}

static void bench_case(struct udma_ctx *ctx, int fd, const char *name, size_t size, size_t page_size,
		       unsigned runs, size_t lookups)
{
	static double tu[MAX_RUNS], tp[MAX_RUNS];
	struct udma_region_opts o = {
		.size = size,
		.page_size = page_size,
		.numa_node = UDMA_NUMA_ANY,
		.name = "bench-iova",
	};
	const char *why = NULL;
	struct udma_region *r;
	uintptr_t *va, base;
	uint64_t seed = 0x9e3779b97f4a7c15ull;
	size_t i, mismatches;
	double mu, mp;
	int ok;

	if (page_size > UDMA_PAGE_4K)
		bench_hugepages_ensure(page_size, size / page_size);
	if (udma_region_create(ctx, &o, &r)) {
		bench_emit_skip_size(BENCH, name, size, page_size, udma_last_error());
		return;
	}
	va = malloc(lookups * sizeof(*va));
	if (!va) {
		bench_emit_skip_size(BENCH, name, size, page_size, "out of memory for the address array");
		udma_region_destroy(r);
		return;
	}
	base = (uintptr_t)udma_region_addr(r);
	for (i = 0; i < lookups; i++)
		va[i] = base + (uintptr_t)(xorshift64(&seed) % size);

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
	bench_emit_runs(BENCH, name, size, page_size, tu, runs,
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
		"ns per udma_iova lookup in a 64 MiB region (4 KiB and 2 MiB pages) and a 4 GiB\n"
		"region of 4 KiB pages, against one pread of /proc/self/pagemap per address (what\n"
		"ixy and DPDK's rte_mem_virt2phy do).\n"
		"  --runs N     timed passes per case, median reported (default 7)\n"
		"  --lookups N  random addresses per pass (default 1048576)\n"
		"  --quick      3 runs of 65536 lookups, without the 4 GiB case\n"
		"The 4 GiB case locks 4 GiB of memory: it is skipped, saying why, when RLIMIT_MEMLOCK\n"
		"(not root) or MemAvailable is too low.\n"
		"As root, reserves the 2 MiB pages it needs and gives them back at exit.\n" BENCH_OUTPUT_HELP,
		prog);
	exit(rc);
}

BENCH_MAIN(iova)
{
	struct udma_ctx *ctx;
	struct bench_opts o = {.runs = 7};
	char why[256];
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
	bench_case(ctx, fd, "64M@4K", REGION_SIZE, UDMA_PAGE_4K, runs, lookups);
	bench_case(ctx, fd, "64M@2M", REGION_SIZE, UDMA_PAGE_2M, runs, lookups);
	if (o.quick)
		bench_emit_skip_size(BENCH, "4G@4K", LARGE_SIZE, UDMA_PAGE_4K,
				     "--quick: the 4 GiB case runs without it");
	else if (cannot_lock(LARGE_SIZE, why, sizeof(why)))
		bench_emit_skip_size(BENCH, "4G@4K", LARGE_SIZE, UDMA_PAGE_4K, why);
	else
		bench_case(ctx, fd, "4G@4K", LARGE_SIZE, UDMA_PAGE_4K, runs, lookups);
	close(fd);
	udma_ctx_destroy(ctx);
	bench_hugepages_restore();
	return 0;
}
