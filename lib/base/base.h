/* SPDX-License-Identifier: MIT */
/*
 * lib/base: what every layer uses and nothing else: the thread's error
 * message, the log, size formatting, the clock; compiler.h (attributes, branch hints,
 * cpu pause) and list.h (an intrusive list). Depends on libc only.
 */
#ifndef UDMA_BASE_H
#define UDMA_BASE_H

#include <stddef.h>
#include <stdint.h>
#include <sys/types.h>
#include <udma/udma.h>

#include "lib/base/compiler.h"

/* 32-bit builds need -D_FILE_OFFSET_BITS=64: VFIO places a device's regions
 * 2^40 bytes apart in its fd, and a memfd may outgrow 2 GiB. */
_Static_assert(sizeof(off_t) == 8, "off_t is 32-bit: build with -D_FILE_OFFSET_BITS=64");

/* error.c: set the thread's message and return -errnum. */
UDMA_HIDDEN int udma__err(int errnum, const char *fmt, ...) UDMA_PRINTF(2, 3);
/* The same for a fixed message: no formatting, cheap enough for hot paths. */
UDMA_HIDDEN int udma__err_const(int errnum, const char *msg);

/* log.c: a report of the library's own (level UDMA_LOG_*), with no "udma: "
 * and no newline: to the callback of udma_set_log, else "udma: MSG\n" on stderr. */
UDMA_HIDDEN void udma__log(int level, const char *fmt, ...) UDMA_PRINTF(2, 3);

/* size.c: "2 MiB" for people, exact ("1536 KiB"), or rounded to a tenth of the
 * largest unit ("1.5 MiB"); "2M" as the udma command takes it. 64-bit: byte
 * counts of memory (meminfo, a 64-bit peer's region) outgrow a 32-bit size_t. */
UDMA_HIDDEN const char *udma__fmt_size(uint64_t bytes, char *buf, size_t len);
UDMA_HIDDEN const char *udma__fmt_size_approx(uint64_t bytes, char *buf, size_t len);
UDMA_HIDDEN const char *udma__fmt_size_arg(uint64_t bytes, char *buf, size_t len);
/* log2 of a power of two. */
UDMA_HIDDEN unsigned udma__log2(size_t v);

/* clock.c: CLOCK_MONOTONIC in ns. */
UDMA_HIDDEN uint64_t udma__now_ns(void);

#endif
