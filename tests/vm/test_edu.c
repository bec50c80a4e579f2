/* SPDX-License-Identifier: MIT */
/*
 * udma's UIO and VFIO backends against a real DMA engine: QEMU's edu device,
 * inside a QEMU guest (tests/vm/ boots it). Usage: test_edu uio|vfio.
 *
 *   uio:  the device bound to uio_pci_generic, IOVA = physical address
 *   vfio: the device bound to vfio-pci behind QEMU's intel-iommu, IOVA =
 *         virtual address, every region mapped in the IOMMU
 *
 * The device must be started with -device edu,dma_mask=0xffffffffffffffff
 * (else QEMU truncates bus addresses to 28 bits). Data goes from a udma
 * buffer into the device's buffer and back into another, checked byte for
 * byte with the bytes around it: pool, heap and region buffers, on 2 MiB and
 * 4 KiB pages, completion by polling and by interrupt. With VFIO, DMA to and
 * from addresses the IOMMU does not map must leave our memory alone.
 *
 * Each test's context and device live in a fixture its teardown closes, so
 * a test that fails half-way leaves no open device behind for the next.
 */
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <setjmp.h> /* cmocka needs these before its header */
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/file.h>
#include <sys/mman.h>
#include <unistd.h>

#include <cmocka.h>
#include <udma/udma.h>

#include "drivers/edu/edu.h"
#include "tests/vm/guest_support.h"

#define HUGEPAGES 48 /* 2 MiB pages the tests use at most, with room to spare */
#define BUF	  4096
#define GUARD	  64
#define CANARY	  0xa5
/* What a DMA the IOMMU must block moves: QEMU's SMMUv3 reports each 4-byte
 * access of a blocked DMA as an event, and the kernel prints 10 events in
 * 5 s, so a longer one would leave the next faults off the log. */
#define PROBE 4

static bool vfio;     /* else uio */
static char addr[16]; /* the edu function, 0000:00:03.0 */

/* ---- the device ---- */

static void spec_of(char *spec, size_t len)
{
	snprintf(spec, len, "%s:%s", vfio ? "vfio" : "uio", addr);
}

/* ---- the fixture: what a test opened, closed by its teardown ---- */

struct fix {
	struct udma_ctx *ctx, *ctx2; /* ctx2: a second context, if the test needs one */
	struct udma_dev *dev;
	struct edu edu;
	int fd; /* a file the test holds, -1 */
	struct snap before;
};

static struct fix the_fix;

static int fix_setup(void **state)
{
	memset(&the_fix, 0, sizeof(the_fix));
	the_fix.fd = -1;
	snap_take(&the_fix.before);
	*state = &the_fix;
	return 0;
}

/* Close what the test left open (all of it when it failed half-way), then
 * check nothing leaked: fds, mappings, locked memory. */
static int fix_teardown(void **state)
{
	struct fix *f = *state;

	if (f->edu.bar) {
		f->edu.timeout_ms = EDU_TIMEOUT_MS;
		if (edu_detach(&f->edu))
			print_error("teardown: edu_detach: %s\n", f->edu.err);
	}
	udma_dev_close(f->dev);
	udma_ctx_destroy(f->ctx);
	udma_ctx_destroy(f->ctx2);
	if (f->fd >= 0)
		close(f->fd);
	f->dev = NULL;
	f->ctx = f->ctx2 = NULL;
	f->fd = -1;
	return snap_check(&f->before);
}

#define test(f) cmocka_unit_test_setup_teardown(f, fix_setup, fix_teardown)

static void fix_attach(struct fix *f)
{
	char spec[64];

	spec_of(spec, sizeof(spec));
	if (udma_dev_open(f->ctx, spec, &f->dev))
		fail_msg("udma_dev_open(%s): %s", spec, udma_last_error());
	if (edu_attach(&f->edu, f->dev, 64))
		fail_msg("edu_attach: %s", f->edu.err);
}

/* The device first: regions made after it are mapped for it as they come. */
static void fix_open(struct fix *f, size_t page_size)
{
	f->ctx = ctx_new(vfio ? UDMA_IOVA_VA : UDMA_IOVA_PA, page_size);
	fix_attach(f);
}

