/* SPDX-License-Identifier: MIT */
/*
 * PCI functions through sysfs, for the UIO and VFIO backends: parse an
 * address, read its driver, IOMMU group and UIO device, flip bits of its
 * command register, map its BARs (pci_bind.c binds, pci_fn.c has the steps
 * of a device's life both backends share).
 */
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <unistd.h>

#include "lib/dev/pci.h"

#define IORESOURCE_IO  0x100
#define IORESOURCE_MEM 0x200

static bool hex_field(const char *s, size_t n, unsigned *v)
{
	size_t i;

	*v = 0;
	for (i = 0; i < n; i++) {
		char c = s[i];
		unsigned d;

		if (c >= '0' && c <= '9')
			d = (unsigned)(c - '0');
		else if (c >= 'a' && c <= 'f')
			d = (unsigned)(c - 'a' + 10);
		else if (c >= 'A' && c <= 'F')
			d = (unsigned)(c - 'A' + 10);
		else
			return false;
		*v = *v << 4 | d;
	}
	return true;
}

/* "DDDD:BB:SS.F" as lspci -D prints it, or "BB:SS.F" (domain 0). */
static bool parse_addr(const char *s, char *out, size_t len)
{
	unsigned dom = 0, bus, slot, fn;
	size_t n = strlen(s);

	if (n == 12) {
		if (!hex_field(s, 4, &dom) || s[4] != ':')
			return false;
		s += 5;
	} else if (n != 7) {
		return false;
	}
	if (!hex_field(s, 2, &bus) || s[2] != ':' || !hex_field(s + 3, 2, &slot) || s[5] != '.' ||
	    !hex_field(s + 6, 1, &fn) || slot > 0x1f || fn > 7)
		return false;
	snprintf(out, len, "%04x:%02x:%02x.%x", dom, bus, slot, fn);
	return true;
}

int udma__pci_parse_spec(const char *spec, const char *rest, bool uio, char *out, size_t len)
{
	size_t digits;

	if (uio && !strncmp(rest, "/dev/", 5)) {
		digits = strncmp(rest, "/dev/uio", 8) ? 0 : strspn(rest + 8, "0123456789");
		if (!digits || digits > 6 || rest[8 + digits])
			return udma__err(EINVAL, "device spec '%s': expected /dev/uioN (N a number)", spec);
		snprintf(out, len, "%s", rest);
		return 0;
	}
	if (!parse_addr(rest, out, len))
		return udma__err(EINVAL,
				 "device spec '%s': expected a PCI address such as 0000:00:03.0 "
				 "(domain:bus:device.function, as lspci -D shows it)%s",
				 spec, uio ? " or /dev/uioN" : "");
	return 0;
}

static const char *sysfs_root(void)
{
	const char *root = secure_getenv("UDMA_SYSFS_ROOT");

	return root && *root ? root : "/sys";
}

int udma__sysfs_path(char *buf, size_t len, const char *fmt, ...)
{
	int n = snprintf(buf, len, "%s", sysfs_root());
	va_list ap;

	if (n >= 0 && (size_t)n < len) {
		va_start(ap, fmt);
		n += vsnprintf(buf + n, len - (size_t)n, fmt, ap);
		va_end(ap);
	}
	if (n >= 0 && (size_t)n < len)
		return 0;
	return udma__err(ENAMETOOLONG,
			 "a sysfs path under '%.64s' is longer than %zu bytes: UDMA_SYSFS_ROOT is too long",
			 sysfs_root(), len - 1);
}

int udma__read_line(const char *path, char *buf, size_t len)
{
	int fd = open(path, O_RDONLY | O_CLOEXEC);
	ssize_t n;

	if (fd < 0)
		return -errno;
	n = read(fd, buf, len - 1);
	if (n < 0) {
		n = -errno;
		close(fd);
		return (int)n;
	}
	close(fd);
	buf[n] = 0;
	buf[strcspn(buf, "\n")] = 0;
	return 0;
}

