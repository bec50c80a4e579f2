/* SPDX-License-Identifier: MIT */
/*
 * udma_region_attach: a SHARED region made here, attached in a peer process
 * (this program exec'd again: tests/support/peer.h). Bytes written on either
 * side are read on the other; udma_iova agrees on both sides for every page,
 * in PA mode (the physical address) and in VA mode (the exporter's address,
 * also when the peer had to map the region elsewhere); a simulated device
 * opened in the peer DMAs into the shared memory at the exporter's IOVAs.
 * An attached region is announced to memory event subscribers. Then every
 * refusal the header lists (forged files named as udma names its own for
 * the seal, size and IOVA checks). The peer checks that detaching left
 * no mapping, fd or locked memory behind; the test's own leak check does
 * the same here.
 */
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <unistd.h>

#include "drivers/simdrv/simdrv.h"
#include "tests/support/helpers.h"
#include "tests/support/qemu_user.h"
#include "tests/support/peer.h"

#define REGION_SIZE (256u << 10)
#define PAGE	    4096u
#define MAX_PAGES   (UDMA_PAGE_2M / PAGE) /* IOVAs compared: every 4 KiB of up to 2 MiB */

/* What the test asks of the peer, and what it answers. */
enum peer_op {
	OP_CTX,	   /* a[0]: IOVA mode; a[1]: open a simulated device in it too */
	OP_BLOCK,  /* map PROT_NONE at a[0] for a[1] bytes: the region must go elsewhere */
	OP_ATTACH, /* the fd passed along; answer: v[0] address, v[1] size */
	OP_CHECK,  /* the pattern of seed a[0] at offset a[1], a[2] bytes */
	OP_WRITE,  /* write that pattern */
	OP_IOVAS,  /* answer: udma_iova of every 4 KiB page, in iova[] */
	OP_DMA,	   /* the device copies a[2] bytes from IOVA a[1] to IOVA a[0]; a[1] == 0: fills with a[3] */
	OP_DETACH, /* destroy the region, check for leaks, end the context */
	OP_EXIT,
};

struct req {
	enum peer_op op;
	uint64_t a[4];
};

struct rep {
	int rc;
	char why[400];
	uint64_t v[2];
	uint64_t iova[MAX_PAGES];
};

/* ---- the peer ---- */

struct peer_state {
	struct udma_ctx *ctx;
	struct udma_region *region;
	struct udma_dev *dev;
	struct simdrv drv;
	void *blocked;
	size_t blocked_len;
	struct th_snapshot before;
};

static uint8_t pattern_byte(uint64_t seed, size_t off)
{
	return (uint8_t)(seed * 131 + off * 7 + (off >> 12));
}

static int peer_fail(struct rep *r, int rc, const char *what)
{
	r->rc = rc ? rc : -EIO;
	snprintf(r->why, sizeof(r->why), "%s: %s", what, udma_last_error());
	return r->rc;
}

static int peer_ctx(struct peer_state *s, const struct req *q, struct rep *r)
{
	struct udma_ctx_opts o = {.iova_mode = (enum udma_iova_mode)q->a[0], .numa_node = UDMA_NUMA_ANY};
	int rc = udma_ctx_create(&o, &s->ctx);

	if (rc)
		return peer_fail(r, rc, "udma_ctx_create");
	if (q->a[1]) {
		/* Before the attach: the attached region must reach the device as it comes. */
		if ((rc = udma_dev_open(s->ctx, "sim:mpattach", &s->dev)))
			return peer_fail(r, rc, "udma_dev_open");
		if ((rc = simdrv_attach(&s->drv, s->ctx, s->dev, true)) ||
		    (rc = simdrv_queue_setup(&s->drv, 0, SIMDEV_QTYPE_DMA, 64)) ||
		    (rc = simdrv_enable(&s->drv)))
			return peer_fail(r, rc, "simdrv");
	}
	return 0;
}

