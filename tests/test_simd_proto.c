/* SPDX-License-Identifier: MIT */
/*
 * udma-simd facing a broken or hostile driver: every malformed message (wrong
 * sizes, wrong or missing fds, unsealed files, bad ranges, unknown types,
 * requests out of order) is refused with its errno, and the device stays up,
 * keeps no fd it was sent, and still serves good requests. Then thousands of
 * random messages: it answers each and neither crashes nor leaks.
 */
#include <errno.h>
#include <fcntl.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/eventfd.h>
#include <sys/mman.h>
#include <sys/resource.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <dirent.h>
#include <unistd.h>

#include "tests/support/helpers.h"
#include "sim/simd_proto.h"
#include "sim/simd_spawn.h"
#include "sim/simdev_regs.h"

struct peer {
	struct simd_proc proc;
	int sock;
	uint64_t seq;
};

/* udma-simd with --max-block 1M and --max-map max_map, connected. */
static void peer_open_map(struct peer *p, const char *max_map)
{
	struct sockaddr_un sa = {.sun_family = AF_UNIX};
	const char *args[] = {"--max-block", "1M", "--max-map", max_map, NULL};

	assert_int_equal(simd_spawn(&p->proc, NULL, args), 0);
	strcpy(sa.sun_path, p->proc.sock);
	p->sock = socket(AF_UNIX, SOCK_SEQPACKET | SOCK_CLOEXEC, 0);
	assert_true(p->sock >= 0);
	assert_int_equal(connect(p->sock, (struct sockaddr *)&sa, sizeof(sa)), 0);
	p->seq = 0;
}

static void peer_open(struct peer *p)
{
	peer_open_map(p, "1G");
}

/* Closing our end: the device must exit 0. */
static void peer_close(struct peer *p)
{
	close(p->sock);
	assert_int_equal(simd_reap(&p->proc, 2000), 0);
}

/* Send raw bytes (the header's len as given) and return the reply's status. */
static int raw(struct peer *p, const void *msg, size_t len, const int *fds, unsigned nfds)
{
	struct simd_reply r;
	int rfds[SIMD_MAX_FDS];
	unsigned nr;
	ssize_t n;

	assert_int_equal(simd_send(p->sock, msg, len, fds, nfds), 0);
	n = simd_recv(p->sock, &r, sizeof(r), rfds, &nr);
	if (n != (ssize_t)sizeof(r))
		fail_msg("no proper reply (%zd): did the device die?", n);
	assert_int_equal(nr, 0);
	assert_int_equal(r.h.type, SIMD_MSG_REPLY);
	if (r.status)
		assert_true(r.msg[0] != 0); /* a refusal says why */
	return r.status;
}

/* A request with a correct header. */
static int req(struct peer *p, void *msg, size_t len, uint32_t type, const int *fds, unsigned nfds)
{
	struct simd_hdr *h = msg;

	h->type = type;
	h->len = (uint32_t)len;
	h->seq = ++p->seq;
	return raw(p, msg, len, fds, nfds);
}

static int sealed_memfd(size_t len, bool seal)
{
	int fd = memfd_create("proto-test", MFD_CLOEXEC | MFD_ALLOW_SEALING);

	assert_true(fd >= 0);
	assert_int_equal(ftruncate(fd, (off_t)len), 0);
	/* Written, as a driver's region is populated: the device refuses holes
	 * (fallocated shmem pages still read as holes until written). */
	for (size_t off = 0; off < len; off += 4096)
		assert_int_equal(pwrite(fd, "x", 1, (off_t)off), 1);
	if (seal)
		assert_int_equal(fcntl(fd, F_ADD_SEALS, F_SEAL_SHRINK), 0);
	return fd;
}

static unsigned fd_count(pid_t pid)
{
	char path[64];
	struct dirent *e;
	unsigned n = 0;
	DIR *d;

	snprintf(path, sizeof(path), "/proc/%d/fd", (int)pid);
	d = opendir(path);
	assert_non_null(d);
	while ((e = readdir(d)))
		n += e->d_name[0] != '.';
	closedir(d);
	return n;
}

struct fds {
	int bar, db, irq, devnull, unsealed;
};

static void fds_open(struct fds *f)
{
	f->bar = sealed_memfd(SIMDEV_BAR0_SIZE, true);
	f->db = eventfd(0, EFD_CLOEXEC);
	f->irq = eventfd(0, EFD_CLOEXEC | EFD_NONBLOCK);
	f->devnull = open("/dev/null", O_RDWR | O_CLOEXEC);
	f->unsealed = sealed_memfd(SIMDEV_BAR0_SIZE, false);
	assert_true(f->db >= 0 && f->irq >= 0 && f->devnull >= 0);
}

