/* SPDX-License-Identifier: MIT */
/*
 * The kernel's side of udma nic, for comparison on the same NIC model: a
 * kernel-driven interface through AF_PACKET raw sockets (packet(7)), one to
 * send, bound with protocol 0 so nothing is queued to it, with the queueing
 * discipline bypassed (PACKET_QDISC_BYPASS, as the kernel's pktgen goes
 * straight to the driver) and batches of sendmmsg; one to receive every
 * frame of the interface (ETH_P_ALL, promiscuous for this socket only) in
 * batches of recvmmsg, sleeping in poll() when none is waiting. Frames are
 * built in the process's buffers, which the kernel copies: the cost of this
 * interface.
 */
#include <arpa/inet.h>
#include <errno.h>
#include <linux/ethtool.h>
#include <linux/if_packet.h>
#include <linux/sockios.h>
#include <net/ethernet.h>
#include <net/if.h>
#include <poll.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/ioctl.h>
#include <sys/socket.h>
#include <unistd.h>

#include "tools/nic/nic_tool.h"

#define RCVBUF_BYTES (8u << 20) /* room for bursts while the receiver is behind */

/* The interface's counters read at open, so counts() gives this run's. */
static const char *const counter_names[] = {"rx_packets", "rx_dropped", "rx_missed_errors",
					    "rx_errors",  "tx_packets", "tx_errors"};
#define N_COUNTERS (sizeof(counter_names) / sizeof(counter_names[0]))

struct kernel_port {
	char ifname[IF_NAMESIZE];
	int tx_fd, rx_fd;
	uint8_t *tx_bufs, *rx_bufs; /* NIC_BURST_MAX frames of NIC_PKT_DATA bytes each */
	struct mmsghdr msgs[NIC_BURST_MAX];
	struct iovec iov[NIC_BURST_MAX];
	struct sockaddr_ll from[NIC_BURST_MAX];
	uint64_t base[N_COUNTERS];
	uint64_t sock_drops; /* PACKET_STATISTICS resets on every read: the sum */
};

static int kernel_tx_alloc(struct nic_port *p, struct frame_batch *b, unsigned want)
{
	struct kernel_port *k = p->priv;
	unsigned i;

	for (i = 0; i < want; i++)
		b->data[i] = k->tx_bufs + (size_t)i * NIC_PKT_DATA;
	b->n = want;
	return (int)want;
}

static int kernel_tx_send(struct nic_port *p, struct frame_batch *b)
{
	struct kernel_port *k = p->priv;
	unsigned i;
	int n;

	for (i = 0; i < b->n; i++) {
		k->iov[i] = (struct iovec){.iov_base = b->data[i], .iov_len = b->len[i]};
		k->msgs[i] = (struct mmsghdr){.msg_hdr = {.msg_iov = &k->iov[i], .msg_iovlen = 1}};
	}
	n = sendmmsg(k->tx_fd, k->msgs, b->n, 0);
	if (n >= 0)
		return n;
	/* The driver's ring is full (no qdisc to queue in): offer them again. */
	if (errno == ENOBUFS || errno == EAGAIN || errno == EINTR)
		return 0;
	return port_err(errno, "%s: sendmmsg: %s", p->spec, strerror(errno));
}

static int kernel_tx_drain(struct nic_port *p, int timeout_ms)
{
	struct kernel_port *k = p->priv;
	uint64_t end = run_now_ns() + (uint64_t)timeout_ms * 1000000u;
	int queued = 0;

	/* SIOCOUTQ: the bytes of this socket's frames the driver has not freed yet. */
	while (!ioctl(k->tx_fd, SIOCOUTQ, &queued) && queued > 0) {
		if (run_now_ns() > end)
			return port_err(ETIMEDOUT, "%s: %d bytes not sent after %d ms", p->spec, queued,
					timeout_ms);
		usleep(1000);
	}
	return 0;
}

static void kernel_release(struct nic_port *p, struct frame_batch *b)
{
	(void)p;
	b->n = 0;
}

static int kernel_rx(struct nic_port *p, struct frame_batch *b, unsigned max)
{
	struct kernel_port *k = p->priv;
	unsigned i, kept = 0;
	int n;

	for (i = 0; i < max; i++) {
		k->iov[i] = (struct iovec){.iov_base = k->rx_bufs + (size_t)i * NIC_PKT_DATA,
					   .iov_len = NIC_PKT_DATA};
		k->msgs[i] = (struct mmsghdr){.msg_hdr = {.msg_name = &k->from[i],
							  .msg_namelen = sizeof(k->from[i]),
							  .msg_iov = &k->iov[i],
							  .msg_iovlen = 1}};
	}
	b->n = 0;
	n = recvmmsg(k->rx_fd, k->msgs, max, MSG_DONTWAIT, NULL);
	if (n < 0)
		return errno == EAGAIN || errno == EINTR
			       ? 0
			       : port_err(errno, "%s: recvmmsg: %s", p->spec, strerror(errno));
	for (i = 0; i < (unsigned)n; i++) {
		if (k->from[i].sll_pkttype == PACKET_OUTGOING) /* the interface's own sends */
			continue;
		b->data[kept] = k->iov[i].iov_base;
		b->len[kept++] = (uint16_t)k->msgs[i].msg_len;
	}
	b->n = kept;
	return (int)kept;
}

