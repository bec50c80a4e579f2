/* SPDX-License-Identifier: MIT */
/*
 * The device layer with the simulated device, driven by the reference driver
 * (drivers/simdrv/simdrv.c): DMA copy and fill on pool and heap buffers, NIC
 * loopback, block store, in polling and interrupt modes, VA and (as root) PA
 * IOVAs; regions created after the device opened; IOMMU faults; reset with
 * buffers in flight; spec errors. Every operation runs twice: the device in a
 * thread ("sim:NAME") and in a udma-simd process ("sim:NAME@SOCKET").
 */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "tests/support/helpers.h"
#include "tests/support/qemu_user.h"
#include "sim/simd_spawn.h"
#include "drivers/simdrv/simdrv.h"

#define BUF_SIZE  2048u
#define POOL_BUFS 1024u
#define DEPTH	  256u

struct mode {
	enum udma_iova_mode iova;
	bool irq;
	const char *label;
};

static const struct mode va_poll = {UDMA_IOVA_VA, false, "VA, polling"};
static const struct mode va_irq = {UDMA_IOVA_VA, true, "VA, interrupts"};
static const struct mode pa_poll = {UDMA_IOVA_PA, false, "PA, polling"};
static const struct mode pa_irq = {UDMA_IOVA_PA, true, "PA, interrupts"};

/* Which group runs: the device in a thread, or in a udma-simd process. */
static bool in_process;

struct fix {
	struct udma_ctx *ctx;
	struct udma_dev *dev;
	struct simdrv drv;
	struct udma_pool *pool;
	struct simd_proc proc;
};

/* The device first: regions made after it are handed to a device process. */
static void fix_open(struct fix *f, const struct mode *m, const char *spec)
{
	struct udma_ctx_opts o = {.iova_mode = m->iova, .numa_node = UDMA_NUMA_ANY};
	struct udma_pool_opts po = {
		.obj_size = BUF_SIZE, .count = POOL_BUFS, .numa_node = UDMA_NUMA_ANY, .name = "dev-bufs"};
	char full[256];
	int rc;

	if (m->iova == UDMA_IOVA_PA)
		th_skip_if_qemu_lacks(TH_EMUL_IO_URING);
	memset(f, 0, sizeof(*f));
	f->proc.pid = -1;
	snprintf(full, sizeof(full), "%s", spec);
	if (in_process) {
		assert_int_equal(simd_spawn(&f->proc, NULL, NULL), 0);
		snprintf(full, sizeof(full), "%s@%s", spec, f->proc.sock);
	}
	assert_int_equal(udma_ctx_create(&o, &f->ctx), 0);
	rc = udma_dev_open(f->ctx, full, &f->dev);
	if (rc)
		print_error("udma_dev_open(%s): %s\n", full, udma_last_error());
	assert_int_equal(rc, 0);
	assert_int_equal(udma_pool_create(f->ctx, &po, &f->pool), 0);
	assert_int_equal(simdrv_attach(&f->drv, f->ctx, f->dev, m->irq), 0);
}

static void fix_close(struct fix *f)
{
	assert_int_equal(simdrv_detach(&f->drv), 0);
	assert_int_equal(udma_pool_avail(f->pool), POOL_BUFS);
	udma_pool_destroy(f->pool);
	udma_dev_close(f->dev);
	udma_ctx_destroy(f->ctx);
	/* A device process exits, cleanly, once its driver has gone. */
	if (in_process)
		assert_int_equal(simd_reap(&f->proc, 2000), 0);
}

/* Submit n entries and wait for their n completions (in cqes, in order). */
static void run(struct simdrv_queue *q, const struct simdev_sqe *sqes, unsigned n, struct simdev_cqe *cqes)
{
	unsigned sent = 0, got = 0, spins = 0;

	while (got < n) {
		sent += simdrv_submit(q, sqes + sent, n - sent);
		got += simdrv_reap(q, cqes + got, n - got);
		if (got < n) {
			int rc = simdrv_wait(q->drv, 2000);

			assert_true(rc == 0 || rc == -ETIMEDOUT);
			if (rc == -ETIMEDOUT) {
				/* One more look: a completion may race the interrupt. */
				got += simdrv_reap(q, cqes + got, n - got);
				assert_true(++spins < 3);
			}
		}
	}
}

static struct simdev_sqe copy_sqe(uint64_t dst, uint64_t src, uint32_t len, uint64_t cookie)
{
	return (struct simdev_sqe){
		.opcode = SIMDEV_OP_COPY, .len = len, .src = src, .dst = dst, .cookie = cookie};
}

static void pattern(uint8_t *p, size_t len, unsigned seed)
{
	size_t i;

	for (i = 0; i < len; i++)
		p[i] = (uint8_t)(seed * 131 + i * 7 + (i >> 8));
}

