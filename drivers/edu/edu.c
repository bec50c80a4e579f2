/* SPDX-License-Identifier: MIT */
/*
 * The edu driver (see edu.h). Every step says why it is there; the limits
 * come from QEMU's edu spec and from what QEMU 7.2 does with it. It assumes
 * an x86 guest: there MMIO is uncached and strongly ordered, so a compiler
 * fence orders it against memory; another architecture needs real barriers
 * (a store barrier before the doorbell, a load barrier after completion).
 */
#include <errno.h>
#include <poll.h>
#include <stdarg.h>
#include <stdio.h>
#include <string.h>
#include <time.h>

#include "drivers/edu/edu.h"

/* Rounds of "clear the causes, acknowledge, look again" per interrupt. */
#define EDU_IRQ_ROUNDS 16

/* Registers are device memory: volatile, so each access is made, once, at
 * its full width (the DMA registers take 8-byte accesses only as a whole). */
uint32_t edu_rd32(const struct edu *e, unsigned off)
{
	return *(const volatile uint32_t *)(e->bar + off);
}

void edu_wr32(struct edu *e, unsigned off, uint32_t v)
{
	*(volatile uint32_t *)(e->bar + off) = v;
}

uint64_t edu_rd64(const struct edu *e, unsigned off)
{
	return *(const volatile uint64_t *)(e->bar + off);
}

void edu_wr64(struct edu *e, unsigned off, uint64_t v)
{
	*(volatile uint64_t *)(e->bar + off) = v;
}

__attribute__((format(printf, 3, 4))) static int fail(struct edu *e, int rc, const char *fmt, ...)
{
	va_list ap;

	va_start(ap, fmt);
	vsnprintf(e->err, sizeof(e->err), fmt, ap);
	va_end(ap);
	return rc;
}

static long elapsed_ms(const struct timespec *t0)
{
	struct timespec t;

	clock_gettime(CLOCK_MONOTONIC, &t);
	return (t.tv_sec - t0->tv_sec) * 1000L + (t.tv_nsec - t0->tv_nsec) / 1000000L;
}

static bool dma_running(const struct edu *e)
{
	return edu_rd64(e, EDU_REG_DMA_CMD) & EDU_DMA_CMD_START;
}

/* Poll the start bit, sleeping a little: every register read is an exit to
 * the emulator, which would otherwise starve the vCPU it runs on. */
static int wait_poll(struct edu *e)
{
	const struct timespec nap = {.tv_nsec = 100000};
	struct timespec t0;

	clock_gettime(CLOCK_MONOTONIC, &t0);
	while (dma_running(e)) {
		if (elapsed_ms(&t0) > (long)e->timeout_ms)
			return fail(e, -ETIMEDOUT, "the DMA did not complete within %u ms", e->timeout_ms);
		nanosleep(&nap, NULL);
	}
	return 0;
}

/* Take one interrupt: clear its causes in the device (an INTx line drops),
 * then let udma consume it and unmask the next one; then look again. MSI is
 * an edge: a cause raised after the status was read and before udma drained
 * the eventfd left no trace but IRQ_STATUS (udma_dev_irq_ack in udma/dev.h). */
static int take_irq(struct edu *e, uint32_t *causes)
{
	uint32_t now = edu_rd32(e, EDU_REG_IRQ_STATUS);
	unsigned round;
	int rc;

	*causes = 0;
	for (round = 0; round < EDU_IRQ_ROUNDS; round++) {
		if (now)
			edu_wr32(e, EDU_REG_IRQ_ACK, now);
		*causes |= now;
		if ((rc = udma_dev_irq_ack(e->dev, 0)))
			return fail(e, rc, "acknowledging the interrupt: %s", udma_last_error());
		now = edu_rd32(e, EDU_REG_IRQ_STATUS);
		if (!now)
			break;
	}
	if (*causes)
		e->irqs++;
	if (*causes & EDU_IRQ_DMA)
		e->dma_irqs++;
	return 0;
}

/* Sleep on the interrupt fd until an interrupt with cause arrives and done()
 * holds; other wake-ups (spurious, other causes) are acknowledged and skipped. */
