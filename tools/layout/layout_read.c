/* SPDX-License-Identifier: MIT */
/* udma layout's reader: a process's address space from /proc/PID/{stat,smaps,
 * pagemap}, classified, with its udma regions and their contiguous runs. */
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <stdlib.h>
#include <string.h>
#include <udma/udma.h>
#include <unistd.h>

#include "layout.h"
#include "lib/os/os.h"

#define PM_BATCH 512 /* pages scanned a pagemap read */

static int vma_push(struct layout *lay, const struct layout_vma *v)
{
	if (lay->nvmas == lay->vmas_cap) {
		size_t cap = lay->vmas_cap ? 2 * lay->vmas_cap : 64;
		struct layout_vma *p = realloc(lay->vmas, cap * sizeof(*p));

		if (!p)
			return -ENOMEM;
		lay->vmas = p;
		lay->vmas_cap = cap;
	}
	lay->vmas[lay->nvmas++] = *v;
	return 0;
}

/* "start-end perms offset dev inode [path]": 1, or 0 for a "Key: value"
 * line, or -ENOMEM. */
static int parse_vma_header(char *line, struct layout_vma *v)
{
	unsigned long long start, end, off;
	size_t hex = strspn(line, "0123456789abcdef");
	int n = 0;

	if (!hex || line[hex] != '-')
		return 0;
	*v = (struct layout_vma){.page_size = UDMA_PAGE_4K, .reg_id = -1};
	if (sscanf(line, "%llx-%llx %4s %llx %*s %lu %n", &start, &end, v->perms, &off, &v->inode, &n) < 5 ||
	    !n)
		return 0;
	line[strcspn(line, "\n")] = '\0';
	v->start = start;
	v->end = end;
	v->path = strdup(line + n);
	return v->path ? 1 : -ENOMEM;
}

static void parse_vma_field(const char *line, struct layout_vma *v)
{
	unsigned long long kb;

	if (sscanf(line, "KernelPageSize: %llu kB", &kb) == 1)
		v->page_size = (size_t)kb << 10;
	else if (sscanf(line, "Rss: %llu kB", &kb) == 1 ||
		 sscanf(line, "Shared_Hugetlb: %llu kB", &kb) == 1 ||
		 sscanf(line, "Private_Hugetlb: %llu kB", &kb) == 1)
		v->rss += kb << 10; /* Rss leaves hugetlb pages out */
	else if (sscanf(line, "Locked: %llu kB", &kb) == 1)
		v->locked = kb << 10;
	else if (!strncmp(line, "VmFlags:", 8))
		v->hugetlb = strstr(line, " ht") != NULL;
}

#define PF_KTHREAD 0x00200000 /* <linux/sched.h>: the task is a kernel thread */

static int explain_open(struct layout *lay, const char *what, int err)
{
	if (err == ENOENT || err == ESRCH) {
		snprintf(lay->err, sizeof(lay->err),
			 "no process %d (it exited, or lives in another PID namespace); "
			 "list processes with `ps -e`",
			 lay->pid);
		return -ESRCH;
	}
	if (err == EACCES || err == EPERM)
		snprintf(lay->err, sizeof(lay->err),
			 "cannot read /proc/%d/%s: %s; run as the process's owner or as root", lay->pid, what,
			 strerror(err));
	else
		snprintf(lay->err, sizeof(lay->err), "cannot read /proc/%d/%s: %s", lay->pid, what,
			 strerror(err));
	return -err;
}

static int out_of_memory(struct layout *lay, const char *doing)
{
	snprintf(lay->err, sizeof(lay->err), "out of memory %s of process %d", doing, lay->pid);
	return -ENOMEM;
}

