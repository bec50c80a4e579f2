/* SPDX-License-Identifier: MIT */
/* The VFIO backend's device (dev_vfio.c), its interrupts (dev_vfio_irq.c)
 * and its checks before binding (dev_vfio_pre.c). */
#ifndef UDMA_DEV_VFIO_H
#define UDMA_DEV_VFIO_H

#include <linux/vfio.h>

#include "lib/dev/pci.h"

#define VFIO_MAX_VECTORS 32

struct vfio_map {
	uint64_t iova, len;
};

struct vfio_dev {
	struct udma_pci_fn pci; /* first: dev->priv is both; cfg_fd is device */
	int container, group, device;
	bool in_container, irqs_on;
	unsigned long iommu_type;
	unsigned irq_index, nvec;
	int efd[VFIO_MAX_VECTORS];
	struct vfio_iova_range *ranges; /* what the IOMMU can map; NULL: not reported */
	unsigned nranges;
	struct vfio_map *maps; /* DMA maps, under ctx->lock (device.c holds it) */
	size_t nmaps, maps_cap;
	char group_id[16];
};

/* dev_vfio_irq.c: MSI-X, else MSI, else INTx, whichever the kernel can
 * enable, one eventfd per vector; off again; the ops' irq_fd and irq_ack. */
UDMA_HIDDEN int udma__vfio_setup_irqs(struct vfio_dev *v);
UDMA_HIDDEN int udma__vfio_disable_irqs(struct vfio_dev *v);
UDMA_HIDDEN int udma__vfio_irq_fd(struct udma_dev *dev, unsigned vector);
UDMA_HIDDEN int udma__vfio_irq_ack(struct udma_dev *dev, unsigned vector);

/* dev_vfio_pre.c: from sysfs, before vfio-pci is bound. Every other device
 * of IOMMU group (group) must be on vfio-pci, on no driver, or a bridge:
 * else -EBUSY naming them. */
UDMA_HIDDEN int udma__vfio_group_viable(const char *who, const char *addr, const char *group);
/* An Intel IOMMU's address width (its cap register) must reach this
 * process's addresses (IOVA = VA): else -ERANGE. 0 when it cannot tell. */
UDMA_HIDDEN int udma__vfio_width_precheck(const char *who, const char *addr);
/* The first IOMMU the kernel registered (/sys/class/iommu: dmar0,
 * smmu3.0x...) into name, "" when none; a negative errno when the class
 * cannot be listed. */
UDMA_HIDDEN int udma__iommu_registered(const char *who, char *name, size_t len);

#endif
