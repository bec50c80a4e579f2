/* SPDX-License-Identifier: MIT */
/*
 * The workload loop of udma nvme bench, the same for both targets: each
 * thread owns a queue and keeps qd commands in flight; whatever completes is
 * timed into the thread's histogram and resubmitted at once, and every batch
 * of resubmissions costs one kick (a doorbell or an io_submit).
 */
#include <errno.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "tools/nvme/nvme_tool.h"

/* xorshift64*: cheap, and the same seed gives the same offsets. */
static uint64_t next_rand(uint64_t *s)
{
	*s ^= *s >> 12;
	*s ^= *s << 25;
	*s ^= *s >> 27;
	return *s * 0x2545F4914F6CDD1Dull;
}

struct worker {
	struct nvme_target *t;
	const struct nvme_bench_opts *o;
	struct target_queue *q;
	unsigned id;
	uint64_t budget;   /* commands to start; UINT64_MAX with a time limit */
	uint64_t deadline; /* ns, 0 with a command budget */
	uint64_t rng, seq, span_start, span_blocks;
	uint64_t *started; /* per slot: when it was submitted */
	struct nvme_done *done;
	struct nvme_bench_result r;
};

/* Where the next command goes and whether it writes. */
static void next_io(struct worker *w, uint64_t *off, bool *write)
{
	const struct nvme_bench_opts *o = w->o;
	uint64_t blk;

	switch (o->pattern) {
	case NVME_READ:
	case NVME_WRITE:
		blk = w->seq++ % w->span_blocks;
		*write = o->pattern == NVME_WRITE;
		break;
	default:
		blk = next_rand(&w->rng) % w->span_blocks;
		*write = o->pattern == NVME_RANDWRITE ||
			 (o->pattern == NVME_MIXED && next_rand(&w->rng) % 100 >= o->read_pct);
	}
	*off = (w->span_start + blk) * o->bs;
}

static int start(struct worker *w, unsigned slot)
{
	uint64_t off;
	bool write;
	int rc;

	next_io(w, &off, &write);
	w->started[slot] = run_now_ns();
	rc = w->t->ops->submit(w->q, write, w->t->ops->queue_buf(w->q, slot), off, w->o->bs, slot);
	if (rc)
		return rc;
	w->budget--;
	if (write)
		w->r.writes++;
	else
		w->r.reads++;
	return 1;
}

static int fail(struct worker *w, int rc, const char *what)
{
	if (!w->r.err) {
		w->r.err = rc;
		snprintf(w->r.why, sizeof(w->r.why), "thread %u: %s: %s", w->id, what,
			 w->t->ops->queue_error());
	}
	return rc;
}

static int kick(struct worker *w)
{
	int rc = w->t->ops->kick(w->q);

	w->r.kicks++;
	return rc ? fail(w, rc, "starting commands") : 0;
}

static void *work(void *arg)
{
	struct worker *w = arg;
	unsigned slot, inflight = 0, i;
	uint64_t t0 = run_now_ns();
	int rc = 0;

	for (slot = 0; slot < w->o->qd && w->budget; slot++) {
		if ((rc = start(w, slot)) < 0)
			break;
		inflight++;
	}
	if (rc < 0) {
		fail(w, rc, "submitting a command");
		w->budget = 0;
	}
	/* What was queued before a failed submit still goes, to be reaped. A
	 * failed kick started nothing we can count on: no waiting for it (the
	 * kernel's side waits for what it did start when the queue closes). */
	if (inflight && kick(w))
		inflight = 0;
	while (inflight) {
		unsigned again = 0;
		int n = w->t->ops->wait(w->q, w->done, w->o->qd);
		uint64_t now = run_now_ns();

		if (n < 0) {
			fail(w, n, "waiting for completions");
			break; /* the commands still in flight are the target's to clean up */
		}
		if ((w->deadline && now >= w->deadline) || run_stopped())
			w->budget = 0;
		for (i = 0; i < (unsigned)n; i++) {
			slot = (unsigned)w->done[i].cookie;
			inflight--;
			if (w->done[i].err) {
				if (!w->r.err) {
					w->r.err = w->done[i].err;
					snprintf(w->r.why, sizeof(w->r.why),
						 "thread %u: a command failed: %s", w->id,
						 strerror(-w->done[i].err));
				}
				w->budget = 0;
				continue;
			}
			latency_hist_add(&w->r.hist, now - w->started[slot]);
			w->r.ios++;
			w->r.bytes += w->o->bs;
			if (w->budget && !w->r.err) {
				if ((rc = start(w, slot)) < 0) {
					fail(w, rc, "submitting a command");
					w->budget = 0;
				} else {
					inflight++;
					again++;
				}
			}
		}
		if (again && kick(w))
			break;
	}
	w->r.elapsed_ns = run_now_ns() - t0;
	return NULL;
}

