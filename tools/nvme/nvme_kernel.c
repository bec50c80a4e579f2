/* SPDX-License-Identifier: MIT */
/*
 * The kernel's side of udma nvme bench and verify: a block device (or any
 * file) opened O_DIRECT, driven by Linux AIO (io_setup, io_submit,
 * io_getevents through syscall(): no libaio), one AIO context per queue.
 * Commands are gathered until kick and handed over in one io_submit, as the
 * udma side rings one doorbell per batch.
 */
#include <errno.h>
#include <fcntl.h>
#include <linux/aio_abi.h>
#include <linux/fs.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/ioctl.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <unistd.h>

#include "tools/nvme/nvme_tool.h"

/* A regular file's O_DIRECT unit: the page, which every file system takes. */
#define FILE_BLOCK 4096u
/* What one io_submit of Linux AIO moves at most per command (the block layer splits). */
#define AIO_MAX_XFER   (1u << 30)
#define AIO_MAX_DEPTH  4096u
#define AIO_MAX_QUEUES 256u

struct target_queue {
	int fd;
	aio_context_t aio;
	unsigned depth, pending;
	void *bufs;
	size_t buf_size;
	struct iocb *iocb;   /* one per slot: the cookie is the slot */
	struct iocb **list;  /* gathered until kick */
	struct io_event *ev; /* io_getevents' output */
};

static __thread char queue_why[256];

static const char *kernel_queue_error(void)
{
	return queue_why;
}

static int sys_io_setup(unsigned n, aio_context_t *ctx)
{
	return (int)syscall(SYS_io_setup, n, ctx);
}

static int sys_io_destroy(aio_context_t ctx)
{
	return (int)syscall(SYS_io_destroy, ctx);
}

static long sys_io_submit(aio_context_t ctx, long n, struct iocb **list)
{
	return syscall(SYS_io_submit, ctx, n, list);
}

static long sys_io_getevents(aio_context_t ctx, long min, long max, struct io_event *ev)
{
	return syscall(SYS_io_getevents, ctx, min, max, ev, NULL);
}

static void kernel_queue_close(struct nvme_target *t, struct target_queue *q)
{
	(void)t;
	if (q->aio)
		sys_io_destroy(q->aio); /* waits for anything still in flight */
	free(q->bufs);
	free(q->iocb);
	free(q->list);
	free(q->ev);
	free(q);
}

static int kernel_queue_open(struct nvme_target *t, unsigned depth, size_t buf_size, bool irq,
			     struct target_queue **out)
{
	struct target_queue *q = calloc(1, sizeof(*q));
	int rc;

	(void)irq; /* the kernel's driver decides: it polls only for io_uring's IOPOLL */
	if (!q) {
		snprintf(t->why, sizeof(t->why), "out of memory for a queue");
		return -ENOMEM;
	}
	q->fd = *(int *)t->priv;
	q->depth = depth;
	q->buf_size = buf_size;
	q->iocb = calloc(depth, sizeof(*q->iocb));
	q->list = calloc(depth, sizeof(*q->list));
	q->ev = calloc(depth, sizeof(*q->ev));
	if (!q->iocb || !q->list || !q->ev ||
	    (rc = posix_memalign(&q->bufs, 4096, (size_t)depth * buf_size))) {
		kernel_queue_close(t, q);
		snprintf(t->why, sizeof(t->why), "out of memory for %u buffers of %zu bytes", depth,
			 buf_size);
		return -ENOMEM;
	}
	if (sys_io_setup(depth, &q->aio)) {
		rc = -errno;
		q->aio = 0;
		kernel_queue_close(t, q);
		snprintf(t->why, sizeof(t->why), "io_setup(%u): %s%s", depth, strerror(-rc),
			 rc == -EAGAIN ? " (the system's AIO limit: raise /proc/sys/fs/aio-max-nr or "
					 "lower --qd or --threads)"
				       : "");
		return rc;
	}
	*out = q;
	return 0;
}

static void *kernel_queue_buf(struct target_queue *q, unsigned i)
{
	return (char *)q->bufs + (size_t)i * q->buf_size;
}

static int kernel_submit(struct target_queue *q, bool write, void *buf, uint64_t off, uint32_t len,
			 uint64_t cookie)
{
	struct iocb *cb;

	if (cookie >= q->depth || q->pending == q->depth) {
		snprintf(queue_why, sizeof(queue_why), "every slot is in flight (depth %u)", q->depth);
		return -EAGAIN;
	}
	cb = &q->iocb[cookie];
	memset(cb, 0, sizeof(*cb));
	cb->aio_data = cookie;
	cb->aio_lio_opcode = write ? IOCB_CMD_PWRITE : IOCB_CMD_PREAD;
	cb->aio_fildes = (uint32_t)q->fd;
	cb->aio_buf = (uint64_t)(uintptr_t)buf;
	cb->aio_nbytes = len;
	cb->aio_offset = (int64_t)off;
	q->list[q->pending++] = cb;
	return 0;
}

