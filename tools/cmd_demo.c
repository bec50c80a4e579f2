/* SPDX-License-Identifier: MIT */
/*
 * udma demo: start the simulated DMA device (udma-simd, a process of its own,
 * or a thread with --thread), drive it with the reference driver through
 * udma memory, and check everything: a NIC loopback byte for byte, a block
 * store under a checksum, no IOMMU fault, no buffer lost. The phases are in
 * demo_nic.c and demo_blk.c, the report in demo_report.c; this file sets up,
 * tears down and decides.
 */
#include <errno.h>
#include <limits.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "tools/cli.h"
#include "tools/demo/demo.h"

#define DEMO_PACKETS_DEFAULT 1000000ul
#define DEMO_PACKETS_MAX     4000000000ul /* a packet's number fits its 32-bit cookie tag */
#define DEMO_BLOCK_DEFAULT   ((size_t)64 << 20)
#define DEMO_BLOCK_MAX	     ((size_t)1 << 30) /* the store is memory: a memfd */
#define DEMO_REAP_MS	     3000	       /* a device process exits when its driver leaves */

/*
 * Interrupts are the default: measured on a 2-core KVM guest (udma demo, 10
 * alternating runs of each, medians), interrupts moved packets faster than
 * polling (thread 2.11 vs 1.93 Mpps, process 1.75 vs 1.49) on less CPU (0.82
 * vs 0.93 s), and the whole demo ran shorter; polling read blocks faster
 * (2.7 vs 2.1 GB/s). With two cores a polling device and a polling driver
 * keep both busy, so anything else that runs slows them down; interrupt mode
 * also batches naturally, as a sleeping device finds several descriptors.
 */
#define DEMO_IRQ_DEFAULT true

const char *const demo_pool_names[DEMO_NPOOLS] = {"pkt", "blk-wr", "blk-rd"};

static void on_signal(int sig)
{
	(void)sig;
	demo_interrupted = 1;
}

static const char usage[] =
	"usage: udma demo [--packets N] [--block SIZE] [--poll | --irq] [--thread] [--page-size 4K|2M|1G]\n"
	"                 [--json]\n"
	"Start the simulated DMA device as a process (udma-simd; --thread: in a thread of this one),\n"
	"loop N packets (default 1000000, 64..1500 bytes) through its NIC from a pool of DMA buffers\n"
	"checking each byte, write SIZE (default 64M, a multiple of 4K) to its block store in 4 KiB\n"
	"blocks and read it back under a checksum. --poll: poll for completions instead of\n"
	"sleeping until the device interrupts (--irq, the default: faster on 2 cores).\n"
	"--page-size: the DMA memory's page size (default: the largest with free pages).\n"
	"Exit 0 only if every packet and block verified, no IOMMU fault, no buffer leaked.\n";

/* 0 to go on, else the exit status (-1: help was printed, exit 0). */
static int parse_args(const struct cli *c, int argc, char **argv, struct demo_opts *o)
{
	int i;

	*o = (struct demo_opts){
		.packets = DEMO_PACKETS_DEFAULT, .block_bytes = DEMO_BLOCK_DEFAULT, .irq = DEMO_IRQ_DEFAULT};
	for (i = 1; i < argc; i++) {
		const char *a = argv[i], *v = i + 1 < argc ? argv[i + 1] : NULL;
		char *end;

		if (!strcmp(a, "--json")) {
			continue;
		} else if (!strcmp(a, "--thread")) {
			o->thread = true;
		} else if (!strcmp(a, "--irq")) {
			o->irq = true;
		} else if (!strcmp(a, "--poll")) {
			o->irq = false;
		} else if (!strcmp(a, "-h") || !strcmp(a, "--help")) {
			return cli_help(c, usage) - 1;
		} else if (!strcmp(a, "--packets") && v) {
			errno = 0;
			o->packets = strtoul(v, &end, 10);
			if (*v < '0' || *v > '9' || *end || errno || !o->packets ||
			    o->packets > DEMO_PACKETS_MAX)
				return cli_usage_error(
					c, usage,
					"--packets %s: give a number of packets from 1 to %lu (default %lu)",
					v, DEMO_PACKETS_MAX, DEMO_PACKETS_DEFAULT);
			i++;
		} else if (!strcmp(a, "--page-size") && v) {
			if (udma_parse_size(v, &o->page_size) ||
			    (o->page_size != UDMA_PAGE_4K && o->page_size != UDMA_PAGE_2M &&
			     o->page_size != UDMA_PAGE_1G))
				return cli_usage_error(
					c, usage, "--page-size %s: give 4K, 2M or 1G (default: automatic)",
					v);
			i++;
		} else if (!strcmp(a, "--block") && v) {
			if (udma_parse_size(v, &o->block_bytes) || !o->block_bytes ||
			    o->block_bytes % DEMO_BLK_SIZE || o->block_bytes > DEMO_BLOCK_MAX)
				return cli_usage_error(
					c, usage,
					"--block %s: the store is written in 4 KiB blocks: give a "
					"multiple of 4K from 4K to 1G, e.g. 64M",
					v);
			i++;
		} else {
			bool needs_value =
				!strcmp(a, "--packets") || !strcmp(a, "--block") || !strcmp(a, "--page-size");

			return cli_usage_error(c, usage, "%s '%s'",
					       needs_value ? "no value for" : "unknown argument", a);
		}
	}
	return 0;
}

