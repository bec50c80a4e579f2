/* SPDX-License-Identifier: MIT */
/*
 * virtio-net (virtio §5.1) over PCI, modern or legacy (virtio_pci.c), with
 * split virtqueues (virtio §2.6) in udma memory: receiveq1 and transmitq1,
 * one descriptor per packet (its virtio_net_hdr in the packet's prepend,
 * right before the frame), no offloads, no control queue, no mergeable RX
 * buffers. QEMU's model receives every frame at reset (promiscuous), which
 * is what nic_attach promises.
 */
#include <errno.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/random.h>

#include <udma/barrier.h>

#include "drivers/nic/nic_internal.h"
#include "drivers/nic/virtio_pci.h"
#include "drivers/nic/virtio_spec.h"

_Static_assert(offsetof(struct nic_pkt, data) == offsetof(struct nic_pkt, prepend) + NIC_PKT_PREPEND,
	       "the prepend ends where data[] starts: header and frame form one buffer");
_Static_assert(VIRTIO_NET_HDR_LEN <= NIC_PKT_PREPEND, "the virtio-net header fits the prepend");

#define REFILL_CHUNK   64  /* RX buffers taken from the pool per bulk get */
#define IRQ_VECTOR     0   /* RX interrupts: INTx (UIO), or MSI-X entry 0 (VFIO) */
#define CFG_READ_TRIES 100 /* MAC reads before a config_generation that never settles is an error */

/* A split virtqueue and the packets its descriptors hold. */
struct vq {
	unsigned q;	/* VIRTIO_NET_RXQ, VIRTIO_NET_TXQ */
	unsigned size;	/* ring entries, a power of two (legacy: the device's) */
	unsigned limit; /* buffers it holds at most (nic_opts' ring size) */
	void *mem;	/* desc, avail, used: VIRTQ_BYTES(size), from udma_zmalloc */
	/* RX: the pool its buffers go back to (nic.h "Trust"); TX: NULL, each
	 * sent packet goes back to its own. */
	struct udma_pool *pool;
	uint64_t iova;
	struct virtq_desc *desc;
	struct virtq_avail *avail;
	struct virtq_used *used;
	uint16_t avail_idx;    /* next avail ring slot (free running, as the device's) */
	uint16_t used_last;    /* used entries consumed so far (free running) */
	unsigned inflight;     /* descriptors the device owns */
	unsigned empty;	       /* RX: descriptors left empty and already counted in rx_nobuf */
	uint16_t *free_ids;    /* descriptor ids not in use: a stack of size - inflight */
	struct nic_pkt **pkts; /* by descriptor id: the packet it holds */
};

struct vnet {
	struct virtio_pci t;
	struct vq rx, tx;
	uint64_t features;
	unsigned hdr_len; /* VIRTIO_NET_HDR_LEN, or _LEGACY */
};

/* The device reads and writes these behind the compiler's back. */
static inline uint16_t ld16(const uint16_t *p)
{
	return *(const volatile uint16_t *)p;
}

static inline void st16(uint16_t *p, uint16_t v)
{
	*(volatile uint16_t *)p = v;
}

/* ---- rings ---- */

static int vq_alloc(struct nic *nic, struct vq *vq, unsigned q, unsigned size, unsigned limit,
		    struct udma_pool *pool)
{
	vq->q = q;
	vq->size = size;
	vq->limit = limit;
	vq->pool = pool;
	vq->mem = udma_zmalloc(nic->ctx, VIRTQ_BYTES(size), VIRTQ_LEGACY_ALIGN, &vq->iova);
	if (!vq->mem)
		return nic__err(ENOMEM, "virtio-net: %u bytes of DMA memory for queue %u: %s",
				VIRTQ_BYTES(size), q, udma_last_error());
	vq->free_ids = calloc(size, sizeof(*vq->free_ids));
	vq->pkts = calloc(size, sizeof(*vq->pkts));
	if (!vq->free_ids || !vq->pkts)
		return nic__err(ENOMEM, "virtio-net: out of memory for queue %u's %u entries", q, size);
	vq->desc = vq->mem;
	vq->avail = (struct virtq_avail *)((uint8_t *)vq->mem + VIRTQ_AVAIL_OFF(size));
	vq->used = (struct virtq_used *)((uint8_t *)vq->mem + VIRTQ_USED_OFF(size));
	return 0;
}

