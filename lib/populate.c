/* SPDX-License-Identifier: MIT */
/* Write-fault every page before recording PFNs (a page only read maps the shared zero page). */
#include <errno.h>
#include <setjmp.h>
#include <signal.h>
#include <string.h>
#include <sys/mman.h>

#include "udma_internal.h"

static __thread sigjmp_buf *touch_jmp;

static void on_sigbus(int sig)
{
	if (touch_jmp)
		siglongjmp(*touch_jmp, 1);
	/* Not ours: die the way the program would have without us. */
	signal(sig, SIG_DFL);
	raise(sig);
}

static int explain(int errnum, size_t off, size_t len, size_t page_size)
{
	char at[32], total[32];

	if (page_size > UDMA_PAGE_4K && errnum == ENOMEM)
		return udma__err(
			errnum,
			"hugepages ran out at fault time (%s into %s): another process took them "
			"or a hugetlb cgroup limit was hit; reserve more with: udma hugepages --reserve",
			udma__fmt_size(off, at, sizeof(at)), udma__fmt_size(len, total, sizeof(total)));
	return udma__err(errnum, "populating %s failed: %s (out of memory?)",
			 udma__fmt_size(len, total, sizeof(total)), strerror(errnum));
}

/* For kernels before 5.14: touch each page, turning a SIGBUS into an error. */
int udma__populate_touch(void *addr, size_t len, size_t page_size)
{
	struct sigaction sa, old;
	sigjmp_buf jb;
	volatile size_t off = 0;
	int rc = 0;

	memset(&sa, 0, sizeof(sa));
	sa.sa_handler = on_sigbus;
	sigemptyset(&sa.sa_mask);
	if (sigaction(SIGBUS, &sa, &old) < 0)
		return udma__err(errno, "cannot install a SIGBUS handler: %s", strerror(errno));
	if (sigsetjmp(jb, 1) == 0) {
		touch_jmp = &jb;
		for (; off < len; off += page_size)
			*(volatile char *)((char *)addr + off) = 0; /* fresh pages are zero already */
	} else {
		rc = explain(ENOMEM, off, len, page_size);
	}
	touch_jmp = NULL;
	sigaction(SIGBUS, &old, NULL);
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
