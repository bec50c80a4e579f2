/* SPDX-License-Identifier: MIT */
/* Pools: options, get/put/bulk, caches, index <-> pointer, IOVAs, packing on 4 KiB pages, debug mode. */
#include <errno.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <unistd.h>

#include "tests/support/helpers.h"

#define PAGE 4096

static struct udma_ctx *new_ctx_mode(size_t page_size, enum udma_iova_mode mode)
{
	struct udma_ctx_opts o = {.iova_mode = mode, .numa_node = UDMA_NUMA_ANY, .page_size = page_size};
	struct udma_ctx *ctx = NULL;

	assert_int_equal(udma_ctx_create(&o, &ctx), 0);
	return ctx;
}

static struct udma_ctx *new_ctx(size_t page_size)
{
	return new_ctx_mode(page_size, UDMA_IOVA_AUTO);
}

static struct udma_pool_opts popts(size_t obj_size, unsigned count, unsigned cache_size, unsigned flags)
{
	struct udma_pool_opts o = {.obj_size = obj_size,
				   .count = count,
				   .cache_size = cache_size,
				   .numa_node = UDMA_NUMA_ANY,
				   .flags = flags,
				   .name = "test"};
	return o;
}

static struct udma_pool *new_pool(struct udma_ctx *ctx, const struct udma_pool_opts *o)
{
	struct udma_pool *p = NULL;
	int rc = udma_pool_create(ctx, o, &p);

	if (rc)
		print_error("udma_pool_create: %s\n", udma_last_error());
	assert_int_equal(rc, 0);
	assert_non_null(p);
	return p;
}

/* Debug from the environment on or off for the pools created until debug_env_restore. */
static char saved_env[16];
static int had_env;

static void debug_env(int on)
{
	const char *v = getenv("UDMA_DEBUG");

	had_env = v != NULL;
	if (v)
		snprintf(saved_env, sizeof(saved_env), "%s", v);
	if (on)
		setenv("UDMA_DEBUG", "1", 1);
	else
		unsetenv("UDMA_DEBUG");
}

static void debug_env_restore(void)
{
	if (had_env)
		setenv("UDMA_DEBUG", saved_env, 1);
	else
		unsetenv("UDMA_DEBUG");
}

static unsigned lines(const char *s)
{
	unsigned n = 0;

	for (; *s; s++)
		n += *s == '\n';
	return n;
}

/* Get every object one by one: all distinct, then the pool is empty. Returns them (malloc'd). */
static void **get_all(struct udma_pool *p, unsigned count)
{
	void **objs = th_pool_take_all(p, count);

	assert_int_equal(udma_pool_avail(p), 0);
	return objs;
}

static void put_all(struct udma_pool *p, void **objs, unsigned count)
{
	unsigned i;

	for (i = 0; i < count; i++)
		udma_pool_put(p, objs[i]);
	free(objs);
	assert_int_equal(udma_pool_avail(p), count);
}

static void bad_opts(void **state)
{
	struct udma_ctx *ctx = new_ctx(0);
	struct udma_pool_opts o;
	struct udma_pool *p = (struct udma_pool *)&o;

	(void)state;
	o = popts(64, 16, 0, 0);
	th_assert_err(udma_pool_create(ctx, &o, NULL), EINVAL);
	th_assert_err(udma_pool_create(NULL, &o, &p), EINVAL);
	assert_null(p);
	th_assert_err(udma_pool_create(ctx, NULL, &p), EINVAL);

	o = popts(0, 16, 0, 0);
	th_assert_err(udma_pool_create(ctx, &o, &p), EINVAL);
	assert_non_null(strstr(udma_last_error(), "obj_size"));
	o = popts((size_t)2 << 30, 16, 0, 0);
	th_assert_err(udma_pool_create(ctx, &o, &p), EINVAL);
	o = popts(64, 16, 0, 0);
	o.align = 48;
	th_assert_err(udma_pool_create(ctx, &o, &p), EINVAL);
	assert_non_null(strstr(udma_last_error(), "power of two"));
	o.align = (size_t)2 << 30;
	th_assert_err(udma_pool_create(ctx, &o, &p), EINVAL);
	o = popts(64, 0, 0, 0);
	th_assert_err(udma_pool_create(ctx, &o, &p), EINVAL);
	assert_non_null(strstr(udma_last_error(), "count"));
	o = popts(64, UINT_MAX, 0, 0);
	th_assert_err(udma_pool_create(ctx, &o, &p), EINVAL);
	o = popts(64, 16, UDMA_POOL_CACHE_MAX + 1, 0);
	th_assert_err(udma_pool_create(ctx, &o, &p), EINVAL);
	assert_non_null(strstr(udma_last_error(), "cache_size"));
	o = popts(64, 16, 0, 1u << 7);
	th_assert_err(udma_pool_create(ctx, &o, &p), EINVAL);
	assert_non_null(strstr(udma_last_error(), "flags"));
	o = popts(64, 16, 0, 0);
	o.numa_node = 4096;
	assert_true(udma_pool_create(ctx, &o, &p) < 0);
	assert_null(p);

	/* the limits themselves are fine */
	o = popts(1, 1, UDMA_POOL_CACHE_MAX, 0);
	o.align = 1;
	p = new_pool(ctx, &o);
	assert_int_equal(udma_pool_obj_size(p), 1);
	th_assert_err(udma_pool_stats(p, NULL), EINVAL);
	th_assert_err(udma_pool_stats(NULL, NULL), EINVAL);
	udma_pool_destroy(p);
	udma_pool_destroy(NULL);
	udma_ctx_destroy(ctx);
}