/* A packet the driver is done with back to its pool: RX buffers to the
 * NIC's (the device can rewrite a header's pool pointer), sent ones to
 * their own (nic.c checked it when they were taken). */
static void vq_put(const struct vq *vq, struct nic_pkt *pkt)
{
	if (vq->pool)
		udma_pool_put(vq->pool, pkt);
	else
		nic_pkt_free(pkt);
}

/* Every packet the ring holds back to its pool: only once the device
 * confirmed its reset (nic.h "Failure and reset"). */
static void vq_release(struct vq *vq)
{
	unsigned id;

	if (!vq->pkts)
		return;
	for (id = 0; id < vq->size; id++)
		if (vq->pkts[id]) {
			vq_put(vq, vq->pkts[id]);
			vq->pkts[id] = NULL;
		}
	vq->inflight = 0;
}

/* confirmed: the device's reset was confirmed, its DMA is over. If not,
 * the ring and the packets on it are deliberately leaked: the device may
 * still write them, so they must never be handed out again; udma_dev_close
 * turning bus mastering off is what finally stops it. */
static void vq_free(struct nic *nic, struct vq *vq, bool confirmed)
{
	if (confirmed) {
		vq_release(vq);
		udma_free(nic->ctx, vq->mem);
	}
	free(vq->free_ids);
	free(vq->pkts);
	memset(vq, 0, sizeof(*vq));
}

/* An empty ring, as the device sees one after a reset. */
static void vq_init(struct vq *vq, bool interrupts)
{
	unsigned i;

	memset(vq->mem, 0, VIRTQ_BYTES(vq->size));
	for (i = 0; i < vq->size; i++)
		vq->free_ids[i] = (uint16_t)(vq->size - 1 - i);
	vq->avail_idx = vq->used_last = 0;
	vq->inflight = vq->empty = 0;
	/* virtio §2.6.7: without EVENT_IDX this flag alone suppresses them. */
	vq->avail->flags = interrupts ? 0 : VIRTQ_AVAIL_F_NO_INTERRUPT;
}

/* Put one buffer of len bytes at iova in the avail ring (not yet published). */
static void vq_post(struct vq *vq, struct nic_pkt *pkt, uint64_t iova, uint32_t len, uint16_t flags)
{
	uint16_t id = vq->free_ids[vq->size - vq->inflight - 1];

	vq->desc[id].addr = iova;
	vq->desc[id].len = len;
	vq->desc[id].flags = flags;
	vq->desc[id].next = 0;
	vq->pkts[id] = pkt;
	vq->avail->ring[vq->avail_idx & (vq->size - 1)] = id;
	vq->avail_idx++;
	vq->inflight++;
}

/* Make what vq_post queued visible to the device. */
static void vq_publish(struct vq *vq)
{
	udma_dma_wmb(); /* descriptors and ring entries before the index (virtio §2.6.13.3) */
	st16(&vq->avail->idx, vq->avail_idx);
}

/* Publish, and ring the doorbell unless the device said it needs none
 * (virtio §2.6.10): legacy's is a system call. */
static int vq_kick(struct nic *nic, struct vnet *v, struct vq *vq)
{
	int rc;

	vq_publish(vq);
	/* The index store before the flag load (virtio §2.6.13.4): else the
	 * device may go to sleep on a ring it saw empty while we skip the
	 * doorbell on a flag it has cleared since. A store-load order needs a
	 * full fence on every architecture (and a C11 fence TSan refuses). */
	udma_mb();
	if (ld16(&vq->used->flags) & VIRTQ_USED_F_NO_NOTIFY)
		return 0;
	rc = virtio_pci_notify(&v->t, vq->q);
	if (rc)
		nic__fail(nic, "virtio-net: queue %u's doorbell failed: %s", vq->q, nic_last_error());
	return rc;
}

/* New used entries, their contents readable (virtio §2.6.8): how many, or
 * -ESHUTDOWN (the NIC failed) when the device claims more than it was
 * given, before any entry is looked at. */