static int read_smaps(struct layout *lay)
{
	char path[64], *line = NULL;
	struct layout_vma v;
	size_t cap = 0;
	int rc = 0;
	FILE *f;

	snprintf(path, sizeof(path), "/proc/%d/smaps", lay->pid);
	if (!(f = fopen(path, "re")))
		return explain_open(lay, "smaps", errno);
	while (rc >= 0 && getline(&line, &cap, f) > 0) {
		rc = parse_vma_header(line, &v);
		if (rc == 0 && lay->nvmas)
			parse_vma_field(line, &lay->vmas[lay->nvmas - 1]);
		else if (rc > 0 && (rc = vma_push(lay, &v)))
			free(v.path);
	}
	if (rc < 0)
		rc = out_of_memory(lay, "reading the mappings");
	else if (ferror(f))
		rc = explain_open(lay, "smaps", errno ? errno : EIO);
	free(line);
	fclose(f);
	return rc < 0 ? rc : 0;
}

/* ---- /proc/PID/stat and exe --------------------------------------------- */

/* Fields after "(comm)", numbered as in proc(5): 3 is the state. */
static void parse_stat_fields(struct layout *lay, const char *p)
{
	int field = 3;

	for (; *p; field++) {
		unsigned long long v;

		while (*p == ' ')
			p++;
		v = strtoull(p, NULL, 10);
		if (field == 3)
			lay->state = *p;
		else if (field == 4)
			lay->ppid = (int)v;
		else if (field == 9)
			lay->flags = (unsigned long)v;
		else if (field == 26)
			lay->start_code = v;
		else if (field == 27)
			lay->end_code = v;
		else if (field == 28)
			lay->start_stack = v;
		else if (field == 45)
			lay->start_data = v;
		else if (field == 46)
			lay->end_data = v;
		else if (field == 47)
			lay->start_brk = v;
		p = strchr(p, ' ');
		if (!p)
			break;
	}
}

static int read_stat(struct layout *lay)
{
	char path[64], buf[2048], *open_paren, *close_paren;
	ssize_t got;
	int fd;

	snprintf(path, sizeof(path), "/proc/%d/stat", lay->pid);
	if ((fd = open(path, O_RDONLY | O_CLOEXEC)) < 0)
		return explain_open(lay, "stat", errno);
	got = read(fd, buf, sizeof(buf) - 1);
	close(fd);
	if (got < 0)
		return explain_open(lay, "stat", errno);
	buf[got] = '\0';
	/* comm may hold spaces and parentheses: it ends at the last ')'. */
	open_paren = strchr(buf, '(');
	close_paren = strrchr(buf, ')');
	if (!open_paren || !close_paren || close_paren < open_paren) {
		snprintf(lay->err, sizeof(lay->err), "cannot parse %s: no (comm) in it", path);
		return -EINVAL;
	}
	snprintf(lay->comm, sizeof(lay->comm), "%.*s", (int)(close_paren - open_paren - 1), open_paren + 1);
	parse_stat_fields(lay, close_paren + 1);
	return 0;
}

/* Unknown (NULL) is fine: then the executable's mappings count as mmap. */
static int read_exe(struct layout *lay)
{
	char path[64], buf[PATH_MAX];
	ssize_t n;

	snprintf(path, sizeof(path), "/proc/%d/exe", lay->pid);
	n = readlink(path, buf, sizeof(buf) - 1);
	if (n <= 0)
		return 0;
	buf[n] = '\0';
	lay->exe = strdup(buf);
	return lay->exe ? 0 : -ENOMEM;
}

/* ---- classification ----------------------------------------------------- */

/* udma names its mappings "udma:NAME": memfds show as "/memfd:udma:NAME
 * (deleted)", anonymous ones as "[anon:udma:NAME]" (CONFIG_ANON_VMA_NAME). */
static bool udma_name_from_path(const char *path, char *name, size_t len)
{
	static const char memfd[] = "/memfd:udma:", anon[] = "[anon:udma:", deleted[] = " (deleted)";
	size_t n;

	if (!strncmp(path, memfd, sizeof(memfd) - 1)) {
		path += sizeof(memfd) - 1;
		n = strlen(path);
		if (n >= sizeof(deleted) - 1 && !strcmp(path + n - (sizeof(deleted) - 1), deleted))
			n -= sizeof(deleted) - 1;
	} else if (!strncmp(path, anon, sizeof(anon) - 1)) {
		path += sizeof(anon) - 1;
		n = strlen(path);
		n -= n && path[n - 1] == ']';
	} else {
		return false;
	}
	snprintf(name, len, "%.*s", (int)n, path);
	return true;
}

