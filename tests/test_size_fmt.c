/* SPDX-License-Identifier: MIT */
/*
 * Sizes as lib/base/size.c writes them: exact for the library's messages,
 * rounded to a tenth for the udma command's tables, and as the udma command
 * takes them. The command prints with these, so its output depends on them.
 */
#include <string.h>

#include "lib/base/base.h"
#include "tests/support/helpers.h"

#define KIB ((uint64_t)1 << 10)
#define MIB ((uint64_t)1 << 20)
#define GIB ((uint64_t)1 << 30)
#define TIB ((uint64_t)1 << 40)

struct fmt_case {
	uint64_t bytes;
	const char *want;
};

static void check(const char *(*fmt)(uint64_t, char *, size_t), uint64_t bytes, const char *want)
{
	char buf[32];

	memset(buf, 'x', sizeof(buf));
	assert_ptr_equal(fmt(bytes, buf, sizeof(buf)), buf);
	assert_string_equal(buf, want);
}

/* For people: exact in the largest unit that divides it (the library's
 * messages), or in the largest unit it reaches with one decimal when that
 * does not divide it (the udma command's tables). */
static void human(void **state)
{
	static const struct {
		uint64_t bytes;
		const char *exact, *approx;
	} c[] = {
		{0, "0 B", "0 B"},
		{1023, "1023 B", "1023 B"},
		{1536, "1536 B", "1.5 KiB"},
		{4 * KIB, "4 KiB", "4 KiB"},
		{1536 * KIB, "1536 KiB", "1.5 MiB"},
		{2 * MIB, "2 MiB", "2 MiB"},
		{GIB + 4 * KIB, "1048580 KiB", "1.0 GiB"},
		{GIB, "1 GiB", "1 GiB"},
		{3 * TIB + TIB / 2, "3584 GiB", "3.5 TiB"},
	};
	size_t i;

	(void)state;
	for (i = 0; i < sizeof(c) / sizeof(c[0]); i++) {
		check(udma__fmt_size, c[i].bytes, c[i].exact);
		check(udma__fmt_size_approx, c[i].bytes, c[i].approx);
	}
}

/* As an argument: whole KiB rounded up, no space, no "iB". */
static void arg(void **state)
{
	static const struct fmt_case c[] = {
		{1, "1K"},   {4 * KIB, "4K"}, {2 * MIB, "2M"}, {3 * MIB + 1, "3073K"},
		{GIB, "1G"}, {2 * TIB, "2T"},
	};
	size_t i;

	(void)state;
	for (i = 0; i < sizeof(c) / sizeof(c[0]); i++)
		check(udma__fmt_size_arg, c[i].bytes, c[i].want);
}

/* A short buffer gets a truncated, terminated string. */
static void short_buffer(void **state)
{
	char buf[4];

	(void)state;
	assert_string_equal(udma__fmt_size_approx(1536 * KIB, buf, sizeof(buf)), "1.5");
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		th_test(human),
		th_test(arg),
		th_test(short_buffer),
	};

	return cmocka_run_group_tests_name("size_fmt", tests, NULL, NULL);
}
