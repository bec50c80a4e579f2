/* SPDX-License-Identifier: MIT */
/* DMA-BUF heaps (memory the kernel allocates, CMA's contiguous memory among
 * them), /dev/udmabuf (a memfd as a dma-buf) and the dma-buf sync ioctl. */
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <linux/dma-buf.h>
#include <linux/dma-heap.h>
#include <linux/udmabuf.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/ioctl.h>
#include <unistd.h>

#include "lib/os/os.h"

/* The kernel's names for its default CMA area's heap: "default_cma_region"
 * since Linux 6.17; before, the area's own name: "reserved" (cma= or the
 * Kconfig size), "linux,cma" or "default-pool" (a device tree's
 * shared-dma-pool node). */
static const char *const cma_names[] = {"default_cma_region", "reserved", "linux,cma", "default-pool"};

static const char *dev_root(void)
{
	const char *root = secure_getenv("UDMA_DEV_ROOT");

	return root && *root ? root : "/dev";
}

/* The heaps in dir, separated by sep ("a, b"), or "none". */
static int list_heaps(const char *dir, const char *sep, char *buf, size_t len)
{
	DIR *d = opendir(dir);
	const struct dirent *e;
	size_t used = 0;

	buf[0] = '\0';
	while (d && (e = readdir(d))) {
		int n;

		if (e->d_name[0] == '.')
			continue;
		n = snprintf(buf + used, len - used, "%s%s", used ? sep : "", e->d_name);
		if (n < 0 || (size_t)n >= len - used)
			break;
		used += (size_t)n;
	}
	if (d)
		closedir(d);
	if (!used)
		snprintf(buf, len, "none");
	return d ? 0 : -ENODEV;
}

int udma__dma_heaps(char *buf, size_t len)
{
	char dir[256];

	snprintf(dir, sizeof(dir), "%s/dma_heap", dev_root());
	return list_heaps(dir, "\n", buf, len);
}

/* kB of free CMA memory from /proc/meminfo, or -1. */
static long cma_free_kb(void)
{
	FILE *f = fopen("/proc/meminfo", "re");
	char line[128];
	long kb = -1;

	while (f && fgets(line, sizeof(line), f))
		if (sscanf(line, "CmaFree: %ld kB", &kb) == 1)
			break;
	if (f)
		fclose(f);
	return kb;
}

static int open_heap(const char *dir, const char *heap, char *found, size_t found_len)
{
	char path[512], heaps[256];
	size_t i;
	int fd;

	if (strcmp(heap, "cma") != 0) {
		snprintf(path, sizeof(path), "%s/%s", dir, heap);
		fd = open(path, O_RDONLY | O_CLOEXEC);
		if (fd >= 0) {
			snprintf(found, found_len, "%s", heap);
			return fd;
		}
		if (errno == ENOENT) {
			list_heaps(dir, ", ", heaps, sizeof(heaps));
			return udma__err(ENOENT, "no DMA-BUF heap '%s' (%s has: %s)", heap, dir, heaps);
		}
		return udma__err(errno, "cannot open the DMA-BUF heap %s: %s%s", path, udma__strerror(errno),
				 errno == EACCES ? " (run as root, or give this user the heap's device "
						   "node with a udev rule)"
						 : "");
	}
	for (i = 0; i < sizeof(cma_names) / sizeof(cma_names[0]); i++) {
		snprintf(path, sizeof(path), "%s/%s", dir, cma_names[i]);
		fd = open(path, O_RDONLY | O_CLOEXEC);
		if (fd >= 0) {
			snprintf(found, found_len, "%s", cma_names[i]);
			return fd;
		}
		if (errno != ENOENT)
			return udma__err(errno, "cannot open the CMA heap %s: %s%s", path,
					 udma__strerror(errno),
					 errno == EACCES ? " (run as root, or give this user the heap's "
							   "device node with a udev rule)"
							 : "");
	}
	list_heaps(dir, ", ", heaps, sizeof(heaps));
	return udma__err(ENOENT,
			 "no CMA heap in %s (it has: %s): the kernel needs CONFIG_DMABUF_HEAPS_CMA and a "
			 "CMA area (cma=SIZE on its command line, or a shared-dma-pool reserved-memory "
			 "node with linux,cma-default)",
			 dir, heaps);
}

