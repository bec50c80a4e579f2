/* SPDX-License-Identifier: MIT */
/*
 * A PCI function through UIO ("uio:0000:00:03.0" or "uio:/dev/uioN"),
 * normally bound to uio_pci_generic. UIO has no IOMMU: the device reaches
 * memory by physical address, so the context must be in PA mode and there is
 * nothing to map (the device sees all of memory, ours and everyone else's).
 *
 * The uio fd is the interrupt fd: readable once an interrupt came, read()
 * consumes it. uio_pci_generic offers INTx only and masks it (the command
 * register's INTx-disable bit) in its handler; it has no irqcontrol (write()
 * gives ENOSYS), so udma_dev_irq_ack unmasks through config space. It also
 * clears bus mastering whenever a file of /dev/uioN is closed, so we set it
 * after opening, and a second user's close would clear it under the first:
 * an open takes an exclusive flock on the node, and a second open sees that
 * lock in /proc/locks before it opens anything.
 *
 * Physical addresses reach memory only if no IOMMU translates the function's
 * DMA: its IOMMU group, when it has one, must be of type "identity".
 */
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/file.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <unistd.h>

#include "lib/dev/pci.h"

#define UIO_MAX_MAPS 5 /* the kernel's MAX_UIO_MAPS */

struct uio_dev {
	struct udma_pci_fn pci; /* first: dev->priv is both; cfg_fd is the sysfs config */
	int fd;			/* /dev/uioN */
	char uio[16];		/* "uio0" */
};

/* The uioN sysfs lists under the PCI function, into u->uio. */
static int find_uio(struct uio_dev *u)
{
	return udma__pci_uio_name(u->pci.addr, u->uio, sizeof(u->uio));
}

static int uio_list_failed(const struct uio_dev *u, int rc)
{
	return udma__err(-rc, "%s: cannot look for its UIO device under /sys/bus/pci/devices/%s/uio: %s",
			 u->pci.who, u->pci.addr, udma__strerror(-rc));
}

/* No IOMMU between the function and memory, or one in passthrough. */
static int check_passthrough(struct uio_dev *u)
{
	char group[16], path[PATH_MAX], type[32];
	int rc;

	if ((rc = udma__pci_group(u->pci.who, u->pci.addr, group, sizeof(group))) || !group[0])
		return rc;
	if ((rc = udma__sysfs_path(path, sizeof(path), "/kernel/iommu_groups/%s/type", group)))
		return rc;
	rc = udma__read_line(path, type, sizeof(type));
	if (rc == -ENOENT || (!rc && !strcmp(type, "identity")))
		return 0; /* no type file before Linux 5.11: cannot tell */
	if (rc)
		return udma__err(-rc, "%s: cannot read %s: %s", u->pci.who, path, udma__strerror(-rc));
	return udma__err(ENOTSUP,
			 "%s: an IOMMU translates its DMA (IOMMU group %s is of type %s), so it cannot reach "
			 "the physical addresses UIO gives it: boot with iommu=pt, or use vfio:%s in VA mode",
			 u->pci.who, group, type, u->pci.addr);
}

/* "uio:ADDR": bind it to uio_pci_generic unless a UIO driver has it already. */
static int by_address(struct uio_dev *u, const char *addr)
{
	char drv[UDMA_PCI_DRV_LEN];
	int rc;

	memcpy(u->pci.addr, addr, sizeof(u->pci.addr) - 1); /* canonical: device.c parsed it */
	if ((rc = udma__pci_exists(u->pci.who, addr)) || (rc = check_passthrough(u)))
		return rc;
	/* Only no UIO device (ENOENT) calls for a bind; failing to look is that failure. */
	if ((rc = find_uio(u)) != -ENOENT)
		return rc ? uio_list_failed(u, rc) : 0;
	if ((rc = udma__pci_bind(u->pci.who, addr, "uio_pci_generic", "uio_pci_generic", &u->pci.bind)))
		return rc;
	if ((rc = find_uio(u)) && rc != -ENOENT)
		return uio_list_failed(u, rc);
	if (rc) {
		if (udma__pci_driver(addr, drv, sizeof(drv)))
			drv[0] = 0;
		return udma__err(ENODEV,
				 "%s: bound to %s but it made no UIO device (uio_pci_generic refuses "
				 "functions that cannot mask INTx: dmesg says)",
				 u->pci.who, drv[0] ? drv : "no driver");
	}
	return 0;
}

/* "uio:/dev/uioN": find out from sysfs whether it is a PCI function. */
static int by_node(struct uio_dev *u, const char *node)
{
	char path[PATH_MAX], link[64];
	int rc;

	snprintf(u->uio, sizeof(u->uio), "%s", node + 5);
	if ((rc = udma__sysfs_path(path, sizeof(path), "/class/uio/%s", u->uio)))
		return rc;
	if (access(path, F_OK))
		return udma__err(ENOENT,
				 "%s: no UIO device %s (ls /sys/class/uio lists them; a PCI function "
				 "appears there once bound to uio_pci_generic: uio:ADDR binds it)",
				 u->pci.who, u->uio);
	if ((rc = udma__sysfs_path(path, sizeof(path), "/class/uio/%s/device", u->uio)))
		return rc;
	if (udma__link_name(path, link, sizeof(link)) || strlen(link) >= sizeof(u->pci.addr))
		return 0; /* not a PCI function: its maps are its BARs */
	if ((rc = udma__sysfs_path(path, sizeof(path), "/bus/pci/devices/%s", link)))
		return rc;
	if (access(path, F_OK))
		return 0;
	strcpy(u->pci.addr, link);
	return check_passthrough(u);
}

