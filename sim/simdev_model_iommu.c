/* SPDX-License-Identifier: MIT */
/*
 * The device's IOMMU: a sorted table of disjoint {iova, len, host} mappings.
 * Every device access is translated over its whole length; map and unmap come
 * from other threads, and unmap waits for accesses in flight (the device holds
 * the lock for reading across each poll pass).
 */
#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include "sim/simdev_model_internal.h"

/* Index of the last mapping whose iova <= iova, or -1. */
static long iommu_find(const struct simdev *d, uint64_t iova)
{
	long lo = 0, hi = (long)d->nmaps - 1, found = -1;

	while (lo <= hi) {
		long mid = lo + (hi - lo) / 2;

		if (d->maps[mid].iova <= iova) {
			found = mid;
			lo = mid + 1;
		} else {
			hi = mid - 1;
		}
	}
	return found;
}

/* Memoise m in front of the TLB (the last entry drops out). */
static void tlb_insert(struct simdev *d, const struct simdev_map *m)
{
	memmove(&d->tlb[1], &d->tlb[0], (SIMDEV_TLB_SIZE - 1) * sizeof(d->tlb[0]));
	d->tlb[0] = *m;
}

/* Forget every memoised translation: the table changed. Write lock held. */
static void tlb_flush(struct simdev *d)
{
	memset(d->tlb, 0, sizeof(d->tlb)); /* len 0 matches nothing */
}

void *simdev_iommu_translate(struct simdev *d, uint64_t iova, uint64_t len, unsigned *reason)
{
	const struct simdev_map *m;
	uint64_t off;
	long i;

	for (unsigned t = 0; t < SIMDEV_TLB_SIZE; t++) {
		m = &d->tlb[t];
		off = iova - m->iova;
		if (off < m->len && len <= m->len - off)
			return m->host + off;
	}
	/* A miss, or an overrun the table walk below names. */
	i = iommu_find(d, iova);
	if (i < 0 || iova - d->maps[i].iova >= d->maps[i].len) {
		*reason = SIMDEV_FAULT_UNMAPPED;
		return NULL;
	}
	m = &d->maps[i];
	off = iova - m->iova;
	/* Compared as a remainder so iova + len cannot wrap. */
	if (len > m->len - off) {
		*reason = SIMDEV_FAULT_OVERRUN;
		return NULL;
	}
	tlb_insert(d, m);
	return m->host + off;
}

void simdev_iommu_rdlock(struct simdev *d)
{
	pthread_rwlock_rdlock(&d->iommu_lock);
}

void simdev_iommu_rdunlock(struct simdev *d)
{
	pthread_rwlock_unlock(&d->iommu_lock);
}

void simdev_iommu_destroy(struct simdev *d)
{
	free(d->maps);
	d->maps = NULL;
	d->nmaps = d->maps_cap = 0;
	tlb_flush(d);
}

static int iommu_grow(struct simdev *d)
{
	unsigned cap = d->maps_cap ? d->maps_cap * 2 : 16;
	struct simdev_map *m;

	if (d->nmaps < d->maps_cap)
		return 0;
	m = realloc(d->maps, cap * sizeof(*m));
	if (!m)
		return -ENOMEM;
	d->maps = m;
	d->maps_cap = cap;
	return 0;
}

static bool iommu_overlaps(const struct simdev *d, long prev, uint64_t iova, uint64_t len)
{
	if (prev >= 0 && iova - d->maps[prev].iova < d->maps[prev].len)
		return true;
	if ((unsigned long)(prev + 1) < d->nmaps && d->maps[prev + 1].iova - iova < len)
		return true;
	return false;
}

int simdev_iommu_map(struct simdev *d, uint64_t iova, void *host, uint64_t len)
{
	long prev;
	int rc;

	if (!d || !host || !len || iova + len < iova)
		return -EINVAL;
	pthread_rwlock_wrlock(&d->iommu_lock);
	prev = iommu_find(d, iova);
	rc = iommu_overlaps(d, prev, iova, len) ? -EEXIST : iommu_grow(d);
	if (!rc) {
		unsigned at = (unsigned)(prev + 1);

		memmove(&d->maps[at + 1], &d->maps[at], (d->nmaps - at) * sizeof(d->maps[0]));
		d->maps[at] = (struct simdev_map){.iova = iova, .len = len, .host = host};
		d->nmaps++;
		tlb_flush(d); /* the table moved: keep the rule "changed means flushed" simple */
	}
	pthread_rwlock_unlock(&d->iommu_lock);
	return rc;
}

int simdev_iommu_unmap(struct simdev *d, uint64_t iova)
{
	long i;
	int rc = -ENOENT;

	if (!d)
		return -EINVAL;
	pthread_rwlock_wrlock(&d->iommu_lock);
	i = iommu_find(d, iova);
	if (i >= 0 && d->maps[i].iova == iova) {
		memmove(&d->maps[i], &d->maps[i + 1], (d->nmaps - (unsigned)i - 1) * sizeof(d->maps[0]));
		d->nmaps--;
		tlb_flush(d); /* before the lock drops: no access may reach the unmapped memory */
		rc = 0;
	}
	pthread_rwlock_unlock(&d->iommu_lock);
	return rc;
}
