/* SPDX-License-Identifier: MIT */
/* Devices: open one, map its BARs, its interrupt fds; every region of the
 * context is visible to it at the IOVA udma_iova() returns. */
#ifndef UDMA_DEV_H
#define UDMA_DEV_H

#include <stddef.h>
#include <stdint.h>

#ifdef __cplusplus
extern "C" {
#endif

#pragma GCC visibility push(default)

struct udma_ctx;
struct udma_dev;

/*
 * spec:
 *   "sim:NAME[,queues=N][,block=SIZE]"  the simulated device in a thread of
 *                                        this process (N queue pairs, 1..8,
 *                                        default 4; SIZE a block store, a
 *                                        multiple of 4K, default none)
 *   "sim:NAME[,options]@/path/to/socket" the same device in another process,
 *                                        udma-simd, listening on that socket:
 *                                        it is handed the BAR, its eventfds
 *                                        and every region as files, to read
 *                                        and write. So only if it runs as
 *                                        this process's effective uid, or as
 *                                        the uid named by the option
 *                                        peer_uid=N (the kernel's word,
 *                                        SO_PEERCRED, checked before anything
 *                                        is sent; else -EACCES naming its uid
 *                                        and pid). Keep the socket in a
 *                                        directory only its user can use
 *                                        (mode 0700: $XDG_RUNTIME_DIR/udma/
 *                                        or /run/udma/), never in /tmp itself
 *   "uio:0000:00:03.0" or "uio:/dev/uioN" a PCI function through UIO: bound
 *                                        to uio_pci_generic if no UIO driver
 *                                        has it (root, see binding below);
 *                                        BARs through sysfs; one interrupt
 *                                        (INTx, vector 0); IOVA = physical
 *                                        address, so the context must be in
 *                                        PA mode and no IOMMU may translate
 *                                        the function's DMA (its IOMMU group,
 *                                        if any, of type identity: iommu=pt;
 *                                        else -ENOTSUP). One open at a time:
 *                                        an exclusive flock on /dev/uioN
 *                                        (-EBUSY). A non-PCI /dev/uioN: BAR n
 *                                        is map n
 *   "vfio:0000:00:03.0"                  a PCI function through VFIO: bound
 *                                        to vfio-pci if it is not (root, see
 *                                        binding below); every region mapped
 *                                        in its IOMMU at IOVA = virtual
 *                                        address, so the context must be in
 *                                        VA mode; interrupts MSI-X, MSI or
 *                                        INTx (the first the kernel can
 *                                        enable), one eventfd per vector. One
 *                                        device per IOMMU group
 * NAME: 1..31 of [A-Za-z0-9_.-]. Opening attaches the device to ctx: every
 * region that exists or is created later is mapped for it, until close.
 * A device in another process needs each region's file: open it before
 * creating regions (regions made while it is attached keep their memfd;
 * older ones fail the open with -EBUSY, unless UDMA_REGION_SHARED). If that
 * process dies, the device is gone as a surprise-removed PCI function is: its
 * registers read all ones, its interrupt fd fires, udma_dev_notify returns
 * -ENODEV; close it.
 * Binding (uio, vfio): a function with no driver is bound to the backend's
 * driver; one on the other backend's driver (uio_pci_generic <-> vfio-pci)
 * only if no process uses it there. A function on any other driver (a disk,
 * the NIC this session runs over...) is never taken: -EBUSY, with the
 * commands that move it by hand. An open that fails after binding gives the
 * function back to the driver it had.
 * Both PCI backends turn bus mastering on at open and off at close, first
 * thing, before any region is detached. With UIO nothing else stands between
 * the device and memory (no IOMMU): a region must not be destroyed while the
 * device may still DMA into it (stop the device's transfers first, or close
 * it).
 * -EINVAL (bad spec, wrong IOVA mode), -ENOTSUP (backend not available),
 * -ENOENT (no such device, module not loaded) or -ECONNREFUSED (no device
 * process on that socket), -EACCES (the device process runs as another user,
 * or the socket is not yours to use), -ENODEV (no IOMMU group, binding
 * failed), -EPERM or -EACCES (binding needs root), -ERANGE (a region beyond the IOMMU's
 * address width), -EBUSY (in use, or on a driver udma does not take it from),
 * -ENOTSUP (UIO behind a translating IOMMU), -ENOSPC (the context's first
 * open device needs a memory event subscriber slot and UDMA_MEM_EVENT_MAX
 * are taken: see udma/region.h), -ENOMEM, ...
 */
int udma_dev_open(struct udma_ctx *ctx, const char *spec, struct udma_dev **out);
/* Stops the device and detaches it from its context (the last one closed
 * gives the device layer's memory event subscriber slot back). NULL is a no-op. */
void udma_dev_close(struct udma_dev *dev);
/* A BAR's mapping: sim devices have bar 0 only; PCI functions their memory
 * BARs (an I/O port BAR: udma_dev_io_read/write below). */
int udma_dev_bar(struct udma_dev *dev, unsigned bar, void **addr, size_t *len);
/*
 * Port I/O, for the BARs udma_dev_bar cannot map: I/O port BARs (legacy
 * virtio, old NICs). Reads or writes width bytes (1, 2 or 4) at off in BAR
 * bar; *val is the value in host byte order (a uint8_t, uint16_t or
 * uint32_t). Each access is a system call (pread/pwrite on sysfs resourceN
 * under UIO, on the device's VFIO region under VFIO): fine for setup and a
 * doorbell per burst, not for a register read per packet.
 * -EINVAL (width not 1, 2 or 4, off not a multiple of width, val NULL, or bar
 * is a memory BAR: map that with udma_dev_bar), -ERANGE (off + width past
 * the BAR), -ENOENT (no such BAR), -ENOTSUP (sim devices have no I/O BARs),
 * -EIO (the access failed).
 */
int udma_dev_io_read(struct udma_dev *dev, unsigned bar, uint64_t off, void *val, unsigned width);
int udma_dev_io_write(struct udma_dev *dev, unsigned bar, uint64_t off, const void *val, unsigned width);
/*
 * Read len bytes of the PCI function's configuration space from off: its
 * IDs, class and capability list (virtio finds its registers there, MSI-X
 * says whether it is on). Through sysfs config under UIO, the VFIO config
 * region (as vfio-pci presents it) under VFIO. Multi-byte fields are
 * little-endian, as in the PCI spec. -ERANGE (past the end of config space:
 * 256 bytes, 4096 for PCI Express), -ENOTSUP (sim devices), -EIO.
 */
int udma_dev_config_read(struct udma_dev *dev, unsigned off, void *buf, size_t len);
/* An fd readable when the device interrupts on vector (sim: vector 0), or a
 * negative errno. Poll it, then udma_dev_irq_ack(). */
int udma_dev_irq_fd(struct udma_dev *dev, unsigned vector);
/* Consume the pending interrupt(s) of vector: 0 (also when none was pending).
 * A PCI driver first clears the cause in the device (its own ack register),
 * then calls this, which also unmasks INTx (UIO, VFIO INTx) so the next
 * interrupt can come; then it reads the device's interrupt status again and
 * handles whatever is new, until the status reads clear. That last step is
 * not optional: MSI and MSI-X are edges, so a cause the device raised between
 * the driver's read of its status and this call signalled an fd this call
 * drained, and nothing else will tell of it. */
int udma_dev_irq_ack(struct udma_dev *dev, unsigned vector);
/* Tell the device its doorbell registers changed. Simulated devices in
 * interrupt mode sleep until told (the ioeventfd a hypervisor would attach to
 * the MMIO write); a real device sees the MMIO write itself: no-op there.
 * -ENODEV once a device process is gone. */
int udma_dev_notify(struct udma_dev *dev);

#pragma GCC visibility pop

#ifdef __cplusplus
}
#endif

#endif
