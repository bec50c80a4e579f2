/* SPDX-License-Identifier: MIT */
/*
 * The udma side of udma nic: one context for the process (PA mode for
 * "uio:ADDR", VA mode for "vfio:ADDR" or any other udma device, as udma nvme
 * chooses), and per port
 * the device, a packet pool (nic_pool_create) and the NIC (drivers/nic).
 * Frames are built in place in the packets' DMA memory: nothing is copied.
 */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <udma/udma.h>

#include "tools/dev_spec.h"
#include "tools/nic/nic_tool.h"

#define POOL_CACHE 64 /* per-thread: the RX and TX threads each keep theirs */

static struct udma_ctx *shared_ctx;
static unsigned ctx_users;
static enum udma_iova_mode ctx_mode;

struct udma_port {
	struct udma_dev *dev;
	struct udma_pool *pool;
	unsigned count;
};

static int udma_tx_alloc(struct nic_port *p, struct frame_batch *b, unsigned want)
{
	struct udma_port *u = p->priv;
	struct nic_pkt **pkts = (struct nic_pkt **)b->handle;
	unsigned i;

	/* Sent packets go back to the pool when reclaimed: reclaim before asking. */
	if (nic_pkt_alloc_bulk(u->pool, pkts, want)) {
		if (nic_tx_reclaim(p->nic, 0) < 0)
			return port_err(EIO, "%s: %s", p->spec, nic_last_error());
		for (i = 0; i < want && (pkts[i] = nic_pkt_alloc(u->pool)); i++)
			;
		want = i;
	}
	for (i = 0; i < want; i++)
		b->data[i] = pkts[i]->data;
	b->n = want;
	return (int)want;
}

static int udma_tx_send(struct nic_port *p, struct frame_batch *b)
{
	struct nic_pkt **pkts = (struct nic_pkt **)b->handle;
	unsigned i;
	int rc;

	for (i = 0; i < b->n; i++)
		pkts[i]->len = b->len[i];
	rc = nic_tx_burst(p->nic, 0, pkts, b->n);
	if (rc < 0)
		return port_err(-rc, "%s: %s", p->spec, nic_last_error());
	return rc;
}

static int udma_tx_drain(struct nic_port *p, int timeout_ms)
{
	uint64_t end = run_now_ns() + (uint64_t)timeout_ms * 1000000u;
	int rc;

	while (nic_tx_pending(p->nic, 0)) {
		if ((rc = nic_tx_reclaim(p->nic, 0)) < 0)
			return port_err(-rc, "%s: %s", p->spec, nic_last_error());
		if (run_now_ns() > end)
			return port_err(ETIMEDOUT, "%s: %u packets not sent after %d ms", p->spec,
					nic_tx_pending(p->nic, 0), timeout_ms);
	}
	return 0;
}

static void udma_release(struct nic_port *p, struct frame_batch *b)
{
	(void)p;
	nic_pkt_free_bulk((struct nic_pkt *const *)b->handle, b->n);
	b->n = 0;
}

static int udma_rx(struct nic_port *p, struct frame_batch *b, unsigned max)
{
	struct nic_pkt **pkts = (struct nic_pkt **)b->handle;
	int rc = nic_rx_burst(p->nic, 0, pkts, max), i;

	if (rc < 0)
		return port_err(-rc, "%s: %s", p->spec, nic_last_error());
	for (i = 0; i < rc; i++) {
		b->data[i] = pkts[i]->data;
		b->len[i] = pkts[i]->len;
	}
	b->n = (unsigned)rc;
	return rc;
}

static int udma_rx_wait(struct nic_port *p, int timeout_ms)
{
	int rc = nic_wait(p->nic, 0, timeout_ms);

	return rc < 0 ? port_err(-rc, "%s: %s", p->spec, nic_last_error()) : rc;
}

static int udma_wait_link(struct nic_port *p, int timeout_ms)
{
	int rc = nic_wait_link(p->nic, timeout_ms);

	return rc ? port_err(-rc, "%s: the link is down after %d ms (%s)", p->spec, timeout_ms,
			     nic_last_error())
		  : 0;
}

