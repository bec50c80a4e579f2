/* SPDX-License-Identifier: MIT */
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <grp.h>
#include <limits.h>
#include <pwd.h>
#include <sched.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/mount.h>
#include <sys/prctl.h>
#include <sys/stat.h>
#include <sys/resource.h>
#include <sys/wait.h>
#include <unistd.h>

#include "tests/support/helpers.h"
#include "tests/support/qemu_user.h"

static unsigned udma_log2_size(size_t v)
{
	return 63u - (unsigned)__builtin_clzll(v);
}

static int count_fds(void)
{
	DIR *d = opendir("/proc/self/fd");
	struct dirent *de;
	int n = 0;

	while (d && (de = readdir(d)))
		n += de->d_name[0] != '.';
	if (d)
		closedir(d);
	return n - 1; /* the DIR's own fd */
}

/* Mappings that come and go on their own, not the library's doing. */
static int foreign_mapping(const char *line)
{
	char perms[8] = "";
	unsigned long inode = 1;

	/* Anonymous rwx: valgrind's translation cache, which grows and splits as it
	 * pleases; the library never maps executable memory. */
	if (sscanf(line, "%*s %7s %*s %*s %lu", perms, &inode) == 2 && !strcmp(perms, "rwxp") && inode == 0 &&
	    !strchr(line, '/') && !strchr(line, '['))
		return 1;
#if defined(__SANITIZE_ADDRESS__) || defined(__SANITIZE_THREAD__)
	/* Sanitizer allocators map memory as they go: count only udma's named mappings. */
	if (!strstr(line, "udma:"))
		return 1;
#endif
	return 0;
}

void th_snapshot_take(struct th_snapshot *s)
{
	char line[512];
	size_t used = 0, len;
	FILE *f = fopen("/proc/self/maps", "re");

	s->maps = 0;
	s->text[0] = 0;
	while (f && fgets(line, sizeof(line), f)) {
		if (foreign_mapping(line))
			continue;
		s->maps++;
		len = strlen(line);
		if (used + len < sizeof(s->text)) {
			memcpy(s->text + used, line, len + 1);
			used += len;
		}
	}
	if (f)
		fclose(f);
	s->locked_kb = s->pinned_kb = 0;
	f = fopen("/proc/self/status", "re");
	while (f && fgets(line, sizeof(line), f))
		if (!sscanf(line, "VmLck: %zu kB", &s->locked_kb))
			sscanf(line, "VmPin: %zu kB", &s->pinned_kb);
	if (f)
		fclose(f);
	s->fds = count_fds();
}

/* Print the lines of a that are not in b. */
static void lines_only_in(const char *tag, const char *a, const char *b)
{
	const char *l, *nl;

	for (l = a; *l && (nl = strchr(l, '\n')); l = nl + 1) {
		char line[512];

		snprintf(line, sizeof(line), "%.*s", (int)(nl - l + 1), l);
		if (!strstr(b, line))
			print_error("  %s %s", tag, line);
	}
}

int th_snapshot_compare(const struct th_snapshot *before, const char *what)
{
	static struct th_snapshot now;

	th_snapshot_take(&now);
	if (now.fds == before->fds && now.maps == before->maps && now.locked_kb == before->locked_kb &&
	    now.pinned_kb == before->pinned_kb)
		return 0;
	print_error(
		"%s leaked: fds %d -> %d, mappings %d -> %d, locked %zu -> %zu kB, pinned %zu -> %zu kB\n",
		what, before->fds, now.fds, before->maps, now.maps, before->locked_kb, now.locked_kb,
		before->pinned_kb, now.pinned_kb);
	lines_only_in("gone:", before->text, now.text);
	lines_only_in("new: ", now.text, before->text);
	return -1;
}

static struct {
	struct rlimit saved;
	int *fds;
	unsigned n;
} exhausted;

unsigned th_fds_free(void)
{
	struct rlimit rl;
	unsigned n = 0;
	rlim_t fd;

	getrlimit(RLIMIT_NOFILE, &rl);
	for (fd = 0; fd < rl.rlim_cur; fd++)
		n += fcntl((int)fd, F_GETFD) < 0;
	return n;
}

