/* SPDX-License-Identifier: MIT */
/*
 * The wire protocol between a driver's process (lib/dev/dev_simproc.c) and
 * udma-simd, the simulated device in a process of its own. As with vhost-user
 * and vfio-user, memory is not copied but handed over as file descriptors
 * (SCM_RIGHTS) that both sides map.
 *
 * A SOCK_SEQPACKET UNIX socket: one message per packet, each starting with
 * struct simd_hdr whose len is the packet's size. The driver sends a request,
 * the device answers each with a SIMD_MSG_REPLY carrying the same seq.
 *   HELLO  fds: BAR memfd (SIMDEV_BAR0_SIZE, sealed against shrinking),
 *               doorbell eventfd, interrupt eventfd. Once, first.
 *   MAP    fd:  the file behind [iova, iova + len): its segments, in IOVA
 *               order, are (offset, len) ranges of that file, 4 KiB-aligned,
 *               the file sealed against shrinking.
 *   UNMAP  no fd: the mapping that starts at iova; answered once the device
 *               has no access to it in flight.
 * Everything is checked; a malformed request is answered with a negative
 * errno and a message, and the connection stays usable. When the driver's end
 * closes, the device stops and udma-simd exits.
 */
#ifndef SIMD_PROTO_H
#define SIMD_PROTO_H

#include <stddef.h>
#include <stdint.h>
#include <sys/types.h>

#define SIMD_MAGIC	0x444d4953u /* "SIMD" */
#define SIMD_VERSION	1u
#define SIMD_MSG_MAX	65536u /* bytes in one packet, at most */
#define SIMD_MAX_FDS	3u     /* fds in one packet, at most */
#define SIMD_REPLY_MS	5000   /* a device that does not answer in time is gone */
#define SIMD_NAME_MAX	32u
#define SIMD_ERRMSG_MAX 200u

enum simd_msg_type {
	SIMD_MSG_HELLO = 1,
	SIMD_MSG_MAP = 2,
	SIMD_MSG_UNMAP = 3,
	SIMD_MSG_REPLY = 0x80,
};

struct simd_hdr {
	uint32_t type;
	uint32_t len; /* of the whole message, this header included */
	uint64_t seq;
};

struct simd_hello {
	struct simd_hdr h;
	uint32_t magic, version;
	char name[SIMD_NAME_MAX]; /* NUL-terminated */
	uint32_t queues;	  /* 1..SIMDEV_MAX_QUEUES */
	uint32_t reserved;	  /* 0 */
	uint64_t block_bytes;	  /* block store size, a multiple of 4096, or 0 */
};

struct simd_seg {
	uint64_t offset, len;
};

struct simd_map {
	struct simd_hdr h;
	uint64_t iova, len;
	uint32_t nseg, reserved;
	struct simd_seg seg[]; /* nseg of them, lengths adding up to len */
};

#define SIMD_MAX_SEGS ((SIMD_MSG_MAX - sizeof(struct simd_map)) / sizeof(struct simd_seg))

struct simd_unmap {
	struct simd_hdr h;
	uint64_t iova;
};

struct simd_reply {
	struct simd_hdr h;
	int32_t status;		   /* 0 or a negative errno */
	uint32_t pid;		   /* the device's process */
	char msg[SIMD_ERRMSG_MAX]; /* why, when status < 0 */
};

/* Send one message with nfds fds: 0 or a negative errno. Never raises SIGPIPE. */
int simd_send(int sock, const void *msg, size_t len, const int *fds, unsigned nfds);
/*
 * Receive one message of at most cap bytes and up to SIMD_MAX_FDS fds into
 * fds (close-on-exec; *nfds set). Returns its length, 0 when the peer has
 * closed, or a negative errno: -EMSGSIZE if it or its fds were truncated,
 * -EBADMSG if shorter than a header or its header's len disagrees (its fds
 * are closed in both cases).
 */
ssize_t simd_recv(int sock, void *buf, size_t cap, int *fds, unsigned *nfds);
void simd_close_fds(int *fds, unsigned nfds);
/*
 * A pidfd (close-on-exec) for the process at the other end of the connected
 * UNIX socket sock, by the kernel's word (SO_PEERPIDFD, Linux 6.5+): the very
 * process that called connect() or listen(), never one that merely reused its
 * pid. *pid is its pid (SO_PEERCRED). -1 if it is no longer alive or pidfds
 * are missing (Linux < 5.3). Older kernels fall back to pidfd_open on the pid,
 * which can race with pid reuse.
 */
int simd_peer_pidfd(int sock, pid_t *pid);

#endif
