/* SPDX-License-Identifier: MIT */
/* udma layout: draw a process's address space, high addresses first, in 100
 * columns; or print it as one JSON object. */
#include <inttypes.h>
#include <limits.h>
#include <string.h>

#include "tools/cli.h"
#include "tools/json.h"
#include "layout.h"
#include "lib/base/base.h"

#define COLUMNS	       100
#define BAR_MAX	       16 /* one mark per doubling from 4 KiB: 16 marks = 128 GiB */
#define ADDR_MIN_WIDTH 12

const char *layout_kind_name(enum seg_kind kind)
{
	switch (kind) {
	case SEG_CODE: return "code";
	case SEG_RODATA: return "rodata";
	case SEG_DATA: return "data";
	case SEG_BSS: return "bss";
	case SEG_HEAP: return "heap";
	case SEG_MMAP: return "mmap";
	case SEG_UDMA: return "udma";
	case SEG_STACK: return "stack";
	case SEG_VVAR: return "vvar";
	case SEG_VDSO: return "vdso";
	case SEG_VSYSCALL: return "vsyscall";
	}
	return "?";
}

/* A run of VMAs drawn as one line: indexes first..last, ascending. */
struct group {
	size_t first, last;
};

static const char *base_name(const char *path)
{
	const char *slash = strrchr(path, '/');

	return path[0] == '/' && slash ? slash + 1 : path;
}

/* Whether b continues a's line: contiguous, same kind, same file or region. */
static bool same_group(const struct layout_vma *a, const struct layout_vma *b)
{
	if (a->end != b->start || a->kind != b->kind)
		return false;
	if (a->kind == SEG_UDMA)
		return !strcmp(a->udma, b->udma) && a->reg_id == b->reg_id;
	return !strcmp(a->path, b->path);
}

static const struct layout_region *region_at(const struct layout *lay, uint64_t start)
{
	size_t i;

	for (i = 0; i < lay->nregions; i++)
		if (lay->regions[i].start <= start && start < lay->regions[i].end)
			return &lay->regions[i];
	return NULL;
}

static unsigned hex_digits(uint64_t v)
{
	unsigned n = 1;

	while (v >>= 4)
		n++;
	return n;
}

/* Wide enough for every user-space address; [vsyscall] sits in kernel space
 * on x86-64 and may overflow its own line rather than widen all of them. */
static int addr_width(const struct layout *lay)
{
	unsigned w = ADDR_MIN_WIDTH;
	size_t i;

	for (i = 0; i < lay->nvmas; i++)
		if (lay->vmas[i].kind != SEG_VSYSCALL && hex_digits(lay->vmas[i].end - 1) > w)
			w = hex_digits(lay->vmas[i].end - 1);
	return (int)w;
}

static unsigned bar_len(uint64_t size)
{
	unsigned n = 1;

	while (n < BAR_MAX && (size >> (12 + n)))
		n++;
	return n;
}

static void group_perms(const struct layout *lay, const struct group *g, char *out)
{
	size_t i;

	memcpy(out, lay->vmas[g->first].perms, 3);
	out[3] = '\0';
	for (i = g->first + 1; i <= g->last; i++)
		if (memcmp(out, lay->vmas[i].perms, 3))
			strcpy(out, "mix");
}

static void group_detail(const struct layout *lay, const struct group *g, char *buf, size_t len)
{
	const struct layout_vma *v = &lay->vmas[g->first];
	size_t n = g->last - g->first + 1;
	char name[CLI_ESCAPED_SIZE(LAYOUT_NAME_MAX)];
	int used;

	if (v->kind == SEG_UDMA)
		used = snprintf(buf, len, "udma:%s", cli_escape(v->udma, name, sizeof(name)));
	else if (v->path[0])
		used = snprintf(buf, len, "%s", cli_escape(base_name(v->path), name, sizeof(name)));
	else
		used = snprintf(buf, len, "anonymous");
	if (n > 1 && used >= 0 && (size_t)used < len)
		snprintf(buf + used, len - (size_t)used, " (%zu maps)", n);
}

/* Fit s into width columns, marking a cut with "~". */
static void put_clipped(FILE *f, const char *s, int width)
{
	int len = (int)strlen(s);

	if (width < 2)
		width = 2;
	if (len <= width)
		fprintf(f, "%s\n", s);
	else
		fprintf(f, "%.*s~\n", width - 1, s);
}

static void draw_gap(FILE *f, int indent, const struct layout_vma *below, const struct layout_vma *above)
{
	char sz[32];

	if (above->kind == SEG_VSYSCALL)
		fprintf(f, "%*s... end of user space; kernel space above ...\n", indent, "");
	else
		fprintf(f, "%*s... %s unmapped ...\n", indent, "",
			udma__fmt_size_approx(above->start - below->end, sz, sizeof(sz)));
}

