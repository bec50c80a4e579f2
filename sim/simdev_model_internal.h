/* SPDX-License-Identifier: MIT */
/* The device model's private state, shared by its simdev_model*.c files. */
#ifndef SIMDEV_MODEL_INTERNAL_H
#define SIMDEV_MODEL_INTERNAL_H

#include <pthread.h>
#include <stdbool.h>
#include <stdint.h>

#include "sim/simdev_model.h"

#define SIMDEV_MAX_XFER	   (1u << 20) /* longest DMA or block transfer */
#define SIMDEV_POLL_BUDGET 64u	      /* descriptors per queue per pass: no queue starves the others */
#define SIMDEV_TLB_SIZE	   4u	      /* translations memoised: SQ, CQ, source, destination */

struct simdev_map {
	uint64_t iova, len;
	uint8_t *host;
};

struct simdev_queue {
	bool active;
	unsigned type;
	uint64_t sq_base, cq_base;
	uint32_t sq_size, cq_size; /* powers of two, validated when latched */
	uint32_t sq_head, cq_tail;
	/* The driver's indices as last read: the shared registers are read
	 * again only when these say empty (SQ) or full (CQ), so the line the
	 * driver writes is not pulled over once per descriptor. */
	uint32_t sq_tail_seen, cq_head_seen;
	bool sq_head_dirty; /* SQ_HEAD is published once per pass, not per entry */
	uint16_t phase;	    /* written into the next CQE; starts at 1 */
};

struct simdev {
	struct simdev_config cfg;
	uint8_t *bar;
	int stop;    /* atomic */
	int stop_fd; /* eventfd: wakes doorbell_wait for simdev_stop */

	pthread_rwlock_t iommu_lock; /* map/unmap write, every access reads */
	struct simdev_map *maps;     /* sorted by iova, disjoint */
	unsigned nmaps, maps_cap;
	/* The mappings last looked up, newest first: a descriptor makes four
	 * translations, nearly always in the same few mappings. Written by the
	 * device under the read lock (one device thread), emptied by map and
	 * unmap under the write lock, so no stale entry outlives its mapping. */
	struct simdev_map tlb[SIMDEV_TLB_SIZE];

	bool configured; /* queues latched since the last reset */
	uint32_t blk_size;
	uint64_t blk_count;
	struct simdev_queue q[SIMDEV_MAX_QUEUES];
	uint32_t irq_pending; /* INT_STATUS bits raised in this pass */
	uint64_t stat_descs, stat_bytes, stat_rx_drop;
	uint32_t fault_count;
};

/* The outcome of executing one submission entry. */
struct simdev_result {
	uint16_t status; /* SIMDEV_ST_* */
	uint32_t len;	 /* bytes moved */
};

#define SIMDEV_STALL 0xffffu /* status: cannot run now, retry later (NIC RX completion ring full) */

/* Registers: shared with the driver, so atomic, and never trusted. */
static inline uint32_t reg_rd32(const struct simdev *d, unsigned off)
{
	return __atomic_load_n((const uint32_t *)(d->bar + off), __ATOMIC_ACQUIRE);
}

static inline uint64_t reg_rd64(const struct simdev *d, unsigned off)
{
	return __atomic_load_n((const uint64_t *)(d->bar + off), __ATOMIC_ACQUIRE);
}

static inline void reg_wr32(struct simdev *d, unsigned off, uint32_t v)
{
	__atomic_store_n((uint32_t *)(d->bar + off), v, __ATOMIC_RELEASE);
}

static inline void reg_wr64(struct simdev *d, unsigned off, uint64_t v)
{
	__atomic_store_n((uint64_t *)(d->bar + off), v, __ATOMIC_RELEASE);
}

static inline uint32_t qreg_rd32(const struct simdev *d, unsigned q, unsigned off)
{
	return reg_rd32(d, SIMDEV_Q_BASE(q) + off);
}

/* simdev_model_iommu.c: translate with with iommu_lock held for reading. NULL and
 * *reason set (SIMDEV_FAULT_*) unless [iova, iova + len) is inside one mapping. */
void *simdev_iommu_translate(struct simdev *d, uint64_t iova, uint64_t len, unsigned *reason);
void simdev_iommu_rdlock(struct simdev *d);
void simdev_iommu_rdunlock(struct simdev *d);
void simdev_iommu_destroy(struct simdev *d);

/* simdev_model.c */
void simdev_fault(struct simdev *d, uint64_t iova, uint64_t len, unsigned queue, unsigned reason);
void *simdev_translate(struct simdev *d, unsigned queue, uint64_t iova, uint64_t len);
bool simdev_cq_room(struct simdev *d, unsigned qi);
bool simdev_read_sqe(struct simdev *d, unsigned qi, struct simdev_sqe *sqe);
bool simdev_post_cqe(struct simdev *d, unsigned qi, uint64_t cookie, uint32_t len, uint16_t status);
bool simdev_sq_pending(struct simdev *d, unsigned qi);

/* simdev_model_ops.c */
struct simdev_result simdev_ops_execute(struct simdev *d, unsigned qi, const struct simdev_sqe *sqe);

#endif
