/* SPDX-License-Identifier: MIT */
/*
 * Binding a PCI function to the driver a backend needs (uio_pci_generic,
 * vfio-pci), and giving it back when the open fails.
 *
 * udma moves a function only when that harms nobody: from no driver, or from
 * the other udma driver when no process uses it there. Any other driver may
 * carry the root filesystem or the network this session runs over, so it is
 * refused with the commands that move it by hand. "In use": a vfio-pci
 * function whose group node opens with EBUSY (unbinding it would block until
 * its user lets go), a uio_pci_generic one whose /dev/uioN someone holds a
 * lock on (the UIO backend takes one; a process that opened it without one is
 * not seen). The check is not opening /dev/uioN: uio_pci_generic clears bus
 * mastering whenever a file of it is closed, under its user's feet.
 */
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/sysmacros.h>
#include <unistd.h>

#include "lib/dev/pci.h"

#define UIO_DRIVER  "uio_pci_generic"
#define VFIO_DRIVER "vfio-pci"

int udma__file_locked(const char *path)
{
	char line[256];
	struct stat st;
	FILE *f;
	int found = 0;

	if (stat(path, &st))
		return errno == ENOENT ? 0 : -errno;
	f = fopen("/proc/locks", "re");
	if (!f)
		return -errno;
	/* "1: FLOCK  ADVISORY  WRITE 1234 00:05:321 0 EOF"; "1: -> ..." waits. */
	while (!found && fgets(line, sizeof(line), f)) {
		unsigned maj, min;
		unsigned long ino;
		char kind[16];

		if (sscanf(line, "%*u: %15s", kind) != 1 || !strcmp(kind, "->"))
			continue;
		if (sscanf(line, "%*u: %*s %*s %*s %*d %x:%x:%lu", &maj, &min, &ino) == 3)
			found = maj == major(st.st_dev) && min == minor(st.st_dev) && ino == st.st_ino;
	}
	fclose(f);
	return found;
}

/* "echo ADDR > .../driver/unbind; " */
static const char *unbind_cmd(char *buf, size_t len, const char *addr)
{
	snprintf(buf, len, "echo %s > /sys/bus/pci/devices/%s/driver/unbind; ", addr, addr);
	return buf;
}

/* The commands that move addr to driver by hand (bound: it has a driver now). */
static const char *by_hand(char *buf, size_t len, const char *addr, bool bound, const char *driver)
{
	char unbind[128];

	snprintf(buf, len,
		 "%secho %s > /sys/bus/pci/devices/%s/driver_override; echo %s > /sys/bus/pci/drivers_probe",
		 bound ? unbind_cmd(unbind, sizeof(unbind), addr) : "", driver, addr, addr);
	return buf;
}

/* A vfio-pci function is idle when its group opens (VFIO lets one file have
 * a group; one that opened the device through its cdev blocks it too). */
static int vfio_idle(const char *who, const char *addr, const char *cmds)
{
	char group[16], node[48];
	int fd, rc;

	if ((rc = udma__pci_group(who, addr, group, sizeof(group))))
		return rc;
	snprintf(node, sizeof(node), "/dev/vfio/%s", group);
	fd = group[0] ? open(node, O_RDWR | O_CLOEXEC) : -1;
	if (fd >= 0) {
		close(fd);
		return 0;
	}
	if (group[0] && errno == EBUSY)
		return udma__err(EBUSY,
				 "%s: %s is on %s and in use (%s is open in some process): close it there, "
				 "then as root: %s",
				 who, addr, VFIO_DRIVER, node, cmds);
	if (group[0] && (errno == EMFILE || errno == ENFILE))
		return udma__err(errno, "%s: cannot open %s to tell whether %s is in use: %s", who, node,
				 addr, udma__strerror(errno));
	return udma__err(EBUSY,
			 "%s: %s is on %s and udma cannot tell whether it is in use (%s: %s): if it is "
			 "not, as root: %s",
			 who, addr, VFIO_DRIVER, group[0] ? node : "no IOMMU group",
			 group[0] ? udma__strerror(errno) : "?", cmds);
}

