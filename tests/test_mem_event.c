/* SPDX-License-Identifier: MIT */
/* Memory events: replay at register, ADDED at create (translated), REMOVED at
 * destroy (still readable), refusals, unregister, bad calls, callbacks that
 * call back into udma (the heap and pools too, while they grow), forked
 * children, the limit the device layer counts in. */
#include <errno.h>
#include <limits.h>
#include <pthread.h>
#include <stdatomic.h>
#include <sys/wait.h>
#include <stdbool.h>
#include <stdio.h>
#include <string.h>
#include <unistd.h>

#include "tests/support/helpers.h"
#include "lib/alloc/heap_internal.h"

#define KiB	  ((size_t)1024)
#define SIZE	  (64 * KiB)
#define MAX_SEEN  64
#define PATTERN	  0x5a
#define FOUR_SUBS 4

/* Every event any subscriber of a test saw, in order. */
struct seen {
	int sub;
	enum udma_mem_event ev;
	struct udma_region *r;
	uint64_t iova; /* udma_iova of the region's first byte, inside the callback */
	int readable;  /* REMOVED: the whole region still held the pattern */
};
static struct seen seen[MAX_SEEN];
static int nseen;

/* A subscriber: its id in the log, and what it answers to ADDED. */
struct sub {
	int id;
	int answer;
	struct udma_ctx *ctx;
};

static int record(void *arg, enum udma_mem_event ev, struct udma_region *r)
{
	struct sub *s = arg;
	struct seen *e;
	const uint8_t *p = udma_region_addr(r);
	size_t i;

	assert_true(nseen < MAX_SEEN);
	e = &seen[nseen++];
	*e = (struct seen){.sub = s->id, .ev = ev, .r = r, .iova = udma_iova(s->ctx, p), .readable = 1};
	if (ev == UDMA_MEM_REMOVED)
		for (i = 0; i < udma_region_size(r); i++)
			if (p[i] != PATTERN)
				e->readable = 0;
	return ev == UDMA_MEM_ADDED ? s->answer : 0;
}

static struct udma_ctx *new_ctx(void)
{
	struct udma_ctx_opts o = {
		.iova_mode = UDMA_IOVA_VA, .page_size = UDMA_PAGE_4K, .numa_node = UDMA_NUMA_ANY};
	struct udma_ctx *ctx = NULL;

	assert_int_equal(udma_ctx_create(&o, &ctx), 0);
	nseen = 0;
	return ctx;
}

static struct udma_region *new_region(struct udma_ctx *ctx, const char *name)
{
	struct udma_region_opts o = {.size = SIZE, .numa_node = UDMA_NUMA_ANY, .name = name};
	struct udma_region *r = NULL;

	assert_int_equal(udma_region_create(ctx, &o, &r), 0);
	memset(udma_region_addr(r), PATTERN, udma_region_size(r));
	return r;
}

static void expect(int i, int sub, enum udma_mem_event ev, struct udma_region *r)
{
	assert_true(i < nseen);
	assert_int_equal(seen[i].sub, sub);
	assert_int_equal(seen[i].ev, ev);
	assert_ptr_equal(seen[i].r, r);
}

static void register_replays_in_order_of_creation(void **state)
{
	struct udma_ctx *ctx = new_ctx();
	struct udma_region *a = new_region(ctx, "a"), *b = new_region(ctx, "b"), *c = new_region(ctx, "c");
	struct sub s = {.id = 1, .ctx = ctx};

	(void)state;
	assert_int_equal(udma_mem_event_register(ctx, record, &s), 0);
	assert_int_equal(nseen, 3);
	expect(0, 1, UDMA_MEM_ADDED, a);
	expect(1, 1, UDMA_MEM_ADDED, b);
	expect(2, 1, UDMA_MEM_ADDED, c);
	assert_int_equal(seen[1].iova, udma_iova(ctx, udma_region_addr(b)));
	udma_region_destroy(b);
	assert_int_equal(nseen, 4);
	expect(3, 1, UDMA_MEM_REMOVED, b);
	assert_true(seen[3].readable);
	assert_int_equal(udma_mem_event_unregister(ctx, record, &s), 0);
	udma_region_destroy(a);
	udma_region_destroy(c);
	assert_int_equal(nseen, 4);
	udma_ctx_destroy(ctx);
}

/* Inside ADDED the region is translated but not yet listed. */
static int added_checks(void *arg, enum udma_mem_event ev, struct udma_region *r)
{
	struct sub *s = arg;
	uint8_t *p = udma_region_addr(r);

	if (ev != UDMA_MEM_ADDED)
		return record(arg, ev, r);
	assert_int_not_equal(udma_iova(s->ctx, p + SIZE - 1), UDMA_BAD_IOVA);
	assert_int_equal(udma_iova_contig(s->ctx, p, SIZE), SIZE);
	assert_null(udma_region_next(s->ctx, NULL));
	p[0] = PATTERN; /* pinned and writable already */
	return record(arg, ev, r);
}

