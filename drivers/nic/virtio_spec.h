/* SPDX-License-Identifier: MIT */
/*
 * The virtio datasheet the virtio-net driver needs, from the Virtual I/O
 * Device (VIRTIO) Version 1.1 specification ("virtio §"), its legacy
 * interface included, and the few PCI configuration-space fields it reads
 * (PCI Local Bus Specification 3.0, "PCI §"). No logic.
 *
 * Byte order: modern devices are little endian (virtio §1.4), legacy ones
 * the guest's own (virtio §2.4.3, §2.6.3). The driver reads and writes the fields
 * below as host integers, so it is for little-endian hosts only.
 */
#ifndef VIRTIO_SPEC_H
#define VIRTIO_SPEC_H

#include <stdint.h>

#if defined(__BYTE_ORDER__) && __BYTE_ORDER__ != __ORDER_LITTLE_ENDIAN__
#error "drivers/nic/virtio: little-endian hosts only (virtio §1.4)"
#endif

#define VIRTIO_PCI_VENDOR	      0x1af4
#define VIRTIO_PCI_DEVICE_NET_MODERN  0x1041 /* virtio §4.1.2.1: 0x1040 + device ID 1 */
#define VIRTIO_PCI_DEVICE_NET_TRANSIT 0x1000 /* virtio §4.1.2.1: transitional network device */

/* PCI configuration space (PCI §6.1, §6.7, §6.8.2). */
#define PCI_CFG_STATUS	     0x06
#define PCI_STATUS_CAP_LIST  (1u << 4)
#define PCI_CFG_CAP_PTR	     0x34
#define PCI_CAP_PTR_MASK     0xfc /* the low two bits are reserved */
#define PCI_CAP_ID_MSIX	     0x11
#define PCI_CAP_ID_VENDOR    0x09 /* virtio's capabilities are vendor-specific ones */
#define PCI_MSIX_CTRL	     2	  /* Message Control, 16 bits, in the MSI-X capability */
#define PCI_MSIX_CTRL_ENABLE (1u << 15)
#define PCI_CFG_SPACE_SIZE   256 /* the capability list lies in the first 256 bytes */
#define PCI_CAP_WALK_MAX     48	 /* (256 - 64) / 4: more entries means a loop in the list */

/* §2.1 Device status field. */
#define VIRTIO_STATUS_ACKNOWLEDGE	 1u
#define VIRTIO_STATUS_DRIVER		 2u
#define VIRTIO_STATUS_DRIVER_OK		 4u
#define VIRTIO_STATUS_FEATURES_OK	 8u
#define VIRTIO_STATUS_DEVICE_NEEDS_RESET 64u
#define VIRTIO_STATUS_FAILED		 128u

/* Feature bits: device independent (§6), network device (§5.1.3). */
#define VIRTIO_BIT(n)		    (1ull << (n))
#define VIRTIO_NET_F_MAC	    VIRTIO_BIT(5)  /* §5.1.3: config holds the MAC address */
#define VIRTIO_NET_F_MRG_RXBUF	    VIRTIO_BIT(15) /* §5.1.3: not taken: one buffer per frame */
#define VIRTIO_NET_F_STATUS	    VIRTIO_BIT(16) /* §5.1.3: config holds the link status */
#define VIRTIO_NET_F_CTRL_VQ	    VIRTIO_BIT(17) /* not taken: QEMU's model is promiscuous at reset */
#define VIRTIO_F_ANY_LAYOUT	    VIRTIO_BIT(27) /* §6.3 (legacy), §2.6.4.3: header and frame in one buffer */
#define VIRTIO_F_VERSION_1	    VIRTIO_BIT(32) /* §6: the modern interface */
#define VIRTIO_F_ACCESS_PLATFORM    VIRTIO_BIT(33) /* §6: DMA goes through the platform's IOMMU */
#define VIRTIO_NET_F_SPEED_DUPLEX   VIRTIO_BIT(63) /* §5.1.3: config holds speed and duplex */
#define VIRTIO_FEATURES_LEGACY_MASK 0xffffffffull  /* legacy devices have 32 feature bits (§4.1.4.8) */

/* §4.1.4 Virtio structure PCI capabilities: cfg_type. */
#define VIRTIO_PCI_CAP_COMMON_CFG 1
#define VIRTIO_PCI_CAP_NOTIFY_CFG 2
#define VIRTIO_PCI_CAP_ISR_CFG	  3
#define VIRTIO_PCI_CAP_DEVICE_CFG 4
#define VIRTIO_PCI_CAP_PCI_CFG	  5
#define VIRTIO_PCI_BARS		  6 /* bar: 0..5; other values are reserved */

/* §4.1.4 struct virtio_pci_cap, in configuration space. */
struct virtio_pci_cap {
	uint8_t cap_vndr; /* PCI_CAP_ID_VENDOR */
	uint8_t cap_next;
	uint8_t cap_len;
	uint8_t cfg_type; /* VIRTIO_PCI_CAP_* */
	uint8_t bar;
	uint8_t id;
	uint8_t padding[2];
	uint32_t offset; /* within the BAR */
	uint32_t length;
};
_Static_assert(sizeof(struct virtio_pci_cap) == 16, "virtio_pci_cap is 16 bytes");

