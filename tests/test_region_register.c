/* SPDX-License-Identifier: MIT */
/*
 * udma_region_register: memory the application mapped itself, as a region.
 * Anonymous, shared anonymous, memfd and shmem memory in VA and (as root) PA
 * mode, IOVAs against pagemap, memory events, a simulated device's DMA into
 * it, every refusal, 10,000 register/unregister rounds without leaks, an
 * unprivileged process, a tiny RLIMIT_MEMLOCK, a forked child, and hugetlb
 * memory when 2 MiB hugepages are free (else only 4 KiB pages, said so).
 */
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/syscall.h>
#include <sys/wait.h>
#include <unistd.h>

#include "tests/support/helpers.h"
#include "tests/support/qemu_user.h"
#include "sim/simd_spawn.h"
#include "drivers/simdrv/simdrv.h"

#define PAGE 4096u

enum { CHILD_OK = 0 };

/* A context in mode, or NULL (the test skips) when PA mode needs root. */
/* PA mode where it can run: as root, with a long-term pin (not under qemu-user). */
static enum udma_iova_mode pa_if_root(void)
{
	return geteuid() == 0 && !th_qemu_lacks(TH_EMUL_IO_URING, NULL, 0) ? UDMA_IOVA_PA : UDMA_IOVA_VA;
}

static struct udma_ctx *ctx_in(enum udma_iova_mode mode)
{
	struct udma_ctx_opts o = {.iova_mode = mode, .numa_node = UDMA_NUMA_ANY};
	struct udma_ctx *ctx = NULL;
	int rc;

	char why[256];

	if (mode == UDMA_IOVA_PA && geteuid() != 0) {
		printf("# skip: PA mode needs root\n");
		return NULL;
	}
	if (mode == UDMA_IOVA_PA && th_qemu_lacks(TH_EMUL_IO_URING, why, sizeof(why))) {
		printf("# skip: qemu-user: %s\n", why);
		return NULL;
	}
	rc = udma_ctx_create(&o, &ctx);
	if (rc)
		print_error("udma_ctx_create: %s\n", udma_last_error());
	assert_int_equal(rc, 0);
	return ctx;
}

static void *map_anon(size_t len, int prot, int flags)
{
	void *p = mmap(NULL, len, prot, flags | MAP_ANONYMOUS, -1, 0);

	assert_true(p != MAP_FAILED);
	return p;
}

static void fill(uint8_t *p, size_t len, unsigned seed)
{
	size_t i;

	for (i = 0; i < len; i++)
		p[i] = (uint8_t)(seed * 131 + i * 7 + (i >> 12));
}

static bool intact(const uint8_t *p, size_t len, unsigned seed)
{
	size_t i;

	for (i = 0; i < len; i++)
		if (p[i] != (uint8_t)(seed * 131 + i * 7 + (i >> 12)))
			return false;
	return true;
}

static struct udma_region *reg(struct udma_ctx *ctx, void *addr, size_t len)
{
	struct udma_region *r = NULL;
	int rc = udma_region_register(ctx, addr, len, &r);

	if (rc)
		print_error("udma_region_register(%p, %zu): %s\n", addr, len, udma_last_error());
	assert_int_equal(rc, 0);
	assert_non_null(r);
	return r;
}

/* Every page's IOVA: the VA in VA mode, pagemap's physical address in PA mode. */
static void check_iovas(struct udma_ctx *ctx, const uint8_t *p, size_t len, size_t page_size)
{
	size_t off;

	for (off = 0; off < len; off += page_size) {
		uint64_t want = udma_ctx_iova_mode(ctx) == UDMA_IOVA_VA ? (uint64_t)(uintptr_t)(p + off + 123)
									: th_pagemap_pa(p + off + 123);

		assert_true(want != 0);
		assert_int_equal(udma_iova(ctx, p + off + 123), want);
	}
	assert_int_equal(udma_iova(ctx, p + len), UDMA_BAD_IOVA);
}