static int peer_block(struct peer_state *s, const struct req *q, struct rep *r)
{
	s->blocked = mmap((void *)(uintptr_t)q->a[0], q->a[1], PROT_NONE,
			  MAP_PRIVATE | MAP_ANONYMOUS | MAP_FIXED_NOREPLACE, -1, 0);
	if (s->blocked == MAP_FAILED || s->blocked != (void *)(uintptr_t)q->a[0]) {
		s->blocked = NULL;
		r->rc = -EEXIST;
		snprintf(r->why, sizeof(r->why), "cannot map at the exporter's address %#llx: %s",
			 (unsigned long long)q->a[0], strerror(errno));
		return r->rc;
	}
	s->blocked_len = q->a[1];
	return 0;
}

static int peer_attach(struct peer_state *s, int fd, struct rep *r)
{
	int rc;

	/* Whatever the region leaves behind shows against this... */
	th_snapshot_take(&s->before);
	rc = udma_region_attach(s->ctx, fd, &s->region);
	close(fd);	 /* the region keeps a duplicate */
	s->before.fds--; /* ...without the fd received */
	if (rc)
		return peer_fail(r, rc, "udma_region_attach");
	r->v[0] = (uintptr_t)udma_region_addr(s->region);
	r->v[1] = udma_region_size(s->region);
	return 0;
}

static int peer_bytes(struct peer_state *s, const struct req *q, struct rep *r)
{
	uint8_t *p;
	size_t i;

	if (!s->region || q->a[1] + q->a[2] > udma_region_size(s->region))
		return peer_fail(r, -EINVAL, "no region, or a range outside it");
	p = udma_region_addr(s->region);
	for (i = q->a[1]; i < q->a[1] + q->a[2]; i++) {
		if (q->op == OP_WRITE) {
			p[i] = pattern_byte(q->a[0], i);
		} else if (p[i] != pattern_byte(q->a[0], i)) {
			r->rc = -EIO;
			snprintf(r->why, sizeof(r->why), "byte %zu reads 0x%02x, the exporter wrote 0x%02x",
				 i, p[i], pattern_byte(q->a[0], i));
			return r->rc;
		}
	}
	return 0;
}

static int peer_iovas(struct peer_state *s, struct rep *r)
{
	const uint8_t *p = udma_region_addr(s->region);
	size_t off;

	for (off = 0; off < udma_region_size(s->region) && off / PAGE < MAX_PAGES; off += PAGE)
		r->iova[off / PAGE] = udma_iova(s->ctx, p + off);
	return 0;
}

static int peer_dma(struct peer_state *s, const struct req *q, struct rep *r)
{
	struct simdev_sqe e = {.opcode = q->a[1] ? SIMDEV_OP_COPY : SIMDEV_OP_FILL,
			       .len = (uint32_t)q->a[2],
			       .src = q->a[1] ? q->a[1] : q->a[3],
			       .dst = q->a[0],
			       .cookie = 7};
	struct simdev_cqe c;
	unsigned tries = 0;

	if (!s->dev)
		return peer_fail(r, -EINVAL, "no device opened");
	if (simdrv_submit(&s->drv.q[0], &e, 1) != 1)
		return peer_fail(r, -EIO, "simdrv_submit");
	while (!simdrv_reap(&s->drv.q[0], &c, 1)) {
		int rc = simdrv_wait(&s->drv, 2000); /* interrupt mode: a timeout means no completion */

		if ((rc == -ETIMEDOUT && ++tries == 3) || (rc && rc != -ETIMEDOUT))
			return peer_fail(r, rc, "no completion from the device");
	}
	if (SIMDEV_CQE_STATUS(c.status) != SIMDEV_ST_OK || simdrv_rd32(&s->drv, SIMDEV_REG_FAULT_COUNT)) {
		r->rc = -EFAULT;
		snprintf(r->why, sizeof(r->why), "the device completed with status %u, %u IOMMU faults",
			 (unsigned)SIMDEV_CQE_STATUS(c.status), simdrv_rd32(&s->drv, SIMDEV_REG_FAULT_COUNT));
		return r->rc;
	}
	return 0;
}