static void check_pattern(const uint8_t *p, size_t len, unsigned seed)
{
	size_t i;

	for (i = 0; i < len; i++)
		if (p[i] != (uint8_t)(seed * 131 + i * 7 + (i >> 8)))
			fail_msg("byte %zu of buffer %u differs", i, seed);
}

static void dma_ops(const struct mode *m)
{
	struct simdev_sqe sqe[64];
	struct simdev_cqe cqe[64];
	void *bufs[64];
	uint8_t *hsrc, *hdst;
	uint64_t hsrc_iova, hdst_iova;
	/* Heap: 256 KiB in VA mode; in PA mode the heap wants physically
	 * contiguous slabs, which 4 KiB pages rarely give: 3000 B there. */
	const size_t hlen = m->iova == UDMA_IOVA_PA ? 3000 : 256 << 10;
	struct simdrv_queue *q;
	struct fix f;
	unsigned i;
	size_t off;

	fix_open(&f, m, "sim:t0");
	assert_int_equal(simdrv_queue_setup(&f.drv, 0, SIMDEV_QTYPE_DMA, DEPTH), 0);
	assert_int_equal(simdrv_enable(&f.drv), 0);
	q = &f.drv.q[0];

	/* Pool buffers: 32 copies of src i -> dst i, then 32 fills. */
	assert_int_equal(udma_pool_get_bulk(f.pool, bufs, 64), 0);
	for (i = 0; i < 32; i++) {
		pattern(bufs[i], BUF_SIZE, i);
		memset(bufs[32 + i], 0, BUF_SIZE);
		sqe[i] = copy_sqe(udma_pool_iova(f.pool, bufs[32 + i]), udma_pool_iova(f.pool, bufs[i]),
				  BUF_SIZE, i);
	}
	run(q, sqe, 32, cqe);
	for (i = 0; i < 32; i++) {
		assert_int_equal(cqe[i].cookie, i);
		assert_int_equal(SIMDEV_CQE_STATUS(cqe[i].status), SIMDEV_ST_OK);
		assert_int_equal(cqe[i].len, BUF_SIZE);
		check_pattern(bufs[32 + i], BUF_SIZE, i);
	}
	for (i = 0; i < 32; i++) {
		memset(bufs[i], 0x55, BUF_SIZE);
		sqe[i] = (struct simdev_sqe){.opcode = SIMDEV_OP_FILL,
					     .len = BUF_SIZE - i,
					     .src = 0xa0 + i,
					     .dst = udma_pool_iova(f.pool, bufs[i]),
					     .cookie = 100 + i};
	}
	run(q, sqe, 32, cqe);
	for (i = 0; i < 32; i++) {
		uint8_t *p = bufs[i];
		size_t j;

		assert_int_equal(SIMDEV_CQE_STATUS(cqe[i].status), SIMDEV_ST_OK);
		for (j = 0; j < BUF_SIZE; j++)
			assert_int_equal(p[j], j < BUF_SIZE - i ? 0xa0 + i : 0x55); /* len exact */
	}
	udma_pool_put_bulk(f.pool, bufs, 64);

	/* Heap buffers, one descriptor per IOVA-contiguous piece. */
	hsrc = udma_malloc(f.ctx, hlen, 64, &hsrc_iova);
	if (!hsrc)
		print_error("udma_malloc: %s\n", udma_last_error());
	hdst = udma_zmalloc(f.ctx, hlen, 64, &hdst_iova);
	assert_non_null(hsrc);
	assert_non_null(hdst);
	pattern(hsrc, hlen, 7);
	/* One descriptor per IOVA-contiguous piece, as a driver must in PA mode. */
	for (i = 0, off = 0; off < hlen; i++) {
		size_t a = udma_iova_contig(f.ctx, hsrc + off, hlen - off);
		size_t b = udma_iova_contig(f.ctx, hdst + off, hlen - off);
		size_t len = a < b ? a : b;

		assert_true(len > 0 && i < 64);
		sqe[i] = copy_sqe(udma_iova(f.ctx, hdst + off), udma_iova(f.ctx, hsrc + off), (uint32_t)len,
				  i);
		off += len;
	}
	run(q, sqe, i, cqe);
	while (i--)
		assert_int_equal(SIMDEV_CQE_STATUS(cqe[i].status), SIMDEV_ST_OK);
	check_pattern(hdst, hlen, 7);
	assert_int_equal(simdrv_rd32(&f.drv, SIMDEV_REG_FAULT_COUNT), 0);
	udma_free(f.ctx, hsrc);
	udma_free(f.ctx, hdst);
	fix_close(&f);
}

