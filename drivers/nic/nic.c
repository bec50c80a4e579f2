/* SPDX-License-Identifier: MIT */
/*
 * What the NIC drivers share: picking a driver by the function's PCI IDs,
 * the packet pool, checking every argument of the public API (so the drivers'
 * hot paths need not), the per-thread error line.
 */
#include <errno.h>
#include <limits.h>
#include <poll.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "drivers/nic/nic_internal.h"

_Static_assert(offsetof(struct nic_pkt, data) == 64, "a packet's data starts 64 bytes in");
_Static_assert(offsetof(struct nic_pkt, data) - offsetof(struct nic_pkt, prepend) == NIC_PKT_PREPEND,
	       "prepend ends where data begins");

#define RING_DEFAULT  256u
#define PCI_VENDOR_ID 0x00 /* PCI 3.0 §6.2.1: vendor, then device */

static __thread char last_error[256];

const char *nic_last_error(void)
{
	return last_error;
}

int nic__err(int e, const char *fmt, ...)
{
	va_list ap;

	va_start(ap, fmt);
	vsnprintf(last_error, sizeof(last_error), fmt, ap);
	va_end(ap);
	return -e;
}

void nic__fail(struct nic *nic, const char *fmt, ...)
{
	va_list ap;

	va_start(ap, fmt);
	vsnprintf(last_error, sizeof(last_error), fmt, ap);
	va_end(ap);
	__atomic_store_n(&nic->failed, 1, __ATOMIC_RELEASE);
}

uint64_t nic__now_ms(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (uint64_t)ts.tv_sec * 1000u + (uint64_t)ts.tv_nsec / 1000000u;
}

int nic__wait_irq(struct nic *nic, unsigned vector, int timeout_ms)
{
	struct pollfd p = {.events = POLLIN};
	int rc;

	p.fd = udma_dev_irq_fd(nic->dev, vector);
	if (p.fd < 0)
		return nic__err(-p.fd, "%s: no interrupt fd for vector %u: %s", nic->info.driver, vector,
				udma_last_error());
	do
		rc = poll(&p, 1, timeout_ms);
	while (rc < 0 && errno == EINTR);
	if (rc < 0)
		return nic__err(errno, "%s: waiting for its interrupt: %s", nic->info.driver,
				strerror(errno));
	return rc > 0;
}

/* ---- packets ---- */

int nic_pool_create(struct udma_ctx *ctx, unsigned count, unsigned cache_size, const char *name,
		    struct udma_pool **out)
{
	struct udma_pool_opts o = {
		.obj_size = sizeof(struct nic_pkt),
		.align = 64,
		.count = count,
		.cache_size = cache_size,
		.numa_node = UDMA_NUMA_ANY,
		.name = name ? name : "nic-pkts",
	};
	struct udma_pool *pool;
	unsigned i;
	int rc;

	if (!out)
		return nic__err(EINVAL, "nic_pool_create: out is NULL");
	*out = NULL;
	if ((rc = udma_pool_create(ctx, &o, &pool)))
		return nic__err(-rc, "nic_pool_create: %s", udma_last_error());
	/* Each packet's bus address, once: the hot path never translates. */
	for (i = 0; i < count; i++) {
		struct nic_pkt *p = udma_pool_obj(pool, i);

		p->pool = pool;
		p->iova = udma_pool_iova(pool, p) + offsetof(struct nic_pkt, data);
		p->len = 0;
	}
	*out = pool;
	return 0;
}

struct nic_pkt *nic_pkt_alloc(struct udma_pool *pool)
{
	struct nic_pkt *p = udma_pool_get(pool);

	if (!p) {
		nic__err(ENOENT, "nic_pkt_alloc: the pool is empty");
		return NULL;
	}
	p->len = 0;
	return p;
}

unsigned nic__pool_take(struct udma_pool *pool, struct nic_pkt **got, unsigned n)
{
	unsigned i;

	if (!udma_pool_get_bulk(pool, (void **)got, n))
		return n;
	for (i = 0; i < n && (got[i] = udma_pool_get(pool)); i++)
		;
	return i;
}

int nic_pkt_alloc_bulk(struct udma_pool *pool, struct nic_pkt **pkts, unsigned n)
{
	unsigned i;

	if (udma_pool_get_bulk(pool, (void **)pkts, n))
		return nic__err(ENOENT, "nic_pkt_alloc_bulk: fewer than %u packets in the pool", n);
	for (i = 0; i < n; i++)
		pkts[i]->len = 0;
	return 0;
}

void nic_pkt_free(struct nic_pkt *pkt)
{
	if (pkt)
		udma_pool_put(pkt->pool, pkt);
}

