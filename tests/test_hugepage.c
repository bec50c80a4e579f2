/* SPDX-License-Identifier: MIT */
/* Hugepage discovery, reservation and size parsing. */
#include <errno.h>
#include <stdio.h>
#include <string.h>
#include <unistd.h>

#include "tests/support/helpers.h"

static void sizes_ascending(void **state)
{
	size_t sizes[8];
	int n = udma_hugepage_sizes(sizes, 8), i, has_2m = 0;

	(void)state;
	assert_true(n >= 0);
	for (i = 0; i < n && i < 8; i++) {
		assert_true(sizes[i] > UDMA_PAGE_4K);
		assert_int_equal(sizes[i] & (sizes[i] - 1), 0);
		if (i)
			assert_true(sizes[i] > sizes[i - 1]);
		has_2m |= sizes[i] == UDMA_PAGE_2M;
	}
	if (!has_2m)
		printf("# note: this kernel offers no 2 MiB pages\n");
	/* asking for fewer than there are still returns the count */
	assert_int_equal(udma_hugepage_sizes(sizes, 0), n);
}

static void counts_and_reservation(void **state)
{
	struct udma_hugepage_count all, node0;
	long avail;

	(void)state;
	if (!th_hugepages_ensure(UDMA_PAGE_2M, 3))
		skip();
	assert_int_equal(udma_hugepage_count(UDMA_PAGE_2M, UDMA_NUMA_ANY, &all), 0);
	assert_true(all.total >= 3 && all.free >= 3 && all.free <= all.total);
	avail = udma_hugepage_available(UDMA_PAGE_2M, UDMA_NUMA_ANY);
	assert_true(avail >= 3 && (unsigned long)avail == all.free - all.reserved);
	assert_int_equal(udma_hugepage_count(UDMA_PAGE_2M, 0, &node0), 0);
	assert_true(node0.total <= all.total);
	assert_true(udma_hugepage_available(UDMA_PAGE_2M, 0) <= avail);
	if (geteuid() == 0) {
		/* one more page, then back */
		assert_int_equal(udma_hugepage_set_total(UDMA_PAGE_2M, UDMA_NUMA_ANY, all.total + 1),
				 (long)all.total + 1);
		assert_int_equal(udma_hugepage_set_total(UDMA_PAGE_2M, UDMA_NUMA_ANY, all.total),
				 (long)all.total);
	}
}

/* MemAvailable of /proc/meminfo, in 2 MiB pages (0 if unknown). */
static unsigned long mem_available_pages(void)
{
	unsigned long kb = 0;
	char line[128];
	FILE *f = fopen("/proc/meminfo", "re");

	while (f && fgets(line, sizeof(line), f))
		sscanf(line, "MemAvailable: %lu kB", &kb);
	if (f)
		fclose(f);
	return kb / (UDMA_PAGE_2M >> 10); /* no kb << 10: a 32-bit long overflows */
}

/* In a stand-in: reservations beyond the memory the kernel could still give
 * are refused, with the figures, before anything is written. */
static int refuse_beyond_memory(void *arg)
{
	unsigned long added = 99, twice_ram = 0, kb;
	char line[128];
	FILE *f = fopen("/proc/meminfo", "re");

	(void)arg;
	while (f && fgets(line, sizeof(line), f))
		if (sscanf(line, "MemTotal: %lu kB", &kb) == 1)
			twice_ram = kb / (UDMA_PAGE_2M >> 11);
	if (f)
		fclose(f);
	if (!twice_ram)
		return 1;
	/* Twice RAM, 2^64-1 pages (whose bytes overflow), of each size. */
	if (udma_hugepage_reserve(UDMA_PAGE_2M, UDMA_NUMA_ANY, twice_ram, &added) != -ENOMEM || added)
		return 2;
	if (!strstr(udma_last_error(), "MemAvailable in /proc/meminfo") ||
	    !strstr(udma_last_error(), "nothing was changed"))
		return 3;
	if (udma_hugepage_reserve(UDMA_PAGE_2M, UDMA_NUMA_ANY, ~0ul, &added) != -ENOMEM ||
	    udma_hugepage_reserve(UDMA_PAGE_1G, UDMA_NUMA_ANY, ~0ul, &added) != -ENOMEM ||
	    udma_hugepage_reserve(UDMA_PAGE_1G, UDMA_NUMA_ANY, twice_ram / 512, &added) != -ENOMEM)
		return 4;
	/* The low-level setter too: growth is bounded, shrinking is not. */
	if (udma_hugepage_set_total(UDMA_PAGE_2M, UDMA_NUMA_ANY, ~0ul) != -ENOMEM ||
	    udma_hugepage_set_total(UDMA_PAGE_1G, UDMA_NUMA_ANY, twice_ram / 512) != -ENOMEM)
		return 5;
	if (th_fake_read(UDMA_PAGE_2M, "nr_hugepages") != 0 ||
	    th_fake_read(UDMA_PAGE_1G, "nr_hugepages") != 0)
		return 6;
	/* A total is answered with a total, not a count of pages to add. */
	if (udma_hugepage_set_total(UDMA_PAGE_2M, UDMA_NUMA_ANY, ~0ul) != -ENOMEM ||
	    !strstr(udma_last_error(), "more pages (a pool of at most"))
		return 8;
	/* A tenth of the memory the kernel could still give is left for everything else. */
	if (udma_hugepage_reserve(UDMA_PAGE_2M, UDMA_NUMA_ANY, mem_available_pages() / 100 * 95, &added) !=
		    -ENOMEM ||
	    added || !strstr(udma_last_error(), "more than 90% of the"))
		return 9;
	/* What fits is still reserved. */
	if (udma_hugepage_reserve(UDMA_PAGE_2M, UDMA_NUMA_ANY, 4, &added) || added != 4 ||
	    th_fake_read(UDMA_PAGE_2M, "nr_hugepages") != 4)
		return 7;
	return 0;
}

