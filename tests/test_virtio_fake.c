/* SPDX-License-Identifier: MIT */
/*
 * The virtio-net driver (drivers/nic/virtio_*.c) against devices in plain
 * memory: config space, the modern BAR and the legacy I/O registers are the
 * test's (udma_dev_config_read, udma_dev_bar and udma_dev_io_* are wrapped,
 * -Wl,--wrap), so it can be the devices QEMU will not be.
 * The transports: a capability list that loops, a structure past its BAR,
 * a missing notification capability, a doorbell past its structure, a
 * reset that never ends; the legacy device config moving from 20 to 24
 * with MSI-X.
 * The driver, through nic_attach in a VA context (IOVA = address, so the
 * test plays the device on the rings udma_zmalloc gave it, wrapped to learn
 * where): the features it refuses to run without; frames received and
 * sent through the split rings (wrapping, the header, padding, errors
 * counted), a doorbell only when the device asks for one, a used entry
 * naming a descriptor the device does not own (the NIC fails, nic_reset
 * recovers), a used index moved past what was posted, frames shorter than
 * an Ethernet header, RX buffers whose header names another pool, an RX
 * ring left empty (nic_wait refills it, or says -ENOBUFS), a reset the
 * device never confirms (nothing goes back to the pool), a config
 * generation that never settles, a legacy queue size no ring can have.
 * virtio_pci_reset and virtio_pci_config_gen are wrapped for the last ones,
 * udma_dev_irq_fd for nic_wait (a pipe nobody writes).
 */
#include <errno.h>
#include <stdio.h>
#include <string.h>
#include <unistd.h>

#include <udma/udma.h>

#include "drivers/nic/nic.h"
#include "drivers/nic/nic_internal.h"
#include "drivers/nic/virtio_pci.h"
#include "drivers/nic/virtio_spec.h"
#include "tests/support/helpers.h"

#define MODERN_BAR  4
#define MODERN_LEN  0x4000
#define COMMON_OFF  0x0000
#define ISR_OFF	    0x1000
#define DEVCFG_OFF  0x2000
#define NOTIFY_OFF  0x3000
#define NOTIFY_MULT 4
#define CAP_MSIX    0x40
#define CAP_FIRST   0x50 /* the virtio capabilities, 0x14 apart */
#define CAP_STRIDE  0x14
#define LEGACY_REGS 64

static struct {
	uint8_t cfg[PCI_CFG_SPACE_SIZE];
	uint8_t bar[MODERN_LEN] __attribute__((aligned(4096)));
	bool legacy; /* BAR 0 is I/O ports */
	bool stuck;  /* legacy status never reads 0 */
	uint8_t io[LEGACY_REGS];
	uint16_t qsize[2];
	uint32_t pfn[2];
} fake;

static struct udma_dev *const dev = (struct udma_dev *)&fake; /* only ever handed to the wraps */

/* Outside fake (fake_pci clears it): resets that end before the device
 * sticks (-1: never), config generation reads that differ before it
 * settles (0: none), the fd nic_wait polls. */
static int resets_before_stuck = -1;
static unsigned gen_changes;
static int irq_fd = -1;

int __real_virtio_pci_reset(struct virtio_pci *t);
int __wrap_virtio_pci_reset(struct virtio_pci *t);
int __wrap_virtio_pci_reset(struct virtio_pci *t)
{
	if (resets_before_stuck && resets_before_stuck--)
		return __real_virtio_pci_reset(t);
	/* What virtio_pci_reset says when the status never reads 0. */
	fake.bar[COMMON_OFF + VIRTIO_COMMON_STATUS] = VIRTIO_STATUS_DRIVER;
	return nic__err(ETIMEDOUT, "fake: the device status never reads 0: the device is stuck");
}

int __real_virtio_pci_config_gen(struct virtio_pci *t, uint8_t *gen);
int __wrap_virtio_pci_config_gen(struct virtio_pci *t, uint8_t *gen);
int __wrap_virtio_pci_config_gen(struct virtio_pci *t, uint8_t *gen)
{
	if (!gen_changes)
		return __real_virtio_pci_config_gen(t, gen);
	*gen = (uint8_t)gen_changes--;
	return 0;
}

int __wrap_udma_dev_irq_fd(struct udma_dev *d, unsigned vector);
int __wrap_udma_dev_irq_fd(struct udma_dev *d, unsigned vector)
{
	(void)d;
	(void)vector;
	return irq_fd;
}

/* The driver's rings (RX then TX): udma_zmalloc is wrapped to see them. */
static void *rings[2];
static unsigned nrings;

void *__real_udma_zmalloc(struct udma_ctx *ctx, size_t size, size_t align, uint64_t *iova);
void *__wrap_udma_zmalloc(struct udma_ctx *ctx, size_t size, size_t align, uint64_t *iova);
void *__wrap_udma_zmalloc(struct udma_ctx *ctx, size_t size, size_t align, uint64_t *iova)
{
	void *p = __real_udma_zmalloc(ctx, size, align, iova);

	if (p && nrings < 2)
		rings[nrings++] = p;
	return p;
}

