/* SPDX-License-Identifier: MIT */
/*
 * Rings in memory of one's own, shared between processes: udma_ring_init
 * and udma_ring_attach (arguments, and headers attach must refuse), handles
 * that ignore a header rewritten after attach, impossible shared indices
 * reported as corrupt, claims never published reported as stalled, a ring
 * used by several processes, and a hostile peer process scribbling over the
 * ring's memory while this one enqueues and dequeues: no call may touch
 * memory outside the ring's slots or the caller's array (the ring ends at a
 * PROT_NONE page, canary bytes lie before it and after each array), and
 * every call returns a count or says the ring is corrupt.
 */
#include <errno.h>
#include <pthread.h>
#include <sched.h>
#include <signal.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/prctl.h>
#include <sys/wait.h>
#include <unistd.h>

/* Every test runs against the inline calls and the exported ones: ring_ops.h. */
#define UDMA_RING_NO_INLINE 1

#include "lib/ring/ring_internal.h"
#include "tests/support/ring_ops.h"

#define COUNT	    64u
#define CANARY	    0xa5
#define OBJ_CANARY  ((void *)(uintptr_t)0xdeadbeefcafef00dull)
#define STALL_MS    30
#define PEER_WRITES 20000u	    /* scribbles per hostile run */
#define MAX_N	    (2 * COUNT + 2) /* calls ask for up to twice the capacity */

/* The variant the running test uses: its cmocka state. */
static const struct ring_ops *ops = &inline_ops;

/*
 * A ring's memory in a MAP_SHARED mapping (a forked peer writes the same
 * pages) between two PROT_NONE pages: the ring ends where the upper one
 * begins (to within the 128-byte alignment), the bytes before it are
 * canaries. A write past the ring's end faults; one before it shows.
 */
struct guarded {
	uint8_t *map, *lo, *hi; /* the mapping, its first writable byte, the upper guard page */
	size_t map_len;
	uint8_t *mem; /* the ring's memory, size bytes */
	size_t size;
};

static void guarded_map(struct guarded *g, size_t size)
{
	size_t page = (size_t)sysconf(_SC_PAGESIZE), body = (size + page - 1) / page * page;

	g->map_len = body + 2 * page;
	g->map = mmap(NULL, g->map_len, PROT_NONE, MAP_SHARED | MAP_ANONYMOUS, -1, 0);
	assert_true(g->map != MAP_FAILED);
	g->lo = g->map + page;
	g->hi = g->lo + body;
	assert_int_equal(mprotect(g->lo, body, PROT_READ | PROT_WRITE), 0);
	g->mem = (uint8_t *)((uintptr_t)(g->hi - size) & ~(uintptr_t)(UDMA_RING_ALIGN - 1));
	g->size = size;
	memset(g->lo, CANARY, body);
}

/* Nothing outside the ring's memory was written. */
static void guarded_check(const struct guarded *g)
{
	const uint8_t *p;

	for (p = g->lo; p < g->hi; p++)
		if ((p < g->mem || p >= g->mem + g->size) && *p != CANARY)
			fail_msg("byte %td outside the ring's memory (%td .. %td) was written: 0x%02x",
				 p - g->lo, g->mem - g->lo, g->mem + g->size - g->lo, *p);
}

static void guarded_unmap(struct guarded *g)
{
	guarded_check(g);
	assert_int_equal(munmap(g->map, g->map_len), 0);
}

static struct udma_ring_shared *shared(const struct guarded *g)
{
	return (struct udma_ring_shared *)g->mem;
}

/* A fresh empty ring of COUNT slots in g, and a handle on it. */
static struct udma_ring *fresh(const struct guarded *g, unsigned flags)
{
	struct udma_ring *r = NULL;

	assert_int_equal(udma_ring_init(g->mem, g->size, COUNT, flags, &r), 0);
	assert_non_null(r);
	assert_ptr_not_equal(r, g->mem); /* the handle is private */
	return r;
}

static void *obj(uintptr_t v)
{
	return (void *)(v + 1);
}