/* Register, check the region and its memory, unregister: still mapped, same bytes, unlocked. */
static void register_round(enum udma_iova_mode mode, void *p, size_t len)
{
	struct udma_ctx *ctx = ctx_in(mode);
	struct udma_region *r;

	if (!ctx)
		skip();
	fill(p, len, 3);
	r = reg(ctx, p, len);
	assert_ptr_equal(udma_region_addr(r), p);
	assert_int_equal(udma_region_size(r), len);
	assert_int_equal(udma_region_page_size(r), PAGE);
	assert_int_equal(udma_region_fd(r), -1);
	assert_int_equal(udma_region_numa_node(r), UDMA_NUMA_ANY);
	assert_ptr_equal(udma_region_next(ctx, NULL), r);
	assert_true(th_vma_has_flag(p, "lo"));
	assert_true(intact(p, len, 3)); /* pinning kept the application's data */
	check_iovas(ctx, p, len, PAGE);
	udma_region_destroy(r);
	assert_null(udma_region_next(ctx, NULL));
	assert_int_equal(udma_iova(ctx, p), UDMA_BAD_IOVA);
	assert_false(th_vma_has_flag(p, "lo"));
	assert_true(intact(p, len, 3));
	udma_ctx_destroy(ctx);
	assert_true(intact(p, len, 3)); /* and after the context */
}

static void anon_va(void **state)
{
	size_t len = 64 * PAGE;
	void *p = map_anon(len, PROT_READ | PROT_WRITE, MAP_PRIVATE);

	(void)state;
	register_round(UDMA_IOVA_VA, p, len);
	munmap(p, len);
}

static void anon_pa(void **state)
{
	size_t len = 64 * PAGE;
	void *p;

	(void)state;
	if (geteuid() != 0) {
		printf("# skip: PA mode needs root\n");
		skip();
	}
	th_skip_if_qemu_lacks(TH_EMUL_IO_URING);
	p = map_anon(len, PROT_READ | PROT_WRITE, MAP_PRIVATE);
	register_round(UDMA_IOVA_PA, p, len);
	munmap(p, len);
}

/* Not at a chunk boundary: a piece of a larger mapping, from its middle. */
static void unaligned_start(void **state)
{
	size_t len = 4 << 20;
	uint8_t *p = map_anon(len, PROT_READ | PROT_WRITE, MAP_PRIVATE);
	uint8_t *mid = (uint8_t *)(((uintptr_t)p + (1 << 20)) | (5 * PAGE));

	(void)state;
	register_round(pa_if_root(), mid, 7 * PAGE);
	munmap(p, len);
}

static void shared_anon_memfd_shm(void **state)
{
	size_t len = 16 * PAGE;
	void *p = map_anon(len, PROT_READ | PROT_WRITE, MAP_SHARED);
	char name[64];
	int fd;

	(void)state;
	register_round(UDMA_IOVA_VA, p, len);
	munmap(p, len);
	fd = memfd_create("register-test", MFD_CLOEXEC);
	assert_true(fd >= 0);
	assert_int_equal(ftruncate(fd, (off_t)len), 0);
	p = mmap(NULL, len, PROT_READ | PROT_WRITE, MAP_SHARED, fd, 0);
	assert_true(p != MAP_FAILED);
	close(fd);
	register_round(UDMA_IOVA_VA, p, len);
	munmap(p, len);
	/* A named tmpfs file (POSIX shm), when /dev/shm is there. */
	snprintf(name, sizeof(name), "/udma-register-%d", (int)getpid());
	fd = shm_open(name, O_RDWR | O_CREAT | O_EXCL, 0600);
	if (fd < 0) {
		printf("# shm_open: %s: POSIX shm not checked\n", strerror(errno));
		return;
	}
	shm_unlink(name);
	assert_int_equal(ftruncate(fd, (off_t)len), 0);
	p = mmap(NULL, len, PROT_READ | PROT_WRITE, MAP_SHARED, fd, 0);
	assert_true(p != MAP_FAILED);
	close(fd);
	register_round(UDMA_IOVA_VA, p, len);
	munmap(p, len);
}

static void bad_arguments(void **state)
{
	struct udma_ctx *ctx = ctx_in(UDMA_IOVA_VA);
	struct udma_region *r = (void *)1;
	size_t len = 8 * PAGE;
	uint8_t *p = map_anon(len, PROT_READ | PROT_WRITE, MAP_PRIVATE);

	(void)state;
	th_assert_err(udma_region_register(ctx, p, len, NULL), EINVAL);
	th_assert_err(udma_region_register(NULL, p, len, &r), EINVAL);
	assert_null(r);
	th_assert_err(udma_region_register(ctx, NULL, len, &r), EINVAL);
	th_assert_err(udma_region_register(ctx, p, 0, &r), EINVAL);
	th_assert_err(udma_region_register(ctx, p + 1, PAGE, &r), EINVAL);
	assert_non_null(strstr(udma_last_error(), "multiples of 4 KiB"));
	th_assert_err(udma_region_register(ctx, p, PAGE + 512, &r), EINVAL);
#if UINTPTR_MAX > UINT32_MAX
	th_assert_err(udma_region_register(ctx, (void *)((uintptr_t)1 << 47), PAGE, &r), EINVAL);
#else /* the last page of a 32-bit address space: a region would wrap */
	th_assert_err(udma_region_register(ctx, (void *)(uintptr_t)(0u - PAGE), 2 * PAGE, &r), EINVAL);
#endif
	th_assert_err(udma_region_register(ctx, p, SIZE_MAX & ~(size_t)(PAGE - 1), &r), EINVAL);
	assert_null(r);
	assert_null(udma_region_next(ctx, NULL));
	udma_ctx_destroy(ctx);
	munmap(p, len);
}