static void fds_close(struct fds *f)
{
	close(f->bar);
	close(f->db);
	close(f->irq);
	close(f->devnull);
	close(f->unsealed);
}

static struct simd_hello good_hello(void)
{
	struct simd_hello h = {
		.magic = SIMD_MAGIC, .version = SIMD_VERSION, .queues = 2, .block_bytes = 8192};

	strcpy(h.name, "proto");
	return h;
}

static void hello_checks(struct peer *p, const struct fds *f)
{
	int good[3] = {f->bar, f->db, f->irq};
	struct simd_hello h = good_hello();
	struct simd_unmap u = {.iova = 0};
	uint8_t big[SIMD_MSG_MAX + 64] = {0};
	struct simd_hdr *bh = (struct simd_hdr *)big;
	uint32_t tiny = 7;

	/* Framing. */
	assert_int_equal(raw(p, &tiny, sizeof(tiny), NULL, 0), -EBADMSG);
	assert_int_equal(raw(p, "", 0, NULL, 0), -EBADMSG); /* empty: not taken for a hang-up */
	h.h = (struct simd_hdr){.type = SIMD_MSG_HELLO, .len = sizeof(h) + 8, .seq = 1};
	assert_int_equal(raw(p, &h, sizeof(h), good, 3), -EBADMSG);
	bh->type = SIMD_MSG_HELLO;
	bh->len = sizeof(big);
	assert_int_equal(raw(p, big, sizeof(big), NULL, 0), -EMSGSIZE);
	assert_int_equal(req(p, big, 64, 99, NULL, 0), -EOPNOTSUPP);
	/* Order. */
	assert_int_equal(req(p, &u, sizeof(u), SIMD_MSG_UNMAP, NULL, 0), -EPROTO);
	/* HELLO itself. */
	assert_int_equal(req(p, &h, sizeof(h) - 8, SIMD_MSG_HELLO, good, 3), -EBADMSG);
	assert_int_equal(req(p, &h, sizeof(h), SIMD_MSG_HELLO, good, 2), -EBADMSG);
	assert_int_equal(req(p, &h, sizeof(h), SIMD_MSG_HELLO, NULL, 0), -EBADMSG);
	h.magic = 0x12345678;
	assert_int_equal(req(p, &h, sizeof(h), SIMD_MSG_HELLO, good, 3), -EPROTO);
	h = good_hello();
	h.queues = 0;
	assert_int_equal(req(p, &h, sizeof(h), SIMD_MSG_HELLO, good, 3), -EINVAL);
	h.queues = SIMDEV_MAX_QUEUES + 1;
	assert_int_equal(req(p, &h, sizeof(h), SIMD_MSG_HELLO, good, 3), -EINVAL);
	h = good_hello();
	h.block_bytes = 1000;
	assert_int_equal(req(p, &h, sizeof(h), SIMD_MSG_HELLO, good, 3), -EINVAL);
	h.block_bytes = 2 << 20; /* over --max-block */
	assert_int_equal(req(p, &h, sizeof(h), SIMD_MSG_HELLO, good, 3), -EINVAL);
	h = good_hello();
	memset(h.name, 'n', sizeof(h.name));
	assert_int_equal(req(p, &h, sizeof(h), SIMD_MSG_HELLO, good, 3), -EINVAL);
	h = good_hello();
	assert_int_equal(req(p, &h, sizeof(h), SIMD_MSG_HELLO, (int[]){f->unsealed, f->db, f->irq}, 3),
			 -EPERM);
	assert_int_equal(req(p, &h, sizeof(h), SIMD_MSG_HELLO, (int[]){f->devnull, f->db, f->irq}, 3),
			 -EBADF);
	assert_int_equal(req(p, &h, sizeof(h), SIMD_MSG_HELLO, (int[]){f->bar, f->devnull, f->irq}, 3),
			 -EBADF);
	assert_int_equal(req(p, &h, sizeof(h), SIMD_MSG_HELLO, (int[]){f->bar, f->db, f->bar}, 3), -EBADF);
	assert_int_equal(req(p, &h, sizeof(h), SIMD_MSG_HELLO, good, 3), 0);
	assert_int_equal(req(p, &h, sizeof(h), SIMD_MSG_HELLO, good, 3), -EALREADY);
}

