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

/* A handle on a ring: private to the process that holds it. */
struct udma_ring;

/* A ring of its own: count a power of two (1 .. 2^30), it holds up to count
 * objects. -EINVAL for a bad count, unknown flags or a NULL out; -ENOMEM. */
int udma_ring_create(unsigned count, unsigned flags, struct udma_ring **out);

/*
 * A ring in memory the caller provides, e.g. a MAP_SHARED mapping that other
 * processes map too (at any address):
 * - udma_ring_memsize: bytes the ring needs for count objects, or -EINVAL.
 * - udma_ring_init lays out an empty ring in mem (aligned to 128 bytes, size
 *   >= udma_ring_memsize(count)) and gives a handle on it.
 * - udma_ring_attach gives a handle on a ring laid out in mem by
 *   udma_ring_init, here or in another process. It checks the ring's header
 *   (magic, layout version, count, flags, and that size holds count slots)
 *   and refuses one that does not fit: -EINVAL for mem, size or out, -EBADMSG
 *   for a header that is not a ring's.
 * A handle keeps count and flags in private memory and the calls below use
 * those only: another process writing into the ring's memory cannot make
 * them touch memory outside its slots. What the processes share, the
 * indices, is checked on every call: see the return values below.
 */
ssize_t udma_ring_memsize(unsigned count);
int udma_ring_init(void *mem, size_t size, unsigned count, unsigned flags, struct udma_ring **out);
int udma_ring_attach(void *mem, size_t size, struct udma_ring **out);

/* Releases a handle: a ring from udma_ring_create with its memory, one from
 * udma_ring_init or udma_ring_attach without (the ring lives on in mem for
 * the other handles; mem is the caller's to unmap once none is left). */
void udma_ring_destroy(struct udma_ring *ring);

/* Objects in the ring (0 .. capacity): a snapshot while other threads use
 * it; -EBADMSG if its shared indices are corrupt (see below). */
int udma_ring_count(const struct udma_ring *ring);
unsigned udma_ring_capacity(const struct udma_ring *ring);

/*
 * Enqueue and dequeue return how many objects moved: bulk n or 0, burst as
 * many as fit (are there). Objects come out in the order they went in (each
 * producer's, with several producers). A ring of one's own (udma_ring_create)
 * never fails. A ring in shared memory fails when what the processes share
 * cannot be trusted any more, with a line in udma_last_error() saying so;
 * stop using it then (lay out a new one with udma_ring_init):
 * - -EBADMSG: its indices are impossible (more objects than slots, an index
 *   that moved back): another process wrote into the ring's memory.
 * - -ETIMEDOUT (several producers or consumers only): a call that claimed
 *   slots before this one has not published them for 5 s (plus 20 ns a slot,
 *   for an honest copy of a large ring; time this thread was not running is
 *   not counted): the process that made it died or was stopped mid-call (or
 *   its index was overwritten). An enqueue's objects stay behind it; a
 *   dequeue's were already copied into objs and are out of the ring (bulk:
 *   all n; burst: the message says how many).
 *   Other handles may then see the ring as full or empty for good.
 * Not for a signal handler that interrupted a multi-producer (consumer) call
 * on the same ring in the same thread: it would wait for that call (and
 * fail with -ETIMEDOUT).
 *
 * int udma_ring_enqueue_bulk(struct udma_ring *ring, void *const *objs, unsigned n);
 * int udma_ring_enqueue_burst(struct udma_ring *ring, void *const *objs, unsigned n);
 * int udma_ring_dequeue_bulk(struct udma_ring *ring, void **objs, unsigned n);
 * int udma_ring_dequeue_burst(struct udma_ring *ring, void **objs, unsigned n);
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
 *
 * Trust: the indices live in the ring's memory, which other processes may
 * write; the mask, capacity and slot address live in the handle. A slot is
 * always index & mask, and a call moves at most capacity objects (an
 * impossible index count is caught before the copy), so no index value can
 * take a copy outside the slots.
 */
#define UDMA_RING_ALIGN 128 /* two lines: the adjacent-line prefetcher pulls them in pairs */

/*
 * In the ring's memory: one side's indices. The other side reads only the
 * tail, so head and tail are on separate line pairs: with one thread per
 * side the head, CAS included, stays in its core's cache and only the tail
 * (and the slots) travel.
 */
struct udma_ring_indices {
	_Atomic uint32_t head; /* multi: next index to claim; single: unused (== tail) */
	/* every index before it is published to the other side */
	_Atomic uint32_t tail __attribute__((aligned(UDMA_RING_ALIGN)));
} __attribute__((aligned(UDMA_RING_ALIGN)));

/*
 * The ring's memory, as udma_ring_init lays it out: what every process
 * attached to it shares. magic, layout, count and flags are read once, by
 * udma_ring_attach, into the handle; the indices on every call (and checked
 * there). A call reaches indices and slots at fixed offsets from one pointer.
 */
