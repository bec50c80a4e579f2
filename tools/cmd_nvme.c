/* SPDX-License-Identifier: MIT */
/*
 * udma nvme identify | bench | verify: the arguments, the checks that need
 * the device's geometry, and the reports. The workload is in nvme/nvme_bench.c,
 * the data check in nvme/nvme_verify.c, the two sides in nvme/nvme_udma.c and
 * nvme/nvme_kernel.c.
 */
#include <errno.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "drivers/nvme/nvme.h"
#include "tools/cli.h"
#include "tools/nvme/nvme_tool.h"

static const char usage[] =
	"usage: udma nvme identify DEV [--json]\n"
	"       udma nvme bench (DEV | --kernel PATH) [--rw randread|read|randwrite|write|rw=PCT]\n"
	"                       [--bs 4K] [--qd 32] [--threads 1] [--time 10s | --ios N] [--poll | --irq]\n"
	"                       [--seed S] [--json]\n"
	"       udma nvme verify (DEV | --kernel PATH) [--bytes 32M] [--bs 128K] [--seed S] [--check]\n"
	"                        [--json]\n"
	"DEV: uio:ADDR (PCI address, e.g. uio:0000:00:05.0; physical addresses, root) or vfio:ADDR\n"
	"(behind an IOMMU), driven by udma's NVMe driver; --kernel PATH: a block device (/dev/nvme0n1)\n"
	"or a file through the kernel, O_DIRECT with Linux AIO, for comparison.\n"
	"bench keeps --qd commands in flight per thread (one queue each; rw=PCT mixes PCT% reads\n"
	"with writes at random offsets) and prints IOPS, MB/s, latency percentiles in microseconds\n"
	"and doorbells (kernel: io_submit calls) per command; --poll (default) or --irq: how the\n"
	"udma side waits. verify writes --bytes from offset 0 with a pattern naming each 8-byte\n"
	"word's place, reads it back and compares (--check: only reads and compares what an earlier\n"
	"verify with the same --seed wrote). bench's write workloads and verify overwrite the data.\n"
	"^C (SIGINT) or SIGTERM stops bench and verify cleanly: the commands in flight complete and\n"
	"the device is released (exit 1); a second one kills.\n"
	"Exit 0 ok, 1 failure or mismatch, 2 usage error.\n";

struct args {
	const char *verb, *dev, *kernel;
	struct nvme_bench_opts b;
	struct nvme_verify_opts v;
	const char *rw;
	char bs_arg[32];
	bool bs_given, time_given;
};

static const char *const pattern_names[] = {"randread", "read", "randwrite", "write", "rw"};

/* "10s", "500ms", "2m", "10" (seconds) to ns; -1 if not a duration. */
static int parse_time(const char *s, uint64_t *ns)
{
	char *end;
	unsigned long long v;
	uint64_t unit = 1000000000ull;

	errno = 0;
	v = strtoull(s, &end, 10);
	if (*s < '0' || *s > '9' || errno || end == s)
		return -1;
	if (!strcmp(end, "ms"))
		unit = 1000000ull;
	else if (!strcmp(end, "m"))
		unit = 60000000000ull;
	else if (*end && strcmp(end, "s"))
		return -1;
	if (!v || v > UINT64_MAX / unit)
		return -1;
	*ns = v * unit;
	return 0;
}

static int parse_rw(struct args *a, const char *v)
{
	unsigned long long pct;
	unsigned k;

	for (k = 0; k < NVME_MIXED; k++)
		if (!strcmp(v, pattern_names[k])) {
			a->b.pattern = (enum nvme_pattern)k;
			return 0;
		}
	if (strncmp(v, "rw=", 3) || cli_parse_uint(v + 3, 100, &pct))
		return -1;
	a->b.pattern = NVME_MIXED;
	a->b.read_pct = (unsigned)pct;
	return 0;
}

static bool takes_value(const char *a)
{
	static const char *const opts[] = {"--kernel", "--rw",	"--bs",	  "--qd",   "--threads",
					   "--time",   "--ios", "--seed", "--bytes"};
	size_t i;

	for (i = 0; i < sizeof(opts) / sizeof(opts[0]); i++)
		if (!strcmp(a, opts[i]))
			return true;
	return false;
}

