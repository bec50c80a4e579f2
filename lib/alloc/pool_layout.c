/* SPDX-License-Identifier: MIT */
/*
 * Where a pool's objects live: packed into one or more regions so that no
 * object straddles a physical discontinuity (an object that would cross a page
 * boundary into a page that is not IOVA-contiguous starts at that boundary
 * instead), and O(1) index <-> pointer <-> IOVA over that packing.
 */
#include <errno.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>

#include "lib/alloc/pool_internal.h"

static size_t align_up(size_t v, size_t a)
{
	return (v + a - 1) & ~(a - 1);
}

struct placement {
	unsigned n;	/* objects placed */
	size_t end;	/* bytes of the region consumed */
	bool irregular; /* some object is not at first_off + j * stride */
	size_t first_off;
};

/* Place up to max objects in r from byte start on; record their offsets in
 * off if not NULL. */
static void place(const struct udma_pool *p, const struct udma_region *r, size_t start, unsigned max,
		  size_t *off, struct placement *pl)
{
	uintptr_t base = (uintptr_t)r->addr;
	size_t pos = align_up(base + start, p->align) - base, elt = p->elt_size;
	unsigned n = 0;

	pl->irregular = false;
	pl->first_off = pos;
	while (n < max && pos <= r->size && r->size - pos >= elt) {
		/* Only obj_size must be IOVA-contiguous: the debug trailer after it
		 * is for the CPU alone. */
		size_t c = udma_iova_contig(p->ctx, r->addr + pos, p->obj_size);

		if (c < p->obj_size) {
			/* pos + c is the page boundary where the run ends: start there */
			pos = align_up(base + pos + c, p->align) - base;
			continue;
		}
		if (pos != pl->first_off + (size_t)n * p->stride)
			pl->irregular = true;
		if (off)
			off[n] = pos;
		n++;
		pos += p->stride;
	}
	pl->n = n;
	pl->end = pos < r->size ? pos : r->size;
}

/* Irregular segment: the offset of every object and, per page, its first object. */
static int seg_tables(struct udma_pool *p, struct pool_seg *s, size_t start, const struct placement *pl)
{
	size_t npages = s->size >> s->page_shift, k, j = 0;
	struct placement again;

	s->obj_off = malloc((size_t)pl->n * sizeof(*s->obj_off));
	s->page_first = malloc((npages + 1) * sizeof(*s->page_first));
	if (!s->obj_off || !s->page_first)
		return udma__err(ENOMEM, "udma_pool_create: out of memory for the object tables of pool '%s'",
				 p->name);
	place(p, s->region, start, pl->n, s->obj_off, &again);
	for (k = 0; k <= npages; k++) {
		while (j < pl->n && s->obj_off[j] < (k << s->page_shift))
			j++;
		s->page_first[k] = (uint32_t)j;
	}
	return 0;
}

static int no_room(const struct udma_pool *p, const struct udma_region *r, unsigned placed)
{
	char ps[32], esz[32];

	udma__fmt_size(r->page_size, ps, sizeof(ps));
	udma__fmt_size(p->obj_size, esz, sizeof(esz));
	if (!placed)
		return udma__err(
			ENOMEM,
			"udma_pool_create: pool '%s': objects of %s span several %s pages and the region "
			"got no run of physically contiguous pages that long; use hugepages (reserve "
			"them with `udma hugepages`, context page_size 0 or 2M), a smaller obj_size, "
			"or UDMA_IOVA_VA with an IOMMU",
			p->name, esz, ps);
	return udma__err(ENOMEM,
			 "udma_pool_create: pool '%s': only %u of %u objects of %s found physically "
			 "contiguous room among %s pages, in several times the memory they need; use "
			 "hugepages (`udma hugepages`, context page_size 0 or 2M) or UDMA_IOVA_VA",
			 p->name, placed, p->count, esz, ps);
}

/* Segment p->nseg: up to max objects in r from byte start on, the pool's
 * indices from first; *pl says how many found room. */