int __wrap_udma_dev_config_read(struct udma_dev *d, unsigned off, void *buf, size_t len);
int __wrap_udma_dev_config_read(struct udma_dev *d, unsigned off, void *buf, size_t len)
{
	(void)d;
	if (off + len > sizeof(fake.cfg))
		return -ERANGE;
	memcpy(buf, fake.cfg + off, len);
	return 0;
}

int __wrap_udma_dev_bar(struct udma_dev *d, unsigned bar, void **addr, size_t *len);
int __wrap_udma_dev_bar(struct udma_dev *d, unsigned bar, void **addr, size_t *len)
{
	(void)d;
	if (bar != MODERN_BAR)
		return -ENOENT;
	*addr = fake.bar;
	*len = sizeof(fake.bar);
	return 0;
}

static unsigned qsel(void)
{
	uint16_t q;

	memcpy(&q, fake.io + VIRTIO_LEGACY_QUEUE_SELECT, 2);
	return q & 1;
}

int __wrap_udma_dev_io_read(struct udma_dev *d, unsigned bar, uint64_t off, void *val, unsigned width);
int __wrap_udma_dev_io_read(struct udma_dev *d, unsigned bar, uint64_t off, void *val, unsigned width)
{
	(void)d;
	if (!fake.legacy || bar != VIRTIO_LEGACY_BAR)
		return -EINVAL; /* a memory BAR, as udma_dev_io_read says */
	if (off + width > LEGACY_REGS)
		return -ERANGE;
	if (off == VIRTIO_LEGACY_QUEUE_SIZE)
		memcpy(fake.io + off, &fake.qsize[qsel()], 2);
	memcpy(val, fake.io + off, width);
	return 0;
}

int __wrap_udma_dev_io_write(struct udma_dev *d, unsigned bar, uint64_t off, const void *val, unsigned width);
int __wrap_udma_dev_io_write(struct udma_dev *d, unsigned bar, uint64_t off, const void *val, unsigned width)
{
	(void)d;
	if (!fake.legacy || bar != VIRTIO_LEGACY_BAR)
		return -EINVAL;
	if (off + width > LEGACY_REGS)
		return -ERANGE;
	memcpy(fake.io + off, val, width);
	if (off == VIRTIO_LEGACY_STATUS && !fake.io[off] && fake.stuck)
		fake.io[off] = VIRTIO_STATUS_DRIVER;
	if (off == VIRTIO_LEGACY_QUEUE_PFN)
		memcpy(&fake.pfn[qsel()], val, 4);
	return 0;
}

/* Config space with a capability list holding MSI-X (enable as given). */
static void fake_pci(bool msix_on)
{
	uint16_t status = PCI_STATUS_CAP_LIST, ctrl = msix_on ? PCI_MSIX_CTRL_ENABLE : 0;

	memset(&fake, 0, sizeof(fake));
	memcpy(fake.cfg + PCI_CFG_STATUS, &status, 2);
	fake.cfg[PCI_CFG_CAP_PTR] = CAP_MSIX;
	fake.cfg[CAP_MSIX] = PCI_CAP_ID_MSIX;
	memcpy(fake.cfg + CAP_MSIX + PCI_MSIX_CTRL, &ctrl, 2);
}

/* A legacy device: 256-entry queues, one byte at 20, another at 24. */
static void fake_legacy(bool msix_on)
{
	fake_pci(msix_on);
	fake.legacy = true;
	fake.qsize[0] = fake.qsize[1] = 256;
	fake.io[VIRTIO_LEGACY_CONFIG] = 0x52;
	fake.io[VIRTIO_LEGACY_CONFIG_MSIX] = 0xaa;
}

/* Virtio capability n of type, chained after MSI-X and the n - 1 before. */
static void add_cap(unsigned n, uint8_t type, uint32_t off, uint32_t len)
{
	struct virtio_pci_notify_cap c = {
		.cap = {.cap_vndr = PCI_CAP_ID_VENDOR,
			.cap_len = type == VIRTIO_PCI_CAP_NOTIFY_CFG ? sizeof(c) : sizeof(c.cap),
			.cfg_type = type,
			.bar = MODERN_BAR,
			.offset = off,
			.length = len},
		.notify_off_multiplier = NOTIFY_MULT};
	uint8_t pos = (uint8_t)(CAP_FIRST + n * CAP_STRIDE);

	memcpy(fake.cfg + pos, &c, c.cap.cap_len);
	fake.cfg[n ? pos - CAP_STRIDE + 1 : CAP_MSIX + 1] = pos;
}

/* A modern device: the four structures in BAR 4; skip: a type left out. */
static void fake_modern(uint8_t skip)
{
	static const uint8_t types[] = {VIRTIO_PCI_CAP_COMMON_CFG, VIRTIO_PCI_CAP_ISR_CFG,
					VIRTIO_PCI_CAP_DEVICE_CFG, VIRTIO_PCI_CAP_NOTIFY_CFG};
	static const uint32_t offs[] = {COMMON_OFF, ISR_OFF, DEVCFG_OFF, NOTIFY_OFF};
	unsigned i, n = 0;

	fake_pci(true);
	for (i = 0; i < sizeof(types); i++)
		if (types[i] != skip)
			add_cap(n++, types[i], offs[i], 0x1000);
}