static void dma_va_poll(void **state)
{
	(void)state;
	dma_ops(&va_poll);
}

static void dma_va_irq(void **state)
{
	(void)state;
	dma_ops(&va_irq);
}

static void dma_pa_poll(void **state)
{
	(void)state;
	dma_ops(&pa_poll);
}

static void dma_pa_irq(void **state)
{
	(void)state;
	dma_ops(&pa_irq);
}

static unsigned pkt_len(unsigned i)
{
	return 64 + (i * 2654435761u >> 7) % (1500 - 64 + 1);
}

static void nic_loopback(const struct mode *m)
{
	enum { PKTS = 4000, RX_POST = 128 };
	struct simdrv_queue *tx, *rx;
	struct simdev_cqe cqe[64];
	unsigned sent = 0, tx_done = 0, rx_done = 0, credit = 0, posted = 0, idle = 0;
	struct fix f;

	fix_open(&f, m, "sim:nic0,queues=2");
	assert_int_equal(simdrv_queue_setup(&f.drv, 0, SIMDEV_QTYPE_NIC_TX, DEPTH), 0);
	assert_int_equal(simdrv_queue_setup(&f.drv, 1, SIMDEV_QTYPE_NIC_RX, DEPTH), 0);
	assert_int_equal(simdrv_enable(&f.drv), 0);
	tx = &f.drv.q[0];
	rx = &f.drv.q[1];
	while (rx_done < PKTS) {
		unsigned n, i, progress = 0;

		/* Keep RX buffers posted; a TX goes only against a posted buffer
		 * (credit), so the device never has to drop. */
		while (posted < PKTS && rx->inflight < RX_POST && simdrv_space(rx)) {
			uint8_t *b = udma_pool_get(f.pool);
			struct simdev_sqe e = {.opcode = SIMDEV_OP_NIC_RX_POST,
					       .len = BUF_SIZE,
					       .dst = udma_pool_iova(f.pool, b),
					       .cookie = (uintptr_t)b};

			assert_non_null(b);
			assert_int_equal(simdrv_submit(rx, &e, 1), 1);
			posted++;
			credit++;
			progress++;
		}
		while (sent < PKTS && credit && simdrv_space(tx)) {
			uint8_t *b = udma_pool_get(f.pool);
			struct simdev_sqe e = {.opcode = SIMDEV_OP_NIC_TX,
					       .len = pkt_len(sent),
					       .src = udma_pool_iova(f.pool, b),
					       .cookie = (uintptr_t)b};

			assert_non_null(b);
			pattern(b, e.len, sent);
			assert_int_equal(simdrv_submit(tx, &e, 1), 1);
			sent++;
			credit--;
			progress++;
		}
		n = simdrv_reap(tx, cqe, 64);
		for (i = 0; i < n; i++) {
			assert_int_equal(SIMDEV_CQE_STATUS(cqe[i].status), SIMDEV_ST_OK);
			udma_pool_put(f.pool, (void *)(uintptr_t)cqe[i].cookie);
		}
		tx_done += n;
		progress += n;
		n = simdrv_reap(rx, cqe, 64);
		for (i = 0; i < n; i++, rx_done++) {
			/* Packets land in the RX buffers in the order they were sent. */
			assert_int_equal(SIMDEV_CQE_STATUS(cqe[i].status), SIMDEV_ST_OK);
			assert_int_equal(cqe[i].len, pkt_len(rx_done));
			check_pattern((void *)(uintptr_t)cqe[i].cookie, cqe[i].len, rx_done);
			udma_pool_put(f.pool, (void *)(uintptr_t)cqe[i].cookie);
		}
		progress += n;
		if (!progress) {
			int rc = simdrv_wait(&f.drv, 1000);

			assert_true(rc == 0 || (rc == -ETIMEDOUT && ++idle < 3));
		}
	}
	while (tx_done < PKTS) {
		unsigned n = simdrv_reap(tx, cqe, 64), i;

		for (i = 0; i < n; i++)
			udma_pool_put(f.pool, (void *)(uintptr_t)cqe[i].cookie);
		tx_done += n;
		if (!n)
			simdrv_wait(&f.drv, 100);
	}
	assert_int_equal(simdrv_rd64(&f.drv, SIMDEV_REG_STAT_RX_DROP), 0);
	assert_int_equal(simdrv_rd32(&f.drv, SIMDEV_REG_FAULT_COUNT), 0);
	fix_close(&f);
}

static void nic_va_poll(void **state)
{
	(void)state;
	nic_loopback(&va_poll);
}

static void nic_va_irq(void **state)
{
	(void)state;
	nic_loopback(&va_irq);
}

static void nic_pa_poll(void **state)
{
	(void)state;
	nic_loopback(&pa_poll);
}

