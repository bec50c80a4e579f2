/* SPDX-License-Identifier: MIT */
/*
 * An out-of-process device that is trusted (our own user) but misbehaves: a
 * fake device process in this file speaks the protocol (simd_proto.h) and
 * hangs up or sends garbage while it goes on writing the memory it was
 * handed, answers with stale sequence numbers, out-of-range statuses or
 * control characters, or refuses a mapping. The driver must stop such a
 * device before it calls it gone, never hang, and never pass its words on
 * unchecked.
 */
#include <errno.h>
#include <fcntl.h>
#include <linux/sched.h>
#include <limits.h>
#include <poll.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <dirent.h>
#include <sys/mman.h>
#include <sys/prctl.h>
#include <sys/socket.h>
#include <sys/syscall.h>
#include <sys/un.h>
#include <sys/wait.h>
#include <unistd.h>

#include "tests/support/helpers.h"
#include "sim/simd_proto.h"
#include "sim/simdev_regs.h"

#define WAIT_MS 20000 /* for what should happen within SIMD_REPLY_MS: only a bound on a hang */

enum fake_mode {
	FAKE_OK,	   /* answers everything */
	FAKE_HUP_WRITE,	   /* at MAP: answers, hangs up, keeps writing the region */
	FAKE_GARBLE_WRITE, /* at MAP: answers garbage, keeps writing the region */
	FAKE_REFUSE,	   /* at MAP: status and msg as given */
	FAKE_STALE,	   /* at MAP: only ever answers with an earlier seq */
};

struct fake {
	enum fake_mode mode;
	int32_t status;
	const char *msg;
	bool handoff;	  /* the listener forks a server and exits */
	pid_t pid;	  /* our child: the listener (and server unless handoff) */
	pid_t server;	  /* the process that serves */
	int server_pidfd; /* to stop a handed-off server, not our child */
	char dir[64], sock[108], spec[160];
};

static int reply(int conn, uint64_t seq, int32_t status, const char *msg)
{
	struct simd_reply r = {.h = {.type = SIMD_MSG_REPLY, .len = sizeof(r), .seq = seq},
			       .status = status,
			       .pid = (uint32_t)getpid()};

	if (msg)
		snprintf(r.msg, sizeof(r.msg), "%s", msg);
	return simd_send(conn, &r, sizeof(r), NULL, 0);
}

/* Write a counter into the region's first page for ever. */
static _Noreturn void keep_writing(volatile uint64_t *mem)
{
	for (uint64_t k = 1;; k++) {
		*mem = k;
		usleep(1000);
	}
}

/* The device: serves one driver on listener as f->mode says. Exit status 0 or where it failed. */
static int fake_serve(const struct fake *f, int listener)
{
	static uint64_t buf[SIMD_MSG_MAX / sizeof(uint64_t)];
	const struct simd_map *m = (const void *)buf;
	const struct simd_hdr *h = (const void *)buf;
	int conn = accept4(listener, NULL, NULL, SOCK_CLOEXEC), fds[SIMD_MAX_FDS];
	unsigned nfds;
	ssize_t n;

	if (conn < 0)
		return 20;
	while ((n = simd_recv(conn, buf, sizeof(buf), fds, &nfds)) > 0) {
		void *mem = MAP_FAILED;

		if (h->type == SIMD_MSG_MAP && nfds == 1)
			mem = mmap(NULL, m->seg[0].len, PROT_READ | PROT_WRITE, MAP_SHARED, fds[0],
				   (off_t)m->seg[0].offset);
		simd_close_fds(fds, nfds);
		if (h->type != SIMD_MSG_MAP || f->mode == FAKE_OK) {
			if (reply(conn, h->seq, 0, NULL))
				return 21;
			continue;
		}
		switch (f->mode) {
		case FAKE_HUP_WRITE:
			if (mem == MAP_FAILED || reply(conn, h->seq, 0, NULL))
				return 22;
			shutdown(conn, SHUT_RDWR);
			keep_writing(mem);
		case FAKE_GARBLE_WRITE:
			if (mem == MAP_FAILED || simd_send(conn, h, sizeof(*h), NULL, 0))
				return 23;
			keep_writing(mem);
		case FAKE_REFUSE:
			if (reply(conn, h->seq, f->status, f->msg))
				return 24;
			break;
		case FAKE_STALE:
			for (;;) {
				if (reply(conn, h->seq - 1, 0, NULL))
					return 0; /* the driver hung up */
				usleep(100000);
			}
		case FAKE_OK: break;
		}
	}
	return 0;
}