static void open_fails(bool transitional, int err, const char *says)
{
	struct virtio_pci t;
	int rc = virtio_pci_open(&t, dev, transitional);

	if (rc != -err)
		fail_msg("virtio_pci_open: expected -%d, got %d: %s", err, rc, nic_last_error());
	if (!strstr(nic_last_error(), says))
		fail_msg("nic_last_error() should say '%s': %s", says, nic_last_error());
}

/* ---- legacy ---- */

static void legacy_config_follows_msix(void **state)
{
	struct virtio_pci t;
	uint32_t b;

	(void)state;
	fake_legacy(false);
	assert_int_equal(virtio_pci_open(&t, dev, true), 0);
	assert_true(t.legacy);
	assert_int_equal(virtio_pci_config(&t, VIRTIO_NET_CFG_MAC, 1, &b), 0);
	assert_int_equal(b, 0x52); /* at 20 */
	fake_legacy(true);
	assert_int_equal(virtio_pci_open(&t, dev, true), 0);
	assert_int_equal(virtio_pci_config(&t, VIRTIO_NET_CFG_MAC, 1, &b), 0);
	assert_int_equal(b, 0xaa); /* at 24, past the two MSI-X vector registers */
}

static void legacy_reset_stuck(void **state)
{
	struct virtio_pci t;
	int rc;

	(void)state;
	fake_legacy(false);
	fake.stuck = true;
	assert_int_equal(virtio_pci_open(&t, dev, true), 0);
	rc = virtio_pci_reset(&t);
	assert_int_equal(rc, -ETIMEDOUT);
	assert_non_null(strstr(nic_last_error(), "stuck"));
}

static void legacy_queue_setup(void **state)
{
	struct virtio_pci t;
	unsigned max;

	(void)state;
	fake_legacy(false);
	fake.qsize[1] = 128;
	assert_int_equal(virtio_pci_open(&t, dev, true), 0);
	assert_int_equal(virtio_pci_queue_max(&t, 1, &max), 0);
	assert_int_equal(max, 128);
	/* The size is the device's; the ring 4096-aligned, below 2^44. */
	assert_int_equal(virtio_pci_queue_setup(&t, 1, 256, 0x10000, VIRTIO_MSI_NO_VECTOR), -EINVAL);
	assert_int_equal(virtio_pci_queue_setup(&t, 1, 128, 0x10800, VIRTIO_MSI_NO_VECTOR), -ERANGE);
	assert_int_equal(virtio_pci_queue_setup(&t, 1, 128, 1ull << 44, VIRTIO_MSI_NO_VECTOR), -ERANGE);
	assert_int_equal(fake.pfn[1], 0);
	assert_int_equal(virtio_pci_queue_setup(&t, 1, 128, 0x123456000ull, VIRTIO_MSI_NO_VECTOR), 0);
	assert_int_equal(fake.pfn[1], 0x123456);
	assert_int_equal(fake.pfn[0], 0);
}

/* A legacy ring has the device's size: one that is no power of two up to
 * 32768 would put avail and used where the device does not look. */
static void legacy_queue_size_checked(void **state)
{
	struct virtio_pci t;
	unsigned max = 1;

	(void)state;
	fake_legacy(false);
	fake.qsize[0] = 384;
	assert_int_equal(virtio_pci_open(&t, dev, true), 0);
	assert_int_equal(virtio_pci_queue_max(&t, 0, &max), -EIO);
	assert_non_null(strstr(nic_last_error(), "not a power of two"));
	fake.qsize[0] = 0; /* no queue: the driver says -ENODEV */
	assert_int_equal(virtio_pci_queue_max(&t, 0, &max), 0);
	assert_int_equal(max, 0);
}

static void legacy_features_32(void **state)
{
	struct virtio_pci t;
	uint64_t f;
	uint32_t g;

	(void)state;
	fake_legacy(false);
	memset(fake.io + VIRTIO_LEGACY_HOST_FEATURES, 0xff, 4);
	assert_int_equal(virtio_pci_open(&t, dev, true), 0);
	assert_int_equal(virtio_pci_features(&t, &f), 0);
	assert_int_equal(f, VIRTIO_FEATURES_LEGACY_MASK);
	assert_int_equal(virtio_pci_set_features(&t, VIRTIO_F_VERSION_1 | VIRTIO_NET_F_MAC), 0);
	memcpy(&g, fake.io + VIRTIO_LEGACY_GUEST_FEATURES, 4);
	assert_int_equal(g, VIRTIO_NET_F_MAC);
}

/* ---- modern ---- */