/* 0 to go on, else the exit status (-1: help printed, exit 0). */
static int parse_args(const struct cli *c, int argc, char **argv, struct args *a)
{
	bool bench, verify;
	int i;

	memset(a, 0, sizeof(*a));
	a->b = (struct nvme_bench_opts){
		.pattern = NVME_RANDREAD, .bs = 4096, .qd = 32, .threads = 1, .time_ns = 10000000000ull};
	a->v = (struct nvme_verify_opts){.bytes = 32u << 20, .bs = 128u << 10};
	if (argc < 2)
		return cli_usage_error(c, usage, "no subcommand: give identify, bench or verify");
	a->verb = argv[1];
	if (!strcmp(a->verb, "-h") || !strcmp(a->verb, "--help") || !strcmp(a->verb, "help"))
		return cli_help(c, usage) - 1;
	bench = !strcmp(a->verb, "bench");
	verify = !strcmp(a->verb, "verify");
	if (!bench && !verify && strcmp(a->verb, "identify"))
		return cli_usage_error(c, usage, "unknown subcommand '%s': give identify, bench or verify",
				       a->verb);
	for (i = 2; i < argc; i++) {
		const char *o = argv[i], *v = i + 1 < argc ? argv[i + 1] : NULL;
		unsigned long long n;
		size_t size;

		if (!strcmp(o, "--json"))
			continue;
		if (!strcmp(o, "-h") || !strcmp(o, "--help"))
			return cli_help(c, usage) - 1;
		if (o[0] != '-') {
			if (a->dev || a->kernel)
				return cli_usage_error(c, usage, "one device only: '%s' is extra", o);
			a->dev = o;
			continue;
		}
		if (takes_value(o) && !v)
			return cli_usage_error(c, usage, "no value for %s", o);
		if (!strcmp(o, "--kernel") && !a->dev && !a->kernel && strcmp(a->verb, "identify")) {
			a->kernel = v;
		} else if (bench && !strcmp(o, "--rw")) {
			if (parse_rw(a, v))
				return cli_usage_error(c, usage,
						       "--rw %s: give randread, read, randwrite, write or "
						       "rw=PCT (PCT%% reads, 0..100)",
						       v);
		} else if ((bench || verify) && !strcmp(o, "--bs")) {
			if (udma_parse_size(v, &size) || !size || size > (1u << 30))
				return cli_usage_error(c, usage,
						       "--bs %s: give a block size such as 4K or 128K", v);
			if (bench)
				a->b.bs = (uint32_t)size;
			else
				a->v.bs = (uint32_t)size;
			snprintf(a->bs_arg, sizeof(a->bs_arg), "%s", v);
			a->bs_given = true;
		} else if (bench && !strcmp(o, "--qd")) {
			if (cli_parse_uint(v, 65535, &n) || !n)
				return cli_usage_error(c, usage,
						       "--qd %s: give the commands in flight per thread, "
						       "1 or more (default 32)",
						       v);
			a->b.qd = (unsigned)n;
		} else if (bench && !strcmp(o, "--threads")) {
			if (cli_parse_uint(v, 256, &n) || !n)
				return cli_usage_error(c, usage,
						       "--threads %s: give 1 to 256 (one queue each)", v);
			a->b.threads = (unsigned)n;
		} else if (bench && !strcmp(o, "--time")) {
			if (parse_time(v, &a->b.time_ns))
				return cli_usage_error(
					c, usage, "--time %s: give a duration such as 10s, 500ms or 2m", v);
			a->time_given = true;
		} else if (bench && !strcmp(o, "--ios")) {
			if (cli_parse_uint(v, UINT64_MAX, &n) || !n)
				return cli_usage_error(c, usage,
						       "--ios %s: give a number of commands, 1 or more", v);
			a->b.ios = n;
		} else if ((bench || verify) && !strcmp(o, "--seed")) {
			if (cli_parse_uint(v, UINT64_MAX, &n))
				return cli_usage_error(c, usage, "--seed %s: give a number", v);
			a->b.seed = a->v.seed = n;
		} else if (verify && !strcmp(o, "--bytes")) {
			if (udma_parse_size(v, &size) || !size)
				return cli_usage_error(c, usage, "--bytes %s: give a size such as 32M", v);
			a->v.bytes = size;
		} else if (bench && !strcmp(o, "--poll")) {
			a->b.irq = false;
		} else if (bench && !strcmp(o, "--irq")) {
			a->b.irq = true;
		} else if (verify && !strcmp(o, "--check")) {
			a->v.check_only = true;
		} else {
			return cli_usage_error(c, usage, "%s: unknown option '%s'%s", a->verb, o,
					       !strcmp(o, "--kernel") ? " (one device only; identify "
									"takes uio:ADDR or vfio:ADDR)"
								      : "");
		}
		if (takes_value(o))
			i++;
	}
	if (!a->dev && !a->kernel)
		return cli_usage_error(c, usage, "%s: no device: give uio:ADDR, vfio:ADDR%s", a->verb,
				       strcmp(a->verb, "identify") ? " or --kernel PATH" : "");
	if (a->dev && strncmp(a->dev, "uio:", 4) && strncmp(a->dev, "vfio:", 5))
		return cli_usage_error(c, usage,
				       "device '%s': give uio:ADDR or vfio:ADDR (an NVMe controller's PCI "
				       "address)%s",
				       a->dev, strcmp(a->verb, "identify") ? ", or --kernel PATH" : "");
	if (a->time_given && a->b.ios)
		return cli_usage_error(c, usage, "--time and --ios: give one of them");
	if (!a->bs_given)
		snprintf(a->bs_arg, sizeof(a->bs_arg), "%s", bench ? "4K" : "128K");
	return 0;
}

