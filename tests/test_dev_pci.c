/* SPDX-License-Identifier: MIT */
/*
 * The UIO and VFIO backends on a host that has neither: spec parsing, the
 * IOVA mode each needs, missing devices and nodes, and the binding logic
 * against a fake sysfs tree (UDMA_SYSFS_ROOT), each with the message that
 * says what to do. The real device is driven in a QEMU guest: tests/vm/.
 */
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "helpers.h"

#define ADDR "0000:00:03.0"

static char root[64]; /* the fake sysfs tree of the current test */

static bool have_pa(void)
{
	return udma_pfn_readable() > 0;
}

static struct udma_ctx *ctx_new(enum udma_iova_mode mode)
{
	struct udma_ctx_opts o = {.iova_mode = mode, .numa_node = UDMA_NUMA_ANY};
	struct udma_ctx *ctx;

	assert_int_equal(udma_ctx_create(&o, &ctx), 0);
	return ctx;
}

/* Open must fail with -err and a message containing says. */
static void expect(struct udma_ctx *ctx, const char *spec, int err, const char *says)
{
	struct udma_dev *dev = (void *)1;
	int rc = udma_dev_open(ctx, spec, &dev);

	if (rc != -err)
		fail_msg("%s: expected -%d, got %d: %s", spec, err, rc, udma_last_error());
	assert_null(dev);
	if (!strstr(udma_last_error(), says))
		fail_msg("%s: the error does not say '%s': %s", spec, says, udma_last_error());
}

/* ---- a fake sysfs: directories, files, symlinks under root ---- */

static void mk(const char *fmt, const char *arg)
{
	char path[512], rel[256];
	char *p;

	snprintf(rel, sizeof(rel), fmt, arg);
	snprintf(path, sizeof(path), "%s/%s", root, rel);
	for (p = path + strlen(root) + 1; (p = strchr(p, '/')); p++) {
		*p = 0;
		mkdir(path, 0755);
		*p = '/';
	}
	assert_true(mkdir(path, 0755) == 0 || errno == EEXIST);
}

static void put(const char *rel, const char *text)
{
	char path[512];
	FILE *f;

	snprintf(path, sizeof(path), "%s/%s", root, rel);
	f = fopen(path, "w");
	assert_non_null(f);
	fputs(text, f);
	fclose(f);
}

static void get(const char *rel, char *buf, size_t len)
{
	char path[512];
	FILE *f;

	snprintf(path, sizeof(path), "%s/%s", root, rel);
	buf[0] = 0;
	f = fopen(path, "r");
	assert_non_null(f);
	if (!fgets(buf, (int)len, f))
		buf[0] = 0;
	fclose(f);
}

static void link_to(const char *target, const char *rel)
{
	char path[512];

	snprintf(path, sizeof(path), "%s/%s", root, rel);
	assert_int_equal(symlink(target, path), 0);
}

/* One unbound PCI function, ADDR, and an empty drivers_probe. */
static int tree_setup(void **state)
{
	snprintf(root, sizeof(root), "/tmp/udma-sysfs-XXXXXX");
	assert_non_null(mkdtemp(root));
	mk("bus/pci/devices/%s", ADDR);
	mk("bus/pci/drivers%s", "");
	put("bus/pci/drivers_probe", "");
	put("bus/pci/devices/" ADDR "/driver_override", "(null)\n");
	setenv("UDMA_SYSFS_ROOT", root, 1);
	return th_leak_setup(state);
}

static int tree_teardown(void **state)
{
	char cmd[128];

	unsetenv("UDMA_SYSFS_ROOT");
	snprintf(cmd, sizeof(cmd), "rm -rf '%s'", root);
	if (system(cmd) != 0)
		print_error("could not remove %s\n", root);
	return th_leak_teardown(state);
}

#define tree_test(f) cmocka_unit_test_setup_teardown(f, tree_setup, tree_teardown)

/* ---- tests ---- */

static void bad_specs(void **state)
{
	static const char *const bad[] = {
		"uio:",
		"uio:zz",
		"uio:0000:00:03",
		"uio:0000:00:03.0.1",
		"uio:00:20.0",
		"uio:00:03.8",
		"uio:g0:03.0",
		"uio:0000-00:03.0",
		"uio:/dev/uio",
		"uio:/dev/uiox",
		"uio:/dev/uio1x",
		"uio:/dev/uio1234567",
		"uio:/dev/sda",
		"uio:/dev/",
		"vfio:",
		"vfio:/dev/uio0",
		"vfio:0000:00:03.0,x",
		"vfio:00:03",
		"vfio:0000:00:03.0 ",
	};
	struct udma_ctx *ctx = ctx_new(UDMA_IOVA_VA);
	size_t i;

	(void)state;
	for (i = 0; i < sizeof(bad) / sizeof(bad[0]); i++)
		expect(ctx, bad[i], EINVAL, "device spec");
	udma_ctx_destroy(ctx);
}

/* UIO has no IOMMU (PA only); VFIO maps IOVA = VA (VA only): said before
 * anything is looked up, so these hold on any host. */
static void wrong_mode(void **state)
{
	struct udma_ctx *ctx = ctx_new(UDMA_IOVA_VA);

	(void)state;
	expect(ctx, "uio:" ADDR, EINVAL, "UDMA_IOVA_PA");
	expect(ctx, "uio:/dev/uio0", EINVAL, "no IOMMU");
	expect(ctx, "uio:00:03.0", EINVAL, "PA mode");
	udma_ctx_destroy(ctx);
	if (!have_pa()) {
		print_message("vfio in a PA context: not run, PA mode needs root (CAP_SYS_ADMIN)\n");
		return;
	}
	ctx = ctx_new(UDMA_IOVA_PA);
	expect(ctx, "vfio:" ADDR, EINVAL, "UDMA_IOVA_VA");
	udma_ctx_destroy(ctx);
}

