/* SPDX-License-Identifier: MIT */
/* The virtio PCI transports, modern and legacy (virtio_pci.h). */
#include <errno.h>
#include <stddef.h>
#include <string.h>
#include <time.h>

#include "drivers/nic/nic_internal.h"
#include "drivers/nic/virtio_pci.h"
#include "drivers/nic/virtio_spec.h"

#define RESET_TIMEOUT_MS 1000 /* QEMU resets at once; real devices in microseconds */
#define RESET_POLL_NS	 100000

static int cfg_read(struct virtio_pci *t, unsigned off, void *buf, size_t len)
{
	int rc = udma_dev_config_read(t->dev, off, buf, len);

	if (rc)
		return nic__err(-rc, "virtio: reading PCI configuration space at %#x: %s", off,
				udma_last_error());
	return 0;
}

/* ---- legacy: the I/O port BAR (virtio §4.1.4.8) ---- */

static int io_rd(struct virtio_pci *t, unsigned off, void *val, unsigned width)
{
	int rc = udma_dev_io_read(t->dev, VIRTIO_LEGACY_BAR, off, val, width);

	if (rc)
		return nic__err(-rc, "virtio legacy: reading I/O register %#x: %s", off, udma_last_error());
	return 0;
}

static int io_wr(struct virtio_pci *t, unsigned off, uint32_t v, unsigned width)
{
	uint8_t v8 = (uint8_t)v;
	uint16_t v16 = (uint16_t)v;
	const void *p = width == 1 ? (const void *)&v8 : width == 2 ? (const void *)&v16 : (const void *)&v;
	int rc = udma_dev_io_write(t->dev, VIRTIO_LEGACY_BAR, off, p, width);

	if (rc)
		return nic__err(-rc, "virtio legacy: writing I/O register %#x: %s", off, udma_last_error());
	return 0;
}

/* ---- modern: the capabilities (virtio §4.1.4) ---- */

/* The mapping of [off, off + len) of bar, or NULL with nic__err set. */
static volatile uint8_t *map_struct(struct virtio_pci *t, const struct virtio_pci_cap *c, size_t min_len)
{
	void *base;
	size_t blen;
	int rc;

	if (c->bar >= VIRTIO_PCI_BARS) {
		nic__err(ENODEV, "virtio: capability type %u names BAR %u, which does not exist", c->cfg_type,
			 c->bar);
		return NULL;
	}
	if (c->length < min_len) {
		nic__err(ENODEV, "virtio: capability type %u is %u bytes long, less than the %zu it must be",
			 c->cfg_type, c->length, min_len);
		return NULL;
	}
	rc = udma_dev_bar(t->dev, c->bar, &base, &blen);
	if (rc) {
		nic__err(-rc, "virtio: mapping BAR %u (capability type %u): %s", c->bar, c->cfg_type,
			 udma_last_error());
		return NULL;
	}
	if ((uint64_t)c->offset + c->length > blen) {
		nic__err(ENODEV, "virtio: capability type %u lies past the end of BAR %u (%#x + %#x > %#zx)",
			 c->cfg_type, c->bar, c->offset, c->length, blen);
		return NULL;
	}
	return (volatile uint8_t *)base + c->offset;
}

/* The first capability with cfg_id (PCI_CAP_ID_*) from the list's start at
 * or after *pos (0: the start); *pos is left on it. 0 found, 1 not, -errno. */
static int next_cap(struct virtio_pci *t, uint8_t cap_id, uint8_t *pos)
{
	uint16_t status;
	uint8_t p, hdr[2];
	unsigned n;
	int rc;

	if (*pos) {
		if ((rc = cfg_read(t, *pos + 1u, &p, 1)))
			return rc;
	} else {
		if ((rc = cfg_read(t, PCI_CFG_STATUS, &status, sizeof(status))))
			return rc;
		if (!(status & PCI_STATUS_CAP_LIST))
			return 1;
		if ((rc = cfg_read(t, PCI_CFG_CAP_PTR, &p, 1)))
			return rc;
	}
	for (n = 0; n < PCI_CAP_WALK_MAX; n++) {
		p &= PCI_CAP_PTR_MASK;
		if (!p)
			return 1;
		if ((rc = cfg_read(t, p, hdr, sizeof(hdr))))
			return rc;
		if (hdr[0] == cap_id) {
			*pos = p;
			return 0;
		}
		p = hdr[1];
	}
	return nic__err(ENODEV, "virtio: the PCI capability list loops");
}