static int kernel_kick(struct target_queue *q)
{
	unsigned done = 0;

	while (done < q->pending) {
		long n = sys_io_submit(q->aio, q->pending - done, q->list + done);

		if (n < 0 && errno == EINTR)
			continue;
		if (n <= 0) {
			int err = n < 0 ? errno : EIO;

			snprintf(queue_why, sizeof(queue_why), "io_submit: %s", strerror(err));
			q->pending = 0; /* the rest never started: the caller stops */
			return -err;
		}
		done += (unsigned)n;
	}
	q->pending = 0;
	return 0;
}

static int kernel_wait(struct target_queue *q, struct nvme_done *out, unsigned max)
{
	long n, i;

	do
		n = sys_io_getevents(q->aio, 1, max < q->depth ? max : q->depth, q->ev);
	while (n < 0 && errno == EINTR);
	if (n < 0) {
		int err = errno;

		snprintf(queue_why, sizeof(queue_why), "io_getevents: %s", strerror(err));
		return -err;
	}
	for (i = 0; i < n; i++) {
		const struct iocb *cb = &q->iocb[q->ev[i].data];
		long long res = (long long)q->ev[i].res;

		out[i].cookie = q->ev[i].data;
		/* A short transfer (past a file's end) is a failure, as on the device. */
		out[i].err = res < 0 ? (int)res : (uint64_t)res != cb->aio_nbytes ? -EIO : 0;
	}
	return (int)n;
}

static void kernel_close(struct nvme_target *t)
{
	int *fd = t->priv;

	if (fd) {
		close(*fd);
		free(fd);
		t->priv = NULL;
	}
}

static const struct nvme_target_ops kernel_ops = {
	.kind = "kernel",
	.doorbell = "io_submit",
	.queue_open = kernel_queue_open,
	.queue_close = kernel_queue_close,
	.queue_buf = kernel_queue_buf,
	.submit = kernel_submit,
	.kick = kernel_kick,
	.wait = kernel_wait,
	.queue_error = kernel_queue_error,
	.close = kernel_close,
};

static int not_a_disk(struct nvme_target *t, const char *path)
{
	snprintf(t->why, sizeof(t->why),
		 "%s is neither a block device nor a file: give a block device (/dev/nvme0n1) or a file",
		 path);
	return -EINVAL;
}

int nvme_target_kernel(struct nvme_target *t, const char *path, bool writable)
{
	struct stat st;
	int *fd = malloc(sizeof(*fd));
	int rc;

	memset(t, 0, sizeof(*t));
	t->ops = &kernel_ops;
	snprintf(t->name, sizeof(t->name), "%s", path);
	if (!fd) {
		snprintf(t->why, sizeof(t->why), "out of memory");
		return -ENOMEM;
	}
	*fd = open(path, (writable ? O_RDWR : O_RDONLY) | O_DIRECT | O_CLOEXEC);
	if (*fd < 0) {
		rc = -errno;
		free(fd);
		/* A directory or a character device refuses O_DIRECT too (EINVAL
		 * or EISDIR): say what it is, not that its file system lacks it. */
		if (!stat(path, &st) && !S_ISREG(st.st_mode) && !S_ISBLK(st.st_mode))
			return not_a_disk(t, path);
		snprintf(t->why, sizeof(t->why), "cannot open %s with O_DIRECT%s: %s%s", path,
			 writable ? " for writing" : "", strerror(-rc),
			 rc == -EINVAL ? " (its file system has no direct I/O: use a block device or "
					 "a file on ext4/xfs)"
			 : writable && (rc == -EACCES || rc == -EPERM || rc == -EROFS)
				 ? " (this workload writes; reads only: --rw randread, read or rw=100, "
				   "verify --check)"
				 : "");
		return rc;
	}
	t->priv = fd;
	if (fstat(*fd, &st)) {
		rc = -errno;
		kernel_close(t);
		snprintf(t->why, sizeof(t->why), "%s: %s", path, strerror(-rc));
		return rc;
	}
	if (S_ISBLK(st.st_mode)) {
		int lbs = 0;
		uint64_t size = 0;

		if (ioctl(*fd, BLKSSZGET, &lbs) || ioctl(*fd, BLKGETSIZE64, &size) || lbs <= 0) {
			rc = -errno;
			kernel_close(t);
			snprintf(t->why, sizeof(t->why), "%s: cannot read its block size: %s", path,
				 strerror(-rc));
			return rc;
		}
		t->block = (uint32_t)lbs;
		t->capacity = size;
	} else if (S_ISREG(st.st_mode)) {
		t->block = FILE_BLOCK;
		t->capacity = (uint64_t)st.st_size / FILE_BLOCK * FILE_BLOCK;
	} else {
		kernel_close(t);
		return not_a_disk(t, path);
	}
	t->max_xfer = AIO_MAX_XFER;
	t->max_depth = AIO_MAX_DEPTH;
	t->max_queues = AIO_MAX_QUEUES;
	return 0;
}
