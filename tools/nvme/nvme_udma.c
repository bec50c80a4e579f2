/* SPDX-License-Identifier: MIT */
/*
 * The udma side of udma nvme: a context (PA mode for "uio:ADDR", VA mode for
 * "vfio:ADDR"), the device, the controller (drivers/nvme), and per queue an
 * I/O queue pair with a pool of qd buffers for its commands.
 */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <udma/udma.h>

#include "tools/dev_spec.h"
#include "drivers/nvme/nvme.h"
#include "tools/nvme/nvme_tool.h"

#define WAIT_MS 10000 /* the driver's own command timeout (5 s) comes first */

struct udma_side {
	struct udma_ctx *ctx;
	struct udma_dev *dev;
	struct nvme_ctrl *ctrl;
};

struct target_queue {
	struct nvme_qp *qp;
	struct udma_pool *pool;
	void **bufs;
	unsigned depth;
	uint32_t lba_size;
	struct nvme_cpl *cpl;
};

static __thread char queue_why[512];

static const char *udma_queue_error(void)
{
	return queue_why;
}

/*
 * Delete a pair. One left with commands in flight (a run that failed) is
 * taken back the way the driver documents: reset the controller, which stops
 * its DMA, and take the lost commands' cookies back. Called only once every
 * worker thread has ended.
 */
static int delete_pair(struct nvme_ctrl *c, struct nvme_qp *qp)
{
	uint64_t cookies[64];

	if (nvme_qp_destroy(qp) != -EBUSY)
		return 0;
	if (nvme_reset(c))
		return -1;
	while (nvme_qp_abandon(qp, cookies, 64))
		;
	return nvme_qp_destroy(qp);
}

static void udma_queue_close(struct nvme_target *t, struct target_queue *q)
{
	struct udma_side *s = t->priv;
	unsigned i;

	if (q->qp && delete_pair(s->ctrl, q->qp)) {
		/* The device may still write into the buffers: they stay until the
		 * device is closed (the context frees them then). */
		fprintf(stderr, "udma nvme: queue pair %u not deleted: %s\n", nvme_qp_id(q->qp),
			nvme_last_error());
		free(q->bufs);
		free(q->cpl);
		free(q);
		return;
	}
	if (q->bufs)
		for (i = 0; i < q->depth; i++)
			if (q->bufs[i])
				udma_pool_put(q->pool, q->bufs[i]);
	udma_pool_destroy(q->pool);
	free(q->bufs);
	free(q->cpl);
	free(q);
}

static int udma_queue_open(struct nvme_target *t, unsigned depth, size_t buf_size, bool irq,
			   struct target_queue **out)
{
	struct udma_side *s = t->priv;
	struct nvme_qp_opts qo = {.depth = depth, .how = irq ? NVME_IRQ : NVME_POLL};
	struct udma_pool_opts po = {.obj_size = buf_size,
				    .align = 4096,
				    .count = depth,
				    .numa_node = UDMA_NUMA_ANY,
				    .name = "nvme-bench"};
	struct target_queue *q = calloc(1, sizeof(*q));
	int rc;

	if (!q) {
		snprintf(t->why, sizeof(t->why), "out of memory for a queue");
		return -ENOMEM;
	}
	q->depth = depth;
	q->lba_size = t->block;
	q->bufs = calloc(depth, sizeof(*q->bufs));
	q->cpl = calloc(depth, sizeof(*q->cpl));
	if (!q->bufs || !q->cpl) {
		udma_queue_close(t, q);
		snprintf(t->why, sizeof(t->why), "out of memory for a queue of %u", depth);
		return -ENOMEM;
	}
	if ((rc = udma_pool_create(s->ctx, &po, &q->pool)) ||
	    (rc = udma_pool_get_bulk(q->pool, q->bufs, depth))) {
		snprintf(t->why, sizeof(t->why), "%u buffers of %zu bytes: %s", depth, buf_size,
			 udma_last_error());
		udma_queue_close(t, q);
		return rc;
	}
	if ((rc = nvme_qp_create(s->ctrl, &qo, &q->qp))) {
		snprintf(t->why, sizeof(t->why), "%s", nvme_last_error());
		udma_queue_close(t, q);
		return rc;
	}
	*out = q;
	return 0;
}

static void *udma_queue_buf(struct target_queue *q, unsigned i)
{
	return q->bufs[i];
}

