/* SPDX-License-Identifier: MIT */
/*
 * Division by a reciprocal, as pools and the heap turn an object's offset
 * into its index: the high 64 bits of offset * ceil(2^64 / stride). Where the
 * compiler has unsigned __int128 (x86-64, arm64) the product is taken with
 * it; elsewhere (32-bit ARM) udma__mulhi_u32_u64 splits it. Here: the split
 * equals the 128-bit product wherever both exist, and the quotient is the
 * true one on every target.
 */
#include <stdint.h>

#include "lib/alloc/heap_internal.h"
#include "lib/base/compiler.h"
#include "tests/support/helpers.h"

/* Strides of pool objects and heap classes: odd, cache-line multiples,
 * 3 * 2^k classes, and large ones near the 32-bit limit. */
static const uint32_t strides[] = {3,	      7,     24,     48,	  96,	    100,
				   192,	      384,   768,    1000,	  4095,	    4097,
				   3 << 20,   65537, 123457, 1 << 29 | 1, 3u << 30, UINT32_MAX - 1,
				   UINT32_MAX};

/* A small deterministic generator: the same cases on every run. */
static uint64_t next(uint64_t *s)
{
	*s ^= *s << 13;
	*s ^= *s >> 7;
	*s ^= *s << 17;
	return *s;
}

static void split_equals_128(void **state)
{
#ifdef __SIZEOF_INT128__
	static const uint64_t edges[] = {0,	    1, UINT32_MAX, (uint64_t)UINT32_MAX + 1, UINT64_MAX - 1,
					 UINT64_MAX};
	static const uint32_t xs[] = {0, 1, 2, 0x7fffffff, 0x80000000u, UINT32_MAX - 1, UINT32_MAX};
	uint64_t s = 0x9e3779b97f4a7c15ull;
	unsigned i, j;

	(void)state;
	for (i = 0; i < sizeof(xs) / sizeof(xs[0]); i++)
		for (j = 0; j < sizeof(edges) / sizeof(edges[0]); j++)
			assert_true(udma__mulhi_u32_u64(xs[i], edges[j]) ==
				    (uint64_t)(((unsigned __int128)xs[i] * edges[j]) >> 64));
	for (i = 0; i < 1000000; i++) {
		uint32_t x = (uint32_t)next(&s);
		uint64_t m = next(&s);

		assert_true(udma__mulhi_u32_u64(x, m) == (uint64_t)(((unsigned __int128)x * m) >> 64));
	}
#else
	(void)state;
	print_message("# skip: no unsigned __int128 on this target to compare with (the quotients are "
		      "checked by exact_quotients)\n");
	skip();
#endif
}

/* off / stride for every offset below 2^20 and around every multiple of the
 * stride up to the 32-bit limit's neighbourhood, through udma__heap_div and
 * the split alike. */
static void exact_quotients(void **state)
{
	uint64_t s = 0x2545f4914f6cdd1dull;
	unsigned i, k;

	(void)state;
	for (i = 0; i < sizeof(strides) / sizeof(strides[0]); i++) {
		uint64_t d = strides[i], recip = UINT64_MAX / d + 1;
		uint32_t off;

		for (off = 0; off < (1u << 16); off++) {
			assert_true(udma__heap_div(off, recip) == off / d);
			assert_true(udma__mulhi_u32_u64(off, recip) == off / d);
		}
		for (k = 0; k < 20000; k++) {
			uint64_t q = next(&s) % (UINT32_MAX / d + 1), at = q * d;
			int delta;

			for (delta = -1; delta <= 1; delta++) {
				uint64_t o = at + (uint64_t)(int64_t)delta;

				if (o > UINT32_MAX || (delta < 0 && !at))
					continue;
				assert_true(udma__heap_div((size_t)o, recip) == o / d);
				assert_true(udma__mulhi_u32_u64((uint32_t)o, recip) == o / d);
			}
		}
		assert_true(udma__mulhi_u32_u64(UINT32_MAX, recip) == UINT32_MAX / d);
	}
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		th_test(split_equals_128),
		th_test(exact_quotients),
	};

	return cmocka_run_group_tests_name("recip_div", tests, NULL, NULL);
}
