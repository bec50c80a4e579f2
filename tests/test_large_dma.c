/* SPDX-License-Identifier: MIT */
/*
 * Large DMA buffers: a contiguous request the memory cannot meet fails
 * quickly and says why (the longest run seen, the fixes), takes 1 GiB pages
 * when free, and a scatter list (udma_sgl_alloc) gets the same memory as
 * IOVA-contiguous segments. The machine's real PFNs decide whether free
 * hugepages happen to be adjacent, so the no-run cases scatter them: the
 * pagemap reads of 2 MiB pages are wrapped (--wrap=udma__pagemap_read) to
 * report every page two pages apart from the last.
 */
#include <errno.h>
#include <stdio.h>
#include <string.h>

#include "tests/support/helpers.h"
#include "lib/os/os.h"

static int scatter_2m;			 /* report 2 MiB pages as never adjacent */
static uint64_t next_fake_pfn = 1 << 20; /* the next scattered PFN handed out (0 means none) */

int __real_udma__pagemap_read(int fd, const void *addr, size_t page_size, size_t npages, uint64_t *entries);
int __wrap_udma__pagemap_read(int fd, const void *addr, size_t page_size, size_t npages, uint64_t *entries);
int __wrap_udma__pagemap_read(int fd, const void *addr, size_t page_size, size_t npages, uint64_t *entries)
{
	int rc = __real_udma__pagemap_read(fd, addr, page_size, npages, entries);
	size_t i;

	if (rc || !scatter_2m || page_size != UDMA_PAGE_2M)
		return rc;
	for (i = 0; i < npages; i++) {
		entries[i] = (entries[i] & ~UDMA_PM_PFN_MASK) | next_fake_pfn;
		next_fake_pfn += 2 * (UDMA_PAGE_2M / UDMA_PAGE_4K);
	}
	return 0;
}

static struct udma_ctx *pa_ctx(void)
{
	struct udma_ctx_opts o = {.iova_mode = UDMA_IOVA_PA, .numa_node = UDMA_NUMA_ANY};
	struct udma_ctx *ctx;

	if (udma_ctx_create(&o, &ctx)) {
		printf("# skip: PA mode needs root: %s\n", udma_last_error());
		skip();
	}
	return ctx;
}

static void need_2m_pages(unsigned long n)
{
	if (!th_hugepages_ensure(UDMA_PAGE_2M, n)) {
		printf("# skip: needs %lu free 2 MiB hugepages (root reserves them)\n", n);
		skip();
	}
}

/* 32 MiB with only scattered 2 MiB pages free and no 1 GiB page: udma_malloc
 * fails with ENOMEM naming the longest run, the fixes and the scatter list,
 * without a search among 4 KiB pages; nothing is kept. */
static void malloc_without_run_fails_saying_why(void **state)
{
	struct udma_ctx *ctx;
	long before;
	uint64_t iova = 0;
	void *p;

	(void)state;
	need_2m_pages(64);
	ctx = pa_ctx();
	if (!th_hugepages_hold(UDMA_PAGE_1G, 0)) {
		udma_ctx_destroy(ctx);
		printf("# skip: cannot keep 1 GiB pages out of reach\n");
		skip();
	}
	before = udma_hugepage_available(UDMA_PAGE_2M, UDMA_NUMA_ANY);
	scatter_2m = 1;
	p = udma_malloc(ctx, (size_t)32 << 20, 0, &iova);
	scatter_2m = 0;
	th_hugepages_unhold();
	assert_null(p);
	assert_int_equal(errno, ENOMEM);
	printf("# %s\n", udma_last_error());
	assert_non_null(strstr(udma_last_error(), "udma_malloc(32 MiB)"));
	assert_non_null(strstr(udma_last_error(), "the longest among the"));
	assert_non_null(strstr(udma_last_error(), "is 2 MiB"));
	assert_non_null(strstr(udma_last_error(), "1 GiB pages"));
	assert_non_null(strstr(udma_last_error(), "VA mode"));
	assert_non_null(strstr(udma_last_error(), "udma_sgl_alloc"));
	/* 4 KiB pages are refused at once: no run longer than 4 MiB is searched for */
	assert_non_null(strstr(udma_last_error(), "longer than 4 MiB"));
	assert_int_equal(udma_hugepage_available(UDMA_PAGE_2M, UDMA_NUMA_ANY), before);
	assert_null(udma_region_next(ctx, NULL));
	udma_ctx_destroy(ctx);
}