static int map(struct peer *p, uint64_t iova, uint64_t len, const struct simd_seg *seg, uint32_t nseg, int fd)
{
	uint64_t buf[64] = {0};
	struct simd_map *m = (struct simd_map *)buf;

	m->iova = iova;
	m->len = len;
	m->nseg = nseg;
	memcpy(m->seg, seg, nseg * sizeof(*seg));
	return req(p, m, sizeof(*m) + nseg * sizeof(*seg), SIMD_MSG_MAP, fd >= 0 ? &fd : NULL, fd >= 0);
}

static void map_checks(struct peer *p, const struct fds *f)
{
	const uint64_t io = 0x100000;
	int file = sealed_memfd(64 << 10, true);
	struct simd_seg one = {0, 64 << 10}, half[2] = {{0, 32 << 10}, {32 << 10, 32 << 10}};
	struct simd_map m = {.iova = io, .len = 4096, .nseg = 1};
	struct simd_unmap u = {.iova = io};

	assert_int_equal(map(p, io, 64 << 10, &one, 1, -1), -EBADMSG);		       /* no fd */
	assert_int_equal(map(p, io, 64 << 10, &one, 0, file), -EBADMSG);	       /* no segment */
	assert_int_equal(req(p, &m, sizeof(m), SIMD_MSG_MAP, &file, 1), -EBADMSG);     /* segment missing */
	assert_int_equal(map(p, io + 1, 64 << 10, &one, 1, file), -EINVAL);	       /* unaligned */
	assert_int_equal(map(p, UINT64_MAX - 4095, 64 << 10, &one, 1, file), -EINVAL); /* wraps */
	assert_int_equal(map(p, io, 0, &one, 1, file), -EINVAL);
	assert_int_equal(map(p, io, 128 << 10, (struct simd_seg[]){{0, 128 << 10}}, 1, file), -EINVAL);
	assert_int_equal(map(p, io, 64 << 10, (struct simd_seg[]){{4096, 64 << 10}}, 1, file), -EINVAL);
	assert_int_equal(map(p, io, 64 << 10, (struct simd_seg[]){{0, 32 << 10}}, 1, file), -EINVAL);
	assert_int_equal(map(p, io, 32 << 10, half, 2, file), -EINVAL); /* segments exceed len */
	assert_int_equal(map(p, io, 64 << 10, (struct simd_seg[]){{100, 4096}}, 1, file), -EINVAL);
	assert_int_equal(map(p, io, 64 << 10, &one, 1, f->unsealed), -EPERM);
	/* Pages the driver never had, or the same pages twice: refused. */
	{
		int sparse = memfd_create("sparse", MFD_CLOEXEC | MFD_ALLOW_SEALING);

		assert_int_equal(ftruncate(sparse, 64 << 10), 0);
		assert_int_equal(fcntl(sparse, F_ADD_SEALS, F_SEAL_SHRINK), 0);
		assert_int_equal(map(p, io, 64 << 10, &one, 1, sparse), -EINVAL);
		close(sparse);
	}
	assert_int_equal(
		map(p, io, 64 << 10, (struct simd_seg[]){{0, 32 << 10}, {16 << 10, 32 << 10}}, 2, file),
		-EINVAL);
	assert_int_equal(map(p, io, 64 << 10, &one, 1, f->db), -EBADF);
	assert_int_equal(map(p, io, 64 << 10, half, 2, file), 0);
	assert_int_equal(map(p, io + 4096, 4096, &one, 1, file), -EINVAL); /* seg len != len */
	assert_int_equal(map(p, io + 4096, 4096, (struct simd_seg[]){{0, 4096}}, 1, file), -EEXIST);
	assert_int_equal(req(p, &u, sizeof(u), SIMD_MSG_UNMAP, &file, 1), -EBADMSG);
	assert_int_equal(req(p, &u, sizeof(u) - 4, SIMD_MSG_UNMAP, NULL, 0), -EBADMSG);
	u.iova = io + 4096;
	assert_int_equal(req(p, &u, sizeof(u), SIMD_MSG_UNMAP, NULL, 0), -ENOENT);
	u.iova = io;
	assert_int_equal(req(p, &u, sizeof(u), SIMD_MSG_UNMAP, NULL, 0), 0);
	assert_int_equal(req(p, &u, sizeof(u), SIMD_MSG_UNMAP, NULL, 0), -ENOENT);
	close(file);
}

