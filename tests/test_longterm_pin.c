/* SPDX-License-Identifier: MIT */
/*
 * PA-mode regions keep their physical pages for their whole life: the kernel
 * tries to move them (compaction, memory offline, move_pages) and every PFN
 * must stay, with udma_iova still equal to pagemap. A plain mlocked mapping
 * beside them shows that the same attempts do move pages that only mlock
 * holds. Root only (PA mode); offlining needs memory hotplug.
 */
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <linux/filter.h>
#include <linux/seccomp.h>
#include <numaif.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/prctl.h>
#include <sys/syscall.h>
#include <unistd.h>

#include "tests/support/helpers.h"
#include "tests/support/qemu_user.h"
#include "tools/bench/page_move.h"

#define SIZE		   (64ul << 20)
#define PASSES		   5 /* compaction passes at most */
#define OFFLINE_TIMEOUT_MS 3000

struct fixture {
	struct udma_ctx *ctx;
};

/* Why the fixture has no PA context, for the tests that need one. */
static char no_pa[320];

static int setup(void **state)
{
	struct udma_ctx_opts o = {.iova_mode = UDMA_IOVA_PA, .numa_node = UDMA_NUMA_ANY};
	static struct fixture f;
	char why[256];

	th_leak_setup(state);
	*state = NULL;
	snprintf(no_pa, sizeof(no_pa), "PA mode needs root (physical addresses)");
	if (geteuid() != 0 || udma_pfn_readable() != 1)
		return 0;
	if (th_qemu_lacks(TH_EMUL_IO_URING, why, sizeof(why))) {
		snprintf(no_pa, sizeof(no_pa), "qemu-user: %s", why);
		return 0;
	}
	assert_int_equal(udma_ctx_create(&o, &f.ctx), 0);
	*state = &f;
	return 0;
}

static int teardown(void **state)
{
	struct fixture *f = *state;

	if (f)
		udma_ctx_destroy(f->ctx);
	return th_leak_teardown(state);
}

#define NEED_PA(f)                                     \
	do {                                           \
		if (!(f)) {                            \
			printf("# skip: %s\n", no_pa); \
			skip();                        \
		}                                      \
	} while (0)

static long pinned_kb(void)
{
	char line[256];
	long kb = -1;
	FILE *f = fopen("/proc/self/status", "re");

	while (f && fgets(line, sizeof(line), f))
		sscanf(line, "VmPin: %ld kB", &kb);
	if (f)
		fclose(f);
	return kb;
}

static void compact(void)
{
	int fd = open("/proc/sys/vm/compact_memory", O_WRONLY | O_CLOEXEC);

	assert_true(fd >= 0);
	assert_int_equal(write(fd, "1", 1), 1);
	close(fd);
}

static uint64_t *pfns_of(const void *addr, size_t len)
{
	uint64_t *p = malloc(len / 4096 * sizeof(*p));
	char why[256];

	assert_non_null(p);
	if (page_move_pfns(addr, len / 4096, p, why, sizeof(why)))
		fail_msg("%s", why);
	return p;
}

static size_t count_moved(const void *addr, size_t len, const uint64_t *before)
{
	uint64_t *now = pfns_of(addr, len);
	size_t i, moved = 0;

	for (i = 0; i < len / 4096; i++)
		moved += now[i] != before[i];
	free(now);
	return moved;
}

/* Every page where it was, and udma_iova saying so. */
static void assert_unmoved(struct udma_ctx *ctx, struct udma_region *r, const uint64_t *before,
			   const char *after)
{
	uint8_t *base = udma_region_addr(r);
	size_t i, moved = count_moved(base, udma_region_size(r), before), wrong = 0;
	uint64_t *now = pfns_of(base, udma_region_size(r));

	for (i = 0; i < udma_region_size(r) / 4096; i++)
		wrong += udma_iova(ctx, base + i * 4096) != now[i] * 4096;
	free(now);
	if (moved || wrong)
		fail_msg("after %s: %zu of %zu pages moved, udma_iova wrong for %zu", after, moved,
			 udma_region_size(r) / 4096, wrong);
}

