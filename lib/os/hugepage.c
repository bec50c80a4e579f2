/* SPDX-License-Identifier: MIT */
/* Hugepage discovery and reservation through sysfs; hugetlbfs mounts through libhugetlbfs. */
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <hugetlbfs.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "lib/os/os.h"

#define SYS_HUGEPAGES "/sys/kernel/mm/hugepages"
#define SYS_NODE      "/sys/devices/system/node"

static int size_cmp(const void *a, const void *b)
{
	size_t x = *(const size_t *)a, y = *(const size_t *)b;

	return (x > y) - (x < y);
}

int udma_hugepage_sizes(size_t *sizes, unsigned max)
{
	size_t found[16];
	unsigned n = 0, i;
	struct dirent *de;
	DIR *d = opendir(SYS_HUGEPAGES);

	if (!d && errno == ENOENT)
		return udma__err(ENOENT, "%s is missing: this kernel has no hugetlbfs (CONFIG_HUGETLBFS)",
				 SYS_HUGEPAGES);
	if (!d)
		return udma__err(errno, "cannot list the hugepage sizes in %s: %s", SYS_HUGEPAGES,
				 udma__strerror(errno));
	while ((de = readdir(d)) && n < 16) {
		unsigned long kb;

		if (sscanf(de->d_name, "hugepages-%lukB", &kb) == 1)
			found[n++] = (size_t)kb << 10;
	}
	closedir(d);
	qsort(found, n, sizeof(found[0]), size_cmp);
	for (i = 0; i < n && i < max; i++)
		sizes[i] = found[i];
	return (int)n;
}

static void hp_path(char *buf, size_t len, size_t page_size, int node, const char *file)
{
	if (node == UDMA_NUMA_ANY)
		snprintf(buf, len, SYS_HUGEPAGES "/hugepages-%zukB/%s", page_size >> 10, file);
	else
		snprintf(buf, len, SYS_NODE "/node%d/hugepages/hugepages-%zukB/%s", node, page_size >> 10,
			 file);
}

static int read_ulong(const char *path, unsigned long *out)
{
	char buf[32];
	ssize_t n;
	int fd = open(path, O_RDONLY | O_CLOEXEC);

	if (fd < 0)
		return -errno;
	n = read(fd, buf, sizeof(buf) - 1);
	close(fd);
	if (n <= 0)
		return n < 0 ? -errno : -EIO;
	buf[n] = 0;
	*out = strtoul(buf, NULL, 10);
	return 0;
}

int udma_hugepage_count(size_t page_size, int node, struct udma_hugepage_count *out)
{
	char path[160];
	int rc;

	if (!out)
		return udma__err(
			EINVAL,
			"udma_hugepage_count: out is NULL (pass a struct udma_hugepage_count to fill)");
	memset(out, 0, sizeof(*out));
	hp_path(path, sizeof(path), page_size, node, "nr_hugepages");
	rc = read_ulong(path, &out->total);
	if (rc == -ENOENT)
		return udma__err(ENOENT, "no %zu kB hugepages%s: %s does not exist", page_size >> 10,
				 node == UDMA_NUMA_ANY ? "" : " on that node", path);
	if (!rc) {
		hp_path(path, sizeof(path), page_size, node, "free_hugepages");
		rc = read_ulong(path, &out->free);
	}
	if (!rc) {
		hp_path(path, sizeof(path), page_size, node, "surplus_hugepages");
		rc = read_ulong(path, &out->surplus);
	}
	if (!rc && node == UDMA_NUMA_ANY) {
		hp_path(path, sizeof(path), page_size, node, "resv_hugepages");
		rc = read_ulong(path, &out->reserved);
	}
	if (rc)
		return udma__err(-rc, "cannot read %s: %s", path, udma__strerror(-rc));
	return 0;
}

long udma_hugepage_available(size_t page_size, int node)
{
	struct udma_hugepage_count c, all;
	unsigned long sys;
	int rc = udma_hugepage_count(page_size, node, &c);

	if (rc)
		return rc;
	if (node == UDMA_NUMA_ANY)
		return (long)(c.free > c.reserved ? c.free - c.reserved : 0);
	/* Reservations are only counted system-wide: never promise more than that allows. */
	if ((rc = udma_hugepage_count(page_size, UDMA_NUMA_ANY, &all)))
		return rc;
	sys = all.free > all.reserved ? all.free - all.reserved : 0;
	return (long)(c.free < sys ? c.free : sys);
}

/* Adding `more` pages of page_size to a pool of `now` must fit in 90% of the
 * memory the kernel could still give (the rest is left for everything else):
 * checked before anything is written. */