/* Get everything, run dry, put everything back; with and without a cache, debug or not. */
static void get_put_all(unsigned cache, int debug)
{
	struct udma_ctx *ctx = new_ctx(0);
	struct udma_pool_opts o = popts(200, 1000, cache, debug ? UDMA_POOL_DEBUG : 0);
	struct udma_pool_stats st;
	struct udma_pool *p;
	void **objs, *x;
	unsigned i;

	debug_env(0);
	p = new_pool(ctx, &o);
	debug_env_restore();
	assert_int_equal(udma_pool_obj_size(p), 200);
	assert_int_equal(udma_pool_avail(p), 1000);
	/* LIFO: the object just put is the next one got */
	x = udma_pool_get(p);
	assert_ptr_equal(x, udma_pool_obj(p, 0));
	udma_pool_put(p, x);
	assert_ptr_equal(udma_pool_get(p), x);
	udma_pool_put(p, x);

	objs = get_all(p, 1000);
	assert_null(udma_pool_get(p));
	assert_int_equal(udma_pool_get_bulk(p, &x, 1), -ENOENT);
	assert_non_null(strstr(udma_last_error(), "nothing taken"));
	for (i = 0; i < 1000; i++)
		assert_int_equal((uintptr_t)objs[i] % 64, 0);
	put_all(p, objs, 1000);

	assert_int_equal(udma_pool_stats(p, &st), 0);
	assert_int_equal(st.gets, 1002);
	assert_int_equal(st.puts, 1002);
	assert_int_equal(st.gets, st.cache_hits + st.cache_misses);
	assert_int_equal(st.empty, 3);
	assert_int_equal(st.debug_errors, 0);
	if (!cache)
		assert_int_equal(st.cache_hits, 0);
	else
		assert_true(st.cache_hits > 0 && st.cache_misses > 0);
	udma_pool_destroy(p);
	udma_ctx_destroy(ctx);
}

static void get_put_nocache(void **state)
{
	(void)state;
	get_put_all(0, 0);
}

static void get_put_cache(void **state)
{
	(void)state;
	get_put_all(32, 0);
}

static void get_put_debug(void **state)
{
	(void)state;
	get_put_all(0, 1);
	get_put_all(32, 1);
}