static int peer_detach(struct peer_state *s, struct rep *r)
{
	udma_region_destroy(s->region);
	s->region = NULL;
	if (th_snapshot_compare(&s->before, "the attached region (in the peer)")) {
		r->rc = -EIO;
		snprintf(r->why, sizeof(r->why), "detaching left something behind (see the peer's stderr)");
	}
	if (s->dev) {
		simdrv_detach(&s->drv);
		udma_dev_close(s->dev);
	}
	udma_ctx_destroy(s->ctx);
	if (s->blocked)
		munmap(s->blocked, s->blocked_len);
	memset(s, 0, sizeof(*s));
	return r->rc;
}

static int serve(int sock)
{
	static struct peer_state s;
	static struct rep r;
	struct req q;
	int fd = -1;
	unsigned nfds;
	ssize_t n;

	while ((n = th_peer_recv(sock, &q, sizeof(q), &fd, 1, &nfds)) == sizeof(q)) {
		memset(&r, 0, sizeof(r));
		switch (q.op) {
		case OP_CTX: peer_ctx(&s, &q, &r); break;
		case OP_BLOCK: peer_block(&s, &q, &r); break;
		case OP_ATTACH:
			if (nfds == 1)
				peer_attach(&s, fd, &r);
			else
				peer_fail(&r, -EINVAL, "no fd passed");
			break;
		case OP_CHECK:
		case OP_WRITE: peer_bytes(&s, &q, &r); break;
		case OP_IOVAS: peer_iovas(&s, &r); break;
		case OP_DMA: peer_dma(&s, &q, &r); break;
		case OP_DETACH: peer_detach(&s, &r); break;
		case OP_EXIT: break;
		}
		if (th_peer_send(sock, &r, sizeof(r), NULL, 0))
			return 1;
		if (q.op == OP_EXIT)
			return 0;
	}
	return n == 0 ? 0 : 2;
}

/* ---- the test's side ---- */

static struct rep reply;

/* Ask the peer; its answer in reply. Fails the test if the peer fails, unless allow_fail. */
static int ask(struct th_peer *p, enum peer_op op, uint64_t a0, uint64_t a1, uint64_t a2, uint64_t a3, int fd)
{
	struct req q = {.op = op, .a = {a0, a1, a2, a3}};

	assert_int_equal(th_peer_send(p->sock, &q, sizeof(q), &fd, fd >= 0), 0);
	assert_int_equal(th_peer_recv(p->sock, &reply, sizeof(reply), NULL, 0, NULL), sizeof(reply));
	return reply.rc;
}

static void must(struct th_peer *p, enum peer_op op, uint64_t a0, uint64_t a1, uint64_t a2, uint64_t a3,
		 int fd)
{
	if (ask(p, op, a0, a1, a2, a3, fd))
		fail_msg("peer, op %d: %d: %s", op, reply.rc, reply.why);
}

static void write_pattern(uint8_t *p, uint64_t seed, size_t off, size_t len)
{
	size_t i;

	for (i = off; i < off + len; i++)
		p[i] = pattern_byte(seed, i);
}

static void check_pattern(const uint8_t *p, uint64_t seed, size_t off, size_t len)
{
	size_t i;

	for (i = off; i < off + len; i++)
		if (p[i] != pattern_byte(seed, i))
			fail_msg("byte %zu reads 0x%02x, the peer wrote 0x%02x", i, p[i],
				 pattern_byte(seed, i));
}

/* A context in mode, or a skip saying why there is none. */
static struct udma_ctx *ctx_in(enum udma_iova_mode mode)
{
	struct udma_ctx_opts o = {.iova_mode = mode, .numa_node = UDMA_NUMA_ANY};
	struct udma_ctx *ctx = NULL;
	int rc = udma_ctx_create(&o, &ctx);

	if (rc && mode == UDMA_IOVA_PA) {
		printf("# skip: no PA-mode context here: %s\n", udma_last_error());
		skip();
	}
	assert_int_equal(rc, 0);
	assert_int_equal(udma_ctx_iova_mode(ctx), mode);
	return ctx;
}

