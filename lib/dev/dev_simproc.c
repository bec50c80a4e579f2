/* SPDX-License-Identifier: MIT */
/*
 * The simulated device in another process ("sim:NAME@SOCKET", served by
 * udma-simd): as with vhost-user, we hand it memory as file descriptors over a
 * UNIX socket (sim/simd_proto.h) - the BAR, the doorbell and
 * interrupt eventfds at HELLO, then each region's file with its IOVA ranges.
 *
 * If the device process dies, a monitor thread sees the socket hang up and
 * does what a PCI surprise removal does: the BAR reads all ones from then on
 * and the interrupt fd fires, so a driver waiting on either notices at once
 * and takes back what it had in flight.
 */
#include <errno.h>
#include <fcntl.h>
#include <poll.h>
#include <pthread.h>
#include <sched.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/eventfd.h>
#include <sys/mman.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <sys/time.h>
#include <sys/un.h>
#include <time.h>
#include <unistd.h>

#include "lib/dev/device_internal.h"
#include "sim/simd_proto.h"
#include "sim/simdev_regs.h"

#define SIMPROC_STACK (256u << 10)

struct simproc {
	struct udma_sim_io io; /* first: the shared ops find it at dev->priv */
	struct udma_dev *dev;
	int sock, stop_fd;
	int pidfd;	    /* the device's process (from the socket's peer), or -1 */
	atomic_int claimed; /* device_gone has run */
	atomic_int killed;  /* we sent it SIGKILL for not answering */
	atomic_int garbled; /* it answered with a malformed message */
	uint32_t pid;	    /* the device's process */
	uint64_t seq;
	pthread_mutex_t req_lock; /* one request on the socket at a time */
	pthread_t monitor;
	bool monitoring;
	bool counted; /* holds udma__region_files_hold */
	char path[108];
};

/*
 * SIGKILL the device's process through its pidfd and wait, at most
 * SIMD_REPLY_MS, for it to die: until it is dead it still maps our memory, and
 * a driver taking its buffers back must know nothing writes them any more.
 * true once it is dead; else false and why not in buf.
 */
static bool stop_device(struct simproc *p, char *buf, size_t len)
{
	struct pollfd pfd = {.fd = p->pidfd, .events = POLLIN};
	const char *sig = NULL;
	int rc;

	if (p->pidfd < 0) {
		snprintf(buf, len, "no pidfd for it");
		return false;
	}
	/* ESRCH: it has exited already, which the wait below sees at once. */
	if (syscall(SYS_pidfd_send_signal, p->pidfd, SIGKILL, NULL, 0) < 0 && errno != ESRCH)
		sig = udma__strerror(errno); /* not ours to kill: it may still exit */
	do
		rc = poll(&pfd, 1, SIMD_REPLY_MS);
	while (rc < 0 && errno == EINTR);
	if (rc == 1)
		return true;
	if (sig)
		snprintf(buf, len, "SIGKILL: %s", sig);
	else
		snprintf(buf, len, "killed, not dead after %d ms", SIMD_REPLY_MS);
	return false;
}

/* Why the connection ended: once we have killed the device, its hang-up
 * (seen by whichever thread first) is our doing, not its own exit. */
static void gone_cause(struct simproc *p, char *buf, size_t len)
{
	if (atomic_load_explicit(&p->killed, memory_order_acquire))
		snprintf(buf, len, "it stopped answering: killed after waiting %d ms for a reply",
			 SIMD_REPLY_MS);
	else if (atomic_load_explicit(&p->garbled, memory_order_acquire))
		snprintf(buf, len, "it answered with a malformed message");
	else
		snprintf(buf, len, "its process exited or closed the connection");
}

/* Once: the device's process is stopped (it may be alive and merely have
 * hung up, or sent garbage), then its registers read all ones, as a removed
 * PCI function's do, and whoever sleeps on the interrupt fd wakes up. A second
 * caller (the monitor and a requester see the same hang-up) returns only once
 * that is done, so no caller goes on while the registers still look alive. */
