/* SPDX-License-Identifier: MIT */
/*
 * Region creation cost: udma_region_create (map + pin + populate + translate)
 * and udma_region_destroy, against a bare mmap(MAP_PRIVATE | MAP_ANONYMOUS |
 * MAP_POPULATE) of the same size and page size and its munmap: the kernel's
 * page-zeroing floor. And what the long-term pin adds (a PA-mode region is
 * pinned with FOLL_LONGTERM, lib/os/longterm_pin.c): udma__longterm_pin and
 * udma__longterm_unpin on the bare mapping, timed between its mmap and its
 * munmap. And a large DMA buffer (32 MiB, automatic page size) three ways:
 * udma_malloc (one IOVA-contiguous buffer, or a quick failure), udma_sgl_alloc
 * (a scatter list) and a plain region of the same size. One JSON object per
 * line on stdout (rows of `udma bench region` with -DBENCH_IN_CLI).
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
#include "lib/os/os.h"

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
	double create, destroy, pin, unpin;
};

/* The long-term pin, measured when this process can take one: *why otherwise. */
struct pin_plan {
	int measure;   /* time pin and unpin on the bare mapping */
	int applies;   /* the library pins its regions (PA mode) */
	char why[256]; /* why it is not measured, or why a pin failed */
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

/* One bare mmap(MAP_POPULATE) + munmap, and between them (when *pin) a
 * long-term pin and its release; 0, or a negative errno with the reason in
 * why. A pin that fails clears *pin and says why in pin_why: the case goes on
 * without it. */
static int run_bare(size_t size, size_t page_size, struct sample *s, int *pin, char *pin_why,
		    size_t pin_why_len, char *why, size_t why_len)
{
	size_t len = bench_round_up(size, page_size);
	uint64_t t0, t1, t2;
	void *p;
	int fd;

	t0 = bench_now_ns();
	p = mmap(NULL, len, PROT_READ | PROT_WRITE, bare_flags(page_size), -1, 0);
	t1 = bench_now_ns();
	if (p == MAP_FAILED) {
		int err = errno;

		snprintf(why, why_len, "bare mmap(MAP_POPULATE) failed: %s", strerror(err));
		return -err;
	}
	s->create = (double)(t1 - t0);
	if (*pin) {
		t0 = bench_now_ns();
		fd = udma__longterm_pin(p, len);
		t1 = bench_now_ns();
		if (fd < 0) {
			snprintf(pin_why, pin_why_len, "udma__longterm_pin failed: %s", udma_last_error());
			*pin = 0;
		} else {
			udma__longterm_unpin(fd);
			t2 = bench_now_ns();
			s->pin = (double)(t1 - t0);
			s->unpin = (double)(t2 - t1);
		}
	}
	t1 = bench_now_ns();
	munmap(p, len);
	t2 = bench_now_ns();
	s->destroy = (double)(t2 - t1);
	return 0;
}

/* The medians of a case's runs. pin_runs: how many runs timed the pin (all, or none). */
static void emit_result(const char *name, size_t size, size_t page_size, unsigned runs, const double *uc,
			const double *ud, const double *bc, const double *bd, const double *pc,
			const double *pu, unsigned pin_runs, const struct pin_plan *pin)
{
	double mapped = (double)bench_round_up(size, page_size);
	double mc = bench_median(uc, runs), md = bench_median(ud, runs);
	double mbc = bench_median(bc, runs), mbd = bench_median(bd, runs);
	double gib_s = bench_ratio(mapped, mc) * NS_TO_GIB_S,
	       bare_gib_s = bench_ratio(mapped, mbc) * NS_TO_GIB_S;
	struct bench_field f[16] = {
		BENCH_NUM("mapped", mapped),
		BENCH_NUM("destroy_ns", md),
		BENCH_NUM("bare_create_ns", mbc),
		BENCH_NUM("bare_destroy_ns", mbd),
		BENCH_NUM("create_ratio", bench_ratio(mc, mbc)),
		BENCH_NUM("destroy_ratio", bench_ratio(md, mbd)),
		BENCH_NUM("create_gib_s", gib_s),
		BENCH_NUM("bare_create_gib_s", bare_gib_s),
		BENCH_RAW("pin_applies", pin->applies ? "true" : "false"),
	};
	unsigned n = 9;

	if (pin_runs) {
		double mp = bench_median(pc, pin_runs);

		f[n++] = (struct bench_field)BENCH_NUM("pin_ns", mp);
		f[n++] = (struct bench_field)BENCH_NUM("unpin_ns", bench_median(pu, pin_runs));
		/* Only a PA-mode region pays for the pin at creation. */
		if (pin->applies)
			f[n++] = (struct bench_field)BENCH_NUM("pin_share", bench_ratio(mp, mc));
	} else {
		f[n++] = (struct bench_field)BENCH_STR("pin_note", pin->why);
	}
	bench_emit_runs(BENCH, name, size, page_size, uc, runs, f);
}

static void bench_case(struct udma_ctx *ctx, size_t size, size_t page_size, unsigned runs,
		       const struct pin_plan *plan)
{
	static double uc[MAX_RUNS], ud[MAX_RUNS], bc[MAX_RUNS], bd[MAX_RUNS], pc[MAX_RUNS], pu[MAX_RUNS];
	char name[64], a[24], b[24], why[512];
	size_t mapped = bench_round_up(size, page_size);
	struct pin_plan pin = *plan;
	unsigned i;
	int rc;

	snprintf(name, sizeof(name), "%s@%s", size_str(size, a, sizeof(a)),
		 size_str(page_size, b, sizeof(b)));
	if (!bench_kernel_offers(page_size)) {
		bench_emit_skip_size(BENCH, name, size, page_size,
				     "this kernel offers no pages of this size");
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
			bench_emit_skip_size(BENCH, name, size, page_size, why);
			return;
		}
	}
	for (i = 0; i < runs; i++) {
		struct sample su, sb;

		/* Alternate the order so neither side always runs on a just-freed pool. */
		if (i & 1) {
			rc = run_bare(size, page_size, &sb, &pin.measure, pin.why, sizeof(pin.why), why,
				      sizeof(why));
			if (!rc)
				rc = run_udma(ctx, size, page_size, &su, why, sizeof(why));
		} else {
			rc = run_udma(ctx, size, page_size, &su, why, sizeof(why));
			if (!rc)
				rc = run_bare(size, page_size, &sb, &pin.measure, pin.why, sizeof(pin.why),
					      why, sizeof(why));
		}
		if (rc) {
			bench_emit_skip_size(BENCH, name, size, page_size, why);
			return;
		}
		uc[i] = su.create;
		ud[i] = su.destroy;
		bc[i] = sb.create;
		bd[i] = sb.destroy;
		pc[i] = sb.pin;
		pu[i] = sb.unpin;
	}
	emit_result(name, size, page_size, runs, uc, ud, bc, bd, pc, pu, pin.measure ? runs : 0, &pin);
}