static struct udma_region *shared_region_of(struct udma_ctx *ctx, const char *name, size_t page_size)
{
	struct udma_region_opts o = {.size = REGION_SIZE,
				     .page_size = page_size,
				     .numa_node = UDMA_NUMA_ANY,
				     .flags = UDMA_REGION_SHARED,
				     .name = name};
	struct udma_region *r = NULL;

	assert_int_equal(udma_region_create(ctx, &o, &r), 0);
	assert_true(udma_region_fd(r) >= 0);
	return r;
}

/* 4 KiB pages: the default when no hugepage is free (the case here unless some are). */
static struct udma_region *shared_region(struct udma_ctx *ctx, const char *name)
{
	return shared_region_of(ctx, name, UDMA_PAGE_4K);
}

/*
 * The exporter here, the attacher in a peer: bytes both ways, then
 * udma_iova of every page in the peer equals this side's. blocked: the peer
 * first maps something at the region's address, so the attach must map it
 * elsewhere (and still give this side's IOVAs in VA mode).
 */
static void share_with_peer(enum udma_iova_mode mode, bool blocked, size_t page_size)
{
	struct udma_ctx *ctx = ctx_in(mode);
	struct udma_region *reg = shared_region_of(ctx, "mp-bytes", page_size);
	uint8_t *p = udma_region_addr(reg);
	size_t size = udma_region_size(reg), off;
	struct th_peer peer;

	print_message("%s mode, %zu KiB pages%s\n", mode == UDMA_IOVA_PA ? "PA" : "VA",
		      udma_region_page_size(reg) >> 10,
		      blocked ? ", the exporter's address taken in the peer" : "");
	write_pattern(p, 1, 0, size);
	th_peer_start(&peer);
	/* Blocked first: the peer's context could map its own memory there. */
	if (blocked)
		must(&peer, OP_BLOCK, (uintptr_t)p, size, 0, 0, -1);
	must(&peer, OP_CTX, mode, 0, 0, 0, -1);
	must(&peer, OP_ATTACH, 0, 0, 0, 0, udma_region_fd(reg));
	assert_int_equal(reply.v[1], size);
	if (blocked)
		assert_true(reply.v[0] != (uintptr_t)p);

	/* exporter -> attacher, attacher -> exporter, and again after the attach */
	must(&peer, OP_CHECK, 1, 0, size, 0, -1);
	must(&peer, OP_WRITE, 2, size / 2, size / 2, 0, -1);
	check_pattern(p, 2, size / 2, size / 2);
	write_pattern(p, 3, 0, size / 2);
	must(&peer, OP_CHECK, 3, 0, size / 2, 0, -1);

	must(&peer, OP_IOVAS, 0, 0, 0, 0, -1);
	for (off = 0; off < size; off += PAGE) {
		uint64_t here = udma_iova(ctx, p + off);

		assert_true(here != UDMA_BAD_IOVA);
		if (reply.iova[off / PAGE] != here)
			fail_msg("page %zu: udma_iova %#llx in the peer, %#llx here", off / PAGE,
				 (unsigned long long)reply.iova[off / PAGE], (unsigned long long)here);
	}
	if (mode == UDMA_IOVA_PA)
		assert_int_equal(udma_iova(ctx, p), th_pagemap_pa(p));
	must(&peer, OP_DETACH, 0, 0, 0, 0, -1);
	must(&peer, OP_EXIT, 0, 0, 0, 0, -1);
	assert_int_equal(th_peer_wait(&peer), 0);
	/* the exporter's memory is untouched by the peer's detach */
	check_pattern(p, 2, size / 2, size / 2);
	udma_region_destroy(reg);
	udma_ctx_destroy(ctx);
}

static void va_same_bytes_and_iovas(void **state)
{
	(void)state;
	share_with_peer(UDMA_IOVA_VA, false, UDMA_PAGE_4K);
}