/* simd_send stops at SIMD_MAX_FDS; a hostile peer does not. */
static void send_four(int sock, const int *four)
{
	union {
		char buf[CMSG_SPACE(4 * sizeof(int))];
		struct cmsghdr align;
	} ctl;
	struct simd_hdr h = {.type = SIMD_MSG_HELLO, .len = sizeof(h)};
	struct iovec iov = {.iov_base = &h, .iov_len = sizeof(h)};
	struct msghdr mh = {
		.msg_iov = &iov, .msg_iovlen = 1, .msg_control = ctl.buf, .msg_controllen = sizeof(ctl.buf)};
	struct cmsghdr *c = CMSG_FIRSTHDR(&mh);

	c->cmsg_level = SOL_SOCKET;
	c->cmsg_type = SCM_RIGHTS;
	c->cmsg_len = CMSG_LEN(4 * sizeof(int));
	memcpy(CMSG_DATA(c), four, 4 * sizeof(int));
	assert_int_equal(sendmsg(sock, &mh, 0), sizeof(h));
}

static void malformed(void **state)
{
	struct peer p;
	struct fds f;
	unsigned before;

	(void)state;
	fds_open(&f);
	peer_open(&p);
	{
		int four[4] = {f.bar, f.db, f.irq, f.devnull};

		/* More fds than any message carries: refused, none kept. */
		send_four(p.sock, four);
		{
			struct simd_reply r;
			int rf[3];
			unsigned nr;

			assert_int_equal(simd_recv(p.sock, &r, sizeof(r), rf, &nr), sizeof(r));
			assert_int_equal(r.status, -EMSGSIZE);
		}
	}
	/* Counted once it has answered: by then its listening socket is closed. */
	before = fd_count(p.proc.pid);
	hello_checks(&p, &f);
	/* After HELLO it holds the doorbell, interrupt and block store fds, and
	 * the model its own stop eventfd. */
	assert_int_equal(fd_count(p.proc.pid), before + 4);
	map_checks(&p, &f);
	assert_int_equal(fd_count(p.proc.pid), before + 4);
	assert_int_equal(kill(p.proc.pid, 0), 0);
	peer_close(&p);
	fds_close(&f);
}

/* Eventfds the driver saturated (a write would block): the device never
 * writes them blocking, and still stops and exits when the driver goes. */
static void hostile_eventfds(void **state)
{
	struct simd_hello h = good_hello();
	uint64_t full = UINT64_MAX - 1;
	struct peer p;
	struct fds f;

	(void)state;
	fds_open(&f);
	close(f.irq);
	f.irq = eventfd(0, EFD_CLOEXEC); /* blocking, like the doorbell */
	assert_int_equal(write(f.db, &full, sizeof(full)), sizeof(full));
	assert_int_equal(write(f.irq, &full, sizeof(full)), sizeof(full));
	peer_open(&p);
	assert_int_equal(req(&p, &h, sizeof(h), SIMD_MSG_HELLO, (int[]){f.bar, f.db, f.irq}, 3), 0);
	peer_close(&p); /* exits 0 within 2 s, or fails */
	fds_close(&f);
}

/* --max-map bounds what a driver can make the device map, aliases of one
 * file included; unmapping gives the room back. */
static void map_limit(void **state)
{
	struct simd_hello h = good_hello();
	struct simd_seg all = {0, 64 << 10};
	struct simd_unmap u = {.iova = 0x100000};
	int file = sealed_memfd(64 << 10, true);
	struct peer p;
	struct fds f;

	(void)state;
	fds_open(&f);
	peer_open_map(&p, "128K");
	assert_int_equal(req(&p, &h, sizeof(h), SIMD_MSG_HELLO, (int[]){f.bar, f.db, f.irq}, 3), 0);
	assert_int_equal(map(&p, 0x100000, 64 << 10, &all, 1, file), 0);
	assert_int_equal(map(&p, 0x200000, 64 << 10, &all, 1, file), 0); /* the same pages again */
	assert_int_equal(map(&p, 0x300000, 64 << 10, &all, 1, file), -ENOSPC);
	assert_int_equal(req(&p, &u, sizeof(u), SIMD_MSG_UNMAP, NULL, 0), 0);
	assert_int_equal(map(&p, 0x300000, 64 << 10, &all, 1, file), 0);
	peer_close(&p);
	fds_close(&f);
	close(file);
}

/* A SIGBUS that is not a fault on memory (kill -BUS) is not mended: the
 * device dies of it, as it would without its handler. */