/* Bulk: all or none, sizes around and beyond the cache. */
static void bulk(void **state)
{
	static const unsigned caches[] = {0, 1, 16, 512};
	struct udma_ctx *ctx = new_ctx(0);
	void *objs[300], *more[300];
	unsigned c, i;

	(void)state;
	for (c = 0; c < 4; c++) {
		struct udma_pool_opts o = popts(64, 600, caches[c], 0);
		struct udma_pool *p = new_pool(ctx, &o);

		assert_int_equal(udma_pool_get_bulk(p, objs, 0), 0);
		udma_pool_put_bulk(p, objs, 0);
		assert_int_equal(udma_pool_get_bulk(p, objs, 32), 0);
		assert_int_equal(udma_pool_avail(p), 600 - 32);
		udma_pool_put_bulk(p, objs, 32);
		assert_int_equal(udma_pool_avail(p), 600);
		/* larger than the cache */
		assert_int_equal(udma_pool_get_bulk(p, objs, 300), 0);
		assert_int_equal(udma_pool_get_bulk(p, more, 300), 0);
		assert_int_equal(udma_pool_avail(p), 0);
		udma_pool_put_bulk(p, more, 300);
		/* all or none: 301 of 300 takes nothing */
		th_assert_err(udma_pool_get_bulk(p, more, 301), ENOENT);
		assert_int_equal(udma_pool_avail(p), 300);
		assert_int_equal(udma_pool_get_bulk(p, more, 300), 0);
		for (i = 0; i < 300; i++)
			assert_int_not_equal(udma_pool_index(p, more[i]), UINT_MAX);
		udma_pool_put_bulk(p, objs, 300);
		udma_pool_put_bulk(p, more, 300);
		assert_int_equal(udma_pool_avail(p), 600);
		/* conservation after the mix */
		put_all(p, get_all(p, 600), 600);
		udma_pool_destroy(p);
	}
	udma_ctx_destroy(ctx);
}

/* Cache stats: the first get misses and refills, the next ones hit. */
static void cache_stats(void **state)
{
	struct udma_ctx *ctx = new_ctx(0);
	struct udma_pool_opts o = popts(64, 256, 64, 0);
	struct udma_pool_stats st;
	struct udma_pool *p;
	void *objs[8];
	unsigned i;

	(void)state;
	debug_env(0);
	p = new_pool(ctx, &o);
	debug_env_restore();
	for (i = 0; i < 8; i++)
		objs[i] = udma_pool_get(p);
	assert_int_equal(udma_pool_stats(p, &st), 0);
	assert_int_equal(st.gets, 8);
	assert_int_equal(st.cache_misses, 1);
	assert_int_equal(st.cache_hits, 7);
	/* the cache holds 32 - 7 now, the store the rest */
	assert_int_equal(udma_pool_avail(p), 256 - 8);
	for (i = 0; i < 8; i++)
		udma_pool_put(p, objs[i]);
	assert_int_equal(udma_pool_stats(p, &st), 0);
	assert_int_equal(st.puts, 8);
	assert_int_equal(udma_pool_avail(p), 256);
	udma_pool_destroy(p);
	udma_ctx_destroy(ctx);
}

/* index <-> obj both ways for every object, alignment, no overlap. */
static void check_indices(struct udma_pool *p, unsigned count, size_t obj_size, size_t align)
{
	void **sorted = malloc(count * sizeof(*sorted));
	unsigned i;

	assert_non_null(sorted);
	for (i = 0; i < count; i++) {
		uint8_t *x = udma_pool_obj(p, i);

		assert_non_null(x);
		assert_int_equal((uintptr_t)x % align, 0);
		assert_int_equal(udma_pool_index(p, x), i);
		if (obj_size > 1) {
			assert_int_equal(udma_pool_index(p, x + 1), UINT_MAX);
			assert_int_equal(udma_pool_index(p, x + obj_size - 1), UINT_MAX);
		}
		sorted[i] = x;
	}
	assert_null(udma_pool_obj(p, count));
	assert_null(udma_pool_obj(p, UINT_MAX));
	assert_int_equal(udma_pool_index(p, NULL), UINT_MAX);
	assert_int_equal(udma_pool_index(p, sorted), UINT_MAX);
	qsort(sorted, count, sizeof(*sorted), th_cmp_ptr);
	for (i = 1; i < count; i++)
		assert_true((uintptr_t)sorted[i] - (uintptr_t)sorted[i - 1] >= obj_size);
	free(sorted);
}

/* Regular packing (VA mode: all contiguous); layout_4k covers irregular packing. */
static void index_roundtrip(void **state)
{
	static const size_t sizes[] = {1, 64, 100, 2048, 3000, 9000};
	struct udma_ctx *ctx = new_ctx_mode(0, UDMA_IOVA_VA);
	unsigned i, d;

	(void)state;
	for (d = 0; d < 2; d++)
		for (i = 0; i < sizeof(sizes) / sizeof(sizes[0]); i++) {
			struct udma_pool_opts o = popts(sizes[i], 2000, 16, d ? UDMA_POOL_DEBUG : 0);
			struct udma_pool *p;

			o.align = sizes[i] == 100 ? 32 : 0;
			debug_env(0);
			p = new_pool(ctx, &o);
			debug_env_restore();
			check_indices(p, 2000, sizes[i], o.align ? o.align : 64);
			udma_pool_destroy(p);
		}
	udma_ctx_destroy(ctx);
}