/* One call of n objects (bulk or burst) with canaries after objs[n - 1]:
 * the call must not write past them. */
static int call(struct udma_ring *r, bool enqueue, bool burst, unsigned n)
{
	void *o[MAX_N + 4];
	unsigned i;
	int rc;

	assert_true(n <= MAX_N);
	for (i = 0; i < MAX_N + 4; i++)
		o[i] = i < n ? obj(i) : OBJ_CANARY;
	if (enqueue)
		rc = burst ? ops->enq_burst(r, o, n) : ops->enq_bulk(r, o, n);
	else
		rc = burst ? ops->deq_burst(r, o, n) : ops->deq_bulk(r, o, n);
	for (i = n; i < MAX_N + 4; i++)
		assert_ptr_equal(o[i], OBJ_CANARY);
	return rc;
}

/* rc is -errnum with a message naming the cause and saying to lay out a new ring. */
static void assert_ring_err(int rc, int errnum, const char *cause)
{
	th_assert_err(rc, errnum);
	if (!strstr(udma_last_error(), cause) || !strstr(udma_last_error(), "udma_ring_init"))
		fail_msg("message without \"%s\" or the fix: %s", cause, udma_last_error());
}

static void init_and_attach(void **state)
{
	struct udma_ring *a = (struct udma_ring *)&a, *b = NULL;
	size_t need = sizeof(struct udma_ring_shared) + COUNT * sizeof(void *);
	struct guarded g;
	void *o[COUNT];
	unsigned f, i;

	ops = *state;
	th_assert_err((int)udma_ring_memsize(0), EINVAL);
	th_assert_err((int)udma_ring_memsize(100), EINVAL);
	th_assert_err((int)udma_ring_memsize(1u << 31), EINVAL);
	assert_int_equal(udma_ring_memsize(COUNT), need);
	assert_int_equal(udma_ring_memsize(RING_MAX_COUNT),
			 sizeof(struct udma_ring_shared) + (size_t)RING_MAX_COUNT * sizeof(void *));
	th_assert_err((int)udma_ring_memsize(RING_MAX_COUNT * 2), EINVAL);
	guarded_map(&g, need);

	th_assert_err(udma_ring_init(g.mem, need, COUNT, 0, NULL), EINVAL);
	assert_non_null(strstr(udma_last_error(), "NULL"));
	th_assert_err(udma_ring_init(NULL, need, COUNT, 0, &a), EINVAL);
	assert_null(a);
	th_assert_err(udma_ring_init(g.mem + 64, need, COUNT, 0, &a), EINVAL);
	assert_non_null(strstr(udma_last_error(), "align"));
	th_assert_err(udma_ring_init(g.mem, need - 1, COUNT, 0, &a), EINVAL);
	assert_non_null(strstr(udma_last_error(), "udma_ring_memsize"));
	th_assert_err(udma_ring_init(g.mem, need, COUNT - 1, 0, &a), EINVAL);
	th_assert_err(udma_ring_init(g.mem, need, COUNT, 8, &a), EINVAL);

	for (f = 0; f < 4; f++) {
		a = fresh(&g, all_flags[f]);
		assert_int_equal(udma_ring_attach(g.mem, g.size, &b), 0);
		assert_ptr_not_equal(b, a);
		assert_int_equal(udma_ring_capacity(b), COUNT);
		/* in through one handle, out through the other, in order */
		for (i = 0; i < COUNT; i++)
			o[i] = obj(i);
		assert_int_equal(ops->enq_burst(a, o, COUNT - 3), COUNT - 3);
		assert_int_equal(udma_ring_count(b), COUNT - 3);
		assert_int_equal(ops->enq_bulk(b, o, 4), 0); /* 3 free: all or nothing */
		memset(o, 0, sizeof(o));
		assert_int_equal(ops->deq_bulk(b, o, COUNT - 3), COUNT - 3);
		for (i = 0; i < COUNT - 3; i++)
			assert_ptr_equal(o[i], obj(i));
		assert_int_equal(udma_ring_count(a), 0);
		udma_ring_destroy(a);
		udma_ring_destroy(b); /* the ring lives on in its memory */
		assert_int_equal(udma_ring_attach(g.mem, g.size, &b), 0);
		assert_int_equal(udma_ring_count(b), 0);
		udma_ring_destroy(b);
		guarded_check(&g);
	}
	guarded_unmap(&g);
}