static void fix_close(struct fix *f)
{
	if (edu_detach(&f->edu))
		fail_msg("edu_detach: %s", f->edu.err);
	udma_dev_close(f->dev);
	f->dev = NULL;
	udma_ctx_destroy(f->ctx);
	f->ctx = NULL;
}

/* ---- DMA through IOVA-contiguous pieces ---- */

/* The device takes one bus address per transfer: a buffer that is not
 * IOVA-contiguous (4 KiB pages in PA mode) goes as several transfers.
 * Returns how many. */
static unsigned transfer(struct fix *f, bool to_dev, uint8_t *va, unsigned off, size_t len, enum edu_wait how)
{
	unsigned pieces = 0;

	while (len) {
		size_t n = udma_iova_contig(f->ctx, va, len);
		uint64_t iova = udma_iova(f->ctx, va);
		int rc;

		assert_true(n > 0);
		assert_true(iova != UDMA_BAD_IOVA);
		/* The rule of udma/sync.h, as a driver on a non-coherent board
		 * follows it (the arm64 guest's contexts are non-coherent by
		 * default, so DC CVAC/CIVAC run at EL0 under a real kernel). */
		if ((rc = udma_sync_for_device(f->ctx, va, n)))
			fail_msg("udma_sync_for_device: %s", udma_last_error());
		rc = to_dev ? edu_dma_to_device(&f->edu, iova, off, n, how)
			    : edu_dma_from_device(&f->edu, off, iova, n, how);
		if (!rc && !to_dev && udma_sync_for_cpu(f->ctx, va, n))
			fail_msg("udma_sync_for_cpu: %s", udma_last_error());
		if (rc)
			fail_msg("edu DMA %s the device (bus 0x%llx, offset %u, %zu bytes): %s",
				 to_dev ? "to" : "from", (unsigned long long)iova, off, n, f->edu.err);
		va += n, off += (unsigned)n, len -= n, pieces++;
	}
	return pieces;
}

static unsigned to_device(struct fix *f, const uint8_t *va, unsigned off, size_t len, enum edu_wait how)
{
	return transfer(f, true, (uint8_t *)va, off, len, how); /* only read through va */
}

static unsigned from_device(struct fix *f, unsigned off, uint8_t *va, size_t len, enum edu_wait how)
{
	return transfer(f, false, va, off, len, how);
}

/* Sizes and offsets in the device buffer: a transfer must end before its
 * last byte (edu.h), so 4095 bytes go at offset 0. */
static const struct {
	unsigned off;
	size_t len;
} cases[] = {{4094, 1}, {100, 64}, {3000, 1000}, {0, 4095}};

/* src -> device -> dst for every case; dst and GUARD bytes on each side of
 * it (lo, hi: how many of them belong to us) must hold exactly what the
 * transfer wrote. Returns the transfers made. */
static unsigned round_trips(struct fix *f, uint8_t *src, uint8_t *dst, size_t lo, size_t hi,
			    enum edu_wait how, unsigned seed)
{
	uint8_t want[BUF];
	unsigned n = 0;
	size_t i;

	for (i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
		size_t len = cases[i].len;

		pattern(src, len, seed + (unsigned)i);
		memcpy(want, src, len);
		memset(dst - lo, CANARY, lo + BUF + hi);
		n += to_device(f, src, cases[i].off, len, how);
		n += from_device(f, cases[i].off, dst, len, how);
		check_bytes(dst, len, want, "DMA'd data");
		check_bytes(src, len, want, "source after DMA");
		check_fill(dst + len, BUF - len + hi, CANARY, "bytes after the destination");
		check_fill(dst - lo, lo, CANARY, "bytes before the destination");
	}
	return n;
}

enum kind { POOL, HEAP, REGION };