/* Every object: udma_pool_iova == udma_iova == a fresh pagemap read (PA),
 * and its bytes are IOVA-contiguous. */
static void check_iovas(struct udma_ctx *ctx, struct udma_pool *p, unsigned count, size_t obj_size)
{
	int pa = udma_ctx_iova_mode(ctx) == UDMA_IOVA_PA;
	unsigned i;

	for (i = 0; i < count; i++) {
		const uint8_t *x = udma_pool_obj(p, i);
		uint64_t iova = udma_pool_iova(p, x);
		size_t off;

		assert_int_not_equal(iova, UDMA_BAD_IOVA);
		assert_int_equal(iova, udma_iova(ctx, x));
		assert_int_equal(udma_iova_contig(ctx, x, obj_size), obj_size);
		if (!pa) {
			assert_int_equal(iova, (uintptr_t)x);
			continue;
		}
		assert_int_equal(iova, th_pagemap_pa(x));
		/* every page the object touches follows the previous one physically */
		for (off = PAGE - (uintptr_t)x % PAGE; off < obj_size; off += PAGE)
			assert_int_equal(th_pagemap_pa(x + off), iova + off);
		assert_int_equal(th_pagemap_pa(x + obj_size - 1), iova + obj_size - 1);
	}
	assert_int_equal(udma_pool_iova(p, NULL), UDMA_BAD_IOVA);
	assert_int_equal(udma_pool_iova(p, &i), UDMA_BAD_IOVA);
}

static void iova_hugepages(void **state)
{
	struct udma_ctx *ctx;
	struct udma_pool_opts o = popts(2048, 8192, 64, 0);
	struct udma_pool *p;

	(void)state;
	if (!th_hugepages_ensure(UDMA_PAGE_2M, 10))
		skip();
	ctx = new_ctx(UDMA_PAGE_2M);
	p = new_pool(ctx, &o);
	assert_int_equal(udma_region_page_size(udma_region_next(ctx, NULL)), UDMA_PAGE_2M);
	check_iovas(ctx, p, 8192, 2048);
	check_indices(p, 8192, 2048, 64);
	udma_pool_destroy(p);
	udma_ctx_destroy(ctx);
}

/* 4 KiB pages: objects that do not divide a page cross page boundaries only
 * where the pages are physically contiguous (pagemap says so). */
static void layout_4k(void **state)
{
	/* 4096: one page each, without debug (whose trailer would make it two) */
	static const size_t sizes[] = {1500, 3000, 4096, 700, 1500, 700};
	static const unsigned flags[] = {0, 0, 0, 0, UDMA_POOL_DEBUG, UDMA_POOL_DEBUG};
	struct udma_ctx *ctx = new_ctx(UDMA_PAGE_4K);
	unsigned i;

	(void)state;
	if (udma_ctx_iova_mode(ctx) != UDMA_IOVA_PA)
		printf("# note: VA mode (no CAP_SYS_ADMIN): every page is IOVA-contiguous, the physical "
		       "layout is not exercised\n");
	for (i = 0; i < sizeof(sizes) / sizeof(sizes[0]); i++) {
		struct udma_pool_opts o = popts(sizes[i], 3000, 8, flags[i]);
		struct udma_pool *p;
		struct udma_region *r;

		o.align = sizes[i] == 4096 ? 4096 : 64;
		debug_env(0);
		p = new_pool(ctx, &o);
		debug_env_restore();
		for (r = udma_region_next(ctx, NULL); r; r = udma_region_next(ctx, r))
			assert_int_equal(udma_region_page_size(r), UDMA_PAGE_4K);
		check_iovas(ctx, p, 3000, sizes[i]);
		check_indices(p, 3000, sizes[i], o.align);
		put_all(p, get_all(p, 3000), 3000);
		udma_pool_destroy(p);
	}
	udma_ctx_destroy(ctx);
}