static int msix_enabled(struct virtio_pci *t, bool *on)
{
	uint8_t pos = 0;
	uint16_t ctrl;
	int rc = next_cap(t, PCI_CAP_ID_MSIX, &pos);

	*on = false;
	if (rc < 0)
		return rc;
	if (rc)
		return 0;
	if ((rc = cfg_read(t, pos + PCI_MSIX_CTRL, &ctrl, sizeof(ctrl))))
		return rc;
	*on = (ctrl & PCI_MSIX_CTRL_ENABLE) != 0;
	return 0;
}

/* Map the four structures; 1 when the device has no virtio capabilities. */
static int open_modern(struct virtio_pci *t)
{
	struct virtio_pci_notify_cap nc;
	struct virtio_pci_cap c;
	unsigned seen = 0;
	uint8_t pos = 0;
	int rc;

	while (!(rc = next_cap(t, PCI_CAP_ID_VENDOR, &pos))) {
		if (++seen > PCI_CAP_WALK_MAX)
			return nic__err(ENODEV, "virtio: the PCI capability list loops");
		if ((rc = cfg_read(t, pos, &c, sizeof(c))))
			return rc;
		/* virtio §4.1.4: the first of each type the driver can use. */
		switch (c.cfg_type) {
		case VIRTIO_PCI_CAP_COMMON_CFG:
			if (!t->common && !(t->common = map_struct(t, &c, VIRTIO_COMMON_LEN)))
				return -ENODEV;
			break;
		case VIRTIO_PCI_CAP_NOTIFY_CFG:
			if (t->notify_base)
				break;
			if ((rc = cfg_read(t, pos, &nc, sizeof(nc))))
				return rc;
			if (!(t->notify_base = map_struct(t, &c, VIRTIO_NOTIFY_LEN)))
				return -ENODEV;
			t->notify_len = c.length;
			t->notify_mult = nc.notify_off_multiplier;
			break;
		case VIRTIO_PCI_CAP_ISR_CFG:
			if (!t->isr && !(t->isr = map_struct(t, &c, 1)))
				return -ENODEV;
			break;
		case VIRTIO_PCI_CAP_DEVICE_CFG:
			if (t->devcfg)
				break;
			if (!(t->devcfg = map_struct(t, &c, 0)))
				return -ENODEV;
			t->devcfg_len = c.length;
			break;
		default: break; /* VIRTIO_PCI_CAP_PCI_CFG, vendor types: not needed */
		}
	}
	if (rc < 0)
		return rc;
	if (!seen)
		return 1;
	if (!t->common || !t->notify_base || !t->isr || !t->devcfg)
		return nic__err(
			ENODEV,
			"virtio: the device lacks a %s capability (virtio §4.1.4): not a usable modern "
			"virtio device",
			!t->common	  ? "common configuration"
			: !t->notify_base ? "notification"
			: !t->isr	  ? "ISR status"
					  : "device configuration");
	return 0;
}

static int open_legacy(struct virtio_pci *t)
{
	uint8_t status;
	int rc = udma_dev_io_read(t->dev, VIRTIO_LEGACY_BAR, VIRTIO_LEGACY_STATUS, &status, 1);

	if (rc)
		return nic__err(
			ENODEV,
			"virtio: no virtio capabilities and BAR %u is not a legacy I/O port BAR (%s): "
			"neither a modern nor a legacy virtio device",
			VIRTIO_LEGACY_BAR, udma_last_error());
	t->legacy = true;
	t->cfg_off = t->msix ? VIRTIO_LEGACY_CONFIG_MSIX : VIRTIO_LEGACY_CONFIG;
	return 0;
}

