/* SPDX-License-Identifier: MIT */
/* Regions: page sizes, fallback, shared memfd, NUMA, contiguity, bad input. */
#include <errno.h>
#include <stdio.h>
#include <string.h>
#include <sys/mman.h>
#include <unistd.h>

#include "tests/support/helpers.h"
#include "tests/support/qemu_user.h"

static struct udma_ctx *new_ctx(unsigned flags)
{
	struct udma_ctx_opts o = {.iova_mode = UDMA_IOVA_AUTO, .numa_node = UDMA_NUMA_ANY, .flags = flags};
	struct udma_ctx *ctx = NULL;

	assert_int_equal(udma_ctx_create(&o, &ctx), 0);
	return ctx;
}

static struct udma_region_opts opts(size_t size, size_t page_size, unsigned flags)
{
	struct udma_region_opts o = {.size = size,
				     .page_size = page_size,
				     .numa_node = UDMA_NUMA_ANY,
				     .flags = flags,
				     .name = "test"};
	return o;
}

/* Every page present, translated like a fresh pagemap read says, pinned and DONTFORK. */
static void check_region(struct udma_ctx *ctx, struct udma_region *r)
{
	uint8_t *a = udma_region_addr(r);
	size_t ps = udma_region_page_size(r), size = udma_region_size(r), off;
	int pa = udma_ctx_iova_mode(ctx) == UDMA_IOVA_PA;
	char why[256];

	assert_non_null(a);
	assert_int_equal((uintptr_t)a % (ps > UDMA_PAGE_2M ? ps : UDMA_PAGE_2M), 0);
	assert_int_equal(size % ps, 0);
	for (off = 0; off < size; off += ps) {
		/* a byte in the middle of each page, and its first and last bytes */
		size_t probes[3] = {off, off + ps / 2 + 123, off + ps - 1}, i;

		for (i = 0; i < 3; i++) {
			uint64_t want = pa ? th_pagemap_pa(a + probes[i]) : (uintptr_t)(a + probes[i]);

			assert_int_not_equal(want, 0);
			assert_int_equal(udma_iova(ctx, a + probes[i]), want);
		}
	}
	assert_int_equal(udma_iova(ctx, a + size), UDMA_BAD_IOVA);
	assert_int_equal(udma_iova(ctx, a - 1), UDMA_BAD_IOVA);
	if (th_qemu_lacks(TH_EMUL_SMAPS, why, sizeof(why))) {
		printf("# note: VmFlags not checked: qemu-user: %s\n", why);
		return;
	}
	if (th_qemu_lacks(TH_EMUL_MADVISE, why, sizeof(why)))
		printf("# note: DONTFORK not checked: qemu-user: %s\n", why);
	else
		assert_true(th_vma_has_flag(a, "dc"));
	if (ps > UDMA_PAGE_4K)
		assert_true(th_vma_has_flag(a, "ht"));
	else
		assert_true(th_vma_has_flag(a, "lo"));
}

static void region_4k(void **state)
{
	struct udma_ctx *ctx = new_ctx(0);
	struct udma_region_opts o = opts(8 << 20, UDMA_PAGE_4K, 0);
	struct udma_region *r;

	(void)state;
	assert_int_equal(udma_region_create(ctx, &o, &r), 0);
	assert_int_equal(udma_region_page_size(r), UDMA_PAGE_4K);
	assert_int_equal(udma_region_size(r), 8 << 20);
	assert_int_equal(udma_region_fd(r), -1);
	assert_int_equal(udma_region_numa_node(r), UDMA_NUMA_ANY);
	assert_string_equal(udma_region_name(r), "test");
	check_region(ctx, r);
	udma_region_destroy(r);
	udma_ctx_destroy(ctx);
}

static void region_rounds_up(void **state)
{
	struct udma_ctx *ctx = new_ctx(0);
	struct udma_region_opts o = opts(5000, UDMA_PAGE_4K, 0);
	struct udma_region *r;

	(void)state;
	assert_int_equal(udma_region_create(ctx, &o, &r), 0);
	assert_int_equal(udma_region_size(r), 8192);
	check_region(ctx, r);
	udma_region_destroy(r);
	udma_ctx_destroy(ctx);
}

