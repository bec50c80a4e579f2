/* SPDX-License-Identifier: MIT */
/*
 * What both simulated-device backends (a thread, dev_sim.c; a process,
 * dev_simproc.c) share: the BAR, the doorbell eventfd the device sleeps on in
 * interrupt mode, the interrupt eventfd the driver polls.
 */
#include <errno.h>
#include <string.h>
#include <sys/eventfd.h>
#include <sys/mman.h>
#include <unistd.h>

#include "lib/dev/device_internal.h"
#include "sim/simdev_regs.h"

int udma__sim_io_open(struct udma_sim_io *io, const char *name)
{
	/* The device blocks reading the doorbell; the driver polls the
	 * interrupt fd, so that one never blocks. */
	io->doorbell_fd = eventfd(0, EFD_CLOEXEC);
	io->irq_fd = eventfd(0, EFD_CLOEXEC | EFD_NONBLOCK);
	if (io->doorbell_fd < 0 || io->irq_fd < 0)
		return udma__err(errno, "sim:%s: eventfd: %s", name, udma__strerror(errno));
	return 0;
}

void udma__sim_io_close(struct udma_sim_io *io)
{
	if (io->bar)
		munmap(io->bar, SIMDEV_BAR0_SIZE);
	if (io->doorbell_fd >= 0)
		close(io->doorbell_fd);
	if (io->irq_fd >= 0)
		close(io->irq_fd);
	io->bar = NULL;
	io->doorbell_fd = io->irq_fd = -1;
}

int udma__sim_bar(struct udma_dev *dev, unsigned bar, void **addr, size_t *len)
{
	struct udma_sim_io *io = dev->priv;

	if (bar != 0)
		return udma__err(EINVAL, "sim:%s has BAR 0 only, not BAR %u", dev->name, bar);
	*addr = io->bar;
	*len = SIMDEV_BAR0_SIZE;
	return 0;
}

int udma__sim_irq_fd(struct udma_dev *dev, unsigned vector)
{
	struct udma_sim_io *io = dev->priv;

	if (vector != 0)
		return udma__err(EINVAL, "sim:%s has interrupt vector 0 only, not %u", dev->name, vector);
	return io->irq_fd;
}

int udma__sim_irq_ack(struct udma_dev *dev, unsigned vector)
{
	struct udma_sim_io *io = dev->priv;
	uint64_t v;

	if (vector != 0)
		return udma__err(EINVAL, "sim:%s has interrupt vector 0 only, not %u", dev->name, vector);
	if (read(io->irq_fd, &v, sizeof(v)) < 0 && errno != EAGAIN)
		return udma__err(errno, "sim:%s: reading the interrupt eventfd: %s", dev->name,
				 udma__strerror(errno));
	return 0;
}

/* The doorbell registers are already written; in interrupt mode the device
 * sleeps until the eventfd says so (in polling mode it spins on them). */
int udma__sim_notify(struct udma_dev *dev)
{
	struct udma_sim_io *io = dev->priv;
	uint64_t one = 1;
	uint32_t ctrl;

	if (atomic_load_explicit(&io->gone, memory_order_acquire))
		return udma__err(ENODEV, "sim:%s: the device process is gone (%s): close the device",
				 dev->name, io->gone_why);
	ctrl = __atomic_load_n((const uint32_t *)((uint8_t *)io->bar + SIMDEV_REG_CTRL), __ATOMIC_ACQUIRE);
	if (!(ctrl & SIMDEV_CTRL_IRQ))
		return 0;
	if (write(io->doorbell_fd, &one, sizeof(one)) < 0)
		return udma__err(errno, "sim:%s: writing the doorbell eventfd: %s", dev->name,
				 udma__strerror(errno));
	return 0;
}
