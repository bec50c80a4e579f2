/* SPDX-License-Identifier: MIT */
/*
 * Peers: the test program run again in a process of its own (fork + exec of
 * /proc/self/exe, so its mappings land at other addresses than the test's,
 * as another application's would), talking to the test over a SOCK_SEQPACKET
 * socketpair: one message per request and per reply, with file descriptors
 * passed along (SCM_RIGHTS). The peer inherits its end as fd TH_PEER_FD and
 * dies with the test (PR_SET_PDEATHSIG).
 */
#ifndef UDMA_TEST_PEER_H
#define UDMA_TEST_PEER_H

#include <stddef.h>
#include <sys/types.h>

#define TH_PEER_FD	3	  /* the peer's end of the socketpair, in the peer */
#define TH_PEER_MAX_FDS 4	  /* fds per message */
#define TH_PEER_MSG_MAX (1 << 16) /* bytes per message */

struct th_peer {
	pid_t pid;
	int sock; /* the test's end */
};

/* In main, first thing: when argv says this process is a peer, serve(TH_PEER_FD)
 * runs and the process exits with its return value; otherwise returns. */
void th_peer_main(int argc, char **argv, int (*serve)(int sock));
/* Start a peer (fails the test if it cannot). */
void th_peer_start(struct th_peer *p);
/* Its exit status once it has gone (it should have been told to go), -1 if a
 * signal ended it; closes the test's end. */
int th_peer_wait(struct th_peer *p);
/* kill -9, reaped: the peer is gone when this returns. */
void th_peer_kill(struct th_peer *p);

/* One message of len bytes (and nfds fds) on sock: 0, or a negative errno. */
int th_peer_send(int sock, const void *buf, size_t len, const int *fds, unsigned nfds);
/* The next message into buf (at most cap bytes), its fds into fds (at most
 * max_fds, the rest closed; *nfds says how many, may be NULL when max_fds is
 * 0): its length, 0 when the other end has gone, or a negative errno
 * (-EAGAIN after the socket's receive timeout: 60 s on the test's end). */
ssize_t th_peer_recv(int sock, void *buf, size_t cap, int *fds, unsigned max_fds, unsigned *nfds);

#endif