/* attach(mem) with the header changed by change(): refused with errnum and a message holding what. */
static void refused(const struct guarded *g, void (*change)(struct udma_ring_shared *sh), int errnum,
		    const char *what)
{
	struct udma_ring_shared saved;
	struct udma_ring *r = (struct udma_ring *)&r;

	memcpy(&saved, g->mem, sizeof(saved));
	change(shared(g));
	th_assert_err(udma_ring_attach(g->mem, g->size, &r), errnum);
	assert_null(r);
	if (!strstr(udma_last_error(), what))
		fail_msg("attach refused, but the message does not say \"%s\": %s", what, udma_last_error());
	memcpy(g->mem, &saved, sizeof(saved));
}

static void no_magic(struct udma_ring_shared *sh)
{
	__atomic_store_n(&sh->magic, 0x1122334455667788ull, __ATOMIC_SEQ_CST);
}

static void old_layout(struct udma_ring_shared *sh)
{
	sh->layout = 1;
}

/* What a process of the other word size lays out: slots of the other size. */
static void other_word_size(struct udma_ring_shared *sh)
{
	sh->layout ^= UDMA_RING_LAYOUT_32;
}

static void count_zero(struct udma_ring_shared *sh)
{
	sh->count = 0;
}

static void count_not_pow2(struct udma_ring_shared *sh)
{
	sh->count = 48;
}

static void count_too_large(struct udma_ring_shared *sh)
{
	sh->count = 1u << 31;
}

static void count_beyond_size(struct udma_ring_shared *sh)
{
	sh->count = 2 * COUNT;
}

static void bad_flags(struct udma_ring_shared *sh)
{
	sh->flags = 4;
}

static void attach_refuses(void **state)
{
	struct udma_ring *r = NULL;
	struct guarded g;

	ops = *state;
	guarded_map(&g, (size_t)udma_ring_memsize(COUNT));
	udma_ring_destroy(fresh(&g, 0));

	th_assert_err(udma_ring_attach(g.mem, g.size, NULL), EINVAL);
	assert_non_null(strstr(udma_last_error(), "NULL"));
	r = (struct udma_ring *)&r;
	th_assert_err(udma_ring_attach(NULL, g.size, &r), EINVAL);
	assert_null(r);
	th_assert_err(udma_ring_attach(g.mem + 8, g.size, &r), EINVAL);
	assert_non_null(strstr(udma_last_error(), "aligned"));
	th_assert_err(udma_ring_attach(g.mem, sizeof(struct udma_ring_shared) - 1, &r), EINVAL);
	assert_non_null(strstr(udma_last_error(), "header"));
	th_assert_err(udma_ring_attach(g.mem, g.size - 1, &r), EINVAL);
	assert_non_null(strstr(udma_last_error(), "cannot hold the 64 slots"));

	refused(&g, no_magic, EBADMSG, "no ring there");
	refused(&g, old_layout, EBADMSG, "layout 1");
	refused(&g, other_word_size, EBADMSG,
		sizeof(void *) == 8 ? "by a 32-bit process, this one is 64-bit"
				    : "by a 64-bit process, this one is 32-bit");
	refused(&g, count_zero, EBADMSG, "count 0 is not a power of two");
	refused(&g, count_not_pow2, EBADMSG, "count 48 is not a power of two");
	refused(&g, count_too_large, EBADMSG, "count 2147483648");
	refused(&g, count_beyond_size, EINVAL, "cannot hold the 128 slots");
	refused(&g, bad_flags, EBADMSG, "unknown flags 0x4");

	/* memory that never held a ring */
	memset(g.mem, 0, g.size);
	th_assert_err(udma_ring_attach(g.mem, g.size, &r), EBADMSG);
	assert_non_null(strstr(udma_last_error(), "no ring there"));
	guarded_unmap(&g);
}

