/* SPDX-License-Identifier: MIT */
/*
 * The report of every `udma bench` subcommand: rows as they come (JSON
 * lines, streamed) or at the end (an aligned table, or CSV with the union of
 * the columns), and the SVG plot. Rows with neither a median nor a skip
 * reason are information (the machine, the IOVA mode): a header line in the
 * table, "# " lines on stderr with CSV (a CSV reader would take them for the
 * header), the title of the plot. A row with an error could run and failed:
 * the run goes on, and its exit status is 1.
 */
#include <errno.h>
#include <math.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "tools/bench/bench_tool.h"
#include "lib/base/base.h"

struct field {
	char *key, *raw, *str;
	double val;
};

struct row {
	char *bench, *method, *skipped, *error;
	size_t size, page_size;
	double median, min, max;
	unsigned runs;
	struct field *extra;
	size_t nextra;
};

static struct {
	const struct cli *cli;
	struct bench_output out;
	struct row *rows;
	size_t nrows, cap, measured;
	bool progress_shown, own_progress, oom;
	struct bench_plot_file plot; /* prepared before the run (bench_report_open_plot); fd -1: none */
} rep = {.plot = {.fd = -1}};

static bool is_info(const struct row *r)
{
	return !r->skipped && !r->error && isnan(r->median);
}

static char *dup_or_null(const char *s)
{
	char *d;

	if (!s)
		return NULL;
	d = strdup(s);
	if (!d)
		rep.oom = true;
	return d;
}

/* ---- JSON lines -------------------------------------------------------- */

static void json_field(FILE *f, const struct field *x)
{
	struct bench_field b = {.key = x->key, .val = x->val, .raw = x->raw, .str = x->str};

	bench_json_field(f, &b);
}

static void json_line(const struct row *r)
{
	size_t i;

	printf("{\"schema\":1,\"bench\":");
	bench_json_str(stdout, r->bench);
	printf(",\"method\":");
	bench_json_str(stdout, r->method);
	if (!is_info(r)) {
		printf(",\"size\":%zu,\"page_size\":%zu,\"median_ns\":", r->size, r->page_size);
		bench_json_num(stdout, r->median);
		printf(",\"min_ns\":");
		bench_json_num(stdout, r->min);
		printf(",\"max_ns\":");
		bench_json_num(stdout, r->max);
		printf(",\"runs\":%u,\"skipped\":", r->runs);
		if (r->skipped)
			bench_json_str(stdout, r->skipped);
		else
			fputs("null", stdout);
		if (r->error) {
			printf(",\"error\":");
			bench_json_str(stdout, r->error);
		}
	}
	for (i = 0; i < r->nextra; i++)
		json_field(stdout, &r->extra[i]);
	printf("}\n");
	fflush(stdout);
}

/* ---- collecting -------------------------------------------------------- */

void bench_report_row(const struct bench_row *in)
{
	const struct bench_field *x;
	struct row *r;
	size_t n = 0;

	if (rep.nrows == rep.cap) {
		size_t cap = rep.cap ? rep.cap * 2 : 64;
		struct row *more = realloc(rep.rows, cap * sizeof(*more));

		if (!more) {
			rep.oom = true;
			return;
		}
		rep.rows = more;
		rep.cap = cap;
	}
	r = &rep.rows[rep.nrows];
	memset(r, 0, sizeof(*r));
	for (x = in->extra; x && x->key; x++)
		n++;
	r->extra = calloc(n ? n : 1, sizeof(*r->extra));
	if (!r->extra) {
		rep.oom = true;
		return;
	}
	r->bench = dup_or_null(in->bench ? in->bench : "");
	r->method = dup_or_null(in->method ? in->method : "");
	r->skipped = dup_or_null(in->skipped);
	r->error = dup_or_null(in->error);
	r->size = in->size;
	r->page_size = in->page_size;
	r->median = in->skipped || in->error ? NAN : in->median_ns;
	r->min = in->skipped || in->error ? NAN : in->min_ns;
	r->max = in->skipped || in->error ? NAN : in->max_ns;
	r->runs = in->runs;
	for (x = in->extra; x && x->key; x++, r->nextra++) {
		r->extra[r->nextra].key = dup_or_null(x->key);
		r->extra[r->nextra].raw = dup_or_null(x->raw);
		r->extra[r->nextra].str = dup_or_null(x->str);
		r->extra[r->nextra].val = x->val;
	}
	rep.nrows++;
	/* a bench that says nothing of its progress (the layer benches): each row is some */
	if (!rep.own_progress && rep.out.format != BENCH_JSON_LINES && !is_info(r)) {
		bench_report_progress("udma bench %s: %s done (%zu so far)", r->bench, r->method,
				      ++rep.measured);
		rep.own_progress = false;
	}
	if (rep.out.format == BENCH_JSON_LINES) {
		if (rep.progress_shown)
			fputs("\r\033[K", stderr);
		rep.progress_shown = false;
		json_line(r);
	}
}

