/* SPDX-License-Identifier: MIT */
/*
 * udma demo, block store: write it all in 4 KiB blocks from one pool of DMA
 * buffers, several in flight, read it back into another, and compare XXH64
 * checksums of the two streams.
 */
#include <stdio.h>
#include <string.h>
#include <unistd.h>

#include "demo.h"

/* ---- the checksum: XXH64 over a stream of 32-byte multiples ------------- */

#define XXP1 0x9e3779b185ebca87ull
#define XXP2 0xc2b2ae3d27d4eb4full
#define XXP3 0x165667b19e3779f9ull
#define XXP4 0x85ebca77c2b2ae63ull

struct xxh64 {
	uint64_t v[4], len;
};

static inline uint64_t rotl(uint64_t x, int r)
{
	return x << r | x >> (64 - r);
}

static inline uint64_t xxh_round(uint64_t acc, uint64_t in)
{
	return rotl(acc + in * XXP2, 31) * XXP1;
}

static void xxh_init(struct xxh64 *h)
{
	*h = (struct xxh64){{XXP1 + XXP2, XXP2, 0, -XXP1}, 0};
}

/* len: a multiple of 32 (blocks are 4 KiB), so no partial stripe is kept. */
static void xxh_update(struct xxh64 *h, const uint8_t *p, size_t len)
{
	uint64_t v0 = h->v[0], v1 = h->v[1], v2 = h->v[2], v3 = h->v[3], in[4];
	size_t i;

	for (i = 0; i + 32 <= len; i += 32) {
		memcpy(in, p + i, 32);
		v0 = xxh_round(v0, in[0]);
		v1 = xxh_round(v1, in[1]);
		v2 = xxh_round(v2, in[2]);
		v3 = xxh_round(v3, in[3]);
	}
	h->v[0] = v0, h->v[1] = v1, h->v[2] = v2, h->v[3] = v3;
	h->len += len;
}

static uint64_t xxh_digest(const struct xxh64 *h)
{
	uint64_t r = rotl(h->v[0], 1) + rotl(h->v[1], 7) + rotl(h->v[2], 12) + rotl(h->v[3], 18);
	int i;

	for (i = 0; i < 4; i++)
		r = (r ^ xxh_round(0, h->v[i])) * XXP1 + XXP4;
	r += h->len;
	r = (r ^ (r >> 33)) * XXP2;
	r = (r ^ (r >> 29)) * XXP3;
	return r ^ (r >> 32);
}

/* A block's contents: a function of the run's seed and the block number. */
static void blk_fill(uint64_t *p, uint64_t seed, uint64_t block)
{
	uint64_t base = demo_mix64(seed ^ demo_mix64(block));
	size_t w;

	p[0] = block;
	for (w = 1; w < DEMO_BLK_SIZE / 8; w++)
		p[w] = base + w * 0xd1342543de82ef95ull;
}

/* ---- the block store ---------------------------------------------------- */

/* Write (or read) every block in order, BLK_QD in flight; the checksum runs
 * over what is written as it is submitted, over what is read as it completes
 * (in order: a queue completes its entries in the order submitted). */
