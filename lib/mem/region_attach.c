/* SPDX-License-Identifier: MIT */
/*
 * udma_region_attach: another process's SHARED region, mapped here. The file
 * says what it is: its memfd name (mem.h) gives the exporter's IOVA mode and,
 * in VA mode, its IOVA; its seals say it can no longer shrink under this
 * mapping. Everything else (pages, their physical addresses) is read from the
 * mapping itself, as for a region made here.
 */
#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <linux/magic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <sys/vfs.h>
#include <unistd.h>

#include "lib/mem/region_internal.h"

#define MEMFD_PREFIX "/memfd:udma:"

/* What the file says of itself. */
struct shared_file {
	char name[48];
	bool va_mode;
	uint64_t iova; /* VA mode: the exporter's IOVA of its first byte */
	size_t size, page_size;
};

static int not_ours(int fd, const char *what, const char *why)
{
	return udma__err(ENOTSUP,
			 "udma_region_attach: fd %d is %s, %s (pass the udma_region_fd() of a "
			 "UDMA_REGION_SHARED region, or a udma_pool_fd())",
			 fd, what, why);
}

/* The memfd's name: "udma:NAME@pa" or "udma:NAME@va:HEX" (mem.h). */
static int parse_name(int fd, char *target, struct shared_file *f)
{
	static const char deleted[] = " (deleted)";
	size_t n = strlen(target), k = sizeof(deleted) - 1;
	char *tag, *end;

	if (n > k && !strcmp(target + n - k, deleted))
		target[n - k] = '\0';
	if (strncmp(target, MEMFD_PREFIX, sizeof(MEMFD_PREFIX) - 1))
		return not_ours(fd, target, "not the file of a udma region");
	tag = strrchr(target, '@');
	if (tag && !strcmp(tag, UDMA_SHARED_TAG_PA)) {
		f->va_mode = false;
	} else if (tag && !strncmp(tag, UDMA_SHARED_TAG_VA, sizeof(UDMA_SHARED_TAG_VA) - 1)) {
		const char *hex = tag + sizeof(UDMA_SHARED_TAG_VA) - 1;

		errno = 0;
		f->iova = strtoull(hex, &end, 16);
		if (!*hex || *end || errno)
			return not_ours(fd, target, "a udma file whose IOVA cannot be read");
		f->va_mode = true;
	} else {
		return not_ours(fd, target, "a file udma made for its own use, not a SHARED region's");
	}
	*tag = '\0';
	snprintf(f->name, sizeof(f->name), "%.*s", (int)sizeof(f->name) - 1,
		 target + sizeof(MEMFD_PREFIX) - 1);
	return 0;
}