static int wait_irq(struct edu *e, uint32_t cause, bool (*done)(const struct edu *e))
{
	struct pollfd pfd = {.fd = e->irq_fd, .events = POLLIN};
	struct timespec t0;
	uint32_t causes;
	long left;
	int rc;

	clock_gettime(CLOCK_MONOTONIC, &t0);
	for (;;) {
		left = (long)e->timeout_ms - elapsed_ms(&t0);
		if (left <= 0)
			return fail(e, -ETIMEDOUT,
				    "no interrupt 0x%x within %u ms (interrupt status 0x%x, transfer %s)",
				    cause, e->timeout_ms, edu_rd32(e, EDU_REG_IRQ_STATUS),
				    dma_running(e) ? "still running" : "done");
		rc = poll(&pfd, 1, (int)left);
		if (rc < 0 && errno != EINTR)
			return fail(e, -errno, "poll on the interrupt fd: %s", strerror(errno));
		if (rc <= 0)
			continue;
		if ((rc = take_irq(e, &causes)))
			return rc;
		if ((causes & cause) && (!done || done(e)))
			return 0;
	}
}

static bool dma_done(const struct edu *e)
{
	return !dma_running(e);
}

/* Make sure this is the device we know before writing anything; then that
 * it is alive. */
static int probe(struct edu *e)
{
	static const uint32_t probes[] = {0x12345678, 0xa5a5a5a5};
	size_t i;

	e->id = edu_rd32(e, EDU_REG_ID);
	if ((e->id & EDU_ID_MASK) != EDU_ID_VALUE)
		return fail(e, -ENODEV,
			    "identification register reads 0x%08x, not 0xRRrr00ed: not an edu device", e->id);
	/* Liveness: the register inverts what it is given; two patterns, so
	 * neither a stuck register nor all-ones (no device) passes. */
	for (i = 0; i < sizeof(probes) / sizeof(probes[0]); i++) {
		uint32_t got;

		edu_wr32(e, EDU_REG_ALIVE, probes[i]);
		got = edu_rd32(e, EDU_REG_ALIVE);
		if (got != (uint32_t)~probes[i])
			return fail(e, -EIO, "liveness check: wrote 0x%08x, read 0x%08x instead of 0x%08x",
				    probes[i], got, (uint32_t)~probes[i]);
	}
	return 0;
}

/* Start quiet: let a transfer a previous driver left run out, and clear what
 * it left pending, in the device and then in udma. */
static int quiet(struct edu *e)
{
	int rc = udma_dev_irq_fd(e->dev, 0);

	if (rc >= 0)
		e->irq_fd = rc;
	if ((rc = wait_poll(e)))
		return rc;
	edu_wr32(e, EDU_REG_IRQ_ACK, UINT32_MAX);
	if (e->irq_fd >= 0 && (rc = udma_dev_irq_ack(e->dev, 0)))
		return fail(e, rc, "clearing old interrupts: %s", udma_last_error());
	return 0;
}

int edu_attach(struct edu *e, struct udma_dev *dev, unsigned dma_bits)
{
	void *bar;
	size_t len;
	int rc;

	memset(e, 0, sizeof(*e));
	e->dev = dev;
	e->irq_fd = -1;
	e->timeout_ms = EDU_TIMEOUT_MS;
	if (!dma_bits || dma_bits > 64)
		return fail(e, -EINVAL, "dma_bits %u: the device's address width is 1 to 64 bits", dma_bits);
	e->dma_mask = dma_bits == 64 ? UINT64_MAX : (1ull << dma_bits) - 1;
	if ((rc = udma_dev_bar(dev, 0, &bar, &len)))
		return fail(e, rc, "BAR 0: %s", udma_last_error());
	if (len < EDU_REG_DMA_CMD + 8)
		return fail(e, -ENODEV, "BAR 0 is %zu bytes: too small for an edu device", len);
	e->bar = bar;
	if ((rc = probe(e)) == 0)
		rc = quiet(e);
	if (rc)
		e->bar = NULL; /* not attached */
	return rc;
}

