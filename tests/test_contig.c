/* SPDX-License-Identifier: MIT */
/* Contiguity on synthetic PFNs: the run search behind UDMA_REGION_CONTIG and
 * the runs behind udma_iova_contig, whatever memory the machine happens to give. */
#include <errno.h>
#include <stdio.h>
#include <string.h>
#include <unistd.h>

#include "tests/support/helpers.h"
#include "tests/support/qemu_user.h"
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
	uint32_t frame[6] = {0x1, 0x2, 0x3, 0x9, 0x8, 0x9};
	uint32_t run_end[6];
	struct udma_region r;

	(void)state;
	memset(&r, 0, sizeof(r));
	r.page_size = UDMA_PAGE_4K;
	r.npages = 6;
	r.frames.frame = frame;
	r.run_end = run_end;
	udma__compute_runs(&r);
	/* 0x1000-0x3fff is one run; 0x9000 then 0x8000 goes backwards; 0x8000, 0x9000 is one */
	assert_int_equal(run_end[0], 2);
	assert_int_equal(run_end[1], 2);
	assert_int_equal(run_end[2], 2);
	assert_int_equal(run_end[3], 3);
	assert_int_equal(run_end[4], 5);
	assert_int_equal(run_end[5], 5);
	/* the widest table: the last frame and frame 0 are 16 TiB apart, not one run */
	frame[0] = UINT32_MAX;
	frame[1] = 0;
	r.npages = 2;
	udma__compute_runs(&r);
	assert_int_equal(run_end[0], 0);
	assert_int_equal(run_end[1], 1);
}

/* Frames above 2^32 pages fit 32-bit entries from the region's lowest frame;
 * translation is exact on both sides of each run boundary. */
static void frames_above_4g_pages(void **state)
{
	/* pagemap entries (present bit and all): PFNs near 2^40, i.e. PAs near 4 PiB */
	const uint64_t hi = (uint64_t)1 << 40, present = UDMA_PM_PRESENT;
	uint64_t entries[5] = {present | (hi + 7), present | (hi + 8), present | (hi + 3), present | (hi + 4),
			       present | (hi + 5)};
	uint32_t frame[5], run_end[5];
	struct udma_region r;
	uint8_t *va = (uint8_t *)(uintptr_t)0x200000;
	size_t i;

	(void)state;
	memset(&r, 0, sizeof(r));
	r.page_size = UDMA_PAGE_4K;
	r.page_shift = 12;
	r.npages = 5;
	r.frames.frame = frame;
	r.run_end = run_end;
	assert_int_equal(udma__frames_set(&r.frames, 12, entries, 5, "t"), 0);
	assert_int_equal(r.frames.base, hi + 3);
	udma__compute_runs(&r);
	assert_int_equal(run_end[0], 1); /* hi+7, hi+8 */
	assert_int_equal(run_end[2], 4); /* hi+3, hi+4, hi+5 */
	for (i = 0; i < 5; i++) {
		uint64_t pa = (entries[i] & UDMA_PM_PFN_MASK) << 12;
		size_t off = i << 12;

		assert_int_equal(udma__page_iova(&r.frames, 12, va + off, off), pa);
		assert_int_equal(udma__page_iova(&r.frames, 12, va + off + 4095, off + 4095), pa + 4095);
	}
}

/* 4 KiB frames 2^32 or more apart do not fit: refused, saying what to do;
 * the same span in 2 MiB pages fits (entries count pages of the region's size). */
static void frames_span_too_wide(void **state)
{
	uint64_t entries[2] = {5, 5 + ((uint64_t)1 << 32)}, fits[2] = {5, 5 + (uint64_t)UINT32_MAX};
	uint32_t frame[2];
	struct udma_frames f = {frame, 0};

	(void)state;
	th_assert_err(udma__frames_set(&f, 12, entries, 2, "wide"), EOVERFLOW);
	assert_non_null(strstr(udma_last_error(), "'wide'"));
	assert_non_null(strstr(udma_last_error(), "VA mode"));
	assert_int_equal(udma__frames_set(&f, 12, fits, 2, "t"), 0);
	assert_int_equal(frame[1], UINT32_MAX);
	entries[0] = 512; /* 2 MiB pages: PFNs are multiples of 512 */
	entries[1] = 512 + ((uint64_t)1 << 32);
	assert_int_equal(udma__frames_set(&f, 21, entries, 2, "t"), 0);
	assert_int_equal(f.base, 1);
	assert_int_equal(frame[1], (uint64_t)1 << 23);
}

/* A table of 2 MiB or more sits on whole, aligned 2 MiB pages marked for THP. */
static void frames_large_table_hugepage(void **state)
{
	struct udma_frames small, large;
	size_t n = (size_t)1 << 20; /* a 4 GiB region of 4 KiB pages */

	(void)state;
	th_skip_if_qemu_lacks(TH_EMUL_MADVISE); /* MADV_HUGEPAGE */
	assert_int_equal(udma__frames_alloc(&small, 16), 0);
	assert_int_equal(udma__frames_alloc(&large, n), 0);
	assert_int_equal((uintptr_t)large.frame % UDMA_PAGE_2M, 0);
	memset(large.frame, 0xab, n * sizeof(*large.frame));
	if (!access("/sys/kernel/mm/transparent_hugepage/enabled", F_OK)) {
		assert_true(th_vma_has_flag(large.frame, "hg"));
		assert_true(th_vma_has_flag(large.frame + n - 1, "hg"));
	}
	udma__frames_free(&small);
	udma__frames_free(&large);
	assert_null(large.frame);
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
		th_test(frames_above_4g_pages),
		th_test(frames_span_too_wide),
		th_test(frames_large_table_hugepage),
		th_test(contig_shared_refused),
	};

	return cmocka_run_group_tests_name("contig", tests, NULL, NULL);
}
