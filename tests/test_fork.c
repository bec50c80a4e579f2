/* SPDX-License-Identifier: MIT */
/*
 * The fork contract (lib/mem/fork.c): a child inherits nothing usable. Every call
 * on an inherited context, pool, heap or device fails with -ECHILD without
 * taking a lock; the child's udma_ctx_destroy releases only its own copies
 * and leaves the parent's device working; a child holding copies of the fds
 * does not keep a device process alive; the BARs are not mapped in a child;
 * a context made in the child works.
 */
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <unistd.h>

#include "tests/support/helpers.h"
#include "tests/support/qemu_user.h"
#include "sim/simd_spawn.h"
#include "drivers/simdrv/simdrv.h"
#include "lib/mem/mem.h" /* to hold the context's locks across a fork */
#include "lib/alloc/heap_internal.h"
#include "lib/alloc/pool_internal.h"

#define BUF 4096u

/* The parent's state, inherited by the child as a copy. */
struct world {
	struct udma_ctx *ctx;
	struct udma_region *region;
	struct udma_pool *cached, *direct;
	void *obj, *heap_buf;
	struct udma_dev *dev;
	struct simdrv drv;
	struct simd_proc proc;
	bool in_process;
	int fds_before[256]; /* the fds open before the context */
	int nfds_before;
};

static int list_fds(int *fds, int max)
{
	DIR *d = opendir("/proc/self/fd");
	struct dirent *e;
	int n = 0;

	assert_non_null(d);
	while ((e = readdir(d)))
		if (e->d_name[0] != '.' && atoi(e->d_name) != dirfd(d) && n < max)
			fds[n++] = atoi(e->d_name);
	closedir(d);
	return n;
}

static bool has_fd(const int *fds, int n, int fd)
{
	int i;

	for (i = 0; i < n; i++)
		if (fds[i] == fd)
			return true;
	return false;
}

/* Fork, run fn in the child (alarm: a hang is a failure), return its exit
 * status, or 128 + the signal that ended it. */
static int in_child(int (*fn)(struct world *), struct world *w)
{
	int status;
	pid_t pid = fork();

	assert_true(pid >= 0);
	if (pid == 0) {
		alarm(20);
		_exit(fn(w));
	}
	assert_int_equal(waitpid(pid, &status, 0), pid);
	return WIFEXITED(status) ? WEXITSTATUS(status) : 128 + WTERMSIG(status);
}

/* One COPY of BUF bytes through queue 0, checked. */
static void copy_once(struct simdrv *drv, uint8_t *dst, uint8_t *src, unsigned seed)
{
	struct simdev_sqe sqe = {.opcode = SIMDEV_OP_COPY,
				 .len = BUF,
				 .src = udma_iova(drv->ctx, src),
				 .dst = udma_iova(drv->ctx, dst),
				 .cookie = seed};
	struct simdev_cqe cqe;
	unsigned i, waits = 0;

	for (i = 0; i < BUF; i++)
		src[i] = (uint8_t)(seed + i * 7);
	memset(dst, 0, BUF);
	assert_int_equal(simdrv_submit(&drv->q[0], &sqe, 1), 1);
	while (!simdrv_reap(&drv->q[0], &cqe, 1)) { /* 10 s at most, sanitizers included */
		assert_int_equal(simdrv_wait(drv, 0), 0);
		usleep(100);
		assert_true(++waits < 100000);
	}
	assert_int_equal(SIMDEV_CQE_STATUS(cqe.status), SIMDEV_ST_OK);
	assert_memory_equal(dst, src, BUF);
}

