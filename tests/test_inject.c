/* SPDX-License-Identifier: MIT */
/* Fault injection: make each syscall the library makes fail in turn, and check
 * every failure path returns a negative errno with a one-line explanation,
 * leaves *out NULL and releases what it took (fds, mappings, locked memory).
 *
 * How: tests/wrap_syscalls.c wraps mmap, mlock2, mbind, pread, open,
 * memfd_create, madvise and ftruncate (-Wl,--wrap). For each entry point and
 * each of those calls it uses, a first run counts the calls a success makes,
 * then for k = 1..count the k-th call fails, then a plain run must succeed.
 * It wraps write too, to play a kernel that grants a hugepage reservation
 * only in part (in stand-in pools: no real pool is touched). */
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <numa.h>
#include <sched.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <unistd.h>

#include "tests/support/helpers.h"
#include "tests/support/qemu_user.h"
#include "tests/support/wrap_syscalls.h"

#define BIT(c)	 (1u << (c))
#define SENTINEL ((void *)(uintptr_t)0x5a5a5a5a) /* *out before the call: must become NULL */

enum op { OP_CTX, OP_REGION };

struct scenario {
	const char *name;
	enum op op;
	enum udma_iova_mode mode; /* OP_CTX: the mode asked for */
	size_t page_size;	  /* OP_REGION */
	size_t size;		  /* OP_REGION; 0: big 4 KiB region (see region_size) */
	unsigned flags;		  /* OP_REGION */
};

static const struct scenario sc_ctx_auto = {"udma_ctx_create(AUTO)", OP_CTX, UDMA_IOVA_AUTO, 0, 0, 0};
static const struct scenario sc_ctx_pa = {"udma_ctx_create(PA)", OP_CTX, UDMA_IOVA_PA, 0, 0, 0};
static const struct scenario sc_region_4k = {"udma_region_create(4K)", OP_REGION, 0, UDMA_PAGE_4K, 0, 0};
static const struct scenario sc_region_2m = {"udma_region_create(2M)", OP_REGION, 0, UDMA_PAGE_2M,
					     2 * UDMA_PAGE_2M,	       0};
static const struct scenario sc_region_shared = {
	"udma_region_create(4K, SHARED)", OP_REGION, 0, UDMA_PAGE_4K, 64 << 10, UDMA_REGION_SHARED};
/* Two pages: in PA mode that takes the contiguity search (memfd, 8 candidates). */
static const struct scenario sc_region_contig = {
	"udma_region_create(4K, CONTIG)", OP_REGION, 0, UDMA_PAGE_4K, 2 * UDMA_PAGE_4K, UDMA_REGION_CONTIG};
/* Two 2 MiB pages in PA mode: the contiguity search among hugepages (up to 64 candidates). */
static const struct scenario sc_region_contig_2m = {
	"udma_region_create(2M, CONTIG)", OP_REGION, 0, UDMA_PAGE_2M, 2 * UDMA_PAGE_2M, UDMA_REGION_CONTIG};

static bool verbose;

/* As root, a 4 KiB region of 4098 pages: two batches of pagemap reads (4096
 * entries each), so a failure in the second batch is tested too. Without
 * CAP_IPC_LOCK stay well inside the default 8 MiB RLIMIT_MEMLOCK. */
static size_t region_size(const struct scenario *sc)
{
	if (sc->size)
		return sc->size;
	return geteuid() == 0 ? (16 << 20) + 2 * UDMA_PAGE_4K : 64 << 10;
}

/* After each injected failure, the same leak check th_test makes after each test. */
static void snap_check(const struct th_snapshot *before, const char *what)
{
	assert_int_equal(th_snapshot_compare(before, what), 0);
}

/* ---- running one entry point ---- */

static int run_op(const struct scenario *sc, struct udma_ctx *ctx, int node, void **out)
{
	*out = SENTINEL;
	if (sc->op == OP_CTX) {
		struct udma_ctx_opts o = {.iova_mode = sc->mode, .numa_node = UDMA_NUMA_ANY};

		return udma_ctx_create(&o, (struct udma_ctx **)out);
	} else {
		struct udma_region_opts o = {.size = region_size(sc),
					     .page_size = sc->page_size,
					     .numa_node = node,
					     .flags = sc->flags,
					     .name = "inject"};

		return udma_region_create(ctx, &o, (struct udma_region **)out);
	}
}

static void destroy(const struct scenario *sc, void *obj)
{
	if (sc->op == OP_CTX)
		udma_ctx_destroy(obj);
	else
		udma_region_destroy(obj);
}

/* A CONTIG region in PA mode may honestly fail to find adjacent pages: that
 * is chance, not the injection, and the run is repeated. */
static bool by_chance(const struct scenario *sc, int rc)
{
	return (sc->flags & UDMA_REGION_CONTIG) && rc == -ENOMEM &&
	       strstr(udma_last_error(), "physically contiguous") != NULL;
}

/* A CONTIG search with 4 KiB pages looks for adjacent pages among only 4
 * candidates per page, taken from the head of this CPU's free list, which is
 * last in, first out: after other frees the candidates are scattered, and a
 * retry gets the same scattered pages back. To make the search deterministic
 * (it is not what is under test), pin to this CPU, fault some pages, and free
 * a run of physically adjacent ones last so they are handed out first.
 * Done before arming: none of these calls is counted. */
struct prime {
	cpu_set_t cpus;
	bool pinned;
};

#define PRIME_MAX 16384 /* pages: 64 MiB */
#define PRIME_RUN 64	/* survives the pages the library itself faults before its search */

static int by_u64(const void *a, const void *b)
{
	uint64_t x = *(const uint64_t *)a, y = *(const uint64_t *)b;

	return (x > y) - (x < y);
}

/* Fault n pages at p, free them all with a longest run of adjacent ones (up
 * to PRIME_RUN) last; return the run's length. */
static size_t prime_pages(uint8_t *p, size_t n)
{
	static uint64_t pm[PRIME_MAX], sorted[PRIME_MAX]; /* sorted: pfn << 16 | index */
	size_t i, best = 0, best_len = 0, run = 1;
	int fd;

	memset(p, 1, n * UDMA_PAGE_4K);
	fd = open("/proc/self/pagemap", O_RDONLY | O_CLOEXEC);
	assert_true(fd >= 0);
	assert_int_equal(
		pread(fd, pm, n * sizeof(pm[0]), (off_t)((uintptr_t)p / UDMA_PAGE_4K * sizeof(pm[0]))),
		n * sizeof(pm[0]));
	close(fd);
	for (i = 0; i < n; i++)
		sorted[i] = (pm[i] & ((1ull << 55) - 1)) << 16 | i;
	qsort(sorted, n, sizeof(sorted[0]), by_u64);
	for (i = 1; i < n; i++) {
		run = (sorted[i] >> 16) == (sorted[i - 1] >> 16) + 1 ? run + 1 : 1;
		if (run > best_len && run <= PRIME_RUN) {
			best_len = run;
			best = i + 1 - run;
		}
	}
	/* Everything else first, then the run, highest PFN last (the head). */
	for (i = 0; i < n; i++)
		if (i < best || i >= best + best_len)
			madvise(p + (sorted[i] & 0xffff) * UDMA_PAGE_4K, UDMA_PAGE_4K, MADV_DONTNEED);
	for (i = best; i < best + best_len; i++)
		madvise(p + (sorted[i] & 0xffff) * UDMA_PAGE_4K, UDMA_PAGE_4K, MADV_DONTNEED);
	return best_len;
}

