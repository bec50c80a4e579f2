/* SPDX-License-Identifier: MIT */
/* The monotonic clock, for deadlines. */
#include <time.h>

#include "lib/base/base.h"

uint64_t udma__now_ns(void)
{
	struct timespec t;

	clock_gettime(CLOCK_MONOTONIC, &t);
	return (uint64_t)t.tv_sec * 1000000000u + (uint64_t)t.tv_nsec;
}
