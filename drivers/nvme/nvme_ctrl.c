/* SPDX-License-Identifier: MIT */
/*
 * The controller: recognising it, disabling and enabling it (§7.6.1), the
 * admin queue, Identify, the number of queues, I/O queue creation, Abort,
 * reset and shutdown (§7.6.2). The queue mechanics shared with I/O pairs
 * (queue memory, doorbells) live here too.
 */
#include <errno.h>
#include <stdio.h>
#include <sched.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "drivers/nvme/nvme_internal.h"

int64_t nvme__now_ms(void)
{
	struct timespec t;

	clock_gettime(CLOCK_MONOTONIC_COARSE, &t);
	return (int64_t)t.tv_sec * 1000 + t.tv_nsec / 1000000;
}

bool nvme__failed(const struct nvme_ctrl *c)
{
	return __atomic_load_n(&c->failed, __ATOMIC_ACQUIRE) != 0;
}

void nvme__set_failed(struct nvme_ctrl *c)
{
	__atomic_store_n(&c->failed, 1, __ATOMIC_RELEASE);
}

uint32_t nvme_reg_read32(const struct nvme_ctrl *c, unsigned off)
{
	return nvme__rd32(c, off);
}

/* 64-bit registers read as two 32-bit halves: every controller takes those
 * (§3.1), and a device that is not NVMe is not asked for 8-byte reads. */
uint64_t nvme_reg_read64(const struct nvme_ctrl *c, unsigned off)
{
	uint32_t lo = nvme__rd32(c, off);

	return (uint64_t)nvme__rd32(c, off + 4) << 32 | lo;
}

static void wr64(struct nvme_ctrl *c, unsigned off, uint64_t v)
{
	nvme__wr32(c, off, (uint32_t)v);
	nvme__wr32(c, off + 4, (uint32_t)(v >> 32));
}

const struct nvme_ctrl_info *nvme_ctrl_info(const struct nvme_ctrl *c)
{
	return &c->info;
}

const struct nvme_ns_info *nvme_ns_info(const struct nvme_ctrl *c)
{
	return &c->ns;
}

/* ---- queues ---- */

int nvme__queue_alloc(struct nvme_ctrl *c, struct nvme_queue *q, uint16_t qid, uint32_t entries)
{
	size_t sq_bytes = (size_t)entries * sizeof(struct nvme_sqe);
	size_t cq_bytes = (size_t)entries * sizeof(struct nvme_cqe);

	/* The doorbells are where CAP.DSTRD puts them: a device whose BAR is
	 * smaller than that would have us write past the mapping. */
	size_t db_end = NVME_REG_DBS + (2u * qid + 2) * (size_t)c->stride;
	if (db_end > c->bar_len)
		return nvme__fail(-ENODEV,
				  "queue %u: its doorbells end at 0x%zx, past BAR 0 (%zu bytes): CAP.DSTRD "
				  "(stride %u) and the BAR disagree",
				  qid, db_end, c->bar_len, c->stride);
	memset(q, 0, sizeof(*q));
	/* Page aligned and IOVA-contiguous (CAP.CQR: QEMU wants contiguous
	 * queues, and PRP1 names the whole queue): the heap gives both. */
	q->sq = udma_zmalloc(c->ctx, sq_bytes, NVME_PAGE_SIZE, &q->sq_iova);
	q->cq = udma_zmalloc(c->ctx, cq_bytes, NVME_PAGE_SIZE, &q->cq_iova);
	if (!q->sq || !q->cq) {
		int rc = nvme__fail(-ENOMEM, "queue %u: no DMA memory for %u entries: %s", qid, entries,
				    udma_last_error());
		nvme__queue_free(c, q);
		return rc;
	}
	if (udma_iova_contig(c->ctx, q->sq, sq_bytes) < sq_bytes ||
	    udma_iova_contig(c->ctx, (const void *)q->cq, cq_bytes) < cq_bytes) {
		nvme__queue_free(c, q);
		return nvme__fail(-ENOMEM, "queue %u: its memory is not contiguous for the device", qid);
	}
	q->entries = entries;
	q->qid = qid;
	q->sq_db = (volatile uint32_t *)(c->bar + NVME_REG_DBS + (2u * qid) * c->stride);
	q->cq_db = (volatile uint32_t *)(c->bar + NVME_REG_DBS + (2u * qid + 1) * c->stride);
	nvme__queue_reset(q);
	return 0;
}