static void free_rows(void)
{
	size_t i, k;

	for (i = 0; i < rep.nrows; i++) {
		for (k = 0; k < rep.rows[i].nextra; k++) {
			free(rep.rows[i].extra[k].key);
			free(rep.rows[i].extra[k].raw);
			free(rep.rows[i].extra[k].str);
		}
		free(rep.rows[i].extra);
		free(rep.rows[i].bench);
		free(rep.rows[i].method);
		free(rep.rows[i].skipped);
		free(rep.rows[i].error);
	}
	free(rep.rows);
	rep.rows = NULL;
	rep.nrows = rep.cap = 0;
}

int bench_output_options(int *argc, char **argv, struct bench_output *out, char *why, size_t len)
{
	int i, kept = 1;

	memset(out, 0, sizeof(*out));
	for (i = 1; i < *argc; i++) {
		if (!strcmp(argv[i], "--json")) {
			out->format = BENCH_JSON_LINES;
		} else if (!strcmp(argv[i], "--csv")) {
			out->format = BENCH_CSV;
		} else if (!strcmp(argv[i], "--plot")) {
			if (i + 1 >= *argc || !argv[i + 1][0]) {
				snprintf(why, len, "--plot needs a file name (--plot pin.svg)");
				return -1;
			}
			out->plot = argv[++i];
		} else {
			argv[kept++] = argv[i];
		}
	}
	/* --json anywhere wins: the CLI's rule, and a script asked for it. */
	for (i = 1; i < *argc; i++)
		if (!strcmp(argv[i], "--json"))
			out->format = BENCH_JSON_LINES;
	*argc = kept;
	argv[kept] = NULL;
	return 0;
}

void bench_report_start(const struct cli *c, const struct bench_output *out)
{
	free_rows();
	rep.cli = c;
	rep.out = *out;
	rep.oom = rep.own_progress = false;
	rep.measured = 0;
}

void bench_report_progress(const char *fmt, ...)
{
	char line[160], esc[CLI_ESCAPED_SIZE(sizeof(line))];
	va_list ap;

	if (!isatty(STDERR_FILENO))
		return;
	va_start(ap, fmt);
	vsnprintf(line, sizeof(line), fmt, ap);
	va_end(ap);
	fprintf(stderr, "\r\033[K%s", cli_escape(line, esc, 80));
	rep.progress_shown = rep.own_progress = true;
}

static void progress_clear(void)
{
	if (rep.progress_shown)
		fputs("\r\033[K", stderr);
	rep.progress_shown = false;
}

/* ---- the table --------------------------------------------------------- */

static const char *fmt_bytes(size_t v, char *buf, size_t len)
{
	if (!v)
		snprintf(buf, len, "0");
	else if (v % 1024)
		snprintf(buf, len, "%zu", v);
	else
		udma__fmt_size_arg(v, buf, len);
	return buf;
}

static bool ends_with(const char *s, const char *tail)
{
	size_t n = strlen(s), t = strlen(tail);

	return n >= t && !strcmp(s + n - t, tail);
}

