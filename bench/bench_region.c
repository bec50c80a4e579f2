/* SPDX-License-Identifier: MIT */
/*
 * Region creation cost: udma_region_create (map + pin + populate + translate)
 * and udma_region_destroy, against a bare mmap(MAP_PRIVATE | MAP_ANONYMOUS |
 * MAP_POPULATE) of the same size and page size and its munmap: the kernel's
 * page-zeroing floor. One JSON object per line on stdout.
 *
 * usage: bench_region [--runs N] [--quick] [--iova auto|pa|va]
 */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <unistd.h>

#include <udma/udma.h>

#include "bench_util.h"

#ifndef MAP_HUGE_SHIFT
#define MAP_HUGE_SHIFT 26
#endif
#ifndef MAP_HUGE_2MB
#define MAP_HUGE_2MB (21 << MAP_HUGE_SHIFT)
#endif
#ifndef MAP_HUGE_1GB
#define MAP_HUGE_1GB (30 << MAP_HUGE_SHIFT)
#endif

#define BENCH	    "region"
#define MAX_RUNS    1000
#define NS_TO_GIB_S (1e9 / (double)(1u << 30)) /* bytes per ns -> GiB/s */

static const size_t page_sizes[] = {UDMA_PAGE_4K, UDMA_PAGE_2M, UDMA_PAGE_1G};
static const size_t region_sizes[] = {(size_t)64 << 20, (size_t)1 << 30};

static size_t round_up(size_t v, size_t to)
{
	return (v + to - 1) / to * to;
}

static const char *size_str(size_t v, char *buf, size_t len)
{
	if (v >= ((size_t)1 << 30) && !(v & (((size_t)1 << 30) - 1)))
		snprintf(buf, len, "%zuG", v >> 30);
	else if (v >= ((size_t)1 << 20) && !(v & (((size_t)1 << 20) - 1)))
		snprintf(buf, len, "%zuM", v >> 20);
	else
		snprintf(buf, len, "%zuK", v >> 10);
	return buf;
}

static int kernel_offers(size_t page_size)
{
	size_t sizes[8];
	int n = udma_hugepage_sizes(sizes, 8), i;

	if (page_size == UDMA_PAGE_4K)
		return 1;
	for (i = 0; i < n && i < 8; i++)
		if (sizes[i] == page_size)
			return 1;
	return 0;
}

static int bare_flags(size_t page_size)
{
	int flags = MAP_PRIVATE | MAP_ANONYMOUS | MAP_POPULATE;

	if (page_size == UDMA_PAGE_2M)
		flags |= MAP_HUGETLB | MAP_HUGE_2MB;
	else if (page_size == UDMA_PAGE_1G)
		flags |= MAP_HUGETLB | MAP_HUGE_1GB;
	return flags;
}

struct sample {
	double create, destroy;
};

/* One udma create + destroy; 0, or a negative errno with the reason in why. */
static int run_udma(struct udma_ctx *ctx, size_t size, size_t page_size, struct sample *s, char *why,
		    size_t why_len)
{
	struct udma_region_opts o = {
		.size = size,
		.page_size = page_size,
		.numa_node = UDMA_NUMA_ANY,
		.name = "bench",
	};
	struct udma_region *r;
	uint64_t t0, t1, t2;
	int rc;

	t0 = bench_now_ns();
	rc = udma_region_create(ctx, &o, &r);
	t1 = bench_now_ns();
	if (rc) {
		snprintf(why, why_len, "udma_region_create failed: %s", udma_last_error());
		return rc;
	}
	udma_region_destroy(r);
	t2 = bench_now_ns();
	s->create = (double)(t1 - t0);
	s->destroy = (double)(t2 - t1);
	return 0;
}

/* One bare mmap(MAP_POPULATE) + munmap; 0, or a negative errno with the reason in why. */
static int run_bare(size_t size, size_t page_size, struct sample *s, char *why, size_t why_len)
{
	size_t len = round_up(size, page_size);
	uint64_t t0, t1, t2;
	void *p;

	t0 = bench_now_ns();
	p = mmap(NULL, len, PROT_READ | PROT_WRITE, bare_flags(page_size), -1, 0);
	t1 = bench_now_ns();
	if (p == MAP_FAILED) {
		int err = errno;

		snprintf(why, why_len, "bare mmap(MAP_POPULATE) failed: %s", strerror(err));
		return -err;
	}
	munmap(p, len);
	t2 = bench_now_ns();
	s->create = (double)(t1 - t0);
	s->destroy = (double)(t2 - t1);
	return 0;
}

static void emit_result(const char *name, size_t size, size_t page_size, unsigned runs, const double *uc,
			const double *ud, const double *bc, const double *bd)
{
	double mapped = (double)round_up(size, page_size);
	double mc = bench_median(uc, runs), md = bench_median(ud, runs);
	double mbc = bench_median(bc, runs), mbd = bench_median(bd, runs);
	double gib_s = bench_ratio(mapped, mc) * NS_TO_GIB_S,
	       bare_gib_s = bench_ratio(mapped, mbc) * NS_TO_GIB_S;

	bench_emit(BENCH, name, size, page_size, mc, runs,
		   BENCH_FIELDS(BENCH_NUM("mapped", mapped), BENCH_NUM("destroy_ns", md),
				BENCH_NUM("bare_create_ns", mbc), BENCH_NUM("bare_destroy_ns", mbd),
				BENCH_NUM("create_ratio", bench_ratio(mc, mbc)),
				BENCH_NUM("destroy_ratio", bench_ratio(md, mbd)),
				BENCH_NUM("create_gib_s", gib_s),
				BENCH_NUM("bare_create_gib_s", bare_gib_s)));
}

