/* SPDX-License-Identifier: MIT */
/*
 * `udma bench pin`: every way a program gets memory, and pinned memory for
 * DMA, timed side by side at each size, with the state each leaves behind.
 * From the program break (brk/sbrk) and malloc, through mmap with first
 * touch, MAP_POPULATE, the mlock family, THP and hugetlb, to a long-term pin
 * (FOLL_LONGTERM through io_uring) and udma's own regions; then what
 * translating such memory costs. A method that cannot run here says why in
 * its row's `skipped`; one that fails, in `error`; the run goes on.
 */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <fcntl.h>
#include <sys/mman.h>
#include <sys/wait.h>
#include <unistd.h>

#include <udma/udma.h>

#include "tools/bench/pin.h"
#include "tools/dev_spec.h"
#include "lib/os/os.h"

#ifndef MAP_HUGE_SHIFT
#define MAP_HUGE_SHIFT 26
#endif
#ifndef MADV_POPULATE_WRITE
#define MADV_POPULATE_WRITE 23
#endif
#ifndef MLOCK_ONFAULT
#define MLOCK_ONFAULT 1
#endif
#ifndef MFD_HUGETLB
#define MFD_HUGETLB 4u
#endif

static int fail(struct pin_run *r, int err, const char *what)
{
	snprintf(r->why, sizeof(r->why), "%s: %s", what, udma__vm_strerror(err));
	return -err;
}

static int fail_udma(struct pin_run *r, int rc)
{
	snprintf(r->why, sizeof(r->why), "%s", udma_last_error());
	return rc < 0 ? rc : -EIO;
}

static void touch(void *addr, size_t len)
{
	volatile char *p = addr;
	size_t i;

	for (i = 0; i < len; i += UDMA_PAGE_4K)
		p[i] = 1;
}

static int huge_flags(size_t page_size)
{
	return page_size == UDMA_PAGE_4K ? 0 : MAP_HUGETLB | (int)(udma__log2(page_size) << MAP_HUGE_SHIFT);
}

/* mmap of r->len at r->page_size, anonymous and private, with extra flags. */
static int map_anon(struct pin_run *r, int flags, const char *what)
{
	void *p = mmap(NULL, r->len, PROT_READ | PROT_WRITE,
		       MAP_PRIVATE | MAP_ANONYMOUS | huge_flags(r->page_size) | flags, -1, 0);

	if (p == MAP_FAILED)
		return fail(r, errno, what);
	r->addr = r->base = p;
	r->base_len = r->len;
	return 0;
}

static void unmap(struct pin_bench *b, struct pin_run *r)
{
	(void)b;
	if (r->base)
		munmap(r->base, r->base_len);
	if (r->fd >= 0)
		close(r->fd);
	r->base = r->addr = NULL;
	r->fd = -1;
}

/* ---- the heap: brk and malloc ------------------------------------------ */

static int get_brk(struct pin_bench *b, struct pin_run *r)
{
	uint64_t t0 = bench_now_ns();
	char *cur = sbrk(0);

	(void)b;
	r->pad = (UDMA_PAGE_4K - (uintptr_t)cur % UDMA_PAGE_4K) % UDMA_PAGE_4K;
	if (sbrk((intptr_t)(r->pad + r->len)) == (void *)-1)
		return fail(r, errno, "sbrk could not grow the break");
	r->addr = cur + r->pad;
	touch(r->addr, r->len);
	r->ns = (double)(bench_now_ns() - t0);
	return 0;
}

static void put_brk(struct pin_bench *b, struct pin_run *r)
{
	(void)b;
	/* Only if nothing grew the heap meanwhile: that memory would be cut off. */
	if (r->addr && sbrk(0) == (char *)r->addr + r->len)
		sbrk(-(intptr_t)(r->pad + r->len));
	r->addr = NULL;
}

/* What a child's malloc reports through the pipe. */
struct malloc_report {
	double ns;
	int err; /* 0, or ENOMEM */
	bool from_heap, have_state;
	struct pin_state st;
};