struct udma_ring_shared {
	_Atomic uint64_t magic; /* stored last by udma_ring_init */
	uint32_t layout;	/* version of this layout */
	uint32_t count;
	uint32_t flags;
	struct udma_ring_indices prod;
	struct udma_ring_indices cons;
	void *slots[] __attribute__((aligned(UDMA_RING_ALIGN)));
};

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
		if (atomic_load_explicit(&own->tail, memory_order_acquire) == idx) {
			/* Release pairs with the other side's acquire of this tail. */
			atomic_store_explicit(&own->tail, idx + n, memory_order_release);
			return (int)n;
		}
		udma_ring__pause();
	}
	return udma_ring__publish_wait(s, producer, idx, n);
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
static inline __attribute__((always_inline)) bool udma_ring__wraps(uint32_t mask, uint32_t idx, unsigned n)
{
	if (__builtin_constant_p(n) && n == 1)
		return false;
	return n > mask - (idx & mask) + 1;
}

/* Publish after the copy: a single producer (consumer) is the only writer
 * of its tail and has nothing to wait for; several wait for earlier claims. */
static inline __attribute__((always_inline)) int udma_ring__publish(struct udma_ring_side *s, int producer,
								    uint32_t idx, unsigned n)
{
	if (s->single) {
		atomic_store_explicit(&udma_ring__own(s->sh, producer)->tail, idx + n, memory_order_release);
		return (int)n;
	}
	return udma_ring__publish_after(s, producer, idx, n);
}

/* The copy crosses the end of the array: two copies, out of line (n is at
 * most the capacity, so the second stays in the array); then publish. */
static __attribute__((noinline, unused)) int udma_ring__enqueue_wrap(struct udma_ring_side *p, uint32_t head,
								     void *const *objs, unsigned n)
{
	uint32_t i = head & p->mask, room = p->mask - i + 1;

	udma_ring__copy(p->sh->slots + i, objs, room);
	udma_ring__copy(p->sh->slots, objs + room, n - room);
	return udma_ring__publish(p, 1, head, n);
}

static __attribute__((noinline, unused)) int udma_ring__dequeue_wrap(struct udma_ring_side *c, uint32_t head,
								     void **objs, unsigned n)
{
	uint32_t i = head & c->mask, room = c->mask - i + 1;

	udma_ring__copy(objs, c->sh->slots + i, room);
	udma_ring__copy(objs + room, c->sh->slots, n - room);
	return udma_ring__publish(c, 0, head, n);
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
 * Claim [*headp, *headp + n): returns n (or with burst fewer), 0 if none,
 * or a negative errno when the shared indices are impossible. The checks
 * on the common paths take the capacity as mask + 1 (mask is loaded for the
 * slot anyway), in 64 bits where the compiler must know it is at least 1
 * (one object always fits) and that nothing wraps; the rarer ones compare
 * with the capacity field.
 * With a CAS the claimed index is the value compared, not the CAS's output:
 * the copy's addresses then do not wait for the locked instruction.
 * The CAS loop retries only when another thread (or process) moved head
 * since we read it: whatever the values, it spins only as long as someone
 * keeps writing.
 */
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
	head = atomic_load_explicit(&own->head, memory_order_acquire);
	for (;;) {
		/* Acquire pairs with the other side's release store of its
		 * tail: the consumers' reads of the slots a producer reuses are
		 * done, the slots up to prod.tail are written. */
		uint32_t tail = atomic_load_explicit(&peer->tail, memory_order_acquire);
		/* slots used (producer), objects there (consumer) */
		uint32_t used = producer ? head - tail : tail - head;

		if (__builtin_expect(used > cap, 0)) {
			/* A head that other threads have moved since we read it
			 * (the CAS would fail), or impossible indices: head
			 * unchanged after the other tail says which. */
			uint32_t again = atomic_load_explicit(&own->head, memory_order_acquire);

			if (again == head)
				return udma_ring__bad(s, producer, head, tail);
			head = again;
			continue;
		}
		n = udma_ring__clamp(want, producer ? cap - used : used, burst);
		if (!n)
			return 0;
		old = head;
		/* Release (success) and acquire (failure, head reloaded): the
		 * pairing described at the load of head above. */
		if (__builtin_expect(atomic_compare_exchange_weak_explicit(&own->head, &head, old + n,
									   memory_order_release,
									   memory_order_acquire),
				     1))
			break;
	}
	*headp = old;
	return (int)n;
}

static inline __attribute__((always_inline)) int udma_ring__claim_sp(struct udma_ring_side *p,
								     struct udma_ring_shared *sh,
								     uint32_t mask, uint32_t *headp,
								     unsigned n, bool burst)
{
	uint64_t cap = (uint64_t)mask + 1;
	/* We are the only writer of prod.tail. */
	uint32_t head = atomic_load_explicit(&sh->prod.tail, memory_order_relaxed), ctail, used;

	*headp = head;
	/* Room for n after the used slots, by our copy of cons.tail; an
	 * impossible count (prod.tail overwritten) takes the checked path. One
	 * compare: for one object used <= mask, else in 64 bits. */
	if (__builtin_expect(__builtin_constant_p(n) && n == 1 ? head - p->other <= mask
							       : (uint64_t)(head - p->other) + n <= cap,
			     1))
		return (int)n;
	/* Acquire pairs with the consumers' release store of cons.tail. */
	ctail = atomic_load_explicit(&sh->cons.tail, memory_order_acquire);
	used = head - ctail;
	if (__builtin_expect(used > p->capacity, 0))
		return udma_ring__bad(p, 1, head, ctail);
	p->other = ctail;
	return (int)udma_ring__clamp(n, p->capacity - used, burst);
}

