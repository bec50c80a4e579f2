/* SPDX-License-Identifier: MIT */
/*
 * A PCI function through VFIO ("vfio:0000:00:03.0"): a container with a type1
 * IOMMU, the function's group, its device fd. Every region of the context is
 * mapped in the IOMMU at IOVA = its virtual address (device.c calls map and
 * unmap as regions come and go; in VA mode a region is one run), so the
 * device reaches our regions and nothing else. BARs are mmaps of the device
 * fd; interrupts are eventfds (dev_vfio_irq.c).
 * Nothing is bound before sysfs says the open can work (dev_vfio_pre.c); an
 * open that fails after binding gives the function back.
 */
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <linux/vfio.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/ioctl.h>
#include <sys/mman.h>
#include <unistd.h>

#include "lib/dev/dev_vfio.h"

static int open_container(struct vfio_dev *v)
{
	v->container = open("/dev/vfio/vfio", O_RDWR | O_CLOEXEC);
	if (v->container < 0) {
		if (errno == ENOENT)
			return udma__err(ENOENT,
					 "%s: no /dev/vfio/vfio: load VFIO (modprobe vfio-pci, as root)",
					 v->pci.who);
		return udma__err(errno, "%s: cannot open /dev/vfio/vfio: %s", v->pci.who,
				 udma__strerror(errno));
	}
	if (ioctl(v->container, VFIO_GET_API_VERSION) != VFIO_API_VERSION)
		return udma__err(ENOTSUP, "%s: this kernel's VFIO API is not version %d", v->pci.who,
				 VFIO_API_VERSION);
	/* v2 unmaps exactly what was mapped, never part of a mapping. */
	if (ioctl(v->container, VFIO_CHECK_EXTENSION, VFIO_TYPE1v2_IOMMU) > 0)
		v->iommu_type = VFIO_TYPE1v2_IOMMU;
	else if (ioctl(v->container, VFIO_CHECK_EXTENSION, VFIO_TYPE1_IOMMU) > 0)
		v->iommu_type = VFIO_TYPE1_IOMMU;
	else
		return udma__err(ENOTSUP, "%s: VFIO has no type1 IOMMU backend: modprobe vfio_iommu_type1",
				 v->pci.who);
	return 0;
}

static int find_group(struct vfio_dev *v)
{
	int rc = udma__pci_group(v->pci.who, v->pci.addr, v->group_id, sizeof(v->group_id));

	if (!rc && !v->group_id[0])
		return udma__err(ENODEV,
				 "%s: no IOMMU group: the kernel runs without an IOMMU (boot with "
				 "intel_iommu=on or amd_iommu=on, VT-d/AMD-Vi on in the firmware; a QEMU "
				 "guest needs -device intel-iommu); without one use uio:%s in PA mode",
				 v->pci.who, v->pci.addr);
	return rc;
}

/* From sysfs, before binding: would the open work? */
static int precheck(struct vfio_dev *v)
{
	char drv[UDMA_PCI_DRV_LEN];
	int rc;

	if ((rc = udma__pci_driver(v->pci.addr, drv, sizeof(drv))))
		return rc;
	if (strcmp(drv, "vfio-pci") && (rc = udma__vfio_group_viable(v->pci.who, v->pci.addr, v->group_id)))
		return rc;
	return udma__vfio_width_precheck(v->pci.who, v->pci.addr);
}

