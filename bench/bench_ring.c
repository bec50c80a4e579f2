/* SPDX-License-Identifier: MIT */
/*
 * Ring enqueue + dequeue: udma_ring against DPDK's rte_ring in the same run.
 *
 * Cases: single object (udma_ring_enqueue_bulk/dequeue_bulk of 1 against
 * rte_ring_enqueue/rte_ring_dequeue) and bursts of 32 (the *_burst calls of
 * both), on a ring created single-producer/single-consumer and one created
 * multi-producer/multi-consumer, of 1024 slots:
 * - 1t: one thread enqueues then dequeues; ns per object for the pair.
 * - 2t: a producer pinned to CPU 0 and a consumer pinned to CPU 1 move
 *   --objs objects through the ring; ns per object and objects per second.
 * - 2t_mpmc_both: two threads (CPUs 0 and 1) each enqueue n then dequeue n,
 *   --objs objects in all (an eighth for single objects), so producers
 *   contend with producers and consumers with consumers; ns per object.
 * udma is measured twice: inlined, as C and C++ callers get it from
 * udma/ring.h (median_ns), and through the library's exported functions, as
 * other languages and -DUDMA_RING_NO_INLINE builds get it (call_ns).
 * DPDK needs no EAL for this: the ring is posix_memalign'ed memory of
 * rte_ring_get_memsize(count) set up by rte_ring_init().
 * The variants alternate run by run; each line gives the medians and
 * ratio = udma / dpdk (below 1: udma faster), call_ratio = call / dpdk.
 * One JSON object per line (rows of `udma bench ring` with -DBENCH_IN_CLI,
 * which has no DPDK: udma's inline and call figures alone).
 *
 * usage: bench_ring [--runs N] [--objs N] [--quick] [--case TEXT]
 */
#include <errno.h>
#include <pthread.h>
#include <sched.h>
#include <stdatomic.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

/* The exported functions under their names; the inline code (what the
 * names give a C caller by default) is reached as udma_ring__enqueue/dequeue,
 * and spin waits use the ring's own pause, udma_ring__pause. */
#define UDMA_RING_NO_INLINE 1
#include <udma/udma.h>

#include "bench_util.h"

#ifdef HAVE_DPDK
#include <rte_ring.h>
#include <rte_version.h>
#endif

#define BENCH	     "ring"
#define MAX_RUNS     1000
#define RING_COUNT   1024
#define BURST	     32
#define ONE_T_OBJS   (1u << 23) /* objects per 1-thread run */
#define DEFAULT_OBJS (1u << 23) /* objects per 2-thread run */
#define QUICK_DIV    16u	/* --quick: this many times fewer objects per run */

enum impl { UDMA, UDMA_CALL, DPDK, NIMPL };

static const char *const impl_name[NIMPL] = {"udma", "udma (call)", "dpdk"};

/*
 * The operations, with impl and burst constant at each call site so that
 * every loop below is compiled for one library and one size, the way an
 * application calls it: direct calls into libudma, DPDK's inline functions.
 * udma's calls return an int, negative only for a ring in shared memory
 * whose indices another process corrupted: never for these private rings.
 */
static inline __attribute__((always_inline)) unsigned enq(enum impl im, void *r, void *const *o, unsigned n)
{
#ifdef HAVE_DPDK
	if (im == DPDK) {
		if (n == 1)
			return rte_ring_enqueue(r, o[0]) == 0;
		return rte_ring_enqueue_burst(r, o, n, NULL);
	}
#endif
	if (im == UDMA_CALL) {
		if (n == 1)
			return udma_ring_enqueue_bulk(r, o, 1);
		return udma_ring_enqueue_burst(r, o, n);
	}
	return udma_ring__enqueue(r, o, n, n != 1);
}

static inline __attribute__((always_inline)) unsigned deq(enum impl im, void *r, void **o, unsigned n)
{
#ifdef HAVE_DPDK
	if (im == DPDK) {
		if (n == 1)
			return rte_ring_dequeue(r, &o[0]) == 0;
		return rte_ring_dequeue_burst(r, o, n, NULL);
	}
#endif
	if (im == UDMA_CALL) {
		if (n == 1)
			return udma_ring_dequeue_bulk(r, o, 1);
		return udma_ring_dequeue_burst(r, o, n);
	}
	return udma_ring__dequeue(r, o, n, n != 1);
}

