/* SPDX-License-Identifier: MIT */
/* udma info: what this machine offers for userspace DMA, and what to fix. */
#include <dirent.h>
#include <errno.h>
#include <limits.h>
#include <stdio.h>
#include <string.h>
#include <sys/resource.h>
#include <sys/stat.h>
#include <sys/utsname.h>
#include <udma/udma.h>
#include <unistd.h>

#include "tools/cli.h"
#include "lib/os/os.h"

#define MAX_PROBLEMS 12

struct info {
	size_t sizes[8];
	int nsizes, nodes;
	struct rlimit memlock;
	int pfns, iommu_groups, longterm_pin;
	bool pfns_foreign; /* pagemap is another address space's (a user-mode emulator) */
	const char *uio, *vfio, *thp;
	char iova_mode[8], iova_reason[512], pinning[512];
	int dma_coherent, has_heaps, has_udmabuf;
	char dma_heaps[256];
	long udmabuf_limit_mb;
	const char *problems[MAX_PROBLEMS];
	char problem_buf[MAX_PROBLEMS][600];
	int nproblems;
};

static void problem(struct info *in, const char *fmt, const char *arg)
{
	if (in->nproblems == MAX_PROBLEMS)
		return;
	snprintf(in->problem_buf[in->nproblems], sizeof(in->problem_buf[0]), fmt, arg);
	in->problems[in->nproblems] = in->problem_buf[in->nproblems];
	in->nproblems++;
}

static int count_dir(const char *path)
{
	DIR *d = opendir(path);
	struct dirent *de;
	int n = 0;

	if (!d)
		return 0;
	while ((de = readdir(d)))
		n += de->d_name[0] != '.';
	closedir(d);
	return n;
}

/* "loaded", "module" (present, not loaded) or "missing". */
static const char *driver_state(const char *driver, const char *module_path)
{
	char path[256];
	struct utsname u;
	struct stat st;

	snprintf(path, sizeof(path), "/sys/bus/pci/drivers/%s", driver);
	if (stat(path, &st) == 0)
		return "loaded";
	if (uname(&u) == 0) {
		snprintf(path, sizeof(path), "/lib/modules/%s/kernel/drivers/%s", u.release, module_path);
		if (stat(path, &st) == 0)
			return "module";
		strncat(path, ".xz", sizeof(path) - strlen(path) - 1);
		if (stat(path, &st) == 0)
			return "module";
	}
	return "missing";
}

static void gather(struct info *in)
{
	struct udma_ctx *ctx;
	int i;

	memset(in, 0, sizeof(*in));
	in->nsizes = udma_hugepage_sizes(in->sizes, 8);
	if (in->nsizes < 0) {
		in->nsizes = 0;
		problem(in, "%s", udma_last_error());
	}
	in->nodes = udma_numa_nodes();
	getrlimit(RLIMIT_MEMLOCK, &in->memlock);
	in->pfns = udma_pfn_readable();
	if (in->pfns < 0) {
		problem(in, "%s", udma_last_error());
		in->pfns_foreign = in->pfns == -ENOTSUP;
		in->pfns = 0;
	}
	in->iommu_groups = count_dir("/sys/kernel/iommu_groups");
	in->uio = driver_state("uio_pci_generic", "uio/uio_pci_generic.ko");
	in->vfio = driver_state("vfio-pci", "vfio/pci/vfio-pci.ko");
	in->thp = udma_thp_mode();
	in->longterm_pin = udma__longterm_pin_probe(in->pinning, sizeof(in->pinning)) == 0;
	in->has_heaps = udma__dma_heaps(in->dma_heaps, sizeof(in->dma_heaps)) == 0;
	in->has_udmabuf = udma__udmabuf_present();
	in->udmabuf_limit_mb = udma__udmabuf_limit_mb();
	if (udma_ctx_create(NULL, &ctx) == 0) {
		snprintf(in->iova_mode, sizeof(in->iova_mode), "%s",
			 udma_ctx_iova_mode(ctx) == UDMA_IOVA_PA ? "PA" : "VA");
		snprintf(in->iova_reason, sizeof(in->iova_reason), "%s", udma_ctx_iova_reason(ctx));
		in->dma_coherent = udma_ctx_dma_coherent(ctx);
		udma_ctx_destroy(ctx);
	} else {
		snprintf(in->iova_mode, sizeof(in->iova_mode), "none");
		snprintf(in->iova_reason, sizeof(in->iova_reason), "%s", udma_last_error());
	}

	for (i = 0; i < in->nsizes; i++)
		if (udma_hugepage_available(in->sizes[i], UDMA_NUMA_ANY) > 0)
			break;
	if (i == in->nsizes)
		problem(in, "%s",
			"no hugepages free: regions fall back to 4 KiB pages; reserve with: udma hugepages "
			"--reserve 64M");
	if (in->memlock.rlim_cur != RLIM_INFINITY && in->memlock.rlim_cur < (64u << 20) && geteuid() != 0)
		problem(in, "%s",
			"RLIMIT_MEMLOCK is low for 4 KiB-page regions: raise with `ulimit -l unlimited` "
			"(limits.conf: memlock) or use hugepages, which it does not count");
	if (!in->pfns && !in->pfns_foreign)
		problem(in, "%s",
			"PFNs hidden: IOVA = PA (UIO) needs root or CAP_SYS_ADMIN; VA mode (VFIO) does not");
	/* Without a long-term pin, compaction, NUMA balancing and memory
	 * offline could move pages under a device: udma refuses PA mode. */
	if (in->pfns && !in->longterm_pin)
		problem(in, "PA mode (UIO) refused: %s", in->pinning);
	if (!in->iommu_groups)
		problem(in, "%s",
			"no IOMMU groups: VFIO needs an IOMMU (boot with intel_iommu=on or amd_iommu=on)");
	if (!strcmp(in->uio, "missing"))
		problem(in, "%s", "uio_pci_generic is not available in this kernel (CONFIG_UIO_PCI_GENERIC)");
	else if (!strcmp(in->uio, "module"))
		problem(in, "%s", "uio_pci_generic is not loaded: modprobe uio_pci_generic");
	if (!strcmp(in->vfio, "missing"))
		problem(in, "%s", "vfio-pci is not available in this kernel (CONFIG_VFIO_PCI)");
	else if (!strcmp(in->vfio, "module"))
		problem(in, "%s", "vfio-pci is not loaded: modprobe vfio-pci");
}

