/* SPDX-License-Identifier: MIT */
/* The heap: sizes 1 B..64 MiB, alignments, IOVAs and contiguity (pagemap in PA
 * mode), zeroing, large allocations in regions of their own, bad arguments,
 * bad frees, and the leak report of udma_ctx_destroy. Threads: test_heap_threads.c. */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "tests/support/helpers.h"
#include "lib/alloc/heap_internal.h"

#define MiB ((size_t)1 << 20)
/* In PA mode a large allocation is one physical run: up to one hugepage that
 * is certain (hugepages are reserved below); above, it takes free hugepages
 * that happen to be adjacent, so ENOMEM is allowed, if it says why. */
#define PA_SURE UDMA_PAGE_2M

static struct udma_ctx *new_ctx(enum udma_iova_mode mode, size_t page_size, size_t threshold)
{
	struct udma_ctx_opts o = {.iova_mode = mode,
				  .page_size = page_size,
				  .numa_node = UDMA_NUMA_ANY,
				  .heap_large_threshold = threshold};
	struct udma_ctx *ctx = NULL;
	int rc = udma_ctx_create(&o, &ctx);

	if (rc)
		print_error("udma_ctx_create: %s\n", udma_last_error());
	assert_int_equal(rc, 0);
	return ctx;
}

static int is_pa(const struct udma_ctx *ctx)
{
	return udma_ctx_iova_mode(ctx) == UDMA_IOVA_PA;
}

static unsigned count_regions(const struct udma_ctx *ctx)
{
	const struct udma_region *r;
	unsigned n = 0;

	for (r = udma_region_next(ctx, NULL); r; r = udma_region_next(ctx, r))
		n++;
	return n;
}

static const struct udma_region *region_holding(const struct udma_ctx *ctx, const void *p)
{
	const struct udma_region *r;

	for (r = udma_region_next(ctx, NULL); r; r = udma_region_next(ctx, r))
		if ((const uint8_t *)p >= (const uint8_t *)udma_region_addr(r) &&
		    (const uint8_t *)p < (const uint8_t *)udma_region_addr(r) + udma_region_size(r))
			return r;
	return NULL;
}

/* Aligned, the IOVA as returned and as udma_iova says, IOVA-contiguous over
 * size, in PA mode what a fresh pagemap read says on every page (sampled to
 * 64 pages and the last byte), and writable. */
static void check_buf(struct udma_ctx *ctx, void *p, size_t size, size_t align, uint64_t iova)
{
	uint8_t *b = p;
	size_t step, off;

	assert_non_null(p);
	assert_int_equal((uintptr_t)p % (align > 64 ? align : 64), 0);
	assert_int_equal(iova, udma_iova(ctx, p));
	assert_int_equal(udma_iova_contig(ctx, p, size), size);
	if (is_pa(ctx)) {
		step = size / 64 > 4096 ? size / 64 / 4096 * 4096 : 4096;
		for (off = 0; off < size; off += off ? step : 4096 - (uintptr_t)p % 4096)
			assert_int_equal(th_pagemap_pa(b + off), iova + off);
		assert_int_equal(th_pagemap_pa(b + size - 1), iova + size - 1);
	} else {
		assert_int_equal(iova, (uintptr_t)p);
	}
	memset(p, 0x5a, size);
}

static unsigned count_lines(const char *s, const char *prefix)
{
	unsigned n = 0;

	for (; s && *s; s = strchr(s, '\n') ? strchr(s, '\n') + 1 : "")
		n += !strncmp(s, prefix, strlen(prefix));
	return n;
}

/* ---- sizes, IOVAs, contiguity ---- */

struct live {
	uint8_t *p;
	size_t size;
};

static int by_ptr(const void *a, const void *b)
{
	uintptr_t x = (uintptr_t) * (void *const *)a, y = (uintptr_t) * (void *const *)b;

	return (x > y) - (x < y);
}

static int by_addr(const void *a, const void *b)
{
	uintptr_t x = (uintptr_t)((const struct live *)a)->p, y = (uintptr_t)((const struct live *)b)->p;

	return (x > y) - (x < y);
}