static int vq_used(struct nic *nic, struct vq *vq)
{
	uint16_t idx = ld16(&vq->used->idx), n = (uint16_t)(idx - vq->used_last);

	if (n > vq->inflight) {
		nic__fail(nic,
			  "virtio-net: queue %u: the device's used index moved by %u with %u buffers "
			  "posted (virtio §2.6.8): nic_reset",
			  vq->q, n, vq->inflight);
		return -ESHUTDOWN;
	}
	udma_dma_rmb();
	return n;
}

/* Take the next used entry: its packet and the bytes written. -ESHUTDOWN,
 * the NIC failed, when the device returned an id it does not own. */
static int vq_pop(struct nic *nic, struct vq *vq, struct nic_pkt **pkt, uint32_t *len)
{
	const volatile struct virtq_used_elem *e = &vq->used->ring[vq->used_last & (vq->size - 1)];
	/* Once each: the device could change them between a check and a use. */
	uint32_t id = e->id, bytes = e->len;

	if (id >= vq->size || !vq->pkts[id]) {
		nic__fail(nic,
			  "virtio-net: queue %u: the device returned descriptor %u, which it does not "
			  "own: nic_reset",
			  vq->q, id);
		return -ESHUTDOWN;
	}
	*len = bytes;
	*pkt = vq->pkts[id];
	vq->pkts[id] = NULL;
	vq->inflight--;
	vq->free_ids[vq->size - vq->inflight - 1] = (uint16_t)id;
	vq->used_last++;
	return 0;
}

/* ---- RX ---- */

/* Fill the RX ring from the pool, in bulk (not published); counts in
 * rx_nobuf the descriptors newly left empty for want of buffers. Returns
 * how many it added. */
static unsigned rx_fill(struct nic *nic, struct vnet *v)
{
	struct vq *vq = &v->rx;
	struct nic_pkt *bufs[REFILL_CHUNK];
	unsigned want, chunk, i, added = 0;

	while ((want = vq->limit - vq->inflight)) {
		chunk = nic__pool_take(vq->pool, bufs, want < REFILL_CHUNK ? want : REFILL_CHUNK);
		if (!chunk)
			break; /* the pool is empty */
		for (i = 0; i < chunk; i++)
			vq_post(vq, bufs[i], bufs[i]->iova - v->hdr_len, v->hdr_len + NIC_PKT_DATA,
				VIRTQ_DESC_F_WRITE);
		added += chunk;
	}
	want = vq->limit - vq->inflight;
	if (want > vq->empty)
		nic->sw.rx_nobuf += want - vq->empty;
	vq->empty = want;
	return added;
}

static int rx_burst(struct nic *nic, unsigned queue, struct nic_pkt **pkts, unsigned n)
{
	struct vnet *v = nic->priv;
	struct vq *vq = &v->rx;
	int ready = vq_used(nic, vq), rc;
	unsigned got = 0;
	struct nic_pkt *pkt;
	uint32_t len;

	(void)queue;
	if (ready < 0)
		return ready;
	for (; ready && got < n; ready--) {
		/* The packets taken so far are the caller's all the same; the
		 * failure shows at the next call (-ESHUTDOWN). */
		if ((rc = vq_pop(nic, vq, &pkt, &len)))
			return got ? (int)got : rc;
		if (len < v->hdr_len + NIC_ETH_HDR || len - v->hdr_len > NIC_PKT_DATA) {
			/* Less than an Ethernet header, or more than the buffer. */
			nic->sw.rx_errors++;
			vq_put(vq, pkt);
			continue;
		}
		pkt->len = (uint16_t)(len - v->hdr_len);
		pkt->flags = 0;
		nic->sw.rx_packets++;
		nic->sw.rx_bytes += pkt->len;
		pkts[got++] = pkt;
	}
	rc = rx_fill(nic, v) ? vq_kick(nic, v, vq) : 0;
	return rc && !got ? rc : (int)got;
}

/* ---- TX ---- */

