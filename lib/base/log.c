/* SPDX-License-Identifier: MIT */
/* The library's reports: one line on stderr, or the program's callback (udma_set_log). */
#include <errno.h>
#include <pthread.h>
#include <stdarg.h>
#include <stdio.h>
#include <string.h>

#include "lib/base/base.h"

static pthread_mutex_t log_lock = PTHREAD_MUTEX_INITIALIZER;
static pthread_cond_t log_idle = PTHREAD_COND_INITIALIZER; /* in_flight reached 0 */
static udma_log_fn log_fn;				   /* NULL: stderr */
static void *log_arg;
static unsigned in_flight;	/* calls of a callback under way, in every thread */
static __thread unsigned depth; /* those of this thread */
static pthread_once_t fork_once = PTHREAD_ONCE_INIT;

/* A fork must not copy log_lock held, nor count calls of threads the child lacks. */
static void before_fork(void)
{
	pthread_mutex_lock(&log_lock);
}

static void in_parent(void)
{
	pthread_mutex_unlock(&log_lock);
}

static void in_child(void)
{
	in_flight = depth;
	pthread_cond_init(&log_idle, NULL); /* waiters were the parent's threads */
	pthread_mutex_unlock(&log_lock);
}

static void register_fork_handlers(void)
{
	/* Fails only without memory; the lock is then held for a few
	 * instructions at a time, a narrow window for a fork to copy it held. */
	(void)pthread_atfork(before_fork, in_parent, in_child);
}

void udma_set_log(udma_log_fn fn, void *arg)
{
	pthread_once(&fork_once, register_fork_handlers);
	pthread_mutex_lock(&log_lock);
	log_fn = fn;
	log_arg = fn ? arg : NULL;
	/* From inside a callback, waiting could wait for itself (or for another
	 * thread doing the same): there it takes effect without waiting. */
	while (!depth && in_flight)
		pthread_cond_wait(&log_idle, &log_lock);
	pthread_mutex_unlock(&log_lock);
}

void udma__log(int level, const char *fmt, ...)
{
	char msg[1024], last_error[1024];
	int saved_errno = errno;
	udma_log_fn fn;
	void *arg;
	va_list ap;

	va_start(ap, fmt);
	vsnprintf(msg, sizeof(msg), fmt, ap);
	va_end(ap);
	pthread_once(&fork_once, register_fork_handlers);
	pthread_mutex_lock(&log_lock);
	fn = log_fn;
	arg = log_arg;
	if (fn) {
		in_flight++;
		depth++;
	}
	pthread_mutex_unlock(&log_lock);
	if (!fn) {
		fprintf(stderr, "udma: %s\n", msg);
		errno = saved_errno;
		return;
	}
	/* A report often follows a failure the caller still reads from
	 * udma_last_error(): udma calls in the callback must not replace it. */
	snprintf(last_error, sizeof(last_error), "%s", udma_last_error());
	fn(arg, level, msg);
	if (strcmp(last_error, udma_last_error()))
		udma__err(0, "%s", last_error);
	pthread_mutex_lock(&log_lock);
	depth--;
	if (!--in_flight)
		pthread_cond_broadcast(&log_idle);
	pthread_mutex_unlock(&log_lock);
	errno = saved_errno;
}