static void prime_take(const struct scenario *sc, const struct udma_ctx *ctx, struct prime *pr)
{
	size_t len = (size_t)PRIME_MAX * UDMA_PAGE_4K, n;
	cpu_set_t one;
	uint8_t *p;
	int cpu = sched_getcpu();

	pr->pinned = false;
	if (!(sc->flags & UDMA_REGION_CONTIG) || sc->page_size != UDMA_PAGE_4K || !ctx ||
	    udma_ctx_iova_mode(ctx) != UDMA_IOVA_PA)
		return;
	if (cpu >= 0 && sched_getaffinity(0, sizeof(pr->cpus), &pr->cpus) == 0) {
		CPU_ZERO(&one);
		CPU_SET(cpu, &one);
		pr->pinned = sched_setaffinity(0, sizeof(one), &one) == 0;
	}
	p = mmap(NULL, len, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
	assert_true(p != MAP_FAILED);
	madvise(p, len, MADV_NOHUGEPAGE);
	/* The more pages faulted, the further past the scattered recently freed
	 * ones into fresh, contiguous blocks. */
	for (n = 512; n <= PRIME_MAX && prime_pages(p, n) < PRIME_RUN; n *= 4)
		;
	munmap(p, len);
}

static void prime_release(struct prime *pr)
{
	if (pr->pinned)
		sched_setaffinity(0, sizeof(pr->cpus), &pr->cpus);
}

/* Run sc with call armed to fail its nth call with err (nth 0: only count;
 * call INJ_NCALLS: count every kind); repeated while a CONTIG search fails by chance. */
static int run_armed(const struct scenario *sc, struct udma_ctx *ctx, int node, enum inject_call call,
		     unsigned nth, int err, void **obj)
{
	unsigned attempt = 0, c;
	struct prime pr;
	int rc;

	do {
		prime_take(sc, ctx, &pr);
		for (c = 0; c < INJ_NCALLS; c++)
			if (call == INJ_NCALLS || c == call)
				inject_arm(c, nth, err);
		rc = run_op(sc, ctx, node, obj);
		inject_disarm_all();
		prime_release(&pr);
	} while (by_chance(sc, rc) && (call == INJ_NCALLS || !inject_failures(call)) && ++attempt < 4);
	return rc;
}

/* No long-term pin here (qemu-user has no io_uring): probed once in main,
 * as the probe's own calls would count in the profiles. */
static bool no_pin;

/* Which calls a successful run makes (regions with numa_node 0). */
static unsigned expected_calls(const struct scenario *sc, enum udma_iova_mode mode)
{
	unsigned m = BIT(INJ_MMAP) | BIT(INJ_MADVISE) | BIT(INJ_PREAD);
	bool memfd;

	/* PA mode pins every region for good; a context that may choose PA
	 * first checks that it can. */
	if (mode == UDMA_IOVA_PA)
		m |= BIT(INJ_IO_URING_SETUP) | BIT(INJ_IO_URING_REGISTER);
	else if (sc->op == OP_CTX && sc->mode == UDMA_IOVA_AUTO && udma_pfn_readable() > 0)
		m |= BIT(INJ_IO_URING_SETUP); /* found no pin: VA */
	/* A pagemap that is not this process's (qemu-user, 32-bit): residency
	 * comes from mincore, and nothing reads pagemap. */
	if (udma_pfn_readable() < 0)
		m &= ~BIT(INJ_PREAD);
	if (sc->op == OP_CTX)
		return m | BIT(INJ_OPEN); /* open + pread: the PFN probe and the context's pagemap fd */
	if (numa_available() >= 0)
		m |= BIT(INJ_MBIND);
	memfd = sc->page_size > UDMA_PAGE_4K || (sc->flags & UDMA_REGION_SHARED) ||
		((sc->flags & UDMA_REGION_CONTIG) && mode == UDMA_IOVA_PA && region_size(sc) > sc->page_size);
	if (memfd)
		m |= BIT(INJ_MEMFD_CREATE) | BIT(INJ_FTRUNCATE);
	if (sc->page_size == UDMA_PAGE_4K) /* hugetlb pages are never swapped: not mlocked */
		m |= BIT(INJ_MLOCK);
	/* Hugepages bound to a node (the runs here use node 0) are counted on that
	 * node first, and the contiguity search sizes its candidates from sysfs. */
	if (sc->page_size > UDMA_PAGE_4K)
		m |= BIT(INJ_OPEN);
	return m;
}

/* The errnos each call is failed with. */
static unsigned errnos_for(enum inject_call call, int errs[2])
{
	switch (call) {
	case INJ_MMAP: errs[0] = ENOMEM; return 1;
	case INJ_MLOCK:
		errs[0] = ENOMEM;
		errs[1] = EAGAIN;
		return 2;
	case INJ_MBIND:
		errs[0] = EINVAL;
		errs[1] = EIO;
		return 2;
	case INJ_PREAD: errs[0] = EIO; return 1;
	case INJ_OPEN: errs[0] = EMFILE; return 1;
	case INJ_MEMFD_CREATE:
		errs[0] = ENOMEM;
		errs[1] = EMFILE;
		return 2;
	/* EINVAL too: that is how a kernel before 5.14 answers MADV_POPULATE_WRITE. */
	case INJ_MADVISE:
		errs[0] = EPERM;
		errs[1] = EINVAL;
		return 2;
	case INJ_FTRUNCATE:
		errs[0] = EINVAL;
		return 1; /* hugetlbfs: size not a page multiple */
	/* No io_uring in the kernel or behind seccomp; kernel.io_uring_disabled. */
	case INJ_IO_URING_SETUP:
		errs[0] = ENOSYS;
		errs[1] = EPERM;
		return 2;
	/* RLIMIT_MEMLOCK without CAP_IPC_LOCK; a backing the kernel will not pin. */
	case INJ_IO_URING_REGISTER:
		errs[0] = ENOMEM;
		errs[1] = EOPNOTSUPP;
		return 2;
	case INJ_NCALLS: break;
	}
	return 0;
}

/* What failing the k-th call (key argument arg) with err must give. */
struct expect {
	int err;	 /* 0: success (the library tolerates the failure), else -err */
	bool nocontig;	 /* a CONTIG search may also come out empty-handed (-ENOMEM) */
	bool or_success; /* the failure may also be absorbed */
};

static struct expect expected_result(const struct scenario *sc, enum inject_call call, int err, long arg)
{
	struct expect x = {err, false, false};

	/* MADV_NOHUGEPAGE: a hint for the sparse IOVA index; for a 4 KiB region it
	 * keeps khugepaged from moving pages, and only EINVAL (no THP in this
	 * kernel) is tolerated. */
	if (call == INJ_MADVISE && arg == MADV_NOHUGEPAGE && (sc->op == OP_CTX || err == EINVAL))
		x.err = 0;
	/* EINVAL from MADV_POPULATE_WRITE means "kernel before 5.14": the library
	 * falls back to touching each page (checked to be populated below). */
	if (call == INJ_MADVISE && arg == MADV_POPULATE_WRITE && err == EINVAL)
		x.err = 0;
	/* Region opens read sysfs hugepage counts: first whether the node has the
	 * pages (a failure is the error), then, in a contiguity search, how many
	 * spares to take (a failure means no spares: the search may then succeed,
	 * or fail as if memory were fragmented). */
	if (sc->op == OP_REGION && call == INJ_OPEN && (sc->flags & UDMA_REGION_CONTIG))
		x.nocontig = x.or_success = true;
	/* AUTO without a long-term pin chooses VA (asked for PA, it is an
	 * error); out of pinnable memory for now is an error for both. */
	if (sc->op == OP_CTX && sc->mode == UDMA_IOVA_AUTO &&
	    (call == INJ_IO_URING_SETUP || (call == INJ_IO_URING_REGISTER && err != ENOMEM)))
		x.err = 0;
	/* Without a long-term pin AUTO reads kernel.io_uring_disabled to say
	 * why: that open failing only loses the detail. */
	if (sc->op == OP_CTX && sc->mode == UDMA_IOVA_AUTO && call == INJ_OPEN && no_pin)
		x.or_success = true;
	return x;
}

static bool populated(void *addr, size_t len)
{
	size_t n = len / UDMA_PAGE_4K, i;
	unsigned char *vec = malloc(n);
	bool ok = vec && mincore(addr, len, vec) == 0;

	for (i = 0; ok && i < n; i++)
		ok = vec[i] & 1;
	free(vec);
	return ok;
}

/* The object a tolerated failure produced must be as usable as any other. */
static void check_tolerated(const struct scenario *sc, struct udma_ctx *ctx, void *obj, enum inject_call call,
			    long arg)
{
	if (sc->op == OP_CTX) {
		struct udma_ctx *c = obj;

		if (call == INJ_IO_URING_SETUP || call == INJ_IO_URING_REGISTER) {
			assert_int_equal(udma_ctx_iova_mode(c), UDMA_IOVA_VA);
			assert_non_null(strstr(udma_ctx_iova_reason(c), "long-term pin"));
			return;
		}
		if (call == INJ_OPEN && no_pin) { /* only kernel.io_uring_disabled went unread */
			assert_int_equal(udma_ctx_iova_mode(c), UDMA_IOVA_VA);
			assert_non_null(strstr(udma_ctx_iova_reason(c), "long-term pin"));
			return;
		}
		/* only the MADV_NOHUGEPAGE hint is tolerated: the context is whole */
		assert_true(udma_ctx_iova_mode(c) == UDMA_IOVA_PA || udma_ctx_iova_mode(c) == UDMA_IOVA_VA);
		assert_int_equal(call, INJ_MADVISE);
		return;
	}
	struct udma_region *r = obj;

	assert_non_null(udma_region_addr(r));
	assert_int_equal(udma_region_size(r), region_size(sc));
	assert_true(udma_iova(ctx, udma_region_addr(r)) != UDMA_BAD_IOVA);
	assert_true(udma_region_next(ctx, NULL) == r);
	if (call == INJ_MADVISE && arg == MADV_POPULATE_WRITE)
		assert_true(populated(udma_region_addr(r), udma_region_size(r)));
}

/* Run once, counting calls of one kind (or all kinds if call == INJ_NCALLS);
 * must succeed. If a CONTIG search finds no adjacent pages at all here, the
 * machine's memory is too fragmented for the scenario: ctx is destroyed and
 * the test skipped. */
static void count_run(const struct scenario *sc, struct udma_ctx *ctx, int node, enum inject_call call,
		      unsigned counts[INJ_NCALLS])
{
	unsigned c;
	void *obj;
	int rc = run_armed(sc, ctx, node, call, 0, 0, &obj);

	if (by_chance(sc, rc)) {
		printf("# skip: %s: %s\n", sc->name, udma_last_error());
		udma_ctx_destroy(ctx);
		skip();
	}
	if (rc)
		print_error("%s failed without injection: %d: %s\n", sc->name, rc, udma_last_error());
	assert_int_equal(rc, 0);
	assert_true(obj != NULL && obj != SENTINEL);
	for (c = 0; c < INJ_NCALLS; c++)
		counts[c] = call == INJ_NCALLS || c == call ? inject_calls(c) : 0;
	destroy(sc, obj);
}

/* The mode AUTO chooses: PA where physical addresses are readable and
 * pages can be pinned long-term (not under qemu-user, which has no io_uring). */
static enum udma_iova_mode auto_or(enum udma_iova_mode mode)
{
	if (mode != UDMA_IOVA_AUTO)
		return mode;
	return udma_pfn_readable() && !no_pin ? UDMA_IOVA_PA : UDMA_IOVA_VA;
}

static bool scenario_available(const struct scenario *sc)
{
	if (sc->op == OP_CTX && sc->mode == UDMA_IOVA_PA && !udma_pfn_readable()) {
		printf("# skip: %s needs physical addresses in pagemap (CAP_SYS_ADMIN)\n", sc->name);
		return false;
	}
	if (sc->op == OP_CTX && sc->mode == UDMA_IOVA_PA && no_pin) {
		th_skip_if_qemu_lacks(TH_EMUL_IO_URING); /* says why and skips */
		return false;
	}
	/* The hugepage contiguity search takes up to 64 candidates: give it them all. */
	unsigned long need = sc->flags & UDMA_REGION_CONTIG ? 64 : 8;

	if (sc->page_size == UDMA_PAGE_2M && !th_hugepages_ensure(UDMA_PAGE_2M, need)) {
		printf("# skip: %s needs %lu free 2 MiB hugepages\n", sc->name, need);
		return false;
	}
	return true;
}

/* Provoke a known error so that a failure that sets no message is caught. */
static const char *stale_error(void)
{
	static char msg[512];

	assert_int_equal(udma_ctx_create(NULL, NULL), -EINVAL);
	snprintf(msg, sizeof(msg), "%s", udma_last_error());
	return msg;
}

static void inject_one(const struct scenario *sc, struct udma_ctx *ctx, int node, enum inject_call call,
		       unsigned k, int err, const struct th_snapshot *before)
{
	const char *stale = stale_error();
	char what[128];
	struct expect x;
	void *obj;
	int rc;
	long arg;

	snprintf(what, sizeof(what), "%s with %s #%u failing (%s)", sc->name, inject_name(call), k,
		 strerror(err));
	rc = run_armed(sc, ctx, node, call, k, err, &obj);
	/* A contiguity search makes one mmap per stretch of adjacent file pages:
	 * how many depends on where the pages landed this time. */
	if (inject_failures(call) == 0 && rc == 0 && (sc->flags & UDMA_REGION_CONTIG)) {
		printf("# note: %s: not reached, this search needed only %u calls\n", what,
		       inject_calls(call));
		destroy(sc, obj);
		snap_check(before, what);
		return;
	}
	if (inject_failures(call) == 0 && by_chance(sc, rc)) {
		printf("# note: %s: inconclusive, the contiguity search failed by chance before that call\n",
		       what);
		assert_null(obj);
		snap_check(before, what);
		return;
	}
	if (inject_failures(call) != 1)
		print_error("%s: the call was not reached (%u calls); got %d: %s\n", what, inject_calls(call),
			    rc, rc ? udma_last_error() : "success");
	assert_int_equal(inject_failures(call), 1);
	arg = inject_call_arg(call, k);
	x = expected_result(sc, call, err, arg);
	if (verbose)
		printf("# %s [arg %ld] -> %d: %s\n", what, arg, rc, rc ? udma_last_error() : "ok");
	if (x.nocontig && by_chance(sc, rc)) {
		assert_null(obj);
		assert_null(udma_region_next(ctx, NULL));
	} else if (x.err == 0 || (x.or_success && rc == 0)) {
		if (rc)
			print_error("%s: expected success, got %d: %s\n", what, rc, udma_last_error());
		assert_int_equal(rc, 0);
		assert_true(obj != NULL && obj != SENTINEL);
		check_tolerated(sc, ctx, obj, call, arg);
		destroy(sc, obj);
	} else {
		th_assert_err(rc, x.err);
		if (strcmp(udma_last_error(), stale) == 0)
			print_error("%s: returned %d without setting udma_last_error()\n", what, rc);
		assert_string_not_equal(udma_last_error(), stale);
		if (strchr(udma_last_error(), '\n'))
			print_error("%s: message is not one line: %s", what, udma_last_error());
		assert_null(strchr(udma_last_error(), '\n'));
		assert_null(obj);
		if (ctx)
			assert_null(udma_region_next(ctx, NULL));
	}
	snap_check(before, what);
}

static void run_injection(const struct scenario *sc, enum inject_call call)
{
	unsigned counts[INJ_NCALLS], n, k, e, nerr;
	int node = call == INJ_MBIND ? 0 : UDMA_NUMA_ANY, errs[2], rc;
	struct udma_ctx *ctx = NULL;
	enum udma_iova_mode mode;
	static struct th_snapshot before;
	void *obj;

	if (!scenario_available(sc))
		skip();
	if (call == INJ_MBIND && numa_available() < 0) {
		printf("# skip: no NUMA support: mbind is never called\n");
		skip();
	}
	if (sc->op == OP_REGION) {
		assert_int_equal(udma_ctx_create(NULL, &ctx), 0);
		mode = udma_ctx_iova_mode(ctx);
	} else {
		mode = auto_or(sc->mode);
	}
	if (!(expected_calls(sc, mode) & BIT(call))) {
		udma_ctx_destroy(ctx);
		printf("# skip: %s makes no %s call in %s mode\n", sc->name, inject_name(call),
		       mode == UDMA_IOVA_PA ? "PA" : "VA");
		skip();
	}

	count_run(sc, ctx, node, call, counts);
	n = counts[call];
	assert_true(n >= 1);
	th_snapshot_take(&before);
	nerr = errnos_for(call, errs);
	for (k = 1; k <= n; k++)
		for (e = 0; e < nerr; e++)
			inject_one(sc, ctx, node, call, k, errs[e], &before);

	/* Nothing stuck: a plain run succeeds again. */
	rc = run_armed(sc, ctx, node, INJ_NCALLS, 0, 0, &obj);
	if (by_chance(sc, rc)) {
		printf("# note: %s: the contiguity search failed by chance after the injections: %s\n",
		       sc->name, udma_last_error());
	} else {
		if (rc)
			print_error("%s failed after the injections: %d: %s\n", sc->name, rc,
				    udma_last_error());
		assert_int_equal(rc, 0);
		assert_true(obj != NULL && obj != SENTINEL);
		destroy(sc, obj);
	}
	udma_ctx_destroy(ctx);
}

/* Every kind of call a run makes is covered above, and no other. */
static void run_profile(const struct scenario *sc)
{
	unsigned counts[INJ_NCALLS], used = 0, want, c;
	struct udma_ctx *ctx = NULL;
	enum udma_iova_mode mode;

	if (!scenario_available(sc))
		skip();
	if (sc->op == OP_REGION) {
		assert_int_equal(udma_ctx_create(NULL, &ctx), 0);
		mode = udma_ctx_iova_mode(ctx);
	} else {
		mode = auto_or(sc->mode);
	}
	count_run(sc, ctx, 0, INJ_NCALLS, counts);
	printf("# %s (%s mode, node 0):", sc->name, mode == UDMA_IOVA_PA ? "PA" : "VA");
	for (c = 0; c < INJ_NCALLS; c++) {
		if (counts[c])
			used |= BIT(c);
		printf(" %s %u", inject_name(c), counts[c]);
	}
	printf("\n");
	want = expected_calls(sc, mode);
	if (used != want)
		print_error("%s: calls made 0x%x, expected 0x%x\n", sc->name, used, want);
	assert_int_equal(used, want);
	udma_ctx_destroy(ctx);
}

#define INJECT_TEST(sc, call)                        \
	static void test_##sc##_##call(void **state) \
	{                                            \
		(void)state;                         \
		run_injection(&sc_##sc, INJ_##call); \
	}
#define PROFILE_TEST(sc)                              \
	static void test_##sc##_profile(void **state) \
	{                                             \
		(void)state;                          \
		run_profile(&sc_##sc);                \
	}

PROFILE_TEST(ctx_auto)
INJECT_TEST(ctx_auto, MMAP)
INJECT_TEST(ctx_auto, MADVISE)
INJECT_TEST(ctx_auto, OPEN)
INJECT_TEST(ctx_auto, PREAD)
INJECT_TEST(ctx_auto, IO_URING_SETUP)
INJECT_TEST(ctx_auto, IO_URING_REGISTER)

PROFILE_TEST(ctx_pa)
INJECT_TEST(ctx_pa, MMAP)
INJECT_TEST(ctx_pa, MADVISE)
INJECT_TEST(ctx_pa, OPEN)
INJECT_TEST(ctx_pa, PREAD)
INJECT_TEST(ctx_pa, IO_URING_SETUP)
INJECT_TEST(ctx_pa, IO_URING_REGISTER)

PROFILE_TEST(region_4k)
INJECT_TEST(region_4k, MMAP)
INJECT_TEST(region_4k, MADVISE)
INJECT_TEST(region_4k, MLOCK)
INJECT_TEST(region_4k, PREAD)
INJECT_TEST(region_4k, MBIND)
INJECT_TEST(region_4k, IO_URING_SETUP)
INJECT_TEST(region_4k, IO_URING_REGISTER)

PROFILE_TEST(region_2m)
INJECT_TEST(region_2m, MEMFD_CREATE)
INJECT_TEST(region_2m, FTRUNCATE)
INJECT_TEST(region_2m, MMAP)
INJECT_TEST(region_2m, MADVISE)
INJECT_TEST(region_2m, PREAD)
INJECT_TEST(region_2m, MBIND)
INJECT_TEST(region_2m, IO_URING_SETUP)
INJECT_TEST(region_2m, IO_URING_REGISTER)

PROFILE_TEST(region_shared)
INJECT_TEST(region_shared, MEMFD_CREATE)
INJECT_TEST(region_shared, FTRUNCATE)
INJECT_TEST(region_shared, MMAP)
INJECT_TEST(region_shared, MADVISE)
INJECT_TEST(region_shared, MLOCK)
INJECT_TEST(region_shared, PREAD)
INJECT_TEST(region_shared, MBIND)
INJECT_TEST(region_shared, IO_URING_SETUP)
INJECT_TEST(region_shared, IO_URING_REGISTER)

PROFILE_TEST(region_contig)
INJECT_TEST(region_contig, MEMFD_CREATE)
INJECT_TEST(region_contig, FTRUNCATE)
INJECT_TEST(region_contig, MMAP)
INJECT_TEST(region_contig, MADVISE)
INJECT_TEST(region_contig, MLOCK)
INJECT_TEST(region_contig, PREAD)
INJECT_TEST(region_contig, MBIND)
INJECT_TEST(region_contig, IO_URING_SETUP)
INJECT_TEST(region_contig, IO_URING_REGISTER)

PROFILE_TEST(region_contig_2m)
INJECT_TEST(region_contig_2m, MEMFD_CREATE)
INJECT_TEST(region_contig_2m, FTRUNCATE)
INJECT_TEST(region_contig_2m, MMAP)
INJECT_TEST(region_contig_2m, MADVISE)
INJECT_TEST(region_contig_2m, PREAD)
INJECT_TEST(region_contig_2m, OPEN)
INJECT_TEST(region_contig_2m, MBIND)
INJECT_TEST(region_contig_2m, IO_URING_SETUP)
INJECT_TEST(region_contig_2m, IO_URING_REGISTER)

/* udma_iova: UDMA_BAD_IOVA for a NULL context and for every address outside the regions. */
/* Automatic page size: hugepages that sysfs counts as free can still be refused
 * when mapped (a hugetlb cgroup limit, another process). The region then comes
 * on 4 KiB pages instead of failing. */
static void auto_falls_back(enum inject_call call, unsigned nth)
{
	struct udma_region_opts o = {.size = 4 << 20, .numa_node = UDMA_NUMA_ANY, .name = "fallback"};
	struct udma_ctx *ctx;
	struct udma_region *r = NULL;

	if (!th_hugepages_ensure(UDMA_PAGE_2M, 2))
		skip();
	assert_int_equal(udma_ctx_create(NULL, &ctx), 0);
	inject_arm(call, nth, ENOMEM);
	assert_int_equal(udma_region_create(ctx, &o, &r), 0);
	inject_disarm_all();
	assert_int_equal(inject_failures(call), 1);
	assert_int_equal(udma_region_page_size(r), UDMA_PAGE_4K);
	assert_int_not_equal(udma_iova(ctx, udma_region_addr(r)), UDMA_BAD_IOVA);
	udma_region_destroy(r);
	/* with the page size asked for, the same refusal is an error */
	o.page_size = UDMA_PAGE_2M;
	inject_arm(call, nth, ENOMEM);
	th_assert_err(udma_region_create(ctx, &o, &r), ENOMEM);
	inject_disarm_all();
	udma_ctx_destroy(ctx);
}

static void test_auto_fallback_memfd(void **state)
{
	(void)state;
	auto_falls_back(INJ_MEMFD_CREATE, 1);
}

static void test_auto_fallback_hugetlb_mmap(void **state)
{
	(void)state;
	auto_falls_back(INJ_MMAP, 2); /* 1: the PROT_NONE reservation, 2: the hugepages */
}

/* The same refusal, and then 4 KiB pages failing too (mlock2): the message
 * keeps the hugepages' refusal as the first cause, not only the last. */
static void auto_fallback_fails(enum inject_call call, int err, long arg, const char *first)
{
	struct udma_region_opts o = {.size = 4 << 20, .numa_node = UDMA_NUMA_ANY, .name = "fallback"};
	struct udma_ctx *ctx;
	struct udma_region *r = NULL;
	unsigned nth = 0, i;

	/* Two for the region, two more left free (not reserved) when it is refused. */
	if (!th_hugepages_ensure(UDMA_PAGE_2M, 4))
		skip();
	assert_int_equal(udma_ctx_create(NULL, &ctx), 0);
	/* Which call of the kind it is: the one with that key argument. */
	inject_arm(call, 0, 0);
	assert_int_equal(udma_region_create(ctx, &o, &r), 0);
	inject_disarm_all();
	assert_int_equal(udma_region_page_size(r), UDMA_PAGE_2M);
	udma_region_destroy(r);
	for (i = 1; i <= inject_calls(call) && !nth; i++)
		if (inject_call_arg(call, i) == arg)
			nth = i;
	assert_int_not_equal(nth, 0);
	inject_arm(call, nth, err);
	inject_arm(INJ_MLOCK, 1, ENOMEM);
	th_assert_err(udma_region_create(ctx, &o, &r), ENOMEM);
	inject_disarm_all();
	assert_int_equal(inject_failures(call), 1);
	assert_int_equal(inject_failures(INJ_MLOCK), 1);
	if (!strstr(udma_last_error(), first) || !strstr(udma_last_error(), "are free") ||
	    !strstr(udma_last_error(), "; and 4 KiB pages failed: locking 4 MiB failed"))
		fail_msg("the first cause ('%s') is not kept: %s", first, udma_last_error());
	assert_null(udma_region_next(ctx, NULL));
	udma_ctx_destroy(ctx);
}

/* MADV_POPULATE_WRITE answers EFAULT where a fault would raise SIGBUS (a
 * hugetlb cgroup limit, no page on the bound node). */
static void test_auto_fallback_fails_populate(void **state)
{
	(void)state;
	auto_fallback_fails(INJ_MADVISE, EFAULT, MADV_POPULATE_WRITE,
			    "2 MiB hugepages refused at fault time");
}

static void test_auto_fallback_fails_hugetlb_mmap(void **state)
{
	(void)state;
	auto_fallback_fails(INJ_MMAP, ENOMEM, MAP_SHARED | MAP_FIXED, "2 MiB hugepages failed although");
}

static void test_iova_outside(void **state)
{
	struct udma_region_opts o = {
		.size = 64 << 10, .page_size = UDMA_PAGE_4K, .numa_node = UDMA_NUMA_ANY, .name = "iova"};
	struct udma_region *r;
	struct udma_ctx *ctx;
	uint8_t *a;
	size_t len;
	int local = 0;
	void *heap = malloc(64);

	(void)state;
	assert_non_null(heap);
	assert_int_equal(udma_ctx_create(NULL, &ctx), 0);
	/* A context without regions translates nothing. */
	assert_true(udma_iova(ctx, &local) == UDMA_BAD_IOVA);
	assert_int_equal(udma_region_create(ctx, &o, &r), 0);
	a = udma_region_addr(r);
	len = udma_region_size(r);
	assert_int_equal(len, 64 << 10);

	/* Inside: translated (in VA mode, to itself). */
	assert_true(udma_iova(ctx, a) != UDMA_BAD_IOVA);
	assert_true(udma_iova(ctx, a + len - 1) != UDMA_BAD_IOVA);
	if (udma_ctx_iova_mode(ctx) == UDMA_IOVA_VA)
		assert_true(udma_iova(ctx, a + 100) == (uint64_t)(uintptr_t)(a + 100));
	/* NULL context, even for a region address. */
	assert_true(udma_iova(NULL, a) == UDMA_BAD_IOVA);
	assert_true(udma_iova(NULL, NULL) == UDMA_BAD_IOVA);
	assert_int_equal(udma_iova_contig(NULL, a, 4096), 0);
	/* Outside: NULL, the stack, malloc's heap, just before and just after the
	 * region (the rest of its 2 MiB chunk), beyond 48 bits, the top of VA. */
	assert_true(udma_iova(ctx, NULL) == UDMA_BAD_IOVA);
	assert_true(udma_iova(ctx, &local) == UDMA_BAD_IOVA);
	assert_true(udma_iova(ctx, heap) == UDMA_BAD_IOVA);
	assert_true(udma_iova(ctx, a - 1) == UDMA_BAD_IOVA);
	assert_true(udma_iova(ctx, a + len) == UDMA_BAD_IOVA);
	assert_true(udma_iova(ctx, a + UDMA_PAGE_2M - 1) == UDMA_BAD_IOVA);
	assert_true(udma_iova(ctx, a + UDMA_PAGE_2M) == UDMA_BAD_IOVA);
#if UINTPTR_MAX > UINT32_MAX
	assert_true(udma_iova(ctx, (void *)((uintptr_t)1 << 48)) == UDMA_BAD_IOVA);
#endif
	assert_true(udma_iova(ctx, (void *)UINTPTR_MAX) == UDMA_BAD_IOVA);
	assert_int_equal(udma_iova_contig(ctx, a + len, 4096), 0);
	assert_int_equal(udma_iova_contig(ctx, &local, 4096), 0);
	/* A destroyed region's addresses are outside too. */
	udma_region_destroy(r);
	assert_true(udma_iova(ctx, a) == UDMA_BAD_IOVA);
	assert_int_equal(udma_iova_contig(ctx, a, 4096), 0);
	udma_ctx_destroy(ctx);
	free(heap);
}

/* ---- a reservation the kernel grants only in part ------------------------- */

/* The pool before, and the values written to nr_hugepages as the kernel saw them. */
static long nr_before, nr_written[4];
static unsigned nr_writes;

static bool is_nr_hugepages(int fd)
{
	char link[64], path[256];
	ssize_t n;

	snprintf(link, sizeof(link), "/proc/self/fd/%d", fd);
	n = readlink(link, path, sizeof(path) - 1);
	if (n <= 0)
		return false;
	path[n] = '\0';
	return n > 13 && !strcmp(path + n - 13, "/nr_hugepages");
}

/* The kernel finds memory for one more page only: the first write to
 * nr_hugepages becomes "what there was + 1", and says it wrote all. */
static ssize_t grant_one_page(int fd, const void *buf, size_t n)
{
	char val[32];
	int len;

	if (!is_nr_hugepages(fd) || nr_writes == 4)
		return inject_real_write(fd, buf, n);
	snprintf(val, sizeof(val), "%.*s", (int)(n < 31 ? n : 31), (const char *)buf);
	if (nr_writes++ == 0) {
		len = snprintf(val, sizeof(val), "%ld", nr_before + 1);
		if (inject_real_write(fd, val, (size_t)len) != len)
			return -1;
		nr_written[0] = strtol(val, NULL, 10);
		return (ssize_t)n;
	}
	nr_written[nr_writes - 1] = strtol(val, NULL, 10);
	return inject_real_write(fd, buf, n);
}

static int reserve_partly_granted(void *arg)
{
	unsigned long added = 99;
	int rc;

	(void)arg;
	nr_before = th_fake_read(UDMA_PAGE_2M, "nr_hugepages");
	inject_write_hook(grant_one_page);
	/* 5 free pages (others'), 9 asked: 4 more, of which the kernel gives 1. */
	rc = udma_hugepage_reserve(UDMA_PAGE_2M, UDMA_NUMA_ANY, 9, &added);
	inject_write_hook(NULL);
	printf("# %s\n", udma_last_error());
	fflush(stdout); /* the child leaves by _exit */
	if (rc != -ENOMEM || added != 0)
		return 1;
	if (!strstr(udma_last_error(), "could give only 1 of the 4 more 2 MiB pages") ||
	    !strstr(udma_last_error(), "the pool is back as it was"))
		return 2;
	/* The kernel got 6, then the pool was put back to 5. */
	if (nr_writes != 2 || nr_written[0] != 6 || nr_written[1] != 5)
		return 3;
	return th_fake_read(UDMA_PAGE_2M, "nr_hugepages") == 5 ? 0 : 4;
}

static void test_reserve_rolls_back_a_partial_grant(void **state)
{
	static const struct th_fake_pool pools[] = {{UDMA_PAGE_2M, 5, 5}};

	(void)state;
	assert_int_equal(th_fake_hugepages(pools, 1, reserve_partly_granted, NULL), 0);
}

/* ---- someone else resizes the pool while udma reserves ------------------- */

static unsigned nr_reads;

/* An admin raises the pool from 17 to 30 after udma has looked at it twice
 * (what is available, then the pool), before it reads it again to write. */
static void admin_raises_pool(const char *path, int flags)
{
	size_t n = strlen(path);
	FILE *f;

	if (n < 13 || strcmp(path + n - 13, "/nr_hugepages") || (flags & O_ACCMODE) != O_RDONLY)
		return;
	if (++nr_reads != 3)
		return;
	f = fopen(path, "we");
	if (f) {
		fputs("30\n", f);
		fclose(f);
	}
}

static int reserve_keeps_others_change(void *arg)
{
	unsigned long added = 99;
	int rc;

	(void)arg;
	nr_reads = 0;
	inject_open_hook(admin_raises_pool);
	/* 17 free pages, 18 asked: 1 more. */
	rc = udma_hugepage_reserve(UDMA_PAGE_2M, UDMA_NUMA_ANY, 18, &added);
	inject_open_hook(NULL);
	printf("# rc %d, added %lu, reads %u, pool %ld\n", rc, added, nr_reads,
	       th_fake_read(UDMA_PAGE_2M, "nr_hugepages"));
	fflush(stdout); /* the child leaves by _exit */
	if (rc || added != 1 || nr_reads < 3)
		return 1;
	/* 30 + the 1 udma added, not udma's stale 17 + 1. */
	return th_fake_read(UDMA_PAGE_2M, "nr_hugepages") == 31 ? 0 : 2;
}

static void test_reserve_keeps_a_concurrent_resize(void **state)
{
	static const struct th_fake_pool pools[] = {{UDMA_PAGE_2M, 17, 17}};

	(void)state;
	assert_int_equal(th_fake_hugepages(pools, 1, reserve_keeps_others_change, NULL), 0);
}

/* udma_region_register: each call it makes that can fail, failed in turn
 * (mlock2, pagemap's pread, in PA mode the pin's io_uring_setup and
 * io_uring_register; madvise for hugetlb populate is not reached with 4 KiB
 * pages): an explained error, *out NULL, the memory still mapped with its
 * bytes and not left locked, no region listed, nothing leaked. */
static void register_failures(enum udma_iova_mode mode)
{
	static const enum inject_call calls[] = {INJ_MLOCK, INJ_PREAD, INJ_IO_URING_SETUP,
						 INJ_IO_URING_REGISTER};
	struct udma_ctx_opts co = {.iova_mode = mode, .numa_node = UDMA_NUMA_ANY};
	static struct th_snapshot before;
	size_t len = 16 * UDMA_PAGE_4K, i;
	struct udma_region *r;
	struct udma_ctx *ctx;
	unsigned k, n, tried = 0;
	uint8_t *p;

	if (mode == UDMA_IOVA_PA && geteuid() != 0) {
		printf("# skip: PA mode needs root\n");
		skip();
	}
	if (mode == UDMA_IOVA_PA)
		th_skip_if_qemu_lacks(TH_EMUL_IO_URING);
	p = mmap(NULL, len, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
	assert_true(p != MAP_FAILED);
	memset(p, 0x3c, len);
	assert_int_equal(udma_ctx_create(&co, &ctx), 0);
	for (i = 0; i < sizeof(calls) / sizeof(calls[0]); i++) {
		inject_arm(calls[i], 0, 0);
		assert_int_equal(udma_region_register(ctx, p, len, &r), 0);
		n = inject_calls(calls[i]);
		inject_disarm_all();
		udma_region_destroy(r);
		th_snapshot_take(&before);
		for (k = 1; k <= n; k++, tried++) {
			int rc;

			inject_arm(calls[i], k, calls[i] == INJ_MLOCK ? EAGAIN : EIO);
			r = SENTINEL;
			rc = udma_region_register(ctx, p, len, &r);
			inject_disarm_all();
			if (rc >= 0 || !udma_last_error()[0])
				fail_msg("%s call %u failed: register gave %d (%s)", inject_name(calls[i]), k,
					 rc, udma_last_error());
			assert_null(r);
			assert_null(udma_region_next(ctx, NULL));
			assert_false(th_vma_has_flag(p, "lo"));
			assert_true(p[0] == 0x3c && p[len - 1] == 0x3c);
			snap_check(&before, inject_name(calls[i]));
		}
	}
	printf("# %u failures injected into udma_region_register (%s mode)\n", tried,
	       mode == UDMA_IOVA_PA ? "PA" : "VA");
	assert_true(tried >= (mode == UDMA_IOVA_PA ? 4u : 2u));
	/* And then it works. */
	assert_int_equal(udma_region_register(ctx, p, len, &r), 0);
	udma_region_destroy(r);
	udma_ctx_destroy(ctx);
	munmap(p, len);
}

static void test_register_failures_va(void **state)
{
	(void)state;
	th_skip_if_qemu_lacks(TH_EMUL_SMAPS);
	register_failures(UDMA_IOVA_VA);
}

static void test_register_failures_pa(void **state)
{
	(void)state;
	register_failures(UDMA_IOVA_PA);
}

/* udma_region_attach and udma_pool_attach: each call they make that can
 * fail, failed in turn (mmap, madvise, mlock2, pagemap's pread, in PA mode
 * the pin; for a pool the open of its lock's description): an explained
 * error, *out NULL, nothing listed in the attaching context, nothing
 * leaked; the exporter's memory untouched, and a plain attach works after. */
static int attach_one(struct udma_ctx *ctx, int fd, bool pool, void **out)
{
	return pool ? udma_pool_attach(ctx, fd, (struct udma_pool **)out)
		    : udma_region_attach(ctx, fd, (struct udma_region **)out);
}

static void detach_one(void *obj, bool pool)
{
	if (pool)
		udma_pool_destroy(obj);
	else
		udma_region_destroy(obj);
}

static void attach_failures(enum udma_iova_mode mode, bool pool)
{
	static const enum inject_call calls[] = {
		INJ_MMAP,	    INJ_MADVISE,	  INJ_MLOCK, INJ_PREAD, INJ_OPEN,
		INJ_IO_URING_SETUP, INJ_IO_URING_REGISTER};
	struct udma_ctx_opts co = {.iova_mode = mode, .numa_node = UDMA_NUMA_ANY, .page_size = UDMA_PAGE_4K};
	struct udma_region_opts ro = {
		.size = 64 << 10, .numa_node = UDMA_NUMA_ANY, .flags = UDMA_REGION_SHARED};
	struct udma_pool_opts po = {.obj_size = 2048,
				    .count = 16,
				    .cache_size = 4,
				    .numa_node = UDMA_NUMA_ANY,
				    .flags = UDMA_POOL_SHARED};
	static struct th_snapshot before;
	struct udma_ctx *exp, *ctx;
	struct udma_region *r = NULL;
	struct udma_pool *p = NULL;
	unsigned i, k, n, tried = 0;
	void *obj;
	int fd;

	if (mode == UDMA_IOVA_PA && geteuid() != 0) {
		printf("# skip: PA mode needs root\n");
		skip();
	}
	if (mode == UDMA_IOVA_PA)
		th_skip_if_qemu_lacks(TH_EMUL_IO_URING);
	assert_int_equal(udma_ctx_create(&co, &exp), 0);
	assert_int_equal(udma_ctx_create(&co, &ctx), 0);
	if (pool) {
		assert_int_equal(udma_pool_create(exp, &po, &p), 0);
		fd = udma_pool_fd(p);
	} else {
		assert_int_equal(udma_region_create(exp, &ro, &r), 0);
		memset(udma_region_addr(r), 0x3c, ro.size);
		fd = udma_region_fd(r);
	}
	for (i = 0; i < sizeof(calls) / sizeof(calls[0]); i++) {
		inject_arm(calls[i], 0, 0);
		assert_int_equal(attach_one(ctx, fd, pool, &obj), 0);
		n = inject_calls(calls[i]);
		inject_disarm_all();
		detach_one(obj, pool);
		th_snapshot_take(&before);
		for (k = 1; k <= n; k++, tried++) {
			int rc;

			inject_arm(calls[i], k,
				   calls[i] == INJ_MLOCK  ? EAGAIN
				   : calls[i] == INJ_OPEN ? EMFILE
							  : EIO);
			obj = SENTINEL;
			rc = attach_one(ctx, fd, pool, &obj);
			inject_disarm_all();
			/* VA mode's first mmap tries the exporter's address: elsewhere will do. */
			if (!rc && calls[i] == INJ_MMAP && k == 1 && mode == UDMA_IOVA_VA) {
				assert_non_null(obj);
				detach_one(obj, pool);
				snap_check(&before, "mmap at the exporter's address");
				continue;
			}
			if (rc >= 0 || !udma_last_error()[0])
				fail_msg("%s call %u failed: attach gave %d (%s)", inject_name(calls[i]), k,
					 rc, udma_last_error());
			assert_null(obj);
			assert_null(udma_region_next(ctx, NULL));
			snap_check(&before, inject_name(calls[i]));
		}
	}
	printf("# %u failures injected into udma_%s_attach (%s mode)\n", tried, pool ? "pool" : "region",
	       mode == UDMA_IOVA_PA ? "PA" : "VA");
	assert_true(tried >= 3);
	/* And then it works, the exporter's bytes and objects all there. */
	assert_int_equal(attach_one(ctx, fd, pool, &obj), 0);
	if (pool) {
		assert_int_equal(udma_pool_avail(p), po.count);
		assert_int_equal(udma_pool_reclaim(p), 0);
	} else {
		assert_int_equal(((uint8_t *)udma_region_addr(obj))[ro.size - 1], 0x3c);
	}
	detach_one(obj, pool);
	if (pool)
		udma_pool_destroy(p);
	else
		udma_region_destroy(r);
	udma_ctx_destroy(ctx);
	udma_ctx_destroy(exp);
}

static void test_region_attach_failures_va(void **state)
{
	(void)state;
	attach_failures(UDMA_IOVA_VA, false);
}

static void test_region_attach_failures_pa(void **state)
{
	(void)state;
	attach_failures(UDMA_IOVA_PA, false);
}

static void test_pool_attach_failures_va(void **state)
{
	(void)state;
	attach_failures(UDMA_IOVA_VA, true);
}

static void test_pool_attach_failures_pa(void **state)
{
	(void)state;
	attach_failures(UDMA_IOVA_PA, true);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		th_test(test_region_attach_failures_va),
		th_test(test_region_attach_failures_pa),
		th_test(test_pool_attach_failures_va),
		th_test(test_pool_attach_failures_pa),
		th_test(test_register_failures_va),
		th_test(test_register_failures_pa),
		th_test(test_iova_outside),
		th_test(test_reserve_rolls_back_a_partial_grant),
		th_test(test_reserve_keeps_a_concurrent_resize),
		th_test(test_auto_fallback_memfd),
		th_test(test_auto_fallback_hugetlb_mmap),
		th_test(test_auto_fallback_fails_populate),
		th_test(test_auto_fallback_fails_hugetlb_mmap),

		th_test(test_ctx_auto_profile),
		th_test(test_ctx_auto_MMAP),
		th_test(test_ctx_auto_MADVISE),
		th_test(test_ctx_auto_OPEN),
		th_test(test_ctx_auto_PREAD),
		th_test(test_ctx_auto_IO_URING_SETUP),
		th_test(test_ctx_auto_IO_URING_REGISTER),

		th_test(test_ctx_pa_profile),
		th_test(test_ctx_pa_MMAP),
		th_test(test_ctx_pa_MADVISE),
		th_test(test_ctx_pa_OPEN),
		th_test(test_ctx_pa_PREAD),
		th_test(test_ctx_pa_IO_URING_SETUP),
		th_test(test_ctx_pa_IO_URING_REGISTER),

		th_test(test_region_4k_profile),
		th_test(test_region_4k_MMAP),
		th_test(test_region_4k_MADVISE),
		th_test(test_region_4k_MLOCK),
		th_test(test_region_4k_PREAD),
		th_test(test_region_4k_MBIND),
		th_test(test_region_4k_IO_URING_SETUP),
		th_test(test_region_4k_IO_URING_REGISTER),

		th_test(test_region_2m_profile),
		th_test(test_region_2m_MEMFD_CREATE),
		th_test(test_region_2m_FTRUNCATE),
		th_test(test_region_2m_MMAP),
		th_test(test_region_2m_MADVISE),
		th_test(test_region_2m_PREAD),
		th_test(test_region_2m_MBIND),
		th_test(test_region_2m_IO_URING_SETUP),
		th_test(test_region_2m_IO_URING_REGISTER),

		th_test(test_region_shared_profile),
		th_test(test_region_shared_MEMFD_CREATE),
		th_test(test_region_shared_FTRUNCATE),
		th_test(test_region_shared_MMAP),
		th_test(test_region_shared_MADVISE),
		th_test(test_region_shared_MLOCK),
		th_test(test_region_shared_PREAD),
		th_test(test_region_shared_MBIND),
		th_test(test_region_shared_IO_URING_SETUP),
		th_test(test_region_shared_IO_URING_REGISTER),

		th_test(test_region_contig_profile),
		th_test(test_region_contig_MEMFD_CREATE),
		th_test(test_region_contig_FTRUNCATE),
		th_test(test_region_contig_MMAP),
		th_test(test_region_contig_MADVISE),
		th_test(test_region_contig_MLOCK),
		th_test(test_region_contig_PREAD),
		th_test(test_region_contig_MBIND),
		th_test(test_region_contig_IO_URING_SETUP),
		th_test(test_region_contig_IO_URING_REGISTER),

		th_test(test_region_contig_2m_profile),
		th_test(test_region_contig_2m_MEMFD_CREATE),
		th_test(test_region_contig_2m_FTRUNCATE),
		th_test(test_region_contig_2m_MMAP),
		th_test(test_region_contig_2m_MADVISE),
		th_test(test_region_contig_2m_PREAD),
		th_test(test_region_contig_2m_OPEN),
		th_test(test_region_contig_2m_MBIND),
		th_test(test_region_contig_2m_IO_URING_SETUP),
		th_test(test_region_contig_2m_IO_URING_REGISTER),
	};

	verbose = getenv("INJECT_VERBOSE") != NULL;
	no_pin = th_qemu_lacks(TH_EMUL_IO_URING, NULL, 0);
	return cmocka_run_group_tests(tests, NULL, NULL);
}
