/* SPDX-License-Identifier: MIT */
/*
 * udma bench: what pinning memory costs (`udma bench pin`, tools/bench/) and
 * the library's own benches (bench/bench_*.c, compiled in with
 * -DBENCH_IN_CLI), all reporting through tools/bench/bench_report.c: a
 * table, JSON lines, CSV, and an SVG plot.
 */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <udma/udma.h>

#include "tools/cli.h"
#include "tools/bench/pin.h"

static const char usage_head[] =
	"usage: udma bench pin [--sizes LIST] [--page-size 4K|2M|1G] [--runs N] [--methods LIST]\n"
	"                      [--migrate] [--device vfio:BDF] [--json | --csv] [--plot FILE.svg]\n"
	"       udma bench region|iova|pool|heap|ring|dev [ARGS] [--json | --csv] [--plot FILE.svg]\n"
	"       udma bench NAME --help\n"
	"pin: every way to get memory, and pinned memory for DMA, timed side by side at each size,\n"
	"  with the state each leaves (resident, locked, physically contiguous runs, long-term pin):\n"
	"  brk/sbrk, malloc, mmap + touch, MAP_POPULATE, MADV_POPULATE_WRITE, MAP_LOCKED, mlock,\n"
	"  mlock2(MLOCK_ONFAULT), THP, hugetlb 2M/1G, memfd hugetlb, io_uring long-term pins,\n"
	"  udma regions, VFIO DMA mapping, and translation (pagemap per page, in bulk, udma_iova).\n"
	"  A method that cannot run here says why in its row (skipped) and the run goes on;\n"
	"  one that could run and failed says why in its row (error): the run goes on, exit 1.\n"
	"  --sizes LIST       comma-separated sizes (default 4K,64K,2M,64M,1G); each is rounded up\n"
	"                     to a method's page size (the row's mapped_bytes says so)\n"
	"  --page-size P      only the methods that map pages of P (4K, 2M or 1G); the translation\n"
	"                     methods and udma_region_vfio_map_dma use pages of P (default 4K)\n"
	"  --runs N           runs per method and size (default 5): median, fastest and slowest\n"
	"  --methods LIST     comma-separated method names, or words of them (mlock: every method\n"
	"                     whose name holds mlock); default all\n"
	"  --migrate          root: after a method's last run, try to make the kernel move its pages\n"
	"                     (offline and online the memory blocks under them, then compact all\n"
	"                     memory) and report pages_moved. Not for a machine in production use.\n"
	"  --device vfio:BDF  udma_region_vfio_map_dma: time udma_region_create with this device\n"
	"                     open (VFIO maps, and so pins, each new region: pinned_by vfio)\n"
	"region|iova|pool|heap|ring|dev: the library's benches (bench/README.md), their own ARGS\n"
	"  (NAME --help lists them).\n"
	"output, every subcommand:\n"
	"  (default)          an aligned table when done; on a terminal a progress line on stderr\n"
	"  --json             JSON lines, one object per row as it is measured, each with\n"
	"                     \"schema\":1 -- unlike the other udma commands, which print one JSON\n"
	"                     document; a failure ends them with\n"
	"                     {\"schema\":1,\"ok\":false,\"error\":...,\"errno\":N}\n"
	"  --csv              a header (every column of every row), then one line per row; the\n"
	"                     information rows (machine, limits) go to stderr as \"# \" lines\n"
	"  --plot FILE.svg    also write a plot: median time against size, log-log, one line per\n"
	"                     method (rows without a size or a time are left out)\n"
	"As root, missing hugepages are reserved for the run and given back at exit.\n";

/* What a usage error says after its reason: where the whole usage is. */
#define BENCH_HINT "see `udma bench --help`\n"
#define PIN_HINT   "see `udma bench pin --help`\n"

