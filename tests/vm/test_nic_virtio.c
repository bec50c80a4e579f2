/* SPDX-License-Identifier: MIT */
/*
 * The virtio-net driver's own tests (drivers/nic/virtio_*.c) against
 * QEMU's virtio-net-pci, inside a QEMU guest (tests/vm/ boots it); the
 * tests every NIC passes are test_nic.c's. Usage: test_nic_virtio uio|vfio.
 *
 *   uio:  legacy-only devices (1af4:1000, I/O port BAR 0) on
 *         uio_pci_generic, a PA context, INTx
 *   vfio: modern-only devices (1af4:1041) on vfio-pci behind QEMU's
 *         intel-iommu with iommu_platform=on, a VA context, MSI-X
 *
 * The guest has two virtio-net functions on one hub ($UDMA_VIRTIO_NET, "A
 * B", MACs 52:54:00:00:DD:00 where DD is the function's device number):
 * what A sends, B receives. Frames carry a sequence number and a pattern
 * that B checks byte for byte. Each test's context, devices, NICs and pools
 * live in a fixture whose teardown detaches what a failed test left,
 * checks that every packet is back in its pool, and that no fd, mapping or
 * locked page leaked.
 */
#include <errno.h>
#include <setjmp.h> /* cmocka needs these before its header */
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include <cmocka.h>
#include <udma/udma.h>

#include "drivers/nic/nic.h"
#include "drivers/nic/virtio_spec.h"
#include "tests/support/helpers.h"
#include "tests/vm/guest_support.h"

#define HUGEPAGES 32
#define POOL	  2048u
#define ETHERTYPE 0x88b5     /* IEEE 802 local experimental: nothing else in the guest speaks it */
#define HDR	  (14u + 4u) /* Ethernet header, then the sequence number */
#define WAIT_MS	  5000	     /* a frame later than this is lost, not slow */
#define LINK_MS	  5000
#define BURST	  32u

static bool vfio;	 /* else uio */
static char addr[2][16]; /* A and B */

static uint64_t now_ms(void)
{
	struct timespec t;

	clock_gettime(CLOCK_MONOTONIC, &t);
	return (uint64_t)t.tv_sec * 1000u + (uint64_t)t.tv_nsec / 1000000u;
}

/* A NIC call that must succeed. */
static void nok(int rc, const char *what)
{
	if (rc < 0)
		fail_msg("%s: expected success, got %d (%s): %s", what, rc, strerror(-rc), nic_last_error());
}

/* A NIC call that must fail with -err and say why. */
static void nerr(int rc, int err, const char *what)
{
	printf("# %s -> %d: %s\n", what, rc, rc < 0 ? nic_last_error() : "");
	if (rc != -err)
		fail_msg("%s: expected -%d (%s), got %d: %s", what, err, strerror(err), rc,
			 rc < 0 ? nic_last_error() : "(success)");
	if (!nic_last_error()[0])
		fail_msg("%s: failed with -%d but nic_last_error() is empty", what, err);
}

/* ---- the fixture ---- */

struct fix {
	struct udma_ctx *ctx;
	struct udma_dev *dev[2];
	struct nic *nic[2];
	struct udma_pool *pool, *txpool; /* RX (both NICs), and TX packets when a test needs them apart */
	unsigned pool_count, txpool_count;
	struct snap before;
};

static struct fix the_fix;

static int fix_setup(void **state)
{
	memset(&the_fix, 0, sizeof(the_fix));
	snap_take(&the_fix.before);
	*state = &the_fix;
	return 0;
}

static int fix_teardown(void **state)
{
	struct fix *f = *state;
	int i, rc = 0;

	for (i = 0; i < 2; i++) {
		nic_detach(f->nic[i]);
		f->nic[i] = NULL;
	}
	/* nic_detach gives every buffer back: a packet missing is a leak. */
	if (f->pool && udma_pool_avail(f->pool) != f->pool_count) {
		print_error("teardown: RX pool holds %u of its %u packets after nic_detach\n",
			    udma_pool_avail(f->pool), f->pool_count);
		rc = -1;
	}
	if (f->txpool && udma_pool_avail(f->txpool) != f->txpool_count) {
		print_error("teardown: TX pool holds %u of its %u packets after nic_detach\n",
			    udma_pool_avail(f->txpool), f->txpool_count);
		rc = -1;
	}
	udma_pool_destroy(f->pool);
	udma_pool_destroy(f->txpool);
	for (i = 0; i < 2; i++)
		udma_dev_close(f->dev[i]);
	udma_ctx_destroy(f->ctx);
	memset(f, 0, offsetof(struct fix, before));
	return snap_check(&f->before) || rc;
}

