/* SPDX-License-Identifier: MIT */
/*
 * The per-thread cache mechanism pools and the heap share. An owner (a
 * context's pool layer, a context's heap) keeps each thread's record of
 * caches as the value of a pthread key, whose destructor gives the caches
 * back when the thread exits. The thread memoizes the record of the owner of
 * each kind it used last, so a fast path finds it in one TLS compare; a memo
 * holds while its generation is the owner's. Generations are unique for the
 * life of the process: the memo of a record freed with its context never
 * matches a later owner. A forked child forgets every memo: its records are
 * the parent's copies.
 */
#ifndef UDMA_THREAD_CACHE_H
#define UDMA_THREAD_CACHE_H

#include <pthread.h>
#include <stdbool.h>
#include <stdint.h>

#include "lib/mem/mem.h"

enum tcache_kind { TCACHE_POOLS, TCACHE_HEAP, TCACHE_KINDS };

struct tcache_memo {
	uint64_t gen; /* the owner's; 0: none */
	void *rec;    /* the thread's record in it */
};
extern __thread struct tcache_memo udma__tcache_memo[TCACHE_KINDS] UDMA_HIDDEN
	__attribute__((tls_model("initial-exec")));

struct tcache_owner {
	uint64_t gen;
	pthread_key_t key; /* value: the thread's record */
	unsigned forks;	   /* the context's: a destructor in a forked child leaves the parent's record */
	enum tcache_kind kind;
};

/* Before the owner's first use: the fork handler, the key (exit_fn runs with
 * the record when a thread exits), a new generation. call names the public
 * call for the error. */
UDMA_HIDDEN int udma__tcache_owner_init(struct tcache_owner *o, enum tcache_kind kind,
					const struct udma_ctx *ctx, void (*exit_fn)(void *rec),
					const char *call);
/* Teardown: no destructor runs from now on; the calling thread's memo forgets o. */
UDMA_HIDDEN void udma__tcache_owner_fini(struct tcache_owner *o);
/* The calling thread's record in o, from the memo or the key (then memoized); NULL if none yet. */
UDMA_HIDDEN void *udma__tcache_find(const struct tcache_owner *o);
/* Make rec the calling thread's record in o (key and memo): 0 or pthread_setspecific's error. */
UDMA_HIDDEN int udma__tcache_bind(const struct tcache_owner *o, void *rec);
/* In o's key destructor: false in a forked child (rec is the parent's copy:
 * leave it); else the memo forgets rec, which the caller then frees. */
UDMA_HIDDEN bool udma__tcache_exiting(const struct tcache_owner *o, const void *rec);

#endif
