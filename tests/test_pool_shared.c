/* SPDX-License-Identifier: MIT */
/*
 * Shared pools (UDMA_POOL_SHARED) between processes: the test and peers
 * (this program exec'd again: tests/support/peer.h), so every mapping is at
 * another address on each side. The same objects, indices, sizes and IOVAs
 * on both sides; handles carried both ways through rings in a SHARED region
 * by two threads per process under load, every object taken and returned
 * once; kill -9 of either side at random moments, the survivor getting every
 * object back; claims of a dead sender's recovered objects refused, and
 * claims of no object or of a stale handle; bad puts refused and counted;
 * a thread's cache back in the store at its exit; a detach giving the
 * detacher's objects back; UDMA_POOL_SHARED_MAX attached processes and no
 * more; every refusal of udma_pool_attach, damaged headers included.
 */
#include <errno.h>
#include <limits.h>
#include <pthread.h>
#include <sched.h>
#include <signal.h>
#include <stdatomic.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <time.h>
#include <unistd.h>

#include "lib/alloc/pool_shm.h" /* the header attach_refuses_bad_header damages */
#include "tests/support/helpers.h"
#include "tests/support/peer.h"

#define THREADS 2
#define BATCH	8
/* Handles in flight each way: fewer than the objects, so a side whose ring
 * is full cycles objects through the store (a kill then lands mid-get or
 * mid-put too). */
#define RING_COUNT 512u
#define MAX_COUNT  1024u /* objects in the pools of these tests, at most */
#define NO_HANDLE  UDMA_POOL_BAD_HANDLE

/* ---- one process's side: a pool and two rings, its threads ---- */

/*
 * The rings live in one SHARED region: ring 0 carries the creator's
 * handles to the attacher, ring 1 the other way. Each object sent carries
 * its handle in its first 8 bytes, checked by the receiver.
 */
struct side {
	struct udma_ctx *ctx;
	struct udma_pool *pool;
	struct udma_region *rings;
	struct udma_ring *out, *in;
	unsigned count;
	_Atomic uint64_t sent[MAX_COUNT]; /* per index: the handle last sent, or NO_HANDLE */
	pthread_t t[THREADS];
	uint64_t seed;
	atomic_bool stop, peer_may_die, bad;
	char why[400];
	atomic_uint_fast64_t nsent, nrecv, nstale;
};

static size_t ring_stride(void)
{
	return ((size_t)udma_ring_memsize(RING_COUNT) + 4095) & ~(size_t)4095;
}

static void side_fail(struct side *s, const char *what)
{
	bool no = false;

	if (atomic_compare_exchange_strong(&s->bad, &no, true))
		snprintf(s->why, sizeof(s->why), "%s: %s", what, udma_last_error());
}

static int side_ctx(struct side *s)
{
	struct udma_ctx_opts o = {.iova_mode = UDMA_IOVA_AUTO, .numa_node = UDMA_NUMA_ANY};
	unsigned i;

	for (i = 0; i < MAX_COUNT; i++)
		atomic_init(&s->sent[i], NO_HANDLE);
	return udma_ctx_create(&o, &s->ctx);
}

/* The creator's side: a pool of count objects and both rings, laid out. */
static int side_create(struct side *s, unsigned count, size_t obj_size, unsigned cache)
{
	struct udma_pool_opts po = {.obj_size = obj_size,
				    .count = count,
				    .cache_size = cache,
				    .numa_node = UDMA_NUMA_ANY,
				    .flags = UDMA_POOL_SHARED,
				    .name = "mp"};
	struct udma_region_opts ro = {.size = 2 * ring_stride(),
				      .numa_node = UDMA_NUMA_ANY,
				      .flags = UDMA_REGION_SHARED,
				      .name = "mp-rings"};
	uint8_t *mem;
	int rc;

	if ((rc = udma_pool_create(s->ctx, &po, &s->pool)) ||
	    (rc = udma_region_create(s->ctx, &ro, &s->rings)))
		return rc;
	mem = udma_region_addr(s->rings);
	if ((rc = udma_ring_init(mem, ring_stride(), RING_COUNT, 0, &s->out)) ||
	    (rc = udma_ring_init(mem + ring_stride(), ring_stride(), RING_COUNT, 0, &s->in)))
		return rc;
	s->count = count;
	return 0;
}

/* Objects in the pool: the first index without one. */
static unsigned pool_count(const struct udma_pool *p)
{
	unsigned lo = 0, hi = MAX_COUNT + 1;

	while (lo < hi) {
		unsigned mid = lo + (hi - lo) / 2;

		if (udma_pool_obj(p, mid))
			lo = mid + 1;
		else
			hi = mid;
	}
	return lo;
}

/* The attacher's side: the pool of pool_fd; the rings of rings_fd if >= 0. */
static int side_attach(struct side *s, int pool_fd, int rings_fd)
{
	uint8_t *mem;
	int rc;

	if ((rc = udma_pool_attach(s->ctx, pool_fd, &s->pool)))
		return rc;
	s->count = pool_count(s->pool);
	if (rings_fd < 0)
		return 0;
	if ((rc = udma_region_attach(s->ctx, rings_fd, &s->rings)))
		return rc;
	mem = udma_region_addr(s->rings);
	if ((rc = udma_ring_attach(mem + ring_stride(), ring_stride(), &s->out)) ||
	    (rc = udma_ring_attach(mem, ring_stride(), &s->in)))
		return rc;
	return 0;
}