static void create_fires_added_translated(void **state)
{
	struct udma_ctx *ctx = new_ctx();
	struct sub s = {.id = 1, .ctx = ctx};
	struct udma_region *r;

	(void)state;
	assert_int_equal(udma_mem_event_register(ctx, added_checks, &s), 0);
	assert_int_equal(nseen, 0); /* nothing to replay */
	r = new_region(ctx, "r");
	assert_int_equal(nseen, 1);
	expect(0, 1, UDMA_MEM_ADDED, r);
	assert_int_equal(seen[0].iova, udma_iova(ctx, udma_region_addr(r)));
	assert_int_not_equal(seen[0].iova, UDMA_BAD_IOVA);
	udma_region_destroy(r);
	assert_int_equal(nseen, 2);
	expect(1, 1, UDMA_MEM_REMOVED, r);
	assert_true(seen[1].readable); /* memset after create, read in the callback */
	assert_int_equal(seen[1].iova, seen[0].iova);
	udma_ctx_destroy(ctx);
}

/* Subscribers 1 and 2 accept, 3 refuses: 2 then 1 hear REMOVED, 4 nothing. */
static void refusal_fails_create(void **state)
{
	struct udma_ctx *ctx = new_ctx();
	struct sub s[FOUR_SUBS] = {{.id = 1, .ctx = ctx},
				   {.id = 2, .ctx = ctx},
				   {.id = 3, .ctx = ctx, .answer = -EPERM},
				   {.id = 4, .ctx = ctx}};
	struct udma_region_opts o = {.size = SIZE, .numa_node = UDMA_NUMA_ANY, .name = "refused"};
	struct udma_region *r = (void *)1, *kept;
	int i;

	(void)state;
	for (i = 0; i < FOUR_SUBS; i++)
		assert_int_equal(udma_mem_event_register(ctx, record, &s[i]), 0);
	assert_int_equal(udma_region_create(ctx, &o, &r), -EPERM);
	assert_null(r);
	assert_non_null(strstr(udma_last_error(), "refused region 'refused'"));
	assert_non_null(strstr(udma_last_error(), strerror(EPERM)));
	assert_int_equal(nseen, 5);
	expect(0, 1, UDMA_MEM_ADDED, seen[0].r);
	expect(1, 2, UDMA_MEM_ADDED, seen[0].r);
	expect(2, 3, UDMA_MEM_ADDED, seen[0].r);
	expect(3, 2, UDMA_MEM_REMOVED, seen[0].r);
	expect(4, 1, UDMA_MEM_REMOVED, seen[0].r);
	assert_null(udma_region_next(ctx, NULL)); /* and th_test checks nothing leaked */

	/* Any non-errno refusal is -ECANCELED. */
	s[2].answer = 1;
	nseen = 0;
	assert_int_equal(udma_region_create(ctx, &o, &r), -ECANCELED);
	assert_non_null(strstr(udma_last_error(), strerror(ECANCELED)));
	assert_int_equal(nseen, 5);
	/* Accepted by all: REMOVED at destroy, the last subscribed first. */
	s[2].answer = 0;
	nseen = 0;
	kept = new_region(ctx, "kept");
	udma_region_destroy(kept);
	assert_int_equal(nseen, 2 * FOUR_SUBS);
	for (i = 0; i < FOUR_SUBS; i++) {
		expect(i, i + 1, UDMA_MEM_ADDED, kept);
		expect(FOUR_SUBS + i, FOUR_SUBS - i, UDMA_MEM_REMOVED, kept);
	}
	udma_ctx_destroy(ctx);
}

/* A refusal during the replay: those replayed hear REMOVED, fn is not registered. */
static int refuse_named_c(void *arg, enum udma_mem_event ev, struct udma_region *r)
{
	int rc = record(arg, ev, r);

	return ev == UDMA_MEM_ADDED && !strcmp(udma_region_name(r), "c") ? -ENOMEM : rc;
}