static void modern_layout(void **state)
{
	struct virtio_pci t;
	uint16_t noff = 3, size = 256;
	uint32_t lo, hi;

	(void)state;
	fake_modern(0);
	memcpy(fake.bar + COMMON_OFF + VIRTIO_COMMON_Q_SIZE, &size, 2);
	memcpy(fake.bar + COMMON_OFF + VIRTIO_COMMON_Q_NOFF, &noff, 2);
	assert_int_equal(virtio_pci_open(&t, dev, true), 0);
	assert_false(t.legacy);
	assert_true(t.msix);
	assert_ptr_equal(t.common, fake.bar + COMMON_OFF);
	assert_ptr_equal(t.isr, fake.bar + ISR_OFF);
	assert_ptr_equal(t.devcfg, fake.bar + DEVCFG_OFF);
	assert_int_equal(t.notify_mult, NOTIFY_MULT);
	assert_int_equal(virtio_pci_queue_setup(&t, 1, 256, 0x7f0000001000ull, 5), 0);
	assert_ptr_equal(t.notify[1], fake.bar + NOTIFY_OFF + noff * NOTIFY_MULT);
	memcpy(&lo, fake.bar + COMMON_OFF + VIRTIO_COMMON_Q_USEDLO, 4);
	memcpy(&hi, fake.bar + COMMON_OFF + VIRTIO_COMMON_Q_USEDHI, 4);
	assert_int_equal((uint64_t)hi << 32 | lo, 0x7f0000001000ull + VIRTQ_USED_OFF(256));
	assert_int_equal(fake.bar[COMMON_OFF + VIRTIO_COMMON_Q_ENABLE], 1);
	assert_int_equal(fake.bar[COMMON_OFF + VIRTIO_COMMON_Q_MSIX], 5);
	/* A size above the device's maximum is refused. */
	assert_int_equal(virtio_pci_queue_setup(&t, 0, 512, 0x1000, 5), -EINVAL);
}

static void modern_cap_loop(void **state)
{
	(void)state;
	fake_modern(0);
	fake.cfg[CAP_FIRST + 3 * CAP_STRIDE + 1] = CAP_FIRST; /* the last points back at the first */
	open_fails(true, ENODEV, "loops");
}

static void modern_cap_past_bar(void **state)
{
	(void)state;
	fake_modern(VIRTIO_PCI_CAP_ISR_CFG);
	add_cap(3, VIRTIO_PCI_CAP_ISR_CFG, MODERN_LEN - 0x10, 0x20);
	open_fails(true, ENODEV, "past the end of BAR 4");
}

static void modern_no_notify(void **state)
{
	(void)state;
	fake_modern(VIRTIO_PCI_CAP_NOTIFY_CFG);
	open_fails(true, ENODEV, "notification");
}

static void modern_doorbell_past_struct(void **state)
{
	struct virtio_pci t;
	uint16_t noff = 0x1000 / NOTIFY_MULT, size = 256;

	(void)state;
	fake_modern(0);
	memcpy(fake.bar + COMMON_OFF + VIRTIO_COMMON_Q_SIZE, &size, 2);
	memcpy(fake.bar + COMMON_OFF + VIRTIO_COMMON_Q_NOFF, &noff, 2);
	assert_int_equal(virtio_pci_open(&t, dev, false), 0);
	assert_int_equal(virtio_pci_queue_setup(&t, 0, 256, 0x1000, VIRTIO_MSI_NO_VECTOR), -ENODEV);
	assert_non_null(strstr(nic_last_error(), "doorbell"));
	assert_int_equal(fake.bar[COMMON_OFF + VIRTIO_COMMON_Q_ENABLE], 0);
}

/* No capabilities: a modern-only ID has nothing to fall back on; a
 * transitional one whose BAR 0 is no I/O BAR is no virtio device either. */
static void neither(void **state)
{
	(void)state;
	fake_pci(false);
	open_fails(false, ENODEV, "without virtio capabilities");
	open_fails(true, ENODEV, "neither a modern nor a legacy");
}

/* ---- the driver, on a modern device in memory ---- */

static void nok_stats(struct nic *nic, struct nic_stats *s)
{
	if (nic_stats(nic, s))
		fail_msg("nic_stats: %s", nic_last_error());
}

#define RING	      256u
#define POOL	      (2 * RING)
#define DF_MODERN     0x00010023u /* both words: MAC, STATUS; VERSION_1, ACCESS_PLATFORM */
#define DF_NO_AP      0x00010021u /* VERSION_1 without ACCESS_PLATFORM */
#define DF_NO_V1      0x00010020u /* neither */
#define HDR_MODERN    VIRTIO_NET_HDR_LEN
#define NOTIFY_POISON 0xdeadu

struct drv {
	struct udma_ctx *ctx;
	struct udma_pool *pool;
	struct nic *nic;
	uint16_t dev_avail[2]; /* how far the device has read each avail ring */
};

static void common_put16(unsigned off, uint16_t v)
{
	memcpy(fake.bar + COMMON_OFF + off, &v, 2);
}

static void put_ids(uint16_t device)
{
	uint16_t ids[2] = {VIRTIO_PCI_VENDOR, device};

	memcpy(fake.cfg, ids, sizeof(ids));
}

/* A modern device offering df in both feature words, queues of RING. */
static void fake_net(uint32_t df)
{
	static const uint8_t mac[6] = {0x52, 0x54, 0, 0, 0x08, 0};
	uint16_t up = VIRTIO_NET_S_LINK_UP;

	fake_modern(0);
	put_ids(VIRTIO_PCI_DEVICE_NET_MODERN);
	memcpy(fake.bar + COMMON_OFF + VIRTIO_COMMON_DF, &df, 4);
	common_put16(VIRTIO_COMMON_Q_SIZE, RING);
	memcpy(fake.bar + DEVCFG_OFF + VIRTIO_NET_CFG_MAC, mac, 6);
	memcpy(fake.bar + DEVCFG_OFF + VIRTIO_NET_CFG_STATUS, &up, 2);
	nrings = 0;
}