/* "64M" rather than 67108864 in the device spec, as a person would write it. */
static void block_spec(size_t bytes, char *buf, size_t len)
{
	if (bytes % (1u << 20) == 0)
		snprintf(buf, len, "%zuM", bytes >> 20);
	else
		snprintf(buf, len, "%zuK", bytes >> 10);
}

static int pool(struct demo *d, unsigned id, size_t size, unsigned count, unsigned cache)
{
	struct udma_pool_opts po = {.obj_size = size,
				    .align = size,
				    .count = count,
				    .cache_size = cache,
				    .numa_node = UDMA_NUMA_ANY,
				    .name = demo_pool_names[id]};

	return d->pool[id] ? 0 : udma_pool_create(d->ctx, &po, &d->pool[id]);
}

/*
 * The DMA memory: the packet pool first, so that it is the one on hugepages
 * when only a few are free; then the rings and the block pools. 4 KiB pages
 * are locked and count against RLIMIT_MEMLOCK (8 MiB on Debian), hugepages do
 * not: when the limit is reached, all over again with half the packet buffers
 * (down to a quarter). 0, or -1 with d->why set.
 */
static int dma_memory(struct demo *d)
{
	static const unsigned type[DEMO_NQUEUES] = {SIMDEV_QTYPE_NIC_TX, SIMDEV_QTYPE_NIC_RX,
						    SIMDEV_QTYPE_BLOCK};
	static const unsigned depth[DEMO_NQUEUES] = {DEMO_TX_DEPTH, DEMO_RX_DEPTH, DEMO_BLK_DEPTH};
	unsigned count, q;
	int rc;

	for (count = DEMO_PKT_COUNT;; count /= 2) {
		rc = pool(d, DEMO_POOL_PKT, DEMO_PKT_SIZE, count, 256);
		for (q = 0; !rc && q < DEMO_NQUEUES; q++)
			if (!d->drv.q[q].sq && (rc = simdrv_queue_setup(&d->drv, q, type[q], depth[q])) &&
			    rc != -ENOMEM)
				return demo_fail_err(d, -rc, "setting up queue %u of the device: %s", q,
						     strerror(-rc));
		if (!rc)
			rc = pool(d, DEMO_POOL_BLK_WR, DEMO_BLK_SIZE, DEMO_BLK_BUFS, 32);
		if (!rc)
			rc = pool(d, DEMO_POOL_BLK_RD, DEMO_BLK_SIZE, DEMO_BLK_BUFS, 32);
		if (!rc)
			break;
		if (rc != -ENOMEM || !strstr(udma_last_error(), "MEMLOCK"))
			return demo_fail_err(d, -rc, "%s", udma_last_error());
		if (count == DEMO_PKT_COUNT / 4)
			return demo_fail_err(
				d, ENOMEM,
				"%s; on 4 KiB pages the demo needs about 4 MiB locked (ulimit -l 4096), "
				"10 MiB for all %u packet buffers",
				udma_last_error(), DEMO_PKT_COUNT);
		udma_pool_destroy(d->pool[DEMO_POOL_PKT]);
		d->pool[DEMO_POOL_PKT] = NULL;
	}
	d->pkt_count = count;
	d->rx_posted = count / 8 < 512 ? count / 8 : 512;
	return 0;
}