/* The same request takes a 1 GiB page, one run, when one is free. */
static void contig_takes_a_1g_page_when_no_2m_run(void **state)
{
	struct udma_region_opts o = {.size = (size_t)32 << 20,
				     .numa_node = UDMA_NUMA_ANY,
				     .flags = UDMA_REGION_CONTIG,
				     .name = "big"};
	struct udma_ctx *ctx;
	struct udma_region *r;
	int rc;

	(void)state;
	need_2m_pages(64);
	if (!th_hugepages_ensure(UDMA_PAGE_1G, 1)) {
		printf("# skip: no free 1 GiB page (the kernel found no 1 GiB of free contiguous memory)\n");
		skip();
	}
	ctx = pa_ctx();
	scatter_2m = 1;
	assert_int_equal(udma_region_create(ctx, &o, &r), 0);
	scatter_2m = 0;
	assert_int_equal(udma_region_page_size(r), UDMA_PAGE_1G);
	assert_int_equal(udma_iova_contig(ctx, udma_region_addr(r), o.size), o.size);
	udma_region_destroy(r);
	/* No 2 MiB page free: 4 KiB pages are chosen, a run of them longer than
	 * 4 MiB is not searched for, and the 1 GiB page serves. */
	if (th_hugepages_hold(UDMA_PAGE_2M, 0)) {
		o.size = (size_t)8 << 20;
		assert_int_equal(udma_region_create(ctx, &o, &r), 0);
		assert_int_equal(udma_region_page_size(r), UDMA_PAGE_1G);
		udma_region_destroy(r);
		/* one a 2 MiB page could hold never burns a 1 GiB page (4 KiB pages
		 * then: a run, or ENOMEM) */
		o.size = (size_t)1 << 20;
		rc = udma_region_create(ctx, &o, &r);
		if (rc == 0) {
			assert_int_equal(udma_region_page_size(r), UDMA_PAGE_4K);
			udma_region_destroy(r);
		} else {
			th_assert_err(rc, ENOMEM);
		}
	} else {
		printf("# skip of the 4 KiB part: cannot keep the 2 MiB pages out of reach\n");
	}
	th_hugepages_unhold();
	udma_ctx_destroy(ctx);
}

/* Every segment is what udma_iova and udma_iova_contig say, they tile the
 * buffer in order, none is longer than max_seg; returns the count. */
static unsigned check_segments(struct udma_ctx *ctx, const struct udma_sgl *s, size_t max_seg)
{
	const struct udma_sg *g = udma_sgl_segs(s);
	uint8_t *next = udma_sgl_addr(s);
	unsigned i, n = udma_sgl_count(s);

	assert_true(n >= 1);
	for (i = 0; i < n; i++) {
		assert_ptr_equal(g[i].addr, next);
		assert_true(g[i].len > 0 && g[i].len % UDMA_PAGE_4K == 0);
		assert_int_equal(g[i].iova, udma_iova(ctx, g[i].addr));
		assert_int_equal(udma_iova_contig(ctx, g[i].addr, g[i].len), g[i].len);
		if (max_seg)
			assert_true(g[i].len <= max_seg);
		/* a segment ends where the memory stops being contiguous, or at max_seg */
		if (i + 1 < n && g[i].len != max_seg)
			assert_true(g[i].iova + g[i].len != g[i + 1].iova);
		next += g[i].len;
	}
	assert_ptr_equal(next, (uint8_t *)udma_sgl_addr(s) + udma_sgl_size(s));
	return n;
}

/* With no run at all, a scatter list still gets the memory: one segment per page. */
static void sgl_gets_scattered_hugepages(void **state)
{
	struct udma_sgl_opts o = {.size = (size_t)32 << 20, .numa_node = UDMA_NUMA_ANY, .name = "sg"};
	struct udma_ctx *ctx;
	struct udma_sgl *s;
	int rc;

	(void)state;
	need_2m_pages(16);
	ctx = pa_ctx();
	o.page_size = UDMA_PAGE_2M;
	scatter_2m = 1;
	rc = udma_sgl_alloc(ctx, &o, &s);
	scatter_2m = 0;
	assert_int_equal(rc, 0);
	assert_int_equal(udma_sgl_size(s), o.size);
	assert_int_equal(check_segments(ctx, s, 0), 16);
	memset(udma_sgl_addr(s), 0xa5, udma_sgl_size(s)); /* all of it is mapped */
	udma_sgl_free(s);
	udma_ctx_destroy(ctx);
}