static int kernel_rx_wait(struct nic_port *p, int timeout_ms)
{
	struct kernel_port *k = p->priv;
	struct pollfd pfd = {.fd = k->rx_fd, .events = POLLIN};
	int rc = poll(&pfd, 1, timeout_ms);

	if (rc < 0 && errno != EINTR)
		return port_err(errno, "%s: poll: %s", p->spec, strerror(errno));
	return rc > 0;
}

static int kernel_wait_link(struct nic_port *p, int timeout_ms)
{
	struct kernel_port *k = p->priv;
	uint64_t end = run_now_ns() + (uint64_t)timeout_ms * 1000000u;
	struct ifreq ifr = {0};

	snprintf(ifr.ifr_name, sizeof(ifr.ifr_name), "%s", k->ifname);
	/* IFF_RUNNING: up, with a carrier. */
	while (!ioctl(k->tx_fd, SIOCGIFFLAGS, &ifr) && !(ifr.ifr_flags & IFF_RUNNING)) {
		if (run_now_ns() > end)
			return port_err(ETIMEDOUT, "%s: no carrier on %s after %d ms", p->spec, k->ifname,
					timeout_ms);
		usleep(10000);
	}
	return 0;
}

static int read_counter(const char *ifname, const char *name, uint64_t *out)
{
	char path[128];
	unsigned long long v;
	FILE *f;
	int rc;

	snprintf(path, sizeof(path), "/sys/class/net/%s/statistics/%s", ifname, name);
	if (!(f = fopen(path, "re")))
		return -errno;
	rc = fscanf(f, "%llu", &v) == 1 ? 0 : -EIO;
	fclose(f);
	*out = v;
	return rc;
}

static int read_counters(struct nic_port *p, uint64_t *v)
{
	struct kernel_port *k = p->priv;
	unsigned i;
	int rc;

	for (i = 0; i < N_COUNTERS; i++)
		if ((rc = read_counter(k->ifname, counter_names[i], &v[i])))
			return port_err(-rc, "%s: cannot read /sys/class/net/%s/statistics/%s: %s", p->spec,
					k->ifname, counter_names[i], strerror(-rc));
	return 0;
}

static int kernel_counts(struct nic_port *p, struct port_counts *out)
{
	struct kernel_port *k = p->priv;
	uint64_t v[N_COUNTERS];
	unsigned i;
	int rc = read_counters(p, v);

	if (rc)
		return rc;
	for (i = 0; i < N_COUNTERS; i++)
		v[i] -= k->base[i];
	*out = (struct port_counts){.rx_packets = v[0],
				    .rx_dropped = v[1] + v[2],
				    .rx_errors = v[3],
				    .tx_packets = v[4],
				    .tx_errors = v[5]};
	if (k->rx_fd >= 0) {
		struct tpacket_stats st;
		socklen_t len = sizeof(st);

		if (getsockopt(k->rx_fd, SOL_PACKET, PACKET_STATISTICS, &st, &len))
			return port_err(errno, "%s: getsockopt(PACKET_STATISTICS): %s", p->spec,
					strerror(errno));
		k->sock_drops += st.tp_drops;
		out->has_sock_drops = true;
		out->sock_drops = k->sock_drops;
	}
	return 0;
}

static unsigned kernel_close(struct nic_port *p)
{
	struct kernel_port *k = p->priv;

	if (!k)
		return 0;
	if (k->tx_fd >= 0)
		close(k->tx_fd);
	if (k->rx_fd >= 0)
		close(k->rx_fd);
	free(k->tx_bufs);
	free(k->rx_bufs);
	free(k);
	p->priv = NULL;
	return 0; /* the kernel's buffers are its own */
}

static const struct port_ops kernel_ops = {
	.kind = "kernel",
	.tx_alloc = kernel_tx_alloc,
	.tx_send = kernel_tx_send,
	.tx_drain = kernel_tx_drain,
	.tx_release = kernel_release,
	.rx = kernel_rx,
	.rx_release = kernel_release,
	.rx_wait = kernel_rx_wait,
	.wait_link = kernel_wait_link,
	.counts = kernel_counts,
	.close = kernel_close,
};