void nvme__queue_free(struct nvme_ctrl *c, struct nvme_queue *q)
{
	udma_free(c->ctx, q->sq);
	udma_free(c->ctx, (void *)q->cq);
	q->sq = NULL;
	q->cq = NULL;
}

/* As a freshly created queue: the controller starts both at entry 0 and
 * posts its first pass with phase 1 over memory that is zero (§4.6). */
void nvme__queue_reset(struct nvme_queue *q)
{
	memset((void *)q->cq, 0, (size_t)q->entries * sizeof(struct nvme_cqe));
	q->sq_tail = q->sq_rung = q->cq_head = 0;
	q->phase = 1;
}

void nvme__queue_push(struct nvme_queue *q, const struct nvme_sqe *sqe)
{
	q->sq[q->sq_tail] = *sqe;
	if (++q->sq_tail == q->entries)
		q->sq_tail = 0;
}

void nvme__queue_ring(struct nvme_queue *q)
{
	if (q->sq_rung == q->sq_tail)
		return;
	udma_dma_wmb();
	*q->sq_db = q->sq_tail;
	q->sq_rung = q->sq_tail;
	q->sq_rings++;
}

/* ---- enabling and disabling (§3.1.5, §3.1.6, §7.6.1) ---- */

/* Wait up to CAP.TO for CSTS.RDY to read want; CSTS.CFS ends an enable. */
static int wait_ready(struct nvme_ctrl *c, bool want, const char *what)
{
	int64_t deadline = nvme__now_ms() + c->info.ready_timeout_ms;

	for (;;) {
		uint32_t csts = nvme__rd32(c, NVME_REG_CSTS);

		if (csts == UINT32_MAX)
			return nvme__fail(-ENODEV, "%s: the registers read all ones: the function is gone",
					  what);
		if (want && (csts & NVME_CSTS_CFS))
			return nvme__fail(
				-EIO,
				"%s: the controller failed to start (CSTS.CFS); it refuses a bad admin "
				"queue address or size, page size or command set",
				what);
		if (!!(csts & NVME_CSTS_RDY) == want)
			return 0;
		if (nvme__now_ms() > deadline)
			return nvme__fail(-ETIMEDOUT, "%s: CSTS.RDY did not become %d within CAP.TO (%u ms)",
					  what, want, c->info.ready_timeout_ms);
		sched_yield();
	}
}

static int disable(struct nvme_ctrl *c)
{
	/* EN 1 -> 0 is a controller reset: it stops fetching and posting, and
	 * forgets every queue, once RDY reads 0 (§7.3.2). Writing CC = 0 also
	 * clears a shutdown request left by the previous owner. */
	nvme__wr32(c, NVME_REG_CC, 0);
	return wait_ready(c, false, "disabling the controller");
}

/* After a failure: disabled, keeping the failure's message. Nonzero: the
 * controller would not stop, and may still write its queues. */
static int disable_quietly(struct nvme_ctrl *c)
{
	struct nvme_error_line saved;

	nvme__error_save(&saved);
	int rc = disable(c);
	nvme__error_restore(&saved);
	return rc;
}

static int enable(struct nvme_ctrl *c)
{
	uint64_t asq = c->admin.sq_iova;

	if (c->opts.flags & NVME_ATTACH_TEST_BAD_ADMIN_SQ)
		asq += 64;
	nvme__queue_reset(&c->admin);
	nvme__wr32(c, NVME_REG_AQA, (c->admin.entries - 1) << 16 | (c->admin.entries - 1));
	wr64(c, NVME_REG_ASQ, asq);
	wr64(c, NVME_REG_ACQ, c->admin.cq_iova);
	/* Configuration and EN in one write: QEMU (and the spec, §3.1.5) take
	 * CC's fields as they are when EN goes to 1. */
	nvme__wr32(c, NVME_REG_CC,
		   NVME_CC_EN | NVME_CC_CSS_NVM | NVME_CC_MPS(NVME_PAGE_SHIFT) |
			   NVME_CC_IOSQES(NVME_SQES_LOG2) | NVME_CC_IOCQES(NVME_CQES_LOG2));
	return wait_ready(c, true, "enabling the controller");
}

/* ---- admin commands ---- */

