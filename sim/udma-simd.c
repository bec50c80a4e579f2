/* SPDX-License-Identifier: MIT */
/*
 * udma-simd: the simulated DMA device as a process of its own, as a
 * vhost-user or vfio-user device is. It listens on a UNIX socket, serves one
 * driver (udma_dev_open(ctx, "sim:NAME@SOCKET")) and exits when that driver
 * disconnects or dies. It maps the driver's memory only through the file
 * descriptors it is handed, and reaches it only by IOVA through the model's
 * IOMMU.
 */
#include <ctype.h>
#include <errno.h>
#include <poll.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/prctl.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/un.h>
#include <unistd.h>

#include "sim/simd_server.h"

#define DEFAULT_MAX_BLOCK (1ull << 30)

/*
 * The only file-backed memory we touch is the driver's (the BAR and regions,
 * sealed so they cannot shrink). A driver can still punch a hole in a
 * hugetlbfs file, and with no hugepage left to fill it our next DMA there
 * raises SIGBUS. Instead of dying, put private zero pages over the page
 * (4 KiB, else the 2 MiB or 1 GiB hugepage around it) and go on: the driver
 * broke its own memory, the device survives. (mmap is a plain system call:
 * safe in a handler on Linux, though POSIX does not list it.)
 */
static int pages_lost; /* atomic: set by the model's thread, read by the main one */

static void on_sigbus(int sig, siginfo_t *si, void *uc)
{
	static const uintptr_t sizes[] = {4096, 2u << 20, 1u << 30};
	uintptr_t a = (uintptr_t)si->si_addr;
	int saved = errno;
	unsigned i;

	(void)uc;
	/* Only a fault on memory (not a kill -BUS, not a bad alignment). A
	 * hugetlb mapping refuses a smaller page over part of it (EINVAL):
	 * only then is the next size tried, so the patch is the page itself. */
	for (i = 0; si->si_code == BUS_ADRERR && i < sizeof(sizes) / sizeof(sizes[0]); i++) {
		if (mmap((void *)(a & ~(sizes[i] - 1)), sizes[i], PROT_READ | PROT_WRITE,
			 MAP_FIXED | MAP_PRIVATE | MAP_ANONYMOUS, -1, 0) != MAP_FAILED) {
			__atomic_fetch_add(&pages_lost, 1, __ATOMIC_RELAXED); /* lock-free: signal-safe */
			errno = saved;
			return;
		}
		if (errno != EINVAL)
			break;
	}
	signal(sig, SIG_DFL); /* not ours to mend: die of it, as without this handler */
	raise(sig);
	errno = saved;
}

static void report_lost(bool always)
{
	static int told;
	int lost = __atomic_load_n(&pages_lost, __ATOMIC_RELAXED);

	if (lost != told && (always || told == 0))
		fprintf(stderr,
			"udma-simd: %d page(s) of the driver's memory vanished under the device (a hole "
			"punched in a hugetlbfs file?); they read as zeros now\n",
			lost);
	told = lost;
}

static void usage(FILE *f)
{
	fprintf(f, "usage: udma-simd --socket PATH [--ready-fd FD] [--max-block SIZE] [--max-map SIZE] "
		   "[--peer-uid UID] [--verbose]\n"
		   "  --socket PATH     listen there (the driver opens \"sim:NAME@PATH\"); a new socket,\n"
		   "                    mode 0600: put it in a directory only you can use (0700)\n"
		   "  --ready-fd FD     write one byte to FD once listening, then close it\n"
		   "  --max-block SIZE  largest block store a driver may ask for (default 1G)\n"
		   "  --max-map SIZE    most driver memory mapped at once (default: the machine's RAM)\n"
		   "  --peer-uid UID    also serve a driver running as UID (default: only our own uid)\n"
		   "  --verbose         say what happens on stderr\n"
		   "SIZE: a number with an optional K, M, G or T suffix (either case), then B or iB.\n"
		   "Serves one driver and exits 0 when it disconnects.\n");
}

/* A decimal number (digits only, no sign or space) of at most max: 0, or -1. */
static int parse_u64(const char *s, const char **end, uint64_t max, uint64_t *out)
{
	uint64_t v = 0;

	if (*s < '0' || *s > '9')
		return -1;
	for (; *s >= '0' && *s <= '9'; s++) {
		if (v > (max - (uint64_t)(*s - '0')) / 10)
			return -1;
		v = v * 10 + (uint64_t)(*s - '0');
	}
	*end = s;
	*out = v;
	return 0;
}