static int tx_reclaim(struct nic *nic, unsigned queue)
{
	struct vnet *v = nic->priv;
	struct vq *vq = &v->tx;
	struct nic_pkt *done[NIC_BURST_MAX];
	int ready = vq_used(nic, vq), rc;
	unsigned k = 0, total = 0;
	uint32_t len;

	(void)queue;
	if (ready < 0)
		return ready;
	while (ready--) {
		if ((rc = vq_pop(nic, vq, &done[k], &len))) {
			nic_pkt_free_bulk(done, k);
			return rc;
		}
		if (++k == NIC_BURST_MAX) {
			nic_pkt_free_bulk(done, k);
			total += k;
			k = 0;
		}
	}
	nic_pkt_free_bulk(done, k);
	return (int)(total + k);
}

static int tx_burst(struct nic *nic, unsigned queue, struct nic_pkt **pkts, unsigned n)
{
	struct vnet *v = nic->priv;
	struct vq *vq = &v->tx;
	unsigned i, room, wire;
	int rc = tx_reclaim(nic, queue);

	if (rc < 0)
		return rc;
	room = vq->limit - vq->inflight;
	if (n > room)
		n = room;
	for (i = 0; i < n; i++) {
		struct nic_pkt *p = pkts[i];

		wire = p->len;
		if (wire < NIC_FRAME_MIN) {
			memset(p->data + wire, 0, NIC_FRAME_MIN - wire);
			wire = NIC_FRAME_MIN;
		}
		/* All zero: no checksum to fill in, no segmentation (virtio §5.1.6.2). */
		memset(p->data - v->hdr_len, 0, v->hdr_len);
		vq_post(vq, p, p->iova - v->hdr_len, v->hdr_len + wire, 0);
		nic->sw.tx_packets++;
		nic->sw.tx_bytes += p->len;
	}
	if (!n)
		return 0;
	/* Posted, they are the driver's even if the doorbell fails (the NIC
	 * is then failed, and nic_reset hands them back). */
	vq_kick(nic, v, vq);
	return (int)n;
}

static unsigned tx_pending(const struct nic *nic, unsigned queue)
{
	const struct vnet *v = nic->priv;

	(void)queue;
	return v->tx.inflight;
}

/* ---- setup ---- */

/* The features the driver takes from what the device offers (virtio §3.1.1
 * step 4), or -ENOTSUP when one it needs is missing. */
static int pick_features(struct nic *nic, struct vnet *v, uint64_t offered, uint64_t *out)
{
	bool vfio = udma_ctx_iova_mode(nic->ctx) == UDMA_IOVA_VA;
	uint64_t want = VIRTIO_NET_F_MAC | VIRTIO_NET_F_STATUS | VIRTIO_NET_F_SPEED_DUPLEX;

	if (v->t.legacy) {
		if (vfio)
			return nic__err(ENOTSUP,
					"virtio-net legacy: a legacy device's DMA bypasses the IOMMU, so it "
					"cannot work in a VA (VFIO) context: give the guest a modern device "
					"(disable-legacy=on,iommu_platform=on), or use UIO and a PA context");
		/* virtio §2.6.4.3: without it the header needs a descriptor of its own. */
		if (!(offered & VIRTIO_F_ANY_LAYOUT))
			return nic__err(ENOTSUP, "virtio-net legacy: the device does not offer ANY_LAYOUT "
						 "(virtio §2.6.4.3), which this driver needs");
		want |= VIRTIO_F_ANY_LAYOUT;
	} else {
		if (!(offered & VIRTIO_F_VERSION_1))
			return nic__err(ENOTSUP, "virtio-net: a modern device without VERSION_1 (virtio §6)");
		want |= VIRTIO_F_VERSION_1 | VIRTIO_F_ACCESS_PLATFORM;
		/* Under VFIO the buffers' IOVAs are the IOMMU's: a device that does
		 * not translate through it would DMA to the wrong addresses. */
		if (vfio && !(offered & VIRTIO_F_ACCESS_PLATFORM))
			return nic__err(
				ENOTSUP,
				"virtio-net: the device does not offer ACCESS_PLATFORM (virtio §6): its "
				"DMA would bypass the IOMMU that VFIO's IOVAs need (QEMU: "
				"iommu_platform=on)");
	}
	*out = offered & want;
	return 0;
}

/* Ring sizes: modern takes nic_opts' (at most the device's maximum); legacy
 * rings have the device's size, of which the driver uses nic_opts'. */
