/* SPDX-License-Identifier: MIT */
/*
 * I/O queue pairs: making them, building PRPs (§4.3), submitting with
 * batched doorbells, reaping completions by phase tag (§4.6), waiting by
 * polling or interrupt, and the timeout path (Abort, then failure).
 */
#include <errno.h>
#include <poll.h>
#include <sched.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "drivers/nvme/nvme_internal.h"

/* How often a waiting pair looks for commands past their timeout and for a
 * controller fatal status (an MMIO read). */
#define NVME_CHECK_EVERY_MS 20
/* An interrupt-mode waiter also looks this often: under UIO one INTx line
 * serves every queue, and another waiter may have taken the wake-up. */
#define NVME_IRQ_SLICE_MS 10

unsigned nvme_qp_id(const struct nvme_qp *qp)
{
	return qp->q.qid;
}

unsigned nvme_qp_inflight(const struct nvme_qp *qp)
{
	return qp->depth - qp->nfree;
}

static void qp_free(struct nvme_qp *qp)
{
	struct nvme_ctrl *c = qp->ctrl;

	if (qp->prp_pool) {
		for (unsigned i = 0; i < qp->depth; i++)
			if (qp->slots && qp->slots[i].prp_list)
				udma_pool_put(qp->prp_pool, qp->slots[i].prp_list);
		udma_pool_destroy(qp->prp_pool);
	}
	if (qp->q.sq)
		nvme__queue_free(c, &qp->q);
	free(qp->slots);
	free(qp->free_cids);
	free(qp->abandoned);
	free(qp->lost);
	free(qp);
}

/* Interrupts: MSI-X gives each pair a vector of its own when the device
 * layer enabled that many (VFIO); otherwise every queue shares vector 0,
 * which is all INTx (UIO) has. */
static int pick_vector(struct nvme_qp *qp)
{
	struct udma_dev *dev = qp->ctrl->dev;
	int fd = udma_dev_irq_fd(dev, qp->q.qid);

	qp->vector = qp->q.qid;
	if (fd < 0) {
		fd = udma_dev_irq_fd(dev, 0);
		qp->vector = 0;
	}
	if (fd < 0)
		return nvme__fail(-ENOTSUP, "queue %u: no interrupt to wait on (%s): use NVME_POLL",
				  qp->q.qid, udma_last_error());
	qp->irq_fd = fd;
	return 0;
}

