/* SPDX-License-Identifier: MIT */
/*
 * The simulated device in a thread of this process ("sim:NAME"): its BAR is
 * a page of memory both sides map, its doorbell and interrupt are eventfds
 * (as ioeventfd and irqfd are for a VM's device), its block store a memfd,
 * and its IOMMU table the regions device.c maps into it.
 */
#include <errno.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <unistd.h>

#include "lib/dev/device_internal.h"
#include "sim/simdev_model.h"

#define SIM_DEFAULT_QUEUES 4u
#define SIM_THREAD_STACK   (256u << 10)

struct sim_dev {
	struct udma_sim_io io; /* first: the shared ops find it at dev->priv */
	struct simdev *model;
	int block_fd;
	pthread_t thread;
	bool running;
	int run_rc;
};

static void *sim_thread(void *arg)
{
	struct sim_dev *s = arg;

	s->run_rc = simdev_run(s->model);
	return NULL;
}

static void sim_free(struct sim_dev *s)
{
	if (s->model)
		simdev_destroy(s->model);
	udma__sim_io_close(&s->io);
	if (s->block_fd >= 0)
		close(s->block_fd);
	free(s);
}

static int sim_open(struct udma_dev *dev, const struct udma_dev_args *a)
{
	struct simdev_config cfg = {0};
	pthread_attr_t attr;
	struct sim_dev *s;
	int rc;

	s = calloc(1, sizeof(*s));
	if (!s)
		return udma__err(ENOMEM, "out of memory for simulated device '%s'", a->name);
	s->io.doorbell_fd = s->io.irq_fd = s->block_fd = -1;
	s->io.bar = udma__mmap_nofork(SIMDEV_BAR0_SIZE, PROT_READ | PROT_WRITE, MAP_SHARED | MAP_ANONYMOUS,
				      -1, 0);
	if (s->io.bar == MAP_FAILED) {
		s->io.bar = NULL;
		rc = udma__err(errno, "sim:%s: cannot map its BAR: %s", a->name, udma__vm_strerror(errno));
		goto fail;
	}
	if ((rc = udma__sim_io_open(&s->io, a->name)))
		goto fail;
	if (a->block_size) {
		s->block_fd = memfd_create("udma-sim-block", MFD_CLOEXEC);
		if (s->block_fd < 0 || ftruncate(s->block_fd, (off_t)a->block_size)) {
			rc = udma__err(errno, "sim:%s: cannot make a %zu-byte block store: %s", a->name,
				       a->block_size, udma__strerror(errno));
			goto fail;
		}
	}
	cfg.bar = s->io.bar;
	cfg.num_queues = a->queues ? a->queues : SIM_DEFAULT_QUEUES;
	cfg.block_fd = s->block_fd;
	cfg.block_bytes = a->block_size;
	cfg.doorbell_fd = s->io.doorbell_fd;
	cfg.irq_fd = s->io.irq_fd;
	rc = simdev_create(&cfg, &s->model);
	if (rc) {
		s->model = NULL;
		rc = udma__err(-rc, "sim:%s: the device model failed to start: %s", a->name,
			       udma__strerror(-rc));
		goto fail;
	}
	/* Small stack, as the device loop needs little and tests count mappings. */
	pthread_attr_init(&attr);
	pthread_attr_setstacksize(&attr, SIM_THREAD_STACK);
	rc = pthread_create(&s->thread, &attr, sim_thread, s);
	pthread_attr_destroy(&attr);
	if (rc) {
		rc = udma__err(rc, "sim:%s: cannot start the device thread: %s", a->name,
			       udma__thread_strerror(rc));
		goto fail;
	}
	s->running = true;
	dev->priv = s;
	return 0;
fail:
	sim_free(s);
	return rc;
}

static void sim_close(struct udma_dev *dev)
{
	struct sim_dev *s = dev->priv;

	if (s->running) {
		simdev_stop(s->model);
		pthread_join(s->thread, NULL);
		if (s->run_rc < 0)
			udma__log(UDMA_LOG_ERR, "sim:%s: the device stopped with an error: %s", dev->name,
				  udma__strerror(-s->run_rc));
	}
	sim_free(s);
	dev->priv = NULL;
}

static void sim_release_inherited(struct udma_dev *dev)
{
	struct sim_dev *s = dev->priv;

	s->io.bar = NULL; /* MADV_DONTFORK: not mapped here */
	sim_free(s);	  /* its thread did not come along */
	dev->priv = NULL;
}

static int sim_map(struct udma_dev *dev, struct udma_region *r, uint64_t iova, void *host, size_t len)
{
	struct sim_dev *s = dev->priv;
	int rc = simdev_iommu_map(s->model, iova, host, len);

	(void)r;
	if (rc)
		return udma__err(-rc, "sim:%s: cannot map IOVA 0x%llx (+%zu) in its IOMMU: %s", dev->name,
				 (unsigned long long)iova, len, udma__strerror(-rc));
	return 0;
}

static void sim_unmap(struct udma_dev *dev, uint64_t iova)
{
	struct sim_dev *s = dev->priv;

	simdev_iommu_unmap(s->model, iova);
}

const struct udma_dev_ops udma__dev_sim_ops = {
	.kind = "sim",
	.open = sim_open,
	.close = sim_close,
	.release_inherited = sim_release_inherited,
	.bar = udma__sim_bar,
	.irq_fd = udma__sim_irq_fd,
	.irq_ack = udma__sim_irq_ack,
	.notify = udma__sim_notify,
	.map = sim_map,
	.unmap = sim_unmap,
};