/* Live allocations do not overlap, and each still holds its own byte. */
static void check_disjoint(struct live *l, unsigned n)
{
	unsigned i;
	size_t k;

	for (i = 0; i < n; i++)
		for (k = 0; k < l[i].size; k += 1 + l[i].size / 16)
			assert_int_equal(l[i].p[k], (uint8_t)(i * 7 + 1));
	qsort(l, n, sizeof(*l), by_addr);
	for (i = 1; i < n; i++)
		assert_true(l[i - 1].p + l[i - 1].size <= l[i].p);
}

/* Every size from 1 byte to max: 2^k - 1, 2^k, 2^k + 1, 1.5 * 2^k (to 4 MiB,
 * then powers of two). Small ones stay allocated and are checked for overlap;
 * large ones must get a region of their own and give it back. */
static void sizes_up_to(struct udma_ctx *ctx, size_t max)
{
	static struct live l[256];
	size_t sizes[256], k, size;
	unsigned n = 0, nl = 0, i, regions;
	const struct udma_region *r;
	uint64_t iova;

	for (k = 1; k <= max; k *= 2) {
		size_t s[4] = {k - 1, k, k + 1, k + k / 2};

		for (i = 0; i < 4; i++)
			if (s[i] && s[i] <= max && (k <= 4 * MiB || i == 1))
				sizes[n++] = s[i];
	}
	for (i = 0; i < n; i++) {
		size = sizes[i];
		regions = count_regions(ctx);
		iova = 0;
		l[nl].p = udma_malloc(ctx, size, 0, &iova);
		if (!l[nl].p && is_pa(ctx) && size > PA_SURE) {
			/* no run that long among the free hugepages: allowed, if explained */
			assert_int_equal(errno, ENOMEM);
			assert_non_null(strstr(udma_last_error(), "contiguous"));
			printf("# note: %zu MiB in PA mode: %s\n", size >> 20, udma_last_error());
			continue;
		}
		if (!l[nl].p)
			print_error("udma_malloc(%zu): %s\n", size, udma_last_error());
		check_buf(ctx, l[nl].p, size, 0, iova);
		if (size > HEAP_DEFAULT_THRESHOLD) {
			r = region_holding(ctx, l[nl].p);
			assert_non_null(r);
			assert_ptr_equal(udma_region_addr(r), l[nl].p);
			assert_string_equal(udma_region_name(r), "heap-large");
			assert_int_equal(count_regions(ctx), regions + 1);
			udma_free(ctx, l[nl].p);
			assert_int_equal(count_regions(ctx), regions);
			continue;
		}
		l[nl].size = size;
		memset(l[nl].p, nl * 7 + 1, size);
		nl++;
	}
	check_disjoint(l, nl);
	for (i = 0; i < nl; i++)
		udma_free(ctx, l[i].p);
}

static void sizes_auto(void **state)
{
	struct udma_ctx *ctx = new_ctx(UDMA_IOVA_AUTO, 0, 0);

	(void)state;
	sizes_up_to(ctx, 64 * MiB);
	udma_ctx_destroy(ctx);
}

static void sizes_va(void **state)
{
	struct udma_ctx *ctx = new_ctx(UDMA_IOVA_VA, 0, 0);

	(void)state;
	sizes_up_to(ctx, 64 * MiB);
	udma_ctx_destroy(ctx);
}

/* 4 KiB pages in PA mode: objects of up to a page never need two pages to be
 * adjacent, and those that cross a page boundary (192 B, 3 KiB) must not
 * cross a discontinuity. Larger ones need a contiguous run, or ENOMEM. */
