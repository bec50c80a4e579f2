/* SPDX-License-Identifier: MIT */
/*
 * lib/os: the kernel's interfaces for memory, each wrapped once with an error
 * that names the fix: hugepage pools and sizes, hugetlb cgroups, NUMA
 * placement, RLIMIT_MEMLOCK, populating, /proc/self/pagemap, free memory,
 * and the text for a failed call's errno. Uses lib/base only; knows nothing
 * of regions or contexts.
 */
#ifndef UDMA_OS_H
#define UDMA_OS_H

#include <stdbool.h>
#include <stdint.h>
#include <sys/types.h>

#include "lib/base/base.h"

/* errhint.c: the text for a failed call's errno (strerror, and for EMFILE and
 * ENFILE the fds open, the limit and how to raise it); thread-local, valid
 * until the next call: one per message. Leaves errno as it was. */
UDMA_HIDDEN const char *udma__strerror(int errnum);
/* The same after a failed mapping call (mmap, munmap, mprotect, madvise,
 * mlock, mbind): its ENOMEM is told apart into the vm.max_map_count limit
 * (named with the sysctl), RLIMIT_AS, or memory. */
UDMA_HIDDEN const char *udma__vm_strerror(int errnum);
/* The same after pthread_create: its EAGAIN is a stack it could not map (as
 * above) or a thread limit (named). */
UDMA_HIDDEN const char *udma__thread_strerror(int errnum);
/* True if this process's mappings (*count) are at vm.max_map_count (*max). */
UDMA_HIDDEN bool udma__map_count_full(unsigned long *count, unsigned long *max);

/* pagemap.c: entries for npages pages of page_size from addr, one per page. */
#define UDMA_PM_PRESENT	 (1ull << 63)
#define UDMA_PM_PFN_MASK ((1ull << 55) - 1)
UDMA_HIDDEN int udma__pagemap_open(void);
UDMA_HIDDEN int udma__pagemap_read(int fd, const void *addr, size_t page_size, size_t npages,
				   uint64_t *entries);
/* 0 if pagemap (fd) describes this process's own pages; -ENOTSUP, explained,
 * under a user-mode emulator whose guest addresses are not the host's
 * (qemu-user: pagemap reads pass through to the host's entries). Probed once
 * per process. */
UDMA_HIDDEN int udma__pagemap_coherent(int fd);

/* vma.c: what backs [addr, addr + len), from /proc/self/smaps. 0, or with the
 * cause and fix (what: the caller, for the message): -EINVAL a gap, or
 * mappings of different page sizes; -EFAULT a mapping not readable and
 * writable; -ENOTSUP file-backed memory other than shmem or hugetlb, or
 * device memory (VM_IO, VM_PFNMAP). */
struct udma_vma_range {
	size_t page_size; /* KernelPageSize, one over the whole range */
	bool hugetlb;
	bool locked; /* every mapping VM_LOCKED already (mlock, mlockall) */
};
UDMA_HIDDEN int udma__vma_range(const void *addr, size_t len, const char *what, struct udma_vma_range *out);

/* mem_available.c: bytes the kernel could still give, system-wide
 * (MemAvailable) or on a node; source says where the figure came from. */
UDMA_HIDDEN int udma__mem_available(int node, uint64_t *bytes, char *source, size_t len);

/* hugepage.c */
UDMA_HIDDEN int udma__check_page_size(size_t page_size); /* 0 (automatic), 4K or a size the kernel offers */
UDMA_HIDDEN size_t udma__choose_page_size(size_t size, int node, bool strict, int *err);

/* hugetlb_cgroup.c: true, with the limit, its cgroup and the fix in buf, if a
 * hugetlb cgroup of this process (at fault time, or for reservations) leaves
 * less than need bytes of page_size pages. */
UDMA_HIDDEN bool udma__hugetlb_cgroup_limit(size_t page_size, size_t need, char *buf, size_t len);

/* numa.c */
UDMA_HIDDEN int udma__numa_check_node(int node);
UDMA_HIDDEN int udma__numa_bind(void *addr, size_t len, int node);
UDMA_HIDDEN int udma__numa_verify(void *addr, size_t page_size, size_t npages, int node);

/* memlock.c */
UDMA_HIDDEN int udma__memlock_check(size_t len);
UDMA_HIDDEN bool udma__has_cap_ipc_lock(void); /* RLIMIT_MEMLOCK does not apply */
UDMA_HIDDEN int udma__memlock_explain(int errnum, size_t len);

/* populate.c: write-fault every page; a fault-time failure is an error, not SIGBUS. */
UDMA_HIDDEN int udma__populate(void *addr, size_t len, size_t page_size);
UDMA_HIDDEN int udma__populate_touch(void *addr, size_t len, size_t page_size);
UDMA_HIDDEN void udma__populate_after_fork(void); /* its lock may have been held by another thread */

