/* SPDX-License-Identifier: MIT */
/*
 * Lock-free rings: creation, and the exported enqueue/dequeue functions for
 * callers that do not inline them (other languages and compilers, UDMA_RING_NO_INLINE).
 * The algorithm and its memory orderings are in udma/ring_impl.h, where C
 * and C++ callers inline it; the indices are reached, as there, with GCC's
 * __atomic builtins only.
 */
/* Declare the exported functions instead of the inline ones. */
#define UDMA_RING_NO_INLINE 1

#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <time.h>

#include "lib/ring/ring_internal.h"

#define RING_FLAGS (UDMA_RING_SP_ENQ | UDMA_RING_SC_DEQ)
/* udma_ring_create: the handle first, then the ring, in one mapping. */
#define HANDLE_SIZE	  ((sizeof(struct udma_ring) + UDMA_RING_ALIGN - 1) & ~(size_t)(UDMA_RING_ALIGN - 1))
#define STALL_NS	  5000000000ull
#define STALL_NS_PER_SLOT 20 /* an honest copy of a whole ring: ~5 ns a slot here */
/* A gap this long between two looks at the tail: this thread was not running
 * (stopped, descheduled), and that is not the claimer's time. */
#define PAUSE_NS 50000000ull

/* How long a claim may stay unpublished with its tail not moving: see udma__ring_set_stall_ms. */
static uint64_t stall_ns = STALL_NS;

#ifndef UDMA_RING_HAVE_LAYOUT
#error "the ring needs GCC or Clang and C99 or later (build with -std=gnu11)"
#endif

_Static_assert(offsetof(struct udma_ring, cons) - offsetof(struct udma_ring, prod) >= UDMA_RING_ALIGN,
	       "producer and consumer handle state share a line pair");
_Static_assert(offsetof(struct udma_ring_shared, prod) >= UDMA_RING_ALIGN,
	       "the header and the producers' indices share a line pair");
_Static_assert(offsetof(struct udma_ring_shared, cons) - offsetof(struct udma_ring_shared, prod.tail) >=
		       UDMA_RING_ALIGN,
	       "the producers' tail and the consumers' indices share a line pair");
_Static_assert(sizeof(struct udma_ring_shared) - offsetof(struct udma_ring_shared, cons.tail) >=
		       UDMA_RING_ALIGN,
	       "consumer tail and slots share a line pair");
_Static_assert(offsetof(struct udma_ring_indices, tail) >= UDMA_RING_ALIGN,
	       "a side's head and tail share a line pair");

/*
 * Each entry point holds the single-producer (consumer) path for one object
 * (n known: no copy loop) and, for burst, for n; the other paths are
 * functions of their own, with burst known, reached by tail calls. So the
 * paths do not share registers and the inlined ones save none on the stack
 * (a bulk of n inlined here would: it keeps n for its result). One object
 * moves the same in bulk and in burst.
 */
#define RING_PATH(name, t, objs_type, n, burst, multi)                                                 \
	static __attribute__((noinline)) int name(struct udma_ring *r, objs_type objs, unsigned count) \
	{                                                                                              \
		(void)count;                                                                           \
		return t(r, objs, n, burst, multi);                                                    \
	}
RING_PATH(enqueue_sp_bulk, udma_ring__enqueue_t, void *const *, count, false, false)
RING_PATH(enqueue_mp_bulk, udma_ring__enqueue_t, void *const *, count, false, true)
RING_PATH(enqueue_mp_burst, udma_ring__enqueue_t, void *const *, count, true, true)
RING_PATH(enqueue_mp_one, udma_ring__enqueue_t, void *const *, 1, false, true)
RING_PATH(dequeue_sc_bulk, udma_ring__dequeue_t, void **, count, false, false)
RING_PATH(dequeue_mc_bulk, udma_ring__dequeue_t, void **, count, false, true)
RING_PATH(dequeue_mc_burst, udma_ring__dequeue_t, void **, count, true, true)
RING_PATH(dequeue_mc_one, udma_ring__dequeue_t, void **, 1, false, true)

