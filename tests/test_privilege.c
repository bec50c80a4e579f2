/* SPDX-License-Identifier: MIT */
/* Limits and privileges: RLIMIT_MEMLOCK, hidden PFNs, SIGBUS at fault time. */
#include <errno.h>
#include <stdio.h>
#include <string.h>
#include <sys/mman.h>
#include <unistd.h>

#include "tests/support/helpers.h"
#include "tests/support/qemu_user.h"
#include "lib/os/os.h" /* udma__populate*: the SIGBUS-guarded populate */

enum { CHILD_OK = 0, CHILD_FAIL = 1 };

static int region_of(size_t size, size_t page_size, int *rc)
{
	struct udma_ctx *ctx;
	struct udma_region_opts o = {.size = size, .page_size = page_size, .numa_node = UDMA_NUMA_ANY};
	struct udma_region *r = NULL;

	if (udma_ctx_create(NULL, &ctx))
		return CHILD_FAIL;
	*rc = udma_region_create(ctx, &o, &r);
	udma_region_destroy(r);
	udma_ctx_destroy(ctx);
	return CHILD_OK;
}

/* 1 MiB of RLIMIT_MEMLOCK: 512 KiB fits, 8 MiB fails with the limit and the fix spelled out. */
static int memlock_child(void *arg)
{
	int rc;

	(void)arg;
	if (region_of(512 << 10, UDMA_PAGE_4K, &rc) || rc) {
		fprintf(stderr, "small region failed: %s\n", udma_last_error());
		return 2;
	}
	if (region_of(8 << 20, UDMA_PAGE_4K, &rc) || rc != -ENOMEM) {
		fprintf(stderr, "big region: expected -ENOMEM, got %d\n", rc);
		return 3;
	}
	if (!strstr(udma_last_error(), "RLIMIT_MEMLOCK is 1 MiB") ||
	    !strstr(udma_last_error(), "ulimit -l")) {
		fprintf(stderr, "unhelpful message: %s\n", udma_last_error());
		return 4;
	}
	return CHILD_OK;
}

static void memlock_too_low(void **state)
{
	(void)state;
	assert_int_equal(th_run_child(memlock_child, NULL, 1, 1 << 20), CHILD_OK);
}

/* Hugepages are not locked with mlock, so the limit does not apply to them. */
static int memlock_hugepage_child(void *arg)
{
	int rc;

	(void)arg;
	if (region_of(8 << 20, UDMA_PAGE_2M, &rc) || rc) {
		fprintf(stderr, "2 MiB-page region under a 1 MiB memlock limit: %s\n", udma_last_error());
		return 2;
	}
	return CHILD_OK;
}

static void memlock_ignores_hugepages(void **state)
{
	(void)state;
	if (!th_hugepages_ensure(UDMA_PAGE_2M, 4))
		skip();
	assert_int_equal(th_run_child(memlock_hugepage_child, NULL, 1, 1 << 20), CHILD_OK);
}

/* As nobody: no PFNs, so AUTO picks VA and says why; PA fails and says what is missing. */
static int unprivileged_child(void *arg)
{
	struct udma_ctx_opts o = {.iova_mode = UDMA_IOVA_PA, .numa_node = UDMA_NUMA_ANY};
	struct udma_region_opts ro = {.size = 1 << 20, .page_size = UDMA_PAGE_4K, .numa_node = UDMA_NUMA_ANY};
	struct udma_region *r;
	struct udma_ctx *ctx;
	int rc;

	(void)arg;
	if (udma_pfn_readable() != 0)
		return 2;
	rc = udma_ctx_create(&o, &ctx);
	if (rc != -EPERM || !strstr(udma_last_error(), "CAP_SYS_ADMIN"))
		return 3;
	if (udma_ctx_create(NULL, &ctx))
		return 4;
	if (udma_ctx_iova_mode(ctx) != UDMA_IOVA_VA || !strstr(udma_ctx_iova_reason(ctx), "CAP_SYS_ADMIN"))
		return 5;
	/* VA mode still works without privilege: IOVA = VA, one run */
	if (udma_region_create(ctx, &ro, &r))
		return 6;
	if (udma_iova(ctx, (char *)udma_region_addr(r) + 5) != (uintptr_t)udma_region_addr(r) + 5 ||
	    udma_iova_contig(ctx, udma_region_addr(r), 1 << 20) != 1 << 20)
		return 7;
	udma_region_destroy(r);
	udma_ctx_destroy(ctx);
	/* hugepage reservation needs root, and says so */
	if (udma_hugepage_set_total(UDMA_PAGE_2M, UDMA_NUMA_ANY, 1) != -EACCES ||
	    !strstr(udma_last_error(), "root"))
		return 8;
	return CHILD_OK;
}

static void pfns_unreadable(void **state)
{
	(void)state;
	/* There udma_pfn_readable says why PFNs are not this process's, before
	 * any question of privilege. */
	th_skip_if_qemu_lacks(TH_EMUL_PAGEMAP);
	if (geteuid() != 0) {
		/* already unprivileged: run the checks in place */
		assert_int_equal(unprivileged_child(NULL), CHILD_OK);
		return;
	}
	assert_int_equal(th_run_child(unprivileged_child, NULL, 1, (size_t)-1), CHILD_OK);
}

/* A hugetlb mapping without reservation whose pages run out at fault time:
 * both populate paths return an error instead of the process dying of SIGBUS. */
static void sigbus_becomes_error(void **state)
{
	size_t len = 4 * UDMA_PAGE_2M;
	void *a;

	(void)state;
	if (!th_hugepages_ensure(UDMA_PAGE_2M, 1) || !th_hugepages_hold(UDMA_PAGE_2M, 1)) {
		th_hugepages_unhold();
		skip();
	}
	a = mmap(NULL, len, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS | MAP_HUGETLB | MAP_NORESERVE,
		 -1, 0);
	assert_true(a != MAP_FAILED);
	th_assert_err(udma__populate_touch(a, len, UDMA_PAGE_2M), ENOMEM);
	assert_non_null(strstr(udma_last_error(), "hugepages ran out"));
	munmap(a, len);
	a = mmap(NULL, len, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS | MAP_HUGETLB | MAP_NORESERVE,
		 -1, 0);
	assert_true(a != MAP_FAILED);
	th_assert_err(udma__populate(a, len, UDMA_PAGE_2M), ENOMEM);
	munmap(a, len);
	th_hugepages_unhold();
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		th_test(memlock_too_low),
		th_test(memlock_ignores_hugepages),
		th_test(pfns_unreadable),
		th_test(sigbus_becomes_error),
	};

	return cmocka_run_group_tests_name("privilege", tests, NULL, NULL);
}
