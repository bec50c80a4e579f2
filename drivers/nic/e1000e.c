/* SPDX-License-Identifier: MIT */
/*
 * The e1000e driver: Intel 82574L (8086:10d3), one RX and one TX queue of
 * legacy descriptors in udma memory, 2048-byte RX buffers straight from the
 * application's pool (no copy), promiscuous.
 *
 * Rings. The NIC owns the RX descriptors from RDH up to, not including,
 * RDT; RDH == RDT means it owns none (82574 §7.1, receive descriptor
 * queue), so at most n - 1 of the n descriptors hold buffers. The driver keeps rx_next (the oldest buffer
 * given, the next one to complete) and rx_filled; the tail is their sum.
 * TX likewise: tx_clean (the oldest packet not reclaimed) and tx_inflight,
 * at most n - 1 at once.
 *
 * What QEMU 7.2's model (hw/net/e1000e_core.c) does, where it matters:
 *  - A frame that finds no free RX descriptor is not dropped: the model
 *    reports "cannot receive" and QEMU's network layer holds the frame back
 *    in the queue of the hub port that feeds the NIC, raising ICR.RXO; it
 *    is delivered once RDT moves (a write to RDT flushes the queue). Its
 *    receive path counts neither MPC nor RNBC, so rx_missed stays 0 under
 *    QEMU (test_nic's rx_pool_exhausted sees every frame arrive late),
 *    while real hardware drops such frames and counts them in MPC (the
 *    FIFO overflowed) and RNBC (no descriptor). rx_nobuf, the driver's own
 *    count, is what shows the starvation on both.
 *  - Under MSI-X a received frame raises ICR.RXQ0 (not RXT0) and is
 *    signalled only through the vector IVAR names; without a valid IVAR
 *    entry no vector fires. The model sends the next MSI-X for a cause only
 *    after that cause was cleared from ICR, and a read of ICR alone does not
 *    clear it under MSI-X with IMS set: the driver writes the bits it read
 *    back to ICR (write 1 to clear), which works in every mode.
 *  - Statistics registers clear on read; CTRL.RST clears them too: the
 *    driver adds them to its own totals before each reset.
 *  - STATUS.GIO_MASTER_ENABLE reads as the inverse of CTRL.GIO_MASTER_
 *    DISABLE: the master disable before each reset ends at once.
 *  - With the function's memory decoding off its registers read zeros (a
 *    PCIe device gone reads all ones): CTRL.RST would read clear with no
 *    reset done, hence the write-and-read-back check before each reset.
 */
#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include <udma/barrier.h>
#include <udma/udma.h>

#include "drivers/nic/e1000e_regs.h"
#include "drivers/nic/nic_internal.h"

_Static_assert(NIC_PKT_DATA == E1000E_RX_BUF, "a packet holds exactly one RX buffer (RCTL.BSIZE)");

#define REFILL_CHUNK NIC_BURST_MAX /* packets taken from the pool per bulk get */
#define IRQ_VECTOR   0		   /* INTx under UIO; MSI-X vector 0 under VFIO */
#define REG_PROBE    0x5A5A5A40u   /* for TDBAL (aligned, TX off): read back if the registers answer */

struct e1000e {
	volatile uint8_t *bar;
	struct e1000e_rx_desc *rxd;
	struct e1000e_tx_desc *txd;
	struct nic_pkt **rx_pkt; /* the buffer in each RX descriptor */
	struct nic_pkt **tx_pkt; /* the packet in each TX descriptor */
	unsigned rx_n, tx_n;
	unsigned rx_next, rx_filled;
	unsigned tx_clean, tx_inflight;
	uint64_t mpc; /* MPC read so far (it clears on read); atomic: nic_stats may run in two threads */
};

static struct e1000e *priv(const struct nic *nic)
{
	return nic->priv;
}

static uint32_t rd(const struct e1000e *e, unsigned off)
{
	return nic__rd32(e->bar, off);
}

static void wr(struct e1000e *e, unsigned off, uint32_t v)
{
	nic__wr32(e->bar, off, v);
}

static void sleep_ms(unsigned ms)
{
	struct timespec ts = {.tv_sec = ms / 1000, .tv_nsec = (long)(ms % 1000) * 1000000L};

	while (nanosleep(&ts, &ts) && errno == EINTR)
		;
}

/* Slot i + 1 of a ring of n (not a power of two: no mask). */
static unsigned ring_next(unsigned i, unsigned n)
{
	return i + 1 == n ? 0 : i + 1;
}