/* One timed malloc + touch in a forked child, so that every run starts from
 * the same heap (the bench's, as it was at fork): a first request of that
 * size, where glibc's M_MMAP_THRESHOLD decides heap or mmap, instead of a
 * chunk the previous run freed. The child reads the state of its chunk too:
 * the bench's own malloc and free would move glibc's threshold for the
 * next runs (it rises to the size of a freed mmap'd chunk). */
static int malloc_in_child(size_t len, struct malloc_report *out)
{
	int fds[2], status, err;
	ssize_t got;
	pid_t pid;

	if (pipe2(fds, O_CLOEXEC) < 0)
		return -errno;
	pid = fork();
	if (pid < 0) {
		err = errno;
		close(fds[0]);
		close(fds[1]);
		return -err;
	}
	if (pid == 0) {
		struct malloc_report rep = {0};
		uint64_t t0;
		char *p;

		/* glibc's own bookkeeping (the arena) copied on write before the
		 * clock starts: the time is the request's, not the fork's */
		free(malloc(1));
		t0 = bench_now_ns();
		p = malloc(len);

		if (p) {
			touch(p, len);
			rep.ns = (double)(bench_now_ns() - t0);
			/* The heap ends at the break; glibc's mmap'd chunks lie elsewhere. */
			rep.from_heap = p + len <= (char *)sbrk(0);
			rep.have_state = !pin_state_reopen() && !pin_state_read(p, len, &rep.st);
		} else {
			rep.err = ENOMEM;
		}
		_exit(write(fds[1], &rep, sizeof(rep)) == (ssize_t)sizeof(rep) ? 0 : 1);
	}
	close(fds[1]);
	do
		got = read(fds[0], out, sizeof(*out));
	while (got < 0 && errno == EINTR);
	err = got < 0 ? errno : 0;
	close(fds[0]);
	while (waitpid(pid, &status, 0) < 0 && errno == EINTR)
		;
	if (got != (ssize_t)sizeof(*out))
		return -(err ? err : EIO);
	return 0;
}

static int get_malloc(struct pin_bench *b, struct pin_run *r)
{
	struct malloc_report rep;
	int rc = malloc_in_child(r->len, &rep);

	(void)b;
	if (rc)
		return fail(r, -rc, "the forked child timing malloc failed");
	if (rep.err)
		return fail(r, rep.err, "malloc failed");
	r->ns = rep.ns;
	r->from_heap = rep.from_heap;
	r->have_state = rep.have_state;
	r->st = rep.st;
	return 0;
}

/* ---- mmap, populating, locking ----------------------------------------- */

static int get_mmap_touch(struct pin_bench *b, struct pin_run *r)
{
	uint64_t t0 = bench_now_ns();
	int rc = map_anon(r, 0, "mmap failed");

	(void)b;
	if (rc)
		return rc;
	touch(r->addr, r->len);
	r->ns = (double)(bench_now_ns() - t0);
	return 0;
}

static int get_mmap_populate(struct pin_bench *b, struct pin_run *r)
{
	uint64_t t0 = bench_now_ns();
	int rc = map_anon(r, MAP_POPULATE, "mmap MAP_POPULATE failed");

	(void)b;
	r->ns = (double)(bench_now_ns() - t0);
	return rc;
}

static int get_map_locked(struct pin_bench *b, struct pin_run *r)
{
	uint64_t t0 = bench_now_ns();
	int rc = map_anon(r, MAP_LOCKED | MAP_POPULATE, "mmap MAP_LOCKED failed");

	(void)b;
	r->ns = (double)(bench_now_ns() - t0);
	return rc;
}

static int get_mlock(struct pin_bench *b, struct pin_run *r)
{
	uint64_t t0 = bench_now_ns();
	int rc = map_anon(r, 0, "mmap failed");

	(void)b;
	if (rc)
		return rc;
	if (mlock(r->addr, r->len) < 0) {
		rc = errno;
		udma__memlock_explain(rc, r->len);
		return fail_udma(r, -rc);
	}
	r->ns = (double)(bench_now_ns() - t0);
	return 0;
}

