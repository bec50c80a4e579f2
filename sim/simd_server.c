/* SPDX-License-Identifier: MIT */
/*
 * udma-simd's request handling. Nothing a driver sends is trusted: sizes,
 * counts, offsets, fd types and seals are checked before anything is mapped,
 * and a bad request is refused with a reason while the device keeps running.
 */
#include <errno.h>
#include <fcntl.h>
#include <pthread.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <linux/magic.h>
#include <sys/stat.h>
#include <sys/vfs.h>
#include <time.h>
#include <unistd.h>

#include "sim/simd_server.h"
#include "sim/simdev_model.h"

#define SIMD_MAX_MAPS (1u << 20)
#define SIMD_PAGE     4096u
#define SIMD_STACK    (256u << 10)

struct simd_mapping {
	uint64_t iova, len;
	uint8_t *reserved; /* what munmap releases: the segments and any alignment slack */
	size_t reserved_len;
};

struct simd_server {
	uint64_t max_block;
	bool verbose;
	bool started;
	char name[SIMD_NAME_MAX];
	void *bar;
	int doorbell_fd, irq_fd, block_fd;
	struct simdev *model;
	pthread_t thread;
	struct simd_mapping *maps; /* sorted by iova */
	unsigned nmaps, cap;
	uint64_t mapped, max_mapped; /* bytes: aliases of one file count each time */
};

static int refuse(struct simd_reply *r, int err, const char *fmt, ...) __attribute__((format(printf, 3, 4)));
static int refuse(struct simd_reply *r, int err, const char *fmt, ...)
{
	va_list ap;

	va_start(ap, fmt);
	vsnprintf(r->msg, sizeof(r->msg), fmt, ap);
	va_end(ap);
	r->status = -err;
	return -err;
}

struct simd_server *simd_server_new(uint64_t max_block, uint64_t max_map, bool verbose)
{
	struct simd_server *s = calloc(1, sizeof(*s));

	if (!s)
		return NULL;
	s->max_block = max_block;
	s->verbose = verbose;
	/* No driver may make us map more than the machine's memory. */
	s->max_mapped =
		max_map ? max_map : (uint64_t)sysconf(_SC_PHYS_PAGES) * (uint64_t)sysconf(_SC_PAGESIZE);
	s->doorbell_fd = s->irq_fd = s->block_fd = -1;
	return s;
}

static bool is_eventfd(int fd)
{
	char link[64], path[32];
	ssize_t n;

	snprintf(path, sizeof(path), "/proc/self/fd/%d", fd);
	n = readlink(path, link, sizeof(link) - 1);
	if (n <= 0)
		return false;
	link[n] = 0;
	return !strcmp(link, "anon_inode:[eventfd]");
}

/* A regular file (memfd, hugetlbfs) the driver can no longer shrink: a file
 * cut short under the device's mapping would SIGBUS it. */
static int check_file(int fd, struct stat *st, struct simd_reply *r, const char *what)
{
	int seals;

	if (fstat(fd, st) < 0 || !S_ISREG(st->st_mode))
		return refuse(r, EBADF, "%s is not a regular file (a memfd is expected)", what);
	seals = fcntl(fd, F_GET_SEALS);
	if (seals < 0 || !(seals & F_SEAL_SHRINK))
		return refuse(r, EPERM, "%s is not sealed against shrinking: add F_SEAL_SHRINK", what);
	return 0;
}

/* What HELLO set up, after a failed HELLO or at the end. */
static void release_device(struct simd_server *s)
{
	int fds[3] = {s->doorbell_fd, s->irq_fd, s->block_fd};

	if (s->model)
		simdev_destroy(s->model);
	s->model = NULL;
	if (s->bar)
		munmap(s->bar, SIMDEV_BAR0_SIZE);
	s->bar = NULL;
	simd_close_fds(fds, 3);
	s->doorbell_fd = s->irq_fd = s->block_fd = -1;
}

static void *model_thread(void *arg)
{
	struct simd_server *s = arg;
	int rc = simdev_run(s->model);

	if (rc < 0)
		fprintf(stderr, "udma-simd: device %s stopped: %s\n", s->name, strerror(-rc));
	return NULL;
}

