/* SPDX-License-Identifier: MIT */
/*
 * The plot of a bench: median time against size, both axes logarithmic,
 * one line with markers per method and a whisker from the fastest to the
 * slowest run at each point. Sizes are ticked at every power of 8 from 4K
 * (4K, 32K, 256K, 2M, 16M, 128M, 1G: the page sizes fall on ticks), times
 * at every power of 10 ns. SVG written here: no plotting dependency.
 */
#include <errno.h>
#include <fcntl.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "tools/bench/bench_tool.h"

#define W	 1040 /* the plot's box, then the legend to its right */
#define PLOT_X	 90
#define PLOT_Y	 70
#define PLOT_W	 600
#define PLOT_H	 460
#define LEGEND_X (PLOT_X + PLOT_W + 30)
#define LEGEND_H 19

/* Ten colours told apart also by people with the commonest colour
 * blindness, times three dash patterns and three marker shapes. */
static const char *const colours[] = {"#1f77b4", "#d62728", "#2ca02c", "#ff7f0e", "#9467bd",
				      "#8c564b", "#e377c2", "#4d4d4d", "#bcbd22", "#17becf"};
static const char *const dashes[] = {"", "7,4", "2,3"};
#define NSTYLE (sizeof(colours) / sizeof(colours[0]))

/* Text for XML: markup characters as entities; control and non-ASCII bytes
 * (a name may come from anywhere) as '?', so the file stays well-formed. */
static void xml_text(FILE *f, const char *s)
{
	for (; s && *s; s++) {
		unsigned char c = (unsigned char)*s;

		if (c == '&')
			fputs("&amp;", f);
		else if (c == '<')
			fputs("&lt;", f);
		else if (c == '>')
			fputs("&gt;", f);
		else if (c == '"')
			fputs("&quot;", f);
		else if (c == '\'')
			fputs("&apos;", f);
		else if (c < 0x20 || c >= 0x7f)
			fputc('?', f);
		else
			fputc(c, f);
	}
}

const char *bench_plot_size_label(double bytes, char *buf, size_t len)
{
	static const char units[] = "KMGTP";
	int u = -1;

	while (u < 4 && bytes >= 1024) {
		bytes /= 1024;
		u++;
	}
	if (u < 0)
		snprintf(buf, len, "%.0fB", bytes);
	else
		snprintf(buf, len, bytes == floor(bytes) ? "%.0f%c" : "%.1f%c", bytes, units[u]);
	return buf;
}

/* *ns scaled to the largest of ns, µs, ms, s that keeps it below top; its name. */
static const char *time_unit(double *ns, double top)
{
	static const char *const unit[] = {"ns", "µs", "ms", "s"};
	int u = 0;

	while (u < 3 && *ns >= top) {
		*ns /= 1000;
		u++;
	}
	return unit[u];
}

const char *bench_plot_time_label(double ns, char *buf, size_t len)
{
	const char *unit = time_unit(&ns, 1000);

	snprintf(buf, len, "%.0f %s", ns, unit);
	return buf;
}

const char *bench_fmt_time(double ns, char *buf, size_t len)
{
	const char *unit;

	if (isnan(ns)) {
		snprintf(buf, len, "-");
		return buf;
	}
	unit = time_unit(&ns, 999.5);
	snprintf(buf, len,
		 ns >= 99.95 || !strcmp(unit, "ns") ? "%.0f %s"
		 : ns >= 9.995			    ? "%.1f %s"
						    : "%.2f %s",
		 ns, unit);
	return buf;
}

struct axes {
	double lx0, lx1; /* log2 of the size range, multiples of 3 */
	double ly0, ly1; /* log10 of the time range */
};

static double px(const struct axes *a, double x)
{
	/* a little room either side, so the first and last points clear the frame */
	return PLOT_X + (log2(x) - a->lx0 + 0.4) / (a->lx1 - a->lx0 + 0.8) * PLOT_W;
}

static double py(const struct axes *a, double y)
{
	return PLOT_Y + PLOT_H - (log10(y) - a->ly0) / (a->ly1 - a->ly0) * PLOT_H;
}

