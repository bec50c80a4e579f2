/* SPDX-License-Identifier: MIT */
/* Human sizes: "2M" <-> 2097152. */
#include <ctype.h>
#include <errno.h>
#include <inttypes.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "lib/base/base.h"

/* s for a one-line message: at most 40 characters, unprintable ones as '?'. */
static const char *shown(const char *s, char *buf, size_t len)
{
	size_t i;

	for (i = 0; s[i] && i + 1 < len; i++)
		buf[i] = isprint((unsigned char)s[i]) ? s[i] : '?';
	buf[i] = 0;
	return buf;
}

/* Digits, then nothing (bytes), "B", or a unit K, M, G or T (either case)
 * alone or followed by "B" or "iB": "4096", "4096B", "4K", "4k", "64MiB", "1GB". */
int udma_parse_size(const char *s, size_t *out)
{
	static const char units[] = "KMGT";
	const char *unit, *suffix;
	char *end, in[41], tail[41];
	unsigned long long v;
	unsigned shift = 0;

	if (!s || !out || !isdigit((unsigned char)*s))
		return udma__err(EINVAL, "size '%s' is not a number (examples: 4096, 4K, 2M, 1G)",
				 s ? shown(s, in, sizeof(in)) : "(null)");
	errno = 0;
	v = strtoull(s, &end, 10);
	suffix = end;
	if (*end && (unit = strchr(units, toupper((unsigned char)*end)))) {
		shift = 10 * (unsigned)(unit - units + 1);
		end++;
		if (!strcmp(end, "iB"))
			end += 2;
	}
	if (!strcmp(end, "B"))
		end++;
	if (*end)
		return udma__err(EINVAL,
				 "size '%s' has an unknown suffix '%s' (a number, then K, M, G or T, "
				 "optionally followed by B or iB: 4096, 4K, 2MiB, 1G)",
				 shown(s, in, sizeof(in)), shown(suffix, tail, sizeof(tail)));
	/* Shifts in 64 bits: T is 2^40, past a 32-bit size_t. */
	if (errno == ERANGE || v > ((unsigned long long)SIZE_MAX >> shift))
		return udma__err(EINVAL, "size '%s' is too large (more than %zu bytes)",
				 shown(s, in, sizeof(in)), (size_t)SIZE_MAX);
	*out = (size_t)(v << shift);
	return 0;
}

/* In the largest unit that divides bytes (exact) or that bytes reaches, with
 * one decimal when it does not divide it. */
static const char *fmt_iec(uint64_t bytes, bool exact, char *buf, size_t len)
{
	static const char units[] = "KMGT";
	int i;

	for (i = 3; i >= 0; i--) {
		uint64_t unit = (uint64_t)1 << (10 * (i + 1));

		if (bytes < unit || (exact && bytes % unit))
			continue;
		if (bytes % unit)
			snprintf(buf, len, "%.1f %ciB", (double)bytes / (double)unit, units[i]);
		else
			snprintf(buf, len, "%" PRIu64 " %ciB", bytes / unit, units[i]);
		return buf;
	}
	snprintf(buf, len, "%" PRIu64 " B", bytes);
	return buf;
}

const char *udma__fmt_size(uint64_t bytes, char *buf, size_t len)
{
	return fmt_iec(bytes, true, buf, len);
}

const char *udma__fmt_size_approx(uint64_t bytes, char *buf, size_t len)
{
	return fmt_iec(bytes, false, buf, len);
}

const char *udma__fmt_size_arg(uint64_t bytes, char *buf, size_t len)
{
	static const char units[] = "KMGT";
	int i;

	/* the largest unit that needs no fraction, rounding up to whole KiB */
	bytes = (bytes + 1023) & ~(uint64_t)1023;
	for (i = 3; i > 0 && bytes % ((uint64_t)1 << (10 * (i + 1))); i--)
		;
	snprintf(buf, len, "%" PRIu64 "%c", bytes >> (10 * (i + 1)), units[i]);
	return buf;
}

unsigned udma__log2(size_t v)
{
	return v ? 63u - (unsigned)__builtin_clzll(v) : 0;
}
