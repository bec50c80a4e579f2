/* SPDX-License-Identifier: MIT */
/*
 * The SVG plot of udma bench (tools/bench/bench_plot.c): size ticks at
 * 4K x 8^n labelled 4K, 32K ... 1G, time ticks at every decade labelled in
 * ns, µs, ms and s; a series and a legend entry per method, names escaped so
 * that any name leaves the file well-formed; a file it cannot write is an
 * error, not a crash; a symlink or a device is refused when opened.
 */
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "tests/support/helpers.h"
#include "tools/bench/bench_tool.h"

static void size_labels(void **state)
{
	char buf[32];

	(void)state;
	assert_string_equal(bench_plot_size_label(4096, buf, sizeof(buf)), "4K");
	assert_string_equal(bench_plot_size_label(32768, buf, sizeof(buf)), "32K");
	assert_string_equal(bench_plot_size_label(2 << 20, buf, sizeof(buf)), "2M");
	assert_string_equal(bench_plot_size_label(1 << 30, buf, sizeof(buf)), "1G");
	assert_string_equal(bench_plot_size_label(512, buf, sizeof(buf)), "512B");
	assert_string_equal(bench_plot_size_label(1536, buf, sizeof(buf)), "1.5K");
}

static void time_labels(void **state)
{
	static const struct {
		double ns;
		const char *label;
	} want[] = {{1, "1 ns"},   {100, "100 ns"}, {1e3, "1 µs"}, {1e4, "10 µs"},
		    {1e6, "1 ms"}, {1e9, "1 s"},    {1e10, "10 s"}};
	char buf[32];
	size_t i;

	(void)state;
	for (i = 0; i < sizeof(want) / sizeof(want[0]); i++)
		assert_string_equal(bench_plot_time_label(want[i].ns, buf, sizeof(buf)), want[i].label);
}

/* The whole file, NUL-terminated. */
static char *slurp(const char *path)
{
	FILE *f = fopen(path, "r");
	char *s = calloc(1, 1 << 20);
	size_t n;

	assert_non_null(f);
	assert_non_null(s);
	n = fread(s, 1, (1 << 20) - 1, f);
	s[n] = 0;
	fclose(f);
	return s;
}

static size_t count(const char *s, const char *what)
{
	size_t n = 0;

	for (; (s = strstr(s, what)); s += strlen(what))
		n++;
	return n;
}

/* The SVG bench_plot_svg writes for these points, as a string. */
static char *plot(const char *title, const struct bench_point *pts, size_t n)
{
	char path[] = "/tmp/test_bench_plot.XXXXXX";
	int fd = mkstemp(path);
	char *svg;

	assert_true(fd >= 0);
	close(fd);
	assert_int_equal(bench_plot_svg(path, title, pts, n), 0);
	svg = slurp(path);
	unlink(path);
	return svg;
}

static void series_ticks_and_escaping(void **state)
{
	static const char evil[] = "a<b>&\"c'\x01\xff";
	const struct bench_point pts[] = {
		{"mmap_mlock", 4096, 5e3, 4e3, 9e3},	     {"mmap_mlock", 1 << 30, 7e8, 5e8, 1e9},
		{"mmap_mlock", 2 << 20, 6e5, NAN, NAN},	     {evil, 2 << 20, 40, 30, 50},
		{"hugetlb_mmap_2M", 2 << 20, 1e5, 9e4, 2e5},
	};
	char *svg;

	(void)state;
	svg = plot("udma bench pin: <cpu> & co", pts, 5);
	assert_int_equal(count(svg, "<g class=\"series\""), 3);
	assert_int_equal(count(svg, "<g class=\"legend\">"), 3);
	assert_int_equal(count(svg, "<polyline"), 3);
	/* 4K to 1G: every power of 8 from 4K is a labelled tick */
	assert_non_null(strstr(svg, ">4K</text>"));
	assert_non_null(strstr(svg, ">32K</text>"));
	assert_non_null(strstr(svg, ">2M</text>"));
	assert_non_null(strstr(svg, ">1G</text>"));
	/* 30 ns to 1 s: decades from 10 ns to 1 s */
	assert_non_null(strstr(svg, ">10 ns</text>"));
	assert_non_null(strstr(svg, ">1 µs</text>"));
	assert_non_null(strstr(svg, ">1 s</text>"));
	assert_null(strstr(svg, ">10 s</text>"));
	/* names as text, never as markup; control and non-ASCII bytes replaced */
	assert_non_null(strstr(svg, "a&lt;b&gt;&amp;&quot;c&apos;??"));
	assert_non_null(strstr(svg, "udma bench pin: &lt;cpu&gt; &amp; co"));
	assert_null(strstr(svg, "a<b"));
	assert_null(strchr(svg, '\x01'));
	assert_null(strchr(svg, 0xff));
	free(svg);
}

static void nothing_to_plot(void **state)
{
	char *svg;

	(void)state;
	svg = plot("empty", NULL, 0);
	assert_non_null(strstr(svg, "nothing measured"));
	assert_non_null(strstr(svg, "</svg>"));
	free(svg);
}

static void unwritable(void **state)
{
	const struct bench_point p = {"m", 4096, 100, 90, 110};

	(void)state;
	assert_int_equal(bench_plot_svg("/nonexistent-dir/x.svg", "t", &p, 1), -ENOENT);
}

/* Prepared before the run: never through a symlink, never a device; the
 * path is replaced only by a whole plot, and left as it was otherwise. */
static void refused_and_kept(void **state)
{
	char dir[] = "/tmp/test_bench_plot.XXXXXX", target[64], link[64], *txt;
	const struct bench_point p = {"m", 4096, 100, 90, 110};
	struct bench_plot_file f;
	struct dirent *e;
	int fd, files = 0;
	DIR *d;

	(void)state;
	assert_non_null(mkdtemp(dir));
	snprintf(target, sizeof(target), "%s/target", dir);
	snprintf(link, sizeof(link), "%s/link.svg", dir);
	fd = open(target, O_WRONLY | O_CREAT | O_EXCL, 0644);
	assert_true(fd >= 0);
	assert_int_equal(write(fd, "keep", 4), 4);
	close(fd);
	assert_int_equal(symlink(target, link), 0);
	assert_int_equal(bench_plot_open(link, &f), -ELOOP);
	assert_int_equal(bench_plot_open("/dev/null", &f), -EINVAL);
	/* abandoned: the file as it was, nothing else left */
	assert_int_equal(bench_plot_open(target, &f), 0);
	bench_plot_abandon(&f);
	txt = slurp(target);
	assert_string_equal(txt, "keep");
	free(txt);
	/* written: replaced whole, the link left alone */
	assert_int_equal(bench_plot_open(target, &f), 0);
	txt = slurp(target);
	assert_string_equal(txt, "keep");
	free(txt);
	assert_int_equal(bench_plot_write(&f, "t", &p, 1), 0);
	txt = slurp(target);
	assert_non_null(strstr(txt, "</svg>"));
	assert_null(strstr(txt, "keep"));
	free(txt);
	d = opendir(dir);
	assert_non_null(d);
	while ((e = readdir(d)))
		files += e->d_name[0] != '.' || (e->d_name[1] && strcmp(e->d_name, ".."));
	closedir(d);
	assert_int_equal(files, 2); /* target and link.svg: no temporary file left */
	unlink(link);
	unlink(target);
	rmdir(dir);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		th_test(size_labels),	  th_test(time_labels), th_test(series_ticks_and_escaping),
		th_test(nothing_to_plot), th_test(unwritable),	th_test(refused_and_kept),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
