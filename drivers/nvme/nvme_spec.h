/* SPDX-License-Identifier: MIT */
/*
 * The NVMe datasheet the driver needs, from the NVM Express Base
 * Specification 1.4 ("§") and the NVM Command Set: register offsets and
 * fields, opcodes, the submission and completion entries, the Identify
 * structures' fields we read, status codes. No logic.
 */
#ifndef NVME_SPEC_H
#define NVME_SPEC_H

#include <stdint.h>

#define NVME_PCI_CLASS 0x010802 /* mass storage, non-volatile memory, NVMe */

/* §3.1 Controller registers (BAR 0, little endian). */
#define NVME_REG_CAP   0x00 /* 64 bits: capabilities */
#define NVME_REG_VS    0x08 /* version: major 31:16, minor 15:8, tertiary 7:0 */
#define NVME_REG_INTMS 0x0c
#define NVME_REG_INTMC 0x10
#define NVME_REG_CC    0x14   /* controller configuration */
#define NVME_REG_CSTS  0x1c   /* controller status */
#define NVME_REG_AQA   0x24   /* admin queue sizes, 0-based: ACQS 27:16, ASQS 11:0 */
#define NVME_REG_ASQ   0x28   /* 64 bits: admin SQ base, page aligned */
#define NVME_REG_ACQ   0x30   /* 64 bits: admin CQ base, page aligned */
#define NVME_REG_DBS   0x1000 /* doorbells: SQy tail at 0x1000 + 2y * stride, CQy head after it */

/* CAP fields (§3.1.1) */
#define NVME_CAP_MQES(cap)    ((uint32_t)((cap)&0xffff))	 /* max entries per queue, 0-based */
#define NVME_CAP_TO(cap)      ((uint32_t)(((cap) >> 24) & 0xff)) /* ready timeout, 500 ms units */
#define NVME_CAP_DSTRD(cap)   ((uint32_t)(((cap) >> 32) & 0xf))	 /* doorbell stride: 4 << DSTRD bytes */
#define NVME_CAP_CSS_NVM(cap) ((uint32_t)(((cap) >> 37) & 0x1))	 /* the NVM command set */
#define NVME_CAP_MPSMIN(cap)  ((uint32_t)(((cap) >> 48) & 0xf))	 /* smallest page: 2^(12 + x) */
#define NVME_TO_UNIT_MS	      500

/* CC fields (§3.1.5) */
#define NVME_CC_EN	     (1u << 0)
#define NVME_CC_CSS_NVM	     (0u << 4)
#define NVME_CC_MPS(shift)   ((uint32_t)((shift)-12) << 7) /* memory page size 2^shift */
#define NVME_CC_SHN_NORMAL   (1u << 14)
#define NVME_CC_SHN_MASK     (3u << 14)
#define NVME_CC_IOSQES(log2) ((uint32_t)(log2) << 16)
#define NVME_CC_IOCQES(log2) ((uint32_t)(log2) << 20)

/* CSTS fields (§3.1.6) */
#define NVME_CSTS_RDY		(1u << 0)
#define NVME_CSTS_CFS		(1u << 1) /* controller fatal status */
#define NVME_CSTS_SHST_MASK	(3u << 2)
#define NVME_CSTS_SHST_COMPLETE (2u << 2)

/* The driver's memory page: 4 KiB, which every controller supports (MPSMIN 0). */
#define NVME_PAGE_SHIFT 12
#define NVME_PAGE_SIZE	(1u << NVME_PAGE_SHIFT)

/* §4.2 Submission queue entry, 64 bytes. */
struct nvme_sqe {
	uint8_t opc;   /* opcode */
	uint8_t flags; /* FUSE 1:0, PSDT 7:6 (00: PRPs) */
	uint16_t cid;  /* command identifier */
	uint32_t nsid;
	uint32_t cdw2, cdw3;
	uint64_t mptr;
	uint64_t prp1, prp2;
	uint32_t cdw10, cdw11, cdw12, cdw13, cdw14, cdw15;
};
_Static_assert(sizeof(struct nvme_sqe) == 64, "SQE is 64 bytes");
#define NVME_SQES_LOG2 6

/* §4.6 Completion queue entry, 16 bytes. */
struct nvme_cqe {
	uint32_t dw0; /* command specific */
	uint32_t dw1;
	uint16_t sq_head; /* how far the controller has read the SQ */
	uint16_t sq_id;
	uint16_t cid;
	uint16_t status; /* bit 0: phase tag; 15:1 the status field */
};
_Static_assert(sizeof(struct nvme_cqe) == 16, "CQE is 16 bytes");
#define NVME_CQES_LOG2 4

