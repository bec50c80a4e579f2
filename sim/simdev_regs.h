/* SPDX-License-Identifier: MIT */
/*
 * The simulated DMA device's hardware interface: its register BAR and its
 * descriptor formats. This is the only thing the device model and its driver
 * share, as a datasheet is for real hardware.
 *
 * BAR0 (SIMDEV_BAR0_SIZE bytes): little-endian registers, 32-bit unless said.
 * The driver reaches memory only through IOVAs it writes into registers and
 * descriptors; the device reaches memory only through its IOMMU (the regions
 * the driver's context mapped), and every access is checked over its whole
 * length. A doorbell is a register write followed, in interrupt mode, by a
 * write to the doorbell eventfd (the way ioeventfd turns an MMIO write into an
 * event); the device raises interrupts through the interrupt eventfd (irqfd).
 */
#ifndef SIMDEV_REGS_H
#define SIMDEV_REGS_H

#include <stdint.h>

#define SIMDEV_BAR0_SIZE   4096u
#define SIMDEV_ID_VALUE	   0x53444d41u /* "SDMA" */
#define SIMDEV_VERSION	   0x00010000u /* 1.0 */
#define SIMDEV_MAX_QUEUES  8u
#define SIMDEV_MAX_DEPTH   4096u
#define SIMDEV_BLOCK_SIZES ((1u << 9) | (1u << 12)) /* 512 B and 4 KiB blocks */

/* Global registers */
#define SIMDEV_REG_ID	      0x000 /* RO: SIMDEV_ID_VALUE */
#define SIMDEV_REG_VERSION    0x004 /* RO */
#define SIMDEV_REG_CTRL	      0x008 /* RW: SIMDEV_CTRL_* */
#define SIMDEV_REG_STATUS     0x00c /* RO: SIMDEV_STATUS_* */
#define SIMDEV_REG_INT_STATUS 0x010 /* RW1C: bit q = queue q completed, SIMDEV_INT_FAULT */
#define SIMDEV_REG_INT_MASK   0x014 /* RW: 1 = masked */
#define SIMDEV_REG_NUM_QUEUES 0x018 /* RO: queue pairs */
#define SIMDEV_REG_MAX_DEPTH  0x01c /* RO: entries per ring, at most */
#define SIMDEV_REG_BLK_SIZE   0x020 /* RW while disabled: 512 or 4096 */
#define SIMDEV_REG_BLK_COUNT  0x028 /* RO, 64-bit: blocks in the backing store */

/* The IOMMU fault log: the last fault, and how many there were. */
#define SIMDEV_REG_FAULT_IOVA	0x040 /* RO, 64-bit */
#define SIMDEV_REG_FAULT_LEN	0x048 /* RO */
#define SIMDEV_REG_FAULT_QUEUE	0x04c /* RO */
#define SIMDEV_REG_FAULT_REASON 0x050 /* RO: SIMDEV_FAULT_* */
#define SIMDEV_REG_FAULT_COUNT	0x054 /* RO: total since reset */

/* Counters since reset, 64-bit, RO. */
#define SIMDEV_REG_STAT_DESCS	0x060 /* descriptors completed */
#define SIMDEV_REG_STAT_BYTES	0x068 /* bytes moved by DMA */
#define SIMDEV_REG_STAT_RX_DROP 0x070 /* NIC packets with no posted RX buffer */

/* Queue pair q: registers at SIMDEV_Q_BASE(q) + SIMDEV_Q_*. */
#define SIMDEV_Q_BASE(q) (0x100u + (q)*0x40u)
#define SIMDEV_Q_SQ_BASE 0x00 /* RW, 64-bit: IOVA of the submission ring */
#define SIMDEV_Q_SQ_SIZE 0x08 /* RW: entries, a power of two <= MAX_DEPTH */
#define SIMDEV_Q_SQ_TAIL 0x0c /* doorbell: index of the next entry the driver will write */
#define SIMDEV_Q_CQ_BASE 0x10 /* RW, 64-bit: IOVA of the completion ring */
#define SIMDEV_Q_CQ_SIZE 0x18 /* RW: entries, a power of two <= MAX_DEPTH */
#define SIMDEV_Q_CQ_HEAD 0x1c /* doorbell: index of the next entry the driver will read */
#define SIMDEV_Q_CTRL	 0x20 /* RW: SIMDEV_QCTRL_* */
#define SIMDEV_Q_SQ_HEAD 0x24 /* RO: entries the device has consumed (mod size) */
#define SIMDEV_Q_STATUS	 0x28 /* RO: SIMDEV_QSTATUS_* */