static int get_mlock2_onfault(struct pin_bench *b, struct pin_run *r)
{
	uint64_t t0 = bench_now_ns();
	int rc = map_anon(r, 0, "mmap failed");

	(void)b;
	if (rc)
		return rc;
	if (mlock2(r->addr, r->len, MLOCK_ONFAULT) < 0) {
		rc = errno;
		udma__memlock_explain(rc, r->len);
		return fail_udma(r, -rc);
	}
	touch(r->addr, r->len);
	r->ns = (double)(bench_now_ns() - t0);
	return 0;
}

static int get_madv_populate(struct pin_bench *b, struct pin_run *r)
{
	uint64_t t0 = bench_now_ns();
	int rc = map_anon(r, 0, "mmap failed");

	(void)b;
	if (rc)
		return rc;
	if (madvise(r->addr, r->len, MADV_POPULATE_WRITE) < 0)
		return fail(r, errno,
			    errno == EINVAL ? "madvise(MADV_POPULATE_WRITE) refused (needs Linux 5.14)"
					    : "madvise(MADV_POPULATE_WRITE) failed");
	r->ns = (double)(bench_now_ns() - t0);
	return 0;
}

static int get_thp(struct pin_bench *b, struct pin_run *r)
{
	uint64_t t0 = bench_now_ns();
	size_t ps = UDMA_PAGE_2M;
	char *p = mmap(NULL, r->len + ps, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);

	(void)b;
	if (p == MAP_FAILED)
		return fail(r, errno, "mmap failed");
	/* Huge pages need 2 MiB-aligned extents: map more, use the aligned part. */
	r->base = p;
	r->base_len = r->len + ps;
	r->addr = p + (ps - (uintptr_t)p % ps) % ps;
	if (madvise(r->addr, r->len, MADV_HUGEPAGE) < 0)
		return fail(r, errno, "madvise(MADV_HUGEPAGE) failed (no THP in this kernel?)");
	touch(r->addr, r->len);
	r->ns = (double)(bench_now_ns() - t0);
	return 0;
}

static int get_memfd_hugetlb(struct pin_bench *b, struct pin_run *r)
{
	uint64_t t0 = bench_now_ns();
	void *p;

	(void)b;
	r->fd = memfd_create("udma-bench-pin",
			     MFD_CLOEXEC | MFD_HUGETLB | (udma__log2(r->page_size) << MAP_HUGE_SHIFT));
	if (r->fd < 0)
		return fail(r, errno, "memfd_create(MFD_HUGETLB) failed");
	if (ftruncate(r->fd, (off_t)r->len) < 0)
		return fail(r, errno, "ftruncate of the hugetlb memfd failed");
	p = mmap(NULL, r->len, PROT_READ | PROT_WRITE, MAP_SHARED | MAP_POPULATE, r->fd, 0);
	if (p == MAP_FAILED)
		return fail(r, errno, "mmap of the hugetlb memfd failed");
	r->addr = r->base = p;
	r->base_len = r->len;
	r->ns = (double)(bench_now_ns() - t0);
	return 0;
}

/* ---- long-term pins ---------------------------------------------------- */

static int get_longterm(struct pin_bench *b, struct pin_run *r)
{
	uint64_t t0 = bench_now_ns(), t1;
	int rc = map_anon(r, MAP_POPULATE, "mmap MAP_POPULATE failed");

	(void)b;
	if (rc)
		return rc;
	/* As DPDK and udma do with DMA memory: a forked child would otherwise
	 * need a copy of every pinned page (a hugepage it may not get). */
	if (madvise(r->addr, r->len, MADV_DONTFORK) < 0)
		return fail(r, errno, "madvise(MADV_DONTFORK) failed");
	t1 = bench_now_ns();
	rc = udma__longterm_pin(r->addr, r->len);
	if (rc < 0)
		return fail_udma(r, rc);
	r->fd = rc;
	r->ns = (double)(bench_now_ns() - t0);
	r->extra_ns = (double)(bench_now_ns() - t1);
	return 0;
}

