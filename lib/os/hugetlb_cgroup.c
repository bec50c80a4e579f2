/* SPDX-License-Identifier: MIT */
/*
 * Which hugetlb cgroup limit keeps this process from hugepages that are free:
 * its cgroups from /proc/self/cgroup, their directories from the cgroup
 * mounts, then the limit files up to the hierarchy's root (v2:
 * hugetlb.2MB.max and .rsvd.max; v1: hugetlb.2MB.limit_in_bytes and
 * .rsvd.limit_in_bytes). The fault-time limit refuses pages at first touch
 * (SIGBUS, which populate turns into an error); the reservation limit
 * refuses the mmap. Only run on failure paths.
 */
#include <errno.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "lib/os/os.h"

/* Unlimited: v2 writes "max", v1 a number near 2^63. */
#define NO_LIMIT ULLONG_MAX

struct hierarchy {
	bool v2;
	char dir[PATH_MAX]; /* this process's cgroup directory in it */
	size_t root_len;    /* length of the mount point: the walk stops there */
};

static int read_value(const char *dir, const char *file, unsigned long long *out)
{
	char path[PATH_MAX + 64], buf[32];
	FILE *f;

	snprintf(path, sizeof(path), "%s/%s", dir, file);
	f = fopen(path, "re");
	if (!f)
		return -1;
	if (!fgets(buf, sizeof(buf), f)) {
		fclose(f);
		return -1;
	}
	fclose(f);
	*out = strncmp(buf, "max", 3) ? strtoull(buf, NULL, 10) : NO_LIMIT;
	return 0;
}

/* The mount point of the v2 hierarchy (v2), or of the v1 one with the hugetlb
 * controller, and the hierarchy path it shows as its root. */
static bool find_mount(bool v2, char *mnt, size_t mlen, char *root, size_t rlen)
{
	char line[1024];
	bool found = false;
	FILE *f = fopen("/proc/self/mountinfo", "re");

	while (f && !found && fgets(line, sizeof(line), f)) {
		char r[512], m[512], type[32], opts[256];
		const char *sep = strstr(line, " - ");

		/* "36 25 0:31 / /sys/fs/cgroup/hugetlb rw,... - cgroup cgroup rw,hugetlb" */
		if (!sep || sscanf(line, "%*s %*s %*s %511s %511s", r, m) != 2 ||
		    sscanf(sep + 3, "%31s %*s %255s", type, opts) != 2)
			continue;
		if (v2 ? strcmp(type, "cgroup2") != 0
		       : strcmp(type, "cgroup") != 0 || !strstr(opts, "hugetlb"))
			continue;
		snprintf(mnt, mlen, "%s", m);
		snprintf(root, rlen, "%s", r);
		found = true;
	}
	if (f)
		fclose(f);
	return found;
}

/* This process's cgroup directory in the v2 hierarchy or the v1 hugetlb one. */
static bool find_dir(bool v2, struct hierarchy *h)
{
	char line[1024], mnt[512], root[512], path[PATH_MAX] = "";
	bool found = false;
	FILE *f = fopen("/proc/self/cgroup", "re");
	const char *rel;

	/* "0::/user.slice/x" (v2); "7:hugetlb:/x" (v1) */
	while (f && !found && fgets(line, sizeof(line), f)) {
		char *ctrl = strchr(line, ':'), *p;

		if (!ctrl || !(p = strchr(ctrl + 1, ':')))
			continue;
		*p++ = 0;
		*ctrl++ = 0;
		p[strcspn(p, "\n")] = 0;
		if (v2 ? (strncmp(line, "0", 2) != 0 || *ctrl) : !strstr(ctrl, "hugetlb"))
			continue;
		snprintf(path, sizeof(path), "%s", p);
		found = true;
	}
	if (f)
		fclose(f);
	if (!found || !find_mount(v2, mnt, sizeof(mnt), root, sizeof(root)))
		return false;
	/* The mount shows the hierarchy from root down (a container's own cgroup). */
	rel = strncmp(path, root, strlen(root)) == 0 ? path + strlen(root) : path;
	if (strcmp(root, "/") == 0)
		rel = path;
	h->v2 = v2;
	h->root_len = strlen(mnt);
	snprintf(h->dir, sizeof(h->dir), "%s%s%s", mnt, *rel && *rel != '/' ? "/" : "", rel);
	while (strlen(h->dir) > h->root_len && h->dir[strlen(h->dir) - 1] == '/')
		h->dir[strlen(h->dir) - 1] = 0;
	return true;
}

/* The first limit, from the process's cgroup up, leaving less than need bytes. */
static bool blocking_limit(struct hierarchy *h, const char *size_name, bool rsvd, size_t need, char *buf,
			   size_t len)
{
	char limit_file[64], usage_file[64], lim_s[32], use_s[32];

	snprintf(limit_file, sizeof(limit_file), "hugetlb.%s.%s%s", size_name, rsvd ? "rsvd." : "",
		 h->v2 ? "max" : "limit_in_bytes");
	snprintf(usage_file, sizeof(usage_file), "hugetlb.%s.%s%s", size_name, rsvd ? "rsvd." : "",
		 h->v2 ? "current" : "usage_in_bytes");
	for (;;) {
		unsigned long long limit, usage = 0;
		char *slash;

		if (read_value(h->dir, limit_file, &limit) == 0 && limit != NO_LIMIT &&
		    (read_value(h->dir, usage_file, &usage), limit < usage + need)) {
			snprintf(buf, len,
				 "%s is %s (%s in use) in %s, a hugetlb cgroup of this process: raise it, or "
				 "run outside that cgroup",
				 limit_file, udma__fmt_size((size_t)limit, lim_s, sizeof(lim_s)),
				 udma__fmt_size((size_t)usage, use_s, sizeof(use_s)), h->dir);
			return true;
		}
		slash = strrchr(h->dir, '/');
		if (strlen(h->dir) <= h->root_len || !slash || (size_t)(slash - h->dir) < h->root_len)
			return false;
		*slash = 0;
	}
}

bool udma__hugetlb_cgroup_limit(size_t page_size, size_t need, char *buf, size_t len)
{
	char size_name[16];
	struct hierarchy h;
	int v2;

	/* The kernel names the files "2MB", "1GB", "64KB". */
	if (page_size >= (1ul << 30))
		snprintf(size_name, sizeof(size_name), "%zuGB", page_size >> 30);
	else if (page_size >= (1ul << 20))
		snprintf(size_name, sizeof(size_name), "%zuMB", page_size >> 20);
	else
		snprintf(size_name, sizeof(size_name), "%zuKB", page_size >> 10);
	for (v2 = 1; v2 >= 0; v2--) {
		struct hierarchy again;

		if (!find_dir(v2, &h))
			continue;
		again = h;
		if (blocking_limit(&h, size_name, false, need, buf, len) ||
		    blocking_limit(&again, size_name, true, need, buf, len))
			return true;
	}
	return false;
}