static int start_device(struct simd_server *s, const struct simd_hello *h, struct simd_reply *r)
{
	struct simdev_config cfg = {0};
	pthread_attr_t attr;
	int rc;

	if (h->block_bytes) {
		s->block_fd = memfd_create("udma-simd-block", MFD_CLOEXEC);
		if (s->block_fd < 0 || ftruncate(s->block_fd, (off_t)h->block_bytes) < 0)
			return refuse(r, errno, "cannot make a %llu-byte block store: %s",
				      (unsigned long long)h->block_bytes, strerror(errno));
	}
	cfg.bar = s->bar;
	cfg.num_queues = h->queues;
	cfg.block_fd = s->block_fd;
	cfg.block_bytes = h->block_bytes;
	cfg.doorbell_fd = s->doorbell_fd;
	cfg.irq_fd = s->irq_fd;
	rc = simdev_create(&cfg, &s->model);
	if (rc) {
		s->model = NULL;
		return refuse(r, -rc, "the device model failed to start: %s", strerror(-rc));
	}
	pthread_attr_init(&attr);
	pthread_attr_setstacksize(&attr, SIMD_STACK);
	rc = pthread_create(&s->thread, &attr, model_thread, s);
	pthread_attr_destroy(&attr);
	if (rc)
		return refuse(r, rc, "cannot start the device thread: %s", strerror(rc));
	s->started = true;
	return 0;
}

static int on_hello(struct simd_server *s, const void *msg, size_t len, int *fds, unsigned nfds,
		    struct simd_reply *r)
{
	const struct simd_hello *h = msg;
	struct stat st;
	int rc;

	if (s->model)
		return refuse(r, EALREADY, "HELLO was already received: one device per connection");
	if (len != sizeof(*h))
		return refuse(r, EBADMSG, "HELLO of %zu bytes, expected %zu", len, sizeof(*h));
	if (h->magic != SIMD_MAGIC || h->version != SIMD_VERSION)
		return refuse(r, EPROTO,
			      "HELLO with magic 0x%x version %u, this device speaks 0x%x version %u",
			      h->magic, h->version, SIMD_MAGIC, SIMD_VERSION);
	if (nfds != 3)
		return refuse(r, EBADMSG, "HELLO came with %u fds, expected 3 (BAR, doorbell, interrupt)",
			      nfds);
	if (!memchr(h->name, 0, sizeof(h->name)) || !h->name[0])
		return refuse(r, EINVAL, "HELLO: the device name is empty or not NUL-terminated");
	if (h->queues < 1 || h->queues > SIMDEV_MAX_QUEUES || h->reserved)
		return refuse(r, EINVAL, "HELLO: %u queues, expected 1 to %u", h->queues, SIMDEV_MAX_QUEUES);
	if (h->block_bytes % SIMD_PAGE || h->block_bytes > s->max_block)
		return refuse(r, EINVAL,
			      "HELLO: a %llu-byte block store, expected a multiple of 4096 up to %llu "
			      "(udma-simd --max-block raises it)",
			      (unsigned long long)h->block_bytes, (unsigned long long)s->max_block);
	if ((rc = check_file(fds[0], &st, r, "the BAR fd")))
		return rc;
	if (st.st_size < (off_t)SIMDEV_BAR0_SIZE)
		return refuse(r, EINVAL, "the BAR file has %lld bytes, expected %u", (long long)st.st_size,
			      SIMDEV_BAR0_SIZE);
	if (!is_eventfd(fds[1]) || !is_eventfd(fds[2]))
		return refuse(r, EBADF, "the doorbell and interrupt fds must be eventfds");
	s->bar = mmap(NULL, SIMDEV_BAR0_SIZE, PROT_READ | PROT_WRITE, MAP_SHARED, fds[0], 0);
	if (s->bar == MAP_FAILED) {
		s->bar = NULL;
		return refuse(r, errno, "cannot map the BAR: %s", strerror(errno));
	}
	close(fds[0]);
	fds[0] = -1;
	s->doorbell_fd = fds[1];
	s->irq_fd = fds[2];
	fds[1] = fds[2] = -1;
	memcpy(s->name, h->name, sizeof(s->name));
	if ((rc = start_device(s, h, r))) {
		release_device(s);
		return rc;
	}
	if (s->verbose)
		fprintf(stderr, "udma-simd: device %s up: %u queues, %llu-byte block store\n", s->name,
			h->queues, (unsigned long long)h->block_bytes);
	return 0;
}