/*
 * The handle an object carries. An object written by one thread is often
 * next written by another of the same process, ordered only through the
 * other process (ring, claim, put, store): ThreadSanitizer sees one process
 * and would call that a race. Relaxed atomics: the ordering is the ring's.
 */
static void stamp(void *obj, uint64_t h)
{
	__atomic_store_n((uint64_t *)obj, h, __ATOMIC_RELAXED);
}

static uint64_t stamp_of(const void *obj)
{
	return __atomic_load_n((const uint64_t *)obj, __ATOMIC_RELAXED);
}

/* Take a handle off the ring: the object, now ours, carries it; back to the pool. */
static void receive(struct side *s, uint64_t h)
{
	uint64_t *o = udma_pool_claim(s->pool, h);

	if (!o) { /* (errno, ESTALE, is claim_refusals' business) */
		if (atomic_load(&s->peer_may_die))
			atomic_fetch_add(&s->nstale, 1);
		else
			side_fail(s, "udma_pool_claim of a live sender's handle");
		return;
	}
	if (stamp_of(o) != h)
		side_fail(s, "a claimed object does not hold the handle it was sent with");
	udma_pool_put(s->pool, o);
	atomic_fetch_add(&s->nrecv, 1);
}

static uint64_t xorshift(uint64_t *x)
{
	*x ^= *x << 13;
	*x ^= *x >> 7;
	*x ^= *x << 17;
	return *x;
}

/* Send a batch of fresh objects, receive what came: until told to stop. */
static void *load_thread(void *arg)
{
	struct side *s = arg;
	uint64_t x = (s->seed ^ (uint64_t)(uintptr_t)&x) | 1; /* each thread its own sequence */
	void *objs[BATCH], *hs[BATCH];

	while (!atomic_load_explicit(&s->stop, memory_order_relaxed) &&
	       !atomic_load_explicit(&s->bad, memory_order_relaxed)) {
		unsigned n = 1 + (unsigned)(xorshift(&x) % BATCH), k, i;
		int sent, got;

		for (k = 0; k < n; k++) {
			uint64_t h;

			if (!(objs[k] = udma_pool_get(s->pool)))
				break; /* the rest are in flight or in caches */
			h = udma_pool_handle(s->pool, objs[k]);
			if (h == NO_HANDLE)
				side_fail(s, "udma_pool_handle of an object just got");
			stamp(objs[k], h);
			hs[k] = (void *)(uintptr_t)h;
			atomic_store_explicit(&s->sent[udma_pool_index(s->pool, objs[k])], h,
					      memory_order_relaxed);
		}
		sent = k ? udma_ring_enqueue_burst(s->out, hs, k) : 0;
		if (sent < 0) {
			side_fail(s, "enqueue");
			sent = 0;
		}
		for (i = (unsigned)sent; i < k; i++) { /* no room: back to the pool */
			atomic_store_explicit(&s->sent[udma_pool_index(s->pool, objs[i])], NO_HANDLE,
					      memory_order_relaxed);
			udma_pool_put(s->pool, objs[i]);
		}
		atomic_fetch_add(&s->nsent, (unsigned)sent);
		got = udma_ring_dequeue_burst(s->in, hs, BATCH);
		if (got < 0)
			side_fail(s, "dequeue");
		for (i = 0; got > 0 && i < (unsigned)got; i++)
			receive(s, (uintptr_t)hs[i]);
		if (!k && got <= 0)
			sched_yield();
	}
	return NULL;
}

static void side_start(struct side *s, uint64_t seed)
{
	unsigned i;

	s->seed = seed;
	for (i = 0; i < THREADS; i++)
		th_thread_start(&s->t[i], load_thread, s);
}

static void side_stop(struct side *s)
{
	unsigned i;

	atomic_store(&s->stop, true);
	for (i = 0; i < THREADS; i++)
		pthread_join(s->t[i], NULL);
}

/* Everything left on the incoming ring, received. Returns how many. */
static unsigned side_drain(struct side *s)
{
	unsigned n = 0;
	void *hs[BATCH];
	int got, i;

	while ((got = udma_ring_dequeue_burst(s->in, hs, BATCH)) > 0)
		for (i = 0; i < got; i++, n++)
			receive(s, (uintptr_t)hs[i]);
	if (got < 0)
		side_fail(s, "dequeue while draining");
	return n;
}

/* After the peer's death and a reclaim: every handle this side sent and
 * the dead peer never claimed is still this side's object: claim and put it. */
static unsigned side_take_back_unclaimed(struct side *s)
{
	unsigned i, n = 0;

	for (i = 0; i < s->count; i++) {
		uint64_t h = atomic_load(&s->sent[i]);
		void *o;

		if (h == NO_HANDLE)
			continue;
		if ((o = udma_pool_claim(s->pool, h))) { /* NULL: claimed by the dead one, recovered */
			udma_pool_put(s->pool, o);
			n++;
		}
	}
	return n;
}

