/* SPDX-License-Identifier: MIT */
/*
 * DMA-BUF heap regions (opts.dma_heap) and regions as dma-bufs
 * (udma_region_dmabuf), inside a QEMU guest booted with a kernel that has
 * /dev/dma_heap/system and /dev/udmabuf (bookworm-backports' 6.12; tests/
 * vm_dmabuf.sh boots it). Usage: test_dmabuf uio|vfio.
 *
 *   uio:  QEMU's edu device over uio_pci_generic, IOVA = physical address
 *   vfio: edu over vfio-pci behind QEMU's intel-iommu, IOVA = virtual address
 *
 * A system-heap region: its bytes, its IOVAs (pagemap's PFNs in PA mode,
 * the addresses in VA mode), CONTIG, the sync calls, and the edu device's
 * DMA into and out of it, or, where the kernel makes these impossible (6.12's
 * system heap maps VM_PFNMAP: no PFN in pagemap, nothing VFIO maps), the
 * refusals saying so. The errors a heap name or option gets. Export: a
 * SHARED region (4 KiB and 2 MiB pages) wrapped by /dev/udmabuf (the edu
 * device's writes read through it), a heap region's own dma-buf, refusals,
 * udmabuf's size limit. Every test's teardown checks nothing leaked (fds,
 * mappings, locked or pinned memory).
 */
#include <errno.h>
#include <fcntl.h>
#include <setjmp.h> /* cmocka needs these before its header */
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/ioctl.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cmocka.h>
#include <linux/dma-buf.h>
#include <linux/dma-heap.h>
#include <udma/udma.h>

#include "drivers/edu/edu.h"
#include "tests/support/helpers.h"
#include "tests/vm/guest_support.h"

#define HUGEPAGES  8 /* 2 MiB pages the export test wants */
#define PAGE	   4096
#define SIZE_LIMIT "/sys/module/udmabuf/parameters/size_limit_mb"

static bool vfio;     /* else uio */
static char addr[16]; /* the edu function */

/* ---- the fixture: what a test opened, closed by its teardown ---- */

struct fix {
	struct udma_ctx *ctx;
	struct udma_dev *dev;
	struct edu edu;
	struct snap before;
};

static struct fix the_fix;

static int fix_setup(void **state)
{
	memset(&the_fix, 0, sizeof(the_fix));
	snap_take(&the_fix.before);
	*state = &the_fix;
	return 0;
}

/* Close what the test left open, then check nothing leaked. */
static int fix_teardown(void **state)
{
	struct fix *f = *state;

	if (f->edu.bar && edu_detach(&f->edu))
		print_error("teardown: edu_detach: %s\n", f->edu.err);
	udma_dev_close(f->dev);
	udma_ctx_destroy(f->ctx);
	f->dev = NULL;
	f->ctx = NULL;
	return snap_check(&f->before);
}

#define test(f) cmocka_unit_test_setup_teardown(f, fix_setup, fix_teardown)

/* A context in this run's mode: uio with physical addresses, vfio with
 * virtual ones. */
static void fix_ctx(struct fix *f)
{
	f->ctx = ctx_new(vfio ? UDMA_IOVA_VA : UDMA_IOVA_PA, 0);
}

/* The edu device, on the fixture's context. */
static void fix_attach(struct fix *f)
{
	char spec[64];

	snprintf(spec, sizeof(spec), "%s:%s", vfio ? "vfio" : "uio", addr);
	if (udma_dev_open(f->ctx, spec, &f->dev))
		fail_msg("udma_dev_open(%s): %s", spec, udma_last_error());
	if (edu_attach(&f->edu, f->dev, 64))
		fail_msg("edu_attach: %s", f->edu.err);
}

/* ---- regions ---- */

static struct udma_region_opts heap_opts(const char *heap, size_t size, unsigned flags)
{
	struct udma_region_opts o = {.size = size,
				     .numa_node = UDMA_NUMA_ANY,
				     .flags = flags,
				     .name = "dmabuf-test",
				     .dma_heap = heap};
	return o;
}

static struct udma_region *heap_region(struct udma_ctx *ctx, size_t size, unsigned flags)
{
	struct udma_region_opts o = heap_opts("system", size, flags);
	struct udma_region *r = NULL;

