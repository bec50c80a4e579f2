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

#include "tests/support/helpers.h"
#include "tests/support/qemu_user.h"

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
static void wrong_mode_va(void **state)
{
	struct udma_ctx *ctx = ctx_new(UDMA_IOVA_VA);

	(void)state;
	expect(ctx, "uio:" ADDR, EINVAL, "UDMA_IOVA_PA");
	expect(ctx, "uio:/dev/uio0", EINVAL, "no IOMMU");
	expect(ctx, "uio:00:03.0", EINVAL, "PA mode");
	udma_ctx_destroy(ctx);
}

static struct udma_ctx *pa_or_skip(void)
{
	if (!have_pa()) {
		print_message("not run: PA mode needs root (CAP_SYS_ADMIN)\n");
		skip();
	}
	th_skip_if_qemu_lacks(TH_EMUL_IO_URING);
	return ctx_new(UDMA_IOVA_PA);
}

static void wrong_mode_pa(void **state)
{
	struct udma_ctx *ctx = pa_or_skip();

	(void)state;
	expect(ctx, "vfio:" ADDR, EINVAL, "UDMA_IOVA_VA");
	udma_ctx_destroy(ctx);
}

/* The fake tree has ADDR only. */
static void no_device_vfio(void **state)
{
	struct udma_ctx *ctx = ctx_new(UDMA_IOVA_VA);

	(void)state;
	expect(ctx, "vfio:0000:00:1f.7", ENOENT, "no PCI device 0000:00:1f.7");
	expect(ctx, "vfio:00:1F.7", ENOENT, "no PCI device 0000:00:1f.7"); /* short form, any case */
	udma_ctx_destroy(ctx);
}

static void no_device_uio(void **state)
{
	struct udma_ctx *ctx = pa_or_skip();

	(void)state;
	expect(ctx, "uio:0000:00:1f.7", ENOENT, "no PCI device 0000:00:1f.7");
	expect(ctx, "uio:/dev/uio77", ENOENT, "no UIO device uio77");
	udma_ctx_destroy(ctx);
}

/* Nothing was written to the tree: no bind was tried, or it was undone. */
static void assert_untouched(void)
{
	char buf[64];

	get("bus/pci/devices/" ADDR "/driver_override", buf, sizeof(buf));
	assert_string_equal(buf, "(null)\n");
	get("bus/pci/drivers_probe", buf, sizeof(buf));
	assert_string_equal(buf, "");
}

static void uio_module_missing(void **state)
{
	struct udma_ctx *ctx = pa_or_skip();

	(void)state;
	expect(ctx, "uio:" ADDR, ENOENT, "modprobe uio_pci_generic");
	assert_untouched();
	udma_ctx_destroy(ctx);
}

/* Binding writes driver_override and drivers_probe; a kernel would bind,
 * the fake tree does not, and the error says to look at the kernel log. The
 * failed bind is undone: driver_override is cleared again. */
static void uio_bind_fails(void **state)
{
	struct udma_ctx *ctx = pa_or_skip();
	char buf[64];

	(void)state;
	mk("bus/pci/drivers/%s", "uio_pci_generic");
	expect(ctx, "uio:" ADDR, ENODEV, "binding " ADDR " to uio_pci_generic failed");
	assert_non_null(strstr(udma_last_error(), "dmesg"));
	assert_non_null(strstr(udma_last_error(), ADDR " is back on no driver"));
	get("bus/pci/devices/" ADDR "/driver_override", buf, sizeof(buf));
	assert_string_equal(buf, "\n"); /* written "\n": the kernel's way to clear it */
	get("bus/pci/drivers_probe", buf, sizeof(buf));
	assert_string_equal(buf, ADDR);
	udma_ctx_destroy(ctx);
}

/* A function on a driver other than uio_pci_generic and vfio-pci (e1000
 * here: maybe the NIC this session runs over) is never taken: -EBUSY with
 * the commands that move it by hand, and nothing written. */
