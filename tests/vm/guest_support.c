/* SPDX-License-Identifier: MIT */
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <setjmp.h> /* cmocka needs these before its header */
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/klog.h>
#include <sys/syscall.h>
#include <unistd.h>

#include <cmocka.h>

#include "drivers/edu/edu.h"
#include "tests/vm/guest_support.h"

void snap_take(struct snap *s)
{
	char line[512];
	struct dirent *e;
	DIR *d = opendir("/proc/self/fd");
	FILE *f;

	s->fds = s->maps = 0;
	s->locked_kb = s->pinned_kb = 0;
	while (d && (e = readdir(d)))
		s->fds += e->d_name[0] != '.';
	if (d)
		closedir(d);
	f = fopen("/proc/self/maps", "re");
	while (f && fgets(line, sizeof(line), f))
		s->maps++;
	if (f)
		fclose(f);
	f = fopen("/proc/self/status", "re");
	while (f && fgets(line, sizeof(line), f))
		if (!sscanf(line, "VmLck: %ld kB", &s->locked_kb))
			sscanf(line, "VmPin: %ld kB", &s->pinned_kb);
	if (f)
		fclose(f);
}

int snap_check(const struct snap *before)
{
	struct snap now;

	snap_take(&now);
	if (now.fds == before->fds && now.maps == before->maps && now.locked_kb == before->locked_kb &&
	    now.pinned_kb == before->pinned_kb)
		return 0;
	print_error("leaked: fds %d -> %d, mappings %d -> %d, locked %ld -> %ld kB, pinned %ld -> %ld kB\n",
		    before->fds, now.fds, before->maps, now.maps, before->locked_kb, now.locked_kb,
		    before->pinned_kb, now.pinned_kb);
	return -1;
}

bool pci_read_hex(const char *addr, const char *file, unsigned *v)
{
	char path[512], buf[32] = "";
	FILE *f;

	snprintf(path, sizeof(path), "/sys/bus/pci/devices/%s/%s", addr, file);
	f = fopen(path, "re");
	if (!f)
		return false;
	if (!fgets(buf, sizeof(buf), f))
		buf[0] = 0;
	fclose(f);
	return sscanf(buf, "%x", v) == 1;
}

bool pci_find(const char *env, bool (*is)(const char *addr), char *addr, size_t len)
{
	const char *name = getenv(env);
	DIR *d;
	struct dirent *e;

	addr[0] = 0;
	if (name && strlen(name) < len && is(name)) {
		strcpy(addr, name);
		return true;
	}
	d = opendir("/sys/bus/pci/devices");
	while (d && (e = readdir(d)))
		if (e->d_name[0] != '.' && strlen(e->d_name) < len && is(e->d_name)) {
			strcpy(addr, e->d_name);
			break;
		}
	if (d)
		closedir(d);
	return addr[0];
}

bool pci_is_edu(const char *addr)
{
	unsigned ven, dev;

	return pci_read_hex(addr, "vendor", &ven) && pci_read_hex(addr, "device", &dev) &&
	       ven == EDU_VENDOR_ID && dev == EDU_DEVICE_ID;
}

void pci_driver_of(const char *addr, char *drv, size_t len)
{
	char path[512], target[512];
	ssize_t n;
	const char *base;

	snprintf(path, sizeof(path), "/sys/bus/pci/devices/%s/driver", addr);
	n = readlink(path, target, sizeof(target) - 1);
	target[n > 0 ? n : 0] = 0;
	base = strrchr(target, '/');
	snprintf(drv, len, "%.63s", base ? base + 1 : target);
}

unsigned pci_command(const char *addr)
{
	char path[512];
	uint16_t cmd = 0;
	int fd;

	snprintf(path, sizeof(path), "/sys/bus/pci/devices/%s/config", addr);
	fd = open(path, O_RDONLY | O_CLOEXEC);
	assert_true(fd >= 0);
	assert_int_equal(pread(fd, &cmd, sizeof(cmd), 4), sizeof(cmd));
	close(fd);
	return cmd;
}

