/* SPDX-License-Identifier: MIT */
/* The heap and threads: caches given back at thread exit, frees by another
 * thread, racing double frees that stay harmless, a context destroyed under
 * live thread caches, and a stress with pointers passed between threads. */
#include <errno.h>
#include <fcntl.h>
#include <pthread.h>
#include <semaphore.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "tests/support/helpers.h"
#include "tests/support/qemu_user.h"
#include "lib/alloc/heap_internal.h"

/* malloc + free pairs over all stress threads (TSan and qemu-user are about 10x slower) */
#ifdef TH_UNDER_TSAN
#define STRESS_OPS  2000000u
#define RACE_ROUNDS 2000u
#else
#define STRESS_OPS  (th_qemu_user() ? 2000000u : 10000000u)
#define RACE_ROUNDS (th_qemu_user() ? 2000u : 20000u)
#endif
#define STRESS_THREADS 4
#define LOCAL_SLOTS    64
#define SHARED_SLOTS   64

static struct udma__heap_stats stats(struct udma_ctx *ctx)
{
	struct udma__heap_stats st;

	assert_int_equal(udma__heap_stats(ctx, &st), 0);
	return st;
}

/* ---- a thread's cache goes back when it exits ---- */

struct batch {
	struct udma_ctx *ctx;
	size_t size;
	unsigned n;
	void **p;
};

static void *alloc_free_batch(void *arg)
{
	struct batch *b = arg;
	unsigned i;

	for (i = 0; i < b->n; i++)
		b->p[i] = udma_malloc(b->ctx, b->size, 0, NULL);
	for (i = 0; i < b->n; i++)
		udma_free(b->ctx, b->p[i]);
	return NULL;
}

static void thread_exit_returns_cache(void **state)
{
	struct udma_ctx *ctx = th_ctx();
	static void *p[100];
	struct batch b = {ctx, 64, 100, p};
	struct udma__heap_stats st;
	pthread_t t;

	(void)state;
	th_thread_start(&t, alloc_free_batch, &b);
	pthread_join(t, NULL);
	st = stats(ctx);
	assert_int_equal(st.live, 0);
	assert_int_equal(st.cached, 0); /* the thread's magazine went back to the slab */
	assert_true(st.in_slabs >= 100);
	/* and this thread gets the same objects, lowest addresses first */
	b.p = malloc(100 * sizeof(void *));
	alloc_free_batch(&b);
	st = stats(ctx);
	assert_true(st.cached > 0 && st.cached <= 64); /* what its magazine keeps (64 at most) */
	free(b.p);
	udma_ctx_destroy(ctx);
}

/* ---- one thread allocates, another frees ---- */

static void *free_all(void *arg)
{
	struct batch *b = arg;
	unsigned i;

	for (i = 0; i < b->n; i++)
		udma_free(b->ctx, b->p[i]);
	return NULL;
}

static void cross_thread_free(void **state)
{
	struct udma_ctx *ctx = th_ctx();
	static void *p[5000];
	struct batch b = {ctx, 200, 5000, p};
	size_t kept;
	pthread_t t;
	unsigned i;

	(void)state;
	for (i = 0; i < b.n; i++) {
		p[i] = udma_malloc(ctx, b.size, 0, NULL);
		assert_non_null(p[i]);
	}
	assert_int_equal(stats(ctx).live, b.n);
	kept = stats(ctx).cached; /* what this thread's last refill left in its magazine */
	th_thread_start(&t, free_all, &b);
	pthread_join(t, NULL);
	assert_int_equal(stats(ctx).live, 0);
	assert_int_equal(stats(ctx).cached, kept); /* the freeing thread exited: its cache is back */
	udma_ctx_destroy(ctx);
}

/* ---- a thread without a cache (all 65533 tags taken) goes to the slabs ---- */

static void *no_cache_thread(void *arg)
{
	struct batch *b = arg;
	unsigned i;

	alloc_free_batch(b); /* direct, under the class lock */
	for (i = 0; i < b->n; i++)
		b->p[i] = udma_malloc(b->ctx, b->size, 0, NULL);
	return NULL; /* the main thread frees them */
}

