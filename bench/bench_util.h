/* SPDX-License-Identifier: MIT */
/* Header-only helpers for the benches: clock, median and spread, rows (JSON
 * lines, or the udma command's report under -DBENCH_IN_CLI), machine line,
 * options, hugepages. */
#ifndef UDMA_BENCH_UTIL_H
#define UDMA_BENCH_UTIL_H

#include <errno.h>
#include <signal.h>
#include <stdarg.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/utsname.h>
#include <time.h>
#include <unistd.h>

#include <udma/ctx.h>
#include <udma/hugepage.h>

/* Monotonic clock in nanoseconds. */
static inline uint64_t bench_now_ns(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (uint64_t)ts.tv_sec * 1000000000ull + (uint64_t)ts.tv_nsec;
}

static inline int bench_cmp_double(const void *a, const void *b)
{
	double x = *(const double *)a, y = *(const double *)b;

	return (x > y) - (x < y);
}

/* Median of n values (n > 0); v is left unchanged. Mean of the middle two for even n. */
static inline double bench_median(const double *v, size_t n)
{
	double *s, m;

	if (!n)
		return 0;
	s = malloc(n * sizeof(*s));
	if (!s)
		return v[0];
	memcpy(s, v, n * sizeof(*s));
	qsort(s, n, sizeof(*s), bench_cmp_double);
	m = n & 1 ? s[n / 2] : (s[n / 2 - 1] + s[n / 2]) / 2;
	free(s);
	return m;
}

/* Smallest and largest of n values (n > 0): the spread over runs. */
static inline void bench_spread(const double *v, size_t n, double *min, double *max)
{
	size_t i;

	*min = *max = n ? v[0] : __builtin_nan("");
	for (i = 1; i < n; i++) {
		if (v[i] < *min)
			*min = v[i];
		if (v[i] > *max)
			*max = v[i];
	}
}

/* a / b, or NaN (emitted as null) when b is not positive. */
static inline double bench_ratio(double a, double b)
{
	return b > 0 ? a / b : __builtin_nan("");
}

/* A JSON string (quotes included), escaped. */
static inline void bench_json_str(FILE *f, const char *s)
{
	fputc('"', f);
	for (; s && *s; s++) {
		unsigned char c = (unsigned char)*s;

		if (c == '"' || c == '\\')
			fprintf(f, "\\%c", c);
		else if (c < 0x20)
			fprintf(f, "\\u%04x", c);
		else
			fputc(c, f);
	}
	fputc('"', f);
}

/* A JSON number: integers as such, others with 3 decimals (4 significant
 * digits below 1); NaN/inf as null. */
static inline void bench_json_num(FILE *f, double v)
{
	if (v != v || v > 1e300 || v < -1e300)
		fputs("null", f);
	else if (v == (double)(long long)v)
		fprintf(f, "%lld", (long long)v);
	else if (v >= 1000 || v <= -1000)
		fprintf(f, "%.0f", v);
	else if (v >= 1 || v <= -1)
		fprintf(f, "%.3f", v);
	else
		fprintf(f, "%.4g", v);
}

/* Extra fields of a result line, ended by key NULL: numbers (BENCH_NUM), JSON
 * literals written as is (BENCH_RAW: true, false, null) or strings
 * (BENCH_STR): bench_emit(..., BENCH_FIELDS(BENCH_NUM("ratio", r),
 * BENCH_RAW("verified", "true"), BENCH_STR("note", why))). */
struct bench_field {
	const char *key;
	double val;
	const char *raw;
	const char *str;
};

/*
 * One measured case (or method) of one bench: what both the bench programs
 * and `udma bench` report. Times in ns over `runs` runs; NaN where not
 * measured. A row with `skipped` set could not run, and says why (privilege,
 * no hugepages, RLIMIT_MEMLOCK, no device...): never a failure of the run.
 */
struct bench_row {
	const char *bench;  /* "pin", "region", "pool", ... */
	const char *method; /* what was measured, in words a reader searches for */
	size_t size;	    /* bytes (0: does not depend on a size) */
	size_t page_size;   /* 0: not applicable */
	double median_ns, min_ns, max_ns;
	unsigned runs;
	const char *skipped;
	const char *error;		 /* could run, and failed: why (the run goes on, and exits 1) */
	const struct bench_field *extra; /* more columns, ended by key NULL */
};