static void refusal_during_replay(void **state)
{
	struct udma_ctx *ctx = new_ctx();
	struct udma_region *a = new_region(ctx, "a"), *b = new_region(ctx, "b"), *c = new_region(ctx, "c");
	struct sub s = {.id = 1, .ctx = ctx};

	(void)state;
	assert_int_equal(udma_mem_event_register(ctx, refuse_named_c, &s), -ENOMEM);
	assert_non_null(strstr(udma_last_error(), "refused region 'c'"));
	assert_int_equal(nseen, 5);
	expect(0, 1, UDMA_MEM_ADDED, a);
	expect(1, 1, UDMA_MEM_ADDED, b);
	expect(2, 1, UDMA_MEM_ADDED, c);
	expect(3, 1, UDMA_MEM_REMOVED, a);
	expect(4, 1, UDMA_MEM_REMOVED, b);
	assert_int_equal(udma_mem_event_unregister(ctx, refuse_named_c, &s), -ENOENT);
	udma_region_destroy(a);
	assert_int_equal(nseen, 5);
	udma_region_destroy(b);
	udma_region_destroy(c);
	udma_ctx_destroy(ctx);
}

static void unregister_stops_events(void **state)
{
	struct udma_ctx *ctx = new_ctx();
	struct sub s1 = {.id = 1, .ctx = ctx}, s2 = {.id = 2, .ctx = ctx};
	struct udma_region *r;

	(void)state;
	assert_int_equal(udma_mem_event_register(ctx, record, &s1), 0);
	assert_int_equal(udma_mem_event_register(ctx, record, &s2), 0);
	assert_int_equal(udma_mem_event_unregister(ctx, record, &s1), 0);
	r = new_region(ctx, "r");
	assert_int_equal(nseen, 1);
	expect(0, 2, UDMA_MEM_ADDED, r);
	assert_int_equal(udma_mem_event_unregister(ctx, record, &s2), 0);
	udma_region_destroy(r);
	assert_int_equal(nseen, 1);
	udma_ctx_destroy(ctx);
}

/* udma_ctx_destroy unmakes the regions left: REMOVED for each, in order of creation. */
static void ctx_destroy_sends_removed(void **state)
{
	struct udma_ctx *ctx = new_ctx();
	struct udma_region *a = new_region(ctx, "a"), *b = new_region(ctx, "b");
	struct sub s = {.id = 1, .ctx = ctx};

	(void)state;
	assert_int_equal(udma_mem_event_register(ctx, record, &s), 0);
	udma_ctx_destroy(ctx); /* says on stderr that a and b were alive */
	assert_int_equal(nseen, 4);
	expect(2, 1, UDMA_MEM_REMOVED, a);
	expect(3, 1, UDMA_MEM_REMOVED, b);
	assert_true(seen[2].readable && seen[3].readable);
}

static int noop(void *arg, enum udma_mem_event ev, struct udma_region *r)
{
	(void)arg;
	(void)ev;
	(void)r;
	return 0;
}

static void bad_calls(void **state)
{
	struct udma_ctx *ctx = new_ctx();
	struct udma_dev *dev = (void *)1;
	int args[UDMA_MEM_EVENT_MAX + 1], i;

	(void)state;
	assert_int_equal(udma_mem_event_register(NULL, noop, NULL), -EINVAL);
	assert_int_equal(udma_mem_event_register(ctx, NULL, NULL), -EINVAL);
	assert_non_null(strstr(udma_last_error(), "fn is NULL"));
	assert_int_equal(udma_mem_event_unregister(ctx, NULL, NULL), -EINVAL);
	assert_int_equal(udma_mem_event_unregister(NULL, noop, NULL), -EINVAL);
	assert_int_equal(udma_mem_event_unregister(ctx, noop, NULL), -ENOENT);
	assert_int_equal(udma_mem_event_register(ctx, noop, NULL), 0);
	assert_int_equal(udma_mem_event_register(ctx, noop, NULL), -EEXIST);
	assert_non_null(strstr(udma_last_error(), "registered with this arg already"));
	assert_int_equal(udma_mem_event_register(ctx, noop, &args[0]),
			 0); /* another arg: another subscriber */
	assert_int_equal(udma_mem_event_unregister(ctx, noop, &args[0]), 0);
	assert_int_equal(udma_mem_event_unregister(ctx, noop, NULL), 0);
	assert_int_equal(udma_mem_event_unregister(ctx, noop, NULL), -ENOENT);
	/* The limit, which an attached device's layer counts in. */
	for (i = 0; i < UDMA_MEM_EVENT_MAX; i++)
		assert_int_equal(udma_mem_event_register(ctx, noop, &args[i]), 0);
	assert_int_equal(udma_mem_event_register(ctx, noop, &args[i]), -ENOSPC);
	assert_non_null(strstr(udma_last_error(), "UDMA_MEM_EVENT_MAX"));
	assert_int_equal(udma_dev_open(ctx, "sim:ev0", &dev), -ENOSPC);
	assert_null(dev);
	assert_int_equal(udma_mem_event_unregister(ctx, noop, &args[0]), 0);
	assert_int_equal(udma_dev_open(ctx, "sim:ev0", &dev), 0);
	assert_int_equal(udma_mem_event_register(ctx, noop, &args[0]), -ENOSPC);
	udma_dev_close(dev);
	udma_ctx_destroy(ctx);
}