static void nic_pa_irq(void **state)
{
	(void)state;
	nic_loopback(&pa_irq);
}

static void block_rw(const struct mode *m)
{
	enum { N = 32, BS = 512 };
	struct simdev_sqe sqe[2 * N + 1];
	struct simdev_cqe cqe[2 * N + 1];
	void *bufs[2 * N];
	struct fix f;
	unsigned i;

	fix_open(&f, m, "sim:blk0,queues=1,block=1M");
	simdrv_wr32(&f.drv, SIMDEV_REG_BLK_SIZE, BS);
	assert_int_equal(simdrv_queue_setup(&f.drv, 0, SIMDEV_QTYPE_BLOCK, 128), 0);
	assert_int_equal(simdrv_enable(&f.drv), 0);
	assert_int_equal(simdrv_rd64(&f.drv, SIMDEV_REG_BLK_COUNT), (1 << 20) / BS);
	assert_int_equal(udma_pool_get_bulk(f.pool, bufs, 2 * N), 0);
	/* Write N 1 KiB extents (2 blocks each), spread over the store. */
	for (i = 0; i < N; i++) {
		pattern(bufs[i], 2 * BS, 1000 + i);
		sqe[i] = (struct simdev_sqe){.opcode = SIMDEV_OP_BLK_WRITE,
					     .len = 2 * BS,
					     .src = udma_pool_iova(f.pool, bufs[i]),
					     .block = i * 61,
					     .cookie = i};
	}
	run(&f.drv.q[0], sqe, N, cqe);
	for (i = 0; i < N; i++)
		assert_int_equal(SIMDEV_CQE_STATUS(cqe[i].status), SIMDEV_ST_OK);
	for (i = 0; i < N; i++) {
		memset(bufs[N + i], 0, 2 * BS);
		sqe[i] = (struct simdev_sqe){.opcode = SIMDEV_OP_BLK_READ,
					     .len = 2 * BS,
					     .dst = udma_pool_iova(f.pool, bufs[N + i]),
					     .block = i * 61,
					     .cookie = i};
	}
	/* And one past the end of the store. */
	sqe[N] = (struct simdev_sqe){.opcode = SIMDEV_OP_BLK_READ,
				     .len = BS,
				     .dst = udma_pool_iova(f.pool, bufs[N]),
				     .block = (1 << 20) / BS,
				     .cookie = N};
	run(&f.drv.q[0], sqe, N + 1, cqe);
	for (i = 0; i < N; i++) {
		assert_int_equal(SIMDEV_CQE_STATUS(cqe[i].status), SIMDEV_ST_OK);
		check_pattern(bufs[N + i], 2 * BS, 1000 + i);
	}
	assert_int_equal(SIMDEV_CQE_STATUS(cqe[N].status), SIMDEV_ST_BAD_BLOCK);
	udma_pool_put_bulk(f.pool, bufs, 2 * N);
	fix_close(&f);
}

static void block_va_irq(void **state)
{
	(void)state;
	block_rw(&va_irq);
}

static void block_pa_poll(void **state)
{
	(void)state;
	block_rw(&pa_poll);
}

/* A region made after udma_dev_open is mapped for the device at once. */
static void late_region(void **state)
{
	struct udma_region_opts ro = {.size = 4 << 20, .numa_node = UDMA_NUMA_ANY, .name = "late"};
	const struct mode *m =
		udma_pfn_readable() > 0 && !th_qemu_lacks(TH_EMUL_IO_URING, NULL, 0) ? &pa_poll : &va_poll;
	struct simdev_sqe sqe;
	struct simdev_cqe cqe;
	struct udma_region *r;
	uint8_t *a;
	struct fix f;
	size_t len;

	(void)state;
	fix_open(&f, m, "sim:late");
	assert_int_equal(simdrv_queue_setup(&f.drv, 0, SIMDEV_QTYPE_DMA, 16), 0);
	assert_int_equal(simdrv_enable(&f.drv), 0);
	assert_int_equal(udma_region_create(f.ctx, &ro, &r), 0);
	a = udma_region_addr(r);
	len = udma_iova_contig(f.ctx, a, 64 << 10);
	len = len < udma_iova_contig(f.ctx, a + (1 << 20), 64 << 10)
		      ? len
		      : udma_iova_contig(f.ctx, a + (1 << 20), 64 << 10);
	pattern(a, len, 3);
	memset(a + (1 << 20), 0, len);
	sqe = copy_sqe(udma_iova(f.ctx, a + (1 << 20)), udma_iova(f.ctx, a), (uint32_t)len, 1);
	run(&f.drv.q[0], &sqe, 1, &cqe);
	assert_int_equal(SIMDEV_CQE_STATUS(cqe.status), SIMDEV_ST_OK);
	check_pattern(a + (1 << 20), len, 3);
	/* Once destroyed, the device no longer reaches it. */
	sqe = copy_sqe(udma_iova(f.ctx, a + (1 << 20)), udma_iova(f.ctx, a), (uint32_t)len, 2);
	udma_region_destroy(r);
	run(&f.drv.q[0], &sqe, 1, &cqe);
	assert_int_equal(SIMDEV_CQE_STATUS(cqe.status), SIMDEV_ST_IOMMU);
	fix_close(&f);
}