#define test(f) cmocka_unit_test_setup_teardown(f, fix_setup, fix_teardown)

/* The context, both devices, the RX pool of count packets. */
static void fix_open(struct fix *f, unsigned count)
{
	char spec[64];
	int i;

	f->ctx = ctx_new(vfio ? UDMA_IOVA_VA : UDMA_IOVA_PA, 0);
	for (i = 0; i < 2; i++) {
		snprintf(spec, sizeof(spec), "%s:%s", vfio ? "vfio" : "uio", addr[i]);
		if (udma_dev_open(f->ctx, spec, &f->dev[i]))
			fail_msg("udma_dev_open(%s): %s", spec, udma_last_error());
	}
	nok(nic_pool_create(f->ctx, count, 0, "rx", &f->pool), "nic_pool_create");
	f->pool_count = count;
}

static void fix_txpool(struct fix *f, unsigned count)
{
	nok(nic_pool_create(f->ctx, count, 0, "tx", &f->txpool), "nic_pool_create tx");
	f->txpool_count = count;
}

static struct nic *attach(struct fix *f, int i, enum nic_wait how, unsigned rx_ring)
{
	struct nic_opts o = {.pool = f->pool, .rx_ring = rx_ring, .how = how};

	nok(nic_attach(f->ctx, f->dev[i], &o, &f->nic[i]), "nic_attach");
	nok(nic_wait_link(f->nic[i], LINK_MS), "nic_wait_link");
	return f->nic[i];
}

/* ---- frames ---- */

static unsigned frame_len(unsigned seq)
{
	return NIC_FRAME_MIN + (seq * 97u) % (NIC_FRAME_MAX - NIC_FRAME_MIN + 1);
}

static uint8_t frame_byte(unsigned seq, unsigned i)
{
	return (uint8_t)(seq * 7u + i);
}

/* Broadcast from src, seq and its pattern. */
static void frame_fill(struct nic_pkt *p, const uint8_t *src, unsigned seq)
{
	unsigned i, len = frame_len(seq);

	memset(p->data, 0xff, 6);
	memcpy(p->data + 6, src, 6);
	p->data[12] = ETHERTYPE >> 8;
	p->data[13] = ETHERTYPE & 0xff;
	memcpy(p->data + 14, &seq, 4);
	for (i = HDR; i < len; i++)
		p->data[i] = frame_byte(seq, i);
	p->len = (uint16_t)len;
}

/* p must be frame seq from src, byte for byte. */
static void frame_check(const struct nic_pkt *p, const uint8_t *src, unsigned seq)
{
	unsigned i, got, len = frame_len(seq);

	memcpy(&got, p->data + 14, 4);
	if (p->len != len || memcmp(p->data + 6, src, 6) || got != seq)
		fail_msg("frame %u: got %u bytes, sequence %u, from %02x:..:%02x:%02x (want %u bytes)", seq,
			 p->len, got, p->data[6], p->data[10], p->data[11], len);
	for (i = HDR; i < len; i++)
		if (p->data[i] != frame_byte(seq, i))
			fail_msg("frame %u: byte %u is 0x%02x, not 0x%02x", seq, i, p->data[i],
				 frame_byte(seq, i));
}

/* Send frames [seq, seq + n) from a to pool's packets, all of them. */
static void send_frames(struct nic *a, struct udma_pool *pool, unsigned seq, unsigned n)
{
	struct nic_pkt *p[BURST];
	unsigned k, i, spins = 0;
	int t;

	while (n) {
		k = n < BURST ? n : BURST;
		while (nic_pkt_alloc_bulk(pool, p, k)) {
			nok(nic_tx_reclaim(a, 0), "nic_tx_reclaim");
			if (++spins > 1000000)
				fail_msg("send: the TX pool stays empty (%u pending)", nic_tx_pending(a, 0));
		}
		for (i = 0; i < k; i++)
			frame_fill(p[i], nic_info(a)->mac, seq + i);
		t = nic_tx_burst(a, 0, p, k);
		nok(t, "nic_tx_burst");
		nic_pkt_free_bulk(p + t, k - (unsigned)t);
		seq += (unsigned)t;
		n -= (unsigned)t;
	}
}

/*
 * Receive frames [seq, seq + n) from src on b, each checked byte for byte,
 * each once. ordered: in sending order. Unordered is for a receiver whose
 * ring ran dry: QEMU's hub then delivers the frame that found it empty after
 * the ones that queued behind it (net/hub.c flushes the sender's port before
 * the receiver's own queue), which is QEMU's doing, not the driver's.
 * already: frames received before (unordered only), or NULL.
 */
