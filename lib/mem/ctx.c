/* SPDX-License-Identifier: MIT */
/* The context: options, IOVA mode, the registry of regions. */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "lib/mem/mem.h"

/*
 * PA mode hands physical addresses to devices, so the pages must never move:
 * it needs PFNs from pagemap and a long-term pin (mlock does not stop
 * migration). Without either, AUTO chooses VA and says why.
 */
static int choose_mode(struct udma_ctx *ctx, enum udma_iova_mode asked)
{
	int pfns = udma_pfn_readable(), pin = 0;
	char why[512] = "";

	/* Under a user-mode emulator pagemap reads another address space: no
	 * physical address is to be had, but VA mode can check its pages with
	 * mincore, which the emulator translates. The reason is copied:
	 * udma__err writes where udma_last_error points. */
	if (pfns == -ENOTSUP) {
		snprintf(why, sizeof(why), "%s", udma_last_error());
		ctx->pagemap_foreign = true;
		pfns = 0;
	}
	if (pfns < 0)
		return pfns; /* pagemap unreadable: neither mode can verify pages */
	if (pfns && asked != UDMA_IOVA_VA)
		pin = udma__longterm_pin_probe(why, sizeof(why));
	/* Out of fds, or of pinnable memory for now (this user's other
	 * processes' pins count too): passing states, no reason to choose a
	 * mode for life. */
	if (pin == -EMFILE || pin == -ENFILE || pin == -ENOMEM)
		return udma__err(-pin, "udma_ctx_create: %s", why);
	switch (asked) {
	case UDMA_IOVA_AUTO:
		ctx->mode = pfns && !pin ? UDMA_IOVA_PA : UDMA_IOVA_VA;
		if (ctx->pagemap_foreign)
			snprintf(ctx->reason, sizeof(ctx->reason),
				 "AUTO chose VA; pages checked with mincore, as %s", why);
		else if (!pfns)
			snprintf(ctx->reason, sizeof(ctx->reason), "%s",
				 "AUTO chose VA: pagemap hides physical addresses without CAP_SYS_ADMIN; "
				 "fine for VFIO (IOMMU) and simulated devices, UIO needs root");
		else if (pin)
			snprintf(ctx->reason, sizeof(ctx->reason),
				 "AUTO chose VA: physical addresses are readable, but %s", why);
		else
			snprintf(ctx->reason, sizeof(ctx->reason), "%s",
				 "AUTO chose PA: pagemap gives physical addresses (CAP_SYS_ADMIN), as UIO "
				 "needs; pages held by long-term pins");
		return 0;
	case UDMA_IOVA_PA:
		if (ctx->pagemap_foreign)
			return udma__err(ENOTSUP, "UDMA_IOVA_PA refused: %s", why);
		if (!pfns)
			return udma__err(EPERM,
					 "UDMA_IOVA_PA needs physical addresses but /proc/self/pagemap hides "
					 "them from this process: run as root (CAP_SYS_ADMIN), or use "
					 "UDMA_IOVA_VA with an IOMMU (VFIO)");
		if (pin)
			return udma__err(-pin, "UDMA_IOVA_PA refused: %s", why);
		ctx->mode = UDMA_IOVA_PA;
		snprintf(ctx->reason, sizeof(ctx->reason),
			 "PA as asked: IOVA = physical address (UIO); pages held by long-term pins");
		return 0;
	case UDMA_IOVA_VA:
		ctx->mode = UDMA_IOVA_VA;
		if (ctx->pagemap_foreign)
			snprintf(ctx->reason, sizeof(ctx->reason),
				 "VA as asked; pages checked with mincore, as %s", why);
		else
			snprintf(ctx->reason, sizeof(ctx->reason),
				 "VA as asked: IOVA = virtual address (VFIO, simulated devices)");
		return 0;
	}
	return udma__err(EINVAL, "unknown IOVA mode %d (use UDMA_IOVA_AUTO, _PA or _VA)", (int)asked);
}

#define KNOWN_FLAGS (UDMA_CTX_STRICT_HUGE | UDMA_CTX_DMA_COHERENT | UDMA_CTX_DMA_NONCOHERENT)
/* An ARM board's DMA master often does not snoop the caches; PCIe on x86,
 * and the server platforms, do. */
#if defined(__arm__) || defined(__aarch64__)
#define DMA_COHERENT_BY_DEFAULT false
#else
#define DMA_COHERENT_BY_DEFAULT true
#endif

