/* SPDX-License-Identifier: MIT */
/*
 * A small userspace NVMe driver on udma, written against the NVMe 1.4 base
 * specification (sections cited as "§") and the udma public API only, and
 * proven against QEMU's nvme controller through UIO and VFIO (tests/vm/).
 *
 * The queue model
 *   A controller has one admin queue pair (queue 0) and N I/O queue pairs.
 *   Each I/O pair here is one submission queue (SQ) with a completion queue
 *   (CQ) of its own, so pairs are independent: a thread owns a pair and
 *   submits and reaps on it with no lock and no atomic instruction. Sharing a
 *   pair between threads is the caller's business (lock it). Admin commands
 *   (Identify, queue creation, Abort) are rare and serialised by one mutex.
 *
 *   A command's slot is its command identifier (CID). A pair of depth D has D
 *   slots, an SQ and a CQ of D + 1 entries (one SQ entry always stays empty,
 *   §4.1.2; the CQ can never overflow), and D PRP-list pages from a udma pool,
 *   one per slot, taken when the pair is made: the hot path allocates
 *   nothing.
 *
 *   Submitting writes a 64-byte entry into the SQ; the SQ tail doorbell is
 *   written once per call, or once per nvme_qp_kick() for calls made with
 *   NVME_F_BATCH. Reaping reads new CQ entries by their phase bit (§4.6) and
 *   writes the CQ head doorbell once per call.
 *
 * Memory
 *   Every buffer is udma memory: a region, a pool object or udma_malloc.
 *   The driver translates each 4 KiB page with udma_iova() (O(1), no lock),
 *   so it works alike in PA mode (UIO: pages need not be physically
 *   adjacent) and VA mode (VFIO). Memory elsewhere is refused (-EFAULT).
 *   From a successful submit until its completion is reaped, or its cookie
 *   is handed back by nvme_qp_abandon() after a reset, the buffer belongs to
 *   the device; under UIO nothing else protects memory.
 *
 * Failure
 *   A command older than the command timeout is aborted (Abort, §5.1); if the
 *   controller does not abort it (QEMU 7.2 never does), or the controller
 *   reports a fatal status (CSTS.CFS), the controller is marked failed:
 *   nvme_qp_wait returns -ETIMEDOUT or -EIO once, every later submit
 *   -ESHUTDOWN. nvme_reset() then disables the controller, which stops all
 *   its DMA (§7.3.2), and sets everything up again on the same memory; each
 *   pair hands back the cookies of its lost commands through
 *   nvme_qp_abandon(), as simdrv_abandon does.
 *
 * Errors: every function returning int gives 0 (or a count) or a negative
 * errno, with one line saying why in nvme_last_error() (per thread).
 *
 * Tested on x86 (QEMU guests). The ordering between the CPU and the device
 * is udma_dma_wmb() before each doorbell and udma_dma_rmb() after each phase
 * tag (<udma/barrier.h>); its arm64 barriers are not yet tested.
 */
#ifndef NVME_H
#define NVME_H

#include <stdbool.h>
#include <stdint.h>

#include <udma/udma.h>

#include "drivers/nvme/nvme_spec.h"

struct nvme_ctrl;
struct nvme_qp;

/* What nvme_attach found (Identify Controller §5.15.2.2, CAP, VS). */
struct nvme_ctrl_info {
	uint16_t vid, ssvid;	    /* PCI vendor, subsystem vendor */
	char sn[21], mn[41], fr[9]; /* serial, model, firmware: trailing spaces cut */
	uint32_t version;	    /* VS: 0x00010400 is 1.4.0 */
	uint32_t max_xfer;	    /* bytes per command: MDTS, capped at one PRP-list page (2 MiB) */
	uint32_t nn;		    /* namespaces the controller may have */
	uint16_t oacs;		    /* optional admin commands (bit 8: Doorbell Buffer Config, unused here) */
	uint16_t oncs;		    /* optional NVM commands (bit 3: Write Zeroes) */
	uint8_t vwc;		    /* bit 0: a volatile write cache (Flush matters) */
	uint32_t max_entries;	    /* CAP.MQES + 1: entries per queue */
	unsigned qpairs;	    /* I/O queue pairs granted (Set Features 07h) */
	unsigned ready_timeout_ms;  /* CAP.TO: how long enabling or disabling may take */
};

/* The namespace the controller was attached for (Identify Namespace). */
struct nvme_ns_info {
	uint32_t nsid;
	uint32_t lba_size; /* bytes per logical block */
	uint64_t nlba;	   /* logical blocks (NSZE) */
};

