/* SPDX-License-Identifier: MIT */
/*
 * What the device does with one submission entry: DMA copy and fill, the NIC
 * loopback (TX into the next posted RX buffer) and block reads and writes.
 * Every field is validated; memory is reached only through the IOMMU, whose
 * read lock simdev_poll holds across the pass, so an unmap waits for it.
 */
#include <errno.h>
#include <string.h>
#include <unistd.h>

#include "sim/simdev_model_internal.h"

static struct simdev_result res(uint16_t status, uint32_t len)
{
	return (struct simdev_result){.status = status, .len = len};
}

static bool len_ok(uint32_t len)
{
	return len > 0 && len <= SIMDEV_MAX_XFER;
}

static struct simdev_result dma_copy(struct simdev *d, unsigned qi, const struct simdev_sqe *e)
{
	uint8_t *src, *dst;

	src = simdev_translate(d, qi, e->src, e->len);
	dst = src ? simdev_translate(d, qi, e->dst, e->len) : NULL;
	if (dst)
		memmove(dst, src, e->len);
	if (!dst)
		return res(SIMDEV_ST_IOMMU, 0);
	d->stat_bytes += e->len;
	return res(SIMDEV_ST_OK, e->len);
}

static struct simdev_result dma_fill(struct simdev *d, unsigned qi, const struct simdev_sqe *e)
{
	uint8_t *dst;

	dst = simdev_translate(d, qi, e->dst, e->len);
	if (dst)
		memset(dst, (int)(e->src & 0xff), e->len);
	if (!dst)
		return res(SIMDEV_ST_IOMMU, 0);
	d->stat_bytes += e->len;
	return res(SIMDEV_ST_OK, e->len);
}

/* The NIC's RX side: the first enabled NIC_RX queue, or -1. */
static int nic_rx_queue(const struct simdev *d)
{
	for (unsigned i = 0; i < d->cfg.num_queues; i++)
		if (d->q[i].active && d->q[i].type == SIMDEV_QTYPE_NIC_RX)
			return (int)i;
	return -1;
}

/* Deliver the packet (already translated, lock held by the caller) into the
 * RX buffer e; returns the RX completion's status. */
static uint16_t nic_deliver(struct simdev *d, unsigned rq, const struct simdev_sqe *rx, const void *pkt,
			    uint32_t len)
{
	void *buf;

	if (rx->opcode != SIMDEV_OP_NIC_RX_POST)
		return SIMDEV_ST_BAD_OPCODE;
	if (!len_ok(rx->len))
		return SIMDEV_ST_BAD_LEN;
	if (len > rx->len)
		return SIMDEV_ST_TOO_SMALL;
	buf = simdev_translate(d, rq, rx->dst, len);
	if (!buf)
		return SIMDEV_ST_IOMMU;
	memcpy(buf, pkt, len);
	d->stat_bytes += len;
	return SIMDEV_ST_OK;
}

/* A TX packet takes the next posted RX buffer; none posted is a counted drop.
 * If the RX completion ring is full the TX waits (back-pressure). */
static struct simdev_result nic_tx(struct simdev *d, unsigned qi, const struct simdev_sqe *e)
{
	struct simdev_sqe rx;
	uint16_t st;
	int rq = nic_rx_queue(d);
	const void *pkt;

	if (rq < 0 || !simdev_sq_pending(d, (unsigned)rq)) {
		d->stat_rx_drop++;
		return res(SIMDEV_ST_OK, e->len);
	}
	if (!simdev_cq_room(d, (unsigned)rq))
		return res(SIMDEV_STALL, 0);
	if (!simdev_read_sqe(d, (unsigned)rq, &rx))
		return res(SIMDEV_ST_OK, e->len); /* the RX ring just failed: the packet is lost */
	pkt = simdev_translate(d, qi, e->src, e->len);
	st = pkt ? nic_deliver(d, (unsigned)rq, &rx, pkt, e->len) : SIMDEV_ST_OK;
	if (!pkt)
		return res(SIMDEV_ST_IOMMU, 0); /* the RX buffer stays posted */
	simdev_post_cqe(d, (unsigned)rq, rx.cookie, e->len, st);
	return res(SIMDEV_ST_OK, e->len);
}

/* Full-length pread/pwrite: short transfers are retried, errors are IO_ERROR. */
static bool blk_io(int fd, bool write, uint8_t *buf, uint32_t len, uint64_t off)
{
	while (len) {
		ssize_t n = write ? pwrite(fd, buf, len, (off_t)off) : pread(fd, buf, len, (off_t)off);

		if (n < 0 && errno == EINTR)
			continue;
		if (n <= 0)
			return false;
		buf += n;
		len -= (uint32_t)n;
		off += (uint64_t)n;
	}
	return true;
}

static struct simdev_result blk_rw(struct simdev *d, unsigned qi, const struct simdev_sqe *e, bool write)
{
	uint64_t iova = write ? e->src : e->dst;
	uint8_t *buf;
	bool ok;

	if (d->cfg.block_fd < 0)
		return res(SIMDEV_ST_BAD_OPCODE, 0);
	if (e->len % d->blk_size)
		return res(SIMDEV_ST_BAD_LEN, 0);
	if (e->block >= d->blk_count || e->len / d->blk_size > d->blk_count - e->block)
		return res(SIMDEV_ST_BAD_BLOCK, 0);
	buf = simdev_translate(d, qi, iova, e->len);
	ok = buf && blk_io(d->cfg.block_fd, write, buf, e->len, e->block * d->blk_size);
	if (!buf)
		return res(SIMDEV_ST_IOMMU, 0);
	if (!ok)
		return res(SIMDEV_ST_IO_ERROR, 0);
	d->stat_bytes += e->len;
	return res(SIMDEV_ST_OK, e->len);
}

struct simdev_result simdev_ops_execute(struct simdev *d, unsigned qi, const struct simdev_sqe *e)
{
	unsigned type = d->q[qi].type;

	if (!len_ok(e->len))
		return res(SIMDEV_ST_BAD_LEN, 0);
	switch (e->opcode) {
	case SIMDEV_OP_COPY:
		if (type == SIMDEV_QTYPE_DMA)
			return dma_copy(d, qi, e);
		break;
	case SIMDEV_OP_FILL:
		if (type == SIMDEV_QTYPE_DMA)
			return dma_fill(d, qi, e);
		break;
	case SIMDEV_OP_NIC_TX:
		if (type == SIMDEV_QTYPE_NIC_TX)
			return nic_tx(d, qi, e);
		break;
	case SIMDEV_OP_BLK_READ:
	case SIMDEV_OP_BLK_WRITE:
		if (type == SIMDEV_QTYPE_BLOCK)
			return blk_rw(d, qi, e, e->opcode == SIMDEV_OP_BLK_WRITE);
		break;
	}
	return res(SIMDEV_ST_BAD_OPCODE, 0);
}
