/* SPDX-License-Identifier: MIT */
/* The driver's own structures, shared by nvme_ctrl.c (the controller and
 * its admin queue) and nvme_io.c (I/O queue pairs). */
#ifndef NVME_INTERNAL_H
#define NVME_INTERNAL_H

#include <pthread.h>
#include <stdbool.h>
#include <stdint.h>

#include "drivers/nvme/nvme.h"

#define NVME_ADMIN_ENTRIES   32 /* admin commands are rare and one at a time */
#define NVME_DEFAULT_QPAIRS  8
#define NVME_DEFAULT_DEPTH   64
#define NVME_DEFAULT_TIMEOUT 5000 /* ms */
#define NVME_PRP_PER_PAGE    (NVME_PAGE_SIZE / sizeof(uint64_t))
/* One PRP-list page per command (no chaining): it names the pages after
 * the first, so a command moves at most this much. */
#define NVME_MAX_XFER_LIMIT (NVME_PRP_PER_PAGE * NVME_PAGE_SIZE)

/* One submission queue and the completion queue it posts to (§4.1). The
 * driver always pairs them one to one, the admin queue included. */
struct nvme_queue {
	struct nvme_sqe *sq;
	volatile struct nvme_cqe *cq;
	uint64_t sq_iova, cq_iova;
	uint32_t entries; /* in each queue */
	uint32_t sq_tail; /* next SQ entry the driver fills */
	uint32_t sq_rung; /* the tail the controller was last told of */
	uint64_t sq_rings, cq_rings;
	uint32_t cq_head; /* next CQ entry the driver reads */
	uint16_t phase;	  /* the phase tag new entries carry: 1 on the first pass (§4.6) */
	uint16_t qid;
	volatile uint32_t *sq_db, *cq_db;
};

/* Keep a failure's message across cleanup that may set its own. */
struct nvme_error_line {
	char text[256];
};

/* A command in flight; its index is its CID. */
struct nvme_slot {
	uint64_t cookie;
	uint64_t seq;	    /* submission order, for "oldest" */
	int64_t submit_ms;  /* CLOCK_MONOTONIC_COARSE */
	uint64_t *prp_list; /* this slot's PRP-list page (a pool object) */
	uint64_t prp_iova;
	bool busy, abort_sent;
};

struct nvme_qp {
	struct nvme_ctrl *ctrl;
	struct nvme_queue q;
	enum nvme_wait how;
	unsigned vector; /* interrupt vector of the CQ (NVME_IRQ) */
	int irq_fd;
	unsigned depth;
	struct nvme_slot *slots;
	uint16_t *free_cids; /* a stack of free slots */
	unsigned nfree;
	uint64_t next_seq;
	uint64_t *abandoned; /* cookies lost in a reset, oldest first */
	unsigned nabandoned;
	struct nvme_slot **lost; /* room to sort the lost ones at a reset */
	struct udma_pool *prp_pool;
	int64_t next_check_ms;		 /* when nvme_qp_wait next looks for expired commands */
	struct nvme_qp *next;		 /* the controller's list */
	bool created;			 /* the controller knows its queues */
	int fail_err;			 /* a failure this pair found, for nvme_qp_wait to say once */
	struct nvme_error_line fail_why; /* ... and its message */
	uint64_t submitted, completed, interrupts;
};

struct nvme_ctrl {
	struct udma_ctx *ctx;
	struct udma_dev *dev;
	volatile uint8_t *bar;
	size_t bar_len;
	uint64_t cap;
	unsigned stride; /* doorbell stride in bytes */
	struct nvme_ctrl_info info;
	struct nvme_ns_info ns;
	struct nvme_opts opts;
	pthread_mutex_t admin_lock; /* the admin queue, the pair list, qid use */
	struct nvme_queue admin;
	void *idbuf; /* 4 KiB for Identify */
	uint64_t idbuf_iova;
	struct nvme_qp *qps;
	uint64_t qid_used; /* bit q - 1: I/O queue pair q exists (q 1 .. 64) */
	int failed;	   /* nonzero: no more submissions until nvme_reset (atomic) */
};

/* Ordering between this CPU and the device: udma_dma_wmb() before each
 * doorbell, udma_dma_rmb() after each phase tag (<udma/barrier.h>). */

/* Register access: device memory, each access made once at its width. */
static inline uint32_t nvme__rd32(const struct nvme_ctrl *c, unsigned off)
{
	return *(const volatile uint32_t *)(c->bar + off);
}

static inline void nvme__wr32(struct nvme_ctrl *c, unsigned off, uint32_t v)
{
	*(volatile uint32_t *)(c->bar + off) = v;
}

/* The next completion, or NULL while the controller has posted none: an
 * entry is the controller's until its phase tag matches (§4.6), and the
 * rest of it is read only after the tag. Inline: the reap loop's hot path. */
static inline volatile struct nvme_cqe *nvme__cq_next(struct nvme_queue *q)
{
	volatile struct nvme_cqe *e = &q->cq[q->cq_head];

	if ((e->status & 1) != q->phase)
		return NULL;
	udma_dma_rmb();
	return e;
}

/* Past the entry nvme__cq_next gave: the phase flips at each wrap. */
static inline void nvme__cq_pop(struct nvme_queue *q)
{
	if (++q->cq_head == q->entries) {
		q->cq_head = 0;
		q->phase ^= 1;
	}
}

/* Tell the controller how far the host has read (one MMIO write). */
static inline void nvme__cq_ring(struct nvme_queue *q)
{
	*q->cq_db = q->cq_head;
	q->cq_rings++;
}

/* Set the error line (nvme_last_error) and return rc. */
__attribute__((format(printf, 2, 3))) int nvme__fail(int rc, const char *fmt, ...);

void nvme__error_save(struct nvme_error_line *e);
void nvme__error_restore(const struct nvme_error_line *e);

int64_t nvme__now_ms(void);
bool nvme__failed(const struct nvme_ctrl *c);
void nvme__set_failed(struct nvme_ctrl *c);

/* Queues: memory, doorbells, submit, reap. */
int nvme__queue_alloc(struct nvme_ctrl *c, struct nvme_queue *q, uint16_t qid, uint32_t entries);
void nvme__queue_free(struct nvme_ctrl *c, struct nvme_queue *q);
void nvme__queue_reset(struct nvme_queue *q);
void nvme__queue_push(struct nvme_queue *q, const struct nvme_sqe *sqe);
void nvme__queue_ring(struct nvme_queue *q);

/* Admin commands, under admin_lock: submit one, wait for its completion up
 * to the command timeout. 0, or the status as -errno (message set). */
int nvme__admin_locked(struct nvme_ctrl *c, struct nvme_sqe *sqe, uint32_t *dw0, const char *what);
int nvme__create_io_queues(struct nvme_ctrl *c, struct nvme_qp *qp);
int nvme__delete_io_queues(struct nvme_ctrl *c, struct nvme_qp *qp);
int nvme__abort(struct nvme_ctrl *c, uint16_t sqid, uint16_t cid, bool *aborted);
/* Forget every command in flight on qp (after the controller was disabled). */
void nvme__qp_lose_inflight(struct nvme_qp *qp);

#endif
