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
