/* SPDX-License-Identifier: MIT */
/*
 * The simulated DMA device through its reference driver (drivers/simdrv/simdrv.c):
 * how many descriptors per second it completes, and what that costs against
 * the CPU doing the same copies itself.
 *
 * Operations: DMA COPY of 64 B and 2 KiB (queue 0 of type DMA), and the NIC
 * loopback of 64 B and 1500 B packets (queue 0 TX, queue 1 RX: each TX packet
 * lands in the next posted RX buffer). Each for:
 * - batch sizes 1, 8, 32, 128: one batch is built, handed over with one
 *   doorbell, and its completions reaped (waiting as the driver waits) before
 *   the next one; the NIC then re-posts the RX buffers it got back, with one
 *   RX doorbell, so a packet costs a TX and an RX descriptor and completion;
 * - polling (the device spins on its doorbells, the driver yields between
 *   empty reaps) or interrupts (the device sleeps on its doorbell eventfd,
 *   the driver on the interrupt fd): simdrv_attach's irq_mode;
 * - the device in a thread of this process ("sim:b,queues=2") or in a process
 *   of its own (udma-simd, "sim:b,queues=2@SOCKET").
 * The peer, in the same run and alternating with the device run by run: the
 * same bytes copied by memcpy in this thread, between the same buffers, in
 * the same batches. ratio = device / memcpy ns per descriptor (per packet).
 * The driver runs on CPU 0 and the device on CPU 1 (--pin). Each line also
 * says what the runs cost in CPUs and how much other work ran meanwhile
 * (a 2-core machine has no spare core for it).
 *
 * Every configuration starts with a warm-up that also sizes its runs (about
 * --ms milliseconds each); medians of --runs runs. Correctness: every
 * completion is checked (status, length, order); at the end of each
 * configuration the destination buffers are zeroed, one more pass goes
 * through the device and every byte is compared with its source (and the
 * bytes after it must still be zero); the device's counters must agree
 * (descriptors, bytes, no IOMMU fault, no RX drop). A configuration that
 * fails prints a "failed" line, and the bench exits 1. With -DBENCH_IN_CLI
 * the lines are rows of `udma bench dev`.
 *
 * usage: bench_dev [--runs N] [--quick] [--ms N] [--iova auto|pa|va] [--pin split|same|none]
 *                  [--case TEXT]
 */
#include <dirent.h>
#include <errno.h>
#include <math.h>
#include <pthread.h>
#include <sched.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <udma/udma.h>

#include "bench_util.h"
#include "lib/base/compiler.h"
#include "sim/simd_spawn.h"
#include "drivers/simdrv/simdrv.h"

#define BENCH	    "dev"
#define MAX_RUNS    1000
#define NSRC	    256u /* source (TX) buffers, used round robin */
#define NDST	    512u /* destination (RX) buffers: twice the RX buffers posted */
#define RX_POSTED   256u /* RX buffers the NIC always has */
#define MAX_BATCH   128u
#define DMA_DEPTH   256u /* entries: a batch in flight, one slot free */
#define RX_DEPTH    512u
#define REGION_SIZE (2u << 20)
#define WAIT_MS	    1000 /* a completion later than this is an error */
#define DEFAULT_MS  40u /* per device run; its warm-up (which sizes the runs) half that, memcpy's an eighth */
#define QUICK_MS    4u
#define SPSC_SPINS  1024u /* the peer's waits: spin this many pauses, then yield */

struct op {
	const char *name;
	bool nic;
	unsigned len;	 /* bytes per descriptor (packet) */
	unsigned stride; /* buffer spacing: a divisor of 4096, so none crosses a page */
};

static const struct op ops[] = {
	{"copy64", false, 64, 64},
	{"copy2k", false, 2048, 2048},
	{"nic64", true, 64, 64},
	{"nic1500", true, 1500, 2048},
};

static const unsigned batches[] = {1, 8, 32, 128};

/* The second peer (COPY cases): a plain single-producer single-consumer ring
 * between this thread and a copier thread placed where the device runs. A
 * batch is written into the ring and published with one store (the doorbell);
 * the copier reads that index again only when its own copy says empty,
 * memcpys each entry and publishes each completion as it is done (as the
 * device does each CQE); this thread takes them in order and checks each, as
 * the driver checks CQEs. What the device
 * costs over that is its protocol: registers, IOMMU checks, CQEs in DMA memory. */
struct spsc_desc {
	const uint8_t *src;
	uint8_t *dst;
	uint32_t len;
	uint64_t cookie;
};

struct spsc {
	struct spsc_desc ring[DMA_DEPTH];
	uint64_t done_cookie[DMA_DEPTH]; /* the copier's completions: the cookie, in ring order */
	int cpu;			 /* the copier's CPU, or -1 */
	pthread_t thread;
	_Alignas(64) unsigned tail; /* atomic: entries written (free running), by this thread */
	_Alignas(64) unsigned done; /* atomic: entries copied, by the copier */
	_Alignas(64) int stop;	    /* atomic */
};