static void device_gone(struct simproc *p)
{
	char cause[96], stopped[64];
	uint64_t one = 1;
	void *ones;

	if (atomic_exchange_explicit(&p->claimed, 1, memory_order_acq_rel)) {
		while (!atomic_load_explicit(&p->io.gone, memory_order_acquire))
			sched_yield();
		return;
	}
	gone_cause(p, cause, sizeof(cause));
	if (stop_device(p, stopped, sizeof(stopped)))
		snprintf(p->io.gone_why, sizeof(p->io.gone_why), "%s; its process is dead", cause);
	else
		snprintf(p->io.gone_why, sizeof(p->io.gone_why),
			 "%s; its process could not be confirmed dead (%s): it may still write memory "
			 "it was handed",
			 cause, stopped);
	/* A private page of 0xff in place of the shared BAR: a device that is
	 * merely stuck cannot write our view of it any more. */
	ones = udma__mmap_nofork(SIMDEV_BAR0_SIZE, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1,
				 0);
	if (ones != MAP_FAILED) {
		memset(ones, 0xff, SIMDEV_BAR0_SIZE);
		if (mremap(ones, SIMDEV_BAR0_SIZE, SIMDEV_BAR0_SIZE, MREMAP_MAYMOVE | MREMAP_FIXED,
			   p->io.bar) == MAP_FAILED)
			munmap(ones, SIMDEV_BAR0_SIZE);
	}
	if (ones == MAP_FAILED ||
	    *(volatile uint32_t *)((uint8_t *)p->io.bar + SIMDEV_REG_STATUS) != UINT32_MAX)
		memset(p->io.bar, 0xff, SIMDEV_BAR0_SIZE);
	/* Only now: whoever sees -ENODEV also sees the registers gone. */
	atomic_store_explicit(&p->io.gone, 1, memory_order_release);
	if (write(p->io.irq_fd, &one, sizeof(one)) < 0) {
		/* saturated: it is readable anyway */
	}
	udma__log(UDMA_LOG_ERR, "device sim:%s@%s (pid %u) is gone: %s; its registers now read all ones",
		  p->dev->name, p->path, p->pid, p->io.gone_why);
}

static bool is_gone(struct simproc *p)
{
	return atomic_load_explicit(&p->io.gone, memory_order_acquire);
}

static void *monitor_thread(void *arg)
{
	struct simproc *p = arg;
	/* No POLLIN on the socket: replies are the requester's to read. */
	struct pollfd pfd[2] = {{.fd = p->sock, .events = 0}, {.fd = p->stop_fd, .events = POLLIN}};

	for (;;) {
		if (poll(pfd, 2, -1) < 0) {
			if (errno == EINTR)
				continue;
			break;
		}
		if (pfd[1].revents)
			break;
		if (pfd[0].revents & (POLLHUP | POLLERR | POLLNVAL)) {
			device_gone(p);
			break;
		}
	}
	return NULL;
}

/*
 * A device that does not answer within SIMD_REPLY_MS is stopped for good
 * (SIGKILL through its pidfd) and only then declared gone: until it is dead
 * it still maps our memory, and a driver taking its buffers back must know
 * the device will never write them again.
 */
static int unresponsive(struct simproc *p)
{
	char why[64];

	/* Said before the signal: its hang-up may be seen first elsewhere. */
	atomic_store_explicit(&p->killed, 1, memory_order_release);
	if (!stop_device(p, why, sizeof(why))) {
		atomic_store_explicit(&p->killed, 0, memory_order_release);
		return udma__err(ETIMEDOUT,
				 "sim:%s: the device process (pid %u) did not answer within %d ms and "
				 "cannot be stopped (%s): close the device and kill it",
				 p->dev->name, p->pid, SIMD_REPLY_MS, why);
	}
	shutdown(p->sock, SHUT_RDWR);
	device_gone(p);
	return udma__err(
		ENODEV, "sim:%s: the device process (pid %u) did not answer within %d ms: killed, it is gone",
		p->dev->name, p->pid, SIMD_REPLY_MS);
}

/* Send a request and wait for its answer. 0, or a negative errno with the
 * error set (the device's own words when it refused). */