/* What a callback got back from udma, for the test to check outside it. */
struct reentry {
	struct udma_ctx *ctx, *other;
	struct udma_region *victim; /* a region of ctx the callback tries to destroy */
	struct udma_dev *attached;  /* a device of ctx the callback tries to close */
	int create, reg, unreg, pool, dev, other_create;
	uint64_t iova;
	char destroy_err[256], close_err[256];
	int calls;
};

static int call_back_in(void *arg, enum udma_mem_event ev, struct udma_region *r)
{
	struct reentry *t = arg;
	struct udma_region_opts o = {.size = SIZE, .numa_node = UDMA_NUMA_ANY, .name = "inner"};
	struct udma_pool_opts po = {.obj_size = 64, .count = 4, .numa_node = UDMA_NUMA_ANY};
	struct udma_region *inner = NULL;
	struct udma_pool *pool = NULL;
	struct udma_dev *dev = NULL;

	if (!t->victim) /* the victim's own ADDED */
		return 0;
	t->calls++;
	t->iova = udma_iova(t->ctx, udma_region_addr(r));
	t->create = udma_region_create(t->ctx, &o, &inner);
	t->reg = udma_mem_event_register(t->ctx, noop, NULL);
	t->unreg = udma_mem_event_unregister(t->ctx, call_back_in, t);
	t->pool = udma_pool_create(t->ctx, &po, &pool);
	t->dev = udma_dev_open(t->ctx, "sim:inner", &dev);
	udma_region_destroy(t->victim);
	snprintf(t->destroy_err, sizeof(t->destroy_err), "%s", udma_last_error());
	udma_dev_close(t->attached);
	snprintf(t->close_err, sizeof(t->close_err), "%s", udma_last_error());
	/* Another context works, whole. */
	t->other_create = udma_region_create(t->other, &o, &inner);
	if (!t->other_create)
		udma_region_destroy(inner);
	(void)ev;
	return 0;
}

static void check_reentry(struct reentry *t, uint64_t iova)
{
	assert_int_equal(t->calls, 1);
	assert_int_equal(t->iova, iova);
	assert_int_equal(t->create, -EDEADLK);
	assert_int_equal(t->reg, -EDEADLK);
	assert_int_equal(t->unreg, -EDEADLK);
	assert_int_equal(t->pool, -EDEADLK);
	assert_int_equal(t->dev, -EDEADLK);
	assert_non_null(strstr(t->destroy_err, "udma_region_destroy: called from a memory event callback"));
	assert_non_null(strstr(t->close_err, "udma_dev_close: called from a memory event callback"));
	assert_int_equal(t->other_create, 0);
	t->calls = 0;
}

static void callbacks_calling_back(void **state)
{
	struct reentry t = {.ctx = new_ctx()};
	struct th_stderr err;
	const char *log;
	struct udma_region *r, *n;
	uint64_t iova;
	int count = 0;

	(void)state;
	t.other = new_ctx();
	assert_int_equal(udma_mem_event_register(t.ctx, call_back_in, &t), 0);
	assert_int_equal(udma_dev_open(t.ctx, "sim:ev1", &t.attached), 0);
	t.victim = new_region(t.ctx, "victim");
	th_stderr_start(&err);
	r = new_region(t.ctx, "r"); /* ADDED */
	log = th_stderr_end(&err);
	iova = udma_iova(t.ctx, udma_region_addr(r));
	check_reentry(&t, iova);
	/* The calls that return nothing said so in the log too. */
	assert_non_null(strstr(log, "udma_region_destroy: called from a memory event callback"));
	assert_non_null(strstr(log, "udma_dev_close: called from a memory event callback"));
	th_stderr_start(&err);
	udma_region_destroy(r); /* REMOVED */
	assert_non_null(strstr(th_stderr_end(&err), "nothing done"));
	check_reentry(&t, iova);
	/* The victim and the device lived through both, the callback is still
	 * registered, and nothing the callback tried on ctx was made. */
	assert_int_equal(udma_dev_bar(t.attached, 0, &(void *){NULL}, &(size_t){0}), 0);
	for (n = udma_region_next(t.ctx, NULL); n; n = udma_region_next(t.ctx, n))
		count++;
	assert_int_equal(count, 1);
	assert_null(udma_region_next(t.other, NULL));
	assert_int_equal(udma_mem_event_unregister(t.ctx, call_back_in, &t), 0);
	udma_dev_close(t.attached);
	udma_region_destroy(t.victim);
	udma_ctx_destroy(t.other);
	udma_ctx_destroy(t.ctx);
}

