/* SPDX-License-Identifier: MIT */
/*
 * The simulated device: its registers, queue pairs, reset and run loop. The
 * operations themselves are in simdev_model_ops.c, the IOMMU in
 * simdev_model_iommu.c. Only the device's thread calls simdev_poll/run; map,
 * unmap and stop come from anywhere.
 */
#include <errno.h>
#include <poll.h>
#include <sched.h>
#include <stdlib.h>
#include <string.h>
#include <sys/eventfd.h>
#include <time.h>
#include <unistd.h>

#include "lib/base/compiler.h"
#include "sim/simdev_model_internal.h"

#define SIMDEV_IRQ_WAIT_MS 50 /* interrupt mode: notice stop and register changes this often */
/* Polling mode, idle: spin this many empty passes (a few microseconds: the
 * next batch usually comes that soon), then yield the CPU between passes,
 * then once idle this long, sleep between passes so an idle device does not
 * keep a core busy. */
#define SIMDEV_IDLE_SPINS    256u
#define SIMDEV_IDLE_YIELD_NS 1000000ull
#define SIMDEV_IDLE_SLEEP_NS 50000L

/* Never blocks: the eventfd may be a driver's (another process's), whose
 * counter it can saturate, and whose O_NONBLOCK it can clear at will. A
 * saturated counter is readable anyway, so skipping the write loses nothing. */
static void fd_signal(int fd)
{
	struct pollfd p = {.fd = fd, .events = POLLOUT};
	uint64_t one = 1;

	if (fd < 0 || poll(&p, 1, 0) != 1 || !(p.revents & POLLOUT))
		return;
	if (write(fd, &one, sizeof(one)) < 0) {
		/* EAGAIN: saturated meanwhile; the reader wakes anyway. */
	}
}

static void bar_init(struct simdev *d)
{
	memset(d->bar, 0, SIMDEV_BAR0_SIZE);
	reg_wr32(d, SIMDEV_REG_ID, SIMDEV_ID_VALUE);
	reg_wr32(d, SIMDEV_REG_VERSION, SIMDEV_VERSION);
	reg_wr32(d, SIMDEV_REG_NUM_QUEUES, d->cfg.num_queues);
	reg_wr32(d, SIMDEV_REG_MAX_DEPTH, SIMDEV_MAX_DEPTH);
	reg_wr32(d, SIMDEV_REG_BLK_SIZE, 512);
	reg_wr64(d, SIMDEV_REG_BLK_COUNT, d->cfg.block_fd >= 0 ? d->cfg.block_bytes / 512 : 0);
	d->blk_size = 512;
}

static int config_check(const struct simdev_config *cfg)
{
	if (!cfg || !cfg->bar || cfg->num_queues < 1 || cfg->num_queues > SIMDEV_MAX_QUEUES)
		return -EINVAL;
	if (((uintptr_t)cfg->bar & 7) != 0)
		return -EINVAL; /* 64-bit registers are accessed atomically */
	if (cfg->block_fd >= 0 && (cfg->block_bytes == 0 || cfg->block_bytes % 4096))
		return -EINVAL;
	return 0;
}

int simdev_create(const struct simdev_config *cfg, struct simdev **out)
{
	pthread_rwlockattr_t attr;
	struct simdev *d;
	int rc = config_check(cfg);

	if (rc || !out)
		return rc ? rc : -EINVAL;
	d = calloc(1, sizeof(*d));
	if (!d)
		return -ENOMEM;
	d->cfg = *cfg;
	d->bar = cfg->bar;
	/* Our own wake-up for simdev_stop: the doorbell is the driver's to drain. */
	d->stop_fd = eventfd(0, EFD_CLOEXEC | EFD_NONBLOCK);
	if (d->stop_fd < 0) {
		rc = -errno;
		free(d);
		return rc;
	}
	/* The device takes the read side constantly: let map/unmap in. */
	pthread_rwlockattr_init(&attr);
	pthread_rwlockattr_setkind_np(&attr, PTHREAD_RWLOCK_PREFER_WRITER_NONRECURSIVE_NP);
	rc = pthread_rwlock_init(&d->iommu_lock, &attr);
	pthread_rwlockattr_destroy(&attr);
	if (rc) {
		close(d->stop_fd);
		free(d);
		return -rc;
	}
	bar_init(d);
	*out = d;
	return 0;
}

