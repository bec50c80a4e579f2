/* SPDX-License-Identifier: MIT */
/*
 * What nic.c (identification, packets, argument checks, errors) shares with
 * the drivers behind it: e1000e.c and virtio_net.c (with virtio_pci.c, its
 * two PCI transports). nic.c checks every argument of the public API before
 * it calls an op, so ops see a valid queue, n <= NIC_BURST_MAX and a NIC
 * that has not failed.
 */
#ifndef NIC_INTERNAL_H
#define NIC_INTERNAL_H

#include "drivers/nic/nic.h"

struct nic;

/* A driver. Every op returning int gives 0 (or a count) or a negative errno
 * with nic__err set. */
struct nic_ops {
	/* Set the device up from any state, as nic_attach describes: reset,
	 * rings in udma memory (nic->ctx), RX ring full from nic->opts.pool,
	 * RX and TX on, interrupts as nic->opts.how says. Fills the driver's
	 * part of nic->info (mac, queues, rings, features) and nic->priv. On
	 * failure: the device reset, everything freed, nic->priv NULL. */
	int (*start)(struct nic *nic);
	/* Reset the device (its DMA stops), every packet back to its pool,
	 * everything start made freed; nic->priv NULL. Only after a
	 * confirmed reset (nic.h, "Failure and reset"): otherwise the rings
	 * and their packets stay allocated for good. */
	void (*stop)(struct nic *nic);
	/* Reset and set up again on the same rings (nic_reset). On failure
	 * the packets go back only if the device confirmed its reset. */
	int (*reset)(struct nic *nic);
	int (*rx_burst)(struct nic *nic, unsigned queue, struct nic_pkt **pkts, unsigned n);
	/* Packets are checked by nic.c (len, pool) before this. */
	int (*tx_burst)(struct nic *nic, unsigned queue, struct nic_pkt **pkts, unsigned n);
	int (*tx_reclaim)(struct nic *nic, unsigned queue);
	unsigned (*tx_pending)(const struct nic *nic, unsigned queue);
	int (*link)(struct nic *nic, struct nic_link *out);
	/* NIC_IRQ only (nic.c checks): nic_wait's contract. */
	int (*wait)(struct nic *nic, unsigned queue, int timeout_ms);
	/* Add the device's own counters (rx_missed...) to out. */
	void (*hw_stats)(struct nic *nic, struct nic_stats *out);
};

/* A driver nic.c can pick: which PCI IDs it takes. */
struct nic_driver {
	enum nic_kind kind;
	const char *name; /* nic_info.driver */
	uint16_t vendor, device;
	const struct nic_ops *ops;
};

struct nic {
	const struct nic_ops *ops;
	struct udma_ctx *ctx;
	struct udma_dev *dev;
	struct nic_opts opts; /* defaults filled in: rings never 0 */
	struct nic_info info;
	/* Software counts. The rx_* fields are written by the RX thread only,
	 * tx_* by the TX thread only (nic.c counts tx_errors, the driver the
	 * rest), so neither needs an atomic. */
	struct nic_stats sw;
	int failed; /* nonzero: bursts return -ESHUTDOWN until nic_reset (atomic) */
	void *priv; /* the driver's */
};

/* The drivers (e1000e.c, virtio_net.c): the IDs they take. */
extern const struct nic_driver nic__e1000e_driver;
extern const struct nic_driver nic__virtio_net_driver;	     /* 1af4:1041 */
extern const struct nic_driver nic__virtio_net_transitional; /* 1af4:1000: modern if offered, else legacy */

/* Set this thread's nic_last_error() to one line; returns -e. */
int nic__err(int e, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
/* Mark the NIC failed (bursts return -ESHUTDOWN until nic_reset), with why. */
void nic__fail(struct nic *nic, const char *fmt, ...) __attribute__((format(printf, 2, 3)));

/* Wait for a device interrupt on vector's fd up to timeout_ms (-1: forever):
 * 1 when it fired (not yet acknowledged: the driver clears its cause, then
 * udma_dev_irq_ack), 0 on timeout, -errno. */
int nic__wait_irq(struct nic *nic, unsigned vector, int timeout_ms);

/* Up to n packets of pool into got, for an RX refill: in one bulk get when
 * the pool has n, else what it has. Returns how many. Silent: a pool running
 * short is no error of the burst, and must not overwrite nic_last_error. */
unsigned nic__pool_take(struct udma_pool *pool, struct nic_pkt **got, unsigned n);

/* Milliseconds on the monotonic clock, for the drivers' timeouts. */
uint64_t nic__now_ms(void);

/* Register access: device memory, each access made once at its width. */
static inline uint32_t nic__rd32(const volatile void *bar, unsigned off)
{
	return *(const volatile uint32_t *)((const volatile uint8_t *)bar + off);
}

static inline void nic__wr32(volatile void *bar, unsigned off, uint32_t v)
{
	*(volatile uint32_t *)((volatile uint8_t *)bar + off) = v;
}

static inline uint16_t nic__rd16(const volatile void *bar, unsigned off)
{
	return *(const volatile uint16_t *)((const volatile uint8_t *)bar + off);
}

static inline void nic__wr16(volatile void *bar, unsigned off, uint16_t v)
{
	*(volatile uint16_t *)((volatile uint8_t *)bar + off) = v;
}

static inline uint8_t nic__rd8(const volatile void *bar, unsigned off)
{
	return *((const volatile uint8_t *)bar + off);
}

static inline void nic__wr8(volatile void *bar, unsigned off, uint8_t v)
{
	*((volatile uint8_t *)bar + off) = v;
}

#endif
