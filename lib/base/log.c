/* SPDX-License-Identifier: MIT */
/* The library's reports: one line on stderr, or the program's callback (udma_set_log). */
#include <errno.h>
#include <pthread.h>
#include <stdarg.h>
#include <stdio.h>
#include <string.h>

#include "lib/base/base.h"

/* udma_set_log must return only once no thread is still inside the old
 * callback, without waiting for calls of the new one (reports that never
 * stop would hold it off forever). So calls are counted by generation: a
 * call counts itself in the generation it took fn from, and a switch waits
 * for the previous generation only. Switches are serialised (switch_lock),
 * so at most two generations are ever live and two counters suffice. */
static pthread_mutex_t log_lock = PTHREAD_MUTEX_INITIALIZER;
static pthread_mutex_t switch_lock = PTHREAD_MUTEX_INITIALIZER;
static pthread_cond_t log_idle = PTHREAD_COND_INITIALIZER; /* a generation drained */
static udma_log_fn log_fn;				   /* NULL: stderr */
static void *log_arg;
static unsigned gen;		   /* generation of log_fn; its counter is in_flight[gen & 1] */
static unsigned in_flight[2];	   /* calls of a callback under way, in every thread */
static __thread unsigned depth[2]; /* those of this thread */
static pthread_once_t fork_once = PTHREAD_ONCE_INIT;

/* No lock is held across a fork (a fork that waits for a thread making a
 * region, while that thread waits to report, would never end): a child
 * starts the locks afresh and counts only its own thread's calls. */
static void in_child(void)
{
	pthread_mutex_init(&log_lock, NULL);
	pthread_mutex_init(&switch_lock, NULL);
	pthread_cond_init(&log_idle, NULL);
	in_flight[0] = depth[0];
	in_flight[1] = depth[1];
}

static void register_fork_handler(void)
{
	/* Fails only without memory; a child forked while another thread held
	 * a lock of this file would then wait on it. */
	(void)pthread_atfork(NULL, NULL, in_child);
}

void udma_set_log(udma_log_fn fn, void *arg)
{
	unsigned old;

	pthread_once(&fork_once, register_fork_handler);
	if (depth[0] || depth[1]) {
		/* From inside a callback, waiting could wait for itself (or for
		 * another thread doing the same): it takes effect at once. */
		pthread_mutex_lock(&log_lock);
		log_fn = fn;
		log_arg = fn ? arg : NULL;
		pthread_mutex_unlock(&log_lock);
		return;
	}
	pthread_mutex_lock(&switch_lock);
	pthread_mutex_lock(&log_lock);
	log_fn = fn;
	log_arg = fn ? arg : NULL;
	old = gen++ & 1;
	while (in_flight[old])
		pthread_cond_wait(&log_idle, &log_lock);
	pthread_mutex_unlock(&log_lock);
	pthread_mutex_unlock(&switch_lock);
}

void udma__log(int level, const char *fmt, ...)
{
	char msg[1024], last_error[1024];
	int saved_errno = errno;
	unsigned slot = 0;
	udma_log_fn fn;
	void *arg;
	va_list ap;

	va_start(ap, fmt);
	vsnprintf(msg, sizeof(msg), fmt, ap);
	va_end(ap);
	pthread_once(&fork_once, register_fork_handler);
	pthread_mutex_lock(&log_lock);
	fn = log_fn;
	arg = log_arg;
	if (fn) {
		slot = gen & 1;
		in_flight[slot]++;
		depth[slot]++;
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
	depth[slot]--;
	if (!--in_flight[slot])
		pthread_cond_broadcast(&log_idle);
	pthread_mutex_unlock(&log_lock);
	errno = saved_errno;
}
