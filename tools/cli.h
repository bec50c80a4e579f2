/* SPDX-License-Identifier: MIT */
/* The udma command's subcommands and their shared helpers. */
#ifndef UDMA_CLI_H
#define UDMA_CLI_H

#include <stdbool.h>
#include <stdio.h>

/* Each returns the process exit code: 0 ok, 1 failure, 2 usage error. */
int cmd_info(int argc, char **argv);
int cmd_hugepages(int argc, char **argv);
int cmd_layout(int argc, char **argv);
int cmd_demo(int argc, char **argv);

/* True if argv[1..] contains --json (and removes nothing). */
bool cli_has_flag(int argc, char **argv, const char *flag);
/* Print s as a JSON string literal (with quotes). */
void cli_json_str(FILE *f, const char *s);
/* "2 MiB" style for humans. */
const char *cli_size(size_t bytes, char *buf, size_t len);

#endif