int nvme__admin_locked(struct nvme_ctrl *c, struct nvme_sqe *sqe, uint32_t *dw0, const char *what)
{
	struct nvme_queue *q = &c->admin;
	int64_t deadline = nvme__now_ms() + c->opts.cmd_timeout_ms;
	const char *msg;

	/* One command at a time: its CID is its SQ slot. */
	sqe->cid = (uint16_t)q->sq_tail;
	nvme__queue_push(q, sqe);
	nvme__queue_ring(q);
	for (;;) {
		volatile struct nvme_cqe *e = nvme__cq_next(q);

		if (e) {
			uint16_t sf = e->status >> 1, cid = e->cid;
			uint32_t result = e->dw0;

			nvme__cq_pop(q);
			nvme__cq_ring(q);
			if (cid != sqe->cid)
				continue; /* an earlier command that timed out, completing late */
			if (dw0)
				*dw0 = result;
			int rc = nvme_status_errno(sf, &msg);
			return rc ? nvme__fail(rc, "%s: %s (status 0x%04x)", what, msg, sf) : 0;
		}
		if (nvme__now_ms() > deadline) {
			nvme__set_failed(c);
			return nvme__fail(-ETIMEDOUT,
					  "%s: no completion on the admin queue within %u ms: the controller "
					  "needs a reset (nvme_reset)",
					  what, c->opts.cmd_timeout_ms);
		}
		sched_yield();
	}
}

static int admin(struct nvme_ctrl *c, struct nvme_sqe *sqe, uint32_t *dw0, const char *what)
{
	pthread_mutex_lock(&c->admin_lock);
	int rc = nvme__admin_locked(c, sqe, dw0, what);
	pthread_mutex_unlock(&c->admin_lock);
	return rc;
}

static int identify(struct nvme_ctrl *c, uint32_t cns, uint32_t nsid, const char *what)
{
	struct nvme_sqe cmd = {.opc = NVME_ADMIN_IDENTIFY, .nsid = nsid, .prp1 = c->idbuf_iova, .cdw10 = cns};

	memset(c->idbuf, 0, NVME_PAGE_SIZE);
	return admin(c, &cmd, NULL, what);
}

/* An Identify string: ASCII, padded with spaces, not terminated. */
static void id_string(char *out, const uint8_t *id, size_t len)
{
	memcpy(out, id, len);
	out[len] = 0;
	while (len && (out[len - 1] == ' ' || out[len - 1] == 0))
		out[--len] = 0;
}

static uint16_t get16(const uint8_t *p)
{
	return (uint16_t)(p[0] | p[1] << 8);
}

static uint32_t get32(const uint8_t *p)
{
	return (uint32_t)get16(p) | (uint32_t)get16(p + 2) << 16;
}

static int identify_all(struct nvme_ctrl *c)
{
	const uint8_t *id = c->idbuf;
	int rc = identify(c, NVME_IDENTIFY_CTRL, 0, "Identify Controller");

	if (rc)
		return rc;
	c->info.vid = get16(id + NVME_ID_CTRL_VID);
	c->info.ssvid = get16(id + NVME_ID_CTRL_SSVID);
	id_string(c->info.sn, id + NVME_ID_CTRL_SN, 20);
	id_string(c->info.mn, id + NVME_ID_CTRL_MN, 40);
	id_string(c->info.fr, id + NVME_ID_CTRL_FR, 8);
	/* MDTS is in units of CAP.MPSMIN, which attach required to be 4 KiB. */
	uint8_t mdts = id[NVME_ID_CTRL_MDTS];
	/* MDTS is 8 bits: shifting by 52 or more would be undefined, and 2^32
	 * pages are far past the cap anyway. */
	uint64_t max = mdts && mdts < 32 ? (uint64_t)NVME_PAGE_SIZE << mdts : NVME_MAX_XFER_LIMIT;
	c->info.max_xfer = (uint32_t)(max < NVME_MAX_XFER_LIMIT ? max : NVME_MAX_XFER_LIMIT);
	c->info.nn = get32(id + NVME_ID_CTRL_NN);
	c->info.oacs = get16(id + NVME_ID_CTRL_OACS);
	c->info.oncs = get16(id + NVME_ID_CTRL_ONCS);
	c->info.vwc = id[NVME_ID_CTRL_VWC];

	uint32_t nsid = c->opts.nsid;
	if (nsid == 0 || nsid > c->info.nn)
		return nvme__fail(-ENODEV, "namespace %u: the controller has namespaces 1..%u", nsid,
				  c->info.nn);
	rc = identify(c, NVME_IDENTIFY_NS, nsid, "Identify Namespace");
	if (rc)
		return rc;
	uint64_t nsze = (uint64_t)get32(id + NVME_ID_NS_NSZE + 4) << 32 | get32(id + NVME_ID_NS_NSZE);
	if (nsze == 0)
		return nvme__fail(-ENODEV, "namespace %u is not active (Identify Namespace gives size 0)",
				  nsid);
	uint8_t flbas = id[NVME_ID_NS_FLBAS];
	const uint8_t *lbaf = id + NVME_ID_NS_LBAF + 4 * (flbas & 0xf);
	uint16_t ms = get16(lbaf);
	uint8_t lbads = lbaf[2];
	if (ms != 0)
		return nvme__fail(
			-ENOTSUP,
			"namespace %u is formatted with %u bytes of metadata per block: this driver "
			"moves data only (format it without metadata)",
			nsid, ms);
	if (lbads < 9 || lbads > NVME_PAGE_SHIFT)
		return nvme__fail(-ENOTSUP,
				  "namespace %u: blocks of 2^%u bytes (this driver takes 512 B .. 4 KiB)",
				  nsid, lbads);
	c->ns.nsid = nsid;
	c->ns.lba_size = 1u << lbads;
	c->ns.nlba = nsze;
	return 0;
}