/* The page size of the file's filesystem: hugetlbfs pages, else 4 KiB
 * (st_blksize would say 2 MiB for a memfd when shmem THP is on). */
static size_t file_page_size(int fd)
{
	struct statfs fs;

	if (fstatfs(fd, &fs) == 0 && (unsigned long)fs.f_type == HUGETLBFS_MAGIC &&
	    (unsigned long)fs.f_bsize >= SIMD_PAGE)
		return (size_t)fs.f_bsize;
	return SIMD_PAGE;
}

/* Index of the first mapping with iova >= the given one. */
static unsigned find_at(const struct simd_server *s, uint64_t iova)
{
	unsigned lo = 0, hi = s->nmaps;

	while (lo < hi) {
		unsigned mid = lo + (hi - lo) / 2;

		if (s->maps[mid].iova < iova)
			lo = mid + 1;
		else
			hi = mid;
	}
	return lo;
}

static int by_offset(const void *a, const void *b)
{
	uint64_t x = ((const struct simd_seg *)a)->offset, y = ((const struct simd_seg *)b)->offset;

	return x < y ? -1 : x > y;
}

/* Pages the driver never populated would be allocated by our mapping, and
 * the same pages twice in one mapping would multiply our page tables: both
 * are refused. */
static int check_backing(const struct simd_map *m, int fd, struct simd_reply *r)
{
	struct simd_seg *sorted = malloc(m->nseg * sizeof(*sorted));
	uint32_t i;
	int rc = 0;

	if (!sorted)
		return refuse(r, ENOMEM, "MAP: out of memory");
	memcpy(sorted, m->seg, m->nseg * sizeof(*sorted));
	qsort(sorted, m->nseg, sizeof(*sorted), by_offset);
	for (i = 0; i < m->nseg && !rc; i++) {
		off_t hole = lseek(fd, (off_t)sorted[i].offset, SEEK_HOLE);

		if (i && sorted[i].offset - sorted[i - 1].offset < sorted[i - 1].len)
			rc = refuse(r, EINVAL, "MAP: two segments overlap at file offset 0x%llx",
				    (unsigned long long)sorted[i].offset);
		else if (hole >= 0 && (uint64_t)hole - sorted[i].offset < sorted[i].len)
			rc = refuse(r, EINVAL,
				    "MAP: the file has a hole at offset 0x%llx: populate memory before "
				    "handing it to the device",
				    (unsigned long long)hole);
	}
	free(sorted);
	return rc;
}

static int check_segments(const struct simd_map *m, const struct stat *st, size_t align, struct simd_reply *r)
{
	uint64_t sum = 0;
	uint32_t i;

	for (i = 0; i < m->nseg; i++) {
		const struct simd_seg *g = &m->seg[i];

		if (!g->len || g->offset % align || g->len % align)
			return refuse(r, EINVAL,
				      "MAP: segment %u (offset 0x%llx, %llu bytes) is empty or not "
				      "%zu-byte aligned",
				      i, (unsigned long long)g->offset, (unsigned long long)g->len, align);
		if (g->offset > (uint64_t)st->st_size || g->len > (uint64_t)st->st_size - g->offset)
			return refuse(r, EINVAL, "MAP: segment %u runs past the end of its %lld-byte file", i,
				      (long long)st->st_size);
		if (g->len > m->len - sum)
			return refuse(r, EINVAL,
				      "MAP: the segments add up to more than the %llu bytes mapped",
				      (unsigned long long)m->len);
		sum += g->len;
	}
	if (sum != m->len)
		return refuse(r, EINVAL, "MAP: the segments add up to %llu bytes, not %llu",
			      (unsigned long long)sum, (unsigned long long)m->len);
	return 0;
}