#define DMA_BUFFER_SIZE ((size_t)32 << 20)
/* Free 2 MiB hugepages while the buffer is asked for: many, as on a machine
 * that reserved them for DMA, so a failed contiguity search had candidates. */
#define DMA_BUFFER_POOL 256

struct dma_buffer_sample {
	double region, sgl, malloc_ns;
	double segments;
	int malloc_ok;
};

static double time_region(struct udma_ctx *ctx, char *why, size_t why_len)
{
	struct udma_region_opts o = {
		.size = DMA_BUFFER_SIZE, .numa_node = UDMA_NUMA_ANY, .name = "bench-dma"};
	struct udma_region *r;
	uint64_t t0 = bench_now_ns();
	int rc = udma_region_create(ctx, &o, &r);
	double t = (double)(bench_now_ns() - t0);

	if (rc) {
		snprintf(why, why_len, "udma_region_create failed: %s", udma_last_error());
		return -1;
	}
	udma_region_destroy(r);
	return t;
}

static double time_sgl(struct udma_ctx *ctx, double *segments, char *why, size_t why_len)
{
	struct udma_sgl_opts o = {.size = DMA_BUFFER_SIZE, .numa_node = UDMA_NUMA_ANY, .name = "bench-sgl"};
	struct udma_sgl *sgl;
	uint64_t t0 = bench_now_ns();
	int rc = udma_sgl_alloc(ctx, &o, &sgl);
	double t = (double)(bench_now_ns() - t0);

	if (rc) {
		snprintf(why, why_len, "udma_sgl_alloc failed: %s", udma_last_error());
		return -1;
	}
	*segments = udma_sgl_count(sgl);
	udma_sgl_free(sgl);
	return t;
}

/* One of each, timed from the call to its return (the free is not timed);
 * region and scatter list in alternating order. */
static int run_dma_buffer(struct udma_ctx *ctx, unsigned i, struct dma_buffer_sample *s, char *why,
			  size_t why_len, char *malloc_why, size_t malloc_why_len)
{
	uint64_t t0, iova;
	void *p;

	if (i & 1) {
		s->sgl = time_sgl(ctx, &s->segments, why, why_len);
		s->region = s->sgl < 0 ? -1 : time_region(ctx, why, why_len);
	} else {
		s->region = time_region(ctx, why, why_len);
		s->sgl = s->region < 0 ? -1 : time_sgl(ctx, &s->segments, why, why_len);
	}
	if (s->region < 0 || s->sgl < 0)
		return -1;
	t0 = bench_now_ns();
	p = udma_malloc(ctx, DMA_BUFFER_SIZE, 0, &iova);
	s->malloc_ns = (double)(bench_now_ns() - t0);
	s->malloc_ok = p != NULL;
	if (p)
		udma_free(ctx, p);
	else
		snprintf(malloc_why, malloc_why_len, "%s", udma_last_error());
	return 0;
}

/* Row dma_buffer: median_ns is udma_sgl_alloc's; region_ns the plain region's
 * (sgl_ratio = the two), malloc_ns udma_malloc's, whether it succeeded or not
 * (malloc_ok runs of runs; malloc_error: the last failure's reason). */
