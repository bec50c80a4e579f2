/* SPDX-License-Identifier: MIT */
/*
 * Rings of one's own (udma_ring_create): arguments and errors, full and
 * empty, bulk all-or-nothing, burst partial, indices wrapping past 2^32, and
 * stress runs (2 producers + 2 consumers and the single-side variants)
 * checking that every object comes out exactly once and in each producer's
 * order. Rings in shared memory: test_ring_shared.c.
 */
#include <errno.h>
#include <pthread.h>
#include <sched.h>
#include <stdarg.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/resource.h>
#include <time.h>
#include <unistd.h>

/* Every test runs against the inline calls and the exported ones: ring_ops.h. */
#define UDMA_RING_NO_INLINE 1

#include "lib/ring/ring_internal.h"
#include "tests/support/qemu_user.h"
#include "tests/support/ring_ops.h"

/* Objects through the 2+2 stress ring: 2 * 10^7, a quarter under TSan and
 * qemu-user (about 10x slower). */
#ifdef TH_UNDER_TSAN
#define STRESS_OBJS 5000000u
#else
#define STRESS_OBJS (th_qemu_user() ? 5000000u : 20000000u)
#endif

#define MAX_THREADS  4
#define BATCH_MAX    32
#define THREAD_STACK (4u << 20) /* TSan puts ~1 MiB of TLS there */

/* The variant the running test uses: its cmocka state. */
static const struct ring_ops *ops = &inline_ops;

/* Object v as a pointer: never NULL, so a slot left unwritten shows. */
static void *obj(uintptr_t v)
{
	return (void *)(v + 1);
}

static uintptr_t val(const void *p)
{
	return (uintptr_t)p - 1;
}

static struct udma_ring *new_ring(unsigned count, unsigned flags)
{
	struct udma_ring *r = NULL;

	assert_int_equal(udma_ring_create(count, flags, &r), 0);
	assert_non_null(r);
	return r;
}

/* Enqueue values first .. first + n - 1 in one call (bulk or burst). */
static int put_seq(struct udma_ring *r, uintptr_t first, unsigned n, int burst)
{
	void *o[64];
	unsigned i;

	assert_true(n <= 64);
	for (i = 0; i < n; i++)
		o[i] = obj(first + i);
	return burst ? ops->enq_burst(r, o, n) : ops->enq_bulk(r, o, n);
}

/* Dequeue up to n and check they are first, first+1, ...; returns how many came. */
static int get_seq(struct udma_ring *r, uintptr_t first, unsigned n, int burst)
{
	void *o[64];
	int i, got;

	assert_true(n <= 64);
	memset(o, 0, sizeof(o));
	got = burst ? ops->deq_burst(r, o, n) : ops->deq_bulk(r, o, n);
	assert_true(got >= 0 && (unsigned)got <= n);
	for (i = 0; i < got; i++)
		assert_int_equal(val(o[i]), first + i);
	return got;
}

static void create_bad_args(void **state)
{
	static const unsigned bad_counts[] = {0, 3, 1000, 1u << 31, 0x80000001u, 0xc0000000u, 0xffffffffu};
	struct udma_ring *r = (struct udma_ring *)&r;
	unsigned i;

	ops = *state;
	th_assert_err(udma_ring_create(16, 0, NULL), EINVAL);
	assert_non_null(strstr(udma_last_error(), "NULL"));
	for (i = 0; i < sizeof(bad_counts) / sizeof(bad_counts[0]); i++) {
		r = (struct udma_ring *)&r;
		th_assert_err(udma_ring_create(bad_counts[i], 0, &r), EINVAL);
		assert_null(r);
		assert_non_null(strstr(udma_last_error(), "power of two"));
	}
	th_assert_err(udma_ring_create(16, 1u << 2, &r), EINVAL);
	assert_null(r);
	assert_non_null(strstr(udma_last_error(), "UDMA_RING_SP_ENQ"));
	th_assert_err(udma_ring_create(16, ~0u, &r), EINVAL);
	udma_ring_destroy(NULL); /* a no-op, like free(NULL) */
}

