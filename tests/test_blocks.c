/* SPDX-License-Identifier: MIT */
/* The shared building blocks, white-box: the intrusive list (lib/base/list.h),
 * the page -> IOVA helper (lib/mem/mem.h) and the per-thread cache mechanism
 * of pools and heap (lib/alloc/thread_cache.c): memo, key, thread exit, fork. */
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "tests/support/helpers.h"
#include "lib/alloc/alloc.h"

struct item {
	int v;
	struct udma__link link;
};

static int item_at(const struct udma__list *l, unsigned i)
{
	const struct udma__link *k = l->first;

	while (k && i--)
		k = k->next;
	return k ? udma__list_entry(k, struct item, link)->v : -1;
}

static void list_push_and_unlink(void **state)
{
	struct udma__list l = {NULL};
	struct item a = {.v = 1}, b = {.v = 2}, c = {.v = 3};

	(void)state;
	udma__list_push(&l, &a.link);
	udma__list_push(&l, &b.link);
	udma__list_push(&l, &c.link);
	assert_int_equal(item_at(&l, 0), 3);
	assert_int_equal(item_at(&l, 1), 2);
	assert_int_equal(item_at(&l, 2), 1);
	udma__list_del(&b.link); /* middle */
	assert_int_equal(item_at(&l, 0), 3);
	assert_int_equal(item_at(&l, 1), 1);
	assert_int_equal(item_at(&l, 2), -1);
	udma__list_del(&c.link); /* first */
	assert_ptr_equal(l.first, &a.link);
	assert_ptr_equal(a.link.pprev, &l.first);
	udma__list_push(&l, &b.link);
	udma__list_del(&a.link); /* last */
	assert_ptr_equal(l.first, &b.link);
	assert_null(b.link.next);
	udma__list_del(&b.link);
	assert_null(l.first);
}

static void page_iova(void **state)
{
	/* 4 KiB pages: frames 0x100000 and 0x7, from a base of 0x7 */
	static uint32_t small[] = {0x100000 - 0x7, 0};
	/* 2 MiB pages: frame 0x8000000000 (a PA of 2^60) keeps its top bits in base */
	static uint32_t huge[] = {0, 1};
	const struct udma_frames none = {0}, s = {small, 0x7}, h = {huge, 0x8000000000ull};
	uint8_t buf[16];

	(void)state;
	assert_int_equal(udma__page_iova(&none, 12, buf + 5, 5), (uint64_t)(uintptr_t)(buf + 5));
	assert_int_equal(udma__page_iova(&s, 12, buf, 0), 0x100000000ull);
	assert_int_equal(udma__page_iova(&s, 12, buf, 4095), 0x100000fffull);
	assert_int_equal(udma__page_iova(&s, 12, buf, 4096), 0x7000ull);
	assert_int_equal(udma__page_iova(&s, 12, buf, 8191), 0x7fffull);
	assert_int_equal(udma__page_iova(&h, 21, buf, 3), (1ull << 60) + 3);
	assert_int_equal(udma__page_iova(&h, 21, buf, (2u << 20) + 3), (1ull << 60) + (2u << 20) + 3);
}

static struct udma_ctx fake_ctx; /* owner_init reads forks only */
static void *exited;

static void record_exit(void *rec)
{
	exited = rec;
}

static void *bind_and_exit(void *arg)
{
	struct tcache_owner *o = arg;
	static int rec;

	return (void *)(intptr_t)udma__tcache_bind(o, &rec);
}

static void tcache_memo(void **state)
{
	struct tcache_owner a, b;
	int ra, rb;
	pthread_t t;
	pid_t pid;
	void *ret;

	(void)state;
	fake_ctx.forks = udma__forks;
	assert_int_equal(udma__tcache_owner_init(&a, TCACHE_HEAP, &fake_ctx, record_exit, "test"), 0);
	assert_int_equal(udma__tcache_owner_init(&b, TCACHE_HEAP, &fake_ctx, record_exit, "test"), 0);
	assert_true(b.gen > a.gen); /* never reused */

	assert_null(udma__tcache_find(&a));
	assert_int_equal(udma__tcache_bind(&a, &ra), 0);
	assert_ptr_equal(udma__tcache_find(&a), &ra);
	assert_int_equal(udma__tcache_memo[TCACHE_HEAP].gen, a.gen);
	assert_int_equal(udma__tcache_memo[TCACHE_POOLS].gen, 0); /* one memo per kind */

	/* Another owner of the kind takes the memo; the first is found again through its key. */
	assert_null(udma__tcache_find(&b));
	assert_int_equal(udma__tcache_bind(&b, &rb), 0);
	assert_int_equal(udma__tcache_memo[TCACHE_HEAP].gen, b.gen);
	assert_ptr_equal(udma__tcache_find(&a), &ra);
	assert_int_equal(udma__tcache_memo[TCACHE_HEAP].gen, a.gen);

	/* Thread exit: the key's destructor gets the thread's record. */
	th_thread_start(&t, bind_and_exit, &a);
	assert_int_equal(pthread_join(t, &ret), 0);
	assert_null(ret);
	assert_non_null(exited);
	assert_ptr_not_equal(exited, &ra);

	/* A forked child forgets its memos. */
	pid = fork();
	assert_true(pid >= 0);
	if (!pid)
		_exit(udma__tcache_memo[TCACHE_HEAP].gen == 0 && !udma__tcache_memo[TCACHE_HEAP].rec ? 0 : 1);
	assert_int_equal(th_wait_child(pid), 0);
	assert_int_equal(udma__tcache_memo[TCACHE_HEAP].gen, a.gen);

	/* A destructor in a forked child (forks differ) leaves the record alone. */
	a.forks = udma__forks + 1;
	assert_false(udma__tcache_exiting(&a, &ra));
	assert_int_equal(udma__tcache_memo[TCACHE_HEAP].gen, a.gen);
	a.forks = udma__forks;
	assert_true(udma__tcache_exiting(&a, &ra));
	assert_int_equal(udma__tcache_memo[TCACHE_HEAP].gen, 0);

	/* Teardown forgets the memo of its owner only. */
	assert_ptr_equal(udma__tcache_find(&b), &rb);
	udma__tcache_owner_fini(&a);
	assert_int_equal(udma__tcache_memo[TCACHE_HEAP].gen, b.gen);
	udma__tcache_owner_fini(&b);
	assert_int_equal(udma__tcache_memo[TCACHE_HEAP].gen, 0);
	assert_null(udma__tcache_memo[TCACHE_HEAP].rec);
}

int main(void)
{
	th_threads_warm_up(1);

	const struct CMUnitTest tests[] = {
		th_test(list_push_and_unlink),
		th_test(page_iova),
		th_test(tcache_memo),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