int nvme_qp_create(struct nvme_ctrl *c, const struct nvme_qp_opts *opts, struct nvme_qp **out)
{
	struct nvme_qp_opts o = {.depth = NVME_DEFAULT_DEPTH, .how = NVME_POLL};
	int rc;

	if (!c || !out)
		return nvme__fail(-EINVAL, "nvme_qp_create: controller and out are required");
	*out = NULL;
	if (opts)
		o = *opts;
	if (!o.depth)
		o.depth = NVME_DEFAULT_DEPTH;
	/* One SQ entry stays empty (full is tail + 1 == head, §4.1.2); 16-bit CIDs. */
	if (o.depth >= c->info.max_entries || o.depth > UINT16_MAX)
		return nvme__fail(-ERANGE, "depth %u: this controller's queues take at most %u commands",
				  o.depth, c->info.max_entries - 1);
	if (o.how != NVME_POLL && o.how != NVME_IRQ)
		return nvme__fail(-EINVAL, "nvme_qp_create: how is NVME_POLL or NVME_IRQ");
	if (nvme__failed(c))
		return nvme__fail(-ESHUTDOWN, "the controller failed: nvme_reset it first");

	struct nvme_qp *qp = calloc(1, sizeof(*qp));
	if (!qp)
		return nvme__fail(-ENOMEM, "nvme_qp_create: out of memory");
	qp->ctrl = c;
	qp->depth = o.depth;
	qp->how = o.how;
	qp->irq_fd = -1;
	qp->slots = calloc(o.depth, sizeof(*qp->slots));
	qp->free_cids = calloc(o.depth, sizeof(*qp->free_cids));
	qp->abandoned = calloc(o.depth, sizeof(*qp->abandoned));
	qp->lost = calloc(o.depth, sizeof(*qp->lost));
	if (!qp->slots || !qp->free_cids || !qp->abandoned || !qp->lost) {
		qp_free(qp);
		return nvme__fail(-ENOMEM, "nvme_qp_create: out of memory");
	}

	pthread_mutex_lock(&c->admin_lock);
	unsigned qid = 1;
	while (qid <= c->info.qpairs && (c->qid_used >> (qid - 1) & 1))
		qid++;
	if (qid > c->info.qpairs) {
		pthread_mutex_unlock(&c->admin_lock);
		qp_free(qp);
		return nvme__fail(-ENOSPC, "every I/O queue pair the controller granted (%u) exists",
				  c->info.qpairs);
	}
	rc = nvme__queue_alloc(c, &qp->q, (uint16_t)qid, o.depth + 1);
	if (!rc && o.how == NVME_IRQ)
		rc = pick_vector(qp);
	if (!rc) {
		/* One PRP-list page per slot, taken now: submitting allocates nothing. */
		char name[32];
		snprintf(name, sizeof(name), "nvme-prp-q%u", qid);
		struct udma_pool_opts po = {.obj_size = NVME_PAGE_SIZE,
					    .align = NVME_PAGE_SIZE,
					    .count = o.depth,
					    .numa_node = UDMA_NUMA_ANY,
					    .name = name};
		rc = udma_pool_create(c->ctx, &po, &qp->prp_pool);
		if (rc)
			nvme__fail(rc, "queue %u: PRP-list pool: %s", qid, udma_last_error());
	}
	for (unsigned i = 0; !rc && i < o.depth; i++) {
		struct nvme_slot *s = &qp->slots[i];

		s->prp_list = udma_pool_get(qp->prp_pool);
		s->prp_iova = s->prp_list ? udma_pool_iova(qp->prp_pool, s->prp_list) : UDMA_BAD_IOVA;
		if (!s->prp_list)
			rc = nvme__fail(-ENOMEM, "queue %u: PRP-list pool: %s", qid, udma_last_error());
		qp->free_cids[i] = (uint16_t)(o.depth - 1 - i);
	}
	qp->nfree = o.depth;
	if (!rc)
		rc = nvme__create_io_queues(c, qp);
	if (rc) {
		pthread_mutex_unlock(&c->admin_lock);
		qp_free(qp);
		return rc;
	}
	c->qid_used |= 1ull << (qid - 1);
	qp->next = c->qps;
	c->qps = qp;
	pthread_mutex_unlock(&c->admin_lock);
	*out = qp;
	return 0;
}

int nvme_qp_destroy(struct nvme_qp *qp)
{
	if (!qp)
		return 0;
	struct nvme_ctrl *c = qp->ctrl;
	if (nvme_qp_inflight(qp))
		return nvme__fail(-EBUSY,
				  "queue %u: %u commands in flight: reap them (or nvme_reset, then "
				  "nvme_qp_abandon) first",
				  qp->q.qid, nvme_qp_inflight(qp));
	if (qp->nabandoned)
		return nvme__fail(
			-EBUSY, "queue %u: %u commands lost in a reset: take them back with nvme_qp_abandon",
			qp->q.qid, qp->nabandoned);
	pthread_mutex_lock(&c->admin_lock);
	if (qp->created && !nvme__failed(c)) {
		int rc = nvme__delete_io_queues(c, qp);
		if (rc) {
			pthread_mutex_unlock(&c->admin_lock);
			return rc;
		}
	}
	/* A failed controller's queues are forgotten at its reset or disabled
	 * at detach; with nothing in flight it has nothing to write here. */
	for (struct nvme_qp **p = &c->qps; *p; p = &(*p)->next) {
		if (*p == qp) {
			*p = qp->next;
			break;
		}
	}
	c->qid_used &= ~(1ull << (qp->q.qid - 1));
	pthread_mutex_unlock(&c->admin_lock);
	qp_free(qp);
	return 0;
}

/* ---- submitting ---- */

static int submit(struct nvme_qp *qp, struct nvme_sqe *sqe, uint16_t cid, uint64_t cookie, unsigned flags)
{
	struct nvme_slot *s = &qp->slots[cid];

	qp->nfree--;
	qp->submitted++;
	s->cookie = cookie;
	s->seq = qp->next_seq++;
	s->submit_ms = nvme__now_ms();
	s->busy = true;
	s->abort_sent = false;
	sqe->cid = cid;
	nvme__queue_push(&qp->q, sqe);
	if (!(flags & NVME_F_BATCH))
		nvme__queue_ring(&qp->q);
	return 0;
}