static void draw_runs(FILE *f, int indent, const struct layout_region *r)
{
	char sz[32], big[32];
	size_t i;

	if (!r->pfns_readable) {
		fprintf(f, "%*s%s\n", indent, "", r->pfn_note);
		return;
	}
	fprintf(f, "%*s%zu physically contiguous run%s, largest %s\n", indent, "", r->nruns,
		r->nruns == 1 ? "" : "s", udma__fmt_size_approx(r->largest_run, big, sizeof(big)));
	for (i = 0; i < r->nruns && i < LAYOUT_SHOW_RUNS; i++)
		fprintf(f, "%*s  IOVA 0x%" PRIx64 " + %s\n", indent, "", r->runs[i].iova,
			udma__fmt_size_approx(r->runs[i].size, sz, sizeof(sz)));
	if (r->nruns > LAYOUT_SHOW_RUNS)
		fprintf(f, "%*s  ... and %zu more\n", indent, "", r->nruns - LAYOUT_SHOW_RUNS);
}

static void draw_region(FILE *f, int indent, const struct layout_region *r)
{
	char ps[32], lk[32], rss[32], name[CLI_ESCAPED_SIZE(LAYOUT_NAME_MAX)];

	fprintf(f, "%*s%s: %s pages, locked %s, resident %s\n", indent, "",
		cli_escape(r->name, name, sizeof(name)), udma__fmt_size_approx(r->page_size, ps, sizeof(ps)),
		r->hugetlb ? "hugetlb (unswappable)" : udma__fmt_size_approx(r->locked, lk, sizeof(lk)),
		udma__fmt_size_approx(r->rss, rss, sizeof(rss)));
	draw_runs(f, indent, r);
	if (r->have_lib)
		fprintf(f, "%*sudma_iova 0x%" PRIx64 ", udma_iova_contig %s\n", indent, "", r->lib_iova,
			udma__fmt_size_approx(r->lib_contig, lk, sizeof(lk)));
}

/* Extra lines under a group: the program break, the stack start, udma details. */
static void draw_notes(FILE *f, int indent, const struct layout *lay, const struct group *g)
{
	const struct layout_vma *v = &lay->vmas[g->first];
	char sz[32];

	if (v->kind == SEG_HEAP && lay->start_brk)
		fprintf(f, "%*sstart_brk 0x%" PRIx64 ", program break 0x%" PRIx64 " (%s)\n", indent, "",
			lay->start_brk, lay->brk,
			udma__fmt_size_approx(lay->brk - lay->start_brk, sz, sizeof(sz)));
	else if (v->kind == SEG_STACK && lay->start_stack)
		fprintf(f, "%*sstart_stack 0x%" PRIx64 " (argv, envp and auxv above it)\n", indent, "",
			lay->start_stack);
	else if (v->kind == SEG_UDMA && region_at(lay, v->start))
		draw_region(f, indent, region_at(lay, v->start));
}

static void draw_group(FILE *f, const struct layout *lay, const struct group *g, int w)
{
	const struct layout_vma *lo = &lay->vmas[g->first], *hi = &lay->vmas[g->last];
	char sz[32], perms[4], detail[256], bar[BAR_MAX + 1];
	uint64_t size = hi->end - lo->start;
	unsigned n = bar_len(size);
	int used;

	memset(bar, lo->kind == SEG_UDMA ? '=' : '#', n);
	bar[n] = '\0';
	group_perms(lay, g, perms);
	group_detail(lay, g, detail, sizeof(detail));
	used = fprintf(f, "  %0*" PRIx64 "-%0*" PRIx64 " %10s %-3s %-8s %-*s ", w, lo->start, w, hi->end,
		       udma__fmt_size_approx(size, sz, sizeof(sz)), perms, layout_kind_name(lo->kind),
		       BAR_MAX, bar);
	put_clipped(f, detail, COLUMNS - used);
	draw_notes(f, 2 * w + 6, lay, g);
}

/* No [heap] VMA: the program never moved its break; still show where it is. */
static bool heap_missing(const struct layout *lay)
{
	size_t i;

	for (i = 0; i < lay->nvmas; i++)
		if (lay->vmas[i].kind == SEG_HEAP)
			return false;
	return lay->start_brk != 0;
}

static void draw_empty_heap(FILE *f, const struct layout *lay, int w)
{
	fprintf(f, "  %0*" PRIx64 "%*s %10s %-3s %-8s %-*s empty: program break = start_brk\n", w,
		lay->start_brk, w + 1, "", "0 B", "", "heap", BAR_MAX, "");
}

