/* SPDX-License-Identifier: MIT */
/* udma demo: the report, as aligned lines or one JSON object. */
#include <stdio.h>
#include <string.h>

#include "cli.h"
#include "demo.h"

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
		       cli_size(v->page_size, a, sizeof(a)), d->pkt_count,
		       cli_size(DEMO_PKT_SIZE, c, sizeof(c)), cli_size(v->pool_bytes, e, sizeof(e)),
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
		printf("  block write    %s in 4 KiB blocks: %.0f MB/s\n", cli_size(b->written, a, sizeof(a)),
		       rate((double)b->written, b->write_secs) / 1e6);
	if (b->read)
		printf("  block read     %s: %.0f MB/s\n", cli_size(b->read, a, sizeof(a)),
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

static void json_num(const char *key, long long x, bool known)
{
	if (known)
		printf(",\"%s\":%lld", key, x);
	else
		printf(",\"%s\":null", key);
}

void demo_report_json(const struct demo *d, const struct demo_verdict *v)
{
	const struct demo_nic *n = &d->nic;
	const struct demo_blk *b = &d->blk;
	unsigned i;

	printf("{\"ok\":%s,\"reason\":", v->ok ? "true" : "false");
	if (v->ok)
		printf("null");
	else
		cli_json_str(stdout, v->why);
	printf(",\"device\":{\"mode\":\"%s\",\"pid\":%d,\"spec\":", d->o.thread ? "thread" : "process",
	       (int)v->pid);
	cli_json_str(stdout, d->spec);
	json_num("exit_status", v->simd_status, v->simd_status >= 0);
	printf("},\"iova_mode\":\"%s\",\"iova_reason\":", v->iova_mode);
	cli_json_str(stdout, v->iova_reason);
	printf(",\"page_size\":%zu,\"irq\":%s", v->page_size, d->o.irq ? "true" : "false");
	printf(",\"nic\":{\"packets\":%lu,\"sent\":%llu,\"received\":%llu,\"verified\":%llu,\"corrupt\":%llu,"
	       "\"errors\":%llu,\"bytes\":%llu,\"seconds\":%.6f,\"pps\":%.0f,\"gbit_per_s\":%.3f",
	       d->o.packets, (unsigned long long)n->sent, (unsigned long long)n->received,
	       (unsigned long long)n->verified, (unsigned long long)n->corrupt, (unsigned long long)n->errors,
	       (unsigned long long)n->bytes, n->secs, rate((double)n->received, n->secs),
	       rate((double)n->bytes * 8, n->secs) / 1e9);
	json_num("drops", v->drops, v->drops >= 0);
	printf("},\"block\":{\"bytes\":%zu,\"written\":%llu,\"read\":%llu,\"errors\":%llu,"
	       "\"write_mb_per_s\":%.1f,\"read_mb_per_s\":%.1f,\"checksum_written\":\"%016llx\","
	       "\"checksum_read\":\"%016llx\",\"checksum_match\":%s}",
	       d->o.block_bytes, (unsigned long long)b->written, (unsigned long long)b->read,
	       (unsigned long long)b->errors, rate((double)b->written, b->write_secs) / 1e6,
	       rate((double)b->read, b->read_secs) / 1e6, (unsigned long long)b->sum_written,
	       (unsigned long long)b->sum_read, b->done && b->sum_written == b->sum_read ? "true" : "false");
	json_num("iommu_faults", v->faults, v->faults >= 0);
	printf(",\"buffers_leaked\":%u,\"pools\":[", v->leaked);
	for (i = 0; i < DEMO_NPOOLS; i++)
		printf("%s{\"name\":\"%s\",\"count\":%u,\"avail\":%u}", i ? "," : "", demo_pool_names[i],
		       v->count[i], v->avail[i]);
	printf("]}\n");
}
