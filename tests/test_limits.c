/* SPDX-License-Identifier: MIT */
/*
 * Messages under exhausted limits must name the limit, not a cause it looks
 * like: out of file descriptors is not "no hugetlbfs"; vm.max_map_count is not
 * "out of address space"; a hugetlb cgroup that refuses free hugepages is
 * kept as the first cause when 4 KiB pages then fail too. Global state
 * (sysctls, nr_hugepages beyond the fixture) is never changed: the mapping
 * count is used up in a child, the cgroup is one of our own, removed after.
 */
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include "tests/support/helpers.h"
#include "tests/support/qemu_user.h"
#include "lib/mem/mem.h"

static struct udma_ctx *ctx_new(unsigned flags)
{
	struct udma_ctx_opts o = {.iova_mode = UDMA_IOVA_AUTO, .numa_node = UDMA_NUMA_ANY, .flags = flags};
	struct udma_ctx *ctx;

	assert_int_equal(udma_ctx_create(&o, &ctx), 0);
	return ctx;
}

static int region_new(struct udma_ctx *ctx, size_t size, size_t page_size, struct udma_region **r)
{
	struct udma_region_opts o = {
		.size = size, .page_size = page_size, .numa_node = UDMA_NUMA_ANY, .name = "limits"};

	return udma_region_create(ctx, &o, r);
}

/* The message names file descriptors, with the limit, and no absence. */
static void assert_fd_message(const char *what)
{
	const char *m = udma_last_error();

	if (!strstr(m, "out of file descriptors") || !strstr(m, "RLIMIT_NOFILE") || !strstr(m, "ulimit -n") ||
	    strstr(m, "not offered") || strstr(m, "no hugetlbfs"))
		fail_msg("%s: the message does not name the fd limit: %s", what, m);
}

/* ---- out of file descriptors ---- */

/* No fd left: asking for a hugepage size, the automatic one or a context
 * is -EMFILE and says so; 4 KiB pages need no fd in VA mode and still work,
 * and one in PA mode, for their long-term pin. */
static void no_fd_left(void)
{
	struct udma_ctx *ctx = ctx_new(0), *other = (void *)1;
	struct udma_region *r = (void *)1;
	struct udma_hugepage_count c;
	int rc;

	th_fds_exhaust(0);
	assert_int_equal(th_fds_free(), 0);
	rc = region_new(ctx, UDMA_PAGE_2M, UDMA_PAGE_2M, &r);
	th_fds_restore();
	th_assert_err(rc, EMFILE);
	assert_null(r);
	assert_fd_message("udma_region_create(2M)");

	th_fds_exhaust(0);
	rc = region_new(ctx, UDMA_PAGE_2M, 0, &r);
	th_fds_restore();
	th_assert_err(rc, EMFILE);
	assert_fd_message("udma_region_create(automatic page size)");

	th_fds_exhaust(0);
	rc = udma_ctx_create(NULL, &other);
	th_fds_restore();
	th_assert_err(rc, EMFILE);
	assert_null(other);
	assert_fd_message("udma_ctx_create");

	th_fds_exhaust(0);
	rc = udma_hugepage_count(UDMA_PAGE_2M, UDMA_NUMA_ANY, &c);
	th_fds_restore();
	th_assert_err(rc, EMFILE);
	assert_fd_message("udma_hugepage_count");

	th_fds_exhaust(0);
	rc = region_new(ctx, 64 << 10, UDMA_PAGE_4K, &r);
	th_fds_restore();
	if (udma_ctx_iova_mode(ctx) == UDMA_IOVA_PA) {
		th_assert_err(rc, EMFILE);
		assert_null(r);
		assert_fd_message("udma_region_create(4K) in PA mode (its long-term pin is an io_uring fd)");
	} else if (rc) {
		fail_msg("a 4 KiB region needs no fd in VA mode, yet: %s", udma_last_error());
	}
	udma_region_destroy(r);
	udma_ctx_destroy(ctx);
}

/* With k fds left, every step that takes one fails in turn: each failure is
 * -EMFILE, named as such, and leaves nothing behind; enough fds, and it works. */
