/* SPDX-License-Identifier: MIT */
/* Pools and threads: caches given back at thread exit, pools and contexts
 * destroyed under threads' caches, and stress with conservation. */
#include <errno.h>
#include <limits.h>
#include <pthread.h>
#include <semaphore.h>
#include <stdio.h>
#include <sched.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "tests/support/helpers.h"
#include "tests/support/qemu_user.h"

/* get/put objects in total per stress test (each object got and put counts 2);
 * still 10^7, the floor, under TSan and qemu-user (about 10x slower) */
#ifdef TH_UNDER_TSAN
#define STRESS_OPS 10000000ull
#else
#define STRESS_OPS (th_qemu_user() ? 10000000ull : 30000000ull)
#endif
#define HELD_MAX 16

static struct udma_pool *new_pool_flags(struct udma_ctx *ctx, size_t obj_size, unsigned count, unsigned cache,
					unsigned flags)
{
	return th_pool(ctx, obj_size, count, cache, flags, "threads");
}

static struct udma_pool *new_pool(struct udma_ctx *ctx, size_t obj_size, unsigned count, unsigned cache)
{
	return new_pool_flags(ctx, obj_size, count, cache, 0);
}

/* A pool with debug exactly as asked, whatever UDMA_DEBUG says (make check sets it). */
static struct udma_pool *new_pool_debug(struct udma_ctx *ctx, size_t obj_size, unsigned count, unsigned cache,
					int debug)
{
	const char *v = getenv("UDMA_DEBUG");
	char saved[16] = "";
	struct udma_pool *p;

	if (v)
		snprintf(saved, sizeof(saved), "%s", v);
	unsetenv("UDMA_DEBUG");
	p = new_pool_flags(ctx, obj_size, count, cache, debug ? UDMA_POOL_DEBUG : 0);
	if (v)
		setenv("UDMA_DEBUG", saved, 1);
	return p;
}

/* Conservation: every object can be had from this thread, each exactly once. */
static void check_all_back(struct udma_pool *p, unsigned count)
{
	struct udma_pool_stats st;
	void **objs;

	assert_int_equal(udma_pool_avail(p), count);
	objs = th_pool_take_all(p, count);
	udma_pool_put_bulk(p, objs, count);
	assert_int_equal(udma_pool_avail(p), count);
	assert_int_equal(udma_pool_stats(p, &st), 0);
	assert_int_equal(st.gets, st.cache_hits + st.cache_misses);
	assert_int_equal(st.debug_errors, 0);
	free(objs);
}

/* A thread that gets n objects and puts them back: they stay in its cache. */
struct user {
	struct udma_pool *p;
	unsigned n;
	sem_t used, go; /* thread -> main: done using; main -> thread: go on */
	int wait;
	struct udma_pool *then; /* used after go, if not NULL */
};

static void use_pool(struct udma_pool *p, unsigned n)
{
	void *objs[64];
	unsigned i;

	for (i = 0; i < n; i++)
		objs[i] = udma_pool_get(p);
	for (i = 0; i < n; i++)
		if (objs[i])
			udma_pool_put(p, objs[i]);
}

static void *user_thread(void *arg)
{
	struct user *u = arg;

	use_pool(u->p, u->n);
	sem_post(&u->used);
	if (u->wait) {
		sem_wait(&u->go);
		if (u->then)
			use_pool(u->then, u->n);
	}
	return NULL;
}

static void user_init(struct user *u, struct udma_pool *p, unsigned n, int wait)
{
	memset(u, 0, sizeof(*u));
	u->p = p;
	u->n = n;
	u->wait = wait;
	sem_init(&u->used, 0, 0);
	sem_init(&u->go, 0, 0);
}

static void user_fini(struct user *u)
{
	sem_destroy(&u->used);
	sem_destroy(&u->go);
}

