/* SPDX-License-Identifier: MIT */
/* udma hugepages: the record of what --reserve added (see hugepage_record.h). */
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/file.h>
#include <sys/stat.h>
#include <udma/udma.h>
#include <unistd.h>

#include "hugepage_record.h"

#define RUN_DIR_DEFAULT "/run/udma"

static int fail(char *err, size_t len, int errnum, const char *what, const struct hp_record *r)
{
	snprintf(err, len, "%s %s/%s (udma's record of the hugepages it reserved): %s", what, r->dir, r->name,
		 strerror(errnum));
	return -errnum;
}

/* "pages N\nothers M\n" and nothing else. */
static int parse(const char *s, struct hp_record *r)
{
	int n = 0;

	if (sscanf(s, "pages %lu\nothers %lu\n%n", &r->pages, &r->others, &n) != 2 || !n || s[n] ||
	    strchr(s, '-'))
		return -1;
	return 0;
}

static int open_dir(struct hp_record *r, char *err, size_t len)
{
	struct stat st;

	if (mkdir(r->dir, 0700) && errno != EEXIST)
		return fail(err, len, errno, "cannot create the directory of", r);
	r->dirfd = open(r->dir, O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC);
	if (r->dirfd < 0)
		return fail(err, len, errno, "cannot open the directory of", r);
	if (fstat(r->dirfd, &st))
		return fail(err, len, errno, "cannot stat the directory of", r);
	if (st.st_uid != geteuid() || (st.st_mode & 077)) {
		snprintf(err, len,
			 "%s is not private (owner %u, mode %04o): udma keeps its record of the hugepages it "
			 "reserved only in a directory of its own user with mode 0700; chown and chmod 700 "
			 "it, or set UDMA_RUN_DIR",
			 r->dir, (unsigned)st.st_uid, (unsigned)(st.st_mode & 07777));
		return -EPERM;
	}
	if (flock(r->dirfd, LOCK_EX))
		return fail(err, len, errno, "cannot lock", r);
	return 0;
}

int hp_record_open(struct hp_record *r, size_t page_size, int node, char *err, size_t len)
{
	const char *dir = getenv("UDMA_RUN_DIR");
	char buf[96];
	ssize_t n;
	int fd, rc;

	*r = (struct hp_record){.dirfd = -1};
	snprintf(r->dir, sizeof(r->dir), "%s", dir && *dir ? dir : RUN_DIR_DEFAULT);
	if (node == UDMA_NUMA_ANY)
		snprintf(r->name, sizeof(r->name), "hugepages-%zukB", page_size >> 10);
	else
		snprintf(r->name, sizeof(r->name), "hugepages-%zukB-node%d", page_size >> 10, node);
	if ((rc = open_dir(r, err, len)))
		return rc;
	fd = openat(r->dirfd, r->name, O_RDONLY | O_NOFOLLOW | O_CLOEXEC);
	if (fd < 0)
		return errno == ENOENT ? 0 : fail(err, len, errno, "cannot open", r);
	n = read(fd, buf, sizeof(buf) - 1);
	rc = errno;
	close(fd);
	if (n < 0)
		return fail(err, len, rc, "cannot read", r);
	buf[n] = '\0';
	if (parse(buf, r)) {
		snprintf(err, len,
			 "%s/%s, udma's record of the hugepages it reserved, is damaged (not a count): "
			 "remove it (then --release gives back nothing, --release-all everything free)",
			 r->dir, r->name);
		return -EINVAL;
	}
	return 0;
}

int hp_record_save(struct hp_record *r, unsigned long pages, unsigned long others, char *err, size_t len)
{
	char tmp[80], val[64];
	int fd, n, rc;

	if (!pages) {
		if (unlinkat(r->dirfd, r->name, 0) && errno != ENOENT)
			return fail(err, len, errno, "cannot remove", r);
		r->pages = r->others = 0;
		return 0;
	}
	snprintf(tmp, sizeof(tmp), ".%s.new", r->name);
	n = snprintf(val, sizeof(val), "pages %lu\nothers %lu\n", pages, others);
	fd = openat(r->dirfd, tmp, O_WRONLY | O_CREAT | O_TRUNC | O_NOFOLLOW | O_CLOEXEC, 0600);
	if (fd < 0)
		return fail(err, len, errno, "cannot write the new", r);
	errno = 0;
	if (fchmod(fd, 0600) || write(fd, val, (size_t)n) != n || fsync(fd)) {
		rc = errno ? errno : EIO;
		close(fd);
		unlinkat(r->dirfd, tmp, 0);
		return fail(err, len, rc, "cannot write the new", r);
	}
	close(fd);
	if (renameat(r->dirfd, tmp, r->dirfd, r->name)) {
		rc = errno;
		unlinkat(r->dirfd, tmp, 0);
		return fail(err, len, rc, "cannot replace", r);
	}
	r->pages = pages;
	r->others = others;
	return 0;
}

unsigned long hp_record_claimable(const struct hp_record *r, unsigned long total)
{
	unsigned long above = total > r->others ? total - r->others : 0;

	return r->pages < above ? r->pages : above;
}

void hp_record_close(struct hp_record *r)
{
	if (r->dirfd >= 0)
		close(r->dirfd); /* and with it the lock */
	r->dirfd = -1;
}
