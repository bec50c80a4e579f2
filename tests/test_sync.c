/* SPDX-License-Identifier: MIT */
/*
 * udma_sync_for_device / udma_sync_for_cpu and the context's coherence: the
 * coherence defaults and flags, every range refused (NULL, wrapping, outside
 * or across regions, an inherited context), the cache lines a range covers
 * (partial lines at both ends), and that the maintenance instructions run
 * and keep the bytes (DC CVAC/CIVAC on arm64, CLFLUSH on x86, executed by
 * qemu-user for the ARM builds), or, on 32-bit ARM, refuse with the reason.
 */
#include <errno.h>
#include <stdio.h>
#include <string.h>
#include <sys/wait.h>
#include <unistd.h>

#include "lib/os/os.h"
#include "tests/support/helpers.h"

static struct udma_ctx *ctx_with(unsigned flags)
{
	struct udma_ctx_opts o = {.iova_mode = UDMA_IOVA_VA, .numa_node = UDMA_NUMA_ANY, .flags = flags};
	struct udma_ctx *ctx = NULL;

	if (udma_ctx_create(&o, &ctx))
		print_error("udma_ctx_create: %s\n", udma_last_error());
	assert_non_null(ctx);
	return ctx;
}

static struct udma_region *region_of(struct udma_ctx *ctx, size_t size)
{
	struct udma_region_opts o = {
		.size = size, .page_size = 4096, .numa_node = UDMA_NUMA_ANY, .name = "sync"};
	struct udma_region *r = NULL;

	if (udma_region_create(ctx, &o, &r))
		print_error("udma_region_create: %s\n", udma_last_error());
	assert_non_null(r);
	return r;
}

static void test_coherence_flags(void **state)
{
	struct udma_ctx_opts both = {.numa_node = UDMA_NUMA_ANY,
				     .flags = UDMA_CTX_DMA_COHERENT | UDMA_CTX_DMA_NONCOHERENT};
	struct udma_ctx *ctx = NULL;

	(void)state;
	ctx = ctx_with(0);
#if defined(__x86_64__) || defined(__i386__)
	assert_int_equal(udma_ctx_dma_coherent(ctx), 1);
#else
	assert_int_equal(udma_ctx_dma_coherent(ctx), 0);
#endif
	udma_ctx_destroy(ctx);
	ctx = ctx_with(UDMA_CTX_DMA_COHERENT);
	assert_int_equal(udma_ctx_dma_coherent(ctx), 1);
	udma_ctx_destroy(ctx);
	ctx = ctx_with(UDMA_CTX_DMA_NONCOHERENT);
	assert_int_equal(udma_ctx_dma_coherent(ctx), 0);
	udma_ctx_destroy(ctx);

	ctx = NULL;
	assert_int_equal(udma_ctx_create(&both, &ctx), -EINVAL);
	assert_null(ctx);
	assert_non_null(strstr(udma_last_error(), "both"));
	assert_int_equal(udma_ctx_dma_coherent(NULL), -EINVAL);
}

/* The lines a range covers: a partial line at either end is a whole line. */
static void test_line_span(void **state)
{
	uintptr_t first;
	size_t n;

	(void)state;
	udma__dcache_span(0x1000, 64, 64, &first, &n);
	assert_true(first == 0x1000 && n == 1);
	udma__dcache_span(0x1000, 65, 64, &first, &n);
	assert_true(first == 0x1000 && n == 2);
	udma__dcache_span(0x1001, 1, 64, &first, &n);
	assert_true(first == 0x1000 && n == 1);
	udma__dcache_span(0x103f, 2, 64, &first, &n);
	assert_true(first == 0x1000 && n == 2);
	udma__dcache_span(0x1010, 4096, 64, &first, &n);
	assert_true(first == 0x1000 && n == 65);
	udma__dcache_span(0x1010, 0, 64, &first, &n);
	assert_int_equal(n, 0);
	udma__dcache_span(0x2000, 4096, 128, &first, &n);
	assert_true(first == 0x2000 && n == 32);
}

static void test_line_size(void **state)
{
	size_t line = udma__dcache_line();

	(void)state;
	if (!udma__dcache_maintainable()) {
		assert_int_equal(line, 0);
		return;
	}
	/* A power of two an architecture could have. */
	assert_true(line >= 16 && line <= 2048 && (line & (line - 1)) == 0);
	printf("# data cache line: %zu bytes\n", line);
}

static void test_bad_ranges(void **state)
{
	struct udma_ctx *ctx = ctx_with(0);
	struct udma_region *a = region_of(ctx, 8192), *b = region_of(ctx, 8192);
	uint8_t *pa = udma_region_addr(a);
	int (*const call[2])(struct udma_ctx *, const void *, size_t) = {udma_sync_for_device,
									 udma_sync_for_cpu};
	static int outside;
	int i;

	(void)state;
	for (i = 0; i < 2; i++) {
		assert_int_equal(call[i](NULL, pa, 1), -EINVAL);
		assert_int_equal(call[i](ctx, NULL, 1), -EINVAL);
		assert_non_null(strstr(udma_last_error(), "NULL"));
		assert_int_equal(call[i](ctx, NULL, 0), 0); /* nothing to do */
		assert_int_equal(call[i](ctx, (void *)(UINTPTR_MAX - 10), 100), -EINVAL);
		assert_non_null(strstr(udma_last_error(), "wraps"));
		assert_int_equal(call[i](ctx, &outside, sizeof(outside)), -EFAULT);
		assert_non_null(strstr(udma_last_error(), "not inside one region"));
		/* one byte past the end, and the last byte before the start */
		assert_int_equal(call[i](ctx, pa, 8193), -EFAULT);
		assert_int_equal(call[i](ctx, pa - 1, 2), -EFAULT);
		/* a range over two regions, whichever comes first in memory */
		if ((uint8_t *)udma_region_addr(b) > pa)
			assert_int_equal(
				call[i](ctx, pa + 8191, (size_t)((uint8_t *)udma_region_addr(b) - pa)),
				-EFAULT);
		else
			assert_int_equal(call[i](ctx, udma_region_addr(b),
						 (size_t)(pa - (uint8_t *)udma_region_addr(b)) + 1),
					 -EFAULT);
	}
	udma_region_destroy(b);
	udma_region_destroy(a);
	/* a destroyed region's memory is no region's */
	assert_int_equal(udma_sync_for_device(ctx, pa, 1), -EFAULT);
	udma_ctx_destroy(ctx);
}