void simdev_destroy(struct simdev *d)
{
	if (!d)
		return;
	simdev_iommu_destroy(d);
	pthread_rwlock_destroy(&d->iommu_lock);
	close(d->stop_fd);
	free(d);
}

void simdev_fault(struct simdev *d, uint64_t iova, uint64_t len, unsigned queue, unsigned reason)
{
	reg_wr64(d, SIMDEV_REG_FAULT_IOVA, iova);
	reg_wr32(d, SIMDEV_REG_FAULT_LEN, len > UINT32_MAX ? UINT32_MAX : (uint32_t)len);
	reg_wr32(d, SIMDEV_REG_FAULT_QUEUE, queue);
	reg_wr32(d, SIMDEV_REG_FAULT_REASON, reason);
	reg_wr32(d, SIMDEV_REG_FAULT_COUNT, ++d->fault_count);
	d->irq_pending |= SIMDEV_INT_FAULT;
}

/* Translate or log the fault. Call with the IOMMU read lock held. */
void *simdev_translate(struct simdev *d, unsigned queue, uint64_t iova, uint64_t len)
{
	unsigned reason;
	void *p = simdev_iommu_translate(d, iova, len, &reason);

	if (!p)
		simdev_fault(d, iova, len, queue, reason);
	return p;
}

/* A ring that cannot be reached stops its queue until the next reset. */
static void queue_error(struct simdev *d, unsigned qi, uint64_t iova, uint64_t len)
{
	simdev_fault(d, iova, len, qi, SIMDEV_FAULT_RING);
	reg_wr32(d, SIMDEV_Q_BASE(qi) + SIMDEV_Q_STATUS, SIMDEV_QSTATUS_ERROR);
	d->q[qi].active = false;
}

static bool ring_size_ok(uint32_t n)
{
	return n >= 2 && n <= SIMDEV_MAX_DEPTH && !(n & (n - 1));
}

static bool ring_mapped(struct simdev *d, uint64_t base, uint64_t bytes)
{
	unsigned reason;

	return simdev_iommu_translate(d, base, bytes, &reason) != NULL;
}

/* Latch queue qi's setup registers, written by the driver while disabled. */
static void queue_latch(struct simdev *d, unsigned qi)
{
	struct simdev_queue *q = &d->q[qi];
	unsigned base = SIMDEV_Q_BASE(qi);
	uint32_t ctrl = reg_rd32(d, base + SIMDEV_Q_CTRL);

	memset(q, 0, sizeof(*q));
	q->phase = 1;
	reg_wr32(d, base + SIMDEV_Q_SQ_HEAD, 0);
	reg_wr32(d, base + SIMDEV_Q_STATUS, 0);
	if (!(ctrl & SIMDEV_QCTRL_ENABLE))
		return;
	q->type = SIMDEV_QCTRL_TYPE_OF(ctrl);
	q->sq_base = reg_rd64(d, base + SIMDEV_Q_SQ_BASE);
	q->cq_base = reg_rd64(d, base + SIMDEV_Q_CQ_BASE);
	q->sq_size = reg_rd32(d, base + SIMDEV_Q_SQ_SIZE);
	q->cq_size = reg_rd32(d, base + SIMDEV_Q_CQ_SIZE);
	q->active = true;
	if (q->type > SIMDEV_QTYPE_BLOCK || !ring_size_ok(q->sq_size) || !ring_size_ok(q->cq_size))
		queue_error(d, qi, q->sq_base, q->sq_size);
	else if (!ring_mapped(d, q->sq_base, (uint64_t)q->sq_size * sizeof(struct simdev_sqe)))
		queue_error(d, qi, q->sq_base, (uint64_t)q->sq_size * sizeof(struct simdev_sqe));
	else if (!ring_mapped(d, q->cq_base, (uint64_t)q->cq_size * sizeof(struct simdev_cqe)))
		queue_error(d, qi, q->cq_base, (uint64_t)q->cq_size * sizeof(struct simdev_cqe));
}

