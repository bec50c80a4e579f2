/* SPDX-License-Identifier: MIT */
/*
 * Userspace Ethernet drivers on udma, in the style of DPDK's poll-mode
 * drivers: one API, two NICs, proven against QEMU's models through UIO and
 * VFIO (tests/vm/test_nic.c):
 *   e1000e       Intel 82574L (8086:10d3), after Intel's 82574 GbE
 *                controller datasheet (sections cited as "82574 §");
 *   virtio-net   modern (virtio 1.0 over PCI capabilities, 1af4:1041 or a
 *                transitional 1af4:1000 that offers them) and legacy (the
 *                I/O port BAR 0 of 1af4:1000, through udma_dev_io_*), after
 *                the Virtio 1.1 specification ("virtio §").
 * Written against the udma public API only, as every driver here.
 *
 * Packets
 *   A packet is a struct nic_pkt: a 64-byte header, then NIC_PKT_DATA bytes
 *   of frame. Packets are objects of a udma pool made by nic_pool_create(),
 *   which writes each one's bus address into its header once: the hot path
 *   never translates. A packet belongs to exactly one owner at a time: the
 *   application (after nic_pkt_alloc or nic_rx_burst), or the driver (after
 *   nic_tx_burst takes it, or while it waits in the RX ring). The driver
 *   frees sent packets to their pool itself.
 *
 * Queues
 *   One RX and one TX descriptor ring per queue, in udma memory; the RX ring
 *   is kept full of buffers from the pool given to nic_attach, refilled in
 *   bulk. Both drivers have one queue (nic_info.queues): pass queue 0. On a
 *   queue, nic_rx_burst and nic_tx_burst may run in two threads at once
 *   (RX in one, TX in another); two threads on the same direction need a lock
 *   of the caller's. A packet goes in a burst at most once (a debug pool
 *   catches the double put that follows otherwise). A NIC belongs to the
 *   process that attached it: a forked child has neither its BARs (never
 *   mapped there) nor its device, and must not call it. Nothing on the hot path takes a lock or a system call,
 *   except legacy virtio's notify (a port write: one per tx burst, and per RX
 *   refill).
 *
 * Failure and reset
 *   nic_reset() and nic_detach() reset the device, which ends its DMA, and
 *   give every buffer the driver holds back to its pool (RX ring, packets
 *   taken for TX and not yet reclaimed): afterwards udma_pool_avail() counts
 *   them all again. Call them only while no thread is inside a burst.
 *   Memory goes back only once the device has confirmed its reset (e1000e:
 *   CTRL.RST cleared; virtio: the status reads 0). A device that does not
 *   (stuck, or gone: its registers do not answer) may still be writing:
 *   the driver then keeps its rings and every packet on them out of use
 *   (udma_pool_avail stays short by that many), until a later nic_reset is
 *   confirmed, or for good after nic_detach (udma_pool_destroy reports
 *   them); udma_dev_close, which turns bus mastering off, is what finally
 *   stops the device.
 *
 * Trust
 *   Under VFIO the IOMMU keeps the device out of memory that is not udma's.
 *   It does not keep it out of udma memory the context maps for it, packet
 *   headers and rings included: the drivers check every length, index and
 *   descriptor id the device hands back before using it, and return RX
 *   buffers to the pool the NIC was attached with, not to the pool a packet
 *   header names; a device that rewrites descriptors or packets it does not
 *   own can still corrupt traffic.
 *
 * Errors: every function returning int gives 0 (or a count) or a negative
 * errno, with one line saying why in nic_last_error() (per thread).
 *
 * Ordering between the CPU and the device: udma_dma_wmb/udma_dma_rmb
 * (<udma/barrier.h>).
 */
#ifndef NIC_H
#define NIC_H

#include <stdbool.h>
#include <stdint.h>

#include <udma/udma.h>

#define NIC_PKT_DATA	2048u /* frame bytes a packet can hold */
#define NIC_PKT_PREPEND 32u   /* header bytes right before data[], the driver's (virtio-net header) */
#define NIC_ETH_HDR	14u   /* destination, source, EtherType: no shorter frame is handed out */
#define NIC_FRAME_MIN	60u   /* shorter frames are sent padded with zeros to this */
#define NIC_FRAME_MAX	1514u /* Ethernet frame without FCS: 14 + 1500 (no VLAN tag, no jumbo) */
#define NIC_BURST_MAX	256u  /* at most this many packets per burst call */