static void *ring_new(enum impl im, bool single)
{
#ifdef HAVE_DPDK
	if (im == DPDK) {
		ssize_t size = rte_ring_get_memsize(RING_COUNT);
		void *mem = NULL;

		if (size < 0 || posix_memalign(&mem, 128, (size_t)size))
			return NULL;
		if (rte_ring_init(mem, "bench", RING_COUNT, single ? RING_F_SP_ENQ | RING_F_SC_DEQ : 0)) {
			free(mem);
			return NULL;
		}
		return mem;
	}
#endif
	struct udma_ring *r = NULL;

	(void)im;
	if (udma_ring_create(RING_COUNT, single ? UDMA_RING_SP_ENQ | UDMA_RING_SC_DEQ : 0, &r))
		return NULL;
	return r;
}

static void ring_free(enum impl im, void *r)
{
#ifdef HAVE_DPDK
	if (im == DPDK) {
		free(r);
		return;
	}
#endif
	(void)im;
	udma_ring_destroy(r);
}

static volatile uintptr_t sink;

/* One thread: enqueue n, dequeue n, repeat; ns per object. */
static inline __attribute__((always_inline)) double one_thread(enum impl im, void *r, unsigned n,
							       unsigned objs)
{
	void *in[BURST], *out[BURST];
	uintptr_t check = 0;
	unsigned i, iters = objs / n;
	uint64_t t0;

	for (i = 0; i < BURST; i++) {
		in[i] = (void *)(uintptr_t)(i + 1);
		out[i] = NULL;
	}
	t0 = bench_now_ns();
	for (i = 0; i < iters; i++) {
		check += enq(im, r, in, n);
		check += deq(im, r, out, n);
		check += (uintptr_t)out[0];
	}
	t0 = bench_now_ns() - t0;
	sink = check;
	if (check != (uintptr_t)iters * (2 * n + 1))
		bench_die(EIO, "%s lost objects in one thread", impl_name[im]);
	return (double)t0 / ((double)iters * n);
}

/* The loops compiled once per library and size: impl and n are constants in each. */
#define ONE_THREAD_FN(name, im, n)                                           \
	static __attribute__((noinline)) double name(void *r, unsigned objs) \
	{                                                                    \
		return one_thread(im, r, n, objs);                           \
	}
ONE_THREAD_FN(one_udma_1, UDMA, 1)
ONE_THREAD_FN(one_udma_32, UDMA, BURST)
ONE_THREAD_FN(one_call_1, UDMA_CALL, 1)
ONE_THREAD_FN(one_call_32, UDMA_CALL, BURST)
ONE_THREAD_FN(one_dpdk_1, DPDK, 1)
ONE_THREAD_FN(one_dpdk_32, DPDK, BURST)

static double (*const one_fn[NIMPL][2])(void *r, unsigned objs) = {
	{one_udma_1, one_udma_32}, {one_call_1, one_call_32}, {one_dpdk_1, one_dpdk_32}};

/* Two threads: the producer sends objs objects, the consumer takes them. */
struct two {
	void *ring;
	enum impl im;
	unsigned n, objs;
	_Atomic unsigned ready;
	_Atomic bool go;
	uint64_t t_start, t_end;
	uintptr_t sum;
	int pin_err;
	/* both sides: each thread's sum of what it dequeued and its end time */
	uintptr_t sums[2];
	uint64_t ends[2];
	_Atomic unsigned cpu;
};

static int pin(unsigned cpu)
{
	cpu_set_t set;

	CPU_ZERO(&set);
	CPU_SET(cpu, &set);
	return pthread_setaffinity_np(pthread_self(), sizeof(set), &set);
}

static void start_line(struct two *t, unsigned cpu)
{
	if (pin(cpu))
		t->pin_err = 1;
	atomic_fetch_add(&t->ready, 1);
	while (!atomic_load_explicit(&t->go, memory_order_acquire))
		udma_ring__pause();
}

static inline __attribute__((always_inline)) void produce(enum impl im, struct two *t, unsigned n)
{
	void *o[BURST];
	unsigned sent = 0, k;

	start_line(t, 0);
	t->t_start = bench_now_ns();
	while (sent < t->objs) {
		unsigned want = t->objs - sent < n ? t->objs - sent : n, done;

		for (k = 0; k < want; k++)
			o[k] = (void *)(uintptr_t)(sent + k + 1);
		done = enq(im, t->ring, o, want);
		if (!done)
			udma_ring__pause();
		sent += done;
	}
}

