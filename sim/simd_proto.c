/* SPDX-License-Identifier: MIT */
/* Sending and receiving one udma-simd message with its file descriptors. */
#include <errno.h>
#include <poll.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/syscall.h>
#include <unistd.h>

#include "sim/simd_proto.h"

int simd_send(int sock, const void *msg, size_t len, const int *fds, unsigned nfds)
{
	union {
		char buf[CMSG_SPACE(sizeof(int) * SIMD_MAX_FDS)];
		struct cmsghdr align;
	} ctl;
	struct iovec iov = {.iov_base = (void *)msg, .iov_len = len};
	struct msghdr mh = {.msg_iov = &iov, .msg_iovlen = 1};
	ssize_t n;

	if (nfds > SIMD_MAX_FDS)
		return -EINVAL;
	if (nfds) {
		struct cmsghdr *c;

		memset(&ctl, 0, sizeof(ctl));
		mh.msg_control = ctl.buf;
		mh.msg_controllen = CMSG_SPACE(sizeof(int) * nfds);
		c = CMSG_FIRSTHDR(&mh);
		c->cmsg_level = SOL_SOCKET;
		c->cmsg_type = SCM_RIGHTS;
		c->cmsg_len = CMSG_LEN(sizeof(int) * nfds);
		memcpy(CMSG_DATA(c), fds, sizeof(int) * nfds);
	}
	do
		n = sendmsg(sock, &mh, MSG_NOSIGNAL);
	while (n < 0 && errno == EINTR);
	if (n < 0)
		return -errno;
	return (size_t)n == len ? 0 : -EMSGSIZE;
}

void simd_close_fds(int *fds, unsigned nfds)
{
	unsigned i;

	for (i = 0; i < nfds; i++)
		if (fds[i] >= 0) {
			close(fds[i]);
			fds[i] = -1;
		}
}

ssize_t simd_recv(int sock, void *buf, size_t cap, int *fds, unsigned *nfds)
{
	/* Room for more fds than allowed, so extra ones are seen and closed
	 * instead of silently dropped by the kernel. */
	union {
		char buf[CMSG_SPACE(sizeof(int) * 64)];
		struct cmsghdr align;
	} ctl;
	struct iovec iov = {.iov_base = buf, .iov_len = cap};
	struct msghdr mh = {
		.msg_iov = &iov, .msg_iovlen = 1, .msg_control = ctl.buf, .msg_controllen = sizeof(ctl.buf)};
	int got[64];
	unsigned ngot = 0, i;
	struct cmsghdr *c;
	ssize_t n;

	*nfds = 0;
	do
		n = recvmsg(sock, &mh, MSG_CMSG_CLOEXEC);
	while (n < 0 && errno == EINTR);
	if (n < 0)
		return -errno;
	for (c = CMSG_FIRSTHDR(&mh); c; c = CMSG_NXTHDR(&mh, c)) {
		size_t k;

		if (c->cmsg_level != SOL_SOCKET || c->cmsg_type != SCM_RIGHTS)
			continue;
		k = (c->cmsg_len - CMSG_LEN(0)) / sizeof(int);
		for (i = 0; i < k && ngot < 64; i++)
			memcpy(&got[ngot++], CMSG_DATA(c) + i * sizeof(int), sizeof(int));
	}
	if ((mh.msg_flags & (MSG_TRUNC | MSG_CTRUNC)) || ngot > SIMD_MAX_FDS) {
		simd_close_fds(got, ngot);
		return -EMSGSIZE;
	}
	if (n == 0 && !ngot) {
		/* An empty packet also reads as 0 bytes: only a hang-up is the end. */
		struct pollfd p = {.fd = sock, .events = POLLRDHUP};

		if (poll(&p, 1, 0) == 1 && (p.revents & (POLLHUP | POLLRDHUP)))
			return 0;
		return -EBADMSG;
	}
	if ((size_t)n < sizeof(struct simd_hdr) || ((const struct simd_hdr *)buf)->len != (uint32_t)n) {
		simd_close_fds(got, ngot);
		return -EBADMSG;
	}
	memcpy(fds, got, ngot * sizeof(int));
	*nfds = ngot;
	return n;
}

#ifndef SO_PEERPIDFD
#define SO_PEERPIDFD 77
#endif

int simd_peer_pidfd(int sock, pid_t *pid)
{
	struct ucred cred;
	socklen_t len = sizeof(cred);
	int fd = -1;

	*pid = 0;
	if (getsockopt(sock, SOL_SOCKET, SO_PEERCRED, &cred, &len) < 0)
		return -1;
	*pid = cred.pid;
	len = sizeof(fd);
	if (getsockopt(sock, SOL_SOCKET, SO_PEERPIDFD, &fd, &len) == 0) {
		struct pollfd pfd = {.fd = fd, .events = POLLIN};

		/* Linux 6.16+ hands out a pidfd for a peer that has exited:
		 * whoever serves the socket now is another process. */
		if (poll(&pfd, 1, 0) == 0)
			return fd;
		close(fd);
		return -1;
	}
	if (errno != ENOPROTOOPT)
		return -1; /* the peer has exited: its pid may be someone else's by now */
	/* Before Linux 6.5: by pid, which is the peer's only while it lives. */
	return (int)syscall(SYS_pidfd_open, cred.pid, 0);
}
