/* SPDX-License-Identifier: MIT */
/*
 * udma hugepages: show, reserve and release hugepages. The pools are shared
 * with everyone on the machine: --reserve adds only what is missing, within
 * the memory the kernel could still give, and records what it added
 * (hugepage_record.c); --release gives back only that, never pages in use;
 * --release-all empties a pool of its free pages, whoever reserved them.
 */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <udma/udma.h>
#include <unistd.h>

#include "tools/cli.h"
#include "hugepage_record.h"
#include "lib/base/base.h"

static const char usage[] =
	"usage: udma hugepages [--json] [--status]\n"
	"       udma hugepages [--json] --reserve SIZE [--page-size SIZE] [--node N]\n"
	"       udma hugepages [--json] --release [SIZE] [--page-size SIZE] [--node N]\n"
	"       udma hugepages [--json] --release-all [--page-size SIZE] [--node N]\n"
	"--reserve: make SIZE of free pages available, adding what is missing to the pool (root);\n"
	"  refused if that is more than 90% of the memory the kernel could still give\n"
	"  (MemAvailable; a tenth is left for everything else);\n"
	"  if the kernel gives fewer pages than asked, the pool is put back and it fails.\n"
	"--release: give back the pages --reserve added (recorded in /run/udma, or $UDMA_RUN_DIR),\n"
	"  or SIZE of them; never pages in use, never pages others reserved.\n"
	"--release-all: empty the pool of its free pages, whoever reserved them.\n"
	"One operation at a time. Each pool has its own record: --release gives back what --reserve\n"
	"  added with the same --page-size and --node (a record from before a reboot is ignored).\n"
	"SIZE: 64M, 1G, ...; --page-size: one the kernel offers (udma info), default 2M\n";

enum hp_op { STATUS, RESERVE, RELEASE, RELEASE_ALL };

struct hp_args {
	enum hp_op op;
	size_t bytes;	    /* --reserve SIZE, --release SIZE */
	bool amount;	    /* --release was given a SIZE */
	const char *op_arg; /* the operation's option, to refuse a second one */
	size_t ps;
	int node;
};

/* What an operation did, for the report. */
struct hp_result {
	const char *op;
	unsigned long asked;	/* pages asked (reserve, release SIZE) */
	unsigned long had;	/* on udma's record before (release) */
	unsigned long changed;	/* added, or given back */
	unsigned long kept;	/* release: on the record but in use, so kept */
	unsigned long recorded; /* on udma's record after */
	struct udma_hugepage_count after;
	long avail;
	char note[256];
};

static void status_line(struct json *j, size_t ps, int node)
{
	struct udma_hugepage_count c;
	char sz[32], where[16], resv[24] = "-";

	if (udma_hugepage_count(ps, node, &c))
		return;
	if (j) {
		json_object(j, NULL);
		json_uint(j, "page_size", ps);
		json_int(j, "node", node);
		json_uint(j, "total", c.total);
		json_uint(j, "free", c.free);
		if (node == UDMA_NUMA_ANY) /* reserved is only counted system-wide */
			json_uint(j, "reserved", c.reserved);
		else
			json_null(j, "reserved");
		json_uint(j, "surplus", c.surplus);
		json_end(j);
	} else {
		snprintf(where, sizeof(where), node == UDMA_NUMA_ANY ? "all" : "%d", node);
		if (node == UDMA_NUMA_ANY)
			snprintf(resv, sizeof(resv), "%lu", c.reserved);
		printf("%-8s %-5s %8lu %8lu %8s %8lu\n", udma__fmt_size_approx(ps, sz, sizeof(sz)), where,
		       c.total, c.free, resv, c.surplus);
	}
}

static int status(const struct cli *c)
{
	size_t sizes[8];
	int n = udma_hugepage_sizes(sizes, 8), i, node;
	struct json j;

	if (n < 0)
		return cli_fail(c, 1, -n, "%s", udma_last_error());
	if (c->json) {
		json_start(&j, stdout);
		cli_json_ok(&j);
		json_array(&j, "pools");
	} else {
		printf("%-8s %-5s %8s %8s %8s %8s\n", "size", "node", "total", "free", "reserved", "surplus");
	}
	for (i = 0; i < n && i < 8; i++) {
		status_line(c->json ? &j : NULL, sizes[i], UDMA_NUMA_ANY);
		for (node = 0; udma_numa_nodes() > 1 && node < udma_numa_nodes(); node++)
			status_line(c->json ? &j : NULL, sizes[i], node);
	}
	if (c->json) {
		json_end(&j);
		json_end(&j);
		json_finish(&j);
	}
	return 0;
}