/* At a real region's edges: a copy that runs past its last byte, and one
 * into the PROT_NONE guard after it (VA mode: the guard's IOVA is its
 * address). The device faults, and the region's last bytes stay as they were. */
static void edge_faults(struct fix *f, const uint8_t *src)
{
	struct udma_region_opts ro = {
		.size = (1 << 20) + 4096, .page_size = 4096, .numa_node = UDMA_NUMA_ANY, .name = "edge"};
	struct simdev_sqe sqe[2];
	struct simdev_cqe cqe[2];
	struct udma_region *r;
	uint8_t *end;

	assert_int_equal(udma_region_create(f->ctx, &ro, &r), 0);
	end = (uint8_t *)udma_region_addr(r) + udma_region_size(r);
	memset(end - 64, 0x5a, 64);
	sqe[0] = copy_sqe(udma_iova(f->ctx, end - 8), udma_pool_iova(f->pool, src), 16, 1);
	sqe[1] = copy_sqe((uint64_t)(uintptr_t)end + 100, udma_pool_iova(f->pool, src), 64, 2);
	run(&f->drv.q[0], sqe, 2, cqe);
	assert_int_equal(SIMDEV_CQE_STATUS(cqe[0].status), SIMDEV_ST_IOMMU);
	assert_int_equal(SIMDEV_CQE_STATUS(cqe[1].status), SIMDEV_ST_IOMMU);
	assert_int_equal(simdrv_rd64(&f->drv, SIMDEV_REG_FAULT_IOVA), (uint64_t)(uintptr_t)end + 100);
	assert_int_equal(simdrv_rd32(&f->drv, SIMDEV_REG_FAULT_REASON), SIMDEV_FAULT_UNMAPPED);
	for (unsigned i = 0; i < 64; i++)
		assert_int_equal((end - 64)[i], 0x5a);
	udma_region_destroy(r);
}

/* An IOVA outside every region: reported, logged, nothing touched. */
static void iommu_fault(void **state)
{
	const uint64_t bad = 0x1000; /* page 1: in no region, VA or PA */
	struct simdev_sqe sqe[2];
	struct simdev_cqe cqe[2];
	uint8_t *src;
	struct fix f;

	(void)state;
	fix_open(&f, &va_irq, "sim:fault");
	assert_int_equal(simdrv_queue_setup(&f.drv, 0, SIMDEV_QTYPE_DMA, 16), 0);
	assert_int_equal(simdrv_enable(&f.drv), 0);
	src = udma_pool_get(f.pool);
	pattern(src, BUF_SIZE, 9);
	sqe[0] = copy_sqe(bad, udma_pool_iova(f.pool, src), 512, 1);
	/* From a good buffer past its region's end: the range runs out. */
	sqe[1] = (struct simdev_sqe){
		.opcode = SIMDEV_OP_FILL, .len = 4096, .dst = UINT64_MAX - 100, .cookie = 2};
	run(&f.drv.q[0], sqe, 2, cqe);
	assert_int_equal(SIMDEV_CQE_STATUS(cqe[0].status), SIMDEV_ST_IOMMU);
	assert_int_equal(SIMDEV_CQE_STATUS(cqe[1].status), SIMDEV_ST_IOMMU);
	assert_int_equal(simdrv_rd32(&f.drv, SIMDEV_REG_FAULT_COUNT), 2);
	/* The log holds the last fault. */
	assert_int_equal(simdrv_rd64(&f.drv, SIMDEV_REG_FAULT_IOVA), UINT64_MAX - 100);
	assert_int_equal(simdrv_rd32(&f.drv, SIMDEV_REG_FAULT_QUEUE), 0);
	assert_int_not_equal(simdrv_rd32(&f.drv, SIMDEV_REG_FAULT_REASON), SIMDEV_FAULT_NONE);
	check_pattern(src, BUF_SIZE, 9);
	sqe[0] = copy_sqe(bad, udma_pool_iova(f.pool, src), 512, 3);
	run(&f.drv.q[0], sqe, 1, cqe);
	assert_int_equal(simdrv_rd64(&f.drv, SIMDEV_REG_FAULT_IOVA), bad);
	assert_int_equal(simdrv_rd32(&f.drv, SIMDEV_REG_FAULT_LEN), 512);
	assert_int_equal(simdrv_rd32(&f.drv, SIMDEV_REG_FAULT_REASON), SIMDEV_FAULT_UNMAPPED);
	edge_faults(&f, src);
	udma_pool_put(f.pool, src);
	fix_close(&f);
}