/* Holes, no access, read-only, a disk file: refused with the reason, nothing left locked. */
static void refused_memory(void **state)
{
	struct udma_ctx *ctx = ctx_in(UDMA_IOVA_VA);
	struct udma_region *r = NULL;
	size_t len = 8 * PAGE;
	uint8_t *p = map_anon(len + PAGE, PROT_READ | PROT_WRITE, MAP_PRIVATE);
	char path[] = "/var/tmp/udma-register-XXXXXX";
	void *f;
	int fd;

	(void)state;
	/* A hole in the middle, and a range running past the end (into a page unmapped). */
	assert_int_equal(munmap(p + len, PAGE), 0);
	assert_int_equal(munmap(p + 4 * PAGE, PAGE), 0);
	th_assert_err(udma_region_register(ctx, p, len, &r), EINVAL);
	assert_non_null(strstr(udma_last_error(), "not wholly mapped"));
	th_assert_err(udma_region_register(ctx, p + 5 * PAGE, 8 * PAGE, &r), EINVAL);
	assert_false(th_vma_has_flag(p, "lo"));
	assert_true(mmap(p + 4 * PAGE, PAGE, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS | MAP_FIXED,
			 -1, 0) == p + 4 * PAGE);
	/* PROT_NONE and read-only parts. */
	assert_int_equal(mprotect(p + 2 * PAGE, PAGE, PROT_NONE), 0);
	th_assert_err(udma_region_register(ctx, p, len, &r), EFAULT);
	assert_non_null(strstr(udma_last_error(), "PROT_NONE"));
	assert_int_equal(mprotect(p + 2 * PAGE, PAGE, PROT_READ), 0);
	th_assert_err(udma_region_register(ctx, p, len, &r), EFAULT);
	assert_int_equal(mprotect(p + 2 * PAGE, PAGE, PROT_READ | PROT_WRITE), 0);
	assert_false(th_vma_has_flag(p, "lo"));
	assert_null(r);
	munmap(p, len);
	/* A file on a disk file system: page cache, which the kernel will not pin. */
	fd = mkstemp(path);
	assert_true(fd >= 0);
	unlink(path);
	assert_int_equal(ftruncate(fd, (off_t)len), 0);
	f = mmap(NULL, len, PROT_READ | PROT_WRITE, MAP_SHARED, fd, 0);
	assert_true(f != MAP_FAILED);
	close(fd);
	th_assert_err(udma_region_register(ctx, f, len, &r), ENOTSUP);
	assert_non_null(strstr(udma_last_error(), "file-backed"));
	munmap(f, len);
	assert_null(udma_region_next(ctx, NULL));
	udma_ctx_destroy(ctx);
}

/* One region per 2 MiB chunk: a second registration in a chunk, the same
 * memory again, a udma region's memory. The refusal leaves the first
 * registration as it was (still locked and translated). */
static void overlapping_chunks(void **state)
{
	struct udma_ctx *ctx = ctx_in(pa_if_root());
	struct udma_region_opts o = {.size = 64 * PAGE, .page_size = PAGE, .numa_node = UDMA_NUMA_ANY};
	struct udma_region *a, *own, *r = NULL;
	size_t len = 4 << 20;
	uint8_t *p = map_anon(len, PROT_READ | PROT_WRITE, MAP_PRIVATE);
	uint8_t *chunk = (uint8_t *)(((uintptr_t)p + (2 << 20) - 1) & ~(uintptr_t)((2 << 20) - 1));

	(void)state;
	a = reg(ctx, chunk, 4 * PAGE);
	th_assert_err(udma_region_register(ctx, chunk + 8 * PAGE, 4 * PAGE, &r), EEXIST);
	assert_non_null(strstr(udma_last_error(), udma_region_name(a)));
	th_assert_err(udma_region_register(ctx, chunk, 4 * PAGE, &r), EEXIST);
	assert_null(r);
	assert_true(th_vma_has_flag(chunk, "lo"));
	check_iovas(ctx, chunk, 4 * PAGE, PAGE);
	assert_int_equal(udma_region_create(ctx, &o, &own), 0);
	th_assert_err(udma_region_register(ctx, udma_region_addr(own), PAGE, &r), EEXIST);
	udma_region_destroy(own);
	udma_region_destroy(a);
	/* Now free: the neighbour fits. */
	udma_region_destroy(reg(ctx, chunk + 8 * PAGE, 4 * PAGE));
	udma_ctx_destroy(ctx);
	munmap(p, len);
}

