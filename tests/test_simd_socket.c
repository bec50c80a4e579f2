/* SPDX-License-Identifier: MIT */
/*
 * Who may be at the other end of an out-of-process device's socket. The
 * driver hands its memory only to a device process of its own user, or of
 * the one uid its spec names (peer_uid=N), and checks that before it sends
 * anything. udma-simd listens on a socket only its user can reach (mode
 * 0600 whatever the umask) and serves only a driver of its own user (or
 * --peer-uid's): anyone else who gets through is hung up on, and it goes on
 * waiting for the rightful driver. As root, with nobody as the other user.
 */
#include <errno.h>
#include <fcntl.h>
#include <grp.h>
#include <linux/capability.h>
#include <poll.h>
#include <pwd.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/prctl.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <sys/un.h>
#include <unistd.h>

#include "tests/support/helpers.h"
#include "sim/simd_proto.h"
#include "sim/simd_spawn.h"
#include "drivers/simdrv/simdrv.h"

#define WAIT_MS 10000 /* for what should happen at once: only a bound on a hang */

static struct passwd nobody;

static void need_root(void)
{
	const struct passwd *pw = getpwnam("nobody");

	if (geteuid() != 0 || !pw) {
		print_message("  skipped: needs root and a user 'nobody'\n");
		skip();
	}
	nobody = *pw;
}

/* Read what the pipe holds until its writers close it: a NUL-terminated string. */
static void read_all(int fd, char *buf, size_t cap)
{
	size_t n = 0;
	ssize_t r;

	while (n < cap - 1 && (r = read(fd, buf + n, cap - 1 - n)) != 0) {
		if (r < 0 && errno == EINTR)
			continue;
		assert_true(r > 0);
		n += (size_t)r;
	}
	buf[n] = 0;
}

/* Report on report_fd, as it happens, 'F' for each message of conn that
 * came with file descriptors (a driver's memory), then 'E' when the driver
 * hung up. 0, or where it failed. */
static int watch_driver(int conn, int report_fd)
{
	static uint64_t buf[SIMD_MSG_MAX / sizeof(uint64_t)];
	struct pollfd pfd = {.fd = conn, .events = POLLIN};
	int fds[SIMD_MAX_FDS];
	unsigned nfds;
	ssize_t n;

	for (;;) {
		if (poll(&pfd, 1, WAIT_MS) != 1)
			return 13; /* neither a message nor a hang-up */
		n = simd_recv(conn, buf, sizeof(buf), fds, &nfds);
		if (n == 0 || (n < 0 && n != -EBADMSG && n != -EMSGSIZE))
			break;
		if (nfds && write(report_fd, "F", 1) != 1)
			return 14;
		simd_close_fds(fds, nfds);
	}
	close(conn);
	return write(report_fd, "E", 1) == 1 ? 0 : 15;
}

/* A stranger's fake device, as nobody: listens on path and watches
 * conns connections one after the other. Exit status 0, or where it failed. */
static int fake_device(const char *path, unsigned conns, int ready_fd, int report_fd)
{
	struct sockaddr_un sa = {.sun_family = AF_UNIX};
	struct pollfd pfd = {.events = POLLIN};
	int rc = 0, conn;

	snprintf(sa.sun_path, sizeof(sa.sun_path), "%s", path);
	pfd.fd = socket(AF_UNIX, SOCK_SEQPACKET | SOCK_CLOEXEC, 0);
	if (pfd.fd < 0 || bind(pfd.fd, (struct sockaddr *)&sa, sizeof(sa)) || listen(pfd.fd, 1))
		return 10;
	if (write(ready_fd, "r", 1) != 1)
		return 11;
	while (!rc && conns--) {
		if (poll(&pfd, 1, WAIT_MS) != 1 || (conn = accept4(pfd.fd, NULL, NULL, SOCK_CLOEXEC)) < 0)
			return 12;
		rc = watch_driver(conn, report_fd);
	}
	return rc;
}

/* Open the device of spec and have it copy 4 KiB within a region: it has
 * our memory and serves us. */