/* Device, context, pools, queues: 0, or -1 with d->why set. */
static int setup(struct demo *d, struct demo_verdict *v)
{
	struct udma_ctx_opts co = {
		.iova_mode = UDMA_IOVA_AUTO, .page_size = d->o.page_size, .numa_node = UDMA_NUMA_ANY};
	char blk[24];
	int rc;

	block_spec(d->o.block_bytes, blk, sizeof(blk));
	if (!d->o.thread) {
		const char *simd = simd_default_path();

		/* The usual failure, in one line rather than the child's two. */
		if (strchr(simd, '/') && access(simd, X_OK))
			return demo_fail_err(
				d, errno,
				"the simulated device program %s%s: %s; build it with `make`, set "
				"UDMA_SIMD to its path, or run `udma demo --thread`",
				simd, getenv("UDMA_SIMD") && *getenv("UDMA_SIMD") ? " (from UDMA_SIMD)" : "",
				strerror(errno));
		rc = simd_spawn(&d->proc, simd, NULL);
		if (rc)
			return demo_fail_err(
				d, -rc,
				"the simulated device process %s %s (see above); build it with `make`, "
				"set UDMA_SIMD to its path, or run `udma demo --thread`",
				simd, rc == -ETIMEDOUT ? "did not start listening" : "did not start");
		d->spawned = true;
		v->pid = d->proc.pid;
		snprintf(d->spec, sizeof(d->spec), "sim:demo,queues=%d,block=%s@%s", DEMO_NQUEUES, blk,
			 d->proc.sock);
	} else {
		v->pid = getpid();
		snprintf(d->spec, sizeof(d->spec), "sim:demo,queues=%d,block=%s", DEMO_NQUEUES, blk);
	}
	if ((rc = udma_ctx_create(&co, &d->ctx)))
		return demo_fail_err(d, -rc, "%s", udma_last_error());
	snprintf(v->iova_reason, sizeof(v->iova_reason), "%s", udma_ctx_iova_reason(d->ctx));
	/* PA on 4 KiB pages needs physically contiguous runs for the rings and
	 * block buffers, which a fresh machine often lacks; the simulated device
	 * needs no physical addresses, so without free hugepages use VA. */
	if (udma_ctx_iova_mode(d->ctx) == UDMA_IOVA_PA && d->o.page_size != UDMA_PAGE_2M &&
	    d->o.page_size != UDMA_PAGE_1G && udma_hugepage_available(UDMA_PAGE_2M, UDMA_NUMA_ANY) <= 0) {
		udma_ctx_destroy(d->ctx);
		co.iova_mode = UDMA_IOVA_VA;
		if ((rc = udma_ctx_create(&co, &d->ctx))) {
			d->ctx = NULL;
			return demo_fail_err(d, -rc, "%s", udma_last_error());
		}
		snprintf(v->iova_reason, sizeof(v->iova_reason),
			 "PA needs hugepages and no 2 MiB page is free (reserve some: udma hugepages "
			 "--reserve 32M, as make run does); the simulated device needs no physical "
			 "addresses");
	}
	snprintf(v->iova_mode, sizeof(v->iova_mode), "%s",
		 udma_ctx_iova_mode(d->ctx) == UDMA_IOVA_PA ? "PA" : "VA");
	if ((rc = udma_dev_open(d->ctx, d->spec, &d->dev)))
		return demo_fail_err(d, -rc, "%s", udma_last_error());
	if ((rc = simdrv_attach(&d->drv, d->ctx, d->dev, d->o.irq))) {
		d->attached = d->drv.bar != NULL;
		return demo_fail_err(d, -rc,
				     "the device did not answer as the simulated DMA device (%s); is %s "
				     "the udma-simd that `make` built?",
				     strerror(-rc), d->o.thread ? "libudma" : simd_default_path());
	}
	d->attached = true;
	/* After the device is attached: an out-of-process device gets regions
	 * made from now on (the rings, the pools). */
	simdrv_wr32(&d->drv, SIMDEV_REG_BLK_SIZE, DEMO_BLK_SIZE);
	if (dma_memory(d))
		return -1;
	if ((rc = simdrv_enable(&d->drv)))
		return demo_fail_err(d, -rc, "the device did not start (%s)%s", strerror(-rc),
				     rc == -ENODEV ? ": its process died; see its message above" : "");
	if (simdrv_rd64(&d->drv, SIMDEV_REG_BLK_COUNT) != d->o.block_bytes / DEMO_BLK_SIZE)
		return demo_fail(d, "the device's block store holds %llu blocks of 4 KiB, %zu were asked",
				 (unsigned long long)simdrv_rd64(&d->drv, SIMDEV_REG_BLK_COUNT),
				 d->o.block_bytes / DEMO_BLK_SIZE);
	return 0;
}

