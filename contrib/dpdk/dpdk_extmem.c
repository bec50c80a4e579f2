/* SPDX-License-Identifier: MIT */
/*
 * A udma region as DPDK external memory, checked (run by tests/dpdk.sh):
 *   dpdk_extmem pa|va
 * EAL runs in the IOVA mode asked for (on hugepages when some are free, else
 * --no-huge), the udma context in the same one. A udma region becomes the
 * malloc heap "udma" (rte_malloc_heap_create, rte_malloc_heap_memory_add
 * with udma_iova of every page); rte_pktmbuf_pool_create on that heap's
 * socket must put every mbuf inside the region with buf_iova ==
 * udma_iova(buf_addr) and its whole buffer IOVA-contiguous. Then everything
 * is undone, and the process must hold no more fds, mappings, locked or
 * pinned memory than before the udma context.
 * Exit 0: passed; 1: failed (what, on stderr); 77: cannot run here (the
 * reason on the last line, "SKIP: ...").
 */
#include <errno.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#include <rte_eal.h>
#include <rte_errno.h>
#include <rte_malloc.h>
#include <rte_mbuf.h>
#include <rte_mempool.h>

#include "tests/support/helpers.h"

#define HEAP	    "udma"
#define REGION_SIZE (16u << 20)
#define MBUFS	    2048u
#define EXIT_SKIP   77

struct check {
	struct udma_ctx *ctx;
	const char *lo, *hi; /* the region */
	unsigned mbufs, outside, wrong_iova, split;
};

static bool free_hugepages(void)
{
	FILE *f = fopen("/sys/kernel/mm/hugepages/hugepages-2048kB/free_hugepages", "r");
	unsigned long n = 0;
	if (!f)
		return false;
	if (fscanf(f, "%lu", &n) != 1)
		n = 0;
	fclose(f);
	return n >= 16; /* EAL's own memory: -m 32 below (udma falls back to 4 KiB pages) */
}

static void check_mbuf(struct rte_mempool *mp, void *arg, void *obj, unsigned idx)
{
	struct check *c = arg;
	const struct rte_mbuf *m = obj;
	const char *buf = m->buf_addr;
	(void)mp;
	c->mbufs++;
	if (buf < c->lo || buf + m->buf_len > c->hi || (const char *)m < c->lo) {
		if (c->outside++ == 0)
			fprintf(stderr, "mbuf %u at %p, buffer %p: outside the udma region [%p, %p)\n", idx,
				(void *)m, (void *)buf, (const void *)c->lo, (const void *)c->hi);
		return;
	}
	if (m->buf_iova != udma_iova(c->ctx, buf)) {
		if (c->wrong_iova++ == 0)
			fprintf(stderr,
				"mbuf %u: buf_iova 0x%" PRIx64 ", udma_iova(buf_addr) 0x%" PRIx64 "\n", idx,
				(uint64_t)m->buf_iova, udma_iova(c->ctx, buf));
	}
	if (udma_iova_contig(c->ctx, buf, m->buf_len) != m->buf_len) {
		if (c->split++ == 0)
			fprintf(stderr, "mbuf %u: only %zu of its %u buffer bytes are IOVA-contiguous\n", idx,
				udma_iova_contig(c->ctx, buf, m->buf_len), m->buf_len);
	}
}

