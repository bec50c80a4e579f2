/* SPDX-License-Identifier: MIT */
/* A latency histogram for the udma command's runs (nvme bench, nic recv). */
#ifndef UDMA_LATENCY_HIST_H
#define UDMA_LATENCY_HIST_H

#include <stdint.h>

/* Log-linear latency histogram in nanoseconds: 32 linear steps per power of
 * two, so a percentile is within about 3 % of the true value. */
#define LATENCY_HIST_SUB     5
#define LATENCY_HIST_BUCKETS ((64 - LATENCY_HIST_SUB + 1) << LATENCY_HIST_SUB)
struct latency_hist {
	uint64_t n, sum, max;
	uint64_t bucket[LATENCY_HIST_BUCKETS];
};
void latency_hist_add(struct latency_hist *h, uint64_t ns);
void latency_hist_merge(struct latency_hist *into, const struct latency_hist *from);
/* The nearest-rank q-quantile (q 0..1, as fio's): the smallest sample with
 * at least q * n samples at or below it, as its bucket's middle (at most max). */
uint64_t latency_hist_quantile(const struct latency_hist *h, double q);

/* Nanoseconds as microseconds, for the reports. */
static inline double latency_us(uint64_t ns)
{
	return (double)ns / 1000.0;
}

#endif
