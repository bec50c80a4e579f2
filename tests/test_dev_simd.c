/* SPDX-License-Identifier: MIT */
/*
 * The simulated device in its own process (udma-simd, "sim:NAME@SOCKET"):
 * what can go wrong when opening it, and either side dying. Killing the device
 * mid-traffic: the driver sees it within a second (registers read all ones, the
 * interrupt fd fires) and takes back every buffer it had in flight. Killing
 * the driver: the device process exits cleanly. The operations themselves are
 * tested in both modes by test_dev_sim.
 */
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/time.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "tests/support/helpers.h"
#include "sim/simd_proto.h"
#include "sim/simd_spawn.h"
#include "drivers/simdrv/simdrv.h"

#define BUF_SIZE  (64u << 10)
#define POOL_BUFS 512u
#define DEPTH	  256u

static double now_ms(void)
{
	struct timespec t;

	clock_gettime(CLOCK_MONOTONIC, &t);
	return t.tv_sec * 1e3 + t.tv_nsec / 1e6;
}

static int open_on(struct udma_ctx *ctx, const char *name, const struct simd_proc *p, struct udma_dev **dev)
{
	char spec[256];

	snprintf(spec, sizeof(spec), "%s@%s", name, p->sock);
	return udma_dev_open(ctx, spec, dev);
}

static void open_errors(void **state)
{
	struct udma_region_opts ro = {.size = 1 << 20, .numa_node = UDMA_NUMA_ANY, .name = "early"};
	struct udma_region *early, *shared;
	struct udma_dev *dev = NULL;
	struct udma_ctx *ctx;
	struct simd_proc p;
	char spec[300];
	const char *args[] = {"--max-block", "1M", NULL};

	(void)state;
	assert_int_equal(udma_ctx_create(NULL, &ctx), 0);
	th_assert_err(udma_dev_open(ctx, "sim:x@", &dev), EINVAL);
	memset(spec, 0, sizeof(spec));
	strcpy(spec, "sim:x@/");
	memset(spec + 7, 'a', 150);
	th_assert_err(udma_dev_open(ctx, spec, &dev), ENAMETOOLONG);
	th_assert_err(udma_dev_open(ctx, "sim:x@/nonexistent/sock", &dev), ENOENT);
	assert_non_null(strstr(udma_last_error(), "udma-simd --socket"));
	/* Not a device that exited: no socket at all. */
	th_assert_err(udma_dev_open(ctx, "sim:x@/dev/null", &dev), ENOTSOCK);
	assert_non_null(strstr(udma_last_error(), "/dev/null is not a socket"));
	th_assert_err(udma_dev_open(ctx, "sim:x,queues=0@/nonexistent/sock", &dev), EINVAL);
	assert_null(dev);

	/* The device refuses what it cannot do, in its own words. */
	assert_int_equal(simd_spawn(&p, NULL, args), 0);
	th_assert_err(open_on(ctx, "sim:big,block=2M", &p, &dev), EINVAL);
	assert_non_null(strstr(udma_last_error(), "--max-block"));
	assert_int_equal(simd_reap(&p, 2000), 0);

	/* A region made before the device has no file to hand it, unless SHARED. */
	assert_int_equal(udma_region_create(ctx, &ro, &early), 0);
	assert_int_equal(simd_spawn(&p, NULL, NULL), 0);
	th_assert_err(open_on(ctx, "sim:late", &p, &dev), EBUSY);
	assert_non_null(strstr(udma_last_error(), "'early'"));
	assert_int_equal(simd_reap(&p, 2000), 0);
	udma_region_destroy(early);
	ro.flags = UDMA_REGION_SHARED;
	ro.name = "shared";
	assert_int_equal(udma_region_create(ctx, &ro, &shared), 0);
	assert_int_equal(simd_spawn(&p, NULL, NULL), 0);
	assert_int_equal(open_on(ctx, "sim:ok", &p, &dev), 0);
	/* One driver per device: a second one is turned away. */
	{
		struct udma_dev *second = NULL;

		th_assert_err(open_on(ctx, "sim:two", &p, &second), ENOENT);
		assert_null(second);
	}
	udma_dev_close(dev);
	udma_region_destroy(shared);
	assert_int_equal(simd_reap(&p, 2000), 0);
	udma_ctx_destroy(ctx);
}

struct traffic {
	struct udma_ctx *ctx;
	struct udma_dev *dev;
	struct simdrv drv;
	struct udma_pool *pool;
	struct simd_proc proc;
	unsigned out; /* buffers taken from the pool */
};