	ok(udma_region_create(ctx, &o, &r), "udma_region_create(dma_heap \"system\")");
	return r;
}

/* Pages the PFNs of [p, p + len) form runs of; 0 if a page has no PFN. */
static unsigned pfn_runs(const uint8_t *p, size_t len)
{
	uint64_t prev = 0;
	unsigned runs = 0;
	size_t i;

	for (i = 0; i < len; i += PAGE) {
		uint64_t pa = th_pagemap_pa(p + i);

		if (!pa)
			return 0;
		runs += !i || pa != prev + PAGE;
		prev = pa;
	}
	return runs;
}

/* The raw pagemap entry of va, to say what the kernel reports. */
static uint64_t pagemap_entry(const void *va)
{
	uint64_t e = 0;
	int fd = open("/proc/self/pagemap", O_RDONLY | O_CLOEXEC);

	assert_true(fd >= 0);
	if (pread(fd, &e, sizeof(e), (off_t)((uintptr_t)va / PAGE * sizeof(e))) != sizeof(e))
		e = 0;
	close(fd);
	return e;
}

/* Whether pagemap shows the system heap's pages, asked of the kernel
 * without udma: a buffer of its own, mapped and touched. 6.12's system heap
 * maps with remap_pfn_range (VM_PFNMAP), which the kernel's page walk, and
 * so pagemap, skips. */
static bool heap_pfns_shown(void)
{
	struct dma_heap_allocation_data a = {.len = 4 * PAGE, .fd_flags = O_RDWR | O_CLOEXEC};
	int heap = open("/dev/dma_heap/system", O_RDONLY | O_CLOEXEC);
	uint64_t e;
	uint8_t *p;

	assert_true(heap >= 0);
	assert_int_equal(ioctl(heap, DMA_HEAP_IOCTL_ALLOC, &a), 0);
	close(heap);
	p = mmap(NULL, 4 * PAGE, PROT_READ | PROT_WRITE, MAP_SHARED, (int)a.fd, 0);
	assert_true(p != MAP_FAILED);
	p[0] = 1;
	e = pagemap_entry(p);
	printf("# the system heap's own mapping, without udma: VmFlags pf %d io %d; pagemap entry of a "
	       "touched page 0x%016llx (present %d, PFN 0x%llx)\n",
	       th_vma_has_flag(p, "pf"), th_vma_has_flag(p, "io"), (unsigned long long)e, (int)(e >> 63),
	       (unsigned long long)(e & ((1ull << 55) - 1)));
	munmap(p, 4 * PAGE);
	close((int)a.fd);
	return e >> 63;
}

/* PA mode with pagemap blind to the heap's mapping: refused, saying why. */
static void expect_pa_refused(struct udma_ctx *ctx, size_t size, unsigned flags)
{
	struct udma_region_opts o = heap_opts("system", size, flags);

	th_expect_region_error(ctx, &o, ENOTSUP, "VM_PFNMAP");
	assert_non_null(strstr(udma_last_error(), "pagemap"));
}

/* A heap region in PA mode: readable and writable, mapped from the dma-buf,
 * every page's IOVA the physical address pagemap gives; or, where pagemap
 * does not show the heap's mapping (6.12's system heap), refused with
 * -ENOTSUP naming the reason and VA mode. */