/* A device, its driver, and the buffers of one operation. */
struct sess {
	const struct op *op;
	struct udma_ctx *ctx;
	struct udma_dev *dev;
	struct simdrv drv;
	struct udma_region *reg;
	struct simd_proc proc;
	bool proc_up;
	uint8_t *src[NSRC], *dst[NDST];
	uint64_t src_iova[NSRC], dst_iova[NDST];
	uint64_t next;	  /* next descriptor (packet) number: picks the buffers, is the cookie */
	uint64_t rx_next; /* NIC: next RX buffer number to post */
	uint64_t cpu_next;
	uint64_t spsc_next; /* the SPSC peer's next copy number */
	struct spsc spsc;
	uint64_t waits; /* simdrv_wait calls */
	char err[256];	/* why the last call failed */
};

static bool fail(struct sess *s, const char *fmt, ...) __attribute__((format(printf, 2, 3)));

static bool fail(struct sess *s, const char *fmt, ...)
{
	va_list ap;

	va_start(ap, fmt);
	vsnprintf(s->err, sizeof(s->err), fmt, ap);
	va_end(ap);
	return false;
}

static uint8_t pat(unsigned slot, unsigned i)
{
	return (uint8_t)(slot * 131 + i * 7 + (i >> 8) + 1);
}

enum pin { PIN_SPLIT, PIN_SAME, PIN_NONE };

struct conf {
	unsigned runs;
	uint64_t run_ns;
	enum udma_iova_mode iova;
	enum pin pin;
	const char *only;
};

static int pin_one(pid_t tid, int cpu)
{
	cpu_set_t set;

	CPU_ZERO(&set);
	CPU_SET(cpu, &set);
	return sched_setaffinity(tid, sizeof(set), &set) ? -errno : 0;
}

/* Every thread of process pid but skip (the driver's) to cpu: the device's
 * threads, whichever process they are in. */
static int pin_tasks(pid_t pid, pid_t skip, int cpu)
{
	char path[64];
	struct dirent *e;
	DIR *d;
	int rc = 0;

	snprintf(path, sizeof(path), "/proc/%d/task", (int)pid);
	d = opendir(path);
	if (!d)
		return -errno;
	while (!rc && (e = readdir(d))) {
		pid_t tid = (pid_t)atoi(e->d_name);

		if (tid > 0 && tid != skip)
			rc = pin_one(tid, cpu);
	}
	closedir(d);
	return rc;
}

/* CPU time of the whole machine, of this process and of the device's, to tell
 * how much else ran during a case (a 2-core machine has no spare core) and
 * what the device and its driver cost in CPUs. */
struct load {
	uint64_t t_ns, own_ns;
	double busy_s, steal_s;
};

/* The scheduler's runtime of every thread of pid, in ns (not tick-sampled). */
static uint64_t proc_cpu_ns(pid_t pid)
{
	char path[300];
	struct dirent *e;
	uint64_t sum = 0;
	DIR *d;

	snprintf(path, sizeof(path), "/proc/%d/task", (int)pid);
	d = opendir(path);
	if (!d)
		return 0;
	while ((e = readdir(d))) {
		unsigned long long v;
		FILE *f;

		if (e->d_name[0] == '.')
			continue;
		snprintf(path, sizeof(path), "/proc/%d/task/%s/schedstat", (int)pid, e->d_name);
		f = fopen(path, "re");
		if (!f)
			continue;
		if (fscanf(f, "%llu", &v) == 1)
			sum += v;
		fclose(f);
	}
	closedir(d);
	return sum;
}

static void load_snap(struct load *l, pid_t dev_pid)
{
	unsigned long long v[8] = {0};
	double hz = (double)sysconf(_SC_CLK_TCK);
	FILE *f = fopen("/proc/stat", "re");

	if (f) {
		if (fscanf(f, "cpu %llu %llu %llu %llu %llu %llu %llu %llu", &v[0], &v[1], &v[2], &v[3],
			   &v[4], &v[5], &v[6], &v[7]) != 8)
			memset(v, 0, sizeof(v));
		fclose(f);
	}
	l->busy_s = (double)(v[0] + v[1] + v[2] + v[5] + v[6]) / hz; /* user nice system irq softirq */
	l->steal_s = (double)v[7] / hz;
	l->own_ns = proc_cpu_ns(getpid()) + (dev_pid > 0 ? proc_cpu_ns(dev_pid) : 0);
	l->t_ns = bench_now_ns();
}

/* CPUs' worth of busy time that was neither ours nor the device's, and of
 * time the hypervisor gave elsewhere (steal), between a and b. */
static void load_delta(const struct load *a, const struct load *b, double *other, double *steal)
{
	double wall = (double)(b->t_ns - a->t_ns) / 1e9, o;

	o = (b->busy_s - a->busy_s) - (double)(b->own_ns - a->own_ns) / 1e9;
	*other = wall > 0 && o > 0 ? o / wall : 0; /* below 0: tick rounding */
	*steal = wall > 0 ? (b->steal_s - a->steal_s) / wall : 0;
}