static void bench_case(struct udma_ctx *ctx, size_t size, size_t page_size, unsigned runs)
{
	static double uc[MAX_RUNS], ud[MAX_RUNS], bc[MAX_RUNS], bd[MAX_RUNS];
	char name[64], a[24], b[24], why[512];
	size_t mapped = round_up(size, page_size);
	unsigned i;
	int rc;

	snprintf(name, sizeof(name), "%s@%s", size_str(size, a, sizeof(a)),
		 size_str(page_size, b, sizeof(b)));
	if (!kernel_offers(page_size)) {
		bench_emit_skip(BENCH, name, "this kernel offers no pages of this size");
		return;
	}
	if (page_size > UDMA_PAGE_4K) {
		long avail;

		/* One region alive at a time; topped up per case in case another process took some. */
		bench_hugepages_ensure(page_size, mapped / page_size);
		avail = udma_hugepage_available(page_size, UDMA_NUMA_ANY);

		if (avail < 0 || (size_t)avail < mapped / page_size) {
			snprintf(why, sizeof(why), "needs %zu free %s pages, %ld available%s",
				 mapped / page_size, b, avail < 0 ? 0 : avail,
				 geteuid() ? " (run as root to reserve them)" : " (the kernel gave no more)");
			bench_emit_skip(BENCH, name, why);
			return;
		}
	}
	for (i = 0; i < runs; i++) {
		struct sample su, sb;

		/* Alternate the order so neither side always runs on a just-freed pool. */
		if (i & 1) {
			rc = run_bare(size, page_size, &sb, why, sizeof(why));
			if (!rc)
				rc = run_udma(ctx, size, page_size, &su, why, sizeof(why));
		} else {
			rc = run_udma(ctx, size, page_size, &su, why, sizeof(why));
			if (!rc)
				rc = run_bare(size, page_size, &sb, why, sizeof(why));
		}
		if (rc) {
			bench_emit_skip(BENCH, name, why);
			return;
		}
		uc[i] = su.create;
		ud[i] = su.destroy;
		bc[i] = sb.create;
		bd[i] = sb.destroy;
	}
	emit_result(name, size, page_size, runs, uc, ud, bc, bd);
}

static void usage(const char *prog, int rc)
{
	fprintf(rc ? stderr : stdout,
		"usage: %s [--runs N] [--quick] [--iova auto|pa|va]\n"
		"  --runs N   repetitions per case, medians reported (default 7)\n"
		"  --quick    3 runs, 64 MiB regions only\n"
		"  --iova M   IOVA mode of the context (default auto: PA as root)\n"
		"As root, reserves the hugepages it needs and gives them back at exit.\n",
		prog);
	exit(rc);
}

int main(int argc, char **argv)
{
	struct udma_ctx_opts co = {.iova_mode = UDMA_IOVA_AUTO, .numa_node = UDMA_NUMA_ANY};
	struct udma_ctx *ctx;
	struct bench_opts o = {.runs = 7};
	unsigned runs, nsizes = 2, i, j;
	int rc;

	for (i = 1; i < (unsigned)argc; i++) {
		if (bench_common_opt(argc, argv, &i, &o, usage))
			continue;
		if (!strcmp(argv[i], "--iova") && i + 1 < (unsigned)argc) {
			const char *m = argv[++i];

			if (!strcmp(m, "auto"))
				co.iova_mode = UDMA_IOVA_AUTO;
			else if (!strcmp(m, "pa"))
				co.iova_mode = UDMA_IOVA_PA;
			else if (!strcmp(m, "va"))
				co.iova_mode = UDMA_IOVA_VA;
			else
				usage(argv[0], 2);
		} else {
			usage(argv[0], 2);
		}
	}
	if (o.quick)
		nsizes = 1;
	runs = o.runs;
	if (runs > MAX_RUNS)
		runs = MAX_RUNS;

	bench_emit_machine(BENCH);
	bench_hugepages_restore_at_exit();
	rc = udma_ctx_create(&co, &ctx);
	if (rc) {
		bench_emit_skip(BENCH, "all", udma_last_error());
		return 1;
	}
	bench_emit_str(BENCH, "iova_mode", "iova_mode", udma_ctx_iova_mode(ctx) == UDMA_IOVA_PA ? "PA" : "VA",
		       "reason", udma_ctx_iova_reason(ctx), BENCH_END);
	for (i = 0; i < nsizes; i++)
		for (j = 0; j < sizeof(page_sizes) / sizeof(page_sizes[0]); j++)
			bench_case(ctx, region_sizes[i], page_sizes[j], runs);
	udma_ctx_destroy(ctx);
	bench_hugepages_restore();
	return 0;
}