/* A sync of every kind of buffer udma hands out; bytes written before a
 * sync read back the same after it (clean and clean+invalidate keep them). */
static void sync_buffers(unsigned flags)
{
	struct udma_ctx *ctx = ctx_with(flags);
	struct udma_region *r = region_of(ctx, 3 * 4096);
	struct udma_pool *pool = th_pool(ctx, 200, 16, 0, 0, "sync");
	uint8_t *p = udma_region_addr(r), *obj = udma_pool_get(pool), *blk = udma_malloc(ctx, 1000, 64, NULL);
	int coherent = udma_ctx_dma_coherent(ctx);
	int want = coherent || udma__dcache_maintainable() ? 0 : -ENOTSUP;
	size_t i;

	assert_non_null(obj);
	assert_non_null(blk);
	for (i = 0; i < 3 * 4096; i++)
		p[i] = (uint8_t)(i * 7 + 1);
	memset(obj, 0x5a, 200);
	memset(blk, 0xa5, 1000);
	assert_int_equal(udma_sync_for_device(ctx, p + 3, 3 * 4096 - 5), want);
	assert_int_equal(udma_sync_for_device(ctx, obj, 200), want);
	assert_int_equal(udma_sync_for_device(ctx, blk, 1000), want);
	assert_int_equal(udma_sync_for_cpu(ctx, p, 3 * 4096), want);
	assert_int_equal(udma_sync_for_cpu(ctx, obj + 1, 199), want);
	assert_int_equal(udma_sync_for_cpu(ctx, blk, 1), want);
	if (want)
		assert_non_null(strstr(udma_last_error(), "UDMA_CTX_DMA_COHERENT"));
	for (i = 0; i < 3 * 4096; i++)
		assert_int_equal(p[i], (uint8_t)(i * 7 + 1));
	for (i = 0; i < 200; i++)
		assert_int_equal(obj[i], 0x5a);
	for (i = 0; i < 1000; i++)
		assert_int_equal(blk[i], 0xa5);
	printf("# %s context: syncs %s\n", coherent ? "coherent" : "non-coherent",
	       want ? "refused (no user-space cache maintenance here)" : "ran");
	udma_free(ctx, blk);
	udma_pool_put(pool, obj);
	udma_pool_destroy(pool);
	udma_region_destroy(r);
	udma_ctx_destroy(ctx);
}

static void test_sync_coherent(void **state)
{
	(void)state;
	sync_buffers(UDMA_CTX_DMA_COHERENT);
}

static void test_sync_noncoherent(void **state)
{
	(void)state;
	sync_buffers(UDMA_CTX_DMA_NONCOHERENT);
}

/* Many lines, many times: the loop ends where it should (no fault past the
 * region's last line) on a region whose end is a page boundary. */
static void test_sync_whole_region_edges(void **state)
{
	struct udma_ctx *ctx = ctx_with(UDMA_CTX_DMA_NONCOHERENT);
	struct udma_region *r = region_of(ctx, 64 * 4096);
	uint8_t *p = udma_region_addr(r);
	size_t size = udma_region_size(r);
	int want = udma__dcache_maintainable() ? 0 : -ENOTSUP;
	int i;

	(void)state;
	for (i = 0; i < 100; i++) {
		assert_int_equal(udma_sync_for_device(ctx, p, size), want);
		assert_int_equal(udma_sync_for_cpu(ctx, p + size - 1, 1), want);
		assert_int_equal(udma_sync_for_cpu(ctx, p, 1), want);
	}
	udma_region_destroy(r);
	udma_ctx_destroy(ctx);
}

static void test_sync_inherited(void **state)
{
	struct udma_ctx *ctx = ctx_with(0);
	struct udma_region *r = region_of(ctx, 4096);
	int st = 0;
	pid_t pid;

	(void)state;
	pid = fork();
	assert_true(pid >= 0);
	if (pid == 0)
		_exit(udma_sync_for_device(ctx, udma_region_addr(r), 1) == -ECHILD &&
				      udma_sync_for_cpu(ctx, udma_region_addr(r), 1) == -ECHILD
			      ? 0
			      : 1);
	assert_int_equal(waitpid(pid, &st, 0), pid);
	assert_true(WIFEXITED(st) && WEXITSTATUS(st) == 0);
	udma_region_destroy(r);
	udma_ctx_destroy(ctx);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		th_test(test_coherence_flags),
		th_test(test_line_span),
		th_test(test_line_size),
		th_test(test_bad_ranges),
		th_test(test_sync_coherent),
		th_test(test_sync_noncoherent),
		th_test(test_sync_whole_region_edges),
		th_test(test_sync_inherited),
	};

	return cmocka_run_group_tests_name("sync", tests, NULL, NULL);
}