/* A handle keeps what it checked at attach: a header rewritten afterwards
 * (a capacity 2^24 times larger, other flags) changes nothing it does, and a
 * new attach refuses the header. */
static void header_rewritten_after_attach(void **state)
{
	struct guarded g;
	unsigned f, i;

	ops = *state;
	guarded_map(&g, (size_t)udma_ring_memsize(COUNT));
	for (f = 0; f < 4; f++) {
		struct udma_ring *init = fresh(&g, all_flags[f]), *r = NULL, *again = (struct udma_ring *)&r;
		void *o[COUNT + 1];

		assert_int_equal(udma_ring_attach(g.mem, g.size, &r), 0);
		shared(&g)->count = 1u << 30;
		shared(&g)->flags = ~0u;
		shared(&g)->layout = ~0u;
		th_assert_err(udma_ring_attach(g.mem, g.size, &again), EBADMSG);
		assert_null(again);
		assert_int_equal(udma_ring_capacity(r), COUNT);
		/* exactly COUNT objects fit, twice round */
		for (i = 0; i < 2; i++) {
			assert_int_equal(call(r, true, true, MAX_N), COUNT);
			assert_int_equal(call(r, true, false, 1), 0);
			assert_int_equal(udma_ring_count(r), COUNT);
			assert_int_equal(ops->deq_burst(r, o, COUNT + 1), COUNT);
			assert_ptr_equal(o[COUNT - 1], obj(COUNT - 1));
		}
		udma_ring_destroy(r);
		udma_ring_destroy(init);
		guarded_check(&g);
	}
	guarded_unmap(&g);
}

static void set_indices(const struct guarded *g, bool producers, uint32_t head, uint32_t tail)
{
	struct udma_ring_indices *s = producers ? &shared(g)->prod : &shared(g)->cons;

	__atomic_store_n(&s->head, head, __ATOMIC_SEQ_CST);
	__atomic_store_n(&s->tail, tail, __ATOMIC_SEQ_CST);
}

/* Each call on a ring whose shared indices another process made impossible
 * reports it, and moves nothing outside the slots. */
static void corrupt_indices_reported(void **state)
{
	struct guarded g;
	unsigned f;

	ops = *state;
	guarded_map(&g, (size_t)udma_ring_memsize(COUNT));
	for (f = 0; f < 4; f++) {
		unsigned flags = all_flags[f];
		struct udma_ring *r = fresh(&g, flags);

		/* more objects than slots */
		set_indices(&g, true, 1000 + COUNT + 1, 1000 + COUNT + 1);
		set_indices(&g, false, 1000, 1000);
		assert_ring_err(call(r, false, false, 1), EBADMSG, "corrupt");
		assert_ring_err(call(r, false, true, MAX_N), EBADMSG, "corrupt");
		assert_ring_err(call(r, true, true, 1), EBADMSG, "corrupt");
		assert_ring_err(udma_ring_count(r), EBADMSG, "corrupt");
		udma_ring_destroy(r);

		/* consumers ahead of producers */
		r = fresh(&g, flags);
		set_indices(&g, false, 3, 3);
		assert_ring_err(call(r, false, true, 1), EBADMSG, "corrupt");
		assert_ring_err(call(r, true, false, 1), EBADMSG, "corrupt");
		assert_ring_err(udma_ring_count(r), EBADMSG, "corrupt");
		udma_ring_destroy(r);

		/* 1000 objects "there" and a burst asking for twice the capacity:
		 * taking them would read past the slots */
		r = fresh(&g, flags);
		set_indices(&g, false, 0u - 1000, 0u - 1000);
		assert_ring_err(call(r, false, true, MAX_N), EBADMSG, "corrupt");
		assert_ring_err(call(r, true, true, MAX_N), EBADMSG, "corrupt");
		udma_ring_destroy(r);

		/* the producers' tail ahead of their head: a producer finds it
		 * when it publishes (a single one never waits, and moves on) */
		r = fresh(&g, flags);
		set_indices(&g, true, 0, 5);
		if (flags & UDMA_RING_SP_ENQ)
			assert_int_equal(call(r, true, false, 1), 1);
		else
			assert_ring_err(call(r, true, false, 1), EBADMSG, "corrupt");
		udma_ring_destroy(r);
		guarded_check(&g);
	}
	guarded_unmap(&g);
}