static void traffic_open(struct traffic *t, bool irq)
{
	struct udma_pool_opts po = {
		.obj_size = BUF_SIZE, .count = POOL_BUFS, .numa_node = UDMA_NUMA_ANY, .name = "kill-bufs"};
	/* VA: 64 KiB buffers need no physical contiguity (PA is test_dev_sim's). */
	struct udma_ctx_opts o = {.iova_mode = UDMA_IOVA_VA, .numa_node = UDMA_NUMA_ANY};

	memset(t, 0, sizeof(*t));
	assert_int_equal(simd_spawn(&t->proc, NULL, NULL), 0);
	assert_int_equal(udma_ctx_create(&o, &t->ctx), 0);
	assert_int_equal(open_on(t->ctx, "sim:victim,queues=1", &t->proc, &t->dev), 0);
	if (udma_pool_create(t->ctx, &po, &t->pool))
		fail_msg("udma_pool_create: %s", udma_last_error());
	assert_int_equal(simdrv_attach(&t->drv, t->ctx, t->dev, irq), 0);
	assert_int_equal(simdrv_queue_setup(&t->drv, 0, SIMDEV_QTYPE_DMA, DEPTH), 0);
	assert_int_equal(simdrv_enable(&t->drv), 0);
}

/* Keep the queue full of 64 KiB copies between pool buffers; the cookie
 * names both, so whatever comes back (done or abandoned) goes back. */
static void refill(struct traffic *t)
{
	struct simdrv_queue *q = &t->drv.q[0];
	struct simdev_sqe sqe[32];
	unsigned n = 0;

	while (n < 32 && simdrv_space(q) > n) {
		void *src = udma_pool_get(t->pool), *dst;

		if (!src)
			break;
		dst = udma_pool_get(t->pool);
		if (!dst) {
			udma_pool_put(t->pool, src);
			break;
		}
		t->out += 2;
		sqe[n] = (struct simdev_sqe){.opcode = SIMDEV_OP_COPY,
					     .len = BUF_SIZE,
					     .src = udma_pool_iova(t->pool, src),
					     .dst = udma_pool_iova(t->pool, dst),
					     .cookie = (uint64_t)udma_pool_index(t->pool, src) << 32 |
						       udma_pool_index(t->pool, dst)};
		n++;
	}
	assert_int_equal(simdrv_submit(q, sqe, n), n);
}

static void give_back(struct traffic *t, uint64_t cookie)
{
	udma_pool_put(t->pool, udma_pool_obj(t->pool, (unsigned)(cookie >> 32)));
	udma_pool_put(t->pool, udma_pool_obj(t->pool, (unsigned)cookie));
	t->out -= 2;
}

static void reap_all(struct traffic *t, unsigned *done)
{
	struct simdev_cqe cqe[64];
	unsigned n, i;

	while ((n = simdrv_reap(&t->drv.q[0], cqe, 64))) {
		for (i = 0; i < n; i++) {
			assert_int_equal(SIMDEV_CQE_STATUS(cqe[i].status), SIMDEV_ST_OK);
			give_back(t, cqe[i].cookie);
		}
		*done += n;
	}
}

static void kill_device(bool irq)
{
	struct udma_region_opts ro = {.size = 1 << 20, .numa_node = UDMA_NUMA_ANY, .name = "after"};
	double t0 = 0, seen = 0;
	uint64_t cookies[DEPTH];
	struct udma_region *r;
	unsigned done = 0, n, i;
	struct traffic t;
	int rc;

	traffic_open(&t, irq);
	for (;;) {
		refill(&t);
		rc = simdrv_wait(&t.drv, 100);
		reap_all(&t, &done);
		if (rc == -ENODEV)
			break;
		assert_true(rc == 0 || rc == -ETIMEDOUT);
		if (!t0 && done >= 2000) {
			t0 = now_ms();
			assert_int_equal(kill(t.proc.pid, SIGKILL), 0);
		}
		if (t0)
			assert_true(now_ms() - t0 < 1000); /* noticed within a second */
	}
	seen = now_ms() - t0;
	assert_true(t0 > 0);
	assert_true(simdrv_gone(&t.drv));
	printf("  device killed after %u copies; the driver saw it %.1f ms later (%s)\n", done, seen,
	       irq ? "interrupts" : "polling");
	/* Everything still in flight comes back. */
	assert_true(t.drv.q[0].inflight > 0);
	while ((n = simdrv_abandon(&t.drv.q[0], cookies, DEPTH)))
		for (i = 0; i < n; i++)
			give_back(&t, cookies[i]);
	assert_int_equal(t.out, 0);
	assert_int_equal(udma_pool_avail(t.pool), POOL_BUFS);
	th_assert_err(udma_dev_notify(t.dev), ENODEV);
	assert_non_null(strstr(udma_last_error(), "its process exited"));
	/* The context goes on: a region made now needs no device. */
	assert_int_equal(udma_region_create(t.ctx, &ro, &r), 0);
	udma_region_destroy(r);
	assert_int_equal(simdrv_detach(&t.drv), 0);
	udma_pool_destroy(t.pool);
	udma_dev_close(t.dev);
	udma_ctx_destroy(t.ctx);
	assert_int_equal(simd_reap(&t.proc, 1000), 128 + SIGKILL);
}

