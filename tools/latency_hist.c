/* SPDX-License-Identifier: MIT */
/*
 * The latency histogram of udma nvme bench and udma nic (latency_hist.h):
 * log-linear buckets, nearest-rank quantiles.
 */
#include "tools/latency_hist.h"

static unsigned bucket_of(uint64_t v)
{
	unsigned msb;

	if (v < (1u << LATENCY_HIST_SUB))
		return (unsigned)v;
	msb = 63u - (unsigned)__builtin_clzll(v);
	return ((msb - LATENCY_HIST_SUB + 1) << LATENCY_HIST_SUB) |
	       (unsigned)((v >> (msb - LATENCY_HIST_SUB)) & ((1u << LATENCY_HIST_SUB) - 1));
}

/* The middle of bucket b's range. */
static uint64_t bucket_value(unsigned b)
{
	unsigned group = b >> LATENCY_HIST_SUB, step = b & ((1u << LATENCY_HIST_SUB) - 1), shift;

	if (!group)
		return step;
	shift = group - 1;
	return (((uint64_t)(1u << LATENCY_HIST_SUB) + step) << shift) + ((1ull << shift) >> 1);
}

void latency_hist_add(struct latency_hist *h, uint64_t ns)
{
	h->bucket[bucket_of(ns)]++;
	h->n++;
	h->sum += ns;
	if (ns > h->max)
		h->max = ns;
}

void latency_hist_merge(struct latency_hist *into, const struct latency_hist *from)
{
	unsigned b;

	for (b = 0; b < LATENCY_HIST_BUCKETS; b++)
		into->bucket[b] += from->bucket[b];
	into->n += from->n;
	into->sum += from->sum;
	if (from->max > into->max)
		into->max = from->max;
}

uint64_t latency_hist_quantile(const struct latency_hist *h, double q)
{
	/* Nearest rank, ceil(q * n): the slack keeps 0.99 * 100, which doubles
	 * make 99.00000000000001, at rank 99. */
	double x = q * (double)h->n * (1 - 1e-12);
	uint64_t rank, seen = 0;
	unsigned b;

	if (!h->n)
		return 0;
	rank = x < 1 ? 1 : (uint64_t)x + ((double)(uint64_t)x < x);
	if (rank > h->n)
		rank = h->n;
	for (b = 0; b < LATENCY_HIST_BUCKETS; b++) {
		seen += h->bucket[b];
		if (seen >= rank) {
			uint64_t v = bucket_value(b);

			return v < h->max ? v : h->max;
		}
	}
	return h->max;
}