static void side_end(struct side *s)
{
	udma_ring_destroy(s->out);
	udma_ring_destroy(s->in);
	udma_region_destroy(s->rings);
	udma_pool_destroy(s->pool);
	udma_ctx_destroy(s->ctx);
}

static uint64_t debug_errors(const struct udma_pool *p)
{
	struct udma_pool_stats st;

	return udma_pool_stats(p, &st) ? UINT64_MAX : st.debug_errors;
}

/* ---- the peer ---- */

enum peer_op {
	OP_CREATE,    /* a: count, obj_size, cache_size; answers with the pool's and the rings' fds */
	OP_ATTACH,    /* fds: the pool's [, the rings']; answer: v[0] count, v[1] obj_size, v[2] avail */
	OP_INFO,      /* checks object i holds i; answer: iova[i], handle[i] of every object */
	OP_START,     /* a[0]: seed; the load threads start */
	OP_STOP,      /* they stop; answer: v[0] sent, v[1] received */
	OP_DRAIN,     /* receive what is left on the incoming ring; v[1] received in all */
	OP_SEND_ONE,  /* get an object, write its handle into it; v[0] handle */
	OP_HOLD,      /* get a[0] objects and keep them */
	OP_PUT_INDEX, /* put object a[0] (by index); v[0] debug_errors after */
	OP_DETACH,    /* destroy pool and rings, check for leaks, end the context */
	OP_EXIT,
};

struct req {
	enum peer_op op;
	uint64_t a[4];
};

struct rep {
	int rc;
	char why[400];
	uint64_t v[4];
	uint64_t iova[MAX_COUNT], handle[MAX_COUNT];
};

static int peer_fail(struct rep *r, int rc, const char *what)
{
	r->rc = rc ? rc : -EIO;
	snprintf(r->why, sizeof(r->why), "%s: %s", what, udma_last_error());
	return r->rc;
}

static struct side peer_side;
static struct th_snapshot peer_before;

static int peer_setup(struct side *s, const struct req *q, struct rep *r, const int *fds, unsigned nfds,
		      int *out_fds)
{
	int rc;

	if (!s->ctx && (rc = side_ctx(s))) /* kept after a refused attach, to try again */
		return peer_fail(r, rc, "udma_ctx_create");
	th_snapshot_take(&peer_before);
	if (q->op == OP_CREATE) {
		if ((rc = side_create(s, (unsigned)q->a[0], q->a[1], (unsigned)q->a[2])))
			return peer_fail(r, rc, "creating the pool and rings");
		out_fds[0] = udma_pool_fd(s->pool);
		out_fds[1] = udma_region_fd(s->rings);
		return 0;
	}
	if (nfds < 1)
		return peer_fail(r, -EINVAL, "no fd passed");
	rc = side_attach(s, fds[0], nfds > 1 ? fds[1] : -1);
	peer_before.fds -= (int)nfds; /* the fds received, closed after the reply */
	if (rc)
		return peer_fail(r, rc, "attaching");
	r->v[0] = s->count;
	r->v[1] = udma_pool_obj_size(s->pool);
	r->v[2] = udma_pool_avail(s->pool);
	return 0;
}

static int peer_info(const struct side *s, struct rep *r)
{
	unsigned i;

	for (i = 0; i < s->count; i++) {
		const unsigned *o = udma_pool_obj(s->pool, i);

		if (!o || *o != i || udma_pool_index(s->pool, o) != i) {
			r->rc = -EIO;
			snprintf(r->why, sizeof(r->why), "object %u at %p holds %u, its index says %u", i,
				 (const void *)o, o ? *o : 0, o ? udma_pool_index(s->pool, o) : 0);
			return r->rc;
		}
		r->iova[i] = udma_pool_iova(s->pool, o);
		r->handle[i] = udma_pool_handle(s->pool, o);
	}
	return 0;
}

static int peer_detach(struct side *s, struct rep *r)
{
	struct udma_ctx *ctx = s->ctx;

	s->ctx = NULL;
	udma_ring_destroy(s->out);
	udma_ring_destroy(s->in);
	udma_region_destroy(s->rings);
	udma_pool_destroy(s->pool);
	if (th_snapshot_compare(&peer_before, "the shared pool (in the peer)"))
		peer_fail(r, -EIO, "detaching left something behind (see the peer's stderr)");
	udma_ctx_destroy(ctx);
	return r->rc;
}