/* Threads exit with objects in their caches: those go back to the store. */
static void thread_exit_returns_cache(void **state)
{
	struct udma_ctx *ctx = th_ctx();
	struct udma_pool *p = new_pool(ctx, 256, 1024, 64);
	struct user u[8];
	pthread_t t[8];
	unsigned i, round;

	(void)state;
	for (round = 0; round < 3; round++) {
		for (i = 0; i < 8; i++) {
			user_init(&u[i], p, 50, 1);
			th_thread_start(&t[i], user_thread, &u[i]);
		}
		for (i = 0; i < 8; i++)
			sem_wait(&u[i].used);
		/* the objects sit in 8 live caches: still available */
		assert_int_equal(udma_pool_avail(p), 1024);
		for (i = 0; i < 8; i++) {
			sem_post(&u[i].go);
			pthread_join(t[i], NULL);
			user_fini(&u[i]);
		}
		check_all_back(p, 1024);
	}
	udma_pool_destroy(p);
	udma_ctx_destroy(ctx);
}

/* Many short-lived threads, a few at a time. */
static void short_threads(void **state)
{
	struct udma_ctx *ctx = th_ctx();
	struct udma_pool *p = new_pool(ctx, 64, 512, 32), *q = new_pool(ctx, 64, 512, 0);
	struct user u[4];
	pthread_t t[4];
	unsigned i, round;

	(void)state;
	for (round = 0; round < 50; round++) {
		for (i = 0; i < 4; i++) {
			user_init(&u[i], i % 2 ? p : q, 1 + round % 40, 0);
			th_thread_start(&t[i], user_thread, &u[i]);
		}
		for (i = 0; i < 4; i++) {
			pthread_join(t[i], NULL);
			user_fini(&u[i]);
		}
	}
	check_all_back(p, 512);
	check_all_back(q, 512);
	udma_pool_destroy(p);
	udma_pool_destroy(q);
	udma_ctx_destroy(ctx);
}

/* A pool destroyed while a thread has a cache for it: the thread goes on with
 * another pool (that may reuse the id) and exits without touching the old one. */
static void destroy_under_cache(void **state)
{
	struct udma_ctx *ctx = th_ctx();
	struct udma_pool *p = new_pool(ctx, 128, 256, 32), *p2;
	struct user u1, u2;
	pthread_t t1, t2;

	(void)state;
	user_init(&u1, p, 20, 1);
	user_init(&u2, p, 20, 1);
	th_thread_start(&t1, user_thread, &u1);
	th_thread_start(&t2, user_thread, &u2);
	sem_wait(&u1.used);
	sem_wait(&u2.used);
	udma_pool_destroy(p); /* all were returned: into caches */
	p2 = new_pool(ctx, 128, 256, 32);
	u1.then = p2; /* t1 uses the new pool, t2 just exits */
	sem_post(&u1.go);
	sem_post(&u2.go);
	pthread_join(t1, NULL);
	pthread_join(t2, NULL);
	user_fini(&u1);
	user_fini(&u2);
	check_all_back(p2, 256);
	udma_pool_destroy(p2);
	udma_ctx_destroy(ctx);
}

/* A context destroyed while a thread that used its pools lives on; the thread
 * then uses a pool of a new context (perhaps at the same address) and exits. */
static void ctx_destroy_under_thread(void **state)
{
	struct udma_ctx *ctx = th_ctx(), *ctx2;
	struct udma_pool *p = new_pool(ctx, 128, 256, 32), *p2;
	struct user u;
	pthread_t t;

	(void)state;
	user_init(&u, p, 20, 1);
	th_thread_start(&t, user_thread, &u);
	sem_wait(&u.used);
	udma_pool_destroy(p);
	udma_ctx_destroy(ctx);
	ctx2 = th_ctx();
	p2 = new_pool(ctx2, 128, 256, 32);
	use_pool(p2, 10);
	u.then = p2;
	sem_post(&u.go);
	pthread_join(t, NULL);
	user_fini(&u);
	check_all_back(p2, 256);
	udma_pool_destroy(p2);
	udma_ctx_destroy(ctx2);
}

/* Stress: threads get 1..16 objects (single or bulk), stamp them, check the
 * stamps are still theirs, put them back (single or bulk). */