void nic_pkt_free_bulk(struct nic_pkt *const *pkts, unsigned n)
{
	unsigned i = 0;

	/* Runs of packets of one pool go back in one call. */
	while (i < n) {
		struct udma_pool *pool = pkts[i]->pool;
		unsigned j = i + 1;

		while (j < n && pkts[j]->pool == pool)
			j++;
		udma_pool_put_bulk(pool, (void *const *)(pkts + i), j - i);
		i = j;
	}
}

/* ---- attach ---- */

static const struct nic_driver *const drivers[] = {
	&nic__e1000e_driver,
	&nic__virtio_net_driver,
	&nic__virtio_net_transitional,
};

static int check_ring(const char *which, unsigned *n)
{
	if (!*n)
		*n = RING_DEFAULT;
	if (*n > 4096)
		return nic__err(EINVAL, "nic_attach: %s of %u descriptors: at most 4096", which, *n);
	return 0;
}

static int check_opts(const struct nic_opts *in, struct nic_opts *o)
{
	int rc;

	if (!in)
		return nic__err(EINVAL, "nic_attach: opts is NULL");
	*o = *in;
	if (!o->pool)
		return nic__err(EINVAL, "nic_attach: opts.pool is NULL: make one with nic_pool_create");
	if (udma_pool_obj_size(o->pool) != sizeof(struct nic_pkt))
		return nic__err(EINVAL,
				"nic_attach: opts.pool holds %zu-byte objects, not packets: make it "
				"with nic_pool_create",
				udma_pool_obj_size(o->pool));
	if (o->how != NIC_POLL && o->how != NIC_IRQ)
		return nic__err(EINVAL, "nic_attach: opts.how is %d: NIC_POLL or NIC_IRQ", (int)o->how);
	if (o->flags & ~NIC_F_LOOPBACK)
		return nic__err(EINVAL, "nic_attach: unknown flags %#x", o->flags & ~NIC_F_LOOPBACK);
	if ((rc = check_ring("rx_ring", &o->rx_ring)) || (rc = check_ring("tx_ring", &o->tx_ring)))
		return rc;
	return 0;
}

int nic_attach(struct udma_ctx *ctx, struct udma_dev *dev, const struct nic_opts *opts, struct nic **out)
{
	const struct nic_driver *drv = NULL;
	uint16_t id[2];
	struct nic *nic;
	unsigned i;
	int rc;

	if (!out)
		return nic__err(EINVAL, "nic_attach: out is NULL");
	*out = NULL;
	if (!ctx || !dev)
		return nic__err(EINVAL, "nic_attach: %s is NULL", !ctx ? "ctx" : "dev");
	nic = calloc(1, sizeof(*nic));
	if (!nic)
		return nic__err(ENOMEM, "nic_attach: out of memory");
	if ((rc = check_opts(opts, &nic->opts)))
		goto fail;
	if ((rc = udma_dev_config_read(dev, PCI_VENDOR_ID, id, sizeof(id)))) {
		rc = nic__err(rc == -ENOTSUP ? ENODEV : -rc, "nic_attach: cannot read its PCI IDs: %s",
			      udma_last_error());
		goto fail;
	}
	for (i = 0; i < sizeof(drivers) / sizeof(drivers[0]); i++)
		if (drivers[i]->vendor == id[0] && drivers[i]->device == id[1])
			drv = drivers[i];
	if (!drv) {
		rc = nic__err(
			ENODEV,
			"nic_attach: %04x:%04x is no NIC these drivers know (e1000e 8086:10d3, virtio-net "
			"1af4:1041 or 1af4:1000)",
			id[0], id[1]);
		goto fail;
	}
	nic->ops = drv->ops;
	nic->ctx = ctx;
	nic->dev = dev;
	nic->info.kind = drv->kind;
	nic->info.driver = drv->name;
	nic->info.vendor = id[0];
	nic->info.device = id[1];
	if ((rc = nic->ops->start(nic)))
		goto fail;
	*out = nic;
	return 0;
fail:
	free(nic);
	return rc;
}

void nic_detach(struct nic *nic)
{
	if (!nic)
		return;
	nic->ops->stop(nic);
	free(nic);
}

const struct nic_info *nic_info(const struct nic *nic)
{
	return nic ? &nic->info : NULL;
}

int nic_link(struct nic *nic, struct nic_link *out)
{
	if (!nic || !out)
		return nic__err(EINVAL, "nic_link: %s is NULL", !nic ? "nic" : "out");
	return nic->ops->link(nic, out);
}