static void va_mapped_elsewhere_keeps_iovas(void **state)
{
	(void)state;
	share_with_peer(UDMA_IOVA_VA, true, UDMA_PAGE_4K);
}

static void pa_same_bytes_and_iovas(void **state)
{
	(void)state;
	share_with_peer(UDMA_IOVA_PA, true, UDMA_PAGE_4K);
}

/* Hugetlb files: attached with their page size (only with a free 2 MiB page:
 * this test reserves none). */
static void va_hugepages(void **state)
{
	(void)state;
	if (udma_hugepage_available(UDMA_PAGE_2M, UDMA_NUMA_ANY) < 1) {
		printf("# skip: no free 2 MiB hugepage (reserve one: udma hugepages --reserve 2M)\n");
		skip();
	}
	th_skip_if_qemu_lacks(TH_EMUL_MADVISE); /* hugepages are faulted in by MADV_POPULATE_WRITE */
	share_with_peer(UDMA_IOVA_VA, true, UDMA_PAGE_2M);
}

/* A simulated device opened in the peer writes into the shared memory at
 * this side's IOVAs, the peer's mapping of it elsewhere. */
static void va_device_in_attacher(void **state)
{
	struct udma_ctx *ctx = ctx_in(UDMA_IOVA_VA);
	struct udma_region *reg = shared_region(ctx, "mp-dma");
	uint8_t *p = udma_region_addr(reg);
	size_t size = udma_region_size(reg), i;
	struct th_peer peer;

	(void)state;
	memset(p, 0, size);
	write_pattern(p, 5, 0, 3 * PAGE);
	th_peer_start(&peer);
	/* Blocked first: the peer's context and device could map their own
	 * memory in the hole the exporter's region (not inherited) leaves. */
	must(&peer, OP_BLOCK, (uintptr_t)p, size, 0, 0, -1);
	must(&peer, OP_CTX, UDMA_IOVA_VA, 1, 0, 0, -1);
	must(&peer, OP_ATTACH, 0, 0, 0, 0, udma_region_fd(reg));
	assert_true(reply.v[0] != (uintptr_t)p);
	/* a fill across two page boundaries, at this side's IOVAs */
	must(&peer, OP_DMA, udma_iova(ctx, p + 5 * PAGE + 100), 0, 2 * PAGE + 17, 0x5a, -1);
	for (i = 5 * PAGE; i < 8 * PAGE + 200; i++)
		if (p[i] != (i >= 5 * PAGE + 100 && i < 7 * PAGE + 117 ? 0x5a : 0))
			fail_msg("byte %zu reads 0x%02x after the fill", i, p[i]);
	/* a copy from what this side wrote to the region's second half */
	must(&peer, OP_DMA, udma_iova(ctx, p + size / 2), udma_iova(ctx, p), 3 * PAGE, 0, -1);
	for (i = 0; i < 3 * PAGE; i++)
		if (p[size / 2 + i] != pattern_byte(5, i))
			fail_msg("byte %zu of the copy reads 0x%02x", i, p[size / 2 + i]);
	must(&peer, OP_DETACH, 0, 0, 0, 0, -1);
	must(&peer, OP_EXIT, 0, 0, 0, 0, -1);
	assert_int_equal(th_peer_wait(&peer), 0);
	udma_region_destroy(reg);
	udma_ctx_destroy(ctx);
}

/* ---- refusals (a second context of this process attaches) ---- */

/* A memfd of len bytes named name (udma's are "udma:NAME"), with seals. */
static int memfd_of(const char *name, size_t len, unsigned seals)
{
	int fd = memfd_create(name, MFD_CLOEXEC | MFD_ALLOW_SEALING);

	assert_true(fd >= 0);
	assert_int_equal(ftruncate(fd, (off_t)len), 0);
	if (seals)
		assert_int_equal(fcntl(fd, F_ADD_SEALS, seals), 0);
	return fd;
}