/* A uio_pci_generic function is idle when nobody holds a lock on its node. */
static int uio_idle(const char *who, const char *addr, const char *cmds)
{
	char uio[32], node[64];
	int rc = udma__pci_uio_name(addr, uio, sizeof(uio));

	if (rc == -ENOENT)
		return 0; /* no UIO device: nobody can use it */
	if (rc)
		return udma__err(-rc,
				 "%s: cannot look for %s's UIO device in /sys/bus/pci/devices/%s/uio: %s",
				 who, addr, addr, udma__strerror(-rc));
	snprintf(node, sizeof(node), "/dev/%s", uio);
	rc = udma__file_locked(node);
	if (rc == 0)
		return 0;
	if (rc == -EMFILE || rc == -ENFILE)
		return udma__err(-rc, "%s: cannot read /proc/locks to tell whether %s is in use: %s", who,
				 node, udma__strerror(-rc));
	if (rc > 0)
		return udma__err(EBUSY,
				 "%s: %s is on %s and in use (a process holds %s): close it there, then "
				 "as root: %s",
				 who, addr, UIO_DRIVER, node, cmds);
	return udma__err(EBUSY,
			 "%s: %s is on %s and udma cannot tell whether it is in use (/proc/locks: %s): if "
			 "it is not, as root: %s",
			 who, addr, UIO_DRIVER, udma__strerror(-rc), cmds);
}

/* Whether udma may take addr from cur (not "", not driver) for driver. */
static int may_take(const char *who, const char *addr, const char *cur, const char *driver)
{
	char cmds[512];

	by_hand(cmds, sizeof(cmds), addr, cur[0], driver);
	if (!strcmp(cur, VFIO_DRIVER) && !strcmp(driver, UIO_DRIVER))
		return vfio_idle(who, addr, cmds);
	if (!strcmp(cur, UIO_DRIVER) && !strcmp(driver, VFIO_DRIVER))
		return uio_idle(who, addr, cmds);
	return udma__err(EBUSY,
			 "%s: %s is bound to %s; udma moves a function only from no driver or from an idle "
			 "%s/%s, never from another driver (it may carry your disk or network): to give it "
			 "to %s, as root: %s",
			 who, addr, cur, UIO_DRIVER, VFIO_DRIVER, driver, cmds);
}

/* One sysfs write of a bind; EACCES and EPERM mean "not root". */
static int bind_write(const char *who, const char *addr, const char *cur, const char *driver,
		      const char *path, const char *s)
{
	int rc = udma__sysfs_write(path, s);
	char cmds[512];

	if (rc == -EACCES || rc == -EPERM)
		return udma__err(-rc,
				 "%s: binding %s to %s needs root (writing %s: %s); as root beforehand: %s",
				 who, addr, driver, path, udma__strerror(-rc),
				 by_hand(cmds, sizeof(cmds), addr, cur[0], driver));
	if (rc)
		return udma__err(-rc, "%s: binding %s to %s: writing '%s' to %s: %s", who, addr, driver, s,
				 path, udma__strerror(-rc));
	return 0;
}

static int write_attr(const char *addr, const char *attr, const char *s)
{
	char path[PATH_MAX];
	int rc;

	if ((rc = udma__sysfs_path(path, sizeof(path), "/bus/pci/devices/%s/%s", addr, attr)))
		return rc;
	return udma__sysfs_write(path, s);
}

static int probe(const char *addr)
{
	char path[PATH_MAX];
	int rc;

	if ((rc = udma__sysfs_path(path, sizeof(path), "/bus/pci/drivers_probe")))
		return rc;
	return udma__sysfs_write(path, addr);
}

