/* SPDX-License-Identifier: MIT */
/* udma demo: the report, as aligned lines or one JSON object. */
#include <stdio.h>
#include <string.h>

#include "tools/cli.h"
#include "demo.h"
#include "tools/json.h"
#include "lib/base/base.h"

static double rate(double x, double secs)
{
	return secs > 0 ? x / secs : 0;
}

void demo_report_text(const struct demo *d, const struct demo_verdict *v)
{
	const struct demo_nic *n = &d->nic;
	const struct demo_blk *b = &d->blk;
	char a[32], c[32], e[32];
	unsigned i;

	printf("udma demo: a simulated NIC and disk doing DMA into udma memory\n");
	if (d->o.thread)
		printf("  device         a thread of this process (pid %d), %s\n", (int)v->pid, d->spec);
	else
		printf("  device         udma-simd, process %d, %s\n", (int)v->pid, d->spec);
	printf("  IOVA mode      %s: %s\n", v->iova_mode, v->iova_reason);
	if (v->page_size)
		printf("  page size      %s (pool:pkt, %u x %s buffers in %s)%s\n",
		       udma__fmt_size_approx(v->page_size, a, sizeof(a)), d->pkt_count,
		       udma__fmt_size_approx(DEMO_PKT_SIZE, c, sizeof(c)),
		       udma__fmt_size_approx(v->pool_bytes, e, sizeof(e)),
		       v->page_size == UDMA_PAGE_4K && !d->o.page_size
			       ? "; no free hugepages: udma hugepages --reserve 32M (root)"
			       : "");
	if (d->pkt_count && d->pkt_count < DEMO_PKT_COUNT)
		printf("  note           %u packet buffers, not %u: RLIMIT_MEMLOCK (ulimit -l) is low for 4 "
		       "KiB "
		       "pages; raise it or use hugepages\n",
		       d->pkt_count, DEMO_PKT_COUNT);
	printf("  completions    %s\n",
	       d->o.irq ? "interrupts (--poll to spin instead)" : "polling (--poll)");
	if (n->received)
		printf("  NIC loopback   %llu packets, %.1f MB in %.2f s: %.2f Mpps, %.2f Gbit/s\n",
		       (unsigned long long)n->received, (double)n->bytes / 1e6, n->secs,
		       rate((double)n->received, n->secs) / 1e6, rate((double)n->bytes * 8, n->secs) / 1e9);
	printf("  verified       %llu of %llu packets, byte for byte and in order\n",
	       (unsigned long long)n->verified, (unsigned long long)d->o.packets);
	printf("  RX drops       %s\n", v->drops < 0 ? "unknown (device gone)" : v->drops ? "SOME" : "0");
	if (v->drops > 0)
		printf("                 %lld\n", v->drops);
	printf("  errors         %llu\n", (unsigned long long)(n->errors + b->errors));
	if (b->written)
		printf("  block write    %s in 4 KiB blocks: %.0f MB/s\n",
		       udma__fmt_size_approx(b->written, a, sizeof(a)),
		       rate((double)b->written, b->write_secs) / 1e6);
	if (b->read)
		printf("  block read     %s: %.0f MB/s\n", udma__fmt_size_approx(b->read, a, sizeof(a)),
		       rate((double)b->read, b->read_secs) / 1e6);
	if (b->done)
		printf("  checksum       xxh64 %016llx written, %016llx read: %s\n",
		       (unsigned long long)b->sum_written, (unsigned long long)b->sum_read,
		       b->sum_written == b->sum_read ? "match" : "MISMATCH");
	if (v->faults < 0)
		printf("  IOMMU faults   unknown (device gone)\n");
	else
		printf("  IOMMU faults   %lld\n", v->faults);
	printf("  buffers leaked %u (back in their pools:", v->leaked);
	for (i = 0; i < DEMO_NPOOLS; i++)
		if (v->count[i])
			printf(" %s %u/%u", demo_pool_names[i], v->avail[i], v->count[i]);
	printf(")\n");
	if (v->simd_status > 128)
		printf("  device exit    killed by signal %d (%s)\n", v->simd_status - 128,
		       strsignal(v->simd_status - 128));
	else if (v->simd_status > 0)
		printf("  device exit    status %d\n", v->simd_status);
	printf("  result         %s\n", v->ok ? "OK" : demo_interrupted ? "INTERRUPTED" : "FAILED");
}