struct nvme_opts {
	uint32_t nsid;		 /* namespace to use; 0: 1 */
	unsigned max_qpairs;	 /* asked of the controller; 0: 8 */
	unsigned cmd_timeout_ms; /* a command older than this is aborted; 0: 5000 */
	unsigned flags;		 /* NVME_ATTACH_* */
};

/* For tests of the failure path: hand the controller an admin SQ address
 * that is not page aligned, which it must refuse to start with (CSTS.CFS). */
#define NVME_ATTACH_TEST_BAD_ADMIN_SQ (1u << 0)

/*
 * Check that dev (an open udma device: "uio:ADDR" in a PA context,
 * "vfio:ADDR" in a VA context) is an NVMe controller, disable it, set up the
 * admin queue, enable it (waiting up to CAP.TO), identify it and its
 * namespace, negotiate the number of I/O queues. The controller holds ctx
 * and dev; nvme_detach before closing them. On failure *out is NULL and
 * the controller is left disabled. -ENODEV (not NVMe, or gone),
 * -ETIMEDOUT (never ready), -EIO (failed to start: CSTS.CFS), -ENOTSUP (a
 * namespace format with metadata, 4 KiB pages unsupported), -ENOMEM, ...
 */
int nvme_attach(struct udma_ctx *ctx, struct udma_dev *dev, const struct nvme_opts *opts,
		struct nvme_ctrl **out);
/* Shut the controller down (CC.SHN, §7.6.2), disable it, free everything.
 * -EBUSY (nothing done) while a pair exists: destroy them first. Otherwise
 * c is freed even on an error (-ETIMEDOUT: no shutdown or no disable in
 * CAP.TO); if the controller would not stop, the memory it may still write
 * (admin queue, Identify buffer) stays allocated in the context, and
 * udma_dev_close stops its DMA. NULL is a no-op. */
int nvme_detach(struct nvme_ctrl *c);
const struct nvme_ctrl_info *nvme_ctrl_info(const struct nvme_ctrl *c);
const struct nvme_ns_info *nvme_ns_info(const struct nvme_ctrl *c);
/* The controller's registers (BAR 0), for tools and tests. */
uint32_t nvme_reg_read32(const struct nvme_ctrl *c, unsigned off);
uint64_t nvme_reg_read64(const struct nvme_ctrl *c, unsigned off);

enum nvme_wait {
	NVME_POLL, /* the CQ is read in a loop; the device raises no interrupt for it */
	NVME_IRQ   /* nvme_qp_wait sleeps on an interrupt: MSI-X vector per pair
		    * under VFIO, INTx shared by all under UIO */
};

struct nvme_qp_opts {
	unsigned depth;	    /* commands in flight at most, 1 .. max_entries - 1; 0: 64 */
	enum nvme_wait how; /* NVME_POLL or NVME_IRQ */
};

/* A new I/O queue pair (Create I/O CQ, then SQ: §5.3, §5.4). -ENOSPC when
 * every granted pair exists, -ERANGE (depth), -ESHUTDOWN (failed
 * controller), ... */
int nvme_qp_create(struct nvme_ctrl *c, const struct nvme_qp_opts *opts, struct nvme_qp **out);
/* Delete the pair's queues and free it. -EBUSY (nothing done) while commands
 * are in flight or abandoned ones were not taken back. NULL is a no-op. */
int nvme_qp_destroy(struct nvme_qp *qp);
unsigned nvme_qp_id(const struct nvme_qp *qp);	     /* the queue id, 1 .. */
unsigned nvme_qp_inflight(const struct nvme_qp *qp); /* submitted, not yet reaped */

/* Counts of one pair since it was made (no atomics: the owner's thread). */
struct nvme_qp_stats {
	uint64_t submitted, completed;
	uint64_t sq_doorbells, cq_doorbells; /* MMIO writes: batching makes them fewer than commands */
	uint64_t interrupts;		     /* wake-ups by the pair's interrupt (NVME_IRQ) */
};
void nvme_qp_stats(const struct nvme_qp *qp, struct nvme_qp_stats *out);

/* Submit flags. */
#define NVME_F_BATCH \
	(1u << 0)	     /* queue the command; the SQ doorbell waits for nvme_qp_kick
				* (its timeout counts from the submit all the same) */
#define NVME_F_FUA (1u << 1) /* write through the cache (Force Unit Access) */

