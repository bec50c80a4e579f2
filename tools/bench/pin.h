/* SPDX-License-Identifier: MIT */
/* `udma bench pin` inside: the methods (pin_methods.c) and what runs them (pin_run.c). */
#ifndef UDMA_BENCH_PIN_H
#define UDMA_BENCH_PIN_H

#include <udma/udma.h>

#include "tools/bench/bench_tool.h"

/* What a method needs before it can run. */
enum {
	NEED_ROOT = 1u << 0,	 /* PFNs from pagemap */
	NEED_HUGE = 1u << 1,	 /* free hugetlb pages of its page size */
	NEED_MEMLOCK = 1u << 2,	 /* locks or pins pages: counted against RLIMIT_MEMLOCK */
	NEED_LONGTERM = 1u << 3, /* io_uring buffer registration */
	NEED_DEVICE = 1u << 4,	 /* --device vfio:BDF */
	NEED_CTX = 1u << 5,	 /* a udma context */
	TRANSLATE = 1u << 6,	 /* times translation of memory made beforehand */
};

struct pin_bench;

/* One run of a method at one size. */
struct pin_run {
	size_t size, len, page_size; /* asked, mapped (rounded up to the page size) */
	void *addr, *base;	     /* the memory; what to unmap (THP maps more, to align) */
	size_t base_len, pad;	     /* brk: bytes skipped to align the break */
	int fd;			     /* memfd, io_uring pin */
	struct udma_region *region;
	double ns, extra_ns; /* the time of the run; a part of it (the pin) */
	bool from_heap;	     /* malloc */
	bool have_state;     /* st read by the method itself (malloc: in its child) */
	struct pin_state st;
	char why[320]; /* why it failed */
};

struct pin_method {
	const char *name;
	size_t page_size; /* 0: --page-size, else 4K (translation) */
	unsigned flags;
	int (*get)(struct pin_bench *b, struct pin_run *r);
	void (*put)(struct pin_bench *b, struct pin_run *r);
	const char *extra_key; /* the name of extra_ns, or NULL */
};

struct pin_bench {
	const struct pin_args *a;
	struct udma_ctx *ctx, *dev_ctx;
	struct udma_dev *dev;
	int ctx_err, dev_err;
	char ctx_why[320], dev_why[320];
	bool longterm_checked;
	int longterm_err;
	char longterm_why[320];
	int pagemap_fd;
	uint64_t *entries; /* pagemap_bulk's output */
};

extern const struct pin_method pin_methods[];
extern const size_t pin_nmethods;

#endif
