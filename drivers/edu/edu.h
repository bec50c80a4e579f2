/* SPDX-License-Identifier: MIT */
/*
 * A userspace driver for QEMU's "edu" PCI device (docs/specs/edu.rst in
 * QEMU), a real, if emulated, DMA engine: written against that register spec
 * and the udma_dev_* API only, as drivers/simdrv/simdrv.c is for the simulated
 * device. Open the device with udma_dev_open ("uio:ADDR" in a PA context,
 * "vfio:ADDR" in a VA context), then edu_attach; buffers come from udma
 * (pools, udma_malloc, regions) and are handed to the device by IOVA.
 *
 * The device copies between a bus address and its own 4 KiB buffer, one
 * transfer at a time; each takes about 100 ms of the guest's virtual time.
 *
 * A buffer handed to a transfer must stay valid (allocated, mapped for the
 * device) until the transfer completed, and after a transfer that timed out
 * until edu_detach has succeeded: the device may still write it late.
 */
#ifndef EDU_H
#define EDU_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include <udma/udma.h>

#define EDU_VENDOR_ID 0x1234
#define EDU_DEVICE_ID 0x11e8

/* BAR 0, 1 MiB. Below 0x80 only 4-byte accesses; the DMA registers at 0x80
 * and above are 64 bits wide and need 8-byte accesses. */
#define EDU_REG_ID	   0x00 /* 0xRRrr00ed: major, minor version */
#define EDU_ID_MASK	   0x0000ffff
#define EDU_ID_VALUE	   0x000000ed
#define EDU_REG_ALIVE	   0x04 /* reads back the inverse of what was written */
#define EDU_REG_FACTORIAL  0x08
#define EDU_REG_STATUS	   0x20
#define EDU_REG_IRQ_STATUS 0x24 /* causes of the pending interrupt */
#define EDU_REG_IRQ_RAISE  0x60 /* ORs the value into IRQ_STATUS and interrupts */
#define EDU_REG_IRQ_ACK	   0x64 /* clears those bits; the line drops at 0 */
#define EDU_REG_DMA_SRC	   0x80
#define EDU_REG_DMA_DST	   0x88
#define EDU_REG_DMA_COUNT  0x90
#define EDU_REG_DMA_CMD	   0x98

#define EDU_DMA_CMD_START  0x1 /* reads 1 until the transfer is done */
#define EDU_DMA_CMD_TO_BUS 0x2 /* direction: device buffer -> bus address */
#define EDU_DMA_CMD_IRQ	   0x4 /* raise EDU_IRQ_DMA when done */
#define EDU_IRQ_DMA	   0x100

/* The device's buffer, at this address on its side of a transfer. */
#define EDU_BUF_ADDR 0x40000
#define EDU_BUF_SIZE 4096
/* QEMU before 8.2.1 and 9.0 (its commit "edu: fix DMA range upper bound
 * check") wants a transfer to end strictly before the end of the buffer and
 * aborts (the whole VM) otherwise, so a transfer of 0 or 4096 bytes, or one
 * reaching the buffer's last byte, is refused here. */
#define EDU_DMA_END_MAX (EDU_BUF_SIZE - 1)

/* How a transfer's completion is awaited. */
enum edu_wait { EDU_POLL, EDU_IRQ };

/* A transfer is given this long (an emulated guest may be far slower than
 * real time) before it is called lost. */
#define EDU_TIMEOUT_MS 10000

struct edu {
	struct udma_dev *dev;
	volatile uint8_t *bar;
	uint32_t id;
	uint64_t dma_mask;   /* bus addresses the device can reach */
	int irq_fd;	     /* -1: the device has no interrupt */
	unsigned irqs;	     /* interrupts taken (wake-ups that found a cause) */
	unsigned dma_irqs;   /* of those, DMA completions: one per EDU_IRQ transfer */
	unsigned timeout_ms; /* EDU_TIMEOUT_MS; a test may lower it */
	bool wedged;	     /* a transfer timed out: no more DMA until detached */
	char err[256];	     /* why the last call failed */
};

/*
 * Check the identification and liveness registers, clear pending
 * interrupts. dma_bits: the address width the device was started with. The
 * device's dma_mask property defaults to 28 bits (its spec: "for educational
 * purposes"), and QEMU silently truncates addresses above it (it only prints
 * a line on its own stdout), so a driver must know: 64 for a device started
 * with -device edu,dma_mask=0xffffffffffffffff. 0, or a negative errno with
 * the reason in e->err.
 */
int edu_attach(struct edu *e, struct udma_dev *dev, unsigned dma_bits);
/* Wait for a transfer still running, clear pending interrupts, let go of the
 * device. 0; or -ETIMEDOUT (reason in e->err) while a transfer still runs:
 * it is still attached, its buffers must stay; retry, or udma_dev_close the
 * device, which turns its bus mastering off before anything is unmapped. */
int edu_detach(struct edu *e);

/* Copy len bytes (1..4095, dev_off + len <= EDU_DMA_END_MAX) between the bus
 * address bus (IOVA-contiguous for len bytes: udma_iova_contig) and the
 * device buffer at dev_off; wait for completion. 0, -EINVAL (range),
 * -ERANGE (bus address beyond the DMA mask), -EBUSY, -ETIMEDOUT (the
 * transfer may still complete: the device is then wedged), -EIO (wedged by
 * an earlier timeout: detach), ... */
int edu_dma_to_device(struct edu *e, uint64_t bus, unsigned dev_off, size_t len, enum edu_wait how);
int edu_dma_from_device(struct edu *e, unsigned dev_off, uint64_t bus, size_t len, enum edu_wait how);

/* Raise an interrupt by register (EDU_REG_IRQ_RAISE) and wait for it: checks
 * the interrupt path without DMA. */
int edu_irq_selftest(struct edu *e, uint32_t cause);

/* Register access (device memory: every access happens, in order). */
uint32_t edu_rd32(const struct edu *e, unsigned off);
void edu_wr32(struct edu *e, unsigned off, uint32_t v);
uint64_t edu_rd64(const struct edu *e, unsigned off);
void edu_wr64(struct edu *e, unsigned off, uint64_t v);

#endif