static void run_dma(struct fix *f, enum kind kind, size_t page_size, enum edu_wait how)
{
	static const char *const kinds[] = {"pool", "heap", "region"};
	struct udma_pool_opts po = {
		.obj_size = BUF, .align = BUF, .count = 8, .numa_node = UDMA_NUMA_ANY, .name = "edu-pool"};
	struct udma_region_opts ro = {
		.size = 4 * page_size, .numa_node = UDMA_NUMA_ANY, .name = "edu-region"};
	struct udma_pool *pool = NULL;
	struct udma_region *r = NULL;
	uint8_t *src, *dst;
	size_t lo = 0, hi = 0;
	unsigned n;

	fix_open(f, page_size);
	switch (kind) {
	case POOL:
		ok(udma_pool_create(f->ctx, &po, &pool), "udma_pool_create");
		src = got(udma_pool_get(pool), "udma_pool_get");
		dst = got(udma_pool_get(pool), "udma_pool_get");
		break;
	case HEAP:
		src = got(udma_malloc(f->ctx, BUF, BUF, NULL), "udma_malloc");
		dst = got(udma_malloc(f->ctx, BUF, BUF, NULL), "udma_malloc");
		break;
	default:
		/* Buffers across page boundaries: on 4 KiB pages in PA mode the
		 * pages behind them are rarely adjacent, so they go in pieces. */
		ok(udma_region_create(f->ctx, &ro, &r), "udma_region_create");
		src = (uint8_t *)udma_region_addr(r) + page_size - 1000;
		dst = (uint8_t *)udma_region_addr(r) + 3 * page_size - 2000;
		lo = hi = GUARD;
		break;
	}
	n = round_trips(f, src, dst, lo, hi, how, (unsigned)(kind * 10 + (page_size >> 20)));
	printf("# %s buffers on %zu KiB pages, %s: %u transfers (IOVAs 0x%llx, 0x%llx), %u interrupts, "
	       "%u of them DMA completions\n",
	       kinds[kind], page_size >> 10, how == EDU_IRQ ? "interrupts" : "polling", n,
	       (unsigned long long)udma_iova(f->ctx, src), (unsigned long long)udma_iova(f->ctx, dst),
	       f->edu.irqs, f->edu.dma_irqs);
	/* One completion interrupt per transfer when asked for, none when polling. */
	assert_int_equal(f->edu.dma_irqs, how == EDU_IRQ ? n : 0);
	if (pool) {
		udma_pool_put(pool, src);
		udma_pool_put(pool, dst);
		udma_pool_destroy(pool);
	} else if (kind == HEAP) {
		udma_free(f->ctx, src);
		udma_free(f->ctx, dst);
	} else {
		udma_region_destroy(r);
	}
	fix_close(f);
}

#define DMA_TEST(name, kind, page, how)           \
	static void name(void **state)            \
	{                                         \
		run_dma(*state, kind, page, how); \
	}
DMA_TEST(pool_2m_poll, POOL, UDMA_PAGE_2M, EDU_POLL)
DMA_TEST(pool_2m_irq, POOL, UDMA_PAGE_2M, EDU_IRQ)
DMA_TEST(pool_4k_poll, POOL, UDMA_PAGE_4K, EDU_POLL)
DMA_TEST(pool_4k_irq, POOL, UDMA_PAGE_4K, EDU_IRQ)
DMA_TEST(heap_2m_poll, HEAP, UDMA_PAGE_2M, EDU_POLL)
DMA_TEST(heap_2m_irq, HEAP, UDMA_PAGE_2M, EDU_IRQ)
DMA_TEST(heap_4k_poll, HEAP, UDMA_PAGE_4K, EDU_POLL)
DMA_TEST(heap_4k_irq, HEAP, UDMA_PAGE_4K, EDU_IRQ)
DMA_TEST(region_2m_poll, REGION, UDMA_PAGE_2M, EDU_POLL)
DMA_TEST(region_2m_irq, REGION, UDMA_PAGE_2M, EDU_IRQ)
DMA_TEST(region_4k_poll, REGION, UDMA_PAGE_4K, EDU_POLL)
DMA_TEST(region_4k_irq, REGION, UDMA_PAGE_4K, EDU_IRQ)

/* ---- registers, interrupts, bus mastering ---- */

static void registers(void **state)
{
	static const uint32_t values[] = {0, 1, 0xffffffff, 0xdeadbeef};
	struct fix *f = *state;
	size_t i;

	fix_open(f, 0);
	printf("# %s: edu version %u.%u (id 0x%08x)\n", addr, f->edu.id >> 24, (f->edu.id >> 16) & 0xff,
	       f->edu.id);
	assert_int_equal(edu_rd32(&f->edu, EDU_REG_ID) & EDU_ID_MASK, EDU_ID_VALUE);
	for (i = 0; i < sizeof(values) / sizeof(values[0]); i++) {
		edu_wr32(&f->edu, EDU_REG_ALIVE, values[i]);
		assert_int_equal(edu_rd32(&f->edu, EDU_REG_ALIVE), (uint32_t)~values[i]);
	}
	/* The DMA registers hold 64 bits, written and read as one access. */
	edu_wr64(&f->edu, EDU_REG_DMA_SRC, 0x123456789abcdef0ull);
	assert_true(edu_rd64(&f->edu, EDU_REG_DMA_SRC) == 0x123456789abcdef0ull);
	fix_close(f);
}