#ifdef BENCH_IN_CLI
/* The bench programs built into the udma command (-DBENCH_IN_CLI): each
 * row goes to the command's report (tools/bench/bench_report.c: table, JSON
 * lines, CSV, SVG plot) instead of stdout, and each program's main is
 * bench_NAME_main. bench_report_row copies what it keeps: a row and its
 * strings live only for the call. */
void bench_report_row(const struct bench_row *row);
int bench_region_main(int argc, char **argv);
int bench_iova_main(int argc, char **argv);
int bench_pool_main(int argc, char **argv);
int bench_heap_main(int argc, char **argv);
int bench_ring_main(int argc, char **argv);
int bench_dev_main(int argc, char **argv);
/* The end of a bench program in the udma command, through its error path
 * (with --json the last line {"schema":1,"ok":false,...}, else one line on
 * stderr): the rows so far are printed, then msg; exit status 2 (bad
 * arguments: the line points at `PROG --help`) or 1. Does not return. */
__attribute__((noreturn)) void bench_report_exit(int status, int err, const char *prog, const char *msg);
#endif

#define BENCH_NUM(k, v)                \
	{                              \
		.key = (k), .val = (v) \
	}
#define BENCH_RAW(k, lit)                \
	{                                \
		.key = (k), .raw = (lit) \
	}
#define BENCH_STR(k, s)                \
	{                              \
		.key = (k), .str = (s) \
	}
#define BENCH_FIELDS(...) ((const struct bench_field[]){__VA_ARGS__, {.key = NULL}})

/* The program's name in its messages: argv[0], or "udma bench NAME" in the CLI. */
static __attribute__((unused)) const char *bench_prog = "bench";

/*
 * A bench program's entry, said once per file: BENCH_MAIN(pool) { ... }
 * defines main, or bench_pool_main under -DBENCH_IN_CLI, and names the
 * program in usage and errors as the user called it.
 */
#ifdef BENCH_IN_CLI
#define BENCH_MAIN(name)                               \
	static int bench_main(int argc, char **argv);  \
	int bench_##name##_main(int argc, char **argv) \
	{                                              \
		bench_prog = "udma bench " #name;      \
		return bench_main(argc, argv);         \
	}                                              \
	static int bench_main(int argc, char **argv)
#else
#define BENCH_MAIN(name)                              \
	static int bench_main(int argc, char **argv); \
	int main(int argc, char **argv)               \
	{                                             \
		bench_prog = argv[0];                 \
		return bench_main(argc, argv);        \
	}                                             \
	static int bench_main(int argc, char **argv)
#endif

/* ,"key":value for one extra field. */
static inline void bench_json_field(FILE *f, const struct bench_field *x)
{
	fputc(',', f);
	bench_json_str(f, x->key);
	fputc(':', f);
	if (x->raw)
		fputs(x->raw, f);
	else if (x->str)
		bench_json_str(f, x->str);
	else
		bench_json_num(f, x->val);
}

static inline void bench_json_fields(FILE *f, const struct bench_field *extra)
{
	for (; extra && extra->key; extra++)
		bench_json_field(f, extra);
}

/*
 * One row: under BENCH_IN_CLI to the udma command's report; else one JSON
 * line, {"bench":..,"case":..,"size":..,"page_size":..,"median_ns":..,
 * "min_ns":..,"max_ns":..,"runs":N, extras...} (min_ns and max_ns only where
 * measured), or {"bench":..,"case":..,"skipped":reason, extras...}.
 */
static inline void bench_emit_row(const struct bench_row *row)
{
#ifdef BENCH_IN_CLI
	bench_report_row(row);
#else
	printf("{\"bench\":");
	bench_json_str(stdout, row->bench);
	printf(",\"case\":");
	bench_json_str(stdout, row->method);
	if (row->skipped || row->error) {
		printf(row->error ? ",\"error\":" : ",\"skipped\":");
		bench_json_str(stdout, row->error ? row->error : row->skipped);
	} else {
		printf(",\"size\":%zu,\"page_size\":%zu,\"median_ns\":", row->size, row->page_size);
		bench_json_num(stdout, row->median_ns);
		if (row->min_ns == row->min_ns) {
			printf(",\"min_ns\":");
			bench_json_num(stdout, row->min_ns);
			printf(",\"max_ns\":");
			bench_json_num(stdout, row->max_ns);
		}
		printf(",\"runs\":%u", row->runs);
	}
	bench_json_fields(stdout, row->extra);
	printf("}\n");
	fflush(stdout);
#endif
}