/* The usage, with every method's name (bench/README.md says what each does). */
static const char *usage_text(void)
{
	static char buf[sizeof(usage_head) + 1024];
	size_t k;
	int used;

	if (buf[0])
		return buf;
	used = snprintf(buf, sizeof(buf), "%s  methods: ", usage_head);
	for (k = 0; k < pin_nmethods && used > 0 && (size_t)used < sizeof(buf); k++)
		used += snprintf(buf + used, sizeof(buf) - (size_t)used, "%s%s", pin_methods[k].name,
				 k + 1 < pin_nmethods ? "," : "\n");
	return buf;
}

static int parse_sizes(const char *list, struct pin_args *a, char *why, size_t len)
{
	const char *p = list;

	a->nsizes = 0;
	while (*p) {
		size_t n = strcspn(p, ","), v;
		char one[48];

		if (a->nsizes == sizeof(a->sizes) / sizeof(a->sizes[0])) {
			snprintf(why, len, "--sizes: at most %zu sizes",
				 sizeof(a->sizes) / sizeof(a->sizes[0]));
			return -1;
		}
		snprintf(one, sizeof(one), "%.*s", (int)n, p);
		if (udma_parse_size(one, &v)) {
			snprintf(why, len, "--sizes: %s", udma_last_error());
			return -1;
		}
		/* 1T: what a 32-bit size_t holds at most there */
		if (!v || v > (size_t)(SIZE_MAX > UINT32_MAX ? (uint64_t)1 << 40 : SIZE_MAX)) {
			snprintf(why, len, "--sizes: '%s' is %s (from 1 byte to 1T)", one,
				 v ? "too large" : "0");
			return -1;
		}
		a->sizes[a->nsizes++] = v;
		p += n + (p[n] == ',');
	}
	if (!a->nsizes) {
		snprintf(why, len, "--sizes: no size given (--sizes 4K,2M)");
		return -1;
	}
	return 0;
}

/* Each word of --methods must name at least one method. */
static int check_methods(const char *list, char *why, size_t len)
{
	const char *p = list;
	size_t k;

	if (!*list) {
		snprintf(why, len, "--methods: no method given");
		return -1;
	}
	while (*p) {
		size_t n = strcspn(p, ",");
		char word[64];

		snprintf(word, sizeof(word), "%.*s", (int)n, p);
		for (k = 0; n && k < pin_nmethods && !strstr(pin_methods[k].name, word); k++)
			;
		if (!n || k == pin_nmethods) {
			int used = snprintf(why, len, "--methods: unknown method '%s' (methods:", word);

			for (k = 0; k < pin_nmethods && used > 0 && (size_t)used < len; k++)
				used += snprintf(why + used, len - (size_t)used, " %s", pin_methods[k].name);
			if (used > 0 && (size_t)used < len)
				snprintf(why + used, len - (size_t)used, ")");
			return -1;
		}
		p += n + (p[n] == ',');
	}
	return 0;
}

