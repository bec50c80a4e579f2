/* SPDX-License-Identifier: MIT */
/*
 * tools/: the udma command. udma.c dispatches to cmd_*.c (info, hugepages,
 * layout, demo, nvme, nic, bench); the demo's simulated NIC and block store are in
 * demo/, the memory map of a process in layout/, the NVMe bench and its two
 * sides (drivers/nvme, the kernel's AIO) in nvme/, the packet generator,
 * receiver and forwarder and their two sides (drivers/nic, the kernel's
 * AF_PACKET) in nic/, the benchmarks' report and `udma bench pin` in bench/; json.c writes every --json document, run_stop.c
 * holds the stop flag and clock of every long run, latency_hist.c the
 * latency histogram and dev_spec.c the context a device spec needs (nvme
 * and nic share them), hugepage_record.c remembers what `udma hugepages
 * --reserve` took. A
 * consumer of the library: the public API, the library's internal helpers
 * (size formatting, pagemap decoding: it links libudma_internal.a), and
 * drivers/simdrv with sim/simd_spawn.h for the demo, drivers/nvme for nvme,
 * drivers/nic for nic; check-layers.sh and install-deps.sh are the build's
 * scripts. This header: the subcommands and their shared helpers.
 */
#ifndef UDMA_CLI_H
#define UDMA_CLI_H

#include <stdbool.h>
#include <stddef.h>
#include <stdio.h>

#include "json.h"

/* How a command reports. With --json (anywhere in its arguments) it prints
 * exactly one JSON document on stdout, its failures included: {"ok": true,
 * ...} or {"ok": false, "error": "...", "errno": N}. */
struct cli {
	const char *name; /* "udma layout" */
	bool json;
};

/* Each returns the process exit code: 0 ok, 1 failure, 2 usage error. */
int cmd_info(const struct cli *c, int argc, char **argv);
int cmd_hugepages(const struct cli *c, int argc, char **argv);
int cmd_layout(const struct cli *c, int argc, char **argv);
int cmd_demo(const struct cli *c, int argc, char **argv);
int cmd_nvme(const struct cli *c, int argc, char **argv);
int cmd_nic(const struct cli *c, int argc, char **argv);
int cmd_bench(const struct cli *c, int argc, char **argv);

/* True if argv[1..] contains flag (and removes nothing). */
bool cli_has_flag(int argc, char **argv, const char *flag);

/* A failure: "NAME: message" on stderr, or the JSON error document. err is
 * the errno it comes to (EINVAL for bad arguments). Returns status. */
int cli_fail(const struct cli *c, int status, int err, const char *fmt, ...)
	__attribute__((format(printf, 4, 5)));
/* Bad arguments: the reason and the usage on stderr, or both in the JSON
 * error document (errno EINVAL). Returns 2. */
int cli_usage_error(const struct cli *c, const char *usage, const char *fmt, ...)
	__attribute__((format(printf, 3, 4)));
/* --help: the usage on stdout, or {"ok": true, "usage": "..."}. Returns 0. */
int cli_help(const struct cli *c, const char *usage);
/* s for a terminal: every byte that is not printable ASCII as \xHH and a
 * backslash as \\, so a name another process chose (a region, comm, a path)
 * cannot move the cursor or change colours. Cut at a whole escape to fit len;
 * returns buf. */
#define CLI_ESCAPED_SIZE(n) (4 * (n) + 1) /* room for n bytes, all escaped */
const char *cli_escape(const char *s, char *buf, size_t len);
/* A decimal number (digits only) up to max: 0, or -1. */
int cli_parse_uint(const char *s, unsigned long long max, unsigned long long *out);
/* Start a success document: {"ok": true, then the caller's members and a
 * json_end, then json_finish. */
void cli_json_ok(struct json *j);

#endif
