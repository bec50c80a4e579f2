/* SPDX-License-Identifier: MIT */
/*
 * Pools and heap after fork: the forking thread's per-thread memos (which
 * cache a pool's or heap's per-thread state) point into inherited state;
 * the child forgets them, so the fast paths of a context made in the child
 * start afresh. Registered when the first pool layer or heap is made (no
 * memo exists before that). The rest of the fork contract is lib/mem/fork.c.
 */
#include <pthread.h>
#include <string.h>

#include "lib/alloc/heap_internal.h"
#include "lib/alloc/pool_internal.h"

static pthread_once_t registered = PTHREAD_ONCE_INIT;
static int registered_rc;

static void forget_memos(void)
{
	udma__pool_tls.gen = 0;
	udma__pool_tls.pt = NULL;
	udma__heap_tls.gen = 0;
	udma__heap_tls.tc = NULL;
}

static void register_handler(void)
{
	registered_rc = pthread_atfork(NULL, NULL, forget_memos);
}

int udma__alloc_fork_watch(const char *call)
{
	pthread_once(&registered, register_handler);
	if (registered_rc)
		return udma__err(registered_rc,
				 "%s: pthread_atfork failed (%s): without it a forked child could "
				 "reach its parent's per-thread caches",
				 call, strerror(registered_rc));
	return 0;
}