static void heap_pa(void **state)
{
	struct fix *f = *state;
	struct udma_region *r;
	uint8_t *p;
	uint64_t e;
	size_t i, size;

	f->ctx = ctx_new(UDMA_IOVA_PA, 0);
	if (!heap_pfns_shown()) {
		expect_pa_refused(f->ctx, 300 * PAGE + 100, 0);
		return;
	}
	r = heap_region(f->ctx, 300 * PAGE + 100, 0);
	p = udma_region_addr(r);
	size = udma_region_size(r);
	assert_int_equal(size, 301 * PAGE);
	assert_int_equal(udma_region_page_size(r), PAGE);
	assert_int_equal(udma_region_fd(r), -1);
	assert_int_equal(udma_region_numa_node(r), UDMA_NUMA_ANY);
	e = pagemap_entry(p);
	printf("# system heap mapping: VmFlags pf %d io %d; pagemap entry 0x%016llx: present %d, PFN 0x%llx; "
	       "%u runs of PFNs in %zu pages\n",
	       th_vma_has_flag(p, "pf"), th_vma_has_flag(p, "io"), (unsigned long long)e, (int)(e >> 63),
	       (unsigned long long)(e & ((1ull << 55) - 1)), pfn_runs(p, size), size / PAGE);
	for (i = 0; i < size; i += PAGE) {
		uint64_t pa = th_pagemap_pa(p + i);

		if (!pa)
			fail_msg("pagemap gives no PFN for page %zu of the heap region (entry 0x%016llx)",
				 i / PAGE, (unsigned long long)pagemap_entry(p + i));
		if (udma_iova(f->ctx, p + i + 7) != pa + 7)
			fail_msg("page %zu: udma_iova 0x%llx, pagemap 0x%llx", i / PAGE,
				 (unsigned long long)udma_iova(f->ctx, p + i + 7),
				 (unsigned long long)pa + 7);
	}
	assert_true(udma_iova(f->ctx, p + size) == UDMA_BAD_IOVA);
	for (i = 0; i < size; i += PAGE)
		memset(p + i, (int)(i / PAGE), PAGE);
	for (i = 0; i < size; i += PAGE)
		check_fill(p + i, PAGE, (uint8_t)(i / PAGE), "a page of the heap region");
	udma_region_destroy(r);
}

/* In VA mode a heap region's IOVAs are its addresses, one run; its size
 * rounded up to 4 KiB pages, no fd of its own (udma_region_fd), no node. */
static void heap_va(void **state)
{
	struct fix *f = *state;
	struct udma_region *r;
	uint8_t *p;
	size_t i;

	f->ctx = ctx_new(UDMA_IOVA_VA, 0);
	r = heap_region(f->ctx, 64 * PAGE + 100, 0);
	p = udma_region_addr(r);
	assert_int_equal(udma_region_size(r), 65 * PAGE);
	assert_int_equal(udma_region_page_size(r), PAGE);
	assert_int_equal(udma_region_fd(r), -1);
	assert_int_equal(udma_region_numa_node(r), UDMA_NUMA_ANY);
	assert_true(udma_iova(f->ctx, p + udma_region_size(r)) == UDMA_BAD_IOVA);
	printf("# udma's mapping of the heap region: VmFlags pf %d io %d\n", th_vma_has_flag(p, "pf"),
	       th_vma_has_flag(p, "io"));
	for (i = 0; i < udma_region_size(r); i += PAGE)
		assert_true(udma_iova(f->ctx, p + i + 1) == (uintptr_t)p + i + 1);
	assert_int_equal(udma_iova_contig(f->ctx, p, udma_region_size(r)), udma_region_size(r));
	memset(p, 0x5a, udma_region_size(r));
	check_fill(p, udma_region_size(r), 0x5a, "the heap region");
	udma_region_destroy(r);
}

/* CONTIG on the system heap: its pages are scattered blocks (orders 8, 4
 * and 0), so in PA mode it holds only when they happen to be one run, which
 * pagemap must then confirm; else -ENOMEM (-ENOTSUP where pagemap does not
 * show the mapping, as for any PA-mode heap region). In VA mode it always
 * holds. */