/* Set Features, Number of Queues (§5.21.1.7): ask, take what is granted.
 * At attach and again after each reset (the controller forgets it). */
static int set_queue_count_locked(struct nvme_ctrl *c, unsigned *granted)
{
	uint32_t want = c->opts.max_qpairs - 1, dw0 = 0;
	struct nvme_sqe cmd = {
		.opc = NVME_ADMIN_SET_FEATURES, .cdw10 = NVME_FEAT_NUM_QUEUES, .cdw11 = want << 16 | want};
	int rc = nvme__admin_locked(c, &cmd, &dw0, "Set Features (Number of Queues)");

	if (rc)
		return rc;
	uint32_t nsqa = dw0 & 0xffff, ncqa = dw0 >> 16;
	uint32_t got = (nsqa < ncqa ? nsqa : ncqa) + 1;
	*granted = got < c->opts.max_qpairs ? got : c->opts.max_qpairs;
	return 0;
}

int nvme__create_io_queues(struct nvme_ctrl *c, struct nvme_qp *qp)
{
	struct nvme_queue *q = &qp->q;
	uint32_t qsize = (q->entries - 1) << 16 | q->qid;
	uint32_t cq_flags = NVME_QUEUE_PC;
	char what[64];

	if (qp->how == NVME_IRQ)
		cq_flags |= NVME_CQ_IEN | NVME_CQ_IV(qp->vector);
	/* The CQ first: the SQ names it (§5.4). */
	struct nvme_sqe cq = {
		.opc = NVME_ADMIN_CREATE_CQ, .prp1 = q->cq_iova, .cdw10 = qsize, .cdw11 = cq_flags};
	snprintf(what, sizeof(what), "Create I/O Completion Queue %u", q->qid);
	int rc = nvme__admin_locked(c, &cq, NULL, what);
	if (rc)
		return rc;
	struct nvme_sqe sq = {.opc = NVME_ADMIN_CREATE_SQ,
			      .prp1 = q->sq_iova,
			      .cdw10 = qsize,
			      .cdw11 = NVME_QUEUE_PC | NVME_SQ_CQID(q->qid)};
	snprintf(what, sizeof(what), "Create I/O Submission Queue %u", q->qid);
	rc = nvme__admin_locked(c, &sq, NULL, what);
	if (rc) {
		struct nvme_sqe del = {.opc = NVME_ADMIN_DELETE_CQ, .cdw10 = q->qid};
		struct nvme_error_line saved;

		nvme__error_save(&saved);
		nvme__admin_locked(c, &del, NULL, "Delete I/O Completion Queue");
		nvme__error_restore(&saved);
		return rc;
	}
	qp->created = true;
	return 0;
}

int nvme__delete_io_queues(struct nvme_ctrl *c, struct nvme_qp *qp)
{
	struct nvme_sqe sq = {.opc = NVME_ADMIN_DELETE_SQ, .cdw10 = qp->q.qid};
	struct nvme_sqe cq = {.opc = NVME_ADMIN_DELETE_CQ, .cdw10 = qp->q.qid};

	/* The SQ first: a CQ with an SQ on it cannot go (§5.6). */
	int rc = nvme__admin_locked(c, &sq, NULL, "Delete I/O Submission Queue");
	if (!rc)
		rc = nvme__admin_locked(c, &cq, NULL, "Delete I/O Completion Queue");
	if (!rc)
		qp->created = false;
	return rc;
}