static void world_open(struct world *w, bool in_process)
{
	struct udma_ctx_opts co = {.iova_mode = UDMA_IOVA_VA, .numa_node = UDMA_NUMA_ANY};
	struct udma_region_opts ro = {.size = 2 * BUF, .numa_node = UDMA_NUMA_ANY, .name = "fork"};
	struct udma_pool_opts po = {
		.obj_size = BUF, .count = 64, .cache_size = 16, .numa_node = UDMA_NUMA_ANY};
	char spec[200] = "sim:fork,queues=1";

	memset(w, 0, sizeof(*w));
	w->in_process = in_process;
	w->nfds_before = list_fds(w->fds_before, 256);
	if (in_process) {
		assert_int_equal(simd_spawn(&w->proc, NULL, NULL), 0);
		snprintf(spec, sizeof(spec), "sim:fork,queues=1@%s", w->proc.sock);
	}
	assert_int_equal(udma_ctx_create(&co, &w->ctx), 0);
	assert_int_equal(udma_dev_open(w->ctx, spec, &w->dev), 0);
	assert_int_equal(udma_region_create(w->ctx, &ro, &w->region), 0);
	po.name = "cached";
	assert_int_equal(udma_pool_create(w->ctx, &po, &w->cached), 0);
	po.name = "direct";
	po.cache_size = 0;
	assert_int_equal(udma_pool_create(w->ctx, &po, &w->direct), 0);
	w->obj = udma_pool_get(w->cached);
	assert_non_null(w->obj);
	udma_pool_put(w->cached, w->obj); /* the thread's cache now holds it */
	w->heap_buf = udma_malloc(w->ctx, BUF, 0, NULL);
	assert_non_null(w->heap_buf);
	assert_int_equal(simdrv_attach(&w->drv, w->ctx, w->dev, false), 0);
	assert_int_equal(simdrv_queue_setup(&w->drv, 0, SIMDEV_QTYPE_DMA, 64), 0);
	assert_int_equal(simdrv_enable(&w->drv), 0);
	copy_once(&w->drv, udma_region_addr(w->region), w->heap_buf, 1);
}

static void world_close(struct world *w)
{
	assert_int_equal(simdrv_detach(&w->drv), 0);
	udma_free(w->ctx, w->heap_buf);
	udma_pool_destroy(w->cached);
	udma_pool_destroy(w->direct);
	udma_region_destroy(w->region);
	udma_dev_close(w->dev);
	udma_ctx_destroy(w->ctx);
	if (w->in_process)
		assert_int_equal(simd_reap(&w->proc, 2000), 0); /* exited: its driver left */
}

static bool refused(void)
{
	return strstr(udma_last_error(), "inherited across fork") != NULL;
}

/* A context of the child's own: region, pool, heap, all usable. */
static int child_fresh_context(void)
{
	struct udma_ctx_opts co = {.iova_mode = UDMA_IOVA_VA, .numa_node = UDMA_NUMA_ANY};
	struct udma_pool_opts po = {.obj_size = 256, .count = 8, .cache_size = 4, .numa_node = UDMA_NUMA_ANY};
	struct udma_region_opts ro = {.size = BUF, .numa_node = UDMA_NUMA_ANY};
	struct udma_region *r;
	struct udma_pool *p;
	struct udma_ctx *ctx;
	void *o, *m;
	int bad = 0;

	if (udma_ctx_create(&co, &ctx) || udma_region_create(ctx, &ro, &r) || udma_pool_create(ctx, &po, &p))
		return 1;
	memset(udma_region_addr(r), 1, BUF);
	o = udma_pool_get(p);
	m = udma_malloc(ctx, 100, 0, NULL);
	bad = !o || !m || udma_iova(ctx, m) == UDMA_BAD_IOVA;
	if (o)
		udma_pool_put(p, o);
	udma_free(ctx, m);
	udma_pool_destroy(p);
	udma_region_destroy(r);
	udma_ctx_destroy(ctx);
	return bad;
}

/* After udma_ctx_destroy in a child: its copies of every fd the context held
 * are closed. */
static bool only_fds_before(const struct world *w)
{
	int fds[256], n = list_fds(fds, 256), i;

	for (i = 0; i < n; i++)
		if (!has_fd(w->fds_before, w->nfds_before, fds[i])) {
			fprintf(stderr, "child: fd %d still open after udma_ctx_destroy\n", fds[i]);
			return false;
		}
	return true;
}

/* Every call on the inherited state: refused, saying why; then destroy. Exit
 * code: the number of the first check that failed. */
