/* SPDX-License-Identifier: MIT */
/*
 * tools/bench: `udma bench`. cmd_bench.c dispatches; bench_report.c collects
 * every row any bench reports (bench_report_row, the contract of
 * bench/bench_util.h) and prints it as a table, JSON lines or CSV;
 * bench_plot.c draws the rows as an SVG. `udma bench pin` is pin_run.c
 * (sizes, runs, rows), pin_methods.c (the ways to get pinned memory, pin.h)
 * and pin_state.c (what each left behind: resident, locked, physically
 * contiguous, huge).
 */
#ifndef UDMA_BENCH_TOOL_H
#define UDMA_BENCH_TOOL_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "tools/cli.h"

#ifndef BENCH_IN_CLI
#define BENCH_IN_CLI 1
#endif
#include "bench/bench_util.h"

/* ---- bench_report.c ---------------------------------------------------- */

enum bench_format { BENCH_TABLE, BENCH_JSON_LINES, BENCH_CSV };

struct bench_output {
	enum bench_format format;
	const char *plot; /* SVG file, or NULL */
};

/* Take the output options (--json, --csv, --plot FILE) out of argv[1..],
 * closing the gap; *argc is updated. 0, or -1 with the reason in why. */
int bench_output_options(int *argc, char **argv, struct bench_output *out, char *why, size_t len);
/* Start a report: rows from bench_report_row go to it until bench_report_finish. */
void bench_report_start(const struct cli *c, const struct bench_output *out);
/* Open the --plot file now, before the run: a path it cannot or must not
 * write (a symlink, not a regular file, no such directory) fails at once.
 * 0, or the exit code after the failure was reported. */
int bench_report_open_plot(void);
/* On a terminal: one progress line on stderr, overwritten by the next. */
void bench_report_progress(const char *fmt, ...) __attribute__((format(printf, 1, 2)));
/* Print what was collected (table or CSV) and write the plot. Returns the
 * exit code: status, or 1 if the plot could not be written or a row has an
 * error (then a failure line too). Frees the rows. */
int bench_report_finish(int status);
/* A failure of the run, or bad arguments (usage not NULL: exit 2; usage is
 * what follows the reason on stderr, a pointer to --help): with
 * --json a last line {"schema":1,"ok":false,"error":...,"errno":N}, else the
 * message on stderr. Rows collected so far are printed first. */
int bench_fail(const struct cli *c, int status, int err, const char *usage, const char *fmt, ...)
	__attribute__((format(printf, 5, 6)));

/* ---- bench_plot.c ------------------------------------------------------ */

/* A point of the plot: what bench_report.c collected, measured rows only. */
struct bench_point {
	const char *series;	 /* method */
	double x, y, ymin, ymax; /* size in bytes, times in ns (ymin/ymax NaN: no whisker) */
};

/*
 * The plot's file, prepared before the run so that a bad one fails at once:
 * the path must not be a symlink (-ELOOP) nor anything but a regular file
 * (-EINVAL: /dev/..., a FIFO) if it exists, and its folder must take a new
 * file. The plot is written to an unnamed file in that folder (O_TMPFILE; a
 * hidden named one where the file system has none) and only renamed over
 * the path once whole: a run that fails, is killed or cannot finish writing
 * leaves the path as it was.
 */
struct bench_plot_file {
	int fd;
	char path[4096];
	char tmp[4096 + 64]; /* the named temporary file, or "" (O_TMPFILE) */
};
int bench_plot_open(const char *path, struct bench_plot_file *out);
/* Write the plot, put it in place, close. 0, or -errno (the path untouched). */
int bench_plot_write(struct bench_plot_file *f, const char *title, const struct bench_point *pts, size_t n);
/* Give up: close and remove the temporary file. */
void bench_plot_abandon(struct bench_plot_file *f);
/* Write an SVG of time against size, log-log, one line per series (points of
 * a series in any order). title: bench and machine. 0, or -errno. */
int bench_plot_svg(const char *path, const char *title, const struct bench_point *pts, size_t n);
/* "4K", "2M", "1G" for a size; buf returned. */
const char *bench_plot_size_label(double bytes, char *buf, size_t len);
/* "1 ns", "10 µs", "1 s": a decade of nanoseconds; buf returned. */
const char *bench_plot_time_label(double ns, char *buf, size_t len);
/* A time with three significant digits in the unit that fits: "812 ns",
 * "1.23 µs", "45.6 ms"; "-" for NaN. The table's and the plot's tooltips. */
const char *bench_fmt_time(double ns, char *buf, size_t len);

/* ---- pin (pin_run.c, pin_state.c) -------------------------------------- */

/* What `udma bench pin` was asked. */
struct pin_args {
	size_t sizes[32];
	unsigned nsizes;
	size_t page_size; /* 0: every method; else only those mapping pages of this size */
	unsigned runs;
	const char *methods; /* comma list, or NULL: all */
	bool migrate;
	const char *device; /* vfio:BDF, or NULL */
};

/* Run every selected method at every size: rows to bench_report_row. 0, or
 * a negative errno after a failure of the run itself (message in why). */
int pin_run(const struct pin_args *a, char *why, size_t len);

/* What a mapping is like after a method made it. */
struct pin_state {
	size_t resident;      /* bytes in memory (mincore) */
	size_t locked;	      /* Locked: of the VMAs over the range (smaps) */
	size_t anon_huge;     /* AnonHugePages: of those VMAs (THP) */
	size_t pinned;	      /* VmPin: long-term pins of the process: one method's at a time */
	bool pfns;	      /* false: not root, the kernel gives PFNs as 0 */
	size_t runs, longest; /* physically contiguous runs, the longest in bytes */
};

/* Scratch memory for pin_state_read, taken before a method runs: reading
 * must not call malloc while brk_sbrk holds the break. 0 or -errno. */
int pin_state_init(size_t max_len);
void pin_state_fini(void);
/* In a forked child: read its own pagemap (the fd it inherited reads the
 * parent's). 0 or -errno. */
int pin_state_reopen(void);
/* Read the state of the 4 KiB pages under [addr, addr + len). 0 or -errno
 * (message: udma_last_error). */
int pin_state_read(const void *addr, size_t len, struct pin_state *st);

#endif