/* The interrupt path alone: raised by register, several times in a row, so
 * each one must have been unmasked by the ack before it. */
static void interrupts(void **state)
{
	struct fix *f = *state;
	unsigned i;

	fix_open(f, 0);
	assert_true(udma_dev_irq_fd(f->dev, 0) >= 0);
	assert_true(udma_dev_irq_fd(f->dev, 1) < 0);
	for (i = 0; i < 5; i++) {
		int rc = edu_irq_selftest(&f->edu, 0x1000u << i);

		if (rc)
			fail_msg("interrupt %u: %s", i, f->edu.err);
	}
	assert_int_equal(edu_rd32(&f->edu, EDU_REG_IRQ_STATUS), 0);
	fix_close(f);
}

/* Bus mastering on while open (without it DMA silently does nothing), off
 * after close (the device can no longer reach memory that may go). */
static void bus_master(void **state)
{
	struct fix *f = *state;

	fix_open(f, 0);
	assert_true(pci_command(addr) & 0x4);
	fix_close(f);
	assert_false(pci_command(addr) & 0x4);
	/* UIO: its interrupt masked too (VFIO resets the function instead). */
	if (!vfio)
		assert_true(pci_command(addr) & 0x400);
}

/* Offsets in the device buffer are where they say: two halves written
 * apart come back as one. */
static void device_offsets(void **state)
{
	uint8_t *a, *b, *out, want[2000];
	struct fix *f = *state;

	fix_open(f, 0);
	a = got(udma_malloc(f->ctx, 1000, 64, NULL), "udma_malloc");
	b = got(udma_malloc(f->ctx, 1000, 64, NULL), "udma_malloc");
	out = got(udma_malloc(f->ctx, 2000, 64, NULL), "udma_malloc");
	pattern(a, 1000, 7);
	pattern(b, 1000, 8);
	memcpy(want, a, 1000);
	memcpy(want + 1000, b, 1000);
	memset(out, 0, 2000);
	to_device(f, a, 1000, 1000, EDU_POLL);
	to_device(f, b, 2000, 1000, EDU_POLL);
	from_device(f, 1000, out, 2000, EDU_POLL);
	check_bytes(out, 2000, want, "device buffer 1000..2999");
	udma_free(f->ctx, a);
	udma_free(f->ctx, b);
	udma_free(f->ctx, out);
	fix_close(f);
}

/* A region that exists before the device opens is mapped at attach. */
static void region_before_open(void **state)
{
	struct udma_region_opts ro = {
		.size = 64 << 10, .page_size = UDMA_PAGE_4K, .numa_node = UDMA_NUMA_ANY, .name = "early"};
	struct udma_region *r;
	uint8_t *p, want[BUF];
	struct fix *f = *state;

	f->ctx = ctx_new(vfio ? UDMA_IOVA_VA : UDMA_IOVA_PA, 0);
	ok(udma_region_create(f->ctx, &ro, &r), "udma_region_create");
	fix_attach(f);
	p = udma_region_addr(r);
	pattern(p, BUF, 3);
	memcpy(want, p, BUF);
	to_device(f, p, 0, 4000, EDU_IRQ);
	memset(p + 8192, 0, BUF);
	from_device(f, 0, p + 8192, 4000, EDU_IRQ);
	check_bytes(p + 8192, 4000, want, "early region");
	if (edu_detach(&f->edu))
		fail_msg("edu_detach: %s", f->edu.err);
	udma_dev_close(f->dev);
	f->dev = NULL;
	udma_region_destroy(r);
}