static void region_2m_auto(void **state)
{
	struct udma_ctx *ctx;
	struct udma_region_opts o = opts(64 << 20, 0, 0);
	struct udma_region *r;

	(void)state;
	if (!th_hugepages_ensure(UDMA_PAGE_2M, 32))
		skip();
	ctx = new_ctx(0);
	assert_int_equal(udma_region_create(ctx, &o, &r), 0);
	/* 1 GiB pages are never used for a region smaller than one */
	assert_int_equal(udma_region_page_size(r), UDMA_PAGE_2M);
	check_region(ctx, r);
	udma_region_destroy(r);
	udma_ctx_destroy(ctx);
}

static void region_1g(void **state)
{
	struct udma_ctx *ctx;
	struct udma_region_opts o = opts(UDMA_PAGE_1G, UDMA_PAGE_1G, 0);
	struct udma_region *r;

	(void)state;
	if (!th_hugepages_ensure(UDMA_PAGE_1G, 1))
		skip();
	ctx = new_ctx(0);
	assert_int_equal(udma_region_create(ctx, &o, &r), 0);
	assert_int_equal(udma_region_page_size(r), UDMA_PAGE_1G);
	check_region(ctx, r);
	/* one page: one run across the whole GiB */
	assert_int_equal(udma_iova_contig(ctx, udma_region_addr(r), UDMA_PAGE_1G), UDMA_PAGE_1G);
	udma_region_destroy(r);
	udma_ctx_destroy(ctx);
}

static void no_hugepages_falls_back_to_4k(void **state)
{
	struct udma_ctx *ctx;
	struct udma_region_opts o = opts(64 << 20, 0, 0);
	struct udma_region *r;

	(void)state;
	if (!th_hugepages_hold(UDMA_PAGE_2M, 0) || !th_hugepages_hold(UDMA_PAGE_1G, 0)) {
		th_hugepages_unhold();
		printf("# skip: free hugepages could not be held\n");
		skip();
	}
	printf("# no hugepages free: testing the 4 KiB fallback\n");
	ctx = new_ctx(0);
	assert_int_equal(udma_region_create(ctx, &o, &r), 0);
	assert_int_equal(udma_region_page_size(r), UDMA_PAGE_4K);
	check_region(ctx, r);
	udma_region_destroy(r);
	udma_ctx_destroy(ctx);

	/* strict: a clear error that names the command that fixes it */
	ctx = new_ctx(UDMA_CTX_STRICT_HUGE);
	r = (void *)1;
	th_assert_err(udma_region_create(ctx, &o, &r), ENOMEM);
	assert_null(r);
	assert_non_null(strstr(udma_last_error(), "udma hugepages --reserve 64M"));
	/* an exact hugepage size with none free: same */
	o.page_size = UDMA_PAGE_2M;
	udma_ctx_destroy(ctx);
	ctx = new_ctx(0);
	th_assert_err(udma_region_create(ctx, &o, &r), ENOMEM);
	assert_non_null(strstr(udma_last_error(), "udma hugepages --reserve"));
	udma_ctx_destroy(ctx);
	th_hugepages_unhold();
}

static void shared_memfd(void **state, size_t page_size)
{
	struct udma_ctx *ctx = new_ctx(0);
	struct udma_region_opts o = opts(4 << 20, page_size, UDMA_REGION_SHARED);
	struct udma_region *r;
	uint8_t *a, *b;
	int fd;

	(void)state;
	assert_int_equal(udma_region_create(ctx, &o, &r), 0);
	check_region(ctx, r);
	fd = udma_region_fd(r);
	assert_true(fd >= 0);
	/* another mapping of the fd (what a device process does) sees the same bytes */
	b = mmap(NULL, udma_region_size(r), PROT_READ, MAP_SHARED, fd, 0);
	assert_true(b != MAP_FAILED);
	a = udma_region_addr(r);
	memset(a, 0x5a, 4096);
	a[udma_region_size(r) - 1] = 0xa5;
	assert_int_equal(b[100], 0x5a);
	assert_int_equal(b[udma_region_size(r) - 1], 0xa5);
	munmap(b, udma_region_size(r));
	udma_region_destroy(r);
	udma_ctx_destroy(ctx);
}