/* One result line from a median (no spread known). */
static inline void bench_emit(const char *bench, const char *case_name, size_t size, size_t page_size,
			      double median_ns, unsigned runs, const struct bench_field *extra)
{
	struct bench_row row = {.bench = bench,
				.method = case_name,
				.size = size,
				.page_size = page_size,
				.median_ns = median_ns,
				.min_ns = __builtin_nan(""),
				.max_ns = __builtin_nan(""),
				.runs = runs,
				.extra = extra};

	bench_emit_row(&row);
}

/* One result line from the per-run samples v[0..runs): their median and spread. */
static inline void bench_emit_runs(const char *bench, const char *case_name, size_t size, size_t page_size,
				   const double *v, unsigned runs, const struct bench_field *extra)
{
	struct bench_row row = {.bench = bench,
				.method = case_name,
				.size = size,
				.page_size = page_size,
				.median_ns = bench_median(v, runs),
				.runs = runs,
				.extra = extra};

	bench_spread(v, runs, &row.min_ns, &row.max_ns);
	bench_emit_row(&row);
}

/* A line with string fields only: keys and values alternate, ended by BENCH_END.
 * bench_emit_str("region", "64M@1G", "skipped", "no 1 GiB pages", BENCH_END).
 * In the CLI: a row with no time (NaN), the strings as its extra fields. */
#define BENCH_END     ((const char *)NULL)
#define BENCH_STR_MAX 8 /* key/value pairs a string line holds in the CLI */
static inline __attribute__((sentinel)) void bench_emit_str(const char *bench, const char *case_name, ...)
{
	const char *k, *v;
	va_list ap;
#ifdef BENCH_IN_CLI
	struct bench_field f[BENCH_STR_MAX + 1] = {{0}};
	struct bench_row row = {.bench = bench,
				.method = case_name,
				.median_ns = __builtin_nan(""),
				.min_ns = __builtin_nan(""),
				.max_ns = __builtin_nan(""),
				.extra = f};
	unsigned n = 0;

	va_start(ap, case_name);
	while (n < BENCH_STR_MAX && (k = va_arg(ap, const char *)) && (v = va_arg(ap, const char *)))
		f[n++] = (struct bench_field)BENCH_STR(k, v);
	va_end(ap);
	bench_report_row(&row);
#else
	printf("{\"bench\":");
	bench_json_str(stdout, bench);
	printf(",\"case\":");
	bench_json_str(stdout, case_name);
	va_start(ap, case_name);
	while ((k = va_arg(ap, const char *)) && (v = va_arg(ap, const char *))) {
		putchar(',');
		bench_json_str(stdout, k);
		putchar(':');
		bench_json_str(stdout, v);
	}
	va_end(ap);
	printf("}\n");
	fflush(stdout);
#endif
}

/* {"bench":..,"case":..,"skipped":reason}: a case of that size and page size
 * (the CLI's row keeps them) that could not run, instead of a failure. */
static inline void bench_emit_skip_size(const char *bench, const char *case_name, size_t size,
					size_t page_size, const char *reason)
{
	struct bench_row row = {.bench = bench,
				.method = case_name,
				.size = size,
				.page_size = page_size,
				.median_ns = __builtin_nan(""),
				.min_ns = __builtin_nan(""),
				.max_ns = __builtin_nan(""),
				.skipped = reason};

	bench_emit_row(&row);
}

/* {"bench":..,"case":..,"skipped":reason}: a case that could not run, instead of a failure. */
static inline void bench_emit_skip(const char *bench, const char *case_name, const char *reason)
{
	bench_emit_skip_size(bench, case_name, 0, 0, reason);
}

