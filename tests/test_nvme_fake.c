/* SPDX-License-Identifier: MIT */
/*
 * The NVMe driver (drivers/nvme) against a register file in plain memory
 * (udma_dev_bar wrapped, -Wl,--wrap): controllers QEMU cannot be made to be.
 * One that never sets CSTS.RDY, registers that read all ones, a BAR too
 * small for its registers or for the doorbells CAP.DSTRD places: each
 * refused with its errno and message, nothing written where it must not be,
 * nothing leaked, the controller left disabled.
 */
#include <errno.h>
#include <string.h>

#include "drivers/nvme/nvme.h"
#include "tests/support/helpers.h"

#define FAKE_BAR_SIZE 16384

static uint8_t fake_bar[FAKE_BAR_SIZE + 4096] __attribute__((aligned(4096)));
static size_t fake_len;

int __wrap_udma_dev_bar(struct udma_dev *dev, unsigned bar, void **addr, size_t *len);
int __wrap_udma_dev_bar(struct udma_dev *dev, unsigned bar, void **addr, size_t *len)
{
	(void)dev;
	if (bar != 0)
		return -EINVAL;
	*addr = fake_bar;
	*len = fake_len;
	return 0;
}

static void put32(unsigned off, uint32_t v)
{
	memcpy(fake_bar + off, &v, sizeof(v));
}

static uint32_t get32(unsigned off)
{
	uint32_t v;

	memcpy(&v, fake_bar + off, sizeof(v));
	return v;
}

/* A plausible NVMe 1.4 controller at rest: 2048 entries, ready timeout
 * 500 ms (CAP.TO 1), the NVM command set, 4 KiB pages, doorbell stride
 * 4 << dstrd. */
static void fake_controller(unsigned dstrd, size_t len)
{
	uint64_t cap = 0x7ffull | 1ull << 24 | (uint64_t)dstrd << 32 | 1ull << 37;

	memset(fake_bar, 0, sizeof(fake_bar));
	put32(NVME_REG_CAP, (uint32_t)cap);
	put32(NVME_REG_CAP + 4, (uint32_t)(cap >> 32));
	put32(NVME_REG_VS, 0x00010400);
	fake_len = len;
}

/* Attach must fail with err, naming says, leaving *out NULL and CC as want_cc. */
static void attach_fails(int err, const char *says, uint32_t want_cc)
{
	struct udma_ctx_opts o = {.iova_mode = UDMA_IOVA_VA, .numa_node = UDMA_NUMA_ANY};
	struct udma_dev *dev = (struct udma_dev *)fake_bar; /* only ever handed to the wrap */
	struct nvme_ctrl *c = NULL;
	struct udma_ctx *ctx;

	if (udma_ctx_create(&o, &ctx))
		fail_msg("udma_ctx_create: %s", udma_last_error());
	assert_int_equal(nvme_attach(ctx, dev, NULL, &c), -err);
	assert_null(c);
	if (!strstr(nvme_last_error(), says))
		fail_msg("nvme_last_error() should say '%s': %s", says, nvme_last_error());
	assert_int_equal(get32(NVME_REG_CC), want_cc);
	udma_ctx_destroy(ctx);
}

/* CSTS.RDY stays 0: enabling gives up after CAP.TO, saying so, and writes
 * CC = 0 again so the controller cannot start on memory being freed. */
static void never_ready(void **state)
{
	(void)state;
	fake_controller(0, FAKE_BAR_SIZE);
	attach_fails(ETIMEDOUT, "CSTS.RDY did not become 1 within CAP.TO (500 ms)", 0);
	/* The admin queue was handed to it before: AQA says 32 entries each. */
	assert_int_equal(get32(NVME_REG_AQA), 31u << 16 | 31u);
}

/* A function that is gone (surprise removal) reads all ones. */
static void registers_all_ones(void **state)
{
	(void)state;
	fake_controller(0, FAKE_BAR_SIZE);
	memset(fake_bar, 0xff, FAKE_BAR_SIZE);
	attach_fails(ENODEV, "read all ones", UINT32_MAX);
}

/* BAR 0 smaller than the registers before the doorbells. */
static void bar_too_small(void **state)
{
	(void)state;
	fake_controller(0, 4096);
	attach_fails(ENODEV, "too small for an NVMe controller", 0);
}

/* CAP.DSTRD 15 puts the admin CQ doorbell 128 KiB past the first: beyond a
 * 16 KiB BAR. Refused before any register is written. */
static void doorbells_past_bar(void **state)
{
	(void)state;
	fake_controller(15, FAKE_BAR_SIZE);
	put32(NVME_REG_CC, 0x12345678); /* a value attach would overwrite */
	attach_fails(ENODEV, "past BAR 0", 0x12345678);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		th_test(never_ready),
		th_test(registers_all_ones),
		th_test(bar_too_small),
		th_test(doorbells_past_bar),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
