/* SPDX-License-Identifier: MIT */
/* Write-fault every page before recording PFNs (a page only read maps the shared zero page). */
#include <errno.h>
#include <pthread.h>
#include <setjmp.h>
#include <stdatomic.h>
#include <signal.h>
#include <stdio.h>
#include <string.h>
#include <sys/mman.h>

#include "lib/os/os.h"

/* The fallback swaps a process-wide handler: one populating thread at a time. */
static pthread_mutex_t touch_lock = PTHREAD_MUTEX_INITIALIZER;
static struct sigaction saved_sigbus;
static sigjmp_buf *volatile touch_jmp;
static char *volatile touch_lo, *volatile touch_hi;

void udma__populate_after_fork(void)
{
	pthread_mutex_init(&touch_lock, NULL);
	touch_jmp = NULL;
}

static void on_sigbus(int sig, siginfo_t *si, void *uctx)
{
	char *at = si->si_addr;

	if (touch_jmp && at >= touch_lo && at < touch_hi)
		siglongjmp(*touch_jmp, 1);
	/* Not ours: hand it to whatever the program had installed. */
	if (saved_sigbus.sa_flags & SA_SIGINFO) {
		saved_sigbus.sa_sigaction(sig, si, uctx);
	} else if (saved_sigbus.sa_handler != SIG_DFL && saved_sigbus.sa_handler != SIG_IGN) {
		saved_sigbus.sa_handler(sig);
	} else {
		signal(sig, SIG_DFL);
		raise(sig);
	}
}

static int explain(int errnum, size_t off, size_t len, size_t page_size)
{
	char at[32], total[32], where[80], ps[32], cg[384];
	struct udma_hugepage_count c;

	if (page_size == UDMA_PAGE_4K || errnum != ENOMEM)
		return udma__err(errnum, "populating %s failed: %s",
				 udma__fmt_size(len, total, sizeof(total)), udma__vm_strerror(errnum));
	udma__fmt_size(len, total, sizeof(total));
	if (off)
		snprintf(where, sizeof(where), "%s into %s", udma__fmt_size(off, at, sizeof(at)), total);
	else
		snprintf(where, sizeof(where), "a %s mapping", total);
	udma__fmt_size(page_size, ps, sizeof(ps));
	/* A cgroup limit refuses pages however many are free: it goes first. */
	if (udma__hugetlb_cgroup_limit(page_size, page_size, cg, sizeof(cg))) {
		if (udma_hugepage_count(page_size, UDMA_NUMA_ANY, &c) == 0 && c.free > 0)
			return udma__err(errnum,
					 "%s hugepages refused at fault time (%s) although %lu are free: %s",
					 ps, where, c.free, cg);
		return udma__err(errnum, "%s hugepages refused at fault time (%s): %s", ps, where, cg);
	}
	/* Free pages no one has reserved, and still a fault refused. */
	if (udma_hugepage_count(page_size, UDMA_NUMA_ANY, &c) == 0 && c.free > c.reserved)
		return udma__err(errnum,
				 "%s hugepages refused at fault time (%s) although %lu are free: no hugetlb "
				 "cgroup limit of this process is lower; the NUMA node they are bound to may "
				 "have none, or another process took them",
				 ps, where, c.free - c.reserved);
	return udma__err(errnum,
			 "%s hugepages ran out at fault time (%s): another process took them; reserve more "
			 "with: udma hugepages --reserve",
			 ps, where);
}

/* For kernels before 5.14: touch each page, turning a SIGBUS into an error. */
int udma__populate_touch(void *addr, size_t len, size_t page_size)
{
	struct sigaction sa;
	sigjmp_buf jb;
	volatile size_t off = 0;
	volatile int rc = 0;

	memset(&sa, 0, sizeof(sa));
	sa.sa_sigaction = on_sigbus;
	sa.sa_flags = SA_SIGINFO;
	sigemptyset(&sa.sa_mask);
	pthread_mutex_lock(&touch_lock);
	if (sigaction(SIGBUS, &sa, &saved_sigbus) < 0) {
		rc = udma__err(errno, "cannot install a SIGBUS handler: %s", strerror(errno));
		pthread_mutex_unlock(&touch_lock);
		return rc;
	}
	touch_lo = addr;
	touch_hi = (char *)addr + len;
	if (sigsetjmp(jb, 1) == 0) {
		touch_jmp = &jb;
		atomic_signal_fence(memory_order_seq_cst); /* armed before the first touch */
		/* The byte written back is the one read: registered memory
		 * (udma_region_register) has the application's data in it. */
		for (; off < len; off += page_size) {
			volatile char *p = (char *)addr + off;
			char was = *p;

			*p = was;
		}
	} else {
		rc = explain(ENOMEM, off, len, page_size);
	}
	touch_jmp = NULL;
	atomic_signal_fence(memory_order_seq_cst);
	sigaction(SIGBUS, &saved_sigbus, NULL);
	pthread_mutex_unlock(&touch_lock);
	return rc;
}

int udma__populate(void *addr, size_t len, size_t page_size)
{
	/* MADV_POPULATE_WRITE reports a would-be SIGBUS as EFAULT instead of raising it. */
	if (madvise(addr, len, MADV_POPULATE_WRITE) == 0)
		return 0;
	if (errno == EINVAL)
		return udma__populate_touch(addr, len, page_size);
	return explain(errno == EFAULT ? ENOMEM : errno, 0, len, page_size);
}
