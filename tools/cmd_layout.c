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

#include "cli.h"
#include "layout.h"

#define DEMO_BIG_SIZE	((size_t)8 << 20)
#define DEMO_SMALL_SIZE ((size_t)1 << 20)

struct layout_args {
	int pid;
	bool json, demo;
};

static int usage(FILE *f)
{
	fprintf(f, "usage: udma layout [PID] [--json]\n"
		   "       udma layout --demo [--json]\n"
		   "Draw a process's user-space layout (default: this one) and its udma regions.\n"
		   "--demo creates two udma regions (2 MiB and 4 KiB pages) and draws itself.\n");
	return f == stdout ? 0 : 2;
}

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

/* 0, 1 (bad PID) or 2 (usage); -1 when help was printed. */
static int parse_args(int argc, char **argv, struct layout_args *a)
{
	const char *pid_arg = NULL;
	int i;

	*a = (struct layout_args){.pid = getpid()};
	for (i = 1; i < argc; i++) {
		if (!strcmp(argv[i], "--json"))
			a->json = true;
		else if (!strcmp(argv[i], "--demo"))
			a->demo = true;
		else if (!strcmp(argv[i], "-h") || !strcmp(argv[i], "--help"))
			return usage(stdout) - 1;
		else if (argv[i][0] == '-' || pid_arg)
			return usage(stderr);
		else
			pid_arg = argv[i];
	}
	if (a->demo && pid_arg)
		return usage(stderr);
	if (pid_arg && (a->pid = parse_pid(pid_arg)) < 0) {
		fprintf(stderr,
			"udma layout: '%s' is not a process id; find one with `pgrep NAME` or `ps -e`\n",
			pid_arg);
		return 1;
	}
	return 0;
}

/* ---- /proc/PID/smaps ---------------------------------------------------- */

static int draw_pid(int pid, bool json, const struct udma_ctx *ctx)
{
	struct layout lay = {.pid = pid};
	int rc = layout_read(&lay, ctx);

	if (!rc) {
		if (json)
			layout_draw_json(stdout, &lay);
		else
			layout_draw_text(stdout, &lay);
		if (fflush(stdout) == EOF) {
			fprintf(stderr, "udma layout: cannot write the output: %s\n", strerror(errno));
			rc = -EIO;
		}
	}
	layout_free(&lay);
	return rc ? 1 : 0;
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

static int run_demo(bool json)
{
	struct udma_region *big = NULL, *small = NULL;
	struct udma_ctx *ctx = NULL;
	int rc;

	if ((rc = udma_ctx_create(NULL, &ctx)) || (rc = demo_big_region(ctx, &big)) ||
	    (rc = demo_region(ctx, "demo-4K", DEMO_SMALL_SIZE, UDMA_PAGE_4K, &small))) {
		fprintf(stderr, "udma layout: %s\n", udma_last_error());
		rc = 1;
	} else {
		rc = draw_pid(getpid(), json, ctx);
	}
	udma_region_destroy(small);
	udma_region_destroy(big);
	udma_ctx_destroy(ctx);
	return rc;
}

int cmd_layout(int argc, char **argv)
{
	struct layout_args a;
	int rc = parse_args(argc, argv, &a);

	if (rc)
		return rc < 0 ? 0 : rc;
	if (a.demo)
		return run_demo(a.json);
	return draw_pid(a.pid, a.json, NULL);
}