static void heap_contig(void **state)
{
	static const size_t sizes[] = {16 * PAGE, 8 << 20};
	struct fix *f = *state;
	struct udma_region_opts o;
	struct udma_region *r;
	size_t i;

	f->ctx = ctx_new(UDMA_IOVA_PA, 0);
	for (i = 0; i < sizeof(sizes) / sizeof(sizes[0]); i++) {
		int rc;

		if (!heap_pfns_shown()) {
			expect_pa_refused(f->ctx, sizes[i], UDMA_REGION_CONTIG);
			continue;
		}

		o = heap_opts("system", sizes[i], UDMA_REGION_CONTIG);
		rc = udma_region_create(f->ctx, &o, &r);
		printf("# CONTIG, %zu KiB from the system heap in PA mode: %d%s%s\n", sizes[i] >> 10, rc,
		       rc ? ", " : "", rc ? udma_last_error() : "");
		if (rc == 0) {
			assert_int_equal(pfn_runs(udma_region_addr(r), udma_region_size(r)), 1);
			assert_int_equal(udma_iova_contig(f->ctx, udma_region_addr(r), udma_region_size(r)),
					 udma_region_size(r));
			udma_region_destroy(r);
			continue;
		}
		assert_int_equal(rc, -ENOMEM);
		if (!strstr(udma_last_error(), "system") || !strstr(udma_last_error(), "contiguous"))
			fail_msg("the message names neither the heap nor contiguity: %s", udma_last_error());
	}
	udma_ctx_destroy(f->ctx);
	f->ctx = ctx_new(UDMA_IOVA_VA, 0);
	o = heap_opts("system", 8 << 20, UDMA_REGION_CONTIG);
	ok(udma_region_create(f->ctx, &o, &r), "CONTIG from the system heap in VA mode");
	udma_region_destroy(r);
}

/* The sync calls on a heap region go to the dma-buf (DMA_BUF_IOCTL_SYNC). */
static void heap_sync(void **state)
{
	struct fix *f = *state;
	struct udma_region *r;
	uint8_t *p;
	size_t size;

	f->ctx = ctx_new(UDMA_IOVA_VA, 0); /* a heap region in any mode will do */
	r = heap_region(f->ctx, 16 * PAGE, 0);
	p = udma_region_addr(r);
	size = udma_region_size(r);
	ok(udma_sync_for_device(f->ctx, p, size), "udma_sync_for_device (the whole region)");
	ok(udma_sync_for_cpu(f->ctx, p, size), "udma_sync_for_cpu (the whole region)");
	ok(udma_sync_for_device(f->ctx, p + 100, 5000), "udma_sync_for_device (a part)");
	ok(udma_sync_for_cpu(f->ctx, p + 100, 5000), "udma_sync_for_cpu (a part)");
	assert_int_equal(udma_sync_for_device(f->ctx, p, 0), 0);
	assert_int_equal(udma_sync_for_cpu(f->ctx, p + size - 1, 2), -EFAULT);
	assert_int_equal(udma_sync_for_device(f->ctx, p + size, 1), -EFAULT);
	udma_region_destroy(r);
}

/* One transfer per IOVA-contiguous piece (4 KiB pages in PA mode are
 * rarely adjacent), synced as the rule in udma/sync.h says. */
static void transfer(struct fix *f, bool to_dev, uint8_t *va, unsigned off, size_t len)
{
	ok(udma_sync_for_device(f->ctx, va, len), "udma_sync_for_device before the device reads or writes");
	while (len) {
		size_t n = udma_iova_contig(f->ctx, va, len);
		uint64_t iova = udma_iova(f->ctx, va);
		int rc;

		assert_true(n > 0);
		assert_true(iova != UDMA_BAD_IOVA);
		rc = to_dev ? edu_dma_to_device(&f->edu, iova, off, n, EDU_IRQ)
			    : edu_dma_from_device(&f->edu, off, iova, n, EDU_IRQ);
		if (rc)
			fail_msg("edu DMA %s the device (bus 0x%llx, offset %u, %zu bytes): %s",
				 to_dev ? "to" : "from", (unsigned long long)iova, off, n, f->edu.err);
		if (!to_dev)
			ok(udma_sync_for_cpu(f->ctx, va, n), "udma_sync_for_cpu after the device wrote");
		va += n, off += (unsigned)n, len -= n;
	}
}

/* The edu device copies out of a heap region made before the device was
 * opened (mapped at attach) into one made after (mapped as it comes), and
 * back, across page boundaries; the bytes around the destination stay. */