static inline __attribute__((always_inline)) void consume(enum impl im, struct two *t, unsigned n)
{
	void *o[BURST];
	unsigned got = 0, k;
	uintptr_t sum = 0;

	start_line(t, 1);
	while (got < t->objs) {
		unsigned done = deq(im, t->ring, o, n);

		if (!done)
			udma_ring__pause();
		for (k = 0; k < done; k++)
			sum += (uintptr_t)o[k];
		got += done;
	}
	t->t_end = bench_now_ns();
	t->sum = sum;
}

/*
 * Both sides: each of the two threads (CPUs 0 and 1) enqueues n then
 * dequeues n, objs / 2 objects each, so that producers contend with each
 * other and consumers with each other. A dequeue may get fewer than n (the
 * other thread took some): it takes the rest in the next calls.
 */
static inline __attribute__((always_inline)) void both_sides(enum impl im, struct two *t, unsigned n)
{
	unsigned cpu = atomic_fetch_add(&t->cpu, 1), sent = 0, k;
	void *in[BURST], *out[BURST];
	uintptr_t sum = 0, base = (uintptr_t)cpu * t->objs / 2;

	start_line(t, cpu);
	if (!cpu)
		t->t_start = bench_now_ns();
	while (sent < t->objs / 2) {
		unsigned got = 0;

		for (k = 0; k < n; k++)
			in[k] = (void *)(base + sent + k + 1);
		while (!enq(im, t->ring, in, n))
			udma_ring__pause();
		while (got < n) {
			unsigned done = deq(im, t->ring, out, n - got);

			if (!done)
				udma_ring__pause();
			for (k = 0; k < done; k++)
				sum += (uintptr_t)out[k];
			got += done;
		}
		sent += n;
	}
	t->ends[cpu] = bench_now_ns();
	t->sums[cpu] = sum;
}

#define THREAD_FN(name, fn, im, n)            \
	static void *name(void *arg)          \
	{                                     \
		fn(im, (struct two *)arg, n); \
		return NULL;                  \
	}
THREAD_FN(prod_udma_1, produce, UDMA, 1)
THREAD_FN(prod_udma_32, produce, UDMA, BURST)
THREAD_FN(cons_udma_1, consume, UDMA, 1)
THREAD_FN(cons_udma_32, consume, UDMA, BURST)
THREAD_FN(prod_call_1, produce, UDMA_CALL, 1)
THREAD_FN(prod_call_32, produce, UDMA_CALL, BURST)
THREAD_FN(cons_call_1, consume, UDMA_CALL, 1)
THREAD_FN(cons_call_32, consume, UDMA_CALL, BURST)
THREAD_FN(prod_dpdk_1, produce, DPDK, 1)
THREAD_FN(prod_dpdk_32, produce, DPDK, BURST)
THREAD_FN(cons_dpdk_1, consume, DPDK, 1)
THREAD_FN(cons_dpdk_32, consume, DPDK, BURST)
THREAD_FN(both_udma_1, both_sides, UDMA, 1)
THREAD_FN(both_udma_32, both_sides, UDMA, BURST)
THREAD_FN(both_call_1, both_sides, UDMA_CALL, 1)
THREAD_FN(both_call_32, both_sides, UDMA_CALL, BURST)
THREAD_FN(both_dpdk_1, both_sides, DPDK, 1)
THREAD_FN(both_dpdk_32, both_sides, DPDK, BURST)

static void *(*const prod_fn[NIMPL][2])(void *) = {
	{prod_udma_1, prod_udma_32}, {prod_call_1, prod_call_32}, {prod_dpdk_1, prod_dpdk_32}};
static void *(*const cons_fn[NIMPL][2])(void *) = {
	{cons_udma_1, cons_udma_32}, {cons_call_1, cons_call_32}, {cons_dpdk_1, cons_dpdk_32}};
static void *(*const both_fn[NIMPL][2])(void *) = {
	{both_udma_1, both_udma_32}, {both_call_1, both_call_32}, {both_dpdk_1, both_dpdk_32}};

/* ns per object through the ring, or a negative value when the threads
 * could not be pinned. both: each thread on both sides, objs in all. */