/*
 * Queue one command; cookie comes back in its completion. buf: udma memory,
 * 4-byte aligned, nlb * lba_size bytes, at most max_xfer. 0, or nothing is
 * submitted and: -EINVAL (nlb 0, buf unaligned, NULL), -ERANGE (lba + nlb
 * past the namespace), -E2BIG (more than max_xfer or 65536 blocks: split it,
 * or use nvme_rw_sync), -EFAULT (buf not udma memory), -EAGAIN (every slot
 * in flight: reap), -EBUSY (the slots left are held by commands lost in a
 * reset: nvme_qp_abandon), -ESHUTDOWN (the controller failed: nvme_reset).
 */
int nvme_read(struct nvme_qp *qp, void *buf, uint64_t lba, uint32_t nlb, uint64_t cookie, unsigned flags);
int nvme_write(struct nvme_qp *qp, const void *buf, uint64_t lba, uint32_t nlb, uint64_t cookie,
	       unsigned flags);
/* Write Zeroes (NVM §6.16; -EOPNOTSUPP unless ONCS bit 3) and Flush (§6.8). */
int nvme_write_zeroes(struct nvme_qp *qp, uint64_t lba, uint32_t nlb, uint64_t cookie, unsigned flags);
int nvme_flush(struct nvme_qp *qp, uint64_t cookie, unsigned flags);
/* A hand-made command (tests, vendor commands): the driver sets CID only;
 * the PRPs and anything else are the caller's. Same returns as nvme_read. */
int nvme_qp_submit_raw(struct nvme_qp *qp, const struct nvme_sqe *sqe, uint64_t cookie, unsigned flags);
/* Ring the SQ doorbell for commands queued with NVME_F_BATCH. */
void nvme_qp_kick(struct nvme_qp *qp);

struct nvme_cpl {
	uint64_t cookie;
	int err;	 /* 0, or the status as a negative errno (nvme_status_errno) */
	uint16_t status; /* the raw status field: SC, SCT, CRD, M, DNR (§4.6.1) */
	uint32_t dw0;	 /* command-specific result */
};

/* Take up to max completions without waiting; one CQ head doorbell write.
 * Returns how many were taken. A completion for a CID not in flight fails
 * the controller (nvme_qp_wait then returns -EPROTO). */
unsigned nvme_qp_reap(struct nvme_qp *qp, struct nvme_cpl *out, unsigned max);
/*
 * Reap, waiting up to timeout_ms (-1: no limit) for at least one completion:
 * spins (yielding the CPU between looks) for an NVME_POLL pair, sleeps on
 * the interrupt for NVME_IRQ. Returns how many were taken (0: timeout_ms
 * passed), or, on the pair that finds the failure, once and after the
 * completions that came before it: -ETIMEDOUT (a command passed the
 * command timeout and could not be aborted), -EIO (the controller reported
 * a fatal error), -ENODEV (its registers read all ones), -EPROTO (a
 * completion for no command in flight). The controller
 * is then failed until nvme_reset: -ESHUTDOWN after that, and on its other
 * pairs. Only this call looks for expired commands (also while others
 * complete, so a lost one does not hide behind them): a caller that only
 * reaps never times out.
 */
int nvme_qp_wait(struct nvme_qp *qp, struct nvme_cpl *out, unsigned max, int timeout_ms);

/*
 * Disable the controller (CC.EN = 0, waiting for CSTS.RDY = 0: it then does
 * no more DMA and has forgotten every queue, §7.3.2), then set up the admin
 * queue and every pair again on the same memory. Every command that was in
 * flight is lost: each pair keeps its cookies until nvme_qp_abandon. Call
 * only while no thread is inside a call on c or its pairs. 0, or -errno
 * (the controller is then still failed).
 */
int nvme_reset(struct nvme_ctrl *c);
/* Hand back up to max cookies of commands lost in a reset (oldest first);
 * returns how many. Their buffers are the caller's again; whether the device
 * executed them is unknown. Until taken back, each holds its slot (submits
 * say -EBUSY when only such slots are left). */
unsigned nvme_qp_abandon(struct nvme_qp *qp, uint64_t *cookies, unsigned max);

/* Read or write nlb blocks of any size, split at max_xfer, and wait: for
 * tools and tests (the pair must have nothing else in flight). 0 or -errno;
 * on an error after the first command, the blocks before it are written. */
int nvme_rw_sync(struct nvme_qp *qp, bool write, void *buf, uint64_t lba, uint64_t nlb);

/* A completion status (§4.6.1) as a negative errno (0 for success), with a
 * one-line message ("LBA range exceeds namespace size") in *msg if msg. */
int nvme_status_errno(uint16_t status, const char **msg);
/* Why the last call of this thread failed. */
const char *nvme_last_error(void);

#endif