static int check_submit(struct nvme_qp *qp)
{
	if (nvme__failed(qp->ctrl))
		return nvme__fail(-ESHUTDOWN,
				  "queue %u: the controller failed: nvme_reset, then nvme_qp_abandon",
				  qp->q.qid);
	if (!qp->nfree)
		return nvme__fail(-EAGAIN, "queue %u: all %u commands in flight: reap some first", qp->q.qid,
				  qp->depth);
	/* A lost command's cookie holds its slot until taken back: the pair
	 * has room for depth of them, in flight and lost together. */
	if (qp->nfree <= qp->nabandoned)
		return nvme__fail(-EBUSY,
				  "queue %u: %u commands lost in a reset hold its slots: take them back "
				  "with nvme_qp_abandon",
				  qp->q.qid, qp->nabandoned);
	return 0;
}

/*
 * PRPs for len bytes at buf (§4.3). PRP1 names the first byte, any offset
 * in its page; the rest is whole pages: PRP2 names the second page if there
 * are only two, else a list of them (the slot's page). Each page is
 * translated on its own: in PA mode on 4 KiB pages, neighbours in virtual
 * memory are not neighbours on the bus.
 */
static int build_prps(struct nvme_qp *qp, struct nvme_slot *s, const void *buf, uint32_t len,
		      struct nvme_sqe *sqe)
{
	const struct udma_ctx *ctx = qp->ctrl->ctx;
	uintptr_t va = (uintptr_t)buf;
	uint32_t first = NVME_PAGE_SIZE - (uint32_t)(va & (NVME_PAGE_SIZE - 1));
	uint64_t iova = udma_iova(ctx, buf);

	if (iova == UDMA_BAD_IOVA)
		return nvme__fail(
			-EFAULT,
			"buffer %p is not udma memory of this context (a region, pool or udma_malloc)", buf);
	sqe->prp1 = iova;
	sqe->prp2 = 0;
	if (len <= first)
		return 0;
	uintptr_t page = va + first;
	uint32_t pages = (len - first + NVME_PAGE_SIZE - 1) / NVME_PAGE_SIZE;
	for (uint32_t i = 0; i < pages; i++) {
		iova = udma_iova(ctx, (const void *)(page + (uintptr_t)i * NVME_PAGE_SIZE));
		if (iova == UDMA_BAD_IOVA)
			return nvme__fail(-EFAULT, "buffer %p: byte %u on is not udma memory of this context",
					  buf, first + i * NVME_PAGE_SIZE);
		if (pages == 1)
			sqe->prp2 = iova;
		else
			s->prp_list[i] = iova;
	}
	if (pages > 1)
		sqe->prp2 = s->prp_iova;
	return 0;
}

/* Checked before anything is queued: the controller would refuse it too
 * (LBA Out of Range), but a refusal here costs no command. */
static int check_range(const struct nvme_ctrl *c, const char *op, uint64_t lba, uint64_t nlb)
{
	if (lba < c->ns.nlba && nlb <= c->ns.nlba - lba)
		return 0;
	return nvme__fail(
		-ERANGE, "%s of %llu blocks at LBA %llu: past the end of namespace %u (%llu blocks)", op,
		(unsigned long long)nlb, (unsigned long long)lba, c->ns.nsid, (unsigned long long)c->ns.nlba);
}

static int rw(struct nvme_qp *qp, uint8_t opc, const void *buf, uint64_t lba, uint32_t nlb, uint64_t cookie,
	      unsigned flags)
{
	struct nvme_ctrl *c = qp->ctrl;
	const char *op = opc == NVME_CMD_READ ? "read" : "write";
	int rc;

	if (!buf || nlb == 0 || ((uintptr_t)buf & 3))
		return nvme__fail(
			-EINVAL, "%s: %s", op,
			!buf ? "no buffer"
			: nlb == 0
				? "0 blocks"
				: "the buffer must be 4-byte aligned (PRP entries are dword aligned, §4.3)");
	rc = check_range(c, op, lba, nlb);
	if (rc)
		return rc;
	uint64_t bytes = (uint64_t)nlb * c->ns.lba_size;
	if (bytes > c->info.max_xfer || nlb > NVME_RW_MAX_BLOCKS)
		return nvme__fail(
			-E2BIG,
			"%s of %llu bytes: more than one command moves (%u): split it or use nvme_rw_sync",
			op, (unsigned long long)bytes, c->info.max_xfer);
	rc = check_submit(qp);
	if (rc)
		return rc;
	uint16_t cid = qp->free_cids[qp->nfree - 1];
	struct nvme_sqe sqe = {.opc = opc,
			       .nsid = c->ns.nsid,
			       .cdw10 = (uint32_t)lba,
			       .cdw11 = (uint32_t)(lba >> 32),
			       .cdw12 = (nlb - 1) | ((flags & NVME_F_FUA) ? NVME_RW_FUA : 0)};
	rc = build_prps(qp, &qp->slots[cid], buf, (uint32_t)bytes, &sqe);
	if (rc)
		return rc;
	return submit(qp, &sqe, cid, cookie, flags);
}