/* The first line of every bench: kernel release, CPU model, online cores. */
static inline void bench_emit_machine(const char *bench)
{
	char line[512], cpu[256] = "unknown";
	struct utsname u;
	FILE *f;

	if (uname(&u) < 0)
		snprintf(u.release, sizeof(u.release), "unknown");
	f = fopen("/proc/cpuinfo", "re");
	if (f) {
		while (fgets(line, sizeof(line), f)) {
			char *colon = strchr(line, ':');
			size_t len;
			/* x86: "model name"; arm64 may only have "CPU part". */
			int final = !strncmp(line, "model name", 10);

			if (!colon || (!final && strncmp(line, "CPU part", 8)))
				continue;
			colon++;
			colon += strspn(colon, " \t");
			/* memcpy, not snprintf: UBSan builds misread colon as possibly null */
			len = strcspn(colon, "\n");
			len = len < sizeof(cpu) - 1 ? len : sizeof(cpu) - 1;
			memcpy(cpu, colon, len);
			cpu[len] = 0;
			if (final)
				break;
		}
		fclose(f);
	}
#ifdef BENCH_IN_CLI
	{
		struct bench_row row = {
			.bench = bench,
			.method = "machine",
			.median_ns = __builtin_nan(""),
			.min_ns = __builtin_nan(""),
			.max_ns = __builtin_nan(""),
			.extra = BENCH_FIELDS(BENCH_STR("kernel", u.release), BENCH_STR("cpu", cpu),
					      BENCH_NUM("cores", (double)sysconf(_SC_NPROCESSORS_ONLN)))};

		bench_report_row(&row);
	}
#else
	printf("{\"bench\":");
	bench_json_str(stdout, bench);
	printf(",\"case\":\"machine\",\"kernel\":");
	bench_json_str(stdout, u.release);
	printf(",\"cpu\":");
	bench_json_str(stdout, cpu);
	printf(",\"cores\":%ld}\n", sysconf(_SC_NPROCESSORS_ONLN));
	fflush(stdout);
#endif
}

/* Bad arguments (usage(prog, 2) exits 2) or a failure of the run (exit 1):
 * standalone, "PROG: reason" on stderr (then the usage); in the udma command
 * its error path, bench_report_exit. */
static inline __attribute__((format(printf, 4, 5), noreturn)) void
bench_exit(int status, int err, void (*usage)(const char *prog, int code), const char *fmt, ...)
{
	char msg[512];
	va_list ap;

	va_start(ap, fmt);
	vsnprintf(msg, sizeof(msg), fmt, ap);
	va_end(ap);
#ifdef BENCH_IN_CLI
	(void)usage;
	bench_report_exit(status, err, bench_prog, msg);
#else
	(void)err;
	fprintf(stderr, "%s: %s\n", bench_prog, msg);
	if (usage)
		usage(bench_prog, status);
	exit(status);
#endif
}

#define bench_usage_error(usage, ...) bench_exit(2, EINVAL, (usage), __VA_ARGS__)
/* A failure that ends the run: err is a positive errno. */
#define bench_die(err, ...) bench_exit(1, (err), NULL, __VA_ARGS__)

/* Parse a positive count for an option; exits 2 with the reason on bad input. */
static inline unsigned bench_parse_count(const char *opt, const char *s)
{
	char *end;
	unsigned long v = s ? strtoul(s, &end, 10) : 0;

	if (!s || *end || !v || v > 100000000ul || *s == '-' || *s == '+')
		bench_exit(2, EINVAL, NULL, "%s needs a positive number, got '%s'", opt, s ? s : "");
	return (unsigned)v;
}

/* v rounded up to a multiple of to (a page size). */
static inline size_t bench_round_up(size_t v, size_t to)
{
	return (v + to - 1) / to * to;
}

/* Whether the kernel has pages of this size: 4 KiB, or a hugepage size it offers. */
static inline int bench_kernel_offers(size_t page_size)
{
	size_t sizes[8];
	int n = udma_hugepage_sizes(sizes, 8), i;

	if (page_size == UDMA_PAGE_4K)
		return 1;
	for (i = 0; i < n && i < 8; i++)
		if (sizes[i] == page_size)
			return 1;
	return 0;
}

/* The value of option argv[*i] (advancing *i), or NULL when it is the last argument. */
static inline const char *bench_opt_value(int argc, char **argv, unsigned *i)
{
	return *i + 1 < (unsigned)argc ? argv[++*i] : NULL;
}

/* What every bench takes: --runs N, --quick (3 runs unless --runs), --help. */
struct bench_opts {
	unsigned runs;
	int runs_set, quick;
};

/* Handle argv[*i] if it is one of those (taking its value), return 1; else 0. */
static inline int bench_common_opt(int argc, char **argv, unsigned *i, struct bench_opts *o,
				   void (*usage)(const char *prog, int code))
{
	if (!strcmp(argv[*i], "--runs")) {
		o->runs = bench_parse_count("--runs", bench_opt_value(argc, argv, i));
		o->runs_set = 1;
	} else if (!strcmp(argv[*i], "--quick")) {
		o->quick = 1;
		if (!o->runs_set)
			o->runs = 3;
	} else if (!strcmp(argv[*i], "--help") || !strcmp(argv[*i], "-h")) {
		usage(bench_prog, 0);
	} else {
		return 0;
	}
	return 1;
}