void th_fds_exhaust(unsigned leave)
{
	struct rlimit rl;
	int top = 0, fd, src = open("/dev/null", O_RDONLY | O_CLOEXEC);
	DIR *d = opendir("/proc/self/fd");
	struct dirent *de;

	assert_true(src >= 0 && d);
	while ((de = readdir(d)))
		if (atoi(de->d_name) > top)
			top = atoi(de->d_name);
	closedir(d);
	assert_int_equal(getrlimit(RLIMIT_NOFILE, &exhausted.saved), 0);
	rl = exhausted.saved;
	rl.rlim_cur = (rlim_t)top + 1 + 16;
	assert_true(rl.rlim_cur <= exhausted.saved.rlim_cur);
	assert_int_equal(setrlimit(RLIMIT_NOFILE, &rl), 0);
	exhausted.fds = malloc(rl.rlim_cur * sizeof(int));
	assert_non_null(exhausted.fds);
	exhausted.fds[0] = src;
	exhausted.n = 1;
	while ((fd = fcntl(src, F_DUPFD_CLOEXEC, 0)) >= 0)
		exhausted.fds[exhausted.n++] = fd;
	while (leave-- && exhausted.n > 1)
		close(exhausted.fds[--exhausted.n]);
}

void th_fds_restore(void)
{
	while (exhausted.n)
		close(exhausted.fds[--exhausted.n]);
	free(exhausted.fds);
	exhausted.fds = NULL;
	setrlimit(RLIMIT_NOFILE, &exhausted.saved);
}

static struct th_snapshot test_start;

int th_leak_setup(void **state)
{
	(void)state;
	th_snapshot_take(&test_start);
	return 0;
}

int th_leak_teardown(void **state)
{
	(void)state;
	return th_snapshot_compare(&test_start, "test");
}

/* What th_hugepages_ensure added, given back at exit (deltas: the pools are shared). */
static unsigned long added_2m, added_1g;

void th_hugepages_restore(void)
{
	udma_hugepage_unreserve(UDMA_PAGE_2M, UDMA_NUMA_ANY, added_2m);
	udma_hugepage_unreserve(UDMA_PAGE_1G, UDMA_NUMA_ANY, added_1g);
	added_2m = added_1g = 0;
}

int th_hugepages_ensure(size_t page_size, unsigned long count)
{
	unsigned long *added = page_size == UDMA_PAGE_1G ? &added_1g : &added_2m, more = 0;
	long avail = udma_hugepage_available(page_size, UDMA_NUMA_ANY);
	char why[256];
	int rc;

	if (th_qemu_lacks(TH_EMUL_MADVISE, why, sizeof(why))) {
		printf("# skip: qemu-user: %s: hugepages would never be faulted in\n", why);
		return 0;
	}
	if (avail < 0) {
		printf("# skip: the kernel offers no %zu kB pages\n", page_size >> 10);
		return 0;
	}
	if ((unsigned long)avail >= count)
		return 1;
	if (geteuid() != 0) {
		printf("# skip: %lu free %zu kB hugepages needed, %ld free, and not root to reserve them\n",
		       count, page_size >> 10, avail);
		return 0;
	}
	if (!added_2m && !added_1g)
		atexit(th_hugepages_restore);
	rc = udma_hugepage_reserve(page_size, UDMA_NUMA_ANY, count, &more);
	*added += more;
	if (rc) {
		printf("# skip: %s\n", udma_last_error());
		return 0;
	}
	return 1;
}

/* Held pages: mapped (so reserved for us) but never touched. */
static struct {
	void *addr;
	size_t len;
} held[4];
static int nheld;

int th_hugepages_hold(size_t page_size, long leave)
{
	long avail = udma_hugepage_available(page_size, UDMA_NUMA_ANY);
	int flags = MAP_PRIVATE | MAP_ANONYMOUS | MAP_HUGETLB |
		    (int)(udma_log2_size(page_size) << MAP_HUGE_SHIFT);
	void *a;

	if (avail < 0 || nheld == 4)
		return 0;
	if (avail <= leave)
		return 1;
	/* Without MAP_NORESERVE the kernel reserves every page at mmap time. */
	a = mmap(NULL, (size_t)(avail - leave) * page_size, PROT_READ | PROT_WRITE, flags, -1, 0);
	if (a == MAP_FAILED) {
		printf("# cannot hold %ld hugepages of %zu kB\n", avail - leave, page_size >> 10);
		return 0;
	}
	held[nheld].addr = a;
	held[nheld++].len = (size_t)(avail - leave) * page_size;
	return udma_hugepage_available(page_size, UDMA_NUMA_ANY) == leave;
}

void th_hugepages_unhold(void)
{
	while (nheld > 0) {
		nheld--;
		munmap(held[nheld].addr, held[nheld].len);
	}
}

struct udma_ctx *th_ctx(void)
{
	struct udma_ctx_opts o = {.iova_mode = UDMA_IOVA_AUTO, .numa_node = UDMA_NUMA_ANY};
	struct udma_ctx *ctx = NULL;

	assert_int_equal(udma_ctx_create(&o, &ctx), 0);
	return ctx;
}

