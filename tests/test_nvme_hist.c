/* SPDX-License-Identifier: MIT */
/*
 * The latency histogram of udma nvme bench (tools/nvme/nvme_bench.c): every
 * value lands in a bucket whose middle is within 3 % of it, and percentiles
 * are nearest-rank ones (fio's): the p50 of four samples is the second, the
 * p99 of a hundred the 99th, not the largest.
 */
#include <stdint.h>
#include <stdlib.h>

#include "tests/support/helpers.h"
#include "tools/latency_hist.h"

static struct latency_hist *hist_of(const uint64_t *v, size_t n)
{
	struct latency_hist *h = calloc(1, sizeof(*h));
	size_t i;

	assert_non_null(h);
	for (i = 0; i < n; i++)
		latency_hist_add(h, v[i]);
	return h;
}

/* Below 64 ns every bucket holds one value: the percentiles are exact. */
static void nearest_rank(void **state)
{
	static const uint64_t four[] = {40, 10, 30, 20};
	uint64_t hundred[100];
	struct latency_hist *h = hist_of(four, 4);
	size_t i;

	(void)state;
	assert_int_equal(latency_hist_quantile(h, 0.25), 10);
	assert_int_equal(latency_hist_quantile(h, 0.5), 20);
	assert_int_equal(latency_hist_quantile(h, 0.75), 30);
	assert_int_equal(latency_hist_quantile(h, 0.99), 40);
	assert_int_equal(latency_hist_quantile(h, 0), 10);
	assert_int_equal(latency_hist_quantile(h, 1), 40);
	free(h);

	/* 100 samples: 0.99 * 100 is 99.00000000000001 in doubles. */
	for (i = 0; i < 100; i++)
		hundred[i] = i < 99 ? i % 60 : 63;
	h = hist_of(hundred, 100);
	assert_int_equal(latency_hist_quantile(h, 0.99), 59);
	assert_int_equal(latency_hist_quantile(h, 0.999), 63);
	assert_int_equal(h->max, 63);
	free(h);
}

/* A value's bucket answers within 3 % of it (1/64: 32 steps per power of
 * two, answered by the middle), up to the largest uint64_t. */
static void buckets_within_3_percent(void **state)
{
	unsigned shift, k;

	(void)state;
	for (shift = 0; shift < 64; shift++) {
		uint64_t lo = 1ull << shift, hi = lo + (lo - 1); /* this power of two's ends */
		uint64_t v[3] = {lo, lo + lo / 3, hi};

		for (k = 0; k < 3; k++) {
			uint64_t pair[2] = {v[k], UINT64_MAX}, got;
			struct latency_hist *h = hist_of(pair, 2);

			got = latency_hist_quantile(h, 0.5);
			assert_true((got > v[k] ? got - v[k] : v[k] - got) <= v[k] / 64);
			got = latency_hist_quantile(h, 1); /* no overflow in the top bucket */
			assert_true(got >= UINT64_MAX - UINT64_MAX / 64);
			free(h);
		}
	}
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		th_test(nearest_rank),
		th_test(buckets_within_3_percent),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