static int request(struct simproc *p, struct simd_hdr *h, size_t len, const int *fds, unsigned nfds)
{
	struct simd_reply reply;
	struct pollfd pfd = {.fd = p->sock, .events = POLLIN};
	enum { ANSWERED, TIMED_OUT, HUNG_UP } how = ANSWERED;
	int rfds[SIMD_MAX_FDS];
	struct timespec now, deadline;
	unsigned nr;
	ssize_t n;
	int rc;

	pthread_mutex_lock(&p->req_lock);
	h->len = (uint32_t)len;
	h->seq = ++p->seq;
	/* The socket has a send timeout: a device that stopped reading times out. */
	rc = simd_send(p->sock, h, len, fds, nfds);
	if (rc)
		how = rc == -EAGAIN || rc == -EWOULDBLOCK ? TIMED_OUT : HUNG_UP;
	/* One deadline for the whole request: answers to earlier requests
	 * (stale seq) do not buy a device more time. */
	clock_gettime(CLOCK_MONOTONIC, &deadline);
	deadline.tv_sec += SIMD_REPLY_MS / 1000;
	deadline.tv_nsec += SIMD_REPLY_MS % 1000 * 1000000L;
	while (how == ANSWERED) {
		long left;

		clock_gettime(CLOCK_MONOTONIC, &now);
		left = (deadline.tv_sec - now.tv_sec) * 1000L + (deadline.tv_nsec - now.tv_nsec) / 1000000L;
		rc = poll(&pfd, 1, left > 0 ? (int)left : 0);
		if (rc < 0 && errno == EINTR)
			continue;
		if (rc <= 0) {
			how = rc ? HUNG_UP : TIMED_OUT;
			break;
		}
		n = simd_recv(p->sock, &reply, sizeof(reply), rfds, &nr);
		simd_close_fds(rfds, nr);
		if (n <= 0 || (size_t)n != sizeof(reply) || reply.h.type != SIMD_MSG_REPLY) {
			if (n != 0 && n != -ECONNRESET)
				atomic_store_explicit(&p->garbled, 1, memory_order_release);
			how = HUNG_UP;
		} else if (reply.h.seq == h->seq)
			break; /* else an answer to an earlier request that timed out */
	}
	pthread_mutex_unlock(&p->req_lock);
	if (how == TIMED_OUT)
		return unresponsive(p);
	if (how == HUNG_UP) {
		device_gone(p); /* gone_why is set once it returns */
		return udma__err(ENODEV, "sim:%s: the device process (%s) is gone: %s", p->dev->name, p->path,
				 p->io.gone_why);
	}
	if (reply.status > 0 || reply.status < -4095)
		return udma__err(EPROTO,
				 "sim:%s: the device process (pid %u) answered with status %d, neither 0 "
				 "nor a negative errno: it does not speak this protocol (udma-simd "
				 "version %u)",
				 p->dev->name, p->pid, (int)reply.status, SIMD_VERSION);
	if (reply.status < 0) {
		/* Its words go into our error message, perhaps to a terminal. */
		for (size_t i = 0; i < sizeof(reply.msg); i++)
			if (reply.msg[i] &&
			    ((unsigned char)reply.msg[i] < 0x20 || (unsigned char)reply.msg[i] >= 0x7f))
				reply.msg[i] = '?';
		reply.msg[sizeof(reply.msg) - 1] = 0;
		return udma__err(-reply.status, "sim:%s: the device refused: %s", p->dev->name, reply.msg);
	}
	if (h->type == SIMD_MSG_HELLO)
		p->pid = reply.pid; /* before the monitor thread starts: it reads it */
	return 0;
}

/* end: end the connection for every holder of the socket, a forked child's
 * copy included (the device process exits when it ends); only after the
 * monitor is stopped, which would take that for the device's death. */
static void simproc_free(struct simproc *p, bool end)
{
	int fds[3] = {p->sock, p->stop_fd, p->pidfd};

	if (p->monitoring) {
		uint64_t one = 1;

		if (write(p->stop_fd, &one, sizeof(one)) == sizeof(one))
			pthread_join(p->monitor, NULL);
	}
	if (end && p->sock >= 0)
		shutdown(p->sock, SHUT_RDWR);
	simd_close_fds(fds, 3);
	udma__sim_io_close(&p->io);
	if (p->counted)
		udma__region_files_release(p->dev->ctx);
	pthread_mutex_destroy(&p->req_lock);
	free(p);
}