/* "SIZE" as udma_parse_size reads it (a number, then K, M, G or T in either
 * case, then optionally B or iB, or B alone) in bytes, refused (-1) if it does
 * not fit in 64 bits. */
static int parse_size(const char *s, uint64_t *out)
{
	static const char units[] = "KMGT";
	const char *end, *unit;
	unsigned shift = 0;
	uint64_t v;

	if (parse_u64(s, &end, UINT64_MAX, &v))
		return -1;
	if (*end && (unit = strchr(units, toupper((unsigned char)*end)))) {
		shift = 10 * (unsigned)(unit - units + 1);
		end++;
		if (!strcmp(end, "iB"))
			end += 2;
	}
	if (!strcmp(end, "B"))
		end++;
	if (*end || v > UINT64_MAX >> shift)
		return -1;
	*out = v << shift;
	return 0;
}

/* Why bind found the path taken: only a socket can be a stale one of ours,
 * and nothing there is removed for the caller (it may be anything). */
static void say_path_taken(const char *path)
{
	struct stat st;

	if (lstat(path, &st) == 0 && !S_ISSOCK(st.st_mode))
		fprintf(stderr,
			"udma-simd: %s exists and is not a socket (%s): left untouched; pick a path "
			"that does not exist, in a directory only you can use\n",
			path,
			S_ISREG(st.st_mode)   ? "a regular file"
			: S_ISDIR(st.st_mode) ? "a directory"
			: S_ISLNK(st.st_mode) ? "a symbolic link"
					      : "a special file");
	else
		fprintf(stderr,
			"udma-simd: a socket already exists at %s: another device listens there, or one "
			"that was killed left it behind; if no device uses it, remove it (rm %s), or "
			"pick another path\n",
			path, path);
}

/*
 * Bind a new socket at path, mode 0600 whatever the umask (and a default ACL
 * of its directory) says: only our own user can connect, and the uid check
 * at accept turns away anyone else who can (root, or --peer-uid's user is
 * let through there). Checked before listen: until then nobody can connect.
 */
static int bind_private(int fd, const char *path, const struct sockaddr_un *a)
{
	mode_t old = umask(0177);
	struct stat st;
	int rc = bind(fd, (const struct sockaddr *)a, sizeof(*a));

	umask(old);
	if (rc < 0) {
		if (errno == EADDRINUSE)
			say_path_taken(path);
		else
			fprintf(stderr, "udma-simd: cannot bind a socket at %s: %s\n", path, strerror(errno));
		return -1;
	}
	if (lstat(path, &st) < 0 || !S_ISSOCK(st.st_mode) || st.st_uid != geteuid()) {
		fprintf(stderr,
			"udma-simd: the socket just bound at %s is gone or replaced (others can change "
			"that directory?): use a directory only you can use\n",
			path);
		return -1;
	}
	/* A default ACL of the directory overrides the umask: set the mode too. */
	if ((st.st_mode & 07777) != 0600 &&
	    (chmod(path, 0600) < 0 || lstat(path, &st) < 0 || (st.st_mode & 07777) != 0600)) {
		fprintf(stderr, "udma-simd: cannot make the socket at %s mode 0600 (it is %04o)\n", path,
			(unsigned)(st.st_mode & 07777));
		unlink(path);
		return -1;
	}
	return 0;
}

static int listen_on(const char *path)
{
	struct sockaddr_un a = {.sun_family = AF_UNIX};
	int fd;

	if (strlen(path) >= sizeof(a.sun_path)) {
		fprintf(stderr, "udma-simd: socket path '%s' is longer than %zu bytes: pick a shorter one\n",
			path, sizeof(a.sun_path) - 1);
		return -1;
	}
	strcpy(a.sun_path, path);
	fd = socket(AF_UNIX, SOCK_SEQPACKET | SOCK_CLOEXEC, 0);
	if (fd < 0) {
		fprintf(stderr, "udma-simd: socket: %s\n", strerror(errno));
		return -1;
	}
	if (bind_private(fd, path, &a) < 0) {
		close(fd);
		return -1;
	}
	if (listen(fd, 1) < 0) {
		fprintf(stderr, "udma-simd: cannot listen on %s: %s\n", path, strerror(errno));
		unlink(path);
		close(fd);
		return -1;
	}
	return fd;
}