static int child_calls(struct world *w)
{
	uint8_t *addr = udma_region_addr(w->region);
	struct udma_region_opts ro = {.size = BUF, .numa_node = UDMA_NUMA_ANY};
	struct udma_pool_stats st;
	struct udma_region *r = NULL;
	void *objs[2], *bar;
	size_t len;

	if (udma_iova(w->ctx, addr) != UDMA_BAD_IOVA || !refused())
		return 10;
	if (udma_iova_contig(w->ctx, addr, BUF) != 0)
		return 11;
	if (udma_region_create(w->ctx, &ro, &r) != -ECHILD || r || !refused())
		return 12;
	if (udma_pool_get(w->cached) || !refused() || udma_pool_get(w->direct) || !refused())
		return 13;
	if (udma_pool_get_bulk(w->direct, objs, 2) != -ECHILD)
		return 14;
	if (udma_pool_iova(w->cached, w->obj) != UDMA_BAD_IOVA || udma_pool_obj(w->cached, 0) ||
	    udma_pool_index(w->cached, w->obj) != UINT_MAX || udma_pool_avail(w->cached) != 0 ||
	    udma_pool_stats(w->cached, &st) != -ECHILD)
		return 15;
	udma_pool_put(w->direct, w->obj); /* refused: no crash, nothing taken */
	if (!refused())
		return 16;
	if (udma_malloc(w->ctx, 64, 0, NULL) || !refused())
		return 17;
	udma_free(w->ctx, w->heap_buf);
	if (!refused())
		return 18;
	if (udma_dev_notify(w->dev) != -ECHILD || udma_dev_bar(w->dev, 0, &bar, &len) != -ECHILD ||
	    udma_dev_irq_fd(w->dev, 0) != -ECHILD || udma_dev_irq_ack(w->dev, 0) != -ECHILD)
		return 19;
	if (strstr(udma_last_error(), "create a new context in the child") == NULL)
		return 20;
	/* What would touch the parent's device or memory does nothing here. */
	udma_dev_close(w->dev);
	udma_pool_destroy(w->cached);
	udma_region_destroy(w->region);
	udma_ctx_destroy(w->ctx);
	if (!only_fds_before(w))
		return 21;
	return child_fresh_context() ? 22 : 0;
}

static void inherited_calls(bool in_process)
{
	struct world w;

	world_open(&w, in_process);
	assert_int_equal(in_child(child_calls, &w), 0);
	/* The parent's device still has its memory and answers. */
	copy_once(&w.drv, w.heap_buf, udma_region_addr(w.region), 2);
	copy_once(&w.drv, udma_region_addr(w.region), w.heap_buf, 3);
	if (in_process) {
		/* Its monitor still watches: a device killed now is seen. */
		unsigned waits = 0;

		assert_int_equal(kill(w.proc.pid, SIGKILL), 0);
		while (!simdrv_gone(&w.drv)) {
			usleep(10000);
			assert_true(++waits < 500);
		}
		assert_int_equal(simd_reap(&w.proc, 1000), 128 + SIGKILL);
		w.in_process = false;
	}
	world_close(&w);
}

static void inherited_calls_thread_device(void **state)
{
	(void)state;
	inherited_calls(false);
}

static void inherited_calls_process_device(void **state)
{
	(void)state;
	inherited_calls(true);
}

/* A child that lives on with copies of every fd: the device process still
 * exits when the parent closes it. */
static void live_child_does_not_hold_device(void **state)
{
	struct world w;
	int pipefd[2], status;
	char c;
	pid_t pid;

	(void)state;
	world_open(&w, true);
	assert_int_equal(pipe2(pipefd, O_CLOEXEC), 0);
	pid = fork();
	assert_true(pid >= 0);
	if (pid == 0) {
		close(pipefd[1]);
		alarm(20);
		_exit(read(pipefd[0], &c, 1) == 0 ? 0 : 1); /* until the parent says */
	}
	close(pipefd[0]);
	world_close(&w); /* reaps the device: it must have exited by itself */
	close(pipefd[1]);
	assert_int_equal(waitpid(pid, &status, 0), pid);
	assert_true(WIFEXITED(status) && WEXITSTATUS(status) == 0);
}