static int read_file(int fd, struct shared_file *f)
{
	char link[32], target[512];
	struct stat st;
	struct statfs sf;
	ssize_t n;
	int seals, rc;

	if (fstat(fd, &st) < 0 || fstatfs(fd, &sf) < 0)
		return udma__err(errno, "udma_region_attach: fd %d: %s", fd, udma__strerror(errno));
	if (!S_ISREG(st.st_mode))
		return not_ours(fd, "not a regular file", "so no region's");
	snprintf(link, sizeof(link), "/proc/self/fd/%d", fd);
	n = readlink(link, target, sizeof(target) - 1);
	if (n < 0)
		return udma__err(errno, "udma_region_attach: cannot read %s (is /proc mounted?): %s", link,
				 udma__strerror(errno));
	target[n] = '\0';
	if ((rc = parse_name(fd, target, f)))
		return rc;
	/* f_type is an int on 32-bit, where the magic is above INT_MAX. */
	if ((unsigned long)sf.f_type == HUGETLBFS_MAGIC)
		f->page_size = (size_t)sf.f_bsize;
	else if (sf.f_type == TMPFS_MAGIC)
		f->page_size = UDMA_PAGE_4K;
	else
		return not_ours(fd, f->name, "a file named like udma's on neither tmpfs nor hugetlbfs");
	seals = fcntl(fd, F_GET_SEALS);
	if (seals < 0)
		return udma__err(errno, "udma_region_attach: cannot read the seals of '%s': %s", f->name,
				 udma__strerror(errno));
	if ((seals & (F_SEAL_SHRINK | F_SEAL_GROW)) != (F_SEAL_SHRINK | F_SEAL_GROW))
		return udma__err(EPERM,
				 "udma_region_attach: the file of '%s' is not sealed against shrinking and "
				 "growing (F_SEAL_SHRINK | F_SEAL_GROW), so its owner could shrink it under "
				 "this mapping and crash this process: refused",
				 f->name);
	if (seals & (F_SEAL_WRITE | F_SEAL_FUTURE_WRITE))
		return udma__err(EPERM,
				 "udma_region_attach: the file of '%s' is sealed against writes: refused",
				 f->name);
	/* The size once the seals are known to hold it (a shrink before them
	 * would show only here). */
	if (fstat(fd, &st) < 0)
		return udma__err(errno, "udma_region_attach: fd %d: %s", fd, udma__strerror(errno));
#if SIZE_MAX < UINT64_MAX
	/* A 64-bit exporter's region may be larger than a 32-bit process can map. */
	if ((uint64_t)st.st_size > SIZE_MAX)
		return udma__err(EFBIG,
				 "udma_region_attach: the file of '%s' holds %" PRIu64 " bytes, more than "
				 "this 32-bit process can map: attach it from a 64-bit process",
				 f->name, (uint64_t)st.st_size);
#endif
	f->size = (size_t)st.st_size;
	if (!f->size || f->size % f->page_size || (uint64_t)st.st_size > UDMA_USER_VA_END ||
	    (f->va_mode && (f->iova % f->page_size || f->iova + f->size > ((uint64_t)1 << 47))))
		return udma__err(EBADMSG,
				 "udma_region_attach: the file of '%s' holds %zu bytes of %zu-byte pages at "
				 "IOVA 0x%" PRIx64 ": not a region udma made",
				 f->name, f->size, f->page_size, f->iova);
	return 0;
}

/* In VA mode the exporter's address, when it is free here: then pointers and
 * IOVAs agree in both processes, and none of this process's own regions can
 * ever take those IOVAs. NULL if it is not free. */
static void *reserve_at(uint64_t iova, size_t len)
{
	void *want = (void *)(uintptr_t)iova;
	void *got = mmap(want, len, PROT_NONE,
			 MAP_PRIVATE | MAP_ANONYMOUS | MAP_NORESERVE | MAP_FIXED_NOREPLACE, -1, 0);

	if (got == MAP_FAILED)
		return NULL;
	/* Kernels before 4.17 take MAP_FIXED_NOREPLACE as a mere hint. */
	if (got != want || madvise(got, len, MADV_DONTFORK) < 0) {
		munmap(got, len);
		return NULL;
	}
	return got;
}

static int map_file(struct udma_region *r, const struct shared_file *f)
{
	size_t align = r->page_size > UDMA_PAGE_2M ? r->page_size : UDMA_PAGE_2M;
	void *va = f->va_mode && !(f->iova & (align - 1)) ? reserve_at(f->iova, r->footprint) : NULL;
	void *addr;
	int rc;

	if (!va && (rc = udma__reserve_va(r->footprint, align, &va)))
		return rc;
	addr = mmap(va, r->size, PROT_READ | PROT_WRITE, MAP_SHARED | MAP_FIXED, r->fd, 0);
	if (addr == MAP_FAILED) {
		rc = errno;
		munmap(va, r->footprint);
		return udma__err(rc, "udma_region_attach: mmap of %zu bytes of '%s' failed: %s", r->size,
				 r->name, udma__vm_strerror(rc));
	}
	r->addr = addr;
	/* Its pages are the exporter's already: faulting them in places none. */
	return udma__region_pin(r, addr, r->size, true);
}