int edu_detach(struct edu *e)
{
	int rc;

	if (!e->bar)
		return 0;
	/* A transfer that timed out may still write its buffer. */
	if ((rc = wait_poll(e)))
		return fail(e, rc,
			    "a transfer is still running after %u ms: its buffers must stay until "
			    "edu_detach succeeds (or udma_dev_close stops the device)",
			    e->timeout_ms);
	edu_wr32(e, EDU_REG_IRQ_ACK, UINT32_MAX);
	e->bar = NULL;
	e->dev = NULL;
	e->wedged = false;
	return 0;
}

static int dma(struct edu *e, uint64_t src, uint64_t dst, uint64_t bus, unsigned dev_off, size_t len,
	       uint64_t cmd, enum edu_wait how)
{
	int rc;

	if (!e->bar)
		return fail(e, -ENODEV, "not attached");
	if (e->wedged)
		return fail(e, -EIO,
			    "an earlier transfer timed out and may still write its buffer: detach "
			    "(edu_detach waits for it) and attach again");
	if (!len || dev_off >= EDU_DMA_END_MAX || len > EDU_DMA_END_MAX - dev_off)
		return fail(e, -EINVAL,
			    "%zu bytes at offset %u of the device buffer: a transfer is 1 to %u bytes and "
			    "must end before the buffer's last byte (QEMU before 8.2.1 and 9.0 aborts "
			    "otherwise)",
			    len, dev_off, EDU_DMA_END_MAX);
	if (bus > e->dma_mask || len - 1 > e->dma_mask - bus)
		return fail(e, -ERANGE,
			    "bus address 0x%llx (+%zu) is beyond the device's DMA mask 0x%llx (start it with "
			    "-device edu,dma_mask=0xffffffffffffffff)",
			    (unsigned long long)bus, len, (unsigned long long)e->dma_mask);
	if (how == EDU_IRQ && e->irq_fd < 0)
		return fail(e, -ENOTSUP, "the device has no interrupt here: poll (EDU_POLL)");
	if (dma_running(e))
		return fail(e, -EBUSY, "a transfer is still running");
	edu_wr64(e, EDU_REG_DMA_SRC, src);
	edu_wr64(e, EDU_REG_DMA_DST, dst);
	edu_wr64(e, EDU_REG_DMA_COUNT, len);
	/* What the device is to read must be in memory before it starts: a
	 * write barrier before the doorbell (x86 only: there uncached MMIO
	 * stores are ordered after earlier stores, and the fence keeps the
	 * compiler honest; see the top of this file). */
	__atomic_thread_fence(__ATOMIC_SEQ_CST);
	edu_wr64(e, EDU_REG_DMA_CMD, cmd | EDU_DMA_CMD_START | (how == EDU_IRQ ? EDU_DMA_CMD_IRQ : 0));
	rc = how == EDU_IRQ ? wait_irq(e, EDU_IRQ_DMA, dma_done) : wait_poll(e);
	/* Lost, not finished: the device may still write its buffer. */
	if (rc && dma_running(e))
		e->wedged = true;
	/* And what it wrote is read only after it said it is done. */
	__atomic_thread_fence(__ATOMIC_SEQ_CST);
	return rc;
}

int edu_dma_to_device(struct edu *e, uint64_t bus, unsigned dev_off, size_t len, enum edu_wait how)
{
	return dma(e, bus, EDU_BUF_ADDR + dev_off, bus, dev_off, len, 0, how);
}

int edu_dma_from_device(struct edu *e, unsigned dev_off, uint64_t bus, size_t len, enum edu_wait how)
{
	return dma(e, EDU_BUF_ADDR + dev_off, bus, bus, dev_off, len, EDU_DMA_CMD_TO_BUS, how);
}

int edu_irq_selftest(struct edu *e, uint32_t cause)
{
	if (!e->bar)
		return fail(e, -ENODEV, "not attached");
	if (e->irq_fd < 0)
		return fail(e, -ENOTSUP, "the device has no interrupt here");
	if (!cause)
		return fail(e, -EINVAL, "cause 0 raises no interrupt");
	edu_wr32(e, EDU_REG_IRQ_RAISE, cause);
	return wait_irq(e, cause, NULL);
}