/* Slot i + k of a ring of n, for k <= n. */
static unsigned ring_add(unsigned i, unsigned k, unsigned n)
{
	return i + k >= n ? i + k - n : i + k;
}

/* The statistics registers clear on read (and on reset): keep the totals.
 * Atomic: the read clears MPC, so each count is added exactly once even
 * with nic_stats in two threads. */
static void stats_collect(struct e1000e *e)
{
	__atomic_fetch_add(&e->mpc, rd(e, E1000E_MPC), __ATOMIC_RELAXED);
}

/* Clear the interrupt causes that are set: read ICR, write back what it said. */
static void irq_clear(struct e1000e *e)
{
	uint32_t icr = rd(e, E1000E_ICR);

	if (icr)
		wr(e, E1000E_ICR, icr);
}

/* No new DMA requests: set CTRL.GIO_MASTER_DISABLE, then wait (bounded)
 * for the pending ones to end. Past the timeout the reset goes on anyway:
 * CTRL.RST ends them (82574 §10.2, CTRL; Linux does the same). QEMU's
 * model reports STATUS.GIO_MASTER_ENABLE as the inverse of the CTRL bit, so
 * this costs one register read there. */
static void master_disable(struct e1000e *e)
{
	uint64_t deadline = nic__now_ms() + E1000E_MASTER_DISABLE_TIMEOUT_MS;

	wr(e, E1000E_CTRL, rd(e, E1000E_CTRL) | E1000E_CTRL_GIO_MASTER_DISABLE);
	while ((rd(e, E1000E_STATUS) & E1000E_STATUS_GIO_MASTER_ENABLE) && nic__now_ms() <= deadline)
		sleep_ms(1);
}

/* Global reset: DMA stops, registers back to their defaults (82574 §10.2,
 * CTRL.RST). 0 only when the device confirmed it (CTRL.RST cleared): any
 * other return means it may still be writing to the rings and packets. */
static int hw_reset(struct e1000e *e)
{
	uint64_t deadline;
	uint32_t probe;

	wr(e, E1000E_IMC, E1000E_INT_ALL);
	wr(e, E1000E_RCTL, 0);
	wr(e, E1000E_TCTL, 0);
	/* The registers must answer, or CTRL.RST could read clear with no
	 * reset done: a device gone reads all ones on PCIe, and under QEMU a
	 * function with its memory decoding off reads zeros. */
	wr(e, E1000E_TDBAL, REG_PROBE);
	probe = rd(e, E1000E_TDBAL);
	if (probe != REG_PROBE)
		return nic__err(
			ENODEV,
			"e1000e: TDBAL reads %#x after %#x was written: the device does not answer (gone, "
			"its function reset under us, or its memory decoding off); detach it",
			probe, REG_PROBE);
	stats_collect(e);
	master_disable(e);
	wr(e, E1000E_CTRL, rd(e, E1000E_CTRL) | E1000E_CTRL_RST);
	sleep_ms(E1000E_RESET_SETTLE_MS);
	deadline = nic__now_ms() + E1000E_RESET_TIMEOUT_MS;
	while (rd(e, E1000E_CTRL) & E1000E_CTRL_RST) {
		if (nic__now_ms() > deadline)
			return nic__err(ETIMEDOUT,
					"e1000e: CTRL.RST still set %u ms after a device reset: "
					"the NIC is stuck; reset its PCI function",
					E1000E_RESET_TIMEOUT_MS);
		sleep_ms(1);
	}
	wr(e, E1000E_IMC, E1000E_INT_ALL);
	irq_clear(e);
	return 0;
}

/* Give every packet the rings hold back to its pool; descriptors zeroed.
 * Only after a confirmed reset (hw_reset 0). RX buffers go back to the
 * pool the NIC was attached with, never to the pool their header names:
 * the device can write that header (nic.h, Trust). */
static void rings_drain(struct nic *nic, struct e1000e *e)
{
	unsigned i;

	for (i = 0; i < e->rx_n; i++)
		if (e->rx_pkt[i]) {
			udma_pool_put(nic->opts.pool, e->rx_pkt[i]);
			e->rx_pkt[i] = NULL;
		}
	for (i = 0; i < e->tx_n; i++)
		if (e->tx_pkt[i]) {
			nic_pkt_free(e->tx_pkt[i]);
			e->tx_pkt[i] = NULL;
		}
	memset(e->rxd, 0, sizeof(*e->rxd) * e->rx_n);
	memset(e->txd, 0, sizeof(*e->txd) * e->tx_n);
	e->rx_next = e->rx_filled = 0;
	e->tx_clean = e->tx_inflight = 0;
}