struct hammer {
	struct udma_pool *p;
	pthread_barrier_t *start;
	unsigned id;
	uint64_t ops, done, empty, bad;
};

static uint64_t xorshift(uint64_t *s)
{
	uint64_t x = *s;

	x ^= x << 13;
	x ^= x >> 7;
	x ^= x << 17;
	return *s = x;
}

static void *hammer_thread(void *arg)
{
	struct hammer *h = arg;
	uint64_t seed = 0x9e3779b97f4a7c15ull * (h->id + 1), seq = 0;
	void *held[HELD_MAX];

	pthread_barrier_wait(h->start);
	while (h->done < h->ops) {
		uint64_t r = xorshift(&seed);
		unsigned n = 1 + (unsigned)(r % HELD_MAX), k;

		if (r & 0x100) {
			if (udma_pool_get_bulk(h->p, held, n)) {
				h->empty++;
				h->done++;
				continue;
			}
		} else {
			for (k = 0; k < n && (held[k] = udma_pool_get(h->p)); k++)
				;
			if (k < n)
				h->empty++;
			n = k;
		}
		for (k = 0; k < n; k++)
			*(volatile uint64_t *)held[k] = ((uint64_t)h->id << 48) | (seq + k);
		/* hold them a while: a second owner would overwrite the stamp meanwhile */
		if (!(r & 0x3f))
			sched_yield();
		for (k = 0; k < n; k++)
			if (*(volatile uint64_t *)held[k] != (((uint64_t)h->id << 48) | (seq + k)))
				h->bad++;
		seq += n;
		if (r & 0x200) {
			udma_pool_put_bulk(h->p, held, n);
		} else {
			for (k = 0; k < n; k++)
				udma_pool_put(h->p, held[k]);
		}
		h->done += 2 * (uint64_t)n + !n;
	}
	return NULL;
}

static void stress1(unsigned count, unsigned cache, unsigned nthreads, uint64_t ops, int debug)
{
	struct udma_ctx *ctx = th_ctx();
	struct udma_pool *p = new_pool_debug(ctx, 64, count, cache, debug);
	struct hammer h[TH_MAX_THREADS];
	pthread_t t[TH_MAX_THREADS];
	pthread_barrier_t barrier;
	struct timespec t0, t1;
	uint64_t done = 0, empty = 0;
	unsigned i;

	pthread_barrier_init(&barrier, NULL, nthreads);
	clock_gettime(CLOCK_MONOTONIC, &t0);
	for (i = 0; i < nthreads; i++) {
		h[i] = (struct hammer){
			.p = p, .start = &barrier, .id = i, .ops = (ops + nthreads - 1) / nthreads};
		th_thread_start(&t[i], hammer_thread, &h[i]);
	}
	for (i = 0; i < nthreads; i++) {
		pthread_join(t[i], NULL);
		assert_int_equal(h[i].bad, 0);
		done += h[i].done;
		empty += h[i].empty;
	}
	clock_gettime(CLOCK_MONOTONIC, &t1);
	pthread_barrier_destroy(&barrier);
	printf("# %u threads, count %u, cache %u%s: %llu get/put ops (%llu empty) in %.2f s\n", nthreads,
	       count, cache, debug ? ", debug" : "", (unsigned long long)done, (unsigned long long)empty,
	       (double)(t1.tv_sec - t0.tv_sec) + (double)(t1.tv_nsec - t0.tv_nsec) / 1e9);
	assert_true(done >= ops);
	check_all_back(p, count);
	udma_pool_destroy(p);
	udma_ctx_destroy(ctx);
}

/* Without and with debug checks: the fast paths, then the checked ones. */
static void stress(unsigned count, unsigned cache, unsigned nthreads, uint64_t ops)
{
	stress1(count, cache, nthreads, ops, 0);
	stress1(count, cache, nthreads, ops, 1);
}

static void stress_cache(void **state)
{
	(void)state;
	stress(1024, 32, 2, STRESS_OPS);
	stress(1024, 32, 4, STRESS_OPS);
}