static void recv_frames(struct nic *b, const uint8_t *src, unsigned seq, unsigned n, bool ordered,
			const bool *already)
{
	static bool seen[4096];
	struct nic_pkt *p[BURST];
	unsigned left = n, s, next = seq;
	uint64_t t0 = 0;
	int r, i;

	assert_true(n <= sizeof(seen));
	memset(seen, 0, n);
	for (s = 0; already && s < n; s++)
		if ((seen[s] = already[s]))
			left--;
	while (left) {
		r = nic_rx_burst(b, 0, p, BURST);
		nok(r, "nic_rx_burst");
		for (i = 0; i < r; i++) {
			memcpy(&s, p[i]->data + 14, 4);
			if (ordered && s != next)
				fail_msg("frame %u arrived where frame %u was due", s, next);
			if (s - seq >= n || seen[s - seq])
				fail_msg("frame %u: not one of %u..%u, or a second time", s, seq,
					 seq + n - 1);
			frame_check(p[i], src, s);
			seen[s - seq] = true;
			next++;
			left--;
		}
		nic_pkt_free_bulk(p, (unsigned)r);
		if (r)
			t0 = 0;
		else if (!t0)
			t0 = now_ms();
		else if (now_ms() - t0 > WAIT_MS)
			fail_msg("%u of frames %u..%u not received in %d ms", left, seq, seq + n - 1,
				 WAIT_MS);
	}
}

/* Discard what b receives until it has been quiet for a while: frames from
 * src sent before a reset, each still whole, with sequence numbers below
 * below. Returns how many. (The wait only ends the drain; it judges nothing.) */
static unsigned drain_rx(struct nic *b, const uint8_t *src, unsigned below)
{
	struct nic_pkt *p[BURST];
	unsigned n = 0, seq;
	uint64_t t0 = now_ms();
	int r, i;

	while (now_ms() - t0 < 300) {
		r = nic_rx_burst(b, 0, p, BURST);
		nok(r, "nic_rx_burst");
		for (i = 0; i < r; i++) {
			memcpy(&seq, p[i]->data + 14, 4);
			if (seq >= below)
				fail_msg("frame %u arrived before it was sent", seq);
			frame_check(p[i], src, seq);
		}
		nic_pkt_free_bulk(p, (unsigned)r);
		if (r) {
			n += (unsigned)r;
			t0 = now_ms();
		}
	}
	return n;
}

/* What a sent must be drained from its TX ring (all reclaimed). */
static void drain_tx(struct nic *a)
{
	uint64_t t0 = now_ms();

	while (nic_tx_pending(a, 0)) {
		nok(nic_tx_reclaim(a, 0), "nic_tx_reclaim");
		if (now_ms() - t0 > WAIT_MS)
			fail_msg("%u packets never left the TX ring", nic_tx_pending(a, 0));
	}
}

/* ---- what attach negotiated ---- */

static void expect_mac(const struct nic_info *in, const char *fn)
{
	unsigned dev = 0;

	/* The guest's NICs are 52:54:00:00:DD:00, DD the PCI device number. */
	sscanf(fn + 8, "%x", &dev);
	if (in->mac[0] != 0x52 || in->mac[1] != 0x54 || in->mac[2] || in->mac[3] || in->mac[4] != dev ||
	    in->mac[5])
		fail_msg("%s: MAC %02x:%02x:%02x:%02x:%02x:%02x, not 52:54:00:00:%02x:00", fn, in->mac[0],
			 in->mac[1], in->mac[2], in->mac[3], in->mac[4], in->mac[5], dev);
}