int nvme_read(struct nvme_qp *qp, void *buf, uint64_t lba, uint32_t nlb, uint64_t cookie, unsigned flags)
{
	return rw(qp, NVME_CMD_READ, buf, lba, nlb, cookie, flags);
}

int nvme_write(struct nvme_qp *qp, const void *buf, uint64_t lba, uint32_t nlb, uint64_t cookie,
	       unsigned flags)
{
	return rw(qp, NVME_CMD_WRITE, buf, lba, nlb, cookie, flags);
}

int nvme_write_zeroes(struct nvme_qp *qp, uint64_t lba, uint32_t nlb, uint64_t cookie, unsigned flags)
{
	struct nvme_ctrl *c = qp->ctrl;

	if (!(c->info.oncs & NVME_ONCS_WRITE_ZEROES))
		return nvme__fail(-EOPNOTSUPP,
				  "write zeroes: the controller does not support it (ONCS bit 3)");
	if (nlb == 0 || nlb > NVME_RW_MAX_BLOCKS)
		return nvme__fail(nlb ? -E2BIG : -EINVAL, "write zeroes of %u blocks: 1 .. %u per command",
				  nlb, NVME_RW_MAX_BLOCKS);
	int rc = check_range(c, "write zeroes", lba, nlb);
	if (!rc)
		rc = check_submit(qp);
	if (rc)
		return rc;
	struct nvme_sqe sqe = {.opc = NVME_CMD_WRITE_ZEROES,
			       .nsid = c->ns.nsid,
			       .cdw10 = (uint32_t)lba,
			       .cdw11 = (uint32_t)(lba >> 32),
			       .cdw12 = nlb - 1};
	return submit(qp, &sqe, qp->free_cids[qp->nfree - 1], cookie, flags);
}

int nvme_flush(struct nvme_qp *qp, uint64_t cookie, unsigned flags)
{
	int rc = check_submit(qp);

	if (rc)
		return rc;
	struct nvme_sqe sqe = {.opc = NVME_CMD_FLUSH, .nsid = qp->ctrl->ns.nsid};
	return submit(qp, &sqe, qp->free_cids[qp->nfree - 1], cookie, flags);
}

int nvme_qp_submit_raw(struct nvme_qp *qp, const struct nvme_sqe *sqe, uint64_t cookie, unsigned flags)
{
	if (!sqe)
		return nvme__fail(-EINVAL, "nvme_qp_submit_raw: no command");
	int rc = check_submit(qp);
	if (rc)
		return rc;
	struct nvme_sqe copy = *sqe;
	return submit(qp, &copy, qp->free_cids[qp->nfree - 1], cookie, flags);
}

void nvme_qp_stats(const struct nvme_qp *qp, struct nvme_qp_stats *out)
{
	*out = (struct nvme_qp_stats){.submitted = qp->submitted,
				      .completed = qp->completed,
				      .sq_doorbells = qp->q.sq_rings,
				      .cq_doorbells = qp->q.cq_rings,
				      .interrupts = qp->interrupts};
}

void nvme_qp_kick(struct nvme_qp *qp)
{
	nvme__queue_ring(&qp->q);
}

/* ---- completions ---- */

/* A failure found by this pair (the message just set), for nvme_qp_wait to
 * return once, after the completions that came before it. */
static void note_failure(struct nvme_qp *qp, int err)
{
	qp->fail_err = err;
	nvme__error_save(&qp->fail_why);
}