__attribute__((hot)) int udma_ring_enqueue_bulk(struct udma_ring *ring, void *const *objs, unsigned n)
{
	if (!ring->prod.single)
		return n == 1 ? enqueue_mp_one(ring, objs, 1) : enqueue_mp_bulk(ring, objs, n);
	if (n == 1)
		return udma_ring__enqueue_t(ring, objs, 1, false, false);
	return enqueue_sp_bulk(ring, objs, n);
}

__attribute__((hot)) int udma_ring_enqueue_burst(struct udma_ring *ring, void *const *objs, unsigned n)
{
	if (!ring->prod.single)
		return n == 1 ? enqueue_mp_one(ring, objs, 1) : enqueue_mp_burst(ring, objs, n);
	if (n == 1)
		return udma_ring__enqueue_t(ring, objs, 1, false, false);
	return udma_ring__enqueue_t(ring, objs, n, true, false);
}

__attribute__((hot)) int udma_ring_dequeue_bulk(struct udma_ring *ring, void **objs, unsigned n)
{
	if (!ring->cons.single)
		return n == 1 ? dequeue_mc_one(ring, objs, 1) : dequeue_mc_bulk(ring, objs, n);
	if (n == 1)
		return udma_ring__dequeue_t(ring, objs, 1, false, false);
	return dequeue_sc_bulk(ring, objs, n);
}

__attribute__((hot)) int udma_ring_dequeue_burst(struct udma_ring *ring, void **objs, unsigned n)
{
	if (!ring->cons.single)
		return n == 1 ? dequeue_mc_one(ring, objs, 1) : dequeue_mc_burst(ring, objs, n);
	if (n == 1)
		return udma_ring__dequeue_t(ring, objs, 1, false, false);
	return udma_ring__dequeue_t(ring, objs, n, true, false);
}

/* The end of every message about a ring's shared state. */
#define CORRUPT_FIX                                                                                    \
	"another process wrote into the ring's memory (or it is not a ring): stop using the ring and " \
	"lay out a new one with udma_ring_init"

/* The calls a side makes, for messages. */
static const char *call_name(int producer)
{
	return producer ? "udma_ring_enqueue" : "udma_ring_dequeue";
}

/* How far a is past b, signed: what the messages show. */
static long past(uint32_t a, uint32_t b)
{
	return (long)(int32_t)(a - b);
}

int udma_ring__corrupt(const struct udma_ring_side *s, int producer, uint32_t index, uint32_t other_tail)
{
	/* A producer's index is at most capacity past the consumers' tail, the
	 * producers' tail at most capacity past a consumer's index. */
	uint32_t ahead = producer ? index : other_tail, behind = producer ? other_tail : index;

	return udma__err(EBADMSG,
			 "%s: the ring's shared state is corrupt: the producers' %s %u is %ld slots past the "
			 "consumers' %s %u in a ring of %u (0 .. %u is possible); " CORRUPT_FIX,
			 call_name(producer), producer ? "index" : "tail", ahead, past(ahead, behind),
			 producer ? "tail" : "index", behind, s->capacity, s->capacity);
}

static uint64_t now_ns(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (uint64_t)ts.tv_sec * 1000000000u + (uint64_t)ts.tv_nsec;
}

/*
 * The long wait of udma_ring__publish_after: the claims before ours,
 * [tail, idx), are fewer than capacity - n + 1, and their tail only moves
 * forward. A tail outside that window, or moving back, was written by
 * someone else; one that does not move for stall_ns belongs to a claim that
 * will never be published (its thread died or stopped between claim and
 * publish). Either way waiting on would be forever.
 */