static void virtio_features(void **state)
{
	struct fix *f = *state;
	const struct nic_info *in;
	struct nic_link l;
	uint64_t must, mustnot;

	fix_open(f, POOL);
	in = nic_info(attach(f, 0, NIC_POLL, 0));
	printf("# %s: %s %04x:%04x, features %#llx, rings %u/%u\n", addr[0], in->driver, in->vendor,
	       in->device, (unsigned long long)in->features, in->rx_ring, in->tx_ring);
	if (vfio) {
		assert_int_equal(in->kind, NIC_VIRTIO_NET);
		assert_string_equal(in->driver, "virtio-net");
		assert_int_equal(in->device, VIRTIO_PCI_DEVICE_NET_MODERN);
		/* Through the IOMMU (iommu_platform=on), modern only. */
		must = VIRTIO_F_VERSION_1 | VIRTIO_F_ACCESS_PLATFORM;
		mustnot = VIRTIO_F_ANY_LAYOUT;
	} else {
		assert_int_equal(in->kind, NIC_VIRTIO_NET_LEGACY);
		assert_string_equal(in->driver, "virtio-net legacy");
		assert_int_equal(in->device, VIRTIO_PCI_DEVICE_NET_TRANSIT);
		must = VIRTIO_F_ANY_LAYOUT;
		mustnot = VIRTIO_F_VERSION_1 | VIRTIO_F_ACCESS_PLATFORM;
	}
	must |= VIRTIO_NET_F_MAC | VIRTIO_NET_F_STATUS;
	mustnot |= VIRTIO_NET_F_MRG_RXBUF | VIRTIO_NET_F_CTRL_VQ;
	if ((in->features & must) != must)
		fail_msg("features %#llx lack %#llx", (unsigned long long)in->features,
			 (unsigned long long)(must & ~in->features));
	if (in->features & mustnot)
		fail_msg("features %#llx include %#llx", (unsigned long long)in->features,
			 (unsigned long long)(in->features & mustnot));
	assert_int_equal(in->vendor, VIRTIO_PCI_VENDOR);
	assert_int_equal(in->queues, 1);
	assert_int_equal(in->rx_ring, 256);
	assert_int_equal(in->tx_ring, 256);
	expect_mac(in, addr[0]);
	nok(nic_link(f->nic[0], &l), "nic_link");
	assert_true(l.up);
	/* The RX ring holds its 256 buffers, nothing else is out. */
	assert_int_equal(udma_pool_avail(f->pool), POOL - 256);
}

/* ---- the transports, read around the driver ---- */

/* The first capability with id from config space, 0 if none. */
static uint8_t find_cap(struct udma_dev *dev, uint8_t id, uint8_t type)
{
	uint8_t p, hdr[4];
	int n;

	ok(udma_dev_config_read(dev, PCI_CFG_CAP_PTR, &p, 1), "udma_dev_config_read");
	for (n = 0; p && n < PCI_CAP_WALK_MAX; n++) {
		ok(udma_dev_config_read(dev, p & PCI_CAP_PTR_MASK, hdr, sizeof(hdr)), "udma_dev_config_read");
		if (hdr[0] == id && (!type || hdr[3] == type))
			return p & PCI_CAP_PTR_MASK;
		p = hdr[1];
	}
	return 0;
}

static bool msix_on(struct udma_dev *dev)
{
	uint8_t pos = find_cap(dev, PCI_CAP_ID_MSIX, 0);
	uint16_t ctrl;

	if (!pos)
		fail_msg("no MSI-X capability: QEMU's virtio-net-pci has one");
	ok(udma_dev_config_read(dev, pos + PCI_MSIX_CTRL, &ctrl, 2), "udma_dev_config_read");
	return ctrl & PCI_MSIX_CTRL_ENABLE;
}

/* uio: the device config of a legacy device follows the registers at 20,
 * MSI-X being off; its MAC read there is the one the driver reports. */
static void virtio_legacy_config(void **state)
{
	struct fix *f = *state;
	const struct nic_info *in;
	uint8_t mac[6], at24[6];
	unsigned i;

	if (vfio) {
		printf("# skip: the vfio guest's devices are modern only (virtio_modern_caps)\n");
		skip();
	}
	fix_open(f, POOL);
	in = nic_info(attach(f, 0, NIC_POLL, 0));
	if (msix_on(f->dev[0]))
		fail_msg("MSI-X is enabled under UIO: the config would be at 24");
	for (i = 0; i < 6; i++) {
		ok(udma_dev_io_read(f->dev[0], VIRTIO_LEGACY_BAR, VIRTIO_LEGACY_CONFIG + i, &mac[i], 1),
		   "udma_dev_io_read");
		ok(udma_dev_io_read(f->dev[0], VIRTIO_LEGACY_BAR, VIRTIO_LEGACY_CONFIG_MSIX + i, &at24[i], 1),
		   "udma_dev_io_read");
	}
	printf("# config at 20: %02x:%02x:%02x:%02x:%02x:%02x, at 24: %02x:%02x:%02x:%02x:%02x:%02x\n",
	       mac[0], mac[1], mac[2], mac[3], mac[4], mac[5], at24[0], at24[1], at24[2], at24[3], at24[4],
	       at24[5]);
	assert_memory_equal(mac, in->mac, 6);
	assert_memory_not_equal(at24, in->mac, 6);
	expect_mac(in, addr[0]);
}

