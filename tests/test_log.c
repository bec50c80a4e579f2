/* SPDX-License-Identifier: MIT */
/* udma_set_log: the library's reports reach the program's callback, and nothing reaches stderr. */
#include <errno.h>
#include <semaphore.h>
#include <stdatomic.h>
#include <sys/wait.h>
#include <unistd.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "tests/support/helpers.h"

#define MAX_REPORTS 16

/* What the callback saw. */
struct reports {
	pthread_mutex_t lock;
	unsigned n;
	int level[MAX_REPORTS];
	char msg[MAX_REPORTS][1024];
};

static void record(void *arg, int level, const char *msg)
{
	struct reports *r = arg;

	pthread_mutex_lock(&r->lock);
	if (r->n < MAX_REPORTS) {
		r->level[r->n] = level;
		snprintf(r->msg[r->n], sizeof(r->msg[0]), "%s", msg);
	}
	r->n++;
	pthread_mutex_unlock(&r->lock);
}

/* The report of that level whose text holds what, or -1. */
static int find(const struct reports *r, int level, const char *what)
{
	for (unsigned i = 0; i < r->n && i < MAX_REPORTS; i++)
		if (r->level[i] == level && strstr(r->msg[i], what))
			return (int)i;
	return -1;
}

static void record_nothing(void *arg, int level, const char *msg)
{
	(void)arg;
	(void)level;
	(void)msg;
}

static struct udma_ctx *new_ctx(void)
{
	struct udma_ctx_opts o = {.numa_node = UDMA_NUMA_ANY, .page_size = 4096};
	struct udma_ctx *ctx = NULL;

	assert_int_equal(udma_ctx_create(&o, &ctx), 0);
	return ctx;
}

static struct udma_pool *new_pool(struct udma_ctx *ctx, const char *name)
{
	struct udma_pool_opts o = {.obj_size = 64, .count = 4, .numa_node = UDMA_NUMA_ANY, .name = name};
	struct udma_pool *p = NULL;

	assert_int_equal(udma_pool_create(ctx, &o, &p), 0);
	return p;
}

/* A pool destroyed with an object out (WARN), a heap block freed twice (ERR)
 * and one never freed (WARN): each reaches the callback, stderr stays empty. */
static void reports_reach_the_callback(void **state)
{
	struct reports r = {.lock = PTHREAD_MUTEX_INITIALIZER};
	struct th_stderr cap;
	struct udma_ctx *ctx;
	struct udma_pool *p;
	void *a, *b;
	int i;

	(void)state;
	udma_set_log(record, &r);
	th_stderr_start(&cap);
	ctx = new_ctx();
	p = new_pool(ctx, "logged");
	assert_non_null(udma_pool_get(p));
	udma_pool_destroy(p);
	a = udma_malloc(ctx, 100, 0, NULL);
	b = udma_malloc(ctx, 100, 0, NULL);
	assert_non_null(a);
	assert_non_null(b);
	udma_free(ctx, b);
	udma_free(ctx, b);
	udma_ctx_destroy(ctx);
	udma_set_log(NULL, NULL);
	assert_string_equal(th_stderr_end(&cap), "");

	i = find(&r, UDMA_LOG_WARN, "pool 'logged': 1 of 4 objects were not returned at udma_pool_destroy");
	assert_true(i >= 0);
	assert_int_equal(find(&r, UDMA_LOG_ERR, "double free"), find(&r, UDMA_LOG_ERR, "udma_free("));
	assert_true(find(&r, UDMA_LOG_ERR, "double free") >= 0);
	assert_true(find(&r, UDMA_LOG_WARN, "heap: 1 allocation") >= 0);
	assert_true(find(&r, UDMA_LOG_WARN, "never freed before udma_ctx_destroy") >= 0);
	/* The text alone: no "udma: " and no newline (the default adds them). */
	for (unsigned k = 0; k < r.n && k < MAX_REPORTS; k++) {
		assert_null(strchr(r.msg[k], '\n'));
		assert_true(strncmp(r.msg[k], "udma: ", 6) != 0);
	}
}