static void heap_dma(void **state)
{
	struct fix *f = *state;
	struct udma_region_opts o = heap_opts("system", 8 * PAGE, 0);
	struct udma_region *early, *late;
	uint8_t *a, *b, want[4000];

	if (!vfio && !heap_pfns_shown()) {
		printf("# skip: pagemap shows no PFN for the system heap's VM_PFNMAP mapping: no physical "
		       "address to give a device without an IOMMU (heap_pa checks the refusal)\n");
		skip();
	}
	fix_ctx(f);
	ok(udma_region_create(f->ctx, &o, &early), "udma_region_create (before the device)");
	if (th_vma_has_flag(udma_region_addr(early), "pf")) {
		udma_region_destroy(early);
		printf("# skip: the system heap's mapping is VM_PFNMAP, which vfio_iommu_type1 maps only for "
		       "memory without struct pages: VFIO cannot map it (heap_vfio_refused checks the "
		       "refusal)\n");
		skip();
	}
	fix_attach(f);
	late = heap_region(f->ctx, 8 * PAGE, 0);
	a = (uint8_t *)udma_region_addr(early) + PAGE - 1000;
	b = (uint8_t *)udma_region_addr(late) + 3 * PAGE - 2000;
	printf("# heap regions at IOVA 0x%llx and 0x%llx\n", (unsigned long long)udma_iova(f->ctx, a),
	       (unsigned long long)udma_iova(f->ctx, b));

	pattern(a, sizeof(want), 21);
	memcpy(want, a, sizeof(want));
	memset(udma_region_addr(late), 0xa5, udma_region_size(late));
	transfer(f, true, a, 0, sizeof(want));
	transfer(f, false, b, 0, sizeof(want));
	check_bytes(b, sizeof(want), want, "early heap region -> device -> late heap region");
	check_fill(udma_region_addr(late), (size_t)(b - (uint8_t *)udma_region_addr(late)), 0xa5,
		   "bytes before the destination");
	check_fill(b + sizeof(want),
		   (size_t)((uint8_t *)udma_region_addr(late) + 8 * PAGE - b) - sizeof(want), 0xa5,
		   "bytes after the destination");

	pattern(b, sizeof(want), 22);
	memcpy(want, b, sizeof(want));
	memset(a, 0, sizeof(want));
	transfer(f, true, b, 100, sizeof(want) - 100);
	transfer(f, false, a, 100, sizeof(want) - 100);
	check_bytes(a, sizeof(want) - 100, want, "late heap region -> device -> early heap region");
	printf("# %u DMA completions by interrupt\n", f->edu.dma_irqs);

	if (edu_detach(&f->edu))
		fail_msg("edu_detach: %s", f->edu.err);
	udma_dev_close(f->dev);
	f->dev = NULL;
	udma_region_destroy(late);
	udma_region_destroy(early);
}

/* vfio: a heap region whose mapping is VM_PFNMAP (6.12's system heap) is
 * refused by VFIO, by name and reason: the device does not open while one
 * exists, and none is made while the device is open. */
static void heap_vfio_refused(void **state)
{
	struct fix *f = *state;
	struct udma_region_opts o = heap_opts("system", 8 * PAGE, 0);
	struct udma_region *r;
	char spec[64];

	f->ctx = ctx_new(UDMA_IOVA_VA, 0);
	ok(udma_region_create(f->ctx, &o, &r), "udma_region_create");
	if (!th_vma_has_flag(udma_region_addr(r), "pf")) {
		udma_region_destroy(r);
		printf("# skip: this kernel's system heap maps pages VFIO can pin (heap_dma moves data)\n");
		skip();
	}
	snprintf(spec, sizeof(spec), "vfio:%s", addr);
	expect_open_error(f->ctx, spec, ENOTSUP, "VM_PFNMAP");
	printf("# %s with a heap region: %s\n", spec, udma_last_error());
	udma_region_destroy(r);
	fix_attach(f);
	th_expect_region_error(f->ctx, &o, ENOTSUP, "VM_PFNMAP");
}