static void few_fds_left(size_t page_size)
{
	struct udma_ctx *ctx = ctx_new(0);
	unsigned leave;
	int ok = 0;

	for (leave = 0; leave < 8 && !ok; leave++) {
		struct udma_region *r = NULL;
		int rc;

		th_fds_exhaust(leave);
		rc = region_new(ctx, 2 * UDMA_PAGE_2M, page_size, &r);
		th_fds_restore();
		if (rc == 0) {
			ok = 1;
			udma_region_destroy(r);
			continue;
		}
		if (rc != -EMFILE)
			fail_msg("%u fds left: expected -EMFILE, got %d: %s", leave, rc, udma_last_error());
		assert_fd_message("udma_region_create");
	}
	if (!ok)
		fail_msg("still failing with 7 fds free: %s", udma_last_error());
	udma_ctx_destroy(ctx);
}

static void fds_without_hugepages(void **state)
{
	(void)state;
	no_fd_left();
}

static void fds_with_hugepages(void **state)
{
	(void)state;
	if (!th_hugepages_ensure(UDMA_PAGE_2M, 4))
		skip();
	no_fd_left();
	few_fds_left(UDMA_PAGE_2M);
	few_fds_left(0);
}

/* A simulated device takes eventfds: out of fds, that is what it says. */
static void fds_device(void **state)
{
	struct udma_ctx *ctx = ctx_new(0);
	struct udma_dev *dev = (void *)1;
	int rc;

	(void)state;
	th_fds_exhaust(0);
	rc = udma_dev_open(ctx, "sim:limits", &dev);
	th_fds_restore();
	th_assert_err(rc, EMFILE);
	assert_null(dev);
	assert_fd_message("udma_dev_open(sim)");
	udma_ctx_destroy(ctx);
}

/* ---- vm.max_map_count, used up in a child ---- */

#define CHILD_CHECK(cond, ...)                                \
	do {                                                  \
		if (!(cond)) {                                \
			printf("# child: " __VA_ARGS__);      \
			printf(" (%s)\n", udma_last_error()); \
			fflush(stdout);                       \
			return 1;                             \
		}                                             \
	} while (0)

/* The library's own count of this process's mappings (the lines of
 * /proc/self/maps), nonzero. */
static unsigned long map_lines(void)
{
	unsigned long count, max;

	udma__map_count_full(&count, &max);
	return count;
}

static unsigned long max_map_count(void)
{
	unsigned long count, max;

	udma__map_count_full(&count, &max);
	return max;
}

/* Fail with -ENOMEM naming vm.max_map_count and leave no mapping behind, or
 * work; *failed counts the failures. */
static int map_limited(int rc, unsigned long before, const char *what, unsigned *failed)
{
	if (rc == 0)
		return 0;
	CHILD_CHECK(rc == -ENOMEM, "%s: expected -ENOMEM, got %d", what, rc);
	CHILD_CHECK(strstr(udma_last_error(), "vm.max_map_count") &&
			    strstr(udma_last_error(), "sysctl vm.max_map_count="),
		    "%s: the message does not name vm.max_map_count", what);
	CHILD_CHECK(map_lines() == before, "%s left mappings behind: %lu -> %lu", what, before, map_lines());
	++*failed;
	return 0;
}

/* A device in a thread (its BAR and its stack are mappings): fails naming
 * vm.max_map_count, or works. */
static int device_limited(struct udma_ctx *ctx, unsigned *failed)
{
	struct udma_dev *dev;
	int rc = udma_dev_open(ctx, "sim:limits", &dev);

	if (rc == 0) {
		udma_dev_close(dev);
		return 0;
	}
	CHILD_CHECK(rc == -ENOMEM || rc == -EAGAIN, "udma_dev_open: expected -ENOMEM or -EAGAIN, got %d", rc);
	CHILD_CHECK(strstr(udma_last_error(), "vm.max_map_count"),
		    "udma_dev_open: the message does not name vm.max_map_count");
	++*failed;
	return 0;
}

/* Fill the mapping table with one-page mappings of alternating protection
 * (so none merge) until the kernel refuses one, then free them one by one:
 * region and context creation fail naming the limit until there is room. */