int virtio_pci_open(struct virtio_pci *t, struct udma_dev *dev, bool allow_legacy)
{
	int rc;

	memset(t, 0, sizeof(*t));
	t->dev = dev;
	if ((rc = msix_enabled(t, &t->msix)))
		return rc;
	rc = open_modern(t);
	if (rc <= 0)
		return rc;
	if (!allow_legacy)
		return nic__err(ENODEV,
				"virtio: a modern-only device (1af4:1041) without virtio capabilities "
				"(virtio §4.1.4)");
	return open_legacy(t);
}

/* ---- status, features ---- */

int virtio_pci_status(struct virtio_pci *t, uint8_t *status)
{
	if (t->legacy)
		return io_rd(t, VIRTIO_LEGACY_STATUS, status, 1);
	*status = nic__rd8(t->common, VIRTIO_COMMON_STATUS);
	return 0;
}

static int write_status(struct virtio_pci *t, uint8_t status)
{
	if (t->legacy)
		return io_wr(t, VIRTIO_LEGACY_STATUS, status, 1);
	nic__wr8(t->common, VIRTIO_COMMON_STATUS, status);
	return 0;
}

int virtio_pci_set_status(struct virtio_pci *t, uint8_t bits)
{
	uint8_t s;
	int rc = virtio_pci_status(t, &s);

	return rc ? rc : write_status(t, (uint8_t)(s | bits));
}

int virtio_pci_reset(struct virtio_pci *t)
{
	const struct timespec pause = {0, RESET_POLL_NS};
	uint64_t t0 = nic__now_ms();
	uint8_t s;
	int rc;

	if ((rc = write_status(t, 0)))
		return rc;
	/* virtio §4.1.4.3.2: the reset is over when the status reads 0. */
	for (;;) {
		if ((rc = virtio_pci_status(t, &s)))
			return rc;
		if (!s)
			return 0;
		if (nic__now_ms() - t0 > RESET_TIMEOUT_MS)
			return nic__err(ETIMEDOUT,
					"virtio: the device status still reads %#x %u ms after a reset "
					"(virtio §2.1): the device is stuck",
					s, RESET_TIMEOUT_MS);
		nanosleep(&pause, NULL);
	}
}

int virtio_pci_features(struct virtio_pci *t, uint64_t *out)
{
	uint32_t lo, hi;
	int rc;

	if (t->legacy) {
		rc = io_rd(t, VIRTIO_LEGACY_HOST_FEATURES, &lo, 4);
		*out = lo;
		return rc;
	}
	nic__wr32(t->common, VIRTIO_COMMON_DFSELECT, 0);
	lo = nic__rd32(t->common, VIRTIO_COMMON_DF);
	nic__wr32(t->common, VIRTIO_COMMON_DFSELECT, 1);
	hi = nic__rd32(t->common, VIRTIO_COMMON_DF);
	*out = (uint64_t)hi << VIRTIO_FEATURE_WORD_BITS | lo;
	return 0;
}

int virtio_pci_set_features(struct virtio_pci *t, uint64_t features)
{
	uint8_t s;
	int rc;

	if (t->legacy)
		/* Legacy devices have no FEATURES_OK (virtio §3.1.2). */
		return io_wr(t, VIRTIO_LEGACY_GUEST_FEATURES, (uint32_t)features, 4);
	nic__wr32(t->common, VIRTIO_COMMON_GFSELECT, 0);
	nic__wr32(t->common, VIRTIO_COMMON_GF, (uint32_t)features);
	nic__wr32(t->common, VIRTIO_COMMON_GFSELECT, 1);
	nic__wr32(t->common, VIRTIO_COMMON_GF, (uint32_t)(features >> VIRTIO_FEATURE_WORD_BITS));
	if ((rc = virtio_pci_set_status(t, VIRTIO_STATUS_FEATURES_OK)) || (rc = virtio_pci_status(t, &s)))
		return rc;
	/* virtio §3.1.1 step 6: the device clears it when it cannot work so. */
	if (!(s & VIRTIO_STATUS_FEATURES_OK))
		return nic__err(ENOTSUP,
				"virtio: the device refused the features %#llx (FEATURES_OK did not stick, "
				"virtio §3.1.1)",
				(unsigned long long)features);
	return 0;
}

/* ---- queues ---- */