int udma_ring__publish_wait(struct udma_ring_side *s, int producer, uint32_t idx, unsigned n)
{
	const char *side = producer ? "producers" : "consumers";
	struct udma_ring_indices *own = udma_ring__own(s->sh, producer);
	uint32_t tail, last = __atomic_load_n(&own->tail, __ATOMIC_ACQUIRE);
	uint64_t since = now_ns(), prev = since, now,
		 stall = __atomic_load_n(&stall_ns, __ATOMIC_RELAXED) +
			 (uint64_t)s->capacity * STALL_NS_PER_SLOT;

	for (;;) {
		/* Acquire: see udma_ring__publish_after. */
		tail = __atomic_load_n(&own->tail, __ATOMIC_ACQUIRE);
		if (tail == idx) {
			__atomic_store_n(&own->tail, idx + n, __ATOMIC_RELEASE);
			return (int)n;
		}
		if (idx - tail > s->capacity - n || (int32_t)(tail - last) < 0)
			return udma__err(
				EBADMSG,
				"%s: the ring's shared state is corrupt: the %s' tail went from %u to "
				"%u while this call waited for it to reach %u (at most %u behind it, "
				"and only forward) to publish its own %u; " CORRUPT_FIX,
				call_name(producer), side, last, tail, idx, s->capacity - n, n);
		now = now_ns();
		if (now - prev > PAUSE_NS)
			since += now - prev;
		prev = now;
		if (tail != last) {
			last = tail;
			since = now;
		} else if (!s->own && now - since > stall) {
			return udma__err(
				ETIMEDOUT,
				"%s: %u %s' slots from index %u were claimed and not published for "
				"%.2f s: the thread or process that claimed them died or was stopped "
				"mid-call (or the ring's memory was overwritten); this call's %u "
				"objects %s: stop using the ring and lay out a new one with "
				"udma_ring_init in new memory",
				call_name(producer), idx - tail, side, tail, (double)(now - since) / 1e9, n,
				producer ? "wait behind them" : "are in objs, out of the ring");
		}
		sched_yield();
	}
}

int udma_ring_count(const struct udma_ring *ring)
{
	const struct udma_ring_shared *sh = ring->prod.sh;
	uint32_t cap = ring->prod.capacity, ctail, ptail, again;
	unsigned tries;

	for (tries = 0;; tries++) {
		/* Acquire pairs with the consumers' release of cons.tail: the
		 * prod.tail they saw (at least cons.tail) is visible, so ptail -
		 * ctail is not negative. Acquire of prod.tail likewise makes the
		 * cons.tail its producer saw visible: if cons.tail is still ctail
		 * after it, ptail - ctail is at most the capacity. */
		ctail = __atomic_load_n(&sh->cons.tail, __ATOMIC_ACQUIRE);
		ptail = __atomic_load_n(&sh->prod.tail, __ATOMIC_ACQUIRE);
		again = __atomic_load_n(&sh->cons.tail, __ATOMIC_RELAXED);
		if (ptail - ctail <= cap && again == ctail)
			return (int)(ptail - ctail);
		if ((int32_t)(ptail - ctail) < 0 || again == ctail)
			return udma__err(
				EBADMSG,
				"udma_ring_count: the ring's shared state is corrupt: the producers' "
				"tail %u is %ld slots past the consumers' tail %u in a ring of %u (0 .. "
				"%u is possible); " CORRUPT_FIX,
				ptail, past(ptail, ctail), ctail, cap, cap);
		/* The consumers moved meanwhile: try again, or give a snapshot. */
		if (tries == 8)
			return (int)(ptail - ctail < cap ? ptail - ctail : cap);
	}
}

unsigned udma_ring_capacity(const struct udma_ring *ring)
{
	return ring->prod.capacity;
}

static int check_args(const char *fn, unsigned count, unsigned flags)
{
	if (!count || (count & (count - 1)) || count > RING_MAX_COUNT)
		return udma__err(EINVAL, "%s: count %u is not a power of two from 1 to 2^%u; round it up", fn,
				 count, RING_MAX_LOG);
	if (flags & ~RING_FLAGS)
		return udma__err(EINVAL,
				 "%s: unknown flags 0x%x; use 0, UDMA_RING_SP_ENQ and/or UDMA_RING_SC_DEQ",
				 fn, flags & ~RING_FLAGS);
	return 0;
}

static size_t ring_size(unsigned count)
{
	return sizeof(struct udma_ring_shared) + (size_t)count * sizeof(void *);
}

ssize_t udma_ring_memsize(unsigned count)
{
	int rc = check_args("udma_ring_memsize", count, 0);

	return rc ? rc : (ssize_t)ring_size(count);
}

static void side_init(struct udma_ring_side *s, struct udma_ring_shared *sh, bool producer, unsigned count,
		      unsigned flags, bool own)
{
	s->sh = sh;
	s->mask = count - 1;
	s->capacity = count;
	s->single = !!(flags & (producer ? UDMA_RING_SP_ENQ : UDMA_RING_SC_DEQ));
	s->own = own;
	/* Never ahead of the other side's tail: all slots used (producer), 0
	 * objects there (consumer, whose copy is one less); the first call that
	 * needs it rereads it. */
	s->other = __atomic_load_n(&udma_ring__own(sh, producer)->tail, __ATOMIC_RELAXED) -
		   (producer ? count : 1);
}