int nvme__abort(struct nvme_ctrl *c, uint16_t sqid, uint16_t cid, bool *aborted)
{
	struct nvme_sqe cmd = {.opc = NVME_ADMIN_ABORT, .cdw10 = (uint32_t)cid << 16 | sqid};
	uint32_t dw0 = NVME_ABORT_NOT_DONE;
	int rc = admin(c, &cmd, &dw0, "Abort");

	*aborted = !rc && !(dw0 & NVME_ABORT_NOT_DONE);
	return rc;
}

/* ---- attach, reset, detach ---- */

static int check_nvme(struct nvme_ctrl *c)
{
	if (c->bar_len < NVME_REG_DBS + 8)
		return nvme__fail(-ENODEV, "BAR 0 is %zu bytes: too small for an NVMe controller's registers",
				  c->bar_len);
	uint32_t vs = nvme__rd32(c, NVME_REG_VS);
	c->cap = nvme_reg_read64(c, NVME_REG_CAP);
	if (vs == UINT32_MAX && c->cap == UINT64_MAX)
		return nvme__fail(-ENODEV, "the registers read all ones: the function is gone or disabled");
	if ((vs >> 16) < 1 || (vs >> 16) > 2 || !NVME_CAP_CSS_NVM(c->cap) || NVME_CAP_MQES(c->cap) == 0)
		return nvme__fail(-ENODEV,
				  "not an NVMe controller: VS 0x%08x, CAP 0x%016llx (want version 1.x or 2.x "
				  "and the NVM command set)",
				  vs, (unsigned long long)c->cap);
	if (NVME_CAP_MPSMIN(c->cap) != 0)
		return nvme__fail(-ENOTSUP,
				  "the controller's smallest memory page is %u KiB; this driver uses 4 KiB",
				  4u << NVME_CAP_MPSMIN(c->cap));
	c->stride = 4u << NVME_CAP_DSTRD(c->cap);
	c->info.version = vs;
	c->info.max_entries = NVME_CAP_MQES(c->cap) + 1;
	c->info.ready_timeout_ms = NVME_CAP_TO(c->cap) * NVME_TO_UNIT_MS;
	if (c->info.ready_timeout_ms == 0)
		c->info.ready_timeout_ms = NVME_TO_UNIT_MS;
	return 0;
}

/* Everything from a disabled controller to one with its admin queue up. */
static int bring_up(struct nvme_ctrl *c)
{
	int rc = disable(c);

	return rc ? rc : enable(c);
}

int nvme_attach(struct udma_ctx *ctx, struct udma_dev *dev, const struct nvme_opts *opts,
		struct nvme_ctrl **out)
{
	void *bar = NULL;
	size_t len = 0;
	int rc;

	if (!ctx || !dev || !out)
		return nvme__fail(-EINVAL, "nvme_attach: ctx, dev and out are required");
	*out = NULL;
	rc = udma_dev_bar(dev, 0, &bar, &len);
	if (rc)
		return nvme__fail(rc, "BAR 0: %s", udma_last_error());
	struct nvme_ctrl *c = calloc(1, sizeof(*c));
	if (!c)
		return nvme__fail(-ENOMEM, "nvme_attach: out of memory");
	c->ctx = ctx;
	c->dev = dev;
	c->bar = bar;
	c->bar_len = len;
	if (opts)
		c->opts = *opts;
	if (!c->opts.nsid)
		c->opts.nsid = 1;
	if (!c->opts.max_qpairs)
		c->opts.max_qpairs = NVME_DEFAULT_QPAIRS;
	if (c->opts.max_qpairs > 64)
		c->opts.max_qpairs = 64;
	if (!c->opts.cmd_timeout_ms)
		c->opts.cmd_timeout_ms = NVME_DEFAULT_TIMEOUT;
	pthread_mutex_init(&c->admin_lock, NULL);

