/* SPDX-License-Identifier: MIT */
/*
 * The reference driver for the simulated DMA device (see simdrv.h). Read it
 * as a template for a real one: the comments say why each step is there.
 */
#include <errno.h>
#include <poll.h>
#include <sched.h>
#include <stdio.h>
#include <string.h>
#include <time.h>

#include "drivers/simdrv/simdrv.h"

/*
 * Registers are device memory: every access must really happen, in program
 * order relative to the DMA memory it publishes. Atomic accesses give both;
 * a doorbell is a release store so that the descriptors written before it are
 * visible to the device before it sees the new tail (on real hardware: a
 * write barrier, wmb(), before the MMIO write).
 */
uint32_t simdrv_rd32(const struct simdrv *drv, unsigned off)
{
	return __atomic_load_n((const uint32_t *)(drv->bar + off), __ATOMIC_ACQUIRE);
}

uint64_t simdrv_rd64(const struct simdrv *drv, unsigned off)
{
	return __atomic_load_n((const uint64_t *)(drv->bar + off), __ATOMIC_ACQUIRE);
}

void simdrv_wr32(struct simdrv *drv, unsigned off, uint32_t v)
{
	__atomic_store_n((uint32_t *)(drv->bar + off), v, __ATOMIC_RELEASE);
}

static void wr64(struct simdrv *drv, unsigned off, uint64_t v)
{
	__atomic_store_n((uint64_t *)(drv->bar + off), v, __ATOMIC_RELEASE);
}

static void qwr32(struct simdrv_queue *q, unsigned off, uint32_t v)
{
	simdrv_wr32(q->drv, SIMDEV_Q_BASE(q->id) + off, v);
}

/* Wait up to a second for (reg & mask) == want: the device acts on register
 * writes asynchronously, as hardware does. */
static int wait_reg(struct simdrv *drv, unsigned off, uint32_t mask, uint32_t want)
{
	struct timespec t0, t;

	clock_gettime(CLOCK_MONOTONIC, &t0);
	for (;;) {
		if ((simdrv_rd32(drv, off) & mask) == want)
			return 0;
		if (simdrv_gone(drv))
			return -ENODEV;
		clock_gettime(CLOCK_MONOTONIC, &t);
		if ((t.tv_sec - t0.tv_sec) * 1000000000L + (t.tv_nsec - t0.tv_nsec) > 1000000000L)
			return -ETIMEDOUT;
		sched_yield();
	}
}

int simdrv_attach(struct simdrv *drv, struct udma_ctx *ctx, struct udma_dev *dev, bool irq_mode)
{
	void *bar;
	size_t len;
	int rc;

	memset(drv, 0, sizeof(*drv));
	drv->ctx = ctx;
	drv->dev = dev;
	drv->irq_mode = irq_mode;
	drv->irq_fd = -1;
	if ((rc = udma_dev_bar(dev, 0, &bar, &len)))
		return rc;
	if (len < SIMDEV_BAR0_SIZE)
		return -ENODEV;
	drv->bar = bar;
	/* Make sure this is the device we know before writing anything. */
	if (simdrv_rd32(drv, SIMDEV_REG_ID) != SIMDEV_ID_VALUE ||
	    (simdrv_rd32(drv, SIMDEV_REG_VERSION) >> 16) != (SIMDEV_VERSION >> 16))
		return -ENODEV;
	drv->num_queues = simdrv_rd32(drv, SIMDEV_REG_NUM_QUEUES);
	if (drv->num_queues > SIMDEV_MAX_QUEUES)
		drv->num_queues = SIMDEV_MAX_QUEUES;
	if (irq_mode) {
		drv->irq_fd = udma_dev_irq_fd(dev, 0);
		if (drv->irq_fd < 0)
			return drv->irq_fd;
	}
	/* Start from a known state, whatever a previous driver left. */
	simdrv_wr32(drv, SIMDEV_REG_CTRL, 0);
	return simdrv_reset(drv);
}

