/* SPDX-License-Identifier: MIT */
/*
 * The VFIO backend's interrupts: an eventfd per vector of MSI-X, else MSI,
 * else INTx. The kernel may give fewer MSI/MSI-X vectors than the function
 * has (VFIO_DEVICE_SET_IRQS then returns how many it could): udma takes
 * those, then one, then falls back to the next type. INTx is masked by VFIO
 * on each interrupt until udma_dev_irq_ack unmasks it.
 */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/eventfd.h>
#include <sys/ioctl.h>
#include <unistd.h>

#include "lib/dev/dev_vfio.h"

/* VFIO_DEVICE_SET_IRQS: 0; for MSI and MSI-X a positive count, the vectors
 * the kernel could have given when that is fewer than count (it enabled
 * none); or -errno. No message. */
static int set_irqs(struct vfio_dev *v, unsigned index, uint32_t flags, unsigned count, const int *fds)
{
	size_t sz = sizeof(struct vfio_irq_set) + (fds ? count * sizeof(int) : 0);
	struct vfio_irq_set *s = calloc(1, sz);
	int n;

	if (!s)
		return -ENOMEM;
	s->argsz = (uint32_t)sz;
	s->flags = flags;
	s->index = index;
	s->count = count;
	if (fds)
		memcpy(s->data, fds, count * sizeof(int));
	n = ioctl(v->device, VFIO_DEVICE_SET_IRQS, s);
	if (n < 0)
		n = -errno;
	free(s);
	return n;
}

/* Eventfds on up to count vectors of index: how many, or -errno. */
static int enable_vectors(struct vfio_dev *v, unsigned index, unsigned count)
{
	const uint32_t flags = VFIO_IRQ_SET_DATA_EVENTFD | VFIO_IRQ_SET_ACTION_TRIGGER;
	int n = set_irqs(v, index, flags, count, v->efd);

	if (n > 0 && (unsigned)n < count) {
		count = (unsigned)n; /* what the kernel could allocate */
		n = set_irqs(v, index, flags, count, v->efd);
	}
	if (n && count > 1) {
		count = 1;
		n = set_irqs(v, index, flags, count, v->efd);
	}
	if (!n)
		return (int)count;
	return n < 0 ? n : -ENOSPC;
}

/* MSI-X, else MSI, else INTx: each vector signals an eventfd of its own. A
 * type VFIO offers but cannot enable gives way to the next. */
int udma__vfio_setup_irqs(struct vfio_dev *v)
{
	static const unsigned order[] = {VFIO_PCI_MSIX_IRQ_INDEX, VFIO_PCI_MSI_IRQ_INDEX,
					 VFIO_PCI_INTX_IRQ_INDEX};
	static const char *const names[] = {"MSI-X", "MSI", "INTx"};
	char why[256] = "";
	size_t used = 0;
	int n = 0;
	unsigned i, k;

	for (i = 0; i < sizeof(order) / sizeof(order[0]); i++) {
		struct vfio_irq_info ii = {.argsz = sizeof(ii), .index = order[i]};
		unsigned want;

		if (ioctl(v->device, VFIO_DEVICE_GET_IRQ_INFO, &ii) || !ii.count)
			continue;
		want = ii.count < VFIO_MAX_VECTORS ? ii.count : VFIO_MAX_VECTORS;
		for (k = 0; k < want; k++) {
			if (v->efd[k] >= 0)
				continue;
			v->efd[k] = eventfd(0, EFD_CLOEXEC | EFD_NONBLOCK);
			if (v->efd[k] < 0)
				return udma__err(errno, "%s: eventfd: %s", v->pci.who, udma__strerror(errno));
		}
		n = enable_vectors(v, order[i], want);
		if (n > 0) {
			v->irq_index = order[i];
			v->nvec = (unsigned)n;
			v->irqs_on = true;
			for (k = v->nvec; k < VFIO_MAX_VECTORS; k++)
				if (v->efd[k] >= 0) {
					close(v->efd[k]);
					v->efd[k] = -1;
				}
			return 0;
		}
		k = (unsigned)snprintf(why + used, sizeof(why) - used, "%s%s: %s", used ? ", " : "", names[i],
				       udma__strerror(-n));
		if (k < sizeof(why) - used)
			used += k;
	}
	if (!n)
		return 0; /* no interrupts: irq_fd says so */
	return udma__err(
		-n, "%s: VFIO_DEVICE_SET_IRQS could enable no interrupt (%s): the kernel log may say why",
		v->pci.who, why);
}

/* Interrupts off: 0 or -errno with a message. */
int udma__vfio_disable_irqs(struct vfio_dev *v)
{
	int e = set_irqs(v, v->irq_index, VFIO_IRQ_SET_DATA_NONE | VFIO_IRQ_SET_ACTION_TRIGGER, 0, NULL);

	if (!e) {
		v->irqs_on = false;
		return 0;
	}
	e = e < 0 ? -e : EIO;
	return udma__err(e, "%s: turning its interrupts off (VFIO_DEVICE_SET_IRQS): %s", v->pci.who,
			 udma__strerror(e));
}

int udma__vfio_irq_fd(struct udma_dev *dev, unsigned vector)
{
	struct vfio_dev *v = dev->priv;

	if (vector >= v->nvec)
		return udma__err(EINVAL, "%s: %s", v->pci.who,
				 v->nvec ? "no such interrupt vector (see udma_dev_irq_fd)"
					 : "the function has no interrupt (no MSI-X, MSI or INTx)");
	return v->efd[vector];
}

/* Consume the eventfd; INTx stays masked by VFIO until unmasked. */
int udma__vfio_irq_ack(struct udma_dev *dev, unsigned vector)
{
	struct vfio_dev *v = dev->priv;
	int fd = udma__vfio_irq_fd(dev, vector), e;
	uint64_t n;

	if (fd < 0)
		return fd;
	if (read(fd, &n, sizeof(n)) < 0 && errno != EAGAIN)
		return udma__err(errno, "%s: reading interrupt eventfd %u: %s", v->pci.who, vector,
				 udma__strerror(errno));
	if (v->irq_index != VFIO_PCI_INTX_IRQ_INDEX)
		return 0;
	e = set_irqs(v, v->irq_index, VFIO_IRQ_SET_DATA_NONE | VFIO_IRQ_SET_ACTION_UNMASK, 1, NULL);
	if (!e)
		return 0;
	e = e < 0 ? -e : EIO;
	return udma__err(e, "%s: unmasking INTx (VFIO_DEVICE_SET_IRQS): %s", v->pci.who, udma__strerror(e));
}
