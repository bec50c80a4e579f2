/* SPDX-License-Identifier: MIT */
/*
 * The generator's frames: Ethernet II, IPv4 (RFC 791) and UDP (RFC 768)
 * headers valid enough for any stack to parse them (the UDP checksum
 * real), then the run id, the sequence number, the send time and the
 * payload pattern (nic_tool.h).
 */
#include <string.h>

#include "tools/nic/nic_tool.h"

#define ETH_TYPE_OFF   12u
#define ETH_TYPE_IPV4  0x0800u
#define IP_OFF	       14u
#define IP_HDR	       20u
#define IP_VER_IHL     0x45u /* version 4, 5 words: no options */
#define IP_FLAGS_DF    0x4000u
#define IP_TTL	       64u
#define IP_PROTO_UDP   17u
#define IP_SRC	       0x0a000001u /* 10.0.0.1 */
#define IP_DST	       0x0a000002u /* 10.0.0.2 */
#define UDP_OFF	       (IP_OFF + IP_HDR)
#define UDP_HDR	       8u
#define UDP_CSUM_OFF   6u
#define UDP_CSUM_NONE  0xffffu /* a computed 0 is sent as its complement: 0 means none (RFC 768) */
#define PATTERN_STRIDE 0x9du   /* consecutive frames' patterns differ in every byte */

static void put16(uint8_t *p, uint32_t v)
{
	p[0] = (uint8_t)(v >> 8);
	p[1] = (uint8_t)v;
}

static void put32(uint8_t *p, uint32_t v)
{
	put16(p, v >> 16);
	put16(p + 2, v);
}

static uint32_t get16(const uint8_t *p)
{
	return (uint32_t)p[0] << 8 | p[1];
}

/* The one's complement sum of n bytes from p (RFC 1071), added to sum. */
static uint32_t csum_add(uint32_t sum, const uint8_t *p, uint32_t n)
{
	uint32_t i;

	for (i = 0; i + 1 < n; i += 2)
		sum += get16(p + i);
	if (n & 1)
		sum += (uint32_t)p[n - 1] << 8;
	while (sum >> 16)
		sum = (sum & 0xffff) + (sum >> 16);
	return sum;
}

/* The Internet checksum of the IPv4 header: 0 over a header that holds it. */
static uint32_t ip_checksum(const uint8_t *h)
{
	return ~csum_add(0, h, IP_HDR) & 0xffff;
}

/* The UDP checksum over the pseudo-header (source, destination, protocol,
 * UDP length) and the UDP header and payload, udp_len bytes: 0 over a
 * datagram that holds it. */
static uint32_t udp_checksum(const uint8_t *ip, const uint8_t *udp, uint32_t udp_len)
{
	uint32_t sum = csum_add(0, ip + 12, 8); /* source and destination addresses */

	sum = csum_add(sum + IP_PROTO_UDP + udp_len, udp, udp_len);
	return ~sum & 0xffff;
}

static uint8_t pattern_base(uint64_t seq)
{
	return (uint8_t)(seq * PATTERN_STRIDE);
}

uint32_t frame_build(const struct frame_tmpl *t, uint8_t *buf, uint64_t seq, uint64_t now_ns)
{
	uint32_t size = frame_size(t, seq), i, csum;
	uint8_t *ip = buf + IP_OFF, *udp = buf + UDP_OFF, *pat = buf + NIC_GEN_PAT_OFF;
	uint8_t base = pattern_base(seq);

	memcpy(buf, t->dst, 6);
	memcpy(buf + 6, t->src, 6);
	put16(buf + ETH_TYPE_OFF, ETH_TYPE_IPV4);
	memset(ip, 0, IP_HDR);
	ip[0] = IP_VER_IHL;
	put16(ip + 2, size - IP_OFF);
	put16(ip + 6, IP_FLAGS_DF);
	ip[8] = IP_TTL;
	ip[9] = IP_PROTO_UDP;
	put32(ip + 12, IP_SRC);
	put32(ip + 16, IP_DST);
	put16(ip + 10, ip_checksum(ip));
	put16(udp, NIC_GEN_PORT);
	put16(udp + 2, NIC_GEN_PORT);
	put16(udp + 4, size - UDP_OFF);
	put16(udp + UDP_CSUM_OFF, 0);
	memcpy(buf + NIC_GEN_RUN_OFF, &t->run, 4);
	for (i = 0; i < NIC_GEN_SEQ_LEN; i++) /* the low 48 bits, least significant first */
		buf[NIC_GEN_SEQ_OFF + i] = (uint8_t)(seq >> (8 * i));
	memcpy(buf + NIC_GEN_TS_OFF, &now_ns, 8);
	for (i = 0; i < size - NIC_GEN_PAT_OFF; i++)
		pat[i] = (uint8_t)(base + i);
	csum = udp_checksum(ip, udp, size - UDP_OFF);
	put16(udp + UDP_CSUM_OFF, csum ? csum : UDP_CSUM_NONE);
	return size;
}

enum frame_verdict frame_check(const uint8_t *buf, uint32_t len, const struct frame_tmpl *macs,
			       struct frame_fields *f)
{
	const uint8_t *ip = buf + IP_OFF, *udp = buf + UDP_OFF, *pat = buf + NIC_GEN_PAT_OFF;
	uint32_t i, n;
	uint8_t base;

	if (len < NIC_GEN_HDR || get16(buf + ETH_TYPE_OFF) != ETH_TYPE_IPV4 || ip[9] != IP_PROTO_UDP ||
	    get16(udp) != NIC_GEN_PORT || get16(udp + 2) != NIC_GEN_PORT)
		return FRAME_FOREIGN;
	/* Ours: every length must agree with what arrived, both checksums hold
	 * (the UDP one is never left out: gen always computes it), the MACs be
	 * the generator's where known. */
	if (len < NIC_GEN_MIN_SIZE || ip[0] != IP_VER_IHL || get16(ip + 2) + IP_OFF != len ||
	    get16(udp + 4) + UDP_OFF != len || ip_checksum(ip) != 0 || get16(udp + UDP_CSUM_OFF) == 0 ||
	    udp_checksum(ip, udp, len - UDP_OFF) != 0)
		return FRAME_BAD;
	if (macs && (memcmp(buf, macs->dst, 6) || memcmp(buf + 6, macs->src, 6)))
		return FRAME_BAD;
	memset(f, 0, sizeof(*f));
	memcpy(&f->run, buf + NIC_GEN_RUN_OFF, 4);
	for (i = 0; i < NIC_GEN_SEQ_LEN; i++)
		f->seq |= (uint64_t)buf[NIC_GEN_SEQ_OFF + i] << (8 * i);
	memcpy(&f->sent_ns, buf + NIC_GEN_TS_OFF, 8);
	base = pattern_base(f->seq);
	n = len - NIC_GEN_PAT_OFF;
	for (i = 0; i < n; i++)
		if (pat[i] != (uint8_t)(base + i))
			return FRAME_BAD;
	return FRAME_OK;
}