static void without_cache(void **state)
{
	struct udma_ctx *ctx = th_ctx();
	static uint64_t saved[HEAP_NTAGS / 64];
	static void *p[300];
	struct batch b = {ctx, 1000, 300, p};
	struct udma_heap *h;
	pthread_t t;
	unsigned i;

	(void)state;
	udma_free(ctx, udma_malloc(ctx, 64, 0, NULL)); /* the heap, and this thread's cache */
	h = udma__ctx_state(ctx, UDMA_CTX_SLOT_HEAP);
	pthread_mutex_lock(&h->lock);
	memcpy(saved, h->tags, sizeof(saved));
	memset(h->tags, 0xff, sizeof(h->tags));
	pthread_mutex_unlock(&h->lock);
	th_thread_start(&t, no_cache_thread, &b);
	pthread_join(t, NULL);
	pthread_mutex_lock(&h->lock);
	memcpy(h->tags, saved, sizeof(saved));
	pthread_mutex_unlock(&h->lock);
	assert_int_equal(stats(ctx).live, b.n);
	qsort(p, b.n, sizeof(p[0]), th_cmp_ptr);
	for (i = 0; i < b.n; i++) {
		assert_non_null(p[i]);
		assert_true(i == 0 || p[i - 1] != p[i]);
		memset(p[i], 0x11, b.size);
		udma_free(ctx, p[i]);
	}
	assert_int_equal(stats(ctx).live, 0);
	udma_ctx_destroy(ctx);
}

/* ---- two threads free the same pointer at the same time ---- */

struct race {
	struct udma_ctx *ctx;
	pthread_barrier_t go, done;
	void *_Atomic p;
	unsigned rounds;
	_Atomic unsigned reported; /* frees that were reported as double */
};

static void *race_free(void *arg)
{
	struct race *r = arg;
	unsigned i;
	size_t v;

	for (i = 0; i < r->rounds; i++) {
		udma_parse_size("x", &v); /* a known, silent message to compare with */
		pthread_barrier_wait(&r->go);
		udma_free(r->ctx, atomic_load(&r->p));
		if (strstr(udma_last_error(), "double free"))
			atomic_fetch_add(&r->reported, 1);
		pthread_barrier_wait(&r->done);
	}
	return NULL;
}

/* Two threads free one pointer at the same instant, round after round: in
 * every round exactly one free takes it and the other is reported, and the
 * object is never handed out twice afterwards. */
static void racing_double_free(void **state)
{
	static struct race r;
	static void *p[3000];
	pthread_t t[2];
	int saved = dup(2), null = open("/dev/null", O_WRONLY);
	unsigned i, n;

	(void)state;
	r.ctx = th_ctx();
	r.rounds = RACE_ROUNDS;
	pthread_barrier_init(&r.go, NULL, 3);
	pthread_barrier_init(&r.done, NULL, 3);
	fflush(stderr);
	dup2(null, 2); /* one report per lost race */
	for (i = 0; i < 2; i++)
		th_thread_start(&t[i], race_free, &r);
	for (i = 0; i < r.rounds; i++) {
		atomic_store(&r.p, udma_malloc(r.ctx, 64 << (i % 6), 0, NULL));
		assert_non_null(atomic_load(&r.p));
		pthread_barrier_wait(&r.go);
		pthread_barrier_wait(&r.done);
	}
	for (i = 0; i < 2; i++)
		pthread_join(t[i], NULL);
	dup2(saved, 2);
	close(saved);
	close(null);
	pthread_barrier_destroy(&r.go);
	pthread_barrier_destroy(&r.done);
	assert_int_equal(atomic_load(&r.reported), r.rounds);
	assert_int_equal(stats(r.ctx).live, 0);
	/* everything again, from this thread: each object once */
	for (n = 0; n < 3000; n++) {
		p[n] = udma_malloc(r.ctx, 64 << (n % 6), 0, NULL);
		assert_non_null(p[n]);
	}
	qsort(p, n, sizeof(p[0]), th_cmp_ptr);
	for (i = 1; i < n; i++)
		assert_ptr_not_equal(p[i - 1], p[i]);
	assert_int_equal(stats(r.ctx).live, n);
	for (i = 0; i < n; i++)
		udma_free(r.ctx, p[i]);
	udma_ctx_destroy(r.ctx);
}

/* ---- a context destroyed while threads that used it still run ---- */

struct parked {
	struct udma_ctx *ctx;
	sem_t used, leave;
};

