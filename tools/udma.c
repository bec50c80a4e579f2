/* SPDX-License-Identifier: MIT */
/* udma: inspect and prepare a machine for userspace DMA. */
#include <stdio.h>
#include <string.h>

#include "cli.h"

static const struct {
	const char *name;
	int (*run)(int argc, char **argv);
	const char *help;
} commands[] = {
	{"info", cmd_info, "page sizes, hugepages, memlock limit, PFN access, IOMMU, IOVA mode"},
	{"hugepages", cmd_hugepages, "--status | --reserve SIZE [--page-size 2M|1G] [--node N] | --release"},
	{"layout", cmd_layout, "[PID] | --demo: draw a process's memory layout and its udma regions"},
	{"demo", cmd_demo,
	 "[--packets N] [--block SIZE] [--poll] [--thread]: DMA through a simulated device"},
};

static int usage(FILE *f)
{
	size_t i;

	fprintf(f, "usage: udma COMMAND [--json] [ARGS]\n\ncommands:\n");
	for (i = 0; i < sizeof(commands) / sizeof(commands[0]); i++)
		fprintf(f, "  %-10s %s\n", commands[i].name, commands[i].help);
	return f == stdout ? 0 : 2;
}

int main(int argc, char **argv)
{
	size_t i;

	if (argc < 2)
		return usage(stderr);
	if (!strcmp(argv[1], "-h") || !strcmp(argv[1], "--help") || !strcmp(argv[1], "help"))
		return usage(stdout);
	for (i = 0; i < sizeof(commands) / sizeof(commands[0]); i++)
		if (!strcmp(argv[1], commands[i].name))
			return commands[i].run(argc - 1, argv + 1);
	fprintf(stderr, "udma: unknown command '%s'\n", argv[1]);
	return usage(stderr);
}

bool cli_has_flag(int argc, char **argv, const char *flag)
{
	int i;

	for (i = 1; i < argc; i++)
		if (!strcmp(argv[i], flag))
			return true;
	return false;
}

void cli_json_str(FILE *f, const char *s)
{
	fputc('"', f);
	for (; s && *s; s++) {
		if (*s == '"' || *s == '\\')
			fprintf(f, "\\%c", *s);
		else if ((unsigned char)*s < 0x20)
			fprintf(f, "\\u%04x", (unsigned char)*s);
		else
			fputc(*s, f);
	}
	fputc('"', f);
}

const char *cli_size(size_t bytes, char *buf, size_t len)
{
	static const char units[] = "KMGT";
	int i;

	for (i = 3; i >= 0; i--) {
		size_t unit = (size_t)1 << (10 * (i + 1));

		if (bytes >= unit) {
			if (bytes % unit)
				snprintf(buf, len, "%.1f %ciB", (double)bytes / (double)unit, units[i]);
			else
				snprintf(buf, len, "%zu %ciB", bytes / unit, units[i]);
			return buf;
		}
	}
	snprintf(buf, len, "%zu B", bytes);
	return buf;
}
