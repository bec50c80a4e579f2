/* SPDX-License-Identifier: MIT */
/* udma: inspect and prepare a machine for userspace DMA. */
#include <errno.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <udma/version.h>

#include "tools/cli.h"

static const struct {
	const char *name;
	int (*run)(const struct cli *c, int argc, char **argv);
	const char *help;
} commands[] = {
	{"info", cmd_info, "page sizes, hugepages, memlock limit, PFN access, pinning, IOMMU, IOVA mode"},
	{"hugepages", cmd_hugepages,
	 "--status | --reserve SIZE | --release [SIZE] | --release-all [--page-size 2M|1G] [--node N]"},
	{"layout", cmd_layout, "[PID] | --demo: draw a process's memory layout and its udma regions"},
	{"demo", cmd_demo,
	 "[--packets N] [--block SIZE] [--poll] [--thread]: DMA through a simulated device"},
	{"nvme", cmd_nvme,
	 "identify|bench|verify DEV: an NVMe controller through udma's driver, or --kernel PATH"},
	{"nic", cmd_nic,
	 "info|gen|recv|fwd DEV: a packet generator and forwarder on udma's NIC drivers, or kernel:IF"},
	{"bench", cmd_bench,
	 "pin|region|iova|pool|heap|ring|dev: what pinning costs, the library's benches; --plot FILE.svg"},
};

static void usage_text(char *buf, size_t len)
{
	size_t i;
	int used = snprintf(buf, len,
			    "usage: udma COMMAND [--json] [ARGS]\n"
			    "       udma --version [--json]\n\ncommands:\n");

	for (i = 0; i < sizeof(commands) / sizeof(commands[0]) && used > 0 && (size_t)used < len; i++)
		used += snprintf(buf + used, len - (size_t)used, "  %-10s %s\n", commands[i].name,
				 commands[i].help);
	if (used > 0 && (size_t)used < len)
		snprintf(buf + used, len - (size_t)used, "\nudma %s\n", udma_version());
}

/* The library's own version (the CLI links it statically, so also the CLI's).
 * Like every command, it takes --json and rejects anything else. */
static int print_version(const struct cli *c, const char *usage, int argc, char **argv)
{
	struct json j;
	int i;

	for (i = 1; i < argc; i++)
		if (strcmp(argv[i], "--json"))
			return cli_usage_error(c, usage, "--version: unknown argument '%s'", argv[i]);
	if (!c->json) {
		printf("udma %s\n", udma_version());
		return 0;
	}
	json_start(&j, stdout);
	cli_json_ok(&j);
	json_str(&j, "version", udma_version());
	json_end(&j);
	json_finish(&j);
	return 0;
}

static int run(const struct cli *top, int argc, char **argv)
{
	char usage[1024], name[32];
	int i;

	usage_text(usage, sizeof(usage));
	/* The command is the first argument that is not --json. */
	for (i = 1; i < argc && !strcmp(argv[i], "--json"); i++)
		;
	if (i == argc)
		return cli_usage_error(top, usage, "no command given");
	if (!strcmp(argv[i], "-h") || !strcmp(argv[i], "--help") || !strcmp(argv[i], "help"))
		return cli_help(top, usage);
	if (!strcmp(argv[i], "--version"))
		return print_version(top, usage, argc - i, argv + i);
	for (size_t k = 0; k < sizeof(commands) / sizeof(commands[0]); k++)
		if (!strcmp(argv[i], commands[k].name)) {
			struct cli c = {.name = name, .json = top->json};

			snprintf(name, sizeof(name), "udma %s", commands[k].name);
			return commands[k].run(&c, argc - i, argv + i);
		}
	return cli_usage_error(top, usage, "unknown command '%s'", argv[i]);
}

int main(int argc, char **argv)
{
	struct cli top = {.name = "udma", .json = cli_has_flag(argc, argv, "--json")};
	int rc = run(&top, argc, argv);

	/* A full disk or a closed pipe must not pass for success. */
	errno = 0;
	if (fflush(stdout) == EOF || ferror(stdout)) {
		fprintf(stderr, "udma: cannot write the output: %s\n", strerror(errno ? errno : EIO));
		return 1;
	}
	return rc;
}

bool cli_has_flag(int argc, char **argv, const char *flag)
{
	int i;

	for (i = 1; i < argc; i++)
		if (!strcmp(argv[i], flag))
			return true;
	return false;
}

static void json_error(const char *msg, int err, const char *usage)
{
	struct json j;

	json_start(&j, stdout);
	json_object(&j, NULL);
	json_bool(&j, "ok", false);
	json_str(&j, "error", msg);
	json_int(&j, "errno", err);
	if (usage)
		json_str(&j, "usage", usage);
	json_end(&j);
	json_finish(&j);
}

/* The failure document, or the line on stderr; usage (or NULL) goes with it. */
static void __attribute__((format(printf, 4, 0)))
report_failure(const struct cli *c, int err, const char *usage, const char *fmt, va_list ap)
{
	char msg[512], esc[CLI_ESCAPED_SIZE(sizeof(msg))];

	vsnprintf(msg, sizeof(msg), fmt, ap);
	if (c->json)
		json_error(msg, err, usage);
	else /* the message may quote an argument or a name from elsewhere */
		fprintf(stderr, "%s: %s\n%s", c->name, cli_escape(msg, esc, sizeof(esc)), usage ? usage : "");
}

int cli_fail(const struct cli *c, int status, int err, const char *fmt, ...)
{
	va_list ap;

	va_start(ap, fmt);
	report_failure(c, err, NULL, fmt, ap);
	va_end(ap);
	return status;
}

int cli_usage_error(const struct cli *c, const char *usage, const char *fmt, ...)
{
	va_list ap;

	va_start(ap, fmt);
	report_failure(c, EINVAL, usage, fmt, ap);
	va_end(ap);
	return 2;
}

int cli_help(const struct cli *c, const char *usage)
{
	struct json j;

	if (!c->json) {
		fputs(usage, stdout);
		return 0;
	}
	json_start(&j, stdout);
	cli_json_ok(&j);
	json_str(&j, "usage", usage);
	json_end(&j);
	json_finish(&j);
	return 0;
}

const char *cli_escape(const char *s, char *buf, size_t len)
{
	static const char hex[] = "0123456789abcdef";
	size_t used = 0;

	if (!len)
		return buf;
	for (; *s; s++) {
		unsigned char ch = (unsigned char)*s;
		char esc[5] = {'\\', '\\', '\0'};
		size_t n = 2;

		if (ch >= 0x20 && ch < 0x7f && ch != '\\') {
			esc[0] = (char)ch;
			n = 1;
		} else if (ch != '\\') {
			esc[1] = 'x';
			esc[2] = hex[ch >> 4];
			esc[3] = hex[ch & 15];
			n = 4;
		}
		if (used + n >= len)
			break;
		memcpy(buf + used, esc, n);
		used += n;
	}
	buf[used] = '\0';
	return buf;
}

void cli_json_ok(struct json *j)
{
	json_object(j, NULL);
	json_bool(j, "ok", true);
}

int cli_parse_uint(const char *s, unsigned long long max, unsigned long long *out)
{
	char *end;

	errno = 0;
	*out = strtoull(s, &end, 10);
	return *s < '0' || *s > '9' || *end || errno || *out > max ? -1 : 0;
}
