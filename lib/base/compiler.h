/* SPDX-License-Identifier: MIT */
/*
 * Compiler and CPU helpers every layer may use: branch hints, the cpu pause
 * of a spin loop, the cache line size, symbol attributes. Self-contained (no
 * other header of the tree), so sim/, which is libc only and builds
 * udma-simd on its own, may include it too.
 *
 * Atomics in lib/ are C11 <stdatomic.h>: a field shared between threads is
 * declared _Atomic, so the type says which fields are shared and no plain
 * access to one can slip in unnoticed (the __atomic builtins act on plain
 * objects, where a forgotten plain access compiles silently). Each access
 * names its memory order (atomic_*_explicit); the default seq_cst of a bare
 * atomic_load or `=` is for cold paths only. The __atomic builtins remain for
 * memory that is not a C object of ours: device registers, shared memory laid
 * out by a protocol, and the public headers.
 */
#ifndef UDMA_COMPILER_H
#define UDMA_COMPILER_H

#include <stdint.h>

#define udma__likely(x)	  __builtin_expect(!!(x), 1)
#define udma__unlikely(x) __builtin_expect(!!(x), 0)

/* The line size assumed for padding and alignment (x86-64, most arm64). */
#define UDMA_CACHE_LINE 64

#define UDMA_HIDDEN	  __attribute__((visibility("hidden")))
#define UDMA_PRINTF(a, b) __attribute__((format(printf, a, b)))

/* In a spin loop: tell the CPU we wait (frees the core's other hyperthread,
 * saves power, avoids a memory-order flush on exit from the loop). */
static inline void udma__cpu_pause(void)
{
#if defined(__x86_64__) || defined(__i386__)
	__builtin_ia32_pause();
#elif defined(__aarch64__) || (defined(__arm__) && __ARM_ARCH >= 7)
	__asm__ __volatile__("yield" ::: "memory");
#endif
}

/* The high 64 bits of x * m, for targets without unsigned __int128 (32-bit
 * ARM): the division by a reciprocal of pools and the heap. Exact: with m =
 * hi * 2^32 + lo, x * hi + (x * lo >> 32) < 2^64 for any 32-bit x. */
static inline uint64_t udma__mulhi_u32_u64(uint32_t x, uint64_t m)
{
	uint64_t lo = (uint64_t)x * (uint32_t)m, hi = (uint64_t)x * (uint32_t)(m >> 32);

	return (hi + (lo >> 32)) >> 32;
}

#endif