static void *use_and_park(void *arg)
{
	struct parked *pk = arg;
	void *p = udma_malloc(pk->ctx, 128, 0, NULL);

	udma_free(pk->ctx, p); /* the thread now has a cache with an object in it */
	sem_post(&pk->used);
	sem_wait(&pk->leave); /* exits after the context is gone: no destructor runs */
	return NULL;
}

static void ctx_destroy_under_thread(void **state)
{
	struct parked pk;
	pthread_t t[2];
	unsigned i;

	(void)state;
	pk.ctx = th_ctx();
	sem_init(&pk.used, 0, 0);
	sem_init(&pk.leave, 0, 0);
	for (i = 0; i < 2; i++)
		th_thread_start(&t[i], use_and_park, &pk);
	for (i = 0; i < 2; i++)
		sem_wait(&pk.used);
	udma_ctx_destroy(pk.ctx);
	/* a new context, possibly at the same address: the threads' stale TLS must not match */
	pk.ctx = th_ctx();
	udma_free(pk.ctx, udma_malloc(pk.ctx, 128, 0, NULL));
	for (i = 0; i < 2; i++)
		sem_post(&pk.leave);
	for (i = 0; i < 2; i++)
		pthread_join(t[i], NULL);
	udma_ctx_destroy(pk.ctx);
	sem_destroy(&pk.used);
	sem_destroy(&pk.leave);
}

/* ---- stress ---- */

/* An allocation carries a header (its tag and size), its tag's low byte in
 * every byte up to 256 and a trailer: an overlap with another live one shows. */
struct hdr {
	uint64_t tag, size;
};

static void fill(uint8_t *p, size_t size, uint64_t tag)
{
	struct hdr h = {tag, size};

	if (size < sizeof(h)) {
		memset(p, (int)(tag & 0xff), size);
		return;
	}
	memset(p, (int)(tag & 0xff), size < 256 ? size : 256);
	memcpy(p, &h, sizeof(h));
	if (size >= 2 * sizeof(h))
		memcpy(p + size - sizeof(tag), &tag, sizeof(tag));
}

static int intact(const uint8_t *p, size_t size, uint64_t tag)
{
	struct hdr h;
	uint64_t t;
	size_t i;

	if (size < sizeof(h)) {
		for (i = 0; i < size; i++)
			if (p[i] != (uint8_t)tag)
				return 0;
		return 1;
	}
	memcpy(&h, p, sizeof(h));
	if (h.tag != tag || h.size != size)
		return 0;
	for (i = sizeof(h); i < (size < 256 ? size : 256) && i < size - sizeof(tag); i++)
		if (p[i] != (uint8_t)tag)
			return 0;
	if (size >= 2 * sizeof(h)) {
		memcpy(&t, p + size - sizeof(tag), sizeof(tag));
		if (t != tag)
			return 0;
	}
	return 1;
}

struct slot {
	uint8_t *p;
	size_t size;
	uint64_t tag;
};

struct stress {
	struct udma_ctx *ctx;
	unsigned ops; /* per thread */
	_Atomic unsigned long bad, iova_bad, nomem;
	/* passed between threads: the slot is taken whole under its lock */
	pthread_mutex_t lock[SHARED_SLOTS];
	struct slot shared[SHARED_SLOTS];
	struct slot local[STRESS_THREADS][LOCAL_SLOTS];
	_Atomic unsigned next_id;
};

static uint64_t xorshift(uint64_t *s)
{
	*s ^= *s << 13;
	*s ^= *s >> 7;
	*s ^= *s << 17;
	return *s;
}

static size_t stress_size(uint64_t r)
{
	unsigned k = (unsigned)(r % 100);

	if (k < 60)
		return 1 + (r >> 8) % 256; /* descriptors, headers */
	if (k < 90)
		return 1 + (r >> 8) % 4096; /* packets, blocks */
	if (k < 99)
		return 1 + (r >> 8) % 65536;
	return 1 + (r >> 8) % (512 << 10);
}

static void release(struct stress *s, struct slot *sl)
{
	if (!sl->p)
		return;
	if (!intact(sl->p, sl->size, sl->tag))
		atomic_fetch_add(&s->bad, 1);
	udma_free(s->ctx, sl->p);
	sl->p = NULL;
}