/* Reset with buffers in flight: every one comes back (ABORTED or done), and
 * the device works again afterwards. */
static void reset_in_flight(void **state)
{
	enum { RX = 100, CP = 100 };
	struct simdev_sqe sqe[RX > CP ? RX : CP];
	struct simdev_cqe cqe[DEPTH];
	void *bufs[RX + 2 * CP];
	unsigned i, n, aborted = 0, got[2] = {0, 0};
	struct fix f;

	(void)state;
	fix_open(&f, &va_poll, "sim:rst,queues=2");
	assert_int_equal(simdrv_queue_setup(&f.drv, 0, SIMDEV_QTYPE_DMA, DEPTH), 0);
	assert_int_equal(simdrv_queue_setup(&f.drv, 1, SIMDEV_QTYPE_NIC_RX, DEPTH), 0);
	assert_int_equal(simdrv_enable(&f.drv), 0);
	assert_int_equal(udma_pool_get_bulk(f.pool, bufs, RX + 2 * CP), 0);
	/* Posted RX buffers stay in flight until a packet comes: none will. */
	for (i = 0; i < RX; i++)
		sqe[i] = (struct simdev_sqe){.opcode = SIMDEV_OP_NIC_RX_POST,
					     .len = BUF_SIZE,
					     .dst = udma_pool_iova(f.pool, bufs[i]),
					     .cookie = (uintptr_t)bufs[i]};
	assert_int_equal(simdrv_submit(&f.drv.q[1], sqe, RX), RX);
	for (i = 0; i < CP; i++)
		sqe[i] = copy_sqe(udma_pool_iova(f.pool, bufs[RX + CP + i]),
				  udma_pool_iova(f.pool, bufs[RX + i]), BUF_SIZE, (uintptr_t)bufs[RX + i]);
	assert_int_equal(simdrv_submit(&f.drv.q[0], sqe, CP), CP);
	assert_int_equal(simdrv_reset(&f.drv), 0);
	for (i = 0; i < 2; i++) {
		n = simdrv_reap(&f.drv.q[i], cqe, DEPTH);
		while (n--) {
			unsigned st = SIMDEV_CQE_STATUS(cqe[n].status);

			assert_true(st == SIMDEV_ST_OK || st == SIMDEV_ST_ABORTED);
			aborted += st == SIMDEV_ST_ABORTED;
			udma_pool_put(f.pool, (void *)(uintptr_t)cqe[n].cookie);
			got[i]++;
		}
	}
	assert_int_equal(got[0], CP);
	assert_int_equal(got[1], RX);
	assert_true(aborted >= RX);
	udma_pool_put_bulk(f.pool, bufs + RX + CP, CP);
	assert_int_equal(udma_pool_avail(f.pool), POOL_BUFS);
	/* Enabled again, the rings start over. */
	assert_int_equal(simdrv_enable(&f.drv), 0);
	bufs[0] = udma_pool_get(f.pool);
	bufs[1] = udma_pool_get(f.pool);
	pattern(bufs[0], BUF_SIZE, 5);
	sqe[0] = copy_sqe(udma_pool_iova(f.pool, bufs[1]), udma_pool_iova(f.pool, bufs[0]), BUF_SIZE, 7);
	run(&f.drv.q[0], sqe, 1, cqe);
	assert_int_equal(SIMDEV_CQE_STATUS(cqe[0].status), SIMDEV_ST_OK);
	check_pattern(bufs[1], BUF_SIZE, 5);
	udma_pool_put_bulk(f.pool, bufs, 2);
	fix_close(&f);
}

