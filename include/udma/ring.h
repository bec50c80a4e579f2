/* SPDX-License-Identifier: MIT */
/* Lock-free rings of pointers: single or multi producer, single or multi consumer. */
#ifndef UDMA_RING_H
#define UDMA_RING_H

#ifdef __cplusplus
extern "C" {
#endif

#pragma GCC visibility push(default)

#define UDMA_RING_SP_ENQ (1u << 0) /* only one thread enqueues */
#define UDMA_RING_SC_DEQ (1u << 1) /* only one thread dequeues */

struct udma_ring;

/* count: a power of two, the ring holds up to count objects. */
int udma_ring_create(unsigned count, unsigned flags, struct udma_ring **out);
void udma_ring_destroy(struct udma_ring *ring);
unsigned udma_ring_enqueue_bulk(struct udma_ring *ring, void *const *objs, unsigned n);  /* n or 0 */
unsigned udma_ring_enqueue_burst(struct udma_ring *ring, void *const *objs, unsigned n); /* as many as fit */
unsigned udma_ring_dequeue_bulk(struct udma_ring *ring, void **objs, unsigned n);        /* n or 0 */
unsigned udma_ring_dequeue_burst(struct udma_ring *ring, void **objs, unsigned n);       /* as many as there are */
unsigned udma_ring_count(const struct udma_ring *ring);
unsigned udma_ring_capacity(const struct udma_ring *ring);

#pragma GCC visibility pop

#ifdef __cplusplus
}
#endif
#endif