/* The kernel driver's name (ETHTOOL_GDRVINFO: "e1000e", "virtio_net", "veth"). */
static void kernel_driver_name(struct nic_port *p, int fd, const char *ifname)
{
	struct ethtool_drvinfo info = {.cmd = ETHTOOL_GDRVINFO};
	struct ifreq ifr = {.ifr_data = (char *)&info};

	snprintf(ifr.ifr_name, sizeof(ifr.ifr_name), "%s", ifname);
	if (ioctl(fd, SIOCETHTOOL, &ifr))
		snprintf(p->driver, sizeof(p->driver), "unknown");
	else
		snprintf(p->driver, sizeof(p->driver), "%.31s", info.driver);
}

/* A packet socket bound to ifindex for protocol (0: sends only). */
static int packet_socket(struct nic_port *p, int ifindex, uint16_t protocol, int *out)
{
	struct sockaddr_ll sll = {
		.sll_family = AF_PACKET, .sll_protocol = htons(protocol), .sll_ifindex = ifindex};
	int fd = socket(AF_PACKET, SOCK_RAW | SOCK_CLOEXEC, 0);

	if (fd < 0)
		return port_err(errno, "%s: socket(AF_PACKET): %s%s", p->spec, strerror(errno),
				errno == EPERM ? " (needs CAP_NET_RAW: run as root)" : "");
	if (bind(fd, (struct sockaddr *)&sll, sizeof(sll))) {
		int err = errno;

		close(fd);
		return port_err(err, "%s: bind: %s", p->spec, strerror(err));
	}
	*out = fd;
	return 0;
}

int port_open_kernel(struct nic_port *p, const char *ifname, const struct port_opts *o)
{
	struct kernel_port *k = calloc(1, sizeof(*k));
	struct ifreq ifr = {0};
	struct packet_mreq mr = {.mr_type = PACKET_MR_PROMISC};
	int one = 1, rcvbuf = RCVBUF_BYTES, rc, ifindex;

	if (!k)
		return port_err(ENOMEM, "out of memory");
	k->tx_fd = k->rx_fd = -1;
	p->ops = &kernel_ops;
	p->priv = k;
	p->irq = true;
	if (!*ifname || strlen(ifname) >= IF_NAMESIZE) {
		rc = port_err(EINVAL, "%s: give an interface name of 1..%d characters", p->spec,
			      IF_NAMESIZE - 1);
		goto fail;
	}
	snprintf(k->ifname, sizeof(k->ifname), "%s", ifname);
	if (!(k->tx_bufs = calloc(NIC_BURST_MAX, NIC_PKT_DATA)) ||
	    !(k->rx_bufs = calloc(NIC_BURST_MAX, NIC_PKT_DATA))) {
		rc = port_err(ENOMEM, "out of memory");
		goto fail;
	}
	if (!(ifindex = (int)if_nametoindex(ifname))) {
		rc = port_err(ENODEV, "%s: no network interface %s (ip link lists them)", p->spec, ifname);
		goto fail;
	}
	if ((rc = packet_socket(p, ifindex, 0, &k->tx_fd)))
		goto fail;
	snprintf(ifr.ifr_name, sizeof(ifr.ifr_name), "%s", ifname);
	if (ioctl(k->tx_fd, SIOCGIFHWADDR, &ifr)) {
		rc = port_err(errno, "%s: %s", p->spec, strerror(errno));
		goto fail;
	}
	memcpy(p->mac, ifr.ifr_hwaddr.sa_data, 6);
	kernel_driver_name(p, k->tx_fd, ifname);
	snprintf(ifr.ifr_name, sizeof(ifr.ifr_name), "%s", ifname);
	if (!ioctl(k->tx_fd, SIOCGIFFLAGS, &ifr) && !(ifr.ifr_flags & IFF_UP)) {
		rc = port_err(ENETDOWN, "%s: %s is down: bring it up (ip link set %s up)", p->spec, ifname,
			      ifname);
		goto fail;
	}
	/* Best effort: without it frames go through the queueing discipline. */
	(void)setsockopt(k->tx_fd, SOL_PACKET, PACKET_QDISC_BYPASS, &one, sizeof(one));
	if (o->rx) {
		if ((rc = packet_socket(p, ifindex, ETH_P_ALL, &k->rx_fd)))
			goto fail;
		mr.mr_ifindex = ifindex;
		if (setsockopt(k->rx_fd, SOL_PACKET, PACKET_ADD_MEMBERSHIP, &mr, sizeof(mr))) {
			rc = port_err(errno, "%s: promiscuous mode: %s", p->spec, strerror(errno));
			goto fail;
		}
		/* Past net.core.rmem_max where allowed (root), else what it grants. */
		if (setsockopt(k->rx_fd, SOL_SOCKET, SO_RCVBUFFORCE, &rcvbuf, sizeof(rcvbuf)))
			(void)setsockopt(k->rx_fd, SOL_SOCKET, SO_RCVBUF, &rcvbuf, sizeof(rcvbuf));
	}
	if ((rc = read_counters(p, k->base)))
		goto fail;
	return 0;
fail:
	(void)kernel_close(p);
	p->ops = NULL;
	return rc;
}
