/* SPDX-License-Identifier: MIT */
/* udma demo: its state, shared by cmd_demo.c (set-up, teardown), the phases
 * (demo_nic.c, demo_blk.c, with demo_core.c) and the report (demo_report.c). */
#ifndef UDMA_DEMO_H
#define UDMA_DEMO_H

#include <signal.h>
#include <stdbool.h>
#include <stdint.h>
#include <time.h>
#include <udma/udma.h>

#include "sim/simd_spawn.h"
#include "drivers/simdrv/simdrv.h"

/* Queue ids on the device: "sim:demo,queues=3". */
enum { DEMO_Q_TX, DEMO_Q_RX, DEMO_Q_BLK, DEMO_NQUEUES };
/* Pools, by the id a descriptor's cookie carries (see demo_cookie). */
enum { DEMO_POOL_PKT, DEMO_POOL_BLK_WR, DEMO_POOL_BLK_RD, DEMO_NPOOLS };

#define DEMO_PKT_SIZE  2048u
#define DEMO_PKT_COUNT 4096u
#define DEMO_PKT_MIN   64u
#define DEMO_PKT_MAX   1500u
#define DEMO_BLK_SIZE  4096u
#define DEMO_BATCH     32u /* descriptors per doorbell */
#define DEMO_REAP_MAX  64u
#define DEMO_BLK_QD    64u /* block requests in flight */
#define DEMO_BLK_BUFS  (2 * DEMO_BLK_QD)
/* Queue depths. RX keeps min(512, buffers / 8) posted and TX has at most that
 * many in flight (a TX goes only against a posted RX buffer): with the
 * per-thread cache, never more than half the pool is out. */
#define DEMO_TX_DEPTH  1024u
#define DEMO_RX_DEPTH  1024u
#define DEMO_BLK_DEPTH 128u

struct demo_opts {
	unsigned long packets;
	size_t block_bytes;
	size_t page_size; /* 0: automatic */
	bool thread, irq;
};

struct demo_nic {
	uint64_t sent, received, verified, bytes;
	uint64_t corrupt; /* wrong length, content or order */
	uint64_t errors;  /* completions with a status other than OK */
	double secs;
	char first_bad[200];
};

struct demo_blk {
	uint64_t written, read; /* bytes */
	uint64_t errors;
	uint64_t sum_written, sum_read;
	double write_secs, read_secs;
	bool done;
};

struct demo {
	struct demo_opts o;
	struct udma_ctx *ctx;
	struct udma_dev *dev;
	struct simdrv drv;
	bool attached;
	struct simd_proc proc;
	bool spawned;
	char spec[192];
	struct udma_pool *pool[DEMO_NPOOLS];
	unsigned pkt_count; /* packet buffers: 4096, fewer under a low RLIMIT_MEMLOCK */
	unsigned rx_posted; /* RX buffers kept posted */
	bool progress;	    /* stderr is a terminal */
	struct timespec last_progress;
	bool progress_shown;
	struct demo_nic nic;
	struct demo_blk blk;
	char why[320]; /* the first failure: one line, with the fix */
	int err;       /* its errno: EIO when the device or the data was wrong */
};

/* What teardown measured, and the outcome. */
struct demo_verdict {
	long long faults; /* -1: unknown (the device is gone) */
	long long drops;
	uint64_t fault_iova;
	unsigned leaked, avail[DEMO_NPOOLS], count[DEMO_NPOOLS];
	int simd_status; /* udma-simd's exit status, -1 when none */
	pid_t pid;
	size_t page_size, pool_bytes;
	unsigned pool_regions;
	char iova_mode[4], iova_reason[192];
	bool ok;
	const char *why;
	int err;
};

/* Set by SIGINT/SIGTERM: the loops stop, everything is released. */
extern volatile sig_atomic_t demo_interrupted;

/* Record the first failure (printf-style), with its errno (demo_fail: EIO,
 * or EINTR once interrupted); returns -1. */
int demo_fail(struct demo *d, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
int demo_fail_err(struct demo *d, int err, const char *fmt, ...) __attribute__((format(printf, 3, 4)));
double demo_now(void);

extern const char *const demo_pool_names[DEMO_NPOOLS];

/* The phases: 0, or -1 with d->why set. Nothing is left in flight on success. */
int demo_nic_run(struct demo *d);
int demo_blk_run(struct demo *d);

/* demo_core.c: shared by the phases. */
uint64_t demo_mix64(uint64_t x);
/* A "\r..." line on stderr when it is a terminal, at most 10 a second. */
void demo_progress(struct demo *d, const char *what, uint64_t done, uint64_t total, double t0);
void demo_progress_clear(struct demo *d);
const char *demo_status_name(unsigned st);
/* Nothing completed: sleep (interrupts) or yield (polling); -1 with d->why
 * set if the device is gone, stuck for seconds, or the user interrupted. */
int demo_idle(struct demo *d, double *idle_since, const char *what);
void *demo_cookie_buf(struct demo *d, uint64_t cookie); /* NULL if not one of ours */
void demo_put_cookie(struct demo *d, uint64_t cookie);
/* Take back every buffer still in flight (reset, or abandon if the device is gone). */
void demo_reclaim(struct demo *d);

/* demo_report.c */
void demo_report_text(const struct demo *d, const struct demo_verdict *v);
void demo_report_json(const struct demo *d, const struct demo_verdict *v);

/* A descriptor's cookie: the pool and object index of its buffer, and a tag
 * (packet or block number) above them. */
static inline uint64_t demo_cookie(unsigned pool, unsigned index, uint32_t tag)
{
	return (uint64_t)tag << 32 | (uint64_t)pool << 28 | index;
}

#endif