void sysfs_write(const char *path, const char *s)
{
	int fd = open(path, O_WRONLY | O_CLOEXEC);

	if (fd < 0 || write(fd, s, strlen(s)) != (ssize_t)strlen(s))
		fail_msg("writing '%s' to %s: %s", s, path, strerror(errno));
	close(fd);
}

struct udma_ctx *ctx_new(enum udma_iova_mode mode, size_t page_size)
{
	struct udma_ctx_opts o = {.iova_mode = mode, .page_size = page_size, .numa_node = UDMA_NUMA_ANY};
	struct udma_ctx *ctx;
	int rc = udma_ctx_create(&o, &ctx);

	if (rc)
		fail_msg("udma_ctx_create: %s", udma_last_error());
	return ctx;
}

void ok(int rc, const char *what)
{
	if (rc)
		fail_msg("%s: %s", what, udma_last_error());
}

void *got(void *p, const char *what)
{
	if (!p)
		fail_msg("%s: %s", what, udma_last_error());
	return p;
}

void expect_open_error(struct udma_ctx *ctx, const char *spec, int err, const char *says)
{
	struct udma_dev *dev = (void *)1;
	int rc = udma_dev_open(ctx, spec, &dev);

	printf("# %s -> %d: %s\n", spec, rc, udma_last_error());
	if (rc != -err) {
		if (!rc)
			udma_dev_close(dev);
		fail_msg("%s: expected -%d, got %d: %s", spec, err, rc, udma_last_error());
	}
	assert_null(dev);
	if (says && !strstr(udma_last_error(), says))
		fail_msg("%s: the error does not say '%s': %s", spec, says, udma_last_error());
}

void pattern(uint8_t *p, size_t len, unsigned seed)
{
	size_t i;

	for (i = 0; i < len; i++)
		p[i] = (uint8_t)(seed * 151 + i * 13 + (i >> 8) + 1);
}

void check_bytes(const uint8_t *p, size_t len, const uint8_t *want, const char *what)
{
	size_t i;

	for (i = 0; i < len; i++)
		if (p[i] != want[i])
			fail_msg("%s: byte %zu is 0x%02x, not 0x%02x", what, i, p[i], want[i]);
}

void check_fill(const uint8_t *p, size_t len, uint8_t v, const char *what)
{
	size_t i;

	for (i = 0; i < len; i++)
		if (p[i] != v)
			fail_msg("%s: byte %zu is 0x%02x, not 0x%02x", what, i, p[i], v);
}

/* An Arm SMMUv3's fault: the kernel prints "arm-smmu-v3 NAME: event 0xID
 * received:" then the record's four 64-bit words, a line each: the stream
 * in word 0 with the event's id in its low byte (0x10-0x13: translation,
 * address size, access flag, permission), RnW (1: a read) in bit 35 of
 * word 1, the input address (IOVA) in word 2. Whether line (the header) and
 * the words after it in save are such a fault for a dir access to page. */
static bool smmu_fault(const char *line, char **save, const char *dir, uint64_t page)
{
	uint64_t w[4];
	const char *p;
	int i;

	if (!strstr(line, "arm-smmu-v3 ") || !strstr(line, " received:"))
		return false;
	for (i = 0; i < 4; i++) {
		const char *l = strtok_r(NULL, "\n", save);

		if (!l || !(p = strstr(l, "arm-smmu-v3 ")) || !(p = strchr(p, ':')))
			return false;
		w[i] = strtoull(p + 1, NULL, 16);
	}
	if ((w[0] & 0xff) < 0x10 || (w[0] & 0xff) > 0x13 || (w[2] & ~0xfffull) != page)
		return false;
	if (((w[1] >> 35) & 1) != !strcmp(dir, "Read"))
		return false;
	printf("# kernel: SMMUv3 event 0x%02llx, %s at 0x%llx (stream 0x%llx)\n",
	       (unsigned long long)(w[0] & 0xff), dir, (unsigned long long)w[2],
	       (unsigned long long)(w[0] >> 32));
	return true;
}