/* Place the segments side by side at an aligned address of our own. */
static int map_segments(const struct simd_map *m, int fd, size_t align, struct simd_mapping *out,
			struct simd_reply *r)
{
	size_t total = m->len + align - SIMD_PAGE;
	uint8_t *raw, *va;
	uint64_t off = 0;
	uint32_t i;

	raw = mmap(NULL, total, PROT_NONE, MAP_PRIVATE | MAP_ANONYMOUS | MAP_NORESERVE, -1, 0);
	if (raw == MAP_FAILED)
		return refuse(r, errno, "MAP: no room for %llu bytes: %s", (unsigned long long)m->len,
			      strerror(errno));
	va = (uint8_t *)(((uintptr_t)raw + align - 1) & ~(uintptr_t)(align - 1));
	for (i = 0; i < m->nseg; i++) {
		/* Populate: the pages exist already (the driver pinned them);
		 * this only fills our page tables so DMA takes no faults. */
		if (mmap(va + off, m->seg[i].len, PROT_READ | PROT_WRITE,
			 MAP_SHARED | MAP_FIXED | MAP_POPULATE, fd, (off_t)m->seg[i].offset) == MAP_FAILED) {
			int err = errno;

			munmap(raw, total);
			return refuse(r, err, "MAP: cannot map segment %u: %s%s", i, strerror(err),
				      err == ENOMEM ? " (each mapping is one or more VMAs: vm.max_map_count "
						      "reached? use hugepages)"
						    : "");
		}
		off += m->seg[i].len;
	}
	out->iova = m->iova;
	out->reserved = raw;
	out->reserved_len = total;
	return (int)(va - raw);
}

static int on_map(struct simd_server *s, const void *msg, size_t len, int *fds, unsigned nfds,
		  struct simd_reply *r)
{
	const struct simd_map *m = msg;
	struct simd_mapping mapping;
	struct stat st;
	size_t align;
	unsigned at;
	int rc, shift;

	if (!s->model)
		return refuse(r, EPROTO, "MAP before HELLO");
	if (len < sizeof(*m) || m->nseg < 1 || m->nseg > SIMD_MAX_SEGS ||
	    len != sizeof(*m) + m->nseg * sizeof(m->seg[0]) || m->reserved)
		return refuse(r, EBADMSG, "MAP of %zu bytes does not hold its %u segments", len,
			      len >= sizeof(*m) ? m->nseg : 0);
	if (nfds != 1)
		return refuse(r, EBADMSG, "MAP came with %u fds, expected 1 (the region's file)", nfds);
	if (!m->len || m->iova % SIMD_PAGE || m->len % SIMD_PAGE || m->iova + m->len < m->iova)
		return refuse(r, EINVAL, "MAP: IOVA 0x%llx + %llu bytes is empty, unaligned or wraps",
			      (unsigned long long)m->iova, (unsigned long long)m->len);
	if (s->nmaps >= SIMD_MAX_MAPS)
		return refuse(r, ENOSPC, "MAP: the device's IOMMU holds %u mappings already", s->nmaps);
	if ((rc = check_file(fds[0], &st, r, "the region's fd")))
		return rc;
	align = file_page_size(fds[0]);
	if ((rc = check_segments(m, &st, align, r)) || (rc = check_backing(m, fds[0], r)))
		return rc;
	if (m->len > s->max_mapped - s->mapped)
		return refuse(r, ENOSPC,
			      "MAP: %llu more bytes would pass the %llu the device maps at most (%llu "
			      "mapped; udma-simd --max-map)",
			      (unsigned long long)m->len, (unsigned long long)s->max_mapped,
			      (unsigned long long)s->mapped);
	shift = map_segments(m, fds[0], align, &mapping, r);
	if (shift < 0)
		return shift;
	rc = simdev_iommu_map(s->model, m->iova, mapping.reserved + shift, m->len);
	if (rc) {
		munmap(mapping.reserved, mapping.reserved_len);
		return refuse(r, -rc, "MAP: IOVA 0x%llx + %llu bytes %s", (unsigned long long)m->iova,
			      (unsigned long long)m->len,
			      rc == -EEXIST ? "overlaps a mapping the device has" : strerror(-rc));
	}
	if (s->nmaps == s->cap) {
		unsigned cap = s->cap ? s->cap * 2 : 64;
		struct simd_mapping *n = realloc(s->maps, cap * sizeof(*n));

		if (!n) {
			simdev_iommu_unmap(s->model, m->iova);
			munmap(mapping.reserved, mapping.reserved_len);
			return refuse(r, ENOMEM, "MAP: out of memory");
		}
		s->maps = n;
		s->cap = cap;
	}
	at = find_at(s, m->iova);
	memmove(&s->maps[at + 1], &s->maps[at], (s->nmaps - at) * sizeof(s->maps[0]));
	mapping.len = m->len;
	s->maps[at] = mapping;
	s->nmaps++;
	s->mapped += m->len;
	return 0; /* the mapping keeps the file; the fd is closed by the caller */
}