static void open_errors(void **state)
{
	static const char *const bad[] = {
		"",
		"sim",
		"sim:",
		"bogus:x",
		"sim:a b",
		"sim:0123456789012345678901234567890123",
		"sim:x,",
		"sim:x,,queues=1",
		"sim:x,queues",
		"sim:x,queues=",
		"sim:x,queues=0",
		"sim:x,queues=9",
		"sim:x,queues=2x",
		"sim:x,block=100",
		"sim:x,block=lots",
		"sim:x,colour=blue",
	};
	struct udma_dev *dev = (void *)1;
	struct udma_ctx *ctx;
	void *addr;
	size_t len, i;

	(void)state;
	assert_int_equal(udma_ctx_create(NULL, &ctx), 0);
	th_assert_err(udma_dev_open(ctx, "sim:x", NULL), EINVAL);
	th_assert_err(udma_dev_open(NULL, "sim:x", &dev), EINVAL);
	assert_null(dev);
	th_assert_err(udma_dev_open(ctx, NULL, &dev), EINVAL);
	for (i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
		int rc = udma_dev_open(ctx, bad[i], &dev);

		if (rc != -EINVAL)
			fail_msg("'%s': expected -EINVAL, got %d", bad[i], rc);
		assert_null(dev);
		assert_true(udma_last_error()[0]);
	}

	/* A good one, and its per-call errors. */
	assert_int_equal(udma_dev_open(ctx, "sim:ok,queues=8,block=64K", &dev), 0);
	th_assert_err(udma_dev_bar(dev, 1, &addr, &len), EINVAL);
	th_assert_err(udma_dev_bar(dev, 0, NULL, &len), EINVAL);
	th_assert_err(udma_dev_irq_fd(dev, 1), EINVAL);
	th_assert_err(udma_dev_irq_ack(dev, 1), EINVAL);
	th_assert_err(udma_dev_notify(NULL), EINVAL);
	assert_int_equal(udma_dev_bar(dev, 0, &addr, &len), 0);
	assert_int_equal(len, SIMDEV_BAR0_SIZE);
	assert_int_equal(*(uint32_t *)addr, SIMDEV_ID_VALUE);
	assert_int_equal(((uint32_t *)addr)[SIMDEV_REG_NUM_QUEUES / 4], 8);
	assert_true(udma_dev_irq_fd(dev, 0) >= 0);
	assert_int_equal(udma_dev_irq_ack(dev, 0), 0); /* nothing pending: fine */
	assert_int_equal(udma_dev_notify(dev), 0);
	udma_dev_close(dev);
	udma_dev_close(NULL);
	udma_ctx_destroy(ctx);
}

/* udma_ctx_destroy closes a device left open, and says so. */
/* Port I/O and config space: the arguments are checked first, for any
 * device; a simulated device has neither, and says so. */
static void port_io_and_config_refused(void **state)
{
	struct udma_ctx *ctx;
	struct udma_dev *dev;
	uint32_t v = 0;
	uint8_t cfg[4];

	(void)state;
	assert_int_equal(udma_ctx_create(NULL, &ctx), 0);
	assert_int_equal(udma_dev_open(ctx, "sim:pio", &dev), 0);
	th_assert_err(udma_dev_io_read(NULL, 0, 0, &v, 4), EINVAL);
	th_assert_err(udma_dev_io_read(dev, 0, 0, NULL, 4), EINVAL);
	th_assert_err(udma_dev_io_write(dev, 0, 0, NULL, 4), EINVAL);
	th_assert_err(udma_dev_io_read(dev, 0, 0, &v, 3), EINVAL);
	assert_non_null(strstr(udma_last_error(), "1, 2 or 4"));
	th_assert_err(udma_dev_io_write(dev, 0, 0, &v, 8), EINVAL);
	th_assert_err(udma_dev_io_read(dev, 0, 0, &v, 0), EINVAL);
	th_assert_err(udma_dev_io_read(dev, 0, 2, &v, 4), EINVAL);
	assert_non_null(strstr(udma_last_error(), "multiple of the width"));
	th_assert_err(udma_dev_io_read(dev, 0, 0, &v, 4), ENOTSUP);
	assert_non_null(strstr(udma_last_error(), "no I/O port BARs"));
	th_assert_err(udma_dev_io_write(dev, 0, 0, &v, 2), ENOTSUP);
	th_assert_err(udma_dev_config_read(NULL, 0, cfg, sizeof(cfg)), EINVAL);
	th_assert_err(udma_dev_config_read(dev, 0, NULL, sizeof(cfg)), EINVAL);
	th_assert_err(udma_dev_config_read(dev, 0, cfg, sizeof(cfg)), ENOTSUP);
	assert_non_null(strstr(udma_last_error(), "not a PCI function"));
	udma_dev_close(dev);
	udma_ctx_destroy(ctx);
}

static void ctx_destroy_closes(void **state)
{
	struct udma_dev *a, *b;
	struct udma_ctx *ctx;

	(void)state;
	assert_int_equal(udma_ctx_create(NULL, &ctx), 0);
	assert_int_equal(udma_dev_open(ctx, "sim:left0", &a), 0);
	assert_int_equal(udma_dev_open(ctx, "sim:left1,block=8K", &b), 0);
	assert_non_null(udma_malloc(ctx, 100, 0, NULL)); /* a region while two devices are attached */
	udma_ctx_destroy(ctx);
}