/* What the driver refuses before touching the device. */
static void dma_limits(void **state)
{
	struct fix *f = *state;
	uint64_t iova;
	void *p;

	fix_open(f, 0);
	p = got(udma_malloc(f->ctx, BUF, BUF, &iova), "udma_malloc");
	assert_int_equal(edu_dma_to_device(&f->edu, iova, 0, 0, EDU_POLL), -EINVAL);
	assert_int_equal(edu_dma_to_device(&f->edu, iova, 0, 4096, EDU_POLL), -EINVAL);
	assert_int_equal(edu_dma_to_device(&f->edu, iova, 4000, 96, EDU_POLL), -EINVAL);
	assert_int_equal(edu_dma_from_device(&f->edu, 4095, iova, 1, EDU_POLL), -EINVAL);
	assert_non_null(strstr(f->edu.err, "QEMU"));
	/* The largest transfer that ends before the last byte is fine. */
	assert_int_equal(edu_dma_to_device(&f->edu, iova, 3000, 1095, EDU_POLL), 0);
	/* A driver told of a 28-bit device refuses addresses above 256 MiB. */
	f->edu.dma_mask = (1ull << 28) - 1;
	assert_int_equal(edu_dma_to_device(&f->edu, 1ull << 28, 0, 16, EDU_POLL), -ERANGE);
	assert_non_null(strstr(f->edu.err, "dma_mask"));
	udma_free(f->ctx, p);
	fix_close(f);
}

/* ---- errors ---- */

static void errors(void **state)
{
	static const char *const bad[] = {
		"uio:",		"uio:zz",	 "uio:0000:00:03", "uio:00:20.0",    "uio:00:03.8",
		"uio:/dev/uio", "uio:/dev/uiox", "uio:/dev/sda",   "vfio:/dev/uio0", "vfio:0000:00:03.0,x",
		"vfio:"};
	struct fix *f = *state;
	char spec[64], before[64], after[64];
	size_t i;

	f->ctx = ctx_new(UDMA_IOVA_VA, 0);
	f->ctx2 = ctx_new(UDMA_IOVA_PA, 0);
	for (i = 0; i < sizeof(bad) / sizeof(bad[0]); i++)
		expect_open_error(f->ctx, bad[i], EINVAL, "device spec");
	snprintf(spec, sizeof(spec), "uio:%s", addr);
	expect_open_error(f->ctx, spec, EINVAL, "UDMA_IOVA_PA");
	if (vfio) {
		/* An IOMMU that translates (intel_iommu=on, no iommu=pt) would
		 * fault every physical address: refused, the binding untouched. */
		pci_driver_of(addr, before, sizeof(before));
		expect_open_error(f->ctx2, spec, ENOTSUP, "boot with iommu=pt");
		pci_driver_of(addr, after, sizeof(after));
		assert_string_equal(before, after);
	}
	snprintf(spec, sizeof(spec), "vfio:%s", addr);
	expect_open_error(f->ctx2, spec, EINVAL, "UDMA_IOVA_VA");
	expect_open_error(f->ctx2, "uio:0000:fe:1f.7", ENOENT, "no PCI device");
	expect_open_error(f->ctx, "vfio:0000:fe:1f.7", ENOENT, "no PCI device");
	expect_open_error(f->ctx2, "uio:/dev/uio99", ENOENT, "no UIO device");
	if (!vfio) /* this guest has no IOMMU */
		expect_open_error(f->ctx, spec, ENODEV, "no IOMMU group");
}

/* The /dev/uioN sysfs lists for the function, "" if none. */
static void uio_node_of(char *node, size_t len)
{
	char path[512];
	struct dirent *e;
	DIR *d;

	snprintf(path, sizeof(path), "/sys/bus/pci/devices/%s/uio", addr);
	node[0] = 0;
	d = opendir(path);
	while (d && (e = readdir(d)))
		if (!strncmp(e->d_name, "uio", 3))
			snprintf(node, len, "/dev/%.32s", e->d_name);
	if (d)
		closedir(d);
}

/* uio: the node the address was bound to opens as well. */
static void uio_by_node(void **state)
{
	struct fix *f = *state;
	char node[64], spec[80];

	fix_open(f, 0); /* binds it */
	if (edu_detach(&f->edu))
		fail_msg("edu_detach: %s", f->edu.err);
	udma_dev_close(f->dev);
	f->dev = NULL;
	uio_node_of(node, sizeof(node));
	assert_true(node[0]);
	snprintf(spec, sizeof(spec), "uio:%s", node);
	if (udma_dev_open(f->ctx, spec, &f->dev))
		fail_msg("%s: %s", spec, udma_last_error());
	if (edu_attach(&f->edu, f->dev, 64))
		fail_msg("edu_attach via %s: %s", spec, f->edu.err);
	assert_int_equal(edu_irq_selftest(&f->edu, 0x1000), 0);
	printf("# %s works too\n", spec);
	fix_close(f);
}