struct udma_pool *th_pool(struct udma_ctx *ctx, size_t obj_size, unsigned count, unsigned cache,
			  unsigned flags, const char *name)
{
	struct udma_pool_opts o = {.obj_size = obj_size,
				   .count = count,
				   .cache_size = cache,
				   .numa_node = UDMA_NUMA_ANY,
				   .flags = flags,
				   .name = name};
	struct udma_pool *p = NULL;
	int rc = udma_pool_create(ctx, &o, &p);

	if (rc)
		print_error("udma_pool_create: %s\n", udma_last_error());
	assert_int_equal(rc, 0);
	return p;
}

uint64_t th_pagemap_pa(const void *va)
{
	uint64_t e = 0;
	int fd = open("/proc/self/pagemap", O_RDONLY | O_CLOEXEC);

	if (fd < 0)
		return 0;
	if (pread(fd, &e, sizeof(e), (off_t)((uintptr_t)va / 4096 * sizeof(e))) != sizeof(e))
		e = 0;
	close(fd);
	if (!(e & (1ull << 63)) || !(e & ((1ull << 55) - 1)))
		return 0;
	return (e & ((1ull << 55) - 1)) * 4096 + (uintptr_t)va % 4096;
}

pid_t th_fork_child(int drop_root, size_t memlock)
{
	pid_t pid = fork();

	if (pid != 0)
		return pid;
	if (memlock != (size_t)-1) {
		struct rlimit rl = {memlock, memlock};

		if (setrlimit(RLIMIT_MEMLOCK, &rl))
			_exit(100);
	}
	if (drop_root && geteuid() == 0) {
		struct passwd *pw = getpwnam("nobody");

		if (!pw || setgroups(0, NULL) || setgid(pw->pw_gid) || setuid(pw->pw_uid))
			_exit(101);
		/* A uid change makes /proc/self root's; a process started as nobody has it. */
		prctl(PR_SET_DUMPABLE, 1);
	}
	return 0;
}

int th_wait_child(pid_t pid)
{
	int status;

	while (waitpid(pid, &status, 0) < 0)
		if (errno != EINTR)
			return -1;
	return WIFEXITED(status) ? WEXITSTATUS(status) : -1;
}

int th_run_child(int (*fn)(void *), void *arg, int drop_root, size_t memlock)
{
	pid_t pid = th_fork_child(drop_root, memlock);

	if (pid < 0)
		return -1;
	if (pid == 0)
		_exit(fn(arg));
	return th_wait_child(pid);
}

#define SYS_HUGEPAGES "/sys/kernel/mm/hugepages"
#define NO_FAKE	      77 /* the child's status when it could not make the stand-in */

static int fake_write(size_t page_size, const char *file, unsigned long v)
{
	char path[160];
	FILE *f;
	int rc;

	snprintf(path, sizeof(path), SYS_HUGEPAGES "/hugepages-%zukB/%s", page_size >> 10, file);
	if (!(f = fopen(path, "we")))
		return -1;
	rc = fprintf(f, "%lu\n", v) < 0;
	return fclose(f) || rc ? -1 : 0;
}

long th_fake_read(size_t page_size, const char *file)
{
	char path[160];
	long v = -1;
	FILE *f;

	snprintf(path, sizeof(path), SYS_HUGEPAGES "/hugepages-%zukB/%s", page_size >> 10, file);
	if ((f = fopen(path, "re"))) {
		if (fscanf(f, "%ld", &v) != 1)
			v = -1;
		fclose(f);
	}
	return v;
}

/* In the child: 0 with the stand-in in place, or NO_FAKE. */
static int fake_pools(const struct th_fake_pool *pools, unsigned n)
{
	char dir[96];
	unsigned i;

	if (unshare(CLONE_NEWNS) || mount(NULL, "/", NULL, MS_REC | MS_PRIVATE, NULL) ||
	    mount("udma-test", SYS_HUGEPAGES, "tmpfs", MS_NOSUID | MS_NODEV, "mode=0755"))
		return NO_FAKE;
	for (i = 0; i < n; i++) {
		snprintf(dir, sizeof(dir), SYS_HUGEPAGES "/hugepages-%zukB", pools[i].page_size >> 10);
		if (mkdir(dir, 0755) || fake_write(pools[i].page_size, "nr_hugepages", pools[i].total) ||
		    fake_write(pools[i].page_size, "free_hugepages", pools[i].free) ||
		    fake_write(pools[i].page_size, "resv_hugepages", 0) ||
		    fake_write(pools[i].page_size, "surplus_hugepages", 0))
			return NO_FAKE;
	}
	return 0;
}

int th_fake_hugepages(const struct th_fake_pool *pools, unsigned n, int (*fn)(void *), void *arg)
{
	int status, rc;
	pid_t pid = fork();

	if (pid < 0)
		return -1;
	if (pid == 0) {
		rc = fake_pools(pools, n);
		_exit(rc ? rc : fn(arg));
	}
	if (waitpid(pid, &status, 0) < 0)
		return -1;
	if (WIFEXITED(status) && WEXITSTATUS(status) == NO_FAKE) {
		printf("# skip: no stand-in hugepage pools (needs root and a mount namespace)\n");
		skip();
	}
	return WIFEXITED(status) ? WEXITSTATUS(status) : -1;
}

