/* SPDX-License-Identifier: MIT */
/*
 * The reference driver for the simulated DMA device. It uses only the
 * device's datasheet (simdev_regs.h) and the udma API, as a driver for a real
 * PCI function bound to UIO or VFIO would: registers through the BAR, rings
 * in DMA memory from udma_zmalloc, buffers by IOVA, interrupts through an fd.
 *
 * Use: simdrv_attach (checks the device, resets it), simdrv_queue_setup for
 * each queue, simdrv_enable; then simdrv_submit / simdrv_reap (and
 * simdrv_wait in between); simdrv_detach at the end. One thread per queue.
 */
#ifndef SIMDRV_H
#define SIMDRV_H

#include <stdbool.h>
#include <stdint.h>

#include <udma/udma.h>

#include "sim/simdev_regs.h"

struct simdrv;

struct simdrv_queue {
	struct simdrv *drv;
	unsigned id, type, depth;
	struct simdev_sqe *sq; /* depth entries in DMA memory */
	struct simdev_cqe *cq;
	uint64_t sq_iova, cq_iova;
	unsigned sq_tail;  /* next SQ slot we write */
	unsigned cq_head;  /* next CQ slot we read */
	uint16_t phase;	   /* the phase bit a new CQE carries: 1 on the first pass */
	unsigned inflight; /* submitted, not yet reaped */
};

struct simdrv {
	struct udma_ctx *ctx;
	struct udma_dev *dev;
	volatile uint8_t *bar;
	bool irq_mode;
	int irq_fd;
	unsigned num_queues;
	struct simdrv_queue q[SIMDEV_MAX_QUEUES];
};

/* Check the device's ID and version, reset it, choose polling or interrupts. */
int simdrv_attach(struct simdrv *drv, struct udma_ctx *ctx, struct udma_dev *dev, bool irq_mode);
/* Queue qid of SIMDEV_QTYPE_*, depth a power of two <= SIMDEV_MAX_DEPTH. Device disabled. */
int simdrv_queue_setup(struct simdrv *drv, unsigned qid, unsigned type, unsigned depth);
/* Start the device; after a reset, once the ABORTED completions are reaped,
 * this starts it again with every ring empty. */
int simdrv_enable(struct simdrv *drv);
/* Reset: the device aborts what is in flight and completes it ABORTED; the
 * caller reaps those completions to take the buffers back, then enables again. */
int simdrv_reset(struct simdrv *drv);
/* Disable, reset and free the rings: 0. If the device does not finish its
 * reset (and is not gone), the rings are not freed - it may still write
 * them - and the error is returned: close the device (udma_dev_close cuts it
 * off from memory); the context frees them at udma_ctx_destroy. */
int simdrv_detach(struct simdrv *drv);

/* Free submission slots. */
unsigned simdrv_space(const struct simdrv_queue *q);
/* Write up to n entries and ring the doorbell once: the count written. */
unsigned simdrv_submit(struct simdrv_queue *q, const struct simdev_sqe *sqes, unsigned n);
/* Take up to max new completions (no waiting): the count. */
unsigned simdrv_reap(struct simdrv_queue *q, struct simdev_cqe *out, unsigned max);
/* Wait for the device: interrupt mode sleeps on the interrupt fd (up to
 * timeout_ms), polling mode yields once. 0, or -ETIMEDOUT, -ENODEV (the
 * device is gone), or a negative errno. */
int simdrv_wait(struct simdrv *drv, int timeout_ms);

/* The device has gone away (its process died: its registers read all ones,
 * as a surprise-removed PCI function's do). No completion will come. */
bool simdrv_gone(const struct simdrv *drv);
/* After the device is gone: take back what q had in flight, oldest first
 * (up to max cookies; call again while it returns max). */
unsigned simdrv_abandon(struct simdrv_queue *q, uint64_t *cookies, unsigned max);

/* Register access (little-endian host assumed, as x86 and arm64 are). */
uint32_t simdrv_rd32(const struct simdrv *drv, unsigned off);
uint64_t simdrv_rd64(const struct simdrv *drv, unsigned off);
void simdrv_wr32(struct simdrv *drv, unsigned off, uint32_t v);

#endif
