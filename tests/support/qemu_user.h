/* SPDX-License-Identifier: MIT */
/*
 * tests/support: what qemu-user cannot give a test (the ARM unit test runs,
 * tests/cross.sh). Each check probes the very syscall it is about, and a
 * test skips only when that probe fails under qemu-user: on a real kernel,
 * an ARM board's or this machine's, the same test runs and fails loudly.
 */
#ifndef UDMA_TEST_QEMU_USER_H
#define UDMA_TEST_QEMU_USER_H

#include <stddef.h>

enum th_emul {
	TH_EMUL_IO_URING,     /* io_uring_setup: udma's long-term pin, so PA mode */
	TH_EMUL_MADVISE,      /* madvise reaches the kernel (populate, DONTFORK, HUGEPAGE) */
	TH_EMUL_ROBUST_FUTEX, /* set_robust_list: a dead holder's robust mutex */
	TH_EMUL_MEMPOLICY,    /* get_mempolicy, mbind: NUMA placement */
	TH_EMUL_PAGEMAP,      /* /proc/self/pagemap at the guest's addresses */
	TH_EMUL_MAPS,	      /* /proc/self/maps lists every mapping (vm.max_map_count) */
	TH_EMUL_RLIMIT_AS,    /* setrlimit(RLIMIT_AS) limits the address space */
	TH_EMUL_DMABUF_IOCTL, /* DMA_HEAP_IOCTL_ALLOC, UDMABUF_CREATE reach the kernel */
	TH_EMUL_SMAPS,	      /* /proc/self/smaps at the guest's addresses (32-bit programs) */
};

/* 1 under qemu-user: it answers get_robust_list with ENOSYS (a robust futex
 * list in guest memory is nothing the host kernel could walk), which no
 * Linux kernel with futexes does. */
int th_qemu_user(void);
/* 1 under qemu-user when the probe of what fails (why says how, if not NULL). */
int th_qemu_lacks(enum th_emul what, char *why, size_t len);
/* Under qemu-user, when the probe of what fails: print "# skip: qemu-user
 * ..." with the probe's result and skip the current cmocka test. Anywhere
 * else, or when the probe succeeds, nothing. Call it in the test, never in
 * a forked child. */
void th_skip_if_qemu_lacks(enum th_emul what);

#endif