/* A producer (consumer) that claimed slots and never published them, as one
 * killed mid-call leaves them: the next multi-producer (consumer) call
 * waits for it, then says so; a single one does not use the claim index. */
static void unpublished_claim_reported(void **state)
{
	struct guarded g;
	unsigned f;

	ops = *state;
	udma__ring_set_stall_ms(STALL_MS);
	guarded_map(&g, (size_t)udma_ring_memsize(COUNT));
	for (f = 0; f < 4; f++) {
		unsigned flags = all_flags[f];
		struct udma_ring *r = fresh(&g, flags);

		set_indices(&g, true, 1, 0); /* a producer claimed slot 0 */
		if (flags & UDMA_RING_SP_ENQ)
			assert_int_equal(call(r, true, false, 1), 1);
		else
			assert_ring_err(call(r, true, false, 1), ETIMEDOUT, "not published");
		udma_ring_destroy(r);

		r = fresh(&g, flags);
		assert_int_equal(call(r, true, true, 4), 4);
		set_indices(&g, false, 1, 0); /* a consumer claimed slot 0 */
		if (flags & UDMA_RING_SC_DEQ)
			assert_int_equal(call(r, false, false, 1), 1);
		else
			assert_ring_err(call(r, false, false, 1), ETIMEDOUT, "not published");
		udma_ring_destroy(r);
		guarded_check(&g);
	}
	guarded_unmap(&g);
	udma__ring_set_stall_ms(0);
}

static void *enqueue_one(void *arg)
{
	static int obj;
	void *o = &obj;

	return (void *)(intptr_t)udma_ring_enqueue_bulk(arg, &o, 1);
}

/* A ring of one's own (udma_ring_create) never fails: a claim before ours
 * that takes longer than the stall time (a stopped process, a huge copy) is
 * waited for, not reported. */
static void own_ring_waits(void **state)
{
	struct udma_ring *r;
	pthread_t t;
	void *rc;

	(void)state;
	udma__ring_set_stall_ms(STALL_MS);
	assert_int_equal(udma_ring_create(COUNT, 0, &r), 0);
	__atomic_store_n(&r->prod.sh->prod.head, 1, __ATOMIC_SEQ_CST); /* a producer claimed slot 0... */
	th_thread_start(&t, enqueue_one, r);
	usleep(10 * STALL_MS * 1000);
	__atomic_store_n(&r->prod.sh->prod.tail, 1, __ATOMIC_SEQ_CST); /* ...and publishes it late */
	pthread_join(t, &rc);
	assert_int_equal((intptr_t)rc, 1);
	assert_int_equal(udma_ring_count(r), 2);
	udma_ring_destroy(r);
	udma__ring_set_stall_ms(0);
}

/*
 * Between processes: the ring in a MAP_SHARED mapping, producers in child
 * processes with handles of their own (udma_ring_attach), the consumer here
 * checking each producer's order and that every value arrives once.
 */
#define XPROC_PER_PROD 200000u
#define BATCH_MAX      32

static int xproc_produce(void *mem, size_t len, unsigned id)
{
	struct udma_ring *r = NULL;
	uint32_t seq = 0;
	void *o[BATCH_MAX];

	if (udma_ring_attach(mem, len, &r)) {
		fprintf(stderr, "producer %u: %s\n", id, udma_last_error());
		return 1;
	}
	while (seq < XPROC_PER_PROD) {
		unsigned n = 1 + (seq * 7 + id) % BATCH_MAX, k;
		int done;

		if (n > XPROC_PER_PROD - seq)
			n = XPROC_PER_PROD - seq;
		for (k = 0; k < n; k++)
			o[k] = obj(id * XPROC_PER_PROD + seq + k);
		done = ops->enq_burst(r, o, n);
		if (done < 0) {
			fprintf(stderr, "producer %u: %s\n", id, udma_last_error());
			return 1;
		}
		seq += (unsigned)done;
		if (!done)
			sched_yield();
	}
	udma_ring_destroy(r);
	return 0;
}