static void print_text(const struct info *in)
{
	char a[32], b[32], esc[CLI_ESCAPED_SIZE(PATH_MAX)];
	int i, n;

	printf("page sizes\n  4 KiB      always\n");
	for (i = 0; i < in->nsizes; i++) {
		struct udma_hugepage_count c;
		const char *mnt = udma_hugepage_mount(in->sizes[i]);

		udma_hugepage_count(in->sizes[i], UDMA_NUMA_ANY, &c);
		printf("  %-10s free %lu / total %lu (reserved %lu, surplus %lu)  hugetlbfs: %s\n",
		       udma__fmt_size_approx(in->sizes[i], a, sizeof(a)), c.free, c.total, c.reserved,
		       c.surplus,
		       mnt ? cli_escape(mnt, esc, sizeof(esc)) : "not mounted (not needed: udma uses memfd)");
		for (n = 0; in->nodes > 1 && n < in->nodes; n++)
			if (udma_hugepage_count(in->sizes[i], n, &c) == 0)
				printf("    node %d   free %lu / total %lu\n", n, c.free, c.total);
	}
	printf("numa nodes   %d\n", in->nodes);
	if (in->memlock.rlim_cur == RLIM_INFINITY)
		printf("memlock      unlimited\n");
	else
		printf("memlock      %s%s\n", udma__fmt_size_approx(in->memlock.rlim_cur, b, sizeof(b)),
		       geteuid() == 0 ? " (root: CAP_IPC_LOCK ignores it)" : "");
	printf("pfns         %s\n", in->pfns	       ? "readable"
				    : in->pfns_foreign ? "none: pagemap is not this process's (see problems)"
						       : "hidden (needs CAP_SYS_ADMIN)");
	printf("pinning      %s\n", in->longterm_pin ? "long-term pins work here (FOLL_LONGTERM, through "
						       "io_uring buffer registration): PA-mode regions take "
						       "one, or are refused"
						     : cli_escape(in->pinning, esc, sizeof(esc)));
	printf("iommu groups %d\n", in->iommu_groups);
	printf("uio_pci_generic %s, vfio-pci %s\n", in->uio, in->vfio);
	printf("thp          %s\n", cli_escape(in->thp, esc, sizeof(esc)));
	printf("iova mode    %s: %s\n", in->iova_mode, cli_escape(in->iova_reason, esc, sizeof(esc)));
	if (!strcmp(in->iova_mode, "none"))
		printf("dma          unknown (no context)\n");
	else
		printf("dma          %s\n",
		       in->dma_coherent ? "cache-coherent by default (udma_sync_* are fences)"
					: "not coherent by default (udma_sync_* maintain caches where "
					  "the CPU lets them)");
	if (in->has_heaps) {
		char heaps[sizeof(in->dma_heaps)], *save = NULL, *h;

		snprintf(heaps, sizeof(heaps), "%s", in->dma_heaps);
		printf("dma heaps   ");
		for (h = strtok_r(heaps, "\n", &save); h; h = strtok_r(NULL, "\n", &save))
			printf(" %s", cli_escape(h, esc, sizeof(esc)));
		printf("\n");
	} else {
		printf("dma heaps    none (no /dev/dma_heap)\n");
	}
	if (!in->has_udmabuf)
		printf("udmabuf      no (no /dev/udmabuf: CONFIG_UDMABUF)\n");
	else if (in->udmabuf_limit_mb >= 0)
		printf("udmabuf      yes, at most %ld MiB a buffer\n", in->udmabuf_limit_mb);
	else
		printf("udmabuf      yes\n");
	if (in->nproblems)
		printf("problems\n");
	for (i = 0; i < in->nproblems; i++)
		printf("  - %s\n", cli_escape(in->problems[i], esc, sizeof(esc)));
}