static int queue_size(struct vnet *v, unsigned q, unsigned want, unsigned *size)
{
	unsigned max;
	int rc = virtio_pci_queue_max(&v->t, q, &max);

	if (rc)
		return rc;
	if (!max)
		return nic__err(ENODEV, "virtio-net: the device has no queue %u (virtio §5.1.2)", q);
	if (want & (want - 1) || want > VIRTQ_SIZE_MAX || want > max)
		return nic__err(EINVAL,
				"virtio-net: %s ring of %u entries: must be a power of two, at most the "
				"device's queue size %u",
				q == VIRTIO_NET_RXQ ? "an RX" : "a TX", want, max);
	*size = v->t.legacy ? max : want;
	return 0;
}

static int read_mac(struct nic *nic, struct vnet *v)
{
	uint8_t gen0, gen1;
	uint32_t b;
	unsigned i, tries;
	int rc;

	if (!(v->features & VIRTIO_NET_F_MAC)) {
		/* virtio §5.1.5: the driver makes one up; locally administered, unicast. */
		if (getrandom(nic->info.mac, sizeof(nic->info.mac), 0) != (ssize_t)sizeof(nic->info.mac))
			return nic__err(EIO, "virtio-net: no MAC from the device, and getrandom failed");
		nic->info.mac[0] = (uint8_t)((nic->info.mac[0] & ~1u) | 2u);
		return 0;
	}
	/* virtio §2.4.1: a multi-byte read is consistent when the
	 * generation did not change across it. */
	for (tries = 0; tries < CFG_READ_TRIES; tries++) {
		if ((rc = virtio_pci_config_gen(&v->t, &gen0)))
			return rc;
		for (i = 0; i < VIRTIO_NET_MAC_LEN; i++) {
			if ((rc = virtio_pci_config(&v->t, VIRTIO_NET_CFG_MAC + i, 1, &b)))
				return rc;
			nic->info.mac[i] = (uint8_t)b;
		}
		if ((rc = virtio_pci_config_gen(&v->t, &gen1)))
			return rc;
		if (gen0 == gen1)
			return 0;
	}
	return nic__err(EIO,
			"virtio-net: the device's config_generation changed across each of %u reads of "
			"its MAC (virtio §2.4.1): the device is broken",
			CFG_READ_TRIES);
}

/* Reset on a failure path: nic_last_error() keeps the failure's line.
 * Returns whether the device confirmed it. */
static bool reset_keeping_error(struct vnet *v)
{
	char why[256];

	snprintf(why, sizeof(why), "%s", nic_last_error());
	if (!virtio_pci_reset(&v->t))
		return true;
	nic__err(EIO, "%s", why);
	return false;
}

/* virtio §3.1.1 from a reset device to DRIVER_OK on the rings vq_alloc
 * made, RX filled. On failure the device is left reset. */
static int bring_up(struct nic *nic, struct vnet *v)
{
	bool irq = nic->opts.how == NIC_IRQ;
	uint16_t rx_vec = irq ? IRQ_VECTOR : VIRTIO_MSI_NO_VECTOR;
	int rc;

	vq_init(&v->rx, irq);
	vq_init(&v->tx, false); /* sent packets are reclaimed by polling */
	if ((rc = virtio_pci_set_status(&v->t, VIRTIO_STATUS_ACKNOWLEDGE | VIRTIO_STATUS_DRIVER)) ||
	    (rc = virtio_pci_set_features(&v->t, v->features)) ||
	    (rc = virtio_pci_queue_setup(&v->t, VIRTIO_NET_RXQ, v->rx.size, v->rx.iova, rx_vec)) ||
	    (rc = virtio_pci_queue_setup(&v->t, VIRTIO_NET_TXQ, v->tx.size, v->tx.iova,
					 VIRTIO_MSI_NO_VECTOR)) ||
	    (rc = virtio_pci_config_vector(&v->t, VIRTIO_MSI_NO_VECTOR)))
		goto fail;
	/* virtio §5.1.5: receive buffers before DRIVER_OK; no doorbell
	 * before it (virtio §3.1.1). */
	rx_fill(nic, v);
	if (v->rx.inflight < v->rx.limit) {
		rc = nic__err(ENOBUFS,
			      "virtio-net: the pool had %u free packets for an RX ring of %u: make it larger "
			      "than the RX ring (and what the application holds)",
			      v->rx.inflight, v->rx.limit);
		goto fail;
	}
	vq_publish(&v->rx);
	if ((rc = virtio_pci_set_status(&v->t, VIRTIO_STATUS_DRIVER_OK)) ||
	    (rc = virtio_pci_notify(&v->t, VIRTIO_NET_RXQ)))
		goto fail;
	return 0;
fail:
	/* Unconfirmed, the packets stay on the rings, out of use (vq_free). */
	if (reset_keeping_error(v)) {
		vq_release(&v->rx);
		vq_release(&v->tx);
	}
	return rc;
}