static void pages_4k(void **state)
{
	static const size_t small[] = {1, 64, 100, 192, 1000, 1536, 3072, 4096};
	static const size_t big[] = {4097, 8192, 65536, 262144};
	static void *p[3000];
	struct udma_ctx *ctx = new_ctx(UDMA_IOVA_AUTO, UDMA_PAGE_4K, 0);
	unsigned i, k;
	uint64_t iova;

	(void)state;
	for (i = 0; i < sizeof(small) / sizeof(small[0]); i++) {
		unsigned n = small[i] <= 192 ? 3000 : 300;

		for (k = 0; k < n; k++) {
			p[k] = udma_malloc(ctx, small[i], 0, &iova);
			check_buf(ctx, p[k], small[i], 0, iova);
			assert_int_equal(udma_region_page_size(region_holding(ctx, p[k])), UDMA_PAGE_4K);
		}
		for (k = 0; k < n; k++)
			udma_free(ctx, p[k]);
	}
	for (i = 0; i < sizeof(big) / sizeof(big[0]); i++) {
		void *b = udma_malloc(ctx, big[i], 0, &iova);

		if (!b && is_pa(ctx)) {
			assert_int_equal(errno, ENOMEM);
			assert_non_null(strstr(udma_last_error(), "contiguous"));
			printf("# note: %zu bytes on 4 KiB pages: %s\n", big[i], udma_last_error());
			continue;
		}
		check_buf(ctx, b, big[i], 0, iova);
		udma_free(ctx, b);
	}
	udma_ctx_destroy(ctx);
}

/* A 1 GiB page context: 64 MiB in one page is contiguous in PA mode too;
 * alignments up to 1 GiB. */
static void pages_1g(void **state)
{
	struct udma_ctx *ctx;
	uint64_t iova;
	void *p;

	(void)state;
	if (!th_hugepages_ensure(UDMA_PAGE_1G, 1))
		skip();
	ctx = new_ctx(UDMA_IOVA_AUTO, UDMA_PAGE_1G, 0);
	p = udma_malloc(ctx, 64 * MiB, 0, &iova);
	check_buf(ctx, p, 64 * MiB, 0, iova);
	assert_int_equal(udma_region_page_size(region_holding(ctx, p)), UDMA_PAGE_1G);
	udma_free(ctx, p);
	p = udma_malloc(ctx, 4096, UDMA_PAGE_1G, &iova);
	check_buf(ctx, p, 4096, UDMA_PAGE_1G, iova);
	udma_free(ctx, p);
	/* small classes do not take a 1 GiB page each */
	p = udma_malloc(ctx, 100, 0, &iova);
	check_buf(ctx, p, 100, 0, iova);
	if (th_hugepages_ensure(UDMA_PAGE_2M, 1))
		assert_int_equal(udma_region_page_size(region_holding(ctx, p)), UDMA_PAGE_2M);
	udma_free(ctx, p);
	udma_ctx_destroy(ctx);
}

/* ---- alignment ---- */

static void alignments(void **state)
{
	static const size_t sizes[] = {1, 64, 100, 4096, 5000, 100000, 3 * MiB};
	static const size_t bad[] = {3, 48, 96, 1000, (size_t)3 << 20};
	struct udma_ctx *ctx = new_ctx(UDMA_IOVA_AUTO, 0, 0);
	static void *p[32 * 8];
	unsigned n = 0, i;
	size_t align;
	uint64_t iova;

	/* 22 live 3 MiB blocks, each a physically contiguous region of its own:
	 * in PA mode, 22 pairs of adjacent free hugepages, which the kernel often
	 * does not have (the large-block tests cover PA, saying when they can't). */
	bool big = udma_ctx_iova_mode(ctx) == UDMA_IOVA_VA;

	(void)state;
	if (!big)
		printf("# PA mode: 3 MiB blocks not tried here (22 pairs of adjacent hugepages)\n");
	for (align = 1; align <= UDMA_PAGE_2M; align *= 2)
		for (i = 0; i < sizeof(sizes) / sizeof(sizes[0]); i++) {
			if (sizes[i] >= UDMA_PAGE_2M && !big)
				continue;
			p[n] = udma_malloc(ctx, sizes[i], align, &iova);
			if (!p[n])
				print_error("udma_malloc(%zu, align %zu): %s\n", sizes[i], align,
					    udma_last_error());
			check_buf(ctx, p[n], sizes[i], align, iova);
			n++;
		}
	/* align 0: a cache line */
	p[n] = udma_malloc(ctx, 1, 0, &iova);
	check_buf(ctx, p[n++], 1, 64, iova);
	for (i = 0; i < n; i++)
		udma_free(ctx, p[i]);
	for (i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
		errno = 0;
		assert_null(udma_malloc(ctx, 64, bad[i], NULL));
		th_assert_err(-errno, EINVAL);
		assert_non_null(strstr(udma_last_error(), "power of two"));
	}
	/* above the page size (2 MiB here: the context's pages are at most that) */
	assert_null(udma_malloc(ctx, 64, 2 * UDMA_PAGE_2M, NULL));
	th_assert_err(-errno, EINVAL);
	assert_non_null(strstr(udma_last_error(), "page size"));
	assert_null(udma_zmalloc(ctx, 64, UDMA_PAGE_1G, NULL));
	th_assert_err(-errno, EINVAL);
	udma_ctx_destroy(ctx);
}