static void sess_close(struct sess *s)
{
	int rc;

	simdrv_detach(&s->drv); /* no-op if never attached */
	if (s->reg)
		udma_region_destroy(s->reg);
	udma_dev_close(s->dev);
	if (s->proc_up) {
		/* It exits when its driver disconnects; one never connected is killed. */
		rc = simd_reap(&s->proc, s->dev ? 2000 : 0);
		if (rc && s->dev)
			fprintf(stderr, "%s: udma-simd exited with status %d\n", bench_prog, rc);
	}
	if (s->ctx)
		udma_ctx_destroy(s->ctx);
	memset(s, 0, sizeof(*s));
}

/* Context, device (spawned first when proc), driver, queues; then the buffer
 * region, created after the device is attached so that it is mapped for it
 * as a driver's later allocations are (a process device gets its fd then). */
static bool sess_open(struct sess *s, const struct op *op, bool irq, bool proc, const struct conf *c)
{
	struct udma_ctx_opts co = {.iova_mode = c->iova, .numa_node = UDMA_NUMA_ANY};
	struct udma_region_opts ro = {.size = REGION_SIZE, .numa_node = UDMA_NUMA_ANY, .name = "bench-dev"};
	char spec[160] = "sim:b,queues=2";
	struct simdev_sqe post[RX_POSTED];
	uint8_t *base;
	unsigned i;
	int rc;

	memset(s, 0, sizeof(*s));
	s->op = op;
	if ((rc = udma_ctx_create(&co, &s->ctx))) {
		s->ctx = NULL;
		return fail(s, "udma_ctx_create: %s", udma_last_error());
	}
	if (proc) {
		rc = simd_spawn(&s->proc, NULL, NULL);
		if (rc)
			return fail(s, "cannot start udma-simd (%s): %s", simd_default_path(), strerror(-rc));
		s->proc_up = true;
		snprintf(spec, sizeof(spec), "sim:b,queues=2@%s", s->proc.sock);
	}
	if ((rc = udma_dev_open(s->ctx, spec, &s->dev))) {
		s->dev = NULL;
		return fail(s, "udma_dev_open(%s): %s", spec, udma_last_error());
	}
	/* The device on CPU 1 and its driver on CPU 0, as a device is not the
	 * CPU that drives it (or both on CPU 0 to see the difference). */
	if (c->pin != PIN_NONE) {
		int dcpu = c->pin == PIN_SPLIT ? 1 : 0;

		rc = pin_tasks(proc ? s->proc.pid : getpid(), proc ? 0 : gettid(), dcpu);
		if (!rc)
			rc = pin_one(0, 0);
		if (rc)
			return fail(s, "cannot pin the device to CPU %d: %s (try --pin none)", dcpu,
				    strerror(-rc));
	}
	if ((rc = simdrv_attach(&s->drv, s->ctx, s->dev, irq)))
		return fail(s, "simdrv_attach: %s", strerror(-rc));
	if (op->nic) {
		rc = simdrv_queue_setup(&s->drv, 0, SIMDEV_QTYPE_NIC_TX, DMA_DEPTH);
		if (!rc)
			rc = simdrv_queue_setup(&s->drv, 1, SIMDEV_QTYPE_NIC_RX, RX_DEPTH);
	} else {
		rc = simdrv_queue_setup(&s->drv, 0, SIMDEV_QTYPE_DMA, DMA_DEPTH);
	}
	if (rc)
		return fail(s, "simdrv_queue_setup: %s (%s)", strerror(-rc), udma_last_error());
	if ((rc = simdrv_enable(&s->drv)))
		return fail(s, "simdrv_enable: %s", strerror(-rc));
	if ((rc = udma_region_create(s->ctx, &ro, &s->reg))) {
		s->reg = NULL;
		return fail(s, "udma_region_create: %s", udma_last_error());
	}
	base = udma_region_addr(s->reg);
	for (i = 0; i < NSRC + NDST; i++) {
		uint8_t *p = base + (size_t)i * op->stride;
		uint64_t a = udma_iova(s->ctx, p);

		if (a == UDMA_BAD_IOVA || udma_iova_contig(s->ctx, p, op->stride) < op->stride)
			return fail(s, "buffer %u is not IOVA-contiguous", i);
		if (i < NSRC) {
			s->src[i] = p;
			s->src_iova[i] = a;
			for (unsigned k = 0; k < op->stride; k++)
				p[k] = pat(i, k);
		} else {
			s->dst[i - NSRC] = p;
			s->dst_iova[i - NSRC] = a;
		}
	}
	if (!op->nic)
		return true;
	/* The RX ring starts full; each batch gives back what it received. */
	for (i = 0; i < RX_POSTED; i++, s->rx_next++)
		post[i] = (struct simdev_sqe){.opcode = SIMDEV_OP_NIC_RX_POST,
					      .len = op->stride,
					      .dst = s->dst_iova[s->rx_next % NDST],
					      .cookie = s->rx_next};
	if (simdrv_submit(&s->drv.q[1], post, RX_POSTED) != RX_POSTED)
		return fail(s, "cannot post %u RX buffers", RX_POSTED);
	return true;
}

