/* SPDX-License-Identifier: MIT */
/* Data cache maintenance to the point of coherency, line by line, for devices
 * that do not snoop the CPU's caches (udma_sync_for_device / _for_cpu). */
#include <stdatomic.h>
#include <stdint.h>

#include "lib/os/os.h"

#if defined(__x86_64__) || defined(__i386__)
#include <cpuid.h>
#endif

void udma__dcache_span(uintptr_t addr, size_t len, size_t line, uintptr_t *first, size_t *lines)
{
	uintptr_t start = addr & ~(uintptr_t)(line - 1);
	uintptr_t end = (addr + len + line - 1) & ~(uintptr_t)(line - 1);

	*first = start;
	*lines = len ? (size_t)(end - start) / line : 0;
}

#if defined(__aarch64__)
/* CTR_EL0.DminLine: log2 of the smallest data cache line in 4-byte words.
 * Linux lets EL0 read CTR_EL0, or traps and emulates it on systems whose
 * cores differ (a trap each time): read once. */
size_t udma__dcache_line(void)
{
	static _Atomic size_t line;
	size_t l = atomic_load_explicit(&line, memory_order_relaxed);
	uint64_t ctr;

	if (l)
		return l;
	__asm__ __volatile__("mrs %0, ctr_el0" : "=r"(ctr));
	l = (size_t)4 << ((ctr >> 16) & 0xf);
	atomic_store_explicit(&line, l, memory_order_relaxed);
	return l;
}

bool udma__dcache_maintainable(void)
{
	return true;
}

/* DC CVAC: clean to the point of coherency; DC CIVAC: clean and invalidate
 * (EL0 may not invalidate alone: a clean first keeps a dirty line's bytes).
 * Linux sets SCTLR_EL1.UCI, so EL0 may issue both (on cores with errata it
 * traps and runs them itself). A maintenance instruction is ordered only
 * with accesses to its own line: DMB SY first, so the loads and stores
 * before the sync (the completion flag read, the buffer written) are done
 * before any line is; DSB SY after, so every line is done before the
 * caller's next access, the doorbell's MMIO write included. */
void udma__dcache_clean(const void *addr, size_t len)
{
	size_t line = udma__dcache_line(), n;
	uintptr_t p;

	udma__dcache_span((uintptr_t)addr, len, line, &p, &n);
	__asm__ __volatile__("dmb sy" ::: "memory");
	for (; n; n--, p += line)
		__asm__ __volatile__("dc cvac, %0" ::"r"(p) : "memory");
	__asm__ __volatile__("dsb sy" ::: "memory");
}

void udma__dcache_clean_inval(const void *addr, size_t len)
{
	size_t line = udma__dcache_line(), n;
	uintptr_t p;

	udma__dcache_span((uintptr_t)addr, len, line, &p, &n);
	__asm__ __volatile__("dmb sy" ::: "memory");
	for (; n; n--, p += line)
		__asm__ __volatile__("dc civac, %0" ::"r"(p) : "memory");
	__asm__ __volatile__("dsb sy" ::: "memory");
}
#elif defined(__x86_64__) || defined(__i386__)
/* CPUID leaf 1, EBX bits 15:8: the CLFLUSH line in 8-byte units. Read once:
 * CPUID traps to the hypervisor in a guest (about 25 us measured here). */
size_t udma__dcache_line(void)
{
	static _Atomic size_t line;
	size_t l = atomic_load_explicit(&line, memory_order_relaxed);
	unsigned a, b, c, d;

	if (l)
		return l;
	l = __get_cpuid(1, &a, &b, &c, &d) && (b >> 8 & 0xff) ? (size_t)(b >> 8 & 0xff) * 8 : 64;
	atomic_store_explicit(&line, l, memory_order_relaxed);
	return l;
}

bool udma__dcache_maintainable(void)
{
	return true;
}

/* CLFLUSH writes a dirty line back and drops it: both directions are one
 * instruction; MFENCE orders it against the loads and stores around. */
static void clflush_range(const void *addr, size_t len)
{
	size_t line = udma__dcache_line(), n;
	uintptr_t p;

	udma__dcache_span((uintptr_t)addr, len, line, &p, &n);
	__asm__ __volatile__("mfence" ::: "memory");
	for (; n; n--, p += line)
		__asm__ __volatile__("clflush (%0)" ::"r"(p) : "memory");
	__asm__ __volatile__("mfence" ::: "memory");
}

void udma__dcache_clean(const void *addr, size_t len)
{
	clflush_range(addr, len);
}

void udma__dcache_clean_inval(const void *addr, size_t len)
{
	clflush_range(addr, len);
}
#else
/* 32-bit ARM (and others): cleaning to the point of coherency is privileged. */
size_t udma__dcache_line(void)
{
	return 0;
}

bool udma__dcache_maintainable(void)
{
	return false;
}

void udma__dcache_clean(const void *addr, size_t len)
{
	(void)addr;
	(void)len;
}

void udma__dcache_clean_inval(const void *addr, size_t len)
{
	(void)addr;
	(void)len;
}
#endif