/* What a heap name or an option the heap cannot give is told. */
static void heap_errors(void **state)
{
	struct fix *f = *state;
	struct udma_region_opts o;

	f->ctx = ctx_new(UDMA_IOVA_PA, 0);
	if (access("/dev/dma_heap/linux,cma", F_OK) == 0) {
		printf("# skip: this kernel has a CMA heap: \"cma\" does not fail\n");
		skip();
	}
	o = heap_opts("cma", 16 * PAGE, 0);
	th_expect_region_error(f->ctx, &o, ENOENT, "CONFIG_DMABUF_HEAPS_CMA");
	o = heap_opts("no-such-heap", 16 * PAGE, 0);
	th_expect_region_error(f->ctx, &o, ENOENT, "system");
	o = heap_opts("sub/system", 16 * PAGE, 0);
	th_expect_region_error(f->ctx, &o, EINVAL, "no heap name");
	o = heap_opts("system", 4 << 20, 0);
	o.page_size = UDMA_PAGE_2M;
	th_expect_region_error(f->ctx, &o, EINVAL, "4 KiB pages");
	o = heap_opts("system", 16 * PAGE, 0);
	o.numa_node = 0;
	th_expect_region_error(f->ctx, &o, EINVAL, "NUMA node");
	o = heap_opts("system", 16 * PAGE, UDMA_REGION_SHARED);
	th_expect_region_error(f->ctx, &o, EINVAL, "udma_region_dmabuf");
}

/* ---- regions as dma-bufs ---- */

static void dmabuf_sync(int fd, uint64_t flags)
{
	struct dma_buf_sync s = {.flags = flags};

	if (ioctl(fd, DMA_BUF_IOCTL_SYNC, &s))
		fail_msg("DMA_BUF_IOCTL_SYNC 0x%llx on the exported dma-buf: %s", (unsigned long long)flags,
			 strerror(errno));
}

/* The dma-buf fd shows the region's bytes: each side sees what the other
 * wrote (bracketed by DMA_BUF_IOCTL_SYNC as an importer would). Returns the
 * fd's mapping. */
static uint8_t *same_bytes(struct udma_region *r, int fd)
{
	size_t size = udma_region_size(r);
	uint8_t *p = udma_region_addr(r), *m;

	assert_true(fcntl(fd, F_GETFD) & FD_CLOEXEC);
	m = mmap(NULL, size, PROT_READ | PROT_WRITE, MAP_SHARED, fd, 0);
	if (m == MAP_FAILED)
		fail_msg("mmap of the dma-buf: %s", strerror(errno));
	pattern(p, size, 31);
	dmabuf_sync(fd, DMA_BUF_SYNC_START | DMA_BUF_SYNC_RW);
	check_bytes(m, size, p, "the dma-buf's mapping against the region");
	memset(m + size - PAGE, 0x3c, PAGE);
	memset(m, 0xc3, 100);
	dmabuf_sync(fd, DMA_BUF_SYNC_END | DMA_BUF_SYNC_RW);
	check_fill(p + size - PAGE, PAGE, 0x3c, "the region's last page, written through the dma-buf");
	check_fill(p, 100, 0xc3, "the region's first bytes, written through the dma-buf");
	printf("# the dma-buf's mapping: VmFlags pf %d; pagemap entry of its last page 0x%016llx\n",
	       th_vma_has_flag(m, "pf"), (unsigned long long)pagemap_entry(m + size - 1));
	return m;
}

/* The dma-buf outlives the region: its bytes stay, through the mapping
 * made before and through a new one. */
static void outlives(int fd, uint8_t *m, size_t size)
{
	uint8_t *again;

	check_fill(m + size - PAGE, PAGE, 0x3c, "the dma-buf after udma_region_destroy");
	memset(m + PAGE, 0x77, PAGE);
	again = mmap(NULL, size, PROT_READ | PROT_WRITE, MAP_SHARED, fd, 0);
	if (again == MAP_FAILED)
		fail_msg("mmap of the dma-buf after udma_region_destroy: %s", strerror(errno));
	check_fill(again + PAGE, PAGE, 0x77, "a new mapping of the dma-buf after udma_region_destroy");
	check_fill(again, 100, 0xc3, "a new mapping of the dma-buf after udma_region_destroy");
	munmap(again, size);
	munmap(m, size);
}