/*
 * Callbacks that call the heap and pools of their context back, from the
 * events of the heap's and pools' own regions: a slab grown (a class lock
 * held), a large block made or freed, a pool made. Each call returns: it
 * works, or fails with -EDEADLK (a void call: does nothing, says so in
 * udma_last_error and the log); the outer call succeeds; nothing is leaked
 * or lost. Run in a child with a watchdog: a deadlock fails the test instead
 * of hanging the suite.
 */
#define WATCHDOG_S 60
#define SMALL	   64		    /* cached by the thread before the event */
#define GROWN	   (4 * KiB)	    /* the class whose second slab the event grows */
#define UNUSED	   (16 * KiB)	    /* a class nothing is cached of */
#define LARGE	   (2 * 1024 * KiB) /* above the heap's 1 MiB threshold */
#define MAX_GROWN  1024
#define MAX_LEFT   8
#define IN_EVENT   "called from a memory event callback of the same context"

enum trigger { BY_SLAB, BY_LARGE, BY_POOL, BY_LARGE_FREE };

struct heap_reentry {
	struct udma_ctx *ctx;
	bool armed;
	int calls;
	void *grown_first, *large_before;
	struct udma_pool *cached, *direct;
	int refusals;	/* ERR log lines saying IN_EVENT */
	int other_logs; /* any other log line (a leak report, a double free...) */
	char last_other[256];
	void *left[MAX_LEFT]; /* blocks the callback could not free: freed after it */
	int nleft;
	int failed; /* line of the first failed check, 0 if none */
	char why[300];
};

#define CHK(t, cond)                                                                       \
	do {                                                                               \
		if (!(cond) && !(t)->failed) {                                             \
			(t)->failed = __LINE__;                                            \
			snprintf((t)->why, sizeof((t)->why), "%s (last error: %s)", #cond, \
				 udma_last_error());                                       \
		}                                                                          \
	} while (0)

static void reentry_log(void *arg, int level, const char *msg)
{
	struct heap_reentry *t = arg;

	if (level == UDMA_LOG_ERR && strstr(msg, IN_EVENT)) {
		t->refusals++;
		return;
	}
	t->other_logs++;
	snprintf(t->last_other, sizeof(t->last_other), "%s", msg);
}

static bool said(const char *call)
{
	char want[128];

	snprintf(want, sizeof(want), "%s: %s", call, IN_EVENT);
	return strstr(udma_last_error(), want) != NULL;
}

/* A malloc in the callback: a block, or NULL with EDEADLK and the reason. */
static void malloc_outcome(struct heap_reentry *t, void *p)
{
	if (p) {
		CHK(t, t->nleft < MAX_LEFT);
		if (t->nleft < MAX_LEFT)
			t->left[t->nleft++] = p;
		return;
	}
	CHK(t, errno == EDEADLK && said("udma_malloc"));
}

/* A free in the callback: done, or refused (said, logged): freed after. */
static void free_outcome(struct heap_reentry *t, void *p)
{
	int before = t->refusals;

	udma_free(t->ctx, p);
	if (t->refusals == before)
		return;
	CHK(t, t->refusals == before + 1 && said("udma_free"));
	CHK(t, t->nleft < MAX_LEFT);
	if (t->nleft < MAX_LEFT)
		t->left[t->nleft++] = p;
}

static int heap_pool_reentry(void *arg, enum udma_mem_event ev, struct udma_region *r)
{
	struct heap_reentry *t = arg;
	struct udma_pool_opts po = {.obj_size = 64, .count = 4, .numa_node = UDMA_NUMA_ANY};
	struct udma_pool *pool = (void *)1;
	void *objs[2], *p;
	int before;

	(void)ev;
	(void)r;
	if (!t->armed)
		return 0;
	t->armed = false;
	t->calls++;
	/* What the thread's cache holds can be had; the rest may be refused. */
	p = udma_malloc(t->ctx, SMALL, 0, NULL);
	CHK(t, p != NULL);
	if (p)
		free_outcome(t, p);
	malloc_outcome(t, udma_malloc(t->ctx, GROWN, 0, NULL));
	malloc_outcome(t, udma_zmalloc(t->ctx, UNUSED, 0, NULL));
	free_outcome(t, t->grown_first);
	/* A large block is a region of its own: neither made nor unmade there. */
	p = udma_malloc(t->ctx, LARGE, 0, NULL);
	CHK(t, !p && errno == EDEADLK && said("udma_malloc"));
	before = t->refusals;
	udma_free(t->ctx, t->large_before);
	CHK(t, t->refusals == before + 1 && said("udma_free"));
	t->left[t->nleft++] = t->large_before;
	/* Pools: get and put take no lock a memory event's caller holds. */
	p = udma_pool_get(t->cached);
	CHK(t, p != NULL);
	udma_pool_put(t->cached, p);
	CHK(t, udma_pool_get_bulk(t->cached, objs, 2) == 0);
	udma_pool_put_bulk(t->cached, objs, 2);
	p = udma_pool_get(t->direct);
	CHK(t, p != NULL);
	udma_pool_put(t->direct, p);
	CHK(t, udma_pool_create(t->ctx, &po, &pool) == -EDEADLK && !pool && said("udma_pool_create"));
	before = t->refusals;
	udma_pool_destroy(t->cached);
	CHK(t, t->refusals == before + 1 && said("udma_pool_destroy"));
	before = t->refusals;
	udma_ctx_destroy(t->ctx);
	CHK(t, t->refusals == before + 1 && said("udma_ctx_destroy"));
	return 0;
}