/* attach(fd) refused with errnum, a message holding what, nothing made. */
static void refused(struct udma_ctx *ctx, int fd, int errnum, const char *what)
{
	struct udma_region *r = NULL;

	th_assert_err(udma_region_attach(ctx, fd, &r), errnum);
	assert_null(r);
	if (what && !strstr(udma_last_error(), what))
		fail_msg("refused, but the message does not say \"%s\": %s", what, udma_last_error());
}

static void refuses_files_not_udma(void **state)
{
	struct udma_ctx *ctx = ctx_in(UDMA_IOVA_VA);
	struct udma_region *r = NULL;
	int fd, pipefd[2];

	(void)state;
	th_assert_err(udma_region_attach(NULL, 0, &r), EINVAL);
	th_assert_err(udma_region_attach(ctx, 0, NULL), EINVAL);
	th_assert_err(udma_region_attach(ctx, -1, &r), EINVAL);
	fd = memfd_of("closed", PAGE, 0);
	close(fd);
	refused(ctx, fd, EBADF, NULL);

	fd = memfd_of("plain", REGION_SIZE, F_SEAL_SHRINK | F_SEAL_GROW);
	refused(ctx, fd, ENOTSUP, NULL);
	close(fd);
	fd = open("/tmp", O_TMPFILE | O_RDWR | O_CLOEXEC, 0600);
	assert_true(fd >= 0);
	assert_int_equal(ftruncate(fd, REGION_SIZE), 0);
	refused(ctx, fd, ENOTSUP, NULL);
	close(fd);
	assert_int_equal(pipe2(pipefd, O_CLOEXEC), 0);
	refused(ctx, pipefd[0], ENOTSUP, NULL);
	close(pipefd[0]);
	close(pipefd[1]);
	udma_ctx_destroy(ctx);
}

/* Files named as udma names a SHARED region's memfd ("udma:NAME@va:HEX",
 * "udma:NAME@pa"), with what udma's never have. */
#define FORGED_VA "udma:forged@va:40000000"

static void refuses_bad_seals_and_sizes(void **state)
{
	struct udma_ctx *ctx = ctx_in(UDMA_IOVA_VA);
	int fd;

	(void)state;
	fd = memfd_of(FORGED_VA, REGION_SIZE, 0);
	refused(ctx, fd, EPERM, "not sealed against shrinking and growing");
	close(fd);
	fd = memfd_of(FORGED_VA, REGION_SIZE, F_SEAL_SHRINK);
	refused(ctx, fd, EPERM, "not sealed against shrinking and growing");
	close(fd);
	fd = memfd_of(FORGED_VA, REGION_SIZE, F_SEAL_SHRINK | F_SEAL_GROW | F_SEAL_WRITE);
	refused(ctx, fd, EPERM, "sealed against writes");
	close(fd);
	fd = memfd_of(FORGED_VA, REGION_SIZE + 100, F_SEAL_SHRINK | F_SEAL_GROW);
	refused(ctx, fd, EBADMSG, NULL);
	close(fd);
	fd = memfd_of(FORGED_VA, 0, F_SEAL_SHRINK | F_SEAL_GROW);
	refused(ctx, fd, EBADMSG, NULL);
	close(fd);
	/* an IOVA that is no page boundary */
	fd = memfd_of("udma:forged@va:40000100", REGION_SIZE, F_SEAL_SHRINK | F_SEAL_GROW);
	refused(ctx, fd, EBADMSG, NULL);
	close(fd);
	/* udma's name, no tag: a file udma made for its own use, never shared */
	fd = memfd_of("udma:forged", REGION_SIZE, F_SEAL_SHRINK | F_SEAL_GROW);
	refused(ctx, fd, ENOTSUP, NULL);
	close(fd);
	fd = memfd_of("udma:forged@va:nothex", REGION_SIZE, F_SEAL_SHRINK | F_SEAL_GROW);
	refused(ctx, fd, ENOTSUP, NULL);
	close(fd);
	/* a PA-mode file in a VA-mode context (no root needed to make the file) */
	fd = memfd_of("udma:forged@pa", REGION_SIZE, F_SEAL_SHRINK | F_SEAL_GROW);
	refused(ctx, fd, EPROTO, "PA mode");
	close(fd);
	udma_ctx_destroy(ctx);
}