/* A SHARED region through /dev/udmabuf. */
static void export_shared(struct fix *f, size_t page_size)
{
	struct udma_region_opts o = {.size = 4 * page_size,
				     .page_size = page_size,
				     .numa_node = UDMA_NUMA_ANY,
				     .flags = UDMA_REGION_SHARED,
				     .name = "dmabuf-export"};
	struct udma_region *r;
	uint8_t *m, *p, want[4000];
	int fd;

	fix_ctx(f);
	fix_attach(f);
	ok(udma_region_create(f->ctx, &o, &r), "udma_region_create (SHARED)");
	fd = udma_region_dmabuf(r);
	printf("# a SHARED region of %zu KiB pages through /dev/udmabuf: %d%s%s\n", page_size >> 10, fd,
	       fd < 0 ? ", " : "", fd < 0 ? udma_last_error() : "");
	if (fd < 0) {
		udma_region_destroy(r);
		fail_msg("udma_region_dmabuf: %s", udma_last_error());
	}
	m = same_bytes(r, fd);
	/* What the edu device writes into the region, an importer of the
	 * dma-buf reads (after DMA_BUF_IOCTL_SYNC's start of CPU access). */
	p = udma_region_addr(r);
	memcpy(want, p + 200, sizeof(want));
	transfer(f, true, p + 200, 0, sizeof(want));
	transfer(f, false, p + page_size + 100, 0, sizeof(want));
	dmabuf_sync(fd, DMA_BUF_SYNC_START | DMA_BUF_SYNC_READ);
	check_bytes(m + page_size + 100, sizeof(want), want, "the device's write, read through the dma-buf");
	dmabuf_sync(fd, DMA_BUF_SYNC_END | DMA_BUF_SYNC_READ);
	if (edu_detach(&f->edu))
		fail_msg("edu_detach: %s", f->edu.err);
	udma_dev_close(f->dev);
	f->dev = NULL;
	udma_region_destroy(r);
	outlives(fd, m, o.size);
	close(fd);
}

/* A SHARED region of 4 KiB pages as a dma-buf: the bytes both ways, the
 * device's writes seen by an importer, the fd outliving the region. */
static void export_shared_4k(void **state)
{
	export_shared(*state, UDMA_PAGE_4K);
}

/* 6.12's udmabuf takes hugetlb memfds too. */
static void export_shared_2m(void **state)
{
	export_shared(*state, UDMA_PAGE_2M);
}

/* A heap region gives a duplicate of its own dma-buf, each time a new fd;
 * the kernel names its exporter the heap. */
static void export_heap(void **state)
{
	struct fix *f = *state;
	struct udma_region *r;
	struct stat s1, s2;
	char path[64], line[128];
	bool named = false;
	uint8_t *m;
	FILE *info;
	int fd, fd2;

	f->ctx = ctx_new(UDMA_IOVA_VA, 0); /* PA mode may refuse heap regions (heap_pa) */
	r = heap_region(f->ctx, 8 * PAGE, 0);
	fd = udma_region_dmabuf(r);
	if (fd < 0)
		fail_msg("udma_region_dmabuf of a heap region: %s", udma_last_error());
	fd2 = udma_region_dmabuf(r);
	assert_true(fd2 >= 0);
	assert_true(fd2 != fd);
	assert_int_equal(fstat(fd, &s1), 0);
	assert_int_equal(fstat(fd2, &s2), 0);
	assert_true(s1.st_ino == s2.st_ino && s1.st_dev == s2.st_dev);
	close(fd2);
	snprintf(path, sizeof(path), "/proc/self/fdinfo/%d", fd);
	info = fopen(path, "re");
	assert_non_null(info);
	while (fgets(line, sizeof(line), info))
		named |= !strcmp(line, "exp_name:\tsystem\n");
	fclose(info);
	assert_true(named);
	m = same_bytes(r, fd);
	udma_region_destroy(r);
	outlives(fd, m, 8 * PAGE);
	close(fd);
}