/* Take a completion: in order, complete, and OK. */
static bool cqe_check(struct sess *s, const struct simdev_cqe *c, uint64_t want, const char *what)
{
	unsigned st = SIMDEV_CQE_STATUS(c->status);

	if (st != SIMDEV_ST_OK)
		return fail(s, "%s completion %llu: status %u", what, (unsigned long long)want, st);
	if (c->cookie != want)
		return fail(s, "%s completion out of order: cookie %llu, expected %llu", what,
			    (unsigned long long)c->cookie, (unsigned long long)want);
	if (c->len != s->op->len)
		return fail(s, "%s completion %llu: %u bytes, expected %u", what, (unsigned long long)want,
			    c->len, s->op->len);
	return true;
}

/* Reap until q has given n completions (and rx, if any, n too), numbered from
 * *seq (*rx_seq); wait as the reference driver does when there are none. */
static bool reap_n(struct sess *s, unsigned n, uint64_t seq, uint64_t rx_seq)
{
	struct simdrv_queue *q = &s->drv.q[0], *rx = s->op->nic ? &s->drv.q[1] : NULL;
	struct simdev_cqe cqe[MAX_BATCH];
	unsigned got = 0, rx_got = rx ? 0 : n, timeouts = 0, k, i;
	int rc;

	while (got < n || rx_got < n) {
		unsigned progress = 0;

		if (got < n) {
			k = simdrv_reap(q, cqe, n - got);
			for (i = 0; i < k; i++)
				if (!cqe_check(s, &cqe[i], seq + got + i, rx ? "TX" : "COPY"))
					return false;
			got += k;
			progress += k;
		}
		if (rx_got < n) {
			k = simdrv_reap(rx, cqe, n - rx_got);
			for (i = 0; i < k; i++)
				if (!cqe_check(s, &cqe[i], rx_seq + rx_got + i, "RX"))
					return false;
			rx_got += k;
			progress += k;
		}
		if (progress || (got == n && rx_got == n))
			continue;
		s->waits++;
		rc = simdrv_wait(&s->drv, WAIT_MS);
		if (rc == -ETIMEDOUT && ++timeouts < 2)
			continue; /* one more look: a completion may race the interrupt */
		if (rc)
			return fail(s, "waiting for %u completions (%u in): %s", n, got, strerror(-rc));
	}
	return true;
}

/* One batch: n descriptors built, one doorbell, their completions reaped; for
 * the NIC, the n RX buffers then posted again with one more doorbell. */
static bool dev_batch(struct sess *s, unsigned n)
{
	struct simdev_sqe sqe[MAX_BATCH];
	uint64_t seq = s->next, rx_seq = s->rx_next - RX_POSTED;
	unsigned i;

	for (i = 0; i < n; i++) {
		uint64_t j = seq + i;

		sqe[i] = (struct simdev_sqe){.opcode = s->op->nic ? SIMDEV_OP_NIC_TX : SIMDEV_OP_COPY,
					     .len = s->op->len,
					     .src = s->src_iova[j % NSRC],
					     .dst = s->op->nic ? 0 : s->dst_iova[j % NDST],
					     .cookie = j};
	}
	if (simdrv_submit(&s->drv.q[0], sqe, n) != n)
		return fail(s, "the submission ring took fewer than %u entries", n);
	s->next += n;
	if (!reap_n(s, n, seq, rx_seq))
		return false;
	if (!s->op->nic)
		return true;
	for (i = 0; i < n; i++, s->rx_next++)
		sqe[i] = (struct simdev_sqe){.opcode = SIMDEV_OP_NIC_RX_POST,
					     .len = s->op->stride,
					     .dst = s->dst_iova[s->rx_next % NDST],
					     .cookie = s->rx_next};
	if (simdrv_submit(&s->drv.q[1], sqe, n) != n)
		return fail(s, "the RX ring took fewer than %u entries", n);
	return true;
}

/* nb batches of n through the device: ns per descriptor, or -1. */
static double dev_run(struct sess *s, unsigned n, unsigned nb)
{
	uint64_t t0 = bench_now_ns();
	unsigned b;

	for (b = 0; b < nb; b++)
		if (!dev_batch(s, n))
			return -1;
	return (double)(bench_now_ns() - t0) / ((double)nb * n);
}

/* The peer: the same copies (packet j from source j into the destination
 * the device would use), n per batch. */
static __attribute__((noinline)) double cpu_run(struct sess *s, unsigned n, unsigned nb)
{
	size_t len = s->op->len;
	uint64_t t0 = bench_now_ns();
	unsigned b, i;

	for (b = 0; b < nb; b++) {
		for (i = 0; i < n; i++, s->cpu_next++)
			memcpy(s->dst[s->cpu_next % NDST], s->src[s->cpu_next % NSRC], len);
		__asm__ volatile("" ::: "memory"); /* a batch ends: nothing moves across */
	}
	return (double)(bench_now_ns() - t0) / ((double)nb * n);
}

/* One empty look at the other side: a pause, or every SPSC_SPINS a yield. */
static void spsc_idle(unsigned *spins)
{
	if (++*spins % SPSC_SPINS == 0)
		sched_yield();
	else
		udma__cpu_pause();
}