static void print_json(const struct info *in)
{
	struct json j;
	int i, n;

	json_start(&j, stdout);
	cli_json_ok(&j);
	json_array(&j, "page_sizes");
	json_object(&j, NULL);
	json_uint(&j, "size", UDMA_PAGE_4K);
	json_end(&j);
	for (i = 0; i < in->nsizes; i++) {
		struct udma_hugepage_count c;

		udma_hugepage_count(in->sizes[i], UDMA_NUMA_ANY, &c);
		json_object(&j, NULL);
		json_uint(&j, "size", in->sizes[i]);
		json_uint(&j, "free", c.free);
		json_uint(&j, "total", c.total);
		json_uint(&j, "reserved", c.reserved);
		json_uint(&j, "surplus", c.surplus);
		json_str(&j, "mount", udma_hugepage_mount(in->sizes[i]));
		json_array(&j, "nodes");
		for (n = 0; n < in->nodes; n++) {
			if (udma_hugepage_count(in->sizes[i], n, &c))
				c.free = c.total = 0;
			json_object(&j, NULL);
			json_int(&j, "node", n);
			json_uint(&j, "free", c.free);
			json_uint(&j, "total", c.total);
			json_end(&j);
		}
		json_end(&j);
		json_end(&j);
	}
	json_end(&j);
	json_int(&j, "numa_nodes", in->nodes);
	if (in->memlock.rlim_cur == RLIM_INFINITY)
		json_null(&j, "memlock");
	else
		json_uint(&j, "memlock", (unsigned long long)in->memlock.rlim_cur);
	json_bool(&j, "pfns_readable", in->pfns);
	json_bool(&j, "longterm_pin", in->longterm_pin);
	json_str(&j, "pinning", in->pinning);
	json_int(&j, "iommu_groups", in->iommu_groups);
	json_str(&j, "uio_pci_generic", in->uio);
	json_str(&j, "vfio_pci", in->vfio);
	json_str(&j, "thp", in->thp);
	json_str(&j, "iova_mode", in->iova_mode);
	json_str(&j, "iova_reason", in->iova_reason);
	json_bool(&j, "dma_coherent", in->dma_coherent);
	json_array(&j, "dma_heaps");
	if (in->has_heaps && strcmp(in->dma_heaps, "none") != 0) {
		char heaps[sizeof(in->dma_heaps)], *save = NULL, *h;

		snprintf(heaps, sizeof(heaps), "%s", in->dma_heaps);
		for (h = strtok_r(heaps, "\n", &save); h; h = strtok_r(NULL, "\n", &save))
			json_str(&j, NULL, h);
	}
	json_end(&j);
	json_bool(&j, "udmabuf", in->has_udmabuf);
	if (in->has_udmabuf && in->udmabuf_limit_mb >= 0)
		json_int(&j, "udmabuf_limit_mb", in->udmabuf_limit_mb);
	else
		json_null(&j, "udmabuf_limit_mb");
	json_array(&j, "problems");
	for (i = 0; i < in->nproblems; i++)
		json_str(&j, NULL, in->problems[i]);
	json_end(&j);
	json_end(&j);
	json_finish(&j);
}

static const char usage[] = "usage: udma info [--json]\n"
			    "What this machine offers for userspace DMA: page sizes, hugepages per size\n"
			    "and node, memlock limit, PFN access, long-term pinning, IOMMU, UIO/VFIO, THP,\n"
			    "IOVA mode; each problem with its fix.\n";

int cmd_info(const struct cli *c, int argc, char **argv)
{
	struct info in;
	int i;

	for (i = 1; i < argc; i++) {
		if (!strcmp(argv[i], "-h") || !strcmp(argv[i], "--help"))
			return cli_help(c, usage);
		if (strcmp(argv[i], "--json"))
			return cli_usage_error(c, usage, "unknown argument '%s'", argv[i]);
	}
	gather(&in);
	if (c->json)
		print_json(&in);
	else
		print_text(&in);
	return 0;
}