static int udma_submit(struct target_queue *q, bool write, void *buf, uint64_t off, uint32_t len,
		       uint64_t cookie)
{
	uint64_t lba = off / q->lba_size;
	uint32_t nlb = len / q->lba_size;
	int rc = write ? nvme_write(q->qp, buf, lba, nlb, cookie, NVME_F_BATCH)
		       : nvme_read(q->qp, buf, lba, nlb, cookie, NVME_F_BATCH);

	if (rc)
		snprintf(queue_why, sizeof(queue_why), "%s", nvme_last_error());
	return rc;
}

static int udma_kick(struct target_queue *q)
{
	nvme_qp_kick(q->qp);
	return 0;
}

static int udma_wait(struct target_queue *q, struct nvme_done *out, unsigned max)
{
	int n, i;

	if (max > q->depth)
		max = q->depth;
	n = nvme_qp_wait(q->qp, q->cpl, max, WAIT_MS);
	if (n < 0) {
		snprintf(queue_why, sizeof(queue_why), "%s", nvme_last_error());
		return n;
	}
	if (!n) {
		snprintf(queue_why, sizeof(queue_why), "no completion in %d s with %u commands in flight",
			 WAIT_MS / 1000, nvme_qp_inflight(q->qp));
		return -ETIMEDOUT;
	}
	for (i = 0; i < n; i++) {
		out[i].cookie = q->cpl[i].cookie;
		out[i].err = q->cpl[i].err;
		if (q->cpl[i].err) {
			/* The device's own words for the first failure. */
			const char *msg;

			nvme_status_errno(q->cpl[i].status, &msg);
			snprintf(queue_why, sizeof(queue_why), "the device answered: %s (status 0x%04x)", msg,
				 q->cpl[i].status);
		}
	}
	return n;
}

static void udma_close(struct nvme_target *t)
{
	struct udma_side *s = t->priv;

	if (!s)
		return;
	if (s->ctrl && nvme_detach(s->ctrl))
		fprintf(stderr, "udma nvme: detaching the controller: %s\n", nvme_last_error());
	udma_dev_close(s->dev);
	udma_ctx_destroy(s->ctx);
	free(s);
	t->priv = NULL;
}

static const struct nvme_target_ops udma_ops = {
	.kind = "udma",
	.doorbell = "SQ doorbell",
	.queue_open = udma_queue_open,
	.queue_close = udma_queue_close,
	.queue_buf = udma_queue_buf,
	.submit = udma_submit,
	.kick = udma_kick,
	.wait = udma_wait,
	.queue_error = udma_queue_error,
	.close = udma_close,
};

struct nvme_ctrl *nvme_target_ctrl(const struct nvme_target *t)
{
	const struct udma_side *s = t->priv;

	return s ? s->ctrl : NULL;
}

int nvme_target_udma(struct nvme_target *t, const char *dev, unsigned qpairs)
{
	struct nvme_opts no = {.max_qpairs = qpairs};
	struct udma_ctx_opts co;
	struct udma_side *s = calloc(1, sizeof(*s));
	const struct nvme_ctrl_info *ci;
	int rc;

	memset(t, 0, sizeof(*t));
	dev_spec_ctx_opts(dev, &co);
	t->ops = &udma_ops;
	snprintf(t->name, sizeof(t->name), "%s", dev);
	if (!s) {
		snprintf(t->why, sizeof(t->why), "out of memory");
		return -ENOMEM;
	}
	t->priv = s;
	if ((rc = udma_ctx_create(&co, &s->ctx)) || (rc = udma_dev_open(s->ctx, dev, &s->dev))) {
		snprintf(t->why, sizeof(t->why), "%s", udma_last_error());
		udma_close(t);
		return rc;
	}
	if ((rc = nvme_attach(s->ctx, s->dev, &no, &s->ctrl))) {
		snprintf(t->why, sizeof(t->why), "%s", nvme_last_error());
		s->ctrl = NULL;
		udma_close(t);
		return rc;
	}
	ci = nvme_ctrl_info(s->ctrl);
	t->block = nvme_ns_info(s->ctrl)->lba_size;
	t->capacity = nvme_ns_info(s->ctrl)->nlba * t->block;
	t->max_xfer = ci->max_xfer;
	t->max_depth = ci->max_entries - 1;
	t->max_queues = ci->qpairs;
	return 0;
}