/* ---- arguments ---- */

static void bad_args(void **state)
{
	struct udma_ctx *ctx = new_ctx(UDMA_IOVA_AUTO, 0, 0);

	(void)state;
	assert_null(udma_malloc(NULL, 64, 0, NULL));
	th_assert_err(-errno, EINVAL);
	assert_null(udma_zmalloc(NULL, 64, 0, NULL));
	th_assert_err(-errno, EINVAL);
	assert_null(udma_malloc(ctx, 0, 0, NULL));
	th_assert_err(-errno, EINVAL);
	assert_non_null(strstr(udma_last_error(), "size is 0"));
	assert_null(udma_zmalloc(ctx, 0, 64, NULL));
	th_assert_err(-errno, EINVAL);
	/* more than the address space: a region cannot be that large */
	assert_null(udma_malloc(ctx, SIZE_MAX, 0, NULL));
	assert_int_equal(errno, EINVAL);
	assert_non_null(strstr(udma_last_error(), "too large"));
	assert_null(udma_malloc(ctx, SIZE_MAX / 2, 0, NULL));
	assert_int_equal(errno, EINVAL);
	/* the heap still works */
	udma_free(ctx, udma_malloc(ctx, 64, 0, NULL));
	udma_ctx_destroy(ctx);
}

/* More than RLIMIT_MEMLOCK (4 KiB pages, not root): ENOMEM, and why. */
static int memlock_child(void *arg)
{
	struct udma_ctx_opts o = {
		.iova_mode = UDMA_IOVA_VA, .page_size = UDMA_PAGE_4K, .numa_node = UDMA_NUMA_ANY};
	struct udma_ctx *ctx;
	void *p;

	(void)arg;
	if (udma_ctx_create(&o, &ctx))
		return 10;
	p = udma_malloc(ctx, 64, 0, NULL); /* a 64 KiB slab fits */
	if (!p)
		return 11;
	udma_free(ctx, p);
	if (udma_malloc(ctx, 8 * MiB, 0, NULL))
		return 12;
	if (errno != ENOMEM || !strstr(udma_last_error(), "RLIMIT_MEMLOCK"))
		return 13;
	udma_ctx_destroy(ctx);
	return 0;
}

static void memlock_enomem(void **state)
{
	(void)state;
	assert_int_equal(th_run_child(memlock_child, NULL, 1, MiB), 0);
}

/* ---- zeroing ---- */

static void zmalloc_zeroes(void **state)
{
	static const size_t sizes[] = {1, 63, 64, 100, 4096, 70000, 1 * MiB, 3 * MiB};
	struct udma_ctx *ctx = new_ctx(UDMA_IOVA_AUTO, 0, 0);
	unsigned i;
	size_t k;
	uint64_t iova;

	(void)state;
	for (i = 0; i < sizeof(sizes) / sizeof(sizes[0]); i++) {
		uint8_t *p = udma_malloc(ctx, sizes[i], 0, NULL), *q;

		assert_non_null(p);
		memset(p, 0xff, sizes[i]);
		udma_free(ctx, p);
		q = udma_zmalloc(ctx, sizes[i], 0, &iova);
		check_buf(ctx, q, sizes[i], 0, iova); /* checks, then scribbles: zero again */
		udma_free(ctx, q);
		q = udma_zmalloc(ctx, sizes[i], 0, NULL);
		if (sizes[i] <= HEAP_DEFAULT_THRESHOLD)
			assert_ptr_equal(q, p); /* reused: the thread cache is LIFO */
		for (k = 0; k < sizes[i]; k++)
			if (q[k])
				fail_msg("byte %zu of a reused %zu-byte zmalloc is 0x%x", k, sizes[i], q[k]);
		udma_free(ctx, q);
	}
	udma_ctx_destroy(ctx);
}