static void device_configure(struct simdev *d)
{
	uint32_t bs = reg_rd32(d, SIMDEV_REG_BLK_SIZE);

	if (bs != 512 && bs != 4096) {
		bs = d->blk_size; /* an unsupported size: keep the last good one */
		reg_wr32(d, SIMDEV_REG_BLK_SIZE, bs);
	}
	d->blk_size = bs;
	d->blk_count = d->cfg.block_fd >= 0 ? d->cfg.block_bytes / bs : 0;
	reg_wr64(d, SIMDEV_REG_BLK_COUNT, d->blk_count);
	for (unsigned i = 0; i < d->cfg.num_queues; i++)
		queue_latch(d, i);
	d->configured = true;
}

/* Work between the SQ head and the tail doorbell last read; the doorbell is
 * read again only when that runs out (an out-of-range tail means no work). */
bool simdev_sq_pending(struct simdev *d, unsigned qi)
{
	struct simdev_queue *q = &d->q[qi];
	uint32_t t;

	if (!q->active)
		return false;
	if (q->sq_tail_seen != q->sq_head)
		return true;
	t = qreg_rd32(d, qi, SIMDEV_Q_SQ_TAIL);
	if (t >= q->sq_size)
		return false;
	q->sq_tail_seen = t;
	return t != q->sq_head;
}

/* NVMe-style: one slot stays free, so a full ring never looks empty. The
 * driver's CQ head is read again only when the one last read says full. */
bool simdev_cq_room(struct simdev *d, unsigned qi)
{
	struct simdev_queue *q = &d->q[qi];
	uint32_t head;

	if (((q->cq_tail - q->cq_head_seen) & (q->cq_size - 1)) < q->cq_size - 1)
		return true;
	head = qreg_rd32(d, qi, SIMDEV_Q_CQ_HEAD);
	if (head >= q->cq_size)
		return false;
	q->cq_head_seen = head;
	return ((q->cq_tail - head) & (q->cq_size - 1)) < q->cq_size - 1;
}

/* Copy the entry at the SQ head out of DMA memory (the driver may change it). */
bool simdev_read_sqe(struct simdev *d, unsigned qi, struct simdev_sqe *sqe)
{
	struct simdev_queue *q = &d->q[qi];
	uint64_t iova = q->sq_base + (uint64_t)q->sq_head * sizeof(*sqe);
	unsigned reason;
	void *p;

	p = simdev_iommu_translate(d, iova, sizeof(*sqe), &reason);
	if (p)
		memcpy(sqe, p, sizeof(*sqe));
	if (!p)
		queue_error(d, qi, iova, sizeof(*sqe));
	return p != NULL;
}

/* Consume the SQ head entry and complete it; the status is stored last, with
 * release, so the driver that sees the new phase sees the whole entry. */
bool simdev_post_cqe(struct simdev *d, unsigned qi, uint64_t cookie, uint32_t len, uint16_t status)
{
	struct simdev_queue *q = &d->q[qi];
	uint64_t iova = q->cq_base + (uint64_t)q->cq_tail * sizeof(struct simdev_cqe);
	struct simdev_cqe *cqe;
	unsigned reason;

	q->sq_head = (q->sq_head + 1) & (q->sq_size - 1);
	cqe = simdev_iommu_translate(d, iova, sizeof(*cqe), &reason);
	if (cqe && ((uintptr_t)cqe & 7) == 0) {
		cqe->cookie = cookie;
		cqe->len = len;
		cqe->sq_head = (uint16_t)q->sq_head;
		__atomic_store_n(&cqe->status, (uint16_t)(status << 1 | q->phase), __ATOMIC_RELEASE);
	}
	q->sq_head_dirty = true; /* SQ_HEAD: published at the end of the pass */
	if (!cqe || ((uintptr_t)cqe & 7) != 0) {
		queue_error(d, qi, iova, sizeof(*cqe));
		return false;
	}
	if (++q->cq_tail == q->cq_size) {
		q->cq_tail = 0;
		q->phase ^= 1;
	}
	d->irq_pending |= 1u << qi;
	d->stat_descs++;
	return true;
}