static void kill_device_polling(void **state)
{
	(void)state;
	kill_device(false);
}

static void kill_device_irq(void **state)
{
	(void)state;
	kill_device(true);
}

/* SIGSTOP lands asynchronously: wait until every thread of pid is stopped. */
static void stop_process(pid_t pid)
{
	char path[64], line[512];
	struct dirent *e;
	unsigned running;
	DIR *d;

	assert_int_equal(kill(pid, SIGSTOP), 0);
	snprintf(path, sizeof(path), "/proc/%d/task", (int)pid);
	do {
		running = 0;
		d = opendir(path);
		assert_non_null(d);
		while ((e = readdir(d))) {
			char stat[sizeof(path) + sizeof(e->d_name) + 8];
			const char *s;
			FILE *f;

			if (e->d_name[0] == '.')
				continue;
			snprintf(stat, sizeof(stat), "%s/%s/stat", path, e->d_name);
			f = fopen(stat, "r");
			if (!f)
				continue;
			/* The state follows the command, which is in parentheses. */
			if (fgets(line, sizeof(line), f) && (s = strrchr(line, ')')) && s[2] != 'T')
				running++;
			fclose(f);
		}
		closedir(d);
	} while (running);
}

/* A device that stops answering (SIGSTOP) is killed, and only then declared
 * gone: once the driver takes its buffers back, nothing writes them again. */
static void stuck_device(void **state)
{
	struct udma_region_opts ro = {.size = 1 << 20, .numa_node = UDMA_NUMA_ANY, .name = "while-stuck"};
	uint64_t cookies[DEPTH];
	struct udma_region *r;
	unsigned n, i, done = 0;
	struct traffic t;
	char why[96];
	double t0;

	(void)state;
	traffic_open(&t, false);
	refill(&t);
	stop_process(t.proc.pid);
	t0 = now_ms();
	/* The MAP it cannot answer: after the reply timeout it is killed, and a
	 * region needs no device that is gone. */
	assert_int_equal(udma_region_create(t.ctx, &ro, &r), 0);
	printf("  stuck device killed after %.0f ms\n", now_ms() - t0);
	assert_true(simdrv_gone(&t.drv));
	th_assert_err(udma_dev_notify(t.dev), ENODEV);
	/* Killed by us, not dead of its own: the reason says so, and how long it had. */
	snprintf(why, sizeof(why), "stopped answering: killed after waiting %d ms", SIMD_REPLY_MS);
	if (!strstr(udma_last_error(), why))
		fail_msg("not the reason it is gone: %s", udma_last_error());
	assert_int_equal(simd_reap(&t.proc, 1000), 128 + SIGKILL); /* dead already */
	/* What it completed before it stopped, then what it never will. */
	reap_all(&t, &done);
	while ((n = simdrv_abandon(&t.drv.q[0], cookies, DEPTH)))
		for (i = 0; i < n; i++)
			give_back(&t, cookies[i]);
	assert_int_equal(t.out, 0);
	assert_int_equal(udma_pool_avail(t.pool), POOL_BUFS);
	udma_region_destroy(r);
	assert_int_equal(simdrv_detach(&t.drv), 0);
	udma_pool_destroy(t.pool);
	udma_dev_close(t.dev);
	udma_ctx_destroy(t.ctx);
}

/* Detaching from a device that does not finish its reset (stopped): the
 * rings are not freed (it could still write them) and the error says so;
 * closing the device then kills it, and the context takes the rings back. */
static void detach_stuck(void **state)
{
	struct traffic t;

	(void)state;
	traffic_open(&t, false);
	stop_process(t.proc.pid);
	assert_int_equal(simdrv_detach(&t.drv), -ETIMEDOUT);
	assert_non_null(t.drv.q[0].sq); /* kept */
	udma_pool_destroy(t.pool);
	udma_dev_close(t.dev);	 /* its UNMAPs time out: killed */
	udma_ctx_destroy(t.ctx); /* reports the two rings, frees them */
	assert_int_equal(simd_reap(&t.proc, 1000), 128 + SIGKILL);
}