static int check_growth(size_t page_size, int node, unsigned long now, unsigned long more)
{
	char src[160], ps[32], need[32];
	uint64_t avail, bytes, room;
	int rc;

	if (!more)
		return 0;
	if ((rc = udma__mem_available(node, &avail, src, sizeof(src))))
		return rc;
	room = avail - avail / 10;
	if (!__builtin_mul_overflow((uint64_t)more, (uint64_t)page_size, &bytes) && bytes <= room)
		return 0;
	if (bytes / page_size == more)
		udma__fmt_size(bytes, need, sizeof(need));
	else
		snprintf(need, sizeof(need), "more than 16 EiB");
	return udma__err(ENOMEM,
			 "%lu more %s hugepages need %s, more than 90%% of the %llu MiB the kernel could "
			 "still give%s (%s; a tenth is left for everything else): nothing was changed; ask "
			 "for at most %llu more pages (a pool of at most %llu)",
			 more, udma__fmt_size(page_size, ps, sizeof(ps)), need,
			 (unsigned long long)(avail >> 20), node == UDMA_NUMA_ANY ? "" : " on that node", src,
			 (unsigned long long)(room / page_size),
			 (unsigned long long)now + (unsigned long long)(room / page_size));
}

/* Resize a pool that was `base` when the caller looked to `count`: the pool
 * is read again just before writing, and if others resized it meanwhile the
 * change asked (count - base) is applied to what is there now, so their
 * change is kept. The new total the kernel has, or a negative errno. */
static long resize(size_t page_size, int node, unsigned long base, unsigned long count)
{
	char path[160], val[32];
	unsigned long now, target = count;
	int fd, len, rc;

	hp_path(path, sizeof(path), page_size, node, "nr_hugepages");
	rc = read_ulong(path, &now);
	if (rc)
		return udma__err(-rc, "cannot read %s: %s (does the kernel offer %zu kB pages%s?)", path,
				 strerror(-rc), page_size >> 10,
				 node == UDMA_NUMA_ANY ? "" : " on that node");
	if (now != base && count >= base && __builtin_add_overflow(now, count - base, &target))
		return udma__err(EOVERFLOW, "a pool of %lu + %lu hugepages does not fit a count", now,
				 count - base);
	if (now != base && count < base)
		target = now > base - count ? now - (base - count) : 0;
	if (target > now && (rc = check_growth(page_size, node, now, target - now)))
		return rc;
	/* O_TRUNC as a shell's `>` does: the value written is the whole file
	 * (sysfs ignores it; a stand-in made of plain files needs it). */
	fd = open(path, O_WRONLY | O_TRUNC | O_CLOEXEC);
	if (fd < 0) {
		rc = errno;
		if (rc == EACCES || rc == EPERM || rc == EROFS)
			return udma__err(
				rc, "cannot write %s: resizing a hugepage pool needs root (run with sudo)",
				path);
		if (rc == ENOENT)
			return udma__err(rc, "cannot open %s: the kernel offers no %zu kB pages%s", path,
					 page_size >> 10, node == UDMA_NUMA_ANY ? "" : " on that node");
		return udma__err(rc, "cannot open %s: %s", path, udma__strerror(rc));
	}
	len = snprintf(val, sizeof(val), "%lu", target);
	if (write(fd, val, (size_t)len) != len) {
		rc = errno;
		close(fd);
		return udma__err(rc, "writing %s to %s failed: %s", val, path, strerror(rc));
	}
	close(fd);
	rc = read_ulong(path, &now);
	if (rc)
		return udma__err(-rc, "cannot read back %s: %s", path, udma__strerror(-rc));
	return (long)now;
}

long udma_hugepage_set_total(size_t page_size, int node, unsigned long count)
{
	struct udma_hugepage_count c;
	int rc = udma_hugepage_count(page_size, node, &c);

	if (rc)
		return rc;
	return resize(page_size, node, c.total, count);
}

int udma_hugepage_reserve(size_t page_size, int node, unsigned long count, unsigned long *added)
{
	struct udma_hugepage_count c;
	long avail = udma_hugepage_available(page_size, node), got;
	unsigned long more, target, gave;
	char ps[32], undo[160] = "";
	int rc;

	if (added)
		*added = 0;
	if (avail < 0)
		return (int)avail;
	if ((unsigned long)avail >= count)
		return 0;
	if ((rc = udma_hugepage_count(page_size, node, &c)))
		return rc;
	more = count - (unsigned long)avail;
	if ((rc = check_growth(page_size, node, c.total, more)))
		return rc;
	if (__builtin_add_overflow(c.total, more, &target))
		return udma__err(EOVERFLOW, "a pool of %lu + %lu hugepages does not fit a count", c.total,
				 more);
	got = resize(page_size, node, c.total, target);
	if (got < 0)
		return (int)got;
	gave = (unsigned long)got > c.total ? (unsigned long)got - c.total : 0;
	if ((unsigned long)got >= target) {
		if (added)
			*added = gave < more ? gave : more;
		return 0;
	}
	/* Fewer than asked: take back what was added (a delta, as others may
	 * resize the pool too), so a failed reservation changes nothing. */
	rc = udma_hugepage_unreserve(page_size, node, gave);
	if (rc) {
		snprintf(undo, sizeof(undo), "; taking them back failed (%s), so they stay in the pool",
			 udma_last_error());
		if (added)
			*added = gave;
	}
	return udma__err(ENOMEM,
			 "the kernel could give only %lu of the %lu more %s pages asked (memory is "
			 "fragmented)%s%s: reserve them at boot (hugepagesz=%zuK hugepages=%lu), or drop "
			 "caches and retry",
			 gave, more, udma__fmt_size(page_size, ps, sizeof(ps)),
			 rc ? "" : "; the pool is back as it was", undo, page_size >> 10, count);
}

