/* SPDX-License-Identifier: MIT */
#include <errno.h>
#include <fcntl.h>
#include <signal.h>
#include <stdlib.h>
#include <string.h>
#include <sys/prctl.h>
#include <sys/socket.h>
#include <sys/time.h>
#include <sys/wait.h>
#include <unistd.h>

#include "tests/support/helpers.h"
#include "tests/support/peer.h"

#define PEER_ARG "--th-peer"

void th_peer_main(int argc, char **argv, int (*serve)(int sock))
{
	if (argc < 2 || strcmp(argv[1], PEER_ARG))
		return;
	exit(serve(TH_PEER_FD));
}

void th_peer_start(struct th_peer *p)
{
	struct timeval tv = {.tv_sec = 60};
	int sv[2];

	assert_int_equal(socketpair(AF_UNIX, SOCK_SEQPACKET | SOCK_CLOEXEC, 0, sv), 0);
	/* A peer that hangs fails the test instead of hanging it. */
	assert_int_equal(setsockopt(sv[0], SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof(tv)), 0);
	p->pid = fork();
	assert_true(p->pid >= 0);
	if (p->pid == 0) {
		char *args[] = {(char *)"peer", (char *)PEER_ARG, NULL};

		prctl(PR_SET_PDEATHSIG, SIGKILL);
		/* dup2 leaves the copy open across exec; the same number needs the flag cleared */
		if (sv[1] == TH_PEER_FD ? fcntl(sv[1], F_SETFD, 0) != 0
					: dup2(sv[1], TH_PEER_FD) != TH_PEER_FD)
			_exit(127);
		execv("/proc/self/exe", args);
		_exit(127);
	}
	close(sv[1]);
	p->sock = sv[0];
}

int th_peer_wait(struct th_peer *p)
{
	int status = th_wait_child(p->pid);

	close(p->sock);
	p->sock = -1;
	p->pid = -1;
	return status;
}

void th_peer_kill(struct th_peer *p)
{
	kill(p->pid, SIGKILL);
	th_wait_child(p->pid);
	close(p->sock);
	p->sock = -1;
	p->pid = -1;
}

int th_peer_send(int sock, const void *buf, size_t len, const int *fds, unsigned nfds)
{
	union {
		char buf[CMSG_SPACE(TH_PEER_MAX_FDS * sizeof(int))];
		struct cmsghdr align;
	} ctl;
	struct iovec iov = {.iov_base = (void *)buf, .iov_len = len};
	struct msghdr m = {.msg_iov = &iov, .msg_iovlen = 1};

	if (nfds > TH_PEER_MAX_FDS)
		return -EINVAL;
	if (nfds) {
		struct cmsghdr *c;

		memset(&ctl, 0, sizeof(ctl));
		m.msg_control = ctl.buf;
		m.msg_controllen = CMSG_SPACE(nfds * sizeof(int));
		c = CMSG_FIRSTHDR(&m);
		c->cmsg_level = SOL_SOCKET;
		c->cmsg_type = SCM_RIGHTS;
		c->cmsg_len = CMSG_LEN(nfds * sizeof(int));
		memcpy(CMSG_DATA(c), fds, nfds * sizeof(int));
	}
	while (sendmsg(sock, &m, MSG_NOSIGNAL) < 0)
		if (errno != EINTR)
			return -errno;
	return 0;
}

ssize_t th_peer_recv(int sock, void *buf, size_t cap, int *fds, unsigned max_fds, unsigned *nfds)
{
	union {
		char buf[CMSG_SPACE(TH_PEER_MAX_FDS * sizeof(int))];
		struct cmsghdr align;
	} ctl;
	struct iovec iov = {.iov_base = buf, .iov_len = cap};
	struct msghdr m = {
		.msg_iov = &iov, .msg_iovlen = 1, .msg_control = ctl.buf, .msg_controllen = sizeof(ctl)};
	struct cmsghdr *c;
	unsigned got = 0;
	ssize_t n;

	while ((n = recvmsg(sock, &m, MSG_CMSG_CLOEXEC)) < 0)
		if (errno != EINTR)
			return -errno;
	for (c = CMSG_FIRSTHDR(&m); c; c = CMSG_NXTHDR(&m, c)) {
		unsigned i, k = (unsigned)((c->cmsg_len - CMSG_LEN(0)) / sizeof(int));
		int in[TH_PEER_MAX_FDS];

		if (c->cmsg_level != SOL_SOCKET || c->cmsg_type != SCM_RIGHTS)
			continue;
		memcpy(in, CMSG_DATA(c), k * sizeof(int));
		for (i = 0; i < k; i++) {
			if (got < max_fds)
				fds[got++] = in[i];
			else
				close(in[i]);
		}
	}
	if (nfds)
		*nfds = got;
	if (m.msg_flags & (MSG_TRUNC | MSG_CTRUNC)) {
		while (got)
			close(fds[--got]);
		return -EMSGSIZE;
	}
	return n;
}