/* key=value for the table: sizes and times for *_bytes and *_ns keys. */
static void table_field(const struct field *x)
{
	char v[64], name[64], esc[CLI_ESCAPED_SIZE(256)];
	size_t n = strlen(x->key);

	if (ends_with(x->key, "_bytes"))
		n -= 6;
	else if (ends_with(x->key, "_ns"))
		n -= 3;
	snprintf(name, sizeof(name), "%.*s", (int)n, x->key);
	if (x->raw)
		snprintf(v, sizeof(v), "%s", x->raw);
	else if (x->str)
		snprintf(v, sizeof(v), "%s", cli_escape(x->str, esc, sizeof(esc)));
	else if (isnan(x->val))
		snprintf(v, sizeof(v), "-");
	else if (ends_with(x->key, "_bytes"))
		fmt_bytes((size_t)x->val, v, sizeof(v));
	else if (ends_with(x->key, "_ns"))
		bench_fmt_time(x->val, v, sizeof(v));
	else if (x->val == (double)(long long)x->val && fabs(x->val) < 1e15)
		snprintf(v, sizeof(v), "%lld", (long long)x->val);
	else
		snprintf(v, sizeof(v), "%.4g", x->val);
	if (x->str && strchr(x->str, ' '))
		printf("  %s=\"%s\"", cli_escape(name, esc, sizeof(esc)), v);
	else
		printf("  %s=%s", cli_escape(name, esc, sizeof(esc)), v);
}

static void print_table(void)
{
	char esc[CLI_ESCAPED_SIZE(256)], a[32], b[32], c[32], s[32], p[32];
	int wm = 6;
	size_t i, k, prev_size = (size_t)-1;

	for (i = 0; i < rep.nrows; i++) {
		const struct row *r = &rep.rows[i];

		if (is_info(r)) {
			printf("%s %s:", cli_escape(r->bench, esc, sizeof(esc)), r->method);
			for (k = 0; k < r->nextra; k++)
				table_field(&r->extra[k]);
			putchar('\n');
		} else if ((int)strlen(r->method) > wm) {
			wm = (int)strlen(r->method);
		}
	}
	printf("%-*s %6s %5s %10s %21s %5s\n", wm, "method", "size", "page", "median", "min - max", "runs");
	for (i = 0; i < rep.nrows; i++) {
		const struct row *r = &rep.rows[i];

		if (is_info(r))
			continue;
		if (prev_size != (size_t)-1 && r->size != prev_size)
			putchar('\n'); /* one block per size: methods side by side */
		prev_size = r->size;
		printf("%-*s %6s %5s ", wm, cli_escape(r->method, esc, sizeof(esc)),
		       r->size ? fmt_bytes(r->size, s, sizeof(s)) : "-",
		       r->page_size ? fmt_bytes(r->page_size, p, sizeof(p)) : "-");
		if (r->skipped || r->error) {
			printf("%s: %s\n", r->error ? "error" : "skipped",
			       cli_escape(r->error ? r->error : r->skipped, esc, sizeof(esc)));
			continue;
		}
		bench_fmt_time(r->min, a, sizeof(a));
		bench_fmt_time(r->max, b, sizeof(b));
		snprintf(esc, sizeof(esc), "%s - %s", a, b);
		/* µ is two bytes and one column: pad by what is seen */
		printf("%*s %*s %5u", 10 + (strstr(bench_fmt_time(r->median, c, sizeof(c)), "µ") ? 1 : 0), c,
		       21 + (strstr(a, "µ") ? 1 : 0) + (strstr(b, "µ") ? 1 : 0), esc, r->runs);
		for (k = 0; k < r->nextra; k++)
			table_field(&r->extra[k]);
		putchar('\n');
	}
}

/* ---- CSV --------------------------------------------------------------- */

static void csv_str(FILE *f, const char *s)
{
	if (!s)
		return;
	if (!strpbrk(s, ",\"\r\n")) {
		fputs(s, f);
		return;
	}
	fputc('"', f);
	for (; *s; s++) {
		if (*s == '"')
			fputc('"', f);
		fputc(*s, f);
	}
	fputc('"', f);
}

