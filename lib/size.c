/* SPDX-License-Identifier: MIT */
/* Human sizes: "2M" <-> 2097152. */
#include <ctype.h>
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>

#include "udma_internal.h"

int udma_parse_size(const char *s, size_t *out)
{
	char *end;
	unsigned long long v;
	unsigned shift = 0;

	if (!s || !out || !isdigit((unsigned char)*s))
		return udma__err(EINVAL, "size '%s' is not a number (examples: 4096, 4K, 2M, 1G)",
				 s ? s : "(null)");
	errno = 0;
	v = strtoull(s, &end, 10);
	switch (toupper((unsigned char)*end)) {
	case 'K':
		shift = 10;
		end++;
		break;
	case 'M':
		shift = 20;
		end++;
		break;
	case 'G':
		shift = 30;
		end++;
		break;
	case 'T':
		shift = 40;
		end++;
		break;
	default: break;
	}
	if (*end == 'i' || *end == 'B')
		end += (*end == 'i' && end[1] == 'B') ? 2 : 1;
	if (*end || errno || v > (SIZE_MAX >> shift))
		return udma__err(EINVAL, "size '%s' is not valid (examples: 4096, 4K, 2M, 1G)", s);
	*out = (size_t)v << shift;
	return 0;
}

const char *udma__fmt_size(size_t bytes, char *buf, size_t len)
{
	static const char units[] = "KMGT";
	int i;

	for (i = 3; i >= 0; i--) {
		size_t unit = (size_t)1 << (10 * (i + 1));

		if (bytes >= unit && bytes % unit == 0) {
			snprintf(buf, len, "%zu %ciB", bytes / unit, units[i]);
			return buf;
		}
	}
	snprintf(buf, len, "%zu B", bytes);
	return buf;
}

const char *udma__fmt_size_arg(size_t bytes, char *buf, size_t len)
{
	static const char units[] = "KMGT";
	int i;

	/* the largest unit that needs no fraction, rounding up to whole KiB */
	bytes = (bytes + 1023) & ~(size_t)1023;
	for (i = 3; i > 0 && bytes % ((size_t)1 << (10 * (i + 1))); i--)
		;
	snprintf(buf, len, "%zu%c", bytes >> (10 * (i + 1)), units[i]);
	return buf;
}

unsigned udma__log2(size_t v)
{
	return v ? 63u - (unsigned)__builtin_clzll(v) : 0;
}