static void xproc(unsigned flags, unsigned nprod)
{
	size_t len = (size_t)udma_ring_memsize(64);
	void *mem = mmap(NULL, len, PROT_READ | PROT_WRITE, MAP_SHARED | MAP_ANONYMOUS, -1, 0);
	uint32_t next[2] = {0, 0}, got_total = 0;
	struct udma_ring *r = NULL;
	pid_t pid[2];
	unsigned i;

	assert_true(mem != MAP_FAILED);
	assert_int_equal(udma_ring_init(mem, len, 64, flags, &r), 0);
	for (i = 0; i < nprod; i++) {
		pid[i] = fork();
		assert_true(pid[i] >= 0);
		if (pid[i] == 0) {
			/* not left spinning on a full ring if a check here fails */
			prctl(PR_SET_PDEATHSIG, SIGKILL);
			_exit(xproc_produce(mem, len, i));
		}
	}
	while (got_total < nprod * XPROC_PER_PROD) {
		void *o[BATCH_MAX];
		int got = ops->deq_burst(r, o, BATCH_MAX), k;

		assert_true(got >= 0);
		for (k = 0; k < got; k++) {
			uintptr_t v = (uintptr_t)o[k] - 1;
			unsigned p = (unsigned)(v / XPROC_PER_PROD);

			assert_true(p < nprod);
			assert_int_equal(v % XPROC_PER_PROD, next[p]);
			next[p]++;
		}
		got_total += (uint32_t)got;
		if (!got)
			sched_yield();
	}
	for (i = 0; i < nprod; i++) {
		int status;

		assert_int_equal(waitpid(pid[i], &status, 0), pid[i]);
		assert_true(WIFEXITED(status) && WEXITSTATUS(status) == 0);
		assert_int_equal(next[i], XPROC_PER_PROD);
	}
	assert_int_equal(udma_ring_count(r), 0);
	udma_ring_destroy(r);
	munmap(mem, len);
}

static void shared_between_processes(void **state)
{
	ops = *state;
	xproc(UDMA_RING_SP_ENQ | UDMA_RING_SC_DEQ, 1);
	xproc(UDMA_RING_SC_DEQ, 2);
}

/*
 * The hostile peer: a child process that writes PEER_WRITES times into the
 * ring's memory (random words anywhere in the header, indices moved near
 * the others', back, far, to random values, or all set alike), while a
 * producer and a consumer thread here call the ring in random batches of 0
 * to twice its capacity and the main thread counts and attaches.
 */
static uint64_t xorshift(uint64_t *x)
{
	*x ^= *x << 13;
	*x ^= *x >> 7;
	*x ^= *x << 17;
	return *x;
}

static void scribble(struct udma_ring_shared *sh, uint64_t seed)
{
	uint32_t *idx[4] = {&sh->prod.head, &sh->prod.tail, &sh->cons.head, &sh->cons.tail};
	uint64_t x = seed;
	unsigned i, k;

	for (i = 0; i < PEER_WRITES; i++) {
		uint64_t r = xorshift(&x);
		uint32_t *to = idx[r % 4], *from = idx[(r >> 2) % 4];
		int32_t delta = (int32_t)((r >> 8) % (4 * COUNT + 1)) - (int32_t)(2 * COUNT);

		switch ((r >> 20) % 8) {
		case 0: /* any word of the header */
			((volatile uint32_t *)sh)[(r >> 24) % (sizeof(*sh) / 4)] = (uint32_t)(r >> 32);
			break;
		case 1:
		case 2:
		case 3: /* near another index: plausible or just not */
			__atomic_store_n(to, __atomic_load_n(from, __ATOMIC_SEQ_CST) + (uint32_t)delta,
					 __ATOMIC_RELAXED);
			break;
		case 4: /* a step back */
			__atomic_store_n(to,
					 __atomic_load_n(to, __ATOMIC_SEQ_CST) - 1 - (uint32_t)(r >> 40) % 3,
					 __ATOMIC_RELAXED);
			break;
		case 5: /* anywhere */ __atomic_store_n(to, (uint32_t)(r >> 32), __ATOMIC_RELAXED); break;
		default: /* consistent again, for a while */
			for (k = 0; k < 4; k++)
				__atomic_store_n(idx[k], __atomic_load_n(from, __ATOMIC_SEQ_CST),
						 __ATOMIC_RELAXED);
		}
		for (k = (unsigned)(r >> 48) % 512; k; k--) /* let the calls run */
			udma_ring__pause();
		if (i % 64 == 0)
			sched_yield();
	}
}

