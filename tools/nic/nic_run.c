/* SPDX-License-Identifier: MIT */
/*
 * The loops of udma nic: the generator (batches of frames built in the
 * side's buffers, at a rate or flat out), the receiver (every frame checked,
 * sequence gaps and latency), the forwarder (rx_burst on one NIC, tx_burst
 * on the other, what is not taken dropped). They stop on the stop flag a
 * signal sets, and leave every frame with its owner: sent, or given back.
 */
#include <errno.h>
#include <stdio.h>
#include <string.h>
#include <time.h>

#include "tools/nic/nic_tool.h"

#define NS_PER_S      1000000000ull
#define NS_PER_MS     1000000ull
#define DRAIN_MS      2000	      /* for the last frames to leave */
#define WAIT_SLICE_MS 50	      /* a sleeping receiver looks at the stop flags this often */
#define SLEEP_AHEAD   (200 * 1000ull) /* a generator ahead of its rate sleeps, not spins, beyond this */

/* Drop the first k frames of b (sent), keeping the rest in order. */
static void batch_shift(struct frame_batch *b, unsigned k)
{
	unsigned i;

	for (i = k; i < b->n; i++) {
		b->data[i - k] = b->data[i];
		b->len[i - k] = b->len[i];
		b->handle[i - k] = b->handle[i];
	}
	b->n -= k;
}

/* Frames due by now at rate (frame seq is due at start + seq / rate). */
static uint64_t frames_due(uint64_t start, uint64_t now, uint64_t rate)
{
	return (uint64_t)((double)(now - start) * (double)rate / (double)NS_PER_S) + 1;
}

/* Keep the failure and the port's reason for it. */
static void fail(char *why, size_t len, int *err, int rc)
{
	*err = rc;
	snprintf(why, len, "%s", port_error());
}

/* Stop with -ETIMEDOUT when the port has taken nothing for o->stall_ms. */
static bool stalled(const struct gen_opts *o, uint64_t now, uint64_t last_take, struct tx_result *r)
{
	if (!o->stall_ms || now - last_take < o->stall_ms * NS_PER_MS)
		return false;
	r->err = -ETIMEDOUT;
	snprintf(r->why, sizeof(r->why),
		 "TX ring full for %u ms: the port took none of the frames offered (link down, or "
		 "the NIC stopped sending?)",
		 o->stall_ms);
	return true;
}

void run_gen(struct nic_port *p, const struct gen_opts *o, struct tx_result *r)
{
	static struct frame_batch b; /* one generator per process */
	uint64_t seq = 0, now, deadline, last_take;
	unsigned i, want;
	bool ring_full = false; /* the last send took fewer than offered */
	int rc;

	memset(r, 0, sizeof(*r));
	b.n = 0;
	r->start_ns = last_take = now = run_now_ns();
	deadline = o->time_ns ? now + o->time_ns : UINT64_MAX;
	while (!run_stopped()) {
		now = run_now_ns();
		if (now >= deadline || stalled(o, now, last_take, r))
			break;
		if (!b.n) {
			if (o->count && seq >= o->count)
				break;
			want = o->batch;
			if (o->count && o->count - seq < want)
				want = (unsigned)(o->count - seq);
			if (o->rate) {
				uint64_t due = frames_due(r->start_ns, now, o->rate);

				if (due <= seq) {
					uint64_t wait = (uint64_t)((double)(seq + 1 - due) * NS_PER_S /
								   (double)o->rate);

					if (wait > SLEEP_AHEAD)
						nanosleep(&(struct timespec){.tv_nsec = (long)(wait / 2)},
							  NULL);
					last_take = run_now_ns(); /* waiting for the rate is no stall */
					continue;
				}
				if (due - seq < want)
					want = (unsigned)(due - seq);
			}
			if ((rc = p->ops->tx_alloc(p, &b, want)) < 0) {
				fail(r->why, sizeof(r->why), &r->err, rc);
				break;
			}
			now = run_now_ns();
			for (i = 0; i < b.n; i++)
				b.len[i] = (uint16_t)frame_build(&o->tmpl, b.data[i], seq + i, now);
			seq += b.n;
			if (!b.n)
				continue; /* every packet in flight: the next alloc reclaims */
		}
		if ((rc = p->ops->tx_send(p, &b)) < 0) {
			fail(r->why, sizeof(r->why), &r->err, rc);
			break;
		}
		for (i = 0; i < (unsigned)rc; i++)
			r->bytes += b.len[i];
		r->sent += (unsigned)rc;
		if ((unsigned)rc < b.n && !ring_full)
			r->retries++;
		ring_full = (unsigned)rc < b.n;
		batch_shift(&b, (unsigned)rc);
		if (rc)
			last_take = run_now_ns();
	}
	if (b.n) /* built, never taken: back to their owner */
		p->ops->tx_release(p, &b);
	if ((rc = p->ops->tx_drain(p, DRAIN_MS)) < 0 && !r->err)
		fail(r->why, sizeof(r->why), &r->err, rc);
	/* The window ends when the last frame has left; at a rate, not before
	 * the time the frames sent were due for (frame k at start + k / rate). */
	r->end_ns = run_now_ns();
	if (o->rate && r->sent) {
		uint64_t due_end = r->start_ns + (uint64_t)((double)r->sent * NS_PER_S / (double)o->rate);

		if (due_end > r->end_ns)
			r->end_ns = due_end;
	}
}

/* Whether seq (within the window) was received. */
static bool window_has(const struct rx_result *r, uint64_t seq)
{
	return r->window[(seq % RX_WINDOW) / 64] >> (seq % 64) & 1;
}