#define SIMDEV_CTRL_ENABLE (1u << 0) /* run; queues are set up while disabled */
#define SIMDEV_CTRL_RESET  (1u << 1) /* abort everything in flight; self-clearing */
#define SIMDEV_CTRL_IRQ	   (1u << 2) /* interrupt mode: doorbell/interrupt eventfds; else polled */

/* STATUS reads all ones (as every register then does) once the device is
 * gone: its process died, like a surprise-removed PCI function. */
#define SIMDEV_STATUS_READY (1u << 0) /* enabled and running */
#define SIMDEV_STATUS_FATAL (1u << 1) /* a controller error: reset to recover */

#define SIMDEV_INT_FAULT (1u << 31)

#define SIMDEV_QCTRL_ENABLE	(1u << 0)
#define SIMDEV_QCTRL_TYPE(x)	((x) << 4) /* what the submission ring carries */
#define SIMDEV_QTYPE_DMA	0u	   /* COPY, FILL */
#define SIMDEV_QTYPE_NIC_TX	1u	   /* TX packets, looped back into the RX queue */
#define SIMDEV_QTYPE_NIC_RX	2u	   /* posted RX buffers */
#define SIMDEV_QTYPE_BLOCK	3u	   /* READ, WRITE of blocks */
#define SIMDEV_QCTRL_TYPE_OF(v) (((v) >> 4) & 0xfu)

#define SIMDEV_QSTATUS_ERROR (1u << 0) /* bad ring setup: see FAULT_REASON */

/* Submission entry: 64 bytes, like NVMe's. */
struct simdev_sqe {
	uint8_t opcode; /* SIMDEV_OP_* */
	uint8_t flags;	/* SIMDEV_SQE_* */
	uint16_t rsvd0;
	uint32_t len;	 /* bytes */
	uint64_t src;	 /* IOVA (COPY, NIC_TX, BLK_WRITE); the pattern byte for FILL */
	uint64_t dst;	 /* IOVA (COPY, FILL, NIC_RX_POST, BLK_READ) */
	uint64_t block;	 /* block number (BLK_*) */
	uint64_t cookie; /* returned as is in the completion */
	uint64_t rsvd1[3];
};

#define SIMDEV_OP_COPY	      0x01
#define SIMDEV_OP_FILL	      0x02
#define SIMDEV_OP_NIC_TX      0x10
#define SIMDEV_OP_NIC_RX_POST 0x11
#define SIMDEV_OP_BLK_READ    0x20
#define SIMDEV_OP_BLK_WRITE   0x21

#define SIMDEV_SQE_IRQ (1u << 0) /* interrupt when this entry completes (interrupt mode) */

/* Completion entry: 16 bytes. The device writes the phase bit inverted on
 * each pass over the ring, so the driver needs no head register to find new
 * entries: it reads until the phase is not the one it expects. */
struct simdev_cqe {
	uint64_t cookie;
	uint32_t len;	  /* bytes moved (NIC RX: the packet's length) */
	uint16_t sq_head; /* the device's SQ head after this entry, frees SQ slots */
	uint16_t status;  /* bit 0: phase; bits 1-15: SIMDEV_ST_* << 1 */
};

#define SIMDEV_CQE_PHASE(st)  ((st)&1u)
#define SIMDEV_CQE_STATUS(st) ((st) >> 1)

#define SIMDEV_ST_OK	     0x00
#define SIMDEV_ST_BAD_OPCODE 0x01 /* unknown or wrong for the queue's type */
#define SIMDEV_ST_BAD_LEN    0x02 /* zero, too long, not a block multiple */
#define SIMDEV_ST_IOMMU	     0x03 /* an IOVA outside every mapped region: logged, nothing touched */
#define SIMDEV_ST_BAD_BLOCK  0x04 /* past the end of the backing store */
#define SIMDEV_ST_ABORTED    0x05 /* reset while in flight: reclaim the buffers */
#define SIMDEV_ST_TOO_SMALL  0x06 /* NIC: the packet did not fit the posted RX buffer */
#define SIMDEV_ST_IO_ERROR   0x07 /* the backing store failed */

#define SIMDEV_FAULT_NONE     0
#define SIMDEV_FAULT_UNMAPPED 1 /* the IOVA is in no region */
#define SIMDEV_FAULT_OVERRUN  2 /* starts in a region, runs past its end */
#define SIMDEV_FAULT_RING     3 /* a ring base/size that is not mapped or not valid */

#endif