/* ---- large allocations and the threshold ---- */

static void large_threshold(void **state)
{
	struct udma_ctx *ctx = new_ctx(UDMA_IOVA_AUTO, 0, 8192);
	unsigned regions;
	void *a, *b, *c;

	(void)state;
	a = udma_malloc(ctx, 8192, 0, NULL); /* the first of its class: a slab */
	assert_non_null(a);
	regions = count_regions(ctx);
	b = udma_malloc(ctx, 8192, 0, NULL); /* same slab */
	assert_non_null(b);
	assert_int_equal(count_regions(ctx), regions);
	c = udma_malloc(ctx, 8193, 0, NULL); /* above the threshold: its own region */
	assert_non_null(c);
	assert_int_equal(count_regions(ctx), regions + 1);
	assert_ptr_equal(udma_region_addr(region_holding(ctx, c)), c);
	udma_free(ctx, c);
	assert_int_equal(count_regions(ctx), regions);
	/* an alignment no class has: its own region too */
	c = udma_malloc(ctx, 100, UDMA_PAGE_2M, NULL);
	assert_non_null(c);
	assert_int_equal((uintptr_t)c % UDMA_PAGE_2M, 0);
	assert_int_equal(count_regions(ctx), regions + 1);
	udma_free(ctx, c);
	assert_int_equal(count_regions(ctx), regions);
	udma_free(ctx, a);
	udma_free(ctx, b);
	udma_ctx_destroy(ctx);

	/* the default: 1 MiB */
	ctx = new_ctx(UDMA_IOVA_AUTO, 0, 0);
	a = udma_malloc(ctx, MiB, 0, NULL);
	regions = count_regions(ctx);
	c = udma_malloc(ctx, MiB + 1, 0, NULL);
	assert_int_equal(count_regions(ctx), regions + 1);
	udma_free(ctx, c);
	udma_free(ctx, a);
	udma_ctx_destroy(ctx);

	/* above 32 MiB is taken as 32 MiB (VA mode: a 64 MiB slab needs no physical run) */
	ctx = new_ctx(UDMA_IOVA_VA, 0,
		      (size_t)1 << (SIZE_MAX > UINT32_MAX ? 40 : 31)); /* 1 TiB, 2 GiB on 32-bit */
	a = udma_malloc(ctx, 32 * MiB, 0, NULL);
	assert_non_null(a);
	assert_string_equal(udma_region_name(region_holding(ctx, a)), "heap"); /* a slab, not its own */
	regions = count_regions(ctx);
	c = udma_malloc(ctx, 32 * MiB + 1, 0, NULL);
	assert_non_null(c);
	assert_int_equal(count_regions(ctx), regions + 1);
	udma_free(ctx, c);
	udma_free(ctx, a);
	udma_ctx_destroy(ctx);
}

/* ---- misuse of udma_free ---- */