/* Whether the kernel logged the IOMMU's fault for a dir access to the page
 * of iova (Intel's DMAR lines, or an Arm SMMUv3's events); prints it. */
static bool dmar_logged(const char *dir, uint64_t iova)
{
	int len = klogctl(10 /* SYSLOG_ACTION_SIZE_BUFFER */, NULL, 0);
	char *buf, *line, *save = NULL, want[64], want0x[64], kind[32];
	bool found = false;

	/* "fault addr 0x7f6f81a10000 " (6.1) or without the 0x (other kernels) */
	snprintf(want, sizeof(want), "fault addr %llx ", (unsigned long long)(iova & ~0xfffull));
	snprintf(want0x, sizeof(want0x), "fault addr 0x%llx ", (unsigned long long)(iova & ~0xfffull));
	snprintf(kind, sizeof(kind), "[DMA %s", dir);
	if (len <= 0 || !(buf = malloc((size_t)len + 1)))
		return false;
	len = klogctl(3 /* SYSLOG_ACTION_READ_ALL */, buf, len);
	buf[len > 0 ? len : 0] = 0;
	for (line = strtok_r(buf, "\n", &save); line && !found; line = strtok_r(NULL, "\n", &save))
		if (strstr(line, "DMAR") && strstr(line, kind) &&
		    (strstr(line, want) || strstr(line, want0x))) {
			printf("# kernel: %s\n", line);
			found = true;
		} else {
			found = smmu_fault(line, &save, dir, iova & ~0xfffull);
		}
	free(buf);
	return found;
}

/* The IOMMU reports a fault by an interrupt the kernel handles a little
 * later: up to 2 s. Then a moment more, for the handler to clear the fault
 * record: QEMU's VT-d does not record (nor report) a new fault while one is
 * pending ("compression of faults"). */
bool wait_dmar(const char *dir, uint64_t iova)
{
	for (int i = 0; i < 20; i++) {
		if (dmar_logged(dir, iova)) {
			usleep(100000);
			return true;
		}
		usleep(100000);
	}
	return false;
}

void expect_dmar(const char *dir, uint64_t iova)
{
	if (!wait_dmar(dir, iova))
		fail_msg("no DMAR fault logged for a %s at 0x%llx", dir, (unsigned long long)iova);
}

void load_modules(const char *list)
{
	char name[64], path[128];
	FILE *l;

	snprintf(path, sizeof(path), "/lib/modules/%s", list);
	l = fopen(path, "re");
	if (!l)
		fail_msg("%s: %s (the image lists the modules to load there)", path, strerror(errno));
	while (fscanf(l, "%63s", name) == 1) {
		int fd;

		snprintf(path, sizeof(path), "/lib/modules/%s", name);
		fd = open(path, O_RDONLY | O_CLOEXEC);
		if (fd < 0 || (syscall(SYS_finit_module, fd, "", 0) && errno != EEXIST)) {
			int e = errno;

			if (fd >= 0)
				close(fd);
			fclose(l);
			fail_msg("loading %s: %s", path, strerror(e));
		}
		close(fd);
	}
	fclose(l);
}

bool ensure_hugepages(unsigned n, const char *prog)
{
	long avail = udma_hugepage_available(UDMA_PAGE_2M, UDMA_NUMA_ANY);
	unsigned long added = 0;

	if (avail >= (long)n)
		return true;
	if (udma_hugepage_reserve(UDMA_PAGE_2M, UDMA_NUMA_ANY, n - (unsigned long)(avail > 0 ? avail : 0),
				  &added)) {
		printf("%s: cannot reserve %u 2 MiB hugepages: %s\n", prog, n, udma_last_error());
		return false;
	}
	return true;
}