/* Memory with no file to hand the kernel is refused. */
static void export_refused(void **state)
{
	struct udma_region_opts o = {
		.size = 16 * PAGE, .page_size = UDMA_PAGE_4K, .numa_node = UDMA_NUMA_ANY};
	struct fix *f = *state;
	struct udma_region *r;
	void *mem;

	f->ctx = ctx_new(UDMA_IOVA_PA, 0);
	th_expect_dmabuf_error(NULL, EINVAL, "");
	ok(udma_region_create(f->ctx, &o, &r), "udma_region_create");
	th_expect_dmabuf_error(r, ENOTSUP, "UDMA_REGION_SHARED");
	udma_region_destroy(r);
	mem = mmap(NULL, 16 * PAGE, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
	assert_true(mem != MAP_FAILED);
	ok(udma_region_register(f->ctx, mem, 16 * PAGE, &r), "udma_region_register");
	th_expect_dmabuf_error(r, ENOTSUP, "");
	udma_region_destroy(r);
	munmap(mem, 16 * PAGE);
}

static void sysfs_read(const char *path, char *buf, size_t len)
{
	FILE *f = fopen(path, "re");

	assert_non_null(f);
	if (!fgets(buf, (int)len, f))
		buf[0] = 0;
	fclose(f);
	buf[strcspn(buf, "\n")] = 0;
	assert_true(buf[0]);
}

/* A region larger than udmabuf's limit (lowered to 1 MiB) is refused with
 * the limit and where to raise it; the limit is put back. */
static void export_size_limit(void **state)
{
	struct udma_region_opts o = {.size = 2 << 20,
				     .page_size = UDMA_PAGE_4K,
				     .numa_node = UDMA_NUMA_ANY,
				     .flags = UDMA_REGION_SHARED,
				     .name = "dmabuf-big"};
	struct fix *f = *state;
	struct udma_region *r;
	char limit[32];

	f->ctx = ctx_new(UDMA_IOVA_PA, 0);
	sysfs_read(SIZE_LIMIT, limit, sizeof(limit));
	ok(udma_region_create(f->ctx, &o, &r), "udma_region_create (SHARED, 2 MiB)");
	sysfs_write(SIZE_LIMIT, "1");
	{
		int fd = udma_region_dmabuf(r);

		sysfs_write(SIZE_LIMIT, limit);
		printf("# 2 MiB through udmabuf limited to 1 MiB (it was %s): %d, %s\n", limit, fd,
		       udma_last_error());
		if (fd >= 0)
			close(fd);
		udma_region_destroy(r);
		assert_int_equal(fd, -E2BIG);
	}
	if (!strstr(udma_last_error(), "size_limit_mb") || !strstr(udma_last_error(), "1 MiB"))
		fail_msg("the message gives neither the limit nor its parameter: %s", udma_last_error());
}

int main(int argc, char **argv)
{
	const struct CMUnitTest vfio_only[] = {test(heap_vfio_refused)};
	const struct CMUnitTest tests[] = {
		test(heap_pa),	   test(heap_va),	 test(heap_contig),	  test(heap_sync),
		test(heap_dma),	   test(heap_errors),	 test(export_shared_4k),  test(export_shared_2m),
		test(export_heap), test(export_refused), test(export_size_limit),
	};
	int rc;

	if (argc != 2 || (strcmp(argv[1], "uio") && strcmp(argv[1], "vfio"))) {
		fprintf(stderr, "usage: %s uio|vfio\n", argv[0]);
		return 2;
	}
	vfio = !strcmp(argv[1], "vfio");
	if (!pci_find("UDMA_EDU", pci_is_edu, addr, sizeof(addr))) {
		printf("test_dmabuf: no edu device (PCI %04x:%04x): start QEMU with -device "
		       "edu,dma_mask=0xffffffffffffffff\n",
		       EDU_VENDOR_ID, EDU_DEVICE_ID);
		return 1;
	}
	if (!ensure_hugepages(HUGEPAGES, "test_dmabuf"))
		return 1;
	printf("test_dmabuf: kernel heaps: /dev/dma_heap/system %s, /dev/udmabuf %s; edu at %s through %s\n",
	       access("/dev/dma_heap/system", F_OK) ? "absent" : "present",
	       access("/dev/udmabuf", F_OK) ? "absent" : "present", addr, argv[1]);
	rc = _cmocka_run_group_tests(vfio ? "dmabuf vfio" : "dmabuf uio", tests,
				     sizeof(tests) / sizeof(tests[0]), NULL, NULL);
	if (vfio)
		rc |= cmocka_run_group_tests_name("dmabuf vfio only", vfio_only, NULL, NULL);
	return rc;
}