static void find_axes(const struct bench_point *pts, size_t n, struct axes *a)
{
	double xmin = INFINITY, xmax = 0, ymin = INFINITY, ymax = 0;
	size_t i;

	for (i = 0; i < n; i++) {
		double lo = pts[i].ymin > 0 ? pts[i].ymin : pts[i].y;
		double hi = pts[i].ymax > pts[i].y ? pts[i].ymax : pts[i].y;

		xmin = fmin(xmin, pts[i].x);
		xmax = fmax(xmax, pts[i].x);
		ymin = fmin(ymin, lo);
		ymax = fmax(ymax, hi);
	}
	if (!n) {
		xmin = 4096;
		xmax = 1 << 30;
		ymin = 100;
		ymax = 1e9;
	}
	a->lx0 = floor(log2(xmin) / 3) * 3;
	a->lx1 = ceil(log2(xmax) / 3) * 3;
	if (a->lx1 <= a->lx0)
		a->lx1 = a->lx0 + 3;
	a->ly0 = floor(log10(ymin));
	a->ly1 = ceil(log10(ymax));
	if (a->ly1 <= a->ly0)
		a->ly1 = a->ly0 + 1;
}

static void draw_axes(FILE *f, const struct axes *a, const char *title)
{
	char label[32];
	double e;

	fprintf(f, "<text x=\"%d\" y=\"28\" font-size=\"17\" font-weight=\"bold\">", PLOT_X);
	xml_text(f, title);
	fprintf(f,
		"</text>\n<text x=\"%d\" y=\"50\" font-size=\"13\" fill=\"#444\">median time per call "
		"against size, log-log; whiskers: fastest to slowest run; lower is faster</text>\n",
		PLOT_X);
	fprintf(f, "<rect x=\"%d\" y=\"%d\" width=\"%d\" height=\"%d\" fill=\"none\" stroke=\"#333\"/>\n",
		PLOT_X, PLOT_Y, PLOT_W, PLOT_H);
	fputs("<g class=\"xticks\" font-size=\"12\" text-anchor=\"middle\">\n", f);
	for (e = a->lx0; e <= a->lx1 + 1e-9; e += 3) {
		double x = px(a, exp2(e));

		fprintf(f,
			"<line x1=\"%.1f\" y1=\"%d\" x2=\"%.1f\" y2=\"%d\" stroke=\"#ddd\"/>"
			"<text x=\"%.1f\" y=\"%d\">%s</text>\n",
			x, PLOT_Y, x, PLOT_Y + PLOT_H, x, PLOT_Y + PLOT_H + 18,
			bench_plot_size_label(exp2(e), label, sizeof(label)));
	}
	fputs("</g>\n<g class=\"yticks\" font-size=\"12\" text-anchor=\"end\">\n", f);
	for (e = a->ly0; e <= a->ly1 + 1e-9; e += 1) {
		double y = py(a, pow(10, e));

		fprintf(f,
			"<line x1=\"%d\" y1=\"%.1f\" x2=\"%d\" y2=\"%.1f\" stroke=\"#ddd\"/>"
			"<text x=\"%d\" y=\"%.1f\">%s</text>\n",
			PLOT_X, y, PLOT_X + PLOT_W, y, PLOT_X - 8, y + 4,
			bench_plot_time_label(pow(10, e), label, sizeof(label)));
	}
	fprintf(f,
		"</g>\n<text x=\"%d\" y=\"%d\" font-size=\"13\" text-anchor=\"middle\">size (bytes)</text>\n"
		"<text transform=\"translate(22 %d) rotate(-90)\" font-size=\"13\" "
		"text-anchor=\"middle\">time (median of the runs)</text>\n",
		PLOT_X + PLOT_W / 2, PLOT_Y + PLOT_H + 42, PLOT_Y + PLOT_H / 2);
}

static void marker(FILE *f, unsigned shape, double x, double y, const char *colour)
{
	if (shape == 0)
		fprintf(f, "<circle cx=\"%.1f\" cy=\"%.1f\" r=\"3.5\" fill=\"%s\"/>", x, y, colour);
	else if (shape == 1)
		fprintf(f, "<rect x=\"%.1f\" y=\"%.1f\" width=\"7\" height=\"7\" fill=\"%s\"/>", x - 3.5,
			y - 3.5, colour);
	else
		fprintf(f, "<path d=\"M%.1f %.1fL%.1f %.1fL%.1f %.1fZ\" fill=\"%s\"/>", x, y - 4.5, x + 4.5,
			y + 3.5, x - 4.5, y + 3.5, colour);
}