static void uio_refuses_other_driver(void **state)
{
	struct udma_ctx *ctx = pa_or_skip();
	char buf[64];

	(void)state;
	mk("bus/pci/drivers/%s", "uio_pci_generic");
	mk("bus/pci/drivers/%s", "e1000");
	put("bus/pci/drivers/e1000/unbind", "");
	link_to("../../drivers/e1000", "bus/pci/devices/" ADDR "/driver");
	expect(ctx, "uio:" ADDR, EBUSY, "is bound to e1000");
	assert_non_null(strstr(udma_last_error(), "echo " ADDR " > /sys/bus/pci/devices/" ADDR
						  "/driver/unbind; echo uio_pci_generic > "
						  "/sys/bus/pci/devices/" ADDR "/driver_override; echo " ADDR
						  " > /sys/bus/pci/drivers_probe"));
	get("bus/pci/drivers/e1000/unbind", buf, sizeof(buf));
	assert_string_equal(buf, "");
	assert_untouched();
	udma_ctx_destroy(ctx);
}

/* On vfio-pci: taken only if its group node opens (nobody uses it). This
 * host has no /dev/vfio/7, so udma cannot tell, and does not take it. */
static void uio_from_vfio_unknown(void **state)
{
	struct udma_ctx *ctx;
	char buf[64];

	(void)state;
	if (access("/dev/vfio/7", F_OK) == 0)
		skip(); /* a real group 7: its node would answer */
	ctx = pa_or_skip();
	mk("bus/pci/drivers/%s", "uio_pci_generic");
	mk("bus/pci/drivers/%s", "vfio-pci");
	put("bus/pci/drivers/vfio-pci/unbind", "");
	link_to("../../drivers/vfio-pci", "bus/pci/devices/" ADDR "/driver");
	mk("kernel/iommu_groups/%s", "7");
	put("kernel/iommu_groups/7/type", "identity\n");
	link_to("../../../../kernel/iommu_groups/7", "bus/pci/devices/" ADDR "/iommu_group");
	expect(ctx, "uio:" ADDR, EBUSY, "cannot tell whether it is in use (/dev/vfio/7");
	assert_non_null(strstr(udma_last_error(), "echo uio_pci_generic > "));
	get("bus/pci/drivers/vfio-pci/unbind", buf, sizeof(buf));
	assert_string_equal(buf, "");
	assert_untouched();
	udma_ctx_destroy(ctx);
}

/* UIO hands the device physical addresses: an IOMMU that translates its
 * DMA (group type DMA, DMA-FQ) would fault them all. Refused before any
 * bind; a passthrough group (identity) is fine. */
static void uio_iommu_translates(void **state)
{
	struct udma_ctx *ctx = pa_or_skip();

	(void)state;
	mk("bus/pci/drivers/%s", "uio_pci_generic");
	mk("kernel/iommu_groups/%s", "7");
	put("kernel/iommu_groups/7/type", "DMA-FQ\n");
	link_to("../../../../kernel/iommu_groups/7", "bus/pci/devices/" ADDR "/iommu_group");
	expect(ctx, "uio:" ADDR, ENOTSUP, "boot with iommu=pt, or use vfio:" ADDR " in VA mode");
	assert_non_null(strstr(udma_last_error(), "type DMA-FQ"));
	assert_untouched();
	put("kernel/iommu_groups/7/type", "identity\n");
	expect(ctx, "uio:" ADDR, ENODEV, "binding " ADDR " to uio_pci_generic failed");
	udma_ctx_destroy(ctx);
}

/* Already a UIO device: no binding; then its node must exist. */
static void uio_no_node(void **state)
{
	struct udma_ctx *ctx;

	(void)state;
	if (access("/dev/uio93", F_OK) == 0)
		skip();
	ctx = pa_or_skip();
	mk("bus/pci/devices/" ADDR "/uio/%s", "uio93");
	put("bus/pci/devices/" ADDR "/config", "");
	expect(ctx, "uio:" ADDR, ENOENT, "mount devtmpfs");
	assert_non_null(strstr(udma_last_error(), "/dev/uio93"));
	assert_untouched();
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
	struct udma_ctx *ctx;

	(void)state;
	if (access("/dev/vfio/vfio", R_OK | W_OK) && errno != ENOENT)
		skip(); /* present but not ours */
	ctx = ctx_new(UDMA_IOVA_VA);
	mk("kernel/iommu_groups/%s", "7");
	link_to("../../../../kernel/iommu_groups/7", "bus/pci/devices/" ADDR "/iommu_group");
	expect(ctx, "vfio:" ADDR, ENOENT, "modprobe vfio-pci");
	udma_ctx_destroy(ctx);
}

