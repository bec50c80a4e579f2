/* SPDX-License-Identifier: MIT */
/*
 * Shared pools: a pool whose store lives in one SHARED region with its
 * objects, so processes that map it at different addresses share objects.
 *
 * The region starts with a header (struct pool_shm), then the record: one
 * 64-bit word per object, its owner (0: in the store; k: the process in slot
 * k - 1) and a generation that changes each time it leaves the store (what
 * makes a handle stale). Then the store, a LIFO of object indices, and the
 * objects. Nothing shared holds a pointer.
 *
 * The record is the truth; the store is an index of the objects it marks 0.
 * Both change under a lock word in the header (pool_shm.h says why not a
 * pthread mutex): when a process dies holding it, a waiter takes it over
 * and rebuilds the store from the record. A process
 * keeps a slot by holding an OFD lock on the slot's byte of the pool's file
 * through a description of its own: the kernel drops it when the process
 * goes, however it goes, and a survivor that finds a used slot's byte
 * unlocked gives that process's objects back to the store.
 *
 * Every index and owner read from shared memory is checked before use: a
 * damaged pool makes calls fail or objects go missing, never a write
 * outside it.
 */
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <sched.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "lib/alloc/pool_shm.h"

#define RECLAIM_GAP 1000000ull /* ns: a short store looks for the dead at most this often */

static size_t align_up(size_t v, size_t a)
{
	return (v + a - 1) & ~(a - 1);
}

/* Where the record, the store and the objects start, for count objects. */
static void shm_offsets(unsigned count, size_t *meta, size_t *store, size_t *objs)
{
	*meta = align_up(sizeof(struct pool_shm), UDMA_CACHE_LINE);
	*store = align_up(*meta + (size_t)count * sizeof(uint64_t), UDMA_CACHE_LINE);
	/* On a page boundary, as a pool's first object is in a region of its
	 * own: objects that divide a page then never cross one (O(1) index). */
	*objs = align_up(*store + (size_t)count * sizeof(uint32_t), UDMA_PAGE_4K);
}

static inline unsigned owner_of(uint64_t m)
{
	return (unsigned)(m & OWNER_MASK);
}

static inline uint64_t me(const struct udma_pool *p)
{
	return p->slot + 1;
}

static inline void *obj_at(const struct udma_pool *p, unsigned i)
{
	const struct pool_seg *s = &p->seg[0];

	return s->base + (s->obj_off ? s->obj_off[i] : s->first_off + (size_t)i * p->stride);
}

/* The slot's byte of the pool's file, locked by its process. */
static int slot_lock(const struct udma_pool *p, unsigned slot, int cmd, struct flock *fl)
{
	*fl = (struct flock){.l_type = F_WRLCK, .l_whence = SEEK_SET, .l_start = slot, .l_len = 1};
	return fcntl(p->lock_fd, cmd, fl);
}

static bool slot_alive(const struct udma_pool *p, unsigned slot)
{
	struct flock fl;

	/* Cannot tell: alive (its objects stay its own). */
	return slot_lock(p, slot, F_OFD_GETLK, &fl) < 0 || fl.l_type != F_UNLCK;
}

/* Lock held: slots whose process is gone, given up; a bit per slot. */
static uint64_t dead_slots_locked(struct udma_pool *p)
{
	uint64_t dead = 0;
	unsigned s;

	for (s = 0; s < UDMA_POOL_SHARED_MAX; s++) {
		struct pool_shm_slot *sl = &p->shm->slot[s];

		if (s == p->slot || __atomic_load_n(&sl->state, __ATOMIC_RELAXED) != SLOT_USED ||
		    slot_alive(p, s))
			continue;
		udma__log(UDMA_LOG_INFO, "pool '%s': process %d (slot %u) is gone: recovering its objects",
			  p->name, sl->pid, s);
		dead |= 1ull << s;
		__atomic_store_n(&sl->state, SLOT_FREE, __ATOMIC_RELAXED);
	}
	return dead;
}

/* Lock held: objects owned by a slot in dead (or, if all, by anyone not
 * alive: a rebuild) back into the store. How many moved. */