/*
 * A driver hands us its memory and we write it: serve only our own user, or
 * the one --peer-uid names. Anyone else is told so on our stderr and hung
 * up on at once (nothing read), and we wait for the rightful driver.
 */
static bool peer_allowed(int conn, bool peer_uid_set, uid_t peer_uid)
{
	struct ucred cred;
	socklen_t len = sizeof(cred);
	char served[64];

	if (getsockopt(conn, SOL_SOCKET, SO_PEERCRED, &cred, &len) < 0) {
		fprintf(stderr, "udma-simd: refused a connection: cannot learn who it is (SO_PEERCRED: %s)\n",
			strerror(errno));
		return false;
	}
	if (cred.uid == geteuid() || (peer_uid_set && cred.uid == peer_uid))
		return true;
	if (peer_uid_set)
		snprintf(served, sizeof(served), "uid %u (its own) and %u (--peer-uid)", (unsigned)geteuid(),
			 (unsigned)peer_uid);
	else
		snprintf(served, sizeof(served), "uid %u (its own)", (unsigned)geteuid());
	fprintf(stderr,
		"udma-simd: refused a driver running as uid %u (pid %d): this device serves %s only; "
		"if that user may have it, start the device with --peer-uid %u\n",
		(unsigned)cred.uid, (int)cred.pid, served, (unsigned)cred.uid);
	return false;
}

/* The first connection from a driver we may serve; -1 on an error. */
static int accept_driver(int lfd, bool peer_uid_set, uid_t peer_uid)
{
	for (;;) {
		int conn = accept4(lfd, NULL, NULL, SOCK_CLOEXEC);

		if (conn < 0 && (errno == EINTR || errno == ECONNABORTED))
			continue;
		if (conn < 0 || peer_allowed(conn, peer_uid_set, peer_uid))
			return conn;
		close(conn);
	}
}

/* Until the driver's connection has a message, ends, or its process dies:
 * false in the last case. */
static bool wait_driver(int conn, int pidfd, pid_t pid, bool verbose)
{
	struct pollfd pfd[2] = {{.fd = conn, .events = POLLIN}, {.fd = pidfd, .events = POLLIN}};

	for (;;) {
		int n = poll(pfd, pidfd >= 0 ? 2 : 1, -1);

		if (n < 0 && errno == EINTR)
			continue;
		if (n < 0 || pfd[0].revents)
			return true; /* the read says what happened */
		if (verbose)
			fprintf(stderr, "udma-simd: the driver's process (pid %d) exited; device stopped\n",
				(int)pid);
		return false;
	}
}

/* One request at a time, each answered, until the driver goes. */
static int serve(int conn, struct simd_server *srv, bool verbose)
{
	static uint64_t buf[SIMD_MSG_MAX / sizeof(uint64_t)];
	struct simd_reply reply;
	int fds[SIMD_MAX_FDS];
	unsigned nfds;
	pid_t pid;
	/* The driver's process, to notice its death even while a process it
	 * forked still holds a copy of the socket (the connection then never
	 * ends); -1 without pidfds, and then only the hang-up tells. */
	int pidfd = simd_peer_pidfd(conn, &pid), rc = 0;

	for (;;) {
		ssize_t n;

		if (!wait_driver(conn, pidfd, pid, verbose))
			break;
		n = simd_recv(conn, buf, sizeof(buf), fds, &nfds);
		if (n == 0 || n == -ECONNRESET) {
			if (verbose)
				fprintf(stderr, "udma-simd: the driver disconnected; device stopped\n");
			break;
		}
		if (n == -EMSGSIZE || n == -EBADMSG) {
			/* Unreadable: say so (its seq is unknown) and go on. */
			memset(&reply, 0, sizeof(reply));
			reply.h.type = SIMD_MSG_REPLY;
			reply.h.len = sizeof(reply);
			reply.status = (int32_t)n;
			reply.pid = (uint32_t)getpid();
			snprintf(reply.msg, sizeof(reply.msg), "%s",
				 n == -EMSGSIZE
					 ? "message or its fds too large (at most 64 KiB and 3 fds)"
					 : "message shorter than its header, or its length field is wrong");
		} else if (n < 0) {
			fprintf(stderr, "udma-simd: reading the socket: %s\n", strerror((int)-n));
			rc = 1;
			break;
		} else {
			simd_server_handle(srv, buf, (size_t)n, fds, nfds, &reply);
		}
		if (simd_send(conn, &reply, sizeof(reply), NULL, 0) < 0)
			break; /* the driver went away meanwhile */
		report_lost(verbose);
	}
	if (pidfd >= 0)
		close(pidfd);
	return rc;
}