static int cmp_x(const void *a, const void *b)
{
	const struct bench_point *p = *(const struct bench_point *const *)a,
				 *q = *(const struct bench_point *const *)b;

	return (p->x > q->x) - (p->x < q->x);
}

/* One series: its points in size order, line, whiskers, markers, legend. */
static void draw_series(FILE *f, const struct axes *a, const struct bench_point **pts, size_t n, unsigned idx)
{
	const char *colour = colours[idx % NSTYLE], *dash = dashes[(idx / NSTYLE) % 3];
	unsigned shape = (idx / NSTYLE) % 3;
	double ly = PLOT_Y + 8 + idx * LEGEND_H;
	char sz[32], t[32];
	size_t i;

	qsort(pts, n, sizeof(*pts), cmp_x);
	fputs("<g class=\"series\" data-method=\"", f);
	xml_text(f, pts[0]->series);
	fprintf(f, "\">\n<polyline fill=\"none\" stroke=\"%s\" stroke-width=\"2\"%s%s%s points=\"", colour,
		*dash ? " stroke-dasharray=\"" : "", dash, *dash ? "\"" : "");
	for (i = 0; i < n; i++)
		fprintf(f, "%s%.1f,%.1f", i ? " " : "", px(a, pts[i]->x), py(a, pts[i]->y));
	fputs("\"/>\n", f);
	for (i = 0; i < n; i++) {
		double x = px(a, pts[i]->x), y = py(a, pts[i]->y);

		if (pts[i]->ymin > 0 && pts[i]->ymax >= pts[i]->ymin)
			fprintf(f, "<line x1=\"%.1f\" y1=\"%.1f\" x2=\"%.1f\" y2=\"%.1f\" stroke=\"%s\"/>", x,
				py(a, pts[i]->ymin), x, py(a, pts[i]->ymax), colour);
		fputs("<g><title>", f);
		xml_text(f, pts[i]->series);
		fprintf(f, " %s: ", bench_plot_size_label(pts[i]->x, sz, sizeof(sz)));
		fputs(bench_fmt_time(pts[i]->y, t, sizeof(t)), f);
		fputs("</title>", f);
		marker(f, shape, x, y, colour);
		fputs("</g>\n", f);
	}
	fprintf(f,
		"<g class=\"legend\"><line x1=\"%d\" y1=\"%.1f\" x2=\"%d\" y2=\"%.1f\" stroke=\"%s\" "
		"stroke-width=\"2\"%s%s%s/>",
		LEGEND_X, ly, LEGEND_X + 30, ly, colour, *dash ? " stroke-dasharray=\"" : "", dash,
		*dash ? "\"" : "");
	marker(f, shape, LEGEND_X + 15, ly, colour);
	fprintf(f, "<text x=\"%d\" y=\"%.1f\" font-size=\"13\">", LEGEND_X + 38, ly + 4.5);
	xml_text(f, pts[0]->series);
	fputs("</text></g>\n</g>\n", f);
}

static int draw(FILE *f, const char *title, const struct bench_point *pts, size_t n)
{
	const struct bench_point **mine = malloc((n ? n : 1) * sizeof(*mine));
	char *done = calloc(n ? n : 1, 1);
	unsigned nseries = 0;
	struct axes a;
	size_t i, k, m;
	int h;

	if (!mine || !done) {
		free(mine);
		free(done);
		return -ENOMEM;
	}
	for (i = 0; i < n; i++)
		for (k = 0, nseries++; k < i; k++)
			if (!strcmp(pts[k].series, pts[i].series)) {
				nseries--;
				break;
			}
	h = PLOT_Y + PLOT_H + 60;
	if (PLOT_Y + 20 + (int)nseries * LEGEND_H > h)
		h = PLOT_Y + 20 + (int)nseries * LEGEND_H;
	find_axes(pts, n, &a);
	fprintf(f,
		"<?xml version=\"1.0\" encoding=\"UTF-8\"?>\n"
		"<svg xmlns=\"http://www.w3.org/2000/svg\" width=\"%d\" height=\"%d\" viewBox=\"0 0 %d %d\" "
		"font-family=\"sans-serif\">\n<rect width=\"100%%\" height=\"100%%\" fill=\"white\"/>\n",
		W, h, W, h);
	draw_axes(f, &a, title);
	if (!n)
		fprintf(f, "<text x=\"%d\" y=\"%d\" text-anchor=\"middle\">nothing measured</text>\n",
			PLOT_X + PLOT_W / 2, PLOT_Y + PLOT_H / 2);
	for (i = 0, nseries = 0; i < n; i++) {
		if (done[i])
			continue;
		for (k = i, m = 0; k < n; k++)
			if (!done[k] && !strcmp(pts[k].series, pts[i].series)) {
				done[k] = 1;
				mine[m++] = &pts[k];
			}
		draw_series(f, &a, mine, m, nseries++);
	}
	fputs("</svg>\n", f);
	free(mine);
	free(done);
	return 0;
}

