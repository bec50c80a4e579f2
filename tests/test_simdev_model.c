/* SPDX-License-Identifier: MIT */
/*
 * The simulated device's model, driven through its BAR and rings as a driver
 * would: DMA copy and fill, NIC loopback, block store, IOMMU faults (unmapped,
 * overrun, guard page, remapped while memoised), bad descriptors, CQ phase and back-pressure, reset,
 * interrupt mode, a polling device thread, and random garbage descriptors.
 */
#include <errno.h>
#include <poll.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/eventfd.h>
#include <sys/mman.h>
#include <unistd.h>

#include "tests/support/helpers.h"
#include "sim/simdev_model.h"

#define PAGE	  4096u
#define BUF_LEN	  (64u * 1024u)
#define CANARY	  0xa5
#define NQ	  4u
#define RING_SIZE 64u

/* DMA memory: [canary][A][guard, PROT_NONE][B][canary]; only A and B are
 * mapped in the device's IOMMU (IOVA = VA). */
#define AREA_LEN (PAGE + BUF_LEN + PAGE + BUF_LEN + PAGE)

struct fx {
	void *bar;
	struct simdev *d;
	uint8_t *area, *a, *guard, *b, *c0, *c1;
	uint8_t *rings;
	size_t rings_len;
	int db_fd, irq_fd, blk_fd;
	struct simdev_sqe *sq[NQ];
	struct simdev_cqe *cq[NQ];
	uint32_t sq_size, cq_size;
	uint32_t sq_tail[NQ], cq_head[NQ], phase[NQ];
	int threaded;
	pthread_t thread;
};

static void w32(struct fx *f, unsigned off, uint32_t v)
{
	__atomic_store_n((uint32_t *)((uint8_t *)f->bar + off), v, __ATOMIC_RELEASE);
}

static void w64(struct fx *f, unsigned off, uint64_t v)
{
	__atomic_store_n((uint64_t *)((uint8_t *)f->bar + off), v, __ATOMIC_RELEASE);
}

static uint32_t r32(struct fx *f, unsigned off)
{
	return __atomic_load_n((uint32_t *)((uint8_t *)f->bar + off), __ATOMIC_ACQUIRE);
}

static uint64_t r64(struct fx *f, unsigned off)
{
	return __atomic_load_n((uint64_t *)((uint8_t *)f->bar + off), __ATOMIC_ACQUIRE);
}

static uint64_t iova(const void *p)
{
	return (uint64_t)(uintptr_t)p;
}

/* Create the device with NQ queue pairs, unconfigured; block store of
 * blk_bytes (0: none). */