/*
 * Whoever serves the device gets every region's file, to read and write: only
 * a process of our own user (as any process of ours could ptrace us anyway),
 * or of the one other uid the spec names.
 */
static bool peer_trusted(const struct udma_dev_args *a, const struct ucred *cred)
{
	return cred->uid == geteuid() || (a->peer_uid_set && cred->uid == a->peer_uid);
}

static int peer_refused(const struct udma_dev_args *a, const struct ucred *cred)
{
	char expected[64];

	if (a->peer_uid_set)
		snprintf(expected, sizeof(expected), "uid %u (this process's) or %u (peer_uid)",
			 (unsigned)geteuid(), a->peer_uid);
	else
		snprintf(expected, sizeof(expected), "uid %u as this process does", (unsigned)geteuid());
	return udma__err(EACCES,
			 "sim:%s: the process listening on %s (pid %d) runs as uid %u, not %s: it is not "
			 "handed this process's memory (if uid %u is trusted, add peer_uid=%u to the spec: "
			 "sim:%s,peer_uid=%u@PATH)",
			 a->name, a->socket, (int)cred->pid, (unsigned)cred->uid, expected,
			 (unsigned)cred->uid, (unsigned)cred->uid, a->name, (unsigned)cred->uid);
}

static int connect_to(struct simproc *p, const struct udma_dev_args *a)
{
	struct sockaddr_un sa = {.sun_family = AF_UNIX};
	struct stat st;

	strcpy(sa.sun_path, a->socket);
	p->sock = socket(AF_UNIX, SOCK_SEQPACKET | SOCK_CLOEXEC, 0);
	if (p->sock < 0)
		return udma__err(errno, "sim:%s: socket: %s", a->name, udma__strerror(errno));
	if (connect(p->sock, (struct sockaddr *)&sa, sizeof(sa)) == 0) {
		struct timeval tv = {.tv_sec = SIMD_REPLY_MS / 1000, .tv_usec = SIMD_REPLY_MS % 1000 * 1000};
		struct ucred cred;
		socklen_t clen = sizeof(cred);
		pid_t pid;

		setsockopt(p->sock, SOL_SOCKET, SO_SNDTIMEO, &tv, sizeof(tv));
		/* The process behind the socket, by the kernel's word (its
		 * credentials when it called listen): who it is, before it is
		 * handed any memory, and a pidfd to stop it if it ever stops
		 * answering (without pidfds, Linux < 5.3: -1). */
		if (getsockopt(p->sock, SOL_SOCKET, SO_PEERCRED, &cred, &clen))
			return udma__err(errno,
					 "sim:%s: cannot learn who listens on %s (SO_PEERCRED: %s), so "
					 "it is not handed any memory",
					 a->name, a->socket, strerror(errno));
		if (!peer_trusted(a, &cred))
			return peer_refused(a, &cred);
		p->pidfd = simd_peer_pidfd(p->sock, &pid);
		return 0;
	}
	switch (errno) {
	case ENOENT:
		return udma__err(ENOENT,
				 "sim:%s: no socket at %s: start the device first (udma-simd --socket %s)",
				 a->name, a->socket, a->socket);
	case ECONNREFUSED:
		/* connect() says the same of a file that is no socket at all. */
		if (stat(a->socket, &st) == 0 && !S_ISSOCK(st.st_mode))
			return udma__err(ENOTSOCK,
					 "sim:%s: %s is not a socket: give the path udma-simd listens on "
					 "(udma-simd --socket PATH)",
					 a->name, a->socket);
		return udma__err(ECONNREFUSED,
				 "sim:%s: nothing listens on %s (the device exited, or has its driver "
				 "already): start a new one (udma-simd --socket %s)",
				 a->name, a->socket, a->socket);
	default:
		return udma__err(errno, "sim:%s: cannot connect to %s: %s", a->name, a->socket,
				 udma__strerror(errno));
	}
}