/* Checks that need the device: 0, or the exit status (the target is closed). */
static int check_geometry(const struct cli *c, struct args *a, struct nvme_target *t)
{
	bool bench = !strcmp(a->verb, "bench");
	uint32_t bs = bench ? a->b.bs : a->v.bs;
	int rc = 0;

	if (bs % t->block)
		rc = cli_usage_error(c, usage,
				     "--bs %s: not a multiple of %s's block size %u: give a multiple "
				     "of %u",
				     a->bs_arg, t->name, t->block, t->block);
	else if (bs > t->max_xfer)
		rc = cli_usage_error(c, usage,
				     "--bs %s: %s moves at most %u bytes per command (MDTS): give at "
				     "most %uK",
				     a->bs_arg, t->name, t->max_xfer, t->max_xfer >> 10);
	else if (bench && a->b.qd > t->max_depth)
		rc = cli_usage_error(c, usage, "--qd %u: a queue of %s holds at most %u commands: give 1..%u",
				     a->b.qd, t->name, t->max_depth, t->max_depth);
	else if (bench && a->b.threads > t->max_queues)
		rc = cli_usage_error(c, usage,
				     "--threads %u: %s granted %u queue pairs (one per thread): give "
				     "1..%u",
				     a->b.threads, t->name, t->max_queues, t->max_queues);
	else if (bench && t->capacity / bs < a->b.threads)
		rc = cli_fail(
			c, 1, ENOSPC, "%s holds %llu bytes: too small for %u thread(s) of %u-byte commands%s",
			t->name, (unsigned long long)t->capacity, a->b.threads, bs,
			!strcmp(t->ops->kind, "kernel") ? " (a file: make it larger, e.g. truncate -s 64M)"
							: "");
	else if (!bench && a->v.bytes % bs)
		rc = cli_usage_error(c, usage, "--bytes: give a multiple of --bs %s", a->bs_arg);
	else if (!bench && a->v.bytes > t->capacity)
		rc = cli_fail(c, 1, ENOSPC, "--bytes %llu: %s holds only %llu bytes%s",
			      (unsigned long long)a->v.bytes, t->name, (unsigned long long)t->capacity,
			      !strcmp(t->ops->kind, "kernel") ? " (a file: make it larger with truncate -s)"
							      : "");
	if (rc)
		t->ops->close(t);
	return rc;
}

static int open_target(const struct cli *c, struct args *a, struct nvme_target *t)
{
	/* Reads only (a read workload, rw=100, verify --check): a read-only
	 * device (or file) is enough. */
	bool writes = !strcmp(a->verb, "bench")
			      ? a->b.pattern != NVME_RANDREAD && a->b.pattern != NVME_READ &&
					!(a->b.pattern == NVME_MIXED && a->b.read_pct == 100)
			      : !a->v.check_only;
	int rc = a->kernel ? nvme_target_kernel(t, a->kernel, writes)
			   : nvme_target_udma(t, a->dev, strcmp(a->verb, "bench") ? 0 : a->b.threads);

	if (rc)
		return cli_fail(c, 1, -rc, "%s", t->why);
	return 0;
}

