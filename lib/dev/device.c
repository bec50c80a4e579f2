/* SPDX-License-Identifier: MIT */
/*
 * Devices: parse the spec, hand it to a backend, and keep every region of the
 * context visible to every attached device at the IOVA udma_iova() gives.
 * The layer hears of regions as a memory event subscriber while a device is
 * open (so it takes no subscriber slot of a context with none); its state
 * stays installed from the first open on. Its device list is under ctx->lock,
 * which events run under too, so a region is never created or destroyed while
 * a device is being attached: each one is mapped exactly once per device.
 */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "lib/dev/device_internal.h"
#include "lib/dev/pci.h"

#define SIM_QUEUES_MAX 8u

/* Map (or unmap) for dev each run of r's first bytes bytes that is contiguous
 * in IOVA space: one run in VA mode, one per physically contiguous stretch in
 * PA mode. A failed map stops it and is returned, with *done the bytes mapped
 * before it. Unmapping is silent: an undo keeps the message of the failure
 * that called for it. */
static int for_each_run(struct udma_dev *dev, struct udma_region *r, size_t bytes, bool map, size_t *done)
{
	struct udma_ctx *ctx = dev->ctx;
	size_t off = 0;
	int rc = 0;

	while (off < bytes) {
		uint8_t *va = r->addr + off;
		size_t len = udma_iova_contig(ctx, va, bytes - off);
		uint64_t iova = udma_iova(ctx, va);

		if (!len || iova == UDMA_BAD_IOVA) {
			if (map)
				rc = udma__err(EFAULT, "internal: region '%s' has no IOVA at offset %zu",
					       r->name, off);
			break;
		}
		if (map)
			rc = dev->ops->map(dev, r, iova, va, len);
		else
			dev->ops->unmap(dev, iova);
		if (rc)
			break;
		off += len;
	}
	if (done)
		*done = off;
	return rc;
}

static void unmap_region(struct udma_dev *dev, struct udma_region *r)
{
	for_each_run(dev, r, r->size, false, NULL);
}

/* Undo dev's maps of the context's regions before stop (NULL: all of them). */
static void unmap_regions(struct udma_dev *dev, struct udma_region *stop)
{
	struct udma_region *r;

	for (r = dev->ctx->regions; r != stop; r = r->next)
		unmap_region(dev, r);
}

static int map_region(struct udma_dev *dev, struct udma_region *r)
{
	size_t done;
	int rc = for_each_run(dev, r, r->size, true, &done);

	if (rc)
		for_each_run(dev, r, done, false, NULL);
	return rc;
}

/* A memory event: map a new region for every attached device (or undo the
 * devices already mapped), unmap one that is about to go. */
static int region_event(void *arg, enum udma_mem_event ev, struct udma_region *r)
{
	struct udma_dev_layer *l = arg;
	struct udma_dev *d, *u;
	int rc;

	if (ev == UDMA_MEM_REMOVED) {
		for (d = l->devices; d; d = d->next)
			unmap_region(d, r);
		return 0;
	}
	for (d = l->devices; d; d = d->next) {
		rc = map_region(d, r);
		if (rc) {
			for (u = l->devices; u != d; u = u->next)
				unmap_region(u, r);
			return rc;
		}
	}
	return 0;
}

static void devices_teardown(struct udma_ctx *ctx, void *state, bool inherited)
{
	struct udma_dev_layer *l = state;

	while (inherited && l->devices) {
		struct udma_dev *dev = l->devices;

		l->devices = dev->next;
		dev->ops->release_inherited(dev);
		free(dev);
	}
	while (l->devices) {
		udma__log(UDMA_LOG_WARN, "device '%s:%s' was still open at udma_ctx_destroy; closing it",
			  l->devices->ops->kind, l->devices->name);
		udma_dev_close(l->devices);
	}
	(void)ctx; /* the last udma_dev_close unsubscribed the layer */
	free(l);
}

/* The context's device layer, made on the first attach and subscribed to
 * memory events while it has a device (the first of a run subscribes, the
 * last udma_dev_close unsubscribes); under ctx->lock. */
static int layer_get(struct udma_ctx *ctx, struct udma_dev_layer **out)
{
	struct udma_dev_layer *l = udma__ctx_state(ctx, UDMA_CTX_SLOT_DEVICES);
	int rc;

	if (!l) {
		l = calloc(1, sizeof(*l));
		if (!l)
			return udma__err(ENOMEM, "udma_dev_open: out of memory for the device layer");
		if ((rc = udma__ctx_state_install(ctx, UDMA_CTX_SLOT_DEVICES, l, devices_teardown))) {
			free(l);
			return rc;
		}
	}
	/* No device yet hears nothing from the replay: the caller maps them. */
	rc = l->devices ? 0 : udma__mem_subscribe(ctx, region_event, l, true, "udma_dev_open");
	if (rc == -ENOSPC)
		return udma__err(ENOSPC,
				 "udma_dev_open: the context has %d memory event subscribers, the most "
				 "it takes (UDMA_MEM_EVENT_MAX), and its devices need one while any is "
				 "open: unregister one",
				 UDMA_MEM_EVENT_MAX);
	if (rc)
		return rc;
	*out = l;
	return 0;
}

