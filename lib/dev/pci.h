/* SPDX-License-Identifier: MIT */
/*
 * What the two backends for real PCI functions (dev_uio.c, dev_vfio.c) share:
 * PCI addresses, sysfs (BAR files, the command register in config space) in
 * pci.c, driver binding in pci_bind.c, and in pci_fn.c the steps of a
 * function's life as a udma device that do not depend on how it is reached
 * (bus mastering on and off, the undo of a failed open, close, a forked
 * child's release, its BARs). Each backend keeps its own open, whose steps
 * differ in kind and order, and its own files.
 *
 * Test hook: sysfs is read under $UDMA_SYSFS_ROOT instead of /sys when that
 * is set (ignored in set-user-ID programs), so tests can check the binding
 * logic against a fake tree. Device nodes (/dev/...) are never redirected.
 */
#ifndef UDMA_PCI_H
#define UDMA_PCI_H

#include <stdbool.h>
#include <stdint.h>
#include <sys/types.h>

#include "lib/dev/device_internal.h"

#define UDMA_PCI_BARS	  6
#define UDMA_PCI_ADDR_LEN 13 /* "0000:00:03.0" and its NUL */
#define UDMA_PCI_DRV_LEN  64

/* Config space: the command register and the bits udma touches. */
#define UDMA_PCI_COMMAND	      0x04
#define UDMA_PCI_COMMAND_MEMORY	      0x0002 /* decode memory BARs */
#define UDMA_PCI_COMMAND_MASTER	      0x0004 /* bus mastering: without it DMA does nothing */
#define UDMA_PCI_COMMAND_INTX_DISABLE 0x0400 /* set by the kernel when it masks INTx */
#define UDMA_PCI_BAR0		      0x10   /* the first BAR register; BAR n at 0x10 + 4n */
#define UDMA_PCI_BAR_IO		      0x1    /* bit 0 of a BAR register: an I/O port BAR */

/* The BARs a backend mapped; len 0: not mapped, why[] says why. I/O port
 * BARs cannot be mapped: they are read and written with pread/pwrite on
 * io_fd at io_off + offset (io_len 0: not an I/O BAR). */
struct udma_pci_bars {
	void *addr[UDMA_PCI_BARS];
	size_t len[UDMA_PCI_BARS];
	const char *why[UDMA_PCI_BARS];
	int io_fd[UDMA_PCI_BARS]; /* -1: resourceN would not open, io_err says why */
	int io_err[UDMA_PCI_BARS];
	bool io_fd_owned[UDMA_PCI_BARS]; /* UIO's own fd on resourceN; VFIO's is the device fd */
	off_t io_off[UDMA_PCI_BARS];
	uint64_t io_len[UDMA_PCI_BARS];
};

/* device.c: what follows "uio:" or "vfio:". uio takes /dev/uioN too. The
 * canonical form ("0000:00:03.0" or "/dev/uio0") goes to out. */
UDMA_HIDDEN int udma__pci_parse_spec(const char *spec, const char *rest, bool uio, char *out, size_t len);

/* "$UDMA_SYSFS_ROOT/..." or "/sys/...": 0, or -ENAMETOOLONG with a message. */
UDMA_HIDDEN int udma__sysfs_path(char *buf, size_t len, const char *fmt, ...) UDMA_PRINTF(3, 4);
/* The first line of a small file, without its newline: 0 or -errno (no message). */
UDMA_HIDDEN int udma__read_line(const char *path, char *buf, size_t len);
/* The last path component of a symlink's target: 0 or -errno (no message). */
UDMA_HIDDEN int udma__link_name(const char *path, char *buf, size_t len);
/* Write s to a sysfs attribute: 0 or -errno (-EIO for a short write; no message). */
UDMA_HIDDEN int udma__sysfs_write(const char *path, const char *s);

/* 0 if /sys/bus/pci/devices/addr exists; else -ENOENT saying how to list devices. */
UDMA_HIDDEN int udma__pci_exists(const char *who, const char *addr);
/* The driver addr is bound to, "" when none. */
UDMA_HIDDEN int udma__pci_driver(const char *addr, char *drv, size_t len);
/* The IOMMU group of addr ("7") in id; "" when it has none (no IOMMU). */
UDMA_HIDDEN int udma__pci_group(const char *who, const char *addr, char *id, size_t len);

/* The UIO device sysfs lists under addr ("uio0") in name: 0, -ENOENT when it
 * has none, or -errno when it cannot be listed (no message). */
UDMA_HIDDEN int udma__pci_uio_name(const char *addr, char *name, size_t len);

/* What udma__pci_bind did, so that a failed open can undo it. */
struct udma_pci_binding {
	bool moved;			 /* udma changed the binding: give it back on failure */
	char prev[UDMA_PCI_DRV_LEN];	 /* the driver it had, "" none */
	char override[UDMA_PCI_DRV_LEN]; /* driver_override before, "(null)" none */
};

