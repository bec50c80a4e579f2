/* SPDX-License-Identifier: MIT */
/*
 * Long-term pins through io_uring buffer registration. The kernel pins
 * registered buffers with FOLL_LONGTERM: it first moves the pages out of
 * movable zones and CMA, then refuses to migrate them (compaction, memory
 * offline, NUMA balancing) until they are unregistered. mlock gives no such
 * promise. The ring itself is never used for I/O and never mapped: its fd
 * only owns the registration.
 */
#include <errno.h>
#include <fcntl.h>
#include <linux/io_uring.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <sys/syscall.h>
#include <sys/uio.h>
#include <unistd.h>

#include "lib/os/os.h"

/* The kernel's limits on one registration (io_uring/rsrc.c). */
#define BUF_MAX	 ((size_t)1 << 30) /* bytes per registered buffer */
#define BUFS_MAX 16384u		   /* buffers per ring */

/* Every pin fd is on the list of descriptors a forked child closes
 * (child_fds.c): a copy would keep the parent's pages pinned for as long as
 * the child lives, even after the parent unpinned or died. */

static int ring_setup(void)
{
	struct io_uring_params p;

	memset(&p, 0, sizeof(p));
	return (int)syscall(SYS_io_uring_setup, 1, &p);
}

static int ring_register(int fd, unsigned op, void *arg, unsigned n)
{
	return (int)syscall(SYS_io_uring_register, fd, op, arg, n);
}

/* kernel.io_uring_disabled (Linux 6.6+): 0 allowed, 1 only for
 * kernel.io_uring_group, 2 nobody; -1 when the knob is absent. */
static int io_uring_disabled(void)
{
	char buf[16] = "";
	int fd = open("/proc/sys/kernel/io_uring_disabled", O_RDONLY | O_CLOEXEC);
	ssize_t n;

	if (fd < 0)
		return -1;
	n = read(fd, buf, sizeof(buf) - 1);
	close(fd);
	return n > 0 ? atoi(buf) : -1;
}

#define FIX_VA "or use VA mode under VFIO, where the IOMMU driver pins"

static int explain_setup(int e)
{
	int disabled = io_uring_disabled();

	if (e == ENOSYS)
		return udma__err(e, "no long-term pin: io_uring_setup is not available (a kernel without "
				    "CONFIG_IO_URING, a seccomp filter such as a container's, or qemu-user, "
				    "which does not emulate io_uring): PA mode needs it to keep pages from "
				    "moving; allow io_uring, " FIX_VA);
	if (e == EPERM && disabled > 0)
		return udma__err(e,
				 "no long-term pin: io_uring is disabled (kernel.io_uring_disabled=%d): "
				 "PA mode needs it to keep pages from moving; sysctl "
				 "kernel.io_uring_disabled=0%s, " FIX_VA,
				 disabled, disabled == 1 ? " (or join kernel.io_uring_group)" : "");
	if (e == EMFILE || e == ENFILE)
		return udma__err(e, "no long-term pin: no file descriptor left for its io_uring: %s",
				 udma__strerror(e));
	return udma__err(e, "no long-term pin: io_uring_setup failed: %s; allow io_uring, " FIX_VA,
			 udma__strerror(e));
}

static int explain_register(int e, size_t len)
{
	struct rlimit rl;

	if (e == ENOMEM && !udma__has_cap_ipc_lock() && getrlimit(RLIMIT_MEMLOCK, &rl) == 0 &&
	    rl.rlim_cur != RLIM_INFINITY)
		return udma__err(e,
				 "long-term pin of %zu bytes refused: without CAP_IPC_LOCK pinned memory "
				 "counts against RLIMIT_MEMLOCK (%llu bytes), for all of this user's "
				 "processes together and besides mlock's count: raise it with `ulimit -l`, "
				 "or run with CAP_IPC_LOCK",
				 len, (unsigned long long)rl.rlim_cur);
	if (e == ENOMEM)
		return udma__err(e,
				 "long-term pin of %zu bytes refused: out of memory; the kernel first "
				 "moves pages out of movable zones and CMA, which takes free memory (a "
				 "free hugepage for each hugepage it moves): free some, or reserve a few "
				 "more hugepages",
				 len);
	if (e == EOPNOTSUPP || e == EFAULT)
		return udma__err(e,
				 "long-term pin of %zu bytes refused (%s): the kernel pins only anonymous, "
				 "shmem and hugetlb memory, every page mapped and writable: use such "
				 "memory, " FIX_VA,
				 len, udma__strerror(e));
	return udma__err(e, "long-term pin of %zu bytes failed: %s", len, udma__strerror(e));
}

int udma__longterm_pin(void *addr, size_t len)
{
	size_t n = (len + BUF_MAX - 1) / BUF_MAX, i;
	struct iovec *iov;
	int fd, rc;

	if (!len || n > BUFS_MAX)
		return udma__err(EINVAL, "long-term pin of %zu bytes: between 1 byte and %zu GiB", len,
				 (size_t)BUFS_MAX);
	if ((rc = udma__child_fds_watch()))
		return udma__err(-rc, "no long-term pin: %s", udma_last_error());
	iov = calloc(n, sizeof(*iov));
	if (!iov)
		return udma__err(ENOMEM, "out of memory for %zu buffer descriptors", n);
	for (i = 0; i < n; i++) {
		iov[i].iov_base = (char *)addr + i * BUF_MAX;
		iov[i].iov_len = i + 1 < n ? BUF_MAX : len - i * BUF_MAX;
	}
	/* The fd is on the list before a fork can see it. */
	udma__child_fds_lock();
	fd = ring_setup();
	if (fd < 0) {
		rc = explain_setup(errno);
	} else if (ring_register(fd, IORING_REGISTER_BUFFERS, iov, (unsigned)n) < 0) {
		rc = explain_register(errno, len);
		close(fd);
	} else if ((rc = udma__child_fds_add_locked(fd))) {
		ring_register(fd, IORING_UNREGISTER_BUFFERS, NULL, 0);
		close(fd);
	} else {
		rc = fd;
	}
	udma__child_fds_unlock();
	free(iov);
	return rc;
}

/* Only a pin on the list: a child forked inside a memory event and back in
 * udma_region_destroy has had its copies closed at fork, and the number may
 * name one of its own files by now. */
void udma__longterm_unpin(int fd)
{
	udma__child_fds_lock();
	if (fd >= 0 && udma__child_fds_take_locked(fd)) {
		/* Unregistering waits for the pages to be released; closing
		 * alone would leave that to the ring's teardown, later. */
		ring_register(fd, IORING_UNREGISTER_BUFFERS, NULL, 0);
		close(fd);
	}
	udma__child_fds_unlock();
}

int udma__longterm_pin_probe(char *why, size_t len)
{
	/* Any writable page will do; this one needs no mapping of its own. */
	static char page[4096] __attribute__((aligned(4096)));
	int fd = udma__longterm_pin(page, sizeof(page));

	if (fd < 0) {
		snprintf(why, len, "%s", udma_last_error());
		return fd;
	}
	udma__longterm_unpin(fd);
	snprintf(why, len, "long-term pins (FOLL_LONGTERM through io_uring buffer registration)");
	return 0;
}