int udma_ctx_create(const struct udma_ctx_opts *opts, struct udma_ctx **out)
{
	struct udma_ctx_opts o = {.iova_mode = UDMA_IOVA_AUTO, .numa_node = UDMA_NUMA_ANY};
	struct udma_ctx *ctx;
	int rc;

	if (!out)
		return udma__err(EINVAL, "udma_ctx_create: out is NULL");
	*out = NULL;
	if (opts)
		o = *opts;
	/* pagemap has one entry per base page; udma reads it as 4 KiB pages. */
	if (sysconf(_SC_PAGESIZE) != (long)UDMA_PAGE_4K)
		return udma__err(ENOTSUP, "udma needs 4 KiB base pages; this kernel uses %ld-byte pages",
				 sysconf(_SC_PAGESIZE));
	if (o.flags & ~KNOWN_FLAGS)
		return udma__err(EINVAL, "udma_ctx_create: unknown flags 0x%x", o.flags & ~KNOWN_FLAGS);
	if ((o.flags & UDMA_CTX_DMA_COHERENT) && (o.flags & UDMA_CTX_DMA_NONCOHERENT))
		return udma__err(EINVAL,
				 "udma_ctx_create: UDMA_CTX_DMA_COHERENT and UDMA_CTX_DMA_NONCOHERENT both "
				 "given: pick the one the device is");
	if ((rc = udma__check_page_size(o.page_size)) || (rc = udma__numa_check_node(o.numa_node)))
		return rc;
	ctx = calloc(1, sizeof(*ctx));
	if (!ctx)
		return udma__err(ENOMEM, "out of memory for a context");
	ctx->opts = o;
	ctx->pagemap_fd = -1;
	ctx->dma_coherent = (o.flags & UDMA_CTX_DMA_COHERENT) ||
			    (!(o.flags & UDMA_CTX_DMA_NONCOHERENT) && DMA_COHERENT_BY_DEFAULT);
	if ((rc = choose_mode(ctx, o.iova_mode)) || (rc = udma__map_init(&ctx->map)))
		goto fail;
	rc = udma__pagemap_open();
	if (rc < 0)
		goto fail;
	ctx->pagemap_fd = rc;
	pthread_mutex_init(&ctx->lock, NULL);
	if ((rc = udma__fork_watch(ctx))) {
		close(ctx->pagemap_fd);
		pthread_mutex_destroy(&ctx->lock);
		goto fail;
	}
	*out = ctx;
	return 0;
fail:
	udma__map_fini(&ctx->map);
	free(ctx);
	return rc;
}

int udma__ctx_state_install(struct udma_ctx *ctx, unsigned id, void *state, udma__teardown_fn *fn)
{
	if (ctx->teardown[id])
		return udma__err(EEXIST, "internal: a layer installed its context state twice");
	ctx->teardown[id] = fn;
	ctx->installed[ctx->ninstalled++] = (unsigned char)id;
	atomic_store_explicit(&ctx->state[id], state, memory_order_release);
	return 0;
}

int udma__ctx_lock(struct udma_ctx *ctx, const char *call)
{
	if (udma__in_mem_event(ctx))
		return udma__err_in_mem_event(call);
	pthread_mutex_lock(&ctx->lock);
	return 0;
}

/* Last installed first: a layer goes before those it was built on. The slot is
 * emptied first, so nothing reaches the state while it is torn down. */
static void teardown_layers(struct udma_ctx *ctx, bool inherited)
{
	while (ctx->ninstalled) {
		unsigned id = ctx->installed[--ctx->ninstalled];
		void *state = atomic_exchange_explicit(&ctx->state[id], NULL, memory_order_acq_rel);

		ctx->teardown[id](ctx, state, inherited);
		ctx->teardown[id] = NULL;
	}
}

/* A forked child's copy of a context: close its copies of the fds and free the
 * bookkeeping; the mappings were never inherited. The region list (and those
 * the layers keep under the lock) change by single pointer stores and
 * nothing is half-made at a fork (fork.c), so they can be walked even if
 * another thread held the lock; the layers guard their own lists. */
static void ctx_release_inherited(struct udma_ctx *ctx)
{
	teardown_layers(ctx, true);
	while (ctx->regions) {
		struct udma_region *r = ctx->regions;

		ctx->regions = r->next;
		udma__region_release_inherited(r);
	}
	udma__map_fini(&ctx->map); /* inherited: a private copy, and no lock guards it */
	close(ctx->pagemap_fd);
	free(ctx);
}

void udma_ctx_destroy(struct udma_ctx *ctx)
{
	if (!ctx)
		return;
	if (udma__inherited(ctx)) {
		ctx_release_inherited(ctx);
		return;
	}
	/* Its caller holds the context's lock and uses the context after. */
	if (udma__in_mem_event(ctx)) {
		udma__refuse_in_mem_event("udma_ctx_destroy");
		return;
	}
	/* The layers first: they report leaks and give their regions back. */
	teardown_layers(ctx, false);
	while (ctx->regions) {
		char sz[32];

		udma__log(UDMA_LOG_WARN,
			  "region '%s' (%s) was still alive at udma_ctx_destroy; destroying it",
			  ctx->regions->name, udma__fmt_size(ctx->regions->size, sz, sizeof(sz)));
		udma_region_destroy(ctx->regions);
	}
	udma__map_fini(&ctx->map);
	close(ctx->pagemap_fd);
	pthread_mutex_destroy(&ctx->lock);
	free(ctx);
}

enum udma_iova_mode udma_ctx_iova_mode(const struct udma_ctx *ctx)
{
	return ctx->mode;
}

const char *udma_ctx_iova_reason(const struct udma_ctx *ctx)
{
	return ctx->reason;
}