static void drv_open(struct drv *d)
{
	struct udma_ctx_opts o = {.iova_mode = UDMA_IOVA_VA, .numa_node = UDMA_NUMA_ANY};

	memset(d, 0, sizeof(*d));
	if (udma_ctx_create(&o, &d->ctx))
		fail_msg("udma_ctx_create: %s", udma_last_error());
	if (nic_pool_create(d->ctx, POOL, 0, "fake", &d->pool))
		fail_msg("nic_pool_create: %s", nic_last_error());
}

static void drv_attach(struct drv *d)
{
	struct nic_opts o = {.pool = d->pool, .how = NIC_POLL};

	if (nic_attach(d->ctx, dev, &o, &d->nic))
		fail_msg("nic_attach: %s", nic_last_error());
	assert_int_equal(nrings, 2);
}

static void drv_close(struct drv *d)
{
	nic_detach(d->nic);
	assert_int_equal(udma_pool_avail(d->pool), POOL);
	assert_int_equal(fake.bar[COMMON_OFF + VIRTIO_COMMON_STATUS], 0); /* left reset */
	udma_pool_destroy(d->pool);
	udma_ctx_destroy(d->ctx);
}

static struct virtq_desc *desc_of(int q)
{
	return rings[q];
}

static struct virtq_avail *avail_of(int q)
{
	return (struct virtq_avail *)((uint8_t *)rings[q] + VIRTQ_AVAIL_OFF(RING));
}

static struct virtq_used *used_of(int q)
{
	return (struct virtq_used *)((uint8_t *)rings[q] + VIRTQ_USED_OFF(RING));
}

/* The device takes queue q's next available buffer: its descriptor. */
static struct virtq_desc *dev_take(struct drv *d, int q, uint16_t *id)
{
	struct virtq_avail *a = avail_of(q);

	if (d->dev_avail[q] == a->idx)
		fail_msg("queue %d: no buffer available", q);
	*id = a->ring[d->dev_avail[q]++ % RING];
	return &desc_of(q)[*id];
}

/* The device is done with buffer id: len bytes written. */
static void dev_use(int q, uint32_t id, uint32_t len)
{
	struct virtq_used *u = used_of(q);

	u->ring[u->idx % RING].id = id;
	u->ring[u->idx % RING].len = len;
	__atomic_store_n(&u->idx, (uint16_t)(u->idx + 1), __ATOMIC_RELEASE);
}

/* Receive one frame of len bytes, its bytes seed + i, through RX. */
static void dev_receive(struct drv *d, unsigned len, uint8_t seed)
{
	struct virtq_desc *dd;
	uint8_t *buf;
	uint16_t id;
	unsigned i;

	dd = dev_take(d, VIRTIO_NET_RXQ, &id);
	assert_int_equal(dd->flags, VIRTQ_DESC_F_WRITE);
	assert_int_equal(dd->len, HDR_MODERN + NIC_PKT_DATA);
	buf = (uint8_t *)(uintptr_t)dd->addr;
	memset(buf, 0, HDR_MODERN);
	for (i = 0; i < len && i < NIC_PKT_DATA; i++)
		buf[HDR_MODERN + i] = (uint8_t)(seed + i);
	dev_use(VIRTIO_NET_RXQ, id, HDR_MODERN + len);
}

static void refuses_features(const char *says)
{
	struct nic_opts o = {.how = NIC_POLL};
	struct nic *nic = NULL;
	struct drv d;
	int rc;

	drv_open(&d);
	o.pool = d.pool;
	rc = nic_attach(d.ctx, dev, &o, &nic);
	if (rc != -ENOTSUP || !strstr(nic_last_error(), says))
		fail_msg("nic_attach: expected -ENOTSUP saying '%s', got %d: %s", says, rc, nic_last_error());
	assert_null(nic);
	assert_int_equal(udma_pool_avail(d.pool), POOL);
	udma_pool_destroy(d.pool);
	udma_ctx_destroy(d.ctx);
}

/* In a VA (VFIO) context: a legacy device (its DMA would bypass the
 * IOMMU), a modern one without ACCESS_PLATFORM, one without VERSION_1. */
static void features_refused(void **state)
{
	uint32_t any_layout = (uint32_t)VIRTIO_F_ANY_LAYOUT;

	(void)state;
	fake_legacy(false);
	put_ids(VIRTIO_PCI_DEVICE_NET_TRANSIT);
	memcpy(fake.io + VIRTIO_LEGACY_HOST_FEATURES, &any_layout, 4);
	refuses_features("bypasses the IOMMU");
	fake_net(DF_NO_AP);
	refuses_features("ACCESS_PLATFORM");
	fake_net(DF_NO_V1);
	refuses_features("VERSION_1");
}

/* Frames of every size through the RX ring, more than it holds (it wraps);
 * a used entry with no frame or more than a buffer: counted, dropped. */