/* Objects of many pages on 4 KiB pages need physically contiguous runs, which
 * scattered 4 KiB pages do not give: a clear error. */
static void large_obj_4k(void **state)
{
	struct udma_ctx *ctx = new_ctx(UDMA_PAGE_4K);
	struct udma_pool_opts o = popts((size_t)1 << 20, 4, 0, 0);
	struct udma_pool *p = NULL;
	int rc;

	(void)state;
	rc = udma_pool_create(ctx, &o, &p);
	if (udma_ctx_iova_mode(ctx) == UDMA_IOVA_VA) {
		/* IOVA = VA: everything is contiguous */
		assert_int_equal(rc, 0);
		check_iovas(ctx, p, 4, o.obj_size);
	} else if (rc == 0) {
		printf("# the kernel gave 1 MiB physically contiguous runs of 4 KiB pages: checking them\n");
		check_iovas(ctx, p, 4, o.obj_size);
	} else {
		/* No run at all, or runs for some objects only: both say so. */
		th_assert_err(rc, ENOMEM);
		assert_null(p);
		assert_non_null(strstr(udma_last_error(), "contiguous"));
		assert_non_null(strstr(udma_last_error(), "hugepages"));
	}
	udma_pool_destroy(p);
	udma_ctx_destroy(ctx);
}

/* Each object's region is the pool's; several pools in one context. */
static void several_pools(void **state)
{
	struct udma_ctx *ctx = new_ctx(0);
	struct udma_pool *p[20];
	unsigned i;

	(void)state;
	for (i = 0; i < 20; i++) {
		struct udma_pool_opts o = popts(64 + i * 8, 100, i % 3 ? 8 : 0, 0);

		p[i] = new_pool(ctx, &o);
		udma_pool_put(p[i], udma_pool_get(p[i]));
	}
	/* destroy every other one, create more (ids are reused) */
	for (i = 0; i < 20; i += 2)
		udma_pool_destroy(p[i]);
	for (i = 0; i < 20; i += 2) {
		struct udma_pool_opts o = popts(128, 50, 4, 0);

		p[i] = new_pool(ctx, &o);
	}
	for (i = 0; i < 20; i++) {
		unsigned n = i % 2 ? 100 : 50;

		put_all(p[i], get_all(p[i], n), n);
		udma_pool_destroy(p[i]);
	}
	udma_ctx_destroy(ctx);
}

/* udma_pool_destroy reports what was not returned; udma_ctx_destroy destroys
 * and reports pools still alive. */
static void destroy_reports(void **state)
{
	struct udma_ctx *ctx = new_ctx(0);
	struct udma_pool_opts o = popts(64, 10, 4, UDMA_POOL_DEBUG);
	struct udma_pool *p = new_pool(ctx, &o);
	struct th_stderr cap;
	char buf[1024];

	(void)state;
	udma_pool_get(p);
	udma_pool_get(p);
	th_stderr_start(&cap);
	udma_pool_destroy(p);
	snprintf(buf, sizeof(buf), "%s", th_stderr_end(&cap));
	assert_non_null(strstr(buf, "2 of 10 objects were not returned"));
	assert_non_null(strstr(buf, "#0 #1"));

	p = new_pool(ctx, &o);
	udma_pool_get(p);
	th_stderr_start(&cap);
	udma_ctx_destroy(ctx);
	snprintf(buf, sizeof(buf), "%s", th_stderr_end(&cap));
	assert_non_null(strstr(buf, "pool 'test' was still alive"));
	assert_non_null(strstr(buf, "1 of 10 objects"));
}

/* Debug pools. Each misuse: one line on stderr naming it, the same in
 * udma_last_error(), counted, the put refused, the pool still whole. */
struct dbg {
	struct udma_ctx *ctx;
	struct udma_pool *p;
	unsigned count;
};

static void dbg_setup(struct dbg *d, unsigned cache, unsigned flags)
{
	struct udma_pool_opts o = popts(100, 64, cache, flags);

	d->ctx = new_ctx(0);
	d->count = 64;
	d->p = new_pool(d->ctx, &o);
}