static struct udma_region *region(struct udma_ctx *ctx, size_t page_size)
{
	struct udma_region_opts o = {.size = SIZE, .page_size = page_size, .numa_node = UDMA_NUMA_ANY};
	struct udma_region *r;

	if (udma_region_create(ctx, &o, &r))
		fail_msg("udma_region_create: %s", udma_last_error());
	return r;
}

/* Compaction moves mlocked 4 KiB pages (vm.compact_unevictable_allowed=1,
 * the default): a plain mlocked mapping beside the region shows it did this
 * time; the region's pages stay. If no pass moved the control, this run
 * could not tell, and says so. */
static void test_compaction_moves_no_page_of_a_4k_region(void **state)
{
	struct fixture *f = *state;
	struct udma_region *r;
	uint64_t *ctl_pfns, *pfns;
	size_t ctl_moved = 0;
	unsigned pass;
	void *ctl;

	NEED_PA(f);
	ctl = mmap(NULL, SIZE, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
	assert_true(ctl != MAP_FAILED);
	assert_int_equal(mlock2(ctl, SIZE, 0), 0); /* not mlock: sanitizers make it a no-op */
	ctl_pfns = pfns_of(ctl, SIZE);
	r = region(f->ctx, UDMA_PAGE_4K);
	pfns = pfns_of(udma_region_addr(r), SIZE);
	for (pass = 1; pass <= PASSES && !ctl_moved; pass++) {
		compact();
		assert_unmoved(f->ctx, r, pfns, "compaction");
		ctl_moved = count_moved(ctl, SIZE, ctl_pfns);
	}
	free(pfns);
	free(ctl_pfns);
	udma_region_destroy(r);
	munmap(ctl, SIZE);
	if (!ctl_moved) {
		print_message("skipped: %u compactions moved no page of a plain mlocked mapping either: "
			      "nothing to tell\n",
			      PASSES);
		skip();
	}
	print_message("compaction, %u passes: %zu of %zu pages of a plain mlocked mapping moved, none of "
		      "udma's\n",
		      pass - 1, ctl_moved, (size_t)(SIZE / 4096));
}

/* A mapping of plain pages like the region's, held as the kernel holds
 * memory it may move: mlock for 4 KiB pages, nothing for hugetlb pages. */
static void *control_map(size_t page_size)
{
	int huge = page_size == UDMA_PAGE_2M ? MAP_HUGETLB | (21 << MAP_HUGE_SHIFT) : 0;
	void *p = mmap(NULL, SIZE, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS | huge, -1, 0);

	assert_true(p != MAP_FAILED);
	/* fork (page_move's offline helper) must not copy these pages */
	assert_int_equal(madvise(p, SIZE, MADV_DONTFORK), 0);
	if (huge)
		memset(p, 1, SIZE);
	else
		assert_int_equal(mlock2(p, SIZE, 0), 0); /* not mlock: sanitizers make it a no-op */
	return p;
}

/* What memory hot-unplug does: offline the blocks under the pages, online
 * them again, then compact. The control shows whether that moves pages on
 * this machine (a block with any unmovable kernel page cannot go offline);
 * the region's pages must not move either way. */
static void offline_under(struct fixture *f, size_t page_size)
{
	struct page_move_result res, ctl_res;
	struct udma_region *r;
	uint64_t *pfns;
	char why[512];
	void *ctl = control_map(page_size);
	int rc = page_move_attempt(ctl, SIZE, OFFLINE_TIMEOUT_MS, &ctl_res, why, sizeof(why));

	munmap(ctl, SIZE);
	if (rc == -ENOTSUP) {
		print_message("skipped: %s\n", why);
		skip();
		return; /* skip() does not return; cppcheck does not know */
	}
	if (rc)
		fail_msg("%s", why);
	if (!ctl_res.moved) {
		print_message(
			"skipped: offlining %zu memory blocks (%zu went offline) and compacting moved no "
			"page of a plain mapping either: nothing to tell\n",
			ctl_res.blocks, ctl_res.blocks_offlined);
		skip();
		return;
	}
	r = region(f->ctx, page_size);
	pfns = pfns_of(udma_region_addr(r), SIZE);
	rc = page_move_attempt(udma_region_addr(r), SIZE, OFFLINE_TIMEOUT_MS, &res, why, sizeof(why));
	if (rc)
		fail_msg("%s", why);
	print_message("a plain mapping: %zu of %zu pages moved (%zu of %zu blocks went offline); udma's "
		      "region: %zu blocks, %zu went offline, %zu refused\n",
		      ctl_res.moved, ctl_res.pages, ctl_res.blocks_offlined, ctl_res.blocks, res.blocks,
		      res.blocks_offlined, res.blocks_refused);
	assert_int_equal(res.moved, 0);
	assert_unmoved(f->ctx, r, pfns, "offlining the memory blocks and compacting");
	free(pfns);
	udma_region_destroy(r);
}

static void test_offline_moves_no_page_of_a_4k_region(void **state)
{
	NEED_PA(*state);
	offline_under(*state, UDMA_PAGE_4K);
}

static void test_offline_moves_no_page_of_a_2m_region(void **state)
{
	NEED_PA(*state);
	if (!th_hugepages_ensure(UDMA_PAGE_2M, SIZE / UDMA_PAGE_2M))
		skip();
	offline_under(*state, UDMA_PAGE_2M);
}

/* move_pages to every other node: refused for each page, none moved. */
static void test_move_pages_moves_no_page(void **state)
{
	struct fixture *f = *state;
	int nodes = udma_numa_nodes(), target;
	struct udma_region *r;
	uint64_t *pfns;

	NEED_PA(f);
	if (nodes < 2) {
		print_message("skipped: one NUMA node, move_pages has nowhere to move a page\n");
		skip();
	}
	r = region(f->ctx, UDMA_PAGE_4K);
	pfns = pfns_of(udma_region_addr(r), SIZE);
	for (target = 0; target < nodes; target++) {
		size_t n = SIZE / 4096, i;
		void **pages = malloc(n * sizeof(*pages));
		int *to = malloc(n * sizeof(*to)), *status = malloc(n * sizeof(*status));

		assert_true(pages && to && status);
		for (i = 0; i < n; i++) {
			pages[i] = (uint8_t *)udma_region_addr(r) + i * 4096;
			to[i] = target;
		}
		move_pages(0, n, pages, to, status, MPOL_MF_MOVE);
		free(pages);
		free(to);
		free(status);
		assert_unmoved(f->ctx, r, pfns, "move_pages");
	}
	free(pfns);
	udma_region_destroy(r);
}

/* The pin comes with the region and goes with it (VmPin counts it). */
static void test_pin_taken_and_released(void **state)
{
	struct fixture *f = *state;
	long before = pinned_kb();
	struct udma_region *r;

	NEED_PA(f);
	if (before < 0)
		skip(); /* no VmPin line: a kernel older than 5.x */
	r = region(f->ctx, UDMA_PAGE_4K);
	assert_int_equal(pinned_kb() - before, (long)(SIZE >> 10));
	udma_region_destroy(r);
	assert_int_equal(pinned_kb(), before);
}

/* VA mode hands out virtual addresses: the IOMMU driver pins what it maps,
 * and the region takes no pin of its own. */
static void test_va_mode_takes_no_pin(void **state)
{
	struct udma_ctx_opts o = {.iova_mode = UDMA_IOVA_VA, .numa_node = UDMA_NUMA_ANY};
	long before = pinned_kb();
	struct udma_region *r;
	struct udma_ctx *ctx;

	(void)state;
	assert_int_equal(udma_ctx_create(&o, &ctx), 0);
	r = region(ctx, UDMA_PAGE_4K);
	assert_int_equal(pinned_kb(), before);
	udma_region_destroy(r);
	udma_ctx_destroy(ctx);
}

/* Open io_uring fds of this process. */
static int io_uring_fds(void)
{
	char path[300], target[64];
	struct dirent *e;
	DIR *d = opendir("/proc/self/fd");
	int n = 0;

	while (d && (e = readdir(d))) {
		ssize_t len;

		snprintf(path, sizeof(path), "/proc/self/fd/%s", e->d_name);
		len = readlink(path, target, sizeof(target) - 1);
		if (len > 0) {
			target[len] = 0;
			n += strstr(target, "io_uring") != NULL;
		}
	}
	if (d)
		closedir(d);
	return n;
}

/* A forked child shares the pin's io_uring: releasing its copy of the
 * context must leave the parent's pages pinned. */
static void test_child_leaves_the_parents_pin(void **state)
{
	struct fixture *f = *state;
	struct udma_region *r;
	uint64_t *pfns;
	long pinned;
	pid_t pid;

	NEED_PA(f);
	r = region(f->ctx, UDMA_PAGE_4K);
	pfns = pfns_of(udma_region_addr(r), SIZE);
	pinned = pinned_kb();
	pid = th_fork_child(0, 0);
	assert_true(pid >= 0);
	if (pid == 0) {
		/* No copy of the pin: a child that never calls udma (a helper
		 * that outlives its parent) must not keep the pages pinned. */
		if (io_uring_fds())
			_exit(1);
		udma_ctx_destroy(f->ctx);
		_exit(0);
	}
	assert_int_equal(th_wait_child(pid), 0);
	assert_int_equal(pinned_kb(), pinned);
	compact();
	assert_unmoved(f->ctx, r, pfns, "a child released its copy, then compaction");
	free(pfns);
	udma_region_destroy(r);
}

/* A child forked inside a REMOVED callback comes back into
 * udma_region_destroy, which frees the region: its pin fd was closed at the
 * fork, and whatever the child opened since under that number stays open. */
static int fork_in_removed(void *arg, enum udma_mem_event ev, struct udma_region *r)
{
	int *child_fd = arg;
	pid_t pid;

	(void)r;
	if (ev != UDMA_MEM_REMOVED)
		return 0;
	pid = fork();
	if (pid == 0) {
		*child_fd = open("/dev/null", O_RDONLY | O_CLOEXEC);
		return 0; /* the child goes on in udma_region_destroy */
	}
	*child_fd = -2;
	if (pid > 0 && th_wait_child(pid) != 0)
		*child_fd = -3;
	return 0;
}

static void test_child_forked_in_an_event_keeps_its_files(void **state)
{
	struct fixture *f = *state;
	struct udma_region *r;
	int child_fd = -1;

	NEED_PA(f);
	r = region(f->ctx, UDMA_PAGE_4K);
	assert_int_equal(udma_mem_event_register(f->ctx, fork_in_removed, &child_fd), 0);
	udma_region_destroy(r);
	if (child_fd >= 0) /* the child, back from destroy */
		_exit(fcntl(child_fd, F_GETFD) < 0 ? 1 : 0);
	assert_int_equal(udma_mem_event_unregister(f->ctx, fork_in_removed, &child_fd), 0);
	assert_int_equal(child_fd, -2); /* the child exited 0: its file was still open */
}

/* A CONTIG region's search pins its candidates first, then hands over to
 * the region's own pin: one pin of the region's size is left, one fd. */
static void test_contig_region_keeps_one_pin(void **state)
{
	struct udma_region_opts o = {.size = 64 * 4096,
				     .page_size = UDMA_PAGE_4K,
				     .numa_node = UDMA_NUMA_ANY,
				     .flags = UDMA_REGION_CONTIG};
	struct fixture *f = *state;
	long before = pinned_kb();
	int fds = io_uring_fds(), rc;
	struct udma_region *r;

	NEED_PA(f);
	rc = udma_region_create(f->ctx, &o, &r);
	if (rc == -ENOMEM && strstr(udma_last_error(), "physically contiguous")) {
		print_message("skipped: %s\n", udma_last_error());
		skip();
		return;
	}
	assert_int_equal(rc, 0);
	assert_int_equal(pinned_kb() - before, (long)(o.size >> 10));
	assert_int_equal(io_uring_fds(), fds + 1);
	udma_region_destroy(r);
	assert_int_equal(pinned_kb(), before);
	assert_int_equal(io_uring_fds(), fds);
}

/* What a container's seccomp profile does (Docker's default has blocked
 * io_uring since 2023): io_uring_setup answers ENOSYS. */
static int block_io_uring(void)
{
	struct sock_filter f[] = {
		BPF_STMT(BPF_LD | BPF_W | BPF_ABS, offsetof(struct seccomp_data, nr)),
		BPF_JUMP(BPF_JMP | BPF_JEQ | BPF_K, SYS_io_uring_setup, 0, 1),
		BPF_STMT(BPF_RET | BPF_K, SECCOMP_RET_ERRNO | ENOSYS),
		BPF_STMT(BPF_RET | BPF_K, SECCOMP_RET_ALLOW),
	};
	struct sock_fprog prog = {sizeof(f) / sizeof(f[0]), f};

	if (prctl(PR_SET_NO_NEW_PRIVS, 1, 0, 0, 0) || prctl(PR_SET_SECCOMP, SECCOMP_MODE_FILTER, &prog))
		return -1;
	return 0;
}

static int without_io_uring(void *arg)
{
	struct udma_ctx_opts pa = {.iova_mode = UDMA_IOVA_PA, .numa_node = UDMA_NUMA_ANY};
	struct udma_ctx *ctx = NULL;
	int rc;

	(void)arg;
	if (block_io_uring())
		return 10;
	/* Asked for PA: refused, saying why and what to do. */
	rc = udma_ctx_create(&pa, &ctx);
	if (rc != -ENOSYS || !strstr(udma_last_error(), "seccomp") || !strstr(udma_last_error(), "VA mode")) {
		printf("PA: %d: %s\n", rc, udma_last_error());
		return 11;
	}
	/* AUTO: VA, and the reason names the missing pin. */
	if (udma_ctx_create(NULL, &ctx) || udma_ctx_iova_mode(ctx) != UDMA_IOVA_VA ||
	    !strstr(udma_ctx_iova_reason(ctx), "long-term pin")) {
		printf("AUTO: %s\n", ctx ? udma_ctx_iova_reason(ctx) : udma_last_error());
		return 12;
	}
	udma_ctx_destroy(ctx);
	return 0;
}

static void test_no_io_uring_means_no_pa_mode(void **state)
{
	NEED_PA(*state);
	assert_int_equal(th_run_child(without_io_uring, NULL, 0, 0), 0);
}

#define T(fn) cmocka_unit_test_setup_teardown(fn, setup, teardown)

int main(void)
{
	const struct CMUnitTest tests[] = {
		T(test_compaction_moves_no_page_of_a_4k_region),
		T(test_offline_moves_no_page_of_a_4k_region),
		T(test_offline_moves_no_page_of_a_2m_region),
		T(test_move_pages_moves_no_page),
		T(test_pin_taken_and_released),
		T(test_va_mode_takes_no_pin),
		T(test_child_leaves_the_parents_pin),
		T(test_no_io_uring_means_no_pa_mode),
		T(test_child_forked_in_an_event_keeps_its_files),
		T(test_contig_region_keeps_one_pin),
	};

	atexit(th_hugepages_restore);
	return cmocka_run_group_tests(tests, NULL, NULL);
}