static unsigned recover_locked(struct udma_pool *p, uint64_t dead, bool rebuild)
{
	unsigned i, n = 0, top = rebuild ? 0 : p->shm->top;

	for (i = 0; i < p->count; i++) {
		uint64_t m = atomic_load_explicit(&p->meta[i], memory_order_relaxed);
		unsigned o = owner_of(m);
		bool gone = o && (o > UDMA_POOL_SHARED_MAX || (dead >> (o - 1) & 1));

		/* A claim racing with this may win: then the object is its. */
		if (gone &&
		    !atomic_compare_exchange_strong_explicit(&p->meta[i], &m, m & ~(OWNER_MASK | IN_CACHE),
							     memory_order_relaxed, memory_order_relaxed))
			continue;
		if (gone)
			n++;
		if ((gone || (rebuild && !o)) && top < p->count)
			p->sidx[top++] = i;
	}
	__atomic_store_n(&p->shm->top, top, __ATOMIC_RELAXED);
	return n;
}

/* Whether the holder of the store's lock (cur: its slot + 1) is gone, so
 * the lock may be taken from it: its process died, or the word is garbage. */
static bool holder_gone(const struct udma_pool *p, uint32_t cur)
{
	if (!cur || cur == me(p)) /* free, or another thread of this process */
		return false;
	return cur > UDMA_POOL_SHARED_MAX || !slot_alive(p, cur - 1);
}

/* The store's lock: a spin lock on a word of the header, waiting politely.
 * A holder that died left the store half changed: the lock is taken from
 * it once its slot's file lock is gone (the kernel drops that after the
 * process is gone), and the store is rebuilt from the record. */
static int shm_lock(struct udma_pool *p)
{
	uint32_t mine = (uint32_t)me(p), cur;
	unsigned n;

	for (n = 1;; n++) {
		cur = 0;
		if (udma__likely(__atomic_compare_exchange_n(&p->shm->lock, &cur, mine, false,
							     __ATOMIC_ACQUIRE, __ATOMIC_RELAXED)))
			return 0;
		if (!(n & 1023) && holder_gone(p, cur) &&
		    __atomic_compare_exchange_n(&p->shm->lock, &cur, mine, false, __ATOMIC_ACQUIRE,
						__ATOMIC_RELAXED)) {
			udma__log(UDMA_LOG_INFO,
				  "pool '%s': the process in slot %u died holding its lock: the store is "
				  "rebuilt from the record",
				  p->name, cur - 1);
			/* The store only: its objects go back, counted, with the next
			 * look for the dead (udma_pool_reclaim says how many). */
			recover_locked(p, 0, true);
			return 0;
		}
		if (n & 63)
			udma__cpu_pause();
		else
			sched_yield();
	}
}

static void shm_unlock(struct udma_pool *p)
{
	__atomic_store_n(&p->shm->lock, 0, __ATOMIC_RELEASE);
}

/* Lock held: the store as it should be, or rebuilt from the record. */
static unsigned top_checked_locked(struct udma_pool *p)
{
	unsigned top = __atomic_load_n(&p->shm->top, __ATOMIC_RELAXED);

	if (udma__likely(top <= p->count))
		return top;
	udma__log(UDMA_LOG_ERR, "pool '%s': its shared store was damaged: rebuilt from the record", p->name);
	recover_locked(p, 0, true);
	return __atomic_load_n(&p->shm->top, __ATOMIC_RELAXED);
}

/* Lock held: pop one index from the store and make its object ours (in a
 * cache, or out). NULL if the store is damaged there (the caller rebuilds). */
static void *pop_locked(struct udma_pool *p, unsigned *top, uint64_t in_cache)
{
	uint32_t i = p->sidx[--*top];
	uint64_t m;

	if (udma__unlikely(i >= p->count))
		return NULL;
	m = atomic_load_explicit(&p->meta[i], memory_order_relaxed);
	if (udma__unlikely(owner_of(m)))
		return NULL;
	atomic_store_explicit(&p->meta[i], ((m >> GEN_SHIFT) + 1) << GEN_SHIFT | in_cache | me(p),
			      memory_order_relaxed);
	return obj_at(p, i);
}