/* Objects the calling thread's magazines hold: every slot in a cache state. */
static size_t in_magazines(struct udma_ctx *ctx)
{
	struct udma_heap *h = udma__ctx_state(ctx, UDMA_CTX_SLOT_HEAP);
	struct heap_tcache *tc = udma__heap_tcache_get(h);
	size_t n = 0;
	unsigned i;

	for (i = 0; tc && i < h->nclasses; i++)
		n += tc->mag[i].n;
	return n;
}

static struct heap_reentry reentry; /* the child's */

static int reentry_child(void *arg)
{
	struct udma_ctx_opts co = {
		.iova_mode = UDMA_IOVA_VA, .page_size = UDMA_PAGE_4K, .numa_node = UDMA_NUMA_ANY};
	struct udma_pool_opts cached = {
		.obj_size = 64, .count = 16, .cache_size = 4, .numa_node = UDMA_NUMA_ANY};
	struct udma_pool_opts direct = {.obj_size = 64, .count = 4, .numa_node = UDMA_NUMA_ANY};
	enum trigger how = *(const enum trigger *)arg;
	struct heap_reentry *t = &reentry;
	struct udma__heap_stats st;
	static void *grown[MAX_GROWN];
	struct th_snapshot before;
	struct udma_pool *made = NULL;
	void *p = NULL;
	int ngrown = 0, i;

	alarm(WATCHDOG_S);
	th_snapshot_take(&before);
	udma_set_log(reentry_log, t);
	if (udma_ctx_create(&co, &t->ctx) || udma_mem_event_register(t->ctx, heap_pool_reentry, t))
		return 2;
	/* The thread's SMALL magazine filled, GROWN's first slab made, a large
	 * block, two pools. */
	p = udma_malloc(t->ctx, SMALL, 0, NULL);
	udma_free(t->ctx, p);
	grown[ngrown++] = t->grown_first = udma_malloc(t->ctx, GROWN, 0, NULL);
	t->large_before = udma_malloc(t->ctx, LARGE, 0, NULL);
	if (!p || !t->grown_first || !t->large_before || udma_pool_create(t->ctx, &cached, &t->cached) ||
	    udma_pool_create(t->ctx, &direct, &t->direct))
		return 3;
	if (how == BY_LARGE_FREE && !(p = udma_malloc(t->ctx, LARGE, 0, NULL)))
		return 4;
	t->armed = true;
	switch (how) {
	case BY_SLAB: /* until GROWN's second slab */
		while (t->armed && ngrown < MAX_GROWN) {
			grown[ngrown] = udma_malloc(t->ctx, GROWN, 0, NULL);
			CHK(t, grown[ngrown] != NULL);
			ngrown++;
		}
		break;
	case BY_LARGE:
		p = udma_malloc(t->ctx, LARGE, 0, NULL);
		CHK(t, p != NULL);
		udma_free(t->ctx, p);
		break;
	case BY_POOL:
		CHK(t, udma_pool_create(t->ctx, &direct, &made) == 0);
		udma_pool_destroy(made);
		break;
	case BY_LARGE_FREE: udma_free(t->ctx, p); break;
	}
	CHK(t, t->calls == 1);
	/* What the callback could not free; the rest. */
	for (i = 0; i < t->nleft; i++)
		udma_free(t->ctx, t->left[i]);
	for (i = 1; i < ngrown; i++)
		udma_free(t->ctx, grown[i]);
	udma_pool_destroy(t->cached);
	udma_pool_destroy(t->direct);
	/* Nothing allocated, and no free object lost from the caches. */
	udma__heap_stats(t->ctx, &st);
	CHK(t, st.live == 0 && st.large == 0);
	CHK(t, st.cached == in_magazines(t->ctx));
	udma_ctx_destroy(t->ctx);
	udma_set_log(NULL, NULL);
	CHK(t, t->other_logs == 0);
	if (t->failed)
		fprintf(stderr, "# line %d: %s%s%s\n", t->failed, t->why, t->other_logs ? "; logged: " : "",
			t->other_logs ? t->last_other : "");
	if (th_snapshot_compare(&before, "the child"))
		return 5;
	return t->failed ? 1 : 0;
}