static void *spsc_copier(void *arg)
{
	struct spsc *r = arg;
	unsigned head = 0, tail = 0, spins = 0;

	if (r->cpu >= 0)
		pin_one(0, r->cpu); /* a failure shows as a slower peer, never a wrong one */
	while (!__atomic_load_n(&r->stop, __ATOMIC_ACQUIRE)) {
		if (head == tail) {
			tail = __atomic_load_n(&r->tail, __ATOMIC_ACQUIRE);
			if (head == tail) {
				spsc_idle(&spins);
				continue;
			}
		}
		spins = 0;
		/* Each completion visible once copied, as the device's CQEs are. */
		for (; head != tail; head++) {
			const struct spsc_desc *e = &r->ring[head % DMA_DEPTH];

			memcpy(e->dst, e->src, e->len);
			r->done_cookie[head % DMA_DEPTH] = e->cookie;
			__atomic_store_n(&r->done, head + 1, __ATOMIC_RELEASE);
		}
	}
	return NULL;
}

static bool spsc_start(struct sess *s, const struct conf *c)
{
	struct spsc *r = &s->spsc;
	int rc;

	r->tail = r->done = 0;
	r->stop = 0;
	r->cpu = c->pin == PIN_SPLIT ? 1 : c->pin == PIN_SAME ? 0 : -1;
	rc = pthread_create(&r->thread, NULL, spsc_copier, r);
	return rc ? fail(s, "cannot start the SPSC peer's copier thread: %s", strerror(rc)) : true;
}

static void spsc_stop(struct sess *s)
{
	__atomic_store_n(&s->spsc.stop, 1, __ATOMIC_RELEASE);
	pthread_join(s->spsc.thread, NULL);
}

/* One batch of n copies through the ring: written, published, and every
 * completion waited for and checked (in order, the right copy). */
static bool spsc_batch(struct sess *s, unsigned n)
{
	struct spsc *r = &s->spsc;
	unsigned tail = r->tail, i, seen = tail, spins = 0; /* only this thread writes tail */
	size_t len = s->op->len;

	for (i = 0; i < n; i++, s->spsc_next++) {
		struct spsc_desc *e = &r->ring[(tail + i) % DMA_DEPTH];

		*e = (struct spsc_desc){.src = s->src[s->spsc_next % NSRC],
					.dst = s->dst[s->spsc_next % NDST],
					.len = (uint32_t)len,
					.cookie = s->spsc_next};
	}
	__atomic_store_n(&r->tail, tail + n, __ATOMIC_RELEASE);
	while (seen != tail + n) {
		unsigned done = __atomic_load_n(&r->done, __ATOMIC_ACQUIRE);

		if (done == seen) {
			spsc_idle(&spins);
			continue;
		}
		for (; seen != done; seen++) {
			uint64_t want = s->spsc_next - n + (seen - tail);

			if (r->done_cookie[seen % DMA_DEPTH] != want)
				return fail(s, "SPSC peer: completion %llu out of order (cookie %llu)",
					    (unsigned long long)want,
					    (unsigned long long)r->done_cookie[seen % DMA_DEPTH]);
		}
	}
	return true;
}

/* nb batches of n through the SPSC peer: ns per copy, or -1. */
static double spsc_run(struct sess *s, const struct conf *c, unsigned n, unsigned nb)
{
	uint64_t t0, t1;
	unsigned b;

	if (!spsc_start(s, c))
		return -1;
	t0 = bench_now_ns();
	for (b = 0; b < nb; b++)
		if (!spsc_batch(s, n))
			break;
	t1 = bench_now_ns();
	spsc_stop(s);
	return b == nb ? (double)(t1 - t0) / ((double)nb * n) : -1;
}

/* Copies first .. first + NDST - 1 landed: each destination holds its
 * source's len bytes, then zeros up to the stride (the NIC's RX buffer
 * numbers run in step with the packets, as the copies' do). */
static bool copies_match(struct sess *s, uint64_t first, const char *what)
{
	const struct op *op = s->op;
	unsigned i, k;

	for (i = 0; i < NDST; i++) {
		uint64_t j = first + i;
		const uint8_t *d = s->dst[j % NDST], *src = s->src[j % NSRC];

		for (k = 0; k < op->stride; k++)
			if (d[k] != (k < op->len ? src[k] : 0))
				return fail(s, "%s %llu: byte %u is 0x%02x, expected 0x%02x", what,
					    (unsigned long long)j, k, d[k], k < op->len ? src[k] : 0);
	}
	return true;
}

/* The SPSC peer's copies, checked as the device's are: every destination
 * zeroed, one copy per destination through the ring, every byte compared. */
static bool spsc_verify(struct sess *s, const struct conf *c, unsigned n)
{
	const struct op *op = s->op;
	uint64_t first = s->spsc_next;
	unsigned i;

	for (i = 0; i < NDST; i++)
		memset(s->dst[i], 0, op->stride);
	if (!spsc_start(s, c))
		return false;
	for (i = 0; i < NDST; i += n)
		if (!spsc_batch(s, n < NDST - i ? n : NDST - i))
			break;
	spsc_stop(s);
	return i >= NDST && copies_match(s, first, "SPSC peer, copy");
}

