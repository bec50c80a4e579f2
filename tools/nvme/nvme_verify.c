/* SPDX-License-Identifier: MIT */
/*
 * udma nvme verify: write blocks whose every 8-byte word says where it
 * belongs, read them back and compare. A word holds its block number and its
 * offset in the block, mixed with the seed, so a mismatch says what the word
 * that was found instead is: another block's (a misdirected transfer), a
 * stale pattern of another seed (a write that never happened), or neither
 * (corruption). One command in flight at a time: this is a check, not a bench.
 */
#include <errno.h>
#include <stdio.h>
#include <string.h>

#include "tools/nvme/nvme_tool.h"

#define OFF_BITS 20 /* offsets in a block below 1 MiB; the block number above */

static uint64_t seed_mix(uint64_t seed)
{
	return (seed + 1) * 0x9E3779B97F4A7C15ull;
}

uint64_t nvme_verify_word(uint64_t off, uint32_t block, uint64_t seed)
{
	return ((off / block) << OFF_BITS | (off % block)) ^ seed_mix(seed);
}

int nvme_verify_decode(uint64_t word, uint32_t block, uint64_t seed, uint64_t *off)
{
	uint64_t raw = word ^ seed_mix(seed), in = raw & ((1u << OFF_BITS) - 1);

	if (in >= block || in % 8 || raw >> OFF_BITS > (UINT64_MAX >> OFF_BITS) / block)
		return -1;
	*off = (raw >> OFF_BITS) * block + in;
	return 0;
}

/* One command, waited for; -EINTR instead once a signal asked to stop. */
static int one(struct nvme_target *t, struct target_queue *q, bool write, void *buf, uint64_t off,
	       uint32_t len, char *why, size_t why_len)
{
	struct nvme_done d;
	int rc;

	if (run_stopped()) {
		snprintf(why, why_len, "interrupted by %s before %s %u bytes at %llu", run_stopped_by(),
			 write ? "writing" : "reading", len, (unsigned long long)off);
		return -EINTR;
	}
	rc = t->ops->submit(q, write, buf, off, len, 0);

	if (!rc)
		rc = t->ops->kick(q);
	if (!rc)
		rc = t->ops->wait(q, &d, 1);
	if (rc < 0) {
		snprintf(why, why_len, "%s %u bytes at %llu: %s", write ? "writing" : "reading", len,
			 (unsigned long long)off, t->ops->queue_error());
		return rc;
	}
	if (d.err) {
		snprintf(why, why_len, "%s %u bytes at %llu failed: %s", write ? "writing" : "reading", len,
			 (unsigned long long)off, strerror(-d.err));
		return d.err;
	}
	return 0;
}

int nvme_verify_run(struct nvme_target *t, const struct nvme_verify_opts *o, struct nvme_verify_result *r)
{
	struct target_queue *q;
	uint64_t off, w;
	uint64_t *buf;
	int rc;

	memset(r, 0, sizeof(*r));
	if ((rc = t->ops->queue_open(t, 1, o->bs, false, &q))) {
		snprintf(r->why, sizeof(r->why), "%s", t->why);
		return rc;
	}
	buf = t->ops->queue_buf(q, 0);
	for (off = 0; !o->check_only && off < o->bytes; off += o->bs) {
		for (w = 0; w < o->bs / 8; w++)
			buf[w] = nvme_verify_word(off + w * 8, t->block, o->seed);
		if ((rc = one(t, q, true, buf, off, o->bs, r->why, sizeof(r->why))))
			goto out;
		r->written += o->bs;
	}
	for (off = 0; off < o->bytes; off += o->bs) {
		memset(buf, 0xa5, o->bs); /* a read that moves nothing cannot pass */
		if ((rc = one(t, q, false, buf, off, o->bs, r->why, sizeof(r->why))))
			goto out;
		for (w = 0; w < o->bs / 8; w++) {
			uint64_t want = nvme_verify_word(off + w * 8, t->block, o->seed);

			if (buf[w] != want) {
				r->mismatch = true;
				r->bad_off = off + w * 8;
				r->expected = want;
				r->got = buf[w];
				rc = 1;
				goto out;
			}
		}
		r->checked += o->bs;
	}
out:
	t->ops->queue_close(t, q);
	return rc;
}
