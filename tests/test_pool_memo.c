/* SPDX-License-Identifier: MIT */
/*
 * The pools' per-thread memo (udma/pool_impl.h): the inline get and put use
 * the thread's cache of the pool they last saw, and nothing else. Each case
 * leaves a memo behind that a weaker check would wrongly match: a pool
 * destroyed and another made at its address, a thread exiting, a forked
 * child, pools used in turn, a context destroyed, a debug pool. Pools here
 * are made without debug (UDMA_DEBUG unset while they are created), as the
 * memo only serves those, except in the debug case.
 */
#include <errno.h>
#include <pthread.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <unistd.h>

#include "tests/support/helpers.h"

#define COUNT 64
#define CACHE 16

/* A pool of COUNT objects with a cache of CACHE; flags UDMA_POOL_DEBUG or 0
 * (UDMA_DEBUG from the environment is ignored while it is made). */
static struct udma_pool *new_pool(struct udma_ctx *ctx, unsigned flags)
{
	struct udma_pool_opts o = {.obj_size = 64,
				   .count = COUNT,
				   .cache_size = CACHE,
				   .numa_node = UDMA_NUMA_ANY,
				   .flags = flags,
				   .name = "memo"};
	const char *env = getenv("UDMA_DEBUG");
	char saved[16] = "";
	struct udma_pool *p = NULL;
	int rc;

	if (env)
		snprintf(saved, sizeof(saved), "%s", env);
	unsetenv("UDMA_DEBUG");
	rc = udma_pool_create(ctx, &o, &p);
	if (env)
		setenv("UDMA_DEBUG", saved, 1);
	if (rc)
		print_error("udma_pool_create: %s\n", udma_last_error());
	assert_int_equal(rc, 0);
	return p;
}

/* The pool's stats are these counts. */
static void expect_stats(struct udma_pool *p, uint64_t gets, uint64_t hits, uint64_t misses, uint64_t puts)
{
	struct udma_pool_stats st;

	assert_int_equal(udma_pool_stats(p, &st), 0);
	assert_int_equal(st.gets, gets);
	assert_int_equal(st.cache_hits, hits);
	assert_int_equal(st.cache_misses, misses);
	assert_int_equal(st.puts, puts);
}

/* One get and one put: the object is the pool's. Leaves the thread's memo on p. */
static void use_once(struct udma_pool *p)
{
	void *o = udma_pool_get(p);

	assert_non_null(o);
	assert_true(udma_pool_index(p, o) < COUNT);
	udma_pool_put(p, o);
}

/* Another thread destroys the pool this thread used last, so that this
 * thread's memo stays on it. With destroy_ctx, through udma_ctx_destroy. */
struct doomed {
	struct udma_ctx *ctx;
	struct udma_pool *pool;
	bool destroy_ctx;
};

static void *destroy_elsewhere(void *arg)
{
	struct doomed *d = arg;
	struct th_stderr err;

	if (d->destroy_ctx) {
		th_stderr_start(&err);
		udma_ctx_destroy(d->ctx); /* destroys the pool, still alive */
		assert_non_null(strstr(th_stderr_end(&err), "still alive at udma_ctx_destroy"));
	} else {
		udma_pool_destroy(d->pool);
	}
	return NULL;
}

/* The memo of a destroyed pool (its cache freed) must not serve a pool made
 * later at the same address: that pool's first get here is a miss. */
static void remade(bool destroy_ctx)
{
	struct doomed d = {.ctx = th_ctx(), .destroy_ctx = destroy_ctx};
	struct udma_ctx *ctx = destroy_ctx ? th_ctx() : d.ctx; /* where the next pools go */
	struct udma_pool *made = NULL, *missed[64];
	unsigned nmissed = 0, i;
	pthread_t t;

	d.pool = new_pool(d.ctx, 0);
	use_once(d.pool);
	th_thread_start(&t, destroy_elsewhere, &d);
	assert_int_equal(pthread_join(t, NULL), 0);
	/* the pools at other addresses stay until the end: the allocator's
	 * other free chunks go to them */
	while (!made && nmissed < 64) {
		struct udma_pool *p = new_pool(ctx, 0);

		if (p == d.pool)
			made = p;
		else
			missed[nmissed++] = p;
	}
	/* A context's teardown frees so much that the address rarely comes back:
	 * then any new pool, which still shows a memo that ignores the uid. */
	if (!made && destroy_ctx)
		made = missed[--nmissed];
	for (i = 0; i < nmissed; i++)
		udma_pool_destroy(missed[i]);
	if (!made) {
		udma_ctx_destroy(ctx);
		skip(); /* the allocator never gave the address back */
	}
	use_once(made);
	expect_stats(made, 1, 0, 1, 1);
	assert_int_equal(udma_pool_avail(made), COUNT);
	udma_pool_destroy(made);
	udma_ctx_destroy(ctx);
}

static void same_address(void **state)
{
	(void)state;
	remade(false);
}

static void ctx_destroyed(void **state)
{
	(void)state;
	remade(true);
}

/* Two pools in turn: each call finds the other pool's memo; every object
 * comes from and goes back to its own pool, every count where it belongs. */