/* The status field (§4.6.1), as struct nvme_cqe.status >> 1. */
#define NVME_STATUS_SC(s)  ((s)&0xff)	       /* status code */
#define NVME_STATUS_SCT(s) (((s) >> 8) & 0x7)  /* status code type */
#define NVME_STATUS_DNR(s) (((s) >> 14) & 0x1) /* do not retry */
#define NVME_SCT_GENERIC   0
#define NVME_SCT_COMMAND   1
#define NVME_SCT_MEDIA	   2

/* §5 Admin command opcodes */
#define NVME_ADMIN_DELETE_SQ	0x00
#define NVME_ADMIN_CREATE_SQ	0x01
#define NVME_ADMIN_DELETE_CQ	0x04
#define NVME_ADMIN_CREATE_CQ	0x05
#define NVME_ADMIN_IDENTIFY	0x06
#define NVME_ADMIN_ABORT	0x08
#define NVME_ADMIN_SET_FEATURES 0x09

/* Create I/O CQ/SQ (§5.3, §5.4): CDW10 = QSIZE (0-based) << 16 | QID */
#define NVME_QUEUE_PC	     (1u << 0) /* physically contiguous */
#define NVME_CQ_IEN	     (1u << 1) /* interrupts enabled */
#define NVME_CQ_IV(v)	     ((uint32_t)(v) << 16)
#define NVME_SQ_CQID(q)	     ((uint32_t)(q) << 16)
#define NVME_IDENTIFY_NS     0x00 /* CNS values (§5.15) */
#define NVME_IDENTIFY_CTRL   0x01
#define NVME_FEAT_NUM_QUEUES 0x07      /* Set Features (§5.21.1.7): NCQR 31:16, NSQR 15:0, 0-based */
#define NVME_ABORT_NOT_DONE  (1u << 0) /* Abort's DW0 bit 0: the command was not aborted */

/* NVM command set opcodes (NVM Command Set §6) */
#define NVME_CMD_FLUSH	      0x00
#define NVME_CMD_WRITE	      0x01
#define NVME_CMD_READ	      0x02
#define NVME_CMD_WRITE_ZEROES 0x08
#define NVME_RW_FUA	      (1u << 30) /* CDW12 */
#define NVME_RW_MAX_BLOCKS    65536u	 /* CDW12 NLB is 16 bits, 0-based */

/* Identify Controller (§5.15.2.2): byte offsets of the fields read. */
#define NVME_ID_CTRL_VID       0
#define NVME_ID_CTRL_SSVID     2
#define NVME_ID_CTRL_SN	       4  /* 20 ASCII bytes, space padded */
#define NVME_ID_CTRL_MN	       24 /* 40 */
#define NVME_ID_CTRL_FR	       64 /* 8 */
#define NVME_ID_CTRL_MDTS      77 /* max transfer: 2^MDTS pages of MPSMIN; 0 no limit */
#define NVME_ID_CTRL_OACS      256
#define NVME_ID_CTRL_NN	       516
#define NVME_ID_CTRL_ONCS      520
#define NVME_ID_CTRL_VWC       525
#define NVME_ONCS_WRITE_ZEROES (1u << 3)
#define NVME_OACS_DBBUF	       (1u << 8) /* Doorbell Buffer Config (shadow doorbells) */

/* Identify Namespace (NVM §5.15.2.1) */
#define NVME_ID_NS_NSZE	 0   /* 64 bits: size in logical blocks */
#define NVME_ID_NS_FLBAS 26  /* 3:0 the LBA format in use, bit 4 metadata at the end of each block */
#define NVME_ID_NS_LBAF	 128 /* 16 formats of 4 bytes: MS 15:0, LBADS 23:16 (log2 bytes) */

/* §4.6.1.2 Status codes used by name (generic, then command specific). */
#define NVME_SC_SUCCESS		0x00
#define NVME_SC_INVALID_OPCODE	0x01
#define NVME_SC_INVALID_FIELD	0x02
#define NVME_SC_CID_CONFLICT	0x03
#define NVME_SC_DATA_XFER_ERROR 0x04
#define NVME_SC_INTERNAL	0x06
#define NVME_SC_ABORT_REQ	0x07
#define NVME_SC_ABORT_SQ_DEL	0x08
#define NVME_SC_INVALID_NS	0x0b
#define NVME_SC_CMD_SEQ_ERROR	0x0c
#define NVME_SC_PRP_OFFSET	0x13
#define NVME_SC_LBA_RANGE	0x80
#define NVME_SC_CAP_EXCEEDED	0x81
#define NVME_SC_NS_NOT_READY	0x82

#endif