void th_thread_start(pthread_t *t, void *(*fn)(void *), void *arg)
{
	pthread_attr_t a;

	pthread_attr_init(&a);
	pthread_attr_setstacksize(&a, 256 << 10);
	assert_int_equal(pthread_create(t, &a, fn, arg), 0);
	pthread_attr_destroy(&a);
}

/* Each thread takes a malloc arena while all are alive, so later threads find
 * arenas (and stacks) ready instead of mapping new ones. */
static void *warm_up(void *arg)
{
	void *volatile m = malloc(64); /* volatile: not optimized away */

	pthread_barrier_wait(arg);
	free(m);
	return NULL;
}

void th_threads_warm_up(unsigned n)
{
	pthread_t t[TH_MAX_THREADS];
	pthread_barrier_t b;
	unsigned i;

	n = n < TH_MAX_THREADS ? n : TH_MAX_THREADS;
	pthread_barrier_init(&b, NULL, n);
	for (i = 0; i < n; i++)
		th_thread_start(&t[i], warm_up, &b);
	for (i = 0; i < n; i++)
		pthread_join(t[i], NULL);
	pthread_barrier_destroy(&b);
}

int th_cmp_ptr(const void *a, const void *b)
{
	uintptr_t x = (uintptr_t) * (void *const *)a, y = (uintptr_t) * (void *const *)b;

	return (x > y) - (x < y);
}

void **th_pool_take_all(struct udma_pool *p, unsigned count)
{
	void **objs = malloc(count * sizeof(*objs));
	unsigned i;

	assert_non_null(objs);
	for (i = 0; i < count; i++) {
		objs[i] = udma_pool_get(p);
		assert_non_null(objs[i]);
		assert_int_not_equal(udma_pool_index(p, objs[i]), UINT_MAX);
	}
	assert_null(udma_pool_get(p));
	qsort(objs, count, sizeof(*objs), th_cmp_ptr);
	for (i = 1; i < count; i++)
		assert_true(objs[i - 1] != objs[i]);
	return objs;
}

void th_stderr_start(struct th_stderr *c)
{
	fflush(stderr);
	c->fd = memfd_create("stderr", MFD_CLOEXEC);
	c->saved = dup(2);
	assert_true(c->fd >= 0 && c->saved >= 0);
	assert_int_equal(dup2(c->fd, 2), 2);
}

const char *th_stderr_end(struct th_stderr *c)
{
	ssize_t n;

	fflush(stderr);
	dup2(c->saved, 2);
	close(c->saved);
	n = pread(c->fd, c->text, sizeof(c->text) - 1, 0);
	close(c->fd);
	c->text[n > 0 ? n : 0] = 0;
	return c->text;
}

int th_vma_has_flag(const void *va, const char *flag)
{
	char line[512], want[8];
	unsigned long lo, hi;
	int in = 0, found = 0;
	FILE *f = fopen("/proc/self/smaps", "re");

	snprintf(want, sizeof(want), " %s", flag);
	while (f && fgets(line, sizeof(line), f)) {
		if (sscanf(line, "%lx-%lx ", &lo, &hi) == 2 && strchr(line, '-') < strchr(line, ' '))
			in = (uintptr_t)va >= lo && (uintptr_t)va < hi;
		else if (in && !strncmp(line, "VmFlags:", 8))
			found = strstr(line, want) != NULL;
	}
	if (f)
		fclose(f);
	return found;
}

void th_expect_region_error(struct udma_ctx *ctx, const struct udma_region_opts *o, int err, const char *says)
{
	struct udma_region *r = NULL;
	int rc = udma_region_create(ctx, o, &r);

	printf("# dma_heap \"%s\", page_size %zu, node %d, flags 0x%x: %d, %s\n",
	       o->dma_heap ? o->dma_heap : "", o->page_size, o->numa_node, o->flags, rc, udma_last_error());
	if (rc == 0)
		udma_region_destroy(r);
	assert_int_equal(rc, -err);
	if (!strstr(udma_last_error(), says))
		fail_msg("the message does not say \"%s\": %s", says, udma_last_error());
}

void th_expect_dmabuf_error(struct udma_region *r, int err, const char *says)
{
	int fd = udma_region_dmabuf(r);

	printf("# udma_region_dmabuf: %d, %s\n", fd, udma_last_error());
	if (fd >= 0)
		close(fd);
	assert_int_equal(fd, -err);
	if (!strstr(udma_last_error(), says))
		fail_msg("the message does not say \"%s\": %s", says, udma_last_error());
}