int udma__dma_heap_alloc(const char *heap, size_t len, char *found, size_t found_len)
{
	struct dma_heap_allocation_data alloc = {.len = len, .fd_flags = O_RDWR | O_CLOEXEC};
	char dir[256];
	int hfd, e;

	snprintf(dir, sizeof(dir), "%s/dma_heap", dev_root());
	if (access(dir, F_OK) < 0 && errno != ENOENT)
		return udma__err(errno, "cannot look at %s: %s", dir, udma__strerror(errno));
	if (access(dir, F_OK) < 0)
		return udma__err(ENODEV,
				 "this kernel has no DMA-BUF heaps (no %s): it needs CONFIG_DMABUF_HEAPS "
				 "(Linux 5.6+), and for contiguous memory CONFIG_DMABUF_HEAPS_CMA with a "
				 "CMA area (cma=SIZE)",
				 dir);
	if ((e = udma__child_fds_watch()))
		return udma__err(-e, "no DMA-BUF heap buffer: %s", udma_last_error());
	hfd = open_heap(dir, heap, found, found_len);
	if (hfd < 0)
		return hfd;
	/* On the list before a fork can see it: a forked child's copy would
	 * keep the buffer (CMA memory, say) after the parent let go of it. */
	udma__child_fds_lock();
	if (ioctl(hfd, DMA_HEAP_IOCTL_ALLOC, &alloc) == 0) {
		close(hfd);
		if ((e = udma__child_fds_add_locked((int)alloc.fd))) {
			close((int)alloc.fd);
			udma__child_fds_unlock();
			return e;
		}
		udma__child_fds_unlock();
		return (int)alloc.fd;
	}
	e = errno;
	udma__child_fds_unlock();
	close(hfd);
	if (e == ENOTTY)
		return udma__err(ENOTTY, "%s/%s is not a DMA-BUF heap (it refused DMA_HEAP_IOCTL_ALLOC)", dir,
				 found);
	if (e == ENOMEM && strcmp(heap, "cma") == 0 && cma_free_kb() >= 0)
		return udma__err(ENOMEM,
				 "the CMA heap '%s' has no %zu contiguous bytes (CmaFree: %ld kB, in pieces "
				 "perhaps): boot with a larger cma=SIZE, or ask for less",
				 found, len, cma_free_kb());
	return udma__err(e, "DMA-BUF heap '%s' could not allocate %zu bytes: %s", found, len,
			 udma__strerror(e));
}

long udma__udmabuf_limit_mb(void)
{
	const char *root = secure_getenv("UDMA_SYSFS_ROOT");
	char path[256];
	long mb = -1;
	FILE *f;

	snprintf(path, sizeof(path), "%s/module/udmabuf/parameters/size_limit_mb",
		 root && *root ? root : "/sys");
	f = fopen(path, "re");
	if (f && fscanf(f, "%ld", &mb) != 1)
		mb = -1;
	if (f)
		fclose(f);
	return mb;
}

bool udma__udmabuf_present(void)
{
	char path[256];

	snprintf(path, sizeof(path), "%s/udmabuf", dev_root());
	return access(path, F_OK) == 0;
}

int udma__udmabuf_create(int memfd, size_t len)
{
	struct udmabuf_create create = {
		.memfd = (__u32)memfd, .flags = UDMABUF_FLAGS_CLOEXEC, .offset = 0, .size = len};
	long limit = udma__udmabuf_limit_mb();
	char path[256];
	int dev, fd, e;

	snprintf(path, sizeof(path), "%s/udmabuf", dev_root());
	dev = open(path, O_RDWR | O_CLOEXEC);
	if (dev < 0 && errno == ENOENT)
		return udma__err(ENODEV,
				 "no %s: the kernel lacks CONFIG_UDMABUF (Debian's 6.1 kernels do; "
				 "bookworm-backports' 6.12 has it), or its module is not loaded (modprobe "
				 "udmabuf)",
				 path);
	if (dev < 0)
		return udma__err(errno, "cannot open %s: %s%s", path, udma__strerror(errno),
				 errno == EACCES
					 ? " (run as root, or give this user the device with a udev rule)"
					 : "");
	if (limit >= 0 && (uint64_t)len > (uint64_t)limit << 20) {
		close(dev);
		return udma__err(E2BIG,
				 "%zu bytes is over /dev/udmabuf's limit of %ld MiB for one buffer: raise "
				 "it (echo MIB > /sys/module/udmabuf/parameters/size_limit_mb, or "
				 "udmabuf.size_limit_mb=MIB on the kernel command line)",
				 len, limit);
	}
	fd = ioctl(dev, UDMABUF_CREATE, &create);
	e = errno;
	close(dev);
	if (fd >= 0)
		return fd;
	if (e == EMFILE)
		return udma__err(EMFILE, "no file descriptor left for the dma-buf: %s", udma__strerror(e));
	return udma__err(e,
			 "/dev/udmabuf refused the region's memfd (%zu bytes): %s (it takes shmem memfds "
			 "sealed against shrinking; hugetlb ones only in some kernels: 5.15 to 6.3, and "
			 "again since memfd_pin_folios, 6.11)",
			 len, udma__strerror(e));
}

void udma__dmabuf_close(int fd)
{
	udma__child_fds_lock();
	if (fd >= 0 && udma__child_fds_take_locked(fd))
		close(fd);
	udma__child_fds_unlock();
}

int udma__dmabuf_sync(int fd, bool cpu)
{
	struct dma_buf_sync sync = {.flags = (cpu ? DMA_BUF_SYNC_START : DMA_BUF_SYNC_END) | DMA_BUF_SYNC_RW};

	/* It may wait for the buffer's fences, and be interrupted. */
	while (ioctl(fd, DMA_BUF_IOCTL_SYNC, &sync) < 0)
		if (errno != EINTR && errno != EAGAIN)
			return udma__err(errno, "DMA_BUF_IOCTL_SYNC (%s) failed: %s",
					 cpu ? "start of CPU access" : "end of CPU access",
					 udma__strerror(errno));
	return 0;
}