/* Numbers from r->next_seq up to seq come into the window, none received. */
static void window_advance(struct rx_result *r, uint64_t seq)
{
	uint64_t s;

	if (seq - r->next_seq >= RX_WINDOW) {
		memset(r->window, 0, sizeof(r->window));
		return;
	}
	for (s = r->next_seq; s < seq; s++)
		r->window[(s % RX_WINDOW) / 64] &= ~(1ull << (s % 64));
}

void rx_account(struct rx_result *r, const struct recv_opts *o, const uint8_t *data, uint32_t len,
		uint64_t now)
{
	struct frame_fields f;

	r->frames++;
	switch (frame_check(data, len, o->gen, &f)) {
	case FRAME_FOREIGN: r->foreign++; return;
	case FRAME_BAD: r->bad++; return;
	case FRAME_OK: break;
	}
	if (!r->seen) {
		r->run = o->gen ? o->gen->run : f.run;
		r->next_seq = o->gen ? 0 : f.seq;
		r->seen = true;
	}
	if (f.run != r->run) {
		r->other_run++;
		return;
	}
	if (f.seq >= r->next_seq) {
		window_advance(r, f.seq);
		r->gaps += f.seq - r->next_seq;
		r->next_seq = f.seq + 1;
	} else if (r->next_seq - f.seq > RX_WINDOW || window_has(r, f.seq)) {
		r->dup++; /* received already, or too old to tell */
		return;
	} else {
		r->late++; /* a first arrival, filling a gap */
	}
	r->window[(f.seq % RX_WINDOW) / 64] |= 1ull << (f.seq % 64);
	if (!r->ok++)
		r->first_ns = now;
	r->bytes += len;
	r->last_ns = now;
	if (now >= f.sent_ns)
		latency_hist_add(&r->lat, now - f.sent_ns);
}

void run_recv(struct nic_port *p, const struct recv_opts *o, struct rx_result *r)
{
	static struct frame_batch b; /* one receiver per process */
	uint64_t now, deadline, linger_end = 0, ok_before;
	unsigned i, max;
	int rc;

	memset(r, 0, sizeof(*r));
	now = run_now_ns();
	deadline = o->time_ns ? now + o->time_ns : UINT64_MAX;
	while (!run_stopped() && !(o->count && r->ok >= o->count) && now < deadline) {
		if (o->stop_rx && !linger_end && __atomic_load_n(o->stop_rx, __ATOMIC_ACQUIRE))
			linger_end = now + o->linger_ms * NS_PER_MS;
		if (linger_end && now >= linger_end)
			break;
		/* Never past count: the frames a burst took are all judged. */
		max = o->count && o->count - r->ok < NIC_BURST_MAX ? (unsigned)(o->count - r->ok)
								   : NIC_BURST_MAX;
		if ((rc = p->ops->rx(p, &b, max)) < 0) {
			fail(r->why, sizeof(r->why), &r->err, rc);
			break;
		}
		if (!rc) {
			if (p->irq && (rc = p->ops->rx_wait(p, WAIT_SLICE_MS)) < 0) {
				fail(r->why, sizeof(r->why), &r->err, rc);
				break;
			}
			now = run_now_ns();
			continue;
		}
		now = run_now_ns();
		ok_before = r->ok;
		for (i = 0; i < b.n; i++)
			rx_account(r, o, b.data[i], b.len[i], now);
		p->ops->rx_release(p, &b);
		if (linger_end && r->ok != ok_before) /* ours still coming: wait for the rest */
			linger_end = now + o->linger_ms * NS_PER_MS;
	}
}

uint64_t rx_lost(const struct rx_result *r, bool sent_known, uint64_t sent)
{
	if (sent_known) /* ok counts first arrivals only; a bad frame came, if wrong */
		return sent > r->ok + r->bad ? sent - r->ok - r->bad : 0;
	return r->gaps > r->late ? r->gaps - r->late : 0;
}

void run_fwd(struct nic_port *p[2], unsigned batch, uint64_t count, uint64_t time_ns, struct fwd_result *r)
{
	struct nic_pkt *pkts[NIC_BURST_MAX];
	uint64_t now, deadline, bytes;
	unsigned d, i;
	int n, sent;

	memset(r, 0, sizeof(*r));
	r->start_ns = now = run_now_ns();
	deadline = time_ns ? now + time_ns : UINT64_MAX;
	while (!run_stopped() && now < deadline && !(count && r->dir[0].rx + r->dir[1].rx >= count)) {
		for (d = 0; d < 2; d++) {
			struct fwd_dir *fd = &r->dir[d];

			if ((n = nic_rx_burst(p[d]->nic, 0, pkts, batch)) < 0) {
				r->err = n;
				snprintf(r->why, sizeof(r->why), "%s: %s", p[d]->spec, nic_last_error());
				return;
			}
			if (!n)
				continue;
			for (i = 0, bytes = 0; i < (unsigned)n; i++)
				bytes += pkts[i]->len;
			sent = nic_tx_burst(p[1 - d]->nic, 0, pkts, (unsigned)n);
			if (sent < 0 && sent != -EMSGSIZE && sent != -EINVAL) {
				nic_pkt_free_bulk(pkts, (unsigned)n);
				r->err = sent;
				snprintf(r->why, sizeof(r->why), "%s: %s", p[1 - d]->spec, nic_last_error());
				return;
			}
			if (sent < 0) /* a frame the other NIC refuses: dropped with the rest */
				sent = 0;
			for (i = (unsigned)sent; i < (unsigned)n; i++)
				bytes -= pkts[i]->len;
			nic_pkt_free_bulk(pkts + sent, (unsigned)(n - sent));
			fd->rx += (unsigned)n;
			fd->tx += (unsigned)sent;
			fd->drops += (unsigned)(n - sent);
			fd->bytes += bytes;
		}
		now = run_now_ns();
	}
	r->end_ns = now;
}