/* A single consumer: are n objects there, and no more than the capacity,
 * when the last one there is at index last? last - head is the count
 * minus one, in n - 1 .. mask: for one object one compare (the second
 * folds away), and an impossible count fails it too. */
static inline __attribute__((always_inline)) bool udma_ring__there(uint32_t last, uint32_t head, unsigned n,
								   uint32_t mask)
{
	return last - head <= mask && last - head >= n - 1;
}

static inline __attribute__((always_inline)) int udma_ring__claim_sc(struct udma_ring_side *c,
								     struct udma_ring_shared *sh,
								     uint32_t mask, uint32_t *headp,
								     unsigned n, bool burst)
{
	/* We are the only writer of cons.tail. */
	uint32_t head = atomic_load_explicit(&sh->cons.tail, memory_order_relaxed), last, avail;

	*headp = head;
	/* By our copy of prod.tail (kept minus one). No expect here: a
	 * consumer that keeps up finds its copy short on every call. */
	if (udma_ring__there(c->other, head, n, mask))
		return (int)n;
	/* Acquire pairs with the producers' release store of prod.tail. The
	 * copy is stored unchecked: the test above checks it on every use. For
	 * one object the same test decides (a consumer that keeps up comes
	 * here on every call); otherwise, or if it fails, count what is there. */
	last = atomic_load_explicit(&sh->prod.tail, memory_order_acquire) - 1;
	c->other = last;
	if (__builtin_constant_p(n) && n == 1 && __builtin_expect(last - head <= mask, 1))
		return 1;
	/* n or fewer there, or an impossible count (cons.tail overwritten). */
	avail = last + 1 - head;
	if (__builtin_expect(avail > c->capacity, 0))
		return udma_ring__bad(c, 0, head, last + 1);
	return (int)udma_ring__clamp(n, avail, burst);
}

/* One call, for one or several producers (multi is a constant in each
 * expansion). The slow ends are tail calls, so the common path saves no
 * registers on the stack. The handle's fields are read once, before any
 * atomic or slot access (after which the compiler would read them again). */
static inline __attribute__((always_inline)) int udma_ring__enqueue_t(struct udma_ring *r, void *const *objs,
								      unsigned n, bool burst, bool multi)
{
	struct udma_ring_side *p = &r->prod;
	struct udma_ring_shared *sh = p->sh;
	uint32_t mask = p->mask, head;
	int got;

	got = multi ? udma_ring__claim_multi(p, sh, mask, 1, &head, n, burst)
		    : udma_ring__claim_sp(p, sh, mask, &head, n, burst);
	if (__builtin_expect(got <= 0, 0))
		return got;
	/* Bulk got all n: say so, for a caller's constant n to reach the copy. */
	n = burst ? (unsigned)got : n;
	if (__builtin_expect(udma_ring__wraps(mask, head, n), 0))
		return udma_ring__enqueue_wrap(p, head, objs, n);
	udma_ring__copy(sh->slots + (head & mask), objs, n);
	/* Several producers: earlier claims publish first (acquire: see publish_after). */
	if (multi && __builtin_expect(atomic_load_explicit(&sh->prod.tail, memory_order_acquire) != head, 0))
		return udma_ring__publish_after(p, 1, head, n);
	/* Release pairs with the consumers' acquire of prod.tail: the slots are
	 * written before they can see them. */
	atomic_store_explicit(&sh->prod.tail, head + n, memory_order_release);
	return (int)n;
}

static inline __attribute__((always_inline)) int udma_ring__dequeue_t(struct udma_ring *r, void **objs,
								      unsigned n, bool burst, bool multi)
{
	struct udma_ring_side *c = &r->cons;
	struct udma_ring_shared *sh = c->sh;
	uint32_t mask = c->mask, head;
	int got;

	got = multi ? udma_ring__claim_multi(c, sh, mask, 0, &head, n, burst)
		    : udma_ring__claim_sc(c, sh, mask, &head, n, burst);
	if (__builtin_expect(got <= 0, 0))
		return got;
	n = burst ? (unsigned)got : n;
	if (__builtin_expect(udma_ring__wraps(mask, head, n), 0))
		return udma_ring__dequeue_wrap(c, head, objs, n);
	udma_ring__copy(objs, sh->slots + (head & mask), n);
	if (multi && __builtin_expect(atomic_load_explicit(&sh->cons.tail, memory_order_acquire) != head, 0))
		return udma_ring__publish_after(c, 0, head, n);
	/* Release pairs with the producers' acquire of cons.tail: our reads of
	 * the slots are done before they overwrite them. */
	atomic_store_explicit(&sh->cons.tail, head + n, memory_order_release);
	return (int)n;
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