struct nic_pkt {
	uint64_t iova;		/* bus address of data[]: fixed for the packet's life */
	struct udma_pool *pool; /* its pool (nic_pkt_free puts it back there) */
	uint16_t len;		/* frame bytes in data[] (from the destination MAC on, no FCS) */
	uint16_t flags;		/* NIC_PKT_* (none yet) */
	uint32_t reserved;
	uint64_t user;			  /* the application's (a sequence number, a timestamp) */
	uint8_t prepend[NIC_PKT_PREPEND]; /* the driver's */
	uint8_t data[NIC_PKT_DATA] __attribute__((aligned(64)));
};

/*
 * A pool of count packets (a udma pool of struct nic_pkt, every header
 * stamped with its bus address and pool), with per-thread caches of
 * cache_size (0..UDMA_POOL_CACHE_MAX). Use it for RX (nic_opts.pool) and to
 * allocate packets to send. Size it for the RX ring, plus what the
 * application holds at once, plus cache_size for each thread that frees
 * packets: the RX refill takes from the shared store, never from another
 * thread's cache. Destroy with udma_pool_destroy. Errors as
 * udma_pool_create's.
 */
int nic_pool_create(struct udma_ctx *ctx, unsigned count, unsigned cache_size, const char *name,
		    struct udma_pool **out);
/* A packet from pool, len 0; NULL when the pool is empty. */
struct nic_pkt *nic_pkt_alloc(struct udma_pool *pool);
/* All n or none: 0, or -ENOENT when fewer are available. */
int nic_pkt_alloc_bulk(struct udma_pool *pool, struct nic_pkt **pkts, unsigned n);
void nic_pkt_free(struct nic_pkt *pkt);
void nic_pkt_free_bulk(struct nic_pkt *const *pkts, unsigned n); /* each to its own pool */

enum nic_kind {
	NIC_E1000E,
	NIC_VIRTIO_NET,	       /* virtio 1.0 modern */
	NIC_VIRTIO_NET_LEGACY, /* virtio 0.9.5 legacy, through port I/O */
};

enum nic_wait {
	NIC_POLL, /* the application polls nic_rx_burst; the NIC raises no interrupt */
	NIC_IRQ	  /* nic_wait() sleeps until the NIC interrupts (RX: INTx under UIO,
		   * MSI-X under VFIO) */
};

/* nic_opts.flags */
#define NIC_F_LOOPBACK (1u << 0) /* the MAC hands every sent frame back to its own RX (e1000e only) */

struct nic_opts {
	struct udma_pool *pool; /* RX buffers come from here: nic_pool_create; required */
	unsigned rx_ring;	/* RX descriptors; 0: 256. e1000e: a multiple of 8, 8..4096;
				 * virtio: a power of two, at most the device's queue size */
	unsigned tx_ring;	/* TX descriptors; 0: 256; as rx_ring */
	enum nic_wait how;
	unsigned flags; /* NIC_F_* */
};

struct nic_info {
	enum nic_kind kind;
	const char *driver;	 /* "e1000e", "virtio-net", "virtio-net legacy" */
	uint16_t vendor, device; /* PCI IDs */
	uint8_t mac[6];		 /* the NIC's own address */
	unsigned queues;	 /* queue pairs the driver set up (1) */
	unsigned rx_ring, tx_ring;
	uint64_t features; /* virtio: the feature bits negotiated; e1000e: 0 */
};

struct nic_link {
	bool up;
	unsigned speed_mbps; /* 0: unknown (virtio without VIRTIO_NET_F_SPEED_DUPLEX) */
	bool full_duplex;
};

/* Counts since nic_attach (nic_reset keeps them). */
struct nic_stats {
	uint64_t rx_packets, rx_bytes; /* handed to the application */
	uint64_t rx_errors;	       /* frames the NIC marked bad (CRC, length), dropped by the driver */
	uint64_t rx_missed;	       /* frames the NIC dropped for want of an RX buffer (its own counter,
					* where it has one: e1000e's MPC; 0 on virtio) */
	uint64_t rx_nobuf;	       /* RX descriptors left empty because the pool was: the NIC can
					* drop or hold back frames meanwhile */
	uint64_t tx_packets, tx_bytes; /* taken by nic_tx_burst */
	uint64_t tx_errors;	       /* packets nic_tx_burst refused (size, not a nic_pkt) */
};

struct nic;