static void on_alarm(int sig)
{
	(void)sig;
}

/* A caller whose signals interrupt system calls (no SA_RESTART) still gets
 * a listening device from simd_spawn, not a hang or a spurious failure. */
static void spawn_under_signals(void **state)
{
	struct sigaction sa = {.sa_handler = on_alarm}, old;
	struct itimerval every_ms = {{0, 1000}, {0, 1000}}, off = {{0, 0}, {0, 0}};
	struct udma_ctx *ctx;
	struct udma_dev *dev;
	struct simd_proc p;
	int rc;

	(void)state;
	assert_int_equal(sigaction(SIGALRM, &sa, &old), 0);
	assert_int_equal(setitimer(ITIMER_REAL, &every_ms, NULL), 0);
	rc = simd_spawn(&p, NULL, NULL);
	assert_int_equal(setitimer(ITIMER_REAL, &off, NULL), 0);
	assert_int_equal(sigaction(SIGALRM, &old, NULL), 0);
	assert_int_equal(rc, 0);
	assert_int_equal(udma_ctx_create(NULL, &ctx), 0);
	assert_int_equal(open_on(ctx, "sim:alarmed", &p, &dev), 0);
	udma_dev_close(dev);
	udma_ctx_destroy(ctx);
	assert_int_equal(simd_reap(&p, 2000), 0);
}

struct churn {
	struct udma_ctx *ctx;
	int stop; /* atomic */
	unsigned made, failed;
};

static void *churn_regions(void *arg)
{
	struct udma_region_opts ro = {
		.size = 1 << 20, .page_size = 4096, .numa_node = UDMA_NUMA_ANY, .name = "churn"};
	struct churn *c = arg;
	struct udma_region *r;

	while (!__atomic_load_n(&c->stop, __ATOMIC_ACQUIRE)) {
		if (udma_region_create(c->ctx, &ro, &r)) {
			print_error("region created while a device process attaches: %s\n",
				    udma_last_error());
			c->failed++;
			continue;
		}
		udma_region_destroy(r);
		c->made++;
	}
	return NULL;
}

/* Regions created while device processes attach and detach: each either
 * gets a file in time or is rebuilt as one; none fails. (An open that finds
 * a file-less region already made is refused with -EBUSY, as documented.) */
static void regions_while_attaching(void **state)
{
	struct udma_ctx_opts o = {.iova_mode = UDMA_IOVA_VA, .numa_node = UDMA_NUMA_ANY};
	struct churn c = {0};
	pthread_t t;
	int i, attached = 0, rc;

	(void)state;
	assert_int_equal(udma_ctx_create(&o, &c.ctx), 0);
	th_thread_start(&t, churn_regions, &c);
	for (i = 0; i < 10; i++) {
		struct simd_proc p;
		struct udma_dev *dev;

		assert_int_equal(simd_spawn(&p, NULL, NULL), 0);
		rc = open_on(c.ctx, "sim:busy", &p, &dev);
		if (rc != -EBUSY) {
			assert_int_equal(rc, 0);
			udma_dev_close(dev);
			attached++;
		}
		assert_int_equal(simd_reap(&p, 2000), 0);
	}
	__atomic_store_n(&c.stop, 1, __ATOMIC_RELEASE);
	pthread_join(t, NULL);
	printf("  %u regions made while %d of 10 device processes attached and left\n", c.made, attached);
	assert_int_equal(c.failed, 0);
	assert_true(c.made > 0 && attached > 0);
	udma_ctx_destroy(c.ctx);
}