int bench_plot_open(const char *path, struct bench_plot_file *out)
{
	size_t len = strlen(path);
	char dir[4096];
	struct stat st;
	const char *slash;

	out->fd = -1;
	out->tmp[0] = 0;
	if (len >= sizeof(out->path) - 16)
		return -ENAMETOOLONG;
	memcpy(out->path, path, len + 1); /* not snprintf: UBSan builds misread path as possibly null */
	if (lstat(path, &st) == 0 && S_ISLNK(st.st_mode))
		return -ELOOP;
	if (lstat(path, &st) == 0 && !S_ISREG(st.st_mode))
		return -EINVAL;
	slash = strrchr(path, '/');
	snprintf(dir, sizeof(dir), "%.*s", slash ? (int)(slash - path) + 1 : 1, slash ? path : ".");
	out->fd = open(dir, O_TMPFILE | O_WRONLY | O_CLOEXEC, 0644);
	if (out->fd >= 0)
		return 0;
	if (errno != EOPNOTSUPP && errno != EISDIR && errno != EINVAL)
		return -errno;
	/* no O_TMPFILE here: a hidden file beside the plot, removed if abandoned */
	if (slash)
		snprintf(out->tmp, sizeof(out->tmp), "%.*s.%s.XXXXXX", (int)(slash - path) + 1, path,
			 slash + 1);
	else
		snprintf(out->tmp, sizeof(out->tmp), ".%s.XXXXXX", path);
	out->fd = mkostemp(out->tmp, O_CLOEXEC);
	if (out->fd < 0) {
		out->tmp[0] = 0;
		return -errno;
	}
	fchmod(out->fd, 0644);
	return 0;
}

void bench_plot_abandon(struct bench_plot_file *f)
{
	if (f->fd >= 0)
		close(f->fd);
	if (f->tmp[0])
		unlink(f->tmp);
	f->fd = -1;
	f->tmp[0] = 0;
}

/* The unnamed file gets a name of its own first (linkat cannot replace),
 * then takes the path's: rename replaces a file, never follows a link. */
static int publish(struct bench_plot_file *f)
{
	char proc[64];
	unsigned k;

	if (!f->tmp[0]) {
		snprintf(proc, sizeof(proc), "/proc/self/fd/%d", f->fd);
		for (k = 0; k < 100; k++) {
			snprintf(f->tmp, sizeof(f->tmp), "%s.%d.%u.tmp", f->path, (int)getpid(), k);
			if (linkat(AT_FDCWD, proc, AT_FDCWD, f->tmp, AT_SYMLINK_FOLLOW) == 0)
				break;
			if (errno != EEXIST) {
				f->tmp[0] = 0;
				return -errno;
			}
		}
		if (k == 100) {
			f->tmp[0] = 0;
			return -EEXIST;
		}
	}
	return rename(f->tmp, f->path) < 0 ? -errno : 0;
}

int bench_plot_write(struct bench_plot_file *pf, const char *title, const struct bench_point *pts, size_t n)
{
	FILE *f = fdopen(pf->fd, "w");
	int rc;

	if (!f) {
		rc = -errno;
		bench_plot_abandon(pf);
		return rc;
	}
	rc = draw(f, title, pts, n);
	if (fflush(f) && !rc)
		rc = errno ? -errno : -EIO;
	if (ferror(f) && !rc)
		rc = -EIO;
	if (!rc)
		rc = publish(pf);
	fclose(f);
	pf->fd = -1;
	if (rc)
		bench_plot_abandon(pf);
	pf->tmp[0] = 0;
	return rc;
}

int bench_plot_svg(const char *path, const char *title, const struct bench_point *pts, size_t n)
{
	struct bench_plot_file f;
	int rc = bench_plot_open(path, &f);

	return rc ? rc : bench_plot_write(&f, title, pts, n);
}