static int open_group(struct vfio_dev *v)
{
	struct vfio_group_status st = {.argsz = sizeof(st)};
	char node[48];

	snprintf(node, sizeof(node), "/dev/vfio/%s", v->group_id);
	v->group = open(node, O_RDWR | O_CLOEXEC);
	if (v->group < 0) {
		if (errno == EBUSY)
			return udma__err(EBUSY,
					 "%s: its IOMMU group %s is in use (by another process, or by "
					 "another device this process opened: udma opens a group once)",
					 v->pci.who, v->group_id);
		return udma__err(errno, "%s: cannot open %s: %s%s", v->pci.who, node, udma__strerror(errno),
				 errno == ENOENT   ? " (mount devtmpfs on /dev)"
				 : errno == EACCES ? " (run as root, or give this user the group's node)"
						   : "");
	}
	if (ioctl(v->group, VFIO_GROUP_GET_STATUS, &st))
		return udma__err(errno, "%s: VFIO_GROUP_GET_STATUS: %s", v->pci.who, udma__strerror(errno));
	if (!(st.flags & VFIO_GROUP_FLAGS_VIABLE))
		return udma__err(EBUSY,
				 "%s: IOMMU group %s is not viable: every device in it must be bound to "
				 "vfio-pci or to no driver (ls /sys/kernel/iommu_groups/%s/devices, then "
				 "unbind the others from their host drivers)",
				 v->pci.who, v->group_id, v->group_id);
	if (ioctl(v->group, VFIO_GROUP_SET_CONTAINER, &v->container))
		return udma__err(errno, "%s: VFIO_GROUP_SET_CONTAINER: %s", v->pci.who,
				 udma__strerror(errno));
	v->in_container = true;
	if (ioctl(v->container, VFIO_SET_IOMMU, v->iommu_type))
		return udma__err(errno, "%s: VFIO_SET_IOMMU (type1): %s", v->pci.who, udma__strerror(errno));
	return 0;
}

/* The IOVA ranges the IOMMU can map (its address width minus reserved
 * windows such as the MSI one), to refuse a region outside them by name. */
static int read_ranges(struct vfio_dev *v)
{
	struct vfio_iommu_type1_info *info = calloc(1, sizeof(*info)), *big;
	struct vfio_info_cap_header *h;
	uint32_t off;

	if (!info)
		return udma__err(ENOMEM, "out of memory");
	info->argsz = sizeof(*info);
	if (ioctl(v->container, VFIO_IOMMU_GET_INFO, info))
		goto fail;
	if (info->argsz > sizeof(*info)) {
		big = realloc(info, info->argsz);
		if (!big) {
			free(info);
			return udma__err(ENOMEM, "out of memory");
		}
		info = big;
		memset((char *)info + sizeof(uint32_t), 0, info->argsz - sizeof(uint32_t));
		if (ioctl(v->container, VFIO_IOMMU_GET_INFO, info))
			goto fail;
	}
	for (off = info->flags & VFIO_IOMMU_INFO_CAPS ? info->cap_offset : 0;
	     off && off + sizeof(*h) <= info->argsz; off = h->next) {
		struct vfio_iommu_type1_info_cap_iova_range *c;

		h = (struct vfio_info_cap_header *)((char *)info + off);
		if (h->id != VFIO_IOMMU_TYPE1_INFO_CAP_IOVA_RANGE)
			continue;
		c = (struct vfio_iommu_type1_info_cap_iova_range *)h;
		if (off + sizeof(*c) + (uint64_t)c->nr_iovas * sizeof(c->iova_ranges[0]) > info->argsz)
			break;
		v->ranges = calloc(c->nr_iovas ? c->nr_iovas : 1, sizeof(*v->ranges));
		if (!v->ranges) {
			free(info);
			return udma__err(ENOMEM, "out of memory");
		}
		memcpy(v->ranges, c->iova_ranges, c->nr_iovas * sizeof(*v->ranges));
		v->nranges = c->nr_iovas;
		break;
	}
	free(info);
	return 0;
fail:
	free(info);
	return udma__err(errno, "%s: VFIO_IOMMU_GET_INFO: %s", v->pci.who, udma__strerror(errno));
}

/* Regions are mapped below the stack: an IOMMU narrower than that (QEMU's
 * intel-iommu has 39 bits unless told aw-bits=48) could map none of them. */
static int check_width(struct vfio_dev *v)
{
	uint64_t top = 0, probe = (uintptr_t)__builtin_frame_address(0);
	unsigned i;

	if (!v->ranges)
		return 0;
	for (i = 0; i < v->nranges; i++)
		if (v->ranges[i].end > top)
			top = v->ranges[i].end;
	if (top >= probe)
		return 0;
	return udma__err(ERANGE,
			 "%s: the IOMMU maps IOVAs up to 0x%llx, but IOVA = virtual address here and this "
			 "process's addresses reach 0x%llx: the IOMMU's address width is too small (a "
			 "QEMU guest needs -device intel-iommu,aw-bits=48)",
			 v->pci.who, (unsigned long long)top, (unsigned long long)probe);
}

