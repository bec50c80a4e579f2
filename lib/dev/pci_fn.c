/* SPDX-License-Identifier: MIT */
/*
 * A PCI function's life as a udma device, the steps that are the same whether
 * UIO or VFIO reaches it: bus mastering on at the end of the open and off
 * before memory goes, the undo of a failed open (release, then give the
 * binding back), close, a forked child's release, its BARs. The backends'
 * private structs start with a struct udma_pci_fn, and their release hook
 * closes what only they know of.
 */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "lib/dev/pci.h"

void *udma__pci_fn_new(size_t size, const char *kind, const char *name,
		       void (*release)(struct udma_pci_fn *fn))
{
	struct udma_pci_fn *fn = calloc(1, size);

	if (!fn) {
		udma__err(ENOMEM, "out of memory for device %s:%s", kind, name);
		return NULL;
	}
	fn->release = release;
	fn->cfg_fd = -1;
	snprintf(fn->who, sizeof(fn->who), "%s:%s", kind, name);
	return fn;
}

int udma__pci_fn_enable(struct udma_pci_fn *fn, uint16_t clear)
{
	int rc = udma__pci_command(fn, UDMA_PCI_COMMAND_MEMORY | UDMA_PCI_COMMAND_MASTER, clear);

	fn->mastering = !rc;
	return rc;
}

void udma__pci_fn_quiesce(struct udma_pci_fn *fn, uint16_t set)
{
	if (!fn->mastering)
		return;
	if (udma__pci_command(fn, set, UDMA_PCI_COMMAND_MASTER))
		udma__log(UDMA_LOG_ERR, "%s: cannot stop its DMA: %s", fn->who, udma_last_error());
	else
		fn->mastering = false;
}

void udma__pci_fn_detach(struct udma_pci_fn *fn)
{
	/* Stop the device's DMA before our memory can go: a release that was
	 * not quiesced first (a failed open or attach) still has it on. */
	if (fn->mastering)
		udma__pci_command(fn, 0, UDMA_PCI_COMMAND_MASTER);
	fn->mastering = false;
	udma__pci_unmap_bars(&fn->bars);
}

int udma__pci_fn_unwind(struct udma_pci_fn *fn, int rc)
{
	struct udma_pci_binding bind = fn->bind;
	char msg[512], who[sizeof(fn->who)], addr[UDMA_PCI_ADDR_LEN];

	/* Copies: the release frees fn, and its clean-up may set a message. */
	snprintf(msg, sizeof(msg), "%s", udma_last_error());
	memcpy(who, fn->who, sizeof(who));
	memcpy(addr, fn->addr, sizeof(addr));
	fn->release(fn);
	/* After the release: vfio-pci lets a function go once its fds are closed. */
	return udma__pci_give_back_after(rc, msg, who, addr, &bind);
}

void udma__pci_close(struct udma_dev *dev)
{
	struct udma_pci_fn *fn = dev->priv;

	dev->priv = NULL;
	fn->release(fn);
}

int udma__pci_undo_open(struct udma_dev *dev, int rc)
{
	struct udma_pci_fn *fn = dev->priv;

	dev->priv = NULL;
	return udma__pci_fn_unwind(fn, rc);
}

void udma__pci_release_inherited(struct udma_dev *dev)
{
	struct udma_pci_fn *fn = dev->priv;

	fn->mastering = false;
	/* Never mapped here: forget them, unmapping would hit whatever the
	 * child put at those addresses. */
	memset(fn->bars.addr, 0, sizeof(fn->bars.addr));
	memset(fn->bars.len, 0, sizeof(fn->bars.len));
	dev->priv = NULL;
	fn->release(fn);
}

int udma__pci_io(struct udma_dev *dev, unsigned bar, uint64_t off, void *val, unsigned width, bool write)
{
	const struct udma_pci_fn *fn = dev->priv;
	const struct udma_pci_bars *b = &fn->bars;
	const char *what = write ? "write" : "read";
	ssize_t n;

	if (bar >= UDMA_PCI_BARS)
		return udma__err(EINVAL, "%s: a PCI function has BARs 0 to 5, not BAR %u", fn->who, bar);
	if (!b->io_len[bar]) {
		if (b->len[bar])
			return udma__err(EINVAL, "%s: BAR %u is a memory BAR: map it with udma_dev_bar",
					 fn->who, bar);
		return udma__err(ENOENT, "%s: BAR %u is no I/O port BAR: %s", fn->who, bar,
				 b->why[bar] ? b->why[bar] : "the device has no such BAR");
	}
	if (off >= b->io_len[bar] || width > b->io_len[bar] - off)
		return udma__err(ERANGE,
				 "%s: I/O BAR %u has %llu bytes: a %u-byte %s at offset %llu is past it",
				 fn->who, bar, (unsigned long long)b->io_len[bar], width, what,
				 (unsigned long long)off);
	n = write ? pwrite(b->io_fd[bar], val, width, b->io_off[bar] + (off_t)off)
		  : pread(b->io_fd[bar], val, width, b->io_off[bar] + (off_t)off);
	if (n != (ssize_t)width) {
		int e = n < 0 ? errno : EIO;

		return udma__err(e == EINVAL ? EIO : e,
				 "%s: %u-byte port %s at BAR %u offset %llu failed: %s", fn->who, width, what,
				 bar, (unsigned long long)off, udma__strerror(e));
	}
	return 0;
}

int udma__pci_config_read(struct udma_dev *dev, unsigned off, void *buf, size_t len)
{
	const struct udma_pci_fn *fn = dev->priv;
	ssize_t n;

	if (fn->cfg_fd < 0)
		return udma__err(ENOTSUP, "%s: not a PCI function: it has no configuration space", fn->who);
	if (off > fn->cfg_len || len > fn->cfg_len - off)
		return udma__err(ERANGE,
				 "%s: its configuration space has %zu bytes: %zu at offset %u are past it",
				 fn->who, fn->cfg_len, len, off);
	n = pread(fn->cfg_fd, buf, len, fn->cfg_off + (off_t)off);
	if (n != (ssize_t)len) {
		int e = n < 0 ? errno : EIO;

		return udma__err(e, "%s: reading %zu bytes of its configuration space at %u: %s%s", fn->who,
				 len, off, n < 0 ? udma__strerror(e) : "short read",
				 n >= 0 && n <= 64 ? " (beyond the first 64 bytes needs root)" : "");
	}
	return 0;
}

int udma__pci_bar(struct udma_dev *dev, unsigned bar, void **addr, size_t *len)
{
	const struct udma_pci_fn *fn = dev->priv;

	if (bar >= UDMA_PCI_BARS)
		return udma__err(EINVAL, "%s: a PCI function has BARs 0 to 5, not BAR %u", fn->who, bar);
	if (!fn->bars.len[bar])
		return udma__err(EINVAL, "%s: BAR %u is not mapped: %s", fn->who, bar,
				 fn->bars.why[bar] ? fn->bars.why[bar] : "the device has no such BAR");
	*addr = fn->bars.addr[bar];
	*len = fn->bars.len[bar];
	return 0;
}