static void rx_ring(void **state)
{
	struct nic_pkt *p[4];
	struct nic_stats s;
	struct drv d;
	unsigned i, j, n = 3 * RING, bytes = 0;

	(void)state;
	fake_net(DF_MODERN);
	drv_open(&d);
	drv_attach(&d);
	assert_int_equal(nic_info(d.nic)->features, VIRTIO_F_VERSION_1 | VIRTIO_F_ACCESS_PLATFORM |
							    VIRTIO_NET_F_MAC | VIRTIO_NET_F_STATUS);
	assert_int_equal(avail_of(VIRTIO_NET_RXQ)->idx, RING); /* full */
	assert_int_equal(avail_of(VIRTIO_NET_RXQ)->flags, VIRTQ_AVAIL_F_NO_INTERRUPT);
	for (i = 0; i < n; i++) {
		unsigned len = NIC_FRAME_MIN + i % (NIC_FRAME_MAX - NIC_FRAME_MIN);

		dev_receive(&d, len, (uint8_t)i);
		assert_int_equal(nic_rx_burst(d.nic, 0, p, 4), 1);
		assert_int_equal(p[0]->len, len);
		for (j = 0; j < len; j++)
			if (p[0]->data[j] != (uint8_t)(i + j))
				fail_msg("frame %u byte %u: %#x", i, j, p[0]->data[j]);
		bytes += len;
		nic_pkt_free(p[0]);
	}
	dev_receive(&d, 0, 0);		      /* a header alone */
	dev_receive(&d, NIC_PKT_DATA + 1, 0); /* more than the buffer */
	dev_receive(&d, NIC_FRAME_MIN, 7);
	assert_int_equal(nic_rx_burst(d.nic, 0, p, 4), 1);
	assert_int_equal(p[0]->data[0], 7);
	nic_pkt_free(p[0]);
	nok_stats(d.nic, &s);
	assert_int_equal(s.rx_packets, n + 1);
	assert_int_equal(s.rx_bytes, bytes + NIC_FRAME_MIN);
	assert_int_equal(s.rx_errors, 2);
	assert_int_equal(s.rx_nobuf, 0);
	assert_int_equal(udma_pool_avail(d.pool), POOL - RING);
	drv_close(&d);
}

/* Sent frames: one descriptor each, the zeroed header right before the
 * frame, short ones padded to 60 bytes of zeros; reclaimed once used. The
 * doorbell rings only while the device has not said VIRTQ_USED_F_NO_NOTIFY. */
static void tx_ring(void **state)
{
	volatile uint16_t *bell = (volatile uint16_t *)(fake.bar + NOTIFY_OFF); /* queue_notify_off 0 */
	struct nic_pkt *p[3];
	struct drv d;
	uint16_t id;
	unsigned i;

	(void)state;
	fake_net(DF_MODERN);
	drv_open(&d);
	drv_attach(&d);
	assert_int_equal(nic_pkt_alloc_bulk(d.pool, p, 3), 0);
	for (i = 0; i < 3; i++) {
		memset(p[i]->prepend, 0xee, sizeof(p[i]->prepend));
		memset(p[i]->data, 0xaa, NIC_FRAME_MIN);
		p[i]->len = (uint16_t)(i ? NIC_FRAME_MAX : 20);
	}
	used_of(VIRTIO_NET_TXQ)->flags = VIRTQ_USED_F_NO_NOTIFY;
	*bell = NOTIFY_POISON;
	assert_int_equal(nic_tx_burst(d.nic, 0, p, 2), 2);
	assert_int_equal(*bell, NOTIFY_POISON); /* the device asked for no doorbell */
	used_of(VIRTIO_NET_TXQ)->flags = 0;
	assert_int_equal(nic_tx_burst(d.nic, 0, p + 2, 1), 1);
	assert_int_equal(*bell, VIRTIO_NET_TXQ);
	assert_int_equal(nic_tx_pending(d.nic, 0), 3);
	for (i = 0; i < 3; i++) {
		struct virtq_desc *dd = dev_take(&d, VIRTIO_NET_TXQ, &id);
		const uint8_t *hdr = (const uint8_t *)(uintptr_t)dd->addr;
		uint8_t zero[NIC_FRAME_MIN] = {0};

		assert_ptr_equal(hdr + HDR_MODERN, p[i]->data);
		assert_int_equal(dd->flags, 0);
		assert_int_equal(dd->len, HDR_MODERN + (i ? NIC_FRAME_MAX : NIC_FRAME_MIN));
		assert_memory_equal(hdr, zero, HDR_MODERN);
		if (!i)
			assert_memory_equal(p[0]->data + 20, zero, NIC_FRAME_MIN - 20);
		dev_use(VIRTIO_NET_TXQ, id, 0);
	}
	assert_int_equal(nic_tx_reclaim(d.nic, 0), 3);
	assert_int_equal(nic_tx_pending(d.nic, 0), 0);
	drv_close(&d);
}

/* A used entry naming a descriptor the driver never gave: the NIC fails
 * (bursts -ESHUTDOWN), nic_reset brings it back on fresh rings. */