enum runner { RUN_DEV, RUN_MEMCPY, RUN_SPSC };

/* nb batches of n by one of the three: ns per descriptor, or -1. */
static double run_one(struct sess *s, const struct conf *c, enum runner who, unsigned n, unsigned nb)
{
	switch (who) {
	case RUN_DEV: return dev_run(s, n, nb);
	case RUN_MEMCPY: return cpu_run(s, n, nb);
	case RUN_SPSC: return spsc_run(s, c, n, nb);
	}
	return -1;
}

/* Batches to run for about target_ns, from a warm-up of about warm_ns. */
static unsigned size_runs(struct sess *s, const struct conf *c, enum runner who, unsigned n, uint64_t warm_ns,
			  uint64_t target_ns)
{
	/* The peers in steps of 16 batches: the SPSC peer starts its copier each time. */
	unsigned step = who == RUN_DEV ? 1 : 16, nb = 0, want;
	uint64_t t0 = bench_now_ns(), el;

	do {
		if (run_one(s, c, who, n, step) < 0)
			return 0;
		nb += step;
		el = bench_now_ns() - t0;
	} while (el < warm_ns);
	want = (unsigned)((double)target_ns * nb / (double)el);
	return want < 4 ? 4 : want;
}

/* The device counter at off, once it reaches want (it is published after the
 * completions it counts): false if it never does. */
static bool counter_is(struct sess *s, unsigned off, uint64_t want, const char *what)
{
	uint64_t t0 = bench_now_ns(), v;

	while ((v = simdrv_rd64(&s->drv, off)) != want)
		if (bench_now_ns() - t0 > 1000000000ull)
			return fail(s, "device counter %s is %llu, expected %llu", what,
				    (unsigned long long)v, (unsigned long long)want);
	return true;
}

/* Zero every destination, send one descriptor per destination buffer through
 * the device, compare every byte; then the device's own counters. */
static bool verify(struct sess *s, unsigned n)
{
	const struct op *op = s->op;
	uint64_t first = s->next;
	unsigned i, done;
	uint32_t faults;

	for (i = 0; i < NDST; i++)
		memset(s->dst[i], 0, op->stride);
	for (done = 0; done < NDST; done += n)
		if (!dev_batch(s, n < NDST - done ? n : NDST - done))
			return false;
	if (!copies_match(s, first, "descriptor"))
		return false;
	faults = simdrv_rd32(&s->drv, SIMDEV_REG_FAULT_COUNT);
	if (faults)
		return fail(s, "%u IOMMU faults, the last at IOVA 0x%llx", faults,
			    (unsigned long long)simdrv_rd64(&s->drv, SIMDEV_REG_FAULT_IOVA));
	if (simdrv_rd64(&s->drv, SIMDEV_REG_STAT_RX_DROP))
		return fail(s, "the NIC dropped packets");
	/* Since the reset at attach: every copy, or every TX and RX entry. */
	return counter_is(s, SIMDEV_REG_STAT_DESCS, op->nic ? 2 * s->next : s->next, "STAT_DESCS") &&
	       counter_is(s, SIMDEV_REG_STAT_BYTES, s->next * op->len, "STAT_BYTES");
}

static int failures;

static void case_name(char *buf, size_t len, const struct op *op, unsigned n, bool irq, bool proc)
{
	snprintf(buf, len, "%s/b%u/%s/%s", op->name, n, irq ? "irq" : "poll", proc ? "proc" : "thread");
}

static void case_failed(const char *name, struct sess *s)
{
	/* A device process that went away: say how it ended. */
	if (s->proc_up && s->drv.bar && simdrv_gone(&s->drv)) {
		size_t len = strlen(s->err);
		int st = simd_reap(&s->proc, 500);

		s->proc_up = false;
		snprintf(s->err + len, sizeof(s->err) - len, " (udma-simd %s %d)",
			 st > 128 ? "was killed by signal" : "exited with status", st > 128 ? st - 128 : st);
	}
	fprintf(stderr, "%s: %s: %s\n", bench_prog, name, s->err);
	bench_emit_str(BENCH, name, "failed", s->err, BENCH_END);
	failures++;
}