static double two_threads(enum impl im, void *r, unsigned n, unsigned objs, bool both)
{
	struct two t;
	pthread_t tp, tc;
	uintptr_t half = objs / 2;

	memset(&t, 0, sizeof(t));
	t.ring = r;
	t.im = im;
	t.n = n;
	t.objs = objs;
	if (pthread_create(&tc, NULL, (both ? both_fn : cons_fn)[im][n != 1], &t))
		return -1;
	if (pthread_create(&tp, NULL, (both ? both_fn : prod_fn)[im][n != 1], &t)) {
		atomic_store(&t.go, true);
		pthread_join(tc, NULL);
		return -1;
	}
	while (atomic_load(&t.ready) < 2)
		sched_yield();
	atomic_store_explicit(&t.go, true, memory_order_release);
	pthread_join(tp, NULL);
	pthread_join(tc, NULL);
	if (t.pin_err)
		return -1;
	if (both) {
		/* the two threads sent 1 .. objs / 2 and objs / 2 + 1 .. objs */
		t.sum = t.sums[0] + t.sums[1];
		t.t_end = t.ends[0] > t.ends[1] ? t.ends[0] : t.ends[1];
		objs = (unsigned)(2 * half);
	}
	if (t.sum != (uintptr_t)objs * (objs + 1) / 2)
		bench_die(EIO, "%s lost objects between threads", impl_name[im]);
	return (double)(t.t_end - t.t_start) / objs;
}

struct bench_case {
	const char *name;
	bool single; /* SP/SC ring, else MP/MC */
	unsigned n;  /* 1 or BURST */
	unsigned threads;
	bool both; /* 2 threads, each enqueues and dequeues */
};

static const struct bench_case cases[] = {
	{"1t_spsc_1", true, 1, 1, false},      {"1t_spsc_32", true, BURST, 1, false},
	{"1t_mpmc_1", false, 1, 1, false},     {"1t_mpmc_32", false, BURST, 1, false},
	{"2t_spsc_1", true, 1, 2, false},      {"2t_spsc_32", true, BURST, 2, false},
	{"2t_mpmc_1", false, 1, 2, false},     {"2t_mpmc_32", false, BURST, 2, false},
	{"2t_mpmc_both_1", false, 1, 2, true}, {"2t_mpmc_both_32", false, BURST, 2, true},
};

static double run_once(enum impl im, const struct bench_case *c, unsigned objs)
{
	void *r = ring_new(im, c->single);
	double ns;

	if (!r)
		return -1;
	if (c->threads == 2)
		ns = two_threads(im, r, c->n, objs, c->both);
	else
		ns = one_fn[im][c->n != 1](r, objs);
	ring_free(im, r);
	return ns;
}

static void bench_case(const struct bench_case *c, unsigned runs, unsigned objs, bool quick, bool have_dpdk)
{
	static double t[NIMPL][MAX_RUNS];
	double med[NIMPL] = {0, 0, __builtin_nan("")};
	unsigned nimpl = have_dpdk ? NIMPL : DPDK, i, k;

	/* Objects per run: a fixed count in one thread; in two, single objects
	 * cross the cores several times each, so fewer of them. */
	objs = c->threads == 1 ? ONE_T_OBJS : c->n == 1 ? objs / 8 : objs;
	if (c->both) /* each thread moves objs / 2, n at a time */
		objs = objs / (2 * c->n) * (2 * c->n);
	if (c->threads == 2 && sysconf(_SC_NPROCESSORS_ONLN) < 2) {
		bench_emit_skip(BENCH, c->name, "needs CPUs 0 and 1");
		return;
	}
	if (quick && c->threads == 1)
		objs /= QUICK_DIV;
	/* warm-up: page faults, thread creation, frequency */
	for (k = 0; k < nimpl; k++)
		run_once(k, c, objs / 8);
	for (i = 0; i < runs; i++) {
		/* rotate which variant goes first, so drift hits all alike */
		for (k = 0; k < nimpl; k++) {
			enum impl im = (i + k) % nimpl;

			t[im][i] = run_once(im, c, objs);
			if (t[im][i] < 0) {
				bench_emit_skip(BENCH, c->name,
						c->threads == 2 ? "cannot pin threads to CPUs 0 and 1"
								: "cannot create the ring");
				return;
			}
		}
	}
	for (k = 0; k < nimpl; k++)
		med[k] = bench_median(t[k], runs);
#ifdef BENCH_IN_CLI
	if (c->threads == 2)
		bench_emit_runs(BENCH, c->name, RING_COUNT, 0, t[UDMA], runs,
				BENCH_FIELDS(BENCH_NUM("call_ns", med[UDMA_CALL]),
					     BENCH_NUM("mobj_s", 1e3 / med[UDMA]), BENCH_NUM("objs", objs)));
	else
		bench_emit_runs(BENCH, c->name, RING_COUNT, 0, t[UDMA], runs,
				BENCH_FIELDS(BENCH_NUM("call_ns", med[UDMA_CALL]), BENCH_NUM("objs", objs)));
#else
	if (c->threads == 2)
		bench_emit_runs(BENCH, c->name, RING_COUNT, 0, t[UDMA], runs,
				BENCH_FIELDS(BENCH_NUM("call_ns", med[UDMA_CALL]),
					     BENCH_NUM("dpdk_ns", med[DPDK]),
					     BENCH_NUM("ratio", bench_ratio(med[UDMA], med[DPDK])),
					     BENCH_NUM("call_ratio", bench_ratio(med[UDMA_CALL], med[DPDK])),
					     BENCH_NUM("mobj_s", 1e3 / med[UDMA]),
					     BENCH_NUM("dpdk_mobj_s", bench_ratio(1e3, med[DPDK])),
					     BENCH_NUM("objs", objs)));
	else
		bench_emit_runs(BENCH, c->name, RING_COUNT, 0, t[UDMA], runs,
				BENCH_FIELDS(BENCH_NUM("call_ns", med[UDMA_CALL]),
					     BENCH_NUM("dpdk_ns", med[DPDK]),
					     BENCH_NUM("ratio", bench_ratio(med[UDMA], med[DPDK])),
					     BENCH_NUM("call_ratio", bench_ratio(med[UDMA_CALL], med[DPDK])),
					     BENCH_NUM("objs", objs)));
#endif
}