static void sigbus_not_mended(void **state)
{
	struct rlimit old, no_core;
	struct peer p;

	(void)state;
	assert_int_equal(getrlimit(RLIMIT_CORE, &old), 0);
	no_core = (struct rlimit){0, old.rlim_max};
	assert_int_equal(setrlimit(RLIMIT_CORE, &no_core), 0); /* no core file in the tree */
	peer_open(&p);
	assert_int_equal(setrlimit(RLIMIT_CORE, &old), 0);
	assert_int_equal(kill(p.proc.pid, SIGBUS), 0);
	assert_int_equal(simd_reap(&p.proc, 2000), 128 + SIGBUS);
	close(p.sock);
}

/* Random messages, some with fds: each answered, no crash, no fd kept. */
static void fuzz(void **state)
{
	uint64_t buf[64];
	struct peer p;
	struct fds f;
	unsigned i, before, accepted = 0;
	int file = sealed_memfd(64 << 10, true);
	int good[3];

	(void)state;
	fds_open(&f);
	good[0] = f.bar;
	good[1] = f.db;
	good[2] = f.irq;
	peer_open(&p);
	assert_int_equal(req(&p, buf, sizeof(struct simd_hdr), 77, NULL, 0), -EOPNOTSUPP);
	before = fd_count(p.proc.pid);
	srandom(42);
	for (i = 0; i < 5000; i++) {
		size_t len = (size_t)(random() % sizeof(buf));
		int pick[3] = {file, f.devnull, f.unsealed};
		struct simd_hdr *h = (struct simd_hdr *)buf;
		unsigned nfds = (unsigned)(random() % 4), k;
		int fds[3];

		for (k = 0; k < sizeof(buf) / sizeof(buf[0]); k++)
			buf[k] = (uint64_t)random() << 32 | (uint64_t)random();
		for (k = 0; k < nfds; k++)
			fds[k] = pick[random() % 3];
		if (len >= sizeof(*h) && random() % 4) {
			h->type = 1 + (uint32_t)(random() % 3);
			h->len = (uint32_t)len;
		}
		if (len >= sizeof(struct simd_map) + sizeof(struct simd_seg) && h->type == SIMD_MSG_MAP &&
		    random() % 2) {
			/* Well-formed, with page-aligned values near the file's size, so
			 * that many get past the framing to the range and file checks. */
			struct simd_map *m = (struct simd_map *)buf;

			m->nseg = 1 + (uint32_t)(random() % 2);
			len = sizeof(*m) + m->nseg * sizeof(struct simd_seg);
			h->len = (uint32_t)len;
			m->reserved = 0;
			m->iova = (uint64_t)(random() % 64) << 12;
			m->len = 0;
			for (k = 0; k < m->nseg; k++) { /* 16 pages: mostly in the file, some past it */
				m->seg[k].offset = (uint64_t)(k * 8 + random() % 6) << 12;
				m->seg[k].len = (uint64_t)(1 + random() % 4) << 12;
				m->len += m->seg[k].len;
			}
			nfds = 1;
			fds[0] = random() % 4 ? file : pick[random() % 3];
		}
		if (len >= sizeof(struct simd_unmap) && h->type == SIMD_MSG_UNMAP && random() % 2) {
			((struct simd_unmap *)buf)->iova = (uint64_t)(random() % 64) << 12;
			h->len = (uint32_t)(len = sizeof(struct simd_unmap));
			nfds = 0;
		}
		if (i == 2500) /* half way: a real device, so MAP and UNMAP get far */
			assert_int_equal(req(&p,
					     &(struct simd_hello){.magic = SIMD_MAGIC,
								  .version = SIMD_VERSION,
								  .queues = 1,
								  .name = "fz"},
					     sizeof(struct simd_hello), SIMD_MSG_HELLO, good, 3),
					 0);
		if (len == 0)
			continue; /* tested above; random fds with it are not */
		if (raw(&p, buf, len, nfds ? fds : NULL, nfds) == 0 && h->type != SIMD_MSG_HELLO)
			accepted++;
	}
	/* The fuzz reached the device's mapping code, not only its framing. */
	printf("# %u random MAP/UNMAP requests accepted\n", accepted);
	assert_true(accepted > 20);
	assert_int_equal(kill(p.proc.pid, 0), 0);
	/* Whatever mappings succeeded hold no fd; HELLO's eventfds are kept,
	 * with the model's own. */
	assert_int_equal(fd_count(p.proc.pid), before + 3);
	peer_close(&p);
	fds_close(&f);
	close(file);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		th_test(malformed), th_test(hostile_eventfds), th_test(map_limit), th_test(sigbus_not_mended),
		th_test(fuzz),
	};

	signal(SIGPIPE, SIG_IGN);
	return cmocka_run_group_tests_name("simd_proto", tests, NULL, NULL);
}