static int map_count_child(void *arg)
{
	size_t page_size = *(size_t *)arg, cap = max_map_count() + 16, n = 0, i;
	void **maps = malloc(cap * sizeof(*maps));
	unsigned failed_region = 0, failed_ctx = 0, failed_dev = 0;
	struct udma_ctx *ctx;
	struct udma_region *r;
	int done = 0;

	CHILD_CHECK(maps && cap > 16 && map_lines() > 0, "no vm.max_map_count or /proc/self/maps to read");
	CHILD_CHECK(udma_ctx_create(NULL, &ctx) == 0, "udma_ctx_create");
	while (n < cap) {
		void *p = mmap(NULL, 4096, n % 2 ? PROT_READ : PROT_NONE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);

		if (p == MAP_FAILED)
			break;
		maps[n++] = p;
	}
	CHILD_CHECK(n < cap && errno == ENOMEM, "mmap did not stop at the limit (%zu mappings)", n);
	for (i = 0; i < 64 && !done; i++) {
		struct udma_ctx *other = NULL;
		unsigned long before = map_lines();
		int rc = region_new(ctx, 64 << 10, page_size, &r);

		if (map_limited(rc, before, "udma_region_create", &failed_region))
			return 1;
		if (rc == 0) {
			udma_region_destroy(r);
			done = 1;
		}
		before = map_lines();
		rc = udma_ctx_create(NULL, &other);
		if (map_limited(rc, before, "udma_ctx_create", &failed_ctx))
			return 1;
		if (rc == 0)
			udma_ctx_destroy(other);
		if (device_limited(ctx, &failed_dev))
			return 1;
		munmap(maps[--n], 4096);
	}
	CHILD_CHECK(done, "region creation still fails with 64 mappings freed");
	CHILD_CHECK(failed_region > 0 && failed_ctx > 0, "nothing failed at the limit (%u, %u)",
		    failed_region, failed_ctx);
	printf("# at vm.max_map_count: %u region, %u context and %u device creations refused, then room\n",
	       failed_region, failed_ctx, failed_dev);
	while (n)
		munmap(maps[--n], 4096);
	free(maps);
	udma_ctx_destroy(ctx);
	return 0;
}

/* A sanitizer's allocator maps memory of its own at any malloc and aborts
 * when the kernel refuses: at vm.max_map_count that is any moment. */
static void skip_under_sanitizer(void)
{
#if defined(__SANITIZE_ADDRESS__) || defined(__SANITIZE_THREAD__)
	printf("# skip: at vm.max_map_count the sanitizer's own allocator aborts the process\n");
	skip();
#endif
}

static void map_count_4k(void **state)
{
	size_t ps = UDMA_PAGE_4K;

	(void)state;
	skip_under_sanitizer();
	th_skip_if_qemu_lacks(TH_EMUL_MAPS);
	assert_int_equal(th_run_child(map_count_child, &ps, 0, (size_t)-1), 0);
}

static void map_count_2m(void **state)
{
	size_t ps = UDMA_PAGE_2M;

	(void)state;
	skip_under_sanitizer();
	th_skip_if_qemu_lacks(TH_EMUL_MAPS);
	if (!th_hugepages_ensure(UDMA_PAGE_2M, 2))
		skip();
	assert_int_equal(th_run_child(map_count_child, &ps, 0, (size_t)-1), 0);
}

/* ---- a hugetlb cgroup refusing free hugepages ---- */

static char cg_dir[600]; /* the cgroup this test made */
static char cg_ctl[512]; /* its parent's cgroup.subtree_control, if +hugetlb was ours */

static int write_file(const char *dir, const char *file, const char *text)
{
	char path[640];
	int fd, ok;

	snprintf(path, sizeof(path), "%s/%s", dir, file);
	fd = open(path, O_WRONLY | O_CLOEXEC);
	if (fd < 0)
		return -errno;
	ok = write(fd, text, strlen(text)) == (ssize_t)strlen(text);
	ok = ok ? 0 : -errno;
	close(fd);
	return ok;
}

static void first_line(const char *dir, const char *file, char *buf, size_t len)
{
	char path[640];
	FILE *f;

	snprintf(path, sizeof(path), "%s/%s", dir, file);
	f = fopen(path, "re");
	if (!f || !fgets(buf, (int)len, f))
		buf[0] = 0;
	if (f)
		fclose(f);
}