/* 4 KiB pages (no hugepages needed), real PFNs, in PA and VA mode, with and
 * without a segment limit; VA mode is one segment at the address itself. */
static void sgl_segments_tile_the_buffer(void **state)
{
	struct udma_sgl_opts o = {
		.size = (size_t)4 << 20, .page_size = UDMA_PAGE_4K, .numa_node = UDMA_NUMA_ANY};
	struct udma_ctx_opts co = {.iova_mode = UDMA_IOVA_VA, .numa_node = UDMA_NUMA_ANY};
	struct udma_ctx *ctx;
	struct udma_sgl *s;

	(void)state;
	assert_int_equal(udma_ctx_create(&co, &ctx), 0);
	assert_int_equal(udma_sgl_alloc(ctx, &o, &s), 0);
	assert_int_equal(check_segments(ctx, s, 0), 1);
	assert_int_equal(udma_sgl_segs(s)[0].iova, (uintptr_t)udma_sgl_addr(s));
	assert_non_null(udma_region_next(ctx, NULL)); /* a region like any other */
	udma_sgl_free(s);
	o.max_seg = 64 << 10;
	assert_int_equal(udma_sgl_alloc(ctx, &o, &s), 0);
	assert_int_equal(check_segments(ctx, s, o.max_seg), 64);
	udma_sgl_free(s);
	udma_ctx_destroy(ctx);

	ctx = pa_ctx();
	o.max_seg = 0;
	assert_int_equal(udma_sgl_alloc(ctx, &o, &s), 0);
	printf("# PA mode, 4 MiB of 4 KiB pages: %u segments\n", check_segments(ctx, s, 0));
	udma_sgl_free(s);
	o.max_seg = 8 << 10;
	assert_int_equal(udma_sgl_alloc(ctx, &o, &s), 0);
	assert_true(check_segments(ctx, s, o.max_seg) >= 512);
	udma_sgl_free(s);
	udma_ctx_destroy(ctx);
}

static void sgl_bad_arguments(void **state)
{
	struct udma_sgl_opts o = {.size = UDMA_PAGE_4K, .numa_node = UDMA_NUMA_ANY};
	struct udma_ctx_opts co = {.iova_mode = UDMA_IOVA_VA, .numa_node = UDMA_NUMA_ANY};
	struct udma_ctx *ctx;
	struct udma_sgl *s = (void *)1;

	(void)state;
	assert_int_equal(udma_ctx_create(&co, &ctx), 0);
	th_assert_err(udma_sgl_alloc(ctx, &o, NULL), EINVAL);
	th_assert_err(udma_sgl_alloc(NULL, &o, &s), EINVAL);
	assert_null(s);
	th_assert_err(udma_sgl_alloc(ctx, NULL, &s), EINVAL);
	o.size = 0;
	th_assert_err(udma_sgl_alloc(ctx, &o, &s), EINVAL);
	assert_non_null(strstr(udma_last_error(), "size is 0"));
	o.size = UDMA_PAGE_4K;
	o.max_seg = 1000;
	th_assert_err(udma_sgl_alloc(ctx, &o, &s), EINVAL);
	assert_non_null(strstr(udma_last_error(), "max_seg"));
	o.max_seg = 0;
	o.page_size = 12345;
	th_assert_err(udma_sgl_alloc(ctx, &o, &s), EINVAL); /* the region's own checks */
	assert_null(s);
	assert_null(udma_region_next(ctx, NULL));
	udma_sgl_free(NULL);
	udma_ctx_destroy(ctx);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		th_test(malloc_without_run_fails_saying_why),
		th_test(contig_takes_a_1g_page_when_no_2m_run),
		th_test(sgl_gets_scattered_hugepages),
		th_test(sgl_segments_tile_the_buffer),
		th_test(sgl_bad_arguments),
	};

	return cmocka_run_group_tests_name("large_dma", tests, NULL, NULL);
}