/* The handle on the ring in mem, whose count and flags the caller checked. */
static void handle_init(struct udma_ring *r, void *mem, unsigned count, unsigned flags, size_t map_len)
{
	memset(r, 0, sizeof(*r));
	r->map_len = map_len;
	r->flags = flags;
	side_init(&r->prod, mem, true, count, flags, map_len != 0);
	side_init(&r->cons, mem, false, count, flags, map_len != 0);
}

/* An empty ring in mem; magic last, so that an attach that sees it sees the rest. */
static void layout_init(struct udma_ring_shared *sh, unsigned count, unsigned flags)
{
	__atomic_store_n(&sh->magic, 0, __ATOMIC_RELAXED);
	sh->layout = UDMA_RING_LAYOUT;
	sh->count = count;
	sh->flags = flags;
	__atomic_store_n(&sh->prod.head, 0, __ATOMIC_RELAXED);
	__atomic_store_n(&sh->prod.tail, 0, __ATOMIC_RELAXED);
	__atomic_store_n(&sh->cons.head, 0, __ATOMIC_RELAXED);
	__atomic_store_n(&sh->cons.tail, 0, __ATOMIC_RELAXED);
	__atomic_store_n(&sh->magic, UDMA_RING_MAGIC, __ATOMIC_RELEASE);
}

static int check_mem(const char *fn, const void *mem, struct udma_ring **out)
{
	if (!out)
		return udma__err(EINVAL, "%s: out is NULL; pass the address of a ring pointer", fn);
	*out = NULL;
	if (!mem || (uintptr_t)mem % UDMA_RING_ALIGN)
		return udma__err(EINVAL, "%s: memory at %p is not aligned to %d bytes; align it", fn, mem,
				 UDMA_RING_ALIGN);
	return 0;
}

static int new_handle(const char *fn, void *mem, unsigned count, unsigned flags, struct udma_ring **out)
{
	struct udma_ring *r = aligned_alloc(UDMA_RING_ALIGN, HANDLE_SIZE);

	if (!r)
		return udma__err(ENOMEM, "%s: no memory for a ring handle (%zu bytes)", fn, HANDLE_SIZE);
	handle_init(r, mem, count, flags, 0);
	*out = r;
	return 0;
}

int udma_ring_init(void *mem, size_t size, unsigned count, unsigned flags, struct udma_ring **out)
{
	int rc = check_mem("udma_ring_init", mem, out);

	if (rc)
		return rc;
	rc = check_args("udma_ring_init", count, flags);
	if (rc)
		return rc;
	if (size < ring_size(count))
		return udma__err(EINVAL,
				 "udma_ring_init: %zu bytes for %u slots; it needs udma_ring_memsize() = %zu",
				 size, count, ring_size(count));
	layout_init(mem, count, flags);
	return new_handle("udma_ring_init", mem, count, flags, out);
}

