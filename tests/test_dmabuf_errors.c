/* SPDX-License-Identifier: MIT */
/*
 * DMA-BUF heap regions and udma_region_dmabuf refused with the reason, on a
 * stand-in /dev (UDMA_DEV_ROOT) and /sys (UDMA_SYSFS_ROOT), so every branch
 * runs whatever this kernel has: no /dev/dma_heap, no CMA heap among others,
 * an unknown heap, a node that is no heap, an unreadable one, no
 * /dev/udmabuf, a region over udmabuf's size limit, one that is no dma-buf
 * at all. tests/test_dmabuf.c and the 6.12 guest (tests/vm_dmabuf.sh) test
 * the real heaps and udmabuf.
 */
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <unistd.h>

#include "tests/support/helpers.h"
#include "tests/support/qemu_user.h"

static char root[64];

static void put_file(const char *rel, const char *text, mode_t mode)
{
	char path[256];
	int fd;

	snprintf(path, sizeof(path), "%s/%s", root, rel);
	fd = open(path, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, mode);
	assert_true(fd >= 0);
	assert_int_equal(write(fd, text, strlen(text)), (ssize_t)strlen(text));
	close(fd);
}

static void make_dir(const char *rel)
{
	char path[256];

	snprintf(path, sizeof(path), "%s/%s", root, rel);
	assert_int_equal(mkdir(path, 0755), 0);
}

static int setup(void **state)
{
	snprintf(root, sizeof(root), "/tmp/udma-devroot-XXXXXX");
	if (!mkdtemp(root) || chmod(root, 0755) < 0) /* nobody looks in it too */
		return -1;
	setenv("UDMA_DEV_ROOT", root, 1);
	setenv("UDMA_SYSFS_ROOT", root, 1);
	return th_leak_setup(state);
}

static int teardown(void **state)
{
	char cmd[128];
	int rc = th_leak_teardown(state);

	snprintf(cmd, sizeof(cmd), "rm -rf '%s'", root);
	if (system(cmd) != 0)
		rc = -1;
	unsetenv("UDMA_DEV_ROOT");
	unsetenv("UDMA_SYSFS_ROOT");
	return rc;
}

static int heap_region(const char *heap, struct udma_region **r)
{
	struct udma_region_opts o = {.size = 65536, .numa_node = UDMA_NUMA_ANY, .dma_heap = heap};
	struct udma_ctx *ctx = th_ctx();
	int rc = udma_region_create(ctx, &o, r);

	udma_ctx_destroy(ctx);
	return rc;
}

static void test_no_heaps(void **state)
{
	struct udma_region *r = (void *)1;

	(void)state;
	th_assert_err(heap_region("system", &r), ENODEV);
	assert_null(r);
	assert_non_null(strstr(udma_last_error(), "CONFIG_DMABUF_HEAPS"));
	th_assert_err(heap_region("cma", &r), ENODEV);
}

static void test_no_cma_heap(void **state)
{
	struct udma_region *r;

	(void)state;
	make_dir("dma_heap");
	put_file("dma_heap/system", "", 0644);
	th_assert_err(heap_region("cma", &r), ENOENT);
	assert_non_null(strstr(udma_last_error(), "CONFIG_DMABUF_HEAPS_CMA"));
	assert_non_null(strstr(udma_last_error(), "cma="));
	assert_non_null(strstr(udma_last_error(), "system"));
	th_assert_err(heap_region("nosuch", &r), ENOENT);
	assert_non_null(strstr(udma_last_error(), "has: system"));
}

/* A file where the heap should be: it refuses the allocation ioctl. */
static void test_not_a_heap(void **state)
{
	struct udma_region *r;

	(void)state;
	th_skip_if_qemu_lacks(TH_EMUL_DMABUF_IOCTL);
	make_dir("dma_heap");
	put_file("dma_heap/linux,cma", "", 0644);
	th_assert_err(heap_region("cma", &r), ENOTTY);
	assert_non_null(strstr(udma_last_error(), "not a DMA-BUF heap"));
	assert_non_null(strstr(udma_last_error(), "linux,cma"));
}

static int open_unreadable_heap(void *arg)
{
	struct udma_region *r;
	int rc;

	(void)arg;
	rc = heap_region("system", &r);
	if (rc == -EACCES && strstr(udma_last_error(), "udev rule"))
		return 0;
	printf("# as nobody: %d %s\n", rc, udma_last_error());
	return 1;
}

static void test_unreadable_heap(void **state)
{
	(void)state;
	if (geteuid() != 0) {
		printf("# skip: needs root to run a child as nobody\n");
		skip();
	}
	make_dir("dma_heap");
	put_file("dma_heap/system", "", 0600);
	assert_int_equal(th_run_child(open_unreadable_heap, NULL, 1, (size_t)-1), 0);
}