/* This process's cgroup v2 directory, if the v2 hierarchy has hugetlb. */
static int v2_parent(char *dir, size_t len)
{
	char line[1024], mnt[256] = "", path[512] = "", ctl[256] = "";
	FILE *f = fopen("/proc/self/mountinfo", "re");

	while (f && !mnt[0] && fgets(line, sizeof(line), f)) {
		char m[256], type[32];
		const char *sep = strstr(line, " - ");

		if (sep && sscanf(line, "%*s %*s %*s %*s %255s", m) == 1 &&
		    sscanf(sep + 3, "%31s", type) == 1 && !strcmp(type, "cgroup2"))
			snprintf(mnt, sizeof(mnt), "%s", m);
	}
	if (f)
		fclose(f);
	f = fopen("/proc/self/cgroup", "re");
	while (f && fgets(line, sizeof(line), f))
		if (!strncmp(line, "0::", 3))
			sscanf(line + 3, "%511s", path);
	if (f)
		fclose(f);
	if (!mnt[0] || !path[0])
		return 0;
	snprintf(dir, len, "%s%s", mnt, strcmp(path, "/") ? path : "");
	first_line(dir, "cgroup.controllers", ctl, sizeof(ctl));
	return strstr(ctl, "hugetlb") != NULL;
}

/* A cgroup of our own under this process's, with hugetlb.2MB.<file> = 0. */
static int cgroup_make(const char *file)
{
	char parent[512], ctl[256] = "", path[640];

	if (geteuid() != 0) {
		printf("# skip: making a hugetlb cgroup needs root\n");
		return 0;
	}
	if (!v2_parent(parent, sizeof(parent))) {
		printf("# skip: no cgroup v2 hierarchy with the hugetlb controller here\n");
		return 0;
	}
	first_line(parent, "cgroup.subtree_control", ctl, sizeof(ctl));
	cg_ctl[0] = 0;
	if (!strstr(ctl, "hugetlb")) {
		if (write_file(parent, "cgroup.subtree_control", "+hugetlb")) {
			printf("# skip: cannot enable hugetlb under %s: %s\n", parent, strerror(errno));
			return 0;
		}
		snprintf(cg_ctl, sizeof(cg_ctl), "%s", parent);
	}
	snprintf(cg_dir, sizeof(cg_dir), "%s/udma-test-%d", parent, (int)getpid());
	assert_int_equal(mkdir(cg_dir, 0755), 0); /* as cgroups are: others read their limits */
	snprintf(path, sizeof(path), "hugetlb.2MB.%s", file);
	assert_int_equal(write_file(cg_dir, path, "0"), 0);
	return 1;
}

static void cgroup_remove(void)
{
	int i;

	/* A reaped child may take a moment to leave the cgroup. */
	for (i = 0; i < 100 && rmdir(cg_dir) && errno == EBUSY; i++)
		usleep(10000);
	if (cg_ctl[0])
		write_file(cg_ctl, "cgroup.subtree_control", "-hugetlb");
}

struct cg_case {
	const char *limit_file; /* the file set to 0: "max" (faults) or "rsvd.max" (mmap) */
};

/* In the cgroup, as nobody with 64 KiB of RLIMIT_MEMLOCK: hugepages are
 * refused, then 4 KiB pages too. The message keeps both, the cgroup first. */
static int cg_malloc_child(void *arg)
{
	const struct cg_case *c = arg;
	char file[64];
	struct udma_ctx *ctx;
	void *p;

	snprintf(file, sizeof(file), "hugetlb.2MB.%s", c->limit_file);
	CHILD_CHECK(udma_ctx_create(NULL, &ctx) == 0, "udma_ctx_create");
	p = udma_malloc(ctx, 4 << 20, 0, NULL);
	CHILD_CHECK(!p && errno == ENOMEM, "udma_malloc(4 MiB) did not fail with ENOMEM");
	CHILD_CHECK(strstr(udma_last_error(), file) && strstr(udma_last_error(), "hugepages refused") &&
			    strstr(udma_last_error(), "are free") &&
			    strstr(udma_last_error(), "; and 4 KiB pages failed: RLIMIT_MEMLOCK"),
		    "udma_malloc's message lost the first cause");
	udma_ctx_destroy(ctx);
	return 0;
}