/* The same memory twice in one context: made there, or attached before. */
static void refuses_twice_in_one_ctx(void **state)
{
	struct udma_ctx *ctx = ctx_in(UDMA_IOVA_VA), *other = ctx_in(UDMA_IOVA_VA);
	struct udma_region *reg = shared_region(ctx, "mp-twice"), *att = NULL;

	(void)state;
	refused(ctx, udma_region_fd(reg), EEXIST, NULL);
	assert_int_equal(udma_region_attach(other, udma_region_fd(reg), &att), 0);
	assert_int_equal(udma_iova(other, udma_region_addr(att)), udma_iova(ctx, udma_region_addr(reg)));
	refused(other, udma_region_fd(reg), EEXIST, NULL);
	refused(other, udma_region_fd(att), EEXIST, NULL); /* the attached region's own fd: the same memory */
	udma_region_destroy(att);
	/* detached: attachable again */
	assert_int_equal(udma_region_attach(other, udma_region_fd(reg), &att), 0);
	udma_region_destroy(att);
	udma_region_destroy(reg);
	udma_ctx_destroy(other);
	udma_ctx_destroy(ctx);
}

/* In VA mode the exporter's IOVAs must not be those of a region the
 * context has already (a file naming them, as a peer's would). */
static void refuses_iovas_in_use(void **state)
{
	struct udma_ctx *ctx = ctx_in(UDMA_IOVA_VA);
	struct udma_region *own = shared_region(ctx, "mp-own");
	char name[64];
	int fd;

	(void)state;
	snprintf(name, sizeof(name), "udma:forged@va:%llx",
		 (unsigned long long)udma_iova(ctx, udma_region_addr(own)) + PAGE);
	fd = memfd_of(name, REGION_SIZE, F_SEAL_SHRINK | F_SEAL_GROW);
	refused(ctx, fd, EADDRINUSE, "mp-own");
	close(fd);
	udma_region_destroy(own);
	udma_ctx_destroy(ctx);
}

/*
 * The other order: a region attached away from its IOVAs (their address
 * was taken here), then that address freed and regions made in the same
 * context, which the kernel puts in the hole just freed. In VA mode their
 * IOVAs are their addresses: none may be the attached region's. The file
 * is one a peer would send (named for an IOVA in the hole).
 */
static void own_regions_keep_other_iovas(void **state)
{
	struct udma_region_opts o = {.size = REGION_SIZE, .numa_node = UDMA_NUMA_ANY, .name = "mp-own"};
	struct udma_ctx *ctx = ctx_in(UDMA_IOVA_VA);
	struct udma_region *att = NULL, *own[8];
	const size_t hole_len = 16u << 20;
	uint8_t *hole = mmap(NULL, hole_len, PROT_NONE, MAP_PRIVATE | MAP_ANONYMOUS | MAP_NORESERVE, -1, 0);
	uint64_t iova = ((uintptr_t)hole + UDMA_PAGE_2M - 1) & ~(uint64_t)(UDMA_PAGE_2M - 1);
	unsigned i, in_hole = 0;
	char name[64], clash[256] = "";
	int fd;

	(void)state;
	assert_true(hole != MAP_FAILED);
	snprintf(name, sizeof(name), "udma:peer@va:%llx", (unsigned long long)iova);
	fd = memfd_of(name, REGION_SIZE, F_SEAL_SHRINK | F_SEAL_GROW);
	assert_int_equal(udma_region_attach(ctx, fd, &att), 0);
	close(fd);
	assert_true((uintptr_t)udma_region_addr(att) != iova);
	assert_int_equal(udma_iova(ctx, udma_region_addr(att)), iova);
	assert_int_equal(munmap(hole, hole_len), 0);
	for (i = 0; i < 8; i++) {
		uint64_t lo;

		assert_int_equal(udma_region_create(ctx, &o, &own[i]), 0);
		lo = udma_iova(ctx, udma_region_addr(own[i]));
		in_hole += (uintptr_t)udma_region_addr(own[i]) - (uintptr_t)hole < hole_len;
		if (!clash[0] && lo < iova + REGION_SIZE && iova < lo + REGION_SIZE)
			snprintf(clash, sizeof(clash),
				 "region %u made after the attach, at %p, has IOVAs %#llx.., the attached "
				 "region's are %#llx..: a device cannot tell them apart",
				 i, udma_region_addr(own[i]), (unsigned long long)lo,
				 (unsigned long long)iova);
	}
	print_message("%u of 8 regions made in the hole the attached region's IOVAs name\n", in_hole);
	while (i--)
		udma_region_destroy(own[i]);
	udma_region_destroy(att);
	udma_ctx_destroy(ctx);
	if (clash[0])
		fail_msg("%s", clash);
}