static void bogus_used_id(void **state)
{
	struct nic_pkt *p[4];
	struct drv d;

	(void)state;
	fake_net(DF_MODERN);
	drv_open(&d);
	drv_attach(&d);
	dev_use(VIRTIO_NET_RXQ, RING + 5, HDR_MODERN + NIC_FRAME_MIN);
	assert_int_equal(nic_rx_burst(d.nic, 0, p, 4), -ESHUTDOWN);
	assert_non_null(strstr(nic_last_error(), "does not own"));
	assert_int_equal(nic_rx_burst(d.nic, 0, p, 4), -ESHUTDOWN);
	/* The device resets with the driver: its view of the rings too. */
	memset(d.dev_avail, 0, sizeof(d.dev_avail));
	assert_int_equal(nic_reset(d.nic), 0);
	assert_int_equal(used_of(VIRTIO_NET_RXQ)->idx, 0);
	assert_int_equal(udma_pool_avail(d.pool), POOL - RING);
	dev_receive(&d, NIC_FRAME_MIN, 3);
	assert_int_equal(nic_rx_burst(d.nic, 0, p, 4), 1);
	nic_pkt_free(p[0]);
	drv_close(&d);
}

/* The used index moved past every buffer posted: the NIC fails before any
 * entry is read, no buffer is handed out twice. */
static void used_idx_past_posted(void **state)
{
	struct nic_pkt *p[4] = {NULL};
	struct virtq_used *u;
	struct drv d;

	(void)state;
	fake_net(DF_MODERN);
	drv_open(&d);
	drv_attach(&d);
	dev_receive(&d, NIC_FRAME_MIN, 1);
	dev_receive(&d, NIC_FRAME_MIN, 2);
	u = used_of(VIRTIO_NET_RXQ);
	u->idx = (uint16_t)(u->idx + RING); /* 2 filled, RING + 2 claimed */
	assert_int_equal(nic_rx_burst(d.nic, 0, p, 4), -ESHUTDOWN);
	assert_non_null(strstr(nic_last_error(), "used index"));
	assert_null(p[0]);
	assert_int_equal(udma_pool_avail(d.pool), POOL - RING);
	drv_close(&d);
}

/* A frame shorter than an Ethernet header: counted, recycled. */
static void rx_short_frame(void **state)
{
	struct nic_pkt *p[4];
	struct nic_stats s;
	struct drv d;

	(void)state;
	fake_net(DF_MODERN);
	drv_open(&d);
	drv_attach(&d);
	dev_receive(&d, 13, 0);
	dev_receive(&d, 14, 5);
	assert_int_equal(nic_rx_burst(d.nic, 0, p, 4), 1);
	assert_int_equal(p[0]->len, 14);
	assert_int_equal(p[0]->data[0], 5);
	nic_pkt_free(p[0]);
	nok_stats(d.nic, &s);
	assert_int_equal(s.rx_errors, 1);
	assert_int_equal(s.rx_packets, 1);
	drv_close(&d);
}

/* The header of a packet on the RX ring is the device's to rewrite: a
 * pool pointer it changed does not move the buffer to that pool, neither
 * when a bad frame is recycled nor at detach. */
static void rx_buffers_back_to_nic_pool(void **state)
{
	struct udma_pool *other;
	struct nic_pkt *victim[2];
	struct drv d;
	uint16_t id;
	int i;

	(void)state;
	fake_net(DF_MODERN);
	drv_open(&d);
	if (nic_pool_create(d.ctx, 8, 0, "other", &other))
		fail_msg("nic_pool_create: %s", nic_last_error());
	drv_attach(&d);
	for (i = 0; i < 2; i++) {
		struct virtq_desc *dd = dev_take(&d, VIRTIO_NET_RXQ, &id);

		victim[i] = (struct nic_pkt *)((uint8_t *)(uintptr_t)dd->addr + HDR_MODERN -
					       offsetof(struct nic_pkt, data));
		victim[i]->pool = other;
		if (!i)
			dev_use(VIRTIO_NET_RXQ, id, HDR_MODERN); /* no frame: recycled */
	}
	assert_int_equal(nic_rx_burst(d.nic, 0, victim, 1), 0);
	assert_int_equal(udma_pool_avail(other), 8);
	nic_detach(d.nic); /* the second still on the ring */
	assert_int_equal(udma_pool_avail(other), 8);
	assert_int_equal(udma_pool_avail(d.pool), POOL);
	udma_pool_destroy(other);
	udma_pool_destroy(d.pool);
	udma_ctx_destroy(d.ctx);
}

/* Every packet held by the application: the RX ring runs dry (a refill
 * that finds the pool empty leaves nic_last_error() alone), nic_wait says
 * -ENOBUFS at once; once packets are freed it puts them on the ring before
 * it waits. */