int udma_hugepage_unreserve(size_t page_size, int node, unsigned long added)
{
	struct udma_hugepage_count c;
	long got;
	int rc;

	if (!added)
		return 0;
	if ((rc = udma_hugepage_count(page_size, node, &c)))
		return rc;
	/* More than the pool holds was never added by udma_hugepage_reserve:
	 * taking it back would empty the pool of others' pages too. */
	if (added > c.total)
		return udma__err(EINVAL,
				 "cannot take back %lu hugepages: the pool has only %lu (pass the count "
				 "udma_hugepage_reserve added; nothing was changed)",
				 added, c.total);
	got = resize(page_size, node, c.total, c.total - added);
	return got < 0 ? (int)got : 0;
}

const char *udma_hugepage_mount(size_t page_size)
{
	return hugetlbfs_find_path_for_size((long)page_size);
}

const char *udma_thp_mode(void)
{
	static const char *const modes[] = {"always", "madvise", "never"};
	char buf[128] = "";
	unsigned i;
	ssize_t n;
	int fd = open("/sys/kernel/mm/transparent_hugepage/enabled", O_RDONLY | O_CLOEXEC);

	if (fd < 0)
		return "unknown";
	n = read(fd, buf, sizeof(buf) - 1);
	close(fd);
	buf[n > 0 ? n : 0] = 0;
	for (i = 0; i < sizeof(modes) / sizeof(modes[0]); i++) {
		char sel[16];

		snprintf(sel, sizeof(sel), "[%s]", modes[i]);
		if (strstr(buf, sel))
			return modes[i];
	}
	return "unknown";
}

int udma_pfn_readable(void)
{
	volatile char probe = 1; /* a written stack byte: its page is present */
	uint64_t entry = 0;
	int fd = udma__pagemap_open(), rc;

	if (fd < 0)
		return fd;
	if ((rc = udma__pagemap_coherent(fd))) {
		close(fd);
		return rc;
	}
	probe++;
	rc = udma__pagemap_read(fd, (const void *)&probe, UDMA_PAGE_4K, 1, &entry);
	close(fd);
	if (rc)
		return rc;
	return (entry & UDMA_PM_PRESENT) && (entry & UDMA_PM_PFN_MASK) != 0;
}

int udma__check_page_size(size_t page_size)
{
	size_t sizes[8];
	int n, i;

	if (page_size == 0 || page_size == UDMA_PAGE_4K)
		return 0;
	n = udma_hugepage_sizes(sizes, 8);
	if (n < 0 && n != -ENOENT)
		return n; /* not absent: the sizes could not be read, and it says why */
	for (i = 0; i < n && i < 8; i++)
		if (sizes[i] == page_size)
			return 0;
	return udma__err(EINVAL,
			 "page size %zu is not offered by this kernel (see `udma info`; use 0, 4K, 2M or 1G)",
			 page_size);
}

static size_t round_up(size_t v, size_t to)
{
	return (v + to - 1) / to * to;
}

size_t udma__choose_page_size(size_t size, int node, bool strict, int *err)
{
	char need_s[32], hint[32], node_arg[24] = "";
	size_t sizes[8];
	int n = udma_hugepage_sizes(sizes, 8), i;

	*err = 0;
	/* Only a kernel without hugetlbfs (ENOENT) means none: any other failure
	 * to read them (out of fds) is that failure, not a reason for 4 KiB. */
	if (n < 0 && n != -ENOENT) {
		*err = n;
		return 0;
	}
	/* Largest page size no larger than the region (rounded to 2 MiB), so a small
	 * region does not burn a 1 GiB page, with enough pages available. */
	for (i = (n > 8 ? 8 : n) - 1; i >= 0; i--) {
		long avail;

		if (sizes[i] > round_up(size, UDMA_PAGE_2M))
			continue;
		avail = udma_hugepage_available(sizes[i], node);
		if (avail < 0 && avail != -ENOENT) {
			*err = (int)avail;
			return 0;
		}
		if (avail > 0 && (size_t)avail >= round_up(size, sizes[i]) / sizes[i])
			return sizes[i];
	}
	if (!strict)
		return UDMA_PAGE_4K;
	udma__fmt_size_arg(round_up(size, UDMA_PAGE_2M), hint, sizeof(hint));
	if (node != UDMA_NUMA_ANY)
		snprintf(node_arg, sizeof(node_arg), " --node %d", node);
	*err = udma__err(ENOMEM,
			 "no hugepage size has enough free pages for a %s region%s (UDMA_CTX_STRICT_HUGE); "
			 "reserve with: udma hugepages --reserve %s%s",
			 udma__fmt_size(size, need_s, sizeof(need_s)),
			 node == UDMA_NUMA_ANY ? "" : " on the asked node", hint, node_arg);
	return 0;
}