static void put_longterm(struct pin_bench *b, struct pin_run *r)
{
	(void)b;
	udma__longterm_unpin(r->fd);
	r->fd = -1;
	unmap(b, r);
}

/* ---- udma -------------------------------------------------------------- */

static int ctx_ready(struct pin_bench *b, struct pin_run *r)
{
	if (!b->ctx && !b->ctx_err) {
		b->ctx_err = udma_ctx_create(NULL, &b->ctx);
		if (b->ctx_err)
			snprintf(b->ctx_why, sizeof(b->ctx_why), "no udma context: %s", udma_last_error());
	}
	if (b->ctx_err)
		snprintf(r->why, sizeof(r->why), "%s", b->ctx_why);
	return b->ctx_err;
}

static int region_create(struct udma_ctx *ctx, struct pin_run *r)
{
	struct udma_region_opts o = {
		.size = r->len, .page_size = r->page_size, .numa_node = UDMA_NUMA_ANY, .name = "bench-pin"};
	int rc = udma_region_create(ctx, &o, &r->region);

	if (rc)
		return fail_udma(r, rc);
	r->addr = udma_region_addr(r->region);
	return 0;
}

static int get_udma_region(struct pin_bench *b, struct pin_run *r)
{
	uint64_t t0;
	int rc = ctx_ready(b, r);

	if (rc)
		return rc;
	t0 = bench_now_ns();
	rc = region_create(b->ctx, r);
	r->ns = (double)(bench_now_ns() - t0);
	return rc;
}

static void put_region(struct pin_bench *b, struct pin_run *r)
{
	(void)b;
	udma_region_destroy(r->region);
	r->region = NULL;
	r->addr = NULL;
}

static int get_vfio(struct pin_bench *b, struct pin_run *r)
{
	uint64_t t0;
	int rc;

	if (!b->dev && !b->dev_err) {
		struct udma_ctx_opts co = {.numa_node = UDMA_NUMA_ANY};

		dev_spec_ctx_opts(b->a->device, &co);
		b->dev_err = udma_ctx_create(&co, &b->dev_ctx);
		if (!b->dev_err)
			b->dev_err = udma_dev_open(b->dev_ctx, b->a->device, &b->dev);
		if (b->dev_err && strstr(udma_last_error(), b->a->device))
			snprintf(b->dev_why, sizeof(b->dev_why), "%s", udma_last_error());
		else if (b->dev_err)
			snprintf(b->dev_why, sizeof(b->dev_why), "%s: %s", b->a->device, udma_last_error());
	}
	if (b->dev_err) {
		snprintf(r->why, sizeof(r->why), "%s", b->dev_why);
		return b->dev_err;
	}
	/* The device layer maps every new region for DMA (VFIO_IOMMU_MAP_DMA). */
	t0 = bench_now_ns();
	rc = region_create(b->dev_ctx, r);
	r->ns = (double)(bench_now_ns() - t0);
	return rc;
}

/* ---- translation ------------------------------------------------------- */

static int get_pagemap_per_page(struct pin_bench *b, struct pin_run *r)
{
	size_t i;
	volatile uint64_t sink = 0;
	uint64_t t0, e;
	int rc = map_anon(r, MAP_POPULATE, "mmap MAP_POPULATE failed");

	if (rc)
		return rc;
	t0 = bench_now_ns();
	/* What ixy and DPDK's rte_mem_virt2phy do: one 8-byte read per page. */
	for (i = 0; i < r->len / r->page_size; i++) {
		uintptr_t va = (uintptr_t)r->addr + i * r->page_size;

		if (pread(b->pagemap_fd, &e, sizeof(e), (off_t)(va / UDMA_PAGE_4K * sizeof(e))) != sizeof(e))
			return fail(r, errno ? errno : EIO, "reading /proc/self/pagemap failed");
		sink += e & UDMA_PM_PFN_MASK;
	}
	r->ns = (double)(bench_now_ns() - t0);
	(void)sink;
	return 0;
}