static void expect_refused(struct dbg *d, void *obj, const char *what, uint64_t errors)
{
	struct udma_pool_stats st;
	unsigned avail = udma_pool_avail(d->p);
	struct th_stderr cap;
	char buf[1024];

	th_stderr_start(&cap);
	udma_pool_put(d->p, obj);
	snprintf(buf, sizeof(buf), "%s", th_stderr_end(&cap));
	if (!strstr(buf, what))
		print_error("stderr: %s\n", buf);
	assert_non_null(strstr(buf, what));
	assert_non_null(strstr(buf, "put refused"));
	assert_int_equal(lines(buf), 1);
	assert_non_null(strstr(udma_last_error(), what));
	assert_int_equal(udma_pool_avail(d->p), avail);
	assert_int_equal(udma_pool_stats(d->p, &st), 0);
	assert_int_equal(st.debug_errors, errors);
}

/* Still whole: every object that is in can be had once, no stranger among them. */
static void dbg_check_whole(struct dbg *d, unsigned out)
{
	unsigned n = d->count - out;

	assert_int_equal(udma_pool_avail(d->p), n);
	put_all(d->p, get_all(d->p, n), n);
}

static void dbg_teardown(struct dbg *d)
{
	udma_pool_destroy(d->p);
	udma_ctx_destroy(d->ctx);
}

static void debug_double_put(void **state)
{
	unsigned cache;

	(void)state;
	for (cache = 0; cache <= 8; cache += 8) {
		struct dbg d;
		void *x, *y;

		dbg_setup(&d, cache, UDMA_POOL_DEBUG);
		x = udma_pool_get(d.p);
		y = udma_pool_get(d.p);
		udma_pool_put(d.p, x);
		expect_refused(&d, x, "double put", 1);
		/* twice in one bulk: the second one is refused */
		{
			void *two[2] = {y, y};
			struct th_stderr cap;
			char buf[512];

			th_stderr_start(&cap);
			udma_pool_put_bulk(d.p, two, 2);
			snprintf(buf, sizeof(buf), "%s", th_stderr_end(&cap));
			assert_non_null(strstr(buf, "double put"));
		}
		dbg_check_whole(&d, 0);
		dbg_teardown(&d);
	}
}

static void debug_wrong_pool(void **state)
{
	struct udma_pool_opts o = popts(100, 64, 0, UDMA_POOL_DEBUG);
	struct udma_pool *other;
	struct dbg d;
	void *x;

	(void)state;
	dbg_setup(&d, 8, UDMA_POOL_DEBUG);
	o.name = "other";
	other = new_pool(d.ctx, &o);
	x = udma_pool_get(other);
	expect_refused(&d, x, "belongs to pool 'other'", 1);
	dbg_check_whole(&d, 0);
	udma_pool_put(other, x);
	assert_int_equal(udma_pool_avail(other), 64);
	udma_pool_destroy(other);
	dbg_teardown(&d);
}

static void debug_interior(void **state)
{
	struct dbg d;
	uint8_t *x;

	(void)state;
	dbg_setup(&d, 8, UDMA_POOL_DEBUG);
	x = udma_pool_get(d.p);
	expect_refused(&d, x + 8, "8 bytes into object #0", 1);
	expect_refused(&d, x + 99, "not the start of an object", 2);
	udma_pool_put(d.p, x);
	dbg_check_whole(&d, 0);
	dbg_teardown(&d);
}

static void debug_random_pointer(void **state)
{
	struct udma_region_opts ro = {.size = 4096, .numa_node = UDMA_NUMA_ANY, .name = "plain"};
	struct udma_region *r;
	struct dbg d;
	int local;
	void *heap = malloc(64);

	(void)state;
	dbg_setup(&d, 0, UDMA_POOL_DEBUG);
	expect_refused(&d, heap, "not an object of this pool", 1);
	expect_refused(&d, &local, "not an object of this pool", 2);
	expect_refused(&d, NULL, "put of NULL", 3);
	assert_int_equal(udma_region_create(d.ctx, &ro, &r), 0);
	expect_refused(&d, udma_region_addr(r), "udma memory of the context", 4);
	/* the pool's own memory past its last object: the last byte of its region */
	expect_refused(&d,
		       (uint8_t *)udma_region_addr(udma_region_next(d.ctx, NULL)) +
			       udma_region_size(udma_region_next(d.ctx, NULL)) - 1,
		       "in no object", 5);
	udma_region_destroy(r);
	free(heap);
	dbg_check_whole(&d, 0);
	dbg_teardown(&d);
}