/* Start the fake device as a child of ours, listening when this returns. */
static void fake_start(struct fake *f)
{
	struct sockaddr_un sa = {.sun_family = AF_UNIX};
	int ready[2];

	snprintf(f->dir, sizeof(f->dir), "/tmp/udma-hostile.XXXXXX");
	assert_non_null(mkdtemp(f->dir));
	snprintf(f->sock, sizeof(f->sock), "%s/sock", f->dir);
	snprintf(f->spec, sizeof(f->spec), "sim:hostile,queues=1@%s", f->sock);
	snprintf(sa.sun_path, sizeof(sa.sun_path), "%s", f->sock);
	assert_int_equal(pipe2(ready, O_CLOEXEC), 0);
	f->pid = fork();
	assert_true(f->pid >= 0);
	if (f->pid == 0) {
		int l = socket(AF_UNIX, SOCK_SEQPACKET | SOCK_CLOEXEC, 0);

		close(ready[0]);
		/* Not left behind, writing on, if a test fails before it stops it. */
		prctl(PR_SET_PDEATHSIG, SIGKILL);
		if (l < 0 || bind(l, (struct sockaddr *)&sa, sizeof(sa)) || listen(l, 1))
			_exit(10);
		if (f->handoff && fork() > 0)
			_exit(0); /* whoever reuses its pid is not the device */
		pid_t me = getpid();
		if (write(ready[1], &me, sizeof(me)) != sizeof(me))
			_exit(11);
		close(ready[1]);
		_exit(fake_serve(f, l));
	}
	close(ready[1]);
	assert_int_equal(read(ready[0], &f->server, sizeof(f->server)), sizeof(f->server));
	close(ready[0]);
	f->server_pidfd = -1;
	if (f->handoff) {
		f->server_pidfd = (int)syscall(SYS_pidfd_open, f->server, 0);
		assert_true(f->server_pidfd >= 0);
		assert_int_equal(waitpid(f->pid, NULL, 0), f->pid);
	}
}

/* Stop it (whatever it does by now) and clean up. */
static void fake_stop(struct fake *f)
{
	if (f->server_pidfd >= 0) {
		struct pollfd pfd = {.fd = f->server_pidfd, .events = POLLIN};

		syscall(SYS_pidfd_send_signal, f->server_pidfd, SIGKILL, NULL, 0);
		poll(&pfd, 1, WAIT_MS);
		close(f->server_pidfd);
		f->server_pidfd = -1;
		f->pid = 0; /* reaped at once */
	}
	if (f->pid > 0) {
		kill(f->pid, SIGKILL);
		waitpid(f->pid, NULL, 0);
	}
	unlink(f->sock);
	rmdir(f->dir);
}

/* Has the fake device's process been SIGKILLed (and not merely ended)? Reaps it if so. */
static bool fake_killed(struct fake *f)
{
	int st;

	if (waitpid(f->pid, &st, WNOHANG) != f->pid)
		return false;
	f->pid = 0;
	return WIFSIGNALED(st) && WTERMSIG(st) == SIGKILL;
}

static void open_fake(struct fake *f, struct udma_ctx **ctx, struct udma_dev **dev)
{
	struct udma_ctx_opts o = {.iova_mode = UDMA_IOVA_VA, .numa_node = UDMA_NUMA_ANY};

	fake_start(f);
	assert_int_equal(udma_ctx_create(&o, ctx), 0);
	if (udma_dev_open(*ctx, f->spec, dev))
		fail_msg("%s: %s", f->spec, udma_last_error());
}

static const struct udma_region_opts region_opts = {
	.size = 1 << 20, .numa_node = UDMA_NUMA_ANY, .name = "handed"};

/* After the device is declared gone, nothing writes what it was handed. */
static void assert_no_writer(struct fake *f, const volatile uint64_t *mem)
{
	uint64_t v = *mem;

	if (!fake_killed(f))
		fail_msg("the device is declared gone but its process is alive (last error: %s)",
			 udma_last_error());
	usleep(20000);
	assert_true(*mem == v);
}