static void draw_header(FILE *f, const struct layout *lay, int w)
{
	char comm[CLI_ESCAPED_SIZE(sizeof(lay->comm))], exe[CLI_ESCAPED_SIZE(PATH_MAX)];

	fprintf(f, "process %d (%s)%s%s\n", lay->pid, cli_escape(lay->comm, comm, sizeof(comm)),
		lay->exe ? ": " : "", lay->exe ? cli_escape(lay->exe, exe, sizeof(exe)) : "");
	if (lay->start_code) {
		fprintf(f, "  code 0x%" PRIx64 "-0x%" PRIx64 "   data 0x%" PRIx64 "-0x%" PRIx64 "\n",
			lay->start_code, lay->end_code, lay->start_data, lay->end_data);
		fprintf(f, "  brk  0x%" PRIx64 "-0x%" PRIx64 "   stack 0x%" PRIx64 "\n", lay->start_brk,
			lay->brk, lay->start_stack);
	} else {
		fprintf(f, "  (code, data, brk and stack addresses hidden: run as the owner or root)\n");
	}
	fprintf(f, "  bar: one mark per doubling of size from 4 KiB; '=' marks udma regions\n\n");
	fprintf(f, "  %-*s %-*s %10s %-3s %-8s %-*s %s\n", w, "start", w, "end", "size", "prm", "kind",
		BAR_MAX, "bar", "what");
}

void layout_draw_text(FILE *f, const struct layout *lay)
{
	int w = addr_width(lay);
	bool empty_heap = heap_missing(lay);
	struct group g;
	size_t i;

	draw_header(f, lay, w);
	for (i = lay->nvmas; i-- > 0;) {
		g.last = i;
		while (i > 0 && same_group(&lay->vmas[i - 1], &lay->vmas[i]))
			i--;
		g.first = i;
		if (g.last + 1 < lay->nvmas && lay->vmas[g.last + 1].start > lay->vmas[g.last].end)
			draw_gap(f, w + 3, &lay->vmas[g.last], &lay->vmas[g.last + 1]);
		if (empty_heap && lay->vmas[g.last].end <= lay->start_brk) {
			draw_empty_heap(f, lay, w);
			empty_heap = false;
		}
		draw_group(f, lay, &g, w);
	}
	fprintf(f, "\n%zu udma region%s%s\n", lay->nregions, lay->nregions == 1 ? "" : "s",
		lay->nregions ? "" : " (seen as /memfd:udma:NAME or [anon:udma:NAME] in maps)");
}

static void json_segment(struct json *j, const struct layout_vma *v)
{
	json_object(j, NULL);
	json_str(j, "kind", layout_kind_name(v->kind));
	json_hex(j, "start", v->start);
	json_hex(j, "end", v->end);
	json_uint(j, "size", v->end - v->start);
	json_str(j, "perms", v->perms);
	json_str(j, "name", v->kind == SEG_UDMA ? v->udma : v->path);
	json_str(j, "path", v->path);
	json_uint(j, "page_size", v->page_size);
	json_uint(j, "locked", v->locked);
	json_uint(j, "rss", v->rss);
	json_end(j);
}

static void json_region(struct json *j, const struct layout_region *r)
{
	size_t i;

	json_object(j, NULL);
	json_str(j, "name", r->name);
	json_hex(j, "start", r->start);
	json_uint(j, "size", r->end - r->start);
	json_uint(j, "page_size", r->page_size);
	json_bool(j, "hugetlb", r->hugetlb);
	json_uint(j, "locked", r->locked);
	json_uint(j, "rss", r->rss);
	json_bool(j, "pfns_readable", r->pfns_readable);
	json_str(j, "pfn_note", r->pfns_readable ? "" : r->pfn_note);
	json_uint(j, "largest_run", r->largest_run);
	json_array(j, "runs");
	for (i = 0; i < r->nruns; i++) {
		json_object(j, NULL);
		json_hex(j, "iova", r->runs[i].iova);
		json_uint(j, "size", r->runs[i].size);
		json_end(j);
	}
	json_end(j);
	json_end(j);
}

void layout_draw_json(struct json *j, const struct layout *lay)
{
	size_t i;

	json_int(j, "pid", lay->pid);
	json_str(j, "comm", lay->comm);
	json_str(j, "exe", lay->exe);
	json_hex(j, "start_code", lay->start_code);
	json_hex(j, "end_code", lay->end_code);
	json_hex(j, "start_data", lay->start_data);
	json_hex(j, "end_data", lay->end_data);
	json_hex(j, "start_brk", lay->start_brk);
	json_hex(j, "brk", lay->brk);
	json_hex(j, "start_stack", lay->start_stack);
	json_array(j, "segments");
	for (i = 0; i < lay->nvmas; i++)
		json_segment(j, &lay->vmas[i]);
	json_end(j);
	json_array(j, "udma_regions");
	for (i = 0; i < lay->nregions; i++)
		json_region(j, &lay->regions[i]);
	json_end(j);
}