/* A UIO device that is not a PCI function: BAR n is its map n. */
static int map_uio_maps(struct uio_dev *u)
{
	char path[PATH_MAX], line[32];
	unsigned i;
	int rc;

	for (i = 0; i < UIO_MAX_MAPS; i++) {
		unsigned long long size;
		void *p;

		if ((rc = udma__sysfs_path(path, sizeof(path), "/class/uio/%s/maps/map%u/size", u->uio, i)))
			return rc;
		rc = udma__read_line(path, line, sizeof(line));
		if (rc && rc != -ENOENT)
			return udma__err(-rc, "%s: cannot read %s: %s", u->pci.who, path,
					 udma__strerror(-rc));
		if (rc || sscanf(line, "%llx", &size) != 1 || !size) {
			u->pci.bars.why[i] = "the UIO device has no such map";
			continue;
		}
		/* UIO selects map i by the mmap offset: i pages. */
		p = udma__mmap_nofork(size, PROT_READ | PROT_WRITE, MAP_SHARED, u->fd,
				      (off_t)i * getpagesize());
		if (p == MAP_FAILED)
			return udma__err(errno, "%s: cannot map its map %u (%llu bytes): %s", u->pci.who, i,
					 size, udma__vm_strerror(errno));
		u->pci.bars.addr[i] = p;
		u->pci.bars.len[i] = (size_t)size;
	}
	return 0;
}

static void uio_release(struct udma_pci_fn *fn)
{
	struct uio_dev *u = (struct uio_dev *)fn;

	/* uio_pci_generic stops bus mastering when the fd closes; other UIO
	 * drivers may not. */
	udma__pci_fn_detach(fn);
	if (fn->cfg_fd >= 0)
		close(fn->cfg_fd);
	if (u->fd >= 0)
		close(u->fd);
	free(u);
}

static int node_busy(const struct uio_dev *u, const char *node)
{
	return udma__err(EBUSY,
			 "%s: %s is in use: another udma device has it open, in this process or another "
			 "(UIO gives a function to one user: close that one first)",
			 u->pci.who, node);
}

/* Lost a race for the lock to another opener: our close makes uio_pci_generic
 * clear bus mastering, which is that user's, so it is put back. */
static int lost_race(struct uio_dev *u, const char *node)
{
	uint16_t cmd = 0;
	bool master = u->pci.cfg_fd >= 0 &&
		      pread(u->pci.cfg_fd, &cmd, sizeof(cmd), UDMA_PCI_COMMAND) == (ssize_t)sizeof(cmd) &&
		      (cmd & UDMA_PCI_COMMAND_MASTER);

	close(u->fd);
	u->fd = -1;
	if (master)
		udma__pci_command(&u->pci, UDMA_PCI_COMMAND_MASTER, 0);
	return node_busy(u, node);
}

static int open_node(struct uio_dev *u)
{
	char node[32];
	int rc;

	snprintf(node, sizeof(node), "/dev/%s", u->uio);
	/* Before opening: closing a second file of it would stop its DMA. */
	if ((rc = udma__file_locked(node)) > 0)
		return node_busy(u, node);
	if (rc < 0)
		return udma__err(-rc, "%s: cannot tell whether %s is in use (/proc/locks): %s", u->pci.who,
				 node, udma__strerror(-rc));
	/* Non-blocking: irq_ack consumes an interrupt only if one came. */
	u->fd = open(node, O_RDWR | O_CLOEXEC | O_NONBLOCK);
	if (u->fd < 0) {
		if (errno == ENOENT)
			return udma__err(ENOENT,
					 "%s: sysfs has %s but there is no %s: mount devtmpfs on /dev (mount "
					 "-t devtmpfs none /dev)",
					 u->pci.who, u->uio, node);
		return udma__err(errno, "%s: cannot open %s: %s%s", u->pci.who, node, udma__strerror(errno),
				 errno == EACCES ? " (run as root, or give this user the device node)" : "");
	}
	if (flock(u->fd, LOCK_EX | LOCK_NB) == 0)
		return 0;
	if (errno == EWOULDBLOCK)
		return lost_race(u, node);
	return udma__err(errno, "%s: flock on %s: %s", u->pci.who, node, udma__strerror(errno));
}