/* A device that hangs up but stays alive: the monitor thread sees it gone. */
static void hangup_stops_the_process(void **state)
{
	struct fake f = {.mode = FAKE_HUP_WRITE};
	struct udma_region *r;
	struct udma_dev *dev;
	struct udma_ctx *ctx;
	struct pollfd pfd = {.events = POLLIN};
	volatile uint64_t *mem;
	void *bar;
	size_t len;

	(void)state;
	open_fake(&f, &ctx, &dev);
	assert_int_equal(udma_region_create(ctx, &region_opts, &r), 0);
	mem = udma_region_addr(r);
	pfd.fd = udma_dev_irq_fd(dev, 0);
	assert_true(pfd.fd >= 0);
	/* Gone means: registers all ones, then the interrupt fires. */
	assert_int_equal(poll(&pfd, 1, WAIT_MS), 1);
	assert_int_equal(udma_dev_bar(dev, 0, &bar, &len), 0);
	assert_int_equal(*(volatile uint32_t *)((uint8_t *)bar + SIMDEV_REG_STATUS), UINT32_MAX);
	assert_no_writer(&f, mem);
	udma_region_destroy(r);
	udma_dev_close(dev);
	udma_ctx_destroy(ctx);
	fake_stop(&f);
}

/* A device that answers garbage but stays alive: the requester sees it gone. */
static void garbage_stops_the_process(void **state)
{
	struct fake f = {.mode = FAKE_GARBLE_WRITE};
	struct udma_region *r;
	struct udma_dev *dev;
	struct udma_ctx *ctx;

	(void)state;
	open_fake(&f, &ctx, &dev);
	/* A device that is really gone reaches no memory: the region stands. */
	assert_int_equal(udma_region_create(ctx, &region_opts, &r), 0);
	assert_no_writer(&f, udma_region_addr(r));
	udma_region_destroy(r);
	udma_dev_close(dev);
	udma_ctx_destroy(ctx);
	fake_stop(&f);
}

/* Answers to an earlier request, every 100 ms: one deadline for the request
 * all the same, then the device is stopped and gone. */
static void stale_answers_do_not_stall(void **state)
{
	struct fake f = {.mode = FAKE_STALE};
	struct udma_region *r;
	struct udma_dev *dev;
	struct udma_ctx *ctx;

	(void)state;
	open_fake(&f, &ctx, &dev);
	alarm(WAIT_MS / 1000 * 3); /* the old code waited for ever */
	assert_int_equal(udma_region_create(ctx, &region_opts, &r), 0);
	alarm(0);
	assert_no_writer(&f, udma_region_addr(r));
	udma_region_destroy(r);
	udma_dev_close(dev);
	udma_ctx_destroy(ctx);
	fake_stop(&f);
}

/* The device refuses the mapping as f says: region create fails with want,
 * the device still there. */
static void refused(struct fake *f, int want)
{
	struct udma_region *r = NULL;
	struct udma_dev *dev;
	struct udma_ctx *ctx;
	void *bar;
	size_t len;

	open_fake(f, &ctx, &dev);
	th_assert_err(udma_region_create(ctx, &region_opts, &r), want);
	assert_null(r);
	assert_int_equal(udma_dev_bar(dev, 0, &bar, &len), 0);
	assert_int_not_equal(*(volatile uint32_t *)((uint8_t *)bar + SIMDEV_REG_STATUS), UINT32_MAX);
	udma_dev_close(dev);
	udma_ctx_destroy(ctx);
	fake_stop(f);
}

/* Only 0 and -4095..-1 are statuses; anything else is a device that does
 * not speak the protocol. */
static void status_out_of_range(void **state)
{
	static const int32_t bad[] = {INT_MIN, -0x7fffffff, -4096, 1, 12345};

	(void)state;
	for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
		struct fake f = {.mode = FAKE_REFUSE, .status = bad[i], .msg = "hostile"};

		refused(&f, EPROTO);
		if (!strstr(udma_last_error(), "neither 0 nor a negative errno"))
			fail_msg("status %d: %s", bad[i], udma_last_error());
	}
}

/* The device's words reach our error message without control characters. */
static void refusal_message_is_printable(void **state)
{
	struct fake f = {.mode = FAKE_REFUSE, .status = -EINVAL, .msg = "\x1b[31mRED\x07\nnewline\x7f\x9b"};
	const char *e;

	(void)state;
	refused(&f, EINVAL);
	e = udma_last_error();
	if (!strstr(e, "RED"))
		fail_msg("not the device's words: %s", e);
	for (; *e; e++)
		if ((unsigned char)*e < 0x20 || (unsigned char)*e >= 0x7f)
			fail_msg("byte 0x%02x in the message: %s", (unsigned char)*e, udma_last_error());
}

