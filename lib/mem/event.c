/* SPDX-License-Identifier: MIT */
/*
 * Memory events: the context's subscribers hear of every region made and
 * unmade (the contract is in udma/region.h). Callbacks run under ctx->lock,
 * and under a heap class lock when the heap grows a slab; a thread-local mark
 * tells the calls that would take one of those again (or any lock that may be
 * held while waiting for ctx->lock) to fail instead of deadlocking.
 */
#include <errno.h>
#include <string.h>

#include "lib/mem/mem.h"

/* The callbacks this thread is running, innermost first: a frame on the
 * stack of each call. All of them count: a callback of A that makes a region
 * of B, whose callback makes one of A, holds A's lock already. */
struct udma__event_frame {
	const struct udma_ctx *ctx;
	const struct udma__event_frame *outer;
};
__thread const struct udma__event_frame *udma__event_frames __attribute__((tls_model("initial-exec")));

bool udma__in_mem_event_chain(const struct udma_ctx *ctx)
{
	const struct udma__event_frame *f;

	for (f = udma__event_frames; f; f = f->outer)
		if (f->ctx == ctx)
			return true;
	return false;
}

static int err_in_mem_event(const char *call, const char *done)
{
	return udma__err(EDEADLK,
			 "%s: called from a memory event callback of the same context, which runs "
			 "with the context's lock (and maybe a heap lock) held: %sdo it after the "
			 "callback returns",
			 call, done);
}

int udma__err_in_mem_event(const char *call)
{
	return err_in_mem_event(call, "");
}

void udma__refuse_in_mem_event(const char *call)
{
	err_in_mem_event(call, "nothing done; ");
	/* The call returns nothing: say it in the log too, or it goes unseen. */
	udma__log(UDMA_LOG_ERR, "%s", udma_last_error());
}

static const char *event_name(enum udma_mem_event ev)
{
	return ev == UDMA_MEM_ADDED ? "UDMA_MEM_ADDED" : "UDMA_MEM_REMOVED";
}

static int call(struct udma_ctx *ctx, const struct udma__mem_sub *s, enum udma_mem_event ev,
		struct udma_region *r)
{
	struct udma__event_frame frame = {.ctx = ctx, .outer = udma__event_frames};
	int rc;

	udma__event_frames = &frame;
	rc = s->fn(s->arg, ev, r);
	udma__event_frames = frame.outer;
	if (!rc || ev == UDMA_MEM_REMOVED || s->internal)
		return rc;	  /* an internal subscriber said why itself */
	if (rc > 0 || rc < -4095) /* not a negative errno */
		rc = -ECANCELED;
	return udma__err(-rc, "memory event subscriber %p (arg %p) refused region '%s' at %s: %s",
			 (void *)s->fn, s->arg, r->name, event_name(ev), udma__strerror(-rc));
}

static struct udma__mem_sub *find(struct udma_ctx *ctx, udma_mem_event_fn fn, void *arg)
{
	unsigned i;

	for (i = 0; i < ctx->nsubs; i++)
		if (ctx->subs[i].fn == fn && ctx->subs[i].arg == arg)
			return &ctx->subs[i];
	return NULL;
}

int udma__mem_subscribe(struct udma_ctx *ctx, udma_mem_event_fn fn, void *arg, bool internal,
			const char *what)
{
	struct udma__mem_sub *s;
	struct udma_region *r, *u;
	int rc = 0;

	if (find(ctx, fn, arg))
		return udma__err(EEXIST, "%s: this callback is registered with this arg already", what);
	if (ctx->nsubs == UDMA_MEM_EVENT_MAX)
		return udma__err(ENOSPC,
				 "%s: the context has %d memory event subscribers, the most it takes "
				 "(UDMA_MEM_EVENT_MAX; an attached device counts one): unregister one",
				 what, UDMA_MEM_EVENT_MAX);
	s = &ctx->subs[ctx->nsubs];
	*s = (struct udma__mem_sub){.fn = fn, .arg = arg, .internal = internal};
	for (r = ctx->regions; r; r = r->next)
		if ((rc = call(ctx, s, UDMA_MEM_ADDED, r)))
			break;
	if (!rc) {
		ctx->nsubs++;
		return 0;
	}
	for (u = ctx->regions; u != r; u = u->next)
		call(ctx, s, UDMA_MEM_REMOVED, u);
	return rc;
}

int udma__mem_unsubscribe(struct udma_ctx *ctx, udma_mem_event_fn fn, void *arg, const char *what)
{
	struct udma__mem_sub *s = find(ctx, fn, arg);

	if (!s)
		return udma__err(ENOENT, "%s: this callback is not registered with this arg", what);
	memmove(s, s + 1, (size_t)(ctx->subs + ctx->nsubs - (s + 1)) * sizeof(*s));
	ctx->nsubs--;
	return 0;
}

int udma__mem_announce_added(struct udma_ctx *ctx, struct udma_region *r)
{
	unsigned i, j;
	int rc;

	for (i = 0; i < ctx->nsubs; i++)
		if ((rc = call(ctx, &ctx->subs[i], UDMA_MEM_ADDED, r))) {
			for (j = i; j-- > 0;)
				call(ctx, &ctx->subs[j], UDMA_MEM_REMOVED, r);
			return rc;
		}
	return 0;
}

void udma__mem_announce_removed(struct udma_ctx *ctx, struct udma_region *r)
{
	unsigned i;

	for (i = ctx->nsubs; i-- > 0;)
		call(ctx, &ctx->subs[i], UDMA_MEM_REMOVED, r);
}

/* The public calls: checked, then under a fork hold (a replay's callbacks
 * may make regions of other contexts, and a fork waits for them as for any
 * region made: see lib/mem/fork.c) and the context's lock. */
static int subscription(struct udma_ctx *ctx, udma_mem_event_fn fn, void *arg, bool add, const char *what)
{
	int rc;

	if (!ctx || !fn)
		return udma__err(EINVAL, "%s: %s is NULL", what, ctx ? "fn" : "ctx");
	if (udma__inherited(ctx))
		return udma__err_inherited(ctx, what);
	udma__fork_hold();
	if (!(rc = udma__ctx_lock(ctx, what))) {
		rc = add ? udma__mem_subscribe(ctx, fn, arg, false, what)
			 : udma__mem_unsubscribe(ctx, fn, arg, what);
		pthread_mutex_unlock(&ctx->lock);
	}
	udma__fork_release();
	return rc;
}

int udma_mem_event_register(struct udma_ctx *ctx, udma_mem_event_fn fn, void *arg)
{
	return subscription(ctx, fn, arg, true, "udma_mem_event_register");
}

int udma_mem_event_unregister(struct udma_ctx *ctx, udma_mem_event_fn fn, void *arg)
{
	return subscription(ctx, fn, arg, false, "udma_mem_event_unregister");
}
