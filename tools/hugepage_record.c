/* SPDX-License-Identifier: MIT */
/* udma hugepages: the record of what --reserve added (see hugepage_record.h). */
#include <errno.h>
#include <limits.h>
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

/* This boot's id (/proc/sys/kernel/random/boot_id): a record made before a
 * reboot speaks of pools that are gone. 0, or a negative errno. */
static int boot_id(char *id, size_t len)
{
	ssize_t n;
	int fd = open("/proc/sys/kernel/random/boot_id", O_RDONLY | O_CLOEXEC);

	if (fd < 0)
		return -errno;
	n = read(fd, id, len - 1);
	close(fd);
	if (n <= 0)
		return n < 0 ? -errno : -EIO;
	id[n] = '\0';
	id[strcspn(id, "\n")] = '\0';
	return 0;
}

/* One "NAME N\n" line at *s: a count no larger than a pool can be (LONG_MAX;
 * out of range is damage, not a value to clamp). */
static int parse_count(const char **s, const char *name, unsigned long *out)
{
	size_t len = strlen(name);
	char *end;

	if (strncmp(*s, name, len) || (*s)[len] != ' ' || (*s)[len + 1] < '0' || (*s)[len + 1] > '9')
		return -1;
	errno = 0;
	*out = strtoul(*s + len + 1, &end, 10);
	if (errno || *out > LONG_MAX || *end != '\n')
		return -1;
	*s = end + 1;
	return 0;
}

/* "pages N\nothers M\nboot ID\n" and nothing else; *boot points into s (""
 * for a record of an earlier udma that had no boot line: of unknown boot). */
static int parse(char *s, struct hp_record *r, const char **boot)
{
	const char *p = s;
	size_t n;

	if (parse_count(&p, "pages", &r->pages) || parse_count(&p, "others", &r->others))
		return -1;
	*boot = p;
	if (!*p)
		return 0;
	if (strncmp(p, "boot ", 5))
		return -1;
	*boot = p + 5;
	n = strcspn(*boot, "\n");
	if (!n || n >= sizeof(r->boot) || strcmp(*boot + n, "\n"))
		return -1;
	s[*boot - s + n] = '\0';
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
	const char *dir = getenv("UDMA_RUN_DIR"), *boot;
	char buf[160];
	struct stat st;
	ssize_t n;
	int fd, rc;

	*r = (struct hp_record){.dirfd = -1};
	snprintf(r->dir, sizeof(r->dir), "%s", dir && *dir ? dir : RUN_DIR_DEFAULT);
	if (node == UDMA_NUMA_ANY)
		snprintf(r->name, sizeof(r->name), "hugepages-%zukB", page_size >> 10);
	else
		snprintf(r->name, sizeof(r->name), "hugepages-%zukB-node%d", page_size >> 10, node);
	if ((rc = boot_id(r->boot, sizeof(r->boot)))) {
		snprintf(err, len,
			 "cannot read /proc/sys/kernel/random/boot_id (which boot udma's record of "
			 "reserved hugepages belongs to): %s",
			 strerror(-rc));
		return rc;
	}
	if ((rc = open_dir(r, err, len)))
		return rc;
	/* Not a FIFO to hang on, not a link to follow: a regular file or nothing. */
	fd = openat(r->dirfd, r->name, O_RDONLY | O_NOFOLLOW | O_NONBLOCK | O_CLOEXEC);
	if (fd < 0 && errno != ELOOP)
		return errno == ENOENT ? 0 : fail(err, len, errno, "cannot open", r);
	if (fd < 0 || fstat(fd, &st) || !S_ISREG(st.st_mode)) {
		if (fd >= 0)
			close(fd);
		snprintf(err, len,
			 "%s/%s, udma's record of the hugepages it reserved, is not a regular file: remove "
			 "it (then --release gives back nothing, --release-all everything free)",
			 r->dir, r->name);
		return -EINVAL;
	}
	n = read(fd, buf, sizeof(buf) - 1);
	rc = errno;
	close(fd);
	if (n < 0)
		return fail(err, len, rc, "cannot read", r);
	buf[n] = '\0';
	if (parse(buf, r, &boot)) {
		r->pages = r->others = 0;
		snprintf(err, len,
			 "%s/%s, udma's record of the hugepages it reserved, is damaged (not two counts and "
			 "a boot id): remove it (then --release gives back nothing, --release-all "
			 "everything free)",
			 r->dir, r->name);
		return -EINVAL;
	}
	if (strcmp(boot, r->boot)) {
		r->stale = true; /* the pools it speaks of went with that boot */
		r->pages = r->others = 0;
	}
	return 0;
}

int hp_record_save(struct hp_record *r, unsigned long pages, unsigned long others, char *err, size_t len)
{
	char tmp[PATH_MAX + 80], val[160];
	int fd, n, rc;

	if (!pages) {
		if (unlinkat(r->dirfd, r->name, 0) && errno != ENOENT)
			return fail(err, len, errno, "cannot remove", r);
		r->pages = r->others = 0;
		return 0;
	}
	/* A name of its own (O_EXCL, so never an existing file, FIFO or link). */
	snprintf(tmp, sizeof(tmp), "%s/.%s.XXXXXX", r->dir, r->name);
	n = snprintf(val, sizeof(val), "pages %lu\nothers %lu\nboot %s\n", pages, others, r->boot);
	fd = mkostemp(tmp, O_CLOEXEC);
	if (fd < 0)
		return fail(err, len, errno, "cannot write the new", r);
	errno = 0;
	if (fchmod(fd, 0600) || write(fd, val, (size_t)n) != n || fsync(fd)) {
		rc = errno ? errno : EIO;
		close(fd);
		unlink(tmp);
		return fail(err, len, rc, "cannot write the new", r);
	}
	close(fd);
	if (renameat(AT_FDCWD, tmp, r->dirfd, r->name)) {
		rc = errno;
		unlink(tmp);
		return fail(err, len, rc, "cannot replace", r);
	}
	r->pages = pages;
	r->others = others;
	r->stale = false;
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