/* VA mode: a region attached at another address than its exporter's has the
 * exporter's IOVAs; memory at those addresses cannot be registered beside it. */
static void iovas_of_an_attached_region(void **state)
{
	struct udma_region_opts o = {.size = 16 * PAGE,
				     .page_size = PAGE,
				     .numa_node = UDMA_NUMA_ANY,
				     .flags = UDMA_REGION_SHARED};
	struct udma_ctx *a = ctx_in(UDMA_IOVA_VA), *b = ctx_in(UDMA_IOVA_VA);
	struct udma_region *exp, *att, *r = NULL;
	uint8_t *at;

	(void)state;
	assert_int_equal(udma_region_create(a, &o, &exp), 0);
	at = udma_region_addr(exp);
	if (udma_region_attach(b, udma_region_fd(exp), &att))
		fail_msg("udma_region_attach: %s", udma_last_error());
	/* Its exporter's address is taken here (by the exporter): mapped elsewhere. */
	assert_ptr_not_equal(udma_region_addr(att), at);
	assert_int_equal(udma_iova(b, udma_region_addr(att)), (uint64_t)(uintptr_t)at);
	th_assert_err(udma_region_register(b, at, 16 * PAGE, &r), EADDRINUSE);
	assert_non_null(strstr(udma_last_error(), udma_region_name(att)));
	assert_null(r);
	udma_region_destroy(att);
	udma_region_destroy(reg(b, at, 16 * PAGE)); /* free again */
	udma_region_destroy(exp);
	udma_ctx_destroy(b);
	udma_ctx_destroy(a);
}

/* Memory the application locked itself stays locked after unregistering. */
static void keeps_applications_lock(void **state)
{
	struct udma_ctx *ctx = ctx_in(UDMA_IOVA_VA);
	size_t len = 8 * PAGE;
	uint8_t *p = map_anon(len, PROT_READ | PROT_WRITE, MAP_PRIVATE);

	(void)state;
	/* mlock2 and the raw munlock: sanitizers make mlock and munlock no-ops. */
	assert_int_equal(mlock2(p, len, 0), 0);
	udma_region_destroy(reg(ctx, p, len));
	assert_true(th_vma_has_flag(p, "lo"));
	syscall(SYS_munlock, p, len);
	udma_ctx_destroy(ctx);
	munmap(p, len);
}

struct events {
	struct udma_ctx *ctx;
	int added, removed;
	struct udma_region *last;
	int refuse;
};

static int on_event(void *arg, enum udma_mem_event ev, struct udma_region *r)
{
	struct events *e = arg;

	if (ev == UDMA_MEM_ADDED) {
		e->added++;
		e->last = r;
		/* Translated already. */
		if (udma_iova(e->ctx, udma_region_addr(r)) == UDMA_BAD_IOVA)
			return -EBADMSG;
		return e->refuse;
	}
	e->removed++;
	return 0;
}

static void memory_events(void **state)
{
	struct udma_ctx *ctx = ctx_in(UDMA_IOVA_VA);
	struct events e = {.ctx = ctx};
	struct th_stderr err;
	struct udma_region *r = NULL;
	size_t len = 8 * PAGE;
	uint8_t *p = map_anon(len, PROT_READ | PROT_WRITE, MAP_PRIVATE);

	(void)state;
	assert_int_equal(udma_mem_event_register(ctx, on_event, &e), 0);
	r = reg(ctx, p, len);
	assert_int_equal(e.added, 1);
	assert_ptr_equal(e.last, r);
	udma_region_destroy(r);
	assert_int_equal(e.removed, 1);
	/* Refused by a subscriber: the call fails with its errno, nothing stays locked. */
	e.refuse = -EPERM;
	r = NULL;
	assert_int_equal(udma_region_register(ctx, p, len, &r), -EPERM);
	assert_null(r);
	assert_false(th_vma_has_flag(p, "lo"));
	assert_null(udma_region_next(ctx, NULL));
	e.refuse = 0;
	/* A region registered before subscribing is replayed; the context's end sends REMOVED. */
	assert_int_equal(udma_mem_event_unregister(ctx, on_event, &e), 0);
	r = reg(ctx, p, len);
	e = (struct events){.ctx = ctx};
	assert_int_equal(udma_mem_event_register(ctx, on_event, &e), 0);
	assert_int_equal(e.added, 1);
	assert_ptr_equal(e.last, r);
	th_stderr_start(&err);
	udma_ctx_destroy(ctx);
	assert_non_null(strstr(th_stderr_end(&err), "registered@"));
	assert_int_equal(e.removed, 1);
	assert_false(th_vma_has_flag(p, "lo"));
	assert_true(p[0] == 0); /* still mapped */
	munmap(p, len);
}