static void copy_through(const char *spec)
{
	struct udma_region_opts ro = {.size = 1 << 20, .numa_node = UDMA_NUMA_ANY, .name = "copied"};
	struct udma_ctx_opts o = {.iova_mode = UDMA_IOVA_VA, .numa_node = UDMA_NUMA_ANY};
	struct simdev_sqe sqe = {.opcode = SIMDEV_OP_COPY, .len = 4096, .cookie = 7};
	struct simdev_cqe cqe;
	struct udma_dev *dev = NULL;
	struct udma_region *r;
	struct udma_ctx *ctx;
	struct simdrv drv;
	uint8_t *src;

	assert_int_equal(udma_ctx_create(&o, &ctx), 0);
	if (udma_dev_open(ctx, spec, &dev))
		fail_msg("%s: %s", spec, udma_last_error());
	assert_int_equal(udma_region_create(ctx, &ro, &r), 0);
	src = udma_region_addr(r);
	memset(src, 0x5a, 4096);
	memset(src + 4096, 0, 4096);
	sqe.src = udma_iova(ctx, src);
	sqe.dst = udma_iova(ctx, src + 4096);
	assert_int_equal(simdrv_attach(&drv, ctx, dev, true), 0);
	assert_int_equal(simdrv_queue_setup(&drv, 0, SIMDEV_QTYPE_DMA, 8), 0);
	assert_int_equal(simdrv_enable(&drv), 0);
	assert_int_equal(simdrv_submit(&drv.q[0], &sqe, 1), 1);
	while (!simdrv_reap(&drv.q[0], &cqe, 1))
		assert_int_equal(simdrv_wait(&drv, WAIT_MS), 0);
	assert_int_equal(SIMDEV_CQE_STATUS(cqe.status), SIMDEV_ST_OK);
	assert_int_equal(cqe.cookie, 7);
	assert_memory_equal(src, src + 4096, 4096);
	assert_int_equal(simdrv_detach(&drv), 0);
	udma_region_destroy(r);
	udma_dev_close(dev);
	udma_ctx_destroy(ctx);
}

/* A directory only nobody can use (and root), for nobody's socket. */
static void nobody_dir(char *dir, size_t dcap, char *sock, size_t scap)
{
	snprintf(dir, dcap, "/tmp/udma-peer.XXXXXX");
	assert_non_null(mkdtemp(dir));
	assert_int_equal(chown(dir, nobody.pw_uid, nobody.pw_gid), 0);
	snprintf(sock, scap, "%s/sock", dir);
}

/* A device process of another user: refused before it is sent anything. */
static void driver_refuses_other_user(void **state)
{
	char dir[64], sock[108], spec[160], want[64], report[16], c;
	int ready[2], rep[2];
	struct udma_dev *dev = NULL;
	struct udma_ctx *ctx;
	pid_t pid;

	(void)state;
	need_root();
	nobody_dir(dir, sizeof(dir), sock, sizeof(sock));
	assert_int_equal(pipe2(ready, O_CLOEXEC), 0);
	assert_int_equal(pipe2(rep, O_CLOEXEC), 0);
	pid = th_fork_child(1, (size_t)-1);
	assert_true(pid >= 0);
	if (pid == 0) {
		close(ready[0]);
		close(rep[0]);
		_exit(fake_device(sock, 2, ready[1], rep[1]));
	}
	close(ready[1]);
	close(rep[1]);
	assert_int_equal(read(ready[0], &c, 1), 1);
	assert_int_equal(udma_ctx_create(NULL, &ctx), 0);
	snprintf(spec, sizeof(spec), "sim:x@%s", sock);
	th_assert_err(udma_dev_open(ctx, spec, &dev), EACCES);
	assert_null(dev);
	/* Who it is (uid and pid), who was expected, and the way to allow it. */
	snprintf(want, sizeof(want), "(pid %d) runs as uid %u", (int)pid, (unsigned)nobody.pw_uid);
	assert_non_null(strstr(udma_last_error(), want));
	assert_non_null(strstr(udma_last_error(), "not uid 0 "));
	snprintf(want, sizeof(want), "add peer_uid=%u to the spec", (unsigned)nobody.pw_uid);
	assert_non_null(strstr(udma_last_error(), want));
	/* Naming another uid does not let this one in either. */
	snprintf(spec, sizeof(spec), "sim:x,peer_uid=%u@%s", (unsigned)nobody.pw_uid + 1, sock);
	th_assert_err(udma_dev_open(ctx, spec, &dev), EACCES);
	snprintf(want, sizeof(want), "not uid 0 (this process's) or %u (peer_uid)",
		 (unsigned)nobody.pw_uid + 1);
	assert_non_null(strstr(udma_last_error(), want));
	/* The fake device saw both connections come and go, and no fd at all. */
	read_all(rep[0], report, sizeof(report));
	assert_string_equal(report, "EE");
	assert_int_equal(th_wait_child(pid), 0);
	udma_ctx_destroy(ctx);
	close(ready[0]);
	close(rep[0]);
	assert_int_equal(unlink(sock), 0);
	assert_int_equal(rmdir(dir), 0);
}