/* An Arm SMMU gives a function its group only when a driver binds it: with
 * an IOMMU registered, no group is no verdict, the open goes on to VFIO. */
static void vfio_group_comes_with_driver(void **state)
{
	struct udma_ctx *ctx;

	(void)state;
	if (access("/dev/vfio/vfio", R_OK | W_OK) && errno != ENOENT)
		skip(); /* present but not ours */
	ctx = ctx_new(UDMA_IOVA_VA);
	mk("class/iommu/%s", "smmu3.0x0000000009050000");
	expect(ctx, "vfio:" ADDR, ENOENT, "modprobe vfio-pci");
	assert_null(strstr(udma_last_error(), "IOMMU group"));
	udma_ctx_destroy(ctx);
}

/* Group 7 holds ADDR and the devices given as "ADDR DRIVER CLASS" ("-": no driver). */
static void group_of(const char *const *devs, size_t n)
{
	char a[16], drv[32], cls[16], rel[128], target[128];
	size_t i;

	mk("kernel/iommu_groups/%s/devices", "7");
	link_to("../../../../kernel/iommu_groups/7", "bus/pci/devices/" ADDR "/iommu_group");
	link_to("../../../../bus/pci/devices/" ADDR, "kernel/iommu_groups/7/devices/" ADDR);
	for (i = 0; i < n; i++) {
		assert_int_equal(sscanf(devs[i], "%15s %31s %15s", a, drv, cls), 3);
		mk("bus/pci/devices/%s", a);
		snprintf(rel, sizeof(rel), "bus/pci/devices/%s/class", a);
		put(rel, cls);
		if (strcmp(drv, "-")) {
			mk("bus/pci/drivers/%s", drv);
			snprintf(target, sizeof(target), "../../drivers/%s", drv);
			snprintf(rel, sizeof(rel), "bus/pci/devices/%s/driver", a);
			link_to(target, rel);
		}
		snprintf(target, sizeof(target), "../../../../bus/pci/devices/%s", a);
		snprintf(rel, sizeof(rel), "kernel/iommu_groups/7/devices/%s", a);
		link_to(target, rel);
	}
}

/* VFIO takes a group whole: a device of it on a host driver makes the open
 * fail, so it is found from sysfs before anything is bound. Bridges, no
 * driver and vfio-pci are fine. */
static void vfio_group_not_viable(void **state)
{
	static const char *const devs[] = {
		"0000:00:05.0 e1000 0x020000",
		"0000:00:06.0 pcieport 0x060400",
		"0000:00:07.0 - 0x0c0330",
		"0000:00:08.0 vfio-pci 0x010802",
	};
	struct udma_ctx *ctx = ctx_new(UDMA_IOVA_VA);

	(void)state;
	mk("bus/pci/drivers/%s", "vfio-pci");
	group_of(devs, sizeof(devs) / sizeof(devs[0]));
	expect(ctx, "vfio:" ADDR, EBUSY, "1 other device(s) of it on a host driver (0000:00:05.0)");
	assert_untouched();
	udma_ctx_destroy(ctx);
}

/* IOVA = VA needs the IOMMU to reach this process's addresses (47 bits): an
 * Intel IOMMU of 39 (QEMU's default) is refused before anything is bound. */