int udma__pci_give_back(const char *who, const char *addr, const struct udma_pci_binding *b)
{
	char now[UDMA_PCI_DRV_LEN] = "", cmds[512], unbind[128], override[UDMA_PCI_DRV_LEN + 1];
	int rc;

	if (!b->moved)
		return 0;
	rc = udma__pci_driver(addr, now, sizeof(now));
	if (!rc && strcmp(now, b->prev)) {
		if (now[0] && !(rc = write_attr(addr, "driver/unbind", addr)))
			now[0] = 0;
		/* The old driver (uio_pci_generic, vfio-pci) matches only
		 * through driver_override. */
		if (!rc && b->prev[0] && !(rc = write_attr(addr, "driver_override", b->prev)) &&
		    !(rc = probe(addr)) && !(rc = udma__pci_driver(addr, now, sizeof(now))) &&
		    strcmp(now, b->prev))
			rc = -ENODEV;
	}
	snprintf(override, sizeof(override), "%s",
		 b->override[0] && strcmp(b->override, "(null)") ? b->override : "\n");
	if (!rc)
		rc = write_attr(addr, "driver_override", override);
	if (!rc)
		return 0;
	if (b->prev[0])
		by_hand(cmds, sizeof(cmds), addr, now[0] && strcmp(now, b->prev), b->prev);
	else
		snprintf(cmds, sizeof(cmds), "%secho > /sys/bus/pci/devices/%s/driver_override",
			 now[0] ? unbind_cmd(unbind, sizeof(unbind), addr) : "", addr);
	return udma__err(-rc, "%s: could not give %s back to %s (%s): as root: %s", who, addr,
			 b->prev[0] ? b->prev : "no driver", udma__strerror(-rc), cmds);
}

int udma__pci_give_back_after(int rc, const char *msg, const char *who, const char *addr,
			      const struct udma_pci_binding *b)
{
	char back[512] = "";

	if (b->moved && addr[0]) {
		if (udma__pci_give_back(who, addr, b))
			snprintf(back, sizeof(back), "; %s", udma_last_error());
		else
			snprintf(back, sizeof(back), " (%s is back on %s)", addr,
				 b->prev[0] ? b->prev : "no driver");
	}
	return udma__err(-rc, "%s%s", msg, back);
}

int udma__pci_bind(const char *who, const char *addr, const char *driver, const char *module,
		   struct udma_pci_binding *b)
{
	char now[UDMA_PCI_DRV_LEN], path[PATH_MAX], msg[512];
	int rc;

	memset(b, 0, sizeof(*b));
	if ((rc = udma__pci_driver(addr, b->prev, sizeof(b->prev))))
		return rc;
	if (!strcmp(b->prev, driver))
		return 0;
	if ((rc = udma__sysfs_path(path, sizeof(path), "/bus/pci/drivers/%s", driver)))
		return rc;
	if (access(path, F_OK))
		return udma__err(ENOENT, "%s: the %s driver is not loaded: modprobe %s (as root)", who,
				 driver, module);
	if (b->prev[0] && (rc = may_take(who, addr, b->prev, driver)))
		return rc;
	if ((rc = udma__sysfs_path(path, sizeof(path), "/bus/pci/devices/%s/driver_override", addr)))
		return rc;
	/* Kept to be put back; a kernel without the attribute has nothing to put back. */
	if ((rc = udma__read_line(path, b->override, sizeof(b->override))) == -ENOENT)
		snprintf(b->override, sizeof(b->override), "(null)");
	else if (rc)
		return udma__err(-rc, "%s: cannot read %s: %s", who, path, udma__strerror(-rc));
	/* driver_override makes this function match driver, and only it, at
	 * the next probe; it stays, so a re-probe binds it to driver again. */
	if ((rc = bind_write(who, addr, b->prev, driver, path, driver)))
		return rc;
	b->moved = true;
	if (b->prev[0] &&
	    ((rc = udma__sysfs_path(path, sizeof(path), "/bus/pci/devices/%s/driver/unbind", addr)) ||
	     (rc = bind_write(who, addr, b->prev, driver, path, addr))))
		goto undo;
	/* A probe that finds no driver is not a write error: look at the result. */
	if ((rc = udma__sysfs_path(path, sizeof(path), "/bus/pci/drivers_probe")) ||
	    (rc = bind_write(who, addr, b->prev, driver, path, addr)) ||
	    (rc = udma__pci_driver(addr, now, sizeof(now))))
		goto undo;
	if (!strcmp(now, driver))
		return 0;
	rc = udma__err(ENODEV, "%s: binding %s to %s failed: the kernel log says why (dmesg)", who, addr,
		       driver);
undo:
	/* Given back (or said how to), so the caller has nothing to undo. */
	snprintf(msg, sizeof(msg), "%s", udma_last_error());
	rc = udma__pci_give_back_after(rc, msg, who, addr, b);
	b->moved = false;
	return rc;
}