/*
 * Put fresh buffers in the free RX descriptors (one bulk get per chunk, no
 * register write: the caller moves RDT). Returns how many descriptors stay
 * empty because the pool ran out.
 */
static unsigned rx_refill(struct nic *nic, struct e1000e *e)
{
	struct nic_pkt *got[REFILL_CHUNK];
	unsigned want = e->rx_n - 1 - e->rx_filled;

	while (want) {
		unsigned n = want < REFILL_CHUNK ? want : REFILL_CHUNK, i;

		n = nic__pool_take(nic->opts.pool, got, n);
		if (!n)
			break;
		for (i = 0; i < n; i++) {
			unsigned slot = ring_add(e->rx_next, e->rx_filled, e->rx_n);
			struct e1000e_rx_desc *d = &e->rxd[slot];

			memset(d, 0, sizeof(*d));
			d->addr = got[i]->iova;
			e->rx_pkt[slot] = got[i];
			e->rx_filled++;
		}
		want -= n;
	}
	return want;
}

static void rx_tail_write(struct e1000e *e)
{
	udma_dma_wmb(); /* descriptors before the NIC may read them */
	wr(e, E1000E_RDT, ring_add(e->rx_next, e->rx_filled, e->rx_n));
}

/* Program the rings (already zeroed and filled), the filters and interrupts,
 * then turn RX and TX on. */
static void hw_setup(struct nic *nic, struct e1000e *e)
{
	uint64_t rx_iova = udma_iova(nic->ctx, e->rxd), tx_iova = udma_iova(nic->ctx, e->txd);
	uint32_t rctl;
	unsigned i;

	wr(e, E1000E_CTRL, (rd(e, E1000E_CTRL) | E1000E_CTRL_SLU | E1000E_CTRL_ASDE) & ~E1000E_CTRL_PHY_RST);
	for (i = 0; i < E1000E_MTA_REGS; i++)
		wr(e, E1000E_MTA + 4 * i, 0);
	wr(e, E1000E_RFCTL, 0); /* legacy RX descriptors */

	wr(e, E1000E_RDBAL, (uint32_t)rx_iova);
	wr(e, E1000E_RDBAH, (uint32_t)(rx_iova >> 32));
	wr(e, E1000E_RDLEN, e->rx_n * (uint32_t)sizeof(struct e1000e_rx_desc));
	wr(e, E1000E_RDH, 0);
	wr(e, E1000E_RDT, 0);
	wr(e, E1000E_RDTR, 0);
	wr(e, E1000E_RADV, 0);

	wr(e, E1000E_TDBAL, (uint32_t)tx_iova);
	wr(e, E1000E_TDBAH, (uint32_t)(tx_iova >> 32));
	wr(e, E1000E_TDLEN, e->tx_n * (uint32_t)sizeof(struct e1000e_tx_desc));
	wr(e, E1000E_TDH, 0);
	wr(e, E1000E_TDT, 0);
	wr(e, E1000E_TIDV, 0);
	wr(e, E1000E_TIPG, E1000E_TIPG_DEFAULT);

	if (nic->opts.how == NIC_IRQ) {
		/* RX only: RXT0 is the cause under INTx and MSI, RXQ0 under
		 * MSI-X, where IVAR routes it to vector 0 (harmless otherwise). */
		wr(e, E1000E_IVAR, E1000E_IVAR_RXQ0(IRQ_VECTOR));
		irq_clear(e);
		wr(e, E1000E_IMS, E1000E_ICR_RXT0 | E1000E_ICR_RXQ0);
	}

	wr(e, E1000E_TCTL,
	   E1000E_TCTL_EN | E1000E_TCTL_PSP | E1000E_TCTL_CT(E1000E_TCTL_CT_DEFAULT) |
		   E1000E_TCTL_COLD(E1000E_TCTL_COLD_FD));
	rctl = E1000E_RCTL_EN | E1000E_RCTL_UPE | E1000E_RCTL_MPE | E1000E_RCTL_BAM | E1000E_RCTL_BSIZE_2048 |
	       E1000E_RCTL_SECRC;
	if (nic->opts.flags & NIC_F_LOOPBACK)
		rctl |= E1000E_RCTL_LBM_MAC;
	wr(e, E1000E_RCTL, rctl);
	rx_tail_write(e);
}