static enum seg_kind classify_special(const char *path, enum seg_kind dflt)
{
	if (!strcmp(path, "[heap]"))
		return SEG_HEAP;
	if (!strcmp(path, "[stack]"))
		return SEG_STACK;
	if (!strncmp(path, "[vvar", 5))
		return SEG_VVAR;
	if (!strcmp(path, "[vdso]"))
		return SEG_VDSO;
	if (!strcmp(path, "[vsyscall]"))
		return SEG_VSYSCALL;
	return dflt;
}

static enum seg_kind classify_one(const struct layout *lay, struct layout_vma *v,
				  const struct layout_vma *prev)
{
	if (udma_name_from_path(v->path, v->udma, sizeof(v->udma)))
		return SEG_UDMA;
	if (lay->exe && !strcmp(v->path, lay->exe)) {
		if (v->perms[2] == 'x')
			return SEG_CODE;
		return v->perms[1] == 'w' ? SEG_DATA : SEG_RODATA;
	}
	/* The bss tail that does not fit the file's last page is anonymous. */
	if (!v->path[0] && prev && prev->kind == SEG_DATA && prev->end == v->start)
		return SEG_BSS;
	return classify_special(v->path, SEG_MMAP);
}

static void classify(struct layout *lay)
{
	size_t i;

	for (i = 0; i < lay->nvmas; i++)
		lay->vmas[i].kind = classify_one(lay, &lay->vmas[i], i ? &lay->vmas[i - 1] : NULL);
}

/* ---- --demo: mark regions by the library's registry ---------------------- */

/* Split vmas[i] at addr. Counters are shared out by length: exact for udma's
 * mappings, which are fully populated and locked. */
static int vma_split(struct layout *lay, size_t i, uint64_t addr)
{
	struct layout_vma lo = lay->vmas[i], hi = lo;
	double frac = (double)(addr - lo.start) / (double)(lo.end - lo.start);

	if (!(hi.path = strdup(lo.path)) || vma_push(lay, &hi)) {
		free(hi.path);
		return -ENOMEM;
	}
	memmove(&lay->vmas[i + 2], &lay->vmas[i + 1], (lay->nvmas - i - 2) * sizeof(lo));
	lo.end = hi.start = addr;
	lo.rss = (uint64_t)((double)lo.rss * frac);
	lo.locked = (uint64_t)((double)lo.locked * frac);
	hi.rss -= lo.rss;
	hi.locked -= lo.locked;
	lay->vmas[i] = lo;
	lay->vmas[i + 1] = hi;
	return 0;
}

static int mark_region(struct layout *lay, const struct udma_region *r, int id)
{
	uint64_t start = (uintptr_t)udma_region_addr(r), end = start + udma_region_size(r);
	size_t i;
	int rc;

	for (i = 0; i < lay->nvmas; i++) {
		struct layout_vma *v = &lay->vmas[i];

		if (v->end <= start || v->start >= end)
			continue;
		if ((v->start < start && (rc = vma_split(lay, i, start))) ||
		    (lay->vmas[i].end > end && (rc = vma_split(lay, i, end))))
			return rc;
		if (lay->vmas[i].start < start)
			continue; /* the lower half; the region's part comes next */
		v = &lay->vmas[i];
		v->kind = SEG_UDMA;
		v->reg_id = id;
		snprintf(v->udma, sizeof(v->udma), "%s", udma_region_name(r));
	}
	return 0;
}

static int mark_registry(struct layout *lay, const struct udma_ctx *ctx)
{
	const struct udma_region *r = NULL;
	int id = 0, rc;

	while ((r = udma_region_next(ctx, r)))
		if ((rc = mark_region(lay, r, id++)))
			return out_of_memory(lay, "marking the udma regions");
	return 0;
}