static void create_sizes(void **state)
{
	static const unsigned counts[] = {1, 2, 64, 4096, 1u << 20};
	unsigned i, f;

	ops = *state;
	for (i = 0; i < sizeof(counts) / sizeof(counts[0]); i++) {
		for (f = 0; f < 4; f++) {
			struct udma_ring *r = new_ring(counts[i], all_flags[f]);
			void *o[1];

			assert_int_equal(udma_ring_capacity(r), counts[i]);
			assert_int_equal(udma_ring_count(r), 0);
			assert_int_equal(ops->deq_burst(r, o, 1), 0);
			assert_int_equal(ops->deq_bulk(r, o, 1), 0);
			/* the last slot, then the first again */
			assert_int_equal(put_seq(r, 7, 1, 0), 1);
			assert_int_equal(get_seq(r, 7, 1, 0), 1);
			assert_int_equal(put_seq(r, 8, 1, 1), 1);
			assert_int_equal(udma_ring_count(r), 1);
			assert_int_equal(get_seq(r, 8, 1, 1), 1);
			udma_ring_destroy(r);
		}
	}
}

/* The largest count, 2^30 slots (8 GiB of address space, touched only where
 * used; 2^28, 1 GiB, in a 32-bit process). */
static void create_largest(void **state)
{
	struct udma_ring *r = NULL;
	int rc;

	ops = *state;
	rc = udma_ring_create(RING_MAX_COUNT, UDMA_RING_SP_ENQ | UDMA_RING_SC_DEQ, &r);
	if (rc == -ENOMEM) {
		print_message("no 8 GiB of address space here (%s)\n", udma_last_error());
		skip();
	}
	assert_int_equal(rc, 0);
	assert_int_equal(udma_ring_capacity(r), RING_MAX_COUNT);
	assert_int_equal(put_seq(r, 1, 64, 0), 64);
	assert_int_equal(udma_ring_count(r), 64);
	assert_int_equal(get_seq(r, 1, 64, 1), 64);
	/* across the end of the slot array (index RING_MAX_COUNT) and past 2^32 */
	udma__ring_set_index(r, RING_MAX_COUNT - 5);
	assert_int_equal(put_seq(r, 100, 10, 1), 10);
	assert_int_equal(get_seq(r, 100, 10, 0), 10);
	udma__ring_set_index(r, 0xfffffffbu);
	assert_int_equal(put_seq(r, 200, 10, 0), 10);
	assert_int_equal(udma_ring_count(r), 10);
	assert_int_equal(get_seq(r, 200, 10, 1), 10);
	udma_ring_destroy(r);
}

/* In a child: leave 64 MiB of address space, then ask for an 8 GiB ring. */
static int enomem_child(void *arg)
{
	struct udma_ring *r = (struct udma_ring *)&r;
	unsigned long pages;
	struct rlimit rl;
	FILE *f = fopen("/proc/self/statm", "re");
	int rc;

	(void)arg;
	if (!f)
		return 2;
	rc = fscanf(f, "%lu", &pages);
	fclose(f);
	if (rc != 1)
		return 3;
	rl.rlim_cur = rl.rlim_max = pages * (unsigned long)sysconf(_SC_PAGESIZE) + (64ul << 20);
	if (setrlimit(RLIMIT_AS, &rl))
		return 4;
	rc = udma_ring_create(RING_MAX_COUNT, 0, &r);
	if (rc != -ENOMEM || r || !strstr(udma_last_error(), "smaller count") ||
	    !strstr(udma_last_error(), "RLIMIT_AS")) {
		fprintf(stderr, "want -ENOMEM, got %d: %s\n", rc, udma_last_error());
		return 5;
	}
	return 0;
}

static void create_enomem(void **state)
{
	ops = *state;
	th_skip_if_qemu_lacks(TH_EMUL_RLIMIT_AS);
	assert_int_equal(th_run_child(enomem_child, NULL, 0, (size_t)-1), 0);
}