/* The region as heap HEAP, an mbuf pool on it, every mbuf checked, all undone. */
static int run(struct udma_ctx *ctx)
{
	struct udma_region *r;
	struct udma_region_opts ro = {.size = REGION_SIZE, .numa_node = UDMA_NUMA_ANY, .name = "dpdk-extmem"};
	int rc = udma_region_create(ctx, &ro, &r), failed = 0;
	if (rc < 0) {
		fprintf(stderr, "udma_region_create: %s\n", udma_last_error());
		return 1;
	}
	char *addr = udma_region_addr(r);
	size_t len = udma_region_size(r), pg = udma_region_page_size(r);
	unsigned n_pages = (unsigned)(len / pg);
	rte_iova_t *iovas = calloc(n_pages, sizeof(*iovas));
	if (!iovas) {
		fprintf(stderr, "out of memory for %u IOVAs\n", n_pages);
		udma_region_destroy(r);
		return 1;
	}
	for (unsigned i = 0; i < n_pages; i++)
		iovas[i] = udma_iova(ctx, addr + (size_t)i * pg);
	printf("# udma region %zu KiB on %zu KiB pages in %s mode\n", len >> 10, pg >> 10,
	       udma_ctx_iova_mode(ctx) == UDMA_IOVA_PA ? "PA" : "VA");

	if (rte_malloc_heap_create(HEAP) != 0) {
		fprintf(stderr, "rte_malloc_heap_create: %s\n", rte_strerror(rte_errno));
		failed = 1;
		goto out_iovas;
	}
	if (rte_malloc_heap_memory_add(HEAP, addr, len, iovas, n_pages, pg) != 0) {
		fprintf(stderr, "rte_malloc_heap_memory_add: %s\n", rte_strerror(rte_errno));
		failed = 1;
		goto out_heap;
	}
	int socket = rte_malloc_heap_get_socket(HEAP);
	struct rte_mempool *mp =
		rte_pktmbuf_pool_create("udma_extmem", MBUFS, 32, 0, RTE_MBUF_DEFAULT_BUF_SIZE, socket);
	if (!mp) {
		fprintf(stderr, "rte_pktmbuf_pool_create on socket %d: %s\n", socket,
			rte_strerror(rte_errno));
		failed = 1;
		goto out_mem;
	}
	struct check c = {.ctx = ctx, .lo = addr, .hi = addr + len};
	rte_mempool_obj_iter(mp, check_mbuf, &c);
	printf("# heap socket %d, mempool ops %s: %u mbufs, %u outside the region, %u wrong buf_iova, %u "
	       "buffers "
	       "not IOVA-contiguous\n",
	       socket, rte_mempool_get_ops(mp->ops_index)->name, c.mbufs, c.outside, c.wrong_iova, c.split);
	if (c.mbufs != MBUFS || c.outside || c.wrong_iova || c.split)
		failed = 1;

	/* Every mbuf can be had and given back. */
	struct rte_mbuf *all[MBUFS];
	if (rte_pktmbuf_alloc_bulk(mp, all, MBUFS) != 0) {
		fprintf(stderr, "rte_pktmbuf_alloc_bulk of all %u mbufs failed\n", MBUFS);
		failed = 1;
	} else {
		rte_pktmbuf_free_bulk(all, MBUFS);
	}
	rte_mempool_free(mp);
out_mem:
	if (rte_malloc_heap_memory_remove(HEAP, addr, len) != 0) {
		fprintf(stderr, "rte_malloc_heap_memory_remove: %s\n", rte_strerror(rte_errno));
		failed = 1;
	}
out_heap:
	if (rte_malloc_heap_destroy(HEAP) != 0) {
		fprintf(stderr, "rte_malloc_heap_destroy: %s\n", rte_strerror(rte_errno));
		failed = 1;
	}
out_iovas:
	free(iovas);
	udma_region_destroy(r);
	return failed;
}

int main(int argc, char **argv)
{
	if (argc != 2 || (strcmp(argv[1], "pa") != 0 && strcmp(argv[1], "va") != 0)) {
		fprintf(stderr, "usage: %s pa|va\n", argv[0]);
		return 2;
	}
	bool pa = strcmp(argv[1], "pa") == 0, huge = free_hugepages();
	char mode[32];
	snprintf(mode, sizeof(mode), "--iova-mode=%s", argv[1]);
	/* --in-memory needs hugepages; without, --no-huge (which implies
	 * legacy memory, refused with --in-memory) and no shared config. */
	char *eal_huge[] = {argv[0], "--no-pci", "--in-memory", "--no-telemetry",
			    "-m",    "32",	 mode,		"--log-level=lib.eal:warning"};
	char *eal_nohuge[] = {argv[0],
			      "--no-pci",
			      "--no-huge",
			      "--no-shconf",
			      "--no-telemetry",
			      "-m",
			      "32",
			      mode,
			      "--log-level=lib.eal:warning"};
	int rc = huge ? rte_eal_init((int)RTE_DIM(eal_huge), eal_huge)
		      : rte_eal_init((int)RTE_DIM(eal_nohuge), eal_nohuge);
	if (rc < 0) {
		printf("SKIP: EAL refused %s %s: %s\n", mode, huge ? "on hugepages" : "with --no-huge",
		       rte_strerror(rte_errno));
		return EXIT_SKIP;
	}
	printf("# EAL %s, IOVA mode %s\n",
	       huge ? "on hugepages (--in-memory)" : "without hugepages (--no-huge)",
	       rte_eal_iova_mode() == RTE_IOVA_PA ? "PA" : "VA");
	if ((rte_eal_iova_mode() == RTE_IOVA_PA) != pa) {
		printf("SKIP: EAL took %s as %s: %s\n", mode,
		       rte_eal_iova_mode() == RTE_IOVA_PA ? "PA" : "VA",
		       huge ? "physical addresses unavailable to it"
			    : "without hugepages EAL has no physical addresses (it reads them for its "
			      "hugepages only)");
		rte_eal_cleanup();
		return EXIT_SKIP;
	}

	struct th_snapshot before;
	th_snapshot_take(&before);
	struct udma_ctx *ctx;
	struct udma_ctx_opts co = {.iova_mode = pa ? UDMA_IOVA_PA : UDMA_IOVA_VA, .numa_node = UDMA_NUMA_ANY};
	rc = udma_ctx_create(&co, &ctx);
	if (rc < 0) {
		printf("SKIP: udma context in %s mode: %s\n", pa ? "PA" : "VA", udma_last_error());
		rte_eal_cleanup();
		return EXIT_SKIP;
	}
	int failed = run(ctx);
	udma_ctx_destroy(ctx);
	if (th_snapshot_compare(&before, "after the heap, the mempool and the udma context were undone") != 0)
		failed = 1;
	rte_eal_cleanup();
	return failed;
}