/* The udma command has no DPDK: its usage says where the comparison is. */
#ifdef BENCH_IN_CLI
#define PEER_HELP "Against DPDK's rte_ring: build/bench/bench_ring (make bench).\n"
#else
#define PEER_HELP "Against DPDK's rte_ring, in the same runs.\n"
#endif

static void usage(const char *argv0, int rc)
{
	fprintf(rc ? stderr : stdout,
		"usage: %s [--runs N] [--objs N] [--quick] [--case TEXT]\n"
		"ns per object for udma_ring enqueue+dequeue, inline and through the exported calls,\n"
		"single objects and bursts of 32, in one thread and across two.\n"
		"  --runs N     timed runs per case and library, median reported (default 7)\n"
		"  --objs N     objects per two-thread run of bursts (default %u; an eighth\n"
		"               for single objects)\n"
		"  --quick      3 runs, a sixteenth of the objects: seconds in all, for tests\n"
		"  --case TEXT  only the cases whose name contains TEXT (e.g. 2t_, spsc_1)\n" PEER_HELP
			BENCH_OUTPUT_HELP,
		argv0, DEFAULT_OBJS);
	exit(rc);
}

BENCH_MAIN(ring)
{
	struct bench_opts o = {.runs = 7};
	unsigned runs, objs = DEFAULT_OBJS, i;
	const char *only = NULL;
	int objs_set = 0;
	bool have_dpdk = false;

	for (i = 1; i < (unsigned)argc; i++) {
		if (bench_common_opt(argc, argv, &i, &o, usage))
			continue;
		if (!strcmp(argv[i], "--objs")) {
			objs = bench_parse_count("--objs", bench_opt_value(argc, argv, &i));
			objs_set = 1;
		} else if (!strcmp(argv[i], "--case")) {
			only = bench_opt_value(argc, argv, &i);
			if (!only)
				bench_usage_error(usage, "--case needs a text to match, e.g. 2t_");
		} else {
			bench_usage_error(usage, "unknown option '%s'", argv[i]);
		}
	}
	if (o.quick && !objs_set)
		objs /= QUICK_DIV;
	runs = o.runs;
	if (runs > MAX_RUNS)
		runs = MAX_RUNS;

	bench_emit_machine(BENCH);
#ifdef HAVE_DPDK
	have_dpdk = true;
	bench_emit_str(BENCH, "peer", "dpdk", rte_version(), BENCH_END);
#elif defined(BENCH_IN_CLI)
	(void)have_dpdk; /* the command never has DPDK: its usage says where the comparison is */
#else
	bench_emit_str(BENCH, "peer", "dpdk", "not built in (no libdpdk-dev): udma figures only", BENCH_END);
#endif
	for (i = 0; i < sizeof(cases) / sizeof(cases[0]); i++)
		if (!only || strstr(cases[i].name, only))
			bench_case(&cases[i], runs, objs, o.quick, have_dpdk);
	return 0;
}
