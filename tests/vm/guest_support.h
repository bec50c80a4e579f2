/* SPDX-License-Identifier: MIT */
/*
 * What the guest test programs (test_edu, test_nvme) share: the leak
 * snapshot their fixtures take, finding and inspecting a PCI function in
 * sysfs, udma calls that must succeed, byte patterns and their checks, the
 * kernel's DMAR fault log, modules and hugepages. Include after cmocka.h.
 */
#ifndef GUEST_SUPPORT_H
#define GUEST_SUPPORT_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include <udma/udma.h>

/* What a test may leak: fds, mappings, locked and long-term pinned memory. */
struct snap {
	int fds, maps;
	long locked_kb, pinned_kb;
};

void snap_take(struct snap *s);
/* 0 if now matches before, else -1 with what leaked printed (for a teardown). */
int snap_check(const struct snap *before);

/* A hex sysfs attribute of a PCI function ("vendor", "class"). */
bool pci_read_hex(const char *addr, const char *file, unsigned *v);
/* The function named by the environment variable env if is() says it is
 * the one, else the first that is; into addr. */
bool pci_find(const char *env, bool (*is)(const char *addr), char *addr, size_t len);
/* Whether addr is QEMU's edu device (drivers/edu). */
bool pci_is_edu(const char *addr);
/* The driver addr is bound to, "" none. */
void pci_driver_of(const char *addr, char *drv, size_t len);
/* The PCI command register, read through sysfs. */
unsigned pci_command(const char *addr);
void sysfs_write(const char *path, const char *s);

struct udma_ctx *ctx_new(enum udma_iova_mode mode, size_t page_size);
/* A udma call that must succeed: fail saying why it did not. */
void ok(int rc, const char *what);
void *got(void *p, const char *what);
/* udma_dev_open must fail with -err and a message containing says. */
void expect_open_error(struct udma_ctx *ctx, const char *spec, int err, const char *says);

void pattern(uint8_t *p, size_t len, unsigned seed);
void check_bytes(const uint8_t *p, size_t len, const uint8_t *want, const char *what);
void check_fill(const uint8_t *p, size_t len, uint8_t v, const char *what);

/* Fail unless the kernel logs an IOMMU fault for a dir ("Read", "Write")
 * access to the page of iova within 2 s. */
bool wait_dmar(const char *dir, uint64_t iova); /* false: none logged in 2 s */
void expect_dmar(const char *dir, uint64_t iova);

/* Load the modules listed (in load order) in /lib/modules/LIST. */
void load_modules(const char *list);
/* At least n 2 MiB hugepages available (reserved if need be), else a line
 * saying why, prefixed with prog. */
bool ensure_hugepages(unsigned n, const char *prog);

#endif