static int open_cfg(struct uio_dev *u)
{
	char path[PATH_MAX];
	struct stat st;
	int rc;

	if ((rc = udma__sysfs_path(path, sizeof(path), "/bus/pci/devices/%s/config", u->pci.addr)))
		return rc;
	u->pci.cfg_fd = open(path, O_RDWR | O_CLOEXEC);
	if (u->pci.cfg_fd < 0)
		return udma__err(errno, "%s: cannot open its config space %s: %s%s", u->pci.who, path,
				 udma__strerror(errno), errno == EACCES ? " (needs root)" : "");
	/* 256 bytes, or 4096 for PCI Express: the file's size says which. */
	if (fstat(u->pci.cfg_fd, &st))
		return udma__err(errno, "%s: cannot stat %s: %s", u->pci.who, path, udma__strerror(errno));
	u->pci.cfg_len = (size_t)st.st_size;
	return 0;
}

static int open_pci(struct uio_dev *u)
{
	int rc;

	if ((rc = udma__pci_map_bars(u->pci.who, u->pci.addr, &u->pci.bars)))
		return rc;
	/* INTx unmasked too, in case a previous user left it masked. */
	return udma__pci_fn_enable(&u->pci, UDMA_PCI_COMMAND_INTX_DISABLE);
}

static int uio_open(struct udma_dev *dev, const struct udma_dev_args *a)
{
	struct uio_dev *u;
	int rc;

	if (udma_ctx_iova_mode(dev->ctx) != UDMA_IOVA_PA)
		return udma__err(EINVAL,
				 "uio:%s: UIO has no IOMMU, so the device reaches memory by physical "
				 "address and needs a context in PA mode: create it with .iova_mode = "
				 "UDMA_IOVA_PA (as root), or use vfio:ADDR with an IOMMU",
				 a->name);
	if (!(u = udma__pci_fn_new(sizeof(*u), "uio", a->name, uio_release)))
		return -ENOMEM;
	u->fd = -1;
	rc = a->name[0] == '/' ? by_node(u, a->name) : by_address(u, a->name);
	if (!rc && u->pci.addr[0])
		rc = open_cfg(u);
	if (!rc)
		rc = open_node(u);
	if (!rc)
		rc = u->pci.addr[0] ? open_pci(u) : map_uio_maps(u);
	if (rc)
		return udma__pci_fn_unwind(&u->pci, rc);
	dev->priv = u;
	return 0;
}

/* Before anything is unmapped: no IOMMU stops the device, only this does. */
static void uio_quiesce(struct udma_dev *dev)
{
	struct uio_dev *u = dev->priv;
	uint32_t off = 0;

	if (u->pci.cfg_fd < 0) {
		/* Not PCI: mask its interrupt if the UIO driver can. */
		if (write(u->fd, &off, sizeof(off)) < 0 && errno != ENOSYS)
			udma__log(UDMA_LOG_ERR, "%s: masking its interrupt: %s", u->pci.who,
				  udma__strerror(errno));
		return;
	}
	udma__pci_fn_quiesce(&u->pci, UDMA_PCI_COMMAND_INTX_DISABLE);
}

static int uio_irq_fd(struct udma_dev *dev, unsigned vector)
{
	struct uio_dev *u = dev->priv;

	if (vector != 0)
		return udma__err(EINVAL, "%s: UIO has one interrupt (vector 0), not vector %u", u->pci.who,
				 vector);
	return u->fd;
}

/* Consume the event count, then unmask: an interrupt after this is new. */
static int uio_irq_ack(struct udma_dev *dev, unsigned vector)
{
	struct uio_dev *u = dev->priv;
	uint32_t count, on = 1;
	int rc;

	if ((rc = uio_irq_fd(dev, vector)) < 0)
		return rc;
	if (read(u->fd, &count, sizeof(count)) < 0 && errno != EAGAIN)
		return udma__err(errno, "%s: reading its interrupt count: %s%s", u->pci.who,
				 udma__strerror(errno),
				 errno == EIO ? " (the device has no interrupt line)" : "");
	if (u->pci.cfg_fd >= 0)
		return udma__pci_command(&u->pci, 0, UDMA_PCI_COMMAND_INTX_DISABLE);
	/* Not PCI: the UIO driver's irqcontrol, if it has one, unmasks. */
	if (write(u->fd, &on, sizeof(on)) < 0 && errno != ENOSYS)
		return udma__err(errno, "%s: re-enabling its interrupt: %s", u->pci.who,
				 udma__strerror(errno));
	return 0;
}

/* No IOMMU: the device sees physical memory, the IOVA udma_iova gives. */
static int uio_map(struct udma_dev *dev, struct udma_region *r, uint64_t iova, void *host, size_t len)
{
	(void)dev, (void)r, (void)iova, (void)host, (void)len;
	return 0;
}

static void uio_unmap(struct udma_dev *dev, uint64_t iova)
{
	(void)dev, (void)iova;
}

const struct udma_dev_ops udma__dev_uio_ops = {
	.kind = "uio",
	.open = uio_open,
	.close = udma__pci_close,
	.release_inherited = udma__pci_release_inherited,
	.quiesce = uio_quiesce,
	.undo_open = udma__pci_undo_open,
	.bar = udma__pci_bar,
	.io = udma__pci_io,
	.config_read = udma__pci_config_read,
	.irq_fd = uio_irq_fd,
	.irq_ack = uio_irq_ack,
	.map = uio_map,
	.unmap = uio_unmap,
};