/* ---- udma regions and their physically contiguous runs ------------------- */

static int run_push(struct layout_region *r, uint64_t iova, uint64_t size)
{
	if (r->nruns == r->runs_cap) {
		size_t cap = r->runs_cap ? 2 * r->runs_cap : 16;
		struct layout_run *p = realloc(r->runs, cap * sizeof(*p));

		if (!p)
			return -ENOMEM;
		r->runs = p;
		r->runs_cap = cap;
	}
	r->runs[r->nruns++] = (struct layout_run){iova, size};
	return 0;
}

/* Adds an entry to the runs; open_run says whether it may extend the last. */
static int run_add(struct layout_region *r, uint64_t entry, size_t step, bool *open_run)
{
	uint64_t pa = (entry & UDMA_PM_PFN_MASK) * UDMA_PAGE_4K;
	struct layout_run *last = r->nruns ? &r->runs[r->nruns - 1] : NULL;

	if (!(entry & UDMA_PM_PRESENT) || !pa) {
		*open_run = false;
		return 0;
	}
	if (*open_run && last->iova + last->size == pa) {
		last->size += step;
		return 0;
	}
	*open_run = true;
	return run_push(r, pa, step);
}

static int scan_pagemap(struct layout_region *r, int fd, size_t step)
{
	uint64_t buf[PM_BATCH], va = r->start;
	bool open_run = false;
	size_t n, i;
	int rc;

	while (va < r->end) {
		n = (r->end - va + step - 1) / step;
		n = n < PM_BATCH ? n : PM_BATCH;
		/* The first entry of each page: a hugepage's carries its head PFN. */
		if ((rc = udma__pagemap_read(fd, (const void *)(uintptr_t)va, step, n, buf)))
			return rc;
		for (i = 0; i < n; i++)
			if ((rc = run_add(r, buf[i], step, &open_run)))
				return rc;
		va += n * step;
	}
	return 0;
}

/* Fails only for lack of memory; an unreadable pagemap is a note. */
static int region_runs(struct layout_region *r, int fd, int open_err)
{
	size_t step = r->hugetlb && r->page_size > UDMA_PAGE_4K ? r->page_size : UDMA_PAGE_4K, i;
	int rc;

	if (fd < 0) {
		snprintf(r->pfn_note, sizeof(r->pfn_note), "PFNs hidden (needs CAP_SYS_ADMIN): pagemap: %s",
			 strerror(open_err));
		return 0;
	}
	rc = scan_pagemap(r, fd, step);
	if (rc == -ENOMEM)
		return rc;
	if (rc)
		snprintf(r->pfn_note, sizeof(r->pfn_note), "pagemap read failed: %s", strerror(-rc));
	else if (!r->nruns && !r->rss)
		snprintf(r->pfn_note, sizeof(r->pfn_note), "no page resident: no physical address yet");
	else if (!r->nruns)
		snprintf(r->pfn_note, sizeof(r->pfn_note), "PFNs hidden (needs CAP_SYS_ADMIN)");
	r->pfns_readable = !rc && r->nruns;
	for (i = 0; i < r->nruns; i++)
		if (r->runs[i].size > r->largest_run)
			r->largest_run = r->runs[i].size;
	return 0;
}

static void region_open(struct layout_region *r, const struct layout_vma *v)
{
	snprintf(r->name, sizeof(r->name), "%s", v->udma);
	r->start = v->start;
	r->page_size = v->page_size;
	r->hugetlb = v->hugetlb || v->page_size > UDMA_PAGE_4K;
}

static void region_extend(struct layout_region *r, const struct layout_vma *v)
{
	r->end = v->end;
	r->rss += v->rss;
	r->locked += v->locked;
}