/* The page size of the packet pool's region(s), read back from the regions. */
static void pool_pages(struct demo *d, struct demo_verdict *v)
{
	const struct udma_region *r = NULL;

	while ((r = udma_region_next(d->ctx, r))) {
		if (strncmp(udma_region_name(r), "pool:pkt", 8))
			continue;
		if (!v->page_size || udma_region_page_size(r) < v->page_size)
			v->page_size = udma_region_page_size(r);
		v->pool_bytes += udma_region_size(r);
		v->pool_regions++;
	}
}

/* Release everything, in the order a driver must (buffers back, device
 * stopped, memory freed, device gone), measuring on the way. */
static void teardown(struct demo *d, struct demo_verdict *v)
{
	unsigned i;
	bool gone;

	demo_progress_clear(d);
	v->faults = v->drops = -1;
	if (d->ctx)
		pool_pages(d, v);
	gone = !d->attached || simdrv_gone(&d->drv);
	if (!gone) {
		/* The counters are since reset: read them before anything resets
		 * the device (taking buffers back, detaching). */
		v->faults = simdrv_rd32(&d->drv, SIMDEV_REG_FAULT_COUNT);
		v->fault_iova = simdrv_rd64(&d->drv, SIMDEV_REG_FAULT_IOVA);
		v->drops = (long long)simdrv_rd64(&d->drv, SIMDEV_REG_STAT_RX_DROP);
	}
	demo_reclaim(d);
	if (d->attached)
		simdrv_detach(&d->drv);
	for (i = 0; i < DEMO_NPOOLS; i++) {
		if (!d->pool[i])
			continue;
		v->count[i] = i == DEMO_POOL_PKT ? d->pkt_count : DEMO_BLK_BUFS;
		v->avail[i] = udma_pool_avail(d->pool[i]);
		v->leaked += v->count[i] - v->avail[i];
		udma_pool_destroy(d->pool[i]);
	}
	udma_dev_close(d->dev);
	v->simd_status = -1;
	/* A device that never had a driver would wait for one: stop it now. */
	if (d->spawned && !d->dev)
		simd_reap(&d->proc, 0);
	else if (d->spawned)
		v->simd_status = simd_reap(&d->proc, DEMO_REAP_MS);
	udma_ctx_destroy(d->ctx);
}

static void decide(struct demo *d, struct demo_verdict *v)
{
	if (!d->why[0] && v->faults != 0)
		demo_fail(d,
			  "the device logged %lld IOMMU faults (the last at IOVA 0x%llx): a descriptor "
			  "pointed outside udma memory",
			  v->faults, (unsigned long long)v->fault_iova);
	if (!d->why[0] && v->drops != 0)
		demo_fail(d, "the device dropped %lld packets with no RX buffer posted", v->drops);
	if (!d->why[0] && v->leaked)
		demo_fail(d, "%u buffers did not come back to their pools", v->leaked);
	if (!d->why[0] && v->simd_status > 128)
		demo_fail(d, "the device process (udma-simd, pid %d) was killed by signal %d (%s)",
			  (int)v->pid, v->simd_status - 128, strsignal(v->simd_status - 128));
	else if (!d->why[0] && v->simd_status > 0)
		demo_fail(
			d,
			"the device process (udma-simd, pid %d) exited with status %d; see its message above",
			(int)v->pid, v->simd_status);
	v->ok = !d->why[0];
	v->why = d->why;
	v->err = d->err;
}

int cmd_demo(const struct cli *c, int argc, char **argv)
{
	struct sigaction sa = {.sa_handler = on_signal};
	struct demo_verdict v = {.pid = -1};
	struct demo *d;
	int rc;

	d = calloc(1, sizeof(*d));
	if (!d)
		return cli_fail(c, 1, ENOMEM, "out of memory");
	rc = parse_args(c, argc, argv, &d->o);
	if (rc) {
		free(d);
		return rc < 0 ? 0 : rc;
	}
	/* No SA_RESTART: a ^C ends a wait at once; the loops see the flag. */
	sigemptyset(&sa.sa_mask);
	sigaction(SIGINT, &sa, NULL);
	sigaction(SIGTERM, &sa, NULL);
	d->progress = isatty(STDERR_FILENO);
	if (!setup(d, &v) && !demo_nic_run(d))
		demo_blk_run(d);
	teardown(d, &v);
	decide(d, &v);
	if (c->json)
		demo_report_json(d, &v);
	else if (d->nic.sent || d->blk.written)
		demo_report_text(d, &v);
	fflush(stdout);
	if (!v.ok && !c->json)
		fprintf(stderr, "%s: %s\n", c->name, d->why);
	rc = v.ok ? 0 : demo_interrupted ? 130 : 1;
	free(d);
	return rc;
}