int virtio_pci_queue_max(struct virtio_pci *t, unsigned q, unsigned *out)
{
	uint16_t size;
	int rc;

	if (t->legacy) {
		if ((rc = io_wr(t, VIRTIO_LEGACY_QUEUE_SELECT, q, 2)) ||
		    (rc = io_rd(t, VIRTIO_LEGACY_QUEUE_SIZE, &size, 2)))
			return rc;
		/* The driver must take this size as it is (virtio §2.6): a
		 * ring of another would put avail and used where it is not. */
		if (size & (size - 1) || size > VIRTQ_SIZE_MAX)
			return nic__err(
				EIO,
				"virtio legacy: queue %u's size reads %u, not a power of two up to %u "
				"(virtio §2.6): the device is broken",
				q, size, VIRTQ_SIZE_MAX);
		*out = size;
		return 0;
	}
	nic__wr16(t->common, VIRTIO_COMMON_Q_SELECT, (uint16_t)q);
	*out = nic__rd16(t->common, VIRTIO_COMMON_Q_SIZE);
	return 0;
}

static int setup_legacy(struct virtio_pci *t, unsigned q, unsigned size, uint64_t iova, uint16_t vector)
{
	uint16_t dev_size, got;
	int rc;

	if ((rc = io_wr(t, VIRTIO_LEGACY_QUEUE_SELECT, q, 2)) ||
	    (rc = io_rd(t, VIRTIO_LEGACY_QUEUE_SIZE, &dev_size, 2)))
		return rc;
	if (dev_size != size)
		return nic__err(EINVAL, "virtio legacy: queue %u has %u entries, fixed by the device, not %u",
				q, dev_size, size);
	if (iova % VIRTQ_LEGACY_ALIGN || iova >> (VIRTIO_LEGACY_PFN_SHIFT + VIRTIO_LEGACY_PFN_BITS))
		return nic__err(
			ERANGE,
			"virtio legacy: queue %u's ring at %#llx is not %u-aligned or lies beyond what "
			"the 32-bit queue PFN reaches (virtio §4.1.4.8)",
			q, (unsigned long long)iova, VIRTQ_LEGACY_ALIGN);
	if (t->msix) {
		if ((rc = io_wr(t, VIRTIO_LEGACY_MSIX_QUEUE, vector, 2)) ||
		    (rc = io_rd(t, VIRTIO_LEGACY_MSIX_QUEUE, &got, 2)))
			return rc;
		if (got != vector)
			return nic__err(EIO, "virtio legacy: queue %u refused MSI-X vector %u (reads %u)", q,
					vector, got);
	}
	/* Writing 0 would reset the queue; physical page 0 is never the
	 * kernel's to give, so iova (a physical address here) is not 0. */
	return io_wr(t, VIRTIO_LEGACY_QUEUE_PFN, (uint32_t)(iova >> VIRTIO_LEGACY_PFN_SHIFT), 4);
}

static void wr64(volatile uint8_t *common, unsigned lo_off, unsigned hi_off, uint64_t v)
{
	nic__wr32(common, lo_off, (uint32_t)v);
	nic__wr32(common, hi_off, (uint32_t)(v >> VIRTIO_FEATURE_WORD_BITS));
}