/* Under ctx->lock: with its last device gone, the layer leaves its subscriber
 * slot to others (the next udma_dev_open takes it again). */
static void layer_put(struct udma_ctx *ctx, struct udma_dev_layer *l)
{
	if (!l->devices)
		udma__mem_unsubscribe(ctx, region_event, l, "udma_dev_close");
}

/* "queues=4" or "block=64M": one option of a sim spec. */
static int parse_option(const char *spec, char *opt, struct udma_dev_args *a)
{
	char *val = strchr(opt, '=');
	char *end;
	unsigned long n;
	size_t sz;

	if (!val || val == opt || !val[1])
		return udma__err(EINVAL, "device spec '%s': option '%s' is not key=value (e.g. queues=4)",
				 spec, opt);
	*val++ = 0;
	if (!strcmp(opt, "queues")) {
		errno = 0;
		n = strtoul(val, &end, 10);
		if (*val < '0' || *val > '9' || *end || errno || n < 1 || n > SIM_QUEUES_MAX)
			return udma__err(EINVAL, "device spec '%s': queues=%s is not a number from 1 to %u",
					 spec, val, SIM_QUEUES_MAX);
		a->queues = (unsigned)n;
		return 0;
	}
	if (!strcmp(opt, "block")) {
		if (udma_parse_size(val, &sz) || !sz || sz % 4096)
			return udma__err(EINVAL,
					 "device spec '%s': block=%s is not a size that is a multiple of 4K "
					 "(e.g. block=64M)",
					 spec, val);
		a->block_size = sz;
		return 0;
	}
	if (!strcmp(opt, "peer_uid")) {
		if (a->peer_uid_set) /* which one was meant? Trust is not guessed */
			return udma__err(EINVAL, "device spec '%s': peer_uid= given twice: name one uid",
					 spec);
		/* Digits only (no sign, space or suffix), and a uid: not (uid_t)-1. */
		errno = 0;
		n = strtoul(val, &end, 10);
		if (strspn(val, "0123456789") != strlen(val) || *end || errno || n >= UINT32_MAX)
			return udma__err(EINVAL,
					 "device spec '%s': peer_uid=%s is not a user id (a decimal number "
					 "below 4294967295, e.g. peer_uid=1000)",
					 spec, val);
		a->peer_uid = (uint32_t)n;
		a->peer_uid_set = true;
		return 0;
	}
	return udma__err(EINVAL,
			 "device spec '%s': unknown option '%s' (known: queues=N, block=SIZE, peer_uid=N)",
			 spec, opt);
}

/* "NAME[,options]@PATH": the part after the first '@' is the socket's path. */
static int parse_socket(const char *spec, char *rest, struct udma_dev_args *a)
{
	char *at = strchr(rest, '@');

	if (!at)
		return 0;
	*at++ = 0;
	if (!*at)
		return udma__err(EINVAL,
				 "device spec '%s': no socket path after '@' (sim:NAME@/path/to/socket)",
				 spec);
	if (strlen(at) >= sizeof(a->socket))
		return udma__err(ENAMETOOLONG,
				 "device spec '%s': the socket path is longer than %zu bytes, the limit "
				 "of a UNIX socket address: use a shorter path",
				 spec, sizeof(a->socket) - 1);
	strcpy(a->socket, at);
	return 0;
}