/* What the udma command's usage of a bench adds: its output options. */
#ifdef BENCH_IN_CLI
#define BENCH_OUTPUT_HELP \
	"Output: a table, or --json (JSON lines), --csv, --plot FILE.svg (see udma bench --help).\n"
#else
#define BENCH_OUTPUT_HELP "Output: JSON lines on stdout.\n"
#endif

/*
 * Hugepage pools, as root: top a pool up so that `need` pages are free, and
 * give back at exit what was added. The pools are system-wide and another
 * process may change them meanwhile, so this adds and removes deltas rather
 * than writing back an absolute total read at start.
 */
static __attribute__((unused)) struct {
	size_t page_size;
	unsigned long added;	/* to give back */
	unsigned long reserved; /* added over the whole run, and kept: not given back */
	unsigned long kept;
} bench_pools[2] = {{.page_size = UDMA_PAGE_2M}, {.page_size = UDMA_PAGE_1G}};
/* The process that took them: a forked child (the malloc method's, the
 * offline helper's) inherits the counts and the handlers, and must not give
 * the same pages back a second time. */
static __attribute__((unused)) pid_t bench_pools_owner;

/* The signals that give the pools back (bench_on_signal). */
static inline void bench_signals_block(int how, sigset_t *old)
{
	static const int sigs[] = {SIGINT, SIGTERM, SIGHUP, SIGQUIT, SIGPIPE};
	sigset_t set;
	unsigned k;

	sigemptyset(&set);
	for (k = 0; k < sizeof(sigs) / sizeof(sigs[0]); k++)
		sigaddset(&set, sigs[k]);
	sigprocmask(how, &set, old);
}

static inline void bench_hugepages_ensure(size_t page_size, unsigned long need)
{
	unsigned long more = 0;
	sigset_t old;
	unsigned i;

	for (i = 0; i < 2 && bench_pools[i].page_size != page_size; i++)
		;
	if (i == 2 || geteuid() != 0)
		return;
	if (!bench_pools_owner)
		bench_pools_owner = getpid();
	/* Blocked from the reserve to the bookkeeping: a signal in between
	 * would leave pages added and not counted, never given back. */
	bench_signals_block(SIG_BLOCK, &old);
	udma_hugepage_reserve(page_size, UDMA_NUMA_ANY, need, &more); /* a shortfall shows as a skip */
	bench_pools[i].added += more;
	bench_pools[i].reserved += more;
	sigprocmask(SIG_SETMASK, &old, NULL);
}

static inline void bench_hugepages_restore(void)
{
	sigset_t old;
	unsigned i;

	if (getpid() != bench_pools_owner)
		return;
	/* Blocked, and each count taken and zeroed before it is given back: a
	 * signal now (or exit after the handler) cannot give the same pages back twice. */
	bench_signals_block(SIG_BLOCK, &old);
	for (i = 0; i < 2; i++) {
		unsigned long n = bench_pools[i].added;

		bench_pools[i].added = 0;
		if (n && udma_hugepage_unreserve(bench_pools[i].page_size, UDMA_NUMA_ANY, n))
			bench_pools[i].kept += n;
	}
	sigprocmask(SIG_SETMASK, &old, NULL);
}

/* Not async-signal-safe (the unreserve writes sysfs through stdio and may
 * log): an accepted trade-off, since the signals are blocked whenever the
 * pool bookkeeping changes, so the handler never sees it half done. */
static inline void bench_on_signal(int sig)
{
	bench_hugepages_restore();
	signal(sig, SIG_DFL);
	raise(sig);
}

/* Give the pools back at exit, on SIGINT, SIGTERM, SIGHUP, SIGQUIT and
 * SIGPIPE (`bench | head`). */
static inline void bench_hugepages_restore_at_exit(void)
{
	bench_pools_owner = getpid();
	atexit(bench_hugepages_restore);
	signal(SIGINT, bench_on_signal);
	signal(SIGTERM, bench_on_signal);
	signal(SIGHUP, bench_on_signal);
	signal(SIGQUIT, bench_on_signal);
	signal(SIGPIPE, bench_on_signal);
}

#endif