struct hostile {
	struct udma_ring *ring;
	const struct ring_ops *ops;
	bool multi_prod, multi_cons;
	_Atomic bool stop;
	_Atomic bool bad;
	char why[512];
	_Atomic uint64_t moved, corrupt, stalled, calls;
};

static void hostile_fail(struct hostile *h, const char *side, unsigned n, int rc)
{
	bool no = false;

	if (atomic_compare_exchange_strong(&h->bad, &no, true))
		snprintf(h->why, sizeof(h->why), "%s of %u returned %d: %s", side, n, rc, udma_last_error());
}

/* One side's calls until stop: each returns 0 .. n (bulk: 0 or n, never
 * above the capacity) or a reported corruption (stall: several threads per
 * side only), and writes nothing past objs[n - 1]. */
static void hostile_side(struct hostile *h, bool producer, uint64_t seed)
{
	bool multi = producer ? h->multi_prod : h->multi_cons;
	uint64_t x = seed;
	void *o[MAX_N + 4];

	while (!atomic_load_explicit(&h->stop, memory_order_relaxed) &&
	       !atomic_load_explicit(&h->bad, memory_order_relaxed)) {
		uint64_t r = xorshift(&x);
		unsigned n = (unsigned)(r % (MAX_N + 1)), i;
		bool burst = (r >> 16) & 1;
		int rc;

		for (i = 0; i < MAX_N + 4; i++)
			o[i] = i < n ? obj(i) : OBJ_CANARY;
		if (producer)
			rc = burst ? h->ops->enq_burst(h->ring, o, n) : h->ops->enq_bulk(h->ring, o, n);
		else
			rc = burst ? h->ops->deq_burst(h->ring, o, n) : h->ops->deq_bulk(h->ring, o, n);
		for (i = n; i < MAX_N + 4; i++)
			if (o[i] != OBJ_CANARY)
				hostile_fail(
					h, producer ? "an enqueue wrote past the array: enqueue" : "dequeue",
					n, rc);
		atomic_fetch_add_explicit(&h->calls, 1, memory_order_relaxed);
		if (rc >= 0 && (unsigned)rc <= n && rc <= (int)COUNT &&
		    (burst || rc == 0 || (unsigned)rc == n))
			atomic_fetch_add_explicit(&h->moved, (unsigned)rc, memory_order_relaxed);
		else if (rc == -EBADMSG && strstr(udma_last_error(), "corrupt"))
			atomic_fetch_add_explicit(&h->corrupt, 1, memory_order_relaxed);
		else if (rc == -ETIMEDOUT && multi && strstr(udma_last_error(), "not published"))
			atomic_fetch_add_explicit(&h->stalled, 1, memory_order_relaxed);
		else
			hostile_fail(h,
				     producer ? (burst ? "enqueue burst" : "enqueue bulk")
					      : (burst ? "dequeue burst" : "dequeue bulk"),
				     n, rc);
	}
}

#ifdef TH_UNDER_TSAN
/* Indices the peer made up send the producer and the consumer to the same
 * slots at once: the race this test sets up (each access is one aligned
 * pointer, at worst a garbage object), not one in the ring. */
const char *__tsan_default_suppressions(void);
const char *__tsan_default_suppressions(void)
{
	return "race:hostile_side\n";
}
#endif