static void json_known(struct json *j, const char *key, long long x, bool known)
{
	if (known)
		json_int(j, key, x);
	else
		json_null(j, key);
}

/* One document, success or failure: {"ok": ..., "error" and "errno" when
 * it failed, then everything measured. */
void demo_report_json(const struct demo *d, const struct demo_verdict *v)
{
	const struct demo_nic *n = &d->nic;
	const struct demo_blk *b = &d->blk;
	char sum[24];
	struct json j;
	unsigned i;

	json_start(&j, stdout);
	json_object(&j, NULL);
	json_bool(&j, "ok", v->ok);
	if (!v->ok) {
		json_str(&j, "error", v->why);
		json_int(&j, "errno", v->err);
	}
	json_str(&j, "reason", v->ok ? NULL : v->why);
	json_object(&j, "device");
	json_str(&j, "mode", d->o.thread ? "thread" : "process");
	json_int(&j, "pid", v->pid);
	json_str(&j, "spec", d->spec);
	json_known(&j, "exit_status", v->simd_status, v->simd_status >= 0);
	json_end(&j);
	json_str(&j, "iova_mode", v->iova_mode);
	json_str(&j, "iova_reason", v->iova_reason);
	json_uint(&j, "page_size", v->page_size);
	json_bool(&j, "irq", d->o.irq);
	json_object(&j, "nic");
	json_uint(&j, "packets", d->o.packets);
	json_uint(&j, "sent", n->sent);
	json_uint(&j, "received", n->received);
	json_uint(&j, "verified", n->verified);
	json_uint(&j, "corrupt", n->corrupt);
	json_uint(&j, "errors", n->errors);
	json_uint(&j, "bytes", n->bytes);
	json_fixed(&j, "seconds", n->secs, 6);
	json_fixed(&j, "pps", rate((double)n->received, n->secs), 0);
	json_fixed(&j, "gbit_per_s", rate((double)n->bytes * 8, n->secs) / 1e9, 3);
	json_known(&j, "drops", v->drops, v->drops >= 0);
	json_end(&j);
	json_object(&j, "block");
	json_uint(&j, "bytes", d->o.block_bytes);
	json_uint(&j, "written", b->written);
	json_uint(&j, "read", b->read);
	json_uint(&j, "errors", b->errors);
	json_fixed(&j, "write_mb_per_s", rate((double)b->written, b->write_secs) / 1e6, 1);
	json_fixed(&j, "read_mb_per_s", rate((double)b->read, b->read_secs) / 1e6, 1);
	snprintf(sum, sizeof(sum), "%016llx", (unsigned long long)b->sum_written);
	json_str(&j, "checksum_written", sum);
	snprintf(sum, sizeof(sum), "%016llx", (unsigned long long)b->sum_read);
	json_str(&j, "checksum_read", sum);
	json_bool(&j, "checksum_match", b->done && b->sum_written == b->sum_read);
	json_end(&j);
	json_known(&j, "iommu_faults", v->faults, v->faults >= 0);
	json_uint(&j, "buffers_leaked", v->leaked);
	json_array(&j, "pools");
	for (i = 0; i < DEMO_NPOOLS; i++) {
		json_object(&j, NULL);
		json_str(&j, "name", demo_pool_names[i]);
		json_uint(&j, "count", v->count[i]);
		json_uint(&j, "avail", v->avail[i]);
		json_end(&j);
	}
	json_end(&j);
	json_end(&j);
	json_finish(&j);
}