/* The fake tree has ADDR only. */
static void no_device(void **state)
{
	struct udma_ctx *ctx = ctx_new(UDMA_IOVA_VA);

	(void)state;
	expect(ctx, "vfio:0000:00:1f.7", ENOENT, "no PCI device 0000:00:1f.7");
	expect(ctx, "vfio:00:1F.7", ENOENT, "no PCI device 0000:00:1f.7"); /* short form, any case */
	udma_ctx_destroy(ctx);
	if (!have_pa())
		skip();
	ctx = ctx_new(UDMA_IOVA_PA);
	expect(ctx, "uio:0000:00:1f.7", ENOENT, "no PCI device 0000:00:1f.7");
	expect(ctx, "uio:/dev/uio77", ENOENT, "no UIO device uio77");
	udma_ctx_destroy(ctx);
}

static struct udma_ctx *pa_or_skip(void)
{
	if (!have_pa())
		skip();
	return ctx_new(UDMA_IOVA_PA);
}

static void uio_module_missing(void **state)
{
	struct udma_ctx *ctx = pa_or_skip();
	char buf[64];

	(void)state;
	expect(ctx, "uio:" ADDR, ENOENT, "modprobe uio_pci_generic");
	get("bus/pci/devices/" ADDR "/driver_override", buf, sizeof(buf));
	assert_string_equal(buf, "(null)\n"); /* nothing written */
	udma_ctx_destroy(ctx);
}

/* Binding writes driver_override and drivers_probe; a kernel would bind,
 * the fake tree does not, and the error says to look at the kernel log. */
static void uio_bind_fails(void **state)
{
	struct udma_ctx *ctx = pa_or_skip();
	char buf[64];

	(void)state;
	mk("bus/pci/drivers/%s", "uio_pci_generic");
	expect(ctx, "uio:" ADDR, ENODEV, "binding " ADDR " to uio_pci_generic failed");
	assert_non_null(strstr(udma_last_error(), "dmesg"));
	get("bus/pci/devices/" ADDR "/driver_override", buf, sizeof(buf));
	assert_string_equal(buf, "uio_pci_generic");
	get("bus/pci/drivers_probe", buf, sizeof(buf));
	assert_string_equal(buf, ADDR);
	udma_ctx_destroy(ctx);
}

/* A function bound to another driver is unbound from it first. */
static void uio_rebind(void **state)
{
	struct udma_ctx *ctx = pa_or_skip();
	char buf[64];

	(void)state;
	mk("bus/pci/drivers/%s", "uio_pci_generic");
	mk("bus/pci/drivers/%s", "e1000");
	put("bus/pci/drivers/e1000/unbind", "");
	link_to("../../drivers/e1000", "bus/pci/devices/" ADDR "/driver");
	expect(ctx, "uio:" ADDR, ENODEV, "(unbound from e1000)");
	get("bus/pci/drivers/e1000/unbind", buf, sizeof(buf));
	assert_string_equal(buf, ADDR);
	udma_ctx_destroy(ctx);
}

/* Already a UIO device: no binding; then its node must exist. */
static void uio_no_node(void **state)
{
	struct udma_ctx *ctx = pa_or_skip();
	char buf[64];

	(void)state;
	if (access("/dev/uio93", F_OK) == 0)
		skip();
	mk("bus/pci/devices/" ADDR "/uio/%s", "uio93");
	expect(ctx, "uio:" ADDR, ENOENT, "mount devtmpfs");
	assert_non_null(strstr(udma_last_error(), "/dev/uio93"));
	get("bus/pci/devices/" ADDR "/driver_override", buf, sizeof(buf));
	assert_string_equal(buf, "(null)\n");
	/* By node: sysfs knows it (not as a PCI function here), /dev does not. */
	mk("class/uio/%s", "uio93");
	expect(ctx, "uio:/dev/uio93", ENOENT, "mount devtmpfs");
	udma_ctx_destroy(ctx);
}

static void vfio_no_iommu(void **state)
{
	struct udma_ctx *ctx = ctx_new(UDMA_IOVA_VA);

	(void)state;
	expect(ctx, "vfio:" ADDR, ENODEV, "no IOMMU group");
	assert_non_null(strstr(udma_last_error(), "intel_iommu=on"));
	udma_ctx_destroy(ctx);
}

/* With an IOMMU group but no VFIO: the module to load, whichever piece of
 * it (/dev/vfio/vfio, the vfio-pci driver) this host lacks. */
static void vfio_module_missing(void **state)
{
	struct udma_ctx *ctx = ctx_new(UDMA_IOVA_VA);

	(void)state;
	mk("kernel/iommu_groups/%s", "7");
	link_to("../../../../kernel/iommu_groups/7", "bus/pci/devices/" ADDR "/iommu_group");
	if (access("/dev/vfio/vfio", R_OK | W_OK) && errno != ENOENT) {
		udma_ctx_destroy(ctx);
		skip(); /* present but not ours */
	}
	expect(ctx, "vfio:" ADDR, ENOENT, "modprobe vfio-pci");
	udma_ctx_destroy(ctx);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		th_test(bad_specs),
		th_test(wrong_mode),
		tree_test(no_device),
		tree_test(uio_module_missing),
		tree_test(uio_bind_fails),
		tree_test(uio_rebind),
		tree_test(uio_no_node),
		tree_test(vfio_no_iommu),
		tree_test(vfio_module_missing),
	};

	return cmocka_run_group_tests_name("dev_pci", tests, NULL, NULL);
}