static int seg_add(struct udma_pool *p, struct udma_region *r, size_t start, unsigned first, unsigned max,
		   struct placement *pl)
{
	struct pool_seg *s = &p->seg[p->nseg++];

	udma__store_relaxed(&r->owner, p);
	s->region = r;
	s->base = r->addr;
	s->size = r->size;
	s->page_shift = r->page_shift;
	s->frames = r->frames;
	s->first = first;
	place(p, r, start, max, NULL, pl);
	s->count = pl->n;
	s->first_off = pl->first_off;
	return pl->n && pl->irregular ? seg_tables(p, s, start, pl) : 0;
}

static int seg_region(struct udma_pool *p, size_t size, unsigned flags, struct udma_region **r)
{
	struct udma_region_opts ro = {.size = size, .numa_node = p->numa_node, .flags = flags};
	char name[48];

	snprintf(name, sizeof(name), p->nseg ? "pool:%s.%u" : "pool:%s", p->name, p->nseg);
	ro.name = name;
	return udma_region_create(p->ctx, &ro, r);
}

/* Bytes for left more objects, at the yield a region had, with a little slack. */
static size_t want_more(const struct udma_pool *p, const struct udma_region *r, unsigned left,
			const struct placement *pl, size_t start)
{
	return (size_t)((double)left * (double)(pl->end - start) / pl->n * 1.0625) + p->stride + r->page_size;
}

int udma__pool_layout(struct udma_pool *p)
{
	size_t ideal = (size_t)p->count * p->stride + (p->align > UDMA_PAGE_2M ? p->align : 0);
	size_t want = ideal, spent = 0, budget = 3 * ideal + ((size_t)4 << 20);
	unsigned left = p->count;
	int rc;

	while (left) {
		struct placement pl;
		struct udma_region *r;

		if (p->nseg == POOL_MAX_SEGS)
			return no_room(p, p->seg[0].region, p->count - left);
		if ((rc = seg_region(p, want, 0, &r)))
			return rc;
		if ((rc = seg_add(p, r, 0, p->count - left, left, &pl)))
			return rc;
		if (!pl.n)
			return no_room(p, r, p->count - left);
		left -= pl.n;
		spent += r->size;
		if (!left)
			break;
		want = want_more(p, r, left, &pl, 0);
		if (spent + want > budget)
			return no_room(p, r, p->count - left);
	}
	return 0;
}

int udma__pool_layout_shared(struct udma_pool *p, size_t head)
{
	size_t ideal = (size_t)p->count * p->stride + (p->align > UDMA_PAGE_2M ? p->align : 0);
	size_t want = ideal, budget = 3 * ideal + ((size_t)4 << 20);
	int rc;

	for (;;) {
		struct placement pl;
		struct udma_region *r;

		if ((rc = seg_region(p, head + want, UDMA_REGION_SHARED, &r)))
			return rc;
		if ((rc = seg_add(p, r, head, 0, p->count, &pl)) || pl.n == p->count)
			return rc;
		/* One region holds them all (one file to hand on): a larger one. */
		if (pl.n)
			want = want_more(p, r, p->count, &pl, head);
		rc = !pl.n || want > budget ? no_room(p, r, pl.n) : 0;
		udma__pool_layout_free(p);
		if (rc)
			return rc;
	}
}

int udma__pool_layout_attached(struct udma_pool *p, struct udma_region *r, size_t head)
{
	struct placement pl;
	int rc = seg_add(p, r, head, 0, p->count, &pl);

	if (!rc && pl.n != p->count)
		rc = udma__err(EBADMSG,
			       "udma_pool_attach: pool '%s' has room for %u of its %u objects here: its "
			       "header does not fit its file",
			       p->name, pl.n, p->count);
	return rc;
}

void udma__pool_layout_free(struct udma_pool *p)
{
	unsigned i;

	for (i = 0; i < p->nseg; i++) {
		udma_region_destroy(p->seg[i].region);
		free(p->seg[i].obj_off);
		free(p->seg[i].page_first);
	}
	p->nseg = 0;
}

