/* SPDX-License-Identifier: MIT */
/*
 * What every long run of the udma command (nvme bench and verify, nic gen,
 * recv and fwd) shares: the stop flag SIGINT/SIGTERM set, and the clock the
 * runs are timed by.
 */
#ifndef UDMA_RUN_STOP_H
#define UDMA_RUN_STOP_H

#include <signal.h>
#include <stdint.h>

/* Set (to the signal's number) by SIGINT/SIGTERM: a run starts no more work,
 * finishes what is in flight and releases its devices, which a process
 * killed outright leaves enabled with their DMA going on. */
extern volatile sig_atomic_t run_stop;
/* SIGINT and SIGTERM stop a run cleanly (set run_stop), once: a second one
 * kills. Left alone where ignored (a background job of a script). */
void run_catch_stop_signals(void);
/* Read by the worker threads: an atomic load (the handler runs in another
 * thread than the one reading, which sig_atomic_t alone does not cover). */
static inline int run_stopped(void)
{
	return __atomic_load_n(&run_stop, __ATOMIC_RELAXED);
}
/* "SIGINT" or "SIGTERM" once stopped, else NULL. */
const char *run_stopped_by(void);

/* CLOCK_MONOTONIC in nanoseconds. */
uint64_t run_now_ns(void);

#endif