static void csv_num(double v)
{
	if (!isnan(v))
		bench_json_num(stdout, v);
}

static void csv_value(FILE *f, const struct field *x)
{
	if (x->raw)
		csv_str(f, x->raw);
	else if (x->str)
		csv_str(f, x->str);
	else if (!isnan(x->val))
		bench_json_num(f, x->val);
}

static void print_csv(void)
{
	const char **keys = NULL;
	size_t nkeys = 0, i, k, j;

	for (i = 0; i < rep.nrows; i++) {
		const struct row *r = &rep.rows[i];

		if (is_info(r)) {
			fprintf(stderr, "# %s %s:", r->bench, r->method);
			for (k = 0; k < r->nextra; k++) {
				fprintf(stderr, " %s=", r->extra[k].key);
				csv_value(stderr, &r->extra[k]);
			}
			fputc('\n', stderr);
			continue;
		}
		for (k = 0; k < r->nextra; k++) {
			for (j = 0; j < nkeys && strcmp(keys[j], r->extra[k].key); j++)
				;
			if (j == nkeys) {
				const char **more = realloc(keys, (nkeys + 1) * sizeof(*keys));

				if (!more) {
					rep.oom = true;
					break;
				}
				keys = more;
				keys[nkeys++] = r->extra[k].key;
			}
		}
	}
	fputs("bench,method,size,page_size,median_ns,min_ns,max_ns,runs,skipped,error", stdout);
	for (j = 0; j < nkeys; j++) {
		putchar(',');
		csv_str(stdout, keys[j]);
	}
	putchar('\n');
	for (i = 0; i < rep.nrows; i++) {
		const struct row *r = &rep.rows[i];

		if (is_info(r))
			continue;
		csv_str(stdout, r->bench);
		putchar(',');
		csv_str(stdout, r->method);
		printf(",%zu,%zu,", r->size, r->page_size);
		csv_num(r->median);
		putchar(',');
		csv_num(r->min);
		putchar(',');
		csv_num(r->max);
		printf(",%u,", r->runs);
		csv_str(stdout, r->skipped);
		putchar(',');
		csv_str(stdout, r->error);
		for (j = 0; j < nkeys; j++) {
			putchar(',');
			for (k = 0; k < r->nextra; k++)
				if (!strcmp(r->extra[k].key, keys[j]))
					csv_value(stdout, &r->extra[k]);
		}
		putchar('\n');
	}
	free(keys);
}

/* ---- the plot ---------------------------------------------------------- */

static const char *info_str(const struct row *r, const char *key)
{
	size_t k;

	for (k = 0; k < r->nextra; k++)
		if (!strcmp(r->extra[k].key, key))
			return r->extra[k].str ? r->extra[k].str : r->extra[k].raw;
	return NULL;
}

static int write_plot(void)
{
	struct bench_point *pts = calloc(rep.nrows ? rep.nrows : 1, sizeof(*pts));
	char title[512] = "udma bench";
	size_t i, n = 0;
	int rc;

	if (!pts)
		return -ENOMEM;
	for (i = 0; i < rep.nrows; i++) {
		const struct row *r = &rep.rows[i];

		if (is_info(r) && !strcmp(r->method, "machine")) {
			const char *cpu = info_str(r, "cpu"), *kernel = info_str(r, "kernel");
			double cores = NAN;
			size_t k;

			for (k = 0; k < r->nextra; k++)
				if (!strcmp(r->extra[k].key, "cores") && !r->extra[k].raw && !r->extra[k].str)
					cores = r->extra[k].val;
			snprintf(title, sizeof(title), "udma bench %s: %s, %.0f cores, Linux %s", r->bench,
				 cpu ? cpu : "unknown CPU", cores, kernel ? kernel : "?");
		}
		if (is_info(r) || r->skipped || r->error || !r->size || isnan(r->median) || r->median <= 0)
			continue;
		if (!strcmp(title, "udma bench"))
			snprintf(title, sizeof(title), "udma bench %s", r->bench);
		pts[n].series = r->method;
		pts[n].x = (double)r->size;
		pts[n].y = r->median;
		pts[n].ymin = r->min;
		pts[n].ymax = r->max;
		n++;
	}
	rc = bench_plot_write(&rep.plot, title, pts, n);
	free(pts);
	return rc;
}

