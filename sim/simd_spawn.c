/* SPDX-License-Identifier: MIT */
/* Start udma-simd on a private socket and wait until it listens; stop it. */
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <poll.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/prctl.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "sim/simd_spawn.h"

#define SIMD_READY_MS 5000
#define SIMD_MAX_ARGS 16

const char *simd_default_path(void)
{
	static char path[PATH_MAX];
	static const char *const rel[] = {"/udma-simd", "/../udma-simd"};
	const char *env = getenv("UDMA_SIMD");
	char exe[PATH_MAX - 32];
	ssize_t n;
	size_t i;

	if (env && *env)
		return env;
	n = readlink("/proc/self/exe", exe, sizeof(exe) - 1);
	if (n > 0) {
		exe[n] = 0;
		*strrchr(exe, '/') = 0;
		/* build/udma, or build/tests/x and build/bench/x one level down */
		for (i = 0; i < sizeof(rel) / sizeof(rel[0]); i++) {
			snprintf(path, sizeof(path), "%s%s", exe, rel[i]);
			if (!access(path, X_OK))
				return path;
		}
	}
	return "udma-simd";
}

static void child_exec(const char *simd, const char *sock, int ready_fd, const char *const *extra,
		       pid_t parent)
{
	const char *argv[SIMD_MAX_ARGS + 6];
	char fdarg[16];
	size_t n = 0;

	snprintf(fdarg, sizeof(fdarg), "%d", ready_fd);
	argv[n++] = simd;
	argv[n++] = "--socket";
	argv[n++] = sock;
	argv[n++] = "--ready-fd";
	argv[n++] = fdarg;
	while (extra && *extra && n < SIMD_MAX_ARGS + 5)
		argv[n++] = *extra++;
	argv[n] = NULL;
	fcntl(ready_fd, F_SETFD, 0); /* the one fd the device inherits on purpose */
	/* Until a driver connects, the device dies with whoever started it
	 * (udma-simd clears this once it has its driver). */
	prctl(PR_SET_PDEATHSIG, SIGTERM);
	if (getppid() != parent)
		_exit(1); /* it died before the line above */
	if (strchr(simd, '/'))
		execv(simd, (char *const *)argv);
	else
		execvp(simd, (char *const *)argv);
	fprintf(stderr, "cannot run %s: %s (build it with make, or set UDMA_SIMD to its path)\n", simd,
		strerror(errno));
	_exit(127);
}

static long ms_since(const struct timespec *t0)
{
	struct timespec t;

	clock_gettime(CLOCK_MONOTONIC, &t);
	return (t.tv_sec - t0->tv_sec) * 1000 + (t.tv_nsec - t0->tv_nsec) / 1000000;
}

static void cleanup_dir(struct simd_proc *p)
{
	if (p->sock[0])
		unlink(p->sock);
	if (p->dir[0])
		rmdir(p->dir);
	p->sock[0] = p->dir[0] = 0;
}

int simd_spawn(struct simd_proc *p, const char *simd, const char *const *extra_args)
{
	pid_t parent = getpid();
	struct timespec t0;
	struct pollfd pfd;
	int pipefd[2], rc, status = 0;
	char c;

	memset(p, 0, sizeof(*p));
	p->pid = -1;
	if (!simd)
		simd = simd_default_path();
	snprintf(p->dir, sizeof(p->dir), "/tmp/udma-simd.XXXXXX");
	if (!mkdtemp(p->dir)) {
		rc = -errno;
		fprintf(stderr, "udma-simd: cannot make a directory for its socket in /tmp: %s\n",
			strerror(errno));
		p->dir[0] = 0;
		return rc;
	}
	snprintf(p->sock, sizeof(p->sock), "%s/sock", p->dir);
	if (pipe2(pipefd, O_CLOEXEC) < 0) {
		rc = -errno;
		cleanup_dir(p);
		return rc;
	}
	p->pid = fork();
	if (p->pid < 0) {
		rc = -errno;
		close(pipefd[0]);
		close(pipefd[1]);
		cleanup_dir(p);
		return rc;
	}
	if (p->pid == 0) {
		close(pipefd[0]);
		child_exec(simd, p->sock, pipefd[1], extra_args, parent);
	}
	close(pipefd[1]);
	pfd.fd = pipefd[0];
	pfd.events = POLLIN;
	clock_gettime(CLOCK_MONOTONIC, &t0);
	do { /* a signal of the caller's must not cut the wait short */
		long left = SIMD_READY_MS - ms_since(&t0);

		rc = poll(&pfd, 1, left > 0 ? (int)left : 0);
	} while (rc < 0 && errno == EINTR);
	if (rc == 1 && read(pipefd[0], &c, 1) == 1) {
		close(pipefd[0]);
		return 0;
	}
	close(pipefd[0]);
	if (rc <= 0) {
		fprintf(stderr, "udma-simd (%s) did not listen within %d ms\n", simd, SIMD_READY_MS);
		kill(p->pid, SIGKILL);
	}
	while (waitpid(p->pid, &status, 0) < 0 && errno == EINTR)
		;
	if (rc > 0)
		fprintf(stderr, "udma-simd (%s) exited before listening (status %d): see its message above\n",
			simd, WIFEXITED(status) ? WEXITSTATUS(status) : 128 + WTERMSIG(status));
	p->pid = -1;
	cleanup_dir(p);
	return rc <= 0 ? -ETIMEDOUT : -EIO;
}

int simd_reap(struct simd_proc *p, int timeout_ms)
{
	struct timespec tick = {0, 5 * 1000 * 1000};
	int status = 0, waited = 0;
	pid_t r;

	if (p->pid <= 0) {
		cleanup_dir(p);
		return -ECHILD;
	}
	while ((r = waitpid(p->pid, &status, WNOHANG)) == 0 && waited < timeout_ms) {
		nanosleep(&tick, NULL);
		waited += 5;
	}
	if (r == 0) {
		kill(p->pid, SIGKILL);
		while ((r = waitpid(p->pid, &status, 0)) < 0 && errno == EINTR)
			;
	}
	p->pid = -1;
	cleanup_dir(p);
	if (r < 0)
		return -errno;
	return WIFEXITED(status) ? WEXITSTATUS(status) : 128 + WTERMSIG(status);
}
