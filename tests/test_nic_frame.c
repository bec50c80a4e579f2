/* SPDX-License-Identifier: MIT */
/*
 * The test frames of udma nic (tools/nic/nic_frame.c): what gen builds, recv
 * takes back intact with its number and send time, at every size from 60 to
 * 1514 bytes; a frame with any payload or header byte changed, cut short, or
 * carrying another frame's payload is bad; frames of other protocols or
 * ports are others', never judged.
 */
#include <string.h>

#include "tests/support/helpers.h"
#include "tools/nic/nic_tool.h"

static const struct frame_tmpl tmpl = {
	.dst = {0xff, 0xff, 0xff, 0xff, 0xff, 0xff},
	.src = {0x52, 0x54, 0x00, 0x00, 0x06, 0x00},
	.size_min = NIC_GEN_MIN_SIZE,
	.size_max = NIC_FRAME_MAX,
};

static uint8_t buf[NIC_PKT_DATA], other[NIC_PKT_DATA];

/* Every size the generator cycles through comes back whole. */
static void every_size_intact(void **state)
{
	uint64_t seq, sent, s;
	uint32_t len;

	(void)state;
	for (s = 1000; s < 1000 + NIC_FRAME_MAX - NIC_GEN_MIN_SIZE + 1; s++) {
		len = frame_build(&tmpl, buf, s, s * 7);
		assert_int_equal(len, frame_size(&tmpl, s));
		assert_true(len >= NIC_GEN_MIN_SIZE && len <= NIC_FRAME_MAX);
		assert_int_equal(frame_check(buf, len, &seq, &sent), FRAME_OK);
		assert_int_equal(seq, s);
		assert_int_equal(sent, s * 7);
	}
	/* The sizes cycle: 1455 sizes, then the first again. */
	assert_int_equal(frame_size(&tmpl, 0), NIC_GEN_MIN_SIZE);
	assert_int_equal(frame_size(&tmpl, NIC_FRAME_MAX - NIC_GEN_MIN_SIZE), NIC_FRAME_MAX);
	assert_int_equal(frame_size(&tmpl, NIC_FRAME_MAX - NIC_GEN_MIN_SIZE + 1), NIC_GEN_MIN_SIZE);
}

/* Any one byte changed, from the IP header to the last: bad. */
static void any_byte_flipped(void **state)
{
	const struct frame_tmpl one = {.size_min = 200, .size_max = 200};
	uint64_t seq, sent;
	uint32_t len = frame_build(&one, buf, 42, 1), i;

	(void)state;
	for (i = 14; i < len; i++) {
		if (i >= NIC_GEN_SEQ_OFF && i < NIC_GEN_PAT_OFF)
			continue; /* the number and the time: any value is a valid frame */
		if (i == 23 || (i >= 34 && i < 38))
			continue; /* the IP protocol, the UDP ports: then it is not ours (below) */
		buf[i] ^= 0x10;
		assert_int_equal(frame_check(buf, len, &seq, &sent), FRAME_BAD);
		buf[i] ^= 0x10;
	}
	assert_int_equal(frame_check(buf, len, &seq, &sent), FRAME_OK);
}

/* A frame with the payload of another number (a stale buffer), cut short,
 * or longer than its headers say: bad. */
static void stale_short_long(void **state)
{
	const struct frame_tmpl one = {.size_min = 300, .size_max = 300};
	uint64_t seq, sent;
	uint32_t len = frame_build(&one, buf, 7, 1);

	(void)state;
	frame_build(&one, other, 8, 1);
	memcpy(other + NIC_GEN_SEQ_OFF, buf + NIC_GEN_SEQ_OFF, 8); /* frame 8's payload, numbered 7 */
	assert_int_equal(frame_check(other, len, &seq, &sent), FRAME_BAD);
	assert_int_equal(frame_check(buf, len - 1, &seq, &sent), FRAME_BAD);
	assert_int_equal(frame_check(buf, len + 1, &seq, &sent), FRAME_BAD);
	assert_int_equal(frame_check(buf, NIC_GEN_HDR, &seq, &sent), FRAME_BAD);
	assert_int_equal(frame_check(buf, len, &seq, &sent), FRAME_OK);
}

/* Another ethertype, protocol or port, or a runt: not ours. */
static void others_frames(void **state)
{
	uint64_t seq, sent;
	uint32_t len = frame_build(&tmpl, buf, 0, 0);

	(void)state;
	buf[12] = 0x86; /* IPv6 */
	buf[13] = 0xdd;
	assert_int_equal(frame_check(buf, len, &seq, &sent), FRAME_FOREIGN);
	len = frame_build(&tmpl, buf, 0, 0);
	buf[14 + 9] = 6; /* TCP */
	assert_int_equal(frame_check(buf, len, &seq, &sent), FRAME_FOREIGN);
	len = frame_build(&tmpl, buf, 0, 0);
	buf[36] ^= 1; /* destination port */
	assert_int_equal(frame_check(buf, len, &seq, &sent), FRAME_FOREIGN);
	assert_int_equal(frame_check(buf, 20, &seq, &sent), FRAME_FOREIGN);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		th_test(every_size_intact),
		th_test(any_byte_flipped),
		th_test(stale_short_long),
		th_test(others_frames),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
