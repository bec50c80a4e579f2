/* SPDX-License-Identifier: MIT */
/*
 * File descriptors a forked child must not keep: a copy would keep what the
 * parent holds through them alive for as long as the child lives, even after
 * the parent let go or died (a long-term pin's pages, a shared pool's slot
 * lock). The child handler closes them before the child returns from fork.
 * The lock is held across fork, so the list is whole.
 */
#include <errno.h>
#include <pthread.h>
#include <stdlib.h>
#include <unistd.h>

#include "lib/os/os.h"

static pthread_mutex_t fds_lock = PTHREAD_MUTEX_INITIALIZER;
static pthread_once_t fds_once = PTHREAD_ONCE_INIT;
static int fds_once_rc;
static int *fds;
static size_t nfds, fds_cap;

static void fds_before_fork(void)
{
	pthread_mutex_lock(&fds_lock);
}

static void fds_in_parent(void)
{
	pthread_mutex_unlock(&fds_lock);
}

static void fds_in_child(void)
{
	size_t i;

	for (i = 0; i < nfds; i++)
		close(fds[i]); /* async-signal-safe; nothing else is called */
	nfds = 0;
	pthread_mutex_unlock(&fds_lock);
}

static void fds_register(void)
{
	fds_once_rc = pthread_atfork(fds_before_fork, fds_in_parent, fds_in_child);
}

int udma__child_fds_watch(void)
{
	pthread_once(&fds_once, fds_register);
	if (fds_once_rc)
		return udma__err(fds_once_rc, "pthread_atfork failed (%s)", udma__strerror(fds_once_rc));
	return 0;
}

void udma__child_fds_lock(void)
{
	pthread_mutex_lock(&fds_lock);
}

void udma__child_fds_unlock(void)
{
	pthread_mutex_unlock(&fds_lock);
}

int udma__child_fds_add_locked(int fd)
{
	if (nfds == fds_cap) {
		size_t cap = fds_cap ? 2 * fds_cap : 16;
		int *p = realloc(fds, cap * sizeof(*p));

		if (!p)
			return udma__err(ENOMEM,
					 "out of memory for the list of descriptors a forked child closes");
		fds = p;
		fds_cap = cap;
	}
	fds[nfds++] = fd;
	return 0;
}

bool udma__child_fds_take_locked(int fd)
{
	size_t at;

	for (at = 0; at < nfds; at++)
		if (fds[at] == fd) {
			fds[at] = fds[--nfds];
			return true;
		}
	return false;
}