static void refuses_beyond_memory(void **state)
{
	static const struct th_fake_pool pools[] = {{UDMA_PAGE_2M, 0, 0}, {UDMA_PAGE_1G, 0, 0}};

	(void)state;
	assert_int_equal(th_fake_hugepages(pools, 2, refuse_beyond_memory, NULL), 0);
}

/* In a stand-in of 64 pages (others'): taking back more than the pool holds
 * is refused, not an emptied pool. */
static int unreserve_bounded(void *arg)
{
	char want[80];

	(void)arg;
	snprintf(want, sizeof(want), "cannot take back %lu hugepages: the pool has only 64", ~0ul);
	if (udma_hugepage_unreserve(UDMA_PAGE_2M, UDMA_NUMA_ANY, ~0ul) != -EINVAL ||
	    !strstr(udma_last_error(), want))
		return 1;
	if (th_fake_read(UDMA_PAGE_2M, "nr_hugepages") != 64)
		return 2;
	/* What the pool holds can go. */
	if (udma_hugepage_unreserve(UDMA_PAGE_2M, UDMA_NUMA_ANY, 4) ||
	    th_fake_read(UDMA_PAGE_2M, "nr_hugepages") != 60)
		return 3;
	return 0;
}

static void unreserve_is_bounded(void **state)
{
	static const struct th_fake_pool pools[] = {{UDMA_PAGE_2M, 64, 64}};

	(void)state;
	assert_int_equal(th_fake_hugepages(pools, 1, unreserve_bounded, NULL), 0);
}

/* Where pagemap describes another address space (qemu-user: the host's), PA
 * mode is refused, saying why, and VA mode checks its pages with mincore. */
static void foreign_pagemap(void **state)
{
	struct udma_ctx_opts o = {.iova_mode = UDMA_IOVA_PA, .numa_node = UDMA_NUMA_ANY};
	struct udma_ctx *ctx = NULL;
	struct udma_region *r = NULL;
	struct udma_region_opts ro = {
		.size = 3 * UDMA_PAGE_4K, .page_size = UDMA_PAGE_4K, .numa_node = UDMA_NUMA_ANY};

	(void)state;
	if (udma_pfn_readable() != -ENOTSUP) {
		printf("# skip: pagemap describes this process (no user-mode emulator)\n");
		skip();
	}
	th_assert_err(udma_ctx_create(&o, &ctx), ENOTSUP);
	assert_non_null(strstr(udma_last_error(), "UDMA_IOVA_PA refused"));
	assert_non_null(strstr(udma_last_error(), "qemu-user"));
	assert_null(ctx);
	o.iova_mode = UDMA_IOVA_AUTO;
	assert_int_equal(udma_ctx_create(&o, &ctx), 0);
	assert_int_equal(udma_ctx_iova_mode(ctx), UDMA_IOVA_VA);
	assert_non_null(strstr(udma_ctx_iova_reason(ctx), "mincore"));
	assert_int_equal(udma_region_create(ctx, &ro, &r), 0);
	assert_true(udma_iova(ctx, udma_region_addr(r)) == (uint64_t)(uintptr_t)udma_region_addr(r));
	udma_region_destroy(r);
	udma_ctx_destroy(ctx);
}

static void count_needs_out(void **state)
{
	(void)state;
	th_assert_err(udma_hugepage_count(UDMA_PAGE_2M, UDMA_NUMA_ANY, NULL), EINVAL);
	assert_non_null(strstr(udma_last_error(), "out is NULL"));
}

static void unknown_size_and_node(void **state)
{
	struct udma_hugepage_count c;

	(void)state;
	th_assert_err(udma_hugepage_count(64 << 10, UDMA_NUMA_ANY, &c), ENOENT);
	th_assert_err(udma_hugepage_count(UDMA_PAGE_2M, 999, &c), ENOENT);
	assert_true(udma_hugepage_available(64 << 10, UDMA_NUMA_ANY) < 0);
	assert_true(udma_hugepage_set_total(64 << 10, UDMA_NUMA_ANY, 1) < 0);
	assert_non_null(strstr(udma_last_error(), "64 kB"));
}

