/* SPDX-License-Identifier: MIT */
/*
 * The ring tests run each test twice: against the inline enqueue/dequeue
 * (what C and C++ callers get from udma/ring.h, reached as
 * udma_ring__enqueue/dequeue) and against the library's exported functions
 * (what other languages and UDMA_RING_NO_INLINE builds call). Include with UDMA_RING_NO_INLINE defined, so that the
 * udma_ring_* names are the exported functions.
 */
#ifndef UDMA_TEST_RING_OPS_H
#define UDMA_TEST_RING_OPS_H

#ifndef UDMA_RING_NO_INLINE
#error "define UDMA_RING_NO_INLINE before including ring_ops.h"
#endif

#include "tests/support/helpers.h"

struct ring_ops {
	int (*enq_bulk)(struct udma_ring *ring, void *const *objs, unsigned n);
	int (*enq_burst)(struct udma_ring *ring, void *const *objs, unsigned n);
	int (*deq_bulk)(struct udma_ring *ring, void **objs, unsigned n);
	int (*deq_burst)(struct udma_ring *ring, void **objs, unsigned n);
};

static int inl_enq_bulk(struct udma_ring *ring, void *const *objs, unsigned n)
{
	return udma_ring__enqueue(ring, objs, n, false);
}

static int inl_enq_burst(struct udma_ring *ring, void *const *objs, unsigned n)
{
	return udma_ring__enqueue(ring, objs, n, true);
}

static int inl_deq_bulk(struct udma_ring *ring, void **objs, unsigned n)
{
	return udma_ring__dequeue(ring, objs, n, false);
}

static int inl_deq_burst(struct udma_ring *ring, void **objs, unsigned n)
{
	return udma_ring__dequeue(ring, objs, n, true);
}

static const struct ring_ops inline_ops = {inl_enq_bulk, inl_enq_burst, inl_deq_bulk, inl_deq_burst};
static const struct ring_ops lib_ops = {udma_ring_enqueue_bulk, udma_ring_enqueue_burst,
					udma_ring_dequeue_bulk, udma_ring_dequeue_burst};

static const unsigned all_flags[4] = {0, UDMA_RING_SP_ENQ, UDMA_RING_SC_DEQ,
				      UDMA_RING_SP_ENQ | UDMA_RING_SC_DEQ};

/* Each test twice, named test/inline and test/lib: its state is the variant. */
#define RING_TEST(f, v)                                                         \
	{                                                                       \
#f "/" #v, f, th_leak_setup, th_leak_teardown, (void *)&v##_ops \
	}

#endif