static int region_info(struct vfio_dev *v, unsigned index, struct vfio_region_info *ri)
{
	*ri = (struct vfio_region_info){.argsz = sizeof(*ri), .index = index};
	if (ioctl(v->device, VFIO_DEVICE_GET_REGION_INFO, ri))
		return udma__err(errno, "%s: VFIO_DEVICE_GET_REGION_INFO(%u): %s", v->pci.who, index,
				 udma__strerror(errno));
	return 0;
}

/* A BAR VFIO does not let us map: an I/O port BAR (bit 0 of its register in
 * config space, PCI 3.0 §6.2.5.1) is read and written through the region. */
static int io_bar(struct vfio_dev *v, unsigned i, const struct vfio_region_info *ri)
{
	struct vfio_region_info cfg;
	uint32_t reg;
	ssize_t n;
	int rc;

	v->pci.bars.why[i] = "VFIO does not let it be mapped";
	if ((rc = region_info(v, VFIO_PCI_CONFIG_REGION_INDEX, &cfg)))
		return rc;
	n = pread(v->device, &reg, sizeof(reg), (off_t)(cfg.offset + UDMA_PCI_BAR0 + 4 * i));
	if (n != (ssize_t)sizeof(reg)) {
		int e = n < 0 ? errno : EIO;

		return udma__err(e, "%s: cannot read BAR %u's register: %s", v->pci.who, i,
				 udma__strerror(e));
	}
	if (!(reg & UDMA_PCI_BAR_IO) ||
	    (ri->flags & (VFIO_REGION_INFO_FLAG_READ | VFIO_REGION_INFO_FLAG_WRITE)) !=
		    (VFIO_REGION_INFO_FLAG_READ | VFIO_REGION_INFO_FLAG_WRITE))
		return 0;
	v->pci.bars.why[i] = "it is an I/O port BAR, which cannot be mapped: use udma_dev_io_read/write";
	v->pci.bars.io_fd[i] = v->device;
	v->pci.bars.io_fd_owned[i] = false;
	v->pci.bars.io_off[i] = (off_t)ri->offset;
	v->pci.bars.io_len[i] = ri->size;
	return 0;
}

static int open_device(struct vfio_dev *v)
{
	struct vfio_device_info di = {.argsz = sizeof(di)};
	struct vfio_region_info ri;
	unsigned i;
	int rc;

	v->device = ioctl(v->group, VFIO_GROUP_GET_DEVICE_FD, v->pci.addr);
	if (v->device < 0)
		return udma__err(errno, "%s: VFIO_GROUP_GET_DEVICE_FD: %s", v->pci.who,
				 udma__strerror(errno));
	if (ioctl(v->device, VFIO_DEVICE_GET_INFO, &di))
		return udma__err(errno, "%s: VFIO_DEVICE_GET_INFO: %s", v->pci.who, udma__strerror(errno));
	if (!(di.flags & VFIO_DEVICE_FLAGS_PCI) || di.num_regions <= VFIO_PCI_CONFIG_REGION_INDEX)
		return udma__err(ENOTSUP, "%s: VFIO does not present it as a PCI function", v->pci.who);
	for (i = 0; i < UDMA_PCI_BARS; i++) {
		void *p;

		if ((rc = region_info(v, VFIO_PCI_BAR0_REGION_INDEX + i, &ri)))
			return rc;
		if (!ri.size) {
			v->pci.bars.why[i] =
				"the device has no such BAR (or it is the upper half of a 64-bit BAR)";
			continue;
		}
		if (!(ri.flags & VFIO_REGION_INFO_FLAG_MMAP)) {
			if ((rc = io_bar(v, i, &ri)))
				return rc;
			continue;
		}
		p = udma__mmap_nofork(ri.size, PROT_READ | PROT_WRITE, MAP_SHARED, v->device,
				      (off_t)ri.offset);
		if (p == MAP_FAILED)
			return udma__err(errno, "%s: cannot map BAR %u (%llu bytes): %s", v->pci.who, i,
					 (unsigned long long)ri.size, udma__vm_strerror(errno));
		v->pci.bars.addr[i] = p;
		v->pci.bars.len[i] = ri.size;
	}
	if ((rc = region_info(v, VFIO_PCI_CONFIG_REGION_INDEX, &ri)))
		return rc;
	v->pci.cfg_fd = v->device;
	v->pci.cfg_off = (off_t)ri.offset;
	v->pci.cfg_len = ri.size;
	return udma__pci_fn_enable(&v->pci, 0);
}

