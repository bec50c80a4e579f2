/* SPDX-License-Identifier: MIT */
/*
 * DMA-BUF heap regions (opts.dma_heap) and udma_region_dmabuf on this
 * machine's kernel, whichever it is: where it lacks /dev/dma_heap or
 * /dev/udmabuf (Debian 12's 6.1), the calls fail with -ENODEV naming the
 * kernel option; where it has them, a system-heap region is made and a
 * SHARED region becomes a dma-buf. The branch is chosen by probing the device
 * nodes and said on a "# kernel:" line. tests/test_dmabuf_errors.c tests
 * every refusal on a stand-in /dev and /sys; the guest test
 * tests/vm/test_dmabuf.c the working heap and udmabuf in depth.
 */
#include <errno.h>
#include <stdio.h>
#include <string.h>
#include <sys/mman.h>
#include <unistd.h>

#include "tests/support/helpers.h"

#define SIZE (64u << 10)

static struct udma_region_opts heap_opts(const char *heap, unsigned flags)
{
	struct udma_region_opts o = {
		.size = SIZE, .numa_node = UDMA_NUMA_ANY, .flags = flags, .name = "dmabuf", .dma_heap = heap};
	return o;
}

/* udma_region_create must fail with -err and a message containing says. */
static bool present(const char *path)
{
	return access(path, F_OK) == 0;
}

/* "system": made, readable and writable, where the kernel has the heap;
 * else -ENODEV naming CONFIG_DMABUF_HEAPS (or -ENOENT listing the heaps
 * there are, when /dev/dma_heap has others). */
static void heap_system(void **state)
{
	struct udma_ctx_opts co = {.iova_mode = UDMA_IOVA_VA, .numa_node = UDMA_NUMA_ANY};
	struct udma_region_opts o = heap_opts("system", 0);
	struct udma_region *r;
	struct udma_ctx *ctx;
	int rc;

	(void)state;
	assert_int_equal(udma_ctx_create(&co, &ctx), 0);
	if (!present("/dev/dma_heap")) {
		printf("# kernel: no /dev/dma_heap\n");
		th_expect_region_error(ctx, &o, ENODEV, "CONFIG_DMABUF_HEAPS");
	} else if (!present("/dev/dma_heap/system")) {
		printf("# kernel: /dev/dma_heap without a system heap\n");
		th_expect_region_error(ctx, &o, ENOENT, "has:");
	} else {
		printf("# kernel: /dev/dma_heap/system\n");
		rc = udma_region_create(ctx, &o, &r);
		if (rc == -EACCES) {
			printf("# skip: /dev/dma_heap/system is not readable by this user: %s\n",
			       udma_last_error());
			udma_ctx_destroy(ctx);
			skip();
		}
		if (rc)
			fail_msg("udma_region_create(dma_heap \"system\"): %s", udma_last_error());
		memset(udma_region_addr(r), 0x5a, udma_region_size(r));
		assert_int_equal(((unsigned char *)udma_region_addr(r))[SIZE - 1], 0x5a);
		assert_true(udma_iova(ctx, udma_region_addr(r)) == (uintptr_t)udma_region_addr(r));
		udma_region_destroy(r);
	}
	udma_ctx_destroy(ctx);
}

/* "cma" where the kernel has no CMA heap: what the kernel needs. */
static void heap_cma(void **state)
{
	struct udma_region_opts o = heap_opts("cma", 0);
	struct udma_ctx *ctx = th_ctx();

	(void)state;
	if (!present("/dev/dma_heap"))
		th_expect_region_error(ctx, &o, ENODEV, "CONFIG_DMABUF_HEAPS");
	else if (!present("/dev/dma_heap/linux,cma") && !present("/dev/dma_heap/default_cma_region") &&
		 !present("/dev/dma_heap/reserved"))
		th_expect_region_error(ctx, &o, ENOENT, "CONFIG_DMABUF_HEAPS_CMA");
	else
		printf("# this kernel has a CMA heap: nothing refused\n");
	udma_ctx_destroy(ctx);
}

/* A SHARED region as a dma-buf: an fd where the kernel has /dev/udmabuf
 * (mapped, the same bytes), else -ENODEV naming CONFIG_UDMABUF. */
static void dmabuf_shared(void **state)
{
	struct udma_region_opts o = {.size = SIZE,
				     .page_size = UDMA_PAGE_4K,
				     .numa_node = UDMA_NUMA_ANY,
				     .flags = UDMA_REGION_SHARED,
				     .name = "dmabuf-shared"};
	struct udma_ctx *ctx = th_ctx();
	struct udma_region *r;
	unsigned char *m;
	int fd;

	(void)state;
	assert_int_equal(udma_region_create(ctx, &o, &r), 0);
	if (!present("/dev/udmabuf")) {
		printf("# kernel: no /dev/udmabuf\n");
		th_expect_dmabuf_error(r, ENODEV, "CONFIG_UDMABUF");
	} else if (access("/dev/udmabuf", W_OK)) {
		printf("# kernel: /dev/udmabuf, not writable here\n");
		th_expect_dmabuf_error(r, EACCES, "/dev/udmabuf");
	} else {
		printf("# kernel: /dev/udmabuf\n");
		fd = udma_region_dmabuf(r);
		if (fd < 0)
			fail_msg("udma_region_dmabuf: %s", udma_last_error());
		memset(udma_region_addr(r), 0x6b, SIZE);
		m = mmap(NULL, SIZE, PROT_READ, MAP_SHARED, fd, 0);
		assert_true(m != MAP_FAILED);
		assert_int_equal(m[SIZE - 1], 0x6b);
		munmap(m, SIZE);
		close(fd);
	}
	udma_region_destroy(r);
	udma_ctx_destroy(ctx);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		th_test(heap_system),
		th_test(heap_cma),
		th_test(dmabuf_shared),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