/* Lock held: objects this take had made ours, ours no more (a rebuild follows). */
static void disown_locked(struct udma_pool *p, void *const *objs, unsigned n)
{
	unsigned k;

	for (k = 0; k < n; k++) {
		unsigned i = udma_pool_index(p, objs[k]);
		uint64_t m;

		if (i < p->count) {
			m = atomic_load_explicit(&p->meta[i], memory_order_relaxed);
			if (owner_of(m) == me(p))
				atomic_compare_exchange_strong_explicit(&p->meta[i], &m, m & ~OWNER_MASK,
									memory_order_relaxed,
									memory_order_relaxed);
		}
	}
}

int udma__shm_take(struct udma_pool *p, void **objs, unsigned need, void **more, unsigned nmore)
{
	unsigned top, i, extra, rebuilds = 0;
	bool retried = false;
	int rc;

	if ((rc = shm_lock(p)))
		return rc;
again:
	top = top_checked_locked(p);
	if (top < need) {
		uint64_t now = udma__now_ns();

		/* Short: perhaps a process died with objects. Not at every miss. */
		if (!retried && now - p->reclaim_ns > RECLAIM_GAP) {
			p->reclaim_ns = now;
			retried = true;
			if (recover_locked(p, dead_slots_locked(p), false))
				goto again;
		}
		shm_unlock(p);
		return -ENOENT;
	}
	extra = top - need < nmore ? top - need : nmore;
	for (i = 0; i < need + extra; i++) {
		void *o = pop_locked(p, &top, i < need ? 0 : IN_CACHE);

		if (udma__unlikely(!o)) {
			/* Give back what this take got, then rebuild; twice is an attack. */
			disown_locked(p, objs, i < need ? i : need);
			if (i > need)
				disown_locked(p, more, i - need);
			recover_locked(p, 0, true);
			if (++rebuilds > 1) {
				shm_unlock(p);
				return udma__err(
					EBADMSG,
					"pool '%s': its shared store is being damaged by another process",
					p->name);
			}
			retried = true;
			goto again;
		}
		if (i < need)
			objs[i] = o;
		else
			more[i - need] = o;
	}
	__atomic_store_n(&p->shm->top, top, __ATOMIC_RELAXED);
	shm_unlock(p);
	return (int)extra;
}

void udma__shm_push(struct udma_pool *p, void *const *objs, unsigned n)
{
	unsigned k, top;

	if (shm_lock(p))
		return; /* the objects stay out: the error says why */
	top = top_checked_locked(p);
	for (k = 0; k < n; k++) {
		unsigned i = udma__shm_index(p, objs[k]);
		uint64_t m;

		if (i >= p->count)
			continue;
		m = atomic_load_explicit(&p->meta[i], memory_order_relaxed);
		/* Only objects this process put (a damaged record aside, nothing else gets here). */
		if ((m & (OWNER_MASK | IN_CACHE)) != (me(p) | IN_CACHE) ||
		    !atomic_compare_exchange_strong_explicit(&p->meta[i], &m, m & ~(OWNER_MASK | IN_CACHE),
							     memory_order_relaxed, memory_order_relaxed) ||
		    top >= p->count)
			continue;
		p->sidx[top++] = i;
	}
	__atomic_store_n(&p->shm->top, top, __ATOMIC_RELAXED);
	shm_unlock(p);
}

unsigned udma__shm_adopt(struct udma_pool *p, void *const *in, unsigned n, void **out)
{
	unsigned k, kept = 0;

	for (k = 0; k < n; k++) {
		unsigned i = udma__shm_index(p, in[k]);
		uint64_t m;

		if (i == UINT_MAX) {
			udma__pool_misuse(p, EINVAL,
					  "pool '%s': put of %p, which is not one of its objects: refused",
					  p->name, in[k]);
			continue;
		}
		m = atomic_load_explicit(&p->meta[i], memory_order_relaxed);
		for (;;) {
			if (udma__unlikely(!owner_of(m) || (m & IN_CACHE))) {
				udma__pool_misuse(
					p, EALREADY,
					"pool '%s': put of object %u, which is %s already (a double put%s): "
					"refused",
					p->name, i, owner_of(m) ? "in a cache" : "in the store",
					owner_of(m) ? "" : ", or recovered from a process that died");
				break;
			}
			/* Ours (as udma__shm_put_mine), or out with another process
			 * (handed on): ours now, in a cache. */
			if (udma__shm_put_mine(p, in[k]) ||
			    atomic_compare_exchange_weak_explicit(
				    &p->meta[i], &m, (m & ~OWNER_MASK) | me(p) | IN_CACHE,
				    memory_order_relaxed, memory_order_relaxed)) {
				out[kept++] = in[k];
				break;
			}
		}
	}
	return kept;
}