static int report_bench(const struct cli *c, const struct args *a, const struct nvme_target *t,
			const struct nvme_bench_result *r)
{
	const struct nvme_bench_opts *o = &a->b;
	double s = (double)r->elapsed_ns / 1e9, iops = s > 0 ? (double)r->ios / s : 0;
	double mbs = s > 0 ? (double)r->bytes / s / 1e6 : 0;
	double avg = r->hist.n ? (double)r->hist.sum / (double)r->hist.n / 1000.0 : 0;
	double db = r->ios ? (double)r->kicks / (double)r->ios : 0;
	struct json j;

	if (!c->json) {
		printf("udma nvme bench: %s %s, %s", t->ops->kind, t->name, pattern_names[o->pattern]);
		if (o->pattern == NVME_MIXED)
			printf("=%u (%u%% reads)", o->read_pct, o->read_pct);
		printf(" %s, qd %u, %u thread%s, %s\n", a->bs_arg, o->qd, o->threads,
		       o->threads > 1 ? "s" : "",
		       !strcmp(t->ops->kind, "kernel") ? "kernel interrupts"
		       : o->irq			       ? "irq"
						       : "poll");
		printf("  commands   %llu (%llu reads, %llu writes) in %.2f s\n", (unsigned long long)r->ios,
		       (unsigned long long)r->reads, (unsigned long long)r->writes, s);
		printf("  IOPS       %.0f\n  MB/s       %.1f\n", iops, mbs);
		printf("  latency us avg %.1f  p50 %.1f  p99 %.1f  p99.9 %.1f  max %.1f\n", avg,
		       latency_us(latency_hist_quantile(&r->hist, 0.5)),
		       latency_us(latency_hist_quantile(&r->hist, 0.99)),
		       latency_us(latency_hist_quantile(&r->hist, 0.999)), latency_us(r->hist.max));
		printf("  doorbells  %.3f per command (%s)\n", db, t->ops->doorbell);
		return 0;
	}
	json_start(&j, stdout);
	cli_json_ok(&j);
	json_str(&j, "side", t->ops->kind);
	json_str(&j, "dev", t->name);
	json_str(&j, "rw", pattern_names[o->pattern]);
	json_uint(&j, "read_pct",
		  o->pattern == NVME_MIXED				   ? o->read_pct
		  : o->pattern == NVME_READ || o->pattern == NVME_RANDREAD ? 100
									   : 0);
	json_uint(&j, "bs", o->bs);
	json_uint(&j, "qd", o->qd);
	json_uint(&j, "threads", o->threads);
	json_str(&j, "wait", !strcmp(t->ops->kind, "kernel") ? "kernel" : o->irq ? "irq" : "poll");
	json_uint(&j, "ios", r->ios);
	json_uint(&j, "reads", r->reads);
	json_uint(&j, "writes", r->writes);
	json_fixed(&j, "seconds", s, 3);
	json_fixed(&j, "iops", iops, 0);
	json_fixed(&j, "mb_per_s", mbs, 2);
	json_fixed(&j, "avg_us", avg, 2);
	json_fixed(&j, "p50_us", latency_us(latency_hist_quantile(&r->hist, 0.5)), 2);
	json_fixed(&j, "p99_us", latency_us(latency_hist_quantile(&r->hist, 0.99)), 2);
	json_fixed(&j, "p999_us", latency_us(latency_hist_quantile(&r->hist, 0.999)), 2);
	json_fixed(&j, "max_us", latency_us(r->hist.max), 2);
	json_fixed(&j, "doorbells_per_io", db, 3);
	json_str(&j, "doorbell", t->ops->doorbell);
	json_end(&j);
	json_finish(&j);
	return 0;
}