int main(int argc, char **argv)
{
	uint64_t max_block = DEFAULT_MAX_BLOCK, max_map = 0;
	const char *path = NULL;
	struct simd_server *srv;
	bool verbose = false, peer_uid_set = false;
	uid_t peer_uid = 0;
	int ready_fd = -1, lfd, conn, i, rc;

	for (i = 1; i < argc; i++) {
		const char *a = argv[i], *v = i + 1 < argc ? argv[i + 1] : NULL;

		if (!strcmp(a, "--help") || !strcmp(a, "-h")) {
			usage(stdout);
			return 0;
		} else if (!strcmp(a, "--verbose")) {
			verbose = true;
		} else if (!strcmp(a, "--socket") && v) {
			path = v;
			i++;
		} else if (!strcmp(a, "--ready-fd") && v) {
			const char *end;
			uint64_t fd;

			/* Never 0-2: closing one once ready would lose stdin or a log. */
			if (parse_u64(v, &end, INT32_MAX, &fd) || *end || fd < 3) {
				fprintf(stderr,
					"udma-simd: --ready-fd %s is not a file descriptor above 2 (a "
					"decimal number; 0, 1 and 2 are stdin, stdout and stderr)\n",
					v);
				return 2;
			}
			ready_fd = (int)fd;
			i++;
		} else if ((!strcmp(a, "--max-block") || !strcmp(a, "--max-map")) && v) {
			if (parse_size(v, !strcmp(a, "--max-block") ? &max_block : &max_map)) {
				fprintf(stderr,
					"udma-simd: %s %s is not a size in bytes that fits in 64 bits (a "
					"number with an optional K, M, G or T suffix, then B or iB: "
					"1G, 64MiB)\n",
					a, v);
				return 2;
			}
			i++;
		} else if (!strcmp(a, "--peer-uid") && v) {
			const char *end;
			uint64_t uid;

			/* (uid_t)-1 is no user: it means "unchanged" to setuid and chown. */
			if (parse_u64(v, &end, (uid_t)-1 - 1, &uid) || *end) {
				fprintf(stderr,
					"udma-simd: --peer-uid %s is not a user id (a decimal number below "
					"%u)\n",
					v, (unsigned)(uid_t)-1);
				return 2;
			}
			peer_uid = (uid_t)uid;
			peer_uid_set = true;
			i++;
		} else {
			fprintf(stderr, "udma-simd: bad argument '%s'\n", a);
			usage(stderr);
			return 2;
		}
	}
	if (!path) {
		usage(stderr);
		return 2;
	}
	if (!*path) {
		fprintf(stderr, "udma-simd: --socket is empty: give the path of the socket to create\n");
		return 2;
	}
	signal(SIGPIPE, SIG_IGN);
	{
		struct sigaction sa = {.sa_sigaction = on_sigbus, .sa_flags = SA_SIGINFO};

		sigaction(SIGBUS, &sa, NULL);
	}
	lfd = listen_on(path);
	if (lfd < 0)
		return 1;
	if (ready_fd >= 0) {
		if (write(ready_fd, "r", 1) != 1)
			fprintf(stderr, "udma-simd: cannot signal readiness on fd %d: %s\n", ready_fd,
				strerror(errno));
		close(ready_fd);
	}
	if (verbose)
		fprintf(stderr, "udma-simd: listening on %s\n", path);
	conn = accept_driver(lfd, peer_uid_set, peer_uid);
	/* One driver per device: nobody else may connect now; from here on
	 * the driver's end of the socket, not our starter, decides when we go. */
	close(lfd);
	prctl(PR_SET_PDEATHSIG, 0);
	unlink(path);
	if (conn < 0) {
		fprintf(stderr, "udma-simd: accept: %s\n", strerror(errno));
		return 1;
	}
	srv = simd_server_new(max_block, max_map, verbose);
	if (!srv) {
		fprintf(stderr, "udma-simd: out of memory\n");
		close(conn);
		return 1;
	}
	rc = serve(conn, srv, verbose);
	if (!simd_server_free(srv))
		fprintf(stderr, "udma-simd: the device did not stop within a second; exiting anyway\n");
	report_lost(true);
	close(conn);
	return rc;
}