static void run_reentry(enum trigger how)
{
	int rc = th_run_child(reentry_child, &how, 0, (size_t)-1);

	if (rc)
		print_error("the child %s\n",
			    rc < 0 ? "hung (ended by its watchdog) or crashed" : "failed a check (above)");
	assert_int_equal(rc, 0);
}

static void heap_reentry_by_slab(void **state)
{
	(void)state;
	run_reentry(BY_SLAB);
}

static void heap_reentry_by_large(void **state)
{
	(void)state;
	run_reentry(BY_LARGE);
}

static void heap_reentry_by_pool(void **state)
{
	(void)state;
	run_reentry(BY_POOL);
}

static void heap_reentry_by_large_free(void **state)
{
	(void)state;
	run_reentry(BY_LARGE_FREE);
}

/* A forked child: no registering, and its udma_ctx_destroy tells no one. */
static int child_sees_no_events(void *arg)
{
	struct udma_ctx *ctx = arg;
	int base = nseen;

	if (udma_mem_event_register(ctx, noop, NULL) != -ECHILD)
		return 1;
	if (udma_mem_event_unregister(ctx, record, NULL) != -ECHILD)
		return 2;
	if (!strstr(udma_last_error(), "inherited across fork"))
		return 3;
	udma_ctx_destroy(ctx);
	return nseen == base ? 0 : 4;
}

static void forked_child(void **state)
{
	struct udma_ctx *ctx = new_ctx();
	struct udma_region *r = new_region(ctx, "r");
	struct sub s = {.id = 1, .ctx = ctx};

	(void)state;
	assert_int_equal(udma_mem_event_register(ctx, record, &s), 0);
	assert_int_equal(th_run_child(child_sees_no_events, ctx, 0, (size_t)-1), 0);
	assert_int_equal(nseen, 1);
	udma_region_destroy(r);
	assert_int_equal(nseen, 2);
	udma_ctx_destroy(ctx);
}

/* Callbacks nested across contexts: A's callback makes a region of B, whose
 * callback makes one of A. This thread holds A's lock already: -EDEADLK, not
 * a hang (the old mark knew the innermost context only). In a child under
 * alarm, so a regression fails instead of hanging. */
static struct udma_ctx *nest_a, *nest_b;
static int nest_inner_rc = 1;

static int make_in(struct udma_ctx *ctx)
{
	struct udma_region_opts o = {
		.size = 4096, .page_size = 4096, .name = "n", .numa_node = UDMA_NUMA_ANY};
	struct udma_region *r = NULL;
	int rc = udma_region_create(ctx, &o, &r);

	if (!rc)
		udma_region_destroy(r);
	return rc;
}

static int nest_cb_a(void *arg, enum udma_mem_event ev, struct udma_region *r)
{
	(void)arg;
	(void)r;
	return ev == UDMA_MEM_ADDED ? make_in(nest_b) : 0;
}

static int nest_cb_b(void *arg, enum udma_mem_event ev, struct udma_region *r)
{
	(void)arg;
	(void)r;
	if (ev == UDMA_MEM_ADDED && nest_inner_rc == 1)
		nest_inner_rc =
			make_in(nest_a) == -EDEADLK && strstr(udma_last_error(), "memory event callback") ? 0
													  : 2;
	return 0;
}

static int nested_across_contexts(void *arg)
{
	struct udma_ctx_opts co = {.numa_node = UDMA_NUMA_ANY, .page_size = 4096};

	(void)arg;
	alarm(20);
	if (udma_ctx_create(&co, &nest_a) || udma_ctx_create(&co, &nest_b) ||
	    udma_mem_event_register(nest_a, nest_cb_a, NULL) ||
	    udma_mem_event_register(nest_b, nest_cb_b, NULL))
		return 3;
	if (make_in(nest_a))
		return 4;
	udma_ctx_destroy(nest_a);
	udma_ctx_destroy(nest_b);
	return nest_inner_rc;
}

static void nested_callbacks_refused(void **state)
{
	(void)state;
	assert_int_equal(th_run_child(nested_across_contexts, NULL, 0, (size_t)-1), 0);
}

