/* SPDX-License-Identifier: MIT */
/*
 * The loops of udma nic (tools/nic/nic_run.c) against a port in memory: the
 * generator stops at its deadline and fails (-ETIMEDOUT) when the port stops
 * taking frames, counts one retry per spell of a full ring, gives back every
 * frame it built and did not send, and at a rate its window lasts as long as
 * the frames were due for; the receiver counts only first arrivals intact,
 * duplicates apart, a reordered frame as filling its gap, and frames of
 * another run apart.
 */
#include <errno.h>
#include <string.h>

#include "tests/support/helpers.h"
#include "tools/nic/nic_tool.h"

#define FAKE_FRAMES 64

/* The port: takes up to `takes` frames in all (then none), drains at once. */
static struct fake {
	uint8_t buf[FAKE_FRAMES][NIC_PKT_DATA];
	bool out[FAKE_FRAMES]; /* handed to the generator, not back */
	uint64_t takes, taken, allocs, released;
} fk;

static int fake_tx_alloc(struct nic_port *p, struct frame_batch *b, unsigned want)
{
	unsigned i;

	(void)p;
	b->n = 0;
	for (i = 0; i < FAKE_FRAMES && b->n < want; i++) {
		if (fk.out[i])
			continue;
		fk.out[i] = true;
		b->data[b->n] = fk.buf[i];
		b->handle[b->n++] = &fk.out[i];
		fk.allocs++;
	}
	return (int)b->n;
}

static int fake_tx_send(struct nic_port *p, struct frame_batch *b)
{
	unsigned i, n = b->n;

	(void)p;
	if (fk.takes - fk.taken < n)
		n = (unsigned)(fk.takes - fk.taken);
	for (i = 0; i < n; i++)
		*(bool *)b->handle[i] = false; /* sent at once: free again */
	fk.taken += n;
	return (int)n;
}

static int fake_tx_drain(struct nic_port *p, int timeout_ms)
{
	(void)p;
	(void)timeout_ms;
	return 0;
}

static void fake_release(struct nic_port *p, struct frame_batch *b)
{
	unsigned i;

	(void)p;
	for (i = 0; i < b->n; i++)
		*(bool *)b->handle[i] = false;
	fk.released += b->n;
	b->n = 0;
}

static const struct port_ops fake_ops = {
	.kind = "fake",
	.tx_alloc = fake_tx_alloc,
	.tx_send = fake_tx_send,
	.tx_drain = fake_tx_drain,
	.tx_release = fake_release,
};

static struct nic_port port = {.ops = &fake_ops, .spec = "fake:0"};
static struct tx_result tx;
static struct rx_result rx;

static int reset(void **state)
{
	(void)state;
	memset(&fk, 0, sizeof(fk));
	return 0;
}

/* Every frame built was sent or given back. */
static void all_accounted(void)
{
	assert_int_equal(fk.allocs, tx.sent + fk.released);
}

/* The port takes 100 frames, then none: gen --count 1000 fails after the
 * stall limit instead of spinning forever, with one retry counted. */
static void gen_fails_when_the_port_stops_taking(void **state)
{
	struct gen_opts o = {
		.tmpl = {.size_min = 60, .size_max = 60}, .count = 1000, .batch = 32, .stall_ms = 100};

	(void)state;
	fk.takes = 100;
	run_gen(&port, &o, &tx);
	assert_int_equal(tx.err, -ETIMEDOUT);
	assert_non_null(strstr(tx.why, "TX ring full for 100 ms"));
	assert_int_equal(tx.sent, 100);
	assert_int_equal(tx.retries, 1);
	all_accounted();
}

/* A port that never takes a frame, no stall limit: the deadline still ends
 * the run (it was looked at only between whole batches). */
static void gen_deadline_ends_a_full_ring(void **state)
{
	struct gen_opts o = {.tmpl = {.size_min = 60, .size_max = 60}, .time_ns = 50000000, .batch = 8};

	(void)state;
	run_gen(&port, &o, &tx);
	assert_int_equal(tx.err, 0);
	assert_int_equal(tx.sent, 0);
	assert_int_equal(tx.retries, 1);
	all_accounted();
}

