/* SPDX-License-Identifier: MIT */
/* What backs a range of this process's memory (/proc/self/smaps): page size, kind, access, locks. */
#include <errno.h>
#include <fcntl.h>
#include <linux/magic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/statfs.h>
#include <unistd.h>

#include "lib/os/os.h"

/* One mapping's header line and the smaps fields read so far. */
struct vma {
	unsigned long lo, hi;
	char perms[8];
	unsigned long inode;
	const char *path; /* into the header line */
	size_t page_size; /* KernelPageSize */
};

static bool ends_with(const char *s, const char *tail)
{
	size_t n = strlen(s), t = strlen(tail);

	return n >= t && !strcmp(s + n - t, tail);
}

/* A file mapping on shmem (tmpfs, memfd, SysV, shared anonymous): its pages
 * are not page cache of a disk file, so the kernel pins them for DMA. */
static bool on_shmem(const struct vma *v)
{
	static const char *const deleted_shmem[] = {"/memfd:", "/SYSV", "/dev/zero"};
	char link[64];
	struct statfs sfs;
	struct stat st;
	size_t i;
	int fd;

	/* Files that have no name left: these names are shmem's own. */
	if (ends_with(v->path, " (deleted)"))
		for (i = 0; i < sizeof(deleted_shmem) / sizeof(deleted_shmem[0]); i++)
			if (!strncmp(v->path, deleted_shmem[i], strlen(deleted_shmem[i])))
				return true;
	/* The mapped file itself (opening it needs CAP_SYS_ADMIN), else its path. */
	snprintf(link, sizeof(link), "/proc/self/map_files/%lx-%lx", v->lo, v->hi);
	fd = open(link, O_RDONLY | O_CLOEXEC);
	if (fd >= 0) {
		bool shm = fstatfs(fd, &sfs) == 0 && sfs.f_type == TMPFS_MAGIC;

		close(fd);
		return shm;
	}
	return v->path[0] == '/' && stat(v->path, &st) == 0 && st.st_ino == v->inode &&
	       statfs(v->path, &sfs) == 0 && sfs.f_type == TMPFS_MAGIC;
}

/* Check one mapping against the rules of udma__vma_range; fold it into out. */
static int check_vma(const struct vma *v, const char *flags, const char *what, struct udma_vma_range *out,
		     bool first)
{
	bool hugetlb = strstr(flags, " ht") != NULL;
	char ps[16], ps0[16];

	if (v->perms[0] != 'r' || v->perms[1] != 'w')
		return udma__err(
			EFAULT,
			"%s: the mapping at %#lx-%#lx is %s, not readable and writable (PROT_NONE or "
			"read-only): a device would write it; mprotect it PROT_READ | PROT_WRITE first",
			what, v->lo, v->hi, v->perms);
	if (strstr(flags, " io") || strstr(flags, " pf"))
		return udma__err(
			ENOTSUP,
			"%s: the mapping at %#lx-%#lx (%s) is device or PFN-mapped memory, which has "
			"no pages to pin: only RAM can be registered",
			what, v->lo, v->hi, v->path[0] ? v->path : "?");
	if (!hugetlb && v->inode && !on_shmem(v))
		return udma__err(ENOTSUP,
				 "%s: the mapping at %#lx-%#lx is file-backed (%s): the kernel cannot pin "
				 "page cache pages of a file for DMA (writeback would race the device); use "
				 "anonymous memory, shmem, a memfd or hugetlb memory",
				 what, v->lo, v->hi, v->path);
	if (!v->page_size)
		return udma__err(EIO, "%s: /proc/self/smaps gave no KernelPageSize for %#lx-%#lx", what,
				 v->lo, v->hi);
	if (first) {
		out->page_size = v->page_size;
		out->hugetlb = hugetlb;
		out->locked = true;
	} else if (v->page_size != out->page_size || hugetlb != out->hugetlb) {
		return udma__err(EINVAL,
				 "%s: the range spans mappings of different page sizes (%s, and %s at "
				 "%#lx): register each mapping on its own",
				 what, udma__fmt_size(out->page_size, ps0, sizeof(ps0)),
				 udma__fmt_size(v->page_size, ps, sizeof(ps)), v->lo);
	}
	if (!hugetlb && !strstr(flags, " lo"))
		out->locked = false;
	return 0;
}

static bool parse_header(char *line, struct vma *v)
{
	int n = 0;

	if (sscanf(line, "%lx-%lx %7s %*s %*s %lu %n", &v->lo, &v->hi, v->perms, &v->inode, &n) != 4 || !n)
		return false;
	line[strcspn(line, "\n")] = 0;
	v->path = line + n;
	v->page_size = 0;
	return true;
}

int udma__vma_range(const void *addr, size_t len, const char *what, struct udma_vma_range *out)
{
	uintptr_t at = (uintptr_t)addr, end = at + len;
	char *line = NULL, *header = NULL;
	size_t cap = 0, hcap = 0, kb;
	struct vma v = {0};
	bool in = false, first = true;
	int rc = 0;
	FILE *f = fopen("/proc/self/smaps", "re");

	if (!f)
		return udma__err(errno, "%s: cannot read /proc/self/smaps: %s", what, udma__strerror(errno));
	while (at < end && getline(&line, &cap, f) > 0) {
		/* A header: "lo-hi perms offset dev inode path". */
		if (strchr(line, '-') && strchr(line, '-') < strchr(line, ' ')) {
			size_t n = strlen(line) + 1;

			if (n > hcap) {
				char *h = realloc(header, n);

				if (!h) {
					rc = udma__err(ENOMEM, "out of memory reading /proc/self/smaps");
					break;
				}
				header = h;
				hcap = n;
			}
			memcpy(header, line, n);
			in = parse_header(header, &v) && v.hi > at;
			if (in && v.lo > at) {
				rc = udma__err(EINVAL,
					       "%s: [%p, +%zu) is not wholly mapped: nothing is mapped at "
					       "%#lx-%#lx",
					       what, addr, len, (unsigned long)at,
					       (unsigned long)(v.lo < end ? v.lo : end));
				break;
			}
		} else if (in && sscanf(line, "KernelPageSize: %zu kB", &kb) == 1) {
			v.page_size = kb << 10;
		} else if (in && !strncmp(line, "VmFlags:", 8)) {
			/* The last field of a mapping: all of it is known now. */
			line[strcspn(line, "\n")] = 0;
			if ((rc = check_vma(&v, line + 8, what, out, first)))
				break;
			first = false;
			at = v.hi;
			in = false;
		}
	}
	if (!rc && at < end)
		rc = udma__err(EINVAL, "%s: [%p, +%zu) is not wholly mapped: nothing is mapped from %#lx",
			       what, addr, len, (unsigned long)at);
	free(line);
	free(header);
	fclose(f);
	return rc;
}
