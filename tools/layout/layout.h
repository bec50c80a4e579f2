/* SPDX-License-Identifier: MIT */
/* udma layout: a process's address space as read from /proc, shared by the
 * reader (layout_read.c) and the text and JSON renderers (layout_draw.c). */
#ifndef UDMA_LAYOUT_H
#define UDMA_LAYOUT_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>

enum seg_kind {
	SEG_CODE,     /* r-x of the executable */
	SEG_RODATA,   /* r-- of the executable: ELF headers, constants, relro */
	SEG_DATA,     /* rw- of the executable: .data */
	SEG_BSS,      /* anonymous mapping right after .data */
	SEG_HEAP,     /* [heap]: start_brk .. program break */
	SEG_MMAP,     /* libraries, files, anonymous mappings */
	SEG_UDMA,     /* a udma region (or part of one) */
	SEG_STACK,    /* [stack] of the main thread */
	SEG_VVAR,     /* [vvar], [vvar_vclock]: kernel data the vdso reads */
	SEG_VDSO,     /* [vdso] */
	SEG_VSYSCALL, /* [vsyscall], above user space on x86-64 */
};

#define LAYOUT_NAME_MAX	 64
#define LAYOUT_SHOW_RUNS 4

/* One VMA from /proc/PID/smaps. */
struct layout_vma {
	uint64_t start, end;
	char perms[5];
	unsigned long inode;
	char *path;	      /* "" for anonymous mappings */
	size_t page_size;     /* KernelPageSize */
	uint64_t rss, locked; /* bytes; rss includes hugetlb pages */
	bool hugetlb;
	enum seg_kind kind;
	char udma[LAYOUT_NAME_MAX]; /* region name if kind == SEG_UDMA */
	int reg_id;		    /* index in the library's registry (--demo), else -1 */
};

struct layout_run {
	uint64_t iova, size;
};

/* One udma region: adjacent VMAs of the same region grouped together. */
struct layout_region {
	char name[LAYOUT_NAME_MAX];
	uint64_t start, end;
	size_t page_size;
	uint64_t rss, locked;
	bool hugetlb;
	bool pfns_readable;
	char pfn_note[96]; /* why there are no runs, when there are none */
	struct layout_run *runs;
	size_t nruns, runs_cap;
	uint64_t largest_run;
	/* --demo: what the library itself says, to compare with pagemap */
	bool have_lib;
	uint64_t lib_iova;
	size_t lib_contig;
};

struct layout {
	int pid;
	char comm[32];
	char state; /* R, S, Z ... from /proc/PID/stat */
	int ppid;
	unsigned long flags; /* PF_* */
	char *exe;	     /* NULL if unknown */
	/* From /proc/PID/stat; all 0 when the kernel hides them from us. */
	uint64_t start_code, end_code, start_stack, start_data, end_data, start_brk;
	uint64_t brk; /* end of [heap], or start_brk if there is no heap */
	struct layout_vma *vmas;
	size_t nvmas, vmas_cap;
	struct layout_region *regions;
	size_t nregions;
	char err[320]; /* why layout_read failed: one line, with the fix */
};

struct udma_ctx;
/* Read lay->pid; ctx: the registry to mark regions by (--demo), or NULL.
 * 0, or a negative errno with lay->err saying why. */
int layout_read(struct layout *lay, const struct udma_ctx *ctx);
void layout_free(struct layout *lay);
const char *layout_kind_name(enum seg_kind kind);
void layout_draw_text(FILE *f, const struct layout *lay);
/* The members of the command's JSON document, after its "ok". */
struct json;
void layout_draw_json(struct json *j, const struct layout *lay);

#endif