/* What a memory event subscriber of the attaching context hears. */
struct events {
	struct udma_ctx *ctx;
	struct udma_region *added, *removed;
	uint64_t iova; /* udma_iova of the region's first byte, in the ADDED callback */
};

static int on_event(void *arg, enum udma_mem_event ev, struct udma_region *r)
{
	struct events *e = arg;

	if (ev == UDMA_MEM_ADDED) {
		e->added = r;
		e->iova = udma_iova(e->ctx, udma_region_addr(r));
	} else {
		e->removed = r;
	}
	return 0;
}

/* An attached region is announced as it comes (translated already) and goes. */
static void attached_region_announced(void **state)
{
	struct udma_ctx *ctx = ctx_in(UDMA_IOVA_VA);
	struct udma_region *reg = shared_region(ctx, "mp-events"), *att = NULL;
	struct events e = {.ctx = ctx_in(UDMA_IOVA_VA)};

	(void)state;
	assert_int_equal(udma_mem_event_register(e.ctx, on_event, &e), 0);
	assert_int_equal(udma_region_attach(e.ctx, udma_region_fd(reg), &att), 0);
	assert_ptr_equal(e.added, att);
	assert_int_equal(e.iova, udma_iova(ctx, udma_region_addr(reg)));
	assert_ptr_equal(udma_region_next(e.ctx, NULL), att);
	assert_null(e.removed);
	udma_region_destroy(att);
	assert_ptr_equal(e.removed, att);
	udma_region_destroy(reg);
	udma_ctx_destroy(e.ctx);
	udma_ctx_destroy(ctx);
}

static void refuses_other_iova_mode(void **state)
{
	struct udma_ctx *pa = ctx_in(UDMA_IOVA_PA), *va = ctx_in(UDMA_IOVA_VA);
	struct udma_region *in_va = shared_region(va, "mp-va"), *in_pa = shared_region(pa, "mp-pa");

	(void)state;
	refused(pa, udma_region_fd(in_va), EPROTO, NULL);
	refused(va, udma_region_fd(in_pa), EPROTO, NULL);
	udma_region_destroy(in_pa);
	udma_region_destroy(in_va);
	udma_ctx_destroy(va);
	udma_ctx_destroy(pa);
}

int main(int argc, char **argv)
{
	const struct CMUnitTest tests[] = {
		th_test(va_same_bytes_and_iovas),     th_test(va_mapped_elsewhere_keeps_iovas),
		th_test(pa_same_bytes_and_iovas),     th_test(va_hugepages),
		th_test(va_device_in_attacher),	      th_test(refuses_files_not_udma),
		th_test(refuses_bad_seals_and_sizes), th_test(refuses_twice_in_one_ctx),
		th_test(refuses_iovas_in_use),	      th_test(own_regions_keep_other_iovas),
		th_test(attached_region_announced),   th_test(refuses_other_iova_mode),
	};

	th_peer_main(argc, argv, serve);
	return cmocka_run_group_tests(tests, NULL, NULL);
}