/* vfio: the modern structures are where the capabilities say; the device
 * config's MAC read through the BAR is the one the driver reports, MSI-X
 * is on, and BAR 0 has no I/O ports. */
static void virtio_modern_caps(void **state)
{
	struct fix *f = *state;
	const struct nic_info *in;
	struct virtio_pci_cap c;
	uint8_t pos, v8;
	void *bar;
	size_t len;
	unsigned type;

	if (!vfio) {
		printf("# skip: the uio guest's devices are legacy only (virtio_legacy_config)\n");
		skip();
	}
	fix_open(f, POOL);
	in = nic_info(attach(f, 0, NIC_POLL, 0));
	assert_true(msix_on(f->dev[0]));
	for (type = VIRTIO_PCI_CAP_COMMON_CFG; type <= VIRTIO_PCI_CAP_DEVICE_CFG; type++)
		if (!find_cap(f->dev[0], PCI_CAP_ID_VENDOR, (uint8_t)type))
			fail_msg("no virtio capability of type %u", type);
	pos = find_cap(f->dev[0], PCI_CAP_ID_VENDOR, VIRTIO_PCI_CAP_DEVICE_CFG);
	ok(udma_dev_config_read(f->dev[0], pos, &c, sizeof(c)), "udma_dev_config_read");
	ok(udma_dev_bar(f->dev[0], c.bar, &bar, &len), "udma_dev_bar");
	printf("# device config: BAR %u + %#x, %u bytes (BAR of %#zx)\n", c.bar, c.offset, c.length, len);
	assert_true(c.offset + c.length <= len);
	assert_memory_equal((uint8_t *)bar + c.offset + VIRTIO_NET_CFG_MAC, in->mac, 6);
	assert_int_not_equal(udma_dev_io_read(f->dev[0], VIRTIO_LEGACY_BAR, VIRTIO_LEGACY_STATUS, &v8, 1), 0);
	expect_mac(in, addr[0]);
}

/* ---- traffic ---- */

/* Frames of every length both ways, checked and counted. */
static void virtio_traffic(void **state)
{
	struct fix *f = *state;
	struct nic *a, *b;
	struct nic_stats sa, sb;
	uint64_t bytes = 0;
	unsigned i, n = 3000;

	fix_open(f, POOL);
	a = attach(f, 0, NIC_POLL, 0);
	b = attach(f, 1, NIC_POLL, 0);
	for (i = 0; i < n; i += 100) {
		send_frames(a, f->pool, i, 100);
		recv_frames(b, nic_info(a)->mac, i, 100, true, NULL);
	}
	for (i = 0; i < n; i++)
		bytes += frame_len(i);
	for (i = 0; i < 500; i += 100) {
		send_frames(b, f->pool, i, 100);
		recv_frames(a, nic_info(b)->mac, i, 100, true, NULL);
	}
	drain_tx(a);
	drain_tx(b);
	nok(nic_stats(a, &sa), "nic_stats");
	nok(nic_stats(b, &sb), "nic_stats");
	printf("# A: tx %llu packets %llu bytes; B: rx %llu packets %llu bytes, errors %llu, nobuf %llu\n",
	       (unsigned long long)sa.tx_packets, (unsigned long long)sa.tx_bytes,
	       (unsigned long long)sb.rx_packets, (unsigned long long)sb.rx_bytes,
	       (unsigned long long)sb.rx_errors, (unsigned long long)sb.rx_nobuf);
	assert_int_equal(sa.tx_packets, n);
	assert_int_equal(sa.tx_bytes, bytes);
	assert_int_equal(sb.rx_packets, n);
	assert_int_equal(sb.rx_bytes, bytes);
	assert_int_equal(sb.rx_errors, 0);
	assert_int_equal(sa.rx_packets, 500);
	assert_int_equal(sa.rx_missed + sb.rx_missed, 0); /* virtio counts nothing itself */
	assert_int_equal(udma_pool_avail(f->pool), POOL - 512);
}

/* B sleeps in nic_wait: an interrupt for each batch (INTx under UIO,
 * MSI-X under VFIO); a quiet NIC times out with 0. */