unsigned nvme_qp_reap(struct nvme_qp *qp, struct nvme_cpl *out, unsigned max)
{
	struct nvme_queue *q = &qp->q;
	unsigned n = 0;

	while (n < max) {
		volatile struct nvme_cqe *e = nvme__cq_next(q);

		if (!e)
			break;
		uint16_t cid = e->cid;
		if (cid >= qp->depth || !qp->slots[cid].busy) {
			/* Not a command of ours: a controller bug or memory
			 * corruption. Stop trusting this queue. */
			int rc = nvme__fail(-EPROTO,
					    "queue %u: a completion for CID %u, which is not in flight: "
					    "nvme_reset, then nvme_qp_abandon",
					    q->qid, cid);
			if (!nvme__failed(qp->ctrl))
				note_failure(qp, rc);
			nvme__set_failed(qp->ctrl);
			break;
		}
		struct nvme_slot *s = &qp->slots[cid];
		uint16_t sf = e->status >> 1;
		out[n].cookie = s->cookie;
		out[n].status = sf;
		out[n].dw0 = e->dw0;
		out[n].err = sf ? nvme_status_errno(sf, NULL) : 0;
		n++;
		s->busy = false;
		qp->free_cids[qp->nfree++] = cid;
		nvme__cq_pop(q);
	}
	if (n) {
		nvme__cq_ring(q);
		qp->completed += n;
	}
	return n;
}

/* Whether cid's completion waits in the CQ, not yet reaped (a caller that
 * takes fewer than are there): then it is not late. */
static bool in_cq(const struct nvme_qp *qp, uint16_t cid)
{
	const struct nvme_queue *q = &qp->q;
	uint32_t head = q->cq_head;
	uint16_t phase = q->phase;

	for (uint32_t n = 0; n < q->entries && (q->cq[head].status & 1) == phase; n++) {
		udma_dma_rmb();
		if (q->cq[head].cid == cid)
			return true;
		if (++head == q->entries) {
			head = 0;
			phase ^= 1;
		}
	}
	return false;
}

/* The oldest command past the timeout: abort it; if the controller will
 * not, the controller has failed. */
static int check_expired(struct nvme_qp *qp)
{
	struct nvme_ctrl *c = qp->ctrl;
	int64_t now = nvme__now_ms();
	struct nvme_slot *oldest = NULL;

	if (now < qp->next_check_ms)
		return 0;
	qp->next_check_ms = now + NVME_CHECK_EVERY_MS;
	uint32_t csts = nvme__rd32(c, NVME_REG_CSTS);
	if (csts == UINT32_MAX || (csts & NVME_CSTS_CFS)) {
		nvme__set_failed(c);
		return nvme__fail(csts == UINT32_MAX ? -ENODEV : -EIO,
				  "queue %u: %s: nvme_reset, then nvme_qp_abandon", qp->q.qid,
				  csts == UINT32_MAX ? "the registers read all ones (the function is gone)"
						     : "the controller reports a fatal error (CSTS.CFS)");
	}
	for (unsigned i = 0; i < qp->depth; i++) {
		struct nvme_slot *s = &qp->slots[i];
		if (s->busy && (!oldest || s->seq < oldest->seq))
			oldest = s;
	}
	if (!oldest || now - oldest->submit_ms < (int64_t)c->opts.cmd_timeout_ms)
		return 0;
	uint16_t cid = (uint16_t)(oldest - qp->slots);
	if (in_cq(qp, cid))
		return 0;
	bool aborted = false;
	if (!oldest->abort_sent) {
		oldest->abort_sent = true;
		nvme__abort(c, qp->q.qid, cid, &aborted);
		if (aborted) {
			/* It completes with "abort requested"; give it one more period. */
			oldest->submit_ms = now;
			return 0;
		}
	}
	nvme__set_failed(c);
	return nvme__fail(
		-ETIMEDOUT,
		"queue %u: command %u had no completion after %u ms and the controller did not abort it: "
		"nvme_reset, then nvme_qp_abandon",
		qp->q.qid, cid, c->opts.cmd_timeout_ms);
}