int nic_wait_link(struct nic *nic, int timeout_ms)
{
	uint64_t end = nic__now_ms() + (uint64_t)(timeout_ms < 0 ? 0 : timeout_ms);
	struct nic_link l;
	int rc;

	for (;;) {
		if ((rc = nic_link(nic, &l)))
			return rc;
		if (l.up)
			return 0;
		if (timeout_ms >= 0 && nic__now_ms() >= end)
			return nic__err(ETIMEDOUT,
					"%s: the link is still down after %d ms: is the cable (the "
					"QEMU netdev) there?",
					nic->info.driver, timeout_ms);
		usleep(1000);
	}
}

/* ---- the hot path: checks, then the driver ---- */

static int check_burst(const struct nic *nic, const char *fn, unsigned queue, const void *pkts, unsigned n)
{
	if (!nic || (!pkts && n))
		return nic__err(EINVAL, "%s: %s is NULL", fn, !nic ? "nic" : "pkts");
	if (queue >= nic->info.queues)
		return nic__err(EINVAL, "%s: queue %u: %s has %u", fn, queue, nic->info.driver,
				nic->info.queues);
	if (n > NIC_BURST_MAX)
		return nic__err(EINVAL, "%s: %u packets: at most NIC_BURST_MAX (%u) per burst", fn, n,
				NIC_BURST_MAX);
	if (__atomic_load_n(&nic->failed, __ATOMIC_ACQUIRE))
		return nic__err(ESHUTDOWN, "%s: %s has failed: nic_reset it", fn, nic->info.driver);
	return 0;
}

int nic_rx_burst(struct nic *nic, unsigned queue, struct nic_pkt **pkts, unsigned n)
{
	int rc = check_burst(nic, "nic_rx_burst", queue, pkts, n);

	return rc ? rc : nic->ops->rx_burst(nic, queue, pkts, n);
}

/* How many of pkts[0..n) may go: the first bad one stops the burst. It is
 * counted in tx_errors only when it comes first, the call that reports it:
 * a caller that sends the rest again meets it there, so each refused packet
 * counts once. */
static int tx_checked(struct nic *nic, struct nic_pkt **pkts, unsigned n)
{
	unsigned i;

	for (i = 0; i < n; i++) {
		const struct nic_pkt *p = pkts[i];
		int rc = 0;

		if (!p || !p->pool || udma_pool_index(p->pool, p) == UINT_MAX)
			rc = nic__err(EINVAL,
				      "nic_tx_burst: packet %u is not a packet of a nic_pool_create "
				      "pool",
				      i);
		else if (!p->len || p->len > NIC_FRAME_MAX)
			rc = nic__err(EMSGSIZE,
				      "nic_tx_burst: packet %u is %u bytes: a frame is 1 to %u "
				      "bytes (no FCS; no jumbo frames)",
				      i, p->len, NIC_FRAME_MAX);
		if (rc && i)
			return (int)i;
		if (rc) {
			nic->sw.tx_errors++;
			return rc;
		}
	}
	return (int)n;
}

int nic_tx_burst(struct nic *nic, unsigned queue, struct nic_pkt **pkts, unsigned n)
{
	int rc = check_burst(nic, "nic_tx_burst", queue, pkts, n);
	int ok;

	if (rc)
		return rc;
	ok = tx_checked(nic, pkts, n);
	if (ok <= 0)
		return ok;
	return nic->ops->tx_burst(nic, queue, pkts, (unsigned)ok);
}

int nic_tx_reclaim(struct nic *nic, unsigned queue)
{
	int rc = check_burst(nic, "nic_tx_reclaim", queue, NULL, 0);

	return rc ? rc : nic->ops->tx_reclaim(nic, queue);
}

unsigned nic_tx_pending(const struct nic *nic, unsigned queue)
{
	if (!nic || queue >= nic->info.queues)
		return 0;
	return nic->ops->tx_pending(nic, queue);
}

int nic_wait(struct nic *nic, unsigned queue, int timeout_ms)
{
	int rc = check_burst(nic, "nic_wait", queue, NULL, 0);

	if (rc)
		return rc;
	if (nic->opts.how != NIC_IRQ)
		return nic__err(EINVAL, "nic_wait: %s was attached with NIC_POLL: it raises no interrupt",
				nic->info.driver);
	return nic->ops->wait(nic, queue, timeout_ms);
}

int nic_stats(struct nic *nic, struct nic_stats *out)
{
	if (!nic || !out)
		return nic__err(EINVAL, "nic_stats: %s is NULL", !nic ? "nic" : "out");
	*out = nic->sw;
	nic->ops->hw_stats(nic, out);
	return 0;
}

int nic_reset(struct nic *nic)
{
	int rc;

	if (!nic)
		return nic__err(EINVAL, "nic_reset: nic is NULL");
	rc = nic->ops->reset(nic);
	if (rc)
		__atomic_store_n(&nic->failed, 1, __ATOMIC_RELEASE);
	else
		__atomic_store_n(&nic->failed, 0, __ATOMIC_RELEASE);
	return rc;
}