static void *hostile_producer(void *arg)
{
	hostile_side(arg, true, 0x9e3779b97f4a7c15ull);
	return NULL;
}

static void *hostile_consumer(void *arg)
{
	hostile_side(arg, false, 0xc2b2ae3d27d4eb4full);
	return NULL;
}

static void hostile_run(unsigned flags, uint64_t seed)
{
	struct hostile h;
	struct guarded g;
	pthread_t tp, tc;
	pid_t peer;
	int status, n;

	memset(&h, 0, sizeof(h));
	guarded_map(&g, (size_t)udma_ring_memsize(COUNT));
	h.ring = fresh(&g, flags);
	h.ops = ops;
	h.multi_prod = !(flags & UDMA_RING_SP_ENQ);
	h.multi_cons = !(flags & UDMA_RING_SC_DEQ);
	peer = fork();
	assert_true(peer >= 0);
	if (peer == 0) {
		prctl(PR_SET_PDEATHSIG, SIGKILL);
		scribble(shared(&g), seed);
		_exit(0);
	}
	th_thread_start(&tp, hostile_producer, &h);
	th_thread_start(&tc, hostile_consumer, &h);
	/* until the peer is done: counts in range or corrupt, attaches checked */
	while (waitpid(peer, &status, WNOHANG) == 0) {
		struct udma_ring *other = NULL;

		n = udma_ring_count(h.ring);
		if ((n < 0 && n != -EBADMSG) || n > (int)COUNT)
			hostile_fail(&h, "udma_ring_count", 0, n);
		n = udma_ring_attach(g.mem, g.size, &other);
		if (n == 0 &&
		    udma_ring_capacity(other) * sizeof(void *) + sizeof(struct udma_ring_shared) > g.size)
			hostile_fail(&h, "an attach took a capacity beyond its memory: attach", 0, n);
		else if (n && n != -EBADMSG && n != -EINVAL)
			hostile_fail(&h, "attach", 0, n);
		udma_ring_destroy(other);
		usleep(100);
	}
	atomic_store(&h.stop, true);
	pthread_join(tp, NULL);
	pthread_join(tc, NULL);
	print_message("flags %u: %lu calls, %lu objects moved, %lu reported corrupt, %lu stalled\n", flags,
		      (unsigned long)h.calls, (unsigned long)h.moved, (unsigned long)h.corrupt,
		      (unsigned long)h.stalled);
	assert_true(WIFEXITED(status) && WEXITSTATUS(status) == 0);
	if (atomic_load(&h.bad))
		fail_msg("%s", h.why);
	/* the run did both: calls that moved objects and calls that caught the peer */
	assert_true(h.moved > 0);
	assert_true(h.corrupt > 0);
	udma_ring_destroy(h.ring);
	guarded_unmap(&g);
}

static void hostile_peer(void **state)
{
	unsigned f;

	ops = *state;
	udma__ring_set_stall_ms(STALL_MS);
	/* the single-producer/consumer ring first: its calls never wait on
	 * another's, so a copy outside the slots faults before a wait hides it */
	for (f = 4; f-- > 0;)
		hostile_run(all_flags[f], 0x2545f4914f6cdd1dull * (f + 1));
	udma__ring_set_stall_ms(0);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		RING_TEST(init_and_attach, inline),
		RING_TEST(init_and_attach, lib),
		RING_TEST(attach_refuses, inline),
		RING_TEST(header_rewritten_after_attach, inline),
		RING_TEST(header_rewritten_after_attach, lib),
		RING_TEST(corrupt_indices_reported, inline),
		RING_TEST(corrupt_indices_reported, lib),
		th_test(own_ring_waits),
		RING_TEST(unpublished_claim_reported, inline),
		RING_TEST(unpublished_claim_reported, lib),
		RING_TEST(shared_between_processes, inline),
		RING_TEST(shared_between_processes, lib),
		RING_TEST(hostile_peer, inline),
		RING_TEST(hostile_peer, lib),
	};

	th_threads_warm_up(3);
	return cmocka_run_group_tests(tests, NULL, NULL);
}
