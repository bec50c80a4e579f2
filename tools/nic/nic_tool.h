/* SPDX-License-Identifier: MIT */
/*
 * udma nic: a packet generator, receiver and forwarder in the manner of
 * ixy-pktgen and ixy-fwd, on udma's NIC drivers (drivers/nic: "uio:ADDR" /
 * "vfio:ADDR") or, for comparison, on a kernel-driven interface through
 * AF_PACKET ("kernel:IFNAME", sendmmsg/recvmmsg). Both are a struct nic_port
 * with the same batch operations, so one generator loop, one receiver and
 * one report serve both and their figures compare directly. cmd_nic.c
 * parses and prints; nic_frame.c builds and checks the test frames,
 * nic_port_udma.c and nic_port_kernel.c are the two sides, nic_run.c the
 * generator, receiver and forwarder loops.
 */
#ifndef UDMA_NIC_TOOL_H
#define UDMA_NIC_TOOL_H

#include <signal.h>
#include <stdbool.h>
#include <stdint.h>

#include "drivers/nic/nic.h"
#include "tools/latency_hist.h"
#include "tools/run_stop.h"

/* ---- Test frames (nic_frame.c) --------------------------------------------
 * Ethernet II + IPv4 (10.0.0.1 -> 10.0.0.2, no options, DF) + UDP from and to
 * port NIC_GEN_PORT, then the payload: the run id (random per gen run), the
 * sequence number (48 bits) and the send time (ns, CLOCK_MONOTONIC; all host
 * order, the receiver runs on the same machine), then a byte pattern that
 * depends on the sequence number and the offset, so a frame with a stale or
 * shifted payload is caught as well as one with flipped bits. The UDP
 * checksum is real (RFC 768: the IPv4 pseudo-header, the UDP header and the
 * whole payload), so a changed number, time or run id is caught too; the
 * MACs, which no checksum of ours covers, are compared when the receiver
 * knows them (gen --rx). All of it fits the 60-byte minimum frame. */
#define NIC_GEN_PORT	 30170u /* 0x75da: marks our frames among others on the link */
#define NIC_GEN_HDR	 42u	/* Ethernet 14 + IPv4 20 + UDP 8 */
#define NIC_GEN_RUN_OFF	 NIC_GEN_HDR
#define NIC_GEN_SEQ_OFF	 (NIC_GEN_HDR + 4u)
#define NIC_GEN_SEQ_LEN	 6u		    /* 48 bits */
#define NIC_GEN_SEQ_MAX	 ((1ull << 48) - 1) /* the highest sequence number a frame carries */
#define NIC_GEN_TS_OFF	 (NIC_GEN_SEQ_OFF + NIC_GEN_SEQ_LEN)
#define NIC_GEN_PAT_OFF	 (NIC_GEN_TS_OFF + 8u)
#define NIC_GEN_MIN_SIZE NIC_FRAME_MIN /* 60: room for the run id, the number and the time */

/* The fixed part of every frame of a run. */
struct frame_tmpl {
	uint8_t dst[6], src[6];
	uint32_t size_min, size_max; /* frame bytes without FCS; the size cycles with the sequence */
	uint32_t run;		     /* the run id every frame carries */
};

/* The size of frame seq. */
static inline uint32_t frame_size(const struct frame_tmpl *t, uint64_t seq)
{
	return t->size_min + (uint32_t)(seq % (t->size_max - t->size_min + 1));
}

/* Write frame seq of t into buf (NIC_PKT_DATA bytes at least); returns its size. */
uint32_t frame_build(const struct frame_tmpl *t, uint8_t *buf, uint64_t seq, uint64_t now_ns);

enum frame_verdict {
	FRAME_OK,
	FRAME_FOREIGN, /* not one of ours (another protocol or port): not judged */
	FRAME_BAD,     /* ours, but its lengths, checksums, MACs or payload are wrong */
};

/* What a received frame of ours carried. */
struct frame_fields {
	uint32_t run;
	uint64_t seq, sent_ns;
};

/* Check a received frame; on FRAME_OK, *f holds its fields. With macs (the
 * template's dst and src; NULL when unknown) both MACs must match. */
