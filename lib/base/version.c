/* SPDX-License-Identifier: MIT */
/* The library's own version, for a program to compare with its headers'. */
#include "lib/base/base.h"

const char *udma_version(void)
{
	return UDMA_VERSION_STRING;
}