/*
 * Everything start allocated. confirmed: the device's reset was confirmed,
 * so the rings and packets go back. Else it may still be writing to them:
 * they stay allocated and out of use for good, a deliberate leak (nic.h,
 * Failure and reset; udma_pool_destroy will report the packets), and only
 * the host memory no device can reach (this struct, the slot arrays) is
 * freed.
 */
static void e1000e_free(struct nic *nic, struct e1000e *e, bool confirmed)
{
	if (confirmed) {
		rings_drain(nic, e);
		udma_free(nic->ctx, e->rxd);
		udma_free(nic->ctx, e->txd);
	}
	free(e->rx_pkt);
	free(e->tx_pkt);
	free(e);
	nic->priv = NULL;
}

/* Rings reset and filled, registers set: the part start and reset share.
 * On failure *confirmed says whether the device is reset (the rings
 * drained) or may still own the rings (left untouched). */
static int bring_up(struct nic *nic, struct e1000e *e, bool *confirmed)
{
	int rc = hw_reset(e);

	*confirmed = !rc;
	if (rc)
		return rc;
	rings_drain(nic, e);
	if (rx_refill(nic, e)) {
		rings_drain(nic, e);
		return nic__err(ENOBUFS,
				"e1000e: the RX pool cannot fill the ring (%u buffers needed, %u available): "
				"make the pool larger than rx_ring - 1 plus what the application holds",
				e->rx_n - 1, udma_pool_avail(nic->opts.pool));
	}
	hw_setup(nic, e);
	return 0;
}

static int ring_check(const char *what, unsigned n)
{
	if (n < E1000E_RING_MIN || n > E1000E_RING_MAX || n % E1000E_RING_MULT)
		return nic__err(
			EINVAL,
			"e1000e: %s ring of %u descriptors: it must be a multiple of %u from %u to %u", what,
			n, E1000E_RING_MULT, E1000E_RING_MIN, E1000E_RING_MAX);
	return 0;
}

static int e1000e_start(struct nic *nic)
{
	struct e1000e *e;
	void *bar;
	size_t bar_len;
	uint32_t ral, rah;
	bool confirmed;
	int rc;

	nic->priv = NULL;
	if ((rc = ring_check("RX", nic->opts.rx_ring)) || (rc = ring_check("TX", nic->opts.tx_ring)))
		return rc;
	rc = udma_dev_bar(nic->dev, E1000E_BAR, &bar, &bar_len);
	if (rc)
		return nic__err(-rc, "e1000e: BAR %d: %s", E1000E_BAR, udma_last_error());
	if (bar_len < E1000E_RAH0 + sizeof(uint32_t))
		return nic__err(ENODEV,
				"e1000e: BAR %d is %zu bytes, too small for the 82574's registers: "
				"not an 82574",
				E1000E_BAR, bar_len);
	e = calloc(1, sizeof(*e));
	if (!e)
		return nic__err(ENOMEM, "e1000e: out of memory");
	e->bar = bar;
	e->rx_n = nic->opts.rx_ring;
	e->tx_n = nic->opts.tx_ring;
	e->rx_pkt = calloc(e->rx_n, sizeof(*e->rx_pkt));
	e->tx_pkt = calloc(e->tx_n, sizeof(*e->tx_pkt));
	e->rxd = udma_zmalloc(nic->ctx, sizeof(*e->rxd) * e->rx_n, E1000E_RING_ALIGN, NULL);
	e->txd = udma_zmalloc(nic->ctx, sizeof(*e->txd) * e->tx_n, E1000E_RING_ALIGN, NULL);
	nic->priv = e;
	if (!e->rx_pkt || !e->tx_pkt || !e->rxd || !e->txd) {
		rc = nic__err(ENOMEM, "e1000e: no memory for the rings (%u RX, %u TX descriptors): %s",
			      e->rx_n, e->tx_n, e->rxd && e->txd ? "out of memory" : udma_last_error());
		e1000e_free(nic, e, true); /* the device was never given them */
		return rc;
	}
	rc = bring_up(nic, e, &confirmed);
	if (rc) {
		/* Nothing was given to the device when the ring could not be
		 * filled: it stays reset. */
		e1000e_free(nic, e, confirmed);
		return rc;
	}
	ral = rd(e, E1000E_RAL0);
	rah = rd(e, E1000E_RAH0);
	/* RAL holds bytes 0..3 of the address, RAH bytes 4 and 5, low byte first. */
	for (unsigned i = 0; i < sizeof(nic->info.mac); i++)
		nic->info.mac[i] =
			(uint8_t)((i < sizeof(ral) ? ral >> (8 * i) : rah >> (8 * (i - sizeof(ral)))));
	nic->info.queues = 1;
	nic->info.rx_ring = e->rx_n;
	nic->info.tx_ring = e->tx_n;
	nic->info.features = 0;
	return 0;
}