/* ctx->lock held: not the same memory twice (publishing checks the IOVAs). */
static int check_new_locked(struct udma_ctx *ctx, const struct udma_region *r, const struct stat *st)
{
	const struct udma_region *q;
	struct stat qs;

	for (q = ctx->regions; q; q = q->next)
		if (q->fd >= 0 && !fstat(q->fd, &qs) && qs.st_dev == st->st_dev && qs.st_ino == st->st_ino)
			return udma__err(
				EEXIST,
				"udma_region_attach: the memory of '%s' is already region '%s' of this "
				"context: use that one",
				r->name, q->name);
	return 0;
}

static int attach(struct udma_ctx *ctx, struct udma_region *r, const struct shared_file *f)
{
	struct stat st;
	int rc;

	if (!r->hugetlb && (rc = udma__memlock_check(r->size)))
		return rc;
	if (ctx->mode == UDMA_IOVA_PA && (rc = udma__region_alloc_pa_tables(r)))
		return rc;
	if ((rc = map_file(r, f)))
		return rc;
	if (ctx->mode == UDMA_IOVA_PA) {
		if ((rc = udma__region_longterm_pin(r)) || (rc = udma__region_read_pagemap(ctx, r)))
			return rc;
	} else {
		r->frames.base = f->iova - (uint64_t)(uintptr_t)r->addr;
	}
	if (fstat(r->fd, &st) < 0)
		return udma__err(errno, "udma_region_attach: fstat: %s", udma__strerror(errno));
	pthread_mutex_lock(&ctx->lock);
	rc = check_new_locked(ctx, r, &st);
	if (!rc)
		rc = udma__region_publish_locked(ctx, r);
	pthread_mutex_unlock(&ctx->lock);
	return rc;
}

int udma_region_attach(struct udma_ctx *ctx, int fd, struct udma_region **out)
{
	struct shared_file f = {0};
	struct udma_region *r;
	int rc;

	if (!out)
		return udma__err(EINVAL, "udma_region_attach: out is NULL");
	*out = NULL;
	if (!ctx)
		return udma__err(EINVAL, "udma_region_attach: ctx is NULL");
	if (fd < 0)
		return udma__err(EINVAL, "udma_region_attach: fd %d is not a file descriptor", fd);
	if (udma__inherited(ctx))
		return udma__err_inherited(ctx, "udma_region_attach");
	if (udma__in_mem_event(ctx))
		return udma__err_in_mem_event("udma_region_attach");
	if ((rc = read_file(fd, &f)))
		return rc;
	if (f.va_mode != (ctx->mode == UDMA_IOVA_VA))
		return udma__err(EPROTO,
				 "udma_region_attach: '%s' was made by a context in %s mode and this one is "
				 "in %s mode: give both the same udma_ctx_opts.iova_mode",
				 f.name, f.va_mode ? "VA" : "PA", f.va_mode ? "PA" : "VA");
	r = calloc(1, sizeof(*r));
	if (!r)
		return udma__err(ENOMEM, "out of memory for a region");
	r->ctx = ctx;
	r->pin_fd = -1;
	r->numa_node = UDMA_NUMA_ANY;
	r->flags = UDMA_REGION_SHARED;
	r->page_size = f.page_size;
	r->page_shift = udma__log2(f.page_size);
	r->hugetlb = f.page_size > UDMA_PAGE_4K;
	r->size = f.size;
	r->footprint = (f.size + UDMA_PAGE_2M - 1) & ~(UDMA_PAGE_2M - 1);
	r->npages = f.size >> r->page_shift;
	snprintf(r->name, sizeof(r->name), "%s", f.name);
	udma__fork_hold();
	/* Its own descriptor, closed with the region: the caller keeps fd. */
	r->fd = fcntl(fd, F_DUPFD_CLOEXEC, 3);
	if (r->fd < 0)
		rc = udma__err(errno, "udma_region_attach: cannot duplicate fd %d: %s", fd,
			       udma__strerror(errno));
	else
		rc = attach(ctx, r, &f);
	if (rc) {
		udma__region_free(r);
		r = NULL;
	}
	udma__fork_release();
	*out = r;
	return rc;
}