/*
 * Bind addr to driver (module: what to modprobe when it is not loaded) via
 * driver_override and drivers_probe. Only a function with no driver, or one
 * on the other udma driver (uio_pci_generic <-> vfio-pci) that no process
 * uses, is moved; any other is -EBUSY with the commands to move it by hand.
 * A bind that fails is undone (udma__pci_give_back). Needs root; the errors
 * say so and what to run instead. b says what was done.
 */
UDMA_HIDDEN int udma__pci_bind(const char *who, const char *addr, const char *driver, const char *module,
			       struct udma_pci_binding *b);
/* Undo a bind b->moved says was made: back to b->prev (or no driver) and the
 * old driver_override. 0, or -errno with the commands to do it by hand. */
UDMA_HIDDEN int udma__pci_give_back(const char *who, const char *addr, const struct udma_pci_binding *b);
/* Something failed with rc and message msg after the bind b: give it back
 * (nothing if !b->moved or addr is ""). Returns rc, with msg and what became
 * of the binding. */
UDMA_HIDDEN int udma__pci_give_back_after(int rc, const char *msg, const char *who, const char *addr,
					  const struct udma_pci_binding *b);
/* Whether a process holds a lock (flock, as the UIO backend takes) on the
 * file at path: 1 yes, 0 no (or no such file), -errno on failure to tell. */
UDMA_HIDDEN int udma__file_locked(const char *path);

/* The head of a PCI backend's private struct (dev->priv points to both): what
 * the shared steps below work on. */
struct udma_pci_fn {
	/* The backend's: udma__pci_fn_detach, then close its files and free
	 * the struct. */
	void (*release)(struct udma_pci_fn *fn);
	struct udma_pci_bars bars;
	struct udma_pci_binding bind; /* what the open did to bind it */
	int cfg_fd;		      /* config space: sysfs config (UIO), the device fd (VFIO); -1 none */
	off_t cfg_off;		      /* where config space starts in cfg_fd */
	size_t cfg_len;		      /* its size: 256, or 4096 for PCI Express */
	bool mastering;		      /* we turned bus mastering on */
	char who[48];		      /* "uio:0000:00:03.0", for messages */
	char addr[UDMA_PCI_ADDR_LEN]; /* "" if not a PCI function (a UIO device can be other) */
};

/* Read-modify-write the command register in fn's config space. */
UDMA_HIDDEN int udma__pci_command(struct udma_pci_fn *fn, uint16_t set, uint16_t clear);

/* Map every memory BAR of addr through sysfs resourceN (UIO), open every
 * I/O port BAR's resourceN for udma__pci_io. */
UDMA_HIDDEN int udma__pci_map_bars(const char *who, const char *addr, struct udma_pci_bars *b);
UDMA_HIDDEN void udma__pci_unmap_bars(struct udma_pci_bars *b);

/* pci_fn.c. A zeroed private struct of size bytes headed by a udma_pci_fn
 * named "kind:name", no config fd yet; NULL (message set) out of memory. */
UDMA_HIDDEN void *udma__pci_fn_new(size_t size, const char *kind, const char *name,
				   void (*release)(struct udma_pci_fn *fn));
/* The open's last config step: memory decoding and bus mastering on (without
 * it DMA silently does nothing), the bits in clear off. */
UDMA_HIDDEN int udma__pci_fn_enable(struct udma_pci_fn *fn, uint16_t clear);
/* For quiesce: bus mastering off (and the bits in set on); a report in the
 * log if the device cannot be stopped. */
UDMA_HIDDEN void udma__pci_fn_quiesce(struct udma_pci_fn *fn, uint16_t set);
/* For release: bus mastering off if we turned it on, the BARs unmapped. */
UDMA_HIDDEN void udma__pci_fn_detach(struct udma_pci_fn *fn);
/* An open failed with rc: release fn (its clean-up may fail and overwrite the
 * message), then give back the binding it made. Returns rc, with the open's
 * message and what became of the binding. */
UDMA_HIDDEN int udma__pci_fn_unwind(struct udma_pci_fn *fn, int rc);

/* Ops both backends take as they are. */
UDMA_HIDDEN void udma__pci_close(struct udma_dev *dev);
/* The attach failed after the open: undo the open, the binding too. */
UDMA_HIDDEN int udma__pci_undo_open(struct udma_dev *dev, int rc);
/* A forked child's: the BARs were never mapped there (MADV_DONTFORK) and bus
 * mastering is the parent's; only the child's copies of the fds go. */
UDMA_HIDDEN void udma__pci_release_inherited(struct udma_dev *dev);
UDMA_HIDDEN int udma__pci_bar(struct udma_dev *dev, unsigned bar, void **addr, size_t *len);
UDMA_HIDDEN int udma__pci_io(struct udma_dev *dev, unsigned bar, uint64_t off, void *val, unsigned width,
			     bool write);
UDMA_HIDDEN int udma__pci_config_read(struct udma_dev *dev, unsigned off, void *buf, size_t len);

#endif