static void virtio_irq(void **state)
{
	struct fix *f = *state;
	struct nic *a, *b;
	unsigned i, seq = 0, rounds = 20;
	int w;

	fix_open(f, POOL);
	a = attach(f, 0, NIC_POLL, 0);
	b = attach(f, 1, NIC_IRQ, 0);
	nerr(nic_wait(a, 0, 10), EINVAL, "nic_wait on a NIC_POLL NIC");
	w = nic_wait(b, 0, 200);
	nok(w, "nic_wait with nothing sent");
	assert_int_equal(w, 0);
	for (i = 0; i < rounds; i++) {
		struct nic_pkt *p[BURST];
		unsigned got = 0;
		int r;

		send_frames(a, f->pool, seq, 8);
		while (got < 8) {
			w = nic_wait(b, 0, WAIT_MS);
			nok(w, "nic_wait");
			if (!w)
				fail_msg("round %u: no interrupt in %d ms with %u of 8 frames received", i,
					 WAIT_MS, got);
			/* nic_wait's contract: burst until 0 before waiting again. */
			while ((r = nic_rx_burst(b, 0, p, BURST)) > 0) {
				for (int k = 0; k < r; k++)
					frame_check(p[k], nic_info(a)->mac, seq + got + (unsigned)k);
				nic_pkt_free_bulk(p, (unsigned)r);
				got += (unsigned)r;
			}
			nok(r, "nic_rx_burst");
		}
		assert_int_equal(got, 8);
		seq += 8;
	}
	drain_tx(a);
}

/* ---- buffers ---- */

/* B's pool runs dry while it holds what it received: no crash, rx_nobuf
 * counts the empty descriptors, the device holds the frames back, and
 * they all arrive once the buffers return. */
static void virtio_pool_exhausted(void **state)
{
	struct fix *f = *state;
	struct nic *a, *b;
	struct nic_pkt *held[256];
	struct nic_stats s;
	bool seen[200];
	unsigned nheld = 0, n = 200, ring = 64, i, seq;
	uint64_t t0;
	int r;

	fix_open(f, 96); /* B's RX ring of 64 and 32 more */
	fix_txpool(f, 512);
	/* A's RX buffers come from the TX pool: B's stay B's. */
	{
		struct nic_opts o = {.pool = f->txpool, .how = NIC_POLL};

		nok(nic_attach(f->ctx, f->dev[0], &o, &f->nic[0]), "nic_attach A");
		nok(nic_wait_link(f->nic[0], LINK_MS), "nic_wait_link A");
	}
	a = f->nic[0];
	b = attach(f, 1, NIC_POLL, ring);
	send_frames(a, f->txpool, 0, n);
	/* Take without giving back until the ring and pool are dry. */
	t0 = now_ms();
	while (nheld < 96) {
		r = nic_rx_burst(b, 0, held + nheld, 256 - nheld < BURST ? 256 - nheld : BURST);
		nok(r, "nic_rx_burst");
		nheld += (unsigned)r;
		if (now_ms() - t0 > WAIT_MS)
			fail_msg("only %u frames arrived in %d ms", nheld, WAIT_MS);
	}
	assert_int_equal(nheld, 96);
	assert_int_equal(udma_pool_avail(f->pool), 0);
	r = nic_rx_burst(b, 0, held + nheld, BURST);
	assert_int_equal(r, 0); /* an empty ring receives nothing, and does not fail */
	nok(nic_stats(b, &s), "nic_stats");
	printf("# B holds %u, rx_nobuf %llu\n", nheld, (unsigned long long)s.rx_nobuf);
	assert_int_equal(s.rx_nobuf, ring);
	memset(seen, 0, sizeof(seen));
	for (i = 0; i < nheld; i++) {
		memcpy(&seq, held[i]->data + 14, 4);
		if (seq >= n || seen[seq])
			fail_msg("held frame %u: not one of 0..%u, or a second time", seq, n - 1);
		frame_check(held[i], nic_info(a)->mac, seq);
		seen[seq] = true;
	}
	nic_pkt_free_bulk(held, nheld);
	/* The rest, now that buffers are back (in any order: recv_frames). */
	recv_frames(b, nic_info(a)->mac, 0, n, false, seen);
	drain_tx(a);
	nok(nic_stats(b, &s), "nic_stats");
	assert_int_equal(s.rx_packets, n);
}

/* Both queues hold packets when both NICs are reset: every one comes back,
 * the rings are filled afresh, and traffic flows again. */
