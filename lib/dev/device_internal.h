/* SPDX-License-Identifier: MIT */
/*
 * lib/dev: the device layer. device.c parses a spec and hands it to a
 * backend: the simulated device in a thread (dev_sim.c) or in udma-simd
 * (dev_simproc.c), a PCI function through UIO (dev_uio.c) or VFIO (dev_vfio*.c,
 * pci*.c); it keeps every region of the context mapped for every attached
 * device, hearing of regions as a memory-event subscriber. Uses lib/mem (regions, their IOVAs), lib/os, lib/base and sim/
 * (the device model, its protocol and register map). This header: what the
 * backends share.
 */
#ifndef UDMA_DEVICE_INTERNAL_H
#define UDMA_DEVICE_INTERNAL_H

#include "lib/mem/mem.h"

/* The context's state slot of the device layer (udma__ctx_state; pools and
 * the heap have 0 and 1: lib/alloc/alloc.h). */
#define UDMA_CTX_SLOT_DEVICES 2

#define UDMA_DEV_NAME_MAX 32

/* What the spec asked for, parsed by device.c. */
struct udma_dev_args {
	char name[UDMA_DEV_NAME_MAX];
	unsigned queues;   /* 0: the backend's default */
	size_t block_size; /* 0: no block store */
	char socket[108];  /* "sim:NAME@PATH": the device process's socket; "" in-process */
	bool peer_uid_set; /* "peer_uid=N": the device process may also run as uid N */
	uint32_t peer_uid;
};

struct udma_dev;

/* A backend. Every op returns 0 or a negative errno with udma__err set. */
struct udma_dev_ops {
	const char *kind;
	int (*open)(struct udma_dev *dev, const struct udma_dev_args *args);
	void (*close)(struct udma_dev *dev);
	/* Optional: stop the device's DMA and interrupts. udma_dev_close calls
	 * it first, before any region is unmapped: without an IOMMU (UIO)
	 * nothing else keeps the device out of memory that is about to go. */
	void (*quiesce)(struct udma_dev *dev);
	/* Optional: instead of close when attaching failed after a successful
	 * open (rc): undo all the open did, a driver binding included. Returns
	 * rc with its message kept. */
	int (*undo_open)(struct udma_dev *dev, int rc);
	/* In a forked child, at udma_ctx_destroy: close the child's copies of
	 * the backend's fds and free its state, touching neither the device
	 * (the parent's) nor the BARs (never mapped in a child). */
	void (*release_inherited)(struct udma_dev *dev);
	int (*bar)(struct udma_dev *dev, unsigned bar, void **addr, size_t *len);
	/* Optional (NULL: the device has no I/O BARs, no config space). io:
	 * width and val already checked by device.c. */
	int (*io)(struct udma_dev *dev, unsigned bar, uint64_t off, void *val, unsigned width, bool write);
	int (*config_read)(struct udma_dev *dev, unsigned off, void *buf, size_t len);
	int (*irq_fd)(struct udma_dev *dev, unsigned vector);
	int (*irq_ack)(struct udma_dev *dev, unsigned vector);
	int (*notify)(struct udma_dev *dev);
	/* The device's IOMMU: [iova, iova + len) reaches host, which lies in r.
	 * Called with ctx->lock held, so it must not take it. */
	int (*map)(struct udma_dev *dev, struct udma_region *r, uint64_t iova, void *host, size_t len);
	void (*unmap)(struct udma_dev *dev, uint64_t iova);
};

/* A context's devices (its state slot), under ctx->lock. */
struct udma_dev_layer {
	struct udma_dev *devices;
};

struct udma_dev {
	struct udma_ctx *ctx;
	struct udma_dev_layer *layer;
	struct udma_dev *next; /* layer->devices, under ctx->lock */
	const struct udma_dev_ops *ops;
	char name[UDMA_DEV_NAME_MAX];
	void *priv; /* the backend's */
};

/* dev_sim_io.c: what both simulated-device backends share. Their private
 * struct starts with one of these (dev->priv points to it). */
struct udma_sim_io {
	void *bar;
	int doorbell_fd, irq_fd;
	atomic_int gone;    /* the device process died */
	char gone_why[256]; /* how, written before gone is set */
};
UDMA_HIDDEN int udma__sim_io_open(struct udma_sim_io *io, const char *name); /* the eventfds */
UDMA_HIDDEN void udma__sim_io_close(struct udma_sim_io *io);
UDMA_HIDDEN int udma__sim_bar(struct udma_dev *dev, unsigned bar, void **addr, size_t *len);
UDMA_HIDDEN int udma__sim_irq_fd(struct udma_dev *dev, unsigned vector);
UDMA_HIDDEN int udma__sim_irq_ack(struct udma_dev *dev, unsigned vector);
UDMA_HIDDEN int udma__sim_notify(struct udma_dev *dev);

UDMA_HIDDEN extern const struct udma_dev_ops udma__dev_sim_ops;
UDMA_HIDDEN extern const struct udma_dev_ops udma__dev_simproc_ops;
UDMA_HIDDEN extern const struct udma_dev_ops udma__dev_uio_ops;	 /* dev_uio.c */
UDMA_HIDDEN extern const struct udma_dev_ops udma__dev_vfio_ops; /* dev_vfio.c */

#endif