static int on_unmap(struct simd_server *s, const void *msg, size_t len, unsigned nfds, struct simd_reply *r)
{
	const struct simd_unmap *u = msg;
	unsigned at;

	if (!s->model)
		return refuse(r, EPROTO, "UNMAP before HELLO");
	if (len != sizeof(*u) || nfds)
		return refuse(r, EBADMSG, "UNMAP of %zu bytes with %u fds, expected %zu bytes and none", len,
			      nfds, sizeof(*u));
	at = find_at(s, u->iova);
	if (at == s->nmaps || s->maps[at].iova != u->iova)
		return refuse(r, ENOENT, "UNMAP: no mapping starts at IOVA 0x%llx",
			      (unsigned long long)u->iova);
	/* Waits for the device's accesses in flight to it. */
	simdev_iommu_unmap(s->model, u->iova);
	munmap(s->maps[at].reserved, s->maps[at].reserved_len);
	s->mapped -= s->maps[at].len;
	memmove(&s->maps[at], &s->maps[at + 1], (s->nmaps - at - 1) * sizeof(s->maps[0]));
	s->nmaps--;
	return 0;
}

void simd_server_handle(struct simd_server *s, const void *msg, size_t len, int *fds, unsigned nfds,
			struct simd_reply *r)
{
	const struct simd_hdr *h = msg;

	memset(r, 0, sizeof(*r));
	r->h.type = SIMD_MSG_REPLY;
	r->h.len = sizeof(*r);
	r->h.seq = h->seq;
	r->pid = (uint32_t)getpid();
	switch (h->type) {
	case SIMD_MSG_HELLO: on_hello(s, msg, len, fds, nfds, r); break;
	case SIMD_MSG_MAP: on_map(s, msg, len, fds, nfds, r); break;
	case SIMD_MSG_UNMAP: on_unmap(s, msg, len, nfds, r); break;
	default: refuse(r, EOPNOTSUPP, "unknown message type %u", h->type);
	}
	simd_close_fds(fds, nfds); /* what was not kept */
	if (s->verbose && r->status)
		fprintf(stderr, "udma-simd: refused: %s\n", r->msg);
}

bool simd_server_free(struct simd_server *s)
{
	struct timespec limit;
	unsigned i;

	if (!s)
		return true;
	if (s->started) {
		simdev_stop(s->model);
		/* The model can be stuck in a read of the driver's doorbell eventfd
		 * (a driver draining it behind our back): give up on it after a
		 * second and let the exit take it, memory and all. */
		clock_gettime(CLOCK_REALTIME, &limit);
		limit.tv_sec += 1;
		if (pthread_timedjoin_np(s->thread, NULL, &limit))
			return false;
	}
	for (i = 0; i < s->nmaps; i++) {
		simdev_iommu_unmap(s->model, s->maps[i].iova);
		munmap(s->maps[i].reserved, s->maps[i].reserved_len);
	}
	free(s->maps);
	release_device(s);
	free(s);
	return true;
}