/* §4.1.4.4 The notification capability appends a multiplier: queue q's
 * doorbell is at offset + queue_notify_off(q) * notify_off_multiplier. */
struct virtio_pci_notify_cap {
	struct virtio_pci_cap cap;
	uint32_t notify_off_multiplier;
};
_Static_assert(sizeof(struct virtio_pci_notify_cap) == 20, "virtio_pci_notify_cap is 20 bytes");

/* §4.1.4.3 Common configuration structure layout (offsets in the
 * structure; 64-bit fields are written as two 32-bit halves, low first). */
#define VIRTIO_COMMON_DFSELECT	 0x00 /* le32 device_feature_select */
#define VIRTIO_COMMON_DF	 0x04 /* le32 device_feature (read-only) */
#define VIRTIO_COMMON_GFSELECT	 0x08 /* le32 driver_feature_select */
#define VIRTIO_COMMON_GF	 0x0c /* le32 driver_feature */
#define VIRTIO_COMMON_MSIX	 0x10 /* le16 msix_config */
#define VIRTIO_COMMON_NUMQ	 0x12 /* le16 num_queues (read-only) */
#define VIRTIO_COMMON_STATUS	 0x14 /* u8 device_status */
#define VIRTIO_COMMON_CFGGEN	 0x15 /* u8 config_generation (read-only) */
#define VIRTIO_COMMON_Q_SELECT	 0x16 /* le16 queue_select */
#define VIRTIO_COMMON_Q_SIZE	 0x18 /* le16 queue_size: the maximum on reading, 0 = none */
#define VIRTIO_COMMON_Q_MSIX	 0x1a /* le16 queue_msix_vector */
#define VIRTIO_COMMON_Q_ENABLE	 0x1c /* le16 queue_enable */
#define VIRTIO_COMMON_Q_NOFF	 0x1e /* le16 queue_notify_off (read-only) */
#define VIRTIO_COMMON_Q_DESCLO	 0x20 /* le64 queue_desc */
#define VIRTIO_COMMON_Q_DESCHI	 0x24
#define VIRTIO_COMMON_Q_AVAILLO	 0x28 /* le64 queue_driver (the available ring) */
#define VIRTIO_COMMON_Q_AVAILHI	 0x2c
#define VIRTIO_COMMON_Q_USEDLO	 0x30 /* le64 queue_device (the used ring) */
#define VIRTIO_COMMON_Q_USEDHI	 0x34
#define VIRTIO_COMMON_LEN	 0x38	/* the structure's size: a shorter capability is refused */
#define VIRTIO_FEATURE_WORD_BITS 32	/* device_feature_select picks 32 bits at a time */
#define VIRTIO_MSI_NO_VECTOR	 0xffff /* §4.1.4.3: no MSI-X vector for this source */
#define VIRTIO_NOTIFY_LEN	 2	/* §4.1.4.4: a doorbell is a 16-bit write of the queue index */

/* §4.1.4.5 ISR status (one byte, cleared by reading it). */
#define VIRTIO_ISR_QUEUE  (1u << 0)
#define VIRTIO_ISR_CONFIG (1u << 1)

/* §4.1.4.8 Legacy interfaces: the I/O port BAR 0 of a transitional device. */
#define VIRTIO_LEGACY_BAR	     0
#define VIRTIO_LEGACY_HOST_FEATURES  0x00 /* 32: device features */
#define VIRTIO_LEGACY_GUEST_FEATURES 0x04 /* 32: driver features */
#define VIRTIO_LEGACY_QUEUE_PFN	     0x08 /* 32: ring address >> VIRTIO_LEGACY_PFN_SHIFT; 0 resets */
#define VIRTIO_LEGACY_QUEUE_SIZE     0x0c /* 16: fixed by the device (read-only) */
#define VIRTIO_LEGACY_QUEUE_SELECT   0x0e /* 16 */
#define VIRTIO_LEGACY_QUEUE_NOTIFY   0x10 /* 16 */
#define VIRTIO_LEGACY_STATUS	     0x12 /* 8 */
#define VIRTIO_LEGACY_ISR	     0x13 /* 8: cleared by reading it */
#define VIRTIO_LEGACY_MSIX_CONFIG    0x14 /* 16: only while MSI-X is enabled */
#define VIRTIO_LEGACY_MSIX_QUEUE     0x16 /* 16: only while MSI-X is enabled */
#define VIRTIO_LEGACY_CONFIG	     0x14 /* device config with MSI-X disabled ... */
#define VIRTIO_LEGACY_CONFIG_MSIX    0x18 /* ... and enabled: it moves past the two vectors */
#define VIRTIO_LEGACY_PFN_SHIFT	     12
#define VIRTIO_LEGACY_PFN_BITS	     32 /* the register's width: ring addresses below 2^44 */

/* §2.6 Split virtqueues. */
#define VIRTQ_SIZE_MAX 32768 /* §2.6: queue sizes are powers of two up to this */

