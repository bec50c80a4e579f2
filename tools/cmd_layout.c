/* SPDX-License-Identifier: MIT */
/* udma layout [PID] [--json] | --demo: the command; layout_read.c reads the
 * process, layout_draw.c draws it. */
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <stdlib.h>
#include <string.h>
#include <udma/udma.h>
#include <unistd.h>

#include "tools/cli.h"
#include "tools/layout/layout.h"

#define DEMO_BIG_SIZE	((size_t)8 << 20)
#define DEMO_SMALL_SIZE ((size_t)1 << 20)

struct layout_args {
	int pid;
	bool demo;
};

static const char usage[] = "usage: udma layout [PID] [--json]\n"
			    "       udma layout --demo [--json]\n"
			    "Draw a process's user-space layout (default: this one) and its udma regions.\n"
			    "--demo creates two udma regions (2 MiB and 4 KiB pages) and draws itself.\n";

/* -1 if s is not a plain positive decimal number that fits a pid. */
static int parse_pid(const char *s)
{
	char *end;
	long v;

	if (*s < '0' || *s > '9')
		return -1;
	errno = 0;
	v = strtol(s, &end, 10);
	if (errno || *end || v <= 0 || v > INT_MAX)
		return -1;
	return (int)v;
}

/* 0 to go on, else the exit status (-1: help was printed, exit 0). */
static int parse_args(const struct cli *c, int argc, char **argv, struct layout_args *a)
{
	const char *pid_arg = NULL;
	int i;

	*a = (struct layout_args){.pid = getpid()};
	for (i = 1; i < argc; i++) {
		if (!strcmp(argv[i], "--json"))
			continue;
		else if (!strcmp(argv[i], "--demo"))
			a->demo = true;
		else if (!strcmp(argv[i], "-h") || !strcmp(argv[i], "--help"))
			return cli_help(c, usage) - 1;
		else if (argv[i][0] == '-')
			return cli_usage_error(c, usage, "unknown option '%s'", argv[i]);
		else if (pid_arg)
			return cli_usage_error(c, usage, "one PID only ('%s' and '%s')", pid_arg, argv[i]);
		else
			pid_arg = argv[i];
	}
	if (a->demo && pid_arg)
		return cli_usage_error(c, usage, "--demo draws this process: no PID with it");
	if (pid_arg && (a->pid = parse_pid(pid_arg)) < 0)
		return cli_fail(c, 1, EINVAL,
				"'%s' is not a process id; find one with `pgrep NAME` or `ps -e`", pid_arg);
	return 0;
}

/* ---- /proc/PID/smaps ---------------------------------------------------- */

static int draw_pid(const struct cli *c, int pid, const struct udma_ctx *ctx)
{
	struct layout lay = {.pid = pid};
	int rc = layout_read(&lay, ctx);
	struct json j;

	if (rc) {
		rc = cli_fail(c, 1, -rc, "%s", lay.err);
	} else if (c->json) {
		json_start(&j, stdout);
		cli_json_ok(&j);
		layout_draw_json(&j, &lay);
		json_end(&j);
		json_finish(&j);
	} else {
		layout_draw_text(stdout, &lay);
	}
	layout_free(&lay);
	return rc;
}

/* ---- --demo ------------------------------------------------------------- */

static int demo_region(struct udma_ctx *ctx, const char *name, size_t size, size_t page_size,
		       struct udma_region **out)
{
	struct udma_region_opts o = {
		.size = size,
		.page_size = page_size,
		.numa_node = UDMA_NUMA_ANY,
		.name = name,
	};

	return udma_region_create(ctx, &o, out);
}

/* 8 MiB of 2 MiB pages, or of 4 KiB pages if the machine has no hugepages. */
static int demo_big_region(struct udma_ctx *ctx, struct udma_region **out)
{
	int rc = demo_region(ctx, "demo-2M", DEMO_BIG_SIZE, UDMA_PAGE_2M, out);

	if (rc != -ENOMEM && rc != -EINVAL)
		return rc;
	fprintf(stderr,
		"udma layout: demo-2M: %s\n"
		"udma layout: continuing with 4 KiB pages instead (region demo-2M-fallback-4K)\n",
		udma_last_error());
	return demo_region(ctx, "demo-2M-fallback-4K", DEMO_BIG_SIZE, UDMA_PAGE_4K, out);
}

static int run_demo(const struct cli *c)
{
	struct udma_region *big = NULL, *small = NULL;
	struct udma_ctx *ctx = NULL;
	int rc;

	if ((rc = udma_ctx_create(NULL, &ctx)) || (rc = demo_big_region(ctx, &big)) ||
	    (rc = demo_region(ctx, "demo-4K", DEMO_SMALL_SIZE, UDMA_PAGE_4K, &small)))
		rc = cli_fail(c, 1, -rc, "%s", udma_last_error());
	else
		rc = draw_pid(c, getpid(), ctx);
	udma_region_destroy(small);
	udma_region_destroy(big);
	udma_ctx_destroy(ctx);
	return rc;
}

int cmd_layout(const struct cli *c, int argc, char **argv)
{
	struct layout_args a;
	int rc = parse_args(c, argc, argv, &a);

	if (rc)
		return rc < 0 ? 0 : rc;
	if (a.demo)
		return run_demo(c);
	return draw_pid(c, a.pid, NULL);
}