static void vfio_release(struct udma_pci_fn *fn)
{
	struct vfio_dev *v = (struct vfio_dev *)fn;
	unsigned i;

	if (v->irqs_on)
		udma__vfio_disable_irqs(v);
	udma__pci_fn_detach(fn);
	if (v->device >= 0)
		close(v->device);
	for (i = 0; i < VFIO_MAX_VECTORS; i++)
		if (v->efd[i] >= 0)
			close(v->efd[i]);
	/* Leaving the container drops whatever DMA maps are left. */
	if (v->in_container)
		ioctl(v->group, VFIO_GROUP_UNSET_CONTAINER, &v->container);
	if (v->group >= 0)
		close(v->group);
	if (v->container >= 0)
		close(v->container);
	free(v->ranges);
	free(v->maps);
	free(v);
}

static int vfio_open(struct udma_dev *dev, const struct udma_dev_args *a)
{
	struct vfio_dev *v;
	unsigned i;
	int rc;

	if (udma_ctx_iova_mode(dev->ctx) != UDMA_IOVA_VA)
		return udma__err(EINVAL,
				 "vfio:%s: VFIO maps each region at IOVA = its virtual address, so it "
				 "needs a context in VA mode: create it with .iova_mode = UDMA_IOVA_VA "
				 "(AUTO picks PA as root)",
				 a->name);
	if (!(v = udma__pci_fn_new(sizeof(*v), "vfio", a->name, vfio_release)))
		return -ENOMEM;
	v->container = v->group = v->device = -1;
	for (i = 0; i < VFIO_MAX_VECTORS; i++)
		v->efd[i] = -1;
	memcpy(v->pci.addr, a->name, sizeof(v->pci.addr) - 1); /* canonical: device.c parsed it */
	if ((rc = udma__pci_exists(v->pci.who, v->pci.addr)) || (rc = find_group(v)) || (rc = precheck(v)) ||
	    (rc = open_container(v)) ||
	    (rc = udma__pci_bind(v->pci.who, v->pci.addr, "vfio-pci", "vfio-pci", &v->pci.bind)) ||
	    (rc = open_group(v)) || (rc = read_ranges(v)) || (rc = check_width(v)) || (rc = open_device(v)) ||
	    (rc = udma__vfio_setup_irqs(v)))
		return udma__pci_fn_unwind(&v->pci, rc);
	dev->priv = v;
	return 0;
}

/* The group and container files are shared with the parent: no ioctl on
 * them, only our copies of the fds go. */
static void vfio_release_inherited(struct udma_dev *dev)
{
	struct vfio_dev *v = dev->priv;

	v->irqs_on = v->in_container = false;
	udma__pci_release_inherited(dev);
}

/* Before anything is unmapped: no more DMA, no more interrupts. */
static void vfio_quiesce(struct udma_dev *dev)
{
	struct vfio_dev *v = dev->priv;

	if (v->irqs_on && udma__vfio_disable_irqs(v))
		udma__log(UDMA_LOG_ERR, "%s", udma_last_error());
	udma__pci_fn_quiesce(&v->pci, 0);
}

static bool iova_usable(const struct vfio_dev *v, uint64_t iova, size_t len)
{
	unsigned i;

	if (!v->ranges)
		return true; /* an older kernel: VFIO_IOMMU_MAP_DMA decides */
	for (i = 0; i < v->nranges; i++)
		if (iova >= v->ranges[i].start && iova + len - 1 <= v->ranges[i].end)
			return true;
	return false;
}