/* set_log(NULL) gives the reports back to stderr, byte for byte as before udma_set_log existed. */
static void null_restores_stderr(void **state)
{
	struct reports r = {.lock = PTHREAD_MUTEX_INITIALIZER};
	struct th_stderr cap;
	struct udma_ctx *ctx = new_ctx();
	struct udma_pool *p = new_pool(ctx, "plain");
	const char *out;

	(void)state;
	udma_set_log(record, &r);
	udma_set_log(NULL, NULL);
	assert_non_null(udma_pool_get(p));
	th_stderr_start(&cap);
	udma_pool_destroy(p);
	out = th_stderr_end(&cap);
	assert_int_equal(r.n, 0);
	assert_string_equal(out,
			    "udma: pool 'plain': 1 of 4 objects were not returned at udma_pool_destroy\n");
	udma_ctx_destroy(ctx);
}

/* The report follows a failure the caller reads from udma_last_error(), and a
 * callback that itself fails a udma call must not replace it. */
static void fails_inside(void *arg, int level, const char *msg)
{
	struct udma_ctx *ctx;

	record(arg, level, msg);
	assert_int_equal(udma_ctx_create(&(struct udma_ctx_opts){.page_size = 12345}, &ctx), -EINVAL);
}

static void last_error_survives_the_callback(void **state)
{
	struct reports r = {.lock = PTHREAD_MUTEX_INITIALIZER};
	struct udma_ctx *ctx = new_ctx();
	void *a = udma_malloc(ctx, 100, 0, NULL);

	(void)state;
	assert_non_null(a);
	udma_free(ctx, a);
	udma_set_log(fails_inside, &r);
	udma_free(ctx, a);
	udma_set_log(NULL, NULL);
	assert_int_equal(r.n, 1);
	assert_non_null(strstr(udma_last_error(), "double free"));
	udma_ctx_destroy(ctx);
}

/* Called from inside the callback, udma_set_log takes effect without waiting for itself. */
static void unset_inside(void *arg, int level, const char *msg)
{
	record(arg, level, msg);
	udma_set_log(NULL, NULL);
}

static void set_log_inside_the_callback(void **state)
{
	struct reports r = {.lock = PTHREAD_MUTEX_INITIALIZER};
	struct th_stderr cap;
	struct udma_ctx *ctx = new_ctx();
	struct udma_pool *p1 = new_pool(ctx, "first"), *p2 = new_pool(ctx, "second");
	const char *out;

	(void)state;
	assert_non_null(udma_pool_get(p1));
	assert_non_null(udma_pool_get(p2));
	udma_set_log(unset_inside, &r);
	th_stderr_start(&cap);
	udma_pool_destroy(p1);
	udma_pool_destroy(p2);
	out = th_stderr_end(&cap);
	assert_true(find(&r, UDMA_LOG_WARN, "pool 'first'") >= 0);
	assert_int_equal(find(&r, UDMA_LOG_WARN, "pool 'second'"), -1);
	assert_non_null(strstr(out, "udma: pool 'second': 1 of 4"));
	udma_ctx_destroy(ctx);
}

/* Several threads report at once: the callback runs in all of them at the
 * same time (each waits inside it until all are in), and udma_set_log,
 * called meanwhile, returns only once they have all left it. */
#define THREADS		 4
#define DEADLOCK_GUARD_S 60 /* not a timing: only a library that serializes callbacks gets here */

struct together {
	struct reports r;
	pthread_cond_t cond;
	unsigned inside, left, max_inside;
	int release, timed_out;
	unsigned left_when_set_log_returned;
};

static void wait_until(struct together *t, int (*done)(const struct together *))
{
	struct timespec until;

	clock_gettime(CLOCK_REALTIME, &until);
	until.tv_sec += DEADLOCK_GUARD_S;
	while (!done(t))
		if (pthread_cond_timedwait(&t->cond, &t->r.lock, &until) == ETIMEDOUT) {
			t->timed_out = 1;
			return;
		}
}

static int all_inside(const struct together *t)
{
	return t->inside == THREADS;
}

static int released(const struct together *t)
{
	return t->release;
}