static struct simdev_sqe copy_sqe(uint64_t dst, uint64_t src, uint32_t len, uint64_t cookie)
{
	return (struct simdev_sqe){
		.opcode = SIMDEV_OP_COPY, .len = len, .src = src, .dst = dst, .cookie = cookie};
}

/* Submit n and wait for their n completions. */
static void run(struct simdrv_queue *q, const struct simdev_sqe *sqes, unsigned n, struct simdev_cqe *cqes)
{
	unsigned sent = 0, got = 0, waits = 0;

	while (got < n) {
		sent += simdrv_submit(q, sqes + sent, n - sent);
		got += simdrv_reap(q, cqes + got, n - got);
		if (got < n) {
			int rc = simdrv_wait(q->drv, 2000);

			assert_true(rc == 0 || rc == -ETIMEDOUT);
			assert_true(++waits < 100000);
		}
	}
}

/* The device's DMA lands in registered memory: a copy of its first half to
 * its second half, page by page (IOVA-contiguous pieces in PA mode), and a
 * fill; after udma_region_destroy the memory is still mapped, with the bytes. */
static void device_dma(enum udma_iova_mode mode)
{
	struct udma_ctx *ctx = ctx_in(mode);
	struct simdev_sqe sqe[64];
	struct simdev_cqe cqe[64];
	size_t len = 32 * PAGE, half = len / 2, off;
	uint8_t *p = map_anon(len, PROT_READ | PROT_WRITE, MAP_PRIVATE);
	struct udma_region *r;
	struct udma_dev *dev;
	struct simdrv drv;
	unsigned n = 0, i;

	if (!ctx) {
		munmap(p, len);
		skip();
	}
	assert_int_equal(udma_dev_open(ctx, "sim:reg0", &dev), 0);
	assert_int_equal(simdrv_attach(&drv, ctx, dev, false), 0);
	assert_int_equal(simdrv_queue_setup(&drv, 0, SIMDEV_QTYPE_DMA, 64), 0);
	assert_int_equal(simdrv_enable(&drv), 0);
	fill(p, half, 9);
	memset(p + half, 0, half);
	r = reg(ctx, p, len);
	for (off = 0; off < half; n++) {
		size_t a = udma_iova_contig(ctx, p + off, half - off);
		size_t b = udma_iova_contig(ctx, p + half + off, half - off);
		size_t piece = a < b ? a : b;

		assert_true(piece > 0 && n < 63);
		sqe[n] =
			copy_sqe(udma_iova(ctx, p + half + off), udma_iova(ctx, p + off), (uint32_t)piece, n);
		off += piece;
	}
	run(&drv.q[0], sqe, n, cqe);
	for (i = 0; i < n; i++)
		assert_int_equal(SIMDEV_CQE_STATUS(cqe[i].status), SIMDEV_ST_OK);
	assert_true(intact(p + half, half, 9));
	/* A fill of the last page, then the device's IOVA for it is gone with the region. */
	sqe[0] = (struct simdev_sqe){.opcode = SIMDEV_OP_FILL,
				     .len = PAGE,
				     .src = 0x5a,
				     .dst = udma_iova(ctx, p + len - PAGE),
				     .cookie = 7};
	run(&drv.q[0], sqe, 1, cqe);
	assert_int_equal(SIMDEV_CQE_STATUS(cqe[0].status), SIMDEV_ST_OK);
	udma_region_destroy(r);
	assert_true(intact(p, half, 9));
	assert_true(intact(p + half, half - PAGE, 9));
	for (off = len - PAGE; off < len; off++)
		assert_int_equal(p[off], 0x5a);
	assert_int_equal(simdrv_detach(&drv), 0);
	udma_dev_close(dev);
	udma_ctx_destroy(ctx);
	munmap(p, len);
}

static void device_dma_va(void **state)
{
	(void)state;
	device_dma(UDMA_IOVA_VA);
}

static void device_dma_pa(void **state)
{
	(void)state;
	device_dma(UDMA_IOVA_PA);
}