unsigned udma__shm_avail(const struct udma_pool *p)
{
	unsigned top = __atomic_load_n(&p->shm->top, __ATOMIC_RELAXED);

	return top < p->count ? top : p->count;
}

unsigned udma__shm_detach(struct udma_pool *p)
{
	unsigned owned;
	struct flock fl;

	if (shm_lock(p))
		return 0;
	owned = recover_locked(p, 1ull << p->slot, false);
	__atomic_store_n(&p->shm->slot[p->slot].state, SLOT_FREE, __ATOMIC_RELAXED);
	shm_unlock(p);
	fl = (struct flock){.l_type = F_UNLCK, .l_whence = SEEK_SET, .l_start = p->slot, .l_len = 1};
	fcntl(p->lock_fd, F_OFD_SETLK, &fl);
	return owned;
}

/* A description of the pool's file of this process's own: OFD locks taken
 * through a descriptor another process also holds (SCM_RIGHTS passes the
 * description itself) would be that process's too. A forked child closes
 * its copy at once (child_fds.c): it would keep this process's slot alive. */
static int open_lock_fd(struct udma_pool *p, int fd)
{
	char path[32];
	int rc = udma__child_fds_watch();

	if (rc)
		return rc;
	snprintf(path, sizeof(path), "/proc/self/fd/%d", fd);
	udma__child_fds_lock();
	p->lock_fd = open(path, O_RDWR | O_CLOEXEC);
	if (p->lock_fd < 0)
		rc = udma__err(errno, "pool '%s': cannot open its file again (%s) for a lock: %s", p->name,
			       path, udma__strerror(errno));
	else if ((rc = udma__child_fds_add_locked(p->lock_fd)))
		close(p->lock_fd);
	if (rc)
		p->lock_fd = -1;
	udma__child_fds_unlock();
	return rc;
}

void udma__shm_close(struct udma_pool *p)
{
	/* A forked child's copy was closed by the fork handler: the number may
	 * be one of the child's own files by now, even its own slot lock. */
	if (!pool_inherited(p)) {
		udma__child_fds_lock();
		if (p->lock_fd >= 0 && udma__child_fds_take_locked(p->lock_fd))
			close(p->lock_fd);
		udma__child_fds_unlock();
	}
	p->lock_fd = -1;
}

/* Lock held: a free slot, locked by this process; the dead are recovered first. */
static int take_slot_locked(struct udma_pool *p)
{
	uint64_t dead = dead_slots_locked(p);
	struct flock fl;
	unsigned s;

	if (dead)
		recover_locked(p, dead, false);
	for (s = 0; s < UDMA_POOL_SHARED_MAX; s++) {
		struct pool_shm_slot *sl = &p->shm->slot[s];

		if (__atomic_load_n(&sl->state, __ATOMIC_RELAXED) != SLOT_FREE)
			continue;
		p->slot = s;
		if (slot_lock(p, s, F_OFD_SETLK, &fl) < 0) {
			if (errno == EAGAIN || errno == EACCES)
				continue; /* held by a process alive: marked free by a damaged header */
			return udma__err(errno,
					 "pool '%s': cannot lock its slot (F_OFD_SETLK, Linux 3.15+): %s",
					 p->name, udma__strerror(errno));
		}
		sl->pid = (int32_t)getpid();
		__atomic_store_n(&sl->state, SLOT_USED, __ATOMIC_RELAXED);
		return 0;
	}
	return udma__err(EUSERS,
			 "udma_pool_attach: pool '%s' is attached %d times already (UDMA_POOL_SHARED_MAX: a "
			 "context each, in any process)",
			 p->name, UDMA_POOL_SHARED_MAX);
}

