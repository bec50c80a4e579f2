/* SPDX-License-Identifier: MIT */
/* Offline and online the memory blocks under a range, and count the pages that moved. */
#include <errno.h>
#include <fcntl.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include <udma/ctx.h>
#include <udma/hugepage.h>

#include "lib/os/os.h"
#include "tools/bench/page_move.h"

#define MEMORY_SYSFS "/sys/devices/system/memory"

static int say(char *why, size_t len, int err, const char *fmt, const char *arg)
{
	snprintf(why, len, fmt, arg);
	return -err;
}

int page_move_pfns(const void *addr, size_t npages, uint64_t *pfns, char *why, size_t why_len)
{
	int fd = udma__pagemap_open(), rc;
	size_t i;

	if (fd < 0)
		return say(why, why_len, -fd, "%s", udma_last_error());
	rc = udma__pagemap_read(fd, addr, UDMA_PAGE_4K, npages, pfns);
	close(fd);
	if (rc)
		return say(why, why_len, -rc, "%s", udma_last_error());
	for (i = 0; i < npages; i++) {
		if (!(pfns[i] & UDMA_PM_PRESENT)) {
			pfns[i] = 0;
			continue;
		}
		pfns[i] &= UDMA_PM_PFN_MASK;
		if (!pfns[i])
			return say(why, why_len, EPERM, "%s",
				   "pagemap gives no PFNs to this process: run as root (CAP_SYS_ADMIN)");
	}
	return 0;
}

static int read_line(const char *path, char *buf, size_t len)
{
	int fd = open(path, O_RDONLY | O_CLOEXEC);
	ssize_t n;

	if (fd < 0)
		return -errno;
	n = read(fd, buf, len - 1);
	close(fd);
	if (n < 0)
		return -EIO;
	buf[n] = 0;
	buf[strcspn(buf, " \n")] = 0;
	return 0;
}

static int write_word(const char *path, const char *word)
{
	int fd = open(path, O_WRONLY | O_CLOEXEC), rc = 0;

	if (fd < 0)
		return -errno;
	if (write(fd, word, strlen(word)) < 0)
		rc = -errno;
	close(fd);
	return rc;
}

/* Offlining waits as long as it takes to migrate the block's pages, and
 * retries pages it cannot move until a signal arrives: a child does the
 * write, and is killed when the time is up. 1 offlined, 0 refused. */
static int offline_within(const char *state, unsigned timeout_ms)
{
	struct timespec tick = {0, 10 * 1000 * 1000};
	unsigned waited = 0;
	pid_t pid = fork();
	int status;

	if (pid < 0)
		return -errno;
	if (pid == 0)
		_exit(write_word(state, "offline") ? 1 : 0);
	while (waitpid(pid, &status, WNOHANG) == 0) {
		if (waited >= timeout_ms) {
			kill(pid, SIGKILL);
			waitpid(pid, &status, 0);
			return 0;
		}
		nanosleep(&tick, NULL);
		waited += 10;
	}
	return WIFEXITED(status) && WEXITSTATUS(status) == 0;
}

/* The lists come from mmap, not malloc: `udma bench pin` measures brk
 * growth, and a malloc here could move the break under it. */
static uint64_t *list_new(size_t n)
{
	void *p =
		mmap(NULL, n * sizeof(uint64_t), PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);

	return p == MAP_FAILED ? NULL : p;
}

static void list_free(uint64_t *p, size_t n)
{
	if (p)
		munmap(p, n * sizeof(uint64_t));
}

/* One block: offline it (within the timeout), then online it in the zone it
 * was in. 1 offlined, 0 refused, or a negative errno (why set). */
static int cycle_block(uint64_t block, unsigned timeout_ms, char *why, size_t why_len)
{
	char state[96], zones[96], zone[64] = "", now[32];
	int rc;

	snprintf(state, sizeof(state), MEMORY_SYSFS "/memory%llu/state", (unsigned long long)block);
	snprintf(zones, sizeof(zones), MEMORY_SYSFS "/memory%llu/valid_zones", (unsigned long long)block);
	if (read_line(state, now, sizeof(now)) || strcmp(now, "online"))
		return 0; /* gone, or not online: nothing of ours there to move */
	read_line(zones, zone, sizeof(zone));
	rc = offline_within(state, timeout_ms);
	if (rc <= 0)
		return rc;
	if (write_word(state, !strcmp(zone, "Movable") ? "online_movable" : "online_kernel") &&
	    write_word(state, "online"))
		return say(why, why_len, EIO,
			   "memory block %s stayed offline: bring it back with `echo online > it`", state);
	return 1;
}

int page_move_attempt(void *addr, size_t len, unsigned timeout_ms, struct page_move_result *out, char *why,
		      size_t why_len)
{
	size_t npages = len / UDMA_PAGE_4K, i, nblocks = 0;
	uint64_t *before = NULL, *after = NULL, *blocks = NULL;
	unsigned long long block_size;
	char line[64];
	int rc;

	memset(out, 0, sizeof(*out));
	if (geteuid() != 0)
		return say(why, why_len, EPERM, "%s", "offlining memory needs root");
	if (read_line(MEMORY_SYSFS "/block_size_bytes", line, sizeof(line)) ||
	    !(block_size = strtoull(line, NULL, 16)))
		return say(why, why_len, ENOTSUP, "%s",
			   "no memory hotplug in this kernel (" MEMORY_SYSFS "/block_size_bytes)");
	before = list_new(npages);
	after = list_new(npages);
	blocks = list_new(npages);
	rc = -ENOMEM;
	if (!before || !after || !blocks) {
		say(why, why_len, ENOMEM, "%s", "out of memory for the page lists");
		goto out;
	}
	if ((rc = page_move_pfns(addr, npages, before, why, why_len)))
		goto out;
	/* The distinct blocks, without qsort (it may malloc); there are few. */
	for (i = 0; i < npages; i++) {
		uint64_t b = before[i] * UDMA_PAGE_4K / block_size;
		size_t k = nblocks;

		if (!before[i] || (nblocks && blocks[nblocks - 1] == b))
			continue;
		for (k = 0; k < nblocks && blocks[k] != b; k++)
			;
		if (k == nblocks)
			blocks[nblocks++] = b;
	}
	for (i = 0; i < nblocks; i++) {
		out->blocks++;
		rc = cycle_block(blocks[i], timeout_ms, why, why_len);
		if (rc < 0)
			goto out;
		if (rc)
			out->blocks_offlined++;
		else
			out->blocks_refused++;
	}
	out->compacted = write_word("/proc/sys/vm/compact_memory", "1") == 0;
	if ((rc = page_move_pfns(addr, npages, after, why, why_len)))
		goto out;
	out->pages = npages;
	for (i = 0; i < npages; i++)
		out->moved += before[i] != after[i];
out:
	list_free(before, npages);
	list_free(after, npages);
	list_free(blocks, npages);
	return rc;
}