static int peer_op(struct side *s, const struct req *q, struct rep *r, const int *fds, unsigned nfds,
		   int *out_fds)
{
	void *o;
	uint64_t i;

	switch (q->op) {
	case OP_CREATE:
	case OP_ATTACH: return peer_setup(s, q, r, fds, nfds, out_fds);
	case OP_INFO: return peer_info(s, r);
	case OP_START: side_start(s, q->a[0]); return 0;
	case OP_STOP: side_stop(s); break;
	case OP_DRAIN: side_drain(s); break;
	case OP_SEND_ONE:
		if (!(o = udma_pool_get(s->pool)))
			return peer_fail(r, -ENOENT, "udma_pool_get");
		r->v[0] = udma_pool_handle(s->pool, o);
		stamp(o, r->v[0]);
		return 0;
	case OP_HOLD:
		for (i = 0; i < q->a[0]; i++)
			if (!udma_pool_get(s->pool))
				return peer_fail(r, -ENOENT, "udma_pool_get");
		return 0;
	case OP_PUT_INDEX:
		udma_pool_put(s->pool, udma_pool_obj(s->pool, (unsigned)q->a[0]));
		r->v[0] = debug_errors(s->pool);
		return 0;
	case OP_DETACH: return peer_detach(s, r);
	case OP_EXIT: return 0;
	}
	r->v[0] = atomic_load(&s->nsent);
	r->v[1] = atomic_load(&s->nrecv);
	if (atomic_load(&s->bad)) {
		r->rc = -EIO;
		snprintf(r->why, sizeof(r->why), "%s", s->why);
	}
	return r->rc;
}

static int serve(int sock)
{
	static struct rep r;
	struct req q;
	int fds[TH_PEER_MAX_FDS], out_fds[2];
	unsigned nfds, i;
	ssize_t n;

	th_threads_warm_up(THREADS + 1);
	while ((n = th_peer_recv(sock, &q, sizeof(q), fds, TH_PEER_MAX_FDS, &nfds)) == sizeof(q)) {
		memset(&r, 0, sizeof(r));
		out_fds[0] = out_fds[1] = -1;
		peer_op(&peer_side, &q, &r, fds, nfds, out_fds);
		for (i = 0; i < nfds; i++)
			close(fds[i]);
		if (th_peer_send(sock, &r, sizeof(r), out_fds, out_fds[0] >= 0 ? 2 : 0))
			return 1;
		if (q.op == OP_EXIT)
			return 0;
	}
	return n == 0 ? 0 : 2;
}

/* ---- the test's side ---- */

static struct rep reply;
static int reply_fds[TH_PEER_MAX_FDS];
static unsigned reply_nfds;

static int ask_fds(struct th_peer *p, enum peer_op op, uint64_t a0, uint64_t a1, uint64_t a2, const int *fds,
		   unsigned nfds)
{
	struct req q = {.op = op, .a = {a0, a1, a2, 0}};

	assert_int_equal(th_peer_send(p->sock, &q, sizeof(q), fds, nfds), 0);
	assert_int_equal(
		th_peer_recv(p->sock, &reply, sizeof(reply), reply_fds, TH_PEER_MAX_FDS, &reply_nfds),
		sizeof(reply));
	return reply.rc;
}

static void must_fds(struct th_peer *p, enum peer_op op, uint64_t a0, uint64_t a1, uint64_t a2,
		     const int *fds, unsigned nfds)
{
	if (ask_fds(p, op, a0, a1, a2, fds, nfds))
		fail_msg("peer, op %d: %d: %s", op, reply.rc, reply.why);
}

static void must(struct th_peer *p, enum peer_op op, uint64_t a0)
{
	must_fds(p, op, a0, 0, 0, NULL, 0);
}

/* A peer attached to s's pool (and its rings, when s has them). */
static void peer_attached(struct th_peer *p, const struct side *s)
{
	int fds[2] = {udma_pool_fd(s->pool), s->rings ? udma_region_fd(s->rings) : -1};

	th_peer_start(p);
	must_fds(p, OP_ATTACH, 0, 0, 0, fds, s->rings ? 2 : 1);
	assert_int_equal(reply.v[0], s->count);
	assert_int_equal(reply.v[1], udma_pool_obj_size(s->pool));
}

static void peer_gone(struct th_peer *p)
{
	must(p, OP_DETACH, 0);
	must(p, OP_EXIT, 0);
	assert_int_equal(th_peer_wait(p), 0);
}

static void test_side(struct side *s, unsigned count, size_t obj_size, unsigned cache)
{
	int rc;

	memset(s, 0, sizeof(*s));
	assert_int_equal(side_ctx(s), 0);
	rc = side_create(s, count, obj_size, cache);
	if (rc)
		print_error("%s\n", udma_last_error());
	assert_int_equal(rc, 0);
}

static void assert_side_ok(struct side *s)
{
	if (atomic_load(&s->bad))
		fail_msg("%s", s->why);
}

/* The same count, obj_size, indices, handles and IOVAs in both processes. */
static void same_objects(unsigned cache)
{
	static struct side s;
	struct th_peer peer;
	unsigned i;

	test_side(&s, 1000, 200, cache);
	assert_int_equal(udma_pool_avail(s.pool), 1000);
	assert_true(udma_pool_fd(s.pool) >= 0);
	for (i = 0; i < s.count; i++)
		*(unsigned *)udma_pool_obj(s.pool, i) = i;
	peer_attached(&peer, &s);
	assert_int_equal(reply.v[2], 1000); /* avail there: nobody took one */
	must(&peer, OP_INFO, 0);
	for (i = 0; i < s.count; i++) {
		const void *o = udma_pool_obj(s.pool, i);

		assert_int_equal(reply.iova[i], udma_pool_iova(s.pool, o));
		assert_int_equal(reply.handle[i], udma_pool_handle(s.pool, o));
	}
	peer_gone(&peer);
	assert_int_equal(udma_pool_avail(s.pool), 1000);
	side_end(&s);
}