static void *stress_thread(void *arg)
{
	struct stress *s = arg;
	unsigned id = atomic_fetch_add(&s->next_id, 1), i;
	uint64_t rnd = 0x9e3779b97f4a7c15ull * (id + 1), iova;
	struct slot *local = s->local[id], mine;

	for (i = 0; i < s->ops; i++) {
		uint64_t r = xorshift(&rnd);

		mine.size = stress_size(r);
		mine.tag = ((uint64_t)id << 56) | i;
		mine.p = udma_malloc(s->ctx, mine.size, 0, &iova);
		if (!mine.p) {
			if (!atomic_fetch_add(&s->nomem, 1))
				fprintf(stderr, "udma_malloc(%zu): %s\n", mine.size, udma_last_error());
			continue;
		}
		if ((i & 63) == 0 && iova != udma_iova(s->ctx, mine.p))
			atomic_fetch_add(&s->iova_bad, 1);
		fill(mine.p, mine.size, mine.tag);
		if (r & (1ull << 40)) {
			/* keep it a while, free the one it replaces */
			struct slot *sl = &local[(r >> 20) % LOCAL_SLOTS];

			release(s, sl);
			*sl = mine;
		} else {
			/* hand it to another thread; free what was there, most likely another's */
			unsigned k = (unsigned)((r >> 24) % SHARED_SLOTS);
			struct slot old;

			pthread_mutex_lock(&s->lock[k]);
			old = s->shared[k];
			s->shared[k] = mine;
			pthread_mutex_unlock(&s->lock[k]);
			release(s, &old);
		}
	}
	return NULL;
}

static int by_slot_addr(const void *a, const void *b)
{
	uintptr_t x = (uintptr_t)((const struct slot *)a)->p, y = (uintptr_t)((const struct slot *)b)->p;

	return (x > y) - (x < y);
}

static void stress(void **state)
{
	static struct stress s;
	static struct slot all[STRESS_THREADS * LOCAL_SLOTS + SHARED_SLOTS];
	pthread_t t[STRESS_THREADS];
	unsigned i, n = 0;

	(void)state;
	memset(&s, 0, sizeof(s));
	s.ctx = th_ctx();
	s.ops = STRESS_OPS / STRESS_THREADS;
	for (i = 0; i < SHARED_SLOTS; i++)
		pthread_mutex_init(&s.lock[i], NULL);
	for (i = 0; i < STRESS_THREADS; i++)
		th_thread_start(&t[i], stress_thread, &s);
	for (i = 0; i < STRESS_THREADS; i++)
		pthread_join(t[i], NULL);
	assert_int_equal(atomic_load(&s.nomem), 0);
	assert_int_equal(atomic_load(&s.bad), 0);
	assert_int_equal(atomic_load(&s.iova_bad), 0);
	/* what is still held: intact, disjoint, and all the heap has live */
	for (i = 0; i < STRESS_THREADS * LOCAL_SLOTS; i++)
		if (s.local[i / LOCAL_SLOTS][i % LOCAL_SLOTS].p)
			all[n++] = s.local[i / LOCAL_SLOTS][i % LOCAL_SLOTS];
	for (i = 0; i < SHARED_SLOTS; i++)
		if (s.shared[i].p)
			all[n++] = s.shared[i];
	assert_int_equal(stats(s.ctx).live + stats(s.ctx).large, n);
	qsort(all, n, sizeof(all[0]), by_slot_addr);
	for (i = 0; i < n; i++) {
		assert_true(intact(all[i].p, all[i].size, all[i].tag));
		if (i)
			assert_true(all[i - 1].p + all[i - 1].size <= all[i].p);
	}
	assert_int_equal(stats(s.ctx).cached, 0); /* every stress thread exited: their caches are back */
	for (i = 0; i < n; i++)
		udma_free(s.ctx, all[i].p);
	assert_int_equal(stats(s.ctx).live, 0);
	for (i = 0; i < SHARED_SLOTS; i++)
		pthread_mutex_destroy(&s.lock[i]);
	udma_ctx_destroy(s.ctx);
}

int main(void)
{
	th_threads_warm_up(TH_MAX_THREADS);

	const struct CMUnitTest tests[] = {
		th_test(thread_exit_returns_cache), th_test(cross_thread_free),	       th_test(without_cache),
		th_test(racing_double_free),	    th_test(ctx_destroy_under_thread), th_test(stress),
	};

	th_hugepages_ensure(UDMA_PAGE_2M, 64);
	return cmocka_run_group_tests_name("heap_threads", tests, NULL, NULL);
}
