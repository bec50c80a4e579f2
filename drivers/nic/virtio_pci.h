/* SPDX-License-Identifier: MIT */
/*
 * The virtio PCI transports behind one interface, for virtio_net.c:
 *   modern  virtio §4.1.4: the vendor capabilities in configuration space
 *           point at structures in memory BARs (common cfg, notify, ISR,
 *           device cfg), mapped with udma_dev_bar;
 *   legacy  virtio §4.1.4.8: registers in the I/O port BAR 0 of a
 *           transitional device, each access a udma_dev_io_read/write.
 * Functions returning int give 0 or a negative errno with nic__err set.
 */
#ifndef VIRTIO_PCI_H
#define VIRTIO_PCI_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include <udma/udma.h>

#define VIRTIO_PCI_QUEUES 2 /* the queues a driver here sets up (virtio-net: RX, TX) */

struct virtio_pci {
	struct udma_dev *dev;
	bool legacy;
	bool msix; /* the function's MSI-X is enabled (VFIO): queues and config need vectors */
	/* modern: the structures, in mapped BARs */
	volatile uint8_t *common, *isr, *devcfg;
	size_t devcfg_len;
	volatile uint8_t *notify_base; /* the notify structure */
	size_t notify_len;
	uint32_t notify_mult;
	volatile uint8_t *notify[VIRTIO_PCI_QUEUES]; /* each queue's doorbell */
	/* legacy: where the device config starts in BAR 0 (20, or 24 with MSI-X on) */
	unsigned cfg_off;
};

/* Find the transport: modern if the device has the capabilities, else
 * legacy when allow_legacy (a transitional device) and BAR 0 is I/O ports.
 * -ENODEV when neither. */
int virtio_pci_open(struct virtio_pci *t, struct udma_dev *dev, bool allow_legacy);

/* §2.1 status: write 0 and wait for it to read 0 (-ETIMEDOUT). */
int virtio_pci_reset(struct virtio_pci *t);
int virtio_pci_status(struct virtio_pci *t, uint8_t *status);
/* Add bits to the status. */
int virtio_pci_set_status(struct virtio_pci *t, uint8_t bits);

/* §3.1.1 steps 4-6: the device's features (legacy: 32 bits); write the
 * driver's; modern: set FEATURES_OK and check that it stuck (-ENOTSUP). */
int virtio_pci_features(struct virtio_pci *t, uint64_t *out);
int virtio_pci_set_features(struct virtio_pci *t, uint64_t features);

/* The largest size queue q may have (legacy: the only one), 0 if none. */
int virtio_pci_queue_max(struct virtio_pci *t, unsigned q, unsigned *out);
/*
 * Give queue q (< VIRTIO_PCI_QUEUES) its ring: size entries (legacy: must
 * be queue_max) in one area at iova laid out as VIRTQ_USED_OFF says,
 * VIRTQ_LEGACY_ALIGN aligned; vector its MSI-X vector (VIRTIO_MSI_NO_VECTOR:
 * none; ignored unless msix). Modern: enables the queue.
 */
int virtio_pci_queue_setup(struct virtio_pci *t, unsigned q, unsigned size, uint64_t iova, uint16_t vector);
/* The MSI-X vector for configuration changes (ignored unless msix). */
int virtio_pci_config_vector(struct virtio_pci *t, uint16_t vector);

/* Ring queue q's doorbell (legacy: a system call). */
int virtio_pci_notify(struct virtio_pci *t, unsigned q);
/* Read the ISR status, which clears it and the INTx line. */
int virtio_pci_isr(struct virtio_pci *t, uint8_t *isr);

/* Device config bytes [off, off + len), len 1, 2 or 4, at its own width. */
int virtio_pci_config(struct virtio_pci *t, unsigned off, unsigned len, uint32_t *val);
/* Modern: config_generation (virtio §4.1.4.3, its use §2.4.1); legacy: 0. */
int virtio_pci_config_gen(struct virtio_pci *t, uint8_t *gen);

#endif