static void bench_dma_buffer(struct udma_ctx *ctx, unsigned runs)
{
	static double rg[MAX_RUNS], sg[MAX_RUNS], ml[MAX_RUNS], seg[MAX_RUNS];
	char why[512], malloc_why[1024] = "";
	struct dma_buffer_sample s;
	unsigned i, ok = 0;
	int n = 0;

	bench_hugepages_ensure(UDMA_PAGE_2M, DMA_BUFFER_POOL);
	for (i = 0; i < runs; i++) {
		if (run_dma_buffer(ctx, i, &s, why, sizeof(why), malloc_why, sizeof(malloc_why))) {
			bench_emit_skip_size(BENCH, "dma_buffer", DMA_BUFFER_SIZE, 0, why);
			return;
		}
		rg[i] = s.region;
		sg[i] = s.sgl;
		ml[i] = s.malloc_ns;
		seg[i] = s.segments;
		ok += s.malloc_ok;
	}
	{
		double mr = bench_median(rg, runs), ms = bench_median(sg, runs);
		struct bench_field f[9] = {
			/* 8 at most, and the end */
			BENCH_NUM("region_ns", mr),
			BENCH_NUM("sgl_ratio", bench_ratio(ms, mr)),
			BENCH_NUM("segments", bench_median(seg, runs)),
			BENCH_NUM("malloc_ns", bench_median(ml, runs)),
			BENCH_NUM("malloc_ok", ok),
			BENCH_NUM("free_2m_pages", udma_hugepage_available(UDMA_PAGE_2M, UDMA_NUMA_ANY)),
			BENCH_NUM("free_1g_pages", udma_hugepage_available(UDMA_PAGE_1G, UDMA_NUMA_ANY)),
		};

		n = 7;
		if (ok < runs)
			f[n++] = (struct bench_field)BENCH_STR("malloc_error", malloc_why);
		bench_emit_runs(BENCH, "dma_buffer", DMA_BUFFER_SIZE, 0, sg, runs, f);
	}
}

static void usage(const char *prog, int rc)
{
	fprintf(rc ? stderr : stdout,
		"usage: %s [--runs N] [--quick] [--iova auto|pa|va]\n"
		"udma_region_create and destroy at 4 KiB, 2 MiB and 1 GiB pages, against a bare\n"
		"mmap(MAP_POPULATE) and munmap, and the long-term pin a PA-mode region takes\n"
		"(pin_ns, pin_share of the creation); then a 32 MiB DMA buffer from udma_malloc\n"
		"(contiguous, or a quick failure), udma_sgl_alloc and a region (case dma_buffer).\n"
		"  --runs N   repetitions per case, medians reported (default 7)\n"
		"  --quick    3 runs, 64 MiB regions only\n"
		"  --iova M   IOVA mode of the context (default auto: PA as root)\n"
		"As root, reserves the hugepages it needs and gives them back at exit.\n" BENCH_OUTPUT_HELP,
		prog);
	exit(rc);
}

BENCH_MAIN(region)
{
	struct udma_ctx_opts co = {.iova_mode = UDMA_IOVA_AUTO, .numa_node = UDMA_NUMA_ANY};
	struct udma_ctx *ctx;
	struct bench_opts o = {.runs = 7};
	struct pin_plan pin = {0};
	unsigned runs, nsizes = 2, i, j;
	int rc;

	for (i = 1; i < (unsigned)argc; i++) {
		if (bench_common_opt(argc, argv, &i, &o, usage))
			continue;
		if (!strcmp(argv[i], "--iova")) {
			const char *m = bench_opt_value(argc, argv, &i);

			if (m && !strcmp(m, "auto"))
				co.iova_mode = UDMA_IOVA_AUTO;
			else if (m && !strcmp(m, "pa"))
				co.iova_mode = UDMA_IOVA_PA;
			else if (m && !strcmp(m, "va"))
				co.iova_mode = UDMA_IOVA_VA;
			else
				bench_usage_error(usage, "--iova takes auto, pa or va, got '%s'", m ? m : "");
		} else {
			bench_usage_error(usage, "unknown option '%s'", argv[i]);
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
	if (rc)
		bench_die(rc < 0 ? -rc : EIO, "no udma context: %s", udma_last_error());
	bench_emit_str(BENCH, "iova_mode", "iova_mode", udma_ctx_iova_mode(ctx) == UDMA_IOVA_PA ? "PA" : "VA",
		       "reason", udma_ctx_iova_reason(ctx), BENCH_END);
	/* VA mode (VFIO) needs no pin of its own: the IOMMU mapping pins. The pin
	 * is still measured there, for what it would cost. */
	pin.applies = udma_ctx_iova_mode(ctx) == UDMA_IOVA_PA;
	pin.measure = !udma__longterm_pin_probe(pin.why, sizeof(pin.why));
	/* First: the other cases leave 1 GiB pages reserved, which udma_malloc would take. */
	bench_dma_buffer(ctx, runs);
	for (i = 0; i < nsizes; i++)
		for (j = 0; j < sizeof(page_sizes) / sizeof(page_sizes[0]); j++)
			bench_case(ctx, region_sizes[i], page_sizes[j], runs, &pin);
	udma_ctx_destroy(ctx);
	bench_hugepages_restore();
	return 0;
}