static void bad_frees(void **state)
{
	struct udma_ctx *ctx = new_ctx(UDMA_IOVA_AUTO, 0, 0), *other = new_ctx(UDMA_IOVA_AUTO, 0, 0);
	struct udma_region_opts ro = {.size = 4096, .numa_node = UDMA_NUMA_ANY, .name = "mine"};
	struct udma_region *mine;
	static void *many[200];
	struct th_stderr cap;
	const char *out;
	uint8_t *p, *q, *big, *slack, *o;
	unsigned i, expect = 0;
	int on_stack;
	void *from_malloc = malloc(64);
	const struct udma_region *r;

	(void)state;
	assert_int_equal(udma_region_create(ctx, &ro, &mine), 0);
	p = udma_malloc(ctx, 128, 0, NULL);
	q = udma_malloc(ctx, 192, 0, NULL);
	big = udma_malloc(ctx, 3 * MiB, 0, NULL);
	o = udma_malloc(other, 64, 0, NULL);
	assert_non_null(p);
	assert_non_null(q);
	assert_non_null(big);
	assert_non_null(o);
	/* the end of the 192-byte slab: 2 MiB is not a multiple of 192 */
	r = region_holding(ctx, q);
	slack = (uint8_t *)udma_region_addr(r) + udma_region_size(r) / 192 * 192;
	for (i = 0; i < 200; i++)
		many[i] = udma_malloc(ctx, 256, 0, NULL);

	th_stderr_start(&cap);
	udma_free(ctx, NULL); /* no-op */
	udma_free(NULL, NULL);
	udma_free(ctx, &on_stack), expect++;
	assert_non_null(strstr(udma_last_error(), "not in this context's heap"));
	udma_free(ctx, from_malloc), expect++;
	udma_free(NULL, p), expect++;
	assert_non_null(strstr(udma_last_error(), "ctx is NULL"));
	udma_free(ctx, p + 1), expect++;
	assert_non_null(strstr(udma_last_error(), "interior"));
	udma_free(ctx, p + 64), expect++;
	assert_non_null(strstr(udma_last_error(), "64 bytes into the 128 B heap object"));
	udma_free(ctx, big + 4096), expect++;
	assert_non_null(strstr(udma_last_error(), "interior"));
	udma_free(ctx, slack), expect++;
	assert_non_null(strstr(udma_last_error(), "at no object"));
	udma_free(ctx, udma_region_addr(mine)), expect++;
	assert_non_null(strstr(udma_last_error(), "does not own"));
	udma_free(ctx, o), expect++; /* another context's */
	assert_non_null(strstr(udma_last_error(), "not in this context's heap"));
	/* double free, the first free in the thread cache */
	udma_free(ctx, p);
	udma_free(ctx, p), expect++;
	assert_non_null(strstr(udma_last_error(), "double free"));
	/* double free, the first free flushed back to the slab (past the magazine) */
	for (i = 0; i < 200; i++)
		udma_free(ctx, many[i]);
	udma_free(ctx, many[0]), expect++;
	assert_non_null(strstr(udma_last_error(), "double free"));
	udma_free(ctx, many[199]), expect++;
	/* double free of a large allocation: its region is gone */
	udma_free(ctx, big);
	udma_free(ctx, big), expect++;
	assert_non_null(strstr(udma_last_error(), "not in this context's heap"));
	out = th_stderr_end(&cap);
	assert_int_equal(count_lines(out, "udma: udma_free("), expect);
	assert_int_equal(count_lines(out, "udma: "), expect);

	/* nothing was freed by the bad frees, and nothing is handed out twice */
	udma_free(other, o);
	udma_free(ctx, q);
	udma_region_destroy(mine);
	for (i = 0; i < 200; i++) {
		many[i] = udma_malloc(ctx, 128, 0, NULL);
		assert_non_null(many[i]);
		memset(many[i], i, 128);
	}
	for (i = 0; i < 200; i++) {
		assert_int_equal(((uint8_t *)many[i])[0], (uint8_t)i);
		assert_int_equal(((uint8_t *)many[i])[127], (uint8_t)i);
		udma_free(ctx, many[i]);
	}
	free(from_malloc);
	th_stderr_start(&cap);
	udma_ctx_destroy(other);
	udma_ctx_destroy(ctx);
	out = th_stderr_end(&cap);
	assert_string_equal(out, ""); /* nothing left: the bad frees freed nothing either way */
}

/* ---- udma_ctx_destroy with allocations never freed ---- */

static void destroy_reports(void **state)
{
	struct udma_ctx *ctx = new_ctx(UDMA_IOVA_AUTO, 0, 0);
	struct th_stderr cap;
	const char *out;
	void *p;

	(void)state;
	assert_non_null(udma_malloc(ctx, 64, 0, NULL));
	assert_non_null(udma_malloc(ctx, 100, 0, NULL));
	assert_non_null(udma_malloc(ctx, 2 * MiB, 0, NULL));
	p = udma_malloc(ctx, 4096, 0, NULL);
	udma_free(ctx, p); /* in the thread cache: not a leak */
	th_stderr_start(&cap);
	udma_ctx_destroy(ctx);
	out = th_stderr_end(&cap);
	/* 64 + 128 (class of 100) + 2 MiB */
	assert_non_null(
		strstr(out, "udma: heap: 3 allocations (2097344 B) never freed before udma_ctx_destroy"));
	assert_int_equal(count_lines(out, "udma: "), 1);

	/* all freed: silent */
	ctx = new_ctx(UDMA_IOVA_AUTO, 0, 0);
	p = udma_malloc(ctx, 64, 0, NULL);
	udma_free(ctx, p);
	th_stderr_start(&cap);
	udma_ctx_destroy(ctx);
	assert_string_equal(th_stderr_end(&cap), "");
}