/* The BAR is a sealed memfd page both processes map. */
static int make_bar(struct simproc *p, const struct udma_dev_args *a, int *fd)
{
	*fd = memfd_create("udma-sim-bar", MFD_CLOEXEC | MFD_ALLOW_SEALING);
	if (*fd < 0 || ftruncate(*fd, SIMDEV_BAR0_SIZE) < 0 ||
	    fcntl(*fd, F_ADD_SEALS, F_SEAL_SHRINK | F_SEAL_GROW) < 0)
		return udma__err(errno, "sim:%s: cannot make its BAR: %s", a->name, udma__strerror(errno));
	p->io.bar = udma__mmap_nofork(SIMDEV_BAR0_SIZE, PROT_READ | PROT_WRITE, MAP_SHARED, *fd, 0);
	if (p->io.bar == MAP_FAILED) {
		p->io.bar = NULL;
		return udma__err(errno, "sim:%s: cannot map its BAR: %s", a->name, udma__vm_strerror(errno));
	}
	return 0;
}

static int simproc_open(struct udma_dev *dev, const struct udma_dev_args *a)
{
	struct simd_hello hello = {.h.type = SIMD_MSG_HELLO, .magic = SIMD_MAGIC, .version = SIMD_VERSION};
	struct simproc *p = calloc(1, sizeof(*p));
	pthread_attr_t attr;
	int bar_fd = -1, rc;

	if (!p)
		return udma__err(ENOMEM, "out of memory for device '%s'", a->name);
	p->dev = dev;
	p->sock = p->io.doorbell_fd = p->io.irq_fd = p->stop_fd = p->pidfd = -1;
	pthread_mutex_init(&p->req_lock, NULL);
	snprintf(p->path, sizeof(p->path), "%s", a->socket);
	if ((rc = connect_to(p, a)) || (rc = make_bar(p, a, &bar_fd)))
		goto fail;
	if ((rc = udma__sim_io_open(&p->io, a->name)))
		goto fail;
	p->stop_fd = eventfd(0, EFD_CLOEXEC);
	if (p->stop_fd < 0) {
		rc = udma__err(errno, "sim:%s: eventfd: %s", a->name, udma__strerror(errno));
		goto fail;
	}
	snprintf(hello.name, sizeof(hello.name), "%s", a->name);
	hello.queues = a->queues ? a->queues : 4;
	hello.block_bytes = a->block_size;
	rc = request(p, &hello.h, sizeof(hello), (int[]){bar_fd, p->io.doorbell_fd, p->io.irq_fd}, 3);
	if (rc)
		goto fail;
	close(bar_fd);
	bar_fd = -1;
	pthread_attr_init(&attr);
	pthread_attr_setstacksize(&attr, SIMPROC_STACK);
	rc = pthread_create(&p->monitor, &attr, monitor_thread, p);
	pthread_attr_destroy(&attr);
	if (rc) {
		rc = udma__err(rc, "sim:%s: cannot start its monitor thread: %s", a->name, strerror(rc));
		goto fail;
	}
	p->monitoring = true;
	/* From now on regions keep their files, for this device to map. */
	udma__region_files_hold(dev->ctx);
	p->counted = true;
	dev->priv = p;
	return 0;
fail:
	if (bar_fd >= 0)
		close(bar_fd);
	simproc_free(p, true);
	return rc;
}

static void simproc_close(struct udma_dev *dev)
{
	simproc_free(dev->priv, true);
	dev->priv = NULL;
}

static void simproc_release_inherited(struct udma_dev *dev)
{
	struct simproc *p = dev->priv;

	p->io.bar = NULL;	/* MADV_DONTFORK: not mapped here */
	p->monitoring = false;	/* its thread did not come along */
	simproc_free(p, false); /* closes our copy of the socket only */
	dev->priv = NULL;
}