static void parse_size(void **state)
{
	static const struct {
		const char *s;
		size_t v;
	} ok[] = {
		{"4096", 4096},
		{"4096B", 4096},
		{"4K", 4096},
		{"4k", 4096},
		{"4KB", 4096},
		{"4KiB", 4096},
		{"2M", 2 << 20},
		{"2m", 2 << 20},
		{"64MiB", 64 << 20},
		{"1G", 1 << 30},
		{"1GB", 1 << 30},
		{"1GiB", 1 << 30},
		{"0", 0},
#if SIZE_MAX > UINT32_MAX
		{"3T", (size_t)3 << 40},
		{"18446744073709551615", SIZE_MAX},
		{"16777215T", (size_t)16777215 << 40},
		{"17179869183G", (size_t)17179869183 << 30}
	};
#else /* 32-bit: up to 2^32 - 1 */
		{"3G", (size_t)3 << 30},
		{"4294967295", SIZE_MAX},
		{"4194303K", (size_t)4194303 << 10},
		{"3GiB", (size_t)3 << 30}
	};
#endif
	/* A suffix is a unit, a unit with B or iB, or B: anything else, an 'i'
	 * without its B included, is junk; and nothing past SIZE_MAX bytes. */
	static const char *const bad[] = {"",
					  "M",
					  "-1",
					  "+1",
					  "12Q",
					  "4 K",
					  "4K ",
					  " 4K",
					  "1X",
					  "1Ki",
					  "1ki",
					  "4096i",
					  "4096iB",
					  "1KiBx",
					  "1KBB",
					  "1MiBB",
					  "2MM",
					  "1Kib",
					  "1KIB",
					  "1kb",
					  "1K\n",
					  "0x10",
					  "1.5G",
					  "1e3",
					  "99999999999999999999",
					  "18446744073709551616",
					  "16777216T",
#if SIZE_MAX == UINT32_MAX
					  "4294967296",
					  "4G",
					  "4194304K",
#endif
					  "17179869184G"};
	size_t v, i;

	(void)state;
	for (i = 0; i < sizeof(ok) / sizeof(ok[0]); i++) {
		if (udma_parse_size(ok[i].s, &v))
			fail_msg("'%s' refused: %s", ok[i].s, udma_last_error());
		assert_int_equal(v, ok[i].v);
	}
	for (i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
		v = 12345;
		if (udma_parse_size(bad[i], &v) != -EINVAL)
			fail_msg("'%s' accepted as %zu", bad[i], v);
		th_assert_err(udma_parse_size(bad[i], &v), EINVAL);
		assert_int_equal(v, 12345); /* untouched */
		assert_null(strchr(udma_last_error(), '\n'));
		if (!strchr(bad[i], '\n'))
			assert_non_null(strstr(udma_last_error(), bad[i])); /* says what it refused */
	}
	/* the message says which: a suffix, or the size */
	th_assert_err(udma_parse_size("1Ki", &v), EINVAL);
	assert_non_null(strstr(udma_last_error(), "unknown suffix 'Ki'"));
	th_assert_err(udma_parse_size("16777216T", &v), EINVAL);
	assert_non_null(strstr(udma_last_error(), "too large"));
	th_assert_err(udma_parse_size(NULL, &v), EINVAL);
}

/* What pagemap needs to show PFNs (a container may give root without it). */
static int has_cap_sys_admin(void)
{
	char line[256];
	unsigned long long eff = 0;
	FILE *f = fopen("/proc/self/status", "re");

	while (f && fgets(line, sizeof(line), f))
		sscanf(line, "CapEff: %llx", &eff);
	if (f)
		fclose(f);
	return (eff >> 21) & 1; /* CAP_SYS_ADMIN */
}

static void environment(void **state)
{
	const char *thp = udma_thp_mode();

	(void)state;
	assert_true(!strcmp(thp, "always") || !strcmp(thp, "madvise") || !strcmp(thp, "never") ||
		    !strcmp(thp, "unknown"));
	assert_true(udma_numa_nodes() >= 1);
	/* root reads PFNs; anyone else does not; under a user-mode emulator
	 * pagemap is the host's and nobody does */
	if (udma_pfn_readable() == -ENOTSUP)
		assert_non_null(strstr(udma_last_error(), "emulator"));
	else
		assert_int_equal(udma_pfn_readable(), has_cap_sys_admin());
	/* a mount is optional (udma maps hugepages through memfd); if given, it is a path */
	if (udma_hugepage_mount(UDMA_PAGE_2M))
		assert_int_equal(udma_hugepage_mount(UDMA_PAGE_2M)[0], '/');
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		th_test(sizes_ascending),	th_test(counts_and_reservation),
		th_test(unknown_size_and_node), th_test(parse_size),
		th_test(refuses_beyond_memory), th_test(environment),
		th_test(unreserve_is_bounded),	th_test(count_needs_out),
		th_test(foreign_pagemap),
	};

	return cmocka_run_group_tests_name("hugepage", tests, NULL, NULL);
}