/* ---- two contexts used by one thread in turn ---- */

static void two_contexts(void **state)
{
	struct udma_ctx *a = new_ctx(UDMA_IOVA_AUTO, 0, 0), *b = new_ctx(UDMA_IOVA_VA, 0, 0);
	static void *pa[1000], *pb[1000];
	struct th_stderr cap;
	unsigned i;

	(void)state;
	for (i = 0; i < 1000; i++) {
		pa[i] = udma_malloc(a, 64 + i, 0, NULL);
		pb[i] = udma_malloc(b, 64 + i, 0, NULL);
		assert_non_null(pa[i]);
		assert_non_null(pb[i]);
		assert_int_equal(udma_iova(b, pa[i]), UDMA_BAD_IOVA);
		assert_int_equal(udma_iova(a, pb[i]), UDMA_BAD_IOVA);
	}
	th_stderr_start(&cap);
	udma_free(a, pb[0]); /* each context refuses the other's */
	udma_free(b, pa[0]);
	assert_int_equal(count_lines(th_stderr_end(&cap), "udma: udma_free("), 2);
	for (i = 0; i < 1000; i++) {
		udma_free(b, pb[i]);
		udma_free(a, pa[i]);
	}
	th_stderr_start(&cap);
	udma_ctx_destroy(a);
	udma_ctx_destroy(b);
	assert_string_equal(th_stderr_end(&cap), "");
}

/* ---- internals: classes and the slot division ---- */

static void classes(void **state)
{
	struct udma_ctx *ctx = new_ctx(UDMA_IOVA_VA, 0, 32 * MiB);
	struct udma_heap *h;
	size_t size, off;
	unsigned i, c;

	(void)state;
	udma_free(ctx, udma_malloc(ctx, 1, 0, NULL)); /* creates the heap */
	h = udma__ctx_state(ctx, UDMA_CTX_SLOT_HEAP);
	assert_int_equal(h->nclasses, HEAP_MAX_CLASSES);
	assert_int_equal(h->cls[0].size, 64);
	assert_int_equal(h->cls[HEAP_MAX_CLASSES - 1].size, 32 * MiB);
	for (i = 1; i < h->nclasses; i++) {
		assert_true(h->cls[i].size > h->cls[i - 1].size);
		assert_true(h->cls[i].size <= h->cls[i - 1].size * 2);
		assert_int_equal(h->cls[i].size % 64, 0);
		assert_int_equal(h->cls[i].size % h->cls[i].align, 0);
	}
	/* the smallest class that holds size: above 128 B, at most a third wasted */
	for (size = 1; size <= 32 * MiB; size += 1 + size / 97) {
		c = udma__heap_size_class(size);
		assert_true(c < h->nclasses);
		assert_true(h->cls[c].size >= size);
		assert_true(c == 0 || h->cls[c - 1].size < size);
		assert_true(size <= 128 || (h->cls[c].size - size) * 3 < h->cls[c].size);
	}
	/* the class for an alignment has it */
	for (size = 64; size <= MiB; size *= 2)
		for (off = 64; off <= MiB; off *= 2) {
			c = udma__heap_class_for(h, size, off);
			assert_true(c < h->nclasses);
			assert_true(h->cls[c].size >= size && h->cls[c].size % off == 0);
		}
	/* offset -> slot by multiplication is exact over a slab */
	for (i = 0; i < h->nclasses; i++) {
		size_t stride = h->cls[i].size,
		       span = 2 * (stride > UDMA_PAGE_2M ? 2 * stride : UDMA_PAGE_2M);
		uint64_t recip = UINT64_MAX / stride + 1;

		for (off = 0; off < span; off += stride) {
			assert_int_equal(udma__heap_div(off, recip), off / stride);
			assert_int_equal(udma__heap_div(off + stride - 1, recip), off / stride);
			assert_int_equal(udma__heap_div(off + 1, recip), (off + 1) / stride);
		}
	}
	udma_ctx_destroy(ctx);
}