/* A ring holds exactly count objects (not count - 1), for every flag combination. */
static void full_capacity(void **state)
{
	unsigned f, i;

	ops = *state;
	for (f = 0; f < 4; f++) {
		struct udma_ring *r = new_ring(8, all_flags[f]);

		for (i = 0; i < 8; i++) {
			assert_int_equal(put_seq(r, i, 1, i & 1), 1);
			assert_int_equal(udma_ring_count(r), i + 1);
		}
		assert_int_equal(put_seq(r, 99, 1, 0), 0);
		assert_int_equal(put_seq(r, 99, 1, 1), 0);
		assert_int_equal(put_seq(r, 99, 4, 1), 0);
		assert_int_equal(udma_ring_count(r), 8);
		for (i = 0; i < 8; i++)
			assert_int_equal(get_seq(r, i, 1, i & 1), 1);
		assert_int_equal(get_seq(r, 0, 1, 0), 0);
		assert_int_equal(get_seq(r, 0, 1, 1), 0);
		assert_int_equal(udma_ring_count(r), 0);
		/* all at once, now starting mid-array: one call crosses the end */
		assert_int_equal(put_seq(r, 0, 3, 0), 3);
		assert_int_equal(get_seq(r, 0, 3, 0), 3);
		assert_int_equal(put_seq(r, 10, 8, 0), 8);
		assert_int_equal(udma_ring_count(r), 8);
		assert_int_equal(get_seq(r, 10, 8, 0), 8);
		/* a ring of one */
		udma_ring_destroy(r);
		r = new_ring(1, all_flags[f]);
		for (i = 0; i < 5; i++) {
			assert_int_equal(put_seq(r, i, 1, 0), 1);
			assert_int_equal(put_seq(r, 50, 1, 1), 0);
			assert_int_equal(udma_ring_count(r), 1);
			assert_int_equal(get_seq(r, i, 2, 1), 1);
		}
		udma_ring_destroy(r);
	}
}

static void bulk_all_or_nothing(void **state)
{
	unsigned f;

	ops = *state;
	for (f = 0; f < 4; f++) {
		struct udma_ring *r = new_ring(16, all_flags[f]);

		assert_int_equal(put_seq(r, 0, 0, 0), 0); /* nothing asked, nothing moved */
		assert_int_equal(get_seq(r, 0, 0, 0), 0);
		assert_int_equal(put_seq(r, 0, 17, 0), 0); /* more than the capacity: never */
		assert_int_equal(udma_ring_count(r), 0);
		assert_int_equal(put_seq(r, 0, 10, 0), 10);
		assert_int_equal(put_seq(r, 100, 7, 0), 0); /* 6 free: none taken */
		assert_int_equal(udma_ring_count(r), 10);
		assert_int_equal(put_seq(r, 10, 6, 0), 6);
		assert_int_equal(udma_ring_count(r), 16);
		assert_int_equal(get_seq(r, 0, 17, 0), 0); /* 16 there: none given */
		assert_int_equal(udma_ring_count(r), 16);
		assert_int_equal(get_seq(r, 0, 5, 0), 5);
		assert_int_equal(get_seq(r, 5, 12, 0), 0);
		assert_int_equal(get_seq(r, 5, 11, 0), 11);
		assert_int_equal(udma_ring_count(r), 0);
		udma_ring_destroy(r);
	}
}

static void burst_partial(void **state)
{
	unsigned f;

	ops = *state;
	for (f = 0; f < 4; f++) {
		struct udma_ring *r = new_ring(16, all_flags[f]);

		assert_int_equal(put_seq(r, 0, 0, 1), 0);
		assert_int_equal(put_seq(r, 0, 20, 1), 16); /* as many as fit */
		assert_int_equal(put_seq(r, 16, 5, 1), 0);
		assert_int_equal(get_seq(r, 0, 5, 1), 5);
		assert_int_equal(put_seq(r, 16, 20, 1), 5); /* exactly what was freed */
		assert_int_equal(udma_ring_count(r), 16);
		assert_int_equal(get_seq(r, 5, 64, 1), 16); /* as many as there are */
		assert_int_equal(get_seq(r, 0, 64, 1), 0);
		assert_int_equal(get_seq(r, 0, 0, 1), 0);
		udma_ring_destroy(r);
	}
}

