/* SPDX-License-Identifier: MIT */
/*
 * What the two backends for real PCI functions (dev_uio.c, dev_vfio.c) share:
 * PCI addresses, sysfs (BAR files, the command register in config space) in
 * pci.c, driver binding in pci_bind.c.
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

/* The BARs a backend mapped; len 0: not mapped, why[] says why. */
struct udma_pci_bars {
	void *addr[UDMA_PCI_BARS];
	size_t len[UDMA_PCI_BARS];
	const char *why[UDMA_PCI_BARS];
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
/* Whether a process holds a lock (flock, as the UIO backend takes) on the
 * file at path: 1 yes, 0 no (or no such file), -errno on failure to tell. */
UDMA_HIDDEN int udma__file_locked(const char *path);

/* An open failed with rc: release(priv) frees what it took (its clean-up may
 * fail and overwrite the message), then the binding b is given back (NULL or
 * !b->moved: nothing to give back). Returns rc, with the open's message and
 * what became of the binding. */
UDMA_HIDDEN int udma__pci_unwind(int rc, void (*release)(void *priv), void *priv, const char *who,
				 const char *addr, const struct udma_pci_binding *b);

/* Read-modify-write the command register of the config space that fd holds
 * at offset base (sysfs "config": 0; VFIO: its config region). */
UDMA_HIDDEN int udma__pci_command(const char *who, int fd, off_t base, uint16_t set, uint16_t clear);

/* Map every memory BAR of addr through sysfs resourceN (UIO). */
UDMA_HIDDEN int udma__pci_map_bars(const char *who, const char *addr, struct udma_pci_bars *b);
UDMA_HIDDEN void udma__pci_unmap_bars(struct udma_pci_bars *b);
/* A forked child's: the BARs were never mapped there (MADV_DONTFORK). */
UDMA_HIDDEN void udma__pci_forget_bars(struct udma_pci_bars *b);
/* The ops->bar of both backends (their private struct holds b). */
UDMA_HIDDEN int udma__pci_bar(const char *who, const struct udma_pci_bars *b, unsigned bar, void **addr,
			      size_t *len);

#endif