static void wait_refills_or_enobufs(void **state)
{
	static struct nic_pkt *held[POOL];
	struct nic_opts o = {.how = NIC_IRQ};
	char before[256];
	int pipefd[2];
	struct drv d;
	unsigned i;

	(void)state;
	fake_net(DF_MODERN);
	drv_open(&d);
	assert_int_equal(pipe(pipefd), 0);
	irq_fd = pipefd[0];
	o.pool = d.pool;
	if (nic_attach(d.ctx, dev, &o, &d.nic))
		fail_msg("nic_attach: %s", nic_last_error());
	assert_int_equal(nic_rx_burst(d.nic, 1, held, 1), -EINVAL);
	snprintf(before, sizeof(before), "%s", nic_last_error());
	for (i = 0; i < POOL; i++) {
		dev_receive(&d, NIC_FRAME_MIN, (uint8_t)i);
		assert_int_equal(nic_rx_burst(d.nic, 0, held + i, 1), 1);
	}
	assert_string_equal(nic_last_error(), before);
	assert_int_equal(udma_pool_avail(d.pool), 0);
	assert_int_equal(nic_wait(d.nic, 0, -1), -ENOBUFS);
	assert_non_null(strstr(nic_last_error(), "no buffer"));
	nic_pkt_free_bulk(held, 10);
	assert_int_equal(nic_wait(d.nic, 0, 0), 0); /* nobody writes the pipe */
	assert_int_equal(udma_pool_avail(d.pool), 0);
	assert_int_equal(avail_of(VIRTIO_NET_RXQ)->idx, (uint16_t)(POOL + 10));
	dev_receive(&d, NIC_FRAME_MIN, 9);
	assert_int_equal(nic_wait(d.nic, 0, 0), 1);
	assert_int_equal(nic_rx_burst(d.nic, 0, held, 1), 1);
	nic_pkt_free_bulk(held, 1);
	nic_pkt_free_bulk(held + 10, POOL - 10);
	drv_close(&d);
	close(pipefd[0]);
	close(pipefd[1]);
	irq_fd = -1;
}

/* A reset the device never confirms: it may still write the rings, so no
 * packet goes back to the pool, at nic_reset, nic_detach, or a failed
 * attach. */
static void reset_unconfirmed_keeps_memory(void **state)
{
	struct nic_opts o = {.how = NIC_POLL};
	struct nic_pkt *p[4];
	struct nic *nic = NULL;
	struct drv d;

	(void)state;
	fake_net(DF_MODERN);
	drv_open(&d);
	drv_attach(&d);
	assert_int_equal(nic_pkt_alloc_bulk(d.pool, p, 2), 0);
	p[0]->len = p[1]->len = NIC_FRAME_MIN;
	assert_int_equal(nic_tx_burst(d.nic, 0, p, 2), 2);
	resets_before_stuck = 0;
	assert_int_equal(nic_reset(d.nic), -ETIMEDOUT);
	assert_non_null(strstr(nic_last_error(), "stuck"));
	assert_int_equal(udma_pool_avail(d.pool), POOL - RING - 2);
	assert_int_equal(nic_rx_burst(d.nic, 0, p, 4), -ESHUTDOWN);
	nic_detach(d.nic);
	assert_int_equal(udma_pool_avail(d.pool), POOL - RING - 2);
	/* Attach: two resets end, the one after the pool ran short does not. */
	fake_net(DF_MODERN);
	resets_before_stuck = 2;
	assert_int_equal(nic_pool_create(d.ctx, RING / 2, 0, "small", &o.pool), 0);
	assert_int_equal(nic_attach(d.ctx, dev, &o, &nic), -ENOBUFS);
	assert_non_null(strstr(nic_last_error(), "free packets"));
	assert_null(nic);
	assert_int_equal(udma_pool_avail(o.pool), 0);
	resets_before_stuck = -1;
	udma_pool_destroy(o.pool);
	udma_pool_destroy(d.pool);
	udma_ctx_destroy(d.ctx);
}

/* A config generation that changes across every read of the MAC: -EIO
 * after a bounded number of tries, not a loop for ever. */
static void config_gen_never_settles(void **state)
{
	struct nic_opts o = {.how = NIC_POLL};
	struct nic *nic = NULL;
	struct drv d;

	(void)state;
	fake_net(DF_MODERN);
	drv_open(&d);
	o.pool = d.pool;
	gen_changes = 100000; /* settles after that: the attach would succeed */
	assert_int_equal(nic_attach(d.ctx, dev, &o, &nic), -EIO);
	assert_non_null(strstr(nic_last_error(), "config_generation"));
	assert_null(nic);
	assert_true(gen_changes > 100000 - 1000);
	gen_changes = 0;
	assert_int_equal(udma_pool_avail(d.pool), POOL);
	udma_pool_destroy(d.pool);
	udma_ctx_destroy(d.ctx);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(legacy_config_follows_msix),
		cmocka_unit_test(legacy_reset_stuck),
		cmocka_unit_test(legacy_queue_setup),
		cmocka_unit_test(legacy_queue_size_checked),
		cmocka_unit_test(legacy_features_32),
		cmocka_unit_test(modern_layout),
		cmocka_unit_test(modern_cap_loop),
		cmocka_unit_test(modern_cap_past_bar),
		cmocka_unit_test(modern_no_notify),
		cmocka_unit_test(modern_doorbell_past_struct),
		cmocka_unit_test(neither),
		cmocka_unit_test(features_refused),
		cmocka_unit_test(rx_ring),
		cmocka_unit_test(tx_ring),
		cmocka_unit_test(bogus_used_id),
		cmocka_unit_test(used_idx_past_posted),
		cmocka_unit_test(rx_short_frame),
		cmocka_unit_test(rx_buffers_back_to_nic_pool),
		cmocka_unit_test(wait_refills_or_enobufs),
		cmocka_unit_test(reset_unconfirmed_keeps_memory),
		cmocka_unit_test(config_gen_never_settles),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