/* The driver: opens the device, forks a child that holds copies of every fd
 * until the test lets it go, and dies without closing anything. */
static int orphaning_driver(struct world *w)
{
	char spec[200];
	struct udma_dev *dev;
	struct udma_ctx *ctx;
	pid_t kid;

	snprintf(spec, sizeof(spec), "sim:orphan@%s", w->proc.sock);
	if (udma_ctx_create(NULL, &ctx) || udma_dev_open(ctx, spec, &dev))
		return 1;
	kid = fork();
	if (kid == 0) {
		char c;

		alarm(20);
		_exit(read(w->fds_before[0], &c, 1) == 0 ? 0 : 1);
	}
	return kid > 0 ? 0 : 2;
}

/* A driver that dies without closing, leaving a child with copies of the
 * socket: the device process still exits (it watches the driver's process,
 * not only the connection). */
static void orphaned_device_exits(void **state)
{
	int go[2];
	struct world w;

	(void)state;
	memset(&w, 0, sizeof(w));
	assert_int_equal(pipe2(go, O_CLOEXEC), 0);
	w.fds_before[0] = go[0]; /* the grandchild waits on it */
	assert_int_equal(simd_spawn(&w.proc, NULL, NULL), 0);
	assert_int_equal(in_child(orphaning_driver, &w), 0);
	assert_int_equal(simd_reap(&w.proc, 3000), 0); /* exited by itself */
	close(go[1]);				       /* the grandchild may go */
	close(go[0]);
}

static int child_touch_bar(struct world *w)
{
	signal(SIGSEGV, SIG_DFL); /* cmocka's handler would go on running tests here */
	return *(volatile uint32_t *)w->drv.bar == 0xdeadbeefu ? 1 : 2;
}

/* A child cannot reach the parent's device registers: they are not mapped. */
static void bar_not_inherited(void **state)
{
	struct world w;

	(void)state;
	th_skip_if_qemu_lacks(TH_EMUL_MADVISE); /* MADV_DONTFORK */
	world_open(&w, false);
	assert_int_equal(in_child(child_touch_bar, &w), 128 + SIGSEGV);
	world_close(&w);
}

/* Hold a lock until the fork has been tested: lock, meet, meet again, unlock. */
struct holder {
	pthread_mutex_t *lock;
	pthread_barrier_t *meet;
};

static void *hold(void *arg)
{
	struct holder *h = arg;

	pthread_mutex_lock(h->lock);
	pthread_barrier_wait(h->meet);
	pthread_barrier_wait(h->meet);
	pthread_mutex_unlock(h->lock);
	return NULL;
}

/* The child_locked process ends through pthread_exit, so LeakSanitizer would
 * run there and report, as leaks, the inherited lists it leaves alone by
 * design (their lock was held at the fork). Only that child is excused. */
static bool leaks_excused;
int __lsan_is_turned_off(void);
int __lsan_is_turned_off(void)
{
	return leaks_excused;
}

static int child_locked(struct world *w)
{
	struct udma_region_opts ro = {.size = BUF, .numa_node = UDMA_NUMA_ANY};
	struct udma_region *r;

	/* Each would wait forever for a lock its holder, left in the parent,
	 * never gives back. */
	if (udma_region_create(w->ctx, &ro, &r) != -ECHILD)
		return 10;
	if (udma_pool_avail(w->cached) != 0 || udma_malloc(w->ctx, 64, 0, NULL))
		return 11;
	udma_ctx_destroy(w->ctx);
	if (!only_fds_before(w))
		return 12;
	if (child_fresh_context())
		return 13;
	/* The thread's pool and heap keys still hold the inherited caches:
	 * their destructors must leave them alone. */
	leaks_excused = true;
	pthread_exit(NULL);
}

/* Forked while other threads hold the context's, the pool layer's and the
 * heap's locks: the child neither hangs nor touches half-updated state. */