int udma__link_name(const char *path, char *buf, size_t len)
{
	char target[PATH_MAX];
	ssize_t n = readlink(path, target, sizeof(target) - 1);
	const char *base;

	if (n < 0)
		return -errno;
	target[n] = 0;
	base = strrchr(target, '/');
	base = base ? base + 1 : target;
	if (strlen(base) >= len)
		return -ENAMETOOLONG;
	strcpy(buf, base);
	return 0;
}

/* O_TRUNC: sysfs ignores it; a plain file of a fake tree holds the last write. */
int udma__sysfs_write(const char *path, const char *s)
{
	int fd = open(path, O_WRONLY | O_TRUNC | O_CLOEXEC);
	size_t n = strlen(s);
	ssize_t w;
	int rc = 0;

	if (fd < 0)
		return -errno;
	w = write(fd, s, n);
	if (w != (ssize_t)n)
		rc = w < 0 ? -errno : -EIO;
	close(fd);
	return rc;
}

int udma__pci_exists(const char *who, const char *addr)
{
	char path[PATH_MAX];
	int rc;

	if ((rc = udma__sysfs_path(path, sizeof(path), "/bus/pci/devices/%s", addr)))
		return rc;
	if (access(path, F_OK))
		return udma__err(ENOENT, "%s: no PCI device %s on this machine (lspci -D lists them)", who,
				 addr);
	return 0;
}

/* The last component of the symlink attr of PCI function addr ("driver",
 * "iommu_group"); "" when it has none. */
static int device_link(const char *who, const char *addr, const char *attr, char *buf, size_t len)
{
	char path[PATH_MAX];
	int rc;

	buf[0] = 0;
	if ((rc = udma__sysfs_path(path, sizeof(path), "/bus/pci/devices/%s/%s", addr, attr)))
		return rc;
	rc = udma__link_name(path, buf, len);
	if (rc && rc != -ENOENT) /* no link: buf stays "" */
		return udma__err(-rc, "%s: cannot read %s: %s", who, path, udma__strerror(-rc));
	return 0;
}

int udma__pci_uio_name(const char *addr, char *name, size_t len)
{
	char path[PATH_MAX];
	struct dirent *e;
	DIR *d;

	name[0] = 0;
	if (udma__sysfs_path(path, sizeof(path), "/bus/pci/devices/%s/uio", addr))
		return -ENAMETOOLONG;
	d = opendir(path);
	if (!d)
		return -errno;
	while (!name[0] && (e = readdir(d)))
		if (!strncmp(e->d_name, "uio", 3) && strlen(e->d_name) < len)
			strcpy(name, e->d_name);
	closedir(d);
	return name[0] ? 0 : -ENOENT;
}

int udma__pci_driver(const char *addr, char *drv, size_t len)
{
	char who[32];

	snprintf(who, sizeof(who), "PCI %s", addr);
	return device_link(who, addr, "driver", drv, len);
}

int udma__pci_group(const char *who, const char *addr, char *id, size_t len)
{
	return device_link(who, addr, "iommu_group", id, len);
}

int udma__pci_command(struct udma_pci_fn *fn, uint16_t set, uint16_t clear)
{
	uint16_t cmd, want;
	ssize_t n;
	int e;

	/* Config space is little-endian, as are the hosts udma runs on. */
	n = pread(fn->cfg_fd, &cmd, sizeof(cmd), fn->cfg_off + UDMA_PCI_COMMAND);
	if (n != (ssize_t)sizeof(cmd)) {
		e = n < 0 ? errno : EIO;
		return udma__err(e, "%s: cannot read the PCI command register: %s", fn->who,
				 udma__strerror(e));
	}
	want = (uint16_t)((cmd | set) & ~clear);
	if (want == cmd)
		return 0;
	n = pwrite(fn->cfg_fd, &want, sizeof(want), fn->cfg_off + UDMA_PCI_COMMAND);
	if (n != (ssize_t)sizeof(want)) {
		e = n < 0 ? errno : EIO;
		return udma__err(e, "%s: cannot write the PCI command register: %s%s", fn->who,
				 udma__strerror(e), e == EACCES || e == EPERM ? " (needs root)" : "");
	}
	return 0;
}

