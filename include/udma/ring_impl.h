/* SPDX-License-Identifier: MIT */
/*
 * INTERNAL: the inline implementation of udma/ring.h's enqueue and dequeue.
 * Do not include this file directly (udma/ring.h does) and do not use what
 * it declares: names, layout and algorithm may change between versions. The
 * API and its manual are in udma/ring.h.
 */
#ifndef UDMA_RING_IMPL_H
#define UDMA_RING_IMPL_H

#ifndef UDMA_RING_H
#error "include <udma/ring.h>, not <udma/ring_impl.h>"
#endif

/* The inline code needs GCC's __atomic builtins, which work on plain
 * integers in C and C++ alike (C11's _Atomic does not compile as C++): one
 * layout and one code for both languages. */
#if defined(__GNUC__) && (defined(__cplusplus) || (defined(__STDC_VERSION__) && __STDC_VERSION__ >= 199901L))
#define UDMA_RING_HAVE_LAYOUT 1
#include <sched.h>
#include <stdbool.h>
#endif

#ifdef __cplusplus
extern "C" {
#endif

#pragma GCC visibility push(default)

#ifdef UDMA_RING_HAVE_LAYOUT
/*
 * Algorithm (DPDK's): each side has a head (claimed) and a tail (published).
 * A producer claims [head, head + n) (CAS with several producers, nothing
 * to do with one), writes the slots, waits for earlier producers to
 * publish, then publishes by moving prod.tail; consumers do the same on cons
 * with prod.tail as their limit. Indices are free-running 32-bit counters
 * masked to a slot, so all count slots are usable (tail - other tail is
 * 0 .. count) and wrapping past 2^32 needs no special case. Producers and
 * consumers share the claim code (udma_ring__claim_single, _multi), as
 * DPDK's move_head serves both sides: what a side may take is room for a
 * producer, objects for a consumer, and both are counted the same way.
 *
 * A single producer (consumer) keeps the consumer's (producer's) tail it last
 * read and rereads the other side's line only when that copy says there is
 * not enough room (objects): with one thread per side the lines then move
 * between cores once per ring's worth of objects, not once per call.
 *
 * Trust: the indices live in the ring's memory, which other processes may
 * write; the mask, capacity and slot address live in the handle. A slot is
 * always index & mask, and a call moves at most capacity objects (an
 * impossible index count is caught before the copy), so no index value can
 * take a copy outside the slots.
 *
 * Every access to an index is an __atomic builtin with its ordering named.
 */
#define UDMA_RING_ALIGN 128 /* two lines: the adjacent-line prefetcher pulls them in pairs */

/*
 * In the ring's memory: one side's indices. The other side reads only the
 * tail, so head and tail are on separate line pairs: with one thread per
 * side the head, CAS included, stays in its core's cache and only the tail
 * (and the slots) travel.
 */
struct udma_ring_indices {
	uint32_t head; /* multi: next index to claim; single: unused (== tail) */
	/* every index before it is published to the other side */
	uint32_t tail __attribute__((aligned(UDMA_RING_ALIGN)));
} __attribute__((aligned(UDMA_RING_ALIGN)));

/*
 * The ring's memory, as udma_ring_init lays it out: what every process
 * attached to it shares. magic, layout, count and flags are read once, by
 * udma_ring_attach, into the handle; the indices on every call (and checked
 * there). A call reaches indices and slots at fixed offsets from one pointer.
 */
struct udma_ring_shared {
	uint64_t magic __attribute__((aligned(8))); /* stored last by udma_ring_init */
	uint32_t layout;			    /* version of this layout */
	uint32_t count;
	uint32_t flags;
	struct udma_ring_indices prod;
	struct udma_ring_indices cons;
	/* then the count slots: see udma_ring__slots */
};

/* The slots, void *[count], follow the header: its size is a multiple of
 * UDMA_RING_ALIGN, so they start on a line pair of their own. An address,
 * not a flexible array member: C++ has none. Said to be aligned, as such a
 * member was, so that the compiler generates the same copies. */
static inline __attribute__((always_inline)) void **udma_ring__slots(struct udma_ring_shared *sh)
{
	return (void **)__builtin_assume_aligned(sh + 1, UDMA_RING_ALIGN);
}

/* In the handle: what one side's calls read, on a line pair of its own (the
 * other side's thread never writes it). */
struct udma_ring_side {
	struct udma_ring_shared *sh; /* the ring's memory */
	uint32_t mask;		     /* count - 1 */
	uint32_t capacity;	     /* count */
	/* single only: the other side's tail when last read (never ahead of
	 * it); a consumer keeps it minus one, its index of the last object */
	uint32_t other;
	uint32_t single; /* one thread on this side */
	uint32_t own;	 /* udma_ring_create: no other process, so every claim is published */
} __attribute__((aligned(UDMA_RING_ALIGN)));

struct udma_ring {
	struct udma_ring_side prod;
	struct udma_ring_side cons;
	size_t map_len; /* udma_ring_create: the mapping holding handle and ring, else 0 */
	unsigned flags;
};

/* A side's own indices and the other side's. */
static inline __attribute__((always_inline)) struct udma_ring_indices *
udma_ring__own(struct udma_ring_shared *sh, int producer)
{
	return producer ? &sh->prod : &sh->cons;
}

static inline __attribute__((always_inline)) const struct udma_ring_indices *
udma_ring__peer(const struct udma_ring_shared *sh, int producer)
{
	return producer ? &sh->cons : &sh->prod;
}

/* Cold ends, in the library (never inlined, also not in it, so that calls
 * to them stay tail calls): they report in udma_last_error(). */
__attribute__((cold, noinline)) int udma_ring__corrupt(const struct udma_ring_side *s, int producer,
						       uint32_t index, uint32_t other_tail);
__attribute__((cold, noinline)) int udma_ring__publish_wait(struct udma_ring_side *s, int producer,
							    uint32_t idx, unsigned n);

/* The cpu's spin-wait hint, for loops that wait on another core. Public
 * because the inline code needs it (the library's own is in lib/base). */
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
 * before ours are published (own tail == idx). The acquire loads pair
 * with their release store of the tail: our release store then carries
 * their slot accesses along to whoever acquires our tail (a relaxed load
 * here would break that chain). Out of line: it rarely loops; after a short
 * spin the library waits, checks the tail and gives up on one that never
 * comes. (Functions that are not inline are static and unused-tolerant: one
 * copy per file that uses them.)
 */
static __attribute__((noinline, cold, unused)) int
udma_ring__publish_after(struct udma_ring_side *s, int producer, uint32_t idx, unsigned n)
{
	struct udma_ring_indices *own = udma_ring__own(s->sh, producer);
	unsigned spins;

	for (spins = 0; spins < 256; spins++) {
		if (__atomic_load_n(&own->tail, __ATOMIC_ACQUIRE) == idx) {
			/* Release pairs with the other side's acquire of this tail. */
			__atomic_store_n(&own->tail, idx + n, __ATOMIC_RELEASE);
			return (int)n;
		}
		udma_ring__pause();
	}
	return udma_ring__publish_wait(s, producer, idx, n);
}

/* Marks a case that falls through, for -Wimplicit-fallthrough (clang's, and
 * gcc's at level 5, take no comment): the GNU attribute, one spelling for C
 * and every C++ standard, where the compiler has it (GCC 7, Clang 10 on);
 * empty elsewhere. Only for the copy below: undefined after it. */
#if defined(__has_attribute)
#if __has_attribute(fallthrough)
#define UDMA_RING__FALLTHROUGH __attribute__((fallthrough))
#endif
#endif
#ifndef UDMA_RING__FALLTHROUGH
#define UDMA_RING__FALLTHROUGH (void)0
#endif

/* n pointers, four at a time (the compiler pairs them into vector moves),
 * with no call to memcpy for one object. */
static inline __attribute__((always_inline)) void udma_ring__copy(void **__restrict__ dst,
								  void *const *__restrict__ src, size_t n)
{
	size_t k;

	for (k = 0; k + 4 <= n; k += 4) {
		dst[k] = src[k];
		dst[k + 1] = src[k + 1];
		dst[k + 2] = src[k + 2];
		dst[k + 3] = src[k + 3];
	}
	switch (n & 3) {
	case 3: dst[k + 2] = src[k + 2]; UDMA_RING__FALLTHROUGH;
	case 2: dst[k + 1] = src[k + 1]; UDMA_RING__FALLTHROUGH;
	case 1: dst[k] = src[k];
	}
}
#undef UDMA_RING__FALLTHROUGH

/* True when [idx, idx + n) crosses the end of the slot array. */
static inline __attribute__((always_inline)) bool udma_ring__wraps(uint32_t mask, uint32_t idx, unsigned n)
{
	if (__builtin_constant_p(n) && n == 1)
		return false;
	return n > mask - (idx & mask) + 1;
}

/* Publish [idx, idx + n) after the copy: a single producer (consumer) is
 * the only writer of its tail and has nothing to wait for; several wait for
 * earlier claims first (acquire: see publish_after). */
static inline __attribute__((always_inline)) int udma_ring__publish(struct udma_ring_side *s,
								    struct udma_ring_shared *sh, int producer,
								    uint32_t idx, unsigned n, bool multi)
{
	struct udma_ring_indices *own = udma_ring__own(sh, producer);

	if (multi && __builtin_expect(__atomic_load_n(&own->tail, __ATOMIC_ACQUIRE) != idx, 0))
		return udma_ring__publish_after(s, producer, idx, n);
	/* Release pairs with the other side's acquire of our tail: a producer's
	 * slots are written, a consumer's reads of them done, before the other
	 * side can see them. */
	__atomic_store_n(&own->tail, idx + n, __ATOMIC_RELEASE);
	return (int)n;
}

/* The copy crosses the end of the array: two copies, out of line (n is at
 * most the capacity, so the second stays in the array); then publish. */
static __attribute__((noinline, unused)) int udma_ring__move_wrap(struct udma_ring_side *s, int producer,
								  uint32_t head, void *const *in, void **out,
								  unsigned n)
{
	uint32_t i = head & s->mask, room = s->mask - i + 1;
	void **slots = udma_ring__slots(s->sh);

	if (producer) {
		udma_ring__copy(slots + i, in, room);
		udma_ring__copy(slots, in + room, n - room);
	} else {
		udma_ring__copy(out, slots + i, room);
		udma_ring__copy(out + room, slots, n - room);
	}
	return udma_ring__publish(s, s->sh, producer, head, n, !s->single);
}

/* The shared indices are impossible: report it (negative errno). The
 * compiler is told the result is negative, so that the caller's "return
 * got if got <= 0" makes this a tail call and the fast path saves no
 * registers for it. */
static inline __attribute__((always_inline)) int udma_ring__bad(const struct udma_ring_side *s, int producer,
								uint32_t index, uint32_t other_tail)
{
	int rc = udma_ring__corrupt(s, producer, index, other_tail);

	if (rc >= 0)
		__builtin_unreachable();
	return rc;
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
 * The claims, one for each side (producer is a constant in each expansion):
 * claim [*headp, *headp + n), return n (or with burst fewer), 0 if none, or
 * a negative errno when the shared indices are impossible. Both count what
 * a side cannot take, from its head to the other side's tail: for a producer
 * the used slots (head - cons.tail), for a consumer the empty ones
 * (head - prod.tail + capacity). That is 0 .. capacity; n fit when it is at
 * most capacity - n, and an impossible index makes it larger than the
 * capacity, so one compare checks both. The checks on the common paths take
 * the capacity as mask + 1 (mask is loaded for the slot anyway), in 64 bits
 * where the compiler must know it is at least 1 (one object always fits)
 * and that nothing wraps; the rarer ones compare with the capacity field.
 */

/* Several producers (consumers): head is shared, claimed with a CAS. The
 * claimed index is the value compared, not the CAS's output: the copy's
 * addresses then do not wait for the locked instruction. The CAS loop
 * retries only when another thread (or process) moved head since we read
 * it: whatever the values, it spins only as long as someone keeps writing. */
static inline __attribute__((always_inline)) int
udma_ring__claim_multi(struct udma_ring_side *s, struct udma_ring_shared *sh, uint32_t mask, int producer,
		       uint32_t *headp, unsigned n, bool burst)
{
	struct udma_ring_indices *own = udma_ring__own(sh, producer);
	const struct udma_ring_indices *peer = udma_ring__peer(sh, producer);
	uint32_t cap = mask + 1, head, old, want = n;

	/* Acquire pairs with the release CAS of the thread that set head: the
	 * other side's tail it saw is then visible, so the one we read below is
	 * not older (a producer's head is then at most the capacity past
	 * cons.tail, prod.tail not behind a consumer's head). */
	head = __atomic_load_n(&own->head, __ATOMIC_ACQUIRE);
	for (;;) {
		/* Acquire pairs with the other side's release store of its
		 * tail: the consumers' reads of the slots a producer reuses are
		 * done, the slots up to prod.tail are written. */
		uint32_t tail = __atomic_load_n(&peer->tail, __ATOMIC_ACQUIRE);
		/* what this side cannot take: used slots, or empty ones */
		uint32_t taken = producer ? head - tail : head - tail + cap;

		if (__builtin_expect(taken > cap, 0)) {
			/* A head that other threads have moved since we read it
			 * (the CAS would fail), or impossible indices: head
			 * unchanged after the other tail says which. */
			uint32_t again = __atomic_load_n(&own->head, __ATOMIC_ACQUIRE);

			if (again == head)
				return udma_ring__bad(s, producer, head, tail);
			head = again;
			continue;
		}
		n = udma_ring__clamp(want, cap - taken, burst);
		if (!n)
			return 0;
		old = head;
		/* Release (success) and acquire (failure, head reloaded): the
		 * pairing described at the load of head above. */
		if (__builtin_expect(__atomic_compare_exchange_n(&own->head, &head, old + n, true,
								 __ATOMIC_RELEASE, __ATOMIC_ACQUIRE),
				     1))
			break;
	}
	*headp = old;
	return (int)n;
}

/*
 * A single producer (consumer): we are the only writer of our tail, so the
 * claim only counts: first from the copy of the other side's tail in the
 * handle (s->other), for one object with one compare. A consumer keeps the
 * producers' tail minus one there, so it adds mask, not the capacity (the
 * field means what it meant to inline code compiled against older headers,
 * which may share the handle with this library). When the copy says no,
 * reread the other side's tail (acquire: pairs with its release store; the
 * consumers' reads of the slots a producer reuses are done, the slots up to
 * prod.tail are written). The copy is stored unchecked: the test above
 * checks it on every use. A consumer that keeps up rereads on every call,
 * so only the producer's first test is marked likely; for one object the
 * same test then decides, otherwise (or if it fails) count what there is.
 */
static inline __attribute__((always_inline)) int
udma_ring__claim_single(struct udma_ring_side *s, struct udma_ring_shared *sh, uint32_t mask, int producer,
			uint32_t *headp, unsigned n, bool burst)
{
	uint64_t cap = (uint64_t)mask + 1;
	uint32_t head = __atomic_load_n(&udma_ring__own(sh, producer)->tail, __ATOMIC_RELAXED), tail, taken;
	bool fits;

	*headp = head;
	taken = producer ? head - s->other : head - s->other + mask;
	fits = __builtin_constant_p(n) && n == 1 ? taken <= mask : (uint64_t)taken + n <= cap;
	if (producer ? __builtin_expect(fits, 1) : fits)
		return (int)n;
	tail = __atomic_load_n(&udma_ring__peer(sh, producer)->tail, __ATOMIC_ACQUIRE);
	s->other = producer ? tail : tail - 1;
	taken = producer ? head - tail : head - tail + (uint32_t)cap;
	if (__builtin_constant_p(n) && n == 1 && __builtin_expect(taken <= mask, 1))
		return 1;
	if (__builtin_expect(taken > s->capacity, 0))
		return udma_ring__bad(s, producer, head, tail);
	return (int)udma_ring__clamp(n, s->capacity - taken, burst);
}

/* One call, for either side and one or several threads on it (producer
 * and multi are constants in each expansion): an enqueue copies n objects
 * in from in, a dequeue out to out. The slow ends are tail calls, so the
 * common path saves no registers on the stack. The handle's fields are read
 * once, before any atomic or slot access (after which the compiler would
 * read them again). */
static inline __attribute__((always_inline)) int udma_ring__move(struct udma_ring_side *s, int producer,
								 void *const *in, void **out, unsigned n,
								 bool burst, bool multi)
{
	struct udma_ring_shared *sh = s->sh;
	uint32_t mask = s->mask, head;
	int got;

	got = multi ? udma_ring__claim_multi(s, sh, mask, producer, &head, n, burst)
		    : udma_ring__claim_single(s, sh, mask, producer, &head, n, burst);
	if (__builtin_expect(got <= 0, 0))
		return got;
	/* Bulk got all n: say so, for a caller's constant n to reach the copy. */
	n = burst ? (unsigned)got : n;
	if (__builtin_expect(udma_ring__wraps(mask, head, n), 0))
		return udma_ring__move_wrap(s, producer, head, in, out, n);
	if (producer)
		udma_ring__copy(udma_ring__slots(sh) + (head & mask), in, n);
	else
		udma_ring__copy(out, udma_ring__slots(sh) + (head & mask), n);
	return udma_ring__publish(s, sh, producer, head, n, multi);
}

static inline __attribute__((always_inline)) int udma_ring__enqueue_t(struct udma_ring *r, void *const *objs,
								      unsigned n, bool burst, bool multi)
{
	return udma_ring__move(&r->prod, 1, objs, NULL, n, burst, multi);
}

static inline __attribute__((always_inline)) int udma_ring__dequeue_t(struct udma_ring *r, void **objs,
								      unsigned n, bool burst, bool multi)
{
	return udma_ring__move(&r->cons, 0, NULL, objs, n, burst, multi);
}

/* The SP/MP (SC/MC) branch, once per call. */
static inline __attribute__((always_inline)) int udma_ring__enqueue(struct udma_ring *r, void *const *objs,
								    unsigned n, bool burst)
{
	if (r->prod.single)
		return udma_ring__enqueue_t(r, objs, n, burst, false);
	return udma_ring__enqueue_t(r, objs, n, burst, true);
}

static inline __attribute__((always_inline)) int udma_ring__dequeue(struct udma_ring *r, void **objs,
								    unsigned n, bool burst)
{
	if (r->cons.single)
		return udma_ring__dequeue_t(r, objs, n, burst, false);
	return udma_ring__dequeue_t(r, objs, n, burst, true);
}
#endif /* UDMA_RING_HAVE_LAYOUT */

#if defined(UDMA_RING_HAVE_LAYOUT) && !defined(UDMA_RING_NO_INLINE)
static inline __attribute__((always_inline)) int udma_ring_enqueue_bulk(struct udma_ring *ring,
									void *const *objs, unsigned n)
{
	return udma_ring__enqueue(ring, objs, n, false);
}

static inline __attribute__((always_inline)) int udma_ring_enqueue_burst(struct udma_ring *ring,
									 void *const *objs, unsigned n)
{
	return udma_ring__enqueue(ring, objs, n, true);
}

static inline __attribute__((always_inline)) int udma_ring_dequeue_bulk(struct udma_ring *ring, void **objs,
									unsigned n)
{
	return udma_ring__dequeue(ring, objs, n, false);
}

static inline __attribute__((always_inline)) int udma_ring_dequeue_burst(struct udma_ring *ring, void **objs,
									 unsigned n)
{
	return udma_ring__dequeue(ring, objs, n, true);
}
#else
int udma_ring_enqueue_bulk(struct udma_ring *ring, void *const *objs, unsigned n);
int udma_ring_enqueue_burst(struct udma_ring *ring, void *const *objs, unsigned n);
int udma_ring_dequeue_bulk(struct udma_ring *ring, void **objs, unsigned n);
int udma_ring_dequeue_burst(struct udma_ring *ring, void **objs, unsigned n);
#endif

#pragma GCC visibility pop

#ifdef __cplusplus
}
#endif
#endif
