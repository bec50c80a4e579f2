/* SPDX-License-Identifier: MIT */
/*
 * DPDK mempool ops "udma": a DPDK application keeps its mbufs (or any
 * mempool's objects) in a udma pool, without a change to its code:
 *   app -d librte_mempool_udma.so --mbuf-pool-ops-name=udma ...
 *
 * One udma object is one whole DPDK element: DPDK's header, the element and
 * its trailer, so the element's IOVA is udma_pool_iova(object) + header and
 * the whole element is one DMA segment (udma never lets an object straddle a
 * physical discontinuity). DPDK's per-lcore cache sits above these ops, so
 * the udma pool has no cache of its own: its store is the shared LIFO.
 *
 * Life of a pool, as DPDK drives it:
 *   alloc     the udma pool: mp->size objects, all in its store (one udma
 *             context per process, made on first use, in the IOVA mode EAL
 *             runs in, destroyed with the last pool);
 *   calc_mem_size, populate
 *             DPDK reserves a memzone of what calc_mem_size asks for (one
 *             cache line: the objects are udma's) and calls populate, which
 *             hands DPDK every udma object by index with its IOVA, checked
 *             against udma_iova over the whole element. The objects are in
 *             the store already, so nothing is taken out and put back.
 *   enqueue, dequeue, get_count
 *             udma_pool_put_bulk, udma_pool_get_bulk, udma_pool_avail;
 *   free      DPDK has dequeued every object it could reach (and leaves the
 *             ones in its lcore caches behind): every object goes back to the
 *             store by index before the pool is destroyed, so none is lost
 *             and udma reports none as not returned.
 *
 * UDMA_PAGE_SIZE (4K, 2M, 1G): the pools' page size; unset, udma's choice.
 * UDMA_DEBUG set (not "" nor "0"): one line per pool at alloc, populate and
 * free, and at free, for an mbuf pool, every mbuf's buf_iova checked against
 * udma_iova(buf_addr). udma's own debug mode (every put checked) follows the
 * same variable.
 */
#include <errno.h>
#include <inttypes.h>
#include <pthread.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include <rte_eal.h>
#include <rte_log.h>
#include <rte_mbuf.h>
#include <rte_mempool.h>

#include <udma/ctx.h>
#include <udma/hugepage.h>
#include <udma/pool.h>

RTE_LOG_REGISTER(udma_mempool_logtype, mempool.udma, INFO);
#define MP_LOG(level, ...) rte_log(RTE_LOG_##level, udma_mempool_logtype, "mempool_udma: " __VA_ARGS__)

/* Objects converted per step between DPDK's pointers and udma's. */
#define BATCH 64

struct udma_mp {
	struct udma_ctx *ctx;
	struct udma_pool *pool;
	size_t header; /* mp->header_size: DPDK's element starts this far into the udma object */
	unsigned count;
	bool debug;
};

static pthread_mutex_t ctx_lock = PTHREAD_MUTEX_INITIALIZER;
static struct udma_ctx *ctx;
static unsigned ctx_users;

static bool debug_on(void)
{
	const char *v = getenv("UDMA_DEBUG");
	return v && *v && strcmp(v, "0") != 0;
}

/* udma's IOVAs must be the ones DPDK's drivers program: the mode EAL chose. */
static enum udma_iova_mode iova_mode_of_eal(void)
{
	switch (rte_eal_iova_mode()) {
	case RTE_IOVA_PA: return UDMA_IOVA_PA;
	case RTE_IOVA_VA: return UDMA_IOVA_VA;
	default: return UDMA_IOVA_AUTO;
	}
}

/* UDMA_PAGE_SIZE (4K, 2M or 1G): the pools' page size; unset: udma's choice
 * (hugepages when enough are free). An environment variable: nothing else
 * reaches a plugin. */
static int page_size_from_env(size_t *out)
{
	const char *v = getenv("UDMA_PAGE_SIZE");
	*out = 0;
	if (!v || !*v)
		return 0;
	if (udma_parse_size(v, out) < 0 ||
	    (*out != UDMA_PAGE_4K && *out != UDMA_PAGE_2M && *out != UDMA_PAGE_1G)) {
		MP_LOG(ERR,
		       "UDMA_PAGE_SIZE=%s: not a page size; use 4K, 2M or 1G, or unset it for udma's "
		       "choice\n",
		       v);
		return -EINVAL;
	}
	return 0;
}

static int ctx_make(void)
{
	struct udma_ctx_opts opts = {.iova_mode = iova_mode_of_eal(), .numa_node = UDMA_NUMA_ANY};
	int rc = page_size_from_env(&opts.page_size);
	if (rc < 0)
		return rc;
	rc = udma_ctx_create(&opts, &ctx);
	if (rc < 0) {
		MP_LOG(ERR, "udma_ctx_create: %s\n", udma_last_error());
		ctx = NULL;
		return rc;
	}
	if (debug_on())
		MP_LOG(INFO, "udma context in %s mode (%s), pages: %s\n",
		       udma_ctx_iova_mode(ctx) == UDMA_IOVA_PA ? "PA" : "VA", udma_ctx_iova_reason(ctx),
		       opts.page_size ? getenv("UDMA_PAGE_SIZE") : "udma's choice");
	return 0;
}