/* A short round trip through the device: it works. */
static void works(struct fix *f, enum edu_wait how)
{
	uint8_t *p = got(udma_malloc(f->ctx, BUF, BUF, NULL), "udma_malloc"), want[1000];

	pattern(p, sizeof(want), 31);
	memcpy(want, p, sizeof(want));
	to_device(f, p, 500, sizeof(want), how);
	memset(p, 0, BUF);
	from_device(f, 500, p + 2000, sizeof(want), how);
	check_bytes(p + 2000, sizeof(want), want, "round trip");
	udma_free(f->ctx, p);
}

/* uio: one user at a time. A second open, by address or by node, is refused
 * before it opens the node (closing a file of it would turn bus mastering
 * off under the first), and the first one goes on working. */
static void uio_exclusive(void **state)
{
	struct fix *f = *state;
	char spec[80], node[64];

	fix_open(f, 0);
	f->ctx2 = ctx_new(UDMA_IOVA_PA, 0);
	spec_of(spec, sizeof(spec));
	expect_open_error(f->ctx2, spec, EBUSY, "in use");
	expect_open_error(f->ctx, spec, EBUSY, "in use");
	uio_node_of(node, sizeof(node));
	snprintf(spec, sizeof(spec), "uio:%s", node);
	expect_open_error(f->ctx2, spec, EBUSY, "in use");
	assert_true(pci_command(addr) & 0x4);
	works(f, EDU_IRQ);
	fix_close(f);
}

/* A transfer given up on may still complete: the driver refuses more DMA
 * until detached, and detach waits for it. The late transfer lands: why
 * its buffer had to stay. */
static void dma_timeout(void **state)
{
	struct fix *f = *state;
	uint8_t *p, want[1000];
	uint64_t iova;

	fix_open(f, 0);
	p = got(udma_malloc(f->ctx, BUF, BUF, &iova), "udma_malloc");
	pattern(p, sizeof(want), 41);
	memcpy(want, p, sizeof(want));
	to_device(f, p, 0, sizeof(want), EDU_POLL);
	memset(p, 0, BUF);
	f->edu.timeout_ms = 1; /* a transfer takes 100 ms */
	assert_int_equal(edu_dma_from_device(&f->edu, 0, iova, sizeof(want), EDU_POLL), -ETIMEDOUT);
	printf("# timed out: %s\n", f->edu.err);
	assert_true(f->edu.wedged);
	assert_int_equal(edu_dma_to_device(&f->edu, iova, 0, 16, EDU_POLL), -EIO);
	assert_non_null(strstr(f->edu.err, "timed out"));
	f->edu.timeout_ms = EDU_TIMEOUT_MS;
	if (edu_detach(&f->edu))
		fail_msg("edu_detach: %s", f->edu.err);
	check_bytes(p, sizeof(want), want, "the late transfer");
	udma_free(f->ctx, p);
	fix_close(f);
}

/* vfio: a group opens once; a second device on it is refused by name. */
static void vfio_busy(void **state)
{
	struct fix *f = *state;
	char spec[64];

	fix_open(f, 0);
	spec_of(spec, sizeof(spec));
	expect_open_error(f->ctx, spec, EBUSY, "in use");
	fix_close(f);
}

/* Not part of any region: its IOVA (= VA) is mapped in no IOMMU. */
static uint8_t secret[BUF] __attribute__((aligned(BUF)));

/* vfio: the IOMMU stops the device at every address we did not map (the
 * transfer "completes": the device has no way to report the fault; the
 * kernel logs it), and a destroyed region is unmapped. */