static int map_error(struct vfio_dev *v, struct udma_region *r, uint64_t iova, size_t len)
{
	int e = errno;

	/* vfio_iommu_type1 takes a VM_PFNMAP mapping only of memory that is no
	 * RAM (an MMIO BAR): the heaps map their RAM that way. */
	if (r->dma_buf && e == EFAULT)
		return udma__err(ENOTSUP,
				 "%s: VFIO cannot map region '%s': it is a DMA-BUF heap buffer, mapped "
				 "as raw page frames (VM_PFNMAP), which VFIO maps only for device memory, "
				 "not RAM: give the device a region of udma's own (hugepages, "
				 "UDMA_REGION_CONTIG), or the buffer to a kernel driver "
				 "(udma_region_dmabuf)",
				 v->pci.who, r->name);
	if (e == ENOMEM)
		return udma__err(ENOMEM,
				 "%s: VFIO cannot pin region '%s' (%zu bytes): over the locked-memory "
				 "limit (ulimit -l; root has no limit) or vfio_iommu_type1's "
				 "dma_entry_limit",
				 v->pci.who, r->name, len);
	return udma__err(e, "%s: VFIO_IOMMU_MAP_DMA of region '%s' at IOVA 0x%llx (+%zu): %s", v->pci.who,
			 r->name, (unsigned long long)iova, len, udma__strerror(e));
}

static int vfio_map(struct udma_dev *dev, struct udma_region *r, uint64_t iova, void *host, size_t len)
{
	struct vfio_dev *v = dev->priv;
	struct vfio_iommu_type1_dma_map m = {
		.argsz = sizeof(m),
		.flags = VFIO_DMA_MAP_FLAG_READ | VFIO_DMA_MAP_FLAG_WRITE,
		.vaddr = (uintptr_t)host,
		.iova = iova,
		.size = len,
	};

	if (!iova_usable(v, iova, len))
		return udma__err(ERANGE,
				 "%s: region '%s' at IOVA 0x%llx (+%zu: IOVA = its virtual address) is "
				 "outside what the IOMMU can map (%u range(s), the first 0x%llx-0x%llx): "
				 "its address width is below the 47 bits of user addresses (a QEMU guest "
				 "needs -device intel-iommu,aw-bits=48)",
				 v->pci.who, r->name, (unsigned long long)iova, len, v->nranges,
				 v->nranges ? (unsigned long long)v->ranges[0].start : 0ull,
				 v->nranges ? (unsigned long long)v->ranges[0].end : 0ull);
	if (v->nmaps == v->maps_cap) {
		size_t cap = v->maps_cap ? v->maps_cap * 2 : 16;
		struct vfio_map *n = realloc(v->maps, cap * sizeof(*n));

		if (!n)
			return udma__err(ENOMEM, "out of memory");
		v->maps = n;
		v->maps_cap = cap;
	}
	if (ioctl(v->container, VFIO_IOMMU_MAP_DMA, &m))
		return map_error(v, r, iova, len);
	v->maps[v->nmaps++] = (struct vfio_map){.iova = iova, .len = len};
	return 0;
}

static void vfio_unmap(struct udma_dev *dev, uint64_t iova)
{
	struct vfio_dev *v = dev->priv;
	size_t i;

	for (i = 0; i < v->nmaps; i++) {
		struct vfio_iommu_type1_dma_unmap u = {
			.argsz = sizeof(u), .iova = iova, .size = v->maps[i].len};

		if (v->maps[i].iova != iova)
			continue;
		/* The memory goes next: a failure here is worth a line. */
		if (ioctl(v->container, VFIO_IOMMU_UNMAP_DMA, &u))
			udma__log(UDMA_LOG_ERR, "%s: VFIO_IOMMU_UNMAP_DMA at IOVA 0x%llx: %s", v->pci.who,
				  (unsigned long long)iova, udma__strerror(errno));
		else if (u.size != v->maps[i].len)
			udma__log(UDMA_LOG_ERR,
				  "%s: VFIO_IOMMU_UNMAP_DMA at IOVA 0x%llx unmapped %llu of %llu bytes",
				  v->pci.who, (unsigned long long)iova, (unsigned long long)u.size,
				  (unsigned long long)v->maps[i].len);
		v->maps[i] = v->maps[--v->nmaps];
		return;
	}
}

const struct udma_dev_ops udma__dev_vfio_ops = {
	.kind = "vfio",
	.open = vfio_open,
	.close = udma__pci_close,
	.release_inherited = vfio_release_inherited,
	.quiesce = vfio_quiesce,
	.undo_open = udma__pci_undo_open,
	.bar = udma__pci_bar,
	.io = udma__pci_io,
	.config_read = udma__pci_config_read,
	.irq_fd = udma__vfio_irq_fd,
	.irq_ack = udma__vfio_irq_ack,
	.map = vfio_map,
	.unmap = vfio_unmap,
};