/* An out-of-process device can only map memory with a file udma owns: refused, named. */
static void device_process_refuses(void **state)
{
	struct udma_ctx *ctx = ctx_in(UDMA_IOVA_VA);
	struct udma_region *r = NULL;
	struct simd_proc proc = {.pid = -1};
	size_t len = 8 * PAGE;
	uint8_t *p = map_anon(len, PROT_READ | PROT_WRITE, MAP_PRIVATE);
	struct udma_dev *dev;
	char spec[256];

	(void)state;
	assert_int_equal(simd_spawn(&proc, NULL, NULL), 0);
	snprintf(spec, sizeof(spec), "sim:reg1@%s", proc.sock);
	assert_int_equal(udma_dev_open(ctx, spec, &dev), 0);
	th_assert_err(udma_region_register(ctx, p, len, &r), ENOTSUP);
	assert_non_null(strstr(udma_last_error(), "in-process"));
	assert_false(th_vma_has_flag(p, "lo"));
	udma_dev_close(dev);
	assert_int_equal(simd_reap(&proc, 2000), 0);
	/* Registered first: such a device cannot be opened then. */
	r = reg(ctx, p, len);
	assert_int_equal(simd_spawn(&proc, NULL, NULL), 0);
	snprintf(spec, sizeof(spec), "sim:reg2@%s", proc.sock);
	dev = NULL;
	th_assert_err(udma_dev_open(ctx, spec, &dev), ENOTSUP);
	assert_non_null(strstr(udma_last_error(), udma_region_name(r)));
	assert_null(dev);
	udma_region_destroy(r);
	udma_ctx_destroy(ctx);
	assert_int_equal(simd_reap(&proc, 2000), 0);
	munmap(p, len);
}

/* 10,000 rounds: no mapping, fd, locked or pinned memory left behind. */
static void repeat(enum udma_iova_mode mode)
{
	static struct th_snapshot before;
	struct udma_ctx *ctx = ctx_in(mode);
	size_t len = 16 * PAGE;
	uint8_t *p = map_anon(len, PROT_READ | PROT_WRITE, MAP_PRIVATE);
	unsigned i;

	if (!ctx) {
		munmap(p, len);
		skip();
	}
	fill(p, len, 5);
	th_snapshot_take(&before);
	for (i = 0; i < 10000; i++)
		udma_region_destroy(reg(ctx, p, len));
	assert_int_equal(th_snapshot_compare(&before, "10,000 register/unregister rounds"), 0);
	assert_true(intact(p, len, 5));
	udma_ctx_destroy(ctx);
	munmap(p, len);
}

static void repeat_va(void **state)
{
	(void)state;
	repeat(UDMA_IOVA_VA);
}

static void repeat_pa(void **state)
{
	(void)state;
	repeat(UDMA_IOVA_PA);
}