static void same_objects_no_cache(void **state)
{
	(void)state;
	same_objects(0);
}

static void same_objects_cached(void **state)
{
	(void)state;
	same_objects(16);
}

static unsigned load_seconds(void)
{
	const char *e = getenv("UDMA_MP_SECONDS");

	if (e && atoi(e) > 0)
		return (unsigned)atoi(e);
#if defined(TH_UNDER_TSAN) || defined(__SANITIZE_ADDRESS__)
	return 2;
#else
	return 10;
#endif
}

/* Handles both ways for UDMA_MP_SECONDS (10 s; 2 s under sanitizers), two
 * threads a side; then both stop, drain, and every object is back. */
static void load_both_ways(void **state)
{
	static struct side s;
	struct th_peer peer;
	uint64_t peer_sent, peer_recv;
	unsigned ms;

	(void)state;
	if (sizeof(void *) < sizeof(uint64_t)) {
		print_message("# skip: the rings carry 64-bit handles as pointers, which are 32-bit here\n");
		skip();
	}
	test_side(&s, 1024, 256, 32);
	peer_attached(&peer, &s);
	must(&peer, OP_START, 0x9e3779b97f4a7c15ull);
	side_start(&s, 0xc2b2ae3d27d4eb4full);
	for (ms = 0; ms < load_seconds() * 1000 && !atomic_load(&s.bad); ms += 100)
		usleep(100 * 1000);
	side_stop(&s);
	must(&peer, OP_STOP, 0);
	side_drain(&s);
	must(&peer, OP_DRAIN, 0);
	peer_sent = reply.v[0];
	peer_recv = reply.v[1];
	assert_side_ok(&s);
	print_message("%u s: %llu handles sent here, %llu by the peer\n", load_seconds(),
		      (unsigned long long)atomic_load(&s.nsent), (unsigned long long)peer_sent);
	assert_true(atomic_load(&s.nsent) > 0 && peer_sent > 0);
	/* every handle sent was received once, on the other side */
	assert_int_equal(atomic_load(&s.nsent), peer_recv);
	assert_int_equal(atomic_load(&s.nrecv), peer_sent);
	must(&peer, OP_PUT_INDEX, UINT_MAX); /* a put of NULL: the peer's debug_errors, plus one */
	assert_int_equal(reply.v[0], 1);
	peer_gone(&peer);
	assert_int_equal(udma_pool_avail(s.pool), s.count);
	assert_int_equal(debug_errors(s.pool), 0);
	side_end(&s);
}

/*
 * One round: the test and a peer under load, one of them the pool's
 * creator; the peer is killed at a random moment. The test, survivor,
 * reclaims, drains what the dead one sent (every claim refused: recovered),
 * takes back what it sent and the dead one never claimed, and then has
 * every object.
 */
static void kill_round(bool peer_creates, unsigned cache, bool survivor_busy, unsigned delay_ms)
{
	static struct side s;
	struct th_peer peer;
	unsigned stale = 0, back;
	int reclaimed;
	void *hs[BATCH];
	int got, i;

	memset(&s, 0, sizeof(s));
	if (peer_creates) {
		th_peer_start(&peer);
		must_fds(&peer, OP_CREATE, 1024, 256, cache, NULL, 0);
		assert_int_equal(reply_nfds, 2);
		assert_int_equal(side_ctx(&s), 0);
		assert_int_equal(side_attach(&s, reply_fds[0], reply_fds[1]), 0);
		close(reply_fds[0]);
		close(reply_fds[1]);
	} else {
		test_side(&s, 1024, 256, cache);
		peer_attached(&peer, &s);
	}
	assert_int_equal(s.count, 1024);
	atomic_store(&s.peer_may_die, true);
	must(&peer, OP_START, delay_ms);
	side_start(&s, delay_ms * 7919);
	usleep(delay_ms * 1000);
	if (survivor_busy) {
		th_peer_kill(&peer);
		side_stop(&s);
	} else {
		/* the peer alone at work when it dies: what it sent stays on the ring */
		side_stop(&s);
		usleep((unsigned)rand() % 2000);
		th_peer_kill(&peer);
	}
	assert_side_ok(&s);

	reclaimed = udma_pool_reclaim(s.pool);
	if (reclaimed < 0)
		fail_msg("udma_pool_reclaim: %d: %s", reclaimed, udma_last_error());
	/* what the dead one sent was its own, and has been recovered */
	while ((got = udma_ring_dequeue_burst(s.in, hs, BATCH)) > 0)
		for (i = 0; i < got; i++, stale++) {
			if (udma_pool_claim(s.pool, (uintptr_t)hs[i]))
				fail_msg("a dead sender's object, recovered, was claimed again");
		}
	assert_int_equal(got, 0);
	/* What is left on the outgoing ring is ours, taken back below (not
	 * dequeued: a dequeue the dead one left half done would stall it). */
	back = side_take_back_unclaimed(&s);
	assert_side_ok(&s);
	print_message(
		"peer (%s, cache %u) killed after %u ms, this side %s: %llu sent here, %llu received, %llu "
		"stale during the run; %d reclaimed, %u stale on the ring, %u unclaimed taken back\n",
		peer_creates ? "creator" : "attacher", cache, delay_ms, survivor_busy ? "busy" : "stopped",
		(unsigned long long)atomic_load(&s.nsent), (unsigned long long)atomic_load(&s.nrecv),
		(unsigned long long)atomic_load(&s.nstale), reclaimed, stale, back);
	assert_int_equal(udma_pool_avail(s.pool), s.count);
	assert_int_equal(debug_errors(s.pool), 0);
	assert_int_equal(udma_pool_reclaim(s.pool), 0);
	side_end(&s);
}

