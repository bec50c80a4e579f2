/* SPDX-License-Identifier: MIT */
/*
 * udma nvme: identify, bench and verify an NVMe namespace through the udma
 * driver (drivers/nvme, "uio:ADDR" / "vfio:ADDR"), or a block device or file
 * through the kernel (O_DIRECT Linux AIO, --kernel PATH). Both sides are a
 * struct nvme_target with the same queue operations, so one workload loop
 * (nvme_bench.c), one latency histogram and one output format serve both and
 * their figures compare directly. cmd_nvme.c parses and prints, nvme_udma.c
 * and nvme_kernel.c are the two targets, nvme_verify.c the data check.
 */
#ifndef UDMA_NVME_TOOL_H
#define UDMA_NVME_TOOL_H

#include <signal.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "tools/latency_hist.h"
#include "tools/run_stop.h"

/* One finished command, as a queue reports it. */
struct nvme_done {
	uint64_t cookie;
	int err; /* 0 or a negative errno */
};

struct target_queue;

/* The operations of one side. Each queue belongs to one thread and owns
 * depth buffers of buf_size bytes (DMA memory on the udma side). Every
 * int-returning operation gives 0 or a count, or a negative errno with the
 * reason in t->why (queue_open) or queue_error() (the others). */
struct nvme_target;
struct nvme_target_ops {
	const char *kind;     /* "udma" or "kernel" */
	const char *doorbell; /* what a kick costs on this side */
	int (*queue_open)(struct nvme_target *t, unsigned depth, size_t buf_size, bool irq,
			  struct target_queue **out);
	void (*queue_close)(struct nvme_target *t, struct target_queue *q);
	void *(*queue_buf)(struct target_queue *q, unsigned i);
	/* Queue a transfer (not started before kick). */
	int (*submit)(struct target_queue *q, bool write, void *buf, uint64_t off, uint32_t len,
		      uint64_t cookie);
	/* Start what was queued: one doorbell (udma) or one io_submit (kernel). */
	int (*kick)(struct target_queue *q);
	/* Wait for at least one completion, take up to max. */
	int (*wait)(struct target_queue *q, struct nvme_done *out, unsigned max);
	/* Thread-local: why the last queue operation of this thread failed. */
	const char *(*queue_error)(void);
	void (*close)(struct nvme_target *t);
};

/* A device the workload runs on. */
struct nvme_target {
	const struct nvme_target_ops *ops;
	char name[128];	     /* the DEV or PATH given */
	uint32_t block;	     /* transfers are multiples of this, at multiples of it */
	uint64_t capacity;   /* bytes */
	uint32_t max_xfer;   /* bytes per command */
	unsigned max_depth;  /* commands in flight per queue at most */
	unsigned max_queues; /* queues (threads) at most */
	void *priv;
	char why[512];
};

struct nvme_ctrl;

/* Open "uio:ADDR" or "vfio:ADDR" (the udma driver, asking for qpairs I/O
 * queue pairs; 0: the driver's default) or a kernel PATH. On failure t->why
 * says why and nothing is left open; else t->close(t) closes it. */
int nvme_target_udma(struct nvme_target *t, const char *dev, unsigned qpairs);
int nvme_target_kernel(struct nvme_target *t, const char *path, bool writable);

enum nvme_pattern { NVME_RANDREAD, NVME_READ, NVME_RANDWRITE, NVME_WRITE, NVME_MIXED };

struct nvme_bench_opts {
	enum nvme_pattern pattern;
	unsigned read_pct; /* NVME_MIXED: percent of reads */
	uint32_t bs;
	unsigned qd, threads;
	uint64_t time_ns; /* run this long, or */
	uint64_t ios;	  /* this many commands in all */
	bool irq;
	uint64_t seed;
};

struct nvme_bench_result {
	uint64_t ios, bytes, reads, writes, kicks, elapsed_ns;
	struct latency_hist hist;
	int err;       /* 0 or the first failure's negative errno, reason in why */
	char why[640]; /* room for a target's why and what was being done */
};

/* Run the workload; 0, or a negative errno with r->why set. */
int nvme_bench_run(struct nvme_target *t, const struct nvme_bench_opts *o, struct nvme_bench_result *r);

struct nvme_verify_opts {
	uint64_t bytes;
	uint32_t bs;
	uint64_t seed;
	bool check_only; /* read and compare what an earlier run wrote */
};

struct nvme_verify_result {
	uint64_t written, checked;
	bool mismatch;
	uint64_t bad_off; /* the first mismatching byte's offset (aligned to 8) */
	uint64_t expected, got;
	char why[512];
};

/* 0 (verified), 1 (a mismatch, described in r), or a negative errno (r->why). */
int nvme_verify_run(struct nvme_target *t, const struct nvme_verify_opts *o, struct nvme_verify_result *r);
/* The pattern word at byte offset off (a multiple of 8) for a device with
 * blocks of block bytes. */
uint64_t nvme_verify_word(uint64_t off, uint32_t block, uint64_t seed);
/* If word is the pattern of some offset under seed, that offset: 0, else -1. */
int nvme_verify_decode(uint64_t word, uint32_t block, uint64_t seed, uint64_t *off);

/* The controller behind a udma target (NULL for the kernel's). */
struct nvme_ctrl *nvme_target_ctrl(const struct nvme_target *t);

#endif