static void meet(void *arg, int level, const char *msg)
{
	struct together *t = arg;

	record(&t->r, level, msg);
	pthread_mutex_lock(&t->r.lock);
	t->inside++;
	if (t->inside > t->max_inside)
		t->max_inside = t->inside;
	pthread_cond_broadcast(&t->cond);
	wait_until(t, all_inside);
	wait_until(t, released);
	t->left++;
	pthread_mutex_unlock(&t->r.lock);
}

static void *leak_one(void *arg)
{
	struct udma_ctx *ctx = arg;
	char name[32];
	struct udma_pool *p;

	snprintf(name, sizeof(name), "thread-%lx", (unsigned long)pthread_self());
	p = new_pool(ctx, name);
	assert_non_null(udma_pool_get(p));
	udma_pool_destroy(p);
	return NULL;
}

static void *set_log_meanwhile(void *arg)
{
	struct together *t = arg;

	udma_set_log(NULL, NULL);
	pthread_mutex_lock(&t->r.lock);
	t->left_when_set_log_returned = t->left;
	pthread_mutex_unlock(&t->r.lock);
	return NULL;
}

static void callbacks_at_once(void **state)
{
	struct together t = {.r.lock = PTHREAD_MUTEX_INITIALIZER, .cond = PTHREAD_COND_INITIALIZER};
	struct th_stderr cap;
	struct udma_ctx *ctx = new_ctx();
	pthread_t th[THREADS], setter;

	(void)state;
	udma_set_log(meet, &t);
	th_stderr_start(&cap);
	for (unsigned i = 0; i < THREADS; i++)
		th_thread_start(&th[i], leak_one, ctx);
	pthread_mutex_lock(&t.r.lock);
	wait_until(&t, all_inside);
	pthread_mutex_unlock(&t.r.lock);
	th_thread_start(&setter, set_log_meanwhile, &t);
	pthread_mutex_lock(&t.r.lock);
	t.release = 1;
	pthread_cond_broadcast(&t.cond);
	pthread_mutex_unlock(&t.r.lock);
	for (unsigned i = 0; i < THREADS; i++)
		pthread_join(th[i], NULL);
	pthread_join(setter, NULL);
	assert_string_equal(th_stderr_end(&cap), "");
	udma_ctx_destroy(ctx);

	assert_false(t.timed_out);
	assert_int_equal(t.max_inside, THREADS);
	assert_int_equal(t.r.n, THREADS);
	assert_int_equal(t.left_when_set_log_returned, t.r.n);
}

/* udma_set_log waits for the calls of the callback it replaces, never for
 * calls of the new one (reports that never stop would hold it off). T sits
 * in the old callback; the switch begins; U enters the new one and stays
 * there until the switch returns; T leaves. The switch must return (run in a
 * child under alarm: the old code waited for U forever). */
static struct udma_ctx *report_ctx;
static void *report_freed;
static sem_t entered_old, leave_old, entered_new, leave_new;
static atomic_int old_calls, switched;

static void report(void)
{
	udma_free(report_ctx, report_freed); /* a double free: one report */
}

static void old_callback(void *arg, int level, const char *msg)
{
	(void)arg;
	(void)level;
	(void)msg;
	if (atomic_fetch_add(&old_calls, 1) == 0) {
		sem_post(&entered_old);
		sem_wait(&leave_old);
	}
}

static void new_callback(void *arg, int level, const char *msg)
{
	(void)arg;
	(void)level;
	(void)msg;
	sem_post(&entered_new);
	sem_wait(&leave_new);
}

static void *reporter_t(void *arg)
{
	(void)arg;
	report();
	return NULL;
}

static void *reporter_u(void *arg)
{
	(void)arg;
	while (sem_trywait(&entered_new)) /* until one report is inside the new callback */
		report();
	sem_post(&entered_new);
	return NULL;
}

static void *switcher(void *arg)
{
	(void)arg;
	udma_set_log(new_callback, NULL);
	atomic_store(&switched, 1);
	sem_post(&leave_new);
	return NULL;
}

