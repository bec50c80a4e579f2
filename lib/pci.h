/* SPDX-License-Identifier: MIT */
/*
 * What the two backends for real PCI functions (dev_uio.c, dev_vfio.c) share:
 * PCI addresses, sysfs (driver binding, BAR files) and the command register
 * in config space.
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

#include "device_internal.h"

#define UDMA_PCI_BARS	  6
#define UDMA_PCI_ADDR_LEN 13 /* "0000:00:03.0" and its NUL */

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

/* "$UDMA_SYSFS_ROOT/..." or "/sys/...": -ENAMETOOLONG if it does not fit. */
UDMA_HIDDEN int udma__sysfs_path(char *buf, size_t len, const char *fmt, ...) UDMA_PRINTF(3, 4);
/* The first line of a small file, without its newline: 0 or -errno (no message). */
UDMA_HIDDEN int udma__read_line(const char *path, char *buf, size_t len);
/* The last path component of a symlink's target: 0 or -errno (no message). */
UDMA_HIDDEN int udma__link_name(const char *path, char *buf, size_t len);

/* 0 if /sys/bus/pci/devices/addr exists; else -ENOENT saying how to list devices. */
UDMA_HIDDEN int udma__pci_exists(const char *who, const char *addr);
/* The driver addr is bound to, "" when none. */
UDMA_HIDDEN int udma__pci_driver(const char *addr, char *drv, size_t len);
/* Bind addr to driver (module: what to modprobe when it is not loaded) via
 * driver_override and drivers_probe, unbinding its current driver first.
 * Needs root; the errors say so and what to run instead. */
UDMA_HIDDEN int udma__pci_bind(const char *who, const char *addr, const char *driver, const char *module);

/* Read-modify-write the command register of the config space that fd holds
 * at offset base (sysfs "config": 0; VFIO: its config region). */
UDMA_HIDDEN int udma__pci_command(const char *who, int fd, off_t base, uint16_t set, uint16_t clear);

/* Map every memory BAR of addr through sysfs resourceN (UIO). */
UDMA_HIDDEN int udma__pci_map_bars(const char *who, const char *addr, struct udma_pci_bars *b);
UDMA_HIDDEN void udma__pci_unmap_bars(struct udma_pci_bars *b);
/* The ops->bar of both backends (their private struct holds b). */
UDMA_HIDDEN int udma__pci_bar(const char *who, const struct udma_pci_bars *b, unsigned bar, void **addr,
			      size_t *len);

#endif