static void shm_bind(struct udma_pool *p, size_t meta_off, size_t store_off)
{
	uint8_t *base = p->seg[0].base;

	p->shm = (struct pool_shm *)base;
	p->meta = (_Atomic uint64_t *)(base + meta_off);
	p->sidx = (uint32_t *)(base + store_off);
}

int udma__shm_create(struct udma_pool *p)
{
	size_t meta_off, store_off, objs_off;
	struct pool_shm *h;
	unsigned i;
	int rc;

	shm_offsets(p->count, &meta_off, &store_off, &objs_off);
	if ((rc = udma__pool_layout_shared(p, objs_off)))
		return rc;
	shm_bind(p, meta_off, store_off);
	h = p->shm;
	h->layout = SHM_LAYOUT;
	h->head_size = sizeof(*h);
	h->obj_size = p->obj_size;
	h->align = p->align;
	h->stride = p->stride;
	h->count = p->count;
	h->cache_size = p->cache_size;
	h->meta_off = meta_off;
	h->store_off = store_off;
	h->objs_off = objs_off;
	snprintf(h->name, sizeof(h->name), "%s", p->name);
	/* LIFO: object 0 on top, got first (the region is zeroed: owners 0, generations 0) */
	for (i = 0; i < p->count; i++)
		p->sidx[i] = p->count - 1 - i;
	h->top = p->count;
	if ((rc = open_lock_fd(p, udma_region_fd(p->seg[0].region))) || (rc = take_slot_locked(p)))
		return rc;
	/* Last: a file that says "udmapool" is a whole pool. */
	memcpy(h->magic, SHM_MAGIC, sizeof(h->magic));
	return 0;
}

/* The header of an attached region, copied once into h (what is shared may
 * change under us): a pool this library can read, whose numbers fit its
 * file; its options for udma__pool_new (the name in h). */
static int check_header(struct udma_region *r, struct pool_shm *h, struct udma_pool_opts *o, size_t off[3])
{
	size_t meta, store, objs, size = udma_region_size(r);

	if (size < sizeof(*h))
		goto not_pool;
	memcpy(h, udma_region_addr(r), sizeof(*h));
	h->name[sizeof(h->name) - 1] = '\0';
	if (memcmp(h->magic, SHM_MAGIC, sizeof(h->magic)))
		goto not_pool;
	if (h->layout != SHM_LAYOUT || h->head_size != sizeof(*h))
		return udma__err(EPROTO,
				 "udma_pool_attach: pool '%s' was made by a udma whose shared pools are laid "
				 "out differently (layout %u, %u-byte header; this library reads layout %u, "
				 "%zu bytes): attach it with the same udma version",
				 udma_region_name(r), h->layout, h->head_size, SHM_LAYOUT, sizeof(*h));
	if (h->count == 0 || h->count == UINT_MAX || !h->obj_size || h->obj_size > POOL_OBJ_MAX ||
	    !h->align || (h->align & (h->align - 1)) || h->align > UDMA_PAGE_2M ||
	    h->stride != align_up(h->obj_size, h->align) || h->cache_size > UDMA_POOL_CACHE_MAX)
		goto bad;
	shm_offsets(h->count, &meta, &store, &objs);
	if (h->meta_off != meta || h->store_off != store || h->objs_off != objs || objs > size ||
	    (size - objs) / h->stride < h->count)
		goto bad;
	*o = (struct udma_pool_opts){.obj_size = h->obj_size,
				     .align = h->align,
				     .count = h->count,
				     .cache_size = h->cache_size,
				     .numa_node = UDMA_NUMA_ANY,
				     .flags = UDMA_POOL_SHARED,
				     .name = h->name};
	off[0] = meta;
	off[1] = store;
	off[2] = objs;
	return 0;
not_pool:
	return udma__err(ENOTSUP, "udma_pool_attach: '%s' is a udma region but no shared pool",
			 udma_region_name(r));
bad:
	return udma__err(EBADMSG, "udma_pool_attach: the header of pool '%s' does not fit its file: damaged",
			 udma_region_name(r));
}