static void report_json(const struct hp_args *a, const struct hp_result *r)
{
	struct json j;

	json_start(&j, stdout);
	cli_json_ok(&j);
	json_str(&j, "op", r->op);
	json_uint(&j, "page_size", a->ps);
	json_int(&j, "node", a->node);
	if (a->op == RESERVE || a->amount)
		json_uint(&j, "asked", r->asked);
	else
		json_null(&j, "asked");
	json_uint(&j, a->op == RESERVE ? "added" : "released", r->changed);
	if (a->op == RELEASE) {
		json_uint(&j, "had", r->had);
		json_uint(&j, "kept_in_use", r->kept);
	}
	json_uint(&j, "recorded", r->recorded);
	json_uint(&j, "total", r->after.total);
	json_int(&j, "available", r->avail);
	json_str(&j, "note", r->note[0] ? r->note : NULL);
	json_end(&j);
	json_finish(&j);
}

static void report_text(const struct hp_args *a, const struct hp_result *r)
{
	char sz[32];

	printf("%s: %s pages: ", r->op, udma__fmt_size_approx(a->ps, sz, sizeof(sz)));
	if (a->op == RESERVE && r->changed)
		printf("%lu added; ", r->changed);
	else if (a->op == RESERVE)
		printf("none added, %lu were available; ", r->asked);
	else if (a->op == RELEASE && !r->had)
		printf("none given back: udma has reserved none (others' pages stay; --release-all "
		       "empties the pool's free pages, theirs too); ");
	else if (a->op == RELEASE)
		printf("%lu given back of the %lu udma reserved; ", r->changed, r->had);
	else
		printf("%lu given back (every free page, whoever reserved it); ", r->changed);
	printf("pool total %lu, available %ld", r->after.total, r->avail);
	if (r->kept)
		printf("; %lu in use stay on udma's record: --release again once they are unmapped", r->kept);
	if (a->op == RESERVE && r->recorded) {
		printf("; udma has reserved %lu (give them back: udma hugepages --release", r->recorded);
		if (a->ps != UDMA_PAGE_2M && a->ps % ((size_t)1 << 30) == 0)
			printf(" --page-size %zuG", a->ps >> 30);
		else if (a->ps != UDMA_PAGE_2M)
			printf(" --page-size %zuK", a->ps >> 10);
		if (a->node != UDMA_NUMA_ANY)
			printf(" --node %d", a->node);
		printf(")");
	}
	if (a->op == RELEASE_ALL && r->after.total)
		printf("; the %lu in use go when they are unmapped", r->after.total);
	printf("%s%s\n", r->note[0] ? "; " : "", r->note);
}

static void report(const struct cli *c, const struct hp_args *a, struct hp_result *r)
{
	if (udma_hugepage_count(a->ps, a->node, &r->after))
		memset(&r->after, 0, sizeof(r->after));
	r->avail = udma_hugepage_available(a->ps, a->node);
	if (c->json)
		report_json(a, r);
	else
		report_text(a, r);
}

/* Pages of ps that hold bytes, rounded up (no overflow: bytes / ps first). */
static unsigned long pages_of(size_t bytes, size_t ps)
{
	return (unsigned long)(bytes / ps + (bytes % ps != 0));
}

/* Close the record (its lock) and fail with msg (copied first: it may be
 * udma_last_error(), or the record's own message). */
static int fail_closing(const struct cli *c, struct hp_record *rec, int rc, const char *msg)
{
	char why[640];

	snprintf(why, sizeof(why), "%s", msg);
	hp_record_close(rec);
	return cli_fail(c, 1, rc < 0 ? -rc : rc, "%s", why);
}

/* Save the record and close it; if saving fails, the command fails saying
 * what was done to the pool all the same. 0, or the exit status. */
static int save_closing(const struct cli *c, struct hp_record *rec, unsigned long pages, unsigned long others,
			unsigned long changed, const char *done)
{
	char err[512], msg[640];
	int rc = hp_record_save(rec, pages, others, err, sizeof(err));

	if (!rc) {
		hp_record_close(rec);
		return 0;
	}
	snprintf(msg, sizeof(msg), "%lu pages were %s, but %s", changed, done, err);
	return fail_closing(c, rec, rc, msg);
}

/* Open the pool's record for `doing` ("reserving", ...): when the directory
 * cannot be made or used, the reason may be root. 0, or the exit status. */
static int open_record(const struct cli *c, const struct hp_args *a, struct hp_record *rec, const char *doing,
		       struct hp_result *r)
{
	char err[640], why[512];
	int rc = hp_record_open(rec, a->ps, a->node, why, sizeof(why));