/*
 * As nobody: start udma-simd, which lets root's driver in (--peer-uid 0),
 * tell the parent its socket and wait for it to exit. Exit status:
 * udma-simd's, or 20 if nobody cannot run it (a build directory only root
 * can reach), 21 if it did not start.
 */
static int nobody_device(int path_fd)
{
	const char *args[] = {"--peer-uid", "0", NULL};
	const char *simd = simd_default_path();
	struct simd_proc p;
	size_t len;

	if (access(simd, X_OK))
		return 20;
	if (simd_spawn(&p, simd, args))
		return 21;
	len = strlen(p.sock) + 1;
	if (write(path_fd, p.sock, len) != (ssize_t)len)
		return 22;
	close(path_fd);
	return simd_reap(&p, 2 * WAIT_MS);
}

/* A device of another user that the spec names is served as any other. */
static void driver_accepts_named_user(void **state)
{
	char sock[108], spec[160];
	int path[2], status;
	pid_t pid;

	(void)state;
	need_root();
	assert_int_equal(pipe2(path, O_CLOEXEC), 0);
	pid = th_fork_child(1, (size_t)-1);
	assert_true(pid >= 0);
	if (pid == 0) {
		close(path[0]);
		_exit(nobody_device(path[1]));
	}
	close(path[1]);
	read_all(path[0], sock, sizeof(sock));
	close(path[0]);
	if (!sock[0]) {
		status = th_wait_child(pid);
		if (status == 20) {
			print_message("  skipped: nobody cannot run %s\n", simd_default_path());
			skip();
		}
		fail_msg("udma-simd did not start as nobody (status %d)", status);
	}
	snprintf(spec, sizeof(spec), "sim:theirs,queues=1,peer_uid=%u@%s", (unsigned)nobody.pw_uid, sock);
	copy_through(spec);
	assert_int_equal(th_wait_child(pid), 0); /* udma-simd exited 0 once its driver left */
}

static void peer_uid_spec(void **state)
{
	static const char *const bad[] = {
		"sim:x,peer_uid=@/s",
		"sim:x,peer_uid=abc@/s",
		"sim:x,peer_uid=-1@/s",
		"sim:x,peer_uid=+5@/s",
		"sim:x,peer_uid= 5@/s",
		"sim:x,peer_uid=5x@/s",
		"sim:x,peer_uid=0x10@/s",
		"sim:x,peer_uid=4294967295@/s",
		"sim:x,peer_uid=4294967296@/s",
		"sim:x,peer_uid=99999999999999999999999@/s",
		"sim:x,peer_uid=5", /* no socket: no other process to name */
		"sim:x,peer_uid=5,peer_uid=6@/s",
	};
	struct udma_dev *dev = NULL;
	struct udma_ctx *ctx;
	size_t i;

	(void)state;
	assert_int_equal(udma_ctx_create(NULL, &ctx), 0);
	for (i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
		int rc = udma_dev_open(ctx, bad[i], &dev);

		if (rc != -EINVAL || !strstr(udma_last_error(), "peer_uid"))
			fail_msg("%s: %d, %s", bad[i], rc, udma_last_error());
		assert_null(dev);
	}
	/* A well-formed one gets as far as the socket. */
	th_assert_err(udma_dev_open(ctx, "sim:x,peer_uid=1000@/nonexistent/sock", &dev), ENOENT);
	udma_ctx_destroy(ctx);
}