static void stop(struct nic *nic)
{
	struct vnet *v = nic->priv;
	bool confirmed = true;

	if (!v)
		return;
	/* Its DMA ends before the rings and packets go (a device whose
	 * registers were never found was never started). */
	if (v->t.legacy || v->t.common)
		confirmed = reset_keeping_error(v);
	vq_free(nic, &v->rx, confirmed);
	vq_free(nic, &v->tx, confirmed);
	free(v);
	nic->priv = NULL;
}

static int start(struct nic *nic, bool transitional)
{
	struct vnet *v;
	unsigned rx_size, tx_size;
	uint64_t offered;
	int rc;

	if (nic->opts.flags & NIC_F_LOOPBACK)
		return nic__err(ENOTSUP, "virtio-net: NIC_F_LOOPBACK: virtio-net has no loopback mode "
					 "(connect two NICs instead)");
	if (!(v = calloc(1, sizeof(*v))))
		return nic__err(ENOMEM, "virtio-net: out of memory");
	nic->priv = v;
	if ((rc = virtio_pci_open(&v->t, nic->dev, transitional)))
		goto fail;
	nic->info.kind = v->t.legacy ? NIC_VIRTIO_NET_LEGACY : NIC_VIRTIO_NET;
	nic->info.driver = v->t.legacy ? "virtio-net legacy" : "virtio-net";
	v->hdr_len = v->t.legacy ? VIRTIO_NET_HDR_LEN_LEGACY : VIRTIO_NET_HDR_LEN;
	/* A first pass up to the queues' discovery (virtio §3.1.1 steps 1-7)
	 * finds the ring sizes to allocate; bring_up then starts afresh. */
	if ((rc = virtio_pci_reset(&v->t)) ||
	    (rc = virtio_pci_set_status(&v->t, VIRTIO_STATUS_ACKNOWLEDGE | VIRTIO_STATUS_DRIVER)) ||
	    (rc = virtio_pci_features(&v->t, &offered)) ||
	    (rc = pick_features(nic, v, offered, &v->features)) ||
	    (rc = virtio_pci_set_features(&v->t, v->features)) ||
	    (rc = queue_size(v, VIRTIO_NET_RXQ, nic->opts.rx_ring, &rx_size)) ||
	    (rc = queue_size(v, VIRTIO_NET_TXQ, nic->opts.tx_ring, &tx_size)) || (rc = read_mac(nic, v)) ||
	    (rc = virtio_pci_reset(&v->t)) ||
	    (rc = vq_alloc(nic, &v->rx, VIRTIO_NET_RXQ, rx_size, nic->opts.rx_ring, nic->opts.pool)) ||
	    (rc = vq_alloc(nic, &v->tx, VIRTIO_NET_TXQ, tx_size, nic->opts.tx_ring, NULL)) ||
	    (rc = bring_up(nic, v)))
		goto fail;
	nic->info.queues = 1;
	nic->info.rx_ring = nic->opts.rx_ring;
	nic->info.tx_ring = nic->opts.tx_ring;
	nic->info.features = v->features;
	return 0;
fail:
	stop(nic);
	return rc;
}

/* A transitional device (1af4:1000) may offer only the legacy interface. */
static int start_either(struct nic *nic)
{
	return start(nic, nic->info.device == VIRTIO_PCI_DEVICE_NET_TRANSIT);
}

static int reset(struct nic *nic)
{
	struct vnet *v = nic->priv;
	int rc = virtio_pci_reset(&v->t);

	/* Unconfirmed, the device may still write the rings' packets: they
	 * stay there, out of use; a later reset that is confirmed frees them. */
	if (rc)
		return rc;
	vq_release(&v->rx);
	vq_release(&v->tx);
	return bring_up(nic, v);
}