/* Is the header at sh a ring that fits in size bytes? Reads each field once. */
static int check_header(const struct udma_ring_shared *sh, size_t size, unsigned *count, unsigned *flags)
{
	static const char fix[] = "attach to memory that udma_ring_init laid out, all of it";
	uint64_t magic = __atomic_load_n(&sh->magic, __ATOMIC_ACQUIRE);
	uint32_t layout = sh->layout;

	if (magic != UDMA_RING_MAGIC)
		return udma__err(
			EBADMSG,
			"udma_ring_attach: no ring there (magic 0x%016llx, a ring has 0x%016llx); %s",
			(unsigned long long)magic, UDMA_RING_MAGIC, fix);
	if (layout != UDMA_RING_LAYOUT &&
	    (layout & ~UDMA_RING_LAYOUT_32) == (UDMA_RING_LAYOUT & ~UDMA_RING_LAYOUT_32))
		return udma__err(EBADMSG,
				 "udma_ring_attach: the ring was laid out by a %d-bit process, this one is "
				 "%d-bit: its slots are pointers of the other size; share rings between "
				 "processes of one word size",
				 layout & UDMA_RING_LAYOUT_32 ? 32 : 64, (int)sizeof(void *) * 8);
	if (layout != UDMA_RING_LAYOUT)
		return udma__err(
			EBADMSG,
			"udma_ring_attach: the ring has layout %u, this udma reads layout %u: it was "
			"laid out by another udma version (or overwritten); use the same version in "
			"every process",
			layout, UDMA_RING_LAYOUT);
	*count = sh->count;
	*flags = sh->flags;
	if (!*count || (*count & (*count - 1)) || *count > RING_MAX_COUNT)
		return udma__err(
			EBADMSG,
			"udma_ring_attach: the ring's header is corrupt: count %u is not a power of two "
			"from 1 to 2^%u; %s",
			*count, RING_MAX_LOG, fix);
	if (*flags & ~RING_FLAGS)
		return udma__err(EBADMSG,
				 "udma_ring_attach: the ring's header is corrupt: unknown flags 0x%x; %s",
				 *flags, fix);
	if (size < ring_size(*count))
		return udma__err(
			EINVAL,
			"udma_ring_attach: %zu bytes cannot hold the %u slots the ring's header claims "
			"(udma_ring_memsize(%u) = %zu): pass the size the ring was laid out in (or the "
			"header is corrupt)",
			size, *count, *count, ring_size(*count));
	return 0;
}

int udma_ring_attach(void *mem, size_t size, struct udma_ring **out)
{
	unsigned count = 0, flags = 0;
	int rc = check_mem("udma_ring_attach", mem, out);

	if (rc)
		return rc;
	if (size < sizeof(struct udma_ring_shared))
		return udma__err(
			EINVAL,
			"udma_ring_attach: %zu bytes cannot hold a ring (its header alone is %zu); pass "
			"the size the ring was laid out in",
			size, sizeof(struct udma_ring_shared));
	rc = check_header(mem, size, &count, &flags);
	if (rc)
		return rc;
	return new_handle("udma_ring_attach", mem, count, flags, out);
}

int udma_ring_create(unsigned count, unsigned flags, struct udma_ring **out)
{
	size_t len;
	char *mem;
	int rc;

	if (!out)
		return udma__err_const(EINVAL,
				       "udma_ring_create: out is NULL; pass the address of a ring pointer");
	*out = NULL;
	rc = check_args("udma_ring_create", count, flags);
	if (rc)
		return rc;
	/* mmap, not malloc: page aligned (so 128), and no mixing with malloc's heap. */
	len = HANDLE_SIZE + ring_size(count);
	mem = mmap(NULL, len, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
	if (mem == MAP_FAILED)
		return udma__err(
			errno,
			"udma_ring_create: cannot map %zu bytes for %u slots: %s; or use a smaller count",
			len, count, udma__vm_strerror(errno));
	layout_init((struct udma_ring_shared *)(mem + HANDLE_SIZE), count, flags);
	handle_init((struct udma_ring *)mem, mem + HANDLE_SIZE, count, flags, len);
	*out = (struct udma_ring *)mem;
	return 0;
}

void udma_ring_destroy(struct udma_ring *ring)
{
	if (!ring)
		return;
	if (ring->map_len)
		munmap(ring, ring->map_len);
	else
		free(ring);
}

void udma__ring_set_index(struct udma_ring *ring, uint32_t idx)
{
	struct udma_ring_shared *sh = ring->prod.sh;
	struct udma_ring_indices *s[2] = {&sh->prod, &sh->cons};
	unsigned i;

	ring->prod.other = idx - ring->prod.capacity;
	ring->cons.other = idx - 1;
	/* Release: a thread that acquires an index sees the handle's copies too
	 * (a fence would do the same, but TSan does not model fences). */
	for (i = 0; i < 2; i++) {
		__atomic_store_n(&s[i]->head, idx, __ATOMIC_RELEASE);
		__atomic_store_n(&s[i]->tail, idx, __ATOMIC_RELEASE);
	}
}

void udma__ring_set_stall_ms(unsigned ms)
{
	__atomic_store_n(&stall_ns, ms ? ms * 1000000ull : STALL_NS, __ATOMIC_RELAXED);
}