static int blk_pass(struct demo *d, bool write, uint64_t seed, struct xxh64 *h, double *secs)
{
	struct simdrv_queue *q = &d->drv.q[DEMO_Q_BLK];
	unsigned pid = write ? DEMO_POOL_BLK_WR : DEMO_POOL_BLK_RD;
	struct udma_pool *pool = d->pool[pid];
	uint64_t nblocks = d->o.block_bytes / DEMO_BLK_SIZE, next = 0, done = 0;
	const char *what = write ? "block write: 4 KiB blocks" : "block read: 4 KiB blocks";
	double t0 = demo_now(), idle_since = 0;

	while (done < nblocks) {
		struct simdev_sqe sqe[DEMO_BATCH];
		struct simdev_cqe cqe[DEMO_REAP_MAX];
		void *bufs[DEMO_BATCH];
		unsigned n = DEMO_BLK_QD - q->inflight, i, got;
		bool moved = false;

		if (demo_interrupted)
			return demo_fail(d, "interrupted");
		if (n > DEMO_BATCH)
			n = DEMO_BATCH;
		if (n > nblocks - next)
			n = (unsigned)(nblocks - next);
		if (n && !udma_pool_get_bulk(pool, bufs, n)) {
			for (i = 0; i < n; i++) {
				if (write) {
					blk_fill(bufs[i], seed, next + i);
					xxh_update(h, bufs[i], DEMO_BLK_SIZE);
				}
				sqe[i] = (struct simdev_sqe){
					.opcode = write ? SIMDEV_OP_BLK_WRITE : SIMDEV_OP_BLK_READ,
					.len = DEMO_BLK_SIZE,
					.block = next + i,
					.cookie = demo_cookie(pid, udma_pool_index(pool, bufs[i]),
							      (uint32_t)(next + i)),
				};
				if (write)
					sqe[i].src = udma_pool_iova(pool, bufs[i]);
				else
					sqe[i].dst = udma_pool_iova(pool, bufs[i]);
			}
			simdrv_submit(q, sqe, n);
			next += n;
			moved = true;
		}
		got = simdrv_reap(q, cqe, DEMO_REAP_MAX);
		for (i = 0; i < got; i++, done++) {
			unsigned st = SIMDEV_CQE_STATUS(cqe[i].status);
			void *b = demo_cookie_buf(d, cqe[i].cookie);

			/* On a failure the rest of the batch still goes back to its pool. */
			if (st != SIMDEV_ST_OK) {
				d->blk.errors++;
				demo_fail(d, "block %s of block %llu failed: device status %s",
					  write ? "write" : "read", (unsigned long long)done,
					  demo_status_name(st));
			} else if ((uint32_t)(cqe[i].cookie >> 32) != (uint32_t)done || !b) {
				d->blk.errors++;
				demo_fail(d, "block %s completion %llu is for block %u: out of order",
					  write ? "write" : "read", (unsigned long long)done,
					  (unsigned)(cqe[i].cookie >> 32));
			} else if (!write) {
				xxh_update(h, b, DEMO_BLK_SIZE);
			}
			demo_put_cookie(d, cqe[i].cookie);
		}
		if (d->blk.errors)
			return -1;
		if (got || moved)
			idle_since = 0;
		else if (demo_idle(d, &idle_since, write ? "block write" : "block read"))
			return -1;
		demo_progress(d, what, done, nblocks, t0);
	}
	*secs = demo_now() - t0;
	if (write)
		d->blk.written = nblocks * DEMO_BLK_SIZE;
	else
		d->blk.read = nblocks * DEMO_BLK_SIZE;
	demo_progress_clear(d);
	return 0;
}

int demo_blk_run(struct demo *d)
{
	struct timespec t;
	struct xxh64 hw, hr;
	uint64_t seed;

	/* A fresh seed each run: the checksum is not a constant. */
	clock_gettime(CLOCK_REALTIME, &t);
	seed = demo_mix64((uint64_t)t.tv_nsec ^ (uint64_t)t.tv_sec << 32 ^ (uint64_t)getpid());
	xxh_init(&hw);
	xxh_init(&hr);
	if (blk_pass(d, true, seed, &hw, &d->blk.write_secs) ||
	    blk_pass(d, false, seed, &hr, &d->blk.read_secs))
		return -1;
	d->blk.sum_written = xxh_digest(&hw);
	d->blk.sum_read = xxh_digest(&hr);
	d->blk.done = true;
	if (d->blk.sum_written != d->blk.sum_read)
		return demo_fail(
			d,
			"block store: checksum of what was read (%016llx) differs from what was written "
			"(%016llx)",
			(unsigned long long)d->blk.sum_read, (unsigned long long)d->blk.sum_written);
	return 0;
}