static void test_bad_options(void **state)
{
	struct udma_ctx *ctx = th_ctx();
	struct udma_region *r = (void *)1;
	struct udma_region_opts o = {.size = 4096, .numa_node = UDMA_NUMA_ANY, .dma_heap = "../system"};

	(void)state;
	th_assert_err(udma_region_create(ctx, &o, &r), EINVAL);
	assert_null(r);
	o.dma_heap = "";
	th_assert_err(udma_region_create(ctx, &o, &r), EINVAL);
	o.dma_heap = "..";
	th_assert_err(udma_region_create(ctx, &o, &r), EINVAL);
	o.dma_heap = "system";
	o.page_size = 2u << 20;
	th_assert_err(udma_region_create(ctx, &o, &r), EINVAL);
	assert_non_null(strstr(udma_last_error(), "4 KiB"));
	o.page_size = 0;
	o.numa_node = 0;
	th_assert_err(udma_region_create(ctx, &o, &r), EINVAL);
	assert_non_null(strstr(udma_last_error(), "NUMA"));
	o.numa_node = UDMA_NUMA_ANY;
	o.flags = UDMA_REGION_SHARED;
	th_assert_err(udma_region_create(ctx, &o, &r), EINVAL);
	assert_non_null(strstr(udma_last_error(), "udma_region_dmabuf"));
	udma_ctx_destroy(ctx);
}

static struct udma_region *shared_region(struct udma_ctx *ctx, size_t size, unsigned flags)
{
	struct udma_region_opts o = {
		.size = size, .page_size = 4096, .numa_node = UDMA_NUMA_ANY, .flags = flags};
	struct udma_region *r = NULL;

	if (udma_region_create(ctx, &o, &r))
		print_error("udma_region_create: %s\n", udma_last_error());
	assert_non_null(r);
	return r;
}

static void test_dmabuf_refusals(void **state)
{
	struct udma_ctx *ctx;
	struct udma_region *plain, *shared;

	(void)state;
	th_skip_if_qemu_lacks(TH_EMUL_DMABUF_IOCTL);
	ctx = th_ctx();
	plain = shared_region(ctx, 4096, 0);
	shared = shared_region(ctx, 2u << 20, UDMA_REGION_SHARED);
	th_assert_err(udma_region_dmabuf(NULL), EINVAL);
	th_assert_err(udma_region_dmabuf(plain), ENOTSUP);
	assert_non_null(strstr(udma_last_error(), "UDMA_REGION_SHARED"));
	/* no /dev/udmabuf */
	th_assert_err(udma_region_dmabuf(shared), ENODEV);
	assert_non_null(strstr(udma_last_error(), "CONFIG_UDMABUF"));
	/* over the limit, which the message gives with the way to raise it */
	put_file("udmabuf", "", 0644);
	make_dir("module");
	make_dir("module/udmabuf");
	make_dir("module/udmabuf/parameters");
	put_file("module/udmabuf/parameters/size_limit_mb", "1\n", 0644);
	th_assert_err(udma_region_dmabuf(shared), E2BIG);
	assert_non_null(strstr(udma_last_error(), "limit of 1 MiB"));
	assert_non_null(strstr(udma_last_error(), "size_limit_mb"));
	/* under it, a file that is no udmabuf device refuses the ioctl */
	put_file("module/udmabuf/parameters/size_limit_mb", "64\n", 0644);
	th_assert_err(udma_region_dmabuf(shared), ENOTTY);
	assert_non_null(strstr(udma_last_error(), "refused"));
	udma_region_destroy(shared);
	udma_region_destroy(plain);
	udma_ctx_destroy(ctx);
}

static void test_registered_refused(void **state)
{
	struct udma_ctx *ctx = th_ctx();
	struct udma_region *r = NULL;
	void *mem = mmap(NULL, 4096, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);

	(void)state;
	assert_true(mem != MAP_FAILED);
	if (th_qemu_lacks(TH_EMUL_SMAPS, NULL, 0)) {
		munmap(mem, 4096);
		udma_ctx_destroy(ctx);
		th_skip_if_qemu_lacks(TH_EMUL_SMAPS);
	}
	if (udma_region_register(ctx, mem, 4096, &r))
		print_error("udma_region_register: %s\n", udma_last_error());
	assert_non_null(r);
	th_assert_err(udma_region_dmabuf(r), ENOTSUP);
	assert_non_null(strstr(udma_last_error(), "registered"));
	udma_region_destroy(r);
	udma_ctx_destroy(ctx);
	munmap(mem, 4096);
}

#define T(f) cmocka_unit_test_setup_teardown(f, setup, teardown)

int main(void)
{
	const struct CMUnitTest tests[] = {
		T(test_no_heaps),	    T(test_no_cma_heap), T(test_not_a_heap),
		T(test_unreadable_heap),    T(test_bad_options), T(test_dmabuf_refusals),
		T(test_registered_refused),
	};

	return cmocka_run_group_tests_name("dmabuf_errors", tests, NULL, NULL);
}