static bool bench_batch(struct sess *s, const struct conf *c, const char *name, unsigned n, bool irq,
			bool proc)
{
	static double t_dev[MAX_RUNS], t_cpu[MAX_RUNS], t_spsc[MAX_RUNS];
	bool spsc = !s->op->nic; /* the SPSC peer copies; it has no NIC loopback */
	unsigned nb_dev, nb_cpu, nb_spsc = 0, i;
	uint64_t waits0, descs0, dev_cpu_ns = 0, dev_wall_ns = 0;
	double med, cpu, ring = NAN, other, steal;
	struct load l0, l1;
	pid_t dev_pid = s->proc_up ? s->proc.pid : 0;

	nb_dev = size_runs(s, c, RUN_DEV, n, c->run_ns / 2, c->run_ns);
	nb_cpu = size_runs(s, c, RUN_MEMCPY, n, c->run_ns / 8, c->run_ns / 4);
	if (spsc)
		nb_spsc = size_runs(s, c, RUN_SPSC, n, c->run_ns / 8, c->run_ns / 4);
	if (!nb_dev || !nb_cpu || (spsc && !nb_spsc)) {
		case_failed(name, s);
		return false;
	}
	waits0 = s->waits;
	descs0 = s->next;
	load_snap(&l0, dev_pid);
	for (i = 0; i < c->runs; i++) {
		struct load a, b;

		/* alternate which goes first, so drift hits all alike */
		if (i & 1) {
			t_cpu[i] = cpu_run(s, n, nb_cpu);
			t_spsc[i] = spsc ? spsc_run(s, c, n, nb_spsc) : 0;
		}
		load_snap(&a, dev_pid);
		t_dev[i] = dev_run(s, n, nb_dev);
		load_snap(&b, dev_pid);
		dev_cpu_ns += b.own_ns - a.own_ns;
		dev_wall_ns += b.t_ns - a.t_ns;
		if (!(i & 1)) {
			t_cpu[i] = cpu_run(s, n, nb_cpu);
			t_spsc[i] = spsc ? spsc_run(s, c, n, nb_spsc) : 0;
		}
		if (t_dev[i] < 0 || t_spsc[i] < 0) {
			case_failed(name, s);
			return false;
		}
	}
	load_snap(&l1, dev_pid);
	load_delta(&l0, &l1, &other, &steal);
	if (other > 0.25 || steal > 0.25)
		fprintf(stderr, "%s: %s: other work took %.2f CPUs (steal %.2f) during the runs\n",
			bench_prog, name, other, steal);
	med = bench_median(t_dev, c->runs);
	cpu = bench_median(t_cpu, c->runs);
	if (spsc)
		ring = bench_median(t_spsc, c->runs);
	if (!verify(s, n) || (spsc && !spsc_verify(s, c, n))) {
		case_failed(name, s);
		return false;
	}
	bench_emit_runs(BENCH, name, s->op->len, udma_region_page_size(s->reg), t_dev, c->runs,
			BENCH_FIELDS(BENCH_NUM("batch", n), BENCH_RAW("irq", irq ? "true" : "false"),
				     BENCH_RAW("host", proc ? "\"proc\"" : "\"thread\""),
				     BENCH_NUM(s->op->nic ? "pkts_s" : "descs_s", 1e9 / med),
				     BENCH_NUM("mb_s", s->op->len * 1e3 / med),
				     BENCH_NUM("batch_ns", med * n), BENCH_NUM("memcpy_ns", cpu),
				     BENCH_NUM("memcpy_mb_s", s->op->len * 1e3 / cpu),
				     BENCH_NUM("ratio", bench_ratio(med, cpu)), BENCH_NUM("spsc_ns", ring),
				     BENCH_NUM("spsc_ratio", spsc ? bench_ratio(med, ring) : NAN),
				     BENCH_NUM("waits_per_batch",
					       (double)(s->waits - waits0) * n / (double)(s->next - descs0)),
				     BENCH_NUM("per_run", (double)nb_dev * n),
				     BENCH_NUM("cpus", bench_ratio((double)dev_cpu_ns, (double)dev_wall_ns)),
				     BENCH_NUM("other_cpus", other), BENCH_NUM("steal_cpus", steal),
				     BENCH_RAW("verified", "true")));
	return true;
}

static bool wanted(const struct conf *c, const struct op *op, bool irq, bool proc)
{
	char name[64];
	unsigned i;

	if (!c->only)
		return true;
	for (i = 0; i < sizeof(batches) / sizeof(batches[0]); i++) {
		case_name(name, sizeof(name), op, batches[i], irq, proc);
		if (strstr(name, c->only))
			return true;
	}
	return false;
}

/* One device for one operation in one mode: every batch size through it. */
static void bench_session(const struct conf *c, const struct op *op, bool irq, bool proc)
{
	struct sess *s = calloc(1, sizeof(*s));
	char name[64], broken[128] = "";
	unsigned i;

	if (!s)
		bench_die(ENOMEM, "out of memory");
	if (!sess_open(s, op, irq, proc, c)) {
		/* Every case of the device is reported, with the reason it could not run. */
		for (i = 0; i < sizeof(batches) / sizeof(batches[0]); i++) {
			case_name(name, sizeof(name), op, batches[i], irq, proc);
			if (!c->only || strstr(name, c->only))
				bench_emit_skip(BENCH, name, s->err);
		}
		sess_close(s);
		free(s);
		return;
	}
	for (i = 0; i < sizeof(batches) / sizeof(batches[0]); i++) {
		case_name(name, sizeof(name), op, batches[i], irq, proc);
		if (c->only && !strstr(name, c->only))
			continue;
		if (broken[0])
			bench_emit_skip(BENCH, name, broken);
		else if (!bench_batch(s, c, name, batches[i], irq, proc))
			snprintf(broken, sizeof(broken), "not run: the device failed in %s", name);
	}
	sess_close(s);
	free(s);
}