int nvme_bench_run(struct nvme_target *t, const struct nvme_bench_opts *o, struct nvme_bench_result *r)
{
	unsigned n = o->threads, i, made = 0, running = 0;
	uint64_t blocks = t->capacity / o->bs, per = blocks / n;
	struct worker *w = calloc(n, sizeof(*w));
	pthread_t *tid = calloc(n, sizeof(*tid));
	uint64_t t0;
	int rc = 0;

	memset(r, 0, sizeof(*r));
	if (!w || !tid) {
		free(w);
		free(tid);
		snprintf(r->why, sizeof(r->why), "out of memory");
		return r->err = -ENOMEM;
	}
	for (i = 0; i < n && !rc; i++) {
		w[i] = (struct worker){.t = t, .o = o, .id = i};
		/* Sequential workloads: a slice of the device each; random ones roam it all. */
		w[i].span_start = o->pattern == NVME_READ || o->pattern == NVME_WRITE ? i * per : 0;
		w[i].span_blocks = o->pattern == NVME_READ || o->pattern == NVME_WRITE ? per : blocks;
		w[i].rng = (o->seed + i) * 0x9E3779B97F4A7C15ull | 1;
		w[i].budget = o->ios ? o->ios / n + (i < o->ios % n) : UINT64_MAX;
		w[i].started = calloc(o->qd, sizeof(*w[i].started));
		w[i].done = calloc(o->qd, sizeof(*w[i].done));
		if (!w[i].started || !w[i].done) {
			snprintf(r->why, sizeof(r->why), "out of memory");
			rc = -ENOMEM;
		} else if ((rc = t->ops->queue_open(t, o->qd, o->bs, o->irq, &w[i].q)) < 0) {
			snprintf(r->why, sizeof(r->why), "queue %u: %s", i, t->why);
		} else {
			made++;
		}
	}
	t0 = run_now_ns();
	for (i = 0; i < made && !rc; i++)
		w[i].deadline = o->ios ? 0 : t0 + o->time_ns;
	for (i = 0; i < made && !rc; i++) {
		if (pthread_create(&tid[i], NULL, work, &w[i])) {
			/* The ones started run to their end and are joined. */
			snprintf(r->why, sizeof(r->why), "cannot start thread %u", i);
			rc = -EAGAIN;
		} else {
			running++;
		}
	}
	for (i = 0; i < running; i++)
		pthread_join(tid[i], NULL);
	r->elapsed_ns = run_now_ns() - t0;
	for (i = 0; i < n; i++) {
		latency_hist_merge(&r->hist, &w[i].r.hist);
		r->ios += w[i].r.ios;
		r->bytes += w[i].r.bytes;
		r->reads += w[i].r.reads;
		r->writes += w[i].r.writes;
		r->kicks += w[i].r.kicks;
		if (!rc && w[i].r.err) {
			rc = w[i].r.err;
			memcpy(r->why, w[i].r.why, sizeof(r->why));
		}
		if (w[i].q)
			t->ops->queue_close(t, w[i].q);
		free(w[i].started);
		free(w[i].done);
	}
	free(w);
	free(tid);
	return r->err = rc;
}