	if (rc) {
		snprintf(err, sizeof(err), "%s%s%s",
			 (rc == -EACCES || rc == -EPERM) && geteuid() ? doing : "",
			 (rc == -EACCES || rc == -EPERM) && geteuid()
				 ? " hugepages needs root (run with sudo): "
				 : "",
			 why);
		return fail_closing(c, rec, rc, err);
	}
	if (rec->stale)
		snprintf(r->note, sizeof(r->note),
			 "udma's record %.120s/%.40s is from an earlier boot: ignored (its pages went with "
			 "that boot)",
			 rec->dir, rec->name);
	return 0;
}

/* What udma may call its own of a pool now (see hp_record_claimable), with
 * a note when the record claimed more. */
static unsigned long claim(const struct hp_record *rec, unsigned long total, struct hp_result *r)
{
	unsigned long mine = hp_record_claimable(rec, total);

	if (mine < rec->pages)
		snprintf(r->note, sizeof(r->note),
			 "udma's record says it added %lu to %lu of others', but the pool has %lu: it was "
			 "shrunk, so udma claims only %lu",
			 rec->pages, rec->others, total, mine);
	return mine;
}

/* Make at least SIZE of pages available, adding what is missing; record it. */
static int reserve(const struct cli *c, const struct hp_args *a)
{
	struct hp_result r = {.op = "reserved", .asked = pages_of(a->bytes, a->ps)};
	struct udma_hugepage_count before, after;
	unsigned long mine, others;
	struct hp_record rec;
	char err[640], why[512];
	int rc, saved = 0;

	if ((rc = open_record(c, a, &rec, "reserving", &r)))
		return rc;
	if ((rc = udma_hugepage_count(a->ps, a->node, &before)))
		return fail_closing(c, &rec, rc, udma_last_error());
	mine = claim(&rec, before.total, &r);
	rc = udma_hugepage_reserve(a->ps, a->node, r.asked, &r.changed);
	if (rc)
		snprintf(err, sizeof(err), "%s", udma_last_error());
	r.recorded = rec.pages;
	/* Pages added are recorded, also on a failure (taking them back failed). */
	if (r.changed) {
		if (udma_hugepage_count(a->ps, a->node, &after))
			after.total = before.total + r.changed;
		if (__builtin_add_overflow(mine, r.changed, &r.recorded))
			r.recorded = ~0ul;
		others = after.total > r.recorded ? after.total - r.recorded : 0;
		saved = hp_record_save(&rec, r.recorded, others, why, sizeof(why));
	}
	if (rc)
		return fail_closing(c, &rec, rc, err);
	if (saved) {
		snprintf(err, sizeof(err), "%lu pages were added, but %s", r.changed, why);
		return fail_closing(c, &rec, saved, err);
	}
	hp_record_close(&rec);
	report(c, a, &r);
	return 0;
}

/* Give back what udma reserved (or SIZE of it): never pages in use, never
 * below what others had. */
static int release(const struct cli *c, const struct hp_args *a)
{
	struct hp_result r = {.op = "released"};
	struct udma_hugepage_count before;
	unsigned long want, give;
	struct hp_record rec;
	struct udma_hugepage_count after;
	long avail;
	int rc;

	if ((rc = open_record(c, a, &rec, "releasing", &r)))
		return rc;
	rc = udma_hugepage_count(a->ps, a->node, &before);
	if ((avail = rc ? rc : udma_hugepage_available(a->ps, a->node)) < 0)
		return fail_closing(c, &rec, (int)avail, udma_last_error());
	r.had = claim(&rec, before.total, &r);
	r.asked = a->amount ? pages_of(a->bytes, a->ps) : r.had;
	want = r.asked < r.had ? r.asked : r.had;
	/* Only free pages that no mapping has reserved can go. */
	give = want < (unsigned long)avail ? want : (unsigned long)avail;
	if (give) {
		/* By a delta: others may resize the pool meanwhile. */
		if ((rc = udma_hugepage_unreserve(a->ps, a->node, give)) ||
		    (rc = udma_hugepage_count(a->ps, a->node, &after)))
			return fail_closing(c, &rec, rc, udma_last_error());
		/* What the kernel let go: it keeps pages that were mapped meanwhile. */
		r.changed = before.total > after.total ? before.total - after.total : 0;
		r.changed = r.changed < give ? r.changed : give;
	}
	r.kept = want - r.changed;
	if (a->amount && r.asked > r.had && !r.note[0])
		snprintf(r.note, sizeof(r.note), "asked %lu, but udma had reserved %lu", r.asked, r.had);
	r.recorded = r.had - r.changed;
	if ((rc = save_closing(c, &rec, r.recorded, before.total - r.had, r.changed, "given back")))
		return rc;
	report(c, a, &r);
	return 0;
}