/* A return that is not a negative errno (positive, below -4095, INT_MIN)
 * refuses with -ECANCELED, as the header says. */
static int odd_value;

static int return_odd(void *arg, enum udma_mem_event ev, struct udma_region *r)
{
	(void)arg;
	(void)r;
	return ev == UDMA_MEM_ADDED ? odd_value : 0;
}

static void odd_returns_are_ecanceled(void **state)
{
	static const int odd[] = {1, 4096, -4096, -200000, INT_MIN};
	struct udma_ctx *ctx = new_ctx();

	(void)state;
	assert_int_equal(udma_mem_event_register(ctx, return_odd, NULL), 0);
	for (unsigned i = 0; i < sizeof(odd) / sizeof(odd[0]); i++) {
		odd_value = odd[i];
		assert_int_equal(make_in(ctx), -ECANCELED);
	}
	odd_value = -EPERM;
	assert_int_equal(make_in(ctx), -EPERM);
	udma_ctx_destroy(ctx);
}

/* Three threads and a fork: T2 registers on B, and B's replay (B's lock
 * held) makes a region of C; T1 makes a region of A whose callback makes one
 * of B; main forks meanwhile. The fork must wait for both and end (the old
 * register took B's lock outside a fork hold: T1 waited for B, T2 for the
 * fork, the fork for T1). The sleeps only order the steps. */
static struct udma_ctx *cyc_a, *cyc_b, *cyc_c;
static atomic_int cyc_armed;

static int cyc_cb_a(void *arg, enum udma_mem_event ev, struct udma_region *r)
{
	(void)arg;
	(void)r;
	if (ev == UDMA_MEM_ADDED && atomic_exchange(&cyc_armed, 0)) {
		usleep(100000);
		make_in(cyc_b);
	}
	return 0;
}

static int cyc_cb_b(void *arg, enum udma_mem_event ev, struct udma_region *r)
{
	(void)arg;
	(void)r;
	if (ev == UDMA_MEM_ADDED) {
		usleep(200000);
		make_in(cyc_c);
	}
	return 0;
}

static void *cyc_t1(void *arg)
{
	(void)arg;
	make_in(cyc_a);
	return NULL;
}

static void *cyc_t2(void *arg)
{
	(void)arg;
	udma_mem_event_register(cyc_b, cyc_cb_b, NULL);
	return NULL;
}

static int fork_among_callbacks(void *arg)
{
	struct udma_ctx_opts co = {.numa_node = UDMA_NUMA_ANY, .page_size = 4096};
	struct udma_region_opts o = {
		.size = 4096, .page_size = 4096, .name = "b", .numa_node = UDMA_NUMA_ANY};
	struct udma_region *rb;
	pthread_t t1, t2;
	pid_t pid;
	int status;

	(void)arg;
	alarm(20);
	if (udma_ctx_create(&co, &cyc_a) || udma_ctx_create(&co, &cyc_b) || udma_ctx_create(&co, &cyc_c) ||
	    udma_region_create(cyc_b, &o, &rb) || udma_mem_event_register(cyc_a, cyc_cb_a, NULL))
		return 2;
	atomic_store(&cyc_armed, 1);
	pthread_create(&t2, NULL, cyc_t2, NULL);
	pthread_create(&t1, NULL, cyc_t1, NULL);
	usleep(50000);
	pid = fork();
	if (pid == 0)
		_exit(0);
	if (pid < 0 || waitpid(pid, &status, 0) != pid)
		return 3;
	pthread_join(t1, NULL);
	pthread_join(t2, NULL);
	return 0;
}

static void fork_among_nested_callbacks(void **state)
{
	(void)state;
	assert_int_equal(th_run_child(fork_among_callbacks, NULL, 0, (size_t)-1), 0);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		th_test(register_replays_in_order_of_creation),
		th_test(create_fires_added_translated),
		th_test(refusal_fails_create),
		th_test(refusal_during_replay),
		th_test(unregister_stops_events),
		th_test(ctx_destroy_sends_removed),
		th_test(bad_calls),
		th_test(callbacks_calling_back),
		th_test(heap_reentry_by_slab),
		th_test(heap_reentry_by_large),
		th_test(heap_reentry_by_pool),
		th_test(heap_reentry_by_large_free),
		th_test(forked_child),
		th_test(nested_callbacks_refused),
		th_test(odd_returns_are_ecanceled),
		th_test(fork_among_nested_callbacks),
	};

	th_threads_warm_up(TH_MAX_THREADS); /* the sim devices' threads */
	return cmocka_run_group_tests_name("mem_event", tests, NULL, NULL);
}