static void e1000e_stop(struct nic *nic)
{
	struct e1000e *e = priv(nic);

	if (!e)
		return;
	/* A reset not confirmed keeps the memory: even a device whose
	 * registers do not answer may only be hidden (memory decoding off)
	 * and still master until udma_dev_close turns bus mastering off. */
	e1000e_free(nic, e, hw_reset(e) == 0);
}

/* On failure the rings stay as they are when the reset was not confirmed
 * (nic.h): a later nic_reset whose reset is confirmed gives them back. */
static int e1000e_reset(struct nic *nic)
{
	bool confirmed;

	return bring_up(nic, priv(nic), &confirmed);
}

static int e1000e_rx_burst(struct nic *nic, unsigned queue, struct nic_pkt **pkts, unsigned n)
{
	struct e1000e *e = priv(nic);
	unsigned got = 0, taken = 0;

	(void)queue;
	while (got < n && e->rx_filled) {
		volatile struct e1000e_rx_desc *d = &e->rxd[e->rx_next];
		struct nic_pkt *p = e->rx_pkt[e->rx_next];
		uint8_t status = d->status, errors;
		uint16_t len;

		if (!(status & E1000E_RXD_STA_DD))
			break;
		udma_dma_rmb(); /* the descriptor's fields after its DD */
		/* Each field read once: the device may rewrite the descriptor
		 * between two reads, the copies are what is checked and used. */
		status = d->status;
		errors = d->errors;
		len = d->length;
		if ((errors & E1000E_RXD_ERR_FRAME) || !(status & E1000E_RXD_STA_EOP) || len > NIC_PKT_DATA ||
		    len < NIC_ETH_HDR) {
			/* Bad, spread over several buffers (a frame over 2048
			 * bytes: never with LPE off), or not even a header. */
			nic->sw.rx_errors++;
			udma_pool_put(nic->opts.pool, p);
		} else {
			p->len = len;
			p->flags = 0;
			pkts[got++] = p;
			nic->sw.rx_bytes += len;
		}
		e->rx_pkt[e->rx_next] = NULL;
		e->rx_next = ring_next(e->rx_next, e->rx_n);
		e->rx_filled--;
		taken++;
	}
	nic->sw.rx_packets += got;
	if (e->rx_filled < e->rx_n - 1) {
		unsigned before = e->rx_filled, empty = rx_refill(nic, e);

		/* Each descriptor counted once: when it was emptied here and
		 * found no buffer. Earlier shortfalls are retried each burst,
		 * so the ring fills again once the application frees. */
		nic->sw.rx_nobuf += empty < taken ? empty : taken;
		if (e->rx_filled != before)
			rx_tail_write(e);
	}
	return (int)got;
}

static int e1000e_tx_reclaim(struct nic *nic, unsigned queue)
{
	struct e1000e *e = priv(nic);
	struct nic_pkt *done[REFILL_CHUNK];
	unsigned n = 0, total = 0;

	(void)queue;
	while (e->tx_inflight) {
		volatile struct e1000e_tx_desc *d = &e->txd[e->tx_clean];

		if (!(d->status & E1000E_TXD_STA_DD))
			break;
		done[n++] = e->tx_pkt[e->tx_clean];
		e->tx_pkt[e->tx_clean] = NULL;
		e->tx_clean = ring_next(e->tx_clean, e->tx_n);
		e->tx_inflight--;
		if (n == REFILL_CHUNK) {
			nic_pkt_free_bulk(done, n);
			total += n;
			n = 0;
		}
	}
	nic_pkt_free_bulk(done, n);
	return (int)(total + n);
}