enum frame_verdict frame_check(const uint8_t *buf, uint32_t len, const struct frame_tmpl *macs,
			       struct frame_fields *f);

/* ---- Ports: one side's batch operations (nic_port_*.c) --------------------- */

/* Frames in the caller's hands: data pointers, lengths, and the side's own
 * handle per frame (the struct nic_pkt on the udma side). */
struct frame_batch {
	unsigned n;
	uint8_t *data[NIC_BURST_MAX];
	uint16_t len[NIC_BURST_MAX];
	void *handle[NIC_BURST_MAX];
};

/* Totals a side keeps itself (the driver's nic_stats, the interface's). */
struct port_counts {
	uint64_t rx_packets, rx_dropped, rx_errors;
	uint64_t tx_packets, tx_errors;
	/* The kernel side's receiving socket: frames it dropped, its buffer
	 * full (PACKET_STATISTICS tp_drops), apart from the NIC's own drops. */
	bool has_sock_drops;
	uint64_t sock_drops;
};

struct nic_port;
/* Every int-returning operation gives 0 or a count, or a negative errno with
 * the reason in port_error(). */
struct port_ops {
	const char *kind; /* "udma" or "kernel" */
	/* Up to want empty frames to fill (b->n: how many; 0 when all are in
	 * flight: send or reclaim first). */
	int (*tx_alloc)(struct nic_port *p, struct frame_batch *b, unsigned want);
	/* Send b's frames from the front, in order: returns how many were taken
	 * (the rest stay in b, to be offered again). */
	int (*tx_send)(struct nic_port *p, struct frame_batch *b);
	/* Wait up to timeout_ms until every frame taken has left: 0 or -ETIMEDOUT. */
	int (*tx_drain)(struct nic_port *p, int timeout_ms);
	/* Give back frames taken with tx_alloc and not sent. */
	void (*tx_release)(struct nic_port *p, struct frame_batch *b);
	/* Up to max received frames (b->n; 0: none waiting). */
	int (*rx)(struct nic_port *p, struct frame_batch *b, unsigned max);
	/* Done with the frames rx gave. */
	void (*rx_release)(struct nic_port *p, struct frame_batch *b);
	/* Sleep until frames may be waiting or timeout_ms: 1, 0 (timeout), -errno.
	 * NULL where the side only polls. */
	int (*rx_wait)(struct nic_port *p, int timeout_ms);
	/* Wait up to timeout_ms for the link: 0, or -ETIMEDOUT (down). */
	int (*wait_link)(struct nic_port *p, int timeout_ms);
	int (*counts)(struct nic_port *p, struct port_counts *out);
	/* Close (again: nothing); returns the packets not back in their pool. */
	unsigned (*close)(struct nic_port *p);
};

struct nic_port {
	const struct port_ops *ops;
	char spec[128];	 /* as given: uio:ADDR, vfio:ADDR, kernel:IFNAME */
	char driver[32]; /* "e1000e", "virtio-net"...: udma's driver, or the kernel's */
	uint8_t mac[6];
	bool irq;	 /* rx_wait sleeps (udma --irq; the kernel side always) */
	struct nic *nic; /* the udma side's NIC (NULL for the kernel's) */
	void *priv;
};

struct port_opts {
	bool irq;      /* udma: NIC_IRQ (rx_wait sleeps on the interrupt) */
	unsigned pool; /* udma: packets in the port's pool */
	bool rx;       /* kernel: a receiving socket too */
};

/* Open spec (uio:ADDR, vfio:ADDR or kernel:IFNAME); 0, or a negative errno
 * with port_error() set and nothing left open. The udma ports of a process
 * share one context: all uio: (physical addresses) or all vfio:. */
int port_open(struct nic_port *p, const char *spec, const struct port_opts *o);
/* Close n ports (opened or not: zeroed; ops stay, for the report). The udma
 * side: every NIC detached first, which hands back every packet it holds,
 * then each pool checked to hold them all and freed. Returns the packets
 * not back in their pools (leaked: a failure). */
unsigned ports_close(struct nic_port *p, unsigned n);
bool port_is_kernel(const char *spec);
/* Why this thread's last port operation failed. */
const char *port_error(void);
int port_err(int err, const char *fmt, ...) __attribute__((format(printf, 2, 3)));