/*
 * Identify dev (an open udma device: "uio:ADDR" in a PA context, "vfio:ADDR"
 * in a VA context) by its PCI IDs, reset it, set up its rings in udma memory,
 * fill the RX ring from opts->pool, and start RX and TX. Receives every
 * frame that reaches the port (promiscuous). The NIC holds ctx, dev and the
 * pool: nic_detach before closing or destroying them. On failure *out is
 * NULL and the device is left reset. -ENODEV (not a NIC these drivers know,
 * or gone), -EINVAL (opts: no pool, ring sizes, flags), -ENOTSUP
 * (NIC_F_LOOPBACK on virtio; a virtio device without VERSION_1 and
 * ACCESS_PLATFORM under VFIO...), -ENOBUFS (the pool cannot fill the RX
 * ring), -ETIMEDOUT (the device did not come out of reset), -ENOMEM, ...
 */
int nic_attach(struct udma_ctx *ctx, struct udma_dev *dev, const struct nic_opts *opts, struct nic **out);
/* Reset the device (its DMA stops), give every buffer back to its pool, free
 * everything. NULL is a no-op. */
void nic_detach(struct nic *nic);
const struct nic_info *nic_info(const struct nic *nic); /* NULL for a NULL nic */
int nic_link(struct nic *nic, struct nic_link *out);
/* Wait up to timeout_ms (-1: no limit) for the link to come up: 0, or
 * -ETIMEDOUT. */
int nic_wait_link(struct nic *nic, int timeout_ms);

/*
 * Take up to n (at most NIC_BURST_MAX) received packets into pkts; they are
 * the caller's (free them with nic_pkt_free, or send them). Refills the RX
 * ring with as many fresh buffers from the pool, in bulk. A frame the NIC
 * marked bad, or shorter than an Ethernet header (14 bytes), is counted in
 * rx_errors and recycled, never handed out. Returns how many (0: none
 * waiting), or -EINVAL (queue, n), -ESHUTDOWN (the NIC failed, now or in
 * this call: the device handed back something impossible, such as a
 * descriptor it does not own or more completions than were posted, or a
 * doorbell failed; nic_reset), -EIO.
 */
int nic_rx_burst(struct nic *nic, unsigned queue, struct nic_pkt **pkts, unsigned n);
/*
 * Queue up to n (at most NIC_BURST_MAX) packets for sending, in order, and
 * tell the NIC once. Reclaims the ring's sent packets first. Returns how
 * many it took from the front of pkts: those belong to the driver now, which
 * frees them once sent; the rest stay the caller's (the ring was full: try
 * again). A packet it refuses (len over NIC_FRAME_MAX or 0, not from a
 * nic_pool_create pool) stops it there; if it is pkts[0], the return is
 * -EMSGSIZE or -EINVAL, with the reason, and it counts once in tx_errors
 * (so a caller that retries the rest of a burst does not count it again).
 * Short frames are padded to NIC_FRAME_MIN with zeros. Also -EINVAL
 * (queue, n), -ESHUTDOWN (the NIC failed: nic_reset).
 */
int nic_tx_burst(struct nic *nic, unsigned queue, struct nic_pkt **pkts, unsigned n);
/* Free the packets the NIC has finished sending: returns how many. */
int nic_tx_reclaim(struct nic *nic, unsigned queue);
/* Packets taken by nic_tx_burst and not yet reclaimed. */
unsigned nic_tx_pending(const struct nic *nic, unsigned queue);

/*
 * NIC_IRQ: sleep until the queue may have received packets (its interrupt),
 * or timeout_ms (-1: no limit) passes. First it refills the RX ring from
 * the pool (packets freed since the last burst go back on it): a ring left
 * with no buffer at all could receive nothing, so that returns -ENOBUFS at
 * once (free packets to the pool, then wait again) instead of sleeping for
 * ever. Returns 1 on an interrupt or packets already waiting, 0 on timeout,
 * or -errno (-EINVAL for a NIC_POLL NIC, -ENOBUFS). Call nic_rx_burst until
 * it returns 0 before waiting again.
 */
int nic_wait(struct nic *nic, unsigned queue, int timeout_ms);

/* Counts since attach, the NIC's own counters included. */
int nic_stats(struct nic *nic, struct nic_stats *out);

/*
 * Reset the device and set it up again on the same rings: every packet the
 * driver held goes back to its pool first (RX buffers, TX packets not yet
 * reclaimed: those may or may not have been sent), then the RX ring is
 * filled afresh. 0 or -errno (the NIC is then failed: nic_detach).
 */
int nic_reset(struct nic *nic);

/* Why the last call of this thread failed. */
const char *nic_last_error(void);

#endif