/* longterm_pin.c: a pin the kernel honours. mlock keeps pages resident but
 * lets the kernel move them (compaction, memory offline, NUMA balancing); a
 * FOLL_LONGTERM pin does not. From userspace that pin is io_uring's buffer
 * registration: each pin is an io_uring fd whose registered buffers cover
 * [addr, addr + len). Pages are moved out of movable zones first, so read
 * PFNs after pinning. Returns the fd (>= 0), or a negative errno with the
 * reason and fix in udma_last_error(). */
UDMA_HIDDEN int udma__longterm_pin(void *addr, size_t len);
/* Release the pin (synchronously: the pages are free to move on return) and
 * close fd. -1 is ignored. A forked child never holds a copy: the fork
 * handler closes every pin fd in the child at once, since a child keeping
 * one would keep its parent's pages pinned, even after the parent is gone. */
UDMA_HIDDEN void udma__longterm_unpin(int fd);
/* Whether this process can take such pins: 0, or a negative errno with one
 * line saying why not and the fix in why (also in udma_last_error()). */
UDMA_HIDDEN int udma__longterm_pin_probe(char *why, size_t len);

/* child_fds.c: descriptors a forked child closes before fork returns in it,
 * so its copy keeps nothing of the parent's alive. Make an fd and add it
 * under one lock, so no fork sees it off the list. */
/* Install the fork handler (udma__longterm_pin does it too). The context's
 * own fork handler installs it first: handlers prepare in the reverse order,
 * so a fork then drains region makers before it locks the list, never the
 * other way round. 0, or a negative errno. */
UDMA_HIDDEN int udma__child_fds_watch(void);
UDMA_HIDDEN void udma__child_fds_lock(void);
UDMA_HIDDEN void udma__child_fds_unlock(void);
/* 0, or -ENOMEM. */
UDMA_HIDDEN int udma__child_fds_add_locked(int fd);
/* Off the list: true if it was there (the caller closes it then; if not, a
 * forked child's handler closed it and the number may be another file). */
UDMA_HIDDEN bool udma__child_fds_take_locked(int fd);

/* dcache.c: data cache maintenance to the point of coherency. */
/* The smallest data cache line (bytes); 0 where user space cannot maintain. */
UDMA_HIDDEN size_t udma__dcache_line(void);
/* Whether this CPU lets user space clean lines to the point of coherency
 * (arm64, x86: yes; 32-bit ARM: no). */
UDMA_HIDDEN bool udma__dcache_maintainable(void);
/* Clean (write back) every line [addr, addr + len) touches, then a full
 * barrier: the device reads what the CPU wrote. */
UDMA_HIDDEN void udma__dcache_clean(const void *addr, size_t len);
/* Clean and invalidate them, then a full barrier: the CPU reads what the
 * device wrote. */
UDMA_HIDDEN void udma__dcache_clean_inval(const void *addr, size_t len);
/* The lines [addr, addr + len) touches: the first line's address and how
 * many (0 for len 0); line is a power of two. */
UDMA_HIDDEN void udma__dcache_span(uintptr_t addr, size_t len, size_t line, uintptr_t *first, size_t *lines);

/* dmabuf.c: DMA-BUF heaps, /dev/udmabuf and dma-buf syncs. The device
 * nodes are looked up under $UDMA_DEV_ROOT (tests) instead of /dev when set. */
/* A dma-buf of len bytes from the heap named (a name in /dev/dma_heap, or
 * "cma" for the first CMA heap there is): its fd (O_RDWR | O_CLOEXEC, on the
 * list of fds a forked child closes), or a negative errno explained (what
 * the kernel lacks, which heaps there are). Close it with udma__dmabuf_close. */
UDMA_HIDDEN int udma__dma_heap_alloc(const char *heap, size_t len, char *found, size_t found_len);
/* A dma-buf of [0, len) of memfd, by /dev/udmabuf: its fd, or a negative
 * errno explained (no udmabuf in the kernel, its size limit). */
UDMA_HIDDEN int udma__udmabuf_create(int memfd, size_t len);
/* The heaps in /dev/dma_heap, one per line ("none" if empty): 0, or -ENODEV
 * when the kernel has no heaps. */
UDMA_HIDDEN int udma__dma_heaps(char *buf, size_t len);
/* Whether /dev/udmabuf exists, and its limit on one buffer in MiB (-1: unknown). */
UDMA_HIDDEN bool udma__udmabuf_present(void);
UDMA_HIDDEN long udma__udmabuf_limit_mb(void);
/* Close a heap's dma-buf (only if still on the list: in a forked child the
 * fork handler closed it already). */
UDMA_HIDDEN void udma__dmabuf_close(int fd);
/* DMA_BUF_IOCTL_SYNC: begin (cpu true) or end CPU access, read and write. */
UDMA_HIDDEN int udma__dmabuf_sync(int fd, bool cpu);

#endif