int port_open_udma(struct nic_port *p, const char *spec, const struct port_opts *o);
int port_open_kernel(struct nic_port *p, const char *ifname, const struct port_opts *o);

/* ---- The loops (nic_run.c) ------------------------------------------------- */

struct gen_opts {
	struct frame_tmpl tmpl;
	uint64_t count;	   /* frames to send; 0: until seconds or a signal */
	uint64_t time_ns;  /* run this long; 0: until count or a signal (both: the first) */
	uint64_t rate;	   /* frames per second; 0: as fast as the port takes them */
	unsigned batch;	   /* frames per tx_send */
	unsigned stall_ms; /* fail (-ETIMEDOUT) when the port takes nothing for this long */
};

struct tx_result {
	uint64_t sent, bytes;
	uint64_t retries;	   /* times the ring was full (a run of short sends counts once) */
	uint64_t start_ns, end_ns; /* first frame built; the frames drained, or due at --rate */
	int err;		   /* 0 or the failure's negative errno, why in why */
	char why[512];
};

/* Sequence numbers remembered behind the highest one seen: a frame within
 * them is judged first arrival or duplicate exactly; one older is counted as
 * a duplicate (it cannot fill a gap any more). */
#define RX_WINDOW 65536u

struct rx_result {
	uint64_t frames;		 /* every frame received */
	uint64_t ok, bytes;		 /* first arrivals of ours, intact; their bytes */
	uint64_t foreign;		 /* not ours (the kernel's own traffic on the link...) */
	uint64_t other_run;		 /* ours, but of another gen run than the one followed */
	uint64_t bad;			 /* ours, with wrong lengths, checksum, MACs or payload */
	uint64_t dup;			 /* a number already received (or older than the window) */
	uint64_t late;			 /* first arrivals below the highest number seen: reordered */
	uint64_t gaps;			 /* numbers skipped over when a higher one came */
	uint64_t next_seq;		 /* one past the highest seen */
	uint32_t run;			 /* the run followed */
	bool seen;			 /* a frame of ours came */
	uint64_t first_ns, last_ns;	 /* the first and last good frames' arrival */
	struct latency_hist lat;	 /* send time to receive time, ns */
	uint64_t window[RX_WINDOW / 64]; /* bit seq % RX_WINDOW: received, for seq in the window */
	int err;
	char why[512];
};

/* Send per o from p until done or stopped. */
void run_gen(struct nic_port *p, const struct gen_opts *o, struct tx_result *r);
struct recv_opts {
	uint64_t count;	    /* stop after this many good frames; 0: no limit */
	uint64_t time_ns;   /* stop after this long; 0: no limit */
	const int *stop_rx; /* set (atomically) by the generator when it has sent all */
	unsigned linger_ms; /* after stop_rx: go on until no frame of ours came for this long */
	/* The generator's template (gen --rx): its run id, numbered from 0, its
	 * MACs checked. NULL: follow the run of the first frame of ours seen,
	 * numbered from its first number. */
	const struct frame_tmpl *gen;
};

/* Receive on p and check every frame until opts say stop, or a signal. */
void run_recv(struct nic_port *p, const struct recv_opts *o, struct rx_result *r);
/* Judge one received frame (run_recv's step, for the tests too). */
void rx_account(struct rx_result *r, const struct recv_opts *o, const uint8_t *data, uint32_t len,
		uint64_t now);
/* Frames of ours never received: with sent known, sent - ok - bad; else the
 * gaps in the numbers not filled by late ones. */
uint64_t rx_lost(const struct rx_result *r, bool sent_known, uint64_t sent);

struct fwd_dir {
	uint64_t rx, tx, drops, bytes; /* received on the one, sent on the other, not taken */
};
struct fwd_result {
	struct fwd_dir dir[2]; /* 0: port 0 -> 1, 1: port 1 -> 0 */
	uint64_t start_ns, end_ns;
	int err;
	char why[512];
};
/* Forward between two udma ports until count frames (both ways), time_ns, or a signal. */
void run_fwd(struct nic_port *p[2], unsigned batch, uint64_t count, uint64_t time_ns, struct fwd_result *r);

#endif
