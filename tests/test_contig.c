/* SPDX-License-Identifier: MIT */
/* Contiguity on synthetic PFNs: the run search behind UDMA_REGION_CONTIG and
 * the runs behind udma_iova_contig, whatever memory the machine happens to give. */
#include <errno.h>
#include <stdio.h>
#include <string.h>

#include "tests/support/helpers.h"
#include "lib/mem/mem.h"

static void find_run_cases(void **state)
{
	/* sorted by pfn, step 1 (4 KiB pages): 10 11 12 | 20 | 30 31 32 33 */
	struct udma_candidate c[] = {{10, 0}, {11, 1}, {12, 2}, {20, 3}, {30, 4}, {31, 5}, {32, 6}, {33, 7}};
	/* step 512 (2 MiB pages in 4 KiB PFNs) */
	struct udma_candidate h[] = {{0, 0}, {1024, 1}, {1536, 2}, {4096, 3}};
	size_t longest;

	(void)state;
	assert_int_equal(udma__find_run(c, 8, 1, 1, &longest), 0);
	assert_int_equal(udma__find_run(c, 8, 3, 1, &longest), 0);
	assert_int_equal(udma__find_run(c, 8, 4, 1, &longest), 4); /* the first run is too short */
	assert_int_equal(udma__find_run(c, 8, 5, 1, &longest), -1);
	assert_int_equal(longest, 4); /* what a failure reports */
	assert_int_equal(udma__find_run(c + 3, 1, 1, 1, &longest), 0);
	assert_int_equal(udma__find_run(c, 0, 1, 1, &longest), -1);
	assert_int_equal(longest, 0);
	assert_int_equal(udma__find_run(h, 4, 2, 512, &longest), 1);
	assert_int_equal(udma__find_run(h, 4, 2, 1, &longest), -1); /* the step matters */
	assert_int_equal(longest, 1);
	assert_int_equal(udma__find_run(h, 4, 3, 512, &longest), -1);
	assert_int_equal(longest, 2);
}

static void compute_runs_cases(void **state)
{
	uint64_t iova[6] = {0x1000, 0x2000, 0x3000, 0x9000, 0x8000, 0x9000};
	uint32_t run_end[6];
	struct udma_region r;

	(void)state;
	memset(&r, 0, sizeof(r));
	r.page_size = UDMA_PAGE_4K;
	r.npages = 6;
	r.iova = iova;
	r.run_end = run_end;
	udma__compute_runs(&r);
	/* 0x1000-0x3fff is one run; 0x9000 then 0x8000 goes backwards; 0x8000, 0x9000 is one */
	assert_int_equal(run_end[0], 2);
	assert_int_equal(run_end[1], 2);
	assert_int_equal(run_end[2], 2);
	assert_int_equal(run_end[3], 3);
	assert_int_equal(run_end[4], 5);
	assert_int_equal(run_end[5], 5);
}

/* A shared memfd cannot hold a sorted run: refused before any memory is taken. */
static void contig_shared_refused(void **state)
{
	struct udma_region_opts o = {.size = 8 * UDMA_PAGE_4K,
				     .page_size = UDMA_PAGE_4K,
				     .numa_node = UDMA_NUMA_ANY,
				     .flags = UDMA_REGION_CONTIG | UDMA_REGION_SHARED,
				     .name = "cs"};
	struct udma_ctx_opts co = {.iova_mode = UDMA_IOVA_PA, .numa_node = UDMA_NUMA_ANY};
	struct udma_ctx *ctx;
	struct udma_region *r = (void *)1;

	(void)state;
	if (udma_ctx_create(&co, &ctx)) {
		printf("# skip: PA mode needs root: %s\n", udma_last_error());
		skip();
	}
	th_assert_err(udma_region_create(ctx, &o, &r), EINVAL);
	assert_null(r);
	assert_non_null(strstr(udma_last_error(), "UDMA_REGION_SHARED"));
	/* one page needs no search: fine */
	o.size = UDMA_PAGE_4K;
	assert_int_equal(udma_region_create(ctx, &o, &r), 0);
	assert_true(udma_region_fd(r) >= 0);
	udma_region_destroy(r);
	udma_ctx_destroy(ctx);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		th_test(find_run_cases),
		th_test(compute_runs_cases),
		th_test(contig_shared_refused),
	};

	return cmocka_run_group_tests_name("contig", tests, NULL, NULL);
}