/* As nobody: VA mode works; PA mode gives a clear error or works (PFNs need CAP_SYS_ADMIN). */
static int unprivileged_child(void *arg)
{
	struct udma_ctx_opts o = {.iova_mode = UDMA_IOVA_VA, .numa_node = UDMA_NUMA_ANY};
	size_t len = 8 * PAGE;
	uint8_t *p = mmap(NULL, len, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
	struct udma_ctx *ctx;
	struct udma_region *r;
	int rc;

	(void)arg;
	if (p == MAP_FAILED || udma_ctx_create(&o, &ctx))
		return 2;
	if (udma_region_register(ctx, p, len, &r)) {
		fprintf(stderr, "VA mode as nobody: %s\n", udma_last_error());
		return 3;
	}
	if (udma_iova(ctx, p + 5) != (uint64_t)(uintptr_t)(p + 5))
		return 4;
	udma_region_destroy(r);
	udma_ctx_destroy(ctx);
	o.iova_mode = UDMA_IOVA_PA;
	rc = udma_ctx_create(&o, &ctx);
	if (rc) {
		printf("# unprivileged PA mode: udma_ctx_create refuses: %s\n", udma_last_error());
		fflush(stdout);
		return udma_last_error()[0] ? CHILD_OK : 5;
	}
	rc = udma_region_register(ctx, p, len, &r);
	if (rc) {
		printf("# unprivileged PA mode: udma_region_register refuses (%d): %s\n", rc,
		       udma_last_error());
		if (!udma_last_error()[0] || th_vma_has_flag(p, "lo"))
			return 6;
	} else {
		printf("# unprivileged PA mode: registered\n");
		if (udma_iova(ctx, p) == UDMA_BAD_IOVA)
			return 7;
		udma_region_destroy(r);
	}
	udma_ctx_destroy(ctx);
	munmap(p, len);
	fflush(stdout); /* the child leaves by _exit */
	return CHILD_OK;
}

static void unprivileged(void **state)
{
	(void)state;
	if (geteuid() != 0)
		assert_int_equal(unprivileged_child(NULL), CHILD_OK);
	else
		assert_int_equal(th_run_child(unprivileged_child, NULL, 1, (size_t)-1), CHILD_OK);
}

/* RLIMIT_MEMLOCK of 64 KiB: 32 KiB registers, 1 MiB is refused with the limit named. */
static int memlock_child(void *arg)
{
	struct udma_ctx_opts o = {.iova_mode = UDMA_IOVA_VA, .numa_node = UDMA_NUMA_ANY};
	size_t len = 1 << 20;
	uint8_t *p = mmap(NULL, len, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
	struct udma_ctx *ctx;
	struct udma_region *r;
	int rc;

	(void)arg;
	if (p == MAP_FAILED || udma_ctx_create(&o, &ctx))
		return 2;
	if (udma_region_register(ctx, p, 32 << 10, &r)) {
		fprintf(stderr, "32 KiB: %s\n", udma_last_error());
		return 3;
	}
	udma_region_destroy(r);
	rc = udma_region_register(ctx, p, len, &r);
	if (rc != -ENOMEM || !strstr(udma_last_error(), "RLIMIT_MEMLOCK is 64 KiB") ||
	    !strstr(udma_last_error(), "ulimit -l")) {
		fprintf(stderr, "1 MiB: expected -ENOMEM naming the limit, got %d: %s\n", rc,
			udma_last_error());
		return 4;
	}
	if (th_vma_has_flag(p, "lo"))
		return 5;
	udma_ctx_destroy(ctx);
	munmap(p, len);
	return CHILD_OK;
}

static void memlock_tiny(void **state)
{
	(void)state;
	assert_int_equal(th_run_child(memlock_child, NULL, 1, 64 << 10), CHILD_OK);
}

/* A forked child's udma_ctx_destroy leaves the parent's memory mapped,
 * locked, pinned and translated; the child cannot register on the parent's
 * context, and keeps its own copy. While the child lives the parent writes
 * every page: in PA mode its pages stay where udma_iova says (the kernel
 * copied the pinned pages for the child at fork, no copy-on-write moves
 * the parent's). */
static void fork_child_leaves_it(void **state)
{
	struct udma_ctx *ctx = ctx_in(pa_if_root());
	static struct th_snapshot before;
	size_t len = 16 * PAGE;
	uint8_t *p = map_anon(len, PROT_READ | PROT_WRITE, MAP_PRIVATE);
	struct udma_region *r;
	int status, go[2];
	uint64_t iova;
	pid_t pid;
	char c = 0;

	(void)state;
	fill(p, len, 11);
	r = reg(ctx, p, len);
	iova = udma_iova(ctx, p + PAGE);
	assert_int_equal(pipe2(go, O_CLOEXEC), 0);
	th_snapshot_take(&before);
	pid = fork();
	assert_true(pid >= 0);
	if (pid == 0) {
		struct udma_region *mine = NULL;
		int bad = udma_region_register(ctx, p, len, &mine) != -ECHILD;

		udma_ctx_destroy(ctx);
		bad |= (read(go[0], &c, 1) != 1) << 1; /* the parent has written its copy */
		bad |= !intact(p, len, 11) << 2;
		_exit(bad);
	}
	fill(p, len, 12);
	if (udma_ctx_iova_mode(ctx) == UDMA_IOVA_PA)
		check_iovas(ctx, p, len, PAGE);
	assert_int_equal(write(go[1], &c, 1), 1);
	assert_int_equal(waitpid(pid, &status, 0), pid);
	assert_true(WIFEXITED(status));
	assert_int_equal(WEXITSTATUS(status), 0);
	assert_int_equal(th_snapshot_compare(&before, "the parent, after its child's udma_ctx_destroy"), 0);
	close(go[0]);
	close(go[1]);
	assert_true(th_vma_has_flag(p, "lo"));
	assert_true(intact(p, len, 12));
	assert_int_equal(udma_iova(ctx, p + PAGE), iova);
	check_iovas(ctx, p, len, PAGE);
	udma_region_destroy(r);
	udma_ctx_destroy(ctx);
	munmap(p, len);
}

/* 2 MiB hugetlb memory, when such pages are free: its page size, alignment, IOVAs. */
static void hugetlb(void **state)
{
	long nr = 0, avail = udma_hugepage_available(UDMA_PAGE_2M, UDMA_NUMA_ANY);
	size_t len = 2 * UDMA_PAGE_2M;
	struct udma_region *r = NULL;
	struct udma_ctx *ctx;
	FILE *f = fopen("/proc/sys/vm/nr_hugepages", "re");
	uint8_t *p;
	int i, fd;

	(void)state;
	if (f) {
		if (fscanf(f, "%ld", &nr) != 1)
			nr = 0;
		fclose(f);
	}
	if (avail < 2) {
		printf("# skip: %ld free 2 MiB hugepages (nr_hugepages %ld; this test reserves none): "
		       "only 4 KiB pages were tested\n",
		       avail < 0 ? 0 : avail, nr);
		skip();
	}
	p = mmap(NULL, len, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS | MAP_HUGETLB, -1, 0);
	if (p == MAP_FAILED) {
		printf("# skip: mmap(MAP_HUGETLB) of 4 MiB: %s: only 4 KiB pages were tested\n",
		       strerror(errno));
		skip();
	}
	fill(p, len, 13);
	for (i = 0; i < 2; i++) {
		ctx = ctx_in(i == 0 ? UDMA_IOVA_VA : UDMA_IOVA_PA);
		if (!ctx)
			break;
		th_assert_err(udma_region_register(ctx, p, PAGE, &r), EINVAL);
		assert_non_null(strstr(udma_last_error(), "2 MiB pages"));
		th_assert_err(udma_region_register(ctx, p + PAGE, UDMA_PAGE_2M, &r), EINVAL);
		r = reg(ctx, p, len);
		assert_int_equal(udma_region_page_size(r), UDMA_PAGE_2M);
		assert_true(intact(p, len, 13));
		check_iovas(ctx, p, len, UDMA_PAGE_2M);
		udma_region_destroy(r);
		udma_ctx_destroy(ctx);
		assert_true(intact(p, len, 13));
	}
	printf("# hugetlb: 2 MiB pages registered in VA%s mode\n", i == 2 ? " and PA" : "");
	munmap(p, len);
	/* A hugetlb memfd, shared. */
	fd = memfd_create("register-huge", MFD_CLOEXEC | MFD_HUGETLB);
	assert_true(fd >= 0);
	assert_int_equal(ftruncate(fd, UDMA_PAGE_2M), 0);
	p = mmap(NULL, UDMA_PAGE_2M, PROT_READ | PROT_WRITE, MAP_SHARED, fd, 0);
	close(fd);
	if (p == MAP_FAILED) {
		printf("# hugetlb memfd: mmap: %s (another process took the pages): not tested\n",
		       strerror(errno));
		return;
	}
	ctx = ctx_in(UDMA_IOVA_VA);
	if (udma_region_register(ctx, p, UDMA_PAGE_2M, &r) == -ENOMEM) {
		printf("# hugetlb memfd: %s (another process took the pages)\n", udma_last_error());
	} else {
		assert_non_null(r);
		assert_int_equal(udma_region_page_size(r), UDMA_PAGE_2M);
		udma_region_destroy(r);
		r = NULL;
	}
	udma_ctx_destroy(ctx);
	munmap(p, UDMA_PAGE_2M);
}

/* Every test here registers memory, which reads /proc/self/smaps. */
static void smaps_missing(void **state)
{
	(void)state;
	th_skip_if_qemu_lacks(TH_EMUL_SMAPS);
}

int main(void)
{
	struct CMUnitTest tests[] = {
		th_test(anon_va),
		th_test(anon_pa),
		th_test(unaligned_start),
		th_test(shared_anon_memfd_shm),
		th_test(bad_arguments),
		th_test(refused_memory),
		th_test(overlapping_chunks),
		th_test(iovas_of_an_attached_region),
		th_test(keeps_applications_lock),
		th_test(memory_events),
		th_test(device_dma_va),
		th_test(device_dma_pa),
		th_test(device_process_refuses),
		th_test(repeat_va),
		th_test(repeat_pa),
		th_test(unprivileged),
		th_test(memlock_tiny),
		th_test(fork_child_leaves_it),
		th_test(hugetlb),
	};

	size_t i;

	/* Under qemu-user for a 32-bit program every test skips, by its name. */
	for (i = 0; i < sizeof(tests) / sizeof(tests[0]) && th_qemu_lacks(TH_EMUL_SMAPS, NULL, 0); i++)
		tests[i].test_func = smaps_missing;
	th_threads_warm_up(TH_MAX_THREADS); /* the sim device's thread */
	return cmocka_run_group_tests_name("region_register", tests, NULL, NULL);
}
