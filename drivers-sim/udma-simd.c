/* SPDX-License-Identifier: MIT */
/*
 * udma-simd: the simulated DMA device as a process of its own, as a
 * vhost-user or vfio-user device is. It listens on a UNIX socket, serves one
 * driver (udma_dev_open(ctx, "sim:NAME@SOCKET")) and exits when that driver
 * disconnects or dies. It maps the driver's memory only through the file
 * descriptors it is handed, and reaches it only by IOVA through the model's
 * IOMMU.
 */
#include <errno.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/prctl.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <unistd.h>

#include "simd_server.h"

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
		   "[--verbose]\n"
		   "  --socket PATH     listen there (the driver opens \"sim:NAME@PATH\")\n"
		   "  --ready-fd FD     write one byte to FD once listening, then close it\n"
		   "  --max-block SIZE  largest block store a driver may ask for (default 1G)\n"
		   "  --max-map SIZE    most driver memory mapped at once (default: the machine's RAM)\n"
		   "  --verbose         say what happens on stderr\n"
		   "Serves one driver and exits 0 when it disconnects.\n");
}

static int parse_size(const char *s, uint64_t *out)
{
	char *end;
	unsigned long long v;

	errno = 0;
	v = strtoull(s, &end, 10);
	if (errno || end == s || *s == '-')
		return -1;
	switch (*end) {
	case 'G': v <<= 10; /* fall through */
	case 'M': v <<= 10; /* fall through */
	case 'K':
		v <<= 10;
		end++;
		break;
	default: break;
	}
	if (*end)
		return -1;
	*out = v;
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
	if (fd < 0 || bind(fd, (struct sockaddr *)&a, sizeof(a)) < 0 || listen(fd, 1) < 0) {
		fprintf(stderr, "udma-simd: cannot listen on %s: %s%s\n", path, strerror(errno),
			errno == EADDRINUSE ? " (remove the stale socket, or pick another path)" : "");
		if (fd >= 0)
			close(fd);
		return -1;
	}
	return fd;
}

/* One request at a time, each answered, until the driver goes. */
static int serve(int conn, struct simd_server *srv, bool verbose)
{
	static uint64_t buf[SIMD_MSG_MAX / sizeof(uint64_t)];
	struct simd_reply reply;
	int fds[SIMD_MAX_FDS];
	unsigned nfds;

	for (;;) {
		ssize_t n = simd_recv(conn, buf, sizeof(buf), fds, &nfds);

		if (n == 0 || n == -ECONNRESET) {
			if (verbose)
				fprintf(stderr, "udma-simd: the driver disconnected; device stopped\n");
			return 0;
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
			return 1;
		} else {
			simd_server_handle(srv, buf, (size_t)n, fds, nfds, &reply);
		}
		if (simd_send(conn, &reply, sizeof(reply), NULL, 0) < 0)
			return 0; /* the driver went away meanwhile */
		report_lost(verbose);
	}
}

int main(int argc, char **argv)
{
	uint64_t max_block = DEFAULT_MAX_BLOCK, max_map = 0;
	const char *path = NULL;
	struct simd_server *srv;
	bool verbose = false;
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
			ready_fd = atoi(v);
			i++;
		} else if (!strcmp(a, "--max-block") && v && !parse_size(v, &max_block)) {
			i++;
		} else if (!strcmp(a, "--max-map") && v && !parse_size(v, &max_map)) {
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
	do
		conn = accept4(lfd, NULL, NULL, SOCK_CLOEXEC);
	while (conn < 0 && errno == EINTR);
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
