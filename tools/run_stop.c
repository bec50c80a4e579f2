/* SPDX-License-Identifier: MIT */
/* The stop flag SIGINT/SIGTERM set, and the runs' clock (run_stop.h). */
#include <signal.h>
#include <time.h>

#include "tools/run_stop.h"

volatile sig_atomic_t run_stop;

static void on_signal(int sig)
{
	__atomic_store_n(&run_stop, sig, __ATOMIC_RELAXED);
}

void run_catch_stop_signals(void)
{
	static const int sigs[] = {SIGINT, SIGTERM};
	struct sigaction sa = {.sa_handler = on_signal, .sa_flags = SA_RESETHAND}, old;
	unsigned i;

	sigemptyset(&sa.sa_mask);
	for (i = 0; i < 2; i++)
		if (!sigaction(sigs[i], NULL, &old) && old.sa_handler != SIG_IGN)
			sigaction(sigs[i], &sa, NULL);
}

const char *run_stopped_by(void)
{
	int sig = run_stopped();

	return !sig ? NULL : sig == SIGINT ? "SIGINT" : "SIGTERM";
}

uint64_t run_now_ns(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (uint64_t)ts.tv_sec * 1000000000u + (uint64_t)ts.tv_nsec;
}
