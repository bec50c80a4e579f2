/* SPDX-License-Identifier: MIT */
/*
 * The fork contract: a context belongs to the process that created it. A
 * child inherits nothing usable: its regions are not mapped there
 * (MADV_DONTFORK), its devices belong to the parent, and another thread may
 * have held any of its locks at the fork. So in a child every call on an
 * inherited context (or on a pool, device or heap pointer of one) fails with
 * -ECHILD before it takes a lock, and udma_ctx_destroy only releases the
 * child's own copies (its file descriptors and bookkeeping) without touching
 * the parent's devices. A child makes a context of its own.
 *
 * How a call knows: udma__forks counts the forks that led to this process
 * (pthread_atfork's child handler adds one); a context records the count at
 * creation. One global load and a compare, in the hot paths too.
 */
#include <errno.h>
#include <pthread.h>
#include <string.h>
#include <sys/mman.h>
#include <unistd.h>

#include "lib/mem/mem.h"

unsigned udma__forks;

static pthread_once_t registered = PTHREAD_ONCE_INIT;
static int registered_rc;
/* A fork waits while a region or device is half made or half gone: a child
 * never inherits a mapping not yet MADV_DONTFORK, or an fd that is on no list
 * its udma_ctx_destroy walks. Makers count themselves in; a fork, once
 * pending, lets no new one in (so makers without pause cannot hold it off)
 * and waits for the count to drop to zero, keeping the lock across the fork. */
static pthread_mutex_t making_lock = PTHREAD_MUTEX_INITIALIZER;
static pthread_cond_t making_cond = PTHREAD_COND_INITIALIZER;
static unsigned makers;
static bool fork_pending;
/* This thread's holds: a memory event callback may make a region of another
 * context while its caller holds, and must not wait for a fork that waits
 * for that caller. */
static __thread unsigned held;

void udma__fork_hold(void)
{
	if (held++)
		return;
	pthread_mutex_lock(&making_lock);
	while (fork_pending)
		pthread_cond_wait(&making_cond, &making_lock);
	makers++;
	pthread_mutex_unlock(&making_lock);
}

void udma__fork_release(void)
{
	if (--held)
		return;
	pthread_mutex_lock(&making_lock);
	if (--makers == 0 && fork_pending)
		pthread_cond_broadcast(&making_cond);
	pthread_mutex_unlock(&making_lock);
}

static void before_fork(void)
{
	pthread_mutex_lock(&making_lock);
	fork_pending = true;
	/* A thread that forks from inside a hold (a memory event callback, a
	 * log callback) waits for the others, not for itself. */
	while (makers > (held ? 1u : 0u))
		pthread_cond_wait(&making_cond, &making_lock);
}

static void in_parent(void)
{
	fork_pending = false;
	pthread_cond_broadcast(&making_cond);
	pthread_mutex_unlock(&making_lock);
}

static void in_child(void)
{
	/* Only this thread came along: no maker but itself if it forked inside
	 * a hold (it releases when it returns), and the lock is this thread's. */
	makers = held ? 1 : 0;
	fork_pending = false;
	pthread_cond_init(&making_cond, NULL);
	pthread_mutex_unlock(&making_lock);
	udma__forks++;
	udma__populate_after_fork();
}

static void register_handler(void)
{
	/* Before ours: see udma__child_fds_watch. */
	int rc = udma__child_fds_watch();

	registered_rc = rc ? -rc : pthread_atfork(before_fork, in_parent, in_child);
}

int udma__fork_watch(struct udma_ctx *ctx)
{
	pthread_once(&registered, register_handler);
	if (registered_rc)
		return udma__err(registered_rc,
				 "udma_ctx_create: pthread_atfork failed (%s): without it a forked "
				 "child could use its parent's memory and devices",
				 strerror(registered_rc));
	ctx->forks = udma__forks;
	ctx->owner = getpid();
	return 0;
}

int udma__err_inherited(const struct udma_ctx *ctx, const char *call)
{
	return udma__err(ECHILD,
			 "%s: this udma context belongs to process %d and was inherited across fork; "
			 "a child cannot use it (its memory is not mapped here, its devices are the "
			 "parent's): create a new context in the child with udma_ctx_create",
			 call, (int)ctx->owner);
}

void *udma__mmap_nofork(size_t len, int prot, int flags, int fd, off_t off)
{
	void *p = mmap(NULL, len, prot, flags, fd, off);
	int rc;

	if (p == MAP_FAILED || madvise(p, len, MADV_DONTFORK) == 0)
		return p;
	rc = errno;
	munmap(p, len);
	errno = rc;
	return MAP_FAILED;
}