/* Joins the cgroup; then, root: a strict region names the limit; as nobody:
 * the fallback keeps it (cg_malloc_child). */
static int cg_child(void *arg)
{
	const struct cg_case *c = arg;
	struct udma_ctx *ctx;
	struct udma_ctx_opts o = {.iova_mode = UDMA_IOVA_AUTO, .numa_node = UDMA_NUMA_ANY};
	struct udma_region *r;
	char file[64];
	int rc;

	snprintf(file, sizeof(file), "hugetlb.2MB.%s", c->limit_file);
	CHILD_CHECK(write_file(cg_dir, "cgroup.procs", "0") == 0, "cannot join %s", cg_dir);
	o.flags = UDMA_CTX_STRICT_HUGE;
	CHILD_CHECK(udma_ctx_create(&o, &ctx) == 0, "udma_ctx_create(STRICT_HUGE)");
	rc = region_new(ctx, 4 << 20, 0, &r);
	CHILD_CHECK(rc == -ENOMEM, "a strict region did not fail with -ENOMEM (%d)", rc);
	CHILD_CHECK(strstr(udma_last_error(), file) && strstr(udma_last_error(), "refused") &&
			    strstr(udma_last_error(), "although"),
		    "the strict region's message does not name %s", file);
	printf("# %s\n", udma_last_error());
	udma_ctx_destroy(ctx);
	rc = th_run_child(cg_malloc_child, arg, 1, 64 << 10);
	CHILD_CHECK(rc == 0, "the unprivileged child failed (%d)", rc);
	return 0;
}

static void cgroup_case(const char *limit_file)
{
	struct cg_case c = {limit_file};
	int rc;

	if (!th_hugepages_ensure(UDMA_PAGE_2M, 4) || !cgroup_make(limit_file))
		skip();
	rc = th_run_child(cg_child, &c, 0, (size_t)-1);
	cgroup_remove();
	assert_int_equal(rc, 0);
}

static void cgroup_refuses_faults(void **state)
{
	(void)state;
	th_skip_if_qemu_lacks(TH_EMUL_MADVISE); /* the faults come from MADV_POPULATE_WRITE */
	cgroup_case("max");
}

static void cgroup_refuses_reservations(void **state)
{
	(void)state;
	cgroup_case("rsvd.max");
}

/* ---- out of pthread keys ---- */

/* Each context takes one pthread key for its pools and one for its heap: with
 * none left, both say so, naming their kind in plain English. */
static void no_pthread_key_left(void **state)
{
	struct udma_pool_opts po = {.obj_size = 64, .count = 8, .numa_node = UDMA_NUMA_ANY};
	struct udma_ctx *ctx = ctx_new(0);
	struct udma_pool *pool = (void *)1;
	static pthread_key_t keys[PTHREAD_KEYS_MAX];
	size_t n = 0;
	int rc;

	(void)state;
	while (n < PTHREAD_KEYS_MAX && pthread_key_create(&keys[n], NULL) == 0)
		n++;
	rc = udma_pool_create(ctx, &po, &pool);
	if (rc != -EAGAIN || pool || !strstr(udma_last_error(), "for the pools' per-thread caches"))
		fail_msg("udma_pool_create: %d %s", rc, udma_last_error());
	if (udma_malloc(ctx, 100, 0, NULL) || !strstr(udma_last_error(), "for the heap's per-thread caches"))
		fail_msg("udma_malloc: %s", udma_last_error());
	while (n > 0)
		pthread_key_delete(keys[--n]);
	udma_ctx_destroy(ctx);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		th_test(fds_without_hugepages),
		th_test(fds_with_hugepages),
		th_test(fds_device),
		th_test(map_count_4k),
		th_test(map_count_2m),
		th_test(cgroup_refuses_faults),
		th_test(cgroup_refuses_reservations),
		th_test(no_pthread_key_left),
	};

	setvbuf(stdout, NULL, _IONBF, 0);
	return cmocka_run_group_tests_name("limits", tests, NULL, NULL);
}
