/* SPDX-License-Identifier: MIT */
/* udma demo: what its phases share: failures, progress, waiting for the
 * device, buffers by cookie, and taking back what is in flight. */
#include <errno.h>
#include <stdarg.h>
#include <stdio.h>
#include <string.h>

#include "demo.h"

#define STALL_SECS 5.0 /* no completion for this long: the device is stuck */
#define WAIT_MS	   100

volatile sig_atomic_t demo_interrupted;

double demo_now(void)
{
	struct timespec t;

	clock_gettime(CLOCK_MONOTONIC, &t);
	return (double)t.tv_sec + (double)t.tv_nsec * 1e-9;
}

static int vfail(struct demo *d, int err, const char *fmt, va_list ap)
{
	if (d->why[0])
		return -1; /* the first failure is the cause; the rest follow from it */
	vsnprintf(d->why, sizeof(d->why), fmt, ap);
	d->err = err;
	return -1;
}

int demo_fail(struct demo *d, const char *fmt, ...)
{
	va_list ap;

	va_start(ap, fmt);
	vfail(d, demo_interrupted ? EINTR : EIO, fmt, ap);
	va_end(ap);
	return -1;
}

int demo_fail_err(struct demo *d, int err, const char *fmt, ...)
{
	va_list ap;

	va_start(ap, fmt);
	vfail(d, err, fmt, ap);
	va_end(ap);
	return -1;
}

/* splitmix64's finaliser: a cheap, well-mixed 64-bit function of x. */
uint64_t demo_mix64(uint64_t x)
{
	x += 0x9e3779b97f4a7c15ull;
	x = (x ^ (x >> 30)) * 0xbf58476d1ce4e5b9ull;
	x = (x ^ (x >> 27)) * 0x94d049bb133111ebull;
	return x ^ (x >> 31);
}

void demo_progress(struct demo *d, const char *what, uint64_t done, uint64_t total, double t0)
{
	double now;

	if (!d->progress)
		return;
	now = demo_now();
	if (now - ((double)d->last_progress.tv_sec + d->last_progress.tv_nsec * 1e-9) < 0.1)
		return;
	clock_gettime(CLOCK_MONOTONIC, &d->last_progress);
	fprintf(stderr, "\r%s %3.0f%%  %llu/%llu  %.1f s\033[K", what, 100.0 * (double)done / (double)total,
		(unsigned long long)done, (unsigned long long)total, now - t0);
	d->progress_shown = true;
}

void demo_progress_clear(struct demo *d)
{
	if (d->progress_shown)
		fprintf(stderr, "\r\033[K");
	d->progress_shown = false;
}

const char *demo_status_name(unsigned st)
{
	static const char *const names[] = {"OK",
					    "BAD_OPCODE",
					    "BAD_LEN (zero, too long or not a block multiple)",
					    "IOMMU (an IOVA outside every mapped region)",
					    "BAD_BLOCK (past the end of the store)",
					    "ABORTED",
					    "TOO_SMALL (packet larger than the RX buffer)",
					    "IO_ERROR (the backing store failed)"};

	return st < sizeof(names) / sizeof(names[0]) ? names[st] : "unknown status";
}

/* Nothing completed this time round: sleep (interrupts) or yield (polling),
 * and notice a device that died or stopped. */
int demo_idle(struct demo *d, double *idle_since, const char *what)
{
	int rc;

	if (demo_interrupted)
		return demo_fail(d, "interrupted");
	rc = simdrv_wait(&d->drv, WAIT_MS);
	if (demo_interrupted)
		return demo_fail(d, "interrupted");
	if (rc == -EINTR)
		return 0; /* another signal: wait again */
	if (rc == -ENODEV)
		return demo_fail_err(d, ENODEV,
				     "the device went away during the %s (its process died or was killed); "
				     "buffers in flight are taken back; run the demo again",
				     what);
	if (rc && rc != -ETIMEDOUT)
		return demo_fail_err(d, -rc, "waiting for the device during the %s: %s", what, strerror(-rc));
	if (*idle_since == 0) {
		*idle_since = demo_now();
	} else if (demo_now() - *idle_since > STALL_SECS) {
		return demo_fail_err(d, ETIMEDOUT,
				     "the device completed nothing for %.0f s during the %s; "
				     "is the machine overloaded? run the demo again",
				     STALL_SECS, what);
	}
	return 0;
}

void *demo_cookie_buf(struct demo *d, uint64_t cookie)
{
	unsigned id = (unsigned)(cookie >> 28) & 0xf;

	return id < DEMO_NPOOLS && d->pool[id] ? udma_pool_obj(d->pool[id], cookie & 0x0fffffffu) : NULL;
}

void demo_put_cookie(struct demo *d, uint64_t cookie)
{
	void *b = demo_cookie_buf(d, cookie);

	if (b)
		udma_pool_put(d->pool[(cookie >> 28) & 0xf], b);
}

/* ---- taking buffers back ------------------------------------------------ */

void demo_reclaim(struct demo *d)
{
	struct simdev_cqe cqe[DEMO_REAP_MAX];
	uint64_t cookies[DEMO_REAP_MAX];
	unsigned qi, n, i, busy = 0;
	bool gone;

	if (!d->attached)
		return;
	for (qi = 0; qi < DEMO_NQUEUES; qi++)
		busy += d->drv.q[qi].inflight;
	if (!busy)
		return;
	/* A live device completes everything ABORTED on reset (its completion
	 * rings hold all that can be in flight); a dead one completes nothing,
	 * so what it held comes back from the submission rings. */
	gone = simdrv_gone(&d->drv) || simdrv_reset(&d->drv);
	for (qi = 0; qi < DEMO_NQUEUES; qi++) {
		struct simdrv_queue *q = &d->drv.q[qi];

		while (!gone && q->inflight && (n = simdrv_reap(q, cqe, DEMO_REAP_MAX)))
			for (i = 0; i < n; i++)
				demo_put_cookie(d, cqe[i].cookie);
		while ((n = simdrv_abandon(q, cookies, DEMO_REAP_MAX)))
			for (i = 0; i < n; i++)
				demo_put_cookie(d, cookies[i]);
	}
}