static void debug_overrun(void **state)
{
	unsigned cache;

	(void)state;
	for (cache = 0; cache <= 8; cache += 8) {
		struct dbg d;
		uint8_t *x, *y;
		struct th_stderr cap;
		char buf[512];

		dbg_setup(&d, cache, UDMA_POOL_DEBUG);
		x = udma_pool_get(d.p);
		y = udma_pool_get(d.p);
		memset(x, 0xab, 100); /* all of it is fine */
		udma_pool_put(d.p, x);
		x = udma_pool_get(d.p);
		x[100] ^= 0xff; /* one byte past the end */
		expect_refused(&d, x, "written past its 100 bytes", 1);
		/* the refused object stays out; the rest is whole */
		udma_pool_put(d.p, y);
		dbg_check_whole(&d, 1);
		th_stderr_start(&cap);
		dbg_teardown(&d);
		snprintf(buf, sizeof(buf), "%s", th_stderr_end(&cap));
		assert_non_null(strstr(buf, "1 of 64 objects were not returned"));
	}
}

/* UDMA_DEBUG=1 in the environment makes every pool a debug pool. */
static void debug_from_env(void **state)
{
	struct dbg d;
	void *x;

	(void)state;
	debug_env(1);
	dbg_setup(&d, 8, 0);
	debug_env_restore();
	x = udma_pool_get(d.p);
	udma_pool_put(d.p, x);
	expect_refused(&d, x, "double put", 1);
	dbg_check_whole(&d, 0);
	dbg_teardown(&d);
}

/* Without debug a double put is not caught when it happens, but the pool
 * never claims more than it has, and destroy says what went wrong. */
static void double_put_without_debug(void **state)
{
	struct udma_ctx *ctx = new_ctx(0);
	struct udma_pool_opts o = popts(64, 4, 8, 0);
	struct udma_pool *p;
	struct th_stderr cap;
	char buf[1024];
	void *obj;

	(void)state;
	debug_env(0);
	p = new_pool(ctx, &o);
	debug_env_restore();
	obj = udma_pool_get(p);
	udma_pool_put(p, obj);
	udma_pool_put(p, obj);
	assert_true(udma_pool_avail(p) <= 4);
	th_stderr_start(&cap);
	udma_pool_destroy(p);
	snprintf(buf, sizeof(buf), "%s", th_stderr_end(&cap));
	assert_non_null(strstr(buf, "1 more objects were put back than were taken: a double put"));
	udma_ctx_destroy(ctx);
}

/* Page-sized, page-aligned objects on 4 KiB pages each fit one page; the debug
 * trailer after each is for the CPU only and must not ask for a second,
 * physically adjacent page. */
static void debug_trailer_needs_no_contiguity(void **state)
{
	struct udma_ctx *ctx = new_ctx(PAGE);
	struct udma_pool_opts o = popts(PAGE, 256, 0, UDMA_POOL_DEBUG);
	struct udma_pool *p;
	unsigned i;

	(void)state;
	o.align = PAGE;
	p = new_pool(ctx, &o);
	for (i = 0; i < 256; i++) {
		uint8_t *obj = udma_pool_obj(p, i);

		assert_int_equal((uintptr_t)obj % PAGE, 0);
		assert_int_equal(udma_iova_contig(ctx, obj, PAGE), PAGE);
	}
	udma_pool_destroy(p);
	udma_ctx_destroy(ctx);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		th_test(bad_opts),
		th_test(get_put_nocache),
		th_test(get_put_cache),
		th_test(get_put_debug),
		th_test(bulk),
		th_test(cache_stats),
		th_test(index_roundtrip),
		th_test(iova_hugepages),
		th_test(layout_4k),
		th_test(large_obj_4k),
		th_test(several_pools),
		th_test(destroy_reports),
		th_test(debug_double_put),
		th_test(debug_wrong_pool),
		th_test(debug_interior),
		th_test(debug_random_pointer),
		th_test(debug_overrun),
		th_test(debug_from_env),
		th_test(debug_trailer_needs_no_contiguity),
		th_test(double_put_without_debug),
	};

	return cmocka_run_group_tests_name("pool", tests, NULL, NULL);
}