/* A survivor stuck after a death (a lock the dead one held?) fails loudly
 * instead of hanging make check. */
static void stuck(int sig)
{
	static const char msg[] = "kill_either_side: the survivor is stuck 60 s after killing its peer "
				  "(a lock of the pool held by the dead process?)\n";

	(void)sig;
	(void)!write(2, msg, sizeof(msg) - 1);
	_exit(3);
}

static void kill_either_side(void **state)
{
	unsigned seed = (unsigned)time(NULL), round;

	(void)state;
	print_message("seed %u\n", seed);
	srand(seed);
	signal(SIGALRM, stuck);
	for (round = 0; round < 8; round++) {
		alarm(60);
		kill_round(round % 2, (round / 2) % 2 ? 32 : 0, round < 4, 20 + (unsigned)rand() % 600);
	}
	alarm(0);
	signal(SIGALRM, SIG_DFL);
}

/* A dead sender's handle: claimed before the recovery it is the claimer's;
 * after it, refused with -ESTALE. */
static void claim_after_sender_died(void **state)
{
	static struct side s;
	struct th_peer peer;
	uint64_t before, after;
	uint64_t *o;

	(void)state;
	test_side(&s, 64, 64, 0);
	peer_attached(&peer, &s);
	must(&peer, OP_SEND_ONE, 0);
	before = reply.v[0];
	must(&peer, OP_SEND_ONE, 0);
	after = reply.v[0];
	th_peer_kill(&peer);
	assert_int_equal(udma_pool_avail(s.pool), 62);
	o = udma_pool_claim(s.pool, before);
	assert_non_null(o);
	assert_int_equal(stamp_of(o), before);
	assert_int_equal(udma_pool_reclaim(s.pool), 1);
	errno = 0;
	assert_null(udma_pool_claim(s.pool, after));
	assert_non_null(strstr(udma_last_error(), "drop the handle"));
	assert_int_equal(udma_pool_avail(s.pool), 63);
	udma_pool_put(s.pool, o);
	assert_int_equal(udma_pool_avail(s.pool), 64);
	assert_int_equal(debug_errors(s.pool), 0);
	side_end(&s);
}

/* A double put, a foreign, an interior and a NULL pointer: refused and
 * counted, in every build; without a cache, also a double put across
 * processes (put here, then by index there). */
static void bad_puts_refused(unsigned cache)
{
	static struct side s;
	struct udma_pool_opts po = {.obj_size = 64,
				    .count = 8,
				    .numa_node = UDMA_NUMA_ANY,
				    .flags = UDMA_POOL_SHARED | UDMA_POOL_DEBUG};
	struct udma_pool *p = NULL;
	struct th_peer peer;
	uint64_t stranger[8];
	uint8_t *o;
	unsigned idx;

	test_side(&s, 64, 64, cache);
	th_assert_err(udma_pool_create(s.ctx, &po, &p), EINVAL);
	o = udma_pool_get(s.pool);
	assert_non_null(o);
	idx = udma_pool_index(s.pool, o);
	udma_pool_put(s.pool, o);
	udma_pool_put(s.pool, o);
	if (debug_errors(s.pool) != 1) {
		void *a = udma_pool_get(s.pool), *b = udma_pool_get(s.pool);

		side_end(&s);
		fail_msg("a double put (cache_size %u) was taken, not refused: the next two gets return %p "
			 "and %p",
			 cache, a, b);
	}
	udma_pool_put(s.pool, stranger);
	assert_int_equal(debug_errors(s.pool), 2);
	o = udma_pool_get(s.pool);
	udma_pool_put(s.pool, o + 1);
	assert_int_equal(debug_errors(s.pool), 3);
	udma_pool_put(s.pool, NULL);
	assert_int_equal(debug_errors(s.pool), 4);
	udma_pool_put(s.pool, o);
	assert_int_equal(udma_pool_avail(s.pool), 64);
	assert_int_equal(udma_pool_handle(s.pool, stranger), NO_HANDLE);
	if (!cache) {
		peer_attached(&peer, &s);
		must(&peer, OP_PUT_INDEX, idx);
		assert_int_equal(reply.v[0], 1);
		peer_gone(&peer);
		assert_int_equal(udma_pool_avail(s.pool), 64);
	}
	assert_int_equal(debug_errors(s.pool), 4);
	side_end(&s);
}

static void bad_puts_refused_no_cache(void **state)
{
	(void)state;
	bad_puts_refused(0);
}

