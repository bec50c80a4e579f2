/* SPDX-License-Identifier: MIT */
/*
 * The NIC drivers' common layer (drivers/nic/nic.c) on the host, where no NIC
 * is: packet pools (every packet's bus address stamped, bulk allocation all
 * or nothing, packets of several pools freed together), and nic_attach
 * refusing bad options and devices that are no NIC it knows, each with its
 * errno and message. udma_dev_config_read is wrapped (-Wl,--wrap) to give a
 * simulated device the PCI IDs a test wants. The drivers themselves run
 * against QEMU's NICs: tests/vm/test_nic.c.
 */
#include <errno.h>
#include <string.h>

#include "drivers/nic/nic.h"
#include "tests/support/helpers.h"

/* The IDs the wrapped config read gives; 0: the real call. */
static uint16_t fake_id[2];

int __real_udma_dev_config_read(struct udma_dev *dev, unsigned off, void *buf, size_t len);
int __wrap_udma_dev_config_read(struct udma_dev *dev, unsigned off, void *buf, size_t len);
int __wrap_udma_dev_config_read(struct udma_dev *dev, unsigned off, void *buf, size_t len)
{
	if (!fake_id[0])
		return __real_udma_dev_config_read(dev, off, buf, len);
	assert_int_equal(off, 0);
	assert_int_equal(len, sizeof(fake_id));
	memcpy(buf, fake_id, sizeof(fake_id));
	return 0;
}

#define expect_nic_err(call, err, says)                                                           \
	do {                                                                                      \
		int rc_ = (call);                                                                 \
		if (rc_ != -(err) || !strstr(nic_last_error(), (says)))                           \
			print_error("expected -%d naming '%s', got %d: %s\n", (err), (says), rc_, \
				    nic_last_error());                                            \
		assert_int_equal(rc_, -(err));                                                    \
		assert_non_null(strstr(nic_last_error(), (says)));                                \
	} while (0)

static void packet_pool(void **state)
{
	struct udma_pool *a, *b;
	struct nic_pkt *pk[64], *mixed[8];
	struct udma_ctx *ctx;
	unsigned i;

	(void)state;
	assert_int_equal(udma_ctx_create(NULL, &ctx), 0);
	assert_int_equal(nic_pool_create(ctx, 64, 0, "a", &a), 0);
	assert_int_equal(nic_pool_create(ctx, 8, 4, NULL, &b), 0);
	assert_int_equal(udma_pool_obj_size(a), sizeof(struct nic_pkt));
	for (i = 0; i < 64; i++) {
		struct nic_pkt *p = udma_pool_obj(a, i);

		assert_ptr_equal(p->pool, a);
		assert_int_equal(p->iova, udma_iova(ctx, p->data));
		assert_int_equal((uintptr_t)p->data % 64, 0);
	}
	/* All or nothing. */
	expect_nic_err(nic_pkt_alloc_bulk(a, pk, 65), ENOENT, "fewer than 65");
	assert_int_equal(udma_pool_avail(a), 64);
	assert_int_equal(nic_pkt_alloc_bulk(a, pk, 64), 0);
	assert_null(nic_pkt_alloc(a));
	assert_non_null(strstr(nic_last_error(), "empty"));
	/* Runs of packets of two pools, interleaved, each back to its own. */
	for (i = 0; i < 8; i++)
		mixed[i] = i % 3 ? pk[i] : nic_pkt_alloc(b);
	nic_pkt_free_bulk(mixed, 8);
	for (i = 0; i < 8; i++)
		if (!(i % 3))
			nic_pkt_free(pk[i]);
	nic_pkt_free_bulk(pk + 8, 56);
	nic_pkt_free(NULL);
	assert_int_equal(udma_pool_avail(a), 64);
	assert_int_equal(udma_pool_avail(b), 8);
	expect_nic_err(nic_pool_create(ctx, 8, 0, "x", NULL), EINVAL, "out is NULL");
	udma_pool_destroy(a);
	udma_pool_destroy(b);
	udma_ctx_destroy(ctx);
}

static void attach_refuses(void **state)
{
	struct udma_pool_opts po = {.obj_size = 2048, .count = 4, .numa_node = UDMA_NUMA_ANY};
	struct udma_pool *pkts, *plain;
	struct udma_ctx *ctx;
	struct udma_dev *dev;
	struct nic *nic = (void *)1;
	struct nic_opts o;

	(void)state;
	assert_int_equal(udma_ctx_create(NULL, &ctx), 0);
	assert_int_equal(udma_dev_open(ctx, "sim:notanic", &dev), 0);
	assert_int_equal(nic_pool_create(ctx, 16, 0, "rx", &pkts), 0);
	assert_int_equal(udma_pool_create(ctx, &po, &plain), 0);

	o = (struct nic_opts){.pool = pkts};
	expect_nic_err(nic_attach(ctx, dev, &o, NULL), EINVAL, "out is NULL");
	expect_nic_err(nic_attach(NULL, dev, &o, &nic), EINVAL, "ctx is NULL");
	assert_null(nic);
	expect_nic_err(nic_attach(ctx, NULL, &o, &nic), EINVAL, "dev is NULL");
	expect_nic_err(nic_attach(ctx, dev, NULL, &nic), EINVAL, "opts is NULL");
	o.pool = NULL;
	expect_nic_err(nic_attach(ctx, dev, &o, &nic), EINVAL, "nic_pool_create");
	o.pool = plain;
	expect_nic_err(nic_attach(ctx, dev, &o, &nic), EINVAL, "not packets");
	o = (struct nic_opts){.pool = pkts, .how = (enum nic_wait)7};
	expect_nic_err(nic_attach(ctx, dev, &o, &nic), EINVAL, "NIC_POLL or NIC_IRQ");
	o = (struct nic_opts){.pool = pkts, .flags = 1u << 9};
	expect_nic_err(nic_attach(ctx, dev, &o, &nic), EINVAL, "unknown flags");
	o = (struct nic_opts){.pool = pkts, .rx_ring = 4097};
	expect_nic_err(nic_attach(ctx, dev, &o, &nic), EINVAL, "rx_ring");
	o = (struct nic_opts){.pool = pkts, .tx_ring = 100000};
	expect_nic_err(nic_attach(ctx, dev, &o, &nic), EINVAL, "tx_ring");

	/* A device with no PCI IDs, then one with IDs no driver takes (edu). */
	o = (struct nic_opts){.pool = pkts};
	expect_nic_err(nic_attach(ctx, dev, &o, &nic), ENODEV, "cannot read its PCI IDs");
	fake_id[0] = 0x1234;
	fake_id[1] = 0x11e8;
	expect_nic_err(nic_attach(ctx, dev, &o, &nic), ENODEV, "1234:11e8 is no NIC");
	fake_id[0] = 0;
	assert_null(nic);
	assert_int_equal(udma_pool_avail(pkts), 16);
	nic_detach(NULL);

	udma_pool_destroy(plain);
	udma_pool_destroy(pkts);
	udma_dev_close(dev);
	udma_ctx_destroy(ctx);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		th_test(packet_pool),
		th_test(attach_refuses),
	};

	th_threads_warm_up(TH_MAX_THREADS); /* the simulated device's thread */
	return cmocka_run_group_tests(tests, NULL, NULL);
}