static int udma_counts(struct nic_port *p, struct port_counts *out)
{
	struct nic_stats s;
	int rc = nic_stats(p->nic, &s);

	if (rc)
		return port_err(-rc, "%s: %s", p->spec, nic_last_error());
	*out = (struct port_counts){.rx_packets = s.rx_packets,
				    .rx_dropped = s.rx_missed + s.rx_nobuf,
				    .rx_errors = s.rx_errors,
				    .tx_packets = s.tx_packets,
				    .tx_errors = s.tx_errors};
	return 0;
}

static unsigned udma_close(struct nic_port *p)
{
	struct udma_port *u = p->priv;
	unsigned avail, leaked = 0;

	if (!u)
		return 0;
	nic_detach(p->nic);
	p->nic = NULL;
	if (u->pool && (avail = udma_pool_avail(u->pool)) != u->count)
		leaked = u->count - avail;
	udma_pool_destroy(u->pool);
	udma_dev_close(u->dev);
	free(u);
	p->priv = NULL;
	if (ctx_users && !--ctx_users) {
		udma_ctx_destroy(shared_ctx);
		shared_ctx = NULL;
	}
	return leaked;
}

static const struct port_ops udma_ops = {
	.kind = "udma",
	.tx_alloc = udma_tx_alloc,
	.tx_send = udma_tx_send,
	.tx_drain = udma_tx_drain,
	.tx_release = udma_release,
	.rx = udma_rx,
	.rx_release = udma_release,
	.rx_wait = udma_rx_wait,
	.wait_link = udma_wait_link,
	.counts = udma_counts,
	.close = udma_close,
};

/* The process's context, made by the first port. */
static int get_ctx(const char *spec)
{
	struct udma_ctx_opts co;
	int rc;

	dev_spec_ctx_opts(spec, &co);
	if (shared_ctx && ctx_mode != co.iova_mode)
		return port_err(EINVAL,
				"%s: uio: and vfio: devices cannot be mixed in one run (one context: "
				"physical or IOMMU addresses)",
				spec);
	if (!shared_ctx && (rc = udma_ctx_create(&co, &shared_ctx)))
		return port_err(-rc, "%s", udma_last_error());
	ctx_mode = co.iova_mode;
	ctx_users++;
	return 0;
}

int port_open_udma(struct nic_port *p, const char *spec, const struct port_opts *o)
{
	struct udma_port *u;
	struct nic_opts no = {.how = o->irq ? NIC_IRQ : NIC_POLL};
	char name[64];
	int rc;

	if ((rc = get_ctx(spec)))
		return rc;
	if (!(u = calloc(1, sizeof(*u)))) {
		rc = port_err(ENOMEM, "out of memory");
		goto fail_ctx;
	}
	p->ops = &udma_ops;
	p->priv = u;
	p->irq = o->irq;
	u->count = o->pool;
	snprintf(name, sizeof(name), "nic:%s", spec);
	if ((rc = udma_dev_open(shared_ctx, spec, &u->dev))) {
		rc = port_err(-rc, "%s", udma_last_error());
		goto fail;
	}
	if ((rc = nic_pool_create(shared_ctx, u->count, POOL_CACHE, name, &u->pool))) {
		rc = port_err(-rc, "%s", nic_last_error());
		goto fail;
	}
	no.pool = u->pool;
	if ((rc = nic_attach(shared_ctx, u->dev, &no, &p->nic))) {
		rc = port_err(-rc, "%s: %s", spec, nic_last_error());
		goto fail;
	}
	memcpy(p->mac, nic_info(p->nic)->mac, 6);
	snprintf(p->driver, sizeof(p->driver), "%s", nic_info(p->nic)->driver);
	return 0;
fail:
	(void)udma_close(p);
	p->ops = NULL;
	return rc;
fail_ctx:
	if (!--ctx_users) {
		udma_ctx_destroy(shared_ctx);
		shared_ctx = NULL;
	}
	return rc;
}