int nvme_qp_wait(struct nvme_qp *qp, struct nvme_cpl *out, unsigned max, int timeout_ms)
{
	int64_t deadline = timeout_ms < 0 ? INT64_MAX : nvme__now_ms() + timeout_ms;
	bool pending_ack = false;
	unsigned spins = 0;

	if (!qp || !out || !max)
		return nvme__fail(-EINVAL, "nvme_qp_wait: a pair and room for a completion are required");
	for (;;) {
		unsigned n = nvme_qp_reap(qp, out, max);
		if (pending_ack) {
			/* After the CQ head doorbell: INTx stays asserted while a
			 * queue has entries the host has not taken, so unmasking
			 * earlier would interrupt again at once. */
			udma_dev_irq_ack(qp->ctrl->dev, qp->vector);
			pending_ack = false;
			if (!n)
				continue; /* an edge may have come between the look and the ack */
		}
		/* Looked for while others complete too: a stuck command must
		 * not hide behind a flow of completions. */
		if (!qp->fail_err && !nvme__failed(qp->ctrl)) {
			int rc = check_expired(qp);
			if (rc)
				note_failure(qp, rc);
		}
		if (n)
			return (int)n;
		if (qp->fail_err) {
			int rc = qp->fail_err;
			qp->fail_err = 0;
			nvme__error_restore(&qp->fail_why);
			return rc;
		}
		if (nvme__failed(qp->ctrl))
			return nvme__fail(-ESHUTDOWN,
					  "queue %u: the controller failed: nvme_reset, then nvme_qp_abandon",
					  qp->q.qid);
		int64_t now = nvme__now_ms();
		if (now >= deadline)
			return 0;
		if (qp->how == NVME_IRQ) {
			struct pollfd p = {.fd = qp->irq_fd, .events = POLLIN};
			int64_t left = deadline - now;
			int slice = left < NVME_IRQ_SLICE_MS ? (int)left : NVME_IRQ_SLICE_MS;
			if (poll(&p, 1, slice) > 0) {
				pending_ack = true;
				qp->interrupts++;
			}
		} else if (++spins % 64 == 0) {
			sched_yield();
		}
	}
}

/* ---- after a reset ---- */

static int by_seq(const void *a, const void *b)
{
	const struct nvme_slot *x = *(struct nvme_slot *const *)a, *y = *(struct nvme_slot *const *)b;

	return x->seq < y->seq ? -1 : x->seq > y->seq;
}

void nvme__qp_lose_inflight(struct nvme_qp *qp)
{
	struct nvme_slot **lost = qp->lost;
	unsigned n = 0;

	qp->fail_err = 0;

	for (unsigned i = 0; i < qp->depth; i++)
		if (qp->slots[i].busy)
			lost[n++] = &qp->slots[i];
	qsort(lost, n, sizeof(lost[0]), by_seq);
	for (unsigned i = 0; i < n; i++) {
		qp->abandoned[qp->nabandoned++] = lost[i]->cookie;
		lost[i]->busy = false;
		qp->free_cids[qp->nfree++] = (uint16_t)(lost[i] - qp->slots);
	}
}

unsigned nvme_qp_abandon(struct nvme_qp *qp, uint64_t *cookies, unsigned max)
{
	unsigned n = qp->nabandoned < max ? qp->nabandoned : max;

	memcpy(cookies, qp->abandoned, n * sizeof(*cookies));
	memmove(qp->abandoned, qp->abandoned + n, (qp->nabandoned - n) * sizeof(*cookies));
	qp->nabandoned -= n;
	return n;
}

int nvme_rw_sync(struct nvme_qp *qp, bool write, void *buf, uint64_t lba, uint64_t nlb)
{
	struct nvme_ctrl *c = qp->ctrl;
	uint64_t per = c->info.max_xfer / c->ns.lba_size;

	if (nvme_qp_inflight(qp))
		return nvme__fail(-EBUSY, "nvme_rw_sync: queue %u has commands in flight", qp->q.qid);
	if (!buf || nlb == 0)
		return nvme__fail(-EINVAL, "nvme_rw_sync: %s", buf ? "0 blocks" : "no buffer");
	/* Checked whole before the first command: nothing is half written. */
	int rc = check_range(c, write ? "write" : "read", lba, nlb);
	if (rc)
		return rc;
	if (per > NVME_RW_MAX_BLOCKS)
		per = NVME_RW_MAX_BLOCKS;
	for (uint64_t done = 0; done < nlb;) {
		uint32_t n = (uint32_t)(nlb - done < per ? nlb - done : per);
		char *p = (char *)buf + done * c->ns.lba_size;
		rc = write ? nvme_write(qp, p, lba + done, n, 0, 0) : nvme_read(qp, p, lba + done, n, 0, 0);
		if (rc)
			return rc;
		struct nvme_cpl cpl;
		rc = nvme_qp_wait(qp, &cpl, 1, -1);
		if (rc < 0)
			return rc;
		if (cpl.err) {
			const char *msg;
			nvme_status_errno(cpl.status, &msg);
			return nvme__fail(cpl.err, "%s of %u blocks at LBA %llu: %s",
					  write ? "write" : "read", n, (unsigned long long)(lba + done), msg);
		}
		done += n;
	}
	return 0;
}