static void fork_while_locked(void **state)
{
	pthread_barrier_t meet;
	struct holder h[3];
	pthread_t t[3];
	struct world w;
	int i;

	(void)state;
	world_open(&w, false);
	h[0].lock = &w.ctx->lock;
	h[1].lock = &w.cached->layer->lock;
	h[2].lock = &((struct udma_heap *)udma__ctx_state(w.ctx, UDMA_CTX_SLOT_HEAP))->lock;
	pthread_barrier_init(&meet, NULL, 4);
	for (i = 0; i < 3; i++) {
		h[i].meet = &meet;
		th_thread_start(&t[i], hold, &h[i]);
	}
	pthread_barrier_wait(&meet); /* all three held */
	assert_int_equal(in_child(child_locked, &w), 0);
	pthread_barrier_wait(&meet);
	for (i = 0; i < 3; i++)
		pthread_join(t[i], NULL);
	pthread_barrier_destroy(&meet);
	world_close(&w);
}

/* Regions, pools and heap blocks made and freed without pause, as forks land. */
struct churn {
	struct udma_ctx *ctx;
	bool contig; /* PA mode: the contiguity search maps scratch files too */
	_Atomic bool stop;
};

static void *churn(void *arg)
{
	struct churn *c = arg;
	struct udma_region_opts ro = {
		.size = 256 << 10, .page_size = UDMA_PAGE_4K, .numa_node = UDMA_NUMA_ANY};
	struct udma_pool_opts po = {.obj_size = 2048, .count = 64, .numa_node = UDMA_NUMA_ANY};
	unsigned i;

	for (i = 0; !c->stop; i++) {
		struct udma_region *r;
		struct udma_pool *p;
		void *m;

		ro.flags = (i & 1) ? UDMA_REGION_SHARED : (c->contig ? UDMA_REGION_CONTIG : 0);
		if (udma_region_create(c->ctx, &ro, &r) == 0)
			udma_region_destroy(r);
		if (udma_pool_create(c->ctx, &po, &p) == 0)
			udma_pool_destroy(p);
		m = udma_malloc(c->ctx, 300 << 10, 0, NULL); /* a region of its own */
		udma_free(c->ctx, m);
	}
	return NULL;
}

/* Exit code: 1 if a udma mapping came along, 2 if an fd is left after
 * udma_ctx_destroy. */
static int child_after_racing_fork(struct world *w)
{
	char line[512];
	FILE *f = fopen("/proc/self/maps", "re");
	int found = 0;

	if (!f)
		return 3;
	while (fgets(line, sizeof(line), f))
		if (strstr(line, "memfd:udma") || strstr(line, "[anon:udma:"))
			found = 1;
	fclose(f);
	if (found)
		return 1;
	udma_ctx_destroy(w->ctx);
	return only_fds_before(w) ? 0 : 2;
}

/* Forks while three threads are in the middle of making or unmaking regions:
 * a child never gets a region's memory (not yet MADV_DONTFORK) nor an fd
 * that its udma_ctx_destroy cannot find, and every fork gets in. */
static void fork_while_creating(void **state)
{
	struct udma_ctx_opts co = {.iova_mode = UDMA_IOVA_AUTO, .numa_node = UDMA_NUMA_ANY};
	struct churn c = {.contig = false};
	pthread_t t[3];
#ifdef TH_UNDER_TSAN
	unsigned i, forks = 50;
#else
	unsigned i, forks = 300;
#endif
	struct world w;

	(void)state;
	th_skip_if_qemu_lacks(TH_EMUL_MADVISE); /* MADV_DONTFORK */
	memset(&w, 0, sizeof(w));
	w.nfds_before = list_fds(w.fds_before, 256);
	assert_int_equal(udma_ctx_create(&co, &w.ctx), 0);
	c.ctx = w.ctx;
	c.contig = udma_ctx_iova_mode(w.ctx) == UDMA_IOVA_PA;
	for (i = 0; i < 3; i++) /* never a pause between them: a fork must still get in */
		th_thread_start(&t[i], churn, &c);
	alarm(300); /* a fork that never gets in is a hang: fail loudly */
	for (i = 0; i < forks; i++) {
		int rc = in_child(child_after_racing_fork, &w);

		if (rc)
			fail_msg("fork %u: the child %s", i,
				 rc == 1 ? "had a udma region mapped" : "kept an fd after udma_ctx_destroy");
		usleep(200);
	}
	alarm(0);
	c.stop = true;
	for (i = 0; i < 3; i++)
		pthread_join(t[i], NULL);
	printf("  %u forks during region churn (%s mode): no child got a region or kept an fd\n", forks,
	       c.contig ? "PA, CONTIG" : "VA");
	udma_ctx_destroy(w.ctx);
}

