/* SPDX-License-Identifier: MIT */
/*
 * The virtio PCI transports (drivers/nic/virtio_pci.c) against devices in
 * plain memory: config space, the modern BAR and the legacy I/O registers
 * are the test's (udma_dev_config_read, udma_dev_bar and udma_dev_io_* are
 * wrapped, -Wl,--wrap), so it can be the devices QEMU will not be: a
 * capability list that loops, a structure past its BAR, a missing
 * notification capability, a doorbell past its structure, a reset that
 * never ends; and the legacy device config moving from 20 to 24 with MSI-X.
 */
#include <errno.h>
#include <string.h>

#include "drivers/nic/nic.h"
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

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(legacy_config_follows_msix),
		cmocka_unit_test(legacy_reset_stuck),
		cmocka_unit_test(legacy_queue_setup),
		cmocka_unit_test(legacy_features_32),
		cmocka_unit_test(modern_layout),
		cmocka_unit_test(modern_cap_loop),
		cmocka_unit_test(modern_cap_past_bar),
		cmocka_unit_test(modern_no_notify),
		cmocka_unit_test(modern_doorbell_past_struct),
		cmocka_unit_test(neither),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