static int parse_sim(const char *spec, const char *whole, struct udma_dev_args *a)
{
	char buf[256], left[256], *tok, *save = NULL;
	const char *rest = left;
	size_t nlen, i;
	int rc;

	if (strlen(whole) >= sizeof(left))
		return udma__err(EINVAL, "device spec '%s' is too long", spec);
	strcpy(left, whole);
	if ((rc = parse_socket(spec, left, a)))
		return rc;
	nlen = strcspn(rest, ",");
	if (!nlen || nlen >= sizeof(a->name))
		return udma__err(EINVAL, "device spec '%s': the device name must be 1 to %zu characters",
				 spec, sizeof(a->name) - 1);
	for (i = 0; i < nlen; i++) {
		char c = rest[i];

		if (!((c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') ||
		      c == '_' || c == '-' || c == '.'))
			return udma__err(EINVAL,
					 "device spec '%s': the device name may use letters, digits, '_', "
					 "'-' and '.' only",
					 spec);
	}
	memcpy(a->name, rest, nlen);
	a->name[nlen] = 0;
	if (!rest[nlen])
		return 0;
	if (strlen(rest + nlen + 1) >= sizeof(buf))
		return udma__err(EINVAL, "device spec '%s' is too long", spec);
	strcpy(buf, rest + nlen + 1);
	if (!buf[0] || buf[0] == ',' || buf[strlen(buf) - 1] == ',' || strstr(buf, ",,"))
		return udma__err(EINVAL, "device spec '%s': empty option (options are ',key=value')", spec);
	for (tok = strtok_r(buf, ",", &save); tok; tok = strtok_r(NULL, ",", &save)) {
		if ((rc = parse_option(spec, tok, a)))
			return rc;
	}
	if (a->peer_uid_set && !a->socket[0])
		return udma__err(EINVAL,
				 "device spec '%s': peer_uid= names who may serve a device in another "
				 "process: it needs the socket (sim:NAME,peer_uid=N@/path/to/socket)",
				 spec);
	return 0;
}

/* Open dev and map every region for it, or undo all of it. */
static int dev_attach(struct udma_ctx *ctx, struct udma_dev *dev, const struct udma_dev_ops *ops,
		      const struct udma_dev_args *a)
{
	struct udma_region *r;
	int rc;

	dev->ctx = ctx;
	dev->ops = ops;
	memcpy(dev->name, a->name, sizeof(dev->name));
	if ((rc = ops->open(dev, a)))
		return rc;
	/* Attach: map what exists under the lock that region create/destroy
	 * take, so a region made meanwhile is mapped by the event instead. */
	pthread_mutex_lock(&ctx->lock);
	rc = layer_get(ctx, &dev->layer);
	for (r = ctx->regions; !rc && r; r = r->next)
		if ((rc = map_region(dev, r)))
			unmap_regions(dev, r);
	if (!rc) {
		dev->next = dev->layer->devices;
		dev->layer->devices = dev;
	} else if (dev->layer) {
		layer_put(ctx, dev->layer);
	}
	pthread_mutex_unlock(&ctx->lock);
	if (rc) {
		if (ops->undo_open)
			rc = ops->undo_open(dev, rc);
		else
			ops->close(dev);
	}
	return rc;
}

int udma_dev_open(struct udma_ctx *ctx, const char *spec, struct udma_dev **out)
{
	const struct udma_dev_ops *ops = NULL;
	struct udma_dev_args args = {.queues = 0};
	struct udma_dev *dev;
	int rc;

	if (!out)
		return udma__err(EINVAL, "udma_dev_open: out is NULL");
	*out = NULL;
	if (!ctx || !spec)
		return udma__err(EINVAL, "udma_dev_open: %s is NULL", ctx ? "spec" : "ctx");
	if (udma__inherited(ctx))
		return udma__err_inherited(ctx, "udma_dev_open");
	if (udma__in_mem_event(ctx))
		return udma__err_in_mem_event("udma_dev_open");
	if (!strncmp(spec, "sim:", 4)) {
		if ((rc = parse_sim(spec, spec + 4, &args)))
			return rc;
		ops = args.socket[0] ? &udma__dev_simproc_ops : &udma__dev_sim_ops;
	} else if (!strncmp(spec, "uio:", 4)) {
		if ((rc = udma__pci_parse_spec(spec, spec + 4, true, args.name, sizeof(args.name))))
			return rc;
		ops = &udma__dev_uio_ops;
	} else if (!strncmp(spec, "vfio:", 5)) {
		if ((rc = udma__pci_parse_spec(spec, spec + 5, false, args.name, sizeof(args.name))))
			return rc;
		ops = &udma__dev_vfio_ops;
	} else {
		return udma__err(EINVAL,
				 "device spec '%s': unknown backend (use 'sim:NAME', 'uio:0000:00:03.0', "
				 "'uio:/dev/uioN' or 'vfio:0000:00:03.0')",
				 spec);
	}
	dev = calloc(1, sizeof(*dev));
	if (!dev)
		return udma__err(ENOMEM, "out of memory for a device");
	udma__fork_hold();
	rc = dev_attach(ctx, dev, ops, &args);
	udma__fork_release();
	if (rc) {
		free(dev);
		return rc;
	}
	*out = dev;
	return 0;
}

void udma_dev_close(struct udma_dev *dev)
{
	struct udma_ctx *ctx;
	struct udma_dev **p;

	if (!dev)
		return;
	ctx = dev->ctx;
	/* The parent's device: udma_ctx_destroy releases the child's copy. */
	if (udma__inherited(ctx)) {
		udma__err_inherited(ctx, "udma_dev_close");
		return;
	}
	if (udma__in_mem_event(ctx)) {
		udma__refuse_in_mem_event("udma_dev_close");
		return;
	}
	/* Stop it first: a backend without an IOMMU (UIO) has nothing to
	 * unmap, so its device could otherwise DMA into a region destroyed
	 * between the unmap below and close. */
	udma__fork_hold();
	if (dev->ops->quiesce)
		dev->ops->quiesce(dev);
	/* Detach under the region lock: once unmapped, the device reaches no
	 * region (an unmap waits for its accesses in flight), so regions may go
	 * while the backend stops it. */
	pthread_mutex_lock(&ctx->lock);
	for (p = &dev->layer->devices; *p; p = &(*p)->next)
		if (*p == dev) {
			*p = dev->next;
			break;
		}
	unmap_regions(dev, NULL);
	layer_put(ctx, dev->layer);
	pthread_mutex_unlock(&ctx->lock);
	dev->ops->close(dev);
	udma__fork_release();
	free(dev);
}

int udma_dev_bar(struct udma_dev *dev, unsigned bar, void **addr, size_t *len)
{
	if (!dev || !addr || !len)
		return udma__err(EINVAL, "udma_dev_bar: %s is NULL", !dev ? "dev" : !addr ? "addr" : "len");
	if (udma__inherited(dev->ctx))
		return udma__err_inherited(dev->ctx, "udma_dev_bar");
	return dev->ops->bar(dev, bar, addr, len);
}

static int dev_io(struct udma_dev *dev, unsigned bar, uint64_t off, void *val, unsigned width, bool write)
{
	const char *fn = write ? "udma_dev_io_write" : "udma_dev_io_read";

	if (!dev || !val)
		return udma__err(EINVAL, "%s: %s is NULL", fn, !dev ? "dev" : "val");
	if (width != 1 && width != 2 && width != 4)
		return udma__err(EINVAL, "%s: width %u: port I/O is 1, 2 or 4 bytes wide", fn, width);
	if (off % width)
		return udma__err(EINVAL, "%s: offset %llu is not a multiple of the width (%u)", fn,
				 (unsigned long long)off, width);
	if (udma__inherited(dev->ctx))
		return udma__err_inherited(dev->ctx, fn);
	if (!dev->ops->io)
		return udma__err(ENOTSUP, "%s: %s:%s has no I/O port BARs (only PCI functions can)", fn,
				 dev->ops->kind, dev->name);
	return dev->ops->io(dev, bar, off, val, width, write);
}

int udma_dev_io_read(struct udma_dev *dev, unsigned bar, uint64_t off, void *val, unsigned width)
{
	return dev_io(dev, bar, off, val, width, false);
}

int udma_dev_io_write(struct udma_dev *dev, unsigned bar, uint64_t off, const void *val, unsigned width)
{
	uint32_t v = 0;

	if (val && width <= sizeof(v))
		memcpy(&v, val, width);
	return dev_io(dev, bar, off, val ? &v : NULL, width, true);
}

int udma_dev_config_read(struct udma_dev *dev, unsigned off, void *buf, size_t len)
{
	if (!dev || !buf)
		return udma__err(EINVAL, "udma_dev_config_read: %s is NULL", !dev ? "dev" : "buf");
	if (udma__inherited(dev->ctx))
		return udma__err_inherited(dev->ctx, "udma_dev_config_read");
	if (!dev->ops->config_read)
		return udma__err(ENOTSUP,
				 "udma_dev_config_read: %s:%s is not a PCI function: it has no "
				 "configuration space",
				 dev->ops->kind, dev->name);
	return dev->ops->config_read(dev, off, buf, len);
}

int udma_dev_irq_fd(struct udma_dev *dev, unsigned vector)
{
	if (!dev)
		return udma__err(EINVAL, "udma_dev_irq_fd: dev is NULL");
	if (udma__inherited(dev->ctx))
		return udma__err_inherited(dev->ctx, "udma_dev_irq_fd");
	return dev->ops->irq_fd(dev, vector);
}

int udma_dev_irq_ack(struct udma_dev *dev, unsigned vector)
{
	if (!dev)
		return udma__err(EINVAL, "udma_dev_irq_ack: dev is NULL");
	if (udma__inherited(dev->ctx))
		return udma__err_inherited(dev->ctx, "udma_dev_irq_ack");
	return dev->ops->irq_ack(dev, vector);
}

int udma_dev_notify(struct udma_dev *dev)
{
	if (!dev)
		return udma__err(EINVAL, "udma_dev_notify: dev is NULL");
	if (udma__inherited(dev->ctx))
		return udma__err_inherited(dev->ctx, "udma_dev_notify");
	return dev->ops->notify ? dev->ops->notify(dev) : 0;
}