/* The driver dies mid-traffic: the device process stops and exits 0. */
static void kill_driver(void **state)
{
	struct simd_proc p;
	int ready[2], status;
	double t0;
	pid_t kid;
	char c;

	(void)state;
	assert_int_equal(simd_spawn(&p, NULL, NULL), 0);
	assert_int_equal(pipe(ready), 0);
	kid = fork();
	assert_true(kid >= 0);
	if (kid == 0) {
		struct udma_ctx_opts o = {.iova_mode = UDMA_IOVA_VA, .numa_node = UDMA_NUMA_ANY};
		struct traffic t;
		unsigned done = 0;

		close(ready[0]);
		memset(&t, 0, sizeof(t));
		if (udma_ctx_create(&o, &t.ctx) || open_on(t.ctx, "sim:orphan,queues=1", &p, &t.dev))
			_exit(1);
		{
			struct udma_pool_opts po = {.obj_size = BUF_SIZE,
						    .count = POOL_BUFS,
						    .numa_node = UDMA_NUMA_ANY,
						    .name = "kid"};

			if (udma_pool_create(t.ctx, &po, &t.pool) ||
			    simdrv_attach(&t.drv, t.ctx, t.dev, false) ||
			    simdrv_queue_setup(&t.drv, 0, SIMDEV_QTYPE_DMA, DEPTH) || simdrv_enable(&t.drv))
				_exit(2);
		}
		for (;;) {
			refill(&t);
			simdrv_wait(&t.drv, 100);
			reap_all(&t, &done);
			if (done >= 1000 && ready[1] >= 0) {
				if (write(ready[1], "x", 1) != 1)
					_exit(3);
				close(ready[1]);
				ready[1] = -1;
			}
		}
	}
	close(ready[1]);
	assert_int_equal(read(ready[0], &c, 1), 1); /* traffic is flowing */
	close(ready[0]);
	t0 = now_ms();
	assert_int_equal(kill(kid, SIGKILL), 0);
	assert_int_equal(waitpid(kid, &status, 0), kid);
	assert_true(WIFSIGNALED(status));
	assert_int_equal(simd_reap(&p, 1000), 0); /* a clean exit, within a second */
	printf("  driver killed; the device process exited 0 after %.1f ms\n", now_ms() - t0);
}

/* Every buffer back: detach, close, and the device process exits cleanly. */
static void traffic_close(struct traffic *t)
{
	assert_int_equal(simdrv_detach(&t->drv), 0);
	udma_pool_destroy(t->pool);
	udma_dev_close(t->dev);
	udma_ctx_destroy(t->ctx);
	assert_int_equal(simd_reap(&t->proc, 2000), 0);
}

/* A driver punches a hole in a hugepage region's file and leaves no hugepage
 * to fill it: the device's next DMA there would SIGBUS it. It survives (zero
 * pages over the hole) and keeps working. Needs root and a free 2 MiB page. */
static void hole_in_region(void **state)
{
	struct udma_region_opts ro = {.size = 2 << 20,
				      .page_size = 2 << 20,
				      .numa_node = UDMA_NUMA_ANY,
				      .flags = UDMA_REGION_SHARED,
				      .name = "holed"};
	struct simdev_sqe sqe;
	struct simdev_cqe cqe;
	struct udma_region *r;
	unsigned done = 0;
	struct traffic t;
	uint8_t *a;

	(void)state;
	if (!th_hugepages_ensure(2 << 20, 4))
		skip();
	traffic_open(&t, false);
	/* Its pool may have taken every free hugepage: one more for the region. */
	if (!th_hugepages_ensure(2 << 20, 1)) {
		traffic_close(&t);
		skip();
	}
	assert_int_equal(udma_region_create(t.ctx, &ro, &r), 0);
	a = udma_region_addr(r);
	assert_int_equal(fallocate(udma_region_fd(r), FALLOC_FL_PUNCH_HOLE | FALLOC_FL_KEEP_SIZE, 0, 2 << 20),
			 0);
	if (!th_hugepages_hold(2 << 20, 0)) {
		udma_region_destroy(r);
		th_hugepages_unhold();
		skip();
	}
	sqe = (struct simdev_sqe){
		.opcode = SIMDEV_OP_FILL, .len = 4096, .dst = udma_iova(t.ctx, a), .cookie = 1};
	assert_int_equal(simdrv_submit(&t.drv.q[0], &sqe, 1), 1);
	while (!simdrv_reap(&t.drv.q[0], &cqe, 1))
		assert_int_equal(simdrv_wait(&t.drv, 1000), 0);
	th_hugepages_unhold();
	/* Done (into the zero page put over the hole), not a crash. */
	assert_int_equal(SIMDEV_CQE_STATUS(cqe.status), SIMDEV_ST_OK);
	assert_int_equal(kill(t.proc.pid, 0), 0); /* alive */
	/* And still a working device. */
	refill(&t);
	while (t.out) {
		assert_int_equal(simdrv_wait(&t.drv, 1000), 0);
		reap_all(&t, &done);
	}
	assert_true(done > 0);
	udma_region_destroy(r);
	traffic_close(&t);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		th_test(open_errors),	  th_test(hole_in_region),	th_test(kill_device_polling),
		th_test(kill_device_irq), th_test(kill_driver),		th_test(stuck_device),
		th_test(detach_stuck),	  th_test(spawn_under_signals), th_test(regions_while_attaching),
	};

	th_threads_warm_up(TH_MAX_THREADS);
	return cmocka_run_group_tests_name("dev_simd", tests, NULL, NULL);
}