static int map_bar(const char *who, const char *addr, unsigned i, size_t len, struct udma_pci_bars *b)
{
	char path[PATH_MAX];
	void *p;
	int fd, rc;

	if ((rc = udma__sysfs_path(path, sizeof(path), "/bus/pci/devices/%s/resource%u", addr, i)))
		return rc;
	fd = open(path, O_RDWR | O_CLOEXEC);
	if (fd < 0)
		return udma__err(errno, "%s: cannot open BAR %u (%s): %s%s", who, i, path,
				 udma__strerror(errno), errno == EACCES ? " (needs root)" : "");
	p = udma__mmap_nofork(len, PROT_READ | PROT_WRITE, MAP_SHARED, fd, 0);
	close(fd);
	if (p == MAP_FAILED)
		return udma__err(errno, "%s: cannot map BAR %u (%zu bytes, %s): %s", who, i, len, path,
				 udma__vm_strerror(errno));
	b->addr[i] = p;
	b->len[i] = len;
	return 0;
}

/* An I/O port BAR: its sysfs resourceN takes pread/pwrite of 1, 2 or 4 bytes,
 * which the kernel turns into in/out instructions. One that will not open
 * fails only the port I/O that needs it, not the open: most drivers of a
 * function with an I/O BAR never use it (e1000e's is a second way to its
 * memory-mapped registers). */
static int open_io_bar(const char *addr, unsigned i, uint64_t len, struct udma_pci_bars *b)
{
	char path[PATH_MAX];
	int rc;

	if ((rc = udma__sysfs_path(path, sizeof(path), "/bus/pci/devices/%s/resource%u", addr, i)))
		return rc;
	b->io_fd[i] = open(path, O_RDWR | O_CLOEXEC);
	b->io_err[i] = b->io_fd[i] < 0 ? errno : 0;
	b->io_fd_owned[i] = b->io_fd[i] >= 0;
	b->io_off[i] = 0;
	b->io_len[i] = len;
	b->why[i] = "it is an I/O port BAR, which cannot be mapped: use udma_dev_io_read/write";
	return 0;
}

int udma__pci_map_bars(const char *who, const char *addr, struct udma_pci_bars *b)
{
	char path[PATH_MAX], line[128];
	unsigned long long start, end, flags;
	unsigned i;
	FILE *f;
	int rc = 0;

	if ((rc = udma__sysfs_path(path, sizeof(path), "/bus/pci/devices/%s/resource", addr)))
		return rc;
	f = fopen(path, "re");
	if (!f)
		return udma__err(errno, "%s: cannot read its BARs from %s: %s", who, path,
				 udma__strerror(errno));
	/* One "start end flags" line per resource, the BARs first. */
	for (i = 0; i < UDMA_PCI_BARS && !rc && fgets(line, sizeof(line), f); i++) {
		if (sscanf(line, "%llx %llx %llx", &start, &end, &flags) != 3 || !end) {
			b->why[i] = "the device has no such BAR (or it is the upper half of a 64-bit BAR)";
			continue;
		}
		if (flags & IORESOURCE_IO)
			rc = open_io_bar(addr, i, end - start + 1, b);
		else if (flags & IORESOURCE_MEM)
			rc = map_bar(who, addr, i, (size_t)(end - start + 1), b);
		else
			b->why[i] = "it is not a memory BAR";
	}
	fclose(f);
	if (rc)
		udma__pci_unmap_bars(b);
	return rc;
}

void udma__pci_unmap_bars(struct udma_pci_bars *b)
{
	unsigned i;

	for (i = 0; i < UDMA_PCI_BARS; i++) {
		if (b->len[i])
			munmap(b->addr[i], b->len[i]);
		if (b->io_len[i] && b->io_fd_owned[i] && b->io_fd[i] >= 0)
			close(b->io_fd[i]);
		b->addr[i] = NULL;
		b->len[i] = 0;
		b->io_len[i] = 0;
		b->io_fd_owned[i] = false;
	}
}