static int switch_while_new_callback_runs(void *arg)
{
	pthread_t t, u, s;

	(void)arg;
	alarm(20);
	report_ctx = new_ctx();
	report_freed = udma_malloc(report_ctx, 64, 0, NULL);
	udma_free(report_ctx, report_freed);
	sem_init(&entered_old, 0, 0);
	sem_init(&leave_old, 0, 0);
	sem_init(&entered_new, 0, 0);
	sem_init(&leave_new, 0, 0);
	udma_set_log(old_callback, NULL);
	pthread_create(&t, NULL, reporter_t, NULL);
	sem_wait(&entered_old);
	pthread_create(&s, NULL, switcher, NULL);
	pthread_create(&u, NULL, reporter_u, NULL);
	sem_wait(&entered_new); /* U is inside the new callback */
	sem_post(&entered_new);
	if (atomic_load(&switched))
		return 2; /* the switch returned while T was still in the old callback */
	sem_post(&leave_old);
	pthread_join(s, NULL); /* the old code never got past this */
	pthread_join(t, NULL);
	pthread_join(u, NULL);
	udma_set_log(NULL, NULL);
	udma_ctx_destroy(report_ctx);
	return 0;
}

static void set_log_waits_for_the_old_callback_only(void **state)
{
	(void)state;
	assert_int_equal(th_run_child(switch_while_new_callback_runs, NULL, 0, (size_t)-1), 0);
}

/* A fork while another thread, inside a fork hold (a memory event callback,
 * so making a region), makes a report: the fork waits for that thread, and
 * the report must not wait for the fork (the log lock was held across it). */
static struct udma_ctx *fork_c1, *fork_c2;
static void *fork_freed;
static sem_t in_callback;

static int report_in_event(void *arg, enum udma_mem_event ev, struct udma_region *r)
{
	(void)arg;
	(void)r;
	if (ev == UDMA_MEM_ADDED) {
		sem_post(&in_callback);
		usleep(200000);			/* the fork begins meanwhile */
		udma_free(fork_c2, fork_freed); /* a double free: a report */
	}
	return 0;
}

static void *make_region(void *arg)
{
	struct udma_region_opts o = {
		.size = 4096, .page_size = 4096, .name = "held", .numa_node = UDMA_NUMA_ANY};
	struct udma_region *r = NULL;

	(void)arg;
	if (udma_region_create(fork_c1, &o, &r) == 0)
		udma_region_destroy(r);
	return NULL;
}

static int fork_during_report(void *arg)
{
	pthread_t t;
	pid_t pid;
	int status;

	(void)arg;
	alarm(30);
	/* Contexts first, then the log: the order in which the two register
	 * their fork handlers, which made the old code hang. */
	fork_c1 = new_ctx();
	fork_c2 = new_ctx();
	udma_set_log(record_nothing, NULL);
	fork_freed = udma_malloc(fork_c2, 64, 0, NULL);
	udma_free(fork_c2, fork_freed);
	sem_init(&in_callback, 0, 0);
	if (udma_mem_event_register(fork_c1, report_in_event, NULL))
		return 2;
	pthread_create(&t, NULL, make_region, NULL);
	sem_wait(&in_callback);
	pid = fork();
	if (pid == 0)
		_exit(0);
	if (pid < 0 || waitpid(pid, &status, 0) != pid || !WIFEXITED(status))
		return 3;
	pthread_join(t, NULL);
	udma_mem_event_unregister(fork_c1, report_in_event, NULL);
	udma_ctx_destroy(fork_c1);
	udma_ctx_destroy(fork_c2);
	udma_set_log(NULL, NULL);
	return 0;
}

static void fork_while_a_held_thread_reports(void **state)
{
	(void)state;
	assert_int_equal(th_run_child(fork_during_report, NULL, 0, (size_t)-1), 0);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		/* First: its child must be a process where no udma fork handler
		 * was registered yet (see fork_during_report). */
		th_test(fork_while_a_held_thread_reports),
		th_test(reports_reach_the_callback),
		th_test(null_restores_stderr),
		th_test(last_error_survives_the_callback),
		th_test(set_log_inside_the_callback),
		th_test(callbacks_at_once),
		th_test(set_log_waits_for_the_old_callback_only),
	};

	/* One report per leak: a debug pool (UDMA_DEBUG=1, as make check runs
	 * the tests) adds a second line naming the objects. */
	unsetenv("UDMA_DEBUG");
	th_threads_warm_up(TH_MAX_THREADS);
	return cmocka_run_group_tests_name("log", tests, NULL, NULL);
}