static int no_op_event(void *arg, enum udma_mem_event ev, struct udma_region *r)
{
	(void)arg;
	(void)ev;
	(void)r;
	return 0;
}

/* The device layer holds a memory event subscriber slot while a device is
 * open, and only then: closing the last one gives the slot back, the next
 * open takes it again (or says why it cannot). */
static void subscriber_slot_while_open(void **state)
{
	static char arg[UDMA_MEM_EVENT_MAX];
	struct udma_dev *a, *b;
	struct udma_ctx *ctx;
	void *buf;
	int i;

	(void)state;
	assert_int_equal(udma_ctx_create(NULL, &ctx), 0);
	assert_int_equal(udma_dev_open(ctx, "sim:slot0", &a), 0);
	assert_int_equal(udma_dev_open(ctx, "sim:slot1", &b), 0);
	for (i = 0; i < UDMA_MEM_EVENT_MAX - 1; i++)
		assert_int_equal(udma_mem_event_register(ctx, no_op_event, &arg[i]), 0);
	th_assert_err(udma_mem_event_register(ctx, no_op_event, &arg[i]), ENOSPC);
	udma_dev_close(a);
	th_assert_err(udma_mem_event_register(ctx, no_op_event, &arg[i]), ENOSPC);
	udma_dev_close(b);
	assert_int_equal(udma_mem_event_register(ctx, no_op_event, &arg[i]), 0);

	/* A region to replay when the layer subscribes again. */
	assert_non_null(buf = udma_malloc(ctx, 100, 0, NULL));
	th_assert_err(udma_dev_open(ctx, "sim:slot2", &a), ENOSPC);
	assert_null(a);
	if (!strstr(udma_last_error(), "its devices need one while any is open"))
		fail_msg("the message does not say why the device needs a slot: %s", udma_last_error());
	assert_int_equal(udma_mem_event_unregister(ctx, no_op_event, &arg[0]), 0);
	assert_int_equal(udma_dev_open(ctx, "sim:slot2", &a), 0);
	th_assert_err(udma_mem_event_register(ctx, no_op_event, &arg[0]), ENOSPC);
	udma_dev_close(a);
	assert_int_equal(udma_mem_event_register(ctx, no_op_event, &arg[0]), 0);
	udma_free(ctx, buf);
	udma_ctx_destroy(ctx);
}

int main(void)
{
	const struct CMUnitTest thread_only[] = {
		th_test(open_errors),
		th_test(port_io_and_config_refused),
		th_test(ctx_destroy_closes),
		th_test(subscriber_slot_while_open),
	};
	const struct CMUnitTest va_tests[] = {
		th_test(dma_va_poll),  th_test(dma_va_irq),  th_test(nic_va_poll), th_test(nic_va_irq),
		th_test(block_va_irq), th_test(late_region), th_test(iommu_fault), th_test(reset_in_flight),
	};
	const struct CMUnitTest pa_tests[] = {
		th_test(dma_pa_poll), th_test(dma_pa_irq),    th_test(nic_pa_poll),
		th_test(nic_pa_irq),  th_test(block_pa_poll),
	};
	bool pa = udma_pfn_readable() > 0;
	int rc;

	th_threads_warm_up(TH_MAX_THREADS);
	/* In PA mode a queue's rings larger than a page must be physically
	 * contiguous; on 4 KiB pages the kernel may have no adjacent pages to
	 * give (seen on a fresh machine: none among 16388 candidates, the heap
	 * then fails with -ENOMEM saying so), so the PA groups would pass or
	 * fail by luck. They run on 2 MiB hugepages, reserved here as root if
	 * none are free and given back at exit. */
	if (pa && !th_hugepages_ensure(UDMA_PAGE_2M, 64))
		printf("dev_sim PA: on 4 KiB pages (no 2 MiB hugepages): a queue's rings need "
		       "physically adjacent pages, which this machine may not have\n");
	rc = cmocka_run_group_tests_name("dev_sim", thread_only, NULL, NULL);
	for (int proc = 0; proc < 2; proc++) {
		in_process = proc;
		rc |= _cmocka_run_group_tests(proc ? "dev_sim VA, device process"
						   : "dev_sim VA, device thread",
					      va_tests, sizeof(va_tests) / sizeof(va_tests[0]), NULL, NULL);
		if (pa)
			rc |= _cmocka_run_group_tests(
				proc ? "dev_sim PA, device process" : "dev_sim PA, device thread", pa_tests,
				sizeof(pa_tests) / sizeof(pa_tests[0]), NULL, NULL);
	}
	if (!pa)
		printf("dev_sim PA: not run, physical addresses need root (CAP_SYS_ADMIN)\n");
	return rc;
}