static void shared_4k(void **state)
{
	shared_memfd(state, UDMA_PAGE_4K);
}

static void shared_2m(void **state)
{
	if (!th_hugepages_ensure(UDMA_PAGE_2M, 2))
		skip();
	shared_memfd(state, UDMA_PAGE_2M);
}

static void numa_nodes(void **state)
{
	struct udma_ctx_opts co = {.numa_node = 4096};
	struct udma_ctx *ctx = new_ctx(0), *bad = (void *)1;
	struct udma_region_opts o = opts(1 << 20, UDMA_PAGE_4K, 0);
	struct udma_region *r = (void *)1;

	(void)state;
	o.numa_node = 0;
	assert_int_equal(udma_region_create(ctx, &o, &r), 0);
	assert_int_equal(udma_region_numa_node(r), 0);
	check_region(ctx, r);
	udma_region_destroy(r);

	o.numa_node = udma_numa_nodes() + 7;
	th_assert_err(udma_region_create(ctx, &o, &r), EINVAL);
	assert_null(r);
	assert_non_null(strstr(udma_last_error(), "does not exist"));
	o.numa_node = -5;
	th_assert_err(udma_region_create(ctx, &o, &r), EINVAL);
	th_assert_err(udma_ctx_create(&co, &bad), EINVAL);
	assert_null(bad);
	udma_ctx_destroy(ctx);
}

/* Contiguous regions: one IOVA run over the whole region, or a clear error. */
static void contig(void **state, size_t page_size, size_t size)
{
	struct udma_ctx *ctx = new_ctx(0);
	struct udma_region_opts o = opts(size, page_size, UDMA_REGION_CONTIG);
	struct udma_region *r;
	uint8_t *a;
	size_t off;
	int rc;

	(void)state;
	rc = udma_region_create(ctx, &o, &r);
	if (rc == -ENOMEM && strstr(udma_last_error(), "physically contiguous")) {
		printf("# skip: %s\n", udma_last_error());
		udma_ctx_destroy(ctx);
		skip();
	}
	assert_int_equal(rc, 0);
	check_region(ctx, r);
	a = udma_region_addr(r);
	assert_int_equal(udma_iova_contig(ctx, a, size), size);
	assert_int_equal(udma_iova_contig(ctx, a + 1, size), size - 1);
	assert_int_equal(udma_iova_contig(ctx, a, 10), 10);
	for (off = 0; off < size; off += page_size)
		assert_int_equal(udma_iova(ctx, a + off), udma_iova(ctx, a) + off);
	udma_region_destroy(r);
	udma_ctx_destroy(ctx);
}

static void contig_4k_one_page(void **state)
{
	contig(state, UDMA_PAGE_4K, UDMA_PAGE_4K);
}

static void contig_4k_pages(void **state)
{
	contig(state, UDMA_PAGE_4K, 4 * UDMA_PAGE_4K);
}

static void contig_2m(void **state)
{
	if (!th_hugepages_ensure(UDMA_PAGE_2M, 64))
		skip();
	contig(state, UDMA_PAGE_2M, 2 * UDMA_PAGE_2M);
}

/* Runs that udma_iova_contig reports agree with a fresh pagemap read. */
static void contig_runs_match_pagemap(void **state)
{
	struct udma_ctx *ctx = new_ctx(0);
	struct udma_region_opts o = opts(2 << 20, UDMA_PAGE_4K, 0);
	struct udma_region *r;
	uint8_t *a;
	size_t off, size;

	(void)state;
	assert_int_equal(udma_region_create(ctx, &o, &r), 0);
	a = udma_region_addr(r);
	size = udma_region_size(r);
	for (off = 0; off < size; off += 4096) {
		size_t run = udma_iova_contig(ctx, a + off, size), want = 4096;

		if (udma_ctx_iova_mode(ctx) == UDMA_IOVA_VA) {
			assert_int_equal(run, size - off);
			continue;
		}
		while (off + want < size && th_pagemap_pa(a + off + want) == th_pagemap_pa(a + off) + want)
			want += 4096;
		assert_int_equal(run, want);
	}
	udma_region_destroy(r);
	udma_ctx_destroy(ctx);
}

