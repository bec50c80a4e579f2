/* SPDX-License-Identifier: MIT */
/*
 * udma demo, NIC loopback: packets of 64..1500 bytes from a pool go out on a
 * TX queue and land, looped back by the device, in RX buffers from the same
 * pool; every one is checked for length, order and each byte.
 */
#include <stdarg.h>
#include <stdio.h>
#include <string.h>

#include "demo.h"

/* ---- packets: length and payload from the sequence number -------------- */

static uint32_t pkt_len(uint64_t seq)
{
	return DEMO_PKT_MIN + (uint32_t)(demo_mix64(seq ^ 0x6c656eull) % (DEMO_PKT_MAX - DEMO_PKT_MIN + 1));
}

/* 64-bit word w of a packet: word 0 is its sequence number, so a packet that
 * arrives out of order says which one it is; the rest a sequence of its own. */
static inline uint64_t pkt_word(uint64_t seq, uint64_t base, size_t w)
{
	return w ? base + w * 0xd1342543de82ef95ull : seq;
}

static void pkt_fill(uint8_t *p, uint32_t len, uint64_t seq)
{
	uint64_t base = demo_mix64(seq), v;
	size_t w;

	for (w = 0; w < len / 8; w++) {
		v = pkt_word(seq, base, w);
		memcpy(p + 8 * w, &v, 8);
	}
	v = pkt_word(seq, base, w);
	memcpy(p + 8 * w, &v, len % 8);
}

/* The first differing byte, or -1. */
static long pkt_check(const uint8_t *p, uint32_t len, uint64_t seq)
{
	uint64_t base = demo_mix64(seq), v, got;
	size_t w, i, full = len / 8;

	for (w = 0; w < full; w++) {
		memcpy(&got, p + 8 * w, 8); /* one load: no memcmp call per word */
		if (got != pkt_word(seq, base, w))
			break;
	}
	v = pkt_word(seq, base, w);
	for (i = 0; i < (w < full ? 8 : len % 8); i++)
		if (p[8 * w + i] != ((const uint8_t *)&v)[i])
			return (long)(8 * w + i);
	return -1;
}

/* ---- the NIC loopback --------------------------------------------------- */

struct nic_state {
	struct simdrv_queue *tx, *rx;
	struct udma_pool *pool;
	uint64_t posted, tx_done;
};

/* Keep RX buffers posted, in batches. */
static unsigned post_rx(struct demo *d, struct nic_state *s)
{
	struct simdev_sqe sqe[2 * DEMO_BATCH];
	void *bufs[2 * DEMO_BATCH];
	uint64_t want = d->o.packets - s->posted;
	unsigned n = d->rx_posted - s->rx->inflight, i;

	if (want < n)
		n = (unsigned)want;
	if (n > simdrv_space(s->rx))
		n = simdrv_space(s->rx);
	if (n > 2 * DEMO_BATCH)
		n = 2 * DEMO_BATCH;
	if (!n || udma_pool_get_bulk(s->pool, bufs, n))
		return 0;
	for (i = 0; i < n; i++)
		sqe[i] = (struct simdev_sqe){
			.opcode = SIMDEV_OP_NIC_RX_POST,
			.len = DEMO_PKT_SIZE,
			.dst = udma_pool_iova(s->pool, bufs[i]),
			.cookie = demo_cookie(DEMO_POOL_PKT, udma_pool_index(s->pool, bufs[i]), 0),
		};
	simdrv_submit(s->rx, sqe, n);
	s->posted += n;
	return n;
}

/* Send a batch against posted RX buffers (credit), so the device never has
 * to drop one: drops counted by the device must stay 0. */
static unsigned send_tx(struct demo *d, struct nic_state *s)
{
	struct simdev_sqe sqe[DEMO_BATCH];
	void *bufs[DEMO_BATCH];
	uint64_t credit = s->posted - d->nic.sent, left = d->o.packets - d->nic.sent;
	unsigned n = simdrv_space(s->tx), i;

	if (n > DEMO_BATCH)
		n = DEMO_BATCH;
	if (n > credit)
		n = (unsigned)credit;
	if (n > left)
		n = (unsigned)left;
	if (!n || udma_pool_get_bulk(s->pool, bufs, n))
		return 0;
	for (i = 0; i < n; i++) {
		uint64_t seq = d->nic.sent + i;
		uint32_t len = pkt_len(seq);

		pkt_fill(bufs[i], len, seq);
		sqe[i] = (struct simdev_sqe){
			.opcode = SIMDEV_OP_NIC_TX,
			.len = len,
			.src = udma_pool_iova(s->pool, bufs[i]),
			.cookie =
				demo_cookie(DEMO_POOL_PKT, udma_pool_index(s->pool, bufs[i]), (uint32_t)seq),
		};
	}
	simdrv_submit(s->tx, sqe, n);
	d->nic.sent += n;
	return n;
}