static void virtio_reset_inflight(void **state)
{
	struct fix *f = *state;
	struct nic *a, *b;
	unsigned pend;

	fix_open(f, POOL);
	fix_txpool(f, 512);
	a = attach(f, 0, NIC_POLL, 0);
	b = attach(f, 1, NIC_POLL, 0);
	/* B's ring gets used buffers it has not taken yet... */
	send_frames(a, f->txpool, 0, 100);
	drain_tx(a);
	/* ... and A's TX ring a full ring's worth, not reclaimed. */
	send_frames(a, f->txpool, 100, 256);
	pend = nic_tx_pending(a, 0);
	printf("# A: %u TX packets pending, TX pool %u of 512 free, RX pool %u free\n", pend,
	       udma_pool_avail(f->txpool), udma_pool_avail(f->pool));
	assert_true(pend > 0);
	assert_int_equal(udma_pool_avail(f->txpool), 512 - pend);
	nok(nic_reset(a), "nic_reset A");
	nok(nic_reset(b), "nic_reset B");
	assert_int_equal(nic_tx_pending(a, 0), 0);
	assert_int_equal(udma_pool_avail(f->txpool), 512);
	assert_int_equal(udma_pool_avail(f->pool), POOL - 512); /* both RX rings, full again */
	nok(nic_wait_link(a, LINK_MS), "nic_wait_link after reset");
	nok(nic_wait_link(b, LINK_MS), "nic_wait_link after reset");
	/* What B had received went with its reset; frames QEMU still held
	 * back for B may come now. */
	printf("# B: %u frames sent before the resets arrived after them\n",
	       drain_rx(b, nic_info(a)->mac, 1000));
	send_frames(a, f->txpool, 1000, 300);
	recv_frames(b, nic_info(a)->mac, 1000, 300, false, NULL);
	drain_tx(a);
}

/* ---- refusals ---- */

static void virtio_opts_refused(void **state)
{
	struct fix *f = *state;
	struct nic_opts o = {0};
	struct nic_pkt *all[64];
	struct udma_pool *small;

	fix_open(f, POOL);
	o.pool = f->pool;
	o.flags = NIC_F_LOOPBACK;
	nerr(nic_attach(f->ctx, f->dev[0], &o, &f->nic[0]), ENOTSUP, "NIC_F_LOOPBACK");
	o.flags = 0;
	o.rx_ring = 100;
	nerr(nic_attach(f->ctx, f->dev[0], &o, &f->nic[0]), EINVAL, "an RX ring of 100");
	o.rx_ring = 0;
	o.tx_ring = 4096;
	nerr(nic_attach(f->ctx, f->dev[0], &o, &f->nic[0]), EINVAL, "a TX ring larger than the device's");
	o.tx_ring = 0;
	/* A pool that cannot fill the RX ring. */
	nok(nic_pool_create(f->ctx, 64, 0, "small", &small), "nic_pool_create");
	o.pool = small;
	nerr(nic_attach(f->ctx, f->dev[0], &o, &f->nic[0]), ENOBUFS, "a pool of 64 for a ring of 256");
	assert_int_equal(udma_pool_avail(small), 64);
	nok(nic_pkt_alloc_bulk(small, all, 64), "nic_pkt_alloc_bulk");
	o.rx_ring = 32;
	nerr(nic_attach(f->ctx, f->dev[0], &o, &f->nic[0]), ENOBUFS, "an empty pool");
	nic_pkt_free_bulk(all, 64);
	udma_pool_destroy(small);
	assert_null(f->nic[0]);
	/* Each refusal left the device reset and usable. */
	attach(f, 0, NIC_POLL, 0);
	attach(f, 1, NIC_POLL, 0);
	send_frames(f->nic[0], f->pool, 0, 50);
	recv_frames(f->nic[1], nic_info(f->nic[0])->mac, 0, 50, true, NULL);
	drain_tx(f->nic[0]);
}

/* ---- the IOMMU ---- */

/* Memory in no region: the IOMMU maps none of it for the device. */
static uint8_t secret[3 * 4096] __attribute__((aligned(4096)));

/*
 * vfio: a TX descriptor pointing at memory udma never mapped. The IOMMU
 * blocks the read (the guest's kernel logs the DMAR fault), nothing of that
 * memory reaches B, and A works again after nic_reset. QEMU 7.2 does not
 * fail the device for it: its DMA map falls back to a bounce buffer the
 * refused read leaves unfilled, so A may still send a frame of stale bytes,
 * and complete the descriptor; a device that sets DEVICE_NEEDS_RESET
 * instead shows as the link going down (nic_link).
 */