static int do_bench(const struct cli *c, struct args *a, struct nvme_target *t)
{
	struct nvme_bench_result *r = calloc(1, sizeof(*r));
	int rc;

	if (!r) {
		t->ops->close(t);
		return cli_fail(c, 1, ENOMEM, "out of memory");
	}
	rc = nvme_bench_run(t, &a->b, r);
	t->ops->close(t);
	if (!rc && run_stopped())
		rc = cli_fail(c, 1, EINTR,
			      "interrupted by %s after %llu commands: those in flight completed, %s "
			      "released",
			      run_stopped_by(), (unsigned long long)r->ios, t->name);
	else if (rc && r->ios)
		rc = cli_fail(c, 1, -rc, "%s (after %llu commands)", r->why, (unsigned long long)r->ios);
	else
		rc = rc ? cli_fail(c, 1, -rc, "%s", r->why) : report_bench(c, a, t, r);
	free(r);
	return rc;
}

static int do_verify(const struct cli *c, struct args *a, struct nvme_target *t)
{
	struct nvme_verify_result r;
	uint64_t found;
	char what[160] = "";
	struct json j;
	int rc = nvme_verify_run(t, &a->v, &r);

	if (rc < 0) {
		t->ops->close(t);
		return cli_fail(c, 1, -rc, "%s", r.why);
	}
	if (rc) {
		if (!nvme_verify_decode(r.got, t->block, a->v.seed, &found) && found < a->v.bytes)
			snprintf(what, sizeof(what),
				 ": the word written for byte %llu (a misplaced transfer)",
				 (unsigned long long)found);
		else if (r.got == 0)
			snprintf(what, sizeof(what), ": zeros (never written?)");
		else
			snprintf(what, sizeof(what),
				 ": no pattern of --seed %llu (corrupted, or written "
				 "with another seed)",
				 (unsigned long long)a->v.seed);
		rc = cli_fail(c, 1, EIO,
			      "%s: mismatch at byte %llu (block %llu, offset %llu): expected "
			      "0x%016llx, read 0x%016llx%s",
			      t->name, (unsigned long long)r.bad_off,
			      (unsigned long long)(r.bad_off / t->block),
			      (unsigned long long)(r.bad_off % t->block), (unsigned long long)r.expected,
			      (unsigned long long)r.got, what);
		t->ops->close(t);
		return rc;
	}
	if (c->json) {
		json_start(&j, stdout);
		cli_json_ok(&j);
		json_str(&j, "side", t->ops->kind);
		json_str(&j, "dev", t->name);
		json_uint(&j, "written", r.written);
		json_uint(&j, "checked", r.checked);
		json_uint(&j, "bs", a->v.bs);
		json_uint(&j, "seed", a->v.seed);
		json_end(&j);
		json_finish(&j);
	} else {
		printf("udma nvme verify: %s %s: wrote %llu bytes, read back and checked %llu: OK\n",
		       t->ops->kind, t->name, (unsigned long long)r.written, (unsigned long long)r.checked);
	}
	t->ops->close(t);
	return 0;
}