/* A live device saying -ENODEV refused the mapping: the region is not
 * created as if the device were gone. */
static void live_enodev_refusal_fails(void **state)
{
	struct fake f = {.mode = FAKE_REFUSE, .status = -ENODEV, .msg = "pretend gone"};

	(void)state;
	refused(&f, ENODEV);
	if (!strstr(udma_last_error(), "the device refused: pretend gone"))
		fail_msg("%s", udma_last_error());
}

/* Does this process hold a pidfd for pid? */
static bool have_pidfd_of(pid_t pid)
{
	DIR *d = opendir("/proc/self/fdinfo");
	const struct dirent *e;
	char want[32], path[300], buf[1024];
	bool found = false;

	assert_non_null(d);
	snprintf(want, sizeof(want), "\nPid:\t%d\n", (int)pid);
	while (!found && (e = readdir(d))) {
		ssize_t n;
		int fd;

		snprintf(path, sizeof(path), "/proc/self/fdinfo/%s", e->d_name);
		fd = open(path, O_RDONLY | O_CLOEXEC);
		if (fd < 0)
			continue;
		n = read(fd, buf, sizeof(buf) - 1);
		close(fd);
		buf[n > 0 ? n : 0] = 0;
		found = strstr(buf, want) != NULL;
	}
	closedir(d);
	return found;
}

/* The pidfd the driver stops its device with is the listening process's. */
static void pidfd_is_the_peers(void **state)
{
	struct fake f = {.mode = FAKE_OK};
	struct udma_dev *dev;
	struct udma_ctx *ctx;

	(void)state;
	open_fake(&f, &ctx, &dev);
	assert_int_equal(f.server, f.pid);
	assert_true(have_pidfd_of(f.pid));
	udma_dev_close(dev);
	udma_ctx_destroy(ctx);
	fake_stop(&f);
}

/* The listener forked the server and exited, and an innocent process got
 * its pid: the driver holds no pidfd for that one (it would SIGKILL it if
 * the device stopped answering), and none for the dead listener either. */
static void pidfd_not_of_a_pid_reuser(void **state)
{
	struct udma_ctx_opts o = {.iova_mode = UDMA_IOVA_VA, .numa_node = UDMA_NUMA_ANY};
	struct fake f = {.mode = FAKE_OK, .handoff = true};
	struct clone_args ca = {.exit_signal = SIGCHLD, .set_tid_size = 1};
	struct udma_dev *dev;
	struct udma_ctx *ctx;
	pid_t innocent, tid;

	(void)state;
	fake_start(&f); /* the listener has exited and is reaped */
	tid = f.pid;
	ca.set_tid = (uintptr_t)&tid;
	/* As root, a child can be given a pid of our choice (clone3 set_tid). */
	innocent = (pid_t)syscall(SYS_clone3, &ca, sizeof(ca));
	if (innocent == 0) {
		prctl(PR_SET_PDEATHSIG, SIGKILL);
		for (;;)
			pause();
	}
	if (innocent < 0) {
		int err = errno;

		fake_stop(&f);
		print_message(
			"  skipped: cannot make a process with pid %d (clone3 set_tid: %s); needs root\n",
			(int)tid, strerror(err));
		skip();
	}
	assert_int_equal(innocent, tid);
	assert_int_equal(udma_ctx_create(&o, &ctx), 0);
	if (udma_dev_open(ctx, f.spec, &dev))
		fail_msg("%s: %s", f.spec, udma_last_error());
	if (have_pidfd_of(innocent))
		fail_msg("the driver holds a pidfd for pid %d, which is not its device (pid %d)",
			 (int)innocent, (int)f.server);
	udma_dev_close(dev);
	udma_ctx_destroy(ctx);
	kill(innocent, SIGKILL);
	assert_int_equal(waitpid(innocent, NULL, 0), innocent);
	fake_stop(&f);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		th_test(hangup_stops_the_process),     th_test(garbage_stops_the_process),
		th_test(stale_answers_do_not_stall),   th_test(status_out_of_range),
		th_test(refusal_message_is_printable), th_test(live_enodev_refusal_fails),
		th_test(pidfd_is_the_peers),	       th_test(pidfd_not_of_a_pid_reuser),
	};

	th_threads_warm_up(TH_MAX_THREADS);
	return cmocka_run_group_tests_name("simd_hostile", tests, NULL, NULL);
}
