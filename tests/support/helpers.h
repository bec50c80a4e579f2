/* SPDX-License-Identifier: MIT */
/*
 * tests/support: what the tests share. This header: leak checks (th_test),
 * hugepage fixtures, pagemap reads, unprivileged children; beside it
 * wrap_syscalls (failure injection for test_inject), ring_ops.h (the ring
 * calls by flavour) and tap.sh (the shell tests' TAP output). Tests are
 * consumers: they may use any layer, internal headers too for white-box tests.
 */
#ifndef UDMA_TEST_HELPERS_H
#define UDMA_TEST_HELPERS_H

#include <pthread.h>
#include <setjmp.h> /* cmocka needs these before its header */
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <sys/types.h>

#include <cmocka.h>
#include <udma/udma.h>

/* What a test could leak: open fds, mappings (their text, to show what
 * changed), locked memory and long-term pinned memory (VmPin). */
struct th_snapshot {
	int fds, maps;
	size_t locked_kb, pinned_kb;
	char text[32768];
};
void th_snapshot_take(struct th_snapshot *s);
/* 0 if now equals before; else prints what changed (labelled by what) and returns -1. */
int th_snapshot_compare(const struct th_snapshot *before, const char *what);

/* cmocka setup/teardown pair: the teardown fails the test if it left an fd,
 * a mapping, locked or pinned memory behind. */
int th_leak_setup(void **state);
int th_leak_teardown(void **state);
#define th_test(f) cmocka_unit_test_setup_teardown(f, th_leak_setup, th_leak_teardown)

/* Make sure count pages of page_size are available. As root, reserve what is
 * missing (given back by th_hugepages_restore, registered with atexit).
 * Returns 1 if they are available, 0 if not (and prints why). */
int th_hugepages_ensure(size_t page_size, unsigned long count);
void th_hugepages_restore(void);
/* Keep all but `leave` of the available page_size pages from everyone else,
 * by mapping them without touching them (no pool is resized). Returns 1 if
 * exactly `leave` are then available. th_hugepages_unhold() lets them go. */
int th_hugepages_hold(size_t page_size, long leave);
void th_hugepages_unhold(void);

/* A stand-in hugepage pool: plain files where the library looks for the
 * kernel's (nr_hugepages, free_hugepages, resv_hugepages, surplus_hugepages). */
struct th_fake_pool {
	size_t page_size;
	unsigned long total, free;
};
/* Fork; in the child, in a mount namespace of its own, put a tmpfs holding
 * these n pools over /sys/kernel/mm/hugepages, run fn and exit with its
 * return value: whatever the library writes lands in those files, never in
 * the kernel's pools. Returns the child's exit status, -1 if it died; skips
 * the test if the namespace or the mount cannot be made (not root). */
int th_fake_hugepages(const struct th_fake_pool *pools, unsigned n, int (*fn)(void *), void *arg);
/* In such a child: the value in a stand-in pool's file, or -1. */
long th_fake_read(size_t page_size, const char *file);
/* Use up this process's file descriptors but `leave`: RLIMIT_NOFILE lowered
 * to a little above the fds open, every free one below it taken by a dup of
 * one /dev/null fd. th_fds_restore closes them and puts the limit back. */
void th_fds_exhaust(unsigned leave);
void th_fds_restore(void);
/* Free fds below RLIMIT_NOFILE. */
unsigned th_fds_free(void);

/* Physical address of va from a fresh pagemap read, 0 if not present or hidden. */
uint64_t th_pagemap_pa(const void *va);
/* A context with the defaults (IOVA mode AUTO, any node); fails the test if none. */
struct udma_ctx *th_ctx(void);
/* A pool of ctx on any node; fails the test (saying why) if none. */
struct udma_pool *th_pool(struct udma_ctx *ctx, size_t obj_size, unsigned count, unsigned cache,
			  unsigned flags, const char *name);
/* smaps VmFlags of the mapping containing va contain flag ("dc": DONTFORK, "lo": locked,
 * "hg": MADV_HUGEPAGE). */
int th_vma_has_flag(const void *va, const char *flag);

/* Fork; in the child drop to nobody (if root), lower RLIMIT_MEMLOCK to memlock
 * bytes unless memlock is (size_t)-1, run fn and exit with its return value.
 * Returns the child's exit status, or -1 if it died from a signal. */
int th_run_child(int (*fn)(void *), void *arg, int drop_root, size_t memlock);
/* The same child, left running: returns 0 in it (as nobody, with that
 * limit; it _exits 100 or 101 if it could not be set up), its pid in the
 * parent, -1 if fork failed. th_wait_child: its exit status, -1 if a signal
 * ended it. */
pid_t th_fork_child(int drop_root, size_t memlock);
int th_wait_child(pid_t pid);

/* Threads in tests: small stacks, kept in glibc's stack cache after join, so
 * the leak check sees the same mappings before and after each test once
 * th_threads_warm_up(TH_MAX_THREADS) has run (at the start of main). */
#define TH_MAX_THREADS 8
void th_thread_start(pthread_t *t, void *(*fn)(void *), void *arg);
void th_threads_warm_up(unsigned n);
/* qsort comparator for arrays of pointers. */
int th_cmp_ptr(const void *a, const void *b);
/* Get count objects of p one by one: each a pool object, all distinct (the
 * array comes back sorted), and then none left. Returns them (malloc'd). */
void **th_pool_take_all(struct udma_pool *p, unsigned count);

#if defined(__SANITIZE_THREAD__)
#define TH_UNDER_TSAN 1 /* about 10x slower: stress tests scale down */
#elif defined(__has_feature)
#if __has_feature(thread_sanitizer)
#define TH_UNDER_TSAN 1
#endif
#endif

/* What the library writes on stderr meanwhile (its reports, udma_set_log's
 * default): fd 2 goes to a memfd until th_stderr_end, which puts it back and
 * returns the text (the first sizeof(text) - 1 bytes). */
struct th_stderr {
	int saved, fd;
	char text[4096];
};
void th_stderr_start(struct th_stderr *c);
const char *th_stderr_end(struct th_stderr *c);

/* Assert rc is a negative errno with an explanation in udma_last_error(). */
#define th_assert_err(rc, errnum)                                                                    \
	do {                                                                                         \
		int rc_ = (rc);                                                                      \
		if (rc_ != -(errnum))                                                                \
			print_error("expected -%d, got %d: %s\n", (errnum), rc_, udma_last_error()); \
		assert_int_equal(rc_, -(errnum));                                                    \
		assert_true(udma_last_error()[0] != 0);                                              \
	} while (0)

/* udma_region_create(ctx, o) must fail with -err and a message containing
 * says (a region made after all is destroyed first). */
void th_expect_region_error(struct udma_ctx *ctx, const struct udma_region_opts *o, int err,
			    const char *says);
/* udma_region_dmabuf(r) must fail with -err and a message containing says. */
void th_expect_dmabuf_error(struct udma_region *r, int err, const char *says);

#endif
