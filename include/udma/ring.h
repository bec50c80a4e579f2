/* SPDX-License-Identifier: MIT */
/* Lock-free rings of pointers: single or multi producer, single or multi consumer. */
#ifndef UDMA_RING_H
#define UDMA_RING_H

#include <stddef.h>
#include <stdint.h>
#include <sys/types.h>

#ifdef __cplusplus
extern "C" {
#endif

#pragma GCC visibility push(default)

#define UDMA_RING_SP_ENQ (1u << 0) /* only one thread enqueues */
#define UDMA_RING_SC_DEQ (1u << 1) /* only one thread dequeues */

/* A handle on a ring: private to the process that holds it. */
struct udma_ring;

/* A ring of its own: count a power of two (1 .. 2^30; 2^28 in a 32-bit process), it holds up to count
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
 *
 * With GCC or Clang, in C99 or later and in C++, these four are inline (as
 * DPDK's rte_ring is): a call into the library costs more than a whole
 * single-object enqueue + dequeue. So the handle's layout is part of the ABI.
 * The headers compile without a warning under -Wall -Wextra -pedantic
 * -Wimplicit-fallthrough (gcc's level 5 included), in C99, C11, C++11, C++17
 * and C++20.
 * Elsewhere, or with UDMA_RING_NO_INLINE defined before the include, they
 * are calls into the library, with the same behaviour. Their code is in
 * udma/ring_impl.h, included below: internal, not to be included directly or
 * used, and free to change between versions.
 */

#pragma GCC visibility pop

#ifdef __cplusplus
}
#endif

#include <udma/ring_impl.h>

#endif