static int setup_modern(struct virtio_pci *t, unsigned q, unsigned size, uint64_t iova, uint16_t vector)
{
	volatile uint8_t *c = t->common;
	uint64_t noff;

	nic__wr16(c, VIRTIO_COMMON_Q_SELECT, (uint16_t)q);
	if (size > nic__rd16(c, VIRTIO_COMMON_Q_SIZE))
		return nic__err(EINVAL, "virtio: queue %u holds at most %u entries, not %u", q,
				nic__rd16(c, VIRTIO_COMMON_Q_SIZE), size);
	nic__wr16(c, VIRTIO_COMMON_Q_SIZE, (uint16_t)size);
	wr64(c, VIRTIO_COMMON_Q_DESCLO, VIRTIO_COMMON_Q_DESCHI, iova);
	wr64(c, VIRTIO_COMMON_Q_AVAILLO, VIRTIO_COMMON_Q_AVAILHI, iova + VIRTQ_AVAIL_OFF(size));
	wr64(c, VIRTIO_COMMON_Q_USEDLO, VIRTIO_COMMON_Q_USEDHI, iova + VIRTQ_USED_OFF(size));
	if (t->msix) {
		/* virtio §4.1.5.1.2: read back; NO_VECTOR means the device could not. */
		nic__wr16(c, VIRTIO_COMMON_Q_MSIX, vector);
		if (nic__rd16(c, VIRTIO_COMMON_Q_MSIX) != vector)
			return nic__err(EIO, "virtio: queue %u refused MSI-X vector %u (reads %u)", q, vector,
					nic__rd16(c, VIRTIO_COMMON_Q_MSIX));
	}
	noff = (uint64_t)nic__rd16(c, VIRTIO_COMMON_Q_NOFF) * t->notify_mult;
	if (noff + VIRTIO_NOTIFY_LEN > t->notify_len)
		return nic__err(ENODEV,
				"virtio: queue %u's doorbell (offset %#llx) lies past the notification "
				"structure (%#zx bytes)",
				q, (unsigned long long)noff, t->notify_len);
	t->notify[q] = t->notify_base + noff;
	nic__wr16(c, VIRTIO_COMMON_Q_ENABLE, 1);
	return 0;
}

int virtio_pci_queue_setup(struct virtio_pci *t, unsigned q, unsigned size, uint64_t iova, uint16_t vector)
{
	return t->legacy ? setup_legacy(t, q, size, iova, vector) : setup_modern(t, q, size, iova, vector);
}

int virtio_pci_config_vector(struct virtio_pci *t, uint16_t vector)
{
	uint16_t got;
	int rc;

	if (!t->msix)
		return 0;
	if (t->legacy) {
		if ((rc = io_wr(t, VIRTIO_LEGACY_MSIX_CONFIG, vector, 2)) ||
		    (rc = io_rd(t, VIRTIO_LEGACY_MSIX_CONFIG, &got, 2)))
			return rc;
	} else {
		nic__wr16(t->common, VIRTIO_COMMON_MSIX, vector);
		got = nic__rd16(t->common, VIRTIO_COMMON_MSIX);
	}
	if (got != vector)
		return nic__err(EIO,
				"virtio: the device refused MSI-X vector %u for config changes (reads %u)",
				vector, got);
	return 0;
}

int virtio_pci_notify(struct virtio_pci *t, unsigned q)
{
	if (t->legacy)
		return io_wr(t, VIRTIO_LEGACY_QUEUE_NOTIFY, q, 2);
	nic__wr16(t->notify[q], 0, (uint16_t)q);
	return 0;
}

int virtio_pci_isr(struct virtio_pci *t, uint8_t *isr)
{
	if (t->legacy)
		return io_rd(t, VIRTIO_LEGACY_ISR, isr, 1);
	*isr = nic__rd8(t->isr, 0);
	return 0;
}

/* ---- device configuration ---- */

int virtio_pci_config(struct virtio_pci *t, unsigned off, unsigned len, uint32_t *val)
{
	uint8_t v8;
	uint16_t v16;
	int rc;

	if (t->legacy) {
		*val = 0;
		if (len == 1) {
			rc = io_rd(t, t->cfg_off + off, &v8, 1);
			*val = v8;
		} else if (len == 2) {
			rc = io_rd(t, t->cfg_off + off, &v16, 2);
			*val = v16;
		} else {
			rc = io_rd(t, t->cfg_off + off, val, 4);
		}
		return rc;
	}
	if (off + len > t->devcfg_len)
		return nic__err(ERANGE, "virtio: device config bytes %u..%u lie past its %zu bytes", off,
				off + len - 1, t->devcfg_len);
	*val = len == 1	  ? nic__rd8(t->devcfg, off)
	       : len == 2 ? nic__rd16(t->devcfg, off)
			  : nic__rd32(t->devcfg, off);
	return 0;
}

int virtio_pci_config_gen(struct virtio_pci *t, uint8_t *gen)
{
	*gen = t->legacy ? 0 : nic__rd8(t->common, VIRTIO_COMMON_CFGGEN);
	return 0;
}