	rc = check_nvme(c);
	if (rc)
		goto fail;
	c->idbuf = udma_zmalloc(ctx, NVME_PAGE_SIZE, NVME_PAGE_SIZE, &c->idbuf_iova);
	if (!c->idbuf) {
		rc = nvme__fail(-ENOMEM, "no DMA memory for Identify: %s", udma_last_error());
		goto fail;
	}
	rc = nvme__queue_alloc(c, &c->admin, 0, NVME_ADMIN_ENTRIES);
	if (rc)
		goto fail;
	rc = bring_up(c);
	if (!rc)
		rc = identify_all(c);
	if (!rc) {
		pthread_mutex_lock(&c->admin_lock);
		rc = set_queue_count_locked(c, &c->info.qpairs);
		pthread_mutex_unlock(&c->admin_lock);
	}
	if (rc && disable_quietly(c)) {
		/* It would not stop: what it may still write stays allocated, as
		 * in nvme_detach (udma_dev_close stops it, the context frees it). */
		c->admin.sq = NULL;
		c->idbuf = NULL;
	}
	if (rc)
		goto fail;
	*out = c;
	return 0;
fail:
	if (c->admin.sq)
		nvme__queue_free(c, &c->admin);
	udma_free(ctx, c->idbuf);
	pthread_mutex_destroy(&c->admin_lock);
	free(c);
	return rc;
}

int nvme_reset(struct nvme_ctrl *c)
{
	int rc;

	if (!c)
		return nvme__fail(-EINVAL, "nvme_reset: no controller");
	pthread_mutex_lock(&c->admin_lock);
	/* Disabled, the controller does no more DMA (§7.3.2): only then are the
	 * commands it had lost for good, and their buffers free to go back. */
	rc = disable(c);
	if (rc)
		goto out;
	for (struct nvme_qp *qp = c->qps; qp; qp = qp->next) {
		nvme__qp_lose_inflight(qp);
		qp->created = false;
	}
	rc = enable(c);
	if (rc)
		goto out;
	unsigned granted; /* the pairs that exist were granted before: same controller */
	rc = set_queue_count_locked(c, &granted);
	for (struct nvme_qp *qp = c->qps; qp && !rc; qp = qp->next) {
		nvme__queue_reset(&qp->q);
		rc = nvme__create_io_queues(c, qp);
	}
	if (!rc)
		__atomic_store_n(&c->failed, 0, __ATOMIC_RELEASE);
out:
	if (rc)
		nvme__set_failed(c);
	pthread_mutex_unlock(&c->admin_lock);
	return rc;
}

int nvme_detach(struct nvme_ctrl *c)
{
	int rc = 0;

	if (!c)
		return 0;
	pthread_mutex_lock(&c->admin_lock);
	if (c->qps) {
		pthread_mutex_unlock(&c->admin_lock);
		return nvme__fail(-EBUSY, "nvme_detach: queue pair %u still exists: nvme_qp_destroy it first",
				  c->qps->q.qid);
	}
	pthread_mutex_unlock(&c->admin_lock);
	if (!nvme__failed(c)) {
		/* Normal shutdown (§7.6.2): the controller flushes its cache and
		 * says when its media is safe. */
		uint32_t cc = nvme__rd32(c, NVME_REG_CC);
		int64_t deadline = nvme__now_ms() + c->info.ready_timeout_ms;

		nvme__wr32(c, NVME_REG_CC, (cc & ~NVME_CC_SHN_MASK) | NVME_CC_SHN_NORMAL);
		while ((nvme__rd32(c, NVME_REG_CSTS) & NVME_CSTS_SHST_MASK) != NVME_CSTS_SHST_COMPLETE) {
			if (nvme__now_ms() > deadline) {
				rc = nvme__fail(-ETIMEDOUT,
						"shutdown: CSTS.SHST did not say complete within %u ms",
						c->info.ready_timeout_ms);
				break;
			}
			sched_yield();
		}
	}
	/* Then disabled, so that nothing of ours is in use by the device when
	 * it is freed. A controller that will not stop keeps its queue memory
	 * and Identify buffer (an Identify that timed out may still land):
	 * freeing memory a device may still write would hand it to others. */
	struct nvme_error_line saved;
	nvme__error_save(&saved);
	int off = disable(c);
	if (off) {
		struct nvme_error_line why; /* not the line being written */

		nvme__error_save(&why);
		rc = nvme__fail(off,
				"%s; its admin queue memory stays allocated, as it may still write it: "
				"udma_dev_close stops it",
				why.text);
	} else {
		nvme__queue_free(c, &c->admin);
		udma_free(c->ctx, c->idbuf);
		nvme__error_restore(&saved);
	}
	pthread_mutex_destroy(&c->admin_lock);
	free(c);
	return rc;
}