static int do_identify(const struct cli *c, struct nvme_target *t)
{
	const struct nvme_ctrl *ctrl = nvme_target_ctrl(t);
	const struct nvme_ctrl_info *ci = nvme_ctrl_info(ctrl);
	const struct nvme_ns_info *ns = nvme_ns_info(ctrl);
	uint64_t cap = nvme_reg_read64(ctrl, NVME_REG_CAP);
	uint32_t vs = nvme_reg_read32(ctrl, NVME_REG_VS);
	unsigned mqes = NVME_CAP_MQES(cap) + 1, to_ms = NVME_CAP_TO(cap) * 500,
		 dstrd = 4u << NVME_CAP_DSTRD(cap), cqr = (unsigned)(cap >> 16) & 1,
		 css = (unsigned)(cap >> 37) & 0xff;
	unsigned long long pmin = 4096ull << NVME_CAP_MPSMIN(cap), pmax = 4096ull << ((cap >> 52) & 0xf);
	char sn[CLI_ESCAPED_SIZE(sizeof(ci->sn))], mn[CLI_ESCAPED_SIZE(sizeof(ci->mn))],
		fr[CLI_ESCAPED_SIZE(sizeof(ci->fr))];
	struct json j;

	if (!c->json) {
		printf("%s: NVMe %u.%u.%u controller %04x:%04x\n", t->name, vs >> 16, (vs >> 8) & 0xff,
		       vs & 0xff, ci->vid, ci->ssvid);
		printf("  model      %s\n  serial     %s\n  firmware   %s\n",
		       cli_escape(ci->mn, mn, sizeof(mn)), cli_escape(ci->sn, sn, sizeof(sn)),
		       cli_escape(ci->fr, fr, sizeof(fr)));
		printf("  CAP        0x%016llx: %u entries per queue%s, ready timeout %u ms, doorbell "
		       "stride %u, pages %llu..%llu, command sets 0x%02x%s\n",
		       (unsigned long long)cap, mqes, cqr ? " (contiguous)" : "", to_ms, dstrd, pmin, pmax,
		       css, NVME_CAP_CSS_NVM(cap) ? " (NVM)" : "");
		printf("  transfers  %u bytes per command at most\n", ci->max_xfer);
		printf("  queues     %u I/O pairs granted; %u namespaces at most\n", ci->qpairs, ci->nn);
		printf("  features   Write Zeroes %s, volatile write cache %s, shadow doorbells %s\n",
		       ci->oncs & NVME_ONCS_WRITE_ZEROES ? "yes" : "no", ci->vwc & 1 ? "yes" : "no",
		       ci->oacs & NVME_OACS_DBBUF ? "offered (not used)" : "no");
		printf("  namespace  %u: %llu blocks of %u bytes (%llu MiB)\n", ns->nsid,
		       (unsigned long long)ns->nlba, ns->lba_size,
		       (unsigned long long)(ns->nlba * ns->lba_size >> 20));
		t->ops->close(t);
		return 0;
	}
	json_start(&j, stdout);
	cli_json_ok(&j);
	json_str(&j, "dev", t->name);
	json_object(&j, "controller");
	json_uint(&j, "vid", ci->vid);
	json_uint(&j, "ssvid", ci->ssvid);
	json_str(&j, "model", ci->mn);
	json_str(&j, "serial", ci->sn);
	json_str(&j, "firmware", ci->fr);
	json_uint(&j, "max_xfer", ci->max_xfer);
	json_uint(&j, "nn", ci->nn);
	json_uint(&j, "oacs", ci->oacs);
	json_uint(&j, "oncs", ci->oncs);
	json_bool(&j, "write_zeroes", ci->oncs & 8);
	json_bool(&j, "volatile_write_cache", ci->vwc & 1);
	json_uint(&j, "qpairs", ci->qpairs);
	json_end(&j);
	json_object(&j, "cap");
	json_hex(&j, "raw", cap);
	json_uint(&j, "max_entries", mqes);
	json_bool(&j, "contiguous_queues", cqr);
	json_uint(&j, "ready_timeout_ms", to_ms);
	json_uint(&j, "doorbell_stride", dstrd);
	json_uint(&j, "page_min", pmin);
	json_uint(&j, "page_max", pmax);
	json_uint(&j, "css", css);
	json_end(&j);
	json_object(&j, "vs");
	json_hex(&j, "raw", vs);
	json_uint(&j, "major", vs >> 16);
	json_uint(&j, "minor", (vs >> 8) & 0xff);
	json_uint(&j, "tertiary", vs & 0xff);
	json_end(&j);
	json_object(&j, "namespace");
	json_uint(&j, "nsid", ns->nsid);
	json_uint(&j, "lba_size", ns->lba_size);
	json_uint(&j, "nlba", ns->nlba);
	json_uint(&j, "bytes", ns->nlba * ns->lba_size);
	json_end(&j);
	json_end(&j);
	json_finish(&j);
	t->ops->close(t);
	return 0;
}

int cmd_nvme(const struct cli *c, int argc, char **argv)
{
	struct nvme_target t;
	struct args a;
	int rc = parse_args(c, argc, argv, &a);

	if (rc)
		return rc < 0 ? 0 : rc;
	run_catch_stop_signals();
	if ((rc = open_target(c, &a, &t)))
		return rc;
	if (!strcmp(a.verb, "identify"))
		return do_identify(c, &t);
	if ((rc = check_geometry(c, &a, &t)))
		return rc;
	return !strcmp(a.verb, "bench") ? do_bench(c, &a, &t) : do_verify(c, &a, &t);
}
