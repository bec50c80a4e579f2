/* SPDX-License-Identifier: MIT */
/* The per-thread cache mechanism of pools and heap: see thread_cache.h. */
#include <errno.h>
#include <limits.h>
#include <stdatomic.h>
#include <string.h>

#include <udma/pool.h>

#include "lib/alloc/thread_cache.h"

__thread struct tcache_memo udma__tcache_memo[TCACHE_KINDS] __attribute__((tls_model("initial-exec")));
/* Declared in udma/pool_impl.h: the pools' inline fast path reads it. */
__thread struct udma_pool__memo_rec udma_pool__memo __attribute__((tls_model("initial-exec")));

static _Atomic uint64_t next_gen = 1;

static pthread_once_t fork_registered = PTHREAD_ONCE_INIT;
static int fork_registered_rc;

/* The forking thread's memos point into records (and the pool memo into a
 * cache) the child only has copies of: the child forgets them, so the fast
 * paths of an owner made in the child start afresh, and the inline get and
 * put of an inherited pool reach the library, which refuses them. The rest
 * of the fork contract is lib/mem/fork.c. */
static void forget_memos(void)
{
	memset(udma__tcache_memo, 0, sizeof(udma__tcache_memo));
	memset(&udma_pool__memo, 0, sizeof(udma_pool__memo));
}

static void register_fork_handler(void)
{
	fork_registered_rc = pthread_atfork(NULL, NULL, forget_memos);
}

int udma__tcache_owner_init(struct tcache_owner *o, enum tcache_kind kind, const struct udma_ctx *ctx,
			    void (*exit_fn)(void *rec), const char *call)
{
	int rc;

	/* Registered with the first owner: no memo exists before. */
	pthread_once(&fork_registered, register_fork_handler);
	if (fork_registered_rc)
		return udma__err(fork_registered_rc,
				 "%s: pthread_atfork failed (%s): without it a forked child could "
				 "reach its parent's per-thread caches",
				 call, strerror(fork_registered_rc));
	rc = pthread_key_create(&o->key, exit_fn);
	if (rc)
		return udma__err(rc,
				 "%s: no pthread key left for the %s per-thread caches (%s): %d keys per "
				 "process at most, and each context takes one for its pools and one for its "
				 "heap; destroy contexts no longer used",
				 call, kind == TCACHE_POOLS ? "pools'" : "heap's", strerror(rc),
				 PTHREAD_KEYS_MAX);
	o->kind = kind;
	o->forks = ctx->forks;
	o->gen = atomic_fetch_add_explicit(&next_gen, 1, memory_order_relaxed);
	return 0;
}

void udma__tcache_owner_fini(struct tcache_owner *o)
{
	struct tcache_memo *m = &udma__tcache_memo[o->kind];

	pthread_key_delete(o->key);
	if (m->gen == o->gen) {
		m->gen = 0;
		m->rec = NULL;
	}
}

void *udma__tcache_find(const struct tcache_owner *o)
{
	struct tcache_memo *m = &udma__tcache_memo[o->kind];
	void *rec;

	if (m->gen == o->gen)
		return m->rec;
	rec = pthread_getspecific(o->key);
	if (rec) {
		m->gen = o->gen;
		m->rec = rec;
	}
	return rec;
}

int udma__tcache_bind(const struct tcache_owner *o, void *rec)
{
	struct tcache_memo *m = &udma__tcache_memo[o->kind];
	int rc = pthread_setspecific(o->key, rec);

	if (!rc) {
		m->gen = o->gen;
		m->rec = rec;
	}
	return rc;
}

bool udma__tcache_exiting(const struct tcache_owner *o, const void *rec)
{
	struct tcache_memo *m = &udma__tcache_memo[o->kind];

	if (o->forks != udma__forks)
		return false;
	/* A later call in another destructor of this thread finds no record and
	 * makes a new one (which the key destroys again). */
	if (m->rec == rec) {
		m->gen = 0;
		m->rec = NULL;
	}
	return true;
}