/* Adjacent VMAs of one region (split by mlock, madvise ...) make one region. */
static int group_regions(struct layout *lay)
{
	const struct layout_vma *v, *prev = NULL;
	size_t i;

	if (!(lay->regions = calloc(lay->nvmas ? lay->nvmas : 1, sizeof(*lay->regions))))
		return -ENOMEM;
	for (i = 0; i < lay->nvmas; prev = v, i++) {
		v = &lay->vmas[i];
		if (v->kind != SEG_UDMA)
			continue;
		if (!prev || prev->kind != SEG_UDMA || prev->end != v->start || strcmp(prev->udma, v->udma) ||
		    prev->reg_id != v->reg_id)
			region_open(&lay->regions[lay->nregions++], v);
		region_extend(&lay->regions[lay->nregions - 1], v);
	}
	return 0;
}

static int find_runs(struct layout *lay)
{
	char path[64];
	int fd, err, rc = 0;
	size_t i;

	snprintf(path, sizeof(path), "/proc/%d/pagemap", lay->pid);
	fd = open(path, O_RDONLY | O_CLOEXEC);
	err = errno;
	for (i = 0; !rc && i < lay->nregions; i++)
		rc = region_runs(&lay->regions[i], fd, err);
	if (fd >= 0)
		close(fd);
	return rc ? out_of_memory(lay, "finding the physical runs") : 0;
}

/* --demo: the library's own translation, beside what pagemap says. */
static void add_lib_view(struct layout *lay, const struct udma_ctx *ctx)
{
	struct layout_region *r;
	size_t i;

	for (i = 0; i < lay->nregions; i++) {
		r = &lay->regions[i];
		r->lib_iova = udma_iova(ctx, (const void *)(uintptr_t)r->start);
		if (r->lib_iova == UDMA_BAD_IOVA)
			continue;
		r->have_lib = true;
		r->lib_contig = udma_iova_contig(ctx, (const void *)(uintptr_t)r->start, r->end - r->start);
	}
}

void layout_free(struct layout *lay)
{
	size_t i;

	for (i = 0; i < lay->nvmas; i++)
		free(lay->vmas[i].path);
	for (i = 0; i < lay->nregions; i++)
		free(lay->regions[i].runs);
	free(lay->vmas);
	free(lay->regions);
	free(lay->exe);
}

static void set_brk(struct layout *lay)
{
	size_t i;

	lay->brk = lay->start_brk;
	for (i = 0; i < lay->nvmas; i++)
		if (lay->vmas[i].kind == SEG_HEAP)
			lay->brk = lay->vmas[i].end; /* page-rounded program break */
}

/* Why a process has no user-space memory to show. */
static int no_memory(struct layout *lay)
{
	if (lay->state == 'Z' || lay->state == 'X')
		snprintf(lay->err, sizeof(lay->err),
			 "process %d is a zombie: it has exited and its parent (pid %d) has not reaped it "
			 "yet, so it has no memory left to show; it goes when its parent waits for it or "
			 "exits",
			 lay->pid, lay->ppid);
	else if (lay->flags & PF_KTHREAD)
		snprintf(lay->err, sizeof(lay->err),
			 "process %d is a kernel thread: it has no user-space memory; pick a user process "
			 "(`ps -e`)",
			 lay->pid);
	else
		snprintf(lay->err, sizeof(lay->err),
			 "process %d (state %c) shows no mapping in /proc/%d/smaps", lay->pid, lay->state,
			 lay->pid);
	return lay->state == 'Z' || lay->state == 'X' ? -ESRCH : -EINVAL;
}

/* ctx: the registry to mark regions by (--demo), or NULL. */
int layout_read(struct layout *lay, const struct udma_ctx *ctx)
{
	int rc;

	if ((rc = read_stat(lay)) || (rc = read_smaps(lay)))
		return rc;
	if (!lay->nvmas)
		return no_memory(lay);
	if (read_exe(lay))
		return out_of_memory(lay, "reading the executable's path");
	classify(lay);
	set_brk(lay);
	if ((ctx && (rc = mark_registry(lay, ctx))) || (rc = group_regions(lay)) || (rc = find_runs(lay)))
		return rc == -ENOMEM && !lay->err[0] ? out_of_memory(lay, "grouping the udma regions") : rc;
	if (ctx)
		add_lib_view(lay, ctx);
	return 0;
}