static int reap_tx(struct demo *d, struct nic_state *s, unsigned *progress)
{
	struct simdev_cqe cqe[DEMO_REAP_MAX];
	unsigned n = simdrv_reap(s->tx, cqe, DEMO_REAP_MAX), i, bad = DEMO_REAP_MAX;

	for (i = 0; i < n; i++) {
		if (SIMDEV_CQE_STATUS(cqe[i].status) != SIMDEV_ST_OK && bad == DEMO_REAP_MAX)
			bad = i;
		demo_put_cookie(d, cqe[i].cookie);
	}
	s->tx_done += n;
	*progress += n;
	if (bad == DEMO_REAP_MAX)
		return 0;
	d->nic.errors++;
	return demo_fail(d, "TX of packet %u failed: device status %s", (unsigned)(cqe[bad].cookie >> 32),
			 demo_status_name(SIMDEV_CQE_STATUS(cqe[bad].status)));
}

/* Count a packet that arrived wrong; the first one is described. */
static void __attribute__((format(printf, 2, 3))) bad_packet(struct demo *d, const char *fmt, ...)
{
	va_list ap;

	if (!d->nic.corrupt++) {
		va_start(ap, fmt);
		vsnprintf(d->nic.first_bad, sizeof(d->nic.first_bad), fmt, ap);
		va_end(ap);
	}
}

/* Every packet: status, length, order (its first word) and each byte. */
static int reap_rx(struct demo *d, struct nic_state *s, unsigned *progress)
{
	struct simdev_cqe cqe[DEMO_REAP_MAX];
	void *bufs[DEMO_REAP_MAX];
	unsigned n = simdrv_reap(s->rx, cqe, DEMO_REAP_MAX), i, st;
	int rc = 0;

	for (i = 0; i < n; i++) {
		uint64_t seq = d->nic.received + i, got;
		const uint8_t *p = bufs[i] = demo_cookie_buf(d, cqe[i].cookie);
		long at;

		st = SIMDEV_CQE_STATUS(cqe[i].status);
		if (st != SIMDEV_ST_OK) {
			d->nic.errors++;
			rc = demo_fail(d, "RX of packet %llu failed: device status %s",
				       (unsigned long long)seq, demo_status_name(st));
			continue;
		}
		if (!p) {
			d->nic.corrupt++;
			rc = demo_fail(d, "RX completion %llu carries a cookie (0x%llx) the demo never gave",
				       (unsigned long long)seq, (unsigned long long)cqe[i].cookie);
			continue;
		}
		d->nic.bytes += cqe[i].len;
		memcpy(&got, p, 8);
		/* Out of order only if it is, intact, another packet that was sent. */
		if (got != seq && got < d->nic.sent && cqe[i].len == pkt_len(got) &&
		    pkt_check(p, cqe[i].len, got) < 0) {
			bad_packet(d, "packet %llu arrived where packet %llu was expected (out of order)",
				   (unsigned long long)got, (unsigned long long)seq);
		} else if (cqe[i].len != pkt_len(seq)) {
			bad_packet(d, "packet %llu arrived with %u bytes, %u were sent",
				   (unsigned long long)seq, cqe[i].len, pkt_len(seq));
		} else if ((at = pkt_check(p, cqe[i].len, seq)) >= 0) {
			bad_packet(d, "packet %llu: byte %ld of %u differs from what was sent",
				   (unsigned long long)seq, at, cqe[i].len);
		} else {
			d->nic.verified++;
		}
	}
	for (i = 0; i < n; i++)
		if (bufs[i])
			udma_pool_put(s->pool, bufs[i]);
	d->nic.received += n;
	*progress += n;
	return rc;
}

int demo_nic_run(struct demo *d)
{
	struct nic_state s = {
		.tx = &d->drv.q[DEMO_Q_TX],
		.rx = &d->drv.q[DEMO_Q_RX],
		.pool = d->pool[DEMO_POOL_PKT],
	};
	uint64_t n = d->o.packets;
	double t0 = demo_now(), idle_since = 0;
	int rc = 0;

	while (!rc && (d->nic.received < n || s.tx_done < n)) {
		unsigned progressed = 0;

		if (demo_interrupted) {
			rc = demo_fail(d, "interrupted");
			break;
		}
		progressed += post_rx(d, &s);
		progressed += send_tx(d, &s);
		rc = reap_tx(d, &s, &progressed);
		if (!rc)
			rc = reap_rx(d, &s, &progressed);
		if (!rc && progressed)
			idle_since = 0;
		else if (!rc)
			rc = demo_idle(d, &idle_since, "NIC loopback");
		demo_progress(d, "NIC loopback: packets", d->nic.received, n, t0);
	}
	d->nic.secs = demo_now() - t0;
	demo_progress_clear(d);
	if (!rc && d->nic.corrupt)
		rc = demo_fail(d, "%llu of %llu packets arrived wrong; the first: %s",
			       (unsigned long long)d->nic.corrupt, (unsigned long long)n, d->nic.first_bad);
	return rc;
}