static void stress_nocache(void **state)
{
	(void)state;
	stress(256, 0, 2, STRESS_OPS);
	stress(256, 0, 4, STRESS_OPS);
}

/* Objects move between threads: each thread gets objects and hands them to an
 * exchange; it puts back what the others handed over. Caches flush and refill
 * objects that other threads' caches got. */
struct exchange {
	pthread_mutex_t lock;
	void *slot[4096];
	unsigned head, len;
};

struct crosser {
	struct udma_pool *p;
	struct exchange *x;
	pthread_barrier_t *start;
	unsigned id;
	uint64_t ops, done;
};

static void *cross_thread(void *arg)
{
	struct crosser *c = arg;
	struct exchange *x = c->x;
	uint64_t seed = 0x2545f4914f6cdd1dull * (c->id + 1);
	void *objs[HELD_MAX];

	pthread_barrier_wait(c->start);
	while (c->done < c->ops) {
		uint64_t r = xorshift(&seed);
		unsigned n = 1 + (unsigned)(r % HELD_MAX), m = 1 + (unsigned)((r >> 8) % HELD_MAX), k;

		if (udma_pool_get_bulk(c->p, objs, n))
			n = 0;
		for (k = 0; k < n; k++)
			*(volatile uint64_t *)objs[k] = c->id;
		pthread_mutex_lock(&x->lock);
		for (k = 0; k < n; k++)
			x->slot[(x->head + x->len++) % 4096] = objs[k];
		for (k = 0; k < m && x->len; k++) {
			objs[k] = x->slot[x->head];
			x->head = (x->head + 1) % 4096;
			x->len--;
		}
		pthread_mutex_unlock(&x->lock);
		m = k;
		if (r & 0x10000)
			udma_pool_put_bulk(c->p, objs, m);
		else
			for (k = 0; k < m; k++)
				udma_pool_put(c->p, objs[k]);
		c->done += n + m + 1;
	}
	return NULL;
}

static void stress_cross(void **state)
{
	struct udma_ctx *ctx = th_ctx();
	struct udma_pool *p = new_pool(ctx, 64, 1024, 32);
	struct exchange *x = calloc(1, sizeof(*x));
	struct crosser c[4];
	pthread_t t[4];
	pthread_barrier_t barrier;
	unsigned i;

	(void)state;
	assert_non_null(x);
	pthread_mutex_init(&x->lock, NULL);
	pthread_barrier_init(&barrier, NULL, 4);
	for (i = 0; i < 4; i++) {
		c[i] = (struct crosser){.p = p, .x = x, .start = &barrier, .id = i, .ops = STRESS_OPS / 8};
		th_thread_start(&t[i], cross_thread, &c[i]);
	}
	for (i = 0; i < 4; i++)
		pthread_join(t[i], NULL);
	pthread_barrier_destroy(&barrier);
	/* what is still in the exchange goes back */
	for (; x->len; x->len--, x->head = (x->head + 1) % 4096)
		udma_pool_put(p, x->slot[x->head]);
	pthread_mutex_destroy(&x->lock);
	free(x);
	check_all_back(p, 1024);
	udma_pool_destroy(p);
	udma_ctx_destroy(ctx);
}

/* Fewer objects than the threads want: the pool runs empty all the time. */
static void stress_scarce(void **state)
{
	(void)state;
	stress(20, 8, 2, STRESS_OPS / 10);
	stress(24, 0, 4, STRESS_OPS / 10);
}

int main(void)
{
	th_threads_warm_up(TH_MAX_THREADS);

	const struct CMUnitTest tests[] = {
		th_test(thread_exit_returns_cache),
		th_test(short_threads),
		th_test(destroy_under_cache),
		th_test(ctx_destroy_under_thread),
		th_test(stress_cache),
		th_test(stress_nocache),
		th_test(stress_scarce),
		th_test(stress_cross),
	};

	return cmocka_run_group_tests_name("pool_threads", tests, NULL, NULL);
}