int simdrv_queue_setup(struct simdrv *drv, unsigned qid, unsigned type, unsigned depth)
{
	struct simdrv_queue *q;

	if (qid >= drv->num_queues || !depth || (depth & (depth - 1)) ||
	    depth > simdrv_rd32(drv, SIMDEV_REG_MAX_DEPTH))
		return -EINVAL;
	q = &drv->q[qid];
	if (q->sq)
		return -EBUSY;
	memset(q, 0, sizeof(*q));
	q->drv = drv;
	q->id = qid;
	q->type = type;
	q->depth = depth;
	q->phase = 1; /* the CQ is zeroed: the device's first pass writes phase 1 */
	/* The rings live in DMA memory: the device reads the SQ and writes the CQ
	 * by IOVA. Zeroed so no stale entry looks like a completion. */
	q->sq = udma_zmalloc(drv->ctx, depth * sizeof(*q->sq), 64, &q->sq_iova);
	q->cq = udma_zmalloc(drv->ctx, depth * sizeof(*q->cq), 64, &q->cq_iova);
	if (!q->sq || !q->cq) {
		udma_free(drv->ctx, q->sq);
		udma_free(drv->ctx, q->cq);
		q->sq = NULL;
		q->cq = NULL;
		return -ENOMEM;
	}
	wr64(drv, SIMDEV_Q_BASE(qid) + SIMDEV_Q_SQ_BASE, q->sq_iova);
	qwr32(q, SIMDEV_Q_SQ_SIZE, depth);
	wr64(drv, SIMDEV_Q_BASE(qid) + SIMDEV_Q_CQ_BASE, q->cq_iova);
	qwr32(q, SIMDEV_Q_CQ_SIZE, depth);
	qwr32(q, SIMDEV_Q_SQ_TAIL, 0);
	qwr32(q, SIMDEV_Q_CQ_HEAD, 0);
	qwr32(q, SIMDEV_Q_CTRL, SIMDEV_QCTRL_ENABLE | SIMDEV_QCTRL_TYPE(type));
	return 0;
}

int simdrv_enable(struct simdrv *drv)
{
	uint32_t ctrl = SIMDEV_CTRL_ENABLE | (drv->irq_mode ? SIMDEV_CTRL_IRQ : 0);
	unsigned i;
	int rc;

	/* After a reset the device starts every ring over at index 0 with phase
	 * 1 (the caller has reaped the ABORTED completions by then): so do we,
	 * on zeroed rings so no old entry looks new. */
	for (i = 0; i < drv->num_queues; i++) {
		struct simdrv_queue *q = &drv->q[i];

		if (!q->sq)
			continue;
		memset(q->sq, 0, q->depth * sizeof(*q->sq));
		memset(q->cq, 0, q->depth * sizeof(*q->cq));
		q->sq_tail = q->cq_head = q->inflight = 0;
		q->phase = 1;
		qwr32(q, SIMDEV_Q_SQ_TAIL, 0);
		qwr32(q, SIMDEV_Q_CQ_HEAD, 0);
	}
	simdrv_wr32(drv, SIMDEV_REG_INT_MASK, 0);
	simdrv_wr32(drv, SIMDEV_REG_CTRL, ctrl);
	udma_dev_notify(drv->dev); /* an interrupt-mode device sleeps until told */
	rc = wait_reg(drv, SIMDEV_REG_STATUS, SIMDEV_STATUS_READY, SIMDEV_STATUS_READY);
	if (rc)
		return rc;
	/* The device checks each ring when it latches the queues. */
	for (i = 0; i < drv->num_queues; i++)
		if (drv->q[i].sq &&
		    (simdrv_rd32(drv, SIMDEV_Q_BASE(i) + SIMDEV_Q_STATUS) & SIMDEV_QSTATUS_ERROR))
			return -EIO;
	return 0;
}

int simdrv_reset(struct simdrv *drv)
{
	uint32_t ctrl = simdrv_rd32(drv, SIMDEV_REG_CTRL);

	simdrv_wr32(drv, SIMDEV_REG_CTRL, ctrl | SIMDEV_CTRL_RESET);
	udma_dev_notify(drv->dev);
	/* RESET clears itself once everything in flight has been completed as ABORTED. */
	return wait_reg(drv, SIMDEV_REG_CTRL, SIMDEV_CTRL_RESET, 0);
}

bool simdrv_gone(const struct simdrv *drv)
{
	/* A register that is never all ones while the device is there. */
	return simdrv_rd32(drv, SIMDEV_REG_STATUS) == UINT32_MAX;
}

unsigned simdrv_abandon(struct simdrv_queue *q, uint64_t *cookies, unsigned max)
{
	unsigned n = 0, slot = (q->sq_tail - q->inflight) & (q->depth - 1);

	/* The device completes a queue's entries in order, so what is in flight
	 * is the last `inflight` entries written, oldest first. */
	while (q->inflight && n < max) {
		cookies[n++] = q->sq[slot].cookie;
		slot = (slot + 1) & (q->depth - 1);
		q->inflight--;
	}
	return n;
}

