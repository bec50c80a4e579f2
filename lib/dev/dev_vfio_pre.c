/* SPDX-License-Identifier: MIT */
/*
 * What a vfio open checks from sysfs before it binds anything, so that an
 * open that cannot work leaves the function on the driver it had: the other
 * devices of its IOMMU group (VFIO takes a group whole, and refuses one with
 * a device on a host driver), and an Intel IOMMU's address width (IOVA = VA
 * needs 47 bits; QEMU's intel-iommu has 39 unless told aw-bits=48), and
 * whether an IOMMU is registered at all, for a function whose group comes
 * only with a driver (an Arm SMMU's). After the bind, dev_vfio.c asks VFIO
 * itself: these only spare a pointless move.
 */
#include <dirent.h>
#include <errno.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "lib/dev/dev_vfio.h"

#define VTD_MAX_WIDTH 57 /* the widest page table the kernel's intel-iommu builds */

/* Whether VFIO lets dev share a group with the ones it owns: 1, 0, or a
 * negative errno when its class cannot be read for another reason than
 * absence (out of fds): that is the error, not a verdict. */
static int vfio_tolerates(const char *who, const char *group, const char *dev)
{
	char path[PATH_MAX], drv[UDMA_PCI_DRV_LEN], cls[32];
	int rc;

	if (udma__sysfs_path(path, sizeof(path), "/kernel/iommu_groups/%s/devices/%s/driver", group, dev) ||
	    udma__link_name(path, drv, sizeof(drv)))
		return 1; /* no driver (or none we can read: VFIO decides later) */
	/* vfio-pci and its variants; the drivers that never do DMA. */
	if (strstr(drv, "vfio") || !strcmp(drv, "pci-stub") || !strcmp(drv, "pcieport"))
		return 1;
	/* A PCI-to-PCI bridge (class 0x0604xx, 0x0609xx). */
	if (udma__sysfs_path(path, sizeof(path), "/kernel/iommu_groups/%s/devices/%s/class", group, dev))
		return 0;
	rc = udma__read_line(path, cls, sizeof(cls));
	if (rc == -ENOENT)
		return 0;
	if (rc)
		return udma__err(-rc, "%s: cannot read %s: %s", who, path, udma__strerror(-rc));
	return !strncmp(cls, "0x0604", 6) || !strncmp(cls, "0x0609", 6);
}

int udma__vfio_group_viable(const char *who, const char *addr, const char *group)
{
	char path[PATH_MAX], others[256] = "", first[64] = "";
	struct dirent *e;
	size_t used = 0;
	unsigned n = 0;
	DIR *d;
	int rc;

	if ((rc = udma__sysfs_path(path, sizeof(path), "/kernel/iommu_groups/%s/devices", group)))
		return rc;
	d = opendir(path);
	if (!d && errno != ENOENT)
		return udma__err(errno, "%s: cannot list IOMMU group %s (%s): %s", who, group, path,
				 udma__strerror(errno));
	if (!d)
		return 0; /* cannot tell: VFIO_GROUP_GET_STATUS will */
	while ((e = readdir(d))) {
		int w;

		if (e->d_name[0] == '.' || !strcmp(e->d_name, addr))
			continue;
		if ((rc = vfio_tolerates(who, group, e->d_name)) < 0) {
			closedir(d);
			return rc;
		}
		if (rc)
			continue;
		if (!n++)
			snprintf(first, sizeof(first), "%.63s", e->d_name);
		w = snprintf(others + used, sizeof(others) - used, "%s%s", used ? ", " : "", e->d_name);
		if (w > 0 && (size_t)w < sizeof(others) - used)
			used += (size_t)w;
	}
	closedir(d);
	if (!n)
		return 0;
	return udma__err(EBUSY,
			 "%s: IOMMU group %s is not viable for VFIO, which takes a group whole: %u other "
			 "device(s) of it on a host driver (%s): unbind %s, as root: echo %s > "
			 "/sys/bus/pci/devices/%s/driver/unbind; or move the device to a slot with an IOMMU "
			 "group of its own (ls /sys/kernel/iommu_groups/%s/devices)",
			 who, group, n, others, n > 1 ? "each" : "it", first, first, group);
}

int udma__vfio_width_precheck(const char *who, const char *addr)
{
	uint64_t top, probe = (uintptr_t)__builtin_frame_address(0);
	char path[PATH_MAX], line[64], *end;
	unsigned long long cap;
	unsigned width = 0, mgaw, i;
	int rc;

	if ((rc = udma__sysfs_path(path, sizeof(path), "/bus/pci/devices/%s/iommu/intel-iommu/cap", addr)))
		return rc;
	rc = udma__read_line(path, line, sizeof(line));
	if (rc == -ENOENT)
		return 0; /* not an Intel IOMMU (or no IOMMU): VFIO's ranges tell later */
	if (rc)
		return udma__err(-rc, "%s: cannot read %s: %s", who, path, udma__strerror(-rc));
	errno = 0;
	cap = strtoull(line, &end, 16);
	if (errno || end == line)
		return 0;
	/* MGAW (bits 21:16) + 1 bits at most, through the widest page table
	 * SAGAW (bits 12:8: 30, 39, 48, 57 bits) offers up to 57. */
	mgaw = (unsigned)((cap >> 16) & 0x3f) + 1;
	for (i = 0; i < 5; i++)
		if ((cap >> (8 + i)) & 1 && 30 + 9 * i <= VTD_MAX_WIDTH)
			width = 30 + 9 * i;
	if (!width)
		return 0;
	if (width > mgaw)
		width = mgaw;
	top = width >= 64 ? UINT64_MAX : (1ull << width) - 1;
	if (top >= probe)
		return 0;
	return udma__err(
		ERANGE,
		"%s: its IOMMU maps %u address bits (IOVAs up to 0x%llx), but IOVA = virtual address "
		"here and this process's addresses reach 0x%llx: the IOMMU's address width is too "
		"small (a QEMU guest needs -device intel-iommu,aw-bits=48)",
		who, width, (unsigned long long)top, (unsigned long long)probe);
}

int udma__iommu_registered(const char *who, char *name, size_t len)
{
	char path[PATH_MAX];
	struct dirent *e;
	DIR *d;
	int rc;

	name[0] = 0;
	if ((rc = udma__sysfs_path(path, sizeof(path), "/class/iommu")))
		return rc;
	d = opendir(path);
	if (!d && errno == ENOENT)
		return 0;
	if (!d)
		return udma__err(errno, "%s: cannot list %s: %s", who, path, udma__strerror(errno));
	while (!name[0] && (e = readdir(d)))
		if (e->d_name[0] != '.')
			snprintf(name, len, "%s", e->d_name);
	closedir(d);
	return 0;
}