static void pools_in_turn(void **state)
{
	struct udma_ctx *ctx = th_ctx();
	struct udma_pool *a = new_pool(ctx, 0), *b = new_pool(ctx, 0);
	void *oa[4], *ob[4];
	unsigned i, j;

	(void)state;
	for (i = 0; i < 100; i++) {
		for (j = 0; j < 4; j++) {
			oa[j] = udma_pool_get(a);
			ob[j] = udma_pool_get(b);
			assert_true(udma_pool_index(a, oa[j]) < COUNT);
			assert_true(udma_pool_index(b, ob[j]) < COUNT);
		}
		for (j = 0; j < 4; j++) {
			udma_pool_put(a, oa[j]);
			udma_pool_put(b, ob[j]);
		}
	}
	/* one refill each, then every get a hit (the cache holds 8 >= 4) */
	expect_stats(a, 400, 399, 1, 400);
	expect_stats(b, 400, 399, 1, 400);
	assert_int_equal(udma_pool_avail(a), COUNT);
	assert_int_equal(udma_pool_avail(b), COUNT);
	udma_pool_destroy(a);
	udma_pool_destroy(b);
	udma_ctx_destroy(ctx);
}

/* A debug pool is never memoized: after a get and a put (which would have
 * memoized a pool without debug), a second put of the same object is still
 * checked and refused. */
static void debug_pool(void **state)
{
	struct udma_ctx *ctx = th_ctx();
	struct udma_pool *p = new_pool(ctx, UDMA_POOL_DEBUG);
	struct udma_pool_stats st;
	struct th_stderr err;
	void *o;

	(void)state;
	o = udma_pool_get(p);
	assert_non_null(o);
	udma_pool_put(p, o);
	th_stderr_start(&err);
	udma_pool_put(p, o);
	th_stderr_end(&err);
	assert_int_equal(udma_pool_stats(p, &st), 0);
	assert_int_equal(st.debug_errors, 1);
	assert_int_equal(st.puts, 1);
	assert_int_equal(udma_pool_avail(p), COUNT);
	udma_pool_destroy(p);
	udma_ctx_destroy(ctx);
}

/* Thread exit: the pool layer's key destructor gives the thread's caches
 * back; a later destructor of the same thread (a key made after the pool
 * layer's runs after it) that gets and puts must not reach the freed cache
 * through the memo: it gets a new cache, which goes back in turn. */
static pthread_key_t late_key;
static struct udma_pool *late_pool;

static void late_destructor(void *arg)
{
	void *o = udma_pool_get(late_pool);

	(void)arg;
	if (o)
		udma_pool_put(late_pool, o);
}

static void *worker(void *arg)
{
	void *objs[4];
	unsigned i;

	(void)arg;
	for (i = 0; i < 4; i++)
		objs[i] = udma_pool_get(late_pool);
	for (i = 0; i < 4; i++)
		udma_pool_put(late_pool, objs[i]);
	pthread_setspecific(late_key, (void *)1);
	return NULL;
}

static void thread_exit(void **state)
{
	struct udma_ctx *ctx = th_ctx();
	void **objs;
	unsigned i;
	pthread_t t;

	(void)state;
	late_pool = new_pool(ctx, 0); /* the pool layer's key first */
	assert_int_equal(pthread_key_create(&late_key, late_destructor), 0);
	th_thread_start(&t, worker, NULL);
	assert_int_equal(pthread_join(t, NULL), 0);
	/* worker: 1 miss, 3 hits; destructor: 1 miss (a new cache) */
	expect_stats(late_pool, 5, 3, 2, 5);
	assert_int_equal(udma_pool_avail(late_pool), COUNT);
	/* every object can be had from this thread: nothing was left in a freed cache */
	objs = th_pool_take_all(late_pool, COUNT);
	for (i = 0; i < COUNT; i++)
		udma_pool_put(late_pool, objs[i]);
	free(objs);
	pthread_key_delete(late_key);
	udma_pool_destroy(late_pool);
	udma_ctx_destroy(ctx);
}

/* A forked child: the parent's memo is on the pool, yet every get and put
 * of the inherited pool is refused. */
static void forked_child(void **state)
{
	struct udma_ctx *ctx = th_ctx();
	struct udma_pool *p = new_pool(ctx, 0);
	void *held;
	int status;
	pid_t pid;

	(void)state;
	use_once(p);
	held = udma_pool_get(p);
	assert_non_null(held);
	pid = fork();
	assert_true(pid >= 0);
	if (pid == 0) {
		alarm(20);
		if (udma_pool_get(p))
			_exit(1);
		if (!strstr(udma_last_error(), "inherited across fork"))
			_exit(2);
		udma_pool_stats(NULL, NULL); /* another error: the put must leave its own */
		udma_pool_put(p, held);
		if (!strstr(udma_last_error(), "inherited across fork"))
			_exit(3);
		_exit(0);
	}
	assert_int_equal(waitpid(pid, &status, 0), pid);
	assert_true(WIFEXITED(status));
	assert_int_equal(WEXITSTATUS(status), 0);
	/* the parent's memo still serves it */
	udma_pool_put(p, held);
	use_once(p);
	expect_stats(p, 3, 2, 1, 3);
	udma_pool_destroy(p);
	udma_ctx_destroy(ctx);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(same_address),	 cmocka_unit_test(ctx_destroyed),
		cmocka_unit_test(pools_in_turn), cmocka_unit_test(debug_pool),
		cmocka_unit_test(thread_exit),	 cmocka_unit_test(forked_child),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
