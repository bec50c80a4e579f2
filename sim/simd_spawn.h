/* SPDX-License-Identifier: MIT */
/*
 * Start and stop udma-simd, the simulated device as a process of its own, for
 * programs that want one (the CLI's demo, the tests, the benches). The device
 * listens on a socket in a fresh private directory; open it with
 * udma_dev_open(ctx, "sim:NAME[,options]@" SOCKET).
 */
#ifndef SIMD_SPAWN_H
#define SIMD_SPAWN_H

#include <sys/types.h>

struct simd_proc {
	pid_t pid;
	char dir[64];	/* mkdtemp'd, holds the socket */
	char sock[108]; /* sizeof(sun_path) */
};

/* Where udma-simd is: $UDMA_SIMD, else next to this program's executable,
 * else "udma-simd" (searched in PATH). */
const char *simd_default_path(void);

/*
 * Run simd (NULL: simd_default_path()) with --socket and the extra arguments
 * (a NULL-terminated list, or NULL), and return once it listens (5 s at most).
 * 0, or a negative errno after printing why on stderr (this is a tool
 * helper, not the library: it does not set udma_last_error()). Until a
 * driver connects, the device gets SIGTERM if the thread that started it
 * exits (PR_SET_PDEATHSIG follows the thread): start it from a thread that
 * outlives the connect.
 */
int simd_spawn(struct simd_proc *p, const char *simd, const char *const *extra_args);

/* Wait up to timeout_ms for it to exit (a device exits when its driver
 * disconnects), then SIGKILL it; remove the directory. Returns its exit
 * status (0..255), 128 + signal if a signal ended it, or a negative errno. */
int simd_reap(struct simd_proc *p, int timeout_ms);

#endif