static inline const struct pool_seg *seg_of_va(const struct udma_pool *p, const void *va, size_t *off)
{
	unsigned i;

	for (i = 0; i < p->nseg; i++) {
		size_t o = (uintptr_t)va - (uintptr_t)p->seg[i].base;

		if (o < p->seg[i].size) {
			*off = o;
			return &p->seg[i];
		}
	}
	return NULL;
}

/* v / stride, and the remainder: a shift, or Lemire's multiply for 32-bit v. */
static inline size_t div_stride(const struct udma_pool *p, size_t v, size_t *rem)
{
	size_t q;

	if (p->stride_pow2)
		q = v >> p->stride_shift;
	else if (udma__likely(v <= UINT32_MAX))
#ifdef __SIZEOF_INT128__
		q = (size_t)(((unsigned __int128)p->div_magic * v) >> 64);
#else
		q = (size_t)udma__mulhi_u32_u64((uint32_t)v, p->div_magic);
#endif
	else
		q = v / p->stride;
	*rem = v - q * p->stride;
	return q;
}

unsigned udma_pool_index(const struct udma_pool *p, const void *obj)
{
	size_t off, rem, j;
	uint32_t j0, j1;
	const struct pool_seg *s;

	if (pool_inherited(p)) {
		udma__err_inherited(p->ctx, "udma_pool_index");
		return UINT_MAX;
	}
	s = seg_of_va(p, obj, &off);
	if (!s)
		return UINT_MAX;
	if (udma__likely(!s->obj_off)) {
		if (off < s->first_off)
			return UINT_MAX;
		j = div_stride(p, off - s->first_off, &rem);
		return rem || j >= s->count ? UINT_MAX : s->first + (unsigned)j;
	}
	/* objects starting in one page are stride apart */
	j0 = s->page_first[off >> s->page_shift];
	j1 = s->page_first[(off >> s->page_shift) + 1];
	if (j0 == j1 || off < s->obj_off[j0])
		return UINT_MAX;
	j = div_stride(p, off - s->obj_off[j0], &rem);
	return rem || j0 + j >= j1 ? UINT_MAX : s->first + j0 + (unsigned)j;
}

void *udma_pool_obj(const struct udma_pool *p, unsigned index)
{
	unsigned i;

	if (pool_inherited(p)) {
		udma__err_inherited(p->ctx, "udma_pool_obj");
		return NULL;
	}
	for (i = 0; i < p->nseg; i++) {
		const struct pool_seg *s = &p->seg[i];
		unsigned j = index - s->first;

		if (j < s->count)
			return s->base + (s->obj_off ? s->obj_off[j] : s->first_off + (size_t)j * p->stride);
	}
	return NULL;
}

uint64_t udma_pool_iova(const struct udma_pool *p, const void *obj)
{
	size_t off;
	const struct pool_seg *s;

	if (pool_inherited(p)) {
		udma__err_inherited(p->ctx, "udma_pool_iova");
		return UDMA_BAD_IOVA;
	}
	s = seg_of_va(p, obj, &off);
	if (!s)
		return UDMA_BAD_IOVA;
	return udma__page_iova(&s->frames, s->page_shift, obj, off);
}

unsigned udma__pool_containing(const struct udma_pool *p, const void *va)
{
	size_t off, rem, j;
	const struct pool_seg *s = seg_of_va(p, va, &off);

	if (!s)
		return UINT_MAX;
	if (!s->obj_off) {
		if (off < s->first_off)
			return UINT_MAX;
		j = div_stride(p, off - s->first_off, &rem);
	} else {
		/* the last object starting at or before off */
		size_t lo = 0, hi = s->count;

		while (hi - lo > 1) {
			size_t mid = lo + (hi - lo) / 2;

			if (s->obj_off[mid] <= off)
				lo = mid;
			else
				hi = mid;
		}
		if (s->obj_off[lo] > off)
			return UINT_MAX;
		j = lo;
		rem = off - s->obj_off[lo];
	}
	return j < s->count && rem < p->elt_size ? s->first + (unsigned)j : UINT_MAX;
}
