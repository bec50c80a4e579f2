/* SPDX-License-Identifier: MIT */
/* Lock-free rings of pointers: single or multi producer, single or multi consumer. */
#ifndef UDMA_RING_H
#define UDMA_RING_H

#include <stddef.h>
#include <stdint.h>
#include <sys/types.h>

/* C11 with atomics: the enqueue/dequeue fast paths below are inlined into the
 * caller (like DPDK's rte_ring); elsewhere (C++, older C, or with
 * UDMA_RING_NO_INLINE defined) the same functions are called in the library. */
#if !defined(__cplusplus) && defined(__STDC_VERSION__) && __STDC_VERSION__ >= 201112L && \
	!defined(__STDC_NO_ATOMICS__) && defined(__GNUC__)
#define UDMA_RING_HAVE_LAYOUT 1
#include <sched.h>
#include <stdatomic.h>
#include <stdbool.h>
#endif

#ifdef __cplusplus
extern "C" {
#endif

#pragma GCC visibility push(default)

#define UDMA_RING_SP_ENQ (1u << 0) /* only one thread enqueues */
#define UDMA_RING_SC_DEQ (1u << 1) /* only one thread dequeues */

struct udma_ring;

/* count: a power of two (1 .. 2^31), the ring holds up to count objects.
 * -EINVAL for a bad count, unknown flags or a NULL out; -ENOMEM. */
int udma_ring_create(unsigned count, unsigned flags, struct udma_ring **out);
void udma_ring_destroy(struct udma_ring *ring);
/* Objects in the ring; a snapshot while other threads use it, never above capacity. */
unsigned udma_ring_count(const struct udma_ring *ring);
unsigned udma_ring_capacity(const struct udma_ring *ring);

/* A ring in memory the caller provides, e.g. a MAP_SHARED mapping that other
 * processes use through the same address cast to struct udma_ring *.
 * udma_ring_memsize: bytes needed for count objects, or -EINVAL.
 * udma_ring_init: mem aligned to 128 bytes, len >= udma_ring_memsize(count);
 * the ring is empty afterwards. udma_ring_destroy leaves such memory alone. */
ssize_t udma_ring_memsize(unsigned count);
int udma_ring_init(void *mem, size_t len, unsigned count, unsigned flags, struct udma_ring **out);

/*
 * Enqueue and dequeue never fail with an error: they return how many objects
 * moved. Bulk moves n or 0, burst as many as fit (are there). Objects come
 * out in the order they went in (each producer's, with several producers).
 * Not for a signal handler that interrupted a multi-producer (consumer) call
 * on the same ring in the same thread: it would wait for that call forever.
 *
 * unsigned udma_ring_enqueue_bulk(struct udma_ring *ring, void *const *objs, unsigned n);
 * unsigned udma_ring_enqueue_burst(struct udma_ring *ring, void *const *objs, unsigned n);
 * unsigned udma_ring_dequeue_bulk(struct udma_ring *ring, void **objs, unsigned n);
 * unsigned udma_ring_dequeue_burst(struct udma_ring *ring, void **objs, unsigned n);
 */

#ifdef UDMA_RING_HAVE_LAYOUT
/*
 * Everything below is the implementation, in the header so that it inlines:
 * a call into the library costs more than the whole single-object
 * enqueue + dequeue. Not API: use only the functions above.
 *
 * Algorithm (DPDK's): each side has a head (claimed) and a tail (published).
 * A producer claims [head, head + n) (CAS with several producers, nothing
 * to do with one), writes the slots, waits for earlier producers to
 * publish, then publishes by moving prod.tail; consumers do the same on cons
 * with prod.tail as their limit. Indices are free-running 32-bit counters
 * masked to a slot, so all count slots are usable (tail - other tail is
 * 0 .. count) and wrapping past 2^32 needs no special case.
 *
 * A single producer (consumer) keeps the consumer's (producer's) tail it last
 * read and rereads the other side's line only when that copy says there is
 * not enough room (objects): with one thread per side the lines then move
 * between cores once per ring's worth of objects, not once per call.
 */
#define UDMA_RING_ALIGN 128 /* two lines: the adjacent-line prefetcher pulls them in pairs */

/*
 * A side's own state and its tail are on separate line pairs: the other side
 * reads only the tail, so with one thread per side the head, CAS included,
 * stays in its core's cache and only the tail (and the slots) travel.
 */
struct udma_ring_side {
	_Atomic uint32_t head; /* multi: next index to claim; single: unused (== tail) */
	uint32_t other;	       /* single only: the other side's tail when last read (never ahead of it) */
	uint32_t mask;	       /* mask and capacity are copied here so that a side's fast path */
	uint32_t capacity;     /* reads its own lines and the other side's tail only */
	uint32_t single;
	/* every index before it is published to the other side */
	_Atomic uint32_t tail __attribute__((aligned(UDMA_RING_ALIGN)));
} __attribute__((aligned(UDMA_RING_ALIGN)));

/* Self-contained (no pointers), so it also works in memory shared between processes. */
struct udma_ring {
	uint64_t magic;
	uint64_t map_len; /* bytes mapped by udma_ring_create, 0 for udma_ring_init */
	uint32_t flags;
	struct udma_ring_side prod;
	struct udma_ring_side cons;
	void *slots[] __attribute__((aligned(UDMA_RING_ALIGN)));
};

static inline void udma_ring__pause(void)
{
#if defined(__x86_64__) || defined(__i386__)
	__builtin_ia32_pause();
#elif defined(__aarch64__) || defined(__arm__)
	__asm__ volatile("yield" ::: "memory");
#else
	sched_yield();
#endif
}

/*
 * Several producers (consumers): publish [idx, idx + n) once the claims
 * before ours are published (side->tail == idx). The acquire loads pair
 * with their release store of the tail: our release store then carries
 * their slot accesses along to whoever acquires our tail (a relaxed load
 * here would break that chain). Out of line: it rarely loops. (Functions
 * that are not inline are static and unused-tolerant: one copy per file
 * that uses them.)
 */
static __attribute__((noinline, cold, unused)) unsigned udma_ring__publish_after(struct udma_ring_side *side,
										 uint32_t idx, unsigned n)
{
	unsigned spins = 0;

	while (atomic_load_explicit(&side->tail, memory_order_acquire) != idx) {
		/* The thread we wait for may be preempted between its claim and
		 * its publish: after a while give it the CPU. */
		if (++spins < 256)
			udma_ring__pause();
		else
			sched_yield();
	}
	/* Release pairs with the other side's acquire of this tail. */
	atomic_store_explicit(&side->tail, idx + n, memory_order_release);
	return n;
}

/* n pointers, four at a time (the compiler pairs them into vector moves),
 * with no call to memcpy for one object. */
static inline __attribute__((always_inline)) void udma_ring__copy(void **restrict dst,
								  void *const *restrict src, size_t n)
{
	size_t k;

	for (k = 0; k + 4 <= n; k += 4) {
		dst[k] = src[k];
		dst[k + 1] = src[k + 1];
		dst[k + 2] = src[k + 2];
		dst[k + 3] = src[k + 3];
	}
	switch (n & 3) {
	case 3: dst[k + 2] = src[k + 2]; /* fallthrough */
	case 2: dst[k + 1] = src[k + 1]; /* fallthrough */
	case 1: dst[k] = src[k];
	}
}

/* True when [idx, idx + n) crosses the end of the slot array. */
static inline __attribute__((always_inline)) bool udma_ring__wraps(const struct udma_ring_side *s,
								   uint32_t idx, unsigned n)
{
	if (__builtin_constant_p(n) && n == 1)
		return false;
	return n > s->mask - (idx & s->mask) + 1;
}

/* The copy crosses the end of the array: two copies, out of line; then
 * publish (waiting for earlier claims when there are several threads). */
static __attribute__((noinline, unused)) unsigned udma_ring__enqueue_wrap(struct udma_ring *r, uint32_t head,
									  void *const *objs, unsigned n)
{
	uint32_t i = head & r->prod.mask, room = r->prod.mask - i + 1;

	udma_ring__copy(r->slots + i, objs, room);
	udma_ring__copy(r->slots, objs + room, n - room);
	return udma_ring__publish_after(&r->prod, head, n);
}

static __attribute__((noinline, unused)) unsigned udma_ring__dequeue_wrap(struct udma_ring *r, uint32_t head,
									  void **objs, unsigned n)
{
	uint32_t i = head & r->cons.mask, room = r->cons.mask - i + 1;

	udma_ring__copy(objs, r->slots + i, room);
	udma_ring__copy(objs + room, r->slots, n - room);
	return udma_ring__publish_after(&r->cons, head, n);
}

/* How many of n to take when avail are there: n, or with burst as many as
 * there are; 0 when that is none. */
static inline __attribute__((always_inline)) unsigned udma_ring__clamp(unsigned n, uint32_t avail, bool burst)
{
	if (__builtin_expect(avail >= n, 1))
		return n;
	return burst ? avail : 0;
}

/*
 * Claim [*headp, *headp + n): returns n (or with burst fewer), 0 if none.
 * With a CAS the claimed index is the value compared, not the CAS's output:
 * the copy's addresses then do not wait for the locked instruction.
 */
static inline __attribute__((always_inline)) unsigned
udma_ring__claim_mp(struct udma_ring *r, uint32_t *headp, unsigned n, bool burst)
{
	struct udma_ring_side *p = &r->prod;
	uint32_t head, old, want = n;

	/* Acquire pairs with the release CAS of the producer that set head: the
	 * cons.tail it saw is then visible, so the one we read below is not
	 * older and head - cons.tail cannot exceed the capacity. */
	head = atomic_load_explicit(&p->head, memory_order_acquire);
	do {
		/* Acquire pairs with the consumers' release store of cons.tail:
		 * their reads of the slots we reuse are done. */
		uint32_t ctail = atomic_load_explicit(&r->cons.tail, memory_order_acquire);

		n = udma_ring__clamp(want, p->capacity + ctail - head, burst);
		if (!n)
			return 0;
		old = head;
		/* Release (success) and acquire (failure, head reloaded): the
		 * pairing described at the load of head above. */
	} while (__builtin_expect(!atomic_compare_exchange_weak_explicit(&p->head, &head, old + n,
									 memory_order_release,
									 memory_order_acquire),
				  0));
	*headp = old;
	return n;
}

static inline __attribute__((always_inline)) unsigned
udma_ring__claim_sp(struct udma_ring *r, uint32_t *headp, unsigned n, bool burst)
{
	struct udma_ring_side *p = &r->prod;
	/* We are the only writer of prod.tail. */
	uint32_t head = atomic_load_explicit(&p->tail, memory_order_relaxed);

	*headp = head;
	if (__builtin_expect(p->capacity + p->other - head >= n, 1))
		return n;
	/* Acquire pairs with the consumers' release store of cons.tail. */
	p->other = atomic_load_explicit(&r->cons.tail, memory_order_acquire);
	return udma_ring__clamp(n, p->capacity + p->other - head, burst);
}

static inline __attribute__((always_inline)) unsigned
udma_ring__claim_mc(struct udma_ring *r, uint32_t *headp, unsigned n, bool burst)
{
	struct udma_ring_side *c = &r->cons;
	uint32_t head, old, want = n;

	/* Acquire pairs with the release CAS of the consumer that set head:
	 * the prod.tail it saw is visible, so prod.tail - head is not negative. */
	head = atomic_load_explicit(&c->head, memory_order_acquire);
	do {
		/* Acquire pairs with the producers' release store of prod.tail:
		 * the slots up to it are written. */
		uint32_t ptail = atomic_load_explicit(&r->prod.tail, memory_order_acquire);

		n = udma_ring__clamp(want, ptail - head, burst);
		if (!n)
			return 0;
		old = head;
	} while (__builtin_expect(!atomic_compare_exchange_weak_explicit(&c->head, &head, old + n,
									 memory_order_release,
									 memory_order_acquire),
				  0));
	*headp = old;
	return n;
}

static inline __attribute__((always_inline)) unsigned
udma_ring__claim_sc(struct udma_ring *r, uint32_t *headp, unsigned n, bool burst)
{
	struct udma_ring_side *c = &r->cons;
	/* We are the only writer of cons.tail. */
	uint32_t head = atomic_load_explicit(&c->tail, memory_order_relaxed);

	*headp = head;
	/* No expect here: a consumer that keeps up finds its copy short on every call. */
	if (c->other - head >= n)
		return n;
	/* Acquire pairs with the producers' release store of prod.tail. */
	c->other = atomic_load_explicit(&r->prod.tail, memory_order_acquire);
	return udma_ring__clamp(n, c->other - head, burst);
}

/* One call, for one or several producers (multi is a constant in each
 * expansion). The slow ends are tail calls, so the common path saves no
 * registers on the stack. */
static inline __attribute__((always_inline)) unsigned
udma_ring__enqueue_t(struct udma_ring *r, void *const *objs, unsigned n, bool burst, bool multi)
{
	struct udma_ring_side *p = &r->prod;
	uint32_t head;
	unsigned got;

	got = multi ? udma_ring__claim_mp(r, &head, n, burst) : udma_ring__claim_sp(r, &head, n, burst);
	if (__builtin_expect(!got, 0))
		return 0;
	/* Bulk got all n: say so, for a caller's constant n to reach the copy. */
	n = burst ? got : n;
	if (__builtin_expect(udma_ring__wraps(p, head, n), 0))
		return udma_ring__enqueue_wrap(r, head, objs, n);
	udma_ring__copy(r->slots + (head & p->mask), objs, n);
	/* Several producers: earlier claims publish first (acquire: see publish_after). */
	if (multi && __builtin_expect(atomic_load_explicit(&p->tail, memory_order_acquire) != head, 0))
		return udma_ring__publish_after(p, head, n);
	/* Release pairs with the consumers' acquire of prod.tail: the slots are
	 * written before they can see them. */
	atomic_store_explicit(&p->tail, head + n, memory_order_release);
	return n;
}

static inline __attribute__((always_inline)) unsigned udma_ring__dequeue_t(struct udma_ring *r, void **objs,
									   unsigned n, bool burst, bool multi)
{
	struct udma_ring_side *c = &r->cons;
	uint32_t head;
	unsigned got;

	got = multi ? udma_ring__claim_mc(r, &head, n, burst) : udma_ring__claim_sc(r, &head, n, burst);
	if (__builtin_expect(!got, 0))
		return 0;
	n = burst ? got : n;
	if (__builtin_expect(udma_ring__wraps(c, head, n), 0))
		return udma_ring__dequeue_wrap(r, head, objs, n);
	udma_ring__copy(objs, r->slots + (head & c->mask), n);
	if (multi && __builtin_expect(atomic_load_explicit(&c->tail, memory_order_acquire) != head, 0))
		return udma_ring__publish_after(c, head, n);
	/* Release pairs with the producers' acquire of cons.tail: our reads of
	 * the slots are done before they overwrite them. */
	atomic_store_explicit(&c->tail, head + n, memory_order_release);
	return n;
}

/* The SP/MP (SC/MC) branch, once per call. */
static inline __attribute__((always_inline)) unsigned
udma_ring__enqueue(struct udma_ring *r, void *const *objs, unsigned n, bool burst)
{
	if (r->prod.single)
		return udma_ring__enqueue_t(r, objs, n, burst, false);
	return udma_ring__enqueue_t(r, objs, n, burst, true);
}

static inline __attribute__((always_inline)) unsigned udma_ring__dequeue(struct udma_ring *r, void **objs,
									 unsigned n, bool burst)
{
	if (r->cons.single)
		return udma_ring__dequeue_t(r, objs, n, burst, false);
	return udma_ring__dequeue_t(r, objs, n, burst, true);
}
#endif /* UDMA_RING_HAVE_LAYOUT */

#if defined(UDMA_RING_HAVE_LAYOUT) && !defined(UDMA_RING_NO_INLINE)
static inline __attribute__((always_inline)) unsigned udma_ring_enqueue_bulk(struct udma_ring *ring,
									     void *const *objs, unsigned n)
{
	return udma_ring__enqueue(ring, objs, n, false);
}

static inline __attribute__((always_inline)) unsigned udma_ring_enqueue_burst(struct udma_ring *ring,
									      void *const *objs, unsigned n)
{
	return udma_ring__enqueue(ring, objs, n, true);
}

static inline __attribute__((always_inline)) unsigned udma_ring_dequeue_bulk(struct udma_ring *ring,
									     void **objs, unsigned n)
{
	return udma_ring__dequeue(ring, objs, n, false);
}

static inline __attribute__((always_inline)) unsigned udma_ring_dequeue_burst(struct udma_ring *ring,
									      void **objs, unsigned n)
{
	return udma_ring__dequeue(ring, objs, n, true);
}
#else
unsigned udma_ring_enqueue_bulk(struct udma_ring *ring, void *const *objs, unsigned n);
unsigned udma_ring_enqueue_burst(struct udma_ring *ring, void *const *objs, unsigned n);
unsigned udma_ring_dequeue_bulk(struct udma_ring *ring, void **objs, unsigned n);
unsigned udma_ring_dequeue_burst(struct udma_ring *ring, void **objs, unsigned n);
#endif

#pragma GCC visibility pop

#ifdef __cplusplus
}
#endif
#endif