/* ---- what two racing frees can leave behind ---- */

/* Both frees of a racing double free see USED and store their tag; the last
 * store wins, the other's entry is stale. Forged here, one step at a time. */
static void stale_entries(void **state)
{
	struct udma_ctx *ctx = new_ctx(UDMA_IOVA_VA, 0, 0);
	static void *all[40000];
	struct heap_slab *s;
	struct heap_entry e;
	heap_state mine, other;
	uint32_t i, n, idx, before, rebuilt = 0;
	uint8_t *p, *q;

	(void)state;
	p = udma_malloc(ctx, 64, 0, NULL);
	assert_non_null(p);
	s = (struct heap_slab *)((uintptr_t)region_holding(ctx, p)->owner - HEAP_OWNER_TAG);
	idx = (uint32_t)((p - s->base) / 64);
	mine = ((struct heap_tcache *)udma__tcache_memo[TCACHE_HEAP].rec)->tag;
	other = mine + 1;

	/* 1. This thread's free lost: its cache entry for p is stale, malloc skips it. */
	udma_free(ctx, p);
	atomic_store(&s->state[idx], other);
	q = udma_malloc(ctx, 64, 0, NULL);
	assert_ptr_not_equal(q, p);
	udma_free(ctx, q);
	/* the winner gives p back to the slab */
	e = (struct heap_entry){.p = p, .idx = idx, .slab = s};
	udma__heap_flush(udma__ctx_state(ctx, UDMA_CTX_SLOT_HEAP), 0, &e, 1, other);
	assert_int_equal(atomic_load(&s->state[idx]), HEAP_SLOT_INSLAB);
	/* a loser's flush of the same entry moves nothing */
	udma__heap_flush(udma__ctx_state(ctx, UDMA_CTX_SLOT_HEAP), 0, &e, 1, mine);

	/* 2. Stale slot indices on the slab's stack: each forged twin flush pushes a
	 * slot that is already there, until the stack is full and is rebuilt. */
	for (n = 0; n < 3 * s->nslots; n++) {
		i = n % s->nslots;
		if (atomic_load(&s->state[i]) != HEAP_SLOT_INSLAB)
			continue;
		atomic_store(&s->state[i], other);
		e = (struct heap_entry){.p = s->base + (size_t)i * 64, .idx = i, .slab = s};
		before = s->nfree;
		udma__heap_flush(udma__ctx_state(ctx, UDMA_CTX_SLOT_HEAP), 0, &e, 1, other);
		assert_true(s->nfree <= s->nslots);
		rebuilt += s->nfree < before;
	}
	assert_true(rebuilt > 0);
	/* every object of the slab once, then a new slab */
	for (n = 0; n < s->usable + 100; n++) {
		all[n] = udma_malloc(ctx, 64, 0, NULL);
		assert_non_null(all[n]);
	}
	qsort(all, n, sizeof(all[0]), by_ptr);
	for (i = 1; i < n; i++)
		assert_ptr_not_equal(all[i - 1], all[i]);
	for (i = 0; i < n; i++)
		udma_free(ctx, all[i]);
	udma_ctx_destroy(ctx);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		th_test(sizes_auto),	 th_test(sizes_va),	   th_test(pages_4k),
		th_test(pages_1g),	 th_test(alignments),	   th_test(bad_args),
		th_test(memlock_enomem), th_test(zmalloc_zeroes),  th_test(large_threshold),
		th_test(bad_frees),	 th_test(destroy_reports), th_test(classes),
		th_test(two_contexts),	 th_test(stale_entries),
	};

	/* Slabs and large allocations on 2 MiB pages, with room to find a run of 32. */
	th_hugepages_ensure(UDMA_PAGE_2M, 192);
	return cmocka_run_group_tests_name("heap", tests, NULL, NULL);
}