static int e1000e_tx_burst(struct nic *nic, unsigned queue, struct nic_pkt **pkts, unsigned n)
{
	struct e1000e *e = priv(nic);
	unsigned room, i;

	e1000e_tx_reclaim(nic, queue);
	room = e->tx_n - 1 - e->tx_inflight;
	if (n > room)
		n = room;
	if (!n)
		return 0;
	for (i = 0; i < n; i++) {
		unsigned slot = ring_add(e->tx_clean, e->tx_inflight, e->tx_n);
		struct e1000e_tx_desc *d = &e->txd[slot];
		struct nic_pkt *p = pkts[i];
		unsigned len = p->len;

		if (len < NIC_FRAME_MIN) {
			/* TCTL.PSP pads on the wire; zeros here make the
			 * padding defined whatever the model does. */
			memset(p->data + len, 0, NIC_FRAME_MIN - len);
			len = NIC_FRAME_MIN;
		}
		memset(d, 0, sizeof(*d));
		d->addr = p->iova;
		d->length = (uint16_t)len;
		d->cmd = E1000E_TXD_CMD_EOP | E1000E_TXD_CMD_IFCS | E1000E_TXD_CMD_RS;
		e->tx_pkt[slot] = p;
		e->tx_inflight++;
		nic->sw.tx_bytes += p->len;
	}
	nic->sw.tx_packets += n;
	udma_dma_wmb(); /* descriptors before the doorbell */
	wr(e, E1000E_TDT, ring_add(e->tx_clean, e->tx_inflight, e->tx_n));
	return (int)n;
}

static unsigned e1000e_tx_pending(const struct nic *nic, unsigned queue)
{
	(void)queue;
	return priv(nic)->tx_inflight;
}

static int e1000e_link(struct nic *nic, struct nic_link *out)
{
	static const unsigned speed[] = E1000E_STATUS_SPEED_MBPS;
	uint32_t status = rd(priv(nic), E1000E_STATUS);

	if (status == E1000E_REG_GONE)
		return nic__err(ENODEV, "e1000e: STATUS reads all ones: the device is gone (unplugged, or "
					"its function was reset under us); detach it");
	out->up = status & E1000E_STATUS_LU;
	out->speed_mbps = out->up ? speed[E1000E_STATUS_SPEED(status)] : 0;
	out->full_duplex = status & E1000E_STATUS_FD;
	return 0;
}

static int e1000e_wait(struct nic *nic, unsigned queue, int timeout_ms)
{
	struct e1000e *e = priv(nic);
	int rc;

	(void)queue;
	/* Buffers freed since the last burst go on the ring first: a frame
	 * waits for a buffer (QEMU holds it back, hardware drops it), and
	 * with none on the ring no interrupt would ever come. */
	if (e->rx_filled < e->rx_n - 1) {
		unsigned before = e->rx_filled;

		rx_refill(nic, e);
		if (e->rx_filled != before)
			rx_tail_write(e);
	}
	if (!e->rx_filled)
		return nic__err(ENOBUFS,
				"e1000e: nic_wait with no buffer on the RX ring and none free in the pool: "
				"nothing could be received; free received packets, then wait again");
	/* Clear the causes first: the model signals a cause again only once
	 * it was cleared, and a frame arriving after this raises a new one. */
	irq_clear(e);
	rc = udma_dev_irq_ack(nic->dev, IRQ_VECTOR);
	if (rc)
		return nic__err(-rc, "e1000e: udma_dev_irq_ack: %s", udma_last_error());
	if (((volatile struct e1000e_rx_desc *)&e->rxd[e->rx_next])->status & E1000E_RXD_STA_DD)
		return 1;
	rc = nic__wait_irq(nic, IRQ_VECTOR, timeout_ms);
	if (rc <= 0)
		return rc;
	irq_clear(e);
	rc = udma_dev_irq_ack(nic->dev, IRQ_VECTOR);
	if (rc)
		return nic__err(-rc, "e1000e: udma_dev_irq_ack: %s", udma_last_error());
	return 1;
}

static void e1000e_hw_stats(struct nic *nic, struct nic_stats *out)
{
	struct e1000e *e = priv(nic);

	stats_collect(e);
	out->rx_missed += __atomic_load_n(&e->mpc, __ATOMIC_RELAXED);
}

static const struct nic_ops ops = {
	.start = e1000e_start,
	.stop = e1000e_stop,
	.reset = e1000e_reset,
	.rx_burst = e1000e_rx_burst,
	.tx_burst = e1000e_tx_burst,
	.tx_reclaim = e1000e_tx_reclaim,
	.tx_pending = e1000e_tx_pending,
	.link = e1000e_link,
	.wait = e1000e_wait,
	.hw_stats = e1000e_hw_stats,
};

const struct nic_driver nic__e1000e_driver = {NIC_E1000E, "e1000e", E1000E_PCI_VENDOR, E1000E_PCI_DEVICE,
					      &ops};