/* Free-running indices: crossing 2^32 changes nothing, full and empty included. */
static void index_wrap(void **state)
{
	unsigned f, i;

	ops = *state;
	for (f = 0; f < 4; f++) {
		struct udma_ring *r = new_ring(8, all_flags[f]);
		uintptr_t in = 0, out = 0;

		/* full across the boundary: prod.tail wrapped, cons.tail not */
		udma__ring_set_index(r, 0xfffffffcu);
		assert_int_equal(put_seq(r, in, 8, 0), 8);
		in += 8;
		assert_int_equal(udma_ring_count(r), 8);
		assert_int_equal(put_seq(r, 99, 1, 1), 0);
		assert_int_equal(get_seq(r, out, 3, 0), 3);
		out += 3;
		assert_int_equal(udma_ring_count(r), 5);
		assert_int_equal(put_seq(r, in, 4, 1), 3);
		in += 3;
		assert_int_equal(get_seq(r, out, 64, 1), 8);
		out += 8;
		assert_int_equal(udma_ring_count(r), 0);

		/* many laps around the boundary with uneven steps */
		udma__ring_set_index(r, 0xffffff00u);
		for (i = 0; i < 2000; i++) {
			unsigned n = 1 + (i * 7) % 8, put, got;

			put = put_seq(r, in, n, i & 1);
			in += put;
			assert_true(udma_ring_count(r) <= 8);
			got = get_seq(r, out, 1 + (i * 5) % 8, i & 2);
			out += got;
			assert_int_equal(udma_ring_count(r), in - out);
		}
		assert_int_equal(get_seq(r, out, 64, 1), in - out);
		udma_ring_destroy(r);
	}
}

/*
 * Stress: producers enqueue their values p * per_prod + 0, 1, 2, ... in
 * random batches (bulk or burst); consumers take random batches and check:
 * - every value is seen exactly once (a counter per value);
 * - each consumer sees each producer's values in increasing order. That
 *   holds with any number of consumers: a producer's values sit at
 *   increasing ring indices and a consumer's claims move forward. With one
 *   consumer the order is also gapless (next == last + 1).
 * Threads run on stacks we map and unmap, so the leak check sees no cached
 * thread stacks; they do not call malloc (no new arenas) for the same reason.
 */
struct stress {
	const struct ring_ops *ops;
	struct udma_ring *ring;
	unsigned nprod, ncons;
	uint32_t per_prod, total;
	_Atomic uint32_t consumed;
	_Atomic uint8_t *seen;
	_Atomic int bad;
	char why[256];
};

struct worker {
	struct stress *s;
	unsigned id;
	uint64_t rng;
	uint64_t objs, calls_empty; /* for the report */
	uint32_t next[MAX_THREADS]; /* consumer: next value expected from each producer */
	pthread_t thread;
	void *stack;
};

static uint64_t xorshift(uint64_t *x)
{
	*x ^= *x << 13;
	*x ^= *x >> 7;
	*x ^= *x << 17;
	return *x;
}