static int ctx_get(struct udma_ctx **out)
{
	int rc = 0;
	pthread_mutex_lock(&ctx_lock);
	if (!ctx)
		rc = ctx_make();
	if (rc == 0) {
		ctx_users++;
		*out = ctx;
	}
	pthread_mutex_unlock(&ctx_lock);
	return rc;
}

static void ctx_put(void)
{
	pthread_mutex_lock(&ctx_lock);
	if (--ctx_users == 0) {
		udma_ctx_destroy(ctx);
		ctx = NULL;
	}
	pthread_mutex_unlock(&ctx_lock);
}

static int udma_mp_alloc(struct rte_mempool *mp)
{
	struct udma_mp *u = calloc(1, sizeof(*u));
	struct udma_ctx *c = NULL;
	if (!u) {
		MP_LOG(ERR, "%s: out of memory for the pool's record\n", mp->name);
		return -ENOMEM;
	}
	int rc = ctx_get(&c);
	if (rc < 0) {
		free(u);
		return rc;
	}
	struct udma_pool_opts opts = {
		.obj_size = (size_t)mp->header_size + mp->elt_size + mp->trailer_size,
		.align = (mp->flags & RTE_MEMPOOL_F_NO_CACHE_ALIGN) ? sizeof(void *) : RTE_MEMPOOL_ALIGN,
		.count = mp->size,
		.cache_size = 0, /* DPDK's lcore cache is above us */
		/* SOCKET_ID_ANY, or an external heap's socket id (not a node) */
		.numa_node = (unsigned)mp->socket_id >= RTE_MAX_NUMA_NODES ? UDMA_NUMA_ANY : mp->socket_id,
		.name = mp->name,
	};
	rc = udma_pool_create(c, &opts, &u->pool);
	if (rc < 0) {
		MP_LOG(ERR, "%s: udma_pool_create (%u objects of %zu bytes): %s\n", mp->name, opts.count,
		       opts.obj_size, udma_last_error());
		ctx_put();
		free(u);
		return rc;
	}
	u->ctx = c;
	u->header = mp->header_size;
	u->count = mp->size;
	u->debug = debug_on();
	mp->pool_data = u;
	if (u->debug)
		MP_LOG(INFO, "alloc %s: udma pool of %u objects of %zu bytes\n", mp->name, opts.count,
		       opts.obj_size);
	return 0;
}

/* The objects are udma's: DPDK's memzone needs to hold nothing. */
static ssize_t udma_mp_calc_mem_size(const struct rte_mempool *mp, uint32_t obj_num, uint32_t pg_shift,
				     size_t *min_chunk_size, size_t *align)
{
	(void)mp, (void)obj_num, (void)pg_shift;
	*min_chunk_size = RTE_MEMPOOL_ALIGN;
	*align = RTE_MEMPOOL_ALIGN;
	return RTE_MEMPOOL_ALIGN;
}

/* Every udma object by index (never taken from the store: a LIFO hands the
 * same few back), each checked to be one DMA segment at udma_pool_iova. */
static int udma_mp_populate(struct rte_mempool *mp, unsigned max_objs, void *vaddr, rte_iova_t iova,
			    size_t len, rte_mempool_populate_obj_cb_t *obj_cb, void *obj_cb_arg)
{
	struct udma_mp *u = mp->pool_data;
	size_t total = (size_t)mp->header_size + mp->elt_size + mp->trailer_size;
	(void)vaddr, (void)iova, (void)len;
	if (max_objs != u->count) {
		MP_LOG(ERR,
		       "%s: populate asked for %u objects, the udma pool has %u: populate the whole pool at "
		       "once\n",
		       mp->name, max_objs, u->count);
		return -EINVAL;
	}
	for (unsigned i = 0; i < u->count; i++) {
		char *obj = udma_pool_obj(u->pool, i);
		uint64_t at = udma_pool_iova(u->pool, obj);
		if (at == UDMA_BAD_IOVA || udma_iova(u->ctx, obj) != at ||
		    udma_iova_contig(u->ctx, obj, total) != total) {
			MP_LOG(ERR,
			       "%s: object %u at %p: udma_pool_iova 0x%" PRIx64 ", udma_iova 0x%" PRIx64
			       ", %zu of %zu bytes IOVA-contiguous: a udma bug, report it\n",
			       mp->name, i, (void *)obj, at, udma_iova(u->ctx, obj),
			       udma_iova_contig(u->ctx, obj, total), total);
			return -EFAULT;
		}
		obj_cb(mp, obj_cb_arg, obj + u->header, at + u->header);
	}
	if (u->debug)
		MP_LOG(INFO,
		       "populate %s: %u objects registered by index, each IOVA-contiguous over %zu bytes at "
		       "udma_iova\n",
		       mp->name, u->count, total);
	return (int)u->count;
}