static void usage(const char *prog, int rc)
{
	fprintf(rc ? stderr : stdout,
		"usage: %s [--runs N] [--quick] [--ms N] [--iova auto|pa|va] [--pin split|same|none]\n"
		"       [--case TEXT]\n"
		"  --runs N     timed runs per case (device and memcpy alternate), medians (default 7)\n"
		"  --quick      3 runs of %u ms: seconds in all, for tests\n"
		"  --ms N       ms per device run (default %u; memcpy: a quarter), sized by a warm-up\n"
		"  --iova M     IOVA mode of the contexts (default auto: PA as root)\n"
		"  --pin P      split: driver on CPU 0, device on CPU 1 (default); same: both on CPU 0;\n"
		"               none: wherever the scheduler puts them\n"
		"  --case TEXT  only cases whose name contains TEXT, e.g. copy64, /b32/, irq, proc\n"
		"Cases are OP/bBATCH/poll|irq/thread|proc. As root, reserves a few 2 MiB hugepages\n"
		"and gives them back at exit. The proc cases need udma-simd next to this program\n"
		"(or $UDMA_SIMD).\n" BENCH_OUTPUT_HELP,
		prog, QUICK_MS, DEFAULT_MS);
	exit(rc);
}

BENCH_MAIN(dev)
{
	static const char *const pin_what[] = {"driver on CPU 0, device on CPU 1",
					       "driver and device on CPU 0",
					       "not pinned: where the scheduler puts them"};
	struct conf c = {.iova = UDMA_IOVA_AUTO, .pin = PIN_SPLIT, .run_ns = DEFAULT_MS * 1000000ull};
	struct bench_opts o = {.runs = 7};
	struct udma_ctx *ctx;
	unsigned i, h, m, ms = DEFAULT_MS;
	int ms_set = 0;

	for (i = 1; i < (unsigned)argc; i++) {
		if (bench_common_opt(argc, argv, &i, &o, usage))
			continue;
		if (!strcmp(argv[i], "--ms")) {
			ms = bench_parse_count("--ms", bench_opt_value(argc, argv, &i));
			ms_set = 1;
		} else if (!strcmp(argv[i], "--case")) {
			c.only = bench_opt_value(argc, argv, &i);
			if (!c.only)
				bench_usage_error(usage, "--case needs a text to match, e.g. copy64");
		} else if (!strcmp(argv[i], "--pin")) {
			const char *v = bench_opt_value(argc, argv, &i);

			if (v && !strcmp(v, "split"))
				c.pin = PIN_SPLIT;
			else if (v && !strcmp(v, "same"))
				c.pin = PIN_SAME;
			else if (v && !strcmp(v, "none"))
				c.pin = PIN_NONE;
			else
				bench_usage_error(usage, "--pin takes split, same or none, got '%s'",
						  v ? v : "");
		} else if (!strcmp(argv[i], "--iova")) {
			const char *v = bench_opt_value(argc, argv, &i);

			if (v && !strcmp(v, "auto"))
				c.iova = UDMA_IOVA_AUTO;
			else if (v && !strcmp(v, "pa"))
				c.iova = UDMA_IOVA_PA;
			else if (v && !strcmp(v, "va"))
				c.iova = UDMA_IOVA_VA;
			else
				bench_usage_error(usage, "--iova takes auto, pa or va, got '%s'", v ? v : "");
		} else {
			bench_usage_error(usage, "unknown option '%s'", argv[i]);
		}
	}
	if (o.quick && !ms_set)
		ms = QUICK_MS;
	c.run_ns = ms * 1000000ull;
	c.runs = o.runs > MAX_RUNS ? MAX_RUNS : o.runs;
	if (c.pin == PIN_SPLIT && sysconf(_SC_NPROCESSORS_ONLN) < 2)
		c.pin = PIN_SAME; /* one CPU: nowhere else to put the device */

	bench_emit_machine(BENCH);
	bench_hugepages_restore_at_exit();
	bench_hugepages_ensure(UDMA_PAGE_2M, 8);
	/* A context only to say which IOVA mode the devices' contexts get. */
	if (udma_ctx_create(&(struct udma_ctx_opts){.iova_mode = c.iova, .numa_node = UDMA_NUMA_ANY}, &ctx))
		bench_die(EIO, "no udma context: %s", udma_last_error());
	bench_emit_str(BENCH, "iova_mode", "iova_mode", udma_ctx_iova_mode(ctx) == UDMA_IOVA_PA ? "PA" : "VA",
		       "reason", udma_ctx_iova_reason(ctx), BENCH_END);
	udma_ctx_destroy(ctx);
	bench_emit_str(BENCH, "pin", "pin", pin_what[c.pin], BENCH_END);
	bench_emit_str(BENCH, "peer", "memcpy",
		       "glibc memcpy in this thread: same bytes, same buffers, same batches", BENCH_END);
	for (h = 0; h < 2; h++)
		for (i = 0; i < sizeof(ops) / sizeof(ops[0]); i++)
			for (m = 0; m < 2; m++)
				if (wanted(&c, &ops[i], m, h))
					bench_session(&c, &ops[i], m, h);
	bench_hugepages_restore();
	return failures ? 1 : 0;
}