static void virtio_iommu_blocked(void **state)
{
	struct fix *f = *state;
	struct nic *a, *b;
	struct nic_pkt *bad, *p[BURST];
	struct nic_link l = {.up = true};
	const uint8_t *hidden = secret + 4096 + 64;
	uint64_t good_iova, bad_iova, t0;
	unsigned len, other = 0;
	int r, i;

	if (!vfio) {
		printf("# skip: UIO has no IOMMU: the device reaches all memory\n");
		skip();
	}
	fix_open(f, POOL);
	fix_txpool(f, 64); /* the bad packet must never become an RX buffer */
	a = attach(f, 0, NIC_POLL, 0);
	b = attach(f, 1, NIC_POLL, 0);
	assert_true(udma_iova(f->ctx, secret) == UDMA_BAD_IOVA);
	bad = got(nic_pkt_alloc(f->txpool), "nic_pkt_alloc");
	frame_fill(bad, nic_info(a)->mac, 0);
	len = bad->len;
	/* The frame, header included, inside one page no region holds. */
	memcpy(secret + 4096 + 64, bad->data, len);
	good_iova = bad->iova;
	bad_iova = (uintptr_t)hidden;
	bad->iova = bad_iova; /* what a driver bug would do */
	r = nic_tx_burst(a, 0, &bad, 1);
	nok(r, "nic_tx_burst");
	assert_int_equal(r, 1);
	expect_dmar("Read", bad_iova);
	/* The device completes the descriptor, or gives up on its queues. */
	t0 = now_ms();
	while (nic_tx_pending(a, 0) && l.up) {
		nok(nic_tx_reclaim(a, 0), "nic_tx_reclaim");
		nok(nic_link(a, &l), "nic_link");
		if (now_ms() - t0 > WAIT_MS)
			fail_msg("the blocked descriptor was neither completed nor the device failed");
	}
	printf("# after the fault: %u pending, link %s\n", nic_tx_pending(a, 0), l.up ? "up" : "down");
	/* Whatever reached B, it is not what the unmapped page holds. */
	t0 = now_ms();
	while (now_ms() - t0 < 300) {
		r = nic_rx_burst(b, 0, p, BURST);
		nok(r, "nic_rx_burst");
		for (i = 0; i < r; i++) {
			if (p[i]->len == len && !memcmp(p[i]->data, hidden, len))
				fail_msg("B received the frame from memory the IOMMU does not map");
			other++;
		}
		nic_pkt_free_bulk(p, (unsigned)r);
	}
	printf("# B received %u frame(s), none with the unmapped memory's bytes\n", other);
	nok(nic_reset(a), "nic_reset");
	/* The packet is back in its pool; give it its own address again. */
	bad->iova = good_iova;
	assert_int_equal(udma_pool_avail(f->txpool), 64);
	nok(nic_wait_link(a, LINK_MS), "nic_wait_link after reset");
	send_frames(a, f->txpool, 1, 100);
	recv_frames(b, nic_info(a)->mac, 1, 100, true, NULL);
	drain_tx(a);
}

static bool is_virtio_net(const char *a)
{
	unsigned vendor, device;

	return pci_read_hex(a, "vendor", &vendor) && pci_read_hex(a, "device", &device) &&
	       vendor == VIRTIO_PCI_VENDOR &&
	       (device == VIRTIO_PCI_DEVICE_NET_MODERN || device == VIRTIO_PCI_DEVICE_NET_TRANSIT);
}

int main(int argc, char **argv)
{
	const struct CMUnitTest tests[] = {
		test(virtio_features),	     test(virtio_legacy_config), test(virtio_modern_caps),
		test(virtio_traffic),	     test(virtio_irq),		 test(virtio_pool_exhausted),
		test(virtio_reset_inflight), test(virtio_opts_refused),	 test(virtio_iommu_blocked),
	};
	const char *env = getenv("UDMA_VIRTIO_NET");

	if (argc != 2 || (strcmp(argv[1], "uio") && strcmp(argv[1], "vfio"))) {
		fprintf(stderr, "usage: %s uio|vfio\n", argv[0]);
		return 2;
	}
	vfio = !strcmp(argv[1], "vfio");
	if (!env || sscanf(env, "%15s %15s", addr[0], addr[1]) != 2 || !is_virtio_net(addr[0]) ||
	    !is_virtio_net(addr[1])) {
		printf("test_nic_virtio: UDMA_VIRTIO_NET must name two virtio-net functions on one hub "
		       "(got '%s')\n",
		       env ? env : "");
		return 1;
	}
	if (!ensure_hugepages(HUGEPAGES, "test_nic_virtio"))
		return 1;
	printf("test_nic_virtio: %s and %s through %s\n", addr[0], addr[1], argv[1]);
	if (getenv("UDMA_NIC_TESTS"))
		cmocka_set_test_filter(getenv("UDMA_NIC_TESTS"));
	return _cmocka_run_group_tests(vfio ? "virtio-net over VFIO" : "virtio-net legacy over UIO", tests,
				       sizeof(tests) / sizeof(tests[0]), NULL, NULL);
}