/* --count and --seconds both: the count, reached first, ends it; at --rate
 * the window is as long as the frames were due for (10 at 100/s: 100 ms, so
 * 100 frames/s, not 10 / 90 ms). */
static void gen_rate_window(void **state)
{
	struct gen_opts o = {.tmpl = {.size_min = 60, .size_max = 60},
			     .count = 10,
			     .time_ns = 60ull * 1000000000,
			     .rate = 100,
			     .batch = 32,
			     .stall_ms = 2000};

	(void)state;
	fk.takes = UINT64_MAX;
	run_gen(&port, &o, &tx);
	assert_int_equal(tx.err, 0);
	assert_int_equal(tx.sent, 10);
	assert_int_equal(tx.retries, 0);
	assert_true(tx.end_ns - tx.start_ns >= 100000000);
	all_accounted();
}

static uint8_t frame[NIC_PKT_DATA];

static void deliver(const struct recv_opts *o, const struct frame_tmpl *t, uint64_t seq)
{
	uint32_t len = frame_build(t, frame, seq, 1);

	rx_account(&rx, o, frame, len, 2);
}

static const struct frame_tmpl run_a = {.dst = {0xff, 0xff, 0xff, 0xff, 0xff, 0xff},
					.src = {0x52, 0x54, 0, 0, 6, 0},
					.size_min = 60,
					.size_max = 100,
					.run = 0xa};

/* 0 1 3 3 2 5: five intact (a duplicate is no arrival), one duplicate, one
 * late (2 fills its gap), one lost (4); a frame of another run apart. */
static void recv_duplicate_does_not_hide_a_loss(void **state)
{
	static const uint64_t seqs[] = {0, 1, 3, 3, 2, 5};
	struct frame_tmpl run_b = run_a;
	struct recv_opts o = {.gen = &run_a};
	unsigned i;

	(void)state;
	memset(&rx, 0, sizeof(rx));
	run_b.run = 0xb;
	for (i = 0; i < 6; i++)
		deliver(&o, &run_a, seqs[i]);
	deliver(&o, &run_b, 4);
	assert_int_equal(rx.frames, 7);
	assert_int_equal(rx.ok, 5);
	assert_int_equal(rx.dup, 1);
	assert_int_equal(rx.late, 1);
	assert_int_equal(rx.other_run, 1);
	assert_int_equal(rx.bad, 0);
	assert_int_equal(rx_lost(&rx, false, 0), 1);
	assert_int_equal(rx_lost(&rx, true, 6), 1);
	assert_int_equal(rx.lat.n, 5);
}

/* recv alone follows the first run it sees, from its first number; a second
 * generator's frames are another run's, not 500 late ones; a frame older
 * than the window cannot fill a gap any more. */
static void recv_follows_one_run(void **state)
{
	struct frame_tmpl run_b = run_a;
	struct recv_opts o = {0};
	uint64_t s;

	(void)state;
	memset(&rx, 0, sizeof(rx));
	run_b.run = 0xb;
	deliver(&o, &run_a, 1000);
	deliver(&o, &run_a, 1002);
	for (s = 0; s < 500; s++)
		deliver(&o, &run_b, s);
	assert_int_equal(rx.run, 0xa);
	assert_int_equal(rx.ok, 2);
	assert_int_equal(rx.other_run, 500);
	assert_int_equal(rx.late, 0);
	assert_int_equal(rx_lost(&rx, false, 0), 1);
	deliver(&o, &run_a, 1002 + RX_WINDOW + 1);
	deliver(&o, &run_a, 1001); /* out of the window now */
	assert_int_equal(rx.dup, 1);
	assert_int_equal(rx.late, 0);
	/* a bad frame: counted, not judged further */
	frame_build(&run_a, frame, 7, 1);
	frame[NIC_GEN_SEQ_OFF] ^= 1;
	rx_account(&rx, &o, frame, frame_size(&run_a, 7), 2);
	assert_int_equal(rx.bad, 1);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test_setup(gen_fails_when_the_port_stops_taking, reset),
		cmocka_unit_test_setup(gen_deadline_ends_a_full_ring, reset),
		cmocka_unit_test_setup(gen_rate_window, reset),
		th_test(recv_duplicate_does_not_hide_a_loss),
		th_test(recv_follows_one_run),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