int simdrv_detach(struct simdrv *drv)
{
	unsigned i;
	int rc = 0;

	if (!drv->bar)
		return 0;
	/* Stop the device before its rings go: it must never DMA into freed
	 * memory (a device that is gone does no more DMA). Disabled, but still
	 * in interrupt mode if it was, so the reset's doorbell wakes it. */
	if (!simdrv_gone(drv)) {
		simdrv_wr32(drv, SIMDEV_REG_CTRL, simdrv_rd32(drv, SIMDEV_REG_CTRL) & SIMDEV_CTRL_IRQ);
		rc = simdrv_reset(drv);
	}
	if (rc) {
		/* Not stopped: it may still write its rings, so they are not
		 * freed; udma_dev_close cuts it off from memory, and the context
		 * takes them back when it goes. */
		fprintf(stderr,
			"simdrv: the device did not finish its reset (%s); its rings stay allocated\n",
			strerror(-rc));
		drv->bar = NULL;
		return rc;
	}
	for (i = 0; i < SIMDEV_MAX_QUEUES; i++) {
		udma_free(drv->ctx, drv->q[i].sq);
		udma_free(drv->ctx, drv->q[i].cq);
		drv->q[i].sq = NULL;
		drv->q[i].cq = NULL;
	}
	drv->bar = NULL;
	return 0;
}

/* One slot stays free, and no more may be in flight than the CQ holds: the
 * device never has to drop a completion. */
unsigned simdrv_space(const struct simdrv_queue *q)
{
	return q->depth - 1 - q->inflight;
}

unsigned simdrv_submit(struct simdrv_queue *q, const struct simdev_sqe *sqes, unsigned n)
{
	unsigned i, room = simdrv_space(q);

	if (n > room)
		n = room;
	if (!n)
		return 0;
	for (i = 0; i < n; i++) {
		struct simdev_sqe *e = &q->sq[q->sq_tail];

		*e = sqes[i];
		if (q->drv->irq_mode)
			e->flags |= SIMDEV_SQE_IRQ;
		q->sq_tail = (q->sq_tail + 1) & (q->depth - 1);
	}
	q->inflight += n;
	/* Release: the entries above reach memory before the device can see the
	 * tail move. One doorbell for the batch: MMIO writes are expensive. */
	qwr32(q, SIMDEV_Q_SQ_TAIL, q->sq_tail);
	if (q->drv->irq_mode)
		udma_dev_notify(q->drv->dev);
	return n;
}

unsigned simdrv_reap(struct simdrv_queue *q, struct simdev_cqe *out, unsigned max)
{
	unsigned n = 0;

	while (n < max) {
		struct simdev_cqe *c = &q->cq[q->cq_head];
		/* Acquire on the status word that carries the phase: the rest of
		 * the entry, written by the device before it, is then visible. */
		uint16_t st = __atomic_load_n(&c->status, __ATOMIC_ACQUIRE);

		if (SIMDEV_CQE_PHASE(st) != q->phase)
			break; /* not written on this pass yet: no new completion */
		out[n] = *c;
		out[n++].status = st;
		if (++q->cq_head == q->depth) {
			/* The device inverts the phase on each pass, so the old
			 * entries read as stale without being cleared. */
			q->cq_head = 0;
			q->phase ^= 1;
		}
	}
	if (n) {
		q->inflight -= n < q->inflight ? n : q->inflight;
		/* Tell the device the slots are free to reuse. With never more
		 * in flight than the CQ holds it never waits for room, but the
		 * doorbell event is kept: measured without it (bench_dev),
		 * interrupt-mode batches took 1.1-1.8x as long for 5-25% less
		 * CPU, as the device's CPU then idled deeper between batches. */
		qwr32(q, SIMDEV_Q_CQ_HEAD, q->cq_head);
		if (q->drv->irq_mode)
			udma_dev_notify(q->drv->dev);
	}
	return n;
}

int simdrv_wait(struct simdrv *drv, int timeout_ms)
{
	struct pollfd p = {.fd = drv->irq_fd, .events = POLLIN};
	uint32_t st;
	int rc;

	if (simdrv_gone(drv))
		return -ENODEV;
	if (!drv->irq_mode) {
		sched_yield();
		return 0;
	}
	rc = poll(&p, 1, timeout_ms);
	if (rc < 0)
		return -errno;
	if (!rc)
		return -ETIMEDOUT;
	if (simdrv_gone(drv))
		return -ENODEV; /* the interrupt was the removal */
	/* Ack the event, then clear the causes (write-1-to-clear) so the next
	 * completion raises a new one; the caller reaps after this, so a
	 * completion that lands in between is not lost. */
	udma_dev_irq_ack(drv->dev, 0);
	st = simdrv_rd32(drv, SIMDEV_REG_INT_STATUS);
	if (st)
		simdrv_wr32(drv, SIMDEV_REG_INT_STATUS, st);
	return 0;
}