/* Every fd udma opens is close-on-exec: nothing leaks into a program a
 * child execs. */
static void fds_close_on_exec(void **state)
{
	struct udma_region_opts ro = {
		.size = 4 << 20, .numa_node = UDMA_NUMA_ANY, .flags = UDMA_REGION_SHARED};
	struct udma_region *shared, *huge = NULL;
	int fds[256], n, i, checked = 0;
	struct world w;

	(void)state;
	world_open(&w, true);
	assert_int_equal(udma_region_create(w.ctx, &ro, &shared), 0);
	if (th_hugepages_ensure(UDMA_PAGE_2M, 2)) {
		ro.flags = 0;
		ro.page_size = UDMA_PAGE_2M;
		assert_int_equal(udma_region_create(w.ctx, &ro, &huge), 0);
	}
	n = list_fds(fds, 256);
	for (i = 0; i < n; i++) {
		if (has_fd(w.fds_before, w.nfds_before, fds[i]))
			continue;
		checked++;
		if (!(fcntl(fds[i], F_GETFD) & FD_CLOEXEC))
			fail_msg("fd %d, opened by udma, is not close-on-exec", fds[i]);
	}
	assert_true(checked >= 5); /* pagemap, eventfds, socket, memfds */
	udma_region_destroy(huge);
	udma_region_destroy(shared);
	world_close(&w);
}

/* A memory event callback runs inside a fork hold (its thread is making a
 * region): a fork from it waits for the other threads' holds, not its own
 * (the old code waited for itself for ever). Run in a child under alarm, so
 * a regression fails instead of hanging. */
static int fork_from_event(void *arg, enum udma_mem_event ev, struct udma_region *r)
{
	pid_t pid;
	int status;

	(void)r;
	if (ev != UDMA_MEM_ADDED)
		return 0;
	pid = fork();
	if (pid == 0)
		_exit(0);
	*(int *)arg = pid > 0 && waitpid(pid, &status, 0) == pid && WIFEXITED(status) ? 1 : -1;
	return 0;
}

static int fork_inside_callback(void *arg)
{
	struct udma_ctx_opts co = {.numa_node = UDMA_NUMA_ANY, .page_size = 4096};
	struct udma_region_opts ro = {
		.size = 4096, .page_size = 4096, .name = "f", .numa_node = UDMA_NUMA_ANY};
	struct udma_region *r = NULL;
	struct udma_ctx *ctx = NULL;
	int forked = 0;

	(void)arg;
	alarm(20);
	if (udma_ctx_create(&co, &ctx) || udma_mem_event_register(ctx, fork_from_event, &forked))
		return 2;
	if (udma_region_create(ctx, &ro, &r))
		return 3;
	udma_region_destroy(r);
	udma_ctx_destroy(ctx);
	return forked == 1 ? 0 : 4;
}

static void fork_in_event_callback(void **state)
{
	(void)state;
	assert_int_equal(th_run_child(fork_inside_callback, NULL, 0, (size_t)-1), 0);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		th_test(inherited_calls_thread_device),
		th_test(inherited_calls_process_device),
		th_test(live_child_does_not_hold_device),
		th_test(orphaned_device_exits),
		th_test(bar_not_inherited),
		th_test(fork_while_locked),
		th_test(fork_while_creating),
		th_test(fds_close_on_exec),
		th_test(fork_in_event_callback),
	};

	th_threads_warm_up(TH_MAX_THREADS);
	return cmocka_run_group_tests(tests, NULL, NULL);
}