/* The object put twice is in this thread's cache, not in the store. */
static void bad_puts_refused_cached(void **state)
{
	(void)state;
	bad_puts_refused(8);
}

/* Claims refused: a handle of no object (-EINVAL), of an object back in the
 * store, or taken from it again since (-ESTALE); errno says which, as
 * udma_malloc's does (udma/heap.h). */
static void claim_refusals(void **state)
{
	static struct side s;
	int no_object, stale;
	uint64_t h;
	void *o;

	(void)state;
	test_side(&s, 64, 64, 0);
	assert_null(udma_pool_claim(s.pool, NO_HANDLE));
	assert_null(udma_pool_claim(s.pool, 64));
	assert_true(udma_last_error()[0] != 0);
	o = udma_pool_get(s.pool);
	h = udma_pool_handle(s.pool, o);
	assert_ptr_equal(udma_pool_claim(s.pool, h), o); /* one's own: still one's own */
	udma_pool_put(s.pool, o);
	assert_null(udma_pool_claim(s.pool, h));    /* back in the store */
	assert_ptr_equal(udma_pool_get(s.pool), o); /* LIFO: the same object, a new generation */
	assert_true(udma_pool_handle(s.pool, o) != h);
	assert_null(udma_pool_claim(s.pool, h));
	udma_pool_put(s.pool, o);
	assert_int_equal(udma_pool_avail(s.pool), 64);
	assert_int_equal(debug_errors(s.pool), 0);
	/* which refusal: errno */
	errno = 0;
	udma_pool_claim(s.pool, NO_HANDLE);
	no_object = errno;
	errno = 0;
	udma_pool_claim(s.pool, h);
	stale = errno;
	side_end(&s);
	if (no_object != EINVAL || stale != ESTALE)
		fail_msg("udma_pool_claim refused with errno %d for a handle of no object (EINVAL: %d) and "
			 "%d for "
			 "a stale one (ESTALE: %d): the caller cannot tell a handle to drop from a bad one",
			 no_object, EINVAL, stale, ESTALE);
}

static void *get_put_and_exit(void *arg)
{
	void *o[4];

	if (!udma_pool_get_bulk(arg, o, 4))
		udma_pool_put_bulk(arg, o, 4); /* into this thread's cache */
	return NULL;
}

/* A thread's cache goes back to the shared store when the thread exits. */
static void thread_exit_returns_cache(void **state)
{
	static struct side s;
	void *all[64];
	pthread_t t;

	(void)state;
	test_side(&s, 64, 64, 8);
	th_thread_start(&t, get_put_and_exit, s.pool);
	pthread_join(t, NULL);
	assert_int_equal(udma_pool_avail(s.pool), 64);
	assert_int_equal(udma_pool_get_bulk(s.pool, all, 64), 0);
	udma_pool_put_bulk(s.pool, all, 64);
	assert_int_equal(debug_errors(s.pool), 0);
	side_end(&s);
}

/* udma_pool_destroy in a peer detaches it: what it held comes back. */
static void detach_returns_objects(void **state)
{
	static struct side s;
	struct th_peer peer;

	(void)state;
	test_side(&s, 64, 64, 8);
	peer_attached(&peer, &s);
	must(&peer, OP_HOLD, 10);
	assert_true(udma_pool_avail(s.pool) <= 54);
	peer_gone(&peer);
	assert_int_equal(udma_pool_avail(s.pool), 64);
	side_end(&s);
}

/* UDMA_POOL_SHARED_MAX processes at a time, the creator included: one
 * more is refused until one of them dies. */
static void too_many_attachers(void **state)
{
	static struct th_peer peers[UDMA_POOL_SHARED_MAX];
	static struct side s;
	int fd;
	struct th_peer extra;
	unsigned i;

	(void)state;
	test_side(&s, 8, 64, 0);
	for (i = 0; i < UDMA_POOL_SHARED_MAX - 1; i++)
		peer_attached(&peers[i], &s);
	th_peer_start(&extra);
	fd = udma_pool_fd(s.pool);
	assert_int_equal(ask_fds(&extra, OP_ATTACH, 0, 0, 0, &fd, 1), -EUSERS);
	print_message("attacher %u: %s\n", UDMA_POOL_SHARED_MAX + 1, reply.why);
	th_peer_kill(&peers[0]);
	must_fds(&extra, OP_ATTACH, 0, 0, 0, &fd, 1);
	peer_gone(&extra);
	for (i = 1; i < UDMA_POOL_SHARED_MAX - 1; i++)
		peer_gone(&peers[i]);
	assert_int_equal(udma_pool_avail(s.pool), 8);
	side_end(&s);
}

/* ---- refusals of udma_pool_attach ---- */

static void attach_refused(struct udma_ctx *ctx, int fd, int errnum)
{
	struct udma_pool *p = NULL;

	th_assert_err(udma_pool_attach(ctx, fd, &p), errnum);
	assert_null(p);
}

