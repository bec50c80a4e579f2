/* SPDX-License-Identifier: MIT */
/*
 * Debug pools (UDMA_POOL_DEBUG, or UDMA_DEBUG=1 in the environment): a state
 * per object (free or out) and a cookie after each object's obj_size bytes.
 * A put is checked before it is taken: not an object of this pool (another
 * pool's, an interior pointer, anything else), a double put, a write past the
 * end. A bad put is reported (one line in the log and in udma_last_error()),
 * counted, and refused: the pool never holds an object twice nor a stranger.
 */
#include <errno.h>
#include <limits.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "lib/alloc/pool_internal.h"

static inline uint64_t cookie(const struct udma_pool *p, unsigned idx)
{
	return p->cookie_seed ^ ((uint64_t)idx * 0x9e3779b97f4a7c15ull);
}

int udma__pool_misuse(struct udma_pool *p, int errnum, const char *fmt, ...)
{
	char msg[400];
	va_list ap;

	va_start(ap, fmt);
	vsnprintf(msg, sizeof(msg), fmt, ap);
	va_end(ap);
	udma__log(UDMA_LOG_ERR, "%s", msg);
	atomic_fetch_add_explicit(&p->debug_errors, 1, memory_order_relaxed);
	return udma__err(errnum, "%s", msg);
}

int udma__pool_debug_init(struct udma_pool *p)
{
	unsigned i;

	p->state = calloc(p->count, sizeof(*p->state));
	if (!p->state)
		return udma__err(ENOMEM, "udma_pool_create: out of memory for the debug state of %u objects",
				 p->count);
	p->cookie_seed = ((uintptr_t)p * 0xff51afd7ed558ccdull) ^ 0x5afec0dedeadbeefull;
	for (i = 0; i < p->count; i++) {
		uint64_t c = cookie(p, i);

		memcpy((uint8_t *)udma_pool_obj(p, i) + p->obj_size, &c, sizeof(c));
	}
	return 0;
}

void udma__pool_debug_got(struct udma_pool *p, void *const *objs, unsigned n)
{
	unsigned i;

	for (i = 0; i < n; i++) {
		unsigned idx = udma_pool_index(p, objs[i]);
		uint8_t want = POOL_FREE;

		if (idx == UINT_MAX || !atomic_compare_exchange_strong(&p->state[idx], &want, POOL_OUT))
			udma__pool_misuse(p, EFAULT, "pool '%s': internal: object %p handed out while out",
					  p->name, objs[i]);
	}
}

static int not_object(struct udma_pool *p, const void *obj)
{
	unsigned i = udma__pool_containing(p, obj);
	const struct udma_pool *q;

	if (!obj)
		return udma__pool_misuse(p, EINVAL, "pool '%s': put of NULL; put refused", p->name);
	if (i != UINT_MAX)
		return udma__pool_misuse(
			p, EINVAL,
			"pool '%s': put of %p, %zu bytes into object #%u (%p): not the start "
			"of an object; put refused",
			p->name, obj, (size_t)((const uint8_t *)obj - (const uint8_t *)udma_pool_obj(p, i)),
			i, udma_pool_obj(p, i));
	q = udma__pool_owning(p->layer, obj);
	if (q == p)
		return udma__pool_misuse(
			p, EINVAL,
			"pool '%s': put of %p: inside the pool's memory but in no object (padding); "
			"put refused",
			p->name, obj);
	if (q)
		return udma__pool_misuse(
			p, EINVAL,
			"pool '%s': put of %p, which belongs to pool '%s' (wrong pool); put refused", p->name,
			obj, q->name);
	if (udma__region_of(p->ctx, obj))
		return udma__pool_misuse(
			p, EINVAL,
			"pool '%s': put of %p: udma memory of the context but not an object of this "
			"pool; put refused",
			p->name, obj);
	return udma__pool_misuse(
		p, EINVAL,
		"pool '%s': put of %p: not an object of this pool (not even udma memory of its "
		"context); put refused",
		p->name, obj);
}

int udma__pool_debug_put(struct udma_pool *p, void *obj)
{
	unsigned idx = udma_pool_index(p, obj);
	uint8_t want = POOL_OUT;
	uint64_t got;

	if (idx == UINT_MAX)
		return not_object(p, obj);
	if (udma__load_relaxed(&p->state[idx]) != POOL_OUT)
		goto twice;
	memcpy(&got, (uint8_t *)obj + p->obj_size, sizeof(got));
	if (got != cookie(p, idx))
		return udma__pool_misuse(p, EFAULT,
					 "pool '%s': object #%u (%p) was written past its %zu bytes (trailer "
					 "cookie overwritten); put refused",
					 p->name, idx, obj, p->obj_size);
	if (atomic_compare_exchange_strong(&p->state[idx], &want, POOL_FREE))
		return 0;
twice:
	return udma__pool_misuse(p, EINVAL,
				 "pool '%s': double put of object #%u (%p): it is already in the pool; "
				 "put refused",
				 p->name, idx, obj);
}

void udma__pool_debug_report_out(const struct udma_pool *p)
{
	unsigned i, shown = 0;
	char line[160];
	int len = 0;

	for (i = 0; i < p->count && shown < 8; i++)
		if (udma__load_relaxed(&p->state[i]) == POOL_OUT) {
			len += snprintf(line + len, sizeof(line) - (size_t)len, " #%u", i);
			shown++;
		}
	if (shown)
		udma__log(UDMA_LOG_WARN, "pool '%s': not returned:%s%s", p->name, line,
			  shown == 8 ? " ..." : "");
}