/* Every free page goes back to the kernel, whoever reserved it; pages in use
 * stay until they are unmapped. udma's record is cleared. */
static int release_all(const struct cli *c, const struct hp_args *a)
{
	struct hp_result r = {.op = "released-all"};
	struct udma_hugepage_count before;
	struct hp_record rec;
	long got;
	int rc;

	if ((rc = open_record(c, a, &rec, "releasing", &r)))
		return rc;
	rc = udma_hugepage_count(a->ps, a->node, &before);
	if ((got = rc ? rc : udma_hugepage_set_total(a->ps, a->node, 0)) < 0)
		return fail_closing(c, &rec, (int)got, udma_last_error());
	r.had = rec.pages;
	r.changed = before.total > (unsigned long)got ? before.total - (unsigned long)got : 0;
	if ((rc = save_closing(c, &rec, 0, 0, r.changed, "given back")))
		return rc;
	report(c, a, &r);
	return 0;
}

static bool offered(size_t ps)
{
	size_t sizes[8];
	int n = udma_hugepage_sizes(sizes, 8), i;

	for (i = 0; i < n && i < 8; i++)
		if (sizes[i] == ps)
			return true;
	return false;
}

/* 0 to go on, else the exit status (-1: help was printed, exit 0). */
static int parse_args(const struct cli *c, int argc, char **argv, struct hp_args *h)
{
	char *end;
	int i;

	*h = (struct hp_args){.op = STATUS, .ps = UDMA_PAGE_2M, .node = UDMA_NUMA_ANY};
	for (i = 1; i < argc; i++) {
		const char *a = argv[i], *v = i + 1 < argc ? argv[i + 1] : NULL;

		if (!strcmp(a, "--json")) {
			continue;
		} else if (!strcmp(a, "-h") || !strcmp(a, "--help")) {
			return cli_help(c, usage) - 1;
		} else if (h->op_arg && (!strcmp(a, "--status") || !strcmp(a, "--release-all") ||
					 !strcmp(a, "--release") || !strcmp(a, "--reserve"))) {
			return cli_usage_error(c, usage, "%s with %s: one operation at a time", a, h->op_arg);
		} else if (!strcmp(a, "--status")) {
			h->op_arg = a;
			h->op = STATUS;
		} else if (!strcmp(a, "--release-all")) {
			h->op = RELEASE_ALL;
			h->op_arg = a;
		} else if (!strcmp(a, "--release")) {
			h->op = RELEASE;
			h->op_arg = a;
			h->amount = v && v[0] != '-';
			if (h->amount && (udma_parse_size(v, &h->bytes) || !h->bytes))
				return cli_usage_error(c, usage, "--release %s: a size like 64M or 1G", v);
			i += h->amount;
		} else if (!strcmp(a, "--reserve") && v) {
			h->op = RESERVE;
			h->op_arg = a;
			if (udma_parse_size(v, &h->bytes) || !h->bytes)
				return cli_usage_error(c, usage, "--reserve %s: a size like 64M or 1G", v);
			i++;
		} else if (!strcmp(a, "--page-size") && v) {
			if (udma_parse_size(v, &h->ps) || !offered(h->ps))
				return cli_usage_error(c, usage,
						       "--page-size %s: not a hugepage size this kernel "
						       "offers (see udma info)",
						       v);
			i++;
		} else if (!strcmp(a, "--node") && v) {
			errno = 0;
			h->node = (int)strtol(v, &end, 10);
			if (errno || *end || end == v || h->node < 0 || h->node >= udma_numa_nodes())
				return cli_usage_error(c, usage,
						       "--node %s: no such NUMA node (this machine has %d)",
						       v, udma_numa_nodes());
			i++;
		} else {
			bool needs_value =
				!strcmp(a, "--reserve") || !strcmp(a, "--page-size") || !strcmp(a, "--node");

			return cli_usage_error(c, usage, "%s '%s'",
					       needs_value ? "no value for" : "unknown argument", a);
		}
	}
	return 0;
}

int cmd_hugepages(const struct cli *c, int argc, char **argv)
{
	struct hp_args a;
	int rc = parse_args(c, argc, argv, &a);

	if (rc)
		return rc < 0 ? 0 : rc;
	switch (a.op) {
	case RESERVE: return reserve(c, &a);
	case RELEASE: return release(c, &a);
	case RELEASE_ALL: return release_all(c, &a);
	case STATUS: break;
	}
	return status(c);
}