/* ---- the end ----------------------------------------------------------- */

static void print_collected(void)
{
	size_t i;

	progress_clear();
	/* information alone (a run that failed before measuring) is no table */
	for (i = 0; i < rep.nrows && is_info(&rep.rows[i]); i++)
		;
	if (i == rep.nrows)
		return;
	if (rep.out.format == BENCH_TABLE)
		print_table();
	else if (rep.out.format == BENCH_CSV)
		print_csv();
	fflush(stdout);
}

static void __attribute__((format(printf, 4, 0)))
fail_line(const struct cli *c, int err, const char *usage, const char *fmt, va_list ap)
{
	char msg[512];

	vsnprintf(msg, sizeof(msg), fmt, ap);
	if (rep.out.format == BENCH_JSON_LINES) {
		printf("{\"schema\":1,\"ok\":false,\"error\":");
		bench_json_str(stdout, msg);
		printf(",\"errno\":%d}\n", err);
		fflush(stdout);
	} else {
		struct cli text = *c;

		text.json = false;
		if (usage)
			cli_usage_error(&text, usage, "%s", msg);
		else
			cli_fail(&text, 1, err, "%s", msg);
	}
}

int bench_report_open_plot(void)
{
	int rc;

	if (!rep.out.plot || rep.plot.fd >= 0)
		return 0;
	rc = bench_plot_open(rep.out.plot, &rep.plot);
	if (rc < 0)
		return bench_fail(rep.cli, 1, -rc, NULL, "cannot write the plot %s: %s", rep.out.plot,
				  rc == -ELOOP	  ? "it is a symbolic link (give the file itself)"
				  : rc == -EINVAL ? "not a regular file"
						  : strerror(-rc));
	return 0;
}

/* A run that failed leaves the plot's path as it was. */
static void plot_abandon(void)
{
	bench_plot_abandon(&rep.plot);
}

int bench_report_finish(int status)
{
	size_t i, failed = 0;
	const char *first = NULL;
	int rc = 0;

	if (rep.oom) {
		free_rows();
		return bench_fail(rep.cli, 1, ENOMEM, NULL, "out of memory while collecting the rows");
	}
	for (i = 0; i < rep.nrows; i++)
		if (rep.rows[i].error && !failed++)
			first = rep.rows[i].method;
	print_collected();
	if (rep.plot.fd >= 0 && (rc = write_plot()) < 0) {
		free_rows();
		return bench_fail(rep.cli, 1, -rc, NULL, "cannot write the plot %s: %s", rep.out.plot,
				  strerror(-rc));
	}
	if (failed) {
		char msg[256];

		/* after the plot: what did run is kept */
		snprintf(msg, sizeof(msg), "%zu row%s failed (the first: %s): see %s error", failed,
			 failed > 1 ? "s" : "", first, failed > 1 ? "their" : "its");
		free_rows();
		return bench_fail(rep.cli, 1, EIO, NULL, "%s", msg);
	}
	free_rows();
	return status;
}

int bench_fail(const struct cli *c, int status, int err, const char *usage, const char *fmt, ...)
{
	va_list ap;

	print_collected();
	free_rows();
	plot_abandon();
	va_start(ap, fmt);
	fail_line(c, err, usage, fmt, ap);
	va_end(ap);
	return usage ? 2 : status;
}

void bench_report_exit(int status, int err, const char *prog, const char *msg)
{
	struct cli c = *rep.cli;
	char hint[96];

	c.name = prog;
	snprintf(hint, sizeof(hint), "see `%s --help`\n", prog);
	status = bench_fail(&c, status, err, status == 2 ? hint : NULL, "%s", msg);
	fflush(stdout);
	exit(status);
}