int udma_pool_attach(struct udma_ctx *ctx, int fd, struct udma_pool **out)
{
	struct udma_pool_layer *layer;
	struct udma_pool_opts o;
	struct udma_region *r;
	struct udma_pool *p;
	struct pool_shm h;
	size_t off[3] = {0}; /* record, store, objects: computed here, never read back */
	int rc;

	if (!out)
		return udma__err(EINVAL, "udma_pool_attach: out is NULL");
	*out = NULL;
	if (!ctx)
		return udma__err(EINVAL, "udma_pool_attach: ctx is NULL");
	if (udma__inherited(ctx))
		return udma__err_inherited(ctx, "udma_pool_attach");
	if ((rc = udma__pool_layer_get(ctx, &layer)) || (rc = udma_region_attach(ctx, fd, &r)))
		return rc;
	if ((rc = check_header(r, &h, &o, off))) {
		udma_region_destroy(r);
		return rc;
	}
	p = udma__pool_new(ctx, layer, &o, o.align);
	if (!p) {
		udma_region_destroy(r);
		return udma__err(ENOMEM, "udma_pool_attach: out of memory for a pool");
	}
	if ((rc = udma__pool_layout_attached(p, r, off[2])))
		goto fail;
	shm_bind(p, off[0], off[1]);
	if ((rc = open_lock_fd(p, udma_region_fd(r))) || (rc = shm_lock(p)))
		goto fail;
	rc = take_slot_locked(p);
	shm_unlock(p);
	if (rc || (rc = udma__pool_register(p)))
		goto fail;
	*out = p;
	return 0;
fail:
	udma__pool_free(p); /* its region with it */
	return rc;
}

int udma_pool_fd(const struct udma_pool *p)
{
	return p && p->mode == POOL_SHARED ? udma_region_fd(p->seg[0].region) : -1;
}

int udma_pool_reclaim(struct udma_pool *p)
{
	unsigned n;
	int rc;

	if (!p || p->mode != POOL_SHARED)
		return udma__err(EINVAL, "udma_pool_reclaim: %s", p ? "not a shared pool" : "pool is NULL");
	if (pool_inherited(p))
		return udma__err_inherited(p->ctx, "udma_pool_reclaim");
	if ((rc = shm_lock(p)))
		return rc;
	top_checked_locked(p);
	n = recover_locked(p, dead_slots_locked(p), false);
	shm_unlock(p);
	return (int)n;
}

uint64_t udma_pool_handle(const struct udma_pool *p, const void *obj)
{
	unsigned i = udma_pool_index(p, obj);

	if (i == UINT_MAX)
		return UDMA_POOL_BAD_HANDLE;
	if (p->mode != POOL_SHARED)
		return i;
	return (atomic_load_explicit(&p->meta[i], memory_order_relaxed) >> GEN_SHIFT) << GEN_SHIFT | i;
}

void *udma_pool_claim(struct udma_pool *p, uint64_t handle)
{
	unsigned i = (unsigned)handle;
	uint64_t m;

	if (pool_inherited(p)) {
		errno = -udma__err_inherited(p->ctx, "udma_pool_claim");
		return NULL;
	}
	if (i >= p->count || (p->mode != POOL_SHARED && handle >> GEN_SHIFT)) {
		errno = -udma__err(EINVAL, "udma_pool_claim: handle 0x%llx names no object of pool '%s'",
				   (unsigned long long)handle, p->name);
		return NULL;
	}
	if (p->mode != POOL_SHARED)
		return udma_pool_obj(p, i);
	/* Out with some process (not in the store, not in a cache), on the trip the handle names. */
	m = atomic_load_explicit(&p->meta[i], memory_order_relaxed);
	do {
		if (m >> GEN_SHIFT != handle >> GEN_SHIFT || !owner_of(m) || (m & IN_CACHE)) {
			errno = -udma__err(
				ESTALE,
				"udma_pool_claim: object %u of pool '%s' is no longer the one handle "
				"0x%llx was made for (its sender died and it was recovered, or it was "
				"put back): drop the handle",
				i, p->name, (unsigned long long)handle);
			return NULL;
		}
		if (owner_of(m) == me(p))
			break;
	} while (!atomic_compare_exchange_weak_explicit(&p->meta[i], &m, (m & ~OWNER_MASK) | me(p),
							memory_order_relaxed, memory_order_relaxed));
	return obj_at(p, i);
}