static void attach_refuses(void **state)
{
	static struct side s;
	struct udma_region_opts ro = {.size = 1 << 20,
				      .numa_node = UDMA_NUMA_ANY,
				      .flags = UDMA_REGION_SHARED,
				      .name = "not-a-pool"};
	struct udma_ctx *other = th_ctx();
	struct udma_region *plain = NULL;
	struct udma_pool *p = NULL, *att = NULL;
	int fd;

	(void)state;
	test_side(&s, 64, 64, 0);
	th_assert_err(udma_pool_attach(NULL, udma_pool_fd(s.pool), &p), EINVAL);
	th_assert_err(udma_pool_attach(other, udma_pool_fd(s.pool), NULL), EINVAL);
	attach_refused(other, -1, EINVAL);
	/* not a pool: a SHARED region's file, a plain memfd */
	assert_int_equal(udma_region_create(s.ctx, &ro, &plain), 0);
	attach_refused(other, udma_region_fd(plain), ENOTSUP);
	fd = memfd_create("plain", MFD_CLOEXEC);
	assert_true(fd >= 0 && ftruncate(fd, 1 << 20) == 0);
	attach_refused(other, fd, ENOTSUP);
	close(fd);
	/* twice: where it was made, where it was attached */
	attach_refused(s.ctx, udma_pool_fd(s.pool), EEXIST);
	assert_int_equal(udma_pool_attach(other, udma_pool_fd(s.pool), &att), 0);
	attach_refused(other, udma_pool_fd(s.pool), EEXIST);
	attach_refused(other, udma_pool_fd(att), EEXIST);
	udma_pool_destroy(att);
	udma_region_destroy(plain);
	udma_ctx_destroy(other);
	side_end(&s);
}

/*
 * A header another process damaged, or one written by a udma of another
 * layout: the pool's file attached as a plain region, a field of its header
 * (lib/alloc/pool_shm.h) changed, attach refused, the field put back.
 */
#define FIELD(f) offsetof(struct pool_shm, f), sizeof(((struct pool_shm *)0)->f)

static void header_refused(struct udma_ctx *ctx, int fd, uint8_t *hdr, size_t off, size_t size,
			   uint64_t value, int errnum)
{
	uint32_t v32 = (uint32_t)value;
	uint8_t saved[8];

	assert_true(size == 4 || size == 8);
	memcpy(saved, hdr + off, size);
	memcpy(hdr + off, size == 4 ? (const void *)&v32 : (const void *)&value, size);
	attach_refused(ctx, fd, errnum);
	memcpy(hdr + off, saved, size);
}

static void attach_refuses_bad_header(void **state)
{
	static struct side s;
	struct udma_ctx *raw = th_ctx(), *other = th_ctx();
	struct udma_region *r = NULL;
	struct udma_pool *att = NULL;
	uint8_t *hdr;
	int fd;

	(void)state;
	test_side(&s, 64, 64, 0);
	fd = udma_pool_fd(s.pool);
	assert_int_equal(udma_region_attach(raw, fd, &r), 0);
	hdr = udma_region_addr(r);
	assert_memory_equal(hdr, SHM_MAGIC, 8);

	header_refused(other, fd, hdr, 0, 8, 0x4152424147, ENOTSUP);	       /* no magic: no pool */
	header_refused(other, fd, hdr, FIELD(layout), SHM_LAYOUT + 1, EPROTO); /* a later layout */
	header_refused(other, fd, hdr, FIELD(head_size), 4096, EPROTO);	       /* another ABI's header */
	header_refused(other, fd, hdr, FIELD(count), 1u << 30,
		       EBADMSG);				      /* more objects than the file holds */
	header_refused(other, fd, hdr, FIELD(count), 0, EBADMSG);     /* none */
	header_refused(other, fd, hdr, FIELD(stride), 100, EBADMSG);  /* not obj_size's */
	header_refused(other, fd, hdr, FIELD(align), 3, EBADMSG);     /* not a power of two */
	header_refused(other, fd, hdr, FIELD(objs_off), 64, EBADMSG); /* objects over the record */
	header_refused(other, fd, hdr, FIELD(cache_size), UDMA_POOL_CACHE_MAX + 1, EBADMSG);
	/* put back: attachable, and the creator never noticed */
	assert_int_equal(udma_pool_attach(other, fd, &att), 0);
	assert_int_equal(udma_pool_avail(att), 64);
	udma_pool_destroy(att);
	udma_region_destroy(r);
	udma_ctx_destroy(other);
	udma_ctx_destroy(raw);
	assert_int_equal(udma_pool_avail(s.pool), 64);
	side_end(&s);
}

int main(int argc, char **argv)
{
	const struct CMUnitTest tests[] = {
		th_test(same_objects_no_cache),
		th_test(same_objects_cached),
		th_test(load_both_ways),
		th_test(kill_either_side),
		th_test(claim_after_sender_died),
		th_test(claim_refusals),
		th_test(bad_puts_refused_no_cache),
		th_test(bad_puts_refused_cached),
		th_test(thread_exit_returns_cache),
		th_test(detach_returns_objects),
		th_test(too_many_attachers),
		th_test(attach_refuses),
		th_test(attach_refuses_bad_header),
	};

	th_peer_main(argc, argv, serve);
	th_threads_warm_up(THREADS + 1);
	return cmocka_run_group_tests(tests, NULL, NULL);
}