static void vfio_iommu_too_narrow(void **state)
{
	struct udma_ctx *ctx = ctx_new(UDMA_IOVA_VA);

	(void)state;
	group_of(NULL, 0);
	mk("bus/pci/devices/" ADDR "/iommu/%s", "intel-iommu");
	/* MGAW 39 (38 in bits 21:16), SAGAW 39-bit (bit 9) */
	put("bus/pci/devices/" ADDR "/iommu/intel-iommu/cap", "260200\n");
	if ((uint64_t)(uintptr_t)__builtin_frame_address(0) >> 39) {
		expect(ctx, "vfio:" ADDR, ERANGE, "maps 39 address bits");
		assert_non_null(strstr(udma_last_error(), "aw-bits=48"));
		assert_untouched();
	} else if (access("/dev/vfio/vfio", F_OK) && errno == ENOENT) {
		/* This process's addresses fit in 39 bits (a 39-bit VA arm64
		 * kernel, qemu-user's): on to the next check. */
		expect(ctx, "vfio:" ADDR, ENOENT, "modprobe vfio-pci");
	}
	/* 48 bits (and a 4-level table, bit 10) reach: on to the next check. */
	put("bus/pci/devices/" ADDR "/iommu/intel-iommu/cap", "2f0600\n");
	if (access("/dev/vfio/vfio", F_OK) && errno == ENOENT)
		expect(ctx, "vfio:" ADDR, ENOENT, "modprobe vfio-pci");
	udma_ctx_destroy(ctx);
}

/* Out of file descriptors part way through the sysfs walk: each failure is
 * -EMFILE and says so (not "no UIO device", not "group not viable"), with
 * nothing written; with enough fds, the verdict the tree calls for. */
static void out_of_fds(struct udma_ctx *ctx, const char *spec, int verdict, const char *says)
{
	unsigned leave;

	for (leave = 0; leave < 8; leave++) {
		struct udma_dev *dev = (void *)1;
		int rc;

		th_fds_exhaust(leave);
		rc = udma_dev_open(ctx, spec, &dev);
		th_fds_restore();
		assert_null(dev);
		assert_untouched();
		if (rc == -verdict && strstr(udma_last_error(), says))
			return;
		if (rc != -EMFILE || !strstr(udma_last_error(), "out of file descriptors"))
			fail_msg("%s with %u fds free: expected -EMFILE naming the fds, got %d: %s", spec,
				 leave, rc, udma_last_error());
	}
	fail_msg("%s: still out of fds with 7 free: %s", spec, udma_last_error());
}

static void uio_out_of_fds(void **state)
{
	struct udma_ctx *ctx;

	(void)state;
	ctx = pa_or_skip();
	mk("bus/pci/drivers/%s", "uio_pci_generic");
	link_to("../../drivers/uio_pci_generic", "bus/pci/devices/" ADDR "/driver");
	mk("bus/pci/devices/" ADDR "/uio/%s", "uio0");
	out_of_fds(ctx, "uio:" ADDR, ENOENT, "cannot open its config space"); /* the tree has none */
	udma_ctx_destroy(ctx);
}

static void vfio_out_of_fds(void **state)
{
	static const char *const devs[] = {
		"0000:00:05.0 e1000 0x020000",
		"0000:00:06.0 shpchp 0x060400", /* a bridge: its class is read to know */
	};
	struct udma_ctx *ctx = ctx_new(UDMA_IOVA_VA);

	(void)state;
	mk("bus/pci/drivers/%s", "vfio-pci");
	group_of(devs, sizeof(devs) / sizeof(devs[0]));
	out_of_fds(ctx, "vfio:" ADDR, EBUSY, "1 other device(s) of it on a host driver (0000:00:05.0)");
	udma_ctx_destroy(ctx);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		th_test(bad_specs),
		th_test(wrong_mode_va),
		th_test(wrong_mode_pa),
		tree_test(no_device_vfio),
		tree_test(no_device_uio),
		tree_test(uio_module_missing),
		tree_test(uio_bind_fails),
		tree_test(uio_refuses_other_driver),
		tree_test(uio_from_vfio_unknown),
		tree_test(uio_iommu_translates),
		tree_test(uio_no_node),
		tree_test(vfio_no_iommu),
		tree_test(vfio_module_missing),
		tree_test(vfio_group_comes_with_driver),
		tree_test(vfio_group_not_viable),
		tree_test(vfio_iommu_too_narrow),
		tree_test(uio_out_of_fds),
		tree_test(vfio_out_of_fds),
	};

	return cmocka_run_group_tests_name("dev_pci", tests, NULL, NULL);
}