/* The file ranges behind [host, host + len) of r, in order. */
static uint32_t segments(const struct udma_region *r, const uint8_t *host, size_t len, struct simd_seg *seg,
			 uint32_t max)
{
	size_t off = (size_t)(host - r->addr), first, last, k;
	uint32_t n = 0;

	if (!r->file_page) {
		seg[0] = (struct simd_seg){.offset = off, .len = len};
		return 1;
	}
	/* Pages mapped in physical order: a segment per stretch of file pages. */
	first = off >> r->page_shift;
	last = (off + len - 1) >> r->page_shift;
	for (k = first; k <= last; k++) {
		uint64_t fo = (uint64_t)r->file_page[k] << r->page_shift;

		if (n && seg[n - 1].offset + seg[n - 1].len == fo) {
			seg[n - 1].len += r->page_size;
			continue;
		}
		if (n == max)
			return 0;
		seg[n++] = (struct simd_seg){.offset = fo, .len = r->page_size};
	}
	return n;
}

static int simproc_map(struct udma_dev *dev, struct udma_region *r, uint64_t iova, void *host, size_t len)
{
	static const size_t cap = SIMD_MSG_MAX;
	struct simproc *p = dev->priv;
	struct simd_map *m;
	int rc;

	if (is_gone(p))
		return 0; /* a removed device reaches no memory: nothing to map */
	/* Not EBUSY: no rebuild gives the application's memory a file. */
	if (r->fd < 0 && r->registered)
		return udma__err(ENOTSUP,
				 "sim:%s: region '%s' is registered memory (udma_region_register), which "
				 "has no file udma can hand an out-of-process device: use an in-process "
				 "device (sim:NAME), or memory from udma_region_create",
				 dev->name, r->name);
	/* udma-simd maps sealed memfds only (it checks its peer's files). */
	if (r->dma_buf)
		return udma__err(ENOTSUP,
				 "sim:%s: region '%s' is a DMA-BUF heap buffer, which the out-of-process "
				 "device (udma-simd) does not map: use an in-process device (sim:NAME)",
				 dev->name, r->name);
	if (r->fd < 0)
		return udma__err(EBUSY,
				 "sim:%s: region '%s' was created before this out-of-process device was "
				 "opened, so it has no file to hand the device: open the device first (or "
				 "create the region with UDMA_REGION_SHARED)",
				 dev->name, r->name);
	/* No shrinking under the device's mapping: that would crash it. */
	if (fcntl(r->fd, F_ADD_SEALS, F_SEAL_SHRINK | F_SEAL_GROW) < 0)
		return udma__err(errno, "sim:%s: cannot seal the file of region '%s': %s", dev->name, r->name,
				 strerror(errno));
	m = calloc(1, cap);
	if (!m)
		return udma__err(ENOMEM, "out of memory");
	m->h.type = SIMD_MSG_MAP;
	m->iova = iova;
	m->len = len;
	m->nseg = segments(r, host, len, m->seg, (uint32_t)SIMD_MAX_SEGS);
	if (!m->nseg) {
		free(m);
		return udma__err(ENOTSUP,
				 "sim:%s: region '%s' is spread over more than %zu stretches of its file, "
				 "more than one device mapping can hold: use hugepages",
				 dev->name, r->name, (size_t)SIMD_MAX_SEGS);
	}
	rc = request(p, &m->h, sizeof(*m) + m->nseg * sizeof(m->seg[0]), &r->fd, 1);
	free(m);
	/* Lost the device meanwhile: as above, there is nothing to map. A
	 * device that is there and says -ENODEV refused, like any refusal. */
	return rc == -ENODEV && is_gone(p) ? 0 : rc;
}

static void simproc_unmap(struct udma_dev *dev, uint64_t iova)
{
	struct simproc *p = dev->priv;
	struct simd_unmap u = {.h.type = SIMD_MSG_UNMAP, .iova = iova};

	if (!is_gone(p))
		request(p, &u.h, sizeof(u), NULL, 0);
}

const struct udma_dev_ops udma__dev_simproc_ops = {
	.kind = "sim",
	.open = simproc_open,
	.close = simproc_close,
	.release_inherited = simproc_release_inherited,
	.bar = udma__sim_bar,
	.irq_fd = udma__sim_irq_fd,
	.irq_ack = udma__sim_irq_ack,
	.notify = udma__sim_notify,
	.map = simproc_map,
	.unmap = simproc_unmap,
};