static int queue_process(struct simdev *d, unsigned qi)
{
	struct simdev_queue *q = &d->q[qi];
	struct simdev_sqe sqe;
	int done = 0;

	for (unsigned n = 0; n < SIMDEV_POLL_BUDGET && q->active; n++) {
		struct simdev_result r;

		if (!simdev_sq_pending(d, qi) || !simdev_cq_room(d, qi) || !simdev_read_sqe(d, qi, &sqe))
			break;
		r = simdev_ops_execute(d, qi, &sqe);
		if (r.status == SIMDEV_STALL)
			break;
		if (!simdev_post_cqe(d, qi, sqe.cookie, r.len, r.status))
			break;
		done++;
	}
	return done;
}

/* Complete everything submitted (TX, DMA, block and posted RX buffers alike)
 * as ABORTED while the CQ has room, so the driver gets every buffer back. */
static int queue_abort(struct simdev *d, unsigned qi)
{
	struct simdev_sqe sqe;
	int done = 0;

	while (simdev_sq_pending(d, qi) && simdev_cq_room(d, qi) && simdev_read_sqe(d, qi, &sqe)) {
		if (!simdev_post_cqe(d, qi, sqe.cookie, 0, SIMDEV_ST_ABORTED))
			break;
		done++;
	}
	return done;
}

/* SQ_HEAD once per pass, not once per entry: each store sends the register
 * line to the driver's core. The CQEs already carry the head. */
static void heads_publish(struct simdev *d)
{
	for (unsigned i = 0; i < d->cfg.num_queues; i++) {
		if (!d->q[i].sq_head_dirty)
			continue;
		d->q[i].sq_head_dirty = false;
		reg_wr32(d, SIMDEV_Q_BASE(i) + SIMDEV_Q_SQ_HEAD, d->q[i].sq_head);
	}
}

static void stats_publish(struct simdev *d)
{
	reg_wr64(d, SIMDEV_REG_STAT_DESCS, d->stat_descs);
	reg_wr64(d, SIMDEV_REG_STAT_BYTES, d->stat_bytes);
	reg_wr64(d, SIMDEV_REG_STAT_RX_DROP, d->stat_rx_drop);
}

static int device_reset(struct simdev *d)
{
	int done = 0;

	for (unsigned i = 0; d->configured && i < d->cfg.num_queues; i++)
		done += queue_abort(d, i);
	for (unsigned i = 0; i < d->cfg.num_queues; i++) {
		unsigned base = SIMDEV_Q_BASE(i);

		memset(&d->q[i], 0, sizeof(d->q[i]));
		reg_wr32(d, base + SIMDEV_Q_SQ_HEAD, 0);
		reg_wr32(d, base + SIMDEV_Q_SQ_TAIL, 0);
		reg_wr32(d, base + SIMDEV_Q_CQ_HEAD, 0);
		reg_wr32(d, base + SIMDEV_Q_STATUS, 0);
	}
	d->configured = false;
	d->stat_descs = d->stat_bytes = d->stat_rx_drop = 0;
	d->fault_count = 0;
	stats_publish(d);
	reg_wr32(d, SIMDEV_REG_FAULT_COUNT, 0);
	__atomic_fetch_and((uint32_t *)(d->bar + SIMDEV_REG_STATUS), ~SIMDEV_STATUS_READY, __ATOMIC_RELEASE);
	__atomic_fetch_and((uint32_t *)(d->bar + SIMDEV_REG_CTRL), ~(SIMDEV_CTRL_RESET | SIMDEV_CTRL_ENABLE),
			   __ATOMIC_ACQ_REL);
	return done;
}

/* Raise this pass's interrupt status bits; interrupt if one is unmasked. */
static void irq_raise(struct simdev *d, uint32_t ctrl)
{
	uint32_t bits = d->irq_pending;

	d->irq_pending = 0;
	if (!bits)
		return;
	__atomic_fetch_or((uint32_t *)(d->bar + SIMDEV_REG_INT_STATUS), bits, __ATOMIC_RELEASE);
	if ((ctrl & SIMDEV_CTRL_IRQ) && (bits & ~reg_rd32(d, SIMDEV_REG_INT_MASK)))
		fd_signal(d->cfg.irq_fd);
}