static int udma_mp_enqueue(struct rte_mempool *mp, void *const *obj_table, unsigned n)
{
	struct udma_mp *u = mp->pool_data;
	void *objs[BATCH];
	while (n > 0) {
		unsigned k = n < BATCH ? n : BATCH;
		for (unsigned i = 0; i < k; i++)
			objs[i] = (char *)obj_table[i] - u->header;
		udma_pool_put_bulk(u->pool, objs, k);
		obj_table += k;
		n -= k;
	}
	return 0;
}

static int udma_mp_dequeue(struct rte_mempool *mp, void **obj_table, unsigned n)
{
	struct udma_mp *u = mp->pool_data;
	int rc = udma_pool_get_bulk(u->pool, obj_table, n);
	if (rc < 0)
		return rc;
	for (unsigned i = 0; i < n; i++)
		obj_table[i] = (char *)obj_table[i] + u->header;
	return 0;
}

static unsigned udma_mp_get_count(const struct rte_mempool *mp)
{
	const struct udma_mp *u = mp->pool_data;
	return udma_pool_avail(u->pool);
}

/* An mbuf pool (rte_pktmbuf_pool_create): every mbuf DPDK initialised points
 * at its own buffer with udma's IOVA for it. */
static void check_mbufs(const struct rte_mempool *mp, const struct udma_mp *u)
{
	unsigned checked = 0, wrong = 0;
	if (mp->private_data_size < sizeof(struct rte_pktmbuf_pool_private))
		return;
	for (unsigned i = 0; i < u->count; i++) {
		const struct rte_mbuf *m = (const void *)((char *)udma_pool_obj(u->pool, i) + u->header);
		if (m->pool != mp)
			continue; /* not initialised as an mbuf */
		checked++;
		if (m->buf_iova != udma_iova(u->ctx, m->buf_addr) ||
		    udma_iova_contig(u->ctx, m->buf_addr, m->buf_len) != m->buf_len) {
			if (wrong++ == 0)
				MP_LOG(ERR,
				       "%s: mbuf %u: buf_iova 0x%" PRIx64 ", udma_iova(buf_addr) 0x%" PRIx64
				       "\n",
				       mp->name, i, (uint64_t)m->buf_iova, udma_iova(u->ctx, m->buf_addr));
		}
	}
	MP_LOG(INFO, "free %s: buf_iova == udma_iova(buf_addr) checked for %u mbufs of %u, %u wrong\n",
	       mp->name, checked, u->count, wrong);
}

static void udma_mp_free(struct rte_mempool *mp)
{
	struct udma_mp *u = mp->pool_data;
	void *objs[BATCH];
	if (!u)
		return;
	if (u->debug) {
		struct udma_pool_stats st;
		if (udma_pool_stats(u->pool, &st) == 0)
			MP_LOG(INFO,
			       "free %s: the ops moved %" PRIu64 " objects out, %" PRIu64
			       " in (udma_pool_stats)\n",
			       mp->name, st.gets, st.puts);
		check_mbufs(mp, u);
	}
	/* Take what is still in the store, then put every object back once. */
	unsigned in_store = udma_pool_avail(u->pool), left = in_store;
	while (left > 0) {
		unsigned k = left < BATCH ? left : BATCH;
		if (udma_pool_get_bulk(u->pool, objs, k) < 0) {
			MP_LOG(ERR, "%s: %u objects in the store could not be taken back: %s\n", mp->name,
			       left, udma_last_error());
			break;
		}
		left -= k;
	}
	if (left == 0) {
		for (unsigned i = 0; i < u->count; i += BATCH) {
			unsigned k = u->count - i < BATCH ? u->count - i : BATCH;
			for (unsigned j = 0; j < k; j++)
				objs[j] = udma_pool_obj(u->pool, i + j);
			udma_pool_put_bulk(u->pool, objs, k);
		}
	}
	if (u->debug && left == 0)
		MP_LOG(INFO,
		       "free %s: %u of %u objects were out (taken by DPDK's free or in its lcore caches), "
		       "all back\n",
		       mp->name, u->count - in_store, u->count);
	udma_pool_destroy(u->pool);
	ctx_put();
	free(u);
	mp->pool_data = NULL;
}

static const struct rte_mempool_ops udma_mempool_ops = {
	.name = "udma",
	.alloc = udma_mp_alloc,
	.free = udma_mp_free,
	.enqueue = udma_mp_enqueue,
	.dequeue = udma_mp_dequeue,
	.get_count = udma_mp_get_count,
	.calc_mem_size = udma_mp_calc_mem_size,
	.populate = udma_mp_populate,
};

RTE_MEMPOOL_REGISTER_OPS(udma_mempool_ops);