/* §2.6.5 The descriptor table: 16-byte entries, 16-byte aligned. */
struct virtq_desc {
	uint64_t addr; /* bus address of the buffer */
	uint32_t len;
	uint16_t flags; /* VIRTQ_DESC_F_* */
	uint16_t next;	/* with VIRTQ_DESC_F_NEXT (unused here: one descriptor per packet) */
};
_Static_assert(sizeof(struct virtq_desc) == 16, "virtq_desc is 16 bytes");
#define VIRTQ_DESC_F_NEXT  1u
#define VIRTQ_DESC_F_WRITE 2u /* the device writes the buffer (RX) */
#define VIRTQ_DESC_ALIGN   16

/* §2.6.6 The available ring (driver area), 2-byte aligned; used_event
 * follows ring[] but is only used with VIRTIO_F_EVENT_IDX (not taken). */
struct virtq_avail {
	uint16_t flags; /* VIRTQ_AVAIL_F_* */
	uint16_t idx;	/* where the driver puts the next entry (free running) */
	uint16_t ring[];
};
#define VIRTQ_AVAIL_F_NO_INTERRUPT 1u /* §2.6.7: the driver wants no interrupt for used buffers */
#define VIRTQ_AVAIL_BYTES(n)	   (4u + 2u * (n) + 2u)

/* §2.6.8 The used ring (device area), 4-byte aligned. */
struct virtq_used_elem {
	uint32_t id;  /* the head descriptor of the buffer used */
	uint32_t len; /* bytes the device wrote into it */
};
struct virtq_used {
	uint16_t flags; /* VIRTQ_USED_F_* */
	uint16_t idx;
	struct virtq_used_elem ring[];
};
#define VIRTQ_USED_F_NO_NOTIFY 1u /* §2.6.10: the device needs no doorbell for new buffers */
#define VIRTQ_USED_BYTES(n)    (4u + 8u * (n) + 2u)

/* §2.6.2 Legacy interfaces: the three parts are contiguous, the used ring
 * starts on the next VIRTQ_LEGACY_ALIGN boundary, the whole area starts on
 * one too (its address >> 12 is the queue PFN). Modern devices take any
 * layout that respects the alignments above, this one included. */
#define VIRTQ_LEGACY_ALIGN   4096u
#define VIRTQ_ALIGN_UP(x, a) (((x) + (a)-1) & ~((a)-1))
#define VIRTQ_AVAIL_OFF(n)   (16u * (n))
#define VIRTQ_USED_OFF(n)    VIRTQ_ALIGN_UP(VIRTQ_AVAIL_OFF(n) + VIRTQ_AVAIL_BYTES(n), VIRTQ_LEGACY_ALIGN)
#define VIRTQ_BYTES(n)	     (VIRTQ_USED_OFF(n) + VIRTQ_USED_BYTES(n))

/* §5.1.2 Virtqueues of a network device: receiveq1 and transmitq1 (the
 * control queue would come after the last pair; not used). */
#define VIRTIO_NET_RXQ 0
#define VIRTIO_NET_TXQ 1

/* §5.1.4 Device configuration layout (offsets in the device config). */
#define VIRTIO_NET_CFG_MAC	 0  /* u8 mac[6], with VIRTIO_NET_F_MAC */
#define VIRTIO_NET_CFG_STATUS	 6  /* le16, with VIRTIO_NET_F_STATUS */
#define VIRTIO_NET_CFG_SPEED	 12 /* le32 Mbit/s, with VIRTIO_NET_F_SPEED_DUPLEX */
#define VIRTIO_NET_CFG_DUPLEX	 16 /* u8 */
#define VIRTIO_NET_CFG_LEN_MIN	 8  /* mac and status */
#define VIRTIO_NET_CFG_LEN_FULL	 17 /* up to duplex */
#define VIRTIO_NET_MAC_LEN	 6
#define VIRTIO_NET_S_LINK_UP	 1u
#define VIRTIO_NET_SPEED_UNKNOWN 0xffffffffu
#define VIRTIO_NET_DUPLEX_FULL	 1u

/* §5.1.6 struct virtio_net_hdr, before every frame in both directions:
 * 12 bytes with VIRTIO_F_VERSION_1 (num_buffers always there), 10 for a
 * legacy device without VIRTIO_NET_F_MRG_RXBUF (§5.1.6.1 legacy). All zero
 * on transmit: no checksum offload, no segmentation. */
struct virtio_net_hdr {
	uint8_t flags;
	uint8_t gso_type; /* VIRTIO_NET_HDR_GSO_NONE */
	uint16_t hdr_len;
	uint16_t gso_size;
	uint16_t csum_start;
	uint16_t csum_offset;
	uint16_t num_buffers; /* only with VERSION_1 or MRG_RXBUF */
};
_Static_assert(sizeof(struct virtio_net_hdr) == 12, "virtio_net_hdr is 12 bytes");
#define VIRTIO_NET_HDR_LEN	  12u
#define VIRTIO_NET_HDR_LEN_LEGACY 10u /* without num_buffers */

#endif