/* ---- link, interrupts, counters ---- */

static int get_link(struct nic *nic, struct nic_link *out)
{
	struct vnet *v = nic->priv;
	uint32_t st, speed, duplex;
	uint8_t status;
	int rc;

	memset(out, 0, sizeof(*out));
	if ((rc = virtio_pci_status(&v->t, &status)))
		return rc;
	if (status & VIRTIO_STATUS_DEVICE_NEEDS_RESET) {
		nic__fail(nic, "virtio-net: the device needs a reset (DEVICE_NEEDS_RESET, virtio §2.1.2)");
		return 0; /* down */
	}
	out->up = true; /* virtio §5.1.4: without STATUS the link is assumed up */
	if (v->features & VIRTIO_NET_F_STATUS) {
		if ((rc = virtio_pci_config(&v->t, VIRTIO_NET_CFG_STATUS, 2, &st)))
			return rc;
		out->up = (st & VIRTIO_NET_S_LINK_UP) != 0;
	}
	if (v->features & VIRTIO_NET_F_SPEED_DUPLEX) {
		if ((rc = virtio_pci_config(&v->t, VIRTIO_NET_CFG_SPEED, 4, &speed)) ||
		    (rc = virtio_pci_config(&v->t, VIRTIO_NET_CFG_DUPLEX, 1, &duplex)))
			return rc;
		out->speed_mbps = speed == VIRTIO_NET_SPEED_UNKNOWN ? 0 : speed;
		out->full_duplex = duplex == VIRTIO_NET_DUPLEX_FULL;
	}
	return 0;
}

static int wait_rx(struct nic *nic, unsigned queue, int timeout_ms)
{
	struct vnet *v = nic->priv;
	uint8_t isr;
	int rc;

	(void)queue;
	/* Packets freed since the last burst go on the ring first: an empty
	 * ring would receive nothing, and the wait would never end. */
	if (rx_fill(nic, v) && (rc = vq_kick(nic, v, &v->rx)))
		return rc;
	if (!v->rx.inflight)
		return nic__err(ENOBUFS,
				"nic_wait: %s's RX ring has no buffer, its pool none to give: free packets "
				"to the pool, then wait again",
				nic->info.driver);
	if ((rc = vq_used(nic, &v->rx)))
		return rc < 0 ? rc : 1;
	rc = nic__wait_irq(nic, IRQ_VECTOR, timeout_ms);
	if (rc <= 0)
		return rc;
	/* INTx: reading the ISR lowers the line (virtio §4.1.4.5), before the
	 * unmask; an MSI-X vector has no cause to clear. */
	if (!v->t.msix && (rc = virtio_pci_isr(&v->t, &isr)))
		return rc;
	rc = udma_dev_irq_ack(nic->dev, IRQ_VECTOR);
	if (rc)
		return nic__err(-rc, "virtio-net: acknowledging the interrupt: %s", udma_last_error());
	return 1;
}

/* virtio-net counts nothing itself: the software counts are all there is. */
static void hw_stats(struct nic *nic, struct nic_stats *out)
{
	(void)nic;
	(void)out;
}

static const struct nic_ops ops = {
	.start = start_either,
	.stop = stop,
	.reset = reset,
	.rx_burst = rx_burst,
	.tx_burst = tx_burst,
	.tx_reclaim = tx_reclaim,
	.tx_pending = tx_pending,
	.link = get_link,
	.wait = wait_rx,
	.hw_stats = hw_stats,
};

const struct nic_driver nic__virtio_net_driver = {
	.kind = NIC_VIRTIO_NET,
	.name = "virtio-net",
	.vendor = VIRTIO_PCI_VENDOR,
	.device = VIRTIO_PCI_DEVICE_NET_MODERN,
	.ops = &ops,
};

const struct nic_driver nic__virtio_net_transitional = {
	.kind = NIC_VIRTIO_NET_LEGACY, /* until start finds the modern capabilities */
	.name = "virtio-net legacy",
	.vendor = VIRTIO_PCI_VENDOR,
	.device = VIRTIO_PCI_DEVICE_NET_TRANSIT,
	.ops = &ops,
};