static int get_pagemap_bulk(struct pin_bench *b, struct pin_run *r)
{
	uint64_t t0;
	int rc = map_anon(r, MAP_POPULATE, "mmap MAP_POPULATE failed");

	if (rc)
		return rc;
	t0 = bench_now_ns();
	rc = udma__pagemap_read(b->pagemap_fd, r->addr, r->page_size, r->len / r->page_size, b->entries);
	r->ns = (double)(bench_now_ns() - t0);
	return rc ? fail_udma(r, rc) : 0;
}

static int get_iova_lookup(struct pin_bench *b, struct pin_run *r)
{
	volatile uint64_t sink = 0;
	uint64_t t0;
	size_t i;
	int rc = ctx_ready(b, r);

	if (rc || (rc = region_create(b->ctx, r)))
		return rc;
	t0 = bench_now_ns();
	for (i = 0; i < r->len; i += r->page_size)
		sink += udma_iova(b->ctx, (char *)r->addr + i);
	r->ns = (double)(bench_now_ns() - t0);
	(void)sink;
	return 0;
}

#define K4 UDMA_PAGE_4K
#define M2 UDMA_PAGE_2M
#define G1 UDMA_PAGE_1G
const struct pin_method pin_methods[] = {
	{"brk_sbrk", K4, 0, get_brk, put_brk, NULL},
	{"malloc", K4, 0, get_malloc, unmap, NULL},
	{"mmap_touch", K4, 0, get_mmap_touch, unmap, NULL},
	{"mmap_populate", K4, 0, get_mmap_populate, unmap, NULL},
	{"madv_populate_write", K4, 0, get_madv_populate, unmap, NULL},
	{"mmap_map_locked_mlock", K4, NEED_MEMLOCK, get_map_locked, unmap, NULL},
	{"mmap_mlock", K4, NEED_MEMLOCK, get_mlock, unmap, NULL},
	{"mlock2_onfault_touch", K4, NEED_MEMLOCK, get_mlock2_onfault, unmap, NULL},
	{"thp_madv_hugepage", M2, 0, get_thp, unmap, NULL},
	{"hugetlb_mmap_2M", M2, NEED_HUGE, get_mmap_populate, unmap, NULL},
	{"hugetlb_mmap_1G", G1, NEED_HUGE, get_mmap_populate, unmap, NULL},
	{"memfd_hugetlb_2M", M2, NEED_HUGE, get_memfd_hugetlb, unmap, NULL},
	{"longterm_pin_io_uring", K4, NEED_MEMLOCK | NEED_LONGTERM, get_longterm, put_longterm, "pin_ns"},
	{"longterm_pin_io_uring_hugetlb_2M", M2, NEED_HUGE | NEED_MEMLOCK | NEED_LONGTERM, get_longterm,
	 put_longterm, "pin_ns"},
	{"udma_region_4K", K4, NEED_CTX, get_udma_region, put_region, NULL},
	{"udma_region_2M", M2, NEED_CTX | NEED_HUGE, get_udma_region, put_region, NULL},
	{"udma_region_1G", G1, NEED_CTX | NEED_HUGE, get_udma_region, put_region, NULL},
	{"udma_region_vfio_map_dma", 0, NEED_DEVICE, get_vfio, put_region, NULL},
	{"pagemap_per_page", 0, NEED_ROOT | TRANSLATE, get_pagemap_per_page, unmap, NULL},
	{"pagemap_bulk", 0, NEED_ROOT | TRANSLATE, get_pagemap_bulk, unmap, NULL},
	{"udma_iova_lookup", 0, NEED_CTX | TRANSLATE, get_iova_lookup, put_region, NULL},
};
const size_t pin_nmethods = sizeof(pin_methods) / sizeof(pin_methods[0]);