/*
 * As nobody, but able to reach any file (CAP_DAC_OVERRIDE kept across the
 * uid change): what a user who can get to the socket (a careless directory,
 * or root for a device of another user) looks like to udma-simd. Connect
 * and wait to be hung up on. 0 if it was, at once, without an answer.
 */
static int stranger_connects(const char *path)
{
	struct __user_cap_header_struct h = {.version = _LINUX_CAPABILITY_VERSION_3};
	struct __user_cap_data_struct d[2] = {
		{.effective = 1u << CAP_DAC_OVERRIDE, .permitted = 1u << CAP_DAC_OVERRIDE}};
	struct sockaddr_un sa = {.sun_family = AF_UNIX};
	struct pollfd pfd = {.events = POLLIN};
	char b;

	if (prctl(PR_SET_KEEPCAPS, 1) || setgroups(0, NULL) || setgid(nobody.pw_gid) ||
	    setuid(nobody.pw_uid) || syscall(SYS_capset, &h, d))
		return 10;
	snprintf(sa.sun_path, sizeof(sa.sun_path), "%s", path);
	pfd.fd = socket(AF_UNIX, SOCK_SEQPACKET | SOCK_CLOEXEC, 0);
	if (pfd.fd < 0 || connect(pfd.fd, (struct sockaddr *)&sa, sizeof(sa)))
		return 11;
	if (poll(&pfd, 1, WAIT_MS) != 1)
		return 12; /* taken as its driver: it waits for our HELLO */
	return recv(pfd.fd, &b, 1, 0) == 0 ? 0 : 13;
}

/* udma-simd's socket: 0600 under umask 000; a stranger is turned away and
 * the rightful driver still gets the device. */
static void simd_serves_only_its_user(void **state)
{
	char spec[160], log[1024], want[96];
	struct simd_proc p;
	struct stat st;
	int logfd, saved, rc;
	mode_t old;
	pid_t pid;
	ssize_t n;

	(void)state;
	need_root();
	/* Its stderr into a file we read, umask wide open. */
	logfd = memfd_create("udma-simd-stderr", MFD_CLOEXEC);
	assert_true(logfd >= 0);
	saved = fcntl(2, F_DUPFD_CLOEXEC, 3);
	assert_true(saved >= 0);
	assert_int_equal(dup2(logfd, 2), 2);
	old = umask(0);
	rc = simd_spawn(&p, NULL, NULL);
	umask(old);
	assert_int_equal(dup2(saved, 2), 2);
	close(saved);
	assert_int_equal(rc, 0);

	assert_int_equal(lstat(p.sock, &st), 0);
	assert_true(S_ISSOCK(st.st_mode));
	if ((st.st_mode & 07777) != 0600)
		fail_msg("udma-simd's socket has mode %04o under umask 000, not 0600",
			 (unsigned)(st.st_mode & 07777));

	pid = fork();
	assert_true(pid >= 0);
	if (pid == 0)
		_exit(stranger_connects(p.sock));
	assert_int_equal(th_wait_child(pid), 0);
	n = pread(logfd, log, sizeof(log) - 1, 0);
	assert_true(n > 0);
	log[n] = 0;
	snprintf(want, sizeof(want), "refused a driver running as uid %u", (unsigned)nobody.pw_uid);
	if (!strstr(log, want) || !strstr(log, "--peer-uid"))
		fail_msg("udma-simd said: %s", log);

	/* Still there for its own user's driver. */
	snprintf(spec, sizeof(spec), "sim:ours,queues=1@%s", p.sock);
	copy_through(spec);
	assert_int_equal(simd_reap(&p, 2000), 0);
	close(logfd);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		th_test(driver_refuses_other_user),
		th_test(driver_accepts_named_user),
		th_test(peer_uid_spec),
		th_test(simd_serves_only_its_user),
	};

	th_threads_warm_up(TH_MAX_THREADS);
	return cmocka_run_group_tests_name("simd_socket", tests, NULL, NULL);
}