static void fx_init(struct fx *f, uint64_t blk_bytes, uint32_t sq_size, uint32_t cq_size)
{
	struct simdev_config cfg = {0};

	memset(f, 0, sizeof(*f));
	f->sq_size = sq_size;
	f->cq_size = cq_size;
	f->bar = aligned_alloc(PAGE, SIMDEV_BAR0_SIZE);
	assert_non_null(f->bar);
	f->area = mmap(NULL, AREA_LEN, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
	assert_true(f->area != MAP_FAILED);
	memset(f->area, CANARY, AREA_LEN);
	f->c0 = f->area;
	f->a = f->c0 + PAGE;
	f->guard = f->a + BUF_LEN;
	f->b = f->guard + PAGE;
	f->c1 = f->b + BUF_LEN;
	assert_int_equal(mprotect(f->guard, PAGE, PROT_NONE), 0);
	f->rings_len = NQ * (SIMDEV_MAX_DEPTH * (sizeof(struct simdev_sqe) + sizeof(struct simdev_cqe)));
	f->rings = mmap(NULL, f->rings_len, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
	assert_true(f->rings != MAP_FAILED);
	f->db_fd = eventfd(0, EFD_CLOEXEC | EFD_NONBLOCK);
	f->irq_fd = eventfd(0, EFD_CLOEXEC | EFD_NONBLOCK);
	assert_true(f->db_fd >= 0 && f->irq_fd >= 0);
	f->blk_fd = -1;
	if (blk_bytes) {
		f->blk_fd = memfd_create("simdev-blk", MFD_CLOEXEC);
		assert_true(f->blk_fd >= 0);
		assert_int_equal(ftruncate(f->blk_fd, (off_t)blk_bytes), 0);
	}
	cfg = (struct simdev_config){.bar = f->bar,
				     .num_queues = NQ,
				     .block_fd = f->blk_fd,
				     .block_bytes = blk_bytes,
				     .doorbell_fd = f->db_fd,
				     .irq_fd = f->irq_fd};
	assert_int_equal(simdev_create(&cfg, &f->d), 0);
	assert_int_equal(simdev_iommu_map(f->d, iova(f->a), f->a, BUF_LEN), 0);
	assert_int_equal(simdev_iommu_map(f->d, iova(f->b), f->b, BUF_LEN), 0);
	assert_int_equal(simdev_iommu_map(f->d, iova(f->rings), f->rings, f->rings_len), 0);
}

/* Set up queue q of type (sizes from fx_init) and clear the driver's side. */
static void fx_queue(struct fx *f, unsigned q, unsigned type)
{
	uint8_t *base =
		f->rings + q * SIMDEV_MAX_DEPTH * (sizeof(struct simdev_sqe) + sizeof(struct simdev_cqe));

	f->sq[q] = (struct simdev_sqe *)base;
	f->cq[q] = (struct simdev_cqe *)(base + SIMDEV_MAX_DEPTH * sizeof(struct simdev_sqe));
	memset(f->cq[q], 0, SIMDEV_MAX_DEPTH * sizeof(struct simdev_cqe));
	f->sq_tail[q] = f->cq_head[q] = 0;
	f->phase[q] = 1;
	w64(f, SIMDEV_Q_BASE(q) + SIMDEV_Q_SQ_BASE, iova(f->sq[q]));
	w32(f, SIMDEV_Q_BASE(q) + SIMDEV_Q_SQ_SIZE, f->sq_size);
	w64(f, SIMDEV_Q_BASE(q) + SIMDEV_Q_CQ_BASE, iova(f->cq[q]));
	w32(f, SIMDEV_Q_BASE(q) + SIMDEV_Q_CQ_SIZE, f->cq_size);
	w32(f, SIMDEV_Q_BASE(q) + SIMDEV_Q_CTRL, SIMDEV_QCTRL_ENABLE | SIMDEV_QCTRL_TYPE(type));
}

static void fx_enable(struct fx *f, uint32_t extra)
{
	w32(f, SIMDEV_REG_CTRL, SIMDEV_CTRL_ENABLE | extra);
}

static void *fx_thread(void *arg)
{
	struct fx *f = arg;

	return (void *)(intptr_t)simdev_run(f->d);
}

static void fx_start(struct fx *f)
{
	f->threaded = 1;
	th_thread_start(&f->thread, fx_thread, f);
}

static void fx_fini(struct fx *f)
{
	if (f->threaded) {
		void *rc;

		simdev_stop(f->d);
		pthread_join(f->thread, &rc);
		assert_int_equal((intptr_t)rc, 0);
	}
	simdev_destroy(f->d);
	munmap(f->rings, f->rings_len);
	munmap(f->area, AREA_LEN);
	close(f->db_fd);
	close(f->irq_fd);
	if (f->blk_fd >= 0)
		close(f->blk_fd);
	free(f->bar);
}

static void submit(struct fx *f, unsigned q, const struct simdev_sqe *e)
{
	uint64_t one = 1;

	f->sq[q][f->sq_tail[q]] = *e;
	f->sq_tail[q] = (f->sq_tail[q] + 1) & (f->sq_size - 1);
	w32(f, SIMDEV_Q_BASE(q) + SIMDEV_Q_SQ_TAIL, f->sq_tail[q]);
	if (r32(f, SIMDEV_REG_CTRL) & SIMDEV_CTRL_IRQ)
		assert_int_equal(write(f->db_fd, &one, sizeof(one)), sizeof(one));
}

/* Take the next completion of queue q if there is one (phase says so). */
static int reap(struct fx *f, unsigned q, struct simdev_cqe *out)
{
	struct simdev_cqe *c = &f->cq[q][f->cq_head[q]];
	uint16_t st = __atomic_load_n(&c->status, __ATOMIC_ACQUIRE);

	if (SIMDEV_CQE_PHASE(st) != f->phase[q])
		return 0;
	*out = *c;
	out->status = st;
	if (++f->cq_head[q] == f->cq_size) {
		f->cq_head[q] = 0;
		f->phase[q] ^= 1;
	}
	w32(f, SIMDEV_Q_BASE(q) + SIMDEV_Q_CQ_HEAD, f->cq_head[q]);
	return 1;
}

/* The next completion of q: polls the device directly unless it has a thread. */
static struct simdev_cqe wait_cqe(struct fx *f, unsigned q)
{
	struct simdev_cqe c;

	for (long i = 0; i < 50000000; i++) {
		if (reap(f, q, &c))
			return c;
		if (!f->threaded)
			assert_true(simdev_poll(f->d) >= 0);
		else if (i % 64 == 0)
			sched_yield();
	}
	fail_msg("no completion on queue %u", q);
	return c;
}

static unsigned cqe_status(const struct simdev_cqe *c)
{
	return SIMDEV_CQE_STATUS(c->status);
}

static struct simdev_sqe sqe_make(uint8_t op, uint32_t len, uint64_t src, uint64_t dst, uint64_t cookie)
{
	return (struct simdev_sqe){.opcode = op, .len = len, .src = src, .dst = dst, .cookie = cookie};
}

static void assert_bytes(const uint8_t *p, int v, size_t n)
{
	for (size_t i = 0; i < n; i++)
		if (p[i] != (uint8_t)v)
			fail_msg("byte %zu is %#x, not %#x", i, p[i], (uint8_t)v);
}

static void assert_canaries(struct fx *f)
{
	assert_bytes(f->c0, CANARY, PAGE);
	assert_bytes(f->c1, CANARY, PAGE);
}

static void test_create(void **state)
{
	struct simdev_config cfg = {0};
	struct simdev *d;
	struct fx f;

	(void)state;
	assert_int_equal(simdev_create(NULL, &d), -EINVAL);
	assert_int_equal(simdev_create(&cfg, &d), -EINVAL);
	fx_init(&f, 1u << 20, RING_SIZE, RING_SIZE);
	assert_int_equal(r32(&f, SIMDEV_REG_ID), SIMDEV_ID_VALUE);
	assert_int_equal(r32(&f, SIMDEV_REG_VERSION), SIMDEV_VERSION);
	assert_int_equal(r32(&f, SIMDEV_REG_NUM_QUEUES), NQ);
	assert_int_equal(r32(&f, SIMDEV_REG_MAX_DEPTH), SIMDEV_MAX_DEPTH);
	assert_int_equal(r32(&f, SIMDEV_REG_BLK_SIZE), 512);
	assert_int_equal(r64(&f, SIMDEV_REG_BLK_COUNT), (1u << 20) / 512);
	cfg = (struct simdev_config){.bar = f.bar, .num_queues = SIMDEV_MAX_QUEUES + 1, .block_fd = -1};
	assert_int_equal(simdev_create(&cfg, &d), -EINVAL);
	cfg.num_queues = 1;
	cfg.block_fd = f.blk_fd;
	cfg.block_bytes = 1000;
	assert_int_equal(simdev_create(&cfg, &d), -EINVAL);
	/* Overlapping and empty mappings are refused; unmap needs a mapping's start. */
	assert_int_equal(simdev_iommu_map(f.d, iova(f.a) + 16, f.a + 16, 64), -EEXIST);
	assert_int_equal(simdev_iommu_map(f.d, iova(f.a) - 16, f.a - 16, 32), -EEXIST);
	assert_int_equal(simdev_iommu_map(f.d, iova(f.c0), f.c0, 0), -EINVAL);
	assert_int_equal(simdev_iommu_map(f.d, UINT64_MAX - 8, f.c0, 64), -EINVAL);
	assert_int_equal(simdev_iommu_unmap(f.d, iova(f.a) + 1), -ENOENT);
	assert_int_equal(simdev_iommu_unmap(f.d, iova(f.a)), 0);
	assert_int_equal(simdev_iommu_unmap(f.d, iova(f.a)), -ENOENT);
	fx_fini(&f);
}

static void test_dma_copy_fill(void **state)
{
	static const uint32_t sizes[] = {1, 63, 64, 4095, 4096, 9000, BUF_LEN};
	struct simdev_cqe c;
	struct fx f;
	uint64_t bytes = 0;

	(void)state;
	fx_init(&f, 0, RING_SIZE, RING_SIZE);
	fx_queue(&f, 0, SIMDEV_QTYPE_DMA);
	fx_enable(&f, 0);
	for (unsigned i = 0; i < sizeof(sizes) / sizeof(sizes[0]); i++) {
		struct simdev_sqe e = sqe_make(SIMDEV_OP_FILL, sizes[i], 0x40 + i, iova(f.a), i);

		memset(f.a, 0, BUF_LEN);
		memset(f.b, 0, BUF_LEN);
		submit(&f, 0, &e);
		c = wait_cqe(&f, 0);
		assert_int_equal(cqe_status(&c), SIMDEV_ST_OK);
		assert_int_equal(c.cookie, i);
		assert_int_equal(c.len, sizes[i]);
		assert_bytes(f.a, 0x40 + i, sizes[i]);
		assert_bytes(f.a + sizes[i], 0, BUF_LEN - sizes[i]);
		for (uint32_t j = 0; j < sizes[i]; j++)
			f.a[j] = (uint8_t)(j * 7 + i);
		e = sqe_make(SIMDEV_OP_COPY, sizes[i], iova(f.a), iova(f.b), 100 + i);
		submit(&f, 0, &e);
		c = wait_cqe(&f, 0);
		assert_int_equal(cqe_status(&c), SIMDEV_ST_OK);
		assert_int_equal(c.cookie, 100 + i);
		assert_memory_equal(f.a, f.b, sizes[i]);
		assert_bytes(f.b + sizes[i], 0, BUF_LEN - sizes[i]);
		bytes += 2ull * sizes[i];
	}
	assert_int_equal(r64(&f, SIMDEV_REG_STAT_DESCS), 14);
	assert_int_equal(r64(&f, SIMDEV_REG_STAT_BYTES), bytes);
	assert_int_equal(r32(&f, SIMDEV_REG_FAULT_COUNT), 0);
	assert_true(r32(&f, SIMDEV_REG_INT_STATUS) & 1u);
	assert_true(r32(&f, SIMDEV_REG_STATUS) & SIMDEV_STATUS_READY);
	assert_canaries(&f);
	fx_fini(&f);
}

static void test_nic_loopback(void **state)
{
	struct simdev_sqe e;
	struct simdev_cqe c;
	struct fx f;

	(void)state;
	fx_init(&f, 0, RING_SIZE, RING_SIZE);
	fx_queue(&f, 0, SIMDEV_QTYPE_NIC_TX);
	fx_queue(&f, 1, SIMDEV_QTYPE_NIC_RX);
	fx_enable(&f, 0);
	for (unsigned i = 0; i < 1500; i++)
		f.a[i] = (uint8_t)(i ^ 0x5a);

	/* No buffer posted: the packet is dropped and counted, TX completes. */
	e = sqe_make(SIMDEV_OP_NIC_TX, 1500, iova(f.a), 0, 1);
	submit(&f, 0, &e);
	c = wait_cqe(&f, 0);
	assert_int_equal(cqe_status(&c), SIMDEV_ST_OK);
	assert_int_equal(r64(&f, SIMDEV_REG_STAT_RX_DROP), 1);

	/* Posted: the packet lands with its length and the post's cookie. */
	memset(f.b, 0, 2048);
	e = sqe_make(SIMDEV_OP_NIC_RX_POST, 2048, 0, iova(f.b), 77);
	submit(&f, 1, &e);
	e = sqe_make(SIMDEV_OP_NIC_TX, 1500, iova(f.a), 0, 2);
	submit(&f, 0, &e);
	c = wait_cqe(&f, 0);
	assert_int_equal(cqe_status(&c), SIMDEV_ST_OK);
	assert_int_equal(c.cookie, 2);
	c = wait_cqe(&f, 1);
	assert_int_equal(cqe_status(&c), SIMDEV_ST_OK);
	assert_int_equal(c.cookie, 77);
	assert_int_equal(c.len, 1500);
	assert_memory_equal(f.a, f.b, 1500);
	assert_bytes(f.b + 1500, 0, 548);

	/* Too big for the buffer: the RX completion says so, nothing written. */
	memset(f.b, 0, 2048);
	e = sqe_make(SIMDEV_OP_NIC_RX_POST, 64, 0, iova(f.b), 78);
	submit(&f, 1, &e);
	e = sqe_make(SIMDEV_OP_NIC_TX, 100, iova(f.a), 0, 3);
	submit(&f, 0, &e);
	c = wait_cqe(&f, 0);
	assert_int_equal(cqe_status(&c), SIMDEV_ST_OK);
	c = wait_cqe(&f, 1);
	assert_int_equal(cqe_status(&c), SIMDEV_ST_TOO_SMALL);
	assert_int_equal(c.cookie, 78);
	assert_int_equal(c.len, 100);
	assert_bytes(f.b, 0, 2048);
	assert_int_equal(r64(&f, SIMDEV_REG_STAT_RX_DROP), 1);
	assert_canaries(&f);
	fx_fini(&f);
}

static void block_round_trip(uint32_t bs)
{
	const uint64_t store = 1u << 20;
	const uint64_t count = store / bs;
	struct simdev_sqe e;
	struct simdev_cqe c;
	uint8_t check[4096];
	struct fx f;

	fx_init(&f, store, RING_SIZE, RING_SIZE);
	fx_queue(&f, 0, SIMDEV_QTYPE_BLOCK);
	w32(&f, SIMDEV_REG_BLK_SIZE, bs);
	fx_enable(&f, 0);
	for (unsigned i = 0; i < 8 * bs; i++)
		f.a[i] = (uint8_t)(i * 31 + bs);
	e = sqe_make(SIMDEV_OP_BLK_WRITE, 8 * bs, iova(f.a), 0, 1);
	e.block = 3;
	submit(&f, 0, &e);
	c = wait_cqe(&f, 0);
	assert_int_equal(cqe_status(&c), SIMDEV_ST_OK);
	assert_int_equal(r64(&f, SIMDEV_REG_BLK_COUNT), count);
	/* It is in the backing file, where it belongs. */
	assert_int_equal(pread(f.blk_fd, check, bs, 3 * bs), bs);
	assert_memory_equal(check, f.a, bs);

	memset(f.b, 0, BUF_LEN);
	e = sqe_make(SIMDEV_OP_BLK_READ, 8 * bs, 0, iova(f.b), 2);
	e.block = 3;
	submit(&f, 0, &e);
	c = wait_cqe(&f, 0);
	assert_int_equal(cqe_status(&c), SIMDEV_ST_OK);
	assert_int_equal(c.len, 8 * bs);
	assert_memory_equal(f.a, f.b, 8 * bs);

	/* The last block is fine; one past, or a run past the end, is not. */
	e = sqe_make(SIMDEV_OP_BLK_READ, bs, 0, iova(f.b), 3);
	e.block = count - 1;
	submit(&f, 0, &e);
	c = wait_cqe(&f, 0);
	assert_int_equal(cqe_status(&c), SIMDEV_ST_OK);
	e.block = count;
	submit(&f, 0, &e);
	c = wait_cqe(&f, 0);
	assert_int_equal(cqe_status(&c), SIMDEV_ST_BAD_BLOCK);
	e.block = count - 1;
	e.len = 2 * bs;
	submit(&f, 0, &e);
	c = wait_cqe(&f, 0);
	assert_int_equal(cqe_status(&c), SIMDEV_ST_BAD_BLOCK);
	e.block = UINT64_MAX;
	submit(&f, 0, &e);
	c = wait_cqe(&f, 0);
	assert_int_equal(cqe_status(&c), SIMDEV_ST_BAD_BLOCK);
	e.block = 0;
	e.len = bs + 1;
	submit(&f, 0, &e);
	c = wait_cqe(&f, 0);
	assert_int_equal(cqe_status(&c), SIMDEV_ST_BAD_LEN);
	assert_canaries(&f);
	fx_fini(&f);
}

static void test_block(void **state)
{
	struct simdev_sqe e;
	struct simdev_cqe c;
	struct fx f;

	(void)state;
	block_round_trip(512);
	block_round_trip(4096);
	/* No backing store: block opcodes are not supported. */
	fx_init(&f, 0, RING_SIZE, RING_SIZE);
	fx_queue(&f, 0, SIMDEV_QTYPE_BLOCK);
	fx_enable(&f, 0);
	e = sqe_make(SIMDEV_OP_BLK_READ, 512, 0, iova(f.b), 1);
	submit(&f, 0, &e);
	c = wait_cqe(&f, 0);
	assert_int_equal(cqe_status(&c), SIMDEV_ST_BAD_OPCODE);
	fx_fini(&f);
}

/* One faulting copy: status IOMMU, the fault logged, nothing written. */
static void fault_case(struct fx *f, uint64_t src, uint64_t dst, uint32_t len, uint64_t fault_iova,
		       unsigned reason)
{
	struct simdev_sqe e = sqe_make(SIMDEV_OP_COPY, len, src, dst, 9);
	uint32_t count = r32(f, SIMDEV_REG_FAULT_COUNT);
	struct simdev_cqe c;

	submit(f, 0, &e);
	c = wait_cqe(f, 0);
	assert_int_equal(cqe_status(&c), SIMDEV_ST_IOMMU);
	assert_int_equal(c.len, 0);
	assert_int_equal(r32(f, SIMDEV_REG_FAULT_COUNT), count + 1);
	assert_int_equal(r64(f, SIMDEV_REG_FAULT_IOVA), fault_iova);
	assert_int_equal(r32(f, SIMDEV_REG_FAULT_LEN), len);
	assert_int_equal(r32(f, SIMDEV_REG_FAULT_QUEUE), 0);
	assert_int_equal(r32(f, SIMDEV_REG_FAULT_REASON), reason);
	assert_true(r32(f, SIMDEV_REG_INT_STATUS) & SIMDEV_INT_FAULT);
}

static void test_faults(void **state)
{
	struct fx f;

	(void)state;
	fx_init(&f, 0, RING_SIZE, RING_SIZE);
	fx_queue(&f, 0, SIMDEV_QTYPE_DMA);
	fx_enable(&f, 0);
	memset(f.a, 0x11, BUF_LEN);
	memset(f.b, 0x22, BUF_LEN);
	/* Into the unmapped canary page after B. */
	fault_case(&f, iova(f.a), iova(f.c1), 64, iova(f.c1), SIMDEV_FAULT_UNMAPPED);
	/* From the end of A on past it (into the guard page). */
	fault_case(&f, iova(f.a) + BUF_LEN - 16, iova(f.b), 64, iova(f.a) + BUF_LEN - 16,
		   SIMDEV_FAULT_OVERRUN);
	/* Into the last bytes of B and past them (into the canary). */
	fault_case(&f, iova(f.a), iova(f.b) + BUF_LEN - 8, 16, iova(f.b) + BUF_LEN - 8, SIMDEV_FAULT_OVERRUN);
	/* Into the guard page between A and B: the process would crash if touched. */
	fault_case(&f, iova(f.a), iova(f.guard) + 100, 64, iova(f.guard) + 100, SIMDEV_FAULT_UNMAPPED);
	fault_case(&f, iova(f.guard), iova(f.b), 4096, iova(f.guard), SIMDEV_FAULT_UNMAPPED);
	/* A range that wraps the IOVA space. */
	fault_case(&f, iova(f.a), UINT64_MAX - 8, 64, UINT64_MAX - 8, SIMDEV_FAULT_UNMAPPED);
	fault_case(&f, iova(f.a) + 8, iova(f.b), BUF_LEN, iova(f.a) + 8, SIMDEV_FAULT_OVERRUN);
	/* A fill into A's unmapped neighbour below. */
	{
		struct simdev_sqe e = sqe_make(SIMDEV_OP_FILL, 64, 0xee, iova(f.c0), 1);
		struct simdev_cqe c;

		submit(&f, 0, &e);
		c = wait_cqe(&f, 0);
		assert_int_equal(cqe_status(&c), SIMDEV_ST_IOMMU);
	}
	assert_bytes(f.a, 0x11, BUF_LEN);
	assert_bytes(f.b, 0x22, BUF_LEN);
	assert_canaries(&f);
	/* Unmapped while configured: the mapping is gone for the device too. */
	assert_int_equal(simdev_iommu_unmap(f.d, iova(f.b)), 0);
	fault_case(&f, iova(f.a), iova(f.b), 64, iova(f.b), SIMDEV_FAULT_UNMAPPED);
	assert_bytes(f.b, 0x22, BUF_LEN);
	fx_fini(&f);
}

/* Copy len bytes from A to dst through the device: the completion's status. */
static unsigned copy_status(struct fx *f, uint64_t dst, uint32_t len, uint64_t cookie)
{
	struct simdev_sqe e = sqe_make(SIMDEV_OP_COPY, len, iova(f->a), dst, cookie);
	struct simdev_cqe c;

	submit(f, 0, &e);
	c = wait_cqe(f, 0);
	assert_int_equal(c.cookie, cookie);
	return cqe_status(&c);
}

/* The device memoises its last translations: a mapping removed, moved to
 * other memory or shrunk must not be reached through a stale one (that would
 * be DMA into memory its owner has freed). Polled, then with a device thread. */
static void test_iommu_remap(void **state)
{
	uint8_t *alt = mmap(NULL, BUF_LEN, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);

	(void)state;
	assert_true(alt != MAP_FAILED);
	for (int threaded = 0; threaded < 2; threaded++) {
		struct fx f;
		uint64_t cookie = 0;

		fx_init(&f, 0, RING_SIZE, RING_SIZE);
		fx_queue(&f, 0, SIMDEV_QTYPE_DMA);
		fx_enable(&f, 0);
		if (threaded)
			fx_start(&f);
		memset(alt, 0x33, BUF_LEN);
		memset(f.a, 0x11, BUF_LEN);
		/* B's IOVA reaches B, and the device has memoised it. */
		assert_int_equal(copy_status(&f, iova(f.b), 256, cookie++), SIMDEV_ST_OK);
		assert_bytes(f.b, 0x11, 256);
		/* Remapped to other memory: the next copy lands there, B is left alone. */
		assert_int_equal(simdev_iommu_unmap(f.d, iova(f.b)), 0);
		assert_int_equal(simdev_iommu_map(f.d, iova(f.b), alt, BUF_LEN), 0);
		memset(f.a, 0x44, BUF_LEN);
		assert_int_equal(copy_status(&f, iova(f.b), 256, cookie++), SIMDEV_ST_OK);
		assert_bytes(alt, 0x44, 256);
		assert_bytes(f.b, 0x11, 256);
		/* Remapped shorter: past the new end is a fault, though the old
		 * mapping went on. */
		assert_int_equal(simdev_iommu_unmap(f.d, iova(f.b)), 0);
		assert_int_equal(simdev_iommu_map(f.d, iova(f.b), alt, PAGE), 0);
		assert_int_equal(copy_status(&f, iova(f.b) + PAGE, 64, cookie++), SIMDEV_ST_IOMMU);
		assert_int_equal(r32(&f, SIMDEV_REG_FAULT_REASON), SIMDEV_FAULT_UNMAPPED);
		assert_int_equal(copy_status(&f, iova(f.b) + PAGE - 32, 64, cookie++), SIMDEV_ST_IOMMU);
		assert_int_equal(r32(&f, SIMDEV_REG_FAULT_REASON), SIMDEV_FAULT_OVERRUN);
		/* Unmapped: a fault, and neither memory is touched. */
		assert_int_equal(simdev_iommu_unmap(f.d, iova(f.b)), 0);
		memset(f.a, 0x55, BUF_LEN);
		assert_int_equal(copy_status(&f, iova(f.b), 256, cookie++), SIMDEV_ST_IOMMU);
		assert_int_equal(r32(&f, SIMDEV_REG_FAULT_REASON), SIMDEV_FAULT_UNMAPPED);
		assert_bytes(alt, 0x44, 256);
		assert_bytes(alt + 256, 0x33, BUF_LEN - 256);
		assert_bytes(f.b, 0x11, 256);
		assert_canaries(&f);
		fx_fini(&f);
	}
	munmap(alt, BUF_LEN);
}

static void test_bad_descriptors(void **state)
{
	static const struct {
		uint8_t op;
		uint32_t len;
		unsigned status;
	} cases[] = {
		{0x00, 64, SIMDEV_ST_BAD_OPCODE},
		{0x7f, 64, SIMDEV_ST_BAD_OPCODE},
		{SIMDEV_OP_NIC_TX, 64, SIMDEV_ST_BAD_OPCODE},
		{SIMDEV_OP_NIC_RX_POST, 64, SIMDEV_ST_BAD_OPCODE},
		{SIMDEV_OP_BLK_WRITE, 512, SIMDEV_ST_BAD_OPCODE},
		{SIMDEV_OP_COPY, 0, SIMDEV_ST_BAD_LEN},
		{SIMDEV_OP_FILL, (1u << 20) + 1, SIMDEV_ST_BAD_LEN},
		{SIMDEV_OP_COPY, UINT32_MAX, SIMDEV_ST_BAD_LEN},
	};
	struct simdev_cqe c;
	struct fx f;

	(void)state;
	fx_init(&f, 0, RING_SIZE, RING_SIZE);
	fx_queue(&f, 0, SIMDEV_QTYPE_DMA);
	fx_enable(&f, 0);
	memset(f.b, 0, BUF_LEN);
	for (unsigned i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
		struct simdev_sqe e = sqe_make(cases[i].op, cases[i].len, iova(f.a), iova(f.b), i);

		submit(&f, 0, &e);
		c = wait_cqe(&f, 0);
		assert_int_equal(c.cookie, i);
		assert_int_equal(cqe_status(&c), cases[i].status);
	}
	assert_bytes(f.b, 0, BUF_LEN);
	assert_int_equal(r32(&f, SIMDEV_REG_FAULT_COUNT), 0);
	fx_fini(&f);
}

/* Many more completions than CQ entries: the phase flips on every pass. */
static void test_cq_phase_wrap(void **state)
{
	struct simdev_cqe c;
	struct fx f;
	unsigned seen[2] = {0, 0};

	(void)state;
	fx_init(&f, 0, 16, 8);
	fx_queue(&f, 0, SIMDEV_QTYPE_DMA);
	fx_enable(&f, 0);
	for (unsigned i = 0; i < 200; i++) {
		struct simdev_sqe e = sqe_make(SIMDEV_OP_FILL, 8, i, iova(f.a) + 8 * i, i);

		submit(&f, 0, &e);
		if (i % 3 == 2) {
			for (unsigned j = i - 2; j <= i; j++) {
				c = wait_cqe(&f, 0);
				assert_int_equal(c.cookie, j);
				assert_int_equal(cqe_status(&c), SIMDEV_ST_OK);
				assert_int_equal(c.sq_head, (j + 1) % 16);
				seen[SIMDEV_CQE_PHASE(c.status)]++;
			}
		}
	}
	while (reap(&f, 0, &c) || simdev_poll(f.d) > 0)
		;
	assert_true(seen[0] >= 90 && seen[1] >= 90);
	for (unsigned i = 0; i < 200; i++)
		assert_bytes(f.a + 8 * i, (uint8_t)i, 8);
	fx_fini(&f);
}

/* A full CQ stops the device consuming the SQ until the driver frees entries. */
static void test_cq_full(void **state)
{
	struct simdev_cqe c;
	struct fx f;

	(void)state;
	fx_init(&f, 0, 16, 4);
	fx_queue(&f, 0, SIMDEV_QTYPE_DMA);
	fx_enable(&f, 0);
	for (unsigned i = 0; i < 10; i++) {
		struct simdev_sqe e = sqe_make(SIMDEV_OP_FILL, 8, 1, iova(f.a), i);

		submit(&f, 0, &e);
	}
	for (int i = 0; i < 10; i++)
		assert_true(simdev_poll(f.d) >= 0);
	/* Three entries: one stays free so a full ring is not an empty one. */
	assert_int_equal(r32(&f, SIMDEV_Q_BASE(0) + SIMDEV_Q_SQ_HEAD), 3);
	assert_true(reap(&f, 0, &c));
	assert_int_equal(c.cookie, 0);
	assert_int_equal(simdev_poll(f.d), 1);
	assert_int_equal(simdev_poll(f.d), 0);
	assert_int_equal(r32(&f, SIMDEV_Q_BASE(0) + SIMDEV_Q_SQ_HEAD), 4);
	for (unsigned i = 1; i < 10; i++) {
		c = wait_cqe(&f, 0);
		assert_int_equal(c.cookie, i);
	}
	fx_fini(&f);
}

/* Reset with work in flight: every submitted entry and posted RX buffer
 * comes back ABORTED; the device then waits to be enabled again. */
static void test_reset(void **state)
{
	struct simdev_cqe c;
	struct fx f;
	unsigned got = 0;
	uint64_t cookies = 0;

	(void)state;
	fx_init(&f, 0, RING_SIZE, RING_SIZE);
	fx_queue(&f, 0, SIMDEV_QTYPE_DMA);
	fx_queue(&f, 1, SIMDEV_QTYPE_NIC_RX);
	fx_enable(&f, 0);
	assert_int_equal(simdev_poll(f.d), 0);
	for (unsigned i = 0; i < 20; i++) {
		struct simdev_sqe e = sqe_make(SIMDEV_OP_COPY, 64, iova(f.a), iova(f.b), i);

		submit(&f, 0, &e);
	}
	for (unsigned i = 0; i < 10; i++) {
		struct simdev_sqe e = sqe_make(SIMDEV_OP_NIC_RX_POST, 2048, 0, iova(f.b), 100 + i);

		submit(&f, 1, &e);
	}
	w32(&f, SIMDEV_REG_CTRL, SIMDEV_CTRL_ENABLE | SIMDEV_CTRL_RESET);
	assert_int_equal(simdev_poll(f.d), 30);
	for (unsigned q = 0; q < 2; q++) {
		while (reap(&f, q, &c)) {
			assert_int_equal(cqe_status(&c), SIMDEV_ST_ABORTED);
			cookies |= 1ull << (c.cookie >= 100 ? c.cookie - 100 + 20 : c.cookie);
			got++;
		}
	}
	assert_int_equal(got, 30);
	assert_int_equal(cookies, (1ull << 30) - 1);
	assert_int_equal(r32(&f, SIMDEV_REG_CTRL) & (SIMDEV_CTRL_RESET | SIMDEV_CTRL_ENABLE), 0);
	assert_int_equal(r32(&f, SIMDEV_REG_STATUS) & SIMDEV_STATUS_READY, 0);
	assert_int_equal(simdev_poll(f.d), 0);

	/* Re-enabled with fresh rings, it works again. */
	fx_queue(&f, 0, SIMDEV_QTYPE_DMA);
	fx_enable(&f, 0);
	{
		struct simdev_sqe e = sqe_make(SIMDEV_OP_FILL, 64, 0x33, iova(f.b), 5);

		submit(&f, 0, &e);
		c = wait_cqe(&f, 0);
		assert_int_equal(cqe_status(&c), SIMDEV_ST_OK);
		assert_bytes(f.b, 0x33, 64);
	}
	fx_fini(&f);
}

/* A ring outside the IOMMU: the queue reports an error and does nothing. */
static void test_ring_fault(void **state)
{
	struct fx f;

	(void)state;
	fx_init(&f, 0, RING_SIZE, RING_SIZE);
	fx_queue(&f, 0, SIMDEV_QTYPE_DMA);
	w64(&f, SIMDEV_Q_BASE(0) + SIMDEV_Q_SQ_BASE, iova(f.c1));
	fx_queue(&f, 1, SIMDEV_QTYPE_DMA);
	w32(&f, SIMDEV_Q_BASE(1) + SIMDEV_Q_CQ_SIZE, 100); /* not a power of two */
	fx_enable(&f, 0);
	assert_int_equal(simdev_poll(f.d), 0);
	assert_int_equal(r32(&f, SIMDEV_Q_BASE(0) + SIMDEV_Q_STATUS), SIMDEV_QSTATUS_ERROR);
	assert_int_equal(r32(&f, SIMDEV_Q_BASE(1) + SIMDEV_Q_STATUS), SIMDEV_QSTATUS_ERROR);
	assert_int_equal(r32(&f, SIMDEV_REG_FAULT_REASON), SIMDEV_FAULT_RING);
	w32(&f, SIMDEV_Q_BASE(0) + SIMDEV_Q_SQ_TAIL, 5);
	assert_int_equal(simdev_poll(f.d), 0);
	assert_canaries(&f);
	fx_fini(&f);
}

/* Interrupt mode: a device thread sleeping on the doorbell eventfd wakes,
 * completes, and makes the interrupt eventfd readable. */
static void test_irq_mode(void **state)
{
	struct pollfd pfd;
	struct simdev_cqe c;
	struct fx f;
	uint64_t v;

	(void)state;
	fx_init(&f, 0, RING_SIZE, RING_SIZE);
	fx_queue(&f, 0, SIMDEV_QTYPE_DMA);
	fx_enable(&f, SIMDEV_CTRL_IRQ);
	fx_start(&f);
	for (unsigned i = 0; i < 20; i++) {
		struct simdev_sqe e = sqe_make(SIMDEV_OP_FILL, 256, i, iova(f.b), i);

		submit(&f, 0, &e);
		pfd = (struct pollfd){.fd = f.irq_fd, .events = POLLIN};
		assert_int_equal(poll(&pfd, 1, 5000), 1);
		assert_int_equal(read(f.irq_fd, &v, sizeof(v)), sizeof(v));
		assert_true(reap(&f, 0, &c));
		assert_int_equal(c.cookie, i);
		assert_int_equal(cqe_status(&c), SIMDEV_ST_OK);
		assert_bytes(f.b, (uint8_t)i, 256);
		__atomic_fetch_and((uint32_t *)((uint8_t *)f.bar + SIMDEV_REG_INT_STATUS), ~1u,
				   __ATOMIC_ACQ_REL);
		if (i == 10)
			usleep(120 * 1000); /* the device sleeps through a timeout or two */
	}
	/* Masked: completions but no interrupt. */
	w32(&f, SIMDEV_REG_INT_MASK, 1);
	{
		struct simdev_sqe e = sqe_make(SIMDEV_OP_FILL, 256, 0xab, iova(f.b), 99);

		submit(&f, 0, &e);
		c = wait_cqe(&f, 0);
		assert_int_equal(c.cookie, 99);
	}
	pfd = (struct pollfd){.fd = f.irq_fd, .events = POLLIN};
	assert_int_equal(poll(&pfd, 1, 100), 0);
	fx_fini(&f);
}

/* Polling mode on a device thread, with the IOMMU remapped under it. */
static void test_polling_thread(void **state)
{
#ifdef TH_UNDER_TSAN
	const unsigned n = 2000;
#else
	const unsigned n = 20000;
#endif
	struct fx f;
	unsigned sent = 0, done = 0;

	(void)state;
	fx_init(&f, 0, 256, 256);
	fx_queue(&f, 0, SIMDEV_QTYPE_DMA);
	fx_enable(&f, 0);
	for (unsigned i = 0; i < BUF_LEN; i++)
		f.a[i] = (uint8_t)i;
	fx_start(&f);
	while (done < n) {
		struct simdev_cqe c;

		while (sent < n && sent - done < 200) {
			uint32_t off = (sent * 64) % (BUF_LEN / 2);
			struct simdev_sqe e =
				sqe_make(SIMDEV_OP_COPY, 64, iova(f.a) + off, iova(f.b) + off, sent);

			submit(&f, 0, &e);
			sent++;
		}
		c = wait_cqe(&f, 0);
		assert_int_equal(c.cookie, done);
		assert_int_equal(cqe_status(&c), SIMDEV_ST_OK);
		done++;
		if (done % 1000 == 0) {
			/* Map and unmap a neighbour while the device runs. */
			assert_int_equal(simdev_iommu_map(f.d, iova(f.c1), f.c1, PAGE), 0);
			assert_int_equal(simdev_iommu_unmap(f.d, iova(f.c1)), 0);
		}
	}
	assert_memory_equal(f.a, f.b, BUF_LEN / 2);
	fx_fini(&f);
}

static uint64_t rng_state = 0x9e3779b97f4a7c15ull;

static uint64_t rnd(void)
{
	rng_state ^= rng_state << 13;
	rng_state ^= rng_state >> 7;
	rng_state ^= rng_state << 17;
	return rng_state;
}

/* An IOVA near something interesting: the mappings' edges, the guard page. */
static uint64_t rnd_iova(struct fx *f)
{
	uint64_t spots[] = {iova(f->a),
			    iova(f->a) + BUF_LEN,
			    iova(f->guard),
			    iova(f->b),
			    iova(f->b) + BUF_LEN,
			    iova(f->c0),
			    0,
			    UINT64_MAX};

	switch (rnd() % 4) {
	case 0: return rnd();
	case 1: return spots[rnd() % 8] + rnd() % 256 - 128;
	default: return iova(rnd() % 2 ? f->a : f->b) + rnd() % BUF_LEN;
	}
}

static void garbage_sqe(struct fx *f, struct simdev_sqe *e)
{
	static const uint8_t ops[] = {SIMDEV_OP_COPY,	     SIMDEV_OP_FILL,	 SIMDEV_OP_NIC_TX,
				      SIMDEV_OP_NIC_RX_POST, SIMDEV_OP_BLK_READ, SIMDEV_OP_BLK_WRITE};
	uint64_t *w = (uint64_t *)e;

	for (unsigned i = 0; i < sizeof(*e) / 8; i++)
		w[i] = rnd();
	if (rnd() % 4 == 0)
		return; /* all random */
	e->opcode = ops[rnd() % 6];
	e->len = rnd() % 3 == 0 ? (uint32_t)rnd() : (uint32_t)(rnd() % 8192);
	if (rnd() % 2)
		e->len &= ~511u;
	e->src = rnd_iova(f);
	e->dst = rnd_iova(f);
	e->block = rnd() % 4 ? rnd() % 4096 : rnd();
}

/* Random descriptors on every queue type: nothing crashes, nothing outside
 * the mappings changes, every entry completes. */
static void test_garbage(void **state)
{
	const unsigned total = 100000;
	unsigned sent = 0, done = 0, outstanding[NQ] = {0}, by_status[8] = {0};
	struct fx f;

	(void)state;
	fx_init(&f, 4u << 20, 256, 256);
	fx_queue(&f, 0, SIMDEV_QTYPE_DMA);
	fx_queue(&f, 1, SIMDEV_QTYPE_NIC_TX);
	fx_queue(&f, 2, SIMDEV_QTYPE_NIC_RX);
	fx_queue(&f, 3, SIMDEV_QTYPE_BLOCK);
	fx_enable(&f, 0);
	while (done < total) {
		struct simdev_cqe c;

		for (unsigned q = 0; q < NQ && sent < total; q++) {
			while (outstanding[q] < 200 && sent < total) {
				struct simdev_sqe e;

				garbage_sqe(&f, &e);
				submit(&f, q, &e);
				outstanding[q]++;
				sent++;
			}
		}
		assert_true(simdev_poll(f.d) >= 0);
		for (unsigned q = 0; q < NQ; q++) {
			while (reap(&f, q, &c)) {
				assert_true(cqe_status(&c) <= SIMDEV_ST_IO_ERROR);
				by_status[cqe_status(&c)]++;
				outstanding[q]--;
				done++;
			}
		}
		/* RX posts complete only when a packet arrives: recycle them. */
		if (outstanding[2] && (outstanding[2] >= 200 || sent == total) &&
		    outstanding[0] + outstanding[1] + outstanding[3] == 0) {
			w32(&f, SIMDEV_REG_CTRL, SIMDEV_CTRL_ENABLE | SIMDEV_CTRL_RESET);
			assert_true(simdev_poll(f.d) >= 0);
			while (reap(&f, 2, &c)) {
				assert_int_equal(cqe_status(&c), SIMDEV_ST_ABORTED);
				outstanding[2]--;
				done++;
			}
			assert_int_equal(outstanding[2], 0);
			for (unsigned q = 0; q < NQ; q++)
				fx_queue(&f, q,
					 q == 0	  ? SIMDEV_QTYPE_DMA
					 : q == 1 ? SIMDEV_QTYPE_NIC_TX
					 : q == 2 ? SIMDEV_QTYPE_NIC_RX
						  : SIMDEV_QTYPE_BLOCK);
			fx_enable(&f, 0);
		}
	}
	assert_canaries(&f);
	for (unsigned q = 0; q < NQ; q++)
		assert_int_equal(r32(&f, SIMDEV_Q_BASE(q) + SIMDEV_Q_STATUS), 0);
	/* The mix reached the operations as well as the checks. */
	print_message("garbage: ok %u opcode %u len %u iommu %u block %u too-small %u\n", by_status[0],
		      by_status[1], by_status[2], by_status[3], by_status[4], by_status[6]);
	assert_true(by_status[SIMDEV_ST_OK] > 1000 && by_status[SIMDEV_ST_IOMMU] > 1000);
	assert_true(by_status[SIMDEV_ST_BAD_OPCODE] > 1000 && by_status[SIMDEV_ST_BAD_LEN] > 1000);
	fx_fini(&f);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		th_test(test_create),	     th_test(test_dma_copy_fill), th_test(test_nic_loopback),
		th_test(test_block),	     th_test(test_faults),	  th_test(test_bad_descriptors),
		th_test(test_cq_phase_wrap), th_test(test_cq_full),	  th_test(test_reset),
		th_test(test_ring_fault),    th_test(test_irq_mode),	  th_test(test_polling_thread),
		th_test(test_garbage),	     th_test(test_iommu_remap),
	};

	th_threads_warm_up(TH_MAX_THREADS);
	return cmocka_run_group_tests(tests, NULL, NULL);
}