static void bad_input(void **state)
{
	struct udma_ctx *ctx = new_ctx(0);
	struct udma_region_opts o = opts(1 << 20, UDMA_PAGE_4K, 0);
	struct udma_region *r = (void *)1;
	struct udma_ctx_opts co = {.page_size = 8192};
	struct udma_ctx *c2 = (void *)1;

	(void)state;
	th_assert_err(udma_region_create(ctx, &o, NULL), EINVAL);
	th_assert_err(udma_region_create(NULL, &o, &r), EINVAL);
	assert_null(r);
	th_assert_err(udma_region_create(ctx, NULL, &r), EINVAL);
	o.size = 0;
	th_assert_err(udma_region_create(ctx, &o, &r), EINVAL);
	o.size = SIZE_MAX - 10;
	th_assert_err(udma_region_create(ctx, &o, &r), EINVAL);
	o.size = 1 << 20;
	o.flags = 0x80;
	th_assert_err(udma_region_create(ctx, &o, &r), EINVAL);
	o.flags = 0;
	o.page_size = 8192;
	th_assert_err(udma_region_create(ctx, &o, &r), EINVAL);
	assert_non_null(strstr(udma_last_error(), "not offered"));
	th_assert_err(udma_ctx_create(&co, &c2), EINVAL);
	assert_null(c2);
	co.page_size = 0;
	co.flags = 0x100;
	th_assert_err(udma_ctx_create(&co, &c2), EINVAL);
	co.flags = 0;
	co.iova_mode = 42;
	th_assert_err(udma_ctx_create(&co, &c2), EINVAL);
	th_assert_err(udma_ctx_create(NULL, NULL), EINVAL);
	udma_ctx_destroy(ctx);
	udma_region_destroy(NULL);
	udma_ctx_destroy(NULL);
}

static void ctx_destroy_reclaims_regions(void **state)
{
	struct udma_ctx *ctx = new_ctx(0);
	struct udma_region_opts o = opts(1 << 20, UDMA_PAGE_4K, UDMA_REGION_SHARED);
	struct udma_region *r1, *r2, *it;
	int n = 0;

	(void)state;
	assert_int_equal(udma_region_create(ctx, &o, &r1), 0);
	o.flags = 0;
	o.name = "second";
	assert_int_equal(udma_region_create(ctx, &o, &r2), 0);
	for (it = udma_region_next(ctx, NULL); it; it = udma_region_next(ctx, it))
		n++;
	assert_int_equal(n, 2);
	assert_ptr_equal(udma_region_next(ctx, NULL), r1);
	/* the leak teardown checks the fd and both mappings are gone */
	udma_ctx_destroy(ctx);
}

static void iova_outside(void **state)
{
	struct udma_ctx *ctx = new_ctx(0);
	int local;

	(void)state;
	assert_int_equal(udma_iova(ctx, &local), UDMA_BAD_IOVA);
	assert_int_equal(udma_iova(ctx, NULL), UDMA_BAD_IOVA);
	assert_int_equal(udma_iova(ctx, (void *)UINTPTR_MAX), UDMA_BAD_IOVA);
	assert_int_equal(udma_iova(NULL, &local), UDMA_BAD_IOVA);
	assert_int_equal(udma_iova_contig(ctx, &local, 10), 0);
	udma_ctx_destroy(ctx);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		th_test(region_4k),
		th_test(region_rounds_up),
		th_test(region_2m_auto),
		th_test(region_1g),
		th_test(no_hugepages_falls_back_to_4k),
		th_test(shared_4k),
		th_test(shared_2m),
		th_test(numa_nodes),
		th_test(contig_4k_one_page),
		th_test(contig_4k_pages),
		th_test(contig_2m),
		th_test(contig_runs_match_pagemap),
		th_test(bad_input),
		th_test(ctx_destroy_reclaims_regions),
		th_test(iova_outside),
	};

	return cmocka_run_group_tests_name("region", tests, NULL, NULL);
}