int simdev_poll(struct simdev *d)
{
	uint32_t ctrl;
	int done = 0;

	if (!d)
		return -EINVAL;
	/* One read lock for the whole pass (at most SIMDEV_POLL_BUDGET entries a
	 * queue), not one per access: taking it three times a descriptor was half
	 * the device's time on small copies. An unmap waits for the pass. */
	simdev_iommu_rdlock(d);
	ctrl = reg_rd32(d, SIMDEV_REG_CTRL);
	if (ctrl & SIMDEV_CTRL_RESET) {
		done = device_reset(d);
	} else if (!(ctrl & SIMDEV_CTRL_ENABLE)) {
		__atomic_fetch_and((uint32_t *)(d->bar + SIMDEV_REG_STATUS), ~SIMDEV_STATUS_READY,
				   __ATOMIC_RELEASE);
	} else {
		/* Queues are latched on the first enable after create or reset;
		 * disabling only pauses, so re-enabling resumes where it stopped. */
		if (!d->configured) {
			device_configure(d);
			__atomic_fetch_or((uint32_t *)(d->bar + SIMDEV_REG_STATUS), SIMDEV_STATUS_READY,
					  __ATOMIC_RELEASE);
		}
		/* RX queues are driven by their TX queue, not by a doorbell. */
		for (unsigned i = 0; i < d->cfg.num_queues; i++)
			if (d->q[i].active && d->q[i].type != SIMDEV_QTYPE_NIC_RX)
				done += queue_process(d, i);
		heads_publish(d);
	}
	simdev_iommu_rdunlock(d);
	if (done || d->irq_pending)
		stats_publish(d);
	irq_raise(d, ctrl);
	return done;
}

/* Interrupt mode: sleep until a doorbell, or a while so stop and register
 * changes are noticed; read the eventfd to clear it. */
static void doorbell_wait(struct simdev *d)
{
	struct pollfd pfd[2] = {{.fd = d->cfg.doorbell_fd, .events = POLLIN},
				{.fd = d->stop_fd, .events = POLLIN}};
	/* No doorbell fd: look at the registers every millisecond instead. */
	int wait = pfd[0].fd < 0 ? 1 : SIMDEV_IRQ_WAIT_MS;
	uint64_t v;

	if (poll(pfd, 2, wait) > 0 && (pfd[0].revents & POLLIN)) {
		if (read(pfd[0].fd, &v, sizeof(v)) < 0) {
			/* EAGAIN (nonblocking fd raced): nothing to clear. */
		}
	}
}

static uint64_t now_ns(void)
{
	struct timespec t;

	clock_gettime(CLOCK_MONOTONIC, &t);
	return (uint64_t)t.tv_sec * 1000000000ull + (uint64_t)t.tv_nsec;
}

/* Polling mode, after idle empty passes since the last work (idle_since:
 * when the spinning stopped): spin, yield, or sleep. */
static void idle_wait(unsigned idle, uint64_t *idle_since)
{
	if (idle < SIMDEV_IDLE_SPINS) {
		udma__cpu_pause();
		return;
	}
	if (idle == SIMDEV_IDLE_SPINS)
		*idle_since = now_ns();
	if (now_ns() - *idle_since < SIMDEV_IDLE_YIELD_NS) {
		sched_yield(); /* a 2-core machine stays usable */
		return;
	}
	nanosleep(&(struct timespec){.tv_nsec = SIMDEV_IDLE_SLEEP_NS}, NULL);
}

int simdev_run(struct simdev *d)
{
	uint64_t idle_since = 0;
	unsigned idle = 0;

	if (!d)
		return -EINVAL;
	while (!__atomic_load_n(&d->stop, __ATOMIC_ACQUIRE)) {
		int n = simdev_poll(d);

		if (n < 0)
			return n;
		if (n > 0) {
			idle = 0;
			continue;
		}
		if (reg_rd32(d, SIMDEV_REG_CTRL) & SIMDEV_CTRL_IRQ) {
			doorbell_wait(d);
		} else {
			idle_wait(idle, &idle_since);
			if (idle < UINT32_MAX)
				idle++;
		}
	}
	return 0;
}

void simdev_stop(struct simdev *d)
{
	if (!d)
		return;
	__atomic_store_n(&d->stop, 1, __ATOMIC_RELEASE);
	fd_signal(d->stop_fd);
}