static void iommu_blocks(void **state)
{
	struct udma_region_opts ro = {
		.size = 64 << 10, .page_size = UDMA_PAGE_4K, .numa_node = UDMA_NUMA_ANY, .name = "canary"};
	uint8_t want[BUF], *buf, *end, *keep;
	struct udma_region *r;
	uint64_t stale;
	struct fix *f = *state;

	fix_open(f, 0);
	ok(udma_region_create(f->ctx, &ro, &r), "udma_region_create");
	buf = udma_region_addr(r);
	end = buf + udma_region_size(r);
	assert_true(udma_iova(f->ctx, end) == UDMA_BAD_IOVA);
	/* The device buffer holds a known pattern; the canary region another. */
	pattern(buf, BUF, 11);
	to_device(f, buf, 0, 4000, EDU_POLL);
	memset(buf, CANARY, udma_region_size(r));
	pattern(secret, sizeof(secret), 12);
	memcpy(want, secret, sizeof(want));

	/* Device -> memory just past the region, and -> memory in no region. */
	assert_int_equal(edu_dma_from_device(&f->edu, 0, (uintptr_t)end, PROBE, EDU_IRQ), 0);
	assert_int_equal(edu_dma_from_device(&f->edu, 0, (uintptr_t)secret, PROBE, EDU_POLL), 0);
	check_fill(buf, udma_region_size(r), CANARY, "canary region");
	check_bytes(secret, sizeof(secret), want, "unmapped memory");
	expect_dmar("Write", (uintptr_t)end);
	expect_dmar("Write", (uintptr_t)secret);
	/* Memory in no region -> device: it must not learn our secret. */
	assert_int_equal(edu_dma_to_device(&f->edu, (uintptr_t)secret, 0, PROBE, EDU_POLL), 0);
	from_device(f, 0, buf, PROBE, EDU_POLL);
	if (!memcmp(buf, secret, PROBE))
		fail_msg("the device read memory the IOMMU does not map");
	expect_dmar("Read", (uintptr_t)secret);
	/* The device still works. */
	memset(buf, CANARY, BUF);
	round_trips(f, buf + BUF, buf + 4 * BUF, GUARD, GUARD, EDU_IRQ, 13);
	udma_region_destroy(r);
	/* A destroyed region is gone from the IOMMU, IOTLB included: a region
	 * the device has just written, whose pages a second mapping of its
	 * file keeps alive, is destroyed; a DMA to its IOVA must miss them.
	 * (Its fault is not checked in the log: the kernel prints at most 10
	 * lines of DMAR faults in 5 s, 3 per fault, and they are used up.) */
	ro.flags = UDMA_REGION_SHARED;
	ok(udma_region_create(f->ctx, &ro, &r), "udma_region_create");
	keep = mmap(NULL, ro.size, PROT_READ | PROT_WRITE, MAP_SHARED, udma_region_fd(r), 0);
	assert_true(keep != MAP_FAILED);
	from_device(f, 0, udma_region_addr(r), 4000, EDU_POLL);
	stale = udma_iova(f->ctx, udma_region_addr(r));
	udma_region_destroy(r);
	memset(keep, CANARY, ro.size);
	assert_int_equal(edu_dma_from_device(&f->edu, 0, stale, 4000, EDU_POLL), 0);
	check_fill(keep, ro.size, CANARY, "a destroyed region's pages");
	munmap(keep, ro.size);
	fix_close(f);
}

/* ---- vfio: taking a function from an idle uio_pci_generic ---- */

/* As an administrator would: driver_override, unbind, drivers_probe. */
static void bind_by_hand(const char *drv)
{
	char path[512], now[64];

	snprintf(path, sizeof(path), "/sys/bus/pci/devices/%s/driver_override", addr);
	sysfs_write(path, drv);
	snprintf(path, sizeof(path), "/sys/bus/pci/devices/%s/driver/unbind", addr);
	if (!access(path, F_OK))
		sysfs_write(path, addr);
	sysfs_write("/sys/bus/pci/drivers_probe", addr);
	pci_driver_of(addr, now, sizeof(now));
	assert_string_equal(now, drv);
}

#define DMA_ENTRY_LIMIT "/sys/module/vfio_iommu_type1/parameters/dma_entry_limit"

/* An open whose attach fails after it bound the function (VFIO may map no
 * region: dma_entry_limit 0) gives the function back to uio_pci_generic. */