static void stress_fail(struct stress *s, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
static void stress_fail(struct stress *s, const char *fmt, ...)
{
	int zero = 0;
	va_list ap;

	if (!atomic_compare_exchange_strong(&s->bad, &zero, 1))
		return;
	va_start(ap, fmt);
	vsnprintf(s->why, sizeof(s->why), fmt, ap);
	va_end(ap);
}

/* Nothing to do: spin briefly, then let the other threads (more than CPUs) run. */
static void backoff(unsigned *idle)
{
	if (++*idle % 16 == 0)
		sched_yield();
}

static void *producer(void *arg)
{
	struct worker *w = arg;
	struct stress *s = w->s;
	uint32_t seq = 0, base = w->id * s->per_prod;
	unsigned idle = 0;
	void *o[BATCH_MAX];

	while (seq < s->per_prod && !atomic_load_explicit(&s->bad, memory_order_relaxed)) {
		uint64_t x = xorshift(&w->rng);
		unsigned n = 1 + x % BATCH_MAX, k;
		int burst = (x >> 8) & 1, done;

		if (n > s->per_prod - seq)
			n = s->per_prod - seq;
		for (k = 0; k < n; k++)
			o[k] = obj(base + seq + k);
		done = burst ? s->ops->enq_burst(s->ring, o, n) : s->ops->enq_bulk(s->ring, o, n);
		if (done < 0 || (unsigned)done > n || (!burst && done && (unsigned)done != n)) {
			stress_fail(s, "producer %u: %s of %u returned %d (%s)", w->id,
				    burst ? "burst" : "bulk", n, done, udma_last_error());
			break;
		}
		seq += done;
		w->objs += done;
		if (!done) {
			w->calls_empty++;
			backoff(&idle);
		}
	}
	return NULL;
}

static void *consumer(void *arg)
{
	struct worker *w = arg;
	struct stress *s = w->s;
	unsigned idle = 0;
	void *o[BATCH_MAX];

	while (atomic_load_explicit(&s->consumed, memory_order_relaxed) < s->total &&
	       !atomic_load_explicit(&s->bad, memory_order_relaxed)) {
		uint64_t x = xorshift(&w->rng);
		unsigned n = 1 + x % BATCH_MAX, k;
		int burst = (x >> 8) & 1, got;

		got = burst ? s->ops->deq_burst(s->ring, o, n) : s->ops->deq_bulk(s->ring, o, n);
		if (got < 0 || (unsigned)got > n || (!burst && got && (unsigned)got != n)) {
			stress_fail(s, "consumer %u: %s of %u returned %d (%s)", w->id,
				    burst ? "burst" : "bulk", n, got, udma_last_error());
			break;
		}
		for (k = 0; k < (unsigned)got; k++) {
			uintptr_t v = val(o[k]);
			uint32_t p, seq;

			if (v >= s->total) {
				stress_fail(s, "consumer %u: value %#lx was never enqueued", w->id,
					    (unsigned long)v);
				break;
			}
			p = (uint32_t)v / s->per_prod;
			seq = (uint32_t)v % s->per_prod;
			if (seq < w->next[p] || (s->ncons == 1 && seq != w->next[p]))
				stress_fail(s,
					    "consumer %u: producer %u's value %u came when %s%u was next: "
					    "out of order",
					    w->id, p, seq, s->ncons == 1 ? "" : "at least ", w->next[p]);
			w->next[p] = seq + 1;
			if (atomic_fetch_add_explicit(&s->seen[v], 1, memory_order_relaxed))
				stress_fail(s, "consumer %u: value %#lx seen twice", w->id, (unsigned long)v);
		}
		atomic_fetch_add_explicit(&s->consumed, got, memory_order_relaxed);
		w->objs += got;
		if (!got) {
			w->calls_empty++;
			backoff(&idle);
		}
	}
	return NULL;
}

static void start_worker(struct worker *w, void *(*fn)(void *))
{
	pthread_attr_t attr;

	w->stack = mmap(NULL, THREAD_STACK, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS | MAP_STACK,
			-1, 0);
	assert_true(w->stack != MAP_FAILED);
	assert_int_equal(pthread_attr_init(&attr), 0);
	assert_int_equal(pthread_attr_setstack(&attr, w->stack, THREAD_STACK), 0);
	assert_int_equal(pthread_create(&w->thread, &attr, fn, w), 0);
	pthread_attr_destroy(&attr);
}

static void stop_worker(struct worker *w)
{
	assert_int_equal(pthread_join(w->thread, NULL), 0);
	munmap(w->stack, THREAD_STACK);
}

/* Wait for the consumers to take everything, meanwhile checking that
 * udma_ring_count never exceeds the capacity. A run that stops moving is a
 * deadlock: say so and abort rather than hang the test suite. */
static void watch(struct stress *s)
{
	unsigned cap = udma_ring_capacity(s->ring), k, still = 0;
	uint32_t last = 0, now;
	int n;

	while ((now = atomic_load(&s->consumed)) < s->total && !atomic_load(&s->bad)) {
		for (k = 0; k < 100; k++)
			if ((n = udma_ring_count(s->ring)) < 0 || (unsigned)n > cap)
				stress_fail(s, "udma_ring_count says %d in a ring of %u (%s)", n, cap,
					    udma_last_error());
		usleep(1000);
		still = now == last ? still + 1 : 0;
		last = now;
		if (still == 30000) { /* 30 s at least */
			fprintf(stderr, "stress: no progress for 30 s at %u of %u objects: deadlock\n", now,
				s->total);
			abort();
		}
	}
}

static void run_stress(unsigned nprod, unsigned ncons, unsigned flags, unsigned count, uint32_t total)
{
	struct worker w[MAX_THREADS * 2];
	struct stress s;
	uint64_t t0;
	struct timespec ts;
	unsigned i, nw = nprod + ncons;
	uint32_t v;

	memset(&s, 0, sizeof(s));
	memset(w, 0, sizeof(w));
	s.ops = ops;
	s.ring = new_ring(count, flags);
	s.nprod = nprod;
	s.ncons = ncons;
	s.per_prod = total / nprod;
	s.total = s.per_prod * nprod;
	s.seen = mmap(NULL, s.total, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
	assert_true(s.seen != MAP_FAILED);
	/* Start half-way before 2^32 so that the indices wrap mid-run. */
	udma__ring_set_index(s.ring, 0u - s.total / 2);

	clock_gettime(CLOCK_MONOTONIC, &ts);
	t0 = (uint64_t)ts.tv_sec * 1000000000u + (uint64_t)ts.tv_nsec;
	for (i = 0; i < nw; i++) {
		w[i].s = &s;
		w[i].id = i < nprod ? i : i - nprod;
		w[i].rng = 0x9e3779b97f4a7c15ull * (i + 1);
		start_worker(&w[i], i < nprod ? producer : consumer);
	}
	watch(&s);
	for (i = 0; i < nw; i++)
		stop_worker(&w[i]);
	clock_gettime(CLOCK_MONOTONIC, &ts);
	print_message("%uP/%uC ring of %u: %u objects in %.2f s (empty/full calls:", nprod, ncons, count,
		      s.total, ((uint64_t)ts.tv_sec * 1000000000u + (uint64_t)ts.tv_nsec - t0) / 1e9);
	for (i = 0; i < nw; i++)
		print_message(" %s%u %lu", i < nprod ? "P" : "C", w[i].id, (unsigned long)w[i].calls_empty);
	print_message(")\n");

	if (atomic_load(&s.bad))
		fail_msg("%s", s.why);
	assert_int_equal(atomic_load(&s.consumed), s.total);
	assert_int_equal(udma_ring_count(s.ring), 0);
	for (v = 0; v < s.total; v++)
		if (atomic_load_explicit(&s.seen[v], memory_order_relaxed) != 1)
			fail_msg("value %#x seen %u times", v, atomic_load(&s.seen[v]));
	munmap((void *)s.seen, s.total);
	udma_ring_destroy(s.ring);
}

static void stress_mpmc(void **state)
{
	ops = *state;
	run_stress(2, 2, 0, 256, STRESS_OBJS);
}

static void stress_mpmc_small(void **state)
{
	ops = *state;
	/* a ring smaller than a batch: full and empty all the time */
	run_stress(2, 2, 0, 16, STRESS_OBJS / 4);
}

static void stress_spsc(void **state)
{
	ops = *state;
	run_stress(1, 1, UDMA_RING_SP_ENQ | UDMA_RING_SC_DEQ, 256, STRESS_OBJS);
}

static void stress_mpsc(void **state)
{
	ops = *state;
	run_stress(2, 1, UDMA_RING_SC_DEQ, 256, STRESS_OBJS / 2);
}

static void stress_spmc(void **state)
{
	ops = *state;
	run_stress(1, 2, UDMA_RING_SP_ENQ, 256, STRESS_OBJS / 2);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		RING_TEST(create_bad_args, inline),	RING_TEST(create_bad_args, lib),
		RING_TEST(create_sizes, inline),	RING_TEST(create_sizes, lib),
		RING_TEST(create_largest, inline),	RING_TEST(create_largest, lib),
		RING_TEST(create_enomem, inline),	RING_TEST(create_enomem, lib),
		RING_TEST(full_capacity, inline),	RING_TEST(full_capacity, lib),
		RING_TEST(bulk_all_or_nothing, inline), RING_TEST(bulk_all_or_nothing, lib),
		RING_TEST(burst_partial, inline),	RING_TEST(burst_partial, lib),
		RING_TEST(index_wrap, inline),		RING_TEST(index_wrap, lib),
		RING_TEST(stress_mpmc, inline),		RING_TEST(stress_mpmc, lib),
		RING_TEST(stress_mpmc_small, inline),	RING_TEST(stress_mpmc_small, lib),
		RING_TEST(stress_spsc, inline),		RING_TEST(stress_spsc, lib),
		RING_TEST(stress_mpsc, inline),		RING_TEST(stress_mpsc, lib),
		RING_TEST(stress_spmc, inline),		RING_TEST(stress_spmc, lib),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