static int cmd_pin(const struct cli *c, int argc, char **argv)
{
	struct pin_args a = {.runs = 5};
	char why[1024];
	unsigned long long v;
	int i, rc;

	parse_sizes("4K,64K,2M,64M,1G", &a, why, sizeof(why));
	for (i = 1; i < argc; i++) {
		const char *opt = argv[i], *val = i + 1 < argc ? argv[i + 1] : NULL;

		if (!strcmp(opt, "--help") || !strcmp(opt, "-h"))
			return cli_help(c, usage_text());
		if (!strcmp(opt, "--migrate")) {
			a.migrate = true;
			continue;
		}
		if (strcmp(opt, "--sizes") && strcmp(opt, "--page-size") && strcmp(opt, "--runs") &&
		    strcmp(opt, "--methods") && strcmp(opt, "--device"))
			return bench_fail(c, 2, EINVAL, PIN_HINT, "pin: unknown argument '%s'", opt);
		if (!val)
			return bench_fail(c, 2, EINVAL, PIN_HINT, "%s needs a value", opt);
		i++;
		if (!strcmp(opt, "--sizes") && parse_sizes(val, &a, why, sizeof(why)))
			return bench_fail(c, 2, EINVAL, PIN_HINT, "%s", why);
		if (!strcmp(opt, "--page-size") &&
		    (udma_parse_size(val, &a.page_size) ||
		     (a.page_size != UDMA_PAGE_4K && a.page_size != UDMA_PAGE_2M &&
		      a.page_size != UDMA_PAGE_1G)))
			return bench_fail(c, 2, EINVAL, PIN_HINT, "--page-size: '%s' is not 4K, 2M or 1G",
					  val);
		if (!strcmp(opt, "--runs")) {
			if (cli_parse_uint(val, 100000, &v) || !v)
				return bench_fail(c, 2, EINVAL, PIN_HINT,
						  "--runs: '%s' is not a number from 1 to 100000", val);
			a.runs = (unsigned)v;
		}
		if (!strcmp(opt, "--methods")) {
			if (check_methods(val, why, sizeof(why)))
				return bench_fail(c, 2, EINVAL, PIN_HINT, "%s", why);
			a.methods = val;
		}
		if (!strcmp(opt, "--device")) {
			if (strncmp(val, "vfio:", 5) || !val[5])
				return bench_fail(c, 2, EINVAL, PIN_HINT,
						  "--device: '%s' is not vfio:BDF (vfio:0000:01:00.0)", val);
			a.device = val;
		}
	}
	if (a.migrate && geteuid() != 0)
		return bench_fail(c, 1, EPERM, NULL,
				  "--migrate needs root: it offlines and onlines memory blocks through "
				  "/sys/devices/system/memory");
	if ((rc = bench_report_open_plot()))
		return rc;
	rc = pin_run(&a, why, sizeof(why));
	if (rc)
		return bench_fail(c, 1, -rc, NULL, "%s", why);
	return bench_report_finish(0);
}

static const struct {
	const char *name;
	int (*main)(int argc, char **argv);
} layers[] = {
	{"region", bench_region_main}, {"iova", bench_iova_main}, {"pool", bench_pool_main},
	{"heap", bench_heap_main},     {"ring", bench_ring_main}, {"dev", bench_dev_main},
};

int cmd_bench(const struct cli *c, int argc, char **argv)
{
	struct bench_output out;
	char why[256], prog[48];
	int bad = bench_output_options(&argc, argv, &out, why, sizeof(why));
	size_t k;

	if (c->json) /* `udma --json bench ...`: the flag came before the command */
		out.format = BENCH_JSON_LINES;
	if (bad) {
		bench_report_start(c, &out);
		return bench_fail(c, 2, EINVAL, BENCH_HINT, "%s", why);
	}
	bench_report_start(c, &out);
	if (argc < 2)
		return bench_fail(c, 2, EINVAL, BENCH_HINT,
				  "which bench? pin, region, iova, pool, heap, ring or dev");
	if (!strcmp(argv[1], "--help") || !strcmp(argv[1], "-h") || !strcmp(argv[1], "help"))
		return cli_help(c, usage_text());
	if (!strcmp(argv[1], "pin"))
		return cmd_pin(c, argc - 1, argv + 1);
	for (k = 0; k < sizeof(layers) / sizeof(layers[0]); k++)
		if (!strcmp(argv[1], layers[k].name)) {
			int rc;

			/* --help prints and exits: no plot file for it */
			if (!cli_has_flag(argc, argv, "--help") && !cli_has_flag(argc, argv, "-h") &&
			    (rc = bench_report_open_plot()))
				return rc;
			/* the bench's usage names itself by argv[0] */
			snprintf(prog, sizeof(prog), "udma bench %s", layers[k].name);
			argv[1] = prog;
			return bench_report_finish(layers[k].main(argc - 1, argv + 1));
		}
	return bench_fail(c, 2, EINVAL, BENCH_HINT,
			  "unknown bench '%s' (pin, region, iova, pool, heap, ring, dev)", argv[1]);
}
