/* SPDX-License-Identifier: MIT */
/*
 * The test frames of udma nic (tools/nic/nic_frame.c): what gen builds, recv
 * takes back intact with its run id, number and send time, at every size
 * from 60 to 1514 bytes; a frame with any byte changed from the destination
 * MAC on (the MACs when the receiver knows them), cut short, or carrying
 * another frame's payload is bad, except the bytes that say whose it is
 * (ethertype, IP protocol, UDP ports): then it is others', never judged.
 */
#include <string.h>

#include "tests/support/helpers.h"
#include "tools/nic/nic_tool.h"

static const struct frame_tmpl tmpl = {
	.dst = {0xff, 0xff, 0xff, 0xff, 0xff, 0xff},
	.src = {0x52, 0x54, 0x00, 0x00, 0x06, 0x00},
	.size_min = NIC_GEN_MIN_SIZE,
	.size_max = NIC_FRAME_MAX,
	.run = 0x5eed1234,
};

static uint8_t buf[NIC_PKT_DATA], other[NIC_PKT_DATA];

/* Every size the generator cycles through comes back whole. */
static void every_size_intact(void **state)
{
	struct frame_fields f;
	uint64_t s;
	uint32_t len;

	(void)state;
	for (s = 1000; s < 1000 + NIC_FRAME_MAX - NIC_GEN_MIN_SIZE + 1; s++) {
		len = frame_build(&tmpl, buf, s, s * 7);
		assert_int_equal(len, frame_size(&tmpl, s));
		assert_true(len >= NIC_GEN_MIN_SIZE && len <= NIC_FRAME_MAX);
		assert_int_equal(frame_check(buf, len, &tmpl, &f), FRAME_OK);
		assert_int_equal(f.seq, s);
		assert_int_equal(f.sent_ns, s * 7);
		assert_int_equal(f.run, tmpl.run);
	}
	/* The highest number a frame carries. */
	len = frame_build(&tmpl, buf, NIC_GEN_SEQ_MAX, 1);
	assert_int_equal(frame_check(buf, len, NULL, &f), FRAME_OK);
	assert_true(f.seq == NIC_GEN_SEQ_MAX);
	/* The sizes cycle: 1455 sizes, then the first again. */
	assert_int_equal(frame_size(&tmpl, 0), NIC_GEN_MIN_SIZE);
	assert_int_equal(frame_size(&tmpl, NIC_FRAME_MAX - NIC_GEN_MIN_SIZE), NIC_FRAME_MAX);
	assert_int_equal(frame_size(&tmpl, NIC_FRAME_MAX - NIC_GEN_MIN_SIZE + 1), NIC_GEN_MIN_SIZE);
}

/* Whether byte i tells whose frame it is: the ethertype, the IP protocol,
 * the UDP ports. Changed, the frame is not ours any more. */
static bool says_whose(uint32_t i)
{
	return i == 12 || i == 13 || i == 14 + 9 || (i >= 34 && i < 38);
}

/* Every byte changed in turn, from the destination MAC to the last, at the
 * minimum size (no pattern: the number, time and run id alone) and a larger
 * one: bad, or others' where the byte says whose it is. */
static void any_byte_changed(void **state)
{
	static const uint32_t sizes[] = {NIC_GEN_MIN_SIZE, 200};
	struct frame_tmpl one = tmpl;
	struct frame_fields f;
	unsigned k, bit;
	uint32_t len, i;

	(void)state;
	for (k = 0; k < 2; k++) {
		one.size_min = one.size_max = sizes[k];
		len = frame_build(&one, buf, 42, 1);
		for (i = 0; i < len; i++) {
			for (bit = 0; bit < 8; bit++) {
				buf[i] ^= (uint8_t)(1u << bit);
				assert_int_equal(frame_check(buf, len, &one, &f),
						 says_whose(i) ? FRAME_FOREIGN : FRAME_BAD);
				buf[i] ^= (uint8_t)(1u << bit);
			}
		}
		assert_int_equal(frame_check(buf, len, &one, &f), FRAME_OK);
	}
}

/* The MACs are no checksum's: a receiver that does not know them (recv
 * alone) takes a frame with another MAC; one that does (gen --rx) does not. */
static void macs_checked_when_known(void **state)
{
	struct frame_tmpl other_src = tmpl;
	struct frame_fields f;
	uint32_t len = frame_build(&tmpl, buf, 3, 1);

	(void)state;
	other_src.src[5] ^= 1;
	assert_int_equal(frame_check(buf, len, NULL, &f), FRAME_OK);
	assert_int_equal(frame_check(buf, len, &other_src, &f), FRAME_BAD);
}

/* A frame with the payload of another number (a stale buffer), cut short,
 * or longer than its headers say: bad. */
static void stale_short_long(void **state)
{
	const struct frame_tmpl one = {.size_min = 300, .size_max = 300};
	struct frame_fields f;
	uint32_t len = frame_build(&one, buf, 7, 1);

	(void)state;
	frame_build(&one, other, 8, 1);
	/* frame 8's payload, numbered 7, its UDP checksum too */
	memcpy(other + NIC_GEN_SEQ_OFF, buf + NIC_GEN_SEQ_OFF, NIC_GEN_SEQ_LEN);
	memcpy(other + 40, buf + 40, 2);
	assert_int_equal(frame_check(other, len, NULL, &f), FRAME_BAD);
	assert_int_equal(frame_check(buf, len - 1, NULL, &f), FRAME_BAD);
	assert_int_equal(frame_check(buf, len + 1, NULL, &f), FRAME_BAD);
	assert_int_equal(frame_check(buf, NIC_GEN_HDR, NULL, &f), FRAME_BAD);
	buf[40] = buf[41] = 0; /* "no checksum": gen always sends one */
	assert_int_equal(frame_check(buf, len, NULL, &f), FRAME_BAD);
	len = frame_build(&one, buf, 7, 1);
	assert_int_equal(frame_check(buf, len, NULL, &f), FRAME_OK);
}

/* Another ethertype, protocol or port, or a runt: not ours. */
static void others_frames(void **state)
{
	struct frame_fields f;
	uint32_t len = frame_build(&tmpl, buf, 0, 0);

	(void)state;
	buf[12] = 0x86; /* IPv6 */
	buf[13] = 0xdd;
	assert_int_equal(frame_check(buf, len, NULL, &f), FRAME_FOREIGN);
	len = frame_build(&tmpl, buf, 0, 0);
	buf[14 + 9] = 6; /* TCP */
	assert_int_equal(frame_check(buf, len, NULL, &f), FRAME_FOREIGN);
	len = frame_build(&tmpl, buf, 0, 0);
	buf[36] ^= 1; /* destination port */
	assert_int_equal(frame_check(buf, len, NULL, &f), FRAME_FOREIGN);
	assert_int_equal(frame_check(buf, 20, NULL, &f), FRAME_FOREIGN);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		th_test(every_size_intact), th_test(any_byte_changed), th_test(macs_checked_when_known),
		th_test(stale_short_long),  th_test(others_frames),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
