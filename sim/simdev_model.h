/* SPDX-License-Identifier: MIT */
/*
 * The simulated DMA device's behaviour, whoever hosts it: a thread of the
 * driver's process (lib/dev/dev_sim.c) or the udma-simd process. The host gives it
 * its BAR (memory shared with the driver), its eventfds and its IOMMU table;
 * the model reads descriptors from rings in DMA memory and moves data only by
 * IOVA through that table, checking every access over its whole length.
 */
#ifndef SIMDEV_MODEL_H
#define SIMDEV_MODEL_H

#include <stddef.h>
#include <stdint.h>

#include "sim/simdev_regs.h"

struct simdev_config {
	void *bar;	      /* SIMDEV_BAR0_SIZE bytes the driver maps too */
	unsigned num_queues;  /* 1..SIMDEV_MAX_QUEUES */
	int block_fd;	      /* backing file of the block store, or -1 for none */
	uint64_t block_bytes; /* its size (a multiple of 4096) */
	int doorbell_fd;      /* eventfd the driver writes after ringing a doorbell */
	int irq_fd;	      /* eventfd the device writes to interrupt (interrupt mode) */
};

struct simdev;

/* 0 or a negative errno. The BAR is initialised (ID, VERSION, limits). */
int simdev_create(const struct simdev_config *cfg, struct simdev **out);
void simdev_destroy(struct simdev *d);

/* The IOMMU: make [iova, iova + len) reach host memory; safe while the device
 * runs (a mapping removed waits for accesses in flight to it). */
int simdev_iommu_map(struct simdev *d, uint64_t iova, void *host, uint64_t len);
int simdev_iommu_unmap(struct simdev *d, uint64_t iova);

/* Act on the registers and doorbells once: returns completions posted (>= 0)
 * or a negative errno. */
int simdev_poll(struct simdev *d);
/* Run until simdev_stop(): poll the doorbells (polling mode: spin a few
 * microseconds when idle, then yield between polls, then after 1 ms idle
 * sleep 50 us between them) or sleep on doorbell_fd (interrupt mode,
 * SIMDEV_CTRL_IRQ). */
int simdev_run(struct simdev *d);
void simdev_stop(struct simdev *d); /* from any thread */

#endif