static void give_back_on_failure(struct fix *f)
{
	struct udma_region_opts ro = {
		.size = 64 << 10, .page_size = UDMA_PAGE_4K, .numa_node = UDMA_NUMA_ANY, .name = "early"};
	char limit[32] = "", spec[64], now[64];
	struct udma_region *r;
	FILE *l = fopen(DMA_ENTRY_LIMIT, "re");

	assert_non_null(l);
	if (!fgets(limit, sizeof(limit), l))
		limit[0] = 0;
	fclose(l);
	assert_true(limit[0]);
	ok(udma_region_create(f->ctx, &ro, &r), "udma_region_create");
	sysfs_write(DMA_ENTRY_LIMIT, "0");
	spec_of(spec, sizeof(spec));
	f->dev = (void *)1;
	if (udma_dev_open(f->ctx, spec, &f->dev) != -ENOSPC)
		print_error("expected -ENOSPC: %s\n", udma_last_error());
	sysfs_write(DMA_ENTRY_LIMIT, limit);
	printf("# %s with no DMA map allowed: %s\n", spec, udma_last_error());
	assert_null(f->dev);
	assert_non_null(strstr(udma_last_error(), "is back on uio_pci_generic"));
	pci_driver_of(addr, now, sizeof(now));
	assert_string_equal(now, "uio_pci_generic");
	udma_region_destroy(r);
}

/* vfio: a function on uio_pci_generic is taken only when nobody holds its
 * node: refused (nothing moved) while a process does; given back when the
 * open fails after taking it; taken once it is free. */
static void vfio_from_uio(void **state)
{
	struct fix *f = *state;
	char node[64], spec[64], now[64];

	load_modules("uio.list");
	bind_by_hand("uio_pci_generic");
	uio_node_of(node, sizeof(node));
	assert_true(node[0]);
	f->fd = open(node, O_RDWR | O_CLOEXEC);
	assert_true(f->fd >= 0);
	assert_int_equal(flock(f->fd, LOCK_EX | LOCK_NB), 0);
	f->ctx = ctx_new(UDMA_IOVA_VA, 0);
	spec_of(spec, sizeof(spec));
	expect_open_error(f->ctx, spec, EBUSY, "in use (a process holds /dev/uio");
	pci_driver_of(addr, now, sizeof(now));
	assert_string_equal(now, "uio_pci_generic");
	close(f->fd);
	f->fd = -1;
	give_back_on_failure(f);
	fix_attach(f);
	pci_driver_of(addr, now, sizeof(now));
	assert_string_equal(now, "vfio-pci");
	works(f, EDU_IRQ);
	fix_close(f);
}

int main(int argc, char **argv)
{
	const struct CMUnitTest common[] = {
		test(registers),     test(interrupts),	   test(bus_master),	     test(device_offsets),
		test(dma_limits),    test(dma_timeout),	   test(region_before_open), test(pool_2m_poll),
		test(pool_2m_irq),   test(pool_4k_poll),   test(pool_4k_irq),	     test(heap_2m_poll),
		test(heap_2m_irq),   test(heap_4k_poll),   test(heap_4k_irq),	     test(region_2m_poll),
		test(region_2m_irq), test(region_4k_poll), test(region_4k_irq),	     test(errors),
	};
	const struct CMUnitTest uio_only[] = {test(uio_by_node), test(uio_exclusive)};
	const struct CMUnitTest vfio_only[] = {test(vfio_busy), test(iommu_blocks), test(vfio_from_uio)};
	int rc;

	if (argc != 2 || (strcmp(argv[1], "uio") && strcmp(argv[1], "vfio"))) {
		fprintf(stderr, "usage: %s uio|vfio\n", argv[0]);
		return 2;
	}
	vfio = !strcmp(argv[1], "vfio");
	if (!pci_find("UDMA_EDU", pci_is_edu, addr, sizeof(addr))) {
		printf("test_edu: no edu device (PCI %04x:%04x): start QEMU with -device "
		       "edu,dma_mask=0xffffffffffffffff\n",
		       EDU_VENDOR_ID, EDU_DEVICE_ID);
		return 1;
	}
	if (!ensure_hugepages(HUGEPAGES, "test_edu"))
		return 1;
	printf("test_edu: edu at %s through %s\n", addr, argv[1]);
	rc = _cmocka_run_group_tests(vfio ? "edu vfio" : "edu uio", common,
				     sizeof(common) / sizeof(common[0]), NULL, NULL);
	if (vfio)
		rc |= cmocka_run_group_tests_name("edu vfio only", vfio_only, NULL, NULL);
	else
		rc |= cmocka_run_group_tests_name("edu uio only", uio_only, NULL, NULL);
	return rc;
}
